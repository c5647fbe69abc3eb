import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Bar } from '../market-data/bar';
import type { QualityReport } from '../quality/report';
import type { Database } from './database';
import { upsertBarsIn } from './bars';
import type { BarRevisionsTable, DatabaseSchema } from './schema';
import type { DatasetSnapshot, SnapshotStatus } from './snapshots';

/**
 * The life of an import: its accepted bars are staged per snapshot, the gate judges the snapshot,
 * and only a passed snapshot is published into `bars`, in one transaction, with the replaced values
 * kept in `bar_revisions`. A rejected snapshot leaves `bars` untouched and its staging rows go.
 */

/** The attempt no longer holds the snapshot: a newer attempt took it over, or it was finished. */
export class SupersededAttemptError extends Error {
  override name = 'SupersededAttemptError';
}


export interface StagingStart {
  /** The fence: only writes that carry this token are accepted for the snapshot. */
  token: string;
  status: SnapshotStatus;
  /** Chunks an earlier attempt staged, with their reports: skipped, never staged again. */
  doneChunks: Map<number, QualityReport>;
}

export interface SnapshotOrigin {
  id: string;
  contentHash: string;
  source: unknown;
}

/**
 * Opens (or takes over) the staging of a snapshot for this attempt. A snapshot that already finished
 * staging is returned as it is, with no token to write with.
 */
export async function beginStaging(store: Database, origin: SnapshotOrigin): Promise<StagingStart> {
  const token = randomUUID();
  await store.db
    .insertInto('dataset_snapshots')
    .ignore()
    .values({
      id: origin.id,
      content_hash: origin.contentHash,
      source: JSON.stringify(origin.source),
      symbols: '[]',
      symbol_count: 0,
      first_date: null,
      last_date: null,
      rows_read: 0,
      row_count: 0,
      rejected_count: 0,
      flagged_count: 0,
      quality_report: '{}',
      status: 'staging',
      status_reason: null,
      created_at: new Date().toISOString(),
      attempt_token: token,
      published_at: null,
      bars_added: null,
      bars_revised: null,
    })
    .execute();
  // Taking the token is what stops an earlier attempt still running: its next write finds another.
  await store.db.updateTable('dataset_snapshots').set({ attempt_token: token }).where('id', '=', origin.id).where('status', '=', 'staging').execute();
  const row = await store.db.selectFrom('dataset_snapshots').select(['status', 'attempt_token']).where('id', '=', origin.id).executeTakeFirstOrThrow();
  const doneChunks = new Map<number, QualityReport>();
  if (row.status === 'staging') {
    const chunks = await store.db.selectFrom('staged_chunks').select(['chunk', 'report']).where('snapshot_id', '=', origin.id).execute();
    for (const c of chunks) doneChunks.set(Number(c.chunk), JSON.parse(c.report) as QualityReport);
  }
  return { token, status: row.status, doneChunks };
}

/** How long a snapshot may sit in `staging` with no chunk staged before its staging rows are swept. */
export const ABANDONED_STAGING_MS = 24 * 3600 * 1000;

/**
 * Frees the staging rows of imports that were given up (every attempt failed, the worker was
 * retired): snapshots still `staging` that neither started nor staged a chunk within `olderThanMs`.
 * Staged rows were never published, so nothing readers see changes; the snapshot keeps its record,
 * with the reason, and the same content imported again starts afresh. The token is cleared, so an
 * attempt that is somehow still running writes nothing more. Returns the ids swept.
 */
export async function sweepAbandonedStaging(store: Database, options: { olderThanMs?: number; now?: Date; except?: string } = {}): Promise<string[]> {
  const cutoff = new Date((options.now ?? new Date()).getTime() - (options.olderThanMs ?? ABANDONED_STAGING_MS)).toISOString();
  let q = store.db
    .selectFrom('dataset_snapshots as s')
    .select('s.id')
    .where('s.status', '=', 'staging')
    .where('s.created_at', '<', cutoff)
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('staged_chunks as c').select('c.chunk').whereRef('c.snapshot_id', '=', 's.id').where('c.staged_at', '>=', cutoff))));
  if (options.except) q = q.where('s.id', '<>', options.except);
  const swept: string[] = [];
  for (const { id } of await q.execute()) {
    const done = await store.db.transaction().execute(async (tx) => {
      const row = await lockSnapshot(store, tx, id);
      if (row?.status !== 'staging') return false;
      await dropStaging(tx, id);
      await tx.updateTable('dataset_snapshots').set({ attempt_token: null, status_reason: `abandoned: no chunk staged since ${cutoff}; staging rows removed, importing the same content again starts afresh` }).where('id', '=', id).execute();
      return true;
    });
    if (done) swept.push(id);
  }
  return swept;
}

