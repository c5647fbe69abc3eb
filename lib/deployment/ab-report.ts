/**
 * A/B test report: how each variant's served predictions scored on matured outcomes, tests of each
 * challenger against the control (the first variant), and whether to stop.
 *
 * Why this stopping rule. The tests are fixed-horizon tests: their α holds for one look at a sample
 * size chosen in advance. Looking again every day and stopping at the first p < α ("peeking")
 * inflates the false-positive rate well beyond α, more the more looks. The rule therefore makes no
 * decision before every variant has minSamplesPerVariant matured outcomes: early looks, where chance
 * swings are largest, cannot stop the test. That limits the inflation but does not remove it (each
 * later look is another chance); for strict control set minSamplesPerVariant to the sample size of a
 * power calculation, so the first decision is the planned fixed-horizon one. maxSamplesPerVariant
 * ends a test that has found nothing by then ("stop-no-difference") instead of running forever.
 *
 * With more than two variants, Holm's correction keeps the family-wise error of the comparisons
 * against the control at α. Challengers are not tested against each other: when several beat the
 * control, the one with the highest observed hit rate is named winner; when none beats it and every
 * challenger is significantly worse, the control wins. When only some are worse and the rest are
 * undecided there is no winner yet, and the test continues (the report lists the worse ones, so an
 * operator can drop them).
 *
 * Only served predictions count (a request's outcome is attributed to the variant that answered it);
 * failed predictions are counted as errors and left out of the scores. Rows are treated as
 * independent, which market days are not (see lib/validation/metrics.ts), so p-values are optimistic.
 */
import { z } from 'zod';
import { BadInputError, describeValidationError } from '../errors';
import { binaryAucOf, brierScoreOf } from '../stats/binary-scores';
import { holmAdjusted, twoProportionZTest } from '../stats/proportions';
import { wilsonInterval, type Interval } from '../validation/metrics';
import { sql } from 'kysely';
import type { Database } from '../store/database';
import { aucFromHistograms } from './binned-shift';
import { LABEL, PROBABILITY_BUCKETS, labelKey, labelStates, parseCellKey, streamCells, succeeded, type Cell, type Cells, type StreamSpec, type TallyOptions } from './log-aggregates';
import type { OutcomeKey, PredictionWithOutcome } from './outcomes';

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
    alpha: z.number().gt(0).lt(1).default(0.05),
    minSamplesPerVariant: z.number().int().min(1).default(100),
    maxSamplesPerVariant: z.number().int().min(1).optional(),
  })
  .refine((o) => o.maxSamplesPerVariant === undefined || o.maxSamplesPerVariant >= o.minSamplesPerVariant, 'maxSamplesPerVariant must be at least minSamplesPerVariant')
  .refine((o) => o.versions === undefined || o.versions.length === o.variants.length, 'versions must name one version per variant');
export type AbReportOptions = z.infer<typeof abReportOptionsSchema>;
export type AbReportOptionsInput = z.input<typeof abReportOptionsSchema>;

export interface AbVariantStats {
  variant: string;
  /** Served predictions. */
  served: number;
  errors: number;
  unmatured: number;
  /** Matured without a label (dead zone, missing bar). */
  noLabel: number;
  /** Served, successful predictions with a matured label: the sample the scores below use. */
  matured: number;
  hits: number;
  hitRate: number | null;
  /** Wilson 95% interval of the hit rate. */
  hitRateInterval: Interval | null;
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
  /** Hit rate of the variant − hit rate of the control. */
  difference: number;
  z: number;
  pValue: number;
  /** Holm-adjusted over all comparisons with the control. */
  adjustedPValue: number;
  significant: boolean;
}

export type AbDecision = 'continue' | 'stop-winner' | 'stop-no-difference';

export interface AbReport {
  control: string;
  alpha: number;
  minSamplesPerVariant: number;
  maxSamplesPerVariant: number | null;
  variants: AbVariantStats[];
  /** One per challenger once both it and the control have matured samples. */
  comparisons: AbComparison[];
  decision: AbDecision;
  winner?: string;
  reasons: string[];
}

const isError = (r: PredictionWithOutcome) => r.error !== null || r.probability === null;

