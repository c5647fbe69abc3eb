import { log } from '@temporalio/activity';
import { ArtifactError, decodeArtifact } from '../models/artifact';
import { ALGORITHM_VERSIONS, restoreModel } from '../models/algorithms';
import { codeVersion } from '../lib/code-version';
import { BadInputError } from '../lib/errors';
import { sameLabelSpec } from '../lib/registry/label-spec';
import { refuseUnknownKeys } from '../lib/unknown-keys';
import { experimentSchema, plausibilityFor, type Experiment } from '../lib/experiments/experiment';
import { relaxedGuardsOf } from '../lib/experiments/relaxed-guards';
import { defineFeatureSet, DEFAULT_FEATURE_SET } from '../lib/features/feature-set';
import { featureLookbacks } from '../lib/features/compute-features';
import { readStoredFeatureSet } from '../lib/features/stored-feature-set';
import { aliasVersion, AliasMovedError, findIdenticalVersion, getModelVersion, moveAlias, registerModel, RegistryError, versionExists, type ModelVersion } from '../lib/registry/model-registry';
import { featureOrderProblem } from '../lib/registry/verify-artifact';
import { challengeLevel, EVALUATION_GRACE_SESSIONS, promotionDecision, type CandidateScores, type EvaluationLag, type PromotionDecision } from '../lib/registry/promotion';
import { newestBarDates } from '../lib/monitoring/freshness';
import { nyseTradingDaysBetween } from '../lib/calendar/nyse';
import { appliedPromotion, earlierRunTrials, judgeChallenge, withdrawPromotion, withdrawUnappliedPromotion } from '../lib/registry/challenges';
import type { ArtifactStore } from '../lib/artifacts/artifact-store';
import { configuredSigning } from '../lib/config';
import { PROFILE_RECORD_SCHEME, rowSignatureProblem, signProfileRecord, verificationKeysOf, type RowSigning } from '../lib/registry/row-signature';
import { readArtifact } from '../lib/registry/artifact-store';
import { hasReferenceProfile, saveReferenceProfile, serialiseProfile, SIGNED_PROFILE_LINEAGE_KEY } from '../lib/monitoring/profile-store';
import type { ReferenceProfile } from '../lib/monitoring/reference-profile';
import { generateVersionReport, precomputePermutationImportance, precomputeReportSections, type StoredReport } from '../lib/reports/version-report';
import { reportBacktestOptionsOf } from '../lib/reports/report-data';
import { precomputeDatasetProfile, registrationProfileOf } from '../lib/monitoring/registration-profile';
import type { Database } from '../lib/store/database';
import { getSnapshot } from '../lib/store/snapshots';
import { evaluationBarsOf, readDataset, splitsNote } from '../lib/training/dataset';
import { championComparisonOf, evaluatePredictions, inferenceLags, periodRivalsOf, type ChampionComparison, type EvaluationReport } from '../lib/training/evaluation-report';
import type { GuardVerdict } from '../lib/training/guards';
import { survivorshipNote } from '../lib/training/survivorship';
import { shuffledLabelVerdict, singleFeatureScan, singleValueAuc, type ShuffledLabelResult } from '../lib/training/leakage-guards';
import { auditPointInTime, type PointInTimeAudit } from '../lib/training/point-in-time-audit';
import type { TaskPool } from '../lib/threads/task-pool';
import type { TrialRequest } from '../lib/training/trial';
import { readPredictions } from '../lib/training/walk-forward';
import { evaluationRowsOf } from '../lib/training/evaluation-period';
import { yieldToEventLoop } from '../lib/event-loop';
import { withFailureMapping } from './failures';
import { whileHeartbeating } from './heartbeat';
import { retrainSkipOfThisRun, type RetrainSkip } from './retrain-exclusion';
import type { TrainingUniverse } from './training';
import { deploymentOpenCheck } from './deployment-workflow-open';
import { agreementHint, championAliasDisagreement } from '../lib/serving/served-champion';

export interface ResolvedExperiment {
  experiment: Experiment;
  featureSetVersion: string;
  /** Another retrain of the experiment's model is running (started before this run): the run ends here, skipped (activities/retrain-exclusion.ts). */
  skip?: RetrainSkip;
}

export interface EvaluateInput {
  datasetId: string;
  predictionsId: string;
  experiment: Experiment;
  /** Scores of every trial of this algorithm in this run. */
  trialScores: number[];
  /** The algorithm evaluated, one of `runSearches`. */
  algorithm?: string;
  /**
   * Every search of the run, for the deflated Sharpe ratio's trial count: the run's best is picked
   * from all of them. A warm-started one names the version whose search its parameters continue.
   * Absent in runs started before it was passed: then the experiment's trial budgets.
   */
  runSearches?: RunSearch[];
  /** The champion's recipe re-run on this run's data: it was picked from the trials recorded with that version. */
  rerunOf?: { model: string; version: number };
  /**
   * With `rerunOf`: the run's algorithms' walk-forward predictions, each compared with the champion's
   * on the same rows (paired evidence a challenger must show against the champion).
   */
  pairedWith?: Array<{ algorithm: string; predictionsId: string }>;
  shuffledLabel?: { request: TrialRequest };
  /** The final model and the seed it is registered with: its report's permutation importance and prediction sections are computed now, beside the other algorithms' training. */
  model?: { artifactSha256: string; seed: number };
}

