import { Context } from '@temporalio/activity';
import { labelSpecSchema, type LabelSpecInput } from '../lib/labels/labels';
import type { Database } from '../lib/store/database';
import type { ArtifactStore } from '../lib/artifacts/artifact-store';
import { BadInputError } from '../lib/errors';
import { storedSymbols } from '../lib/store/bars';
import { getSnapshot } from '../lib/store/snapshots';
import { rebuildStoredFeatureSet } from '../lib/features/stored-feature-set';
import { closeKindProblems, DEFAULT_UNIVERSE_KINDS, instrumentKind, instrumentMapSchema, OTHER_CLOSE_KINDS, type InstrumentKind, type InstrumentMap } from '../lib/market-data/instruments';
import { TaskPool } from '../lib/threads/task-pool';
import { buildTrainingDataset, labelHorizon, writeDataset, type TrainingDataset } from '../lib/training/dataset';
import { knownAtCutoff, type FinalModelRequest } from '../lib/training/final-model';
import { searchWindowOf } from '../lib/training/evaluation-period';
import { trialResultOf, type FoldResult, type TrialRequest, type TrialResult } from '../lib/training/trial';
import type { WalkForwardRequest } from '../lib/training/walk-forward';
import type { Params } from '../lib/tuning/search-space';
import { suggestTrials, type SuggestionRequest } from '../lib/tuning/suggest';
import { withFailureMapping } from './failures';
import { whileHeartbeating } from './heartbeat';

export interface PrepareDatasetInput {
  featureSetVersion: string;
  label: LabelSpecInput;
  /** First and last decision day (inclusive); labels may look past `to`. */
  from?: string;
  to?: string;
  /** The experiment's declared universe; without it, exactly the symbols of `snapshotId`. */
  symbols?: string[];
  /** The snapshot the run imported: its symbols are the universe unless the experiment declares one. */
  snapshotId?: string;
  /** The walk-forward's evaluation period (its last decision days), left out of the search: the result then says its first day and what the search's rows reached. */
  evaluationDays?: number;
}

/** What the experiment trains on, recorded in every version's lineage. */
export interface TrainingUniverse {
  source: 'declared' | 'snapshot';
  snapshotId?: string;
  /** Symbols asked for (declared, or the snapshot's). */
  requested: string[];
  /** Symbols with labelled feature rows in the dataset. */
  trained: string[];
}

function lastKnownDayOf(ds: TrainingDataset): { lastKnownDay?: string } {
  const known = knownAtCutoff(ds);
  return known.length > 0 ? { lastKnownDay: ds.days[ds.start[known[known.length - 1]]] } : {};
}

export interface PreparedDataset {
  datasetId: string;
  rows: number;
  columns: number;
  symbols: number;
  firstDay: string;
  lastDay: string;
  /**
   * The last decision day whose label is known at the cut-off: what a final model trained on this
   * dataset learns through (lib/training/final-model.ts knownAtCutoff). Absent in results recorded before.
   */
  lastKnownDay?: string;
  /** Distinct decision days. */
  decisionDays: number;
  horizon: number;
  upShare: number;
  universe: TrainingUniverse;
  /** Unadjusted splits found in the stored bars and the rows left out around them (TrainingDataset.splits); absent when none. */
  splits?: TrainingDataset['splits'];
  /**
   * With the input's evaluationDays: the evaluation period's first day, and the last label end of
   * the rows before it, which the hyperparameter search is cross-validated on (lib/training/evaluation-period.ts).
   * Absent without them, when the period leaves no such rows, and in results recorded before.
   */
  evaluationFrom?: string;
  searchThrough?: string;
}

export interface RunTrialInput {
  datasetId: string;
  /** Trial number within its search, for logs and the result. */
  trial: number;
  request: TrialRequest;
}

export interface TrialOutcome extends TrialResult {
  trial: number;
  params: Record<string, unknown>;
  seconds: number;
}

export interface TrainingActivityDeps {
  store: Database;
  /** Where datasets, predictions and artifacts are filed (lib/artifacts): every worker reaches the same store. */
  artifacts: ArtifactStore;
  /** Threads that run folds and fits, so this thread stays free for heartbeats and polling. */
  trainingPool: TaskPool;
}

export interface WalkForwardInput {
  datasetId: string;
  request: WalkForwardRequest;
}

