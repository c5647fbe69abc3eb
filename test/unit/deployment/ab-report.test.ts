import { abReport, formatAbReport, minBlocksToDecide, minSessionsToDecide } from '../../../lib/deployment/ab-report';
import type { PredictionWithOutcome } from '../../../lib/deployment/outcomes';
import { rng } from '../../../lib/random';
import { routeFor } from '../../../lib/serving/routing';
import { row, symbolDayOf, type RowSpec } from '../../helpers/prediction-rows';

const dayOf = (d: number) => new Date(Date.UTC(2024, 0, 2) + d * 86_400_000).toISOString().slice(0, 10);

/**
 * n served predictions of a variant, each its own symbol-day; `right(k)` says which are right. The
 * k-th prediction of variant number `slot` (of `slots`) sits on symbolDayOf(slots·k + slot), so the
 * variants share every symbol and day, each symbol reaching each variant on different days (as the
 * API routes an A/B test: by symbol and day).
 */
function arm(variant: string, n: number, right: (k: number) => boolean, slot: number, slots = 2, extra: Partial<RowSpec> = {}): PredictionWithOutcome[] {
  return Array.from({ length: n }, (_, k) => {
    const i = slots * k + slot;
    return row({ request: 10_000 * (slot + 1) + k, variant, right: right(k), ...symbolDayOf(i), ...extra });
  });
}
/** Right on `percent` of every 10 (spread evenly over the days). */
const rate = (percent: number) => (k: number) => k % 10 < percent / 10;

