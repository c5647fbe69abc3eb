/**
 * With the deployment's signing key, an online vector is stored with an HMAC over everything the
 * prediction API reads from it, and a stored vector whose signature is missing or does not match is
 * refused as another symbol's is; without the key the online store is trusted as it stands.
 */
import { performance } from 'node:perf_hooks';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { InvalidOnlineVectorError, marketToday, OnlineFeatureStore, parseStoredVector, publishOnlineFeatures, readOfflineLatest, readOnlineFeatures, replaceOnlineFeatures, sampleSignedOnlineVector, type OnlineFeatureVector } from '../../lib/features/online-features';
import { signingKeyId } from '../../lib/registry/row-signature';
import { packValues, UnsignedOverSignedRowError, writeFeatureBatch, writeFeatureRows } from '../../lib/store/features';
import { createSqliteTestDatabase } from '../helpers/databases';
import { returnsFeatureSet, saveTestFeatureSet } from '../helpers/registration';

const KEY = 'vector-signing-key-0123456789abcdef-0123';
const SIGNING = { signingKey: KEY };
const NO_KEY = { signingKey: undefined };
const VERSION = 'fs-test';
const key = (symbol: string) => `features:latest:${VERSION}:${symbol}`;
const vector = (symbol: string, values: number[], extra: Partial<OnlineFeatureVector> = {}): OnlineFeatureVector => ({ version: VERSION, symbol, asOf: '2024-01-04', columns: values.map((_, i) => `c${i}`), values, ...extra });

/** The refusal parseStoredVector gives `raw` under the key, or undefined when it accepts it. */
function refusal(raw: string, signingKey: string | null = KEY, symbol = 'AAA'): { problem: string; message: string } | undefined {
  try {
    parseStoredVector(raw, VERSION, symbol, '2024-06-01', signingKey ?? undefined);
    return undefined;
  } catch (error) {
    if (!(error instanceof InvalidOnlineVectorError)) throw error;
    return { problem: error.problem, message: error.message };
  }
}

async function storedText(v: OnlineFeatureVector): Promise<string> {
  const cache = new MemoryCache();
  await publishOnlineFeatures(cache, [v], SIGNING);
  return (await cache.get(key(v.symbol))) as string;
}

