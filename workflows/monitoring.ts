/**
 * monitoringWorkflow (run by the monitoring schedule, or by hand): for every served version of the
 * models (the champion and any canary or A/B variant in their serving routes) it computes a
 * monitoring report (feature drift, prediction drift, live performance, freshness; stored and
 * exported as gauges), raises the alerts the rules call for (cool-down and delivery in lib/alerts),
 * checks that the stored copy of every served version's artifact is still the registered one
 * (artifact_damaged) and that the routes serve the champion the alias names (champion_mismatch),
 * checks pipeline health, and, when asked to, starts one retraining run per
 * model whose champion has severe drift or a hit rate significantly below its promise.
 *
 * Exactly one retraining run, even when this workflow is retried or two runs overlap: the run's
 * workflow id is per model and started with conflict policy FAIL (Temporal refuses a second one
 * while it runs), and a repeated alert comes back with the first alert's id (cool-down), which the
 * running retrain carries in its memo. Nor beside a retrain of the model started otherwise (the
 * retraining schedule, by hand): startRetraining finds it and starts none
 * (activities/retrain-exclusion.ts).
 */
import { ActivityFailure, ApplicationFailure, patched, proxyActivities } from '@temporalio/workflow';
import type { AlertActivities } from '../activities/alerts';
import type { MonitoringActivities, MonitoringReportSummary, RetrainingResult } from '../activities/monitoring';
import type { MonitoringRulesInput } from '../lib/monitoring/monitoring-rules';
import { TASK_QUEUES } from '../lib/task-queues';
import { ACTIVITY_RETRY } from './retry-policies';

export interface MonitoringWorkflowInput {
  /** Registry model names (default: every model with serving routes). */
  models?: string[];
  /** Start a retraining run when a severe drift or performance alert asks for one (default false). */
  retrainOnDrift?: boolean;
  /** Latest trading days of live features and served scores judged for drift (default 10). */
  windowDays?: number;
  /** Thresholds, severities and cool-downs (lib/monitoring/monitoring-rules.ts). */
  rules?: MonitoringRulesInput;
}

export interface RaisedAlert {
  rule: string;
  severity: string;
  subject: string;
  alertId: string;
  suppressed: boolean;
}

export interface MonitoredVersion extends MonitoringReportSummary {
  alerts: RaisedAlert[];
}

export interface MonitoringSummary {
  startedAt: string;
  windowDays: number;
  versions: MonitoredVersion[];
  pipeline: { status: string; reason: string; alerts: RaisedAlert[] };
  alerts: { raised: number; suppressed: number };
  /** Versions whose report could not be computed (after the activity's retries), with the reason. */
  failed: Array<{ model: string; version: number; error: string }>;
  /**
   * The stored copy of each served version's artifact against its registry row (absent in runs
   * started before the check existed): the versions whose copy is not the registered one, with what
   * is wrong, each alerted as artifact_damaged; `unchecked`: those whose store could not be read
   * (alerted as artifact_store_unreadable, not as damaged; absent when none); `unavailable` when
   * nothing could be checked.
   */
  artifacts?: { checked: number; damaged: Array<{ model: string; version: number; sha256: string | null; problem: string; message: string }>; unchecked?: Array<{ model: string; version: number; message: string }>; unavailable?: string; alerts: RaisedAlert[] };
  /**
   * Models whose routes serve another champion than the champion alias names, each alerted as
   * champion_mismatch (absent in runs started before the check existed).
   */
  champions?: { mismatched: Array<{ model: string; generation: number; message: string }>; alerts: RaisedAlert[] };
  /** Subjects with an alert that holds deployments (stale data). */
  blockDeployments: string[];
  retraining: Array<RetrainingResult & { model: string }>;
  /** Models asked for (`models`) that no routes serve, each alerted as monitoring_target_unserved; absent when none. */
  unserved?: { models: string[]; alerts: RaisedAlert[] };
}

export const DEFAULT_MONITORING_WINDOW_DAYS = 10;

const retry = ACTIVITY_RETRY;
const { listMonitoringTargets, computeMonitoringReport, checkServedArtifacts, checkServedChampions, checkPipelineHealth, startRetraining } = proxyActivities<MonitoringActivities>({ taskQueue: TASK_QUEUES.pipeline, startToCloseTimeout: '10m', retry });
const { raiseAlert } = proxyActivities<AlertActivities>({ taskQueue: TASK_QUEUES.pipeline, startToCloseTimeout: '1m', retry });

