/**
 * How the stream consumer writes a batch of live bars: in one transaction,
 *
 * - **stream order**: a bar whose symbol and date a newer entry of the same stream already wrote is
 *   not written (`superseded`). Delivery is at least once: a batch that failed and is claimed again
 *   later, or a slow consumer's batch written after another consumer's newer one, must not overwrite
 *   what the newer entry wrote. Which entry wrote a bar is recorded in `live_bar_sources` (per
 *   stream, symbol and date), but only by a write that an older entry could still follow: when an
 *   entry older than the batch is pending in the group (read, not acknowledged), or the batch is
 *   itself a redelivery (`record`). Entries are delivered in stream order and an older entry can
 *   only come back while pending, so otherwise nothing could ever be outranked: a backlog or a
 *   steady feed without failures records nothing and pays one range read per batch. Repeated
 *   values are recorded too (a newer repeat outranks an older, different message still pending).
 * - **event time**: a bar's stored version carries when its message was produced (`bars.event_time`:
 *   from the consumer, the earlier of the message's event_time and its entry's time, taken from the
 *   entry alone so every delivery gives the same, stream-quality.ts versionTimeOf; an import's
 *   version, the clock of its content: when its bytes were first seen or fetched,
 *   lib/store/staging.ts publishBars), so live versions are ordered against imported content. A live bar with other values than the
 *   stored bar revises it only when it is not older by event_time: one produced before the stored
 *   version (an old stream segment replayed, a producer re-sending its backlog after a correction)
 *   is `stale` and changes nothing (no revision row, no stale mark); so is one produced before the
 *   content of the import that wrote the stored version was seen. Equal times: the later entry wins. A bar
 *   without a time (a direct caller's), or a stored version without one, revises in stream order.
 *   Event time outranks stream order too: a bar held by a newer entry is still written when it is
 *   newer by event_time than the stored version (looked up for such a bar only). The
 *   time is read with the stored values a revision looks up anyway: a new bar costs nothing more.
 *   A repeat of the stored values changes nothing, its time included: re-sent content (a producer's
 *   retry, `stream:replay --from-store`) is no newer than when it was first stored, and moving the
 *   time on made a correction first seen before the repeat look older than the store (an import
 *   then left it as superseded). A stored version without a time keeps none.
 * - **revisions**: a bar that replaces stored values is logged in `bar_revisions` (old and new
 *   values, snapshot id `stream:<key>@<entry id>`) and every feature-set version's rows of that
 *   symbol are marked stale from its date (`feature_progress.stale_from`, as absorbBarRevisions
 *   does for a publish), so the next materialisation recomputes them. In the same transaction as
 *   the bars: a crash between the two would leave a redelivery finding the bar stored as is, and
 *   the revision forgotten. The mark also moves `updated_at`, so a materialisation running
 *   meanwhile (computed from the old values) does not clear it.
 *
 * - **retractions**: a stored bar that a bar of the batch shows to be a one-bar glitch (stored as the
 *   newest bar when nothing came after it; lib/quality/stored-rules.ts) is deleted in the same
 *   transaction, when the bar that reveals it is written and the stored bar still holds the values
 *   judged; it is logged in `bar_revisions` with its old values and no new ones, and the feature rows
 *   are marked stale from its date, as for a revision.
 *
 * SQLite: prepared statements in one synchronous BEGIN IMMEDIATE transaction (writers are
 * serialised), an insert that does nothing for a stored bar, and a lookup only for a bar that was
 * stored already. MySQL: the check is a locking read (LOCK IN SHARE MODE) of the batch's symbols
 * and dates, taken before anything is written, so an older batch and a newer one writing the same
 * bars concurrently are serialised through those rows and gaps; the bars go out as multi-row
 * statements with their values written in. A bar the consumer's window held with other values is
 * looked up (locked) and logged as a revision. Bars the window did not hold go in first as
 * `insert ignore`, under a savepoint: when every one was inserted (the steady case) nothing more is
 * read; when any was stored already (an import published it, or another consumer wrote it after
 * this one loaded its window), the insert is rolled back to the savepoint and those bars take the
 * looked-up path, so a replaced bar is always logged, whoever wrote it.
 */
