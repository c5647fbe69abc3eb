import { ProviderError, type DateRange, type HistoricalBarProvider, type ProviderResponse } from '../../../lib/market-data/providers/provider';
import { encodeLiveBar, liveBarSchema, type LiveBarInput } from '../../../lib/streaming/live-bar';
import { PollingBarProvider } from '../../../lib/streaming/live-provider';
import { checkLiveBatch } from '../../../lib/streaming/stream-quality';

/** Delivered bars as the stream entries a producer appends at `at` (ids made of that time). */
function entriesAt(bars: readonly LiveBarInput[], at: Date) {
  return bars.map((b, i) => {
    const flat = encodeLiveBar(liveBarSchema.parse(b));
    const fields: Record<string, string> = {};
    for (let k = 0; k < flat.length; k += 2) fields[flat[k]] = flat[k + 1];
    return { id: `${at.getTime()}-${i}`, fields };
  });
}

/** A provider serving Stooq-format CSV from a table that the test edits between polls. */
class FakeProvider implements HistoricalBarProvider {
  readonly name = 'fake';
  readonly format = 'stooq' as const;
  rows: Record<string, string[]> = {};
  requests: Array<{ symbol: string; range: DateRange }> = [];
  async fetchDaily(symbol: string, range: DateRange): Promise<ProviderResponse> {
    this.requests.push({ symbol, range });
    if (symbol === 'GONE') throw new ProviderError('no such symbol', false);
    if (symbol === 'FLAKY') throw new ProviderError('try later', true);
    if (symbol === 'LIMITED') return { symbol, source: `fake://${symbol}`, csv: 'Too many requests: 100 per minute allowed\n' };
    // Ending with a line break, as a provider's whole body does (one without reads as cut off in its last row).
    return { symbol, source: `fake://${symbol}`, csv: `${['Date,Open,High,Low,Close,Volume', ...(this.rows[symbol] ?? [])].join('\n')}\n` };
  }
}

