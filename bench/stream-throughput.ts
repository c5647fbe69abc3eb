/**
 * The real-time path under load: bars/s sustained from the Redis Stream into the store and the
 * online features, and end-to-end latency (stream entry id time → online vector written) at a
 * steady 500 bars/s. Uses ../shared/data/sp500-2013-2018 when present, else a generated market.
 *
 * For each store: bars before --stream-from are loaded directly; the next part of the history is
 * appended to a fresh stream first and then consumed as fast as possible (a backlog, as after an
 * outage or a replay); the last --latency-seconds × --rate bars are then sent by the replay script
 * (a separate process) at --rate bars/s while the consumer runs.
 *
 *   npm run bench:stream -- [--db sqlite:/tmp/s.sqlite] [--db mysql://root@127.0.0.1:3306/bench_stream] [--rate 500] [--latency-seconds 30] [--profile <dir>]
 *
 * --profile <dir> runs the backlog phase under the V8 CPU profiler and the sampling heap profiler
 * (node:inspector) and writes <dir>/<store>-backlog.cpuprofile and .heapprofile (open them in Chrome
 * DevTools or speedscope, or summarise them with bench/cpuprofile-top.ts); the top self-time
 * functions are printed too. The cross-section thread
 * is not in it (a thread of its own). With or without it, the consumer's time per step (Redis
 * read, decoding, store write, features, publishing, ack, …) is printed after each phase.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { Command } from 'commander';
import { Redis } from 'ioredis';
import { z } from 'zod';
import { RedisCache } from '../lib/cache/redis-cache';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../lib/features/feature-set';
import type { Bar } from '../lib/market-data/bar';
import { writeSyntheticMarket } from '../lib/market-data/synthetic';
import { upsertBars } from '../lib/store/bars';
import { openDatabase, type Database } from '../lib/store/database';
import { BarStreamConsumer } from '../lib/streaming/consumer';
import { DEFAULT_BATCH_SIZE } from '../lib/streaming/consumer-options';
import { BarStreamProducer } from '../lib/streaming/producer';
import { pendingCount } from '../lib/streaming/redis-streams';
import { loadCsvBarsForReplay } from '../lib/streaming/replay';
import type { StreamConsumerStats } from '../lib/streaming/stream-metrics';
import { selfTimes } from './cpuprofile-top';

const SHARED = path.resolve(__dirname, '../../shared/data/sp500-2013-2018');
const options = z
  .object({
    data: z.string().optional(),
    db: z.array(z.string()).default([`sqlite:${path.join(os.tmpdir(), `bench-stream-${process.pid}.sqlite`)}`, 'mysql://root@127.0.0.1:3306/bench_stream']),
    redis: z.string().default(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/0'),
    streamFrom: z.string().default('2017-01-03'),
    rate: z.coerce.number().positive().default(500),
    latencySeconds: z.coerce.number().positive().default(30),
    batchSize: z.coerce.number().int().positive().default(DEFAULT_BATCH_SIZE),
    windowBars: z.coerce.number().int().positive().default(750),
    profile: z.string().optional(),
  })
  .parse(
    new Command()
      .option('--data <dir>', 'CSV folder (default: the shared S&P 500 data, else a generated market)')
      .option('--db <url...>', 'DATABASE_URL(s) to measure')
      .option('--redis <url>', 'Redis URL')
      .option('--stream-from <date>', 'bars from this date on go through the stream')
      .option('--rate <n>', 'bars/s of the latency run')
      .option('--latency-seconds <n>', 'length of the latency run')
      .option('--batch-size <n>', `consumer batch size (default ${DEFAULT_BATCH_SIZE}, the consumer's)`)
      .option('--window-bars <n>', 'bars per symbol kept for the features')
      .option('--profile <dir>', 'write a CPU profile of each backlog phase to this folder')
      .parse()
      .opts(),
  );

const SET = defineFeatureSet(DEFAULT_FEATURE_SET);

async function dataFolder(): Promise<{ dir: string; label: string }> {
  if (options.data) return { dir: options.data, label: options.data };
  if (fs.existsSync(SHARED)) return { dir: SHARED, label: 'shared S&P 500 2013-2018' };
  const dir = path.join(os.tmpdir(), 'bench-stream-market');
  await writeSyntheticMarket(dir, { symbols: 400, from: '2013-02-08', to: '2018-02-07', seed: 11, plantErrors: false });
  return { dir, label: 'generated market, 400 symbols 2013-2018 (no shared data here)' };
}

async function openFresh(url: string): Promise<Database> {
  if (url.startsWith('mysql://')) {
    const { createConnection } = await import('mysql2/promise');
    const u = new URL(url);
    const name = u.pathname.slice(1);
    u.pathname = '/';
    const conn = await createConnection(u.toString());
    await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
    await conn.query(`CREATE DATABASE \`${name}\``);
    await conn.end();
  } else fs.rmSync(url.slice('sqlite:'.length), { force: true });
  return openDatabase(url);
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

interface Row {
  store: string;
  phase: string;
  bars: number;
  seconds: number;
  batches: number;
  latencies?: number[];
  note: string;
}

/** Where the consumer's time went, per step: ms and share of the phase. */
function stepSplit(stats: StreamConsumerStats, seconds: number): string {
  const total = seconds * 1000;
  const steps = Object.entries(stats.stepMs).sort((a, b) => b[1] - a[1]);
  const counted = steps.reduce((a, [, ms]) => a + ms, 0);
  return `${steps.map(([step, ms]) => `${step} ${ms.toFixed(0)} ms (${((100 * ms) / total).toFixed(0)}%, longest ${(stats.stepMaxMs[step] ?? 0).toFixed(0)})`).join(', ')}; other ${(total - counted).toFixed(0)} ms`;
}