import { createHash } from 'node:crypto';
import { CompiledQuery, sql, type Kysely, type Transaction } from 'kysely';
import { escape } from 'mysql2';
import type { Bar } from '../market-data/bar';
import type { RowSigning } from '../registry/row-signature';
import { barSignatureColumns } from '../store/bar-signature';
import { assertSymbolsFit, upsertBarsIn } from '../store/bars';
import type { Database } from '../store/database';
import type { DatabaseSchema } from '../store/schema';
import type { BarChange } from './bar-windows';

export interface LiveBarWrite {
  bar: Bar;
  /** The stream entry the bar came from. */
  entryId: string;
  /** What the consumer's window says; only the store's answer decides what is logged. */
  change: BarChange;
  /**
   * When the bar was produced, as eventTimeKey (live-bar.ts) makes it: from the consumer, the
   * earlier of its message's event_time and its entry's time (stream-quality.ts versionTimeOf).
   * Without it the version is stored with no time.
   */
  eventTime?: string;
}

/**
 * Per bar: inserted, replaced stored values, equal to the stored bar, held by a newer entry, or
 * older by event_time than the stored version with other values (`stale`: nothing written).
 */
export type LiveWriteOutcome = 'added' | 'revised' | 'unchanged' | 'superseded' | 'stale';

export interface LiveWriteOptions {
  /** The stream's id in the store (the consumer's quarantine snapshot id, `stream:<key>`, at most 64 characters). */
  stream: string;
  /**
   * The entries are one read of new entries (XREADGROUP ">"): no other consumer holds an entry
   * between the first and the last, so only entries after the last can outrank them. False for
   * claimed (redelivered) entries.
   */
  contiguous: boolean;
  /** Record the entries (an older entry of the stream may still be written after these). */
  record: boolean;
}

/** A stored bar to delete with the batch (a glitch revealed by the batch's bar of one of `revealedBy`, dates of its symbol). */
export interface LiveRetraction {
  bar: Bar;
  revealedBy: readonly string[];
}

// 4 values per source row, 7 per bar: 1,000 rows stay under both drivers' placeholder limits.
const ROWS_PER_STATEMENT = 1000;
// 14 per revision row.
const REVISIONS_PER_STATEMENT = 500;

/** An entry id as stored: both parts zero-padded to 20 digits (2^64 has 20), so text order is stream order. */
export function entryKey(id: string): string {
  const dash = id.indexOf('-');
  return `${id.slice(0, dash).padStart(20, '0')}-${id.slice(dash + 1).padStart(20, '0')}`;
}

/** The bar_revisions snapshot id of a live revision: the stream and the entry that made it (varchar(64)). */
export function liveRevisionId(stream: string, entryId: string): string {
  const id = `${stream}@${entryId}`;
  return id.length <= 64 ? id : `stream:${createHash('sha1').update(stream).digest('hex').slice(0, 15)}@${entryId}`;
}

