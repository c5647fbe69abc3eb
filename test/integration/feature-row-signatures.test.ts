/**
 * With MODEL_SIGNING_KEY every feature_rows row is signed, and serving refused an edited one, but the
 * readers that compute from rows did not check: 63 ABT rows rewritten by SQL with a planted leak went
 * into a training dataset (the sampled point-in-time audit missed it in 6 of 8 seeds), the next
 * features step kept them (rowsWritten 0, rowsRecomputed 0), and +0.3 on 10 columns of the live
 * window turned the drift verdict from stable to drift. Now the dataset build and the live window
 * refuse rows no held key vouches for, naming them, and the features step writes them again from
 * the verified bars, signed, and counts them. Both drivers.
 */
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { featureActivities, type ComputeFeaturesResult } from '../../activities/features';
import { listAlerts } from '../../lib/alerts/alert-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { tamperedRowsSummary } from '../../lib/features/tampered-rows';
import { defineFeatureSet, DEFAULT_FEATURE_SET } from '../../lib/features/feature-set';
import { materializeFeatures } from '../../lib/features/materialize';
import { UnverifiedFeatureRowsError, featureRowSignatureProblem } from '../../lib/features/vector-signature';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { readLiveFeatureWindow } from '../../lib/monitoring/live-window';
import { verificationKeysOf } from '../../lib/registry/row-signature';
import { openDatabase, type Database } from '../../lib/store/database';
import { packValues, readFeatureRows, unpackValues } from '../../lib/store/features';
import { buildTrainingDataset } from '../../lib/training/dataset';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';

const KEY = 'feature-row-signing-key-0123456789abcdef-01234';
const SIGNING = { signingKey: KEY };
const set = defineFeatureSet(DEFAULT_FEATURE_SET);
const label = { kind: 'direction' as const, horizon: 5, deadZone: 0 };

let csv: string;
beforeAll(async () => {
  csv = path.join(tempDir('mlp-row-sign-'), 'csv');
  await writeSyntheticMarket(csv, { symbols: 3, from: '2017-01-03', to: '2018-06-28', plantErrors: false });
});

async function rejection(p: Promise<unknown>): Promise<Error> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(error).toBeDefined();
  return error as Error;
}

/** Stored rows of `symbol` in [from, to] with column 0 overwritten by SQL (signatures left as they were): what someone with write access but not the key can do. */
async function editRows(store: Database, symbol: string, from: string, to: string, value: (old: number) => number): Promise<string[]> {
  const rows = await store.db.selectFrom('feature_rows').select(['date', 'vals']).where('version', '=', set.version).where('symbol', '=', symbol).where('date', '>=', from).where('date', '<=', to).orderBy('date').execute();
  for (const r of rows) {
    const v = unpackValues(r.vals);
    v[0] = value(v[0]);
    await store.db.updateTable('feature_rows').set({ vals: packValues(v) }).where('version', '=', set.version).where('symbol', '=', symbol).where('date', '=', r.date).execute();
  }
  return rows.map((r) => r.date);
}

