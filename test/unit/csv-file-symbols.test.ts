import { readBarCsv, readPriceTable, symbolFromFileName, UnreadableSourceError } from '../../lib/market-data/csv-reader';
import { stooqTicker } from '../../lib/market-data/providers/stooq';
import { evaluateQualityGate, type QualityReport } from '../../lib/quality/report';

const STOOQ = 'Date,Open,High,Low,Close,Volume\n2018-01-02,175.85,177.8,175.26,177.7,2432814\n2018-01-03,178,181.89,177.7,181.04,2561213\n';

describe('symbolFromFileName: the symbol a file name gives, agreeing with the Stooq provider', () => {
  it.each([
    ['/x/aapl.csv', 'AAPL'],
    ['/x/aapl.us.csv', 'AAPL'],
    ['/x/AAPL.US.CSV', 'AAPL'],
    ['/x/BRK.B.csv', 'BRK.B'],
    ['/x/BF.B.csv', 'BF.B'],
    ['/x/brk.d.csv', 'BRK.D'],
    ['/x/aapl_d.csv', 'AAPL'],
    ['/x/msft_daily.csv', 'MSFT'],
    ['/x/aapl_us_d.csv', 'AAPL'],
    ['/x/aapl.us_d.csv', 'AAPL'],
    ['/x/msft.us.txt', 'MSFT'],
    ['/x/brk.b.us.csv', 'BRK.B'],
    // Stooq's own spelling of a share class and of a market other than the US.
    ['/x/brk-b.us.csv', 'BRK.B'],
    ['/x/BRK-B.US.CSV', 'BRK.B'],
    ['/x/brk-b_us_d.csv', 'BRK.B'],
    ['/x/sap.de.csv', 'SAP.DE'],
    ['/x/sap_de_d.csv', 'SAP.DE'],
    ['/x/7203.jp.txt', '7203.JP'],
    ['/x/aaa.uk.csv', 'AAA.UK'],
    // No market (Yahoo's spelling): one security, one stored symbol, the class dotted as everywhere.
    ['/x/bf-b.csv', 'BF.B'],
    ['/x/BRK-B.csv', 'BRK.B'],
    ['/x/^spx_d.csv', '^SPX'],
    ['/x/es=f.csv', 'ES=F'],
    ['C:/data/spy', 'SPY'],
  ])('%s gives %s', (source, symbol) => {
    expect(symbolFromFileName(source)).toEqual({ symbol });
    expect(readBarCsv(STOOQ, { source }).bars.map((b) => b.symbol)).toEqual([symbol, symbol]);
  });

  it.each(['BRK.B', 'BF.A', 'SAP.DE', 'AAPL', 'BRK.B.US', 'brk-b.us', '7203.JP'])('a file named after the Stooq ticker of %s gets the symbol the provider stores', (symbol) => {
    const { ticker, stored } = stooqTicker(symbol, 'us');
    expect(symbolFromFileName(`/downloads/${ticker}.csv`)).toEqual({ symbol: stored });
    expect(symbolFromFileName(`/downloads/${ticker.replace('.', '_')}_d.csv`)).toEqual({ symbol: stored });
  });

  it('stores the provider ticker brk-b.us as BRK.B, as the file brk-b.us.csv is', () => {
    expect(stooqTicker('brk-b.us', 'us')).toEqual({ ticker: 'brk-b.us', stored: 'BRK.B' });
    // Only the market bare tickers are asked in is dropped: the same letters elsewhere are another security.
    expect(stooqTicker('SAP.DE', 'us')).toEqual({ ticker: 'sap.de', stored: 'SAP.DE' });
    expect(stooqTicker('aaa.uk', 'us')).toEqual({ ticker: 'aaa.uk', stored: 'AAA.UK' });
    expect(stooqTicker('SAP.DE', 'de')).toEqual({ ticker: 'sap.de', stored: 'SAP' });
    expect(stooqTicker('AAPL.US', 'de')).toEqual({ ticker: 'aapl.us', stored: 'AAPL.US' });
    expect(stooqTicker('BF-B', 'us')).toEqual({ ticker: 'bf-b.us', stored: 'BF.B' });
  });

  it.each(['/x/AAPL_2017.csv', '/x/aapl-copy.csv', '/x/aapl.csv.txt', '/x/aapl_daily_2017.csv', '/x/HistoricalData_1700000000000.csv', '/x/aapl.copy.csv', '/x/aapl-v2.csv'])(
    'refuses %s, whose name does not look like a symbol, naming the file and what a valid name looks like',
    (source) => {
      const name = source.slice(3);
      expect(symbolFromFileName(source)).toMatchObject({ problem: 'shape' });
      const read = readBarCsv(STOOQ, { source });
      expect(read.bars).toEqual([]);
      expect(read.issues.map((i) => [i.rule, i.symbol])).toEqual([
        ['invalid_symbol', null],
        ['invalid_symbol', null],
      ]);
      let error: unknown;
      try {
        readPriceTable(STOOQ, { source });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UnreadableSourceError);
      const message = (error as Error).message;
      expect(message).toContain(`Cannot read ${source} as a price table`);
      expect(message).toContain(`its name "${name}" does not look like a symbol`);
      expect(message).toContain('aapl.us.csv');
      expect(message).toMatch(/rename the file, or add a symbol column/);
    },
  );

  it('still takes a symbol given with the file (the provider) over its name', () => {
    expect(readBarCsv(STOOQ, { source: 'https://stooq.example/q/d/l/?s=brk-b.us&i=d', symbol: 'BRK.B' }).bars.map((b) => b.symbol)).toEqual(['BRK.B', 'BRK.B']);
    expect(readBarCsv(STOOQ, { source: '/x/AAPL_2017.csv', symbol: 'AAPL' }).bars.map((b) => b.symbol)).toEqual(['AAPL', 'AAPL']);
  });
});

