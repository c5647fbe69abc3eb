import BetterSqlite3 from 'better-sqlite3';
import { PredictionLogWriter, type PredictionLogEntry } from '../../lib/serving/prediction-log';
import { createSqliteTestDatabase, type TestDatabase } from '../helpers/databases';

/**
 * The worker-thread path of the prediction log (lib/serving/prediction-log-thread.ts), used on a
 * SQLite file store: what serving-prediction-log.test.ts does not already check for every driver.
 */
function entry(i: number, over: Partial<PredictionLogEntry> = {}): PredictionLogEntry {
  // ids not in append order, so the table's insertion order is not the ids' order
  const requestId = `req-${String((i * 7919) % 100_000).padStart(6, '0')}`;
  return {
    id: `${requestId}:champion`, requestId, model: 'direction-5d', version: 1, variant: 'champion', served: true, symbol: 'AAPL', routingKey: 'AAPL',
    asOf: '2026-01-02', probability: 0.6, predictedClass: 1, latencyUs: 120, error: null, createdAt: '2026-01-02T15:00:00.000Z', ...over,
  };
}

interface StoredRow {
  id: string;
  request_id: string;
  model: string;
  version: number;
  variant: string;
  symbol: string;
  routing_key: string;
  as_of: string;
  created_at: string;
  served: number;
  probability: number | null;
  predicted_class: number | null;
  latency_us: number;
  error: string | null;
  logged_at: number;
}

/** Rows in insertion (rowid) order, read through a connection of the test's own. */
function storedRows(t: TestDatabase): StoredRow[] {
  const db = new BetterSqlite3(t.url.slice('sqlite:'.length), { readonly: true });
  try {
    return db.prepare('select * from prediction_log order by rowid').all() as StoredRow[];
  } finally {
    db.close();
  }
}

