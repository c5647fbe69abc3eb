/**
 * With MODEL_SIGNING_KEY the features step signs every offline feature row it writes, and the
 * prediction API serves a row only with its signature. A writer without the key (a script, a
 * materialisation run from a shell that lacks it) replaced signed rows with unsigned ones through
 * the store's write functions: a keyed API then refused them (503 where the online vector was
 * missing), and an unsigned newest row hid the signed rows from the start-up rule, so the next
 * keyless process started. The store refuses such a write whole, as the online store refuses an
 * unsigned vector over a signed one. Both drivers.
 */
import { materializeFeatures } from '../../lib/features/materialize';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { defineFeatureSet } from '../../lib/features/feature-set';
import { signingKeyId } from '../../lib/registry/row-signature';
import { assertSigningKeyWhereSigned } from '../../lib/registry/signing-key-required';
import { signStoredBars } from '../../lib/store/bar-signature';
import { upsertBars } from '../../lib/store/bars';
import { UnsignedOverSignedRowError, writeFeatureBatch, writeFeatureRows, type FeatureRow } from '../../lib/store/features';
import { DRIVERS, type TestDatabase } from '../helpers/databases';
import { returnsFeatureSet, saveTestFeatureSet } from '../helpers/registration';

const KEY = 'feature-row-signing-key-0123456789abcdef';
const NEW_KEY = 'the-next-row-signing-key-0123456789abcde';
const SIGNING = { signingKey: KEY };
const row = (symbol: string, date: string, values: number[] = [0.1, -0.2, 0.3, -0.4, 0.5]): FeatureRow => ({ symbol, date, values: Float64Array.from(values) });

/** Every stored row of the version as text: values, signature and key id. */
async function dump(t: TestDatabase, version: string): Promise<string[]> {
  const rows = await t.store.db.selectFrom('feature_rows').select(['symbol', 'date', 'vals', 'signature', 'signature_key_id']).where('version', '=', version).orderBy('symbol').orderBy('date').execute();
  return rows.map((r) => `${r.symbol} ${r.date} ${Buffer.from(r.vals).toString('hex')} ${r.signature ?? '-'} ${r.signature_key_id ?? '-'}`);
}

async function refusal(write: Promise<unknown>): Promise<UnsignedOverSignedRowError> {
  const error = await write.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UnsignedOverSignedRowError);
  return error as UnsignedOverSignedRowError;
}

