import { decodeLiveBar, encodeLiveBar, entryTimeMs, liveBarSchema, liveBarSource, type LiveBar } from '../../../lib/streaming/live-bar';
import { BarStreamProducer } from '../../../lib/streaming/producer';

const BAR: LiveBar = { symbol: 'BRK.B', date: '2024-05-01', open: 0.1 + 0.2, high: 412.5, low: 1e-7, close: 401.123456789012, volume: 123456789, source: 'test' };

/** What encodeLiveBar writes, as the field record a stream entry holds. */
function fields(bar: LiveBar): Record<string, string> {
  const flat = encodeLiveBar(bar);
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i]] = flat[i + 1];
  return out;
}

/** The same bar in version 1's flat form, written out here (independently of the encoder). */
function v1(bar: LiveBar): Record<string, string> {
  const out: Record<string, string> = { v: '1', symbol: bar.symbol, date: bar.date, open: String(bar.open), high: String(bar.high), low: String(bar.low), close: String(bar.close), volume: String(bar.volume), source: bar.source };
  if (bar.eventTime !== undefined) out.event_time = bar.eventTime;
  return out;
}

/** A version 1 record packed into version 2's form (values in its order). */
function v2(flat: Record<string, string>): Record<string, string> {
  const values = ['symbol', 'date', 'open', 'high', 'low', 'close', 'volume', 'source'].map((k) => flat[k] ?? '');
  if (flat.event_time !== undefined) values.push(flat.event_time);
  return { v: '2', bar: JSON.stringify(values) };
}

