/**
 * One experiment, declared in a file (JSON) or from CLI flags and validated here: what data, which
 * features and label, which algorithms with which search spaces, how models are selected
 * (purged CV), evaluated (walk-forward + backtest), guarded against leakage and promoted. A run
 * stores the parsed config verbatim with its results.
 */
import { z } from 'zod';
import { abDeadlineProblem, defaultAbDeadlineSeconds, deploymentOptionsSchema } from '../deployment/plan';
import { isIsoDate } from '../calendar/dates';
import { backtestOptionsSchema } from '../backtest/input';
import { featureSetSchema } from '../features/feature-set';
import { importRequestSchema } from '../ingest/import-request';
import { labelSpecSchema } from '../labels/labels';
import { searchSpaceSchema } from '../tuning/search-space';
import { unknownParameterMessage, unknownParameters } from './algorithm-parameters';
import { symbolSchema } from '../market-data/symbols';
import { DEFAULT_PLAUSIBILITY, type PlausibilityBound } from '../training/guards';
import { warmStartSchema } from '../training/warm-start';

const isoDate = z.string().refine(isIsoDate, 'expected a date as YYYY-MM-DD');
const ALGORITHM_NAMES = ['logistic_regression', 'random_forest', 'gradient_boosting', 'svm', 'mlp', 'conv1d'] as const;

export const algorithmSearchSchema = z.object({
  algorithm: z.enum(ALGORITHM_NAMES),
  /** Parameters to search (ranges, log scales, choices) and fixed ones (plain values). */
  space: searchSpaceSchema.default({}),
  /** Trials for this algorithm (default: search.trials). */
  trials: z.number().int().min(1).max(1000).optional(),
  /**
   * Row caps for this algorithm, overriding search / walkForward / final: a kernel SVM's cost grows
   * with the square of the rows, so it is usually given far fewer than the trees.
   */
  rows: z.object({ trial: z.number().int().min(100).optional(), walkForward: z.number().int().min(100).optional(), final: z.number().int().min(100).optional() }).default({}),
}).superRefine((a, ctx) => {
  // The sequence model reads its k·q columns as k days of the same q features, oldest first
  // (models/neural/conv1d.ts); a run's dataset is one row of one date, so it would read other
  // features as earlier days (with window 2 over ret_1, rsi_14, sma_ratio_20, ema_ratio_20, "day 1"
  // was [ret_1, rsi_14]) and share standardisers between unrelated columns: refused until a
  // dataset builds windows.
  if (a.algorithm === 'conv1d') {
    ctx.addIssue({ code: 'custom', path: ['algorithm'], message: 'conv1d reads k blocks of the same features, one per day of a window, and no feature set or dataset of a run builds such windows: it would read other features as earlier days. Use mlp (or the trees, SVM, logistic regression); conv1d stays a library model for matrices that hold day windows' });
  }
  // A misspelt name would be searched, recorded as the model's parameter and ignored by the fit.
  for (const name of unknownParameters(a.algorithm, a.space)) {
    ctx.addIssue({ code: 'custom', path: ['space', name], message: unknownParameterMessage(a.algorithm, name) });
  }
});

/**
 * The symbols listed more than once in a universe, as read (capitals, "-" as "."), with their counts.
 * The dataset reads symbols with SQL IN, so a repeat adds no rows, but the universe recorded with the
 * model kept it ("1 symbols trained of 3 requested" for ["AAPL", "aapl", "AAPL"]).
 */
export function repeatedSymbols(symbols: readonly string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const s of symbols) counts.set(s, (counts.get(s) ?? 0) + 1);
  const repeated = [...counts].filter(([, n]) => n > 1);
  return repeated.length === 0 ? undefined : `${repeated.map(([s, n]) => `${s} (${n} times)`).join(', ')} listed more than once (symbols are read in capitals, "-" as "."); give each symbol once`;
}

/**
 * The symbols a run trains on, each once, in their first order. An experiment file listing one twice is
 * refused when read (readExperimentFile, schedules); inputs stored by earlier versions (a schedule's
 * experiment, a champion's lineage, where "BRK-B" and "BRK.B" were two entries) are read with the
 * repeats removed, so their retrains keep running.
 */
