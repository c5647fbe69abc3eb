import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { countBars } from '../../lib/store/bars';
import { TASK_QUEUES } from '../../lib/task-queues';
import { trainingPipeline } from '../../workflows';
import { createMysqlTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';
import { startTemporal, withWorkers } from '../helpers/temporal';

const REPO = path.resolve(__dirname, '..', '..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** The real worker process (workers/main.ts), configured only through its environment. */
async function startWorkerProcess(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  // node itself (not the tsx wrapper, which would leave its child running when killed)
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'workers', 'main.ts')], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start within 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('worker ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => reject(new Error(`worker exited with ${code}:\n${output}`)));
  });
  return child;
}

describe('a worker killed in the middle of ingest', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let child: ChildProcess | undefined;
  afterAll(async () => {
    child?.kill('SIGKILL');
    await db?.drop();
    await env?.teardown();
  });

  it('is retried on another worker after the heartbeat timeout, resumes, and stores every bar once', async () => {
    const port = await freePort();
    env = await startTemporal({ port });
    db = await createMysqlTestDatabase();
    const dir = tempDir('mlp-restart-');
    await writeSyntheticMarket(dir, { symbols: 60, from: '2010-01-04', to: '2020-12-31', plantErrors: false });

    child = await startWorkerProcess({
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
      DATABASE_URL: db.url,
      REDIS_URL: '',
      METRICS_ADDRESS: `127.0.0.1:${await freePort()}`,
      TRAINING_CONCURRENCY: '1',
    });
    const handle = await env.client.workflow.start(trainingPipeline, {
      taskQueue: TASK_QUEUES.pipeline,
      workflowId: `wf-restart-${Date.now()}`,
      args: [{ import: { source: { kind: 'csv', path: dir } }, timeouts: { ingestHeartbeatSeconds: 4 } }],
    });

    // Kill the worker process (no graceful shutdown) as soon as the first chunks are committed.
    let atKill = 0;
    for (let i = 0; i < 3000 && atKill === 0; i++) {
      atKill = await countBars(db.store);
      if (atKill === 0) await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((r) => child?.once('exit', r));
    const total = 60 * 2769;
    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(total); // really mid-activity

    // A fresh worker picks the retry up once the heartbeat times out.
    const result = await withWorkers(env, { store: db.store, cache: new MemoryCache() }, () => handle.result());
    const history = await handle.fetchHistory();
    const ingestStarted = history.events?.find((e) => e.activityTaskStartedEventAttributes && e.activityTaskStartedEventAttributes.attempt);
    expect(ingestStarted?.activityTaskStartedEventAttributes?.attempt).toBeGreaterThanOrEqual(2);
    expect(result.ingest.rowsAccepted).toBe(total);
    const dump = await dumpStore(db.store);
    expect(dump.bars).toHaveLength(total);
    expect(new Set(dump.bars.map((b) => `${(b as { symbol: string }).symbol}/${(b as { date: string }).date}`)).size).toBe(total);
    expect(dump.snapshots).toHaveLength(1);
  });
});
