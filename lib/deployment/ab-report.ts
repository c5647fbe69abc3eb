/**
 * A/B test report: how each variant's served predictions scored on matured outcomes, tests of each
 * challenger against the control (the first variant), and whether to stop.
 *
 * The unit is the symbol-day. The API predicts the same vector for every request of a symbol on a
 * feature date, so each variant's served requests are collapsed to one observation per (version,
 * symbol, feature date): its hit is the share of its requests that were right, a failed request
 * (an error, no probability) counting as wrong. Counting requests instead made 7 requests a day
 * look like 7 observations, and equal models were declared different 40–50% of the time.
 *
 * Intention to treat. A failed prediction counts against its arm, in the hit rate as a miss: a
 * challenger that fails on the requests it finds hard cannot win by leaving them out of its score.
 *
 * Serving health is judged first, by the canary's guards (lib/deployment/serving-guards.ts,
 * judgeServing), each challenger against the control on the same window, per request: its error
 * rate and its share of requests over maxP99LatencyMs (`slow`) fail it only when shown both above
 * the allowed rate (maxErrorRate; 1% for a p99) and above the control's, at a likelihood ratio of
 * 1/alpha (valid however many analyses look), or its error rate shown above grossErrorRate. A
 * challenger failing a guard cannot win, and when every challenger fails one the control wins at
 * once. Before, each arm's own error rate and nearest-rank p99 were compared with the limits: below
 * 100 requests that p99 is the slowest one, so with one request in 500 over the limit in either arm
 * a challenger as fast and error-free as the control was excluded (and the test stopped for the
 * control) in 3.7/7.7/17.8/0.9% of draws of 20/40/99/200 requests per arm, and a slow host slowing
 * both arms was blamed on the challenger. Below minServingPredictions requests a challenger cannot
 * be excluded, and it cannot win either (health not judged is not health shown): a significant
 * lead waits, and the reasons say so. A challenger worse on hit rate still loses whatever its health.
 *
 * Comparing like with like. Requests are routed to the variants by a sticky hash, so the variants
 * may serve different symbols, and symbols differ in how predictable they are. Each challenger is
 * compared with the control within symbols: per symbol served by both, the difference of their
 * mean hits, averaged with weights n₁n₂/(n₁ + n₂) (lib/stats/dependent-inference.ts,
 * stratifiedMeanDifference). Symbols only one of them served say nothing about the difference and
 * are left out; if the variants share no symbol (routed by symbol with no other key), there is no
 * comparison, and the report says so. The API routes A/B traffic by symbol and day
 * (api/predictions.ts), so over a test every symbol reaches both variants.
 *
 * Dependence. The symbol-days of one feature date share the market's move, so the difference's
 * variance is clustered by day: the delete-one-day jackknife, with Student's t on days − 1 degrees
 * of freedom (the usual sandwich is too small with the 5–9 matured days a two-week test has).
 * Labels whose windows overlap (a 5-session label: the outcomes of Monday and Tuesday share four
 * sessions) make symbol-days up to `lags` = horizon − 1 trading days apart dependent as well; the
 * store path takes the lags from the verified label specs of the versions in the report (the longest
 * horizon), so the deployment workflow's analyses and the CLI get them without asking. Every pair of
 * rows within the lags is then counted (a panel variance of the estimate's influence values,
 * stratifiedMeanDifference with a PanelDependence). Single-day clusters told equally good models
 * apart in 12–21% of simulated tests of 5-day labels at a nominal 2.5%, blocks of lags + 1 days
 * (rows either side of a block boundary taken for independent) in 5–6%. A comparison reports the
 * distinct matured days it rests on and, apart, the independent stretches of lags + 1 days its
 * variance counts; it needs lags + 2 matured days in common symbols (two without lags), and until
 * then the reasons say so. Each arm's hit-rate interval takes the same dependence and its Student t
 * degrees of freedom (the normal's 1.96 on a variance from 2–3 stretches missed the true hit rate in
 * 12–15% of simulated tests of 10–15 matured days); with fewer than two stretches it has none, and
 * the reasons say so.
 *
 * Stopping. The report is read at every analysis of a running test (the workflow's default: every
 * hour), so a comparison is significant only on evidence valid however many looks are taken and
 * whenever. Each challenger's matured symbol-days in common symbols are cut into blocks of
 * blockDaysOf(lags) = max(lags + 1, MIN_BLOCK_DAYS) consecutive matured feature dates; each complete
 * block gives one observation, the within-symbol difference of mean hits (blockContrasts), and the
 * observations feed the sequential t-test (lib/stats/anytime-mean.ts, tMixtureEvidence), whose chance
 * of ever reaching 1/α for equally good models is at most α: per side its running maximum
 * (evidenceBetter, evidenceWorse), the anytime p-value min(1, 1/max of the two). Neighbouring blocks
 * still share `lags` sessions of label window at their boundary; what leaves the block contrasts
 * uncorrelated with mean 0 for equal models is that the routing draws each symbol's days at random
 * within every block. A decision also needs the estimate over every block to point the same way as
 * the evidence (a running maximum: an early lead that newer blocks reversed decides nothing). Before, a Student-t p of the panel variance below
 * (few effective units: ~days/(2·lags + 1)) was converted to z and compared with a continuous
 * O'Brien–Fleming boundary for a statistic of known variance; the noisy variance moved from look to
 * look, late looks acted like separate tests, and daily looks decided between equal models with
 * 5-session labels in 10–13% of simulated 40-day tests at α 5% (one final look 1.7–4.7%); now in
 * 3.0% (100 symbols, even split, 100 tests) and 1.0% (20 symbols, B 10%, 200 tests), at the prior
 * variance 2 used here (1.7% and 1.0% at 1). No comparison
 * is significant on fewer than 4 complete blocks however clear (the t-test takes its scale from
 * them; anytime-mean.ts, T_MIXTURE_G): a challenger wrong on every outcome loses on the 4th.
 * The price is power, since a few weeks of 5-day labels are only a few blocks: at prior variance 1, a B 10 points better was found within 40 days in 55% of
 * tests of 100 symbols at an even split (85% before, with its inflated level) and 8% of 20 symbols
 * with B at 10% (28%); 5 points better in 12% and 3% (38% and 18%). The fixed-sample estimate
 * (difference, standardError, z, pValue, with the panel variance below) stays in the report to read;
 * it decides nothing. `start`, `deadline` and `analysedAt` give the look's informationFraction (the
 * share of the test's time elapsed, on the scale on which outcomes mature: with the newest matured
 * feature date `lag` behind the newest feature date, t = (analysedAt − lag − start) /
 * (deadline − lag − start), clamped to [0, 1]; without them start is `since` or the first request,
 * the deadline start + 14 days, analysedAt now or the last request; `informationFraction` overrides
 * it): shown, not used by the decision. No decision is made before every variant has
 * minSamplesPerVariant matured symbol-days; maxSamplesPerVariant ends a test that has found nothing
 * by then ("stop-no-difference").
 *
 * With more than two variants, Holm's correction on the anytime p-values keeps the family-wise error
 * of the comparisons against the control at α over all looks. Challengers are not tested against each other: when several beat the
 * control, the one with the highest observed hit rate is named winner (while that one's serving
 * health is not judged yet, the test continues; at maxSamplesPerVariant the best judged one wins);
 * when none beats it and every challenger is significantly worse (or fails a guard), the control
 * wins. When only some are worse and the rest are undecided there is no winner yet, and the test
 * continues.
 */