const universeSymbolsSchema = z
  .array(symbolSchema)
  .min(1)
  .transform((symbols) => [...new Set(symbols)]);

const plausibilitySchema = z.object({ maxAuc: z.number().gt(0.5).max(1), maxAucAboveBaseline: z.number().gt(0).max(0.5), maxAccuracy: z.number().gt(0.5).max(1) }).partial();

/** Leakage and sanity guards; see lib/training/leakage-guards.ts for what each one catches. */
export const guardsSchema = z
  .object({
    /** Recompute sampled feature rows from bars up to their date: catches look-ahead in any feature. */
    pointInTime: z
      .object({
        rows: z.number().int().min(0).max(100_000).default(200),
        dates: z.number().int().min(1).max(100).default(6),
        /** A mismatch means the training data is wrong: the run fails by default. */
        onMismatch: z.enum(['fail', 'veto']).default('fail'),
      })
      .default({ rows: 200, dates: 6, onMismatch: 'fail' }),
    /** Each feature alone against the label: one that is implausibly predictive is a suspected leak. */
    singleFeatureScan: z.boolean().default(true),
    /** Refit the winner on permuted labels: it must score at chance (catches labels reaching features or evaluation). */
    shuffledLabel: z.boolean().default(true),
    /** AUC above 0.5 + this on shuffled labels counts as leakage. */
    shuffledLabelTolerance: z.number().positive().max(0.5).default(0.03),
    /** Plausibility bounds per label kind, merged over DEFAULT_PLAUSIBILITY. */
    plausibility: z.object({ direction: plausibilitySchema.optional(), triple_barrier: plausibilitySchema.optional(), volatility_regime: plausibilitySchema.optional() }).default({}),
    /** Older name of plausibility.direction.maxAccuracy, still accepted. */
    plausibleDirectionAccuracy: z.number().gt(0.5).max(1).optional(),
    /** Scores that cannot rank stocks (constant across symbols, top-k decided by ties). */
    degenerateScores: z.object({ maxConstantDays: z.number().min(0).max(1).default(0.05), maxTiedCutDays: z.number().min(0).max(1).default(0.2) }).default({ maxConstantDays: 0.05, maxTiedCutDays: 0.2 }),
    /** What a tripped guard does (besides a critical alert): veto promotion, or fail the run. */
    onTrip: z.enum(['veto', 'fail']).default('veto'),
  })
  .default({ pointInTime: { rows: 200, dates: 6, onMismatch: 'fail' }, singleFeatureScan: true, shuffledLabel: true, shuffledLabelTolerance: 0.03, plausibility: {}, degenerateScores: { maxConstantDays: 0.05, maxTiedCutDays: 0.2 }, onTrip: 'veto' });

