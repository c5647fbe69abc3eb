/** `deploy` and `deployments …`: start, watch and steer deployment workflows. */
import { readFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { Command } from 'commander';
import type { DeploymentRequest } from '../../lib/deployment/plan';
import { describeValidationError } from '../../lib/errors';
import { escapeControl } from '../../lib/quality/excerpt';
import { printableJson } from '../../lib/printable-json';
import type { Database } from '../../lib/store/database';
import { TASK_QUEUES } from '../../lib/task-queues';
import type { DeploymentState } from '../../workflows';
import { connectClient, webUiLink } from '../temporal-client';
import { withStore } from '../with-store';
import { lazy } from '../lazy';
import { numberFlag, parseNumberFlag } from '../number-flag';
import { progressSink } from '../progress';
import { instant } from '../time-flag';

const deployFlagsSchema = () => {
  const { z } = lazy.zod();
  return z.strictObject({
  mode: z.enum(['canary', 'ab']).optional(),
  steps: z
    .string()
    .regex(/^\d+(\.\d+)?(,\d+(\.\d+)?)*$/, '--steps must be comma-separated percentages such as 5,25,50,100')
    .transform((s) => s.split(',').map(Number))
    .optional(),
  analysisSeconds: numberFlag('--analysis-seconds').optional(),
  passesPerStep: numberFlag('--passes-per-step', { int: true }).optional(),
  stepDeadlineSeconds: numberFlag('--step-deadline-seconds').optional(),
  failureLimit: numberFlag('--failure-limit', { int: true }).optional(),
  shadowSeconds: numberFlag('--shadow-seconds').optional(),
  requireApproval: z.boolean().optional(),
  abWeight: numberFlag('--ab-weight').optional(),
  plan: z.string().optional(),
  follow: z.boolean().optional(),
  workflowId: z.string().min(1).optional(),
});
};

/** A --plan file's JSON object, or an Error naming the file and why it is not one (unreadable, not JSON, null, a list…). */
function readPlanFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`deploy: cannot read deployment plan ${file}: ${(error as Error).message}`, { cause: error });
  }
  let plan: unknown;
  try {
    plan = JSON.parse(text);
  } catch (error) {
    throw new Error(`deploy: deployment plan ${file} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof plan !== 'object' || plan === null || Array.isArray(plan)) {
    const got = plan === null ? 'null' : Array.isArray(plan) ? 'a list' : `a ${typeof plan}`;
    throw new Error(`deploy: deployment plan ${file}: a deployment plan is a JSON object such as {"canary": {"steps": [5, 25, 50, 100]}}, got ${got}`);
  }
  return plan as Record<string, unknown>;
}

/** The deployment request from CLI flags (a --plan JSON file first, flags on top), validated. */
export function deploymentRequestFromFlags(model: string, version: string, raw: unknown): DeploymentRequest {
  const parsed = deployFlagsSchema().safeParse(raw);
  if (!parsed.success) throw new Error(`deploy: ${describeValidationError(parsed.error)}`);
  const f = parsed.data;
  const base = f.plan ? readPlanFile(f.plan) : {};
  // The command's model and version are what is deployed: a plan naming others was a plan for another deployment.
  const planVersion = base.challengerVersion;
  if ((base.model !== undefined && base.model !== model) || (planVersion !== undefined && Number(planVersion) !== Number(version))) {
    throw new Error(`deploy: ${f.plan} names model ${JSON.stringify(base.model ?? model)} and challengerVersion ${JSON.stringify(planVersion ?? version)}, but the command deploys ${model} v${version}; drop them from the plan or deploy what it names`);
  }
  // A flag the mode does not read is refused, not ignored: --steps on an A/B test changed nothing.
  const mode = f.mode ?? (base.mode === 'ab' ? 'ab' : 'canary');
  const canaryFlags = [['--steps', f.steps], ['--passes-per-step', f.passesPerStep], ['--step-deadline-seconds', f.stepDeadlineSeconds], ['--failure-limit', f.failureLimit]] as const;
  const given = canaryFlags.filter(([, v]) => v !== undefined).map(([name]) => name);
  if (mode === 'ab' && given.length > 0) throw new Error(`deploy: ${given.join(', ')} ${given.length > 1 ? 'are canary settings' : 'is a canary setting'}, not read in an A/B test (--mode ab)`);
  if (mode === 'canary' && f.abWeight !== undefined) throw new Error('deploy: --ab-weight is an A/B setting, not read by a canary (give --mode ab)');
  // Flags are merged into these sections, so each must be an object: "canary": null was read as the defaults.
  for (const section of ['canary', 'ab'] as const) {
    const value = base[section];
    if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) throw new Error(`deploy: deployment plan ${f.plan}: "${section}" must be a JSON object, got ${JSON.stringify(value)}`);
  }
  const canary = { ...((base.canary as object | undefined) ?? {}) } as Record<string, unknown>;
  const ab = { ...((base.ab as object | undefined) ?? {}) } as Record<string, unknown>;
  if (f.steps) canary.steps = f.steps;
  if (f.analysisSeconds !== undefined) canary.analysisSeconds = ab.analysisSeconds = f.analysisSeconds;
  if (f.passesPerStep !== undefined) canary.passesPerStep = f.passesPerStep;
  if (f.stepDeadlineSeconds !== undefined) canary.stepDeadlineSeconds = f.stepDeadlineSeconds;
  if (f.failureLimit !== undefined) canary.failureLimit = f.failureLimit;
  if (f.abWeight !== undefined) ab.challengerWeight = f.abWeight;
  const request = {
    ...base,
    model,
    challengerVersion: parseNumberFlag('<version>', version, { int: true, min: 1 }, 'deploy'),
    startedBy: `cli (${process.env.USER ?? 'unknown user'})`,
    ...(f.mode ? { mode: f.mode } : {}),
    ...(f.shadowSeconds !== undefined ? { shadowSeconds: f.shadowSeconds } : {}),
    ...(f.requireApproval !== undefined ? { requireApproval: f.requireApproval } : {}),
    canary,
    ab,
  };
  lazy.deploymentPlan().parseDeploymentRequest(request); // fail here, with the field named, rather than in the workflow
  return request as DeploymentRequest;
}

/** Running deployments of a model, from the store. */
export async function runningDeployments(store: Database, model: string): Promise<string[]> {
  return (await store.db.selectFrom('deployments').select('id').where('model', '=', model).where('status', '=', 'running').execute()).map((r) => r.id);
}

/** ab-report's --since as an ISO time (default: 30 days ago); a date that does not exist or a word is refused, not compared as text. */
export function abReportSince(flag: string | undefined, now = Date.now()): string {
  if (flag === undefined) return new Date(now - 30 * 86_400_000).toISOString();
  const parsed = instant(false).safeParse(flag);
  if (!parsed.success) throw new Error(`deployments ab-report: --since ${describeValidationError(parsed.error)}`);
  return parsed.data.toISOString();
}

/**
 * One line per analysis and decision: what a person reads to understand a rollout. Each line escaped:
 * decisions hold text people and clients gave (who steered it, an abort's reason), analyses and
 * blockers stored text (alert messages), none of which may drive the terminal or fake a line.
 */
export function describeDeployment(s: DeploymentState): string {
  const lines = [
    `${s.deploymentId}: ${s.model} v${s.challengerVersion} vs champion v${s.championVersion ?? '-'} (${s.mode}) — ${s.status}${s.run > 1 ? ` (run ${s.run})` : ''}`,
    `  challenger traffic ${(s.challengerWeight * 100).toFixed(0)}%${s.mode === 'canary' && s.step >= 0 ? `, step ${s.step + 1}/${s.steps.length} of [${s.steps.join(', ')}]%` : ''}, failed analyses ${s.failures}${s.analysisCount > s.analyses.length ? ` (newest ${s.analyses.length} of ${s.analysisCount} analyses shown)` : ''}`,
  ];
  for (const a of s.analyses) lines.push(`  ${a.at} ${a.phase} @${(a.weight * 100).toFixed(0)}%${a.held ? ` (held: ${a.held})` : ''}: ${a.verdict} — ${a.reasons.join('; ')}`);
  for (const b of s.blockers ?? []) lines.push(`  held by ${b}`);
  if (s.decisionCount > s.decisions.length) lines.push(`  (newest ${s.decisions.length} of ${s.decisionCount} decisions shown)`);
  for (const d of s.decisions) lines.push(`  ${d.at} ${d.message}`);
  return lines.map(escapeControl).join('\n');
}

async function withClient<T>(run: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectClient(lazy.config().loadConfig());
  try {
    return await run(client);
  } finally {
    await client.connection.close();
  }
}

export function deployCommand(): Command {
  return new Command('deploy')
    .description('start a deployment workflow: canary steps with analysis and automatic rollback, or an A/B test')
    .argument('<model>', 'registered model name')
    .argument('<version>', 'the challenger version')
    .option('--mode <mode>', 'canary | ab', undefined)
    .option('--steps <list>', 'canary traffic steps in percent, ending at 100 (default 5,25,50,100)')
    .option('--analysis-seconds <n>', 'time between analyses (default 300 canary, 3600 A/B)')
    .option('--passes-per-step <n>', 'analyses that must pass before the next step (default 1)')
    .option('--step-deadline-seconds <n>', 'an inconclusive step pauses for a person after this long (default from the label horizon h: 60 + 10·h sessions as calendar days, 98 days for h = 1, 154 for h = 5)')
    .option('--failure-limit <n>', 'failed analyses that trigger the automatic rollback (default 1)')
    .option('--shadow-seconds <n>', 'a shadow phase first: the challenger predicts on every request without serving')
    .option('--require-approval', 'wait for `deployments approve-start` before any traffic moves')
    .option('--ab-weight <w>', 'A/B mode: challenger traffic share (default 0.5)')
    .option('--plan <file>', 'a JSON deployment plan (see lib/deployment/plan.ts); flags override it')
    .option('--workflow-id <id>', 'workflow id (default deploy-<model>-v<version>-<time>)')
    .option('--no-follow', 'return once started')
    .action(async (model: string, version: string, opts: Record<string, unknown>) => {
      const request = deploymentRequestFromFlags(model, version, opts);
      // Advisory only (the worker's first activity decides on its own store): a CLI with no local
      // store, one that talks to Temporal alone, skips it rather than fail or create an empty store.
      const stored = await withStore((store) => runningDeployments(store, model)).catch((error: Error) => {
        if (error.name !== 'StoreNotFoundError') throw error;
        return [] as string[];
      });
      const config = lazy.config().loadConfig();
      const { deploymentStateQuery, deploymentWorkflow } = lazy.workflows();
      await withClient(async (client) => {
        // Early word only: the deployment's first activity refuses a second one race-free, and
        // releases rows whose workflow ended without recording it (those are skipped here too).
        const running: string[] = [];
        for (const id of stored) {
          const status = await client.workflow.getHandle(id).describe().then((d) => d.status.name, (error: Error) => (error.name === 'WorkflowNotFoundError' ? 'NOT_FOUND' : 'RUNNING'));
          if (status === 'RUNNING') running.push(id);
        }
        if (running.length > 0) throw new Error(`a deployment of ${model} is already running (${running.join(', ')}): abort it first with "mlp deployments abort <id>"`);
        const id = (opts.workflowId as string | undefined) ?? `deploy-${model}-v${version}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
        const handle = await client.workflow.start(deploymentWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [request] });
        console.log(`started ${id}\n  Web UI: ${webUiLink(config, id, handle.firstExecutionRunId)}`);
        if (opts.follow === false) return;
        // Progress on stderr (a live line on a terminal, a line per change otherwise); the outcome on stdout.
        const progress = progressSink();
        const timer = setInterval(() => {
          handle
            .query(deploymentStateQuery)
            .then((s) => {
              const verdict = s.analyses.length ? `: ${s.analyses[s.analyses.length - 1].verdict}` : '';
              const step = s.mode === 'canary' && s.step >= 0 ? ` step ${s.step + 1}/${s.steps.length}` : '';
              progress.update([{ key: id, text: `${s.status} @${(s.challengerWeight * 100).toFixed(0)}%${step}${verdict}`, fraction: s.challengerWeight, active: true }]);
            })
            .catch(() => undefined);
        }, 1000);
        let outcome: DeploymentState;
        try {
          outcome = await handle.result();
        } finally {
          clearInterval(timer);
          progress.finish();
        }
        console.log(describeDeployment(outcome));
      });
    });
}

