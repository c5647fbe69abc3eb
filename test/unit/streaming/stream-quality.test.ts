import { nyseTradingDaysBetween } from '../../../lib/calendar/nyse';
import type { Bar } from '../../../lib/market-data/bar';
import { qualityPolicySchema } from '../../../lib/quality/policy';
import { encodeLiveBar, type LiveBar } from '../../../lib/streaming/live-bar';
import type { StreamEntry } from '../../../lib/streaming/redis-streams';
import { checkLiveBatch, seriesFlags } from '../../../lib/streaming/stream-quality';

const POLICY = qualityPolicySchema.parse({});
let seq = 0;
// Appended when the file is loaded, before any real clock reading of its checks.
const ENTRY_MS = Date.now();
function entry(bar: Partial<LiveBar> & { symbol: string; date: string }): StreamEntry {
  const full: LiveBar = { open: 10, high: 11, low: 9, close: 10.5, volume: 1000, source: 'test', ...bar };
  const flat = encodeLiveBar(full);
  const fields: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
  return { id: `${ENTRY_MS}-${seq++}`, fields };
}
/**
 * checkLiveBatch with the clock at `iso` and the entries appended then, so the clock is what the
 * session rule judges by (stream-quality-produced-at.test.ts covers entries appended before the check).
 */
const checkAt = (entries: readonly StreamEntry[], key: string, iso: string) => {
  const clock = new Date(iso);
  return checkLiveBatch(
    entries.map((e) => ({ ...e, id: `${clock.getTime()}-${e.id.slice(e.id.indexOf('-') + 1)}` })),
    key,
    { now: () => clock },
  );
};
const bar = (date: string, close: number, symbol = 'AAA'): Bar => ({ symbol, date, open: close, high: close, low: close, close, volume: 100 });

