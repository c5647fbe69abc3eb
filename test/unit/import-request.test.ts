import { importRequestSchema } from '../../lib/ingest/import-request';
import { qualityPolicySchema } from '../../lib/quality/policy';
import { SYMBOL_MESSAGE } from '../../lib/market-data/symbols';

/** The issues of a failed parse as "path: message" strings. */
function problems(input: unknown): string[] {
  const result = importRequestSchema.safeParse(input);
  if (result.success) throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
  return result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

const DEFAULT_POLICY = { maxBadRowShare: 0.02, extremeMoveLimit: 0.35, staleCloseDays: 5, minHistoryBars: 254 };

describe('importRequestSchema', () => {
  describe('defaults', () => {
    it('fills format, adjust and the quality policy for a csv source', () => {
      expect(importRequestSchema.parse({ source: { kind: 'csv', path: 'data/prices.csv' } })).toEqual({
        source: { kind: 'csv', path: 'data/prices.csv', format: 'auto', adjust: false, followLinks: false },
        quality: DEFAULT_POLICY,
      });
    });

    it('uses the same default policy as the policy schema', () => {
      expect(importRequestSchema.parse({ source: { kind: 'stooq', symbols: ['aapl'] } }).quality).toEqual(qualityPolicySchema.parse({}));
    });

    it('fills the missing fields of a partial quality policy', () => {
      const parsed = importRequestSchema.parse({ source: { kind: 'csv', path: 'x.csv' }, quality: { staleCloseDays: 10 } });
      expect(parsed.quality).toEqual({ ...DEFAULT_POLICY, staleCloseDays: 10 });
    });

    it('keeps explicit csv options', () => {
      const mapping = { date: 'Day', open: 'O', high: 'H', low: 'L', close: 'C', volume: 'V' };
      const parsed = importRequestSchema.parse({ source: { kind: 'csv', path: 'x.csv', format: 'yahoo', adjust: true, mapping } });
      expect(parsed.source).toEqual({ kind: 'csv', path: 'x.csv', format: 'yahoo', adjust: true, followLinks: false, mapping });
    });

    it.each([
      [{ open: 'Close', close: 'Close' }, /column "Close" as open and close/],
      [{ volume: 'close' }, /column "C" as close and volume|column "close" as close and volume/],
      [{ open: 'C', high: 'C', low: 'C' }, /column "C" as open and high and low and close/],
      [{ adjClose: 'c ' }, /as close and adjClose/],
    ])('refuses a mapping that reads one column as two fields (%o): a closes-only file would become flat bars', (fields, message) => {
      const mapping = { date: 'Day', open: 'O', high: 'H', low: 'L', close: 'C', volume: 'V', ...fields };
      if ('open' in fields && fields.open === 'Close') mapping.close = 'Close';
      if ('volume' in fields) mapping.close = 'close';
      const parsed = importRequestSchema.safeParse({ source: { kind: 'csv', path: 'x.csv', mapping } });
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues.map((i) => i.message).join('; ')).toMatch(message);
    });
  });

  describe('symbols', () => {
    it('upper-cases and trims stooq and filter symbols', () => {
      const parsed = importRequestSchema.parse({
        source: { kind: 'stooq', symbols: ['aapl', ' msft ', 'brk.b', '^spx'] },
        symbols: ['aapl', 'Brk-B'],
      });
      expect(parsed.source).toEqual({ kind: 'stooq', symbols: ['AAPL', 'MSFT', 'BRK.B', '^SPX'] });
      expect(parsed.symbols).toEqual(['AAPL', 'BRK.B']);
    });

    it('rejects an empty stooq symbol list with a message', () => {
      expect(problems({ source: { kind: 'stooq', symbols: [] } })).toEqual(['source.symbols: name at least one symbol to download']);
    });

    it.each(['', 'A B', 'AAPL;DROP', 'X'.repeat(33), 'a/b', '"AAPL"'])('rejects the symbol %j', (bad) => {
      expect(problems({ source: { kind: 'stooq', symbols: ['AAPL', bad] } })).toEqual([`source.symbols.1: ${SYMBOL_MESSAGE}`]);
      expect(problems({ source: { kind: 'csv', path: 'x.csv' }, symbols: [bad] })).toEqual([`symbols.0: ${SYMBOL_MESSAGE}`]);
    });

    it('accepts $ and ^ series, as the importer stores them', () => {
      expect(importRequestSchema.parse({ source: { kind: 'csv', path: 'x.csv' }, symbols: ['$VIX', 'AAPL', '^gspc'] }).symbols).toEqual(['$VIX', 'AAPL', '^GSPC']);
    });

    it('takes an instruments mapping and records it with the source', () => {
      const parsed = importRequestSchema.parse({ source: { kind: 'csv', path: 'x.csv' }, instruments: { SPY: 'etf', $XYZ: 'equity' } });
      expect(parsed.instruments).toEqual({ SPY: 'etf', $XYZ: 'equity' });
      expect(parsed.source).toMatchObject({ instruments: { SPY: 'etf', $XYZ: 'equity' } });
      expect(problems({ source: { kind: 'csv', path: 'x.csv' }, instruments: { SPY: 'fund' } }).map((p) => p.split(':')[0])).toEqual(['instruments.SPY']);
      expect(problems({ source: { kind: 'csv', path: 'x.csv' }, instruments: { spy: 'etf' } }).map((p) => p.split(':')[0])).toEqual(['instruments.spy']);
    });

    it('takes declared delistings (the last session a symbol traded) and records them with the source', () => {
      const parsed = importRequestSchema.parse({ source: { kind: 'stooq', symbols: ['HPQ'] }, delisted: { HPQ: '2017-11-01' } });
      expect(parsed.delisted).toEqual({ HPQ: '2017-11-01' });
      expect(parsed.source).toMatchObject({ delisted: { HPQ: '2017-11-01' } });
      // Saturday 2017-11-04 is no session: the one before it is named.
      expect(problems({ source: { kind: 'stooq', symbols: ['HPQ'] }, delisted: { HPQ: '2017-11-04' } })).toEqual(['delisted.HPQ: 2017-11-04 is not an NYSE session: declare the last session HPQ traded (the session before 2017-11-04 is 2017-11-03)']);
      expect(problems({ source: { kind: 'stooq', symbols: ['HPQ'] }, delisted: { HPQ: '1 Nov 2017' } }).map((p) => p.split(':')[0])).toEqual(['delisted.HPQ']);
      expect(problems({ source: { kind: 'stooq', symbols: ['HPQ'] }, delisted: { hpq: '2017-11-01' } }).map((p) => p.split(':')[0])).toEqual(['delisted.hpq']);
    });

    it('accepts an optional stooq base URL and rejects a bad one', () => {
      expect(importRequestSchema.parse({ source: { kind: 'stooq', symbols: ['a'], baseUrl: 'https://stooq.com' } }).source).toEqual({
        kind: 'stooq',
        symbols: ['A'],
        baseUrl: 'https://stooq.com',
      });
      expect(problems({ source: { kind: 'stooq', symbols: ['a'], baseUrl: 'stooq' } }).map((p) => p.split(':')[0])).toEqual(['source.baseUrl']);
    });
  });

  describe('dates', () => {
    const source = { kind: 'csv', path: 'x.csv' } as const;

    it('accepts a range, a single day and open ends', () => {
      expect(importRequestSchema.parse({ source, from: '2018-01-02', to: '2018-12-31' })).toMatchObject({ from: '2018-01-02', to: '2018-12-31' });
      expect(importRequestSchema.parse({ source, from: '2018-01-02', to: '2018-01-02' })).toMatchObject({ from: '2018-01-02', to: '2018-01-02' });
      const onlyFrom = importRequestSchema.parse({ source, from: '2018-01-02' });
      expect(onlyFrom.from).toBe('2018-01-02');
      expect(onlyFrom.to).toBeUndefined();
    });

    it.each(['2019-02-30', '2019-13-01', '2019/01/02', '20190102', '1/2/2019', ''])('rejects the date %j', (bad) => {
      expect(problems({ source, from: bad })).toEqual(['from: expected a date as YYYY-MM-DD']);
      expect(problems({ source, to: bad })).toEqual(['to: expected a date as YYYY-MM-DD']);
    });

    it('rejects from after to', () => {
      expect(problems({ source, from: '2019-01-03', to: '2019-01-02' })).toEqual(['from: "from" must not be after "to"']);
    });
  });

  describe('invalid sources', () => {
    it('rejects an unknown kind, a missing path and an unknown format', () => {
      expect(problems({ source: { kind: 'ftp', path: 'x' } }).map((p) => p.split(':')[0])).toEqual(['source.kind']);
      expect(problems({ source: { kind: 'csv' } }).map((p) => p.split(':')[0])).toEqual(['source.path']);
      expect(problems({ source: { kind: 'csv', path: '' } }).map((p) => p.split(':')[0])).toEqual(['source.path']);
      expect(problems({ source: { kind: 'csv', path: 'x', format: 'excel' } }).map((p) => p.split(':')[0])).toEqual(['source.format']);
      expect(problems({}).map((p) => p.split(':')[0])).toEqual(['source']);
    });

    it('rejects an out-of-range quality threshold', () => {
      expect(problems({ source: { kind: 'csv', path: 'x' }, quality: { maxBadRowShare: 2 } }).map((p) => p.split(':')[0])).toEqual(['quality.maxBadRowShare']);
    });
  });
});
