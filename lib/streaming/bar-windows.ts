/**
 * The newest bars of every symbol, kept in memory by the stream consumer: the input of the online
 * features (which read trailing bars) and what tells a new bar from a late, corrected or repeated one
 * without a query per bar. Filled from the store at start and on demand, then kept in step with
 * every batch the consumer writes (and reloaded when another consumer wrote, see BarRevisions).
 */
import { addDays, toEpochDay } from '../calendar/dates';
import { barAt, indexOfDate, type Bar } from '../market-data/bar';
import { memoize } from '../memo';
import type { RowSigning } from '../registry/row-signature';
import { barChecking, barVerifierOf } from '../store/bar-signature';
import { readBarSeries } from '../store/bars';
import type { Database } from '../store/database';

export type BarChange = 'new' | 'revised' | 'duplicate';

export interface ClassifiedBar {
  bar: Bar;
  /** new: no stored bar for (symbol, date); revised: stored with other values; duplicate: stored as is. */
  change: BarChange;
  /** Dated before the symbol's newest stored bar. */
  late: boolean;
  /** Inside the symbol's window once written, so its online features depend on it. */
  inWindow: boolean;
}

interface SymbolWindow {
  bars: Bar[];
  /** Older bars may exist in the store (the window was cut), so an older date needs a lookup. */
  mayHaveOlder: boolean;
  /** The same bars as columns (made on first use, kept in step with appends and cuts, dropped on any other change). */
  columns?: WindowColumns;
}

/**
 * A window's bars as contiguous columns, the bars at [start, end): what the feature code reads,
 * copied with TypedArray.set and views instead of visiting hundreds of thousands of bar objects
 * spread over the heap (the cross-section job of 380 windows took 10-25 ms that way). Appends write
 * at the end and cuts move `start`; the columns are compacted when the end reaches their capacity.
 */
export class WindowColumns {
  dates: string[] = [];
  days: Int32Array;
  open: Float64Array;
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
  volume: Float64Array;
  start = 0;
  end = 0;
  private capacity: number;

  constructor(bars: readonly Bar[], capacity: number) {
    this.capacity = capacity;
    this.days = new Int32Array(capacity);
    this.open = new Float64Array(capacity);
    this.high = new Float64Array(capacity);
    this.low = new Float64Array(capacity);
    this.close = new Float64Array(capacity);
    this.volume = new Float64Array(capacity);
    for (const b of bars) this.push(b);
  }

  get length(): number {
    return this.end - this.start;
  }

  push(bar: Bar): void {
    if (this.end === this.capacity) this.compact();
    const k = this.end++;
    this.dates[k] = bar.date;
    this.days[k] = epochDay(bar.date);
    this.open[k] = bar.open;
    this.high[k] = bar.high;
    this.low[k] = bar.low;
    this.close[k] = bar.close;
    this.volume[k] = bar.volume;
  }

  /** The bar at window index i was replaced by one of the same date. */
  replace(i: number, bar: Bar): void {
    const k = this.start + i;
    this.open[k] = bar.open;
    this.high[k] = bar.high;
    this.low[k] = bar.low;
    this.close[k] = bar.close;
    this.volume[k] = bar.volume;
  }

  /** The window's first n bars were cut. */
  cut(n: number): void {
    this.start += n;
  }

  private compact(): void {
    const { start, end } = this;
    for (const a of [this.days, this.open, this.high, this.low, this.close, this.volume]) a.copyWithin(0, start, end);
    this.dates.copyWithin(0, start, end);
    this.dates.length = end - start;
    this.end = end - start;
    this.start = 0;
    // A window longer than its columns' room (never cut, or cut late) gets more room.
    if (this.end === this.capacity) this.grow();
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    const larger = <T extends Int32Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(capacity);
      b.set(a);
      return b;
    };
    this.days = larger(this.days);
    this.open = larger(this.open);
    this.high = larger(this.high);
    this.low = larger(this.low);
    this.close = larger(this.close);
    this.volume = larger(this.volume);
    this.capacity = capacity;
  }
}

/** toEpochDay per date, remembered (windows share their dates). */
const epochDay = memoize(toEpochDay, 100_000);

const LOAD_CONCURRENCY = 8;


function sameValues(a: Bar, b: Bar): boolean {
  return a.open === b.open && a.high === b.high && a.low === b.low && a.close === b.close && a.volume === b.volume;
}

export class BarWindows {
  private readonly windows = new Map<string, SymbolWindow>();
  /** Symbols the store held at the last full load; others start empty without a query. */
  private stored = new Set<string>();
  /** How many windows hold a bar on each date (completeness of a date's cross-section). */
  private readonly perDate = new Map<string, number>();
  private readonly count = (date: string, delta: number): void => {
    const n = (this.perDate.get(date) ?? 0) + delta;
    if (n > 0) this.perDate.set(date, n);
    else this.perDate.delete(date);
  };

