/**
 * Backtest of model scores. Timing, to rule out look-ahead: the score at the close of date t decides the
 * weights traded at the open of t + 1, which earn the open-to-open return to t + 2. So period i (0-based)
 * runs from the open of dates[i + 1] to the open of dates[i + 2], its weights come from scores up to
 * dates[i], and there are dates.length − 2 periods.
 *
 * Accounting: costs are paid at the open, out of equity, and the weights are fractions of the equity
 * left after them, reset to target at every open. Between opens the weights drift with their symbols'
 * returns (w × (1 + r) / (1 + the portfolio's gross return)), so the reset is a trade: turnover at an
 * open is Σ |target − drifted weight| over the symbols that can trade (a held symbol without an open
 * keeps its position, untraded). Costs = (costBps + slippageBps) / 1e4 × turnover, charged at the open
 * where the trade happens, plus, on the short side, borrowRate / periodsPerYear × the short weights
 * held: net return = (1 − costs) × (1 + gross return) − 1, gross − costs to first order. A book that
 * stays on target trades nothing after its entry. (Until 7 December 2026 net was gross − costs, the
 * weights were of the equity before costs, and the drift divided by 1 + the net return: positions
 * that never paid the costs were re-traded every day, turnover .00099, then 9.8e-7, … of a constant
 * book at 10 bps.) Turnover is measured against the equity before this open's costs, so it overstates
 * the trade by at most costs × the book: a second-order amount. The equal-weight
 * benchmark is charged its entries only, not the resets that keep it a constant mix (a bar the
 * strategy must clear, not one lowered by its own rebalancing).
 *
 * Missing bars: a symbol without an open cannot trade that day and keeps its previous weight (a stuck
 * position, or still flat). A held position is marked at the last known price (the last close) while the
 * symbol has no open, so the move over a gap lands on the day trading resumes.
 *
 * Ties: with topK, symbols whose scores are exactly equal across the cut are admitted by a seeded random
 * draw per day, never by their order in the input (a model that scores everything the same would otherwise
 * hold the alphabetically first stocks and look like skill). How often scores tie is reported in scoreTies.
 *
 * Everything is O(periods × symbols) over date-major typed arrays (row i, column s at i × symbols + s),
 * plus a sort of the scores per day with topK.
 */
import { BadInputError } from '../errors';
import { fmix32, rng } from '../random';
import { checkBacktestInput, resolveBacktestOptions, type BacktestInput, type BacktestOptions, type BacktestOptionsInput } from './input';
import { equityCurveOf, informationRatioOf, performanceOf, type PerformanceMetrics } from './performance';

export interface PortfolioMetrics extends PerformanceMetrics {
  /** Mean turnover per period × periodsPerYear; selling the whole book and buying a new one counts 2. */
  annualTurnover: number;
  /** Mean gross exposure (sum of |weights|) per period. */
  averageExposure: number;
  totalCosts: number;
  /** Positions opened: runs of consecutive periods holding a symbol on the same side (a flip from long to short is two). */
  trades: number;
  /** Share of trades whose compounded gross return on the position (side-adjusted) was positive. */
  tradeHitRate: number;
}

/** Per-period series of one portfolio, each of length periods unless noted. */
export interface PortfolioResult {
  grossReturns: Float64Array;
  /** (1 − costs) × (1 + gross return) − 1: costs (trading and the short side's borrow fee) are paid at the open. */
  netReturns: Float64Array;
  costs: Float64Array;
  /** Sum of |target − drifted weight| traded at the open that starts the period. */
  turnover: Float64Array;
  /** Gross exposure: sum of |weights| held during the period. */
  exposure: Float64Array;
  /** Net equity at equityDates, length periods + 1, starting at 1. */
  equity: Float64Array;
  /** Weights held during each period, row-major: weights[i × symbols.length + s]; negative = short. */
  weights: Float64Array;
  /** Metrics of the net returns. */
  metrics: PortfolioMetrics;
  /**
   * The period whose loss took the whole equity (net return ≤ −100%, possible with shorts or
   * leverage), if any: its net return is recorded as −100% and the book trades nothing after it.
   */
  wipedOutAt?: number;
}

