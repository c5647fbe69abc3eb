import { frameRow } from '../../lib/features/compute-features';
import { defineFeatureSet, type FeatureSet } from '../../lib/features/feature-set';
import { computeFromInputs, loadFeatureInputs, materializeFeatures } from '../../lib/features/materialize';
import type { Bar } from '../../lib/market-data/bar';
import { rng } from '../../lib/random';
import { upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { packValues } from '../../lib/store/features';
import { buildTrainingDataset } from '../../lib/training/dataset';
import { auditPointInTime } from '../../lib/training/point-in-time-audit';
import { labelSpecSchema } from '../../lib/labels/labels';
import { createSqliteTestDatabase, type TestDatabase } from '../helpers/databases';

/**
 * Bars that arrive after other symbols' rows of their dates are stored (a late file, one symbol's
 * day coming after the others', a newly listed symbol back-filled over existing dates) change the
 * cross-section those rows' market and rank columns were computed from: after every run the stored
 * rows must equal a full recomputation over the bars then stored, bit for bit, every column.
 */
const crossSet = defineFeatureSet({
  name: 'late-bars',
  features: [
    { kind: 'return', horizon: 1 },
    { kind: 'return', horizon: 5, normalize: 'rank' },
    { kind: 'ema_ratio', window: 12 },
    { kind: 'rsi', window: 7, normalize: 'zscore' },
    { kind: 'breadth', window: 10 },
    { kind: 'advance_decline' },
    { kind: 'dispersion' },
    { kind: 'market_volatility', window: 10 },
  ],
});
// Per-symbol columns only: a symbol's bars never reach another's rows.
const ownSet = defineFeatureSet({ name: 'late-bars-own', features: [{ kind: 'return', horizon: 1 }, { kind: 'ema_ratio', window: 12 }, { kind: 'rsi', window: 7 }] });

/** Weekdays from `from`, `n` of them. */
function weekdays(from: string, n: number): string[] {
  const out: string[] = [];
  for (const d = new Date(`${from}T00:00:00Z`); out.length < n; d.setUTCDate(d.getUTCDate() + 1)) {
    if (d.getUTCDay() !== 0 && d.getUTCDay() !== 6) out.push(d.toISOString().slice(0, 10));
  }
  return out;
}

function walk(symbol: string, dates: readonly string[], seed: number): Bar[] {
  const r = rng(seed);
  let c = 50 + 50 * r();
  return dates.map((date) => {
    const o = c * (1 + 0.01 * (r() - 0.5));
    c *= Math.exp(0.03 * (r() - 0.5));
    return { symbol, date, open: o, high: Math.max(o, c) * (1 + 0.01 * r()), low: Math.min(o, c) * (1 - 0.01 * r()), close: c, volume: Math.round(1e6 * (0.5 + r())) };
  });
}

const DATES = weekdays('2020-01-06', 90);
const SYMBOLS = ['AAA', 'BBB', 'CCC', 'DDD'];
const BARS = new Map(SYMBOLS.map((s, i) => [s, walk(s, DATES, 11 + i)]));
const barsOf = (symbol: string, from: number, to: number) => (BARS.get(symbol) as Bar[]).slice(from, to + 1);
const D = 60;

/** The stored rows: "symbol date hex(values)". */
async function storedRows(store: Database, set: FeatureSet): Promise<string[]> {
  const rows = await store.db.selectFrom('feature_rows').select(['symbol', 'date', 'vals']).where('version', '=', set.version).orderBy('symbol').orderBy('date').execute();
  return rows.map((r) => `${r.symbol} ${r.date} ${Buffer.from(r.vals).toString('hex')}`);
}

/** What a from-scratch materialisation of the bars now stored would store, in the same form. */
async function fullRecomputation(store: Database, set: FeatureSet): Promise<string[]> {
  const computed = await computeFromInputs(set, await loadFeatureInputs(store, set));
  const rows = computed.frames.flatMap((f) => f.dates.map((date, r) => `${f.symbol} ${date} ${Buffer.from(packValues(frameRow(f, r))).toString('hex')}`));
  return rows.sort();
}

describe('stored feature rows after bars that arrive late (SQLite)', () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it("one symbol's day arriving after the others' recomputes their rows of that day: equal to a full recomputation, and the audit passes", async () => {
    await upsertBars(t.store, SYMBOLS.flatMap((s) => barsOf(s, 0, s === 'CCC' ? D - 1 : D)));
    await materializeFeatures(t.store, crossSet);
    const before = await storedRows(t.store, crossSet);

    await upsertBars(t.store, barsOf('CCC', D, D));
    const report = await materializeFeatures(t.store, crossSet);
    // CCC's new row, and the other three symbols' rows of that day, recomputed with CCC in them.
    expect(report).toMatchObject({ rowsWritten: 1, rowsRecomputed: 3, recomputedFrom: DATES[D] });
    const after = await storedRows(t.store, crossSet);
    expect(after).toEqual(await fullRecomputation(t.store, crossSet));
    // Only rows of that day changed.
    expect(after.filter((r) => r.split(' ')[1] < DATES[D])).toEqual(before.filter((r) => r.split(' ')[1] < DATES[D]));
    expect(after.filter((r) => r.split(' ')[1] === DATES[D] && !before.includes(r))).toHaveLength(4);

    const dataset = await buildTrainingDataset(t.store, { featureSetVersion: crossSet.version, label: labelSpecSchema.parse({ kind: 'direction', horizon: 5 }) });
    const audit = await auditPointInTime(t.store, dataset, { rows: dataset.rows, dates: 10_000, seed: 1, newest: 0 });
    expect(audit.mismatchedFeatures).toEqual([]);
    expect(audit.passed).toBe(true);

    // The next run has nothing to do; the rest of the period then appends only.
    expect(await materializeFeatures(t.store, crossSet)).toMatchObject({ rowsWritten: 0, rowsRecomputed: 0, recomputedFrom: null });
    await upsertBars(t.store, SYMBOLS.flatMap((s) => barsOf(s, D + 1, DATES.length - 1)));
    expect(await materializeFeatures(t.store, crossSet)).toMatchObject({ rowsRecomputed: 0 });
    expect(await storedRows(t.store, crossSet)).toEqual(await fullRecomputation(t.store, crossSet));
  });

  it("a late file of several days, materialised for that symbol alone, recomputes the others' rows from its first day", async () => {
    await upsertBars(t.store, SYMBOLS.flatMap((s) => barsOf(s, 0, s === 'BBB' ? D - 6 : D)));
    await materializeFeatures(t.store, crossSet);
    await upsertBars(t.store, barsOf('BBB', D - 5, D));
    const report = await materializeFeatures(t.store, crossSet, { symbols: ['BBB'] });
    expect(report).toMatchObject({ rowsWritten: 6, rowsRecomputed: 3 * 6, recomputedFrom: DATES[D - 5] });
    expect(await storedRows(t.store, crossSet)).toEqual(await fullRecomputation(t.store, crossSet));
  });

  it("a late day older than the newest rows, materialised up to that day (an import's last date), recomputes the others' later rows too", async () => {
    // The features step runs up to the import's last date; here that is CCC's late day, three days
    // before the others' newest rows, whose market columns (the 10-day market volatility) carry it.
    await upsertBars(t.store, SYMBOLS.flatMap((s) => barsOf(s, 0, s === 'CCC' ? D - 4 : D)));
    await materializeFeatures(t.store, crossSet, { to: DATES[D] });
    await upsertBars(t.store, barsOf('CCC', D - 3, D - 3));
    const report = await materializeFeatures(t.store, crossSet, { to: DATES[D - 3] });
    expect(report).toMatchObject({ rowsWritten: 1, rowsRecomputed: 3 * 4, recomputedFrom: DATES[D - 3] });
    expect(await storedRows(t.store, crossSet)).toEqual(await fullRecomputation(t.store, crossSet));
    expect(await materializeFeatures(t.store, crossSet, { to: DATES[D] })).toMatchObject({ rowsWritten: 0, rowsRecomputed: 0 });
  });

  it("a day back-filled into one symbol's history, materialised up to that day, recomputes that symbol's later rows too", async () => {
    // BBB's first file lacked one day; per-symbol EMA columns carry it to every later row.
    await upsertBars(t.store, SYMBOLS.flatMap((s) => barsOf(s, 0, D).filter((b) => !(s === 'BBB' && b.date === DATES[D - 3]))));
    await materializeFeatures(t.store, ownSet, { to: DATES[D] });
    await upsertBars(t.store, barsOf('BBB', D - 3, D - 3));
    const report = await materializeFeatures(t.store, ownSet, { to: DATES[D - 3] });
    expect(report).toMatchObject({ rowsWritten: 0, rowsRecomputed: 4, recomputedFrom: DATES[D - 3] }); // the new day's row counts as recomputed: it lies inside BBB's rows
    expect(await storedRows(t.store, ownSet)).toEqual(await fullRecomputation(t.store, ownSet));
  });

  it('a newly listed symbol back-filled over dates that have rows, in two files, recomputes the others from its first bar each time', async () => {
    await upsertBars(t.store, SYMBOLS.flatMap((s) => barsOf(s, 0, D)));
    await materializeFeatures(t.store, crossSet);
    const listed = walk('NEW', DATES.slice(20, D + 1), 99);
    // Its older history first (ending before the others' last rows), then the rest.
    await upsertBars(t.store, listed.slice(0, 25));
    const first = await materializeFeatures(t.store, crossSet);
    expect(first.recomputedFrom).toBe(DATES[20]);
    expect(await storedRows(t.store, crossSet)).toEqual(await fullRecomputation(t.store, crossSet));
    await upsertBars(t.store, listed.slice(25));
    const second = await materializeFeatures(t.store, crossSet);
    expect(second.recomputedFrom).toBe(DATES[45]);
    expect(second.rowsRecomputed).toBe(4 * (D - 45 + 1));
    expect(await storedRows(t.store, crossSet)).toEqual(await fullRecomputation(t.store, crossSet));
    expect(await materializeFeatures(t.store, crossSet)).toMatchObject({ rowsWritten: 0, rowsRecomputed: 0 });
  });

  it('one new day appended for every symbol writes that day only and recomputes nothing', async () => {
    await upsertBars(t.store, SYMBOLS.flatMap((s) => barsOf(s, 0, D)));
    await materializeFeatures(t.store, crossSet);
    const before = await storedRows(t.store, crossSet);
    await upsertBars(t.store, SYMBOLS.flatMap((s) => barsOf(s, D + 1, D + 1)));
    expect(await materializeFeatures(t.store, crossSet)).toMatchObject({ rowsWritten: SYMBOLS.length, rowsRecomputed: 0, recomputedFrom: null });
    const after = await storedRows(t.store, crossSet);
    expect(after.filter((r) => r.split(' ')[1] <= DATES[D])).toEqual(before);
    expect(after.filter((r) => r.split(' ')[1] === DATES[D + 1])).toHaveLength(SYMBOLS.length);
    expect(after).toEqual(await fullRecomputation(t.store, crossSet));
  });

  it("with per-symbol columns only, a late day writes that symbol's row and recomputes nothing else", async () => {
    await upsertBars(t.store, SYMBOLS.flatMap((s) => barsOf(s, 0, s === 'CCC' ? D - 1 : D)));
    await materializeFeatures(t.store, ownSet);
    await upsertBars(t.store, barsOf('CCC', D, D));
    expect(await materializeFeatures(t.store, ownSet)).toMatchObject({ rowsWritten: 1, rowsRecomputed: 0, recomputedFrom: null });
    expect(await storedRows(t.store, ownSet)).toEqual(await fullRecomputation(t.store, ownSet));
  });

  // The pipeline's features step runs up to each import's last date, which a late piece puts before stored rows.
  it.each([['everything stored', false], ["each import's last date", true]])('any order of imports leaves rows equal to a full recomputation after every run up to %s (volatility index included)', async (_, upToImport) => {
    const set = defineFeatureSet({ ...crossSet, name: 'late-bars-vix', features: [...crossSet.features, { kind: 'volatility_index', symbol: '$VIX', changeWindow: 3 }] });
    const r = rng(7);
    // Every series in two to four contiguous pieces, one listed late, imported in a random order.
    const series = [...SYMBOLS.map((s) => BARS.get(s) as Bar[]), walk('NEW', DATES.slice(30), 99), walk('$VIX', DATES, 5)];
    const pieces: Bar[][] = [];
    for (const bars of series) {
      const cuts = [0, ...Array.from({ length: 1 + Math.floor(r() * 3) }, () => 1 + Math.floor(r() * (bars.length - 1))), bars.length].sort((a, b) => a - b);
      for (let i = 0; i + 1 < cuts.length; i++) if (cuts[i + 1] > cuts[i]) pieces.push(bars.slice(cuts[i], cuts[i + 1]));
    }
    for (let i = pieces.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [pieces[i], pieces[j]] = [pieces[j], pieces[i]];
    }
    // The first import holds the start of the volatility index and of one equity (the set needs both).
    const firstOf = (symbol: string) => pieces.findIndex((p) => p[0].symbol === symbol && p[0].date === DATES[0]);
    const first = [...pieces.splice(firstOf('$VIX'), 1), ...pieces.splice(firstOf('AAA'), 1)];
    let recomputed = 0;
    for (const piece of [first.flat(), ...pieces]) {
      await upsertBars(t.store, piece);
      recomputed += (await materializeFeatures(t.store, set, upToImport ? { to: piece.reduce((m, b) => (b.date > m ? b.date : m), '') } : {})).rowsRecomputed;
      expect(await storedRows(t.store, set)).toEqual(await fullRecomputation(t.store, set));
    }
    expect(recomputed).toBeGreaterThan(0);
    expect(await materializeFeatures(t.store, set)).toMatchObject({ rowsWritten: 0, rowsRecomputed: 0 });
  });
});
