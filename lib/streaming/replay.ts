/**
 * Replay: turns stored bars or a CSV history into a live stream, in trading-day order, at a chosen
 * pace, optionally with a drift injected into one column from a date, for demos, tests and the
 * monitoring benchmarks. Rows the CSV reader cannot parse are counted, not sent; rows that parse
 * but break a quality rule (a weekend date, high below low) are sent, so the consumer quarantines
 * them as ingestion would.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { isIsoDate } from '../calendar/dates';
import { BadInputError } from '../errors';
import type { Bar } from '../market-data/bar';
import { csvFormatSchema, type CsvFormatOption } from '../market-data/csv-formats';
import { readBarCsv } from '../market-data/csv-reader';
import { readBarsWithTimes, type BarQuery } from '../store/bars';
import type { Database } from '../store/database';
import type { LiveBarInput } from './live-bar';
import type { BarStreamProducer } from './producer';

const isoDate = z.string().refine(isIsoDate, 'expected a date as YYYY-MM-DD');

export const replayPaceSchema = z.discriminatedUnion('kind', [
  /** As fast as the stream takes them (still bounded by the backlog limit). */
  z.object({ kind: z.literal('max') }),
  z.object({ kind: z.literal('bars'), perSecond: z.number().positive().max(1_000_000) }),
  /** Every bar of a trading day at once, `perSecond` trading days per second. */
  z.object({ kind: z.literal('days'), perSecond: z.number().positive().max(10_000) }),
]);
export type ReplayPace = z.infer<typeof replayPaceSchema>;

export const DRIFT_COLUMNS = ['open', 'high', 'low', 'close', 'volume'] as const;

export const driftInjectionSchema = z.object({
  column: z.enum(DRIFT_COLUMNS),
  factor: z.number().positive(),
  /** First date that is scaled. */
  from: isoDate,
  /** Only these symbols (default: all). */
  symbols: z.array(z.string().min(1)).min(1).optional(),
});
export type DriftInjection = z.infer<typeof driftInjectionSchema>;

export const replayRangeSchema = z.object({
  symbols: z.array(z.string().min(1)).min(1).optional(),
  from: isoDate.optional(),
  to: isoDate.optional(),
});
export type ReplayRange = z.infer<typeof replayRangeSchema>;

/** Bars in the order a live feed sends them: by trading day, then symbol. */
export function orderForReplay<T extends Bar>(bars: readonly T[]): T[] {
  return [...bars].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
}

/**
 * The stored bars, each with its stored version's time as event_time (none when it has none): the
 * content is as old as that version, not as its re-sending, so a consumer orders it against
 * imports and corrections as the store it came from did.
 */
export async function loadStoredBarsForReplay(store: Database, range: ReplayRange = {}): Promise<LiveBarInput[]> {
  const query: BarQuery = { symbols: range.symbols, from: range.from, to: range.to };
  const bars = await readBarsWithTimes(store, query);
  return orderForReplay(bars.map(({ eventTime, ...b }) => ({ ...b, source: `replay:${store.driver}`, ...(eventTime === null ? {} : { eventTime }) })));
}

/** Reads a CSV file or folder with the importer's reader; unparseable rows are counted by rule. */
export async function loadCsvBarsForReplay(target: string, options: ReplayRange & { format?: CsvFormatOption } = {}): Promise<{ bars: LiveBarInput[]; skipped: Record<string, number> }> {
  const format = csvFormatSchema.parse(options.format ?? 'auto');
  let files: string[];
  try {
    files = (await fs.stat(target)).isDirectory()
      ? (await fs.readdir(target))
          .filter((f) => /\.(csv|txt)$/i.test(f))
          .sort()
          .map((f) => path.join(target, f))
      : [target];
  } catch {
    throw new BadInputError(`No file or folder at ${target}; pass a CSV file or a folder of CSV files`, 'SOURCE_NOT_FOUND');
  }
  if (files.length === 0) throw new BadInputError(`The folder ${target} holds no .csv or .txt files`, 'SOURCE_EMPTY');
  const wanted = options.symbols ? new Set(options.symbols) : undefined;
  const inRange = (symbol: string | null, date: string | null) =>
    (!wanted || symbol === null || wanted.has(symbol)) && (date === null || ((!options.from || date >= options.from) && (!options.to || date <= options.to)));
  const bars: LiveBarInput[] = [];
  const skipped: Record<string, number> = {};
  for (const file of files) {
    const read = readBarCsv(await fs.readFile(file, 'utf8'), { source: file, format });
    const source = `replay:${path.basename(file)}`;
    for (const b of read.bars) if (inRange(b.symbol, b.date)) bars.push({ symbol: b.symbol, date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source });
    for (const i of read.issues) if (inRange(i.symbol, i.date)) skipped[i.rule] = (skipped[i.rule] ?? 0) + 1;
  }
  return { bars: orderForReplay(bars), skipped };
}

