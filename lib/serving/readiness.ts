/**
 * The prediction API's readiness (/readyz): whether this process can answer predictions, so a load
 * balancer takes it out of rotation only when it cannot. Predictions need a loaded model and a
 * feature vector, read from the online store (Redis) or, when it fails or lacks one, from the
 * offline store (the database: lib/features/online-features.ts). So one store down degrades the
 * process but leaves it ready (still 200, the check's detail naming the outage); both down, or the
 * models not loaded, is not ready (503). Before, a database outage alone answered 503 while every
 * prediction was answered from Redis: every process of a deployment left rotation at once, for an
 * outage none of their answers depended on. Without Redis (REDIS_URL unset: the in-process
 * MemoryCache, which nothing writes vectors into) every vector is read from the database, so a
 * database outage alone is not ready (503).
 */

/** One check of the readiness answer: ok, and when not or when degraded, why. */
export interface ReadinessCheck {
  ok: boolean;
  detail?: string;
}

export interface Readiness {
  ready: boolean;
  checks: { models: ReadinessCheck; store: ReadinessCheck; cache: ReadinessCheck };
}

export interface ReadinessProbes {
  /** Why the served models cannot answer (not loaded, routes naming versions not loaded); undefined: they can. */
  modelsProblem: string | undefined;
  /** What serves degraded (versions withdrawn beside a champion, routes and alias disagreeing): reported, still ready. */
  degraded: readonly string[];
  /** Why the database did not answer its probe; undefined: it did. */
  storeProblem: string | undefined;
  /** Why the cache (Redis) did not answer its probe; undefined: it did. */
  cacheProblem: string | undefined;
  /** The cache's kind (Cache.kind): only Redis holds online vectors to serve from while the database is down. */
  cacheKind: 'redis' | 'memory';
}

export function readiness({ modelsProblem, degraded, storeProblem, cacheProblem, cacheKind }: ReadinessProbes): Readiness {
  const degradedDetail = degraded.length > 0 ? `degraded: ${degraded.join('; ')}` : undefined;
  const models = modelsProblem === undefined ? { ok: true, ...(degradedDetail ? { detail: degradedDetail } : {}) } : { ok: false, detail: degradedDetail ? `${modelsProblem}; ${degradedDetail}` : modelsProblem };
  let store: ReadinessCheck = { ok: true };
  let cache: ReadinessCheck = { ok: true };
  if (storeProblem !== undefined && cacheProblem !== undefined) {
    store = { ok: false, detail: `the database is unreachable (${storeProblem}) and so is the cache: no feature vector can be read` };
    cache = { ok: false, detail: `the cache is unreachable (${cacheProblem}) and so is the database: no feature vector can be read` };
  } else if (storeProblem !== undefined && cacheKind === 'memory') {
    store = { ok: false, detail: `the database is unreachable (${storeProblem}) and no Redis is configured (REDIS_URL unset): every feature vector is read from the database` };
  } else if (storeProblem !== undefined) {
    store = { ok: true, detail: `degraded: the database is unreachable (${storeProblem}); predictions are answered from the online store (Redis), while a symbol it lacks gets 503 features_unavailable, the prediction log waits in memory (dropped when full) and serving-route changes wait for it` };
  } else if (cacheProblem !== undefined) {
    cache = { ok: true, detail: `degraded: the cache is unreachable (${cacheProblem}); features are read from the offline store` };
  }
  const checks = { models, store, cache };
  return { ready: Object.values(checks).every((c) => c.ok), checks };
}
