import { verdictWord } from '../../../lib/training/guards';
import { survivorshipNote } from '../../../lib/training/survivorship';

/** `symbols` series over weekdays from 2014-01-01; each ends at its `lastDay` (index), every one by default at the end. */
function dataset(symbols: number, days: number, lastDay: (s: number) => number = () => days - 1) {
  const dates: string[] = [];
  for (let t = Date.UTC(2014, 0, 1); dates.length < days; t += 86_400_000) {
    const d = new Date(t);
    if (d.getUTCDay() !== 0 && d.getUTCDay() !== 6) dates.push(d.toISOString().slice(0, 10));
  }
  const start: number[] = [];
  const symbol: number[] = [];
  for (let day = 0; day < days; day++) {
    for (let s = 0; s < symbols; s++) {
      if (day > lastDay(s)) continue;
      start.push(day);
      symbol.push(s);
    }
  }
  return { symbols: Array.from({ length: symbols }, (_, s) => `S${s}`), days: dates, start: Int32Array.from(start), symbol: Int32Array.from(symbol), rows: start.length };
}

describe('survivorship note', () => {
  it('notes a multi-year universe in which no symbol ever left, and never trips', () => {
    const note = survivorshipNote(dataset(30, 800));
    expect(note).toMatchObject({ guard: 'survivorship', tripped: false });
    expect(note?.message).toMatch(/^all 30 symbols have rows until the end of the data \(2014-01-01 \.\. 2017-01-24, 3\.1 years\) and none left the universe/);
    expect(verdictWord(note!)).toBe('noted');
    expect(verdictWord({ guard: 'single_feature_scan', tripped: false })).toBe('passed');
    expect(verdictWord({ guard: 'point_in_time_audit', tripped: true })).toBe('TRIPPED');
  });

  it('says nothing when members leave at the rate real indices lose them, for a short span or a handful of symbols', () => {
    // 4 of 30 over 3.1 years: 4.3% a year, as the S&P 500 replaces 4–5% of its members.
    expect(survivorshipNote(dataset(30, 800, (s) => (s < 4 ? 200 + 100 * s : 799)))).toBeUndefined();
    expect(survivorshipNote(dataset(30, 400))).toBeUndefined();
    expect(survivorshipNote(dataset(10, 800))).toBeUndefined();
    // A symbol whose rows end a few days early (labels need days ahead, a late print) still counts as there.
    expect(survivorshipNote(dataset(30, 800, (s) => (s === 3 ? 792 : 799)))).toBeDefined();
  });

  it('still notes a survivor universe when one file stops early: it judges the share that leaves per year', () => {
    // 100 symbols over 3.1 years, one of whose rows stop 60 days early (a vendor gap, a ticker change):
    // 0.33% a year left, far below the 4–5% real indices lose. Before, any early end turned the note off.
    const note = survivorshipNote(dataset(100, 800, (s) => (s === 3 ? 740 : 799)));
    expect(note).toMatchObject({ guard: 'survivorship', tripped: false });
    expect(note?.message).toMatch(/^only 1 of 100 symbols left the universe before the end of the data \(2014-01-01 \.\. 2017-01-24, 3\.1 years; S3\): 0\.33% a year, where real indices lose about 4–5%/);
    // Two of 30 (2.1% a year) is a universe that lost members: no note.
    expect(survivorshipNote(dataset(30, 800, (s) => (s === 1 || s === 2 ? 600 : 799)))).toBeUndefined();
  });
});
