/**
 * A challenger replaces a champion only after beating its recipe re-run on the same period. A
 * champion that cannot be re-run (another label, another feature set) is not "no champion": nothing
 * is promoted over it, and the decision says why. A label stored with other key order or without a
 * field that now has a default is the same label.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { experimentActivities, type ChampionRecipe, type RegisterResult } from '../../activities/experiments';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { experimentSchema } from '../../lib/experiments/experiment';
import { putArtifact } from '../../lib/registry/artifact-store';
import { aliasVersion, moveAlias } from '../../lib/registry/model-registry';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import type { TaskPool } from '../../lib/threads/task-pool';
import { writeDataset } from '../../lib/training/dataset';
import { algorithmByName, loadModelRuntimes } from '../../models/algorithms';
import { encodeArtifact } from '../../models/artifact';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { returnsFeatureSet, saveTestFeatureSet, type TestFeatureSet } from '../helpers/registration';
import { syntheticTrainingDataset } from '../helpers/training-dataset';

describe('promotion over a champion that cannot be re-run', () => {
  let t: TestDatabase;
  const artifacts = localArtifactStore(tempDir('mlp-incomparable-'));
  let FEATURE_SET: TestFeatureSet;
  /** The same columns under another stored feature set (another version). */
  let OLDER: TestFeatureSet;
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    await loadModelRuntimes();
    FEATURE_SET = await saveTestFeatureSet(t.store, returnsFeatureSet('incomparable', 3));
    OLDER = await saveTestFeatureSet(t.store, returnsFeatureSet('incomparable-older', 3));
  });
  afterAll(async () => {
    await t?.drop();
  });

  async function run(name: string, horizon: number, seed: number, auc: number, options: { featureSetVersion?: string; storedLabel?: Record<string, unknown>; signingKey?: string } = {}): Promise<{ recipe: ChampionRecipe | undefined; result: RegisterResult }> {
    const activities = experimentActivities({ store: t.store, artifacts, trainingPool: {} as TaskPool, signing: { signingKey: options.signingKey } });
    const ds = syntheticTrainingDataset({ symbols: 6, days: 200, seed, horizon, featureSet: FEATURE_SET });
    const featureSetVersion = options.featureSetVersion ?? ds.featureSetVersion;
    const { id: datasetId } = await writeDataset(artifacts, ds);
    const model = await algorithmByName('logistic_regression').fit({ features: { values: ds.values, rows: ds.rows, featureNames: ds.columns }, labels: ds.labels, classes: 2, seed }, {});
    const { sha256 } = await putArtifact(artifacts, encodeArtifact(model.state(), { featureSetVersion, label: options.storedLabel ?? ds.label }));
    const experiment = experimentSchema.parse({ name, label: ds.label, algorithms: [{ algorithm: 'logistic_regression' }], promotion: { alpha: 1, margin: 0, allowRelaxedGuards: { reason: 'a small test market, judged without the naive-baseline tests' } } });
    const recipe: ChampionRecipe | undefined = await new MockActivityEnvironment().run(activities.championRecipe, { name, featureSetVersion, label: experiment.label });
    const result: RegisterResult = await new MockActivityEnvironment().run(activities.registerAndPromote, {
      experiment: options.storedLabel ? { ...experiment, label: options.storedLabel as never } : experiment,
      algorithm: 'logistic_regression',
      params: {},
      artifactSha256: sha256,
      datasetId,
      featureSetVersion,
      metrics: {},
      lineage: {},
      scores: { auc, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true, bestOfRun: true, candidatesCompared: 1 },
      workflowId: `wf-${name}-${seed}`,
      runId: 'r',
    });
    return { recipe, result };
  }

  it('promotes nothing over a champion of another label, saying so instead of "no champion yet"', async () => {
    const first = await run('other-label', 5, 1, 0.58);
    expect(first.result.decision).toMatchObject({ promote: true, reason: expect.stringMatching(/^no champion yet/) });
    const second = await run('other-label', 10, 2, 0.6);
    expect(second.recipe).toBeUndefined();
    expect(second.result.decision.promote).toBe(false);
    expect(second.result.decision.reason).toBe(
      `the champion v1 predicts another label ({"kind":"direction","horizon":5,"deadZone":0}, this run {"kind":"direction","horizon":10,"deadZone":0}), so it was not re-run on this run's period and nothing can be shown to beat it; promote by hand (move the alias) if the change is intended`,
    );
    expect(await aliasVersion(t.store, 'other-label', 'challenger')).toBeUndefined();
    expect(await aliasVersion(t.store, 'other-label', 'champion')).toBe(1);
  });

  it('promotes nothing over a champion of another feature set', async () => {
    await run('other-features', 5, 3, 0.58, { featureSetVersion: OLDER.version });
    const second = await run('other-features', 5, 4, 0.6);
    expect(second.result.decision).toMatchObject({ promote: false, reason: expect.stringContaining(`was trained on another feature set (${OLDER.version}, this run `) });
  });

  it('with a signing key, promotes nothing over a champion whose row was edited since it was signed', async () => {
    const key = 'k'.repeat(40);
    await run('edited-champion', 5, 7, 0.58, { signingKey: key });
    await t.store.db.updateTable('model_versions').set({ metrics: JSON.stringify({ cv: { auc: 0.1 } }) }).where('name', '=', 'edited-champion').execute();
    const second = await run('edited-champion', 5, 8, 0.6, { signingKey: key });
    expect(second.recipe).toBeUndefined();
    expect(second.result.decision).toMatchObject({ promote: false, reason: expect.stringContaining("the champion v1 cannot be trusted as the yardstick: the registry row's signature does not match it") });
  });

  it('promotes nothing while the champion alias is not the version the routes serve (deleted or moved by hand)', async () => {
    const cache = new MemoryCache();
    await run('served-champion', 5, 9, 0.58);
    expect(await aliasVersion(t.store, 'served-champion', 'champion')).toBe(1);
    await writeServingRoutes(t.store, cache, { model: 'served-champion', mode: 'single', routes: singleRoute(1), updatedBy: 'test', reason: 'v1 serves' });
    // The alias deleted by hand: without the check v2 became a "first champion" over the v1 traders are served, compared with nothing.
    await t.store.db.deleteFrom('model_aliases').where('name', '=', 'served-champion').execute();
    const second = await run('served-champion', 5, 10, 0.6);
    expect(second.recipe).toBeUndefined();
    expect(second.result.decision.promote).toBe(false);
    expect(second.result.decision.reason).toBe(
      'the serving routes of served-champion (generation 1, by test: v1 serves) serve v1 as the champion, but the champion alias is not set, so this run was not compared with the served version and nothing is promoted; make them agree first: `mlp models rollback served-champion --to-version N --reason "…"` serves N and moves the alias to it',
    );
    expect(await aliasVersion(t.store, 'served-champion', 'champion')).toBeUndefined();
    expect(await aliasVersion(t.store, 'served-champion', 'challenger')).toBeUndefined();
    // Moved by hand to v2 (never served): v3 is judged against v2's recipe, not against v1.
    await moveAlias(t.store, { name: 'served-champion', alias: 'champion', version: 2, movedBy: 'test', reason: 'by hand' });
    const third = await run('served-champion', 5, 11, 0.6);
    expect(third.result.decision).toMatchObject({ promote: false, reason: expect.stringContaining('serve v1 as the champion, but the champion alias names v2, so this run was not compared with the served version') });
    expect(await aliasVersion(t.store, 'served-champion', 'challenger')).toBeUndefined();
    expect((await readServingRoutes(t.store, 'served-champion'))?.routes).toEqual(singleRoute(1));
    // A routes row that cannot be read serves nothing: registration goes on, judged as before.
    await t.store.db.updateTable('serving_routes').set({ routes: 'not json' }).where('model', '=', 'served-champion').execute();
    const fourth = await run('served-champion', 5, 12, 0.6);
    expect(fourth.result.decision.reason).not.toContain('serving routes');
  });

  it('registers but promotes nothing while the champion alias names a registry row deleted by hand, naming the alias and the repair', async () => {
    await run('deleted-champion', 5, 13, 0.58);
    expect(await aliasVersion(t.store, 'deleted-champion', 'champion')).toBe(1);
    await t.store.db.deleteFrom('model_versions').where('name', '=', 'deleted-champion').where('version', '=', 1).execute();
    // Before: the run failed in championRecipe with "model deleted-champion has no version 1".
    const second = await run('deleted-champion', 5, 14, 0.6);
    expect(second.recipe).toBeUndefined();
    expect(second.result.version.version).toBe(2);
    expect(second.result.decision).toEqual({
      promote: false,
      reason: 'the champion alias names v1, whose registry row is gone, so this run was not compared with the champion and nothing is promoted; first serve a version that verifies: `mlp models rollback deleted-champion --to-version N --reason "…"` serves N and moves the alias to it',
    });
    expect(await aliasVersion(t.store, 'deleted-champion', 'champion')).toBe(1);
    expect(await aliasVersion(t.store, 'deleted-champion', 'challenger')).toBeUndefined();
  });

  it('re-runs a champion whose stored label has other key order and lacks a defaulted field', async () => {
    await run('same-label', 5, 5, 0.58, { storedLabel: { horizon: 5, kind: 'direction' } });
    const second = await run('same-label', 5, 6, 0.6);
    expect(second.recipe).toMatchObject({ version: 1, algorithm: 'logistic_regression' });
  });
});
