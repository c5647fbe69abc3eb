import type { Bar } from '../../../lib/market-data/bar';
import { upsertBars } from '../../../lib/store/bars';
import { openDatabase, type Database } from '../../../lib/store/database';
import { BarWindows } from '../../../lib/streaming/bar-windows';

const DATES = ['2024-04-22', '2024-04-23', '2024-04-24', '2024-04-25', '2024-04-26', '2024-04-29', '2024-04-30', '2024-05-01'];
const bar = (date: string, close: number, symbol = 'AAA'): Bar => ({ symbol, date, open: close, high: close + 1, low: close - 1, close, volume: 100 });

describe('in-memory bar windows', () => {
  let store: Database;
  beforeEach(async () => {
    store = await openDatabase('sqlite::memory:');
  });
  afterEach(async () => {
    await store.close();
  });

  it('keeps the newest `size` bars per symbol and tells new, late, corrected and repeated bars apart', async () => {
    await upsertBars(store, DATES.slice(0, 6).map((d, i) => bar(d, 10 + i)).filter((b) => b.date !== '2024-04-25'));
    const w = new BarWindows(3);
    await w.loadAll(store);
    expect(w.bars('AAA').map((b) => b.date)).toEqual(['2024-04-24', '2024-04-26', '2024-04-29']);

    const incoming = [bar('2024-04-30', 20), bar('2024-04-29', 15), bar('2024-04-26', 99), bar('2024-04-25', 13), bar('2024-04-23', 99), bar('2024-04-22', 10)];
    const classified = await w.classify(store, incoming);
    expect(classified.map((c) => [c.bar.date, c.change, c.late, c.inWindow])).toEqual([
      ['2024-04-30', 'new', false, true],
      ['2024-04-29', 'duplicate', false, true], // the newest stored bar: not late
      ['2024-04-26', 'revised', true, true],
      ['2024-04-25', 'new', true, true], // a gap inside the window: filled
      ['2024-04-23', 'revised', true, false], // older than the window: looked up in the store (stored with close 11)
      ['2024-04-22', 'duplicate', true, false],
    ]);
  });

  it('applies written bars, drops those older than a cut window and previews without changing anything', async () => {
    const w = new BarWindows(3);
    await w.ensure(store, ['AAA']);
    expect(w.bars('AAA')).toEqual([]);
    expect(w.commit([bar(DATES[0], 1), bar(DATES[1], 2), bar(DATES[2], 3)])).toEqual(new Set(['AAA']));
    expect(w.preview('AAA', [bar(DATES[3], 4)]).map((b) => b.date)).toEqual(DATES.slice(1, 4));
    expect(w.bars('AAA').map((b) => b.date)).toEqual(DATES.slice(0, 3));
    w.commit([bar(DATES[3], 4)]);
    expect(w.bars('AAA').map((b) => b.close)).toEqual([2, 3, 4]);
    // The window was cut: a bar older than its first one stays out of it (it is in the store only).
    expect(w.commit([bar(DATES[0], 9)])).toEqual(new Set());
    w.commit([bar(DATES[2], 33)]);
    expect(w.bars('AAA').map((b) => b.close)).toEqual([2, 33, 4]);
    expect(w.newestDate('AAA')).toBe(DATES[3]);
    expect(w.has('AAA', DATES[2])).toBe(true);
    expect(w.has('AAA', DATES[0])).toBe(false);
  });

  it('reloads a symbol from the store when told to', async () => {
    const w = new BarWindows(5);
    await w.ensure(store, ['BBB']);
    await upsertBars(store, DATES.map((d, i) => bar(d, i, 'BBB')));
    expect(w.bars('BBB')).toEqual([]);
    await w.reload(store, ['BBB']);
    expect(w.bars('BBB').map((b) => b.date)).toEqual(DATES.slice(3));
  });
});