/** Stream ids compared as the two unsigned integers they are (no leading zeros: longer is larger), without making keys. */
export function compareEntryIds(a: string, b: string): number {
  const da = a.indexOf('-');
  const db = b.indexOf('-');
  if (da !== db) return da - db;
  const ms = a.slice(0, da) < b.slice(0, db) ? -1 : a.slice(0, da) > b.slice(0, db) ? 1 : 0;
  if (ms !== 0) return ms;
  const sa = a.length - da;
  const sb = b.length - db;
  return sa !== sb ? sa - sb : a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A live bar produced before the stored version of its bar (both with a time: an import's version
 * has its publication time): it must not revise it (a replayed or re-sent older entry after a later
 * correction, live or imported). A bar without one, or a stored version without one, revises in
 * stream order; equal times too (the later entry wins).
 */
function olderThanStored(eventTime: string | undefined, stored: string | null): boolean {
  return eventTime !== undefined && stored !== null && eventTime < stored;
}

/**
 * Indexes into `bars` of those produced before the stored version of their bar, which the write would
 * find `stale` (olderThanStored). Read outside the write, for the few corrections the consumer's
 * judging rejects: an old segment replayed over a store since moved to another basis is stale, as it
 * was before the judging read one- and two-bar overlaps; nothing is written either way.
 */
export async function olderThanStoredVersions(store: Database, bars: ReadonlyArray<{ symbol: string; date: string; eventTime: string | undefined }>): Promise<Set<number>> {
  const out = new Set<number>();
  for (const [k, b] of bars.entries()) {
    if (b.eventTime === undefined) continue;
    const row = await store.db.selectFrom('bars').select('event_time').where('symbol', '=', b.symbol).where('date', '=', b.date).executeTakeFirst();
    if (row !== undefined && olderThanStored(b.eventTime, row.event_time)) out.add(k);
  }
  return out;
}

/**
 * A live bar produced after the stored version of its bar (both with an event_time): it revises it
 * even when a newer stream entry wrote that version (an older entry whose write failed and that
 * comes back after a replayed, older message was stored). Without either time, stream order decides.
 */
function newerThanStored(eventTime: string | undefined, stored: StoredVersion | undefined): boolean {
  return eventTime !== undefined && stored !== undefined && stored.event_time !== null && eventTime > stored.event_time;
}

function sameValues(a: Omit<Bar, 'symbol' | 'date'>, b: Bar): boolean {
  return a.open === b.open && a.high === b.high && a.low === b.low && a.close === b.close && a.volume === b.volume;
}

interface Revision {
  bar: Bar;
  entryId: string;
  old: Omit<Bar, 'symbol' | 'date'>;
  /** The stored bar was removed (a retraction): no new values. */
  retracted?: true;
}

/** The entry that wrote the bar revealing each retraction, for those whose revealing bar was written (added or revised). */
function revealedRetractions(items: readonly LiveBarWrite[], outcomes: readonly LiveWriteOutcome[], retractions: readonly LiveRetraction[]): Array<{ retraction: LiveRetraction; entryId: string }> {
  if (retractions.length === 0) return [];
  const written = new Map<string, string>();
  items.forEach((it, k) => {
    if (outcomes[k] === 'added' || outcomes[k] === 'revised') written.set(`${it.bar.symbol}\u0000${it.bar.date}`, it.entryId);
  });
  const out: Array<{ retraction: LiveRetraction; entryId: string }> = [];
  for (const r of retractions) {
    const entryId = r.revealedBy.map((d) => written.get(`${r.bar.symbol}\u0000${d}`)).find((e) => e !== undefined);
    if (entryId !== undefined) out.push({ retraction: r, entryId });
  }
  return out;
}

/** A stored bar's values and the event_time of its version. */
type StoredVersion = Omit<Bar, 'symbol' | 'date'> & { event_time: string | null };

/** What the check reads: the batch's date range and the entry that a recorded one must pass to outrank it. */
function checkRange(items: readonly LiveBarWrite[], contiguous: boolean): { lo: string; hi: string; threshold: string; symbols: string[] } {
  let lo = items[0].bar.date;
  let hi = lo;
  // Of a contiguous read only entries after its last can be newer; otherwise any after its first.
  let threshold = items[0].entryId;
  const symbols = new Set<string>();
  for (const { bar, entryId } of items) {
    if (bar.date < lo) lo = bar.date;
    if (bar.date > hi) hi = bar.date;
    symbols.add(bar.symbol);
    const order = compareEntryIds(entryId, threshold);
    if (contiguous ? order > 0 : order < 0) threshold = entryId;
  }
  return { lo, hi, threshold: entryKey(threshold), symbols: [...symbols] };
}

/**
 * Writes `items` (one per symbol and date, best in key order) as described above; returns each
 * item's outcome, in the same order.
 */
export async function writeLiveBars(store: Database, items: readonly LiveBarWrite[], options: LiveWriteOptions): Promise<LiveWriteOutcome[]> {
  return (await writeLiveBatch(store, items, options, [])).outcomes;
}

/** What writeLiveBatch did: each item's outcome (in order) and the retractions it made. */
export interface LiveBatchWrite {
  outcomes: LiveWriteOutcome[];
  retracted: LiveRetraction[];
}

/**
 * writeLiveBars with `retractions`: stored bars the batch shows to be glitches, deleted in the same
 * transaction when a bar that reveals them is written and they still hold the values judged.
 */
export async function writeLiveBatch(store: Database, items: readonly LiveBarWrite[], options: LiveWriteOptions, retractions: readonly LiveRetraction[]): Promise<LiveBatchWrite> {
  if (items.length === 0) return { outcomes: [], retracted: [] };
  assertSymbolsFit(items.map((i) => i.bar));
  const now = new Date().toISOString();
  // As upsertBars: the synchronous path only when no Kysely transaction is open on the connection.
  if (store.sqlite && !store.sqlite.inTransaction) return writeSqlite(store, store.sqlite, items, options, now, retractions);
  return store.db.transaction().execute((tx) => writeInTransaction(store, tx, items, options, now, retractions));
}

type SqliteHandle = NonNullable<Database['sqlite']>;
type SqliteWrite = (items: readonly LiveBarWrite[], options: LiveWriteOptions, now: string, retractions: readonly LiveRetraction[]) => LiveBatchWrite;
const sqliteWrites = new WeakMap<SqliteHandle, SqliteWrite>();

function writeSqlite(store: Database, sqlite: SqliteHandle, items: readonly LiveBarWrite[], options: LiveWriteOptions, now: string, retractions: readonly LiveRetraction[]): LiveBatchWrite {
  let write = sqliteWrites.get(sqlite);
  if (!write) {
    const check = sqlite.prepare('select "symbol", "date", "entry" from "live_bar_sources" where "stream" = ? and "date" >= ? and "date" <= ? and "entry" > ?').raw(true);
    const source = sqlite.prepare(
      'insert into "live_bar_sources" ("stream", "symbol", "date", "entry") values (?, ?, ?, ?) ' +
        'on conflict ("stream", "symbol", "date") do update set "entry" = "excluded"."entry" where "excluded"."entry" > "live_bar_sources"."entry"',
    );
    const insert = sqlite.prepare('insert into "bars" ("symbol", "date", "open", "high", "low", "close", "volume", "event_time", "signature", "signature_key_id") values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict ("symbol", "date") do nothing');
    const lookup = sqlite.prepare('select "open", "high", "low", "close", "volume", "event_time" from "bars" where "symbol" = ? and "date" = ?');
    const update = sqlite.prepare('update "bars" set "open" = ?, "high" = ?, "low" = ?, "close" = ?, "volume" = ?, "event_time" = ?, "signature" = ?, "signature_key_id" = ? where "symbol" = ? and "date" = ?');
    const remove = sqlite.prepare('delete from "bars" where "symbol" = ? and "date" = ?');
    const transaction = sqlite.transaction((rows: readonly LiveBarWrite[], { stream, contiguous, record }: LiveWriteOptions, at: string, retract: readonly LiveRetraction[]): LiveBatchWrite => {
      const { lo, hi, threshold } = checkRange(rows, contiguous);
      const held = new Map<string, string>();
      for (const [symbol, date, entry] of check.all(stream, lo, hi, threshold) as Array<[string, string, string]>) held.set(`${symbol}\u0000${date}`, entry);
      const outcomes = new Array<LiveWriteOutcome>(rows.length);
      const revisions: Revision[] = [];
      for (let k = 0; k < rows.length; k++) {
        const { bar: b, entryId, change, eventTime } = rows[k];
        const at = eventTime ?? null;
        if (held.size > 0) {
          const newer = held.get(`${b.symbol}\u0000${b.date}`);
          // Held by a newer entry: not written, unless it is newer by event_time than the stored version.
          if (newer !== undefined && newer > entryKey(entryId) && !newerThanStored(eventTime, eventTime === undefined ? undefined : (lookup.get(b.symbol, b.date) as StoredVersion | undefined))) {
            outcomes[k] = 'superseded';
            continue;
          }
        }
        if (record) source.run(stream, b.symbol, b.date, entryKey(entryId));
        if (change === 'duplicate') {
          outcomes[k] = 'unchanged';
          continue;
        }
        // Signed with the handle's key, as every writer of bars (lib/store/bar-signature.ts).
        const { signature, signature_key_id: keyId } = barSignatureColumns(store.signing, b);
        // A bar the window did not hold is inserted; the store says whether it was there after all.
        if (change === 'new' && insert.run(b.symbol, b.date, b.open, b.high, b.low, b.close, b.volume, at, signature, keyId).changes === 1) {
          outcomes[k] = 'added';
          continue;
        }
        const old = lookup.get(b.symbol, b.date) as StoredVersion | undefined;
        if (old === undefined) {
          insert.run(b.symbol, b.date, b.open, b.high, b.low, b.close, b.volume, at, signature, keyId);
          outcomes[k] = 'added';
        } else if (sameValues(old, b)) {
          // A repeat keeps the stored version's time (see the header).
          outcomes[k] = 'unchanged';
        } else if (olderThanStored(eventTime, old.event_time)) outcomes[k] = 'stale';
        else {
          update.run(b.open, b.high, b.low, b.close, b.volume, at, signature, keyId, b.symbol, b.date);
          revisions.push({ bar: b, entryId, old });
          outcomes[k] = 'revised';
        }
      }
      // Glitches the written bars reveal, if still stored as judged.
      const retracted: LiveRetraction[] = [];
      for (const { retraction: r, entryId } of revealedRetractions(rows, outcomes, retract)) {
        const old = lookup.get(r.bar.symbol, r.bar.date) as StoredVersion | undefined;
        if (old === undefined || !sameValues(old, r.bar)) continue;
        remove.run(r.bar.symbol, r.bar.date);
        revisions.push({ bar: r.bar, entryId, old, retracted: true });
        retracted.push(r);
      }
      // Revisions are rare (corrections): their statements are compiled per batch.
      for (const q of revisionQueries(store.db, stream, revisions, at)) sqlite.prepare(q.sql).run(...(q.parameters as unknown[]));
      return { outcomes, retracted };
    });
    // BEGIN IMMEDIATE, as the store's other transactions: the write lock first.
    write = (rows, opts, at, retract) => transaction.immediate(rows, opts, at, retract);
    sqliteWrites.set(sqlite, write);
  }
  return write(items, options, now, retractions);
}

async function writeInTransaction(store: Database, tx: Transaction<DatabaseSchema>, items: readonly LiveBarWrite[], options: LiveWriteOptions, now: string, retractions: readonly LiveRetraction[]): Promise<LiveBatchWrite> {
  const { stream, contiguous, record } = options;
  const mysql = store.driver === 'mysql';
  // 1. The bars a newer entry holds. On MySQL a locking read, before anything is written: a
  //    concurrent writer of these bars has either committed (and is seen here) or waits for this
  //    transaction before it can record its entries.
  const { lo, hi, threshold, symbols } = checkRange(items, contiguous);
  const held = new Map<string, string>();
  for (let i = 0; i < symbols.length; i += ROWS_PER_STATEMENT) {
    let q = tx
      .selectFrom('live_bar_sources')
      .select(['symbol', 'date', 'entry'])
      .where('stream', '=', stream)
      .where('symbol', 'in', symbols.slice(i, i + ROWS_PER_STATEMENT))
      .where('date', '>=', lo)
      .where('date', '<=', hi)
      .where('entry', '>', threshold);
    if (mysql) q = q.modifyEnd(sql`lock in share mode`);
    for (const r of await q.execute()) held.set(`${r.symbol}\u0000${r.date}`, r.entry);
  }
  const outcomes = new Array<LiveWriteOutcome>(items.length);
  const kept: number[] = [];
  /** Held by a newer entry but with an event_time: written only if newer than the stored version's (step 5). */
  const contested = new Set<number>();
  items.forEach((it, k) => {
    const newer = held.size > 0 ? held.get(`${it.bar.symbol}\u0000${it.bar.date}`) : undefined;
    if (newer === undefined || newer <= entryKey(it.entryId)) kept.push(k);
    else if (it.eventTime !== undefined && it.change !== 'duplicate') contested.add(k);
    else outcomes[k] = 'superseded';
  });
  // 2. The entries, before the bars (on MySQL the order that cannot deadlock with a writer that only checks).
  if (record) {
    for (let i = 0; i < kept.length; i += ROWS_PER_STATEMENT) {
      const chunk = kept.slice(i, i + ROWS_PER_STATEMENT);
      if (mysql) {
        const streamText = escape(stream);
        const values = chunk.map((k) => `(${streamText}, ${text(items[k].bar.symbol)}, ${text(items[k].bar.date)}, '${entryKey(items[k].entryId)}')`);
        await tx.executeQuery(CompiledQuery.raw(`insert into \`live_bar_sources\` (\`stream\`, \`symbol\`, \`date\`, \`entry\`) values ${values.join(', ')} on duplicate key update \`entry\` = greatest(\`entry\`, values(\`entry\`))`));
      } else {
        await tx
          .insertInto('live_bar_sources')
          .values(chunk.map((k) => ({ stream, symbol: items[k].bar.symbol, date: items[k].bar.date, entry: entryKey(items[k].entryId) })))
          .onConflict((oc) => oc.columns(['stream', 'symbol', 'date']).doUpdateSet({ entry: sql`max("live_bar_sources"."entry", "excluded"."entry")` }))
          .execute();
      }
    }
  }
  // 3. Bars the window did not hold. On MySQL inserted at once when none is stored (see above);
  //    otherwise, and on SQLite through Kysely (rare), looked up with the corrections.
  const inserted = new Set<number>();
  const lookUp = [...kept.filter((k) => items[k].change === 'revised'), ...contested];
  const fresh = kept.filter((k) => items[k].change === 'new');
  if (mysql) {
    for (let i = 0; i < fresh.length; i += ROWS_PER_STATEMENT) {
      const chunk = fresh.slice(i, i + ROWS_PER_STATEMENT);
      if (await insertAllOrNothingMysql(tx, chunk.map((k) => items[k]), store.signing)) for (const k of chunk) inserted.add(k);
      else lookUp.push(...chunk);
    }
  } else lookUp.push(...fresh);
  // 4. The stored values of the bars that may be stored, to log what they replace (locked on MySQL:
  //    a writer committing between this read and the upsert would otherwise be replaced unlogged).
  const stored = new Map<string, StoredVersion>();
  for (let i = 0; i < lookUp.length; i += ROWS_PER_STATEMENT) {
    const chunk = lookUp.slice(i, i + ROWS_PER_STATEMENT).map((k) => items[k].bar);
    let q = tx
      .selectFrom('bars')
      .select(['symbol', 'date', 'open', 'high', 'low', 'close', 'volume', 'event_time'])
      .where('symbol', 'in', [...new Set(chunk.map((b) => b.symbol))])
      .where('date', 'in', [...new Set(chunk.map((b) => b.date))]);
    if (mysql) q = q.forUpdate();
    for (const r of await q.execute()) stored.set(`${r.symbol}\u0000${r.date}`, { open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close), volume: Number(r.volume), event_time: r.event_time });
  }
  const writes: LiveBarWrite[] = [];
  const revisions: Revision[] = [];
  for (const k of [...kept, ...contested]) {
    const { bar: b, entryId, change, eventTime } = items[k];
    if (contested.has(k) && !newerThanStored(eventTime, stored.get(`${b.symbol}\u0000${b.date}`))) {
      outcomes[k] = 'superseded';
      continue;
    }
    if (change === 'duplicate') {
      outcomes[k] = 'unchanged';
      continue;
    }
    if (inserted.has(k)) {
      outcomes[k] = 'added';
      continue;
    }
    const old = stored.get(`${b.symbol}\u0000${b.date}`);
    if (old !== undefined && sameValues(old, b)) {
      // A repeat keeps the stored version's time (see the header).
      outcomes[k] = 'unchanged';
      continue;
    }
    if (old !== undefined && olderThanStored(eventTime, old.event_time)) {
      outcomes[k] = 'stale';
      continue;
    }
    writes.push(items[k]);
    if (old !== undefined) revisions.push({ bar: b, entryId, old });
    outcomes[k] = old !== undefined ? 'revised' : 'added';
  }
  // 5. The bars, then the revision log and the stale marks.
  if (mysql) await upsertMysql(tx, writes, store.signing);
  else
    await upsertBarsIn(
      tx,
      store.driver,
      writes.map((w) => w.bar),
      writes.map((w) => w.eventTime ?? null),
      store.signing,
    );
  // Glitches the written bars reveal, if still stored as judged (locked on MySQL until the commit).
  const retracted: LiveRetraction[] = [];
  for (const { retraction: r, entryId } of revealedRetractions(items, outcomes, retractions)) {
    let q = tx.selectFrom('bars').select(['open', 'high', 'low', 'close', 'volume']).where('symbol', '=', r.bar.symbol).where('date', '=', r.bar.date);
    if (mysql) q = q.forUpdate();
    const row = await q.executeTakeFirst();
    const old = row && { open: Number(row.open), high: Number(row.high), low: Number(row.low), close: Number(row.close), volume: Number(row.volume) };
    if (old === undefined || !sameValues(old, r.bar)) continue;
    await tx.deleteFrom('bars').where('symbol', '=', r.bar.symbol).where('date', '=', r.bar.date).execute();
    revisions.push({ bar: r.bar, entryId, old, retracted: true });
    retracted.push(r);
  }
  for (const q of revisionQueries(store.db, stream, revisions, now)) await tx.executeQuery(q);
  return { outcomes, retracted };
}

