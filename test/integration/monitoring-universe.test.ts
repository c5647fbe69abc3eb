/**
 * Feature drift and freshness are judged on the model's own symbols (its training universe), not on
 * every symbol the feature set was materialised for: a feature set serves a whole store, and the
 * reference profile describes only the symbols the model was trained on.
 */
import { computeModelReport } from '../../lib/monitoring/model-report';
import { evaluateModelReport, parseMonitoringRules } from '../../lib/monitoring/monitoring-rules';
import { saveReferenceProfile, SIGNED_PROFILE_LINEAGE_KEY, signVersionProfile } from '../../lib/monitoring/profile-store';
import { getModelVersion, type ModelVersion } from '../../lib/registry/model-registry';
import { PROFILE_RECORD_SCHEME, signProfileRecord } from '../../lib/registry/row-signature';
import { buildReferenceProfile, type ReferenceProfile } from '../../lib/monitoring/reference-profile';
import { readLiveFeatureWindow } from '../../lib/monitoring/live-window';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { rng } from '../../lib/random';
import { writeFeatureRows } from '../../lib/store/features';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { ORACLE_COLUMN, ORACLE_COLUMNS, oracleFeatureSet, registerOracleModel } from '../helpers/oracle-models';
import { saveTestFeatureSet } from '../helpers/registration';

const DAYS = nyseTradingDaysBetween('2017-01-03', '2017-12-29');
const REF_DAYS = DAYS.slice(0, 200);
const LIVE_DAYS = DAYS.slice(200, 220);
/** The model's 20 symbols among 320 of the feature set. */
const UNIVERSE = Array.from({ length: 20 }, (_, i) => `U${i}`);
const OTHERS = Array.from({ length: 300 }, (_, i) => `X${i}`);

/** The universe's training rows: both columns ~ U(-0.5, 0.5) plus a daily market move. */
function profileOf(model: string, version: number, featureSetVersion: string, seed: number): ReferenceProfile {
  const next = rng(seed);
  const n = REF_DAYS.length * UNIVERSE.length;
  const values = new Float64Array(n * 2);
  const day = new Int32Array(n);
  let r = 0;
  for (let d = 0; d < REF_DAYS.length; d++) {
    const m = (next() - 0.5) * 0.2;
    for (let s = 0; s < UNIVERSE.length; s++, r++) {
      values[r * 2] = next() - 0.5 + m;
      values[r * 2 + 1] = next() - 0.5 + m;
      day[r] = d;
    }
  }
  return buildReferenceProfile({ model, version, featureSetVersion, features: { columns: ORACLE_COLUMNS, rows: n, values, day }, dayLabels: REF_DAYS, symbols: UNIVERSE });
}

/** Live rows after the reference period; `shift` moves the first column of the universe's or of the other symbols' rows by +3. */
/** The live rows, signed by `signingKey` when given (monitoring under a key judges only rows whose signature holds). */
async function writeLiveRows(t: TestDatabase, featureSetVersion: string, shift: 'universe' | 'others', seed: number, signingKey?: string): Promise<void> {
  const next = rng(seed);
  const rows: Array<{ symbol: string; date: string; values: Float64Array }> = [];
  for (const date of LIVE_DAYS) {
    const m = (next() - 0.5) * 0.2;
    for (const symbol of [...UNIVERSE, ...OTHERS]) {
      const moved = symbol.startsWith('U') === (shift === 'universe') ? 3 : 0;
      rows.push({ symbol, date, values: Float64Array.of(next() - 0.5 + m + moved, next() - 0.5 + m) });
    }
  }
  await writeFeatureRows(t.store, featureSetVersion, rows, signingKey === undefined ? undefined : { signingKey });
}

