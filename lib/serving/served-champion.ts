/**
 * The champion the serving routes serve, against the registry's champion alias. Deployments and
 * promotion take "the champion" from the alias: a deployment compares its challenger with the
 * alias's version, routes the champion's share of traffic to it and rolls back to it, and a run
 * with no alias promotes its best version as a first champion, with nothing to beat but the
 * baselines. Routes and alias move together (a deployment's promotion, a rollback), but either can
 * be changed alone by SQL (the alias deleted or moved, a routes row written; the admin route refuses
 * a split that disagrees with the alias: splitAliasDisagreement).
 * When they disagree, the version taking traders' requests is not the one a deployment or a
 * promotion would judge against: a new version would take all of its traffic as a "first champion",
 * or the champion's traffic would move to the alias's version, without either being compared with
 * the model actually served. Callers refuse instead, saying which versions disagree.
 */
import type { Database } from '../store/database';
import { anchorRoute } from './withdrawal';
import { InvalidServingRoutesError, readServingRoutes, type ServingRoutes } from './serving-routes';

/**
 * Why the champion alias (`aliasChampion`, undefined when not set) is not the champion the routes
 * of `model` serve, or undefined when they agree or no routes serve the model. The served champion
 * is the routes' champion variant, else their reference variant, else their only route with
 * traffic, and it must take some of the traffic when other versions do; a split with none of them
 * (an A/B test's two arms) agrees with an alias naming one of its versions. A routes row that cannot be read serves nothing, so nothing disagrees with it.
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
  // A running deployment's last canary step serves its challenger on all traffic, the champion's
  // route at weight 0, until it promotes: that is the deployment's to judge, not a disagreement.
  const deploying = await store.db.selectFrom('deployments').select(['champion_version', 'challenger_version']).where('model', '=', model).where('status', '=', 'running').executeTakeFirst();
  return splitAliasDisagreement(routes, aliasChampion, `the serving routes of ${model} (generation ${routes.generation}, by ${routes.updatedBy}: ${routes.reason})`, deploying ? { champion: deploying.champion_version, challenger: deploying.challenger_version } : undefined);
}

/**
 * The same judgement of a split before it is written (`written` names it in the answer). `deploying`:
 * the model's running deployment, whose challenger may take all traffic from the alias's champion.
 */
export function splitAliasDisagreement(routes: Pick<ServingRoutes, 'routes' | 'reference'>, aliasChampion: number | undefined, written: string, deploying?: { champion: number | null; challenger: number }): string | undefined {
  if (routes.routes.every((r) => r.weight <= 0)) return undefined;
  const alias = aliasChampion === undefined ? 'the champion alias is not set' : `the champion alias names v${aliasChampion}`;
  const anchor = anchorRoute(routes);
  if (anchor) {
    if (anchor.version !== aliasChampion) return `${written} serve v${anchor.version} as the champion, but ${alias}`;
    // A champion route of weight 0 names the alias's version while others take every request: a
    // deployment would compare, shift and roll back a version no trader is served.
    const others = [...new Set(routes.routes.filter((r) => r.weight > 0 && r.version !== aliasChampion).map((r) => `v${r.version}`))];
    if (anchor.weight > 0 || others.length === 0) return undefined;
    if (deploying?.champion === aliasChampion && others.every((v) => v === `v${deploying.challenger}`)) return undefined;
    return `${written} give the champion route (${anchor.variant}, v${anchor.version}) no traffic while ${others.join(', ')} serve${others.length === 1 ? 's' : ''} every request, but ${alias}`;
  }
  if (aliasChampion !== undefined && routes.routes.some((r) => r.version === aliasChampion)) return undefined;
  const versions = [...new Set(routes.routes.filter((r) => r.weight > 0).map((r) => `v${r.version}`))].join(', ');
  return `${written} serve ${versions}, none of them the champion, but ${alias}`;
}

/** What to do about a disagreement: make routes and alias name the same version. */
export function agreementHint(model: string): string {
  return `make them agree first: \`mlp models rollback ${model} --to-version N --reason "…"\` serves N and moves the alias to it`;
}