describe('prediction log writer on a SQLite file (worker thread)', () => {
  let t: TestDatabase;
  let writer: PredictionLogWriter | undefined;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await writer?.close().catch(() => undefined);
    writer = undefined;
    await t?.drop();
  });

  it('stores every appended row in append order, each batch stamped with one logged_at, later batches not earlier', async () => {
    expect(t.store.sqlite?.memory).toBe(false);
    writer = new PredictionLogWriter(t.store, { flushMs: 10_000, batchRows: 100_000 });
    expect((writer as unknown as { thread?: unknown }).thread).toBeDefined(); // the path under test
    const before = Date.now();
    writer.append(Array.from({ length: 700 }, (_, i) => entry(i))); // two batches of the thread (500 rows per insert)
    await writer.flush();
    await new Promise((r) => setTimeout(r, 5));
    writer.append(Array.from({ length: 30 }, (_, i) => entry(700 + i)));
    await writer.close();
    const after = Date.now();

    const rows = storedRows(t);
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 730 }, (_, i) => entry(i).id));
    expect(writer.stats()).toEqual({ written: 730, dropped: 0, rejected: 0, failedFlushes: 0, queued: 0 });
    const stamps = rows.map((r) => Number(r.logged_at));
    expect(new Set(stamps.slice(0, 500)).size).toBe(1);
    expect(new Set(stamps.slice(500, 700)).size).toBe(1);
    expect(new Set(stamps.slice(700)).size).toBe(1);
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThanOrEqual(stamps[i - 1]);
    expect(stamps[729]).toBeGreaterThan(stamps[0]);
    // µs by the database's clock
    expect(stamps[0] / 1000).toBeGreaterThanOrEqual(before - 1000);
    expect(stamps[729] / 1000).toBeLessThanOrEqual(after + 1000);
  });

  it('stores the same rows as the calling-thread writer, every column in its place (nulls, booleans, rounded latency)', async () => {
    const variety = [
      entry(1),
      // a value in every column that no other column has, so columns bound out of place would show
      entry(4, { model: 'm-4', version: 7, variant: 'canary', id: 'req-4:canary', symbol: 'MSFT', routingKey: 'key-4', asOf: '2026-01-05', probability: 0.25, predictedClass: 0, latencyUs: 3, error: 'e-4', createdAt: '2026-01-05T15:00:00.000Z' }),
      entry(2, { served: false, variant: 'shadow', id: 'req-x:shadow', probability: null, predictedClass: null, error: 'model failed: "quoted" \u00e9', latencyUs: 12.6 }),
      entry(3, { latencyUs: 1e12, probability: 0 }),
      // numbers SQLite reads from the batch's JSON text must be the doubles sent, strings their characters
      entry(5, { probability: 1 / 3, error: 'line 1\nline 2\t\\ back \u2028 \ud83d\ude00 \u0000 end' }),
      entry(6, { probability: 0.1 + 0.2, version: 2147483647 }),
      entry(7, { probability: 1, predictedClass: 1 }),
      entry(8, { probability: 5e-324 }),
    ];
    writer = new PredictionLogWriter(t.store);
    writer.append(variety);
    await writer.close();
    const threaded = storedRows(t);

    const other = await createSqliteTestDatabase();
    try {
      const direct = new PredictionLogWriter(other.store, { thread: false });
      direct.append(variety);
      await direct.close();
      const fromCallingThread = storedRows(other);
      const withoutStamp = (rows: StoredRow[]) => rows.map(({ logged_at: _, ...rest }) => rest);
      expect(withoutStamp(threaded)).toEqual(withoutStamp(fromCallingThread));
      expect(threaded[1]).toMatchObject({
        id: 'req-4:canary', request_id: entry(4).requestId, model: 'm-4', version: 7, variant: 'canary', served: 1, symbol: 'MSFT', routing_key: 'key-4',
        as_of: '2026-01-05', probability: 0.25, predicted_class: 0, latency_us: 3, error: 'e-4', created_at: '2026-01-05T15:00:00.000Z',
      });
      expect(threaded[2]).toMatchObject({ served: 0, probability: null, predicted_class: null, latency_us: 13, error: 'model failed: "quoted" \u00e9' });
      expect(threaded[3].latency_us).toBe(2147483647);
      expect(threaded.slice(4).map((r) => [r.probability, r.error])).toEqual([
        [1 / 3, 'line 1\nline 2\t\\ back \u2028 \ud83d\ude00 \u0000 end'],
        [0.1 + 0.2, null],
        [1, null],
        [5e-324, null],
      ]);
      expect(threaded[5].version).toBe(2147483647);
    } finally {
      await other.drop();
    }
  });

  it('counts rows appended after close as dropped and writes nothing more', async () => {
    writer = new PredictionLogWriter(t.store, { flushMs: 5 });
    writer.append([entry(1), entry(2)]);
    await writer.close();
    writer.append([entry(3), entry(4), entry(5)]);
    expect(writer.stats()).toMatchObject({ written: 2, dropped: 3, queued: 0 });
    expect(writer.stats().lastError).toMatch(/appended after close were dropped/);
    await writer.flush();
    await new Promise((r) => setTimeout(r, 50));
    expect(storedRows(t).map((r) => r.id)).toEqual([entry(1).id, entry(2).id]);
  });

  it('flushes concurrently with the store connection of the process, and a second writer on the same file continues after the first closed', async () => {
    writer = new PredictionLogWriter(t.store, { flushMs: 5, batchRows: 50 });
    for (let i = 0; i < 200; i += 10) {
      writer.append(Array.from({ length: 10 }, (_, j) => entry(i + j)));
      // the process's own connection reads while the thread writes
      await t.store.db.selectFrom('prediction_log').select('id').limit(1).execute();
    }
    await writer.close();
    const second = new PredictionLogWriter(t.store);
    second.append([entry(200)]);
    await second.close();
    expect(storedRows(t).map((r) => r.id)).toEqual(Array.from({ length: 201 }, (_, i) => entry(i).id));
  });
});