export interface FinalModelInput {
  datasetId: string;
  request: FinalModelRequest;
}

/** The instrument kinds a feature-set version computes rows for, and its explicit kinds (defaults when the version is not stored). */
async function universeRule(store: Database, featureSetVersion: string): Promise<{ kinds: readonly InstrumentKind[]; instruments: InstrumentMap }> {
  const row = await store.db.selectFrom('feature_sets').select('definition').where('version', '=', featureSetVersion).executeTakeFirst();
  if (!row) return { kinds: DEFAULT_UNIVERSE_KINDS, instruments: {} };
  const { set } = rebuildStoredFeatureSet({ version: featureSetVersion, definition: row.definition });
  return { kinds: set.universe, instruments: set.instruments };
}

/** Kinds the snapshot's import request declared (recorded with its source). */
function snapshotInstruments(source: unknown): InstrumentMap {
  const parsed = instrumentMapSchema.safeParse((source as { instruments?: unknown } | null)?.instruments ?? {});
  return parsed.success ? parsed.data : {};
}

/**
 * The universe of an experiment: its declared symbols (each must have bars), else the symbols of the
 * snapshot the run imported; never everything that happens to be in the store. Only the instrument
 * kinds the feature set trains on (equities by default): indices such as $SPX or $VIX are market
 * inputs, not stocks.
 */
export async function resolveUniverse(store: Database, input: PrepareDatasetInput): Promise<Omit<TrainingUniverse, 'trained'>> {
  const rule = await universeRule(store, input.featureSetVersion);
  const allowed = new Set(rule.kinds);
  if (input.symbols && input.symbols.length > 0) {
    const outside = input.symbols.filter((s) => !allowed.has(instrumentKind(s, rule.instruments)));
    if (outside.length > 0) {
      // Another market's bars close hours before the NYSE's, the VIX's, futures' and currencies' after it: mapping them to equity would bring back the look-ahead the kind keeps out.
      const kinds = new Set(outside.map((s) => instrumentKind(s, rule.instruments)));
      const foreign = kinds.has('foreign_equity') ? '; series of another market (foreign_equity) close before the NYSE and are trained in a universe of their own (the feature set\'s universe ["foreign_equity"]), never mapped to equity beside US stocks' : '';
      const lateKinds = [...kinds].filter((k) => k !== 'foreign_equity' && OTHER_CLOSE_KINDS.has(k));
      const late = lateKinds.length > 0 ? `; ${lateKinds.join(', ')} series close after the NYSE's 16:00 (the VIX at 16:15) and are market inputs or a universe of their own, never mapped to equity, etf, index or synthetic beside US stocks` : '';
      throw new BadInputError(`the experiment's universe names ${outside.length} series that are not ${rule.kinds.join(' or ')}: ${outside.slice(0, 10).map((s) => `${s} (${instrumentKind(s, rule.instruments)})`).join(', ')}${outside.length > 10 ? ', …' : ''}; remove them from universe.symbols or map their kind in the feature set's "instruments"${foreign}${late}`, 'INVALID_INPUT');
    }
    const stored = new Set(await storedSymbols(store, input.symbols));
    const missing = input.symbols.filter((s) => !stored.has(s));
    if (missing.length > 0) throw new BadInputError(`the experiment's universe names ${missing.length} symbol(s) with no bars in the store: ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}; import them or remove them from universe.symbols`, 'INVALID_INPUT');
    return { source: 'declared', snapshotId: input.snapshotId, requested: [...input.symbols].sort() };
  }
  if (!input.snapshotId) throw new BadInputError('the experiment has no universe: declare universe.symbols or import a snapshot in the same run', 'INVALID_INPUT');
  const snapshot = await getSnapshot(store, input.snapshotId);
  if (!snapshot) throw new BadInputError(`snapshot ${input.snapshotId} does not exist`, 'SNAPSHOT_NOT_FOUND');
  const instruments = { ...snapshotInstruments(snapshot.source), ...rule.instruments };
  // A snapshot imported before such declarations were refused may still record one (SAP.DE or VIX as equity).
  // Only symbols the universe would count: a declaration of a kind outside it joins no row.
  const problems = closeKindProblems(instruments).filter((p) => allowed.has(instruments[p.symbol] as InstrumentKind));
  if (problems.length > 0) {
    throw new BadInputError(`snapshot ${snapshot.id}'s import request declared ${problems.map((p) => `${p.symbol} as ${instruments[p.symbol]}`).join(', ')}: ${problems[0].message}; or declare its kind in the feature set's "instruments", which wins`, 'INVALID_INPUT');
  }
  return { source: 'snapshot', snapshotId: snapshot.id, requested: snapshot.symbols.filter((s) => allowed.has(instrumentKind(s, instruments))).sort() };
}

