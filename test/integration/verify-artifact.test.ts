/**
 * Artifact verification is the serving loader's own check: every version the loader refuses
 * (payload too short for the model, a non-finite parameter, three classes, a feature set the store
 * does not hold, or holds as this code would not store it: definition edited or not a feature set,
 * columns edited) is refused by verifyRegisteredVersion, the deployment activities and the admin
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
import { defineFeatureSet, type FeatureSetInput } from '../../lib/features/feature-set';
import { resolveStreamFeatureSets } from '../../lib/streaming/feature-sets';
import { ServingModels } from '../../lib/serving/serving-models';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { encodeArtifact, packFloat64, unpackFloat64 } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import type { ModelState } from '../../models/model';
import { rng } from '../../lib/random';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { defineTestFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION } from '../helpers/registration';

/** The models' feature set: a real one of two columns. */
const FEATURES: FeatureSetInput = { name: 'verify', features: [{ kind: 'return', horizon: 1 }, { kind: 'rsi', window: 14 }] };
const { version: FS, columns: COLUMNS } = defineTestFeatureSet(FEATURES);
/** The same features under another name: the same columns, another version, not stored. */
const NOT_STORED_FEATURES: FeatureSetInput = { ...FEATURES, name: 'not-stored' };
const NOT_STORED = defineTestFeatureSet(NOT_STORED_FEATURES).version;
const LABEL = { kind: 'direction', horizon: 5, deadZone: 0 };

