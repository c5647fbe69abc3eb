/**
 * Time-aware train/test splits for samples whose labels look forward in time (López de Prado,
 * Advances in Financial Machine Learning, ch. 7). A sample is a (symbol, decision day) pair: its
 * features are known at the close of `start`, its label uses prices up to `end`. Days are indices
 * into a trading calendar, so "n days" always means n trading days.
 *
 * Two leaks are closed here:
 * - purge: a training sample whose label window [start, end] intersects the test period
 *   [first test decision day, last test label day] would teach the model the test outcomes;
 * - embargo: a training sample shortly after the test period still has features (rolling windows)
 *   computed from the test period's prices, so the first `embargoDays` after it are dropped too.
 */
import { BadInputError } from '../errors';

export interface SampleTimes {
  /** Calendar index of each sample's decision day (features known at that day's close). */
  readonly start: Int32Array;
  /** Calendar index of the last day each sample's label uses (start + horizon for a fixed horizon). */
  readonly end: Int32Array;
}

export interface Split {
  /** Sample indices, ascending. */
  train: Int32Array;
  test: Int32Array;
}

export interface PurgedFold extends Split {
  /** Samples left out of training because their label window overlaps the test period. */
  purged: Int32Array;
  /** Samples left out of training because they start within the embargo after the test period. */
  embargoed: Int32Array;
  /** First and last decision day of the fold. */
  testStartDay: number;
  testEndDay: number;
  /** Last day any test label uses; purge covers [testStartDay, testLabelEndDay]. */
  testLabelEndDay: number;
}

export interface PurgedKFoldOptions {
  /** Number of contiguous blocks of decision days, at least 2. */
  folds: number;
  /** Days after the test period's last label day whose samples are not trained on (0 = purge only). */
  embargoDays: number;
}

export interface WalkForwardOptions {
  /** 'expanding' trains on all history before each test block; 'rolling' on the last `trainDays` days of it. */
  mode: 'expanding' | 'rolling';
  /** Days of history before the first test block (expanding), or the length of every training window (rolling). */
  trainDays: number;
  /** Length of each test block; blocks follow each other without gaps or overlap. */
  testDays: number;
  /**
   * Extra gap: training labels must end before `testStartDay - embargoDays` (default 0, i.e. they
   * only need to end before the test starts). Walk-forward trains on the past only, so there is no
   * post-test embargo to apply.
   */
  embargoDays?: number;
  /** First day of the first test block; default first decision day + trainDays. */
  firstTestDay?: number;
}

export interface WalkForwardWindow extends Split {
  /** First and last calendar day of the test block (the last block may be shorter). */
  testStartDay: number;
  testEndDay: number;
}

function invalid(message: string): never {
  throw new BadInputError(message, 'INVALID_SPLIT');
}

function checkInteger(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) invalid(`${name} must be an integer >= ${min}, got ${value}`);
}

function checkTimes(times: SampleTimes): void {
  const { start, end } = times;
  if (start.length !== end.length) invalid(`start has ${start.length} samples but end has ${end.length}; pass one start and one end per sample`);
  if (start.length === 0) invalid('There are no samples to split; materialise features and labels first');
  for (let i = 0; i < start.length; i++) {
    if (end[i] < start[i]) invalid(`Sample ${i} has its label end (day ${end[i]}) before its decision day (${start[i]}); drop unlabelled rows (end = -1) before splitting`);
  }
}

/** Distinct decision days, ascending. */
export function distinctDaysOf(start: Int32Array): Int32Array {
  const sorted = Int32Array.from(start).sort(); // typed-array sort is numeric
  let m = 0;
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) sorted[m++] = sorted[i];
  return sorted.slice(0, m);
}

/**
 * Default embargo: the label horizon or `share` of the calendar span (López de Prado suggests
 * about 1%), whichever is longer. The horizon is a floor because features with look-back windows
 * about as long as the label keep sharing prices with the test period for that many days.
 */
export function embargoDaysFor(horizon: number, totalDays: number, share = 0.01): number {
  checkInteger('horizon', horizon, 0);
  checkInteger('totalDays', totalDays, 1);
  if (!(share >= 0 && share < 1)) invalid(`share must be in [0, 1), got ${share}`);
  return Math.max(horizon, Math.ceil(share * totalDays));
}

/** Appends indices to a preallocated buffer; `done()` returns the filled part. */
function indexBuffer(capacity: number) {
  const data = new Int32Array(capacity);
  let size = 0;
  return {
    push(i: number) {
      data[size++] = i;
    },
    done: () => data.slice(0, size),
  };
}

