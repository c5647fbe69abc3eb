import { detectFormat, KNOWN_FORMATS, normaliseHeader, resolveColumns } from '../../lib/market-data/csv-formats';
import { BadInputError } from '../../lib/errors';
import {
  cutFromStored,
  MAX_FIELD_CHARS,
  MAX_LINE_CHARS,
  parseDate,
  readBarCsv,
  readPriceTable,
  splitCsvLine,
  UnreadableSourceError,
  type CsvReadOptions,
  type CsvReadResult,
} from '../../lib/market-data/csv-reader';
import type { QualityIssue } from '../../lib/quality/rules-catalog';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';

const SRC = '/data/input.csv';

/** The issues reduced to what every assertion below looks at. */
function brief(result: CsvReadResult): Array<Pick<QualityIssue, 'rule' | 'line' | 'raw' | 'source'>> {
  return result.issues.map(({ rule, line, raw, source }) => ({ rule, line, raw, source }));
}

describe('splitCsvLine', () => {
  it('splits plain fields, keeping empty ones', () => {
    expect(splitCsvLine('a,b,,d,')).toEqual(['a', 'b', '', 'd', '']);
  });

  it('keeps commas inside double quotes and drops the quotes', () => {
    expect(splitCsvLine('2019-01-02,"Apple, Inc.",3')).toEqual(['2019-01-02', 'Apple, Inc.', '3']);
  });

  it('turns "" inside a quoted field into one quote', () => {
    expect(splitCsvLine('a,"say ""hi"", ok",c')).toEqual(['a', 'say "hi", ok', 'c']);
  });

  it('handles a quoted empty field and a quoted last field', () => {
    expect(splitCsvLine('"",x,"y,z"')).toEqual(['', 'x', 'y,z']);
  });

  it('returns one field for a line without commas', () => {
    expect(splitCsvLine('solo')).toEqual(['solo']);
    expect(splitCsvLine('')).toEqual(['']);
  });
});

describe('parseDate', () => {
  it.each([
    ['2019-01-02', '2019-01-02'],
    ['  2019-01-02  ', '2019-01-02'],
    ['2019-01-02T00:00:00Z', '2019-01-02'],
    ['2019-01-02 16:00:00', '2019-01-02'],
    ['20190102', '2019-01-02'],
    ['1/2/2019', '2019-01-02'],
    ['12/31/2018', '2018-12-31'],
    ['02/29/2016', '2016-02-29'],
  ])('parses %j as %s', (text, iso) => {
    expect(parseDate(text)).toBe(iso);
  });

  it.each(['2019-02-30', '2019-02-29', '20190230', '2/30/2019', '13/1/2019', '2019-13-01', '2019/01/02', '02-01-2019', '19-01-02', 'yesterday', ''])(
    'rejects %j',
    (text) => {
      expect(parseDate(text)).toBeUndefined();
    },
  );
});

describe('csv formats', () => {
  it('normalises header names: case, surrounding and inner spaces, underscores', () => {
    expect(normaliseHeader('  Adj Close ')).toBe('adjclose');
    expect(normaliseHeader('ADJ_CLOSE')).toBe('adjclose');
    expect(normaliseHeader('Name')).toBe('name');
  });

  it('detects the three known formats', () => {
    expect(detectFormat(['date', 'open', 'high', 'low', 'close', 'volume', 'Name'])).toBe('sp500');
    expect(detectFormat(['Date', 'Open', 'High', 'Low', 'Close', 'Adj Close', 'Volume'])).toBe('yahoo');
    expect(detectFormat(['Date', 'Open', 'High', 'Low', 'Close', 'Volume'])).toBe('stooq');
  });

  it('prefers the most specific format and ignores case and column order', () => {
    // A header with both Name and Adj Close satisfies sp500 first.
    expect(detectFormat(['Name', 'DATE', 'Open', 'High', 'Low', 'Close', 'Adj Close', 'Volume'])).toBe('sp500');
    expect(detectFormat(['volume', 'adj_close', 'close', 'low', 'high', 'open', 'date'])).toBe('yahoo');
  });

  it('detects nothing when a required column is missing', () => {
    expect(detectFormat(['Date', 'Open', 'High', 'Low', 'Close'])).toBeUndefined();
    expect(detectFormat(['Timestamp', 'O', 'H', 'L', 'C', 'V'])).toBeUndefined();
    expect(detectFormat([])).toBeUndefined();
  });

  it('resolves column indices for a mapping', () => {
    const result = resolveColumns(['Date', 'Open', 'High', 'Low', 'Close', 'Adj Close', 'Volume'], KNOWN_FORMATS.yahoo);
    expect(result).toEqual({ ok: true, index: { date: 0, open: 1, high: 2, low: 3, close: 4, adjClose: 5, volume: 6 } });
  });

  it('leaves out optional fields the mapping does not name', () => {
    const result = resolveColumns(['Date', 'Open', 'High', 'Low', 'Close', 'Volume'], KNOWN_FORMATS.stooq);
    expect(result).toEqual({ ok: true, index: { date: 0, open: 1, high: 2, low: 3, close: 4, volume: 5 } });
  });

  it('lists every missing field with its column name', () => {
    const result = resolveColumns(['Date', 'Open', 'High', 'Low'], KNOWN_FORMATS.yahoo);
    expect(result).toEqual({ ok: false, missing: ['close (column "Close")', 'volume (column "Volume")', 'adjClose (column "Adj Close")'] });
  });
});

describe('readBarCsv: sp500 format (date,open,high,low,close,volume,Name)', () => {
  const text = [
    'date,open,high,low,close,volume,Name',
    '2013-02-08,15.07,15.12,14.63,14.75,8407500,aal',
    '2013-02-11,14.89,15.01,14.26,14.46,8882000,AAL',
    '2013-02-08,45.07,45.35,45.0,45.08,1824755,AAPL',
  ].join('\n');

  it('reads every row with the symbol from the Name column, upper-cased', () => {
    const result = readBarCsv(text, { source: '/kaggle/all_stocks_5yr.csv' });
    expect(result.format).toBe('sp500');
    expect(result.rowsRead).toBe(3);
    expect(result.issues).toEqual([]);
    expect(result.bars).toEqual([
      { symbol: 'AAL', date: '2013-02-08', open: 15.07, high: 15.12, low: 14.63, close: 14.75, volume: 8407500, source: '/kaggle/all_stocks_5yr.csv', line: 2, raw: '2013-02-08,15.07,15.12,14.63,14.75,8407500,aal' },
      { symbol: 'AAL', date: '2013-02-11', open: 14.89, high: 15.01, low: 14.26, close: 14.46, volume: 8882000, source: '/kaggle/all_stocks_5yr.csv', line: 3, raw: '2013-02-11,14.89,15.01,14.26,14.46,8882000,AAL' },
      { symbol: 'AAPL', date: '2013-02-08', open: 45.07, high: 45.35, low: 45.0, close: 45.08, volume: 1824755, source: '/kaggle/all_stocks_5yr.csv', line: 4, raw: '2013-02-08,45.07,45.35,45.0,45.08,1824755,AAPL' },
    ]);
  });

  it('rejects a row whose Name cell is empty instead of guessing the symbol from the file name', () => {
    const result = readBarCsv('date,open,high,low,close,volume,Name\n2013-02-08,1,2,1,2,10,\n', { source: '/x/all_stocks_5yr.csv' });
    expect(result.bars).toEqual([]);
    expect(result.issues.map((i) => [i.rule, i.line, i.symbol])).toEqual([['missing_symbol', 2, null]]);
  });

  it('counts a row with an empty Name cell as a row of the one symbol every other row names, so it weighs on that file\'s limit', () => {
    const text = ['date,open,high,low,close,volume,Name', '2013-02-08,1,2,1,2,10,IBM', '2013-02-11,1,2,1,2,10,', '2013-02-12,1,2,1,2,10,ıbm', '2013-02-13,1,2,1,2,10,IBM'].join('\n');
    const result = readBarCsv(text, { source: '/x/IBM.csv' });
    expect(result.bars.map((b) => b.date)).toEqual(['2013-02-08', '2013-02-13']);
    expect(result.issues.map((i) => [i.rule, i.line, i.symbol])).toEqual([
      ['missing_symbol', 3, 'IBM'],
      // A cell naming something else may be another security's row (BRK/B): not counted as IBM's.
      ['invalid_symbol', 4, null],
    ]);
    expect(result.issues[0].message).toBe('symbol column is empty (every other row of the file names IBM: counted as its row)');
    // Two symbols in the file: whose row it was is unknown.
    const two = readBarCsv(`${text}\n2013-02-14,1,2,1,2,10,MSFT`, { source: '/x/all.csv' });
    expect(two.issues.map((i) => i.symbol)).toEqual([null, null]);
  });

  it('keeps a quoted field with a comma as one field', () => {
    const result = readBarCsv('date,open,high,low,close,volume,Name,Note\n2013-02-08,"1.5",2,1,2,10,"brk.b","split, 2:1"\n', { source: SRC });
    expect(result.issues).toEqual([]);
    expect(result.bars).toHaveLength(1);
    expect(result.bars[0]).toMatchObject({ symbol: 'BRK.B', open: 1.5, high: 2, low: 1, close: 2, volume: 10 });
  });

  it('rejects a row whose Name is no valid symbol, naming it, with no symbol on the finding', () => {
    const result = readBarCsv('date,open,high,low,close,volume,Name\n2013-02-08,1,2,1,2,10,"brk, b"\n', { source: SRC });
    expect(result.bars).toEqual([]);
    expect(result.issues.map((i) => [i.rule, i.line, i.symbol])).toEqual([['invalid_symbol', 2, null]]);
    expect(result.issues[0].message).toMatch(/^symbol "brk, b" is not valid: expected a symbol such as AAPL/);
  });
});

