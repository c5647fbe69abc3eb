/**
 * registerAndPromote retried after an attempt that wrote (the version, its challenge, the alias
 * move) but never completed (the worker died, the answer was lost): the retry answers what the
 * first attempt did, so the run reports the promotion and starts the deployment it asks for, and
 * nothing is registered, recorded or moved twice; and a later run identical to a version already
 * holding the alias it would move promotes nothing again. The real activity in a mock activity
 * context, on SQLite.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { experimentActivities, type RegisterInput, type RegisterResult } from '../../activities/experiments';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { experimentSchema } from '../../lib/experiments/experiment';
import { judgeChallenge, listChallenges } from '../../lib/registry/challenges';
import { aliasHistory, aliasVersion, listModelVersions, moveAlias } from '../../lib/registry/model-registry';
import { promotionDecision, type CandidateScores, type MetricEvidence } from '../../lib/registry/promotion';
import type { TaskPool } from '../../lib/threads/task-pool';
import { loadModelRuntimes } from '../../models/algorithms';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { returnsFeatureSet, saveTestFeatureSet, type TestFeatureSet, trainedRun } from '../helpers/registration';

const PERIOD = { from: '2019-01-02', to: '2020-12-31' };

describe('a retried registration answers what its first attempt did', () => {
  let t: TestDatabase;
  const artifacts = localArtifactStore(tempDir('mlp-registration-retry-'));
  let FEATURE_SET: TestFeatureSet;
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    await loadModelRuntimes();
    FEATURE_SET = await saveTestFeatureSet(t.store, returnsFeatureSet('registration-retry', 3));
  });
  afterAll(async () => {
    await t?.drop();
  });

  const evidence = (pValue: number): MetricEvidence => ({ versus: 'momentum_sign', difference: 0.02, lower: 0.001, pValue });

  /** One training run's best model: the activity's input (a new seed: a new version). */
  async function runInput(name: string, seed: number, scores: Partial<CandidateScores>, options: { championScores?: CandidateScores; championVersion?: number } = {}): Promise<RegisterInput> {
    const { ds, datasetId, sha256 } = await trainedRun(artifacts, FEATURE_SET, { symbols: 4, days: 120, seed });
    const experiment = experimentSchema.parse({ name, label: ds.label, seed, algorithms: [{ algorithm: 'logistic_regression' }], promotion: { alpha: 0.05, margin: 0.005 } });
    return {
      experiment,
      algorithm: 'logistic_regression',
      params: {},
      artifactSha256: sha256,
      datasetId,
      featureSetVersion: ds.featureSetVersion,
      metrics: { outOfSample: { period: { ...PERIOD, days: 504, rows: 20_000 } } },
      lineage: {},
      scores: { auc: 0.56, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true, bestOfRun: true, candidatesCompared: 1, ...scores },
      ...(options.championScores ? { championScores: options.championScores } : {}),
      ...(options.championVersion !== undefined ? { championVersion: options.championVersion } : {}),
      workflowId: `wf-${name}-${seed}`,
      runId: 'r',
    };
  }
  const register = (input: RegisterInput): Promise<RegisterResult> => new MockActivityEnvironment().run(experimentActivities({ store: t.store, artifacts, trainingPool: {} as TaskPool }).registerAndPromote, input);

  it('a first champion: the retry reports the promotion to champion, not "already the champion"', async () => {
    const input = await runInput('first', 1, { evidence: { auc: evidence(0.001) } });
    const first = await register(input);
    expect(first.decision.promote).toBe(true);
    expect(first.champion).toBeUndefined();
    // The first attempt's answer was lost: Temporal runs the activity again with the same input.
    const retried = await register(input);
    expect(retried.decision).toEqual(first.decision);
    expect(retried.champion).toBeUndefined();
    expect(retried.version).toEqual(first.version);
    expect(await aliasVersion(t.store, 'first', 'champion')).toBe(first.version.version);
    expect((await listModelVersions(t.store, 'first')).length).toBe(1);
    expect((await aliasHistory(t.store, 'first')).length).toBe(1);
    expect((await listChallenges(t.store, 'first')).map((c) => [c.number, c.promoted])).toEqual([[1, true]]);
  });

  it('a challenger the champion deployment took over before the retry: still the promotion it made, over the champion it challenged', async () => {
    const championScores: CandidateScores = { auc: 0.55, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true, evidence: { auc: evidence(0.001) } };
    const champion = await register(await runInput('took', 11, { evidence: { auc: evidence(0.001) } }));
    const v1 = champion.version.version;
    const paired: MetricEvidence = { versus: `champion v${v1} re-run, AUC difference on the same 20000 rows`, difference: 0.01, lower: 0.001, pValue: 0.001, inference: 'paired, clustered by days and symbols' };
    const input = await runInput('took', 12, { evidence: { auc: evidence(0.001) }, versusChampion: { auc: paired } }, { championScores, championVersion: v1 });
    const first = await register(input);
    expect(first.decision.promote).toBe(true);
    expect(first.champion).toBe(v1);
    expect(await aliasVersion(t.store, 'took', 'challenger')).toBe(first.version.version);
    // Its deployment finished (the challenger became champion) before the retry ran.
    await moveAlias(t.store, { name: 'took', alias: 'champion', version: first.version.version, movedBy: 'deployment deploy-took', reason: 'canary passed' });
    const retried = await register(input);
    expect(retried.decision).toEqual(first.decision);
    expect(retried.champion).toBe(v1);
    expect((await listChallenges(t.store, 'took')).map((c) => [c.number, c.championVersion, c.promoted])).toEqual([
      [1, null, true],
      [1, v1, true],
    ]);
  });
  it('judged promoted, failed before the alias move, the champion changed before the retry: the record says not promoted, as the answer does', async () => {
    const name = 'moved';
    // Another run's version, the champion.
    const other = await register(await runInput(name, 21, { evidence: { auc: evidence(0.001) } }));
    expect(other.decision.promote).toBe(true);
    const input = await runInput(name, 22, { evidence: { auc: evidence(0.001) } });
    // The first attempt's writes, one by one. Its version (registered here while the other is champion,
    // so that nothing is judged or moved yet):
    const registered = await register(input);
    expect(registered.decision.promote).toBe(false);
    expect((await listChallenges(t.store, name)).length).toBe(1);
    const next = registered.version.version;
    // its challenge, judged for the empty champion slot it saw and recorded as promoted; then it failed
    // before moving the alias.
    await moveAlias(t.store, { name, alias: 'champion', version: undefined, movedBy: 'test', reason: 'the slot empty, as the first attempt saw it' });
    const judged = await judgeChallenge(
      t.store,
      { key: `${input.workflowId}/${input.runId}`, model: name, championVersion: null, challengerVersion: next, algorithm: input.algorithm, algorithmsTested: 1, datasetId: input.datasetId, period: PERIOD, metric: 'auc', pValue: 0.001 },
      (count) => ({ decision: promotionDecision({ ...input.scores, challenge: count }, undefined, input.experiment.promotion), level: 0.05 }),
    );
    expect(judged.decision.promote).toBe(true);
    // Before the retry, the other version became champion.
    await moveAlias(t.store, { name, alias: 'champion', version: other.version.version, movedBy: 'workflow other', reason: 'promoted first' });
    const retried = await register(input);
    expect(retried.version.version).toBe(next);
    expect(retried.decision.promote).toBe(false);
    expect(await aliasVersion(t.store, name, 'champion')).toBe(other.version.version);
    const record = (await listChallenges(t.store, name)).find((c) => c.key === `${input.workflowId}/${input.runId}`);
    expect(record).toMatchObject({ challengerVersion: next, promoted: false });
    expect(record?.reason).toContain(retried.decision.reason);
    expect((await listChallenges(t.store, name)).filter((c) => c.promoted).map((c) => c.challengerVersion)).toEqual([other.version.version]);
  });
  it('judged against a champion, failed, the champion cleared before the retry: the record names what the retry judged and the alias did', async () => {
    const name = 'cleared';
    const championScores: CandidateScores = { auc: 0.55, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true, evidence: { auc: evidence(0.001) } };
    const v1 = (await register(await runInput(name, 31, { evidence: { auc: evidence(0.001) } }))).version.version;
    const paired: MetricEvidence = { versus: `champion v${v1} re-run, AUC difference on the same 20000 rows`, difference: 0.01, lower: 0.001, pValue: 0.001, inference: 'paired, clustered by days and symbols' };
    const input = await runInput(name, 32, { evidence: { auc: evidence(0.001) }, versusChampion: { auc: paired } }, { championScores, championVersion: v1 });
    const key = `${input.workflowId}/${input.runId}`;
    // The first attempt's writes: its version, and its challenge of v1, judged promoted; it died before moving the challenger alias.
    const next = (await register({ ...input, championScores: undefined, championVersion: undefined })).version.version;
    const judged = await judgeChallenge(
      t.store,
      { key, model: name, championVersion: v1, challengerVersion: next, algorithm: input.algorithm, algorithmsTested: 1, datasetId: input.datasetId, period: PERIOD, metric: 'auc', pValue: 0.001, championPValue: 0.001 },
      (count) => ({ decision: promotionDecision({ ...input.scores, challenge: count }, championScores, input.experiment.promotion), level: 0.05 / 2 }),
    );
    expect(judged.decision.promote).toBe(true);
    // v1 was taken off the champion slot before the retry: the retry judges for the empty slot and makes its version champion.
    await moveAlias(t.store, { name, alias: 'champion', version: undefined, movedBy: 'test', reason: 'v1 withdrawn' });
    const retried = await register(input);
    expect(retried.decision.promote).toBe(true);
    expect(retried.champion).toBeUndefined();
    expect(await aliasVersion(t.store, name, 'champion')).toBe(next);
    // The record says it challenged the empty slot, numbered after v1's own challenge of that slot on the same period.
    expect((await listChallenges(t.store, name)).map((c) => [c.challengerVersion, c.championVersion, c.number, c.promoted])).toEqual([
      [v1, null, 1, true],
      [next, null, 2, true],
    ]);
    // Its answer lost again: the next retry answers the promotion the alias shows, over no champion.
    const again = await register(input);
    expect(again.decision).toEqual(retried.decision);
    expect(again.champion).toBeUndefined();
  });

  it('two attempts at once (the first outlived its timeout): both answer the promotion the registration made, and the record keeps it', async () => {
    for (const seed of [31, 32, 33]) {
      const name = `twice-${seed}`;
      const input = await runInput(name, seed, { evidence: { auc: evidence(0.001) } });
      const answers = await Promise.all([register(input), register(input)]);
      for (const answer of answers) {
        expect(answer.decision.promote).toBe(true);
        expect(answer.version.version).toBe(1);
      }
      expect((await register(input)).decision.promote).toBe(true);
      expect(await aliasVersion(t.store, name, 'champion')).toBe(1);
      expect((await aliasHistory(t.store, name)).length).toBe(1);
      // One challenge, recorded promoted (its number follows the earlier tests' challenges of the same period).
      expect((await listChallenges(t.store, name)).map((c) => c.promoted)).toEqual([true]);
    }
  });

  // A later run whose result is identical to an earlier version (same artifact, dataset, parameters,
  // seed and experiment) registers nothing new; when that version already holds the alias the run
  // would move (champion, or challenger over the same champion), nothing is promoted again: no second
  // promoted challenge, no alias move, so the pipeline starts no second deployment of it.
  it('already the challenger: promotes nothing and records no second challenge', async () => {
    const name = 'identical-challenger';
    const v1 = (await register(await runInput(name, 41, { evidence: { auc: evidence(0.001) } }))).version.version;
    const championScores: CandidateScores = { auc: 0.55, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true, evidence: { auc: evidence(0.001) } };
    const paired: MetricEvidence = { versus: `champion v${v1} re-run, AUC difference on the same 20000 rows`, difference: 0.01, lower: 0.001, pValue: 0.001, inference: 'paired, clustered by days and symbols' };
    const input = await runInput(name, 42, { evidence: { auc: evidence(0.001) }, versusChampion: { auc: paired } }, { championScores, championVersion: v1 });
    const first = await register(input);
    expect(first.decision.promote).toBe(true);
    const v2 = first.version.version;
    expect(await aliasVersion(t.store, name, 'challenger')).toBe(v2);
    const before = { challenges: await listChallenges(t.store, name), aliases: await aliasHistory(t.store, name) };

    // Another run (its own workflow) on the same data and recipe: the same artifact.
    const again = await register({ ...input, workflowId: `${input.workflowId}-again` });
    expect(again.identicalToEarlier).toBe(true);
    expect(again.version.version).toBe(v2);
    expect(again.decision).toEqual({ promote: false, reason: `identical to v${v2}, already the challenger; nothing new registered` });
    expect(await aliasVersion(t.store, name, 'challenger')).toBe(v2);
    expect(await aliasVersion(t.store, name, 'champion')).toBe(v1);
    expect(await listChallenges(t.store, name)).toEqual(before.challenges);
    expect(await aliasHistory(t.store, name)).toEqual(before.aliases);
    expect((await listModelVersions(t.store, name)).length).toBe(2);
  });

  it('already the champion: promotes nothing and records no second challenge', async () => {
    const name = 'identical-champion';
    const input = await runInput(name, 51, { evidence: { auc: evidence(0.001) } });
    const first = await register(input);
    expect(first.decision.promote).toBe(true);
    const before = await listChallenges(t.store, name);
    const again = await register({ ...input, workflowId: `${input.workflowId}-again` });
    expect(again.identicalToEarlier).toBe(true);
    expect(again.decision).toEqual({ promote: false, reason: `identical to v${first.version.version}, already the champion; nothing new registered` });
    expect(await listChallenges(t.store, name)).toEqual(before);
  });

  // The same version on the same data against the same champion is no new hypothesis: a scheduled
  // retrain firing twice on one snapshot recorded a second challenge of the same version (challenge 2
  // at 0.00208 after challenge 1 at 0.00417) and the next real challenger was held to the lower level.
  const championScores: CandidateScores = { auc: 0.55, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true };

  it('identical to a version judged before and never promoted, over a champion: the earlier verdict, no second challenge, no alpha spent', async () => {
    const name = 'identical-unpromoted';
    const v1 = (await register(await runInput(name, 61, { evidence: { auc: evidence(0.001) } }))).version.version;
    // No evidence against the baselines: judged, recorded, not promoted.
    const input = await runInput(name, 62, {}, { championScores, championVersion: v1 });
    const first = await register(input);
    expect(first.decision.promote).toBe(false);
    const v2 = first.version.version;
    const before = await listChallenges(t.store, name);
    expect(before.map((c) => [c.challengerVersion, c.championVersion, c.number])).toEqual([
      [v1, null, 1],
      [v2, v1, 1],
    ]);

    const again = await register({ ...input, workflowId: `${input.workflowId}-again` });
    expect(again.identicalToEarlier).toBe(true);
    expect(again.version.version).toBe(v2);
    expect(again.decision.promote).toBe(false);
    expect(again.decision.reason.startsWith(`identical to v${v2}, judged before: ${first.decision.reason}; `)).toBe(true);
    expect(await listChallenges(t.store, name)).toEqual(before);
    // Its answer lost, retried: the same answer, still nothing recorded.
    expect((await register({ ...input, workflowId: `${input.workflowId}-again` })).decision).toEqual(again.decision);
    expect(await listChallenges(t.store, name)).toEqual(before);
    expect((await listModelVersions(t.store, name)).length).toBe(2);

    // A new result (another artifact) is the second challenge of v1 on the period, at alpha / 6, not the third at alpha / 12.
    const next = await register(await runInput(name, 63, {}, { championScores, championVersion: v1 }));
    expect(next.identicalToEarlier).toBe(false);
    const after = await listChallenges(t.store, name);
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.slice(before.length).map((c) => [c.challengerVersion, c.championVersion, c.number, c.level])).toEqual([[next.version.version, v1, 2, 0.05 / 6]]);
  });

  it('identical to a version judged for the empty champion slot: the earlier verdict, and the next new result is challenge 2', async () => {
    const name = 'identical-no-champion';
    const input = await runInput(name, 71, {});
    const first = await register(input);
    expect(first.decision.promote).toBe(false);
    expect(await aliasVersion(t.store, name, 'champion')).toBeUndefined();
    const v1 = first.version.version;
    const before = await listChallenges(t.store, name);
    expect(before.map((c) => [c.challengerVersion, c.championVersion, c.number, c.level])).toEqual([[v1, null, 1, 0.05 / 2]]);

    const again = await register({ ...input, workflowId: `${input.workflowId}-again` });
    expect(again.identicalToEarlier).toBe(true);
    expect(again.decision.promote).toBe(false);
    expect(again.decision.reason.startsWith(`identical to v${v1}, judged before: ${first.decision.reason}; `)).toBe(true);
    expect(await listChallenges(t.store, name)).toEqual(before);

    const next = await register(await runInput(name, 72, {}));
    expect(next.identicalToEarlier).toBe(false);
    expect((await listChallenges(t.store, name)).slice(before.length).map((c) => [c.challengerVersion, c.championVersion, c.number, c.level])).toEqual([[next.version.version, null, 2, 0.05 / 6]]);
  });

  it('identical to a version never judged (another algorithm was its run\'s best): judged now, once', async () => {
    const name = 'identical-never-judged';
    const input = await runInput(name, 81, {});
    expect((await register({ ...input, scores: { ...input.scores, bestOfRun: false } })).decision.promote).toBe(false);
    expect(await listChallenges(t.store, name)).toEqual([]);
    const again = await register({ ...input, workflowId: `${input.workflowId}-again` });
    expect(again.identicalToEarlier).toBe(true);
    expect(again.decision.reason).not.toMatch(/judged before|already the/);
    const judged = await listChallenges(t.store, name);
    expect(judged.map((c) => [c.key, c.challengerVersion])).toEqual([[`${input.workflowId}-again/r`, again.version.version]]);
    // A third identical run finds that judgement.
    const third = await register({ ...input, workflowId: `${input.workflowId}-third` });
    expect(third.decision.reason.startsWith(`identical to v${again.version.version}, judged before: ${again.decision.reason}; `)).toBe(true);
    expect(await listChallenges(t.store, name)).toEqual(judged);
  });

  it('identical to a version judged against an earlier champion: a challenge of the new champion', async () => {
    const name = 'identical-new-champion';
    const v1 = (await register(await runInput(name, 91, { evidence: { auc: evidence(0.001) } }))).version.version;
    const input = await runInput(name, 92, {}, { championScores, championVersion: v1 });
    const v2 = (await register(input)).version.version;
    // Another version became champion since: the same result against it is a comparison not made before.
    const v3 = (await register(await runInput(name, 93, {}))).version.version;
    await moveAlias(t.store, { name, alias: 'champion', version: v3, movedBy: 'test', reason: 'a deployment promoted v3' });
    const again = await register({ ...input, championVersion: v3, workflowId: `${input.workflowId}-again` });
    expect(again.identicalToEarlier).toBe(true);
    expect(again.decision.reason).not.toMatch(/judged before/);
    expect((await listChallenges(t.store, name)).filter((c) => c.challengerVersion === v2).map((c) => c.championVersion)).toEqual([v1, v3]);
  });
});
