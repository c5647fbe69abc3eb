import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Bar } from '../market-data/bar';
import type { QualityReport } from '../quality/report';
import type { QualityIssue } from '../quality/rules-catalog';
import type { Database } from './database';
import { upsertBarsIn } from './bars';
import { quarantineRow } from './quarantine';
import type { BarRevisionsTable, DatabaseSchema } from './schema';
import type { DatasetSnapshot, SnapshotStatus } from './snapshots';

/**
 * The life of an import: its accepted bars are staged per snapshot, the gate judges the snapshot,
 * and only a passed snapshot is published into `bars`, in one transaction, with the replaced values
 * kept in `bar_revisions`. A publish never removes or changes a stored bar the snapshot does not
 * accept: the stored bars, within each symbol's dates in the snapshot, that it rejected or no longer
 * contains (unconfirmed stored bars) are kept as stored and reported in the snapshot's quality
 * report. A rejected snapshot leaves `bars` untouched and its staging rows go.
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
  /** The chunk's coverage (see SnapshotCoverage); absent in chunks staged before it was recorded. */
  covers?: { symbol: string[]; from: string[]; to: string[] };
  rejected?: { symbol: string[]; date: string[]; rule: string[] };
  /** Per symbol, the clock of its content (SnapshotCoverage.contentAt); absent in chunks staged before it was recorded. */
  contentAt?: { symbol: string[]; at: string[] };
  /** Each bar's line in its file (null when unknown), for the findings of the judging rules; absent in chunks staged before it was recorded. */
  line?: Array<number | null>;
}

/**
 * What a snapshot says about the stored bars of its symbols, beyond the bars it accepts. Within a
 * symbol's range (the first to the last date of its rows in the snapshot: accepted rows, and rows
 * rejected with a valid symbol and date), the snapshot is the vendor's whole account of that
 * symbol: a stored bar there that it does not accept (it rejected the row, or has no row for the
 * date) is not confirmed by it. The publish keeps such a bar as stored (bad input never loses or
 * changes what is stored; a file that drops a day or garbles a row is more often a glitch than a
 * correction) and reports it (UnconfirmedStoredBars).
 */
