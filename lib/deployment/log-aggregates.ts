/**
 * Running totals of the prediction log for the deployment analyses, so that an analysis costs what
 * was logged since the previous one, not what was logged since the rollout began.
 *
 * Outcomes are the one thing SQL cannot compute (a model version's label spec applied to the stored
 * closes), and they change while a rollout runs (unmatured → matured). But every prediction with the
 * same (version, symbol, asOf) has the same outcome, and there are few such keys (versions × symbols
 * × feature days) however many requests there are. So an analysis keeps, per analysis stream (one
 * canary comparison or A/B test over one window), *cells*: counts and sums grouped by the label key
 * and the few other values the statistics need (variant, predicted class, latency). Labels are applied to the cells at every analysis, so a key that matured since the last
 * one counts at once, exactly as if every row had been read again.
 *
 * Folding. Each row carries `logged_at`, the database's clock when the row was written (µs since the
 * epoch, set by the log writer's INSERT). An analysis first folds the rows logged between the
 * stream's watermark and (now − SETTLE_LAG) into the stored cells and moves the watermark, in one
 * transaction that only succeeds if no other analysis moved it first; then, in one read snapshot, it
 * reads the stored cells and aggregates the rows at or after the watermark. The lag
 * covers inserts that were evaluated but not yet committed when the fold ran: a row committed more
 * than SETTLE_LAG after its INSERT began would be missed by the totals.
 *
 * The analyses' unit is the symbol-day (every request of a symbol on a feature date predicts from
 * the same vector), and their cells are keyed by it, so everything is exact: counts, hits, error
 * rates, latency percentiles, and the scores of each symbol-day (the mean of its probabilities,
 * from a count and a sum) that PSI, KS, AUC and the Brier score are computed on (sums of doubles may
 * differ from a row-by-row sum in the last bits). A stream's `definition` names its cell layout, so
 * totals kept in an earlier layout (per-request score histograms, binned-shift.ts) are never read
 * as the current one.
 *
 * Signing. With MODEL_SIGNING_KEY (the store handle's `signing`) every row an aggregation counts is
 * checked first (lib/serving/prediction-log-signature.ts): the tail after the watermark is read once
 * more in JS and a row no held key vouches for is left out of every query (by id) and reported
 * (`unverifiedLog`). A fold checks its range and aggregates it in one read snapshot, so it adds
 * exactly the rows it checked. A fold stops before the first refused row of its range, so a refused row stays
 * in the tail, and reported, for as long as it is stored. A row whose logged_at was set to null
 * (by hand: the column defaults to the clock) is in no range; every read checks such rows of its
 * window too, and refuses them. logged_at is signed with the row: moving a
 * folded row's logged_at past the watermark (which counted it twice) makes it a refused row of the
 * tail, so it is counted once, in the totals folded before the edit, and named. The folded totals are signed per stream
 * (STREAM_SCHEME: the watermark, the folded count and every cell) by the fold that writes them, and
 * a read whose stream's signature does not hold folds the window again from the log: cells are a
 * cache of verified rows, never evidence of their own.
 */
import { createHash } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { BadInputError, describeValidationError } from '../errors';
import type { LabelSpec } from '../labels/labels';
import type { Database } from '../store/database';
import { readDbClockMicros } from '../store/db-clock';
import type { DatabaseSchema } from '../store/schema';
import { refusedBarsSummary, UnverifiedBarsError, type RefusedBarsSummary } from '../store/bar-signature';
import { hmacSha256Hex, sameMac, signingKeyId, verificationKeysOf, type VerificationKeys } from '../registry/row-signature';
import { CHECKED_LOG_COLUMNS, LogRowVerifier, type RefusedLogRowsSummary, type StoredLogRow } from '../serving/prediction-log-signature';
import { labelSpecsOf, outcomesOfKeys, predictionLogQuerySchema, type OutcomeKey, type PredictionLogQuery } from './outcomes';

