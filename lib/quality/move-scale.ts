/**
 * A symbol's own scale of daily moves, for the rules that judge a close-to-close move by it
 * (one_bar_glitch, extreme_move). A fixed limit (extremeMoveLimit, 35%) is the same for a large-cap
 * moving 1.5% a day as for a penny stock: a MSFT row typed ×1.3 between two bars that agree within 1%
 * is some 20 standard deviations and was published, over a good stored bar too. So a move is also
 * judged against the robust daily volatility of the symbol's VOLATILITY_RETURNS log returns before it
 * (MAD × 1.4826, which the outliers it is to find do not inflate), once VOLATILITY_MIN_RETURNS of them
 * are there, or of the last VOLATILITY_RECENT_RETURNS where the symbol moved far more of late
 * (moveScaleVolatility): beyond max(MOVE_SCALE_FLOOR, MOVE_SCALE_SIGMAS × σ). Without that history
 * only the fixed limit applies.
 *
 * MOVE_SCALE_SIGMAS and MOVE_SCALE_FLOOR are measured on the 382 real S&P 500 files (2013-2018): see
 * docs/ingestion-and-quality.md (one_bar_glitch) for the rows each setting rejects and flags there and
 * for the detection of typos planted at random days.
 */
export const VOLATILITY_RETURNS = 60;
export const VOLATILITY_MIN_RETURNS = 40;
/** The recent returns that also bound the scale (moveScaleVolatility): a regime that changed within the 60 sessions. */
export const VOLATILITY_RECENT_RETURNS = 10;
/** The recent returns' robust volatility replaces the 60 returns' beyond this multiple of it. */
export const VOLATILITY_RECENT_FACTOR = 2;
/** The level's move over the recent sessions, in deviations of a daily volatility spread over them, that raises σ (moveScaleVolatility). */
export const LEVEL_SHIFT_SIGMAS = 3;
/** The closes the level before is the median of (9, 10 and 11 sessions back): one glitched close is no level. */
export const LEVEL_SHIFT_ENDS = 3;
export const MOVE_SCALE_SIGMAS = 8;
/** No move under 10% is judged by the scale, however quiet the symbol. */
export const MOVE_SCALE_FLOOR = 0.1;
/**
 * How far apart (in σ per session spanned, log scale) the bars around a scaled glitch may be: the
 * series is back where it was. Never beyond the fixed rule's tolerance (10%), never under 1%.
 */
export const MOVE_SCALE_RETURN_SIGMAS = 4;
const MOVE_SCALE_RETURN_MIN = Math.log(1.01);

const MAD_TO_SIGMA = 1.4826;

const medianOfSorted = (v: Float64Array): number => {
  const n = v.length;
  return n % 2 === 1 ? v[(n - 1) >> 1] : (v[n / 2 - 1] + v[n / 2]) / 2;
};

/** 1.4826 × the median absolute deviation of `returns`; NaN with fewer than `min` of them. */
function madVolatility(returns: readonly number[], min: number): number {
  if (returns.length < min) return Number.NaN;
  const sorted = Float64Array.from(returns).sort();
  const centre = medianOfSorted(sorted);
  const deviations = Float64Array.from(returns, (r) => Math.abs(r - centre)).sort();
  return MAD_TO_SIGMA * medianOfSorted(deviations);
}

/**
 * What the symbol's scale is measured on besides its closes (moveScaleVolatility): `glitched`, the
 * indices of closes already judged glitches (left out, with the two returns touching each: the
 * return across them stands for them), and `splits`, the price multiplier (new / old) of each
 * unadjusted split by the index of its bar (the return into it measured split-adjusted: a split is
 * no move of the symbol's).
 */
export interface ScaleBasis {
  glitched?: ReadonlySet<number>;
  splits?: ReadonlyMap<number, number>;
}

/**
 * The finite log returns into closes before index `end`, newest first, at most `count`: between the
 * closes not in `basis.glitched`, split-adjusted by `basis.splits`. Without a basis, the returns into
 * closes[end - 1], closes[end - 2], … as they are.
 */
function returnsBefore(closes: ArrayLike<number>, end: number, count: number, basis?: ScaleBasis): number[] {
  const returns: number[] = [];
  const skip = basis?.glitched;
  const splits = basis?.splits;
  let to = Math.min(end, closes.length) - 1;
  while (to > 0 && skip?.has(to)) to--;
  while (to > 0 && returns.length < count) {
    let from = to - 1;
    while (from > 0 && skip?.has(from)) from--;
    if (skip?.has(from)) break;
    let r = Math.log(closes[to] / closes[from]);
    if (splits) for (let k = from + 1; k <= to; k++) r -= Math.log(splits.get(k) ?? 1);
    if (Number.isFinite(r)) returns.push(r);
    to = from;
  }
  return returns;
}

/**
 * The robust daily volatility (log scale) of the moves between `closes` before index `end`: of the
 * up to VOLATILITY_RETURNS log returns into closes[end - VOLATILITY_RETURNS .. end - 1]. NaN with
 * fewer than VOLATILITY_MIN_RETURNS (a young series, a short file: the fixed limit alone judges).
 */
export function robustVolatility(closes: ArrayLike<number>, end: number): number {
  return madVolatility(returnsBefore(closes, end, VOLATILITY_RETURNS), VOLATILITY_MIN_RETURNS);
}