export interface BacktestResult {
  options: BacktestOptions;
  symbols: string[];
  /** The opens at which equity is measured, dates[1 ..]: period i runs from equityDates[i] to equityDates[i + 1]. */
  equityDates: string[];
  strategy: PortfolioResult;
  /**
   * Equal-weight buy-and-hold of the same universe: 1/N per symbol from its first open at or after equityDates[0],
   * held to the end open-to-open as a constant mix (so it is exactly the strategy that is always long every
   * symbol). The only costs are those of entering.
   */
  benchmark: PortfolioResult;
  /** Annualised information ratio of the strategy's net returns against the benchmark's. */
  informationRatio: number;
  /** The seed of the tie draws, so the result can be reproduced. */
  seed: number;
  /** How often the executed scores (dates[0 .. periods − 1]) tie: mostly tied scores make top-k a lottery, not a selection. */
  scoreTies: ScoreTies;
}

/** Tie statistics of the scores that are traded; shares are over scoredDays, and 0 when there are none. */
export interface ScoreTies {
  /** Days with at least 2 finite scores. */
  scoredDays: number;
  /** Scored days on which every finite score is equal: the model times the market but selects nothing. */
  constantDays: number;
  /** Days on which a top-k cut (long, or short in long_short) fell inside a group of equal scores, so the draw decided; 0 without topK. */
  tiedCutDays: number;
  /** constantDays / scoredDays. */
  constantShare: number;
  /** tiedCutDays / scoredDays. */
  tiedCutShare: number;
  /** Mean over scored days of distinct score values / finite scores (1 = no ties, 1/N = all equal). */
  meanDistinctShare: number;
}

export interface BacktestRunOptions {
  /** Seeds the draw that breaks score ties at the top-k cut (default 0); an integer. */
  seed?: number;
}

export function backtestOf(input: BacktestInput, options: BacktestOptionsInput = {}, { seed = 0 }: BacktestRunOptions = {}): BacktestResult {
  const resolved = resolveBacktestOptions(options);
  checkBacktestInput(input, resolved);
  if (!Number.isSafeInteger(seed)) throw new BadInputError(`The backtest seed must be a safe integer, got ${seed}`, 'INVALID_BACKTEST_OPTIONS');
  const market = marketOf(input);
  const costRate = (resolved.costBps + resolved.slippageBps) / 1e4;
  const equityDates = input.dates.slice(1);
  const performance = { periodsPerYear: resolved.periodsPerYear, riskFreeRate: resolved.riskFreeRate, dates: equityDates };
  // Only scores up to dates[periods − 1] are ever executed; later ones have no next-but-one open.
  const { signals, scoreTies } = signalsOf(input, market.periods, resolved, seed);
  const borrowRate = resolved.borrowRate / resolved.periodsPerYear;
  const strategy = portfolioOf(strategyWeightsOf(signals, market, resolved), market, { costRate, borrowRate, chargeDrift: true }, performance);
  const benchmark = portfolioOf(benchmarkWeightsOf(market), market, { costRate, borrowRate, chargeDrift: false }, performance);
  return {
    options: resolved,
    symbols: input.symbols.map((s) => s.symbol),
    equityDates,
    strategy,
    benchmark,
    informationRatio: informationRatioOf(strategy.netReturns, benchmark.netReturns, resolved.periodsPerYear),
    seed,
    scoreTies,
  };
}

/** Per-period symbol returns and tradability, row-major (periods × symbols). */
interface Market {
  periods: number;
  symbols: number;
  /** Open-to-open return of period i, from the mark at the open of dates[i + 1] to that of dates[i + 2]; NaN before the first open. */
  returns: Float64Array;
  /** 1 where the symbol has an open at the start of period i, so it can trade. */
  tradable: Uint8Array;
  /** Per symbol, the last period with an open (-1: none): after it the series has ended (a delisting) and a position is gone, not stuck. */
  lastOpen: Int32Array;
}

