/**
 * The champion the serving routes serve, against the registry's champion alias. Deployments and
 * promotion take "the champion" from the alias: a deployment compares its challenger with the
 * alias's version, routes the champion's share of traffic to it and rolls back to it, and a run
 * with no alias promotes its best version as a first champion, with nothing to beat but the
 * baselines. Routes and alias move together (a deployment's promotion, a rollback), but either can
 * be changed alone by SQL (the alias deleted or moved, a routes row written; the admin route refuses
 * a split that disagrees with the alias: splitAliasDisagreement, judged in the transaction that
 * writes it).
 * When they disagree, the version taking traders' requests is not the one a deployment or a
 * promotion would judge against: a new version would take all of its traffic as a "first champion",
 * or the champion's traffic would move to the alias's version, without either being compared with
 * the model actually served. Callers refuse instead, saying which versions disagree.
 */
import type { Database } from '../store/database';
import { CHAMPION_VARIANT } from './routing';
import { anchorRoute } from './withdrawal';
import { InvalidServingRoutesError, readServingRoutes, type ServingRoutes } from './serving-routes';

/**
 * Why the champion alias (`aliasChampion`, undefined when not set) is not the champion the routes
 * of `model` serve, or undefined when they agree or no routes serve the model (the rules:
 * splitAliasDisagreement). A routes row that cannot be read serves nothing, so nothing disagrees with it.
 */
export async function championAliasDisagreement(store: Database, model: string, aliasChampion: number | undefined, options: OwnershipOptions = {}): Promise<string | undefined> {
  let routes;
  try {
    routes = await readServingRoutes(store, model);
  } catch (error) {
    // A routes row this code cannot read serves nothing (the API stops the model until it is rewritten).
    if (error instanceof InvalidServingRoutesError) return undefined;
    throw error;
  }
  if (!routes) return undefined;
  const written = describeRoutes(routes);
  if (splitAliasDisagreement(routes, aliasChampion, written) === undefined) return undefined;
  return splitAliasDisagreement(routes, aliasChampion, written, await routesDeployment(store, routes, options));
}

/**
 * Whether the workflow of a deployment (its id is the workflow id) is still open: asked of Temporal
 * by the activities that have a client (this module has none). A deployment workflow terminated or
 * failed leaves its row 'running' until the next deployment of the model starts; without this
 * question its last split would be exempt until then.
 */
export type DeploymentOpen = (deploymentId: string) => Promise<boolean>;

/** The status of a deployment's workflow as Temporal names it ('RUNNING', 'TERMINATED', 'FAILED', …; 'NOT_FOUND' when there is none). */
export type DeploymentWorkflowStatus = (deploymentId: string) => Promise<string>;

/** What of a Temporal client (@temporalio/client's Client) the status is asked of: this module loads no SDK. */
export interface WorkflowDescriber {
  workflow: { getHandle(workflowId: string): { describe(): Promise<{ status: { name: string } }> } };
}

/** The status question asked of `client` (a worker's activity client, the API's own). */
export function deploymentStatusFrom(client: WorkflowDescriber): DeploymentWorkflowStatus {
  return async (deploymentId) => {
    try {
      return (await client.workflow.getHandle(deploymentId).describe()).status.name;
    } catch (error) {
      if ((error as Error).name === 'WorkflowNotFoundError') return 'NOT_FOUND';
      throw error;
    }
  };
}

export interface OwnershipOptions {
  /** Asked before a running deployment's own split is exempted (else deploymentStatus is; without either the row is taken at its word). */
  deploymentOpen?: DeploymentOpen;
  /** When given, also names how a deployment's workflow closed in the report of the split it left (servedChampionDisagreements). */
  deploymentStatus?: DeploymentWorkflowStatus;
}

interface RunningDeploymentRow {
  id: string;
  model: string;
  champion_version: number | string | null;
  challenger_version: number | string;
  routes_generation?: number | string | null;
}

/**
 * Whether running deployment `d` wrote `routes` itself: they are at the generation it recorded
 * (in the transaction of its own write, lib/serving/serving-routes.ts) and name it as their writer.
 * A status of 'running' alone proves nothing: a row inserted or left behind by hand exempted any
 * split, a canary giving a never-promoted version all traffic included, with no alert anywhere.
 */