/** Runs `work` under the CPU profiler when --profile is given; writes the profile and prints its top entries. */
async function profiled<T>(name: string, work: () => Promise<T>): Promise<T> {
  if (!options.profile) return work();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('HeapProfiler.enable');
  await session.post('Profiler.start');
  await session.post('HeapProfiler.startSampling', { samplingInterval: 64 * 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  let result: T;
  try {
    result = await work();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    const { profile: heap } = await session.post('HeapProfiler.stopSampling');
    session.disconnect();
    fs.mkdirSync(options.profile, { recursive: true });
    const file = path.join(options.profile, `${name}.cpuprofile`);
    fs.writeFileSync(file, JSON.stringify(profile));
    fs.writeFileSync(path.join(options.profile, `${name}.heapprofile`), JSON.stringify(heap));
    const times = selfTimes(profile as unknown as Parameters<typeof selfTimes>[0]);
    const busy = times.totalMs - times.idleMs;
    console.log(`  profile ${file}: ${(times.totalMs / 1000).toFixed(1)} s sampled, ${((100 * busy) / times.totalMs).toFixed(0)}% busy; top self time:`);
    for (const f of times.functions.slice(0, 15)) console.log(`    ${f.ms.toFixed(0).padStart(6)} ms ${((100 * f.ms) / times.totalMs).toFixed(1).padStart(5)}%  ${f.label}`);
  }
  return result;
}

/** GC pauses and event-loop delay while `work` runs: what, besides the consumer's own steps, can hold a bar up. */
async function observed<T>(work: () => Promise<T>): Promise<{ result: T; note: string }> {
  const pauses: number[] = [];
  let major = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      pauses.push(e.duration);
      if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++;
    }
  });
  gc.observe({ entryTypes: ['gc'] });
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  try {
    const result = await work();
    return { result, note: `GC ${pauses.length} pauses (${major} major), ${pauses.reduce((a, b) => a + b, 0).toFixed(0)} ms, longest ${Math.max(0, ...pauses).toFixed(0)} ms; event-loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(0)} ms, max ${(delay.max / 1e6).toFixed(0)} ms` };
  } finally {
    delay.disable();
    gc.disconnect();
  }
}

