import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { parseDate, readBarCsv, readPriceTable, slashDateEvidence, UnreadableSourceError } from '../../lib/market-data/csv-reader';

const SRC = '/x/zts.csv';
const HEADER = 'Date,Open,High,Low,Close,Volume';
const DAYS = nyseTradingDaysBetween('2017-01-03', '2017-03-31');

/** `2017-01-05` as D/M/YYYY (5/1/2017) or M/D/YYYY (1/5/2017), without zero padding, as spreadsheets write them. */
const slash = (iso: string, order: 'dmy' | 'mdy'): string => {
  const [y, m, d] = iso.split('-').map(Number);
  return order === 'dmy' ? `${d}/${m}/${y}` : `${m}/${d}/${y}`;
};
const row = (date: string, i: number): string => `${date},${10 + i},${12 + i},${9 + i},${11 + i},${100 + i}`;
const csv = (dates: readonly string[]): string => [HEADER, ...dates.map(row)].join('\n') + '\n';

describe('slash dates: one order per file', () => {
  it('reads a European D/M/YYYY file as D/M/YYYY, days 1-12 included, not swapped row by row', () => {
    const result = readBarCsv(csv(DAYS.map((d) => slash(d, 'dmy'))), { source: SRC });
    expect(result.issues).toEqual([]);
    expect(result.bars.map((b) => b.date)).toEqual(DAYS);
    // 2017-01-13 is the first day whose first part is above 12: line 10 shows the order.
    expect(result.slashDates).toEqual({ order: 'D/M/YYYY', assumed: false, line: 10 });
  });

  it('decides from any row of the file, also one after the ambiguous rows and one rejected for another cause', () => {
    // Only the last row has a day above 12, and its price is broken: it still tells the order.
    const dates = ['3/1/2017', '4/1/2017', '5/1/2017', '13/1/2017'];
    const text = [HEADER, row(dates[0], 0), row(dates[1], 1), row(dates[2], 2), `${dates[3]},x,12,9,11,100`].join('\n');
    const result = readBarCsv(text, { source: SRC });
    expect(result.bars.map((b) => b.date)).toEqual(['2017-01-03', '2017-01-04', '2017-01-05']);
    expect(result.issues.map((i) => [i.rule, i.line, i.date])).toEqual([['non_numeric', 5, '2017-01-13']]);
  });

  it('reads a US M/D/YYYY file as before', () => {
    const result = readBarCsv(csv(DAYS.map((d) => slash(d, 'mdy'))), { source: SRC });
    expect(result.issues).toEqual([]);
    expect(result.bars.map((b) => b.date)).toEqual(DAYS);
    expect(result.slashDates).toEqual({ order: 'M/D/YYYY', assumed: false, line: 10 });
  });

  it('lets the calendar decide when no row tells (every part 12 or less): a short D/M file is not read as M/D', () => {
    // 1-10 March 2017 written D/M: read M/D they would be 3 January, 3 February, … (scattered, some on weekends).
    const march = nyseTradingDaysBetween('2017-03-01', '2017-03-10');
    const dmy = readBarCsv(csv(march.map((d) => slash(d, 'dmy'))), { source: SRC });
    expect(dmy.issues).toEqual([]);
    expect(dmy.bars.map((b) => b.date)).toEqual(march);
    expect(dmy.slashDates).toMatchObject({ order: 'D/M/YYYY', assumed: false, byCalendar: { asDmy: 8 } });
    // The same days written M/D: read so.
    const mdy = readBarCsv(csv(march.map((d) => slash(d, 'mdy'))), { source: SRC });
    expect(mdy.bars.map((b) => b.date)).toEqual(march);
    expect(mdy.slashDates).toMatchObject({ order: 'M/D/YYYY', assumed: false, byCalendar: { asMdy: 8 } });
    // Three rows that are consecutive trading days only as D/M (1-3 March), monthly as M/D.
    expect(readBarCsv(csv(['1/3/2017', '2/3/2017', '3/3/2017']), { source: SRC }).bars.map((b) => b.date)).toEqual(['2017-03-01', '2017-03-02', '2017-03-03']);
    // Dates that read the same either way need no decision; ISO files have no slash dates to speak of.
    expect(readBarCsv(csv(['1/1/2018', '2/2/2018']), { source: SRC }).slashDates).toEqual({ order: 'M/D/YYYY', assumed: false, line: null });
    expect(readBarCsv(csv(['2017-01-03']), { source: SRC }).slashDates).toBeUndefined();
  });

  it('refuses a file that fits the calendar as well either way, saying so', () => {
    // 6 March (a Monday) and 3 June (a Saturday), whichever way round.
    const result = readBarCsv(csv(['3/6/2017', '6/3/2017']), { source: SRC });
    expect(result.bars).toEqual([]);
    expect(result.issues.map((i) => i.rule)).toEqual(['ambiguous_date_order']);
    expect(result.unreadable).toMatch(/no part above 12, so which one is the day is unknown, and both readings fit the NYSE calendar as well \(1 row on trading days, 0 on the trading day after the row before\); export the dates as YYYY-MM-DD/);
  });

  it('refuses a file whose slash dates are in both orders, naming a row of each', () => {
    const text = csv(['3/1/2017', '13/1/2017', '1/17/2017', '1/18/2017']);
    const result = readBarCsv(text, { source: SRC });
    expect(result.bars).toEqual([]);
    expect(result.rowsRead).toBe(4);
    expect(result.issues.map((i) => [i.rule, i.line, i.raw])).toEqual([['ambiguous_date_order', 3, row('13/1/2017', 1)]]);
    expect(result.unreadable).toBe(
      'its slash dates are in both orders: line 3 "13/1/2017" can only be D/M/YYYY (its first part is above 12) and line 4 "1/17/2017" can only be M/D/YYYY (its second part is above 12), so which part of the other rows\' dates is the day is unknown; export the dates as YYYY-MM-DD',
    );
    let thrown: unknown;
    try {
      readPriceTable(text, { source: SRC });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(UnreadableSourceError);
    expect(thrown).toMatchObject({ rule: 'ambiguous_date_order', code: 'UNREADABLE_SOURCE' });
    expect((thrown as Error).message).toMatch(/^Cannot read \/x\/zts\.csv as a price table: its slash dates are in both orders: line 3 "13\/1\/2017" .* line 4 "1\/17\/2017"/);
  });

  it('rejects a slash date valid in neither order, saying which order the file is read in', () => {
    const dmy = readBarCsv(csv(['13/1/2017', '31/2/2017']), { source: SRC });
    expect(dmy.bars.map((b) => b.date)).toEqual(['2017-01-13']);
    expect(dmy.issues.map((i) => [i.rule, i.line, i.message])).toEqual([
      ['invalid_date', 3, 'date "31/2/2017" is not a valid date (this file\'s slash dates are read as D/M/YYYY, as line 2 "13/1/2017" can only be read so; this one is valid in neither order)'],
    ]);
    const mdy = readBarCsv(csv(['1/17/2017', '13/13/2017']), { source: SRC });
    expect(mdy.issues.map((i) => [i.rule, i.message])).toEqual([
      ['invalid_date', 'date "13/13/2017" is not a valid date (slash dates are read as M/D/YYYY, or as D/M/YYYY in a file with a row that can only be read so; this one is valid in neither order)'],
    ]);
  });

  it('works with a symbol column and an explicit mapping, mixed with ISO dates', () => {
    const mapping = { symbol: 'Ticker', date: 'Day', open: 'O', high: 'H', low: 'L', close: 'C', volume: 'V' };
    const text = ['Ticker,Day,O,H,L,C,V', 'SPY,2017-01-03,1,2,0.5,1,10', 'SPY,4/1/2017,1,2,0.5,1,10', 'SPY,20/1/2017,1,2,0.5,1,10'].join('\n');
    expect(readBarCsv(text, { source: SRC, mapping }).bars.map((b) => [b.symbol, b.date])).toEqual([
      ['SPY', '2017-01-03'],
      ['SPY', '2017-01-04'],
      ['SPY', '2017-01-20'],
    ]);
  });
});

describe('slash dates: a declared order (dateOrder)', () => {
  it('reads every row in the declared order, also a short file the calendar would read the other way', () => {
    // 1-3 March written D/M is consecutive trading days; declared M/D it is 3 January, 3 February, 3 March.
    const text = csv(['1/3/2017', '2/3/2017', '3/3/2017']);
    const mdy = readBarCsv(text, { source: SRC, dateOrder: 'M/D/YYYY' });
    expect(mdy.bars.map((b) => b.date)).toEqual(['2017-01-03', '2017-02-03', '2017-03-03']);
    expect(mdy.slashDates).toEqual({ order: 'M/D/YYYY', assumed: false, line: null, declared: true });
    const dmy = readBarCsv(text, { source: SRC, dateOrder: 'D/M/YYYY' });
    expect(dmy.bars.map((b) => b.date)).toEqual(['2017-03-01', '2017-03-02', '2017-03-03']);
    expect(dmy.slashDates).toEqual({ order: 'D/M/YYYY', assumed: false, line: null, declared: true });
    // A file the calendar cannot decide is read as declared instead of refused.
    expect(readBarCsv(csv(['3/6/2017', '6/3/2017']), { source: SRC, dateOrder: 'D/M/YYYY' }).bars.map((b) => b.date)).toEqual(['2017-06-03', '2017-03-06']);
    // A whole file that confirms it.
    expect(readBarCsv(csv(DAYS.map((d) => slash(d, 'dmy'))), { source: SRC, dateOrder: 'D/M/YYYY' }).bars.map((b) => b.date)).toEqual(DAYS);
  });

  it('refuses a file with a row that can only be read the other way, naming it', () => {
    const text = csv(DAYS.map((d) => slash(d, 'dmy')));
    const result = readBarCsv(text, { source: SRC, dateOrder: 'M/D/YYYY' });
    expect(result.bars).toEqual([]);
    expect(result.issues.map((i) => [i.rule, i.line])).toEqual([['ambiguous_date_order', 10]]);
    expect(result.unreadable).toBe('its slash dates were declared M/D/YYYY (dateOrder), but line 10 "13/1/2017" can only be D/M/YYYY (its first part is above 12); correct the declaration or export the dates as YYYY-MM-DD');
    expect(() => readPriceTable(csv(['3/1/2017', '1/17/2017']), { source: SRC, dateOrder: 'D/M/YYYY' })).toThrow(/declared D\/M\/YYYY \(dateOrder\), but line 3 "1\/17\/2017" can only be M\/D\/YYYY/);
    // Both orders in one file: the row against the declaration is named.
    expect(readBarCsv(csv(['13/1/2017', '1/17/2017']), { source: SRC, dateOrder: 'D/M/YYYY' }).unreadable).toMatch(/line 3 "1\/17\/2017"/);
  });

  it('says the order was declared when a date is valid in neither, and leaves ISO dates alone', () => {
    const result = readBarCsv(csv(['3/1/2017', '31/2/2017', '2017-01-04']), { source: SRC, dateOrder: 'D/M/YYYY' });
    expect(result.bars.map((b) => b.date)).toEqual(['2017-01-03', '2017-01-04']);
    expect(result.issues.map((i) => i.message)).toEqual(['date "31/2/2017" is not a valid date (this file\'s slash dates are read as D/M/YYYY, as declared (dateOrder); this one is valid in neither order)']);
    expect(readBarCsv(csv(['2017-01-03']), { source: SRC, dateOrder: 'D/M/YYYY' }).slashDates).toBeUndefined();
  });
  it('refuses a file whose appended rows are in the other order (parts 12 or less), naming the first; a gap of a week or two is no such row', () => {
    // December 2016 as M/D (12/30/2016 shows the order), then 3-12 January 2017 appended as D/M.
    const december = nyseTradingDaysBetween('2016-12-01', '2016-12-30');
    const january = nyseTradingDaysBetween('2017-01-03', '2017-01-12');
    const text = csv([...december.map((d) => slash(d, 'mdy')), ...january.map((d) => slash(d, 'dmy'))]);
    const mixed = readBarCsv(text, { source: SRC });
    expect(mixed.bars).toEqual([]);
    expect(mixed.issues.map((q) => [q.rule, q.line])).toEqual([['ambiguous_date_order', december.length + 2]]);
    expect(mixed.unreadable).toMatch(/two orders: .* line \d+ "3\/1\/2017": 2017-03-01 as M\/D\/YYYY, 2017-01-03 as D\/M\/YYYY/);
    // Declared, it is refused all the same; descending, too.
    expect(readBarCsv(text, { source: SRC, dateOrder: 'M/D/YYYY' }).issues.map((q) => q.rule)).toEqual(['ambiguous_date_order']);
    expect(readBarCsv(csv([...december.map((d) => slash(d, 'mdy')), ...january.map((d) => slash(d, 'dmy'))].reverse()), { source: SRC }).issues.map((q) => q.rule)).toEqual(['ambiguous_date_order']);
    // One order throughout, with two weeks missing: read as written.
    const gapped = [...december.slice(0, 5), ...december.slice(15), ...january];
    expect(readBarCsv(csv(gapped.map((d) => slash(d, 'mdy'))), { source: SRC }).bars.map((b) => b.date)).toEqual(gapped);
  });
});

describe('parseDate and slashDateEvidence', () => {
  it.each([
    ['5/1/2017', 'M/D/YYYY', '2017-05-01'],
    ['5/1/2017', 'D/M/YYYY', '2017-01-05'],
    ['05/01/2017', 'D/M/YYYY', '2017-01-05'],
    ['29/2/2016', 'D/M/YYYY', '2016-02-29'],
    ['2017-01-05', 'D/M/YYYY', '2017-01-05'],
  ] as const)('%s read as %s is %s', (text, order, iso) => {
    expect(parseDate(text, order)).toBe(iso);
  });

  it('gives the order a slash date can only be read in', () => {
    expect(slashDateEvidence('13/1/2017')).toBe('D/M/YYYY');
    expect(slashDateEvidence('1/13/2017')).toBe('M/D/YYYY');
    expect(slashDateEvidence('1/12/2017')).toBeUndefined();
    expect(slashDateEvidence('13/13/2017')).toBeUndefined();
    expect(slashDateEvidence('31/2/2017')).toBeUndefined(); // valid in neither order: tells nothing
    expect(slashDateEvidence('2017-01-13')).toBeUndefined();
  });
});
