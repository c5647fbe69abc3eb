/**
 * With a signing key (MODEL_SIGNING_KEY), registration signs each registry row and verification
 * refuses, before it reads anything the row names, a row whose signature is missing or does not
 * match: every edit below is consistent (another valid model with its sha256 and size, a parameter,
 * the feature set, the algorithm), so verification without the key serves it, and only the
 * signature catches it. A run report recorded later leaves the signature valid; `signModelVersion`
 * (`mlp models sign`) signs a row that passes every other check. Without a key nothing changes.
 * On SQLite and MariaDB; the CLI (the built dist/cli.js) on SQLite.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { deploymentActivities } from '../../activities/deployment';
import { monitoringActivities } from '../../activities/monitoring';
import { experimentActivities, type RegisterResult } from '../../activities/experiments';
import { localArtifactStore, type ArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { ServingModels } from '../../lib/serving/serving-models';
import { readServingRoutes, writeServingRoutes } from '../../lib/serving/serving-routes';
import { signServingRecords } from '../../lib/serving/sign-serving-records';
import { experimentSchema } from '../../lib/experiments/experiment';
import { putArtifact } from '../../lib/registry/artifact-store';
import { getModelVersion, moveAlias, recordVersionReport, registerModel, RegistryError, signModelVersion, UnreadableVersionRowError, verifyRegisteredVersion, type ModelVersion } from '../../lib/registry/model-registry';
import { profileRecordProblem, reportRecordProblem, rowSignatureProblem, signingKeyId, type RowSigning } from '../../lib/registry/row-signature';
import { assertSigningKeyWhereSigned } from '../../lib/registry/signing-key-required';
import { readReferenceProfileRecord, saveReferenceProfile } from '../../lib/monitoring/profile-store';
import { buildReferenceProfile } from '../../lib/monitoring/reference-profile';
import { ArtifactVerificationError, verifyModelArtifact } from '../../lib/registry/verify-artifact';
import type { ModelVersionsTable } from '../../lib/store/schema';
import { TaskPool } from '../../lib/threads/task-pool';
import { writeDataset } from '../../lib/training/dataset';
import { algorithmByName, loadModelRuntimes } from '../../models/algorithms';
import { encodeArtifact } from '../../models/artifact';
import type { TrainedModel } from '../../models/model';
import { buildCliIfStale } from '../../scripts/build';
import { createSqliteTestDatabase, DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { defineTestFeatureSet, returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';
import { syntheticTrainingDataset } from '../helpers/training-dataset';
import { runBuiltCli } from '../helpers/cli';

const KEY = 'k'.repeat(8) + crypto.randomBytes(16).toString('hex');
const OTHER_KEY = 'o'.repeat(8) + crypto.randomBytes(16).toString('hex');
const SIGNED: RowSigning = { signingKey: KEY };
const UNSIGNED: RowSigning = { signingKey: undefined };

/** The models' feature set, and another of the same columns (both stored): a row can be moved to it consistently. */
const FEATURES = returnsFeatureSet('signed', 3);
const OTHER_FEATURES = returnsFeatureSet('signed-other', 3);
const { version: FS, columns: COLUMNS } = defineTestFeatureSet(FEATURES);
const OTHER_FS = defineTestFeatureSet(OTHER_FEATURES).version;
const LABEL = { kind: 'direction', horizon: 5 };
const separated = separable(160, 3, 5);
const X = withColumns(separated.x, COLUMNS);

async function fit(algorithm: string, seed: number, labels = separated.y): Promise<TrainedModel> {
  return algorithmByName(algorithm).fit({ features: X, labels, classes: 2, seed }, {});
}

const artifactOf = (model: TrainedModel, featureSetVersion = FS) => encodeArtifact(model.state(), { featureSetVersion, label: LABEL });

/** The refusal of a row edited since the key its signature names (one this process holds) signed it. */
function mismatch(v: ModelVersion, storedKeyId: string): string {
  return `${v.name} v${v.version} artifact failed verification: the registry row's signature does not match it: the registry row was edited after registration (its signature names key id ${storedKeyId}, which this deployment holds, and is not that key's)`;
}

/** The refusal of a row signed with a key that is neither this process's key nor one of its previous keys. */
function anotherKey(v: ModelVersion, storedKeyId: string, ourKeyId: string): string {
  return `${v.name} v${v.version} artifact failed verification: the registry row is signed with another key (key id ${storedKeyId}), neither this deployment's MODEL_SIGNING_KEY (key id ${ourKeyId}) nor one of its MODEL_SIGNING_PREVIOUS_KEYS: a key rotation gives every process the new key, with the old one in MODEL_SIGNING_PREVIOUS_KEYS, before anything is re-signed (docs/operations.md); otherwise it was edited (a stored key id is no proof: whoever edits it can write one)`;
}

function missing(v: ModelVersion): string {
  return `${v.name} v${v.version} artifact failed verification: the registry row has no signature: it was registered without the signing key or the signature was removed; sign it with \`mlp models sign ${v.name} ${v.version} --accept-edit\` after checking it`;
}

/** The artifact store, counting reads: an edited row must be refused before any. */
function counted(store: ArtifactStore): { artifacts: ArtifactStore; reads: string[] } {
  const reads: string[] = [];
  const artifacts = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'get') return (key: string, intact?: (bytes: Buffer) => boolean) => (reads.push(key), target.get(key, intact));
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
  return { artifacts, reads };
}

