/**
 * With MODEL_SIGNING_KEY, what decides serving is signed: the serving routes row and the alias rows
 * (with their history rows). Someone who can write the database but does not hold the key moved the
 * routes and the champion alias together by SQL to another signed version (a superseded champion,
 * a version never promoted): both agreed and both named a signed version, so the API served it to
 * all traffic, /readyz stayed 200 and monitoring raised nothing. Now the API refuses routes whose
 * signature fails and keeps serving the last routes it verified, never moves back to an older
 * generation (a signed row written back), and monitoring compares routes and aliases with their
 * newest signed history rows.
 */
import fs from 'node:fs';
import { deploymentActivities } from '../../activities/deployment';
import { monitoringActivities } from '../../activities/monitoring';
import { servedSnapshot } from '../../api/predictions';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { aliasVersion, moveAlias, registerModel, type ModelVersion } from '../../lib/registry/model-registry';
import type { RowSigning } from '../../lib/registry/row-signature';
import { rollbackModel } from '../../lib/serving/rollback';
import { signServingRecords } from '../../lib/serving/sign-serving-records';
import { ServingModels, type RoutesRefusal } from '../../lib/serving/serving-models';
import { readServingRoutes, singleRoute, writeServingRoutes, type WriteServingRoutesInput } from '../../lib/serving/serving-routes';
import type { Database } from '../../lib/store/database';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { startApiStack } from '../helpers/api-stack';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { defineTestFeatureSet, returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';
import { until } from '../helpers/until';

const FEATURES = returnsFeatureSet('serving-records');
const { version: FS, columns: COLUMNS } = defineTestFeatureSet(FEATURES);
const MODEL = 'direction-5d';
const KEY = 'serving-record-signatures-key-0123456789abcdef';
const SIGNING: RowSigning = { signingKey: KEY };

async function registerVersions(store: Database, dir: string, count: number, signing: RowSigning = SIGNING): Promise<ModelVersion[]> {
  await saveTestFeatureSet(store, FEATURES);
  const versions: ModelVersion[] = [];
  for (let seed = 1; seed <= count; seed++) {
    const d = separable(200, 5, seed);
    const model = await logisticRegression.fit({ features: withColumns(d.x, COLUMNS), labels: d.y, classes: 2, seed }, {});
    const label = { kind: 'direction', horizon: 5 };
    versions.push(
      await registerModel(
        store,
        localArtifactStore(dir),
        { name: MODEL, artifact: encodeArtifact(model.state(), { featureSetVersion: FS, label }), algorithm: 'logistic_regression', params: {}, seed, featureSetVersion: FS, label, ...UNTRACKED_REGISTRATION, registrationKey: `${MODEL}/${seed}` },
        signing,
      ),
    );
  }
  return versions;
}

/** A promotion as a deployment writes it: routes and the champion alias in one transaction. */
/** `null`: written without the key. */
const promote = (version: number, signing: RowSigning | null = SIGNING): WriteServingRoutesInput => ({
  model: MODEL,
  mode: 'single',
  routes: singleRoute(version),
  updatedBy: `deployment d-${version}`,
  reason: `promote v${version}`,
  alias: { alias: 'champion', version, movedBy: `deployment d-${version}`, reason: `promote v${version}` },
  ...(signing ? { signing } : {}),
});

describe.each(DRIVERS)('signed serving routes and aliases, on %s', (_driver, create) => {
  let t: TestDatabase;
  let dir: string;
  let cache: MemoryCache;
  const started: ServingModels[] = [];
  let refusals: RoutesRefusal[];

  beforeEach(async () => {
    t = await create();
    dir = tempDir('mlp-serving-records-');
    cache = new MemoryCache();
    refusals = [];
  });
  afterEach(async () => {
    for (const s of started.splice(0)) await s.close();
    await cache.close();
    await t?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const start = async (signing: RowSigning | null = SIGNING) => {
    const s = new ServingModels({ store: t.store, cache, artifacts: localArtifactStore(dir), pollMs: 50, log: (e, d) => process.env.DEBUG_SERVING && console.log(e, JSON.stringify(d)), ...(signing ? { signing } : {}), onRoutesRefused: (event) => refusals.push(event) });
    started.push(s);
    await s.start();
    return s;
  };
  const served = (s: ServingModels) => s.snapshot(MODEL)?.routes.routes.map((r) => r.version);
  const monitoring = () => monitoringActivities({ store: t.store, signing: SIGNING }).checkServedChampions({});

  /** What someone with write access to the database (not the key) does: routes and champion alias moved by SQL, no history rows. */
  const moveBySql = async (version: number) => {
    const row = await t.store.db.selectFrom('serving_routes').selectAll().where('model', '=', MODEL).executeTakeFirstOrThrow();
    const split = JSON.parse(row.routes) as { routes: Array<{ version: number }> };
    split.routes[0].version = version;
    await t.store.db.updateTable('serving_routes').set({ routes: JSON.stringify(split), generation: Number(row.generation) + 1, updated_by: 'deployment d-2', reason: 'promote v2' }).where('model', '=', MODEL).execute();
    await t.store.db.updateTable('model_aliases').set({ version }).where('name', '=', MODEL).where('alias', '=', 'champion').execute();
  };

  it.each([
    ['the superseded champion', 1],
    ['a version never promoted', 3],
  ])('refuses routes and champion alias moved together by SQL to %s: the verified routes keep serving, a new process serves nothing, monitoring alerts', async (_what, target) => {
    await registerVersions(t.store, dir, 3);
    await writeServingRoutes(t.store, cache, promote(1));
    await writeServingRoutes(t.store, cache, promote(2));
    const api = await start();
    expect(served(api)).toEqual([2]);
    expect(api.ready()).toBe(true);
    expect(await monitoring()).toMatchObject({ mismatches: [], tampered: [], findings: [] });

    await moveBySql(target);
    await until('the tampered routes refused', () => refusals.length > 0);
    expect(refusals[0]).toMatchObject({ model: MODEL, generation: 3, reason: 'signature', serving: 2 });
    expect(refusals[0].message).toMatch(/the signature of the serving routes row of direction-5d \(generation 3\) does not match it: it was edited/);
    // Still the verified routes, never the SQL's: reported degraded (still ready, it answers with what it verified).
    expect(served(api)).toEqual([2]);
    expect(api.ready()).toBe(true);
    expect(api.degradedModels().join('\n')).toMatch(/direction-5d: serves generation 2 \(v2 \(champion\)\), the last routes it verified, because its stored routes \(generation 3: v\d \(champion\)\) are refused: .*does not match/);
    expect(api.routesRefused(MODEL)).toMatchObject({ generation: 3, reason: 'signature' });
    // The champion alias moved with them is refused too (reported, never used as an anchor).
    await until('the tampered alias refused', () => refusals.some((r) => r.reason === 'alias'));
    expect(refusals.find((r) => r.reason === 'alias')?.message).toMatch(new RegExp(`the champion alias of direction-5d \\(v${target}, move 2\\) does not match it`));
    expect(api.degradedModels().join('\n')).toMatch(/direction-5d: its champion alias is refused .*does not match it/);

    // A process starting now does not serve them either (a request gets 503 naming why) and is not ready.
    const fresh = await start();
    expect(fresh.snapshot(MODEL)).toBeUndefined();
    expect(fresh.ready()).toBe(false);
    expect(() => servedSnapshot(fresh, MODEL)).toThrow(expect.objectContaining({ statusCode: 503, message: expect.stringMatching(/its routes \(generation 3\) are refused: .*does not match/) }));

    // Monitoring: routes and alias agree (no champion_mismatch), but neither is what a key holder wrote.
    const result = await monitoring();
    expect(result.mismatches).toEqual([]);
    expect(result.findings).toHaveLength(1);
    expect(result.findings[0].alert).toMatchObject({ rule: 'serving_routes_tampered', severity: 'critical', subject: `serving routes of model ${MODEL}` });
    const message = result.findings[0].alert.message;
    expect(message).toMatch(/serving routes row of direction-5d \(generation 3\) does not match it/);
    expect(message).toMatch(/are at generation 3, but the newest signed history row is generation 2 \(v2 \(champion 1\)/);
    expect(message).toMatch(new RegExp(`the champion alias of direction-5d \\(v${target}, move 2\\) does not match it`));

    // Writing the intended routes with the key (a rollback) serves them and clears everything.
    await rollbackModel(t.store, cache, { model: MODEL, toVersion: 2, movedBy: 'ops', reason: 'undo the SQL edit', verify: async () => undefined, signing: SIGNING });
    await until('the signed rollback served by both', () => api.routesRefused(MODEL) === undefined && fresh.snapshot(MODEL)?.routes.generation === 4);
    expect(served(fresh)).toEqual([2]);
    expect(await aliasVersion(t.store, MODEL, 'champion')).toBe(2);
    expect(await monitoring()).toMatchObject({ tampered: [], findings: [] });
  });

  it('never moves back to an older signed routes row written back (a replay), and monitoring finds it older than the newest signed history row', async () => {
    await registerVersions(t.store, dir, 2);
    await writeServingRoutes(t.store, cache, promote(1));
    const captured = await t.store.db.selectFrom('serving_routes').selectAll().where('model', '=', MODEL).executeTakeFirstOrThrow();
    const capturedAlias = await t.store.db.selectFrom('model_aliases').selectAll().where('name', '=', MODEL).executeTakeFirstOrThrow();
    await writeServingRoutes(t.store, cache, promote(2));
    const api = await start();
    expect(served(api)).toEqual([2]);

    // The generation-1 rows put back as they were signed: every signature holds.
    await t.store.db.updateTable('serving_routes').set(captured).where('model', '=', MODEL).execute();
    await t.store.db.updateTable('model_aliases').set(capturedAlias).where('name', '=', MODEL).where('alias', '=', 'champion').execute();
    await until('the replay refused', () => refusals.length > 0);
    expect(refusals[0]).toMatchObject({ generation: 1, reason: 'replay', serving: 2 });
    expect(refusals[0].message).toMatch(/they are signed, but older than generation 2 \(v2 \(champion\), written by deployment d-2\) that this process verified before/);
    expect(served(api)).toEqual([2]);

    const result = await monitoring();
    expect(result.findings.map((f) => [f.alert.rule, f.alert.severity])).toEqual([['serving_routes_tampered', 'critical']]);
    expect(result.findings[0].alert.message).toMatch(/are at generation 1 \(v1 \(champion 1\)\), older than the newest signed history row, generation 2 \(v2 \(champion 1\), written by deployment d-2\)/);
    expect(result.findings[0].alert.message).toMatch(/the champion alias of direction-5d names v1 \(move 1\), but its newest signed move is 2 \(to v2, by deployment d-2\)/);

    // The history rows after it deleted too: the running process still refuses (it remembers what it verified).
    await t.store.db.deleteFrom('serving_route_history').where('model', '=', MODEL).where('generation', '>', 1).execute();
    await new Promise((r) => setTimeout(r, 200));
    expect(served(api)).toEqual([2]);
    expect(api.routesRefused(MODEL)).toMatchObject({ generation: 1, reason: 'replay' });
  });

  it('refuses routes written before they were signed until a key holder writes them; a write without the key over signed routes or aliases is refused', async () => {
    await registerVersions(t.store, dir, 2);
    // Written by a deployment that did not sign serving records yet.
    await writeServingRoutes(t.store, cache, promote(1, null));
    const api = await start();
    expect(api.snapshot(MODEL)).toBeUndefined();
    expect(api.unreadyModels().join('\n')).toMatch(/direction-5d: not served, its stored routes \(generation 1: v1 \(champion\)\) are refused: the serving routes row of direction-5d \(generation 1\) carries no signature/);
    expect(refusals).toEqual([expect.objectContaining({ reason: 'signature', serving: null })]);
    const before = await monitoring();
    expect(before.findings.map((f) => f.alert.severity)).toEqual(['critical']);

    // `mlp models sign-serving` refuses what no key confirms unless told the records were checked (--accept-edit), as `mlp models sign` does.
    await expect(signServingRecords(t.store, cache, MODEL, SIGNING, { by: 'ops', reason: 'upgrade' })).rejects.toThrow(/serving records of direction-5d not signed: the serving routes row of direction-5d \(generation 1\) carries no signature.*the champion alias of direction-5d \(v1, move 1\) carries no signature.*--accept-edit/);
    expect((await readServingRoutes(t.store, MODEL))?.generation).toBe(1);
    const signed = await signServingRecords(t.store, cache, MODEL, SIGNING, { by: 'ops', reason: 'upgrade', acceptEdit: true });
    expect([signed.rewritten, signed.routes.generation, signed.routes.salt, signed.accepted.length]).toEqual([true, 2, (await t.store.db.selectFrom('serving_route_history').select('routes').where('generation', '=', 1).executeTakeFirstOrThrow().then((r) => JSON.parse(r.routes) as { salt: string })).salt, 2]);
    await until('served once signed', () => served(api)?.[0] === 1 && api.ready());
    // Signed by the current key already: nothing is written again.
    expect((await signServingRecords(t.store, cache, MODEL, SIGNING, { by: 'ops', reason: 'again' })).rewritten).toBe(false);
    expect((await readServingRoutes(t.store, MODEL))?.generation).toBe(2);
    expect(await monitoring()).toMatchObject({ tampered: [], findings: [] });

    // A process without the key would replace signed records with unsigned ones that every API holding the key refuses: refused, nothing changed.
    await expect(writeServingRoutes(t.store, cache, promote(2, null))).rejects.toThrow(/serving routes of direction-5d not written: the stored routes \(generation 2\) are signed and this write has no MODEL_SIGNING_KEY/);
    await expect(moveAlias(t.store, { name: MODEL, alias: 'champion', version: 2, movedBy: 'script', reason: 'no key' })).rejects.toThrow(/the champion alias of direction-5d was not moved: it is signed and this move has no MODEL_SIGNING_KEY/);
    expect((await readServingRoutes(t.store, MODEL))?.generation).toBe(2);
    expect(await aliasVersion(t.store, MODEL, 'champion')).toBe(1);

    // With the key: a canary alias set and cleared is signed, and its row deleted by SQL afterwards is found.
    await moveAlias(t.store, { name: MODEL, alias: 'canary', version: 2, movedBy: 'deployment d-3', reason: 'canary' }, SIGNING);
    expect(await monitoring()).toMatchObject({ findings: [] });
    await t.store.db.deleteFrom('model_aliases').where('name', '=', MODEL).where('alias', '=', 'canary').execute();
    expect((await monitoring()).findings[0].alert.message).toMatch(/the canary alias of direction-5d is not set, but its newest signed move \(\d+, by deployment d-3\) set it to v2: the alias row was deleted/);
  });

  it('reports a champion alias moved alone by SQL: the API says it is refused, monitoring alerts; the routes keep serving', async () => {
    await registerVersions(t.store, dir, 2);
    await writeServingRoutes(t.store, cache, promote(1));
    await writeServingRoutes(t.store, cache, promote(2));
    const api = await start();
    await t.store.db.updateTable('model_aliases').set({ version: 1 }).where('name', '=', MODEL).where('alias', '=', 'champion').execute();
    await until('the alias refused', () => refusals.some((r) => r.reason === 'alias'));
    expect(served(api)).toEqual([2]);
    expect(api.degradedModels().join('\n')).toMatch(/direction-5d: its champion alias is refused .*the champion alias of direction-5d \(v1, move 2\) does not match it/);
    const result = await monitoring();
    expect(result.findings.map((f) => f.alert.rule).sort()).toEqual(['champion_mismatch', 'serving_routes_tampered']);
  });

  it('after a key rotation, sign-serving signs the records again in place: a running canary deployment keeps its split, takes its next step and promotes', async () => {
    await registerVersions(t.store, dir, 2);
    await writeServingRoutes(t.store, cache, promote(1));
    const activities = (signing: RowSigning) => deploymentActivities({ store: t.store, cache, artifacts: localArtifactStore(dir), signing });
    const before = activities(SIGNING);
    await before.beginDeployment({ deploymentId: 'dep-2', request: { model: MODEL, challengerVersion: 2, startedBy: 'ops' } });
    const step = (weight: number) => ({ model: MODEL, mode: 'canary' as const, routes: [{ variant: 'canary', version: 2, weight }, { variant: 'champion', version: 1, weight: 1 - weight }], reference: 'champion', updatedBy: 'deployment dep-2', reason: `canary ${weight}`, deploymentId: 'dep-2' });
    const first = await before.setTrafficSplit(step(0.1));
    expect(typeof first).toBe('number');
    const stepped = await readServingRoutes(t.store, MODEL);

    // Key rotation as docs/operations.md says: the new key, the old one as previous, then `mlp models sign-serving`.
    const rotated: RowSigning = { signingKey: 'serving-record-signatures-second-key-abcdef0123', previousKeys: [KEY] };
    const signed = await signServingRecords(t.store, cache, MODEL, rotated, { by: 'cli (ops)', reason: 'key rotation' });
    expect([signed.rewritten, signed.accepted]).toEqual([false, []]);
    expect(signed.resigned).toBeGreaterThan(0);
    // Nothing that decides serving or who owns it changed: same generation, writer, reason, time and split.
    const after = await readServingRoutes(t.store, MODEL);
    expect(after).toEqual(stepped);
    expect(await t.store.db.selectFrom('serving_route_history').select('generation').where('model', '=', MODEL).execute()).toHaveLength(Number(first));
    expect((await t.store.db.selectFrom('model_alias_history').select('moved_by').where('name', '=', MODEL).execute()).map((m) => m.moved_by)).not.toContain('cli (ops)');
    // Everything verifies under the new key alone (the old one can be dropped).
    const newOnly: RowSigning = { signingKey: rotated.signingKey };
    expect(await monitoringActivities({ store: t.store, signing: newOnly }).checkServedChampions({})).toMatchObject({ tampered: [], findings: [] });

    // The deployment goes on: its next step and its promotion are its own, not superseded.
    const running = activities(rotated);
    const next = await running.setTrafficSplit(step(0.25));
    expect(next).toBe(Number(first) + 1);
    await expect(running.promoteChallenger({ deploymentId: 'dep-2', model: MODEL, challengerVersion: 2, championVersion: 1, movedBy: 'deployment dep-2', reason: 'passed' })).resolves.toBeUndefined();
    expect(await aliasVersion(t.store, MODEL, 'champion')).toBe(2);
    expect((await readServingRoutes(t.store, MODEL))?.routes).toEqual(singleRoute(2));
  });

  it('with --accept-edit, refuses to write unconfirmed records again while a deployment of the model runs, naming it', async () => {
    await registerVersions(t.store, dir, 2);
    await writeServingRoutes(t.store, cache, promote(1));
    const a = deploymentActivities({ store: t.store, cache, artifacts: localArtifactStore(dir), signing: SIGNING });
    await a.beginDeployment({ deploymentId: 'dep-2', request: { model: MODEL, challengerVersion: 2, startedBy: 'ops' } });
    await a.setTrafficSplit({ model: MODEL, mode: 'canary', routes: [{ variant: 'canary', version: 2, weight: 0.1 }, { variant: 'champion', version: 1, weight: 0.9 }], reference: 'champion', updatedBy: 'deployment dep-2', reason: 'canary 0.1', deploymentId: 'dep-2' });
    const stepped = await readServingRoutes(t.store, MODEL);
    // An alias history row written without the key (an unconfirmed record).
    await t.store.db.updateTable('model_alias_history').set({ signature: null, signature_key_id: null }).where('name', '=', MODEL).execute();
    await expect(signServingRecords(t.store, cache, MODEL, SIGNING, { by: 'cli (ops)', reason: 'upgrade', acceptEdit: true })).rejects.toThrow(/would take the serving routes from deployment dep-2 \(started by ops\), still running/);
    expect(await readServingRoutes(t.store, MODEL)).toEqual(stepped);
  });

  it('a rollback without a version named chooses its target only from signed champion moves: unsigned moves inserted into the history are refused, named; monitoring reports failing moves anywhere in the history', async () => {
    await registerVersions(t.store, dir, 3);
    await writeServingRoutes(t.store, cache, promote(1));
    await writeServingRoutes(t.store, cache, promote(2));
    const before = await readServingRoutes(t.store, MODEL);
    // Someone without the key inserts two chained champion moves, v2 → v3 → v2 (v3 was never promoted).
    const now = new Date().toISOString();
    await t.store.db
      .insertInto('model_alias_history')
      .values([
        { name: MODEL, seq: 3, alias: 'champion', from_version: 2, to_version: 3, moved_by: 'deployment d-3', reason: 'promote v3', moved_at: now },
        { name: MODEL, seq: 4, alias: 'champion', from_version: 3, to_version: 2, moved_by: 'deployment d-2b', reason: 'promote v2', moved_at: now },
      ])
      .execute();
    const rollback = (toVersion?: number) => rollbackModel(t.store, cache, { model: MODEL, ...(toVersion !== undefined ? { toVersion } : {}), movedBy: 'cli (ops)', reason: 'bad fills', verify: async () => undefined, signing: SIGNING });
    await expect(rollback()).rejects.toThrow(/cannot roll direction-5d back without a version named: .*move 3: v2 → v3 by deployment d-3, unsigned; move 4: v3 → v2 by deployment d-2b, unsigned.*name the version to roll back to/);
    expect(await readServingRoutes(t.store, MODEL)).toEqual(before);
    expect(await aliasVersion(t.store, MODEL, 'champion')).toBe(2);

    // A signed move edited afterwards (older than the newest signed one) is reported too, and refused as a rollback's basis.
    await t.store.db.deleteFrom('model_alias_history').where('name', '=', MODEL).where('seq', '>', 2).execute();
    await t.store.db.updateTable('model_alias_history').set({ from_version: 3 }).where('name', '=', MODEL).where('seq', '=', 1).execute();
    const found = (await monitoring()).findings.map((f) => f.alert.message).join('\n');
    expect(found).toMatch(/holds moves of the champion alias without a valid signature \(move 1: v3 → v1 by deployment d-1, its signature fails\)/);
    await expect(rollback()).rejects.toThrow(/move 1: v3 → v1 by deployment d-1, its signature fails/);
    // Named, the rollback is the remedy, and is written.
    await expect(rollback(1)).resolves.toMatchObject({ fromVersion: 2, toVersion: 1 });
    expect(await aliasVersion(t.store, MODEL, 'champion')).toBe(1);
  });

  it('a deployment never starts against, steps over or promotes over routes and a champion alias moved together by SQL (laundered into signed routes); nor does a rollback without a version named', async () => {
    await registerVersions(t.store, dir, 3);
    await writeServingRoutes(t.store, cache, promote(1));
    await writeServingRoutes(t.store, cache, promote(2));
    const activities = deploymentActivities({ store: t.store, cache, artifacts: localArtifactStore(dir), signing: SIGNING });
    await activities.beginDeployment({ deploymentId: 'dep-3', request: { model: MODEL, challengerVersion: 3, startedBy: 'ops' } });
    const step = (weight: number) => ({ model: MODEL, mode: 'canary' as const, routes: [{ variant: 'canary', version: 3, weight }, { variant: 'champion', version: 2, weight: 1 - weight }], reference: 'champion', updatedBy: 'deployment dep-3', reason: `canary ${weight}`, deploymentId: 'dep-3' });
    await activities.setTrafficSplit(step(0.1));
    // Someone without the key rewrites the deployment's split to serve v1 as its champion.
    const row = await t.store.db.selectFrom('serving_routes').selectAll().where('model', '=', MODEL).executeTakeFirstOrThrow();
    const split = JSON.parse(row.routes) as { routes: Array<{ variant: string; version: number }> };
    split.routes[1].version = 1;
    await t.store.db.updateTable('serving_routes').set({ routes: JSON.stringify(split) }).where('model', '=', MODEL).execute();
    const tampered = await readServingRoutes(t.store, MODEL);
    await expect(activities.setTrafficSplit(step(0.25))).rejects.toThrow(/cannot route direction-5d traffic: the serving records of direction-5d are not as a key holder wrote them: the signature of the serving routes row of direction-5d \(generation 3\) does not match it/);
    await expect(activities.promoteChallenger({ deploymentId: 'dep-3', model: MODEL, challengerVersion: 3, championVersion: 2, movedBy: 'deployment dep-3', reason: 'passed' })).rejects.toThrow(/cannot promote direction-5d v3: the serving records of direction-5d are not as a key holder wrote them/);
    expect(await readServingRoutes(t.store, MODEL)).toEqual(tampered);
    expect(await aliasVersion(t.store, MODEL, 'champion')).toBe(2);

    // The deployment rolled back (to its own champion, v2, verified when it began); then routes and alias moved together by SQL to v1.
    await activities.rollBackDeployment({ deploymentId: 'dep-3', model: MODEL, championVersion: 2, challengerVersion: 3, movedBy: 'deployment dep-3', reason: 'aborted' });
    await t.store.db.updateTable('deployments').set({ status: 'rolled_back', running_model: null, ended_at: new Date().toISOString() }).where('id', '=', 'dep-3').execute();
    await moveBySql(1);
    const moved = await readServingRoutes(t.store, MODEL);
    await expect(activities.beginDeployment({ deploymentId: 'dep-3b', request: { model: MODEL, challengerVersion: 3, startedBy: 'ops' } })).rejects.toThrow(
      /cannot deploy direction-5d v3: the serving records of direction-5d are not as a key holder wrote them: .*serving routes row of direction-5d \(generation \d+\) does not match it.*the champion alias of direction-5d \(v1, move \d+\) does not match it/,
    );
    expect(await t.store.db.selectFrom('deployments').select('id').where('id', '=', 'dep-3b').executeTakeFirst()).toBeUndefined();
    await expect(rollbackModel(t.store, cache, { model: MODEL, movedBy: 'cli (ops)', reason: 'bad fills', verify: async () => undefined, signing: SIGNING })).rejects.toThrow(/the champion alias of direction-5d \(v1, move \d+\) does not match it/);
    expect(await readServingRoutes(t.store, MODEL)).toEqual(moved);
  });

  it('the admin routes are never judged by a champion alias moved by SQL: a split agreeing with it is refused (serving_routes_tampered), not written signed', async () => {
    await registerVersions(t.store, dir, 2);
    await writeServingRoutes(t.store, cache, promote(1));
    await writeServingRoutes(t.store, cache, promote(2));
    const token = { name: 'ops', token: 'serving-record-signatures-token-0123456789', scopes: ['predict', 'admin'] as Array<'predict' | 'admin'> };
    const stack = await startApiStack({ store: t.store, cache, artifactDir: dir, tokens: [token], signing: SIGNING });
    try {
      // The champion alias alone moved back to the superseded v1 by SQL: a split serving v1 "agrees" with it.
      await t.store.db.updateTable('model_aliases').set({ version: 1 }).where('name', '=', MODEL).where('alias', '=', 'champion').execute();
      const before = await readServingRoutes(t.store, MODEL);
      const put = await stack.app.inject({ method: 'PUT', url: `/v1/admin/routes/${MODEL}`, headers: { authorization: `Bearer ${token.token}` }, payload: { mode: 'single', routes: singleRoute(1), reason: 'back to v1' } });
      expect(put.statusCode).toBe(409);
      expect(put.json()).toEqual({ error: 'serving_routes_tampered', message: expect.stringMatching(/routes of direction-5d not written: the champion alias of direction-5d is not as a key holder wrote it: the signature of the champion alias of direction-5d \(v1, move 2\) does not match it/) });
      expect(await readServingRoutes(t.store, MODEL)).toEqual(before);
    } finally {
      await stack.close();
    }
  });

  it('without the key nothing is signed or checked: routes edited by SQL are served as before', async () => {
    await registerVersions(t.store, dir, 2, { signingKey: undefined });
    await writeServingRoutes(t.store, cache, promote(1, null));
    await writeServingRoutes(t.store, cache, promote(2, null));
    const api = await start(null);
    await moveBySql(1);
    await until('the edited routes served', () => served(api)?.[0] === 1);
    expect(refusals).toEqual([]);
    expect(await monitoringActivities({ store: t.store, signing: { signingKey: undefined } }).checkServedChampions({})).toMatchObject({ tampered: [], findings: [] });
  });
});