function wroteRoutes(d: RunningDeploymentRow, routes: Pick<ServingRoutes, 'generation' | 'updatedBy'>): boolean {
  if (d.routes_generation === null || d.routes_generation === undefined) return false;
  return Number(d.routes_generation) === routes.generation && routes.updatedBy === `deployment ${d.id}`;
}

/** The deploying versions of the running deployment that wrote `routes` itself (and whose workflow is open, when that can be asked), else undefined. */
async function ownerOf(d: RunningDeploymentRow | undefined, routes: ServingRoutes, options: OwnershipOptions): Promise<{ champion: number | null; challenger: number } | undefined> {
  if (!d || !wroteRoutes(d, routes)) return undefined;
  // Either question answers "still open" (a caller may give only the status, as the report of a left split reads it).
  if (options.deploymentOpen ? !(await options.deploymentOpen(d.id)) : options.deploymentStatus && (await options.deploymentStatus(d.id)) !== 'RUNNING') return undefined;
  return { champion: d.champion_version === null ? null : Number(d.champion_version), challenger: Number(d.challenger_version) };
}

async function routesDeployment(store: Database, routes: ServingRoutes, options: OwnershipOptions) {
  const rows = await store.db.selectFrom('deployments').select(['id', 'model', 'champion_version', 'challenger_version', 'routes_generation']).where('model', '=', routes.model).where('status', '=', 'running').execute();
  return ownerOf(rows.find((d) => wroteRoutes(d, routes)), routes, options);
}

/**
 * Per model of `routes` (rows just read), why its champion alias disagrees with them
 * (splitAliasDisagreement; the splits a running deployment wrote itself are its to judge), for the checks
 * that watch served models: the API's poll and the monitoring run. Routes and alias move together
 * in one transaction, but are read here one after the other: a disagreement is reported only if
 * the model's routes are still at the generation read, else a rollback or promotion landed in
 * between and the next check judges the model again.
 */
export async function servedChampionDisagreements(store: Database, routes: readonly ServingRoutes[], options: OwnershipOptions = {}): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  if (routes.length === 0) return found;
  const models = routes.map((r) => r.model);
  const aliases = new Map((await store.db.selectFrom('model_aliases').select(['name', 'version']).where('alias', '=', 'champion').where('name', 'in', models).execute()).map((a) => [a.name, Number(a.version)]));
  const running = await store.db.selectFrom('deployments').select(['id', 'model', 'champion_version', 'challenger_version', 'routes_generation']).where('status', '=', 'running').where('model', 'in', models).execute();
  for (const r of routes) {
    let disagreement: string | undefined;
    if (splitAliasDisagreement(r, aliases.get(r.model), describeRoutes(r)) === undefined) {
      // A split any writer may leave (a canary beside the alias's champion) is still news when a deployment that no longer runs left it.
      disagreement = await leftByClosedDeployment(store, r, aliases.get(r.model), options);
    } else {
      // Only a split judged to disagree without it asks whether a deployment wrote it (and, via Temporal, still runs).
      const deploying = await ownerOf(running.find((d) => d.model === r.model && wroteRoutes(d, r)), r, options);
      const judged = judgeSplit(r, aliases.get(r.model), describeRoutes(r), deploying);
      // A canary step (more than half to its challenger) that a deployment left when it closed is named as such: which deployment, how it closed.
      disagreement = judged?.rule === 'canary-shares' ? ((await leftByClosedDeployment(store, r, aliases.get(r.model), options, true)) ?? judged.message) : judged?.message;
    }
    if (disagreement === undefined) continue;
    const now = await store.db.selectFrom('serving_routes').select('generation').where('model', '=', r.model).executeTakeFirst();
    if (now && Number(now.generation) === r.generation) found.set(r.model, disagreement);
  }
  return found;
}

