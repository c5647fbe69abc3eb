/**
 * Artifact verification is the serving loader's own check: every version the loader refuses
 * (payload too short for the model, a non-finite parameter, three classes, a feature set the store
 * does not hold) is refused by verifyRegisteredVersion, the deployment activities and the admin
 * route check with the same message, before any alias or route moves. Registration refuses
 * non-finite parameters, naming them. Artifacts are made with the project's encodeArtifact; a
 * version "registered by an earlier build" is a valid registration whose row is then pointed at
 * the crafted artifact (put in the artifact store as registration puts it).
 */
import crypto from 'node:crypto';
import { deploymentActivities } from '../../activities/deployment';
import { localArtifactStore, type ArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { putArtifact } from '../../lib/registry/artifact-store';
import { aliasVersion, listModelVersions, loadRegisteredModel, registerModel, RegistryError, verifyRegisteredVersion, type ModelVersion } from '../../lib/registry/model-registry';
import { ArtifactVerificationError } from '../../lib/registry/verify-artifact';
import { ServingModels } from '../../lib/serving/serving-models';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { encodeArtifact, packFloat64, unpackFloat64 } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import type { ModelState } from '../../models/model';
import { rng } from '../../lib/random';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { saveTestFeatureSet, UNTRACKED_REGISTRATION } from '../helpers/registration';

const COLUMNS = ['oracle', 'noise'];
const FS = 'fs-verify-000000000000';
const LABEL = { kind: 'direction', horizon: 5, deadZone: 0 };

/** A logistic regression over COLUMNS (`classes` classes); its payload is mean[2], scale[2], coef[classes × 3]. */
async function fitState(seed: number, classes = 2): Promise<ModelState> {
  const next = rng(seed);
  const rows = 300;
  const values = new Float64Array(rows * 2);
  const labels = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const y = classes === 2 ? (next() < 0.5 ? 1 : 0) : r % classes;
    values[r * 2] = y - 0.5 + (next() - 0.5) * 0.2;
    values[r * 2 + 1] = next() - 0.5;
    labels[r] = y;
  }
  return (await logisticRegression.fit({ features: { values, rows, featureNames: COLUMNS }, labels, classes, seed }, {})).state();
}

/** The state with its payload's float64s changed by `edit` (the whole payload is float64s). */
function edited(state: ModelState, edit: (f: Float64Array) => Float64Array): ModelState {
  const [f] = unpackFloat64(state.payload, [state.payload.byteLength / 8]);
  return { ...state, payload: packFloat64([edit(f)]) };
}

