import fs from 'node:fs';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import path from 'node:path';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { defineFeatureSet, DEFAULT_FEATURE_SET, type FeatureSet } from '../../lib/features/feature-set';
import { materializeFeatures, type MaterializeReport } from '../../lib/features/materialize';
import { readOnlineFeatures, replaceOnlineFeatures, type OnlineFeatureVector } from '../../lib/features/online-features';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import type { Bar } from '../../lib/market-data/bar';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { readBars, upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { writeLiveBars } from '../../lib/streaming/live-bar-store';
import { copyOfDir, createSqliteTestDatabase, DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';

/**
 * A live correction stored while the features step runs. The step's vectors were computed from the
 * bars before it; its republish of a recomputed vector (after an import that revised older bars)
 * replaced the vector the live path had just published from the corrected bar, so the online store
 * served a vector of the old bar, unflagged, until the next run. Now a vector whose bars were marked
 * changed during the run is withheld (reported), and the stale mark stays for the next run.
 */
const marketSet = defineFeatureSet(DEFAULT_FEATURE_SET);
const ownSet = defineFeatureSet({ name: 'own-only', features: [{ kind: 'return', horizon: 1 }, { kind: 'ema_ratio', window: 26 }, { kind: 'rsi', window: 14 }] });
/** Both kinds of set: market columns make every symbol's rows depend on the changed one's bars, per-symbol ones only its own. */
const BOTH_SETS = [
  ['market columns', marketSet],
  ['per-symbol columns', ownSet],
] as const;
const request = (dir: string) => importRequestSchema.parse({ source: { kind: 'csv', path: dir } });
const SYMBOL = 'SYN02';
const OLD_DATE = '2016-06-01';

let original: string;
let revised: string;
/** The two files with one late day of SYMBOL missing, which the stream then back-fills. */
let gappy: string;
let gappyRevised: string;
let missingDay: string;

function withoutDay(from: string, day: string): string {
  const to = copyOfDir(from, 'mlp-live-race-gappy-');
  const file = path.join(to, `${SYMBOL}.csv`);
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').split('\n').filter((line) => !line.startsWith(day)).join('\n'));
  return to;
}

beforeAll(async () => {
  original = tempDir('mlp-live-race-original-');
  await writeSyntheticMarket(original, { symbols: 5, from: '2016-01-04', to: '2017-06-30', plantErrors: false });
  // One old close of one symbol moved within its day's range: a revision the gate passes.
  revised = copyOfDir(original, 'mlp-live-race-revised-');
  const file = path.join(revised, `${SYMBOL}.csv`);
  const text = fs.readFileSync(file, 'utf8');
  const edited = text
    .split('\n')
    .map((line) => {
      if (!line.startsWith(OLD_DATE)) return line;
      const [date, open, high, low, , ...rest] = line.split(',');
      return [date, open, high, low, (Number(low) + 0.25 * (Number(high) - Number(low))).toFixed(4), ...rest].join(',');
    })
    .join('\n');
  expect(edited).not.toEqual(text);
  fs.writeFileSync(file, edited);
  const lines = edited.trimEnd().split('\n');
  missingDay = lines[lines.length - 8].slice(0, 10);
  gappy = withoutDay(original, missingDay);
  gappyRevised = withoutDay(revised, missingDay);
});

/**
 * The step did not write its vector of SYMBOL: it saw the change and withheld it (naming the symbol
 * and, when given, the date), or the live path wrote its vector after the step's last check and the
 * step's conditional write left it (superseded). Which one depends on when the live write lands.
 */
function expectKeptOff(report: MaterializeReport, from?: string): void {
  const named = (report.changedDuringRun ?? []).some((c) => c.symbol === SYMBOL && (from === undefined || c.from === from));
  expect({ named, superseded: report.onlineSuperseded ?? 0 }).toEqual(expect.objectContaining(named ? { named: true } : { superseded: 1 }));
}

/** A memory cache that logs the values written to SYMBOL's vector, in order, once armed. */
class WriteLog extends MemoryCache {
  written: number[][] | undefined;
  override async setIfUnchanged(key: string, expected: string | undefined, value: string): Promise<boolean> {
    const done = await super.setIfUnchanged(key, expected, value);
    if (done && this.written && key.endsWith(`:${SYMBOL}`)) this.written.push((JSON.parse(value) as { values: number[] }).values);
    return done;
  }
}

/**
 * After a free race: the live vector was written last. The step's vector of the old bar is written
 * only before it (the live path's whole write came after the step published, and replaced it, as a
 * live correction after any run does); when the step wrote none, it kept its vector off (expectKeptOff).
 */
function expectLiveLast(cache: WriteLog, report: MaterializeReport, live: OnlineFeatureVector, from?: string): void {
  const log = cache.written ?? [];
  expect(log.at(-1)).toEqual(live.values);
  const stepWrote = log.some((values) => JSON.stringify(values) !== JSON.stringify(live.values));
  if (!stepWrote) expectKeptOff(report, from);
}

/** A correction of the symbol's newest stored bar: the close moved within its range. */
function correctionOf(newest: Bar): Bar {
  return { ...newest, close: Number((newest.low + 0.9 * (newest.high - newest.low)).toFixed(4)) };
}

/** The vector a full computation over the revised file and the corrected bar gives: what the live path publishes. */
async function liveVector(set: FeatureSet, corrected?: Bar): Promise<OnlineFeatureVector> {
  const t = await createSqliteTestDatabase();
  try {
    const cache = new MemoryCache();
    await importBars(t.store, request(revised));
    if (corrected) await upsertBars(t.store, [corrected]);
    await materializeFeatures(t.store, set, { cache });
    return (await readOnlineFeatures(cache, set.version, SYMBOL)) as OnlineFeatureVector;
  } finally {
    await t.drop();
  }
}

describe.each(DRIVERS)('a live correction during the features step (%s)', (_driver, createDatabase) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it.each(BOTH_SETS)('leaves the live vector of the corrected bar in place, not the step\'s vector of the old bar (%s)', async (_name, set) => {
    const cache = new WriteLog();
    await importBars(t.store, request(original));
    await materializeFeatures(t.store, set, { cache });
    await importBars(t.store, request(revised));
    const newest = (await readBars(t.store, { symbols: [SYMBOL] })).at(-1) as Bar;
    const corrected = correctionOf(newest);
    const live = await liveVector(set, corrected);
    expect(live.asOf).toBe(newest.date);

    let racing: Promise<unknown> | undefined;
    cache.written = [];
    const report = await materializeFeatures(t.store, set, {
      cache,
      // The stream consumer stores the correction and publishes its vector while the step computes.
      onProgress: () => {
        racing ??= (async () => {
          await writeLiveBars(t.store, [{ bar: corrected, entryId: '1700000000000-0', change: 'revised' }], { stream: 'stream:race', contiguous: true, record: false });
          await replaceOnlineFeatures(cache, [live]);
        })();
      },
    });
    await racing;
    expect(report.rowsRecomputed).toBeGreaterThan(0);
    const online = await readOnlineFeatures(cache, set.version, SYMBOL);
    expect(online?.asOf).toBe(live.asOf);
    expect(online?.values).toEqual(live.values);
    expectLiveLast(cache, report, live);
    // The rows computed from the old bar stay marked, so the next run recomputes them.
    const mark = await t.store.db.selectFrom('feature_progress').select('stale_from').where('version', '=', set.version).where('symbol', '=', SYMBOL).executeTakeFirst();
    expect(mark?.stale_from).not.toBeNull();

    const next = await materializeFeatures(t.store, set, { cache });
    expect(next.onlineWithheld).toBeUndefined();
    expect((await readOnlineFeatures(cache, set.version, SYMBOL))?.values).toEqual(live.values);
  });

  it.each(BOTH_SETS)('a day back-filled by the stream while the step runs: the step\'s vector made without it is withheld (%s)', async (_name, set) => {
    const cache = new WriteLog();
    await importBars(t.store, request(gappy));
    await materializeFeatures(t.store, set, { cache });
    await importBars(t.store, request(gappyRevised));
    const live = await liveVector(set);
    const day = (await readBars(t.store, { symbols: [SYMBOL] })).find((b) => b.date === missingDay);
    expect(day).toBeUndefined();
    const reference = await createSqliteTestDatabase();
    await importBars(reference.store, request(revised));
    const filled = (await readBars(reference.store, { symbols: [SYMBOL] })).find((b) => b.date === missingDay) as Bar;
    await reference.drop();

    let racing: Promise<unknown> | undefined;
    cache.written = [];
    const report = await materializeFeatures(t.store, set, {
      cache,
      onProgress: () => {
        racing ??= (async () => {
          expect(await writeLiveBars(t.store, [{ bar: filled, entryId: '1700000000000-1', change: 'new' }], { stream: 'stream:race', contiguous: true, record: false })).toEqual(['added']);
          await replaceOnlineFeatures(cache, [live]);
        })();
      },
    });
    await racing;
    expect((await readOnlineFeatures(cache, set.version, SYMBOL))?.values).toEqual(live.values);
    expectLiveLast(cache, report, live, missingDay);

    await materializeFeatures(t.store, set, { cache });
    expect((await readOnlineFeatures(cache, set.version, SYMBOL))?.values).toEqual(live.values);
  });
});

/** The cache the step writes to, where the live path's write (`during`) lands just before the step's first write to SYMBOL's vector, whichever way the step writes. */
class LiveWriteFirst extends MemoryCache {
  /** Set by arm() once the step under test is about to run (the runs preparing it write SYMBOL's vector too). */
  private during: ((inner: MemoryCache) => Promise<void>) | undefined;
  fired = false;
  arm(during: (inner: MemoryCache) => Promise<void>): void {
    this.during = during;
  }
  private async first(key: string): Promise<void> {
    if (!this.during || this.fired || !key.endsWith(`:${SYMBOL}`)) return;
    this.fired = true;
    await this.during(this);
  }
  override async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    await this.first(key);
    return super.set(key, value, ttlSeconds);
  }
  override async setIfUnchanged(key: string, expected: string | undefined, value: string): Promise<boolean> {
    await this.first(key);
    return super.setIfUnchanged(key, expected, value);
  }
}