export const experimentSchema = z
  .object({
    /** Registry model name the winner is registered under. */
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lower-case letters, digits, ".", "_" or "-"'),
    description: z.string().max(2000).optional(),
    seed: z.number().int().min(0).max(2 ** 31 - 1).default(1),
    /** What to ingest first; omitted: train on what the store already holds. */
    import: importRequestSchema.optional(),
    /**
     * The symbols trained on: these, or (when omitted) exactly the symbols of the snapshot the run
     * imported; never whatever else happens to be in the store. Recorded in every version's lineage.
     */
    universe: z.object({ symbols: universeSymbolsSchema.optional() }).default({}),
    dates: z
      .object({
        /** First decision day used. */
        from: isoDate.optional(),
        /**
         * Last decision day used (the cut-off). The evaluation's labels may look past it; the final
         * model trains only on labels known by it (lib/training/final-model.ts).
         */
        cutoff: isoDate.optional(),
      })
      .default({}),
    featureSet: featureSetSchema.optional(),
    label: labelSpecSchema.default({ kind: 'direction', horizon: 5, deadZone: 0 }),
    algorithms: z.array(algorithmSearchSchema).min(1),
    search: z
      .object({
        method: z.enum(['random', 'tpe']).default('tpe'),
        trials: z.number().int().min(1).max(1000).default(20),
        /** Trials of one algorithm in flight at once (each is an activity on ml-training). */
        parallelism: z.number().int().min(1).max(64).default(2),
        /** Wall-time budget per algorithm; no new trial starts after it. */
        maxMinutes: z.number().positive().default(60),
        /** Training rows per CV fold at most (thinned over days and symbols: lib/training/thin-rows.ts), so a trial's cost is bounded. */
        maxTrainRows: z.number().int().min(100).default(50_000),
        maxTestRows: z.number().int().min(100).default(25_000),
      })
      .default({ method: 'tpe', trials: 20, parallelism: 2, maxMinutes: 60, maxTrainRows: 50_000, maxTestRows: 25_000 }),
    cv: z
      .object({
        folds: z.number().int().min(2).max(20).default(5),
        /** Default: the label horizon or 1% of the days, whichever is longer. */
        embargoDays: z.number().int().min(0).optional(),
      })
      .default({ folds: 5 }),
    walkForward: z
      .object({
        mode: z.enum(['expanding', 'rolling']).default('expanding'),
        /** The evaluation period: the last N decision days (default two years). */
        evaluationDays: z.number().int().min(5).default(504),
        /** Retrain every N days. */
        retrainDays: z.number().int().min(1).default(63),
        /** Rolling window length. */
        trainDays: z.number().int().min(20).default(756),
        maxTrainRows: z.number().int().min(100).default(100_000),
      })
      .default({ mode: 'expanding', evaluationDays: 504, retrainDays: 63, trainDays: 756, maxTrainRows: 100_000 }),
    /**
     * Start from the champion instead of from scratch (lib/training/warm-start.ts): the champion's
     * algorithm continues it, the search is skipped or narrowed around its parameters; without a
     * compatible champion the run retrains in full and says why.
     */
    warmStart: warmStartSchema.optional(),
    /** The final model trains on every row up to the cut-off unless a cap is given (here or per algorithm). */
    final: z.object({ maxTrainRows: z.number().int().min(100).optional() }).default({}),
    backtest: backtestOptionsSchema.default(backtestOptionsSchema.parse({})),
    guards: guardsSchema,
    promotion: z
      .object({
        /**
         * What decides: walk-forward ROC AUC pooled over every row (`auc`), the mean of the daily AUCs
         * across each day's stocks (`within_day_auc`: the ranking alone, for models used to rank stocks),
         * accuracy lift over the strongest naive baseline, or backtest Sharpe (lib/registry/promotion.ts).
         */
        metric: z.enum(['auc', 'within_day_auc', 'accuracy_lift', 'sharpe']).default('auc'),
        /** The challenger must beat the champion by this much on the same period. */
        margin: z.number().min(0).default(0.005),
        /** Absolute floors a challenger must pass. */
        minAuc: z.number().min(0).max(1).default(0.5),
        /**
         * Evidence required to beat the strongest naive baseline on the promotion metric: the one-sided
         * p-value of the day-aware test must be below this (1 turns the requirement off).
         */
        alpha: z.number().gt(0).max(1).default(0.05),
        /**
         * Promote on an evaluation period that ends more than the label horizon + 5 sessions before the
         * newest stored data (a backdated cut-off); refused by default (lib/registry/promotion.ts staleEvaluationVeto).
         */
        allowBackdatedEvaluation: z.boolean().optional(),
        /**
         * Promote although a leakage guard is switched off or looser than its default
         * (lib/experiments/relaxed-guards.ts); refused by default. The reason is recorded with the
         * experiment and named in the decision.
         */
        allowRelaxedGuards: z.object({ reason: z.string().trim().min(10, 'say why the guards may be relaxed (at least 10 characters)').max(500) }).optional(),
        /** What happens to a new challenger: start a deployment, wait for a person, or nothing. */
        deploy: z.enum(['auto', 'manual', 'off']).default('manual'),
        /** How that deployment runs (canary steps, analysis timing, thresholds, A/B): lib/deployment/plan.ts. */
        deployment: deploymentOptionsSchema.optional(),
      })
      .default({ metric: 'auc', margin: 0.005, minAuc: 0.5, alpha: 0.05, deploy: 'manual' }),
  })
  .superRefine((e, ctx) => {
    if (e.dates.from && e.dates.cutoff && e.dates.from >= e.dates.cutoff) ctx.addIssue({ code: 'custom', path: ['dates'], message: `from (${e.dates.from}) must be before cutoff (${e.dates.cutoff})` });
    const names = e.algorithms.map((a) => a.algorithm);
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) ctx.addIssue({ code: 'custom', path: ['algorithms'], message: `${twice} is listed twice; give it one search space` });
    // An A/B plan its challenger's labels cannot decide in at any deadline: refused here, before the run trains.
    const deployment = e.promotion.deployment;
    const problem = deployment ? abDeadlineProblem(deployment, e.label.horizon) : undefined;
    if (problem && problem.path[0] === 'mode') ctx.addIssue({ code: 'custom', path: ['promotion', 'deployment', ...problem.path], message: problem.message });
  })
  // An A/B deadline too short to decide: a file is refused when read (readExperimentFile, abDeadlineFileProblem);
  // inputs stored by earlier versions (a champion's lineage, a schedule's experiment, a run in flight) carry
  // the old 14-day default the parse filled in, and are read with the horizon's default in its place, so
  // their retrains keep running (the key stays: the unknown-key check compares input and output keys).
  .transform((e) => {
    const deployment = e.promotion.deployment;
    if (!deployment?.ab || abDeadlineProblem(deployment, e.label.horizon)?.path[0] !== 'ab') return e;
    const ab = { ...deployment.ab, deadlineSeconds: defaultAbDeadlineSeconds(e.label.horizon, deployment.ab.alpha) };
    return { ...e, promotion: { ...e.promotion, deployment: { ...deployment, ab } } };
  });

