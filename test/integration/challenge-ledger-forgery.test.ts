/**
 * The ledger (promotion_challenges) is an unsigned table: a row under a run's own challenge key is
 * what a retry of that run finds and keeps its number from. A row written there by someone with the
 * database but not the signing key (the key, workflowId/runId, is visible while the run trains)
 * claiming challenge 1, seq 0, recorded in 1970, made the fourth run for the empty champion slot
 * challenge 1 (p below 0.025 instead of 0.0025): a p of 0.02 was promoted after three runs that were
 * not. A retry's number is never below what the signed registry rows show of the runs registered
 * before its version (and the runs under other names before its own registration); a real retry
 * keeps the number its first attempt got. registerAndPromote and judgeChallenge, on both drivers.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { experimentActivities, type RegisterResult } from '../../activities/experiments';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { experimentSchema } from '../../lib/experiments/experiment';
import { judgeChallenge, listChallenges, type ChallengeIdentity } from '../../lib/registry/challenges';
import { aliasVersion, toVersion } from '../../lib/registry/model-registry';
import { challengeLevel, evidenceAgeVeto, type ChallengeCount, type MetricEvidence } from '../../lib/registry/promotion';
import { NO_ROW_SIGNING, signRow, type RowSigning } from '../../lib/registry/row-signature';
import type { Database } from '../../lib/store/database';
import type { ModelVersionsTable } from '../../lib/store/schema';
import type { TaskPool } from '../../lib/threads/task-pool';
import { loadModelRuntimes } from '../../models/algorithms';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { returnsFeatureSet, saveTestFeatureSet, trainedRun } from '../helpers/registration';

const KEY = 'ledger-forgery-signing-key-0123456789abcdef';
const signing: RowSigning = { signingKey: KEY, previousKeys: [] };
const PERIOD = { from: '2019-01-02', to: '2020-12-31' };
const label = { kind: 'direction', horizon: 5 };
const universe = ['AAPL', 'MSFT', 'XOM', 'JPM'];

/** A ledger row written by hand under `key`: challenge 1, seq 0, recorded in 1970. */
async function plantOwnRow(store: Database, model: string, key: string, challengerVersion: number, championVersion: number | null = null): Promise<void> {
  await store.db
    .insertInto('promotion_challenges')
    .values({
      model, seq: 0, challenge_key: key, champion_version: championVersion, challenger_version: challengerVersion,
      algorithm: 'logistic_regression', algorithms_tested: 1, dataset_id: 'x', period_from: null, period_to: null,
      metric: 'auc', challenge_number: 1, level: 0.025, p_value: null, champion_p_value: null, promoted: 0,
      reason: 'written by hand', created_at: '1970-01-01T00:00:00.000Z',
    })
    .execute();
}

/** A signed registry row of a training run on PERIOD (`wf-<name>-<version>/r1`), registered at `createdAt`. */
async function register(store: Database, name: string, version: number, createdAt: string, keys: RowSigning = signing, symbols: readonly string[] = universe, period: { from: string; to: string } = PERIOD): Promise<void> {
  const row: ModelVersionsTable = {
    name, version, artifact_sha256: 'ab'.repeat(32), artifact_bytes: 100, algorithm: 'logistic_regression', params: '{}', seed: version,
    feature_set_version: 'fs-x', label: JSON.stringify(label), snapshot_id: null, snapshot_hash: null, code_version: 'c',
    workflow_id: `wf-${name}-${version}`, run_id: 'r1', registration_key: `${name}-${version}`,
    metrics: JSON.stringify({ outOfSample: { period } }), lineage: JSON.stringify({ universe: { trained: symbols }, datasetId: `ds-${name}-${version}` }),
    created_at: createdAt, signature: null, signature_key_id: null,
  };
  if (keys.signingKey !== undefined) {
    const signature = signRow(keys.signingKey, toVersion(row));
    row.signature = signature.mac;
    row.signature_key_id = signature.keyId;
  }
  await store.db.insertInto('model_versions').values(row).execute();
}

const identity = (model: string, version: number, pValue: number, period: { from: string; to: string } = PERIOD): ChallengeIdentity => ({
  key: `wf-${model}-${version}/r1`, model, championVersion: null, challengerVersion: version, algorithm: 'logistic_regression',
  algorithmsTested: 1, datasetId: `ds-${model}-${version}`, period, metric: 'auc', pValue, outcomes: { label, symbols: universe },
});

