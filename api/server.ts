/**
 * The prediction API as a Fastify instance (no listening here: api/main.ts listens, tests inject).
 * Routes, authentication by scope, one JSON error shape, metrics per route.
 */
import type { Socket } from 'node:net';
import rateLimit from '@fastify/rate-limit';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { ArtifactStore } from '../lib/artifacts/artifact-store';
import { sql } from 'kysely';
import type { Cache } from '../lib/cache/cache';
import { OnlineFeatureStore } from '../lib/features/online-features';
import { FeatureReadCache } from '../lib/serving/feature-read-cache';
import { featureSetVersionsOf } from '../lib/serving/predict';
import { ExpectedSessionClock } from '../lib/serving/staleness';
import { DEFAULT_FRESHNESS_OPTIONS } from '../lib/monitoring/freshness';
import { DEFAULT_API_FEATURE_CACHE_MS, DEFAULT_API_RATE_LIMITS, type ApiRateLimits, type ApiScope, type ApiToken } from '../lib/config';
import { excerpt } from '../lib/quality/excerpt';
import { assertSameLabelAsChampion, LabelMismatchError } from '../lib/registry/label-spec';
import { RegistryError, ServingVetoError } from '../lib/registry/model-registry';
import { verificationKeysOf, type RowSigning } from '../lib/registry/row-signature';
import { splitAliasDisagreement } from '../lib/serving/served-champion';
import { ArtifactVerificationError } from '../lib/registry/verify-artifact';
import type { PredictionLogEntry, PredictionLogStats } from '../lib/serving/prediction-log';
import { readiness } from '../lib/serving/readiness';
import { rollbackModel, RollbackError } from '../lib/serving/rollback';
import type { ServingModelsStats } from '../lib/serving/serving-models';
import { ServingRoutesConflictError, ServingRoutesError, writeServingRoutes, type ServingRoutes } from '../lib/serving/serving-routes';
import { UnverifiedServingRecordsError, verifiedChampionAlias } from '../lib/serving/verified-serving-records';
import { StoreBusyError, type Database } from '../lib/store/database';
import { TokenVerifier } from './auth';
import { registerDashboard } from './dashboard';
import { ApiError, parseInput } from './errors';
import { ApiMetrics } from './metrics';
import { buildOpenApiDocument } from './openapi';
import { predictSymbols, type ServingModelsView } from './predictions';
import {
  modelParamsSchema,
  predictionQuerySchema,
  predictionsRequestSchema,
  rollbackRequestSchema,
  symbolParamsSchema,
  writeRoutesRequestSchema,
  type ModelsResponse,
  type PredictionsResponse,
  type ReadinessResponse,
  type RollbackResponse,
  type ServingRoutesView,
} from './schemas';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The token scope a route requires; routes without one are public. */
    scope?: ApiScope;
    /** Prediction routes: limited per token and per client address (ApiRateLimits). */
    predictionLimits?: boolean;
  }
  interface FastifyRequest {
    caller: ApiToken | null;
  }
}

