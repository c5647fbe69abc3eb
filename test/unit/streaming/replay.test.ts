import type { Bar } from '../../../lib/market-data/bar';
import { driftInjectionSchema, injectDrift, orderForReplay, replayDueTimes, replayPaceSchema } from '../../../lib/streaming/replay';

const bar = (symbol: string, date: string, close = 10): Bar => ({ symbol, date, open: close, high: close + 1, low: close - 1, close, volume: 100 });

describe('replay', () => {
  it('orders bars as a live feed sends them: by trading day, then symbol', () => {
    const bars = [bar('BBB', '2024-05-02'), bar('AAA', '2024-05-02'), bar('BBB', '2024-05-01'), bar('AAA', '2024-05-01')];
    expect(orderForReplay(bars).map((b) => `${b.date} ${b.symbol}`)).toEqual(['2024-05-01 AAA', '2024-05-01 BBB', '2024-05-02 AAA', '2024-05-02 BBB']);
  });

  it('schedules bars per bar, per trading day, or all at once', () => {
    const bars = orderForReplay([bar('AAA', '2024-05-01'), bar('BBB', '2024-05-01'), bar('AAA', '2024-05-02'), bar('AAA', '2024-05-03')]);
    expect(Array.from(replayDueTimes(bars, { kind: 'bars', perSecond: 4 }))).toEqual([0, 250, 500, 750]);
    expect(Array.from(replayDueTimes(bars, { kind: 'days', perSecond: 2 }))).toEqual([0, 0, 500, 1000]);
    expect(Array.from(replayDueTimes(bars, { kind: 'max' }))).toEqual([0, 0, 0, 0]);
  });

  it('scales one column from a date on, for some symbols or all', () => {
    const bars = [bar('AAA', '2024-05-01'), bar('AAA', '2024-05-02'), bar('BBB', '2024-05-02')];
    expect(injectDrift(bars, { column: 'volume', factor: 3, from: '2024-05-02', symbols: ['AAA'] }).map((b) => b.volume)).toEqual([100, 300, 100]);
    expect(injectDrift(bars, { column: 'volume', factor: 3, from: '2024-05-02' }).map((b) => b.volume)).toEqual([100, 300, 300]);
    expect(bars[1].volume).toBe(100);
  });

  it('widens high and low when a drifted price would leave them, so the bar stays valid', () => {
    const [up] = injectDrift([bar('AAA', '2024-05-01')], { column: 'open', factor: 1.5, from: '2024-05-01' });
    expect(up).toEqual({ symbol: 'AAA', date: '2024-05-01', open: 15, high: 15, low: 9, close: 10, volume: 100 });
    const [down] = injectDrift([bar('AAA', '2024-05-01')], { column: 'close', factor: 0.5, from: '2024-05-01' });
    expect(down).toMatchObject({ close: 5, low: 5, high: 11 });
    const [high] = injectDrift([bar('AAA', '2024-05-01')], { column: 'high', factor: 0.5, from: '2024-05-01' });
    expect(high).toMatchObject({ high: 10 });
  });

  it('validates paces and drifts with messages that name the field', () => {
    expect(replayPaceSchema.safeParse({ kind: 'bars', perSecond: 0 }).success).toBe(false);
    expect(driftInjectionSchema.safeParse({ column: 'vwap', factor: 2, from: '2024-05-01' }).success).toBe(false);
    expect(() => injectDrift([], { column: 'close', factor: -1, from: '2024-05-01' })).toThrow(/factor/);
    expect(() => injectDrift([], { column: 'close', factor: 2, from: '2024-5-1' })).toThrow(/from/);
  });
});