describe.each(DRIVERS)('registry rows signed with MODEL_SIGNING_KEY (%s)', (_driver, create) => {
  let t: TestDatabase;
  let store: ArtifactStore;
  let artifacts: ArtifactStore;
  let reads: string[];

  beforeAll(async () => {
    t = await create();
    store = localArtifactStore(tempDir('mlp-signature-'));
    ({ artifacts, reads } = counted(store));
    await loadModelRuntimes();
    await saveTestFeatureSet(t.store, FEATURES);
    await saveTestFeatureSet(t.store, OTHER_FEATURES);
  });
  afterAll(async () => {
    await t?.drop();
  });

  const register = async (name: string, signing: RowSigning, model?: TrainedModel, row: { params?: Record<string, unknown>; metrics?: Record<string, unknown>; lineage?: Record<string, unknown> } = {}): Promise<ModelVersion> => {
    const m = model ?? (await fit('logistic_regression', 1));
    return registerModel(t.store, artifacts, {
      ...UNTRACKED_REGISTRATION,
      name,
      artifact: artifactOf(m),
      algorithm: m.algorithm,
      params: row.params ?? {},
      seed: 1,
      featureSetVersion: FS,
      label: LABEL,
      snapshotId: 'snap-1',
      snapshotHash: 'a'.repeat(64),
      workflowId: 'wf-1',
      runId: 'run-1',
      metrics: row.metrics ?? { cv: { auc: 0.61 }, outOfSample: { classification: { accuracy: 0.55, rocAuc: 0.6 } } },
      lineage: row.lineage ?? { datasetId: 'ds-1', trials: [{ params: { C: 0.5 }, score: 0.6 }], experiment: { name, seed: 1 } },
      registrationKey: `${name}/${crypto.randomUUID()}`,
    }, signing);
  };

  const verify = (v: ModelVersion, signingKey: string | undefined) => verifyRegisteredVersion(t.store, artifacts, v.name, v.version, { signingKey });

  async function refusedWith(v: ModelVersion, signingKey: string, message: string): Promise<void> {
    const before = reads.length;
    const error = await verify(v, signingKey).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArtifactVerificationError);
    expect((error as Error).message).toBe(message);
    expect(reads.slice(before)).toEqual([]); // refused before the artifact it names is read
  }

  const edit = (v: ModelVersion, set: Partial<ModelVersionsTable>) => t.store.db.updateTable('model_versions').set(set).where('name', '=', v.name).where('version', '=', v.version).execute();

  /** Points the row at `model`'s artifact (put in the store as registration puts it), sha256 and size consistent, plus `set`. */
  async function pointAt(v: ModelVersion, bytes: Buffer, set: Partial<ModelVersionsTable> = {}): Promise<void> {
    const { sha256 } = await putArtifact(store, bytes);
    await edit(v, { artifact_sha256: sha256, artifact_bytes: bytes.byteLength, ...set });
  }

  it('signs an honest registration, which verifies under the key', async () => {
    const v = await register('honest', SIGNED);
    expect(v.signature).toEqual({ keyId: signingKeyId(KEY), mac: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const row = await t.store.db.selectFrom('model_versions').select(['signature', 'signature_key_id']).where('name', '=', 'honest').executeTakeFirstOrThrow();
    expect(row).toEqual({ signature: v.signature!.mac, signature_key_id: signingKeyId(KEY) });
    expect((await getModelVersion(t.store, 'honest', v.version)).signature).toEqual(v.signature);
    const { model, header } = await verify(v, KEY);
    expect(header.featureNames).toEqual(COLUMNS);
    expect(model.predictProba({ values: Float64Array.of(1, 1, 1), rows: 1, featureNames: COLUMNS })).toHaveLength(2);
  });

  /** Every check verification makes but the signature's: what an edited row would pass without it. */
  const everyOtherCheck = async (v: ModelVersion) => verifyModelArtifact(t.store, artifacts, await getModelVersion(t.store, v.name, v.version), { signingKey: KEY, skipSignatureCheck: true });

  it('refuses a row consistently edited to serve another model, which every other check passes', async () => {
    // Another valid model, with its sha256 and size: every other check passes.
    const swapped = await register('swap-artifact', SIGNED);
    await pointAt(swapped, artifactOf(await fit('logistic_regression', 2, separated.y.map((y) => 1 - y))));
    await expect(everyOtherCheck(swapped)).resolves.toBeDefined();
    await refusedWith(swapped, KEY, mismatch(swapped, signingKeyId(KEY)));

    // A parameter the header agrees with (logistic regression's default C).
    const params = await register('edit-params', SIGNED);
    await edit(params, { params: JSON.stringify({ C: 1 }) });
    await expect(everyOtherCheck(params)).resolves.toBeDefined();
    await refusedWith(params, KEY, mismatch(params, signingKeyId(KEY)));

    // Another stored feature set of the same columns, with an artifact that says so.
    const featureSet = await register('edit-feature-set', SIGNED);
    await pointAt(featureSet, artifactOf(await fit('logistic_regression', 1), OTHER_FS), { feature_set_version: OTHER_FS });
    await expect(everyOtherCheck(featureSet)).resolves.toBeDefined();
    await refusedWith(featureSet, KEY, mismatch(featureSet, signingKeyId(KEY)));

    // Another algorithm, with an artifact of it.
    const algorithm = await register('edit-algorithm', SIGNED);
    await pointAt(algorithm, artifactOf(await fit('majority', 1)), { algorithm: 'majority' });
    await expect(everyOtherCheck(algorithm)).resolves.toBeDefined();
    await refusedWith(algorithm, KEY, mismatch(algorithm, signingKeyId(KEY)));

    // Lineage (a warm start's mark would exempt parameters from the comparison) and metrics are covered too.
    const lineage = await register('edit-lineage', SIGNED);
    await edit(lineage, { lineage: JSON.stringify({ ...lineage.lineage, warmStartedFrom: { version: 1 } }) });
    await refusedWith(lineage, KEY, mismatch(lineage, signingKeyId(KEY)));
    const metrics = await register('edit-metrics', SIGNED);
    await edit(metrics, { metrics: JSON.stringify({ cv: { auc: 0.99 } }) });
    await refusedWith(metrics, KEY, mismatch(metrics, signingKeyId(KEY)));

    // Pointed at a file that does not exist: the signature is what refuses it, and nothing is read.
    const absent = await register('edit-missing-file', SIGNED);
    await edit(absent, { artifact_sha256: 'f'.repeat(64) });
    await refusedWith(absent, KEY, mismatch(absent, signingKeyId(KEY)));
  });

  it('refuses a row whose signature was removed or made by another key (naming both key ids), or edited under a key it holds', async () => {
    const removed = await register('removed', SIGNED);
    await edit(removed, { signature: null, signature_key_id: null });
    await refusedWith(removed, KEY, missing(removed));
    await expect(verify(removed, undefined)).resolves.toBeDefined();

    const signed = await register('other-key', SIGNED);
    await refusedWith(signed, OTHER_KEY, anotherKey(signed, signingKeyId(KEY), signingKeyId(OTHER_KEY)));
    const byOther = await register('signed-by-other', { signingKey: OTHER_KEY });
    await refusedWith(byOther, KEY, anotherKey(byOther, signingKeyId(OTHER_KEY), signingKeyId(KEY)));
    // A forged signature with this deployment's key id is refused as well.
    await edit(byOther, { signature_key_id: signingKeyId(KEY) });
    await refusedWith(byOther, KEY, mismatch(byOther, signingKeyId(KEY)));
    await edit(byOther, { signature: 'not hex' });
    await refusedWith(byOther, KEY, mismatch(byOther, signingKeyId(KEY)));
  });

  it('the prediction API (ServingModels) verifies and loads with the key: an edited row is refused before it routes', async () => {
    const honest = await register('api-honest', SIGNED);
    const edited = await register('api-edited', SIGNED);
    await edit(edited, { params: JSON.stringify({ C: 1 }) });
    const serving = new ServingModels({ store: t.store, cache: new MemoryCache(), artifacts, signing: SIGNED });
    const unsigned = new ServingModels({ store: t.store, cache: new MemoryCache(), artifacts });
    try {
      await expect(serving.verifyVersions('api-honest', [honest.version])).resolves.toBeUndefined();
      await expect(serving.verifyVersions('api-edited', [edited.version])).rejects.toThrow(mismatch(edited, signingKeyId(KEY)));
      // A process started without the key refuses every signed row, honest or not: it cannot check them.
      for (const v of [edited, honest]) await expect(unsigned.verifyVersions(v.name, [v.version])).rejects.toThrow(`the registry row is signed (key id ${signingKeyId(KEY)}) and this process has no MODEL_SIGNING_KEY to check it`);
    } finally {
      await Promise.all([serving.close(), unsigned.close()]);
    }
  });

  it('a key rotation as documented takes nothing offline: every process given the new key with the old one as previous, re-signed, the old key dropped', async () => {
    const NEW_KEY = 'n'.repeat(8) + crypto.randomBytes(16).toString('hex');
    const UNKNOWN_KEY = 'u'.repeat(8) + crypto.randomBytes(16).toString('hex');
    const ROTATING: RowSigning = { signingKey: NEW_KEY, previousKeys: [KEY] };
    const name = 'rotation';
    const champion = await register(name, SIGNED);
    const challenger = await register(name, SIGNED, await fit('logistic_regression', 3));
    const cache = new MemoryCache();
    await moveAlias(t.store, { name, alias: 'champion', version: champion.version, movedBy: 'test', reason: 'test' }, SIGNED);
    await writeServingRoutes(t.store, cache, { model: name, mode: 'canary', routes: [{ variant: 'champion', version: champion.version, weight: 0.75 }, { variant: 'canary', version: challenger.version, weight: 0.25 }], updatedBy: 'test', reason: 'test', signing: SIGNED });
    const logged: Array<Record<string, unknown>> = [];
    const served = (s: ServingModels) => [...(s.snapshot(name)?.models.keys() ?? [])];
    const withdrawn = (s: ServingModels) => (s.stats().withdrawn[name] ?? []).map((w) => w.message);
    // Step 1: the API restarted with the new key and the old one as previous.
    const api = new ServingModels({ store: t.store, cache, artifacts, signing: ROTATING, pollMs: 50, log: (event, detail) => logged.push({ event, ...detail }) });
    let after: ServingModels | undefined;
    try {
      await api.start();
      // Before: verification never read MODEL_SIGNING_PREVIOUS_KEYS, so both were refused ("… signed with another key") and the model went down.
      expect([served(api), withdrawn(api)]).toEqual([[champion.version, challenger.version], []]);
      expect(api.stats().previousKeySigned).toEqual({ [name]: [{ version: champion.version, keyId: signingKeyId(KEY) }, { version: challenger.version, keyId: signingKeyId(KEY) }] });
      expect(logged.filter((l) => l.event === 'serving.signed_with_previous_key').map((l) => [l.version, l.keyId])).toEqual([[champion.version, signingKeyId(KEY)], [challenger.version, signingKeyId(KEY)]]);
      // A running deployment (the workers given the same keys) still sees both versions as verified, and the rollback check passes.
      const activities = deploymentActivities({ store: t.store, cache, artifacts, signing: ROTATING });
      await expect(activities.verifyDeploymentVersions({ model: name, challengerVersion: challenger.version, championVersion: champion.version })).resolves.toEqual([]);

      // Step 2: `mlp models sign` re-signs the served versions with the new key; the running API re-checks the changed rows and keeps serving.
      for (const v of [champion, challenger]) expect((await signModelVersion(t.store, artifacts, name, v.version, ROTATING)).before).toEqual({ state: 'previous_key', keyId: signingKeyId(KEY) });
      for (let i = 0; i < 200 && Object.keys(api.stats().previousKeySigned).length > 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect([served(api), withdrawn(api), api.stats().previousKeySigned]).toEqual([[champion.version, challenger.version], [], {}]);
      // And the serving records (routes, aliases) with `mlp models sign-serving`: signed again in place, the same generation, writer and split.
      const before = await readServingRoutes(t.store, name);
      const resigned = await signServingRecords(t.store, cache, name, ROTATING, { by: 'test', reason: 'rotation' });
      expect([resigned.rewritten, resigned.accepted, resigned.routes.routes.map((r) => r.version)]).toEqual([false, [], [champion.version, challenger.version]]);
      expect(resigned.resigned).toBeGreaterThan(0);
      expect([resigned.routes.generation, resigned.routes.updatedBy, resigned.routes.updatedAt]).toEqual([before?.generation, before?.updatedBy, before?.updatedAt]);
      expect(api.snapshot(name)?.routes.generation).toBe(resigned.routes.generation);

      // Step 3: the old key dropped; a process started now with the new key alone serves both.
      after = new ServingModels({ store: t.store, cache, artifacts, signing: { signingKey: NEW_KEY } });
      await after.start();
      expect([served(after), withdrawn(after)]).toEqual([[champion.version, challenger.version], []]);

      // A row signed with a key that is neither current nor previous is still refused, naming its key id.
      const stranger = await register(name, { signingKey: UNKNOWN_KEY }, await fit('logistic_regression', 4));
      await expect(api.verifyVersions(name, [stranger.version])).rejects.toThrow(anotherKey(stranger, signingKeyId(UNKNOWN_KEY), signingKeyId(NEW_KEY)));
      // And a row the previous key signed, edited since, as an edit.
      const edited = await register(name, SIGNED, await fit('logistic_regression', 5));
      await edit(edited, { params: JSON.stringify({ C: 1 }) });
      await expect(api.verifyVersions(name, [edited.version])).rejects.toThrow(mismatch(edited, signingKeyId(KEY)));
    } finally {
      await Promise.all([api.close(), after?.close()]);
    }
  });

  it('refuses as an edited row, never throws on, a row edited so it cannot be read (not JSON) or encoded (1e999): verification, the prediction API and the deployment activities', async () => {
    const name = 'unreadable-rows';
    const champion = await register(name, SIGNED);
    const unencodable = await register(name, SIGNED, await fit('logistic_regression', 3));
    const unparsable = await register(name, SIGNED, await fit('logistic_regression', 4));
    const cache = new MemoryCache();
    await moveAlias(t.store, { name, alias: 'champion', version: champion.version, movedBy: 'test', reason: 'test' }, SIGNED);
    await writeServingRoutes(t.store, cache, { model: name, mode: 'canary', routes: [{ variant: 'champion', version: champion.version, weight: 0.75 }, { variant: 'canary', version: unencodable.version, weight: 0.25 }], shadow: { version: unparsable.version }, updatedBy: 'test', reason: 'test', signing: SIGNED });
    const running = new ServingModels({ store: t.store, cache, artifacts, signing: SIGNED, pollMs: 50 });
    let restarted: ServingModels | undefined;
    try {
      await running.start();
      expect([...running.snapshot(name)!.models.keys()]).toEqual([champion.version, unencodable.version, unparsable.version]);
      await edit(unencodable, { metrics: '{"cv":{"auc":0.91},"x":1e999}' });
      await edit(unparsable, { lineage: '{"edited":tru' });

      const notBound = `${name} v${unencodable.version} artifact failed verification: the registry row's signature does not match it: the row holds a value registration never writes (canonicalEncoding: Infinity is not a JSON number), so it was edited after registration`;
      const unreadable = `${name} v${unparsable.version}'s registry row cannot be read: its lineage is not JSON`;
      await refusedWith(unencodable, KEY, notBound);
      const error = await verify(unparsable, KEY).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnreadableVersionRowError);
      expect(error).toBeInstanceOf(RegistryError); // a refusal: not retried
      expect((error as Error).message).toContain(unreadable);

      // The running API withdraws both (the champion answers), as a process starting now serves the model.
      const withdrawn = (s: ServingModels) => (s.stats().withdrawn[name] ?? []).map((w) => [w.version, w.reason]);
      const expected = [[unencodable.version, 'signature'], [unparsable.version, 'row_mismatch']];
      for (let i = 0; i < 200 && withdrawn(running).length < 2; i++) await new Promise((r) => setTimeout(r, 25));
      expect(withdrawn(running)).toEqual(expected);
      expect([...running.snapshot(name)!.models.keys()]).toEqual([champion.version]);
      restarted = new ServingModels({ store: t.store, cache, artifacts, signing: SIGNED });
      await restarted.start();
      expect([...restarted.snapshot(name)!.models.keys()]).toEqual([champion.version]);
      expect(withdrawn(restarted)).toEqual(expected);

      // A deployment sees them as unverified (it rolls back), rather than an activity failing with a TypeError.
      const activities = deploymentActivities({ store: t.store, cache, artifacts, signing: SIGNED });
      await expect(activities.verifyDeploymentVersions({ model: name, challengerVersion: unencodable.version, championVersion: champion.version })).resolves.toEqual([{ role: 'challenger', version: unencodable.version, reason: notBound }]);
      await expect(activities.verifyDeploymentVersions({ model: name, challengerVersion: champion.version, championVersion: unparsable.version })).resolves.toEqual([{ role: 'champion', version: unparsable.version, reason: expect.stringContaining(unreadable) as string }]);
    } finally {
      await Promise.all([running.close(), restarted?.close()]);
    }
  });

  it('championRecipe, the yardstick a challenger must beat, gives no recipe from an edited champion row under the key', async () => {
    const v = await register('recipe', SIGNED, undefined, { params: { C: 1 } });
    await moveAlias(t.store, { name: 'recipe', alias: 'champion', version: v.version, movedBy: 'test', reason: 'test' });
    const recipeOf = (signing: RowSigning) => new MockActivityEnvironment().run(experimentActivities({ store: t.store, artifacts, trainingPool: {} as TaskPool, signing }).championRecipe, { name: 'recipe', featureSetVersion: FS, label: LABEL });
    await expect(recipeOf(SIGNED)).resolves.toMatchObject({ version: v.version, params: { C: 1 } });
    await edit(v, { params: JSON.stringify({ C: 1e-6 }) }); // a champion re-run with a crippled recipe would let any challenger win
    await expect(recipeOf(SIGNED)).resolves.toBeUndefined(); // registerAndPromote then promotes nothing over it (promotion-incomparable-champion.test.ts)
    await expect(recipeOf(UNSIGNED)).resolves.toMatchObject({ params: { C: 1e-6 } }); // without the key rows are not bound
  });

  it('an automatic retrain does not run the experiment of an edited champion row under the key', async () => {
    const v = await register('retrain-edited', SIGNED, undefined, { lineage: { experiment: { name: 'retrain-edited', algorithms: [{ algorithm: 'logistic_regression' }] } } });
    await edit(v, { lineage: JSON.stringify({ experiment: { name: 'retrain-edited', algorithms: [{ algorithm: 'logistic_regression' }], promotion: { deploy: 'auto' } } }) });
    const result = await new MockActivityEnvironment().run(monitoringActivities({ store: t.store, signing: SIGNED }).startRetraining, { model: 'retrain-edited', championVersion: v.version, alertId: 'a-1', reason: 'test' });
    expect(result).toMatchObject({ status: 'skipped', reason: expect.stringContaining(`retrain-edited v${v.version}'s experiment is not retrained from: the registry row's signature does not match it`) });
  });

  it('keeps the signature valid when a run report is recorded later', async () => {
    const v = await register('reported', SIGNED);
    await recordVersionReport(t.store, v.name, v.version, {
      report: { path: 'reports/x.html', sha256: 'b'.repeat(64), bytes: 1234, generatedAt: '2026-01-02T03:04:05.000Z' },
      promotion: { promote: true, reason: 'best of its run' },
      datasetGuards: [{ guard: 'shuffled_label', tripped: false, message: 'ok' }],
    });
    const reread = await getModelVersion(t.store, v.name, v.version);
    expect(reread.lineage).toMatchObject({ datasetId: 'ds-1', report: { bytes: 1234 }, promotion: { promote: true } });
    await expect(verify(v, KEY)).resolves.toBeDefined();
    // Written again (another report replaces the first): still valid.
    await recordVersionReport(t.store, v.name, v.version, { report: { path: 'reports/y.html', sha256: 'c'.repeat(64), bytes: 99, generatedAt: '2026-01-03T00:00:00.000Z' } });
    await expect(verify(v, KEY)).resolves.toBeDefined();
    // Recorded with the key: the record has its own signature (stored as read back, on both drivers), and the row's still holds.
    expect(reportRecordProblem(KEY, await getModelVersion(t.store, v.name, v.version))).toContain('carry no signature');
    await recordVersionReport(t.store, v.name, v.version, { report: { path: 'reports/z.html', sha256: 'd'.repeat(64), bytes: 5, generatedAt: '2026-01-04T00:00:00.000Z' }, promotion: { promote: false, reason: 'guard tripped' }, datasetGuards: [{ guard: 'point_in_time_audit', tripped: true, message: 'LEAK' }] }, SIGNED);
    const signed = await getModelVersion(t.store, v.name, v.version);
    expect(reportRecordProblem(KEY, signed)).toBeUndefined();
    await expect(verify(v, KEY)).resolves.toBeDefined();
    // The verdict rewritten by hand: the row still verifies (the model is as registered), the record does not.
    await edit(v, { lineage: JSON.stringify({ ...signed.lineage, datasetGuards: [{ guard: 'point_in_time_audit', tripped: false, message: 'ok' }] }) });
    await expect(verify(v, KEY)).resolves.toBeDefined();
    expect(reportRecordProblem(KEY, await getModelVersion(t.store, v.name, v.version))).toContain('does not match them');
  });

  it('signs a row registered without the key after every other check, and refuses to sign one that fails them', async () => {
    const old = await register('old', UNSIGNED);
    expect(old.signature).toBeUndefined();
    await refusedWith(old, KEY, missing(old));
    // No key confirms an unsigned row (a signature removed with an edit looks the same): signed only when vouched for.
    await expect(signModelVersion(t.store, artifacts, old.name, old.version, SIGNED)).rejects.toThrow(`model old v${old.version}'s row has no signature, so nothing shows it is as it was recorded`);
    const signed = await signModelVersion(t.store, artifacts, old.name, old.version, SIGNED, { acceptEdit: true });
    expect(signed).toMatchObject({ before: { state: 'unsigned' }, signature: { keyId: signingKeyId(KEY) } });
    await expect(verify(old, KEY)).resolves.toBeDefined();
    // Signing again changes nothing; a rotated key signs it anew once the old key (MODEL_SIGNING_PREVIOUS_KEYS) confirms it, and the old key alone no longer verifies it.
    expect(await signModelVersion(t.store, artifacts, old.name, old.version, SIGNED)).toMatchObject({ before: { state: 'valid' }, signature: signed.signature });
    await expect(signModelVersion(t.store, artifacts, old.name, old.version, { signingKey: OTHER_KEY })).rejects.toThrow(`is signed with another key (key id ${signingKeyId(KEY)}), which none of MODEL_SIGNING_KEY and MODEL_SIGNING_PREVIOUS_KEYS confirms`);
    expect((await signModelVersion(t.store, artifacts, old.name, old.version, { signingKey: OTHER_KEY, previousKeys: [KEY] })).before).toEqual({ state: 'previous_key', keyId: signingKeyId(KEY) });
    await expect(verify(old, OTHER_KEY)).resolves.toBeDefined();
    await refusedWith(old, KEY, anotherKey(old, signingKeyId(OTHER_KEY), signingKeyId(KEY)));

    // A row that fails a check is not signed: its file is not the size the row says.
    const broken = await register('broken', UNSIGNED);
    await edit(broken, { artifact_bytes: broken.artifactBytes + 1 });
    const error = await signModelVersion(t.store, artifacts, broken.name, broken.version, SIGNED, { acceptEdit: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArtifactVerificationError);
    expect((error as Error).message).toBe(`broken v${broken.version} artifact failed verification: the file is ${broken.artifactBytes} bytes, the registry recorded ${broken.artifactBytes + 1}`);
    expect((await getModelVersion(t.store, broken.name, broken.version)).signature).toBeUndefined();

    // A row this key signed and someone changed since is the edit the signature catches: refused unless the change is accepted.
    const edited = await register('edited-then-signed', SIGNED);
    await edit(edited, { metrics: JSON.stringify({ cv: { auc: 0.99 } }) });
    await expect(signModelVersion(t.store, artifacts, edited.name, edited.version, SIGNED)).rejects.toThrow(`model edited-then-signed v${edited.version}'s row was changed after this key signed it`);
    await refusedWith(edited, KEY, mismatch(edited, signingKeyId(KEY)));
    // Before: another key id written beside the edit, or the signature removed, made the edited row look rotated or never signed, and it was signed without --accept-edit.
    await edit(edited, { signature_key_id: 'deadbeef' });
    await expect(signModelVersion(t.store, artifacts, edited.name, edited.version, SIGNED)).rejects.toThrow('is signed with another key (key id deadbeef)');
    await expect(signModelVersion(t.store, artifacts, edited.name, edited.version, { ...SIGNED, previousKeys: [OTHER_KEY] })).rejects.toThrow('which none of MODEL_SIGNING_KEY and MODEL_SIGNING_PREVIOUS_KEYS confirms');
    // Nor on the word of a previous key it names, when the row changed since.
    await edit(edited, { signature_key_id: signingKeyId(OTHER_KEY) });
    await expect(signModelVersion(t.store, artifacts, edited.name, edited.version, { ...SIGNED, previousKeys: [OTHER_KEY] })).rejects.toThrow(`was changed after a previous key (key id ${signingKeyId(OTHER_KEY)}, in MODEL_SIGNING_PREVIOUS_KEYS) signed it`);
    await edit(edited, { signature: null, signature_key_id: null });
    await expect(signModelVersion(t.store, artifacts, edited.name, edited.version, SIGNED)).rejects.toThrow('has no signature');
    expect((await getModelVersion(t.store, edited.name, edited.version)).signature).toBeUndefined();
    expect((await signModelVersion(t.store, artifacts, edited.name, edited.version, SIGNED, { acceptEdit: true })).before.state).toBe('unsigned');
    await expect(verify(edited, KEY)).resolves.toBeDefined();

    // A row edited while it is being checked (here: while its artifact is read) is not signed.
    const racing = await register('edited-while-checked', UNSIGNED);
    const editing = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'get') return async (k: string, intact?: (bytes: Buffer) => boolean) => (await edit(racing, { params: JSON.stringify({ C: 2 }) }), target.get(k, intact));
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    await expect(signModelVersion(t.store, editing, racing.name, racing.version, SIGNED, { acceptEdit: true })).rejects.toThrow(`model edited-while-checked v${racing.version} changed while it was being checked; nothing was signed`);
    expect((await getModelVersion(t.store, racing.name, racing.version)).signature).toBeUndefined();

    // Without a key there is nothing to sign with.
    await expect(signModelVersion(t.store, artifacts, old.name, old.version, UNSIGNED)).rejects.toThrow(RegistryError);
    await expect(signModelVersion(t.store, artifacts, old.name, old.version, UNSIGNED)).rejects.toThrow('no signing key: set MODEL_SIGNING_KEY');
  });

  it('without a key rows are neither signed nor checked, and signed rows are refused', async () => {
    const v = await register('no-key', UNSIGNED);
    expect(v.signature).toBeUndefined();
    expect(await t.store.db.selectFrom('model_versions').select(['signature', 'signature_key_id']).where('name', '=', 'no-key').executeTakeFirstOrThrow()).toEqual({ signature: null, signature_key_id: null });
    await expect(verify(v, undefined)).resolves.toBeDefined();
    await expect(verifyRegisteredVersion(t.store, artifacts, v.name, v.version)).resolves.toBeDefined();
    // A signed row (edited since or not) is refused: the process lacks the key the deployment signs with.
    const signed = await register('no-key-signed', SIGNED);
    await expect(verifyRegisteredVersion(t.store, artifacts, signed.name, signed.version)).rejects.toThrow(/is signed \(key id [0-9a-f]{8}\) and this process has no MODEL_SIGNING_KEY/);
    await edit(signed, { params: JSON.stringify({ C: 1 }) });
    await expect(verifyRegisteredVersion(t.store, artifacts, signed.name, signed.version)).rejects.toThrow(/is signed \(key id [0-9a-f]{8}\) and this process has no MODEL_SIGNING_KEY/);
    // Nor does a serving or training process start without the key where rows are signed: a row whose signature was removed with the edit would pass as unsigned.
    await expect(assertSigningKeyWhereSigned(t.store, undefined, 'the prediction API')).rejects.toThrow(/the prediction API does not start without MODEL_SIGNING_KEY: the registry's rows are signed/);
    await expect(assertSigningKeyWhereSigned(t.store, KEY, 'the prediction API')).resolves.toBeUndefined();
  });

  it('the deployment activities refuse an unsigned version under the key, before anything moves', async () => {
    const cache = new MemoryCache();
    const v = await register('deploy-unsigned', UNSIGNED);
    const activities = deploymentActivities({ store: t.store, cache, artifacts, signing: SIGNED });
    const refused = await activities.beginDeployment({ deploymentId: `d-${crypto.randomUUID()}`, request: { model: v.name, challengerVersion: v.version } }).catch((error: unknown) => error as { type?: string; message: string });
    expect(refused).toMatchObject({ type: 'ARTIFACT_INVALID', message: expect.stringContaining(missing(v)) });
    expect(await t.store.db.selectFrom('deployments').select('id').where('model', '=', v.name).execute()).toEqual([]);

    const ok = await register('deploy-signed', SIGNED);
    // Set without the key, the champion alias is refused as what a deployment starts against (nothing recorded); moved with the key it is taken.
    await moveAlias(t.store, { name: ok.name, alias: 'champion', version: ok.version, movedBy: 'test', reason: 'test' });
    const challenger = await register('deploy-signed', SIGNED, await fit('logistic_regression', 3));
    await expect(activities.beginDeployment({ deploymentId: `d-${crypto.randomUUID()}`, request: { model: ok.name, challengerVersion: challenger.version } })).rejects.toMatchObject({ type: 'REGISTRY_REJECTED', message: expect.stringMatching(/cannot deploy deploy-signed v2: .*the champion alias of deploy-signed \(v1, move 1\) carries no signature.*sign-serving deploy-signed --accept-edit/) });
    expect(await t.store.db.selectFrom('deployments').select('id').where('model', '=', ok.name).execute()).toEqual([]);
    await moveAlias(t.store, { name: ok.name, alias: 'champion', version: ok.version, movedBy: 'test', reason: 'signed' }, SIGNED);
    await expect(activities.beginDeployment({ deploymentId: `d-${crypto.randomUUID()}`, request: { model: ok.name, challengerVersion: challenger.version } })).resolves.toMatchObject({ championVersion: ok.version });
  });
});

describe('registration by the pipeline activity signs the row (SQLite)', () => {
  let t: TestDatabase;
  let pool: TaskPool;
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    pool = new TaskPool(1);
  });
  afterAll(async () => {
    await pool?.close();
    await t?.drop();
  });

  it('registerAndPromote stores a row signed with the key it is given', async () => {
    const artifacts = localArtifactStore(tempDir('mlp-signature-activity-'));
    const featureSet = await saveTestFeatureSet(t.store, returnsFeatureSet('signature-activity', 3));
    const ds = syntheticTrainingDataset({ symbols: 6, days: 200, seed: 3, featureSet });
    const { id: datasetId } = await writeDataset(artifacts, ds);
    const model = await algorithmByName('logistic_regression').fit({ features: { values: ds.values, rows: ds.rows, featureNames: ds.columns }, labels: ds.labels, classes: 2, seed: 1 }, {});
    const { sha256 } = await putArtifact(artifacts, encodeArtifact(model.state(), { featureSetVersion: ds.featureSetVersion, label: ds.label }));
    const { registerAndPromote } = experimentActivities({ store: t.store, artifacts, trainingPool: pool, signing: SIGNED });
    const experiment = experimentSchema.parse({ name: 'signed-by-pipeline', label: ds.label, algorithms: [{ algorithm: 'logistic_regression' }] });
    const result: RegisterResult = await new MockActivityEnvironment().run(registerAndPromote, {
      experiment, algorithm: 'logistic_regression', params: {}, artifactSha256: sha256, datasetId, featureSetVersion: ds.featureSetVersion, metrics: {}, lineage: {},
      scores: { auc: 0.6, accuracyLift: 0.02, sharpe: 1, shuffledLabelPassed: true }, workflowId: 'wf-signed', runId: 'run-1',
    });
    const row = await getModelVersion(t.store, 'signed-by-pipeline', result.version.version);
    expect(row.signature?.keyId).toBe(signingKeyId(KEY));
    expect(rowSignatureProblem(KEY, row)).toBeUndefined();
    expect(rowSignatureProblem(OTHER_KEY, row)).toContain(`signed with another key (key id ${signingKeyId(KEY)}), neither this deployment's MODEL_SIGNING_KEY (key id ${signingKeyId(OTHER_KEY)})`);
  });

});

