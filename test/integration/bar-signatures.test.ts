/**
 * With MODEL_SIGNING_KEY the features step signs what it derives from `bars`, so the bars must be
 * vouched for too: an SQL UPDATE of SYN01's closes (×1.25 on ten sessions, no import, no revision)
 * was laundered by the next day-only import into a validly signed feature row (31 of 61 columns
 * different) and `mlp features recompute` re-signed history from it. Every writer of bars signs
 * them with the store's key, and the features step, the stream's windows and the dataset build
 * refuse a bar whose signature does not hold, naming symbol and dates. Both drivers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { defineFeatureSet, DEFAULT_FEATURE_SET } from '../../lib/features/feature-set';
import { materializeFeatures } from '../../lib/features/materialize';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { signingKeyId } from '../../lib/registry/row-signature';
import { UnverifiedBarsError, signStoredBars } from '../../lib/store/bar-signature';
import { readBars, readBarSeries, upsertBars } from '../../lib/store/bars';
import { openDatabase, type Database } from '../../lib/store/database';
import { BarWindows } from '../../lib/streaming/bar-windows';
import { writeLiveBars } from '../../lib/streaming/live-bar-store';
import { buildTrainingDataset } from '../../lib/training/dataset';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';

const KEY = 'bar-signing-key-0123456789abcdef-0123456789';
const NEW_KEY = 'the-next-bar-signing-key-0123456789abcdef';
const SIGNING = { signingKey: KEY };
const set = defineFeatureSet(DEFAULT_FEATURE_SET);

let csv: string;
beforeAll(async () => {
  csv = path.join(tempDir('mlp-bar-sign-'), 'csv');
  await writeSyntheticMarket(csv, { symbols: 3, from: '2017-01-03', to: '2018-06-28', plantErrors: false });
});

/** A folder holding one file of SYN01's bar on 2018-06-29 (the next session), a day-only feed. */
function nextDay(close: number, volume: number): string {
  const dir = tempDir('mlp-bar-sign-day-');
  fs.writeFileSync(path.join(dir, 'SYN01.csv'), `date,open,high,low,close,volume,Name\n2018-06-29,${close.toFixed(2)},${(close * 1.01).toFixed(2)},${(close * 0.99).toFixed(2)},${(close * 1.002).toFixed(2)},${volume},SYN01\n`);
  return dir;
}

const importFolder = (store: Database, dir: string) => importBars(store, importRequestSchema.parse({ source: { kind: 'csv', path: dir } }));

async function rejection(p: Promise<unknown>): Promise<Error> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(error).toBeDefined();
  return error as Error;
}

/** SQL UPDATE of SYN01's close ×1.25 on the 10 sessions before its newest: what someone with write access but not the key can do. */
async function editCloses(store: Database): Promise<string[]> {
  const rows = await store.db.selectFrom('bars').select(['date', 'close', 'high']).where('symbol', '=', 'SYN01').orderBy('date', 'desc').limit(11).execute();
  const edited = rows.slice(1).map((r) => r.date).sort();
  for (const r of rows.slice(1)) await store.db.updateTable('bars').set({ close: Number(r.close) * 1.25, high: Math.max(Number(r.high), Number(r.close) * 1.25) }).where('symbol', '=', 'SYN01').where('date', '=', r.date).execute();
  return edited;
}

