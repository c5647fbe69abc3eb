import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isIsoDate } from '../../lib/calendar/dates';
import { isNyseTradingDay, missingNyseTradingDays, nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import {
  CSV_HEADER,
  PLANTED_ERROR_KINDS,
  generateSyntheticMarket,
  resolveSyntheticMarketOptions,
  syntheticSymbol,
  writeSyntheticMarket,
  type PlantedError,
  type SyntheticMarket,
  type SyntheticMarketOptions,
} from '../../lib/market-data/synthetic';

const NUMBER = /^-?\d+(\.\d+)?$/;
const CLEAN_ROW = /^\d{4}-\d{2}-\d{2},(\d+\.\d{2},){4}\d+,SYN\d{2,3}$/;

interface Row {
  date: string;
  fields: string[];
  line: string;
}

interface Ohlcv {
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}

function rowsOf(csv: string): Row[] {
  return csv
    .split('\n')
    .slice(1, -1) // header, and the empty string after the final newline
    .map((line) => {
      const fields = line.split(',');
      return { date: fields[0], fields, line };
    });
}

function numbers(row: Row): Ohlcv {
  const [open, high, low, close, volume] = row.fields.slice(1, 6).map(Number);
  return { open, high, low, close, volume };
}

function isValidBar(b: Ohlcv): boolean {
  return (
    b.open > 0 &&
    b.close > 0 &&
    b.low > 0 &&
    b.high >= Math.max(b.open, b.close) &&
    b.low <= Math.min(b.open, b.close) &&
    Number.isInteger(b.volume) &&
    b.volume >= 0
  );
}

function fileOf(market: SyntheticMarket, symbol: string): Row[] {
  const file = market.files.find((f) => f.symbol === symbol);
  if (!file) throw new Error(`no file for ${symbol}`);
  return rowsOf(file.csv);
}

/** Asserts that the CSV really contains the error `planted` describes, where it says. */
function expectPlanted(market: SyntheticMarket, clean: SyntheticMarket, p: PlantedError): void {
  const rows = fileOf(market, p.symbol);
  const at = rows.filter((r) => r.date === p.date);
  const index = rows.findIndex((r) => r.date === p.date);
  const context = `${p.kind} ${p.symbol} ${p.date}`;
  switch (p.kind) {
    case 'non_positive_price': {
      expect(at).toHaveLength(1);
      const b = numbers(at[0]);
      expect(Math.min(b.open, b.high, b.low, b.close)).toBeLessThanOrEqual(0);
      break;
    }
    case 'high_below_open_close': {
      expect(at).toHaveLength(1);
      const b = numbers(at[0]);
      expect(b.high).toBeLessThan(Math.max(b.open, b.close));
      break;
    }
    case 'negative_volume':
      expect(at).toHaveLength(1);
      expect(numbers(at[0]).volume).toBeLessThan(0);
      break;
    case 'empty_field':
      expect(at).toHaveLength(1);
      expect(at[0].fields).toHaveLength(7);
      expect(at[0].fields.slice(1, 6)).toContain('');
      break;
    case 'non_numeric_field':
      expect(at).toHaveLength(1);
      expect(at[0].fields).toHaveLength(7);
      expect(at[0].fields.slice(1, 6).some((f) => f !== '' && !NUMBER.test(f))).toBe(true);
      break;
    case 'exact_duplicate':
      expect(at).toHaveLength(2);
      expect(at[0].line).toBe(at[1].line);
      break;
    case 'conflicting_duplicate':
      expect(at).toHaveLength(2);
      expect(at[0].line).not.toBe(at[1].line);
      expect(at.every((r) => isValidBar(numbers(r)))).toBe(true);
      break;
    case 'stale_closes': {
      const run = rows.slice(index, index + 8);
      expect(new Set(run.map((r) => r.fields[4])).size).toBe(1);
      // Consecutive trading days, so it reads as a frozen feed rather than a gap.
      expect(run.map((r) => r.date)).toEqual(nyseTradingDaysBetween(p.date, run[7].date));
      break;
    }
    case 'unadjusted_split': {
      const before = numbers(rows[index - 1]);
      const after = numbers(rows[index]);
      expect(after.close / before.close).toBeGreaterThan(0.4);
      expect(after.close / before.close).toBeLessThan(0.6);
      expect(after.open / before.close).toBeGreaterThan(0.4);
      expect(after.open / before.close).toBeLessThan(0.6);
      // Against the same series generated without errors: halved prices (to the cent), doubled volume.
      const cleanRows = fileOf(clean, p.symbol);
      const cleanIndex = cleanRows.findIndex((r) => r.date === p.date);
      expect(rows[index - 1].line).toBe(cleanRows[cleanIndex - 1].line);
      for (let k = 0; k < 5; k++) {
        const dirtyBar = numbers(rows[index + k]);
        const cleanBar = numbers(cleanRows[cleanIndex + k]);
        expect(rows[index + k].date).toBe(cleanRows[cleanIndex + k].date);
        expect(dirtyBar.volume).toBe(cleanBar.volume * 2);
        expect(Math.abs(dirtyBar.close - cleanBar.close / 2)).toBeLessThanOrEqual(0.011);
        expect(Math.abs(dirtyBar.open - cleanBar.open / 2)).toBeLessThanOrEqual(0.011);
      }
      break;
    }
    case 'gap': {
      expect(at).toHaveLength(0);
      const dates = [...new Set(rows.map((r) => r.date))].sort();
      expect(missingNyseTradingDays(dates)).toContainEqual(expect.objectContaining({ from: p.date, days: 6 }));
      break;
    }
    case 'out_of_order':
      expect(at).toHaveLength(1);
      expect(index).toBeGreaterThan(0);
      expect(rows[index - 1].date > p.date).toBe(true);
      break;
    default: {
      const never: never = p.kind;
      throw new Error(`unhandled kind ${String(never)} (${context})`);
    }
  }
}

function plantedRowKeys(market: SyntheticMarket): Set<string> {
  return new Set(market.planted.map((p) => `${p.symbol} ${p.date}`));
}

describe('generateSyntheticMarket', () => {
  const market = generateSyntheticMarket();

  it('resolves the documented defaults', () => {
    expect(resolveSyntheticMarketOptions()).toEqual({
      symbols: 8,
      from: '2016-01-04',
      to: '2020-12-31',
      seed: 42,
      plantErrors: true,
      trendDrift: 0.0008,
      gapReversal: 0,
      overnightReversal: 0,
    });
  });

  it('is byte-identical for the same options and differs for another seed', () => {
    const again = generateSyntheticMarket({ seed: 42 });
    expect(again).toEqual(market);
    expect(again.files.map((f) => f.csv).join('')).toBe(market.files.map((f) => f.csv).join(''));

    const other = generateSyntheticMarket({ seed: 43 });
    for (let i = 0; i < market.files.length; i++) expect(other.files[i].csv).not.toBe(market.files[i].csv);
  });

  it('keeps series independent of error planting and of the symbol count', () => {
    const clean8 = generateSyntheticMarket({ plantErrors: false });
    const clean9 = generateSyntheticMarket({ plantErrors: false, symbols: 9 });
    const dirty = new Set(market.planted.map((p) => p.symbol));
    for (let i = 0; i < 8; i++) {
      expect(clean9.files[i].csv).toBe(clean8.files[i].csv);
      if (!dirty.has(market.files[i].symbol)) expect(market.files[i].csv).toBe(clean8.files[i].csv);
    }
  });

  it('names files and symbols like the real data', () => {
    expect(market.files.map((f) => f.symbol)).toEqual(['SYN01', 'SYN02', 'SYN03', 'SYN04', 'SYN05', 'SYN06', 'SYN07', 'SYN08']);
    expect(market.files.every((f) => f.fileName === `${f.symbol}.csv`)).toBe(true);
    expect(syntheticSymbol(0, 12)).toBe('SYN01');
    expect(syntheticSymbol(99, 150)).toBe('SYN100');
    expect(syntheticSymbol(4, 150)).toBe('SYN005');
  });

  it('writes the exact CSV layout: header, 2-decimal prices, integer volume, LF endings', () => {
    for (const file of market.files) {
      expect(file.csv.startsWith(`${CSV_HEADER}\n`)).toBe(true);
      expect(file.csv.endsWith('\n')).toBe(true);
      expect(file.csv).not.toContain('\r');
      expect(file.csv).not.toContain('\n\n');
    }
    const clean = generateSyntheticMarket({ plantErrors: false });
    for (const file of clean.files) {
      const bad = rowsOf(file.csv).filter((r) => !CLEAN_ROW.test(r.line) || r.fields[6] !== file.symbol);
      expect(bad).toEqual([]);
    }
  });

  it('without errors: one valid bar per NYSE trading day, ascending, in every file', () => {
    const options: SyntheticMarketOptions = { plantErrors: false, symbols: 5, from: '2011-06-01', to: '2013-12-31', seed: 7 };
    const clean = generateSyntheticMarket(options);
    const expected = nyseTradingDaysBetween('2011-06-01', '2013-12-31');
    expect(clean.planted).toEqual([]);
    for (const file of clean.files) {
      const rows = rowsOf(file.csv);
      expect(rows.map((r) => r.date)).toEqual(expected);
      expect(rows.filter((r) => !isValidBar(numbers(r))).map((r) => r.line)).toEqual([]);
    }
  });

  it('with errors: every row outside the planted ones is a valid bar on a trading day', () => {
    const planted = plantedRowKeys(market);
    const offCalendar: string[] = [];
    const invalid: string[] = [];
    for (const file of market.files) {
      for (const row of rowsOf(file.csv)) {
        if (!isIsoDate(row.date) || !isNyseTradingDay(row.date)) offCalendar.push(row.line);
        if (planted.has(`${file.symbol} ${row.date}`)) continue;
        if (!isValidBar(numbers(row)) || !CLEAN_ROW.test(row.line)) invalid.push(`${file.fileName}: ${row.line}`);
      }
    }
    expect(offCalendar).toEqual([]);
    expect(invalid).toEqual([]);
  });

  it('leaves about half the files completely clean', () => {
    const dirty = new Set(market.planted.map((p) => p.symbol));
    expect(dirty.size).toBe(4);
    const expected = nyseTradingDaysBetween('2016-01-04', '2020-12-31');
    for (const file of market.files.filter((f) => !dirty.has(f.symbol))) {
      expect(rowsOf(file.csv).map((r) => r.date)).toEqual(expected);
    }
  });

  it('plants exactly one error of each kind, where `planted` says', () => {
    expect([...market.planted.map((p) => p.kind)].sort()).toEqual([...PLANTED_ERROR_KINDS].sort());
    const clean = generateSyntheticMarket({ plantErrors: false });
    for (const p of market.planted) {
      expect(p.description.length).toBeGreaterThan(0);
      expectPlanted(market, clean, p);
    }
  });

  it('has exactly one out-of-order file and one gap', () => {
    const descending = market.files.filter((f) => rowsOf(f.csv).some((r, i, all) => i > 0 && r.date < all[i - 1].date));
    expect(descending.map((f) => f.symbol)).toEqual(market.planted.filter((p) => p.kind === 'out_of_order').map((p) => p.symbol));
    const gaps = market.files.flatMap((f) =>
      missingNyseTradingDays([...new Set(rowsOf(f.csv).map((r) => r.date))].sort()).map((g) => ({ symbol: f.symbol, ...g })),
    );
    const gap = market.planted.find((p) => p.kind === 'gap');
    expect(gaps).toEqual([expect.objectContaining({ symbol: gap?.symbol, from: gap?.date, days: 6 })]);
  });

  it.each<SyntheticMarketOptions>([
    { seed: 1 },
    { seed: 2024, symbols: 3 },
    { seed: 99, symbols: 1, from: '2019-01-01', to: '2019-12-31' },
    { seed: -5, symbols: 20, from: '2008-01-01', to: '2009-12-31' },
  ])('plants detectable errors for %j', (options) => {
    const m = generateSyntheticMarket(options);
    expect(m.planted).toHaveLength(PLANTED_ERROR_KINDS.length);
    const clean = generateSyntheticMarket({ ...options, plantErrors: false });
    for (const p of m.planted) expectPlanted(m, clean, p);
  });

  it('rejects invalid options with a readable message', () => {
    expect(() => generateSyntheticMarket({ from: '2019-02-29' })).toThrow(/from: expected a real date/);
    expect(() => generateSyntheticMarket({ from: '2020-01-01', to: '2019-01-01' })).toThrow(/from must not be after to/);
    expect(() => generateSyntheticMarket({ symbols: 0 })).toThrow(/symbols/);
    expect(() => generateSyntheticMarket({ seed: 1.5 })).toThrow(/seed/);
    expect(() => generateSyntheticMarket({ symbol: 3 } as SyntheticMarketOptions)).toThrow(/symbol/);
    expect(() => generateSyntheticMarket({ symbols: 1, from: '2020-01-01', to: '2020-03-31' })).toThrow(/plantErrors: false/);
    expect(() => generateSyntheticMarket({ from: '2020-01-04', to: '2020-01-05', plantErrors: false })).toThrow(/No NYSE trading days/);
  });
});

describe('writeSyntheticMarket', () => {
  let tmp = '';
  beforeEach(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'synthetic-market-'));
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('creates the directory and writes the CSVs plus planted-errors.json', async () => {
    const options = { symbols: 3, from: '2018-01-01', to: '2019-06-30', seed: 5 };
    const dir = path.join(tmp, 'nested', 'out');
    const written = await writeSyntheticMarket(dir, options);
    const market = generateSyntheticMarket(options);

    expect(written.dir).toBe(path.resolve(dir));
    expect((await readdir(dir)).sort()).toEqual(['SYN01.csv', 'SYN02.csv', 'SYN03.csv', 'planted-errors.json']);
    expect(written.files).toEqual(market.files.map((f) => path.join(path.resolve(dir), f.fileName)));
    for (const [i, file] of written.files.entries()) expect(await readFile(file, 'utf8')).toBe(market.files[i].csv);

    const json: unknown = JSON.parse(await readFile(written.plantedErrors, 'utf8'));
    expect(json).toEqual({ options: { ...options, plantErrors: true, trendDrift: 0.0008, gapReversal: 0, overnightReversal: 0 }, planted: market.planted });
    expect(written.planted).toEqual(market.planted);
  });
});
