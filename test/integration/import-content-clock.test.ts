import fs from 'node:fs';
import path from 'node:path';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import type { Bar } from '../../lib/market-data/bar';
import type { HistoricalBarProvider } from '../../lib/market-data/providers/provider';
import { readBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { listRevisions } from '../../lib/store/staging';
import { writeLiveBars } from '../../lib/streaming/live-bar-store';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { dumpStore } from '../helpers/store-dump';

/**
 * A published bar carries the clock of its content (when its bytes were first seen, or its provider
 * body fetched) as its event_time, and a publish never revises a stored version newer than that:
 * the same file imported again after a live correction reverted the correction (IBM 2017-06-01:
 * stream 152.67 -> 153.17, then the same file again 153.17 -> 152.67, on every scheduled retrain).
 */
const DAYS = nyseTradingDaysBetween('2017-05-01', '2017-06-30');
const DAY = DAYS[20];
const POLICY = { minHistoryBars: 1 };
const at = (iso: string) => () => new Date(iso);
const later = () => new Promise((resolve) => setTimeout(resolve, 20));

function stooqText(closeAt: Record<string, number> = {}): string {
  const lines = DAYS.map((date, i) => {
    const close = closeAt[date] ?? 150 + Math.sin(i / 4);
    return `${date},${(close - 0.5).toFixed(2)},${(close + 1).toFixed(2)},${(close - 1).toFixed(2)},${close.toFixed(2)},${100_000 + i}`;
  });
  return `Date,Open,High,Low,Close,Volume\n${lines.join('\n')}\n`;
}

function folderWith(text: string): string {
  const dir = tempDir('mlp-content-clock-');
  fs.writeFileSync(path.join(dir, 'ibm.us.csv'), text);
  return dir;
}

const fromFolder = (dir: string) => importRequestSchema.parse({ source: { kind: 'csv', path: dir }, quality: POLICY });

async function storedBar(store: Database): Promise<Bar> {
  const [bar] = await readBars(store, { symbols: ['IBM'], from: DAY, to: DAY });
  return bar;
}

/** A live correction of DAY's close, produced now; returns its event_time. */
async function correctLive(store: Database, close: number): Promise<string> {
  await later();
  const eventTime = new Date().toISOString();
  const bar = await storedBar(store);
  const outcomes = await writeLiveBars(store, [{ bar: { ...bar, close, high: Math.max(bar.high, close) }, entryId: `${Date.parse(eventTime)}-0`, change: 'revised', eventTime }], { stream: 'stream:test', contiguous: true, record: false });
  expect(outcomes).toEqual(['revised']);
  await later();
  return eventTime;
}

describe.each(DRIVERS)('a publish and a newer stored version on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('the same file imported again after a live correction leaves the correction and reports it superseded', async () => {
    const dir = folderWith(stooqText());
    const first = await importBars(t.store, fromFolder(dir));
    expect(first.status).toBe('published');
    const correctedAt = await correctLive(t.store, 153.17);
    const corrected = await storedBar(t.store);
    expect(corrected.close).toBe(153.17);

    const before = await dumpStore(t.store);
    // A scheduled retrain from a folder nobody updated, days later.
    const again = await importBars(t.store, fromFolder(dir));
    expect(again.snapshotId).toBe(first.snapshotId);
    expect(again.status).toBe('published');
    expect(await storedBar(t.store)).toEqual(corrected);
    expect(await dumpStore(t.store)).toEqual(before);
    expect(again.supersededStoredBars).toMatchObject({ rule: 'superseded_stored_bar', count: 1, bySymbol: { IBM: 1 }, examples: [{ symbol: 'IBM', date: DAY, stored: { close: 153.17 }, storedAt: correctedAt }] });
    // The file's clock is its first import's, before the correction.
    expect(again.supersededStoredBars!.examples[0].contentAt < correctedAt).toBe(true);
  });

  it('a corrected file first seen after the live correction revises it; a file first seen before it does not', async () => {
    await importBars(t.store, fromFolder(folderWith(stooqText())));
    const correctedAt = await correctLive(t.store, 153.17);

    // Bytes first seen before the correction (the import's clock says when: a minute before it): they lose.
    const older = await importBars(t.store, fromFolder(folderWith(stooqText({ [DAY]: 152.9 }))), { now: at(new Date(Date.parse(correctedAt) - 60_000).toISOString()) });
    expect(older.status).toBe('published');
    expect((await storedBar(t.store)).close).toBe(153.17);
    expect(older.supersededStoredBars?.count).toBe(1);
    expect(await listRevisions(t.store, older.snapshotId)).toEqual([]);

    // A vendor's correction downloaded after it: it wins, logged as any revision.
    const newer = await importBars(t.store, fromFolder(folderWith(stooqText({ [DAY]: 153.4 }))));
    expect(newer.status).toBe('published');
    expect((await storedBar(t.store)).close).toBe(153.4);
    expect(newer.supersededStoredBars).toBeUndefined();
    expect((await listRevisions(t.store, newer.snapshotId)).map((r) => [r.date, r.old.close, r.new?.close])).toEqual([[DAY, 153.17, 153.4]]);
    const [{ event_time }] = await t.store.db.selectFrom('bars').select('event_time').where('symbol', '=', 'IBM').where('date', '=', DAY).execute();
    expect(event_time! > correctedAt).toBe(true);
  });

  it('a provider body cached before the correction and replayed after it does not revert it', async () => {
    const body = stooqText();
    let fetches = 0;
    const provider: HistoricalBarProvider = {
      name: 'stooq',
      origin: 'test',
      format: 'stooq',
      fetchDaily: async (symbol) => {
        fetches++;
        return { source: `test:${symbol}`, csv: body, symbol };
      },
    };
    const cache = new MemoryCache();
    // Asked up to the body's last session: without `to`, an answer ending years before the fetch is one cut short (stooq-provider-answers.test.ts).
    const request = importRequestSchema.parse({ source: { kind: 'stooq', symbols: ['IBM'] }, to: DAYS[DAYS.length - 1], quality: POLICY });
    await importBars(t.store, request, { provider, cache });
    await correctLive(t.store, 153.17);
    const replayed = await importBars(t.store, request, { provider, cache });
    expect(fetches).toBe(1);
    expect((await storedBar(t.store)).close).toBe(153.17);
    expect(replayed.supersededStoredBars?.count).toBe(1);
  });
});