/** Buckets of the probability histograms: 2^14, each 1/16384 ≈ 6·10⁻⁵ wide. */
export const PROBABILITY_BUCKETS = 16384;
/** Rows logged this recently are aggregated at every analysis, never folded (see the header). */
export const SETTLE_LAG_US = 120_000_000;
/** Rows are logged at most this long after their request (created_at) for the first fold of a window to see them. */
const LOGGING_DELAY_BOUND_US = 86_400_000_000;
/** Streams not analysed for this long are dropped with their cells. */
const STREAM_RETENTION_US = 30 * 86_400_000_000;
const CELLS_PER_INSERT = 500;
/** Rows per read of a range's check. */
const CHECKED_ROWS_PER_READ = 5000;
/** Refused rows left out by id at most; beyond, the unfolded rows are not counted at all (and the refusal says so). */
const MAX_EXCLUDED_ROWS = 5000;
/**
 * Names the signed text of a stream's totals; unlike every other record's, so no MAC is valid as another's.
 * v2 added current_form_from: streams signed before are folded again from the log once.
 */
export const STREAM_SCHEME = 'mlp-analysis-stream-v2';

/**
 * Label state of a key: its outcome (0 or 1), matured without a label, or not matured yet.
 */
export const LABEL = { noLabel: 2, unmatured: 3 } as const;

type Db = Kysely<DatabaseSchema>;

/** The rows of a window that one aggregation covers, by when they were logged. */
export interface LoggedRange {
  /** Inclusive lower bound on logged_at. */
  from: number;
  /** Exclusive upper bound on logged_at; none: no bound. */
  to?: number;
}

/** SQL helpers over the window of one analysis stream. */
export interface LogWindow {
  driver: Database['driver'];
  model: string;
  /** `alias.model = … AND alias.created_at >= … [AND alias.created_at < …]` */
  where(alias: string): RawBuilder<unknown>;
  /**
   * `prediction_log alias`, read through the index on (model, logged_at) or (model, variant,
   * logged_at). SQLite is told: without statistics it may pick the created_at index, which would
   * read the whole window again at every analysis. MySQL's optimizer sizes the ranges itself.
   */
  from(alias: string, index: 'logged' | 'variant'): RawBuilder<unknown>;
  /** `alias.logged_at` inside the range. */
  logged(alias: string, range: LoggedRange): RawBuilder<unknown>;
  /** `alias.logged_at` before `bound`. */
  loggedBefore(alias: string, bound: number): RawBuilder<unknown>;
  /** Histogram bucket (0 … PROBABILITY_BUCKETS − 1) of a probability column. */
  bucket(column: string): RawBuilder<number>;
  /** The class a prediction stood for: its logged class, else its probability at ½ (as the row-by-row code). */
  predictedClass(alias: string): RawBuilder<number>;
  /** Runs a query on the analysis' connection and returns its rows. */
  rows<R>(query: RawBuilder<R>): Promise<R[]>;
}

/** Sums of one cell: a row count and two optional sums (e.g. Σp and Σp²). */
export interface CellSums {
  n: number;
  s1: number;
  s2: number;
}

/** A cell as an aggregation returns it: its dimensions (first the cell kind) and its sums. */
export interface Cell extends CellSums {
  key: ReadonlyArray<string | number>;
}

/** What one kind of analysis aggregates: its identity and its GROUP BY queries over a range of rows. */
export interface StreamSpec {
  /** Everything that changes what the cells mean (kind, variants, thresholds that filter rows…). */
  definition: Record<string, unknown>;
  aggregate(w: LogWindow, range: LoggedRange): Promise<Cell[]>;
}

export interface TallyOptions {
  /** Rows logged this recently are not folded (default SETTLE_LAG_US); only a benchmark that logs rows itself sets it. */
  settleLagUs?: number;
}