  private setWindow(symbol: string, w: SymbolWindow): void {
    for (const b of this.windows.get(symbol)?.bars ?? []) this.count(b.date, -1);
    for (const b of w.bars) this.count(b.date, 1);
    this.windows.set(symbol, w);
  }

  /**
   * `size` bars per symbol: the feature look-back plus enough history for recursive averages to
   * settle. `signing`: the consumer's key, which signs the vectors computed from the windows; the
   * bars loaded are checked with it (else the store handle's: barChecking), and a bar no held key
   * vouches for fails the load (UnverifiedBarsError) rather than enter a window.
   */
  constructor(
    readonly size: number,
    private readonly signing?: RowSigning,
  ) {}

  /** Loads every symbol's window from one range query (bars from ~1.5 × size calendar days before the newest). */
  async loadAll(store: Database): Promise<void> {
    const symbols = await store.db.selectFrom('bars').select('symbol').distinct().execute();
    this.stored = new Set(symbols.map((s) => s.symbol));
    const newest = await store.db.selectFrom('bars').select((eb) => eb.fn.max('date').as('d')).executeTakeFirst();
    this.windows.clear();
    this.perDate.clear();
    if (!newest?.d) return;
    const from = addDays(String(newest.d), -Math.ceil(this.size * 1.5) - 60);
    for (const s of await readBarSeries(store, { from }, { verify: barChecking(store, this.signing) })) {
      const n = s.dates.length;
      const first = Math.max(0, n - this.size);
      const bars: Bar[] = [];
      for (let i = first; i < n; i++) bars.push(barAt(s, i));
      this.setWindow(s.symbol, { bars, mayHaveOlder: true });
    }
  }

  /** Loads the windows of symbols not in memory yet (symbols the store never held start empty). */
  async ensure(store: Database, symbols: Iterable<string>): Promise<void> {
    const missing: string[] = [];
    for (const s of new Set(symbols)) {
      if (this.windows.has(s)) continue;
      if (this.stored.has(s)) missing.push(s);
      else this.windows.set(s, { bars: [], mayHaveOlder: false });
    }
    await this.reload(store, missing);
  }

