/**
 * Is the canary safe to widen? Judged from the prediction log of one step, over three kinds of
 * evidence:
 *
 * 1. Serving health of the canary (error rate, share of predictions over the p99 limit), per
 *    request, against the allowed rates and the reference's on the same window (serving-guards.ts).
 *    Known at once, so it fails the canary whatever the outcomes.
 * 2. Score shift: the canary's scores against its own out-of-sample score profile (without one,
 *    the reference's scores on the same symbol-days), with days as the units of significance
 *    (score-shift.ts). Also known at once.
 * 3. Paired hit rate on symbol-days where both predicted and the outcome has matured.
 *
 * The unit of evidence is the symbol-day, not the request. The API predicts the same vector for
 * every request of a symbol on a feature date, so a symbol polled 40 times a day is one
 * observation, not 40 (counting requests let one symbol-day meet minMaturedPairs alone, and two
 * equal models polled 7 times a day were rolled back 88% of the time at a nominal 5%). So the
 * requests both variants answered are collapsed to one pair per (canary version, reference
 * version, symbol, feature date of each), as lib/monitoring/live-predictions.ts keeps one sample per
 * symbol and day. When a symbol-day's repeats differ (a feature row revised during the day), the
 * pair takes, per model, the class most of its requests predicted (a tie: the class of their mean
 * probability, ≥ ½ is up) and the mean probability as its score: a deterministic rule that does not
 * depend on the order the requests came in.
 *
 * Verdict: `fail` when serving health, the score shift or the hit rate shows harm (below);
 * `pass` when the canary may go on, which depends on what a pass allows (`decision`): widening to
 * the next step, or promotion to champion; otherwise `inconclusive` (keep waiting).
 *
 * The hit-rate rule is ONE test over the whole rollout, however often it is looked at: every
 * matured paired symbol-day since the canary first served (the store path judges serving health and
 * the score shift on the step's window, `stepSince`, and the hit rate on everything since `since`),
 * not a fresh test per step at alpha each. Per-step tests at full alpha plus a cumulative one at the
 * last step rolled an equally good canary back in ~15% of simulated default rollouts (100 symbols,
 * 1-session labels) at a nominal 5%, and passed a step whenever a drop was not significant however
 * large it was ("38.0% vs 62.0% … p 0.0547 → pass"): a canary wrong on every symbol it disagreed on
 * (right 46% against the champion's 54%) was promoted in 14% of them.
 *
 * Each pair's difference is canary right − reference right (−1, 0 or 1). The symbols of one day
 * share its market move, and labels whose windows overlap (a 5-session label: Monday's and
 * Tuesday's outcomes share four sessions) make days up to `lags` = horizon − 1 trading days apart
 * dependent, so the unit of evidence is a cluster: a block of lags + 1 consecutive feature dates of
 * the matured pairs, with the sum of its pairs' differences and their count. On the clusters in date
 * order, three anytime-valid e-processes (lib/stats/anytime-mean.ts, a self-normalised normal mixture:
 * under its null its chance of ever reaching a bound c is at most 1/c, however often it is looked at):
 * - harm evidence, against "the canary is not worse" (mean difference ≥ 0): the canary FAILS once it
 *   reaches 1/alpha, at any step;
 * - margin evidence, against "the canary is worse by maxHitRateDrop or more" (mean difference ≤
 *   −maxHitRateDrop): promotion (`decision` 'promote', the last step) PASSES only once it reaches
 *   1/alpha, with serving health shown good, the score shift within bounds and at least
 *   minMaturedPairs pairs. Without that evidence the last step stays inconclusive: no evidence is
 *   not evidence of no harm.
 * - widening evidence, against "the canary is worse by 2 × maxHitRateDrop or more": an intermediate
 *   step or the shadow phase (`decision` 'widen') PASSES only once it reaches the widening bound
 *   max(1, widenTo / alpha), widenTo being the traffic share the pass moves the canary to (default
 *   1, full traffic: 1/alpha), with serving health shown good and minMaturedPairs pairs. So a canary
 *   that much worse reaches a share w with chance at most alpha / w however the steps are looked at
 *   (one process over the rollout, its running maximum, and the bounds rise with the share): at most
 *   alpha to full traffic, its expected share (chance × share) at most alpha at every step. A single
 *   1/alpha at every step gives the same guarantee at full traffic but held an equally good canary
 *   at the 5% step a median of 62 trading days instead of 45 (promoted after 75 instead of 65; 20
 *   rollouts, 1-session labels, bench/canary-rollouts.ts --widen-to full). Before, a step widened while the observed drop was within
 *   2 × maxHitRateDrop, read on whatever pairs there were: canaries 7–9.5 points worse reached full
 *   traffic before their rollback in most simulated rollouts.
 *
 * The price is time. Evidence is counted in clusters, not requests: on simulated default rollouts
 * (bench/canary-rollouts.ts: 100 symbols, 20 seeds; a champion right 54% of the time, a "flipped"
 * canary predicting its opposite on a share of the symbols) an equally good canary was promoted in
 * 20 of 20 after a median of 65 trading days with 1-session labels and 136 with 5-session ones (28
 * and 77 when widening read the observed drop; most of it now at the 5% step, whose 5 symbol-days a
 * day bring widening evidence slowly), none rolled back; canaries 8 and 9.5 points worse were never
 * promoted, and reached full traffic in 6 and 0 of 20 with 1-session labels (16 and 14 before). A
 * 2-point margin (the old default) needs far more
 * clusters than a rollout has, hence 5 points; a narrower one is a choice to wait longer.
 *
 * The shift rule fails when PSI > maxPsi AND its p-value < alpha AND the scores moved by more than
 * minScoreShift on average (the mean absolute difference of the quantiles), on one score per
 * symbol-day; what the scores are compared with and how the p-value treats days: score-shift.ts.
 * The effect size is needed because PSI and KS only see order: a canary agreeing with the champion
 * on every symbol-day, its scores 0.0008 above the champion's tied ones (14 × 0.98783, 8 ×
 * 0.01038), had KS D 0.636 (p 0.0002) and, with edges on the tied values, PSI 8.706.
 */