/** Cells of a stream, by their JSON key. */
export type Cells = Map<string, CellSums>;

export const cellKey = (key: ReadonlyArray<string | number>): string => JSON.stringify(key);
export const parseCellKey = (key: string): Array<string | number> => JSON.parse(key) as Array<string | number>;

function addCells(into: Cells, cells: readonly Cell[]): void {
  for (const c of cells) {
    const k = cellKey(c.key);
    const sums = into.get(k);
    if (sums) {
      sums.n += c.n;
      sums.s1 += c.s1;
      sums.s2 += c.s2;
    } else into.set(k, { n: c.n, s1: c.s1, s2: c.s2 });
  }
}

/** `excluded`: ids of refused rows, left out of every query over the window. */
function logWindow(db: Db, driver: Database['driver'], model: string, since: string | undefined, until: string | undefined, excluded: readonly string[] = []): LogWindow {
  const mysql = driver === 'mysql';
  return {
    driver,
    model,
    where: (alias) => {
      const parts = [sql`${sql.ref(`${alias}.model`)} = ${model}`];
      if (since !== undefined) parts.push(sql`${sql.ref(`${alias}.created_at`)} >= ${since}`);
      if (until !== undefined) parts.push(sql`${sql.ref(`${alias}.created_at`)} < ${until}`);
      if (excluded.length > 0) parts.push(sql`${sql.ref(`${alias}.id`)} not in (${sql.join([...excluded])})`);
      return sql.join(parts, sql` and `);
    },
    from: (alias, index) =>
      sql`prediction_log ${sql.raw(alias)}${mysql ? sql`` : sql.raw(` indexed by ${index === 'logged' ? 'prediction_log_logged_idx' : 'prediction_log_variant_logged_idx'}`)}`,
    logged: (alias, range) => {
      const column = sql.ref(`${alias}.logged_at`);
      return range.to === undefined ? sql`${column} >= ${range.from}` : sql`${column} >= ${range.from} and ${column} < ${range.to}`;
    },
    loggedBefore: (alias, bound) => sql`${sql.ref(`${alias}.logged_at`)} < ${bound}`,
    bucket: (column) => {
      const ref = sql.ref(column);
      const scaled = mysql ? sql`floor(${ref} * ${sql.lit(PROBABILITY_BUCKETS)})` : sql`cast(${ref} * ${sql.lit(PROBABILITY_BUCKETS)} as integer)`;
      return sql<number>`case when ${ref} >= 1 then ${sql.lit(PROBABILITY_BUCKETS - 1)} when ${ref} <= 0 then 0 else ${scaled} end`;
    },
    predictedClass: (alias) => sql<number>`coalesce(${sql.ref(`${alias}.predicted_class`)}, case when ${sql.ref(`${alias}.probability`)} >= 0.5 then 1 else 0 end)`,
    rows: async <R>(q: RawBuilder<R>) => (await q.execute(db)).rows,
  };
}

/** The window of one stream on a connection, with refused rows left out by id. */
type WindowOn = (db: Db, excluded?: readonly string[]) => LogWindow;

/**
 * Runs `read` in one read snapshot on one connection, so every statement of it sees the same rows.
 * SQLite: a deferred BEGIN takes no write lock (WAL), so API processes keep logging meanwhile (the
 * snapshot begins at the first read).
 */
async function inOneSnapshot<T>(store: Database, read: (db: Db) => Promise<T>): Promise<T> {
  return store.db.connection().execute(async (db) => {
    // MariaDB: a server set to READ COMMITTED would give each statement its own view; this transaction is REPEATABLE READ whatever the default.
    if (store.driver === 'mysql') await sql.raw('set transaction isolation level repeatable read').execute(db);
    await sql.raw(store.driver === 'mysql' ? 'start transaction with consistent snapshot' : 'begin').execute(db);
    try {
      return await read(db);
    } finally {
      // Nothing was written; ending the snapshot is all commit does here.
      await sql.raw('commit').execute(db);
    }
  });
}