export interface RunSearch {
  algorithm: string;
  /** Trials this run's search of the algorithm runs (1 for a warm start that skips the search). */
  trials: number;
  warmFrom?: { model: string; version: number; search: 'skip' | 'narrow' };
}

/** What a version's evaluation recorded of the trials behind it (EvaluationReport `backtest.deflatedSharpeTrials`). */
export interface RecordedTrials {
  counted?: number;
  search?: number;
}

/**
 * The trials the deflated Sharpe ratio counts (`counted`): every trial of every algorithm of the run,
 * since the run's best is picked from all of them: an annual Sharpe ratio of 1.0 over 503 days is
 * 0.92 likely real at 1 trial (a skipped search), 0.31 at one algorithm's 20, 0.15 at 4 × 20. The experiment's
 * budgets are known up front; a warm start's parameters stand on the search of the version it
 * continues, whose recorded trials are carried (a skipped search is not 1 trial), plus a narrowed
 * search's own. `search`: the trials this algorithm's parameters stand on, recorded for the next warm
 * start. A champion re-run counts what was recorded with it.
 */
export function deflationTrialsOf(input: Pick<EvaluateInput, 'experiment' | 'trialScores' | 'algorithm' | 'runSearches' | 'rerunOf'>, recorded: (version: { model: string; version: number }) => RecordedTrials | undefined): { counted: number; search: number } {
  const { experiment } = input;
  const budgetOf = (algorithm: string) => experiment.algorithms.find((a) => a.algorithm === algorithm)?.trials ?? experiment.search.trials;
  const budget = experiment.algorithms.reduce((sum, a) => sum + budgetOf(a.algorithm), 0);
  const valid = (x: number | undefined) => (typeof x === 'number' && Number.isFinite(x) && x >= 1 ? x : undefined);
  if (input.rerunOf) {
    const r = recorded(input.rerunOf);
    const counted = valid(r?.counted) ?? budget;
    return { counted, search: valid(r?.search) ?? counted };
  }
  const searches = input.runSearches ?? experiment.algorithms.map((a) => ({ algorithm: a.algorithm, trials: budgetOf(a.algorithm) }) as RunSearch);
  // A champion registered before trials were recorded: the search it would have run from scratch.
  const per = searches.map((s) => (s.warmFrom ? (valid(recorded(s.warmFrom)?.search) ?? budgetOf(s.algorithm)) + (s.warmFrom.search === 'narrow' ? s.trials : 0) : s.trials));
  const own = searches.findIndex((s) => s.algorithm === input.algorithm);
  return {
    counted: Math.max(1, per.reduce((a, b) => a + b, 0)),
    search: Math.max(1, own >= 0 ? per[own] : input.trialScores.filter(Number.isFinite).length),
  };
}

/** Trials this run itself ran, every algorithm's (a skipped warm search is its one trial). */
export function runTrialsOf(input: Pick<EvaluateInput, 'experiment' | 'runSearches'>): number {
  const { experiment } = input;
  const searches = input.runSearches ?? experiment.algorithms.map((a) => ({ trials: a.trials ?? experiment.search.trials }));
  return Math.max(1, searches.reduce((sum, s) => sum + s.trials, 0));
}

/** The first and last decision days of predicted rows. */
function periodOfRows(ds: { days: readonly string[]; start: Int32Array }, rows: Int32Array): { from: string; to: string } | undefined {
  if (rows.length === 0) return undefined;
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of rows) {
    lo = Math.min(lo, ds.start[r]);
    hi = Math.max(hi, ds.start[r]);
  }
  return { from: ds.days[lo], to: ds.days[hi] };
}

export interface AlgorithmEvaluation {
  report: EvaluationReport;
  shuffledLabel?: ShuffledLabelResult;
  /** The precomputed permutation importance (lib/reports/version-report.ts), for the version's lineage. */
  permutationImportance?: { sha256: string };
  /** The run report's precomputed prediction sections (lib/reports/version-report.ts), for the version's lineage. */
  reportSections?: { sha256: string };
  /** For a champion re-run asked for `pairedWith`: each algorithm against the champion on the same rows. */
  championComparisons?: Array<{ algorithm: string; comparison: ChampionComparison }>;
}

export interface RegisterInput {
  experiment: Experiment;
  algorithm: string;
  params: Record<string, unknown>;
  artifactSha256: string;
  datasetId: string;
  snapshotId?: string;
  featureSetVersion: string;
  metrics: Record<string, unknown>;
  lineage: Record<string, unknown>;
  scores: CandidateScores;
  /** The champion's scores on this run's out-of-sample period (its recipe re-run), when there is a comparable champion. */
  championScores?: CandidateScores;
  /**
   * The champion version whose recipe was re-run for `championScores` (and for the candidates' paired
   * evidence). A champion that changed since (a deployment finished while this run trained) was never
   * compared with: nothing is promoted over it. Absent in runs recorded before it was passed.
   */
  championVersion?: number;
  /** The training run, for lineage and to make a retried registration find its first attempt. */
  workflowId: string;
  runId: string;
  /** The symbols the experiment trained on and where that list came from. */
  universe?: TrainingUniverse;
  /** The dataset's feature profile built beside the training (profileTrainingDataset), for the version's drift reference. */
  datasetProfile?: { sha256: string };
}

