import { abReport, formatAbReport } from '../../../lib/deployment/ab-report';
import type { PredictionWithOutcome } from '../../../lib/deployment/outcomes';
import { row, type RowSpec } from '../../helpers/prediction-rows';

let nextRequest = 0;
/** n served predictions of a variant, right on the first `hits` of them. */
function arm(variant: string, n: number, hits: number, extra: Partial<RowSpec> = {}): PredictionWithOutcome[] {
  return Array.from({ length: n }, (_, i) => row({ request: nextRequest++, variant, right: i < hits, ...extra }));
}

describe('A/B report', () => {
  it('stops with the right winner when a challenger is clearly better', () => {
    const rows = [...arm('A', 300, 150), ...arm('B', 300, 210)];
    const r = abReport(rows, { variants: ['A', 'B'] });
    expect(r.variants.map((v) => [v.variant, v.matured, v.hits, v.hitRate])).toEqual([
      ['A', 300, 150, 0.5],
      ['B', 300, 210, 0.7],
    ]);
    expect(r.comparisons).toHaveLength(1);
    expect(r.comparisons[0].difference).toBeCloseTo(0.2, 12);
    expect(r.comparisons[0].adjustedPValue).toBe(r.comparisons[0].pValue); // one comparison: nothing to correct
    expect(r.decision).toBe('stop-winner');
    expect(r.winner).toBe('B');
  });

  it('names the control when the challenger is clearly worse', () => {
    const r = abReport([...arm('A', 300, 210), ...arm('B', 300, 150)], { variants: ['A', 'B'] });
    expect(r.decision).toBe('stop-winner');
    expect(r.winner).toBe('A');
  });

  it('does not stop identical variants early, and stops without a winner at the maximum', () => {
    const rows = [...arm('A', 150, 90), ...arm('B', 150, 90)];
    const r = abReport(rows, { variants: ['A', 'B'] });
    expect(r.decision).toBe('continue');
    expect(r.winner).toBeUndefined();
    expect(r.comparisons[0].pValue).toBe(1);
    const capped = abReport(rows, { variants: ['A', 'B'], maxSamplesPerVariant: 150 });
    expect(capped.decision).toBe('stop-no-difference');
    expect(capped.winner).toBeUndefined();
  });

  it('makes no decision before every variant has the minimum matured sample, however large the difference', () => {
    const rows = [...arm('A', 300, 60), ...arm('B', 90, 85), ...arm('B', 200, 200, { matured: false })];
    const r = abReport(rows, { variants: ['A', 'B'] });
    expect(r.comparisons[0].significant).toBe(true);
    expect(r.decision).toBe('continue');
    expect(r.reasons[0]).toMatch(/B has 90/);
    expect(r.variants[1]).toMatchObject({ served: 290, matured: 90, unmatured: 200 });
  });

  it('Holm-corrects comparisons of several challengers against the control', () => {
    // C's raw p-value is just under 0.05; as the smaller of two p-values Holm doubles it
    const rows = [...arm('A', 400, 200), ...arm('B', 400, 200), ...arm('C', 400, 230)];
    const r = abReport(rows, { variants: ['A', 'B', 'C'] });
    const c = r.comparisons.find((x) => x.variant === 'C');
    expect(c?.pValue).toBeLessThan(0.05);
    expect(c?.adjustedPValue).toBeCloseTo(Math.min(1, 2 * (c?.pValue ?? 0)), 12);
    expect(c?.significant).toBe(false);
    expect(r.decision).toBe('continue');
    const b = r.comparisons.find((x) => x.variant === 'B');
    expect(b?.adjustedPValue).toBe(1);
  });

  it('scores probabilities: Wilson interval, mean probability, Brier and AUC', () => {
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
    expect(a).toMatchObject({ served: 5, errors: 1, matured: 4, hits: 2, hitRate: 0.5, positiveRate: 0.5 });
    expect(a.meanProbability).toBeCloseTo(0.4125, 12);
    expect(a.brier).toBeCloseTo((0.04 + 0.01 + 0.4225 + 0.16) / 4, 12);
    expect(a.auc).toBeCloseTo(0.75, 12);
    // Wilson 95% for 2 of 4: centre (0.5 + z²/8) / (1 + z²/4) = 0.5, half-width z/(1 + z²/4) · √(1/16 + z²/64)
    const z = 1.959963984540054;
    const half = (z / (1 + (z * z) / 4)) * Math.sqrt(1 / 16 + (z * z) / 64);
    expect(a.hitRateInterval?.lower).toBeCloseTo(0.5 - half, 9);
    expect(a.hitRateInterval?.upper).toBeCloseTo(0.5 + half, 9);
    expect(r.variants[1].auc).toBeNull(); // one class only
  });

  it('formats a readable table and validates its options', () => {
    const r = abReport([...arm('A', 300, 150), ...arm('B', 300, 210)], { variants: ['A', 'B'] });
    const text = formatAbReport(r);
    expect(text).toMatch(/^A\/B report: control A/);
    expect(text).toMatch(/A \(control\)\s+300/);
    expect(text).toMatch(/B: \+20\.0 points/);
    expect(text).toMatch(/decision: stop-winner \(winner: B\)/);
    expect(() => abReport([], { variants: ['A'] })).toThrow(/invalid A\/B report options: variants/);
    expect(() => abReport([], { variants: ['A', 'A'] })).toThrow(/distinct/);
    expect(() => abReport([], { variants: ['A', 'B'], minSamplesPerVariant: 100, maxSamplesPerVariant: 50 })).toThrow(/at least minSamplesPerVariant/);
  });
});
