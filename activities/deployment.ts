/**
 * Activities of deploymentWorkflow: thin adapters over the serving routes (lib/serving), the
 * registry aliases and the deployment analyses (lib/deployment). All idempotent, so retries are safe.
 *
 * A deployment owns its model's traffic only while nobody else moves it: once the champion alias
 * moved away from the champion it started against (a manual rollback) or the routes were written by
 * someone else since its own last write (an admin edit), its traffic moves and analyses answer
 * `{ superseded }` and move nothing, and its own rollback leaves the traffic as it is.
 */
import type { Cache } from '../lib/cache/cache';
import type { ArtifactStore } from '../lib/artifacts/artifact-store';
import { abReportInStore, type AbReport } from '../lib/deployment/ab-report';
import { analyseCanaryInStore, type CanaryAnalysis, type CanaryThresholdsInput } from '../lib/deployment/canary-analysis';
import { withLabelVerification } from '../lib/deployment/outcomes';
import { pinnedArtifactProblem, type DeploymentArtifacts } from '../lib/deployment/artifact-pins';
import { expectedScoresOf } from '../lib/deployment/expected-scores';
import { logDeploymentAnalysis, type AnalysisLogEntry } from '../lib/deployment/analysis-log';
import { parseDeploymentRequest, type DeploymentPlan } from '../lib/deployment/plan';
import type { ServingNow } from '../lib/deployment/takeover';
import { BadInputError } from '../lib/errors';
import { DATA_BLOCKING_RULES, dataAlertsHolding } from '../lib/monitoring/data-alerts';
import { assertSameLabelAsChampion, LabelMismatchError } from '../lib/registry/label-spec';
import { AliasMovedError, aliasHistory, aliasVersion, getModelVersion, moveAlias, RegistryError, ServingVetoError, trainedThroughOf, UnreadableVersionRowError, verifyRegisteredVersion, type ModelVersion } from '../lib/registry/model-registry';
import { servingVeto } from '../lib/registry/promotion';
import { ArtifactVerificationError } from '../lib/registry/verify-artifact';
import { readServingRoutes, singleRoute, writeServingRoutes, type WriteServingRoutesInput } from '../lib/serving/serving-routes';
import { assertServingRecordsVerified, UnverifiedServingRecordsError } from '../lib/serving/verified-serving-records';
import { agreementHint, championAliasDisagreement } from '../lib/serving/served-champion';
import type { Database } from '../lib/store/database';
import { withFailureMapping } from './failures';
import { deploymentOpenCheck, deploymentWorkflowOpen } from './deployment-workflow-open';
import { configuredSigning } from '../lib/config';
import type { RowSigning } from '../lib/registry/row-signature';

export interface BeginDeploymentInput {
  deploymentId: string;
  request: unknown;
  /** workflowInfo().firstExecutionRunId of the calling run (absent from workflows before it): recorded, and every move must come from the same chain. */
  firstExecutionRunId?: string;
}

/** The caller's workflowInfo().firstExecutionRunId, passed with every traffic and alias move (absent from workflows before it). */
export interface ExecutionChain {
  firstExecutionRunId?: string;
}

/** Alert rules about a model's input data: while one is open, a deployment of that model does not move traffic. */
export const DEPLOYMENT_BLOCKING_RULES: readonly string[] = DATA_BLOCKING_RULES;

/** The answer of a traffic move or analysis of a deployment someone else took the traffic from: nothing was moved, why, and what serves. */
export interface Superseded {
  superseded: string;
  /** The routes and champion alias as read then (absent in answers recorded before it was added). */
  serving?: ServingNow;
}

/** What serves `model` now: its stored routes and champion alias, and who set them last. */
async function servingNow(store: Database, model: string): Promise<ServingNow> {
  const routes = await readServingRoutes(store, model);
  const champion = (await aliasVersion(store, model, 'champion')) ?? null;
  const move = (await aliasHistory(store, model)).filter((m) => m.alias === 'champion').at(-1);
  return {
    champion,
    ...(move ? { championMovedBy: move.movedBy } : {}),
    ...(routes ? { routes: routes.routes.map((r) => ({ variant: r.variant, version: r.version, weight: r.weight })), routesUpdatedBy: routes.updatedBy, ...(routes.shadow ? { shadow: routes.shadow.version } : {}) } : {}),
  };
}

/** The answer of an activity that found the traffic taken over: nothing moved. */
const supersededAnswer = async (store: Database, model: string, why: string): Promise<Superseded> => ({ superseded: why, serving: await servingNow(store, model) });

type DeploymentRow = Awaited<ReturnType<typeof deploymentRow>>;

function deploymentRow(store: Database, id: string) {
  return store.db.selectFrom('deployments').select(['id', 'model', 'champion_version', 'challenger_version', 'status', 'started_by', 'started_at', 'ended_at', 'running_model', 'routes_generation', 'challenger_sha256', 'champion_sha256', 'first_execution_run_id']).where('id', '=', id).executeTakeFirst();
}

/** The versions of a deployment row and the artifacts they had when it started (lib/deployment/artifact-pins.ts). */
function artifactsOf(d: NonNullable<DeploymentRow>): DeploymentArtifacts {
  return {
    deploymentId: d.id,
    challengerVersion: Number(d.challenger_version),
    championVersion: d.champion_version === null ? null : Number(d.champion_version),
    challengerSha256: d.challenger_sha256 ?? null,
    championSha256: d.champion_sha256 ?? null,
  };
}

/** What a traffic or alias move routes to or names, checked against its deployment's row. */
interface MoveVersions {
  /** Versions given traffic (routes and shadow). */
  routed: number[];
  challenger?: number;
  champion?: number | null;
  /** The moving run's workflowInfo().firstExecutionRunId. */
  firstExecutionRunId?: string;
}

