/**
 * CSV sources in the object store (import.source.path = s3://bucket/prefix) against a real
 * S3-compatible server (versitygw): the same bars as importing the same files from a local folder,
 * the same guards (size, encoding) with the same messages, and failures classed the way the
 * activity retry policy needs them — a missing or forbidden source for good, an unreachable or
 * failing server for later.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { asTemporalFailure } from '../../activities/failures';
import type { ObjectStoreSettings } from '../../lib/config';
import { BadInputError } from '../../lib/errors';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../../lib/ingest/import-request';
import { UnreadableSourceError } from '../../lib/market-data/csv-reader';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { countBars, readBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { getSnapshot } from '../../lib/store/snapshots';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { startTestObjectStore, type TestObjectStore } from '../helpers/object-store';
import { freePort } from '../helpers/worker-process';

// Planted errors are quarantined with their source; a lenient gate publishes the rest to compare.
const QUALITY = { maxBadRowShare: 0.5 };
const request = (p: string, extra: Partial<Extract<ImportRequestInput['source'], { kind: 'csv' }>> = {}) => importRequestSchema.parse({ source: { kind: 'csv', path: p, ...extra }, quality: QUALITY });
const LATIN1 = Buffer.from('Date,Open,High,Low,Close,Volume,Nom\n2019-01-02,1,2,1,2,10,Hôtel\n', 'latin1');

async function failure(run: Promise<unknown>): Promise<Error> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

/** What the ingest activity makes of the error (activities/failures.ts): non-retryable or retried as is. */
function nonRetryableType(error: Error): string | undefined {
  const mapped = asTemporalFailure(error);
  if (mapped === error) return undefined;
  expect(mapped).toBeInstanceOf(ApplicationFailure);
  expect((mapped as ApplicationFailure).nonRetryable).toBe(true);
  return (mapped as ApplicationFailure).type ?? undefined;
}

async function storedNothing(store: Database): Promise<void> {
  expect(await countBars(store)).toBe(0);
  expect(await store.db.selectFrom('dataset_snapshots').selectAll().execute()).toEqual([]);
  expect(await store.db.selectFrom('quarantine').selectAll().execute()).toEqual([]);
}

