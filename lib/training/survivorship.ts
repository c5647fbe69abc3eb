/**
 * A universe that looks chosen with hindsight. Real universes lose members over the years
 * (delistings, mergers, index deletions); when every symbol of a multi-year dataset still has rows
 * at its end, the universe is most likely today's members looked back on (survivorship bias):
 * long-only backtests of it flatter, and so does buy-and-hold of the same universe. The data cannot
 * show what is missing, so this is a note beside the numbers, not a veto.
 */
import type { GuardVerdict } from './guards';
import type { TrainingDataset } from './dataset';

/** Symbols and years below which losing no member is unremarkable. */
const MIN_SYMBOLS = 20;
const MIN_YEARS = 2;
/** Trading days from the end within which a symbol's last row counts as "still there". */
const END_TOLERANCE_DAYS = 10;

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
  const left = ds.symbols.filter((_, s) => last[s] >= 0 && last[s] < end - END_TOLERANCE_DAYS);
  if (left.length > 0) return undefined;
  return {
    guard: 'survivorship',
    tripped: false,
    message: `all ${n} symbols have rows until the end of the data (${from} .. ${to}, ${years.toFixed(1)} years) and none left the universe: if it was chosen after the fact (today's index members), backtest returns and Sharpe ratios flatter, buy-and-hold of the same universe included; a point-in-time universe with its delisted members avoids it`,
  };
}