export interface RunReportInput {
  name: string;
  version: number;
  /** The registration's promotion decision and the run's dataset guard verdicts: the report shows them and the lineage keeps them. */
  decision: PromotionDecision;
  datasetGuards?: GuardVerdict[];
}

export interface DatasetGuardInput {
  datasetId: string;
  experiment: Experiment;
  /** The run's snapshot (for the record; features and the audit cover every stored symbol). */
  snapshotId?: string;
}

export interface DatasetGuards {
  verdicts: GuardVerdict[];
  pointInTime?: PointInTimeAudit;
  /** The ten features most predictive on their own, the ceiling they are held to, and the baseline behind it. */
  singleFeatureScan?: { ceiling: number; strongestBaseline: { name: string; auc: number }; features: Array<{ feature: string; auc: number; lower: number }> };
}

export interface ChampionRecipe {
  version: number;
  algorithm: string;
  params: Record<string, unknown>;
  seed: number;
}

export interface RegisterResult {
  version: ModelVersion;
  decision: PromotionDecision;
  champion?: number;
  /** True when an identical earlier version was found and nothing new was registered. */
  identicalToEarlier?: boolean;
}

/**
 * Why the champion's recipe cannot be re-run as this run's yardstick, or undefined when it can: it
 * predicts another label (compared as parsed, so key order and defaulted fields do not count), it
 * was trained on another feature set (its recipe on this run's features is not the model served),
 * or, with a signing key, its row's signature does not hold.
 */
function championNotComparable(champion: ModelVersion, run: { featureSetVersion: string; label: unknown }, signing: RowSigning): string | undefined {
  if (!sameLabelSpec(champion.label, run.label)) return `predicts another label (${JSON.stringify(champion.label)}, this run ${JSON.stringify(run.label)})`;
  if (champion.featureSetVersion !== run.featureSetVersion) return `was trained on another feature set (${champion.featureSetVersion}, this run ${run.featureSetVersion})`;
  const keys = verificationKeysOf(signing);
  const problem = keys === undefined ? undefined : rowSignatureProblem(keys, champion);
  if (problem) return `cannot be trusted as the yardstick: ${problem}`;
  return undefined;
}

/** `signing`: the registry's signing key (MODEL_SIGNING_KEY), which registration signs rows with; default: from the environment, as the alert channels are. */
/** The evaluation period's first and last decision days a registration recorded (metrics.outOfSample.period), when it did. */
function periodOf(metrics: Record<string, unknown>): { from: string; to: string } | undefined {
  const period = (metrics.outOfSample as { period?: { from?: unknown; to?: unknown } } | undefined)?.period;
  return typeof period?.from === 'string' && typeof period.to === 'string' ? { from: period.from, to: period.to } : undefined;
}

/**
 * How far an evaluation period ends before the newest stored session of the run's universe (its
 * symbols, or every stored series when the run named none), or undefined when nothing newer is stored.
 */
async function evaluationLagOf(store: Database, period: { to: string }, symbols: readonly string[] | undefined, horizon: number): Promise<EvaluationLag | undefined> {
  const newest = [...(await newestBarDates(store, symbols)).values()].reduce<string | undefined>((m, d) => (m === undefined || d > m ? d : m), undefined);
  if (newest === undefined || !(newest > period.to)) return undefined;
  // Sessions after the period's last day, through the newest stored one; a date that is no NYSE session still counts as one.
  const sessions = nyseTradingDaysBetween(period.to, newest).filter((d) => d > period.to);
  return { newestSession: newest, sessionsAfter: Math.max(1, sessions.length), allowed: horizon + EVALUATION_GRACE_SESSIONS };
}

/**
 * Whether a reference profile failed for a reason retrying cannot fix. Only what is recognisably
 * the store's or the network's is retried: an error carrying a system or driver code (ETIMEDOUT,
 * ECONNRESET, PROTOCOL_CONNECTION_LOST, ER_LOCK_DEADLOCK…) or the object store client's response
 * metadata. Everything else (BadInputError: a dataset or predictions file gone or damaged;
 * ArtifactError; RangeError: rows or bins the profile cannot be built from; a TypeError or plain
 * Error of the model or feature code) fails the same way every time: retrying it would fail the
 * whole training run after the retries instead of registering the version without its profile.
 */
export function profileNeverBuilt(error: unknown): boolean {
  if (error instanceof BadInputError || error instanceof ArtifactError || error instanceof RangeError) return true;
  const e = error as { code?: unknown; $metadata?: unknown } | null;
  const transient = typeof e === 'object' && e !== null && (typeof e.code === 'string' || e.$metadata !== undefined);
  return !transient;
}