/** Runs `work` in one transaction that first checks, under a row lock, that `token` still holds the snapshot. */
async function fenced<T>(store: Database, snapshotId: string, token: string, work: (tx: Transaction<DatabaseSchema>) => Promise<T>): Promise<T> {
  return store.db.transaction().execute(async (tx) => {
    let q = tx.selectFrom('dataset_snapshots').select(['status', 'attempt_token']).where('id', '=', snapshotId);
    // SQLite's BEGIN IMMEDIATE already holds the write lock; MySQL needs the row lock.
    if (store.driver === 'mysql') q = q.forUpdate();
    const row = await q.executeTakeFirst();
    if (!row || row.status !== 'staging' || row.attempt_token !== token) {
      throw new SupersededAttemptError(`import attempt for snapshot ${snapshotId} was superseded (snapshot is ${row?.status ?? 'gone'}); this attempt writes nothing more`);
    }
    return work(tx);
  });
}

/**
 * A chunk's accepted bars as staged: columnar JSON in the chunk's own row (numbers round-trip
 * exactly). One row per chunk instead of one per bar halves the rows an import writes: on MariaDB a
 * row per bar, copied and deleted again at publish, made imports over 50% slower than writing
 * `bars` directly.
 */
interface StagedBars {
  symbol: string[];
  date: string[];
  open: number[];
  high: number[];
  low: number[];
  close: number[];
  volume: number[];
}

function encodeStagedBars(bars: readonly Bar[]): string {
  const out: StagedBars = { symbol: [], date: [], open: [], high: [], low: [], close: [], volume: [] };
  for (const b of bars) {
    out.symbol.push(b.symbol);
    out.date.push(b.date);
    out.open.push(b.open);
    out.high.push(b.high);
    out.low.push(b.low);
    out.close.push(b.close);
    out.volume.push(b.volume);
  }
  return JSON.stringify(out);
}

function decodeStagedBars(text: string): Bar[] {
  const c = JSON.parse(text) as StagedBars;
  return c.symbol.map((symbol, i) => ({ symbol, date: c.date[i], open: c.open[i], high: c.high[i], low: c.low[i], close: c.close[i], volume: c.volume[i] }));
}

/** Stages one chunk's bars and records the chunk as done, all or nothing, if the attempt still holds the snapshot. */
export async function stageChunk(store: Database, snapshotId: string, token: string, chunk: number, bars: readonly Bar[], report: QualityReport): Promise<void> {
  await fenced(store, snapshotId, token, async (tx) => {
    await tx
      .insertInto('staged_chunks')
      .values({ snapshot_id: snapshotId, chunk, rows: bars.length, report: JSON.stringify(report), attempt_token: token, staged_at: new Date().toISOString(), bars: encodeStagedBars(bars) })
      .execute();
  });
}

/** What staging records on the snapshot once every chunk is staged. */
export type StagedRecord = Pick<DatasetSnapshot, 'source' | 'symbols' | 'firstDate' | 'lastDate' | 'rowsRead' | 'rowCount' | 'rejectedCount' | 'flaggedCount' | 'qualityReport'>;

/** Records the whole snapshot's report and marks it staged (ready for the gate). */
export async function finishStaging(store: Database, snapshotId: string, token: string, r: StagedRecord): Promise<void> {
  await fenced(store, snapshotId, token, async (tx) => {
    await tx
      .updateTable('dataset_snapshots')
      .set({
        source: JSON.stringify(r.source),
        symbols: JSON.stringify(r.symbols),
        symbol_count: r.symbols.length,
        first_date: r.firstDate,
        last_date: r.lastDate,
        rows_read: r.rowsRead,
        row_count: r.rowCount,
        rejected_count: r.rejectedCount,
        flagged_count: r.flaggedCount,
        quality_report: JSON.stringify(r.qualityReport),
        status: 'staged',
        attempt_token: null,
      })
      .where('id', '=', snapshotId)
      .execute();
  });
}

export async function countStagedBars(store: Database, snapshotId?: string): Promise<number> {
  let q = store.db.selectFrom('staged_chunks').select((eb) => eb.fn.sum<number | string | null>('rows').as('n'));
  if (snapshotId) q = q.where('snapshot_id', '=', snapshotId);
  return Number((await q.executeTakeFirstOrThrow()).n ?? 0);
}

