import { rng } from '../../lib/random';
import type { PanelDependence } from '../../lib/stats/dependent-inference';

/**
 * A panel of `stocks` × `days` rows with `horizon`-day labels (the sign of the next `horizon` daily
 * returns, so rows up to horizon − 1 days apart share part of their label), in which timing the
 * market can look like skill by chance over a long stretch:
 * - the returns drift up or down in regimes (a two-state Markov chain, `regimeDays` on average), so
 *   the share of positives moves in regimes longer than the labels' overlap;
 * - the score has a market-wide part that persists for weeks (an AR(1) with coefficient
 *   `scorePersistence` a day), a fixed part per stock and noise of its own.
 * Score and returns are independent unless `skill` > 0, which adds skill × (the stock's own
 * return over the label's days, standardised) to the score: skill that ranks the day's stocks and
 * times nothing. With skill 0 every AUC above 0.5 is chance.
 */
export interface PersistentTimingOptions {
  stocks?: number;
  days?: number;
  horizon?: number;
  regimeDays?: number;
  /** Daily drift of a regime, in units of a stock's daily volatility. */
  drift?: number;
  scorePersistence?: number;
  skill?: number;
}

export function persistentTimingPanel(seed: number, options: PersistentTimingOptions = {}): { score: Float64Array; labels: Int32Array; panel: PanelDependence } {
  const { stocks = 40, days = 250, horizon = 5, regimeDays = 60, drift = 0.25, scorePersistence = 0.95, skill = 0 } = options;
  const random = rng(seed);
  const z = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const total = days + horizon;
  // Regimes of the market's drift, and a market shock a day shared by every stock.
  const mu = new Float64Array(total);
  let state = random() < 0.5 ? 1 : -1;
  for (let t = 0; t < total; t++) {
    if (random() < 1 / regimeDays) state = -state;
    mu[t] = state * drift;
  }
  const marketShock = Float64Array.from({ length: total }, () => 0.7 * z());
  // The score's market-wide part, started from its stationary law.
  const timing = new Float64Array(days);
  let m = z();
  for (let t = 0; t < days; t++) {
    m = scorePersistence * m + Math.sqrt(1 - scorePersistence ** 2) * z();
    timing[t] = m;
  }
  const n = stocks * days;
  const score = new Float64Array(n);
  const labels = new Int32Array(n);
  const day = new Int32Array(n);
  const symbol = new Int32Array(n);
  for (let s = 0; s < stocks; s++) {
    const own = Float64Array.from({ length: total }, () => 0.7 * z());
    const trait = 0.5 * z();
    for (let t = 0; t < days; t++) {
      let ahead = 0;
      let ownAhead = 0;
      for (let k = 1; k <= horizon; k++) {
        ahead += mu[t + k] + marketShock[t + k] + own[t + k];
        ownAhead += own[t + k];
      }
      const r = s * days + t;
      score[r] = timing[t] + trait + z() + (skill * ownAhead) / (0.7 * Math.sqrt(horizon));
      labels[r] = ahead > 0 ? 1 : 0;
      day[r] = t;
      symbol[r] = s;
    }
  }
  return { score, labels, panel: { day, symbol, lags: horizon - 1 } };
}
