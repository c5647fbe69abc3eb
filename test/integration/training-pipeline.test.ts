import fs from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { RedisCache } from '../../lib/cache/redis-cache';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { countBars, upsertBars } from '../../lib/store/bars';
import { dumpStore } from '../helpers/store-dump';
import { getSnapshot } from '../../lib/store/snapshots';
import { TASK_QUEUES } from '../../lib/task-queues';
import { pipelineStatusQuery, trainingPipeline } from '../../workflows';
import { createMysqlTestDatabase, createSqliteTestDatabase, tempDir, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';
import { startTemporal, withWorkers, workflowBundle } from '../helpers/temporal';
import { committedHistories } from '../helpers/workflow-histories';

const HISTORY_DIR = path.join(__dirname, '..', 'fixtures', 'histories');
/** Name recordings after the workflow's shape; older recordings stay and keep replaying. */
const RECORDING_TAG = 'with-features';

describe('trainingPipeline on a real Temporal dev server', () => {
  let env: TestWorkflowEnvironment;
  let mysql: TestDatabase;
  let sqlite: TestDatabase;
  const finished: string[] = [];
  beforeAll(async () => {
    [env, mysql, sqlite] = await Promise.all([startTemporal(), createMysqlTestDatabase(), createSqliteTestDatabase()]);
  });
  afterAll(async () => {
    await Promise.all([mysql?.drop(), sqlite?.drop()]);
    await env?.teardown();
  });

  it('ingests and passes the gate on MariaDB + Redis, with progress visible through the query', async () => {
    const dir = tempDir('mlp-wf-');
    await writeSyntheticMarket(dir, { symbols: 6 });
    const cache = new RedisCache(TEST_REDIS_URL, `mlp-wf-${process.pid}:`);
    try {
      const result = await withWorkers(env, { store: mysql.store, cache }, async () => {
        const handle = await env.client.workflow.start(trainingPipeline, {
          taskQueue: TASK_QUEUES.pipeline,
          workflowId: `wf-ok-${Date.now()}`,
          args: [{ import: { source: { kind: 'csv', path: dir } } }],
        });
        const r = await handle.result();
        const status = await handle.query(pipelineStatusQuery);
        expect(status.stages.map((s) => s.status)).toEqual(['completed', 'completed', 'completed']);
        expect(status.snapshotId).toBe(r.snapshotId);
        finished.push(handle.workflowId);
        return r;
      });
      expect(result.gate?.passed).toBe(true);
      expect(result.ingest?.symbols).toBe(6);
      expect(result.features?.symbols).toBe(6);
      expect(result.features?.columns).toBeGreaterThan(50);
      expect(result.features?.rowsWritten).toBeGreaterThan(6 * 900);
      expect(result.features?.onlineUpdated).toBe(6);
      expect(await countBars(mysql.store)).toBe(result.ingest?.rowsAccepted);
      expect((await getSnapshot(mysql.store, result.snapshotId as string))?.status).toBe('published');
      expect(result.gate?.published).toMatchObject({ added: result.ingest?.rowsAccepted, revised: 0 });
    } finally {
      await cache.close();
    }
  });

  it('stops at the quality gate with the reason, without retrying, rejects the snapshot and leaves the bars as they were', async () => {
    const dir = tempDir('mlp-wf-bad-');
    const rows = ['date,open,high,low,close,volume,Name'];
    let day = new Date(Date.UTC(2017, 0, 3));
    for (let i = 0; rows.length <= 100; i++, day = new Date(day.getTime() + 86_400_000)) {
      if (day.getUTCDay() === 0 || day.getUTCDay() === 6) continue;
      const d = day.toISOString().slice(0, 10);
      rows.push(i % 10 === 0 ? `${d},10,9,11,10,100,BAD` : `${d},10,11,9,10.5,100,BAD`); // every 10th row: high < low
    }
    fs.writeFileSync(path.join(dir, 'BAD.csv'), rows.join('\n'));
    const store = sqlite.store;
    // Bars of the symbol published earlier, on the file's price basis (a stored close of 1 under the
    // file's 10.5 is another security or unit: series_splice, a verdict of its own): the rejected
    // import must not touch them.
    await upsertBars(store, [{ symbol: 'BAD', date: '2017-01-03', open: 10, high: 11, low: 9, close: 10.5, volume: 100 }]);
    const barsBefore = (await dumpStore(store)).bars;
    await withWorkers(env, { store, cache: new MemoryCache() }, async () => {
      const handle = await env.client.workflow.start(trainingPipeline, {
        taskQueue: TASK_QUEUES.pipeline,
        workflowId: `wf-gate-${Date.now()}`,
        args: [{ import: { source: { kind: 'csv', path: dir }, quality: { maxBadRowShare: 0.05, minHistoryBars: 10 } } }],
      });
      const error = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(WorkflowFailedError);
      const cause = (error as WorkflowFailedError).cause;
      expect(cause?.message).toMatch(/quality-gate failed: Quality gate failed for snapshot ds-\w+: 1\d\.\d\d% of rows rejected \(1\d of 100\), above the limit of 5\.00%; most frequent: ohlc_inconsistent/);
      const status = await handle.query(pipelineStatusQuery);
      expect(status.stages.map((s) => s.status)).toEqual(['completed', 'failed', 'pending']);
      const history = await handle.fetchHistory();
      const gateAttempts = history.events?.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes?.attempt);
      expect(gateAttempts).toEqual([1, 1]); // ingest once, gate once: a failed gate is not retried
      expect((await getSnapshot(store, status.snapshotId as string))?.status).toBe('rejected');
      expect((await dumpStore(store)).bars).toEqual(barsBefore);
      finished.push(handle.workflowId);
    });
  });

  it('fails at once, naming the path, when the source does not exist', async () => {
    await withWorkers(env, { store: sqlite.store, cache: new MemoryCache() }, async () => {
      const handle = await env.client.workflow.start(trainingPipeline, {
        taskQueue: TASK_QUEUES.pipeline,
        workflowId: `wf-missing-${Date.now()}`,
        args: [{ import: { source: { kind: 'csv', path: '/no/such/folder' } } }],
      });
      await expect(handle.result()).rejects.toMatchObject({ cause: { message: expect.stringContaining('ingest failed: No file or folder at /no/such/folder') } });
      finished.push(handle.workflowId);
    });
  });

  it('replays the recorded histories of these runs, and the committed ones, without non-determinism', async () => {
    const histories = await Promise.all(finished.map(async (workflowId) => ({ workflowId, history: await env.client.workflow.getHandle(workflowId).fetchHistory() })));
    expect(histories).toHaveLength(3);
    if (process.env.RECORD_HISTORIES === '1') {
      fs.mkdirSync(HISTORY_DIR, { recursive: true });
      for (const [i, h] of histories.entries()) fs.writeFileSync(path.join(HISTORY_DIR, `training-pipeline-${RECORDING_TAG}-${['passed', 'gate-failed', 'missing-source'][i]}.json`), historyToJSON(h.history));
    }
    // Each under the workflow id it was recorded with: a continued deployment run checks its carried state against it.
    const committed = committedHistories('').map(({ workflowId, history }) => ({ workflowId, history }));
    expect(committed.length).toBeGreaterThanOrEqual(3);
    const results = Worker.runReplayHistories({ workflowBundle: await workflowBundle(), replayName: 'trainingPipeline' }, [...histories, ...committed]);
    let replayed = 0;
    for await (const r of results) {
      expect(r.error).toBeUndefined();
      replayed++;
    }
    expect(replayed).toBe(histories.length + committed.length);
  });
});
