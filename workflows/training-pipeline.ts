import { ActivityFailure, ApplicationFailure, ChildWorkflowFailure, defineQuery, executeChild, ParentClosePolicy, patched, proxyActivities, setHandler, startChild, workflowInfo } from '@temporalio/workflow';
import type { PipelineActivities, TrainingActivities } from '../activities';
import type { AlgorithmEvaluation, DatasetGuards, RegisterResult } from '../activities/experiments';
import type { RetrainSkip } from '../activities/retrain-exclusion';
import type { StoredReport } from '../lib/reports/version-report';
import type { PreparedDataset } from '../activities/training';
import { candidateScoresOf, championEvidenceOf, metricOf } from '../lib/registry/promotion';
import { verdictWord, type GuardVerdict } from '../lib/training/guards';
import type { Experiment, ExperimentInput } from '../lib/experiments/experiment';
import { championSpace, narrowSearchSpace, searchedThroughOf, searchLineageOf, warmStartSettingsOf, type WarmStartDecision } from '../lib/training/warm-start';
import { deploymentWorkflow } from './deployment';
import { trainAlgorithm, type TrainAlgorithmResult } from './train-algorithm';
import type { ImportSummary } from '../lib/ingest/import-bars';
import type { ComputeFeaturesResult } from '../activities/features';
import { tamperedRowsSummary } from '../lib/features/tampered-rows';
import type { FeatureSetInput } from '../lib/features/feature-set';
import type { ImportRequestInput } from '../lib/ingest/import-request';
import type { QualityGateResult } from '../activities/quality-gate';
import type { ErrorCode } from '../lib/errors';
import { TASK_QUEUES } from '../lib/task-queues';
import { ACTIVITY_RETRY, SHORTCUT_RETRY } from './retry-policies';

export interface TrainingPipelineInput {
  /** What to ingest and the quality policy that judges it (default: the experiment's `import`). */
  import?: ImportRequestInput;
  /** Train, validate and register models after the features (see lib/experiments/experiment.ts). */
  experiment?: ExperimentInput;
  /** Declared feature set (default: the shipped one). */
  featureSet?: FeatureSetInput;
  /** Waiting times are arguments (not constants) so tests and slow sites can set them. */
  timeouts?: {
    /** A worker that dies mid-ingest is noticed after this long and the attempt moves elsewhere. */
    ingestHeartbeatSeconds?: number;
    ingestMinutes?: number;
    featuresHeartbeatSeconds?: number;
    trainingHeartbeatSeconds?: number;
  };
}

export interface CandidateResult {
  algorithm: string;
  /** The run's best algorithm by the promotion metric (the only one that may move an alias). */
  bestOfRun?: boolean;
  training: TrainAlgorithmResult;
  evaluation: AlgorithmEvaluation;
  registration: RegisterResult;
  /** The version's run report under ARTIFACT_DIR, or why it could not be written (absent in runs recorded before reports). */
  report?: StoredReport | { error: string };
}

export interface TrainingPipelineResult {
  /** A retrain that found another retrain of its model running (started before it) went no further: nothing ingested or trained. */
  skipped?: RetrainSkip;
  /** Absent only in a skipped run (as are ingest and gate). */
  snapshotId?: string;
  ingest?: ImportSummary;
  /** The verdict and, when it passed, what publishing the snapshot added and revised. */
  gate?: QualityGateResult;
  /** Absent only in runs recorded before the features step. */
  features?: ComputeFeaturesResult;
  /** Present when the run trained an experiment. */
  experiment?: Experiment;
  dataset?: PreparedDataset;
  /** Verdicts of the guards that judge the dataset (point-in-time audit, single-feature scan). */
  datasetGuards?: DatasetGuards;
  candidates?: CandidateResult[];
  /** With the experiment's warmStart: per algorithm, whether it continued the champion, or why not. */
  warmStarts?: WarmStartDecision[];
  /** The registered version the run promoted, if any. */
  promoted?: { algorithm: string; version: number; alias: string; reason: string };
  /** The deployment workflow the run started for it (promotion.deploy "auto" or "manual"). */
  deploymentWorkflowId?: string;
}