describe('online vector signatures', () => {
  it('a signed vector reads back exactly, missing values and a withheld reason included', async () => {
    const honest = vector('AAA', [0.1, -0.2, NaN, 1e-300, -0, 123456789.12345679]);
    expect(parseStoredVector(await storedText(honest), VERSION, 'AAA', '2024-06-01', KEY)).toEqual({ ...honest, values: [0.1, -0.2, NaN, 1e-300, 0, 123456789.12345679] });
    const withheld = vector('AAA', [0.5, 0.25], { withheld: 'an unadjusted 2:1 split on 2024-01-02' });
    expect(parseStoredVector(await storedText(withheld), VERSION, 'AAA', '2024-06-01', KEY)).toEqual(withheld);
    // The signature covers the stored text: even the same numbers written otherwise by hand (1 as 1.0) are an edit.
    const text = (await storedText(vector('AAA', [1, 2]))).replace('"values":[1,2]', '"values":[1.0,2e0]');
    expect(refusal(text)?.problem).toBe('bad_signature');
  });

  it('refuses a vector whose values, date, columns or withheld reason were changed after it was signed', async () => {
    const withheld = vector('AAA', [0.5, 0.25], { withheld: 'an unadjusted 2:1 split on 2024-01-02' });
    const signed = JSON.parse(await storedText(withheld)) as Record<string, unknown>;
    const edits: Array<Record<string, unknown>> = [
      { values: [9, 9] },
      { values: [0.5, 0.25000000000000006] }, // one bit of one double
      { values: [0.5, null] },
      { asOf: '2024-01-05' },
      { columns: ['c1', 'c0'] },
      { withheld: 'another reason' },
    ];
    for (const edit of edits) expect(refusal(JSON.stringify({ ...signed, ...edit }))).toEqual({ problem: 'bad_signature', message: expect.stringContaining('its signature does not match it') });
    // The withheld reason removed (the vector would be predicted on), or one added to an unwithheld vector.
    expect(refusal(JSON.stringify({ ...signed, withheld: undefined }))?.problem).toBe('bad_signature');
    const plain = JSON.parse(await storedText(vector('AAA', [0.5, 0.25]))) as Record<string, unknown>;
    expect(refusal(JSON.stringify({ ...plain, withheld: 'x' }))?.problem).toBe('bad_signature');
    // A signature copied from another symbol's vector (whose values are consistent with it).
    const other = JSON.parse(await storedText(vector('BBB', [0.5, 0.25]))) as Record<string, unknown>;
    expect(refusal(JSON.stringify({ ...other, symbol: 'AAA' }))?.problem).toBe('bad_signature');
    // Signed with another key.
    expect(refusal(JSON.stringify(plain), 'another-signing-key-0123456789abcdef-01')).toEqual({ problem: 'bad_signature', message: expect.stringMatching(/it is signed with another key \(key id [0-9a-f]{8}\), neither this deployment's MODEL_SIGNING_KEY \(key id [0-9a-f]{8}\) nor one of its MODEL_SIGNING_PREVIOUS_KEYS/) });
  });

  it('refuses an unsigned vector (written before signing, by hand, or by a process without the key) as unsigned', async () => {
    const unsigned = JSON.stringify(vector('AAA', [0.5, 0.25]));
    expect(refusal(unsigned)).toEqual({ problem: 'unsigned', message: expect.stringContaining('unsigned: written before signing or by hand') });
    // Something in the signature's place that is not the writers' signature of this text.
    for (const signature of [null, 'abc', { keyId: 'x' }, { mac: 5 }, { keyId: 'abcdef01', mac: '0'.repeat(64) }]) expect(refusal(JSON.stringify({ ...vector('AAA', [0.5, 0.25]), signature }))?.problem).toBe('bad_signature');
  });

  it('without a signing key the online store is trusted as it stands, signed or not', async () => {
    expect(refusal(JSON.stringify(vector('AAA', [9, 9])), null)).toBeUndefined();
    expect(refusal(JSON.stringify({ ...JSON.parse(await storedText(vector('AAA', [0.5]))), values: [9] }), null)).toBeUndefined();
    // The other checks stay.
    expect(refusal(JSON.stringify(vector('BBB', [1])), null)?.problem).toBe('other_symbol');
  });

  it('a stored vector refused under the key keeps nothing out: the next signed write replaces it', async () => {
    const cache = new MemoryCache();
    // A newer, unsigned vector (written before signing was enabled) and an edited one of the same date.
    await cache.set(key('AAA'), JSON.stringify(vector('AAA', [1], { asOf: '2024-01-05' })));
    await cache.set(key('BBB'), JSON.stringify({ ...JSON.parse(await storedText(vector('BBB', [1]))), values: [9] }));
    expect(await publishOnlineFeatures(cache, [vector('AAA', [2]), vector('BBB', [2])], SIGNING)).toBe(2);
    expect(await readOnlineFeatures(cache, VERSION, 'AAA', undefined, SIGNING)).toEqual(vector('AAA', [2]));
    expect(await readOnlineFeatures(cache, VERSION, 'BBB', undefined, SIGNING)).toEqual(vector('BBB', [2]));
    // A valid signed newer one still keeps an older one out.
    expect(await replaceOnlineFeatures(cache, [vector('AAA', [3], { asOf: '2024-01-03' })], SIGNING)).toBe(0);
  });

  it('the feature store counts every refusal, logs it once per key and reason, and answers from the offline store', async () => {
    const cache = new MemoryCache();
    const logged: Array<Record<string, unknown>> = [];
    const refused: string[] = [];
    // An empty offline store: the refusal is what the error names.
    const t = await createSqliteTestDatabase();
    const features = new OnlineFeatureStore({ cache, store: t.store, rewarmVersions: () => [], signing: SIGNING, log: (event, detail) => logged.push({ event, ...detail }), onInvalidVector: (e) => refused.push(e.problem) });
    await cache.set(key('AAA'), JSON.stringify(vector('AAA', [9])));
    for (let i = 0; i < 3; i++) await expect(features.read(VERSION, 'AAA')).rejects.toThrow(/is refused: it carries no signature .*, and the offline store holds no vector of AAA/);
    await cache.set(key('AAA'), JSON.stringify({ ...JSON.parse(await storedText(vector('AAA', [0.5]))), values: [9] }));
    await expect(features.read(VERSION, 'AAA')).rejects.toThrow('its signature does not match it');
    expect(refused).toEqual(['unsigned', 'unsigned', 'unsigned', 'bad_signature']);
    expect(logged.filter((l) => l.event === 'features.online_vector_refused').map((l) => l.problem)).toEqual(['unsigned', 'bad_signature']);
    // An honest vector is served; a later refusal of the key is logged again.
    await publishOnlineFeatures(cache, [vector('AAA', [0.5], { asOf: '2024-01-05' })], SIGNING);
    expect(await features.read(VERSION, 'AAA')).toEqual(vector('AAA', [0.5], { asOf: '2024-01-05' }));
    await cache.set(key('AAA'), JSON.stringify(vector('AAA', [9])));
    await expect(features.read(VERSION, 'AAA')).rejects.toThrow('it carries no signature');
    expect(logged.filter((l) => l.event === 'features.online_vector_refused')).toHaveLength(3);
    features.close();
    await t.drop();
  });

  it('a key rotation: vectors the previous key signed are served (counted, logged once) until rewritten; another key\'s are refused', async () => {
    const NEW_KEY = 'the-new-vector-signing-key-0123456789abc';
    const rotating = { signingKey: NEW_KEY, previousKeys: [KEY] };
    const old = await storedText(vector('AAA', [0.5]));
    // Before: a process given the new key refused every vector the old key signed (bad_signature), though MODEL_SIGNING_PREVIOUS_KEYS named it.
    const told: string[] = [];
    expect(parseStoredVector(old, VERSION, 'AAA', '2024-06-01', rotating, (keyId) => told.push(keyId))).toEqual(vector('AAA', [0.5]));
    expect(told).toHaveLength(1);
    expect(refusal(old, NEW_KEY)?.message).toContain('it is signed with another key');
    // An edit of a vector the previous key signed is still one.
    const edited = JSON.stringify({ ...JSON.parse(old), values: [9] });
    expect(() => parseStoredVector(edited, VERSION, 'AAA', '2024-06-01', rotating)).toThrow("which this deployment holds, and is not that key's");

    const cache = new MemoryCache();
    const t = await createSqliteTestDatabase();
    const logged: Array<Record<string, unknown>> = [];
    const previous: string[] = [];
    const features = new OnlineFeatureStore({ cache, store: t.store, rewarmVersions: () => [], signing: rotating, log: (event, detail) => logged.push({ event, ...detail }), onPreviousKeyVector: (keyId) => previous.push(keyId) });
    try {
      await cache.set(key('AAA'), old);
      for (let i = 0; i < 3; i++) expect(await features.read(VERSION, 'AAA')).toEqual(vector('AAA', [0.5]));
      expect(previous).toEqual([told[0], told[0], told[0]]);
      expect(logged.filter((l) => l.event === 'features.online_vector_previous_key')).toEqual([expect.objectContaining({ keyId: told[0] })]);
      // The next write (same date: the features step's replace) signs it with the current key: no longer counted.
      expect(await replaceOnlineFeatures(cache, [vector('AAA', [0.5])], rotating)).toBe(1);
      expect(await features.read(VERSION, 'AAA')).toEqual(vector('AAA', [0.5]));
      expect(previous).toHaveLength(3);
      expect(refusal((await cache.get(key('AAA')))!, NEW_KEY)).toBeUndefined();
    } finally {
      features.close();
      await t.drop();
    }
  });

  it('checking a stored vector of 61 columns costs a few microseconds', async () => {
    const columns = Array.from({ length: 61 }, (_, i) => `feature_column_${i}`);
    const honest = { version: VERSION, symbol: 'AAA', asOf: '2024-01-04', columns, values: columns.map((_, i) => Math.sin(i) * 1e-3) };
    const raw = await storedText(honest);
    const plain = JSON.stringify(honest);
    const time = (f: () => void) => {
      for (let i = 0; i < 2000; i++) f();
      const n = 20_000;
      const started = performance.now();
      for (let i = 0; i < n; i++) f();
      return ((performance.now() - started) * 1000) / n;
    };
    const signed = time(() => parseStoredVector(raw, VERSION, 'AAA', '2024-06-01', KEY));
    const unsigned = time(() => parseStoredVector(plain, VERSION, 'AAA', '2024-06-01'));
    // Reported for the record; bounded loosely (a shared machine), the check is once per fetched vector.
    console.log(`online vector parse: ${unsigned.toFixed(1)} µs unsigned, ${signed.toFixed(1)} µs with the signature check (+${(signed - unsigned).toFixed(1)} µs)`);
    expect(signed - unsigned).toBeLessThan(200);
  });
});

describe('offline feature row signatures', () => {
  const ROW_DATE = '2024-06-28';
  const honestValues = [0.1, -0.2, 0.3, -0.4, 0.5];
  const edited = [-9, 9, -9, 9, -9];

  async function setUp(signing: { signingKey: string | undefined; previousKeys?: string[] }) {
    const t = await createSqliteTestDatabase();
    const { version, columns } = await saveTestFeatureSet(t.store, returnsFeatureSet('signed-offline-rows'));
    const cache = new MemoryCache();
    const logged: Array<Record<string, unknown>> = [];
    const refused: string[] = [];
    const fallbacks: string[] = [];
    const previousKeyRows: string[] = [];
    const features = new OnlineFeatureStore({
      cache,
      store: t.store,
      rewarmVersions: () => [version],
      signing,
      now: () => new Date('2024-07-01T12:00:00Z'),
      log: (event, detail) => logged.push({ event, ...detail }),
      onInvalidVector: (e) => refused.push(`online:${e.problem}`),
      onRefusedRow: (e) => refused.push(`offline:${e.problem}`),
      onOfflineRead: (reason) => fallbacks.push(reason),
      onPreviousKeyRow: (keyId) => previousKeyRows.push(keyId),
    });
    const done = async () => {
      features.close();
      await t.drop();
    };
    return { t, version, columns, cache, features, logged, refused, fallbacks, previousKeyRows, done };
  }

  it('refuses an offline row edited after the features step wrote it, and the re-warm does not sign it (-9,9,-9,9,-9 was served and re-signed)', async () => {
    const s = await setUp(SIGNING);
    await writeFeatureRows(s.t.store, s.version, [{ symbol: 'AAPL', date: ROW_DATE, values: Float64Array.from(honestValues) }], SIGNING);
    // Honest and signed: served when the online vector is missing.
    expect((await s.features.read(s.version, 'AAPL'))?.values).toEqual(honestValues);
    // A database editor rewrites the blob (what `UPDATE feature_rows SET vals = …` does).
    await s.t.store.db.updateTable('feature_rows').set({ vals: packValues(Float64Array.from(edited)) }).where('symbol', '=', 'AAPL').execute();
    await expect(s.features.read(s.version, 'AAPL')).rejects.toThrow(/the offline feature row of AAPL on 2024-06-28 in feature set .* is refused: its signature does not match it/);
    expect(s.refused).toEqual(['offline:bad_signature']);
    expect(s.logged.filter((l) => l.event === 'features.offline_row_refused').map((l) => l.problem)).toEqual(['bad_signature']);
    // The re-warm publishes nothing it could not verify: the online store stays empty.
    expect(await s.features.rewarm()).toBe(0);
    expect(await s.cache.get(key('AAPL').replace(VERSION, s.version))).toBeUndefined();
    expect(s.refused).toEqual(['offline:bad_signature', 'offline:bad_signature']);
    await s.done();
  });

  it('refuses an unsigned offline row under the key, and serves it without a key as before', async () => {
    const s = await setUp(SIGNING);
    await writeFeatureRows(s.t.store, s.version, [{ symbol: 'AAPL', date: ROW_DATE, values: Float64Array.from(honestValues) }]);
    await expect(s.features.read(s.version, 'AAPL')).rejects.toThrow(/is refused: it carries no signature.*mlp features recompute/);
    expect(s.refused).toEqual(['offline:unsigned']);
    await s.done();
    const plain = await setUp(NO_KEY);
    await writeFeatureRows(plain.t.store, plain.version, [{ symbol: 'AAPL', date: ROW_DATE, values: Float64Array.from(edited) }]);
    expect((await plain.features.read(plain.version, 'AAPL'))?.values).toEqual(edited);
    expect(await plain.features.rewarm()).toBe(1);
    await plain.done();
  });

  it('binds the signature to the row: values, date, symbol and feature set (a signature copied to another row is refused)', async () => {
    const s = await setUp(SIGNING);
    await writeFeatureRows(s.t.store, s.version, [{ symbol: 'AAPL', date: ROW_DATE, values: Float64Array.from(honestValues) }], SIGNING);
    const aapl = await s.t.store.db.selectFrom('feature_rows').selectAll().where('symbol', '=', 'AAPL').executeTakeFirstOrThrow();
    expect(aapl.signature).toMatch(/^[0-9a-f]{64}$/);
    // MSFT's row holds AAPL's values and signature.
    await s.t.store.db.insertInto('feature_rows').values({ ...aapl, symbol: 'MSFT' }).execute();
    await expect(s.features.read(s.version, 'MSFT')).rejects.toThrow('its signature does not match it');
    // AAPL's row moved to a later date.
    await s.t.store.db.updateTable('feature_rows').set({ date: '2024-06-30' }).where('symbol', '=', 'AAPL').execute();
    await expect(s.features.read(s.version, 'AAPL')).rejects.toThrow('its signature does not match it');
    // The signature removed.
    await s.t.store.db.updateTable('feature_rows').set({ signature: null, signature_key_id: null }).where('symbol', '=', 'AAPL').execute();
    await expect(s.features.read(s.version, 'AAPL')).rejects.toThrow('it carries no signature');
    // Another key's signature.
    const other = await setUp({ signingKey: 'another-signing-key-0123456789abcdef-01' });
    await writeFeatureRows(other.t.store, s.version, [{ symbol: 'AAPL', date: ROW_DATE, values: Float64Array.from(honestValues) }], SIGNING);
    await expect(other.features.read(s.version, 'AAPL')).rejects.toThrow(/signed with another key \(key id [0-9a-f]{8}\), neither this deployment.s MODEL_SIGNING_KEY \(key id [0-9a-f]{8}\)/);
    await other.done();
    // During a rotation (the old key in MODEL_SIGNING_PREVIOUS_KEYS) the old key's row is served.
    const rotating = await setUp({ signingKey: 'another-signing-key-0123456789abcdef-01', previousKeys: [SIGNING.signingKey as string] });
    await writeFeatureRows(rotating.t.store, s.version, [{ symbol: 'AAPL', date: ROW_DATE, values: Float64Array.from(honestValues) }], SIGNING);
    expect((await rotating.features.read(s.version, 'AAPL'))?.values).toEqual(honestValues);
    await rotating.done();
    await s.done();
  });

  it('a key rotation: offline rows the previous key signed are served and re-warmed, counted each time and logged once per key, as online vectors are', async () => {
    const s = await setUp({ signingKey: 'the-new-row-signing-key-0123456789abcdef', previousKeys: [SIGNING.signingKey as string] });
    await writeFeatureRows(s.t.store, s.version, [{ symbol: 'AAPL', date: ROW_DATE, values: Float64Array.from(honestValues) }, { symbol: 'MSFT', date: ROW_DATE, values: Float64Array.from(edited) }], SIGNING);
    const oldKeyId = (await s.t.store.db.selectFrom('feature_rows').select('signature_key_id').where('symbol', '=', 'AAPL').executeTakeFirstOrThrow()).signature_key_id;
    // Before: served, but neither counted nor logged.
    for (let i = 0; i < 3; i++) expect((await s.features.read(s.version, 'AAPL'))?.values).toEqual(honestValues);
    expect(s.previousKeyRows).toEqual([oldKeyId, oldKeyId, oldKeyId]);
    expect(s.logged.filter((l) => l.event === 'features.offline_row_previous_key')).toEqual([expect.objectContaining({ keyId: oldKeyId, action: expect.stringContaining('mlp features recompute') })]);
    // The re-warm publishes both, signed with the current key: counted, not logged again.
    expect(await s.features.rewarm()).toBe(2);
    expect(s.previousKeyRows).toHaveLength(5);
    expect(s.logged.filter((l) => l.event === 'features.offline_row_previous_key')).toHaveLength(1);
    // Rows the current key signed are not counted.
    await writeFeatureBatch(s.t.store, s.version, { added: [], replaced: [{ symbol: 'AAPL', date: ROW_DATE, values: Float64Array.from(honestValues) }] }, { signingKey: 'the-new-row-signing-key-0123456789abcdef' });
    await s.cache.delete(key('AAPL').replace(VERSION, s.version));
    expect((await s.features.read(s.version, 'AAPL'))?.values).toEqual(honestValues);
    expect(s.previousKeyRows).toHaveLength(5);
    await s.done();
  });

  it('counts and logs the offline fallback for a missing online vector, and re-warms verified rows signed', async () => {
    const s = await setUp(SIGNING);
    await writeFeatureRows(s.t.store, s.version, [{ symbol: 'AAPL', date: ROW_DATE, values: Float64Array.from(honestValues) }], SIGNING);
    for (let i = 0; i < 3; i++) expect((await s.features.read(s.version, 'AAPL'))?.asOf).toBe(ROW_DATE);
    expect(s.fallbacks).toEqual(['missing', 'missing', 'missing']);
    expect(s.logged.filter((l) => l.event === 'features.online_vector_missing')).toEqual([expect.objectContaining({ version: s.version, symbol: 'AAPL', fallback: 'offline store' })]);
    expect(await s.features.rewarm()).toBe(1);
    const rewarmed = await readOnlineFeatures(s.cache, s.version, 'AAPL', '2024-07-01', SIGNING);
    expect(rewarmed).toMatchObject({ asOf: ROW_DATE, values: honestValues });
    expect(await s.features.read(s.version, 'AAPL')).toMatchObject({ values: honestValues });
    expect(s.fallbacks).toHaveLength(3);
    await s.done();
  });

  it('a replaced row is signed again; without the key a signed row is not replaced (refused, the row kept)', async () => {
    const t = await createSqliteTestDatabase();
    const { version } = await saveTestFeatureSet(t.store, returnsFeatureSet('signed-offline-replace'));
    const row = (values: number[]) => ({ symbol: 'AAPL', date: ROW_DATE, values: Float64Array.from(values) });
    await writeFeatureBatch(t.store, version, { added: [row(honestValues)], replaced: [] }, SIGNING);
    const read = () => readOfflineLatest(t.store, version, 'AAPL', undefined, '2024-07-01', undefined, SIGNING);
    expect((await read())?.values).toEqual(honestValues);
    await writeFeatureBatch(t.store, version, { added: [], replaced: [row([1, 2, 3, 4, 5])] }, SIGNING);
    expect((await read())?.values).toEqual([1, 2, 3, 4, 5]);
    await expect(writeFeatureBatch(t.store, version, { added: [], replaced: [row([5, 4, 3, 2, 1])] })).rejects.toThrow(UnsignedOverSignedRowError);
    expect((await read())?.values).toEqual([1, 2, 3, 4, 5]);
    await t.drop();
  });
});

describe('sampling the online store for signed vectors (the start-up rule)', () => {
  it('finds a signed vector among unsigned ones, with its symbol, date, feature set and key id', async () => {
    const cache = new MemoryCache();
    await publishOnlineFeatures(cache, [vector('AAA', [1]), vector('BBB', [2])]);
    await cache.set('features:updated', 'x'); // not a vector key
    await cache.set('other:features:latest:fs-test:CCC', '{"signature":{}}'); // not under the prefix
    expect(await sampleSignedOnlineVector(cache)).toEqual({ examined: 2, complete: true });
    await publishOnlineFeatures(cache, [vector('CCC', [3])], SIGNING);
    expect(await sampleSignedOnlineVector(cache)).toEqual({ examined: 3, complete: true, signed: { version: VERSION, symbol: 'CCC', asOf: '2024-01-04', keyId: signingKeyId(KEY) } });
  });

  it('stops at maxVectors; the memory cache scans the keys under a prefix, glob characters included', async () => {
    const cache = new MemoryCache();
    await publishOnlineFeatures(cache, ['A', 'B', 'C', 'D', 'E'].map((s) => vector(s, [1])));
    expect(await sampleSignedOnlineVector(cache, { maxVectors: 2 })).toEqual({ examined: 2, complete: false });
    expect((await cache.scan('features:latest:', '0', 10)).keys.sort()).toEqual(['A', 'B', 'C', 'D', 'E'].map(key));
    expect(await cache.scan('features:latest:fs-test:C', '0', 10)).toEqual({ cursor: '0', keys: [key('C')] });
    await cache.set('features:latest:fs-[x]*:A', 'x');
    expect((await cache.scan('features:latest:fs-[x]*', '0', 10)).keys).toEqual(['features:latest:fs-[x]*:A']);
  });
});

describe('the date of a stored vector', () => {
  const raw = (asOf: string) => JSON.stringify({ version: VERSION, symbol: 'AAA', asOf, columns: ['a'], values: [1] });
  const problemOf = (asOf: string, today: string) => {
    try {
      parseStoredVector(raw(asOf), VERSION, 'AAA', today);
      return undefined;
    } catch (e) {
      return (e as InvalidOnlineVectorError).problem;
    }
  };

  it("is judged by New York's date: on a Sunday evening (Monday in UTC) Monday's session has no vector yet", () => {
    // 2026-12-07 00:30 UTC is Sunday 19:30 in New York: the UTC date let a vector dated Monday pass as current.
    const today = marketToday(new Date('2026-12-07T00:30:00Z'));
    expect(today).toBe('2026-12-06');
    expect(problemOf('2026-12-07', today)).toBe('future_date');
    expect(problemOf('2026-12-04', today)).toBeUndefined();
  });

  it('must be a session: no bar, so no vector, is dated a weekend or an NYSE holiday', () => {
    expect(problemOf('2026-12-05', '2026-12-06')).toBe('non_session_date'); // a Saturday
    expect(problemOf('2026-11-26', '2026-12-06')).toBe('non_session_date'); // Thanksgiving
    expect(problemOf('2026-11-27', '2026-12-06')).toBeUndefined(); // the half day after it
  });
});