/** Text that needs no escaping in a quoted MySQL string (symbols, ISO dates and times), else mysql2's escaping: what its placeholders would make. */
const PLAIN_TEXT = /^[A-Za-z0-9.$^=_:-]*$/;
function text(s: string): string {
  return PLAIN_TEXT.test(s) ? `'${s}'` : escape(s);
}

const MYSQL_ON_DUPLICATE = ' on duplicate key update `open` = values(open), `high` = values(high), `low` = values(low), `close` = values(close), `volume` = values(volume), `event_time` = values(event_time), `signature` = values(signature), `signature_key_id` = values(signature_key_id)';
const MYSQL_COLUMNS = '`symbol`, `date`, `open`, `high`, `low`, `close`, `volume`, `event_time`, `signature`, `signature_key_id`';

/** A bar's row of values as written in a MySQL statement, then its event_time (or null) and its signature by `signing` (hex, or nulls). */
function mysqlRow({ bar: b, eventTime }: LiveBarWrite, signing: RowSigning | undefined): string {
  const signed = barSignatureColumns(signing, b);
  const signature = signed.signature === null ? 'null, null' : `'${signed.signature}', '${signed.signature_key_id}'`;
  return `(${text(b.symbol)}, ${text(b.date)}, ${String(b.open)}, ${String(b.high)}, ${String(b.low)}, ${String(b.close)}, ${String(b.volume)}, ${eventTime === undefined ? 'null' : text(eventTime)}, ${signature})`;
}