/** A deployment's state: the stored outcome once it has ended (no Temporal needed), else a query of the running workflow. */
/** A deployment whose row says running while its workflow has closed or is gone. */
interface ClosedDeployment {
  deploymentId: string;
  model: string;
  challengerVersion: number;
  championVersion: number | null;
  mode: string;
  storeStatus: string;
  workflowStatus: string;
  closedAt?: string;
  note: string;
}

async function deploymentState(store: Database, id: string): Promise<DeploymentState | ClosedDeployment> {
  const row = await store.db.selectFrom('deployments').selectAll().where('id', '=', id).executeTakeFirst();
  if (row?.outcome) return JSON.parse(row.outcome) as DeploymentState;
  const { WorkflowNotFoundError } = lazy.temporalClient();
  const { deploymentStateQuery } = lazy.workflows();
  return withClient(async (client) => {
    const handle = client.workflow.getHandle(id);
    try {
      const described = await handle.describe();
      // A row left 'running' by a workflow that was terminated (or failed, or timed out): its last state
      // would read as running, so the store's row is shown with what Temporal says instead.
      if (row && described.status.name !== 'RUNNING') return closedDeployment(row, described.status.name, await lazy.registry().aliasVersion(store, row.model, 'champion'), described.closeTime);
      return await handle.query(deploymentStateQuery);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) {
        if (row) return closedDeployment(row, 'NOT_FOUND', await lazy.registry().aliasVersion(store, row.model, 'champion'));
        throw new Error(`no deployment "${id}": list them with "mlp deployments list"`, { cause: error });
      }
      throw error;
    }
  });
}