/**
 * Scales one column by `factor` on every bar dated on or after `from` (of the given symbols). When
 * a price column moves, high and low are widened just enough to keep the bar consistent, so the
 * drifted bars reach the features instead of the quarantine.
 */
export function injectDrift<T extends Bar>(bars: readonly T[], drift: DriftInjection): T[] {
  const d = driftInjectionSchema.parse(drift);
  const symbols = d.symbols ? new Set(d.symbols) : undefined;
  return bars.map((bar) => {
    if (bar.date < d.from || (symbols && !symbols.has(bar.symbol))) return bar;
    const out = { ...bar, [d.column]: bar[d.column] * d.factor };
    if (d.column !== 'volume') {
      out.high = Math.max(out.high, out.open, out.close);
      out.low = Math.min(out.low, out.open, out.close);
    }
    return out;
  });
}

/** Milliseconds after the start at which each bar (in replay order) is due. */
export function replayDueTimes(bars: ReadonlyArray<{ date: string }>, pace: ReplayPace): Float64Array {
  const due = new Float64Array(bars.length);
  if (pace.kind === 'bars') for (let i = 0; i < bars.length; i++) due[i] = (i * 1000) / pace.perSecond;
  else if (pace.kind === 'days') {
    let day = -1;
    for (let i = 0; i < bars.length; i++) {
      if (i === 0 || bars[i].date !== bars[i - 1].date) day++;
      due[i] = (day * 1000) / pace.perSecond;
    }
  }
  return due;
}

export interface ReplayProgress {
  sent: number;
  total: number;
  elapsedMs: number;
  /** Time spent waiting for the consumers to catch up (backlog limit). */
  throttledMs: number;
}

export interface ReplayOptions {
  pace: ReplayPace;
  /** Group whose unread backlog bounds how far ahead the replay runs (default: no bound). */
  group?: string;
  maxBacklog?: number;
  /** Most bars per XADD pipeline. */
  chunkSize?: number;
  signal?: AbortSignal;
  onProgress?: (p: ReplayProgress) => void;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Sends the bars (already in replay order) at the chosen pace; returns the final progress. */
export async function replayToStream(producer: BarStreamProducer, bars: readonly LiveBarInput[], options: ReplayOptions): Promise<ReplayProgress> {
  const pace = replayPaceSchema.parse(options.pace);
  const due = replayDueTimes(bars, pace);
  const chunkSize = options.chunkSize ?? 1000;
  const started = performance.now();
  let throttledMs = 0;
  let sent = 0;
  const progress = (): ReplayProgress => ({ sent, total: bars.length, elapsedMs: performance.now() - started, throttledMs });
  while (sent < bars.length) {
    options.signal?.throwIfAborted();
    if (options.group !== undefined && options.maxBacklog !== undefined) throttledMs += await producer.waitForBacklogBelow(options.group, options.maxBacklog, options.signal);
    // Throttling shifts the whole schedule: the pace is kept, not caught up in a burst.
    const now = performance.now() - started - throttledMs;
    if (due[sent] > now) {
      await sleep(Math.min(due[sent] - now, 1000), options.signal);
      continue;
    }
    let end = sent;
    while (end < bars.length && end - sent < chunkSize && due[end] <= now) end++;
    await producer.publish(bars.slice(sent, end));
    sent = end;
    options.onProgress?.(progress());
  }
  return progress();
}
