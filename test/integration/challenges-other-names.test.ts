/**
 * Challenges under other model names on the same outcomes count against a new challenger. The
 * ledger (promotion_challenges) is an unsigned table: deleting another name's rows, or editing that
 * name's registry rows so their outcomes no longer match, made a challenger after five runs on the
 * same label, universe and period challenge 1 again (level 0.025 instead of 0.00119), and a p of
 * 0.004 was promoted. The count is never below what the signed registry shows under every name, and
 * with the signing key a row whose signature fails counts as a run. Both drivers, on judgeChallenge
 * and earlierRunTrials directly.
 */
import { earlierRunTrials, judgeChallenge, type ChallengeIdentity } from '../../lib/registry/challenges';
import { toVersion } from '../../lib/registry/model-registry';
import { challengeLevel, type ChallengeCount } from '../../lib/registry/promotion';
import { signRow, type RowSigning } from '../../lib/registry/row-signature';
import type { Database } from '../../lib/store/database';
import { DRIVERS, type TestDatabase } from '../helpers/databases';

const KEY = 'other-names-ledger-signing-key-0123456789';
const signing: RowSigning = { signingKey: KEY, previousKeys: [] };
const period = { from: '2018-01-02', to: '2018-06-29' };
const label = { kind: 'direction', horizon: 5 };
const universe = ['AAPL', 'MSFT', 'XOM', 'JPM'];
const P = 0.004;

/** A registry row of a training run on the period, signed with KEY (or not), with the trials its run recorded. */
async function register(store: Database, name: string, version: number, datasetId: string, options: { sign?: boolean; trials?: number; symbols?: string[]; labelOf?: object } = {}): Promise<void> {
  const row = {
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
    metrics: JSON.stringify({ outOfSample: { period, ...(options.trials ? { backtest: { deflatedSharpeTrials: { run: options.trials } } } : {}) } }),
    lineage: JSON.stringify({ universe: { trained: options.symbols ?? universe }, datasetId }),
    created_at: `2018-07-0${version}T00:00:00.000Z`,
    signature: null as string | null,
    signature_key_id: null as string | null,
  };
  if (options.sign !== false) {
    const signature = signRow(KEY, toVersion(row));
    row.signature = signature.mac;
    row.signature_key_id = signature.keyId;
  }
  await store.db.insertInto('model_versions').values(row).execute();
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

function decide(count: ChallengeCount) {
  const { level, text } = challengeLevel(0.05, { challenge: count });
  return { decision: { promote: P < level, reason: `p ${P} vs level ${text}` }, level };
}

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
  async function challengerAfterFive(tamper: (store: Database) => Promise<void>, options: { sign?: boolean } = {}) {
    for (let v = 1; v <= 5; v++) {
      await register(t.store, 'dir-b', v, `ds-b-${v}`, { trials: 10, ...options });
      await judgeChallenge(t.store, identity('dir-b', v, `ds-b-${v}`), noEdge, signing);
    }
    await tamper(t.store);
    await register(t.store, 'dir-a', 1, 'ds-new');
    return judgeChallenge(t.store, identity('dir-a', 1, 'ds-new'), decide, signing);
  }

  it('counts them from the intact ledger: challenge 6, not promoted', async () => {
    const { record, decision } = await challengerAfterFive(async () => undefined);
    expect([record.number, decision.promote]).toEqual([6, false]);
    expect(decision.reason).toMatch(/challenge 6 .*\(5 of the earlier ones on the same outcomes under other model names\)/);
  });

  it('counts them from the signed registry rows when their ledger rows are deleted', async () => {
    const { record, decision } = await challengerAfterFive((store) => store.db.deleteFrom('promotion_challenges').where('model', '=', 'dir-b').execute().then(() => undefined));
    expect([record.number, record.level.toPrecision(3), decision.promote]).toEqual([6, '0.00119', false]);
  });

  it('with the key, counts a row of another name whose signature fails (its outcomes edited) as a run', async () => {
    const edit = (store: Database) => store.db.updateTable('model_versions').set({ lineage: JSON.stringify({ universe: { trained: ['ZZZ1', 'ZZZ2'] } }) }).where('name', '=', 'dir-b').execute();
    const { record, decision } = await challengerAfterFive(async (store) => {
      await edit(store);
    });
    expect([record.number, decision.promote]).toEqual([6, false]);
    expect(decision.reason).toMatch(/signature does not hold/);
  });

  it('with the key, counts a row of another name whose signature was removed as a run, ledger deleted too', async () => {
    const { record, decision } = await challengerAfterFive(async (store) => {
      await store.db.deleteFrom('promotion_challenges').where('model', '=', 'dir-b').execute();
      await store.db.updateTable('model_versions').set({ lineage: JSON.stringify({ universe: { trained: ['ZZZ1'] } }), signature: null, signature_key_id: null }).where('name', '=', 'dir-b').execute();
    });
    expect([record.number, decision.promote]).toEqual([6, false]);
  });

  it('does not count signed rows of other names on other outcomes', async () => {
    await register(t.store, 'vol', 1, 'ds-vol', { labelOf: { kind: 'volatility_regime', horizon: 5 } });
    await register(t.store, 'elsewhere', 1, 'ds-else', { symbols: ['ZZZ1', 'ZZZ2', 'ZZZ3'] });
    await register(t.store, 'dir-a', 1, 'ds-new');
    const { record, decision } = await judgeChallenge(t.store, identity('dir-a', 1, 'ds-new'), decide, signing);
    expect([record.number, decision.promote]).toEqual([1, true]);
  });

  it('adds the runs under other names to a thinned ledger of the own name instead of letting one hide the other', async () => {
    // Two runs of dir-a (its ledger deleted), three of dir-b (ledger intact): the challenger is the 6th.
    for (let v = 1; v <= 3; v++) {
      await register(t.store, 'dir-b', v, `ds-b-${v}`);
      await judgeChallenge(t.store, identity('dir-b', v, `ds-b-${v}`), noEdge, signing);
    }
    for (let v = 1; v <= 2; v++) {
      await register(t.store, 'dir-a', v, `ds-a-${v}`);
      await judgeChallenge(t.store, identity('dir-a', v, `ds-a-${v}`), noEdge, signing);
    }
    await t.store.db.deleteFrom('promotion_challenges').where('model', '=', 'dir-a').execute();
    await register(t.store, 'dir-a', 3, 'ds-new');
    const { record } = await judgeChallenge(t.store, identity('dir-a', 3, 'ds-new'), decide, signing);
    expect(record.number).toBe(6);
  });

  it('earlierRunTrials counts the runs and trials the signed registry shows when the ledger rows are deleted or the rows edited', async () => {
    for (let v = 1; v <= 5; v++) {
      await register(t.store, 'dir-b', v, `ds-b-${v}`, { trials: 10 });
      await judgeChallenge(t.store, identity('dir-b', v, `ds-b-${v}`), noEdge, signing);
    }
    const target = { model: 'dir-a', datasetId: 'ds-new', period, outcomes: { label, symbols: universe } };
    expect(await earlierRunTrials(t.store, target, signing)).toEqual({ runs: 5, trials: 50 });
    await t.store.db.deleteFrom('promotion_challenges').where('model', '=', 'dir-b').execute();
    expect(await earlierRunTrials(t.store, target, signing)).toEqual({ runs: 5, trials: 50 });
    await t.store.db.updateTable('model_versions').set({ lineage: JSON.stringify({ universe: { trained: ['ZZZ1'] } }) }).where('name', '=', 'dir-b').execute();
    expect((await earlierRunTrials(t.store, target, signing)).runs).toBe(5);
  });
});
