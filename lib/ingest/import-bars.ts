import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Cache } from '../cache/cache';
import { BadInputError } from '../errors';
import { excerpt } from '../quality/excerpt';
import type { CandidateBar, CsvReadResult } from '../market-data/csv-reader';
import type { Bar } from '../market-data/bar';
import { readCsvFiles, resolveCsvSource, type CsvFileReadOptions } from '../market-data/csv-files';
import { cutFromStored, readPriceTable, UnreadableSourceError } from '../market-data/csv-reader';
import { assertMarketsKnown } from '../market-data/instruments';
import { ProviderError, ProviderNoDataError, type HistoricalBarProvider } from '../market-data/providers/provider';
import { StooqProvider } from '../market-data/providers/stooq';
import { SESSION_CLOSE_MARGIN_MINUTES } from '../quality/policy';
import { checkQuality, type QualityCheckResult, type QualityReport } from '../quality/report';
import { endRowGaps, endRowIssue, openSession, orderFindings, rowRules } from '../quality/rules';
import { issue, type QualityIssue } from '../quality/rules-catalog';
import { incomingRuns, loneRuns, STRAY_MAX_BARS, STRAY_NEWEST_BARS, storedGapFlag, strayBarIssues } from '../quality/stray-bars';
import { groupBy } from '../group-by';
import { assertSymbolsFit, storedBarsAround, storedBarsBetween, storedBarsDigest } from '../store/bars';
import type { Database } from '../store/database';
import { saveQuarantine } from '../store/quarantine';
import { contentClocksOf, declaredDelistings, declaredInstruments, getSnapshot, providerAnswersRejected, recordContentClocks, type DatasetSnapshot, type SnapshotStatus } from '../store/snapshots';
import { barsNotHeld, beginStaging, coverageOf, finishStaging, stageChunk, stagedLineKey, SupersededTally, supersededOf, sweepAbandonedStaging, unconfirmedOf, type SupersededStoredBars, type UnconfirmedStoredBars } from '../store/staging';
import { judgeSnapshot, rejectedByStoredRules } from './judge';
import { judgeEmptyProviderAnswer, judgeNoDataAnswer, judgeProviderAnswer } from './provider-answer';
import type { ImportRequest } from './import-request';
import { yieldToEventLoop } from '../event-loop';

/** Small result of an import: ids and counts only, so it can travel in a Temporal payload. */
export interface ImportSummary {
  snapshotId: string;
  contentHash: string;
  sources: number;
  symbols: number;
  firstDate: string | null;
  lastDate: string | null;
  rowsRead: number;
  rowsAccepted: number;
  rowsRejected: number;
  rowsOutOfScope: number;
  flags: number;
  badRowShare: number;
  byRule: QualityReport['byRule'];
  durationMs: number;
  /** `staged` after staging; `published` or `rejected` once judged (importBars judges, the activity does not). */
  status: SnapshotStatus;
  /** Chunks staged by this call and chunks an earlier attempt had staged (0 when the snapshot was complete). */
  chunksStaged: number;
  chunksResumed: number;
  /**
   * Stored bars the snapshot does not confirm (rule `unconfirmed_stored_bar`): within a symbol's
   * dates in the snapshot, it rejected them or no longer contains them. The publish kept them as
   * stored; this reports them. Present once the snapshot is published and only when there are any.
   */
  unconfirmedStoredBars?: UnconfirmedStoredBars;
  /**
   * Stored bars whose version (a live correction, a newer file) is newer than the content that
   * would revise them (rule `superseded_stored_bar`): kept as stored. Present, once published or
   * found still held, only when there are any.
   */
  supersededStoredBars?: SupersededStoredBars;
  /**
   * A rejected snapshot of provider answers: the symbols whose answers it was made of. None of them
   * is reused from the cache: the next import asks the provider afresh (fetchProviderSources).
   */
  providerAnswersNotReused?: string[];
  /**
   * Provider answers empty by right, by symbol, with why (a range wholly after a declared delisting,
   * a range without closed sessions): nothing was stored for them. Present only when there are any.
   */
  emptyAnswers?: Record<string, string>;
}

export interface ImportProgress {
  phase: 'reading' | 'checking' | 'staging' | 'recording';
  /** Chunks finished so far (files while reading, staged chunks while staging) and how many there are. */
  chunk: number;
  chunks: number;
  barsWritten: number;
  barsTotal: number;
}

export interface ImportHooks {
  cache?: Cache;
  /** Called after each file read and each chunk staged; the activity heartbeats with it. */
  onProgress?: (progress: ImportProgress) => void;
  /** Awaited before each chunk is written (tests use it to interleave attempts). */
  beforeStage?: (chunk: number) => Promise<void> | void;
  signal?: AbortSignal;
  /** Bars per staged chunk (a symbol is never split); smaller resumes closer to a crash. */
  chunkSize?: number;
  provider?: HistoricalBarProvider;
  /** The import's clock: bars dated after its New York date are rejected as `future_date` (default: the real clock). */
  now?: () => Date;
  /** The object store of s3:// sources and the file size bound (default: the S3_* settings of the environment, MAX_CSV_FILE_BYTES). */
  csvFiles?: Pick<CsvFileReadOptions, 'objectStore' | 'maxFileBytes'>;
}

interface SourceText {
  source: string;
  text: string;
  symbol?: string;
  /** A provider body's fetch time (ISO): its bars are judged by it, however late the import reads it. */
  fetchedAt?: string;
  /** A provider body as read when it was judged (never cached: read again from `text`). */
  read?: CsvReadResult;
  /** Set on a provider answer with a header and no rows for a range without closed sessions: why it is empty by right. */
  emptyRange?: string;
}

const PROVIDER_CACHE_TTL_SECONDS = 6 * 3600;

/** sha256 of a file's text: what the content clocks are keyed by (the name is not: see stageImport). */
const textSha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * A cached provider body, if it may be reused at `now`. One cached without its fetch time (before
 * fetch times were kept) cannot be judged by it, and one fetched while a session was open holds
 * that session's unfinished bar: once the session has closed, a new download has the final bar,
 * so both are fetched again. (Reused or not, a body is judged by when it was fetched.)
 */
function reusableBody(cached: string, now: Date, marginMinutes: number): SourceText | undefined {
  const entry = JSON.parse(cached) as SourceText;
  const fetchedAt = typeof entry.fetchedAt === 'string' ? new Date(entry.fetchedAt) : undefined;
  if (!fetchedAt || Number.isNaN(fetchedAt.getTime())) return undefined;
  const fetchedDuring = openSession(fetchedAt, marginMinutes);
  if (fetchedDuring && openSession(now, marginMinutes)?.date !== fetchedDuring.date) return undefined;
  return entry;
}

/** Where a provider's answer is cached: keyed by the server and market too (a re-import from the right server reused the wrong one's bodies for hours). */
export function providerCacheKey(provider: Pick<HistoricalBarProvider, 'name' | 'origin'>, symbol: string, range: { from?: string; to?: string }): string {
  return `provider:${provider.name}:${provider.origin ?? ''}:${symbol}:${range.from ?? ''}:${range.to ?? ''}`;
}