/**
 * The search's own steps: pure computation, light enough to run as local activities of trainAlgorithm
 * on the workflow worker, but kept out of the workflow task (a TPE step over many trials takes seconds).
 */
export function searchActivities() {
  return {
    /** The params of one batch of trials (TPE or random), from the trials completed before it. */
    async suggestTrials(input: SuggestionRequest): Promise<Params[]> {
      return withFailureMapping(() => Promise.resolve(suggestTrials(input)));
    },
  };
}

export function trainingActivities({ store, artifacts, trainingPool }: TrainingActivityDeps) {
  return {
    /** Out-of-sample predictions over the evaluation period, retraining every block. */
    async walkForward(input: WalkForwardInput) {
      return withFailureMapping(() => whileHeartbeating((cancelled) => trainingPool.runOnFreeThread('walkForward', { artifacts: artifacts.location, datasetId: input.datasetId, request: input.request }, cancelled)));
    },

    /** Trains the model to register on all rows up to the cut-off; its artifact is stored by sha256. */
    async fitFinalModel(input: FinalModelInput) {
      return withFailureMapping(() => whileHeartbeating((cancelled) => trainingPool.runOnFreeThread('finalModel', { artifacts: artifacts.location, datasetId: input.datasetId, request: input.request }, cancelled)));
    },

    /** Builds the training matrix from the feature store and labels and files it by content id. */
    async prepareTrainingDataset(input: PrepareDatasetInput): Promise<PreparedDataset> {
      return withFailureMapping(async () => {
        const label = labelSpecSchema.parse(input.label);
        const universe = await resolveUniverse(store, input);
        const ds = await buildTrainingDataset(store, { featureSetVersion: input.featureSetVersion, label, from: input.from, to: input.to, symbols: universe.requested });
        const { id } = await writeDataset(artifacts, ds);
        const decisionDays = new Set(ds.start).size;
        return {
          datasetId: id,
          rows: ds.rows,
          columns: ds.columns.length,
          symbols: ds.symbols.length,
          firstDay: ds.days[ds.start[0]],
          lastDay: ds.days[ds.start[ds.rows - 1]],
          ...lastKnownDayOf(ds),
          decisionDays,
          horizon: labelHorizon(label),
          upShare: ds.labels.reduce((a, b) => a + b, 0) / ds.rows,
          universe: { ...universe, trained: ds.symbols },
          ...(ds.splits ? { splits: ds.splits } : {}),
          ...(input.evaluationDays !== undefined ? searchWindowOf(ds, input.evaluationDays) : {}),
        };
      });
    },

    /**
     * One hyperparameter trial: purged k-fold CV, each fold on a training thread. Finished folds
     * are heartbeat details, so a retry on another worker starts from the first missing fold.
     */
    async runTrial(input: RunTrialInput): Promise<TrialOutcome> {
      return withFailureMapping(async () => {
        const ctx = Context.current();
        const t = Date.now();
        const done = [...((ctx.info.heartbeatDetails as { folds?: FoldResult[] } | undefined)?.folds ?? [])];
        if (done.length > 0) ctx.log.info('resuming trial from its checkpoint', { trial: input.trial, foldsDone: done.length, attempt: ctx.info.attempt });
        // Each fold runs on the first training thread free; finished ones are the heartbeat details (the checkpoint).
        await whileHeartbeating(async (cancelled) => {
          for (let fold = 0; fold < input.request.folds; fold++) {
            if (done.some((r) => r.fold === fold)) continue;
            done.push(await trainingPool.runOnFreeThread('trialFold', { artifacts: artifacts.location, datasetId: input.datasetId, request: input.request, fold }, cancelled)); // no new fold once cancelled
            ctx.heartbeat({ folds: done });
          }
        }, () => ({ folds: done }));
        return { ...trialResultOf(done), trial: input.trial, params: input.request.params, seconds: (Date.now() - t) / 1000 };
      });
    },
  };
}
