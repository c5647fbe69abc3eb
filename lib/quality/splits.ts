/**
 * Unadjusted splits in a series of bars: the ratios a split leaves in unadjusted prices, and the
 * unadjusted_split rule's test of one overnight move (price by a split ratio, volume by its inverse,
 * the new level holding). The quality gate flags with it (lib/quality/rules.ts); the training
 * dataset, live outcomes, online vectors and the market columns keep clear of what it finds.
 */
import { barAt, type Bar, type BarSeries } from '../market-data/bar';

const SPLIT_OPEN_TOLERANCE = 0.02; // unadjusted_split: the open vs the prior close, relative to the split ratio

/**
 * Common splits as the price multiplier they leave in unadjusted prices (new / old) and how each is
 * written: a 3:2 split turns 90 into 60 (×2/3) and 1,000 shares into 1,500.
 */
const SPLITS: ReadonlyArray<{ ratio: number; label: string }> = [
  ...[2, 3, 4, 5, 7, 10].map((n) => ({ ratio: 1 / n, label: `${n}:1` })),
  { ratio: 2 / 3, label: '3:2' },
  { ratio: 3 / 4, label: '4:3' },
  { ratio: 4 / 5, label: '5:4' },
  ...[2, 3, 4, 5, 10].map((n) => ({ ratio: n, label: `1:${n} reverse` })),
  { ratio: 3 / 2, label: '2:3 reverse' },
  { ratio: 4 / 3, label: '3:4 reverse' },
  { ratio: 5 / 4, label: '4:5 reverse' },
];

/** The common ratios, and every n:1 and 1:n up to 50 (reverse splits of 1:8, 1:15 or 1:20 are common among small and leveraged issues). */
export const ALL_SPLITS: ReadonlyArray<{ ratio: number; label: string }> = [
  ...SPLITS,
  ...Array.from({ length: 49 }, (_, k) => k + 2).flatMap((n) => [{ ratio: 1 / n, label: `${n}:1` }, { ratio: n, label: `1:${n} reverse` }]),
];
/** No split moves the price by less than 5:4 does (×0.8): smaller overnight moves are not looked at further (two comparisons: this runs on every bar of a live vector's look-back). */
const SPLIT_MOVE_DOWN = (4 / 5) * (1 + 2 * SPLIT_OPEN_TOLERANCE);
const SPLIT_MOVE_UP = (5 / 4) * (1 - 2 * SPLIT_OPEN_TOLERANCE);
/** Whether an overnight move (open / prior close) is large enough to be any split's: the cheap test before splitsIn. */
export const mayBeSplit = (byOpen: number): boolean => byOpen < SPLIT_MOVE_DOWN || byOpen > SPLIT_MOVE_UP;

/**
 * Splits that move the price by less than ×1.4 either way (4:3, 5:4 and their reverses): ordinary
 * days move so too. An earnings gap of -20% with a lasting volume rise of a quarter reads as an
 * unadjusted 5:4 split (the volume windows below hold on most ordinary days), and a 20-25% special
 * dividend steps an Adj Close as they would. Nothing short of evidence ordinary days cannot give
 * tells them from such days, so: the extreme_move hint does not name them, the CSV reader's Adj
 * Close steps are not read as them unless the file's split column says so (STEP_SPLITS; flagged
 * ambiguous_adjustment when nothing decides), and unadjusted_split flags them, but what adjusts
 * for the splits it finds (seriesSplits, splitsIn, splitsAsOfTheirDay: the training dataset's rows,
 * the market columns' closes, online vectors, outcomes) leaves them out, so a real loss is not
 * rescaled away. 3:2 and 2:3 reverse (×0.667, ×1.5) are not among them.
 */
export const SMALL_SPLIT_MOVE = 1.4;
export const isSmallSplit = (ratio: number): boolean => ratio > 1 / SMALL_SPLIT_MOVE && ratio < SMALL_SPLIT_MOVE;

