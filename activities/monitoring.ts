/**
 * Activities of monitoringWorkflow: thin adapters over lib/monitoring (reports, rules), the serving
 * routes (what is served, and whether they agree with the champion alias), the Temporal visibility API (pipeline health) and the Temporal client
 * (the one retraining run). Every one is safe to retry: reports are stored under an id derived from
 * the workflow run, and a retrain is started at most once per alert and never beside a running one.
 */
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ScheduleNotFoundError, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client, type WorkflowExecutionInfo } from '@temporalio/client';
import { msNumberToTs, tsToDate } from '@temporalio/common/lib/time';
import { listAlerts } from '../lib/alerts/alert-store';
import { BadInputError, describeValidationError } from '../lib/errors';
import { experimentSchema } from '../lib/experiments/experiment';
import { recordMonitoringReport } from '../lib/metrics/monitoring-gauges';
import type { ArtifactStore } from '../lib/artifacts/artifact-store';
import { computeModelReport, saveMonitoringReport, type ModelMonitoringReport, type MonitoringTarget } from '../lib/monitoring/model-report';
import { evaluateModelReport, evaluatePipelineHealth, evaluateScheduleMisses, parseMonitoringRules, PIPELINE_SUBJECT, type MonitoringRulesInput, type RuleEvaluation } from '../lib/monitoring/monitoring-rules';
import { checkServedArtifacts, evaluateServedArtifacts, type StoredArtifactCheck } from '../lib/monitoring/served-artifacts';
import { deploymentOpenCheck, deploymentStatusCheck } from './deployment-workflow-open';
import type { DeploymentWorkflowStatus } from '../lib/serving/served-champion';
import { checkServedChampions, evaluateServedChampions, type ChampionMismatch } from '../lib/monitoring/served-champions';
import { checkServingRecords, evaluateServingRecords, type ServingRecordProblem } from '../lib/monitoring/serving-records';
import { checkOnlineVectorsBehind, evaluateOnlineVectorsBehind, type OnlineVectorsBehind } from '../lib/monitoring/online-vectors-behind';
import { marketToday } from '../lib/features/online-features';
import type { Cache } from '../lib/cache/cache';
import { alertedExecutions, MAX_QUERIED_EXECUTIONS, pipelineHealthOf, TERMINATED_TYPES, withScheduleMisses, type ExecutionSummary, type PipelineHealth } from '../lib/monitoring/pipeline-health';
import { pipelineScheduleKind, scheduleMissesOf, scheduleSubject, unstartedAmong, type ScheduleMiss, type ScheduleObservation } from '../lib/monitoring/schedule-misses';
import { aliasVersion, getModelVersion } from '../lib/registry/model-registry';
import { readEveryServingRoutes } from '../lib/serving/serving-routes';
import type { Database } from '../lib/store/database';
import { TASK_QUEUES } from '../lib/task-queues';
import type { TrainingPipelineInput } from '../workflows/training-pipeline';
import { withFailureMapping } from './failures';
import { describeRetrain, repeatedRetrain, retrainRuleOf, retrainWorkflowId, runningRetrainsOf } from './retrain-exclusion';
import { configuredSigning } from '../lib/config';
import { rowSignatureProblem, verificationKeysOf, type RowSigning } from '../lib/registry/row-signature';

export interface ComputeMonitoringReportInput {
  target: MonitoringTarget;
  windowDays: number;
  rules?: MonitoringRulesInput;
}

/** What the workflow keeps of a report (the full report is in monitoring_reports). */
export interface MonitoringReportSummary {
  reportId: string;
  model: string;
  version: number;
  variants: string[];
  champion: boolean;
  drift: { status: string; drifted: string[]; maxPsi: number | null; window: { from: string | null; to: string | null; days: number } };
  predictionDrift: { status: string; psi: number | null };
  performance: { status: string; samples: number; hitRate: number | null; auc: number | null };
  freshness: { status: string; maxLagDays: number | null; staleSymbols: number };
}

export interface ComputedMonitoringReport extends RuleEvaluation {
  summary: MonitoringReportSummary;
}

export interface ServedArtifactsResult extends RuleEvaluation {
  checks: StoredArtifactCheck[];
  /** Why nothing was checked, when nothing could be. */
  unavailable?: string;
}