/**
 * The provider's answer for each symbol asked, read and judged (judgeProviderAnswer) before it is
 * cached: a body that fails the import is never kept, so asking again reaches the server. Before, a
 * body was cached as soon as it arrived, and for 6 h every retry replayed the same wrong period or
 * maintenance page without a request. A cached body is judged again when reused, and dropped and
 * fetched anew when it fails (one cached before bodies were judged first).
 */
async function fetchProviderSources(store: Database, request: ImportRequest, hooks: ImportHooks, importClock: Date): Promise<SourceText[]> {
  if (request.source.kind !== 'stooq') return [];
  const provider = hooks.provider ?? new StooqProvider({ baseUrl: request.source.baseUrl });
  const range = { from: request.from, to: request.to };
  const margin = request.quality.sessionCloseMarginMinutes ?? SESSION_CLOSE_MARGIN_MINUTES;
  // Declared last sessions (this request's over earlier imports'): an answer ending there is complete.
  const delisted = { ...(await declaredDelistings(store)), ...(request.delisted ?? {}) };
  const judged = async (entry: SourceText): Promise<SourceText> => {
    const fetchedAt = entry.fetchedAt ?? importClock.toISOString();
    let read: CsvReadResult;
    try {
      read = readPriceTable(entry.text, { source: entry.source, format: provider.format, symbol: entry.symbol });
    } catch (error) {
      // A price header and no rows (the provider refuses a body without a header as an outage):
      // judged by the sessions of the range asked, not refused as an unreadable file, which is final.
      if (!(error instanceof UnreadableSourceError && error.rule === 'empty_input')) throw error;
      const emptyRange = judgeEmptyProviderAnswer({ source: entry.source, symbol: entry.symbol ?? '', fetchedAt, lastSession: delisted[entry.symbol ?? ''] }, request, margin);
      return { ...entry, read: { format: provider.format, rowsRead: 0, bars: [], issues: [] }, emptyRange };
    }
    const symbol = entry.symbol ?? read.bars[0]?.symbol ?? '';
    await judgeProviderAnswer(store, { source: entry.source, symbol, fetchedAt, lastSession: delisted[symbol] }, read, request, margin);
    return { ...entry, read };
  };
  const cachedBodies = new Map<string, SourceText>();
  for (const symbol of request.source.symbols) {
    const cached = await hooks.cache?.get(providerCacheKey(provider, symbol, range));
    const reused = cached === undefined ? undefined : reusableBody(cached, importClock, margin);
    if (reused) cachedBodies.set(symbol, reused);
  }
  // An answer the quality gate rejected is never replayed: the vendor may have corrected it since,
  // and a cached copy would be judged as before without reaching the server (for the cache's 6 h,
  // or on every retrain in that time). Looked up once for the import, by the bodies' sha256.
  const rejected = cachedBodies.size === 0 ? new Set<string>() : await providerAnswersRejected(store, [...cachedBodies.values()].map((b) => textSha256(b.text)));
  const out: SourceText[] = [];
  for (const symbol of request.source.symbols) {
    hooks.signal?.throwIfAborted();
    const key = providerCacheKey(provider, symbol, range);
    const reused = cachedBodies.get(symbol);
    if (reused) {
      // Only a verdict on the body drops it: a store that cannot be reached fails the import as before.
      const kept = rejected.has(textSha256(reused.text))
        ? undefined
        : await judged(reused).catch((error: unknown) => {
            if (error instanceof BadInputError || error instanceof ProviderError) return undefined;
            throw error;
          });
      if (kept) {
        out.push(kept);
        continue;
      }
      await hooks.cache?.delete(key);
    }
    try {
      const response = await provider.fetchDaily(symbol, range, hooks.signal).catch((error: unknown) => {
        if (error instanceof ProviderNoDataError) return error;
        throw error;
      });
      if (response instanceof ProviderNoDataError) {
        // "No data": skipped for a range wholly after a declared delisting (kept in the snapshot as
        // an answer empty by right, never cached), the final error it always was otherwise.
        const { source, csv, symbol: stored } = response.response;
        const fetchedAt = importClock.toISOString();
        const lastSession = delisted[stored];
        const storedAfter = lastSession === undefined ? undefined : await storedBarsBetween(store, stored, lastSession, '9999-12-31');
        const emptyRange = judgeNoDataAnswer({ source, symbol: stored, fetchedAt, lastSession }, request, response.message, storedAfter);
        out.push({ source, text: csv, symbol: stored, fetchedAt, read: { format: provider.format, rowsRead: 0, bars: [], issues: [] }, emptyRange });
        continue;
      }
      const entry: SourceText = { source: response.source, text: response.csv, symbol: response.symbol, fetchedAt: importClock.toISOString() };
      // Recorded now, not when the import gets that far: an import that fails on a later symbol
      // must not let these bytes be judged by a later clock when they come back.
      await recordContentClocks(store, [{ sha256: textSha256(entry.text), source: entry.source }], importClock);
      const kept = await judged(entry);
      await hooks.cache?.set(key, JSON.stringify({ source: entry.source, text: entry.text, symbol: entry.symbol, fetchedAt: entry.fetchedAt }), PROVIDER_CACHE_TTL_SECONDS);
      out.push(kept);
    } catch (error) {
      if (error instanceof ProviderError && !error.retryable) throw new BadInputError(error.message, 'PROVIDER_REJECTED');
      throw error;
    }
  }
  return out;
}

/** Hash of the bytes read, independent of where the folder lives. */
function contentHashOf(sources: readonly SourceText[], sha256s: readonly string[]): string {
  const hash = createHash('sha256');
  const parts = sources
    .map((s, k) => `${path.basename(s.source.split('?')[0])}${s.symbol ?? ''}\u0000${sha256s[k]}`)
    .sort();
  for (const p of parts) hash.update(p).update('\n');
  return hash.digest('hex');
}

/**
 * The id of the first snapshot of some content read and judged some way: everything that changes
 * which bars the content gives or what the snapshot records goes in. The files themselves are in the
 * content hash (name and bytes; not the folder, so the same files from a folder or a bucket give the
 * same id); the reading options (CSV format, column mapping, `adjust`, `dateOrder`; a provider's format), the
 * scope (`symbols`, `from`, `to`), the quality policy, and the instrument kinds the request declares
 * (recorded with the snapshot and applied by training universes) are hashed with it. `path`,
 * `followLinks` and a provider's `baseUrl` only say where the bytes come from. Fields added later
 * (`instruments`, a provider format other than Stooq's, `dateOrder`) are hashed only when present, so the ids of
 * snapshots imported without them stay what they were.
 */
function snapshotIdOf(contentHash: string, request: ImportRequest, providerFormat: string): string {
  const { source, symbols, from, to, quality, instruments, delisted } = request;
  const reading =
    source.kind === 'csv'
      ? { kind: source.kind, format: source.format, mapping: source.mapping, adjust: source.adjust, ...(source.dateOrder ? { dateOrder: source.dateOrder } : {}) }
      : { kind: source.kind, ...(providerFormat !== 'stooq' ? { format: providerFormat } : {}) };
  const byName = ([a]: [string, string], [b]: [string, string]): number => (a < b ? -1 : a > b ? 1 : 0);
  const declared = {
    ...(instruments ? { instruments: Object.entries(instruments).sort(byName) } : {}),
    ...(delisted ? { delisted: Object.entries(delisted).sort(byName) } : {}),
  };
  const digest = createHash('sha256')
    .update(contentHash)
    .update(JSON.stringify({ reading, symbols: symbols ? [...symbols].sort() : null, from: from ?? null, to: to ?? null, quality, ...declared }))
    .digest('hex');
  return `ds-${digest.slice(0, 24)}`;
}