describe.each(DRIVERS)('a feature-row write without MODEL_SIGNING_KEY never changes a signed row (%s)', (_driver, create) => {
  let t: TestDatabase;
  let version: string;
  beforeEach(async () => {
    t = await create();
    ({ version } = await saveTestFeatureSet(t.store, returnsFeatureSet('keyless-writes')));
    // AAPL signed (the deployment signs), MSFT written before the key (unsigned).
    await writeFeatureRows(t.store, version, [row('MSFT', '2024-06-26'), row('MSFT', '2024-06-27')]);
    await writeFeatureRows(t.store, version, [row('AAPL', '2024-06-26'), row('AAPL', '2024-06-27')], SIGNING);
  });
  afterEach(async () => {
    await t.drop();
  });

  it('refuses a batch that replaces a signed row, naming it, and writes nothing of it', async () => {
    const before = await dump(t, version);
    const error = await refusal(
      writeFeatureBatch(t.store, version, {
        added: [row('MSFT', '2024-06-28'), row('NVDA', '2024-06-28')],
        replaced: [row('MSFT', '2024-06-26', [9, 9, 9, 9, 9]), row('AAPL', '2024-06-27', [-9, 9, -9, 9, -9])],
      }),
    );
    expect(error.message).toBe(
      `feature rows of feature set ${version} not written (4 rows): the stored row of AAPL on 2024-06-27 is signed (key id ${signingKeyId(KEY)}) and this write has no MODEL_SIGNING_KEY, ` +
        'so it would replace it with an unsigned row, which a prediction API holding the key refuses; nothing of the batch was written. ' +
        "Run it with the deployment's MODEL_SIGNING_KEY (and MODEL_SIGNING_PREVIOUS_KEYS during a rotation): docs/configuration.md",
    );
    expect(error.code).toBe('BAD_INPUT');
    expect(await dump(t, version)).toEqual(before);
  });

  it('refuses a batch that clears a signed row (a recomputation whose first row moved later)', async () => {
    const before = await dump(t, version);
    const error = await refusal(writeFeatureBatch(t.store, version, { added: [], replaced: [row('MSFT', '2024-06-27', [1, 1, 1, 1, 1])], cleared: [{ symbol: 'MSFT', from: '2024-06-26', to: '2024-06-27' }, { symbol: 'AAPL', from: '2024-06-26', to: '2024-06-27' }] }));
    expect(error.message).toContain('the stored row of AAPL on 2024-06-26 is signed');
    expect(error.message).toContain('so it would delete it');
    expect(await dump(t, version)).toEqual(before);
  });

  it("refuses an unsigned row added to a symbol whose newest row is signed: it would be the row served, and would hide the signed rows from the start-up rule", async () => {
    const before = await dump(t, version);
    const error = await refusal(writeFeatureRows(t.store, version, [row('MSFT', '2024-06-28'), row('AAPL', '2024-06-28')]));
    expect(error.message).toContain('the newest stored row of AAPL, on 2024-06-27, is signed');
    expect(error.message).toContain("so it would add an unsigned row (2024-06-28) to a symbol whose rows are signed, which a prediction API holding the key refuses");
    await refusal(writeFeatureBatch(t.store, version, { added: [row('AAPL', '2024-06-25')], replaced: [] }));
    expect(await dump(t, version)).toEqual(before);
    // The signed newest row still keeps a keyless process from starting.
    await expect(assertSigningKeyWhereSigned(t.store, undefined, 'the worker')).rejects.toThrow(/the worker does not start without MODEL_SIGNING_KEY: the feature store's rows are signed \(AAPL 2024-06-27/);
  });

  it('still writes what changes no signed row: first rows, unsigned over unsigned, rows already stored; a keyed write replaces signed rows', async () => {
    await writeFeatureBatch(t.store, version, { added: [row('NVDA', '2024-06-27'), row('MSFT', '2024-06-28')], replaced: [row('MSFT', '2024-06-26', [2, 2, 2, 2, 2])], cleared: [{ symbol: 'MSFT', from: '2024-06-20', to: '2024-06-26' }] });
    // Rows already stored are kept as they are (an incremental rerun), signed ones included.
    await writeFeatureRows(t.store, version, [row('AAPL', '2024-06-27', [7, 7, 7, 7, 7])]);
    await writeFeatureBatch(t.store, version, { added: [row('AAPL', '2024-06-28')], replaced: [row('AAPL', '2024-06-26', [3, 3, 3, 3, 3])], cleared: [{ symbol: 'AAPL', from: '2024-06-29' }] }, SIGNING);
    const rows = await dump(t, version);
    expect(rows).toHaveLength(7);
    expect(rows.filter((r) => r.startsWith('AAPL')).every((r) => r.endsWith(` ${signingKeyId(KEY)}`))).toBe(true);
    expect(rows.filter((r) => !r.startsWith('AAPL')).every((r) => r.endsWith(' - -'))).toBe(true);
    expect(rows.find((r) => r.startsWith('AAPL 2024-06-27'))).toContain(Buffer.from(Float64Array.from([0.1, -0.2, 0.3, -0.4, 0.5]).buffer).toString('hex'));
  });

  it('a key rotation: the new key replaces rows the old one signed; without a key they are refused like any signed row', async () => {
    const rotating = { signingKey: NEW_KEY, previousKeys: [KEY] };
    await writeFeatureBatch(t.store, version, { added: [], replaced: [row('AAPL', '2024-06-26', [4, 4, 4, 4, 4])] }, rotating);
    const rows = await dump(t, version);
    expect(rows.find((r) => r.startsWith('AAPL 2024-06-26'))).toMatch(new RegExp(` ${signingKeyId(NEW_KEY)}$`));
    expect(rows.find((r) => r.startsWith('AAPL 2024-06-27'))).toMatch(new RegExp(` ${signingKeyId(KEY)}$`));
    // The old key's row, once the old key is dropped everywhere, is still a signed row.
    const error = await refusal(writeFeatureBatch(t.store, version, { added: [], replaced: [row('AAPL', '2024-06-27', [5, 5, 5, 5, 5])] }));
    expect(error.message).toContain(`the stored row of AAPL on 2024-06-27 is signed (key id ${signingKeyId(KEY)})`);
    expect(await dump(t, version)).toEqual(rows);
  });
});

describe.each(DRIVERS)('a materialisation run without MODEL_SIGNING_KEY over signed rows (%s)', (_driver, create) => {
  let t: TestDatabase;
  afterEach(async () => {
    await t.drop();
  });

  it('is refused and changes no row, a full recomputation as an incremental run; with the key it runs', async () => {
    t = await create();
    const set = defineFeatureSet(returnsFeatureSet('keyless-materialise', 3));
    const dates = nyseTradingDaysBetween('2024-05-01', '2024-06-28');
    const bars = (symbol: string, upTo: string, base: number) =>
      dates.filter((d) => d <= upTo).map((date, i) => ({ symbol, date, open: base + i, high: base + i + 1, low: base + i - 1, close: base + i + 0.5, volume: 1000 + i }));
    await upsertBars(t.store, [...bars('AAA', '2024-06-14', 50), ...bars('BBB', '2024-06-14', 80)]);
    // The keyed step checks the bars with its key (lib/store/bar-signature.ts): seeded unsigned, signed as the upgrade does.
    await signStoredBars(t.store, SIGNING, { acceptUnsigned: true });
    const first = await materializeFeatures(t.store, set, { signing: SIGNING });
    expect(first.rowsWritten).toBeGreaterThan(40);
    const before = await dump(t, set.version);
    expect(before.every((r) => r.endsWith(` ${signingKeyId(KEY)}`))).toBe(true);

    await refusal(materializeFeatures(t.store, set, { recomputeAll: true }));
    expect(await dump(t, set.version)).toEqual(before);
    // New bars: a keyless run would append unsigned newest rows after the signed ones.
    await upsertBars(t.store, [...bars('AAA', '2024-06-28', 50), ...bars('BBB', '2024-06-28', 80)]);
    await refusal(materializeFeatures(t.store, set));
    expect(await dump(t, set.version)).toEqual(before);
    await signStoredBars(t.store, SIGNING, { acceptUnsigned: true });

    const keyed = await materializeFeatures(t.store, set, { signing: SIGNING });
    expect(keyed.rowsWritten).toBe(2 * 9); // 2024-06-17 .. 2024-06-28, Juneteenth closed
    expect((await dump(t, set.version)).every((r) => r.endsWith(` ${signingKeyId(KEY)}`))).toBe(true);
  });
});