export interface ApiServerDeps {
  store: Database;
  cache: Cache;
  servingModels: ServingModelsView & {
    ready(): boolean;
    /** Why not ready: one sentence per model whose routed versions are not the loaded ones. */
    unreadyModels(): string[];
    /** One sentence per model served without versions its routes name (withdrawn: refused by verification); still ready. */
    degradedModels?(): string[];
    /** Why the model's routes serve another champion than the champion alias names (served as routed; still ready). */
    championMismatch?(model: string): string | undefined;
    stats(): ServingModelsStats;
    /** Artifact verification of versions a route change would serve (throws ArtifactVerificationError). */
    verifyVersions(model: string, versions: Iterable<number>): Promise<void>;
    /** The MODEL_SIGNING_KEY the versions are verified with (the default of `signing`). */
    readonly signing?: RowSigning;
  };
  predictionLog: { append(entries: readonly PredictionLogEntry[]): void; stats(): PredictionLogStats };
  tokens: readonly ApiToken[];
  /** Whether ServingModels.start() has finished (before that, ready() is vacuously true). Default: yes. */
  servingStarted?: () => boolean;
  metrics?: ApiMetrics;
  /** Fastify (pino) logger options; default false (silent). */
  logger?: FastifyServerOptions['logger'];
  /** Longest a readiness probe waits for the store or the cache (ms, default 1000). */
  readinessTimeoutMs?: number;
  /** Per-minute limits (0: none); default DEFAULT_API_RATE_LIMITS. */
  rateLimits?: Partial<ApiRateLimits>;
  /** The artifact store (ARTIFACT_DIR or ARTIFACT_URL), where the dashboard (/ui) reads run reports. */
  artifacts?: ArtifactStore;
  /**
   * With a Redis cache: online vectors read are kept in process, emptied by every
   * `features:updated` announcement and re-read after at most this many ms (lib/serving/feature-read-cache.ts).
   * 0: every prediction reads Redis. Default DEFAULT_API_FEATURE_CACHE_MS (lib/config.ts), as API_FEATURE_CACHE_MS.
   */
  featureCacheMaxAgeMs?: number;
  /** Minutes after a session's close before answers without it are stale (API_FEATURE_GRACE_MINUTES; default the freshness monitor's). */
  featureGraceMinutes?: number;
  /**
   * Stops a running deployment with its `abort` update, as `mlp models rollback` does (api/main.ts
   * connects to Temporal for it). Without it a rollback cannot stop one: the deployment then ends on
   * its own at its next analysis or traffic move, which see the champion alias moved, without moving
   * traffic back (activities/deployment.ts).
   */
  abortDeployment?: (deploymentId: string, input: { by: string; reason: string }) => Promise<{ status: string }>;
  /**
   * The deployment's MODEL_SIGNING_KEY for online vectors: with it a vector is served only with its
   * valid signature (lib/features/vector-signature.ts) and the re-warm writes signed ones. Default:
   * the serving models' key (the one key of the process, which their rows are verified with).
   */
  signing?: RowSigning;
  /**
   * How long a rollback waits for a deployment to accept its abort before answering without it;
   * default ABORT_WAIT_MS. The abort is an update, accepted only by a worker running the workflow.
   */
  abortWaitMs?: number;
}

/**
 * Default abortWaitMs. With no worker running, the abort update waited for one indefinitely: the
 * rollback, which had already moved the routes and the alias, gave no answer (a client gave up at 60 s).
 */
export const ABORT_WAIT_MS = 5000;

/** Retry-After of a write refused because another process holds the store's write lock (seconds). */
const STORE_BUSY_RETRY_AFTER_S = 2;
/**
 * Retry-After (seconds) of every other 503: the process shutting down (another instance, or this one
 * restarted, answers by then), not ready, the online features unavailable. Without it a client
 * retried at once (into the same drain) or gave up.
 */
export const UNAVAILABLE_RETRY_AFTER_S = 5;
/** Longest path excerpt an error message quotes: a request never gets its own unbounded input back. */
const MAX_ECHO = 100;
/** Longest path parameter (symbols and model names are far shorter). */
const MAX_PARAM_LENGTH = 100;
const RATE_WINDOW_MS = 60_000;
/**
 * Addresses remembered as having failed authentication within the window (oldest forgotten first),
 * well above the rate limiter's own store (5,000 keys): a spray from more addresses than this is
 * already beyond what the limiter remembers.
 */
const MAX_TRACKED_FAILING_ADDRESSES = 100_000;

/**
 * Errors Node's HTTP parser raises before Fastify sees a request (oversized headers or URL, a
 * timeout, malformed HTTP): answered in the API's one error shape, then the connection closes.
 */
