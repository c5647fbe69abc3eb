import { decodeLiveBar, encodeLiveBar, entryTimeMs, liveBarSchema, type LiveBar } from '../../../lib/streaming/live-bar';
import { BarStreamProducer } from '../../../lib/streaming/producer';

const BAR: LiveBar = { symbol: 'BRK.B', date: '2024-05-01', open: 0.1 + 0.2, high: 412.5, low: 1e-7, close: 401.123456789012, volume: 123456789, source: 'test' };

function fields(bar: LiveBar): Record<string, string> {
  const flat = encodeLiveBar(bar);
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i]] = flat[i + 1];
  return out;
}

describe('live bar message', () => {
  it('round-trips every double exactly through the string fields', () => {
    expect(decodeLiveBar(fields(BAR))).toEqual({ ok: true, bar: BAR });
    const withTime = { ...BAR, eventTime: '2024-05-01T20:00:00.000Z' };
    expect(decodeLiveBar(fields(withTime))).toEqual({ ok: true, bar: withTime });
    expect(fields(BAR)).toMatchObject({ v: '1', symbol: 'BRK.B', open: '0.30000000000000004' });
  });

  it('normalises the symbol to upper case', () => {
    expect(decodeLiveBar({ ...fields(BAR), symbol: ' aapl ' })).toMatchObject({ ok: true, bar: { symbol: 'AAPL' } });
  });

  it.each([
    [{ symbol: '' }, 'missing_symbol', /no symbol/],
    [{ symbol: 'NOT A TICKER' }, 'missing_symbol', /is not a ticker/],
    [{ date: '2024-02-30' }, 'invalid_date', /not a real YYYY-MM-DD date/],
    [{ date: '' }, 'invalid_date', /no date field/],
    [{ close: 'NaN' }, 'missing_field', /close is empty or null/],
    [{ volume: '' }, 'missing_field', /volume is empty/],
    [{ high: '12,5' }, 'non_numeric', /high "12,5" is not a number/],
    [{ open: '1e9' }, 'implausible_value', /open 1000000000 is beyond 1e\+7/],
    [{ source: '' }, 'missing_field', /source/],
    [{ event_time: 'yesterday' }, 'missing_field', /eventTime/],
    [{ v: '2' }, 'bad_header', /format version 2/],
  ])('names the ingestion rule a bad message breaks: %j', (change, rule, message) => {
    const decoded = decodeLiveBar({ ...fields(BAR), ...change });
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.rule).toBe(rule);
    expect(decoded.message).toMatch(message);
  });

  it('keeps symbol and date on a rejection when they are readable, for the quarantine row', () => {
    expect(decodeLiveBar({ ...fields(BAR), close: 'x' })).toMatchObject({ ok: false, symbol: 'BRK.B', date: '2024-05-01' });
    expect(decodeLiveBar({ ...fields(BAR), symbol: '' })).toMatchObject({ ok: false, symbol: null, date: '2024-05-01' });
  });

  it('leaves quality rules (trading day, OHLC consistency, signs) to the consumer', () => {
    expect(liveBarSchema.safeParse({ ...BAR, date: '2024-05-04', high: 1, low: 2, volume: -1 }).success).toBe(true);
  });

  it('reads the append time from a stream entry id', () => {
    expect(entryTimeMs('1714593600123-7')).toBe(1714593600123);
  });

  it('lets a producer send only messages the consumer can read', async () => {
    const producer = new BarStreamProducer({} as never, { key: 'k' });
    await expect(producer.publish([{ ...BAR, open: Number.NaN }])).rejects.toThrow(/live bar 0 \(BRK.B 2024-05-01\) is not a valid message: open/);
    await expect(producer.publish([BAR, { ...BAR, date: '2024-13-01' }])).rejects.toThrow(/live bar 1 .*date: expected a real date/);
  });
});