describe('CSV import sources in an S3-compatible object store (versitygw)', () => {
  let s3: TestObjectStore;
  let market: Awaited<ReturnType<typeof writeSyntheticMarket>>;
  let marketUrl: string;
  let t: TestDatabase;
  let local: TestDatabase;
  let settings: ObjectStoreSettings;
  const dirs: string[] = [];

  beforeAll(async () => {
    s3 = await startTestObjectStore();
    settings = s3.settings;
    const dir = tempDir('mlp-s3-market-');
    dirs.push(dir);
    market = await writeSyntheticMarket(dir, { symbols: 4, from: '2017-01-03', to: '2017-12-29' });
    marketUrl = await s3.putFolder(dir, 'market/daily');
    // Beside the CSVs, as in a real bucket: neither is read (not .csv/.txt; deeper than the folder).
    await s3.put('market/daily/README.md', 'prices of the test market');
    await s3.put('market/daily/archive/old.csv', 'not,a,price,table\n');
  }, 600_000); // the first run on a machine builds versitygw (about 3 minutes)
  afterAll(async () => {
    await s3?.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
    local = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t?.drop();
    await local?.drop();
  });

  it('imports a folder of objects into the same bars as the same files from a local folder, naming each object in quarantine', async () => {
    const fromS3 = await importBars(t.store, request(`${marketUrl}/`), { csvFiles: { objectStore: settings } });
    const fromDisk = await importBars(local.store, request(market.dir));
    expect(fromS3.status).toBe('published');
    expect(fromS3.sources).toBe(4); // not README.md, not archive/old.csv
    // The content hash ignores where the files are: the same snapshot, whichever place it came from.
    expect(fromS3.snapshotId).toBe(fromDisk.snapshotId);
    expect({ ...fromS3, durationMs: 0 }).toEqual({ ...fromDisk, durationMs: 0 });
    const bars = await readBars(t.store);
    expect(bars.length).toBeGreaterThan(500);
    expect(bars).toEqual(await readBars(local.store));

    const quarantined = await t.store.db.selectFrom('quarantine').select('source').distinct().execute();
    expect(quarantined.length).toBeGreaterThan(0);
    for (const q of quarantined) expect(q.source).toMatch(new RegExp(`^s3://${s3.bucket}/market/daily/[^/]+\\.csv$`));
    expect((await getSnapshot(t.store, fromS3.snapshotId))?.source).toMatchObject({ kind: 'csv', path: `${marketUrl}/` }); // lineage: the URL as given
  });

  it('imports one object when the key ends in .csv', async () => {
    const file = market.files[1];
    const url = `${marketUrl}/${path.basename(file)}`;
    const fromS3 = await importBars(t.store, request(url), { csvFiles: { objectStore: settings } });
    const fromDisk = await importBars(local.store, request(file));
    expect(fromS3.sources).toBe(1);
    expect(fromS3.symbols).toBe(1);
    expect(await readBars(t.store)).toEqual(await readBars(local.store));
    expect(fromS3.snapshotId).toBe(fromDisk.snapshotId);
  });

  it('reads with the environment\'s S3_ENDPOINT, ARTIFACT_URL unset, as a worker does', async () => {
    const saved = { S3_ENDPOINT: process.env.S3_ENDPOINT, ARTIFACT_URL: process.env.ARTIFACT_URL };
    process.env.S3_ENDPOINT = s3.endpoint;
    delete process.env.ARTIFACT_URL;
    try {
      expect((await importBars(t.store, request(marketUrl))).sources).toBe(4);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('fails a missing prefix or object as not found and an empty folder as empty, naming the URL and the server, storing nothing', async () => {
    const missing = await failure(importBars(t.store, request(`s3://${s3.bucket}/market/weekly`), { csvFiles: { objectStore: settings } }));
    expect(missing).toBeInstanceOf(BadInputError);
    expect(nonRetryableType(missing)).toBe('SOURCE_NOT_FOUND');
    expect(missing.message).toContain(`s3://${s3.bucket}/market/weekly/`);
    expect(missing.message).toContain(s3.endpoint);

    const object = await failure(importBars(t.store, request(`${marketUrl}/ZZZZ.csv`), { csvFiles: { objectStore: settings } }));
    expect(nonRetryableType(object)).toBe('SOURCE_NOT_FOUND');
    expect(object.message).toContain(`No object at ${marketUrl}/ZZZZ.csv (object store ${s3.endpoint})`);

    await s3.put('notes/readme.md', 'no prices here');
    const empty = await failure(importBars(t.store, request(`s3://${s3.bucket}/notes`), { csvFiles: { objectStore: settings } }));
    expect(nonRetryableType(empty)).toBe('SOURCE_EMPTY');
    expect(empty.message).toBe(`The folder s3://${s3.bucket}/notes/ (object store ${s3.endpoint}) holds no .csv or .txt objects`);
    await storedNothing(t.store);
  });

  it('refuses an oversize object from its listed size, before downloading any object', async () => {
    // a.csv sorts first and is not UTF-8: had it been downloaded, the error would be its encoding.
    await s3.put('big/a.csv', LATIN1);
    await s3.put('big/b.csv', Buffer.alloc(4096, 'x'));
    const error = await failure(importBars(t.store, request(`s3://${s3.bucket}/big`), { csvFiles: { objectStore: settings, maxFileBytes: 2048 } }));
    expect(error).toBeInstanceOf(UnreadableSourceError);
    expect(nonRetryableType(error)).toBe('UNREADABLE_SOURCE');
    // The local reader's words, with "object" for "file".
    const dir = tempDir('mlp-s3-big-');
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'b.csv'), Buffer.alloc(4096, 'x'));
    const localError = await failure(importBars(local.store, request(dir), { csvFiles: { maxFileBytes: 2048 } }));
    expect(error.message).toBe(localError.message.replace(path.join(dir, 'b.csv'), `s3://${s3.bucket}/big/b.csv`).replace('the file is', 'the object is'));
    await storedNothing(t.store);
  });

  it('refuses an object that is not UTF-8 with the message a local file gets', async () => {
    const url = await s3.put('latin/latin.us.csv', LATIN1);
    const dir = tempDir('mlp-s3-latin-');
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, 'latin.us.csv'), LATIN1);
    const error = await failure(importBars(t.store, request(url), { csvFiles: { objectStore: settings } }));
    const localError = await failure(importBars(local.store, request(path.join(dir, 'latin.us.csv'))));
    expect(error).toBeInstanceOf(UnreadableSourceError);
    expect(error.message).toMatch(/as a price table: it is not valid UTF-8 \(byte 0xf4 at offset \d+, line 2\)/);
    expect(error.message).toBe(localError.message.replace(path.join(dir, 'latin.us.csv'), url));
    await storedNothing(t.store);
  });

  it('fails wrong credentials and a missing bucket for good, with a message that says which', async () => {
    const saved = process.env.AWS_SECRET_ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = 'not-the-secret-0000';
    try {
      for (const p of [marketUrl, `${marketUrl}/${path.basename(market.files[0])}`]) {
        const denied = await failure(importBars(t.store, request(p), { csvFiles: { objectStore: settings } }));
        expect(nonRetryableType(denied)).toBe('SOURCE_UNREADABLE');
        expect(denied.message).toMatch(/^Access denied (listing|reading) s3:\/\//);
        expect(denied.message).toContain(p);
        expect(denied.message).toContain(s3.endpoint);
        expect(denied.message).toContain('check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
      }
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = saved;
    }
    for (const p of ['s3://no-such-bucket-mlp/prices', 's3://no-such-bucket-mlp/prices/aapl.csv']) {
      const noBucket = await failure(importBars(t.store, request(p), { csvFiles: { objectStore: settings } }));
      expect(nonRetryableType(noBucket)).toBe('SOURCE_UNREADABLE');
      expect(noBucket.message).toContain(`there is no bucket "no-such-bucket-mlp" (object store ${s3.endpoint})`);
    }
    await storedNothing(t.store);
  });

  it('leaves an unreachable or failing server to the retry policy: a plain error naming the URL and the server', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const down = await failure(importBars(t.store, request(marketUrl), { csvFiles: { objectStore: { ...settings, endpoint: closed } } }));
    expect(down).not.toBeInstanceOf(BadInputError);
    expect(nonRetryableType(down)).toBeUndefined();
    expect(down.message).toContain(`Listing ${marketUrl}/ failed (object store ${closed})`);
    expect(down.message).toContain('ECONNREFUSED');

    // A server that answers 503 SlowDown: the SDK retries a few times, then the activity's policy takes over.
    let requests = 0;
    const busy = http.createServer((_req, res) => {
      requests++;
      res.writeHead(503, { 'content-type': 'application/xml' }).end('<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
    });
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = `http://127.0.0.1:${(busy.address() as AddressInfo).port}`;
      const slow = await failure(importBars(t.store, request(`${marketUrl}/AAA.csv`), { csvFiles: { objectStore: { ...settings, endpoint } } }));
      expect(nonRetryableType(slow)).toBeUndefined();
      expect(slow.message).toContain(`Reading ${marketUrl}/AAA.csv failed (object store ${endpoint})`);
      expect(requests).toBeGreaterThan(1);
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
    await storedNothing(t.store);
  });

  it('validates s3:// paths when the request is parsed, and keeps a valid one as written', () => {
    const problems = (input: unknown): string[] => {
      const result = importRequestSchema.safeParse(input);
      return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(problems({ source: { kind: 'csv', path: 's3://' } })).toEqual(['source.path: "s3://" names no bucket; expected s3://bucket/prefix (the .csv/.txt objects directly under it) or s3://bucket/key.csv (one object)']);
    expect(problems({ source: { kind: 'csv', path: 's3:///prices' } })[0]).toContain('names no bucket');
    expect(problems({ source: { kind: 'csv', path: 's3://Prices_2024/daily' } })).toEqual(['source.path: "s3://Prices_2024/daily": "Prices_2024" is not a bucket name (3-63 lower-case letters, digits, dots, hyphens)']);
    expect(problems({ source: { kind: 'csv', path: 's3://prices/a//b.csv' } })[0]).toContain('empty, "." or ".." part');
    expect(problems({ source: { kind: 'csv', path: 'gs://prices/daily' } })[0]).toContain('is a gs:// URL; a csv source is a path on the worker or s3://bucket/prefix');
    expect(problems({ source: { kind: 'csv', path: 's3://prices/daily', followLinks: true } })).toEqual(['source.followLinks: an s3:// source has no symbolic links to follow; remove followLinks']);
    expect(importRequestSchema.parse({ source: { kind: 'csv', path: 's3://prices/daily/' } }).source).toMatchObject({ path: 's3://prices/daily/', followLinks: false });
  });
});
