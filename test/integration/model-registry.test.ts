import fs from 'node:fs';
import path from 'node:path';
import { encodeArtifact, ArtifactError } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { artifactKey } from '../../lib/registry/artifact-store';
import { aliasHistory, aliasVersion, listModelVersions, loadRegisteredModel, moveAlias, registerModel, RegistryError, resolveVersion, type RegisterModelInput } from '../../lib/registry/model-registry';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { defineTestFeatureSet, returnsFeatureSet, saveTestFeatureSet, withColumns } from '../helpers/registration';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';

/** The models' feature set (a real one; synthetic values under its column names). */
const FEATURES = returnsFeatureSet('registry');
const { version: FS, columns: COLUMNS } = defineTestFeatureSet(FEATURES);

async function input(seed: number, key: string): Promise<RegisterModelInput> {
  const d = separable(300, 5, seed);
  const model = await logisticRegression.fit({ features: withColumns(d.x, COLUMNS), labels: d.y, classes: 2, seed }, {});
  const label = { kind: 'direction', horizon: 5 };
  return {
    name: 'direction-5d',
    artifact: encodeArtifact(model.state(), { featureSetVersion: FS, label }),
    algorithm: 'logistic_regression',
    params: { C: 1 },
    seed,
    featureSetVersion: FS,
    label,
    snapshotId: 'ds-1',
    snapshotHash: 'abc',
    codeVersion: 'test',
    workflowId: 'wf-1',
    runId: 'run-1',
    registrationKey: key,
    metrics: { auc: 0.6 },
    lineage: { experiment: 'unit' },
  };
}

