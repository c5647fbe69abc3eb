import fs from 'node:fs';
import path from 'node:path';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { defineFeatureSet } from '../../lib/features/feature-set';
import { materializeFeatures } from '../../lib/features/materialize';
import { generationIdOf, importBars, stageImport } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { judgeSnapshot } from '../../lib/ingest/judge';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { readBars, upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { declaredInstruments, getSnapshot } from '../../lib/store/snapshots';
import { listRevisions, revisedSince } from '../../lib/store/staging';
import { createSqliteTestDatabase, DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

/**
 * Content imported again after something changed its bars without a newer clock is a new snapshot
 * (a new generation) that restores them; after a newer version (a file first seen later, a live
 * correction), or with nothing in between, or a retried attempt, it is not.
 */
const request = (input: ImportRequestInput) => importRequestSchema.parse(input);
const DAYS = nyseTradingDaysBetween('2016-01-04', '2017-12-29').slice(0, 40);
const POLICY = { minHistoryBars: 1 };

/** A Stooq file per symbol (symbol from the name); `volumeAt` overrides the volume of some days. */
function writeFolder(symbols: readonly string[], volumeAt: Record<number, number> = {}): string {
  const dir = tempDir('mlp-gen-');
  for (const [k, symbol] of symbols.entries()) {
    const lines = DAYS.map((date, i) => {
      const close = 20 + k + Math.sin(i / 5);
      return `${date},${(close * 0.995).toFixed(4)},${(close * 1.01).toFixed(4)},${(close * 0.985).toFixed(4)},${close.toFixed(4)},${volumeAt[i] ?? 1000 + i}`;
    });
    fs.writeFileSync(path.join(dir, `${symbol.toLowerCase()}.us.csv`), `Date,Open,High,Low,Close,Volume\n${lines.join('\n')}\n`);
  }
  return dir;
}

async function snapshotIds(store: Database): Promise<string[]> {
  return (await store.db.selectFrom('dataset_snapshots').select('id').orderBy('id').execute()).map((r) => r.id);
}

describe.each(DRIVERS)('importing content again on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('re-importing A after B (first seen later) revised its bars leaves B\'s values and reports them superseded', async () => {
    const a = writeFolder(['AAPL']);
    const b = writeFolder(['AAPL'], { 5: 5555, 30: 7777 });
    const reqA = request({ source: { kind: 'csv', path: a }, quality: POLICY });
    const reqB = request({ source: { kind: 'csv', path: b }, quality: POLICY });

    const s1 = await importBars(t.store, reqA);
    const s2 = await importBars(t.store, reqB);
    expect((await getSnapshot(t.store, s2.snapshotId))?.barsRevised).toBe(2);
    const valuesOfB = await readBars(t.store);

    // A's bytes are older than B's versions of those bars: the same snapshot, nothing written.
    const before = await dumpStore(t.store);
    const s3 = await importBars(t.store, reqA);
    expect([s3.snapshotId, s3.status]).toEqual([s1.snapshotId, 'published']);
    expect(await readBars(t.store)).toEqual(valuesOfB);
    expect(await dumpStore(t.store)).toEqual(before);
    expect(s3.supersededStoredBars).toMatchObject({ rule: 'superseded_stored_bar', count: 2, bySymbol: { AAPL: 2 } });
    expect(s3.supersededStoredBars?.examples.map((e) => [e.date, e.stored.volume])).toEqual([
      [DAYS[5], 5555],
      [DAYS[30], 7777],
    ]);
    expect(await snapshotIds(t.store)).toHaveLength(2);
  });

  it('a retried attempt resumes the same new generation after a crash, and a retry after its publish publishes nothing again', async () => {
    const a = writeFolder(['AAPL', 'MSFT', 'NVDA']);
    const reqA = request({ source: { kind: 'csv', path: a }, quality: POLICY });
    const s1 = await importBars(t.store, reqA);
    // Revised outside any snapshot, without a time (a version the content's clock does not lose to).
    await upsertBars(t.store, (await readBars(t.store, { from: DAYS[12], to: DAYS[12] })).map((bar) => ({ ...bar, volume: 4242 })));

    // The attempt dies after staging one chunk of the next generation.
    await expect(
      stageImport(t.store, reqA, {
        chunkSize: 40,
        beforeStage: (k) => {
          if (k === 2) throw new Error('worker died');
        },
      }),
    ).rejects.toThrow('worker died');
    const next = generationIdOf(s1.snapshotId, 1);
    expect((await getSnapshot(t.store, next))?.status).toBe('staging');
    const resumed = await stageImport(t.store, reqA, { chunkSize: 40 });
    expect(resumed.snapshotId).toBe(next);
    expect([resumed.status, resumed.chunksResumed > 0, resumed.chunksStaged > 0]).toEqual(['staged', true, true]);
    // An ingest activity retried after staging finished (its completion lost) returns the staged snapshot.
    const again = await stageImport(t.store, reqA, { chunkSize: 40 });
    expect([again.snapshotId, again.status, again.chunksStaged]).toEqual([next, 'staged', 0]);
    const judged = await judgeSnapshot(t.store, next);
    expect(judged.published).toEqual({ added: 0, revised: 3, alreadyPublished: false });

    // A retry after the publish whose completion was lost: the same snapshot, nothing written.
    const before = await dumpStore(t.store);
    const retried = await importBars(t.store, reqA, { chunkSize: 40 });
    expect([retried.snapshotId, retried.status]).toEqual([next, 'published']);
    expect(await dumpStore(t.store)).toEqual(before);
  });

  it('keeps the published snapshot when later imports changed nothing of its bars, and restages when anything replaced them', async () => {
    const a = writeFolder(['AAPL']);
    const reqA = request({ source: { kind: 'csv', path: a }, quality: POLICY });
    const s1 = await importBars(t.store, reqA);
    // Another symbol, and other days of AAPL: nothing of A's bars changes.
    await importBars(t.store, request({ source: { kind: 'csv', path: writeFolder(['MSFT']) }, quality: POLICY }));
    const later = tempDir('mlp-gen-later-');
    fs.writeFileSync(path.join(later, 'aapl.us.csv'), 'Date,Open,High,Low,Close,Volume\n2018-01-02,20,21,19,20.5,100\n');
    await importBars(t.store, request({ source: { kind: 'csv', path: later }, quality: POLICY }));
    const before = await dumpStore(t.store);
    expect((await importBars(t.store, reqA)).snapshotId).toBe(s1.snapshotId);
    expect(await dumpStore(t.store)).toEqual(before);

    // A bar replaced outside any snapshot (as live bars are written): the store no longer holds A.
    const [bar] = await readBars(t.store, { symbols: ['AAPL'], from: DAYS[7], to: DAYS[7] });
    await upsertBars(t.store, [{ ...bar, close: bar.close + 0.01 }]);
    const restored = await importBars(t.store, reqA);
    expect(restored.snapshotId).toBe(generationIdOf(s1.snapshotId, 1));
    expect((await getSnapshot(t.store, restored.snapshotId))?.barsRevised).toBe(1);
    expect(await readBars(t.store, { symbols: ['AAPL'], from: DAYS[7], to: DAYS[7] })).toEqual([bar]);
    // Logged against the restoring snapshot, where incremental feature recomputation finds it.
    expect((await listRevisions(t.store, restored.snapshotId)).map((r) => [r.date, r.old.close, r.new?.close])).toEqual([[DAYS[7], bar.close + 0.01, bar.close]]);
    expect(await revisedSince(t.store, { snapshotId: restored.snapshotId })).toEqual(new Map([['AAPL', DAYS[7]]]));
  });

  it('a rejected import keeps its verdict when imported again, whatever the store holds', async () => {
    const dir = writeFolder(['AAPL']);
    const file = path.join(dir, 'aapl.us.csv');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines[3] = lines[3].replace(/,(\d+)$/, ',-5'); // one negative volume of 40 rows: 2.5% rejected
    fs.writeFileSync(file, lines.join('\n'));
    const req = request({ source: { kind: 'csv', path: dir }, quality: POLICY });
    const first = await importBars(t.store, req);
    expect(first.status).toBe('rejected');
    const before = await dumpStore(t.store);
    const second = await importBars(t.store, req);
    expect([second.snapshotId, second.status]).toEqual([first.snapshotId, 'rejected']);
    expect(await dumpStore(t.store)).toEqual(before);
  });
});