describe('readBarCsv: Yahoo format (Date,Open,High,Low,Close,Adj Close,Volume)', () => {
  const lines = [
    'Date,Open,High,Low,Close,Adj Close,Volume',
    '2019-01-07,100,110,90,100,50,1000', // line 2
    '2019-01-04,null,null,null,null,null,null', // line 3
    '2019-01-03,40,44,36,40,30,3000', // line 4
    '2019-01-02,10,12,nan,11,11,2000', // line 5
  ];
  const text = lines.join('\n');

  it('detects yahoo, keeps file order (newest first) and takes the symbol from the file name', () => {
    const result = readBarCsv(text, { source: '/downloads/AAPL.csv' });
    expect(result.format).toBe('yahoo');
    expect(result.rowsRead).toBe(4);
    expect(result.bars.map((b) => [b.symbol, b.date, b.line])).toEqual([
      ['AAPL', '2019-01-07', 2],
      ['AAPL', '2019-01-03', 4],
    ]);
    // Not adjusted by default: raw Close kept, Adj Close ignored.
    expect(result.bars[0]).toMatchObject({ open: 100, high: 110, low: 90, close: 100, volume: 1000 });
  });

  it('turns null and nan fields into missing_field issues with the right line, raw text and source', () => {
    const result = readBarCsv(text, { source: '/downloads/AAPL.csv' });
    expect(result.issues).toEqual([
      {
        rule: 'missing_field',
        severity: 'reject',
        symbol: 'AAPL',
        date: '2019-01-04',
        source: '/downloads/AAPL.csv',
        line: 3,
        message: 'open is empty or null',
        raw: lines[2],
      },
      {
        rule: 'missing_field',
        severity: 'reject',
        symbol: 'AAPL',
        date: '2019-01-02',
        source: '/downloads/AAPL.csv',
        line: 5,
        message: 'low is empty or null',
        raw: lines[4],
      },
    ]);
  });

  it('with adjust: true scales OHLC by Adj Close / Close and volume by its inverse', () => {
    const result = readBarCsv(text, { source: '/downloads/AAPL.csv', adjust: true });
    expect(result.bars).toHaveLength(2);
    const [first, second] = result.bars;
    // factor 50 / 100 = 0.5
    expect(first).toMatchObject({ date: '2019-01-07', open: 50, high: 55, low: 45, close: 50, volume: 2000 });
    // factor 30 / 40 = 0.75
    expect(second).toMatchObject({ date: '2019-01-03', open: 30, high: 33, low: 27, close: 30, volume: 4000 });
  });

  it('with adjust: true rejects a row whose Adj Close is missing or not a number', () => {
    const csv = ['Date,Open,High,Low,Close,Adj Close,Volume', '2019-01-02,10,12,9,11,null,5', '2019-01-03,10,12,9,11,abc,5'].join('\n');
    const result = readBarCsv(csv, { source: SRC, adjust: true, symbol: 'X' });
    expect(result.bars).toEqual([]);
    expect(result.issues.map((i) => [i.rule, i.line, i.message])).toEqual([
      ['missing_field', 2, 'adj close is empty or null'],
      ['non_numeric', 3, 'adj close "abc" is not a number'],
    ]);
    // Without adjust the Adj Close column is never looked at.
    expect(readBarCsv(csv, { source: SRC, symbol: 'X' }).bars).toHaveLength(2);
  });

  it('refuses adjust when the file has no adjusted-close column, naming its columns, instead of storing unadjusted prices', () => {
    const result = readBarCsv('Date,Open,High,Low,Close,Volume\n2019-01-02,10,12,9,11,5\n', { source: '/x/ibm.us.csv', adjust: true });
    expect(result.format).toBe('stooq');
    expect(result.bars).toEqual([]);
    expect(result.issues.map((i) => [i.rule, i.line])).toEqual([['bad_header', 1]]);
    expect(result.unreadable).toMatch(/adjust was asked, but the header has no adjusted-close column .*its columns are "Date", "Open", "High", "Low", "Close", "Volume"/);
    // Without adjust the same file reads as before.
    expect(readBarCsv('Date,Open,High,Low,Close,Volume\n2019-01-02,10,12,9,11,5\n', { source: '/x/ibm.us.csv' }).bars[0]).toMatchObject({ open: 10, high: 12, low: 9, close: 11, volume: 5 });
  });
});

