import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import type { Bar } from '../../lib/market-data/bar';
import { unitChangeFinding, UNIT_CHANGE_NEWS_VOLUME } from '../../lib/quality/rules';
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

  it('keeps a ×10 day on 40 times the volume (a real move on news trades), and a ×1.9 day (no power of ten)', () => {
    // The median volume before is 4.6M.
    expect(unitChangeFinding(series(60, 59, 10, 1, 184e6), 59)).toBeUndefined();
    // News with the volume settling after: judged by the step's own session.
    expect(unitChangeFinding(series(60, 55, 10, 1.5, 184e6), 55)).toBeUndefined();
    expect(unitChangeFinding(series(60, 55, 0.1, 1.5, 184e6), 55)).toBeUndefined();
    expect(unitChangeFinding(series(60, 59, 1.9, 1), 59)).toBeUndefined();
    expect(unitChangeFinding(series(60, 59, 1.9 * 1.3, 1), 59)).toBeUndefined();
  });

  it.each([
    ['×100 with the volume ×100 (the whole row scaled)', 100, 100, 1],
    ['×10 with the volume ×10', 10, 10, 1],
    ['÷10 with the volume ÷10', 0.1, 0.1, 1],
    ['×100 on a day of 10 times the volume', 100, 10, 1],
    ['×100 on a day of a tenth of the volume (not within ×/÷√10 of ÷100)', 100, 0.1, 1],
    ['×100, the last 3 rows on 8 times the volume', 100, 8, 3],
    ['×10 with the volume ÷2 (not halfway to ÷10)', 10, 0.5, 1],
    ['÷10 with the volume ×2 (not halfway to ×10)', 0.1, 2, 2],
  ])('finds %s: only a volume move towards the inverse is a split', (_label, price, volume, tail) => {
    const found = unitChangeFinding(series(60, 60 - tail, price, volume), 60 - tail);
    expect(found).toMatch(/the volume did not move by the inverse/);
  });

  it('finds a ×10 day on 8.7 times the volume, under the news bound (20 times): a row scaled whole trades ×10', () => {
    expect(UNIT_CHANGE_NEWS_VOLUME).toBe(20);
    expect(unitChangeFinding(series(60, 59, 10, 1, 40e6), 59)).toMatch(/the day traded ×8\.70 the volume before/);
    // ×100 is no market move on any volume.
    expect(unitChangeFinding(series(60, 59, 100, 1, 400e6), 59)).toMatch(/about ×100/);
  });

  it('keeps a step of the power of a split the file declares on that day, and only that one', () => {
    const s = series(60, 55, 10, 0.5);
    expect(unitChangeFinding(s, 55)).toMatch(/and the file declares none/);
    expect(unitChangeFinding(s, 55, new Map([[s[55].date, 0.1]]))).toBeUndefined();
    // Another day, or another ratio (a 2:1 split), does not excuse it.
    expect(unitChangeFinding(s, 55, new Map([[s[54].date, 0.1]]))).toMatch(/about ×10/);
    expect(unitChangeFinding(s, 55, new Map([[s[55].date, 2]]))).toMatch(/about ×10/);
    const noVolume = series(60, 55, 100, 1).map((b) => ({ ...b, volume: 0 }));
    expect(unitChangeFinding(noVolume, 55, new Map([[noVolume[55].date, 0.01]]))).toBeUndefined();
    const issue = unitChangeIssue({ symbol: 'IBM', staged: s.slice(55), context: s.slice(0, 55), source: '/in/IBM.csv', declaredSplits: new Map([[s[55].date, 0.1]]) });
    expect(issue).toBeUndefined();
  });

  it.each([
    [1, 100, 'the first row, of DAY0, looks like prices in cents beside the rows from DAY1 on'],
    [1, 10, 'the first row, of DAY0, looks like prices in other units beside the rows from DAY1 on'],
    [2, 100, 'the first 2 rows, from DAY0, look like prices in cents beside the rows from DAY2 on'],
    [2, 0.01, 'the first 2 rows, from DAY0, look like prices in dollars after cents beside the rows from DAY2 on'],
  ])('names the first %i row(s) off (×%d), not the rows after them', (lead, factor, text) => {
    const s = series(40, 100, 1, 1).map((b, i) => (i < lead ? { ...b, open: b.open * factor, high: b.high * factor, low: b.low * factor, close: b.close * factor } : b));
    const found = unitChangeFinding(s, lead);
    expect(found).toContain(text.replace(/DAY(\d)/g, (_m, k: string) => s[Number(k)].date));
    expect(found).not.toMatch(/rows from \S+ look like prices in/);
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

  it('without volumes counts ×/÷100 and beyond only: a ×10 step with no volume stays ambiguous (a 1:10 reverse split looks alike)', () => {
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
