import { PredictionLogWriter, predictionLogEntries, type PredictionLogEntry } from '../../lib/serving/prediction-log';
import type { Database } from '../../lib/store/database';
import { DRIVERS, type TestDatabase } from '../helpers/databases';
import { until } from '../helpers/until';

function entry(i: number, over: Partial<PredictionLogEntry> = {}): PredictionLogEntry {
  const requestId = `req-${String(i).padStart(6, '0')}`;
  return {
    id: `${requestId}:champion`, requestId, model: 'direction-5d', version: 1, variant: 'champion', served: true, symbol: 'AAPL', routingKey: 'AAPL',
    asOf: '2026-01-02', probability: 0.6, predictedClass: 1, latencyUs: 120, error: null, createdAt: '2026-01-02T15:00:00.000Z', ...over,
  };
}

async function loggedIds(store: Database): Promise<string[]> {
  return (await store.db.selectFrom('prediction_log').select('id').orderBy('id').execute()).map((r) => r.id);
}


/** Makes every insert fail for real (no such table) until restored. */
const breakTable = (store: Database) => store.db.schema.alterTable('prediction_log').renameTo('prediction_log_away').execute();
const restoreTable = (store: Database) => store.db.schema.alterTable('prediction_log_away').renameTo('prediction_log').execute();

describe.each(DRIVERS)('prediction log writer on %s', (_driver, create) => {
  let t: TestDatabase;
  let writer: PredictionLogWriter | undefined;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await writer?.close().catch(() => undefined);
    writer = undefined;
    await t?.drop();
  });

  it('writes every row exactly once, triggered by the timer and by the batch size', async () => {
    writer = new PredictionLogWriter(t.store, { flushMs: 20, batchRows: 100 });
    for (let i = 0; i < 1234; i += 7) writer.append(Array.from({ length: Math.min(7, 1234 - i) }, (_, j) => entry(i + j)));
    // Without any explicit flush, the batch size and the timer write everything.
    await until('1234 rows written', async () => (await loggedIds(t.store)).length === 1234);
    writer.append([entry(5000)]);
    await writer.close();
    const ids = await loggedIds(t.store);
    expect(ids).toHaveLength(1235);
    expect(new Set(ids).size).toBe(1235);
    expect(writer.stats()).toEqual({ written: 1235, dropped: 0, rejected: 0, failedFlushes: 0, queued: 0 });
    const row = await t.store.db.selectFrom('prediction_log').selectAll().where('id', '=', 'req-000003:champion').executeTakeFirstOrThrow();
    expect(row).toMatchObject({ request_id: 'req-000003', served: 1, probability: 0.6, predicted_class: 1, latency_us: 120, error: null });
    // Stamped with the database's clock (µs), which the deployment analyses fold rows by.
    expect(Math.abs(Number(row.logged_at) / 1000 - Date.now())).toBeLessThan(60_000);
  });

  it('keeps rows queued when a flush fails and writes them once when the store is back', async () => {
    writer = new PredictionLogWriter(t.store, { flushMs: 20, batchRows: 1000 });
    await breakTable(t.store); // before appending, so the timer cannot write them first
    writer.append(Array.from({ length: 300 }, (_, i) => entry(i)));
    // Not toThrow(): better-sqlite3's errors may come from another jest realm and fail its Error check.
    await expect(writer.flush()).rejects.toHaveProperty('message', expect.stringMatching(/prediction_log/));
    expect(writer.stats()).toMatchObject({ written: 0, queued: 300, dropped: 0 });
    expect(writer.stats().failedFlushes).toBeGreaterThanOrEqual(1);
    expect(writer.stats().lastError).toMatch(/prediction log flush failed/);
    writer.append(Array.from({ length: 50 }, (_, i) => entry(300 + i)));
    await restoreTable(t.store);
    // The retry timer (with backoff) writes them; no explicit flush.
    await until('350 rows written', () => writer!.stats().written === 350);
    expect(await loggedIds(t.store)).toEqual(Array.from({ length: 350 }, (_, i) => entry(i).id));
    expect(writer.stats().queued).toBe(0);
  });

  it('does not fail on rows a previous attempt already committed, and keeps the first copy', async () => {
    writer = new PredictionLogWriter(t.store);
    writer.append([entry(1), entry(2)]);
    await writer.flush();
    writer.append([entry(2, { probability: 0.1 }), entry(3)]);
    await writer.flush();
    expect(await loggedIds(t.store)).toEqual([entry(1).id, entry(2).id, entry(3).id]);
    const two = await t.store.db.selectFrom('prediction_log').select('probability').where('id', '=', entry(2).id).executeTakeFirstOrThrow();
    expect(two.probability).toBe(0.6);
    expect(writer.stats().failedFlushes).toBe(0);
  });

  it('drops the oldest rows beyond maxQueued, counting them, and rejects rows that do not fit the table', async () => {
    writer = new PredictionLogWriter(t.store, { flushMs: 10_000, maxQueued: 100 });
    writer.append(Array.from({ length: 150 }, (_, i) => entry(i)));
    writer.append([entry(999, { routingKey: 'k'.repeat(129) }), entry(998, { probability: NaN })]);
    expect(writer.stats()).toMatchObject({ queued: 100, dropped: 50, rejected: 2 });
    await writer.flush();
    expect(await loggedIds(t.store)).toEqual(Array.from({ length: 100 }, (_, i) => entry(50 + i).id));
  });

  it('counts rows it could not write before close as dropped, and says so', async () => {
    writer = new PredictionLogWriter(t.store, { flushMs: 5, maxBackoffMs: 10 });
    await breakTable(t.store);
    writer.append([entry(1), entry(2)]);
    await expect(writer.close()).rejects.toThrow(/2 rows could not be written before close/);
    expect(writer.stats()).toMatchObject({ written: 0, dropped: 2, queued: 0 });
    await restoreTable(t.store);
  });

  it('builds the rows of a request: the served prediction and the unserved ones', () => {
    const rows = predictionLogEntries(
      { requestId: 'r1', model: 'direction-5d', symbol: 'MSFT', routingKey: 'client-7', asOf: '2026-01-02', createdAt: '2026-01-02T15:00:00.000Z' },
      {
        served: { variant: 'canary', version: 2, probability: 0.7, predictedClass: 1, latencyMicros: 90 },
        unserved: [{ variant: 'champion', version: 1, probability: null, predictedClass: null, latencyMicros: 5, error: 'boom' }],
      },
    );
    expect(rows.map((r) => [r.id, r.served, r.version, r.probability, r.latencyUs, r.error])).toEqual([
      ['r1:canary', true, 2, 0.7, 90, null],
      ['r1:champion', false, 1, null, 5, 'boom'],
    ]);
  });
});