export interface ServedChampionsResult extends RuleEvaluation {
  mismatches: ChampionMismatch[];
  /** With MODEL_SIGNING_KEY: models whose routes or aliases are not as a key holder last wrote them (serving_routes_tampered). */
  tampered?: ServingRecordProblem[];
  /** With MODEL_SIGNING_KEY and the online store: per served feature set, online vectors older than the newest signed offline row (online_vector_behind). */
  vectorsBehind?: OnlineVectorsBehind[];
}

export interface PipelineHealthResult extends RuleEvaluation {
  health: PipelineHealth;
}

export interface StartRetrainingInput {
  model: string;
  /** The champion version whose experiment (registry lineage) is re-run. */
  championVersion: number;
  /** The alert that asked for it: a second attempt for the same alert finds the first run. */
  alertId: string;
  reason: string;
}

export interface RetrainingResult {
  status: 'started' | 'already-started' | 'already-running' | 'skipped';
  workflowId: string;
  runId?: string;
  reason: string;
}

/**
 * The workflow id of the retrains monitoring starts: one id per model, so Temporal itself refuses a
 * second concurrent one of these; retrains started otherwise (the schedule, by hand) are found by
 * what they retrain (activities/retrain-exclusion.ts).
 */
export { retrainWorkflowId };

function summaryOf(report: ModelMonitoringReport): MonitoringReportSummary {
  return {
    reportId: report.id,
    model: report.model,
    version: report.version,
    variants: report.variants,
    champion: report.champion,
    drift: { status: report.drift.status, drifted: report.drift.drifted, maxPsi: report.drift.maxPsi, window: { from: report.drift.window.from, to: report.drift.window.to, days: report.drift.window.days } },
    predictionDrift: { status: report.predictionDrift.status, psi: report.predictionDrift.psi },
    performance: { status: report.performance.status, samples: report.performance.samples, hitRate: report.performance.hitRate, auc: report.performance.auc },
    freshness: { status: report.freshness.status, maxLagDays: report.freshness.maxLagDays, staleSymbols: report.freshness.staleSymbols },
  };
}

/** The same id for every attempt of this activity's workflow run and target (monitoring_reports.id is varchar(128)). */
function reportIdOf(target: MonitoringTarget): string {
  const info = Context.current().info;
  const run = info.workflowExecution ? `${info.workflowExecution.workflowId}/${info.workflowExecution.runId}` : `${info.activityId}/${Date.now()}`;
  return `mr-${createHash('sha256').update(run).digest('hex').slice(0, 16)}-${target.model}-v${target.version}`;
}

function executionSummary(e: WorkflowExecutionInfo): ExecutionSummary {
  return { workflowId: e.workflowId, runId: e.runId, type: e.type, status: e.status.name, startTime: e.startTime?.toISOString() ?? null, closeTime: e.closeTime?.toISOString() ?? null };
}

async function listExecutions(client: Client, query: string, limit: number): Promise<ExecutionSummary[]> {
  const out: ExecutionSummary[] = [];
  for await (const e of client.workflow.list({ query, pageSize: limit })) {
    out.push(executionSummary(e));
    if (out.length >= limit) break;
  }
  return out;
}

/** At most this many of the pipeline's schedules are described per monitoring run. */
const MAX_DESCRIBED_SCHEDULES = 100;

/** What the descriptions of the pipeline's schedules (retrain, monitoring) say of their missed actions; other schedules are left out. */
async function scheduleObservations(client: Client): Promise<ScheduleObservation[]> {
  const out: ScheduleObservation[] = [];
  for await (const summary of client.schedule.list()) {
    const kind = pipelineScheduleKind(summary.memo, summary.action?.workflowType);
    if (!kind) continue;
    let d;
    try {
      d = await client.schedule.getHandle(summary.scheduleId).describe();
    } catch (error) {
      if (error instanceof ScheduleNotFoundError) continue; // deleted since it was listed
      throw error;
    }
    const last = d.info.recentActions[d.info.recentActions.length - 1];
    out.push({
      scheduleId: d.scheduleId,
      kind,
      createdAt: d.info.createdAt.toISOString(),
      paused: d.state.paused,
      missedCatchupWindow: d.info.numActionsMissedCatchupWindow,
      catchupWindowMs: d.policies.catchupWindow,
      lastActionAt: last ? last.scheduledAt.toISOString() : null,
      unstarted: [],
    });
    if (out.length >= MAX_DESCRIBED_SCHEDULES) break;
  }
  return out;
}