describe('quality rules on a batch of stream entries', () => {
  it('rejects what ingestion rejects, with the entry as the source', () => {
    const entries = [entry({ symbol: 'AAA', date: '2024-05-04' }), entry({ symbol: 'BBB', date: '2024-05-01', high: 8 }), entry({ symbol: 'CCC', date: '2024-05-01', open: -1, low: -2 }), entry({ symbol: 'DDD', date: '2024-05-01', volume: -5 }), entry({ symbol: 'EEE', date: '2024-05-01' })];
    const checked = checkLiveBatch(entries, 'bars:live');
    expect(checked.rejected.map((q) => [q.rule, q.symbol, q.line])).toEqual([
      ['non_trading_day', 'AAA', null],
      ['ohlc_inconsistent', 'BBB', null],
      ['non_positive_price', 'CCC', null],
      ['negative_volume', 'DDD', null],
    ]);
    expect(checked.rejected[0].source).toBe(`bars:live#${entries[0].id} (test)`);
    // raw is the message as it came (version 2: its values packed in "bar")
    const raw = JSON.parse(checked.rejected[1].raw as string) as Record<string, string>;
    expect(raw.v).toBe('2');
    expect(JSON.parse(raw.bar)).toEqual(['BBB', '2024-05-01', '10', '8', '9', '10.5', '1000', 'test']);
    expect(checked.accepted.map((a) => [a.bar.symbol, a.entryId])).toEqual([['EEE', entries[4].id]]);
  });

  it('rejects a price field beyond ×8 of the close as price_field_glitch, as an import does (a consistent bar no other rule sees)', () => {
    const entries = [entry({ symbol: 'AAA', date: '2024-05-01', close: 82.25, open: 82, high: 822.5, low: 81 }), entry({ symbol: 'BBB', date: '2024-05-01', close: 82.25, open: 82.5, high: 83, low: 8.225 }), entry({ symbol: 'CCC', date: '2024-05-01', close: 82.25, open: 82, high: 83, low: 81 })];
    const checked = checkLiveBatch(entries, 'bars:live');
    expect(checked.rejected.map((q) => [q.rule, q.symbol, q.message.slice(0, 40)])).toEqual([
      ['price_field_glitch', 'AAA', 'high 822.5 is 10.0 times the close 82.25'],
      ['price_field_glitch', 'BBB', 'low 8.225 is 1/10.0 of the close 82.25, '],
    ]);
    expect(checked.accepted.map((a) => a.bar.symbol)).toEqual(['CCC']);
  });

  it('reads version 1 (flat fields) and version 2 (packed) entries in one batch alike, with the producer as the source', () => {
    const packed = entry({ symbol: 'AAA', date: '2024-05-01', source: 'feed-a' });
    const flat: StreamEntry = { id: `${ENTRY_MS}-${seq++}`, fields: { v: '1', symbol: 'BBB', date: '2024-05-01', open: '10', high: '11', low: '9', close: '10.5', volume: '1000', source: 'feed-b' } };
    const badFlat: StreamEntry = { id: `${ENTRY_MS}-${seq++}`, fields: { ...flat.fields, symbol: 'CCC', date: '2024-05-04' } };
    const badPacked: StreamEntry = { id: `${ENTRY_MS}-${seq++}`, fields: { v: '2', bar: '["DDD"]' } };
    const checked = checkLiveBatch([packed, flat, badFlat, badPacked], 'k');
    expect(checked.accepted.map((a) => [a.bar.symbol, a.bar.close, a.bar.volume, a.source])).toEqual([
      ['AAA', 10.5, 1000, `k#${packed.id} (feed-a)`],
      ['BBB', 10.5, 1000, `k#${flat.id} (feed-b)`],
    ]);
    expect(checked.rejected.map((q) => [q.rule, q.symbol, q.source])).toEqual([
      ['non_trading_day', 'CCC', `k#${badFlat.id} (feed-b)`],
      ['bad_header', null, `k#${badPacked.id}`],
    ]);
  });

  it('keeps one bar per symbol and date: repeats are duplicates, a later different message wins', () => {
    const first = entry({ symbol: 'AAA', date: '2024-05-01', close: 10.5 });
    const repeat = entry({ symbol: 'AAA', date: '2024-05-01', close: 10.5 });
    const correction = entry({ symbol: 'AAA', date: '2024-05-01', close: 10.7 });
    const other = entry({ symbol: 'AAA', date: '2024-05-02' });
    const checked = checkLiveBatch([first, repeat, other, correction], 'k');
    expect(checked.accepted.map((a) => [a.bar.date, a.bar.close, a.entryId])).toEqual([
      ['2024-05-01', 10.7, correction.id],
      ['2024-05-02', 10.5, other.id],
    ]);
    expect({ duplicates: checked.duplicatesInBatch, superseded: checked.supersededInBatch, rejected: checked.rejected.length }).toEqual({ duplicates: 1, superseded: 1, rejected: 0 });
  });

  it('gives the same stored result wherever batch boundaries fall', () => {
    const a = entry({ symbol: 'AAA', date: '2024-05-01', close: 10.5 });
    const b = entry({ symbol: 'AAA', date: '2024-05-01', close: 10.6 });
    const together = checkLiveBatch([a, b], 'k').accepted.map((x) => x.bar);
    const apart = [...checkLiveBatch([a], 'k').accepted, ...checkLiveBatch([b], 'k').accepted].map((x) => x.bar);
    expect(together).toEqual([apart[apart.length - 1]]);
  });
});

