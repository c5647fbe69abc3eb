import type { Cache } from '../lib/cache/cache';
import type { Database } from '../lib/store/database';
import type { TaskPool } from '../lib/threads/task-pool';
import { deploymentActivities } from './deployment';
import { experimentActivities } from './experiments';
import { featureActivities } from './features';
import { ingestActivities } from './ingest';
import { qualityGateActivities } from './quality-gate';
import { trainingActivities } from './training';

export interface ActivityDeps {
  store: Database;
  cache: Cache;
  /** Where model artifacts, training datasets and predictions are filed (shared by every worker). */
  artifactDir: string;
  /** Threads that run trial folds and fits, so the activity thread stays free to heartbeat. */
  trainingPool: TaskPool;
  /** Threads for per-symbol feature computation (default 1: this thread only). */
  featureThreads?: number;
}

/** Activities of the light `ml-pipeline` queue. */
export function createPipelineActivities(deps: ActivityDeps) {
  const { resolveExperiment, registerAndPromote, championRecipe } = experimentActivities(deps);
  return { ...qualityGateActivities(deps), resolveExperiment, registerAndPromote, championRecipe, ...deploymentActivities(deps) };
}

/** Activities of the CPU-bound `ml-training` queue (concurrency bounded by cores). */
export function createTrainingActivities(deps: ActivityDeps) {
  const { evaluateAlgorithm } = experimentActivities(deps);
  return { ...ingestActivities(deps), ...featureActivities(deps), ...trainingActivities(deps), evaluateAlgorithm };
}

export type PipelineActivities = ReturnType<typeof createPipelineActivities>;
export type TrainingActivities = ReturnType<typeof createTrainingActivities>;
