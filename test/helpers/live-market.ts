import type { Bar } from '../../lib/market-data/bar';
import { readBarCsv } from '../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../lib/market-data/synthetic';

/** The first live session of the stream tests' market: bars before it are stored, bars from it on are sent live. */
export const LIVE_CUT = '2018-01-02';

/**
 * The stream tests' synthetic market (8 symbols, 2016-01-04..2018-06-29, no planted errors): every
 * bar, and the live ones (from LIVE_CUT) in the order a feed sends them: by date, then symbol.
 */
export function liveTestMarket(): { all: Bar[]; live: Array<Bar & { source: string }> } {
  const all: Bar[] = generateSyntheticMarket({ symbols: 8, from: '2016-01-04', to: '2018-06-29', seed: 11, plantErrors: false }).files.flatMap((f) =>
    readBarCsv(f.csv, { source: f.fileName }).bars.map((b) => ({ symbol: b.symbol, date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume })),
  );
  const live = all
    .filter((b) => b.date >= LIVE_CUT)
    .sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.symbol < b.symbol ? -1 : 1))
    .map((b) => ({ ...b, source: 'test' }));
  return { all, live };
}
