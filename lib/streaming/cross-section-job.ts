/**
 * A cross-section job as it crosses to the thread and back: dates as epoch days and prices as
 * typed arrays, whose buffers are moved rather than copied (strings would be cloned one by one).
 */
import { fromEpochDay, toEpochDay } from '../calendar/dates';
import type { SymbolBars } from '../features/compute-features';
import type { BarSeries } from '../market-data/bar';
import { memoize } from '../memo';
import type { CrossSectionJob, CrossSectionRow } from './online-updater';

/** A bar series with its dates as epoch days. */
interface WireSeries extends Omit<BarSeries, 'dates'> {
  days: Int32Array;
}

export interface WireJob extends Omit<CrossSectionJob, 'universe' | 'universeDays' | 'volatilityIndex'> {
  universe: WireSeries[];
  volatilityIndex?: WireSeries;
}

export interface WireRows {
  symbols: string[];
  dates: string[];
  /** Row-major, `width` values per row. */
  values: Float64Array;
  width: number;
}

/** The series' epoch days, as views of one array for all of them (one allocation, one buffer to move); `days` when the job has them already. */
function toWire(series: readonly SymbolBars[], given?: readonly Int32Array[]): WireSeries[] {
  if (given) return series.map((s, k) => ({ symbol: s.symbol, days: given[k], open: s.open, high: s.high, low: s.low, close: s.close, volume: s.volume }));
  const day = memoize(toEpochDay); // a job names the same few hundred dates thousands of times
  const days = new Int32Array(series.reduce((n, s) => n + s.dates.length, 0));
  let at = 0;
  return series.map((s) => {
    const start = at;
    for (const d of s.dates) days[at++] = day(d);
    return { symbol: s.symbol, days: days.subarray(start, at), open: s.open, high: s.high, low: s.low, close: s.close, volume: s.volume };
  });
}

function fromWire(series: readonly WireSeries[]): SymbolBars[] {
  const date = memoize(fromEpochDay);
  return series.map((w) => {
    const dates = new Array<string>(w.days.length);
    for (let i = 0; i < dates.length; i++) dates[i] = date(w.days[i]);
    return { symbol: w.symbol, dates, open: w.open, high: w.high, low: w.low, close: w.close, volume: w.volume };
  });
}

/** The job and the buffers to transfer with it (the job's arrays are the updater's copies, free to move). */
export function encodeJob(job: CrossSectionJob): { wire: WireJob; transfer: ArrayBuffer[] } {
  const universe = toWire(job.universe, job.universeDays);
  const volatilityIndex = job.volatilityIndex ? toWire([job.volatilityIndex])[0] : undefined;
  const transfer = [...universe, ...(volatilityIndex ? [volatilityIndex] : [])].flatMap((w) => [w.days, w.open, w.high, w.low, w.close, w.volume].map((a) => a.buffer as ArrayBuffer));
  return { wire: { set: job.set, fromDate: job.fromDate, wanted: job.wanted, universe, rowsFrom: job.rowsFrom, volatilityIndex }, transfer: [...new Set(transfer)] };
}

export function decodeJob(wire: WireJob): CrossSectionJob {
  return { set: wire.set, fromDate: wire.fromDate, wanted: wire.wanted, universe: fromWire(wire.universe), rowsFrom: wire.rowsFrom, volatilityIndex: wire.volatilityIndex ? fromWire([wire.volatilityIndex])[0] : undefined };
}

export function encodeRows(rows: readonly CrossSectionRow[]): WireRows {
  const width = rows[0]?.values.length ?? 0;
  const values = new Float64Array(rows.length * width);
  rows.forEach((r, i) => values.set(r.values, i * width));
  return { symbols: rows.map((r) => r.symbol), dates: rows.map((r) => r.date), values, width };
}

export function decodeRows(wire: WireRows): CrossSectionRow[] {
  // Views of the one transferred buffer, which nothing else holds: no copy per row.
  return wire.symbols.map((symbol, i) => ({ symbol, date: wire.dates[i], values: wire.values.subarray(i * wire.width, (i + 1) * wire.width) }));
}
