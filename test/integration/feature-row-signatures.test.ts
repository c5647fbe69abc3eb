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
  const rowBytes = async () => new Map((await signed.db.selectFrom('feature_rows').select(['symbol', 'date', 'vals', 'signature']).where('version', '=', set.version).execute()).map((r) => [`${r.symbol} ${r.date}`, `${Buffer.from(r.vals).toString('hex')} ${r.signature}`]));
  beforeEach(async () => {
    t = await create();
    signed = await openDatabase(t.url, { signing: SIGNING });
    await importBars(signed, importRequestSchema.parse({ source: { kind: 'csv', path: csv } }));
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

  it('refuses unsigned rows under the key (a removed signature, or rows from before signing) and the features step signs them', async () => {
    await signed.db.updateTable('feature_rows').set({ signature: null, signature_key_id: null }).where('version', '=', set.version).where('symbol', '=', 'SYN02').where('date', '>=', '2018-01-08').where('date', '<=', '2018-01-11').execute();
    const error = await rejection(readFeatureRows(signed, set.version, { symbols: ['SYN02'] }));
    expect(error.message).toMatch(/4 stored feature rows .*SYN02, 4 rows from 2018-01-08 to 2018-01-11 .*: unsigned/);
    // Without a key nothing is checked (the store as it was before signing).
    expect((await readFeatureRows(t.store, set.version, { symbols: ['SYN02'] })).length).toBeGreaterThan(100);
    const step = await materializeFeatures(signed, set, { signing: SIGNING });
    expect(step).toMatchObject({ rowsRepaired: 4, repaired: [{ symbol: 'SYN02', problem: 'unsigned', rows: 4 }] });
    expect(await rowBytes()).toEqual(honest);
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
