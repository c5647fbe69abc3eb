import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import type { CandidateBar } from '../../lib/market-data/csv-reader';
import { DEFAULT_MAX_FILE_BAD_ROW_SHARE, fileBadRowShareLimit, MIN_FILE_REJECTED_ROWS, qualityPolicySchema } from '../../lib/quality/policy';
import { checkQuality, evaluateQualityGate } from '../../lib/quality/report';
import { issue, type QualityIssue } from '../../lib/quality/rules-catalog';

const DAYS = nyseTradingDaysBetween('2017-01-03', '2017-12-29');
const POLICY = { ...qualityPolicySchema.parse({}), minHistoryBars: 1 };
const NOW = () => new Date('2018-06-01T12:00:00Z');

function bars(symbol: string, source: string, n: number): CandidateBar[] {
  return DAYS.slice(0, n).map((date, i) => {
    const close = 20 + Math.sin(i / 5);
    return { symbol, date, open: close, high: close + 1, low: close - 1, close, volume: 100, source, line: i + 2, raw: `${date},${close}` };
  });
}

/** `n` rows of `source` the reader rejected (invalid_date), lines from `from`. */
function readRejections(symbol: string, source: string, n: number, from: number): QualityIssue[] {
  return Array.from({ length: n }, (_, k) => issue('invalid_date', { symbol, date: null, source, line: from + k, message: 'date "13/13/2017" is not a valid date', raw: '13/13/2017,1,2,0.5,1,10' }));
}

describe('per-file rejected share', () => {
  // 40 good files of 250 rows; ZTS: 100 rows read, 30 rejected by the reader (30% > 20%), 70 passed.
  const good = Array.from({ length: 40 }, (_, k) => bars(`S${k}`, `/d/s${k}.csv`, 250)).flat();
  const zts = bars('ZTS', '/d/ZTS.csv', 70);
  const ztsRejected = readRejections('ZTS', '/d/ZTS.csv', 30, 72);
  const rowsRead = good.length + 100;

  it('rejects a file whose rows are rejected above the limit, although the import-wide share is small', () => {
    const checked = checkQuality([...good, ...zts], ztsRejected, rowsRead, POLICY, { now: NOW });
    expect(checked.report.badRowShare).toBeLessThan(POLICY.maxBadRowShare); // 100 of 10,100: the old gate let it through
    expect(checked.accepted.some((b) => b.symbol === 'ZTS')).toBe(false);
    expect(checked.accepted).toHaveLength(good.length);
    const fileIssue = checked.issues.filter((i) => i.rule === 'file_bad_row_share');
    expect(fileIssue).toEqual([
      {
        rule: 'file_bad_row_share',
        severity: 'reject',
        symbol: 'ZTS',
        date: null,
        source: '/d/ZTS.csv',
        line: 72,
        raw: null,
        message: 'file rejected whole: 30 of its 100 rows for ZTS were rejected (30.00%), above the per-file limit of 20.00% (invalid_date: 30; first at line 72, invalid_date); its rows that passed are not trusted either, and the import fails',
      },
    ]);
    const survivors = checked.issues.filter((i) => i.rule === 'file_rejected');
    expect(survivors.map((i) => i.line)).toEqual(zts.map((b) => b.line));
    expect(survivors[0].message).toMatch(/^this row passed, but its file is rejected whole: 30 of its 100 rows for ZTS were rejected/);
    expect(checked.report.byRule).toMatchObject({ invalid_date: 30, file_rejected: 70, file_bad_row_share: 1 });
    // The file-level finding rejects no row of its own: every row is accepted or rejected once.
    expect(checked.report.rowsAccepted + checked.report.rowsRejected).toBe(rowsRead);
    expect(checked.report.bySymbol.ZTS.rejectedFiles).toEqual([{ source: '/d/ZTS.csv', symbol: 'ZTS', rowsRead: 100, rowsRejected: 30, top: 'invalid_date: 30', firstLine: 72, firstRule: 'invalid_date' }]);

    const verdict = evaluateQualityGate(checked.report);
    expect(verdict.passed).toBe(false);
    expect(verdict.reasons[0]).toBe('file /d/ZTS.csv rejected whole: 30 of its 100 rows for ZTS were rejected (30.00%), above the per-file limit of 20.00% (invalid_date: 30; first at line 72, invalid_date)');
  });

  it('counts row-rule rejections as well as the reader\'s', () => {
    // 10 of 40 rows on a Sunday-shifted date: non_trading_day, 25% of the file.
    const shifted = bars('ABC', '/d/abc.csv', 40).map((b, i) => (i % 4 === 3 ? { ...b, date: '2017-01-08' } : b));
    const checked = checkQuality([...good, ...shifted], [], good.length + 40, POLICY, { now: NOW });
    expect(checked.report.byRule).toMatchObject({ file_bad_row_share: 1, file_rejected: 30 });
    expect(evaluateQualityGate(checked.report).reasons[0]).toMatch(/^file \/d\/abc\.csv rejected whole: 10 of its 40 rows for ABC were rejected \(25\.00%\)/);
  });

  it('keeps a file at or under the limit, and one with fewer rejected rows than MIN_FILE_REJECTED_ROWS', () => {
    const atLimit = checkQuality([...good, ...bars('ZTS', '/d/ZTS.csv', 80)], readRejections('ZTS', '/d/ZTS.csv', 20, 82), good.length + 100, POLICY, { now: NOW });
    expect(atLimit.report.byRule.file_bad_row_share).toBeUndefined();
    expect(atLimit.accepted.filter((b) => b.symbol === 'ZTS')).toHaveLength(80);
    expect(evaluateQualityGate(atLimit.report).passed).toBe(true);
    // A daily update: one row per file, one of them bad. 100% of that file, but one row says nothing of it.
    const tiny = checkQuality(good, readRejections('ONE', '/d/one.csv', MIN_FILE_REJECTED_ROWS - 1, 2), good.length + MIN_FILE_REJECTED_ROWS - 1, POLICY, { now: NOW });
    expect(tiny.report.byRule.file_bad_row_share).toBeUndefined();
    const five = checkQuality(good, readRejections('ONE', '/d/one.csv', MIN_FILE_REJECTED_ROWS, 2), good.length + MIN_FILE_REJECTED_ROWS, POLICY, { now: NOW });
    expect(five.report.byRule.file_bad_row_share).toBe(1);
    expect(evaluateQualityGate(five.report).passed).toBe(false);
  });

  it('judges each file on its own, naming every file rejected', () => {
    const other = bars('XYZ', '/d/xyz.csv', 10);
    const checked = checkQuality([...good, ...zts, ...other], [...ztsRejected, ...readRejections('XYZ', '/d/xyz.csv', 10, 12)], rowsRead + 20, POLICY, { now: NOW });
    expect(checked.issues.filter((i) => i.rule === 'file_bad_row_share').map((i) => i.source)).toEqual(['/d/ZTS.csv', '/d/xyz.csv']);
    const reasons = evaluateQualityGate(checked.report).reasons;
    expect(reasons.filter((r) => r.startsWith('file '))).toEqual([expect.stringMatching(/^file \/d\/ZTS\.csv rejected whole/), expect.stringMatching(/^file \/d\/xyz\.csv rejected whole: 10 of its 20 rows for XYZ/)]);
  });
});