describe('mlp models sign / show / rollback with MODEL_SIGNING_KEY (built CLI, SQLite)', () => {
  let t: TestDatabase;
  let dir: string;
  let artifacts: ArtifactStore;
  let env: NodeJS.ProcessEnv;

  const mlp = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => runBuiltCli(args, { ...env, ...extraEnv });

  beforeAll(async () => {
    await buildCliIfStale();
    t = await createSqliteTestDatabase();
    dir = tempDir('mlp-signature-cli-');
    artifacts = localArtifactStore(path.join(dir, 'artifacts'));
    await loadModelRuntimes();
    await saveTestFeatureSet(t.store, FEATURES);
    env = { ...process.env, DATABASE_URL: t.url, DATA_DIR: dir, ARTIFACT_DIR: path.join(dir, 'artifacts'), TEMPORAL_ADDRESS: '127.0.0.1:1', REDIS_URL: '', MODEL_SIGNING_KEY: KEY };
  });
  afterAll(async () => {
    await t?.drop();
  });

  const registerUnsigned = async (seed: number): Promise<ModelVersion> => {
    const m = await fit('logistic_regression', seed);
    return registerModel(t.store, artifacts, { ...UNTRACKED_REGISTRATION, name: 'cli-signed', artifact: artifactOf(m), algorithm: m.algorithm, params: {}, seed, featureSetVersion: FS, label: LABEL, registrationKey: `cli/${crypto.randomUUID()}` });
  };

  it('signs a checked row, shows its state, and refuses without the key', async () => {
    const v1 = await registerUnsigned(1);
    const v2 = await registerUnsigned(2);
    await moveAlias(t.store, { name: 'cli-signed', alias: 'champion', version: v2.version, movedBy: 'test', reason: 'test' });

    const shown = await mlp(['models', 'show', 'cli-signed', String(v1.version)]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^row signature +none: refused by verification; sign it with `mlp models sign cli-signed 1 --accept-edit` after checking it$/m);

    // Rollback verifies the target under the key: an unsigned one is refused and nothing moves.
    const rollback = await mlp(['models', 'rollback', 'cli-signed', '--to-version', String(v1.version), '--reason', 'test']);
    expect(rollback.code).toBe(1);
    expect(rollback.stderr).toContain(missing(v1));

    const withoutKey = await mlp(['models', 'sign', 'cli-signed', String(v1.version)], { MODEL_SIGNING_KEY: '' });
    expect(withoutKey.code).toBe(1);
    expect(withoutKey.stderr).toContain('MODEL_SIGNING_KEY is not set: there is no key to sign with');
    const shortKey = await mlp(['models', 'sign', 'cli-signed', String(v1.version)], { MODEL_SIGNING_KEY: 'short' });
    expect(shortKey.code).toBe(1);
    expect(shortKey.stderr).toContain('MODEL_SIGNING_KEY=(secret, not shown): expected at least 32 characters');
    expect(shortKey.stderr).not.toContain('short');

    const unconfirmed = await mlp(['models', 'sign', 'cli-signed', String(v1.version)]);
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.stderr).toContain(`model cli-signed v${v1.version}'s row has no signature, so nothing shows it is as it was recorded (recorded without the key, or the signature was removed); nothing was signed: look at it (mlp models show) and sign it with --accept-edit only if you vouch for the row as it is`);
    const signed = await mlp(['models', 'sign', 'cli-signed', String(v1.version), '--accept-edit']);
    expect(signed.stderr).toBe('');
    expect(signed.code).toBe(0);
    expect(signed.stdout.trim()).toBe(`cli-signed v${v1.version}: artifact, header, feature set and model checked; row signed with key id ${signingKeyId(KEY)} (it had no signature)`);
    await expect(verifyRegisteredVersion(t.store, artifacts, 'cli-signed', v1.version, SIGNED)).resolves.toBeDefined();
    expect((await mlp(['models', 'show', 'cli-signed', String(v1.version)])).stdout).toMatch(new RegExp(`^row signature +key id ${signingKeyId(KEY)}: valid$`, 'm'));
    expect((await mlp(['models', 'show', 'cli-signed', String(v1.version)], { MODEL_SIGNING_KEY: OTHER_KEY })).stdout).toMatch(new RegExp(`^row signature +key id ${signingKeyId(KEY)}: DOES NOT MATCH \\(this deployment's key id ${signingKeyId(OTHER_KEY)}\\): refused by verification$`, 'm'));

    // An alias works as the version, as in `models show`; the version's drift reference profile,
    // stored before profiles were signed, is signed after the row, under the same rules.
    const days = ['2017-01-03', '2017-01-04', '2017-01-05'];
    const profile = buildReferenceProfile({ model: 'cli-signed', version: v2.version, featureSetVersion: FS, features: { columns: ['x'], rows: 3, values: Float64Array.of(0.1, 0.2, 0.3), day: Int32Array.of(0, 1, 2) }, dayLabels: days, symbols: ['A'] });
    expect((await saveReferenceProfile(t.store, profile)).stored).toBe(true);
    const profileUnconfirmed = await mlp(['models', 'sign', 'cli-signed', 'champion']);
    expect(profileUnconfirmed.code).toBe(1);
    const champion = await mlp(['models', 'sign', 'cli-signed', 'champion', '--accept-edit']);
    expect(champion.code).toBe(1);
    expect(champion.stderr).toContain('sign it with --accept-profile only if you vouch for it');
    const withProfile = await mlp(['models', 'sign', 'cli-signed', 'champion', '--accept-profile']);
    expect(withProfile.code).toBe(0);
    expect(champion.stdout).toContain(`cli-signed v${v2.version}: artifact, header, feature set and model checked`);
    expect(withProfile.stdout).toContain(`cli-signed v${v2.version}: drift reference profile signed (it had no signature)`);
    const record = await readReferenceProfileRecord(t.store, 'cli-signed', v2.version);
    expect(profileRecordProblem(KEY, await getModelVersion(t.store, 'cli-signed', v2.version), record!.text, record!.signature)).toBeUndefined();
    expect((await mlp(['models', 'sign', 'cli-signed', 'champion'])).stdout).toContain('drift reference profile signature already valid');

    // A row that fails a check is not signed, and the command says why.
    const v3 = await registerUnsigned(3);
    await t.store.db.updateTable('model_versions').set({ artifact_bytes: v3.artifactBytes + 1 }).where('name', '=', 'cli-signed').where('version', '=', v3.version).execute();
    const refused = await mlp(['models', 'sign', 'cli-signed', String(v3.version), '--accept-edit']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`cli-signed v${v3.version} artifact failed verification: the file is ${v3.artifactBytes} bytes, the registry recorded ${v3.artifactBytes + 1}`);
    expect((await getModelVersion(t.store, 'cli-signed', v3.version)).signature).toBeUndefined();
  });
  it('withholds the figures of a row whose metrics were edited after it was signed (models list, show, diff)', async () => {
    const m = await fit('logistic_regression', 7);
    const honest = { outOfSample: { classification: { accuracy: 0.5012, rocAuc: 0.5034 } } };
    const signed = await registerModel(t.store, artifacts, { ...UNTRACKED_REGISTRATION, metrics: honest, name: 'cli-figures', artifact: artifactOf(m), algorithm: m.algorithm, params: {}, seed: 7, featureSetVersion: FS, label: LABEL, registrationKey: `cli/${crypto.randomUUID()}` }, SIGNED);
    const other = await registerModel(t.store, artifacts, { ...UNTRACKED_REGISTRATION, metrics: honest, name: 'cli-figures', artifact: artifactOf(await fit('logistic_regression', 8)), algorithm: m.algorithm, params: {}, seed: 8, featureSetVersion: FS, label: LABEL, registrationKey: `cli/${crypto.randomUUID()}` }, SIGNED);
    expect((await mlp(['models', 'list', 'cli-figures'])).stdout).toContain('auc 0.5034');
    await t.store.db.updateTable('model_versions').set({ metrics: JSON.stringify({ outOfSample: { classification: { accuracy: 0.6512, rocAuc: 0.7134 } } }) }).where('name', '=', 'cli-figures').where('version', '=', signed.version).execute();
    const problem = rowSignatureProblem(KEY, await getModelVersion(t.store, 'cli-figures', signed.version)) as string;
    for (const args of [['models', 'list', 'cli-figures'], ['models', 'show', 'cli-figures', String(signed.version)], ['models', 'diff', 'cli-figures', String(signed.version), String(other.version)]]) {
      const out = await mlp(args);
      expect(out.code).toBe(0);
      expect(out.stdout).not.toContain('0.7134');
      expect(out.stdout).not.toContain('0.6512');
    }
    expect((await mlp(['models', 'list', 'cli-figures'])).stdout).toContain(`cli-figures v${signed.version} logistic_regression  figures withheld: ${problem}`);
    expect((await mlp(['models', 'show', 'cli-figures', String(signed.version)])).stdout).toMatch(/^oos auc +withheld: the row's signature does not hold \(see row signature\)$/m);
    // The version whose row holds keeps its figures; without the key, rows are not bound and the figures are the row's.
    expect((await mlp(['models', 'show', 'cli-figures', String(other.version)])).stdout).toMatch(/^oos auc +0\.5034$/m);
    expect((await mlp(['models', 'list', 'cli-figures'], { MODEL_SIGNING_KEY: '' })).stdout).toContain('auc 0.7134');
  });
});
