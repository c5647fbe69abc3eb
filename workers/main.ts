/**
 * The worker process: hosts the `ml-pipeline` and `ml-training` task queues, exposes Temporal's
 * metrics for Prometheus and shuts down cleanly on SIGINT/SIGTERM (running activities get a grace time).
 */
import { NativeConnection, Runtime } from '@temporalio/worker';
import { openCache } from '../lib/cache/open-cache';
import { loadConfig } from '../lib/config';
import { openDatabase } from '../lib/store/database';
import { TaskPool } from '../lib/threads/task-pool';
import { loadModelRuntimes } from '../models/algorithms';
import { TASK_QUEUES } from '../lib/task-queues';
import { createPipelineWorkers, runPipelineWorkers } from './pipeline-workers';

async function main(): Promise<void> {
  const config = loadConfig();
  Runtime.install({
    telemetryOptions: { metrics: { prometheus: { bindAddress: config.metricsAddress } } },
    // The Runtime turns these signals into a graceful shutdown of every worker in the process.
    shutdownSignals: ['SIGINT', 'SIGTERM'],
  });
  const store = await openDatabase(config.databaseUrl);
  const cache = openCache(config.redisUrl);
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const trainingPool = new TaskPool(config.trainingConcurrency);
  const { tensorflowBackend } = await loadModelRuntimes();
  try {
    const workers = await createPipelineWorkers({
      connection,
      namespace: config.temporalNamespace,
      store,
      cache,
      artifactDir: config.artifactDir,
      trainingPool,
      featureThreads: config.trainingConcurrency,
      trainingConcurrency: config.trainingConcurrency,
    });
    console.log(
      `worker ready: queues ${TASK_QUEUES.pipeline} + ${TASK_QUEUES.training} (concurrency ${config.trainingConcurrency}) at ${config.temporalAddress}/${config.temporalNamespace}; ` +
        `store ${store.description}; cache ${cache.kind}; artifacts ${config.artifactDir}; TensorFlow.js backend ${tensorflowBackend}; metrics http://${config.metricsAddress}/metrics`,
    );
    await runPipelineWorkers(workers);
  } finally {
    await trainingPool.close();
    await connection.close();
    await cache.close();
    await store.close();
    console.log('worker stopped');
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
