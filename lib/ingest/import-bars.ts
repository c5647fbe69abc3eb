import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Cache } from '../cache/cache';
import { BadInputError } from '../errors';
import { excerpt } from '../quality/excerpt';
import type { CandidateBar } from '../market-data/csv-reader';
import { readCsvFiles, resolveCsvSource, type CsvFileReadOptions } from '../market-data/csv-files';
import { readPriceTable } from '../market-data/csv-reader';
import { ProviderError, type HistoricalBarProvider } from '../market-data/providers/provider';
import { StooqProvider } from '../market-data/providers/stooq';
import { checkQuality, type QualityReport } from '../quality/report';
import type { QualityIssue } from '../quality/rules-catalog';
import { assertSymbolsFit } from '../store/bars';
import type { Database } from '../store/database';
import { saveQuarantine } from '../store/quarantine';
import { getSnapshot, type DatasetSnapshot, type SnapshotStatus } from '../store/snapshots';
import { beginStaging, coverageOf, finishStaging, stageChunk, storeHoldsBars, sweepAbandonedStaging, unconfirmedOf, type UnconfirmedStoredBars } from '../store/staging';
import { judgeSnapshot } from './judge';
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
}

const PROVIDER_CACHE_TTL_SECONDS = 6 * 3600;

async function fetchProviderSources(request: ImportRequest, hooks: ImportHooks): Promise<SourceText[]> {
  if (request.source.kind !== 'stooq') return [];
  const provider = hooks.provider ?? new StooqProvider({ baseUrl: request.source.baseUrl });
  const range = { from: request.from, to: request.to };
  const out: SourceText[] = [];
  for (const symbol of request.source.symbols) {
    hooks.signal?.throwIfAborted();
    const key = `provider:${provider.name}:${symbol}:${range.from ?? ''}:${range.to ?? ''}`;
    const cached = await hooks.cache?.get(key);
    if (cached !== undefined) {
      out.push(JSON.parse(cached) as SourceText);
      continue;
    }
    try {
      const response = await provider.fetchDaily(symbol, range, hooks.signal);
      const entry: SourceText = { source: response.source, text: response.csv, symbol: response.symbol };
      await hooks.cache?.set(key, JSON.stringify(entry), PROVIDER_CACHE_TTL_SECONDS);
      out.push(entry);
    } catch (error) {
      if (error instanceof ProviderError && !error.retryable) throw new BadInputError(error.message, 'PROVIDER_REJECTED');
      throw error;
    }
  }
  return out;
}

/** Hash of the bytes read, independent of where the folder lives. */
function contentHashOf(sources: readonly SourceText[]): string {
  const hash = createHash('sha256');
  const parts = sources
    .map((s) => `${path.basename(s.source.split('?')[0])}${s.symbol ?? ''}\u0000${createHash('sha256').update(s.text).digest('hex')}`)
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
  const { source, symbols, from, to, quality, instruments } = request;
  const reading =
    source.kind === 'csv'
      ? { kind: source.kind, format: source.format, mapping: source.mapping, adjust: source.adjust, ...(source.dateOrder ? { dateOrder: source.dateOrder } : {}) }
      : { kind: source.kind, ...(providerFormat !== 'stooq' ? { format: providerFormat } : {}) };
  const declared = instruments ? { instruments: Object.entries(instruments).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) } : {};
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

/** Lets timers and heartbeats run between CPU-bound pieces of an import. */

interface Chunk {
  candidates: CandidateBar[];
  issues: QualityIssue[];
  rowsRead: number;
}

/**
 * Splits the rows into chunks of whole symbols (every rule but the totals works per symbol, so a
 * chunk's checks equal the whole import's for its symbols), in symbol order, so the same content
 * always gives the same chunks and a retried attempt can skip the ones already staged.
 */
function planChunks(candidates: readonly CandidateBar[], issues: readonly QualityIssue[], chunkSize: number): Chunk[] {
  const bySymbol = new Map<string, Chunk>();
  const entry = (symbol: string): Chunk => {
    let e = bySymbol.get(symbol);
    if (!e) bySymbol.set(symbol, (e = { candidates: [], issues: [], rowsRead: 0 }));
    return e;
  };
  const orphans: QualityIssue[] = [];
  for (const c of candidates) entry(c.symbol).candidates.push(c);
  for (const i of issues) {
    if (i.symbol === null) orphans.push(i);
    else entry(i.symbol).issues.push(i);
  }
  const chunks: Chunk[] = [{ candidates: [], issues: orphans, rowsRead: 0 }];
  for (const symbol of [...bySymbol.keys()].sort()) {
    const e = bySymbol.get(symbol) as Chunk;
    let last = chunks[chunks.length - 1];
    if (last.candidates.length > 0 && last.candidates.length + e.candidates.length > chunkSize) chunks.push((last = { candidates: [], issues: [], rowsRead: 0 }));
    for (const c of e.candidates) last.candidates.push(c);
    for (const i of e.issues) last.issues.push(i);
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
  };
}