/**
 * The extreme_move hint names only splits that move the price by a third or more: by price alone a
 * 4:3 or 5:4 split is an ordinary big move (+36% is no "3:4 reverse split"); unadjusted_split names
 * those with the volume's evidence.
 */
export const HINTED_SPLITS = SPLITS.filter((s) => !isSmallSplit(s.ratio));

/** The split whose price multiplier is nearest `ratio`, when within `tolerance` of it (relative). */
export function nearestSplit(ratio: number, tolerance: number, splits = SPLITS): { ratio: number; label: string } | undefined {
  let best: { ratio: number; label: string } | undefined;
  for (const split of splits) if (Math.abs(ratio / split.ratio - 1) < tolerance && (!best || Math.abs(ratio / split.ratio - 1) < Math.abs(ratio / best.ratio - 1))) best = split;
  return best;
}

/**
 * `unadjusted_split` evidence. An unadjusted split moves the price by the split ratio overnight (the
 * open shows it; the close adds the day's own move) and the share volume by the inverse ratio, and
 * the new level holds; an earnings gap of -20% to -33% (frequent in the S&P 500 files) moves the
 * price on a volume spike, and a one-bar glitch is undone by the next bar. Measured on the 382 real
 * files (466,578 overnight moves): 64 have an open or close within 2% of a split ratio; with the tests
 * below two are left, IR 2013-12-02 and VNO 2017-07-18, both spin-offs (unadjusted distributions of
 * about -20%, wrong as returns too). Clean splits planted into those series (prices × ratio, volume
 * ÷ ratio from a seeded day on) are found 69% of the time for every ratio; the volume windows hold on
 * 72% of ordinary days (tighter ones, ×1.25 and ×1.5, on 46%).
 */
const SPLIT_CLOSE_TOLERANCE = 0.06; // close vs the prior close: the ratio plus the day's own move
const SPLIT_DAY_VOLUME_FACTOR = 2; // the day's volume within ×/÷ this of (median before) / ratio
const SPLIT_LEVEL_VOLUME_FACTOR = 1.4; // median volume from the day on, within ×/÷ this of (median before) / ratio
const SPLIT_VOLUME_BARS = 10; // bars in each volume median
const SPLIT_MIN_VOLUME_BARS = 5; // fewer bars with volume before the move: no volume evidence, no finding
/** Bars before a split's bar its finding reads (the volume median's): a read of part of a series that starts this many bars early finds the same splits in it. */
export const SPLIT_BARS_BEFORE = SPLIT_VOLUME_BARS;

function positiveMedian(values: readonly number[]): number {
  const v = values.filter((x) => x > 0).sort((a, b) => a - b);
  return v.length === 0 ? Number.NaN : v[v.length >> 1];
}

const within = (value: number, expected: number, factor: number): boolean => Math.abs(Math.log(value / expected)) < Math.log(factor);
/** True when `ratio` is nearer `to` than 1 (log scale): a move by about `to`. */
const movedBy = (ratio: number, to: number): boolean => Math.abs(Math.log(ratio / to)) < Math.abs(Math.log(ratio));

/**
 * The `unadjusted_split` message for the move into `series[i]`, or undefined: its open within
 * SPLIT_OPEN_TOLERANCE and its close within SPLIT_CLOSE_TOLERANCE of a split ratio times the prior
 * close, its volume and the volume level after it moved by about the inverse ratio, and neither the
 * next bar undoing the move nor the move undoing the previous bar's (a one-bar glitch is an extreme
 * move, not a split). Whatever the move's size: a 3:2 or 4:3 split is under extremeMoveLimit.
 */
export function splitFinding(series: readonly Bar[], i: number): string | undefined {
  return splitAt(series, i)?.message;
}

/** A bar an unadjusted split moved: its index in the series, its date, the split's price multiplier (new / old) and how the split is written ("2:1"). */
export interface SeriesSplit {
  index: number;
  date: string;
  ratio: number;
  label: string;
}

