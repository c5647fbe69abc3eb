/**
 * Challenges under other model names on the same outcomes count towards a challenger's number
 * whatever promotion_challenges still holds: the registry rows (signed, never updated) state each
 * run's label, universe, evaluation period and dataset, and are counted by what they state. Deleting
 * or editing another name's ledger rows made a challenger after five runs on the same outcomes
 * challenge 1 again (level 0.025 instead of 0.00119), and a p of 0.004 was promoted.
 *
 * Only a row signed by a key this deployment holds whose signature fails is an edit: the promotion is
 * refused and the reason names it. Rows registered without the key or signed with a dropped key count
 * as what they state, with a note: 300 of them among 2,000 versions must not make a new model
 * challenge 301. judgeChallenge and earlierRunTrials directly, on both drivers.
 */
import { earlierRunTrials, judgeChallenge, type ChallengeIdentity } from '../../lib/registry/challenges';
import { toVersion } from '../../lib/registry/model-registry';
import { challengeLevel, type ChallengeCount } from '../../lib/registry/promotion';
import { NO_ROW_SIGNING, signRow, type RowSigning } from '../../lib/registry/row-signature';
import type { Database } from '../../lib/store/database';
import type { ModelVersionsTable } from '../../lib/store/schema';
import { DRIVERS, type TestDatabase } from '../helpers/databases';

const KEY = 'other-names-ledger-signing-key-0123456789';
/** A key the deployment used before and dropped after re-signing (not in MODEL_SIGNING_PREVIOUS_KEYS any more). */
const DROPPED_KEY = 'dropped-ledger-signing-key-9876543210abcdef';
const signing: RowSigning = { signingKey: KEY, previousKeys: [] };
const period = { from: '2018-01-02', to: '2018-06-29' };
const label = { kind: 'direction', horizon: 5 };
const universe = ['AAPL', 'MSFT', 'XOM', 'JPM'];
const P = 0.004;

interface RowOptions {
  /** Which key signs the row: KEY (default), DROPPED_KEY, or none. */
  signWith?: string | null;
  trials?: number;
  symbols?: string[];
  labelOf?: object;
  periodOf?: { from: string; to: string };
  createdAt?: string;
}

/** A registry row of a training run, signed as options say, with the trials its run recorded. */
function registryRow(name: string, version: number, datasetId: string, options: RowOptions = {}): ModelVersionsTable {
  const row: ModelVersionsTable = {
    name,
    version,
    artifact_sha256: 'ab'.repeat(32),
    artifact_bytes: 100,
    algorithm: 'logistic_regression',
    params: '{}',
    seed: version,
    feature_set_version: 'fs-x',
    label: JSON.stringify(options.labelOf ?? label),
    snapshot_id: null,
    snapshot_hash: null,
    code_version: 'c',
    workflow_id: `wf-${name}-${version}`,
    run_id: 'r1',
    registration_key: `${name}-${version}`,
    metrics: JSON.stringify({ outOfSample: { period: options.periodOf ?? period, ...(options.trials ? { backtest: { deflatedSharpeTrials: { run: options.trials } } } : {}) } }),
    lineage: JSON.stringify({ universe: { trained: options.symbols ?? universe }, datasetId }),
    created_at: options.createdAt ?? `2018-07-${String(1 + (version % 28)).padStart(2, '0')}T00:00:00.000Z`,
    signature: null,
    signature_key_id: null,
  };
  const key = options.signWith === undefined ? KEY : options.signWith;
  if (key !== null) {
    const signature = signRow(key, toVersion(row));
    row.signature = signature.mac;
    row.signature_key_id = signature.keyId;
  }
  return row;
}

async function register(store: Database, name: string, version: number, datasetId: string, options: RowOptions = {}): Promise<void> {
  await store.db.insertInto('model_versions').values(registryRow(name, version, datasetId, options)).execute();
}

const identity = (model: string, version: number, datasetId: string): ChallengeIdentity => ({
  key: `wf-${model}-${version}/r1`,
  model,
  championVersion: null,
  challengerVersion: version,
  algorithm: 'logistic_regression',
  algorithmsTested: 1,
  datasetId,
  period,
  metric: 'auc',
  pValue: P,
  outcomes: { label, symbols: universe },
});