/**
 * Why a move for `deploymentId` may not be made (undefined when it may): no deployments row records
 * it (every deployment is recorded, checked, by beginDeployment before it moves anything; a workflow
 * started with a forged carried state never was), the row is of another model, or the move names
 * versions that are not the row's challenger and champion. The row's artifacts are pinned apart
 * (verifyVersions with artifactsOf).
 */
function unrecordedMove(d: DeploymentRow, deploymentId: string | undefined, model: string, move: MoveVersions): string | undefined {
  if (deploymentId === undefined) return 'the move names no deployment, and only a recorded deployment moves traffic';
  if (!d) return `no deployment ${deploymentId} is recorded (beginDeployment records every deployment before it moves traffic), so it owns no traffic`;
  if (d.model !== model) return `deployment ${deploymentId} is of ${d.model}, not ${model}`;
  const chain = otherChain(d, move.firstExecutionRunId);
  if (chain !== undefined) return chain;
  const challenger = Number(d.challenger_version);
  const champion = d.champion_version === null ? null : Number(d.champion_version);
  const versions = `v${challenger} against ${champion === null ? 'no champion' : `v${champion}`}`;
  if (move.challenger !== undefined && move.challenger !== challenger) return `deployment ${deploymentId} deploys ${versions}, not v${move.challenger}`;
  if (move.champion !== undefined && move.champion !== champion) return `deployment ${deploymentId} deploys ${versions}: its champion is not ${move.champion === null ? 'none' : `v${move.champion}`}`;
  const foreign = move.routed.filter((v) => v !== challenger && v !== champion);
  if (foreign.length > 0) return `deployment ${deploymentId} deploys ${versions}, and routes no traffic to ${[...new Set(foreign)].map((v) => `v${v}`).join(', ')}`;
  return undefined;
}

/**
 * Why a run of chain `firstExecutionRunId` may not act for `d` (undefined when it may): the row was
 * begun by another execution chain under the same workflow id. A continue-as-new and a reset keep
 * the chain; a run started anew under the id (the running one terminated, a cron chain, a retried
 * start that never began) has its own, and its input, which a client chose, is no deployment's.
 * Rows from before 0036 record no chain: any run of the id may act for them, as before.
 */
function otherChain(d: { id: string; first_execution_run_id?: string | null }, firstExecutionRunId: string | undefined): string | undefined {
  const recorded = d.first_execution_run_id ?? null;
  if (recorded === null || recorded === firstExecutionRunId) return undefined;
  return `deployment ${d.id} was begun by the workflow execution chain ${recorded}, not by this run's (${firstExecutionRunId ?? 'none given'}): a run started anew under its id (not continued as new from it, nor a reset of it) owns none of its traffic`;
}

/** The deployment a routes write names as its writer (`updatedBy: "deployment <id>"`), for workflows that pass no deploymentId. */
const writerId = (updatedBy: string): string | undefined => /^deployment (.+)$/.exec(updatedBy)?.[1];

/**
 * Why `d` no longer owns its model's traffic (undefined while it does), and the routes generation
 * read, which the caller's write then pins: the champion alias moved away from the champion it
 * started against, or the routes were written by someone else after its own last write. A write by
 * the deployment itself that was not recorded yet (an activity retried after writing) is its own.
 */
async function supersession(store: Database, d: NonNullable<DeploymentRow>): Promise<{ why?: string; generation: number }> {
  const routes = await readServingRoutes(store, d.model);
  const generation = routes?.generation ?? 0;
  // Its end is recorded last: a run of its workflow after it (a reset) is not the deployment that moved the traffic since.
  if (d.status !== 'running') return { generation, why: endedWhy(d) };
  if (d.champion_version !== null) {
    const started = Number(d.champion_version);
    const champion = await aliasVersion(store, d.model, 'champion');
    const move = champion !== started ? (await aliasHistory(store, d.model)).filter((m) => m.alias === 'champion').at(-1) : undefined;
    // Its own promotion (the challenger made champion by this deployment, the activity retried after
    // moving the alias) is not a takeover: the retry finishes it instead of rolling back.
    const ownPromotion = champion === Number(d.challenger_version) && move?.toVersion === champion && move.movedBy === `deployment ${d.id}`;
    if (champion !== started && !ownPromotion) {
      return { generation, why: `the champion alias of ${d.model} moved from v${started} to ${champion === undefined ? 'no version' : `v${champion}`}${move ? ` (by ${move.movedBy}: ${move.reason})` : ''} after deployment ${d.id} began` };
    }
  }
  const recorded = d.routes_generation === null || d.routes_generation === undefined ? undefined : Number(d.routes_generation);
  if (recorded !== undefined && generation !== recorded && routes?.updatedBy !== `deployment ${d.id}`) {
    return {
      generation,
      why: routes
        ? `the serving routes of ${d.model} were changed by ${routes.updatedBy} (generation ${generation}: ${routes.reason}) after deployment ${d.id}'s own change (generation ${recorded})`
        : `the serving routes of ${d.model} were removed after deployment ${d.id}'s own change (generation ${recorded})`,
    };
  }
  return { generation };
}

/**
 * Clears the `canary` alias while it still names `d`'s challenger, unless another deployment of the
 * model runs (a retry after the model was released: the alias is then the new one's) or the routes
 * still give the challenger canary traffic. A move in between (AliasMovedError) leaves it be.
 */
