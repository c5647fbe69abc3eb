import type { FeatureDrift } from '../../../lib/monitoring/drift';
import type { ModelMonitoringReport } from '../../../lib/monitoring/model-report';
import { dataSubject, evaluateModelReport, evaluatePipelineHealth, parseMonitoringRules, type RuleEvaluation } from '../../../lib/monitoring/monitoring-rules';
import { DEPLOYMENT_BLOCKING_RULES } from '../../../activities/deployment';
import { pipelineHealthOf } from '../../../lib/monitoring/pipeline-health';
import { BadInputError } from '../../../lib/errors';

const feature = (name: string, psi: number, drifted: boolean): FeatureDrift => ({ name, psi, pValue: drifted ? 1e-6 : 0.5, qValue: drifted ? 1e-5 : 0.9, drifted, referenceMean: 0, liveMean: drifted ? 2 : 0, referenceStd: 1, liveStd: 1, referenceMissingShare: 0, liveMissingShare: 0 });

function report(overrides: Partial<ModelMonitoringReport> = {}): ModelMonitoringReport {
  return {
    id: 'mr-1',
    model: 'direction-5d',
    version: 3,
    variants: ['champion'],
    champion: true,
    createdAt: '2024-07-08T14:00:00.000Z',
    windowDays: 10,
    reference: { available: true, reason: '' },
    drift: { status: 'stable', reason: 'no feature drifted', window: { from: '2024-06-24', to: '2024-07-05', days: 10, rows: 5000 }, q: 0.01, minPsi: 0.2, drifted: [], maxPsi: 0.05, features: [feature('rsi_14', 0.05, false)], missingColumns: [] },
    predictionDrift: { status: 'stable', reason: '', rows: 500, days: 10, psi: 0.02, pValue: 0.4, referenceMean: 0.5, liveMean: 0.5 },
    performance: {
      status: 'ok', severity: null, reasons: [], samples: 500, days: 20, from: null, to: null, hitRate: 0.53, hitRateInterval: { lower: 0.48, upper: 0.58, confidence: 0.99 }, baseline: { name: 'always up', hitRate: 0.51 }, effectiveSamples: 300, auc: 0.54,
      calibration: { bins: [], expectedCalibrationError: 0.02, noise: 0.02 }, strategy: null, book: { status: 'unavailable', reason: 'not traded in this test' }, promised: { accuracy: 0.53, auc: 0.55, maxDrawdown: 0.1, meanDailyReturn: null },
      since: '2024-05-09T14:00:00.000Z', predictions: 600, unmatured: 100, noLabel: 0,
    },
    freshness: { status: 'fresh', reason: '', expectedSession: '2024-07-05', symbols: 10, staleSymbols: 0, maxLagDays: 0, newestBar: '2024-07-05', stalest: [] },
    ...overrides,
  };
}