export function experimentActivities({ store, artifacts, trainingPool, signing = configuredSigning() }: { store: Database; artifacts: ArtifactStore; trainingPool: TaskPool; signing?: RowSigning }) {
  /** The shuffled-label control, its folds spread over the training threads (the same folds as one pass). */
  const shuffledLabelOnThreads = async (datasetId: string, request: TrialRequest, tolerance: number, cancelled: AbortSignal): Promise<ShuffledLabelResult> => {
    const folds = await Promise.all(Array.from({ length: request.folds }, (_, fold) => trainingPool.runOnFreeThread('trialFold', { artifacts: artifacts.location, datasetId, request, fold, shuffledLabels: true }, cancelled)));
    return shuffledLabelVerdict(request, folds, tolerance);
  };
  /**
   * A feature set's look-backs for the drift profile. A set the store does not hold (BadInputError)
   * is profiled without them (persistence from the data alone); a store that cannot be read is
   * thrown, and the activity retried: a database hiccup stored a profile without look-backs for good.
   */
  async function lookbacksOf(featureSetVersion: string): Promise<Record<string, number> | undefined> {
    try {
      return featureLookbacks(await readStoredFeatureSet(store, featureSetVersion, 'the drift profile reads its look-backs'));
    } catch (error) {
      if (!(error instanceof BadInputError)) throw error;
      log.warn(`drift profile of feature set ${featureSetVersion} without look-backs: ${error.message}`);
      return undefined;
    }
  }

  /**
   * The version's training reference (feature and score distributions) for drift monitoring, built
   * before its row is registered. A profile that can never be built from what the run left (its
   * dataset or predictions gone or damaged, rows the profile cannot bin, too large to store even
   * thinned: profileNeverBuilt) is logged and skipped, and monitoring reports drift unavailable for
   * the version and alerts it (reference_profile_missing): better than a model that cannot be
   * registered. Anything else (the object store timing out, the database down) is thrown, so the
   * activity is retried: skipping those lost the version's profile for good.
   */
  async function buildReferenceProfile(name: string, input: RegisterInput, artifact: Uint8Array): Promise<ReferenceProfile | undefined> {
    const walkForward = input.lineage.walkForward as { predictionsId?: unknown } | undefined;
    try {
      const profile = await registrationProfileOf(artifacts, {
        model: name,
        version: 0, // given its number once registered (storeReferenceProfile)
        featureSetVersion: input.featureSetVersion,
        datasetId: input.datasetId,
        predictionsId: typeof walkForward?.predictionsId === 'string' ? walkForward.predictionsId : undefined,
        ...(input.datasetProfile ? { datasetProfile: input.datasetProfile } : {}),
        lookbacksOf,
        trainedModel: () => {
          const { state } = decodeArtifact(artifact, { algorithms: ALGORITHM_VERSIONS, featureSetVersion: input.featureSetVersion });
          return restoreModel(state);
        },
      });
      if (serialiseProfile(profile) === undefined) throw new BadInputError(`the profile of ${profile.features.length} features does not fit in model_reference_profiles even thinned`);
      return profile;
    } catch (error) {
      if (!profileNeverBuilt(error)) throw error;
      log.warn(`no reference profile for ${name}: ${(error as Error).message}; drift monitoring will report it as unavailable and alert it`);
      return undefined;
    }
  }

  /** Stores the version's profile built before its registration (buildReferenceProfile), signed with the key, unless one is stored. */
  async function storeReferenceProfile(version: ModelVersion, built: ReferenceProfile | undefined): Promise<void> {
    if (!built || (await hasReferenceProfile(store, version.name, version.version))) return;
    const profile = { ...built, model: version.name, version: version.version };
    const key = signing.signingKey;
    const saved = await saveReferenceProfile(store, profile, key !== undefined ? (text) => signProfileRecord(key, version, text) : undefined);
    if (!saved.stored && saved.reason !== 'already stored') log.warn(`reference profile of ${version.name} v${version.version} not stored: ${saved.reason}`);
  }

  /**
   * The trials recorded with the versions a run's evaluation carries trials from (warm starts, a
   * champion re-run). A version the registry does not have or cannot read (RegistryError) has no
   * record, and the experiment's budget stands in (deflationTrialsOf); a registry that cannot be
   * read is thrown and the activity retried: the budget standing in for a recorded count changed the
   * deflated Sharpe ratio of a run for good.
   */
  async function recordedTrialsOf(input: EvaluateInput): Promise<(version: { model: string; version: number }) => RecordedTrials | undefined> {
    const wanted = [...(input.runSearches ?? []).flatMap((s) => (s.warmFrom ? [s.warmFrom] : [])), ...(input.rerunOf ? [input.rerunOf] : [])];
    const found = new Map<string, RecordedTrials>();
    for (const w of wanted) {
      try {
        const v = await getModelVersion(store, w.model, w.version);
        const t = (v.metrics.outOfSample as { backtest?: { deflatedSharpeTrials?: RecordedTrials } } | undefined)?.backtest?.deflatedSharpeTrials;
        if (t) found.set(`${w.model}@${w.version}`, t);
      } catch (error) {
        if (!(error instanceof BadInputError)) throw error;
        log.warn(`trials of ${w.model} v${w.version} not read: ${error.message}`);
      }
    }
    return (w) => found.get(`${w.model}@${w.version}`);
  }

  return {
    /**
     * Validates an experiment (defaults filled in) and names its feature-set version; bad configs
     * fail fast. At a retrain's start, also whether another retrain of the same model is running
     * (scheduled, on drift or by hand) that started first: then `skip` says which, and the run ends.
     */
    async resolveExperiment(input: unknown): Promise<ResolvedExperiment> {
      return withFailureMapping(async () => {
        const experiment = experimentSchema.parse(input);
        refuseUnknownKeys(input, experiment, 'the experiment');
        const featureSetVersion = defineFeatureSet(experiment.featureSet ?? DEFAULT_FEATURE_SET).version;
        const skip = await retrainSkipOfThisRun(experiment.name);
        if (skip) log.info(skip.reason);
        return { experiment, featureSetVersion, ...(skip ? { skip } : {}) };
      });
    },

    /** Scores the walk-forward predictions (metrics, baseline, IC, backtest) and runs the shuffled-label control. */
    async evaluateAlgorithm(input: EvaluateInput): Promise<AlgorithmEvaluation> {
      return withFailureMapping(async () => {
        return whileHeartbeating(async (cancelled) => {
          const ds = await readDataset(artifacts, input.datasetId);
          const predictions = await readPredictions(artifacts, input.predictionsId);
          // The prices the dataset was built from: a bar revised since then is not traded beside labels made without it.
          const series = await evaluationBarsOf(store, ds);
          // The control refits the model, a fold per training thread like every fit, while the report is computed here.
          const control = input.shuffledLabel && shuffledLabelOnThreads(input.datasetId, input.shuffledLabel.request, input.experiment.guards.shuffledLabelTolerance, cancelled);
          control?.catch(() => undefined); // awaited below
          // Not needed by the evaluation: a failure leaves the report to compute it.
          const importance = input.model
            ? precomputePermutationImportance(artifacts, trainingPool, { modelSha256: input.model.artifactSha256, datasetId: input.datasetId, predictionsId: input.predictionsId, seed: input.model.seed }).catch((error: Error) => {
                log.warn('permutation importance not precomputed; the run report will compute it', { error: error.message });
                return undefined;
              })
            : undefined;
          // Trial scores are CV AUCs: their spread is not that of Sharpe ratios (it made the deflated
          // Sharpe ratio 0.98 where it is 0.54), so the report deflates by the Sharpe ratio's own
          // sampling variance; the trials counted are those of the whole run (deflationTrialsOf).
          const trials = deflationTrialsOf(input, await recordedTrialsOf(input));
          // Earlier runs on the same outcomes were trials of the same search (a re-run with another
          // seed or space is one more look): their trials count too, this run's own once. A warm
          // start's carried trials are those of an earlier run, so the larger of the two counts.
          const ran = runTrialsOf(input);
          const earlier = input.rerunOf ? { runs: 0, trials: 0 } : await earlierRunTrials(store, { model: input.experiment.name, datasetId: input.datasetId, period: periodOfRows(ds, predictions.rows), outcomes: { label: input.experiment.label, symbols: ds.symbols } });
          const counted = Math.max(trials.counted, ran + earlier.trials);
          const report = evaluatePredictions(ds, predictions, series, {
            backtest: input.experiment.backtest,
            plausibility: plausibilityFor(input.experiment),
            degenerate: input.experiment.guards.degenerateScores,
            trials: counted,
            searchTrials: trials.search,
            runTrials: ran,
            earlierTrials: earlier,
            trialSharpeVariance: 0,
            seed: input.experiment.seed,
          });
          // The run report's sections from the same predictions and bars, while the threads still work
          // on the control and the importance: the reports at the run's end then only read them. The
          // worker's other tasks (trial dispatch, heartbeats) get the event loop in between.
          await yieldToEventLoop();
          const reportSections = input.model
            ? await precomputeReportSections(artifacts, { dataset: ds, predictions, series }, { datasetId: input.datasetId, predictionsId: input.predictionsId, seed: input.model.seed, backtest: reportBacktestOptionsOf(input.experiment) }).catch((error: Error) => {
                log.warn('report sections not precomputed; the run report will compute them', { error: error.message });
                return undefined;
              })
            : undefined;
          const championComparisons: AlgorithmEvaluation['championComparisons'] = [];
          for (const c of input.rerunOf ? (input.pairedWith ?? []) : []) {
            await yieldToEventLoop();
            const challenger = await readPredictions(artifacts, c.predictionsId);
            championComparisons.push({ algorithm: c.algorithm, comparison: championComparisonOf(ds, challenger, predictions, series, { backtest: input.experiment.backtest, seed: input.experiment.seed }) });
          }
          const shuffledLabel = control ? await control : undefined;
          const permutationImportance = await importance;
          return { report, shuffledLabel, ...(permutationImportance ? { permutationImportance } : {}), ...(reportSections ? { reportSections } : {}), ...(championComparisons.length > 0 ? { championComparisons } : {}) };
        });
      });
    },

    /**
     * The run report of a registered version (lib/reports): one HTML file filed under ARTIFACT_DIR
     * by its sha256, its path recorded in the version's lineage. Re-running it writes the same sections again.
     * With the signing key, the row is verified first and the record (report, decision, guard verdicts)
     * signed; a row that fails its signature gets no report recorded (ARTIFACT_INVALID, noted on the candidate).
     */
    async writeRunReport(input: RunReportInput): Promise<StoredReport> {
      return withFailureMapping(async () => {
        return whileHeartbeating(async () => {
          const generated = await generateVersionReport(store, artifacts, { name: input.name, version: input.version, decision: input.decision, datasetGuards: input.datasetGuards, record: true, signing }, trainingPool);
          return { path: generated.path, sha256: generated.sha256, bytes: generated.bytes };
        });
      });
    },

    /**
     * The training dataset's feature profile for drift monitoring (lib/monitoring/registration-profile.ts),
     * built beside the training and filed as an artifact: every version registered at the run's end
     * shares it and only adds its own scores.
     */
    async profileTrainingDataset(input: { datasetId: string }): Promise<{ sha256: string }> {
      return withFailureMapping(async () => whileHeartbeating(() => precomputeDatasetProfile(artifacts, input.datasetId, undefined, lookbacksOf)));
    },

    /**
     * The guards that judge the dataset rather than a model: the point-in-time audit (sampled rows
     * recomputed from bars up to their date) and the single-feature scan over the evaluation period.
     */
    async guardTrainingDataset(input: DatasetGuardInput): Promise<DatasetGuards> {
      return withFailureMapping(async () => {
        return whileHeartbeating(async () => {
          const ds = await readDataset(artifacts, input.datasetId);
          const { guards } = input.experiment;
          const verdicts: GuardVerdict[] = [];
          // The guards run on this thread beside the trials, and the trials start through it (each
          // search's first suggestions, its first activities): work here goes in short steps with the
          // event loop let through between them, the scan's (~50 ms a feature) before the audit's
          // (~0.6 s a date). In one long step, the trials started 5-9 s after the dataset was ready.
          let scan: DatasetGuards['singleFeatureScan'];
          let scanVerdict: GuardVerdict | undefined;
          if (guards.singleFeatureScan) {
            const rows = evaluationRowsOf(ds, input.experiment.walkForward.evaluationDays);
            const series = await evaluationBarsOf(store, ds);
            await yieldToEventLoop();
            const labels = Int32Array.from(rows, (r) => ds.labels[r]);
            const baselines = periodRivalsOf(ds, rows, series).baselines.filter((b) => !b.hindsight);
            let rival = { name: 'chance', auc: 0.5 };
            for (const b of baselines) {
              await yieldToEventLoop();
              const auc = singleValueAuc(b.score, labels);
              if (auc > rival.auc) rival = { name: b.name, auc };
            }
            const result = await singleFeatureScan(ds.columns, ds.values, rows, ds, inferenceLags(ds), ds.label.kind, plausibilityFor(input.experiment), rival);
            scan = { ceiling: result.ceiling, strongestBaseline: rival, features: result.features.slice(0, 10) };
            scanVerdict = result.verdict;
          }
          let pointInTime: PointInTimeAudit | undefined;
          if (guards.pointInTime.rows > 0) {
            // Over every stored symbol, as the features step materialises them. On this thread only: the
            // pool's helper threads would compete with the trials the training threads run meanwhile.
            pointInTime = await auditPointInTime(store, ds, { rows: guards.pointInTime.rows, dates: guards.pointInTime.dates, seed: input.experiment.seed });
            verdicts.push({ guard: 'point_in_time_audit', tripped: !pointInTime.passed, message: pointInTime.message });
          }
          if (scanVerdict) verdicts.push(scanVerdict);
          const survivorship = survivorshipNote(ds);
          if (survivorship) verdicts.push(survivorship);
          const splits = splitsNote(ds);
          if (splits) verdicts.push(splits);
          return { verdicts, pointInTime, singleFeatureScan: scan };
        });
      });
    },

    /**
     * The current champion's algorithm and parameters, when it predicts the same label from the same
     * feature set (otherwise it cannot be compared on this run's data and there is no recipe).
     */
    async championRecipe(input: { name: string; featureSetVersion: string; label: Record<string, unknown> }): Promise<ChampionRecipe | undefined> {
      return withFailureMapping(async () => {
        const version = await aliasVersion(store, input.name, 'champion');
        // No champion, or an alias naming a row deleted by hand (registerAndPromote says so): no recipe to re-run.
        if (version === undefined || !(await versionExists(store, input.name, version))) return undefined;
        const v = await getModelVersion(store, input.name, version);
        // Without a recipe registerAndPromote promotes nothing over the champion, saying why: it is
        // of another label or feature set, or (the recipe being the yardstick a challenger must beat,
        // which an edited row must not soften) its row's signature does not hold.
        if (championNotComparable(v, input, signing) !== undefined) return undefined;
        return { version, algorithm: v.algorithm, params: v.params, seed: v.seed };
      });
    },

    /**
     * Registers the model (idempotent per workflow run and algorithm) and applies the promotion
     * policy against the current champion: a winner becomes `challenger`, or `champion` when there is none.
     */
    async registerAndPromote(input: RegisterInput): Promise<RegisterResult> {
      return withFailureMapping(async () => {
        const artifact = await readArtifact(artifacts, input.artifactSha256);
        // Checked before anything is registered, judged or moved: a model whose feature set is not
        // stored, or whose feature names or their order are not its stored feature set's, is never
        // served, so it is neither registered nor promoted (an earlier version of the same artifact,
        // found below, included).
        const order = await featureOrderProblem(store, input.featureSetVersion, decodeArtifact(artifact, { algorithms: ALGORITHM_VERSIONS }).header.featureNames);
        if (order) throw new RegistryError(`${input.experiment.name} (${input.algorithm}) cannot be registered or promoted: ${order}; nothing was registered or moved`);
        const snapshot = input.snapshotId ? await getSnapshot(store, input.snapshotId) : undefined;
        if (input.snapshotId && !snapshot) throw new BadInputError(`snapshot ${input.snapshotId} does not exist`, 'SNAPSHOT_NOT_FOUND');
        const lineage = { ...input.lineage, datasetId: input.datasetId, experiment: input.experiment, ...(input.universe ? { universe: input.universe } : {}) };
        // Guards the experiment switched off or loosened: verdicts of their own in the version's
        // record (metrics.scores, signed with the row) and in the scores promotion judges.
        const relaxedGuards = relaxedGuardsOf(input.experiment);
        const candidateScores: CandidateScores = { ...input.scores, relaxedGuards: relaxedGuards.length > 0 ? relaxedGuards : undefined };
        // The override's reason travels with them: without it the version never serves (servingVeto).
        const allowed = input.experiment.promotion.allowRelaxedGuards?.reason;
        const metrics = relaxedGuards.length > 0 ? { ...input.metrics, scores: { ...(input.metrics.scores as Record<string, unknown> | undefined), relaxedGuards, ...(allowed !== undefined ? { relaxedGuardsAllowed: allowed } : {}) } } : input.metrics;
        // The same result as an earlier version (an identical re-run): keep that one, register nothing.
        // (A retry of this very registration finds its own version by key in registerModel instead.)
        const registrationKey = `${input.workflowId}/${input.runId}/${input.algorithm}`;
        const found = await findIdenticalVersion(store, { name: input.experiment.name, artifactSha256: input.artifactSha256, params: input.params, seed: input.experiment.seed, featureSetVersion: input.featureSetVersion, label: input.experiment.label, datasetId: input.datasetId, experiment: input.experiment });
        const identical = found && found.registrationKey !== registrationKey ? found : undefined;
        // Built before the row, so that with the key the signed row can say the run stores its profile
        // signed (SIGNED_PROFILE_LINEAGE_KEY): a missing or unsigned profile of it is then an edit.
        const profile = identical ? undefined : await buildReferenceProfile(input.experiment.name, input, artifact);
        const version = identical ?? await registerModel(store, artifacts, {
          name: input.experiment.name,
          artifact,
          algorithm: input.algorithm,
          params: input.params,
          seed: input.experiment.seed,
          featureSetVersion: input.featureSetVersion,
          label: input.experiment.label,
          snapshotId: input.snapshotId ?? null,
          snapshotHash: snapshot?.contentHash ?? null,
          codeVersion: codeVersion(),
          workflowId: input.workflowId,
          runId: input.runId,
          registrationKey,
          metrics,
          lineage: profile && signing.signingKey !== undefined ? { ...lineage, [SIGNED_PROFILE_LINEAGE_KEY]: PROFILE_RECORD_SCHEME } : lineage,
        }, signing);
        if (!identical) await storeReferenceProfile(version, profile);
        // A retry of an attempt that promoted this version and moved its alias, then never completed:
        // the promotion it made, against the champion it challenged (not "already the champion").
        // Also asked again when the alias is found at this version: a second attempt running at once
        // (the first outlived its timeout) may have promoted it between this read and that one.
        const ownPromotion = async () => {
          const applied = identical ? undefined : await appliedPromotion(store, { key: `${input.workflowId}/${input.runId}`, model: input.experiment.name, version: version.version });
          return applied ? { version, decision: { promote: true, reason: applied.reason }, champion: applied.championVersion ?? undefined, identicalToEarlier: false } : undefined;
        };
        const applied = await ownPromotion();
        if (applied) return applied;
        const champion = await aliasVersion(store, input.experiment.name, 'champion');
        if (champion === version.version) {
          const appliedMeanwhile = await ownPromotion();
          if (appliedMeanwhile) return appliedMeanwhile;
        }
        // The champion is judged on the same period: its recipe was re-run on this run's data (championScores).
        // A champion of another label or feature set was not re-run (championRecipe): without a
        // comparison on the same period nothing replaces it automatically.
        // So is a champion other than the one whose recipe was re-run: the alias moved (a deployment
        // promoted another version) while this run trained, and its scores and the paired evidence are
        // of the champion before it.
        // An alias naming a registry row deleted by hand: nothing to judge against, nor to read its evidence from.
        const championGone = champion !== undefined && champion !== version.version && !(await versionExists(store, input.experiment.name, champion));
        const notCompared =
          championGone
            ? undefined
            : champion !== undefined && champion !== version.version && input.championScores === undefined
            ? (championNotComparable(await getModelVersion(store, input.experiment.name, champion), { featureSetVersion: input.featureSetVersion, label: input.experiment.label }, signing) ?? 'became the champion after this run looked for one')
            : champion !== undefined && champion !== version.version && input.championScores !== undefined && input.championVersion !== undefined && input.championVersion !== champion
              ? `became the champion after this run re-ran v${input.championVersion}, the champion then, on its period`
              : undefined;
        const policy = input.experiment.promotion;
        const championScores = champion === undefined ? undefined : input.championScores;
        // The run's best challenges the champion (or the empty slot): it is numbered after the earlier
        // challenges of that champion on an overlapping evaluation period and tested at its share of
        // alpha (lib/registry/challenges.ts). The run's other algorithms are not challenges of their own.
        // An identical earlier version already judged against this champion is answered with that
        // verdict (judgedBeforeDecision): the same model on the same data spends no more alpha.
        const challenge = async (): Promise<PromotionDecision> => {
          if (input.scores.bestOfRun === false) return promotionDecision(candidateScores, championScores, policy);
          const period = periodOf(input.metrics);
          // The champion's evidence, as its registration recorded it: a challenger's must be no older.
          const championPeriod = champion === undefined ? undefined : periodOf((await getModelVersion(store, input.experiment.name, champion)).metrics);
          // The newest data stored for the universe now: a period ending long before it is old evidence.
          const universe = input.universe ? [...new Set([...input.universe.requested, ...input.universe.trained])] : undefined;
          const evaluationLag = period ? await evaluationLagOf(store, period, universe, input.experiment.label.horizon) : undefined;
          const judged = await judgeChallenge(
            store,
            {
              key: `${input.workflowId}/${input.runId}`,
              model: input.experiment.name,
              championVersion: champion ?? null,
              challengerVersion: version.version,
              algorithm: input.algorithm,
              algorithmsTested: Math.max(1, input.scores.candidatesCompared ?? 1),
              datasetId: input.datasetId,
              ...(period ? { period } : {}),
              metric: policy.metric,
              pValue: input.scores.evidence?.[policy.metric]?.pValue,
              championPValue: input.scores.versusChampion?.[policy.metric]?.pValue,
              ...(universe ? { outcomes: { label: input.experiment.label, symbols: input.universe?.trained.length ? input.universe.trained : universe } } : {}),
            },
            (count) => {
              const scores = { ...candidateScores, challenge: count, ...(period ? { period } : {}), ...(evaluationLag ? { evaluationLag } : {}), ...(championPeriod && champion !== undefined ? { championPeriod: { ...championPeriod, version: champion } } : {}) };
              return { decision: promotionDecision(scores, championScores, policy), level: challengeLevel(policy.alpha, scores).level };
            },
            signing,
          );
          return judged.decision;
        };
        // The champion judged against (or its absence, which makes the best a first champion) is the
        // alias's: when the routes serve another version, nothing was compared with the served one.
        const served = champion === version.version ? undefined : await championAliasDisagreement(store, input.experiment.name, champion, { deploymentOpen: deploymentOpenCheck() });
        // An earlier identical version already holding the alias this run would move it to (the
        // challenger's, over a champion) was promoted by the run that registered it: promoting it again
        // would record a second challenge of the same result and start a second deployment of it.
        const alreadyChallenger = identical !== undefined && champion !== undefined && champion !== version.version && (await aliasVersion(store, input.experiment.name, 'challenger')) === version.version;
        const decision =
          champion === version.version
            ? { promote: false, reason: identical ? `identical to v${version.version}, already the champion; nothing new registered` : 'already the champion' }
            : alreadyChallenger
              ? { promote: false, reason: `identical to v${version.version}, already the challenger; nothing new registered` }
            : championGone
              ? { promote: false, reason: `the champion alias names v${champion}, whose registry row is gone, so this run was not compared with the champion and nothing is promoted; first serve a version that verifies: \`mlp models rollback ${input.experiment.name} --to-version N --reason "…"\` serves N and moves the alias to it` }
            : served !== undefined
              ? { promote: false, reason: `${served}, so this run was not compared with the served version and nothing is promoted; ${agreementHint(input.experiment.name)}` }
            : notCompared !== undefined
              ? { promote: false, reason: `the champion v${champion} ${notCompared}, so it was not re-run on this run's period and nothing can be shown to beat it; promote by hand (move the alias) if the change is intended` }
              : await challenge();
        if (decision.promote) {
          try {
            // Only over the champion judged against (none for a first champion): another run or a
            // deployment that moved the champion alias since is never overwritten unjudged.
            await moveAlias(store, { name: input.experiment.name, alias: champion === undefined ? 'champion' : 'challenger', version: version.version, movedBy: `workflow ${input.workflowId}`, reason: decision.reason, expected: { alias: 'champion', version: champion ?? null } }, signing);
          } catch (error) {
            if (!(error instanceof AliasMovedError)) throw error;
            // Moved to this very version by another attempt of this registration: its promotion, not a rival's.
            const appliedMeanwhile = error.found === version.version ? await ownPromotion() : undefined;
            if (appliedMeanwhile) return appliedMeanwhile;
            const now = error.found === null ? 'was cleared' : `became v${error.found}`;
            const reason = `not promoted: the champion ${now} while this run was judged against ${champion === undefined ? 'no champion' : `v${champion}`}, so nothing shows it beats the one there now; promote by hand (move the alias) if the change is intended`;
            await withdrawPromotion(store, `${input.workflowId}/${input.runId}`, reason);
            return { version, decision: { promote: false, reason }, champion, identicalToEarlier: identical !== undefined };
          }
        }
        // Not promoted now, but an earlier attempt may have recorded this version's challenge as
        // promoted and failed before moving the alias (the champion changed before this retry): the
        // record then says why nothing was promoted, as the answer does.
        if (!decision.promote) await withdrawUnappliedPromotion(store, { key: `${input.workflowId}/${input.runId}`, model: input.experiment.name, version: version.version }, decision.reason);
        return { version, decision, champion, identicalToEarlier: identical !== undefined };
      });
    },
  };
}
