/**
 * Predictions for a request: pick the served model, read each symbol's online feature vector(s),
 * predict from the snapshot read once at the start, log every prediction (queued, never awaited).
 * The only thing awaited is the read of the features (cache, or the offline store when it fails).
 */
import type { OnlineFeatureVector } from '../lib/features/online-features';
import { labelSpecSchema, type LabelSpec } from '../lib/labels/labels';
import type { ModelVersion } from '../lib/registry/model-registry';
import { predictForRequest, type RequestFeatures } from '../lib/serving/predict';
import { failedPredictionLogEntry, newRequestId, predictionLogEntries, type PredictionLogEntry } from '../lib/serving/prediction-log';
import { routeFor, type Route } from '../lib/serving/routing';
import type { ServingSnapshot } from '../lib/serving/serving-models';
import { ExpectedSessionClock, stalenessOf } from '../lib/serving/staleness';
import { ApiError } from './errors';
import type { ApiMetrics } from './metrics';
import type { PredictionResult } from './schemas';

/** What the prediction path needs from ServingModels (an interface, so tests can pass a fake). */
export interface ServingModelsView {
  snapshot(model: string): ServingSnapshot | undefined;
  models(): string[];
  /** Why a model with routes has no snapshot (its routes unreadable, its versions refused), when known. */
  whyUnavailable?(model: string): string | undefined;
}

export interface PredictionDeps {
  servingModels: ServingModelsView;
  /** Whether the served models' first load has finished (api/main.ts); default true. */
  servingStarted?: () => boolean;
  /** Online vectors, falling back to the offline store when the cache fails (lib/features/online-features.ts). */
  features: { read(version: string, symbol: string): Promise<OnlineFeatureVector | undefined> };
  predictionLog: { append(entries: readonly PredictionLogEntry[]): void };
  metrics: ApiMetrics;
  /** The latest session whose bar is due (its close plus the grace): what answers' staleness is counted against. */
  sessions: ExpectedSessionClock;
}

export type SymbolFailure = 'no_features' | 'features_withheld' | 'features_unavailable' | 'model_failed';

export interface SymbolOutcomeError {
  symbol: string;
  error: string;
  reason: SymbolFailure;
}

export interface PredictionOutcome {
  predictions: PredictionResult[];
  errors: SymbolOutcomeError[];
}

/** Retry-After (seconds) of a model_loading answer. */
const MODEL_LOADING_RETRY_AFTER_S = '1';

/**
 * The snapshot of the requested model, or of the only served one; 400/404/503 otherwise. Until the
 * first load has finished (`started` false) no model is known to be absent, so a model not among
 * those read so far is 503 model_loading, not 404: right after a restart a model was answered 404
 * unknown_model "served: (none)", which the typed client, retrying no 4xx, took as permanent.
 */
export function servedSnapshot(servingModels: ServingModelsView, requested: string | undefined, started = true): ServingSnapshot {
  const served = servingModels.models();
  let model = requested;
  if (!started && (model === undefined || !served.includes(model))) {
    const which = model === undefined ? 'the served models are' : `model "${model}" is`;
    throw new ApiError(503, 'model_loading', `${which} not loaded yet: this process is still reading the serving routes after its start; retry shortly`, { 'retry-after': MODEL_LOADING_RETRY_AFTER_S });
  }
  if (model === undefined) {
    if (served.length === 0) throw new ApiError(404, 'no_model', 'no model is served: none has serving routes yet; deploy one first (PUT /v1/admin/routes/{model} or the deployment workflow)');
    if (served.length > 1) throw new ApiError(400, 'model_required', `several models are served (${served.join(', ')}); name one in "model"`);
    model = served[0];
  }
  if (!served.includes(model)) {
    throw new ApiError(404, 'unknown_model', `model "${model}" is not served here; served: ${served.length > 0 ? served.join(', ') : '(none)'}`);
  }
  const snapshot = servingModels.snapshot(model);
  if (!snapshot) {
    const why = servingModels.whyUnavailable?.(model);
    throw new ApiError(503, 'model_loading', `model "${model}" has serving routes but is not loaded yet (or its versions failed verification); retry shortly${why ? `. Why: ${why}` : ''}`, { 'retry-after': MODEL_LOADING_RETRY_AFTER_S });
  }
  return snapshot;
}

/** Label specs by registry row, parsed once per loaded row (not per request); null: a label this code cannot read. */
const labelSpecs = new WeakMap<ModelVersion, LabelSpec | null>();

function labelSpecOfLoaded(version: ModelVersion): LabelSpec | undefined {
  let spec = labelSpecs.get(version);
  if (spec === undefined) {
    const parsed = labelSpecSchema.safeParse(version.label);
    spec = parsed.success ? parsed.data : null;
    labelSpecs.set(version, spec);
  }
  return spec ?? undefined;
}

