/**
 * Every process that signs or verifies rows refuses to start without MODEL_SIGNING_KEY where the
 * registry or the feature store holds signed rows (lib/registry/signing-key-required.ts). The stream
 * consumer did not: started without the key it replaced the signed online vectors of the day with
 * unsigned ones, which the prediction API (holding the key) refuses, answering from an older row.
 * The consumer through its real entry point (SQLite), the check itself on both drivers. Signed
 * vectors present only in Redis (a fresh database, rows pruned) were not looked at: a keyless
 * process started and met them; a bounded sample of the online store's keys now finds them (real
 * Redis).
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startApiProcess } from '../../api/main';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { RedisCache } from '../../lib/cache/redis-cache';
import { loadConfig } from '../../lib/config';
import { publishOnlineFeatures, sampleSignedOnlineVector, type OnlineFeatureVector } from '../../lib/features/online-features';
import { registerModel } from '../../lib/registry/model-registry';
import { assertSigningKeyWhereSigned } from '../../lib/registry/signing-key-required';
import { writeFeatureRows } from '../../lib/store/features';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { clearSharedOnlineVectors, createSqliteTestDatabase, DRIVERS, TEST_REDIS_URL, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';
import { freePort } from '../helpers/worker-process';

const REPO = path.resolve(__dirname, '..', '..');
const SIGNING = { signingKey: 'k'.repeat(16) + '0123456789abcdef0123' };
const LABEL = { kind: 'direction', horizon: 5 };

/** Runs workers/stream-consumer.ts without MODEL_SIGNING_KEY until it exits (or 60 s): its exit code and output. */
async function consumerWithoutKey(databaseUrl: string): Promise<{ code: number | null; output: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, REDIS_URL: TEST_REDIS_URL, STREAM_KEY: `test:keyless:${crypto.randomBytes(4).toString('hex')}`, STREAM_METRICS_ADDRESS: `127.0.0.1:${await freePort()}` };
  delete env.MODEL_SIGNING_KEY;
  delete env.MODEL_SIGNING_PREVIOUS_KEYS;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'workers', 'stream-consumer.ts')], { env, cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGINT'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, output };
}

async function registerSigned(t: TestDatabase, dir: string): Promise<void> {
  const { version, columns } = await saveTestFeatureSet(t.store, returnsFeatureSet('keyless-start'));
  const d = separable(200, 5, 1);
  const model = await logisticRegression.fit({ features: withColumns(d.x, columns), labels: d.y, classes: 2, seed: 1 }, {});
  const input = { name: 'direction-5d', artifact: encodeArtifact(model.state(), { featureSetVersion: version, label: LABEL }), algorithm: 'logistic_regression', params: {}, seed: 1, featureSetVersion: version, label: LABEL, ...UNTRACKED_REGISTRATION, registrationKey: 'direction-5d/1' };
  await registerModel(t.store, localArtifactStore(dir), input, SIGNING);
}

async function writeSignedRows(t: TestDatabase): Promise<string> {
  const { version } = await saveTestFeatureSet(t.store, returnsFeatureSet('keyless-start-rows'));
  const row = (symbol: string, date: string) => ({ symbol, date, values: Float64Array.from([0.1, -0.2, 0.3, -0.4, 0.5]) });
  // Rows written before the key, then the newest ones with it: the deployment signs now.
  await writeFeatureRows(t.store, version, [row('AAPL', '2024-06-26'), row('MSFT', '2024-06-27')]);
  await writeFeatureRows(t.store, version, [row('AAPL', '2024-06-27')], SIGNING);
  return version;
}

