/**
 * The within-day (cross-sectional) AUC: the mean over days of each day's AUC among that day's
 * symbols. A pooled AUC over every row rewards timing the market (one score for every stock on a day
 * that is higher on the days most stocks rise) as much as ranking stocks; the within-day AUC
 * measures the ranking only: a score that is the same for every symbol on a day gets 0.5 whatever it
 * does over time. A model of market columns only had pooled AUC 0.5375 and within-day 0.498 on
 * S&P 500 data.
 *
 * Its interval treats rows as the rest of the report does (a panel's dependence: rows up to `lags`
 * days apart, and rows of one symbol, lib/stats/dependent-inference.ts). The estimate is
 * θ = (1/D) Σ_d A_d over the D days with both classes, and its influence per row of day d is
 *   ψ = [(A_d − θ) / n_d + (placement − A_d) / P_d (positives) or / N_d (negatives)] / D,
 * the between-day spread of the daily AUCs plus each day's DeLong/Obuchowski placement term (which
 * sums to zero within a day and matters through the symbol clustering: a stock the score keeps
 * ranking high while it keeps rising). Rows of days with one class only are left out.
 */
import { clusteredMean, type ClusterOptions, type Estimate, type PanelDependence } from '../stats/dependent-inference';

/** Rows grouped by day (ascending), only days with both classes: computed once for every score on the same rows. */
interface DayGroups {
  /** Row indices, day by day. */
  order: Int32Array;
  /** Day g's rows are order[bounds[g]] .. order[bounds[g + 1] − 1]. */
  bounds: Int32Array;
  positives: Int32Array;
}

function dayGroupsOf(labels: Int32Array, day: Int32Array): DayGroups {
  const byDay = new Map<number, number[]>();
  for (let r = 0; r < labels.length; r++) (byDay.get(day[r]) ?? byDay.set(day[r], []).get(day[r])!).push(r);
  const order: number[] = [];
  const bounds = [0];
  const positives: number[] = [];
  for (const d of [...byDay.keys()].sort((a, b) => a - b)) {
    const rows = byDay.get(d)!;
    let pos = 0;
    for (const r of rows) if (labels[r] === 1) pos++;
    if (pos === 0 || pos === rows.length) continue; // one class: no AUC that day
    order.push(...rows);
    bounds.push(order.length);
    positives.push(pos);
  }
  return { order: Int32Array.from(order), bounds: Int32Array.from(bounds), positives: Int32Array.from(positives) };
}

interface DailyPlacements {
  /** Mean of the daily AUCs over the kept days. */
  theta: number;
  /** For each kept row (in `order`), ψ times the kept rows' count: the deviation from θ that clusteredMean takes. */
  influence: Float64Array;
  days: number;
}