import { z } from 'zod';
import { BadInputError, describeValidationError } from '../errors';
import { nearestRankQuantileOfSorted, sortedAscending } from '../stats/quantiles';
import { meanAboveEvidence, meanBelowEvidence, type ClusterSum } from '../stats/anytime-mean';
import { judgeServing } from './serving-guards';
import { sql } from 'kysely';
import type { Database } from '../store/database';
import { LABEL, labelKey, parseCellKey, requestRowId, streamCells, succeeded, verifiedLabelStates, type Cell, type Cells, type StreamSpec, type TallyOptions } from './log-aggregates';
import type { RefusedBarsSummary } from '../store/bar-signature';
import type { RefusedLogRowsSummary } from '../serving/prediction-log-signature';
import { labelSpecsOf, overlapLags, type OutcomeKey, type PredictionWithOutcome } from './outcomes';
import type { ColumnProfile } from '../monitoring/reference-profile';
import { shiftAgainstProfile, shiftAgainstReference, type ScoreShift } from './score-shift';

export type { ScoreShift } from './score-shift';

// Strict, as the rest of a plan: a misspelt threshold ("maxHitRatDrop") was dropped and its default used.
export const canaryThresholdsSchema = z.strictObject({
  /**
   * Allowed share of the canary's predictions that fail: it fails when shown above this and above
   * the reference's error rate on the same window (serving-guards.ts).
   */
  maxErrorRate: z.number().min(0).max(1).default(0.01),
  /** Allowed p99: at most 1% of the canary's predictions slower, judged as maxErrorRate is. */
  maxP99LatencyMs: z.number().positive().default(50),
  /** Error rate that fails the canary when shown above it, whatever the reference's. */
  grossErrorRate: z.number().gt(0).max(1).default(0.2),
  /** Canary predictions in the window before the serving guards can fail it (or a step pass). */
  minServingPredictions: z.number().int().min(1).default(50),
  /** Matured, labelled pairs (symbol-days, however often each was requested) needed before the hit rates are judged. */
  minMaturedPairs: z.number().int().min(1).default(30),
  /**
   * Margin of the promotion (absolute, 0.05 = 5 points): the canary is promoted only on evidence at
   * 1/alpha that its hit rate is less than this much below the reference's, over the whole rollout;
   * an intermediate step widens only on evidence that it is less than twice this much below (see the
   * header). A narrower margin needs many more weeks of matured outcomes.
   */
  maxHitRateDrop: z.number().min(0).max(1).default(0.05),
  maxPsi: z.number().min(0).default(0.25),
  /**
   * Smallest mean absolute difference of the canary's and the reference's score quantiles (in
   * probability units) that counts as a shift; below it the shift rule passes whatever PSI and KS say.
   */
  minScoreShift: z.number().min(0).max(1).default(0.01),
  /** Level of the hit-rate rule (evidence ≥ 1/alpha decides, anytime-valid over the rollout) and of the score-shift test. */
  alpha: z.number().gt(0).lt(1).default(0.05),
});
export type CanaryThresholds = z.infer<typeof canaryThresholdsSchema>;
export type CanaryThresholdsInput = z.input<typeof canaryThresholdsSchema>;

export interface VariantServingStats {
  variant: string;
  /** All predictions of the variant, served or not. */
  predictions: number;
  /** Predictions that were the response. */
  served: number;
  /** Predictions with an error or without a probability. */
  errors: number;
  errorRate: number | null;
  /** Nearest-rank latency percentiles over all the variant's predictions, in ms. */
  p50LatencyMs: number | null;
  p99LatencyMs: number | null;
  /** Predictions slower than maxP99LatencyMs: what the latency guard judges. */
  slow: number;
}

export interface PairedComparison {
  /** Requests where both the canary and the reference returned a prediction. */
  requests: number;
  /**
   * Of those, symbol-days (one per symbol and feature date, however often requested) with a matured
   * label: the pairs the hit rates below are computed on.
   */
  pairs: number;
  /** Paired symbol-days whose outcome has not matured yet. */
  unmatured: number;
  /** Paired symbol-days matured without a label (dead zone, missing bar). */
  noLabel: number;
  /** Paired symbol-days on or before a version's trainedThrough (possibly its training rows): left out. */
  inTraining: number;
  /** Distinct feature dates of the matured pairs. */
  days: number;
  /**
   * Trading days apart within which symbol-days were taken for dependent (label horizon − 1, for
   * labels whose windows overlap; 0: each day on its own): a cluster is lags + 1 consecutive dates.
   */
  lags: number;
  /** Clusters (blocks of lags + 1 consecutive feature dates of the matured pairs): the units of the evidence. */
  clusters: number;
  canaryHitRate: number | null;
  referenceHitRate: number | null;
  /** canaryHitRate − referenceHitRate. */
  difference: number | null;
  /** Discordant pairs (symbol-days): only the canary right (b), only the reference right (c). */
  canaryOnlyCorrect: number;
  referenceOnlyCorrect: number;
  /**
   * Anytime-valid evidence (running maximum of the e-process over the clusters) that the canary's
   * hit rate is below the reference's: the canary fails once it reaches 1/alpha.
   */
  harmEvidence: number;
  /**
   * Anytime-valid evidence that the canary's hit rate is less than maxHitRateDrop below the
   * reference's: promotion passes only once it reaches 1/alpha.
   */
  marginEvidence: number;
  /**
   * Anytime-valid evidence that it is less than 2 × maxHitRateDrop below: a widening passes only once
   * it reaches the widening bound (see the header).
   */
  widenEvidence: number;
}

export type CanaryVerdict = 'pass' | 'fail' | 'inconclusive';