import { z } from 'zod';
import { BadInputError, describeValidationError } from '../errors';
import { binaryAucOf } from '../stats/binary-scores';
import { panelDayUnits, stratifiedMeanDifference } from '../stats/dependent-inference';
import { dependentProportionInterval, holmAdjusted } from '../stats/proportions';
import { plural } from '../plural';
import { nearestRankQuantileOfSorted, sortedAscending } from '../stats/quantiles';
import { tMixtureEvidence, tMixtureMinObservations } from '../stats/anytime-mean';
import type { Interval } from '../validation/metrics';
import { sql } from 'kysely';
import type { Database } from '../store/database';
import { canaryThresholdsSchema } from './canary-analysis';
import { judgeServing } from './serving-guards';
import { LABEL, labelKey, parseCellKey, streamCells, succeeded, verifiedLabelStates, type Cell, type Cells, type StreamSpec, type TallyOptions } from './log-aggregates';
import type { RefusedBarsSummary } from '../store/bar-signature';
import type { RefusedLogRowsSummary } from '../serving/prediction-log-signature';
import { labelSpecsOf, overlapLags, type OutcomeKey, type PredictionWithOutcome } from './outcomes';

/**
 * The test's length when the caller gives no deadline, for the information fraction the report shows
 * (nothing decides on it). Deployments pass their own (plan.ts, defaultAbDeadlineSeconds: from the
 * label horizon, 34 days and more).
 */
export const DEFAULT_AB_DEADLINE_SECONDS = 14 * 86_400;

const isoTime = z.string().regex(/^\d{4}-\d{2}-\d{2}/, 'expected an ISO date or timestamp such as 2024-05-01 or 2024-05-01T14:30:00Z').refine((s) => !Number.isNaN(Date.parse(s)), 'not a valid date');

export const abReportOptionsSchema = z
  .object({
    /** The first is the control. */
    variants: z
      .array(z.string().min(1))
      .min(2)
      .refine((v) => new Set(v).size === v.length, 'variants must be distinct'),
    /**
     * The version under test of each variant (same order): rows of a variant served by another
     * version are left out. Variant names are reused by every A/B test of the model, so without them
     * another test's rows (or an earlier champion's) would count as this one's.
     */
    versions: z.array(z.number().int().positive()).optional(),
    /** Family-wise level over every look and both directions. */
    alpha: z.number().gt(0).lt(1).default(0.05),
    /** Matured symbol-days each variant needs before any decision. */
    minSamplesPerVariant: z.number().int().min(1).default(100),
    maxSamplesPerVariant: z.number().int().min(1).optional(),
    /**
     * Serving guards, as the canary's (serving-guards.ts, at the report's alpha): a challenger shown
     * above either rate and above the control's cannot win.
     */
    maxErrorRate: canaryThresholdsSchema.shape.maxErrorRate,
    maxP99LatencyMs: canaryThresholdsSchema.shape.maxP99LatencyMs,
    grossErrorRate: canaryThresholdsSchema.shape.grossErrorRate,
    /** Requests a challenger needs before the guards can exclude it, or it can win. */
    minServingPredictions: canaryThresholdsSchema.shape.minServingPredictions,
    /** When the test's traffic began (the A/B split); default: the query's since, in memory the first request. */
    start: isoTime.optional(),
    /** When the test ends undecided; default: start + 14 days. */
    deadline: isoTime.optional(),
    /** The time of this look; default: the query's until or now, in memory the last request. */
    analysedAt: isoTime.optional(),
    /** The look's information fraction, overriding the one from the times above. */
    informationFraction: z.number().min(0).max(1).optional(),
    /**
     * Trading days apart within which symbol-days are dependent: label horizon − 1, for labels whose
     * windows overlap. Default: in the store, from the verified label specs of the versions in the
     * report (the longest horizon); in memory 0 (the day only).
     */
    lags: z.number().int().min(0).optional(),
    /**
     * The last decision day each variant's version learnt from (same order; null: unknown): its
     * symbol-days on or before it may be its training rows, whose outcomes it has seen, and are left
     * out of the report (their requests too), counted as inTraining.
     */
    trainedThrough: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/).nullable()).optional(),
  })
  .refine((o) => o.maxSamplesPerVariant === undefined || o.maxSamplesPerVariant >= o.minSamplesPerVariant, 'maxSamplesPerVariant must be at least minSamplesPerVariant')
  .refine((o) => o.versions === undefined || o.versions.length === o.variants.length, 'versions must name one version per variant')
  .refine((o) => o.trainedThrough === undefined || o.trainedThrough.length === o.variants.length, 'trainedThrough must name one date (or null) per variant');
export type AbReportOptions = z.infer<typeof abReportOptionsSchema>;
export type AbReportOptionsInput = z.input<typeof abReportOptionsSchema>;

export interface AbVariantStats {
  variant: string;
  /** Served predictions (requests). */
  served: number;
  /** Of those, failed (an error or no probability). */
  errors: number;
  errorRate: number | null;
  /** Nearest-rank latency percentiles of the served predictions, in ms. */
  p50LatencyMs: number | null;
  p99LatencyMs: number | null;
  /** Served predictions slower than maxP99LatencyMs: what the latency guard judges. */
  slow: number;
  /** Distinct symbol-days served (one per version, symbol and feature date): the units below. */
  symbolDays: number;
  /** Symbol-days on or before the version's trainedThrough, left out of everything here. */
  inTraining: number;
  /** Distinct symbols served. */
  symbols: number;
  /** Symbol-days whose outcome has not matured. */
  unmatured: number;
  /** Symbol-days matured without a label (dead zone, missing bar). */
  noLabel: number;
  /** Symbol-days with a matured label, failed ones included: the sample the hit rate uses. */
  matured: number;
  /** Σ over matured symbol-days of the share of their requests that were right (failed ones wrong). */
  hits: number;
  hitRate: number | null;
  /**
   * 95% interval of the hit rate: Wilson's on the effective sample size of the comparison's
   * dependence, with Student's t on hitRateDegreesOfFreedom. Null while the matured days make fewer
   * than two independent stretches (the reasons say so): no variance can be estimated from one.
   */
  hitRateInterval: Interval | null;
  /** Student t degrees of freedom of that interval (null with it). */
  hitRateDegreesOfFreedom: number | null;
  /** Distinct feature dates of the matured symbol-days. */
  maturedDays: number;
  /** Independent units the interval's variance rests on: the days (lags 0), or ⌈days/(lags + 1)⌉ stretches. */
  independentStretches: number;
  /** Over matured symbol-days with a prediction (the mean of their probabilities each): */
  meanProbability: number | null;
  /** Share of outcomes that were 1, to read meanProbability against. */
  positiveRate: number | null;
  brier: number | null;
  /** Null unless both outcomes occur. */
  auc: number | null;
}