describe('A/B report', () => {
  it('stops with the right winner when a challenger is clearly better', () => {
    const rows = [...arm('A', 300, rate(50), 0), ...arm('B', 300, rate(70), 1)];
    const r = abReport(rows, { variants: ['A', 'B'] });
    expect(r.variants.map((v) => [v.variant, v.matured, v.hits, v.hitRate])).toEqual([
      ['A', 300, 150, 0.5],
      ['B', 300, 210, 0.7],
    ]);
    expect(r.comparisons).toHaveLength(1);
    expect(r.comparisons[0]).toMatchObject({ symbols: 25, days: 24 });
    expect(r.comparisons[0].difference).toBeGreaterThan(0.15);
    expect(r.comparisons[0].adjustedPValue).toBe(r.comparisons[0].anytimePValue); // one comparison: nothing to correct
    expect(r.comparisons[0]).toMatchObject({ blockDays: 3, blocks: 8 });
    expect(r.comparisons[0].evidenceBetter).toBeGreaterThanOrEqual(20);
    expect(r.look.informationFraction).toBe(1); // 24 days of requests, past the default 14-day deadline
    expect(r.decision).toBe('stop-winner');
    expect(r.winner).toBe('B');
  });

  it('names the control when the challenger is clearly worse', () => {
    const r = abReport([...arm('A', 300, rate(70), 0), ...arm('B', 300, rate(50), 1)], { variants: ['A', 'B'] });
    expect(r.decision).toBe('stop-winner');
    expect(r.winner).toBe('A');
  });

  it('does not stop identical variants early, and stops without a winner at the maximum', () => {
    const rows = [...arm('A', 150, rate(60), 0), ...arm('B', 150, rate(60), 1)];
    const r = abReport(rows, { variants: ['A', 'B'] });
    expect(r.decision).toBe('continue');
    expect(r.winner).toBeUndefined();
    expect(r.comparisons[0].significant).toBe(false);
    const capped = abReport(rows, { variants: ['A', 'B'], maxSamplesPerVariant: 150 });
    expect(capped.decision).toBe('stop-no-difference');
    expect(capped.winner).toBeUndefined();
  });

  it('makes no decision before every variant has the minimum matured sample, however large the difference', () => {
    const rows = [...arm('A', 300, rate(20), 0), ...arm('B', 90, () => true, 1), ...arm('B', 200, () => true, 1, 2, { matured: false }).map((r) => ({ ...r, requestId: `late-${r.requestId}`, asOf: dayOf(40) }))];
    const r = abReport(rows, { variants: ['A', 'B'] });
    expect(r.decision).toBe('continue');
    expect(r.reasons[0]).toMatch(/B has 90/);
    expect(r.variants[1]).toMatchObject({ served: 290, matured: 90, unmatured: 25 });
  });

  it("leaves out a variant's symbol-days on or before its version's last training day: a challenger scored on rows it learnt from does not win", () => {
    // B is right on every symbol-day it was trained on (the first 300 of its 600, days 0-23) and as good as A after.
    const rows = [...arm('A', 600, rate(50), 0), ...arm('B', 600, (k) => k < 300 || rate(50)(k), 1)];
    expect(abReport(rows, { variants: ['A', 'B'] }).winner).toBe('B');
    const through = symbolDayOf(2 * 299 + 1).asOf;
    const r = abReport(rows, { variants: ['A', 'B'], trainedThrough: [null, through] });
    expect(r.winner).toBeUndefined();
    expect(r.variants.map((v) => [v.variant, v.inTraining, v.matured])).toEqual([
      ['A', 0, 600],
      ['B', r.variants[1].inTraining, 600 - r.variants[1].inTraining],
    ]);
    expect(r.variants[1].inTraining).toBeGreaterThanOrEqual(300);
    expect(() => abReport(rows, { variants: ['A', 'B'], trainedThrough: [null] })).toThrow(/trainedThrough must name one date/);
  });

  it('counts a symbol-day requested many times as one observation', () => {
    // The same variants and outcomes, each symbol-day requested once or 7 times.
    const once = [...arm('A', 200, rate(50), 0), ...arm('B', 200, rate(60), 1)];
    const polled = once.flatMap((r) => Array.from({ length: 7 }, (_, j) => ({ ...r, id: `${r.requestId}-${j}:${r.variant}`, requestId: `${r.requestId}-${j}` })));
    const a = abReport(once, { variants: ['A', 'B'] });
    const b = abReport(polled, { variants: ['A', 'B'] });
    expect(b.variants.map((v) => [v.served, v.symbolDays, v.matured, v.hits])).toEqual([
      [1400, 200, 200, 100],
      [1400, 200, 200, 120],
    ]);
    expect(b.comparisons).toEqual(a.comparisons);
    expect(b.decision).toBe(a.decision);
  });

  it('promotes equal models no more often than alpha over daily looks, however often each symbol is requested', () => {
    // Routed as the API routes an A/B test (symbol and day), looked at daily as outcomes mature
    // (5 days), default 14-day deadline. Before: 42–45% of equal B's promoted at 7 requests a day.
    const split = { routes: [{ variant: 'B', version: 2, weight: 0.5 }, { variant: 'A', version: 1, weight: 0.5 }], salt: 'm' };
    let promoted = 0;
    const seeds = 100;
    for (let seed = 1; seed <= seeds; seed++) {
      const next = rng(seed);
      const rows: PredictionWithOutcome[] = [];
      for (let d = 0; d < 14; d++) {
        const market = next() < 0.5 ? 1 : 0;
        // A day easy or hard for every model alike (the market's move), so symbol-days of a day move together.
        const ease = next() < 0.5 ? 0.15 : -0.15;
        for (let s = 0; s < 30; s++) {
          const route = routeFor(split, `S${s}@${dayOf(d)}`);
          const outcome = (next() < 0.7 ? market : next() < 0.5 ? 1 : 0) as 0 | 1;
          const right = next() < 0.55 + ease;
          for (let k = 0; k < 3; k++) rows.push({ ...row({ request: rows.length, variant: route.variant, right, outcome, symbol: `S${s}`, asOf: dayOf(d) }), version: route.version });
        }
        const view = rows.map((r) => (r.asOf <= dayOf(d - 5) ? r : { ...r, matured: false, outcome: null }));
        const report = abReport(view, { variants: ['A', 'B'], versions: [1, 2], minSamplesPerVariant: 50 });
        if (report.decision !== 'continue') {
          if (report.winner === 'B') promoted++;
          break;
        }
      }
    }
    expect(promoted / seeds).toBeLessThanOrEqual(0.05);
  });

  it('counts failed predictions against their arm, and keeps the control when a challenger fails more than maxErrorRate', () => {
    // B is as good as A where it answers, but fails on a fifth of its requests (the hard ones, which A gets half right).
    const a = arm('A', 300, rate(60), 0);
    const b = arm('B', 300, (k) => k % 10 < 6, 1).map((r, k) => (k % 10 === 9 ? { ...r, probability: null, predictedClass: null, error: 'model failed' } : r));
    const b2 = arm('B', 300, (k) => k % 10 < 7, 1).map((r, k) => (k % 10 >= 8 ? { ...r, probability: null, predictedClass: null, error: 'model failed' } : r));
    const guardOff = abReport([...a, ...b2], { variants: ['A', 'B'], maxErrorRate: 1 });
    const bStats = guardOff.variants[1];
    expect(bStats).toMatchObject({ served: 300, errors: 60, matured: 300, hits: 210 });
    // Intention to treat: 210 / 300, not 210 / 240 = 87.5% on the answered ones.
    expect(bStats.hitRate).toBeCloseTo(0.7, 12);
    const guarded = abReport([...a, ...b], { variants: ['A', 'B'] });
    expect(guarded.variants[1]).toMatchObject({ errors: 30, errorRate: 0.1 });
    expect(guarded.decision).toBe('stop-winner');
    expect(guarded.winner).toBe('A');
    expect(guarded.reasons[0]).toMatch(/every challenger fails the serving guards.*B error rate 10\.0% \(30 of 300\), control A 0 of 300 \(0\.0%\): above the allowed 1\.0% and the control A's/);
  });

  it('keeps the control when the challenger is too slow, and a slow challenger cannot win among others', () => {
    const slow = (rows: PredictionWithOutcome[]) => rows.map((r) => ({ ...r, latencyUs: 80_000 }));
    const r = abReport([...arm('A', 300, rate(50), 0), ...slow(arm('B', 300, rate(90), 1))], { variants: ['A', 'B'] });
    expect(r.variants[1].p99LatencyMs).toBe(80);
    expect(r.decision).toBe('stop-winner');
    expect(r.winner).toBe('A');
    expect(r.variants[1].slow).toBe(300);
    expect(r.reasons[0]).toMatch(/B p99 latency 80\.0 ms; 300 of 300 B predictions \(100\.0%\) over 50 ms, control A 0 of 300 \(0\.0%\): above the 1% a p99 of 50 ms allows and the control A's/);
    const three = abReport([...arm('A', 300, rate(50), 0, 3), ...slow(arm('B', 300, rate(90), 1, 3)), ...arm('C', 300, rate(50), 2, 3)], { variants: ['A', 'B', 'C'] });
    expect(three.comparisons.find((c) => c.variant === 'B')?.significant).toBe(true);
    expect(three.winner).toBeUndefined();
    expect(three.decision).toBe('continue');
  });

  it('compares the variants within symbols: a challenger that serves the easier symbols does not win', () => {
    // Equal models; easy symbols (S0–S9) right 80% of the time, hard ones 50%, whoever serves them.
    const rightOn = (symbol: string, k: number) => (Number(symbol.slice(1)) < 10 ? k % 10 < 8 : k % 10 < 5);
    const onSymbols = (variant: string, symbols: (s: number) => boolean, share: number) => {
      const rows: PredictionWithOutcome[] = [];
      for (let d = 0; d < 20; d++) {
        for (let s = 0; s < 20; s++) {
          if (!symbols(s) || ((s * 7 + d * 3) % 10) / 10 >= share) continue;
          const symbol = `S${s}`;
          rows.push(row({ request: rows.length + (variant === 'A' ? 0 : 100_000), variant, right: rightOn(symbol, d + s), symbol, asOf: dayOf(d) }));
        }
      }
      return rows;
    };
    // Routed by symbol alone: disjoint symbols, nothing to compare within.
    const disjoint = abReport([...onSymbols('A', (s) => s >= 10, 1), ...onSymbols('B', (s) => s < 10, 1)], { variants: ['A', 'B'] });
    expect(disjoint.variants[1].hitRate as number).toBeGreaterThan((disjoint.variants[0].hitRate as number) + 0.2);
    expect(disjoint.comparisons).toEqual([]);
    expect(disjoint.decision).toBe('continue');
    expect(disjoint.reasons.join(' ')).toMatch(/B shares no symbol/);
    // Both serve every symbol, but B mostly the easy ones: within symbols there is no difference.
    const mixed = abReport([...onSymbols('A', (s) => s >= 10, 0.8), ...onSymbols('A', (s) => s < 10, 0.2), ...onSymbols('B', (s) => s < 10, 0.8), ...onSymbols('B', (s) => s >= 10, 0.2)].map((r, i) => ({ ...r, requestId: `m${i}`, id: `m${i}:${r.variant}` })), { variants: ['A', 'B'] });
    expect(mixed.variants[1].hitRate as number).toBeGreaterThan((mixed.variants[0].hitRate as number) + 0.1);
    expect(mixed.comparisons[0].symbols).toBe(20);
    expect(Math.abs(mixed.comparisons[0].difference)).toBeLessThan(0.1);
    expect(mixed.comparisons[0].significant).toBe(false);
    expect(mixed.decision).toBe('continue');
  });

  it('decides on anytime evidence, whenever the look is taken; the times only say how far the test is', () => {
    // B right on ~60% of its symbol-days, A on ~50%, at random, over 24 days (8 blocks of 3).
    const draws = (seed: number, p: number) => {
      const next = rng(seed);
      const right = Array.from({ length: 300 }, () => next() < p);
      return (k: number) => right[k];
    };
    const rows = [...arm('A', 300, draws(1, 0.5), 0), ...arm('B', 300, draws(2, 0.6), 1)];
    const final = abReport(rows, { variants: ['A', 'B'], informationFraction: 1 });
    const c = final.comparisons[0];
    expect(final.look.evidenceBound).toBe(20);
    expect(c.significant).toBe(Math.max(c.evidenceBetter, c.evidenceWorse) >= 20);
    expect(c.anytimePValue).toBeCloseTo(Math.min(1, 1 / Math.max(c.evidenceBetter, c.evidenceWorse)), 12);
    // The same data at an early look decide the same: the evidence is valid at any look.
    const early = abReport(rows, { variants: ['A', 'B'], informationFraction: 0.25 });
    expect(early.comparisons).toEqual(final.comparisons);
    expect(early.decision).toBe(final.decision);
    // From times: the rows' feature dates run 2024-01-02 … 2024-01-25, all matured (no lag).
    const timed = abReport(rows, { variants: ['A', 'B'], start: '2024-01-02T00:00:00Z', deadline: '2024-03-02T00:00:00Z', analysedAt: '2024-01-17T00:00:00Z' });
    expect(timed.look.informationFraction).toBeCloseTo(15 / 60, 12);
    // Outcomes maturing 5 days behind: the fraction is that of matured time.
    const lagging = rows.map((r) => (r.asOf > dayOf(18) ? { ...r, matured: false, outcome: null } : r));
    const lagged = abReport(lagging, { variants: ['A', 'B'], start: '2024-01-02T00:00:00Z', deadline: '2024-01-31T00:00:00Z', analysedAt: '2024-01-26T00:00:00Z', minSamplesPerVariant: 10 });
    expect(lagged.look.maturationLagDays).toBe(5);
    expect(lagged.look.informationFraction).toBeCloseTo((24 - 5) / (29 - 5), 12);
    // 19 matured days: 6 complete blocks of 3, the 19th day waits for its block.
    expect(lagged.comparisons[0]).toMatchObject({ days: 19, blocks: 6 });
  });

  it('Holm-corrects comparisons of several challengers against the control', () => {
    const rows = [...arm('A', 400, rate(50), 0, 3), ...arm('B', 400, rate(50), 1, 3), ...arm('C', 400, rate(60), 2, 3)];
    const r = abReport(rows, { variants: ['A', 'B', 'C'], informationFraction: 1 });
    const b = r.comparisons.find((x) => x.variant === 'B');
    const c = r.comparisons.find((x) => x.variant === 'C');
    expect(c?.pValue).toBeLessThan(b?.pValue as number);
    expect(c?.anytimePValue).toBeLessThan(b?.anytimePValue as number);
    expect(c?.adjustedPValue).toBeCloseTo(Math.min(1, 2 * (c?.anytimePValue ?? 0)), 12);
    expect(c?.significant).toBe((c?.adjustedPValue as number) <= 0.05);
  });

  it('scores probabilities: mean probability, Brier and AUC of the answered symbol-days; the hit rate counts the failed one', () => {
    const rows = [
      row({ request: 1, variant: 'A', right: true, outcome: 1, probability: 0.8 }),
      row({ request: 2, variant: 'A', right: true, outcome: 0, probability: 0.1 }),
      row({ request: 3, variant: 'A', right: false, outcome: 1, probability: 0.35 }),
      row({ request: 4, variant: 'A', right: false, outcome: 0, probability: 0.4 }),
      row({ request: 5, variant: 'A', right: true, error: true }),
      row({ request: 6, variant: 'A', right: true, served: false }),
      row({ request: 7, variant: 'B', right: true, outcome: 1, probability: 0.9 }),
    ];
    const r = abReport(rows, { variants: ['A', 'B'], minSamplesPerVariant: 1 });
    const a = r.variants[0];
    expect(a).toMatchObject({ served: 5, errors: 1, errorRate: 0.2, symbolDays: 5, matured: 5, hits: 2, hitRate: 0.4, positiveRate: 0.5 });
    expect(a.meanProbability).toBeCloseTo(0.4125, 12);
    expect(a.brier).toBeCloseTo((0.04 + 0.01 + 0.4225 + 0.16) / 4, 12);
    expect(a.auc).toBeCloseTo(0.75, 12);
    // All on one day: one draw of the market, from which no variance can be estimated, so no interval (it was Wilson's on one observation).
    expect([a.hitRateInterval, a.hitRateDegreesOfFreedom, a.maturedDays, a.independentStretches]).toEqual([null, null, 1, 1]);
    expect(r.reasons).toContain('no hit-rate interval for A, B: their matured symbol-days span 1 day (2 needed)');
    expect(r.variants[1].auc).toBeNull(); // one class only
  });

  it('formats a readable table and validates its options', () => {
    const r = abReport([...arm('A', 300, rate(50), 0), ...arm('B', 300, rate(70), 1)], { variants: ['A', 'B'] });
    const text = formatAbReport(r);
    expect(text).toMatch(/^A\/B report: control A/);
    expect(text).toMatch(/A \(control\)\s+300/);
    expect(text).toMatch(/B: \+\d+\.\d points on 25 symbols over 24 days/);
    expect(text).toMatch(/decision: stop-winner \(winner: B\)/);
    expect(() => abReport([], { variants: ['A'] })).toThrow(/invalid A\/B report options: variants/);
    expect(() => abReport([], { variants: ['A', 'A'] })).toThrow(/distinct/);
    expect(() => abReport([], { variants: ['A', 'B'], minSamplesPerVariant: 100, maxSamplesPerVariant: 50 })).toThrow(/at least minSamplesPerVariant/);
    expect(() => abReport([], { variants: ['A', 'B'], deadline: 'tomorrow' })).toThrow(/deadline/);
  });
});

/**
 * A panel of daily returns (a market factor and each stock's own), served to A and B by symbol-day
 * and scored on 5-day direction labels: the outcomes of days less than 5 apart share most of their
 * forward return, and a 5-day momentum call shares its window with the next days' calls. A calls
 * momentum, B the contrarian (equally good, 50% expected, but perfectly opposed day by day); with
 * `edge`, B calls momentum too but the true direction on that share of its symbol-days.
 */
function overlappingPanel(seed: number, setting: { symbols: number; days: number; shareA: number; edge?: number }): PredictionWithOutcome[] {
  const next = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const h = 5;
  const span = setting.days + 2 * h;
  const market = Array.from({ length: span }, () => 0.01 * normal());
  const returns = Array.from({ length: setting.symbols }, () => market.map((m) => m + 0.015 * normal()));
  const rows: PredictionWithOutcome[] = [];
  for (let t = h; t < h + setting.days; t++) {
    const asOf = dayOf(t);
    for (let s = 0; s < setting.symbols; s++) {
      let past = 0;
      let ahead = 0;
      for (let k = 0; k < h; k++) {
        past += returns[s][t - k];
        ahead += returns[s][t + 1 + k];
      }
      const outcome = (ahead > 0 ? 1 : 0) as 0 | 1;
      const variant = next() < setting.shareA ? 'A' : 'B';
      const edge = setting.edge ?? 0;
      const up = variant === 'A' ? past > 0 : edge === 0 ? past <= 0 : next() < edge ? ahead > 0 : past > 0;
      rows.push({ ...row({ request: rows.length, variant, right: (up ? 1 : 0) === outcome, outcome, symbol: `S${s}`, asOf }), version: variant === 'A' ? 1 : 2 });
    }
  }
  return rows;
}

describe('A/B report on labels whose windows overlap (lags = horizon − 1)', () => {
  const decide = (rows: PredictionWithOutcome[], lags: number) => abReport(rows, { variants: ['A', 'B'], versions: [1, 2], minSamplesPerVariant: 1, informationFraction: 1, lags });
  const stops = (setting: Parameters<typeof overlappingPanel>[1], lags: number, seeds: number) => {
    let decided = 0;
    for (let seed = 1; seed <= seeds; seed++) if (decide(overlappingPanel(seed, setting), lags).decision === 'stop-winner') decided++;
    return decided / seeds;
  };

  it('decides between equally good models at about its level with 5-day labels, where day clusters decided 12–21% of the time (nominal 2.5%)', () => {
    const settings = [
      { symbols: 40, days: 40, shareA: 0.5 },
      { symbols: 60, days: 10, shareA: 0.5 },
      { symbols: 40, days: 30, shareA: 0.9 },
    ];
    for (const s of settings) expect(stops(s, 4, 100)).toBeLessThanOrEqual(0.05);
  });

  it('decides between equally good models at most alpha of the time over daily looks, where the O\'Brien–Fleming boundary on a panel t decided in 8–13%', () => {
    // Each test looked at every trading day as its outcomes mature (5 days behind), as the workflow's
    // hourly analyses do, over 30 days of traffic and its 30-day deadline; α 5% over all looks.
    const falseDecisions = (setting: Parameters<typeof overlappingPanel>[1], seeds: number) => {
      let decided = 0;
      for (let seed = 1; seed <= seeds; seed++) {
        const rows = overlappingPanel(seed, setting);
        const dates = [...new Set(rows.map((r) => r.asOf))].sort();
        for (let look = 7; look <= dates.length + 5; look++) {
          const newest = dates[Math.min(look, dates.length) - 1];
          const maturedThrough = dates[look - 6];
          const view = rows.filter((r) => r.asOf <= newest).map((r) => (r.asOf <= maturedThrough ? r : { ...r, matured: false, outcome: null }));
          const report = abReport(view, { variants: ['A', 'B'], versions: [1, 2], minSamplesPerVariant: 30, lags: 4, start: `${dates[0]}T00:00:00Z`, deadline: `${dates[dates.length - 1]}T23:00:00Z`, analysedAt: `${new Date(Date.parse(dates[0]) + (look - 1) * 86_400_000).toISOString().slice(0, 10)}T16:00:00Z` });
          if (report.decision === 'stop-winner') {
            decided++;
            break;
          }
        }
      }
      return decided / seeds;
    };
    expect(falseDecisions({ symbols: 20, days: 30, shareA: 0.5 }, 40)).toBeLessThanOrEqual(0.05);
  });

  it('withdraws a challenger wrong on every outcome after 4 blocks of 5 matured days, and not on 3', () => {
    // 24 symbols a day, each answered by both arms: A right on every symbol-day, B wrong.
    const rows = (days: number) =>
      Array.from({ length: days }, (_, d) =>
        Array.from({ length: 24 }, (_, s) => [
          { ...row({ request: 100 * d + 2 * s, variant: 'A', right: true, symbol: `S${s}`, asOf: dayOf(d) }), version: 1 },
          { ...row({ request: 100 * d + 2 * s + 1, variant: 'B', right: false, symbol: `S${s}`, asOf: dayOf(d) }), version: 2 },
        ]),
      ).flat(2);
    const decide = (days: number) => abReport(rows(days), { variants: ['A', 'B'], versions: [1, 2], minSamplesPerVariant: 20, lags: 4 });
    const three = decide(15);
    expect(three.comparisons[0]).toMatchObject({ blocks: 3, difference: -1 });
    expect(three.decision).toBe('continue');
    const four = decide(20);
    expect(four.comparisons[0]).toMatchObject({ blocks: 4, difference: -1 });
    expect(four.comparisons[0].evidenceWorse).toBeGreaterThanOrEqual(20);
    expect(four).toMatchObject({ decision: 'stop-winner', winner: 'A' });
  });

  it('still finds a challenger 10 points better over 60 days', () => {
    // Over 40 days (8 blocks of 5) 47.5% of these tests; the blocks are what the evidence counts.
    expect(stops({ symbols: 40, days: 60, shareA: 0.5, edge: 0.2 }, 4, 40)).toBeGreaterThanOrEqual(0.5);
  });
});

describe('A/B report with lags: what it says about days', () => {
  const options = { variants: ['A', 'B'], versions: [1, 2], minSamplesPerVariant: 10, informationFraction: 1 };

  it('reports the distinct matured days a comparison rests on, not the stretches of lags + 1 days its variance counts', () => {
    const r = abReport(overlappingPanel(3, { symbols: 40, days: 40, shareA: 0.5 }), { ...options, lags: 4 });
    expect(r.comparisons[0]).toMatchObject({ symbols: 40, days: 40, independentStretches: 8 });
    expect(formatAbReport(r)).toMatch(/B: [+-]\d+\.\d points on 40 symbols over 40 days \(8 independent stretches of 5 days\)/);
    const dayOnly = abReport(overlappingPanel(3, { symbols: 40, days: 40, shareA: 0.5 }), { ...options, lags: 0 });
    expect(dayOnly.comparisons[0]).toMatchObject({ days: 40, independentStretches: 40 });
    // In the decision's reasons too: a clearly better B on 24 days, lags 1.
    const better = abReport([...arm('A', 300, rate(50), 0), ...arm('B', 300, rate(80), 1)], { variants: ['A', 'B'], lags: 1, informationFraction: 1 });
    expect(better.winner).toBe('B');
    expect(better.reasons[0]).toMatch(/on 25 common symbols over 24 days/);
  });

  it('says when a comparison waits for more matured days than the lags need, not that the variants share no symbol', () => {
    const r = abReport(overlappingPanel(3, { symbols: 50, days: 5, shareA: 0.5 }), { ...options, lags: 4 });
    expect(r.comparisons).toEqual([]);
    const reasons = r.reasons.join(' ');
    expect(reasons).not.toMatch(/shares no symbol/);
    expect(reasons).toMatch(/not compared yet: B has 5 matured days in the symbols it shares with A, rows up to 4 trading days apart dependent \(a 5-session label\) need at least 6/);
    // One more day is enough.
    expect(abReport(overlappingPanel(3, { symbols: 50, days: 6, shareA: 0.5 }), { ...options, lags: 4 }).comparisons).toHaveLength(1);
    // Without lags, one day is too few.
    const oneDay = abReport(
      Array.from({ length: 20 }, (_, i) => row({ request: i, variant: i % 2 === 0 ? 'A' : 'B', right: i % 3 === 0, symbol: `S${i >> 1}`, asOf: dayOf(0) })),
      { variants: ['A', 'B'], minSamplesPerVariant: 1, lags: 0 },
    );
    expect(oneDay.reasons.join(' ')).toMatch(/not compared yet: B has 1 matured day in the symbols it shares with A, at least 2 needed/);
  });

  it("widens each arm's hit-rate interval for rows within the lags, as the comparison does", () => {
    // Both arms' calls are right half the time on average; over 100 panels, how often does each arm's 95% interval miss 50%?
    const misses = (lags: number) => {
      let missed = 0;
      for (let seed = 1; seed <= 100; seed++) {
        for (const v of abReport(overlappingPanel(seed, { symbols: 40, days: 40, shareA: 0.5 }), { ...options, lags }).variants) {
          if (!v.hitRateInterval || v.hitRateInterval.lower > 0.5 || v.hitRateInterval.upper < 0.5) missed++;
        }
      }
      return missed / 200;
    };
    expect(misses(4)).toBeLessThanOrEqual(0.1);
    // Single-day clusters, what each arm's interval had before: about one in five.
    expect(misses(0)).toBeGreaterThan(0.15);
  });
});

describe("each arm's hit-rate interval on short tests (5-day labels, lags 4)", () => {
  const options = { variants: ['A', 'B'], versions: [1, 2], minSamplesPerVariant: 1, informationFraction: 1, lags: 4 };
  /** Over `seeds` panels, the share of arms whose 95% interval misses the true hit rate (50%: A's momentum and B's contrarian calls are right half the time), and of arms given none. */
  const coverage = (days: number, seeds: number) => {
    let missed = 0;
    let none = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      for (const v of abReport(overlappingPanel(seed, { symbols: 30, days, shareA: 0.5 }), options).variants) {
        if (!v.hitRateInterval) none++;
        else if (v.hitRateInterval.lower > 0.5 || v.hitRateInterval.upper < 0.5) missed++;
      }
    }
    return { missed: missed / (2 * seeds), none: none / (2 * seeds) };
  };

  it('covers the true hit rate at about 95% over two and three weeks, where the normal critical value missed it in 12–14% of tests', () => {
    // 300 seeds, 600 arms: a true miss rate of 5% exceeds 7.5% by chance with probability below 0.5%.
    for (const days of [10, 15]) {
      const c = coverage(days, 300);
      expect(c.none).toBe(0);
      expect(c.missed).toBeLessThanOrEqual(0.075);
    }
  });

  it('gives no interval, and says why, while the matured days make fewer than two stretches of lags + 1', () => {
    const r = abReport(overlappingPanel(3, { symbols: 30, days: 5, shareA: 0.5 }), options);
    expect(r.variants.map((v) => v.hitRateInterval)).toEqual([null, null]);
    expect(r.reasons.join(' ')).toMatch(/no hit-rate interval for A, B: their matured symbol-days span 5 days, 1 independent stretch of 5 days \(2 needed\)/);
    expect(formatAbReport(r)).toMatch(/no hit-rate interval for A, B/);
  });
});

describe('A/B decisions on evidence the newer data contradict', () => {
  it('does not promote B on an early lead once B has been behind since (the evidence is a running maximum)', () => {
    // B right on every outcome for 12 days (A on half), then right on 35% while A stays at 50%, 24
    // symbols on both arms each day; the minimum sample holds the decision until day 60.
    let seed = 3;
    const u = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const day = (d: number) => new Date(Date.UTC(2026, 0, 5) + d * 86_400_000).toISOString().slice(0, 10);
    const rows: PredictionWithOutcome[] = [];
    for (let d = 0; d < 60; d++)
      for (let s = 0; s < 24; s++)
        for (const v of ['A', 'B'] as const) {
          const right = v === 'A' ? u() < 0.5 : d < 12 ? true : u() < 0.35;
          rows.push({ id: `${d}-${s}-${v}`, requestId: `${d}-${s}-${v}`, model: 'm', version: v === 'A' ? 1 : 2, variant: v, served: true, symbol: `S${s}`, routingKey: `S${s}`, asOf: day(d), probability: right ? 0.8 : 0.2, predictedClass: right ? 1 : 0, latencyUs: 1000, error: null, createdAt: `${day(d)}T15:00:00Z`, outcome: 1, matured: true } as unknown as PredictionWithOutcome);
        }
    const r = abReport(rows, { variants: ['A', 'B'], versions: [1, 2], lags: 0, minSamplesPerVariant: 1000, minServingPredictions: 10 });
    const c = r.comparisons[0];
    expect(c.evidenceBetter).toBeGreaterThanOrEqual(20); // reached during B's early lead
    expect(c.difference).toBeLessThan(0);
    expect(c.significant).toBe(false);
    expect(r.decision).toBe('continue');
  });
});

describe('minSessionsToDecide: the fewest sessions after the start before the report can decide', () => {
  // 24 symbols, each served by both arms every session: B right on every outcome, A wrong. `sessions`
  // after the start, the dates served are the one closed at the start and one per session since; a
  // date's outcome has matured h sessions after its own.
  const look = (h: number, sessions: number, alpha: number) => {
    const rows = Array.from({ length: sessions + 1 }, (_, d) =>
      Array.from({ length: 24 }, (_, s) => {
        const matured = d + h <= sessions;
        return [
          { ...row({ request: 100 * d + 2 * s, variant: 'A', right: false, matured, symbol: `S${s}`, asOf: dayOf(d) }), version: 1 },
          { ...row({ request: 100 * d + 2 * s + 1, variant: 'B', right: true, matured, symbol: `S${s}`, asOf: dayOf(d) }), version: 2 },
        ];
      }),
    ).flat(2);
    return abReport(rows, { variants: ['A', 'B'], versions: [1, 2], minSamplesPerVariant: 20, lags: h - 1, alpha });
  };

  it.each([
    [1, 0.05, 12],
    [5, 0.05, 24],
    [10, 0.05, 49],
    [20, 0.05, 99],
    [5, 0.01, 29],
  ])('h %i at alpha %f: %i sessions, the first at which a challenger right on every outcome wins', (h, alpha, sessions) => {
    expect(minSessionsToDecide(h, alpha)).toBe(sessions);
    expect(minBlocksToDecide(alpha)).toBe(alpha === 0.05 ? 4 : 5);
    expect(look(h, sessions - 1, alpha).decision).toBe('continue');
    expect(look(h, sessions, alpha)).toMatchObject({ decision: 'stop-winner', winner: 'B' });
  });

  it('is beyond the 10 sessions of a 14-day test for every horizon (the old default deadline could never decide)', () => {
    expect(minSessionsToDecide(1)).toBeGreaterThan(10);
    expect(look(1, 10, 0.05).decision).toBe('continue');
    expect(() => minSessionsToDecide(0)).toThrow(/label horizon must be a whole number of sessions >= 1, got 0/);
  });
});
