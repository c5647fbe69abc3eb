import { createHash } from 'node:crypto';
import { CompiledQuery, sql, type Kysely, type Transaction } from 'kysely';
import type { Bar, BarSeries } from '../market-data/bar';
import { BadInputError } from '../errors';
import { withSqliteLock, type Database } from './database';
import type { DatabaseSchema } from './schema';
import type { RowSigning } from '../registry/row-signature';
import { barSignatureColumns, barVerifierOf, UnverifiedBarsError, type BarVerifier } from './bar-signature';

/** Width of every symbol column (varchar(32)). */
export const MAX_SYMBOL_LENGTH = 32;

/**
 * Refuses, before anything is written, a symbol wider than the column: MySQL would fail the write
 * with "Data too long", which retrying cannot fix.
 */
export function assertSymbolsFit(bars: Iterable<{ symbol: string }>): void {
  for (const { symbol } of bars) {
    // UTF-16 length bounds the character count from above, so only long strings need counting.
    if (symbol.length > MAX_SYMBOL_LENGTH && [...symbol].length > MAX_SYMBOL_LENGTH) {
      throw new BadInputError(`Symbol "${symbol}" has ${[...symbol].length} characters, more than the limit of ${MAX_SYMBOL_LENGTH}`, 'SYMBOL_TOO_LONG');
    }
  }
}

// 9 parameters per row; 1,000 rows stays well under SQLite's and MySQL's placeholder limits.
const ROWS_PER_STATEMENT = 1000;

/**
 * Inserts bars or overwrites the stored values for the same (symbol, date): importing the same
 * data twice leaves the table exactly as after the first import, and a corrected file wins. The
 * versions it writes have no time (event_time null; see below): seeding, benchmarks, tests. Each
 * bar is signed with the handle's key (store.signing; lib/store/bar-signature.ts), unsigned without.
 */
export async function upsertBars(store: Database, bars: readonly Bar[]): Promise<void> {
  assertSymbolsFit(bars);
  const signing = store.signing;
  // SQLite: one prepared statement, reused, run per row in one synchronous transaction (no SQL text
  // of thousands of placeholders built and parsed per call). Only when no transaction is open on the
  // connection (one begun through Kysely and awaiting would otherwise absorb these rows).
  if (store.sqlite && !store.sqlite.inTransaction) {
    upsertSqlite(store.sqlite, bars, signing);
    return;
  }
  if (store.driver === 'mysql') {
    // The statement Kysely would build, as text: no query tree of thousands of nodes to build and compile.
    await store.db.transaction().execute(async (tx) => {
      for (let i = 0; i < bars.length; i += ROWS_PER_STATEMENT) {
        const chunk = bars.slice(i, i + ROWS_PER_STATEMENT);
        const literal = mysqlLiteralUpsert(chunk, signing);
        if (literal !== undefined) {
          await tx.executeQuery(CompiledQuery.raw(literal));
          continue;
        }
        const parameters: Array<string | number | null> = new Array<string | number | null>(chunk.length * 9);
        chunk.forEach((b, k) => {
          const signed = barSignatureColumns(signing, b);
          parameters[k * 9] = b.symbol;
          parameters[k * 9 + 1] = b.date;
          parameters[k * 9 + 2] = b.open;
          parameters[k * 9 + 3] = b.high;
          parameters[k * 9 + 4] = b.low;
          parameters[k * 9 + 5] = b.close;
          parameters[k * 9 + 6] = b.volume;
          parameters[k * 9 + 7] = signed.signature;
          parameters[k * 9 + 8] = signed.signature_key_id;
        });
        await tx.executeQuery(CompiledQuery.raw(mysqlUpsertSql(chunk.length), parameters));
      }
    });
    return;
  }
  await store.db.transaction().execute((tx) => upsertBarsIn(tx, store.driver, bars, undefined, signing));
}

/** Texts that need no escaping in a quoted MySQL string: nothing but letters, digits and . $ ^ = _ - (symbols, ISO dates). */
const PLAIN_TEXT = /^[A-Za-z0-9.$^=_-]*$/;