async function drainBacklog(consumer: BarStreamConsumer, redis: Redis, key: string): Promise<void> {
  for (;;) {
    const n = await consumer.pollOnce();
    if (n === 0 && (await pendingCount(redis, key, 'ingest')) === 0) break;
  }
  await consumer.flush();
}

function runReplay(env: NodeJS.ProcessEnv, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'scripts', 'replay-stream.ts'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`replay exited with ${code}:\n${output}`))));
  });
}

/** The data's bars, one per symbol and date (the raw files have a few exact repeats). */
async function readData(dir: string): Promise<Bar[]> {
  const { bars } = await loadCsvBarsForReplay(dir);
  const seen = new Set<string>();
  const all: Bar[] = [];
  for (const b of bars) {
    const k = `${b.symbol} ${b.date}`;
    if (seen.has(k)) continue;
    seen.add(k);
    all.push({ symbol: b.symbol, date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume });
  }
  return all;
}

interface Plan {
  /** First date of the steady-rate run (the newest days, about rate × latencySeconds bars). */
  latencyDate: string;
  lastBacklogDate: string;
  days: number;
}

function planOf(all: readonly Bar[]): Plan {
  const perDate = new Map<string, number>();
  for (const b of all) perDate.set(b.date, (perDate.get(b.date) ?? 0) + 1);
  const dates = [...perDate.keys()].sort();
  let i = dates.length - 1;
  for (let count = 0; i > 0 && count < options.rate * options.latencySeconds; i--) count += perDate.get(dates[i]) as number;
  return { latencyDate: dates[i + 1], lastBacklogDate: dates[i], days: dates.length - i - 1 };
}

/** History into the store and the backlog into a fresh stream; the bars are not kept (a consumer process holds only its windows). */
async function prepare(store: Database, dir: string, redis: Redis, key: string): Promise<{ plan: Plan; history: number; backlog: number }> {
  const all = await readData(dir);
  const plan = planOf(all);
  const history = all.filter((b) => b.date < options.streamFrom);
  for (let i = 0; i < history.length; i += 20_000) await upsertBars(store, history.slice(i, i + 20_000));
  const backlog = all.filter((b) => b.date >= options.streamFrom && b.date < plan.latencyDate);
  await new BarStreamProducer(redis, { key }).publish(backlog.map((b) => ({ ...b, source: 'bench' })));
  return { plan, history: history.length, backlog: backlog.length };
}