export interface AbComparison {
  variant: string;
  control: string;
  /** Hit rate of the variant − hit rate of the control, within the symbols both served. */
  difference: number;
  standardError: number;
  /** difference / standardError (Student's t with degreesOfFreedom); null when the standard error is 0 (no variation within either variant). */
  z: number | null;
  degreesOfFreedom: number;
  /** Symbols both served (the strata compared). */
  symbols: number;
  /** Distinct feature dates of the matured symbol-days in those symbols. */
  days: number;
  /**
   * Independent units the variance rests on: the days (lags 0), or with lags the stretches of
   * lags + 1 consecutive days, ⌈days/(lags + 1)⌉.
   */
  independentStretches: number;
  /** Two-sided p-value of this look taken alone (fixed-sample): shown, not what decides. */
  pValue: number;
  /** Consecutive matured days per block of the anytime evidence: max(lags + 1, MIN_BLOCK_DAYS). */
  blockDays: number;
  /** Complete blocks (blockDays matured days each) the anytime evidence rests on. */
  blocks: number;
  /** Anytime-valid evidence (running maximum over the complete blocks) that the challenger is better, and that it is worse. */
  evidenceBetter: number;
  evidenceWorse: number;
  /** min(1, 1/max(evidenceBetter, evidenceWorse)): valid however many looks are taken. */
  anytimePValue: number;
  /** Holm-adjusted anytime p-value over all comparisons with the control. */
  adjustedPValue: number;
  /** Significant at this look: the adjusted anytime p-value at most alpha. */
  significant: boolean;
  /** The side the evidence is on: 1 the challenger better, −1 worse. */
  direction: 1 | -1;
}

export type AbDecision = 'continue' | 'stop-winner' | 'stop-no-difference';

/** A challenger's serving guards against the control on the report's window. */
export interface AbServingGuards {
  variant: string;
  /** fail: cannot win; inconclusive: fewer than minServingPredictions requests, cannot win yet; pass: not shown unhealthy. */
  verdict: 'pass' | 'fail' | 'inconclusive';
  failures: string[];
  /** The counts and evidence of the guards that did not fail (or why they could not judge). */
  notes: string[];
}

/** Where this look stands in the test, and what it takes to be significant. */
export interface AbLook {
  /** Share of the test's time elapsed (on the scale on which outcomes mature): shown, the decision does not depend on it. */
  informationFraction: number;
  /** Evidence one comparison alone needs to be significant: 1/alpha (Holm asks more of the first of several). */
  evidenceBound: number;
  start: string | null;
  deadline: string | null;
  analysedAt: string | null;
  /** Days between the newest feature date served and the newest matured one. */
  maturationLagDays: number | null;
}

export interface AbReport {
  control: string;
  alpha: number;
  minSamplesPerVariant: number;
  maxSamplesPerVariant: number | null;
  maxErrorRate: number;
  maxP99LatencyMs: number;
  grossErrorRate: number;
  minServingPredictions: number;
  /** Trading days apart within which symbol-days were taken for dependent (label horizon − 1; 0: the day only). */
  lags: number;
  look: AbLook;
  variants: AbVariantStats[];
  /**
   * One per challenger once it and the control have matured symbol-days in common symbols on
   * lags + 2 days or more (two days without lags): fewer leave no variance to estimate, and the
   * reasons say which challenger waits for what.
   */
  comparisons: AbComparison[];
  /** One per challenger, in the order of the variants. */
  serving: AbServingGuards[];
  decision: AbDecision;
  winner?: string;
  reasons: string[];
  /** With MODEL_SIGNING_KEY: the outcomes' bars no held key vouches for; no outcome was counted, and the test continues. */
  unverifiedBars?: RefusedBarsSummary;
  /** With MODEL_SIGNING_KEY: prediction_log rows no held key vouches for; left out of every count, and the test continues (nothing is decided). */
  unverifiedLog?: RefusedLogRowsSummary;
}

/** One variant's served requests of one (version, symbol, feature date). */
interface AbUnit {
  version: number;
  symbol: string;
  asOf: string;
  requests: number;
  failed: number;
  /** Successful requests whose class matched the outcome (0 until labelled). */
  right: number;
  /** Σ probability of the successful requests. */
  sumP: number;
  /** Label state (LABEL) of the unit's key. */
  state: number;
}

/** A variant's symbol-days and request latencies (ms, ascending), from rows or cells. */
interface AbArm {
  variant: string;
  units: AbUnit[];
  latencyMs: Float64Array;
  /** Units left out as dated on or before the version's trainedThrough. */
  inTraining?: number;
}

const isError = (r: PredictionWithOutcome) => r.error !== null || r.probability === null;
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const fmtEvidence = (e: number) => (e >= 1e6 ? e.toExponential(2) : e >= 100 ? e.toFixed(0) : e.toFixed(2));
const DAY_MS = 86_400_000;
const labelled = (u: AbUnit) => u.state === 0 || u.state === 1;
/** The unit's hit: share of its requests that were right, failed ones counting as wrong. */
const hitOf = (u: AbUnit) => u.right / u.requests;
const scoreOf = (u: AbUnit) => u.sumP / (u.requests - u.failed);

function parseOptions(options: AbReportOptionsInput): AbReportOptions {
  const parsed = abReportOptionsSchema.safeParse(options);
  if (!parsed.success) throw new BadInputError(`invalid A/B report options: ${describeValidationError(parsed.error)}`);
  return parsed.data;
}

/** Units in the order of their keys: sums over them then come out the same from rows and from cells, to the last bit. */
function inKeyOrder(units: Map<string, AbUnit>): AbUnit[] {
  return [...units.keys()].sort().map((k) => units.get(k) as AbUnit);
}