/**
 * The cells of a stream over the window of `query`: the stored running totals, first brought up to
 * (now − SETTLE_LAG), plus the rows logged since. See the header for why this equals an aggregation
 * of every row of the window.
 */
/** A stream's cells, and with a key the rows of the window left out because no held key vouches for them. */
export interface StreamTotals {
  cells: Cells;
  unverifiedLog?: RefusedLogRowsSummary;
}

export async function streamCells(store: Database, query: PredictionLogQuery, spec: StreamSpec, options: TallyOptions = {}): Promise<StreamTotals> {
  const parsed = predictionLogQuerySchema.safeParse(query);
  if (!parsed.success) throw new BadInputError(`invalid prediction log query: ${describeValidationError(parsed.error)}`);
  const { model, since, until } = parsed.data;
  const id = createHash('sha256')
    .update(JSON.stringify({ model, since: since ?? null, until: until ?? null, ...spec.definition }))
    .digest('hex');
  const keys = verificationKeysOf(store.signing);
  const windowOn: WindowOn = (db, excluded) => logWindow(db, store.driver, model, since, until, excluded);
  const read = async (): Promise<StreamTotals | undefined> => {
    await fold(store, id, model, windowOn, since, spec, options.settleLagUs ?? SETTLE_LAG_US, keys);
    return inOneSnapshot(store, async (db) => {
      // Gone: another analysis found its cells wrong and is folding the window again.
      const stream = await db.selectFrom('analysis_streams').select(['folded_until', 'folded_n', 'signature', 'signature_key_id', 'current_form_from']).where('id', '=', id).executeTakeFirst();
      if (!stream) return undefined;
      const cells = await storedCells(db, id);
      let stored = 0;
      for (const c of cells.values()) stored += c.n;
      // Cells that no longer hold what the folds added (emptied, or counts edited): not evidence.
      if (stream.folded_n !== null && stream.folded_n !== undefined && stored !== Number(stream.folded_n)) return undefined;
      // With a key, totals its signature does not vouch for (edited, or folded without the key): not evidence either.
      if (keys && !streamSignatureHolds(keys, id, stream, cells)) return undefined;
      const from = Number(stream.folded_until);
      const plain = windowOn(db);
      if (!keys) {
        addCells(cells, await spec.aggregate(plain, { from }));
        return { cells };
      }
      // Seeded with the stream's signed current_form_from: an earlier-form row anywhere in the tail after it was moved there.
      const verifier = new LogRowVerifier(keys, numberOrUndefined(stream.current_form_from));
      await checkRange(plain, verifier, { from });
      // logged_at has no null but one set by hand, which took the row out of every range (of the
      // fold's and of this tail): unreported, it was simply gone. Checked, it is refused (its MAC covers logged_at).
      await checkUnlogged(plain, verifier);
      const refused = verifier.refusedIds;
      // Past MAX_EXCLUDED_ROWS, the rows after the watermark are not counted at all (the refusal says so).
      if (refused.length <= MAX_EXCLUDED_ROWS) addCells(cells, await spec.aggregate(windowOn(db, refused), { from }));
      const unverifiedLog = await verifier.summary(db, model);
      if (unverifiedLog && refused.length > MAX_EXCLUDED_ROWS) unverifiedLog.reason += ` More than ${MAX_EXCLUDED_ROWS} rows were refused, so no row logged after the last fold is counted.`;
      return { cells, ...(unverifiedLog ? { unverifiedLog } : {}) };
    });
  };
  const cells = await read();
  if (cells) return cells;
  // Fold the window again from its start: the stream and its cells are dropped, and the next fold
  // begins a new one (a concurrent analysis may have begun it first: it folds the same rows once).
  await store.db.transaction().execute(async (tx) => {
    await tx.deleteFrom('analysis_cells').where('stream', '=', id).execute();
    await tx.deleteFrom('analysis_streams').where('id', '=', id).execute();
  });
  const again = await read();
  if (!again) throw new Error(`the analysis totals of stream ${id} (${model}) do not match their folds even after they were folded again: another process is changing analysis_cells; analyse again`);
  return again;
}

