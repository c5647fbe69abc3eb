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
export async function championAliasDisagreement(store: Database, model: string, aliasChampion: number | undefined): Promise<string | undefined> {
  let routes;
  try {
    routes = await readServingRoutes(store, model);
  } catch (error) {
    // A routes row this code cannot read serves nothing (the API stops the model until it is rewritten).
    if (error instanceof InvalidServingRoutesError) return undefined;
    throw error;
  }
  if (!routes) return undefined;
  const deploying = await store.db.selectFrom('deployments').select(['champion_version', 'challenger_version']).where('model', '=', model).where('status', '=', 'running').executeTakeFirst();
  return splitAliasDisagreement(routes, aliasChampion, describeRoutes(routes), deploying ? { champion: deploying.champion_version, challenger: deploying.challenger_version } : undefined);
}

/**
 * Per model of `routes` (rows just read), why its champion alias disagrees with them
 * (splitAliasDisagreement; a running deployment's own splits are its to judge), for the checks
 * that watch served models: the API's poll and the monitoring run. Routes and alias move together
 * in one transaction, but are read here one after the other: a disagreement is reported only if
 * the model's routes are still at the generation read, else a rollback or promotion landed in
 * between and the next check judges the model again.
 */
export async function servedChampionDisagreements(store: Database, routes: readonly ServingRoutes[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  if (routes.length === 0) return found;
  const models = routes.map((r) => r.model);
  const aliases = new Map((await store.db.selectFrom('model_aliases').select(['name', 'version']).where('alias', '=', 'champion').where('name', 'in', models).execute()).map((a) => [a.name, Number(a.version)]));
  const deployments = new Map(
    (await store.db.selectFrom('deployments').select(['model', 'champion_version', 'challenger_version']).where('status', '=', 'running').where('model', 'in', models).execute()).map((d) => [
      d.model,
      { champion: d.champion_version === null ? null : Number(d.champion_version), challenger: Number(d.challenger_version) },
    ]),
  );
  for (const r of routes) {
    const disagreement = splitAliasDisagreement(r, aliases.get(r.model), describeRoutes(r), deployments.get(r.model));
    if (disagreement === undefined) continue;
    const now = await store.db.selectFrom('serving_routes').select('generation').where('model', '=', r.model).executeTakeFirst();
    if (now && Number(now.generation) === r.generation) found.set(r.model, disagreement);
  }
  return found;
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
 *   served another.
 * `deploying`: the model's running deployment. Its own splits (its champion, the alias's, beside
 * its challenger) are its to judge at the weights its plan sets: the last canary step serves the
 * challenger on all traffic with the champion's route at weight 0, an A/B test may give the
 * challenger more than half.
 */
export function splitAliasDisagreement(routes: Pick<ServingRoutes, 'mode' | 'routes' | 'reference'>, aliasChampion: number | undefined, written: string, deploying?: { champion: number | null; challenger: number }): string | undefined {
  if (routes.routes.every((r) => r.weight <= 0)) return undefined;
  const alias = aliasChampion === undefined ? 'the champion alias is not set' : `the champion alias names v${aliasChampion}`;
  if (routes.mode === 'canary' && !routes.routes.some((r) => r.variant === CHAMPION_VARIANT)) return `${written} route no "${CHAMPION_VARIANT}" variant, which a canary split serves the champion under, but ${alias}`;
  const anchor = anchorRoute(routes);
  if (anchor && anchor.version !== aliasChampion) return `${written} serve v${anchor.version} as the champion, but ${alias}`;
  if (!anchor && (aliasChampion === undefined || !routes.routes.some((r) => r.version === aliasChampion))) {
    const versions = [...new Set(routes.routes.filter((r) => r.weight > 0).map((r) => `v${r.version}`))].join(', ');
    return `${written} serve ${versions}, none of them the champion, but ${alias}`;
  }
  const served = routes.routes.filter((r) => r.weight > 0);
  const own = deploying !== undefined && deploying.champion === aliasChampion && served.every((r) => r.version === aliasChampion || r.version === deploying.challenger);
  if (own) return undefined;
  // A champion route of weight 0 names the alias's version while others take every request: a
  // deployment would compare, shift and roll back a version no trader is served.
  const others = [...new Set(served.filter((r) => r.version !== aliasChampion).map((r) => `v${r.version}`))];
  if (anchor && anchor.weight <= 0 && others.length > 0) return `${written} give the champion route (${anchor.variant}, v${anchor.version}) no traffic while ${others.join(', ')} serve${others.length === 1 ? 's' : ''} every request, but ${alias}`;
  if (routes.mode === 'ab') {
    const shares = new Map<number, number>();
    for (const r of served) shares.set(r.version, (shares.get(r.version) ?? 0) + r.weight);
    const championShare = shares.get(aliasChampion!) ?? 0;
    const [largest, share] = [...shares].filter(([v]) => v !== aliasChampion).reduce((a, b) => (b[1] > a[1] ? b : a), [0, 0]);
    if (championShare + SHARE_TOLERANCE < share) {
      return `${written} give v${aliasChampion}, the version the champion alias names, ${percent(championShare)} of requests while v${largest} takes ${percent(share)}: an A/B split must give the champion at least as large a share as any other version (to give a challenger more, use a canary split, whose "${CHAMPION_VARIANT}" route names the champion)`;
    }
  }
  return undefined;
}

/** What to do about a disagreement: make routes and alias name the same version. */
export function agreementHint(model: string): string {
  return `make them agree first: \`mlp models rollback ${model} --to-version N --reason "…"\` serves N and moves the alias to it`;
}
