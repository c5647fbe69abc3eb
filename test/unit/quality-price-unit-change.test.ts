import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import type { Bar } from '../../lib/market-data/bar';
import { unitChangeFinding } from '../../lib/quality/rules';
import { FILE_LEVEL_RULES, QUALITY_RULES, SERIES_LEVEL_RULES } from '../../lib/quality/rules-catalog';
import { unitChangeIssue } from '../../lib/quality/stored-rules';

// A step of every price by a power of ten at the end of a series (a file's last rows, a daily update
// in cents) was published as the newest bars with an extreme_move flag: series_splice needs 20 bars
// after the step.
const DAYS = nyseTradingDaysBetween('2019-01-02', '2019-12-31');

/** `n` bars around 190 with volumes around 4M; from bar `at` on, prices × `price` and volumes × `volume` (`dayVolume` on bar `at` alone). */
function series(n: number, at: number, price: number, volume: number, dayVolume?: number): Bar[] {
  return DAYS.slice(0, n).map((date, i) => {
    const f = i >= at ? price : 1;
    const c = (190 + (i % 7) * 0.9 - (i % 3) * 0.5) * f;
    const v = i === at && dayVolume !== undefined ? dayVolume : Math.round(4e6 * (i >= at ? volume : 1) * (1 + (i % 4) * 0.1));
    return { symbol: 'IBM', date, open: c * 0.998, high: c * 1.01, low: c * 0.99, close: c, volume: v };
  });
}

describe('price_unit_change', () => {
  it('rejects a series whole, as series_splice does', () => {
    expect(QUALITY_RULES.price_unit_change.severity).toBe('reject');
    expect(SERIES_LEVEL_RULES.has('price_unit_change')).toBe(true);
    expect(FILE_LEVEL_RULES.has('price_unit_change')).toBe(true);
  });

  it.each([
    ['×100 (cents), the last row', 100, 1, 'cents'],
    ['×100 (cents), the last 3 rows', 100, 3, 'cents'],
    ['÷100 (dollars after cents), the last row', 0.01, 1, 'dollars after cents'],
    ['×1000, the last 5 rows', 1000, 5, 'other units'],
    ['×10 (a misplaced point), the last row', 10, 1, 'other units'],
    ['÷10, the last 2 rows', 0.1, 2, 'other units'],
  ])('finds every price stepping %s with the volume unchanged, however few rows follow', (_label, factor, tail, unit) => {
    const s = series(60, 60 - tail, factor, 1);
    const found = unitChangeFinding(s, 60 - tail);
    expect(found).toMatch(new RegExp(`about [×÷]${factor >= 1 ? factor : Math.round(1 / factor)}, with open .* moved alike`));
    expect(found).toMatch(/the volume did not move by the inverse/);
    expect(found).toContain(`like prices in ${unit}`);
    // Only at the step: the bars before it and after it are on one level each.
    for (let i = 1; i < 60; i++) if (i !== 60 - tail) expect(unitChangeFinding(s, i)).toBeUndefined();
  });

  it.each([
    ['a 1:10 reverse split (prices ×10, volume ÷10), the last row', 10, 0.1, 1],
    ['a 1:10 reverse split, the last 5 rows', 10, 0.1, 5],
    ['a 10:1 split (prices ÷10, volume ×10), the last 3 rows', 0.1, 10, 3],
    ['a 1:100 reverse split (prices ×100, volume ÷100), the last row', 100, 0.01, 1],
  ])('keeps %s: the volume moved by the inverse', (_label, price, volume, tail) => {
    expect(unitChangeFinding(series(60, 60 - tail, price, volume), 60 - tail)).toBeUndefined();
  });

  it('keeps a ×10 day on ten times the volume (a real move trades), and a ×1.9 day (no power of ten)', () => {
    expect(unitChangeFinding(series(60, 59, 10, 1, 40e6), 59)).toBeUndefined();
    expect(unitChangeFinding(series(60, 59, 1.9, 1), 59)).toBeUndefined();
    expect(unitChangeFinding(series(60, 59, 1.9 * 1.3, 1), 59)).toBeUndefined();
  });

  it('needs every price moved by the one factor, within ×/÷1.25 of 10^k times the close before', () => {
    const s = series(60, 59, 100, 1);
    // The close ×100 from a close 30% lower the day before: ×130, beyond the tolerance.
    expect(unitChangeFinding(s.map((b, i) => (i === 58 ? { ...b, close: b.close / 1.3, low: b.close / 1.31 } : b)), 59)).toBeUndefined();
    // A high left in dollars: not every price moved (the row rules reject such a row as price_field_glitch).
    expect(unitChangeFinding(s.map((b, i) => (i === 59 ? { ...b, open: b.open / 100, low: b.open / 101 } : b)), 59)).toBeUndefined();
  });

  it('judges a step out of a glitch bar no more (the bars before must lie on the old level)', () => {
    // Bar 57 ÷100 (a glitch one_bar_glitch rejects), bar 58 back: the step into 58 is ×100 from a bar off its level.
    const s = series(60, 100, 1, 1).map((b, i) => (i === 57 ? { ...b, open: b.open / 100, high: b.high / 100, low: b.low / 100, close: b.close / 100 } : b));
    expect(unitChangeFinding(s, 58)).toBeUndefined();
  });

  it('without volumes counts ×/÷100 and beyond only', () => {
    const noVolume = (s: Bar[]) => s.map((b) => ({ ...b, volume: 0 }));
    expect(unitChangeFinding(noVolume(series(60, 59, 100, 1)), 59)).toMatch(/no volume to tell a split by/);
    expect(unitChangeFinding(noVolume(series(60, 59, 10, 1)), 59)).toBeUndefined();
  });

  it('is found where a one-row update continues the stored bars, and where stored bars continue the file', () => {
    const s = series(61, 60, 100, 1);
    const update = unitChangeIssue({ symbol: 'IBM', staged: s.slice(60), context: s.slice(0, 60), source: '/in/IBM.csv', lineOf: () => 2 });
    expect(update?.rule).toBe('price_unit_change');
    expect(update?.line).toBe(2);
    expect(update?.message).toMatch(new RegExp(`^where the file continues the stored bars of IBM \\(as stored ${s[59].date} -> the file ${s[60].date}\\): close .* about ×100`));
    // The file's rows in dollars before stored bars in cents: the step is where the stored bars continue the file.
    const older = unitChangeIssue({ symbol: 'IBM', staged: s.slice(0, 60), context: s.slice(60), source: '/in/IBM.csv' });
    expect(older?.message).toMatch(/^where the stored bars of IBM continue the file/);
    expect(older?.line).toBeNull();
    // A step between two stored bars is no finding of the file's (the rows are judged, not the history).
    expect(unitChangeIssue({ symbol: 'IBM', staged: s.slice(0, 10), context: s.slice(10), source: '/in/IBM.csv' })).toBeUndefined();
    // A correct update publishes.
    const fine = series(61, 100, 1, 1);
    expect(unitChangeIssue({ symbol: 'IBM', staged: fine.slice(60), context: fine.slice(0, 60), source: '/in/IBM.csv' })).toBeUndefined();
  });
});