/**
 * The upsert with its values written in (what mysql2 would make of the placeholders: a number as
 * String(n), a string quoted), when every symbol and date is plain text and every number finite;
 * else undefined and the placeholders are filled by mysql2. Formatting 7,000 placeholders a
 * statement was a tenth of the consumer's time on MariaDB.
 */
function mysqlLiteralUpsert(rows: readonly Bar[], signing: RowSigning | undefined): string | undefined {
  const values = new Array<string>(rows.length);
  for (let k = 0; k < rows.length; k++) {
    const b = rows[k];
    if (!PLAIN_TEXT.test(b.symbol) || !PLAIN_TEXT.test(b.date)) return undefined;
    if (!Number.isFinite(b.open) || !Number.isFinite(b.high) || !Number.isFinite(b.low) || !Number.isFinite(b.close) || !Number.isFinite(b.volume)) return undefined;
    // A signature and key id are hex: plain text.
    const signed = barSignatureColumns(signing, b);
    const signature = signed.signature === null ? 'null, null' : `'${signed.signature}', '${signed.signature_key_id}'`;
    values[k] = `('${b.symbol}', '${b.date}', ${String(b.open)}, ${String(b.high)}, ${String(b.low)}, ${String(b.close)}, ${String(b.volume)}, ${signature})`;
  }
  return `insert into \`bars\` (${MYSQL_COLUMNS}) values ${values.join(', ')}${MYSQL_ON_DUPLICATE}`;
}

// A version written here has no event_time (schema.ts BarsTable): any live bar may revise it in stream
// order. An import's publish goes through upsertBarsIn and stamps its publication time (staging.ts).
const MYSQL_ON_DUPLICATE = ' on duplicate key update `open` = values(open), `high` = values(high), `low` = values(low), `close` = values(close), `volume` = values(volume), `event_time` = null, `signature` = values(signature), `signature_key_id` = values(signature_key_id)';
const MYSQL_COLUMNS = '`symbol`, `date`, `open`, `high`, `low`, `close`, `volume`, `signature`, `signature_key_id`';

const mysqlUpserts = new Map<number, string>();
function mysqlUpsertSql(rows: number): string {
  let text = mysqlUpserts.get(rows);
  if (text === undefined) {
    text =
      `insert into \`bars\` (${MYSQL_COLUMNS}) values ` +
      new Array<string>(rows).fill('(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ') +
      MYSQL_ON_DUPLICATE;
    if (mysqlUpserts.size > 100) mysqlUpserts.clear();
    mysqlUpserts.set(rows, text);
  }
  return text;
}

type SqliteHandle = NonNullable<Database['sqlite']>;
const sqliteUpserts = new WeakMap<SqliteHandle, (bars: readonly Bar[], signing: RowSigning | undefined) => void>();

function upsertSqlite(sqlite: SqliteHandle, bars: readonly Bar[], signing: RowSigning | undefined): void {
  let upsert = sqliteUpserts.get(sqlite);
  if (!upsert) {
    const statement = sqlite.prepare(
      'insert into "bars" ("symbol", "date", "open", "high", "low", "close", "volume", "signature", "signature_key_id") values (?, ?, ?, ?, ?, ?, ?, ?, ?) ' +
        'on conflict ("symbol", "date") do update set "open" = "excluded"."open", "high" = "excluded"."high", "low" = "excluded"."low", "close" = "excluded"."close", "volume" = "excluded"."volume", "event_time" = null, ' +
        '"signature" = "excluded"."signature", "signature_key_id" = "excluded"."signature_key_id"',
    );
    // BEGIN IMMEDIATE, as the store's other transactions (ImmediateSqliteDriver): the write lock first.
    const transaction = sqlite.transaction((rows: readonly Bar[], by: RowSigning | undefined) => {
      for (const b of rows) {
        const signed = barSignatureColumns(by, b);
        statement.run(b.symbol, b.date, b.open, b.high, b.low, b.close, b.volume, signed.signature, signed.signature_key_id);
      }
    });
    upsert = (rows, by) => transaction.immediate(rows, by);
    sqliteUpserts.set(sqlite, upsert);
  }
  upsert(bars, signing);
}

/**
 * `upsertBars` inside a transaction the caller holds (publishing a snapshot). `eventTimes` (live
 * bars, parallel to `bars`): each version's event_time; without it every written bar has none.
 * `signing`: the writing handle's (store.signing), which signs every bar; unsigned without a key.
 */