/** The promotion judge's test of a p-value at the challenge's level. */
const decideAt = (p: number) => (count: ChallengeCount) => {
  const { level, text } = challengeLevel(0.05, { challenge: count });
  return { decision: { promote: p < level, reason: `p ${p} vs level ${text}` }, level };
};
const decide = decideAt(P);

const noEdge = () => ({ decision: { promote: false, reason: 'no edge' }, level: 0.01 });

describe.each(DRIVERS)('challenges under other model names on the same outcomes (%s)', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  /** Five earlier runs under `dir-b` on the period, each judged; then `tamper`; then dir-a v1's challenge. */
  async function challengerAfterFive(tamper: (store: Database) => Promise<unknown>, options: { rows?: RowOptions; signing?: RowSigning; p?: number } = {}) {
    const keys = options.signing ?? signing;
    for (let v = 1; v <= 5; v++) {
      await register(t.store, 'dir-b', v, `ds-b-${v}`, { trials: 10, ...options.rows });
      await judgeChallenge(t.store, identity('dir-b', v, `ds-b-${v}`), noEdge, keys);
    }
    await tamper(t.store);
    await register(t.store, 'dir-a', 1, 'ds-new', options.rows);
    return judgeChallenge(t.store, { ...identity('dir-a', 1, 'ds-new'), pValue: options.p ?? P }, decideAt(options.p ?? P), keys);
  }

  it('counts them from the intact ledger: challenge 6, not promoted', async () => {
    const { record, decision } = await challengerAfterFive(async () => undefined);
    expect([record.number, decision.promote]).toEqual([6, false]);
    expect(decision.reason).toMatch(/challenge 6 .*\(5 of the earlier ones on the same outcomes under other model names\)/);
  });

  it('counts them from the registry rows when their ledger rows are deleted: challenge 6 at 0.00119, not promoted', async () => {
    const { record, decision } = await challengerAfterFive((store) => store.db.deleteFrom('promotion_challenges').where('model', '=', 'dir-b').execute());
    expect([record.number, record.level.toPrecision(3), decision.promote]).toEqual([6, '0.00119', false]);
  });

  it('counts them from the registry rows without a signing key too', async () => {
    const { record, decision } = await challengerAfterFive((store) => store.db.deleteFrom('promotion_challenges').where('model', '=', 'dir-b').execute(), { rows: { signWith: null }, signing: NO_ROW_SIGNING });
    expect([record.number, decision.promote]).toEqual([6, false]);
  });

  it('counts them when their ledger rows are edited off the outcomes (period, dataset, time)', async () => {
    const { record, decision } = await challengerAfterFive((store) =>
      store.db.updateTable('promotion_challenges').set({ period_from: '1990-01-02', period_to: '1990-12-31', dataset_id: 'ds-elsewhere', created_at: '1991-01-01T00:00:00.000Z' }).where('model', '=', 'dir-b').execute(),
    );
    expect([record.number, decision.promote]).toEqual([6, false]);
  });

  it('refuses the promotion when a registry row of another name on the outcomes fails the signature of a held key, and names it', async () => {
    // dir-b v3's parameters edited (its ledger row still names it); v4's recorded trials edited, its
    // ledger row deleted. Both still state the outcomes: counted, and checked before a promotion.
    // p 0.0001 passes challenge 6's 0.00119: only the edits stop it.
    const { record, decision } = await challengerAfterFive(
      async (store) => {
        await store.db.updateTable('model_versions').set({ params: '{"c":2}' }).where('name', '=', 'dir-b').where('version', '=', 3).execute();
        await store.db.updateTable('model_versions').set({ metrics: JSON.stringify({ outOfSample: { period, backtest: { deflatedSharpeTrials: { run: 1 } } } }) }).where('name', '=', 'dir-b').where('version', '=', 4).execute();
        await store.db.deleteFrom('promotion_challenges').where('model', '=', 'dir-b').where('challenger_version', '=', 4).execute();
      },
      { p: 0.0001 },
    );
    expect([record.number, record.level.toPrecision(3)]).toEqual([6, '0.00119']);
    expect(decision.promote).toBe(false);
    expect(decision.reason).toMatch(/^not promoted: 2 registry rows of other model names on these outcomes fail their signature \(dir-b v3, dir-b v4\) under a key this deployment holds/);
    expect(decision.reason).toMatch(/the judgement counting them as they state: p 0.0001 vs level 0.00119/);
    expect(record.reason).toBe(decision.reason);
    expect(record.promoted).toBe(false);
  });

  it('counts rows registered without the key or signed with a dropped key as what they state, with a note, never as edits', async () => {
    const { record, decision } = await challengerAfterFive(async (store) => {
      await store.db.deleteFrom('promotion_challenges').where('model', '=', 'dir-b').execute();
      await store.db.updateTable('model_versions').set({ signature: null, signature_key_id: null }).where('name', '=', 'dir-b').where('version', '<=', 2).execute();
      const resigned = registryRow('dir-b', 3, 'ds-b-3', { trials: 10, signWith: DROPPED_KEY });
      await store.db.updateTable('model_versions').set({ signature: resigned.signature, signature_key_id: resigned.signature_key_id }).where('name', '=', 'dir-b').where('version', '=', 3).execute();
    });
    expect([record.number, decision.promote]).toEqual([6, false]);
    expect(decision.reason).toMatch(/3 of them counted as their registry rows state, which no key held here vouches for \(dir-b v1, dir-b v2, dir-b v3\)/);
    expect(decision.reason).not.toMatch(/fail their signature/);
  });

  it('does not count rows of other names on other outcomes', async () => {
    await register(t.store, 'vol', 1, 'ds-vol', { labelOf: { kind: 'volatility_regime', horizon: 5 } });
    await register(t.store, 'elsewhere', 1, 'ds-else', { symbols: ['ZZZ1', 'ZZZ2', 'ZZZ3'] });
    // Judged on a period that ended, and judged, before the challenger's began: new outcomes since.
    await register(t.store, 'earlier', 1, 'ds-earlier', { periodOf: { from: '2017-01-03', to: '2017-06-30' }, createdAt: '2017-07-03T00:00:00.000Z' });
    await register(t.store, 'dir-a', 1, 'ds-new');
    const { record, decision } = await judgeChallenge(t.store, identity('dir-a', 1, 'ds-new'), decide, signing);
    expect([record.number, decision.promote]).toEqual([1, true]);
  });

  it('adds the runs under other names to a thinned ledger of the own name', async () => {
    // Two runs of dir-a (its ledger deleted), three of dir-b (ledger deleted too): the challenger is the 6th.
    for (let v = 1; v <= 3; v++) {
      await register(t.store, 'dir-b', v, `ds-b-${v}`);
      await judgeChallenge(t.store, identity('dir-b', v, `ds-b-${v}`), noEdge, signing);
    }
    for (let v = 1; v <= 2; v++) {
      await register(t.store, 'dir-a', v, `ds-a-${v}`);
      await judgeChallenge(t.store, identity('dir-a', v, `ds-a-${v}`), noEdge, signing);
    }
    await t.store.db.deleteFrom('promotion_challenges').execute();
    await register(t.store, 'dir-a', 3, 'ds-new');
    const { record } = await judgeChallenge(t.store, identity('dir-a', 3, 'ds-new'), decide, signing);
    expect(record.number).toBe(6);
  });

  it("counts the model's own unsigned and dropped-key rows after the champion as runs on any period: its own rows are not read as they state", async () => {
    // Four on an earlier period (two unsigned, two signed with a dropped key) and one unsigned on this
    // one: none can be verified with the key, so each is a run on this period, as a row whose
    // signature fails is (they are versions after the champion only, so they cannot add up across names).
    const earlier = { periodOf: { from: '2016-01-04', to: '2016-12-30' }, createdAt: '2017-01-03T00:00:00.000Z' };
    for (let v = 1; v <= 4; v++) await register(t.store, 'solo', v, `ds-solo-${v}`, { ...earlier, signWith: v <= 2 ? null : DROPPED_KEY });
    await register(t.store, 'solo', 5, 'ds-solo-5', { signWith: null });
    await register(t.store, 'solo', 6, 'ds-solo-6');
    const { record, decision } = await judgeChallenge(t.store, identity('solo', 6, 'ds-solo-6'), decide, signing);
    expect([record.number, decision.promote]).toEqual([6, false]);
    // Without the key, every row counts as it states: only v5 is on this period.
    await t.store.db.deleteFrom('promotion_challenges').execute();
    const keyless = await judgeChallenge(t.store, identity('solo', 6, 'ds-solo-6'), decide, NO_ROW_SIGNING);
    expect([keyless.record.number, keyless.decision.promote]).toEqual([2, true]);
  });

  it("counts the model's own runs whose ledger is deleted and whose rows were moved off the period with the signature cleared or given an unknown key id", async () => {
    for (const forged of [{ signature: null, signature_key_id: null }, { signature_key_id: 'feedface' }]) {
      await t.store.db.deleteFrom('model_versions').execute();
      await t.store.db.deleteFrom('promotion_challenges').execute();
      for (let v = 1; v <= 5; v++) {
        await register(t.store, 'solo', v, `ds-solo-${v}`);
        await judgeChallenge(t.store, identity('solo', v, `ds-solo-${v}`), noEdge, signing);
      }
      await t.store.db.deleteFrom('promotion_challenges').execute();
      await t.store.db.updateTable('model_versions').set({ metrics: JSON.stringify({ outOfSample: { period: { from: '1990-01-02', to: '1990-12-31' } } }), ...forged }).where('name', '=', 'solo').execute();
      await register(t.store, 'solo', 6, 'ds-solo-6');
      const { record, decision } = await judgeChallenge(t.store, identity('solo', 6, 'ds-solo-6'), decide, signing);
      expect([record.number, record.level.toPrecision(3), decision.promote]).toEqual([6, '0.00119', false]);
    }
  });

  it.each([
    ['universe', { lineage: JSON.stringify({ universe: { trained: ['QQ1', 'QQ2'] }, datasetId: 'ds-b-1' }) }],
    ['label', { label: JSON.stringify({ kind: 'volatility_regime', horizon: 5 }) }],
  ])("refuses the promotion when the registry rows the ledger names on these outcomes were edited off them (%s), counting them and naming them", async (_what, edit) => {
    const { record, decision } = await challengerAfterFive((store) => store.db.updateTable('model_versions').set(edit).where('name', '=', 'dir-b').execute());
    expect([record.number, record.level.toPrecision(3), decision.promote]).toEqual([6, '0.00119', false]);
    expect(decision.reason).toMatch(/^not promoted: 5 registry rows of other model names on these outcomes fail their signature \(dir-b v1, dir-b v2, dir-b v3, dir-b v4, dir-b v5\) under a key this deployment holds/);
    expect(record.reason).toBe(decision.reason);
  });

  it('names a single edited row in the singular', async () => {
    const { decision } = await challengerAfterFive((store) => store.db.updateTable('model_versions').set({ params: '{"c":2}' }).where('name', '=', 'dir-b').where('version', '=', 2).execute(), { p: 0.0001 });
    expect(decision.reason).toMatch(/^not promoted: 1 registry row of other model names on these outcomes fails its signature \(dir-b v2\) under a key this deployment holds/);
  });

  it('counts the runs the ledger names on these outcomes whose registry rows were deleted', async () => {
    const { record, decision } = await challengerAfterFive((store) => store.db.deleteFrom('model_versions').where('name', '=', 'dir-b').where('version', '<=', 4).execute());
    expect([record.number, record.level.toPrecision(3), decision.promote]).toEqual([6, '0.00119', false]);
    // dir-b's five runs, and dir-a's just judged, for another name's next run on these outcomes.
    const target = { model: 'dir-z', datasetId: 'ds-z', period, outcomes: { label, symbols: universe } };
    expect((await earlierRunTrials(t.store, target)).runs).toBe(6);
  });

  it('does not count the ledger rows on this period whose registry rows, as signed, state other outcomes', async () => {
    // dir-c ran on another universe over the same period: its ledger row names the period, its signed row another universe.
    await register(t.store, 'dir-c', 1, 'ds-c-1', { symbols: ['ZZZ1', 'ZZZ2', 'ZZZ3'] });
    await judgeChallenge(t.store, { ...identity('dir-c', 1, 'ds-c-1'), outcomes: { label, symbols: ['ZZZ1', 'ZZZ2', 'ZZZ3'] } }, noEdge, signing);
    await register(t.store, 'dir-v', 1, 'ds-v-1', { labelOf: { kind: 'volatility_regime', horizon: 5 } });
    await judgeChallenge(t.store, { ...identity('dir-v', 1, 'ds-v-1'), outcomes: { label: { kind: 'volatility_regime', horizon: 5 }, symbols: universe } }, noEdge, signing);
    await register(t.store, 'dir-a', 1, 'ds-new');
    const { record, decision } = await judgeChallenge(t.store, identity('dir-a', 1, 'ds-new'), decide, signing);
    expect([record.number, decision.promote]).toEqual([1, true]);
  });

  it('earlierRunTrials counts the runs and trials the registry rows show when the ledger rows are deleted', async () => {
    for (let v = 1; v <= 5; v++) {
      await register(t.store, 'dir-b', v, `ds-b-${v}`, { trials: 10 });
      await judgeChallenge(t.store, identity('dir-b', v, `ds-b-${v}`), noEdge, signing);
    }
    const target = { model: 'dir-a', datasetId: 'ds-new', period, outcomes: { label, symbols: universe } };
    expect(await earlierRunTrials(t.store, target)).toEqual({ runs: 5, trials: 50 });
    await t.store.db.deleteFrom('promotion_challenges').where('model', '=', 'dir-b').execute();
    expect(await earlierRunTrials(t.store, target)).toEqual({ runs: 5, trials: 50 });
  });

  it('on 2,000 versions of which 300 are unsigned or signed with a dropped key, counts only the runs on the same outcomes', async () => {
    // 1,700 signed and 300 unverifiable rows under 40 names on other outcomes (other universes, labels
    // or periods before the challenger's), and 4 runs on the challenger's outcomes: 2 signed, one
    // unsigned, one signed with the dropped key.
    const rows: ModelVersionsTable[] = [];
    for (let i = 0; i < 1996; i++) {
      const name = `m${i % 40}`;
      const version = Math.floor(i / 40) + 1;
      const kind = i % 3;
      const options: RowOptions = {
        signWith: i < 150 ? null : i < 300 ? DROPPED_KEY : KEY,
        ...(kind === 0 ? { symbols: [`X${i}`, `Y${i}`] } : kind === 1 ? { labelOf: { kind: 'volatility_regime', horizon: 20 } } : { periodOf: { from: '2016-01-04', to: '2016-12-30' }, createdAt: '2017-01-03T00:00:00.000Z' }),
      };
      rows.push(registryRow(name, version, `ds-${i}`, options));
    }
    rows.push(registryRow('same-1', 1, 'ds-s1'), registryRow('same-2', 1, 'ds-s2'), registryRow('same-3', 1, 'ds-s3', { signWith: null }), registryRow('same-4', 1, 'ds-s4', { signWith: DROPPED_KEY }));
    for (let i = 0; i < rows.length; i += 200) await t.store.db.insertInto('model_versions').values(rows.slice(i, i + 200)).execute();
    expect(Number((await t.store.db.selectFrom('model_versions').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)).toBe(2000);

    await register(t.store, 'fresh', 1, 'ds-fresh');
    const { record, decision } = await judgeChallenge(t.store, identity('fresh', 1, 'ds-fresh'), decide, signing);
    expect([record.number, decision.promote]).toEqual([5, false]);
    expect(decision.reason).toMatch(/\(4 of the earlier ones on the same outcomes under other model names; 2 of them counted as their registry rows state, which no key held here vouches for \(same-3 v1, same-4 v1\)\)/);

    // A universe nobody else evaluated: challenge 1 at 0.025, promoted.
    await register(t.store, 'new-universe', 1, 'ds-nu', { symbols: ['NU1', 'NU2', 'NU3'] });
    const alone = await judgeChallenge(t.store, { ...identity('new-universe', 1, 'ds-nu'), outcomes: { label, symbols: ['NU1', 'NU2', 'NU3'] } }, decide, signing);
    expect([alone.record.number, alone.record.level, alone.decision.promote]).toEqual([1, 0.025, true]);
  });
});
