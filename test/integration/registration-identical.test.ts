/**
 * A later run whose result is identical to an earlier version (same artifact, dataset, parameters,
 * seed and experiment) registers nothing new; when that version already holds the alias the run
 * would move (champion, or challenger over the same champion), nothing is promoted again: no second
 * promoted challenge, no alias move, so the pipeline starts no second deployment of it. The real
 * activity in a mock activity context, on SQLite.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { experimentActivities, type RegisterInput, type RegisterResult } from '../../activities/experiments';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { experimentSchema } from '../../lib/experiments/experiment';
import { listChallenges } from '../../lib/registry/challenges';
import { aliasHistory, aliasVersion, listModelVersions } from '../../lib/registry/model-registry';
import type { CandidateScores, MetricEvidence } from '../../lib/registry/promotion';
import type { TaskPool } from '../../lib/threads/task-pool';
import { loadModelRuntimes } from '../../models/algorithms';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { returnsFeatureSet, saveTestFeatureSet, type TestFeatureSet, trainedRun } from '../helpers/registration';

const PERIOD = { from: '2019-01-02', to: '2020-12-31' };

describe('a run identical to an earlier version', () => {
  let t: TestDatabase;
  const artifacts = localArtifactStore(tempDir('mlp-registration-identical-'));
  let FEATURE_SET: TestFeatureSet;
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    await loadModelRuntimes();
    FEATURE_SET = await saveTestFeatureSet(t.store, returnsFeatureSet('registration-identical', 3));
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

  it('an earlier identical version that holds no alias is judged as a new result would be', async () => {
    const name = 'identical-unpromoted';
    const v1 = (await register(await runInput(name, 61, { evidence: { auc: evidence(0.001) } }))).version.version;
    // No evidence against the baselines: judged, recorded, not promoted.
    const input = await runInput(name, 62, {}, { championScores: { auc: 0.55, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true }, championVersion: v1 });
    expect((await register(input)).decision.promote).toBe(false);
    const again = await register({ ...input, workflowId: `${input.workflowId}-again` });
    expect(again.identicalToEarlier).toBe(true);
    expect(again.decision.promote).toBe(false);
    expect(again.decision.reason).not.toMatch(/already the/);
  });
});
