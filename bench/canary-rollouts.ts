/**
 * Simulated canary rollouts (`npm run bench:canary-rollouts`): the rates at which the canary's
 * hit-rate rule promotes and rolls back healthy and flipped canaries, through the real analyseCanary
 * with the deployment workflow's step logic (test/helpers/canary-rollouts.ts: steps 5/25/50/100,
 * default thresholds but the score-shift rule off, one request per symbol and trading day, outcomes
 * maturing after the label horizon, an analysis at the end of every day). Fixed seeds; each setting
 * prints the share promoted, rolled back and undecided after --max-days, the median days to each,
 * how many reached each traffic step (and of those, how many were rolled back later), and the median
 * days a canary rolled back at full traffic had served there. Settings: an equally good canary,
 * flipped ones (8 points and 1.6 worse) and clearly worse ones of their own errors (7 and 9.5 points).
 * --widen-to full tells no widening its next share, so each needs the full-traffic bound 1/alpha.
 *   tsx bench/canary-rollouts.ts [--runs 200] [--symbols 100] [--max-days 250] [--horizons 1,5] [--widen-to next|full]
 */
import { Command } from 'commander';
import { rolloutRates } from '../test/helpers/canary-rollouts';

const program = new Command()
  .option('--runs <n>', 'rollouts per setting', '200')
  .option('--symbols <n>', 'symbols requested every day', '100')
  .option('--max-days <n>', 'trading days after which a rollout is given up', '250')
  .option('--horizons <list>', 'label horizons in sessions', '1,5')
  .option('--widen-to <what>', "what a widening is told it widens to: 'next' (the next step's share, as deployments do) or 'full'", 'next')
  .parse();
const opts = program.opts<{ runs: string; symbols: string; maxDays: string; horizons: string; widenTo: string }>();
if (opts.widenTo !== 'next' && opts.widenTo !== 'full') throw new Error(`--widen-to must be next or full, got "${opts.widenTo}"`);
const widenTo = opts.widenTo;
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
// The helper's default steps.
const STEPS = [5, 25, 50, 100];
const pct = (k: number) => `${((100 * k) / runs).toFixed(1)}%`;

for (const horizon of horizons) {
  const settings: [string, { flippedShare: number; canaryHitRate?: number }][] = [
    ['healthy (equal skill)', { flippedShare: 0 }],
    ['flipped on every symbol (8 points worse)', { flippedShare: 1 }],
    ['flipped on 20% of symbols (1.6 points worse)', { flippedShare: 0.2 }],
    ['7 points worse (own errors)', { flippedShare: 0, canaryHitRate: 0.47 }],
    ['9.5 points worse (own errors)', { flippedShare: 0, canaryHitRate: 0.445 }],
  ];
  for (const [name, canary] of settings) {
    const started = Date.now();
    const r = rolloutRates({ symbols, horizon, maxDays, widenTo, ...canary }, seeds);
    const reached = r.reached.map((n, k) => `${STEPS[k]}% ${n} (median day ${r.medianDayReached[k] ?? '-'}, ${r.reachedThenRolledBack[k]} rolled back later)`).join(', ');
    console.log(
      `${horizon}-session labels, ${name}: promoted ${r.promoted}/${runs} (${pct(r.promoted)}, median ${r.medianDaysToPromote ?? '-'} days), rolled back ${r.rolledBack}/${runs} (${pct(r.rolledBack)}, median ${r.medianDaysToRollBack ?? '-'} days), undecided after ${maxDays} days ${r.undecided}; reached ${reached}; median days at ${STEPS[STEPS.length - 1]}% before a rollback there ${r.medianDaysAtLastStepBeforeRollBack ?? '-'} [${((Date.now() - started) / 1000).toFixed(0)} s]`,
    );
  }
}
