import { requestFromFlags } from '../../client/commands/run-pipeline';
import { importRequestSchema } from '../../lib/ingest/import-request';

describe('CLI symbol flags', () => {
  it("--symbols '$VIX,AAPL' parses: $ series are symbols", () => {
    const { request } = requestFromFlags({ source: 'data.csv', symbols: '$VIX,AAPL' });
    expect(request?.symbols).toEqual(['$VIX', 'AAPL']);
    expect(importRequestSchema.parse(request).symbols).toEqual(['$VIX', 'AAPL']);
  });

  it('--stooq takes ^ indices; a bad item is named with its flag', () => {
    expect(requestFromFlags({ stooq: '^spx, aapl' }).request?.source).toMatchObject({ kind: 'stooq', symbols: ['^SPX', 'AAPL'] });
    expect(() => requestFromFlags({ source: 'data.csv', symbols: 'AAPL,../etc' })).toThrow(/^--symbols: "\.\.\/etc": expected a symbol/);
  });

  it('--follow-links is the only way to read symbolic links; without it they are refused', () => {
    expect(requestFromFlags({ source: 'data' }).request?.source).toMatchObject({ kind: 'csv', followLinks: false });
    expect(requestFromFlags({ source: 'data', followLinks: true }).request?.source).toMatchObject({ kind: 'csv', followLinks: true });
  });
});