/** A logistic regression over `names` (COLUMNS unless told; `classes` classes); its payload is mean[2], scale[2], coef[classes × 3]. */
async function fitState(seed: number, classes = 2, names: readonly string[] = COLUMNS): Promise<ModelState> {
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
  return (await logisticRegression.fit({ features: { values, rows, featureNames: names }, labels, classes, seed }, {})).state();
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
    await saveTestFeatureSet(t.store, FEATURES);
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
  async function registeredEarlier(name: string, state: ModelState, featureSetVersion = FS): Promise<ModelVersion> {
    const v = await register(name, await fitState(99));
    const bytes = encodeArtifact(state, { featureSetVersion, label: LABEL });
    const { sha256 } = await putArtifact(artifacts, bytes);
    await t.store.db.updateTable('model_versions').set({ artifact_sha256: sha256, artifact_bytes: bytes.byteLength, feature_set_version: featureSetVersion }).where('name', '=', name).where('version', '=', v.version).execute();
    return { ...v, artifactSha256: sha256, artifactBytes: bytes.byteLength, featureSetVersion };
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
    await expect(register('nonfinite', edited(good, (f) => Object.assign(f, { 7: NaN })))).rejects.toThrow(`coefficient of feature ${JSON.stringify(COLUMNS[0])} for class 1 is NaN`);
    await expect(register('nonfinite', edited(good, (f) => Object.assign(f, { 2: 0 })))).rejects.toThrow(`standardiser scale of feature ${JSON.stringify(COLUMNS[0])} is 0`);
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
    // Registration refuses it (test/integration/registration-feature-order.test.ts): registered while stored, then the row deleted.
    await expect(register('unknown-fs', await fitState(6), NOT_STORED)).rejects.toThrow(`feature set ${NOT_STORED} is not in the store`);
    expect((await saveTestFeatureSet(t.store, NOT_STORED_FEATURES)).version).toBe(NOT_STORED);
    const bad = await register('unknown-fs', await fitState(6), NOT_STORED);
    await expect(verifyRegisteredVersion(t.store, artifacts, 'unknown-fs', bad.version)).resolves.toBeDefined();
    await t.store.db.deleteFrom('feature_sets').where('version', '=', NOT_STORED).execute();
    await expect(verifyRegisteredVersion(t.store, artifacts, 'unknown-fs', bad.version)).rejects.toThrow(`feature set ${NOT_STORED} is not in the store`);
    // The good version refusedEverywhere registers is of FS, which the store holds.
    await refusedEverywhere('unknown-fs', bad, `feature set ${NOT_STORED} is not in the store, so its column order cannot be checked and no online features are computed for it; materialise the feature set (a pipeline run does) before serving the model`);
  });

  describe('refuses a model whose stored feature set this code would not store', () => {
    /**
     * A model of a feature set of its own (FEATURES under `name`), stored as materialising stores it
     * and verified before its row is touched; then the row's `edit` (columns of the table).
     */
    async function storedThenEdited(name: string, edit: { definition?: string; columns?: string; version?: string }, names?: readonly string[]): Promise<{ bad: ModelVersion; version: string }> {
      const { version, columns } = await saveTestFeatureSet(t.store, { ...FEATURES, name: `verify-${name}` });
      expect(columns).toEqual(COLUMNS);
      // A model trained on other names (`names`) is as an earlier build registered it (registration
      // refuses names that differ from the stored feature set's, and an edited feature set row).
      if (names) {
        await t.store.db.updateTable('feature_sets').set(edit).where('version', '=', version).execute();
        return { bad: await registeredEarlier(name, await fitState(8, 2, names), version), version };
      }
      const bad = await register(name, await fitState(8, 2, columns), version);
      await expect(verifyRegisteredVersion(t.store, artifacts, name, bad.version)).resolves.toBeDefined(); // the honest row passes
      await t.store.db.updateTable('feature_sets').set(edit).where('version', '=', version).execute();
      return { bad, version };
    }
    /** The definition's JSON as saveFeatureSet stores it (defaults filled, no version). */
    const definitionOf = (input: FeatureSetInput): string => {
      const { name, description, features, universe, instruments } = defineFeatureSet(input);
      return JSON.stringify({ name, description, features, universe, instruments });
    };

    it('its definition edited (this code versions it otherwise), as the stream consumer refuses it', async () => {
      const edited: FeatureSetInput = { ...FEATURES, name: 'verify-edited-definition', features: [{ kind: 'return', horizon: 1 }, { kind: 'rsi', window: 14, normalize: 'rank' }] };
      const { bad, version } = await storedThenEdited('edited-definition', { definition: definitionOf(edited) });
      const reason = `feature set ${version} was computed by another version of the feature code, or its stored definition was edited (this code calls that definition ${defineTestFeatureSet(edited).version}); retrain or re-materialise`;
      await refusedEverywhere('edited-definition', bad, reason);
      await expect(resolveStreamFeatureSets(t.store, [version])).rejects.toThrow(reason);
    });

    it('stored under a version this code does not give its definition (an earlier feature code)', async () => {
      // The row as an earlier feature code stored it: the same definition under the version that code computed.
      const { version } = await saveTestFeatureSet(t.store, { ...FEATURES, name: 'verify-earlier-code' });
      const earlier = `${version.slice(0, -12)}${'0'.repeat(12)}`;
      await t.store.db.updateTable('feature_sets').set({ version: earlier }).where('version', '=', version).execute();
      const bad = await registeredEarlier('earlier-code', await fitState(8), earlier);
      const reason = `feature set ${earlier} was computed by another version of the feature code, or its stored definition was edited (this code calls that definition ${version}); retrain or re-materialise`;
      await refusedEverywhere('earlier-code', bad, reason);
      await expect(resolveStreamFeatureSets(t.store, [earlier])).rejects.toThrow(reason);
    });

    it('its columns edited, even to the model\'s own feature order', async () => {
      // The model was trained on the edited names: the feature-order check alone would pass it.
      const renamed = ['oracle', 'noise'];
      const { bad, version } = await storedThenEdited('edited-columns', { columns: JSON.stringify(renamed) }, renamed);
      await refusedEverywhere('edited-columns', bad, `feature set ${version}: the stored columns are not the ones its definition yields under this code (2 vs 2 columns, first difference at column 0 ("oracle" vs ${JSON.stringify(COLUMNS[0])})); the row was edited: retrain or re-materialise`);
    });

    it('its columns reordered', async () => {
      const { bad, version } = await storedThenEdited('reordered-columns', { columns: JSON.stringify([...COLUMNS].reverse()) });
      await refusedEverywhere('reordered-columns', bad, `feature set ${version}: the stored columns are not the ones its definition yields under this code (2 vs 2 columns, first difference at column 0 (${JSON.stringify(COLUMNS[1])} vs ${JSON.stringify(COLUMNS[0])})); the row was edited: retrain or re-materialise`);
    });

    it('its definition not JSON', async () => {
      const { bad, version } = await storedThenEdited('definition-not-json', { definition: '{"name": "verify-definition-not-json", "features": [' });
      const verified = (await verifyRegisteredVersion(t.store, artifacts, 'definition-not-json', bad.version).catch((error: unknown) => error)) as ArtifactVerificationError;
      expect(verified).toBeInstanceOf(ArtifactVerificationError);
      expect(verified.message).toMatch(new RegExp(`^definition-not-json v${bad.version} artifact failed verification: feature set ${version}: the stored definition is not valid JSON \\(.+\\); the row is damaged: retrain or re-materialise$`));
      await refusedEverywhere('definition-not-json', bad, verified.reason);
    });

    it('its definition not a feature set, with the validation error', async () => {
      const { bad, version } = await storedThenEdited('definition-invalid', { definition: JSON.stringify({ name: 'verify-definition-invalid', features: [{ kind: 'rsi', window: 0 }] }) });
      await refusedEverywhere('definition-invalid', bad, `feature set ${version}: the stored definition is not a valid feature set for this code (features.0.window: Too small: expected number to be >=1); retrain or re-materialise`);
    });
  });
});