describe('readBarCsv: Stooq format (Date,Open,High,Low,Close,Volume)', () => {
  const text = 'Date,Open,High,Low,Close,Volume\n2018-01-02,175.85,177.8,175.26,177.7,2432814\n2018-01-03,178,181.89,177.7,181.04,2561213\n';

  it('takes the symbol from the file name, dropping the .us suffix and extension', () => {
    const result = readBarCsv(text, { source: '/x/aapl.us.csv' });
    expect(result.format).toBe('stooq');
    expect(result.rowsRead).toBe(2);
    expect(result.issues).toEqual([]);
    expect(result.bars).toEqual([
      { symbol: 'AAPL', date: '2018-01-02', open: 175.85, high: 177.8, low: 175.26, close: 177.7, volume: 2432814, source: '/x/aapl.us.csv', line: 2, raw: '2018-01-02,175.85,177.8,175.26,177.7,2432814' },
      { symbol: 'AAPL', date: '2018-01-03', open: 178, high: 181.89, low: 177.7, close: 181.04, volume: 2561213, source: '/x/aapl.us.csv', line: 3, raw: '2018-01-03,178,181.89,177.7,181.04,2561213' },
    ]);
  });

  it.each([
    ['/x/aapl.us.csv', 'AAPL'],
    ['/x/AAPL.US.CSV', 'AAPL'],
    ['aapl.csv', 'AAPL'],
    ['/x/msft.us.txt', 'MSFT'],
    ['/x/msft_daily.csv', 'MSFT'],
    ['/x/ibm_d.csv', 'IBM'],
    ['/x/brk.b.us.csv', 'BRK.B'],
    ['/x/brk.d.csv', 'BRK.D'], // a class-D share, not a daily suffix
    ['/x/aapl.us_d.csv', 'AAPL'],
    ['/x/ibm_us.csv', 'IBM'],
    ['C:/data/spy', 'SPY'],
  ])('derives the symbol of %s as %s', (source, symbol) => {
    expect(readBarCsv(text, { source }).bars[0].symbol).toBe(symbol);
  });

  it('prefers an explicit symbol option over the file name', () => {
    expect(readBarCsv(text, { source: '/x/aapl.us.csv', symbol: 'GOOG' }).bars.map((b) => b.symbol)).toEqual(['GOOG', 'GOOG']);
  });

  it('rejects rows with missing_symbol when neither a column nor the file name gives one', () => {
    const result = readBarCsv(text, { source: '/x/.csv' });
    expect(result.bars).toEqual([]);
    expect(result.issues.map((i) => [i.rule, i.symbol, i.line])).toEqual([
      ['missing_symbol', null, 2],
      ['missing_symbol', null, 3],
    ]);
  });

  it('honours an explicit format even when the header would detect as another', () => {
    const yahoo = 'Date,Open,High,Low,Close,Adj Close,Volume\n2019-01-02,10,12,9,11,5.5,5\n';
    const result = readBarCsv(yahoo, { source: '/x/aapl.us.csv', format: 'stooq' });
    expect(result.format).toBe('stooq');
    // stooq has no Adj Close; column counts still match the header.
    expect(result.bars[0]).toMatchObject({ open: 10, high: 12, low: 9, close: 11, volume: 5 });
    // With adjust asked, ignoring the Adj Close column would store unadjusted prices: refused, naming it.
    const asked = readBarCsv(yahoo, { source: '/x/aapl.us.csv', format: 'stooq', adjust: true });
    expect(asked.bars).toEqual([]);
    expect(asked.issues.map((i) => [i.rule, i.message])).toEqual([['bad_header', expect.stringMatching(/adjust was asked and column 6 "Adj Close" holds adjusted closes, but the stooq format does not read it/)]]);
  });

  it('says a date with a UTC offset is refused for its offset', () => {
    const result = readBarCsv('Date,Open,High,Low,Close,Volume\n2017-02-03T23:30:00-05:00,10,12,9,11,5\n2017-02-06,10,12,9,11,5\n', { source: '/x/ibm.csv' });
    expect(result.issues.map((i) => [i.rule, i.message])).toEqual([['invalid_date', expect.stringMatching(/has a UTC offset, which is not read/)]]);
    expect(result.bars).toHaveLength(1);
  });

  it('refuses a Symbol or Ticker column that the format would ignore for the file name, and Adj Close beside Name with adjust', () => {
    const withTicker = readBarCsv('Date,Open,High,Low,Close,Volume,Symbol\n2019-01-02,10,12,9,11,5,AAPL\n', { source: '/x/msft.csv' });
    expect(withTicker.bars).toEqual([]);
    expect(withTicker.issues.map((i) => [i.rule, i.message])).toEqual([['bad_header', expect.stringMatching(/column 7 "Symbol" names each row's symbol, but the stooq format takes the symbol from the file name/)]]);
    const named = 'Date,Open,High,Low,Close,Adj Close,Volume,Name\n2019-01-02,10,12,9,11,5.5,5,AAPL\n';
    expect(readBarCsv(named, { source: '/x/all.csv' }).bars).toHaveLength(1); // sp500 format, no adjustment asked
    expect(readBarCsv(named, { source: '/x/all.csv', adjust: true }).issues.map((i) => i.rule)).toEqual(['bad_header']);
  });

  it('refuses a second symbol-like column beside the one the format reads (company names would be stored as symbols), and reads the file with a mapping', () => {
    const text = 'date,open,high,low,close,volume,Name,Ticker\n2019-01-02,10,12,9,11,5,Intel,INTC\n2019-01-02,20,22,19,21,6,Cisco,CSCO\n';
    for (const format of [undefined, 'sp500'] as const) {
      const read = readBarCsv(text, { source: '/x/prices.csv', ...(format ? { format } : {}) });
      expect(read.bars).toEqual([]);
      expect(read.issues.map((i) => [i.rule, i.line, i.message])).toEqual([['bad_header', 1, expect.stringMatching(/column 7 "Name" and column 8 "Ticker" both look like a column naming each row's symbol .*the sp500 format would read column 7 "Name" as the symbol and ignore column 8 "Ticker"; give a column mapping/)]]);
    }
    const mapped = readBarCsv(text, { source: '/x/prices.csv', mapping: { date: 'date', open: 'open', high: 'high', low: 'low', close: 'close', volume: 'volume', symbol: 'Ticker' } });
    expect(mapped.issues).toEqual([]);
    expect(mapped.bars.map((b) => b.symbol)).toEqual(['INTC', 'CSCO']);
  });
});

describe('readBarCsv: explicit column mapping', () => {
  const text = ['Ticker;x,Day,O,H,L,C,Shares', 'spy,20190102,245.98,251.21,245.95,250.18,126925200', 'spy,1/3/2019,248.23,248.57,243.67,244.21,144140700'].join('\n');
  const mapping = { symbol: 'Ticker;x', date: 'Day', open: 'O', high: 'H', low: 'L', close: 'C', volume: 'Shares' };

  it('reads an odd header through the mapping, with YYYYMMDD and M/D/YYYY dates', () => {
    const result = readBarCsv(text, { source: SRC, mapping });
    expect(result.format).toBe('mapped');
    expect(result.issues).toEqual([]);
    expect(result.bars.map(({ symbol, date, open, high, low, close, volume }) => ({ symbol, date, open, high, low, close, volume }))).toEqual([
      { symbol: 'SPY', date: '2019-01-02', open: 245.98, high: 251.21, low: 245.95, close: 250.18, volume: 126925200 },
      { symbol: 'SPY', date: '2019-01-03', open: 248.23, high: 248.57, low: 243.67, close: 244.21, volume: 144140700 },
    ]);
  });

  it('is unreadable without the mapping (bad_header on line 1)', () => {
    const result = readBarCsv(text, { source: SRC });
    expect(result.format).toBe('unknown');
    expect(result.rowsRead).toBe(0);
    expect(result.bars).toEqual([]);
    expect(result.issues).toHaveLength(1);
    expect(result.issues[0]).toMatchObject({ rule: 'bad_header', severity: 'reject', source: SRC, line: 1, raw: 'Ticker;x,Day,O,H,L,C,Shares', symbol: null, date: null });
    expect(result.issues[0].message).toContain('matches no known format');
  });

  it('wins over an explicit format', () => {
    const result = readBarCsv(text, { source: SRC, mapping, format: 'yahoo' });
    expect(result.format).toBe('mapped');
    expect(result.bars).toHaveLength(2);
  });

  it('reports bad_header naming the columns a mapping cannot find', () => {
    const result = readBarCsv(text, { source: SRC, mapping: { ...mapping, volume: 'Vol' } });
    expect(result.format).toBe('mapped');
    expect(brief(result)).toEqual([{ rule: 'bad_header', line: 1, raw: 'Ticker;x,Day,O,H,L,C,Shares', source: SRC }]);
    expect(result.issues[0].message).toBe('header "Ticker;x,Day,O,H,L,C,Shares" missing volume (column "Vol")');
  });
});

describe('readBarCsv: malformed input', () => {
  const HEADER = 'Date,Open,High,Low,Close,Volume';
  const opts = { source: '/x/aapl.us.csv' };

  it.each([
    ['an empty string', '', 'file is empty'],
    ['only blank lines', '\n  \n\r\n', 'file holds only blank lines'],
    ['only a BOM', '\uFEFF', 'file is empty'],
  ])('reports empty_input for %s', (_name, text, message) => {
    const result = readBarCsv(text, opts);
    expect(result).toEqual({
      format: 'unknown',
      rowsRead: 0,
      bars: [],
      issues: [{ rule: 'empty_input', severity: 'reject', symbol: null, date: null, source: '/x/aapl.us.csv', line: null, message, raw: null }],
      unreadable: message,
    });
  });

  it('reports empty_input for a header without rows, keeping the detected format', () => {
    for (const text of [HEADER, `${HEADER}\n`, `${HEADER}\r\n\r\n   \n`]) {
      const result = readBarCsv(text, opts);
      expect(result.format).toBe('stooq');
      expect(result.rowsRead).toBe(0);
      expect(result.bars).toEqual([]);
      expect(result.issues).toEqual([
        { rule: 'empty_input', severity: 'reject', symbol: null, date: null, source: '/x/aapl.us.csv', line: null, message: 'file holds a header but no data rows', raw: null },
      ]);
      expect(result.unreadable).toBe('file holds a header but no data rows');
    }
  });

  it('strips a UTF-8 BOM before the header', () => {
    const result = readBarCsv(`\uFEFF${HEADER}\n2019-01-02,1,2,1,2,10\n`, opts);
    expect(result.format).toBe('stooq');
    expect(result.issues).toEqual([]);
    expect(result.bars).toHaveLength(1);
    expect(result.bars[0]).toMatchObject({ date: '2019-01-02', line: 2 });
  });

  it('reads CRLF line endings without a trailing \\r in raw or the last field', () => {
    const result = readBarCsv(`${HEADER}\r\n2019-01-02,1,2,1,2,10\r\n2019-01-03,1,2,1,2,20\r\n`, opts);
    expect(result.issues).toEqual([]);
    expect(result.bars.map((b) => [b.line, b.raw, b.volume])).toEqual([
      [2, '2019-01-02,1,2,1,2,10', 10],
      [3, '2019-01-03,1,2,1,2,20', 20],
    ]);
  });

  it('does not count blank lines as rows but keeps physical line numbers', () => {
    const text = `\n${HEADER}\n\n2019-01-02,1,2,1,2,10\n   \n2019-01-03,1,2,1,x,20\n\n`;
    const result = readBarCsv(text, opts);
    expect(result.rowsRead).toBe(2);
    expect(result.bars.map((b) => b.line)).toEqual([4]);
    expect(brief(result)).toEqual([{ rule: 'non_numeric', line: 6, raw: '2019-01-03,1,2,1,x,20', source: '/x/aapl.us.csv' }]);
  });

  it('names the header line correctly when blank lines precede a bad header', () => {
    const result = readBarCsv('\n\nfoo,bar\n1,2\n', opts);
    expect(brief(result)).toEqual([{ rule: 'bad_header', line: 3, raw: 'foo,bar', source: '/x/aapl.us.csv' }]);
  });

  it('rejects rows with the wrong number of columns', () => {
    const text = [HEADER, '2019-01-02,1,2,1,2', '2019-01-03,1,2,1,2,10,extra', '2019-01-04,1,2,1,2,10'].join('\n');
    const result = readBarCsv(text, opts);
    expect(result.rowsRead).toBe(3);
    expect(result.bars.map((b) => b.date)).toEqual(['2019-01-04']);
    expect(result.issues.map((i) => ({ rule: i.rule, line: i.line, raw: i.raw, source: i.source, message: i.message, symbol: i.symbol }))).toEqual([
      { rule: 'column_count', line: 2, raw: '2019-01-02,1,2,1,2', source: '/x/aapl.us.csv', message: '5 fields, header has 6', symbol: 'AAPL' },
      { rule: 'column_count', line: 3, raw: '2019-01-03,1,2,1,2,10,extra', source: '/x/aapl.us.csv', message: '7 fields, header has 6', symbol: 'AAPL' },
    ]);
  });

  it('rejects text in numeric columns as non_numeric, naming the field', () => {
    const text = [HEADER, '2019-01-02,abc,2,1,2,10', '2019-01-03,1,2,1,2,1 000', '2019-01-04,1,2,1,2,"1,000"', '2019-01-07,1,2,1,2,Infinity'].join('\n');
    const result = readBarCsv(text, opts);
    expect(result.bars).toEqual([]);
    expect(result.issues.map((i) => [i.rule, i.line, i.date, i.message])).toEqual([
      ['non_numeric', 2, '2019-01-02', 'open "abc" is not a number'],
      ['non_numeric', 3, '2019-01-03', 'volume "1 000" is not a number'],
      ['non_numeric', 4, '2019-01-04', 'volume "1,000" is not a number'],
      ['non_numeric', 5, '2019-01-07', 'volume "Infinity" is not a number'],
    ]);
    expect(result.issues.map((i) => i.raw)).toEqual(text.split('\n').slice(1));
  });

  it('accepts signed, decimal-point and exponent numbers', () => {
    const result = readBarCsv(`${HEADER}\n2019-01-02,+1.5,.512e1,-2,2.,1e3\n`, opts);
    expect(result.issues).toEqual([]);
    expect(result.bars[0]).toMatchObject({ open: 1.5, high: 5.12, low: -2, close: 2, volume: 1000 });
  });

  it('rejects a volume written in exponent notation with fewer significant digits than its shares (an Excel re-export: 1,824,755 as 1.82E+06) as imprecise_volume; reads an exact one', () => {
    const text = [HEADER, '2019-01-02,1,2,1,2,1.82E+06', '2019-01-03,1,2,1,2,2.920e+06', '2019-01-04,1,2,1,2,1.0E+05', '2019-01-07,1,2,1,2,1.824755E+06', '2019-01-08,1,2,1,2,1e+05', '2019-01-09,1,2,1,2,1.2e+07', '2019-01-10,1,2,1,2,3.5E+01'].join('\n');
    const result = readBarCsv(text, opts);
    expect(result.issues.map((i) => [i.rule, i.line, i.date])).toEqual([
      ['imprecise_volume', 2, '2019-01-02'],
      ['imprecise_volume', 3, '2019-01-03'],
      ['imprecise_volume', 4, '2019-01-04'],
    ]);
    expect(result.issues[0].message).toBe('volume "1.82E+06" is written in exponent notation with 3 significant digits, short of the 7 of its 1,820,000 shares: a spreadsheet\'s scientific format rounded it (Excel writes 1,824,755 as 1.82E+06), so the shares traded are unknown; rejected, and a stored bar of the date is kept. Export the volume column as whole numbers');
    // Every digit in the mantissa, or a round volume written shorter than its digits (R's shortest form): read as written.
    expect(result.bars.map((b) => [b.line, b.volume])).toEqual([[5, 1824755], [6, 100000], [7, 12000000], [8, 35]]);
  });

  it('rejects a price written in exponent notation too short to give its cent (an Excel re-export: 153.85 as 1.54E+02) as imprecise_price; reads a precise one', () => {
    const text = [
      HEADER,
      '2019-01-02,1.54E+02,1.55E+02,1.53E+02,1.54E+02,10', // line 2: Excel's 0.00E+00, to the nearest 1
      '2019-01-03,153.85,154.20,153.10,1.54E+02,10', // line 3: only the close so written
      '2019-01-04,1.23E-01,0.1300,0.1200,0.1250,10', // line 4: under $1, to the nearest 0.001 (quoted to 0.0001)
      '2019-01-07,2E+02,2E+02,2E+02,2E+02,10', // line 5: Excel's 0E+00 (153.85 as 2E+02)
      '2019-01-08,1.5385E+02,1.5420E+02,1.5310E+02,1.5400E+02,10', // to the cent
      '2019-01-09,1.2345678E-01,1.2400000E-01,1.2300000E-01,1.2350000E-01,10', // a penny stock, to 0.0000001
      '2019-01-10,5.12E+00,5.20E+00,5.10E+00,5.15E+00,10', // a $5 stock in 0.00E+00: to the cent
      '2019-01-11,1e+05,1e+05,1e+05,1e+05,10', // R's shortest form of a round price
      '2019-01-14,1.5e-05,1.5e-05,1.5e-05,1.5e-05,10', // and of a small one
    ].join('\n');
    const result = readBarCsv(text, opts);
    expect(result.issues.map((i) => [i.rule, i.line, i.date])).toEqual([
      ['imprecise_price', 2, '2019-01-02'],
      ['imprecise_price', 3, '2019-01-03'],
      ['imprecise_price', 4, '2019-01-04'],
      ['imprecise_price', 5, '2019-01-07'],
    ]);
    expect(result.issues[0].message).toBe(
      'open "1.54E+02" is written in exponent notation with 3 significant digits, to the nearest 1, short of the cent (0.01) prices of 1 or more are quoted to: a spreadsheet\'s scientific format rounded it (Excel writes 153.85 as 1.54E+02), so the price is unknown; rejected, and a stored bar of the date is kept. Export the price columns as decimals',
    );
    expect(result.issues[1].message).toMatch(/^close "1\.54E\+02" is written in exponent notation with 3 significant digits, to the nearest 1,/);
    expect(result.issues[2].message).toMatch(/^open "1\.23E-01" is written in exponent notation with 3 significant digits, to the nearest 0\.001, short of the 0\.0001 prices under 1 are quoted to:/);
    expect(result.bars.map((b) => [b.line, b.open, b.close])).toEqual([
      [6, 153.85, 154],
      [7, 0.12345678, 0.1235],
      [8, 5.12, 5.15],
      [9, 100000, 100000],
      [10, 0.000015, 0.000015],
    ]);
  });

  it("rejects a price in exponent notation coarser than the file's other prices are written (1.5385E+02 among 4-decimal prices) as imprecise_price", () => {
    const plain = (d: string) => `${d},153.8512,154.2034,153.1045,153.8523,10`;
    const text = [HEADER, plain('2019-01-02'), plain('2019-01-03'), '2019-01-04,153.8512,154.2034,153.1045,1.5385E+02,10', '2019-01-07,1.538512E+02,154.2034,153.1045,153.8523,10', plain('2019-01-08')].join('\n');
    const result = readBarCsv(text, opts);
    expect(result.issues.map((i) => [i.rule, i.line, i.date, i.raw])).toEqual([['imprecise_price', 4, '2019-01-04', '2019-01-04,153.8512,154.2034,153.1045,1.5385E+02,10']]);
    expect(result.issues[0].message).toBe(
      'close "1.5385E+02" is written in exponent notation with 5 significant digits, to the nearest 0.01, coarser than the 0.0001 the file\'s other prices are written to: a spreadsheet\'s scientific format rounded it (Excel writes 153.8523 as 1.5385E+02), so the price is unknown; rejected, and a stored bar of the date is kept. Export the price columns as decimals',
    );
    expect(result.bars.map((b) => b.line)).toEqual([2, 3, 5, 6]);
  });

  it('with adjust: true rejects an Adj Close written in exponent notation short of its cent as imprecise_price', () => {
    const text = ['Date,Open,High,Low,Close,Adj Close,Volume', '2019-01-02,199.97,202.09,199.68,201.68,1.95E+02,2893254', '2019-01-03,199.97,202.09,199.68,201.68,1.9512E+02,2893254'].join('\n');
    const result = readBarCsv(text, { ...opts, adjust: true });
    expect(result.issues.map((i) => [i.rule, i.line])).toEqual([['imprecise_price', 2]]);
    expect(result.issues[0].message).toMatch(/^adj close "1\.95E\+02" is written in exponent notation/);
    expect(result.bars.map((b) => b.line)).toEqual([3]);
  });

  it('rejects absurdly large numbers as implausible_value', () => {
    const text = [HEADER, '2019-01-02,1,2,1,99999999999,10', '2019-01-03,1,2,1,2,1e300', '2019-01-04,1e400,2,1,2,10', '2019-01-07,10000000,10000000,1,2,99999999999999'].join('\n');
    const result = readBarCsv(text, opts);
    // Exactly at the limit (1e7 price, 1e14 - 1 volume) is still plausible.
    expect(result.bars.map((b) => [b.line, b.open, b.volume])).toEqual([[5, 10000000, 99999999999999]]);
    expect(result.issues.map((i) => [i.rule, i.line, i.raw, i.message])).toEqual([
      ['implausible_value', 2, '2019-01-02,1,2,1,99999999999,10', 'close 99999999999 is beyond 1e+7'],
      ['implausible_value', 3, '2019-01-03,1,2,1,2,1e300', 'volume 1e300 is beyond 1e+14'],
      ['implausible_value', 4, '2019-01-04,1e400,2,1,2,10', 'open 1e400 is beyond 1e+7'],
    ]);
  });

  it('keeps both copies of a duplicate row (duplicates are a later rule)', () => {
    const text = [HEADER, '2019-01-02,1,2,1,2,10', '2019-01-02,1,2,1,2,10'].join('\n');
    const result = readBarCsv(text, opts);
    expect(result.issues).toEqual([]);
    expect(result.bars.map((b) => [b.date, b.line])).toEqual([
      ['2019-01-02', 2],
      ['2019-01-02', 3],
    ]);
  });

  it('keeps descending and unsorted dates in file order', () => {
    const text = [HEADER, '2019-01-04,1,2,1,2,10', '2019-01-02,1,2,1,2,10', '2019-01-03,1,2,1,2,10'].join('\n');
    expect(readBarCsv(text, opts).bars.map((b) => b.date)).toEqual(['2019-01-04', '2019-01-02', '2019-01-03']);
  });

  it('reads dates as YYYYMMDD and M/D/YYYY', () => {
    const text = [HEADER, '20190102,1,2,1,2,10', '1/3/2019,1,2,1,2,10', '01/04/2019,1,2,1,2,10'].join('\n');
    const result = readBarCsv(text, opts);
    expect(result.issues).toEqual([]);
    expect(result.bars.map((b) => b.date)).toEqual(['2019-01-02', '2019-01-03', '2019-01-04']);
  });

  it('rejects impossible and unparseable dates as invalid_date, and an empty date as missing_field', () => {
    const text = [HEADER, '2019-02-30,1,2,1,2,10', '2/29/2019,1,2,1,2,10', 'soon,1,2,1,2,10', ',1,2,1,2,10', 'null,1,2,1,2,10'].join('\n');
    const result = readBarCsv(text, opts);
    expect(result.bars).toEqual([]);
    expect(result.issues.map((i) => ({ rule: i.rule, line: i.line, raw: i.raw, date: i.date, message: i.message }))).toEqual([
      { rule: 'invalid_date', line: 2, raw: '2019-02-30,1,2,1,2,10', date: null, message: 'date "2019-02-30" is not a valid date' },
      { rule: 'invalid_date', line: 3, raw: '2/29/2019,1,2,1,2,10', date: null, message: 'date "2/29/2019" is not a valid date (slash dates are read as M/D/YYYY, or as D/M/YYYY in a file with a row that can only be read so; this one is valid in neither order)' },
      { rule: 'invalid_date', line: 4, raw: 'soon,1,2,1,2,10', date: null, message: 'date "soon" is not a valid date' },
      { rule: 'missing_field', line: 5, raw: ',1,2,1,2,10', date: null, message: 'date is empty' },
      { rule: 'missing_field', line: 6, raw: 'null,1,2,1,2,10', date: null, message: 'date is empty' },
    ]);
  });

  it.each(['', 'NULL', 'NaN', 'NA', 'n/a', '-', 'None', '  '])('treats %j as a missing field', (value) => {
    const result = readBarCsv(`${HEADER}\n2019-01-02,1,2,1,${value},10\n`, opts);
    expect(result.bars).toEqual([]);
    expect(result.issues.map((i) => [i.rule, i.line, i.message])).toEqual([['missing_field', 2, 'close is empty or null']]);
  });

  it('reports a bad header with its line and raw text, and reads no rows', () => {
    const result = readBarCsv('Date,Open,High,Low,Close\n2019-01-02,1,2,1,2\n', { source: '/x/a.csv', format: 'stooq' });
    expect(result.format).toBe('stooq');
    expect(result.rowsRead).toBe(0);
    expect(result.bars).toEqual([]);
    expect(result.issues).toEqual([
      {
        rule: 'bad_header',
        severity: 'reject',
        symbol: null,
        date: null,
        source: '/x/a.csv',
        line: 1,
        message: 'header "Date,Open,High,Low,Close" missing volume (column "Volume")',
        raw: 'Date,Open,High,Low,Close',
      },
    ]);
  });

  it('gives every row issue a source, a 1-based line and the raw text, mixed with good rows', () => {
    const text = [
      HEADER, // 1
      '2019-01-02,1,2,1,2,10', // 2 ok
      '2019-01-03,1,2,1', // 3 column_count
      '', // 4 blank
      '2019-02-30,1,2,1,2,10', // 5 invalid_date
      '2019-01-04,1,two,1,2,10', // 6 non_numeric
      '2019-01-07,1,2,1,2,1e300', // 7 implausible_value
      '2019-01-08,1,2,1,nan,10', // 8 missing_field
      '2019-01-09,1,2,1,2,10', // 9 ok
    ];
    const result = readBarCsv(text.join('\n'), opts);
    expect(result.rowsRead).toBe(7);
    expect(result.bars.map((b) => b.line)).toEqual([2, 9]);
    expect(brief(result)).toEqual([
      { rule: 'column_count', line: 3, raw: text[2], source: '/x/aapl.us.csv' },
      { rule: 'invalid_date', line: 5, raw: text[4], source: '/x/aapl.us.csv' },
      { rule: 'non_numeric', line: 6, raw: text[5], source: '/x/aapl.us.csv' },
      { rule: 'implausible_value', line: 7, raw: text[6], source: '/x/aapl.us.csv' },
      { rule: 'missing_field', line: 8, raw: text[7], source: '/x/aapl.us.csv' },
    ]);
    expect(result.issues.every((i) => i.severity === 'reject')).toBe(true);
    expect(result.rowsRead).toBe(result.bars.length + result.issues.length);
  });
});

describe('readBarCsv: RFC 4180 quoting', () => {
  const HEADER = 'Date,Open,High,Low,Close,Volume,Note';
  const opts = { source: '/x/aapl.us.csv' };

  it('keeps a quoted field with an embedded line break as one row, numbered by its first line', () => {
    const text = `${HEADER}\n2019-01-02,1,2,1,2,10,"split\n2:1, ""adjusted"""\n2019-01-03,1,2,1,2,20,\n`;
    const result = readBarCsv(text, opts);
    expect(result.issues).toEqual([]);
    expect(result.rowsRead).toBe(2);
    expect(result.bars.map((b) => [b.date, b.line, b.raw])).toEqual([
      ['2019-01-02', 2, '2019-01-02,1,2,1,2,10,"split\n2:1, ""adjusted"""'],
      ['2019-01-03', 4, '2019-01-03,1,2,1,2,20,'],
    ]);
  });

  it('reads a quoted header and quoted CRLF rows', () => {
    const result = readBarCsv('"Date","Open","High","Low","Close","Volume"\r\n"2019-01-02","1","2","1","2","10"\r\n', opts);
    expect(result.format).toBe('stooq');
    expect(result.issues).toEqual([]);
    expect(result.bars[0]).toMatchObject({ date: '2019-01-02', volume: 10 });
  });

  it('treats a quote inside an unquoted field as an ordinary character', () => {
    const result = readBarCsv(`${HEADER}\n2019-01-02,1,2,1,2,10,5" screen\n2019-01-03,1,2,1,2,20,\n`, opts);
    expect(result.issues).toEqual([]);
    expect(result.bars).toHaveLength(2);
  });

  it('rejects only the line of a quote that is never closed and reads on', () => {
    const text = `${HEADER}\n2019-01-02,1,2,1,2,10,\n2019-01-03,"1,2,1,2,20,\n2019-01-04,1,2,1,2,30,\n`;
    const result = readBarCsv(text, opts);
    expect(result.bars.map((b) => b.line)).toEqual([2, 4]);
    expect(result.issues.map((i) => [i.rule, i.line, i.message])).toEqual([['bad_quoting', 3, 'a quoted field opened on this line is not closed before the end of the file']]);
  });
});

describe('readBarCsv: length limits', () => {
  const HEADER = 'Date,Open,High,Low,Close,Volume';
  const opts = { source: '/x/aapl.us.csv' };

  it('rejects an over-long line as line_too_long with a short raw and reads the rows after it', () => {
    const text = `${HEADER}\n${'9'.repeat(MAX_LINE_CHARS + 1)}\n2019-01-02,1,2,1,2,10\n`;
    const result = readBarCsv(text, opts);
    expect(result.bars.map((b) => b.line)).toEqual([3]);
    expect(result.issues.map((i) => [i.rule, i.line, i.message])).toEqual([['line_too_long', 2, 'line is 10,001 characters long, the limit is 10,000']]);
    expect((result.issues[0].raw ?? '').length).toBeLessThanOrEqual(1000);
  });

  it('rejects a field over the field limit as field_too_long, quoted or not', () => {
    const big = 'n'.repeat(MAX_FIELD_CHARS + 1);
    const result = readBarCsv(`${HEADER},Note\n2019-01-02,1,2,1,2,10,${big}\n2019-01-03,1,2,1,2,10,"${big}"\n2019-01-04,1,2,1,2,10,ok\n`, opts);
    expect(result.bars.map((b) => b.line)).toEqual([4]);
    expect(result.issues.map((i) => [i.rule, i.line, i.message])).toEqual([
      ['field_too_long', 2, 'field 7 is 1,001 characters long, the limit is 1,000'],
      ['field_too_long', 3, 'field 7 is 1,001 characters long, the limit is 1,000'],
    ]);
  });

  it('bounds field text quoted in messages', () => {
    const result = readBarCsv(`${HEADER}\n2019-01-02,${'z'.repeat(900)},2,1,2,10\n`, opts);
    expect(result.issues[0].rule).toBe('non_numeric');
    expect(result.issues[0].message.length).toBeLessThan(80);
  });

  it('calls a header line beyond the limit no header', () => {
    const result = readBarCsv('h'.repeat(MAX_LINE_CHARS + 5), opts);
    expect(result.issues.map((i) => i.rule)).toEqual(['bad_header']);
    expect(result.unreadable).toBe('the first line (line 1) cannot be a header: line is 10,005 characters long, the limit is 10,000');
  });
});

describe('readPriceTable: unreadable text fails with the cause', () => {
  const opts = { source: '/x/aapl.us.csv' };
  const reason = (text: string, options: Partial<CsvReadOptions> = {}): string => {
    try {
      readPriceTable(text, { ...opts, ...options });
    } catch (error) {
      expect(error).toBeInstanceOf(UnreadableSourceError);
      expect(error).toBeInstanceOf(BadInputError);
      expect((error as BadInputError).code).toBe('UNREADABLE_SOURCE');
      return (error as Error).message;
    }
    throw new Error('readPriceTable did not throw');
  };

  it.each([
    ['an empty file', '', 'file is empty'],
    ['only line breaks', '\n\n\r\n', 'file holds only blank lines'],
    ['a header only', 'Date,Open,High,Low,Close,Volume\n', 'file holds a header but no data rows'],
    ['binary', 'PK\u0003\u0004\u0000\u0000junk', 'it holds binary data (a NUL byte on line 1), not CSV text'],
    ['UTF-16 read as UTF-8', '\uFFFD\uFFFDD\u0000a\u0000t\u0000e\u0000', 'it is UTF-16 text (it starts with a UTF-16 byte-order mark read as UTF-8); save it as UTF-8'],
    ['Latin-1 read as UTF-8', 'Date,Open,High,Low,Close,Volume,Soci\uFFFDt\uFFFD\n2019-01-02,1,2,1,2,10,x\n', 'it holds the replacement character U+FFFD on line 1, left where bytes that were not UTF-8 were decoded (here or before the file was written), so some values may be lost; Latin-1 or Windows-1252 text must be saved as UTF-8 from the original'],
    ['semicolons', 'Date;Open;High;Low;Close;Volume\n2019-01-02;1;2;1;2;10\n', `header "Date;Open;High;Low;Close;Volume" is separated by ';' (semicolon), not commas; export the file with ',' as the separator`],
    ['tabs', 'Date\tOpen\tHigh\tLow\tClose\tVolume\n', 'header "Date\\tOpen\\tHigh\\tLow\\tClose\\tVolume" is separated by tabs, not commas'],
    ['a missing column', 'Date,Open,High,Low,Close\n2019-01-02,1,2,1,2\n', 'header "Date,Open,High,Low,Close" matches no known format: closest is stooq (Date,Open,High,Low,Close,Volume), which needs volume (column "Volume")'],
    ['no header at all', '2019-01-02,1,2,1,2,10\n', 'header "2019-01-02,1,2,1,2,10" matches no known format (sp500, yahoo, stooq); pass a column mapping'],
  ])('%s', (_name, text, cause) => {
    const message = reason(text);
    expect(message.startsWith('Cannot read /x/aapl.us.csv as a price table: ')).toBe(true);
    expect(message).toContain(cause);
  });

  it('names a file whose name gives no valid symbol', () => {
    expect(reason('Date,Open,High,Low,Close,Volume\n2019-01-02,1,2,1,2,10\n', { source: '/x/rm -rf.csv' })).toContain(
      'it has no symbol column and its symbol "RM -RF" (from the file name) is not valid: expected a symbol such as AAPL',
    );
    expect(reason('Date,Open,High,Low,Close,Volume\n2019-01-02,1,2,1,2,10\n', { source: '/x/.csv' })).toContain('gives no symbol');
  });

  it('returns readable text as readBarCsv does', () => {
    const text = 'Date,Open,High,Low,Close,Volume\n2019-01-02,1,2,1,2,10\n2019-01-03,x,2,1,2,10\n';
    expect(readPriceTable(text, opts)).toEqual(readBarCsv(text, opts));
  });
});

describe('readBarCsv: symbols read from files', () => {
  const HEADER = 'date,open,high,low,close,volume,Name';
  it.each(['🚀MOON', "X'); DROP TABLE bars;--", '../../ETC/PASSWD', 'A'.repeat(40), 'AA PL', 'AAPL\u001b[31m'])('rejects %j as invalid_symbol with no symbol on the finding', (name) => {
    const result = readBarCsv(`${HEADER}\n2019-01-02,1,2,1,2,10,"${name}"\n`, { source: SRC });
    expect(result.bars).toEqual([]);
    expect(result.issues.map((i) => [i.rule, i.symbol])).toEqual([['invalid_symbol', null]]);
  });

  it.each([
    ['$vix', '$VIX'],
    ['^GSPC', '^GSPC'],
    ['brk.b', 'BRK.B'],
    [' AAPL ', 'AAPL'],
  ])('accepts %j as %s', (name, symbol) => {
    expect(readBarCsv(`${HEADER}\n2019-01-02,1,2,1,2,10,${name}\n`, { source: SRC }).bars.map((b) => b.symbol)).toEqual([symbol]);
  });
});

describe('readBarCsv: a header with two columns of the same normalised name', () => {
  const row = '2019-01-02,1,2,1,2,10';

  it('resolveColumns names every field that matches more than one column', () => {
    const result = resolveColumns(['date', 'open', 'high', 'low', 'close', 'volume', 'Name', 'name'], KNOWN_FORMATS.sp500);
    expect(result).toEqual({ ok: false, missing: [], ambiguous: ['symbol (columns 7 "Name" and 8 "name")'] });
  });

  it.each([
    ['Name,name', 'date,open,high,low,close,volume,Name,name', `${row},IBM,MSFT`, 'symbol (columns 7 "Name" and 8 "name")'],
    ['close,Close', 'date,open,high,low,close,volume,Name,Close', `${row},IBM,1.0`, 'close (columns 5 "close" and 8 "Close")'],
    ['Adj Close,AdjClose', 'Date,Open,High,Low,Close,Adj Close,Volume,AdjClose', '2019-01-02,1,2,1,2,2,10,4', 'adjClose (columns 6 "Adj Close" and 8 "AdjClose")'],
    ['three spellings', 'Date,Open,High,Low,Close,Volume,CLOSE,c lose', '2019-01-02,1,2,1,2,10,3,4', 'close (columns 5 "Close", 7 "CLOSE" and 8 "c lose")'],
  ])('refuses %s as a bad header naming the ambiguous columns, reading no rows', (_name, header, data, named) => {
    const result = readBarCsv(`${header}\n${data}\n`, { source: '/x/ibm.csv' });
    expect(result.bars).toEqual([]);
    expect(result.rowsRead).toBe(0);
    expect(result.unreadable).toBeDefined();
    expect(brief(result)).toEqual([{ rule: 'bad_header', line: 1, raw: header, source: '/x/ibm.csv' }]);
    expect(result.issues[0].message).toContain(named);
    expect(result.issues[0].message).toMatch(/more than one column/);
    expect(() => readPriceTable(`${header}\n${data}\n`, { source: '/x/ibm.csv' })).toThrow(UnreadableSourceError);
  });

  it('refuses the ambiguity with an explicit format or mapping too', () => {
    const text = `date,open,high,low,close,volume,Name,name\n${row},IBM,MSFT\n`;
    expect(readBarCsv(text, { source: SRC, format: 'sp500' }).issues.map((i) => i.rule)).toEqual(['bad_header']);
    const mapping = { date: 'date', open: 'open', high: 'high', low: 'low', close: 'close', volume: 'volume', symbol: 'NAME' };
    expect(readBarCsv(text, { source: SRC, mapping }).issues.map((i) => i.rule)).toEqual(['bad_header']);
  });

  it('still reads a header whose repeated names are columns no field uses', () => {
    const result = readBarCsv(`Date,Open,High,Low,Close,Volume,Note,note\n${row},a,b\n`, { source: '/x/ibm.csv' });
    expect(result.issues).toEqual([]);
    expect(result.bars.map((b) => [b.symbol, b.close])).toEqual([['IBM', 2]]);
  });
});

describe('readBarCsv: limits on the values stored', () => {
  const HEADER = 'Date,Open,High,Low,Close,Volume';
  const YAHOO = 'Date,Open,High,Low,Close,Adj Close,Volume';
  const opts = { source: '/x/aapl.us.csv' };

  it('rejects a positive price below the minimum as implausible_value; zero and negatives are left to non_positive_price', () => {
    const text = [HEADER, '2019-01-02,1e-300,1e-300,1e-300,1e-300,100', '2019-01-03,1,2,0.0000009,2,10', '2019-01-04,0.000001,0.000001,0.000001,0.000001,10', '2019-01-07,0,2,1,2,10'].join('\n');
    const result = readBarCsv(text, opts);
    expect(result.issues.map((i) => [i.rule, i.line, i.message])).toEqual([
      ['implausible_value', 2, 'open 1e-300 is below 1e-6'],
      ['implausible_value', 3, 'low 0.0000009 is below 1e-6'],
    ]);
    // Exactly at the minimum is still plausible; 0 goes on to the row rules.
    expect(result.bars.map((b) => [b.line, b.open])).toEqual([
      [4, 0.000001],
      [5, 0],
    ]);
  });

  it('with adjust: true rejects a row whose adjusted values are not finite or beyond the limits, saying why', () => {
    const text = [
      YAHOO,
      '2019-01-02,199.97,202.09,199.68,201.68,201.68,2893254', // line 2: factor 1, kept
      '2019-01-03,199.97,202.09,199.68,201.68,1e-300,2893254', // line 3: Adj Close below the minimum
      '2019-01-04,199.97,202.09,199.68,201.68,0.000001,2893254', // line 4: factor 5e-9: open 9.9e-7 below the minimum
      '2019-01-07,2,2.02,1.99,2,8000000,2893254', // line 5: factor 4e6: high 8.08e6, volume 0.72, within the limits
      '2019-01-08,0.01,0.02,0.01,0.01,9000000,2893254', // line 6: factor 9e8: high 1.8e7 beyond the price limit
      '2019-01-09,100,101,99,100,0.0001,90000000000', // line 7: factor 1e-6: volume 9e16 beyond the volume limit
    ].join('\n');
    const result = readBarCsv(text, { ...opts, adjust: true });
    expect(result.issues.map((i) => [i.rule, i.line])).toEqual([
      ['implausible_value', 3],
      ['implausible_value', 4],
      ['implausible_value', 6],
      ['implausible_value', 7],
    ]);
    expect(result.issues[0].message).toBe('adj close 1e-300 is below 1e-6');
    expect(result.issues[1].message).toMatch(/^adjusted open [\d.e+-]+ \(open 199\.97 × Adj Close \/ Close [\d.e+-]+\) is below 1e-6$/);
    expect(result.issues[2].message).toMatch(/^adjusted high [\d.e+-]+ \(high 0\.02 × Adj Close \/ Close 9\.00e\+8\) is beyond 1e\+7$/);
    expect(result.issues[3].message).toMatch(/^adjusted volume [\d.e+-]+ \(volume 90000000000 ÷ the split part of Adj Close \/ Close [\d.e+-]+\) is beyond 1e\+14$/);
    expect(result.bars.map((b) => b.line)).toEqual([2, 5]);
    for (const b of result.bars) for (const v of [b.open, b.high, b.low, b.close, b.volume]) expect(Number.isFinite(v)).toBe(true);
  });

  it('with adjust: true never yields an infinite volume (the probe case: Adj Close 1e-300 on a valid row)', () => {
    const text = [YAHOO, '2013-02-08,199.97,202.09,199.68,201.68,5e-300,2893254'].join('\n');
    const result = readBarCsv(text, { ...opts, adjust: true });
    expect(result.bars).toEqual([]);
    expect(result.issues.map((i) => i.rule)).toEqual(['implausible_value']);
  });
});

describe('readBarCsv: symbols are checked before upper-casing', () => {
  it.each(['ıbm', 'ſpy', 'ﬀ', 'aſ'])('rejects the non-ASCII name %j in a symbol column, though it upper-cases to ASCII', (name) => {
    const result = readBarCsv(`date,open,high,low,close,volume,Name\n2019-01-02,1,2,1,2,10,${name}\n`, { source: SRC });
    expect(result.bars).toEqual([]);
    expect(result.issues.map((i) => [i.rule, i.symbol, i.message])).toEqual([['invalid_symbol', null, expect.stringContaining(`symbol "${name}" is not valid`)]]);
  });

  it('refuses a file whose name gives a non-ASCII symbol, and such an explicit symbol', () => {
    const text = 'Date,Open,High,Low,Close,Volume\n2019-01-02,1,2,1,2,10\n';
    expect(() => readPriceTable(text, { source: '/x/ıbm.csv' })).toThrow(/its symbol "ıBM" \(from the file name\) is not valid/);
    expect(() => readPriceTable(text, { source: '/x/ſpy.us.csv' })).toThrow(/its symbol "ſPY" \(from the file name\) is not valid/);
    expect(() => readPriceTable(text, { source: '/x/a.csv', symbol: 'ſpy' })).toThrow(/its symbol "ſPY" \(from the request\) is not valid/);
    expect(readBarCsv(text, { source: '/x/ıbm.csv' }).bars).toEqual([]);
  });
});

describe('readBarCsv: strict quoting and dates', () => {
  const HEADER = 'date,open,high,low,close,volume,Name';
  const opts = { source: SRC };

  it('rejects a quoted field followed by other characters as bad_quoting, and reads on', () => {
    const text = [HEADER, '2018-02-05,1,2,1,"1.5"9,10,IBM', '2018-02-06,1,2,1,"1.5" ,10,IBM', '2018-02-07,1,2,1,"1.5",10,"IBM"x', '2018-02-08,1,2,1,1.5,10,IBM'].join('\n');
    const result = readBarCsv(text, opts);
    expect(result.issues.map((i) => [i.rule, i.line, i.message])).toEqual([
      ['bad_quoting', 2, 'field 5 has text after its closing quote ("1.5"9); quote the whole field'],
      ['bad_quoting', 4, 'field 7 has text after its closing quote ("IBM"x); quote the whole field'],
    ]);
    // Spaces after the closing quote, as before it, are tolerated.
    expect(result.bars.map((b) => [b.line, b.close])).toEqual([
      [3, 1.5],
      [5, 1.5],
    ]);
  });

  it('rejects a multi-line quoted record with trailing text, every line of it, and resumes after the record', () => {
    const text = `${HEADER}\n2018-02-05,1,2,1,1.5,10,"IB\nM"x\n2018-02-06,1,2,1,1.5,10,IBM\n`;
    const result = readBarCsv(text, opts);
    expect(result.issues.map((i) => [i.rule, i.line])).toEqual([['bad_quoting', 2], ['bad_quoting', 3]]);
    expect(result.bars.map((b) => b.line)).toEqual([4]);
    expect(result.rowsRead).toBe(3);
  });

  it('counts every line a stray quote swallows as rejected, so the gate sees them', () => {
    // A stray quote on line 11 runs to the quoted volume of line 61: one record of 51 lines.
    const rows = Array.from({ length: 100 }, (_, k) => {
      const date = new Date(Date.UTC(2018, 0, 2 + k)).toISOString().slice(0, 10);
      if (k === 9) return `${date},"50.46,51.48,50,51,1000,x`;
      if (k === 59) return `${date},50,51,49,50,"100059",x`;
      return `${date},50,51,49,50,1000,x`;
    });
    const result = readBarCsv(`${HEADER}\n${rows.join('\n')}\n`, opts);
    expect(result.bars).toHaveLength(49);
    expect(result.rowsRead).toBe(100);
    expect(result.issues.filter((i) => i.severity === 'reject')).toHaveLength(51);
    expect(result.issues.map((i) => i.line).slice(0, 3)).toEqual([11, 12, 13]);
  });

  it.each(['2018-02-07T99:99:99Z', '2018-02-07T24:00:00', '2018-02-07 12:60', '2018-02-07T12:00:60', '2018-02-07T1', '2018-02-07T::', '2018-02-07T12:00:00.Z', '2018-02-07 '.concat('1:00')])(
    'rejects the date-time %j, whose time is not a time of day',
    (text) => {
      expect(parseDate(text)).toBeUndefined();
      const result = readBarCsv(`${HEADER}\n${text},1,2,1,1.5,10,IBM\n`, opts);
      expect(result.issues.map((i) => i.rule)).toEqual(['invalid_date']);
    },
  );

  it.each([
    ['2018-02-07T23:59:59', '2018-02-07'],
    ['2018-02-07T00:00', '2018-02-07'],
    ['2018-02-07T00:00Z', '2018-02-07'],
    ['2018-02-07 16:00:00.000', '2018-02-07'],
  ])('still reads %j, a real time of day, as the calendar date %s', (text, iso) => {
    expect(parseDate(text)).toBe(iso);
  });
});

describe('readBarCsv: a header repeated among the rows (exports concatenated)', () => {
  const opts = { source: '/x/ibm.us.csv' };

  it('refuses a second header that puts Close where Open was: read by the first header, its rows would swap open and close', () => {
    const text = ['Date,Open,High,Low,Close,Volume', '2018-02-05,10,11,9,10.5,100', '2018-02-06,10.5,11,9,10.8,100', 'Date,Close,High,Low,Open,Volume', '2018-02-07,10.8,11,9,10.1,100'].join('\n');
    const result = readBarCsv(text, opts);
    expect(result.bars).toEqual([]);
    expect(result.unreadable).toMatch(/^line 4 is a second header "Date,Close,High,Low,Open,Volume" that lays the columns out otherwise than the header on line 1 "Date,Open,High,Low,Close,Volume" \(open is column 5 there, column 2 in the header; close is column 2 there, column 5 in the header\)/);
    expect(brief(result)).toEqual([{ rule: 'bad_header', line: 4, raw: 'Date,Close,High,Low,Open,Volume', source: '/x/ibm.us.csv' }]);
    expect(() => readPriceTable(text, opts)).toThrow(/Cannot read \/x\/ibm\.us\.csv as a price table: line 4 is a second header/);
  });

  it.each([
    ['a column more at the end', 'Date,Open,High,Low,Close,Volume,Adj Close', /\(7 columns, the header has 6\)/],
    ['a column more in the middle', 'Date,Open,High,Low,Close,Adj Close,Volume', /\(volume is column 7 there, column 6 in the header\)/],
    ['a symbol column first (sp500 rows after Stooq ones)', 'Name,date,open,high,low,close,volume', /date is column 2 there, column 1 in the header/],
    ['a header lacking the volume', 'Date,Open,High,Low,Close', /it lacks volume \(column "Volume"\)/],
  ])('refuses a second header with %s, naming the line', (_label, second, difference) => {
    const text = ['Date,Open,High,Low,Close,Volume', '2018-02-05,10,11,9,10.5,100', second, '2018-02-07,10.8,11,9,10.1,10.1,100'].join('\n');
    const result = readBarCsv(text, opts);
    expect(result.bars).toEqual([]);
    expect(result.unreadable).toMatch(/^line 3 is a second header/);
    expect(result.unreadable).toMatch(difference);
  });

  it('rejects the same header repeated as one row (repeated_header), with the file symbol, and reads the rows after it by it', () => {
    const text = ['date,open,high,low,close,volume', '2018-02-05,10,11,9,10.5,100', 'Date , OPEN,High,low,Close,Volume', '2018-02-06,10.5,11,9,10.8,200'].join('\r\n');
    const result = readBarCsv(text, opts);
    expect(result.bars.map((b) => [b.symbol, b.date, b.open, b.high, b.low, b.close, b.volume])).toEqual([
      ['IBM', '2018-02-05', 10, 11, 9, 10.5, 100],
      ['IBM', '2018-02-06', 10.5, 11, 9, 10.8, 200],
    ]);
    expect(result.rowsRead).toBe(3);
    expect(result.issues).toEqual([expect.objectContaining({ rule: 'repeated_header', severity: 'reject', symbol: 'IBM', line: 3, raw: 'Date , OPEN,High,low,Close,Volume' })]);
  });

  it('reads a row whose symbol is a column name (LOW, OPEN) as a row', () => {
    const text = ['date,open,high,low,close,volume,Name', '2018-02-05,10,11,9,10.5,100,LOW', '2018-02-05,10,11,9,10.5,100,OPEN'].join('\n');
    const result = readBarCsv(text, { source: '/x/all.csv' });
    expect(result.issues).toEqual([]);
    expect(result.bars.map((b) => b.symbol)).toEqual(['LOW', 'OPEN']);
  });
});

describe('readBarCsv: a date stamped with a time inside its session', () => {
  const HEADER = 'Date,Open,High,Low,Close,Volume';

  it('rejects a bar stamped during its own session (mid_session_time), New York time, naming line, time and close', () => {
    const text = [HEADER, '2017-01-03 16:00:00,10,11,9,10.5,100', '2017-01-04 11:30:00,10,11,9,10.6,40', '2017-07-05T10:00:00,10,11,9,10.5,100', '2017-11-24 12:59,10,11,9,10.5,100'].join('\n');
    const result = readBarCsv(text, { source: '/x/ibm.us.csv' });
    expect(result.bars.map((b) => b.date)).toEqual(['2017-01-03']);
    expect(result.issues.map((i) => [i.rule, i.line, i.symbol, i.date])).toEqual([
      ['mid_session_time', 3, 'IBM', '2017-01-04'],
      ['mid_session_time', 4, 'IBM', '2017-07-05'],
      ['mid_session_time', 5, 'IBM', '2017-11-24'],
    ]);
    expect(result.issues[0].message).toBe(
      `date "2017-01-04 11:30:00" is stamped 11:30 New York time, inside the 2017-01-04 session (09:30 to 16:00): the bar was taken before the close, so its close is a mid-session price and its volume part of the day's; export daily bars after the close`,
    );
    expect(result.issues[1].message).toContain('stamped 10:00 New York time, inside the 2017-07-05 session (09:30 to 16:00)');
    expect(result.issues[2].message).toContain('inside the 2017-11-24 session (09:30 to 13:00)');
  });

  it('rejects a bar stamped before the open of its own date (mid_session_time), New York time, naming the cause', () => {
    const text = [HEADER, '2018-02-01 08:00:00,10,11,9,10.5,100', '2018-02-02 00:00:01,10,11,9,10.5,100', '2018-02-05T08:00:00,10,11,9,10.5,100', '2018-02-06 09:29:59,10,11,9,10.5,100', '2018-02-07 09:30:00,10,11,9,10.5,100'].join('\n');
    const result = readBarCsv(text, { source: '/x/ibm.us.csv' });
    expect(result.bars.map((b) => b.date)).toEqual(['2018-02-07']);
    expect(result.issues.map((i) => [i.rule, i.line, i.date])).toEqual([
      ['mid_session_time', 2, '2018-02-01'],
      ['mid_session_time', 3, '2018-02-02'],
      ['mid_session_time', 4, '2018-02-05'],
      ['mid_session_time', 5, '2018-02-06'],
    ]);
    expect(result.issues[0].message).toBe(
      `date "2018-02-01 08:00:00" is stamped 08:00 New York time, before the 09:30 open of the 2018-02-01 session (09:30 to 16:00): none of that session had traded, so the bar is an earlier session's (stamped the next morning) or a pre-market one, not the 2018-02-01 bar; export daily bars stamped at midnight, at the close or after it`,
    );
    expect(result.issues[2].message).toContain('stamped 08:00 New York time, before the 09:30 open of the 2018-02-05 session');
  });

  it.each([
    ['2017-01-03 16:00:00'],
    ['2017-01-03 09:30:00'],
    ['2017-01-03 00:00:00'],
    ['2017-01-03 17:15'],
    ['2017-01-03T00:00:00.000Z'],
    ['2017-01-03T00:00:00Z'],
    ['2017-01-03T00:00Z'],
    ['2017-11-24 13:00:00'],
    ['2017-01-03'],
  ])('reads %j as the bar of its date (a stamp at midnight, the open, the close or after it)', (stamp) => {
    const result = readBarCsv(`${HEADER}\n${stamp},10,11,9,10.5,100\n`, { source: '/x/ibm.us.csv' });
    expect(result.issues).toEqual([]);
    expect(result.bars.map((b) => b.date)).toEqual([stamp.slice(0, 10)]);
  });

  it.each([
    ['2014-04-21T04:00:00Z', 'New York midnight of the date (EDT), or of the day after the session on the next date: which one the vendor meant is unknown'],
    ['2014-04-22T03:00:00Z', 'the evening of 2014-04-21 in New York, read as 2014-04-22 before'],
    ['2017-01-03T05:00:00Z', 'New York midnight (EST)'],
    ['2017-01-03T21:00:00Z', 'the close, in UTC'],
    ['2017-07-05T14:00:00Z', 'mid-session, in UTC'],
    ['2017-01-03T00:00:01Z', 'a second after UTC midnight'],
    ['2017-01-03 00:00:00.5Z', 'half a second after it'],
  ])('refuses %j, a UTC time other than midnight (%s), as a UTC offset is refused (invalid_date, saying why)', (stamp) => {
    const result = readBarCsv(`${HEADER}\n${stamp},10,11,9,10.5,100\n`, { source: '/x/ibm.us.csv' });
    expect(result.bars).toEqual([]);
    expect(result.issues.map((i) => [i.rule, i.line])).toEqual([['invalid_date', 2]]);
    expect(result.issues[0].message).toBe(
      `date "${stamp}" is a UTC time (Z), which is not read, as a UTC offset is not: the New York trading day a daily bar stamped so belongs to depends on what the vendor meant (04:00Z or 05:00Z is New York's midnight, which some vendors write after the session, on the next day's date; 21:00Z is the close); only UTC midnight (00:00Z) is read as the date's label. Write the exchange-local date`,
    );
    // A UTC offset is refused alike.
    const offset = readBarCsv(`${HEADER}\n2014-04-21T21:00:00+02:00,10,11,9,10.5,100\n`, { source: '/x/ibm.us.csv' });
    expect(offset.issues.map((i) => [i.rule, i.message])).toEqual([['invalid_date', 'date "2014-04-21T21:00:00+02:00" has a UTC offset, which is not read (its New York trading day would depend on converting it); write the exchange-local date']]);
  });

  it('refuses a UTC time other than midnight in a Time column, and reads 00:00Z there', () => {
    const text = ['Date,Time,Open,High,Low,Close,Volume', '2018-02-05,04:00Z,10,11,9,10.5,100', '2018-02-06,21:00:00Z,10,11,9,10.5,100', '2018-02-07,00:00Z,10,11,9,10.5,100'].join('\n');
    const result = readBarCsv(text, { source: '/x/ibm.us.csv' });
    expect(result.bars.map((b) => b.date)).toEqual(['2018-02-07']);
    expect(result.issues.map((i) => [i.rule, i.line, i.date])).toEqual([
      ['invalid_date', 2, '2018-02-05'],
      ['invalid_date', 3, '2018-02-06'],
    ]);
    expect(result.issues[1].message).toMatch(/^time "21:00:00Z" in column 2 "Time" is a UTC time \(Z\), which is not read, as a UTC offset is not/);
  });

  it('reads the time of a Time column as a time in the date: a bar taken during its session is rejected, one at or after the close read', () => {
    const text = ['Date,Time,Open,High,Low,Close,Volume', '2018-02-05,16:00:00,10,11,9,10.5,100', '2018-02-06,,10,11,9,10.5,100', '20180207,11:30:00,10,11,9,10.6,40', '2018-02-08,9:45,10,11,9,10.6,40', '2018-02-09,00:00:00Z,10,11,9,10.5,100', '2018-02-12,17:05,10,11,9,10.5,100'].join('\n');
    const result = readBarCsv(text, { source: '/x/ibm.us.csv' });
    expect(result.bars.map((b) => b.date)).toEqual(['2018-02-05', '2018-02-06', '2018-02-09', '2018-02-12']);
    expect(result.issues.map((i) => [i.rule, i.line, i.date])).toEqual([
      ['mid_session_time', 4, '2018-02-07'],
      ['mid_session_time', 5, '2018-02-08'],
    ]);
    expect(result.issues[0].message).toBe(
      `date 2018-02-07 with time "11:30:00" (column "Time") is stamped 11:30 New York time, inside the 2018-02-07 session (09:30 to 16:00): the bar was taken before the close, so its close is a mid-session price and its volume part of the day's; export daily bars after the close`,
    );
  });

  it('rejects a row whose Time cell is no time of day, saying so', () => {
    const result = readBarCsv('Date,Time,Open,High,Low,Close,Volume\n2018-02-05,3pm,10,11,9,10.5,100\n', { source: '/x/ibm.us.csv' });
    expect(result.bars).toEqual([]);
    expect(result.issues.map((i) => [i.rule, i.message])).toEqual([['invalid_date', 'time "3pm" in column 2 "Time" is not a time of day (HH:MM[:SS], 4:00 PM or 1600, New York, or UTC midnight 00:00Z; a UTC offset or another UTC time is not read), so whether the bar was taken before the close is unknown']]);
  });

  it.each([
    ['4:00 PM', true],
    ['4:00:00 p.m.', true],
    ['1600', true],
    ['12:00 AM', true],
    ['8:00 AM', false],
    ['0800', false],
    ['11:30 AM', false],
    ['1130', false],
    ['1:30 PM', false],
  ])('reads the Time cell %j (after the close: %s)', (time, read) => {
    const result = readBarCsv(`Date,Time,Open,High,Low,Close,Volume\n2018-02-07,${time},10,11,9,10.5,100\n`, { source: '/x/ibm.us.csv' });
    expect(result.bars.length === 1).toBe(read);
    if (!read) expect(result.issues.map((i) => i.rule)).toEqual(['mid_session_time']);
  });
});

describe('readBarCsv: a file cut off inside its last row', () => {
  const rows = ['Date,Open,High,Low,Close,Volume', '2018-02-05,150.1,151.2,149.5,150.3,6534032', '2018-02-06,150.3,152,149.9,151.8,5971012', '2018-02-07,151.8,153.1,151,152.6,6120441'];
  const stooq = { source: '/data/ibm.us.csv' };

  it('rejects the last row when the text ends inside it and its last field is shorter than in every other row (truncated_row)', () => {
    for (const cut of [rows.join('\n').slice(0, -5), rows.join('\r\n').slice(0, -6)]) {
      const read = readBarCsv(cut, stooq);
      expect(read.bars.map((b) => b.date)).toEqual(['2018-02-05', '2018-02-06']);
      expect(brief(read)).toEqual([{ rule: 'truncated_row', line: 4, raw: expect.stringMatching(/^2018-02-07,151\.8,153\.1,151,152\.6,6\d?$/), source: '/data/ibm.us.csv' }]);
      expect(read.issues[0].message).toMatch(/the file ends inside this row, without a line break, and its last field "6\d?" is shorter than in any other row \(7 characters or more\)/);
    }
    // A symbol column cut short (IB of IBM) would have stored a bar under another symbol.
    const kaggle = 'date,open,high,low,close,volume,Name\n2018-02-05,1,2,0.5,1.5,100,IBM\n2018-02-06,1,2,0.5,1.5,100,IBM\n2018-02-07,1,2,0.5,1.5,100,IB';
    expect(readBarCsv(kaggle, { source: SRC }).bars.map((b) => b.symbol)).toEqual(['IBM', 'IBM']);
    expect(readBarCsv(kaggle, { source: SRC }).issues[0].message).toMatch(/its symbol "IB" is in no other row but starts IBM's/);
  });

  it('keeps a complete last row without a line break, and any last row of a file that ends with one', () => {
    expect(readBarCsv(rows.join('\n'), stooq).bars).toHaveLength(3);
    expect(readBarCsv(`${rows.join('\n').slice(0, -5)}\n`, stooq).bars).toHaveLength(3);
    expect(readBarCsv(rows.slice(0, 2).join('\n').slice(0, -5), stooq).bars).toHaveLength(1);
    // A short symbol ending a long file with rows of it elsewhere is complete (A after AAPL, and A on another row).
    const long = 'date,open,high,low,close,volume,Name\n2018-02-05,1,2,0.5,1.5,100,A\n2018-02-05,1,2,0.5,1.5,100,AAPL\n2018-02-06,1,2,0.5,1.5,100,AAPL\n2018-02-06,1,2,0.5,1.5,100,A';
    expect(readBarCsv(long, { source: SRC }).bars.map((b) => b.symbol)).toEqual(['A', 'AAPL', 'AAPL', 'A']);
    // A complete symbol shorter than every other one (GE after AAPL and IBM) is no cut-off IBM; IB among GE and IBM is.
    expect(readBarCsv('date,open,high,low,close,volume,Name\n2018-02-05,1,2,0.5,1.5,100,AAPL\n2018-02-05,1,2,0.5,1.5,100,IBM\n2018-02-05,1,2,0.5,1.5,100,GE', { source: SRC }).bars).toHaveLength(3);
    expect(readBarCsv('date,open,high,low,close,volume,Name\n2018-02-05,1,2,0.5,1.5,100,IBM\n2018-02-05,1,2,0.5,1.5,100,GE\n2018-02-06,1,2,0.5,1.5,100,IB', { source: SRC }).bars.map((b) => b.symbol)).toEqual(['IBM', 'GE']);
  });

  it('says how an unterminated last row would revise a stored bar only where its last field is the start of the stored value (or the symbol is last)', () => {
    const stored = { open: 164.46, high: 165.4, low: 161.3, close: 162.37, volume: 21_172_488 };
    const bar = (raw: string, values: Partial<typeof stored>) => ({ symbol: 'IBM', date: '2018-01-19', source: '/x', line: 5, raw, ...stored, ...values });
    expect(cutFromStored(bar('2018-01-19,164.46,165.4,161.3,162.37,2117248', { volume: 2_117_248 }), stored)).toBe('volume 21172488 → 2117248');
    expect(cutFromStored(bar('2018-01-19,164.46,165.4,161.3,162.5,21172488', { close: 162.5 }), stored)).toBeUndefined(); // a correction
    expect(cutFromStored(bar('2018-01-19,164.46,165.4,161.3,162.37,21172489', { volume: 21_172_489 }), stored)).toBeUndefined();
    expect(cutFromStored(bar('2018-01-19,164.46,165.4,161.3,162.37,21172488', {}), stored)).toBeUndefined();
    // With the symbol last, any difference: GOOG may be GOOGL cut.
    expect(cutFromStored(bar('2018-01-19,164.46,165.4,161.3,162.5,21172488,IBM', { close: 162.5 }), stored)).toBe('close 162.37 → 162.5');
  });

  it('rejects a numeric last field cut by a digit on an ordinary day: an eighth of its rows\' median or less, and shorter', () => {
    const days = Array.from({ length: 25 }, (_, i) => `2018-01-${String(i + 2).padStart(2, '0')}`);
    // One half-day of 6 digits: the cut row's 6 digits are not shorter than every other row's.
    const volumes = days.map((_, i) => (i === 3 ? 900_000 : 4_000_000 + ((i * 37_813) % 900_000) + (i % 5 === 0 ? 6_000_000 : 0)));
    const text = ['Date,Open,High,Low,Close,Volume', ...days.map((d, i) => `${d},10,11,9,10.5,${volumes[i]}`)].join('\n');
    const cut = text.slice(0, -1); // 4,xxx,xxx → 4xx,xxx: under a fifth of the median, one digit shorter
    const read = readBarCsv(cut, stooq);
    expect(read.bars).toHaveLength(24);
    expect(brief(read)).toEqual([{ rule: 'truncated_row', line: 26, raw: expect.any(String), source: '/data/ibm.us.csv' }]);
    expect(read.issues[0].message).toMatch(/is 1\/8 or less of the median of IBM's 20 rows before it/);
    // On an NYSE early close (Christmas Eve) a volume that low is the session's own: kept.
    const before = nyseTradingDaysBetween('2018-11-01', '2018-12-21').slice(-24);
    const early = ['Date,Open,High,Low,Close,Volume', ...before.map((d, i) => `${d},10,11,9,10.5,${volumes[i]}`), '2018-12-24,10,11,9,10.5,400751'].join('\n');
    expect(readBarCsv(early, stooq).bars).toHaveLength(25);
    // The whole file, without a line break: kept, and marked as a row the import keeps from revising a stored bar.
    const whole = readBarCsv(text, stooq);
    expect(whole.bars).toHaveLength(25);
    expect(whole.unterminated?.date).toBe(days[24]);
    expect(readBarCsv(`${text}\n`, stooq).unterminated).toBeUndefined();
  });
});

describe('declared splits', () => {
  it('gives the rows whose split column states a split, read with adjust or not, and none for a file without one', () => {
    const text = 'Date,Open,High,Low,Close,Volume,Split Ratio\n2017-01-03,10,11,9,10,1000,1.0\n2017-01-04,100,110,90,100,500,0.1\n2017-01-05,101,111,91,101,400,\n2017-01-06,102,112,92,102,400,0\n';
    expect(readBarCsv(text, { source: 'ABC.csv' }).declaredSplits).toEqual([{ symbol: 'ABC', date: '2017-01-04', ratio: 0.1 }]);
    const yfinance = 'Date,Open,High,Low,Close,Volume,Stock Splits\n2017-01-03,10,11,9,10,1000,0\n2017-01-04,5,5.5,4.5,5,2000,2\n';
    expect(readBarCsv(yfinance, { source: 'XYZ.csv' }).declaredSplits).toEqual([{ symbol: 'XYZ', date: '2017-01-04', ratio: 2 }]);
    expect(readBarCsv('Date,Open,High,Low,Close,Volume\n2017-01-03,10,11,9,10,1000\n', { source: 'ABC.csv' }).declaredSplits).toBeUndefined();
  });
});
