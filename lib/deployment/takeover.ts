/**
 * What serves a model when a deployment ends with its traffic taken over by someone else (a
 * person's rollback, an admin routes edit), and how the deployment's record says so. Pure: the
 * activities read the routes and the champion alias (ServingNow); the workflow words its end from
 * them, so it never describes traffic from its own last write, which the person replaced.
 */

/** The routes and champion alias of a model as an activity read them. */
export interface ServingNow {
  /** The champion alias's version; null when it is not set. */
  champion: number | null;
  /** Who moved the champion alias last (the alias history's newest move). */
  championMovedBy?: string;
  /** The stored routes; absent when the model has none. */
  routes?: Array<{ variant: string; version: number; weight: number }>;
  shadow?: number;
  routesUpdatedBy?: string;
}

const pct = (weight: number) => `${Number((weight * 100).toFixed(2))}%`;

/** "v1 on all traffic", "v3 at 25% (canary), v2 at 75% (champion)", or that nothing serves. */
export function trafficText(serving: ServingNow): string {
  const routes = (serving.routes ?? []).filter((r) => r.weight > 0);
  const shadow = serving.shadow === undefined ? '' : `, v${serving.shadow} in shadow`;
  if (routes.length === 0) return `no routes, nothing served${shadow}`;
  if (routes.length === 1) return `v${routes[0].version} on all traffic${shadow}`;
  return `${routes.map((r) => `v${r.version} at ${pct(r.weight)} (${r.variant})`).join(', ')}${shadow}`;
}

/** The challenger's share of the traffic (0..1) in `serving`. */
export function challengerShare(challenger: number, serving: ServingNow): number {
  return (serving.routes ?? []).filter((r) => r.version === challenger).reduce((sum, r) => sum + r.weight, 0);
}

/**
 * How a deployment whose traffic was taken over ends: `superseded` when the challenger ended
 * champion or still serving (the person took it forward, so it was not withdrawn and the champion
 * was not kept), else withdrawn (the deployment's own rollback or keep-the-champion status).
 * `why`: the activity's account of the takeover; `reason`: why the deployment was ending.
 */
export function takeoverEnd(challenger: number, serving: ServingNow, why: string, reason: string): { superseded: boolean; message: string } {
  const traffic = trafficText(serving);
  if (serving.champion === challenger) {
    return { superseded: true, message: `taken over: v${challenger} made champion by ${serving.championMovedBy ?? 'someone else'}; traffic left as it is (${traffic}): ${why}: ${reason}` };
  }
  const share = challengerShare(challenger, serving);
  if (share > 0) {
    return { superseded: true, message: `taken over: v${challenger} left serving ${pct(share)} by ${serving.routesUpdatedBy ?? 'someone else'}; traffic left as it is (${traffic}): ${why}: ${reason}` };
  }
  return { superseded: false, message: `v${challenger} withdrawn, traffic left as it is (${why}; serving now: ${traffic}): ${reason}` };
}