/**
 * The id of generation `generation` of the content whose first snapshot is `firstId`: a new
 * snapshot of the same content, staged when the store no longer holds the values the latest
 * generation published (see stageImport). Generation 0 is the first snapshot itself.
 */
export function generationIdOf(firstId: string, generation: number): string {
  if (generation === 0) return firstId;
  return `ds-${createHash('sha256').update(`${firstId}\u0000generation ${generation}`).digest('hex').slice(0, 24)}`;
}

/** The newest generation of the content whose first snapshot is `firstId`, if any was recorded. */
async function latestGeneration(store: Database, firstId: string): Promise<{ snapshot: DatasetSnapshot; generation: number } | undefined> {
  let latest: { snapshot: DatasetSnapshot; generation: number } | undefined;
  for (let generation = 0; ; generation++) {
    const snapshot = await getSnapshot(store, generationIdOf(firstId, generation));
    if (!snapshot) return latest;
    latest = { snapshot, generation };
  }
}

function inScope(request: ImportRequest): (symbol: string | null, date: string | null) => boolean {
  const wanted = request.symbols ? new Set(request.symbols) : undefined;
  return (symbol, date) =>
    (!wanted || symbol === null || wanted.has(symbol)) &&
    (date === null || ((!request.from || date >= request.from) && (!request.to || date <= request.to)));
}

/**
 * Rows the reader rejected without a readable date (`invalid_date`, a broken record, …) that lie
 * outside the request's dates, each with its quarantine message saying why it is not counted.
 * Such a row cannot be placed by its own date, so it is placed by its file's order: when its
 * symbol's rows with a date are in one order by line (ascending or descending, as every export is),
 * and the nearest of them before and after it are both before `from` (or both after `to`), so is
 * it. Any other undated row (first or last of its symbol, between rows on both sides of the scope,
 * in an unsorted file, or without a symbol) still counts in the import's share as a row in scope:
 * it may be one, and a file whose new rows all have broken dates must not pass by dropping them.
 * Counting every undated row instead made a clean slice of a long file fail for errors years away
 * (3 broken dates in 2014 were 3% of a 100-row slice of 2018), and counting none would hide them.
 */
function undatedOutOfScope(bars: readonly CandidateBar[], issues: readonly QualityIssue[], request: ImportRequest): Map<QualityIssue, string> {
  const out = new Map<QualityIssue, string>();
  const { from, to } = request;
  if (!from && !to) return out;
  const undated = issues.filter((i) => i.date === null && i.symbol !== null && i.line !== null && rejectsRow(i));
  if (undated.length === 0) return out;
  const dated = new Map<string, Array<{ line: number; date: string }>>();
  const add = (symbol: string, line: number, date: string): void => {
    let rows = dated.get(symbol);
    if (!rows) dated.set(symbol, (rows = []));
    rows.push({ line, date });
  };
  for (const b of bars) add(b.symbol, b.line, b.date);
  for (const i of issues) if (i.symbol !== null && i.date !== null && i.line !== null) add(i.symbol, i.line, i.date);
  const inOrder = new Map<string, Array<{ line: number; date: string }>>();
  for (const [symbol, rows] of dated) {
    rows.sort((a, b) => a.line - b.line);
    let up = false;
    let down = false;
    for (let k = 1; k < rows.length; k++) {
      if (rows[k].date > rows[k - 1].date) up = true;
      else if (rows[k].date < rows[k - 1].date) down = true;
    }
    if (!(up && down)) inOrder.set(symbol, rows);
  }
  const side = (date: string): 'before' | 'after' | 'in' => (from && date < from ? 'before' : to && date > to ? 'after' : 'in');
  for (const i of undated) {
    const rows = inOrder.get(i.symbol as string);
    if (!rows) continue;
    let lo = 0;
    let hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (rows[mid].line <= (i.line as number)) lo = mid + 1;
      else hi = mid;
    }
    const before = rows[lo - 1];
    const after = rows[lo];
    if (!before || !after) continue;
    const where = side(before.date);
    if (where === 'in' || side(after.date) !== where) continue;
    const bound = where === 'before' ? `before "from" ${from}` : `after "to" ${to}`;
    out.set(i, `${i.message}; not counted in the import's share: the row lies between line ${before.line} (${before.date}) and line ${after.line} (${after.date}), both ${bound}, so it is outside the import's dates`);
  }
  return out;
}

/**
 * Why an import cannot take `source`'s rows: an earlier file of the import gave rows (in scope,
 * accepted or not) for one of its symbols. Two files of one symbol (an unadjusted Stooq download
 * and a split-adjusted Kaggle file, two exports of different dates) would be published as one
 * spliced series, so the import is refused before anything is written, naming both files and the
 * symbol. Records `source` as the file of its symbols otherwise.
 */
function twoFilesProblem(
  fileOf: Map<string, string>,
  source: string,
  bars: readonly CandidateBar[],
  issues: readonly QualityIssue[],
  keep: (symbol: string | null, date: string | null) => boolean,
): string | undefined {
  const symbols = new Set<string>();
  for (const b of bars) if (keep(b.symbol, b.date)) symbols.add(b.symbol);
  for (const i of issues) if (i.symbol !== null && keep(i.symbol, i.date)) symbols.add(i.symbol);
  for (const symbol of symbols) {
    const first = fileOf.get(symbol);
    if (first !== undefined && first !== source) {
      return `Cannot import ${excerpt(first, 300)} and ${excerpt(source, 300)} together: both give rows for ${symbol}, and one import takes a symbol's rows from one file (two files' prices, adjusted one way and not the other, would be stored as one spliced series); nothing was imported. Merge them into one file, or import them separately (a later import of a file for ${symbol} revises its stored bars)`;
    }
  }
  for (const symbol of symbols) fileOf.set(symbol, source);
  return undefined;
}

/**
 * Files named after one symbol whose symbol column names another on every row (`MSFT.csv` holding
 * rows named IBM): a file of one security exported under another's name, or a column filled in
 * wrong, so one of the two would be stored wrong. The import is refused when the store or another
 * file of it holds the name's symbol; otherwise it is flagged (symbol_not_file_name) when the
 * import's other files are named after their rows' symbols, so names mean symbols here. A lone
 * `input.csv` holding SPY is neither.
 */