/** Bars as multi-row upserts with their values written in (formatting thousands of placeholders was a tenth of the consumer's time). */
async function upsertMysql(tx: Transaction<DatabaseSchema>, writes: readonly LiveBarWrite[], signing: RowSigning | undefined): Promise<void> {
  for (let i = 0; i < writes.length; i += ROWS_PER_STATEMENT) {
    const chunk = writes.slice(i, i + ROWS_PER_STATEMENT);
    if (!chunk.every(({ bar: b }) => Number.isFinite(b.open) && Number.isFinite(b.high) && Number.isFinite(b.low) && Number.isFinite(b.close) && Number.isFinite(b.volume))) {
      await upsertBarsIn(
        tx,
        'mysql',
        chunk.map((w) => w.bar),
        chunk.map((w) => w.eventTime ?? null),
        signing,
      );
      continue;
    }
    await tx.executeQuery(CompiledQuery.raw(`insert into \`bars\` (${MYSQL_COLUMNS}) values ${chunk.map((w) => mysqlRow(w, signing)).join(', ')}${MYSQL_ON_DUPLICATE}`));
  }
}

/**
 * Inserts the bars of `writes` (none stored, as far as the caller knows) if none of them is stored, in one
 * statement; true when it did. Otherwise nothing is left written (rolled back to a savepoint).
 * `insert ignore` would also turn a too-long value into a warning: symbols were checked to fit
 * (assertSymbolsFit), dates are ISO (10 characters) and the values finite doubles.
 */