/**
 * The volatility a move into closes[end] is judged on: the robust volatility of the
 * VOLATILITY_RETURNS returns before it, unless the symbol moved far more of late. The 60 returns lag
 * a change of regime: a stock halved on news and then moving 5% a day kept a σ of about 1.2% for 20
 * to 40 sessions, its limit fell to the 10% floor, and real days of its new regime were rejected as
 * glitches (in 200 simulated paths, 6 lost a real bar). So σ is at least
 * - the same robust measure of the last VOLATILITY_RECENT_RETURNS returns, where it is more than
 *   VOLATILITY_RECENT_FACTOR times the 60-return one (its median ignores a glitch or the news day
 *   among them; the factor keeps a 10-return estimate's noise from loosening calm symbols' limits);
 * - the level's move over those sessions as a daily volatility at LEVEL_SHIFT_SIGMAS deviations,
 *   |log(closes[end-1] / level 10 sessions before)| / (3 √10): right after a jump that held (the news
 *   day) the recent returns are still mostly the old regime's. A calm symbol's level moves so far in
 *   10 sessions about 0.3% of the time. The level before is the median of the closes 9, 10 and 11
 *   sessions back (LEVEL_SHIFT_ENDS): one close there is no level, and a glitch in it (rejected or
 *   not, still among the file's closes) raised σ by |log glitch| / 9.5 and switched the rule off for a
 *   typo 11 sessions later. Centred on the close 10 back, it reads a jump over the same sessions.
 * All of it is measured on `basis` (ScaleBasis): without the closes judged glitches and across
 * splits, split-adjusted. Else a glitch's two returns spread the 10 recent returns, and a 2:1 split
 * read as a level move of log 2 (σ 7.3%, a limit of 58%) switched the rule off for the 10 sessions
 * after it. Measured in docs/ingestion-and-quality.md (glitches on the symbol's own scale). NaN
 * without the 60-return history.
 */
export function moveScaleVolatility(closes: ArrayLike<number>, end: number, basis?: ScaleBasis): number {
  const returns = returnsBefore(closes, end, VOLATILITY_RETURNS, basis);
  const sigma = madVolatility(returns, VOLATILITY_MIN_RETURNS);
  if (!Number.isFinite(sigma)) return sigma;
  let judged = sigma;
  const recent = madVolatility(returns.slice(0, VOLATILITY_RECENT_RETURNS), VOLATILITY_RECENT_RETURNS);
  if (recent > VOLATILITY_RECENT_FACTOR * sigma) judged = recent;
  // The level k sessions back, relative to closes[end - 1] (log): minus the sum of the k newest returns.
  // The closes around the one 10 back (9, 10 and 11): a jump is read over the same sessions as by that one close.
  const half = (LEVEL_SHIFT_ENDS - 1) >> 1;
  const levels: number[] = [];
  let level = 0;
  for (let k = 0; k < VOLATILITY_RECENT_RETURNS + half && k < returns.length; k++) {
    level -= returns[k];
    if (k + 1 >= VOLATILITY_RECENT_RETURNS - half) levels.push(level);
  }
  if (levels.length === 0) return judged;
  levels.sort((a, b) => a - b);
  const shift = Math.abs(levels[(levels.length - 1) >> 1]) / (LEVEL_SHIFT_SIGMAS * Math.sqrt(VOLATILITY_RECENT_RETURNS));
  return shift > judged ? shift : judged;
}

/** The scaled limit on a move (log scale) for a symbol of daily volatility `sigma`: max(log(1 + floor), sigmas × σ); NaN without a σ. */
export function scaledMoveLimit(sigma: number, sigmas = MOVE_SCALE_SIGMAS, floor = MOVE_SCALE_FLOOR): number {
  return Number.isFinite(sigma) ? Math.max(Math.log(1 + floor), sigmas * sigma) : Number.NaN;
}

/** How far apart (log scale) the bars around a run of `rows` scaled-glitched bars may be, for a daily volatility `sigma`, at most `cap`. */
export function scaledReturnTolerance(sigma: number, rows: number, cap: number): number {
  return Math.min(cap, Math.max(MOVE_SCALE_RETURN_MIN, MOVE_SCALE_RETURN_SIGMAS * sigma * Math.sqrt(rows + 1)));
}

/** The scale a move was judged on, for messages: the σ, the sessions it came from and the limit as a factor. */
export interface MoveScale {
  sigma: number;
  sigmas: number;
  /** The limit as a log move. */
  limit: number;
}

/** "N times its robust daily volatility (σ x%, of the 60 sessions before or of the last 10; the limit …)" for a move of log size `move`. */
export function describeScale(move: number, scale: MoveScale): string {
  return `${(Math.abs(move) / scale.sigma).toFixed(0)} times the symbol's robust daily volatility (${(scale.sigma * 100).toFixed(2)}%, of the ${VOLATILITY_RETURNS} sessions before or, when it moved far more of late, of the last ${VOLATILITY_RECENT_RETURNS}; the limit is ${scale.sigmas} times it, at least ${(MOVE_SCALE_FLOOR * 100).toFixed(0)}%: ×/÷${Math.exp(scale.limit).toFixed(3)})`;
}