async function misnamedFiles(store: Database, named: ReadonlyArray<{ source: string; name: string; symbol: string; agrees: boolean }>, fileOf: ReadonlyMap<string, string>): Promise<{ refused?: string; flags: QualityIssue[] }> {
  const against = named.filter((n) => !n.agrees);
  if (against.length === 0) return { flags: [] };
  const stored = new Set((await store.db.selectFrom('bars').select('symbol').where('symbol', 'in', [...new Set(against.map((n) => n.name))]).groupBy('symbol').execute()).map((r) => r.symbol));
  const conventional = named.some((n) => n.agrees);
  const flags: QualityIssue[] = [];
  for (const { source, name, symbol } of against) {
    const other = fileOf.get(name);
    const holds = stored.has(name) ? `the store holds bars of ${name}` : other !== undefined && other !== source ? `${excerpt(other, 300)} in this import gives rows of ${name}` : undefined;
    if (holds !== undefined) {
      return {
        refused: `Cannot import ${excerpt(source, 300)}: it is named after ${name}, and ${holds}, but its symbol column names ${symbol} on every row. Stored under ${symbol} (the column wins), they could be one security's bars under another's symbol; nothing was imported. If the column is right, name the file after it (${symbol}.csv); if the name is right, correct the column`,
        flags,
      };
    }
    if (conventional) {
      const message = `the file is named as if it held ${name}, as this import's other files are named after their rows' symbol, but its symbol column names ${symbol} on every row, and the column wins: a file of one security exported under another's name, or a column filled in wrong, stores one security's bars as another's; check which is right and name the file after its rows' symbol`;
      flags.push(issue('symbol_not_file_name', { symbol, date: null, source, line: null, raw: null, message }));
    }
  }
  return { flags };
}

/** Lets timers and heartbeats run between CPU-bound pieces of an import. */

interface Chunk {
  candidates: CandidateBar[];
  issues: QualityIssue[];
  rowsRead: number;
  /** Undated rows outside the request's dates (undatedOutOfScope): quarantined, never counted. */
  unscoped: QualityIssue[];
}

/**
 * Splits the rows into chunks of whole symbols (every rule but the totals works per symbol, so a
 * chunk's checks equal the whole import's for its symbols), in symbol order, so the same content
 * always gives the same chunks and a retried attempt can skip the ones already staged.
 */
/**
 * The line in its file of each accepted bar (stagedLineKey): the first row read with its symbol,
 * date and values (an exact copy keeps the first row, as splitDuplicates does).
 */
function linesOf(candidates: readonly CandidateBar[], accepted: readonly Bar[]): Map<string, number> {
  const valuesKey = (b: Bar): string => [b.symbol, b.date, b.open, b.high, b.low, b.close, b.volume].join('\u0000');
  const first = new Map<string, number>();
  for (const c of candidates) if (!first.has(valuesKey(c))) first.set(valuesKey(c), c.line);
  const out = new Map<string, number>();
  for (const b of accepted) {
    const line = first.get(valuesKey(b));
    if (line !== undefined) out.set(stagedLineKey(b.symbol, b.date), line);
  }
  return out;
}

function planChunks(candidates: readonly CandidateBar[], issues: readonly QualityIssue[], unscoped: readonly QualityIssue[], chunkSize: number): Chunk[] {
  const bySymbol = new Map<string, Chunk>();
  const entry = (symbol: string): Chunk => {
    let e = bySymbol.get(symbol);
    if (!e) bySymbol.set(symbol, (e = { candidates: [], issues: [], rowsRead: 0, unscoped: [] }));
    return e;
  };
  const orphans: QualityIssue[] = [];
  for (const c of candidates) entry(c.symbol).candidates.push(c);
  for (const i of issues) {
    if (i.symbol === null) orphans.push(i);
    else entry(i.symbol).issues.push(i);
  }
  // Always with a symbol (undatedOutOfScope), so they join their symbol's chunk and add no chunk.
  for (const i of unscoped) entry(i.symbol as string).unscoped.push(i);
  const chunks: Chunk[] = [{ candidates: [], issues: orphans, rowsRead: 0, unscoped: [] }];
  for (const symbol of [...bySymbol.keys()].sort()) {
    const e = bySymbol.get(symbol) as Chunk;
    let last = chunks[chunks.length - 1];
    if (last.candidates.length > 0 && last.candidates.length + e.candidates.length > chunkSize) chunks.push((last = { candidates: [], issues: [], rowsRead: 0, unscoped: [] }));
    for (const c of e.candidates) last.candidates.push(c);
    for (const i of e.issues) last.issues.push(i);
    for (const i of e.unscoped) last.unscoped.push(i);
  }
  for (const c of chunks) c.rowsRead = c.candidates.length + c.issues.filter(rejectsRow).length;
  return chunks;
}

const rejectsRow = (i: QualityIssue): boolean => i.severity === 'reject' && i.rule !== 'empty_input' && i.rule !== 'bad_header';

/** The report of the whole import from its chunks' reports (chunks never share a symbol). */
function mergeReports(reports: readonly QualityReport[], rowsRead: number, policy: QualityReport['policy']): QualityReport {
  const merged: QualityReport = { policy, rowsRead, rowsAccepted: 0, rowsRejected: 0, flags: 0, badRowShare: 0, byRule: {}, bySymbol: {} };
  for (const r of reports) {
    merged.rowsAccepted += r.rowsAccepted;
    merged.rowsRejected += r.rowsRejected;
    merged.flags += r.flags;
    for (const [rule, n] of Object.entries(r.byRule) as Array<[keyof QualityReport['byRule'], number]>) merged.byRule[rule] = (merged.byRule[rule] ?? 0) + n;
    Object.assign(merged.bySymbol, r.bySymbol);
  }
  merged.byRule = Object.fromEntries(Object.entries(merged.byRule).sort(([a], [b]) => (a < b ? -1 : 1)));
  merged.bySymbol = Object.fromEntries(Object.entries(merged.bySymbol).sort(([a], [b]) => (a < b ? -1 : 1)));
  merged.badRowShare = rowsRead === 0 ? 0 : merged.rowsRejected / rowsRead;
  return merged;
}

/**
 * Runs the quality rules over one chunk, each file's rows with that file's clock (`clockOf`, by
 * source). Rules other than the clock's work per symbol or per file, and a symbol's rows come from
 * one file, so checking the files of each clock apart gives what one check with per-file clocks
 * would; a chunk whose files share a clock (the usual case) is checked in one call, as before.
 */
function checkChunk(chunk: Chunk, policy: ImportRequest['quality'], clockOf: (source: string) => Date): QualityCheckResult {
  const groups = new Map<number, { clock: Date; candidates: CandidateBar[]; issues: QualityIssue[] }>();
  const group = (source: string) => {
    const clock = clockOf(source);
    let g = groups.get(clock.getTime());
    if (!g) groups.set(clock.getTime(), (g = { clock, candidates: [], issues: [] }));
    return g;
  };
  for (const c of chunk.candidates) group(c.source).candidates.push(c);
  for (const i of chunk.issues) group(i.source).issues.push(i);
  if (groups.size <= 1) {
    const clock = groups.values().next().value?.clock ?? clockOf('');
    return checkQuality(chunk.candidates, chunk.issues, chunk.rowsRead, policy, { now: () => clock });
  }
  const results = [...groups.values()]
    .sort((a, b) => a.clock.getTime() - b.clock.getTime())
    .map((g) => checkQuality(g.candidates, g.issues, g.candidates.length + g.issues.filter(rejectsRow).length, policy, { now: () => g.clock }));
  // Accepted bars in symbol order, as one check gives them (a symbol is in one group, date-sorted).
  const accepted = results.flatMap((r) => r.accepted).sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
  return { accepted, issues: results.flatMap((r) => r.issues), report: mergeReports(results.map((r) => r.report), chunk.rowsRead, policy) };
}