export async function upsertBarsIn(tx: Transaction<DatabaseSchema>, driver: Database['driver'], bars: readonly Bar[], eventTimes: ReadonlyArray<string | null> | undefined, signing: RowSigning | undefined): Promise<void> {
  for (let i = 0; i < bars.length; i += ROWS_PER_STATEMENT) {
    const chunk = bars.slice(i, i + ROWS_PER_STATEMENT);
    const insert = tx.insertInto('bars').values(chunk.map((b, k) => ({ symbol: b.symbol, date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, event_time: eventTimes?.[i + k] ?? null, ...barSignatureColumns(signing, b) })));
    if (driver === 'mysql') {
      await insert
        .onDuplicateKeyUpdate({
          open: sql`values(open)`,
          high: sql`values(high)`,
          low: sql`values(low)`,
          close: sql`values(close)`,
          volume: sql`values(volume)`,
          event_time: sql`values(event_time)`,
          signature: sql`values(signature)`,
          signature_key_id: sql`values(signature_key_id)`,
        })
        .execute();
    } else {
      await insert
        .onConflict((oc) =>
          oc.columns(['symbol', 'date']).doUpdateSet((eb) => ({
            open: eb.ref('excluded.open'),
            high: eb.ref('excluded.high'),
            low: eb.ref('excluded.low'),
            close: eb.ref('excluded.close'),
            volume: eb.ref('excluded.volume'),
            event_time: eb.ref('excluded.event_time'),
            signature: eb.ref('excluded.signature'),
            signature_key_id: eb.ref('excluded.signature_key_id'),
          })),
        )
        .execute();
    }
  }
}

export interface BarQuery {
  symbols?: readonly string[];
  from?: string;
  to?: string;
}

function filtered(store: Database, query: BarQuery) {
  let q = store.db.selectFrom('bars');
  if (query.symbols && query.symbols.length > 0) q = q.where('symbol', 'in', [...query.symbols]);
  if (query.from) q = q.where('date', '>=', query.from);
  if (query.to) q = q.where('date', '<=', query.to);
  return q;
}

const BAR_COLUMNS = ['symbol', 'date', 'open', 'high', 'low', 'close', 'volume'] as const;
const SIGNED_BAR_COLUMNS = [...BAR_COLUMNS, 'signature', 'signature_key_id'] as const;

/**
 * How a read that computes from bars checks them: `verify`, the deployment's signing (barChecking):
 * every bar read must carry a signature one of its keys gives it, else nothing is returned and the
 * read throws UnverifiedBarsError naming each refused bar (lib/store/bar-signature.ts). Without a
 * key (or `verify`) nothing is checked.
 */
export interface BarReadOptions {
  verify?: RowSigning;
}

/** Bars ordered by symbol then date. */
export async function readBars(store: Database, query: BarQuery = {}, options: BarReadOptions = {}): Promise<Bar[]> {
  const verifier = barVerifierOf(options.verify);
  if (verifier) {
    const rows = await filtered(store, query).select(SIGNED_BAR_COLUMNS).orderBy('symbol').orderBy('date').execute();
    const bars = rows.map((r) => ({ symbol: r.symbol, date: r.date, open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close), volume: Number(r.volume) }));
    bars.forEach((b, i) => verifier.check({ ...b, signature: rows[i].signature, signature_key_id: rows[i].signature_key_id }));
    await verifier.done(store.db);
    return bars;
  }
  const rows = await filtered(store, query).select(BAR_COLUMNS).orderBy('symbol').orderBy('date').execute();
  return rows.map((r) => ({ ...r, open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close), volume: Number(r.volume) }));
}

/** How many of a symbol's newest bars newestVerifiedBarDates reads at a time, going back until one verifies. */
const NEWEST_BARS_PER_LOOK = 5;

/**
 * Each symbol's newest stored bar that `verify`'s keys vouch for (all symbols when none are given),
 * and the refusal (UnverifiedBarsError) of the bars dated after it that were not counted; without a key, the newest stored
 * bar unchecked. A bar only unsigned (its symbol has no signed bar before it: written before signing)
 * still counts; an edited one, one of another key, or an unsigned one after a signed bar does not. For freshness: a forged bar dated today must not make a stopped feed look fresh.
 * One query reads the newest few bars of every symbol; a symbol all of whose few are refused is read
 * further back, a few at a time.
 */