describe.each(DRIVERS)('what the snapshot id covers, on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('a corrected instruments declaration is a new snapshot whose declaration wins; key order does not matter', async () => {
    const dir = writeFolder(['SPY', 'QQQ']);
    const plain = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: POLICY }));
    const wrong = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: POLICY, instruments: { SPY: 'equity', QQQ: 'etf' } }));
    expect(wrong.snapshotId).not.toBe(plain.snapshotId);
    expect(await declaredInstruments(t.store)).toEqual({ SPY: 'equity', QQQ: 'etf' });
    const barsBefore = await readBars(t.store);

    const corrected = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: POLICY, instruments: { SPY: 'etf', QQQ: 'etf' } }));
    expect(corrected.snapshotId).not.toBe(wrong.snapshotId);
    expect(corrected.status).toBe('published');
    expect(await getSnapshot(t.store, corrected.snapshotId)).toMatchObject({ barsAdded: 0, barsRevised: 0 });
    expect(await declaredInstruments(t.store)).toEqual({ SPY: 'etf', QQQ: 'etf' });
    expect(await readBars(t.store)).toEqual(barsBefore);

    // The same declaration written in another order is the same snapshot.
    const reordered = await importBars(t.store, request({ source: { kind: 'csv', path: dir }, quality: POLICY, instruments: { QQQ: 'etf', SPY: 'etf' } }));
    expect(reordered.snapshotId).toBe(corrected.snapshotId);
    expect(await snapshotIds(t.store)).toHaveLength(3);
  });
});