async function lockSnapshot(store: Database, tx: Transaction<DatabaseSchema>, id: string) {
  let q = tx.selectFrom('dataset_snapshots').select(['status', 'bars_added', 'bars_revised']).where('id', '=', id);
  if (store.driver === 'mysql') q = q.forUpdate();
  return q.executeTakeFirst();
}

async function dropStaging(tx: Transaction<DatabaseSchema>, id: string): Promise<void> {
  await tx.deleteFrom('staged_chunks').where('snapshot_id', '=', id).execute();
}

export interface PublishResult {
  added: number;
  revised: number;
  /** The snapshot was published before: this call changed nothing. */
  alreadyPublished: boolean;
}

const FIELDS = ['open', 'high', 'low', 'close', 'volume'] as const;

// 14 parameters per revision row: 500 rows stay under SQLite's and MySQL's placeholder limits.
const REVISIONS_PER_STATEMENT = 500;
// Symbols per lookup of the bars a chunk may replace.
const SYMBOLS_PER_LOOKUP = 500;

type BarValues = Omit<Bar, 'symbol' | 'date'>;

/**
 * The stored values of the bars that `bars` may replace: their symbols, within their dates, keyed
 * by symbol and date.
 */
async function storedValuesFor(db: Kysely<DatabaseSchema>, bars: readonly Bar[]): Promise<Map<string, BarValues>> {
  const stored = new Map<string, BarValues>();
  if (bars.length === 0) return stored;
  const symbols = [...new Set(bars.map((b) => b.symbol))];
  let from = bars[0].date;
  let to = bars[0].date;
  for (const b of bars) {
    if (b.date < from) from = b.date;
    if (b.date > to) to = b.date;
  }
  for (let i = 0; i < symbols.length; i += SYMBOLS_PER_LOOKUP) {
    const rows = await db
      .selectFrom('bars')
      .select(['symbol', 'date', ...FIELDS])
      .where('symbol', 'in', symbols.slice(i, i + SYMBOLS_PER_LOOKUP))
      .where('date', '>=', from)
      .where('date', '<=', to)
      .execute();
    for (const r of rows) stored.set(`${r.symbol}\u0000${r.date}`, { open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close), volume: Number(r.volume) });
  }
  return stored;
}

/**
 * Whether a new bar changes a stored one: any value not the same double. Values are stored and read
 * back bit for bit on both drivers (see `exactDoubles` in database.ts), so re-publishing equal
 * values is never a revision and a change in the last bit always is.
 */
function revises(old: BarValues, b: BarValues): boolean {
  return FIELDS.some((f) => old[f] !== b[f]);
}

/**
 * Whether the published store holds every one of `bars` with exactly these values, i.e. publishing
 * them would add and revise nothing. The importer asks it before handing back a published snapshot
 * for content imported again (lib/ingest/import-bars.ts).
 */
export async function storeHoldsBars(store: Database, bars: readonly Bar[]): Promise<boolean> {
  const stored = await storedValuesFor(store.db, bars);
  return bars.every((b) => {
    const old = stored.get(`${b.symbol}\u0000${b.date}`);
    return old !== undefined && !revises(old, b);
  });
}

/**
 * Publishes one chunk's bars: looks up the stored bars they may replace (their symbols, within the
 * chunk's dates), logs the old and new values of every bar that changes, and upserts the changed and
 * new bars. Bars equal to the stored ones are not written at all.
 */
async function publishBars(store: Database, tx: Transaction<DatabaseSchema>, snapshotId: string, bars: readonly Bar[], now: string): Promise<{ added: number; revised: number }> {
  if (bars.length === 0) return { added: 0, revised: 0 };
  const stored = await storedValuesFor(tx, bars);
  const writes: Bar[] = [];
  const revisions: BarRevisionsTable[] = [];
  let added = 0;
  for (const b of bars) {
    const old = stored.get(`${b.symbol}\u0000${b.date}`);
    if (!old) {
      added++;
      writes.push(b);
    } else if (revises(old, b)) {
      writes.push(b);
      revisions.push({
        snapshot_id: snapshotId, symbol: b.symbol, date: b.date,
        old_open: old.open, old_high: old.high, old_low: old.low, old_close: old.close, old_volume: old.volume,
        new_open: b.open, new_high: b.high, new_low: b.low, new_close: b.close, new_volume: b.volume,
        published_at: now,
      });
    }
  }
  // The old values go to the log before the bars change, in the same transaction.
  for (let i = 0; i < revisions.length; i += REVISIONS_PER_STATEMENT) await tx.insertInto('bar_revisions').values(revisions.slice(i, i + REVISIONS_PER_STATEMENT)).execute();
  await upsertBarsIn(tx, store.driver, writes);
  return { added, revised: revisions.length };
}