function marketOf(input: BacktestInput): Market {
  const days = input.dates.length;
  const periods = days - 2;
  const symbols = input.symbols.length;
  const returns = new Float64Array(periods * symbols);
  const tradable = new Uint8Array(periods * symbols);
  const mark = new Float64Array(days);
  const lastOpen = new Int32Array(symbols).fill(-1);
  input.symbols.forEach(({ open, close }, s) => {
    let last = NaN; // last known price, carried over days without an open
    for (let d = 0; d < days; d++) {
      mark[d] = Number.isNaN(open[d]) ? last : open[d];
      last = Number.isNaN(close[d]) ? mark[d] : close[d];
    }
    for (let i = 0; i < periods; i++) {
      returns[i * symbols + s] = mark[i + 2] / mark[i + 1] - 1;
      tradable[i * symbols + s] = Number.isNaN(open[i + 1]) ? 0 : 1;
      if (tradable[i * symbols + s] === 1) lastOpen[s] = i;
    }
  });
  return { periods, symbols, returns, tradable, lastOpen };
}

/** A 32-bit hash of a symbol's name under a salt, so a draw follows the symbol wherever it is listed. */
function nameHashOf(name: string, salt: number): number {
  let h = salt;
  for (let i = 0; i < name.length; i++) h = fmix32(h ^ name.charCodeAt(i));
  return fmix32(h ^ name.length);
}

/**
 * Orders a group of tied symbols on day t by random keys per (seed, day, symbol). Keyed by name, not index,
 * so reordering the universe does not change who is drawn; two independent 32-bit hashes make a 53-bit
 * key, so equal keys (then resolved by name) practically never happen, and not for the same pair every day.
 */
function tieDrawOf(names: readonly string[], seed: number): (t: number, group: Int32Array) => void {
  const draw = rng(fmix32(seed >>> 0) ^ fmix32(Math.floor(seed / 2 ** 32) + 0x6a09e667));
  const saltA = (draw() * 2 ** 32) >>> 0;
  const saltB = (draw() * 2 ** 32) >>> 0;
  const hashA = Uint32Array.from(names, (n) => nameHashOf(n, saltA));
  const hashB = Uint32Array.from(names, (n) => nameHashOf(n, saltB));
  return (t: number, group: Int32Array) => {
    const dayA = fmix32(saltA ^ fmix32(t + 0x3c6ef372));
    const dayB = fmix32(saltB ^ fmix32(t + 0xbb67ae85));
    const key = (s: number) => fmix32(dayA ^ hashA[s]) * 2 ** 21 + (fmix32(dayB ^ hashB[s]) >>> 11);
    group.sort((a, b) => key(a) - key(b) || (names[a] < names[b] ? -1 : 1));
  };
}

/**
 * Keeps the first k of the n ranked symbols in order[0 .. n), already sorted best first by score. If the
 * k-th and (k+1)-th scores are equal, the members of that tied group that get in are drawn by tie key
 * instead of by the index order the sort left them in. Returns whether the draw decided.
 */
function cutTopK(order: Int32Array, n: number, k: number, score: (s: number) => number, t: number, drawTies: ReturnType<typeof tieDrawOf>): boolean {
  if (n <= k) return false;
  const cut = score(order[k - 1]);
  if (score(order[k]) !== cut) return false;
  let lo = k - 1;
  while (lo > 0 && score(order[lo - 1]) === cut) lo--;
  let hi = k + 1;
  while (hi < n && score(order[hi]) === cut) hi++;
  drawTies(t, order.subarray(lo, hi)); // the first k − lo of the group after the draw get in
  return true;
}

/**
 * Target side per date and symbol from that date's scores: +1 long, −1 short, 0 flat; and how often
 * those scores tie.
 */