async function clearCanaryAlias(store: Database, d: NonNullable<DeploymentRow>, reason: string, signing: RowSigning): Promise<void> {
  const challenger = Number(d.challenger_version);
  if ((await aliasVersion(store, d.model, 'canary')) !== challenger) return;
  if (await store.db.selectFrom('deployments').select('id').where('running_model', '=', d.model).where('id', '!=', d.id).executeTakeFirst()) return;
  const routes = await readServingRoutes(store, d.model);
  if (routes?.routes.some((r) => r.variant === 'canary' && r.version === challenger && r.weight > 0)) return;
  try {
    await moveAlias(store, { name: d.model, alias: 'canary', version: undefined, movedBy: `deployment ${d.id}`, reason, expected: { version: challenger } }, signing);
  } catch (error) {
    if (!(error instanceof AliasMovedError)) throw error;
  }
}

/** Why a finished deployment moves nothing: its record is kept, and a new deployment is what moves traffic. */
function endedWhy(d: { id: string; model: string; status: string; ended_at: string | null; challenger_version: number | string }): string {
  return `deployment ${d.id} of ${d.model} v${d.challenger_version} already ended (${d.status}${d.ended_at ? ` at ${d.ended_at}` : ''}), and a finished deployment moves no traffic and keeps its record (its workflow run again, by a reset or a pipeline promoting the same version again under the same id); start a new deployment: \`mlp deploy ${d.model} ${d.challenger_version}\``;
}

/**
 * Whether the workflow of a deployment row has closed (failed, terminated, timed out) without
 * recording its end; false when there is no client to ask (outside a worker), so the row is then
 * taken at its word.
 */
async function workflowClosed(deploymentId: string): Promise<boolean> {
  return (await deploymentWorkflowOpen(deploymentId)) === false;
}

/** A duplicate key (MySQL, SQLite): here, another running deployment of the model holds running_model. */
function isDuplicateKey(error: unknown): boolean {
  const e = error as { code?: string; errno?: number } | undefined;
  return e?.errno === 1062 || e?.code === 'ER_DUP_ENTRY' || (typeof e?.code === 'string' && e.code.startsWith('SQLITE_CONSTRAINT'));
}

/**
 * Why `version` may not take traffic, or undefined when it may: its registry row or artifact no
 * longer verifies (the API's loader refuses it too), or its recorded evaluation vetoes it (a tripped
 * guard; unless `veto: false`). Failures to read the store are thrown, so the activity retries.
 */
async function servingRefusal(store: Database, artifacts: ArtifactStore, signing: RowSigning, model: string, version: number, options: VerifyOptions = {}): Promise<{ code: 'ARTIFACT_INVALID' | 'SERVING_VETOED'; message: string } | undefined> {
  let verified: ModelVersion;
  try {
    verified = (await verifyRegisteredVersion(store, artifacts, model, version, signing)).version;
  } catch (error) {
    // A row whose JSON cannot be read was edited: refused as any edited row is (not retried, nor taken for a deleted one).
    if (error instanceof ArtifactVerificationError || error instanceof UnreadableVersionRowError) return { code: 'ARTIFACT_INVALID', message: error.message };
    throw error;
  }
  // A running deployment's versions must still be the models it started with.
  const moved = options.pins ? pinnedArtifactProblem(options.pins, model, version, verified.artifactSha256) : undefined;
  if (moved !== undefined) return { code: 'ARTIFACT_INVALID', message: moved };
  options.verified?.set(version, verified);
  // A version its own evaluation vetoed (a tripped guard) never takes traffic, whoever asks.
  const veto = options.veto === false ? undefined : servingVeto(verified.metrics);
  return veto === undefined ? undefined : { code: 'SERVING_VETOED', message: new ServingVetoError(model, version, veto).message };
}

/**
 * Every version a traffic move would route to must pass the same artifact verification the API's
 * loader applies, and must not be vetoed by its recorded evaluation (a tripped guard); otherwise the
 * move would point aliases and routes at a model no process may serve.
 * A failure is final (retrying cannot repair the file), so the workflow fails before anything moves.
 */
async function verifyVersions(store: Database, artifacts: ArtifactStore, signing: RowSigning, model: string, versions: Iterable<number>, why: string, options: VerifyOptions = {}): Promise<void> {
  for (const version of [...new Set(versions)].sort((a, b) => a - b)) {
    const refusal = await servingRefusal(store, artifacts, signing, model, version, options);
    if (refusal?.code === 'ARTIFACT_INVALID') throw new BadInputError(`${why}: ${refusal.message}; nothing was moved (restore the artifact or register a new version)`, 'ARTIFACT_INVALID');
    if (refusal) throw new BadInputError(`${why}: ${refusal.message}`, 'SERVING_VETOED');
  }
}

interface VerifyOptions {
  /** false: a recorded veto does not refuse (a champion only kept, not newly routed to). */
  veto?: boolean;
  /** The deployment's versions and their artifacts at its start: a row naming another artifact since is refused. */
  pins?: DeploymentArtifacts;
  /** Receives each version's row as verified. */
  verified?: Map<number, ModelVersion>;
}

/** A version under test of a running deployment that may no longer serve, and why. */
export interface UnverifiedVersion {
  /** 'challenger': the canary, shadow or B; 'champion': the reference or A, which a rollback would route to. */
  role: 'challenger' | 'champion';
  version: number;
  reason: string;
}

/** The answer of an analysis that found a version under test no longer servable: nothing was analysed. */
export interface Unverified {
  unverified: UnverifiedVersion[];
}

/**
 * The versions under test that verifyVersions would refuse now (artifact or registry row no longer
 * verifying, a serving veto, a deleted row), champion first; [] when all may serve. Rows and
 * artifacts can change while a rollout runs (the API then withdraws the model), so the analyses and
 * the workflow's traffic moves ask this before they go on.
 */
