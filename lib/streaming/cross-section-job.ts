/**
 * A cross-section job as it crosses to the thread and back: dates as epoch days and prices as
 * typed arrays, whose buffers are moved rather than copied (strings would be cloned one by one).
 */
import { fromEpochDay, toEpochDay } from '../calendar/dates';
import type { SymbolBars } from '../features/compute-features';
import type { CrossSectionJob, CrossSectionRow } from './online-updater';

interface WireSeries {
  symbol: string;
  days: Int32Array;
  open: Float64Array;
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
  volume: Float64Array;
}

export interface WireJob extends Omit<CrossSectionJob, 'universe' | 'volatilityIndex'> {
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

function toWire(s: SymbolBars): WireSeries {
  return { symbol: s.symbol, days: Int32Array.from(s.dates, toEpochDay), open: s.open, high: s.high, low: s.low, close: s.close, volume: s.volume };
}

function fromWire(w: WireSeries): SymbolBars {
  return { symbol: w.symbol, dates: Array.from(w.days, fromEpochDay), open: w.open, high: w.high, low: w.low, close: w.close, volume: w.volume };
}

/** The job and the buffers to transfer with it (the job's arrays are the updater's copies, free to move). */
export function encodeJob(job: CrossSectionJob): { wire: WireJob; transfer: ArrayBuffer[] } {
  const universe = job.universe.map(toWire);
  const volatilityIndex = job.volatilityIndex ? toWire(job.volatilityIndex) : undefined;
  const transfer = [...universe, ...(volatilityIndex ? [volatilityIndex] : [])].flatMap((w) => [w.days, w.open, w.high, w.low, w.close, w.volume].map((a) => a.buffer as ArrayBuffer));
  return { wire: { set: job.set, fromDate: job.fromDate, wanted: job.wanted, universe, rowsFrom: job.rowsFrom, volatilityIndex }, transfer: [...new Set(transfer)] };
}

export function decodeJob(wire: WireJob): CrossSectionJob {
  return { set: wire.set, fromDate: wire.fromDate, wanted: wire.wanted, universe: wire.universe.map(fromWire), rowsFrom: wire.rowsFrom, volatilityIndex: wire.volatilityIndex ? fromWire(wire.volatilityIndex) : undefined };
}

export function encodeRows(rows: readonly CrossSectionRow[]): WireRows {
  const width = rows[0]?.values.length ?? 0;
  const values = new Float64Array(rows.length * width);
  rows.forEach((r, i) => values.set(r.values, i * width));
  return { symbols: rows.map((r) => r.symbol), dates: rows.map((r) => r.date), values, width };
}

export function decodeRows(wire: WireRows): CrossSectionRow[] {
  return wire.symbols.map((symbol, i) => ({ symbol, date: wire.dates[i], values: wire.values.slice(i * wire.width, (i + 1) * wire.width) }));
}
