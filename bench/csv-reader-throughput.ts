/**
 * Reader-only throughput (no store): rows/s of readBarCsv over a folder of CSV files, best of N
 * rounds so one slow round (GC, a busy machine) does not decide the figure.
 *   tsx bench/csv-reader-throughput.ts [--data ../shared/data/sp500-2013-2018] [--rounds 7]
 */
import fs from 'node:fs';
import path from 'node:path';
import { readBarCsv } from '../lib/market-data/csv-reader';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string): string => {
  const at = args.indexOf(name);
  return at >= 0 && args[at + 1] ? args[at + 1] : fallback;
};
const dir = path.resolve(arg('--data', path.resolve(__dirname, '../../shared/data/sp500-2013-2018')));
const rounds = Number(arg('--rounds', '7'));

const texts = fs
  .readdirSync(dir)
  .filter((f) => /\.csv$/i.test(f))
  .sort()
  .map((f) => ({ source: path.join(dir, f), text: fs.readFileSync(path.join(dir, f), 'utf8') }));
const bytes = texts.reduce((n, t) => n + t.text.length, 0);
let best = Infinity;
let rows = 0;
for (let r = 0; r < rounds; r++) {
  const t0 = process.hrtime.bigint();
  rows = 0;
  for (const t of texts) rows += readBarCsv(t.text, { source: t.source }).rowsRead;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  best = Math.min(best, seconds);
}
console.log(`${texts.length} files, ${rows} rows, ${(bytes / 2 ** 20).toFixed(1)} MiB: best of ${rounds} ${best.toFixed(3)} s = ${Math.round(rows / best)} rows/s`);
