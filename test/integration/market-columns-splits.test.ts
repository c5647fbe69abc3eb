/**
 * A member's unadjusted split is no crash or jump of the market: the market-wide columns of every
 * symbol (breadth, advance/decline, new highs and lows, dispersion, market volatility) are those of
 * the market without the split, and each date's value still reads no bar after that date.
 */
import path from 'node:path';
import { computeFeatures, type FeatureComputation } from '../../lib/features/compute-features';
import { defineFeatureSet } from '../../lib/features/feature-set';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import type { BarSeries } from '../../lib/market-data/bar';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { readBarSeries } from '../../lib/store/bars';
import { plantSplit } from '../helpers/planted-split';
import { copyOfDir, createSqliteTestDatabase, tempDir } from '../helpers/databases';

const SPLIT_SYMBOL = 'SYN02';
const SPLIT_DATE = '2017-03-01';
const set = defineFeatureSet({
  name: 'market-only',
  features: [{ kind: 'return', horizon: 1 }, { kind: 'breadth', window: 20 }, { kind: 'advance_decline' }, { kind: 'new_highs_lows', window: 60 }, { kind: 'dispersion' }, { kind: 'market_volatility', window: 20 }],
});

async function seriesOf(dir: string): Promise<BarSeries[]> {
  const t = await createSqliteTestDatabase();
  try {
    await importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir } }));
    return await readBarSeries(t.store);
  } finally {
    await t.drop();
  }
}

/** The market columns (all columns but the first) of `symbol`'s rows, by date. */
function marketRows(computed: FeatureComputation, symbol: string): Map<string, number[]> {
  const frame = computed.frames.find((f) => f.symbol === symbol);
  if (!frame) throw new Error(`no frame for ${symbol}`);
  return new Map(frame.dates.map((d, r) => [d, frame.columns.slice(1).map((c) => c[r])]));
}

describe('market columns over a member\'s unadjusted split', () => {
  let plain: BarSeries[];
  let split: BarSeries[];
  beforeAll(async () => {
    const dir = tempDir('mlp-mkt-split-');
    await writeSyntheticMarket(dir, { symbols: 6, from: '2016-01-04', to: '2017-12-29', plantErrors: false });
    // The same steady volumes in both (the rule then finds the split on its own day), the split in one.
    const unsplit = copyOfDir(dir, 'mlp-mkt-plain-');
    const planted = copyOfDir(dir, 'mlp-mkt-planted-');
    for (const s of ['SYN01', 'SYN02', 'SYN03', 'SYN04', 'SYN05', 'SYN06']) {
      plantSplit(path.join(unsplit, `${s}.csv`), '9999-12-31', { steadyVolume: true });
      plantSplit(path.join(planted, `${s}.csv`), s === SPLIT_SYMBOL ? SPLIT_DATE : '9999-12-31', { steadyVolume: true });
    }
    [plain, split] = await Promise.all([seriesOf(unsplit), seriesOf(planted)]);
  }, 120_000);

  it('are those of the market without the split, for every symbol and date', () => {
    const before = computeFeatures(plain, set);
    const after = computeFeatures(split, set);
    expect(after.columns).toEqual(before.columns);
    let compared = 0;
    for (const symbol of ['SYN01', SPLIT_SYMBOL]) {
      const want = marketRows(before, symbol);
      for (const [date, values] of marketRows(after, symbol)) {
        values.forEach((v, k) => expect(v).toBeCloseTo(want.get(date)?.[k] as number, 9));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(400);
    // The split symbol's own return reads the adjusted bars too (feature code 10; -50% before): the day's own move.
    const own = after.frames.find((f) => f.symbol === SPLIT_SYMBOL);
    const at = own?.dates.indexOf(SPLIT_DATE) as number;
    const unsplit = before.frames.find((f) => f.symbol === SPLIT_SYMBOL);
    expect(own?.columns[0][at]).toBeCloseTo(unsplit?.columns[0][unsplit.dates.indexOf(SPLIT_DATE)] as number, 9);
  });

  it('read no bar after their date: the values of the split day and the days after it equal those computed from the bars up to that day', async () => {
    // A 3:2 split: its ratio is no power of two, so scaling the closes before it (the first way this
    // was done) moved the last bits of the values before it.
    const dir = tempDir('mlp-mkt-split32-');
    await writeSyntheticMarket(dir, { symbols: 6, from: '2016-01-04', to: '2017-12-29', plantErrors: false });
    for (const s of ['SYN01', 'SYN02', 'SYN03', 'SYN04', 'SYN05', 'SYN06']) plantSplit(path.join(dir, `${s}.csv`), s === SPLIT_SYMBOL ? SPLIT_DATE : '9999-12-31', { steadyVolume: true, ratio: 1.5 });
    const split = await seriesOf(dir);
    const full = marketRows(computeFeatures(split, set), 'SYN01');
    const dates = split[0].dates;
    const i = dates.indexOf(SPLIT_DATE);
    for (const day of [dates[i - 30], dates[i - 1], dates[i], dates[i + 1], dates[i + 5], dates[i + 25]]) {
      const upTo = split.map((s) => {
        const n = s.dates.filter((d) => d <= day).length;
        return { symbol: s.symbol, dates: s.dates.slice(0, n), open: s.open.slice(0, n), high: s.high.slice(0, n), low: s.low.slice(0, n), close: s.close.slice(0, n), volume: s.volume.slice(0, n) };
      });
      const asOf = marketRows(computeFeatures(upTo, set), 'SYN01').get(day) as number[];
      // Bit for bit (before: equal to 1e-12 only, the closes before the split having been scaled).
      (full.get(day) as number[]).forEach((v, k) => expect(v).toBe(asOf[k]));
    }
  });
});