export type StageName = 'ingest' | 'quality-gate' | 'features' | 'dataset' | 'training' | 'validation' | 'registration';
export interface StageState {
  name: StageName;
  status: 'pending' | 'running' | 'completed' | 'failed';
  detail?: string;
}
export interface PipelineStatus {
  stages: StageState[];
  /** Why the run went no further (another retrain of the model is running). */
  skipped?: string;
  snapshotId?: string;
  /** Child workflow ids of the per-algorithm training runs (query them for trial progress). */
  trainingWorkflows?: Record<string, string>;
}

export const pipelineStatusQuery = defineQuery<PipelineStatus>('pipelineStatus');

const retry = ACTIVITY_RETRY;
/** A figure for a stage summary: an undefined one (NaN, null after the payload's JSON) reads 'undefined' instead of throwing. */
const figure = (x: number | null | undefined) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(4) : 'undefined');

const describeDataset = (d: PreparedDataset) =>
  `${d.datasetId}: ${d.rows} rows × ${d.columns} features, ${d.symbols} symbols (${d.universe?.source ?? 'store'} universe), ${d.firstDay}..${d.lastDay}${d.splits ? `; ${d.splits.rows} rows left out around ${d.splits.found.length} unadjusted split(s) in the stored bars` : ''}`;

/** One critical alert naming every tripped guard of a run, with its evidence. */
function guardAlert(model: string, tripped: readonly GuardVerdict[], workflowId: string) {
  return {
    rule: 'leakage_guard',
    severity: 'critical' as const,
    subject: `model ${model}`,
    message: `run ${workflowId}: ${tripped.map((g) => `${g.guard}: ${g.message}`).join('; ')}`.slice(0, 10_000),
    evidence: { workflowId, guards: tripped },
  };
}

/**
 * ingest → quality gate → features, and with an experiment: training dataset → one child workflow
 * per algorithm (search, walk-forward, final model) → validation and leakage guards → registration
 * and promotion.
 */
