/**
 * Is the canary safe to widen? Judged from the prediction log of one step, over three kinds of
 * evidence:
 *
 * 1. Serving health of the canary (error rate, p99 latency). Known at once, so it fails the canary
 *    whatever the outcomes.
 * 2. Score shift: the canary's and the reference's probabilities on the same requests (PSI on the
 *    reference's deciles for size, two-sample KS for significance). Also known at once.
 * 3. Paired hit rate on requests where both predicted and the outcome has matured. Pairing removes
 *    the request-to-request variance (both models face the same symbol and day), and the exact
 *    McNemar test uses only the discordant requests.
 *
 * Verdict: `fail` when any threshold below is crossed; otherwise `inconclusive` while fewer than
 * minMaturedPairs pairs have matured; otherwise `pass`.
 *
 * The hit-rate rule, precisely: with d = canary hit rate − reference hit rate on the matured pairs
 * and p = P(X ≤ b) for X ~ Binomial(b + c, ½) (b = pairs only the canary got right, c = only the
 * reference), the canary fails when d < −maxHitRateDrop AND p < alpha. The first part ignores drops
 * too small to matter, the second drops that could be chance. Note the test is of "the canary is
 * worse at all", not "worse by more than maxHitRateDrop"; a large but noisy drop passes once the
 * minimum pairs are in, so set minMaturedPairs for the power you want.
 *
 * The shift rule is built the same way: fail when PSI > maxPsi AND the KS p-value < alpha. KS
 * assumes independent samples; the two scores of one request are positively correlated, which makes
 * it conservative here. Requests and days are not independent either (one market move moves every
 * symbol), so all p-values are somewhat optimistic; the thresholds are guards, not proofs.
 */
import { z } from 'zod';
import { BadInputError, describeValidationError } from '../errors';
import { kolmogorovSmirnovTwoSample, populationStabilityIndex } from '../stats/distribution-shift';
import { nearestRankQuantileOfSorted, sortedAscending } from '../stats/quantiles';
import { mcNemarTest } from '../validation/metrics';
import { sql } from 'kysely';
import type { Database } from '../store/database';
import { ksFromHistograms, psiFromHistograms } from './binned-shift';
import { LABEL, PROBABILITY_BUCKETS, labelKey, labelStates, parseCellKey, requestRowId, streamCells, succeeded, type Cell, type Cells, type StreamSpec, type TallyOptions } from './log-aggregates';
import type { OutcomeKey, PredictionWithOutcome } from './outcomes';