describe('the stream consumer does not start without MODEL_SIGNING_KEY where rows are signed (its real entry point, SQLite)', () => {
  let t: TestDatabase;
  let dir: string;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
    dir = tempDir('mlp-keyless-start-');
  });
  afterEach(async () => {
    await t.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses where the registry holds a signed row, naming it', async () => {
    await registerSigned(t, dir);
    const { code, output } = await consumerWithoutKey(t.url);
    expect(output).not.toContain('stream consumer ready');
    expect(output).toMatch(/the stream consumer does not start without MODEL_SIGNING_KEY: the registry's rows are signed \(direction-5d v1, key id [0-9a-f]{8}\)/);
    expect(code).toBe(1);
  }, 90_000);

  it('refuses where only the feature store holds signed rows, naming one', async () => {
    const version = await writeSignedRows(t);
    const { code, output } = await consumerWithoutKey(t.url);
    expect(output).not.toContain('stream consumer ready');
    expect(output).toContain(`the stream consumer does not start without MODEL_SIGNING_KEY: the feature store's rows are signed (AAPL 2024-06-27 in feature set ${version}, key id`);
    expect(code).toBe(1);
  }, 90_000);
});

describe.each(DRIVERS)('the start-up rule on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t.drop();
  });

  it('lets a process start without the key while nothing is signed, refuses it once a newest feature row is signed, and lets it start with the key', async () => {
    await expect(assertSigningKeyWhereSigned(t.store, undefined, 'the worker')).resolves.toBeUndefined();
    const version = await writeSignedRows(t);
    await expect(assertSigningKeyWhereSigned(t.store, undefined, 'the worker')).rejects.toThrow(`the worker does not start without MODEL_SIGNING_KEY: the feature store's rows are signed (AAPL 2024-06-27 in feature set ${version}, key id`);
    await expect(assertSigningKeyWhereSigned(t.store, SIGNING.signingKey, 'the worker')).resolves.toBeUndefined();
  });
});

