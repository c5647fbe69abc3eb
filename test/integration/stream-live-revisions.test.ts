import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { frameRow } from '../../lib/features/compute-features';
import { readOnlineFeatures } from '../../lib/features/online-features';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { DEFAULT_FEATURE_SET, defineFeatureSet, type FeatureSet } from '../../lib/features/feature-set';
import { computeFromInputs, loadFeatureInputs, materializeFeatures } from '../../lib/features/materialize';
import type { Bar } from '../../lib/market-data/bar';
import { readBarCsv } from '../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../lib/market-data/synthetic';
import { readBars, upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { packValues } from '../../lib/store/features';
import { listQuarantine } from '../../lib/store/quarantine';
import { listRevisions } from '../../lib/store/staging';
import { BarStreamConsumer, streamSnapshotId } from '../../lib/streaming/consumer';
import { encodeLiveBar } from '../../lib/streaming/live-bar';
import { BarStreamProducer } from '../../lib/streaming/producer';
import { createMysqlTestDatabase, createSqliteTestDatabase, DRIVERS, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';

/**
 * Live corrections and redelivery: a bar the stream corrects makes the stored feature rows it
 * changed stale (logged in bar_revisions, marked in feature_progress with the bar, in one
 * transaction), and an entry delivered again after a newer one of the same stream never overwrites
 * what the newer one wrote (live_bar_sources).
 */
const marketSet = defineFeatureSet(DEFAULT_FEATURE_SET);
const ownSet = defineFeatureSet({ name: 'live-own-only', features: [{ kind: 'return', horizon: 1 }, { kind: 'ema_ratio', window: 12 }, { kind: 'rsi', window: 7 }] });

const ALL: Bar[] = generateSyntheticMarket({ symbols: 4, from: '2017-01-03', to: '2018-06-29', seed: 11, plantErrors: false }).files.flatMap((f) =>
  readBarCsv(f.csv, { source: f.fileName }).bars.map((b) => ({ symbol: b.symbol, date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume })),
);
const SYMBOLS = [...new Set(ALL.map((b) => b.symbol))].sort();
const DATES = [...new Set(ALL.map((b) => b.date))].sort();
const barOf = (symbol: string, date: string) => ALL.find((b) => b.symbol === symbol && b.date === date) as Bar;
const live = (bars: readonly Bar[]) => bars.map((b) => ({ ...b, source: 'test' }));
/** The bar with its close moved within its day's range: a correction the rules pass. */
const corrected = (b: Bar, share = 0.8): Bar => ({ ...b, close: b.low + share * (b.high - b.low) });

async function storedRows(store: Database, set: FeatureSet): Promise<string[]> {
  const rows = await store.db.selectFrom('feature_rows').select(['symbol', 'date', 'vals']).where('version', '=', set.version).orderBy('symbol').orderBy('date').execute();
  return rows.map((r) => `${r.symbol} ${r.date} ${Buffer.from(r.vals).toString('hex')}`);
}

/** What a full recomputation over the stored bars gives, byte for byte. */
async function recomputed(store: Database, set: FeatureSet): Promise<string[]> {
  const c = await computeFromInputs(set, await loadFeatureInputs(store, set));
  return c.frames.flatMap((f) => f.dates.map((d, r) => `${f.symbol} ${d} ${Buffer.from(packValues(frameRow(f, r))).toString('hex')}`)).sort();
}

describe.each(DRIVERS)('live corrections and redelivered entries on %s', (_driver, create) => {
  let t: TestDatabase;
  let redis: Redis;
  let key: string;
  let producer: BarStreamProducer;
  const consumers: BarStreamConsumer[] = [];
  const consumer = (name: string, options: Record<string, unknown> = {}, hooks: ConstructorParameters<typeof BarStreamConsumer>[0]['hooks'] = {}, sets: FeatureSet[] = [ownSet]): BarStreamConsumer => {
    const c = new BarStreamConsumer({ redis, store: t.store, cache: new MemoryCache(), featureSets: sets, hooks, log: () => {} }, { key, group: 'g', consumer: name, blockMs: 20, claimIntervalMs: 60_000, crossSectionIntervalMs: 0, outcomeIntervalMs: 0, crossSectionThread: false, ...options });
    consumers.push(c);
    return c;
  };
  const drain = async (c: BarStreamConsumer): Promise<void> => {
    while ((await c.pollOnce()) > 0);
    await c.flush();
  };
  const storedBar = async (b: Bar) => (await readBars(t.store, { symbols: [b.symbol], from: b.date, to: b.date }))[0];

  beforeEach(async () => {
    t = await create();
    key = `test:live-rev:${crypto.randomBytes(4).toString('hex')}`;
    redis = new Redis(TEST_REDIS_URL);
    producer = new BarStreamProducer(redis, { key });
  });
  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.close();
    const keys = await redis.keys(`${key}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    await t?.drop();
  });

  it('a live correction is logged and the next materialisation makes the stored rows equal a full recomputation (market columns, per-symbol set, rows without progress)', async () => {
    await upsertBars(t.store, ALL);
    await materializeFeatures(t.store, marketSet);
    await materializeFeatures(t.store, ownSet);
    // Rows stored before progress was kept: no progress row, stale all the same.
    await t.store.db.deleteFrom('feature_progress').where('version', '=', ownSet.version).execute();
    const target = barOf(SYMBOLS[1], DATES[DATES.length - 11]);
    const fixed = corrected(target);
    expect(fixed.close).not.toBe(target.close);

    const c = consumer('c1');
    const [id] = await producer.publish(live([fixed]));
    await drain(c);
    expect(await storedBar(target)).toEqual(fixed);
    expect(c.stats).toMatchObject({ barsRevised: 1, barsStored: 1 });
    const revisions = await listRevisions(t.store, `${streamSnapshotId(key)}@${id}`);
    expect(revisions.map((r) => [r.symbol, r.date, r.old.close, r.new?.close])).toEqual([[target.symbol, target.date, target.close, fixed.close]]);
    const marks = await t.store.db.selectFrom('feature_progress').select(['version', 'stale_from']).where('symbol', '=', target.symbol).orderBy('version').execute();
    expect(marks.map((m) => [m.version, m.stale_from]).sort()).toEqual([[marketSet.version, target.date], [ownSet.version, target.date]].sort());

    // The same message again: a duplicate, nothing more logged.
    await producer.publish(live([fixed]));
    await drain(c);
    expect(c.stats.barsDuplicate).toBe(1);
    expect(await t.store.db.selectFrom('bar_revisions').selectAll().execute()).toHaveLength(1);

    for (const set of [marketSet, ownSet]) {
      const before = await storedRows(t.store, set);
      const report = await materializeFeatures(t.store, set);
      expect(report.recomputedFrom).toBe(target.date);
      const after = await storedRows(t.store, set);
      expect(after).toEqual(await recomputed(t.store, set));
      // The correction did change stored rows (so the check above is not vacuous).
      expect(after).not.toEqual(before);
    }
  });

  it('a consumer that dies after storing a correction, before acknowledging it, leaves the rows marked: the redelivery finds the bar stored', async () => {
    await upsertBars(t.store, ALL);
    await materializeFeatures(t.store, ownSet);
    const target = barOf(SYMBOLS[0], DATES[DATES.length - 20]);
    await producer.publish(live([corrected(target, 0.3)]));
    const dying = consumer('dying', { claimIdleMs: 50 }, {
      beforeAck: () => {
        throw new Error('simulated crash');
      },
    });
    await dying.pollOnce();
    await new Promise((resolve) => setTimeout(resolve, 80));
    const heir = consumer('heir', { claimIdleMs: 50, claimIntervalMs: 10 });
    await drain(heir);
    expect(heir.stats).toMatchObject({ entriesClaimed: 1, barsRevised: 0, barsDuplicate: 1 });
    await materializeFeatures(t.store, ownSet);
    expect(await storedRows(t.store, ownSet)).toEqual(await recomputed(t.store, ownSet));
  });

  it('an entry whose write failed and that is claimed again after a newer correction was stored does not overwrite it', async () => {
    await upsertBars(t.store, ALL.filter((b) => b.date < DATES[DATES.length - 1]));
    const last = barOf(SYMBOLS[0], DATES[DATES.length - 1]);
    const first = { ...last, close: last.low + 0.1 * (last.high - last.low) };
    const correction = { ...last, close: last.low + 0.9 * (last.high - last.low), volume: last.volume + 100 };
    let failOnce = true;
    const c = consumer('c1', { claimIdleMs: 100, claimIntervalMs: 10 }, {
      beforeWrite: () => {
        if (failOnce) {
          failOnce = false;
          throw new Error('transient: connection reset');
        }
      },
    });
    await producer.publish(live([first]));
    await c.pollOnce(); // the write fails: the entry stays pending
    await producer.publish(live([correction]));
    await c.pollOnce(); // the correction is read and stored; the first entry is not idle long enough yet
    expect(await storedBar(last)).toEqual(correction);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await drain(c); // the first entry is claimed and processed: held by the newer entry
    expect(await storedBar(last)).toEqual(correction);
    expect(c.stats).toMatchObject({ batchFailures: 1, entriesClaimed: 1, barsSuperseded: 1, pending: 0 });
    // Nothing was logged as a revision: the correction was the bar's first value in the store.
    expect(await t.store.db.selectFrom('bar_revisions').selectAll().execute()).toHaveLength(0);
  });

  it('a newer repeat of the stored values outranks an older, different entry still pending', async () => {
    await upsertBars(t.store, ALL);
    const bar = barOf(SYMBOLS[2], DATES[DATES.length - 1]);
    const other = corrected(bar, 0.2);
    let failOnce = true;
    const c = consumer('c1', { claimIdleMs: 100, claimIntervalMs: 10 }, {
      beforeWrite: () => {
        if (failOnce) {
          failOnce = false;
          throw new Error('transient');
        }
      },
    });
    await producer.publish(live([other]));
    await c.pollOnce(); // fails, pending
    await producer.publish(live([bar])); // the stored values again, appended later
    await c.pollOnce();
    await new Promise((resolve) => setTimeout(resolve, 150));
    await drain(c);
    expect(await storedBar(bar)).toEqual(bar);
    expect(c.stats.barsSuperseded).toBe(1);
  });

  it('two consumers: an older batch whose write comes after another consumer stored a newer entry of the same bar is not applied', async () => {
    await upsertBars(t.store, ALL.filter((b) => b.date < DATES[DATES.length - 1]));
    const days = DATES.slice(-1);
    const older = live(SYMBOLS.map((s) => barOf(s, days[0])));
    const newer = corrected(barOf(SYMBOLS[3], days[0]), 0.6);
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let reached: () => void = () => {};
    const atWrite = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const slow = consumer('slow', {}, {
      beforeWrite: async () => {
        reached();
        await held;
      },
    });
    const fast = consumer('fast');
    await slow.start();
    await fast.start();
    await producer.publish(older);
    const slowPoll = slow.pollOnce();
    await atWrite; // the slow consumer holds the older entries, about to write them
    await producer.publish(live([newer]));
    await fast.pollOnce();
    expect(await storedBar(newer)).toEqual(newer);
    release();
    await slowPoll;
    expect(await storedBar(newer)).toEqual(newer);
    for (const s of SYMBOLS.slice(0, 3)) expect(await storedBar(barOf(s, days[0]))).toEqual(barOf(s, days[0]));
    expect(slow.stats).toMatchObject({ barsStored: 3, barsSuperseded: 1 });
  });

  it('an import published while the consumer runs is absorbed: a repeat of the value it revised is judged against the store (as by a consumer started after it), and bars it filled in are no gap', async () => {
    const [revisedSymbol, filledSymbol] = SYMBOLS;
    const filledDays = DATES.slice(-10);
    await upsertBars(t.store, ALL.filter((b) => !(b.symbol === filledSymbol && filledDays.includes(b.date))));
    const c = consumer('c1');
    await c.start();
    // The import: one bar of revisedSymbol corrected, the last 10 sessions of filledSymbol added.
    const target = barOf(revisedSymbol, DATES[DATES.length - 5]);
    const fixed = corrected(target);
    const csv = (bars: readonly Bar[]) => ['Date,Open,High,Low,Close,Volume', ...bars.map((b) => `${b.date},${b.open},${b.high},${b.low},${b.close},${b.volume}`)].join('\n');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-live-import-'));
    fs.writeFileSync(path.join(dir, `${revisedSymbol}.csv`), csv(DATES.slice(-30).map((d) => (d === target.date ? fixed : barOf(revisedSymbol, d)))));
    fs.writeFileSync(path.join(dir, `${filledSymbol}.csv`), csv(DATES.slice(-30).map((d) => barOf(filledSymbol, d))));
    const summary = await importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }));
    fs.rmSync(dir, { recursive: true, force: true });
    expect(summary.status).toBe('published');
    expect(await storedBar(target)).toEqual(fixed);

    // The stream repeats the value the import replaced, and goes on with the next session.
    const next = '2018-07-02';
    const following = { ...barOf(filledSymbol, DATES[DATES.length - 1]), date: next };
    const [repeatId] = await producer.publish(live([target, following]));
    await drain(c);
    // Not a duplicate of what the consumer loaded at start: a revision of what the import stored.
    expect(c.stats).toMatchObject({ barsDuplicate: 0, barsRevised: 1 });
    expect(await storedBar(target)).toEqual(target);
    const revisions = await listRevisions(t.store, `${streamSnapshotId(key)}@${repeatId}`);
    expect(revisions.map((r) => [r.symbol, r.date, r.old.close, r.new?.close])).toEqual([[target.symbol, target.date, fixed.close, target.close]]);
    // The sessions the import filled in are in the window: no calendar gap before the next bar.
    expect(await listQuarantine(t.store, { snapshotId: streamSnapshotId(key), rule: 'calendar_gap' })).toEqual([]);
    expect(await storedBar(following)).toEqual(following);
  });

  it('an older entry by event_time appended after a correction (a replayed segment, a re-sent backlog) changes nothing: no revision, no stale mark, no online vector change', async () => {
    await upsertBars(t.store, ALL.filter((b) => b.date < DATES[DATES.length - 1]));
    await materializeFeatures(t.store, ownSet);
    const day = DATES[DATES.length - 1]; // 2018-06-29: the close is 20:00Z
    const x = barOf(SYMBOLS[0], day);
    const y = corrected(x, 0.9);
    expect(y.close).not.toBe(x.close);
    const sent = (b: Bar, eventTime: string) => ({ ...b, source: 'feed', eventTime });
    const cache = new MemoryCache();
    const c = new BarStreamConsumer({ redis, store: t.store, cache, featureSets: [ownSet], log: () => {} }, { key, group: 'g', consumer: 'c1', blockMs: 20, claimIntervalMs: 60_000, crossSectionIntervalMs: 0, outcomeIntervalMs: 0, crossSectionThread: false });
    consumers.push(c);
    await producer.publish([sent(x, `${day}T20:20:00Z`)]);
    await drain(c);
    await producer.publish([sent(y, `${day}T22:00:00Z`)]);
    await drain(c);
    expect(await storedBar(x)).toEqual(y);
    const vector = await readOnlineFeatures(cache, ownSet.version, x.symbol);
    const progress = await t.store.db.selectFrom('feature_progress').selectAll().where('symbol', '=', x.symbol).execute();
    expect(progress.map((p) => p.stale_from)).toEqual([day]);

    // X again, appended after Y (its event_time, in another offset, is still before Y's).
    await producer.publish([sent(x, `${day}T16:20:00-04:00`)]);
    await drain(c);
    expect(await storedBar(x)).toEqual(y);
    expect((await t.store.db.selectFrom('bar_revisions').select(['old_close', 'new_close']).execute()).map((r) => [Number(r.old_close), Number(r.new_close)])).toEqual([[x.close, y.close]]);
    expect(await t.store.db.selectFrom('feature_progress').selectAll().where('symbol', '=', x.symbol).execute()).toEqual(progress);
    expect(await readOnlineFeatures(cache, ownSet.version, x.symbol)).toEqual(vector);
    expect(c.stats).toMatchObject({ barsStored: 2, barsRevised: 1, barsStale: 1 });

    // In one batch: X, Y, X again (the last one older): Y is what stays.
    const z = barOf(SYMBOLS[1], day);
    const zFixed = corrected(z, 0.9);
    await producer.publish([sent(z, `${day}T20:20:00Z`), sent(zFixed, `${day}T22:00:00Z`), sent(z, `${day}T20:20:00Z`)]);
    await drain(c);
    expect(await storedBar(z)).toEqual(zFixed);
    expect(c.stats.barsStale).toBe(2);

    // Equal event_time, other values: the later entry wins. A newer one revises.
    const y2 = corrected(x, 0.7);
    await producer.publish([sent(y2, `${day}T22:00:00Z`)]);
    await drain(c);
    expect(await storedBar(x)).toEqual(y2);
    await producer.publish([sent(x, `${day}T23:00:00Z`)]);
    await drain(c);
    expect(await storedBar(x)).toEqual(x);
    // Revisions: X to Y, Z to its correction within the batch, Y to Y2, Y2 to X.
    expect(c.stats).toMatchObject({ barsRevised: 4, barsStale: 2 });
  });

  it('a live bar produced before an import that corrected it is stale against the import: a re-send or a group reset replaying the stream changes nothing; one produced after the import revises it', async () => {
    await upsertBars(t.store, ALL.filter((b) => b.date < DATES[DATES.length - 1]));
    const day = DATES[DATES.length - 1]; // 2018-06-29: the close is 20:00Z
    const x = barOf(SYMBOLS[0], day);
    const bad = corrected(x, 0.1);
    const sent = (b: Bar, eventTime: string) => ({ ...b, source: 'feed', eventTime });
    const c1 = consumer('c1');
    await producer.publish([sent(bad, `${day}T20:20:00Z`)]);
    await drain(c1);
    expect(await storedBar(x)).toEqual(bad);

    // The vendor's end-of-day file, imported the next day, corrects it.
    const csv = (bars: readonly Bar[]) => ['Date,Open,High,Low,Close,Volume', ...bars.map((b) => `${b.date},${b.open},${b.high},${b.low},${b.close},${b.volume}`)].join('\n');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-live-import-'));
    fs.writeFileSync(path.join(dir, `${x.symbol}.csv`), csv(DATES.slice(-30).map((d) => barOf(x.symbol, d))));
    const summary = await importBars(t.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }));
    fs.rmSync(dir, { recursive: true, force: true });
    expect(summary.status).toBe('published');
    expect(await storedBar(x)).toEqual(x);
    // Its version is dated by its content (when the file's bytes were first seen: the import's
    // clock, judgedAt), to the millisecond, in UTC as live event times are.
    const { source } = await t.store.db.selectFrom('dataset_snapshots').select('source').where('id', '=', summary.snapshotId).executeTakeFirstOrThrow();
    const { judgedAt } = JSON.parse(source) as { judgedAt: string };
    expect(judgedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect((await t.store.db.selectFrom('bars').select('event_time').where('symbol', '=', x.symbol).where('date', '=', day).executeTakeFirstOrThrow()).event_time).toBe(judgedAt);
    const revisions = async () => (await t.store.db.selectFrom('bar_revisions').select(['snapshot_id', 'old_close', 'new_close']).orderBy('published_at').execute()).map((r) => [r.snapshot_id, Number(r.old_close), Number(r.new_close)]);
    const afterImport = await revisions();
    expect(afterImport).toEqual([[summary.snapshotId, bad.close, x.close]]);
    const progress = await t.store.db.selectFrom('feature_progress').selectAll().where('symbol', '=', x.symbol).execute();

    // The producer re-sends its backlog with the original event times: stale against the import.
    await producer.publish([sent(bad, `${day}T20:20:00Z`)]);
    await drain(c1);
    expect(c1.stats).toMatchObject({ barsRevised: 0, barsStale: 1 });
    expect(await storedBar(x)).toEqual(x);

    // The group is destroyed and a consumer starts it again from 0: both entries replayed in one
    // batch (one repeat of the other, kept once), stale.
    await c1.close();
    await redis.call('XGROUP', ['DESTROY', key, 'g']);
    const c2 = consumer('c2');
    await drain(c2);
    expect(c2.stats).toMatchObject({ barsRevised: 0, barsStale: 1 });
    expect(await storedBar(x)).toEqual(x);
    expect(await revisions()).toEqual(afterImport);
    expect(await t.store.db.selectFrom('feature_progress').selectAll().where('symbol', '=', x.symbol).execute()).toEqual(progress);

    // A bar produced after the import was published still revises it.
    const later = corrected(x, 0.9);
    const [laterId] = await producer.publish([sent(later, new Date().toISOString())]);
    await drain(c2);
    expect(c2.stats).toMatchObject({ barsRevised: 1, barsStale: 1 });
    expect(await storedBar(x)).toEqual(later);
    expect((await revisions()).slice(1)).toEqual([[`${streamSnapshotId(key)}@${laterId}`, x.close, later.close]]);
  });

  it('an older bar by event_time leaves no flag in quarantine, and a repeat of the stored values changes no stored time: a message produced after the stored version but before the repeat revises it', async () => {
    await upsertBars(t.store, ALL.filter((b) => b.date < DATES[DATES.length - 1]));
    const day = DATES[DATES.length - 1]; // 2018-06-29: the close is 20:00Z
    const sent = (b: Bar, eventTime: string) => ({ ...b, source: 'feed', eventTime });
    const cache = new MemoryCache();
    const c = new BarStreamConsumer({ redis, store: t.store, cache, featureSets: [ownSet], log: () => {} }, { key, group: 'g', consumer: 'c1', blockMs: 20, claimIntervalMs: 60_000, crossSectionIntervalMs: 0, outcomeIntervalMs: 0, crossSectionThread: false });
    consumers.push(c);
    const x = barOf(SYMBOLS[0], day);
    await producer.publish([sent(x, `${day}T22:00:00Z`)]);
    await drain(c);
    const quarantine = async () => (await listQuarantine(t.store, { snapshotId: streamSnapshotId(key) })).map((q) => [q.rule, q.symbol, q.date]);
    expect(await quarantine()).toEqual([]);
    const vector = await readOnlineFeatures(cache, ownSet.version, x.symbol);
    // A doubled bar produced before the stored one (an old segment replayed): an extreme move, but stale.
    const doubled = { ...x, open: x.open * 2, high: x.high * 2, low: x.low * 2, close: x.close * 2 };
    await producer.publish([sent(doubled, `${day}T20:30:00Z`)]);
    await drain(c);
    expect(c.stats.barsStale).toBe(1);
    expect(await storedBar(x)).toEqual(x);
    expect(await quarantine()).toEqual([]);
    expect(c.stats.flaggedByRule).toEqual({});
    expect(await readOnlineFeatures(cache, ownSet.version, x.symbol)).toEqual(vector);

    // X stored as of 20:20, stated again at 23:00 and 21:00 (one batch): its time stays 20:20, so Y
    // produced at 22:30 revises it (a repeat is no newer content), and one produced at 20:16 is stale.
    const z = barOf(SYMBOLS[1], day);
    await producer.publish([sent(z, `${day}T20:20:00Z`)]);
    await drain(c);
    await producer.publish([sent(z, `${day}T23:00:00Z`), sent(z, `${day}T21:00:00Z`)]);
    await drain(c);
    expect((await t.store.db.selectFrom('bars').select('event_time').where('symbol', '=', z.symbol).where('date', '=', day).executeTakeFirstOrThrow()).event_time).toBe(`${day}T20:20:00.000Z`);
    await producer.publish([sent(corrected(z, 0.8), `${day}T20:16:00Z`)]);
    await drain(c);
    expect(await storedBar(z)).toEqual(z);
    expect(c.stats.barsStale).toBe(2);
    await producer.publish([sent(corrected(z, 0.9), `${day}T22:30:00Z`)]);
    await drain(c);
    expect(await storedBar(z)).toEqual(corrected(z, 0.9));
    expect((await t.store.db.selectFrom('bar_revisions').select(['old_close', 'new_close']).execute()).map((r) => [Number(r.old_close), Number(r.new_close)])).toEqual([[z.close, corrected(z, 0.9).close]]);
    expect(c.stats.barsStale).toBe(2);
  });

  it('a bar appended mid-session and read after the close (a backlog) is quarantined as session_not_closed; one appended after the close is stored', async () => {
    await upsertBars(t.store, ALL.filter((b) => b.date < DATES[DATES.length - 1]));
    const day = DATES[DATES.length - 1]; // 2018-06-29, EDT
    const ny = (hhmm: string) => Date.parse(`${day}T${hhmm}:00-04:00`);
    const [a, b] = SYMBOLS.map((s) => barOf(s, day));
    await redis.call('XADD', [key, `${ny('11:00')}-0`, ...encodeLiveBar({ ...a, source: 'poll' })]);
    await redis.call('XADD', [key, `${ny('16:20')}-0`, ...encodeLiveBar({ ...b, source: 'poll' })]);
    const c = consumer('c1');
    await drain(c);
    expect(c.stats.quarantinedByRule).toEqual({ session_not_closed: 1 });
    const [finding] = await listQuarantine(t.store, { snapshotId: streamSnapshotId(key) });
    expect([finding.rule, finding.symbol, finding.date]).toEqual(['session_not_closed', a.symbol, day]);
    expect(await storedBar(a)).toBeUndefined();
    expect(await storedBar(b)).toEqual(b);
  });
});

describe('live_bar_sources', () => {
  it('has the same columns and key on both drivers', async () => {
    const [mysql, sqlite] = await Promise.all([createMysqlTestDatabase(), createSqliteTestDatabase()]);
    try {
      const m = await sql<{ name: string; nullable: string; k: string }>`
        select column_name as name, is_nullable as nullable, column_key as k from information_schema.columns
        where table_schema = database() and table_name = 'live_bar_sources'`.execute(mysql.store.db);
      const s = await sql<{ name: string; notnull: number; pk: number }>`select name, "notnull", pk from pragma_table_info('live_bar_sources')`.execute(sqlite.store.db);
      const fromMysql = m.rows.map((r) => [r.name, r.nullable === 'NO', r.k === 'PRI']).sort();
      const fromSqlite = s.rows.map((r) => [r.name, r.notnull === 1 || r.pk > 0, r.pk > 0]).sort();
      expect(fromMysql).toEqual(fromSqlite);
      expect(fromSqlite).toEqual([['date', true, true], ['entry', true, false], ['stream', true, true], ['symbol', true, true]]);
    } finally {
      await Promise.all([mysql.drop(), sqlite.drop()]);
    }
  });
});