export const canaryThresholdsSchema = z.object({
  /** Share of the canary's predictions that failed. */
  maxErrorRate: z.number().min(0).max(1).default(0.01),
  maxP99LatencyMs: z.number().positive().default(50),
  /** Matured, labelled pairs needed before the hit rates are judged. */
  minMaturedPairs: z.number().int().min(1).default(30),
  /** Hit-rate drop (absolute, 0.02 = 2 points) that fails the canary when also significant. */
  maxHitRateDrop: z.number().min(0).max(1).default(0.02),
  maxPsi: z.number().min(0).default(0.25),
  /** Significance level of the one-sided McNemar and the KS test. */
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
}

export interface PairedComparison {
  /** Requests where both the canary and the reference returned a prediction. */
  requests: number;
  /** Of those, pairs with a matured label: the rows the hit rates below are computed on. */
  pairs: number;
  unmatured: number;
  /** Matured without a label (dead zone, missing bar). */
  noLabel: number;
  canaryHitRate: number | null;
  referenceHitRate: number | null;
  /** canaryHitRate − referenceHitRate. */
  difference: number | null;
  /** Discordant pairs: only the canary right (b), only the reference right (c). */
  canaryOnlyCorrect: number;
  referenceOnlyCorrect: number;
  /** Exact two-sided McNemar p-value. */
  pValue: number;
  /** Exact one-sided p-value of "the canary is worse": P(X ≤ b), X ~ Binomial(b + c, ½). */
  pValueCanaryWorse: number;
}

export interface ScoreShift {
  /** Requests with a probability from both. */
  pairs: number;
  /** Canary against the reference's deciles; null without pairs. */
  psi: number | null;
  ksStatistic: number | null;
  ksPValue: number | null;
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
  /** Paired requests whose outcome has not matured yet (same as paired.unmatured). */
  unmatured: number;
  verdict: CanaryVerdict;
  reasons: string[];
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
  thresholds?: CanaryThresholdsInput;
}

const isError = (r: PredictionWithOutcome) => r.error !== null || r.probability === null;

/** The class the prediction stood for; the logged class when present, else the probability at ½. */
function predictedClassOf(r: PredictionWithOutcome): number {
  return r.predictedClass ?? ((r.probability as number) >= 0.5 ? 1 : 0);
}

export function servingStatsOf(variant: string, rows: readonly PredictionWithOutcome[]): VariantServingStats {
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
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const num = (x: number, digits = 3) => x.toFixed(digits);

function parseThresholds(input: CanaryThresholdsInput | undefined): CanaryThresholds {
  const parsed = canaryThresholdsSchema.safeParse(input ?? {});
  if (!parsed.success) throw new BadInputError(`invalid canary thresholds: ${describeValidationError(parsed.error)}`);
  return parsed.data;
}

/** Counts over the requests both variants answered without error. */
export interface PairCounts {
  /** Requests where both predicted. */
  requests: number;
  pairs: number;
  unmatured: number;
  noLabel: number;
  canaryHits: number;
  referenceHits: number;
  /** Only the canary right. */
  b: number;
  /** Only the reference right. */
  c: number;
}

/** Everything the verdict is computed from; from rows (analyseCanary) or from store aggregates (analyseCanaryInStore). */
export interface CanaryEvidence {
  /** Every variant in the window, sorted by name. */
  variants: VariantServingStats[];
  pairCounts: PairCounts;
  shift: ScoreShift;
}

function checkOptions(options: CanaryAnalysisOptions): CanaryThresholds {
  if (options.canary === options.reference) throw new BadInputError(`the canary and the reference must be different variants, both are "${options.canary}"`);
  for (const key of ['canaryVersion', 'referenceVersion'] as const) {
    const v = options[key];
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new BadInputError(`${key} must be a version number, got ${JSON.stringify(v)}`);
  }
  return parseThresholds(options.thresholds);
}

/** Whether a row of `variant` by `version` belongs to the comparison (other variants are reported as they are). */
function underTest(variant: string, version: number, options: Pick<CanaryAnalysisOptions, 'canary' | 'reference' | 'canaryVersion' | 'referenceVersion'>): boolean {
  if (variant === options.canary) return options.canaryVersion === undefined || version === options.canaryVersion;
  if (variant === options.reference) return options.referenceVersion === undefined || version === options.referenceVersion;
  return true;
}

/** The evidence of rows held in memory, row by row (rows of other versions under the compared variant names left out). */
export function canaryEvidenceOf(rows: readonly PredictionWithOutcome[], canary: string, reference: string, versions: { canaryVersion?: number; referenceVersion?: number } = {}): CanaryEvidence {
  const byVariant = new Map<string, PredictionWithOutcome[]>();
  for (const r of rows) {
    if (!underTest(r.variant, r.version, { canary, reference, ...versions })) continue;
    const list = byVariant.get(r.variant);
    if (list) list.push(r);
    else byVariant.set(r.variant, [r]);
  }
  const variants = [...byVariant.keys()].sort().map((v) => servingStatsOf(v, byVariant.get(v) as PredictionWithOutcome[]));

  // Pairs: the canary's and the reference's predictions on the same request.
  const referenceOf = new Map<string, PredictionWithOutcome>();
  for (const r of byVariant.get(reference) ?? []) referenceOf.set(r.requestId, r);
  const canaryScores: number[] = [];
  const referenceScores: number[] = [];
  const counts: PairCounts = { requests: 0, pairs: 0, unmatured: 0, noLabel: 0, canaryHits: 0, referenceHits: 0, b: 0, c: 0 };
  for (const x of byVariant.get(canary) ?? []) {
    const y = referenceOf.get(x.requestId);
    if (!y || isError(x) || isError(y)) continue;
    canaryScores.push(x.probability as number);
    referenceScores.push(y.probability as number);
    if (!x.matured || !y.matured) {
      counts.unmatured++;
      continue;
    }
    if (x.outcome === null || y.outcome === null) {
      counts.noLabel++;
      continue;
    }
    counts.pairs++;
    const canaryRight = predictedClassOf(x) === x.outcome;
    const referenceRight = predictedClassOf(y) === y.outcome;
    if (canaryRight) counts.canaryHits++;
    if (referenceRight) counts.referenceHits++;
    if (canaryRight && !referenceRight) counts.b++;
    if (referenceRight && !canaryRight) counts.c++;
  }
  counts.requests = canaryScores.length;
  const ks = kolmogorovSmirnovTwoSample(canaryScores, referenceScores);
  const hasScores = canaryScores.length > 0;
  const shift: ScoreShift = {
    pairs: canaryScores.length,
    psi: hasScores ? populationStabilityIndex(referenceScores, canaryScores).psi : null,
    ksStatistic: hasScores ? ks.statistic : null,
    ksPValue: hasScores ? ks.pValue : null,
  };
  return { variants, pairCounts: counts, shift };
}

/** Judges the canary on the logged predictions (with outcomes) held in memory. */
export function analyseCanary(rows: readonly PredictionWithOutcome[], options: CanaryAnalysisOptions): CanaryAnalysis {
  const thresholds = checkOptions(options);
  return judgeCanary(canaryEvidenceOf(rows, options.canary, options.reference, options), options, thresholds);
}

export interface CanaryStoreQuery extends CanaryAnalysisOptions {
  model: string;
  /** Inclusive lower bound on created_at, normally when the deployment began. */
  since: string;
  /** Exclusive upper bound on created_at; none: everything logged so far. */
  until?: string;
}

/**
 * Judges the canary on the prediction log in the store, from running totals kept by the database
 * (see log-aggregates.ts): an analysis reads the rows logged since the previous one and cells
 * bounded by variants × latencies, probability buckets and label keys, however long the rollout has
 * run. Counts, hit rates, the McNemar test and the latency percentiles equal analyseCanary's on the
 * same rows; PSI and KS are those of the scores rounded to 1/16384 (binned-shift.ts says how far
 * that can move them).
 */
export async function analyseCanaryInStore(store: Database, query: CanaryStoreQuery, tallies: TallyOptions = {}): Promise<CanaryAnalysis> {
  const thresholds = checkOptions(query);
  const cells = await streamCells(store, { model: query.model, since: query.since, until: query.until }, canaryStream(query), tallies);
  const keys: OutcomeKey[] = [];
  for (const [key] of cells) {
    const [kind, cv, rv, symbol, asOf] = parseCellKey(key);
    if (kind !== 'k') continue;
    keys.push({ version: Number(cv), symbol: String(symbol), asOf: String(asOf) }, { version: Number(rv), symbol: String(symbol), asOf: String(asOf) });
  }
  const labels = await labelStates(store, query.model, keys);
  return judgeCanary(canaryEvidenceOfCells(cells, labels), query, thresholds);
}

/**
 * The cells of a canary comparison: per variant, counts by (served, failed, latency in µs); per
 * request both variants answered, the two score histograms and counts by (canary version, reference
 * version, symbol, asOf, canary class, reference class). With versions, only rows of those versions
 * count under the canary and reference names (as underTest).
 */
function canaryStream(options: CanaryAnalysisOptions): StreamSpec {
  const { canary, reference, canaryVersion, referenceVersion } = options;
  // Streams of analyses without versions keep their identity (and their running totals).
  const versions = { ...(canaryVersion !== undefined ? { canaryVersion } : {}), ...(referenceVersion !== undefined ? { referenceVersion } : {}) };
  const versionOf = (alias: string, version: number | undefined) => (version === undefined ? sql`1 = 1` : sql`${sql.ref(`${alias}.version`)} = ${version}`);
  return {
    definition: { kind: 'canary', canary, reference, ...versions },
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
          sql<{ side: number; bucket: number | null; cv: number | null; rv: number | null; k_symbol: string | null; k_as_of: string | null; pcc: number | null; pcr: number | null; n: number }>`select s.side,
              case when s.side = 0 then ${w.bucket('c.probability')} when s.side = 1 then ${w.bucket('r.probability')} end as bucket,
              case when s.side = 2 then c.version end as cv, case when s.side = 2 then r.version end as rv,
              case when s.side = 2 then c.symbol end as k_symbol, case when s.side = 2 then c.as_of end as k_as_of,
              case when s.side = 2 then ${w.predictedClass('c')} end as pcc, case when s.side = 2 then ${w.predictedClass('r')} end as pcr, count(*) as n
            from ${w.from(pass.drive, 'variant')}
            ${then} prediction_log ${sql.raw(pass.other)} on ${sql.ref(`${pass.other}.id`)} = ${requestRowId(w.driver, pass.drive, pass.otherVariant)}
            ${then} (select 0 as side union all select 1 union all select 2) s
            where ${w.where('c')} and c.variant = ${canary} and ${versionOf('c', canaryVersion)} and ${w.where('r')} and r.variant = ${reference} and ${versionOf('r', referenceVersion)} and ${succeeded('c')} and ${succeeded('r')}
              and ${sql.ref(`${pass.drive}.variant`)} = ${pass.driveVariant} and ${w.logged(pass.drive, range)} and ${pass.otherLogged}
            group by s.side, bucket, cv, rv, k_symbol, k_as_of, pcc, pcr`,
        );
        for (const r of rows) {
          const side = Number(r.side);
          const n = Number(r.n);
          if (side !== 2) cells.push({ key: ['h', side, Number(r.bucket)], n, s1: 0, s2: 0 });
          else cells.push({ key: ['k', Number(r.cv), Number(r.rv), String(r.k_symbol), String(r.k_as_of), Number(r.pcc), Number(r.pcr)], n, s1: 0, s2: 0 });
        }
      }
      return cells;
    },
  };
}

