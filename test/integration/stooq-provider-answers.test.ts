/**
 * What a provider's answer must be before it is imported or cached: a body that fails the import is
 * never cached (asking again reaches the server), and a body that stops short of a range already
 * closed (cut at a line break) is a retryable provider error naming the sessions it lacks.
 */
import { MemoryCache } from '../../lib/cache/memory-cache';
import { importBars, providerCacheKey } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { StooqProvider } from '../../lib/market-data/providers/stooq';
import { readBars } from '../../lib/store/bars';
import { createSqliteTestDatabase, type TestDatabase } from '../helpers/databases';
import { startStooq, stooqBody, type StooqServer } from '../helpers/stooq-server';

const CLOCK = () => new Date('2018-03-01T17:00:00Z');

describe('provider answers: what is cached, and bodies that stop short', () => {
  let stooq: StooqServer;
  let t: TestDatabase;
  beforeAll(async () => {
    stooq = await startStooq();
    t = await createSqliteTestDatabase();
  });
  afterAll(async () => {
    await stooq?.close();
    await t?.drop();
  });

  const request = (symbol: string, from: string, to?: string) => importRequestSchema.parse({ source: { kind: 'stooq', symbols: [symbol], baseUrl: stooq.url }, from, ...(to === undefined ? {} : { to }), quality: { minHistoryBars: 5 } });

  it('an answer for the wrong period fails and is not cached: once the server answers right, asking again reaches it', async () => {
    const cache = new MemoryCache();
    stooq.routes.set('aaa.us', { body: stooqBody('AAA', '2016-01-01', '2016-12-31') });
    await expect(importBars(t.store, request('AAA', '2017-01-01', '2017-12-31'), { cache, now: CLOCK })).rejects.toMatchObject({ code: 'PROVIDER_REJECTED', message: expect.stringMatching(/holds no row of the range asked .*ask again/) });
    stooq.routes.set('aaa.us', { body: stooqBody('AAA', '2017-01-01', '2017-12-31') });
    const summary = await importBars(t.store, request('AAA', '2017-01-01', '2017-12-31'), { cache, now: CLOCK });
    expect(summary).toMatchObject({ status: 'published', rowsAccepted: 251 });
    expect(stooq.requests('aaa.us')).toBe(2);
    // A body that passed is cached as before: asking again does not reach the server.
    await importBars(t.store, request('AAA', '2017-01-01', '2017-12-31'), { cache, now: CLOCK });
    expect(stooq.requests('aaa.us')).toBe(2);
  });

  it('a maintenance <div> served as text/plain is a retryable outage, not cached: after the server recovers the import gets the bars', async () => {
    const cache = new MemoryCache();
    stooq.routes.set('bbb.us', { type: 'text/plain', body: '<div>Service unavailable</div>\n' });
    await expect(importBars(t.store, request('BBB', '2017-01-01', '2017-12-31'), { cache, now: CLOCK })).rejects.toMatchObject({ name: 'ProviderError', retryable: true, message: expect.stringContaining('<div>Service unavailable</div>') });
    stooq.routes.set('bbb.us', { body: stooqBody('BBB', '2017-01-01', '2017-12-31') });
    expect(await importBars(t.store, request('BBB', '2017-01-01', '2017-12-31'), { cache, now: CLOCK })).toMatchObject({ status: 'published', rowsAccepted: 251 });
    expect(stooq.requests('bbb.us')).toBe(2);
  });

  it('a failing body an earlier version cached is dropped and fetched again, not replayed', async () => {
    const cache = new MemoryCache();
    const provider = new StooqProvider({ baseUrl: stooq.url });
    const key = providerCacheKey(provider, 'CCC', { from: '2017-01-01', to: '2017-12-31' });
    const source = provider.urlFor('CCC', { from: '2017-01-01', to: '2017-12-31' });
    await cache.set(key, JSON.stringify({ source, text: '<div>Service unavailable</div>\n', symbol: 'CCC', fetchedAt: CLOCK().toISOString() }), 3600);
    stooq.routes.set('ccc.us', { body: stooqBody('CCC', '2017-01-01', '2017-12-31') });
    expect(await importBars(t.store, request('CCC', '2017-01-01', '2017-12-31'), { cache, now: CLOCK })).toMatchObject({ status: 'published', rowsAccepted: 251 });
    expect(stooq.requests('ccc.us')).toBe(1);
    expect(JSON.parse((await cache.get(key)) as string).text).toBe(stooqBody('CCC', '2017-01-01', '2017-12-31'));
  });

  it('a body cut at a line break, 40 sessions short of a closed range, is a retryable error naming the missing sessions; nothing is stored', async () => {
    const cache = new MemoryCache();
    stooq.routes.set('hpq.us', { body: stooqBody('HPQ', '2017-01-01', '2017-12-31', { last: 40 }) });
    await expect(importBars(t.store, request('HPQ', '2017-01-01', '2017-12-31'), { cache, now: CLOCK })).rejects.toMatchObject({
      name: 'ProviderError',
      retryable: true,
      message: expect.stringMatching(/The provider's answer for HPQ \(http.*s=hpq\.us.*\) ends on 2017-11-01, 40 NYSE sessions before the last session of the range asked \(2017-12-29\): 2017-11-02\.\.2017-12-29 are missing.*retry later.*delisted.*ask for the range it holds \(to 2017-11-01\)/),
    });
    expect(await readBars(t.store, { symbols: ['HPQ'] })).toEqual([]);
    // Not cached: the complete answer is fetched the next time.
    stooq.routes.set('hpq.us', { body: stooqBody('HPQ', '2017-01-01', '2017-12-31') });
    expect(await importBars(t.store, request('HPQ', '2017-01-01', '2017-12-31'), { cache, now: CLOCK })).toMatchObject({ status: 'published', rowsAccepted: 251, lastDate: '2017-12-29' });
    expect(stooq.requests('hpq.us')).toBe(2);
  });

  it('a delisted symbol is imported by asking for the range it holds; a few sessions short, and holidays, are no finding', async () => {
    // Ends 2017-11-01 (a delisting): asked up to that date, it is complete.
    stooq.routes.set('ddd.us', { body: stooqBody('DDD', '2017-01-01', '2017-12-31', { last: 40 }) });
    expect(await importBars(t.store, request('DDD', '2017-01-01', '2017-11-01'), { now: CLOCK })).toMatchObject({ status: 'published', rowsAccepted: 211 });
    // Two sessions short (a provider a day or two behind): within the allowance.
    stooq.routes.set('eee.us', { body: stooqBody('EEE', '2017-01-01', '2017-12-31', { last: 2 }) });
    expect(await importBars(t.store, request('EEE', '2017-01-01', '2017-12-31'), { now: CLOCK })).toMatchObject({ status: 'published', rowsAccepted: 249 });
    // Asked 2017-07-01..2017-12-25 (Saturday to Christmas): the answer's 2017-07-03..2017-12-22 is complete.
    stooq.routes.set('fff.us', { body: stooqBody('FFF', '2017-07-01', '2017-12-25') });
    expect(await importBars(t.store, request('FFF', '2017-07-01', '2017-12-25'), { now: CLOCK })).toMatchObject({ status: 'published', firstDate: '2017-07-03', lastDate: '2017-12-22' });
  });

  it('a range not yet closed is not held to its end', async () => {
    // Fetched on 2017-12-15 after the close, asked up to 2017-12-31: the sessions after the 15th do not exist yet.
    stooq.routes.set('ggg.us', { body: stooqBody('GGG', '2017-01-01', '2017-12-15') });
    const mid = () => new Date('2017-12-15T23:00:00Z');
    expect(await importBars(t.store, request('GGG', '2017-01-01', '2017-12-31'), { now: mid })).toMatchObject({ status: 'published', lastDate: '2017-12-15' });
  });

  it('a range reaching past the fetch (no `to`, or a `to` later than the fetch) is held to the last session closed when fetched', async () => {
    // Fetched 2018-03-01 at noon New York: 2018-02-28 is the last closed session. Before, neither
    // range was checked at its end and both cut bodies were published as 252 bars ending 2018-01-02.
    const cut = (symbol: string) => stooqBody(symbol, '2017-01-01', '2018-02-28', { last: 40 });
    const missing = /ends on 2017-12-29, 40 NYSE sessions before the last session closed when it was fetched \(2018-02-28\): 2018-01-02\.\.2018-02-28 are missing.*retry later/;
    stooq.routes.set('jjj.us', { body: cut('JJJ') });
    await expect(importBars(t.store, request('JJJ', '2017-01-01'), { now: CLOCK })).rejects.toMatchObject({ name: 'ProviderError', retryable: true, message: expect.stringMatching(missing) });
    stooq.routes.set('kkk.us', { body: cut('KKK') });
    await expect(importBars(t.store, request('KKK', '2017-01-01', '2018-03-31'), { now: CLOCK })).rejects.toMatchObject({ name: 'ProviderError', retryable: true, message: expect.stringMatching(missing) });
    expect(await readBars(t.store, { symbols: ['JJJ', 'KKK'] })).toEqual([]);
    // A provider a session or two behind is within the allowance, with or without `to`.
    stooq.routes.set('jjj.us', { body: stooqBody('JJJ', '2017-01-01', '2018-02-28', { last: 2 }) });
    expect(await importBars(t.store, request('JJJ', '2017-01-01'), { now: CLOCK })).toMatchObject({ status: 'published', lastDate: '2018-02-26' });
    stooq.routes.set('kkk.us', { body: stooqBody('KKK', '2017-01-01', '2018-02-28') });
    expect(await importBars(t.store, request('KKK', '2017-01-01', '2018-03-31'), { now: CLOCK })).toMatchObject({ status: 'published', lastDate: '2018-02-28' });
  });

  it('an answer that starts late is a finding when the symbol was listed before (stored bars), and taken for the listing otherwise', async () => {
    stooq.routes.set('hhh.us', { body: stooqBody('HHH', '2016-01-01', '2016-12-31') });
    expect(await importBars(t.store, request('HHH', '2016-01-01', '2016-12-31'), { now: CLOCK })).toMatchObject({ status: 'published' });
    stooq.routes.set('hhh.us', { body: stooqBody('HHH', '2017-01-01', '2017-12-31', { first: 38 }) });
    await expect(importBars(t.store, request('HHH', '2017-01-01', '2017-12-31'), { now: CLOCK })).rejects.toMatchObject({
      name: 'ProviderError',
      retryable: true,
      message: expect.stringMatching(/The provider's answer for HHH \(http.*\) starts on 2017-02-28, 38 NYSE sessions after the first session of the range asked \(2017-01-03\): 2017-01-03\.\.2017-02-27 are missing, and the store holds bars of HHH up to 2016-12-30/),
    });
    // A symbol without stored bars before the answer: its first row is its listing.
    stooq.routes.set('iii.us', { body: stooqBody('III', '2017-01-01', '2017-12-31', { first: 38 }) });
    expect(await importBars(t.store, request('III', '2017-01-01', '2017-12-31'), { now: CLOCK })).toMatchObject({ status: 'published', firstDate: '2017-02-28' });
  });
});