/** The promotion judge's test of a p-value at the challenge's level. */
const decideAt = (p: number) => (count: ChallengeCount) => {
  const { level, text } = challengeLevel(0.05, { challenge: count });
  return { decision: { promote: p < level, reason: `p ${p} vs level ${text}` }, level };
};

/** As promotionDecision: the evidence-age veto first, then p at the challenge's level. */
const decideWithVeto = (p: number, period: { from: string; to: string }) => (count: ChallengeCount) => {
  const veto = evidenceAgeVeto({ period, challenge: count });
  if (veto !== undefined) return { decision: { promote: false, reason: `not promoted: ${veto}` }, level: challengeLevel(0.05, { challenge: count }).level };
  return decideAt(p)(count);
};

/** Now, `minutes` from now (ISO): registration times in the order the runs registered. */
const at = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();

describe.each(DRIVERS)('a ledger row written under a run\'s own challenge key (%s)', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  /**
   * A training run registered and judged by registerAndPromote (with the signing key), its best
   * evaluated on `period` with one-sided p `p` against the strongest naive baseline.
   */
  const run = async (name: string, seed: number, p: number, period = PERIOD): Promise<RegisterResult> => {
    await loadModelRuntimes();
    const artifacts = localArtifactStore(tempDir('mlp-ledger-forgery-'));
    const FS = await saveTestFeatureSet(t.store, returnsFeatureSet('ledger-forgery', 3));
    const evidence = (pValue: number): MetricEvidence => ({ versus: 'momentum_sign', difference: 0.02, lower: 0.001, pValue });
    const activities = experimentActivities({ store: t.store, artifacts, trainingPool: {} as TaskPool, signing });
    const { ds, datasetId, sha256 } = await trainedRun(artifacts, FS, { symbols: 4, days: 120, seed });
    const experiment = experimentSchema.parse({ name, label: ds.label, seed, algorithms: [{ algorithm: 'logistic_regression' }], promotion: { alpha: 0.05, margin: 0.005, allowBackdatedEvaluation: true } });
    return new MockActivityEnvironment().run(activities.registerAndPromote, {
      experiment, algorithm: 'logistic_regression', params: {}, artifactSha256: sha256, datasetId, featureSetVersion: ds.featureSetVersion,
      metrics: { outOfSample: { period: { ...period, days: 504, rows: 20_000 } } }, lineage: {},
      scores: { auc: 0.56, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true, bestOfRun: true, candidatesCompared: 1, evidence: { auc: evidence(p) } },
      workflowId: `wf-${name}-${seed}`, runId: 'run',
    });
  };

  it('registerAndPromote: a row planted before the fourth run does not make it challenge 1; judged as challenge 4, not promoted', async () => {
    for (let seed = 1; seed <= 3; seed++) expect((await run('forged', seed, 0.03)).decision.promote).toBe(false);
    // The run's key is all one needs to know (a challenger version above the newest would take the
    // next number, and the missing number would count as a deleted run's).
    await plantOwnRow(t.store, 'forged', 'wf-forged-4/run', 3);
    const fourth = await run('forged', 4, 0.02);
    expect(fourth.decision.promote).toBe(false);
    expect(fourth.decision.reason).toMatch(/p must be below 0\.00250 \(0\.05 \/ 20: challenge 4 of "no champion yet"/);
    expect(fourth.decision.reason).toMatch(/the challenge record under this run's key stated challenge 1, below the 4 the registry shows/);
    expect(await aliasVersion(t.store, 'forged', 'champion')).toBeUndefined();
    // The row under the run's key now states the run's challenge: its version, dataset and period, counted by later challengers.
    const own = (await listChallenges(t.store, 'forged')).find((c) => c.key === 'wf-forged-4/run');
    expect(own).toMatchObject({ number: 4, promoted: false, challengerVersion: fourth.version.version, period: PERIOD, pValue: 0.02 });
    expect(own?.createdAt.startsWith('1970')).toBe(false);
  });

  it.each([
    ['with the signing key', signing],
    ['without a key', NO_ROW_SIGNING],
  ])('a row planted after a first attempt registered its version and failed: the retry is challenge 4 (%s)', async (_case, keys) => {
    for (let v = 1; v <= 3; v++) {
      await register(t.store, 'm', v, at(v), keys);
      await judgeChallenge(t.store, identity('m', v, 0.03), decideAt(0.03), keys);
    }
    await register(t.store, 'm', 4, at(4), keys);
    await plantOwnRow(t.store, 'm', 'wf-m-4/r1', 4);
    const { record, decision } = await judgeChallenge(t.store, identity('m', 4, 0.004), decideAt(0.004), keys);
    expect([record.number, decision.promote]).toEqual([4, false]);
    expect(decision.reason).toMatch(/challenge 4/);
  });

  it('a planted row judging another champion (a rejudged retry) still counts the registered runs', async () => {
    for (let v = 1; v <= 3; v++) {
      await register(t.store, 'm', v, at(v));
      await judgeChallenge(t.store, identity('m', v, 0.03), decideAt(0.03), signing);
    }
    await register(t.store, 'm', 4, at(4));
    await plantOwnRow(t.store, 'm', 'wf-m-4/r1', 4, 99);
    const { record, decision } = await judgeChallenge(t.store, identity('m', 4, 0.004), decideAt(0.004), signing);
    expect([record.number, decision.promote]).toEqual([4, false]);
  });

  it('a planted row recorded in 1970 does not hide the runs under other names on the same outcomes', async () => {
    for (let v = 1; v <= 5; v++) {
      await register(t.store, 'dir-b', v, at(v));
      await judgeChallenge(t.store, identity('dir-b', v, 0.03), decideAt(0.03), signing);
    }
    await register(t.store, 'dir-a', 1, at(6));
    await plantOwnRow(t.store, 'dir-a', 'wf-dir-a-1/r1', 1);
    const { record, decision } = await judgeChallenge(t.store, identity('dir-a', 1, 0.004), decideAt(0.004), signing);
    expect([record.number, decision.promote]).toEqual([6, false]);
  });

  // Periods that are no new outcomes after the three runs on PERIOD without overlapping it: an
  // older one (promoted only with promotion.allowBackdatedEvaluation), and a later one whose days
  // had all happened when those runs were judged (a cut-off moved back over history, run today).
  const OLDER = { from: '2016-01-04', to: '2017-12-29' };
  const LATER = { from: '2021-01-04', to: '2022-12-30' };
  it.each([
    ['an older period, a row planted under its key', OLDER, 'planted'],
    ['an older period, the ledger emptied', OLDER, 'emptied'],
    ['a later period already past when the others were judged, a row planted under its key', LATER, 'planted'],
    ['a later period already past when the others were judged, the ledger emptied', LATER, 'emptied'],
  ] as const)('registerAndPromote: a fourth run on %s is counted after the three registered runs, not promoted', async (_case, period, tampering) => {
    for (let seed = 1; seed <= 3; seed++) expect((await run('history', seed, 0.03)).decision.promote).toBe(false);
    if (tampering === 'planted') await plantOwnRow(t.store, 'history', 'wf-history-4/run', 3);
    else await t.store.db.deleteFrom('promotion_challenges').where('model', '=', 'history').execute();
    const fourth = await run('history', 4, 0.02, period);
    expect(fourth.decision.promote).toBe(false);
    // An older period is no new evidence after the newest one challenged, as the signed registry rows state it.
    if (period === OLDER) expect(fourth.decision.reason).toMatch(/ends before the newest period already challenged for this model \(2019-01-02 to 2020-12-31, v\d\)/);
    else expect(fourth.decision.reason).toMatch(/p must be below 0\.00250 \(0\.05 \/ 20: challenge 4 of "no champion yet"/);
    expect(await aliasVersion(t.store, 'history', 'champion')).toBeUndefined();
    expect((await listChallenges(t.store, 'history')).find((c) => c.key === 'wf-history-4/run')?.number).toBe(4);
  });

  it.each([
    ['as recorded', false],
    ['with a row planted under its key', true],
  ])('runs of this and another name registered after a run and judged before its only judgement are counted (%s)', async (_case, planted) => {
    for (let v = 1; v <= 3; v++) {
      await register(t.store, 'm', v, at(v));
      await judgeChallenge(t.store, identity('m', v, 0.03), decideAt(0.03), signing);
    }
    // Run A registers v4; runs B (v5) and C (another name, the same outcomes) register and are judged before A is.
    await register(t.store, 'm', 4, at(4));
    await register(t.store, 'm', 5, at(4.1));
    await register(t.store, 'other', 1, at(4.2));
    await judgeChallenge(t.store, identity('m', 5, 0.03), decideAt(0.03), signing);
    await judgeChallenge(t.store, identity('other', 1, 0.03), decideAt(0.03), signing);
    if (planted) await plantOwnRow(t.store, 'm', 'wf-m-4/r1', 4);
    // p 0.002 passes challenge 4's 0.0025, not challenge 6's 0.00119.
    const { record, decision } = await judgeChallenge(t.store, identity('m', 4, 0.002), decideAt(0.002), signing);
    expect([record.number, decision.promote]).toEqual([6, false]);
  });

  it('a real retry keeps the number its first attempt got when nothing registered on its outcomes since', async () => {
    for (let v = 1; v <= 3; v++) {
      await register(t.store, 'm', v, at(v));
      await judgeChallenge(t.store, identity('m', v, 0.03), decideAt(0.03), signing);
    }
    // Another name's run on other outcomes (another universe) between the attempts counts for neither.
    await register(t.store, 'elsewhere', 1, at(4), signing, ['AA', 'BB', 'CC']);
    const retried = await judgeChallenge(t.store, identity('m', 3, 0.03), decideAt(0.03), signing);
    expect(retried.record.number).toBe(3);
    expect(retried.decision.reason).not.toMatch(/stated challenge/);
    expect((await listChallenges(t.store, 'm')).map((c) => c.number)).toEqual([1, 2, 3]);
  });

  it('a retry counts the runs registered on its outcomes between its attempts: the unsigned ledger cannot show it was judged before them', async () => {
    for (let v = 1; v <= 3; v++) {
      await register(t.store, 'm', v, at(v));
      await judgeChallenge(t.store, identity('m', v, 0.03), decideAt(0.03), signing);
    }
    // Later runs, of this name and of another on the same outcomes, judged before v3's retry.
    for (let v = 4; v <= 5; v++) {
      await register(t.store, 'm', v, at(v));
      await judgeChallenge(t.store, identity('m', v, 0.03), decideAt(0.03), signing);
    }
    await register(t.store, 'dir-b', 1, at(6));
    await judgeChallenge(t.store, identity('dir-b', 1, 0.03), decideAt(0.03), signing);
    // Nothing signed tells this retry from a first judgement after them (a row planted under its key).
    const retried = await judgeChallenge(t.store, identity('m', 3, 0.03), decideAt(0.03), signing);
    expect(retried.record.number).toBe(6);
    expect(retried.decision.reason).toMatch(/the challenge record under this run's key stated challenge 3, below the 6 the registry shows/);
    expect((await listChallenges(t.store, 'm')).map((c) => c.number)).toEqual([1, 2, 6, 4, 5]);
  });

  // The registry rows the newest-period veto reads are the model's own: with the key, one edited
  // since it was signed, or a number no row holds, leaves the newest period unknown.
  const OLDER_PERIOD = { from: '2016-01-04', to: '2017-12-29' };
  it.each([
    ['their periods edited to 1990', 'period', /registry rows of this model.*fail their signature.*\(v1, v2, v3: edited/],
    ['their runs edited to the challenger\'s', 'run', /registry rows of this model.*fail their signature.*\(v1, v2, v3: edited/],
    ['deleted', 'deleted', /version numbers no registry row holds \(v1, v2, v3: deleted\)/],
  ] as const)('after three runs, the ledger emptied and their rows %s: a fourth run on an older period is not promoted', async (_case, tampering, named) => {
    for (let v = 1; v <= 3; v++) {
      await register(t.store, 'm', v, at(v));
      await judgeChallenge(t.store, identity('m', v, 0.03), decideAt(0.03), signing);
    }
    await t.store.db.deleteFrom('promotion_challenges').where('model', '=', 'm').execute();
    const rows = t.store.db.updateTable('model_versions').where('name', '=', 'm');
    if (tampering === 'period') await rows.set({ metrics: JSON.stringify({ outOfSample: { period: { from: '1990-01-02', to: '1990-12-31' } } }) }).execute();
    else if (tampering === 'run') await rows.set({ workflow_id: 'wf-m-4', run_id: 'r1' }).execute();
    else await t.store.db.deleteFrom('model_versions').where('name', '=', 'm').execute();
    await register(t.store, 'm', 4, at(4), signing, universe, OLDER_PERIOD);
    const { decision } = await judgeChallenge(t.store, identity('m', 4, 0.001, OLDER_PERIOD), decideWithVeto(0.001, OLDER_PERIOD), signing);
    expect(decision.promote).toBe(false);
    expect(decision.reason).toMatch(named);
  });

  it('registerAndPromote: the ledger emptied and the three runs\' periods edited to 1990, a fourth on an older period is not promoted', async () => {
    for (let seed = 1; seed <= 3; seed++) expect((await run('history', seed, 0.03)).decision.promote).toBe(false);
    await t.store.db.deleteFrom('promotion_challenges').where('model', '=', 'history').execute();
    await t.store.db.updateTable('model_versions').set({ metrics: JSON.stringify({ outOfSample: { period: { from: '1990-01-02', to: '1990-12-31', days: 504, rows: 20_000 } } }) }).where('name', '=', 'history').execute();
    const fourth = await run('history', 4, 0.001, OLDER_PERIOD);
    expect(fourth.decision.promote).toBe(false);
    expect(fourth.decision.reason).toMatch(/newest period already challenged for this model cannot be known/);
    expect(await aliasVersion(t.store, 'history', 'champion')).toBeUndefined();
  });

  it('honest rows verify: a run on a newer period after three on an older one is promoted', async () => {
    for (let v = 1; v <= 3; v++) {
      await register(t.store, 'm', v, at(v), signing, universe, OLDER_PERIOD);
      await judgeChallenge(t.store, identity('m', v, 0.03, OLDER_PERIOD), decideAt(0.03), signing);
    }
    // Another name's honest run on other outcomes registered since: its row verifies, it changes nothing.
    await register(t.store, 'elsewhere', 1, at(3.5), signing, ['AA', 'BB', 'CC']);
    await register(t.store, 'm', 4, at(4));
    const { record, decision } = await judgeChallenge(t.store, identity('m', 4, 0.001), decideWithVeto(0.001, PERIOD), signing);
    expect([record.number, decision.promote]).toEqual([4, true]);
  });

  // Which unverifiable rows of another name count: one above a row that verifies lost its signature
  // with an edit; those below every row that verifies are the name's history from before signing or
  // a dropped key's, and count as they state (docs/training-and-validation.md).
  it("another name's unsigned row above one that verifies counts as an edited run; its rows from before signing do not", async () => {
    const unsigned: RowSigning = { signingKey: undefined, previousKeys: [] };
    const other = ['AA', 'BB', 'CC'];
    await register(t.store, 'dir-b', 1, at(1), unsigned, other);
    await register(t.store, 'dir-b', 2, at(2), unsigned, other);
    await register(t.store, 'dir-b', 3, at(3), signing, other);
    await register(t.store, 'dir-a', 1, at(4));
    const honest = await judgeChallenge(t.store, identity('dir-a', 1, 0.004), decideAt(0.004), signing);
    expect([honest.record.number, honest.decision.promote]).toEqual([1, true]);
    // dir-b v4, on these outcomes, its signature stripped and its row moved to other symbols.
    await register(t.store, 'dir-b', 4, at(5), unsigned, other);
    await register(t.store, 'dir-a', 2, at(6));
    const { decision } = await judgeChallenge(t.store, identity('dir-a', 2, 0.004), decideAt(0.004), signing);
    expect(decision.promote).toBe(false);
    expect(decision.reason).toMatch(/dir-b v4/);
    expect(decision.reason).not.toMatch(/dir-b v[12]\b/);
  });

  it.each([
    ['their label kind', { label: JSON.stringify({ kind: 'volatility_regime', horizon: 5 }) }],
    ['their dataset and universe', { lineage: JSON.stringify({ universe: { trained: ['AA', 'BB'] }, datasetId: 'ds-other' }) }],
    ['their period and registration time', { metrics: JSON.stringify({ outOfSample: { period: { from: '1990-01-02', to: '1990-03-01' } } }), created_at: '1990-06-01T00:00:00.000Z' }],
  ] as const)('five runs of another name, their ledger rows deleted and their registry rows edited off the outcomes (%s): not promoted', async (_case, edit) => {
    for (let v = 1; v <= 5; v++) {
      await register(t.store, 'dir-b', v, at(v));
      await judgeChallenge(t.store, identity('dir-b', v, 0.03), decideAt(0.03), signing);
    }
    await t.store.db.deleteFrom('promotion_challenges').where('model', '=', 'dir-b').execute();
    await t.store.db.updateTable('model_versions').set(edit).where('name', '=', 'dir-b').execute();
    await register(t.store, 'dir-a', 1, at(6));
    const { record, decision } = await judgeChallenge(t.store, identity('dir-a', 1, 0.004), decideAt(0.004), signing);
    expect(decision.promote).toBe(false);
    expect(record.number).toBeGreaterThanOrEqual(6);
    expect(decision.reason).toMatch(/fail their signature \(dir-b v1, dir-b v2, dir-b v3, dir-b v4, dir-b v5\)/);
  });
});