/** The arms of rows held in memory: each variant's served rows (of its version) by symbol-day. */
function armsOfRows(rows: readonly PredictionWithOutcome[], options: AbReportOptions): { arms: AbArm[]; first: string | null; last: string | null } {
  let first: string | null = null;
  let last: string | null = null;
  const arms = options.variants.map((variant, i): AbArm => {
    const version = options.versions?.[i];
    const units = new Map<string, AbUnit>();
    const latency: number[] = [];
    for (const r of rows) {
      if (!r.served || r.variant !== variant || (version !== undefined && r.version !== version)) continue;
      if (first === null || r.createdAt < first) first = r.createdAt;
      if (last === null || r.createdAt > last) last = r.createdAt;
      latency.push(r.latencyUs / 1000);
      const key = `${r.version}\u0000${r.symbol}\u0000${r.asOf}`;
      let u = units.get(key);
      const state = !r.matured ? LABEL.unmatured : r.outcome === null ? LABEL.noLabel : r.outcome;
      if (!u) units.set(key, (u = { version: r.version, symbol: r.symbol, asOf: r.asOf, requests: 0, failed: 0, right: 0, sumP: 0, state }));
      u.requests++;
      if (isError(r)) {
        u.failed++;
        continue;
      }
      u.sumP += r.probability as number;
      const predicted = r.predictedClass ?? ((r.probability as number) >= 0.5 ? 1 : 0);
      if (predicted === state) u.right++;
    }
    return { variant, units: inKeyOrder(units), latencyMs: sortedAscending(latency) };
  });
  return { arms, first, last };
}

/** The report on logged predictions (with outcomes) held in memory, row by row. */
export function abReport(rows: readonly PredictionWithOutcome[], options: AbReportOptionsInput): AbReport {
  const parsed = parseOptions(options);
  const { arms, first, last } = armsOfRows(rows, parsed);
  return decideAb(arms, { ...parsed, lags: parsed.lags ?? 0 }, { start: parsed.start ?? first, analysedAt: parsed.analysedAt ?? last });
}

export interface AbStoreQuery extends AbReportOptionsInput {
  model: string;
  /** Inclusive lower bound on created_at, normally when the test began. */
  since: string;
  /** Exclusive upper bound on created_at; none: everything logged so far. */
  until?: string;
}

/**
 * The report on the prediction log in the store, from running totals kept by the database (see
 * log-aggregates.ts): an analysis reads the rows logged since the previous one and cells bounded by
 * variants × symbol-days × predicted classes and latencies, however long the test has run. Every
 * count, score and decision equals abReport's on the same rows with the same start and analysedAt
 * (means and Brier scores up to the order of their sums).
 */
export async function abReportInStore(store: Database, query: AbStoreQuery, tallies: TallyOptions = {}): Promise<AbReport> {
  const { model, since, until, ...options } = query;
  const parsed = parseOptions(options);
  const names = parsed.variants;
  const { cells, unverifiedLog } = await streamCells(store, { model, since, until }, abStream(names, parsed.versions), tallies);
  const keys: OutcomeKey[] = [];
  for (const [key] of cells) {
    const [kind, , version, symbol, asOf] = parseCellKey(key);
    if (kind === 'a') keys.push({ version: Number(version), symbol: String(symbol), asOf: String(asOf) });
  }
  const versions = new Set(keys.map((k) => k.version));
  const specs = versions.size > 0 ? await labelSpecsOf(store, model, versions) : undefined;
  const { labels, unverifiedBars } = await verifiedLabelStates(store, model, keys, specs);
  const arms = names.map((variant) => armOfCells(variant, cells, labels));
  const lags = parsed.lags ?? (specs ? overlapLags([...versions].map(specs)) : 0);
  return decideAb(arms, { ...parsed, lags }, { start: parsed.start ?? since, analysedAt: parsed.analysedAt ?? until ?? new Date().toISOString() }, unverifiedBars, unverifiedLog);
}

/**
 * The cells of an A/B test, over the served rows of its variants (of their versions, when given):
 * counts and Σp by (variant, version, symbol, asOf, failed, predicted class), and counts by
 * (variant, version, latency).
 */
function abStream(variants: readonly string[], versions?: readonly number[]): StreamSpec {
  const which = versions === undefined ? sql`p.variant in (${sql.join(variants)})` : sql`(${sql.join(variants.map((v, i) => sql`(p.variant = ${v} and p.version = ${versions[i]})`), sql` or `)})`;
  return {
    // Streams of reports without versions keep their identity (and their running totals); `cells`
    // names the layout, so streams of the earlier layout (score histograms) are not reused.
    definition: { kind: 'ab', cells: 'symbol-day', variants, ...(versions !== undefined ? { versions } : {}) },
    async aggregate(w, range) {
      const where = sql`${w.where('p')} and p.served = 1 and ${which} and ${w.logged('p', range)}`;
      const groups = await w.rows(
        sql<{ variant: string; version: number; symbol: string; as_of: string; failed: number; pc: number; n: number; sp: number | null }>`select p.variant, p.version, p.symbol, p.as_of,
            case when ${succeeded('p')} then 0 else 1 end as failed, case when ${succeeded('p')} then ${w.predictedClass('p')} else -1 end as pc,
            count(*) as n, sum(case when ${succeeded('p')} then p.probability else 0 end) as sp
          from ${w.from('p', 'variant')} where ${where} group by p.variant, p.version, p.symbol, p.as_of, failed, pc`,
      );
      const latencies = await w.rows(
        sql<{ variant: string; version: number; latency_us: number; n: number }>`select p.variant, p.version, p.latency_us, count(*) as n
          from ${w.from('p', 'variant')} where ${where} group by p.variant, p.version, p.latency_us`,
      );
      return [
        ...groups.map((g): Cell => ({ key: ['a', g.variant, Number(g.version), g.symbol, g.as_of, Number(g.failed), Number(g.pc)], n: Number(g.n), s1: Number(g.sp ?? 0), s2: 0 })),
        ...latencies.map((l): Cell => ({ key: ['l', l.variant, Number(l.version), Number(l.latency_us)], n: Number(l.n), s1: 0, s2: 0 })),
      ];
    },
  };
}

