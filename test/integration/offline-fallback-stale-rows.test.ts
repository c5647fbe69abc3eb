/**
 * With the online store unreadable (Redis down) or emptied, the API answers from the offline store's
 * rows; rows computed from bars revised since the features step ran (a stale mark, or a published
 * revision not yet absorbed) are not what the step would publish now, so the newest row before them
 * answers, dated as it is, and a re-warm of the emptied cache writes that row, not the stale one. In a
 * set with cross-sectional columns, a revision of any member makes every symbol's rows of its dates stale.
 */
import { MemoryCache } from '../../lib/cache/memory-cache';
import { OnlineFeatureStore, publishOnlineFeatures, readOfflineLatestAll, readOnlineFeatures, withdrawStaleOnlineVectors } from '../../lib/features/online-features';
import { writeFeatureRows } from '../../lib/store/features';
import { createSqliteTestDatabase, type TestDatabase } from '../helpers/databases';
import { saveTestFeatureSet, type TestFeatureSet } from '../helpers/registration';

/** A cache that cannot be read, as RedisCache when Redis is down. */
class DownCache extends MemoryCache {
  override async get(): Promise<string | undefined> {
    throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
  }
}

const DATES = ['2024-03-04', '2024-03-05', '2024-03-06', '2024-03-07'];
const NOW = () => new Date('2024-03-08T12:00:00Z');

async function rowsFor(t: TestDatabase, set: TestFeatureSet, symbols: readonly string[]): Promise<void> {
  const width = set.columns.length;
  await writeFeatureRows(
    t.store,
    set.version,
    symbols.flatMap((symbol, s) => DATES.map((date, d) => ({ symbol, date, values: Float64Array.from({ length: width }, (_, j) => 100 * s + 10 * d + j) }))),
  );
}

async function markStale(t: TestDatabase, version: string, symbol: string, from: string): Promise<void> {
  await t.store.db.insertInto('feature_progress').values({ version, symbol, through: DATES[DATES.length - 1], bars: DATES.length, stale_from: from, updated_at: new Date().toISOString() }).execute();
}

