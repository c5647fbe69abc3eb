/**
 * The live path's last-row shortcut (lib/streaming/online-indicators.ts) must give exactly, bit for
 * bit, the last value of the offline computation on the same series (checkParity): a generated
 * market, end points all through it, the tail lengths the updater takes, every per-symbol kind with
 * default and other parameters, and flat, zero-volume and constant series.
 * bench/online-indicators-check.ts runs the same check on the real data.
 */
import { toSymbolBars } from '../../../lib/features/materialize';
import type { Bar } from '../../../lib/market-data/bar';
import { readBarCsv } from '../../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../../lib/market-data/synthetic';
import { allFinite } from '../../../lib/streaming/online-indicators';
import { checkParity, edgeCaseSeries } from '../../../lib/streaming/online-indicators-parity';

function market(): Array<{ symbol: string; bars: Bar[] }> {
  const bars = generateSyntheticMarket({ symbols: 4, from: '2015-01-02', to: '2017-06-30', seed: 11, plantErrors: false }).files.flatMap((f) => readBarCsv(f.csv, { source: f.fileName }).bars);
  const bySymbol = new Map<string, Bar[]>();
  for (const b of bars) bySymbol.set(b.symbol, [...(bySymbol.get(b.symbol) ?? []), b]);
  const out = [...bySymbol].map(([symbol, list]) => ({ symbol, bars: list.sort((a, b) => (a.date < b.date ? -1 : 1)) }));
  return [...out, ...edgeCaseSeries(out[0].bars.slice(0, 300))];
}

describe('online last-row indicators', () => {
  it('equal the offline computation bit for bit, and decline only what they cannot compute', () => {
    const result = checkParity(market(), 13);
    expect(result.problems.slice(0, 10)).toEqual([]);
    expect(result.compared).toBeGreaterThan(10_000);
  });

  it('declines a series with a non-finite value (the caller then computes it offline)', () => {
    const { symbol, bars } = market()[0];
    const broken = bars.slice(0, 120).map((b, i) => (i === 100 ? { ...b, close: Number.NaN } : b));
    expect(allFinite(toSymbolBars(symbol, broken), 0, broken.length)).toBe(false);
  });
});
