import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createPipelineActivities, type PipelineActivities } from '../../activities';
import type { Cache } from '../../lib/cache/cache';
import type { Database } from '../../lib/store/database';
import { TaskPool } from '../../lib/threads/task-pool';
import { findTemporalCli } from '../../platform/temporal-cli';
import { createPipelineWorkers } from '../../workers/pipeline-workers';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { TASK_QUEUES } from '../../lib/task-queues';
import { TEST_SERVER_ARGS } from './temporal-server-args';

/**
 * A real Temporal dev server from the project's own binary (never a download: these machines have
 * no route to the release site). Time skipping is unavailable with it; workflows take their waits as
 * arguments instead.
 */
export async function startTemporal(options: { port?: number; /** Kept across a stop and a start on it (an outage); default in memory. */ dbFilename?: string } = {}): Promise<TestWorkflowEnvironment> {
  // Worker state changes at INFO would drown the test output; warnings and errors still show.
  if (!Runtime._instance) Runtime.install({ logger: new DefaultLogger('WARN') });
  const cli = findTemporalCli();
  if (!cli) throw new Error('No temporal CLI found: run "npm run temporal:server -- install" (builds it with Go) or set TEMPORAL_CLI_PATH');
  return TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: cli }, ip: '127.0.0.1', port: options.port, extraArgs: TEST_SERVER_ARGS, ...(options.dbFilename ? { dbFilename: options.dbFilename } : {}) },
  });
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Bundles ../workflows once per test file (bundling takes seconds). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: { info: () => undefined, warn: () => undefined, error: console.error, debug: () => undefined, trace: () => undefined, log: () => undefined } });
  return bundle;
}

/** Runs both workers of the worker process around `fn`, then shuts them down. */
export async function withWorkers<T>(
  env: TestWorkflowEnvironment,
  deps: { store: Database; cache: Cache; artifactDir?: string },
  fn: () => Promise<T>,
): Promise<T> {
  const trainingPool = new TaskPool(2);
  const workers = await createPipelineWorkers({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    trainingConcurrency: 2,
    workflowBundle: await workflowBundle(),
    shutdownGraceTime: '2s',
    trainingPool,
    store: deps.store,
    cache: deps.cache,
    artifacts: localArtifactStore(deps.artifactDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-artifacts-'))),
  });
  try {
    return await workers.pipeline.runUntil(workers.training.runUntil(fn));
  } finally {
    await trainingPool.close();
  }
}

/**
 * The pipeline queue's worker alone (workflows and light activities, as workers/pipeline-workers.ts
 * creates it), its activities passed through `wrap` first, around `fn`: for a test that must hold
 * an activity at a chosen moment (a cancellation landing while it runs) or answer one itself.
 */
export async function withPipelineWorker<T>(
  env: TestWorkflowEnvironment,
  deps: { store: Database; cache: Cache; artifactDir: string },
  wrap: (activities: PipelineActivities) => PipelineActivities,
  fn: () => Promise<T>,
): Promise<T> {
  const trainingPool = new TaskPool(1);
  try {
    const worker = await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: TASK_QUEUES.pipeline,
      workflowBundle: await workflowBundle(),
      activities: wrap(createPipelineActivities({ store: deps.store, cache: deps.cache, artifacts: localArtifactStore(deps.artifactDir), trainingPool })),
      shutdownGraceTime: '2s',
    });
    return await worker.runUntil(fn);
  } finally {
    await trainingPool.close();
  }
}
