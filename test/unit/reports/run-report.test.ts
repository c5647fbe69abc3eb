import { REPORT_SECTIONS, renderRunReportHtml, reportBindingOf } from '../../../lib/reports/html';
import { assembleRunReport, drawdownSeriesOf, monthlyReturnsOf, NOT_RECORDED, rocCurveOf, rollingMeanOf, trialPointsOf } from '../../../lib/reports/report-data';
import { escapeHtml } from '../../../lib/reports/svg';
import { fixtureDataset, fixtureModel, fixturePredictions, fixtureSeries, fixtureVersion, MOMENTUM_COLUMN, VOLUME_COLUMN } from '../../helpers/report-fixture';

const close = (actual: readonly number[], expected: readonly number[]) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => expect(a).toBeCloseTo(expected[i], 10));
};

describe('run report data', () => {
  it('equity and drawdown of strategy and buy-and-hold equal a hand computation on a tiny series', async () => {
    const ds = fixtureDataset();
    const report = assembleRunReport({ version: fixtureVersion(), evaluation: { dataset: ds, predictions: fixturePredictions(), series: fixtureSeries() }, model: await fixtureModel(ds), now: new Date('2024-02-07T00:00:00Z') });
    if (!report.equity.recorded) throw new Error(report.equity.reason);
    const e = report.equity.data;
    // Periods run open to open from 01-30 to 02-05. AAA returns +10%, −10%, 0, +10%; BBB and CCC are flat.
    // Strategy: 1/3 in AAA when its score (at the previous close) is above 0.5: periods 0, 2, 3 (not 1).
    // Buy-and-hold: 1/3 in each, every period. No costs (the experiment sets them to 0).
    expect(e.dates).toEqual(['2024-01-30', '2024-01-31', '2024-02-01', '2024-02-02', '2024-02-05']);
    const third = 0.1 / 3;
    close(e.strategy, [1, 1 + third, 1 + third, 1 + third, (1 + third) ** 2]);
    close(e.buyAndHold, [1, 1 + third, (1 + third) * (1 - third), (1 + third) * (1 - third), (1 + third) ** 2 * (1 - third)]);
    close(e.strategyDrawdown, [0, 0, 0, 0, 0]);
    close(e.buyAndHoldDrawdown, [0, 0, -third, -third, (1 + third) * (1 - third) - 1]);
    expect(e.maxDrawdown.strategy).toBeCloseTo(0, 12);
    expect(e.maxDrawdown.buyAndHold).toBeCloseTo(third, 12);
    expect(e.totalReturn.strategy).toBeCloseTo((1 + third) ** 2 - 1, 12);

    // Period 0 ends on 01-31 (January); the other three in February.
    if (!report.monthlyReturns.recorded) throw new Error('monthly returns missing');
    expect(report.monthlyReturns.data.map((m) => m.month)).toEqual(['2024-01', '2024-02']);
    close(report.monthlyReturns.data.map((m) => m.strategy), [third, third]);
    close(report.monthlyReturns.data.map((m) => m.buyAndHold), [third, (1 - third) * (1 + third) - 1]);
  });

  it('fills every section from a registered version with its predictions, and shows each figure beside a baseline', async () => {
    const ds = fixtureDataset();
    const report = assembleRunReport({
      version: fixtureVersion(),
      aliases: ['challenger'],
      decision: { promote: true, reason: 'auc 0.80 beats the champion by 0.05' },
      datasetGuards: [{ guard: 'point_in_time_audit', tripped: false, message: '30 rows recomputed, all equal' }],
      evaluation: { dataset: ds, predictions: fixturePredictions(), series: fixtureSeries() },
      model: await fixtureModel(ds),
    });
    for (const key of ['headline', 'equity', 'monthlyReturns', 'ic', 'monthlyAccuracy', 'roc', 'calibration', 'confusion', 'importance', 'trials', 'guards', 'lineage', 'promotion'] as const) {
      expect([key, report[key].recorded]).toEqual([key, true]);
    }
    if (!report.headline.recorded || !report.trials.recorded || !report.importance.recorded || !report.guards.recorded || !report.monthlyAccuracy.recorded || !report.ic.recorded) throw new Error('unreachable');
    const rows = Object.fromEntries(report.headline.data.map((r) => [r.metric, r]));
    expect(rows['accuracy (out of sample)']).toMatchObject({ model: 0.75, baseline: 0.42, baselineName: 'always_up' });
    expect(rows['Sharpe ratio (net)']).toMatchObject({ model: 2.1, baseline: 0.4, baselineName: 'buy-and-hold (equal weight)' });
    expect(rows['mean daily IC (Spearman)'].baselineName).toBeTruthy();
    // Accuracy per month beside the strongest naive baseline: January has days 2..4 (9 rows), February day 5.
    expect(report.monthlyAccuracy.data.months.map((m) => [m.month, m.rows])).toEqual([['2024-01', 9], ['2024-02', 3]]);
    const jan = report.monthlyAccuracy.data.months[0];
    // The model predicts up for AAA on days 2 and 4 only; labels of days 2..4: AAA 1,1,1 BBB 0,1,0 CCC 0,0,1.
    expect(jan.accuracy).toBeCloseTo(6 / 9, 12);
    // IC from the next open: the last day's label ends on the last bar, with no open after it.
    expect(report.ic.data.dates).toHaveLength(3);
    expect(report.ic.data.rolling[1]).toBeCloseTo((report.ic.data.ic[0] + report.ic.data.ic[1]) / 2, 12);
    // The Brier score beside constant forecasts on the same rows: the period's up share (p(1 − p)) and a coin.
    if (!report.calibration.recorded) throw new Error('unreachable');
    const ups = report.calibration.data.baselines?.[0];
    expect(ups?.name).toMatch(/^the period's up share 0\.\d{3} \(constant, in hindsight\)$/);
    const share = Number(/0\.\d{3}/.exec(ups!.name)![0]);
    expect(ups!.brier).toBeCloseTo(share * (1 - share), 3);
    expect(report.calibration.data.baselines?.[1]).toEqual({ name: 'a coin (0.5)', brier: 0.25 });
    // Logistic regression has no split gain: permutation importance over both features.
    expect(report.importance.data.method).toBe('permutation');
    expect(report.importance.data.features.map((f) => f.name).sort()).toEqual([MOMENTUM_COLUMN, VOLUME_COLUMN].sort());
    // Failed trials keep the best so far.
    expect(report.trials.data.points.map((p) => p.bestSoFar)).toEqual([0.55, 0.61, 0.61, 0.61]);
    expect(report.trials.data.points[2].error).toBe('did not converge');
    expect(report.guards.data.map((g) => `${g.source}:${g.guard}`)).toEqual(['dataset:point_in_time_audit', 'predictions:plausibility_bound', 'predictions:degenerate_scores', 'refit on shuffled labels:shuffled_label']);
    expect(report.promotion).toMatchObject({ recorded: true, data: { promote: true, reason: 'auc 0.80 beats the champion by 0.05', aliases: ['challenger'] } });

    const html = renderRunReportHtml(report);
    for (const [id] of REPORT_SECTIONS) {
      const section = new RegExp(`<section class="report-section" id="${id}" data-section="${id}" data-recorded="true">`);
      expect([id, section.test(html)]).toEqual([id, true]);
    }
    // Charts are inline SVG; nothing is fetched when the file is opened.
    expect((html.match(/<svg /g) ?? []).length).toBeGreaterThanOrEqual(10);
    expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '')).not.toMatch(/https?:\/\/|<script|<link /);
  });

  it('shows the within-day AUC beside the pooled one with its difference to the baseline, and the IC beside a baseline that ranks stocks', async () => {
    const ds = fixtureDataset();
    const stored = fixtureVersion().metrics.outOfSample as { auc: Record<string, unknown> };
    const withinDay = { value: 0.512, interval: [0.49, 0.534], pValue: 0.14, standardError: 0.011, days: 4, versus: 'momentum_sign', baselineValue: 0.503, baselineInterval: [0.48, 0.526], difference: { value: 0.009, interval: [-0.02, 0.038], pValue: 0.27, standardError: 0.014 } };
    const version = fixtureVersion({ metrics: { ...fixtureVersion().metrics, outOfSample: { ...stored, auc: { ...stored.auc, withinDay } } } });
    const report = assembleRunReport({ version, evaluation: { dataset: ds, predictions: fixturePredictions(), series: fixtureSeries() }, model: await fixtureModel(ds) });
    if (!report.headline.recorded) throw new Error('unreachable');
    const rows = Object.fromEntries(report.headline.data.map((r) => [r.metric, r]));
    expect(rows['within-day AUC (ranks stocks; mean of daily AUCs)']).toMatchObject({ model: 0.512, baseline: 0.503, baselineName: 'momentum_sign', note: '4 days, 95% interval 0.4900 .. 0.5340; difference +0.0090 [-0.0200, +0.0380], one-sided p 0.27; for information (this experiment promotes on auc)' });
    // Under an experiment that promotes on it, the row says so.
    const lineage = version.lineage as { experiment: Record<string, unknown> };
    const decidingVersion = { ...version, lineage: { ...lineage, experiment: { ...lineage.experiment, promotion: { metric: 'within_day_auc' } } } };
    const deciding = assembleRunReport({ version: decidingVersion, evaluation: { dataset: ds, predictions: fixturePredictions(), series: fixtureSeries() }, model: await fixtureModel(ds) });
    if (!deciding.headline.recorded) throw new Error('unreachable');
    expect(deciding.headline.data.find((r) => r.metric.startsWith('within-day AUC'))?.note).toMatch(/one-sided p 0\.27; the promotion metric$/);
    // A market-timing rule scores every stock of a day alike: no IC to stand beside the model's.
    expect(rows['mean daily IC (Spearman)'].baselineName).not.toMatch(/^market_/);
    expect(Number.isFinite(rows['mean daily IC (Spearman)'].baseline)).toBe(true);
  });

  it('shows the pooled AUC with its stored interval and paired p-value, and the IC with its stored t-statistics', async () => {
    const ds = fixtureDataset();
    const stored = fixtureVersion().metrics.outOfSample as { auc: Record<string, unknown> };
    const auc = { ...stored.auc, value: 0.8, interval: [0.71, 0.89], difference: { value: 0.05, interval: [-0.01, 0.11], pValue: 0.04, standardError: 0.03 } };
    const informationCoefficient = { mean: 0.031, std: 0.1, ir: 0.31, tStat: 1.84, naiveTStat: 2.5, lags: 4, days: 4, baseline: { name: 'momentum_sign', mean: 0.012, tStat: 0.61 } };
    const version = fixtureVersion({ metrics: { ...fixtureVersion().metrics, outOfSample: { ...stored, auc, informationCoefficient } } });
    const report = assembleRunReport({ version, evaluation: { dataset: ds, predictions: fixturePredictions(), series: fixtureSeries() }, model: await fixtureModel(ds) });
    if (!report.headline.recorded) throw new Error('unreachable');
    const rows = Object.fromEntries(report.headline.data.map((r) => [r.metric, r]));
    expect(rows['ROC AUC (out of sample)'].note).toBe('95% interval 0.7100 .. 0.8900; difference +0.0500 [-0.0100, +0.1100], one-sided p 0.040');
    expect(rows['mean daily IC (Spearman)'].note).toBe('t 1.84 (rows of one symbol and of nearby days dependent; 2.50 if days were independent); momentum_sign t 0.61');
    // Versions stored before these figures show the row without them, as before.
    const older = assembleRunReport({ version: fixtureVersion(), evaluation: { dataset: ds, predictions: fixturePredictions(), series: fixtureSeries() }, model: await fixtureModel(ds) });
    if (!older.headline.recorded) throw new Error('unreachable');
    const olderRows = Object.fromEntries(older.headline.data.map((r) => [r.metric, r]));
    expect(olderRows['ROC AUC (out of sample)'].note).toBeUndefined();
    expect(olderRows['mean daily IC (Spearman)'].note).toBeUndefined();
  });

  it('says "not recorded for this version" for what an older version lacks, without failing', () => {
    const old = fixtureVersion({ metrics: {}, lineage: {} });
    const report = assembleRunReport({ version: old, evaluationMissing: 'the version names no training dataset or walk-forward predictions' });
    for (const key of ['headline', 'equity', 'monthlyReturns', 'ic', 'monthlyAccuracy', 'roc', 'calibration', 'confusion', 'importance', 'trials', 'guards', 'promotion'] as const) {
      const s = report[key];
      expect([key, s.recorded ? 'recorded' : s.reason.startsWith(NOT_RECORDED)]).toEqual([key, true]);
    }
    expect(report.lineage.recorded).toBe(true);
    const html = renderRunReportHtml(report);
    expect((html.match(/not recorded for this version/g) ?? []).length).toBeGreaterThanOrEqual(12);
  });

  it('names the version it is of in its head (read back by reportBindingOf), and says at its top what was checked', () => {
    const v = fixtureVersion();
    const render = (integrity?: Parameters<typeof assembleRunReport>[0]['integrity']) => renderRunReportHtml(assembleRunReport({ version: v, decision: { promote: true, reason: 'beat the champion' }, ...(integrity ? { integrity } : {}) }));
    expect(reportBindingOf(render())).toEqual({ name: v.name, version: v.version, artifactSha256: v.artifactSha256 });
    expect(render({})).toContain('data-integrity="unsigned"');
    expect(render({ keyId: 'abcd1234' })).toContain('signature is valid (key id abcd1234)');
    // Record refused: neither the recorded decision nor the recorded guard verdicts are shown.
    const refusedRecord = fixtureVersion({ lineage: { ...v.lineage, promotion: { promote: true, reason: 'beat the champion' }, datasetGuards: [{ guard: 'point_in_time_audit', tripped: false, message: 'all equal' }] } });
    const report = assembleRunReport({ version: refusedRecord, integrity: { keyId: 'abcd1234', recordProblem: 'edited' } });
    expect(report.integrity.status).toBe('refused');
    expect(report.promotion).toEqual({ recorded: false, reason: 'not shown: edited' });
    expect(report.guards.recorded && report.guards.data.find((g) => g.source === 'dataset')).toMatchObject({ tripped: true, message: expect.stringContaining('not shown: edited') });
    // Row refused: nothing but the lineage it claims.
    const row = assembleRunReport({ version: v, integrity: { keyId: 'abcd1234', rowProblem: 'signature does not match' } });
    expect(Object.entries(row).filter(([, s]) => (s as { recorded?: boolean }).recorded === true).map(([k]) => k)).toEqual(['lineage']);
    // Another version's binding cannot be smuggled in through stored text (escaped), nor stated twice.
    const smuggled = renderRunReportHtml(assembleRunReport({ version: fixtureVersion({ algorithm: '<meta name="mlp-report-version" content="9">' }) }));
    expect(reportBindingOf(smuggled)?.version).toBe(v.version);
    expect(reportBindingOf(smuggled.replace('</head>', '<meta name="mlp-report-version" content="9"></head>'))).toBeUndefined();
  });

  it('lists guards the experiment switched off or loosened as NOT RUN / LOOSENED, never as passed', () => {
    const base = fixtureVersion();
    const relaxedGuards = [
      { guard: 'shuffled_label', status: 'not_run', setting: 'guards.shuffledLabel', message: 'not run: disabled by guards.shuffledLabel false' },
      { guard: 'plausibility_bound', status: 'loosened', setting: 'guards.plausibility.direction.maxAuc', message: 'bound loosened: guards.plausibility.direction.maxAuc 1 > default 0.6' },
    ];
    const report = assembleRunReport({ version: { ...base, metrics: { ...base.metrics, shuffledLabel: undefined, scores: { relaxedGuards } } } });
    if (!report.guards.recorded) throw new Error(report.guards.reason);
    expect(report.guards.data.filter((g) => g.source === 'experiment settings').map((g) => [g.guard, g.verdict, g.message])).toEqual([
      ['shuffled_label', 'NOT RUN', 'not run: disabled by guards.shuffledLabel false'],
      ['plausibility_bound', 'LOOSENED', 'bound loosened: guards.plausibility.direction.maxAuc 1 > default 0.6'],
    ]);
    const html = renderRunReportHtml(report);
    expect(html).toContain('<span class="relaxed">NOT RUN</span>');
    expect(html).toContain('<span class="relaxed">LOOSENED</span>');
    // A version registered before they were recorded: read from the experiment in its lineage.
    const older = assembleRunReport({ version: { ...base, lineage: { ...base.lineage, experiment: { label: { kind: 'direction', horizon: 1 }, guards: { pointInTime: { rows: 0 } } } } } });
    if (!older.guards.recorded) throw new Error(older.guards.reason);
    expect(older.guards.data.filter((g) => g.verdict).map((g) => `${g.guard} ${g.verdict}: ${g.message}`)).toEqual(['point_in_time_audit NOT RUN: not run: disabled by guards.pointInTime.rows 0']);
  });

  it('escapes stored text in the HTML', () => {
    const report = assembleRunReport({ version: fixtureVersion({ name: 'x', algorithm: '<script>alert(1)</script>' }), decision: { promote: false, reason: '<img src=x onerror=alert(1)>' } });
    const html = renderRunReportHtml(report);
    expect(html).not.toContain('<script>alert(1)');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain(escapeHtml('<img src=x onerror=alert(1)>'));
  });

  it('draws the ROC curve as a comparison sort of the scores would: ties, infinities and NaN left out, thinned to max points', () => {
    const bySort = (score: number[], positive: boolean[], max = 200) => {
      const order = Array.from({ length: score.length }, (_, i) => i).filter((i) => Number.isFinite(score[i])).sort((a, b) => score[b] - score[a]);
      const p = order.filter((i) => positive[i]).length;
      const n = order.length - p;
      if (p === 0 || n === 0) return [];
      const points = [{ x: 0, y: 0 }];
      let tp = 0;
      let fp = 0;
      for (let k = 0; k < order.length; k++) {
        if (positive[order[k]]) tp++;
        else fp++;
        if (k + 1 < order.length && score[order[k + 1]] === score[order[k]]) continue;
        points.push({ x: fp / n, y: tp / p });
      }
      if (points.length <= max) return points;
      const step = (points.length - 1) / (max - 1);
      return Array.from({ length: max }, (_, i) => points[Math.round(i * step)]);
    };
    let seed = 7;
    const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (const n of [0, 1, 2, 5, 17, 40, 300, 5000]) {
      for (const tied of [false, true]) {
        const score = Array.from({ length: n }, (_, i) => (i % 11 === 3 ? [NaN, Infinity, -Infinity][i % 3] : tied ? Math.round(next() * 5) / 5 : next()));
        if (n > 4) score[1] = -0;
        if (n > 4) score[2] = 0;
        const positive = Array.from({ length: n }, () => next() < 0.4);
        expect(rocCurveOf(score, positive)).toEqual(bySort(score, positive));
        expect(rocCurveOf(score, positive, 10)).toEqual(bySort(score, positive, 10));
      }
    }
  });

  it('helpers: drawdown, monthly compounding, rolling mean, ROC end points', () => {
    close(drawdownSeriesOf([1, 1.2, 0.9, 1.5, 1.2]), [0, 0, 0.9 / 1.2 - 1, 0, 1.2 / 1.5 - 1]);
    expect(monthlyReturnsOf(['2024-01-30', '2024-01-31', '2024-02-01', '2024-02-02'], [0.1, 0.1, -0.5], [0, 0, 0]).map((m) => [m.month, Number(m.strategy.toFixed(10))])).toEqual([['2024-01', 0.1], ['2024-02', Number((1.1 * 0.5 - 1).toFixed(10))]]);
    close(rollingMeanOf([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5]);
    const roc = rocCurveOf([0.9, 0.8, 0.3, 0.1], [true, false, true, false]);
    expect(roc[0]).toEqual({ x: 0, y: 0 });
    expect(roc[roc.length - 1]).toEqual({ x: 1, y: 1 });
    expect(roc).toContainEqual({ x: 0, y: 0.5 });
    expect(trialPointsOf([{ trial: 1, score: 0.4 }, { trial: 0, score: 0.5 }]).map((p) => p.bestSoFar)).toEqual([0.5, 0.5]);
  });
});