/** Runs `during` once, right after the first read of the stale marks inside the step's progress transaction, waiting for it at most `waitMs`. */
class AfterProgressRead implements KyselyPlugin {
  private readonly reads = new WeakSet<object>();
  private fired = false;
  racing: Promise<void> | undefined;
  constructor(
    private readonly during: () => Promise<void>,
    private readonly waitMs: number,
  ) {}
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    // marksSince's read: symbol, stale_from and updated_at of feature_progress, nothing else.
    const text = JSON.stringify(args.node);
    if (args.node.kind === 'SelectQueryNode' && text.includes('"feature_progress"') && text.includes('"updated_at"') && !text.includes('"through"')) this.reads.add(args.queryId);
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (this.reads.has(args.queryId) && !this.fired) {
      this.fired = true;
      this.racing = this.during();
      // A live write blocked by the step's lock until its commit is left waiting; one that is not lands now.
      await Promise.race([this.racing, new Promise((resolve) => setTimeout(resolve, this.waitMs))]);
    }
    return args.result;
  }
}

describe.each(DRIVERS)('a live correction landing after the features step\'s checks (%s)', (_driver, createDatabase) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  /** The step's situation of the first race test: rows recomputed after a revised import, and the corrected bar's live vector. */
  async function prepared(set: FeatureSet, cache: MemoryCache): Promise<{ corrected: Bar; live: OnlineFeatureVector }> {
    await importBars(t.store, request(original));
    await materializeFeatures(t.store, set, { cache });
    await importBars(t.store, request(revised));
    const corrected = correctionOf((await readBars(t.store, { symbols: [SYMBOL] })).at(-1) as Bar);
    return { corrected, live: await liveVector(set, corrected) };
  }
  const liveWrite = (corrected: Bar) => writeLiveBars(t.store, [{ bar: corrected, entryId: '1700000000000-0', change: 'revised' }], { stream: 'stream:race', contiguous: true, record: false });
  async function staleMark(set: FeatureSet): Promise<string | null | undefined> {
    return (await t.store.db.selectFrom('feature_progress').select('stale_from').where('version', '=', set.version).where('symbol', '=', SYMBOL).executeTakeFirst())?.stale_from;
  }

  it.each(BOTH_SETS)('a live vector written between the step\'s last check and its write stays: the write is conditional (%s)', async (_name, set) => {
    const cache = new LiveWriteFirst();
    const { corrected, live } = await prepared(set, cache);
    cache.arm(async (inner) => {
      await liveWrite(corrected);
      await replaceOnlineFeatures(inner, [live]);
    });
    const report = await materializeFeatures(t.store, set, { cache });
    expect(cache.fired).toBe(true);
    expect(report.rowsRecomputed).toBeGreaterThan(0);
    expect(report.onlineWithheld).toBeUndefined(); // the change came after every check
    expect(report.onlineSuperseded).toBe(1);
    expect((await readOnlineFeatures(cache, set.version, SYMBOL))?.values).toEqual(live.values);
    expect(await staleMark(set)).not.toBeNull();
    await materializeFeatures(t.store, set, { cache });
    expect((await readOnlineFeatures(cache, set.version, SYMBOL))?.values).toEqual(live.values);
  });

  it.each(BOTH_SETS)('a live correction stored while the step writes its progress is seen, not hidden by that write (%s)', async (_name, set) => {
    const cache = new MemoryCache();
    const { corrected, live } = await prepared(set, cache);
    const plugin = new AfterProgressRead(async () => {
      await liveWrite(corrected);
      await replaceOnlineFeatures(cache, [live]);
    }, 500);
    const store: Database = { driver: t.store.driver, db: t.store.db.withPlugin(plugin), description: t.store.description, ...(t.store.sqlite ? { sqlite: t.store.sqlite } : {}), close: () => Promise.resolve() };
    const report = await materializeFeatures(store, set, { cache });
    expect(plugin.racing).toBeDefined();
    await plugin.racing;
    expect(report.rowsRecomputed).toBeGreaterThan(0);
    expect((await readOnlineFeatures(cache, set.version, SYMBOL))?.values).toEqual(live.values);
    expect(await staleMark(set)).not.toBeNull();
    await materializeFeatures(t.store, set, { cache });
    expect((await readOnlineFeatures(cache, set.version, SYMBOL))?.values).toEqual(live.values);
  });
});