describe('the start-up rule samples the online store (real Redis, SQLite)', () => {
  let t: TestDatabase;
  let dir: string;
  const opened: RedisCache[] = [];
  const cacheWithPrefix = (prefix = `mlp-test-keyless-start-${crypto.randomBytes(3).toString('hex')}:`, url = TEST_REDIS_URL) => {
    const cache = new RedisCache(url, prefix, { log: () => undefined });
    opened.push(cache);
    return cache;
  };
  const vector = (symbol: string, version = 'fs-online-only'): OnlineFeatureVector => ({ version, symbol, asOf: '2024-06-28', columns: ['a', 'b'], values: [0.5, -0.25] });
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
    dir = tempDir('mlp-keyless-online-');
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((c) => c.close()));
    await t.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a keyless process where only the online store holds signed vectors, naming one; unsigned vectors let it start', async () => {
    const cache = cacheWithPrefix();
    await publishOnlineFeatures(cache, [vector('MSFT'), vector('NVDA'), vector('AMZN')]);
    await expect(assertSigningKeyWhereSigned(t.store, undefined, 'the stream consumer', { cache })).resolves.toBeUndefined();
    await publishOnlineFeatures(cache, [vector('AAPL')], SIGNING);
    await expect(assertSigningKeyWhereSigned(t.store, undefined, 'the stream consumer', { cache })).rejects.toThrow(
      /^the stream consumer does not start without MODEL_SIGNING_KEY: the online store's vectors are signed \(AAPL 2024-06-28 in feature set fs-online-only, key id [0-9a-f]{8}\), so the deployment signs/,
    );
    await expect(assertSigningKeyWhereSigned(t.store, SIGNING.signingKey, 'the stream consumer', { cache })).resolves.toBeUndefined();
  });

  it('reads a bounded sample: at most maxVectors vectors, and says when it did not see them all', async () => {
    const cache = cacheWithPrefix();
    const symbols = Array.from({ length: 300 }, (_, i) => `S${String(i).padStart(3, '0')}`);
    await publishOnlineFeatures(cache, symbols.map((s) => vector(s)));
    await cache.set('features:updated-elsewhere', 'not a vector'); // another key of the prefix is not read
    const bounded = await sampleSignedOnlineVector(cache, { maxVectors: 50 });
    expect(bounded.signed).toBeUndefined();
    expect(bounded.examined).toBeGreaterThan(0);
    expect(bounded.examined).toBeLessThanOrEqual(50);
    expect(bounded.complete).toBe(false);
    const whole = await sampleSignedOnlineVector(cache, { maxVectors: 1000 });
    expect(whole).toMatchObject({ examined: 300, complete: true });
    expect(whole.signed).toBeUndefined();
    // A time bound of nothing reads nothing, and says so.
    expect(await sampleSignedOnlineVector(cache, { timeMs: 0 })).toMatchObject({ examined: 0, complete: false });
  });

  it('says so when the sample stopped at its bounds before it read any vector', async () => {
    const cache = cacheWithPrefix();
    await publishOnlineFeatures(cache, [vector('AAPL')]);
    const lines: string[] = [];
    // A time bound of nothing stands for a database of many other keys: nothing read, no word before.
    await expect(assertSigningKeyWhereSigned(t.store, undefined, 'the worker', { cache, bounds: { timeMs: 0 }, warn: (line) => lines.push(line) })).resolves.toBeUndefined();
    expect(lines).toEqual([expect.stringMatching(/^warning: the worker found no online vector to sample for signed ones within its bounds .*: started without that check/)]);
    lines.length = 0;
    await expect(assertSigningKeyWhereSigned(t.store, undefined, 'the worker', { cache, warn: (line) => lines.push(line) })).resolves.toBeUndefined();
    expect(lines).toEqual([]);
  });

  it('lets the process start when the online store cannot be read, saying the sample was not taken', async () => {
    const lines: string[] = [];
    const down = cacheWithPrefix('mlp:', 'redis://127.0.0.1:1/0');
    await expect(assertSigningKeyWhereSigned(t.store, undefined, 'the worker', { cache: down, warn: (line) => lines.push(line) })).resolves.toBeUndefined();
    expect(lines).toEqual([expect.stringMatching(/^warning: the worker could not sample the online store for signed vectors \(.+\): started without that check/)]);
  });

  it('the stream consumer (its real entry point) and the prediction API do not start where only Redis holds signed vectors', async () => {
    // The processes' own prefix, under a feature set of this test only; what other files left there
    // (thousands of vectors of a deployment test's market) would hide it from a bounded sample.
    await clearSharedOnlineVectors();
    const cache = cacheWithPrefix('mlp:');
    const version = `fs-online-only-${crypto.randomBytes(3).toString('hex')}`;
    await publishOnlineFeatures(cache, [vector('AAPL', version)], SIGNING);
    try {
      const { code, output } = await consumerWithoutKey(t.url);
      expect(output).not.toContain('stream consumer ready');
      expect(output).toMatch(/the stream consumer does not start without MODEL_SIGNING_KEY: the online store's vectors are signed \(/);
      expect(code).toBe(1);
      const config = loadConfig({ DATABASE_URL: t.url, REDIS_URL: TEST_REDIS_URL, ARTIFACT_DIR: dir, API_ADDRESS: '127.0.0.1:0', API_TOKENS: 'reader:keyless-start-token-0123456789abcdef=predict' });
      await expect(startApiProcess(config, () => undefined)).rejects.toThrow(/the prediction API does not start without MODEL_SIGNING_KEY: the online store's vectors are signed \(/);
    } finally {
      await cache.delete(`features:latest:${version}:AAPL`);
    }
  }, 90_000);
});

describe('a Redis scan under a prefix (the cache the start-up rule samples)', () => {
  it('lists the keys under the prefix (without the cache prefix), glob characters taken literally, over several steps', async () => {
    const cache = new RedisCache(TEST_REDIS_URL, `mlp-test-scan-${crypto.randomBytes(3).toString('hex')}:`, { log: () => undefined });
    try {
      for (let i = 0; i < 40; i++) await cache.set(`under:[x]*:${i}`, 'v');
      await cache.set('under:x:1', 'v');
      await cache.set('other:1', 'v');
      const seen = new Set<string>();
      let cursor = '0';
      let steps = 0;
      do {
        const step = await cache.scan('under:[x]*:', cursor, 10);
        step.keys.forEach((k) => seen.add(k));
        cursor = step.cursor;
        steps++;
      } while (cursor !== '0' && steps < 1000);
      expect([...seen].sort()).toEqual(Array.from({ length: 40 }, (_, i) => `under:[x]*:${i}`).sort());
    } finally {
      for (const k of [...Array.from({ length: 40 }, (_, i) => `under:[x]*:${i}`), 'under:x:1', 'other:1']) await cache.delete(k);
      await cache.close();
    }
  });
});