async function measure(url: string, dir: string, redis: Redis): Promise<Row[]> {
  const store = await openFresh(url);
  const key = `bench:stream:${process.pid}:${store.driver}`;
  const cache = new RedisCache(options.redis, `${key}:cache:`);
  const rows: Row[] = [];
  try {
    const t0 = performance.now();
    const { plan, history, backlog } = await prepare(store, dir, redis, key);
    console.log(`${store.driver}: ${history} bars of history loaded and ${backlog} appended to the stream in ${((performance.now() - t0) / 1000).toFixed(1)} s; backlog ${options.streamFrom}..${plan.lastBacklogDate}, then ${plan.days} days from ${plan.latencyDate} at ${options.rate} bars/s`);

    // Backlog: everything appended first, then consumed as fast as it goes.
    let consumer: BarStreamConsumer | undefined = new BarStreamConsumer(
      { redis, store, cache, featureSets: [SET], log: (line) => console.log(`  ${line}`) },
      { key, group: 'ingest', consumer: 'bench', batchSize: options.batchSize, windowBars: options.windowBars, blockMs: 100 },
    );
    const s0 = performance.now();
    await consumer.start();
    const startSeconds = (performance.now() - s0) / 1000;
    const b0 = performance.now();
    const backlogCpu0 = process.cpuUsage();
    const load0 = os.loadavg()[0];
    const active = consumer;
    await profiled(`${store.driver}-backlog`, () => drainBacklog(active, redis, key));
    const backlogSeconds = (performance.now() - b0) / 1000;
    const backlogCpu = process.cpuUsage(backlogCpu0);
    const s = consumer.stats;
    console.log(`  backlog time per step: ${stepSplit(s, backlogSeconds)}`);
    rows.push({ store: store.driver, phase: 'backlog, full speed', bars: s.barsStored, seconds: backlogSeconds, batches: s.batches, note: `start (load windows, publish vectors) ${startSeconds.toFixed(1)} s; ${s.vectorsPublished} vectors, ${s.crossSectionRefreshes} cross-sections; process CPU ${((backlogCpu.user + backlogCpu.system) / 1e6).toFixed(1)} s (${((backlogCpu.user + backlogCpu.system) / Math.max(1, s.barsStored)).toFixed(0)} µs per bar, all threads); load average ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)}` });
    await consumer.close();
    consumer = undefined;
    (globalThis as { gc?: () => void }).gc?.();

    // Steady rate: the replay script (another process) sends the newest days at options.rate bars/s.
    const latencies: number[] = [];
    const steady = new BarStreamConsumer(
      { redis, store, cache, featureSets: [SET], log: (line) => console.log(`  ${line}`), hooks: { onLatency: (ms) => latencies.push(...ms) } },
      { key: `${key}:steady`, group: 'ingest', consumer: 'bench', batchSize: options.batchSize, windowBars: options.windowBars, blockMs: 100 },
    );
    await steady.start();
    const cpu0 = process.cpuUsage();
    const l0 = performance.now();
    let replayDone = false;
    const replay = runReplay({ REDIS_URL: options.redis, STREAM_KEY: `${key}:steady` }, ['--csv', dir, '--from', plan.latencyDate, '--bars-per-second', String(options.rate), '--max-backlog', '0']).then(() => {
      replayDone = true;
    });
    const { note: pauses } = await observed(async () => {
      while (!replayDone) await steady.pollOnce();
      await replay;
      await drainBacklog(steady, redis, `${key}:steady`);
    });
    const seconds = (performance.now() - l0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const ss = steady.stats;
    console.log(`  steady time per step: ${stepSplit(ss, seconds)}`);
    rows.push({
      store: store.driver,
      phase: `steady ${options.rate} bars/s`,
      bars: ss.barsStored,
      seconds,
      batches: ss.batches,
      latencies,
      note: `${(ss.barsStored / Math.max(1, ss.batches)).toFixed(1)} bars per batch; ${ss.crossSectionRefreshes} cross-sections; consumer CPU ${Math.round(((cpu.user + cpu.system) / 1e6 / seconds) * 100)}% of a core; ${pauses}; load average ${os.loadavg()[0].toFixed(1)}`,
    });
    await steady.close();
  } finally {
    const keys = await redis.keys(`${key}*`);
    if (keys.length > 0) await redis.del(...keys);
    await cache.close();
    await store.close();
  }
  return rows;
}

async function main(): Promise<void> {
  const { dir, label } = await dataFolder();
  const sample = await readData(dir);
  console.log(`data: ${label}: ${sample.length} bars, ${new Set(sample.map((b) => b.symbol)).size} symbols; feature set ${SET.version} (61 columns); ${os.availableParallelism()} cores; batch ${options.batchSize}, window ${options.windowBars} bars`);
  sample.length = 0;
  const redis = new Redis(options.redis);
  const rows: Row[] = [];
  try {
    for (const url of options.db) rows.push(...(await measure(url, dir, redis)));
  } finally {
    await redis.quit();
  }
  console.log('');
  console.log('| store | phase | bars | seconds | bars/s | batches | latency p50 | p99 | max | notes |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    const l = [...(r.latencies ?? [])].sort((a, b) => a - b);
    const ms = (q: number) => (l.length === 0 ? '' : `${quantile(l, q).toFixed(0)} ms`);
    console.log(`| ${r.store} | ${r.phase} | ${r.bars} | ${r.seconds.toFixed(1)} | ${Math.round(r.bars / r.seconds)} | ${r.batches} | ${ms(0.5)} | ${ms(0.99)} | ${l.length === 0 ? '' : `${l[l.length - 1].toFixed(0)} ms`} | ${r.note} |`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