async function insertAllOrNothingMysql(tx: Transaction<DatabaseSchema>, writes: readonly LiveBarWrite[], signing: RowSigning | undefined): Promise<boolean> {
  if (!writes.every(({ bar: b }) => Number.isFinite(b.open) && Number.isFinite(b.high) && Number.isFinite(b.low) && Number.isFinite(b.close) && Number.isFinite(b.volume))) return false;
  await tx.executeQuery(CompiledQuery.raw('savepoint live_new_bars'));
  const result = await tx.executeQuery(CompiledQuery.raw(`insert ignore into \`bars\` (${MYSQL_COLUMNS}) values ${writes.map((w) => mysqlRow(w, signing)).join(', ')}`));
  if (Number(result.numAffectedRows ?? -1) === writes.length) {
    await tx.executeQuery(CompiledQuery.raw('release savepoint live_new_bars'));
    return true;
  }
  await tx.executeQuery(CompiledQuery.raw('rollback to savepoint live_new_bars'));
  return false;
}

/**
 * The revision log rows and the stale marks for `revisions`, compiled (run inside the caller's
 * transaction, synchronously on SQLite). Every version with a progress row for the symbol gets
 * stale_from = the earlier of its mark and the revised date, and `updated_at` moved on; a version
 * with rows of the symbol but no progress row (rows stored before progress was kept) gets one.
 */