/**
 * Why `routes`, written by a deployment (`updatedBy` "deployment <id>") that no longer runs, still
 * give traffic to a version the champion alias does not name; undefined otherwise. A deployment
 * terminated from the Web UI left its canary split (canary v3 60%, champion v4 40%) serving with
 * nothing reported: the split names the alias's version as champion, and its row stayed 'running'
 * (so its split was its own to judge) until the next deployment of the model started. A step at or
 * below half passes splitAliasDisagreement as a hand-written canary split may; one above half fails
 * its share rule, and is named here too (which deployment left it says more than the shares). "No longer runs": its
 * row has ended, or (asked of Temporal when options allow) its workflow is closed. A deployment's
 * own final split (the promoted or rolled-back champion alone) serves only the alias's version.
 * `challengerAhead`: the split gives another version more than the champion (a step above 50%),
 * which no deployment starts over (championAliasDisagreement): the way out is the rollback.
 */
async function leftByClosedDeployment(store: Database, routes: ServingRoutes, aliasChampion: number | undefined, options: OwnershipOptions, challengerAhead = false): Promise<string | undefined> {
  const id = /^deployment (.+)$/.exec(routes.updatedBy)?.[1];
  if (id === undefined) return undefined;
  const served = routes.routes.filter((r) => r.weight > 0);
  if (!served.some((r) => r.version !== aliasChampion)) return undefined;
  const row = await store.db.selectFrom('deployments').select(['status', 'challenger_version']).where('id', '=', id).where('model', '=', routes.model).executeTakeFirst();
  if (!row) return undefined;
  let workflow: string | undefined;
  if (options.deploymentStatus) workflow = await options.deploymentStatus(id);
  else if (options.deploymentOpen && row.status === 'running') workflow = (await options.deploymentOpen(id)) ? 'RUNNING' : 'closed';
  if (workflow === 'RUNNING' || (workflow === undefined && row.status === 'running')) return undefined;
  const how = workflow === undefined ? `it ended ${row.status}` : `its workflow is ${workflow === 'NOT_FOUND' ? 'gone (not found in Temporal)' : workflow.toLowerCase()} and its row says ${row.status}`;
  const shares = served.map((r) => `v${r.version} (${r.variant}) ${percent(r.weight)}`).join(', ');
  const champion = aliasChampion === undefined ? 'N' : String(aliasChampion);
  const rollback = `mlp models rollback ${routes.model} --to-version ${champion} --reason "…"`;
  const deploy = `mlp deploy ${routes.model} ${Number(row.challenger_version)}`;
  return (
    `${describeRoutes(routes)} are the split deployment ${id} left: ${how}, so nothing judges, widens or rolls back this split, which still serves ${shares} while the champion alias names ${aliasChampion === undefined ? 'no version' : `v${aliasChampion}`}. ` +
    (challengerAhead
      ? `Roll back to the champion (${rollback}), then deploy again if wanted (${deploy}): no deployment starts over a split giving another version more than the champion`
      : `Roll back to the champion (${rollback}) or deploy again (${deploy})`)
  );
}

/** "the serving routes of m (generation 4, by api:ops: canary)", as a disagreement names them. */
const describeRoutes = (routes: ServingRoutes) => `the serving routes of ${routes.model} (generation ${routes.generation}, by ${routes.updatedBy}: ${routes.reason})`;

/** Tolerance of the A/B share comparison: weights summing to 1 within the split schema's own tolerance. */
const SHARE_TOLERANCE = 1e-9;
const percent = (weight: number) => `${Number((weight * 100).toPrecision(6))}%`;

/**
 * The same judgement of a split before it is written (`written` names it in the answer). The
 * served champion is the split's champion variant, else its reference variant, else its only route
 * with traffic; it must name the alias's version. Beyond that:
 * - a canary split must have a champion variant (its canary grows into that route's share), and
 *   single and canary splits must give it some traffic while other versions take the rest;
 * - an A/B split (arms, no champion) must list the alias's version, and give it at least as large a
 *   share as any other version: the champion is what most requests are answered by (an even test,
 *   or one leaning to the champion). Listed at 0.0001% beside a version answering the rest, the
 *   alias named the champion that deployments and promotion judge against while traders were
 *   served another;
 * - a canary split no running deployment owns (below) is held to the same share rule: its champion
 *   route at 0.0001% beside a never-promoted version answering the rest passed as "a canary in
 *   progress" (only weight 0 was caught), with no deployment judging or rolling back that canary.
 * `deploying`: the model's running deployment, given only when it wrote these routes itself (its
 * recorded generation and name, and its workflow open where Temporal can be asked: callers above).
 * Its own splits (its champion, the alias's, beside its challenger) are its to judge at the weights its plan sets: the last canary step serves the
 * challenger on all traffic with the champion's route at weight 0, an A/B test may give the
 * challenger more than half, a canary step more than half.
 */
