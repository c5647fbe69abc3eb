/**
 * Pipeline health from the workflow executions the Temporal visibility API lists (the activity does
 * the listing): runs that failed or timed out recently, deployment runs terminated recently, and
 * runs open for longer than they should be (a stuck worker, a wedged activity).
 *
 * Terminated runs count only for deploymentWorkflow (TERMINATED_TYPES): a deployment terminated from
 * the Web UI or `temporal workflow terminate` ends mid-rollout and leaves its last split serving with
 * nothing to judge, widen or roll it back, and was not counted at all (only Failed and TimedOut
 * were). A training or monitoring run an operator terminates leaves nothing half-applied, and a
 * workflow reset terminates the run it replaces: those stay uncounted.
 */
import { scheduleMissReason, type ScheduleMiss } from './schedule-misses';

export interface ExecutionSummary {
  workflowId: string;
  runId: string;
  type: string;
  status: string;
  startTime: string | null;
  closeTime: string | null;
}

export interface PipelineHealthOptions {
  lookbackHours: number;
  longRunningHours: number;
  /** Workflow types that legitimately stay open for days (a deployment waiting for approval). */
  ignoreLongRunning: readonly string[];
}

export interface PipelineHealth {
  status: 'healthy' | 'failing' | 'unavailable';
  reason: string;
  since: string;
  failed: ExecutionSummary[];
  timedOut: ExecutionSummary[];
  /** Terminated runs of TERMINATED_TYPES (absent in reports stored before they were counted). */
  terminated?: ExecutionSummary[];
  longRunning: ExecutionSummary[];
  /** The pipeline's schedules with actions missed during a server outage (lib/monitoring/schedule-misses.ts; absent when none or before they were checked). */
  schedules?: ScheduleMiss[];
}

/** Workflow types whose terminated runs are failures: a deployment ended by hand leaves its split serving. */
export const TERMINATED_TYPES: readonly string[] = ['deploymentWorkflow'];

/** At most this many executions of each kind are kept as evidence (every run told is in its `newRuns`). */
export const MAX_LISTED_EXECUTIONS = 20;
/** At most this many executions of each kind are asked of the visibility API: a count that reaches it is a lower bound. */
export const MAX_QUERIED_EXECUTIONS = 50;

export function pipelineHealthOf(executions: { failed: ExecutionSummary[]; timedOut: ExecutionSummary[]; terminated?: ExecutionSummary[]; running: ExecutionSummary[] }, now: Date, options: PipelineHealthOptions): PipelineHealth {
  const since = new Date(now.getTime() - options.lookbackHours * 3_600_000).toISOString();
  const startedBefore = new Date(now.getTime() - options.longRunningHours * 3_600_000).toISOString();
  const recent = (e: ExecutionSummary) => e.closeTime === null || e.closeTime >= since;
  // Every run listed, not only the ones evidence has room for: each is counted, and told once.
  const failed = executions.failed.filter(recent);
  const timedOut = executions.timedOut.filter(recent);
  const terminated = (executions.terminated ?? []).filter((e) => recent(e) && TERMINATED_TYPES.includes(e.type));
  const longRunning = executions.running.filter((e) => e.startTime !== null && e.startTime < startedBefore && !options.ignoreLongRunning.includes(e.type));
  const problems: string[] = [];
  const ids = (list: ExecutionSummary[]) => list.slice(0, 3).map((e) => `${e.type} ${e.workflowId}`).join(', ');
  const count = (list: ExecutionSummary[], listed: ExecutionSummary[]) => `${list.length}${listed.length >= MAX_QUERIED_EXECUTIONS ? ' or more' : ''}`;
  if (failed.length > 0) problems.push(`${count(failed, executions.failed)} failed in the last ${options.lookbackHours} h (${ids(failed)})`);
  if (timedOut.length > 0) problems.push(`${count(timedOut, executions.timedOut)} timed out in the last ${options.lookbackHours} h (${ids(timedOut)})`);
  if (terminated.length > 0) problems.push(`${count(terminated, executions.terminated ?? [])} deployment run${terminated.length === 1 ? '' : 's'} terminated in the last ${options.lookbackHours} h, ${terminated.length === 1 ? 'its' : 'their'} last traffic split left serving (${ids(terminated)}; see the champion_mismatch alert and \`mlp deployments show <id>\`)`);
  if (longRunning.length > 0) problems.push(`${count(longRunning, executions.running)} running for more than ${options.longRunningHours} h (${ids(longRunning)})`);
  return {
    status: problems.length > 0 ? 'failing' : 'healthy',
    reason: problems.length > 0 ? `workflow runs: ${problems.join('; ')}` : `no failed, timed-out, terminated deployment or stuck workflow runs in the last ${options.lookbackHours} h`,
    since,
    failed,
    timedOut,
    terminated,
    longRunning,
  };
}

/**
 * The health with the schedules' missed actions (scheduleMissesOf): failing while a miss is new or
 * was alerted within the look-back, the reason naming each schedule after the runs.
 */
export function withScheduleMisses(health: PipelineHealth, misses: readonly ScheduleMiss[]): PipelineHealth {
  if (misses.length === 0) return health;
  const schedules = `schedules: ${misses.map(scheduleMissReason).join('; ')}`;
  return { ...health, status: 'failing', reason: health.status === 'failing' ? `${health.reason}; ${schedules}` : schedules, schedules: [...misses] };
}

/** The key of one workflow run in alert evidence. */
export const executionKey = (e: Pick<ExecutionSummary, 'workflowId' | 'runId'>) => `${e.workflowId}/${e.runId}`;

/** Every run a health report names: failed, timed out, terminated (deployments), running too long. */
export function executionsOf(health: Pick<PipelineHealth, 'failed' | 'timedOut' | 'terminated' | 'longRunning'>): ExecutionSummary[] {
  return [...health.failed, ...health.timedOut, ...(health.terminated ?? []), ...health.longRunning];
}

const listedRun = (e: unknown): e is { workflowId: string; runId: string } => typeof e === 'object' && e !== null && typeof (e as { workflowId?: unknown }).workflowId === 'string' && typeof (e as { runId?: unknown }).runId === 'string';

/**
 * The runs earlier pipeline_failed alerts already named (their evidence is the health report they
 * were raised on): a run failed once is one event, told once, and a run named there is no news.
 */
export function alertedExecutions(evidence: readonly unknown[]): Set<string> {
  const keys = new Set<string>();
  for (const e of evidence) {
    if (typeof e !== 'object' || e === null) continue;
    for (const list of ['failed', 'timedOut', 'terminated', 'longRunning'] as const) {
      const runs = (e as Record<string, unknown>)[list];
      if (Array.isArray(runs)) for (const run of runs) if (listedRun(run)) keys.add(executionKey(run));
    }
    // The runs it told, listed or not (evidence lists at most MAX_LISTED_EXECUTIONS of each kind).
    const told = (e as { newRuns?: unknown }).newRuns;
    if (Array.isArray(told)) for (const key of told) if (typeof key === 'string') keys.add(key);
  }
  return keys;
}