/** Adds the settled rows logged since the stream's watermark to its stored cells (no-op when another analysis just did). */
async function fold(store: Database, id: string, model: string, windowOn: WindowOn, since: string | undefined, spec: StreamSpec, settleLagUs: number, keys: VerificationKeys | undefined): Promise<void> {
  const now = await readDbClockMicros(store.db, store.driver);
  const nowText = new Date(now / 1000).toISOString();
  let stream = await store.db.selectFrom('analysis_streams').select(['folded_until', 'current_form_from']).where('id', '=', id).executeTakeFirst();
  if (!stream) {
    // A new stream starts before its window's first possible row.
    const start = since === undefined ? 0 : Math.max(0, Date.parse(since.length === 10 ? `${since}T00:00:00Z` : since) * 1000 - LOGGING_DELAY_BOUND_US);
    const signature = keys === undefined ? {} : streamSignatureColumns(keys, id, start, 0, null, new Map());
    const insert = store.db.insertInto('analysis_streams').values({ id, definition: JSON.stringify({ model, since: since ?? null, ...spec.definition }), folded_until: start, folded_n: 0, updated_at: nowText, ...signature });
    if (store.driver === 'mysql') await insert.onDuplicateKeyUpdate((eb) => ({ id: eb.ref('analysis_streams.id') })).execute();
    else await insert.onConflict((oc) => oc.column('id').doNothing()).execute();
    stream = await store.db.selectFrom('analysis_streams').select(['folded_until', 'current_form_from']).where('id', '=', id).executeTakeFirstOrThrow();
  }
  const from = Number(stream.folded_until);
  let to = now - settleLagUs;
  if (to <= from) return;
  if (keys) {
    // Only verified rows are folded: the fold stops before the first refused row of its range,
    // which stays after the watermark (read, left out and reported by every analysis).
    // Seeded with the stream's current_form_from (checked with its totals by foldSigned before anything is written).
    const verifier = new LogRowVerifier(keys, numberOrUndefined(stream.current_form_from));
    // The check and the aggregate read one snapshot: as two statements, a row edited between them
    // was added to the signed totals unchecked (flipping 126 canary rows then turned a hit rate of 1
    // into 0 with nothing refused), and sat behind the watermark for good.
    const checked = await inOneSnapshot(store, async (db) => {
      const sw = windowOn(db);
      await checkRange(sw, verifier, { from, to });
      const end = verifier.firstRefusedLoggedAt !== undefined ? Math.min(to, verifier.firstRefusedLoggedAt) : to;
      return end <= from ? undefined : { end, cells: await spec.aggregate(sw, { from, to: end }) };
    });
    if (!checked) return;
    to = checked.end;
    const currentFormFrom = verifier.currentFormFrom !== undefined && verifier.currentFormFrom < to ? verifier.currentFormFrom : null;
    return foldSigned(store, id, keys, { from, to }, currentFormFrom, checked.cells, nowText);
  }
  const cells = await spec.aggregate(windowOn(store.db), { from, to });
  await store.db.transaction().execute(async (tx) => {
    // Only the analysis that moves the watermark adds its cells: a concurrent one folded the same rows.
    const added = cells.reduce((n, c) => n + c.n, 0);
    const moved = await tx
      .updateTable('analysis_streams')
      .set((eb) => ({ folded_until: to, updated_at: nowText, folded_n: eb.case().when('folded_n', 'is', null).then(null).else(eb('folded_n', '+', added)).end() }))
      .where('id', '=', id)
      .where('folded_until', '=', from)
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) !== 1) return;
    for (let i = 0; i < cells.length; i += CELLS_PER_INSERT) {
      const values = cells.slice(i, i + CELLS_PER_INSERT).map((c) => ({ stream: id, cell: cellKey(c.key), n: c.n, s1: c.s1, s2: c.s2 }));
      const insert = tx.insertInto('analysis_cells').values(values);
      if (store.driver === 'mysql') {
        await insert
          .onDuplicateKeyUpdate({ n: sql`n + values(n)`, s1: sql`s1 + values(s1)`, s2: sql`s2 + values(s2)` })
          .execute();
      } else {
        await insert
          .onConflict((oc) => oc.columns(['stream', 'cell']).doUpdateSet({ n: sql`analysis_cells.n + excluded.n`, s1: sql`analysis_cells.s1 + excluded.s1`, s2: sql`analysis_cells.s2 + excluded.s2` }))
          .execute();
      }
    }
    await dropStaleStreams(tx, nowText);
  });
}

