/**
 * registerAndPromote (the real activity, in a mock activity context, on SQLite) stores the
 * registered version's reference profile from the run's training dataset and walk-forward
 * predictions, once: a retried registration changes nothing.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { experimentActivities, type RegisterResult } from '../../activities/experiments';
import { experimentSchema } from '../../lib/experiments/experiment';
import { profileStoredSigned, readReferenceProfile, readReferenceProfileRecord } from '../../lib/monitoring/profile-store';
import { getModelVersion } from '../../lib/registry/model-registry';
import { profileRecordProblem } from '../../lib/registry/row-signature';
import { putArtifact } from '../../lib/registry/artifact-store';
import { TaskPool } from '../../lib/threads/task-pool';
import { writeDataset } from '../../lib/training/dataset';
import { writePredictions } from '../../lib/training/walk-forward';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { returnsFeatureSet, saveTestFeatureSet, type TestFeatureSet } from '../helpers/registration';
import { syntheticTrainingDataset } from '../helpers/training-dataset';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';

describe('reference profile at registration', () => {
  let t: TestDatabase;
  let pool: TaskPool;
  let FEATURE_SET: TestFeatureSet;
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    pool = new TaskPool(1);
    FEATURE_SET = await saveTestFeatureSet(t.store, returnsFeatureSet('monitoring-registration', 3));
  });
  afterAll(async () => {
    await pool?.close();
    await t?.drop();
  });

  /** A run's files (dataset, artifact, walk-forward scores) and the registration input of `name`. */
  async function registrationOf(name: string) {
    const artifactDir = tempDir('mlp-monitoring-registration-');
    const ds = syntheticTrainingDataset({ symbols: 10, days: 260, seed: 2, featureSet: FEATURE_SET });
    const artifacts = localArtifactStore(artifactDir);
    const { id: datasetId } = await writeDataset(artifacts, ds);
    const model = await logisticRegression.fit({ features: { values: ds.values, rows: ds.rows, featureNames: ds.columns }, labels: ds.labels, classes: 2, seed: 1 }, {});
    const { sha256 } = await putArtifact(artifacts, encodeArtifact(model.state(), { featureSetVersion: ds.featureSetVersion, label: ds.label }));
    const rows = Int32Array.from({ length: ds.rows }, (_, r) => r).filter((r) => ds.start[r] >= 150);
    const x = new Float64Array(rows.length * ds.columns.length);
    rows.forEach((r, i) => x.set(ds.values.subarray(r * ds.columns.length, (r + 1) * ds.columns.length), i * ds.columns.length));
    const predictionsId = await writePredictions(artifacts, { datasetId, algorithm: 'logistic_regression', classes: 2, rows, proba: model.predictProba({ values: x, rows: rows.length, featureNames: ds.columns }), windows: [] });

    const experiment = experimentSchema.parse({ name, label: ds.label, algorithms: [{ algorithm: 'logistic_regression' }] });
    const input = {
      experiment,
      algorithm: 'logistic_regression',
      params: {},
      artifactSha256: sha256,
      datasetId,
      featureSetVersion: ds.featureSetVersion,
      metrics: {},
      lineage: { walkForward: { predictionsId, rows: rows.length, windows: 1 } },
      scores: { auc: 0.6, accuracyLift: 0.02, sharpe: 1, shuffledLabelPassed: true },
      workflowId: `wf-registration-${name}`,
      runId: 'run-1',
    };
    return { ds, rows, artifacts, input };
  }

  it('is stored by registerAndPromote from the training dataset and the walk-forward scores, once', async () => {
    const { ds, rows, artifacts, input } = await registrationOf('registered-profile');
    const { registerAndPromote } = experimentActivities({ store: t.store, artifacts, trainingPool: pool, signing: { signingKey: undefined } });
    const env = new MockActivityEnvironment();
    const result: RegisterResult = await env.run(registerAndPromote, input);
    const profile = await readReferenceProfile(t.store, 'registered-profile', result.version.version);
    expect(profile).toMatchObject({ model: 'registered-profile', version: result.version.version, featureSetVersion: ds.featureSetVersion, scoreSource: 'walk-forward' });
    expect(profile?.features.map((f) => f.name)).toEqual(ds.columns);
    expect(profile?.period.rows).toBe(ds.rows);
    expect(profile?.score?.count).toBe(rows.length);

    // A retried attempt registers nothing new and keeps the first profile.
    const again: RegisterResult = await env.run(registerAndPromote, input);
    expect(again.version.version).toBe(result.version.version);
    expect(await readReferenceProfile(t.store, 'registered-profile', result.version.version)).toEqual(profile);
    expect(await t.store.db.selectFrom('model_reference_profiles').selectAll().where('name', '=', 'registered-profile').execute()).toHaveLength(1);
    expect((await readReferenceProfileRecord(t.store, 'registered-profile', result.version.version))?.signature).toBeUndefined();
    // Without the key the row says nothing of a signed profile.
    expect(profileStoredSigned(await getModelVersion(t.store, 'registered-profile', result.version.version))).toBe(false);
  });

  it('is signed with the signing key, bound to the registered row', async () => {
    const key = 'registration-profile-key-0123456789abcdef';
    const { artifacts, input } = await registrationOf('signed-profile');
    const { registerAndPromote } = experimentActivities({ store: t.store, artifacts, trainingPool: pool, signing: { signingKey: key } });
    const result: RegisterResult = await new MockActivityEnvironment().run(registerAndPromote, input);
    const record = await readReferenceProfileRecord(t.store, 'signed-profile', result.version.version);
    expect(record?.signature).toBeDefined();
    const row = await getModelVersion(t.store, 'signed-profile', result.version.version);
    expect(profileRecordProblem(key, row, record!.text, record!.signature)).toBeUndefined();
    // The signed row says its profile is stored signed: monitoring alerts one missing or unsigned as an edit.
    expect(profileStoredSigned(row)).toBe(true);
    expect(profileRecordProblem('another-key-0123456789abcdef0123456789', row, record!.text, record!.signature)).toMatch(/is signed with another key \(key id [0-9a-f]{8}\)/);
    // Bound to the row: the same text under another version's identity does not verify.
    expect(profileRecordProblem(key, { ...row, version: row.version + 1 }, record!.text, record!.signature)).toMatch(/does not match it/);
  });
});
