/**
 * The live stream and a one-row CSV update judge the same row alike: every rule of
 * lib/quality/rules-catalog.ts that a single row can break, through both paths, with the same text
 * for each field. The live path once skipped price_field_glitch (its pre-check lacked it) and read
 * exponent notation a spreadsheet had rounded (1.55e+2 for 154.89) as the price.
 */
import { readPriceTable } from '../../../lib/market-data/csv-reader';
import { qualityPolicySchema } from '../../../lib/quality/policy';
import { checkQuality } from '../../../lib/quality/report';
import { FILE_LEVEL_RULES, QUALITY_RULES, type QualityRuleId } from '../../../lib/quality/rules-catalog';
import { checkLiveBatch } from '../../../lib/streaming/stream-quality';

const POLICY = qualityPolicySchema.parse({ minHistoryBars: 1 });
// 18:00 New York on Thursday 2 May 2024: that day's session is final.
const EVENING = new Date('2024-05-02T22:00:00Z');
// 14:00 New York the same day: its session is still open.
const AFTERNOON = new Date('2024-05-02T18:00:00Z');

type Row = { symbol: string; date: string; open: string; high: string; low: string; close: string; volume: string };
const BASE: Row = { symbol: 'IBM', date: '2024-05-01', open: '153.85', high: '155.2', low: '152.9', close: '154.89', volume: '2150000' };
type Verdict = QualityRuleId | 'accepted';

function csvVerdict(row: Row, clock: Date): Verdict {
  const text = `date,open,high,low,close,volume,Name\n${row.date},${row.open},${row.high},${row.low},${row.close},${row.volume},${row.symbol}\n`;
  const read = readPriceTable(text, { source: 'update.csv' });
  const checked = checkQuality(read.bars, read.issues, read.rowsRead, POLICY, { now: () => clock });
  // The row's own finding; a one-row file with its row rejected is also over the bad-row share.
  const rejected = checked.issues.filter((i) => i.severity === 'reject' && !FILE_LEVEL_RULES.has(i.rule) && i.rule !== 'file_rejected');
  return rejected[0]?.rule ?? 'accepted';
}

function liveVerdict(row: Row, clock: Date): Verdict {
  // Version 1 (flat text fields): a producer's text reaches the decoder as written.
  const fields: Record<string, string> = { v: '1', ...row, source: 'feed' };
  const checked = checkLiveBatch([{ id: `${clock.getTime()}-0`, fields }], 'bars:live', { now: () => clock });
  return checked.rejected[0]?.rule ?? 'accepted';
}

const CASES: Array<[string, Partial<Row>, Verdict, Date?]> = [
  ['a clean row', {}, 'accepted'],
  ['a price in exact exponent notation (to the cent)', { close: '1.5489e+2' }, 'accepted'],
  ['a price in the shortest exact exponent form', { open: '1e+5', high: '100500', low: '99000', close: '100200' }, 'accepted'],
  ['a volume in exact exponent notation', { volume: '2.150000E+06' }, 'accepted'],
  ['a round volume in its shortest exponent form', { volume: '2.15e6' }, 'accepted'],
  ['an empty close', { close: '' }, 'missing_field'],
  ['a null volume', { volume: 'null' }, 'missing_field'],
  ['text for a price', { high: 'abc' }, 'non_numeric'],
  ['a price beyond the limit', { high: '2e7' }, 'implausible_value'],
  ['a positive price below the minimum', { low: '0.0000005' }, 'implausible_value'],
  ['a volume beyond the limit', { volume: '1e15' }, 'implausible_value'],
  ['a price below the minimum in exponent notation', { low: '5e-7' }, 'implausible_value'],
  ['a close rounded by exponent notation', { close: '1.55e+2' }, 'imprecise_price'],
  ["a close in Excel's 0.00E+00", { close: '1.55E+02' }, 'imprecise_price'],
  ['an open rounded by exponent notation', { open: '1.54E+02' }, 'imprecise_price'],
  ['a close to the cent among prices of four decimals', { open: '153.8523', high: '155.2012', low: '152.9034', close: '1.5489E+02' }, 'imprecise_price'],
  ["a volume in Excel's 0.00E+00", { volume: '2.15E+07' }, 'imprecise_volume'],
  ['a volume rounded by exponent notation', { volume: '2.15e+6' }, 'imprecise_volume'],
  ['an impossible date', { date: '2024-02-30' }, 'invalid_date'],
  ['a date before any exchange', { date: '1799-12-31' }, 'invalid_date'],
  ['a date after the clock', { date: '2024-05-03' }, 'future_date'],
  ["the clock's own unfinished session", { date: '2024-05-02' }, 'session_not_closed', AFTERNOON],
  ['a Saturday', { date: '2024-04-27' }, 'non_trading_day'],
  ['a holiday', { date: '2024-03-29' }, 'non_trading_day'],
  ['a zero low', { low: '0' }, 'non_positive_price'],
  ['a negative open', { open: '-1' }, 'non_positive_price'],
  ['a high below the close', { high: '150' }, 'ohlc_inconsistent'],
  ['a high ten times the close', { high: '1548.9' }, 'price_field_glitch'],
  ['a low a tenth of the close', { low: '15.489' }, 'price_field_glitch'],
  ['an open and high ten times the close', { open: '1538.5', high: '1552' }, 'price_field_glitch'],
  ['a negative volume', { volume: '-5' }, 'negative_volume'],
  ['a symbol that is no ticker', { symbol: 'I B M!' }, 'invalid_symbol'],
];

describe('a row judged by the live stream as by a one-row CSV update', () => {
  it.each(CASES)('%s', (_name, change, expected, clock = EVENING) => {
    const row = { ...BASE, ...change };
    expect({ csv: csvVerdict(row, clock), live: liveVerdict(row, clock) }).toEqual({ csv: expected, live: expected });
  });

  it('covers every rule a single row can break', () => {
    // Rules about a file, a series, several rows or stored bars, or a wire form the stream does not
    // have (a date with a time of day, a header, quoting, line lengths, adjustment).
    const notOneRow = new Set<QualityRuleId>([
      ...FILE_LEVEL_RULES,
      'column_count', 'repeated_header', 'line_too_long', 'field_too_long', 'bad_quoting', 'truncated_row', 'mid_session_time', 'missing_symbol',
      'volume_glitch', 'volume_vanished', 'duplicate_date', 'out_of_order_date', 'one_bar_glitch', 'file_rejected',
    ]);
    const reject = (Object.keys(QUALITY_RULES) as QualityRuleId[]).filter((r) => QUALITY_RULES[r].severity === 'reject' && !notOneRow.has(r));
    const covered = new Set(CASES.map((c) => c[2]));
    expect(reject.filter((r) => !covered.has(r))).toEqual([]);
  });
});