function variantStatsOf(variant: string, version: number | undefined, rows: readonly PredictionWithOutcome[]): AbVariantStats {
  const served = rows.filter((r) => r.served && r.variant === variant && (version === undefined || r.version === version));
  const ok = served.filter((r) => !isError(r));
  const scored = ok.filter((r) => r.matured && r.outcome !== null);
  const probability = scored.map((r) => r.probability as number);
  const outcome = scored.map((r) => r.outcome as number);
  const hits = scored.filter((r) => (r.predictedClass ?? ((r.probability as number) >= 0.5 ? 1 : 0)) === r.outcome).length;
  const n = scored.length;
  const auc = binaryAucOf(probability, outcome);
  return {
    variant,
    served: served.length,
    errors: served.length - ok.length,
    unmatured: ok.filter((r) => !r.matured).length,
    noLabel: ok.filter((r) => r.matured && r.outcome === null).length,
    matured: n,
    hits,
    hitRate: n > 0 ? hits / n : null,
    hitRateInterval: n > 0 ? wilsonInterval(hits, n, 0.95) : null,
    meanProbability: n > 0 ? probability.reduce((s, p) => s + p, 0) / n : null,
    positiveRate: n > 0 ? outcome.reduce((s, y) => s + y, 0) / n : null,
    brier: n > 0 ? brierScoreOf(probability, outcome) : null,
    auc: Number.isNaN(auc) ? null : auc,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function parseOptions(options: AbReportOptionsInput): AbReportOptions {
  const parsed = abReportOptionsSchema.safeParse(options);
  if (!parsed.success) throw new BadInputError(`invalid A/B report options: ${describeValidationError(parsed.error)}`);
  return parsed.data;
}

/** The report on logged predictions (with outcomes) held in memory, row by row. */
export function abReport(rows: readonly PredictionWithOutcome[], options: AbReportOptionsInput): AbReport {
  const parsed = parseOptions(options);
  return decideAb(
    parsed.variants.map((v, i) => variantStatsOf(v, parsed.versions?.[i], rows)),
    parsed,
  );
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
 * variants × label keys and probability buckets, however long the test has run. Counts, hits, mean
 * probability, positive rate and Brier score equal abReport's on the same rows (sums up to
 * rounding), so the decision is the same; only the AUC, which the decision does not use, is that of
 * the scores rounded to 1/16384 (binned-shift.ts).
 */
export async function abReportInStore(store: Database, query: AbStoreQuery, tallies: TallyOptions = {}): Promise<AbReport> {
  const { model, since, until, ...options } = query;
  const parsed = parseOptions(options);
  const names = parsed.variants;
  const cells = await streamCells(store, { model, since, until }, abStream(names, parsed.versions), tallies);
  const keys: OutcomeKey[] = [];
  for (const [key] of cells) {
    const [, , version, symbol, asOf] = parseCellKey(key);
    keys.push({ version: Number(version), symbol: String(symbol), asOf: String(asOf) });
  }
  const labels = await labelStates(store, model, keys);
  return decideAb(
    names.map((variant) => variantStatsOfCells(variant, cells, labels)),
    parsed,
  );
}

/**
 * The cells of an A/B test, over the served rows of its variants (of their versions, when given):
 * counts and Σp, Σp² by (variant, version, symbol, asOf, failed, predicted class), and the score
 * histogram by (variant, version, symbol, asOf, bucket) of the successful ones.
 */
function abStream(variants: readonly string[], versions?: readonly number[]): StreamSpec {
  const which = versions === undefined ? sql`p.variant in (${sql.join(variants)})` : sql`(${sql.join(variants.map((v, i) => sql`(p.variant = ${v} and p.version = ${versions[i]})`), sql` or `)})`;
  return {
    // Streams of reports without versions keep their identity (and their running totals).
    definition: { kind: 'ab', variants, ...(versions !== undefined ? { versions } : {}) },
    async aggregate(w, range) {
      const where = sql`${w.where('p')} and p.served = 1 and ${which} and ${w.logged('p', range)}`;
      const groups = await w.rows(
        sql<{ variant: string; version: number; symbol: string; as_of: string; failed: number; pc: number; n: number; sp: number | null; spp: number | null }>`select p.variant, p.version, p.symbol, p.as_of,
            case when ${succeeded('p')} then 0 else 1 end as failed, case when ${succeeded('p')} then ${w.predictedClass('p')} else -1 end as pc,
            count(*) as n, sum(p.probability) as sp, sum(p.probability * p.probability) as spp
          from ${w.from('p', 'variant')} where ${where} group by p.variant, p.version, p.symbol, p.as_of, failed, pc`,
      );
      const histogram = await w.rows(
        sql<{ variant: string; version: number; symbol: string; as_of: string; bucket: number; n: number }>`select p.variant, p.version, p.symbol, p.as_of, ${w.bucket('p.probability')} as bucket, count(*) as n
          from ${w.from('p', 'variant')} where ${where} and ${succeeded('p')} group by p.variant, p.version, p.symbol, p.as_of, bucket`,
      );
      return [
        ...groups.map((g): Cell => ({ key: ['a', g.variant, Number(g.version), g.symbol, g.as_of, Number(g.failed), Number(g.pc)], n: Number(g.n), s1: Number(g.sp ?? 0), s2: Number(g.spp ?? 0) })),
        ...histogram.map((h): Cell => ({ key: ['b', h.variant, Number(h.version), h.symbol, h.as_of, Number(h.bucket)], n: Number(h.n), s1: 0, s2: 0 })),
      ];
    },
  };
}

function variantStatsOfCells(variant: string, cells: Cells, labels: Map<string, number>): AbVariantStats {
  let served = 0;
  let errors = 0;
  let unmatured = 0;
  let noLabel = 0;
  let n = 0;
  let hits = 0;
  let positives = 0;
  let sumP = 0;
  let squaredError = 0;
  const positive = new Float64Array(PROBABILITY_BUCKETS);
  const negative = new Float64Array(PROBABILITY_BUCKETS);
  for (const [key, sums] of cells) {
    const [kind, v, version, symbol, asOf, a, b] = parseCellKey(key);
    if (v !== variant || sums.n === 0) continue;
    const count = sums.n;
    const state = labels.get(labelKey(Number(version), String(symbol), String(asOf))) ?? LABEL.unmatured;
    if (kind === 'b') {
      if (state === 0 || state === 1) (state === 1 ? positive : negative)[Number(a)] += count;
      continue;
    }
    served += count;
    if (Number(a) === 1) {
      errors += count;
      continue;
    }
    if (state === LABEL.unmatured) unmatured += count;
    else if (state === LABEL.noLabel) noLabel += count;
    else {
      const sp = sums.s1;
      n += count;
      if (Number(b) === state) hits += count;
      if (state === 1) positives += count;
      sumP += sp;
      // Σ (p − y)² = Σ p² − 2y Σ p + y·count, y the cell's outcome.
      squaredError += sums.s2 - 2 * state * sp + state * count;
    }
  }
  const auc = aucFromHistograms(positive, negative);
  return {
    variant,
    served,
    errors,
    unmatured,
    noLabel,
    matured: n,
    hits,
    hitRate: n > 0 ? hits / n : null,
    hitRateInterval: n > 0 ? wilsonInterval(hits, n, 0.95) : null,
    meanProbability: n > 0 ? sumP / n : null,
    positiveRate: n > 0 ? positives / n : null,
    brier: n > 0 ? squaredError / n : null,
    auc: Number.isNaN(auc) ? null : auc,
  };
}

/** Tests and the stopping rule on per-variant stats from either source. */
function decideAb(variants: AbVariantStats[], options: AbReportOptions): AbReport {
  const { alpha, minSamplesPerVariant: min, maxSamplesPerVariant: max } = options;
  const [control, ...challengers] = variants;

  const tests = control.matured > 0 ? challengers.filter((v) => v.matured > 0).map((v) => ({ v, t: twoProportionZTest(v.hits, v.matured, control.hits, control.matured) })) : [];
  const adjusted = holmAdjusted(tests.map(({ t }) => t.pValue));
  const comparisons: AbComparison[] = tests.map(({ v, t }, i) => ({ variant: v.variant, control: control.variant, difference: t.difference, z: t.z, pValue: t.pValue, adjustedPValue: adjusted[i], significant: adjusted[i] < alpha }));

  const report = (decision: AbDecision, reasons: string[], winner?: string): AbReport => ({
    control: control.variant,
    alpha,
    minSamplesPerVariant: min,
    maxSamplesPerVariant: max ?? null,
    variants,
    comparisons,
    decision,
    ...(winner !== undefined ? { winner } : {}),
    reasons,
  });

  const short = variants.filter((v) => v.matured < min);
  if (short.length > 0) return report('continue', [`waiting for ${min} matured outcomes per variant: ${short.map((v) => `${v.variant} has ${v.matured}`).join(', ')}`]);

  const describe = (c: AbComparison) => `${c.variant} ${c.difference >= 0 ? '+' : ''}${(100 * c.difference).toFixed(1)} points vs ${c.control} (Holm p ${c.adjustedPValue.toFixed(4)})`;
  const better = comparisons.filter((c) => c.significant && c.difference > 0);
  const worse = comparisons.filter((c) => c.significant && c.difference < 0);
  if (better.length > 0) {
    const hitRateOf = (name: string) => variants.find((v) => v.variant === name)?.hitRate ?? 0;
    const best = better.reduce((a, c) => (hitRateOf(c.variant) > hitRateOf(a.variant) ? c : a));
    return report('stop-winner', [`${best.variant} beats the control ${control.variant}: ${better.map(describe).join('; ')}`], best.variant);
  }
  if (worse.length === challengers.length) return report('stop-winner', [`every challenger is worse than the control ${control.variant}: ${worse.map(describe).join('; ')}`], control.variant);
  const reached = max !== undefined && variants.every((v) => v.matured >= max);
  const worseNote = worse.length > 0 ? [`significantly worse than the control: ${worse.map(describe).join('; ')}`] : [];
  if (reached) return report('stop-no-difference', [`every variant reached ${max} matured outcomes and no challenger beats the control at α ${alpha}`, ...worseNote]);
  return report('continue', [`no challenger beats the control at α ${alpha} yet${max !== undefined ? `; the test stops at ${max} matured outcomes per variant` : ''}`, ...worseNote]);
}

function cell(value: number | null, format: (x: number) => string): string {
  return value === null ? '-' : format(value);
}

/** The report as a plain-text table for the CLI. */
export function formatAbReport(report: AbReport): string {
  const header = ['variant', 'served', 'errors', 'unmatured', 'matured', 'hits', 'hit rate', '95% CI', 'mean p', 'pos. rate', 'Brier', 'AUC'];
  const body = report.variants.map((v) => [
    v.variant + (v.variant === report.control ? ' (control)' : ''),
    String(v.served),
    String(v.errors),
    String(v.unmatured),
    String(v.matured),
    String(v.hits),
    cell(v.hitRate, pct),
    v.hitRateInterval ? `${pct(v.hitRateInterval.lower)}–${pct(v.hitRateInterval.upper)}` : '-',
    cell(v.meanProbability, (x) => x.toFixed(3)),
    cell(v.positiveRate, pct),
    cell(v.brier, (x) => x.toFixed(4)),
    cell(v.auc, (x) => x.toFixed(3)),
  ]);
  const widths = header.map((h, j) => Math.max(h.length, ...body.map((r) => r[j].length)));
  const line = (cells: string[]) => cells.map((c, j) => (j === 0 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join('  ');
  const out = [
    `A/B report: control ${report.control}, α ${report.alpha}, decision after ${report.minSamplesPerVariant} matured outcomes per variant${report.maxSamplesPerVariant !== null ? `, stop at ${report.maxSamplesPerVariant}` : ''}`,
    '',
    line(header),
    ...body.map(line),
  ];
  if (report.comparisons.length > 0) {
    out.push('', `vs ${report.control} (two-proportion z-test${report.comparisons.length > 1 ? ', Holm-corrected' : ''}):`);
    for (const c of report.comparisons) {
      out.push(`  ${c.variant}: ${c.difference >= 0 ? '+' : ''}${(100 * c.difference).toFixed(1)} points, z ${c.z.toFixed(2)}, p ${c.pValue.toFixed(4)}, adjusted p ${c.adjustedPValue.toFixed(4)}${c.significant ? ' (significant)' : ''}`);
    }
  }
  out.push('', `decision: ${report.decision}${report.winner !== undefined ? ` (winner: ${report.winner})` : ''}`, ...report.reasons.map((r) => `  - ${r}`));
  return out.join('\n');
}
