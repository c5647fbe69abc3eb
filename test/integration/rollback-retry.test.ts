/**
 * `mlp models rollback` (or the admin route) without --to-version, run again because its answer
 * was lost (a timeout, a dropped connection): the retry is the same rollback and moves nothing; it
 * must not flip the champion back to the version the first one rolled back from.
 */
import { MemoryCache } from '../../lib/cache/memory-cache';
import { aliasHistory, aliasVersion, moveAlias } from '../../lib/registry/model-registry';
import { rollbackModel } from '../../lib/serving/rollback';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket, type OracleMarket } from '../helpers/oracle-models';

jest.setTimeout(120_000);

describe('a retried rollback', () => {
  let t: TestDatabase;
  let market: OracleMarket;
  const cache = new MemoryCache();
  const artifactDir = tempDir('mlp-rollback-retry-');
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    market = await setUpOracleMarket(t.store, cache, 4);
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('answers the rollback it made and moves nothing; another reason or person rolls back again, never to the pulled version unless named', async () => {
    const name = 'rollback-retry';
    const v1 = await registerOracleModel(t.store, artifactDir, { name, seed: 1, flip: false, featureSetVersion: market.featureSetVersion });
    const v2 = await registerOracleModel(t.store, artifactDir, { name, seed: 2, flip: false, featureSetVersion: market.featureSetVersion });
    for (const v of [v1, v2]) {
      await moveAlias(t.store, { name, alias: 'champion', version: v, movedBy: 'deployment d', reason: 'promoted' });
      await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(v), updatedBy: 'deployment d', reason: 'promoted' });
    }
    const rollback = () => rollbackModel(t.store, cache, { model: name, movedBy: 'cli (ops)', reason: 'v2 bad fills', verify: async () => undefined });
    const first = await rollback();
    expect([first.fromVersion, first.toVersion]).toEqual([v2, v1]);
    const moves = (await aliasHistory(t.store, name)).length;
    const generation = (await readServingRoutes(t.store, name))?.generation;
    // The same command again: the same answer, v1 still champion and served, nothing recorded.
    const retried = await rollback();
    expect([retried.fromVersion, retried.toVersion]).toEqual([v2, v1]);
    expect(await aliasVersion(t.store, name, 'champion')).toBe(v1);
    expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v1));
    expect((await aliasHistory(t.store, name)).length).toBe(moves);
    expect((await readServingRoutes(t.store, name))?.generation).toBe(generation);
    // A rollback for another reason is a new request, but never silently back to the version a rollback pulled: it must be named.
    await expect(rollbackModel(t.store, cache, { model: name, movedBy: 'cli (ops)', reason: 'v1 was fine after all', verify: async () => undefined })).rejects.toThrow(/champion v1 of rollback-retry has no predecessor in the alias history that no rollback moved away from .*--to-version/);
    const again = await rollbackModel(t.store, cache, { model: name, movedBy: 'cli (ops)', reason: 'v2 was fine after all', toVersion: v2, verify: async () => undefined });
    expect([again.fromVersion, again.toVersion]).toEqual([v1, v2]);
  });

  it('a second rollback in one incident goes on to the champion before, not back to the version the first one pulled', async () => {
    const name = 'rollback-chain';
    const v: number[] = [];
    for (let seed = 1; seed <= 3; seed++) v.push(await registerOracleModel(t.store, artifactDir, { name, seed, flip: false, featureSetVersion: market.featureSetVersion }));
    for (const version of v) {
      await moveAlias(t.store, { name, alias: 'champion', version, movedBy: 'deployment d', reason: 'promoted' });
      await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(version), updatedBy: 'deployment d', reason: 'promoted' });
    }
    const first = await rollbackModel(t.store, cache, { model: name, movedBy: 'api:alice', reason: 'bad fills on v3', verify: async () => undefined });
    expect([first.fromVersion, first.toVersion]).toEqual([v[2], v[1]]);
    const second = await rollbackModel(t.store, cache, { model: name, movedBy: 'cli (bob)', reason: 'v2 reads stale features', verify: async () => undefined });
    expect([second.fromVersion, second.toVersion]).toEqual([v[1], v[0]]);
    expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v[0]));
    // v3 made champion again by name (fixed upstream), then v4 promoted: a rollback goes back to v3, pulled before but champion since.
    const v4 = await registerOracleModel(t.store, artifactDir, { name, seed: 4, flip: false, featureSetVersion: market.featureSetVersion });
    await rollbackModel(t.store, cache, { model: name, movedBy: 'cli (ops)', reason: 'fixed upstream', toVersion: v[2], verify: async () => undefined });
    await moveAlias(t.store, { name, alias: 'champion', version: v4, movedBy: 'deployment d', reason: 'promoted' });
    await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(v4), updatedBy: 'deployment d', reason: 'promoted' });
    expect((await rollbackModel(t.store, cache, { model: name, movedBy: 'cli (ops)', reason: 'v4 bad', verify: async () => undefined })).toVersion).toBe(v[2]);
  });

  it('a version served by name (never champion before) pulls nothing: the next rollback still goes back to the champion it replaced', async () => {
    const name = 'rollback-forward';
    const v1 = await registerOracleModel(t.store, artifactDir, { name, seed: 1, flip: false, featureSetVersion: market.featureSetVersion });
    const v2 = await registerOracleModel(t.store, artifactDir, { name, seed: 2, flip: false, featureSetVersion: market.featureSetVersion });
    await moveAlias(t.store, { name, alias: 'champion', version: v1, movedBy: 'deployment d', reason: 'promoted' });
    await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(v1), updatedBy: 'deployment d', reason: 'promoted' });
    await rollbackModel(t.store, cache, { model: name, movedBy: 'api:ops', reason: 'serve v2', toVersion: v2, verify: async () => undefined });
    expect((await rollbackModel(t.store, cache, { model: name, movedBy: 'cli (ops)', reason: 'v2 bad fills', verify: async () => undefined })).toVersion).toBe(v1);
  });

  it('refuses a reason with a lone surrogate, which the store would save as U+FFFD: its retry would no longer match it and roll back a second version', async () => {
    const name = 'rollback-surrogate';
    const v: number[] = [];
    for (let seed = 1; seed <= 3; seed++) v.push(await registerOracleModel(t.store, artifactDir, { name, seed, flip: false, featureSetVersion: market.featureSetVersion }));
    for (const version of v) {
      await moveAlias(t.store, { name, alias: 'champion', version, movedBy: 'deployment d', reason: 'promoted' });
      await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(version), updatedBy: 'deployment d', reason: 'promoted' });
    }
    const moves = (await aliasHistory(t.store, name)).length;
    for (const reason of ['\ud83d bad fills', 'bad fills \ud83d', 'bad \ude00 fills']) {
      await expect(rollbackModel(t.store, cache, { model: name, movedBy: 'api:ops', reason, verify: async () => undefined })).rejects.toThrow(/reason and movedBy must be well-formed Unicode \(no lone surrogate\)/);
    }
    // The routes store refuses such text whoever writes (a reason, a person, an alias move's).
    await expect(writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(v[1]), updatedBy: 'ops', reason: 'half \ud83d', alias: { alias: 'champion', version: v[1], movedBy: 'ops', reason: 'ok' } })).rejects.toThrow(/reason must be well-formed Unicode/);
    await expect(writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(v[1]), updatedBy: 'ops', reason: 'ok', alias: { alias: 'champion', version: v[1], movedBy: 'ops', reason: 'half \ud83d' } })).rejects.toThrow(/alias\.reason must be well-formed Unicode/);
    expect(await aliasVersion(t.store, name, 'champion')).toBe(v[2]);
    expect((await aliasHistory(t.store, name)).length).toBe(moves);
    // A whole emoji (a surrogate pair) is text like any other: the retry is the same rollback.
    const rollback = () => rollbackModel(t.store, cache, { model: name, movedBy: 'api:ops', reason: 'bad fills \u{1F600}', verify: async () => undefined });
    expect([(await rollback()).toVersion, (await rollback()).toVersion]).toEqual([v[1], v[1]]);
    expect(await aliasVersion(t.store, name, 'champion')).toBe(v[1]);
  });

  it('stores a reason with control characters as one line (normalised, not refused), and its retry is the same rollback', async () => {
    const name = 'rollback-control-characters';
    const v: number[] = [];
    for (let seed = 1; seed <= 3; seed++) v.push(await registerOracleModel(t.store, artifactDir, { name, seed, flip: false, featureSetVersion: market.featureSetVersion }));
    for (const version of v) {
      await moveAlias(t.store, { name, alias: 'champion', version, movedBy: 'deployment d', reason: 'promoted' });
      await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(version), updatedBy: 'deployment d', reason: 'promoted' });
    }
    // An emergency rollback with a pasted tab and newlines, an escape sequence and a bidi override.
    const rollback = () => rollbackModel(t.store, cache, { model: name, movedBy: 'api:ops', reason: 'bad fills\tsince 09:30\r\nFAKE line \x1b[2J \u202eevil', verify: async () => undefined });
    expect([(await rollback()).toVersion, (await rollback()).toVersion]).toEqual([v[1], v[1]]);
    expect(await aliasVersion(t.store, name, 'champion')).toBe(v[1]);
    const last = (await aliasHistory(t.store, name)).at(-1);
    expect(last?.reason).toBe(`rollback to v${v[1]}: bad fills since 09:30 FAKE line [2J evil`);
    expect((await readServingRoutes(t.store, name))?.reason).toBe(`rollback to v${v[1]}: bad fills since 09:30 FAKE line [2J evil`);
    // Whoever writes the routes (a deployment's own rollback with a failure message): normalised, never refused.
    const routes = await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(v[0]), updatedBy: 'deployment e', reason: 'rolled back: analysis failed:\nError: boom\n    at x', alias: { alias: 'champion', version: v[0], movedBy: 'deployment e', reason: 'rolled back\u200b\n' } });
    expect(routes.reason).toBe('rolled back: analysis failed: Error: boom at x');
    expect((await aliasHistory(t.store, name)).at(-1)?.reason).toBe('rolled back');
  });

  it('refuses a history whose moves do not chain, naming the row, and asks for the version', async () => {
    const name = 'rollback-edited-history';
    const v: number[] = [];
    for (let seed = 1; seed <= 3; seed++) v.push(await registerOracleModel(t.store, artifactDir, { name, seed, flip: false, featureSetVersion: market.featureSetVersion }));
    // v1 champion, v2's canary rolled back (never champion), v3 promoted over v1.
    await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(v[0]), updatedBy: 'deployment d', reason: 'first champion', alias: { alias: 'champion', version: v[0], movedBy: 'deployment d', reason: 'first champion' } });
    await writeServingRoutes(t.store, cache, { model: name, mode: 'canary', routes: [{ variant: 'champion', version: v[0], weight: 0.9 }, { variant: 'canary', version: v[1], weight: 0.1 }], updatedBy: 'deployment e', reason: 'canary v2' });
    await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(v[0]), updatedBy: 'deployment e', reason: 'canary v2 failed' });
    await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(v[2]), updatedBy: 'deployment f', reason: 'promote v3', alias: { alias: 'champion', version: v[2], movedBy: 'deployment f', reason: 'promote v3' } });
    const rollback = () => rollbackModel(t.store, cache, { model: name, movedBy: 'cli (ops)', reason: 'v3 bad fills', verify: async () => undefined });
    // The last move edited to say v3 replaced v2: the target would have been v2, never champion.
    await t.store.db.updateTable('model_alias_history').set({ from_version: v[1] }).where('name', '=', name).where('seq', '=', 2).execute();
    await expect(rollback()).rejects.toThrow(new RegExp(`history of ${name} does not chain: move #2 \\(.*by deployment f: promote v3\\) moved the alias from v${v[1]}, but the move before it \\(#1\\) left it at v${v[0]}.*--to-version`));
    // The first move edited to come from a version: nothing precedes it.
    await t.store.db.updateTable('model_alias_history').set({ from_version: v[0] }).where('name', '=', name).where('seq', '=', 2).execute();
    await t.store.db.updateTable('model_alias_history').set({ from_version: v[1] }).where('name', '=', name).where('seq', '=', 1).execute();
    await expect(rollback()).rejects.toThrow(/move #1 .* moved the alias from v\d+, but it is the first move, from no version/);
    // The alias moved by SQL: the history no longer ends where the alias is.
    await t.store.db.updateTable('model_alias_history').set({ from_version: null }).where('name', '=', name).where('seq', '=', 1).execute();
    await t.store.db.updateTable('model_aliases').set({ version: v[1] }).where('name', '=', name).where('alias', '=', 'champion').execute();
    await expect(rollback()).rejects.toThrow(new RegExp(`its last move, move #2 .* left the alias at v${v[2]}, but it names v${v[1]}`));
    // Nothing moved; the alias put back, the chained history rolls back to v1.
    expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v[2]));
    await t.store.db.updateTable('model_aliases').set({ version: v[2] }).where('name', '=', name).where('alias', '=', 'champion').execute();
    expect((await rollback()).toVersion).toBe(v[0]);
  });
});