interface StoredSource {
  sources?: number;
  rowsOutOfScope?: number;
}

function summaryOf(snapshot: DatasetSnapshot, started: number, chunksStaged: number, chunksResumed: number): ImportSummary {
  const source = (snapshot.source ?? {}) as StoredSource;
  const r = snapshot.qualityReport;
  return {
    snapshotId: snapshot.id,
    contentHash: snapshot.contentHash,
    sources: source.sources ?? 0,
    symbols: snapshot.symbols.length,
    firstDate: snapshot.firstDate,
    lastDate: snapshot.lastDate,
    rowsRead: snapshot.rowsRead,
    rowsAccepted: snapshot.rowCount,
    rowsRejected: snapshot.rejectedCount,
    rowsOutOfScope: source.rowsOutOfScope ?? 0,
    flags: snapshot.flaggedCount,
    badRowShare: r.badRowShare ?? 0,
    byRule: r.byRule ?? {},
    durationMs: Date.now() - started,
    status: snapshot.status,
    chunksStaged,
    chunksResumed,
    ...(unconfirmedOf(r) ? { unconfirmedStoredBars: unconfirmedOf(r) } : {}),
    ...(supersededOf(r) ? { supersededStoredBars: supersededOf(r) } : {}),
    ...(r.emptyAnswers ? { emptyAnswers: r.emptyAnswers } : {}),
    ...(snapshot.status === 'rejected' && providerAnswersOf(snapshot).length > 0 ? { providerAnswersNotReused: providerAnswersOf(snapshot) } : {}),
  };
}

/** What a rejection of `snapshot` says of its provider answers (empty for files): none is replayed from the cache. */
export function providerAnswersNote(snapshot: Pick<DatasetSnapshot, 'source'>): string {
  const symbols = providerAnswersOf(snapshot);
  if (symbols.length === 0) return '';
  const shown = symbols.length > 10 ? `${symbols.slice(0, 10).join(', ')}, …` : symbols.join(', ');
  return `; the provider's answers it was made of (${shown}) are not reused from the cache: the next import asks the provider afresh`;
}

/** The symbols of the provider answers a snapshot was made of (none for files, or before they were recorded). */
export function providerAnswersOf(snapshot: Pick<DatasetSnapshot, 'source'>): string[] {
  const answers = (snapshot.source as { providerAnswers?: unknown } | null)?.providerAnswers;
  return answers && typeof answers === 'object' ? Object.keys(answers).sort() : [];
}

/**
 * Per symbol of a chunk, the clock of the content its rows come from (ISO): what its published
 * bars are stamped with (SnapshotCoverage.contentAt). A symbol's rows come from one file
 * (twoFilesProblem); were there more, the earliest clock is taken.
 */
function symbolClocksOf(chunk: Chunk, clockOf: (source: string) => Date): Map<string, string> {
  const out = new Map<string, string>();
  for (const c of chunk.candidates) {
    const at = clockOf(c.source).toISOString();
    const had = out.get(c.symbol);
    if (had === undefined || at < had) out.set(c.symbol, at);
  }
  return out;
}

/**
 * The clock of a snapshot (`judgedAt`): the one the first import of its content recorded, whichever
 * import brings the same content later. Each file is judged by it or, when its bytes were seen
 * earlier, by that earlier clock (fileClocksOf). A bar that was unfinished, or dated ahead
 * of the clock, when those bytes were taken stays so: a later clock must not publish a partial bar
 * of a download made during the session, and a retry or a resume after midnight judges as the
 * first attempt did. Snapshots staged before the clock was recorded fall back to when they were created.
 */
async function judgingClockOf(store: Database, firstId: string, importClock: Date): Promise<Date> {
  const first = await getSnapshot(store, firstId);
  if (!first) return importClock;
  const recorded = (first.source as { judgedAt?: unknown }).judgedAt;
  const at = new Date(typeof recorded === 'string' ? recorded : first.createdAt);
  return Number.isNaN(at.getTime()) ? importClock : at;
}

/**
 * The clock of each file of an import, by source: the earliest of the import's clock (`judgedAt`),
 * the first time the file's bytes were seen by any import or provider fetch (content_clocks, by the
 * sha256 of its text), and a provider body's fetch time. The snapshot id depends on every file and
 * on the request, so a clock per snapshot let the same bytes beside another file, or under another
 * scope or policy, be judged afresh after the close. A snapshot still being staged keeps the clocks
 * its first attempt recorded (`fileClocks` in its source), so every attempt judges alike.
 */
async function fileClocksOf(
  store: Database,
  sources: readonly SourceText[],
  sha256s: readonly string[],
  judgedAt: Date,
  resumed: DatasetSnapshot | undefined,
): Promise<Map<string, Date>> {
  const out = new Map<string, Date>();
  if (resumed) {
    const recorded = (resumed.source as { fileClocks?: unknown }).fileClocks;
    if (recorded && typeof recorded === 'object') {
      for (const [source, iso] of Object.entries(recorded as Record<string, unknown>)) {
        const at = typeof iso === 'string' ? new Date(iso) : undefined;
        if (at && !Number.isNaN(at.getTime()) && at < judgedAt) out.set(source, at);
      }
    }
    return out;
  }
  const seen = await contentClocksOf(store, sha256s);
  for (const [k, s] of sources.entries()) {
    let at = judgedAt;
    const first = seen.get(sha256s[k]);
    if (first && first < at) at = first;
    const fetched = s.fetchedAt !== undefined ? new Date(s.fetchedAt) : undefined;
    if (fetched && !Number.isNaN(fetched.getTime()) && fetched < at) at = fetched;
    if (at < judgedAt) out.set(s.source, at);
  }
  return out;
}

/**
 * Stages an import as a snapshot: reads every source, runs the quality rules per chunk of symbols,
 * stores every finding in quarantine and stages the accepted bars of each chunk in its own fenced
 * transaction. The published `bars` are not touched; the gate publishes or rejects the snapshot.
 * A retried attempt resumes at the first chunk not staged, and an attempt that a newer one took
 * over fails at its next write without writing.
 *
 * Which snapshot an import is (the id rule). The same content read and judged the same way
 * (snapshotIdOf) is a chain of generations: generation 0 has the content's id, generation n+1 an id
 * derived from it and n+1 (generationIdOf). An import looks up the newest generation recorded:
 * - none: generation 0 is staged;
 * - `staging`: it is resumed (a retried or crashed attempt, or an import given up and swept);
 * - `staged`, `passed`, `rejected` (or a pre-staging status): it is returned as it is, nothing is
 *   written; the gate's verdict stands;
 * - `published`: the content's accepted bars are compared with the published store. While the store
 *   holds every one of them with exactly these values, the snapshot is returned and nothing is
 *   written, so importing the same content twice in a row, or a retried attempt whose publish
 *   happened but whose completion was lost, changes nothing. Once something else changed them (a
 *   later import revised them, live bars replaced them), the next generation is staged: a new
 *   snapshot that goes through the gate and, when published, restores the content's values with
 *   the revisions logged against it, where incremental feature recomputation finds them.
 * The next generation's id depends only on the content id and the newest generation, never on the
 * attempt, so every attempt of one import stages (and resumes) the same snapshot, and two imports
 * racing for it are fenced like attempts.
 */
