import { BadInputError } from '../../../lib/errors';
import { distinctDaysOf, embargoDaysFor, purgedHoldout, purgedHoldoutDays, purgedKFold, walkForwardWindows, type SampleTimes } from '../../../lib/validation/splits';

const list = (a: Int32Array) => Array.from(a);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** One sample per (symbol, day) for days first..last, label ending `horizon` days later. */
function panel(symbols: number, first: number, last: number, horizon: number): SampleTimes {
  const start: number[] = [];
  for (let d = first; d <= last; d++) for (let s = 0; s < symbols; s++) start.push(d);
  return { start: Int32Array.from(start), end: Int32Array.from(start, (d) => d + horizon) };
}

describe('purgedKFold', () => {
  // 1 symbol, decision days 0..19, horizon 2 (sample i: start i, end i + 2), 4 folds of 5 days,
  // 1 embargo day. For a test fold with days [a, b], labels reach e = b + 2; a training sample is
  // purged when start <= e and start + 2 >= a (i.e. a - 2 <= i <= e), embargoed when start = e + 1.
  //   fold 0: days 0..4,   e = 6:  purged 5, 6            embargoed 7   train 8..19
  //   fold 1: days 5..9,   e = 11: purged 3, 4, 10, 11    embargoed 12  train 0..2, 13..19
  //   fold 2: days 10..14, e = 16: purged 8, 9, 15, 16    embargoed 17  train 0..7, 18, 19
  //   fold 3: days 15..19, e = 21: purged 13, 14          (nothing after day 21) train 0..12
  const times = panel(1, 0, 19, 2);
  const folds = purgedKFold(times, { folds: 4, embargoDays: 1 });

  it('purges and embargoes exactly the hand-listed samples', () => {
    expect(folds.map((f) => list(f.test))).toEqual([range(0, 4), range(5, 9), range(10, 14), range(15, 19)]);
    expect(folds.map((f) => list(f.purged))).toEqual([[5, 6], [3, 4, 10, 11], [8, 9, 15, 16], [13, 14]]);
    expect(folds.map((f) => list(f.embargoed))).toEqual([[7], [12], [17], []]);
    expect(folds.map((f) => list(f.train))).toEqual([range(8, 19), [0, 1, 2, ...range(13, 19)], [...range(0, 7), 18, 19], range(0, 12)]);
    expect(folds.map((f) => [f.testStartDay, f.testEndDay, f.testLabelEndDay])).toEqual([[0, 4, 6], [5, 9, 11], [10, 14, 16], [15, 19, 21]]);
  });

  it('without embargo only purges, and a training label never touches the test interval', () => {
    const plain = purgedKFold(times, { folds: 4, embargoDays: 0 });
    expect(plain.map((f) => list(f.embargoed))).toEqual([[], [], [], []]);
    expect(list(plain[1].train)).toEqual([0, 1, 2, ...range(12, 19)]);
    for (const f of plain) {
      for (const i of f.train) expect(times.end[i] < f.testStartDay || times.start[i] > f.testLabelEndDay).toBe(true);
    }
  });

  it('gives the earlier folds the extra days when days do not divide evenly', () => {
    const uneven = purgedKFold(panel(1, 0, 9, 0), { folds: 3, embargoDays: 0 });
    expect(uneven.map((f) => list(f.test))).toEqual([[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]);
  });

  it('keeps all symbols of a day in the same fold, whatever the sample order', () => {
    const sorted = panel(3, 100, 111, 3); // 12 days × 3 symbols
    const permutation = Int32Array.from(range(0, 35)).sort((a, b) => ((a * 17) % 36) - ((b * 17) % 36));
    const shuffled = { start: Int32Array.from(permutation, (i) => sorted.start[i]), end: Int32Array.from(permutation, (i) => sorted.end[i]) };
    const folds4 = purgedKFold(shuffled, { folds: 4, embargoDays: 2 });
    const foldOfDay = new Map<number, number>();
    folds4.forEach((f, k) =>
      f.test.forEach((i) => {
        const day = shuffled.start[i];
        expect(foldOfDay.get(day) ?? k).toBe(k);
        foldOfDay.set(day, k);
      }),
    );
    expect(foldOfDay.size).toBe(12);
    expect(folds4.map((f) => f.test.length)).toEqual([9, 9, 9, 9]);
    // Same split as on the sorted input, once indices are mapped back.
    const reference = purgedKFold(sorted, { folds: 4, embargoDays: 2 });
    const mapBack = (a: Int32Array) => Array.from(a, (i) => permutation[i]).sort((x, y) => x - y);
    expect(folds4.map((f) => [mapBack(f.train), mapBack(f.test), mapBack(f.purged), mapBack(f.embargoed)])).toEqual(
      reference.map((f) => [list(f.train), list(f.test), list(f.purged), list(f.embargoed)]),
    );
    for (const f of folds4) {
      expect(list(f.train)).toEqual([...f.train].sort((a, b) => a - b)); // returned ascending
      expect(f.train.length + f.test.length + f.purged.length + f.embargoed.length).toBe(36);
    }
  });

  it('purges a training label that envelops the whole test fold', () => {
    // Days 0..11, horizon 1, except sample 1 whose label runs from day 1 to day 8.
    const t = { start: Int32Array.from(range(0, 11)), end: Int32Array.from(range(0, 11), (d) => (d === 1 ? 8 : d + 1)) };
    const f = purgedKFold(t, { folds: 4, embargoDays: 0 })[1]; // test days 3..5, labels up to 6
    // Sample 1 (1..8) covers the whole test interval; 2 (2..3) ends in it; 6 (6..7) starts in it.
    expect(list(f.purged)).toEqual([1, 2, 6]);
    expect(list(f.train)).toEqual([0, ...range(7, 11)]);
  });

  it('rejects bad input with a message that says what to do', () => {
    expect(() => purgedKFold(times, { folds: 1, embargoDays: 0 })).toThrow(/folds must be an integer >= 2/);
    expect(() => purgedKFold(panel(2, 0, 2, 1), { folds: 4, embargoDays: 0 })).toThrow(/at least 4 distinct decision days but the samples have 3/);
    expect(() => purgedKFold({ start: Int32Array.from([0, 1]), end: Int32Array.from([1]) }, { folds: 2, embargoDays: 0 })).toThrow(BadInputError);
    expect(() => purgedKFold({ start: Int32Array.from([0, 1, 2]), end: Int32Array.from([1, -1, 3]) }, { folds: 2, embargoDays: 0 })).toThrow(/drop unlabelled rows/);
    expect(() => purgedKFold(panel(1, 0, 3, 5), { folds: 2, embargoDays: 0 })).toThrow(/no training samples left/);
  });
});

describe('embargoDaysFor', () => {
  it('is the horizon or 1% of the span, whichever is longer', () => {
    expect(embargoDaysFor(5, 252)).toBe(5);
    expect(embargoDaysFor(5, 2520)).toBe(26); // ceil(25.2)
    expect(embargoDaysFor(1, 2520, 0.02)).toBe(51);
    expect(() => embargoDaysFor(-1, 100)).toThrow(/horizon/);
  });
});

describe('distinctDaysOf', () => {
  it('sorts numerically and drops repeats', () => {
    expect(list(distinctDaysOf(Int32Array.from([10, 9, 100, 9, 10])))).toEqual([9, 10, 100]);
  });
});

describe('walkForwardWindows', () => {
  const horizon = 3;
  const times = panel(2, 0, 59, horizon); // 2 symbols, days 0..59

  function expectNoLookAhead(windows: ReturnType<typeof walkForwardWindows>, embargo = 0) {
    for (const w of windows) {
      for (const i of w.train) expect(times.end[i]).toBeLessThan(w.testStartDay - embargo);
      for (const i of w.test) {
        expect(times.start[i]).toBeGreaterThanOrEqual(w.testStartDay);
        expect(times.start[i]).toBeLessThanOrEqual(w.testEndDay);
      }
    }
  }

  it('tiles the evaluation period with consecutive test blocks, the last one shorter', () => {
    const windows = walkForwardWindows(times, { mode: 'expanding', trainDays: 20, testDays: 15 });
    expect(windows.map((w) => [w.testStartDay, w.testEndDay])).toEqual([[20, 34], [35, 49], [50, 59]]);
    const tested = windows.flatMap((w) => list(w.test)).sort((a, b) => a - b);
    expect(tested).toEqual(range(40, 119)); // every sample from day 20 on, exactly once
    expectNoLookAhead(windows);
  });

  it('expanding windows grow by the test block, rolling windows keep their length', () => {
    const expanding = walkForwardWindows(times, { mode: 'expanding', trainDays: 20, testDays: 10 });
    // Training needs end = start + 3 < test start: decision days 0..t0-4, two symbols each.
    expect(expanding.map((w) => w.train.length)).toEqual([34, 54, 74, 94]);
    expect(list(expanding[1].train)).toEqual(range(0, 53));
    expectNoLookAhead(expanding);

    const rolling = walkForwardWindows(times, { mode: 'rolling', trainDays: 20, testDays: 10 });
    // Decision days t0-20..t0-4: 17 days × 2 symbols in every window.
    expect(rolling.map((w) => w.train.length)).toEqual([34, 34, 34, 34]);
    for (const w of rolling) for (const i of w.train) expect(times.start[i]).toBeGreaterThanOrEqual(w.testStartDay - 20);
    expect(list(rolling[2].train)).toEqual(range(40, 73)); // test 40..49: days 20..36
    expectNoLookAhead(rolling);
  });

  it('leaves an extra gap with embargoDays and starts where asked', () => {
    const windows = walkForwardWindows(times, { mode: 'expanding', trainDays: 20, testDays: 20, embargoDays: 5, firstTestDay: 25 });
    expect(windows.map((w) => [w.testStartDay, w.testEndDay])).toEqual([[25, 44], [45, 59]]);
    expect(windows.map((w) => w.train.length)).toEqual([34, 74]); // end < 20 → days 0..16; end < 40 → days 0..36
    expectNoLookAhead(windows, 5);
  });

  it('never trains on unsorted future samples', () => {
    const order = Int32Array.from(range(0, 119)).reverse();
    const reversed = { start: Int32Array.from(order, (i) => times.start[i]), end: Int32Array.from(order, (i) => times.end[i]) };
    for (const w of walkForwardWindows(reversed, { mode: 'rolling', trainDays: 15, testDays: 7 })) {
      for (const i of w.train) expect(reversed.end[i]).toBeLessThan(w.testStartDay);
    }
  });

  it('rejects windows that cannot train or start too early', () => {
    expect(() => walkForwardWindows(times, { mode: 'rolling', trainDays: 3, testDays: 10 })).toThrow(/no training sample whose label ends before day 3/);
    expect(() => walkForwardWindows(times, { mode: 'expanding', trainDays: 20, testDays: 10, firstTestDay: 10 })).toThrow(/pass firstTestDay >= 20/);
    expect(() => walkForwardWindows(times, { mode: 'expanding', trainDays: 60, testDays: 10 })).toThrow(/after the last decision day 59/);
    expect(() => walkForwardWindows(times, { mode: 'expanding', trainDays: 20, testDays: 0 })).toThrow(/testDays must be an integer >= 1/);
  });
});

describe('purgedHoldout', () => {
  it('holds out the last whole days with at least the share of samples and purges the labels reaching them', () => {
    // 3 symbols, days 0..9, horizon 2: 30 samples; 10% is 3 samples, one day (9); a share of 0.15
    // (4 samples) cuts no day in two: days 8..9 are held out.
    const times = panel(3, 0, 9, 2);
    const one = purgedHoldout(times, 0.1);
    expect(list(one.test)).toEqual(range(27, 29));
    expect(list(one.purged)).toEqual(range(21, 26)); // days 7 and 8 end on 9 and 10
    expect(list(one.train)).toEqual(range(0, 20));
    const two = purgedHoldout(times, 0.15);
    expect(list(two.test)).toEqual(range(24, 29));
    expect([two.testStartDay, two.testEndDay, two.testLabelEndDay]).toEqual([8, 9, 11]);
    expect(list(two.purged)).toEqual(range(18, 23));
    expect(two.embargoed).toHaveLength(0);
  });

  it('purges by each sample\'s own label end, in whatever order the samples come', () => {
    const start = Int32Array.of(3, 0, 2, 1, 3, 0);
    const end = Int32Array.of(4, 3, 2, 1, 9, 1);
    const fold = purgedHoldout({ start, end }, 0.25);
    expect(list(fold.test)).toEqual([0, 4]);
    expect(list(fold.purged)).toEqual([1]);
    expect(list(fold.train)).toEqual([2, 3, 5]);
  });

  it('keeps the first day out of the held-out block and refuses one day or an empty share', () => {
    expect(list(purgedHoldout(panel(2, 0, 2, 0), 0.5).test)).toEqual([2, 3, 4, 5]);
    expect(list(purgedHoldout(panel(1, 0, 3, 0), 0.9).test)).toEqual([1, 2, 3]);
    expect(() => purgedHoldout(panel(4, 5, 5, 1), 0.5)).toThrow(/1 decision day/);
    expect(() => purgedHoldout(panel(1, 0, 5, 1), 0.1)).toThrow(/holds out no sample/);
    expect(() => purgedHoldout(panel(1, 0, 5, 1), 0)).toThrow(BadInputError);
  });

  it('holds out exactly the last n days when asked for days, never every day', () => {
    const times = panel(3, 0, 9, 2);
    const two = purgedHoldoutDays(times, 2);
    expect(list(two.test)).toEqual(range(24, 29));
    expect(list(two.purged)).toEqual(range(18, 23));
    expect(two.testStartDay).toBe(8);
    expect(list(purgedHoldoutDays(times, 9).test)).toEqual(range(3, 29));
    expect(() => purgedHoldoutDays(times, 10)).toThrow(/fewer than the samples' 10 decision days/);
    expect(() => purgedHoldoutDays(times, 0)).toThrow(BadInputError);
  });
});
