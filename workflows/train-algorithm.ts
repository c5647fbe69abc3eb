import { ApplicationFailure, defineQuery, patched, proxyActivities, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { PipelineActivities, TrainingActivities } from '../activities';
import type { TrialOutcome } from '../activities/training';
import type { FinalModelRequest } from '../lib/training/final-model';
import type { TrialRequest } from '../lib/training/trial';
import type { WalkForwardRequest } from '../lib/training/walk-forward';
import type { WarmStartSettings, WarmStartSource } from '../lib/training/warm-start';
import type { SearchSpace } from '../lib/tuning/search-space';
import { scoreForRequest, suggestParams, type SearchMethod } from '../lib/tuning/suggest';
import type { Params } from '../lib/tuning/search-space';
import type { ErrorCode } from '../lib/errors';
import { TASK_QUEUES } from '../lib/task-queues';
import { SUGGESTION_RETRY, TRIAL_RETRY } from './retry-policies';

export interface TrainAlgorithmInput {
  datasetId: string;
  algorithm: string;
  space: SearchSpace;
  method: SearchMethod;
  trials: number;
  /** Trials in flight at once; each batch's suggestions use only earlier batches, so results do not depend on timing. */
  parallelism: number;
  maxMinutes: number;
  seed: number;
  trial: Omit<TrialRequest, 'algorithm' | 'params' | 'seed'>;
  walkForward: Omit<WalkForwardRequest, 'algorithm' | 'params' | 'seed'>;
  final: Omit<FinalModelRequest, 'algorithm' | 'params' | 'seed' | 'warmStart'>;
  /**
   * Start from the champion (lib/training/warm-start.ts): the walk-forward validates the warm
   * procedure as a chain, the final model continues the champion. The search space and trial count
   * the caller gives are already the skipped or narrowed ones.
   */
  warmStart?: { settings: WarmStartSettings; from: WarmStartSource };
  timeouts?: { trialMinutes?: number; heartbeatSeconds?: number };
}

export interface TrainAlgorithmResult {
  algorithm: string;
  best: TrialOutcome;
  trials: Array<Pick<TrialOutcome, 'trial' | 'params' | 'score' | 'seconds'> & { error?: string }>;
  walkForward: { predictionsId: string; rows: number; windows: number };
  /** continuedFrom: first decision day of the rows a warm start continued the champion on. */
  /** trainedThrough: the last decision day the final model learnt from (absent in runs recorded before it was kept). */
  final: { artifactSha256: string; artifactBytes: number; trainRows: number; continuedFrom?: string; trainedThrough?: string };
  seconds: { search: number; walkForward: number; final: number };
}

export interface SearchProgress {
  algorithm: string;
  phase: 'search' | 'walk-forward' | 'final-model' | 'done';
  trialsDone: number;
  trialsFailed: number;
  budget: number;
  running: number;
  bestScore?: number;
  bestParams?: Record<string, unknown>;
}

export const searchProgressQuery = defineQuery<SearchProgress>('searchProgress');

/**
 * One algorithm of an experiment, as its own workflow so it can be watched and retried alone:
 * hyperparameter search (each trial an activity on ml-training), then walk-forward predictions
 * and the final model with the best parameters. Suggestions come from a local activity: the workflow
 * only records them and the trials' results, so a long TPE step never holds up a workflow task.
 * When every trial fails, the run fails with ALL_TRIALS_FAILED (final, not retried).
 */
export async function trainAlgorithm(input: TrainAlgorithmInput): Promise<TrainAlgorithmResult> {
  const progress: SearchProgress = { algorithm: input.algorithm, phase: 'search', trialsDone: 0, trialsFailed: 0, budget: input.trials, running: 0 };
  setHandler(searchProgressQuery, () => progress);
  const heartbeatTimeout = `${input.timeouts?.heartbeatSeconds ?? 60}s`;
  const retry = TRIAL_RETRY;
  const { runTrial, walkForward, fitFinalModel } = proxyActivities<TrainingActivities>({
    taskQueue: TASK_QUEUES.training,
    startToCloseTimeout: `${input.timeouts?.trialMinutes ?? 120}m`,
    heartbeatTimeout,
    retry,
  });
  const { suggestTrials } = proxyLocalActivities<PipelineActivities>({ startToCloseTimeout: '2m', retry: SUGGESTION_RETRY });
  const started = Date.now(); // workflow time: deterministic on replay
  const outcomes: TrainAlgorithmResult['trials'] = [];
  const full = new Map<number, TrialOutcome>();
  const history: Array<{ index: number; params: Record<string, unknown>; score: number }> = [];
  // Runs recorded before suggestions moved to an activity computed them here; they replay that way.
  const suggestInActivity = patched('search-in-activity');
  const suggestBatch = async (trials: number[]): Promise<Params[]> =>
    suggestInActivity
      ? suggestTrials({ method: input.method, space: input.space, seed: input.seed, trials, history: history.map((h) => ({ ...h, score: scoreForRequest(h.score) })), budget: input.trials })
      : trials.map((trial) => suggestParams(input.method, input.space, history, input.seed, trial, { budget: input.trials }));
  let index = 0;
  while (index < input.trials && Date.now() - started < input.maxMinutes * 60_000) {
    const trials: number[] = [];
    for (let k = 0; k < input.parallelism && index < input.trials; k++, index++) trials.push(index);
    // Every trial of a batch is suggested from the same (earlier) history, so timing cannot change them.
    const suggested = await suggestBatch(trials);
    const batch: Array<Promise<void>> = [];
    for (const [k, trial] of trials.entries()) {
      const params = suggested[k];
      progress.running++;
      batch.push(
        runTrial({ datasetId: input.datasetId, trial, request: { ...input.trial, algorithm: input.algorithm, params, seed: input.seed + trial } }).then(
          (outcome) => {
            outcomes.push({ trial, params, score: outcome.score, seconds: outcome.seconds });
            full.set(trial, outcome);
            progress.trialsDone++;
            if (progress.bestScore === undefined || outcome.score > progress.bestScore) {
              progress.bestScore = outcome.score;
              progress.bestParams = params;
            }
          },
          // A trial whose parameters fail (after retries) counts as the worst score; the search goes on.
          (error: Error) => {
            outcomes.push({ trial, params, score: NaN, seconds: 0, error: error.cause instanceof Error ? error.cause.message : error.message });
            progress.trialsFailed++;
          },
        ).finally(() => progress.running--),
      );
    }
    await Promise.all(batch);
    history.length = 0;
    for (const o of [...outcomes].sort((a, b) => a.trial - b.trial)) history.push({ index: o.trial, params: o.params, score: o.score });
  }
  outcomes.sort((a, b) => a.trial - b.trial);
  const scored = outcomes.filter((o) => Number.isFinite(o.score));
  // A failure of the run itself (not of its workflow task, which would be retried for ever).
  if (scored.length === 0) {
    const first = outcomes[0];
    throw ApplicationFailure.nonRetryable(
      first ? `all ${outcomes.length} trials of ${input.algorithm} failed; first error (trial ${first.trial}): ${first.error ?? 'no finite score'}` : `no trial of ${input.algorithm} ran within maxMinutes (${input.maxMinutes})`,
      'ALL_TRIALS_FAILED' satisfies ErrorCode,
    );
  }
  // Highest score; on a tie the earliest trial, so the choice does not depend on completion order.
  const bestTrial = scored.reduce((a, b) => (b.score > a.score ? b : a));
  const searchSeconds = (Date.now() - started) / 1000;

  const runWalkForward = () => walkForward({ datasetId: input.datasetId, request: { ...input.walkForward, algorithm: input.algorithm, params: bestTrial.params, seed: input.seed, ...(input.warmStart ? { warmStart: input.warmStart.settings } : {}) } });
  const runFinal = () => fitFinalModel({ datasetId: input.datasetId, request: { ...input.final, algorithm: input.algorithm, params: bestTrial.params, seed: input.seed, ...(input.warmStart ? { warmStart: { ...input.warmStart.settings, from: input.warmStart.from } } : {}) } });
  const t = Date.now();
  const seconds = { search: searchSeconds, walkForward: 0, final: 0 };
  let wf: Awaited<ReturnType<typeof runWalkForward>>;
  let final: Awaited<ReturnType<typeof runFinal>>;
  // Both use the best parameters only, so they run side by side: the last algorithm to finish its
  // search otherwise left a core idle for the length of its walk-forward. Runs recorded before
  // fitted the final model after the walk-forward, and replay that way.
  if (patched('final-beside-walk-forward')) {
    progress.phase = 'walk-forward';
    [wf, final] = await Promise.all([
      runWalkForward().then((r) => {
        seconds.walkForward = (Date.now() - t) / 1000;
        progress.phase = 'final-model';
        return r;
      }),
      runFinal().then((r) => {
        seconds.final = (Date.now() - t) / 1000;
        return r;
      }),
    ]);
  } else {
    progress.phase = 'walk-forward';
    wf = await runWalkForward();
    seconds.walkForward = (Date.now() - t) / 1000;
    progress.phase = 'final-model';
    final = await runFinal();
    seconds.final = (Date.now() - t) / 1000 - seconds.walkForward;
  }
  progress.phase = 'done';
  return {
    algorithm: input.algorithm,
    best: full.get(bestTrial.trial) as TrialOutcome,
    trials: outcomes,
    walkForward: { predictionsId: wf.predictionsId, rows: wf.rows, windows: wf.windows.length },
    final,
    seconds,
  };
}