export interface CanaryAnalysis {
  canary: string;
  reference: string;
  thresholds: CanaryThresholds;
  /** Every variant in the rows, by name. */
  variants: VariantServingStats[];
  paired: PairedComparison;
  shift: ScoreShift;
  /** Paired symbol-days whose outcome has not matured yet (same as paired.unmatured). */
  unmatured: number;
  verdict: CanaryVerdict;
  reasons: string[];
  /**
   * With MODEL_SIGNING_KEY: bars the outcomes would be measured on that no held key vouches for
   * (edited after the predictions were served, say). No outcome was counted: the verdict is
   * inconclusive (fail only on serving health or the score shift, which read no bars).
   */
  unverifiedBars?: RefusedBarsSummary;
  /**
   * With MODEL_SIGNING_KEY: prediction_log rows of the window no held key vouches for (edited after
   * the API logged them, say). None was counted, and the verdict is inconclusive whatever the rest
   * shows: leaving rows out can move a verdict either way.
   */
  unverifiedLog?: RefusedLogRowsSummary;
}

export interface CanaryAnalysisOptions {
  /** Variant name of the canary. */
  canary: string;
  /** Variant it is compared with, normally 'champion'. */
  reference: string;
  /**
   * The versions under test: rows of the canary (reference) variant served by another version are
   * left out. A variant name is reused by every deployment of the model, so without them the rows
   * of another deployment's canary (or a previous champion's) would be judged as this one's.
   */
  canaryVersion?: number;
  referenceVersion?: number;
  /**
   * The last decision day each version learnt from (its lineage's trainedThrough): a symbol-day on
   * or before it may be a row the version was trained on, whose outcome it has seen, so it is no
   * evidence (counted as inTraining, never judged). A replayed old feature vector, or a client asking
   * for old dates, would otherwise score a model on its own training rows.
   */
  trainedThrough?: { canary?: string; reference?: string };
  thresholds?: CanaryThresholdsInput;
  /**
   * Trading days apart within which symbol-days are dependent: label horizon − 1, for labels whose
   * windows overlap. Default: in the store, from the verified label specs of both versions (the
   * longest horizon); in memory 0 (each day on its own).
   */
  lags?: number;
  /**
   * The canary version's expected scores: the score histogram of its reference profile built from
   * its walk-forward (out-of-sample) predictions at registration, verified by the caller. The
   * score-shift rule compares the canary's live scores with it (score-shift.ts). Without it the
   * rule falls back to the reference's scores on the same symbol-days, with a note naming
   * `canaryScoreProfileMissing` (why there is none).
   */
  canaryScoreProfile?: ColumnProfile;
  canaryScoreProfileMissing?: string;
  /**
   * What a pass allows: 'widen' (an intermediate step, or the shadow phase: the next step's traffic)
   * or 'promote' (the last step: the canary becomes champion), whose pass needs evidence that the
   * hit rate is within the margin (see the header). Default 'promote'.
   */
  decision?: CanaryDecision;
  /**
   * With 'widen': the traffic share (0–1] the canary serves once the pass moves it on (the next
   * step's, or the first step's after the shadow phase). The widening evidence must reach
   * max(1, widenTo / alpha): the chance that a canary worse by twice the margin gets there is at
   * most alpha / widenTo. Default 1 (full traffic: 1/alpha).
   */
  widenTo?: number;
  /**
   * Start of the step being judged (ISO time, at or after `since`): serving health and the score
   * shift are judged on the rows logged from then on (this step's weight), the hit rate on every row
   * (the whole rollout). Default: every row for all three.
   */
  stepSince?: string;
}

export type CanaryDecision = 'widen' | 'promote';

// A probability that is not a finite number is no prediction (NaN sent the score-shift measure into a loop).
const isError = (r: PredictionWithOutcome) => r.error !== null || r.probability === null || !Number.isFinite(r.probability);

/** The class the prediction stood for; the logged class when present, else the probability at ½. */
function predictedClassOf(r: PredictionWithOutcome): number {
  return r.predictedClass ?? ((r.probability as number) >= 0.5 ? 1 : 0);
}

