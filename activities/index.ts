import type { AlertChannelConfig } from '../lib/alerts/channels';
import type { Cache } from '../lib/cache/cache';
import type { ArtifactStore } from '../lib/artifacts/artifact-store';
import { loadConfig } from '../lib/config';
import type { Database } from '../lib/store/database';
import type { TaskPool } from '../lib/threads/task-pool';
import { alertActivities } from './alerts';
import { deploymentActivities } from './deployment';
import { experimentActivities } from './experiments';
import { featureActivities } from './features';
import { ingestActivities } from './ingest';
import { monitoringActivities } from './monitoring';
import { qualityGateActivities } from './quality-gate';
import { searchActivities, trainingActivities } from './training';
import { warmStartActivities } from './warm-start';

export interface ActivityDeps {
  store: Database;
  cache: Cache;
  /** Where model artifacts, training datasets, predictions and reports are filed (lib/artifacts): one store every worker reaches. */
  artifacts: ArtifactStore;
  /** Threads that run trial folds and fits, so the activity thread stays free to heartbeat. */
  trainingPool: TaskPool;
  /** Threads for per-symbol feature computation (default 1: this thread only). */
  featureThreads?: number;
  /** Where alerts go (ALERT_WEBHOOK_URL) and the Web UI their links point at; default: from the environment. */
  alerts?: AlertChannelConfig;
}

function alertConfigOf(deps: ActivityDeps): AlertChannelConfig {
  if (deps.alerts) return deps.alerts;
  const config = loadConfig();
  return { alertWebhookUrl: config.alertWebhookUrl, temporalUiUrl: config.temporalUiUrl, temporalNamespace: config.temporalNamespace };
}

/** Activities of the light `ml-pipeline` queue. */
export function createPipelineActivities(deps: ActivityDeps) {
  const { resolveExperiment, registerAndPromote, championRecipe } = experimentActivities(deps);
  return {
    ...qualityGateActivities(deps),
    // Local activities of trainAlgorithm: they run on the worker that runs the workflows.
    ...searchActivities(),
    resolveExperiment,
    registerAndPromote,
    championRecipe,
    ...warmStartActivities({ store: deps.store, artifacts: deps.artifacts }),
    ...deploymentActivities(deps),
    // After the deployment activities: their raiseAlert is replaced by the one with cool-down and delivery.
    ...alertActivities({ store: deps.store, config: alertConfigOf(deps) }),
    ...monitoringActivities({ store: deps.store, artifacts: deps.artifacts, cache: deps.cache }),
  };
}

/** Activities of the CPU-bound `ml-training` queue (concurrency bounded by cores). */
export function createTrainingActivities(deps: ActivityDeps) {
  const { evaluateAlgorithm, guardTrainingDataset, profileTrainingDataset, writeRunReport } = experimentActivities(deps);
  return { ...ingestActivities(deps), ...featureActivities(deps), ...trainingActivities(deps), evaluateAlgorithm, guardTrainingDataset, profileTrainingDataset, writeRunReport };
}

export type PipelineActivities = ReturnType<typeof createPipelineActivities>;
export type TrainingActivities = ReturnType<typeof createTrainingActivities>;