function armOfCells(variant: string, cells: Cells, labels: Map<string, number>): AbArm {
  const units = new Map<string, AbUnit>();
  const latency = new Map<number, number>();
  for (const [key, sums] of cells) {
    const k = parseCellKey(key);
    if (k[1] !== variant || sums.n === 0) continue;
    if (k[0] === 'l') {
      const ms = Number(k[3]) / 1000;
      latency.set(ms, (latency.get(ms) ?? 0) + sums.n);
      continue;
    }
    if (k[0] !== 'a') continue;
    const [, , version, symbol, asOf, failed, pc] = k as [string, string, number, string, string, number, number];
    const unitKey = `${version}\u0000${symbol}\u0000${asOf}`;
    let u = units.get(unitKey);
    if (!u) units.set(unitKey, (u = { version, symbol, asOf, requests: 0, failed: 0, right: 0, sumP: 0, state: labels.get(labelKey(version, symbol, asOf)) ?? LABEL.unmatured }));
    u.requests += sums.n;
    if (failed === 1) {
      u.failed += sums.n;
      continue;
    }
    u.sumP += sums.s1;
    if (pc === u.state) u.right += sums.n;
  }
  const latencyMs = new Float64Array([...latency.values()].reduce((a, b) => a + b, 0));
  let i = 0;
  for (const ms of [...latency.keys()].sort((a, b) => a - b)) latencyMs.fill(ms, i, (i += latency.get(ms) as number));
  return { variant, units: inKeyOrder(units), latencyMs };
}

/** Day index of each feature date: its rank among the dates given (consecutive dates, consecutive ranks). */
function dayIndexOf(dates: Iterable<string>): Map<string, number> {
  return new Map([...new Set(dates)].sort().map((d, i) => [d, i]));
}

/**
 * Statistics of one arm; the hit-rate interval on its effective sample size with the comparison's
 * dependence: day-clustered (as lib/monitoring/live-performance.ts), with lags every pair of rows
 * within the lags counted (as evidence: the day part over the share centring leaves of it). Its
 * critical value is Student's t on the degrees of freedom of that variance, not the normal's 1.96:
 * a two-week test of 5-day labels rests on 2–3 independent stretches of days, and with 1.96 its
 * 95% interval missed the true hit rate in 12–14% of simulated tests of 10–15 matured days.
 */
function statsOf(arm: AbArm, lags: number, latencyLimitMs: number): AbVariantStats {
  const { units } = arm;
  const served = units.reduce((a, u) => a + u.requests, 0);
  const errors = units.reduce((a, u) => a + u.failed, 0);
  const matured = units.filter(labelled);
  const n = matured.length;
  const hits = matured.reduce((a, u) => a + hitOf(u), 0);
  const scored = matured.filter((u) => u.requests > u.failed);
  const probability = scored.map(scoreOf);
  const outcome = scored.map((u) => u.state);
  const m = scored.length;
  const auc = binaryAucOf(probability, outcome);
  const days = dayIndexOf(matured.map((u) => u.asOf));
  const day = Int32Array.from(matured, (u) => days.get(u.asOf) as number);
  // Undefined with fewer than two independent stretches: nothing to estimate a variance from.
  const interval = n > 0 ? dependentProportionInterval(Float64Array.from(matured, hitOf), lags === 0 ? day : { day, lags }, { confidence: 0.95, evidence: true }) : undefined;
  return {
    variant: arm.variant,
    served,
    errors,
    errorRate: served > 0 ? errors / served : null,
    p50LatencyMs: served > 0 ? nearestRankQuantileOfSorted(arm.latencyMs, 0.5) : null,
    p99LatencyMs: served > 0 ? nearestRankQuantileOfSorted(arm.latencyMs, 0.99) : null,
    slow: arm.latencyMs.reduce((k, ms) => (ms > latencyLimitMs ? k + 1 : k), 0),
    symbolDays: units.length,
    inTraining: arm.inTraining ?? 0,
    symbols: new Set(units.map((u) => u.symbol)).size,
    unmatured: units.filter((u) => u.state === LABEL.unmatured).length,
    noLabel: units.filter((u) => u.state === LABEL.noLabel).length,
    matured: n,
    hits,
    hitRate: n > 0 ? hits / n : null,
    hitRateInterval: interval ? { lower: interval.lower, upper: interval.upper } : null,
    hitRateDegreesOfFreedom: interval ? interval.degreesOfFreedom : null,
    maturedDays: days.size,
    independentStretches: panelDayUnits(days.size, lags),
    meanProbability: m > 0 ? probability.reduce((s, x) => s + x, 0) / m : null,
    positiveRate: m > 0 ? outcome.reduce((s, y) => s + y, 0) / m : null,
    brier: m > 0 ? probability.reduce((s, x, j) => s + (x - outcome[j]) ** 2, 0) / m : null,
    auc: Number.isNaN(auc) ? null : auc,
  };
}

/** The information fraction of this look (see the header). */
function lookOf(arms: readonly AbArm[], options: AbReportOptions, times: { start: string | null; analysedAt: string | null }): AbLook {
  const all = arms.flatMap((a) => a.units);
  const newest = all.reduce<string | null>((m, u) => (m === null || u.asOf > m ? u.asOf : m), null);
  const newestMatured = all.filter((u) => u.state !== LABEL.unmatured).reduce<string | null>((m, u) => (m === null || u.asOf > m ? u.asOf : m), null);
  const lagMs = newest !== null && newestMatured !== null ? Math.max(0, Date.parse(newest) - Date.parse(newestMatured)) : null;
  const startMs = times.start === null ? NaN : Date.parse(times.start);
  const deadlineMs = options.deadline !== undefined ? Date.parse(options.deadline) : startMs + DEFAULT_AB_DEADLINE_SECONDS * 1000;
  const analysedMs = times.analysedAt === null ? NaN : Date.parse(times.analysedAt);
  let t: number;
  if (options.informationFraction !== undefined) t = options.informationFraction;
  else if (lagMs === null || !Number.isFinite(startMs) || !Number.isFinite(analysedMs)) t = 0;
  else {
    const span = deadlineMs - startMs - lagMs;
    t = span <= 0 ? 1 : Math.min(1, Math.max(0, (analysedMs - startMs - lagMs) / span));
  }
  const iso = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : null);
  return {
    informationFraction: t,
    evidenceBound: 1 / options.alpha,
    start: iso(startMs),
    deadline: iso(deadlineMs),
    analysedAt: iso(analysedMs),
    maturationLagDays: lagMs === null ? null : lagMs / DAY_MS,
  };
}

/**
 * Fewest consecutive matured days per block of the anytime evidence, whatever the lags: a symbol is
 * served by one variant a day (the API routes by symbol and day), so a block needs several days for
 * its symbols to have reached both; over 3 days, three in four do at an even split.
 */
export const MIN_BLOCK_DAYS = 3;

/** Days per block with `lags`: past the labels' overlap (lags + 1), and at least MIN_BLOCK_DAYS. */
export const blockDaysOf = (lags: number) => Math.max(lags + 1, MIN_BLOCK_DAYS);

/**
 * Complete blocks a comparison needs before it can be significant at `alpha`, however clear: the
 * sequential t-test's most on n blocks (tMixtureMinObservations) must reach 1/α; 4 at α 0.05, 5 at
 * 0.01. (One challenger: Holm asks more of the first of several.)
 */