describe('future_date and value limits on live bars, as on an import', () => {
  it("rejects a bar dated after the New York date of the batch's clock", () => {
    const entries = [entry({ symbol: 'AAA', date: '2024-05-01' }), entry({ symbol: 'BBB', date: '2024-05-02' }), entry({ symbol: 'CCC', date: '2099-06-01' })];
    // 02:00 UTC on 2 May is still 1 May in New York: the 2 May bar cannot have traded yet.
    const checked = checkAt(entries, 'k', '2024-05-02T02:00:00Z');
    expect(checked.rejected.map((q) => [q.rule, q.symbol, q.date, q.line, q.message])).toEqual([
      ['future_date', 'BBB', '2024-05-02', null, "2024-05-02 is after 2024-05-01, the New York date of the live consumer's clock"],
      ['future_date', 'CCC', '2099-06-01', null, "2099-06-01 is after 2024-05-01, the New York date of the live consumer's clock"],
    ]);
    expect(checked.accepted.map((a) => a.bar.symbol)).toEqual(['AAA']);
    // Later that day in New York, the 2 May bar is accepted.
    expect(checkAt(entries.slice(0, 2), 'k', '2024-05-02T21:00:00Z').accepted.map((a) => a.bar.symbol)).toEqual(['AAA', 'BBB']);
  });

  it("rejects a bar of the clock's own session before its close plus the margin (session_not_closed), and takes it after", () => {
    const entries = [entry({ symbol: 'AAA', date: '2024-05-01' }), entry({ symbol: 'BBB', date: '2024-05-02' })];
    // 11:05 in New York on 2 May: that day's bar is unfinished.
    const during = checkAt(entries, 'k', '2024-05-02T15:05:00Z');
    expect(during.rejected.map((q) => [q.rule, q.symbol, q.date])).toEqual([['session_not_closed', 'BBB', '2024-05-02']]);
    expect(during.accepted.map((a) => a.bar.symbol)).toEqual(['AAA']);
    // 16:10 is before the close plus 15 minutes; 16:20 is after.
    expect(checkAt(entries, 'k', '2024-05-02T20:10:00Z').rejected.map((q) => q.rule)).toEqual(['session_not_closed']);
    expect(checkAt(entries, 'k', '2024-05-02T20:20:00Z').accepted.map((a) => a.bar.symbol)).toEqual(['AAA', 'BBB']);
    // The day after Thanksgiving closes at 13:00: a bar is final from 13:15.
    const early = [entry({ symbol: 'CCC', date: '2024-11-29' })];
    expect(checkAt(early, 'k', '2024-11-29T18:10:00Z').rejected.map((q) => q.rule)).toEqual(['session_not_closed']);
    expect(checkAt(early, 'k', '2024-11-29T18:20:00Z').accepted).toHaveLength(1);
  });

  it('uses the real clock by default', () => {
    const checked = checkLiveBatch([entry({ symbol: 'AAA', date: '2099-06-01' }), entry({ symbol: 'BBB', date: '2024-05-01' })], 'k');
    expect(checked.rejected.map((q) => [q.rule, q.symbol])).toEqual([['future_date', 'AAA']]);
    expect(checked.accepted.map((a) => a.bar.symbol)).toEqual(['BBB']);
  });

  it('rejects positive prices below the minimum as implausible_value', () => {
    const checked = checkLiveBatch([entry({ symbol: 'AAA', date: '2024-05-01', open: 1e-300, high: 1e-300, low: 1e-300, close: 1e-300 })], 'k');
    expect(checked.rejected.map((q) => [q.rule, q.message])).toEqual([['implausible_value', 'open 1e-300 is below 1e-6']]);
    expect(checked.accepted).toEqual([]);
  });
});

