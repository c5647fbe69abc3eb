/**
 * Metrics of a series of simple per-period returns. The strategy and its benchmark both go through
 * here, so they are always measured the same way. Annualisation multiplies by periodsPerYear
 * (252 trading days) or its square root; standard deviations are sample ones (n − 1).
 */
import { noSpread, probabilisticSharpeRatio, type SharpeSample } from './sharpe-inference';
import { MIN_PSR_PERIODS } from './short-sample';

export interface PerformanceOptions {
  /** Periods per year for annualising; 252 for daily returns. */
  periodsPerYear?: number;
  /** Annual risk-free rate, compounded into a per-period rate (1 + rf)^(1/periodsPerYear) − 1. */
  riskFreeRate?: number;
  /**
   * Dates of the equity points, length returns.length + 1: return i runs from dates[i] to dates[i + 1].
   * Only used to name the drawdown dates.
   */
  dates?: readonly string[];
  /** Gross exposure per period; the hit rate then counts only periods with exposure > 0. */
  exposure?: Float64Array;
}

/** The worst peak-to-trough fall of the equity curve; indices are equity points (0 = the start, before return 0). */
export interface Drawdown {
  /** Fall from the peak as a positive fraction (0.2 = −20%); 0 when equity never fell. */
  depth: number;
  peak: number;
  trough: number;
  /** First equity point at or above the peak after the trough; -1 if it never recovered. */
  recovery: number;
  peakDate?: string;
  troughDate?: string;
  recoveryDate?: string;
}

export interface PerformanceMetrics {
  periods: number;
  /** Compounded return over the whole series: Π(1 + r) − 1. */
  totalReturn: number;
  /** Compound annual growth rate: (1 + total)^(periodsPerYear / periods) − 1; −1 once equity is wiped out. */
  cagr: number;
  annualVolatility: number;
  /** Mean excess return / standard deviation × √periodsPerYear; NaN when returns do not vary. */
  sharpe: number;
  /** Mean excess return / downside deviation × √periodsPerYear, downside deviation = √(Σ min(r − rf, 0)² / n). */
  sortino: number;
  maxDrawdown: Drawdown;
  /** CAGR / max drawdown depth; NaN without a drawdown. */
  calmar: number;
  /** Share of periods with a positive return, among periods with exposure when exposure is given. */
  hitRate: number;
  meanReturn: number;
  /** Per-period (not annualised) Sharpe ratio, the input of the probabilistic and deflated Sharpe ratios. */
  sharpePerPeriod: number;
  /** Skewness of the returns (population moments, as in Bailey & López de Prado). */
  skewness: number;
  /** Kurtosis of the returns, not excess: 3 for normal returns. */
  kurtosis: number;
  /**
   * Probability that the true Sharpe ratio is above 0 (probabilistic Sharpe ratio); NaN (stored as
   * null) below MIN_PSR_PERIODS periods, where its asymptotic normal approximation does not hold
   * (short-sample.ts). Annualised figures are computed on any length; displays mark them below
   * MIN_ANNUALISED_PERIODS.
   */
  probabilisticSharpe: number;
}

export interface Moments {
  mean: number;
  /** Sample standard deviation (n − 1). */
  std: number;
  skewness: number;
  kurtosis: number;
}

export function momentsOf(x: Float64Array): Moments {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i];
  mean /= n;

  let m2 = 0;
  let m3 = 0;
  let m4 = 0;
  for (let i = 0; i < n; i++) {
    const d = x[i] - mean;
    const d2 = d * d;
    m2 += d2;
    m3 += d2 * d;
    m4 += d2 * d2;
  }
  // Values that never change have no spread: their mean, or the values themselves, off by an ulp
  // leave a rounding-noise deviation (1.7e-19 for 252 × 0.001) and a Sharpe ratio of 10^16.
  if (n > 1 && noSpread(Math.sqrt(m2 / (n - 1)), mean)) return { mean, std: 0, skewness: NaN, kurtosis: NaN };
  const std = n > 1 ? Math.sqrt(m2 / (n - 1)) : NaN;
  m2 /= n;
  m3 /= n;
  m4 /= n;
  return { mean, std, skewness: m2 > 0 ? m3 / m2 ** 1.5 : NaN, kurtosis: m2 > 0 ? m4 / (m2 * m2) : NaN };
}

/** Equity curve starting at 1: equity[0] = 1, equity[i + 1] = equity[i] × (1 + returns[i]). */
export function equityCurveOf(returns: Float64Array): Float64Array {
  const equity = new Float64Array(returns.length + 1);
  equity[0] = 1;
  for (let i = 0; i < returns.length; i++) equity[i + 1] = equity[i] * (1 + returns[i]);
  return equity;
}