export async function stageImport(store: Database, request: ImportRequest, hooks: ImportHooks = {}): Promise<ImportSummary> {
  const started = Date.now();
  // One clock reading for the whole import, so every chunk judges `future_date` against the same day.
  const importClock = (hooks.now ?? (() => new Date()))();
  const report = (phase: ImportProgress['phase'], chunk = 0, chunks = 0, barsWritten = 0, barsTotal = 0): void => hooks.onProgress?.({ phase, chunk, chunks, barsWritten, barsTotal });
  report('reading');
  const sources: SourceText[] = request.source.kind === 'csv' ? await readCsvFiles(resolveCsvSource(request.source.path), { ...hooks.csvFiles, followLinks: request.source.followLinks }) : await fetchProviderSources(store, request, hooks, importClock);
  const providerFormat = hooks.provider?.format ?? 'stooq';
  const sha256s = sources.map((s) => textSha256(s.text));
  const contentHash = contentHashOf(sources, sha256s);
  const firstId = snapshotIdOf(contentHash, request, providerFormat);
  const latest = await latestGeneration(store, firstId);
  const judgedAt = await judgingClockOf(store, firstId, importClock);
  // Each file's bytes existed by this clock, whatever becomes of the import (a file that cannot be
  // read, a verdict already given). Keyed by the bytes alone: the name gives the symbol, not the
  // time of the download, so a copy renamed (aapl.csv, aapl.us.csv) is still the 11:00 download.
  const seenAt = new Map<number, { at: Date; contents: Array<{ sha256: string; source: string }> }>();
  for (const [k, s] of sources.entries()) {
    const fetched = s.fetchedAt !== undefined ? new Date(s.fetchedAt) : undefined;
    const at = fetched && fetched < judgedAt ? fetched : judgedAt;
    let group = seenAt.get(at.getTime());
    if (!group) seenAt.set(at.getTime(), (group = { at, contents: [] }));
    group.contents.push({ sha256: sha256s[k], source: s.source });
  }
  for (const { at, contents } of seenAt.values()) await recordContentClocks(store, contents, at);
  // A rejection judged on the stored bars holds while they do: once they change (the wrong
  // security's bars removed by hand, as a series_mismatch finding asks), the content is judged again.
  const judgedStore = latest?.snapshot.status === 'rejected' ? latest.snapshot.qualityReport.storedBarChecks?.store : undefined;
  const rejudge = judgedStore !== undefined && (await storedBarsDigest(store.db, judgedStore.symbols)) !== judgedStore.digest;
  if (latest && latest.snapshot.status !== 'staging' && latest.snapshot.status !== 'published' && !rejudge) return summaryOf(latest.snapshot, started, 0, 0);
  const earlier = await fileClocksOf(store, sources, sha256s, judgedAt, latest?.snapshot.status === 'staging' ? latest.snapshot : undefined);
  const clockOf = (source: string): Date => earlier.get(source) ?? judgedAt;

  const keep = inScope(request);
  const candidates: CandidateBar[] = [];
  const readIssues: QualityIssue[] = [];
  const unscoped: QualityIssue[] = [];
  let rowsRead = 0;
  let rowsOutOfScope = 0;
  // The file that gave each symbol its rows: one symbol's rows come from one file (twoFilesProblem).
  const fileOf = new Map<string, string>();
  const named: Array<{ source: string; name: string; symbol: string; agrees: boolean }> = [];
  // The splits the files' split columns state, by symbol and date: the judge's price_unit_change reads them.
  const declaredSplits = new Map<string, Map<string, number>>();
  for (const [index, s] of sources.entries()) {
    hooks.signal?.throwIfAborted();
    const format = request.source.kind === 'csv' ? request.source.format : providerFormat;
    const mapping = request.source.kind === 'csv' ? request.source.mapping : undefined;
    const adjust = request.source.kind === 'csv' && request.source.adjust;
    const dateOrder = request.source.kind === 'csv' ? request.source.dateOrder : undefined;
    const read = s.read ?? readPriceTable(s.text, { source: s.source, format, mapping, adjust, dateOrder, symbol: s.symbol });
    if (read.unterminated && keep(read.unterminated.symbol, read.unterminated.date)) await keepUnterminatedFromRevising(store, read);
    if (read.named && keep(read.named.symbol, null)) named.push({ source: s.source, ...read.named });
    for (const d of read.declaredSplits ?? []) {
      if (!keep(d.symbol, d.date)) continue;
      let dates = declaredSplits.get(d.symbol);
      if (!dates) declaredSplits.set(d.symbol, (dates = new Map()));
      dates.set(d.date, d.ratio);
    }
    // A mistyped date is judged against the whole file (the quality check sees only the rows kept):
    // with dates asked for, the rows around a retyped row may lie outside them.
    const misdated = request.from || request.to ? orderFindings(read.bars).misdated : undefined;
    // A mistyped first or last row keeps the file's order: it is judged with the stored bars.
    const rowRule = rowRules(clockOf(s.source), request.quality);
    const endRows = await misdatedEndRows(store, read.bars, rowRule, read.issues);
    // A row or two standing alone, of any file: judged with the stored series around its date.
    const outOfOrder = misdated ?? orderFindings(read.bars).misdated;
    const strays = await strayRows(store, read.bars, (b) => !keep(b.symbol, null) || outOfOrder.has(b) || endRows.has(b) || rowRule(b) !== undefined);
    for (const bar of read.bars) {
      if (keep(bar.symbol, bar.date)) {
        const typo = misdated?.get(bar) ?? endRows.get(bar) ?? strays.rejected.get(bar);
        if (typo) readIssues.push(typo);
        else candidates.push(bar);
      } else rowsOutOfScope++;
    }
    for (const flag of strays.flags) if (keep(flag.symbol, null)) readIssues.push(flag);
    let outOfScopeIssues = 0;
    const undatedOut = undatedOutOfScope(read.bars, read.issues, request);
    for (const i of read.issues) {
      const outside = keep(i.symbol, i.date) ? undatedOut.get(i) : undefined;
      if (outside !== undefined) unscoped.push({ ...i, message: outside });
      if (keep(i.symbol, i.date) && outside === undefined) readIssues.push(i);
      else outOfScopeIssues++;
    }
    const twoFiles = twoFilesProblem(fileOf, s.source, read.bars, read.issues, keep);
    if (twoFiles) throw new BadInputError(twoFiles, 'SOURCE_REFUSED');
    rowsRead += read.rowsRead;
    rowsOutOfScope += outOfScopeIssues;
    report('reading', index + 1, sources.length);
    await yieldToEventLoop();
  }
  const misnamed = await misnamedFiles(store, named, fileOf);
  if (misnamed.refused) throw new BadInputError(misnamed.refused, 'SOURCE_REFUSED');
  readIssues.push(...misnamed.flags);
  // Before anything is written: a symbol too wide for the store can never be imported.
  assertSymbolsFit(candidates);
  // A symbol whose suffix says neither US nor a known market (`XYZ.Q`) is not guessed a US equity:
  // another market's series in a US universe would see US closes of after its own close.
  assertMarketsKnown(
    candidates.map((b) => b.symbol),
    { ...(await declaredInstruments(store)), ...(request.instruments ?? {}) },
    'the import request\'s "instruments"',
  );

  report('checking');
  const chunks = planChunks(candidates, readIssues, unscoped, hooks.chunkSize ?? 20_000);
  const check = (chunk: Chunk) => checkChunk(chunk, request.quality, clockOf);

  let generation = (latest?.generation ?? 0) + (rejudge ? 1 : 0);
  if (latest?.snapshot.status === 'published') {
    // Published before: kept while the store still holds every accepted bar, value for value. Stored
    // bars the snapshot does not confirm were kept by its publish and do not count, and neither do
    // rows the rules on the stored bars reject when judged (a volume of 0 over a stored volume, a
    // glitch at a file's edge): no publish of this content would write them, so a new generation
    // would change nothing (and each repeat of the same bytes added a snapshot and its findings).
    let holds = true;
    // Bars whose stored version is newer than this content are held too: a publish would leave them.
    const superseded = new SupersededTally();
    for (const [k, chunk] of chunks.entries()) {
      hooks.signal?.throwIfAborted();
      const accepted = check(chunk).accepted;
      const missing = await barsNotHeld(store, accepted, symbolClocksOf(chunk, clockOf), superseded);
      const rejected = missing.length === 0 ? undefined : await rejectedByStoredRules(store, accepted, new Set(missing.map((b) => b.symbol)), request.quality);
      if (rejected && !missing.every((b) => rejected.has(`${b.symbol}\u0000${b.date}`))) {
        holds = false;
        break;
      }
      report('checking', k + 1, chunks.length);
      await yieldToEventLoop();
    }
    if (holds) {
      // What this content finds superseded now, not what its publish found then.
      const summary = summaryOf(latest.snapshot, started, 0, 0);
      delete summary.supersededStoredBars;
      const now = superseded.result();
      return { ...summary, ...(now ? { supersededStoredBars: now } : {}) };
    }
    generation++;
  }
  const snapshotId = generationIdOf(firstId, generation);

  const source = {
    ...request.source,
    sources: sources.length,
    symbols: request.symbols ?? null,
    from: request.from ?? null,
    to: request.to ?? null,
    // A later generation names the one whose values it restores.
    ...(generation > 0 ? { generation, supersedes: generationIdOf(firstId, generation - 1) } : {}),
    judgedAt: judgedAt.toISOString(),
    // Files judged by an earlier clock (fileClocksOf), by source; absent when every file had judgedAt.
    ...(earlier.size > 0 ? { fileClocks: Object.fromEntries([...earlier].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([source, at]) => [source, at.toISOString()])) } : {}),
    // The provider's answers by symbol (sha256 of each body): one this snapshot is rejected with is
    // never reused from the cache (providerAnswerRejected), so the next import asks the provider.
    // The splits the files state (a split column), by symbol and date: a step of every price by that power of ten that day is the split (price_unit_change).
    ...(declaredSplits.size > 0 ? { declaredSplits: Object.fromEntries([...declaredSplits].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([symbol, dates]) => [symbol, Object.fromEntries([...dates].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))] as const)) } : {}),
    ...(request.source.kind === 'stooq' ? { providerAnswers: Object.fromEntries(sources.map((s, k) => [s.symbol ?? s.source, sha256s[k]] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) } : {}),
  };
  // Imports given up long ago free their staging rows here, so no separate janitor is needed.
  await sweepAbandonedStaging(store, { now: importClock, except: snapshotId });
  const staging = await beginStaging(store, { id: snapshotId, contentHash, source });
  if (staging.status !== 'staging') return summaryOf((await getSnapshot(store, snapshotId)) as DatasetSnapshot, started, 0, 0);

  const reports: QualityReport[] = [];
  let staged = 0;
  let chunksStaged = 0;
  let chunksResumed = 0;
  const total = candidates.length;
  for (const [k, chunk] of chunks.entries()) {
    hooks.signal?.throwIfAborted();
    const done = staging.doneChunks.get(k);
    if (done) {
      reports.push(done);
      staged += done.rowsAccepted;
      chunksResumed++;
      continue;
    }
    const checked = check(chunk);
    // Findings are keyed by content, so an attempt that writes them again changes nothing.
    await saveQuarantine(store, snapshotId, chunk.unscoped.length > 0 ? [...checked.issues, ...chunk.unscoped] : checked.issues);
    await hooks.beforeStage?.(k);
    await stageChunk(store, snapshotId, staging.token, k, checked.accepted, checked.report, { ...coverageOf(checked.accepted, checked.issues), contentAt: symbolClocksOf(chunk, clockOf) }, linesOf(chunk.candidates, checked.accepted));
    reports.push(checked.report);
    staged += checked.accepted.length;
    chunksStaged++;
    report('staging', k + 1, chunks.length, staged, total);
    await yieldToEventLoop();
  }

  report('recording', chunks.length, chunks.length, staged, total);
  const merged = mergeReports(reports, rowsRead - rowsOutOfScope, request.quality);
  // The gate names the rows out of scope when nothing usable is left (evaluateQualityGate).
  if (rowsOutOfScope > 0) merged.rowsOutOfScope = rowsOutOfScope;
  // Every answer empty by right (a range without closed sessions): an empty import, not a failed one.
  const empty = sources.map((s) => s.emptyRange);
  if (empty.length > 0 && empty.every((e) => e !== undefined) && merged.rowsRead === 0) merged.emptyRange = empty.join('; ');
  // Each answer empty by right, by symbol, whatever the others held: a symbol skipped beside others is named.
  const emptyAnswers = sources.filter((s) => s.emptyRange !== undefined).map((s) => [s.symbol ?? s.source, s.emptyRange as string] as const);
  if (emptyAnswers.length > 0) merged.emptyAnswers = Object.fromEntries(emptyAnswers.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const symbols = Object.keys(merged.bySymbol).filter((s) => merged.bySymbol[s].rowsAccepted > 0).sort();
  const firstDate = symbols.map((s) => merged.bySymbol[s].firstDate as string).sort()[0] ?? null;
  const lastDate = symbols.map((s) => merged.bySymbol[s].lastDate as string).sort().at(-1) ?? null;
  await finishStaging(store, snapshotId, staging.token, {
    source: { ...source, rowsOutOfScope },
    symbols,
    firstDate,
    lastDate,
    rowsRead: merged.rowsRead,
    rowCount: merged.rowsAccepted,
    rejectedCount: merged.rowsRejected,
    flaggedCount: merged.flags,
    qualityReport: merged,
  });
  return summaryOf((await getSnapshot(store, snapshotId)) as DatasetSnapshot, started, chunksStaged, chunksResumed);
}