describe('monitoring rules', () => {
  const rules = parseMonitoringRules({});

  it('fills every default and refuses bad thresholds with the field named', () => {
    expect(rules.data_drift).toMatchObject({ q: 0.01, minPsi: 0.2, severity: 'warning', cooldownSeconds: 12 * 3600 });
    // A session's bar is due at its close + 120 min (the grace is in the due time): none may be missing after that.
    expect(rules.data_stale).toMatchObject({ maxLagDays: 0, graceMinutes: 120, blockDeployments: true });
    expect(parseMonitoringRules({ data_drift: { q: 0.05 } }).data_drift).toMatchObject({ q: 0.05, minPsi: 0.2 });
    expect(() => parseMonitoringRules({ data_drift: { q: 2 } })).toThrow(BadInputError);
    expect(() => parseMonitoringRules({ data_drift: { q: 2 } })).toThrow(/data_drift\.q/);
    // A misspelt rule or setting would silently keep the default threshold.
    expect(() => parseMonitoringRules({ data_drift: { qq: 0.05 }, dataDrift: {} })).toThrow('the monitoring rules have unknown settings, which would be ignored and their defaults used instead (misspelt, or not settings of this version): data_drift.qq, dataDrift');
    expect(() => parseMonitoringRules({ data_drift: { qq: 0.05 } })).toThrow(BadInputError);
    expect(() => parseMonitoringRules(JSON.parse(JSON.stringify(parseMonitoringRules({ data_drift: { q: 0.05 } }))))).not.toThrow(); // the parsed rules, passed on
  });

  it('raises nothing for a healthy report', () => {
    expect(evaluateModelReport(report(), rules)).toEqual({ findings: [], actions: { retrain: false, blockDeployments: false, reasons: [] } });
  });

  it('turns one drifted feature into a warning and wide drift into a critical alert that asks for a retrain', () => {
    const one = evaluateModelReport(report({ drift: { ...report().drift, status: 'drift', reason: '1 of 2 features drifted', drifted: ['rsi_14'], features: [feature('rsi_14', 0.5, true), feature('ret_5', 0.01, false)] } }), rules);
    expect(one.findings).toHaveLength(1);
    expect(one.findings[0].alert).toMatchObject({ rule: 'data_drift', severity: 'warning', subject: 'model direction-5d v3', cooldownSeconds: 12 * 3600 });
    expect((one.findings[0].alert.evidence as { drifted: FeatureDrift[] }).drifted.map((f) => f.name)).toEqual(['rsi_14']);
    expect(one.actions.retrain).toBe(false);

    const wide = evaluateModelReport(report({ drift: { ...report().drift, status: 'drift', drifted: ['a', 'b', 'c'], features: ['a', 'b', 'c'].map((n) => feature(n, 0.3, true)) } }), rules);
    expect(wide.findings[0].alert.severity).toBe('critical');
    expect(wide.actions).toMatchObject({ retrain: true, blockDeployments: false });
    // A single huge shift is severe too.
    expect(evaluateModelReport(report({ drift: { ...report().drift, status: 'drift', drifted: ['a'], features: [feature('a', 3, true)] } }), rules).actions.retrain).toBe(true);
  });

  it('counts groups of features moving together, not features, and a PSI only beyond its training windows\' as severe', () => {
    const drift = (features: FeatureDrift[]) => report({ drift: { ...report().drift, status: 'drift', drifted: features.map((f) => f.name), features } });
    // A selloff: five trend and range features of one group, a volatility feature of another: two groups, a warning.
    const selloff = [...['ret_10', 'sma_ratio_50', 'sma_ratio_200', 'dist_high_252', 'ema_ratio_26'].map((n) => ({ ...feature(n, 0.6, true), cluster: 'ret_5' })), { ...feature('atr_pct_14', 0.5, true), cluster: 'bb_bandwidth_20' }];
    const grouped = evaluateModelReport(drift(selloff), rules);
    expect(grouped.findings[0].alert.severity).toBe('warning');
    expect(grouped.actions.retrain).toBe(false);
    // Three groups: severe.
    expect(evaluateModelReport(drift([...selloff, { ...feature('gap_pct', 0.4, true), cluster: 'ret_1' }]), rules).actions.retrain).toBe(true);
    // A 252-day high's PSI of 1.5 where its 10-day training windows reached 4: its ordinary, not severe; beyond them, severe.
    expect(evaluateModelReport(drift([{ ...feature('dist_high_252', 1.5, true), trainingMaxPsi: 4 }]), rules).actions.retrain).toBe(false);
    expect(evaluateModelReport(drift([{ ...feature('dist_high_252', 5, true), trainingMaxPsi: 4 }]), rules).actions.retrain).toBe(true);
  });

  it('treats features that went missing as a broken feed: hold deployments, no retrain', () => {
    const dead = { ...feature('rsi_14', 6, true), liveMissingShare: 0.4 };
    const evaluation = evaluateModelReport(report({ drift: { ...report().drift, status: 'drift', drifted: ['rsi_14'], features: [dead] } }), rules);
    expect(evaluation.findings[0].alert).toMatchObject({ rule: 'data_drift', severity: 'critical', message: expect.stringMatching(/values missing for rsi_14/) });
    expect(evaluation.actions).toMatchObject({ retrain: false, blockDeployments: true });
    // Beside other drifted features (severe by their number): still a broken feed, no retrain on it.
    const mixed = evaluateModelReport(report({ drift: { ...report().drift, status: 'drift', drifted: ['rsi_14', 'a', 'b'], features: [dead, feature('a', 0.4, true), feature('b', 0.3, true)] } }), rules);
    expect(mixed.findings[0].alert.severity).toBe('critical');
    expect(mixed.actions).toMatchObject({ retrain: false, blockDeployments: true });
  });

  it('holds deployments by what a finding says: an alert of a blocking rule on the model\'s data (a broken feed as stale bars)', () => {
    // What deploymentBlockers looks for (activities/deployment.ts): an open alert of these rules whose subject is the model's data.
    const blocks = (e: RuleEvaluation) => e.findings.filter((f) => DEPLOYMENT_BLOCKING_RULES.includes(f.alert.rule) && f.alert.subject.startsWith(dataSubject('direction-5d')));
    const dead = { ...feature('rsi_14', 6, true), liveMissingShare: 0.4 };
    const brokenFeed = evaluateModelReport(report({ drift: { ...report().drift, status: 'drift', drifted: ['rsi_14', 'ret_5'], features: [dead, feature('ret_5', 0.4, true)] } }), rules);
    expect(brokenFeed.actions.blockDeployments).toBe(true);
    expect(blocks(brokenFeed)).toHaveLength(1);
    expect(blocks(brokenFeed)[0]).toMatchObject({ retrain: false, blockDeployments: true, alert: { rule: 'data_quality', severity: 'critical', message: expect.stringMatching(/rsi_14/) } });
    // Every finding that says it holds deployments is one that does.
    const stale = evaluateModelReport(report({ freshness: { ...report().freshness, status: 'stale', staleSymbols: 3, maxLagDays: 2 } }), rules);
    for (const e of [brokenFeed, stale]) expect(e.findings.filter((f) => f.blockDeployments)).toEqual(blocks(e));
    // Drift without missing values holds nothing.
    expect(blocks(evaluateModelReport(report({ drift: { ...report().drift, status: 'drift', drifted: ['a'], features: [feature('a', 3, true)] } }), rules))).toEqual([]);
  });

  it('maps performance severity, prediction drift and stale data to alerts and actions', () => {
    const perf = evaluateModelReport(report({ performance: { ...report().performance, status: 'degraded', severity: 'critical', reasons: ['hit rate 40% below the promised 53%'] } }), rules);
    expect(perf.findings[0].alert).toMatchObject({ rule: 'performance_degraded', severity: 'critical' });
    expect(perf.actions.retrain).toBe(true);
    const warn = evaluateModelReport(report({ performance: { ...report().performance, status: 'degraded', severity: 'warning', reasons: ['drawdown'] } }), rules);
    expect(warn.actions.retrain).toBe(false);
    // Insufficient data is never an alert.
    expect(evaluateModelReport(report({ performance: { ...report().performance, status: 'insufficient-data', severity: null } }), rules).findings).toEqual([]);

    const pd = evaluateModelReport(report({ predictionDrift: { ...report().predictionDrift, status: 'drift', psi: 0.7, reason: 'score PSI 0.7' } }), rules);
    expect(pd.findings[0].alert).toMatchObject({ rule: 'prediction_drift', severity: 'critical' });

    const stale = evaluateModelReport(report({ freshness: { ...report().freshness, status: 'stale', reason: '3 of 10 symbols behind', staleSymbols: 3, maxLagDays: 2 } }), rules);
    expect(stale.findings[0].alert).toMatchObject({ rule: 'data_stale', severity: 'warning', subject: 'data for model direction-5d', cooldownSeconds: 4 * 3600 });
    expect(stale.actions).toMatchObject({ retrain: false, blockDeployments: true });
    const veryStale = evaluateModelReport(report({ freshness: { ...report().freshness, status: 'stale', staleSymbols: 3, maxLagDays: 5 } }), rules);
    expect(veryStale.findings[0].alert.severity).toBe('critical');
  });

  it('raises features_stale for drift not judged on feature rows the bars left behind: a warning on the feature set, no retrain, no hold', () => {
    expect(rules.features_stale).toMatchObject({ enabled: true, maxLagSessions: 2, severity: 'warning', cooldownSeconds: 12 * 3600 });
    const featureLag = { featureSet: 'fs-1', through: '2024-05-15', newestBar: '2024-07-05', expectedSession: '2024-07-05', sessionsBehind: 35, maxLagSessions: 2 };
    const stale = report({ drift: { ...report().drift, status: 'stale', reason: 'the feature rows of fs-1 end on 2024-05-15, 35 sessions before the bars', drifted: [], maxPsi: null, features: [], featureLag } });
    const evaluation = evaluateModelReport(stale, rules);
    expect(evaluation.findings).toEqual([
      {
        alert: expect.objectContaining({ rule: 'features_stale', severity: 'warning', subject: 'features fs-1 of model direction-5d', message: expect.stringMatching(/35 sessions before the bars.*Run the training pipeline/), evidence: expect.objectContaining({ reportId: 'mr-1', sessionsBehind: 35 }) }),
        retrain: false,
        blockDeployments: false,
      },
    ]);
    expect(evaluateModelReport(stale, parseMonitoringRules({ features_stale: { enabled: false } })).findings).toEqual([]);
    // Judged rows within the tolerance carry their lag and raise nothing.
    expect(evaluateModelReport(report({ drift: { ...report().drift, featureLag: { ...featureLag, through: '2024-07-03', sessionsBehind: 2 } } }), rules).findings).toEqual([]);
  });

  it('raises features_unverified for a drift window of rows no held key vouches for: drift not judged, no retrain, no hold', () => {
    expect(rules.features_unverified).toMatchObject({ enabled: true, severity: 'critical', cooldownSeconds: 4 * 3600 });
    const reason = '10 stored feature rows of feature set fs-1 are not vouched for by MODEL_SIGNING_KEY (key id 0123abcd), so nothing is computed from them: AAPL, 10 rows from 2024-06-20 to 2024-07-03';
    const refused = (problems: string[]) => report({ drift: { ...report().drift, status: 'unavailable', reason, drifted: [], maxPsi: null, features: [], unverifiedRows: { featureSet: 'fs-1', rows: 10, symbols: ['AAPL'], problems } } });
    expect(evaluateModelReport(refused(['edited']), rules).findings).toEqual([
      {
        alert: expect.objectContaining({ rule: 'features_unverified', severity: 'critical', subject: 'features fs-1 of model direction-5d', message: expect.stringMatching(/drift is not judged: 10 stored feature rows of feature set fs-1 are not vouched for/), evidence: expect.objectContaining({ reportId: 'mr-1', rows: 10, symbols: ['AAPL'] }) }),
        retrain: false,
        blockDeployments: false,
      },
    ]);
    // Only unsigned rows: most likely a store from before signing, a warning.
    expect(evaluateModelReport(refused(['unsigned']), rules).findings[0].alert.severity).toBe('warning');
    expect(evaluateModelReport(refused(['edited']), parseMonitoringRules({ features_unverified: { enabled: false } })).findings).toEqual([]);
  });

  it('honours disabled rules and custom severities and cool-downs', () => {
    const custom = parseMonitoringRules({ data_drift: { severity: 'info', cooldownSeconds: 60 }, data_stale: { enabled: false } });
    const evaluation = evaluateModelReport(
      report({ drift: { ...report().drift, status: 'drift', drifted: ['a'], features: [feature('a', 0.3, true)] }, freshness: { ...report().freshness, status: 'stale', maxLagDays: 9 } }),
      custom,
    );
    expect(evaluation.findings.map((f) => [f.alert.rule, f.alert.severity, f.alert.cooldownSeconds])).toEqual([['data_drift', 'info', 60]]);
  });

  it('reports failed, timed-out and stuck workflow runs as pipeline_failed', () => {
    const now = new Date('2024-07-08T14:00:00Z');
    const run = (id: string, type: string, status: string, start: string, close: string | null) => ({ workflowId: id, runId: 'r', type, status, startTime: start, closeTime: close });
    const health = pipelineHealthOf(
      {
        failed: [run('pipeline-1', 'trainingPipeline', 'FAILED', '2024-07-08T01:00:00Z', '2024-07-08T02:00:00Z'), run('old', 'trainingPipeline', 'FAILED', '2024-07-01T01:00:00Z', '2024-07-01T02:00:00Z')],
        timedOut: [],
        running: [run('stuck', 'trainingPipeline', 'RUNNING', '2024-07-07T20:00:00Z', null), run('deploy-x', 'deploymentWorkflow', 'RUNNING', '2024-07-01T00:00:00Z', null), run('fresh', 'monitoringWorkflow', 'RUNNING', '2024-07-08T13:59:00Z', null)],
      },
      now,
      rules.pipeline_failed,
    );
    expect(health.status).toBe('failing');
    expect(health.failed.map((e) => e.workflowId)).toEqual(['pipeline-1']);
    expect(health.longRunning.map((e) => e.workflowId)).toEqual(['stuck']);
    const evaluation = evaluatePipelineHealth(health, rules);
    expect(evaluation.findings[0].alert).toMatchObject({ rule: 'pipeline_failed', severity: 'warning', subject: 'pipeline' });
    expect(evaluatePipelineHealth(pipelineHealthOf({ failed: [], timedOut: [], running: [] }, now, rules.pipeline_failed), rules).findings).toEqual([]);
  });
});