/** A schedule's times from `from` to its catch-up window before `now` for which it took no action: what a backfill would start. */
async function unstartedTimes(client: Client, scheduleId: string, from: Date, now: Date, catchupWindowMs: number): Promise<string[]> {
  const to = new Date(now.getTime() - catchupWindowMs);
  if (to <= from) return [];
  const [response, description] = await Promise.all([
    client.workflowService.listScheduleMatchingTimes({ namespace: client.options.namespace, scheduleId, startTime: msNumberToTs(from.getTime()), endTime: msNumberToTs(to.getTime()) }),
    client.schedule.getHandle(scheduleId).describe(),
  ]);
  return unstartedAmong((response.startTime ?? []).map((t) => tsToDate(t)), description.info.recentActions.map((a) => a.scheduledAt));
}

/** The worker's Temporal client, or undefined outside a worker (a mock activity environment). */
function temporalClient(): Client | undefined {
  try {
    return Context.current().client;
  } catch {
    return undefined;
  }
}

/** `signing`: the registry's signing key (MODEL_SIGNING_KEY); default: from the environment, as the other activities do. */
/**
 * `artifacts`: where the registered models are filed; a report then takes each version's label from
 * its sha256-checked artifact header, not from its registry row alone (the row can be edited).
 */
export function monitoringActivities({ store, artifacts, cache, now = () => new Date(), signing = configuredSigning() }: { store: Database; artifacts?: ArtifactStore; cache?: Cache; now?: () => Date; signing?: RowSigning }) {
  /**
   * Marks 'running' deployments rows of `models` whose workflow has closed (terminated, failed, timed
   * out, or gone) as failed and releases their model, as the next deployment's start does: `mlp
   * deployments list/show` then show them ended, and the API (which has no Temporal client and takes
   * a running row at its word) reports the split they left, as leftByClosedDeployment does here.
   */
  async function endClosedDeployments(models: string[], deploymentStatus: DeploymentWorkflowStatus): Promise<void> {
    if (models.length === 0) return;
    const rows = await store.db.selectFrom('deployments').select('id').where('status', '=', 'running').where('model', 'in', models).execute();
    for (const { id } of rows) {
      if ((await deploymentStatus(id)) === 'RUNNING') continue;
      await store.db.updateTable('deployments').set({ status: 'failed', running_model: null, ended_at: now().toISOString() }).where('id', '=', id).where('status', '=', 'running').execute();
    }
  }

  return {
    /** Every served version of the given models (default: all with serving routes): champion, canary, A/B variants. */
    async listMonitoringTargets(input: { models?: string[] }): Promise<MonitoringTarget[]> {
      return withFailureMapping(async () => {
        const wanted = input.models && input.models.length > 0 ? new Set(input.models) : undefined;
        const targets: MonitoringTarget[] = [];
        // A routes row this code cannot read leaves its model unserved (the API disables it and names
        // it in /readyz): nothing of it to monitor, and the other models are monitored as before.
        for (const routes of (await readEveryServingRoutes(store)).routes) {
          if (wanted && !wanted.has(routes.model)) continue;
          const champion = await aliasVersion(store, routes.model, 'champion');
          const variantsOf = new Map<number, string[]>();
          for (const r of routes.routes) if (r.weight > 0) variantsOf.set(r.version, [...(variantsOf.get(r.version) ?? []), r.variant]);
          for (const [version, variants] of [...variantsOf].sort((a, b) => a[0] - b[0])) targets.push({ model: routes.model, version, variants, champion: version === champion });
        }
        return targets;
      });
    },

    /** Drift, live performance and freshness of one served version: stored, exported as gauges, judged by the rules. */
    async computeMonitoringReport(input: ComputeMonitoringReportInput): Promise<ComputedMonitoringReport> {
      return withFailureMapping(async () => {
        if (!Number.isInteger(input.windowDays) || input.windowDays < 1 || input.windowDays > 250) throw new BadInputError(`windowDays must be a whole number of trading days in 1..250, got ${input.windowDays}`);
        const rules = parseMonitoringRules(input.rules);
        const computed = await computeModelReport(store, { id: reportIdOf(input.target), target: input.target, windowDays: input.windowDays, rules, now: now(), verify: { signing, ...(artifacts ? { artifacts } : {}) } });
        // A retry judges the report its first attempt stored (the one the alerts' evidence names).
        const report = await saveMonitoringReport(store, computed);
        recordMonitoringReport({
          model: report.model,
          variant: report.variants[0] ?? 'champion',
          // Judged from enough outcomes only: a hit rate of a handful reads as a result.
          hitRate: report.performance.status === 'insufficient-data' ? null : report.performance.hitRate,
          hitRateBaseline: report.performance.status === 'insufficient-data' ? null : (report.performance.baseline?.hitRate ?? null),
          auc: report.performance.status === 'insufficient-data' ? null : report.performance.auc,
          driftedFeatures: report.drift.status === 'unavailable' || report.drift.status === 'insufficient-data' || report.drift.status === 'stale' ? null : report.drift.drifted.length,
          maxPsi: report.drift.maxPsi,
          predictionPsi: report.predictionDrift.psi,
          freshnessLagDays: report.freshness.maxLagDays,
          maturedOutcomes: report.performance.samples,
          createdAt: report.createdAt,
        });
        return { summary: summaryOf(report), ...evaluateModelReport(report, rules) };
      });
    },

    /**
     * The stored copy of each served version's artifact (one read of the object store's own copy per
     * version), against its registry row: an artifact_damaged alert per version whose copy is
     * missing, of another size or sha256, or whose store cannot be read (lib/monitoring/served-artifacts.ts).
     */
    async checkServedArtifacts(input: { targets: MonitoringTarget[]; rules?: MonitoringRulesInput }): Promise<ServedArtifactsResult> {
      return withFailureMapping(async () => {
        const rules = parseMonitoringRules(input.rules);
        if (!artifacts) return { checks: [], unavailable: 'no artifact store in this activity context', findings: [], actions: { retrain: false, blockDeployments: false, reasons: [] } };
        const checks = await checkServedArtifacts(store, artifacts, input.targets);
        return { checks, ...evaluateServedArtifacts(checks, rules) };
      });
    },

    /**
     * The champion each model's routes serve against its champion alias (the given models, default
     * all with routes): a champion_mismatch alert per model where they disagree (lib/monitoring/served-champions.ts).
     */
    async checkServedChampions(input: { models?: string[]; rules?: MonitoringRulesInput }): Promise<ServedChampionsResult> {
      return withFailureMapping(async () => {
        const rules = parseMonitoringRules(input.rules);
        const wanted = input.models && input.models.length > 0 ? new Set(input.models) : undefined;
        const routes = (await readEveryServingRoutes(store)).routes.filter((r) => !wanted || wanted.has(r.model));
        // A running deployment's own split is exempt only while its workflow is open: a terminated
        // one leaves its row 'running' (and its last split serving) until the next deployment starts.
        // The split it left is reported (lib/serving/served-champion.ts: leftByClosedDeployment).
        const deploymentStatus = deploymentStatusCheck();
        const mismatches = await checkServedChampions(store, routes, { deploymentOpen: deploymentOpenCheck(), ...(deploymentStatus ? { deploymentStatus } : {}) });
        if (deploymentStatus) await endClosedDeployments(routes.map((r) => r.model), deploymentStatus);
        const tampered = await checkServingRecords(store, routes, signing);
        const champions = evaluateServedChampions(mismatches, rules);
        const records = evaluateServingRecords(tampered, rules);
        const vectorsBehind = cache ? await checkOnlineVectorsBehind(store, cache, routes, signing, marketToday(now())) : [];
        const behind = evaluateOnlineVectorsBehind(vectorsBehind, rules);
        return { mismatches, tampered, vectorsBehind, findings: [...champions.findings, ...records.findings, ...behind.findings], actions: champions.actions };
      });
    },

    /**
     * Failed, timed-out, terminated and stuck workflow runs from the Temporal visibility API
     * (pipeline_failed), and actions of the pipeline's schedules the server dropped while it was down
     * longer than their catch-up window (schedule_missed, lib/monitoring/schedule-misses.ts).
     */
    async checkPipelineHealth(input: { rules?: MonitoringRulesInput }): Promise<PipelineHealthResult> {
      return withFailureMapping(async () => {
        const rules = parseMonitoringRules(input.rules);
        const options = rules.pipeline_failed;
        const at = now();
        const client = temporalClient();
        if (!client) {
          const health: PipelineHealth = { status: 'unavailable', reason: 'no Temporal client in this activity context', since: at.toISOString(), failed: [], timedOut: [], terminated: [], longRunning: [] };
          return { health, ...evaluatePipelineHealth(health, rules) };
        }
        const since = new Date(at.getTime() - options.lookbackHours * 3_600_000).toISOString();
        const startedBefore = new Date(at.getTime() - options.longRunningHours * 3_600_000).toISOString();
        const [failed, timedOut, terminated, running, observed] = await Promise.all([
          listExecutions(client, `ExecutionStatus = 'Failed' AND CloseTime > '${since}'`, MAX_QUERIED_EXECUTIONS),
          listExecutions(client, `ExecutionStatus = 'TimedOut' AND CloseTime > '${since}'`, MAX_QUERIED_EXECUTIONS),
          listExecutions(client, `ExecutionStatus = 'Terminated' AND CloseTime > '${since}' AND (${TERMINATED_TYPES.map((t) => `WorkflowType = '${t}'`).join(' OR ')})`, MAX_QUERIED_EXECUTIONS),
          listExecutions(client, `ExecutionStatus = 'Running' AND StartTime < '${startedBefore}'`, MAX_QUERIED_EXECUTIONS),
          scheduleObservations(client),
        ]);
        // Each schedule's missed-action counter against the count its last schedule_missed alert recorded.
        const earlier = new Map<string, Array<{ id: string; createdAt: string; evidence: unknown }>>();
        for (const o of observed) earlier.set(o.scheduleId, await listAlerts(store, { rule: 'schedule_missed', subject: scheduleSubject(o.scheduleId), limit: 20, raisedByKeyHolder: true }));
        const misses: ScheduleMiss[] = [];
        for (const miss of scheduleMissesOf(observed, (id) => earlier.get(id) ?? [], since)) {
          // The scheduled times left without a run, for the backfill the alert names.
          const from = new Date(Math.max(new Date(since).getTime(), new Date(miss.createdAt).getTime()));
          misses.push(miss.newlyMissed > 0 ? { ...miss, unstarted: await unstartedTimes(client, miss.scheduleId, from, at, miss.catchupWindowMs) } : miss);
        }
        // With the rule off no alert records a count, so every miss would read as new at every run: the
        // health would stay failing for good. Off means the schedules are not judged at all.
        const health = withScheduleMisses(pipelineHealthOf({ failed, timedOut, terminated, running }, at, options), rules.schedule_missed.enabled ? misses : []);
        // The runs earlier alerts of the look-back named: only others are news.
        const told = await listAlerts(store, { rule: 'pipeline_failed', subject: PIPELINE_SUBJECT, since, limit: 500, raisedByKeyHolder: true });
        const alerted = alertedExecutions(told.map((a) => a.evidence));
        const runs = evaluatePipelineHealth(health, rules, alerted);
        const schedules = evaluateScheduleMisses(misses, rules, since, at);
        return { health, findings: [...runs.findings, ...schedules.findings], actions: { retrain: runs.actions.retrain || schedules.actions.retrain, blockDeployments: runs.actions.blockDeployments || schedules.actions.blockDeployments, reasons: [...runs.actions.reasons, ...schedules.actions.reasons] } };
      });
    },

    /**
     * Starts one trainingPipeline run of the champion's experiment (its cut-off dropped, so it trains
     * on the newest data), unless a retrain of the model is running, however it was started: the
     * retraining schedule's run (`retrain-<experiment>-<time>`), one by hand, or an earlier one of
     * these (then `already-running`, naming it). The workflow id is per model, started with conflict
     * policy FAIL, and the run itself steps aside at its start when another retrain of the model
     * started first (activities/retrain-exclusion.ts). The alert id in the memo makes a retried
     * attempt (or a second monitoring run raising the same alert) find its run.
     */
    async startRetraining(input: StartRetrainingInput): Promise<RetrainingResult> {
      return withFailureMapping(async () => {
        const workflowId = retrainWorkflowId(input.model);
        const version = await getModelVersion(store, input.model, input.championVersion);
        // The retrain runs the experiment the row records (its import, guards, deployment policy): an edited row must not drive it.
        const keys = verificationKeysOf(signing);
        const problem = keys === undefined ? undefined : rowSignatureProblem(keys, version);
        if (problem) return { status: 'skipped', workflowId, reason: `${input.model} v${input.championVersion}'s experiment is not retrained from: ${problem}` };
        const client = temporalClient();
        if (!client) return { status: 'skipped', workflowId, reason: 'no Temporal client in this activity context' };
        const parsed = experimentSchema.safeParse(version.lineage.experiment);
        if (!parsed.success) {
          // A recorded experiment this version refuses (a duplicate symbol, a plan a deployment would refuse) is not "no experiment".
          const recorded = version.lineage.experiment !== undefined && version.lineage.experiment !== null;
          const reason = recorded ? `the experiment recorded with ${input.model} v${input.championVersion} is refused by this version's checks (${describeValidationError(parsed.error)}): retrain from a corrected experiment file` : `${input.model} v${input.championVersion} has no experiment in its lineage (registered outside a training run): retrain it by hand`;
          return { status: 'skipped', workflowId, reason };
        }
        if (!parsed.data.import) return { status: 'skipped', workflowId, reason: `the experiment of ${input.model} v${input.championVersion} has no import: a retrain would have no new data; add one or retrain by hand` };
        try {
          const existing = await client.workflow.getHandle(workflowId).describe();
          const memo = existing.memo ?? {};
          if (memo.alertId === input.alertId) return { status: 'already-started', workflowId, runId: existing.runId, reason: `already started for alert ${input.alertId} (${existing.status.name.toLowerCase()})` };
          if (existing.status.name === 'RUNNING') return { status: 'already-running', workflowId, runId: existing.runId, reason: `a retrain of ${input.model} is already running (for ${String(memo.alertId ?? 'another request')})` };
          const repeated = repeatedRetrain({ status: existing.status.name, runId: existing.runId, memo }, { championVersion: input.championVersion, rule: retrainRuleOf(input.reason) });
          if (repeated) return { status: 'skipped', workflowId, runId: existing.runId, reason: repeated };
        } catch (error) {
          if (!(error instanceof WorkflowNotFoundError)) throw error;
        }
        // Not only the latest run: a retrain for another rule of the same champion after the one for
        // this condition hid it, and two conditions that outlived their retrains took turns starting one.
        for await (const e of client.workflow.list({ query: `WorkflowId = '${workflowId}' AND ExecutionStatus = 'Completed'`, pageSize: 100 })) {
          const repeated = repeatedRetrain({ status: 'COMPLETED', runId: e.runId, memo: e.memo ?? {} }, { championVersion: input.championVersion, rule: retrainRuleOf(input.reason) });
          if (repeated) return { status: 'skipped', workflowId, runId: e.runId, reason: repeated };
        }
        // A scheduled (or manual) retrain of the model on the same data: this alert is its business too.
        const [running] = await runningRetrainsOf(client, input.model);
        if (running) return { status: 'already-running', workflowId: running.workflowId, runId: running.runId, reason: `a retrain of ${input.model} is already running: ${describeRetrain(running)}; no second one for ${input.alertId}` };
        const experiment = { ...parsed.data, dates: { ...parsed.data.dates, cutoff: undefined } };
        const args: [TrainingPipelineInput] = [{ experiment }];
        try {
          const handle = await client.workflow.start('trainingPipeline', {
            workflowId,
            taskQueue: TASK_QUEUES.pipeline,
            args,
            workflowIdConflictPolicy: 'FAIL',
            workflowIdReusePolicy: 'ALLOW_DUPLICATE',
            memo: { alertId: input.alertId, reason: input.reason, startedBy: Context.current().info.workflowExecution?.workflowId ?? 'monitoring', championVersion: input.championVersion, rule: retrainRuleOf(input.reason) ?? null },
          });
          return { status: 'started', workflowId, runId: handle.firstExecutionRunId, reason: input.reason };
        } catch (error) {
          if (error instanceof WorkflowExecutionAlreadyStartedError) return { status: 'already-running', workflowId, reason: `a retrain of ${input.model} was started at the same moment by another request` };
          throw error;
        }
      });
    },
  };
}

export type MonitoringActivities = ReturnType<typeof monitoringActivities>;
