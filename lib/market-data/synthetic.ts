/**
 * Deterministic synthetic daily bars in the same CSV layout as the real S&P 500 files, so the pipeline
 * (ingest, quality rules, training) runs and is testable without the real data.
 * Same options => byte-identical output: all randomness comes from seeded PRNG streams, never Math.random.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { fmix32, rng } from '../random';
import { isIsoDate } from '../calendar/dates';
import { nyseTradingDaysBetween } from '../calendar/nyse';

export const PLANTED_ERROR_KINDS = [
  'non_positive_price',
  'high_below_open_close',
  'negative_volume',
  'empty_field',
  'non_numeric_field',
  'exact_duplicate',
  'conflicting_duplicate',
  'stale_closes',
  'unadjusted_split',
  'gap',
  'out_of_order',
] as const;

export type PlantedErrorKind = (typeof PLANTED_ERROR_KINDS)[number];

export interface PlantedError {
  symbol: string;
  /** The row the error is about; for runs (stale, split, gap) the first affected date. */
  date: string;
  kind: PlantedErrorKind;
  description: string;
}

export interface SyntheticFile {
  fileName: string;
  symbol: string;
  csv: string;
}

export interface SyntheticMarket {
  files: SyntheticFile[];
  planted: PlantedError[];
}

export const CSV_HEADER = 'date,open,high,low,close,volume,Name';

const isoDate = z.string().refine(isIsoDate, { message: 'expected a real date as YYYY-MM-DD' });

export const syntheticMarketOptionsSchema = z
  .strictObject({
    symbols: z.number().int().min(1).max(999).default(8),
    from: isoDate.default('2016-01-04'),
    to: isoDate.default('2020-12-31'),
    seed: z.number().int().default(42),
    plantErrors: z.boolean().default(true),
    /** Standard deviation of a trend segment's daily drift: 0.0008 is about ±20%/year; tests that need an edge a model can prove plant stronger trends. */
    trendDrift: z.number().min(0).max(0.01).default(0.0008),
    /**
     * How many times its overnight noise (the part of today's open not explained by the day's move)
     * a stock gives back tomorrow between the open and the close (0: none, the default). The noise
     * shows in the opening gap and in no close, so a model with the gap feature sees an edge that no
     * close-based naive baseline (the sign of the past h-day return, either way) does, and an order
     * filled at tomorrow's open earns it: tests that need a model to prove an edge plant one.
     */
    gapReversal: z.number().min(0).max(10).default(0),
    /**
     * The share of today's open-to-close move that tomorrow's opening gap gives back (0: none, the
     * default). It is over before any order placed after today's close can fill, so it is an edge a
     * label from today's close would credit and no trade earns: tests that a pipeline does not promote
     * an untradable edge plant one.
     */
    overnightReversal: z.number().min(0).max(1).default(0),
  })
  .refine((o) => o.from <= o.to, { message: 'from must not be after to', path: ['to'] });

export type SyntheticMarketOptions = z.input<typeof syntheticMarketOptionsSchema>;
export type ResolvedSyntheticMarketOptions = z.output<typeof syntheticMarketOptionsSchema>;