/** Feature set version of each model version in the snapshot. */
function featureSetOf(snapshot: ServingSnapshot, version: number): string | undefined {
  return snapshot.models.get(version)?.version.featureSetVersion;
}

/** Feature sets a request routed by `key` needs: the routed variant's first, then shadow's and reference's. */
function neededFeatureSets(snapshot: ServingSnapshot, key: string): { route: Route; routed: string | undefined; others: string[] } {
  const { routes } = snapshot;
  const route = routeFor(routes, key);
  const routed = featureSetOf(snapshot, route.version);
  const others = new Set<string>();
  if (routes.shadow) others.add(featureSetOf(snapshot, routes.shadow.version) ?? '');
  if (routes.reference !== undefined && routes.reference !== route.variant) {
    const ref = routes.routes.find((r) => r.variant === routes.reference);
    if (ref) others.add(featureSetOf(snapshot, ref.version) ?? '');
  }
  others.delete('');
  if (routed !== undefined) others.delete(routed);
  return { route, routed, others: [...others] };
}

/**
 * A vector of `symbol` that another variant of the split would have predicted from (one of the
 * feature sets of the split's other versions with traffic, its reference or shadow; `read` holds the
 * ones read already), or undefined when none has one: then no variant could have answered the
 * symbol (one the model's feature sets do not publish, a typo), and its failure is the request's,
 * not the routed variant's. Read only when the routed variant has no vector.
 */
async function otherVariantsVector(deps: PredictionDeps, snapshot: ServingSnapshot, symbol: string, routed: string, read: ReadonlyMap<string, OnlineFeatureVector | undefined>): Promise<OnlineFeatureVector | undefined> {
  const { routes } = snapshot;
  const versions = [...routes.routes.filter((r) => r.weight > 0).map((r) => r.version), ...(routes.shadow ? [routes.shadow.version] : [])];
  const reference = routes.reference === undefined ? undefined : routes.routes.find((r) => r.variant === routes.reference);
  if (reference) versions.push(reference.version);
  const sets = new Set(versions.map((v) => featureSetOf(snapshot, v)).filter((fs): fs is string => fs !== undefined && fs !== routed));
  for (const fs of sets) {
    const vector = read.has(fs) ? read.get(fs) : await deps.features.read(fs, symbol).catch(() => undefined);
    // A withheld vector would have been refused under that variant too.
    if (vector && vector.withheld === undefined) return vector;
  }
  return undefined;
}

async function predictSymbol(deps: PredictionDeps, snapshot: ServingSnapshot, symbol: string, routingKey: string, createdAt: string, expectedSession: string): Promise<PredictionResult | SymbolOutcomeError> {
  const model = snapshot.routes.model;
  const { route, routed, others } = neededFeatureSets(snapshot, routingKey);
  // A request the routed variant fails before predicting is logged as that variant's error row, as a
  // model's own failure is (predictionLogEntries): the canary's error rate and maxErrorRate guard and
  // the A/B report's intention-to-treat count it. Unlogged, a canary on a feature set published for
  // 20 of 40 symbols failed 8 of 18 requests while its analysis read 0 errors. Dated by the vector
  // another variant read, else by the session a fresh vector would be of. Not logged: a vector
  // withheld (below; every variant is refused on it, by design), a symbol no variant has a vector for.
  const failed = (reason: SymbolFailure, error: string, asOf = expectedSession): SymbolOutcomeError => {
    deps.predictionLog.append([failedPredictionLogEntry({ requestId: newRequestId(), model, symbol, routingKey, asOf, createdAt }, route, error)]);
    deps.metrics.predictions.inc({ model, variant: route.variant, version: String(route.version), served: 'true' });
    return { symbol, reason, error };
  };
  if (routed === undefined) return failed('model_failed', `${model}: the routed version is not loaded in this snapshot`);
  const reads = await Promise.allSettled([routed, ...others].map((fs) => deps.features.read(fs, symbol)));
  if (reads[0].status === 'rejected') {
    const error = `could not read the online features of ${symbol} (feature set ${routed}): ${(reads[0].reason as Error).message}`;
    // Logged against the routed variant only when its own feature set failed while another variant's
    // was read: a store outage fails every variant alike, and counted as the canary's errors it
    // rolled back a canary the champion would have failed as often.
    const othersRead = reads.slice(1).filter((r) => r.status === 'fulfilled' && r.value !== undefined).length;
    return othersRead > 0 ? failed('features_unavailable', error) : { symbol, reason: 'features_unavailable', error };
  }
  // The reference's or shadow's set failing leaves those variants out, as a missing vector does; the routed answer stands.
  const vectors = reads.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
  const [vector] = vectors;
  if (!vector) {
    const error = `no online features for ${symbol} in feature set ${routed}; is the features step publishing this symbol?`;
    const answerable = await otherVariantsVector(deps, snapshot, symbol, routed, new Map(others.map((fs, i) => [fs, vectors[i + 1]])));
    return answerable ? failed('no_features', error, answerable.asOf) : { symbol, reason: 'no_features', error };
  }
  if (vector.withheld !== undefined) return { symbol, reason: 'features_withheld', error: `the online features of ${symbol} as of ${vector.asOf} (feature set ${routed}) are withheld: ${vector.withheld}` };
  // The reference's or shadow's own vector (another feature set) may be withheld too: predictForRequest leaves those variants out, so nothing is logged for them.
  const present = vectors.filter((v): v is OnlineFeatureVector => v !== undefined);
  const features: RequestFeatures = present.length === 1 ? vector : new Map(present.map((v) => [v.version, v]));

  const result = predictForRequest(snapshot, features, routingKey);
  deps.predictionLog.append(predictionLogEntries({ requestId: newRequestId(), model, symbol, routingKey, asOf: vector.asOf, createdAt }, result));
  for (const p of [result.served, ...result.unserved]) {
    deps.metrics.predictions.inc({ model, variant: p.variant, version: String(p.version), served: p === result.served ? 'true' : 'false' });
  }
  const { served } = result;
  if (served.probability === null || served.predictedClass === null) {
    return { symbol, reason: 'model_failed', error: `${model} v${served.version} (${served.variant}) failed on ${symbol} ${vector.asOf}: ${served.error ?? 'no probability'}` };
  }
  const answered = snapshot.models.get(served.version);
  const label = answered ? labelSpecOfLoaded(answered.version) : undefined;
  const { sessionsBehind, stale } = stalenessOf(vector.asOf, expectedSession);
  if (stale) deps.metrics.stalePredictions.inc({ model });
  return { symbol, model, version: served.version, variant: served.variant, probability: served.probability, class: served.predictedClass, asOf: vector.asOf, sessionsBehind, stale, featureSetVersion: vector.version, ...(label ? { label } : {}) };
}