export const minBlocksToDecide = (alpha: number) => tMixtureMinObservations(1 / alpha);

/**
 * NYSE sessions that must close after an A/B test begins before any decision is possible, for labels
 * of `labelHorizon` sessions at `alpha`, however clear the difference: minBlocksToDecide(alpha)
 * complete blocks of blockDaysOf(h − 1) matured feature dates, the newest of which matures h sessions
 * after its own. The first feature date served is one whose session had closed when the test began,
 * so the last of B·b dates closes B·b − 1 sessions into the test: B·b + h − 1 in all (12 for
 * 1-session labels at α 0.05, 24 for 5-session ones). A lower bound: it assumes every session yields
 * a matured date in symbols both arms served, and minSamplesPerVariant reached by then.
 */
export function minSessionsToDecide(labelHorizon: number, alpha = 0.05): number {
  if (!(alpha > 0 && alpha < 1)) throw new BadInputError(`alpha must be in (0, 1), got ${alpha}`);
  return sessionsToMatureBlocks(minBlocksToDecide(alpha), labelHorizon);
}

/** Sessions that must close after an A/B test begins for `blocks` complete blocks of `labelHorizon`-session labels to mature (see minSessionsToDecide). */
export function sessionsToMatureBlocks(blocks: number, labelHorizon: number): number {
  if (!(Number.isInteger(labelHorizon) && labelHorizon >= 1)) throw new BadInputError(`a label horizon must be a whole number of sessions >= 1, got ${JSON.stringify(labelHorizon)}`);
  return blocks * blockDaysOf(labelHorizon - 1) + labelHorizon - 1;
}

/**
 * One observation per complete block of `blockDays` consecutive matured feature dates (by rank among
 * the dates given; an incomplete last block waits): within each symbol that both groups reached in
 * the block, the difference of their mean hits with weight w = n₀n₁/(n₀ + n₁); summed over the
 * symbols and divided by √Σw, so that blocks with more symbols are not noisier. Contrasts within a
 * symbol and block leave out the symbol's own level and, the days of each variant being drawn by the
 * routing, have mean 0 for equally good models whatever the market did; rows of different blocks
 * share no label window, so the blocks are independent.
 */
export function blockContrasts(rows: readonly { hit: number; group: 0 | 1; symbol: string; asOf: string }[], blockDays: number): number[] {
  const days = dayIndexOf(rows.map((r) => r.asOf));
  const complete = Math.floor(days.size / blockDays);
  const cells = new Map<string, { n: [number, number]; hits: [number, number] }>();
  for (const r of rows) {
    const block = Math.floor((days.get(r.asOf) as number) / blockDays);
    if (block >= complete) continue;
    const key = `${block}\u0000${r.symbol}`;
    let c = cells.get(key);
    if (!c) cells.set(key, (c = { n: [0, 0], hits: [0, 0] }));
    c.n[r.group]++;
    c.hits[r.group] += r.hit;
  }
  const sums = Array.from({ length: complete }, () => ({ sum: 0, weight: 0 }));
  for (const [key, c] of [...cells].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (c.n[0] === 0 || c.n[1] === 0) continue;
    const w = (c.n[0] * c.n[1]) / (c.n[0] + c.n[1]);
    const b = sums[Number(key.slice(0, key.indexOf('\u0000')))];
    b.sum += w * (c.hits[1] / c.n[1] - c.hits[0] / c.n[0]);
    b.weight += w;
  }
  return sums.filter((b) => b.weight > 0).map((b) => b.sum / Math.sqrt(b.weight));
}

/** Matured days a comparison needs with `lags`: two stretches of lags + 1 days, the second begun (two days without lags). */
const daysNeeded = (lags: number) => lags + 2;

/**
 * The challenger against the control within the symbols both served, clustered by day; when it
 * cannot be estimated, why not (to follow "not compared yet: ").
 */
function compare(control: AbArm, challenger: AbArm, lags: number): Omit<AbComparison, 'adjustedPValue' | 'significant' | 'direction'> | { untested: string } {
  const rows = [...control.units.filter(labelled).map((u) => ({ u, group: 0 })), ...challenger.units.filter(labelled).map((u) => ({ u, group: 1 }))];
  const inBoth = new Set(challenger.units.filter(labelled).map((u) => u.symbol));
  const shared = new Set(control.units.filter((u) => labelled(u) && inBoth.has(u.symbol)).map((u) => u.symbol));
  const sharedDays = new Set(rows.filter((r) => shared.has(r.u.symbol)).map((r) => r.u.asOf)).size;
  if (shared.size === 0) return { untested: `${challenger.variant} shares no symbol with matured symbol-days with ${control.variant}` };
  if (sharedDays < daysNeeded(lags)) {
    const need = lags > 0 ? `rows up to ${lags} trading days apart dependent (a ${lags + 1}-session label) need at least ${daysNeeded(lags)}` : `at least ${daysNeeded(lags)} needed`;
    return { untested: `${challenger.variant} has ${sharedDays} matured day${sharedDays === 1 ? '' : 's'} in the symbols it shares with ${control.variant}, ${need}` };
  }
  const symbols = dayIndexOf(rows.map((r) => r.u.symbol));
  const days = dayIndexOf(rows.map((r) => r.u.asOf));
  const day = Int32Array.from(rows, (r) => days.get(r.u.asOf) as number);
  // Labels whose windows overlap make rows of days less than the horizon apart dependent: every such pair counts then.
  const e = stratifiedMeanDifference(
    Float64Array.from(rows, (r) => hitOf(r.u)),
    Uint8Array.from(rows, (r) => r.group),
    Int32Array.from(rows, (r) => symbols.get(r.u.symbol) as number),
    lags === 0 ? day : { day, lags },
  );
  if (!Number.isFinite(e.estimate) || Number.isNaN(e.pValueTwoSided)) return { untested: `${challenger.variant}: no variance of its difference from ${control.variant} could be estimated over ${sharedDays} matured days` };
  const blockDays = blockDaysOf(lags);
  const blocks = blockContrasts(
    rows.filter((r) => shared.has(r.u.symbol)).map((r) => ({ hit: hitOf(r.u), group: r.group as 0 | 1, symbol: r.u.symbol, asOf: r.u.asOf })),
    blockDays,
  );
  const evidence = tMixtureEvidence(blocks);
  return {
    variant: challenger.variant,
    control: control.variant,
    difference: e.estimate,
    standardError: e.standardError,
    z: Number.isFinite(e.tStat) ? e.tStat : null,
    degreesOfFreedom: e.degreesOfFreedom,
    symbols: e.strata,
    days: sharedDays,
    independentStretches: e.units,
    pValue: e.pValueTwoSided,
    blockDays,
    blocks: blocks.length,
    evidenceBetter: evidence.above,
    evidenceWorse: evidence.below,
    anytimePValue: Math.min(1, 1 / Math.max(evidence.above, evidence.below)),
  };
}