/**
 * Publishes a passed snapshot into `bars` in one transaction, chunk by chunk: the old values of
 * every bar it changes go to `bar_revisions` first, then changed and new bars are written.
 * Publishing a published snapshot again changes nothing.
 */
export async function publishSnapshot(store: Database, id: string): Promise<PublishResult> {
  return store.db.transaction().execute(async (tx) => {
    const row = await lockSnapshot(store, tx, id);
    if (!row) throw new Error(`No snapshot ${id} to publish`);
    if (row.status === 'published') return { added: Number(row.bars_added ?? 0), revised: Number(row.bars_revised ?? 0), alreadyPublished: true };
    if (row.status !== 'passed') throw new Error(`Snapshot ${id} is ${row.status}; only a snapshot that passed the quality gate is published`);
    const now = new Date().toISOString();
    let added = 0;
    let revisedCount = 0;
    const chunks = await tx.selectFrom('staged_chunks').select('chunk').where('snapshot_id', '=', id).orderBy('chunk').execute();
    // One chunk in memory at a time, all in this one transaction.
    for (const { chunk } of chunks) {
      const staged = await tx.selectFrom('staged_chunks').select('bars').where('snapshot_id', '=', id).where('chunk', '=', chunk).executeTakeFirstOrThrow();
      const result = await publishBars(store, tx, id, decodeStagedBars(staged.bars), now);
      added += result.added;
      revisedCount += result.revised;
    }
    await tx
      .updateTable('dataset_snapshots')
      .set({ status: 'published', status_reason: null, published_at: now, bars_added: added, bars_revised: revisedCount, attempt_token: null })
      .where('id', '=', id)
      .execute();
    await dropStaging(tx, id);
    return { added, revised: revisedCount, alreadyPublished: false };
  });
}

/** Marks a snapshot rejected with its reason and deletes its staging rows; `bars` is not touched. */
export async function rejectSnapshot(store: Database, id: string, reason: string): Promise<void> {
  await store.db.transaction().execute(async (tx) => {
    const row = await lockSnapshot(store, tx, id);
    if (!row) throw new Error(`No snapshot ${id} to reject`);
    if (row.status === 'published') throw new Error(`Snapshot ${id} is already published; it cannot be rejected`);
    await tx.updateTable('dataset_snapshots').set({ status: 'rejected', status_reason: reason, attempt_token: null }).where('id', '=', id).execute();
    await dropStaging(tx, id);
  });
}

export interface BarRevision {
  snapshotId: string;
  symbol: string;
  date: string;
  old: Omit<Bar, 'symbol' | 'date'>;
  new: Omit<Bar, 'symbol' | 'date'>;
  publishedAt: string;
}

/** Revisions a publish made, by symbol then date. */
export async function listRevisions(store: Database, snapshotId: string, limit = 20): Promise<BarRevision[]> {
  const rows = await store.db.selectFrom('bar_revisions').selectAll().where('snapshot_id', '=', snapshotId).orderBy('symbol').orderBy('date').limit(limit).execute();
  return rows.map((r) => ({
    snapshotId: r.snapshot_id,
    symbol: r.symbol,
    date: r.date,
    old: { open: Number(r.old_open), high: Number(r.old_high), low: Number(r.old_low), close: Number(r.old_close), volume: Number(r.old_volume) },
    new: { open: Number(r.new_open), high: Number(r.new_high), low: Number(r.new_low), close: Number(r.new_close), volume: Number(r.new_volume) },
    publishedAt: r.published_at,
  }));
}

export type RevisionScope = { snapshotId: string } | { since: string };

/**
 * The earliest revised date per symbol, for one publish (`snapshotId`) or for every publish at or
 * after `since` (ISO timestamp): features from that date on were computed from replaced values.
 */
export async function revisedSince(store: Database, scope: RevisionScope): Promise<Map<string, string>> {
  let q = store.db.selectFrom('bar_revisions').select(['symbol', (eb) => eb.fn.min<string>('date').as('first')]);
  q = 'snapshotId' in scope ? q.where('snapshot_id', '=', scope.snapshotId) : q.where('published_at', '>=', scope.since);
  const rows = await q.groupBy('symbol').orderBy('symbol').execute();
  return new Map(rows.map((r) => [r.symbol, r.first]));
}