/** Streams of rollouts long over: their cells are never read again. */
async function dropStaleStreams(tx: Db, nowText: string): Promise<void> {
  const stale = new Date(Date.parse(nowText) - STREAM_RETENTION_US / 1000).toISOString();
  const old = await tx.selectFrom('analysis_streams').select('id').where('updated_at', '<', stale).limit(100).execute();
  if (old.length > 0) {
    const ids = old.map((s) => s.id);
    await tx.deleteFrom('analysis_cells').where('stream', 'in', ids).execute();
    await tx.deleteFrom('analysis_streams').where('id', 'in', ids).execute();
  }
}

/**
 * A fold under a key: in one transaction holding the stream's row, the stored totals are checked
 * against the stream's signature, the new cells added to them, and the totals written back whole
 * and signed. Totals the signature does not vouch for are left as they are: the read that follows
 * finds them wrong and folds the window again from the log.
 */
async function foldSigned(store: Database, id: string, keys: VerificationKeys, range: { from: number; to: number }, currentFormFrom: number | null, cells: readonly Cell[], nowText: string): Promise<void> {
  await store.db.transaction().execute(async (tx) => {
    let q = tx.selectFrom('analysis_streams').select(['folded_until', 'folded_n', 'signature', 'signature_key_id', 'current_form_from']).where('id', '=', id);
    if (store.driver === 'mysql') q = q.forUpdate();
    const stream = await q.executeTakeFirst();
    // Gone, or another analysis folded these rows first.
    if (!stream || Number(stream.folded_until) !== range.from) return;
    const stored = await storedCells(tx, id);
    if (!streamSignatureHolds(keys, id, stream, stored)) return;
    // The first current-form row folded stays the stream's (the range's counts only when none was folded before).
    const formFrom = numberOrUndefined(stream.current_form_from) ?? currentFormFrom;
    const added = new Map<string, CellSums>();
    addCells(added, cells);
    let n = Number(stream.folded_n ?? 0);
    for (const [k, sums] of added) {
      const was = stored.get(k);
      const now = was ? { n: was.n + sums.n, s1: was.s1 + sums.s1, s2: was.s2 + sums.s2 } : sums;
      stored.set(k, now);
      added.set(k, now);
      n += sums.n;
    }
    await tx
      .updateTable('analysis_streams')
      .set({ folded_until: range.to, folded_n: n, current_form_from: formFrom, updated_at: nowText, ...streamSignatureColumns(keys, id, range.to, n, formFrom, stored) })
      .where('id', '=', id)
      .execute();
    const values = [...added].map(([cell, c]) => ({ stream: id, cell, n: c.n, s1: c.s1, s2: c.s2 }));
    for (let i = 0; i < values.length; i += CELLS_PER_INSERT) {
      const insert = tx.insertInto('analysis_cells').values(values.slice(i, i + CELLS_PER_INSERT));
      if (store.driver === 'mysql') await insert.onDuplicateKeyUpdate({ n: sql`values(n)`, s1: sql`values(s1)`, s2: sql`values(s2)` }).execute();
      else await insert.onConflict((oc) => oc.columns(['stream', 'cell']).doUpdateSet({ n: sql`excluded.n`, s1: sql`excluded.s1`, s2: sql`excluded.s2` })).execute();
    }
    await dropStaleStreams(tx, nowText);
  });
}