async function unverifiedVersions(store: Database, artifacts: ArtifactStore, signing: RowSigning, model: string, versions: Array<{ role: UnverifiedVersion['role']; version: number | undefined | null }>, pins?: DeploymentArtifacts): Promise<UnverifiedVersion[]> {
  const found: UnverifiedVersion[] = [];
  const order = { champion: 0, challenger: 1 };
  for (const { role, version } of [...versions].sort((a, b) => order[a.role] - order[b.role])) {
    if (version === undefined || version === null) continue;
    let refusal: { message: string } | undefined;
    try {
      refusal = await servingRefusal(store, artifacts, signing, model, version, { pins });
    } catch (error) {
      // A row deleted since: nothing left to verify, nor to serve.
      if (!(error instanceof RegistryError)) throw error;
      refusal = error;
    }
    if (refusal) found.push({ role, version, reason: refusal.message });
  }
  return found;
}

/** trainedThroughOf the version (undefined without one, or when its row cannot be read: the verification above names that). */
async function trainedThroughOfVersion(store: Database, model: string, version: number | undefined): Promise<string | undefined> {
  if (version === undefined) return undefined;
  const v = await getModelVersion(store, model, version).catch(() => undefined);
  return v && trainedThroughOf(v);
}

/**
 * Where the rollout's hit-rate evidence starts: the last step's cumulativeSince, else when the
 * deployment was recorded (never after the step's start), else the step's start.
 */
function cumulativeOrStart(cumulativeSince: string | undefined, startedAt: string | undefined, since: string): string {
  if (cumulativeSince !== undefined) return cumulativeSince;
  if (startedAt === undefined || Number.isNaN(Date.parse(startedAt))) return since;
  return Date.parse(startedAt) <= Date.parse(since) ? new Date(Date.parse(startedAt)).toISOString() : since;
}

const unverifiedText = (found: UnverifiedVersion[]) => found.map((u) => `the ${u.role} v${u.version} no longer verifies: ${u.reason}`);