describe.each(DRIVERS)('monitoring judges the model\'s own symbols on %s', (_driver, create) => {
  let t: TestDatabase;
  let artifactDir: string;
  const rules = parseMonitoringRules({});
  beforeAll(async () => {
    t = await create();
    artifactDir = tempDir('mlp-monitoring-universe-');
  });
  afterAll(async () => {
    await t?.drop();
  });

  /** A registered model on its own feature set, with live rows shifted for `shift`, and its profile as `profile` makes it. */
  async function seeded(name: string, shift: 'universe' | 'others', options: { lineage?: Record<string, unknown>; profile?: (p: ReferenceProfile) => ReferenceProfile } = {}) {
    const featureSetVersion = (await saveTestFeatureSet(t.store, oracleFeatureSet(`universe-${name}`))).version;
    const version = await registerOracleModel(t.store, artifactDir, { name, seed: 1, flip: false, featureSetVersion, ...(options.lineage ? { lineage: options.lineage } : {}) });
    const profile = (options.profile ?? ((p) => p))(profileOf(name, version, featureSetVersion, 5));
    // Stored under the registered version whatever the profile says it describes (a row moved or replaced by hand).
    if (profile.model === name && profile.version === version) expect((await saveReferenceProfile(t.store, profile)).stored).toBe(true);
    else await t.store.db.insertInto('model_reference_profiles').values({ name, version, profile: JSON.stringify(profile), created_at: profile.createdAt }).execute();
    await writeLiveRows(t, featureSetVersion, shift, 6);
    const report = await computeModelReport(t.store, { id: `mr-universe-${name}`, target: { model: name, version, variants: ['champion'], champion: true }, windowDays: 20, rules, now: new Date('2018-01-02T12:00:00Z'), verify: {} });
    return { featureSetVersion, profile, report };
  }

  it('reads the live window of the given symbols only', async () => {
    const { featureSetVersion, profile } = await seeded('window', 'universe');
    const all = await readLiveFeatureWindow(t.store, featureSetVersion, { days: 20, after: profile.period.to });
    expect(all.rows).toBe(LIVE_DAYS.length * (UNIVERSE.length + OTHERS.length));
    const own = await readLiveFeatureWindow(t.store, featureSetVersion, { days: 20, after: profile.period.to, symbols: UNIVERSE });
    expect(own.rows).toBe(LIVE_DAYS.length * UNIVERSE.length);
    expect(own.dates).toEqual(LIVE_DAYS);
    expect((await readLiveFeatureWindow(t.store, featureSetVersion, { days: 20, symbols: [] })).rows).toBe(0);
  });

  it('reports the drift of the model\'s symbols, not that of the other symbols of the feature set', async () => {
    const drifted = (await seeded('own-drift', 'universe')).report;
    expect(drifted.universe).toMatchObject({ source: 'profile', symbols: 20 });
    expect(drifted.drift.window.rows).toBe(LIVE_DAYS.length * UNIVERSE.length);
    expect(drifted.drift.status).toBe('drift');
    expect(drifted.drift.drifted).toEqual([ORACLE_COLUMN]);
    // Freshness over the same 20 symbols (no bars here: all of them without one).
    expect(drifted.freshness.symbols).toBe(20);

    const others = (await seeded('others-drift', 'others')).report;
    expect(others.drift.status).toBe('stable');
    expect(others.drift.drifted).toEqual([]);
  });

  it('takes the universe from the registry lineage when the profile lists no symbols, and says when it has neither', async () => {
    const noList = (p: ReferenceProfile) => ({ ...p, symbols: [] });
    const fromLineage = (await seeded('lineage', 'universe', { profile: noList, lineage: { universe: { source: 'symbols', requested: [...UNIVERSE, 'GONE'], trained: UNIVERSE } } })).report;
    expect(fromLineage.universe).toMatchObject({ source: 'lineage', symbols: 20 });
    expect(fromLineage.drift.window.rows).toBe(LIVE_DAYS.length * UNIVERSE.length);
    expect(fromLineage.drift.drifted).toEqual([ORACLE_COLUMN]);

    // Neither: the whole store is judged, and the report says so (the drift is diluted by the 300 others here).
    const whole = (await seeded('whole-store', 'universe', { profile: noList })).report;
    expect(whole.universe).toMatchObject({ source: 'store', symbols: null });
    expect(whole.drift.window.rows).toBe(LIVE_DAYS.length * (UNIVERSE.length + OTHERS.length));
    expect(whole.drift.reason).toMatch(/judged over every symbol in the store, not the model's universe: the reference profile lists no symbols/);
    expect(whole.freshness.reason).toMatch(/judged over every symbol in the store/);
  });

  it('does not use a stored profile that is not the version\'s (another model\'s, dated after registration, short of a symbol it trained on): drift unavailable, alerted', async () => {
    const lineage = { universe: { source: 'symbols', requested: UNIVERSE, trained: UNIVERSE } };
    const honest = (await seeded('profile-honest', 'universe', { lineage })).report;
    expect([honest.reference.problem, honest.drift.status]).toEqual([undefined, 'drift']);
    const cases: Array<[string, (p: ReferenceProfile) => ReferenceProfile, RegExp]> = [
      ['profile-other', (p) => ({ ...p, model: 'someone-else', version: 42 }), /describes someone-else v42/],
      ['profile-fs', (p) => ({ ...p, featureSetVersion: 'fs-other' }), /describes feature set fs-other, not the version's/],
      ['profile-2099', (p) => ({ ...p, period: { ...p.period, to: '2099-12-31' } }), /describes training days through 2099-12-31, after the version was registered/],
      ['profile-short', (p) => ({ ...p, symbols: p.symbols.slice(1) }), /lists 19 symbols, not the 20 the registry lineage says it trained on \(without U0\)/],
    ];
    for (const [name, edit, problem] of cases) {
      const { report } = await seeded(name, 'universe', { lineage, profile: (p) => edit(p) });
      expect({ name, problem: report.reference.problem, drift: report.drift.status }).toEqual({ name, problem: expect.stringMatching(problem), drift: 'unavailable' });
      // Judged over the signed lineage's universe instead, and alerted.
      expect(report.universe).toMatchObject({ source: 'lineage', symbols: 20 });
      const alerts = evaluateModelReport(report, rules).findings.map((f) => f.alert);
      expect(alerts).toContainEqual(expect.objectContaining({ rule: 'artifact_damaged', subject: `reference profile of model ${name} v1`, message: expect.stringMatching(problem) }));
    }
  });

  it('with the signing key, uses only a profile whose own signature holds: an edit of its distributions, an unsigned or another key\'s profile is alerted', async () => {
    const key = 'profile-signing-key-0123456789abcdef0123';
    const oldKey = 'profile-signing-old-key-0123456789abcdef';
    const lineage = { universe: { source: 'symbols', requested: UNIVERSE, trained: UNIVERSE } };
    /** A signed version with its profile stored as `store` does it, and the report under `key`. */
    async function signedCase(name: string, store: (profile: ReferenceProfile, owner: ModelVersion) => Promise<void>) {
      const featureSetVersion = (await saveTestFeatureSet(t.store, oracleFeatureSet(`universe-${name}`))).version;
      const version = await registerOracleModel(t.store, artifactDir, { name, seed: 1, flip: false, featureSetVersion, lineage, signing: { signingKey: key } });
      const owner = await getModelVersion(t.store, name, version);
      await store(profileOf(name, version, featureSetVersion, 5), owner);
      await writeLiveRows(t, featureSetVersion, 'universe', 6, key);
      const report = () => computeModelReport(t.store, { id: `mr-signed-${name}`, target: { model: name, version, variants: ['champion'], champion: true }, windowDays: 20, rules, now: new Date('2018-01-02T12:00:00Z'), verify: { signing: { signingKey: key } } });
      return { owner, report };
    }
    const signedBy = (k: string) => async (profile: ReferenceProfile, owner: ModelVersion) => {
      expect((await saveReferenceProfile(t.store, profile, (text) => signProfileRecord(k, owner, text))).stored).toBe(true);
    };

    const honest = await (await signedCase('signed-honest', signedBy(key))).report();
    expect([honest.reference.problem, honest.drift.status, honest.drift.drifted]).toEqual([undefined, 'drift', [ORACLE_COLUMN]]);

    // The first column's distribution edited to look like the live rows' (the drift silenced), the signature left as it was.
    const edited = await signedCase('signed-edited', async (profile, owner) => {
      await signedBy(key)(profile, owner);
      const row = await t.store.db.selectFrom('model_reference_profiles').select('profile').where('name', '=', owner.name).executeTakeFirstOrThrow();
      const json = JSON.parse(row.profile) as { features: Array<{ edges: number[] }> };
      json.features[0].edges = json.features[0].edges.map((e) => e + 3);
      await t.store.db.updateTable('model_reference_profiles').set({ profile: JSON.stringify(json) }).where('name', '=', owner.name).execute();
    });
    const editedReport = await edited.report();
    expect([editedReport.reference.problem, editedReport.drift.status]).toEqual([expect.stringMatching(/signature of the reference profile stored for signed-edited v1 does not match it/), 'unavailable']);
    expect(evaluateModelReport(editedReport, rules).findings.map((f) => f.alert)).toContainEqual(expect.objectContaining({ rule: 'artifact_damaged', subject: 'reference profile of model signed-edited v1' }));

    // Stored without a signature (before profiles were signed): alerted, with the command that signs it; signing needs --accept-profile; alerted as a warning.
    const unsigned = await signedCase('signed-unsigned', async (profile) => {
      expect((await saveReferenceProfile(t.store, profile)).stored).toBe(true);
    });
    const unsignedReport = await unsigned.report();
    expect(unsignedReport.reference.problem).toMatch(/carries no signature/);
    expect(evaluateModelReport(unsignedReport, rules).findings.map((f) => f.alert)).toContainEqual(expect.objectContaining({ severity: 'warning', message: expect.stringMatching(/mlp models sign signed-unsigned 1 --accept-profile/) }));
    await expect(signVersionProfile(t.store, unsigned.owner, { signingKey: key })).rejects.toThrow(/carries no signature.*it was not signed/);
    expect(await signVersionProfile(t.store, unsigned.owner, { signingKey: key }, { acceptEdit: true })).toEqual({ state: 'signed', before: 'unsigned' });
    expect((await unsigned.report()).drift.status).toBe('drift');
    expect(await signVersionProfile(t.store, unsigned.owner, { signingKey: key })).toEqual({ state: 'valid' });

    // Signed with the key before a rotation: not used by a process without the old key in MODEL_SIGNING_PREVIOUS_KEYS; re-signed on the old key's word, without --accept-edit.
    const rotated = await signedCase('signed-rotated', signedBy(oldKey));
    expect((await rotated.report()).reference.problem).toMatch(/is signed with another key \(key id [0-9a-f]{8}\), neither this deployment's MODEL_SIGNING_KEY/);
    // Before: monitoring never read MODEL_SIGNING_PREVIOUS_KEYS, so a rotation cut drift off until the profile was re-signed.
    const duringRotation = await computeModelReport(t.store, { id: 'mr-signed-rotating', target: { model: rotated.owner.name, version: rotated.owner.version, variants: ['champion'], champion: true }, windowDays: 20, rules, now: new Date('2018-01-02T12:00:00Z'), verify: { signing: { signingKey: key, previousKeys: [oldKey] } } });
    expect([duringRotation.reference.problem, duringRotation.drift.status]).toEqual([undefined, 'drift']);
    await expect(signVersionProfile(t.store, rotated.owner, { signingKey: key })).rejects.toThrow(/it was not signed/);
    expect(await signVersionProfile(t.store, rotated.owner, { signingKey: key, previousKeys: [oldKey] })).toEqual({ state: 'signed', before: 'previous_key' });
    expect((await rotated.report()).reference.problem).toBeUndefined();
    // An edited profile is not re-signed on a previous key's word.
    await expect(signVersionProfile(t.store, edited.owner, { signingKey: key, previousKeys: [oldKey] })).rejects.toThrow(/does not match it/);
  });

  it('with the signing key, alerts a missing or unsigned profile of a version whose signed row says its run stored it signed: deleted, or edited', async () => {
    const key = 'profile-deleted-key-0123456789abcdef01234';
    /** A version registered as a training run with the key registers it (its row saying the profile is stored signed, or, `older`, not), its profile stored signed, then `tamper`. */
    async function registered(name: string, tamper: (name: string) => Promise<unknown>, options: { older?: boolean } = {}) {
      const featureSetVersion = (await saveTestFeatureSet(t.store, oracleFeatureSet(`universe-${name}`))).version;
      const lineage = { universe: { source: 'symbols', requested: UNIVERSE, trained: UNIVERSE }, ...(options.older ? {} : { [SIGNED_PROFILE_LINEAGE_KEY]: PROFILE_RECORD_SCHEME }) };
      const version = await registerOracleModel(t.store, artifactDir, { name, seed: 1, flip: false, featureSetVersion, lineage, signing: { signingKey: key } });
      const owner = await getModelVersion(t.store, name, version);
      expect((await saveReferenceProfile(t.store, profileOf(name, version, featureSetVersion, 5), (text) => signProfileRecord(key, owner, text))).stored).toBe(true);
      await writeLiveRows(t, featureSetVersion, 'universe', 6);
      await tamper(name);
      const report = await computeModelReport(t.store, { id: `mr-deleted-${name}`, target: { model: name, version, variants: ['champion'], champion: true }, windowDays: 20, rules, now: new Date('2018-01-02T12:00:00Z'), verify: { signing: { signingKey: key } } });
      return { report, alerts: evaluateModelReport(report, rules).findings.map((f) => f.alert).filter((a) => a.rule !== 'data_stale') };
    }
    const remove = (name: string) => t.store.db.deleteFrom('model_reference_profiles').where('name', '=', name).execute();
    const strip = async (name: string) => {
      const row = await t.store.db.selectFrom('model_reference_profiles').select('profile').where('name', '=', name).executeTakeFirstOrThrow();
      const json = JSON.parse(row.profile) as { features: Array<{ edges: number[] }> };
      json.features[0].edges = json.features[0].edges.map((e) => e + 3);
      await t.store.db.updateTable('model_reference_profiles').set({ profile: JSON.stringify(json), signature: null, signature_key_id: null }).where('name', '=', name).execute();
    };

    // Before: no alert at all (drift "unavailable", as for a version registered outside a training run).
    const deleted = await registered('deleted-profile', remove);
    expect(deleted.report.drift.status).toBe('unavailable');
    expect(deleted.alerts).toEqual([expect.objectContaining({ rule: 'artifact_damaged', severity: 'critical', subject: 'reference profile of model deleted-profile v1', message: expect.stringMatching(/is missing, though its signed registry row says its training run stored one, signed: it was deleted/) })]);
    expect(deleted.alerts[0].message).not.toMatch(/accept-profile/);

    // Before: a warning telling the operator to sign the edited profile.
    const stripped = await registered('stripped-profile', strip);
    expect(stripped.alerts).toEqual([expect.objectContaining({ rule: 'artifact_damaged', severity: 'critical', message: expect.stringMatching(/has had its signature removed.*it was edited/) })]);
    expect(stripped.alerts[0].message).not.toMatch(/accept-profile/);

    // A version whose row does not say so (registered before profiles were signed): as before.
    expect((await registered('older-deleted', remove, { older: true })).alerts).toEqual([]);
    const olderStripped = await registered('older-stripped', strip, { older: true });
    expect(olderStripped.alerts).toEqual([expect.objectContaining({ rule: 'artifact_damaged', severity: 'warning', message: expect.stringMatching(/--accept-profile/) })]);
  });
});
