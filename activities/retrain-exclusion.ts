/**
 * One retraining run of a model at a time, whoever starts it: the retraining schedule (runs named
 * `<schedule id>-<scheduled time>`), monitoring's retrain on drift (`retrain-<model>`), or a person
 * (`mlp run --experiment`, `mlp schedules trigger|backfill`). A schedule's overlap policy only sees
 * its own runs and a workflow id only its own executions, so the rule is on what a run retrains:
 * a running `trainingPipeline` whose experiment is named like the model (the registry model name),
 * read from the run's start event, is a retrain of that model, as is the run `retrain-<model>`.
 *
 * - Monitoring starts no retrain while one of the model runs (activities/monitoring.ts).
 * - A retrain that finds another of its model that started before it (ties by run id) ends at its
 *   first activity, skipped, naming that run (resolveExperiment, workflows/training-pipeline.ts).
 *   Of two started at the same moment exactly one goes on, whichever looks first.
 */
import { Context } from '@temporalio/activity';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';

/** The workflow type of a retrain (workflows/training-pipeline.ts). */
export const TRAINING_PIPELINE_TYPE = 'trainingPipeline';

/** The workflow id of the retrains monitoring starts for a model. */
export const retrainWorkflowId = (model: string) => `retrain-${model}`;

export interface RunningRetrain {
  workflowId: string;
  runId: string;
  /** ISO 8601. */
  startTime: string;
  /** `schedule <id>`, `monitoring <workflow id>` or `by hand`. */
  startedBy: string;
}

/** Why a retrain was not started or went no further: another retrain of the model runs. */
export interface RetrainSkip {
  reason: string;
  running: RunningRetrain;
}

const SCHEDULED_BY = defineSearchAttributeKey('TemporalScheduledById', SearchAttributeType.KEYWORD);
const GRPC_NOT_FOUND = 5;

function startedByOf(e: WorkflowExecutionInfo): string {
  let schedule: string | undefined;
  try {
    schedule = e.typedSearchAttributes.get(SCHEDULED_BY);
  } catch {
    schedule = undefined;
  }
  if (schedule) return `schedule ${schedule}`;
  const memo = e.memo ?? {};
  if (typeof memo.startedBy === 'string') return `monitoring ${memo.startedBy}${typeof memo.alertId === 'string' ? ` (alert ${memo.alertId})` : ''}`;
  return 'by hand';
}

/** The model a trainingPipeline run retrains (its experiment's name), from its start event; undefined without an experiment, or when the run is gone. */
async function modelOfRun(client: Client, e: WorkflowExecutionInfo): Promise<string | undefined> {
  let response;
  try {
    response = await client.workflowService.getWorkflowExecutionHistory({ namespace: client.options.namespace, execution: { workflowId: e.workflowId, runId: e.runId }, maximumPageSize: 1 });
  } catch (error) {
    if ((error as { code?: number }).code === GRPC_NOT_FOUND) return undefined;
    throw error;
  }
  const started = response.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
  const input = await decodeFromPayloadsAtIndex<unknown>(client.options.loadedDataConverter, 0, started?.input?.payloads ?? undefined);
  const name = (input as { experiment?: { name?: unknown } } | undefined)?.experiment?.name;
  return typeof name === 'string' ? name : undefined;
}

const order = (a: { startTime: string; runId: string }, b: { startTime: string; runId: string }) => (a.startTime < b.startTime ? -1 : a.startTime > b.startTime ? 1 : a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0);

/** Running retrains of `model`, earliest started first (ties by run id). */
export async function runningRetrainsOf(client: Client, model: string): Promise<RunningRetrain[]> {
  const out: RunningRetrain[] = [];
  for await (const e of client.workflow.list({ query: `WorkflowType = '${TRAINING_PIPELINE_TYPE}' AND ExecutionStatus = 'Running'`, pageSize: 100 })) {
    if (e.workflowId !== retrainWorkflowId(model) && (await modelOfRun(client, e)) !== model) continue;
    out.push({ workflowId: e.workflowId, runId: e.runId, startTime: e.startTime.toISOString(), startedBy: startedByOf(e) });
  }
  return out.sort(order);
}

export const describeRetrain = (r: RunningRetrain) => `${r.workflowId} (run ${r.runId}, ${r.startedBy}, running since ${r.startTime})`;

/** The running retrain that goes before `self`: another one that started earlier (ties by run id). */
export function retrainAhead(self: { runId: string; startTime: string }, running: readonly RunningRetrain[]): RunningRetrain | undefined {
  return [...running].sort(order).find((r) => r.runId !== self.runId && order(r, self) < 0);
}

/** The monitoring rule a retrain request names (its reason reads `<rule>: <message>`). */
export const retrainRuleOf = (reason: string): string | undefined => /^([a-z][a-z0-9_]*):/.exec(reason)?.[1];

/**
 * One retrain per condition: monitoring's previous retrain of the model (the latest run of
 * `retrain-<model>`) completed for the same rule on the same champion version, which is still the
 * champion, so the condition outlived a retrain on it; another one on the same condition learns the
 * same thing (each new alert after the 12 h cool-down had started one, twice a day for as long as
 * the drift lasted). The reason to start none, or undefined. A failed or terminated one is retried.
 */
export function repeatedRetrain(previous: { status: string; runId: string; memo: Record<string, unknown> }, request: { championVersion: number; rule: string | undefined }): string | undefined {
  if (previous.status !== 'COMPLETED' || request.rule === undefined) return undefined;
  if (previous.memo.championVersion !== request.championVersion || previous.memo.rule !== request.rule) return undefined;
  return `a retrain for ${request.rule} of v${request.championVersion} completed (run ${previous.runId}) and v${request.championVersion} is still the champion: the condition outlived it, so no second retrain for it (a new champion, the retraining schedule or a retrain by hand go on as usual)`;
}

/**
 * For the activity at a retrain's start: another running retrain of `model` that started before
 * this run, as the reason to skip; undefined when there is none, or outside a worker (a mock
 * activity environment has no Temporal client).
 */
export async function retrainSkipOfThisRun(model: string): Promise<RetrainSkip | undefined> {
  let client: Client;
  let self: { workflowId: string; runId: string } | undefined;
  try {
    client = Context.current().client;
    self = Context.current().info.workflowExecution;
  } catch {
    return undefined;
  }
  if (!self || Context.current().info.workflowType !== TRAINING_PIPELINE_TYPE) return undefined;
  const { startTime } = await client.workflow.getHandle(self.workflowId, self.runId).describe();
  const ahead = retrainAhead({ runId: self.runId, startTime: startTime.toISOString() }, await runningRetrainsOf(client, model));
  if (!ahead) return undefined;
  return { reason: `skipped: another retrain of ${model} is running, ${describeRetrain(ahead)}; one retrain of a model at a time`, running: ahead };
}
