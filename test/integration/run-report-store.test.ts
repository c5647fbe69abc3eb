/**
 * Run reports against a real store and ARTIFACT_DIR: generated from a registered version's stored
 * dataset, predictions and bars, filed by sha256, recorded in the lineage, found again by run id or
 * model@alias, and rebuilt when the file is gone.
 */
import fs from 'node:fs';
import { getModelVersion, moveAlias, registerModel } from '../../lib/registry/model-registry';
import { parseReportTarget, recordedReportOf, reportKey, reportsForTarget } from '../../lib/reports/version-report';
import { upsertBars } from '../../lib/store/bars';
import { writeDataset } from '../../lib/training/dataset';
import { writePredictions } from '../../lib/training/walk-forward';
import { encodeArtifact } from '../../models/artifact';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { fixtureDataset, fixtureModel, fixturePredictions, fixtureSeries, fixtureVersion } from '../helpers/report-fixture';
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

  it('names what it cannot find', async () => {
    await expect(reportsForTarget(t.store, artifacts, parseReportTarget('no-such-run'))).rejects.toThrow('run no-such-run registered no model version');
    await expect(reportsForTarget(t.store, artifacts, parseReportTarget('demo-direction@challenger'))).rejects.toThrow('has no challenger');
    expect(() => parseReportTarget('demo@')).toThrow('neither model@version');
  });
});