function closedDeployment(row: { id: string; model: string; challenger_version: number; champion_version: number | null; mode: string; status: string; ended_at: string | null }, status: string, champion: number | undefined, closed?: Date): ClosedDeployment {
  return { deploymentId: row.id, model: row.model, challengerVersion: Number(row.challenger_version), championVersion: row.champion_version === null ? null : Number(row.champion_version), mode: row.mode, storeStatus: row.status, workflowStatus: status, ...(closed ? { closedAt: closed.toISOString() } : {}), note: closedWorkflowNote(row, status, champion, closed) };
}

/**
 * What a person must know of a deployment whose workflow has closed (terminated from the Web UI,
 * failed, timed out) or is gone without recording its outcome. While its row says running, nothing
 * steers the split it left until the next monitoring run reports it (champion_mismatch) and marks the
 * row failed; the way out names the champion alias's version (a rollback without --to-version would
 * go to the champion before it). Once the row has ended, only that is said: the split was reported then.
 */
function closedWorkflowNote(row: { id: string; model: string; status: string; ended_at: string | null }, status: string, champion: number | undefined, closed?: Date): string {
  const how = status === 'NOT_FOUND' ? 'is gone (not found in Temporal)' : `is ${status.toLowerCase()}${closed ? ` (closed ${closed.toISOString()})` : ''}`;
  if (row.status !== 'running') return `its workflow ${how} without recording an outcome; the row ended ${row.status}${row.ended_at ? ` at ${row.ended_at}` : ''} (monitoring reported the split it left: mlp alerts list)`;
  const rollback = champion === undefined ? `choose the version to serve (mlp models show ${row.model}) and roll back to it (mlp models rollback ${row.model} --to-version N --reason "…")` : `roll back to the champion (mlp models rollback ${row.model} --to-version ${champion} --reason "…")`;
  return `but its workflow ${how}: nothing judges, widens or rolls back the split it left. First ${rollback}, then deploy again if wanted; the next monitoring run raises champion_mismatch and marks ${row.id} failed`;
}