/** Why arms with matured symbol-days have no hit-rate interval (arms of the same days share one reason). */
function missingIntervals(variants: readonly AbVariantStats[], lags: number): string[] {
  const byWhy = new Map<string, string[]>();
  for (const v of variants) {
    if (v.matured === 0 || v.hitRateInterval !== null) continue;
    const span = lags === 0 ? plural(v.maturedDays, 'day') : `${plural(v.maturedDays, 'day')}, ${plural(v.independentStretches, 'independent stretch', 'independent stretches')} of ${lags + 1} days`;
    const why = v.independentStretches < 2 ? `span ${span} (2 needed)` : `span ${span}, and no variance could be estimated from them`;
    byWhy.set(why, [...(byWhy.get(why) ?? []), v.variant]);
  }
  return [...byWhy].map(([why, names]) => `no hit-rate interval for ${names.join(', ')}: ${names.length === 1 ? 'its' : 'their'} matured symbol-days ${why}`);
}

/** Tests, guards and the stopping rule on the arms from either source. */
function decideAb(all: AbArm[], options: AbReportOptions & { lags: number }, times: { start: string | null; analysedAt: string | null }, unverifiedBars?: RefusedBarsSummary, unverifiedLog?: RefusedLogRowsSummary): AbReport {
  const { alpha, minSamplesPerVariant: min, maxSamplesPerVariant: max, maxErrorRate, maxP99LatencyMs } = options;
  const arms = all.map((arm, i) => {
    const through = options.trainedThrough?.[i];
    if (!through) return arm;
    const units = arm.units.filter((u) => u.asOf.slice(0, 10) > through);
    return { ...arm, units, inTraining: arm.units.length - units.length };
  });
  const variants = arms.map((arm) => statsOf(arm, options.lags, maxP99LatencyMs));
  const look = lookOf(arms, options, times);
  const [control, ...challengers] = variants;
  const countsOf = (v: AbVariantStats) => ({ predictions: v.served, errors: v.errors, slow: v.slow, p99LatencyMs: v.p99LatencyMs });
  const serving = challengers.map((v): AbServingGuards => {
    const j = judgeServing(countsOf(v), countsOf(control), options, { subject: v.variant, reference: `control ${control.variant}` });
    return { variant: v.variant, verdict: j.failures.length > 0 ? 'fail' : j.inconclusive !== undefined ? 'inconclusive' : 'pass', failures: j.failures, notes: j.notes };
  });

  const outcomes = arms.slice(1).map((arm) => compare(arms[0], arm, options.lags));
  const tested = outcomes.flatMap((c) => ('untested' in c ? [] : [c]));
  const untested = outcomes.flatMap((c) => ('untested' in c ? [c.untested] : []));
  // Holm on anytime p-values keeps the family-wise level over every look: it rests on a union bound.
  const adjusted = holmAdjusted(tested.map((c) => c.anytimePValue));
  // The evidence is a running maximum over the blocks so far: a crossing that newer data contradict (B
  // right on everything for 12 days, behind A for the 48 since) decides nothing while the estimate over
  // every block points the other way. A further condition only removes decisions: the level holds.
  const comparisons: AbComparison[] = tested.map((c, i) => {
    const direction = c.evidenceBetter >= c.evidenceWorse ? 1 : -1;
    const agrees = direction > 0 ? c.difference > 0 : c.difference < 0;
    return { ...c, adjustedPValue: adjusted[i], significant: adjusted[i] <= alpha && agrees, direction };
  });

  const intervalNote = missingIntervals(variants, options.lags);
  const report = (decision: AbDecision, reasons: string[], winner?: string): AbReport => ({
    control: control.variant,
    alpha,
    minSamplesPerVariant: min,
    maxSamplesPerVariant: max ?? null,
    maxErrorRate,
    maxP99LatencyMs,
    grossErrorRate: options.grossErrorRate,
    minServingPredictions: options.minServingPredictions,
    lags: options.lags,
    look,
    variants,
    comparisons,
    serving,
    decision,
    ...(winner !== undefined ? { winner } : {}),
    reasons: [...reasons, ...intervalNote],
    ...(unverifiedBars ? { unverifiedBars } : {}),
    ...(unverifiedLog ? { unverifiedLog } : {}),
  });

  // Serving guards: known before any outcome matures, like the canary's.
  const guarded = new Map<string, string>();
  const unjudged = new Map<string, string>();
  for (const s of serving) {
    if (s.verdict === 'fail') guarded.set(s.variant, s.failures.join('; '));
    if (s.verdict === 'inconclusive') unjudged.set(s.variant, `${s.variant} cannot win before its serving health is judged: ${s.notes.join('; ')}`);
  }
  const guardNote = [...(guarded.size > 0 ? [`failing the serving guards (cannot win): ${[...guarded.values()].join('; ')}`] : []), ...unjudged.values()];
  // Rows left out can move any part of the report either way, the guards too: nothing is decided while they are in the window.
  if (unverifiedLog) return report('continue', [`not decided: the window holds prediction log rows MODEL_SIGNING_KEY does not vouch for, left out of every count (${unverifiedLog.reason})`, ...guardNote]);
  if (guarded.size === challengers.length) return report('stop-winner', [`every challenger fails the serving guards, the control ${control.variant} is kept: ${[...guarded.values()].join('; ')}`], control.variant);
  // No winner from outcomes measured on edited bars: the test goes on until they are imported again.
  if (unverifiedBars) return report('continue', [`outcomes not judged: none is measured on bars MODEL_SIGNING_KEY does not vouch for (${unverifiedBars.reason})`, ...guardNote]);

  const boundaryText = `anytime evidence ≥ ${fmtEvidence(look.evidenceBound)}`;
  const untestedNote = untested.length > 0 ? [`not compared yet: ${untested.join('; ')}`] : [];
  const short = variants.filter((v) => v.matured < min);
  if (short.length > 0) return report('continue', [`waiting for ${min} matured symbol-days per variant: ${short.map((v) => `${v.variant} has ${v.matured}`).join(', ')}`, ...guardNote, ...untestedNote]);

  const describe = (c: AbComparison) =>
    `${c.variant} ${c.difference >= 0 ? '+' : ''}${(100 * c.difference).toFixed(1)} points vs ${c.control} on ${c.symbols} common symbols over ${c.days} days (${plural(c.blocks, 'block')} of ${c.blockDays} days: evidence better ${fmtEvidence(c.evidenceBetter)}, worse ${fmtEvidence(c.evidenceWorse)}, Holm anytime p ${c.adjustedPValue.toFixed(4)}; significant at ${boundaryText})`;
  // A lead is not a win before the challenger's health is judged: it waits for minServingPredictions.
  const better = comparisons.filter((c) => c.significant && c.direction > 0 && !guarded.has(c.variant) && !unjudged.has(c.variant));
  const waiting = comparisons.filter((c) => c.significant && c.direction > 0 && unjudged.has(c.variant));
  const worse = comparisons.filter((c) => c.significant && c.direction < 0);
  const hitRateOf = (name: string) => variants.find((v) => v.variant === name)?.hitRate ?? 0;
  const bestOf = (cs: AbComparison[]) => cs.reduce((a, c) => (hitRateOf(c.variant) > hitRateOf(a.variant) ? c : a));
  const reached = max !== undefined && variants.every((v) => v.matured >= max);
  // The winner is the best of those beating the control: while that is one whose health waits to be
  // judged, so does the test (at maxSamplesPerVariant it ends with the best judged one).
  const deferred = better.length > 0 && waiting.length > 0 && hitRateOf(bestOf(waiting).variant) > hitRateOf(bestOf(better).variant);
  if (better.length > 0 && (!deferred || reached)) {
    const best = bestOf(better);
    return report('stop-winner', [`${best.variant} beats the control ${control.variant}: ${better.map(describe).join('; ')}`, ...guardNote], best.variant);
  }
  const lost = new Set([...worse.map((c) => c.variant), ...guarded.keys()]);
  if (challengers.every((v) => lost.has(v.variant))) return report('stop-winner', [`every challenger is worse than the control ${control.variant} or fails the serving guards: ${[...worse.map(describe), ...guarded.values()].join('; ')}`], control.variant);
  const worseNote = [...(worse.length > 0 ? [`significantly worse than the control: ${worse.map(describe).join('; ')}`] : []), ...(waiting.length > 0 ? [`significantly better, waiting for its serving health to be judged: ${waiting.map(describe).join('; ')}`] : [])];
  const judgedText = waiting.length > 0 ? ' whose serving health is judged' : '';
  if (reached) return report('stop-no-difference', [`every variant reached ${max} matured symbol-days and no challenger${judgedText} beats the control (α ${alpha} over all looks)`, ...worseNote, ...guardNote, ...untestedNote]);
  const lead = deferred
    ? `${bestOf(better).variant} beats the control ${control.variant}, but ${bestOf(waiting).variant} has the higher hit rate and its serving health is not judged yet: no winner before it is`
    : `no challenger${judgedText} beats the control yet (α ${alpha} over all looks; boundary ${boundaryText})${max !== undefined ? `; the test stops at ${max} matured symbol-days per variant` : ''}`;
  return report('continue', [lead, ...worseNote, ...guardNote, ...untestedNote]);
}