describe('polling live-bar provider', () => {
  const now = () => new Date('2024-05-03T21:00:00Z');
  it('delivers new and corrected bars once, re-reads the look-back, and keeps undelivered bars for the next poll', async () => {
    const fake = new FakeProvider();
    fake.rows.AAA = ['2024-05-01,10,11,9,10.5,100', '2024-05-02,10.5,11,10,10.8,120'];
    const errors: string[] = [];
    const provider = new PollingBarProvider(fake, { symbols: ['AAA', 'GONE', 'FLAKY'], lookbackDays: 5, now, onError: (s, e) => errors.push(`${s}: ${e.message}`) });
    const got: LiveBarInput[][] = [];
    const collect = async (bars: LiveBarInput[]) => {
      got.push(bars);
    };
    expect(await provider.poll(collect)).toBe(2);
    expect(got[0].map((b) => [b.symbol, b.date, b.close])).toEqual([
      ['AAA', '2024-05-01', 10.5],
      ['AAA', '2024-05-02', 10.8],
    ]);
    expect(got[0][0]).toMatchObject({ source: 'poll:fake:fake://AAA', eventTime: '2024-05-03T21:00:00.000Z' });
    expect(fake.requests[0].range).toEqual({ from: '2024-04-28', to: '2024-05-03' });

    expect(await provider.poll(collect)).toBe(0); // nothing new

    fake.rows.AAA = ['2024-05-01,10,11,9,10.5,100', '2024-05-02,10.5,11,10,10.9,120', '2024-05-03,10.9,11.5,10.7,11.2,90'];
    await expect(provider.poll(async () => Promise.reject(new Error('stream down')))).rejects.toThrow('stream down');
    expect(await provider.poll(collect)).toBe(2); // the correction and the new day, again: not lost
    expect(got[1].map((b) => [b.date, b.close])).toEqual([
      ['2024-05-02', 10.9],
      ['2024-05-03', 11.2],
    ]);

    // An unknown symbol is asked once; a flaky one on every poll.
    expect(fake.requests.filter((r) => r.symbol === 'GONE')).toHaveLength(1);
    expect(fake.requests.filter((r) => r.symbol === 'FLAKY')).toHaveLength(4);
    expect(errors).toContain('GONE: no such symbol');
  });

  it("holds a bar back until its session is final (close plus the consumer's margin), so a poll just after the close does not use up the day's final values", async () => {
    const fake = new FakeProvider();
    fake.rows.AAA = ['2024-05-02,10.5,11,10,10.8,120', '2024-05-03,10.9,11.5,10.7,11.2,90'];
    let clock = new Date('2024-05-03T20:05:00Z'); // Friday 16:05 New York: closed, not yet final
    const provider = new PollingBarProvider(fake, { symbols: ['AAA'], lookbackDays: 5, now: () => clock });
    const accepted: string[] = [];
    const rejected: string[] = [];
    const toStream = async (bars: LiveBarInput[]) => {
      const checked = checkLiveBatch(entriesAt(bars, clock), 'k', { now: () => clock });
      accepted.push(...checked.accepted.map((a) => a.bar.date));
      rejected.push(...checked.rejected.map((q) => `${q.date} ${q.rule}`));
    };
    await provider.poll(toStream);
    clock = new Date('2024-05-03T20:20:00Z'); // 16:20: final; the provider's values are the same
    await provider.poll(toStream);
    expect(rejected).toEqual([]);
    expect(accepted).toEqual(['2024-05-02', '2024-05-03']);
    // Once final and delivered it is not delivered again.
    expect(await provider.poll(toStream)).toBe(0);
  });

  describe('with clocks that differ between the producer, the stream and the consumer', () => {
    /**
     * A stream whose entry ids carry its own clock (Redis's), read at once by a consumer with its own:
     * returns the ids, as BarStreamProducer.publish does.
     */
    function stream(clocks: { stream: () => Date; consumer: () => Date }) {
      const seen = { accepted: [] as string[], rejected: [] as string[], deliveries: [] as string[][] };
      const toStream = async (bars: LiveBarInput[]): Promise<string[]> => {
        const entries = entriesAt(bars, clocks.stream());
        const checked = checkLiveBatch(entries, 'k', { now: clocks.consumer });
        seen.deliveries.push(bars.map((b) => b.date));
        seen.accepted.push(...checked.accepted.map((a) => a.bar.date));
        seen.rejected.push(...checked.rejected.map((q) => `${q.date} ${q.rule}`));
        return entries.map((e) => e.id);
      };
      return { seen, toStream };
    }
    const ny = (at: string) => new Date(`${at}-04:00`);

    it("delivers a bar again at the next poll when the stream's clock says it was not final yet (producer 90 s ahead, polled at 16:14 by the stream), and says how far ahead the producer is", async () => {
      const fake = new FakeProvider();
      fake.rows.AAA = ['2024-05-02,10.5,11,10,10.8,120', '2024-05-03,10.9,11.5,10.7,11.2,90'];
      let trueNow = ny('2024-05-03T16:14:00');
      const errors: string[] = [];
      const provider = new PollingBarProvider(fake, { symbols: ['AAA'], lookbackDays: 5, now: () => new Date(trueNow.getTime() + 90_000), onError: (s, e) => errors.push(`${s}: ${e.message}`) });
      const { seen, toStream } = stream({ stream: () => trueNow, consumer: () => trueNow });
      expect(await provider.poll(toStream)).toBe(2); // the producer reads 16:15:30: final by its clock
      expect(seen.rejected).toEqual(['2024-05-03 session_not_closed']);
      expect(errors).toEqual([expect.stringMatching(/^\*: the producer's clock is 90 s ahead of the stream's \(Redis's\)/)]);
      trueNow = ny('2024-05-03T16:30:00');
      expect(await provider.poll(toStream)).toBe(1);
      trueNow = ny('2024-05-04T09:00:00');
      expect(await provider.poll(toStream)).toBe(0);
      expect(seen.accepted).toEqual(['2024-05-02', '2024-05-03']);
      expect(seen.deliveries).toEqual([['2024-05-02', '2024-05-03'], ['2024-05-03']]);
    });

    it('delivers bars whose event_time the consumer rejects (producer 6 min ahead) once per poll, and stores them as soon as the clock is right, without a restart', async () => {
      const fake = new FakeProvider();
      fake.rows.AAA = ['2024-05-02,10.5,11,10,10.8,120', '2024-05-03,10.9,11.5,10.7,11.2,90'];
      let trueNow = ny('2024-05-03T16:30:00');
      let skew = 6 * 60_000;
      const errors: string[] = [];
      const provider = new PollingBarProvider(fake, { symbols: ['AAA'], lookbackDays: 5, now: () => new Date(trueNow.getTime() + skew), onError: (s, e) => errors.push(`${s}: ${e.message}`) });
      const { seen, toStream } = stream({ stream: () => trueNow, consumer: () => trueNow });
      expect(await provider.poll(toStream)).toBe(2);
      trueNow = ny('2024-05-03T18:00:00');
      expect(await provider.poll(toStream)).toBe(2);
      expect(seen.rejected).toEqual(['2024-05-02 future_date', '2024-05-03 future_date', '2024-05-02 future_date', '2024-05-03 future_date']);
      expect(errors).toHaveLength(2);
      expect(errors[0]).toMatch(/the producer's clock is 360 s ahead of the stream's/);
      skew = 0;
      trueNow = ny('2024-05-03T18:30:00');
      expect(await provider.poll(toStream)).toBe(2);
      expect(await provider.poll(toStream)).toBe(0);
      expect(seen.accepted).toEqual(['2024-05-02', '2024-05-03']);
      expect(errors).toHaveLength(2);
    });

    it('says how far behind the stream a slow producer clock is, and still delivers each bar once', async () => {
      const fake = new FakeProvider();
      fake.rows.AAA = ['2024-05-02,10.5,11,10,10.8,120'];
      const trueNow = ny('2024-05-03T16:30:00');
      const errors: string[] = [];
      const provider = new PollingBarProvider(fake, { symbols: ['AAA'], lookbackDays: 5, now: () => new Date(trueNow.getTime() - 120_000), onError: (s, e) => errors.push(`${s}: ${e.message}`) });
      const { seen, toStream } = stream({ stream: () => trueNow, consumer: () => trueNow });
      expect(await provider.poll(toStream)).toBe(1);
      expect(await provider.poll(toStream)).toBe(0);
      expect(seen.accepted).toEqual(['2024-05-02']);
      expect(errors).toEqual([expect.stringMatching(/^\*: the producer's clock is 120 s behind the stream's/)]);
    });

    it('remembers every bar as before when onBars returns no ids, and reports a count of ids that does not match the bars', async () => {
      const fake = new FakeProvider();
      fake.rows.AAA = ['2024-05-02,10.5,11,10,10.8,120', '2024-05-03,10.9,11.5,10.7,11.2,90'];
      const errors: string[] = [];
      const provider = new PollingBarProvider(fake, { symbols: ['AAA'], lookbackDays: 5, now, onError: (s, e) => errors.push(`${s}: ${e.message}`) });
      expect(await provider.poll(async () => ['1714770000000-0'])).toBe(2);
      expect(errors).toEqual(['*: onBars returned 1 stream entry ids for 2 bars; the bars count as delivered']);
      expect(await provider.poll(async () => undefined)).toBe(0);
    });
  });

  it('reports a body that is no price table (a rate-limit text served with 200) and still delivers the other symbols', async () => {
    const fake = new FakeProvider();
    fake.rows.AAA = ['2024-05-02,10.5,11,10,10.8,120'];
    const errors: string[] = [];
    const provider = new PollingBarProvider(fake, { symbols: ['LIMITED', 'AAA'], lookbackDays: 5, now, onError: (s, e) => errors.push(`${s}: ${e.message}`) });
    const got: LiveBarInput[] = [];
    expect(await provider.poll(async (bars) => void got.push(...bars))).toBe(1);
    expect(got.map((b) => b.symbol)).toEqual(['AAA']);
    expect(errors).toEqual([expect.stringMatching(/^LIMITED: fake answered for LIMITED with a body that is no price table \(fake:\/\/LIMITED\): .*asked again at the next poll$/)]);
    await provider.poll(async (bars) => void got.push(...bars));
    expect(fake.requests.filter((r) => r.symbol === 'LIMITED')).toHaveLength(2);
  });

  it('polls on a timer until stopped', async () => {
    const fake = new FakeProvider();
    fake.rows.AAA = ['2024-05-01,10,11,9,10.5,100'];
    const provider = new PollingBarProvider(fake, { symbols: ['AAA'], intervalMs: 5, now });
    const got: LiveBarInput[] = [];
    await provider.start(async (bars) => {
      got.push(...bars);
    });
    for (let i = 0; i < 200 && fake.requests.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
    await provider.stop();
    const polls = fake.requests.length;
    expect(polls).toBeGreaterThanOrEqual(3);
    expect(got).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 30));
    expect(fake.requests.length).toBe(polls);
  });
});