describe('the offline fallback never serves rows made stale by a revision (SQLite)', () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t.drop();
  });

  it('answers a read with the cache down from the newest row before the stale mark, and re-warms with it', async () => {
    const set = await saveTestFeatureSet(t.store, { name: 'stale-fallback', features: [{ kind: 'return', horizon: 1 }, { kind: 'return', horizon: 2 }] });
    await rowsFor(t, set, ['AAA', 'BBB']);
    await markStale(t, set.version, 'AAA', DATES[2]);

    const down = new DownCache();
    const features = new OnlineFeatureStore({ cache: down, store: t.store, rewarmVersions: () => [set.version], now: NOW });
    const a = await features.read(set.version, 'AAA');
    expect(a?.asOf).toBe(DATES[1]);
    expect(a?.values).toEqual([10, 11]);
    // A symbol without a mark is served its newest row, as before.
    expect((await features.read(set.version, 'BBB'))?.asOf).toBe(DATES[3]);
    features.close();
    await down.close();

    const empty = new MemoryCache();
    const rewarming = new OnlineFeatureStore({ cache: empty, store: t.store, rewarmVersions: () => [set.version], now: NOW });
    expect(await rewarming.rewarm()).toBe(2);
    expect((await readOnlineFeatures(empty, set.version, 'AAA'))?.asOf).toBe(DATES[1]);
    expect((await readOnlineFeatures(empty, set.version, 'BBB'))?.asOf).toBe(DATES[3]);
    rewarming.close();
    await empty.close();

    // Once the features step has recomputed the rows and cleared the mark, the newest row serves again.
    await t.store.db.updateTable('feature_progress').set({ stale_from: null }).where('version', '=', set.version).execute();
    expect((await readOfflineLatestAll(t.store, set.version, '2024-03-08')).map((v) => v.asOf)).toEqual([DATES[3], DATES[3]]);
  });

  it('serves the newest row when the revised bar lies beyond what its features look back', async () => {
    // ret_1 reads two bars: a revision three sessions before the newest row does not reach it.
    const set = await saveTestFeatureSet(t.store, { name: 'stale-fallback-far', features: [{ kind: 'return', horizon: 1 }] });
    await rowsFor(t, set, ['AAA']);
    await markStale(t, set.version, 'AAA', DATES[0]);
    const down = new DownCache();
    const features = new OnlineFeatureStore({ cache: down, store: t.store, rewarmVersions: () => [set.version], now: NOW });
    expect((await features.read(set.version, 'AAA'))?.asOf).toBe(DATES[3]);
    features.close();
    await down.close();
  });

  it("takes a member's revision to every symbol's rows when the set ranks across symbols", async () => {
    const set = await saveTestFeatureSet(t.store, { name: 'stale-fallback-ranked', features: [{ kind: 'return', horizon: 1, normalize: 'rank' }] });
    await rowsFor(t, set, ['AAA', 'BBB', 'CCC']);
    await markStale(t, set.version, 'CCC', DATES[3]);
    const vectors = await readOfflineLatestAll(t.store, set.version, '2024-03-08');
    expect(vectors.map((v) => [v.symbol, v.asOf])).toEqual([
      ['AAA', DATES[2]],
      ['BBB', DATES[2]],
      ['CCC', DATES[2]],
    ]);
  });

  it('counts a published revision the set has not absorbed yet as stale', async () => {
    const set = await saveTestFeatureSet(t.store, { name: 'stale-fallback-unabsorbed', features: [{ kind: 'return', horizon: 1 }] });
    await rowsFor(t, set, ['AAA']);
    const now = new Date().toISOString();
    await t.store.db
      .insertInto('dataset_snapshots')
      .values({
        id: 'snap-revision',
        content_hash: 'c'.repeat(64),
        source: '{}',
        symbols: '["AAA"]',
        symbol_count: 1,
        first_date: DATES[3],
        last_date: DATES[3],
        rows_read: 1,
        row_count: 1,
        rejected_count: 0,
        flagged_count: 0,
        quality_report: '{}',
        status: 'published',
        status_reason: null,
        created_at: now,
        attempt_token: null,
        published_at: now,
        bars_added: 0,
        bars_revised: 1,
      })
      .execute();
    await t.store.db
      .insertInto('bar_revisions')
      .values({ snapshot_id: 'snap-revision', symbol: 'AAA', date: DATES[3], old_open: 1, old_high: 1, old_low: 1, old_close: 1, old_volume: 1, new_open: 2, new_high: 2, new_low: 2, new_close: 2, new_volume: 1, published_at: now })
      .execute();
    const down = new DownCache();
    const features = new OnlineFeatureStore({ cache: down, store: t.store, rewarmVersions: () => [set.version], now: NOW });
    expect((await features.read(set.version, 'AAA'))?.asOf).toBe(DATES[2]);
    features.close();
    await down.close();
  });

  it('withdraws the online vectors dated on or after a stale mark (a publish revised their bars), so the API answers from the rows before it', async () => {
    const own = await saveTestFeatureSet(t.store, { name: 'withdraw-own', features: [{ kind: 'return', horizon: 1 }] });
    const ranked = await saveTestFeatureSet(t.store, { name: 'withdraw-ranked', features: [{ kind: 'return', horizon: 1, normalize: 'rank' }] });
    const cache = new MemoryCache();
    for (const set of [own, ranked]) {
      await rowsFor(t, set, ['AAA', 'BBB']);
      await publishOnlineFeatures(cache, ['AAA', 'BBB'].map((symbol) => ({ version: set.version, symbol, asOf: DATES[3], columns: set.columns, values: set.columns.map(() => 1) })));
      for (const symbol of ['AAA', 'BBB']) await t.store.db.insertInto('feature_progress').values({ version: set.version, symbol, through: DATES[3], bars: 4, stale_from: null, updated_at: new Date().toISOString() }).execute();
    }
    // AAA's bar of DATES[2] revised: its own rows, and every symbol's in the ranked set, are stale from then.
    await t.store.db.updateTable('feature_progress').set({ stale_from: DATES[2] }).where('symbol', '=', 'AAA').execute();
    expect(await withdrawStaleOnlineVectors(t.store, cache)).toBe(3);
    expect(await readOnlineFeatures(cache, own.version, 'AAA')).toBeUndefined();
    expect((await readOnlineFeatures(cache, own.version, 'BBB'))?.asOf).toBe(DATES[3]);
    for (const symbol of ['AAA', 'BBB']) expect(await readOnlineFeatures(cache, ranked.version, symbol)).toBeUndefined();
    const features = new OnlineFeatureStore({ cache, store: t.store, rewarmVersions: () => [], now: NOW });
    expect((await features.read(own.version, 'AAA'))?.asOf).toBe(DATES[1]);
    features.close();
    // Nothing stale left to withdraw: a second call removes nothing.
    expect(await withdrawStaleOnlineVectors(t.store, cache)).toBe(0);
    await cache.close();
  });
});