/** Temporal's status of each deployment workflow in `ids`, or why it could not be asked (list works without Temporal). */
async function workflowStatuses(ids: string[]): Promise<Map<string, { status: string; closed?: Date }> | Error> {
  if (ids.length === 0) return new Map();
  let client: Client;
  try {
    client = await connectClient(lazy.config().loadConfig());
  } catch (error) {
    return error as Error;
  }
  try {
    const { WorkflowNotFoundError } = lazy.temporalClient();
    const out = new Map<string, { status: string; closed?: Date }>();
    for (const id of ids) {
      try {
        const d = await client.workflow.getHandle(id).describe();
        out.set(id, { status: d.status.name, ...(d.closeTime ? { closed: d.closeTime } : {}) });
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) return error as Error;
        out.set(id, { status: 'NOT_FOUND' });
      }
    }
    return out;
  } finally {
    await client.connection.close();
  }
}

/** A step as a person reads it ("2" of "step 2/4", or "shadow") → state.step. */
export function stepIndexOf(step: string): number {
  if (step === 'shadow') return -1;
  const parsed = numberFlag('step', { int: true, min: 1 }).safeParse(step);
  if (!parsed.success) throw new Error(`step must be a step number as shown ("2" for step 2/4) or "shadow", got "${step}"`);
  return parsed.data - 1;
}