function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason, body] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', new ApiError(431, 'headers_too_large', 'the request headers (or the URL) exceed the server\'s limit; send shorter headers and URL').body()]
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', new ApiError(408, 'request_timeout', 'the request was not received in time; retry').body()]
        : [400, 'Bad Request', new ApiError(400, 'bad_request', 'the request is not valid HTTP').body()];
  const json = JSON.stringify(body);
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`);
}

/** Routes' `updatedBy` names the token, never the token itself. */
const callerName = (request: FastifyRequest) => `api:${request.caller?.name ?? 'unknown'}`;

function routesView(routes: ServingRoutes): ServingRoutesView {
  return {
    model: routes.model,
    generation: routes.generation,
    mode: routes.mode,
    routes: routes.routes.map((r) => ({ variant: r.variant, version: r.version, weight: r.weight })),
    shadow: routes.shadow ? { version: routes.shadow.version } : null,
    reference: routes.reference ?? null,
    updatedBy: routes.updatedBy,
    reason: routes.reason,
    updatedAt: routes.updatedAt,
  };
}

/** Resolves to an error message when `work` fails or takes longer than `ms`, else undefined. */
async function probe(work: () => Promise<unknown>, ms: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${ms} ms`), ms);
  });
  try {
    return await Promise.race([work().then(() => undefined), timeout]);
  } catch (error) {
    return (error as Error).message;
  } finally {
    clearTimeout(timer);
  }
}

/** Feature sets the loaded models read: what the online store must hold. */
function servedFeatureSets(servingModels: ServingModelsView): string[] {
  const versions = new Set<string>();
  for (const model of servingModels.models()) {
    const snapshot = servingModels.snapshot(model);
    if (snapshot) for (const version of featureSetVersionsOf(snapshot)) versions.add(version);
  }
  return [...versions];
}

/** Domain errors of the admin routes → HTTP. */
function adminError(error: unknown): unknown {
  if (error instanceof LabelMismatchError) return new ApiError(422, 'label_mismatch', `${error.message}; the routes are unchanged`);
  if (error instanceof ArtifactVerificationError) return new ApiError(422, 'artifact_invalid', `${error.message}; the routes are unchanged (restore the artifact or register a new version)`);
  if (error instanceof ServingVetoError) return new ApiError(422, 'serving_vetoed', `${error.message}; the routes are unchanged`);
  if (error instanceof RollbackError && (error.cause instanceof ArtifactVerificationError || error.cause instanceof ServingVetoError || error.cause instanceof LabelMismatchError)) return adminError(error.cause);
  if (error instanceof ServingRoutesConflictError) return new ApiError(409, 'conflict', error.message);
  if (error instanceof ServingRoutesError) return new ApiError(400, 'invalid_routes', error.message);
  if (error instanceof RollbackError || error instanceof RegistryError) return new ApiError(400, 'rollback_refused', error.message);
  return error;
}

/** Fastify's own 4xx errors (bad JSON, too large, wrong media type) → our code names. */
function frameworkErrorCode(error: { code?: string; statusCode?: number }): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'invalid_json';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'body_too_large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return 'invalid_body';
    default:
      return 'bad_request';
  }
}