export async function newestVerifiedBarDates(store: Database, symbols: readonly string[] | undefined, verify: RowSigning | undefined): Promise<{ newest: Map<string, string>; refusal?: UnverifiedBarsError }> {
  const verifier = barVerifierOf(verify);
  if (!verifier) {
    let q = store.db.selectFrom('bars').select(['symbol', (eb) => eb.fn.max('date').as('newest')]);
    if (symbols && symbols.length > 0) q = q.where('symbol', 'in', [...symbols]);
    const rows = await q.groupBy('symbol').execute();
    return { newest: new Map(rows.map((r) => [r.symbol, String(r.newest)])) };
  }
  const newest = new Map<string, string>();
  const oldestRead = new Map<string, string>();
  const take = (rows: ReadonlyArray<{ symbol: string; date: string; open: unknown; high: unknown; low: unknown; close: unknown; volume: unknown; signature: string | null; signature_key_id: string | null }>) => {
    for (const r of rows) {
      const date = String(r.date);
      if (newest.has(r.symbol)) continue;
      oldestRead.set(r.symbol, date);
      const ok = verifier.check({ symbol: r.symbol, date, open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close), volume: Number(r.volume), signature: r.signature, signature_key_id: r.signature_key_id });
      if (ok) newest.set(r.symbol, date);
    }
  };
  const ranked = store.db
    .selectFrom('bars')
    .select([...SIGNED_BAR_COLUMNS, sql<number>`row_number() over (partition by symbol order by date desc)`.as('rank')])
    .$if(symbols !== undefined && symbols.length > 0, (q) => q.where('symbol', 'in', [...(symbols ?? [])]));
  take(await store.db.selectFrom(ranked.as('ranked')).select(SIGNED_BAR_COLUMNS).where('rank', '<=', NEWEST_BARS_PER_LOOK).orderBy('symbol').orderBy('date', 'desc').execute());
  // Rare: every one of a symbol's newest few was refused. Only signed bars can verify, so only they
  // are read further back (a history from before signing ends at once), more at each look.
  for (const [symbol, before] of oldestRead) {
    for (let from = before, n = NEWEST_BARS_PER_LOOK * 2; !newest.has(symbol); n *= 2) {
      const rows = await store.db.selectFrom('bars').select(SIGNED_BAR_COLUMNS).where('symbol', '=', symbol).where('date', '<', from).where('signature', 'is not', null).orderBy('date', 'desc').limit(n).execute();
      if (rows.length === 0) break;
      take(rows);
      from = String(rows[rows.length - 1].date);
    }
  }
  const refusal = await verifier.refusal(store.db);
  // Bars only unsigned (a symbol written before signing began, not yet signed: a pending upgrade, which
  // bars_unverified reports as a warning) still date their symbol: a stopped feed is data_stale's.
  for (const g of refusal?.refused ?? []) {
    if (g.problem !== 'unsigned') continue;
    const last = g.dates.reduce((m, d) => (d > m ? d : m), g.dates[0]);
    const known = newest.get(g.symbol);
    if (known === undefined || known < last) newest.set(g.symbol, last);
  }
  // What was not counted: a refusal of those only.
  const uncounted = (refusal?.refused ?? []).filter((g) => g.problem !== 'unsigned');
  return { newest, ...(uncounted.length > 0 ? { refusal: new UnverifiedBarsError(verifier.keys, uncounted) } : {}) };
}

/** readBars (unverified) with each stored version's time (`bars.event_time`; null when it has none). */
export async function readBarsWithTimes(store: Database, query: BarQuery = {}): Promise<Array<Bar & { eventTime: string | null }>> {
  const rows = await filtered(store, query).select([...BAR_COLUMNS, 'event_time']).orderBy('symbol').orderBy('date').execute();
  return rows.map(({ event_time: eventTime, ...r }) => ({ ...r, open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close), volume: Number(r.volume), eventTime }));
}