/** Per-variant counts, exact nearest-rank latency percentiles, pair counts under the current labels and the score shift. */
function canaryEvidenceOfCells(cells: Cells, labels: Map<string, number>): CanaryEvidence {
  interface Acc {
    predictions: number;
    served: number;
    errors: number;
    latency: Map<number, number>;
  }
  const acc = new Map<string, Acc>();
  const counts: PairCounts = { requests: 0, pairs: 0, unmatured: 0, noLabel: 0, canaryHits: 0, referenceHits: 0, b: 0, c: 0 };
  const canaryHist = new Float64Array(PROBABILITY_BUCKETS);
  const referenceHist = new Float64Array(PROBABILITY_BUCKETS);
  for (const [key, { n }] of cells) {
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
    } else if (k[0] === 'h') {
      (k[1] === 0 ? canaryHist : referenceHist)[k[2] as number] += n;
    } else {
      const [, cv, rv, symbol, asOf, pcc, pcr] = k as [string, number, number, string, string, number, number];
      const canaryState = labels.get(labelKey(cv, symbol, asOf)) ?? LABEL.unmatured;
      const referenceState = labels.get(labelKey(rv, symbol, asOf)) ?? LABEL.unmatured;
      counts.requests += n;
      if (canaryState === LABEL.unmatured || referenceState === LABEL.unmatured) counts.unmatured += n;
      else if (canaryState === LABEL.noLabel || referenceState === LABEL.noLabel) counts.noLabel += n;
      else {
        const canaryRight = pcc === canaryState;
        const referenceRight = pcr === referenceState;
        counts.pairs += n;
        if (canaryRight) counts.canaryHits += n;
        if (referenceRight) counts.referenceHits += n;
        if (canaryRight && !referenceRight) counts.b += n;
        if (referenceRight && !canaryRight) counts.c += n;
      }
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
    };
  });
  const hasScores = counts.requests > 0;
  const ks = ksFromHistograms(canaryHist, referenceHist);
  return {
    variants,
    pairCounts: counts,
    shift: {
      pairs: counts.requests,
      psi: hasScores ? psiFromHistograms(referenceHist, canaryHist) : null,
      ksStatistic: hasScores ? ks.statistic : null,
      ksPValue: hasScores ? ks.pValue : null,
    },
  };
}

