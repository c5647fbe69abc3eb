import { syntheticTrainingDataset } from '../../helpers/training-dataset';
import { spreadPosition, thinRows } from '../../../lib/training/thin-rows';
import { fitFinalModel } from '../../../lib/training/final-model';
import { datasetRows } from '../../../lib/training/trial';
import { classificationReportOf } from '../../../lib/validation/metrics';
import type { TrainingDataset } from '../../../lib/training/dataset';
import { loadModelRuntimes } from '../../../models/algorithms';

const allRows = (ds: Pick<TrainingDataset, 'rows'>) => Int32Array.from({ length: ds.rows }, (_, r) => r);

function countsBy(values: Int32Array, rows: Int32Array): Map<number, number> {
  const out = new Map<number, number>();
  for (const r of rows) out.set(values[r], (out.get(values[r]) ?? 0) + 1);
  return out;
}

describe('row caps (thinRows)', () => {
  // Rows are ordered by day then symbol: every k-th row kept the same symbols every day when the cap
  // divided the rows evenly (20 symbols, cap 5,000 of 20,000: S0, S4, S8, S12, S16 only).
  it.each([
    [20, 1005, 5000],
    [40, 1005, 5000],
    [12, 1005, 5000],
    [20, 1005, 4000],
    [500, 60, 1500],
  ])('%i symbols x %i days capped at %i: every symbol and every stretch of days keeps its share', (symbols, days, cap) => {
    const ds = syntheticTrainingDataset({ symbols, days, horizon: 5 });
    const kept = thinRows(ds, allRows(ds), cap);
    expect(kept.length).toBe(cap);
    expect(new Set(kept).size).toBe(cap);
    for (let i = 1; i < kept.length; i++) expect(kept[i]).toBeGreaterThan(kept[i - 1]);
    const share = cap / ds.rows;
    const bySymbol = countsBy(ds.symbol, kept);
    expect(bySymbol.size).toBe(symbols);
    for (let s = 0; s < symbols; s++) expect(Math.abs((bySymbol.get(s) ?? 0) - share * (days - 5))).toBeLessThanOrEqual(2);
    // Blocks of 20 days keep their share to within a row.
    const byBlock = countsBy(Int32Array.from(ds.start, (d) => Math.floor(d / 20)), kept);
    for (const [block, n] of byBlock) expect(Math.abs(n - share * symbols * Math.min(20, days - 5 - block * 20))).toBeLessThanOrEqual(1);
  });

  it('symbols listed for part of the history keep a share of their own rows; a day with more rows than the cap keeps part of them, rotating', () => {
    // 30 symbols; symbol s is listed from day 10·s: 6 days of 300 rows each at the end.
    const full = syntheticTrainingDataset({ symbols: 30, days: 305, horizon: 5 });
    const rows = allRows(full).filter((r) => full.start[r] >= 10 * full.symbol[r]);
    const kept = thinRows(full, rows, 1000);
    expect(kept.length).toBe(1000);
    const share = 1000 / rows.length;
    const own = countsBy(full.symbol, rows);
    const bySymbol = countsBy(full.symbol, kept);
    for (const [s, n] of own) expect(Math.abs((bySymbol.get(s) ?? 0) - share * n)).toBeLessThanOrEqual(2);

    const wide = syntheticTrainingDataset({ symbols: 300, days: 7, horizon: 5 }); // 2 days of 300 rows
    const one = thinRows(wide, allRows(wide).subarray(0, 300), 100);
    expect(new Set(Array.from(one, (r) => wide.symbol[r])).size).toBe(100);
    const two = thinRows(wide, allRows(wide), 100);
    const [first, second] = [0, 1].map((d) => new Set(Array.from(two, (r) => r).filter((r) => wide.start[r] === d).map((r) => wide.symbol[r])));
    expect([first.size, second.size]).toEqual([50, 50]);
    expect([...first].filter((s) => second.has(s))).toEqual([]); // the second day keeps other symbols
  });

  it('is deterministic, keeps the order given, and keeps rows under the cap as they are', () => {
    const ds = syntheticTrainingDataset({ symbols: 20, days: 205 });
    const rows = allRows(ds);
    expect(thinRows(ds, rows, 1000)).toEqual(thinRows(ds, rows.slice(), 1000)); // the same rows in another array: drawn again, the same
    expect(thinRows(ds, rows, ds.rows)).toBe(rows);
    // Rows given out of time order: the same rows kept, in the order given.
    const reversed = rows.slice().reverse();
    expect(Array.from(thinRows(ds, reversed, 1000))).toEqual(Array.from(thinRows(ds, rows, 1000)).reverse());
    expect(() => thinRows(ds, rows, 0)).toThrow(/row cap must be a whole number of at least 1, not 0/);
    expect(() => thinRows(ds, rows, 2.5)).toThrow(/not 2.5/);
  });

  it.each([
    [20, 10_000, 50_000],
    [20, 10_000, 40_000],
    [12, 10_000, 30_000],
    [500, 400, 50_000],
  ])('a sample knowing only the row order (%i symbols x %i days, %i rows): every symbol keeps its share, every stretch of days exactly its own', (symbols, days, take) => {
    const n = symbols * days;
    const positions = Int32Array.from({ length: take }, (_, i) => spreadPosition(i, n, take));
    const outside = positions.filter((r, i) => r < Math.floor((i * n) / take) || r >= Math.floor(((i + 1) * n) / take));
    expect(outside).toHaveLength(0);
    const bySymbol = new Array<number>(symbols).fill(0);
    for (const r of positions) bySymbol[r % symbols]++;
    // A random sample's spread around the share: 12% of it, or 5 standard deviations of a binomial count when that is more.
    const share = take / symbols;
    for (let s = 0; s < symbols; s++) expect(Math.abs(bySymbol[s] - share)).toBeLessThan(Math.max(0.12 * share, 5 * Math.sqrt(share)));
    // Every k-th row, where k divides the symbols, kept a fraction of them (20 symbols, k = 4: five).
    expect(new Set(Int32Array.from({ length: take }, (_, i) => Math.floor((i * n) / take) % symbols)).size).toBeLessThan(symbols);
    expect(Int32Array.from({ length: take }, (_, i) => spreadPosition(i, n, take))).toEqual(positions);
    expect(Int32Array.from({ length: 100 }, (_, i) => spreadPosition(i, 100, 100))).toEqual(Int32Array.from({ length: 100 }, (_, i) => i));
  });

  it('a capped final model learns from every symbol: on the rows it was fitted to, as good as the uncapped one', async () => {
    // A quarter of the symbols (S0, S4, …, S16) react the other way to f0; the old cap of 5,000 of
    // 20,000 rows trained on exactly those: AUC 0.3777 against 0.6226 uncapped.
    await loadModelRuntimes();
    const ds = syntheticTrainingDataset({ symbols: 20, days: 1005, horizon: 5, signal: 0.6, seed: 3 });
    const p = ds.columns.length;
    for (let r = 0; r < ds.rows; r++) if (ds.symbol[r] % 4 === 0) ds.values[r * p] = -ds.values[r * p];
    const all = datasetRows(ds, allRows(ds));
    const auc = async (maxTrainRows?: number) => {
      const final = await fitFinalModel(ds, { algorithm: 'logistic_regression', params: { C: 1 }, seed: 1, threads: 1, maxTrainRows });
      return classificationReportOf(final.model.predictProba(all.x), all.y, 2).rocAuc;
    };
    const uncapped = await auc();
    expect(uncapped).toBeGreaterThan(0.6);
    expect(Math.abs((await auc(5000)) - uncapped)).toBeLessThan(0.01);
  });
});
