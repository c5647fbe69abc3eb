import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { ProviderError } from '../../lib/market-data/providers/provider';
import { StooqProvider } from '../../lib/market-data/providers/stooq';
import { readBars } from '../../lib/store/bars';
import { createSqliteTestDatabase, type TestDatabase } from '../helpers/databases';

const RECORDED = path.join(__dirname, '..', 'fixtures', 'stooq');

/** Serves recorded Stooq responses by ticker, and counts requests. */
function startRecordedStooq(): Promise<{ url: string; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push(url.pathname + url.search);
    const ticker = url.searchParams.get('s') ?? '';
    if (url.pathname !== '/q/d/l/' || url.searchParams.get('i') !== 'd') {
      res.writeHead(400).end('bad request');
      return;
    }
    if (ticker === 'flaky.us') {
      res.writeHead(503).end('try later');
      return;
    }
    if (ticker === 'maint.us') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!DOCTYPE html><html><head><title>Stooq - maintenance</title></head><body>back soon</body></html>');
      return;
    }
    // Outage bodies served as text/plain that no leading tag gives away.
    const outage: Record<string, string> = { 'comment.us': '<!-- maint -->\n<html><body>down</body></html>\n', 'div.us': '<div>Service unavailable</div>\n', 'json.us': '{"error":"rate limit"}\n', 'ctl.us': '\u001b[2Jbusy\tretry\n' };
    if (outage[ticker] !== undefined) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(outage[ticker]);
      return;
    }
    if (ticker === 'empty.us') {
      res.writeHead(200, { 'content-type': 'text/csv' }).end('');
      return;
    }
    if (ticker === 'cut.us') {
      // Promises more than it sends, then drops the connection mid-body.
      res.writeHead(200, { 'content-type': 'text/csv', 'content-length': '10000' });
      res.write('Date,Open,High,Low,Close,Volume\n2018-01-02,1,2,0.5,1.5,100\n');
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    if (ticker === 'trunc.us') {
      // No length announced; the connection ends cleanly inside the last row's volume (2694494).
      res.writeHead(200, { 'content-type': 'text/csv', connection: 'close' });
      res.end('Date,Open,High,Low,Close,Volume\r\n2018-01-02,1172,1190,1170.51,1189.01,2694494\r\n2018-01-03,1188.3,1205.49,1188.3,1204.2,26');
      return;
    }
    if (ticker === 'wide.us' || ticker === 'gz.us') {
      // A UTF-16 body (with its byte-order mark), and compressed bytes served without Content-Encoding.
      const text = 'Date,Open,High,Low,Close,Volume\r\n2018-01-02,1172,1190,1170.51,1189.01,2694494\r\n';
      const body = ticker === 'wide.us' ? Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]) : zlib.gzipSync(text);
      res.writeHead(200, { 'content-type': 'text/csv' }).end(body);
      return;
    }
    const file = path.join(RECORDED, `${ticker}.csv`);
    res.writeHead(200, { 'content-type': 'text/csv' }).end(fs.existsSync(file) ? fs.readFileSync(file) : 'No data');
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => server.close(() => r())) });
    }),
  );
}

