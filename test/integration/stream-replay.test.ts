import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { RedisCache } from '../../lib/cache/redis-cache';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../lib/features/feature-set';
import type { Bar } from '../../lib/market-data/bar';
import { readBarCsv } from '../../lib/market-data/csv-reader';
import { generateSyntheticMarket, writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { readBars, upsertBars } from '../../lib/store/bars';
import { BarStreamConsumer } from '../../lib/streaming/consumer';
import { decodeLiveBar, type LiveBar } from '../../lib/streaming/live-bar';
import { BarStreamProducer } from '../../lib/streaming/producer';
import { parseEntries } from '../../lib/streaming/redis-streams';
import { injectDrift, loadCsvBarsForReplay, loadStoredBarsForReplay, orderForReplay, replayToStream } from '../../lib/streaming/replay';
import { createSqliteTestDatabase, TEST_REDIS_URL, tempDir, type TestDatabase } from '../helpers/databases';

const REPO = path.resolve(__dirname, '..', '..');

async function streamed(redis: Redis, key: string): Promise<LiveBar[]> {
  const { entries } = parseEntries(await redis.call('XRANGE', [key, '-', '+']));
  return entries.map((e) => {
    const d = decodeLiveBar(e.fields);
    if (!d.ok) throw new Error(`entry ${e.id} does not decode: ${d.message}`);
    return d.bar;
  });
}
const plain = (b: Bar): Bar => ({ symbol: b.symbol, date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume });

function runReplayScript(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'scripts', 'replay-stream.ts'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('replay producer (real Redis, SQLite)', () => {
  let dir: string;
  let csvBars: Bar[];
  let redis: Redis;
  let t: TestDatabase;
  const keys: string[] = [];
  const newKey = () => {
    const key = `test:replay:${crypto.randomBytes(4).toString('hex')}`;
    keys.push(key);
    return key;
  };
  beforeAll(async () => {
    dir = tempDir('mlp-replay-');
    // Planted errors included: unparseable rows are counted and not sent; bad but readable ones are sent.
    await writeSyntheticMarket(dir, { symbols: 3, from: '2017-01-03', to: '2017-06-30', seed: 5, plantErrors: true });
    csvBars = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.csv'))
      .flatMap((f) => readBarCsv(fs.readFileSync(path.join(dir, f), 'utf8'), { source: f }).bars.map(plain));
    redis = new Redis(TEST_REDIS_URL);
    t = await createSqliteTestDatabase();
  });
  afterAll(async () => {
    for (const key of keys) {
      const all = await redis.keys(`${key}*`);
      if (all.length > 0) await redis.del(...all);
    }
    await redis?.quit();
    await t?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('streams a CSV folder in trading-day order with a drift injected into one column from a date', async () => {
    const key = newKey();
    const { bars, skipped } = await loadCsvBarsForReplay(dir, { from: '2017-01-15' });
    expect(Object.values(skipped).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    const drifted = injectDrift(bars, { column: 'volume', factor: 3, from: '2017-03-01', symbols: ['SYN02'] });
    const progress = await replayToStream(new BarStreamProducer(redis, { key }), drifted, { pace: { kind: 'days', perSecond: 500 }, group: 'ingest', maxBacklog: 100_000 });
    expect(progress.sent).toBe(bars.length);

    const sent = await streamed(redis, key);
    const expected = orderForReplay(csvBars.filter((b) => b.date >= '2017-01-15'));
    expect(sent.map(plain)).toEqual(expected.map((b) => (b.symbol === 'SYN02' && b.date >= '2017-03-01' ? { ...b, volume: b.volume * 3 } : b)));
    expect(sent.every((b) => b.source.startsWith('replay:SYN'))).toBe(true);
    const dates = sent.map((b) => b.date);
    expect(dates).toEqual([...dates].sort());
  });

  it('keeps drifted price bars consistent, so they are stored rather than quarantined', async () => {
    const day: Bar = { symbol: 'AAA', date: '2017-03-01', open: 10, high: 11, low: 9, close: 10.5, volume: 100 };
    expect(injectDrift([day], { column: 'close', factor: 1.2, from: '2017-03-01' })).toEqual([{ ...day, close: 12.6, high: 12.6 }]);
    expect(injectDrift([day], { column: 'low', factor: 1.5, from: '2017-03-01' })).toEqual([{ ...day, low: 10 }]);
    expect(injectDrift([day], { column: 'close', factor: 1.2, from: '2017-03-02' })).toEqual([day]);
  });

  it('replays stored bars by symbols and dates, and a consumer stores the drifted values', async () => {
    const key = newKey();
    const clean = generateSyntheticMarket({ symbols: 2, from: '2017-01-03', to: '2017-06-30', seed: 5, plantErrors: false }).files.flatMap((f) => readBarCsv(f.csv, { source: f.fileName }).bars.map(plain));
    await upsertBars(t.store, clean);
    const stored = await loadStoredBarsForReplay(t.store, { symbols: ['SYN01'], from: '2017-02-01', to: '2017-02-28' });
    expect(stored.map((b) => plain(b as Bar))).toEqual((await readBars(t.store, { symbols: ['SYN01'], from: '2017-02-01', to: '2017-02-28' })).map(plain));

    const producer = new BarStreamProducer(redis, { key });
    await replayToStream(producer, injectDrift(stored as Bar[], { column: 'volume', factor: 2, from: '2017-02-15' }).map((b) => ({ ...b, source: 'replay:test' })), { pace: { kind: 'max' } });
    const cache = new RedisCache(TEST_REDIS_URL, `${key}:cache:`);
    const consumer = new BarStreamConsumer({ redis, store: t.store, cache, featureSets: [defineFeatureSet(DEFAULT_FEATURE_SET)], log: () => {} }, { key, group: 'ingest', consumer: 'c', blockMs: 20 });
    while ((await consumer.pollOnce()) > 0);
    await consumer.close();
    await cache.close();
    const after = await readBars(t.store, { symbols: ['SYN01'], from: '2017-02-01', to: '2017-02-28' });
    expect(after.map(plain)).toEqual(stored.map((b) => plain(b as Bar)).map((b) => (b.date >= '2017-02-15' ? { ...b, volume: b.volume * 2 } : b)));
    expect(consumer.stats).toMatchObject({ barsRevised: after.filter((b) => b.date >= '2017-02-15').length, barsDuplicate: after.filter((b) => b.date < '2017-02-15').length });
  });

  it('runs as a script with validated flags', async () => {
    const key = newKey();
    const env = { REDIS_URL: TEST_REDIS_URL, STREAM_KEY: key, DATABASE_URL: t.url };
    const run = await runReplayScript(['--csv', dir, '--symbols', 'SYN01,SYN03', '--from', '2017-06-01', '--bars-per-second', '2000', '--drift-column', 'close', '--drift-factor', '0.5', '--drift-from', '2017-06-26', '--max-backlog', '0'], env);
    expect(run.output).toMatch(/replay done: \d+ bars/);
    expect(run.code).toBe(0);
    const sent = await streamed(redis, key);
    const expected = orderForReplay(csvBars.filter((b) => (b.symbol === 'SYN01' || b.symbol === 'SYN03') && b.date >= '2017-06-01'));
    expect(sent.map(plain)).toEqual(injectDrift(expected, { column: 'close', factor: 0.5, from: '2017-06-26' }));

    const bad = await runReplayScript(['--csv', dir, '--from-store', '--drift-factor', '2'], env);
    expect(bad.code).toBe(1);
    expect(bad.output).toContain('give exactly one source');
    expect(bad.output).toContain('a drift needs --drift-column, --drift-factor and --drift-from together');
  });
});