/**
 * K-fold cross-validation with purging and embargo. Folds are contiguous blocks of decision days
 * (all symbols of a day in the same fold); the distinct days are cut in time order into `folds`
 * blocks whose sizes differ by at most one day (the earlier blocks take the extra days).
 *
 * For the test fold with decision days [a, b] and last label day e = max end of its samples, a
 * training sample i is
 * - purged when [start_i, end_i] intersects [a, e] (closed intervals: a label ending on day a
 *   shares that close with the test), i.e. start_i <= e and end_i >= a;
 * - embargoed when e < start_i <= e + embargoDays.
 * The embargo counts from e, not from b, as in López de Prado's PurgedKFold: every sample with
 * start <= e is already purged, so an embargo counted from b would do nothing unless it exceeded
 * the horizon.
 */
export function purgedKFold(times: SampleTimes, options: PurgedKFoldOptions): PurgedFold[] {
  checkTimes(times);
  const { folds, embargoDays } = options;
  checkInteger('folds', folds, 2);
  checkInteger('embargoDays', embargoDays, 0);
  const { start, end } = times;
  const days = distinctDaysOf(start);
  if (days.length < folds) invalid(`${folds} folds need at least ${folds} distinct decision days but the samples have ${days.length}; use fewer folds or more data`);

  // firstDay[f] = first decision day of fold f.
  const firstDay = new Int32Array(folds);
  const base = Math.floor(days.length / folds);
  const longer = days.length % folds;
  for (let f = 0, d = 0; f < folds; d += base + (f < longer ? 1 : 0), f++) firstDay[f] = days[d];

  const n = start.length;
  const fold = new Int32Array(n);
  const testStart = new Int32Array(folds).fill(2 ** 31 - 1);
  const testEnd = new Int32Array(folds).fill(-(2 ** 31));
  const labelEnd = new Int32Array(folds).fill(-(2 ** 31));
  for (let i = 0; i < n; i++) {
    let f = folds - 1;
    while (start[i] < firstDay[f]) f--;
    fold[i] = f;
    testStart[f] = Math.min(testStart[f], start[i]);
    testEnd[f] = Math.max(testEnd[f], start[i]);
    labelEnd[f] = Math.max(labelEnd[f], end[i]);
  }

  const result: PurgedFold[] = [];
  for (let f = 0; f < folds; f++) {
    const train = indexBuffer(n);
    const test = indexBuffer(n);
    const purged = indexBuffer(n);
    const embargoed = indexBuffer(n);
    const a = testStart[f];
    const e = labelEnd[f];
    for (let i = 0; i < n; i++) {
      if (fold[i] === f) test.push(i);
      else if (start[i] <= e && end[i] >= a) purged.push(i);
      else if (start[i] > e && start[i] <= e + embargoDays) embargoed.push(i);
      else train.push(i);
    }
    const split = { train: train.done(), test: test.done(), purged: purged.done(), embargoed: embargoed.done(), testStartDay: a, testEndDay: testEnd[f], testLabelEndDay: e };
    if (split.train.length === 0) invalid(`Fold ${f + 1} of ${folds} (days ${a}..${testEnd[f]}) has no training samples left after purging and embargo; use fewer folds or a shorter embargo`);
    result.push(split);
  }
  return result;
}

/**
 * The held-out block of an early-stopping or other internal validation inside one fit: the last
 * whole decision days holding at least ⌊share × samples⌋ samples (at least one day, never every
 * day), so no day has samples on both sides; trained on are the samples before it whose labels end
 * before its first day, the others purged, as purgedKFold's last fold. No embargo applies: the
 * embargo drops samples after a held-out block, and none follows this one.
 */
export function purgedHoldout(times: SampleTimes, share: number): PurgedFold {
  checkTimes(times);
  if (!(share > 0 && share < 1)) invalid(`share must be in (0, 1), got ${share}`);
  const { start } = times;
  const n = start.length;
  const wanted = Math.floor(n * share);
  if (wanted < 1) invalid(`a share of ${share} of ${n} samples holds out no sample; give more samples or a larger share`);
  const days = distinctDaysOf(start);
  if (days.length < 2) invalid(`the samples have ${days.length} decision day; a held-out block of whole days needs at least 2`);
  const perDay = new Map<number, number>();
  for (let i = 0; i < n; i++) perDay.set(start[i], (perDay.get(start[i]) ?? 0) + 1);
  // Whole days from the last back until they hold the share; the first day always stays before them.
  let first = days.length - 1;
  for (let held = perDay.get(days[first]) as number; held < wanted && first > 1; held += perDay.get(days[first]) as number) first--;
  return holdOutFrom(times, days, first);
}