/** `count` rows from 2018-01-02 on weekdays-agnostic consecutive dates, with `extra` as the last field. */
function rows(count: number, extra: (i: number) => string, from = 0): string[] {
  return Array.from({ length: count }, (_, k) => {
    const d = new Date(Date.UTC(2018, 0, 2 + from + k)).toISOString().slice(0, 10);
    return `${d},10,12,9,11,500,${extra(k)}`;
  });
}

describe('a file whose symbol comes from its name never holds two series', () => {
  it.each(['Code', 'Security', 'Instrument', 'RIC', 'Sym', 'Stock', 'Symbol', 'Ticker'])('refuses a %s column the format would ignore, naming it and the mapping', (column) => {
    const text = [`Date,Open,High,Low,Close,Volume,${column}`, ...rows(20, () => 'AAA'), ...rows(30, () => 'BBB', 20)].join('\n');
    const read = readBarCsv(text, { source: '/x/export.csv' });
    expect(read.bars).toEqual([]);
    expect(read.issues.map((i) => [i.rule, i.message])).toEqual([
      ['bad_header', expect.stringContaining(`column 7 "${column}" names each row's symbol, but the stooq format takes the symbol from the file name`)],
    ]);
    expect(read.unreadable).toContain(`give a column mapping with symbol "${column}"`);
    expect(() => readPriceTable(text, { source: '/x/export.csv' })).toThrow(/Cannot read \/x\/export\.csv as a price table: column 7/);
  });

  it('reads such a column when mapped as the symbol', () => {
    const text = ['Date,Open,High,Low,Close,Volume,Code', ...rows(2, () => 'AAA'), ...rows(3, () => 'BBB', 2)].join('\n');
    const read = readBarCsv(text, { source: '/x/export.csv', mapping: { date: 'Date', open: 'Open', high: 'High', low: 'Low', close: 'Close', volume: 'Volume', symbol: 'Code' } });
    expect(read.bars.map((b) => b.symbol)).toEqual(['AAA', 'AAA', 'BBB', 'BBB', 'BBB']);
  });

  it('refuses an unnamed column whose values change like symbols, naming the file, the column and its values', () => {
    const text = ['Date,Open,High,Low,Close,Volume,Extra', ...rows(20, () => 'AAA'), ...rows(30, () => 'bbb', 20)].join('\n');
    const read = readBarCsv(text, { source: '/x/export.csv' });
    expect(read.bars).toEqual([]);
    expect(read.issues.map((i) => [i.rule, i.line])).toEqual([['bad_header', 22]]);
    expect(() => readPriceTable(text, { source: '/x/export.csv' })).toThrow(
      'Cannot read /x/export.csv as a price table: column 7 "Extra" changes between rows like a symbol column ("AAA" on 20 rows from line 2, "BBB" on 30 rows from line 22), but the symbol is taken from the file name (EXPORT)',
    );
    expect(read.unreadable).toMatch(/give a column mapping with symbol "Extra"; if it does not, remove the column/);
  });

  it.each([
    ['a constant column (a currency)', () => 'USD'],
    ['a numeric column (dividends)', (i: number) => (i % 10 === 0 ? '0.25' : '0')],
    ['a column mostly empty (notes)', (i: number) => (i === 3 || i === 9 ? 'split' : i === 20 || i === 30 ? 'div' : '')],
    ['free text', (i: number) => (i < 25 ? 'first half' : 'second half')],
    ['values each on one row (a row id)', (i: number) => `R${i}X`],
  ])('keeps reading a file with %s', (_name, extra) => {
    const text = ['Date,Open,High,Low,Close,Volume,Extra', ...rows(50, extra)].join('\n');
    const read = readBarCsv(text, { source: '/x/ibm.csv' });
    expect(read.unreadable).toBeUndefined();
    expect(read.bars).toHaveLength(50);
  });

  it('does not watch columns when the file names each row (sp500 Name) or the symbol is given', () => {
    const named = ['date,open,high,low,close,volume,Name,Exchange', ...rows(20, () => 'AAA,NYSE'), ...rows(30, () => 'AAA,NASDAQ', 20)].join('\n');
    expect(readBarCsv(named, { source: '/x/all.csv' }).bars).toHaveLength(50);
    const given = ['Date,Open,High,Low,Close,Volume,Exchange', ...rows(20, () => 'NYSE'), ...rows(30, () => 'NASDAQ', 20)].join('\n');
    expect(readBarCsv(given, { source: 'https://stooq.example/x', symbol: 'AAA' }).bars).toHaveLength(50);
  });
});

describe('the gate names rows out of the request scope when nothing usable is left', () => {
  const report = (rowsOutOfScope?: number): QualityReport => ({
    policy: { maxBadRowShare: 0.05, minHistoryBars: 1 } as QualityReport['policy'],
    rowsRead: 0,
    rowsAccepted: 0,
    rowsRejected: 0,
    flags: 0,
    badRowShare: 0,
    byRule: {},
    bySymbol: {},
    ...(rowsOutOfScope === undefined ? {} : { rowsOutOfScope }),
  });

  it('says how many rows were read but not asked for', () => {
    expect(evaluateQualityGate(report(100)).reasons).toEqual([
      "no usable rows (0 read, 0 rejected, 100 more out of the request's scope (symbols, from, to): check the symbols and dates asked for against the files')",
    ]);
    expect(evaluateQualityGate(report()).reasons).toEqual(['no usable rows (0 read, 0 rejected)']);
  });
});
