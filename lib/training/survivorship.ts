/**
 * A universe that looks chosen with hindsight. Real universes lose members over the years
 * (delistings, mergers, index deletions): the S&P 500 replaces about 20–25 of its 500 a year, 4–5%.
 * When far fewer members of a multi-year dataset leave it than that, the universe is most likely
 * today's members looked back on (survivorship bias): long-only backtests of it flatter, and so does
 * buy-and-hold of the same universe. The data cannot show what is missing, so this is a note beside
 * the numbers, not a veto.
 *
 * It is judged by the share of members that leave per year, not by whether any left: one symbol whose
 * file stops a month early (a vendor gap, a ticker change) made a universe of 378 survivors look
 * point-in-time and the note vanished.
 */
import type { GuardVerdict } from './guards';
import type { TrainingDataset } from './dataset';

/** Symbols and years below which losing no member is unremarkable. */
const MIN_SYMBOLS = 20;
const MIN_YEARS = 2;
/** Trading days from the end within which a symbol's last row counts as "still there". */
const END_TOLERANCE_DAYS = 10;
/**
 * Share of members leaving per year below which the universe is noted: a quarter of the 4% a year
 * real indices lose at the least, so an honest point-in-time universe of a few hundred members
 * over a few years is far above it, and one or two early-ending files do not lift a survivor list over it.
 */
export const MIN_ANNUAL_DEPARTURE_RATE = 0.01;

export function survivorshipNote(ds: Pick<TrainingDataset, 'symbols' | 'symbol' | 'start' | 'days' | 'rows'>): GuardVerdict | undefined {
  const n = ds.symbols.length;
  if (n < MIN_SYMBOLS || ds.rows === 0) return undefined;
  const last = new Int32Array(n).fill(-1);
  let end = -1;
  let first = Infinity;
  for (let r = 0; r < ds.rows; r++) {
    const day = ds.start[r];
    if (day > last[ds.symbol[r]]) last[ds.symbol[r]] = day;
    if (day > end) end = day;
    if (day < first) first = day;
  }
  const from = ds.days[first];
  const to = ds.days[end];
  const years = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / (365.25 * 86_400_000);
  if (years < MIN_YEARS) return undefined;
  const members = ds.symbols.filter((_, s) => last[s] >= 0).length;
  const left = ds.symbols.filter((_, s) => last[s] >= 0 && last[s] < end - END_TOLERANCE_DAYS);
  const rate = left.length / members / years;
  if (rate >= MIN_ANNUAL_DEPARTURE_RATE) return undefined;
  const consequence = 'if it was chosen after the fact (today\'s index members), backtest returns and Sharpe ratios flatter, buy-and-hold of the same universe included; a point-in-time universe with its delisted members avoids it';
  const span = `${from} .. ${to}, ${years.toFixed(1)} years`;
  return {
    guard: 'survivorship',
    tripped: false,
    message:
      left.length === 0
        ? `all ${n} symbols have rows until the end of the data (${span}) and none left the universe: ${consequence}`
        : `only ${left.length} of ${members} symbols left the universe before the end of the data (${span}; ${left.slice(0, 5).join(', ')}${left.length > 5 ? ', …' : ''}): ${(rate * 100).toFixed(2)}% a year, where real indices lose about 4–5% (noted below ${(MIN_ANNUAL_DEPARTURE_RATE * 100).toFixed(0)}%): ${consequence}`,
  };
}
