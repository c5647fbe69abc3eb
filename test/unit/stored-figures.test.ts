/**
 * Every place a version's figures are shown (`mlp models show` and `list`, `mlp run`'s summary, the
 * run report, the dashboard) reads evaluation reports as the registry stores them, built here by the
 * evaluation code itself.
 *
 * Accuracy is shown beside the comparison promotion judges `accuracy_lift` on: a model that said
 * "down" on every row of a falling period (the pre-period rose) showed accuracy 0.6408 beside
 * momentum_sign's 0.4377 with p 0.00061, while promotion judged it against the period's own majority
 * class (the no-information rate, 0.6408: lift 0, p 1.0) and did not promote it.
 *
 * An undefined p-value (a 5-day evaluation of 5-day labels has no day-aware evidence; stored as null)
 * is shown as undefined: `mlp models show` threw on it and showed nothing of the version.
 */
import { headline, listFigures } from '../../client/commands/models';
import { describeCandidates } from '../../client/commands/run-pipeline';
import { accuracyCellHtml, withinDayAucCellHtml } from '../../api/dashboard';
import { renderRunReportHtml } from '../../lib/reports/html';
import { assembleRunReport } from '../../lib/reports/report-data';
import type { ModelVersion } from '../../lib/registry/model-registry';
import { candidateScoresOf } from '../../lib/registry/promotion';
import type { EvaluationReport } from '../../lib/training/evaluation-report';
import type { TrainingPipelineResult } from '../../workflows/training-pipeline';
import { fiveDayEvaluation, oneClassInFallingMarket, storedAsJson } from '../helpers/evaluated-reports';
import { PASSED_GUARDS } from '../helpers/passed-guards';
import { fixtureVersion } from '../helpers/report-fixture';

const f4 = (x: number) => x.toFixed(4);

/** The stored report as a registry row carries it. */
const version = (outOfSample: EvaluationReport): ModelVersion => fixtureVersion({ metrics: { outOfSample } });

/** A run result with one candidate (the parts describeCandidates reads). */
const runResult = (report: EvaluationReport) =>
  ({
    dataset: { datasetId: 'td-1', rows: report.period.rows, symbols: 12 },
    candidates: [{ algorithm: 'logistic_regression', bestOfRun: true, training: { best: { score: 0.5 } }, evaluation: { report }, registration: { version: { name: 'm', version: 1 }, decision: { promote: false, reason: 'not promoted: x' } } }],
  }) as unknown as TrainingPipelineResult;