describe.each(DRIVERS)('model registry on %s', (_driver, create) => {
  let t: TestDatabase;
  let dir: string;
  beforeEach(async () => {
    t = await create();
    dir = tempDir('mlp-artifacts-');
    await saveTestFeatureSet(t.store, FEATURES); // registration needs the models' feature set in the store
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('refuses a version number given by hand that is no whole number from 1, or that an alias still names after its row was deleted', async () => {
    const first = await input(1, 'given-1/logistic');
    const v1 = await registerModel(t.store, localArtifactStore(dir), { ...first, name: 'given-numbers' });
    await moveAlias(t.store, { name: 'given-numbers', alias: 'champion', version: v1.version, movedBy: 'test', reason: 'test' });
    await t.store.db.deleteFrom('model_versions').where('name', '=', 'given-numbers').where('version', '=', v1.version).execute();
    // Before: taken, and the champion alias then served the new model, undeployed.
    const other = { ...(await input(2, 'given-2/logistic')), name: 'given-numbers' };
    await expect(registerModel(t.store, localArtifactStore(dir), { ...other, version: 1 })).rejects.toThrow('model given-numbers version 1 is at or below v1, the highest number its aliases, routes, deployments, challenges or rows have named');
    for (const version of [0, -1, 1.5]) await expect(registerModel(t.store, localArtifactStore(dir), { ...other, version })).rejects.toThrow(`model given-numbers version ${version} is not a version number`);
    expect(await listModelVersions(t.store, 'given-numbers')).toEqual([]);
    await expect(registerModel(t.store, localArtifactStore(dir), { ...other, version: 5 })).resolves.toMatchObject({ version: 5 });
  });

  it('numbers versions, is idempotent on the registration key and refuses to overwrite a version', async () => {
    const a = await registerModel(t.store, localArtifactStore(dir), await input(1, 'run-1/logistic'));
    const again = await registerModel(t.store, localArtifactStore(dir), await input(1, 'run-1/logistic'));
    const b = await registerModel(t.store, localArtifactStore(dir), await input(2, 'run-2/logistic'));
    expect([a.version, again.version, b.version]).toEqual([1, 1, 2]);
    expect(await listModelVersions(t.store, 'direction-5d')).toHaveLength(2);
    await expect(registerModel(t.store, localArtifactStore(dir), { ...(await input(3, 'run-3/logistic')), version: 2 })).rejects.toThrow(/already exists; versions are immutable/);
    expect((await listModelVersions(t.store)).map((v) => v.artifactSha256)).toEqual([a.artifactSha256, b.artifactSha256]);
    // the same key with another model is refused, never answered with the first version
    await expect(registerModel(t.store, localArtifactStore(dir), { ...(await input(3, 'run-1/logistic')) })).rejects.toThrow(/registration key run-1\/logistic already registered direction-5d v1 .*a retried registration must send the same model/);
    // a label the artifact does not predict is refused
    await expect(registerModel(t.store, localArtifactStore(dir), { ...(await input(4, 'run-4/logistic')), label: { kind: 'direction', horizon: 20 } })).rejects.toThrow(/label differs: the artifact has .*"horizon":5.*the registration says .*"horizon":20/);
    expect(await listModelVersions(t.store, 'direction-5d')).toHaveLength(2);
  });

  it('never gives a new model the number of a deleted version that routes, aliases, deployments or monitoring records still name', async () => {
    const artifacts = localArtifactStore(dir);
    await registerModel(t.store, artifacts, await input(1, 'reuse-1'));
    const served = await registerModel(t.store, artifacts, await input(2, 'reuse-2'));
    const cache = new MemoryCache();
    try {
      await writeServingRoutes(t.store, cache, { model: 'direction-5d', mode: 'single', routes: singleRoute(served.version), shadow: { version: served.version }, updatedBy: 'test', reason: 'deployed' });
    } finally {
      await cache.close();
    }
    await t.store.db.deleteFrom('model_versions').where('name', '=', 'direction-5d').where('version', '=', served.version).execute();
    // The routes still name v2: a new model numbered 2 would be served by them without any deployment.
    expect((await registerModel(t.store, artifacts, await input(3, 'reuse-3'))).version).toBe(3);
    // Named only by an alias's history (the alias has moved on since), or by a deployment: also never reused.
    await moveAlias(t.store, { name: 'direction-5d', alias: 'champion', version: 3, movedBy: 'test', reason: 'r' });
    await t.store.db.insertInto('model_alias_history').values({ name: 'direction-5d', seq: 99, alias: 'canary', from_version: 7, to_version: null, moved_by: 'test', reason: 'cleared', moved_at: new Date().toISOString() }).execute();
    expect((await registerModel(t.store, artifacts, await input(4, 'reuse-4'))).version).toBe(8);
    // Named only by what monitoring keeps (a reference profile, logged predictions): a reused number inherited another model's profile.
    await t.store.db.insertInto('model_reference_profiles').values({ name: 'direction-5d', version: 11, profile: '{}', created_at: new Date().toISOString() }).execute();
    expect((await registerModel(t.store, artifacts, await input(5, 'reuse-5'))).version).toBe(12);
  });

  it('loads a registered model to the same predictions and refuses a tampered artifact', async () => {
    const reg = await input(1, 'k');
    const v = await registerModel(t.store, localArtifactStore(dir), reg);
    const { model } = await loadRegisteredModel(t.store, localArtifactStore(dir), 'direction-5d', v.version);
    const x = withColumns(separable(50, 5, 9).x, COLUMNS);
    const train = separable(300, 5, 1);
    const original = await logisticRegression.fit({ features: withColumns(train.x, COLUMNS), labels: train.y, classes: 2, seed: 1 }, {});
    expect(Array.from(model.predictProba(x))).toEqual(Array.from(original.predictProba(x)));
    const file = path.join(dir, artifactKey(v.artifactSha256));
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 40] ^= 1;
    fs.writeFileSync(file, bytes);
    await expect(loadRegisteredModel(t.store, localArtifactStore(dir), 'direction-5d', v.version)).rejects.toThrow(ArtifactError);
    await expect(loadRegisteredModel(t.store, localArtifactStore(dir), 'direction-5d', v.version)).rejects.toThrow(/modified or corrupted/);
  });

  it('moves aliases with an append-only history and resolves them', async () => {
    const v1 = await registerModel(t.store, localArtifactStore(dir), await input(1, 'a'));
    const v2 = await registerModel(t.store, localArtifactStore(dir), await input(2, 'b'));
    await moveAlias(t.store, { name: 'direction-5d', alias: 'champion', version: v1.version, movedBy: 'test', reason: 'first model' });
    await moveAlias(t.store, { name: 'direction-5d', alias: 'champion', version: v1.version, movedBy: 'test', reason: 'no-op' });
    await moveAlias(t.store, { name: 'direction-5d', alias: 'champion', version: v2.version, movedBy: 'workflow wf-2', reason: 'promoted' });
    await moveAlias(t.store, { name: 'direction-5d', alias: 'champion', version: v1.version, movedBy: 'alice', reason: 'rollback' });
    expect(await aliasVersion(t.store, 'direction-5d', 'champion')).toBe(1);
    expect(await resolveVersion(t.store, 'direction-5d', 'champion')).toBe(1);
    expect(await resolveVersion(t.store, 'direction-5d', 'v2')).toBe(2);
    await expect(resolveVersion(t.store, 'direction-5d', 'challenger')).rejects.toThrow(RegistryError);
    await expect(moveAlias(t.store, { name: 'direction-5d', alias: 'champion', version: 9, movedBy: 'x', reason: 'y' })).rejects.toThrow(/no version 9/);
    const history = await aliasHistory(t.store, 'direction-5d');
    expect(history.map((h) => [h.fromVersion, h.toVersion, h.movedBy, h.reason])).toEqual([
      [null, 1, 'test', 'first model'],
      [1, 2, 'workflow wf-2', 'promoted'],
      [2, 1, 'alice', 'rollback'],
    ]);
  });
});
