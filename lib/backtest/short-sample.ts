/**
 * Figures of a backtest too short to carry them. An annualised figure multiplies a few periods'
 * behaviour up to a year: three daily returns of +1%, +2%, +1.5% give a Sharpe ratio of 47.6 and a
 * CAGR of +4,150% a year. Below MIN_ANNUALISED_PERIODS such figures are shown as "n/a" with the
 * number of periods (they stay in the stored metrics, computed as defined). The probabilistic
 * Sharpe ratio rests on the Sharpe ratio's asymptotic normal distribution (Bailey & López de
 * Prado), which a few periods do not give: on those three returns it says 0.998 while the
 * delta-method test with Student t (lib/backtest/sharpe-inference.ts) gives a one-sided p of 0.061;
 * below MIN_PSR_PERIODS it is not reported (NaN, stored as null).
 */

/**
 * A trading month of daily periods. Below it the annualisation multiplies by more than 12.6, and a
 * Sharpe ratio's standard error from n independent periods is at least √(252 / n), 3.5 at 20: wider
 * than any Sharpe ratio a strategy really has, so the figure says nothing about the year it names.
 */
export const MIN_ANNUALISED_PERIODS = 20;

/** The usual rule for a normal approximation of a mean-like statistic; the delta-method test is the one to read below it. */
export const MIN_PSR_PERIODS = 30;

/** Why a probabilistic Sharpe ratio of this many periods is not reported, or undefined when it is. */
export function probabilisticSharpeNote(periods: number): string | undefined {
  return periods < MIN_PSR_PERIODS ? `not reported on ${periods} periods: its normal approximation needs ${MIN_PSR_PERIODS}` : undefined;
}

/**
 * An annualised figure as text: "n/a (3 periods; annualised from 20)" below MIN_ANNUALISED_PERIODS,
 * '-' when missing, else the value. Metrics stored before `periods` was read show the value as before.
 */
export function annualisedText(value: number | null | undefined, periods: number | null | undefined, digits: number): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '-';
  if (typeof periods === 'number' && periods < MIN_ANNUALISED_PERIODS) return `n/a (${periods} periods; annualised from ${MIN_ANNUALISED_PERIODS})`;
  return value.toFixed(digits);
}
