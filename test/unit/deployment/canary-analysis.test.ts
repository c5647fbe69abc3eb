import { analyseCanary, canaryThresholdsSchema } from '../../../lib/deployment/canary-analysis';
import { binomialProbability } from '../../../lib/validation/metrics';
import type { PredictionWithOutcome } from '../../../lib/deployment/outcomes';
import { rng } from '../../../lib/random';
import { row, symbolDayOf, type RowSpec } from '../../helpers/prediction-rows';

/**
 * n requests, each with a served canary prediction and an unserved reference prediction; request i
 * on its own symbol-day (symbolDayOf: 25 symbols a day) unless `place` says otherwise.
 */
function pairedRows(n: number, canaryRight: (i: number) => boolean, referenceRight: (i: number) => boolean, extra: Partial<RowSpec> = {}, place: (i: number) => { symbol: string; asOf: string } = symbolDayOf): PredictionWithOutcome[] {
  const rows: PredictionWithOutcome[] = [];
  for (let i = 0; i < n; i++) {
    const at = place(i);
    rows.push(row({ request: i, variant: 'canary', right: canaryRight(i), ...at, ...extra }));
    rows.push(row({ request: i, variant: 'champion', served: false, right: referenceRight(i), ...at, ...extra, error: false, latencyMs: 5 }));
  }
  return rows;
}

const options = { canary: 'canary', reference: 'champion' } as const;
const dayOf = (d: number) => new Date(Date.UTC(2024, 0, 2) + d * 86_400_000).toISOString().slice(0, 10);

/** Standard normal draws from a seeded uniform stream (Box–Muller). */
function normals(seed: number): () => number {
  const next = rng(seed);
  return () => Math.sqrt(-2 * Math.log(Math.max(next(), 1e-12))) * Math.cos(2 * Math.PI * next());
}

/**
 * Two models of equal skill on `symbols` × `days` symbol-days whose outcomes share a daily market
 * move; the API polled `repeats` times per symbol-day, each request logged as its own pair (same
 * vector, so the same predictions and outcome).
 */
function equalModels(seed: number, symbols: number, days: number, repeats: number): PredictionWithOutcome[] {
  const z = normals(seed);
  const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
  const rows: PredictionWithOutcome[] = [];
  let request = 0;
  for (let d = 0; d < days; d++) {
    const market = z();
    for (let s = 0; s < symbols; s++) {
      const latent = 0.5 * market + Math.sqrt(0.75) * z();
      const outcome = latent > 0 ? 1 : 0;
      const shared = 1.6 * z();
      const [pc, pr] = [sigmoid(0.8 * (latent + shared + 1.2 * z())), sigmoid(0.8 * (latent + shared + 1.2 * z()))];
      for (let k = 0; k < repeats; k++, request++) {
        const at = { symbol: `S${s}`, asOf: dayOf(d), outcome: outcome as 0 | 1 };
        rows.push(row({ request, variant: 'canary', right: (pc > 0.5 ? 1 : 0) === outcome, probability: pc, ...at }));
        rows.push(row({ request, variant: 'champion', served: false, right: (pr > 0.5 ? 1 : 0) === outcome, probability: pr, ...at }));
      }
    }
  }
  return rows;
}

