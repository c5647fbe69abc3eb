import { NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createPipelineActivities, createTrainingActivities, type ActivityDeps } from '../activities';
import { TASK_QUEUES } from '../lib/task-queues';

export interface PipelineWorkersOptions extends ActivityDeps {
  connection: NativeConnection;
  namespace: string;
  trainingConcurrency: number;
  /** Pre-built bundle (tests build it once); default: bundle ../workflows at start. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** How long running activities get to finish on shutdown before they are cancelled. */
  shutdownGraceTime?: string;
}

/** The two workers of one process: orchestration + light activities, and CPU-bound activities. */
export async function createPipelineWorkers(options: PipelineWorkersOptions): Promise<{ pipeline: Worker; training: Worker }> {
  const { connection, namespace } = options;
  const deps: ActivityDeps = { store: options.store, cache: options.cache, artifacts: options.artifacts, trainingPool: options.trainingPool, featureThreads: options.featureThreads };
  const shutdownGraceTime = options.shutdownGraceTime ?? '20s';
  const workflows = options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: require.resolve('../workflows') };
  const pipeline = await Worker.create({
    connection,
    namespace,
    taskQueue: TASK_QUEUES.pipeline,
    ...workflows,
    activities: createPipelineActivities(deps),
    shutdownGraceTime,
  });
  const training = await Worker.create({
    connection,
    namespace,
    taskQueue: TASK_QUEUES.training,
    activities: createTrainingActivities(deps),
    // One slot more than training threads: dataset guards, evaluations and reports do much of their
    // work on this thread, and while one of them held a slot a training thread sat idle beside it.
    // Thread work of more activities than threads waits on the threads (no core is oversubscribed).
    maxConcurrentActivityTaskExecutions: options.trainingConcurrency + 1,
    // Progress (bars written, trials done) reaches the CLI and Web UI every few seconds rather than
    // at 80% of the heartbeat timeout; the extra load on the server is negligible.
    maxHeartbeatThrottleInterval: '3s',
    shutdownGraceTime,
  });
  return { pipeline, training };
}

/** Runs both until shutdown (SIGINT/SIGTERM via the Runtime, or worker.shutdown()). */
export async function runPipelineWorkers(workers: { pipeline: Worker; training: Worker }): Promise<void> {
  await Promise.all([workers.pipeline.run(), workers.training.run()]);
}