function signalsOf(input: BacktestInput, days: number, options: BacktestOptions, seed: number): { signals: Int8Array; scoreTies: ScoreTies } {
  const { strategy, threshold, topK } = options;
  const symbols = input.symbols.length;
  const scores = input.symbols.map((s) => s.score);
  const signals = new Int8Array(days * symbols);
  const shortBelow = strategy === 'long_short' ? 1 - threshold : -Infinity;
  const longs = new Int32Array(symbols);
  const shorts = new Int32Array(symbols);
  const drawTies = tieDrawOf(input.symbols.map((s) => s.symbol), seed);
  const distinct = new Set<number>();
  let scoredDays = 0;
  let constantDays = 0;
  let tiedCutDays = 0;
  let distinctShareSum = 0;
  for (let t = 0; t < days; t++) {
    let nLong = 0;
    let nShort = 0;
    let finite = 0;
    distinct.clear();
    for (let s = 0; s < symbols; s++) {
      const score = scores[s][t];
      if (score > threshold) longs[nLong++] = s;
      else if (score < shortBelow) shorts[nShort++] = s; // NaN fails both: no prediction, no position
      if (Number.isNaN(score)) continue; // scores are NaN or in [0, 1] (checked)
      finite++;
      distinct.add(score);
    }
    if (finite >= 2) {
      scoredDays++;
      if (distinct.size === 1) constantDays++;
      distinctShareSum += distinct.size / finite;
    }
    if (topK !== undefined) {
      // Sorted by score; the index order the sort leaves among equal scores is undone by cutTopK's draw.
      if (nLong > topK) longs.subarray(0, nLong).sort((a, b) => scores[b][t] - scores[a][t] || a - b);
      if (nShort > topK) shorts.subarray(0, nShort).sort((a, b) => scores[a][t] - scores[b][t] || a - b);
      const at = (s: number) => scores[s][t];
      const longDrawn = cutTopK(longs, nLong, topK, at, t, drawTies);
      const shortDrawn = cutTopK(shorts, nShort, topK, at, t, drawTies);
      if (longDrawn || shortDrawn) tiedCutDays++;
      nLong = Math.min(nLong, topK);
      nShort = Math.min(nShort, topK);
    }
    for (let k = 0; k < nLong; k++) signals[t * symbols + longs[k]] = 1;
    for (let k = 0; k < nShort; k++) signals[t * symbols + shorts[k]] = -1;
  }
  const share = (count: number) => (scoredDays > 0 ? count / scoredDays : 0);
  const scoreTies: ScoreTies = {
    scoredDays,
    constantDays,
    tiedCutDays,
    constantShare: share(constantDays),
    tiedCutShare: share(tiedCutDays),
    meanDistinctShare: share(distinctShareSum),
  };
  return { signals, scoreTies };
}

/**
 * Weights per period: the average of the last holdingDays signals × the unit weight (1/N, 1/topK, or
 * 1/(2·topK) for long_short), kept at the previous weight where the symbol has no open.
 */
function strategyWeightsOf(signals: Int8Array, market: Market, options: BacktestOptions): Float64Array {
  const { periods, symbols, tradable, lastOpen } = market;
  const { topK, holdingDays: h } = options;
  const unit = topK === undefined ? 1 / symbols : options.strategy === 'long_short' ? 1 / (2 * topK) : 1 / topK;
  const weights = new Float64Array(periods * symbols);
  const held = new Int32Array(symbols); // sum of the signals of the last h dates, kept in integers so flat is exactly 0
  for (let i = 0; i < periods; i++) {
    for (let s = 0; s < symbols; s++) {
      held[s] += signals[i * symbols + s];
      if (i >= h) held[s] -= signals[(i - h) * symbols + s];
      const at = i * symbols + s;
      weights[at] = tradable[at] ? (unit * held[s]) / h : i > 0 && i <= lastOpen[s] ? weights[at - symbols] : 0;
    }
  }
  return weights;
}

/**
 * Equal weight in the symbols that can trade: each period the weight not stuck in held symbols
 * without an open (a halt: kept, as the strategy keeps its own) is shared equally by the N_i symbols
 * with one; a symbol past its last open (delisted) holds nothing, its weight freed for the others. Not 1/N of the whole universe: symbols listed later, or without a bar in the period, would
 * then be cash, and a fully invested top-k strategy would beat buy-and-hold in a rising market by
 * that cash alone.
 */
function benchmarkWeightsOf({ periods, symbols, tradable, lastOpen }: Market): Float64Array {
  const weights = new Float64Array(periods * symbols);
  for (let i = 0; i < periods; i++) {
    let open = 0;
    let stuck = 0;
    for (let s = 0; s < symbols; s++) {
      if (tradable[i * symbols + s] === 1) open++;
      else if (i > 0 && i <= lastOpen[s]) stuck += weights[(i - 1) * symbols + s]; // a halt; after the last open the series has ended
    }
    const share = open > 0 ? Math.max(0, 1 - stuck) / open : 0;
    for (let s = 0; s < symbols; s++) {
      const at = i * symbols + s;
      weights[at] = tradable[at] === 1 ? (share < 1e-12 ? 0 : share) : i > 0 && i <= lastOpen[s] ? weights[at - symbols] : 0;
    }
  }
  return weights;
}

