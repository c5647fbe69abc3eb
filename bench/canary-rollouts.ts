/**
 * Simulated canary rollouts (`npm run bench:canary-rollouts`): the rates at which the canary's
 * hit-rate rule promotes and rolls back healthy and flipped canaries, through the real analyseCanary
 * with the deployment workflow's step logic (test/helpers/canary-rollouts.ts: steps 5/25/50/100,
 * default thresholds but the score-shift rule off, one request per symbol and trading day, outcomes
 * maturing after the label horizon, an analysis at the end of every day). Fixed seeds; each setting
 * prints the share promoted, rolled back and undecided after --max-days, and the median days to each.
 *   tsx bench/canary-rollouts.ts [--runs 200] [--symbols 100] [--max-days 250] [--horizons 1,5]
 */
import { Command } from 'commander';
import { rolloutRates } from '../test/helpers/canary-rollouts';

const program = new Command()
  .option('--runs <n>', 'rollouts per setting', '200')
  .option('--symbols <n>', 'symbols requested every day', '100')
  .option('--max-days <n>', 'trading days after which a rollout is given up', '250')
  .option('--horizons <list>', 'label horizons in sessions', '1,5')
  .parse();
const opts = program.opts<{ runs: string; symbols: string; maxDays: string; horizons: string }>();
const whole = (name: string, text: string): number => {
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`${name} must be a whole number >= 1, got "${text}"`);
  return n;
};
const runs = whole('--runs', opts.runs);
const symbols = whole('--symbols', opts.symbols);
const maxDays = whole('--max-days', opts.maxDays);
const horizons = opts.horizons.split(',').map((h) => whole('--horizons', h.trim()));
const seeds = Array.from({ length: runs }, (_, i) => i + 1);
const pct = (k: number) => `${((100 * k) / runs).toFixed(1)}%`;

for (const horizon of horizons) {
  for (const [name, flippedShare] of [['healthy (equal skill)', 0], ['flipped on every symbol', 1], ['flipped on 20% of symbols', 0.2]] as const) {
    const started = Date.now();
    const r = rolloutRates({ symbols, horizon, flippedShare, maxDays }, seeds);
    console.log(
      `${horizon}-session labels, ${name}: promoted ${r.promoted}/${runs} (${pct(r.promoted)}, median ${r.medianDaysToPromote ?? '-'} days), rolled back ${r.rolledBack}/${runs} (${pct(r.rolledBack)}, median ${r.medianDaysToRollBack ?? '-'} days), undecided after ${maxDays} days ${r.undecided} [${((Date.now() - started) / 1000).toFixed(0)} s]`,
    );
  }
}