function variantOf(variant: string): 'A' | 'B' {
  if (variant !== 'A' && variant !== 'B') throw new Error(`variant must be A (keep the champion) or B (promote the challenger), got "${variant}"`);
  return variant;
}

/** Runs an update; a rejection (wrong state, stale step) becomes an error naming the reason. */
export async function sendUpdate<T>(name: string, id: string, send: () => Promise<T>): Promise<T> {
  const { WorkflowNotFoundError, WorkflowUpdateFailedError } = lazy.temporalClient();
  try {
    return await send();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new Error(`no running deployment "${id}": list them with "mlp deployments list"`, { cause: error });
    if (error instanceof WorkflowUpdateFailedError) throw new Error(`${name} rejected by ${id}: ${error.cause?.message ?? error.message}`, { cause: error });
    throw error;
  }
}

export function deploymentsCommand(): Command {
  const cmd = new Command('deployments').description('deployment workflows: list, show, approve-start, approve-step, override, promote, pause, resume, abort');
  cmd
    .command('list [model]')
    .description('deployments, newest first')
    .action((model: string | undefined) =>
      withStore(async (store) => {
        let q = store.db.selectFrom('deployments').selectAll().orderBy('started_at', 'desc');
        if (model) q = q.where('model', '=', model);
        const rows = await q.execute();
        if (rows.length === 0) console.log(model ? `no deployments of ${model}` : 'no deployments yet: start one with "mlp deploy <model> <version>"');
        // A row says running until monitoring settles it, also after its workflow was terminated: Temporal is asked.
        const statuses = await workflowStatuses(rows.filter((d) => d.status === 'running').map((d) => d.id));
        for (const d of rows) {
          const workflow = d.status === 'running' && !(statuses instanceof Error) ? statuses.get(d.id) : undefined;
          const closed = workflow && workflow.status !== 'RUNNING' ? `\n    ${escapeControl(closedWorkflowNote(d, workflow.status, await lazy.registry().aliasVersion(store, d.model, 'champion'), workflow.closed))}` : '';
          console.log(`${escapeControl(`${d.started_at}  ${d.id.padEnd(48)} ${d.model} v${d.challenger_version} vs v${d.champion_version ?? '-'}  ${d.mode.padEnd(6)} ${d.status}${d.ended_at ? ` (ended ${d.ended_at})` : ''}`)}${closed}`);
        }
        if (statuses instanceof Error) console.error(escapeControl(`running deployments not checked against their workflows: ${statuses.message}`));
      }),
    );
  cmd
    .command('show <id>')
    .description('the full state: step, weights, every analysis and decision')
    .option('--json', 'as JSON')
    .action((id: string, opts: { json?: boolean }) =>
      withStore(async (store) => {
        const s = await deploymentState(store, id);
        if (opts.json) console.log(printableJson(s));
        else if ('workflowStatus' in s) console.log(`${escapeControl(`${s.deploymentId}: ${s.model} v${s.challengerVersion} vs champion v${s.championVersion ?? '-'} (${s.mode}) — ${s.storeStatus} in the store`)}\n  ${escapeControl(s.note)}`);
        else console.log(describeDeployment(s));
      }),
    );
  const by = `cli (${process.env.USER ?? 'unknown user'})`;
  type Workflows = ReturnType<typeof lazy.workflows>;
  const steer = (name: string, description: string, send: (c: Client, w: Workflows, id: string, ...args: string[]) => Promise<DeploymentState>, args = '') =>
    cmd
      .command(`${name} <id>${args}`)
      .description(description)
      .action((id: string, ...rest: unknown[]) =>
        withClient(async (client) => {
          const workflows = lazy.workflows();
          const state = await sendUpdate(name, id, () => send(client, workflows, id, ...rest.filter((r): r is string => typeof r === 'string')));
          console.log(`${name} applied to ${id}\n${describeDeployment(state)}`);
        }),
      );
  steer('approve-start', 'let a deployment that waits for approval start moving traffic', (c, w, id) => c.workflow.getHandle(id).executeUpdate(w.approveStartUpdate, { args: [{ by }] }));
  steer('approve-step', 'accept the current step (as shown: "step 2/4", or "shadow") without waiting for its analyses, e.g. when paused as inconclusive', (c, w, id, step) => c.workflow.getHandle(id).executeUpdate(w.approveStepUpdate, { args: [{ by, step: stepIndexOf(step) }] }), ' <step>');
  steer('override', 'let traffic move despite an open data alert (its id as shown in "traffic held: … (alert <id>)")', (c, w, id, alertId) => c.workflow.getHandle(id).executeUpdate(w.overrideBlockUpdate, { args: [{ by, alertId }] }), ' <alert-id>');
  steer('promote', 'end an A/B test by hand: B promotes the challenger, A keeps the champion', (c, w, id, variant) => c.workflow.getHandle(id).executeUpdate(w.promoteUpdate, { args: [{ by, variant: variantOf(variant) }] }), ' <variant>');
  steer('pause', 'hold the current traffic split until resumed', (c, w, id) => c.workflow.getHandle(id).executeUpdate(w.pauseUpdate, { args: [{ by }] }));
  steer('resume', 'continue a paused deployment', (c, w, id) => c.workflow.getHandle(id).executeUpdate(w.resumeUpdate, { args: [{ by }] }));
  cmd
    .command('ab-report <model>')
    .description('matured hit rates of served variants side by side, with Holm-corrected tests against the control (any number of variants)')
    .requiredOption('--variants <list>', 'variants to compare, the control first, e.g. A,B,C')
    .option('--since <iso>', 'predictions logged since (default: 30 days ago)')
    .option('--alpha <a>', 'family-wise significance level', '0.05')
    .option('--min-samples <n>', 'matured predictions each variant needs before any decision', '100')
    .action((model: string, opts: { variants: string; since?: string; alpha: string; minSamples: string }) =>
      withStore(async (store) => {
        const { abReportInStore, formatAbReport } = lazy.abReport();
        const since = abReportSince(opts.since);
        console.log(formatAbReport(await abReportInStore(store, { model, since, variants: opts.variants.split(',').map((v) => v.trim()), alpha: parseNumberFlag('--alpha', opts.alpha, { min: 0, max: 1 }, 'deployments ab-report'), minSamplesPerVariant: parseNumberFlag('--min-samples', opts.minSamples, { int: true, min: 1 }, 'deployments ab-report') })));
      }),
    );
  cmd
    .command('abort <id>')
    .description('stop a deployment: traffic back to the champion')
    .requiredOption('--reason <text>', 'why (kept in the decision log)')
    .action((id: string, opts: { reason: string }) =>
      withClient(async (client) => {
        const { abortUpdate } = lazy.workflows();
        const state = await sendUpdate('abort', id, () => client.workflow.getHandle(id).executeUpdate(abortUpdate, { args: [{ by, reason: opts.reason }] }));
        console.log(`abort applied to ${id}\n${describeDeployment(state)}`);
      }),
    );
  return cmd;
}
