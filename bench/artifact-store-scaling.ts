/**
 * npm run bench:scaling [-- --workers 1,2,4 --trials 8 --stores local,s3]
 *
 * Trials per minute of one experiment's hyperparameter search with 1, 2 and 4 worker processes (one
 * training thread each), with artifacts in the local directory (ARTIFACT_DIR) and in the
 * S3-compatible object store (ARTIFACT_URL, versitygw on loopback, each worker with its own empty
 * read-through cache), on a private Temporal dev server and SQLite store. The object store's share
 * of run time is (object-store wall time - local wall time) / object-store wall time at each
 * worker count: what moving datasets, predictions and models over S3 costs end to end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { connectClient } from '../client/temporal-client';
import { loadConfig } from '../lib/config';
import type { ExperimentInput } from '../lib/experiments/experiment';
import { writeSyntheticMarket } from '../lib/market-data/synthetic';
import { TASK_QUEUES } from '../lib/task-queues';
import { ensureDevServer, stopDevServer } from '../platform/dev-server';
import { startObjectStore } from '../platform/object-store';
import { trainingPipeline } from '../workflows';

const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean);
const opts = z
  .object({
    workers: z.string().default('1,2,4').transform((v) => list(v).map((n) => z.coerce.number().int().min(1).max(8).parse(n))),
    stores: z.string().default('local,s3').transform((v) => list(v).map((s) => z.enum(['local', 's3']).parse(s))),
    trials: z.coerce.number().int().min(2).default(8),
    port: z.coerce.number().int().default(17333),
  })
  .parse(new Command().option('--workers <list>').option('--stores <list>').option('--trials <n>').option('--port <port>').parse().opts());

async function startWorker(env: NodeJS.ProcessEnv, log: string): Promise<ChildProcess> {
  fs.writeFileSync(log, '');
  const out = fs.openSync(log, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '../workers/main.ts')], { env, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  while (!fs.readFileSync(log, 'utf8').includes('worker ready')) {
    if (child.exitCode !== null) throw new Error(`worker exited; see ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

/** SIGTERM, then SIGKILL after 15 s; resolves when the process has exited. */
async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

function experiment(market: string, name: string, trials: number, parallelism: number): ExperimentInput {
  return {
    name,
    seed: 7,
    import: { source: { kind: 'csv', path: market } },
    label: { kind: 'direction', horizon: 5 },
    algorithms: [{ algorithm: 'random_forest', space: { maxDepth: { type: 'int', low: 4, high: 8 }, nEstimators: 30 } }],
    search: { method: 'random', trials, parallelism, maxTrainRows: 3000, maxTestRows: 2000 },
    cv: { folds: 3 },
    walkForward: { evaluationDays: 120, retrainDays: 60, maxTrainRows: 3000 },
    final: { maxTrainRows: 4000 },
    backtest: { costBps: 1, slippageBps: 2 },
  };
}