export function maxDrawdownOf(equity: Float64Array, dates?: readonly string[]): Drawdown {
  let peak = 0;
  let best = { depth: 0, peak: 0, trough: 0 };
  for (let i = 1; i < equity.length; i++) {
    if (equity[i] > equity[peak]) peak = i;
    const depth = 1 - equity[i] / equity[peak];
    if (depth > best.depth) best = { depth, peak, trough: i };
  }
  let recovery = -1;
  if (best.depth > 0) {
    for (let i = best.trough + 1; i < equity.length; i++) {
      if (equity[i] >= equity[best.peak]) {
        recovery = i;
        break;
      }
    }
  }
  const drawdown: Drawdown = { ...best, recovery };
  if (dates) {
    drawdown.peakDate = dates[best.peak];
    drawdown.troughDate = dates[best.trough];
    if (recovery >= 0) drawdown.recoveryDate = dates[recovery];
  }
  return drawdown;
}

export function performanceOf(returns: Float64Array, options: PerformanceOptions = {}): PerformanceMetrics {
  const n = returns.length;
  const periodsPerYear = options.periodsPerYear ?? 252;
  const { dates, exposure } = options;
  if (n === 0) throw new RangeError('Performance metrics need at least one return; the backtest period is empty');
  if (dates && dates.length !== n + 1) throw new RangeError(`Performance dates must have one more entry than returns (equity points), got ${dates.length} for ${n} returns`);
  if (exposure && exposure.length !== n) throw new RangeError(`Exposure must align with returns, got ${exposure.length} for ${n} returns`);
  const rf = (1 + (options.riskFreeRate ?? 0)) ** (1 / periodsPerYear) - 1;

  const equity = equityCurveOf(returns);
  const final = equity[n];
  const totalReturn = final - 1;
  const cagr = final > 0 ? final ** (periodsPerYear / n) - 1 : -1;

  const moments = momentsOf(returns);
  const excessMean = moments.mean - rf;
  let downside = 0;
  let active = 0;
  let wins = 0;
  for (let i = 0; i < n; i++) {
    const shortfall = Math.min(returns[i] - rf, 0);
    downside += shortfall * shortfall;
    if (exposure && !(exposure[i] > 0)) continue;
    active++;
    if (returns[i] > 0) wins++;
  }
  const downsideDeviation = Math.sqrt(downside / n);
  const sharpePerPeriod = moments.std > 0 ? excessMean / moments.std : NaN;
  const maxDrawdown = maxDrawdownOf(equity, dates);

  return {
    periods: n,
    totalReturn,
    cagr,
    annualVolatility: moments.std * Math.sqrt(periodsPerYear),
    sharpe: sharpePerPeriod * Math.sqrt(periodsPerYear),
    sortino: downsideDeviation > 0 ? (excessMean / downsideDeviation) * Math.sqrt(periodsPerYear) : NaN,
    maxDrawdown,
    calmar: maxDrawdown.depth > 0 ? cagr / maxDrawdown.depth : NaN,
    hitRate: active > 0 ? wins / active : NaN,
    meanReturn: moments.mean,
    sharpePerPeriod,
    skewness: moments.skewness,
    kurtosis: moments.kurtosis,
    probabilisticSharpe: probabilisticSharpeOrNaN(sharpePerPeriod, n, moments),
  };
}

/** PSR against 0, NaN where it is undefined or unreliable (fewer than MIN_PSR_PERIODS returns, no variation, degenerate two-valued returns). */
function probabilisticSharpeOrNaN(sharpe: number, observations: number, { skewness, kurtosis }: Moments): number {
  if (observations < MIN_PSR_PERIODS || !Number.isFinite(sharpe)) return NaN;
  if (!(1 - skewness * sharpe + ((kurtosis - 1) / 4) * sharpe * sharpe > 0)) return NaN;
  return probabilisticSharpeRatio({ sharpe, observations, skewness, kurtosis });
}

/** The inputs of probabilisticSharpeRatio / deflatedSharpeRatio from a series' metrics (per-period Sharpe ratio). */
export function sharpeSampleOf(metrics: PerformanceMetrics): SharpeSample {
  return { sharpe: metrics.sharpePerPeriod, observations: metrics.periods, skewness: metrics.skewness, kurtosis: metrics.kurtosis };
}

/**
 * Information ratio against a benchmark: mean active return / tracking error (sample standard deviation
 * of active returns), × √periodsPerYear. NaN when the active return never varies.
 */
export function informationRatioOf(returns: Float64Array, benchmark: Float64Array, periodsPerYear = 252): number {
  if (returns.length !== benchmark.length) throw new RangeError(`Strategy and benchmark returns must align, got ${returns.length} and ${benchmark.length}`);
  const active = new Float64Array(returns.length);
  for (let i = 0; i < returns.length; i++) active[i] = returns[i] - benchmark[i];
  const { mean, std } = momentsOf(active);
  return std > 0 ? (mean / std) * Math.sqrt(periodsPerYear) : NaN;
}
