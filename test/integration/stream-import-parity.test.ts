import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { nextNyseTradingDay } from '../../lib/calendar/nyse';
import { defineFeatureSet } from '../../lib/features/feature-set';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import type { Bar } from '../../lib/market-data/bar';
import { readBarCsv } from '../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../lib/market-data/synthetic';
import { QUALITY_RULES, type QualityRuleId } from '../../lib/quality/rules-catalog';
import { readBars, upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { listQuarantine } from '../../lib/store/quarantine';
import { BarStreamConsumer, streamSnapshotId } from '../../lib/streaming/consumer';
import { BarStreamProducer } from '../../lib/streaming/producer';
import { DRIVERS, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';

/**
 * One bar, one verdict: the same bars imported as a file over one store and sent on the stream to a
 * consumer over an equal store leave equal stored bars and revision logs, rejected by the same rule.
 * The live path judges corrections with the rules an import's judging runs (lib/ingest/judge.ts,
 * lib/streaming/stored-bar-judging.ts); before, corrections moving a stored volume to other units,
 * and the newest stored bars moved whole by one factor, were stored by the stream and refused by a file.
 */
/** Features of the symbol's own bars only: the judging is what is compared, not the vectors. */
const SET = defineFeatureSet({ name: 'parity-own', features: [{ kind: 'return', horizon: 1 }, { kind: 'rsi', window: 7 }] });

const ALL: Bar[] = generateSyntheticMarket({ symbols: 2, from: '2017-09-01', to: '2018-06-29', seed: 31, plantErrors: false }).files.flatMap((f) =>
  readBarCsv(f.csv, { source: f.fileName }).bars.map((b) => ({ symbol: b.symbol, date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume })),
);
const SYMBOL = [...new Set(ALL.map((b) => b.symbol))].sort()[0];
const DATES = [...new Set(ALL.map((b) => b.date))].sort();
const N = DATES.length;
const barOf = (date: string) => ALL.find((b) => b.symbol === SYMBOL && b.date === date) as Bar;
const prices = (b: Bar, k: number): Bar => ({ ...b, open: +(b.open * k).toFixed(4), high: +(b.high * k).toFixed(4), low: +(b.low * k).toFixed(4), close: +(b.close * k).toFixed(4) });
const volume = (b: Bar, k: number): Bar => ({ ...b, volume: Math.round(b.volume * k) });
const NEXT = nextNyseTradingDay(DATES[N - 1]);
const after = (b: Bar, date: string, v = b.volume): Bar => ({ ...b, date, volume: v });

interface Case {
  name: string;
  bars: Bar[];
  /** The rule that rejects bars on both paths (file_rejected aside), none when they are stored. */
  rejects: QualityRuleId[];
  /** Where the stream differs by design (docs/live-bars-and-monitoring.md): what it rejects instead; the stores then differ. */
  stream?: QualityRuleId[];
}

const CASES: Case[] = [
  // Stored volumes moved to other units, the prices as stored.
  { name: 'an old bar with its volume ×10', bars: [volume(barOf(DATES[N - 60]), 10)], rejects: ['volume_basis_splice'] },
  { name: 'an old bar with its volume ×100', bars: [volume(barOf(DATES[N - 60]), 100)], rejects: ['volume_basis_splice'] },
  { name: 'an old bar with its volume ÷100', bars: [volume(barOf(DATES[N - 60]), 0.01)], rejects: ['volume_basis_splice'] },
  { name: 'the bar 3 sessions back with its volume ×100', bars: [volume(barOf(DATES[N - 4]), 100)], rejects: ['volume_basis_splice'] },
  { name: 'the newest bar with its volume ×100', bars: [volume(barOf(DATES[N - 1]), 100)], rejects: ['volume_basis_splice'] },
  { name: 'a new bar in lots of 100 (volume ÷100)', bars: [after(barOf(DATES[N - 1]), NEXT, Math.round(barOf(DATES[N - 1]).volume / 100))], rejects: ['volume_basis_splice'] },
  // One or two stored bars moved whole by one factor, the volume as stored: a file of those rows is
  // refused on its price basis; the stream judges a price basis on 5 shared sessions or more only, so
  // that a vendor's restatement of a day (every price ×1.01) and the corrected bar of a split day are
  // stored (on any overlap they were refused, and a ×1.4 correction still went through with one
  // unchanged session beside it in the batch). The ×1.4 correction is stored, flagged extreme_move.
  { name: 'the newest bar ×1.4', bars: [prices(barOf(DATES[N - 1]), 1.4)], rejects: ['price_basis_splice'], stream: [] },
  { name: 'the newest bar ×0.6', bars: [prices(barOf(DATES[N - 1]), 0.6)], rejects: ['price_basis_splice'], stream: [] },
  { name: 'the two newest bars ×1.4', bars: [prices(barOf(DATES[N - 2]), 1.4), prices(barOf(DATES[N - 1]), 1.4)], rejects: ['price_basis_splice'], stream: [] },
  { name: "a vendor's restatement of the newest bar, every price ×1.01", bars: [prices(barOf(DATES[N - 1]), 1.01)], rejects: ['price_basis_splice'], stream: [] },
  { name: 'the same restatement with the session before it unchanged', bars: [barOf(DATES[N - 2]), prices(barOf(DATES[N - 1]), 1.01)], rejects: [] },
  // What the rules let through, on both paths.
  { name: 'a correction of the close within the day', bars: [{ ...barOf(DATES[N - 3]), close: +(barOf(DATES[N - 3]).low + 0.9 * (barOf(DATES[N - 3]).high - barOf(DATES[N - 3]).low)).toFixed(4) }], rejects: [] },
  { name: 'an old bar with its volume ×3', bars: [volume(barOf(DATES[N - 60]), 3)], rejects: [] },
  { name: 'a new bar on a heavy day (volume ×20)', bars: [after(barOf(DATES[N - 1]), NEXT, barOf(DATES[N - 1]).volume * 20)], rejects: [] },
];

const csv = (bars: readonly Bar[]) => ['Date,Open,High,Low,Close,Volume', ...bars.map((b) => `${b.date},${b.open},${b.high},${b.low},${b.close},${b.volume}`)].join('\n') + '\n';
const rejecting = (byRule: Partial<Record<string, number>>): string[] =>
  Object.keys(byRule)
    .filter((rule) => (byRule[rule] ?? 0) > 0 && QUALITY_RULES[rule as QualityRuleId]?.severity === 'reject' && rule !== 'file_rejected')
    .sort();

async function storeState(store: Database) {
  const bars = await readBars(store, { symbols: [SYMBOL] });
  const revisions = await store.db.selectFrom('bar_revisions').select(['symbol', 'date', 'old_close', 'old_volume', 'new_close', 'new_volume']).orderBy('symbol').orderBy('date').execute();
  return { bars, revisions: revisions.map((r) => [r.symbol, r.date, Number(r.old_close), Number(r.old_volume), r.new_close === null ? null : Number(r.new_close), r.new_volume === null ? null : Number(r.new_volume)]) };
}

describe.each(DRIVERS)('a bar gets one verdict, imported or streamed, on %s', (_driver, create) => {
  let file: TestDatabase;
  let stream: TestDatabase;
  let redis: Redis;
  let key: string;
  let consumer: BarStreamConsumer;
  let producer: BarStreamProducer;
  const dirs: string[] = [];

  const importRows = async (bars: readonly Bar[]) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-parity-'));
    dirs.push(dir);
    fs.writeFileSync(path.join(dir, `${SYMBOL}.csv`), csv(bars));
    return importBars(file.store, importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: { minHistoryBars: 1 } }));
  };
  const streamRows = async (bars: readonly Bar[]) => {
    const before = { ...consumer.stats.quarantinedByRule };
    await producer.publish(bars.map((b) => ({ ...b, source: 'test' })));
    while ((await consumer.pollOnce()) > 0);
    await consumer.flush();
    const delta: Record<string, number> = {};
    for (const [rule, n] of Object.entries(consumer.stats.quarantinedByRule)) if ((n ?? 0) > (before[rule as QualityRuleId] ?? 0)) delta[rule] = (n ?? 0) - (before[rule as QualityRuleId] ?? 0);
    return delta;
  };

  beforeEach(async () => {
    [file, stream] = [await create(), await create()];
    await upsertBars(file.store, ALL);
    await upsertBars(stream.store, ALL);
    key = `test:parity:${crypto.randomBytes(4).toString('hex')}`;
    redis = new Redis(TEST_REDIS_URL);
    producer = new BarStreamProducer(redis, { key });
    consumer = new BarStreamConsumer({ redis, store: stream.store, cache: new MemoryCache(), featureSets: [SET], log: () => {} }, { key, group: 'g', consumer: 'c1', blockMs: 20, claimIntervalMs: 60_000, crossSectionIntervalMs: 0, outcomeIntervalMs: 0, crossSectionThread: false });
    await consumer.start();
  });
  afterEach(async () => {
    await consumer?.close();
    const keys = await redis.keys(`${key}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    await file?.drop();
    await stream?.drop();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const imported = await importRows(c.bars);
    const streamed = await streamRows(c.bars);
    expect({ file: rejecting(imported.byRule), stream: rejecting(streamed) }).toEqual({ file: c.rejects, stream: c.stream ?? c.rejects });
    if (c.stream === undefined) expect(await storeState(stream.store)).toEqual(await storeState(file.store));
    else expect((await storeState(stream.store)).bars.find((b) => b.date === c.bars[c.bars.length - 1].date)?.close).toBe(c.bars[c.bars.length - 1].close);
  });

  it('five new bars of volume 0 in one batch are one zero_volume finding, as in one file', async () => {
    const halt = [NEXT];
    while (halt.length < 5) halt.push(nextNyseTradingDay(halt[halt.length - 1]));
    const last = barOf(DATES[N - 1]);
    const bars = halt.map((d) => ({ ...last, date: d, open: last.close, high: last.close, low: last.close, volume: 0 }));
    const imported = await importRows(bars);
    await streamRows(bars);
    const streamFlags = await listQuarantine(stream.store, { snapshotId: streamSnapshotId(key), rule: 'zero_volume' });
    expect(imported.byRule.zero_volume).toBe(1);
    expect(streamFlags.map((q) => [q.symbol, q.date])).toEqual([[SYMBOL, halt[0]]]);
    expect(await storeState(stream.store)).toEqual(await storeState(file.store));
  });
});
