import fs from 'node:fs';
import path from 'node:path';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { defineFeatureSet, DEFAULT_FEATURE_SET, type FeatureSet } from '../../lib/features/feature-set';
import { materializeFeatures } from '../../lib/features/materialize';
import { readOnlineFeatures, replaceOnlineFeatures, type OnlineFeatureVector } from '../../lib/features/online-features';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import type { Bar } from '../../lib/market-data/bar';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { readBars, upsertBars } from '../../lib/store/bars';
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
    const cache = new MemoryCache();
    await importBars(t.store, request(original));
    await materializeFeatures(t.store, set, { cache });
    await importBars(t.store, request(revised));
    const newest = (await readBars(t.store, { symbols: [SYMBOL] })).at(-1) as Bar;
    const corrected = correctionOf(newest);
    const live = await liveVector(set, corrected);
    expect(live.asOf).toBe(newest.date);

    let racing: Promise<unknown> | undefined;
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
    expect(report.onlineWithheld).toBeGreaterThan(0);
    expect(report.changedDuringRun?.map((c) => c.symbol)).toContain(SYMBOL);
    // The rows computed from the old bar stay marked, so the next run recomputes them.
    const mark = await t.store.db.selectFrom('feature_progress').select('stale_from').where('version', '=', set.version).where('symbol', '=', SYMBOL).executeTakeFirst();
    expect(mark?.stale_from).not.toBeNull();

    const next = await materializeFeatures(t.store, set, { cache });
    expect(next.onlineWithheld).toBeUndefined();
    expect((await readOnlineFeatures(cache, set.version, SYMBOL))?.values).toEqual(live.values);
  });

  it.each(BOTH_SETS)('a day back-filled by the stream while the step runs: the step\'s vector made without it is withheld (%s)', async (_name, set) => {
    const cache = new MemoryCache();
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
    expect(report.changedDuringRun).toContainEqual({ symbol: SYMBOL, from: missingDay });

    await materializeFeatures(t.store, set, { cache });
    expect((await readOnlineFeatures(cache, set.version, SYMBOL))?.values).toEqual(live.values);
  });
});