export function buildApiServer(deps: ApiServerDeps): FastifyInstance {
  const featureMaxAgeMs = deps.featureCacheMaxAgeMs ?? DEFAULT_API_FEATURE_CACHE_MS;
  const featureCache = deps.cache.kind === 'redis' && featureMaxAgeMs > 0 ? new FeatureReadCache(deps.cache, { maxAgeMs: featureMaxAgeMs }) : undefined;
  const metrics =
    deps.metrics ??
    new ApiMetrics({ serving: () => deps.servingModels.stats(), predictionLog: () => deps.predictionLog.stats(), ...(featureCache ? { featureCache: () => featureCache.stats() } : {}) });
  const verifier = new TokenVerifier(deps.tokens);
  const servingStarted = deps.servingStarted ?? (() => true);
  const readinessTimeoutMs = deps.readinessTimeoutMs ?? 1000;
  const openApi = buildOpenApiDocument();

  const limits = { ...DEFAULT_API_RATE_LIMITS, ...deps.rateLimits };
  const app = Fastify({
    maxParamLength: MAX_PARAM_LENGTH,
    // No HEAD twin of every GET: on /v1/predictions/:symbol it predicted and logged rows for an answer
    // never sent. A HEAD request is a 404 like any unknown route, but on /healthz and /readyz.
    exposeHeadRoutes: false,
    logger: deps.logger ?? false,
    // One log line per request would cost more than the prediction; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 256 * 1024,
    // Fastify's own 503 while closing has neither Retry-After nor the error shape: ours (onRequest below).
    return503OnClosing: false,
    // Request ids are ours to mint per symbol; Fastify's per-request id is only for its own logs.
    requestIdHeader: false,
    clientErrorHandler,
    // Router errors (a path parameter over maxParamLength: 414, an undecodable URL: 400) in our shape, never echoing the URL.
    frameworkErrors: (error, _request, reply) => {
      const e = error as { code?: string; statusCode?: number };
      const failure =
        e.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new ApiError(414, 'uri_too_long', `a path segment of the URL is longer than ${MAX_PARAM_LENGTH} characters; no route takes one that long`)
          : new ApiError(e.statusCode === undefined || e.statusCode < 400 || e.statusCode > 499 ? 400 : e.statusCode, 'bad_url', 'the URL is not valid (a path segment cannot be decoded)');
      metrics.httpErrors.inc({ route: 'unmatched', code: failure.code });
      void (reply as FastifyReply).code(failure.statusCode).send(failure.body());
    },
  });
  app.decorateRequest('caller', null);

  // Only JSON bodies: anything else is a 400 before a handler runs.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('*', (request, _payload, done) => {
    done(new ApiError(400, 'invalid_body', `request bodies must be JSON (Content-Type: application/json), got ${JSON.stringify(request.headers['content-type'] ?? '(none)')}`), undefined);
  });

  const routeLabel = (request: FastifyRequest) => request.routeOptions.url ?? 'unmatched';

  // Rate limits (@fastify/rate-limit's counters, in process): failed authentications per address,
  // predictions per token and per address. Over a limit: 429 with Retry-After, in the one error shape.
  void app.register(rateLimit, { global: false });
  type Limiter = ReturnType<FastifyInstance['createRateLimit']>;
  let limiter: { authFailures?: Limiter; perToken?: Limiter; perAddress?: Limiter } = {};
  app.after(() => {
    const make = (max: number, keyGenerator: (request: FastifyRequest) => string) => (max > 0 ? app.createRateLimit({ max, timeWindow: RATE_WINDOW_MS, keyGenerator }) : undefined);
    limiter = {
      authFailures: make(limits.authFailuresPerAddress, (request) => `auth:${request.ip}`),
      perToken: make(limits.predictionsPerToken, (request) => `token:${request.caller?.name ?? ''}`),
      perAddress: make(limits.predictionsPerAddress, (request) => `address:${request.ip}`),
    };
  });
  /** Counts the request (unless `count` is false) and refuses it with a 429 when over the limit. */
  const enforce = async (limit: Limiter | undefined, request: FastifyRequest, what: string, count = true) => {
    if (!limit) return;
    const state = await limit(request, { increment: count });
    if (state.isAllowed) return;
    if (count ? !state.isExceeded : state.remaining > 0) return;
    const retryAfter = Math.max(1, state.ttlInSeconds);
    throw new ApiError(429, 'rate_limited', `too many ${what} (limit ${state.max} per ${state.timeWindow / 1000} s); retry after ${retryAfter} s`, { 'retry-after': String(retryAfter) });
  };

  // Failed authentications per address. The limiter is asked before a token is looked at only for
  // an address that failed within the window: for any other its count is 0 (a window starts at its
  // first failure and lasts RATE_WINDOW_MS; with exponentialBackoff it could last longer, so that
  // option would need this changed), so the answer is known without the limiter's asynchronous
  // call on every request.
  const lastFailureAt = new Map<string, number>();
  const authFailures = {
    /** Undefined (nothing to wait for) unless the address failed within the window. */
    check: (request: FastifyRequest): Promise<void> | undefined => {
      const at = lastFailureAt.get(request.ip);
      if (at === undefined) return undefined;
      if (Date.now() - at < RATE_WINDOW_MS) return enforce(limiter.authFailures, request, 'failed authentications from this address', false);
      lastFailureAt.delete(request.ip);
      return undefined;
    },
    failed: (request: FastifyRequest): Promise<void> => {
      if (!limiter.authFailures) return Promise.resolve();
      const now = Date.now();
      lastFailureAt.delete(request.ip); // re-inserted last: the map stays in order of last failure
      lastFailureAt.set(request.ip, now);
      for (const [address, at] of lastFailureAt) {
        if (now - at < RATE_WINDOW_MS && lastFailureAt.size <= MAX_TRACKED_FAILING_ADDRESSES) break;
        lastFailureAt.delete(address);
      }
      return enforce(limiter.authFailures, request, 'failed authentications from this address');
    },
  };

  // Shutting down (app.close(): SIGTERM): a request that still arrives on an open connection is
  // refused before any work, and the connection is closed after the answer.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return;
    void reply.header('connection', 'close');
    throw new ApiError(503, 'shutting_down', `this process is shutting down; retry after ${UNAVAILABLE_RETRY_AFTER_S} s`);
  });

  app.addHook('onRequest', async (request) => {
    const { scope, predictionLimits } = request.routeOptions.config;
    if (!scope) return;
    // An address that keeps failing authentication is refused before its token is even looked at.
    const lockedOut = authFailures.check(request);
    if (lockedOut) await lockedOut;
    try {
      request.caller = verifier.authorize(request.headers.authorization, scope);
    } catch (error) {
      if (error instanceof ApiError && error.statusCode === 401) await authFailures.failed(request);
      throw error;
    }
    if (predictionLimits) {
      await enforce(limiter.perToken, request, `prediction requests for token "${request.caller.name}"`);
      await enforce(limiter.perAddress, request, 'prediction requests from this address');
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = routeLabel(request);
    metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  const sendError = (request: FastifyRequest, reply: FastifyReply, error: ApiError) => {
    metrics.httpErrors.inc({ route: routeLabel(request), code: error.code });
    // Every 503 says when to retry; one that knows better (store_busy, model_loading) says so itself.
    const headers = error.statusCode === 503 && error.headers['retry-after'] === undefined ? { ...error.headers, 'retry-after': String(UNAVAILABLE_RETRY_AFTER_S) } : error.headers;
    return reply.code(error.statusCode).headers(headers).send(error.body());
  };

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof ApiError) return sendError(request, reply, error);
    if (error instanceof StoreBusyError) {
      return sendError(request, reply, new ApiError(503, 'store_busy', `${error.message}; retry after ${STORE_BUSY_RETRY_AFTER_S} s`, { 'retry-after': String(STORE_BUSY_RETRY_AFTER_S) }));
    }
    const e = error as { code?: string; statusCode?: number; message?: string };
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      // Fastify's own client errors; a bad body is a 400 whatever Fastify would say (415, …) except a too-large one.
      const status = e.statusCode === 413 ? 413 : 400;
      return sendError(request, reply, new ApiError(status, frameworkErrorCode(e), excerpt(e.message ?? 'bad request', 300)));
    }
    request.log.error({ err: error, route: routeLabel(request) }, 'request failed');
    return sendError(request, reply, new ApiError(500, 'internal_error', `the server failed on this request (${excerpt(e.message ?? 'unknown error', 300)}); it is logged, retry or report it`));
  });

  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, new ApiError(404, 'not_found', `no route ${excerpt(request.method, 16)} ${excerpt(request.url.split('?')[0], MAX_ECHO)}; the routes are listed in /openapi.json`)),
  );

  /** How often the newest signed offline dates are read again besides each features:updated announcement (ms). */
  const OFFLINE_NEWEST_REFRESH_MS = 60_000;
  // Feature reads survive a Redis outage (offline store), and the cache is re-warmed when Redis is back.
  const features = new OnlineFeatureStore({
    cache: featureCache ?? deps.cache,
    store: deps.store,
    rewarmVersions: () => servedFeatureSets(deps.servingModels),
    log: (event, detail) => app.log.warn({ event, ...detail }, event),
    onInvalidVector: (error) => metrics.onlineVectorsRefused.inc({ reason: error.problem, store: 'online' }),
    onRefusedRow: (error) => metrics.onlineVectorsRefused.inc({ reason: error.problem, store: 'offline' }),
    onOfflineRead: (reason) => metrics.offlineFeatureReads.inc({ reason }),
    onPreviousKeyVector: (keyId) => metrics.onlineVectorsPreviousKey.inc({ key_id: keyId, store: 'online' }),
    onPreviousKeyRow: (keyId) => metrics.onlineVectorsPreviousKey.inc({ key_id: keyId, store: 'offline' }),
    signing: deps.signing ?? deps.servingModels.signing,
  });
  // With the key: the newest signed offline date per symbol, kept off the request path, so an online
  // vector older than it (or than one already verified) is not served as fresh.
  features.watchOfflineNewest(OFFLINE_NEWEST_REFRESH_MS).catch((error: unknown) => app.log.warn({ event: 'features.offline_newest_failed', error: (error as Error).message }, 'features.offline_newest_failed'));
  app.addHook('onClose', async () => {
    features.close();
    await featureCache?.close();
  });
  // Until the subscription is confirmed every read goes to Redis; a failure only leaves it so.
  featureCache?.start().catch((error: unknown) => app.log.warn({ event: 'features.read_cache_unavailable', error: (error as Error).message }, 'features.read_cache_unavailable'));
  const sessions = new ExpectedSessionClock(deps.featureGraceMinutes ?? DEFAULT_FRESHNESS_OPTIONS.graceMinutes);
  const predictionDeps = { servingModels: deps.servingModels, servingStarted, features: featureCache ? featureCache.reader(features) : features, predictionLog: deps.predictionLog, metrics, sessions };

  app.post('/v1/predictions', { config: { scope: 'predict', predictionLimits: true } }, async (request): Promise<PredictionsResponse> => {
    const body = parseInput(predictionsRequestSchema, request.body, 'body');
    const outcome = await predictSymbols(predictionDeps, body);
    return { predictions: outcome.predictions, errors: outcome.errors.map(({ symbol, error }) => ({ symbol, error })) };
  });

  app.get('/v1/predictions/:symbol', { config: { scope: 'predict', predictionLimits: true } }, async (request): Promise<PredictionsResponse> => {
    const { symbol } = parseInput(symbolParamsSchema, request.params, 'params');
    const query = parseInput(predictionQuerySchema, request.query, 'query');
    const outcome = await predictSymbols(predictionDeps, { model: query.model, symbols: [symbol], key: query.key });
    const [failure] = outcome.errors;
    if (failure) {
      const status = failure.reason === 'no_features' ? 404 : failure.reason === 'features_withheld' ? 409 : failure.reason === 'features_unavailable' ? 503 : 500;
      throw new ApiError(status, failure.reason, failure.error);
    }
    return { predictions: outcome.predictions, errors: [] };
  });

  app.get('/v1/models', { config: { scope: 'predict' } }, async (): Promise<ModelsResponse> => {
    const models: ModelsResponse['models'] = [];
    for (const model of deps.servingModels.models()) {
      const snapshot = deps.servingModels.snapshot(model);
      if (!snapshot) continue; // routes known but not loaded: not served yet
      const versions = [...snapshot.models.values()]
        .map(({ version: v }) => ({ version: v.version, algorithm: v.algorithm, artifactSha256: v.artifactSha256, featureSetVersion: v.featureSetVersion, createdAt: v.createdAt }))
        .sort((a, b) => a.version - b.version);
      const { degraded } = snapshot;
      const championMismatch = deps.servingModels.championMismatch?.(model);
      models.push({
        model,
        ...(championMismatch !== undefined ? { championMismatch } : {}),
        routes: routesView(snapshot.routes),
        versions,
        loadedAt: snapshot.loadedAt,
        ...(degraded
          ? {
              degraded: {
                routesAsWritten: routesView(degraded.written),
                servedBy: { variant: degraded.anchor.variant, version: degraded.anchor.version },
                withdrawn: degraded.withdrawn.map((w) => ({ version: w.version, variants: [...w.variants], weight: w.weight, reason: w.reason, message: w.message, at: w.at })),
              },
            }
          : {}),
      });
    }
    return { models };
  });

  app.put('/v1/admin/routes/:model', { config: { scope: 'admin' } }, async (request) => {
    const { model } = parseInput(modelParamsSchema, request.params, 'params');
    const body = parseInput(writeRoutesRequestSchema, request.body, 'body');
    try {
      // Same check the loader applies: never route to a version no API process would load.
      for (const version of new Set([...body.routes.map((r) => r.version), ...(body.shadow ? [body.shadow.version] : [])])) {
        await deps.servingModels.verifyVersions(model, [version]).catch((error: unknown) => {
          throw error instanceof RegistryError && !(error instanceof ServingVetoError) ? new ServingRoutesError(`cannot route traffic to ${model} v${version}: ${error.message}`) : error;
        });
      }
      // One model name serves one target: every routed version must predict the champion's label.
      await assertSameLabelAsChampion(deps.store, model, [...body.routes.map((r) => r.version), ...(body.shadow ? [body.shadow.version] : [])]);
      // Routes and champion alias name one champion: deployments, promotion and the dashboard read the alias.
      // Judged in the write's transaction, against the alias a concurrent rollback may just have moved.
      // With the key the alias it is judged by must be a key holder's: moved by SQL to a superseded
      // champion, a split serving that version was judged in agreement and written again, signed.
      const signing = deps.servingModels.signing;
      const verified = await verifiedChampionAlias(deps.store, model, signing, `routes of ${model} not written`).catch((error: unknown) => {
        throw error instanceof UnverifiedServingRecordsError ? new ApiError(409, 'serving_routes_tampered', error.message) : error;
      });
      const championCheck = (aliasChampion: number | undefined) => {
        if (verificationKeysOf(signing) !== undefined && aliasChampion !== verified) throw new ApiError(409, 'conflict', `the champion alias of ${model} moved while the routes were judged (v${verified ?? 'none'} → v${aliasChampion ?? 'none'}); the routes are unchanged: read them again and retry`);
        const disagreement = splitAliasDisagreement(body, aliasChampion, 'this split would');
        if (disagreement === undefined) return;
        throw new ApiError(409, 'champion_mismatch', `${disagreement}: deployments, promotion and the dashboard take the champion from the alias, so they would judge and show another version than the one served; the routes are unchanged. To serve another version as the champion use POST /v1/admin/rollback/${model} with toVersion (or \`mlp models rollback ${model} --to-version N\`), which moves the routes and the alias together`);
      };
      const routes = await writeServingRoutes(deps.store, deps.cache, { ...body, model, updatedBy: callerName(request), championCheck, ...(signing ? { signing } : {}) });
      return { routes: routesView(routes) };
    } catch (error) {
      throw adminError(error);
    }
  });

  app.post('/v1/admin/rollback/:model', { config: { scope: 'admin' } }, async (request): Promise<RollbackResponse> => {
    const { model } = parseInput(modelParamsSchema, request.params, 'params');
    const body = parseInput(rollbackRequestSchema, request.body, 'body');
    const by = callerName(request);
    let result;
    try {
      const verify = async (m: string, v: number) => {
        await deps.servingModels.verifyVersions(m, [v]);
        await assertSameLabelAsChampion(deps.store, m, [v]);
      };
      result = await rollbackModel(deps.store, deps.cache, { model, toVersion: body.toVersion, movedBy: by, reason: body.reason, verify, ...(deps.servingModels.signing ? { signing: deps.servingModels.signing } : {}) });
    } catch (error) {
      throw adminError(error);
    }
    // A running deployment would move the traffic again at its next step: stop it, as the CLI does.
    const running = await deps.store.db.selectFrom('deployments').select('id').where('model', '=', model).where('status', '=', 'running').orderBy('started_at').execute();
    const abortWaitMs = deps.abortWaitMs ?? ABORT_WAIT_MS;
    const deployments: RollbackResponse['deployments'] = await Promise.all(running.map(async ({ id }): Promise<RollbackResponse['deployments'][number]> => {
      if (!deps.abortDeployment) {
        return { id, stopped: false, detail: 'this API process has no Temporal connection to abort it: it ends on its own at its next analysis or traffic move, leaving the traffic as rolled back' };
      }
      const abort = deps.abortDeployment(id, { by, reason: `manual rollback: ${body.reason}` });
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'pending'>((resolve) => (timer = setTimeout(() => resolve('pending'), abortWaitMs)));
      try {
        const state = await Promise.race([abort, deadline]);
        if (state !== 'pending') return { id, stopped: true, detail: `abort accepted: now ${state.status}` };
        // The update stays in flight: the workflow takes it (and stops) when a worker picks it up.
        abort.then(
          (later) => app.log.warn({ event: 'rollback.abort_accepted_late', deployment: id, status: later.status }, 'rollback.abort_accepted_late'),
          (error: unknown) => app.log.warn({ event: 'rollback.abort_failed_late', deployment: id, error: (error as Error).message }, 'rollback.abort_failed_late'),
        );
        return { id, stopped: false, detail: `abort sent but not accepted within ${abortWaitMs / 1000} s (is a worker running?): the deployment stops when a worker takes its workflow; until then it moves nothing, and the traffic stays as rolled back` };
      } catch (error) {
        return { id, stopped: false, detail: excerpt((error as Error).message, 300) };
      } finally {
        clearTimeout(timer);
      }
    }));
    return { model: result.model, fromVersion: result.fromVersion, toVersion: result.toVersion, routes: routesView(result.routes), deployments };
  });

  // The two probes answer HEAD too (load balancers probe with it; the status is the answer): they
  // change nothing, unlike a prediction, whose HEAD twin predicted and logged for an answer never sent.
  app.route({ method: ['GET', 'HEAD'], url: '/healthz', handler: async () => ({ status: 'ok' }) });

  app.route({ method: ['GET', 'HEAD'], url: '/readyz', handler: async (_request, reply): Promise<ReadinessResponse> => {
    const [storeProblem, cacheProblem] = await Promise.all([
      probe(() => sql`select 1`.execute(deps.store.db), readinessTimeoutMs),
      probe(() => deps.cache.get('readyz:probe'), readinessTimeoutMs),
    ]);
    const served = deps.servingModels.models();
    let modelsProblem: string | undefined;
    if (!servingStarted()) modelsProblem = 'loading the served models';
    else if (served.length === 0) modelsProblem = 'no model has serving routes yet';
    else if (!deps.servingModels.ready()) modelsProblem = `routed versions are not the loaded ones: ${deps.servingModels.unreadyModels().join('; ')}`;
    // Versions withdrawn beside a served champion degrade the model but do not stop it: still ready (503 would take the champion out of rotation too).
    const degraded = servingStarted() ? (deps.servingModels.degradedModels?.() ?? []) : [];
    // Routes and champion alias naming different champions: served as routed, reported (nothing to take out of rotation).
    if (servingStarted()) {
      for (const model of served) {
        const mismatch = deps.servingModels.championMismatch?.(model);
        if (mismatch !== undefined) degraded.push(`${model}: ${mismatch}; served as routed, while deployments, promotion and the dashboard judge the alias's version`);
      }
    }
    metrics.dependencyUp.set({ dependency: 'store' }, storeProblem === undefined ? 1 : 0);
    metrics.dependencyUp.set({ dependency: 'cache' }, cacheProblem === undefined ? 1 : 0);
    // One store down degrades (features come from the other) but leaves the process ready, the
    // database down with no Redis configured excepted: lib/serving/readiness.ts.
    const answer = readiness({ modelsProblem, degraded, storeProblem, cacheProblem, cacheKind: deps.cache.kind });
    reply.code(answer.ready ? 200 : 503);
    if (!answer.ready) void reply.header('retry-after', String(UNAVAILABLE_RETRY_AFTER_S));
    return answer;
  } });

  app.get('/metrics', async (_request, reply) => {
    reply.type(metrics.contentType);
    return metrics.text();
  });

  app.get('/openapi.json', async () => openApi);

  registerDashboard(app, {
    store: deps.store,
    artifacts: deps.artifacts,
    verifier,
    authFailures,
  });

  return app;
}
