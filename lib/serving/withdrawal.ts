/**
 * Serving a traffic split without some of its versions. When a version the routes name is refused
 * by verification (its registry row edited, unsigned, vetoed or deleted, its artifact unreadable,
 * its label another than the model's: lib/registry/label-spec.ts),
 * the prediction API keeps serving the model only if the refused version is not the split's anchor:
 * the champion, or the reference variant, or (an A/B test) the arm the registry's champion alias
 * points at, or the only route that takes traffic. The refused version's traffic goes to the anchor,
 * its shadow or reference role is dropped, and the model is reported degraded. A refused anchor
 * withdraws the whole model (503 naming the cause): serving a version the registry no longer
 * approves is not acceptable, and nothing else in the split is approved to take its place.
 * Pure: no I/O.
 */
import { ArtifactVerificationError } from '../registry/verify-artifact';
import { LabelMismatchError } from '../registry/label-spec';
import { RegistryError, ServingVetoError, UnreadableVersionRowError } from '../registry/model-registry';
import { CHAMPION_VARIANT, type Route } from './routing';
import { SHADOW_VARIANT, type ServingRoutes } from './serving-routes';

/** Why a version was withdrawn, as the metric labels it (bounded: one of these). */
export const WITHDRAWAL_REASONS = ['signature', 'row_mismatch', 'vetoed', 'label_mismatch', 'row_missing', 'artifact_invalid'] as const;
export type WithdrawalReason = (typeof WITHDRAWAL_REASONS)[number];

/** A version the routes name that the snapshot does not serve, and why. */
export interface WithdrawnVersion {
  version: number;
  /** The variants it had in the routes as written ("shadow" for the shadow). */
  variants: string[];
  /** The share of requests it was routed (now answered by the anchor); 0 for a shadow. */
  weight: number;
  reason: WithdrawalReason;
  /** The verification's message (names the version and the cause). */
  message: string;
  /** When this process withdrew it (ISO). */
  at: string;
}

/** Present on a snapshot that serves less than its routes name. */
export interface ServingDegradation {
  /** The routes as written (the generation's row); the snapshot's `routes` are what is served. */
  written: ServingRoutes;
  /** The route that takes the withdrawn versions' traffic. */
  anchor: Route;
  withdrawn: readonly WithdrawnVersion[];
}

/**
 * The route of a split that stands for the approved model: the champion variant, else the reference
 * variant, else the route of the registry's champion version (an A/B test's A arm), else the only
 * route with traffic. Undefined when none is (then no version can be dropped: it is all or nothing).
 */
export function anchorRoute(routes: Pick<ServingRoutes, 'routes' | 'reference'>, championVersion?: number): Route | undefined {
  const all = routes.routes;
  const byVariant = (variant: string | undefined) => (variant === undefined ? undefined : all.find((r) => r.variant === variant));
  const served = all.filter((r) => r.weight > 0);
  return (
    byVariant(CHAMPION_VARIANT) ??
    byVariant(routes.reference) ??
    (championVersion !== undefined ? (served.find((r) => r.version === championVersion) ?? all.find((r) => r.version === championVersion)) : undefined) ??
    (served.length === 1 ? served[0] : undefined)
  );
}

/** The variants `version` has in the routes ("shadow" included). */
export function variantsOf(routes: ServingRoutes, version: number): string[] {
  return [...routes.routes.filter((r) => r.version === version).map((r) => r.variant), ...(routes.shadow?.version === version ? [SHADOW_VARIANT] : [])];
}

/**
 * The routes served without the `withdrawn` versions: each withdrawn route's weight added to the
 * anchor's (its requests are answered, and logged, by the anchor's version), a withdrawn shadow or
 * reference dropped, the mode "single" when one route is left with traffic. Generation, salt and the
 * other routes are unchanged. The anchor's own version must not be among `withdrawn`.
 * With more than two routes, the key ranges of the variants laid out after a dropped one shift.
 */
export function routesWithout(written: ServingRoutes, anchor: Route, withdrawn: ReadonlySet<number>): ServingRoutes {
  if (withdrawn.has(anchor.version)) throw new Error(`routesWithout: the anchor v${anchor.version} (${anchor.variant}) cannot be withdrawn and served`);
  let moved = 0;
  const kept: Route[] = [];
  for (const r of written.routes) {
    if (withdrawn.has(r.version)) moved += r.weight;
    else kept.push({ variant: r.variant, version: r.version, weight: r.weight });
  }
  const routes = kept.map((r) => (r.variant === anchor.variant ? { ...r, weight: Math.min(1, r.weight + moved) } : r));
  const served: ServingRoutes = {
    model: written.model,
    generation: written.generation,
    mode: routes.filter((r) => r.weight > 0).length === 1 ? 'single' : written.mode,
    routes,
    salt: written.salt,
    updatedBy: written.updatedBy,
    reason: written.reason,
    updatedAt: written.updatedAt,
  };
  if (written.shadow && !withdrawn.has(written.shadow.version)) served.shadow = { version: written.shadow.version };
  if (written.reference !== undefined && routes.some((r) => r.variant === written.reference)) served.reference = written.reference;
  return served;
}

/** The metric's reason for a refusal (the errors verification and the registry throw). */
export function withdrawalReasonOf(error: unknown): WithdrawalReason {
  if (error instanceof ServingVetoError) return 'vetoed';
  if (error instanceof LabelMismatchError) return 'label_mismatch';
  // A row whose JSON cannot be read is there, edited: not missing.
  if (error instanceof UnreadableVersionRowError) return 'row_mismatch';
  if (error instanceof RegistryError) return 'row_missing';
  if (error instanceof ArtifactVerificationError) {
    if (/\bsignature\b/.test(error.reason)) return 'signature';
    if (/^\S+ differs: the artifact has /.test(error.reason)) return 'row_mismatch';
  }
  return 'artifact_invalid';
}

/** "v2 (canary, 5% of requests)" or "v3 (shadow)". */
export function describeWithdrawn(w: Pick<WithdrawnVersion, 'version' | 'variants' | 'weight'>): string {
  const share = w.weight > 0 ? `, ${Number((w.weight * 100).toFixed(2))}% of requests` : '';
  return `v${w.version} (${w.variants.join(', ')}${share})`;
}

/** One sentence: what the degraded snapshot serves instead of what, and why. */
export function describeDegradation(model: string, generation: number, degradation: ServingDegradation): string {
  const anchor = `v${degradation.anchor.version} (${degradation.anchor.variant})`;
  const what = degradation.withdrawn.map((w) => `${describeWithdrawn(w)} withdrawn [${w.reason}]: ${w.message}`).join('; ');
  return `${model}: generation ${generation} is served without ${degradation.withdrawn.map((w) => `v${w.version}`).join(', ')}, whose traffic ${anchor} answers: ${what}`;
}