/**
 * Why an experiment file's A/B deadline is refused (one too short for its labels to decide in), or
 * undefined: checked on the file as written, since the schema reads stored inputs leniently.
 */
export function abDeadlineFileProblem(experiment: Experiment, raw: unknown): string | undefined {
  const written = (raw as { promotion?: { deployment?: { mode?: 'canary' | 'ab'; ab?: { deadlineSeconds?: number; alpha?: number } } } } | null)?.promotion?.deployment;
  if (written?.mode !== 'ab' || typeof written.ab?.deadlineSeconds !== 'number') return undefined;
  const problem = abDeadlineProblem({ mode: 'ab', ab: { deadlineSeconds: written.ab.deadlineSeconds, alpha: experiment.promotion.deployment?.ab?.alpha } }, experiment.label.horizon);
  return problem ? `promotion.deployment.${problem.path.join('.')}: ${problem.message}` : undefined;
}

export type Experiment = z.output<typeof experimentSchema>;
export type ExperimentInput = z.input<typeof experimentSchema>;
export type AlgorithmSearch = z.output<typeof algorithmSearchSchema>;
export type GuardsConfig = Experiment['guards'];

/** The plausibility bound for the experiment's label kind: defaults, then the experiment's overrides. */
export function plausibilityFor(experiment: { guards: GuardsConfig; label: { kind: Experiment['label']['kind'] } }): PlausibilityBound {
  const kind = experiment.label.kind;
  const legacy = kind === 'direction' && experiment.guards.plausibleDirectionAccuracy !== undefined ? { maxAccuracy: experiment.guards.plausibleDirectionAccuracy } : {};
  return { ...DEFAULT_PLAUSIBILITY[kind], ...legacy, ...(experiment.guards.plausibility[kind] ?? {}) };
}

/**
 * The experiment as a run given its own import request (a CLI flag, a schedule's --source) records
 * it: that request replaces the experiment's "import", so the registry's lineage and a retrain from
 * it name the data the run read, not a source it ignored. Unchanged without a request.
 */
export function experimentImporting(experiment: ExperimentInput, request: ExperimentInput['import'] | undefined): ExperimentInput {
  return request !== undefined && experiment.import !== undefined ? { ...experiment, import: request } : experiment;
}