/** The verdict on evidence from either source. */
function judgeCanary(evidence: CanaryEvidence, options: CanaryAnalysisOptions, thresholds: CanaryThresholds): CanaryAnalysis {
  const { canary, reference } = options;
  const { alpha } = thresholds;
  const { variants, shift } = evidence;
  const { pairs, unmatured, noLabel, canaryHits, referenceHits, b, c } = evidence.pairCounts;
  const canaryStats = variants.find((v) => v.variant === canary) ?? servingStatsOf(canary, []);
  const mcNemar = mcNemarTest(b, c);
  const paired: PairedComparison = {
    requests: evidence.pairCounts.requests,
    pairs,
    unmatured,
    noLabel,
    canaryHitRate: pairs > 0 ? canaryHits / pairs : null,
    referenceHitRate: pairs > 0 ? referenceHits / pairs : null,
    difference: pairs > 0 ? (b - c) / pairs : null,
    canaryOnlyCorrect: b,
    referenceOnlyCorrect: c,
    pValue: mcNemar.pValue,
    pValueCanaryWorse: mcNemarTest(c, b).pValueFirstBetter,
  };

  const failures: string[] = [];
  const notes: string[] = [];
  if (canaryStats.predictions === 0) {
    return { canary, reference, thresholds, variants, paired, shift, unmatured, verdict: 'inconclusive', reasons: [`no predictions of variant "${canary}" in the window: is traffic routed to it?`] };
  }
  const errorRate = canaryStats.errorRate as number;
  const p99 = canaryStats.p99LatencyMs as number;
  if (errorRate > thresholds.maxErrorRate) failures.push(`canary error rate ${pct(errorRate)} (${canaryStats.errors} of ${canaryStats.predictions}) is above ${pct(thresholds.maxErrorRate)}`);
  else notes.push(`canary error rate ${pct(errorRate)} is within ${pct(thresholds.maxErrorRate)}`);
  if (p99 > thresholds.maxP99LatencyMs) failures.push(`canary p99 latency ${num(p99, 1)} ms is above ${thresholds.maxP99LatencyMs} ms`);
  else notes.push(`canary p99 latency ${num(p99, 1)} ms is within ${thresholds.maxP99LatencyMs} ms`);
  if (shift.psi !== null && shift.ksPValue !== null) {
    const text = `score shift on ${shift.pairs} paired requests: PSI ${num(shift.psi)}, KS D ${num(shift.ksStatistic as number)} (p ${num(shift.ksPValue, 4)})`;
    if (shift.psi > thresholds.maxPsi && shift.ksPValue < alpha) failures.push(`${text} exceeds PSI ${thresholds.maxPsi} and is significant at ${alpha}`);
    else notes.push(`${text}: within PSI ${thresholds.maxPsi} or not significant at ${alpha}`);
  } else notes.push(`no requests with predictions from both "${canary}" and "${reference}": score shift and hit rates cannot be compared (is the reference predicting on canary requests?)`);

  if (failures.length > 0) return { canary, reference, thresholds, variants, paired, shift, unmatured, verdict: 'fail', reasons: failures };
  if (pairs < thresholds.minMaturedPairs) {
    return { canary, reference, thresholds, variants, paired, shift, unmatured, verdict: 'inconclusive', reasons: [`only ${pairs} matured pairs (need ${thresholds.minMaturedPairs}); ${unmatured} paired requests await their outcome`, ...notes] };
  }
  const d = paired.difference as number;
  const hitText = `paired hit rate canary ${pct(paired.canaryHitRate as number)} vs ${reference} ${pct(paired.referenceHitRate as number)} on ${pairs} pairs (difference ${(100 * d).toFixed(1)} points, one-sided McNemar p ${num(paired.pValueCanaryWorse, 4)})`;
  if (d < -thresholds.maxHitRateDrop && paired.pValueCanaryWorse < alpha) {
    return { canary, reference, thresholds, variants, paired, shift, unmatured, verdict: 'fail', reasons: [`${hitText}: drop larger than ${(100 * thresholds.maxHitRateDrop).toFixed(1)} points and significant at ${alpha}`] };
  }
  return { canary, reference, thresholds, variants, paired, shift, unmatured, verdict: 'pass', reasons: [`${hitText}: no significant drop larger than ${(100 * thresholds.maxHitRateDrop).toFixed(1)} points`, ...notes] };
}