/** A bigint column as a number (drivers may hand back strings); null: undefined. */
const numberOrUndefined = (v: number | string | null | undefined): number | undefined => (v === null || v === undefined ? undefined : Number(v));

async function storedCells(db: Db, id: string): Promise<Cells> {
  const cells: Cells = new Map();
  for (const c of await db.selectFrom('analysis_cells').select(['cell', 'n', 's1', 's2']).where('stream', '=', id).execute()) cells.set(c.cell, { n: Number(c.n), s1: Number(c.s1), s2: Number(c.s2) });
  return cells;
}

/** The signed text of a stream's totals: its id, watermark, folded count, first current-form row and every cell, in key order. */
function streamText(id: string, foldedUntil: number, foldedN: number, currentFormFrom: number | null, cells: Cells): string {
  const lines = [...cells].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([k, c]) => `${k}\t${String(c.n)}\t${String(c.s1)}\t${String(c.s2)}`);
  return `${STREAM_SCHEME}\n${id}\n${String(foldedUntil)}\n${String(foldedN)}\n${String(currentFormFrom)}\n${lines.join('\n')}`;
}

function streamSignatureColumns(keys: VerificationKeys, id: string, foldedUntil: number, foldedN: number, currentFormFrom: number | null, cells: Cells): { signature: string; signature_key_id: string } {
  const key = typeof keys === 'string' ? keys : keys.signingKey;
  return { signature: hmacSha256Hex(key, streamText(id, foldedUntil, foldedN, currentFormFrom, cells)), signature_key_id: signingKeyId(key) };
}

/** Whether the stream's stored signature is the current key's over its stored totals (a previous key's folds again: cheap, and re-signs). */
function streamSignatureHolds(keys: VerificationKeys, id: string, stream: { folded_until: number; folded_n?: number | null; signature?: string | null; signature_key_id?: string | null; current_form_from?: number | null }, cells: Cells): boolean {
  if (stream.signature === null || stream.signature === undefined || stream.folded_n === null || stream.folded_n === undefined) return false;
  const expected = streamSignatureColumns(keys, id, Number(stream.folded_until), Number(stream.folded_n), numberOrUndefined(stream.current_form_from) ?? null, cells);
  return stream.signature_key_id === expected.signature_key_id && sameMac(String(stream.signature), expected.signature);
}

/**
 * Checks every row of the window in `range` (records the refused in `verifier`), in pages by
 * (logged_at, id) so a long unfolded tail is never held whole; in logged_at order, so an earlier-form
 * row (its logged_at unsigned) logged after a current-form row is refused (LogRowVerifier.checkInLoggedOrder).
 */
async function checkRange(w: LogWindow, verifier: LogRowVerifier, range: LoggedRange): Promise<void> {
  const columns = sql.join(CHECKED_LOG_COLUMNS.map((c) => sql.ref(`p.${c}`)));
  let after: { at: number; id: string } | undefined;
  for (;;) {
    const page = after === undefined ? sql`1 = 1` : sql`(p.logged_at > ${after.at} or (p.logged_at = ${after.at} and p.id > ${after.id}))`;
    const rows = await w.rows(
      sql<StoredLogRow & { logged_at: number }>`select ${columns} from ${w.from('p', 'logged')} where ${w.where('p')} and ${w.logged('p', range)} and ${page} order by p.logged_at, p.id limit ${sql.lit(CHECKED_ROWS_PER_READ)}`,
    );
    for (const r of rows) verifier.checkInLoggedOrder(r);
    if (rows.length < CHECKED_ROWS_PER_READ) return;
    const last = rows[rows.length - 1];
    after = { at: Number(last.logged_at), id: last.id };
  }
}