/**
 * Imports daily bars in one call: stages the snapshot, judges it with the quality gate and
 * publishes it when it passes. A rejected import leaves the published bars as they were. The
 * summary's counts (rowsAccepted, rowsRejected, flags, byRule, symbols, dates) are the snapshot's
 * once judged, so they include what the rules run at judging found (volume_vanished, one_bar_glitch
 * at a file's edges, zero_volume, lagged_duplicate, duplicate_series).
 */
export async function importBars(store: Database, request: ImportRequest, hooks: ImportHooks = {}): Promise<ImportSummary> {
  const started = Date.now();
  const summary = await stageImport(store, request, hooks);
  const judged = await judgeSnapshot(store, summary.snapshotId);
  // The counts as judged: the rules run when the snapshot is judged (lib/ingest/judge.ts) reject
  // and flag rows the staging summary has not seen.
  const snapshot = await getSnapshot(store, summary.snapshotId);
  const after = snapshot ? summaryOf(snapshot, started, summary.chunksStaged, summary.chunksResumed) : summary;
  const unconfirmed = judged.published?.unconfirmed ?? after.unconfirmedStoredBars;
  // Content found still held (stageImport returned the published snapshot) reports what it found
  // superseded now; the snapshot's report holds what its own publish found.
  const superseded = summary.status === 'published' ? summary.supersededStoredBars : (judged.published?.superseded ?? after.supersededStoredBars);
  const rest: ImportSummary = { ...after };
  delete rest.supersededStoredBars;
  return { ...rest, status: judged.status, durationMs: summary.durationMs + judged.durationMs, ...(unconfirmed ? { unconfirmedStoredBars: unconfirmed } : {}), ...(superseded ? { supersededStoredBars: superseded } : {}) };
}

