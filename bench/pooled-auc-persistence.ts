/**
 * Size and power of the pooled AUC's evidence when the score's market-wide part and the share of
 * positives both persist longer than the labels' overlap (`tsx bench/pooled-auc-persistence.ts`).
 *
 * Null panels (test/helpers/persistent-timing-panel.ts: 40 stocks × 250 days, 5-day labels, returns
 * drifting in regimes of ~60 days, a score whose market-wide part is an AR(1) of 0.95 a day, no
 * skill): how often the one-sided test of AUC > 0.5 (clusteredAuc as evidence, what promotion on
 * `auc` rests on) passes 5% and 0.625% (a first challenge of 4 algorithms). Then panels with modest
 * skill within days (within-day AUC ≈ 0.53–0.55), where passing is power.
 *   tsx bench/pooled-auc-persistence.ts [--seeds 400] [--skill 0.12]
 */
import { Command } from 'commander';
import { clusteredAuc } from '../lib/stats/dependent-inference';
import { withinDayAucs } from '../lib/validation/within-day-auc';
import { persistentTimingPanel, type PersistentTimingOptions } from '../test/helpers/persistent-timing-panel';

const program = new Command()
  .option('--seeds <n>', 'panels per setting', '400')
  .option('--skill <x>', 'skill of the powered panels', '0.12')
  .parse();
const opts = program.opts<{ seeds: string; skill: string }>();
const seeds = Number(opts.seeds);
const skill = Number(opts.skill);
if (!(Number.isInteger(seeds) && seeds > 0)) throw new Error(`--seeds must be a positive integer, got ${opts.seeds}`);
if (!(skill >= 0)) throw new Error(`--skill must be >= 0, got ${opts.skill}`);

function run(label: string, options: PersistentTimingOptions): void {
  let tested = 0;
  let atFive = 0;
  let atPromotion = 0;
  let aucSum = 0;
  let withinSum = 0;
  let dfSum = 0;
  let withinPass = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const { score, labels, panel } = persistentTimingPanel(7000 + seed, options);
    const e = clusteredAuc(score, labels, panel, { evidence: true });
    const w = withinDayAucs(score, [], labels, panel, { evidence: true }).model.estimate;
    withinSum += w.estimate;
    if (w.pValueAbove < 0.05) withinPass++;
    if (!Number.isFinite(e.pValueAbove)) continue;
    tested++;
    aucSum += e.estimate;
    dfSum += e.degreesOfFreedom;
    if (e.pValueAbove < 0.05) atFive++;
    if (e.pValueAbove < 0.00625) atPromotion++;
  }
  const pct = (k: number, n: number) => `${((100 * k) / n).toFixed(1)}%`;
  console.log(`${label}: ${tested}/${seeds} tested, mean AUC ${(aucSum / tested).toFixed(4)}, within-day ${(withinSum / seeds).toFixed(4)}, mean df ${(dfSum / tested).toFixed(1)}; AUC > 0.5 passes one-sided 5% in ${pct(atFive, tested)}, 0.625% in ${pct(atPromotion, tested)} (within-day AUC at 5%: ${pct(withinPass, seeds)})`);
}

run('null (no skill)', {});
run(`skill ${skill}`, { skill });