function portfolioOf(
  weights: Float64Array,
  { periods, symbols, returns, tradable }: Market,
  { costRate, borrowRate, chargeDrift }: { costRate: number; borrowRate: number; chargeDrift: boolean },
  performance: { periodsPerYear: number; riskFreeRate: number; dates: readonly string[] },
): PortfolioResult {
  const grossReturns = new Float64Array(periods);
  const netReturns = new Float64Array(periods);
  const costs = new Float64Array(periods);
  const turnover = new Float64Array(periods);
  const exposure = new Float64Array(periods);
  // Trade tracking: the side held and the compounded side-adjusted return since the position opened.
  const side = new Int8Array(symbols);
  const growth = new Float64Array(symbols);
  let trades = 0;
  let winners = 0;
  const close = (s: number) => {
    trades++;
    if (growth[s] > 1) winners++;
  };
  let wipedOutAt: number | undefined;
  for (let i = 0; i < periods; i++) {
    // A book whose equity is gone holds nothing more: dividing drifted weights by a growth ≤ 0 would
    // flip their signs, and compounding a negative equity would turn later gains into losses.
    if (wipedOutAt !== undefined) {
      weights.fill(0, i * symbols, (i + 1) * symbols);
      continue;
    }
    let gross = 0;
    let traded = 0;
    let exposed = 0;
    let shorted = 0;
    // The previous period's growth of the equity its weights were of (after that open's costs).
    const grown = i > 0 ? 1 + grossReturns[i - 1] : 1;
    for (let s = 0; s < symbols; s++) {
      const at = i * symbols + s;
      const w = weights[at];
      const before = i > 0 ? weights[at - symbols] : 0;
      // What the book holds at this open: last period's weight after its move, unless the symbol cannot trade.
      const drifted = chargeDrift && before !== 0 && tradable[at] === 1 ? (before * (1 + returns[at - symbols])) / grown : before;
      traded += Math.abs(w - drifted);
      if (w < 0) shorted -= w;
      const sign = Math.sign(w);
      if (sign !== side[s]) {
        if (side[s] !== 0) close(s);
        side[s] = sign;
        growth[s] = 1;
      }
      if (w === 0) continue; // a symbol's return may be NaN before its first bar; it is only read when held
      exposed += Math.abs(w);
      gross += w * returns[at];
      growth[s] *= 1 + sign * returns[at];
    }
    grossReturns[i] = gross;
    turnover[i] = traded;
    exposure[i] = exposed;
    costs[i] = costRate * traded + borrowRate * shorted;
    // Costs leave the equity at the open; what remains earns the gross return.
    netReturns[i] = (1 - costs[i]) * (1 + gross) - 1;
    if (costs[i] >= 1 || 1 + gross <= 0) {
      netReturns[i] = -1; // equity cannot go below zero: the loss beyond it is a debt the backtest does not carry
      wipedOutAt = i;
      for (let s = 0; s < symbols; s++) if (side[s] !== 0) close(s);
      side.fill(0);
    }
  }
  for (let s = 0; s < symbols; s++) if (side[s] !== 0) close(s); // positions still open at the end count as trades

  let totalTurnover = 0;
  let totalExposure = 0;
  let totalCosts = 0;
  for (let i = 0; i < periods; i++) {
    totalTurnover += turnover[i];
    totalExposure += exposure[i];
    totalCosts += costs[i];
  }
  const metrics: PortfolioMetrics = {
    ...performanceOf(netReturns, { ...performance, exposure }),
    annualTurnover: (totalTurnover / periods) * performance.periodsPerYear,
    averageExposure: totalExposure / periods,
    totalCosts,
    trades,
    tradeHitRate: trades > 0 ? winners / trades : NaN,
  };
  return { grossReturns, netReturns, costs, turnover, exposure, equity: equityCurveOf(netReturns), weights, metrics, ...(wipedOutAt !== undefined && { wipedOutAt }) };
}