function dailyPlacements(score: Float64Array, labels: Int32Array, groups: DayGroups): DailyPlacements {
  const { order, bounds } = groups;
  const days = bounds.length - 1;
  const n = order.length;
  const auc = new Float64Array(days);
  const placement = new Float64Array(n); // by position in `order`
  const idx = new Int32Array(n);
  for (let g = 0; g < days; g++) {
    const from = bounds[g];
    const to = bounds[g + 1];
    const positives = groups.positives[g];
    const negatives = to - from - positives;
    let constant = true;
    for (let i = from + 1; i < to && constant; i++) constant = score[order[i]] === score[order[from]];
    if (constant) {
      // One score for every symbol (a market-timing rule): every pair tied.
      placement.fill(0.5, from, to);
      auc[g] = 0.5;
      continue;
    }
    // Placement: a positive's share of the day's negatives below it, a negative's share of the positives above it (ties half).
    for (let i = from; i < to; i++) idx[i] = i;
    const day = idx.subarray(from, to).sort((a, b) => score[order[a]] - score[order[b]]);
    let negBelow = 0;
    let posBelow = 0;
    let pairs = 0;
    for (let i = 0; i < day.length; ) {
      let j = i;
      let pos = 0;
      let neg = 0;
      for (; j < day.length && score[order[day[j]]] === score[order[day[i]]]; j++) {
        if (labels[order[day[j]]] === 1) pos++;
        else neg++;
      }
      const posAbove = positives - posBelow - pos;
      for (let k = i; k < j; k++) placement[day[k]] = labels[order[day[k]]] === 1 ? (negBelow + neg / 2) / negatives : (posAbove + pos / 2) / positives;
      pairs += pos * (negBelow + neg / 2);
      negBelow += neg;
      posBelow += pos;
      i = j;
    }
    auc[g] = pairs / (positives * negatives);
  }
  let theta = 0;
  for (const a of auc) theta += a;
  theta = days > 0 ? theta / days : NaN;
  const influence = new Float64Array(n);
  for (let g = 0; g < days; g++) {
    const size = bounds[g + 1] - bounds[g];
    const positives = groups.positives[g];
    for (let i = bounds[g]; i < bounds[g + 1]; i++) {
      const within = (placement[i] - auc[g]) / (labels[order[i]] === 1 ? positives : size - positives);
      influence[i] = (n * ((auc[g] - theta) / size + within)) / days;
    }
  }
  return { theta, influence, days };
}

/** The panel restricted to the kept rows (one object, so its index is built once for every estimate on it). */
function keptPanel(panel: PanelDependence, keep: Int32Array): PanelDependence {
  return { day: Int32Array.from(keep, (r) => panel.day[r]), ...(panel.symbol ? { symbol: Int32Array.from(keep, (r) => panel.symbol![r]) } : {}), lags: panel.lags };
}

export interface WithinDayAuc {
  /** Mean of the daily AUCs, with its interval; H0 is 0.5 (no ranking of the day's symbols). */
  estimate: Estimate;
  /** Days with both classes, which the mean is over. */
  days: number;
}

/**
 * The within-day AUC of `score` and of each of `rivals` on the same rows and panel. The rivals'
 * means come at once (`rivalValues`); their intervals and the paired differences, which need the
 * panel's variance, only for the rivals asked for.
 */
export function withinDayAucs(score: Float64Array, rivals: readonly Float64Array[], labels: Int32Array, panel: PanelDependence, options: ClusterOptions = {}): { model: WithinDayAuc; rivalValues: number[]; rival: (k: number) => WithinDayAuc; differenceTo: (k: number) => Estimate } {
  const groups = dayGroupsOf(labels, panel.day);
  const sub = keptPanel(panel, groups.order);
  const estimateOf = (p: DailyPlacements, nullValue: number, theta = p.theta, influence = p.influence): Estimate => {
    if (p.days === 0) return nanEstimate(options, nullValue);
    return clusteredMean(Float64Array.from(influence, (x) => theta + x), sub, { ...options, nullValue });
  };
  const model = dailyPlacements(score, labels, groups);
  const others = rivals.map((s) => dailyPlacements(s, labels, groups));
  return {
    model: { estimate: estimateOf(model, 0.5), days: model.days },
    rivalValues: others.map((p) => p.theta),
    rival: (k) => ({ estimate: estimateOf(others[k], 0.5), days: others[k].days }),
    // The kept rows are the same for every score (days with both classes), in the same order: paired by row.
    differenceTo: (k) => estimateOf(model, 0, model.theta - others[k].theta, Float64Array.from(model.influence, (x, i) => x - others[k].influence[i])),
  };
}

function nanEstimate(options: ClusterOptions, nullValue = 0.5): Estimate {
  return { estimate: NaN, standardError: NaN, interval: [NaN, NaN], confidence: options.confidence ?? 0.95, tStat: NaN, nullValue, pValueAbove: NaN, pValueTwoSided: NaN, units: 0, degreesOfFreedom: 0, method: 'no day with both classes' };
}