describe('snapshot ids of requests without the newer fields', () => {
  it('are what they were before instruments joined the id', async () => {
    const t = await createSqliteTestDatabase();
    try {
      const dir = tempDir('mlp-gen-stable-');
      fs.writeFileSync(path.join(dir, 'aapl.us.csv'), 'Date,Open,High,Low,Close,Volume\n2017-01-03,10,11,9,10.5,1000\n2017-01-04,10.5,11.5,10,11,1200\n');
      const summary = await stageImport(t.store, request({ source: { kind: 'csv', path: dir } }));
      // Computed with the id rule before this change, for this content and request.
      expect(summary.snapshotId).toBe(STABLE_ID);
    } finally {
      await t.drop();
    }
  });
});

const STABLE_ID = 'ds-05d9219fde3293860e0573c1';

describe('a re-import that restores revised bars, seen by incremental features (SQLite)', () => {
  it('recomputes the restored rows equal to features computed on the restored bars from nothing', async () => {
    const set = defineFeatureSet({ name: 'restore-probe', features: [{ kind: 'return', horizon: 1 }, { kind: 'ema_ratio', window: 5 }] });
    const a = writeFolder(['AAPL', 'MSFT']);
    const [t, reference] = await Promise.all([createSqliteTestDatabase(), createSqliteTestDatabase()]);
    try {
      const cache = new MemoryCache();
      const reqA = request({ source: { kind: 'csv', path: a }, quality: POLICY });
      await importBars(t.store, reqA);
      await materializeFeatures(t.store, set, { cache });
      // One close moved within its day's range, outside any snapshot and without a time.
      const [moved] = await readBars(t.store, { symbols: ['AAPL'], from: DAYS[20], to: DAYS[20] });
      await upsertBars(t.store, [{ ...moved, close: Number((moved.close * 1.001).toFixed(4)) }]);
      await materializeFeatures(t.store, set, { cache });
      const restored = await importBars(t.store, reqA);
      expect((await getSnapshot(t.store, restored.snapshotId))?.barsRevised).toBe(1);
      const report = await materializeFeatures(t.store, set, { cache });
      expect(report.recomputedFrom).toBe(DAYS[20]);
      expect(report.rowsRecomputed).toBeGreaterThan(0);

      await importBars(reference.store, reqA);
      await materializeFeatures(reference.store, set);
      const rows = (s: Database) => s.db.selectFrom('feature_rows').select(['symbol', 'date', 'vals']).where('version', '=', set.version).orderBy('symbol').orderBy('date').execute();
      expect(await rows(t.store)).toEqual(await rows(reference.store));
    } finally {
      await Promise.all([t.drop(), reference.drop()]);
    }
  });
});
