/**
 * A model whose feature names, or their order, are not its stored feature set's column order is
 * never served (verification refuses it: ARTIFACT_INVALID), so registration and the pipeline's
 * promotion refuse it first, naming the difference, before anything is stored, judged or moved:
 * no registry row, no artifact under its sha256, no challenge, no alias. A version of such a model
 * registered by an earlier build (the registration retried under its key) is not promoted either.
 */
import crypto from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { experimentActivities, type RegisterResult } from '../../activities/experiments';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { experimentSchema } from '../../lib/experiments/experiment';
import { artifactKey, putArtifact } from '../../lib/registry/artifact-store';
import { aliasHistory, aliasVersion, listModelVersions, registerModel, RegistryError } from '../../lib/registry/model-registry';
import type { TaskPool } from '../../lib/threads/task-pool';
import { writeDataset } from '../../lib/training/dataset';
import { algorithmByName, loadModelRuntimes } from '../../models/algorithms';
import { encodeArtifact, sha256 } from '../../models/artifact';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { defineTestFeatureSet, returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';
import { syntheticTrainingDataset } from '../helpers/training-dataset';

describe('registration and promotion refuse a model whose feature order is not its stored feature set\'s (SQLite)', () => {
  let t: TestDatabase;
  const artifacts = localArtifactStore(tempDir('mlp-feature-order-'));
  let FS: string;
  let COLUMNS: string[];
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    await loadModelRuntimes();
    ({ version: FS, columns: COLUMNS } = await saveTestFeatureSet(t.store, returnsFeatureSet('feature-order', 3)));
  });
  afterAll(async () => {
    await t?.drop();
  });

  /** An artifact of a logistic regression trained with `names` as its feature names, under feature set FS. */
  async function artifactOf(names: readonly string[], seed: number, featureSetVersion = FS): Promise<{ bytes: Uint8Array; label: Record<string, unknown>; ds: ReturnType<typeof syntheticTrainingDataset> }> {
    const ds = syntheticTrainingDataset({ symbols: 6, days: 120, seed, horizon: 5 });
    const x = withColumns({ values: ds.values, rows: ds.rows, featureNames: ds.columns }, names);
    const model = await algorithmByName('logistic_regression').fit({ features: x, labels: ds.labels, classes: 2, seed }, {});
    return { bytes: encodeArtifact(model.state(), { featureSetVersion, label: ds.label }), label: ds.label, ds: { ...ds, columns: [...COLUMNS] } };
  }

  const stored = async (bytes: Uint8Array): Promise<boolean> => (await artifacts.get(artifactKey(sha256(bytes)))) !== undefined;

  it('registerModel refuses names in another order, and other names, storing nothing', async () => {
    const reversed = [...COLUMNS].reverse();
    const { bytes, label } = await artifactOf(reversed, 1);
    const input = { name: 'order-direct', artifact: bytes, algorithm: 'logistic_regression', params: {}, seed: 1, featureSetVersion: FS, label, ...UNTRACKED_REGISTRATION, registrationKey: `order-direct/${crypto.randomUUID()}` };
    const refused = await registerModel(t.store, artifacts, input).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RegistryError);
    expect((refused as Error).message).toBe(
      `artifact cannot be registered: feature order differs from feature set ${FS}: 3 vs 3 columns, first difference at column 0 (${JSON.stringify(reversed[0])} vs ${JSON.stringify(COLUMNS[0])}); nothing was stored`,
    );
    expect(await listModelVersions(t.store, 'order-direct')).toEqual([]);
    expect(await stored(bytes)).toBe(false);

    const renamed = [...COLUMNS.slice(0, 2), 'volume_z'];
    const other = await artifactOf(renamed, 2);
    await expect(registerModel(t.store, artifacts, { ...input, artifact: other.bytes, registrationKey: `order-direct/${crypto.randomUUID()}` })).rejects.toThrow(
      `feature order differs from feature set ${FS}: 3 vs 3 columns, first difference at column 2 ("volume_z" vs ${JSON.stringify(COLUMNS[2])})`,
    );
    expect(await listModelVersions(t.store, 'order-direct')).toEqual([]);

    // The stored order registers.
    const good = await artifactOf(COLUMNS, 3);
    await expect(registerModel(t.store, artifacts, { ...input, artifact: good.bytes, registrationKey: `order-direct/${crypto.randomUUID()}` })).resolves.toMatchObject({ version: 1 });
  });

  it('registerModel refuses a model whose feature set the store does not hold, or holds as this code would not store it, naming it, storing nothing', async () => {
    // The same columns under a feature set of another name: a version the store has no row of.
    const missing = defineTestFeatureSet(returnsFeatureSet('feature-order-missing', 3));
    expect(missing.columns).toEqual(COLUMNS);
    const ds = syntheticTrainingDataset({ symbols: 6, days: 120, seed: 7, horizon: 5 });
    const model = await algorithmByName('logistic_regression').fit({ features: withColumns({ values: ds.values, rows: ds.rows, featureNames: ds.columns }, COLUMNS), labels: ds.labels, classes: 2, seed: 7 }, {});
    const bytes = encodeArtifact(model.state(), { featureSetVersion: missing.version, label: ds.label });
    const input = { name: 'order-missing', artifact: bytes, algorithm: 'logistic_regression', params: {}, seed: 7, featureSetVersion: missing.version, label: ds.label, ...UNTRACKED_REGISTRATION, registrationKey: `order-missing/${crypto.randomUUID()}` };
    const refused = await registerModel(t.store, artifacts, input).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RegistryError);
    expect((refused as Error).message).toBe(
      `artifact cannot be registered: feature set ${missing.version} is not in the store, so its column order cannot be checked and no online features are computed for it; materialise the feature set (a pipeline run does) before serving the model; nothing was stored`,
    );
    expect(await listModelVersions(t.store, 'order-missing')).toEqual([]);
    expect(await stored(bytes)).toBe(false);

    // Stored, then its columns edited: a row this code would not store is refused the same way, with verification's words.
    const edited = await saveTestFeatureSet(t.store, returnsFeatureSet('feature-order-edited', 3));
    await t.store.db.updateTable('feature_sets').set({ columns: JSON.stringify([...COLUMNS].reverse()) }).where('version', '=', edited.version).execute();
    const other = encodeArtifact(model.state(), { featureSetVersion: edited.version, label: ds.label });
    await expect(registerModel(t.store, artifacts, { ...input, artifact: other, featureSetVersion: edited.version, registrationKey: `order-missing/${crypto.randomUUID()}` })).rejects.toThrow(
      `artifact cannot be registered: feature set ${edited.version}: the stored columns are not the ones its definition yields under this code`,
    );
    expect(await listModelVersions(t.store, 'order-missing')).toEqual([]);
    expect(await stored(other)).toBe(false);

    // Once materialised, the same model registers.
    await saveTestFeatureSet(t.store, returnsFeatureSet('feature-order-missing', 3));
    await expect(registerModel(t.store, artifacts, { ...input, registrationKey: `order-missing/${crypto.randomUUID()}` })).resolves.toMatchObject({ version: 1, featureSetVersion: missing.version });
  });

  /** The pipeline's registerAndPromote of an artifact trained with `names`, for a model without a champion. */
  async function registerAndPromote(name: string, names: readonly string[], seed: number, featureSetVersion?: string): Promise<{ result: Promise<RegisterResult>; bytes: Uint8Array }> {
    const activities = experimentActivities({ store: t.store, artifacts, trainingPool: {} as TaskPool, signing: { signingKey: undefined } });
    const { bytes, label, ds } = await artifactOf(names, seed, featureSetVersion);
    const { id: datasetId } = await writeDataset(artifacts, ds);
    const { sha256: sha } = await putArtifact(artifacts, bytes); // trained and saved by the run, as train does
    const experiment = experimentSchema.parse({ name, label, algorithms: [{ algorithm: 'logistic_regression' }], promotion: { alpha: 1, margin: 0, allowRelaxedGuards: { reason: 'a small test market, judged without the naive-baseline tests' } } });
    const result: Promise<RegisterResult> = new MockActivityEnvironment().run(activities.registerAndPromote, {
      experiment, algorithm: 'logistic_regression', params: {}, artifactSha256: sha, datasetId, featureSetVersion: featureSetVersion ?? FS, metrics: {}, lineage: {},
      scores: { auc: 0.6, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true, bestOfRun: true, candidatesCompared: 1 },
      workflowId: `wf-${name}`, runId: 'r',
    });
    return { result, bytes };
  }

  it('the pipeline neither registers nor makes champion such a model when there is no champion', async () => {
    const reversed = [...COLUMNS].reverse();
    const { result } = await registerAndPromote('order-pipeline', reversed, 4);
    await expect(result).rejects.toThrow(`order-pipeline (logistic_regression) cannot be registered or promoted: feature order differs from feature set ${FS}: 3 vs 3 columns, first difference at column 0 (${JSON.stringify(reversed[0])} vs ${JSON.stringify(COLUMNS[0])}); nothing was registered or moved`);
    expect(await listModelVersions(t.store, 'order-pipeline')).toEqual([]);
    expect(await aliasVersion(t.store, 'order-pipeline', 'champion')).toBeUndefined();
    expect(await aliasHistory(t.store, 'order-pipeline')).toEqual([]);
    expect(await t.store.db.selectFrom('promotion_challenges').selectAll().where('model', '=', 'order-pipeline').execute()).toEqual([]);
  });

  it('the pipeline neither registers nor makes champion a model whose feature set the store does not hold', async () => {
    const { result } = await registerAndPromote('order-pipeline-missing', COLUMNS, 8, 'fs-never-materialised-000000000000');
    await expect(result).rejects.toThrow('order-pipeline-missing (logistic_regression) cannot be registered or promoted: feature set fs-never-materialised-000000000000 is not in the store');
    expect(await listModelVersions(t.store, 'order-pipeline-missing')).toEqual([]);
    expect(await aliasVersion(t.store, 'order-pipeline-missing', 'champion')).toBeUndefined();
    expect(await t.store.db.selectFrom('promotion_challenges').selectAll().where('model', '=', 'order-pipeline-missing').execute()).toEqual([]);
  });

  it('does not promote a version of such a model an earlier build registered (its registration retried)', async () => {
    const reversed = [...COLUMNS].reverse();
    const { bytes, label } = await artifactOf(reversed, 5);
    // As an earlier build registered it: the row inserted under the run's registration key, unchecked.
    const good = await artifactOf(COLUMNS, 5);
    const v = await registerModel(t.store, artifacts, { name: 'order-earlier', artifact: good.bytes, algorithm: 'logistic_regression', params: {}, seed: 5, featureSetVersion: FS, label, ...UNTRACKED_REGISTRATION, registrationKey: 'wf-order-earlier/r/logistic_regression' });
    const { sha256: sha } = await putArtifact(artifacts, bytes);
    await t.store.db.updateTable('model_versions').set({ artifact_sha256: sha, artifact_bytes: bytes.byteLength }).where('name', '=', 'order-earlier').where('version', '=', v.version).execute();
    const { result } = await registerAndPromote('order-earlier', reversed, 5);
    await expect(result).rejects.toThrow('cannot be registered or promoted: feature order differs');
    expect(await aliasVersion(t.store, 'order-earlier', 'champion')).toBeUndefined();
    expect(await aliasHistory(t.store, 'order-earlier')).toEqual([]);
    expect((await listModelVersions(t.store, 'order-earlier')).map((m) => m.artifactSha256)).toEqual([sha]);
  });

  it('registers and makes champion the same model in the stored order', async () => {
    const { result } = await registerAndPromote('order-good', COLUMNS, 6);
    const registered = await result;
    expect(registered.decision.promote).toBe(true);
    expect(await aliasVersion(t.store, 'order-good', 'champion')).toBe(registered.version.version);
  });
});
