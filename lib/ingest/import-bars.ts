import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Cache } from '../cache/cache';
import { BadInputError } from '../errors';
import type { CandidateBar } from '../market-data/csv-reader';
import { readBarCsv } from '../market-data/csv-reader';
import { ProviderError, type HistoricalBarProvider } from '../market-data/providers/provider';
import { StooqProvider } from '../market-data/providers/stooq';
import { checkQuality, type QualityReport } from '../quality/report';
import type { QualityIssue } from '../quality/rules-catalog';
import { upsertBars } from '../store/bars';
import type { Database } from '../store/database';
import { saveQuarantine } from '../store/quarantine';
import { saveSnapshot } from '../store/snapshots';
import type { ImportRequest } from './import-request';

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
}

export interface ImportProgress {
  phase: 'reading' | 'checking' | 'writing' | 'recording';
  barsWritten: number;
  barsTotal: number;
}

export interface ImportHooks {
  cache?: Cache;
  /** Called after each committed chunk; the activity heartbeats with it. */
  onProgress?: (progress: ImportProgress) => void;
  /** Bars already committed by an earlier attempt (from its last heartbeat): skipped, not rewritten. */
  resumeFromBars?: number;
  signal?: AbortSignal;
  /** Bars per transaction; smaller commits more often and resumes closer to a crash. */
  chunkSize?: number;
  provider?: HistoricalBarProvider;
}

interface SourceText {
  source: string;
  text: string;
  symbol?: string;
}

const PROVIDER_CACHE_TTL_SECONDS = 6 * 3600;

async function readCsvSources(target: string): Promise<SourceText[]> {
  let stat;
  try {
    stat = await fs.stat(target);
  } catch {
    throw new BadInputError(`No file or folder at ${target}; pass the path of a CSV file or of a folder of CSV files`, 'SOURCE_NOT_FOUND');
  }
  const files = stat.isDirectory()
    ? (await fs.readdir(target))
        .filter((f) => /\.(csv|txt)$/i.test(f))
        .sort()
        .map((f) => path.join(target, f))
    : [target];
  if (files.length === 0) throw new BadInputError(`The folder ${target} holds no .csv or .txt files`, 'SOURCE_EMPTY');
  return Promise.all(files.map(async (file) => ({ source: file, text: await fs.readFile(file, 'utf8') })));
}

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

/** Same content read the same way gives the same snapshot id, which is what makes imports idempotent. */
function snapshotIdOf(contentHash: string, request: ImportRequest): string {
  const { source, symbols, from, to, quality } = request;
  const reading = source.kind === 'csv' ? { kind: source.kind, format: source.format, mapping: source.mapping, adjust: source.adjust } : { kind: source.kind };
  const digest = createHash('sha256')
    .update(contentHash)
    .update(JSON.stringify({ reading, symbols: symbols ? [...symbols].sort() : null, from: from ?? null, to: to ?? null, quality }))
    .digest('hex');
  return `ds-${digest.slice(0, 24)}`;
}

function inScope(request: ImportRequest): (symbol: string | null, date: string | null) => boolean {
  const wanted = request.symbols ? new Set(request.symbols) : undefined;
  return (symbol, date) =>
    (!wanted || symbol === null || wanted.has(symbol)) &&
    (date === null || ((!request.from || date >= request.from) && (!request.to || date <= request.to)));
}

/**
 * Imports daily bars: read every source, run the quality rules, upsert accepted bars, store every
 * finding in quarantine and record a dataset snapshot. Safe to run again on the same data.
 */
export async function importBars(store: Database, request: ImportRequest, hooks: ImportHooks = {}): Promise<ImportSummary> {
  const started = Date.now();
  const report = (phase: ImportProgress['phase'], barsWritten = 0, barsTotal = 0): void => hooks.onProgress?.({ phase, barsWritten, barsTotal });
  report('reading');
  const sources = request.source.kind === 'csv' ? await readCsvSources(path.resolve(request.source.path)) : await fetchProviderSources(request, hooks);
  const contentHash = contentHashOf(sources);
  const snapshotId = snapshotIdOf(contentHash, request);

  report('checking');
  const keep = inScope(request);
  const candidates: CandidateBar[] = [];
  const readIssues: QualityIssue[] = [];
  let rowsRead = 0;
  let rowsOutOfScope = 0;
  for (const s of sources) {
    const format = request.source.kind === 'csv' ? request.source.format : (hooks.provider?.format ?? 'stooq');
    const mapping = request.source.kind === 'csv' ? request.source.mapping : undefined;
    const adjust = request.source.kind === 'csv' && request.source.adjust;
    const read = readBarCsv(s.text, { source: s.source, format, mapping, adjust, symbol: s.symbol });
    for (const bar of read.bars) {
      if (keep(bar.symbol, bar.date)) candidates.push(bar);
      else rowsOutOfScope++;
    }
    let outOfScopeIssues = 0;
    for (const i of read.issues) {
      if (keep(i.symbol, i.date)) readIssues.push(i);
      else outOfScopeIssues++;
    }
    rowsRead += read.rowsRead;
    rowsOutOfScope += outOfScopeIssues;
  }
  const checked = checkQuality(candidates, readIssues, rowsRead - rowsOutOfScope, request.quality);

  const total = checked.accepted.length;
  const chunkSize = hooks.chunkSize ?? 5000;
  let written = Math.min(hooks.resumeFromBars ?? 0, total);
  written -= written % chunkSize; // restart at a chunk boundary: chunks commit whole or not at all
  report('writing', written, total);
  while (written < total) {
    hooks.signal?.throwIfAborted();
    const chunk = checked.accepted.slice(written, written + chunkSize);
    await upsertBars(store, chunk);
    written += chunk.length;
    report('writing', written, total);
  }

  report('recording', written, total);
  await saveQuarantine(store, snapshotId, checked.issues);
  const symbols = Object.keys(checked.report.bySymbol).filter((s) => checked.report.bySymbol[s].rowsAccepted > 0).sort();
  const firstDate = symbols.map((s) => checked.report.bySymbol[s].firstDate as string).sort()[0] ?? null;
  const lastDate = symbols.map((s) => checked.report.bySymbol[s].lastDate as string).sort().at(-1) ?? null;
  await saveSnapshot(store, {
    id: snapshotId,
    contentHash,
    source: { ...request.source, sources: sources.length, symbols: request.symbols ?? null, from: request.from ?? null, to: request.to ?? null },
    symbols,
    firstDate,
    lastDate,
    rowsRead: checked.report.rowsRead,
    rowCount: total,
    rejectedCount: checked.report.rowsRejected,
    flaggedCount: checked.report.flags,
    qualityReport: checked.report,
  });
  return {
    snapshotId,
    contentHash,
    sources: sources.length,
    symbols: symbols.length,
    firstDate,
    lastDate,
    rowsRead: checked.report.rowsRead,
    rowsAccepted: total,
    rowsRejected: checked.report.rowsRejected,
    rowsOutOfScope,
    flags: checked.report.flags,
    badRowShare: checked.report.badRowShare,
    byRule: checked.report.byRule,
    durationMs: Date.now() - started,
  };
}
