/**
 * Guards an experiment switched off or loosened are recorded with the version (metrics.scores,
 * signed with the row) and refuse automatic promotion, unless the experiment allows them with a
 * reason, which the decision then names. The defaults promote as before.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { experimentActivities, type RegisterResult } from '../../activities/experiments';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { experimentSchema } from '../../lib/experiments/experiment';
import { aliasVersion, getModelVersion } from '../../lib/registry/model-registry';
import { servingVeto } from '../../lib/registry/promotion';
import type { TaskPool } from '../../lib/threads/task-pool';
import { loadModelRuntimes } from '../../models/algorithms';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { returnsFeatureSet, saveTestFeatureSet, type TestFeatureSet, trainedRun } from '../helpers/registration';

describe('registration with relaxed leakage guards', () => {
  let t: TestDatabase;
  const artifacts = localArtifactStore(tempDir('mlp-relaxed-'));
  let FEATURE_SET: TestFeatureSet;
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    await loadModelRuntimes();
    FEATURE_SET = await saveTestFeatureSet(t.store, returnsFeatureSet('relaxed', 3));
  });
  afterAll(async () => {
    await t?.drop();
  });

  async function register(name: string, extra: Record<string, unknown>): Promise<RegisterResult> {
    const activities = experimentActivities({ store: t.store, artifacts, trainingPool: {} as TaskPool, signing: { signingKey: undefined } });
    const { ds, datasetId, sha256 } = await trainedRun(artifacts, FEATURE_SET, { symbols: 6, days: 200, seed: 1, horizon: 5 });
    const experiment = experimentSchema.parse({ name, label: ds.label, algorithms: [{ algorithm: 'logistic_regression' }], ...extra });
    // As the workflow passes them: every verdict present where the guard ran (candidateScoresOf), none for a guard switched off.
    const judgedBy = ['plausibility_bound', 'degenerate_scores', ...(experiment.guards.pointInTime.rows > 0 ? ['point_in_time_audit'] : []), ...(experiment.guards.singleFeatureScan ? ['single_feature_scan'] : []), ...(experiment.guards.shuffledLabel ? ['shuffled_label'] : [])];
    const scores = { auc: 0.58, accuracyLift: 0, sharpe: 0, trippedGuards: [], judgedBy, evidence: { auc: { versus: 'momentum_sign', difference: 0.03, lower: 0.01, pValue: 1e-4 } }, ...(experiment.guards.shuffledLabel ? { shuffledLabelPassed: true } : {}), bestOfRun: true, candidatesCompared: 1 };
    return new MockActivityEnvironment().run(activities.registerAndPromote, {
      experiment,
      algorithm: 'logistic_regression',
      params: {},
      artifactSha256: sha256,
      datasetId,
      featureSetVersion: ds.featureSetVersion,
      metrics: { scores },
      lineage: {},
      scores,
      workflowId: `wf-${name}`,
      runId: 'r',
    });
  }
  const guardsOff = { pointInTime: { rows: 0 }, singleFeatureScan: false, shuffledLabel: false, plausibility: { direction: { maxAuc: 1 } } };

  it('promotes with the default guards as before, recording nothing relaxed', async () => {
    const result = await register('defaults', {});
    expect(result.decision).toMatchObject({ promote: true, reason: expect.stringMatching(/^no champion yet; auc 0\.5800 passes the floors; beats momentum_sign: [^;]*$/) });
    expect((await getModelVersion(t.store, 'defaults', result.version.version)).metrics.scores).not.toHaveProperty('relaxedGuards');
  });

  it('records guards switched off or loosened with the version and promotes nothing', async () => {
    const result = await register('guards-off', { guards: guardsOff });
    expect(result.decision.promote).toBe(false);
    expect(result.decision.reason).toMatch(/^not promoted: guards relaxed by the experiment: point_in_time_audit not run: disabled by guards\.pointInTime\.rows 0; single_feature_scan not run: disabled by guards\.singleFeatureScan false; shuffled_label not run: disabled by guards\.shuffledLabel false; plausibility_bound bound loosened: guards\.plausibility\.direction\.maxAuc 1 > default 0\.6; .*promotion\.allowRelaxedGuards/);
    expect(await aliasVersion(t.store, 'guards-off', 'champion')).toBeUndefined();
    const row = await getModelVersion(t.store, 'guards-off', result.version.version);
    expect((row.metrics.scores as { relaxedGuards: Array<{ guard: string; status: string }> }).relaxedGuards.map((r) => `${r.guard} ${r.status}`)).toEqual(['point_in_time_audit not_run', 'single_feature_scan not_run', 'shuffled_label not_run', 'plausibility_bound loosened']);
    // Nor may a person deploy it, or roll back to it: what promotion refused never serves.
    expect(servingVeto(row.metrics)).toMatch(/^leakage guards relaxed by its experiment without promotion\.allowRelaxedGuards: point_in_time_audit not run/);
  });

  it('takes promotion.alpha 1 (no test against the naive baselines) as a relaxation: recorded, named, promoted only with a reason, still servable by hand', async () => {
    const result = await register('alpha-one', { promotion: { alpha: 1 } });
    expect(result.decision.promote).toBe(false);
    expect(result.decision.reason).toMatch(/^not promoted: guards relaxed by the experiment: baseline_evidence not run: the tests against the naive baselines and the champion are disabled by promotion\.alpha 1; /);
    const row = await getModelVersion(t.store, 'alpha-one', result.version.version);
    expect((row.metrics.scores as { relaxedGuards: Array<{ guard: string; status: string }> }).relaxedGuards.map((r) => `${r.guard} ${r.status}`)).toEqual(['baseline_evidence not_run']);
    // Not a leak: a person may still deploy it.
    expect(servingVeto(row.metrics)).toBeUndefined();
    const allowed = await register('alpha-one-allowed', { promotion: { alpha: 1, allowRelaxedGuards: { reason: 'paper trading only' } } });
    expect(allowed.decision.promote).toBe(true);
    expect(allowed.decision.reason).toMatch(/^no champion yet; auc 0\.5800 passes the floors; not tested against the naive baselines \(promotion\.alpha 1\); relaxed leakage guards allowed by promotion\.allowRelaxedGuards \("paper trading only"\): baseline_evidence not run/);
  });

  it('takes promotion floors and deployment thresholds looser than the defaults as relaxations: recorded, named, promoted only with a reason, still servable by hand', async () => {
    const loose = { minAuc: 0, deploy: 'auto', deployment: { canary: { thresholds: { maxHitRateDrop: 1, alpha: 0.99 } } } };
    const result = await register('loose-plan', { promotion: loose });
    expect(result.decision.promote).toBe(false);
    expect(result.decision.reason).toMatch(/^not promoted: guards relaxed by the experiment: promotion_floor floor lowered: promotion\.minAuc 0 < default 0\.5; deployment_thresholds bound loosened: promotion\.deployment\.canary\.thresholds\.maxHitRateDrop 1 > default 0\.05; deployment_thresholds evidence level raised: promotion\.deployment\.canary\.thresholds\.alpha 0\.99 > default 0\.05; /);
    expect(await aliasVersion(t.store, 'loose-plan', 'champion')).toBeUndefined();
    const row = await getModelVersion(t.store, 'loose-plan', result.version.version);
    expect((row.metrics.scores as { relaxedGuards: Array<{ guard: string; setting: string }> }).relaxedGuards.map((r) => `${r.guard} ${r.setting}`)).toEqual(['promotion_floor promotion.minAuc', 'deployment_thresholds promotion.deployment.canary.thresholds.maxHitRateDrop', 'deployment_thresholds promotion.deployment.canary.thresholds.alpha']);
    expect(servingVeto(row.metrics)).toBeUndefined();
    const allowed = await register('loose-plan-allowed', { promotion: { ...loose, allowRelaxedGuards: { reason: 'paper trading: any canary may go through' } } });
    expect(allowed.decision.promote).toBe(true);
    expect(allowed.decision.reason).toMatch(/relaxed leakage guards allowed by promotion\.allowRelaxedGuards \("paper trading: any canary may go through"\): promotion_floor floor lowered/);
  });

  it('promotes them only with promotion.allowRelaxedGuards, naming its reason and the guards', async () => {
    const result = await register('guards-allowed', { guards: guardsOff, promotion: { allowRelaxedGuards: { reason: 'research run on synthetic data' } } });
    expect(result.decision.promote).toBe(true);
    expect(result.decision.reason).toMatch(/^no champion yet; auc 0\.5800 passes the floors; beats momentum_sign: [^;]*; relaxed leakage guards allowed by promotion\.allowRelaxedGuards \("research run on synthetic data"\): point_in_time_audit not run: .*plausibility_bound bound loosened: guards\.plausibility\.direction\.maxAuc 1 > default 0\.6$/);
    expect(await aliasVersion(t.store, 'guards-allowed', 'champion')).toBe(result.version.version);
    const row = await getModelVersion(t.store, 'guards-allowed', result.version.version);
    expect(row.metrics.scores).toMatchObject({ relaxedGuardsAllowed: 'research run on synthetic data' });
    expect(servingVeto(row.metrics)).toBeUndefined();
  });
});
