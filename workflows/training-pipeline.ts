import { ActivityFailure, ApplicationFailure, defineQuery, patched, proxyActivities, setHandler } from '@temporalio/workflow';
import type { PipelineActivities, TrainingActivities } from '../activities';
import type { ImportSummary } from '../lib/ingest/import-bars';
import type { ComputeFeaturesResult } from '../activities/features';
import type { FeatureSetInput } from '../lib/features/feature-set';
import type { ImportRequestInput } from '../lib/ingest/import-request';
import type { GateVerdict } from '../lib/quality/report';
import { TASK_QUEUES } from '../lib/task-queues';

export interface TrainingPipelineInput {
  /** What to ingest and the quality policy that judges it. */
  import: ImportRequestInput;
  /** Declared feature set (default: the shipped one). */
  featureSet?: FeatureSetInput;
  /** Waiting times are arguments (not constants) so tests and slow sites can set them. */
  timeouts?: {
    /** A worker that dies mid-ingest is noticed after this long and the attempt moves elsewhere. */
    ingestHeartbeatSeconds?: number;
    ingestMinutes?: number;
    featuresHeartbeatSeconds?: number;
  };
}

export interface TrainingPipelineResult {
  snapshotId: string;
  ingest: ImportSummary;
  gate: GateVerdict;
  /** Absent only in runs recorded before the features step. */
  features?: ComputeFeaturesResult;
}

export type StageName = 'ingest' | 'quality-gate' | 'features';
export interface StageState {
  name: StageName;
  status: 'pending' | 'running' | 'completed' | 'failed';
  detail?: string;
}
export interface PipelineStatus {
  stages: StageState[];
  snapshotId?: string;
}

export const pipelineStatusQuery = defineQuery<PipelineStatus>('pipelineStatus');

// Errors that retrying cannot fix; every other failure (database down, network) is retried.
const NON_RETRYABLE = ['FEATURE_INPUT_MISSING', 'NO_BARS', 'BAD_INPUT', 'INVALID_INPUT', 'SOURCE_NOT_FOUND', 'SOURCE_EMPTY', 'PROVIDER_REJECTED', 'QUALITY_GATE_FAILED', 'SNAPSHOT_NOT_FOUND'];
const retry = { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 8, nonRetryableErrorTypes: NON_RETRYABLE };

/** ingest → quality gate; later steps (features, training, validation, registration) build on the snapshot id. */
export async function trainingPipeline(input: TrainingPipelineInput): Promise<TrainingPipelineResult> {
  const status: PipelineStatus = {
    stages: [
      { name: 'ingest', status: 'pending' },
      { name: 'quality-gate', status: 'pending' },
      { name: 'features', status: 'pending' },
    ],
  };
  setHandler(pipelineStatusQuery, () => status);
  const stage = (name: StageName): StageState => status.stages.find((s) => s.name === name) as StageState;

  const { computeFeatures } = proxyActivities<TrainingActivities>({
    taskQueue: TASK_QUEUES.training,
    startToCloseTimeout: '60m',
    heartbeatTimeout: `${input.timeouts?.featuresHeartbeatSeconds ?? 120}s`,
    retry,
  });
  const { ingestBars } = proxyActivities<TrainingActivities>({
    taskQueue: TASK_QUEUES.training,
    startToCloseTimeout: `${input.timeouts?.ingestMinutes ?? 60}m`,
    heartbeatTimeout: `${input.timeouts?.ingestHeartbeatSeconds ?? 60}s`,
    retry,
  });
  const { runQualityGate } = proxyActivities<PipelineActivities>({
    taskQueue: TASK_QUEUES.pipeline,
    startToCloseTimeout: '2m',
    retry,
  });

  async function runStage<T>(name: StageName, run: () => Promise<T>, describe: (r: T) => string): Promise<T> {
    const s = stage(name);
    s.status = 'running';
    try {
      const result = await run();
      s.status = 'completed';
      s.detail = describe(result);
      return result;
    } catch (error) {
      s.status = 'failed';
      const cause = error instanceof ActivityFailure && error.cause instanceof ApplicationFailure ? error.cause : undefined;
      s.detail = cause?.message ?? (error as Error).message;
      // Surface the activity's own reason as the workflow's failure, not "activity task failed".
      if (cause?.nonRetryable) throw ApplicationFailure.nonRetryable(`${name} failed: ${cause.message}`, cause.type ?? 'PIPELINE_STEP_FAILED');
      throw error;
    }
  }

  const ingest = await runStage('ingest', () => ingestBars(input.import), (r) => `${r.rowsAccepted} bars, ${r.rowsRejected} rejected, ${r.flags} flags → ${r.snapshotId}`);
  status.snapshotId = ingest.snapshotId;
  const gate = await runStage('quality-gate', () => runQualityGate({ snapshotId: ingest.snapshotId }), () => `passed (${(ingest.badRowShare * 100).toFixed(3)}% rejected)`);
  // Runs recorded before the features step existed replay without it (versioned change).
  if (!patched('features-step')) return { snapshotId: ingest.snapshotId, ingest, gate };
  const features = await runStage(
    'features',
    () => computeFeatures({ snapshotId: ingest.snapshotId, featureSet: input.featureSet }),
    (r) => `${r.version}: ${r.columns} features, ${r.rowsWritten} rows for ${r.symbols} symbols, ${r.skippedCount} skipped`,
  );
  return { snapshotId: ingest.snapshotId, ingest, gate, features };
}