/**
 * The routing key of a request that names none: the symbol, so a symbol's requests land on one
 * variant. In an A/B test, the symbol and the NYSE session whose features a request is answered on
 * (the expected session): by symbol alone the variants would serve disjoint symbols for the whole
 * test and could not be compared on the same stocks; by symbol and session every symbol reaches each
 * variant on some sessions, and the report compares them within symbols (lib/deployment/ab-report.ts),
 * while a symbol keeps one arm from one expected session to the next (over nights and weekends; keyed
 * by the UTC date, a symbol asked on Friday evening and again after midnight UTC, or over the weekend,
 * on the same vector was answered by both arms). The routing session moves at the close plus
 * ROUTING_GRACE_MINUTES, the same in every API process: keyed by each process's own expected
 * session (API_FEATURE_GRACE_MINUTES), two processes with graces 30 and 120 answered half the
 * symbols with different arms between those times, on the same vector. A new session's vector
 * published before the routing session moves is asked under the previous session's key until then,
 * so on that vector a symbol may meet both arms once a day. The variant is chosen before its
 * features are read (variants may read different feature sets), so the vector's own date cannot key it.
 */
function defaultRoutingKey(snapshot: ServingSnapshot, symbol: string, now: Date): string {
  return snapshot.routes.mode === 'ab' ? `${symbol}@${routingSessions.at(now)}` : symbol;
}

/**
 * Minutes after a session's close at which A/B routing keys move to it: fixed, not a process's
 * API_FEATURE_GRACE_MINUTES (the default of which it equals), so that every process reading a split
 * routes a symbol alike.
 */
export const ROUTING_GRACE_MINUTES = 120;
const routingSessions = new ExpectedSessionClock(ROUTING_GRACE_MINUTES);

/** Predicts every symbol (deduplicated, in the order given) with one snapshot; per-symbol failures are errors, not throws. */
export async function predictSymbols(deps: PredictionDeps, request: { model?: string; symbols: readonly string[]; key?: string }): Promise<PredictionOutcome> {
  const snapshot = servedSnapshot(deps.servingModels, request.model, deps.servingStarted?.() ?? true);
  const now = new Date();
  const createdAt = now.toISOString();
  const expectedSession = deps.sessions.at(now);
  const symbols = [...new Set(request.symbols)];
  const outcomes = await Promise.all(symbols.map((symbol) => predictSymbol(deps, snapshot, symbol, request.key ?? defaultRoutingKey(snapshot, symbol, now), createdAt, expectedSession)));
  const outcome: PredictionOutcome = { predictions: [], errors: [] };
  for (const o of outcomes) {
    if ('reason' in o) {
      outcome.errors.push(o);
      deps.metrics.predictionErrors.inc({ model: snapshot.routes.model, reason: o.reason });
    } else {
      outcome.predictions.push(o);
    }
  }
  return outcome;
}