/** The newest `count` bars of a symbol dated on or before `to`, ascending by date. */
export async function readRecentBars(store: Database, symbol: string, to: string, count: number): Promise<Bar[]> {
  const rows = await store.db.selectFrom('bars').select(BAR_COLUMNS).where('symbol', '=', symbol).where('date', '<=', to).orderBy('date', 'desc').limit(count).execute();
  return rows.reverse().map((r) => ({ ...r, open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close), volume: Number(r.volume) }));
}

/**
 * A symbol's stored bars around the dates `first`..`last`: the nearest before `first`, those from
 * `first` to `last`, the nearest after `last`, and its `newest` newest bars (ascending). What the
 * stray-bar rule reads (lib/quality/stray-bars.ts).
 */
export async function storedBarsAround(store: Database, symbol: string, first: string, last: string, newest: number): Promise<{ before?: Bar; inside: Bar[]; after?: Bar; newest: Bar[] }> {
  const toBar = (r: { symbol: string; date: string; open: unknown; high: unknown; low: unknown; close: unknown; volume: unknown }): Bar => ({ symbol: r.symbol, date: r.date, open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close), volume: Number(r.volume) });
  const bars = store.db.selectFrom('bars').select(BAR_COLUMNS).where('symbol', '=', symbol);
  const before = await bars.where('date', '<', first).orderBy('date', 'desc').limit(1).executeTakeFirst();
  const after = await bars.where('date', '>', last).orderBy('date', 'asc').limit(1).executeTakeFirst();
  const inside = await bars.where('date', '>=', first).where('date', '<=', last).orderBy('date').execute();
  return { ...(before ? { before: toBar(before) } : {}), inside: inside.map(toBar), ...(after ? { after: toBar(after) } : {}), newest: await readRecentBars(store, symbol, '9999-12-31', newest) };
}

/** The symbols (of `among`, when given) that have at least one bar, ascending. */
export async function storedSymbols(store: Database, among?: readonly string[]): Promise<string[]> {
  let q = store.db.selectFrom('bars').select('symbol').distinct();
  if (among && among.length > 0) q = q.where('symbol', 'in', [...among]);
  return (await q.orderBy('symbol').execute()).map((r) => r.symbol);
}

export async function countBars(store: Database, query: BarQuery = {}): Promise<number> {
  const row = await filtered(store, query)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Which of `dates` have a stored bar of `symbol` (dates only read). */
export async function barDatesAmong(store: Database, symbol: string, dates: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < dates.length; i += 1000) {
    const rows = await store.db.selectFrom('bars').select('date').where('symbol', '=', symbol).where('date', 'in', dates.slice(i, i + 1000)).execute();
    for (const r of rows) found.add(r.date);
  }
  return found;
}

/** The stored bars of `symbol` dated strictly between `a` and `b` (either order): how many, and the first and last date. */
export async function storedBarsBetween(store: Database, symbol: string, a: string, b: string): Promise<{ count: number; from: string | null; to: string | null }> {
  const [lo, hi] = a < b ? [a, b] : [b, a];
  const row = await store.db
    .selectFrom('bars')
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min('date').as('from'), eb.fn.max('date').as('to')])
    .where('symbol', '=', symbol)
    .where('date', '>', lo)
    .where('date', '<', hi)
    .executeTakeFirstOrThrow();
  const count = Number(row.n);
  return { count, from: count > 0 ? String(row.from) : null, to: count > 0 ? String(row.to) : null };
}

/**
 * A digest of the stored bars of `symbols` (every field of every bar, in order): it changes when one
 * of their bars is added, removed, re-dated, re-labelled or revised. A rejection judged on the stored
 * bars records it for the symbols it rejected, so the same content imported again is judged again
 * once those bars have changed, and only then (lib/ingest/import-bars.ts).
 */
export async function storedBarsDigest(db: Kysely<DatabaseSchema>, symbols: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  const sorted = [...new Set(symbols)].sort();
  for (let i = 0; i < sorted.length; i += 100) {
    const rows = await db.selectFrom('bars').select(['symbol', 'date', 'open', 'high', 'low', 'close', 'volume']).where('symbol', 'in', sorted.slice(i, i + 100)).orderBy('symbol').orderBy('date').execute();
    for (const r of rows) hash.update(`${r.symbol},${r.date},${Number(r.open)},${Number(r.high)},${Number(r.low)},${Number(r.close)},${Number(r.volume)}\n`);
  }
  return hash.digest('hex');
}