/**
 * The clock that judges one content (`future_date`, `session_not_closed`): the one its first import
 * recorded, whichever import brings the same bytes later. A bar that was unfinished, or dated ahead
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
  const sources = request.source.kind === 'csv' ? await readCsvFiles(resolveCsvSource(request.source.path), { ...hooks.csvFiles, followLinks: request.source.followLinks }) : await fetchProviderSources(request, hooks);
  const providerFormat = hooks.provider?.format ?? 'stooq';
  const contentHash = contentHashOf(sources);
  const firstId = snapshotIdOf(contentHash, request, providerFormat);
  const latest = await latestGeneration(store, firstId);
  if (latest && latest.snapshot.status !== 'staging' && latest.snapshot.status !== 'published') return summaryOf(latest.snapshot, started, 0, 0);
  const judgedAt = await judgingClockOf(store, firstId, importClock);

  const keep = inScope(request);
  const candidates: CandidateBar[] = [];
  const readIssues: QualityIssue[] = [];
  let rowsRead = 0;
  let rowsOutOfScope = 0;
  // The file that gave each symbol its rows: one symbol's rows come from one file (twoFilesProblem).
  const fileOf = new Map<string, string>();
  for (const [index, s] of sources.entries()) {
    hooks.signal?.throwIfAborted();
    const format = request.source.kind === 'csv' ? request.source.format : providerFormat;
    const mapping = request.source.kind === 'csv' ? request.source.mapping : undefined;
    const adjust = request.source.kind === 'csv' && request.source.adjust;
    const dateOrder = request.source.kind === 'csv' ? request.source.dateOrder : undefined;
    const read = readPriceTable(s.text, { source: s.source, format, mapping, adjust, dateOrder, symbol: s.symbol });
    for (const bar of read.bars) {
      if (keep(bar.symbol, bar.date)) candidates.push(bar);
      else rowsOutOfScope++;
    }
    let outOfScopeIssues = 0;
    for (const i of read.issues) {
      if (keep(i.symbol, i.date)) readIssues.push(i);
      else outOfScopeIssues++;
    }
    const twoFiles = twoFilesProblem(fileOf, s.source, read.bars, read.issues, keep);
    if (twoFiles) throw new BadInputError(twoFiles, 'SOURCE_REFUSED');
    rowsRead += read.rowsRead;
    rowsOutOfScope += outOfScopeIssues;
    report('reading', index + 1, sources.length);
    await yieldToEventLoop();
  }
  // Before anything is written: a symbol too wide for the store can never be imported.
  assertSymbolsFit(candidates);

  report('checking');
  const chunks = planChunks(candidates, readIssues, hooks.chunkSize ?? 20_000);
  const check = (chunk: Chunk) => checkQuality(chunk.candidates, chunk.issues, chunk.rowsRead, request.quality, { now: () => judgedAt });

  let generation = latest?.generation ?? 0;
  if (latest?.snapshot.status === 'published') {
    // Published before: kept while the store still holds every accepted bar, value for value. Stored
    // bars the snapshot does not confirm were kept by its publish and do not count.
    let holds = true;
    for (const [k, chunk] of chunks.entries()) {
      hooks.signal?.throwIfAborted();
      if (!(await storeHoldsBars(store, check(chunk).accepted))) {
        holds = false;
        break;
      }
      report('checking', k + 1, chunks.length);
      await yieldToEventLoop();
    }
    if (holds) return summaryOf(latest.snapshot, started, 0, 0);
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
    await saveQuarantine(store, snapshotId, checked.issues);
    await hooks.beforeStage?.(k);
    await stageChunk(store, snapshotId, staging.token, k, checked.accepted, checked.report, coverageOf(checked.accepted, checked.issues));
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
 * publishes it when it passes. A rejected import leaves the published bars as they were.
 */
export async function importBars(store: Database, request: ImportRequest, hooks: ImportHooks = {}): Promise<ImportSummary> {
  const summary = await stageImport(store, request, hooks);
  const judged = await judgeSnapshot(store, summary.snapshotId);
  const unconfirmed = judged.published?.unconfirmed ?? summary.unconfirmedStoredBars;
  return { ...summary, status: judged.status, durationMs: summary.durationMs + judged.durationMs, ...(unconfirmed ? { unconfirmedStoredBars: unconfirmed } : {}) };
}