function revisionQueries(db: Kysely<DatabaseSchema>, stream: string, revisions: readonly Revision[], now: string): CompiledQuery[] {
  if (revisions.length === 0) return [];
  const queries: CompiledQuery[] = [];
  for (let i = 0; i < revisions.length; i += REVISIONS_PER_STATEMENT) {
    const rows = revisions.slice(i, i + REVISIONS_PER_STATEMENT).map(({ bar: b, entryId, old, retracted }) => ({
      snapshot_id: liveRevisionId(stream, entryId),
      symbol: b.symbol,
      date: b.date,
      old_open: old.open,
      old_high: old.high,
      old_low: old.low,
      old_close: old.close,
      old_volume: old.volume,
      new_open: retracted ? null : b.open,
      new_high: retracted ? null : b.high,
      new_low: retracted ? null : b.low,
      new_close: retracted ? null : b.close,
      new_volume: retracted ? null : b.volume,
      published_at: now,
    }));
    // An entry revises its bar once: the same entry again finds its own values stored.
    queries.push(db.insertInto('bar_revisions').ignore().values(rows).compile());
  }
  const earliest = new Map<string, string>();
  for (const { bar } of revisions) {
    const known = earliest.get(bar.symbol);
    if (known === undefined || bar.date < known) earliest.set(bar.symbol, bar.date);
  }
  for (const [symbol, date] of earliest) {
    queries.push(
      db
        .updateTable('feature_progress')
        .set({ stale_from: sql<string>`case when stale_from is null or stale_from > ${date} then ${date} else stale_from end`, updated_at: now })
        .where('symbol', '=', symbol)
        .compile(),
    );
    queries.push(
      db
        .insertInto('feature_progress')
        .columns(['version', 'symbol', 'through', 'bars', 'stale_from', 'updated_at'])
        .expression((eb) =>
          eb
            .selectFrom('feature_sets as v')
            .select(['v.version', sql<string>`${symbol}`.as('symbol'), sql<null>`null`.as('through'), sql<null>`null`.as('bars'), sql<string>`${date}`.as('stale_from'), sql<string>`${now}`.as('updated_at')])
            .where((w) => w.not(w.exists(w.selectFrom('feature_progress as p').select('p.symbol').whereRef('p.version', '=', 'v.version').where('p.symbol', '=', symbol))))
            .where((w) => w.exists(w.selectFrom('feature_rows as r').select('r.symbol').whereRef('r.version', '=', 'v.version').where('r.symbol', '=', symbol))),
        )
        .compile(),
    );
  }
  return queries;
}