describe('canary analysis', () => {
  it('fails a canary that is much worse on 200 matured pairs', () => {
    // reference right on 60% of requests, canary on 40%, the canary's hits a subset: b = 0, c = 40, five a day over 8 days
    const a = analyseCanary(pairedRows(200, (i) => i % 5 < 2, (i) => i % 5 < 3), options);
    expect(a.paired).toMatchObject({ pairs: 200, days: 8, canaryOnlyCorrect: 0, referenceOnlyCorrect: 40, canaryHitRate: 0.4, referenceHitRate: 0.6 });
    expect(a.paired.difference).toBeCloseTo(-0.2, 12);
    // Every one of the 8 days went against the canary: 2^-8 under random signs.
    expect(a.paired.pValueCanaryWorse).toBeCloseTo(0.5 ** 8, 12);
    expect(a.verdict).toBe('fail');
    expect(a.reasons.join(' ')).toMatch(/paired hit rate canary 40\.0% vs champion 60\.0% on 200 symbol-days over 8 days/);
  });

  it('passes a canary that is as good as the reference', () => {
    const a = analyseCanary(pairedRows(200, (i) => i % 5 < 3, (i) => (i + 1) % 5 < 3), options);
    expect(a.paired.canaryHitRate).toBe(0.6);
    expect(a.paired.referenceHitRate).toBe(0.6);
    expect(a.paired.canaryOnlyCorrect).toBe(a.paired.referenceOnlyCorrect);
    expect(a.verdict).toBe('pass');
    expect(a.paired.pValue).toBe(1);
  });

  it('is inconclusive on 10 matured pairs, counting the unmatured symbol-days', () => {
    const late = pairedRows(40, () => true, () => true, { matured: false }, (i) => symbolDayOf(1000 + i)).map((r) => ({ ...r, requestId: `late-${r.requestId}` }));
    const a = analyseCanary([...pairedRows(10, () => false, () => true), ...late], options);
    expect(a.verdict).toBe('inconclusive');
    expect(a.paired.pairs).toBe(10);
    expect(a.unmatured).toBe(40);
    expect(a.reasons[0]).toMatch(/only 10 matured pairs \(need 30; a pair is a symbol-day, however often it was requested\); 40 paired symbol-days await their outcome/);
  });

  it('counts a symbol-day requested many times as one pair: one symbol polled 40 times on one day decides nothing', () => {
    // The auditor's case: the same symbol and feature date, 40 requests, canary scores far from the reference's.
    const rows = pairedRows(40, () => false, () => true, { outcome: 1 }, () => ({ symbol: 'AAA', asOf: '2024-01-02' })).map((r) => (r.variant === 'canary' ? { ...r, probability: 0.99, predictedClass: 1 } : { ...r, probability: 0.01, predictedClass: 0 }));
    const a = analyseCanary(rows, options);
    expect(a.paired).toMatchObject({ requests: 40, pairs: 1, days: 1 });
    expect(a.shift.pairs).toBe(1);
    expect(a.verdict).toBe('inconclusive');
    expect(a.reasons[0]).toMatch(/only 1 matured pairs/);
  });

  it('gives the same pairs, p-values and verdict however often each symbol-day was requested', () => {
    for (const seed of [1, 2, 3]) {
      const once = analyseCanary(equalModels(seed, 4, 15, 1), options);
      for (const repeats of [7, 24]) {
        const polled = analyseCanary(equalModels(seed, 4, 15, repeats), options);
        expect({ ...polled.paired, requests: 0 }).toEqual({ ...once.paired, requests: 0 });
        expect(polled.paired.requests).toBe(repeats * once.paired.requests);
        expect(polled.shift).toEqual(once.shift);
        expect(polled.verdict).toBe(once.verdict);
      }
    }
  });

  it('rolls back equal models polled 7 times a symbol-day no more often than alpha', () => {
    // Before, every request was an independent pair and such canaries were rolled back ~88% of the time.
    let failed = 0;
    const seeds = 200;
    for (let seed = 1; seed <= seeds; seed++) if (analyseCanary(equalModels(seed, 2, 15, 7), options).verdict === 'fail') failed++;
    expect(failed / seeds).toBeLessThan(0.08);
  });

  it('counts a day of one market move as one piece of evidence: discordant pairs bunched on two days do not fail the canary', () => {
    // 30 symbols × 10 days; on two days the canary missed 12 symbols the reference got (one market
    // move read differently), otherwise they agree: 24 discordant pairs, all against the canary.
    const place = (i: number) => ({ symbol: `S${i % 30}`, asOf: dayOf(Math.floor(i / 30)) });
    const bunched = (i: number) => Math.floor(i / 30) < 2 && i % 30 < 12;
    const a = analyseCanary(pairedRows(300, (i) => !bunched(i), () => true, {}, place), options);
    expect(a.paired).toMatchObject({ pairs: 300, days: 10, canaryOnlyCorrect: 0, referenceOnlyCorrect: 24 });
    expect(a.paired.difference).toBeCloseTo(-0.08, 12);
    // Two days against the canary: P = 1/4 under random signs (per request, McNemar said 2^-24).
    expect(a.paired.pValueCanaryWorse).toBeCloseTo(0.25, 12);
    // Nor pass it at -8 points: the 8 days of agreement cannot move the test, and 2 days could never reach 0.05.
    expect(a.paired).toMatchObject({ days: 10, informativeDays: 2 });
    expect(a.verdict).toBe('inconclusive');
    // 24 such misses spread over all 10 days (one to three a day) are significant.
    const spread = (i: number) => i % 30 === 0 || (Math.floor(i / 30) < 7 && i % 30 >= 28);
    const b = analyseCanary(pairedRows(300, (i) => !spread(i), () => true, {}, place), options);
    expect(b.paired.referenceOnlyCorrect).toBe(24);
    expect(b.paired.pValueCanaryWorse).toBeCloseTo(0.5 ** 10, 12);
    expect(b.verdict).toBe('fail');
  });

  it('stays inconclusive while the matured pairs span fewer days than the test needs to reach alpha', () => {
    // 100 symbols on 4 days, the canary wrong on every one: 2^-4 > 0.05, the test could never fail it.
    const place = (i: number) => ({ symbol: `S${i % 25}`, asOf: dayOf(Math.floor(i / 25)) });
    const a = analyseCanary(pairedRows(100, () => false, () => true, {}, place), options);
    expect(a.paired).toMatchObject({ pairs: 100, days: 4, referenceOnlyCorrect: 100 });
    expect(a.verdict).toBe('inconclusive');
    expect(a.reasons[0]).toMatch(/span only 4 feature dates \(need 5\)/);
    // A fifth day makes it decidable.
    expect(analyseCanary(pairedRows(125, () => false, () => true, {}, place), options).verdict).toBe('fail');
  });

  it('counts only the days whose net difference is not zero toward the days a drop needs', () => {
    // 6 symbols × 5 days: on days 0-1 the canary is wrong on every symbol the reference gets right.
    // On days 2-4 both are right everywhere ('agree'), or one pair goes each way ('cancel'): D_day = 0.
    // Counting those days, the canary passed at -40 points with p 0.25, the smallest p 2 days reach.
    const place = (i: number) => ({ symbol: `S${i % 6}`, asOf: dayOf(Math.floor(i / 6)) });
    const early = (i: number) => Math.floor(i / 6) < 2;
    const agree = analyseCanary(pairedRows(30, (i) => !early(i), () => true, {}, place), options);
    const cancel = analyseCanary(pairedRows(30, (i) => !early(i) && i % 6 !== 1, (i) => early(i) || i % 6 !== 0, {}, place), options);
    for (const a of [agree, cancel]) {
      expect(a.paired).toMatchObject({ pairs: 30, days: 5, informativeDays: 2, referenceOnlyCorrect: a === cancel ? 15 : 12, canaryOnlyCorrect: a === cancel ? 3 : 0 });
      expect(a.paired.difference).toBeCloseTo(-0.4, 12);
      expect(a.paired.pValueCanaryWorse).toBeCloseTo(0.25, 12);
      expect(a.verdict).toBe('inconclusive');
      expect(a.reasons[0]).toMatch(/difference -40\.0 points\), but only 2 of those days have a non-zero net difference \(need 5; .*could not show a drop at 0\.05/);
    }
    // Three more days against the canary make 5 days with a non-zero net: now it fails.
    const more = analyseCanary(pairedRows(48, (i) => !(early(i) || i >= 30), () => true, {}, place), options);
    expect(more.paired).toMatchObject({ days: 8, informativeDays: 5 });
    expect(more.verdict).toBe('fail');
    // A difference within the allowed drop passes however many days agree: the test could not fail it.
    // 30 canary predictions: the serving guards judge from 30 (default 50, below which a step cannot pass).
    const equal = analyseCanary(pairedRows(30, () => true, () => true, {}, place), { ...options, thresholds: { minServingPredictions: 30 } });
    expect(equal.paired).toMatchObject({ days: 5, informativeDays: 0, difference: 0 });
    expect(equal.verdict).toBe('pass');
  });

  it('takes a deterministic pair from repeats that differ: the majority class, a tie by the mean probability', () => {
    const at = { symbol: 'AAA', asOf: '2024-01-02', outcome: 1 as const };
    const request = (i: number, canary: number, reference: number): PredictionWithOutcome[] => [
      { ...row({ request: i, variant: 'canary', right: canary > 0.5, ...at }), probability: canary, predictedClass: canary > 0.5 ? 1 : 0 },
      { ...row({ request: i, variant: 'champion', served: false, right: reference > 0.5, ...at }), probability: reference, predictedClass: reference > 0.5 ? 1 : 0 },
    ];
    // Paired requests 1 and 2 (request 3 has no reference prediction): canary up, up → up (right);
    // reference up, down, a tie broken by their mean probability 0.45 → down (wrong).
    const rows = [...request(1, 0.7, 0.6), ...request(2, 0.6, 0.3), ...request(3, 0.4, 0.45)].slice(0, 5);
    const a = analyseCanary(rows, options);
    expect(a.paired).toMatchObject({ requests: 2, pairs: 1, canaryOnlyCorrect: 1, referenceOnlyCorrect: 0 });
    const reversed = analyseCanary([...rows].reverse(), options);
    expect(reversed.paired).toEqual(a.paired);
    expect(reversed.shift).toEqual(a.shift);
  });

  it('fails on a 5% error rate even before any outcome has matured', () => {
    const rows = pairedRows(200, () => true, () => true, { matured: false }).map((r, k) => (r.variant === 'canary' && k % 40 === 0 ? row({ request: k / 2, variant: 'canary', right: true, error: true, matured: false }) : r));
    const a = analyseCanary(rows, options);
    const canary = a.variants.find((v) => v.variant === 'canary');
    expect(canary).toMatchObject({ predictions: 200, served: 200, errors: 10, errorRate: 0.05 });
    expect(a.verdict).toBe('fail');
    expect(a.reasons).toEqual([expect.stringMatching(/canary error rate 5\.0% \(10 of 200\), champion 0 of 200 \(0\.0%\): above the allowed 1\.0% and the champion's/)]);
  });

  it('fails on p99 latency and reports per-variant percentiles', () => {
    const rows = pairedRows(100, () => true, () => true).map((r) => (r.variant === 'canary' ? { ...r, latencyUs: (Number(r.requestId.slice(1)) + 1) * 1000 } : r));
    const a = analyseCanary(rows, { ...options, thresholds: { maxP99LatencyMs: 50 } });
    expect(a.variants.find((v) => v.variant === 'canary')).toMatchObject({ p50LatencyMs: 50, p99LatencyMs: 99 });
    expect(a.variants.find((v) => v.variant === 'champion')).toMatchObject({ served: 0, p99LatencyMs: 5 });
    expect(a.verdict).toBe('fail');
    expect(a.reasons[0]).toMatch(/canary p99 latency 99\.0 ms; 50 of 100 canary predictions \(50\.0%\) over 50 ms, champion 0 of 100 \(0\.0%\): above the 1% a p99 of 50 ms allows and the champion's/);
  });

  it('fails on a large, significant score shift and not on equal scores', () => {
    const same = pairedRows(300, () => true, () => true);
    const shifted = same.map((r) => (r.variant === 'canary' ? { ...r, probability: Math.min(1, (r.probability as number) + 0.3) } : r));
    const a = analyseCanary(same, options);
    expect(a.shift.pairs).toBe(300);
    expect(a.shift.psi as number).toBeLessThan(0.25); // sampling noise of PSI on 300 pairs is about 0.06 ± 0.03
    expect(a.verdict).toBe('pass');
    const b = analyseCanary(shifted, options);
    expect(b.shift.psi as number).toBeGreaterThan(0.25);
    expect(b.shift.ksPValue as number).toBeLessThan(0.05);
    // No score profile of the canary: against the champion, with the 12 days as the units (999 random day labellings, none reaching D)
    expect(b.shift.against).toBe('reference');
    expect(b.shift.pValue).toBeCloseTo(1 / 1000, 12);
    expect(b.verdict).toBe('fail');
    expect(b.reasons[0]).toMatch(/score shift of 300 symbol-days over 12 days against "champion"/);
    expect(b.reasons[0]).toMatch(/no out-of-sample score profile of the canary version/);
  });

  it('does not fail a canary whose scores sit a hair above the champion’s tied ones, and still fails a real shift of them', () => {
    // The champion's scores take two values (22 symbol-days); the canary agrees on every prediction.
    const champion = (i: number) => (i % 11 < 7 ? 0.98783 : 0.01038);
    const rows = (delta: number) => pairedRows(66, () => true, () => true).flatMap((r) => {
      const p = champion(Number(r.requestId.slice(1)));
      return [{ ...r, probability: r.variant === 'canary' ? Math.min(1, Math.max(0, p + delta)) : p }];
    });
    for (const delta of [0.0008, -0.0008, 1e-9]) {
      const a = analyseCanary(rows(delta), options);
      expect(a.shift.psi as number).toBeLessThan(0.25);
      expect(a.shift.meanShift as number).toBeCloseTo(Math.abs(delta), 9);
      expect(a.verdict).not.toBe('fail');
      expect(a.reasons.join(' ')).toMatch(/mean score shift 0\.0008|mean score shift 0\.0000/);
    }
    // the low scores raised by 0.6, past the champion's other value: every statistic, the mean shift (8/22 · 0.6 ≈ 0.22) included, is large
    // (over 176 symbol-days: the 8 days the permutation test over days needs to reach 0.05)
    const moved = pairedRows(176, () => true, () => true).map((r) => {
      const p = champion(Number(r.requestId.slice(1)));
      return { ...r, probability: r.variant === 'canary' && p < 0.5 ? p + 0.6 : p };
    });
    const b = analyseCanary(moved, options);
    expect(b.shift.meanShift as number).toBeGreaterThan(0.2);
    expect(b.verdict).toBe('fail');
    expect(b.reasons[0]).toMatch(/exceeds PSI 0\.25 and a mean shift of 0\.01/);
  });

  it('applies the hit-rate rule as documented: drop beyond the threshold AND significant', () => {
    // 30 pairs over 6 days, 5 a day; b = 1, c = 4 on different days: a 10-point drop, but P(X <= 1 | 5, ½) = 6/32 is not significant
    const six = (i: number) => ({ symbol: `S${i % 5}`, asOf: dayOf(Math.floor(i / 5)) });
    const noisy = analyseCanary(pairedRows(30, (i) => i !== 0 && ![5, 10, 15, 20].includes(i), (i) => i !== 0 && i !== 25, {}, six), { ...options, thresholds: { minServingPredictions: 30 } });
    // With the default 50, serving health is not judged on 30 predictions: the step cannot pass yet.
    expect(analyseCanary(pairedRows(30, (i) => i !== 0 && ![5, 10, 15, 20].includes(i), (i) => i !== 0 && i !== 25, {}, six), options)).toMatchObject({ verdict: 'inconclusive', reasons: expect.arrayContaining([expect.stringMatching(/^serving guards inconclusive: 30 canary predictions \(need 50;/), expect.stringMatching(/no significant drop/)]) });
    expect([noisy.paired.canaryOnlyCorrect, noisy.paired.referenceOnlyCorrect]).toEqual([1, 4]);
    expect(noisy.paired.pValueCanaryWorse).toBeCloseTo(6 / 32, 12);
    expect(noisy.verdict).toBe('pass');
    // b = 0, c = 15 on 1000 pairs (one a day on 15 of 40 days): significant, but a 1.5-point drop is within the 2 allowed
    const small = analyseCanary(pairedRows(1000, (i) => !(i % 25 === 0 && i < 375), () => true), options);
    expect(small.paired.referenceOnlyCorrect).toBe(15);
    expect(small.paired.pValueCanaryWorse).toBeLessThan(0.001);
    expect(small.verdict).toBe('pass');
    expect(analyseCanary(pairedRows(1000, (i) => !(i % 25 === 0 && i < 375), () => true), { ...options, thresholds: { maxHitRateDrop: 0.01 } }).verdict).toBe('fail');
  });

  it('is the exact McNemar test when no day holds two discordant pairs', () => {
    // b = 2 (canary only), c = 8 (reference only), each on a day of its own: P(X <= 2) = (1 + 10 + 45) / 1024
    const daily = (i: number) => ({ symbol: 'AAA', asOf: dayOf(i) });
    const rows = pairedRows(40, (i) => i < 2 || i >= 10, (i) => i >= 2, {}, daily);
    const a = analyseCanary(rows, options);
    expect([a.paired.canaryOnlyCorrect, a.paired.referenceOnlyCorrect]).toEqual([2, 8]);
    expect(a.paired.pValueCanaryWorse).toBeCloseTo(56 / 1024, 12);
    expect(a.paired.pValue).toBeCloseTo(112 / 1024, 12);
    const byBinomial = [0, 1, 2].reduce((s, k) => s + binomialProbability(k, 10, 0.5), 0);
    expect(a.paired.pValueCanaryWorse).toBeCloseTo(byBinomial, 12);
    // b = 5, c = 0: two-sided 2 / 32; the canary is not worse (one-sided p = 1)
    const better = analyseCanary(pairedRows(40, () => true, (i) => i >= 5, {}, daily), options);
    expect(better.paired.pValue).toBeCloseTo(1 / 16, 12);
    expect(better.paired.pValueCanaryWorse).toBe(1);
  });

  it('only pairs predictions of the same request, skipping failed ones', () => {
    const rows = [...pairedRows(40, () => true, () => true), row({ request: 999, variant: 'canary', right: false }), row({ request: 1, variant: 'shadow', served: false, right: false })];
    const a = analyseCanary(rows, options);
    expect(a.paired.requests).toBe(40);
    expect(a.variants.map((v) => v.variant)).toEqual(['canary', 'champion', 'shadow']);
  });

  it('is inconclusive without canary predictions and validates its thresholds', () => {
    expect(analyseCanary([], options).verdict).toBe('inconclusive');
    expect(canaryThresholdsSchema.parse({})).toEqual({ maxErrorRate: 0.01, maxP99LatencyMs: 50, grossErrorRate: 0.2, minServingPredictions: 50, minMaturedPairs: 30, maxHitRateDrop: 0.02, maxPsi: 0.25, minScoreShift: 0.01, alpha: 0.05 });
    expect(() => analyseCanary([], { ...options, thresholds: { maxErrorRate: 2 } })).toThrow(/invalid canary thresholds: maxErrorRate/);
    expect(() => analyseCanary([], { canary: 'x', reference: 'x' })).toThrow(/different variants/);
  });

  it("leaves out symbol-days on or before a version's last training day: a canary perfect on its own training rows is judged on the later ones", () => {
    // Days 0-7 (2024-01-02..09): the canary always right (rows it learnt from), the champion on 40%.
    // Days 8-15: the canary right on 40%, the champion on 60% (the canary's hits a subset).
    const rows = pairedRows(400, (i) => (i < 200 ? true : i % 5 < 2), (i) => (i < 200 ? i % 5 < 2 : i % 5 < 3));
    const blind = analyseCanary(rows, options);
    expect(blind.verdict).not.toBe('fail');
    const a = analyseCanary(rows, { ...options, trainedThrough: { canary: dayOf(7) } });
    expect([a.verdict, a.paired.pairs, a.paired.inTraining]).toEqual(['fail', 200, 200]);
    expect(a.reasons.join(' ')).not.toMatch(/left out/); // a failure names only the failure
    // The same through the reference's date, and nothing left out before the first day.
    expect(analyseCanary(rows, { ...options, trainedThrough: { reference: dayOf(7) } }).paired.inTraining).toBe(200);
    const none = analyseCanary(rows, { ...options, trainedThrough: { canary: dayOf(-1), reference: dayOf(-1) } });
    expect([none.paired.inTraining, none.paired.pairs, none.verdict]).toEqual([0, 400, blind.verdict]);
  });
});

/**
 * A panel of daily returns (a market factor and each stock's own) scored on 5-day direction labels:
 * the outcomes of days less than 5 apart share most of their forward return. A `share` of the
 * symbol-days is routed to the canary at random, and the champion predicts on those requests too.
 * The canary calls 5-day momentum; the champion the contrarian ('opposed': equally good, 50%
 * expected, opposed on every pair) or 10-day momentum ('lookback'). With `worse`, the canary calls
 * the wrong direction on that share of its symbol-days instead.
 */
function overlappingCanary(seed: number, setting: { symbols: number; days: number; share: number; champion: 'opposed' | 'lookback'; worse?: number }): PredictionWithOutcome[] {
  const next = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const h = 5;
  const span = setting.days + 3 * h;
  const market = Array.from({ length: span }, () => 0.01 * normal());
  const returns = Array.from({ length: setting.symbols }, () => market.map((m) => m + 0.015 * normal()));
  const rows: PredictionWithOutcome[] = [];
  for (let t = 2 * h; t < 2 * h + setting.days; t++) {
    for (let s = 0; s < setting.symbols; s++) {
      if (next() >= setting.share) continue;
      let past5 = 0;
      let past10 = 0;
      let ahead = 0;
      for (let k = 0; k < 2 * h; k++) {
        if (k < h) past5 += returns[s][t - k];
        past10 += returns[s][t - k];
      }
      for (let k = 0; k < h; k++) ahead += returns[s][t + 1 + k];
      const outcome = (ahead > 0 ? 1 : 0) as 0 | 1;
      const canaryUp = next() < (setting.worse ?? 0) ? ahead <= 0 : past5 > 0;
      const championUp = setting.champion === 'opposed' ? past5 <= 0 : past10 > 0;
      const at = { symbol: `S${s}`, asOf: dayOf(t), outcome };
      const request = rows.length;
      rows.push(row({ request, variant: 'canary', right: (canaryUp ? 1 : 0) === outcome, ...at }));
      rows.push(row({ request, variant: 'champion', served: false, right: (championUp ? 1 : 0) === outcome, ...at }));
    }
  }
  return rows;
}

describe('canary analysis of labels whose windows overlap (lags = horizon − 1)', () => {
  // The hit-rate rule alone: the score-shift rule is another test.
  const judge = (rows: PredictionWithOutcome[], lags: number) => analyseCanary(rows, { ...options, lags, thresholds: { maxPsi: 1e9 } });
  const rolledBack = (setting: Parameters<typeof overlappingCanary>[1], lags: number, seeds: number) => {
    let failed = 0;
    for (let seed = 1; seed <= seeds; seed++) if (judge(overlappingCanary(seed, setting), lags).verdict === 'fail') failed++;
    return failed / seeds;
  };

  it('rolls back an equally good canary on 5-day labels at about alpha, where days taken for independent rolled it back 10–12% of the time (alpha 5%)', () => {
    const settings = [
      { symbols: 20, days: 40, share: 0.5, champion: 'opposed' as const },
      { symbols: 20, days: 30, share: 0.3, champion: 'opposed' as const },
      { symbols: 20, days: 40, share: 0.5, champion: 'lookback' as const },
    ];
    for (const s of settings) expect(rolledBack(s, 4, 200)).toBeLessThanOrEqual(0.06);
    // Each feature date its own unit, what every canary got before the label's horizon reached the analysis.
    expect(rolledBack(settings[1], 0, 200)).toBeGreaterThan(0.09);
  });

  it('still rolls back a canary 10 points worse over 40 days, at the price of some power', () => {
    const worse = { symbols: 20, days: 40, share: 0.5, champion: 'lookback' as const, worse: 0.2 };
    expect(rolledBack(worse, 4, 100)).toBeGreaterThanOrEqual(0.75);
  });

  it('stays inconclusive on a drop until the matured days make two stretches of lags + 1, and reports the lags', () => {
    // 25 symbols a day, the canary wrong on every one: 5 days decide with days independent, not with 4 lags.
    const place = (i: number) => ({ symbol: `S${i % 25}`, asOf: dayOf(Math.floor(i / 25)) });
    const five = pairedRows(125, () => false, () => true, {}, place);
    expect(analyseCanary(five, options).verdict).toBe('fail');
    const a = analyseCanary(five, { ...options, lags: 4 });
    expect(a.paired.lags).toBe(4);
    expect(a.verdict).toBe('inconclusive');
    expect(a.reasons[0]).toMatch(/span only 5 feature dates \(need 6\b/);
    expect(analyseCanary(pairedRows(150, () => false, () => true, {}, place), { ...options, lags: 4 }).verdict).toBe('fail');
    expect(() => analyseCanary([], { ...options, lags: -1 })).toThrow(/lags/);
  });
});