async function main(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-scaling-'));
  const market = path.join(root, 'market');
  await writeSyntheticMarket(market, { symbols: 10, from: '2016-01-04', to: '2018-03-29', plantErrors: false });
  const base: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: path.join(root, 'temporal'), TEMPORAL_ADDRESS: `127.0.0.1:${opts.port}`, TEMPORAL_UI_URL: `http://127.0.0.1:${opts.port + 1}`, REDIS_URL: '' };
  const config = loadConfig(base);
  await ensureDevServer(config, () => undefined);
  const accessKey = 'bench';
  const secretKey = crypto.randomBytes(12).toString('hex');
  const s3 = opts.stores.includes('s3') ? await startObjectStore({ dir: path.join(root, 's3'), address: `127.0.0.1:${opts.port + 5}`, accessKey, secretKey, buckets: ['bench'], logFile: path.join(root, 's3.log') }) : undefined;
  const client = await connectClient(config);
  const rows: Array<{ store: string; workers: number; trials: number; searchSeconds: number; wall: number }> = [];
  try {
    for (const workers of opts.workers) {
      for (const store of opts.stores) {
        const run = path.join(root, `${store}-${workers}`);
        fs.mkdirSync(run, { recursive: true });
        const env: NodeJS.ProcessEnv = {
          ...base,
          DATABASE_URL: `sqlite:${path.join(run, 'store.sqlite')}`,
          TRAINING_CONCURRENCY: '1',
          ...(store === 's3' ? { ARTIFACT_URL: `s3://bench/${store}-${workers}`, S3_ENDPOINT: s3?.endpoint, AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secretKey, AWS_REGION: 'us-east-1' } : { ARTIFACT_DIR: path.join(run, 'artifacts') }),
        };
        const procs: ChildProcess[] = [];
        try {
          for (let w = 0; w < workers; w++) procs.push(await startWorker({ ...env, DATA_DIR: path.join(run, `worker-${w}`), METRICS_ADDRESS: `127.0.0.1:${opts.port + 10 + w}`, APP_METRICS_ADDRESS: `127.0.0.1:${opts.port + 20 + w}` }, path.join(run, `worker-${w}.log`)));
          const workflowId = `scaling-${store}-${workers}-${Date.now()}`;
          const t0 = Date.now();
          const result = await client.workflow.execute(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId, args: [{ experiment: experiment(market, `scaling-${store}-${workers}`, opts.trials, workers) }] });
          const wall = (Date.now() - t0) / 1000;
          const searchSeconds = (result.candidates ?? []).reduce((s, c) => s + c.training.seconds.search, 0);
          // Trials that completed (a failed trial is not throughput), from the workflow's own record.
          const trials = (result.candidates ?? []).reduce((s, c) => s + c.training.trials.filter((t) => !t.error).length, 0);
          rows.push({ store, workers, trials, searchSeconds, wall });
          console.log(`${store.padEnd(5)} ${workers} worker(s): ${trials} trials in ${searchSeconds.toFixed(1)} s of search = ${((trials / searchSeconds) * 60).toFixed(1)} trials/min; whole run ${wall.toFixed(1)} s`);
        } finally {
          await Promise.all(procs.map(stopWorker)); // before the next run's workers take the same metrics ports
        }
      }
    }
  } finally {
    await client.connection.close();
    await s3?.stop();
    stopDevServer(config, () => undefined);
  }
  fs.rmSync(root, { recursive: true, force: true });
  const rate = (r: (typeof rows)[number]) => (r.trials / r.searchSeconds) * 60;
  console.log(`\n${os.availableParallelism()} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end; random_forest, ${opts.trials} trials, parallelism = workers, one training slot per worker`);
  console.log('workers  store  trials/min  search s  run s  object store share of run time');
  for (const r of rows) {
    const local = rows.find((x) => x.store === 'local' && x.workers === r.workers);
    const share = r.store === 's3' && local ? `${(((r.wall - local.wall) / r.wall) * 100).toFixed(1)}%` : '';
    console.log(`${String(r.workers).padStart(7)}  ${r.store.padEnd(5)}  ${rate(r).toFixed(1).padStart(10)}  ${r.searchSeconds.toFixed(1).padStart(8)}  ${r.wall.toFixed(1).padStart(5)}  ${share}`);
  }
  // The ratio line, last: how trials/min scales from the fewest to the most workers per store, and
  // object store / local trials/min at each worker count.
  const fewest = Math.min(...opts.workers);
  const most = Math.max(...opts.workers);
  const at = (store: string, workers: number) => rows.find((r) => r.store === store && r.workers === workers);
  const parts: string[] = [];
  if (most > fewest) {
    const scaling = opts.stores.flatMap((store) => {
      const [a, b] = [at(store, fewest), at(store, most)];
      return a && b ? [`${store} ${(rate(b) / rate(a)).toFixed(2)}×`] : [];
    });
    parts.push(`trials/min ${fewest} → ${most} workers: ${scaling.join(', ')}`);
  }
  const vsLocal = opts.workers.flatMap((w) => {
    const [l, o] = [at('local', w), at('s3', w)];
    return l && o ? [`${w}: ${(rate(o) / rate(l)).toFixed(2)}×`] : [];
  });
  if (vsLocal.length) parts.push(`object store / local trials/min by workers: ${vsLocal.join(', ')}`);
  console.log(`ratio: ${parts.join('; ') || 'one store and one worker count: nothing to compare'}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