export function servingStatsOf(variant: string, rows: readonly PredictionWithOutcome[], latencyLimitMs: number): VariantServingStats {
  const errors = rows.filter(isError).length;
  const latency = sortedAscending(rows.map((r) => r.latencyUs / 1000));
  const n = rows.length;
  return {
    variant,
    predictions: n,
    served: rows.filter((r) => r.served).length,
    errors,
    errorRate: n > 0 ? errors / n : null,
    p50LatencyMs: n > 0 ? nearestRankQuantileOfSorted(latency, 0.5) : null,
    p99LatencyMs: n > 0 ? nearestRankQuantileOfSorted(latency, 0.99) : null,
    slow: latency.filter((ms) => ms > latencyLimitMs).length,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const num = (x: number, digits = 3) => x.toFixed(digits);

function parseThresholds(input: CanaryThresholdsInput | undefined): CanaryThresholds {
  // These are a plan's, checked when it was given: a running deployment's plan, written by an older
  // version, may hold a threshold this one no longer reads, which must not stop its analyses.
  const parsed = canaryThresholdsSchema.strip().safeParse(input ?? {});
  if (!parsed.success) throw new BadInputError(`invalid canary thresholds: ${describeValidationError(parsed.error)}`);
  return parsed.data;
}

/** Counts over the symbol-days both variants answered without error. */
export interface PairCounts {
  /** Requests where both predicted. */
  requests: number;
  /** Matured, labelled symbol-days. */
  pairs: number;
  unmatured: number;
  noLabel: number;
  canaryHits: number;
  referenceHits: number;
  /** Only the canary right. */
  b: number;
  /** Only the reference right. */
  c: number;
  /** Per feature date of the matured pairs (ascending): pairs only the canary got right − pairs only the reference got right. */
  daySums: number[];
  /** Matured pairs per feature date (same order). */
  dayPairs: number[];
  /** Symbol-days on or before a version's trainedThrough: possibly its training rows, left out of every count above but requests. */
  inTraining: number;
}

/** Everything the verdict is computed from; from rows (analyseCanary) or from store aggregates (analyseCanaryInStore). */
export interface CanaryEvidence {
  /** Every variant in the window, sorted by name. */
  variants: VariantServingStats[];
  pairCounts: PairCounts;
  shift: ScoreShift;
  /** The outcomes' bars were refused (outcomes.ts): no pair was labelled. */
  unverifiedBars?: RefusedBarsSummary;
  /** Log rows were refused (log-aggregates.ts): left out of everything above. */
  unverifiedLog?: RefusedLogRowsSummary;
}

/** The requests of one symbol-day both variants answered: the unit a pair is. */
interface PairUnit {
  /** Feature date of the canary's predictions (the day the pair is clustered by). */
  day: string;
  /** Feature date of the reference's predictions. */
  referenceDay: string;
  requests: number;
  /** Requests each model predicted class 1 (up) on. */
  canaryUp: number;
  referenceUp: number;
  /** Σ of each model's probabilities. */
  canarySum: number;
  referenceSum: number;
  /** Label state (LABEL) of each model's key. */
  canaryState: number;
  referenceState: number;
}

/** The class a symbol-day stood for: the majority of its requests' classes; a tie, the class of their mean probability. */
function unitClass(up: number, requests: number, sum: number): number {
  if (2 * up !== requests) return 2 * up > requests ? 1 : 0;
  return sum / requests >= 0.5 ? 1 : 0;
}

/**
 * The score of a symbol-day: the mean of its probabilities, to 12 decimals so that the same
 * probabilities summed in another order (the database's, the rows') give the same score.
 */
function unitScore(sum: number, requests: number): number {
  return Math.round((sum / requests) * 1e12) / 1e12;
}

const stateOf = (r: PredictionWithOutcome): number => (!r.matured ? LABEL.unmatured : r.outcome === null ? LABEL.noLabel : r.outcome);

/** Pair counts, the day sums of the sign-flip test and the score shift of the symbol-day pairs. */
function pairEvidenceOf(units: Iterable<PairUnit>, thresholds: CanaryThresholds, trainedThrough: CanaryAnalysisOptions['trainedThrough'] = {}, scoreProfile?: ColumnProfile): { pairCounts: PairCounts; shift: ScoreShift } {
  const counts: PairCounts = { requests: 0, pairs: 0, unmatured: 0, noLabel: 0, canaryHits: 0, referenceHits: 0, b: 0, c: 0, daySums: [], dayPairs: [], inTraining: 0 };
  const canaryScores: number[] = [];
  const referenceScores: number[] = [];
  const scoreDays: string[] = [];
  const byDay = new Map<string, number>();
  const pairsByDay = new Map<string, number>();
  const seen = (day: string, through: string | undefined) => through !== undefined && day.slice(0, 10) <= through;
  for (const u of units) {
    counts.requests += u.requests;
    if (seen(u.day, trainedThrough.canary) || seen(u.referenceDay, trainedThrough.reference)) {
      counts.inTraining++;
      continue;
    }
    canaryScores.push(unitScore(u.canarySum, u.requests));
    referenceScores.push(unitScore(u.referenceSum, u.requests));
    scoreDays.push(u.day);
    if (u.canaryState === LABEL.unmatured || u.referenceState === LABEL.unmatured) {
      counts.unmatured++;
      continue;
    }
    if (u.canaryState === LABEL.noLabel || u.referenceState === LABEL.noLabel) {
      counts.noLabel++;
      continue;
    }
    counts.pairs++;
    const canaryRight = unitClass(u.canaryUp, u.requests, u.canarySum) === u.canaryState;
    const referenceRight = unitClass(u.referenceUp, u.requests, u.referenceSum) === u.referenceState;
    if (canaryRight) counts.canaryHits++;
    if (referenceRight) counts.referenceHits++;
    const d = Number(canaryRight) - Number(referenceRight);
    if (d > 0) counts.b++;
    if (d < 0) counts.c++;
    byDay.set(u.day, (byDay.get(u.day) ?? 0) + d);
    pairsByDay.set(u.day, (pairsByDay.get(u.day) ?? 0) + 1);
  }
  const dates = [...byDay.keys()].sort();
  counts.daySums = dates.map((day) => byDay.get(day) as number);
  counts.dayPairs = dates.map((day) => pairsByDay.get(day) as number);
  const shift = scoreProfile ? shiftAgainstProfile(scoreProfile, canaryScores, scoreDays) : shiftAgainstReference(canaryScores, referenceScores, scoreDays, thresholds);
  return { pairCounts: counts, shift };
}

function checkOptions(options: CanaryAnalysisOptions): CanaryThresholds {
  if (options.canary === options.reference) throw new BadInputError(`the canary and the reference must be different variants, both are "${options.canary}"`);
  for (const key of ['canaryVersion', 'referenceVersion'] as const) {
    const v = options[key];
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new BadInputError(`${key} must be a version number, got ${JSON.stringify(v)}`);
  }
  if (options.lags !== undefined && !(Number.isInteger(options.lags) && options.lags >= 0)) throw new BadInputError(`lags must be an integer >= 0 (label horizon − 1), got ${JSON.stringify(options.lags)}`);
  if (options.decision !== undefined && options.decision !== 'widen' && options.decision !== 'promote') throw new BadInputError(`decision must be "widen" or "promote", got ${JSON.stringify(options.decision)}`);
  if (options.widenTo !== undefined && !(Number.isFinite(options.widenTo) && options.widenTo > 0 && options.widenTo <= 1)) throw new BadInputError(`widenTo must be a traffic share in (0, 1], got ${JSON.stringify(options.widenTo)}`);
  if (options.stepSince !== undefined && Number.isNaN(Date.parse(options.stepSince))) throw new BadInputError(`stepSince must be an ISO time such as 2024-05-01T14:30:00Z, got ${JSON.stringify(options.stepSince)}`);
  return parseThresholds(options.thresholds);
}

/** Whether a row of `variant` by `version` belongs to the comparison (other variants are reported as they are). */
function underTest(variant: string, version: number, options: Pick<CanaryAnalysisOptions, 'canary' | 'reference' | 'canaryVersion' | 'referenceVersion'>): boolean {
  if (variant === options.canary) return options.canaryVersion === undefined || version === options.canaryVersion;
  if (variant === options.reference) return options.referenceVersion === undefined || version === options.referenceVersion;
  return true;
}

/** The evidence of rows held in memory (rows of other versions under the compared variant names left out). */
export function canaryEvidenceOf(rows: readonly PredictionWithOutcome[], canary: string, reference: string, versions: Pick<CanaryAnalysisOptions, 'canaryVersion' | 'referenceVersion' | 'trainedThrough' | 'canaryScoreProfile' | 'thresholds'> = {}): CanaryEvidence {
  const byVariant = new Map<string, PredictionWithOutcome[]>();
  for (const r of rows) {
    if (!underTest(r.variant, r.version, { canary, reference, ...versions })) continue;
    const list = byVariant.get(r.variant);
    if (list) list.push(r);
    else byVariant.set(r.variant, [r]);
  }
  const latencyLimitMs = parseThresholds(versions.thresholds).maxP99LatencyMs;
  const variants = [...byVariant.keys()].sort().map((v) => servingStatsOf(v, byVariant.get(v) as PredictionWithOutcome[], latencyLimitMs));

  // Pairs: the canary's and the reference's predictions on the same request, one per symbol-day.
  const referenceOf = new Map<string, PredictionWithOutcome>();
  for (const r of byVariant.get(reference) ?? []) referenceOf.set(r.requestId, r);
  const units = new Map<string, PairUnit>();
  for (const x of byVariant.get(canary) ?? []) {
    const y = referenceOf.get(x.requestId);
    if (!y || isError(x) || isError(y)) continue;
    const key = `${x.version}\u0000${y.version}\u0000${x.symbol}\u0000${x.asOf}\u0000${y.asOf}`;
    let u = units.get(key);
    if (!u) units.set(key, (u = { day: x.asOf, referenceDay: y.asOf, requests: 0, canaryUp: 0, referenceUp: 0, canarySum: 0, referenceSum: 0, canaryState: stateOf(x), referenceState: stateOf(y) }));
    u.requests++;
    u.canaryUp += predictedClassOf(x);
    u.referenceUp += predictedClassOf(y);
    u.canarySum += x.probability as number;
    u.referenceSum += y.probability as number;
  }
  return { variants, ...pairEvidenceOf(units.values(), parseThresholds(versions.thresholds), versions.trainedThrough, versions.canaryScoreProfile) };
}

/** Judges the canary on the logged predictions (with outcomes) held in memory. */
export function analyseCanary(rows: readonly PredictionWithOutcome[], options: CanaryAnalysisOptions): CanaryAnalysis {
  const thresholds = checkOptions(options);
  const rollout = canaryEvidenceOf(rows, options.canary, options.reference, options);
  if (options.stepSince === undefined) return judgeCanary(rollout, rollout, options, thresholds, options.lags ?? 0);
  const from = Date.parse(options.stepSince);
  const step = canaryEvidenceOf(rows.filter((r) => Date.parse(r.createdAt) >= from), options.canary, options.reference, options);
  return judgeCanary(step, rollout, options, thresholds, options.lags ?? 0);
}

export interface CanaryStoreQuery extends CanaryAnalysisOptions {
  model: string;
  /**
   * Inclusive lower bound on created_at, normally when the deployment began: the hit rate is judged
   * on everything since (and serving health and the score shift too, unless `stepSince` is later).
   */
  since: string;
  /** Exclusive upper bound on created_at; none: everything logged so far. */
  until?: string;
}

/**
 * Judges the canary on the prediction log in the store, from running totals kept by the database
 * (see log-aggregates.ts): an analysis reads the rows logged since the previous one and cells
 * bounded by variants × latencies and symbol-days × predicted classes, however long the rollout has
 * run. Everything equals analyseCanary's on the same rows: the pairs are symbol-days either way,
 * and their scores are means of the same probabilities (to 12 decimals, so the order of the sums
 * does not matter).
 */
export async function analyseCanaryInStore(store: Database, query: CanaryStoreQuery, tallies: TallyOptions = {}): Promise<CanaryAnalysis> {
  const thresholds = checkOptions(query);
  if (query.stepSince !== undefined && !(Date.parse(query.stepSince) >= Date.parse(query.since))) {
    throw new BadInputError(`stepSince ${query.stepSince} must be a time at or after since ${query.since}: a step's window lies within the rollout's`);
  }
  const rollout = await evidenceInStore(store, query, query.since, thresholds, tallies);
  const step = query.stepSince === undefined || query.stepSince === query.since ? rollout : await evidenceInStore(store, query, query.stepSince, thresholds, tallies);
  return judgeCanary(step.evidence, rollout.evidence, query, thresholds, rollout.lags);
}

/** The evidence of the rows logged from `since` (to query.until), and the lags of the versions found in them. */
async function evidenceInStore(store: Database, query: CanaryStoreQuery, since: string, thresholds: CanaryThresholds, tallies: TallyOptions): Promise<{ evidence: CanaryEvidence; lags: number }> {
  const { cells, unverifiedLog } = await streamCells(store, { model: query.model, since, until: query.until }, canaryStream(query), tallies);
  const keys: OutcomeKey[] = [];
  for (const [key] of cells) {
    const [kind, cv, rv, symbol, canaryAsOf, referenceAsOf] = parseCellKey(key);
    if (kind !== 'k') continue;
    keys.push({ version: Number(cv), symbol: String(symbol), asOf: String(canaryAsOf) }, { version: Number(rv), symbol: String(symbol), asOf: String(referenceAsOf) });
  }
  const versions = new Set(keys.map((k) => k.version));
  const specs = versions.size > 0 ? await labelSpecsOf(store, query.model, versions) : undefined;
  const { labels, unverifiedBars } = await verifiedLabelStates(store, query.model, keys, specs);
  const lags = query.lags ?? (specs ? overlapLags([...versions].map(specs)) : 0);
  const evidence = canaryEvidenceOfCells(cells, labels, thresholds, query.trainedThrough, query.canaryScoreProfile);
  return { evidence: { ...evidence, ...(unverifiedBars ? { unverifiedBars } : {}), ...(unverifiedLog ? { unverifiedLog } : {}) }, lags };
}

/**
 * The cells of a canary comparison: per variant, counts by (served, failed, latency in µs); per
 * request both variants answered, counts and the sums of both probabilities by (canary version,
 * reference version, symbol, asOf of each, canary class, reference class): a symbol-day's pair is
 * the sum of its cells. With versions, only rows of those versions count under the canary and
 * reference names (as underTest).
 */
function canaryStream(options: CanaryAnalysisOptions): StreamSpec {
  const { canary, reference, canaryVersion, referenceVersion } = options;
  // Streams of analyses without versions keep their identity (and their running totals).
  const versions = { ...(canaryVersion !== undefined ? { canaryVersion } : {}), ...(referenceVersion !== undefined ? { referenceVersion } : {}) };
  const versionOf = (alias: string, version: number | undefined) => (version === undefined ? sql`1 = 1` : sql`${sql.ref(`${alias}.version`)} = ${version}`);
  return {
    // `cells` names the layout: streams of the per-request layout (score histograms) are not reused.
    definition: { kind: 'canary', cells: 'symbol-day', canary, reference, ...versions },
    async aggregate(w, range) {
      const cells: Cell[] = [];
      const rowUnderTest = sql`(p.variant not in (${canary}, ${reference}) or (p.variant = ${canary} and ${versionOf('p', canaryVersion)}) or (p.variant = ${reference} and ${versionOf('p', referenceVersion)}))`;
      const serving = await w.rows(
        sql<{ variant: string; served: number; failed: number; latency_us: number; n: number }>`select p.variant, p.served, case when ${succeeded('p')} then 0 else 1 end as failed, p.latency_us, count(*) as n
          from ${w.from('p', 'logged')} where ${w.where('p')} and ${w.logged('p', range)} and ${rowUnderTest} group by p.variant, p.served, failed, p.latency_us`,
      );
      for (const r of serving) cells.push({ key: ['v', r.variant, Number(r.served), Number(r.failed), Number(r.latency_us)], n: Number(r.n), s1: 0, s2: 0 });
      // A pair belongs to the range of the later of its two rows: driven once from the canary's rows
      // logged in the range (the reference's logged before its end) and once from the reference's
      // rows logged in the range (the canary's logged before its start), so no pair counts twice.
      const passes = [
        { drive: 'c', other: 'r', driveVariant: canary, otherVariant: reference, otherLogged: range.to === undefined ? sql`1 = 1` : w.loggedBefore('r', range.to) },
        { drive: 'r', other: 'c', driveVariant: reference, otherVariant: canary, otherLogged: w.loggedBefore('c', range.from) },
      ];
      for (const pass of passes) {
        const then = sql.raw(w.driver === 'mysql' ? 'straight_join' : 'cross join');
        const rows = await w.rows(
          sql<{ cv: number; rv: number; symbol: string; c_as_of: string; r_as_of: string; pcc: number; pcr: number; n: number; sc: number; sr: number }>`select c.version as cv, r.version as rv, c.symbol as symbol, c.as_of as c_as_of, r.as_of as r_as_of,
              ${w.predictedClass('c')} as pcc, ${w.predictedClass('r')} as pcr, count(*) as n, sum(c.probability) as sc, sum(r.probability) as sr
            from ${w.from(pass.drive, 'variant')}
            ${then} prediction_log ${sql.raw(pass.other)} on ${sql.ref(`${pass.other}.id`)} = ${requestRowId(w.driver, pass.drive, pass.otherVariant)}
            where ${w.where('c')} and c.variant = ${canary} and ${versionOf('c', canaryVersion)} and ${w.where('r')} and r.variant = ${reference} and ${versionOf('r', referenceVersion)} and ${succeeded('c')} and ${succeeded('r')}
              and ${sql.ref(`${pass.drive}.variant`)} = ${pass.driveVariant} and ${w.logged(pass.drive, range)} and ${pass.otherLogged}
            group by c.version, r.version, c.symbol, c.as_of, r.as_of, pcc, pcr`,
        );
        for (const r of rows) cells.push({ key: ['k', Number(r.cv), Number(r.rv), String(r.symbol), String(r.c_as_of), String(r.r_as_of), Number(r.pcc), Number(r.pcr)], n: Number(r.n), s1: Number(r.sc), s2: Number(r.sr) });
      }
      return cells;
    },
  };
}

/** Per-variant counts, exact nearest-rank latency percentiles, and the symbol-day pairs under the current labels. */
function canaryEvidenceOfCells(cells: Cells, labels: Map<string, number>, thresholds: CanaryThresholds, trainedThrough: CanaryAnalysisOptions['trainedThrough'], scoreProfile: ColumnProfile | undefined): CanaryEvidence {
  interface Acc {
    predictions: number;
    served: number;
    errors: number;
    latency: Map<number, number>;
  }
  const acc = new Map<string, Acc>();
  const units = new Map<string, PairUnit>();
  for (const [key, { n, s1, s2 }] of cells) {
    if (n === 0) continue;
    const k = parseCellKey(key);
    if (k[0] === 'v') {
      const [, variant, served, failed, latencyUs] = k as [string, string, number, number, number];
      let a = acc.get(variant);
      if (!a) acc.set(variant, (a = { predictions: 0, served: 0, errors: 0, latency: new Map() }));
      a.predictions += n;
      if (served === 1) a.served += n;
      if (failed === 1) a.errors += n;
      a.latency.set(latencyUs, (a.latency.get(latencyUs) ?? 0) + n);
    } else if (k[0] === 'k') {
      const [, cv, rv, symbol, canaryAsOf, referenceAsOf, pcc, pcr] = k as [string, number, number, string, string, string, number, number];
      const unitKey = `${cv}\u0000${rv}\u0000${symbol}\u0000${canaryAsOf}\u0000${referenceAsOf}`;
      let u = units.get(unitKey);
      if (!u) {
        const canaryState = labels.get(labelKey(cv, symbol, canaryAsOf)) ?? LABEL.unmatured;
        const referenceState = labels.get(labelKey(rv, symbol, referenceAsOf)) ?? LABEL.unmatured;
        units.set(unitKey, (u = { day: canaryAsOf, referenceDay: referenceAsOf, requests: 0, canaryUp: 0, referenceUp: 0, canarySum: 0, referenceSum: 0, canaryState, referenceState }));
      }
      u.requests += n;
      if (pcc === 1) u.canaryUp += n;
      if (pcr === 1) u.referenceUp += n;
      u.canarySum += s1;
      u.referenceSum += s2;
    }
  }
  // Nearest-rank percentile of a latency histogram, as nearestRankQuantileOfSorted on the rows.
  const percentile = (latency: Map<number, number>, total: number, q: number): number => {
    const index = Math.max(0, Math.ceil(q * total) - 1);
    let below = 0;
    for (const [latencyUs, n] of [...latency.entries()].sort((x, y) => x[0] - y[0])) {
      if (index < below + n) return latencyUs / 1000;
      below += n;
    }
    throw new Error(`latency histogram holds fewer than ${total} predictions`);
  };
  const variants = [...acc.keys()].sort().map((variant): VariantServingStats => {
    const a = acc.get(variant) as Acc;
    return {
      variant,
      predictions: a.predictions,
      served: a.served,
      errors: a.errors,
      errorRate: a.errors / a.predictions,
      p50LatencyMs: percentile(a.latency, a.predictions, 0.5),
      p99LatencyMs: percentile(a.latency, a.predictions, 0.99),
      slow: [...a.latency].reduce((sum, [latencyUs, n]) => (latencyUs / 1000 > thresholds.maxP99LatencyMs ? sum + n : sum), 0),
    };
  });
  return { variants, ...pairEvidenceOf(units.values(), thresholds, trainedThrough, scoreProfile) };
}

/**
 * The clusters of the hit-rate evidence: blocks of lags + 1 consecutive feature dates of the matured
 * pairs (ascending), each the sum of its pairs' differences (canary right − reference right) and
 * their count.
 */
export function hitRateClusters(daySums: readonly number[], dayPairs: readonly number[], lags: number): ClusterSum[] {
  const clusters: ClusterSum[] = [];
  daySums.forEach((sum, i) => {
    if (i % (lags + 1) === 0) clusters.push({ sum: 0, count: 0 });
    const c = clusters[clusters.length - 1];
    c.sum += sum;
    c.count += dayPairs[i];
  });
  return clusters;
}

const logRefused = (refused: RefusedLogRowsSummary) => `not judged: the window holds prediction log rows MODEL_SIGNING_KEY does not vouch for, left out of every count (${refused.reason})`;

const evidenceText = (e: number) => (e >= 1e6 ? e.toExponential(2) : e >= 100 ? e.toFixed(0) : e.toFixed(2));

/** The verdict on evidence from either source: serving health and shift from the step's, the hit rate from the rollout's. */
function judgeCanary(step: CanaryEvidence, rollout: CanaryEvidence, options: CanaryAnalysisOptions, thresholds: CanaryThresholds, lags: number): CanaryAnalysis {
  const { canary, reference } = options;
  const decision = options.decision ?? 'promote';
  const { alpha, maxHitRateDrop: margin } = thresholds;
  const { variants, shift } = step;
  const { pairs, unmatured, noLabel, canaryHits, referenceHits, b, c, daySums, dayPairs, inTraining } = rollout.pairCounts;
  const canaryStats = variants.find((v) => v.variant === canary) ?? servingStatsOf(canary, [], thresholds.maxP99LatencyMs);
  const clusters = hitRateClusters(daySums, dayPairs, lags);
  const harm = meanBelowEvidence(clusters, 0);
  const within = meanAboveEvidence(clusters, -margin);
  const widening = meanAboveEvidence(clusters, -2 * margin);
  const days = daySums.length;
  const paired: PairedComparison = {
    requests: rollout.pairCounts.requests,
    pairs,
    unmatured,
    noLabel,
    inTraining,
    days,
    lags,
    clusters: harm.clusters,
    canaryHitRate: pairs > 0 ? canaryHits / pairs : null,
    referenceHitRate: pairs > 0 ? referenceHits / pairs : null,
    difference: pairs > 0 ? (b - c) / pairs : null,
    canaryOnlyCorrect: b,
    referenceOnlyCorrect: c,
    harmEvidence: harm.evidence,
    marginEvidence: within.evidence,
    widenEvidence: widening.evidence,
  };
  const unverifiedBars = rollout.unverifiedBars ?? step.unverifiedBars;
  const unverifiedLog = rollout.unverifiedLog ?? step.unverifiedLog;
  const result = (verdict: CanaryVerdict, reasons: string[]): CanaryAnalysis => ({ canary, reference, thresholds, variants, paired, shift, unmatured, verdict, reasons, ...(unverifiedBars ? { unverifiedBars } : {}), ...(unverifiedLog ? { unverifiedLog } : {}) });

  const failures: string[] = [];
  const notes: string[] = [];
  if (inTraining > 0) notes.push(`${inTraining} paired symbol-day${inTraining === 1 ? '' : 's'} dated on or before a version's last training day left out (their outcomes may be rows it learnt from: features replayed or asked for old dates)`);
  if (canaryStats.predictions === 0) return result('inconclusive', [...(unverifiedLog ? [logRefused(unverifiedLog)] : []), `no predictions of variant "${canary}" in the window: is traffic routed to it?`]);
  const serving = judgeServing(canaryStats, variants.find((v) => v.variant === reference), thresholds, { subject: 'canary', reference });
  failures.push(...serving.failures);
  notes.push(...serving.notes);
  const fallback = shift.against === 'reference' ? `no out-of-sample score profile of the canary version (${options.canaryScoreProfileMissing ?? 'none given'}): its scores were compared with "${reference}"'s on the same symbol-days, which a canary that is simply a different model can fail` : undefined;
  if (shift.psi !== null && shift.meanShift !== null) {
    const p = shift.pValue === null ? 'not computed: the size is within the thresholds' : num(shift.pValue, 4);
    const test =
      shift.against === 'canary-profile'
        ? `against the canary version's own out-of-sample scores: PSI ${num(shift.psi)}, day-clustered p ${p}`
        : `against "${reference}": PSI ${num(shift.psi)}, KS D ${num(shift.ksStatistic as number)} (p ${p}, with the days permuted)`;
    const text = `score shift of ${shift.pairs} symbol-days over ${shift.days} day${shift.days === 1 ? '' : 's'} ${test}, mean score shift ${num(shift.meanShift, 4)}`;
    if (shift.psi > thresholds.maxPsi && shift.pValue !== null && shift.pValue < alpha && shift.meanShift > thresholds.minScoreShift) {
      failures.push(`${text} exceeds PSI ${thresholds.maxPsi} and a mean shift of ${thresholds.minScoreShift}, and is significant at ${alpha}${fallback ? ` (${fallback})` : ''}`);
    } else notes.push(`${text}: within PSI ${thresholds.maxPsi} or a mean shift of ${thresholds.minScoreShift}, or not significant at ${alpha}`);
  } else notes.push(`no requests with predictions from both "${canary}" and "${reference}" in the step: the score shift cannot be judged (is the reference predicting on canary requests?)`);
  if (fallback && shift.pairs > 0) notes.push(fallback);

  // The hit rates over the whole rollout, with both evidences and what they are judged against.
  const bound = 1 / alpha;
  // The chance that a canary worse by twice the margin reaches share w is at most 1 / (this bound) = alpha / w.
  const widenTo = options.widenTo ?? 1;
  const widenBound = Math.max(1, widenTo / alpha);
  const cluster = lags === 0 ? 'a feature date' : `${lags + 1} consecutive feature dates (outcomes less than ${lags + 1} trading days apart overlap)`;
  const hitText =
    pairs === 0
      ? `no matured paired symbol-days over the rollout yet (${unmatured} await their outcome)`
      : `paired hit rate over the rollout canary ${pct(paired.canaryHitRate as number)} vs ${reference} ${pct(paired.referenceHitRate as number)} (difference ${(100 * (paired.difference as number)).toFixed(1)} points) on ${pairs} symbol-days over ${days} day${days === 1 ? '' : 's'} in ${harm.clusters} cluster${harm.clusters === 1 ? '' : 's'} of ${cluster}; evidence the canary is worse ${evidenceText(harm.evidence)}, evidence it is less than ${(100 * margin).toFixed(1)} points worse ${evidenceText(within.evidence)} (each decides at 1/alpha = ${evidenceText(bound)})${decision === 'widen' ? `, evidence it is less than ${(200 * margin).toFixed(1)} points worse ${evidenceText(widening.evidence)} (widens at ${evidenceText(widenBound)})` : ''}`;
  if (harm.evidence >= bound) failures.push(`${hitText}: the canary is worse (evidence ${evidenceText(harm.evidence)} ≥ ${evidenceText(bound)})`);
  const hitRateRefused = unverifiedBars ? `hit rate not judged: no outcome is measured on bars MODEL_SIGNING_KEY does not vouch for (${unverifiedBars.reason})` : undefined;
  // Rows left out can move any part of the verdict either way: neither passed nor failed while they are in the window.
  if (unverifiedLog) return result('inconclusive', [logRefused(unverifiedLog), ...failures, ...(hitRateRefused ? [hitRateRefused] : []), ...notes]);
  if (failures.length > 0) return result('fail', hitRateRefused ? [...failures, hitRateRefused] : failures);
  // Neither passed nor failed on outcomes from edited bars: held until they are imported again.
  if (hitRateRefused) return result('inconclusive', [hitRateRefused, ...notes]);

  if (pairs < thresholds.minMaturedPairs) {
    return result('inconclusive', [`only ${pairs} matured pairs over the rollout (need ${thresholds.minMaturedPairs}; a pair is a symbol-day, however often it was requested); ${unmatured} paired symbol-days await their outcome`, ...(pairs > 0 ? [hitText] : []), ...notes]);
  }
  // Serving health not judged yet: whatever the outcomes say, the step cannot pass.
  const pass = (reasons: string[]): CanaryAnalysis => (serving.inconclusive === undefined ? result('pass', reasons) : result('inconclusive', [serving.inconclusive, ...reasons.filter((r) => r !== serving.inconclusive)]));
  if (decision === 'widen') {
    const share = `${+(100 * widenTo).toFixed(2)}% of the traffic`;
    // Evidence starts at 1, so a bound of 1 (a share at most alpha: the shadow phase into a 5% first
    // step) passes on no evidence; the observed drop is then what holds a canary clearly worse so far.
    const d = paired.difference as number;
    if (widenBound <= 1 && d < -2 * margin) return result('inconclusive', [`${hitText}: the observed drop is larger than twice the margin (${(200 * margin).toFixed(1)} points), so it does not widen to ${share} until more outcomes show the canary is not worse (or that it is)`, ...notes]);
    if (widenBound <= 1) return pass([`${hitText}: no evidence of harm and the observed drop is within twice the margin (${(200 * margin).toFixed(1)} points); ${share} needs no widening evidence (a share at most alpha), so it may widen; promotion needs the evidence against ${(100 * margin).toFixed(1)} points to reach ${evidenceText(bound)}`, ...notes]);
    if (widening.evidence < widenBound) return result('inconclusive', [`${hitText}: not yet evidence that the canary is less than ${(200 * margin).toFixed(1)} points worse, so it does not widen to ${share} (it needs ${evidenceText(widenBound)}: a canary that much worse gets there with chance at most ${+(100 / widenBound).toFixed(1)}%)`, ...notes]);
    return pass([`${hitText}: no evidence of harm, and evidence that the canary is less than ${(200 * margin).toFixed(1)} points worse (${evidenceText(widening.evidence)} ≥ ${evidenceText(widenBound)}), so it may widen to ${share}; promotion needs the evidence against ${(100 * margin).toFixed(1)} points to reach ${evidenceText(bound)}`, ...notes]);
  }
  if (within.evidence < bound) return result('inconclusive', [`${hitText}: not yet evidence that the canary is less than ${(100 * margin).toFixed(1)} points worse, so it is not promoted (each cluster of matured outcomes adds evidence; a canary as good as the reference typically needs weeks)`, ...notes]);
  return pass([`${hitText}: the canary is less than ${(100 * margin).toFixed(1)} points worse (evidence ${evidenceText(within.evidence)} ≥ ${evidenceText(bound)})`, ...notes]);
}