describe('accuracy beside the comparison promotion judges', () => {
  // Seed 2: the fair baselines' best is momentum_sign, which the one-class model beats with p < 0.001.
  const stored = storedAsJson(oneClassInFallingMarket(2));
  const nir = stored.baseline.noInformation!;
  const judged = candidateScoresOf(stored, PASSED_GUARDS).evidence!.accuracy_lift!;

  it('is the no-information rate here, with its p-value, not the fair baseline the model beats', () => {
    expect(stored.baseline.name).toBe('momentum_sign');
    expect(stored.baseline.pValue).toBeLessThan(0.001);
    expect(nir.accuracy).toBeCloseTo(stored.classification.accuracy, 12);
    expect(judged.pValue).toBe(1);
  });

  it('models show: the baseline accuracy and p-value are the judged ones, the hindsight named, the fair baseline beside them', () => {
    const h = headline(version(stored));
    expect(h['oos accuracy']).toBe(f4(stored.classification.accuracy));
    expect(h['baseline accuracy']).toMatch(new RegExp(`^${f4(nir.accuracy)} \\(evaluation_majority: the evaluation period's own majority class, .*hindsight`));
    expect(h['baseline accuracy']).toContain(`momentum_sign ${f4(stored.baseline.accuracy)}`);
    expect(h['p-value vs baseline']).toMatch(/^1\.0 \(one-sided, against evaluation_majority, rows dependent by day and symbol; against momentum_sign 0\.000\d+\)$/);
  });

  it('models list: accuracy beside the no-information rate, marked hindsight', () => {
    expect(listFigures(version(stored))).toContain(`acc ${f4(stored.classification.accuracy)} (evaluation_majority in hindsight ${f4(nir.accuracy)})`);
  });

  it("mlp run's summary: the judged lift first, the fair baseline's after it", () => {
    const text = describeCandidates(runResult(stored));
    expect(text).toContain(`lift +0.0000 over evaluation_majority ${f4(nir.accuracy)} (in hindsight: the evaluation period's own majority class; 95% [0.0000, 0.0000], p 1.0; the comparison promotion judges); lift +${f4(stored.baseline.accuracyLift)} over momentum_sign ${f4(stored.baseline.accuracy)}`);
  });

  it('run report: the accuracy row is beside the judged baseline with its p-value; the fair baseline has a row of its own', () => {
    const report = assembleRunReport({ version: version(stored), now: new Date('2024-01-01T00:00:00Z') });
    if (!report.headline.recorded) throw new Error(report.headline.reason);
    const rows = Object.fromEntries(report.headline.data.map((r) => [r.metric, r]));
    expect(rows['accuracy (out of sample)']).toMatchObject({ model: stored.classification.accuracy, baseline: nir.accuracy });
    expect(rows['accuracy (out of sample)'].baselineName).toMatch(/^evaluation_majority \(the evaluation period's own majority class, .*hindsight\)$/);
    expect(rows['accuracy (out of sample)'].note).toMatch(/^lift \+0\.0000, 95% \[0\.0000, 0\.0000\], one-sided p 1\.0: the comparison promotion judges accuracy_lift on/);
    expect(rows['accuracy beside the strongest fair baseline']).toMatchObject({ model: stored.classification.accuracy, baseline: stored.baseline.accuracy, baselineName: 'momentum_sign' });
    expect(rows['accuracy beside the strongest fair baseline'].note).toMatch(/one-sided p 0\.000\d+/);
    expect(renderRunReportHtml(report)).toContain('evaluation_majority (the evaluation period&#39;s own majority class');
  });

  it('dashboard: the accuracy cell names the judged baseline', () => {
    expect(accuracyCellHtml(stored)).toBe(`${f4(stored.classification.accuracy)} <span class="note">vs evaluation_majority (hindsight) ${f4(nir.accuracy)}, p 1.0</span>`);
  });

  it('dashboard: the within-day AUC (what a cross-sectional experiment promotes on) beside its baseline and the p-value of the difference', () => {
    const wd = stored.auc.withinDay!;
    expect(withinDayAucCellHtml(stored)).toBe(`${f4(wd.value as number)} <span class="note">vs ${wd.versus} ${f4(wd.baselineValue as number)}, p ${(wd.difference!.pValue as number).toPrecision(2)}</span>`);
    expect(withinDayAucCellHtml({ ...stored, auc: { ...stored.auc, withinDay: undefined } })).toBe('-');
  });
});

describe('undefined p-values (a 5-day evaluation of 5-day labels)', () => {
  const stored = storedAsJson(fiveDayEvaluation());

  it('are stored as null', () => {
    expect(stored.baseline.pValue).toBeNull();
    expect(stored.auc.difference.pValue).toBeNull();
  });

  it('models show prints the version, each such p-value as undefined with the reason', () => {
    const h = headline(version(stored));
    expect(h['p-value vs baseline']).toMatch(/^undefined \(too few independent days or symbols in the evaluation period for day-aware evidence, or nothing varied: e\.g\. a strategy that never traded\)/);
    expect(h['auc vs baseline']).toMatch(/, p undefined \(too few independent days or symbols/);
    for (const [k, v] of Object.entries(h)) expect([k, v]).not.toEqual([k, expect.stringMatching(/NaN|null/)]);
    expect(listFigures(version(stored))).not.toMatch(/NaN|null/);
  });

  it("mlp run's summary, the run report and the dashboard show no NaN or null", () => {
    expect(describeCandidates(runResult(stored))).not.toMatch(/NaN|null/);
    const report = assembleRunReport({ version: version(stored), now: new Date('2024-01-01T00:00:00Z') });
    if (!report.headline.recorded) throw new Error(report.headline.reason);
    const notes = report.headline.data.map((r) => `${r.baselineName} ${r.note ?? ''}`).join('\n');
    expect(notes).not.toMatch(/NaN|null/);
    expect(notes).toContain('one-sided p undefined');
    expect(accuracyCellHtml(stored)).not.toMatch(/NaN|null/);
    expect(withinDayAucCellHtml(stored)).toMatch(/, p -<\/span>$/);
  });
});