describe.each(DRIVERS)('bars are signed and checked where features are computed (%s)', (_driver, create) => {
  let t: TestDatabase;
  let signed: Database;
  beforeEach(async () => {
    t = await create();
    // The deployment's processes open the store with its key: every bar they write is signed.
    signed = await openDatabase(t.url, { signing: SIGNING });
    await importFolder(signed, csv);
  });
  afterEach(async () => {
    await signed.close();
    await t.drop();
  });

  it('signs every imported bar, and honest imports, revisions and live bars pass the features step', async () => {
    const unsigned = await t.store.db.selectFrom('bars').select('symbol').where('signature', 'is', null).execute();
    expect(unsigned).toHaveLength(0);
    await materializeFeatures(signed, set, { signing: SIGNING });
    // A revision (an import that changes a stored bar) and a new day are signed as written.
    const last = await signed.db.selectFrom('bars').selectAll().where('symbol', '=', 'SYN01').orderBy('date', 'desc').limit(1).executeTakeFirstOrThrow();
    await importFolder(signed, nextDay(Number(last.close), Number(last.volume)));
    // Live bars (the stream's writer), a new one and a revision, are signed as well.
    const [syn02, syn03] = await Promise.all(['SYN02', 'SYN03'].map((s) => signed.db.selectFrom('bars').selectAll().where('symbol', '=', s).orderBy('date', 'desc').limit(1).executeTakeFirstOrThrow()));
    const bar = (r: typeof syn02, date: string, factor: number) => ({ symbol: r.symbol, date, open: Number(r.open), high: Number(r.high) * factor, low: Number(r.low), close: Number(r.close) * factor, volume: Number(r.volume) });
    const outcomes = await writeLiveBars(
      signed,
      [
        { bar: bar(syn02, '2018-06-29', 1.001), entryId: '1700000000000-0', change: 'new', eventTime: '2018-06-29T20:05:00.000Z' },
        // Produced after the import's content (its clock is now), so it revises it.
        { bar: bar(syn03, syn03.date, 1.002), entryId: '1700000000000-1', change: 'revised', eventTime: new Date(Date.now() + 60_000).toISOString() },
      ],
      { stream: 'stream:test', contiguous: true, record: true },
    );
    expect(outcomes).toEqual(['added', 'revised']);
    const result = await materializeFeatures(signed, set, { signing: SIGNING });
    expect(result.rowsWritten).toBeGreaterThan(0);
    const stillUnsigned = await t.store.db.selectFrom('bars').select(['symbol', 'date']).where('signature', 'is', null).execute();
    expect(stillUnsigned).toEqual([]);
  });

  it('refuses bars edited in the database, naming symbol and dates, instead of signing features from them', async () => {
    await materializeFeatures(signed, set, { signing: SIGNING });
    const edited = await editCloses(t.store);
    const last = await signed.db.selectFrom('bars').selectAll().where('symbol', '=', 'SYN01').orderBy('date', 'desc').limit(1).executeTakeFirstOrThrow();
    // The day-only feed finds nothing (its quality gate reads stored bars as given).
    await importFolder(signed, nextDay(Number(last.close), Number(last.volume)));
    const error = await rejection(materializeFeatures(signed, set, { signing: SIGNING }));
    expect(error).toBeInstanceOf(UnverifiedBarsError);
    expect(error.message).toContain('SYN01');
    expect(error.message).toContain(edited[0]);
    expect(error.message).toContain(edited[edited.length - 1]);
    expect(error.message).toMatch(/10 bars/);
    // Nothing was signed from them: no row for the new day.
    const newRow = await t.store.db.selectFrom('feature_rows').select('date').where('version', '=', set.version).where('symbol', '=', 'SYN01').where('date', '=', '2018-06-29').execute();
    expect(newRow).toEqual([]);
    // `mlp features recompute` refuses as well.
    expect(await rejection(materializeFeatures(signed, set, { signing: SIGNING, recomputeAll: true }))).toBeInstanceOf(UnverifiedBarsError);
    // The training dataset build and the stream's windows refuse them too.
    expect(await rejection(buildTrainingDataset(signed, { featureSetVersion: set.version, label: { kind: 'direction', horizon: 1 }, symbols: ['SYN01'] } as never))).toBeInstanceOf(UnverifiedBarsError);
    expect(await rejection(new BarWindows(300, SIGNING).loadAll(signed))).toBeInstanceOf(UnverifiedBarsError);
    // Without a key nothing is checked (nothing changes for a deployment that does not sign).
    await expect(readBarSeries(t.store, { symbols: ['SYN01'] })).resolves.toHaveLength(1);
  });

  it('refuses a bar whose signature was copied from another date', async () => {
    const [a, b] = await t.store.db.selectFrom('bars').select(['date', 'signature']).where('symbol', '=', 'SYN02').orderBy('date', 'desc').limit(2).execute();
    await t.store.db.updateTable('bars').set({ signature: a.signature }).where('symbol', '=', 'SYN02').where('date', '=', b.date).execute();
    const error = await rejection(readBarSeries(signed, { symbols: ['SYN02'] }, { verify: SIGNING }));
    expect(error.message).toContain(`SYN02 on ${b.date}`);
  });

  it('refuses unsigned bars until `mlp data sign-bars --accept-unsigned` signs them', async () => {
    // Bars written by a process without the key (before signing was configured).
    await upsertBars(t.store, [{ symbol: 'OLD01', date: '2018-06-28', open: 1, high: 1.2, low: 0.9, close: 1.1, volume: 500 }]);
    const error = await rejection(readBarSeries(signed, {}, { verify: SIGNING }));
    expect(error.message).toContain('OLD01 on 2018-06-28');
    expect(error.message).toContain('unsigned');
    expect(error.message).toContain('mlp data sign-bars --accept-unsigned');
    // Without the flag unsigned bars are not signed; an edited one is never signed by it.
    const refused = await signStoredBars(signed, SIGNING, { acceptUnsigned: false });
    expect(refused).toMatchObject({ signed: 0, unsigned: 1 });
    const done = await signStoredBars(signed, SIGNING, { acceptUnsigned: true });
    expect(done).toMatchObject({ signed: 1, unsigned: 1, mismatched: 0, strippedInside: 0, acceptedRanges: ['OLD01 2018-06-28..2018-06-28 (1 bar)'] });
    await expect(readBarSeries(signed, {}, { verify: SIGNING })).resolves.toHaveLength(4);
    await editCloses(t.store);
    const edits = await signStoredBars(signed, SIGNING, { acceptUnsigned: true });
    expect(edits).toMatchObject({ signed: 0, mismatched: 10 });
    expect(await rejection(readBarSeries(signed, {}, { verify: SIGNING }))).toBeInstanceOf(UnverifiedBarsError);
  });

  it('never accepts an unsigned bar inside a signed history: an edit with its signature removed is not laundered by --accept-unsigned', async () => {
    const [first, second] = await t.store.db.selectFrom('bars').selectAll().where('symbol', '=', 'SYN01').orderBy('date').limit(2).execute();
    expect(second).toBeDefined();
    await t.store.db.updateTable('bars').set({ close: Number(second.close) * 1.25, high: Number(second.high) * 1.25, signature: null, signature_key_id: null }).where('symbol', '=', 'SYN01').where('date', '=', second.date).execute();
    const r = await signStoredBars(signed, SIGNING, { acceptUnsigned: true });
    expect(r).toMatchObject({ signed: 0, unsigned: 1, strippedInside: 1, acceptedRanges: [] });
    expect(r.examples[0]).toContain(`SYN01 ${second.date} (unsigned after ${first.date}, signed: its signature removed)`);
    expect((await rejection(readBarSeries(signed, { symbols: ['SYN01'] }, { verify: SIGNING }))).message).toContain(`SYN01 on ${second.date}`);
  });

  it('counts a bar whose signature was removed inside a signed history as edited, not unsigned, in every checked read', async () => {
    // An SQL edit that clears the signature with the close: before, it read as a bar from before signing.
    const rows = await t.store.db.selectFrom('bars').selectAll().where('symbol', '=', 'SYN01').orderBy('date', 'desc').limit(3).execute();
    for (const r of rows.slice(1)) await t.store.db.updateTable('bars').set({ close: Number(r.close) * 1.25, high: Number(r.high) * 1.25, signature: null, signature_key_id: null }).where('symbol', '=', 'SYN01').where('date', '=', r.date).execute();
    const stripped = rows.slice(1).map((r) => r.date).sort();
    // A window after the first signed bar sees it too: the first signed bar is looked up over the whole history.
    const reads: Array<() => Promise<unknown>> = [
      () => readBarSeries(signed, { symbols: ['SYN01'], from: stripped[0] }, { verify: SIGNING }),
      () => readBars(signed, { symbols: ['SYN01'] }, { verify: SIGNING }),
      () => new BarWindows(300, SIGNING).loadAll(signed),
      () => new BarWindows(300, SIGNING).reload(signed, ['SYN01']),
    ];
    for (const read of reads) {
      const error = await rejection(read());
      expect(error).toBeInstanceOf(UnverifiedBarsError);
      expect((error as UnverifiedBarsError).refused).toEqual([{ symbol: 'SYN01', problem: 'edited', dates: stripped }]);
      expect(error.message).toContain('its signature was removed');
    }
    // A symbol whose bars all predate signing stays unsigned (a warning's case: sign-bars --accept-unsigned).
    await upsertBars(t.store, [{ symbol: 'OLD01', date: '2018-06-28', open: 1, high: 1.2, low: 0.9, close: 1.1, volume: 500 }]);
    expect(((await rejection(readBarSeries(signed, { symbols: ['OLD01'] }, { verify: SIGNING }))) as UnverifiedBarsError).refused).toEqual([{ symbol: 'OLD01', problem: 'unsigned', dates: ['2018-06-28'] }]);
  });

  it('keeps verifying during a key rotation and re-signs with the new key', async () => {
    const rotating = { signingKey: NEW_KEY, previousKeys: [KEY] };
    await expect(readBarSeries(signed, {}, { verify: rotating })).resolves.toHaveLength(3);
    // The new key alone does not vouch for the old key's bars.
    expect((await rejection(readBarSeries(signed, {}, { verify: { signingKey: NEW_KEY } }))).message).toContain(signingKeyId(KEY));
    const resigned = await signStoredBars(signed, rotating, { acceptUnsigned: false });
    expect(resigned.previousKey).toBeGreaterThan(0);
    expect(resigned.signed).toBe(resigned.previousKey);
    await expect(readBarSeries(signed, {}, { verify: { signingKey: NEW_KEY } })).resolves.toHaveLength(3);
  });
});
