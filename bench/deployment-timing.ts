/**
 * Deployment and rollback timings (`npm run bench:deploy`), with a real Temporal dev server, a
 * worker in this process, two prediction API child processes sharing Redis, and live traffic whose
 * outcomes have matured (see test/helpers/oracle-models.ts):
 *   (a) registering a challenger → 100% of traffic in every API process, through deploymentWorkflow
 *       with steps 5 → 25 → 50 → 100% and the minimum analysis interval (1 s); the overhead is the
 *       total minus the analysis intervals, and the time spent waiting for matured pairs is shown;
 *   (b) `rollbackModel` → the old champion served by every API process.
 *   tsx bench/deployment-timing.ts [--rounds 3] [--redis redis://127.0.0.1:6379/15] [--rate 400]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime } from '@temporalio/worker';
import { Command } from 'commander';
import { z } from 'zod';
import { describeDeployment } from '../client/commands/deployments';
import { RedisCache } from '../lib/cache/redis-cache';
import { moveAlias, verifyRegisteredVersion } from '../lib/registry/model-registry';
import { rollbackModel } from '../lib/serving/rollback';
import { singleRoute, writeServingRoutes } from '../lib/serving/serving-routes';
import { openDatabase } from '../lib/store/database';
import { TASK_QUEUES } from '../lib/task-queues';
import { TaskPool } from '../lib/threads/task-pool';
import { findTemporalCli } from '../platform/temporal-cli';
import { registerOracleModel, setUpOracleMarket } from '../test/helpers/oracle-models';
import { freePort } from '../test/helpers/worker-process';
import { createPipelineWorkers } from '../workers/pipeline-workers';
import { deploymentWorkflow } from '../workflows';
import { localArtifactStore } from '../lib/artifacts/artifact-store';

const options = z
  .object({
    rounds: z.coerce.number().int().min(1).max(20).default(3),
    redis: z.string().regex(/^rediss?:\/\/.+/, '--redis must be redis://host:port[/db]').default('redis://127.0.0.1:6379/15'),
    rate: z.coerce.number().int().min(10).max(5000).default(400),
  })
  .parse(new Command().option('--rounds <n>').option('--redis <url>').option('--rate <n>', 'requests/s spread over the two API processes').parse().opts());

const MODEL = `bench-deploy-${process.pid}`;
const TOKEN = randomBytes(24).toString('hex');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function startApi(env: NodeJS.ProcessEnv, logFile: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const out = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '../api/main.ts')], { env: { ...process.env, ...env, API_ADDRESS: `127.0.0.1:${port}` }, stdio: ['ignore', out, out] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 1200; i++) {
    if (child.exitCode !== null) throw new Error(`API process exited (${child.exitCode}); log:\n${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    if ((await fetch(`${url}/readyz`).then((r) => r.status, () => 0)) === 200) return { url, child };
    await sleep(100);
  }
  throw new Error(`API at ${url} not ready within 120 s`);
}

/** The version each API process serves on 100% of traffic, if any. */
async function servedEverywhere(urls: readonly string[]): Promise<Array<number | undefined>> {
  return Promise.all(
    urls.map(async (url) => {
      const body = (await (await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { models: Array<{ model: string; routes: { routes: Array<{ version: number; weight: number }> } }> };
      const routes = body.models.find((m) => m.model === MODEL)?.routes.routes ?? [];
      return routes.find((r) => r.weight === 1)?.version;
    }),
  );
}

async function waitServed(urls: readonly string[], version: number): Promise<number> {
  const t0 = performance.now();
  while (!(await servedEverywhere(urls)).every((v) => v === version)) await sleep(5);
  return performance.now() - t0;
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-deploy-'));
  const databaseUrl = `sqlite:${path.join(dir, 'bench.sqlite')}`;
  const artifactDir = path.join(dir, 'artifacts');
  const store = await openDatabase(databaseUrl);
  const cache = new RedisCache(options.redis, 'mlp:');
  const cli = findTemporalCli();
  if (!cli) throw new Error('No temporal CLI: run "npm run temporal:server -- install"');
  const env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: cli }, ip: '127.0.0.1', extraArgs: ['--log-level', 'error'] } });
  const trainingPool = new TaskPool(1);
  const apis: ChildProcess[] = [];
  try {
    const market = await setUpOracleMarket(store, cache);
    const fsv = market.featureSetVersion;
    const first = await registerOracleModel(store, artifactDir, { name: MODEL, seed: 1, flip: false, featureSetVersion: fsv });
    await moveAlias(store, { name: MODEL, alias: 'champion', version: first, movedBy: 'bench', reason: 'first' });
    await writeServingRoutes(store, cache, { model: MODEL, mode: 'single', routes: singleRoute(first), updatedBy: 'bench', reason: 'first' });
    const apiEnv = { DATABASE_URL: databaseUrl, REDIS_URL: options.redis, ARTIFACT_DIR: artifactDir, API_TOKENS: `bench:${TOKEN}=predict+admin` };
    const started = await Promise.all([0, 1].map((i) => startApi(apiEnv, path.join(dir, `api-${i}.log`))));
    apis.push(...started.map((s) => s.child));
    const urls = started.map((s) => s.url);

    const workers = await createPipelineWorkers({
      connection: env.nativeConnection, namespace: 'default', trainingConcurrency: 1, store, cache, artifacts: localArtifactStore(artifactDir), trainingPool, shutdownGraceTime: '2s',
      workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: { info: () => undefined, warn: () => undefined, error: console.error, debug: () => undefined, trace: () => undefined, log: () => undefined } }),
    });
    let running = true;
    let sent = 0;
    let failed = 0;
    const traffic = (async () => {
      const gap = 1000 / options.rate;
      for (let i = 0; running; i++) {
        const url = urls[i % urls.length];
        fetch(`${url}/v1/predictions/${market.symbols[i % market.symbols.length]}?model=${MODEL}&key=${randomUUID()}`, { headers: { authorization: `Bearer ${TOKEN}` } }).then(
          (r) => { if (r.status !== 200) failed++; return r.arrayBuffer(); },
          () => failed++,
        );
        sent++;
        await sleep(gap);
      }
    })();
    await sleep(1000);

    console.log(`2 API processes, ${options.rate} req/s of live traffic (matured outcomes), ${os.availableParallelism()} cores`);
    console.log('\n(a) register → 100% in every API process: steps 5 → 25 → 50 → 100%, analysisSeconds 1 (the minimum: Temporal timers resolve to about a second), minMaturedPairs 30');
    console.log('  round  total s  waiting for matured pairs s  overhead s  analyses');
    const overheads: number[] = [];
    await workers.pipeline.runUntil(workers.training.runUntil(async () => {
      for (let round = 1; round <= options.rounds; round++) {
        const t0 = performance.now();
        // The same recipe and seed: a new version that predicts like the champion, so every analysis can pass.
        const challenger = await registerOracleModel(store, artifactDir, { name: MODEL, seed: 1, flip: false, featureSetVersion: fsv });
        const state = await env.client.workflow.execute(deploymentWorkflow, {
          taskQueue: TASK_QUEUES.pipeline,
          workflowId: `bench-deploy-${process.pid}-${round}`,
          args: [{ model: MODEL, challengerVersion: challenger, canary: { steps: [5, 25, 50, 100], analysisSeconds: 1, thresholds: { minMaturedPairs: 30 } } }],
        });
        if (state.status !== 'promoted') throw new Error(`round ${round}: ${state.status}: ${state.decisions.map((d) => d.message).join('; ')}`);
        await waitServed(urls, challenger);
        const total = (performance.now() - t0) / 1000;
        // Analyses that came back inconclusive were waiting for traffic to reach the canary, not for the pipeline.
        const inconclusive = state.analyses.filter((a) => a.verdict === 'inconclusive').length;
        const waiting = inconclusive * 1;
        const overhead = total - state.analyses.length * 1;
        overheads.push(overhead);
        if (round === 1) console.log(describeDeployment(state).replace(/^/gm, '        '));
        console.log(`  ${String(round).padStart(5)}  ${total.toFixed(2).padStart(7)}  ${waiting.toFixed(2).padStart(27)}  ${overhead.toFixed(2).padStart(10)}  ${state.analyses.length} (${inconclusive} inconclusive)`);
      }
      console.log(`  overhead (total − analysis intervals): median ${overheads.sort((a, b) => a - b)[Math.floor(overheads.length / 2)].toFixed(2)} s, max ${overheads[overheads.length - 1].toFixed(2)} s (target < 5 s)`);

      console.log('\n(b) rollbackModel → old champion served by both API processes');
      const times: number[] = [];
      for (let round = 1; round <= Math.max(5, options.rounds); round++) {
        const t0 = performance.now();
        const result = await rollbackModel(store, cache, { model: MODEL, movedBy: 'bench', reason: `bench round ${round}`, verify: (m, v) => verifyRegisteredVersion(store, localArtifactStore(artifactDir), m, v) });
        await waitServed(urls, result.toVersion);
        times.push(performance.now() - t0);
        console.log(`  v${result.fromVersion} → v${result.toVersion}: visible everywhere after ${times[times.length - 1].toFixed(1)} ms`);
      }
      times.sort((a, b) => a - b);
      console.log(`  median ${times[Math.floor(times.length / 2)].toFixed(1)} ms, max ${times[times.length - 1].toFixed(1)} ms (target < 2,000 ms)`);
    }));
    running = false;
    await traffic;
    await sleep(500);
    console.log(`\nlive traffic: ${sent} requests, ${failed} failed`);
  } finally {
    for (const child of apis) child.kill('SIGTERM');
    await trainingPool.close();
    await cache.close();
    await store.close();
    await env.teardown();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
