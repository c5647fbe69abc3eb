import { encodeLiveBar, type LiveBar } from '../../../lib/streaming/live-bar';
import type { StreamEntry } from '../../../lib/streaming/redis-streams';
import { checkLiveBatch } from '../../../lib/streaming/stream-quality';

// 12 June 2024 is a Wednesday (EDT, UTC-4); 29 November 2024 closes at 13:00 (EST, UTC-5).
const ny = (day: string, hhmm: string, offset = '-04:00') => new Date(`${day}T${hhmm.length === 5 ? `${hhmm}:00` : hhmm}${offset}`);
let seq = 0;
function entry(appended: Date, bar: Partial<LiveBar> & { date: string }): StreamEntry {
  const full: LiveBar = { symbol: 'AAPL', open: 100, high: 100.4, low: 99.8, close: 100.1, volume: 1500, source: 'poll', ...bar };
  const flat = encodeLiveBar(full);
  const fields: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
  return { id: `${appended.getTime()}-${seq++}`, fields };
}
const rules = (entries: StreamEntry[], clock: Date) => {
  const checked = checkLiveBatch(entries, 'bars', { now: () => clock });
  return { accepted: checked.accepted.length, rejected: checked.rejected.map((q) => q.rule) };
};

describe('session_not_closed judged by when the bar was produced', () => {
  const day = '2024-06-12';

  it('rejects a bar appended mid-session however late it is checked (backlog, restart, claimed batch)', () => {
    const midSession = entry(ny(day, '11:00'), { date: day, eventTime: ny(day, '11:00').toISOString() });
    for (const clock of [ny(day, '11:05'), ny(day, '16:30'), ny(day, '23:00'), ny('2024-06-13', '10:00'), ny('2024-07-01', '12:00')]) {
      expect(rules([midSession], clock)).toEqual({ accepted: 0, rejected: ['session_not_closed'] });
    }
  });

  it('uses the entry id time when there is no event_time, and the event_time when it is earlier than the entry', () => {
    expect(rules([entry(ny(day, '11:00'), { date: day })], ny(day, '23:00'))).toEqual({ accepted: 0, rejected: ['session_not_closed'] });
    // Appended after the close, but taken at 15:59 by the provider: unfinished.
    expect(rules([entry(ny(day, '18:00'), { date: day, eventTime: ny(day, '15:59').toISOString() })], ny(day, '23:00'))).toEqual({ accepted: 0, rejected: ['session_not_closed'] });
    // An event_time later than the entry does not make it final: the earliest counts.
    expect(rules([entry(ny(day, '16:00'), { date: day, eventTime: ny(day, '17:00').toISOString() })], ny(day, '23:00'))).toEqual({ accepted: 0, rejected: ['session_not_closed'] });
  });

  it('accepts a bar produced after its close plus the margin, whenever it is read', () => {
    const final = entry(ny(day, '16:20'), { date: day, eventTime: ny(day, '16:16').toISOString() });
    expect(rules([final], ny(day, '16:21'))).toEqual({ accepted: 1, rejected: [] });
    expect(rules([final], ny('2024-06-20', '09:00'))).toEqual({ accepted: 1, rejected: [] });
    // Bars of earlier days appended during a later session are final.
    expect(rules([entry(ny(day, '11:00'), { date: '2024-06-11' })], ny(day, '11:05'))).toEqual({ accepted: 1, rejected: [] });
  });

  it('rejects a bar appended before its own day had even begun, once its day has come', () => {
    const early = entry(ny('2024-06-11', '23:00'), { date: day });
    expect(rules([early], ny(day, '17:00'))).toEqual({ accepted: 0, rejected: ['session_not_closed'] });
  });

  it('knows early closes: 13:00 plus the margin', () => {
    const half = '2024-11-29';
    expect(rules([entry(ny(half, '13:10', '-05:00'), { date: half })], ny(half, '20:00', '-05:00'))).toEqual({ accepted: 0, rejected: ['session_not_closed'] });
    expect(rules([entry(ny(half, '13:16', '-05:00'), { date: half })], ny(half, '20:00', '-05:00'))).toEqual({ accepted: 1, rejected: [] });
  });

  it('says when the bar was produced', () => {
    const late = checkLiveBatch([entry(ny(day, '11:00'), { date: day })], 'bars', { now: () => ny(day, '23:00') });
    expect(late.rejected[0].message).toMatch(/2024-06-12 11:00 New York, before the 16:00 close plus 15 minutes/);
  });

  it('rejects an event_time more than 5 minutes after the entry was appended (a producer clock error that would outrank every later correction) as future_date; within 5 minutes, or across DST offsets, it passes', () => {
    const appended = ny(day, '16:30');
    expect(rules([entry(appended, { date: day, eventTime: '2099-01-01T00:00:00Z' })], ny(day, '23:00'))).toEqual({ accepted: 0, rejected: ['future_date'] });
    expect(rules([entry(appended, { date: day, eventTime: ny(day, '16:36').toISOString() })], ny(day, '23:00'))).toEqual({ accepted: 0, rejected: ['future_date'] });
    expect(rules([entry(appended, { date: day, eventTime: ny(day, '16:34').toISOString() })], ny(day, '23:00'))).toEqual({ accepted: 1, rejected: [] });
    // The same instant written in New York's offset and in UTC.
    expect(rules([entry(appended, { date: day, eventTime: `${day}T16:20:00-04:00` }), entry(appended, { symbol: 'MSFT', date: day, eventTime: `${day}T20:20:00Z` })], ny(day, '23:00'))).toEqual({ accepted: 2, rejected: [] });
    const checked = checkLiveBatch([entry(appended, { date: day, eventTime: '2099-01-01T00:00:00Z' })], 'bars', { now: () => ny(day, '23:00') });
    expect(checked.rejected[0].message).toMatch(/event_time 2099-01-01T00:00:00Z is after the entry was appended \(2024-06-12T20:30:00.000Z\)/);
  });

  it('leaves future_date to the clock', () => {
    expect(rules([entry(ny(day, '11:00'), { date: '2024-06-13' })], ny(day, '23:00'))).toEqual({ accepted: 0, rejected: ['future_date'] });
  });

  // Three clocks: the producer's (event_time), the stream's (entry ids, Redis) and the consumer's.
  describe('with a consumer clock behind the stream', () => {
    it('accepts a bar the stream appended after the close plus the margin, when the consumer is up to 5 minutes behind', () => {
      // Producer and Redis right: taken 16:15:29, appended 16:15:30; read at once by a consumer 3 minutes slow (16:12:31).
      const final = entry(ny(day, '16:15:30'), { date: day, eventTime: ny(day, '16:15:29').toISOString() });
      expect(rules([final], new Date(ny(day, '16:15:31').getTime() - 3 * 60_000))).toEqual({ accepted: 1, rejected: [] });
      // No event_time: the entry's time alone.
      expect(rules([entry(ny(day, '16:15:30'), { date: day })], ny(day, '16:11'))).toEqual({ accepted: 1, rejected: [] });
    });

    it('still rejects a bar the stream appended before the close plus the margin, whichever clock is behind', () => {
      const early = entry(ny(day, '16:14:59'), { date: day, eventTime: ny(day, '16:14:58').toISOString() });
      for (const clock of [ny(day, '16:11'), ny(day, '16:15:00'), ny(day, '16:30'), ny('2024-06-13', '09:00')]) expect(rules([early], clock)).toEqual({ accepted: 0, rejected: ['session_not_closed'] });
      // The producer's event_time before the close plus the margin counts even when the entry is after it.
      expect(rules([entry(ny(day, '16:15:30'), { date: day, eventTime: ny(day, '16:14').toISOString() })], ny(day, '16:12'))).toEqual({ accepted: 0, rejected: ['session_not_closed'] });
    });

    it("judges event_time against the entry's time, not the slower consumer clock: a producer 3 minutes ahead of the stream read by a consumer 4 minutes behind it passes", () => {
      const appended = ny(day, '16:30');
      const skewed = entry(appended, { date: day, eventTime: ny(day, '16:33').toISOString() });
      expect(rules([skewed], ny(day, '16:26'))).toEqual({ accepted: 1, rejected: [] });
      // Far in the future is still a clock error, whoever reads it.
      expect(rules([entry(appended, { date: day, eventTime: ny(day, '16:36').toISOString() })], ny(day, '16:26'))).toEqual({ accepted: 0, rejected: ['future_date'] });
      expect(rules([entry(appended, { date: day, eventTime: '2099-01-01T00:00:00Z' })], ny(day, '16:26'))).toEqual({ accepted: 0, rejected: ['future_date'] });
    });

    it("refuses an entry more than 5 minutes in its future, or an id without a time, as future_date naming the clocks: the consumer's clock never stands in for the entry's", () => {
      // Consumer 6 minutes slow: the entry (16:20:01) is too far ahead of its clock (16:14:02) to be trusted.
      const ahead = checkLiveBatch([entry(ny(day, '16:20:01'), { date: day, eventTime: ny(day, '16:20').toISOString() })], 'bars', { now: () => ny(day, '16:14:02') });
      expect(ahead.rejected.map((q) => q.rule)).toEqual(['future_date']);
      expect(ahead.rejected[0].message).toMatch(/its stream entry id says 2024-06-12T20:20:01.000Z, more than 5 minutes ahead of the live consumer's clock \(2024-06-12T20:14:02.000Z\): the stream's \(Redis's\) host clock or the consumer's is wrong/);
      // A day earlier's bar too: no clock reading dates it.
      expect(rules([entry(ny(day, '16:20:01'), { date: '2024-06-11' })], ny(day, '16:14:02'))).toEqual({ accepted: 0, rejected: ['future_date'] });
      const timeless: StreamEntry = { ...entry(ny(day, '16:20'), { date: day }), id: 'x-1' };
      for (const clock of [ny(day, '16:10'), ny(day, '16:20'), ny('2024-06-13', '09:00')]) expect(rules([timeless], clock)).toEqual({ accepted: 0, rejected: ['future_date'] });
      expect(checkLiveBatch([timeless], 'bars', { now: () => ny(day, '16:20') }).rejected[0].message).toMatch(/its stream entry id x-1 has no time/);
    });
  });
});

describe('the time an accepted bar carries as its version time', () => {
  const day = '2024-06-12';
  const times = (entries: StreamEntry[], clock: Date) => checkLiveBatch(entries, 'bars', { now: () => clock }).accepted.map((a) => a.eventTime);

  it('is the event_time when the message has one, else the entry id time', () => {
    expect(times([entry(ny(day, '16:30'), { date: day, eventTime: `${day}T16:20:00-04:00` })], ny(day, '23:00'))).toEqual([ny(day, '16:20').toISOString()]);
    expect(times([entry(ny(day, '16:30'), { date: day })], ny(day, '23:00'))).toEqual([ny(day, '16:30').toISOString()]);
  });

  it('is the same on every delivery, whatever the consumer clock reads (a redelivery claimed later must not look newer than an entry appended after it)', () => {
    // The stream's clock 2 minutes ahead of the consumer's (within the skew), read at once, claimed later, re-read after a reset.
    const a = entry(ny(day, '16:32'), { date: day });
    const b = entry(ny(day, '16:32:00.5'), { date: day, close: 100.2 });
    for (const clock of [ny(day, '16:30'), ny(day, '16:31'), ny(day, '16:33'), ny('2024-06-13', '09:00')]) {
      expect(times([a], clock)).toEqual([ny(day, '16:32').toISOString()]);
      expect(times([b], clock)).toEqual([ny(day, '16:32:00.5').toISOString()]);
    }
  });

  it('is the earlier of event_time and the entry time: an event_time ahead of its append (within the skew) is not stored as is', () => {
    expect(times([entry(ny(day, '16:36'), { date: day, eventTime: ny(day, '16:40').toISOString() })], ny(day, '23:00'))).toEqual([ny(day, '16:36').toISOString()]);
  });

  it('refuses an entry whose id time is more than 5 minutes ahead of the consumer clock as future_date, naming both clocks, instead of dating it by the clock', () => {
    const ahead = entry(ny(day, '18:00'), { date: '2024-06-11' });
    const checked = checkLiveBatch([ahead], 'bars', { now: () => ny(day, '16:40') });
    expect(checked.accepted).toEqual([]);
    expect(checked.rejected.map((q) => q.rule)).toEqual(['future_date']);
    expect(checked.rejected[0].message).toMatch(/stream entry id says 2024-06-12T22:00:00.000Z, more than 5 minutes ahead of the live consumer's clock \(2024-06-12T20:40:00.000Z\)/);
    // Read again once the consumer's clock is within 5 minutes of it: accepted, with the entry's time.
    expect(times([ahead], ny(day, '17:56'))).toEqual([ny(day, '18:00').toISOString()]);
  });

  it('orders two messages of a bar in one batch: one without event_time appended after the other was produced wins; one produced earlier is stale', () => {
    const a = entry(ny(day, '16:30'), { date: day, eventTime: ny(day, '16:25').toISOString() });
    const b = entry(ny(day, '16:31'), { date: day, close: 100.2 });
    const kept = checkLiveBatch([a, b], 'bars', { now: () => ny(day, '23:00') });
    expect(kept.accepted.map((x) => x.bar.close)).toEqual([100.2]);
    expect(kept.supersededInBatch).toBe(1);
    const c = entry(ny(day, '16:36'), { date: day, close: 100.2 });
    const d = entry(ny(day, '16:37'), { date: day, eventTime: ny(day, '16:33').toISOString() });
    const stale = checkLiveBatch([c, d], 'bars', { now: () => ny(day, '23:00') });
    expect(stale.accepted.map((x) => x.bar.close)).toEqual([100.2]);
    expect(stale.staleInBatch).toBe(1);
    // An event_time ahead of its append (16:40 on a 16:36 entry) counts as of the append: the untimed correction appended at 16:37 wins.
    const e = entry(ny(day, '16:36'), { date: day, eventTime: ny(day, '16:40').toISOString() });
    const f = entry(ny(day, '16:37'), { date: day, close: 100.2 });
    const later = checkLiveBatch([e, f], 'bars', { now: () => ny(day, '23:00') });
    expect(later.accepted.map((x) => x.bar.close)).toEqual([100.2]);
    expect(later.supersededInBatch).toBe(1);
  });
});