export function resolveSyntheticMarketOptions(options: SyntheticMarketOptions = {}): ResolvedSyntheticMarketOptions {
  const parsed = syntheticMarketOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(options)'}: ${i.message}`);
    throw new RangeError(`Invalid synthetic market options:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

// ---------------------------------------------------------------------------------------------------------------
// Seeded randomness

/** FNV-1a then a murmur3 finaliser: spreads (seed, label) into independent 32-bit stream seeds. */
function streamSeed(seed: number, label: string): number {
  const text = `${seed}/${label}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/** The project's mulberry32 stream per label, with Box–Muller normals (simulation, not cryptography). */
class Rng {
  /** Uniform in [0, 1). */
  readonly next: () => number;
  private spare: number | undefined;

  constructor(seed: number, label: string) {
    this.next = rng(streamSeed(seed, label));
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  normal(): number {
    if (this.spare !== undefined) {
      const z = this.spare;
      this.spare = undefined;
      return z;
    }
    const u1 = 1 - this.next(); // (0, 1]: log(0) must not happen
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)];
  }

  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Price model

type Regime = 'calm' | 'turbulent';

const MARKET = {
  drift: 0.0003,
  vol: { calm: 0.006, turbulent: 0.016 },
  /** daily switching probabilities: turbulent spells are rarer and shorter */
  pCalmToTurbulent: 0.015,
  pTurbulentToCalm: 0.06,
} as const;

interface MarketPath {
  regimes: Regime[];
  returns: number[];
}

function simulateMarket(days: number, rng: Rng): MarketPath {
  const regimes: Regime[] = [];
  const returns: number[] = [];
  let regime: Regime = rng.next() < 0.2 ? 'turbulent' : 'calm';
  for (let t = 0; t < days; t++) {
    if (t > 0) {
      const u = rng.next();
      if (regime === 'calm' && u < MARKET.pCalmToTurbulent) regime = 'turbulent';
      else if (regime === 'turbulent' && u < MARKET.pTurbulentToCalm) regime = 'calm';
    }
    regimes.push(regime);
    returns.push(MARKET.drift + MARKET.vol[regime] * rng.normal());
  }
  return { regimes, returns };
}

/** Unrounded bar; prices in currency units. */
interface RawBar {
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

/** Pull of the idiosyncratic log-price back towards the market-implied path; keeps decades-long runs away from 0. */
const MEAN_REVERSION = 0.0004;
const OVERNIGHT_SHARE = 0.35;

function simulateSymbol(market: MarketPath, rng: Rng, trendDrift: number, gapReversal: number, overnightReversal: number): RawBar[] {
  const beta = rng.uniform(0.6, 1.6);
  const idioVol = rng.uniform(0.006, 0.015);
  const startPrice = Math.exp(rng.uniform(Math.log(20), Math.log(300)));
  const baseVolume = Math.exp(rng.uniform(Math.log(4e5), Math.log(2e7)));

  const bars: RawBar[] = [];
  let logPrice = Math.log(startPrice);
  let marketLog = 0;
  let segmentLeft = 0;
  let segmentDrift = 0;
  let lastGapNoise = 0;
  let lastIntraday = 0;
  for (let t = 0; t < market.returns.length; t++) {
    if (segmentLeft === 0) {
      // Trend segments: a few months to a year of persistent idiosyncratic drift (about ±20%/year).
      segmentLeft = rng.int(40, 250);
      segmentDrift = trendDrift * rng.normal();
    }
    segmentLeft--;

    const turbulent = market.regimes[t] === 'turbulent';
    const m = market.returns[t];
    const sigmaIdio = idioVol * (turbulent ? 1.6 : 1);
    const sigma = Math.sqrt((beta * MARKET.vol[market.regimes[t]]) ** 2 + sigmaIdio ** 2);
    const deviation = logPrice - (Math.log(startPrice) + beta * marketLog);
    const move = segmentDrift - MEAN_REVERSION * deviation + beta * m + sigmaIdio * rng.normal();
    // The planted reversals: yesterday's overnight noise given back after the open (tradable), and a
    // share of yesterday's open-to-close move given back by the open (not tradable).
    const afterOpen = -gapReversal * lastGapNoise;
    const byOpen = -overnightReversal * lastIntraday;
    const r = move + afterOpen + byOpen;

    const prevClose = Math.exp(logPrice);
    // Part of the day's move happens overnight, plus some overnight noise of its own.
    const gapNoise = 0.2 * sigma * rng.normal();
    const gap = OVERNIGHT_SHARE * move + gapNoise + byOpen;
    lastGapNoise = gapNoise;
    lastIntraday = r - gap;
    const open = prevClose * Math.exp(gap);
    const close = prevClose * Math.exp(r);
    const high = Math.max(open, close) * Math.exp(0.45 * sigma * Math.abs(rng.normal()));
    const low = Math.min(open, close) * Math.exp(-0.45 * sigma * Math.abs(rng.normal()));
    // Volume rises with the size of the move and in turbulent regimes.
    const logVolume = Math.log(baseVolume) + 0.35 * (Math.abs(r) / sigma - 0.8) + (turbulent ? 0.25 : 0) + 0.3 * rng.normal();
    bars.push({ open, high, low, close, volume: Math.max(100, Math.round(Math.exp(logVolume))) });

    logPrice += r;
    marketLog += m;
  }
  return bars;
}

/** Bar as written: prices in integer cents so rounding and formatting are exact. */
interface Bar {
  date: string;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

function toCents(x: number): number {
  return Math.max(1, Math.round(x * 100));
}

/** Round to cents, then repair high/low so rounding never breaks the OHLC invariants of a clean row. */
function roundBar(date: string, raw: RawBar): Bar {
  const open = toCents(raw.open);
  const close = toCents(raw.close);
  const high = Math.max(toCents(raw.high), open, close);
  const low = Math.min(toCents(raw.low), open, close);
  return { date, open, high, low, close, volume: raw.volume };
}

function formatCents(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

function barFields(bar: Bar, symbol: string): string[] {
  return [
    bar.date,
    formatCents(bar.open),
    formatCents(bar.high),
    formatCents(bar.low),
    formatCents(bar.close),
    String(bar.volume),
    symbol,
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// Planted errors

/** Bars each error touches; used to keep errors apart so each stays individually detectable. */
const ERROR_SPAN: Record<PlantedErrorKind, number> = {
  non_positive_price: 1,
  high_below_open_close: 1,
  negative_volume: 1,
  empty_field: 1,
  non_numeric_field: 1,
  exact_duplicate: 1,
  conflicting_duplicate: 1,
  stale_closes: 8,
  unadjusted_split: 1,
  gap: 6,
  out_of_order: 2,
};
/** Clean bars on each side of an error. */
const ERROR_MARGIN = 5;
/** Clean bars at the start and end of a file, so the first and last rows are always trustworthy. */
const EDGE_MARGIN = 5;

const STALE_RUN = ERROR_SPAN.stale_closes;
const GAP_DAYS = ERROR_SPAN.gap;
const FIELD_NAMES = ['date', 'open', 'high', 'low', 'close', 'volume', 'Name'] as const;
const NON_NUMERIC_VALUES = ['N/A', '#VALUE!', 'null', 'error'] as const;

interface Placement {
  kind: PlantedErrorKind;
  symbolIndex: number;
  barIndex: number;
}

function planErrors(symbolCount: number, dayCount: number, rng: Rng): Placement[] {
  // Errors go to about half the symbols, so the other half stay clean as a baseline for the quality rules.
  const dirtyCount = Math.max(1, Math.ceil(symbolCount / 2));
  const dirty = rng.shuffle(Array.from({ length: symbolCount }, (_, i) => i)).slice(0, dirtyCount);
  const bySymbol = new Map<number, PlantedErrorKind[]>();
  rng.shuffle(PLANTED_ERROR_KINDS).forEach((kind, i) => {
    const symbolIndex = dirty[i % dirty.length];
    bySymbol.set(symbolIndex, [...(bySymbol.get(symbolIndex) ?? []), kind]);
  });

  const placements: Placement[] = [];
  for (const symbolIndex of [...bySymbol.keys()].sort((a, b) => a - b)) {
    const kinds = bySymbol.get(symbolIndex) ?? [];
    // Each error gets its own equal segment of the file and a random spot inside it.
    const usable = dayCount - 2 * EDGE_MARGIN;
    const segment = Math.floor(usable / kinds.length);
    kinds.forEach((kind, k) => {
      const needed = ERROR_SPAN[kind] + 2 * ERROR_MARGIN;
      if (segment < needed) {
        const minDays = 2 * EDGE_MARGIN + kinds.length * Math.max(...kinds.map((x) => ERROR_SPAN[x] + 2 * ERROR_MARGIN));
        throw new RangeError(
          `Date range has ${dayCount} trading days; planting ${kinds.length} errors in one file needs about ${minDays}. ` +
            'Widen from/to, add symbols, or set plantErrors: false.',
        );
      }
      const segmentStart = EDGE_MARGIN + k * segment;
      const barIndex = rng.int(segmentStart + ERROR_MARGIN, segmentStart + segment - ERROR_MARGIN - ERROR_SPAN[kind]);
      placements.push({ kind, symbolIndex, barIndex });
    });
  }
  return placements;
}

interface Row {
  barIndex: number;
  fields: string[];
}

/** Applies one symbol's errors and renders its CSV; returns what was planted, in file order. */
function renderSymbol(
  symbol: string,
  bars: Bar[],
  placements: readonly Placement[],
  splitIndex: number | undefined,
  rng: Rng,
): { csv: string; planted: PlantedError[] } {
  const planted: PlantedError[] = [];
  const note = (kind: PlantedErrorKind, date: string, description: string): void => {
    planted.push({ symbol, date, kind, description });
  };
  const removed = new Set<number>();
  const extraAfter = new Map<number, string[]>();
  const fieldEdits = new Map<number, { index: number; value: string }>();
  let swapAt: number | undefined;

  for (const { kind, barIndex: i } of [...placements].sort((a, b) => a.barIndex - b.barIndex)) {
    const bar = bars[i];
    switch (kind) {
      case 'non_positive_price':
        // Low is the only field that can be zeroed without also breaking low <= min(open, close).
        note(kind, bar.date, `low is 0.00 (was ${formatCents(bar.low)})`);
        bar.low = 0;
        break;
      case 'high_below_open_close': {
        const top = Math.max(bar.open, bar.close);
        const high = Math.max(1, Math.min(top - 1, Math.round(top * 0.985)));
        note(kind, bar.date, `high ${formatCents(high)} is below max(open, close) = ${formatCents(top)}`);
        bar.high = high;
        bar.low = Math.min(bar.low, high);
        break;
      }
      case 'negative_volume':
        bar.volume = -bar.volume;
        note(kind, bar.date, `volume is ${bar.volume}`);
        break;
      case 'empty_field': {
        const index = rng.int(1, 5);
        fieldEdits.set(i, { index, value: '' });
        note(kind, bar.date, `${FIELD_NAMES[index]} is empty`);
        break;
      }
      case 'non_numeric_field': {
        const index = rng.int(1, 5);
        const value = rng.pick(NON_NUMERIC_VALUES);
        fieldEdits.set(i, { index, value });
        note(kind, bar.date, `${FIELD_NAMES[index]} is the text ${JSON.stringify(value)}`);
        break;
      }
      case 'exact_duplicate':
        extraAfter.set(i, barFields(bar, symbol));
        note(kind, bar.date, 'row appears twice, identical');
        break;
      case 'conflicting_duplicate': {
        // A second, internally consistent bar for the same date: only the duplicate check can catch it.
        const factor = 1.03;
        const other: Bar = {
          date: bar.date,
          open: Math.round(bar.open * factor),
          high: Math.round(bar.high * factor),
          low: Math.round(bar.low * factor),
          close: Math.round(bar.close * factor),
          volume: Math.round(bar.volume * 0.6),
        };
        other.high = Math.max(other.high, other.open, other.close);
        other.low = Math.min(other.low, other.open, other.close);
        extraAfter.set(i, barFields(other, symbol));
        note(kind, bar.date, `second row for the date: close ${formatCents(other.close)} vs ${formatCents(bar.close)}`);
        break;
      }
      case 'stale_closes':
        // A frozen feed repeats the last bar; the first of the 8 rows is genuine.
        for (let k = 1; k < STALE_RUN; k++) bars[i + k] = { ...bar, date: bars[i + k].date };
        note(kind, bar.date, `close stuck at ${formatCents(bar.close)} for ${STALE_RUN} rows, ${bar.date}..${bars[i + STALE_RUN - 1].date}`);
        break;
      case 'unadjusted_split':
        // Prices were already halved while simulating (see splitIndex); only record it here.
        if (splitIndex !== i) throw new Error('split placement mismatch');
        note(kind, bar.date, `unadjusted 2:1 split: prices halve and volume doubles from ${bar.date} on`);
        break;
      case 'gap':
        for (let k = 0; k < GAP_DAYS; k++) removed.add(i + k);
        note(kind, bar.date, `${GAP_DAYS} trading days missing, ${bar.date}..${bars[i + GAP_DAYS - 1].date}`);
        break;
      case 'out_of_order':
        swapAt = i;
        note(kind, bar.date, `rows ${bar.date} and ${bars[i + 1].date} are swapped; ${bar.date} comes after ${bars[i + 1].date}`);
        break;
    }
  }

  const rows: Row[] = [];
  bars.forEach((bar, i) => {
    if (removed.has(i)) return;
    const fields = barFields(bar, symbol);
    const edit = fieldEdits.get(i);
    if (edit) fields[edit.index] = edit.value;
    rows.push({ barIndex: i, fields });
    const extra = extraAfter.get(i);
    if (extra) rows.push({ barIndex: i, fields: extra });
  });
  if (swapAt !== undefined) {
    const p = rows.findIndex((r) => r.barIndex === swapAt);
    [rows[p], rows[p + 1]] = [rows[p + 1], rows[p]];
  }

  const lines = [CSV_HEADER, ...rows.map((r) => r.fields.join(','))];
  return { csv: `${lines.join('\n')}\n`, planted };
}

// ---------------------------------------------------------------------------------------------------------------
// Public API

export function syntheticSymbol(index: number, symbolCount: number): string {
  return `SYN${String(index + 1).padStart(Math.max(2, String(symbolCount).length), '0')}`;
}

export function generateSyntheticMarket(options: SyntheticMarketOptions = {}): SyntheticMarket {
  const o = resolveSyntheticMarketOptions(options);
  const days = nyseTradingDaysBetween(o.from, o.to);
  if (days.length === 0) throw new RangeError(`No NYSE trading days between ${o.from} and ${o.to}`);

  // Separate streams per purpose: adding symbols or toggling errors leaves the other series unchanged.
  const market = simulateMarket(days.length, new Rng(o.seed, 'market'));
  const placements = o.plantErrors ? planErrors(o.symbols, days.length, new Rng(o.seed, 'errors')) : [];

  const files: SyntheticFile[] = [];
  const planted: PlantedError[] = [];
  for (let s = 0; s < o.symbols; s++) {
    const symbol = syntheticSymbol(s, o.symbols);
    const mine = placements.filter((p) => p.symbolIndex === s);
    const splitIndex = mine.find((p) => p.kind === 'unadjusted_split')?.barIndex;
    const bars = simulateSymbol(market, new Rng(o.seed, `symbol/${s}`), o.trendDrift, o.gapReversal, o.overnightReversal).map((raw, t) => {
      const adjusted = splitIndex !== undefined && t >= splitIndex
        ? { open: raw.open / 2, high: raw.high / 2, low: raw.low / 2, close: raw.close / 2, volume: raw.volume * 2 }
        : raw;
      return roundBar(days[t], adjusted);
    });
    const rendered = renderSymbol(symbol, bars, mine, splitIndex, new Rng(o.seed, `errors/${s}`));
    files.push({ fileName: `${symbol}.csv`, symbol, csv: rendered.csv });
    planted.push(...rendered.planted);
  }
  return { files, planted };
}

export interface WrittenSyntheticMarket {
  dir: string;
  /** absolute paths of the CSV files, in symbol order */
  files: string[];
  /** absolute path of planted-errors.json: { options, planted } */
  plantedErrors: string;
  planted: PlantedError[];
}

/** Writes one CSV per symbol plus planted-errors.json into `dir` (created if missing; other files are left alone). */
export async function writeSyntheticMarket(dir: string, options: SyntheticMarketOptions = {}): Promise<WrittenSyntheticMarket> {
  const resolved = resolveSyntheticMarketOptions(options);
  const market = generateSyntheticMarket(resolved);
  const root = path.resolve(dir);
  await mkdir(root, { recursive: true });
  const files: string[] = [];
  for (const file of market.files) {
    const target = path.join(root, file.fileName);
    await writeFile(target, file.csv, 'utf8');
    files.push(target);
  }
  const plantedErrors = path.join(root, 'planted-errors.json');
  await writeFile(plantedErrors, `${JSON.stringify({ options: resolved, planted: market.planted }, null, 2)}\n`, 'utf8');
  return { dir: root, files, plantedErrors, planted: market.planted };
}
