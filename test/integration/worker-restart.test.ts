import type { ChildProcess } from 'node:child_process';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { countBars } from '../../lib/store/bars';
import { countStagedBars } from '../../lib/store/staging';
import { TASK_QUEUES } from '../../lib/task-queues';
import { trainingPipeline } from '../../workflows';
import { createMysqlTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';
import { startTemporal, withWorkers } from '../helpers/temporal';
import { freePort, killWorker, startWorkerProcess } from '../helpers/worker-process';

describe('a worker killed in the middle of ingest', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  let child: ChildProcess | undefined;
  afterAll(async () => {
    child?.kill('SIGKILL');
    await db?.drop();
    await env?.teardown();
  });

  it('is retried on another worker after the heartbeat timeout, resumes at the first unstaged chunk, and publishes every bar once', async () => {
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

    // Kill the worker process (no graceful shutdown) as soon as the first chunks are staged.
    let atKill = 0;
    for (let i = 0; i < 3000 && atKill === 0; i++) {
      atKill = await countStagedBars(db.store);
      if (atKill === 0) await new Promise((r) => setTimeout(r, 20));
    }
    await killWorker(child);
    const total = 60 * 2769;
    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(total); // really mid-activity
    expect(await countBars(db.store)).toBe(0); // nothing published before the gate

    // A fresh worker picks the retry up once the heartbeat times out.
    const result = await withWorkers(env, { store: db.store, cache: new MemoryCache() }, () => handle.result());
    const history = await handle.fetchHistory();
    const ingestStarted = history.events?.find((e) => e.activityTaskStartedEventAttributes && e.activityTaskStartedEventAttributes.attempt);
    expect(ingestStarted?.activityTaskStartedEventAttributes?.attempt).toBeGreaterThanOrEqual(2);
    expect(result.ingest?.rowsAccepted).toBe(total);
    const dump = await dumpStore(db.store);
    expect(dump.bars).toHaveLength(total);
    expect(new Set(dump.bars.map((b) => `${(b as { symbol: string }).symbol}/${(b as { date: string }).date}`)).size).toBe(total);
    expect(dump.snapshots).toHaveLength(1);
    expect(dump.snapshots[0]).toMatchObject({ status: 'published', bars_added: total, bars_revised: 0 });
  });
});