describe('artifact verification is the serving loader\'s check (SQLite, in-memory cache)', () => {
  let t: TestDatabase;
  let artifacts: ArtifactStore;
  const cache = new MemoryCache();
  let serving: ServingModels;

  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    artifacts = localArtifactStore(tempDir('mlp-verify-artifacts-'));
    await saveTestFeatureSet(t.store, FS, COLUMNS);
    serving = new ServingModels({ store: t.store, cache, artifacts, pollMs: 50 });
    await serving.start();
  });
  afterAll(async () => {
    await serving?.close();
    await t?.drop();
  });

  const register = (name: string, state: ModelState, featureSetVersion = FS): Promise<ModelVersion> =>
    registerModel(t.store, artifacts, {
      name, artifact: encodeArtifact(state, { featureSetVersion, label: LABEL }), algorithm: 'logistic_regression', params: {}, seed: 1, featureSetVersion, label: LABEL,
      ...UNTRACKED_REGISTRATION, registrationKey: `${name}/${crypto.randomUUID()}`,
    });

  /** A version as an earlier build registered it, unchecked: a valid registration whose row is pointed at the crafted state's artifact. */
  async function registeredEarlier(name: string, state: ModelState): Promise<ModelVersion> {
    const v = await register(name, await fitState(99));
    const bytes = encodeArtifact(state, { featureSetVersion: FS, label: LABEL });
    const { sha256 } = await putArtifact(artifacts, bytes);
    await t.store.db.updateTable('model_versions').set({ artifact_sha256: sha256, artifact_bytes: bytes.byteLength }).where('name', '=', name).where('version', '=', v.version).execute();
    return { ...v, artifactSha256: sha256, artifactBytes: bytes.byteLength };
  }

  /**
   * Serves a good v1, then checks `bad` is refused alike by verification, the loader (routes written
   * past every check), the admin route check and the deployment activities, with `reason`; nothing moves.
   */
  async function refusedEverywhere(name: string, bad: ModelVersion, reason: string): Promise<void> {
    const good = await register(name, await fitState(7));
    await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(good.version), updatedBy: 'test', reason: 'serve' });
    for (let i = 0; i < 200 && serving.snapshot(name)?.routes.routes[0].version !== good.version; i++) await new Promise((r) => setTimeout(r, 25));
    expect(serving.snapshot(name)?.routes.routes[0].version).toBe(good.version);

    const message = `${name} v${bad.version} artifact failed verification: ${reason}`;
    const verified = await verifyRegisteredVersion(t.store, artifacts, name, bad.version).catch((error: unknown) => error);
    expect(verified).toBeInstanceOf(ArtifactVerificationError);
    expect((verified as Error).message).toBe(message);
    await expect(loadRegisteredModel(t.store, artifacts, name, bad.version)).rejects.toThrow(message);
    await expect(serving.verifyVersions(name, [bad.version])).rejects.toThrow(message);

    const activities = deploymentActivities({ store: t.store, cache, artifacts });
    const deployment = await activities.beginDeployment({ deploymentId: `d-${name}`, request: { model: name, challengerVersion: bad.version } }).catch((error: unknown) => error as { type?: string; message: string });
    expect(deployment).toMatchObject({ type: 'ARTIFACT_INVALID', message: expect.stringContaining(message) });
    expect(await aliasVersion(t.store, name, 'canary')).toBeUndefined();

    // Written past every check (a stale process, a hand edit): the loader refuses it with the same message.
    const before = await readServingRoutes(t.store, name);
    await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(bad.version), updatedBy: 'test', reason: 'bypass' });
    for (let i = 0; i < 200 && !serving.unreadyModels().some((m) => m.includes(message)); i++) await new Promise((r) => setTimeout(r, 25));
    expect(serving.unreadyModels()).toEqual([expect.stringContaining(`loading generation ${before!.generation + 1} failed: ${name} v${bad.version} cannot be loaded: ${message}`)]);
    expect(serving.snapshot(name)?.routes.routes[0].version).toBe(good.version);
    await t.store.db.deleteFrom('serving_routes').where('model', '=', name).execute(); // the next model's readiness is its own
    for (let i = 0; i < 200 && serving.models().includes(name); i++) await new Promise((r) => setTimeout(r, 25));
  }

  it('verifies, loads and serves a valid model of a stored feature set', async () => {
    const v = await register('valid', await fitState(1));
    const { model, header } = await verifyRegisteredVersion(t.store, artifacts, 'valid', v.version);
    expect(header.featureNames).toEqual(COLUMNS);
    expect(model.predictProba({ values: Float64Array.of(0.5, 0), rows: 1, featureNames: COLUMNS })[1]).toBeGreaterThan(0.5);
    await expect(serving.verifyVersions('valid', [v.version])).resolves.toBeUndefined();
  });

  it('refuses at registration a model with a non-finite parameter, naming it, and stores nothing', async () => {
    // Layout: mean[2], scale[2], class 0 (2 coefficients, intercept), class 1 (2 coefficients, intercept).
    const good = await fitState(2);
    await expect(register('nonfinite', edited(good, (f) => Object.assign(f, { 9: -Infinity })))).rejects.toThrow(RegistryError);
    await expect(register('nonfinite', edited(good, (f) => Object.assign(f, { 9: -Infinity })))).rejects.toThrow('logistic_regression: intercept of class 1 is -Infinity; a stored model parameter must be a finite number');
    await expect(register('nonfinite', edited(good, (f) => Object.assign(f, { 7: NaN })))).rejects.toThrow('coefficient of feature "oracle" for class 1 is NaN');
    await expect(register('nonfinite', edited(good, (f) => Object.assign(f, { 2: 0 })))).rejects.toThrow('standardiser scale of feature "oracle" is 0');
    await expect(register('nonfinite', edited(good, (f) => f.slice(0, 8)))).rejects.toThrow('payload holds 64 bytes, the model needs 80');
    expect(await listModelVersions(t.store, 'nonfinite')).toEqual([]);
  });

  it('refuses a payload too short for the model as the loader does', async () => {
    const bad = await registeredEarlier('short', edited(await fitState(3), (f) => f.slice(0, 8)));
    await refusedEverywhere('short', bad, 'payload holds 64 bytes, the model needs 80');
  });

  it('refuses a non-finite intercept (probability 1 for every symbol) as the loader does', async () => {
    const bad = await registeredEarlier('minus-inf', edited(await fitState(4), (f) => Object.assign(f, { 6: -Infinity })));
    await refusedEverywhere('minus-inf', bad, 'logistic_regression: intercept of class 0 is -Infinity; a stored model parameter must be a finite number');
  });

  it('refuses a model of three classes as the loader does', async () => {
    const bad = await register('three-classes', await fitState(5, 3)); // registration takes any number of classes
    await refusedEverywhere('three-classes', bad, 'the model predicts 3 classes; serving expects binary (class 1 = up) models');
  });

  it('refuses a model whose feature set is not in the store, naming the version', async () => {
    const bad = await register('unknown-fs', await fitState(6), 'fs-not-stored-00000000');
    await expect(verifyRegisteredVersion(t.store, artifacts, 'unknown-fs', bad.version)).rejects.toThrow(/feature set fs-not-stored-00000000 is not in the store/);
    await saveTestFeatureSet(t.store, 'fs-not-stored-00000000', COLUMNS);
    await expect(verifyRegisteredVersion(t.store, artifacts, 'unknown-fs', bad.version)).resolves.toBeDefined();
    await t.store.db.deleteFrom('feature_sets').where('version', '=', 'fs-not-stored-00000000').execute();
    // The good version refusedEverywhere registers is of FS, which the store holds.
    await refusedEverywhere('unknown-fs', bad, 'feature set fs-not-stored-00000000 is not in the store, so its column order cannot be checked and no online features are computed for it; materialise the feature set (a pipeline run does) before serving the model');
  });
});
