import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../lib/features/feature-set';
import { readOnlineFeatures } from '../../lib/features/online-features';
import type { Bar } from '../../lib/market-data/bar';
import { readBarCsv } from '../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../lib/market-data/synthetic';
import { nextNyseTradingDay } from '../../lib/calendar/nyse';
import { readBars, upsertBars } from '../../lib/store/bars';
import { listQuarantine } from '../../lib/store/quarantine';
import { BarStreamConsumer, streamSnapshotId } from '../../lib/streaming/consumer';
import { BarStreamProducer } from '../../lib/streaming/producer';
import { DRIVERS, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';

/**
 * Live bars meeting stored ones are judged as a file's rows are when its snapshot is judged
 * (lib/quality/stored-rules.ts): a correction that is a one-bar glitch between stored bars, a
 * volume of 0 over a stored volume, and corrections that move stored bars to another price basis
 * are rejected, and the stored bars, their revision log and the online vectors stay as they were.
 */
/** With market columns, so the consumer publishes every symbol's vector when it starts. */
const SET = defineFeatureSet(DEFAULT_FEATURE_SET);

const ALL: Bar[] = generateSyntheticMarket({ symbols: 4, from: '2017-01-03', to: '2018-06-29', seed: 23, plantErrors: false }).files.flatMap((f) =>
  readBarCsv(f.csv, { source: f.fileName }).bars.map((b) => ({ symbol: b.symbol, date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume })),
);
const SYMBOLS = [...new Set(ALL.map((b) => b.symbol))].sort();
const DATES = [...new Set(ALL.map((b) => b.date))].sort();
const barOf = (symbol: string, date: string) => ALL.find((b) => b.symbol === symbol && b.date === date) as Bar;
const live = (bars: readonly Bar[]) => bars.map((b) => ({ ...b, source: 'test' }));
const scaled = (b: Bar, k: number): Bar => ({ ...b, open: b.open * k, high: b.high * k, low: b.low * k, close: b.close * k, volume: Math.round(b.volume / k) });

describe.each(DRIVERS)('live bars judged against the stored bars on %s', (_driver, create) => {
  let t: TestDatabase;
  let redis: Redis;
  let key: string;
  let producer: BarStreamProducer;
  let cache: MemoryCache;
  const consumers: BarStreamConsumer[] = [];
  const consumer = (): BarStreamConsumer => {
    const c = new BarStreamConsumer({ redis, store: t.store, cache, featureSets: [SET], log: () => {} }, { key, group: 'g', consumer: 'c1', blockMs: 20, claimIntervalMs: 60_000, crossSectionIntervalMs: 0, outcomeIntervalMs: 0, crossSectionThread: false });
    consumers.push(c);
    return c;
  };
  const drain = async (c: BarStreamConsumer): Promise<void> => {
    while ((await c.pollOnce()) > 0);
    await c.flush();
  };
  const findings = async () => (await listQuarantine(t.store, { snapshotId: streamSnapshotId(key) })).map((q) => [q.rule, q.severity, q.symbol, q.date]).sort();
  const revisions = async () => t.store.db.selectFrom('bar_revisions').select(['symbol', 'date']).orderBy('symbol').orderBy('date').execute();

  beforeEach(async () => {
    t = await create();
    key = `test:live-stored:${crypto.randomBytes(4).toString('hex')}`;
    redis = new Redis(TEST_REDIS_URL);
    producer = new BarStreamProducer(redis, { key });
    cache = new MemoryCache();
  });
  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.close();
    const keys = await redis.keys(`${key}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    await t?.drop();
  });

  it('a correction that is a one-bar glitch between stored bars, or a volume of 0 over a stored volume, is rejected and the stored bar kept; a plausible correction still revises', async () => {
    await upsertBars(t.store, ALL);
    const c = consumer();
    await c.start();
    const vectorBefore = await readOnlineFeatures(cache, SET.version, SYMBOLS[0]);
    expect(vectorBefore?.asOf).toBe(DATES[DATES.length - 1]);
    const glitched = barOf(SYMBOLS[0], DATES[DATES.length - 6]);
    const silent = barOf(SYMBOLS[1], DATES[DATES.length - 4]);
    const fine = barOf(SYMBOLS[2], DATES[DATES.length - 5]);
    const fixed = { ...fine, close: fine.low + 0.7 * (fine.high - fine.low) };
    expect(fixed.close).not.toBe(fine.close);
    // A misplaced decimal point in a correction and a correction without its volume.
    await producer.publish(live([scaled(glitched, 10), { ...silent, volume: 0 }]));
    await drain(c);
    // The online vectors are still the ones computed from the stored bars.
    expect(await readOnlineFeatures(cache, SET.version, SYMBOLS[0])).toEqual(vectorBefore);
    expect(await revisions()).toEqual([]);
    // A real correction is stored as before.
    await producer.publish(live([fixed]));
    await drain(c);

    expect(await findings()).toEqual(
      [
        ['one_bar_glitch', 'reject', glitched.symbol, glitched.date],
        ['volume_vanished', 'reject', silent.symbol, silent.date],
      ].sort(),
    );
    expect(await readBars(t.store, { symbols: [glitched.symbol], from: glitched.date, to: glitched.date })).toEqual([glitched]);
    expect(await readBars(t.store, { symbols: [silent.symbol], from: silent.date, to: silent.date })).toEqual([silent]);
    expect(await readBars(t.store, { symbols: [fine.symbol], from: fine.date, to: fine.date })).toEqual([fixed]);
    expect(await revisions()).toEqual([{ symbol: fine.symbol, date: fine.date }]);
    expect(c.stats).toMatchObject({ barsRevised: 1, barsStored: 1, quarantinedByRule: { one_bar_glitch: 1, volume_vanished: 1 } });
  });

  // The same verdicts an import's judging gives these bars (the rules read the stored bars of 100
  // calendar days around them, σ of 60 returns): before, the live path read 14 days (about 10
  // sessions), too few for σ, and judged only by the fixed 25-35% limit.
  it("a correction x1.3 of a quiet symbol's bar months back is rejected, and a stored newest bar +15% is retracted when the next bar is back at the level: one_bar_glitch on the symbol's own scale, as on an import", async () => {
    const [quiet, jumpy] = [SYMBOLS[1], SYMBOLS[2]];
    const last = DATES[DATES.length - 1];
    const before = barOf(jumpy, DATES[DATES.length - 2]);
    const glitch = scaled(barOf(jumpy, last), (before.close * 1.15) / barOf(jumpy, last).close);
    await upsertBars(t.store, ALL.map((b) => (b.symbol === jumpy && b.date === last ? glitch : b)));
    const c = consumer();
    await c.start();
    const old = barOf(quiet, DATES[DATES.length - 60]);
    const next = { ...before, date: nextNyseTradingDay(last), open: before.close, high: before.close * 1.006, low: before.close * 0.998, close: before.close * 1.003 };
    await producer.publish(live([scaled(old, 1.3), next]));
    await drain(c);

    expect(await findings()).toEqual(
      [
        ['one_bar_glitch', 'reject', quiet, old.date],
        ['one_bar_glitch', 'reject', jumpy, last],
        // The retracted session is missing now.
        ['calendar_gap', 'flag', jumpy, last],
      ].sort(),
    );
    expect(await readBars(t.store, { symbols: [quiet], from: old.date, to: old.date })).toEqual([old]);
    expect(await readBars(t.store, { symbols: [jumpy], from: last, to: next.date })).toEqual([next]);
    expect(await revisions()).toEqual([{ symbol: jumpy, date: last }]);
  });

  it('corrections carrying the stored bar of another session (a feed dating its bars a session early or late) are rejected (misdated_series) with the rest of the symbol\'s batch; the store, its revisions and the online vectors stay as they were', async () => {
    await upsertBars(t.store, ALL);
    const c = consumer();
    await c.start();
    const vectors = await Promise.all(SYMBOLS.map((s) => readOnlineFeatures(cache, SET.version, s)));
    const n = DATES.length;
    const moved = (symbol: string, from: string, to: string): Bar => ({ ...barOf(symbol, from), date: to });
    // SYMBOLS[0]: the bar of each session sent under the session before (the last seven sessions re-sent,
    // the newest one's values are those of a session the store does not hold yet: the batch is rejected whole).
    const early = DATES.slice(n - 8, n - 1).map((d, k) => (k < 6 ? moved(SYMBOLS[0], DATES[n - 7 + k], d) : { ...barOf(SYMBOLS[0], d), close: barOf(SYMBOLS[0], d).low + 0.9 * (barOf(SYMBOLS[0], d).high - barOf(SYMBOLS[0], d).low) }));
    // SYMBOLS[1]: one bar, the 2018-03-02 bar sent as 2018-03-01; SYMBOLS[2]: one bar a session late.
    const one = moved(SYMBOLS[1], '2018-03-02', '2018-03-01');
    const late = moved(SYMBOLS[2], DATES[n - 11], DATES[n - 10]);
    await producer.publish(live([...early, one, late]));
    await drain(c);
    const rejected = (await findings()).filter((f) => f[1] === 'reject');
    expect(rejected).toEqual(
      [
        ...DATES.slice(n - 8, n - 2).map((d) => ['misdated_series', 'reject', SYMBOLS[0], d]).slice(0, 1),
        ...DATES.slice(n - 7, n - 1).map((d) => ['file_rejected', 'reject', SYMBOLS[0], d]),
        ['misdated_series', 'reject', SYMBOLS[1], '2018-03-01'],
        ['misdated_series', 'reject', SYMBOLS[2], DATES[n - 10]],
      ].sort(),
    );
    const quarantined = await listQuarantine(t.store, { snapshotId: streamSnapshotId(key), rule: 'misdated_series' });
    expect(quarantined.find((q) => q.symbol === SYMBOLS[1])?.message).toMatch(/stored bar of 2018-03-02 .*1 session early/);
    expect(quarantined.find((q) => q.symbol === SYMBOLS[2])?.message).toMatch(/1 session late/);
    expect(await readBars(t.store, {})).toEqual(ALL.slice().sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : a.date < b.date ? -1 : 1)));
    expect(await revisions()).toEqual([]);
    expect(await Promise.all(SYMBOLS.map((s) => readOnlineFeatures(cache, SET.version, s)))).toEqual(vectors);
    expect(c.stats).toMatchObject({ barsRevised: 0, barsStored: 0 });
  });

  it("a live bar that is another symbol's bar of a session 1..5 away is rejected (lagged_duplicate); of the same session, flagged (duplicate_series)", async () => {
    const n = DATES.length;
    await upsertBars(t.store, ALL.filter((b) => b.date < DATES[n - 1]));
    const c = consumer();
    await c.start();
    const as = (b: Bar, symbol: string, date = b.date): Bar => ({ ...b, symbol, date });
    // ZDUP: SYMBOLS[0]'s bar of the next session (stored), late bars and a new one; ZSTL: SYMBOLS[1]'s
    // bar two sessions earlier; ZSAM: SYMBOLS[2]'s bar of its own session; ZNXT: the batch's own
    // SYMBOLS[3] bar of the next (new) session.
    await producer.publish(
      live([
        as(barOf(SYMBOLS[0], DATES[n - 3]), 'ZDUP', DATES[n - 4]),
        as(barOf(SYMBOLS[0], DATES[n - 2]), 'ZDUP', DATES[n - 3]),
        as(barOf(SYMBOLS[1], DATES[n - 4]), 'ZSTL', DATES[n - 2]),
        as(barOf(SYMBOLS[2], DATES[n - 2]), 'ZSAM'),
        barOf(SYMBOLS[3], DATES[n - 1]),
        as(barOf(SYMBOLS[3], DATES[n - 1]), 'ZNXT', DATES[n - 2]),
      ]),
    );
    await drain(c);
    expect(await findings()).toEqual(
      [
        ['lagged_duplicate', 'reject', 'ZDUP', DATES[n - 4]],
        ['lagged_duplicate', 'reject', 'ZDUP', DATES[n - 3]],
        ['lagged_duplicate', 'reject', 'ZSTL', DATES[n - 2]],
        ['lagged_duplicate', 'reject', 'ZNXT', DATES[n - 2]],
        ['duplicate_series', 'flag', 'ZSAM', DATES[n - 2]],
      ].sort(),
    );
    const quarantined = await listQuarantine(t.store, { snapshotId: streamSnapshotId(key), symbol: 'ZDUP' });
    expect(quarantined[0].message).toMatch(new RegExp(`${SYMBOLS[0]}'s bar of \\d{4}-\\d{2}-\\d{2} \\(stored\\), 1 session later`));
    expect((await readBars(t.store, { symbols: ['ZDUP', 'ZSTL', 'ZNXT'] })).length).toBe(0);
    expect((await readBars(t.store, { symbols: ['ZSAM', SYMBOLS[3]], from: DATES[n - 1] })).map((b) => [b.symbol, b.date])).toEqual([[SYMBOLS[3], DATES[n - 1]]]);
    expect((await readBars(t.store, { symbols: ['ZSAM'] })).map((b) => b.date)).toEqual([DATES[n - 2]]);
  });

  it('bars delivered out of order across sessions leave no calendar_gap flag for sessions that arrived later; what is still missing stays flagged', async () => {
    const n = DATES.length;
    const [d1, d2, d3] = DATES.slice(n - 3);
    const symbol = SYMBOLS[2];
    await upsertBars(t.store, ALL.filter((b) => b.date < d1));
    const c = consumer();
    const gaps = async () => (await listQuarantine(t.store, { snapshotId: streamSnapshotId(key), rule: 'calendar_gap' })).map((q) => [q.symbol, q.date, q.message]);
    await producer.publish(live([barOf(symbol, d3)]));
    await drain(c);
    expect(await gaps()).toEqual([[symbol, d1, `2 trading days missing ${d1}..${d2}`]]);
    await producer.publish(live([barOf(symbol, d1)]));
    await drain(c);
    expect(await gaps()).toEqual([[symbol, d2, `trading day ${d2} missing`]]);
    await producer.publish(live([barOf(symbol, d2)]));
    await drain(c);
    expect(await gaps()).toEqual([]);
    expect((await readBars(t.store, { symbols: [symbol], from: d1 })).map((b) => b.date)).toEqual([d1, d2, d3]);
  });

  it('a bar of a symbol whose suffix no rule reads (XYZ.ZZ) is rejected as invalid_symbol, as an import refuses it; the other bars and their vectors go on', async () => {
    const last = DATES[DATES.length - 1];
    await upsertBars(t.store, ALL.filter((b) => b.date < last));
    const c = consumer();
    await producer.publish(live([...SYMBOLS.map((s) => barOf(s, last)), { ...barOf(SYMBOLS[0], last), symbol: 'XYZ.ZZ' }]));
    await drain(c);
    expect(await findings()).toEqual([['invalid_symbol', 'reject', 'XYZ.ZZ', last]]);
    expect((await listQuarantine(t.store, { snapshotId: streamSnapshotId(key) }))[0].message).toMatch(/suffix .*declare its kind/);
    expect(await readBars(t.store, { symbols: ['XYZ.ZZ'] })).toEqual([]);
    for (const s of SYMBOLS) expect((await readOnlineFeatures(cache, SET.version, s))?.asOf).toBe(last);
  });

  it('a glitch followed by the bar that undoes it, in one batch of new bars, is rejected as in a file', async () => {
    const symbol = SYMBOLS[3];
    const [d1, d2] = DATES.slice(-2);
    await upsertBars(t.store, ALL.filter((b) => b.date < d1));
    const c = consumer();
    await producer.publish(live([scaled(barOf(symbol, d1), 0.1), barOf(symbol, d2)]));
    await drain(c);
    expect((await findings()).filter((f) => f[1] === 'reject')).toEqual([['one_bar_glitch', 'reject', symbol, d1]]);
    expect((await readBars(t.store, { symbols: [symbol], from: d1 })).map((b) => b.date)).toEqual([d2]);
  });

  it('corrections moving the last sessions of a stored series to another price basis are rejected (price_basis_splice); the next new bar is stored and flagged', async () => {
    const symbol = SYMBOLS[1];
    const last = DATES[DATES.length - 1];
    await upsertBars(t.store, ALL.filter((b) => b.date < last));
    const c = consumer();
    await c.start();
    const vectorBefore = await readOnlineFeatures(cache, SET.version, symbol);
    // A poll after a 2:1 split: the provider's last seven sessions, all on the split-adjusted basis.
    const resent = DATES.slice(-7).map((d) => scaled(barOf(symbol, d), 0.5));
    await producer.publish(live(resent));
    await drain(c);

    const rejected = (await findings()).filter((f) => f[1] === 'reject');
    expect(rejected).toEqual(DATES.slice(-7, -1).map((d) => ['price_basis_splice', 'reject', symbol, d]));
    const quarantined = await listQuarantine(t.store, { snapshotId: streamSnapshotId(key) });
    expect(quarantined.find((q) => q.rule === 'price_basis_splice')?.message).toMatch(/×0\.5000/);
    // Stored bars untouched, nothing logged as revised; the new bar is stored, its -50% flagged.
    expect(await readBars(t.store, { symbols: [symbol], from: DATES[DATES.length - 7], to: DATES[DATES.length - 2] })).toEqual(DATES.slice(-7, -1).map((d) => barOf(symbol, d)));
    expect(await revisions()).toEqual([]);
    expect(await readBars(t.store, { symbols: [symbol], from: last })).toEqual([resent[6]]);
    expect(await findings()).toContainEqual(['extreme_move', 'flag', symbol, last]);
    expect(c.stats.barsRevised).toBe(0);
    expect((await readOnlineFeatures(cache, SET.version, symbol))?.asOf).toBe(last);
    expect(vectorBefore?.asOf).toBe(DATES[DATES.length - 2]);
  });

  it('a lone new bar whose volume is a misplaced decimal point (×1000 its level) is rejected (volume_glitch); a heavy but plausible day is stored', async () => {
    await upsertBars(t.store, ALL);
    const c = consumer();
    await c.start();
    const next = '2018-07-02';
    const last = (symbol: string) => barOf(symbol, DATES[DATES.length - 1]);
    const glitch = { ...last(SYMBOLS[0]), date: next, volume: last(SYMBOLS[0]).volume * 1000 };
    const heavy = { ...last(SYMBOLS[1]), date: next, volume: last(SYMBOLS[1]).volume * 20 };
    await producer.publish(live([glitch, heavy]));
    await drain(c);
    expect(await findings()).toEqual([['volume_glitch', 'reject', SYMBOLS[0], next]]);
    expect(await readBars(t.store, { symbols: [SYMBOLS[0]], from: next, to: next })).toEqual([]);
    expect(await readBars(t.store, { symbols: [SYMBOLS[1]], from: next, to: next })).toEqual([heavy]);
    expect((await readOnlineFeatures(cache, SET.version, SYMBOLS[0]))?.asOf).toBe(DATES[DATES.length - 1]);
  });

  it('new bars whose every price is ×100 the stored closes (cents) with the volume as usual are rejected (price_unit_change), alone or several in a batch, batch after batch; the store and the online vectors stay as they were, and bars in dollars are stored', async () => {
    const n = DATES.length;
    await upsertBars(t.store, ALL.filter((b) => b.date <= DATES[n - 4]));
    const c = consumer();
    await c.start();
    const vectors = await Promise.all(SYMBOLS.slice(0, 2).map((s) => readOnlineFeatures(cache, SET.version, s)));
    expect(vectors.map((v) => v?.asOf)).toEqual([DATES[n - 4], DATES[n - 4]]);
    const cents = (b: Bar): Bar => ({ ...b, open: b.open * 100, high: b.high * 100, low: b.low * 100, close: b.close * 100 });
    // SYMBOLS[0]: its next bar in cents; SYMBOLS[1]: its next three, in one batch.
    await producer.publish(live([cents(barOf(SYMBOLS[0], DATES[n - 3])), ...DATES.slice(n - 3).map((d) => cents(barOf(SYMBOLS[1], d)))]));
    await drain(c);
    expect((await findings()).filter((f) => f[1] === 'reject')).toEqual(
      [
        ['price_unit_change', 'reject', SYMBOLS[0], DATES[n - 3]],
        ['price_unit_change', 'reject', SYMBOLS[1], DATES[n - 3]],
        ['file_rejected', 'reject', SYMBOLS[1], DATES[n - 2]],
        ['file_rejected', 'reject', SYMBOLS[1], DATES[n - 1]],
      ].sort(),
    );
    expect(await readBars(t.store, { symbols: SYMBOLS.slice(0, 2), from: DATES[n - 3] })).toEqual([]);
    expect(await Promise.all(SYMBOLS.slice(0, 2).map((s) => readOnlineFeatures(cache, SET.version, s)))).toEqual(vectors);
    // The feed still in cents the next time: refused again; SYMBOLS[1] back in dollars: stored.
    await producer.publish(live([cents(barOf(SYMBOLS[0], DATES[n - 2])), barOf(SYMBOLS[1], DATES[n - 3])]));
    await drain(c);
    expect(await findings()).toContainEqual(['price_unit_change', 'reject', SYMBOLS[0], DATES[n - 2]]);
    expect(await readBars(t.store, { symbols: [SYMBOLS[0]], from: DATES[n - 3] })).toEqual([]);
    expect(await readBars(t.store, { symbols: [SYMBOLS[1]], from: DATES[n - 3] })).toEqual([barOf(SYMBOLS[1], DATES[n - 3])]);
    expect(await revisions()).toEqual([]);
  });

  it('a bar in dollars before a bar in cents in the same batch is stored (only the bars from the step on are refused, wherever batches are cut); a new symbol whose first live bar is in cents does not lock out the bars in dollars after it', async () => {
    const n = DATES.length;
    await upsertBars(t.store, ALL.filter((b) => b.date <= DATES[n - 4]));
    const c = consumer();
    await c.start();
    const cents = (b: Bar): Bar => ({ ...b, open: b.open * 100, high: b.high * 100, low: b.low * 100, close: b.close * 100 });
    const fresh = (b: Bar): Bar => ({ ...b, symbol: 'SYN09' });
    // SYN09 has no stored bar: its first bar (in cents) cannot be judged and is stored with the rest.
    await producer.publish(live([barOf(SYMBOLS[0], DATES[n - 3]), cents(barOf(SYMBOLS[0], DATES[n - 2])), cents(fresh(barOf(SYMBOLS[3], DATES[n - 3])))]));
    await drain(c);
    await producer.publish(live([fresh(barOf(SYMBOLS[3], DATES[n - 2]))]));
    await drain(c);
    await producer.publish(live([fresh(barOf(SYMBOLS[3], DATES[n - 1]))]));
    await drain(c);
    expect((await findings()).filter((f) => f[1] === 'reject')).toEqual([['price_unit_change', 'reject', SYMBOLS[0], DATES[n - 2]]]);
    expect(await readBars(t.store, { symbols: [SYMBOLS[0]], from: DATES[n - 3] })).toEqual([barOf(SYMBOLS[0], DATES[n - 3])]);
    expect((await readBars(t.store, { symbols: ['SYN09'] })).map((b) => b.date)).toEqual(DATES.slice(n - 3));
    expect(await findings()).toContainEqual(['extreme_move', 'flag', 'SYN09', DATES[n - 2]]);
  });

  it('a 1:10 reverse split on the stream (prices ×10, the volume ÷10) is stored: a split, not another price unit', async () => {
    const n = DATES.length;
    await upsertBars(t.store, ALL.filter((b) => b.date <= DATES[n - 2]));
    const c = consumer();
    await c.start();
    const b = barOf(SYMBOLS[2], DATES[n - 1]);
    const split = { ...b, open: b.open * 10, high: b.high * 10, low: b.low * 10, close: b.close * 10, volume: Math.round(b.volume / 10) };
    await producer.publish(live([split]));
    await drain(c);
    expect((await findings()).filter((f) => f[1] === 'reject')).toEqual([]);
    expect(await readBars(t.store, { symbols: [SYMBOLS[2]], from: DATES[n - 1] })).toEqual([split]);
  });

  it("a correction meeting the session before's prices within rounding but with its own volume is a correction, not a misdated bar", async () => {
    await upsertBars(t.store, ALL);
    const c = consumer();
    await c.start();
    const [before, day] = DATES.slice(-3, -1);
    const symbol = SYMBOLS[2];
    // Prices of the session before (a close corrected onto them, as AFL's 71.00 → 71.07 met 14 February's), volume its own.
    const corrected = { ...barOf(symbol, before), date: day, volume: barOf(symbol, day).volume };
    await producer.publish(live([corrected]));
    await drain(c);
    expect((await findings()).filter((f) => f[0] === 'misdated_series')).toEqual([]);
    expect(await readBars(t.store, { symbols: [symbol], from: day, to: day })).toEqual([corrected]);
  });
});