/** Per symbol: how many bars are stored dated on or before `to`. */
export async function barCountsThrough(store: Database, to: string): Promise<Map<string, number>> {
  const rows = await store.db.selectFrom('bars').select(['symbol', (eb) => eb.fn.countAll<number>().as('n')]).where('date', '<=', to).groupBy('symbol').execute();
  return new Map(rows.map((r) => [r.symbol, Number(r.n)]));
}

/**
 * Bars as one typed-array series per symbol (ordered by symbol), for computations over a whole
 * universe. On SQLite it reads raw rows straight into the arrays; 470k bars take a fraction of the
 * time of readBars, which builds an object per bar. `options.verify`: as readBars (the features
 * step, the dataset build and the stream's windows read through it).
 */
export async function readBarSeries(store: Database, query: BarQuery = {}, options: BarReadOptions = {}): Promise<BarSeries[]> {
  const verifier = barVerifierOf(options.verify);
  const series = await readSeries(store, query, verifier);
  await verifier?.done(store.db);
  return series;
}

async function readSeries(store: Database, query: BarQuery, verifier: BarVerifier | undefined): Promise<BarSeries[]> {
  const compiled = filtered(store, query)
    .select(verifier ? SIGNED_BAR_COLUMNS : BAR_COLUMNS)
    .orderBy('symbol')
    .orderBy('date')
    .compile();
  const series = (symbol: string, n: number): BarSeries => ({
    symbol,
    dates: new Array<string>(n),
    open: new Float64Array(n),
    high: new Float64Array(n),
    low: new Float64Array(n),
    close: new Float64Array(n),
    volume: new Float64Array(n),
  });
  const out: BarSeries[] = [];
  if (store.sqlite) {
    // Sizes first, then one streaming pass straight into the arrays: no row array, no GC storm.
    const sizes = filtered(store, query).select(['symbol', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('symbol').orderBy('symbol').compile();
    // Under Kysely's connection lock: on the shared handle, a publish's open transaction would otherwise be read uncommitted.
    return withSqliteLock(store, (sqlite) => {
      const counts = sqlite.prepare(sizes.sql).raw(true).all(...sizes.parameters) as Array<[string, number]>;
      let k = -1;
      let i = 0;
      let current: BarSeries | undefined;
      for (const row of sqlite.prepare(compiled.sql).raw(true).iterate(...compiled.parameters) as IterableIterator<[string, string, number, number, number, number, number, string | null, string | null]>) {
        if (current === undefined || row[0] !== current.symbol) {
          k++;
          i = 0;
          current = series(counts[k][0], counts[k][1]);
          out.push(current);
        }
        current.dates[i] = row[1];
        current.open[i] = row[2];
        current.high[i] = row[3];
        current.low[i] = row[4];
        current.close[i] = row[5];
        current.volume[i] = row[6];
        verifier?.check({ symbol: row[0], date: row[1], open: row[2], high: row[3], low: row[4], close: row[5], volume: row[6], signature: row[7] ?? null, signature_key_id: row[8] ?? null });
        i++;
      }
      return out;
    });
  }
  const rows = (await store.db.executeQuery(compiled)).rows;
  for (let start = 0; start < rows.length; ) {
    let end = start;
    while (end < rows.length && rows[end].symbol === rows[start].symbol) end++;
    const s = series(rows[start].symbol, end - start);
    for (let i = start; i < end; i++) {
      const r = rows[i];
      s.dates[i - start] = r.date;
      s.open[i - start] = Number(r.open);
      s.high[i - start] = Number(r.high);
      s.low[i - start] = Number(r.low);
      s.close[i - start] = Number(r.close);
      s.volume[i - start] = Number(r.volume);
      if (verifier) {
        const signed = r as typeof r & { signature: string | null; signature_key_id: string | null };
        verifier.check({ symbol: r.symbol, date: r.date, open: s.open[i - start], high: s.high[i - start], low: s.low[i - start], close: s.close[i - start], volume: s.volume[i - start], signature: signed.signature, signature_key_id: signed.signature_key_id });
      }
    }
    out.push(s);
    start = end;
  }
  return out;
}

/**
 * What stored the current version of a bar, in words, for the finding that retracts it: the
 * import whose recorded content clock is its event_time (an import stamps its bars with when their
 * bytes were first seen or fetched: the snapshot's `judgedAt`, or a file's entry in `fileClocks`;
 * its publication time for imports published before those were stamped), the live stream entry
 * recorded as writing it, or the time its live message was produced. The import is looked for
 * first: a live_bar_sources row outlives a later import that revised the bar. Rare (a
 * retraction), so a few point reads.
 */
export async function describeStoredVersion(db: Kysely<DatabaseSchema>, symbol: string, date: string): Promise<string> {
  const bar = await db.selectFrom('bars').select('event_time').where('symbol', '=', symbol).where('date', '=', date).executeTakeFirst();
  if (bar === undefined) return 'no longer stored';
  const at = bar.event_time;
  if (at !== null) {
    const imported = await importThatStored(db, symbol, date, at);
    if (imported) {
      const { snapshot, file } = imported;
      const source = JSON.parse(snapshot.source) as { path?: unknown; kind?: unknown } | null;
      const named = file ?? (typeof source?.path === 'string' ? source.path : typeof source?.kind === 'string' ? source.kind : undefined);
      const content = snapshot.published_at === at ? '' : `, its content of ${at}`;
      return `stored by the import of snapshot ${snapshot.id}${named === undefined ? '' : ` (${named})`}${content}, published at ${snapshot.published_at}`;
    }
  }
  const entry = await db.selectFrom('live_bar_sources').select(['stream', 'entry']).where('symbol', '=', symbol).where('date', '=', date).orderBy('entry', 'desc').executeTakeFirst();
  const produced = at === null ? '' : `, its message produced at ${at}`;
  if (entry) return `stored from the live stream ${entry.stream} (entry ${entry.entry.replace(/^0+(?=\d)/, '').replace(/-0+(?=\d)/, '-')})${produced}`;
  return at === null ? `stored without a recorded time (a direct write, or a live bar without event_time stored before versions took their entry's time)` : `stored from a live bar${produced}`;
}

/**
 * The published import that wrote the bar of `symbol` on `date` stamped `at`, and the file whose
 * clock it is, if any: among the snapshots holding that bar whose recorded clocks include `at`,
 * the newest that logged a revision to it (a publish writes only new bars and changed ones, and
 * logs every change), else the first published since the bar was last retracted (the one that
 * added it: later ones with the same clock found it stored as is).
 */
async function importThatStored(db: Kysely<DatabaseSchema>, symbol: string, date: string, at: string): Promise<{ snapshot: { id: string; source: string; published_at: string | null }; file?: string } | undefined> {
  const covering = await db
    .selectFrom('dataset_snapshots')
    .select(['id', 'source', 'symbols', 'published_at'])
    .where('status', '=', 'published')
    .where('first_date', '<=', date)
    .where('last_date', '>=', date)
    .orderBy('published_at')
    .execute();
  const matches: Array<{ snapshot: (typeof covering)[number]; file?: string }> = [];
  for (const snapshot of covering) {
    if (!(JSON.parse(snapshot.symbols) as string[]).includes(symbol)) continue;
    const source = JSON.parse(snapshot.source) as { judgedAt?: unknown; fileClocks?: Record<string, unknown> } | null;
    const file = Object.entries(source?.fileClocks ?? {}).find(([, clock]) => clock === at)?.[0];
    if (file !== undefined) matches.push({ snapshot, file });
    else if (source?.judgedAt === at || snapshot.published_at === at) matches.push({ snapshot });
  }
  if (matches.length <= 1) return matches[0];
  const revisions = await db.selectFrom('bar_revisions').select(['snapshot_id', 'new_close', 'published_at']).where('symbol', '=', symbol).where('date', '=', date).orderBy('published_at', 'desc').execute();
  const retractedAt = revisions.find((r) => r.new_close === null)?.published_at;
  for (const r of revisions) {
    if (r.new_close === null) break;
    const logged = matches.find((m) => m.snapshot.id === r.snapshot_id);
    if (logged) return logged;
  }
  return matches.find((m) => retractedAt === undefined || (m.snapshot.published_at ?? '') > retractedAt) ?? matches[matches.length - 1];
}