describe.each(DRIVERS)('readers of stored feature rows check their signatures (%s)', (_driver, create) => {
  let t: TestDatabase;
  let signed: Database;
  let honest: Map<string, string>;
  let snapshotId: string;
  const rowBytes = async () => new Map((await signed.db.selectFrom('feature_rows').select(['symbol', 'date', 'vals', 'signature']).where('version', '=', set.version).execute()).map((r) => [`${r.symbol} ${r.date}`, `${Buffer.from(r.vals).toString('hex')} ${r.signature}`]));
  beforeEach(async () => {
    t = await create();
    signed = await openDatabase(t.url, { signing: SIGNING });
    ({ snapshotId } = await importBars(signed, importRequestSchema.parse({ source: { kind: 'csv', path: csv } })));
    await materializeFeatures(signed, set, { signing: SIGNING });
    honest = await rowBytes();
  });
  afterEach(async () => {
    await signed.close();
    await t.drop();
  });

  it('refuses a training dataset built on rows edited by SQL, naming every one, and builds it again once the features step repaired them', async () => {
    const edited = await editRows(signed, 'SYN01', '2018-02-01', '2018-03-16', () => 9);
    expect(edited.length).toBeGreaterThan(25);
    const error = await rejection(buildTrainingDataset(signed, { featureSetVersion: set.version, label, to: '2018-05-31' }));
    expect(error).toBeInstanceOf(UnverifiedFeatureRowsError);
    expect((error as UnverifiedFeatureRowsError).code).toBe('FEATURE_ROWS_UNVERIFIED');
    expect((error as UnverifiedFeatureRowsError).rows).toBe(edited.length);
    expect(error.message).toContain(`${edited.length} stored feature rows of feature set ${set.version} are not vouched for by MODEL_SIGNING_KEY`);
    expect(error.message).toContain(`SYN01, ${edited.length} rows from ${edited[0]} to ${edited[edited.length - 1]}`);
    expect(error.message).toMatch(/the signature does not match the values/);
    expect(error.message).toContain('mlp features recompute');

    // The next features step with the key writes them again from the verified bars, signed, and says so.
    const step = await materializeFeatures(signed, set, { signing: SIGNING });
    expect(step).toMatchObject({ rowsWritten: 0, rowsRecomputed: 0, rowsRepaired: edited.length, repaired: [{ symbol: 'SYN01', problem: 'edited', rows: edited.length, from: edited[0], to: edited[edited.length - 1] }] });
    expect(step.unrepaired).toBeUndefined();
    // Byte-identical to what the step wrote before the edit, signatures included.
    expect(await rowBytes()).toEqual(honest);
    const ds = await buildTrainingDataset(signed, { featureSetVersion: set.version, label, to: '2018-05-31' });
    expect(Array.from(ds.values).some((x) => x === 9)).toBe(false);
    // Nothing left to repair.
    expect((await materializeFeatures(signed, set, { signing: SIGNING })).rowsRepaired).toBeUndefined();
  });

  it('refuses unsigned rows under the key: rows from before signing as unsigned, a signature removed inside a signed history as an edit; the features step signs them', async () => {
    // Rows from before signing: the symbol's oldest rows, none signed before them.
    const firstDates = (await signed.db.selectFrom('feature_rows').select('date').where('version', '=', set.version).where('symbol', '=', 'SYN01').orderBy('date').limit(3).execute()).map((r) => r.date);
    await signed.db.updateTable('feature_rows').set({ signature: null, signature_key_id: null }).where('version', '=', set.version).where('symbol', '=', 'SYN01').where('date', 'in', firstDates).execute();
    const old = await rejection(readFeatureRows(signed, set.version, { symbols: ['SYN01'] }));
    expect(old.message).toMatch(new RegExp(`3 stored feature rows .*SYN01, 3 rows from ${firstDates[0]} to ${firstDates[2]} .*: unsigned`));
    // Values edited and the signature removed: not a warning-level "unsigned" but an edit.
    await editRows(signed, 'SYN02', '2018-01-08', '2018-01-11', () => 9);
    await signed.db.updateTable('feature_rows').set({ signature: null, signature_key_id: null }).where('version', '=', set.version).where('symbol', '=', 'SYN02').where('date', '>=', '2018-01-08').where('date', '<=', '2018-01-11').execute();
    const error = await rejection(readFeatureRows(signed, set.version, { symbols: ['SYN02'], from: '2018-01-08' }));
    expect((error as UnverifiedFeatureRowsError).refused).toEqual([{ symbol: 'SYN02', problem: 'edited', dates: ['2018-01-08', '2018-01-09', '2018-01-10', '2018-01-11'] }]);
    expect(error.message).toMatch(/SYN02, 4 rows from 2018-01-08 to 2018-01-11 .*: its signature was removed/);
    // Without a key nothing is checked (the store as it was before signing).
    expect((await readFeatureRows(t.store, set.version, { symbols: ['SYN02'] })).length).toBeGreaterThan(100);
    const step = await materializeFeatures(signed, set, { signing: SIGNING });
    expect(step).toMatchObject({ rowsRepaired: 7, repaired: [{ symbol: 'SYN01', problem: 'unsigned', rows: 3 }, { symbol: 'SYN02', problem: 'edited', rows: 4 }] });
    expect(await rowBytes()).toEqual(honest);
  });

  it('removes forged rows no computation from the verified bars produces (a weekend, a symbol without bars, a date past the last bar), naming them, and writes the real later rows a forged date hid', async () => {
    const vals = (await signed.db.selectFrom('feature_rows').select('vals').where('version', '=', set.version).where('symbol', '=', 'SYN01').limit(1).executeTakeFirstOrThrow()).vals;
    const forge = (symbol: string, date: string, signature: string | null = null) => signed.db.insertInto('feature_rows').values({ version: set.version, symbol, date, vals, signature, signature_key_id: signature === null ? null : 'deadbeef' }).execute();
    // SYN01's rows of June are not there yet (as if its bars came later); a forged row dated after every bar moved its last stored date past them.
    await signed.db.deleteFrom('feature_rows').where('version', '=', set.version).where('symbol', '=', 'SYN01').where('date', '>', '2018-05-31').execute();
    await forge('SYN01', '2018-03-03'); // a Saturday
    await forge('ZZZ', '2018-03-05'); // no bars at all
    await forge('SYN01', '2018-07-10'); // after the last bar
    await forge('SYN02', '2018-03-04', 'ab'.repeat(32)); // a Sunday, with a made-up signature of an unknown key
    const error = await rejection(buildTrainingDataset(signed, { featureSetVersion: set.version, label, to: '2018-05-31' }));
    expect(error.message).toContain('mlp features recompute');

    const step = await materializeFeatures(signed, set, { signing: SIGNING });
    expect(step.removed).toEqual([
      // Unsigned inside a signed history: an edit; ZZZ has no signed row, so only unsigned.
      { symbol: 'SYN01', problem: 'edited', rows: 2, dates: ['2018-03-03', '2018-07-10'] },
      { symbol: 'SYN02', problem: 'other_key', rows: 1, dates: ['2018-03-04'] },
      { symbol: 'ZZZ', problem: 'unsigned', rows: 1, dates: ['2018-03-05'] },
    ]);
    expect(step.rowsRemoved).toBe(4);
    expect(step.unrepaired).toBeUndefined();
    expect(step.rowsRepaired).toBeUndefined();
    // SYN01's June rows, hidden behind the forged date, are written; everything is as the step wrote it.
    expect(step.rowsWritten).toBeGreaterThan(15);
    expect(await rowBytes()).toEqual(honest);
    expect((await buildTrainingDataset(signed, { featureSetVersion: set.version, label, to: '2018-05-31' })).rows).toBeGreaterThan(0);
    expect((await materializeFeatures(signed, set, { signing: SIGNING })).removed).toBeUndefined();
  });

  it('the features step names what it repaired and removed in its stage summary and raises feature_rows_tampered with them', async () => {
    const edited = await editRows(signed, 'SYN02', '2018-02-05', '2018-02-07', () => 9);
    const vals = (await signed.db.selectFrom('feature_rows').select('vals').where('version', '=', set.version).limit(1).executeTakeFirstOrThrow()).vals;
    await signed.db.insertInto('feature_rows').values({ version: set.version, symbol: 'ZZZ', date: '2018-02-06', vals, signature: null, signature_key_id: null }).execute();
    const step = featureActivities({ store: signed, cache: new MemoryCache(), signing: SIGNING, alerts: { alertWebhookUrl: undefined } });
    const run = (): Promise<ComputeFeaturesResult> => new MockActivityEnvironment().run(step.computeFeatures, { snapshotId });
    const result = await run();
    expect(result).toMatchObject({ version: set.version, rowsRepaired: 3, rowsRemoved: 1 });
    const summary = tamperedRowsSummary(result);
    expect(summary).toContain(`3 rows not vouched for by the key written again from the verified bars (SYN02 edited ${edited[0]}..${edited[2]})`);
    expect(summary).toContain('1 row no computation produces deleted as forged (ZZZ unsigned 2018-02-06)');
    const alerts = await listAlerts(signed, { rule: 'feature_rows_tampered' });
    expect(alerts.map((a) => [a.severity, a.subject])).toEqual([['critical', `features ${set.version}`]]);
    expect(alerts[0].evidence).toMatchObject({ featureSet: set.version, rowsRepaired: 3, repaired: [{ symbol: 'SYN02', problem: 'edited', from: edited[0], to: edited[2] }], rowsRemoved: 1, removed: [{ symbol: 'ZZZ', dates: ['2018-02-06'] }] });
    expect(await rowBytes()).toEqual(honest);
    // Nothing to tell on the next run.
    expect(tamperedRowsSummary(await run())).toBe('');
  });

  it('`mlp features recompute` (recomputeAll) checks the stored rows too: repairs the edited ones and removes the forged ones', async () => {
    const edited = await editRows(signed, 'SYN03', '2018-04-02', '2018-04-06', (x) => x + 1);
    const vals = (await signed.db.selectFrom('feature_rows').select('vals').where('version', '=', set.version).where('symbol', '=', 'SYN03').limit(1).executeTakeFirstOrThrow()).vals;
    await signed.db.insertInto('feature_rows').values({ version: set.version, symbol: 'SYN03', date: '2018-04-07', vals, signature: null, signature_key_id: null }).execute();
    const step = await materializeFeatures(signed, set, { signing: SIGNING, recomputeAll: true });
    expect(step).toMatchObject({ rowsRepaired: edited.length, repaired: [{ symbol: 'SYN03', problem: 'edited', rows: edited.length }], rowsRemoved: 1, removed: [{ symbol: 'SYN03', problem: 'edited', rows: 1, dates: ['2018-04-07'] }] });
    expect(await rowBytes()).toEqual(honest);
  });

  it('accepts rows a previous key signed during a rotation, and without it names the key to give', async () => {
    const NEW = { signingKey: 'feature-row-signing-key-rotated-0123456789abcd', previousKeys: [KEY] };
    const rotated = await openDatabase(t.url, { signing: NEW });
    try {
      expect((await readFeatureRows(rotated, set.version, { symbols: ['SYN01'] })).length).toBeGreaterThan(100);
      const step = await materializeFeatures(rotated, set, { signing: NEW });
      expect([step.rowsRepaired, step.removed, step.unrepaired]).toEqual([undefined, undefined, undefined]);
      const newOnly = { signingKey: NEW.signingKey };
      const error = await rejection(readFeatureRows(rotated, set.version, { symbols: ['SYN01'] }, { verify: newOnly }));
      expect((error as UnverifiedFeatureRowsError).refused.map((g) => g.problem)).toEqual(['other_key']);
      expect(error.message).toContain('MODEL_SIGNING_PREVIOUS_KEYS');
    } finally {
      await rotated.close();
    }
  });

  it('gives no drift window from edited rows: the live window is refused', async () => {
    const keys = verificationKeysOf(SIGNING);
    const window = { days: 10, after: '2018-05-31' };
    const before = await readLiveFeatureWindow(signed, set.version, window);
    expect(before.rows).toBe(30);
    const edited = await editRows(signed, 'SYN03', '2018-06-20', '2018-06-28', (x) => x + 0.3);
    const error = await rejection(readLiveFeatureWindow(signed, set.version, window));
    expect(error).toBeInstanceOf(UnverifiedFeatureRowsError);
    expect(error.message).toContain(`SYN03, ${edited.length} rows from ${edited[0]} to ${edited[edited.length - 1]}`);
    // The same rows the serving check refuses.
    const stored = await signed.db.selectFrom('feature_rows').selectAll().where('version', '=', set.version).where('symbol', '=', 'SYN03').where('date', '=', edited[0]).executeTakeFirstOrThrow();
    expect(featureRowSignatureProblem(keys as NonNullable<typeof keys>, stored)?.problem).toBe('bad_signature');
    // Other symbols' windows are read as before.
    expect((await readLiveFeatureWindow(signed, set.version, { ...window, symbols: ['SYN01'] })).rows).toBe(10);
  });
});