export function splitAliasDisagreement(routes: Pick<ServingRoutes, 'mode' | 'routes' | 'reference'>, aliasChampion: number | undefined, written: string, deploying?: { champion: number | null; challenger: number }): string | undefined {
  return judgeSplit(routes, aliasChampion, written, deploying)?.message;
}

/** A disagreement and the rule that found it: 'canary-shares' when only a canary split's shares disagree (its champion route named and served, another version on more). */
interface SplitJudgement {
  message: string;
  rule: 'canary-shares' | 'other';
}

function judgeSplit(routes: Pick<ServingRoutes, 'mode' | 'routes' | 'reference'>, aliasChampion: number | undefined, written: string, deploying?: { champion: number | null; challenger: number }): SplitJudgement | undefined {
  const other = (message: string): SplitJudgement => ({ message, rule: 'other' });
  if (routes.routes.every((r) => r.weight <= 0)) return undefined;
  const alias = aliasChampion === undefined ? 'the champion alias is not set' : `the champion alias names v${aliasChampion}`;
  if (routes.mode === 'canary' && !routes.routes.some((r) => r.variant === CHAMPION_VARIANT)) return other(`${written} route no "${CHAMPION_VARIANT}" variant, which a canary split serves the champion under, but ${alias}`);
  const anchor = anchorRoute(routes);
  if (anchor && anchor.version !== aliasChampion) return other(`${written} serve v${anchor.version} as the champion, but ${alias}`);
  if (!anchor && (aliasChampion === undefined || !routes.routes.some((r) => r.version === aliasChampion))) {
    const versions = [...new Set(routes.routes.filter((r) => r.weight > 0).map((r) => `v${r.version}`))].join(', ');
    return other(`${written} serve ${versions}, none of them the champion, but ${alias}`);
  }
  const served = routes.routes.filter((r) => r.weight > 0);
  const own = deploying !== undefined && deploying.champion === aliasChampion && served.every((r) => r.version === aliasChampion || r.version === deploying.challenger);
  if (own) return undefined;
  // A champion route of weight 0 names the alias's version while others take every request: a
  // deployment would compare, shift and roll back a version no trader is served.
  const others = [...new Set(served.filter((r) => r.version !== aliasChampion).map((r) => `v${r.version}`))];
  if (anchor && anchor.weight <= 0 && others.length > 0) return other(`${written} give the champion route (${anchor.variant}, v${anchor.version}) no traffic while ${others.join(', ')} serve${others.length === 1 ? 's' : ''} every request, but ${alias}`);
  if (routes.mode !== 'ab' && routes.mode !== 'canary') return undefined;
  // The champion is what most requests are answered by, unless a running deployment's own steps say otherwise (exempted above).
  const shares = new Map<number, number>();
  for (const r of served) shares.set(r.version, (shares.get(r.version) ?? 0) + r.weight);
  const championShare = shares.get(aliasChampion!) ?? 0;
  const [largest, share] = [...shares].filter(([v]) => v !== aliasChampion).reduce((a, b) => (b[1] > a[1] ? b : a), [0, 0]);
  if (championShare + SHARE_TOLERANCE >= share) return undefined;
  const given = `${written} give v${aliasChampion}, the version the champion alias names, ${percent(championShare)} of requests while v${largest} takes ${percent(share)}`;
  const more = 'a challenger takes more only at the steps of a running deployment (mlp deploy), which judges and rolls back its own split';
  if (routes.mode === 'ab') return other(`${given}: an A/B split must give the champion at least as large a share as any other version (${more})`);
  return { message: `${given}: a canary split that no running deployment wrote must give the champion at least as large a share as any other version (${more})`, rule: 'canary-shares' };
}

/** What to do about a disagreement: make routes and alias name the same version. */
export function agreementHint(model: string): string {
  return `make them agree first: \`mlp models rollback ${model} --to-version N --reason "…"\` serves N and moves the alias to it`;
}
