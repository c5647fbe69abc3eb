/**
 * Guards and intervals where the data give too few clusters, or unbalanced classes: cases an
 * independent probe found passing a copy of the label, or tripping on noise.
 */
import { clusteredAuc, clusteredMean } from '../../../lib/stats/dependent-inference';
import { accuracyCeiling, DEFAULT_PLAUSIBILITY, plausibilityBound } from '../../../lib/training/guards';
import { nullAucStandardError, permutedLabels } from '../../../lib/training/leakage-guards';
import { crossValidate } from '../../../lib/training/trial';
import { syntheticTrainingDataset } from '../../helpers/training-dataset';
import { Mulberry32 } from '../../../lib/random';

const rows = 600;
const days = Int32Array.from({ length: rows }, (_, i) => Math.floor(i / 5)); // 120 day blocks
const oneSymbol = new Int32Array(rows);

describe('two-way clustered intervals with one symbol', () => {
  it('use the day clustering alone instead of giving no interval', () => {
    const rng = new Mulberry32(3);
    const values = Float64Array.from({ length: rows }, () => rng.next() - 0.4);
    const twoWay = clusteredMean(values, [days, oneSymbol]);
    const byDays = clusteredMean(values, days);
    expect(Number.isFinite(twoWay.interval[0])).toBe(true);
    expect(twoWay.interval).toEqual(byDays.interval);
    expect(twoWay.degreesOfFreedom).toBe(byDays.degreesOfFreedom);

    const labels = Int32Array.from({ length: rows }, () => (rng.next() < 0.5 ? 1 : 0));
    const copy = Float64Array.from(labels); // a feature that is the label
    const auc = clusteredAuc(copy, labels, [days, oneSymbol]);
    expect(auc.estimate).toBe(1);
    expect(auc.interval[0]).toBeGreaterThan(0.9);
  });
});

describe('plausibility bound', () => {
  const direction = DEFAULT_PLAUSIBILITY.direction;
  const base = { baselineAuc: 0.52, baselineName: 'momentum_sign' };

  it('judges on the estimate when no interval could be computed, so a perfect model trips it', () => {
    const verdict = plausibilityBound('direction', direction, { ...base, auc: 1, aucLower: NaN, accuracy: 1, accuracyLower: NaN });
    expect(verdict.tripped).toBe(true);
    expect(verdict.message).toMatch(/no interval: too few independent clusters/);
    expect(plausibilityBound('direction', direction, { ...base, auc: 0.53, aucLower: NaN, accuracy: 0.53, accuracyLower: NaN }).tripped).toBe(false);
  });

  it('holds accuracy to the same margin above a strong majority class, not to an absolute bound', () => {
    expect(accuracyCeiling(direction, 0.5)).toBe(direction.maxAccuracy);
    expect(accuracyCeiling(direction, 0.71)).toBeCloseTo(0.86, 12);
    // an honest model no better than a 71% majority class
    expect(plausibilityBound('direction', direction, { ...base, auc: 0.53, aucLower: 0.51, accuracy: 0.727, accuracyLower: 0.679, baselineAccuracy: 0.71, accuracyBaselineName: 'pre_period_majority' }).tripped).toBe(false);
    const leak = plausibilityBound('direction', direction, { ...base, auc: 0.55, aucLower: 0.53, accuracy: 0.93, accuracyLower: 0.9, baselineAccuracy: 0.71, accuracyBaselineName: 'pre_period_majority' });
    expect(leak.tripped).toBe(true);
    expect(leak.message).toMatch(/above the bound of 86\.0% for direction labels, 0\.15 above pre_period_majority's 71\.0%/);
  });
});

describe('the shuffled-label control band', () => {
  it('uses the folds positives and negatives: a rare class widens chance', () => {
    const balanced = nullAucStandardError([{ testRows: 1000, testPositives: 500 }]);
    expect(balanced).toBeCloseTo(Math.sqrt(1001 / (12 * 500 * 500)), 15);
    expect(nullAucStandardError([{ testRows: 1000 }])).toBe(balanced); // recorded without positives: as balanced
    const rare = nullAucStandardError([{ testRows: 1000, testPositives: 50 }]);
    expect(rare).toBeCloseTo(Math.sqrt(1001 / (12 * 50 * 950)), 15);
    expect(rare / balanced).toBeGreaterThan(2);
  });

  it("counts the folds' coupling: each fold's model learns from the other folds' permuted labels", async () => {
    // 150 permutations of a noise dataset through 3-fold CV: the mean fold AUC spreads ~1.3× as
    // widely as independent folds would, and within the doubled variance the band now uses.
    const ds = syntheticTrainingDataset({ symbols: 5, days: 320, signal: 0, seed: 3 });
    const aucs: number[] = [];
    let se = 0;
    for (let s = 0; s < 150; s++) {
      const r = await crossValidate({ ...ds, labels: permutedLabels(ds.labels, s) }, { algorithm: 'logistic_regression', params: {}, folds: 3, embargoDays: 5, maxTrainRows: 1e6, maxTestRows: 1e6, seed: 1, threads: 1 });
      aucs.push(r.score);
      se = nullAucStandardError(r.folds);
    }
    const mean = aucs.reduce((a, b) => a + b, 0) / aucs.length;
    const sd = Math.sqrt(aucs.reduce((a, b) => a + (b - mean) ** 2, 0) / (aucs.length - 1));
    expect(sd).toBeGreaterThan(1.15 * (se / Math.SQRT2)); // independent folds understate it
    expect(sd).toBeLessThan(se);
    expect(aucs.filter((a) => Math.abs(a - 0.5) > 3 * se)).toHaveLength(0);
    expect(nullAucStandardError([{ testRows: 300, testPositives: 150 }, { testRows: 300, testPositives: 150 }])).toBeCloseTo(Math.sqrt((2 * 2 * 301) / (12 * 150 * 150)) / 2, 15);
  });

  it('keeps a noise model on 5% positives inside the band far more often than three standard errors allow it out', () => {
    // AUC of random scores on 995 rows with 5% positives, 400 draws: the band (3 null SE) holds nearly all.
    const rng = new Mulberry32(11);
    const se = nullAucStandardError([{ testRows: 995, testPositives: 50 }]);
    let out = 0;
    for (let k = 0; k < 400; k++) {
      const score = Float64Array.from({ length: 995 }, () => rng.next());
      let wins = 0;
      for (let i = 0; i < 50; i++) for (let j = 50; j < 995; j++) wins += score[i] > score[j] ? 1 : 0;
      const auc = wins / (50 * 945);
      if (Math.abs(auc - 0.5) > 3 * se) out++;
    }
    expect(out).toBeLessThanOrEqual(4);
  });
});