describe('the per-file limit setting', () => {
  it('is 20% by default, never stricter than the import limit, and can be set', () => {
    expect(DEFAULT_MAX_FILE_BAD_ROW_SHARE).toBe(0.2);
    expect(fileBadRowShareLimit(qualityPolicySchema.parse({}))).toBe(0.2);
    expect(fileBadRowShareLimit(qualityPolicySchema.parse({ maxBadRowShare: 0.5 }))).toBe(0.5);
    expect(fileBadRowShareLimit(qualityPolicySchema.parse({ maxBadRowShare: 0.5, maxFileBadRowShare: 0.1 }))).toBe(0.1);
    // Not filled in when absent, so the snapshot ids of requests without it do not change.
    expect('maxFileBadRowShare' in qualityPolicySchema.parse({})).toBe(false);
    expect(qualityPolicySchema.safeParse({ maxFileBadRowShare: 1.5 }).success).toBe(false);
  });

  it('follows the policy: a looser import limit keeps a 30% file, an explicit per-file limit rejects it', () => {
    const good = bars('S0', '/d/s0.csv', 250);
    const rows = [...good, ...bars('ZTS', '/d/ZTS.csv', 70)];
    const rejected = readRejections('ZTS', '/d/ZTS.csv', 30, 72);
    expect(checkQuality(rows, rejected, 350, { ...POLICY, maxBadRowShare: 0.5 }, { now: NOW }).report.byRule.file_bad_row_share).toBeUndefined();
    const strict = checkQuality(rows, rejected, 350, { ...POLICY, maxBadRowShare: 0.5, maxFileBadRowShare: 0.25 }, { now: NOW });
    expect(evaluateQualityGate(strict.report).reasons).toEqual([expect.stringMatching(/^file \/d\/ZTS\.csv rejected whole: .* above the per-file limit of 25\.00%/)]);
  });
});