describe('series flags against the stored bars', () => {
  const at = (date: string) => new Map([[date, { source: `k#${date}`, raw: '{}' }]]);

  it('flags an extreme move and a calendar gap before the new bar, pointing at its entry', () => {
    const series = [bar('2024-04-29', 100), bar('2024-04-30', 101), bar('2024-05-03', 150)];
    const flags = seriesFlags(series, at('2024-05-03'), POLICY);
    expect(flags.map((f) => [f.rule, f.severity, f.date, f.source])).toEqual([
      ['calendar_gap', 'flag', '2024-05-01', 'k#2024-05-03'],
      ['extreme_move', 'flag', '2024-05-03', 'k#2024-05-03'],
    ]);
    expect(flags[1].message).toMatch(/101 -> 150/);
  });

  it('flags a stale close once, when the run of equal closes reaches the policy length', () => {
    const dates = ['2024-04-29', '2024-04-30', '2024-05-01', '2024-05-02', '2024-05-03', '2024-05-06'];
    const series = [bar('2024-04-26', 99), ...dates.map((d) => bar(d, 100))];
    expect(seriesFlags(series.slice(0, 5), at('2024-05-02'), POLICY)).toEqual([]);
    const reached = seriesFlags(series.slice(0, 6), at('2024-05-03'), POLICY);
    expect(reached.map((f) => [f.rule, f.date])).toEqual([['stale_close', '2024-04-29']]);
    expect(reached[0].message).toMatch(/for 5 bars \(2024-04-29\.\.2024-05-03\)/);
    expect(seriesFlags(series, at('2024-05-06'), POLICY)).toEqual([]);
  });

  it("flags an equity's fifth consecutive bar of volume 0 after a positive one (zero_volume, as on an import), once; not an index's", () => {
    const days = ['2024-04-26', '2024-04-29', '2024-04-30', '2024-05-01', '2024-05-02', '2024-05-03', '2024-05-06'];
    const series = (symbol: string) => days.map((d, k) => ({ symbol, date: d, open: 100, high: 101 + k, low: 99, close: 100 + k, volume: k === 0 ? 5000 : 0 }));
    const equity = series('AAA');
    expect(seriesFlags(equity.slice(0, 5), at('2024-05-02'), POLICY).filter((f) => f.rule === 'zero_volume')).toEqual([]);
    const reached = seriesFlags(equity.slice(0, 6), at('2024-05-03'), POLICY);
    expect(reached.map((f) => [f.rule, f.severity, f.date, f.source])).toEqual([['zero_volume', 'flag', '2024-04-29', 'k#2024-05-03']]);
    expect(reached[0].message).toMatch(/volume is 0 on 5 consecutive bars \(2024-04-29\.\.2024-05-03\), after volume 5000 on 2024-04-26/);
    expect(seriesFlags(equity, at('2024-05-06'), POLICY).filter((f) => f.rule === 'zero_volume')).toEqual([]);
    // A late bar joining two shorter runs makes one of 5.
    expect(seriesFlags(equity.slice(0, 6), at('2024-05-01'), POLICY).filter((f) => f.rule === 'zero_volume').map((f) => f.date)).toEqual(['2024-04-29']);
    expect(seriesFlags(series('$SPX').slice(0, 6), at('2024-05-03'), POLICY)).toEqual([]);
  });

  it("flags a 3:2 split arriving unadjusted (-33%, under the extreme-move limit) with the volume moving by the inverse ratio, as an import's unadjusted_split does; an ordinary -33% day on a volume spike is no split", () => {
    const days = ['2024-04-22', '2024-04-23', '2024-04-24', '2024-04-25', '2024-04-26', '2024-04-29', '2024-04-30', '2024-05-01', '2024-05-02', '2024-05-03', '2024-05-06'];
    const before = days.slice(0, 10).map((d, k) => ({ symbol: 'AAA', date: d, open: 90 + (k % 3), high: 92 + (k % 3), low: 89 + (k % 3), close: 90 + (k % 3), volume: 1000 + 10 * k }));
    const prevClose = before[9].close;
    const split = { symbol: 'AAA', date: days[10], open: (prevClose * 2) / 3, high: (prevClose * 2) / 3 + 1, low: (prevClose * 2) / 3 - 1, close: (prevClose * 2) / 3 + 0.5, volume: 1550 };
    const flags = seriesFlags([...before, split], at(days[10]), POLICY);
    expect(flags.map((f) => [f.rule, f.severity, f.date, f.source])).toEqual([['unadjusted_split', 'flag', days[10], `k#${days[10]}`]]);
    expect(flags[0].message).toMatch(/unadjusted 3:2 split/);
    // The same move on five times the volume: an earnings gap, not a split.
    expect(seriesFlags([...before, { ...split, volume: 5000 }], at(days[10]), POLICY)).toEqual([]);
  });

  it('flags the move from a late or corrected bar to the stored bar after it, as an import flags a file meeting the stored bars', () => {
    const series = [bar('2024-04-29', 100), bar('2024-04-30', 120), bar('2024-05-01', 170)];
    const flags = seriesFlags(series, at('2024-04-30'), POLICY);
    expect(flags.map((f) => [f.rule, f.date, f.source])).toEqual([['extreme_move', '2024-05-01', 'k#2024-04-30']]);
    expect(flags[0].message).toMatch(/120 -> 170/);
    // Both bars changed: the move is flagged once, as the later bar's.
    const both = new Map([...at('2024-04-30'), ...at('2024-05-01')]);
    expect(seriesFlags(series, both, POLICY).map((f) => [f.rule, f.date, f.source])).toEqual([['extreme_move', '2024-05-01', 'k#2024-05-01']]);
  });

  // The pair rule sees two bars: a +15% day of a symbol moving about 0.5% a day carried no flag
  // live, where an import flags it on the symbol's own scale (σ of the 60 returns before it).
  it("flags a move within 35% but beyond the symbol's own scale (max(10%, 8σ), σ from the window before it), into a new bar and on to the stored bar after a correction", () => {
    const days = nyseTradingDaysBetween('2024-01-02', '2024-12-31').slice(0, 80);
    const quiet = days.map((d, k) => bar(d, 100 + 0.5 * Math.sin(k * 1.7)));
    const jumped = quiet.map((b, k) => (k === 79 ? { ...b, open: 115, high: 115, low: 115, close: 115 } : b));
    const flags = seriesFlags(jumped, at(days[79]), POLICY);
    expect(flags.map((f) => [f.rule, f.severity, f.date, f.source])).toEqual([['extreme_move', 'flag', days[79], `k#${days[79]}`]]);
    expect(flags[0].message).toMatch(/ -> 115 \(1[45]\.\d%\), \d+ times the symbol's robust daily volatility/);
    // A corrected bar +15% with the stored bar after it back at the level: both moves flagged, as the correction's.
    const corrected = quiet.map((b, k) => (k === 70 ? { ...b, open: 115, high: 115, low: 115, close: 115 } : b));
    expect(seriesFlags(corrected, at(days[70]), POLICY).map((f) => [f.rule, f.date, f.source])).toEqual([
      ['extreme_move', days[70], `k#${days[70]}`],
      ['extreme_move', days[71], `k#${days[70]}`],
    ]);
    // The same +15% on a symbol moving about 5% a day, and a quiet symbol's +3%: no flag.
    const wild = days.map((d, k) => bar(d, 100 * Math.exp(0.05 * Math.sin(k * 2.3) * (k % 2 === 0 ? 1 : -1))));
    expect(seriesFlags(wild.map((b, k) => (k === 79 ? { ...b, close: wild[78].close * 1.15 } : b)), at(days[79]), POLICY)).toEqual([]);
    expect(seriesFlags(quiet.map((b, k) => (k === 79 ? { ...b, close: 103 } : b)), at(days[79]), POLICY)).toEqual([]);
  });

  // A 2:1 split inside the window read as a level move of log 2 (σ 7.3%, a limit of 58%) and hid
  // every move after it; the live scale is measured across splits as an import's is.
  it("measures the symbol's scale across a split in the window before the move", () => {
    const days = nyseTradingDaysBetween('2024-01-02', '2024-12-31').slice(0, 80);
    const split = days.map((d, k) => {
      const b = bar(d, 100 + 0.5 * Math.sin(k * 1.7));
      return k >= 72 ? { ...b, open: b.open / 2, high: b.high / 2, low: b.low / 2, close: b.close / 2, volume: b.volume * 2 } : b;
    });
    const jumped = split.map((b, k) => (k === 79 ? { ...b, open: split[78].close * 1.15, high: split[78].close * 1.15, low: split[78].close * 1.15, close: split[78].close * 1.15 } : b));
    expect(seriesFlags(jumped, at(days[79]), POLICY).map((f) => [f.rule, f.date])).toEqual([['extreme_move', days[79]]]);
  });

  it('says nothing about bars that did not change', () => {
    const series = [bar('2024-04-29', 100), bar('2024-05-03', 200)];
    expect(seriesFlags(series, new Map(), POLICY)).toEqual([]);
  });
});