describe('live bar message', () => {
  it('round-trips every double exactly through the string fields', () => {
    expect(decodeLiveBar(fields(BAR))).toEqual({ ok: true, bar: BAR });
    const withTime = { ...BAR, eventTime: '2024-05-01T20:00:00.000Z' };
    expect(decodeLiveBar(fields(withTime))).toEqual({ ok: true, bar: withTime });
    expect(fields(BAR)).toEqual({ v: '2', bar: '["BRK.B","2024-05-01","0.30000000000000004","412.5","1e-7","401.123456789012","123456789","test"]' });
    expect(fields(withTime)).toEqual(v2(v1(withTime)));
  });

  it('reads version 1 messages (flat fields), and messages without a version, as before', () => {
    const withTime = { ...BAR, eventTime: '2024-05-01T20:00:00.000Z' };
    expect(decodeLiveBar(v1(BAR))).toEqual({ ok: true, bar: BAR });
    expect(decodeLiveBar(v1(withTime))).toEqual({ ok: true, bar: withTime });
    const unversioned = v1(BAR);
    delete unversioned.v;
    expect(decodeLiveBar(unversioned)).toEqual({ ok: true, bar: BAR });
    expect([liveBarSource(v1(BAR)), liveBarSource(fields(BAR)), liveBarSource({ v: '2', bar: 'not json' })]).toEqual(['test', 'test', undefined]);
  });

  it.each([
    [{ v: '2' }, /without its "bar" field/],
    [{ v: '2', bar: 'not json' }, /must be a JSON array of 8 or 9 strings/],
    [{ v: '2', bar: '{"symbol":"AAPL"}' }, /must be a JSON array/],
    [{ v: '2', bar: '["BRK.B","2024-05-01","1","1","1","1","1"]' }, /must be a JSON array of 8 or 9 strings.*got/],
    [{ v: '2', bar: '["BRK.B","2024-05-01","1","1","1","1","1","s","2024-05-01T20:00:00Z","extra"]' }, /8 or 9 strings/],
    [{ v: '2', bar: '["BRK.B","2024-05-01",1,"1","1","1","1","s"]' }, /8 or 9 strings/],
  ])('refuses a version 2 message whose values cannot be read as bad_header: %j', (message, text) => {
    expect(decodeLiveBar(message)).toEqual({ ok: false, rule: 'bad_header', message: expect.stringMatching(text), symbol: null, date: null });
  });

  it('normalises the symbol to upper case', () => {
    expect(decodeLiveBar({ ...v1(BAR), symbol: ' aapl ' })).toMatchObject({ ok: true, bar: { symbol: 'AAPL' } });
    expect(decodeLiveBar(v2({ ...v1(BAR), symbol: ' aapl ' }))).toMatchObject({ ok: true, bar: { symbol: 'AAPL' } });
  });

  it('stores a dashed share class dotted, as imports do (one security, one symbol)', () => {
    for (const symbol of ['BRK-B', 'brk-b', ' BF-B ']) {
      expect(decodeLiveBar({ ...v1(BAR), symbol })).toMatchObject({ ok: true, bar: { symbol: symbol.trim().toUpperCase().replace('-', '.') } });
      expect(decodeLiveBar(v2({ ...v1(BAR), symbol }))).toMatchObject({ ok: true, bar: { symbol: symbol.trim().toUpperCase().replace('-', '.') } });
    }
    // Not a one-letter class: kept as given.
    expect(decodeLiveBar({ ...v1(BAR), symbol: 'ES-MINI' })).toMatchObject({ ok: true, bar: { symbol: 'ES-MINI' } });
  });

  it("stores a US ticker given with the market suffix (Stooq's and EODHD's AAPL.US) as the bare ticker, as imports and the Stooq provider do; another market's suffix is kept", () => {
    for (const [symbol, stored] of [['AAPL.US', 'AAPL'], ['aapl.us', 'AAPL'], [' brk-b.us ', 'BRK.B'], ['BRK.B.US', 'BRK.B'], ['SAP.DE', 'SAP.DE'], ['7203.JP', '7203.JP'], ['US', 'US']]) {
      expect(decodeLiveBar({ ...v1(BAR), symbol })).toMatchObject({ ok: true, bar: { symbol: stored } });
      expect(decodeLiveBar(v2({ ...v1(BAR), symbol }))).toMatchObject({ ok: true, bar: { symbol: stored } });
    }
  });

  it.each(['ıbm', 'ſpy', ' ıbm ', 'aſ'])('refuses the non-ASCII symbol %j, though it upper-cases to ASCII', (symbol) => {
    for (const message of [{ ...v1(BAR), symbol }, v2({ ...v1(BAR), symbol })]) {
      expect(decodeLiveBar(message)).toEqual({ ok: false, rule: 'invalid_symbol', message: expect.stringMatching(/is not a ticker/), symbol: null, date: '2024-05-01' });
    }
  });

  it.each([
    [{ symbol: '' }, 'missing_symbol', /no symbol/],
    [{ symbol: 'NOT A TICKER' }, 'invalid_symbol', /is not a ticker/],
    [{ date: '2024-02-30' }, 'invalid_date', /not a real YYYY-MM-DD date/],
    [{ date: '' }, 'invalid_date', /no date field/],
    [{ close: 'NaN' }, 'missing_field', /close is empty or null/],
    [{ volume: '' }, 'missing_field', /volume is empty/],
    [{ high: '12,5' }, 'non_numeric', /high "12,5" is not a number/],
    [{ open: '1e9' }, 'implausible_value', /open 1000000000 is beyond 1e\+7/],
    [{ source: '' }, 'missing_field', /source/],
    [{ event_time: 'yesterday' }, 'missing_field', /eventTime/],
    // Exponent notation a spreadsheet rounded, as the CSV reader rejects it (not read as written).
    [{ open: '10.25', high: '10.5', low: '10.12', close: '1.04e+1' }, 'imprecise_price', /close "1.04e\+1" is written in exponent notation with 3 significant digits, to the nearest 0.1, short of the cent/],
    [{ volume: '1.0E+03', open: '10.25', high: '10.5', low: '10.12', close: '10.37' }, 'imprecise_volume', /volume "1.0E\+03" .* 2 significant digits, short of the 4 of its 1,000 shares.*send the volume as a whole number/],
  ])('names the ingestion rule a bad message breaks, in either version: %j', (change, rule, message) => {
    for (const message_ of [{ ...v1(BAR), ...change }, v2({ ...v1(BAR), ...change })]) {
      const decoded = decodeLiveBar(message_);
      expect(decoded.ok).toBe(false);
      if (decoded.ok) return;
      expect(decoded.rule).toBe(rule);
      expect(decoded.message).toMatch(message);
    }
  });

  it('refuses a message of an unknown version as bad_header', () => {
    expect(decodeLiveBar({ ...v1(BAR), v: '3' })).toMatchObject({ ok: false, rule: 'bad_header', message: expect.stringMatching(/format version 3; this consumer reads versions 1 and 2/) });
  });

  it('keeps symbol and date on a rejection when they are readable, for the quarantine row', () => {
    expect(decodeLiveBar({ ...v1(BAR), close: 'x' })).toMatchObject({ ok: false, symbol: 'BRK.B', date: '2024-05-01' });
    expect(decodeLiveBar(v2({ ...v1(BAR), close: 'x' }))).toMatchObject({ ok: false, symbol: 'BRK.B', date: '2024-05-01' });
    expect(decodeLiveBar({ ...v1(BAR), symbol: '' })).toMatchObject({ ok: false, symbol: null, date: '2024-05-01' });
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
