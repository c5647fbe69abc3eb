/**
 * The worker process: hosts the `ml-pipeline` and `ml-training` task queues, exposes Temporal's
 * metrics (METRICS_ADDRESS) and its own (APP_METRICS_ADDRESS: alerts, monitoring results) for
 * Prometheus, delivers pending alerts every few seconds, and shuts down cleanly on SIGINT/SIGTERM
 * (running activities get a grace time).
 */
import { NativeConnection, Runtime } from '@temporalio/worker';
import { alertChannels } from '../lib/alerts/channels';
import { startAlertDeliveryLoop } from '../lib/alerts/delivery-loop';
import { openCache } from '../lib/cache/open-cache';
import { codeVersion } from '../lib/code-version';
import { configuredSigning, loadConfig } from '../lib/config';
import { countDeliveryAttempts, registerAlertStoreGauges } from '../lib/metrics/alert-metrics';
import { startMetricsServer } from '../lib/metrics/metrics-server';
import { appRegistry, enableProcessMetrics } from '../lib/metrics/registry';
import { assertSigningKeyWhereSigned } from '../lib/registry/signing-key-required';
import { openDatabase } from '../lib/store/database';
import { TaskPool } from '../lib/threads/task-pool';
import { loadModelRuntimes } from '../models/algorithms';
import { TASK_QUEUES } from '../lib/task-queues';
import { createPipelineWorkers, runPipelineWorkers } from './pipeline-workers';
import { hugePagesAsked } from '../platform/process-tuning';
import { checkArtifactStore, openArtifactStore } from '../lib/artifacts/artifact-store';

const ALERT_DELIVERY_INTERVAL_MS = 5000;

async function main(): Promise<void> {
  // The commit of the code this process loads, read now: read at the first registration, a checkout
  // moved meanwhile (a pull before a planned restart) was recorded as the code of models it did not train.
  const code = codeVersion();
  const config = loadConfig();
  Runtime.install({
    telemetryOptions: { metrics: { prometheus: { bindAddress: config.metricsAddress } } },
    // The Runtime turns these signals into a graceful shutdown of every worker in the process.
    shutdownSignals: ['SIGINT', 'SIGTERM'],
  });
  // With the deployment's key: every bar the worker writes (imports) is signed, and its reads check them.
  const store = await openDatabase(config.databaseUrl, { signing: configuredSigning(config) });
  const cache = openCache(config.redisUrl);
  // The online store too: its features step publishes vectors there.
  await assertSigningKeyWhereSigned(store, config.modelSigningKey, 'the worker', { cache }).catch(async (error: unknown) => {
    await cache.close();
    await store.close();
    throw error;
  });
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const trainingPool = new TaskPool(config.trainingConcurrency);
  await loadModelRuntimes();
  enableProcessMetrics();
  registerAlertStoreGauges(store, (error) => console.error(`alert metrics: cannot read the store: ${(error as Error).message}`));
  // A second worker on the same host (fan-out, restarts) finds the port taken: it runs without its own endpoint.
  const appMetrics = await startMetricsServer(config.appMetricsAddress, appRegistry).catch((error: unknown) => {
    console.error(`${(error as Error).message}; this worker serves no alert/monitoring metrics (set APP_METRICS_ADDRESS to a free host:port)`);
    return undefined;
  });
  // Alerts raised while a receiver (or this worker) was down go out from here once it is back.
  const deliveries = startAlertDeliveryLoop({
    store,
    channels: alertChannels(config),
    intervalMs: ALERT_DELIVERY_INTERVAL_MS,
    onResult: (result) => {
      countDeliveryAttempts(result.attempts);
      for (const failure of result.attempts.filter((a) => !a.ok)) console.error(`alert ${failure.alertId} not delivered to ${failure.channel} (retried later): ${failure.error}`);
    },
    onError: (error) => console.error(`alert delivery pass failed (retried in ${ALERT_DELIVERY_INTERVAL_MS / 1000} s): ${(error as Error).message}`),
  });
  try {
    // A wrong bucket name stops the worker here, not every activity later with "artifact missing".
    await checkArtifactStore(openArtifactStore(config.artifacts));
    const workers = await createPipelineWorkers({
      connection,
      namespace: config.temporalNamespace,
      store,
      cache,
      artifacts: openArtifactStore(config.artifacts),
      trainingPool,
      featureThreads: config.trainingConcurrency,
      trainingConcurrency: config.trainingConcurrency,
    });
    console.log(
      `worker ready: code ${code}; queues ${TASK_QUEUES.pipeline} + ${TASK_QUEUES.training} (concurrency ${config.trainingConcurrency}) at ${config.temporalAddress}/${config.temporalNamespace}; ` +
        `store ${store.description}; cache ${cache.kind}; artifacts ${openArtifactStore(config.artifacts).description}; metrics http://${config.metricsAddress}/metrics (Temporal) and ${appMetrics?.url ?? '(none)'} (alerts, monitoring); ` +
        `alerts to ${config.alertWebhookUrl ? 'the log and the webhook' : 'the log (no ALERT_WEBHOOK_URL)'}; ` +
        `huge pages ${hugePagesAsked() ? 'asked (GLIBC_TUNABLES)' : 'not asked (opt-in: platform/process-tuning.ts)'}`,
    );
    if (config.modelSigningKey === undefined) {
      console.warn(
        'warning: MODEL_SIGNING_KEY is not set, so registry rows are unsigned: versions this worker registers carry no signature, and deployments, warm starts and outcome labels ' +
          'trust a model_versions row as it stands in the database (an edited row is not detected unless it disagrees with its artifact). See docs/serving-and-deployment.md',
      );
    }
    await runPipelineWorkers(workers);
  } finally {
    await deliveries.stop();
    await appMetrics?.close();
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
