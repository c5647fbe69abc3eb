import type { SymbolBars } from '../../lib/features/compute-features';
import { toSymbolBars } from '../../lib/features/materialize';
import { readBarCsv } from '../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../lib/market-data/synthetic';

/** A clean generated universe as the feature code reads it. */
export function syntheticUniverse(symbols = 6, from = '2016-01-04', to = '2018-12-31', seed = 42): SymbolBars[] {
  return generateSyntheticMarket({ symbols, from, to, seed, plantErrors: false }).files.map((f) => {
    const { bars } = readBarCsv(f.csv, { source: f.fileName });
    return toSymbolBars(f.symbol, bars);
  });
}

/** A copy whose bars dated after `after` are scaled (prices ×1.3, volume ×2), for point-in-time tests. */
export function perturbAfter(universe: readonly SymbolBars[], after: string): SymbolBars[] {
  return universe.map((s) => {
    const copy: SymbolBars = { ...s, open: s.open.slice(), high: s.high.slice(), low: s.low.slice(), close: s.close.slice(), volume: s.volume.slice() };
    s.dates.forEach((d, i) => {
      if (d <= after) return;
      copy.open[i] *= 1.3;
      copy.high[i] *= 1.35;
      copy.low[i] *= 1.25;
      copy.close[i] *= 1.3 + ((i % 7) - 3) / 100;
      copy.volume[i] *= 2;
    });
    return copy;
  });
}
