import { MemoryCache } from '../../lib/cache/memory-cache';
import { defineFeatureSet, DEFAULT_FEATURE_SET } from '../../lib/features/feature-set';
import { materializeFeatures } from '../../lib/features/materialize';
import { readOfflineLatest, readOnlineFeatures } from '../../lib/features/online-features';
import { featureRowSignatureProblem } from '../../lib/features/vector-signature';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { signStoredBars } from '../../lib/store/bar-signature';
import { upsertBars } from '../../lib/store/bars';
import { getFeatureSetColumns, packValues, readFeatureRows } from '../../lib/store/features';
import { createMysqlTestDatabase, createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';

const set = defineFeatureSet(DEFAULT_FEATURE_SET);

async function storedRows(t: TestDatabase): Promise<string[]> {
  const rows = await t.store.db.selectFrom('feature_rows').select(['symbol', 'date', 'vals']).where('version', '=', set.version).orderBy('symbol').orderBy('date').execute();
  return rows.map((r) => `${r.symbol} ${r.date} ${Buffer.from(r.vals).toString('hex')}`);
}

describe('feature store on MySQL and SQLite', () => {
  let dir: string;
  const dbs: Record<'sqliteFull' | 'sqliteIncremental' | 'mysqlIncremental' | 'sqliteThreaded', TestDatabase> = {} as never;
  beforeAll(async () => {
    dir = tempDir('mlp-features-');
    await writeSyntheticMarket(dir, { symbols: 5, from: '2016-01-04', to: '2018-06-29', plantErrors: false });
    [dbs.sqliteFull, dbs.sqliteIncremental, dbs.mysqlIncremental, dbs.sqliteThreaded] = await Promise.all([
      createSqliteTestDatabase(),
      createSqliteTestDatabase(),
      createMysqlTestDatabase(),
      createSqliteTestDatabase(),
    ]);
    for (const t of Object.values(dbs)) await importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir } }));
    // A symbol with too little history, to be skipped and reported.
    await upsertBars(dbs.sqliteFull.store, [{ symbol: 'NEWCO', date: '2018-06-28', open: 10, high: 11, low: 9, close: 10.5, volume: 100 }]);
  });
  afterAll(async () => {
    await Promise.all(Object.values(dbs).map((t) => t?.drop()));
  });

  it('materialises incrementally (new dates only) with exactly the values of a full recomputation, identical on MySQL and SQLite', async () => {
    const full = await materializeFeatures(dbs.sqliteFull.store, set);
    expect(full.skipped).toEqual([{ symbol: 'NEWCO', bars: 1, reason: `1 bars; feature set ${set.version} needs at least 254` }]);

    for (const t of [dbs.sqliteIncremental, dbs.mysqlIncremental]) {
      const first = await materializeFeatures(t.store, set, { to: '2018-03-29' });
      const second = await materializeFeatures(t.store, set, { to: '2018-06-01' });
      const third = await materializeFeatures(t.store, set);
      const again = await materializeFeatures(t.store, set);
      expect(first.rowsWritten).toBeGreaterThan(0);
      expect(second.rowsWritten).toBe(5 * 44); // trading days 2018-04-02 .. 2018-06-01
      expect(third.rowsWritten).toBe(5 * 20); // 2018-06-04 .. 2018-06-29
      expect(again.rowsWritten).toBe(0);
      expect(first.rowsWritten + second.rowsWritten + third.rowsWritten).toBe(full.rowsWritten);
    }
    const reference = await storedRows(dbs.sqliteFull);
    expect(reference).toHaveLength(full.rowsWritten);
    expect(await storedRows(dbs.sqliteIncremental)).toEqual(reference);
    expect(await storedRows(dbs.mysqlIncremental)).toEqual(reference);
    expect(await getFeatureSetColumns(dbs.mysqlIncremental.store, set.version)).toHaveLength(61);
  });

  it('gives the same bytes when per-symbol features are computed on worker threads', async () => {
    await materializeFeatures(dbs.sqliteThreaded.store, set, { threads: 3 });
    expect(await storedRows(dbs.sqliteThreaded)).toEqual(await storedRows(dbs.sqliteFull));
  });

  it('serves the newest vector per symbol from the online store, equal to the stored row', async () => {
    const cache = new MemoryCache();
    const t = dbs.sqliteFull;
    const report = await materializeFeatures(t.store, set, { cache });
    expect(report.onlineUpdated).toBe(5);
    const online = await readOnlineFeatures(cache, set.version, 'SYN03');
    const [row] = await readFeatureRows(t.store, set.version, { symbols: ['SYN03'], from: '2018-06-29' });
    expect(online?.asOf).toBe('2018-06-29');
    expect(online?.columns).toHaveLength(61);
    expect(online?.values).toEqual(Array.from(row.values));
    // An older vector never replaces a newer one.
    await materializeFeatures(t.store, set, { cache, to: '2018-06-01' });
    expect((await readOnlineFeatures(cache, set.version, 'SYN03'))?.asOf).toBe('2018-06-29');
  });

  it('recomputing every row (`mlp features recompute`) signs the rows written before signing and restores an edited one, byte-identical, on MySQL and SQLite', async () => {
    const signing = { signingKey: 'feature-row-signing-key-0123456789abcdef' };
    const reference = await storedRows(dbs.sqliteFull);
    for (const t of [dbs.sqliteIncremental, dbs.mysqlIncremental]) {
      // Rows written without the key, one of them edited since: neither is served under the key.
      await t.store.db.updateTable('feature_rows').set({ vals: packValues(new Float64Array(61).fill(9)) }).where('symbol', '=', 'SYN01').where('date', '=', '2018-06-29').execute();
      await expect(readOfflineLatest(t.store, set.version, 'SYN01', undefined, '2018-07-02', undefined, signing)).rejects.toThrow('it carries no signature');
      // Bars imported without the key: the keyed step refuses them until they are signed (`mlp data sign-bars --accept-unsigned`).
      await expect(materializeFeatures(t.store, set, { recomputeAll: true, signing })).rejects.toThrow('mlp data sign-bars --accept-unsigned');
      await signStoredBars(t.store, signing, { acceptUnsigned: true });
      const report = await materializeFeatures(t.store, set, { recomputeAll: true, signing });
      // Every row was refused under the key (unsigned): written again as repaired, none removed.
      expect([report.rowsRecomputed, report.rowsRepaired, report.rowsWritten, report.removed]).toEqual([0, reference.length, 0, undefined]);
      expect(await storedRows(t)).toEqual(reference);
      const rows = await t.store.db.selectFrom('feature_rows').selectAll().where('version', '=', set.version).execute();
      expect(rows.filter((r) => featureRowSignatureProblem(signing.signingKey, r) !== undefined)).toEqual([]);
      const [row] = await readFeatureRows(t.store, set.version, { symbols: ['SYN01'], from: '2018-06-29' });
      expect((await readOfflineLatest(t.store, set.version, 'SYN01', undefined, '2018-07-02', undefined, signing))?.values).toEqual(Array.from(row.values));
    }
  });
});