/**
 * Every bar of a stored series that an unadjusted split moved, by the unadjusted_split rule: what the
 * training dataset keeps its rows and prices clear of (lib/training/dataset.ts). Judged on the series
 * as it is stored now, so a finding a later adjusted import made obsolete does not count, and a split
 * that arrived in pieces (a file, then live bars) does. Splits of ratios an ordinary day moves by
 * (isSmallSplit) are flagged by the rule and not listed here.
 */
export function seriesSplits(series: BarSeries): SeriesSplit[] {
  // Most overnight moves are nowhere near a split ratio: only a series with one builds the rows splitAt reads.
  let candidate = false;
  for (let i = 1; i < series.dates.length && !candidate; i++) candidate = mayBeSplit(series.open[i] / series.close[i - 1]);
  if (!candidate) return [];
  return splitsIn(Array.from(series.dates, (_, k) => barAt(series, k)));
}

/**
 * seriesSplits of bars ascending by date, looking only at the moves into bars `from` to `to` − 1 and
 * judging them on the bars before `to` alone (as of bar `to` − 1, as a series ending there would be).
 * With `small`, the splits of ratios an ordinary day moves by (isSmallSplit) too: the flag's
 * findings, not only those acted on.
 */
export function splitsIn(bars: readonly Bar[], from = 1, to = bars.length, small = false): SeriesSplit[] {
  const found: SeriesSplit[] = [];
  let known: readonly Bar[] | undefined;
  for (let i = Math.max(1, from); i < to; i++) {
    if (!mayBeSplit(bars[i].open / bars[i - 1].close)) continue;
    known ??= to === bars.length ? bars : bars.slice(0, to);
    const split = splitAt(known, i);
    if (split !== undefined && (small || !isSmallSplit(split.ratio))) found.push({ index: i, date: bars[i].date, ratio: split.ratio, label: split.label });
  }
  return found;
}

/**
 * The unadjusted splits of a series as the rule finds each on its own day, from the bars up to that
 * day alone (as the live stream judges it: the volume level after it is the day's own volume, and no
 * next bar can undo it). A computation that adjusts for these stays point in time: what it gives for
 * a date reads no bar after it. Bars without volume (an index) give none; nor do splits of ratios an
 * ordinary day moves by (isSmallSplit), flagged only.
 */
export function splitsAsOfTheirDay(series: BarSeries): SeriesSplit[] {
  return splitMovesAsOfTheirDay(series).map((s) => ({ ...s, date: series.dates[s.index] }));
}

/**
 * splitsAsOfTheirDay from prices and volumes alone (pool threads computing features get no dates):
 * each split's bar, price multiplier and label.
 */
export function splitMovesAsOfTheirDay(series: Pick<BarSeries, 'open' | 'high' | 'low' | 'close' | 'volume'>): Array<Omit<SeriesSplit, 'date'>> {
  const found: Array<Omit<SeriesSplit, 'date'>> = [];
  for (let i = 1; i < series.close.length; i++) {
    if (!mayBeSplit(series.open[i] / series.close[i - 1])) continue;
    // The bars splitAt reads as of bar i: the volume medians' before it, and the two before that.
    const from = Math.max(0, i - SPLIT_VOLUME_BARS);
    const window: Bar[] = [];
    for (let k = from; k <= i; k++) window.push({ symbol: '', date: '', open: series.open[k], high: series.high[k], low: series.low[k], close: series.close[k], volume: series.volume[k] });
    const split = splitAt(window, i - from);
    if (split !== undefined && !isSmallSplit(split.ratio)) found.push({ index: i, ratio: split.ratio, label: split.label });
  }
  return found;
}

/**
 * The volume's and the neighbours' evidence that the move into bar i (of `length` bars, read through
 * `close` and `volume`) is a split of price multiplier `ratio`: the day's volume and the volume level
 * from it moved by about the inverse ratio, the next bar does not undo the move and the move does not
 * undo the previous bar's. Undefined without it.
 */
