/**
 * Checks that lib/streaming/online-indicators.ts gives, for every per-symbol feature kind it
 * covers, exactly (bit for bit) the last value computeSymbolFeature gives on the same series:
 * every symbol of the data, many end points and tail lengths, plus constructed edge cases (flat
 * prices, zero volume, gaps). Prints the number of comparisons, mismatches and how fast each is.
 *
 *   npx tsx bench/online-indicators-check.ts [--data <dir>] [--stride 5]
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import type { Bar } from '../lib/market-data/bar';
import { generateSyntheticMarket } from '../lib/market-data/synthetic';
import { readBarCsv } from '../lib/market-data/csv-reader';
import { checkParity, edgeCaseSeries, PARITY_SPECS } from '../lib/streaming/online-indicators-parity';
import { loadCsvBarsForReplay } from '../lib/streaming/replay';

const cli = new Command().option('--data <dir>', 'CSV folder (default: the shared S&P 500 data, else a generated market)').option('--stride <n>', 'check every n-th end point', '5').parse();
const opts = cli.opts<{ data?: string; stride: string }>();
const SHARED = path.resolve(__dirname, '../../shared/data/sp500-2013-2018');

async function series(): Promise<Array<{ symbol: string; bars: Bar[] }>> {
  const dir = opts.data ?? (fs.existsSync(SHARED) ? SHARED : undefined);
  let bars: Bar[];
  if (dir) bars = (await loadCsvBarsForReplay(dir)).bars;
  else bars = generateSyntheticMarket({ symbols: 40, from: '2014-01-02', to: '2018-12-31', seed: 5, plantErrors: false }).files.flatMap((f) => readBarCsv(f.csv, { source: f.fileName }).bars);
  const bySymbol = new Map<string, Map<string, Bar>>();
  for (const b of bars) {
    const m = bySymbol.get(b.symbol) ?? new Map<string, Bar>();
    m.set(b.date, b);
    bySymbol.set(b.symbol, m);
  }
  const out = [...bySymbol].map(([symbol, m]) => ({ symbol, bars: [...m.values()].sort((a, b) => (a.date < b.date ? -1 : 1)) }));
  out.push(...edgeCaseSeries(out[0].bars));
  return out;
}

function main2(all: Array<{ symbol: string; bars: Bar[] }>): void {
  const r = checkParity(all, Number(opts.stride));
  console.log(`${r.compared} comparisons (${PARITY_SPECS.length} specs, ${all.length} series), ${r.declined} declined (no fast path or too short), ${r.problems.length} mismatches`);
  console.log(`time: fast ${r.fastMs.toFixed(0)} ms, reference ${r.referenceMs.toFixed(0)} ms (the reference for the compared ones only)`);
  for (const m of r.problems.slice(0, 20)) console.log(`  ${m}`);
  if (r.problems.length > 0) process.exitCode = 1;
}

series()
  .then(main2)
  .catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