function cell(value: number | null, format: (x: number) => string): string {
  return value === null ? '-' : format(value);
}

/** The report as a plain-text table for the CLI. */
export function formatAbReport(report: AbReport): string {
  const header = ['variant', 'served', 'errors', 'slow', 'symbol-days', 'unmatured', 'matured', 'hits', 'hit rate', '95% CI', 'CI df', 'mean p', 'pos. rate', 'Brier', 'AUC'];
  const body = report.variants.map((v) => [
    v.variant + (v.variant === report.control ? ' (control)' : ''),
    String(v.served),
    String(v.errors),
    String(v.slow),
    String(v.symbolDays),
    String(v.unmatured),
    String(v.matured),
    Number.isInteger(v.hits) ? String(v.hits) : v.hits.toFixed(1),
    cell(v.hitRate, pct),
    v.hitRateInterval ? `${pct(v.hitRateInterval.lower)}–${pct(v.hitRateInterval.upper)}` : '-',
    // The interval's Student t degrees of freedom: with 1–2, as in a two-week test of 5-day labels, it is wide for good reason.
    cell(v.hitRateDegreesOfFreedom, String),
    cell(v.meanProbability, (x) => x.toFixed(3)),
    cell(v.positiveRate, pct),
    cell(v.brier, (x) => x.toFixed(4)),
    cell(v.auc, (x) => x.toFixed(3)),
  ]);
  const widths = header.map((h, j) => Math.max(h.length, ...body.map((r) => r[j].length)));
  const line = (cells: string[]) => cells.map((c, j) => (j === 0 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join('  ');
  const { look } = report;
  const out = [
    `A/B report: control ${report.control}, α ${report.alpha} over all looks, decision after ${report.minSamplesPerVariant} matured symbol-days per variant${report.maxSamplesPerVariant !== null ? `, stop at ${report.maxSamplesPerVariant}` : ''}`,
    `look at information fraction ${look.informationFraction.toFixed(2)}${look.deadline !== null ? ` (deadline ${look.deadline})` : ''}: significant at anytime evidence ≥ ${fmtEvidence(look.evidenceBound)}`,
    '',
    line(header),
    ...body.map(line),
  ];
  if (report.comparisons.length > 0) {
    out.push('', `vs ${report.control} (within common symbols, ${report.lags > 0 ? `rows up to ${report.lags} trading days apart dependent` : 'day-clustered'}${report.comparisons.length > 1 ? ', Holm-corrected' : ''}):`);
    for (const c of report.comparisons) {
      const stretches = report.lags > 0 ? ` (${c.independentStretches} independent stretches of ${report.lags + 1} days)` : '';
      out.push(
        `  ${c.variant}: ${c.difference >= 0 ? '+' : ''}${(100 * c.difference).toFixed(1)} points on ${c.symbols} symbols over ${c.days} days${stretches}, z ${c.z === null ? '±∞' : c.z.toFixed(2)}, p ${c.pValue.toFixed(4)} (this look alone); ${plural(c.blocks, 'block')} of ${c.blockDays} days, evidence better ${fmtEvidence(c.evidenceBetter)}, worse ${fmtEvidence(c.evidenceWorse)}, anytime p ${c.anytimePValue.toFixed(4)}, adjusted ${c.adjustedPValue.toFixed(4)}${c.significant ? ' (significant)' : ''}`,
      );
    }
  }
  if (report.serving.length > 0) {
    out.push('', `serving guards vs ${report.control} (errors, and requests over ${report.maxP99LatencyMs} ms as "slow"; fail when shown above the allowed rate and the control's at α ${report.alpha}):`);
    for (const s of report.serving) out.push(`  ${s.variant}: ${s.verdict}`, ...[...s.failures, ...s.notes].map((why) => `    ${why}`));
  }
  out.push('', `decision: ${report.decision}${report.winner !== undefined ? ` (winner: ${report.winner})` : ''}`, ...report.reasons.map((r) => `  - ${r}`));
  return out.join('\n');
}
