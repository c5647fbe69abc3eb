/**
 * Retraining on the same data until a run passes ("seed shopping") is a search over runs. Every
 * challenge of a champion (or of the empty champion slot) is recorded with the champion, the
 * evaluation period and the algorithms tested, and the n-th on an overlapping period is tested at
 * alpha / (n(n + 1)) (divided by the algorithms its run picked from), so all of them together spend
 * alpha once. A challenger must also beat the champion re-run on the same rows with a significant
 * paired difference, not by a point difference on one draw. registerAndPromote, the real activity in
 * a mock activity context, on SQLite.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { experimentActivities, type RegisterResult } from '../../activities/experiments';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { experimentSchema } from '../../lib/experiments/experiment';
import { upsertBars } from '../../lib/store/bars';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { listChallenges, sameChallengeFamily } from '../../lib/registry/challenges';
import { aliasVersion, moveAlias } from '../../lib/registry/model-registry';
import type { CandidateScores, MetricEvidence } from '../../lib/registry/promotion';
import type { RowSigning } from '../../lib/registry/row-signature';
import type { TaskPool } from '../../lib/threads/task-pool';
import { loadModelRuntimes } from '../../models/algorithms';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { returnsFeatureSet, saveTestFeatureSet, type TestFeatureSet, trainedRun } from '../helpers/registration';

const PERIOD = { from: '2019-01-02', to: '2020-12-31' };

describe('challenges of one champion on one evaluation period', () => {
  let t: TestDatabase;
  const artifacts = localArtifactStore(tempDir('mlp-challenges-'));
  let FEATURE_SET: TestFeatureSet;
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    await loadModelRuntimes();
    FEATURE_SET = await saveTestFeatureSet(t.store, returnsFeatureSet('challenges', 3));
  });
  afterAll(async () => {
    await t?.drop();
  });

  const evidence = (pValue: number): MetricEvidence => ({ versus: 'momentum_sign', difference: 0.02, lower: 0.001, pValue });

  /** One training run's best model (a new seed each time: a new version) with the given evidence. */
  async function run(name: string, seed: number, scores: Partial<CandidateScores>, options: { period?: { from: string; to: string }; runId?: string; championScores?: CandidateScores; championVersion?: number; universe?: string[]; allowBackdatedEvaluation?: boolean; signing?: RowSigning } = {}): Promise<RegisterResult> {
    const activities = experimentActivities({ store: t.store, artifacts, trainingPool: {} as TaskPool, ...(options.signing ? { signing: options.signing } : {}) });
    const { ds, datasetId, sha256 } = await trainedRun(artifacts, FEATURE_SET, { symbols: 4, days: 120, seed });
    const experiment = experimentSchema.parse({ name, label: ds.label, seed, algorithms: [{ algorithm: 'logistic_regression' }], promotion: { alpha: 0.05, margin: 0.005, ...(options.allowBackdatedEvaluation ? { allowBackdatedEvaluation: true } : {}) } });
    return new MockActivityEnvironment().run(activities.registerAndPromote, {
      experiment,
      algorithm: 'logistic_regression',
      params: {},
      artifactSha256: sha256,
      datasetId,
      featureSetVersion: ds.featureSetVersion,
      metrics: { outOfSample: { period: { ...(options.period ?? PERIOD), days: 504, rows: 20_000 } } },
      lineage: {},
      scores: { auc: 0.56, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true, bestOfRun: true, candidatesCompared: 1, ...scores },
      ...(options.championScores ? { championScores: options.championScores } : {}),
      ...(options.championVersion !== undefined ? { championVersion: options.championVersion } : {}),
      workflowId: `wf-${name}-${seed}`,
      runId: options.runId ?? 'r',
      ...(options.universe ? { universe: { source: 'declared' as const, requested: options.universe, trained: options.universe } } : {}),
    });
  }

  it('tests the n-th challenge for the empty champion slot at alpha / (n(n + 1)), and records each', async () => {
    // p 0.02 passes a single test at 0.05, and the first challenge's 0.025; the second challenge's level is 0.05 / 6.
    const first = await run('shop', 1, { evidence: { auc: evidence(0.03) } });
    expect(first.decision).toEqual({ promote: false, reason: expect.stringMatching(/p must be below 0\.0250 \(0\.05 \/ 2: challenge 1 of "no champion yet" on this period, 0\.05 spent over all of them\)$/) });
    const second = await run('shop', 2, { evidence: { auc: evidence(0.02) } });
    expect(second.decision).toEqual({ promote: false, reason: expect.stringMatching(/one-sided p 0\.020, .*p must be below 0\.00833 \(0\.05 \/ 6: challenge 2 of "no champion yet" on this period/) });
    // A run of four algorithms: its best is tested at the third challenge's share, / 4.
    const third = await run('shop', 3, { evidence: { auc: evidence(0.003) }, candidatesCompared: 4 });
    expect(third.decision.reason).toMatch(/p must be below 0\.00104 \(0\.05 \/ 12: challenge 3 of "no champion yet" on this period, 0\.05 spent over all of them; \/ 4: the best of 4 algorithms was picked\)$/);
    expect(await aliasVersion(t.store, 'shop', 'champion')).toBeUndefined();
    // A retry of the same run keeps its number (and decision); it is not a new challenge.
    const retried = await run('shop', 3, { evidence: { auc: evidence(0.003) }, candidatesCompared: 4 });
    expect(retried.decision).toEqual(third.decision);
    const fourth = await run('shop', 4, { evidence: { auc: evidence(0.0005) } });
    expect(fourth.decision).toMatchObject({ promote: true, reason: expect.stringMatching(/^no champion yet; .*below 0\.00250 \(0\.05 \/ 20: challenge 4 of "no champion yet"/) });
    expect(await aliasVersion(t.store, 'shop', 'champion')).toBe(fourth.version.version);
    const recorded = await listChallenges(t.store, 'shop');
    expect(recorded.map((c) => [c.number, c.championVersion, c.algorithmsTested, c.promoted, c.period])).toEqual([
      [1, null, 1, false, PERIOD],
      [2, null, 1, false, PERIOD],
      [3, null, 4, false, PERIOD],
      [4, null, 1, true, PERIOD],
    ]);
    expect(recorded.map((c) => c.level)).toEqual([0.025, 0.05 / 6, 0.05 / 12 / 4, 0.0025]);
    // Whatever the number of challenges, all of them together never spend more than alpha.
    expect(recorded.reduce((sum, c) => sum + c.level * c.algorithmsTested, 0)).toBeLessThan(0.05);
  });

  it('counts the runs the signed registry rows show when the challenge rows are deleted: the count never restarts', async () => {
    // Seeds of their own: a dataset another test's runs share counts their challenges too.
    for (let seed = 141; seed <= 143; seed++) expect((await run('wiped', seed, { evidence: { auc: evidence(0.03) } })).decision.promote).toBe(false);
    await t.store.db.deleteFrom('promotion_challenges').where('model', '=', 'wiped').execute();
    // p 0.02 passes challenge 1's 0.025: after three runs on this period it is challenge 4 (0.05 / 20) all the same.
    const next = await run('wiped', 144, { evidence: { auc: evidence(0.02) } });
    expect(next.decision).toEqual({ promote: false, reason: expect.stringMatching(/p must be below 0\.00250 \(0\.05 \/ 20: challenge 4 of "no champion yet" on this period/) });
    expect(await aliasVersion(t.store, 'wiped', 'champion')).toBeUndefined();
  });

  it('with the signing key, counts a registry row edited since registration as a run on the period, whatever its edited fields say', async () => {
    const signing: RowSigning = { signingKey: 'challenge-ledger-key-'.padEnd(40, 'x'), previousKeys: [] };
    const versions: number[] = [];
    for (let seed = 151; seed <= 153; seed++) {
      const r = await run('edited', seed, { evidence: { auc: evidence(0.03) } }, { signing });
      expect(r.decision.promote).toBe(false);
      versions.push(r.version.version);
    }
    await t.store.db.deleteFrom('promotion_challenges').where('model', '=', 'edited').execute();
    // Each row edited another way that took it out of the count: its period moved off, its run
    // removed, its creation backdated. Their signatures no longer hold; nothing serves them.
    const [moved, runless, backdated] = versions;
    const row = await t.store.db.selectFrom('model_versions').select('metrics').where('name', '=', 'edited').where('version', '=', moved).executeTakeFirstOrThrow();
    const metrics = JSON.parse(row.metrics) as { outOfSample: { period: Record<string, unknown> } };
    metrics.outOfSample.period = { ...metrics.outOfSample.period, from: '1990-01-02', to: '1990-12-31' };
    await t.store.db.updateTable('model_versions').set({ metrics: JSON.stringify(metrics) }).where('name', '=', 'edited').where('version', '=', moved).execute();
    await t.store.db.updateTable('model_versions').set({ workflow_id: null }).where('name', '=', 'edited').where('version', '=', runless).execute();
    await t.store.db.updateTable('model_versions').set({ created_at: '2000-01-01T00:00:00.000Z' }).where('name', '=', 'edited').where('version', '=', backdated).execute();
    // p 0.02 passes challenge 1's 0.025: it is challenge 4 (0.05 / 20) all the same.
    const next = await run('edited', 154, { evidence: { auc: evidence(0.02) } }, { signing });
    expect(next.decision).toEqual({ promote: false, reason: expect.stringMatching(/p must be below 0\.00250 \(0\.05 \/ 20: challenge 4 of "no champion yet" on this period/) });
    expect(await aliasVersion(t.store, 'edited', 'champion')).toBeUndefined();
  });

  it('counts the versions registered after the champion by their numbers, whatever their creation times say', async () => {
    const champion = await run('backdated-rows', 161, { evidence: { auc: evidence(0.001) } });
    expect(champion.decision.promote).toBe(true);
    const championScores: CandidateScores = { auc: 0.55, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true, evidence: { auc: evidence(0.001) } };
    const challenge = (seed: number) => run('backdated-rows', seed, { evidence: { auc: evidence(0.5) } }, { championScores, championVersion: champion.version.version });
    for (let seed = 162; seed <= 164; seed++) expect((await challenge(seed)).decision.promote).toBe(false);
    await t.store.db.deleteFrom('promotion_challenges').where('model', '=', 'backdated-rows').execute();
    // Registered after the champion, but dated before it.
    await t.store.db.updateTable('model_versions').set({ created_at: '2000-01-01T00:00:00.000Z' }).where('name', '=', 'backdated-rows').where('version', '>', champion.version.version).execute();
    await challenge(165);
    expect((await listChallenges(t.store, 'backdated-rows')).map((c) => [c.number, c.championVersion])).toEqual([[4, champion.version.version]]);
  });

  it('counts the version numbers missing after the champion as runs: deleting registry rows does not lower the bar', async () => {
    const versions: number[] = [];
    for (let seed = 171; seed <= 173; seed++) {
      const r = await run('deleted', seed, { evidence: { auc: evidence(0.03) } });
      expect(r.decision.promote).toBe(false);
      versions.push(r.version.version);
    }
    await t.store.db.deleteFrom('promotion_challenges').where('model', '=', 'deleted').execute();
    await t.store.db.deleteFrom('model_versions').where('name', '=', 'deleted').where('version', 'in', versions.slice(0, 2)).execute();
    const next = await run('deleted', 174, { evidence: { auc: evidence(0.02) } });
    expect(next.version.version).toBe(versions[2] + 1);
    expect(next.decision).toEqual({ promote: false, reason: expect.stringMatching(/p must be below 0\.00250 \(0\.05 \/ 20: challenge 4 of "no champion yet" on this period/) });
  });

  it('needs a significant paired difference against the champion, and counts the challenges of that champion from 1', async () => {
    const championScores: CandidateScores = { auc: 0.55, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true, evidence: { auc: evidence(0.001) } };
    const champion = await run('paired', 11, { evidence: { auc: evidence(0.001) } });
    expect(champion.decision.promote).toBe(true);
    const paired = (pValue: number): MetricEvidence => ({ versus: `champion v${champion.version.version} re-run, AUC difference on the same 20000 rows`, difference: 0.01, lower: pValue < 0.05 ? 0.001 : -0.004, pValue, inference: 'paired, clustered by days and symbols' });
    // 0.01 above the champion (past the 0.005 margin) on one draw, but not significant on the same rows.
    const point = await run('paired', 12, { evidence: { auc: evidence(0.001) }, versusChampion: { auc: paired(0.2) } }, { championScores });
    expect(point.decision).toEqual({ promote: false, reason: expect.stringMatching(/^not promoted: no evidence it beats the champion on the same rows: auc \+0\.0100 over champion v\d+ re-run, .*one-sided p 0\.20, paired, clustered by days and symbols\), p must be below 0\.0250 \(0\.05 \/ 2: challenge 1 of champion v\d+ on this period/) });
    // Without the paired comparison there is nothing to show it beats the champion.
    const none = await run('paired', 13, { evidence: { auc: evidence(0.001) } }, { championScores });
    expect(none.decision.reason).toMatch(/there is no paired evidence against the champion on the same rows/);
    const significant = await run('paired', 14, { evidence: { auc: evidence(0.001) }, versusChampion: { auc: paired(0.001) } }, { championScores });
    expect(significant.decision).toMatchObject({ promote: true, reason: expect.stringMatching(/^auc 0\.5600 beats the champion's 0\.5500 on the same period by at least 0\.005; paired on the same rows: .*below 0\.00417 \(0\.05 \/ 12: challenge 3 of champion v\d+/) });
    expect(await aliasVersion(t.store, 'paired', 'challenger')).toBe(significant.version.version);
    expect((await listChallenges(t.store, 'paired')).map((c) => [c.number, c.championVersion === null ? 'none' : 'champion'])).toEqual([
      [1, 'none'],
      [1, 'champion'],
      [2, 'champion'],
      [3, 'champion'],
    ]);
  });

  it('promotes nothing over a champion that changed after the run re-ran the one before it', async () => {
    const championScores: CandidateScores = { auc: 0.55, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true, evidence: { auc: evidence(0.001) } };
    const first = await run('moved', 31, { evidence: { auc: evidence(0.001) } });
    expect(first.decision.promote).toBe(true);
    const paired: MetricEvidence = { versus: `champion v${first.version.version} re-run, AUC difference on the same 20000 rows`, difference: 0.01, lower: 0.001, pValue: 0.001, inference: 'paired, clustered by days and symbols' };
    // The run re-ran v(first); meanwhile a deployment made another version champion.
    const other = await run('moved', 32, { evidence: { auc: evidence(0.5) } }, { championScores, championVersion: first.version.version });
    expect(other.decision.promote).toBe(false);
    await moveAlias(t.store, { name: 'moved', alias: 'champion', version: other.version.version, movedBy: 'deployment test', reason: 'canary passed' });
    const late = await run('moved', 33, { evidence: { auc: evidence(0.001) }, versusChampion: { auc: paired } }, { championScores, championVersion: first.version.version });
    expect(late.decision).toEqual({ promote: false, reason: `the champion v${other.version.version} became the champion after this run re-ran v${first.version.version}, the champion then, on its period, so it was not re-run on this run's period and nothing can be shown to beat it; promote by hand (move the alias) if the change is intended` });
    expect(await aliasVersion(t.store, 'moved', 'challenger')).toBeUndefined();
    // Compared with the champion it re-ran, the same evidence promotes.
    const current = await run('moved', 34, { evidence: { auc: evidence(0.001) }, versusChampion: { auc: { ...paired, versus: `champion v${other.version.version} re-run` } } }, { championScores, championVersion: other.version.version });
    expect(current.decision.promote).toBe(true);
  });

  it('starts a new count on new outcomes: a period after the earlier ones ended and were judged', async () => {
    await run('periods', 21, { evidence: { auc: evidence(0.5) } });
    const overlapping = await run('periods', 22, { evidence: { auc: evidence(0.5) } }, { period: { from: '2020-06-01', to: '2022-05-31' } });
    expect(overlapping.decision.reason).toMatch(/challenge 2 of "no champion yet"/);
    const later = await run('periods', 23, { evidence: { auc: evidence(0.5) } }, { period: { from: '2021-01-04', to: '2022-12-30' } });
    // Disjoint from the first, overlapping the second; its days had happened when the first was judged (today).
    expect(later.decision.reason).toMatch(/challenge 3 of "no champion yet"/);
    // New outcomes: days after every earlier period ended and after those challenges were judged
    // (here, as if all three had been registered and judged on 2023-01-02: the registry's rows are
    // read by the same rule, their registration time as they state it).
    await t.store.db.updateTable('promotion_challenges').set({ created_at: '2023-01-02T18:00:00.000Z' }).where('model', '=', 'periods').execute();
    await t.store.db.updateTable('model_versions').set({ created_at: '2023-01-02T17:00:00.000Z' }).where('name', '=', 'periods').execute();
    const fresh = await run('periods', 24, { evidence: { auc: evidence(0.5) } }, { period: { from: '2023-01-03', to: '2024-12-31' } });
    expect(fresh.decision.reason).toMatch(/challenge 1 of "no champion yet"/);
    expect(sameChallengeFamily({ championVersion: 1, datasetId: 'a', period: PERIOD }, { championVersion: 2, datasetId: 'a', period: PERIOD })).toBe(false);
    // A later period whose days had all happened when the earlier challenge was judged is no new outcome.
    expect(sameChallengeFamily({ championVersion: null, datasetId: 'a', period: PERIOD, createdAt: '2026-12-05T10:00:00.000Z' }, { championVersion: null, datasetId: 'a', period: { from: '2023-01-03', to: '2024-12-31' } })).toBe(true);
    expect(sameChallengeFamily({ championVersion: null, datasetId: 'a', period: PERIOD, createdAt: '2021-01-04T10:00:00.000Z' }, { championVersion: null, datasetId: 'a', period: { from: '2023-01-03', to: '2024-12-31' } })).toBe(false);
    expect(sameChallengeFamily({ championVersion: null, datasetId: 'a' }, { championVersion: null, datasetId: 'a', period: PERIOD })).toBe(true);
    expect(sameChallengeFamily({ championVersion: null, datasetId: 'a' }, { championVersion: null, datasetId: 'b', period: PERIOD })).toBe(false);
  });

  it('does not promote a backdated challenger, and counts historical periods as one search', async () => {
    // Cut-offs 2015-06-30, 2016-06-30 and 2017-06-30 with 252 evaluation days, after a run on the newest bars.
    const P15 = { from: '2014-07-01', to: '2015-06-30' };
    const P16 = { from: '2015-07-01', to: '2016-06-30' };
    const P17 = { from: '2016-07-01', to: '2017-06-30' };
    const P18 = { from: '2017-07-03', to: '2018-06-29' };
    const newest = await run('backdated', 41, { evidence: { auc: evidence(0.5) } }, { period: P18 });
    expect(newest.decision.promote).toBe(false);
    // p 0.001 passes a first challenge's 0.025: on a period of its own it would have become champion.
    const old = await run('backdated', 42, { evidence: { auc: evidence(0.001) } }, { period: P15 });
    expect(old.decision).toEqual({
      promote: false,
      reason: `not promoted: its evaluation period 2014-07-01 to 2015-06-30 ends before the newest period already challenged for this model (2017-07-03 to 2018-06-29, v${newest.version.version}): a backdated evaluation is a search over historical periods, not new evidence; retrain with a cut-off that evaluates through 2018-06-29 or later`,
    });
    expect(await aliasVersion(t.store, 'backdated', 'champion')).toBeUndefined();
    // Still registered, and counted.
    expect(old.version.version).toBeGreaterThan(newest.version.version);
    await run('backdated', 43, { evidence: { auc: evidence(0.001) } }, { period: P16 });
    await run('backdated', 44, { evidence: { auc: evidence(0.001) } }, { period: P17 });
    // Back on the newest period: the fifth challenge of the empty slot, at 0.05 / 30.
    const current = await run('backdated', 45, { evidence: { auc: evidence(0.001) } }, { period: P18 });
    expect(current.decision).toMatchObject({ promote: true, reason: expect.stringMatching(/below 0\.00167 \(0\.05 \/ 30: challenge 5 of "no champion yet"/) });
    expect((await listChallenges(t.store, 'backdated')).map((c) => [c.number, c.period?.to, c.promoted])).toEqual([
      [1, P18.to, false],
      [2, P15.to, false],
      [3, P16.to, false],
      [4, P17.to, false],
      [5, P18.to, true],
    ]);
    const championScores: CandidateScores = { auc: 0.55, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true, evidence: { auc: evidence(0.001) } };
    const paired: MetricEvidence = { versus: `champion v${current.version.version} re-run, AUC difference on the same 20000 rows`, difference: 0.01, lower: 0.001, pValue: 0.0001, inference: 'paired, clustered by days and symbols' };
    // Against the champion: evidence older than the champion's cannot replace it.
    const behind = await run('backdated', 46, { evidence: { auc: evidence(0.0001) }, versusChampion: { auc: paired } }, { period: { from: '2017-06-30', to: '2018-06-28' }, championScores, championVersion: current.version.version });
    expect(behind.decision.reason).toBe(`not promoted: its evaluation period 2017-06-30 to 2018-06-28 ends before champion v${current.version.version}'s (2017-07-03 to 2018-06-29): evidence older than the champion's cannot replace it; retrain with a cut-off that evaluates through 2018-06-29 or later`);
    // The daily retrain, one day later, challenges it.
    const tomorrow = await run('backdated', 47, { evidence: { auc: evidence(0.0001) }, versusChampion: { auc: paired } }, { period: { from: '2017-07-05', to: '2018-07-02' }, championScores, championVersion: current.version.version });
    expect(tomorrow.decision.promote).toBe(true);
    expect(await aliasVersion(t.store, 'backdated', 'challenger')).toBe(tomorrow.version.version);
  });

  it('counts the challenges of the same dataset under other model names', async () => {
    // Seed 51 builds the same dataset under both names: renaming the experiment does not start again at 1.
    const first = await run('renamed-a', 51, { evidence: { auc: evidence(0.5) } });
    expect(first.decision.reason).toMatch(/challenge 1 of "no champion yet"/);
    const renamed = await run('renamed-b', 51, { evidence: { auc: evidence(0.02) } });
    expect(renamed.decision).toEqual({ promote: false, reason: expect.stringMatching(/p must be below 0\.00833 \(0\.05 \/ 6: challenge 2 of "no champion yet" on this period \(1 of the earlier ones on the same outcomes under other model names\)/) });
    // Another dataset under the new name is counted by its own periods only.
    const other = await run('renamed-c', 52, { evidence: { auc: evidence(0.02) } });
    expect(other.decision).toMatchObject({ promote: true });
  });

  it('does not make a first champion of a run evaluated long before the newest stored data, unless the experiment allows it', async () => {
    // The universe's bars run to 2018-06-29; a cut-off of 2017-06-30 evaluates a year before them.
    const days = nyseTradingDaysBetween('2017-01-03', '2018-06-29');
    await upsertBars(t.store, days.map((date, i) => ({ symbol: 'OLDCUT', date, open: 100 + i * 0.01, high: 101 + i * 0.01, low: 99 + i * 0.01, close: 100 + i * 0.01, volume: 1000 })));
    const old = { from: '2016-07-01', to: '2017-06-30' };
    // p 0.001 passes a first challenge's 0.025: only the age of its evidence stops it.
    const first = await run('old-first', 61, { evidence: { auc: evidence(0.001) } }, { period: old, universe: ['OLDCUT'] });
    expect(first.decision).toEqual({
      promote: false,
      reason: 'not promoted: its evaluation period 2016-07-01 to 2017-06-30 ends 251 sessions before the newest stored session of its universe (2018-06-29), more than the label horizon + 5 (10): a model is judged on the newest outcomes available; retrain without the cut-off, or set promotion.allowBackdatedEvaluation to promote on this period',
    });
    expect(await aliasVersion(t.store, 'old-first', 'champion')).toBeUndefined();
    expect((await listChallenges(t.store, 'old-first')).map((c) => [c.number, c.promoted])).toEqual([[1, false]]);
    // Allowed explicitly: promoted, and the decision (recorded with the challenge and the alias move) says so.
    const allowed = await run('old-allowed', 62, { evidence: { auc: evidence(0.001) } }, { period: old, universe: ['OLDCUT'], allowBackdatedEvaluation: true });
    expect(allowed.decision).toMatchObject({ promote: true, reason: expect.stringMatching(/; backdated evaluation allowed by promotion\.allowBackdatedEvaluation \(251 sessions before 2018-06-29\)$/) });
    expect((await listChallenges(t.store, 'old-allowed'))[0].reason).toMatch(/allowBackdatedEvaluation/);
    // A run on the newest data (the last 5-day labels end on the newest session, one more day of grace) is unaffected.
    const fresh = await run('fresh-first', 63, { evidence: { auc: evidence(0.001) } }, { period: { from: '2017-06-22', to: '2018-06-21' }, universe: ['OLDCUT'] });
    expect(fresh.decision).toMatchObject({ promote: true, reason: expect.stringMatching(/^no champion yet; /) });
    expect(fresh.decision.reason).not.toMatch(/backdated/);
  });

  it('counts the challenges of other model names on the same outcomes, whatever the bytes of their datasets', async () => {
    const universe = ['S0', 'S1', 'S2', 'S3'];
    // Seeds 71 and 72 build datasets that differ in every value (as a revised bar or another column
    // order makes another content hash), of the same label, universe and period.
    const first = await run('bytes-a', 71, { evidence: { auc: evidence(0.5) } }, { universe });
    expect(first.decision.reason).toMatch(/challenge 1 of "no champion yet"/);
    // p 0.02 would pass a first challenge's 0.025: it is the second look at these outcomes.
    const renamed = await run('bytes-b', 72, { evidence: { auc: evidence(0.02) } }, { universe, period: { from: '2019-01-03', to: '2020-12-31' } });
    expect(renamed.decision).toEqual({ promote: false, reason: expect.stringMatching(/p must be below 0\.00833 \(0\.05 \/ 6: challenge 2 of "no champion yet" on this period \(1 of the earlier ones on the same outcomes under other model names\)/) });
    // One more symbol is still the same outcomes.
    const wider = await run('bytes-c', 73, { evidence: { auc: evidence(0.005) } }, { universe: [...universe, 'S4'] });
    expect(wider.decision.reason).toMatch(/challenge 3 of "no champion yet" on this period \(2 of the earlier ones on the same outcomes under other model names\)/);
    // Another universe is other outcomes: counted by its own challenges only.
    const other = await run('bytes-d', 74, { evidence: { auc: evidence(0.02) } }, { universe: ['T0', 'T1', 'T2', 'T3'] });
    expect(other.decision).toMatchObject({ promote: true, reason: expect.stringMatching(/challenge 1 of "no champion yet"/) });
  });
});