function splitEvidence(close: (k: number) => number, volume: (k: number) => number, length: number, i: number, ratio: number): { before: number[]; volumeBefore: number; volumeAfter: number } | undefined {
  const before: number[] = [];
  for (let k = Math.max(0, i - SPLIT_VOLUME_BARS); k < i; k++) if (volume(k) > 0) before.push(volume(k));
  if (before.length < SPLIT_MIN_VOLUME_BARS) return undefined;
  const volumeBefore = positiveMedian(before);
  const after: number[] = [];
  for (let k = i; k < Math.min(length, i + SPLIT_VOLUME_BARS); k++) after.push(volume(k));
  const volumeAfter = positiveMedian(after);
  const expected = volumeBefore / ratio;
  if (!within(volume(i), expected, SPLIT_DAY_VOLUME_FACTOR) || !within(volumeAfter, expected, SPLIT_LEVEL_VOLUME_FACTOR)) return undefined;
  if (i + 1 < length && !movedBy(close(i + 1) / close(i - 1), ratio)) return undefined;
  if (i >= 2 && movedBy(close(i - 1) / close(i - 2), 1 / ratio)) return undefined;
  return { before, volumeBefore, volumeAfter };
}

/**
 * The unadjusted splits of a series known by its closes and volumes alone (no opens): a close within
 * SPLIT_CLOSE_TOLERANCE of a split ratio times the prior close, with splitEvidence. What the symbol's
 * scale of daily moves measures across (lib/quality/move-scale.ts: a split is no move of the
 * symbol's). Splits of ratios an ordinary day moves by (isSmallSplit) are not among them. Each by its
 * index, as its price multiplier (new / old).
 */
export function closeSplits(closes: readonly number[], volumes: readonly number[]): Map<number, number> {
  const found = new Map<number, number>();
  for (let i = 1; i < closes.length; i++) {
    const byClose = closes[i] / closes[i - 1];
    if (!mayBeSplit(byClose)) continue;
    const split = nearestSplit(byClose, SPLIT_CLOSE_TOLERANCE, ALL_SPLITS);
    if (split === undefined || isSmallSplit(split.ratio)) continue;
    if (splitEvidence((k) => closes[k], (k) => volumes[k], closes.length, i, split.ratio) !== undefined) found.set(i, split.ratio);
  }
  return found;
}

function splitAt(series: readonly Bar[], i: number): { ratio: number; label: string; message: string } | undefined {
  const prev = series[i - 1];
  const bar = series[i];
  const byOpen = bar.open / prev.close;
  if (!mayBeSplit(byOpen)) return undefined; // the common case, judged without the ~120 ratios
  const byClose = bar.close / prev.close;
  const split = nearestSplit(byOpen, SPLIT_OPEN_TOLERANCE, ALL_SPLITS);
  if (split === undefined || Math.abs(byClose / split.ratio - 1) >= SPLIT_CLOSE_TOLERANCE) return undefined;
  const evidence = splitEvidence((k) => series[k].close, (k) => series[k].volume, series.length, i, split.ratio);
  if (evidence === undefined) return undefined;
  const { before, volumeBefore, volumeAfter } = evidence;
  const shown = (x: number) => `×${x.toFixed(3)}`;
  const message = `close ${prev.close} -> open ${bar.open}, close ${bar.close} (${shown(byOpen)}, ${shown(byClose)}) with volume ${volumeBefore} (median of the ${before.length} bars before) -> ${bar.volume} (median of the next ${SPLIT_VOLUME_BARS} bars ${volumeAfter}, ${shown(volumeAfter / volumeBefore)}): looks like an unadjusted ${split.label} split (price ${shown(split.ratio)}, volume ${shown(1 / split.ratio)}) or another unadjusted corporate action; import split-adjusted prices (Adj Close with adjust)${isSmallSplit(split.ratio) ? `; a ${split.label} split's price move (${shown(split.ratio)}) and volume rise (${shown(1 / split.ratio)}) are also an ordinary gap's, so this is a flag only: nothing downstream adjusts for it (the training dataset keeps its rows, the market columns, online vectors and outcomes take the prices as stored)` : ''}`;
  return { ratio: split.ratio, label: split.label, message };
}