/** `signing`: the registry's signing key (MODEL_SIGNING_KEY); default: from the environment, as the alert channels are. */
export function deploymentActivities({ store, cache, artifacts, signing = configuredSigning() }: { store: Database; cache: Cache; artifacts: ArtifactStore; signing?: RowSigning }) {
  /**
   * The other deployment of `model` still running, if any. Rows whose workflow closed without
   * recording its end (failed, terminated) are marked failed and release the model. Rows from
   * before the lock (no running_model) count as running too.
   */
  async function runningDeployment(model: string, self: string): Promise<NonNullable<DeploymentRow> | undefined> {
    const rows = await store.db
      .selectFrom('deployments')
      .select(['id', 'model', 'champion_version', 'challenger_version', 'status', 'started_by', 'started_at', 'ended_at', 'running_model', 'routes_generation', 'challenger_sha256', 'champion_sha256', 'first_execution_run_id'])
      .where('model', '=', model)
      .where('id', '!=', self)
      .where((eb) => eb.or([eb('status', '=', 'running'), eb('running_model', '=', model)]))
      .orderBy('started_at')
      .execute();
    for (const r of rows) {
      if (r.status === 'running' && !(await workflowClosed(r.id))) return r;
      await store.db
        .updateTable('deployments')
        .set({ running_model: null, ...(r.status === 'running' ? { status: 'failed', ended_at: new Date().toISOString() } : {}) })
        .where('id', '=', r.id)
        .execute();
    }
    return undefined;
  }

  /**
   * With the key, the routes and champion alias a signed write is based on, verified first (a
   * deployment's champion, its steps and its promotion): routes and alias moved together by SQL to a
   * superseded version were otherwise taken as the champion and written again, signed. Refused as a
   * registry rejection (retrying cannot help) naming what fails.
   */
  async function assertVerifiedRecords(model: string, what: string): Promise<void> {
    try {
      await assertServingRecordsVerified(store, model, signing, what);
    } catch (error) {
      if (error instanceof UnverifiedServingRecordsError) throw new RegistryError(error.message);
      throw error;
    }
  }

  /** The deployment whose activity this is, with why it no longer owns the traffic (if so) and the generation to pin. */
  async function ownership(deploymentId: string | undefined): Promise<{ row?: NonNullable<DeploymentRow>; why?: string; generation?: number }> {
    const row = deploymentId === undefined ? undefined : await deploymentRow(store, deploymentId);
    if (!row) return {};
    return { row, ...(await supersession(store, row)) };
  }

  /**
   * ownership() of a deployment about to move traffic or the alias, refused (DEPLOYMENT_NOT_RECORDED,
   * nothing moved) unless its row records it for `model` and `move`'s versions (unrecordedMove).
   */
  async function recordedOwnership(deploymentId: string | undefined, model: string, what: string, move: MoveVersions): Promise<{ row: NonNullable<DeploymentRow>; why?: string; generation?: number }> {
    const owner = await ownership(deploymentId);
    const problem = unrecordedMove(owner.row, deploymentId, model, move);
    if (problem !== undefined || !owner.row) throw new BadInputError(`${what}: ${problem}; nothing was moved`, 'DEPLOYMENT_NOT_RECORDED');
    return { ...owner, row: owner.row };
  }

  return {
    /** Validates the request against the registry and records the deployment (once per workflow id). */
    async beginDeployment(input: BeginDeploymentInput): Promise<{ plan: DeploymentPlan; championVersion: number | null }> {
      return withFailureMapping(async () => {
        const requested = parseDeploymentRequest(input.request);
        let challengerRow: ModelVersion;
        try {
          challengerRow = await getModelVersion(store, requested.model, requested.challengerVersion);
        } catch (error) {
          throw new BadInputError(`cannot deploy: ${(error as Error).message}`);
        }
        // The default step deadline follows the challenger's label horizon (outcomes mature after it); recorded in the plan.
        const horizon = challengerRow.label.horizon;
        // A pipeline's plan comes from its experiment, checked when its file was read; one stored before the
        // A/B deadline rule (a run in flight across an upgrade) takes the default rather than failing after training.
        const fromPipeline = requested.startedBy.startsWith('pipeline ');
        const plan = parseDeploymentRequest(input.request, typeof horizon === 'number' && Number.isInteger(horizon) && horizon >= 1 ? { labelHorizon: horizon, tooShortAbDeadline: fromPipeline ? 'default' : 'refuse' } : {});
        const existing = await store.db.selectFrom('deployments').select(['id', 'model', 'champion_version', 'challenger_version', 'status', 'ended_at', 'first_execution_run_id']).where('id', '=', input.deploymentId).executeTakeFirst();
        if (existing && existing.status !== 'running') throw new BadInputError(`cannot begin: ${endedWhy(existing)}. Nothing was moved`);
        const chain = existing && otherChain(existing, input.firstExecutionRunId);
        if (chain !== undefined) throw new BadInputError(`cannot begin: ${chain}; nothing was moved. The chain that began it has ended (terminated), so its row is left running: "mlp deployments show ${input.deploymentId}" names the rollback to the champion, a deployment under a new id marks the row failed and releases the model, and so does the next monitoring run`, 'DEPLOYMENT_NOT_RECORDED');
        if (!existing) await assertVerifiedRecords(plan.model, `cannot deploy ${plan.model} v${plan.challengerVersion}`);
        const aliasChampion = existing ? undefined : await aliasVersion(store, plan.model, 'champion');
        let championVersion = existing ? (existing.champion_version === null ? null : Number(existing.champion_version)) : (aliasChampion ?? null);
        // The challenger takes traffic and the champion keeps it (and takes it back on a rollback): both must be servable.
        const verified = new Map<number, ModelVersion>();
        await verifyVersions(store, artifacts, signing, plan.model, [plan.challengerVersion], `cannot deploy ${plan.model} v${plan.challengerVersion}`, { verified });
        if (championVersion !== null && championVersion !== plan.challengerVersion) {
          // A champion alias naming a row that is gone (deleted by hand): nothing to compare with or roll back to; say so, and how to repair it.
          const gone = existing ? false : await getModelVersion(store, plan.model, championVersion).then(() => false, (error: unknown) => {
            // An unreadable row is there (edited), not gone: verifyVersions below refuses it with its own reason.
            if (error instanceof UnreadableVersionRowError) return false;
            if (error instanceof RegistryError) return true;
            throw error;
          });
          if (gone) {
            throw new RegistryError(`cannot deploy ${plan.model} v${plan.challengerVersion}: the champion alias names v${championVersion}, whose registry row is gone, so there is no champion to compare with or roll back to. Nothing was moved; first serve a version that verifies: \`mlp models rollback ${plan.model} --to-version N --reason "…"\` serves N and moves the alias to it`);
          }
          await verifyVersions(store, artifacts, signing, plan.model, [championVersion], `cannot deploy ${plan.model} v${plan.challengerVersion}`, { veto: false, verified });
          // A champion its own evaluation vetoes can neither share traffic nor take it back: the
          // challenger replaces it outright, as a first champion is served (deploying a clean version
          // is the remedy the veto names).
          if (!existing && servingVeto((await getModelVersion(store, plan.model, championVersion)).metrics) !== undefined) championVersion = null;
        }
        // The challenger under test carries the canary alias: also set by a retry whose first attempt
        // recorded the deployment and ended before moving it (moving it again records nothing).
        const markCanary = async () => {
          if (championVersion !== null && championVersion !== plan.challengerVersion) {
            await moveAlias(store, { name: plan.model, alias: 'canary', version: plan.challengerVersion, movedBy: `deployment ${input.deploymentId}`, reason: `${plan.mode} deployment started by ${plan.startedBy}` }, signing);
          }
        };
        if (existing) {
          if (existing.status === 'running') await markCanary();
          return { plan, championVersion };
        }
        // The champion a deployment compares with, routes to and rolls back to is the alias's: it must
        // be the one the routes serve, else live traffic moves off that one uncompared.
        // A running deployment's own split is exempt only while its workflow is open (asked of Temporal).
        const disagreement = await championAliasDisagreement(store, plan.model, aliasChampion, { deploymentOpen: deploymentOpenCheck() });
        if (disagreement !== undefined) throw new RegistryError(`cannot deploy ${plan.model} v${plan.challengerVersion}: ${disagreement}; a deployment compares with, routes to and rolls back to the alias's version, so it would move live traffic without comparing it with the served one. Nothing was moved; ${agreementHint(plan.model)}`);
        // One model name serves one target: the challenger must predict the champion's label.
        await assertSameLabelAsChampion(store, plan.model, [plan.challengerVersion]).catch((error: unknown) => {
          throw error instanceof LabelMismatchError ? new LabelMismatchError(`cannot deploy ${plan.model} v${plan.challengerVersion}: ${error.message}`) : error;
        });
        const row = { id: input.deploymentId, model: plan.model, mode: plan.mode, champion_version: championVersion, challenger_version: plan.challengerVersion, status: 'running', plan: JSON.stringify(plan), outcome: null, started_by: plan.startedBy, started_at: new Date().toISOString(), ended_at: null, running_model: plan.model, routes_generation: (await readServingRoutes(store, plan.model))?.generation ?? 0,
          // The models judged from here on: a row edited to name another artifact no longer verifies for this deployment.
          challenger_sha256: verified.get(plan.challengerVersion)?.artifactSha256 ?? null,
          champion_sha256: championVersion === null ? null : (verified.get(championVersion)?.artifactSha256 ?? null),
          // Only runs of this chain move its traffic (otherChain).
          first_execution_run_id: input.firstExecutionRunId ?? null };
        // The insert takes the model's lock (unique running_model): of two starts at once, one fails here.
        for (let attempt = 1; ; attempt++) {
          const running = await runningDeployment(plan.model, input.deploymentId);
          if (running) {
            throw new BadInputError(
              `cannot deploy ${plan.model} v${plan.challengerVersion}: deployment ${running.id} of ${plan.model} (v${running.challenger_version} against v${running.champion_version ?? '-'}, started by ${running.started_by} at ${running.started_at}) is still running, and a model has one deployment at a time: wait for it to end or stop it with "mlp deployments abort ${running.id}"`,
            );
          }
          try {
            await store.db.insertInto('deployments').values(row).execute();
            break;
          } catch (error) {
            if (!isDuplicateKey(error)) throw error;
            // A retry whose first attempt inserted the row, or a deployment that started meanwhile (named by the next pass).
            if (await deploymentRow(store, input.deploymentId)) {
              await markCanary();
              return { plan, championVersion };
            }
            if (attempt >= 3) throw error;
          }
        }
        await markCanary();
        return { plan, championVersion };
      });
    },

    /**
     * Writes a traffic split (every API process picks it up within seconds) and returns its
     * generation; `{ superseded }` and nothing written when someone else took the traffic over.
     */
    async setTrafficSplit(input: WriteServingRoutesInput & ExecutionChain & { deploymentId?: string }): Promise<number | Superseded> {
      return withFailureMapping(async () => {
        const { deploymentId, firstExecutionRunId, ...split } = input;
        const versions = [...split.routes.map((r) => r.version), ...(split.shadow ? [split.shadow.version] : [])];
        const owner = await recordedOwnership(deploymentId ?? writerId(split.updatedBy), split.model, `cannot route ${split.model} traffic`, { routed: versions, firstExecutionRunId, ...(split.shadow ? { challenger: split.shadow.version } : {}) });
        if (owner.why !== undefined) return supersededAnswer(store, split.model, owner.why);
        await assertVerifiedRecords(split.model, `cannot route ${split.model} traffic`);
        await verifyVersions(store, artifacts, signing, split.model, versions, `cannot route ${split.model} traffic`, { pins: artifactsOf(owner.row) });
        await assertSameLabelAsChampion(store, split.model, versions).catch((error: unknown) => {
          throw error instanceof LabelMismatchError ? new LabelMismatchError(`cannot route ${split.model} traffic: ${error.message}`) : error;
        });
        // Pinned to the generation just judged: a write by someone else in between fails this one, and the retry sees it.
        const routes = await writeServingRoutes(store, cache, { ...split, signing, expectedGeneration: split.expectedGeneration ?? owner.generation, deploymentId: owner.row.id });
        return routes.generation;
      });
    },

    /**
     * Canary (or shadow) vs reference, counting only the rows of the versions under test: serving
     * health and the score shift on the requests logged since `since` (a deployment passes the moment
     * its current step's traffic moved), the hit rate on every request since the deployment began
     * (one anytime-valid test over the rollout, canary-analysis.ts); a pass widens, or with
     * `cumulativeSince` (the last step) promotes; a widening needs evidence at a bound that rises with
     * `widenTo`, the traffic share it moves the canary to (absent: full traffic, 1/alpha). With `cumulativeSince` (the last step), the same
     * comparison over everything since then is attached as `cumulative`, and its failure fails the
     * answer too. First the versions under test are verified as the API's loader would: one that no
     * longer verifies answers `{ unverified }` and nothing is analysed. `{ superseded }` when someone
     * else took the traffic over.
     */
    async analyseCanary(input: { model: string; canary: string; reference: string; since: string; cumulativeSince?: string; thresholds: CanaryThresholdsInput; canaryVersion?: number; referenceVersion?: number; widenTo?: number; log?: AnalysisLogEntry }): Promise<(CanaryAnalysis & { since?: string; cumulative?: CanaryAnalysis & { since: string } }) | Superseded | Unverified> {
      return withFailureMapping(async () => {
        const owner = await ownership(input.log?.deploymentId);
        if (owner.why !== undefined) return supersededAnswer(store, input.model, owner.why);
        // Workflows that pass no versions: their deployment's (the challenger as canary or shadow, the champion as reference).
        const d = owner.row;
        const canaryVersion = input.canaryVersion ?? (d ? Number(d.challenger_version) : undefined);
        const referenceVersion = input.referenceVersion ?? (d && d.champion_version !== null ? Number(d.champion_version) : undefined);
        const unverified = await unverifiedVersions(
          store,
          artifacts,
          signing,
          input.model,
          [
            { role: 'challenger', version: canaryVersion },
            { role: 'champion', version: referenceVersion },
          ],
          d && artifactsOf(d),
        );
        if (unverified.length > 0) {
          if (input.log) await logDeploymentAnalysis(store, input.log, { verdict: 'unverified', reasons: unverifiedText(unverified), detail: { unverified } });
          return { unverified };
        }
        // Symbol-days a version may have trained on are no evidence about it.
        const trainedThrough = { canary: await trainedThroughOfVersion(store, input.model, canaryVersion), reference: await trainedThroughOfVersion(store, input.model, referenceVersion) };
        // The canary's score shift is judged against its own out-of-sample scores when its profile holds them.
        const expected = await expectedScoresOf(store, input.model, canaryVersion, signing);
        const query = { model: input.model, canary: input.canary, reference: input.reference, canaryVersion, referenceVersion, thresholds: input.thresholds, trainedThrough, canaryScoreProfile: expected.profile, canaryScoreProfileMissing: expected.missing };
        // One hit-rate test over the whole rollout (every matured pair since the deployment began),
        // serving health and the score shift on the step's own window. The last step (cumulativeSince)
        // decides a promotion, any other a widening. Older runs without a deployment row: the step.
        const started = cumulativeOrStart(input.cumulativeSince, d?.started_at, input.since);
        const decision = input.cumulativeSince !== undefined ? ('promote' as const) : ('widen' as const);
        // Outcomes are labelled with the versions' label specs checked against this worker's artifact store and key.
        const step = await withLabelVerification({ signing, artifacts }, () => analyseCanaryInStore(store, { ...query, since: started, stepSince: input.since, decision, ...(decision === 'widen' && input.widenTo !== undefined ? { widenTo: input.widenTo } : {}) }));
        let analysis: CanaryAnalysis & { since?: string; cumulative?: CanaryAnalysis & { since: string } } = step;
        if (input.cumulativeSince !== undefined) {
          const wholeQuery = { ...query, since: input.cumulativeSince, decision };
          const cumulative = { ...(await withLabelVerification({ signing, artifacts }, () => analyseCanaryInStore(store, wholeQuery))), since: input.cumulativeSince };
          const whole = cumulative.reasons.map((r) => `whole rollout since ${input.cumulativeSince}: ${r}`);
          analysis =
            cumulative.verdict === 'fail'
              ? { ...step, since: input.since, verdict: 'fail', reasons: [...(step.verdict === 'fail' ? step.reasons : []), ...whole], cumulative }
              : { ...step, since: input.since, cumulative };
        }
        // Workflows started before the log existed pass no entry.
        if (input.log) await logDeploymentAnalysis(store, input.log, { verdict: analysis.verdict, reasons: analysis.reasons, detail: analysis });
        return analysis;
      });
    },

    /**
     * The A/B report over the rows of the versions under test, once both verify (else `{ unverified }`,
     * nothing analysed); `{ superseded }` when someone else took the traffic over.
     */
    async analyseAbTest(input: {
      model: string;
      since: string;
      variants: string[];
      versions?: number[];
      alpha: number;
      minSamplesPerVariant: number;
      maxSamplesPerVariant?: number;
      /** The A/B split and the test's deadline: the time the sequential boundary is spent over (older workflows pass neither). */
      start?: string;
      deadline?: string;
      maxErrorRate?: number;
      maxP99LatencyMs?: number;
      /** The rest of the serving guards' thresholds (older workflows pass none: the defaults). */
      grossErrorRate?: number;
      minServingPredictions?: number;
      log?: AnalysisLogEntry;
    }): Promise<AbReport | Superseded | Unverified> {
      return withFailureMapping(async () => {
        const { log, ...query } = input;
        const owner = await ownership(log?.deploymentId);
        if (owner.why !== undefined) return supersededAnswer(store, query.model, owner.why);
        // Workflows that pass no versions: the deployment's champion as A, its challenger as B.
        const d = owner.row;
        const versions = query.versions ?? (d && d.champion_version !== null && query.variants.join() === 'A,B' ? [Number(d.champion_version), Number(d.challenger_version)] : undefined);
        // The deployment's champion (else the first variant, A) is the one a rollback would route to.
        const champion = d ? (d.champion_version === null ? undefined : Number(d.champion_version)) : versions?.[0];
        const unverified = await unverifiedVersions(store, artifacts, signing, query.model, [...new Set(versions ?? [])].map((version) => ({ role: version === champion ? ('champion' as const) : ('challenger' as const), version })), d && artifactsOf(d));
        if (unverified.length > 0) {
          if (log) await logDeploymentAnalysis(store, log, { verdict: 'unverified', reasons: unverifiedText(unverified), detail: { unverified } });
          return { unverified };
        }
        // Symbol-days a version may have trained on are no evidence about it.
        const trainedThrough = versions && (await Promise.all(versions.map(async (v) => (await trainedThroughOfVersion(store, query.model, v)) ?? null)));
        const report = await withLabelVerification({ signing, artifacts }, () => abReportInStore(store, { ...query, versions, ...(trainedThrough?.some((t) => t !== null) ? { trainedThrough } : {}) }));
        if (log) await logDeploymentAnalysis(store, log, { verdict: report.decision, reasons: report.reasons, detail: report });
        return report;
      });
    },

    /**
     * The versions of a running deployment that may no longer serve (see unverifiedVersions), asked
     * before its traffic moves: [] when all verify. Never throws for a refusal, so the workflow can
     * roll back (a challenger) or stop and report (a champion) instead of failing.
     */
    async verifyDeploymentVersions(input: { model: string; challengerVersion?: number; championVersion?: number | null }): Promise<UnverifiedVersion[]> {
      return withFailureMapping(async () => {
        // The workflow asks by model: the artifacts its deployment (the model's running one) started with.
        const running = await store.db.selectFrom('deployments').select('id').where('running_model', '=', input.model).executeTakeFirst();
        const d = running ? await deploymentRow(store, running.id) : undefined;
        return unverifiedVersions(
          store,
          artifacts,
          signing,
          input.model,
          [
            { role: 'challenger', version: input.challengerVersion },
            { role: 'champion', version: input.championVersion },
          ],
          d && artifactsOf(d),
        );
      });
    },

    /**
     * The challenger takes all traffic and the champion alias; canary / challenger aliases are
     * cleared. `{ superseded }` and nothing moved when someone else took the traffic over.
     */
    async promoteChallenger(input: ExecutionChain & { deploymentId: string; model: string; challengerVersion: number; championVersion: number | null; movedBy: string; reason: string }): Promise<void | Superseded> {
      return withFailureMapping(async () => {
        const what = `cannot promote ${input.model} v${input.challengerVersion}`;
        const owner = await recordedOwnership(input.deploymentId, input.model, what, { routed: [input.challengerVersion], challenger: input.challengerVersion, champion: input.championVersion, firstExecutionRunId: input.firstExecutionRunId });
        if (owner.why !== undefined) return supersededAnswer(store, input.model, owner.why);
        await assertVerifiedRecords(input.model, what);
        await verifyVersions(store, artifacts, signing, input.model, [input.challengerVersion], what, { pins: artifactsOf(owner.row) });
        // Routes and champion alias in one transaction, pinned to the generation judged: a rollback
        // written meanwhile fails this write (the retry finds the traffic taken over), and one
        // written after it replaces both.
        await writeServingRoutes(store, cache, {
          model: input.model,
          mode: 'single',
          routes: singleRoute(input.challengerVersion),
          updatedBy: input.movedBy,
          reason: input.reason,
          alias: { alias: 'champion', version: input.challengerVersion, movedBy: input.movedBy, reason: input.reason },
          signing,
          expectedGeneration: owner.generation,
          deploymentId: owner.row.id,
        });
        for (const alias of ['canary', 'challenger'] as const) {
          if ((await aliasVersion(store, input.model, alias)) === input.challengerVersion) await moveAlias(store, { name: input.model, alias, version: undefined, movedBy: input.movedBy, reason: `promoted to champion: ${input.reason}` }, signing);
        }
      });
    },

    /**
     * Traffic back to the champion (verified first), canary alias cleared (the challenger stays
     * registered). When someone else took the traffic over (a manual rollback, an admin edit), the
     * traffic is theirs: it is left as it is, `trafficLeft` says why and `serving` what serves (the
     * person may have made the challenger champion: then it was not withdrawn).
     */
    async rollBackDeployment(input: ExecutionChain & { deploymentId: string; model: string; championVersion: number | null; challengerVersion: number; movedBy: string; reason: string }): Promise<void | { trafficLeft: string; serving?: ServingNow }> {
      return withFailureMapping(async () => {
        // Its own row's champion only: a retry after the row ended finds the traffic no longer its own and moves nothing.
        const owner = await recordedOwnership(input.deploymentId, input.model, `cannot roll ${input.model} back to ${input.championVersion === null ? 'no champion' : `v${input.championVersion}`}`, {
          routed: input.championVersion === null ? [] : [input.championVersion],
          challenger: input.challengerVersion,
          champion: input.championVersion,
          firstExecutionRunId: input.firstExecutionRunId,
        });
        if (owner.why === undefined && input.championVersion !== null) {
          await verifyVersions(store, artifacts, signing, input.model, [input.championVersion], `cannot roll ${input.model} back to v${input.championVersion}`, { pins: artifactsOf(owner.row) });
          await writeServingRoutes(store, cache, { model: input.model, mode: 'single', routes: singleRoute(input.championVersion), updatedBy: input.movedBy, reason: input.reason, signing, expectedGeneration: owner.generation, deploymentId: owner.row.id });
        }
        if ((await aliasVersion(store, input.model, 'canary')) === input.challengerVersion) {
          await moveAlias(store, { name: input.model, alias: 'canary', version: undefined, movedBy: input.movedBy, reason: input.reason }, signing);
        }
        return owner.why === undefined ? undefined : { trafficLeft: owner.why, serving: await servingNow(store, input.model) };
      });
    },

    /**
     * Whether someone else took the deployment's traffic over (`superseded`: why) and what serves,
     * asked before the deployment stops for a champion that no longer verifies: a person who
     * already routed the traffic elsewhere needs no alert asking for it, and the stop describes the
     * routes as stored, not the split the deployment last wrote.
     */
    async deploymentTraffic(input: { deploymentId: string; model: string }): Promise<{ superseded?: string; serving: ServingNow }> {
      return withFailureMapping(async () => {
        const owner = await ownership(input.deploymentId);
        return { ...(owner.why !== undefined ? { superseded: owner.why } : {}), serving: await servingNow(store, input.model) };
      });
    },

    /**
     * Open alerts that must hold a deployment's next traffic move: stale or bad data for this model
     * (monitoring's data rules). Empty when the way is clear.
     */
    async deploymentBlockers(input: { model: string }): Promise<string[]> {
      return withFailureMapping(async () => {
        // A stale-bars alert a later monitoring run found over no longer holds (lib/monitoring/data-alerts.ts).
        const { holding } = await dataAlertsHolding(store, input.model, signing);
        return holding.map((a) => `${a.rule} (alert ${a.id}): ${a.message}`);
      });
    },

    /**
     * Records the end (once) and clears the `canary` alias beginDeployment set, whatever the end
     * path: an abort or cancellation while awaiting approval moved no traffic and went through no
     * rollback, so nothing else cleared it. Kept only while the routes still give the challenger
     * canary traffic (a stopped deployment leaves its split as it is, for a person).
     */
    async finishDeployment(input: ExecutionChain & { deploymentId: string; status: string; outcome: unknown }): Promise<void> {
      return withFailureMapping(async () => {
        // A run of another chain under the id neither ends the deployment nor clears its alias.
        const recorded = await deploymentRow(store, input.deploymentId);
        const chain = recorded && otherChain(recorded, input.firstExecutionRunId);
        if (chain !== undefined) throw new BadInputError(`cannot end deployment ${input.deploymentId}: ${chain}; nothing was changed`, 'DEPLOYMENT_NOT_RECORDED');
        // Releases the model for its next deployment (running_model). Once: a later run of the same
        // workflow (a reset) never rewrites how the deployment ended.
        await store.db.updateTable('deployments').set({ status: input.status, outcome: JSON.stringify(input.outcome), ended_at: new Date().toISOString(), running_model: null }).where('id', '=', input.deploymentId).where('status', '=', 'running').execute();
        const d = await deploymentRow(store, input.deploymentId);
        if (d) await clearCanaryAlias(store, d, `deployment ${d.id} ended (${d.status})`, signing);
      });
    },
  };
}

export type DeploymentActivities = ReturnType<typeof deploymentActivities>;