describe('Stooq provider against recorded responses', () => {
  let stooq: Awaited<ReturnType<typeof startRecordedStooq>>;
  let t: TestDatabase;
  beforeAll(async () => {
    stooq = await startRecordedStooq();
    t = await createSqliteTestDatabase();
  });
  afterAll(async () => {
    await stooq?.close();
    await t?.drop();
  });

  it('builds the download URL with market suffix and date range', () => {
    const p = new StooqProvider({ baseUrl: 'https://stooq.example/' });
    expect(p.urlFor('AAPL', { from: '2018-01-02', to: '2018-01-31' })).toBe('https://stooq.example/q/d/l/?s=aapl.us&i=d&d1=20180102&d2=20180131');
    expect(p.urlFor('sap.de', {})).toBe('https://stooq.example/q/d/l/?s=sap.de&i=d');
  });

  it('downloads, parses and stores bars through the same reader and rules as files', async () => {
    const summary = await importBars(
      t.store,
      importRequestSchema.parse({ source: { kind: 'stooq', symbols: ['AMZN', 'ADBE'], baseUrl: stooq.url }, from: '2018-01-02', to: '2018-01-31', quality: { minHistoryBars: 5 } }),
    );
    expect(stooq.requests).toEqual(['/q/d/l/?s=amzn.us&i=d&d1=20180102&d2=20180131', '/q/d/l/?s=adbe.us&i=d&d1=20180102&d2=20180131']);
    expect(summary.symbols).toBe(2);
    expect(summary.rowsAccepted).toBe(42);
    const amzn = await readBars(t.store, { symbols: ['AMZN'] });
    expect(amzn[0]).toEqual({ symbol: 'AMZN', date: '2018-01-02', open: 1172, high: 1190, low: 1170.51, close: 1189.01, volume: 2694494 });
    expect(amzn.at(-1)?.date).toBe('2018-01-31');
  });

  it('reports an unknown symbol as a non-retryable error and an outage as retryable', async () => {
    const p = new StooqProvider({ baseUrl: stooq.url });
    await expect(p.fetchDaily('NOPE', {})).rejects.toMatchObject({ retryable: false, message: expect.stringMatching(/no data for NOPE/i) });
    await expect(p.fetchDaily('FLAKY', {})).rejects.toEqual(expect.any(ProviderError));
    await expect(p.fetchDaily('FLAKY', {})).rejects.toMatchObject({ retryable: true });
    await expect(importBars(t.store, importRequestSchema.parse({ source: { kind: 'stooq', symbols: ['NOPE'], baseUrl: stooq.url } }))).rejects.toMatchObject({
      name: 'BadInputError',
      code: 'PROVIDER_REJECTED',
    });
  });

  it('an HTML page or an empty body served with 200, and a body cut mid-way, are retryable outages that name the provider, the symbol and the URL', async () => {
    const p = new StooqProvider({ baseUrl: stooq.url });
    await expect(p.fetchDaily('MAINT', {})).rejects.toMatchObject({ retryable: true, message: expect.stringMatching(/Stooq returned an HTML page instead of CSV for MAINT \(http.*s=maint\.us.*\): "Stooq - maintenance"/) });
    await expect(p.fetchDaily('EMPTY', {})).rejects.toMatchObject({ retryable: true, message: expect.stringMatching(/Stooq returned an empty body for EMPTY \(http.*s=empty\.us/) });
    await expect(p.fetchDaily('CUT', {})).rejects.toMatchObject({ retryable: true, message: expect.stringMatching(/Stooq response body for CUT could not be read \(http.*s=cut\.us.*\): /) });
  });

  it('a body whose first line is not a price header (an HTML comment, a <div>, a JSON error) is a retryable outage naming its first bytes, escaped', async () => {
    const p = new StooqProvider({ baseUrl: stooq.url });
    await expect(p.fetchDaily('COMMENT', {})).rejects.toMatchObject({ retryable: true, message: expect.stringMatching(/Stooq returned an HTML page instead of CSV for COMMENT \(http.*s=comment\.us.*\): it begins "<!-- maint -->\\n<html><body>down<\/body><\/html>\\n"; retry later/) });
    await expect(p.fetchDaily('DIV', {})).rejects.toMatchObject({ retryable: true, message: expect.stringMatching(/Stooq returned an HTML page instead of CSV for DIV \(http.*s=div\.us.*\): it begins "<div>Service unavailable<\/div>\\n"; retry later/) });
    await expect(p.fetchDaily('JSON', {})).rejects.toMatchObject({ retryable: true, message: expect.stringMatching(/Stooq returned no price table for JSON \(http.*s=json\.us.*\): its first line is not a price header \(Date,Open,High,Low,Close,Volume\); it begins "\{"error":"rate limit"\}\\n"; retry later/) });
    await expect(p.fetchDaily('CTL', {})).rejects.toMatchObject({ retryable: true, message: expect.stringContaining('it begins "\\x1b[2Jbusy\\tretry\\n"') });
    // Not a file to judge: the import fails retryably, not as an unreadable source.
    await expect(importBars(t.store, importRequestSchema.parse({ source: { kind: 'stooq', symbols: ['DIV'], baseUrl: stooq.url } }))).rejects.toMatchObject({ name: 'ProviderError', retryable: true });
  });

  it('a body that ends inside a row (no line break after its last line) is a retryable outage, and an import of it stores nothing', async () => {
    const p = new StooqProvider({ baseUrl: stooq.url });
    await expect(p.fetchDaily('TRUNC', {})).rejects.toMatchObject({ retryable: true, message: expect.stringMatching(/Stooq response for TRUNC \(http.*s=trunc\.us.*\) ends inside a row: its last line "2018-01-03,1188\.3,1205\.49,1188\.3,1204\.2,26" has no line break/) });
    await expect(importBars(t.store, importRequestSchema.parse({ source: { kind: 'stooq', symbols: ['TRUNC'], baseUrl: stooq.url }, quality: { minHistoryBars: 1 } }))).rejects.toMatchObject({ retryable: true });
    expect(await readBars(t.store, { symbols: ['TRUNC'] })).toEqual([]);
    // Complete recorded bodies (CRLF or LF) are read as before.
    expect((await p.fetchDaily('AMZN', {})).csv.endsWith('\n')).toBe(true);
  });

  it('decodes a body as a file is decoded: UTF-16 by its byte-order mark is read; compressed bytes are refused, non-retryably, naming the cause', async () => {
    const p = new StooqProvider({ baseUrl: stooq.url });
    expect((await p.fetchDaily('WIDE', {})).csv).toBe('Date,Open,High,Low,Close,Volume\r\n2018-01-02,1172,1190,1170.51,1189.01,2694494\r\n');
    await expect(p.fetchDaily('GZ', {})).rejects.toMatchObject({ retryable: false, message: expect.stringMatching(/Stooq response for GZ \(http.*s=gz\.us.*\) is not CSV text: it holds binary data \(a NUL byte at offset \d+, line 1\)/) });
  });

  it("maps a class suffix to Stooq's dashed ticker and back, keeping BRK.B as BRK.B", async () => {
    const p = new StooqProvider({ baseUrl: 'https://stooq.example' });
    expect(p.urlFor('BRK.B', {})).toBe('https://stooq.example/q/d/l/?s=brk-b.us&i=d');
    expect(p.urlFor('BF.A', { from: '2018-01-02' })).toBe('https://stooq.example/q/d/l/?s=bf-a.us&i=d&d1=20180102');
    expect(p.urlFor('BF-B', {})).toBe('https://stooq.example/q/d/l/?s=bf-b.us&i=d');
    // A market suffix (two letters or more) still names the market.
    expect(p.urlFor('SAP.DE', {})).toBe('https://stooq.example/q/d/l/?s=sap.de&i=d');
    expect(p.urlFor('BRK.B.US', {})).toBe('https://stooq.example/q/d/l/?s=brk-b.us&i=d');

    const direct = new StooqProvider({ baseUrl: stooq.url });
    expect((await direct.fetchDaily('BRK.B', {})).symbol).toBe('BRK.B');
    expect((await direct.fetchDaily('brk.b.us', {})).symbol).toBe('BRK.B');
    expect((await direct.fetchDaily('AMZN.US', {})).symbol).toBe('AMZN');
    const summary = await importBars(
      t.store,
      importRequestSchema.parse({ source: { kind: 'stooq', symbols: ['brk.b'], baseUrl: stooq.url }, from: '2018-01-02', to: '2018-01-31', quality: { minHistoryBars: 5 } }),
    );
    expect(stooq.requests.at(-1)).toBe('/q/d/l/?s=brk-b.us&i=d&d1=20180102&d2=20180131');
    expect(summary.rowsAccepted).toBe(21);
    expect(await readBars(t.store, { symbols: ['BRK'] })).toEqual([]);
    const brk = await readBars(t.store, { symbols: ['BRK.B'] });
    expect(brk).toHaveLength(21);
    expect(brk[0]).toEqual({ symbol: 'BRK.B', date: '2018-01-02', open: 195.3333, high: 198.3333, low: 195.085, close: 198.1683, volume: 2694494 });
  });
});
