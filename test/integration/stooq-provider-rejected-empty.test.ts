/**
 * Provider answers the quality gate rejects, and answers that hold a header and no rows: a rejected
 * answer is never served from the cache again (memory and Redis), and an empty answer is a
 * retryable error when the range asked holds closed NYSE sessions, a clean empty import otherwise.
 */
import crypto from 'node:crypto';
import { DefaultLogger } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ingestActivities } from '../../activities/ingest';
import { qualityGateActivities } from '../../activities/quality-gate';
import type { Cache } from '../../lib/cache/cache';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { RedisCache } from '../../lib/cache/redis-cache';
import { importBars, type ImportSummary } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { readBars } from '../../lib/store/bars';
import { createSqliteTestDatabase, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';
import { startStooq, STOOQ_HEADER, stooqBody, type StooqServer } from '../helpers/stooq-server';

const CLOCK = () => new Date('2018-03-01T17:00:00Z');
const quiet = (): MockActivityEnvironment => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('WARN') });

/** Every tenth row's close is 0: 26 of 251 rows rejected (10.4%), above the gate's 2%. */
const zeroCloses = (fields: string[], k: number): string[] => (k % 10 === 0 ? [...fields.slice(0, 4), '0', fields[5]] : fields);

describe('provider answers the gate rejects, and header-only answers', () => {
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

  const request = (symbols: string[], range: { from?: string; to?: string }, extra: Partial<ImportRequestInput> = {}) =>
    importRequestSchema.parse({ source: { kind: 'stooq', symbols, baseUrl: stooq.url }, ...range, quality: { minHistoryBars: 5 }, ...extra });

  describe.each([
    ['memory', () => new MemoryCache()],
    ['redis', () => new RedisCache(TEST_REDIS_URL, `mlp-test-provider-${crypto.randomBytes(3).toString('hex')}:`)],
  ] as Array<[string, () => Cache]>)('an answer the gate rejects (%s cache)', (kind, openCache) => {
    let cache: Cache;
    beforeAll(() => {
      cache = openCache();
    });
    afterAll(async () => {
      await cache?.close();
    });

    it('is not replayed from the cache: asking again reaches the server, and once the vendor fixed it the import is published', async () => {
      const symbol = kind === 'memory' ? 'RJM' : 'RJR';
      const ticker = `${symbol.toLowerCase()}.us`;
      const year = request([symbol], { from: '2017-01-01', to: '2017-12-31' });
      stooq.routes.set(ticker, { body: stooqBody(symbol, '2017-01-01', '2017-12-31', {}, zeroCloses) });
      const before = await dumpStore(t.store);
      const rejected = await importBars(t.store, year, { cache, now: CLOCK });
      expect(rejected).toMatchObject({ status: 'rejected', rowsRejected: 26, providerAnswersNotReused: [symbol] });
      expect(stooq.requests(ticker)).toBe(1);
      // Nothing published: the store's bars are as they were.
      expect((await dumpStore(t.store)).bars).toEqual(before.bars);

      // Asked again with the vendor's data unchanged: the server is asked (its answer judged as before).
      const again = await importBars(t.store, year, { cache, now: CLOCK });
      expect(again).toMatchObject({ status: 'rejected', snapshotId: rejected.snapshotId, providerAnswersNotReused: [symbol] });
      expect(stooq.requests(ticker)).toBe(2);
      expect((await dumpStore(t.store)).bars).toEqual(before.bars);

      // The vendor fixed its data: the next import gets it. Before, the cached bad body was replayed
      // for 6 h and the import stayed rejected with 1 request in all.
      stooq.routes.set(ticker, { body: stooqBody(symbol, '2017-01-01', '2017-12-31') });
      expect(await importBars(t.store, year, { cache, now: CLOCK })).toMatchObject({ status: 'published', rowsAccepted: 251 });
      expect(stooq.requests(ticker)).toBe(3);
      // An answer that was published is reused from the cache as before.
      const reused = await importBars(t.store, year, { cache, now: CLOCK });
      expect(reused.status).toBe('published');
      expect(reused.providerAnswersNotReused).toBeUndefined();
      expect(stooq.requests(ticker)).toBe(3);
    });
  });

  it("in the pipeline's steps (ingest, then the gate), the gate's error says the answers are not reused, and the next ingest asks the server", async () => {
    const cache = new MemoryCache();
    const ingest = ingestActivities({ store: t.store, cache });
    const gate = qualityGateActivities({ store: t.store, cache });
    stooq.routes.set('rjw.us', { body: stooqBody('RJW', '2017-01-01', '2017-12-31', {}, zeroCloses) });
    // The real clock: the answers of 2017 were fetched long after its close.
    const input = { source: { kind: 'stooq' as const, symbols: ['RJW'], baseUrl: stooq.url }, from: '2017-01-01', to: '2017-12-31', quality: { minHistoryBars: 5 } };
    const staged = (await quiet().run(ingest.ingestBars, input)) as ImportSummary;
    await expect(quiet().run(gate.runQualityGate, { snapshotId: staged.snapshotId })).rejects.toMatchObject({
      type: 'QUALITY_GATE_FAILED',
      message: expect.stringMatching(/of rows rejected.*; the provider's answers it was made of \(RJW\) are not reused from the cache: the next import asks the provider afresh$/),
    });
    expect(stooq.requests('rjw.us')).toBe(1);
    stooq.routes.set('rjw.us', { body: stooqBody('RJW', '2017-01-01', '2017-12-31') });
    const fixed = (await quiet().run(ingest.ingestBars, input)) as ImportSummary;
    expect(stooq.requests('rjw.us')).toBe(2);
    expect(fixed).toMatchObject({ status: 'staged', rowsAccepted: 251 });
    expect(await quiet().run(gate.runQualityGate, { snapshotId: fixed.snapshotId })).toMatchObject({ passed: true });
  });

  it('a header-only answer for a range holding closed sessions is a retryable error naming them; nothing is stored or cached', async () => {
    const cache = new MemoryCache();
    stooq.routes.set('hdr.us', { body: `${STOOQ_HEADER}\n` });
    const before = await dumpStore(t.store);
    await expect(importBars(t.store, request(['HDR'], { from: '2017-01-01', to: '2017-12-31' }), { cache, now: CLOCK })).rejects.toMatchObject({
      name: 'ProviderError',
      retryable: true,
      message: expect.stringMatching(/The provider's answer for HDR \(http.*s=hdr\.us.*\) holds a price header and no rows, but the range asked holds 251 closed NYSE sessions \(2017-01-03\.\.2017-12-29\).*retry later/),
    });
    // Without `from`: every session up to the last closed when it was fetched is missing.
    await expect(importBars(t.store, request(['HDR'], { to: '2017-12-31' }), { cache, now: CLOCK })).rejects.toMatchObject({ name: 'ProviderError', retryable: true, message: expect.stringMatching(/holds a price header and no rows, but the range asked holds closed NYSE sessions up to 2017-12-29/) });
    expect(await dumpStore(t.store)).toEqual(before);
    stooq.routes.set('hdr.us', { body: stooqBody('HDR', '2017-01-01', '2017-12-31') });
    expect(await importBars(t.store, request(['HDR'], { from: '2017-01-01', to: '2017-12-31' }), { cache, now: CLOCK })).toMatchObject({ status: 'published', rowsAccepted: 251 });
    expect(stooq.requests('hdr.us')).toBe(3);
  });

  it('a header-only answer for one symbol of several fails the import (before, it was published without that symbol)', async () => {
    stooq.routes.set('hda.us', { body: stooqBody('HDA', '2017-01-01', '2017-12-31') });
    stooq.routes.set('hdb.us', { body: `${STOOQ_HEADER}\r\n` });
    await expect(importBars(t.store, request(['HDA', 'HDB'], { from: '2017-01-01', to: '2017-12-31' }), { now: CLOCK })).rejects.toMatchObject({ name: 'ProviderError', retryable: true, message: expect.stringContaining('answer for HDB') });
    expect(await readBars(t.store, { symbols: ['HDA', 'HDB'] })).toEqual([]);
  });

  it('a declared delisting: an answer ending at the declared last session is complete, later imports take the stored declaration, an undeclared early end stays an error', async () => {
    // Delisted after 2017-11-01: Stooq's answer for 2017 ends there.
    stooq.routes.set('dls.us', { body: stooqBody('DLS', '2017-01-01', '2017-11-01') });
    const year = { from: '2017-01-01', to: '2017-12-31' };
    await expect(importBars(t.store, request(['DLS'], year), { now: CLOCK })).rejects.toMatchObject({
      name: 'ProviderError',
      message: expect.stringMatching(/ends on 2017-11-01, 40 NYSE sessions before the last session of the range asked \(2017-12-29\).*declare it in the import request \("delisted": \{"DLS": "2017-11-01"\}/),
    });
    expect(await importBars(t.store, request(['DLS'], year, { delisted: { DLS: '2017-11-01' } }), { now: CLOCK })).toMatchObject({ status: 'published', rowsAccepted: 211, lastDate: '2017-11-01' });
    // Stored with the snapshot: a later import without it (no `to`: held to the last session closed) takes it.
    stooq.routes.set('dls.us', { body: stooqBody('DLS', '2017-06-01', '2017-11-01') });
    expect(await importBars(t.store, request(['DLS'], { from: '2017-06-01' }), { now: CLOCK })).toMatchObject({ status: 'published', lastDate: '2017-11-01' });
    // A range after the last session: a header-only answer is a clean empty import.
    stooq.routes.set('dls.us', { body: `${STOOQ_HEADER}\n` });
    expect(await importBars(t.store, request(['DLS'], { from: '2018-01-01', to: '2018-02-28' }), { now: CLOCK })).toMatchObject({ status: 'published', rowsAccepted: 0 });
    // An answer ending well before the declared last session is still cut short.
    stooq.routes.set('dls.us', { body: stooqBody('DLS', '2017-01-01', '2017-11-01', { last: 20 }) });
    await expect(importBars(t.store, request(['DLS'], year), { now: CLOCK })).rejects.toMatchObject({
      name: 'ProviderError',
      retryable: true,
      message: expect.stringMatching(/ends on 2017-10-04, 20 NYSE sessions before the last session declared for DLS \("delisted"\) \(2017-11-01\): 2017-10-05\.\.2017-11-01 are missing.*retry later\. If DLS stopped trading on 2017-10-04, correct its declared last session \("delisted": \{"DLS": "2017-10-04"\}\)/),
    });
    // Another symbol's undeclared early end stays an error.
    stooq.routes.set('dlt.us', { body: stooqBody('DLT', '2017-01-01', '2017-11-01') });
    await expect(importBars(t.store, request(['DLT'], year), { now: CLOCK })).rejects.toMatchObject({ name: 'ProviderError', retryable: true });
    expect(await readBars(t.store, { symbols: ['DLT'] })).toEqual([]);
  });

  it('"No data" for a range wholly after a declared delisting skips the symbol with a note; a range reaching its trading days, or an undeclared symbol, still fails naming the cause', async () => {
    // DLN traded until 2017-11-01: declared with its 2017 import, so later imports take it.
    stooq.routes.set('dln.us', { body: stooqBody('DLN', '2017-01-01', '2017-11-01') });
    const year = { from: '2017-01-01', to: '2017-12-31' };
    expect(await importBars(t.store, request(['DLN'], year, { delisted: { DLN: '2017-11-01' } }), { now: CLOCK })).toMatchObject({ status: 'published', rowsAccepted: 211 });
    // Stooq now answers "No data" for DLN (the server's answer for a ticker without a route).
    stooq.routes.delete('dln.us');
    stooq.routes.set('dlo.us', { body: stooqBody('DLO', '2018-01-01', '2018-02-28') });
    const before = await dumpStore(t.store);
    const after2018 = { from: '2018-01-01', to: '2018-02-28' };
    // Beside another symbol, by the stored declaration: DLN is skipped, DLO imported as it would be alone.
    const both = await importBars(t.store, request(['DLN', 'DLO'], after2018), { now: CLOCK });
    expect(both).toMatchObject({ status: 'published', symbols: 1, rowsAccepted: 40, rowsRejected: 0, firstDate: '2018-01-02', lastDate: '2018-02-28' });
    expect(both.emptyAnswers).toEqual({ DLN: expect.stringMatching(/no data for DLN in the range asked \(2018-01-01\.\.2018-02-28\), which lies wholly after its declared last session \(2017-11-01, "delisted"\): skipped, nothing stored/) });
    // Nothing of DLN written: every row but DLO's is as it was.
    const dumped = await dumpStore(t.store);
    const notDlo = (row: unknown): boolean => (row as { symbol: string | null }).symbol !== 'DLO';
    expect(dumped.bars.filter(notDlo)).toEqual(before.bars);
    expect(dumped.quarantine.filter(notDlo)).toEqual(before.quarantine);
    // Alone, without `to`, declared in the request itself: a clean empty import.
    const alone = await importBars(t.store, request(['DLN'], { from: '2017-11-02' }, { delisted: { DLN: '2017-11-01' } }), { now: CLOCK });
    expect(alone).toMatchObject({ status: 'published', rowsRead: 0, rowsAccepted: 0, symbols: 0 });
    expect(alone.emptyAnswers?.DLN).toMatch(/declared last session \(2017-11-01/);
    // A range reaching the sessions it traded: "No data" is an error naming why.
    await expect(importBars(t.store, request(['DLN', 'DLO'], { from: '2017-10-02', to: '2018-02-28' }), { now: CLOCK })).rejects.toMatchObject({
      code: 'PROVIDER_REJECTED',
      message: expect.stringMatching(/Stooq has no data for DLN.*DLN is declared delisted after 2017-11-01, but the range asked \(2017-10-02\.\.2018-02-28\) starts on 2017-10-02, on or before that session, so it is not empty by right; nothing was imported/),
    });
    // An undeclared symbol's "No data" stays final.
    await expect(importBars(t.store, request(['DLP', 'DLO'], after2018), { now: CLOCK })).rejects.toMatchObject({
      code: 'PROVIDER_REJECTED',
      message: expect.stringMatching(/Stooq has no data for DLP.*If DLP was delisted before 2018-01-01, declare its last session in the import request \("delisted"/),
    });
    expect(await readBars(t.store, { symbols: ['DLP'] })).toEqual([]);
  });

  it('"No data" is not skipped where the store contradicts the declared delisting, nor when the body only starts with "No data"', async () => {
    // DLQ was declared delisted after 2017-11-01, yet its import held (and stored) rows into 2018.
    stooq.routes.set('dlq.us', { body: stooqBody('DLQ', '2017-01-01', '2018-02-28') });
    expect(await importBars(t.store, request(['DLQ'], { from: '2017-01-01', to: '2018-02-28' }, { delisted: { DLQ: '2017-11-01' } }), { now: CLOCK })).toMatchObject({ status: 'published' });
    stooq.routes.delete('dlq.us');
    stooq.routes.set('dlr.us', { body: stooqBody('DLR', '2018-01-01', '2018-02-28') });
    const before = await dumpStore(t.store);
    await expect(importBars(t.store, request(['DLQ', 'DLR'], { from: '2018-01-01', to: '2018-02-28' }), { now: CLOCK })).rejects.toMatchObject({
      code: 'PROVIDER_REJECTED',
      message: expect.stringMatching(/Stooq has no data for DLQ.*declared delisted after 2017-11-01, but the store holds 80 bars of DLQ after that session \(2017-11-02\.\.2018-02-28\), so the declaration does not hold/),
    });
    expect(await dumpStore(t.store)).toEqual(before);
    // An outage page whose first words are "No data…" is not Stooq's "No data": retryable, nothing skipped.
    stooq.routes.set('dls.us', { body: 'No database connection available, please try again later\n' });
    await expect(importBars(t.store, request(['DLS', 'DLR'], { from: '2018-01-01', to: '2018-02-28' }, { delisted: { DLS: '2017-11-01' } }), { now: CLOCK })).rejects.toMatchObject({ name: 'ProviderError', retryable: true });
    expect(await dumpStore(t.store)).toEqual(before);
  });

  it('a header-only answer for a range holding no closed session (a weekend and a holiday, or a session not closed yet) is a clean empty import', async () => {
    stooq.routes.set('hde.us', { body: `${STOOQ_HEADER}\n` });
    const before = await dumpStore(t.store);
    // Saturday 2017-12-23 to Monday 2017-12-25 (Christmas).
    const holiday = await importBars(t.store, request(['HDE'], { from: '2017-12-23', to: '2017-12-25' }), { now: CLOCK });
    expect(holiday).toMatchObject({ status: 'published', rowsRead: 0, rowsAccepted: 0, rowsRejected: 0, symbols: 0 });
    // Fetched at noon on 2018-03-01, asked for that day: its session has not closed.
    const open = await importBars(t.store, request(['HDE'], { from: '2018-03-01', to: '2018-03-01' }), { now: CLOCK });
    expect(open).toMatchObject({ status: 'published', rowsAccepted: 0 });
    const after = await dumpStore(t.store);
    expect(after.bars).toEqual(before.bars);
    // No finding: an empty range read empty is not an empty file.
    expect(after.quarantine).toEqual(before.quarantine);
  });
});
