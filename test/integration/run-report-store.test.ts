/**
 * Run reports against a real store and ARTIFACT_DIR: generated from a registered version's stored
 * dataset, predictions and bars, filed by sha256, recorded in the lineage, found again by run id or
 * model@alias, and rebuilt when the file is gone.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { getModelVersion, moveAlias, registerModel } from '../../lib/registry/model-registry';
import { loadReportInputs, parseReportTarget, precomputePermutationImportance, precomputeReportSections, recordedReportOf, reportKey, reportsForTarget } from '../../lib/reports/version-report';
import { renderRunReportHtml } from '../../lib/reports/html';
import { TaskPool } from '../../lib/threads/task-pool';
import { assembleRunReport, permutationImportanceOf, reportBacktestOptionsOf } from '../../lib/reports/report-data';
import { readBarSeries, upsertBars } from '../../lib/store/bars';
import { readDataset, writeDataset } from '../../lib/training/dataset';
import { readPredictions, writePredictions } from '../../lib/training/walk-forward';
import { encodeArtifact } from '../../models/artifact';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { FIXTURE_FEATURE_SET, fixtureDataset, fixtureModel, fixturePredictions, fixtureSeries, fixtureVersion, MOMENTUM_COLUMN, VOLUME_COLUMN } from '../helpers/report-fixture';
import { saveTestFeatureSet } from '../helpers/registration';
import { localArtifactStore, type ArtifactStore } from '../../lib/artifacts/artifact-store';

describe('run reports in the store', () => {
  let t: TestDatabase;
  let dir: string;
  let artifacts: ArtifactStore;

  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    dir = tempDir('mlp-report-artifacts-');
    artifacts = localArtifactStore(dir);
    const ds = fixtureDataset();
    const datasetId = (await writeDataset(artifacts, ds)).id;
    const predictionsId = await writePredictions(artifacts, { ...fixturePredictions(), datasetId });
    await upsertBars(t.store, fixtureSeries().flatMap((s) => s.dates.map((date, i) => ({ symbol: s.symbol, date, open: s.open[i], high: s.high[i], low: s.low[i], close: s.close[i], volume: s.volume[i] }))));
    const v = fixtureVersion();
    expect((await saveTestFeatureSet(t.store, FIXTURE_FEATURE_SET)).version).toBe(v.featureSetVersion); // loading the version verifies its feature set and order against it
    await registerModel(t.store, artifacts, {
      name: v.name,
      artifact: encodeArtifact((await fixtureModel(ds)).state(), { featureSetVersion: v.featureSetVersion, label: v.label }),
      algorithm: v.algorithm,
      params: v.params,
      seed: v.seed,
      featureSetVersion: v.featureSetVersion,
      label: v.label,
      snapshotId: null,
      snapshotHash: null,
      codeVersion: 'test',
      workflowId: 'pipeline-store-test',
      runId: 'run-1',
      registrationKey: 'pipeline-store-test/run-1/logistic_regression',
      metrics: v.metrics,
      lineage: { ...v.lineage, datasetId, walkForward: { predictionsId, rows: 12, windows: 1 } },
    });
    await moveAlias(t.store, { name: v.name, alias: 'champion', version: 1, movedBy: 'test', reason: 'first model' });
  });

  afterAll(async () => {
    await t.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('generates, records and then reuses the report of a run; rebuilds it when its file is gone', async () => {
    const [first] = await reportsForTarget(t.store, artifacts, parseReportTarget('pipeline-store-test'));
    expect(first).toMatchObject({ name: 'demo-direction', version: 1, generated: true });
    expect(first.path).toBe(artifacts.urlOf(reportKey(first.sha256)));
    expect(fs.readFileSync(first.path, 'utf8')).toBe(first.html);
    expect(first.html).toContain('data-section="equity" data-recorded="true"');
    expect(first.html).toContain('<span class="badge champion">champion</span>');
    expect(recordedReportOf(await getModelVersion(t.store, 'demo-direction', 1))).toEqual({ path: first.path, sha256: first.sha256, bytes: first.bytes });

    const [again] = await reportsForTarget(t.store, artifacts, parseReportTarget('demo-direction@champion'));
    expect(again).toMatchObject({ sha256: first.sha256, generated: false });

    fs.rmSync(first.path);
    const [rebuilt] = await reportsForTarget(t.store, artifacts, parseReportTarget('demo-direction@1'));
    expect(rebuilt.generated).toBe(true);
    expect(fs.existsSync(rebuilt.path)).toBe(true);
  });

  it("reads the permutation importance precomputed beside the training when the lineage names it, and computes it when the file is another model's or was modified", async () => {
    const v1 = await getModelVersion(t.store, 'demo-direction', 1);
    const about = { modelSha256: v1.artifactSha256, datasetId: v1.lineage.datasetId as string, predictionsId: (v1.lineage.walkForward as { predictionsId: string }).predictionsId, seed: v1.seed };
    const pool = new TaskPool(1);
    const precomputed = await precomputePermutationImportance(artifacts, pool, about);
    await pool.close();
    if (!precomputed) throw new Error('logistic regression reports permutation importance');
    // Without a recorded file and without threads, loadReportInputs leaves it to the report (undefined).
    const plain = await loadReportInputs(t.store, artifacts, 'demo-direction', 1);
    expect(plain.permutationImportance).toBeUndefined();
    if (!plain.model || !plain.evaluation) throw new Error('fixture version without model or evaluation');
    const computed = permutationImportanceOf(plain.model, plain.evaluation.dataset, plain.evaluation.predictions.rows, { seed: v1.seed });
    // Files of our own making with other values, so that which one the report used shows.
    const file = (patch: object) => {
      const bytes = Buffer.from(JSON.stringify({ kind: 'permutation-importance', ...about, values: [{ name: MOMENTUM_COLUMN, value: 0.123 }, { name: VOLUME_COLUMN, value: 0.456 }], ...patch }));
      const sha = createHash('sha256').update(bytes).digest('hex');
      fs.mkdirSync(path.join(dir, 'reports', sha.slice(0, 2)), { recursive: true });
      fs.writeFileSync(path.join(dir, 'reports', sha.slice(0, 2), `${sha}.json`), bytes);
      return sha;
    };
    const ours = file({});
    const otherModel = file({ modelSha256: 'f'.repeat(64) });
    const modified = file({ seed: v1.seed + 1 });
    fs.appendFileSync(path.join(dir, 'reports', modified.slice(0, 2), `${modified}.json`), ' ');
    const withImportance = async (sha: string) => {
      await t.store.db.updateTable('model_versions').set({ lineage: JSON.stringify({ ...v1.lineage, permutationImportance: { sha256: sha } }) }).where('name', '=', 'demo-direction').where('version', '=', 1).execute();
      return (await loadReportInputs(t.store, artifacts, 'demo-direction', 1)).permutationImportance;
    };
    expect(await withImportance(precomputed.sha256)).toEqual(computed);
    expect(await withImportance(ours)).toEqual([{ name: MOMENTUM_COLUMN, value: 0.123 }, { name: VOLUME_COLUMN, value: 0.456 }]);
    expect(await withImportance(otherModel)).toBeUndefined();
    expect(await withImportance(modified)).toBeUndefined();
    expect(await withImportance('0'.repeat(64))).toBeUndefined();
    await t.store.db.updateTable('model_versions').set({ lineage: JSON.stringify(v1.lineage) }).where('name', '=', 'demo-direction').where('version', '=', 1).execute();
  });

  it('reads the prediction sections computed at evaluation when the lineage names them (the same report to the byte, no bars read), and computes them when the file is of other predictions, seed or backtest, or was modified', async () => {
    const v1 = await getModelVersion(t.store, 'demo-direction', 1);
    const datasetId = v1.lineage.datasetId as string;
    const predictionsId = (v1.lineage.walkForward as { predictionsId: string }).predictionsId;
    const about = { datasetId, predictionsId, seed: v1.seed, backtest: reportBacktestOptionsOf(v1.lineage.experiment) };
    const dataset = await readDataset(artifacts, datasetId);
    const evaluation = { dataset, predictions: await readPredictions(artifacts, predictionsId), series: await readBarSeries(t.store, { symbols: dataset.symbols }) };
    const withSections = async (sha?: string) => {
      await t.store.db.updateTable('model_versions').set({ lineage: JSON.stringify({ ...v1.lineage, ...(sha ? { reportSections: { sha256: sha } } : {}) }) }).where('name', '=', 'demo-direction').where('version', '=', 1).execute();
      return loadReportInputs(t.store, artifacts, 'demo-direction', 1);
    };
    const now = new Date('2024-02-07T00:00:00Z');
    const computed = await withSections();
    expect(computed.sections).toBeUndefined();
    expect(computed.evaluation?.series).toHaveLength(3);

    const precomputed = await precomputeReportSections(artifacts, evaluation, about);
    const read = await withSections(precomputed.sha256);
    expect(read.sections).toBeDefined();
    expect(read.evaluation?.series).toBeUndefined();
    const fromFile = assembleRunReport({ ...read, now });
    const recomputed = assembleRunReport({ ...computed, now });
    expect(fromFile).toEqual(recomputed);
    expect(renderRunReportHtml(fromFile)).toBe(renderRunReportHtml(recomputed));
    // Without the model (importance then says why) the sections still come from the file.
    expect(assembleRunReport({ ...read, model: undefined, now }).equity).toEqual(recomputed.equity);

    for (const other of [{ predictionsId: 'wf-another' }, { datasetId: 'td-another' }, { seed: v1.seed + 1 }, { backtest: { ...about.backtest, costBps: 7 } }]) {
      const sha = (await precomputeReportSections(artifacts, evaluation, { ...about, ...other })).sha256;
      expect([other, (await withSections(sha)).sections]).toEqual([other, undefined]);
    }
    const file = path.join(dir, 'reports', precomputed.sha256.slice(0, 2), `${precomputed.sha256}.json`);
    const text = fs.readFileSync(file, 'utf8');
    const writeFile = (bytes: Buffer) => {
      const sha = createHash('sha256').update(bytes).digest('hex');
      fs.mkdirSync(path.join(dir, 'reports', sha.slice(0, 2)), { recursive: true });
      fs.writeFileSync(path.join(dir, 'reports', sha.slice(0, 2), `${sha}.json`), bytes);
      return sha;
    };
    // Another code version's file is not used; nor is any file when the report is asked to recompute.
    const otherCode = writeFile(Buffer.from(text.replace(/"codeVersion":"[^"]*"/, '"codeVersion":"other code"')));
    expect((await withSections(otherCode)).sections).toBeUndefined();
    expect((await withSections(precomputed.sha256)).sections).toBeDefined();
    const recompute = await loadReportInputs(t.store, artifacts, 'demo-direction', 1, {}, undefined, { recompute: true });
    expect(recompute.sections).toBeUndefined();
    expect(recompute.evaluation?.series).toHaveLength(3);
    // NaN, ±Infinity and −0 come back as they went in.
    const parsed = JSON.parse(text) as { sections: { equity: { data: { sharpe: Record<string, unknown>; maxDrawdown: Record<string, unknown>; totalReturn: Record<string, unknown> } } } };
    parsed.sections.equity.data.sharpe = { strategy: { $number: 'NaN' }, buyAndHold: { $number: '-Infinity' } };
    parsed.sections.equity.data.maxDrawdown = { strategy: { $number: '-0' }, buyAndHold: { $number: 'Infinity' } };
    parsed.sections.equity.data.totalReturn = { strategy: { $number: 'nope' }, buyAndHold: 0 };
    const craftedSha = writeFile(Buffer.from(JSON.stringify(parsed)));
    const equity = (await withSections(craftedSha)).sections?.equity;
    if (!equity?.recorded) throw new Error('crafted sections not read');
    expect(equity.data.sharpe).toEqual({ strategy: NaN, buyAndHold: -Infinity });
    expect(Object.is(equity.data.maxDrawdown.strategy, -0)).toBe(true);
    expect(equity.data.maxDrawdown.buyAndHold).toBe(Infinity);
    expect(equity.data.totalReturn.strategy).toEqual({ $number: 'nope' });

    fs.appendFileSync(file, ' ');
    expect((await withSections(precomputed.sha256)).sections).toBeUndefined();
    expect((await withSections('0'.repeat(64))).sections).toBeUndefined();
    expect((await withSections('../../etc')).sections).toBeUndefined();
    await withSections();
  });

  it('names what it cannot find', async () => {
    await expect(reportsForTarget(t.store, artifacts, parseReportTarget('no-such-run'))).rejects.toThrow('run no-such-run registered no model version');
    await expect(reportsForTarget(t.store, artifacts, parseReportTarget('demo-direction@challenger'))).rejects.toThrow('has no challenger');
    expect(() => parseReportTarget('demo@')).toThrow('neither model@version');
  });
});