  /** Reads the newest `size` bars of each symbol from the store again. */
  async reload(store: Database, symbols: readonly string[]): Promise<void> {
    const verifier = barVerifierOf(barChecking(store, this.signing));
    for (let i = 0; i < symbols.length; i += LOAD_CONCURRENCY) {
      const loaded = await Promise.all(
        symbols.slice(i, i + LOAD_CONCURRENCY).map(async (symbol) => {
          const rows = await store.db.selectFrom('bars').select(['symbol', 'date', 'open', 'high', 'low', 'close', 'volume', 'signature', 'signature_key_id']).where('symbol', '=', symbol).orderBy('date', 'desc').limit(this.size).execute();
          const bars = rows.reverse().map((r) => {
            const bar = { symbol: r.symbol, date: r.date, open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close), volume: Number(r.volume) };
            verifier?.check({ ...bar, signature: r.signature, signature_key_id: r.signature_key_id });
            return bar;
          });
          return { symbol, bars };
        }),
      );
      // Nothing of a load with a refused bar enters the windows.
      await verifier?.done(store.db);
      for (const { symbol, bars } of loaded) {
        this.setWindow(symbol, { bars, mayHaveOlder: bars.length === this.size });
        this.stored.add(symbol);
      }
    }
  }

  symbols(): string[] {
    return [...this.windows.keys()];
  }

  /** The symbol's window, ascending by date (empty when unknown). */
  bars(symbol: string): readonly Bar[] {
    return this.windows.get(symbol)?.bars ?? [];
  }

  /** The symbol's window as columns (the same bars; read only, valid until the window next changes). */
  columns(symbol: string): WindowColumns | undefined {
    const w = this.windows.get(symbol);
    if (!w) return undefined;
    // Room for a window's size plus a quarter of appends before a compaction.
    w.columns ??= new WindowColumns(w.bars, Math.max(w.bars.length, this.size) + Math.ceil(this.size / 4));
    return w.columns;
  }

  newestDate(symbol: string): string | undefined {
    return this.windows.get(symbol)?.bars.at(-1)?.date;
  }

  /** How many symbols have a bar dated `date` in their window. */
  symbolsOn(date: string): number {
    return this.perDate.get(date) ?? 0;
  }

  /**
   * The symbol's stored bars dated `from`..`to` (ascending), read from its window; undefined when
   * the window was cut after `from` and the store may hold older bars in that range.
   */
  between(symbol: string, from: string, to: string): Bar[] | undefined {
    const w = this.windows.get(symbol);
    if (!w) return undefined;
    if (w.mayHaveOlder && !(w.bars.length > 0 && w.bars[0].date <= from)) return undefined;
    const start = indexOfDate(w.bars, from).index;
    const out: Bar[] = [];
    for (let i = start; i < w.bars.length && w.bars[i].date <= to; i++) out.push(w.bars[i]);
    return out;
  }

  /** Whether the symbol has a bar dated `date` in its window. */
  has(symbol: string, date: string): boolean {
    return indexOfDate(this.bars(symbol), date).found;
  }

  /**
   * Compares bars (one per symbol and date; their symbols loaded with ensure) with what is stored.
   * Bars older than a cut window are looked up in the store, in one query.
   */
  async classify(store: Database, bars: readonly Bar[]): Promise<ClassifiedBar[]> {
    const out: ClassifiedBar[] = new Array<ClassifiedBar>(bars.length);
    const lookups: number[] = [];
    bars.forEach((bar, i) => {
      const w = this.windows.get(bar.symbol) ?? { bars: [], mayHaveOlder: false };
      const newest = w.bars.at(-1)?.date;
      const late = newest !== undefined && bar.date < newest;
      const { index, found } = indexOfDate(w.bars, bar.date);
      if (found) out[i] = { bar, change: sameValues(w.bars[index], bar) ? 'duplicate' : 'revised', late, inWindow: true };
      else if (index === 0 && w.mayHaveOlder && w.bars.length > 0) lookups.push(i);
      else out[i] = { bar, change: 'new', late, inWindow: true };
    });
    if (lookups.length > 0) {
      const symbols = [...new Set(lookups.map((i) => bars[i].symbol))];
      const dates = [...new Set(lookups.map((i) => bars[i].date))];
      const rows = await store.db.selectFrom('bars').select(['symbol', 'date', 'open', 'high', 'low', 'close', 'volume']).where('symbol', 'in', symbols).where('date', 'in', dates).execute();
      const stored = new Map(rows.map((r) => [`${r.symbol}\u0000${r.date}`, { ...r, open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close), volume: Number(r.volume) }]));
      for (const i of lookups) {
        const bar = bars[i];
        const existing = stored.get(`${bar.symbol}\u0000${bar.date}`);
        out[i] = { bar, change: existing === undefined ? 'new' : sameValues(existing, bar) ? 'duplicate' : 'revised', late: true, inWindow: false };
      }
    }
    return out;
  }

  /**
   * Applies bars just written to the store; bars older than a cut window stay out of it. Returns
   * the symbols whose window changed.
   */
  commit(bars: readonly Bar[]): Set<string> {
    const changed = new Set<string>();
    const long = new Set<SymbolWindow>();
    for (const bar of bars) {
      let w = this.windows.get(bar.symbol);
      if (!w) {
        w = { bars: [], mayHaveOlder: false };
        this.windows.set(bar.symbol, w);
      }
      this.stored.add(bar.symbol);
      if (applyBar(w, bar, this.size, this.count, long)) changed.add(bar.symbol);
    }
    for (const w of long) cut(w, this.size, this.count);
    return changed;
  }

  /** The symbol's window as it will be once `bars` (all of this symbol) are committed; the window itself is unchanged. */
  preview(symbol: string, bars: readonly Bar[]): Bar[] {
    const current = this.windows.get(symbol);
    const w: SymbolWindow = { bars: [...(current?.bars ?? [])], mayHaveOlder: current?.mayHaveOlder ?? false };
    const long = new Set<SymbolWindow>();
    for (const bar of bars) applyBar(w, bar, this.size, undefined, long);
    if (long.size > 0) cut(w, this.size);
    return w.bars;
  }
}

/**
 * Puts a bar into a window (appended, inserted or replacing its date) and cuts the window to
 * `size`; `count` hears of every date that enters (+1) or leaves (-1) the window.
 *
 * With `long`, a window that grew past `size` by appending is added to it instead of being cut, so
 * that a run of appends is cut once (cut()) rather than shifting the window once per bar. The
 * result is the same: an append never depends on what the cut removes, and before anything else is
 * applied to the window it is cut.
 */
function applyBar(w: SymbolWindow, bar: Bar, size: number, count: (date: string, delta: number) => void = () => {}, long?: Set<SymbolWindow>): boolean {
  const last = w.bars.at(-1);
  if (last === undefined || last.date < bar.date) {
    w.bars.push(bar);
    w.columns?.push(bar);
    count(bar.date, 1);
    if (long && w.bars.length > size) {
      long.add(w);
      return true;
    }
  } else {
    if (long?.has(w)) {
      cut(w, size, count);
      long.delete(w);
    }
    const { index, found } = indexOfDate(w.bars, bar.date);
    if (found) {
      w.bars[index] = bar;
      w.columns?.replace(index, bar);
    } else if (index === 0 && w.mayHaveOlder) return false;
    else {
      w.bars.splice(index, 0, bar);
      w.columns = undefined; // made again on next use
      count(bar.date, 1);
    }
  }
  cut(w, size, count);
  return true;
}

/** Cuts a window to its newest `size` bars. */
function cut(w: SymbolWindow, size: number, count: (date: string, delta: number) => void = () => {}): void {
  if (w.bars.length <= size) return;
  const n = w.bars.length - size;
  for (const old of w.bars.splice(0, n)) count(old.date, -1);
  w.columns?.cut(n);
  w.mayHaveOlder = true;
}