export interface SnapshotCoverage {
  ranges: Map<string, { from: string; to: string }>;
  /** Rows rejected with a valid symbol and date, keyed by symbol and date: the rule. */
  rejected: Map<string, string>;
  /**
   * Per symbol, the clock of the content its bars come from (ISO, as bars.event_time): when those
   * bytes were first seen, or the provider body fetched (lib/ingest/import-bars.ts fileClocksOf).
   * The publish stamps the bars with it and leaves a stored version newer than it (supersededBy).
   * A symbol without one (chunks staged before it was recorded) counts as of the publish.
   */
  contentAt?: Map<string, string>;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
/**
 * Rejections that say nothing against the stored bar of their symbol and date: the row was judged
 * by the import's clock, not by what the vendor wrote (`future_date`, `session_not_closed`: too
 * early, not wrong: lib/ingest/import-bars.ts judgingClockOf), or its
 * symbol or date is not known (`out_of_order_date`: a mistyped date, which neither widens its
 * symbol's range nor contradicts the stored bar of the date it names).
 */
const NOT_ABOUT_A_STORED_BAR = new Set<string>(['future_date', 'session_not_closed', 'invalid_symbol', 'missing_symbol', 'invalid_date', 'out_of_order_date', 'empty_input', 'bad_header', 'bad_encoding']);

const key = (symbol: string, date: string): string => `${symbol}\u0000${date}`;

/** The coverage of checked rows: the accepted bars and the findings of one chunk (or a whole import). */
export function coverageOf(accepted: readonly Bar[], issues: ReadonlyArray<Pick<QualityIssue, 'rule' | 'severity' | 'symbol' | 'date'>>): SnapshotCoverage {
  const ranges = new Map<string, { from: string; to: string }>();
  const widen = (symbol: string, date: string): void => {
    const r = ranges.get(symbol);
    if (!r) ranges.set(symbol, { from: date, to: date });
    else if (date < r.from) r.from = date;
    else if (date > r.to) r.to = date;
  };
  for (const b of accepted) widen(b.symbol, b.date);
  const rejected = new Map<string, string>();
  for (const i of issues) {
    if (i.severity !== 'reject' || i.symbol === null || i.date === null || NOT_ABOUT_A_STORED_BAR.has(i.rule) || !ISO_DATE.test(i.date)) continue;
    widen(i.symbol, i.date);
    if (!rejected.has(key(i.symbol, i.date))) rejected.set(key(i.symbol, i.date), i.rule);
  }
  return { ranges, rejected };
}

function encodeStagedBars(bars: readonly Bar[], coverage: SnapshotCoverage | undefined, lines?: StagedLines): string {
  const out: StagedBars = { symbol: [], date: [], open: [], high: [], low: [], close: [], volume: [] };
  if (lines && lines.size > 0) out.line = bars.map((b) => lines.get(key(b.symbol, b.date)) ?? null);
  for (const b of bars) {
    out.symbol.push(b.symbol);
    out.date.push(b.date);
    out.open.push(b.open);
    out.high.push(b.high);
    out.low.push(b.low);
    out.close.push(b.close);
    out.volume.push(b.volume);
  }
  if (coverage) {
    const covers: NonNullable<StagedBars['covers']> = { symbol: [], from: [], to: [] };
    for (const [symbol, r] of coverage.ranges) {
      covers.symbol.push(symbol);
      covers.from.push(r.from);
      covers.to.push(r.to);
    }
    const rejected: NonNullable<StagedBars['rejected']> = { symbol: [], date: [], rule: [] };
    for (const [k, rule] of coverage.rejected) {
      const [symbol, date] = k.split('\u0000');
      rejected.symbol.push(symbol);
      rejected.date.push(date);
      rejected.rule.push(rule);
    }
    out.covers = covers;
    out.rejected = rejected;
    if (coverage.contentAt) {
      const contentAt: NonNullable<StagedBars['contentAt']> = { symbol: [], at: [] };
      for (const [symbol, at] of coverage.contentAt) {
        contentAt.symbol.push(symbol);
        contentAt.at.push(at);
      }
      out.contentAt = contentAt;
    }
  }
  return JSON.stringify(out);
}

function decodeStagedBars(text: string): { bars: Bar[]; coverage: SnapshotCoverage; lines: StagedLines } {
  const c = JSON.parse(text) as StagedBars;
  const bars = c.symbol.map((symbol, i) => ({ symbol, date: c.date[i], open: c.open[i], high: c.high[i], low: c.low[i], close: c.close[i], volume: c.volume[i] }));
  const lines: Map<string, number> = new Map();
  if (c.line) for (const [i, line] of c.line.entries()) if (line !== null) lines.set(key(c.symbol[i], c.date[i]), line);
  // A chunk staged before coverage was recorded covers the range of its accepted bars.
  if (!c.covers) return { bars, coverage: coverageOf(bars, []), lines };
  const ranges = new Map(c.covers.symbol.map((symbol, i) => [symbol, { from: c.covers!.from[i], to: c.covers!.to[i] }] as const));
  const rejected = new Map((c.rejected?.symbol ?? []).map((symbol, i) => [key(symbol, c.rejected!.date[i]), c.rejected!.rule[i]] as const));
  const contentAt = c.contentAt ? new Map(c.contentAt.symbol.map((symbol, i) => [symbol, c.contentAt!.at[i]] as const)) : undefined;
  return { bars, coverage: { ranges, rejected, ...(contentAt ? { contentAt } : {}) }, lines };
}

/** The line in its file of a staged bar, by `symbol\u0000date` (stagedLineKey). */
export type StagedLines = ReadonlyMap<string, number>;
export const stagedLineKey = key;

/** A staged chunk as read: its bars and coverage, and the chunk without some of its bars (readStagedChunk). */
export interface StagedChunk {
  bars: Bar[];
  coverage: SnapshotCoverage;
  /** The bars' lines in their files, where recorded (stagedLineKey). */
  lines: StagedLines;
  /**
   * The chunk's document without the `dropped` bars (per symbol, date → the rule that rejects it):
   * they join its rejected rows with their rule, unless a row of that symbol and date is recorded
   * rejected already, and its coverage still covers them, so the publish keeps their stored bars and
   * reports them unconfirmed. With the number of bars left (the chunk's `rows`).
   */
  without(dropped: ReadonlyMap<string, ReadonlyMap<string, string>>): { text: string; rows: number };
}

/**
 * Reads a staged chunk's document (`staged_chunks.bars`): the one place besides staging and
 * publishing that knows its layout, for lib/ingest/judge.ts, which reads every chunk when it judges
 * a snapshot and writes back the chunks the judging rules took bars out of.
 */
export function readStagedChunk(text: string): StagedChunk {
  const { bars, coverage, lines } = decodeStagedBars(text);
  return {
    bars,
    coverage,
    lines,
    without(dropped) {
      const kept = bars.filter((b) => !dropped.get(b.symbol)?.has(b.date));
      const rejected = new Map(coverage.rejected);
      for (const b of bars) {
        const rule = dropped.get(b.symbol)?.get(b.date);
        if (rule !== undefined && !rejected.has(key(b.symbol, b.date))) rejected.set(key(b.symbol, b.date), rule);
      }
      return { text: encodeStagedBars(kept, { ...coverage, rejected }, lines), rows: kept.length };
    },
  };
}

/**
 * Stages one chunk's bars and records the chunk as done, all or nothing, if the attempt still holds
 * the snapshot. `coverage` (of the chunk's rows, see coverageOf) says which stored bars the publish
 * finds unconfirmed; without it, the range of the chunk's bars. `lines`: the bars' lines in their
 * files (stagedLineKey), which the judging rules' findings name (a series rejected whole lists each row at its line).
 */
export async function stageChunk(store: Database, snapshotId: string, token: string, chunk: number, bars: readonly Bar[], report: QualityReport, coverage?: SnapshotCoverage, lines?: StagedLines): Promise<void> {
  await fenced(store, snapshotId, token, async (tx) => {
    await tx
      .insertInto('staged_chunks')
      .values({ snapshot_id: snapshotId, chunk, rows: bars.length, report: JSON.stringify(report), attempt_token: token, staged_at: new Date().toISOString(), bars: encodeStagedBars(bars, coverage, lines) })
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
  let q = tx.selectFrom('dataset_snapshots').select(['status', 'bars_added', 'bars_revised', 'quality_report']).where('id', '=', id);
  if (store.driver === 'mysql') q = q.forUpdate();
  return q.executeTakeFirst();
}

async function dropStaging(tx: Transaction<DatabaseSchema>, id: string): Promise<void> {
  await tx.deleteFrom('staged_chunks').where('snapshot_id', '=', id).execute();
}

/** A stored bar the snapshot does not confirm: `rejected` names the rule that rejected the snapshot's row for it; `absent`: the snapshot has no row for it. */
export interface UnconfirmedStoredBar {
  symbol: string;
  date: string;
  why: 'rejected' | 'absent';
  rule?: string;
  /** The values stored (and kept). */
  stored: BarValues;
}

/**
 * Stored bars that a publish found unconfirmed (rule `unconfirmed_stored_bar`): within a symbol's
 * dates in the snapshot, the snapshot rejected them or no longer contains them. The publish keeps
 * every one of them as stored (nothing deleted, nothing in `bar_revisions`) and records this
 * finding in the snapshot's quality report (`unconfirmedStoredBars`), so an operator sees that the
 * store holds values the newer file contradicts or lacks. To correct such a bar, import a file whose
 * row for it is accepted with the new values: a revision, as any other.
 */
export interface UnconfirmedStoredBars {
  rule: 'unconfirmed_stored_bar';
  /** How many stored bars are unconfirmed (all kept). */
  count: number;
  /** Per symbol, how many. */
  bySymbol: Record<string, number>;
  /** The first few (up to 10), by chunk, then symbol and date. */
  examples: UnconfirmedStoredBar[];
}

/** A stored bar whose version is newer (by event_time) than the content of the snapshot's bar for it, kept as stored. */
export interface SupersededStoredBar {
  symbol: string;
  date: string;
  /** The values stored (and kept). */
  stored: BarValues;
  /** The stored version's event_time (a live correction's, or a newer file's clock). */
  storedAt: string;
  /** The clock of the snapshot's content for the bar (when its bytes were first seen or fetched). */
  contentAt: string;
}

/**
 * Stored bars a publish left because their version is newer than the snapshot's content (rule
 * `superseded_stored_bar`): the same file, or a cached provider body, imported again after a live
 * correction or a newer file revised its bars reverted them (and features were recomputed from the
 * reverted bars on every scheduled retrain from a folder nobody updated). Bytes first seen after
 * the stored version still revise it.
 */
export interface SupersededStoredBars {
  rule: 'superseded_stored_bar';
  count: number;
  bySymbol: Record<string, number>;
  /** The first few (up to 10). */
  examples: SupersededStoredBar[];
}

/** Collects superseded bars into the report's form (count, by symbol, the first few). */
export class SupersededTally {
  private count = 0;
  private readonly bySymbol: Record<string, number> = {};
  private readonly examples: SupersededStoredBar[] = [];

  add(found: readonly SupersededStoredBar[]): void {
    for (const f of found) {
      this.count++;
      this.bySymbol[f.symbol] = (this.bySymbol[f.symbol] ?? 0) + 1;
      if (this.examples.length < UNCONFIRMED_EXAMPLES) this.examples.push(f);
    }
  }

  result(): SupersededStoredBars | undefined {
    return this.count === 0 ? undefined : { rule: 'superseded_stored_bar', count: this.count, bySymbol: this.bySymbol, examples: this.examples };
  }
}

export interface PublishResult {
  added: number;
  /** Bars whose stored values the publish replaced: every row it logged in `bar_revisions`. */
  revised: number;
  /** Stored bars within the snapshot's dates that it does not confirm, kept as stored; absent when none. */
  unconfirmed?: UnconfirmedStoredBars;
  /** Stored bars newer than the snapshot's content for them, kept as stored; absent when none. */
  superseded?: SupersededStoredBars;
  /** The snapshot was published before: this call changed nothing. */
  alreadyPublished: boolean;
}

const FIELDS = ['open', 'high', 'low', 'close', 'volume'] as const;
const NEW_FIELDS = ['new_open', 'new_high', 'new_low', 'new_close', 'new_volume'] as const;

// 14 parameters per revision row: 500 rows stay under SQLite's and MySQL's placeholder limits.
const REVISIONS_PER_STATEMENT = 500;
// Symbols per lookup of the bars a chunk may replace.
const SYMBOLS_PER_LOOKUP = 500;
const UNCONFIRMED_EXAMPLES = 10;

type BarValues = Omit<Bar, 'symbol' | 'date'>;

/** A stored bar's values and the event_time of its version (null: written without one). */
interface StoredVersion {
  values: BarValues;
  eventTime: string | null;
}

/**
 * Whether the stored version is newer than content seen at `contentAt`, so that content must not
 * revise it: the live path's rule (lib/streaming/live-bar-store.ts), a version older by event_time
 * never revises a stored one. A version with no known time (timeUntimedLiveVersions found none) is
 * revised as before.
 */
function supersedes(stored: StoredVersion, contentAt: string): boolean {
  return stored.eventTime !== null && stored.eventTime > contentAt;
}

/** A live revision's snapshot id, `stream:<key>@<entry id>` (lib/streaming/live-bar-store.ts liveRevisionId): the entry's time (ms), else undefined. */
function liveEntryMs(snapshotId: string): number | undefined {
  if (!snapshotId.startsWith('stream:')) return undefined;
  const match = /@(\d{1,20})-\d{1,20}$/.exec(snapshotId);
  return match ? Number(match[1]) : undefined;
}

/**
 * Gives a time to the stored versions without one that `bars` would revise, when a live stream
 * entry wrote them: their newest `bar_revisions` row is that entry's (`stream:<key>@<entry id>`)
 * with the stored values as its new ones. The time is the entry's, what the consumer stamps such a
 * version with now (lib/streaming/stream-quality.ts versionTimeOf), at most the row's publication
 * (when it was written): the consumer then took ids far ahead of its clock that it now refuses.
 * A consumer before that stored no time for a message without event_time, and any
 * import revised the version: the same file, first seen before the correction, imported again
 * reverted it. Versions with no such row (upsertBars, a live bar that added rather than revised,
 * an import published before times were kept) keep none. Only bars that would be revised are
 * looked up: a publish over untimed history pays nothing.
 */
async function timeUntimedLiveVersions(db: Kysely<DatabaseSchema>, stored: ReadonlyMap<string, StoredVersion>, bars: readonly Bar[]): Promise<void> {
  const untimed = bars.filter((b) => {
    const old = stored.get(key(b.symbol, b.date));
    return old !== undefined && old.eventTime === null && revises(old.values, b);
  });
  for (let i = 0; i < untimed.length; i += SYMBOLS_PER_LOOKUP) {
    const chunk = untimed.slice(i, i + SYMBOLS_PER_LOOKUP);
    const wanted = new Set(chunk.map((b) => key(b.symbol, b.date)));
    const rows = await db
      .selectFrom('bar_revisions')
      .select(['snapshot_id', 'symbol', 'date', ...NEW_FIELDS, 'published_at'])
      .where('symbol', 'in', [...new Set(chunk.map((b) => b.symbol))])
      .where('date', 'in', [...new Set(chunk.map((b) => b.date))])
      .orderBy('published_at', 'desc')
      .orderBy('snapshot_id', 'desc')
      .execute();
    const seen = new Set<string>();
    for (const r of rows) {
      const k = key(r.symbol, r.date);
      // The newest row of each bar only: it says who wrote the stored values.
      if (!wanted.has(k) || seen.has(k)) continue;
      seen.add(k);
      const version = stored.get(k) as StoredVersion;
      const entryMs = liveEntryMs(r.snapshot_id);
      const wrote = r.new_close !== null && FIELDS.every((f) => Number(r[`new_${f}`]) === version.values[f]);
      if (entryMs === undefined || !wrote) continue;
      const entryAt = new Date(entryMs).toISOString();
      version.eventTime = entryAt < r.published_at ? entryAt : r.published_at;
    }
  }
}

/**
 * The stored values of the bars within `ranges` (per symbol, its first to its last date), keyed by
 * symbol and date.
 */
async function storedValuesIn(db: Kysely<DatabaseSchema>, ranges: ReadonlyMap<string, { from: string; to: string }>): Promise<Map<string, StoredVersion>> {
  const stored = new Map<string, StoredVersion>();
  const symbols = [...ranges.keys()];
  for (let i = 0; i < symbols.length; i += SYMBOLS_PER_LOOKUP) {
    const batch = symbols.slice(i, i + SYMBOLS_PER_LOOKUP);
    let from = (ranges.get(batch[0]) as { from: string }).from;
    let to = (ranges.get(batch[0]) as { to: string }).to;
    for (const s of batch) {
      const r = ranges.get(s) as { from: string; to: string };
      if (r.from < from) from = r.from;
      if (r.to > to) to = r.to;
    }
    const rows = await db.selectFrom('bars').select(['symbol', 'date', ...FIELDS, 'event_time']).where('symbol', 'in', batch).where('date', '>=', from).where('date', '<=', to).execute();
    for (const r of rows) {
      const range = ranges.get(r.symbol);
      if (!range || r.date < range.from || r.date > range.to) continue;
      stored.set(key(r.symbol, r.date), { values: { open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close), volume: Number(r.volume) }, eventTime: r.event_time });
    }
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
 * for content imported again (lib/ingest/import-bars.ts). Other stored bars within the snapshot's
 * dates (ones it does not confirm) do not count: a publish keeps them as they are, so the same
 * bytes imported again are the same snapshot.
 */
export async function storeHoldsBars(store: Database, bars: readonly Bar[]): Promise<boolean> {
  return (await barsNotHeld(store, bars)).length === 0;
}

/**
 * The bars of `bars` the published store does not hold with exactly these values (absent or other
 * values). With `contentAt` (the clock of each symbol's content), a bar whose stored version is
 * newer than its content is not counted: a publish would leave it (it is in `superseded`).
 */
export async function barsNotHeld(store: Database, bars: readonly Bar[], contentAt?: ReadonlyMap<string, string>, superseded?: SupersededTally): Promise<Bar[]> {
  const stored = await storedValuesIn(store.db, coverageOf(bars, []).ranges);
  if (contentAt !== undefined) await timeUntimedLiveVersions(store.db, stored, bars);
  const found: SupersededStoredBar[] = [];
  const missing = bars.filter((b) => {
    const old = stored.get(key(b.symbol, b.date));
    if (old === undefined || !revises(old.values, b)) return old === undefined;
    const at = contentAt?.get(b.symbol);
    if (at !== undefined && supersedes(old, at)) {
      found.push({ symbol: b.symbol, date: b.date, stored: old.values, storedAt: old.eventTime as string, contentAt: at });
      return false;
    }
    return true;
  });
  superseded?.add(found);
  return missing;
}

interface ChunkPublish {
  added: number;
  revised: number;
  unconfirmed: UnconfirmedStoredBar[];
  superseded: SupersededStoredBar[];
}

/**
 * Publishes one chunk's bars: looks up the stored bars within the chunk's coverage (each symbol's
 * first to last date in the snapshot), logs the old and new values of every bar that changes, and
 * upserts the changed and new bars; bars equal to the stored ones are not written at all. Stored
 * bars in the coverage that the chunk does not accept (rejected or absent rows) are unconfirmed:
 * they are kept exactly as stored, not logged, and returned to be reported.
 */
async function publishBars(store: Database, tx: Transaction<DatabaseSchema>, snapshotId: string, bars: readonly Bar[], coverage: SnapshotCoverage, now: string): Promise<ChunkPublish> {
  if (bars.length === 0 && coverage.ranges.size === 0) return { added: 0, revised: 0, unconfirmed: [], superseded: [] };
  const stored = await storedValuesIn(tx, coverage.ranges);
  await timeUntimedLiveVersions(tx, stored, bars);
  const writes: Bar[] = [];
  const writtenAt: string[] = [];
  const revisions: BarRevisionsTable[] = [];
  const superseded: SupersededStoredBar[] = [];
  let added = 0;
  for (const b of bars) {
    const k = key(b.symbol, b.date);
    const old = stored.get(k)?.values;
    const contentAt = coverage.contentAt?.get(b.symbol) ?? now;
    if (!old) {
      stored.delete(k);
      added++;
      writes.push(b);
      writtenAt.push(contentAt);
    } else if (revises(old, b)) {
      const version = stored.get(k) as StoredVersion;
      stored.delete(k);
      if (supersedes(version, contentAt)) {
        superseded.push({ symbol: b.symbol, date: b.date, stored: old, storedAt: version.eventTime as string, contentAt });
        continue;
      }
      writes.push(b);
      writtenAt.push(contentAt);
      revisions.push({
        snapshot_id: snapshotId, symbol: b.symbol, date: b.date,
        old_open: old.open, old_high: old.high, old_low: old.low, old_close: old.close, old_volume: old.volume,
        new_open: b.open, new_high: b.high, new_low: b.low, new_close: b.close, new_volume: b.volume,
        published_at: now,
      });
    } else stored.delete(k);
  }
  // What is left of the stored bars in the coverage is what the snapshot does not confirm: kept, reported.
  const unconfirmed: UnconfirmedStoredBar[] = [];
  for (const [k, { values }] of [...stored].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const [symbol, date] = k.split('\u0000');
    const rule = coverage.rejected.get(k);
    unconfirmed.push(rule ? { symbol, date, why: 'rejected', rule, stored: values } : { symbol, date, why: 'absent', stored: values });
  }
  // The old values go to the log before the bars change, in the same transaction.
  for (let i = 0; i < revisions.length; i += REVISIONS_PER_STATEMENT) await tx.insertInto('bar_revisions').values(revisions.slice(i, i + REVISIONS_PER_STATEMENT)).execute();
  // The import's versions count as of their content (bars.event_time = when the bytes were first
  // seen or fetched): a live bar produced before that (a re-sent backlog, a group reset replaying
  // the stream) is stale against it; one produced after it revises it, and is not reverted by the
  // same bytes imported again. Written as null, a replayed bad close (93.7, produced at the close
  // + 20 min) undid the next day's correction (95.01); stamped with the publication time, the same
  // file imported again undid a live correction made after its download (152.67 over 153.17).
  await upsertBarsIn(tx, store.driver, writes, writtenAt, store.signing);
  return { added, revised: revisions.length, unconfirmed, superseded };
}

/** The snapshot's report with what its publish found unconfirmed, as stored. */
type PublishedReport = QualityReport & { unconfirmedStoredBars?: UnconfirmedStoredBars; supersededStoredBars?: SupersededStoredBars };

/** The unconfirmed stored bars a published snapshot's report records (none recorded: none found). */
export function unconfirmedOf(report: QualityReport | Record<string, unknown> | null | undefined): UnconfirmedStoredBars | undefined {
  return (report as PublishedReport | null | undefined)?.unconfirmedStoredBars;
}

/** The stored bars newer than its content that a published snapshot's report records (none recorded: none found). */
export function supersededOf(report: QualityReport | Record<string, unknown> | null | undefined): SupersededStoredBars | undefined {
  return (report as PublishedReport | null | undefined)?.supersededStoredBars;
}

/** The superseded stored bars as one line for an operator; empty when there are none. */
export function describeSuperseded(u: SupersededStoredBars | undefined): string {
  if (!u || u.count === 0) return '';
  const examples = u.examples.map((e) => `${e.symbol} ${e.date} (stored close ${e.stored.close}, of ${e.storedAt}; the file's bytes of ${e.contentAt})`).join(', ');
  const more = u.count > u.examples.length ? `, … ${u.count - u.examples.length} more` : '';
  return `${u.rule}: ${u.count} stored bar${u.count === 1 ? '' : 's'} ${u.count === 1 ? 'is' : 'are'} newer than the content that would revise ${u.count === 1 ? 'it' : 'them'} (kept as stored; import bytes downloaded after ${u.count === 1 ? 'it' : 'them'} to revise ${u.count === 1 ? 'it' : 'them'}): ${examples}${more}`;
}

/**
 * The finding as one line for an operator (`mlp run`, `mlp snapshots show`): how many stored bars
 * within the file's dates it does not confirm, kept as stored, and the first few with why and the
 * stored close. Empty when there are none.
 */
export function describeUnconfirmed(u: UnconfirmedStoredBars | undefined): string {
  if (!u || u.count === 0) return '';
  const examples = u.examples
    .map((e) => `${e.symbol} ${e.date} (${e.why === 'rejected' ? `row rejected: ${e.rule}` : 'no row in the file'}; stored close ${e.stored.close})`)
    .join(', ');
  const more = u.count > u.examples.length ? `, … ${u.count - u.examples.length} more` : '';
  const symbols = Object.entries(u.bySymbol);
  const bySymbol = symbols.length > 1 ? ` (by symbol: ${symbols.map(([s, n]) => `${s} ${n}`).join(', ')})` : '';
  return `${u.rule}: ${u.count} stored bar${u.count === 1 ? '' : 's'} within the file's dates ${u.count === 1 ? 'is' : 'are'} not confirmed by it (kept as stored): ${examples}${more}${bySymbol}`;
}

/**
 * Publishes a passed snapshot into `bars` in one transaction, chunk by chunk: the old values of
 * every bar it changes go to `bar_revisions` first, then changed and new bars are written. Stored
 * bars within a symbol's dates in the snapshot that it rejected or no longer contains are left as
 * they are and recorded in the snapshot's quality report (`unconfirmedStoredBars`). Publishing a
 * published snapshot again changes nothing.
 */
export async function publishSnapshot(store: Database, id: string): Promise<PublishResult> {
  return oneAtATime(store, (db) => db.transaction().execute((tx) => publishSnapshotIn(store, tx, id)));
}

/**
 * publishSnapshot inside a transaction the caller holds, under the publish lock (withPublishLock):
 * the quality gate judges a snapshot against the stored bars and publishes it in one transaction
 * (lib/ingest/judge.ts), so no other publish lands between the judging and the writing.
 */
export async function publishSnapshotIn(store: Database, tx: Transaction<DatabaseSchema>, id: string): Promise<PublishResult> {
  const row = await lockSnapshot(store, tx, id);
  if (!row) throw new Error(`No snapshot ${id} to publish`);
  if (row.status === 'published') {
    const report = JSON.parse(row.quality_report) as QualityReport;
    const unconfirmed = unconfirmedOf(report);
    const superseded = supersededOf(report);
    return { added: Number(row.bars_added ?? 0), revised: Number(row.bars_revised ?? 0), ...(unconfirmed ? { unconfirmed } : {}), ...(superseded ? { superseded } : {}), alreadyPublished: true };
  }
  if (row.status !== 'passed') throw new Error(`Snapshot ${id} is ${row.status}; only a snapshot that passed the quality gate is published`);
  const now = new Date().toISOString();
  let added = 0;
  let revisedCount = 0;
  let unconfirmedCount = 0;
  const bySymbol: Record<string, number> = {};
  const examples: UnconfirmedStoredBar[] = [];
  const tally = new SupersededTally();
  // Stored glitches the judging found the snapshot's rows reveal go first, so that none is reported
  // unconfirmed by a chunk whose dates span it.
  revisedCount += await retractStoredBars(store, tx, id, JSON.parse(row.quality_report) as QualityReport, now);
  const chunks = await tx.selectFrom('staged_chunks').select('chunk').where('snapshot_id', '=', id).orderBy('chunk').execute();
  // One chunk in memory at a time, all in this one transaction.
  for (const { chunk } of chunks) {
    const staged = await tx.selectFrom('staged_chunks').select('bars').where('snapshot_id', '=', id).where('chunk', '=', chunk).executeTakeFirstOrThrow();
    const { bars, coverage } = decodeStagedBars(staged.bars);
    const result = await publishBars(store, tx, id, bars, coverage, now);
    added += result.added;
    revisedCount += result.revised;
    unconfirmedCount += result.unconfirmed.length;
    for (const u of result.unconfirmed) {
      bySymbol[u.symbol] = (bySymbol[u.symbol] ?? 0) + 1;
      if (examples.length < UNCONFIRMED_EXAMPLES) examples.push(u);
    }
    tally.add(result.superseded);
  }
  const unconfirmed: UnconfirmedStoredBars | undefined = unconfirmedCount > 0 ? { rule: 'unconfirmed_stored_bar', count: unconfirmedCount, bySymbol, examples } : undefined;
  const superseded = tally.result();
  let update = tx.updateTable('dataset_snapshots').set({ status: 'published', status_reason: null, published_at: now, bars_added: added, bars_revised: revisedCount, attempt_token: null });
  if (unconfirmed || superseded) {
    const report: PublishedReport = { ...(JSON.parse(row.quality_report) as QualityReport), ...(unconfirmed ? { unconfirmedStoredBars: unconfirmed } : {}), ...(superseded ? { supersededStoredBars: superseded } : {}) };
    update = update.set({ quality_report: JSON.stringify(report) });
  }
  await update.where('id', '=', id).execute();
  await dropStaging(tx, id);
  return { added, revised: revisedCount, ...(unconfirmed ? { unconfirmed } : {}), ...(superseded ? { superseded } : {}), alreadyPublished: false };
}

/**
 * Removes the stored bars the snapshot's judging found to be one-bar glitches its rows reveal
 * (report.retractedStoredBars), each only if still stored with the values judged: logged in
 * `bar_revisions` with its old values and no new ones (a revision, so features from its date are
 * recomputed: absorbBarRevisions), and quarantined under the snapshot. Returns how many it removed.
 */
async function retractStoredBars(store: Database, tx: Transaction<DatabaseSchema>, snapshotId: string, report: QualityReport, now: string): Promise<number> {
  let removed = 0;
  for (const r of report.retractedStoredBars ?? []) {
    let q = tx.selectFrom('bars').select([...FIELDS]).where('symbol', '=', r.symbol).where('date', '=', r.date);
    if (store.driver === 'mysql') q = q.forUpdate();
    const stored = await q.executeTakeFirst();
    if (stored === undefined) continue;
    const old: BarValues = { open: Number(stored.open), high: Number(stored.high), low: Number(stored.low), close: Number(stored.close), volume: Number(stored.volume) };
    if (revises(old, r)) continue; // changed since it was judged: not the bar judged
    await tx
      .insertInto('bar_revisions')
      .values({ snapshot_id: snapshotId, symbol: r.symbol, date: r.date, old_open: old.open, old_high: old.high, old_low: old.low, old_close: old.close, old_volume: old.volume, new_open: null, new_high: null, new_low: null, new_close: null, new_volume: null, published_at: now })
      .execute();
    await tx.deleteFrom('bars').where('symbol', '=', r.symbol).where('date', '=', r.date).execute();
    await tx.insertInto('quarantine').ignore().values(quarantineRow(snapshotId, r.finding)).execute();
    removed++;
  }
  return removed;
}

/** How long a publish waits for the store's other publishes (MySQL) before it fails, to be retried. */
const PUBLISH_LOCK_WAIT_SECONDS = 3600;

/**
 * Runs a publish once the store's other publishes are done. On MySQL a publish reads the stored bars
 * with a plain consistent read: two at once both logged the value before either as `old` (the
 * log lost a step) and the one stamped later could lose the write. A named lock per database,
 * taken before the transaction begins and released after it ends, makes the next publish begin,
 * and take its read view, only after the previous one committed. It is a session lock, so it is
 * taken and released on the transaction's own connection. A locked row instead would fail a
 * publish queued behind a long one after innodb_lock_wait_timeout (50 s). Only publishes take it,
 * before any row lock, so it closes no deadlock cycle. SQLite needs none: BEGIN IMMEDIATE takes
 * the write lock first.
 */
async function oneAtATime<T>(store: Database, publish: (db: Kysely<DatabaseSchema>) => Promise<T>): Promise<T> {
  if (store.driver !== 'mysql') return publish(store.db);
  return store.db.connection().execute(async (conn) => {
    // Lock names are server-wide: one per database.
    const name = sql`concat('mlp_publish_', md5(database()))`;
    const { rows } = await sql<{ got: number | null }>`select get_lock(${name}, ${PUBLISH_LOCK_WAIT_SECONDS}) as got`.execute(conn);
    if (Number(rows[0]?.got) !== 1) throw new Error(`Another publish held the store for over ${PUBLISH_LOCK_WAIT_SECONDS} s; publish again later`);
    const release = () => sql`do release_lock(${name})`.execute(conn);
    let result: T;
    try {
      result = await publish(conn);
    } catch (error) {
      // The publish's own error is the one to report.
      await release().catch(() => undefined);
      throw error;
    }
    await release();
    return result;
  });
}


/**
 * Runs `work` once the store's other publishes are done (oneAtATime): for the quality gate, which
 * judges a snapshot and publishes it in one transaction begun on the `db` given.
 */
export function withPublishLock<T>(store: Database, work: (db: Kysely<DatabaseSchema>) => Promise<T>): Promise<T> {
  return oneAtATime(store, work);
}

/** Marks a snapshot rejected with its reason and deletes its staging rows; `bars` is not touched. */
export async function rejectSnapshot(store: Database, id: string, reason: string): Promise<void> {
  await store.db.transaction().execute((tx) => rejectSnapshotIn(store, tx, id, reason));
}

/** rejectSnapshot inside a transaction the caller holds. */
export async function rejectSnapshotIn(store: Database, tx: Transaction<DatabaseSchema>, id: string, reason: string): Promise<void> {
  const row = await lockSnapshot(store, tx, id);
  if (!row) throw new Error(`No snapshot ${id} to reject`);
  if (row.status === 'published') throw new Error(`Snapshot ${id} is already published; it cannot be rejected`);
  await tx.updateTable('dataset_snapshots').set({ status: 'rejected', status_reason: reason, attempt_token: null }).where('id', '=', id).execute();
  await dropStaging(tx, id);
}

export interface BarRevision {
  snapshotId: string;
  symbol: string;
  date: string;
  old: Omit<Bar, 'symbol' | 'date'>;
  /** Null for a retraction: the stored bar was removed (a one-bar glitch the bar beside it revealed). */
  new: Omit<Bar, 'symbol' | 'date'> | null;
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
    new: r.new_close === null ? null : { open: Number(r.new_open), high: Number(r.new_high), low: Number(r.new_low), close: Number(r.new_close), volume: Number(r.new_volume) },
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