/**
 * Checks the rows of the window whose logged_at is null (none but by hand: the column has the
 * database's clock as its default, and the writer signs the value it sets), in pages by id. Every one
 * is refused (checkInLoggedOrder: a current-form MAC covers logged_at, an earlier-form row has no place in logged_at order).
 */
async function checkUnlogged(w: LogWindow, verifier: LogRowVerifier): Promise<void> {
  const columns = sql.join(CHECKED_LOG_COLUMNS.map((c) => sql.ref(`p.${c}`)));
  let after: string | undefined;
  for (;;) {
    const page = after === undefined ? sql`1 = 1` : sql`p.id > ${after}`;
    const rows = await w.rows(sql<StoredLogRow>`select ${columns} from ${w.from('p', 'logged')} where ${w.where('p')} and p.logged_at is null and ${page} order by p.id limit ${sql.lit(CHECKED_ROWS_PER_READ)}`);
    for (const r of rows) verifier.checkInLoggedOrder(r);
    if (rows.length < CHECKED_ROWS_PER_READ) return;
    after = rows[rows.length - 1].id;
  }
}

/** The label state of each key (version, symbol, asOf) in `keys`, by `labelKey`; `specs`: the versions' label specs when the caller has loaded them (labelSpecsOf). */
export async function labelStates(store: Database, model: string, keys: Iterable<OutcomeKey>, specs?: (version: number) => LabelSpec): Promise<Map<string, number>> {
  const unique = new Map<string, OutcomeKey>();
  for (const k of keys) unique.set(labelKey(k.version, k.symbol, k.asOf), k);
  const list = [...unique.values()];
  const states = new Map<string, number>();
  if (list.length === 0) return states;
  const labelFor = specs ?? (await labelSpecsOf(store, model, new Set(list.map((k) => k.version))));
  const outcomes = await outcomesOfKeys(store, list, labelFor);
  list.forEach((k, i) => {
    const o = outcomes[i];
    states.set(labelKey(k.version, k.symbol, k.asOf), !o.matured ? LABEL.unmatured : o.outcome === null ? LABEL.noLabel : o.outcome);
  });
  return states;
}

/**
 * labelStates, with bars no held key vouches for (UnverifiedBarsError from the outcomes' read) as no
 * labels at all and what was refused: an analysis then decides nothing on outcomes and says why.
 */
export async function verifiedLabelStates(store: Database, model: string, keys: Iterable<OutcomeKey>, specs?: (version: number) => LabelSpec): Promise<{ labels: Map<string, number>; unverifiedBars?: RefusedBarsSummary }> {
  try {
    return { labels: await labelStates(store, model, keys, specs) };
  } catch (error) {
    if (!(error instanceof UnverifiedBarsError)) throw error;
    return { labels: new Map(), unverifiedBars: refusedBarsSummary(error) };
  }
}

export const labelKey = (version: number, symbol: string, asOf: string): string => `${version}\u0000${symbol}\u0000${asOf}`;

/** `alias.error is null and alias.probability is not null`: a prediction that did not fail. */
export function succeeded(alias: string): RawBuilder<unknown> {
  return sql`${sql.ref(`${alias}.error`)} is null and ${sql.ref(`${alias}.probability`)} is not null`;
}

/** The id of the row of `variant` for the request of row `alias` (ids are requestId + ':' + variant). */
export function requestRowId(driver: Database['driver'], alias: string, variant: string): RawBuilder<string> {
  const requestId = sql.ref(`${alias}.request_id`);
  return driver === 'mysql' ? sql<string>`concat(${requestId}, ':', ${variant})` : sql<string>`${requestId} || ':' || ${variant}`;
}