export async function monitoringWorkflow(input: MonitoringWorkflowInput = {}): Promise<MonitoringSummary> {
  const startedAt = new Date().toISOString();
  const windowDays = input.windowDays ?? DEFAULT_MONITORING_WINDOW_DAYS;
  const summary: MonitoringSummary = { startedAt, windowDays, versions: [], pipeline: { status: 'unknown', reason: '', alerts: [] }, alerts: { raised: 0, suppressed: 0 }, failed: [], blockDeployments: [], retraining: [] };
  const raise = async (finding: { alert: Parameters<typeof raiseAlert>[0] }): Promise<RaisedAlert> => {
    const result = await raiseAlert(finding.alert);
    if (result.suppressed) summary.alerts.suppressed++;
    else summary.alerts.raised++;
    return { rule: finding.alert.rule, severity: finding.alert.severity, subject: finding.alert.subject, alertId: result.id, suppressed: result.suppressed };
  };

  // Per model: the champion version and the alert that asks for its retrain (the first one).
  const retrainFor = new Map<string, { championVersion: number; alertId: string; reason: string }>();
  const targets = await listMonitoringTargets({ models: input.models });
  // The stored copies of what the routes serve: a damaged one goes unnoticed by the processes serving
  // it from memory, and every process started afterwards refuses it. Alerted, nothing withdrawn.
  if (patched('served-artifact-check')) {
    const checked = await checkServedArtifacts({ targets, rules: input.rules });
    // A store that could not be read says nothing about the copies: not counted as damaged.
    const damaged = checked.checks.flatMap((c) => (c.problem && c.problem.kind !== 'unreadable' ? [{ model: c.model, version: c.version, sha256: c.sha256, problem: c.problem.kind, message: c.problem.message }] : []));
    const unchecked = checked.checks.flatMap((c) => (c.problem?.kind === 'unreadable' ? [{ model: c.model, version: c.version, message: c.problem.message }] : []));
    summary.artifacts = { checked: checked.checks.length, damaged, ...(unchecked.length > 0 ? { unchecked } : {}), ...(checked.unavailable ? { unavailable: checked.unavailable } : {}), alerts: [] };
    for (const finding of checked.findings) summary.artifacts.alerts.push(await raise(finding));
  }
  // Routes and champion alias naming different champions (a routes row or the alias edited by SQL):
  // traders served one version, deployments and promotion judging another. Alerted, nothing moved.
  if (patched('served-champion-check')) {
    const champions = await checkServedChampions({ models: input.models, rules: input.rules });
    summary.champions = { mismatched: champions.mismatches.map((m) => ({ model: m.model, generation: m.generation, message: m.message })), alerts: [] };
    for (const finding of champions.findings) summary.champions.alerts.push(await raise(finding));
  }
  for (const target of targets) {
    let computed;
    try {
      computed = await computeMonitoringReport({ target, windowDays, rules: input.rules });
    } catch (error) {
      // Bad rules fail the run; one version that cannot be judged must not stop the others.
      const cause = error instanceof ActivityFailure && error.cause instanceof ApplicationFailure ? error.cause : undefined;
      if (cause?.type === 'INVALID_RULES' || !(error instanceof ActivityFailure)) throw error;
      summary.failed.push({ model: target.model, version: target.version, error: cause?.message ?? error.message });
      continue;
    }
    const alerts: RaisedAlert[] = [];
    for (const finding of computed.findings) {
      const raised = await raise(finding);
      alerts.push(raised);
      if (finding.blockDeployments && !summary.blockDeployments.includes(raised.subject)) summary.blockDeployments.push(raised.subject);
      // Only the champion's condition retrains: a bad canary is the deployment's business.
      if (input.retrainOnDrift && finding.retrain && target.champion && !retrainFor.has(target.model)) {
        retrainFor.set(target.model, { championVersion: target.version, alertId: raised.alertId, reason: `${finding.alert.rule}: ${finding.alert.message}` });
      }
    }
    summary.versions.push({ ...computed.summary, alerts });
  }

  const health = await checkPipelineHealth({ rules: input.rules });
  summary.pipeline = { status: health.health.status, reason: health.health.reason, alerts: [] };
  for (const finding of health.findings) summary.pipeline.alerts.push(await raise(finding));

  for (const [model, trigger] of retrainFor) {
    summary.retraining.push({ model, ...(await startRetraining({ model, ...trigger })) });
  }
  // A model asked for that no routes serve (a misspelt --models) was watched by nobody while every
  // run said healthy: each is alerted, and named in the summary.
  const unserved = (input.models ?? []).filter((m) => !targets.some((t) => t.model === m));
  if (unserved.length > 0 && patched('unserved-models-alert')) {
    summary.unserved = { models: unserved, alerts: [] };
    for (const model of unserved) {
      summary.unserved.alerts.push(
        await raise({ alert: { rule: 'monitoring_target_unserved', severity: 'critical', subject: `model ${model}`, message: `monitoring was asked for "${model}", which no serving routes serve (a misspelt name, or a model not deployed): nothing of it is monitored (drift, live performance, freshness, artifacts); fix the schedule's --models, or deploy the model`, evidence: { model, asked: input.models } } }),
      );
    }
  }
  return summary;
}
