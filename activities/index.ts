import type { Cache } from '../lib/cache/cache';
import type { Database } from '../lib/store/database';
import { featureActivities } from './features';
import { ingestActivities } from './ingest';
import { qualityGateActivities } from './quality-gate';

export interface ActivityDeps {
  store: Database;
  cache: Cache;
  /** Threads for per-symbol feature computation (default 1: this thread only). */
  featureThreads?: number;
}

/** Activities of the light `ml-pipeline` queue. */
export function createPipelineActivities(deps: ActivityDeps) {
  return { ...qualityGateActivities(deps) };
}

/** Activities of the CPU-bound `ml-training` queue (concurrency bounded by cores). */
export function createTrainingActivities(deps: ActivityDeps) {
  return { ...ingestActivities(deps), ...featureActivities(deps) };
}

export type PipelineActivities = ReturnType<typeof createPipelineActivities>;
export type TrainingActivities = ReturnType<typeof createTrainingActivities>;