/** purgedHoldout of exactly the last `days` decision days (1 ≤ days < distinct days). */
export function purgedHoldoutDays(times: SampleTimes, days: number): PurgedFold {
  checkTimes(times);
  const distinct = distinctDaysOf(times.start);
  if (!Number.isInteger(days) || days < 1 || days >= distinct.length) invalid(`a held-out block of ${days} whole days needs an integer of at least 1 and fewer than the samples' ${distinct.length} decision days`);
  return holdOutFrom(times, distinct, distinct.length - days);
}

/** The held-out block of days[first..], the samples before it whose labels reach it purged. */
function holdOutFrom(times: SampleTimes, days: Int32Array, first: number): PurgedFold {
  const { start, end } = times;
  const n = start.length;
  const a = days[first];
  let e = -(2 ** 31);
  for (let i = 0; i < n; i++) if (start[i] >= a) e = Math.max(e, end[i]);
  const train = indexBuffer(n);
  const test = indexBuffer(n);
  const purged = indexBuffer(n);
  for (let i = 0; i < n; i++) {
    if (start[i] >= a) test.push(i);
    else if (end[i] >= a) purged.push(i);
    else train.push(i);
  }
  return { train: train.done(), test: test.done(), purged: purged.done(), embargoed: new Int32Array(0), testStartDay: a, testEndDay: days[days.length - 1], testLabelEndDay: e };
}

/**
 * Walk-forward (out-of-time) windows: consecutive test blocks of `testDays` days from
 * `firstTestDay` to the last decision day, each trained only on samples whose labels are known
 * before the block starts (end < testStartDay - embargoDays). Rolling windows also require
 * start >= testStartDay - trainDays, so their decision days span at most `trainDays` days (fewer
 * samples survive at the recent edge, whose labels are not yet known). Blocks without samples are skipped.
 */
export function walkForwardWindows(times: SampleTimes, options: WalkForwardOptions): WalkForwardWindow[] {
  checkTimes(times);
  const { mode, trainDays, testDays } = options;
  const embargoDays = options.embargoDays ?? 0;
  if (mode !== 'expanding' && mode !== 'rolling') invalid(`mode must be 'expanding' or 'rolling', got ${String(mode)}`);
  checkInteger('trainDays', trainDays, 1);
  checkInteger('testDays', testDays, 1);
  checkInteger('embargoDays', embargoDays, 0);
  const { start, end } = times;
  const days = distinctDaysOf(start);
  const firstDay = days[0];
  const lastDay = days[days.length - 1];
  const firstTestDay = options.firstTestDay ?? firstDay + trainDays;
  if (!Number.isInteger(firstTestDay) || firstTestDay < firstDay + trainDays) {
    invalid(`firstTestDay ${firstTestDay} leaves less than trainDays (${trainDays}) of history after the first decision day ${firstDay}; pass firstTestDay >= ${firstDay + trainDays} or shorten trainDays`);
  }
  if (firstTestDay > lastDay) invalid(`The first test day ${firstTestDay} is after the last decision day ${lastDay}; shorten trainDays (${trainDays}) or pass an earlier firstTestDay`);

  const n = start.length;
  const windows: WalkForwardWindow[] = [];
  // One pass over all samples per window: windows are few (a test block is weeks to months).
  for (let from = firstTestDay; from <= lastDay; from += testDays) {
    const to = Math.min(from + testDays - 1, lastDay);
    const trainFrom = mode === 'rolling' ? from - trainDays : -(2 ** 31);
    const train = indexBuffer(n);
    const test = indexBuffer(n);
    for (let i = 0; i < n; i++) {
      if (start[i] >= from && start[i] <= to) test.push(i);
      else if (start[i] >= trainFrom && end[i] < from - embargoDays) train.push(i);
    }
    const window = { train: train.done(), test: test.done(), testStartDay: from, testEndDay: to };
    if (window.test.length === 0) continue;
    if (window.train.length === 0) invalid(`The walk-forward window testing days ${from}..${to} has no training sample whose label ends before day ${from - embargoDays}; make trainDays (${trainDays}) longer than the label horizon plus embargoDays (${embargoDays})`);
    windows.push(window);
  }
  return windows;
}