export async function trainingPipeline(input: TrainingPipelineInput): Promise<TrainingPipelineResult> {
  const stages: StageName[] = input.experiment ? ['ingest', 'quality-gate', 'features', 'dataset', 'training', 'validation', 'registration'] : ['ingest', 'quality-gate', 'features'];
  const status: PipelineStatus = { stages: stages.map((name) => ({ name, status: 'pending' })) };  setHandler(pipelineStatusQuery, () => status);
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
  // Publishing copies every staged bar in one transaction: as long as the import may take, kept
  // alive by heartbeats (a retry finds the snapshot published and changes nothing).
  const { runQualityGate } = proxyActivities<PipelineActivities>({
    taskQueue: TASK_QUEUES.pipeline,
    startToCloseTimeout: `${input.timeouts?.ingestMinutes ?? 60}m`,
    heartbeatTimeout: `${input.timeouts?.ingestHeartbeatSeconds ?? 60}s`,
    retry,
  });
  const { resolveExperiment, registerAndPromote, championRecipe, raiseAlert, resolveWarmStart } = proxyActivities<PipelineActivities>({
    taskQueue: TASK_QUEUES.pipeline,
    startToCloseTimeout: '2m',
    retry,
  });
  const { prepareTrainingDataset, evaluateAlgorithm, walkForward, guardTrainingDataset } = proxyActivities<TrainingActivities>({
    taskQueue: TASK_QUEUES.training,
    startToCloseTimeout: '120m',
    heartbeatTimeout: `${input.timeouts?.trainingHeartbeatSeconds ?? 60}s`,
    retry,
  });

  // Registration waits for it, and builds the profile itself without it: bounded, whatever the queue.
  const { profileTrainingDataset } = proxyActivities<TrainingActivities>({
    taskQueue: TASK_QUEUES.training,
    scheduleToCloseTimeout: '20m',
    heartbeatTimeout: `${input.timeouts?.trainingHeartbeatSeconds ?? 60}s`,
    retry: SHORTCUT_RETRY,
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
      const cause = (error instanceof ActivityFailure || error instanceof ChildWorkflowFailure) && error.cause instanceof ApplicationFailure ? error.cause : error instanceof ApplicationFailure ? error : undefined;
      s.detail = cause?.message ?? (error as Error).message;
      // Surface the activity's own reason as the workflow's failure, not "activity task failed".
      if (cause?.nonRetryable) throw ApplicationFailure.nonRetryable(`${name} failed: ${cause.message}`, cause.type ?? ('PIPELINE_STEP_FAILED' satisfies ErrorCode));
      throw error;
    }
  }

  // A bad experiment fails before any work is done.
  const resolved = input.experiment ? await resolveExperiment(input.experiment) : undefined;
  // One retrain of a model at a time, whoever started it (schedule, drift, by hand): the activity
  // found another one running that started first. Its answer is in the history, so a replay takes
  // the same path; runs recorded before the check have no `skip` and go on as they did.
  if (resolved?.skip) {
    status.skipped = resolved.skip.reason;
    return { skipped: resolved.skip, experiment: resolved.experiment };
  }
  const importRequest = input.import ?? resolved?.experiment.import;
  if (!importRequest) throw ApplicationFailure.nonRetryable('nothing to ingest: give `import` (or the experiment\'s `import`)', 'INVALID_INPUT' satisfies ErrorCode);
  const ingest = await runStage('ingest', () => ingestBars(importRequest), (r) => `${r.rowsAccepted} bars, ${r.rowsRejected} rejected, ${r.flags} flags → ${r.snapshotId}`);
  status.snapshotId = ingest.snapshotId;
  const gate = await runStage('quality-gate', () => runQualityGate({ snapshotId: ingest.snapshotId }), (g) => `passed (${(ingest.badRowShare * 100).toFixed(3)}% rejected)${g.published ? (g.published.alreadyPublished ? `; published before (${g.published.added} bars added, ${g.published.revised} revised then): nothing changed now` : `; published: ${g.published.added} bars added, ${g.published.revised} revised`) : ''}`);
  // Runs recorded before the features step existed replay without it (versioned change).
  if (!patched('features-step')) return { snapshotId: ingest.snapshotId, ingest, gate };
  const featureSet = resolved?.experiment.featureSet ?? input.featureSet;
  const features = await runStage(
    'features',
    () => computeFeatures({ snapshotId: ingest.snapshotId, featureSet }),
    (r) => `${r.version}: ${r.columns} features, ${r.rowsWritten} rows for ${r.symbols} symbols${r.rowsRecomputed ? `, ${r.rowsRecomputed} rows recomputed from ${r.recomputedFrom} after revised or back-filled bars` : ''}${r.onlineWithheld ? `, ${r.onlineWithheld} online vectors withheld (bars of ${(r.changedDuringRun ?? []).map((c) => `${c.symbol} from ${c.from}`).slice(0, 5).join(', ')} changed during the run; the next run publishes them)` : ''}${r.onlineSuperseded ? `, ${r.onlineSuperseded} online vectors not written (the live path wrote newer ones after the step's last check)` : ''}, ${r.skippedCount} skipped${tamperedRowsSummary(r)}`,
  );
  if (!resolved) return { snapshotId: ingest.snapshotId, ingest, gate, features };

  const { experiment } = resolved;
  // Walk-forward settings of an algorithm (its own row cap, if the experiment gives one).
  const walkForwardFor = (algorithm: string) => {
    const rows = experiment.algorithms.find((a) => a.algorithm === algorithm)?.rows.walkForward;
    const w = experiment.walkForward;
    return { mode: w.mode, evaluationDays: w.evaluationDays, testDays: w.retrainDays, trainDays: w.trainDays, embargoDays: 0, cvEmbargoDays: embargoDays, maxTrainRows: rows ?? w.maxTrainRows, threads: 2 };
  };
  // The search's folds leave out the walk-forward's evaluation period, so no parameter is chosen on
  // the days that judge it. Runs recorded before cross-validated the whole dataset.
  const searchScope = patched('search-before-evaluation') ? { evaluationDays: experiment.walkForward.evaluationDays } : {};
  const dataset = await runStage(
    'dataset',
    // With the evaluation period: its first day and what the search's rows reach (warm starts check
    // the parameters they carry against them; every version records what its own were chosen on).
    () => prepareTrainingDataset({ featureSetVersion: features.version, label: experiment.label, from: experiment.dates.from, to: experiment.dates.cutoff, symbols: experiment.universe.symbols, snapshotId: ingest.snapshotId, ...searchScope }),
    describeDataset,
  );
  // Guards on the data itself (point-in-time audit, single-feature scan). They run beside the
  // training (a trip that fails the run still stops it as soon as they answer) and each algorithm
  // is evaluated as soon as it is trained: on 2 cores these steps used to wait for each other with a
  // core idle. Runs recorded before ran the guards first and evaluated after the slowest algorithm.
  const guardsStep = patched('dataset-guards');
  const overlap = guardsStep && patched('overlap-with-training');
  let datasetGuards: DatasetGuards | undefined;
  let trippedOnData: GuardVerdict[] = [];
  const guardData = async () => {
    datasetGuards = await runStage('dataset', () => guardTrainingDataset({ datasetId: dataset.datasetId, experiment, snapshotId: ingest.snapshotId }), (g) => `${describeDataset(dataset)}; guards: ${g.verdicts.map((v) => `${v.guard} ${verdictWord(v)}`).join(', ')}`);
    trippedOnData = datasetGuards.verdicts.filter((v) => v.tripped);
    if (trippedOnData.length === 0) return;
    await raiseAlert(guardAlert(experiment.name, trippedOnData, workflowInfo().workflowId));
    const audit = trippedOnData.find((v) => v.guard === 'point_in_time_audit');
    if ((audit && experiment.guards.pointInTime.onMismatch === 'fail') || experiment.guards.onTrip === 'fail') {
      stage('dataset').status = 'failed';
      throw ApplicationFailure.nonRetryable(`dataset guards tripped: ${trippedOnData.map((v) => `${v.guard}: ${v.message}`).join('; ')}`, 'LEAKAGE_DETECTED' satisfies ErrorCode);
    }
  };
  const guarded = overlap ? guardData() : guardsStep ? await guardData() : undefined;
  guarded?.catch(() => undefined); // a trip is reported where it is awaited, beside the training
  // The dataset's drift reference, built beside the training so that registration at the run's end
  // only adds each version's scores (without it, registration builds it). After the guards: while the
  // first trials are being started, the worker's main thread is theirs. Runs recorded before it replay without.
  const profiled = patched('dataset-profile')
    ? (guarded ?? Promise.resolve())
        .then(() => profileTrainingDataset({ datasetId: dataset.datasetId }))
        .catch(() => undefined)
    : undefined;
  const embargoDays = experiment.cv.embargoDays ?? Math.max(dataset.horizon, Math.ceil(0.01 * dataset.decisionDays));
  const { workflowId, runId } = workflowInfo();
  // Warm starts (lib/training/warm-start.ts); runs recorded before them replay without (and without
  // trainedThrough in their lineage).
  const warmStartStep = patched('warm-start');
  const warmConfig = experiment.warmStart;
  const warmStarts =
    warmStartStep && warmConfig
      ? await runStage(
          'training',
          () => resolveWarmStart({ name: experiment.name, algorithms: experiment.algorithms.map((a) => a.algorithm), config: warmConfig, featureSetVersion: features.version, label: experiment.label, lastDay: dataset.lastKnownDay ?? dataset.lastDay, ...(dataset.evaluationFrom !== undefined ? { evaluationFrom: dataset.evaluationFrom } : {}) }),
          (d) => `warm start: ${d.map((w) => (w.warm ? `${w.algorithm} from ${w.from.model} v${w.from.version} (search ${w.search})` : `${w.algorithm}: ${w.reason}`)).join('; ')}`,
        )
      : undefined;
  const warmOf = (algorithm: string) => {
    const d = warmStarts?.find((w) => w.algorithm === algorithm);
    return d?.warm && warmConfig ? { decision: d, config: warmConfig } : undefined;
  };
  const searchOf = (a: Experiment['algorithms'][number]) => {
    const warm = warmOf(a.algorithm);
    if (!warm) return { space: a.space, trials: a.trials ?? experiment.search.trials };
    if (warm.config.search === 'skip') return { space: championSpace(a.space, warm.decision.championParams), trials: 1 };
    return { space: narrowSearchSpace(a.space, warm.decision.championParams, warm.config.narrowShare), trials: warm.config.trials ?? a.trials ?? experiment.search.trials };
  };
  const warmInputOf = (algorithm: string) => {
    const warm = warmOf(algorithm);
    return warm ? { warmStart: { settings: warmStartSettingsOf(warm.config), from: warm.decision.from } } : {};
  };
  // The lineage says which version a warm candidate continued (and how), or why it could not.
  const warmLineage = (algorithm: string, continuedFrom?: string) => {
    const d = warmStarts?.find((w) => w.algorithm === algorithm);
    if (!d) return {};
    return d.warm ? { warmStartedFrom: { model: d.from.model, version: d.from.version, search: d.search, trainedThrough: d.from.trainedThrough, continuedFrom, settings: warmInputOf(algorithm).warmStart?.settings } } : { warmStartSkipped: d.reason };
  };
  const runSearches = experiment.algorithms.map((a) => {
    const warm = warmOf(a.algorithm);
    return { algorithm: a.algorithm, trials: searchOf(a).trials, ...(warm ? { warmFrom: { model: warm.decision.from.model, version: warm.decision.from.version, search: warm.config.search } } : {}) };
  });
  status.trainingWorkflows = Object.fromEntries(experiment.algorithms.map((a) => [a.algorithm, `${workflowId}/${a.algorithm}`]));
  const evaluate = (t: TrainAlgorithmResult, i: number) =>
    evaluateAlgorithm({
      datasetId: dataset.datasetId,
      predictionsId: t.walkForward.predictionsId,
      experiment,
      trialScores: t.trials.map((o) => o.score),
      // The run's best is picked from every algorithm's trials: the deflated Sharpe ratio counts them
      // all, and a warm start's those of the search it continues. Inputs only: no new command.
      algorithm: t.algorithm,
      runSearches,
      shuffledLabel: experiment.guards.shuffledLabel
        ? { request: { algorithm: t.algorithm, params: t.best.params, folds: experiment.cv.folds, embargoDays, maxTrainRows: experiment.algorithms[i].rows.trial ?? experiment.search.maxTrainRows, maxTestRows: experiment.search.maxTestRows, seed: experiment.seed, threads: 1, ...searchScope } }
        : undefined,
      model: { artifactSha256: t.final.artifactSha256, seed: experiment.seed },
    });
  const evaluating: Array<Promise<AlgorithmEvaluation>> = [];
  const training = runStage(
    'training',
    () =>
      Promise.all(
        experiment.algorithms.map((a, i) =>
          executeChild(trainAlgorithm, {
            workflowId: `${workflowId}/${a.algorithm}`,
            taskQueue: TASK_QUEUES.pipeline,
            args: [
              {
                datasetId: dataset.datasetId,
                algorithm: a.algorithm,
                ...searchOf(a),
                method: experiment.search.method,
                parallelism: experiment.search.parallelism,
                maxMinutes: experiment.search.maxMinutes,
                seed: experiment.seed,
                trial: { folds: experiment.cv.folds, embargoDays, maxTrainRows: a.rows.trial ?? experiment.search.maxTrainRows, maxTestRows: experiment.search.maxTestRows, threads: 1, ...searchScope },
                walkForward: walkForwardFor(a.algorithm),
                final: { maxTrainRows: a.rows.final ?? experiment.final.maxTrainRows, cvEmbargoDays: embargoDays, threads: 2 },
                ...warmInputOf(a.algorithm),
                timeouts: { heartbeatSeconds: input.timeouts?.trainingHeartbeatSeconds },
              },
            ],
          }).then((t) => {
            if (overlap) {
              const evaluation = evaluate(t, i);
              evaluation.catch(() => undefined); // rejected early: the validation stage below reports it
              evaluating[i] = evaluation;
            }
            return t;
          }),
        ),
      ),
    (r) => r.map((t) => `${t.algorithm} CV AUC ${figure(t.best.score)} (${t.trials.length} trials)${warmOf(t.algorithm) ? `, warm-started from v${warmOf(t.algorithm)?.decision.from.version}` : ''}`).join('; '),
  );
  // Whichever fails first fails the run; both are done before validation reads the guards.
  if (guarded) await Promise.all([training, guarded]);
  const trained = await training;

  const evaluations = await runStage(
    'validation',
    async () => {
      const results = await Promise.all(overlap ? evaluating : trained.map(evaluate));
      const leaking = results.map((r, i) => [trained[i].algorithm, r.shuffledLabel] as const).filter(([, g]) => g && !g.passed);
      if (leaking.length > 0 && (experiment.guards.onTrip === 'fail' || !patched('guards-veto'))) throw ApplicationFailure.nonRetryable(leaking.map(([a, g]) => `${a}: ${g?.message}`).join('; '), 'LEAKAGE_DETECTED' satisfies ErrorCode);
      return results;
    },
    (r) => r.map((e, i) => `${trained[i].algorithm} OOS acc ${figure(e.report.classification.accuracy)} (${e.report.baseline.name ?? 'baseline'} ${figure(e.report.baseline.accuracy)}), AUC ${figure(e.report.classification.rocAuc)}${e.report.auc ? ` (${e.report.auc.versus} ${figure(e.report.auc.baselineAuc)})` : ''}${(e.report.guards ?? []).some((g) => g.tripped) ? ` GUARD TRIPPED: ${e.report.guards.filter((g) => g.tripped).map((g) => g.guard).join(', ')}` : ''}`).join('; '),
  );

  // The run's candidate is its best algorithm by the promotion metric; every algorithm is registered.
  const scoresOf = (e: AlgorithmEvaluation) => candidateScoresOf(e.report, { datasetGuards: datasetGuards?.verdicts, shuffledLabel: e.shuffledLabel });
  const metric = (e: AlgorithmEvaluation) => {
    const s = scoresOf(e);
    const v = metricOf(s, experiment.promotion.metric);
    return (s.trippedGuards?.length ?? 0) > 0 || s.leakageAlarm || !Number.isFinite(v) ? -Infinity : v;
  };
  const bestIndex = evaluations.reduce((best, e, i) => (metric(e) > metric(evaluations[best]) ? i : best), 0);
  // Guards that tripped on a model (plausibility, degenerate scores, shuffled labels) raise one critical alert.
  const trippedOnModels = evaluations.flatMap((e, i) => (scoresOf(e).trippedGuards ?? []).filter((g) => !trippedOnData.includes(g)).map((g) => ({ ...g, message: `${trained[i].algorithm}: ${g.message}` })));
  if (trippedOnModels.length > 0 && patched('guards-veto')) {
    await raiseAlert(guardAlert(experiment.name, trippedOnModels, workflowId));
    if (experiment.guards.onTrip === 'fail') throw ApplicationFailure.nonRetryable(`guards tripped: ${trippedOnModels.map((g) => `${g.guard}: ${g.message}`).join('; ')}`, 'LEAKAGE_DETECTED' satisfies ErrorCode);
  }
  const candidates = await runStage(
    'registration',
    async () => {
      // The champion is compared on this run's out-of-sample period: its recipe walks forward on the same data.
      const recipe = await championRecipe({ name: experiment.name, featureSetVersion: features.version, label: experiment.label });
      let championScores: ReturnType<typeof scoresOf> | undefined;
      let championVersion: number | undefined;
      let versusChampion: (algorithm: string) => Pick<ReturnType<typeof scoresOf>, 'versusChampion'> = () => ({});
      if (recipe) {
        const wf = await walkForward({ datasetId: dataset.datasetId, request: { ...walkForwardFor(recipe.algorithm), algorithm: recipe.algorithm, params: recipe.params, seed: recipe.seed } });
        // Each algorithm is also compared with the champion on the same rows (paired): a challenger
        // must beat it with evidence, not by a point difference. Only the activity's input and
        // answer change, not the commands: runs recorded before replay as they were.
        const rerun = await evaluateAlgorithm({ datasetId: dataset.datasetId, predictionsId: wf.predictionsId, experiment, trialScores: [], rerunOf: { model: experiment.name, version: recipe.version }, pairedWith: trained.map((t) => ({ algorithm: t.algorithm, predictionsId: t.walkForward.predictionsId })) });
        championScores = scoresOf(rerun);
        championVersion = recipe.version;
        versusChampion = (algorithm) => {
          const c = rerun.championComparisons?.find((x) => x.algorithm === algorithm);
          return c ? { versusChampion: championEvidenceOf({ ...c.comparison, championVersion: recipe.version }) } : {};
        };
      }
      const out: CandidateResult[] = [];
      // In order, best last: only the run's best may move an alias.
      const order = [...trained.keys()].filter((i) => i !== bestIndex).concat(bestIndex);
      for (const i of order) {
        const t = trained[i];
        const e = evaluations[i];
        const registration = await registerAndPromote({
          experiment,
          algorithm: t.algorithm,
          params: t.best.params,
          artifactSha256: t.final.artifactSha256,
          datasetId: dataset.datasetId,
          snapshotId: ingest.snapshotId,
          featureSetVersion: features.version,
          metrics: { cv: { auc: t.best.score, folds: t.best.folds }, outOfSample: e.report, shuffledLabel: e.shuffledLabel, scores: scoresOf(e) },
          lineage: { trials: t.trials, walkForward: t.walkForward, finalTrainRows: t.final.trainRows, timings: t.seconds, ...(e.permutationImportance ? { permutationImportance: e.permutationImportance } : {}), ...(e.reportSections ? { reportSections: e.reportSections } : {}), ...(warmStartStep ? { trainedThrough: t.final.trainedThrough ?? dataset.lastDay, ...warmLineage(t.algorithm, t.final.continuedFrom) } : {}), ...searchLineageOf(searchedThroughOf(warmStarts?.find((w) => w.algorithm === t.algorithm), dataset.searchThrough)) },
          scores: { ...scoresOf(e), bestOfRun: i === bestIndex, bestAlgorithm: trained[bestIndex].algorithm, candidatesCompared: trained.length, ...versusChampion(t.algorithm) },
          championScores,
          // Which champion those scores are of: registration promotes nothing over another one. Input only, no new command.
          ...(championVersion !== undefined ? { championVersion } : {}),
          ...(profiled ? { datasetProfile: await profiled } : {}),
          workflowId,
          runId,
          universe: dataset.universe,
        });
        out.push({ algorithm: t.algorithm, bestOfRun: i === bestIndex, training: t, evaluation: e, registration });
      }
      return out;
    },
    (r) => r.map((c) => `${c.algorithm} → ${experiment.name} v${c.registration.version.version}${c.registration.decision.promote ? ' (promoted)' : ''}`).join('; '),
  );
  const winner = candidates.find((c) => c.registration.decision.promote);
  // The promoted version goes to production through its own workflow, which outlives this run: a
  // first champion is served at once, a challenger goes through canary steps (after approval when
  // deploy is "manual").
  let deploymentWorkflowId: string | undefined;
  if (winner && experiment.promotion.deploy !== 'off' && patched('deployment-step')) {
    const version = winner.registration.version.version;
    // One deployment per promotion: a later run promoting the same version again (after a rollback)
    // starts its own, instead of running a finished one again under its id.
    deploymentWorkflowId = patched('deployment-id-per-run') ? `deploy-${experiment.name}-v${version}-${workflowInfo().runId.slice(0, 8)}` : `deploy-${experiment.name}-v${version}`;
    await startChild(deploymentWorkflow, {
      workflowId: deploymentWorkflowId,
      taskQueue: TASK_QUEUES.pipeline,
      parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [{ ...experiment.promotion.deployment, model: experiment.name, challengerVersion: version, startedBy: `pipeline ${workflowId}`, requireApproval: experiment.promotion.deploy === 'manual' }],
    });
  }
  // Every registered version gets its run report (runs recorded before reports replay without them).
  // A report that cannot be written is noted on the candidate: the model is registered either way.
  if (patched('run-report')) {
    const { writeRunReport } = proxyActivities<TrainingActivities>({
      taskQueue: TASK_QUEUES.training,
      startToCloseTimeout: '30m',
      heartbeatTimeout: `${input.timeouts?.trainingHeartbeatSeconds ?? 60}s`,
      retry,
    });
    await Promise.all(
      candidates.map(async (c) => {
        c.report = await writeRunReport({ name: experiment.name, version: c.registration.version.version, decision: c.registration.decision, datasetGuards: datasetGuards?.verdicts }).catch((error: Error) => ({
          error: error instanceof ActivityFailure && error.cause ? error.cause.message : error.message,
        }));
      }),
    );
  }
  return {
    deploymentWorkflowId,
    snapshotId: ingest.snapshotId,
    ingest,
    gate,
    features,
    experiment,
    dataset,
    datasetGuards,
    candidates,
    ...(warmStarts ? { warmStarts } : {}),
    promoted: winner ? { algorithm: winner.algorithm, version: winner.registration.version.version, alias: winner.registration.champion === undefined ? 'champion' : 'challenger', reason: winner.registration.decision.reason } : undefined,
  };
}