/**
 * The first and last rows of a file's symbols that a mistyped date explains though they keep the
 * file's order (lib/quality/rules.ts endRowIssue), judged with the stored bars between each and the
 * row next to it, each with its out_of_order_date finding. Rows a row rule rejects (`rowRule`) are
 * left to it and not taken for an end. Judged when the file is read, as the store is then, so the row
 * is rejected before it widens its symbol's range, fills a gap of the file or counts as a bar.
 */
async function misdatedEndRows(store: Database, bars: readonly CandidateBar[], rowRule: (bar: CandidateBar) => QualityIssue | undefined, unread: readonly QualityIssue[]): Promise<Map<CandidateBar, QualityIssue>> {
  const out = new Map<CandidateBar, QualityIssue>();
  const gaps = endRowGaps(bars, (b) => rowRule(b) !== undefined);
  for (const gap of gaps) {
    // Rows the reader could not take (a Yahoo "null" row, a rounded price) still stand between the
    // end row and its neighbour: the file has those sessions, so the gap says nothing of a mistype.
    const [from, to] = gap.row.date < gap.neighbour.date ? [gap.row.date, gap.neighbour.date] : [gap.neighbour.date, gap.row.date];
    if (unread.some((i) => i.symbol === gap.row.symbol && i.date !== null && i.date > from && i.date < to)) continue;
    const found = endRowIssue(gap, await storedBarsBetween(store, gap.row.symbol, gap.row.date, gap.neighbour.date));
    if (found) out.set(gap.row, found);
  }
  return out;
}

/**
 * A file's rows of each symbol judged with the symbol's stored bars where they lie more than
 * END_ROW_LONE_MAX_SESSIONS sessions from them (lib/quality/stray-bars.ts): rows standing alone
 * (one or two, that far from the file's other rows, at an end of them: a one-row daily file is one)
 * before the newest stored bar are judged with the stored bars around their date and rejected as
 * out_of_order_date when they lie far before the stored history, or revise an old stored bar with a
 * recent session's prices; rows kept that far from the stored bars (after the newest, or a block of
 * older history) are flagged calendar_gap, naming the gap. Rows `skip` says are judged otherwise
 * are left out. One read of the symbol's stored dates per symbol and file; more only for rows alone.
 */
async function strayRows(store: Database, bars: readonly CandidateBar[], skip: (bar: CandidateBar) => boolean): Promise<{ rejected: Map<CandidateBar, QualityIssue>; flags: QualityIssue[] }> {
  const rejected = new Map<CandidateBar, QualityIssue>();
  const flags: QualityIssue[] = [];
  for (const [symbol, rows] of groupBy(bars.filter((b) => !skip(b)), (b) => b.symbol)) {
    // One row per date, ascending (conflicting copies are duplicate_date's).
    const byDate = new Map<string, CandidateBar>();
    for (const b of rows) if (!byDate.has(b.date)) byDate.set(b.date, b);
    const sorted = [...byDate.values()].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
    const span = await storedSpan(store, symbol);
    if (span === undefined || sorted.length === 0) continue;
    const runs = incomingRuns(sorted);
    const [first, last] = [runs[0], runs[runs.length - 1]];
    if (last[0].date > span.last) {
      const flag = storedGapFlag(last[0], span.last, 'file');
      if (flag) flags.push(flag);
    }
    if (first.length > STRAY_MAX_BARS && first[first.length - 1].date < span.first) {
      const flag = storedGapFlag(first[first.length - 1], span.first, 'file');
      if (flag) flags.push(flag);
    }
    for (const run of loneRuns(sorted)) {
      if (run[0].date > span.last) continue;
      for (const [b, found] of strayBarIssues(run, await storedBarsAround(store, symbol, run[0].date, run[run.length - 1].date, STRAY_NEWEST_BARS), 'file')) rejected.set(b, found);
    }
  }
  return { rejected, flags };
}

/** The first and last stored dates of a symbol, or undefined when none is stored. */
async function storedSpan(store: Database, symbol: string): Promise<{ first: string; last: string } | undefined> {
  const row = await store.db.selectFrom('bars').select((eb) => [eb.fn.min('date').as('first'), eb.fn.max('date').as('last')]).where('symbol', '=', symbol).executeTakeFirst();
  return row?.first ? { first: String(row.first), last: String(row.last) } : undefined;
}

/**
 * A file ending inside its last row (no line break after it) may have been cut part way through its
 * last field (a volume of 21172488 read as 2117248) without the reader being able to tell. Such a row
 * never revises a stored bar with a value its last field is the start of (or, with the symbol last,
 * at all): it is rejected as truncated_row and the stored bar stands. A correction of another field
 * is published as any other. The read is changed in place.
 */
async function keepUnterminatedFromRevising(store: Database, read: CsvReadResult): Promise<void> {
  const bar = read.unterminated;
  if (!bar) return;
  const row = await store.db.selectFrom('bars').select(['open', 'high', 'low', 'close', 'volume']).where('symbol', '=', bar.symbol).where('date', '=', bar.date).executeTakeFirst();
  if (!row) return;
  const changes = cutFromStored(bar, { open: Number(row.open), high: Number(row.high), low: Number(row.low), close: Number(row.close), volume: Number(row.volume) });
  if (changes === undefined) return;
  read.bars.splice(read.bars.indexOf(bar), 1);
  delete read.unterminated;
  read.issues.push(
    issue('truncated_row', {
      symbol: bar.symbol,
      date: bar.date,
      source: bar.source,
      line: bar.line,
      raw: bar.raw,
      message: `the file ends inside this row, without a line break, so its last field may have been cut off, and the row would revise the stored bar (${changes}): a row that may be cut short never replaces a stored value by the start of it, so the row is rejected and the stored bar stands; import the complete file (ending with a line break)`,
    }),
  );
}
