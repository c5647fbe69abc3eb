/**
 * One request's predictions from a serving snapshot: the routed variant's (served) and, unserved,
 * the shadow's and the reference variant's when the request went elsewhere, so variants can be
 * compared on the same requests. A failing model yields a prediction with `error`, never a throw:
 * unserved failures must not fail the served prediction, and served failures are logged too. A
 * variant whose vector is withheld is not run: served, an error prediction (the API refuses the
 * request before it); unserved, no prediction at all.
 */
import { performance } from 'node:perf_hooks';
import { assertSameFeatures, type FeatureMatrix } from '../../models/model';
import type { OnlineFeatureVector } from '../features/online-features';
import { routeFor } from './routing';
import { SHADOW_VARIANT } from './serving-routes';
import type { LoadedModel, ServingSnapshot } from './serving-models';

export interface Prediction {
  variant: string;
  version: number;
  /** Probability of class 1 (up); null when the model failed (see error). */
  probability: number | null;
  /** 1 when class 1 is the more likely, else 0; null when the model failed. */
  predictedClass: number | null;
  latencyMicros: number;
  error?: string;
  /**
   * Date and feature set of the vector this prediction read (variants on different feature sets read
   * different vectors, possibly of different dates); absent when it failed before finding one.
   */
  asOf?: string;
  featureSetVersion?: string;
  /** Why the vector this variant reads is withheld (the model was not run; `error` says so too). */
  withheld?: string;
}

export interface RequestPredictions {
  served: Prediction;
  unserved: Prediction[];
}

/** One vector, or the vectors by feature set version when the variants use different feature sets. */
export type RequestFeatures = OnlineFeatureVector | ReadonlyMap<string, OnlineFeatureVector>;

/** The feature set versions a snapshot's models read (what the caller must fetch vectors for). */
export function featureSetVersionsOf(snapshot: ServingSnapshot): string[] {
  return [...new Set([...snapshot.models.values()].map((m) => m.version.featureSetVersion))].sort();
}

/**
 * Predicts for a request routed by `key`. `now` is a monotonic clock in milliseconds (e.g.
 * performance.now), used only for each prediction's latency.
 */
export function predictForRequest(snapshot: ServingSnapshot, features: RequestFeatures, key: string, now: () => number = () => performance.now()): RequestPredictions {
  const route = routeFor(snapshot.routes, key);
  const served = predictOne(snapshot, route.variant, route.version, features, now);
  const unserved: Prediction[] = [];
  const { shadow, reference } = snapshot.routes;
  if (shadow) unserved.push(predictOne(snapshot, SHADOW_VARIANT, shadow.version, features, now));
  if (reference !== undefined && reference !== route.variant) {
    const ref = snapshot.routes.routes.find((r) => r.variant === reference);
    if (ref) unserved.push(predictOne(snapshot, ref.variant, ref.version, features, now));
  }
  // An unserved variant whose own vector is withheld gets no prediction, as the served one gets none
  // (the API answers 409 and logs nothing): a logged row would enter its live metrics and the
  // canary/reference comparison, and an error row its error rate (a data hold, not a model failure).
  return { served, unserved: unserved.filter((p) => p.withheld === undefined) };
}

function predictOne(snapshot: ServingSnapshot, variant: string, version: number, features: RequestFeatures, now: () => number): Prediction {
  const started = now();
  let vector: OnlineFeatureVector | undefined;
  const result = (probability: number | null, error?: string): Prediction => ({
    variant,
    version,
    probability,
    predictedClass: probability === null ? null : probability > 0.5 ? 1 : 0,
    latencyMicros: Math.max(0, Math.round((now() - started) * 1000)),
    ...(error !== undefined ? { error } : {}),
    ...(vector !== undefined ? { asOf: vector.asOf, featureSetVersion: vector.version } : {}),
  });
  try {
    const loaded = snapshot.models.get(version);
    if (!loaded) throw new Error(`${snapshot.routes.model} v${version} is not loaded in this snapshot`);
    vector = vectorFor(loaded, features);
    // Features the product refuses to serve (an unadjusted split) are not predicted on, for any variant.
    if (vector.withheld !== undefined) return { ...result(null, `features_withheld: the vector of ${vector.symbol} as of ${vector.asOf} (feature set ${vector.version}) is withheld: ${vector.withheld}`), withheld: vector.withheld };
    const p = probabilityOfUp(loaded, vector);
    return result(p);
  } catch (error) {
    return result(null, error instanceof Error ? error.message : String(error));
  }
}

function vectorFor(loaded: LoadedModel, features: RequestFeatures): OnlineFeatureVector {
  const wanted = loaded.version.featureSetVersion;
  const vector = isVector(features) ? features : features.get(wanted);
  if (!vector) throw new Error(`no feature vector of feature set ${wanted}, which v${loaded.version.version} was trained on`);
  if (vector.version !== wanted) throw new Error(`v${loaded.version.version} was trained on feature set ${wanted}, but the vector is of ${vector.version}`);
  return vector;
}

function isVector(features: RequestFeatures): features is OnlineFeatureVector {
  return 'columns' in features;
}

function probabilityOfUp(loaded: LoadedModel, vector: OnlineFeatureVector): number {
  const { model } = loaded;
  assertSameFeatures(model.featureNames, vector.columns, `${loaded.version.name} v${loaded.version.version}`);
  if (vector.values.length !== vector.columns.length) throw new Error(`the feature vector of ${vector.symbol} has ${vector.values.length} values for ${vector.columns.length} columns`);
  const matrix: FeatureMatrix = { values: Float64Array.from(vector.values), rows: 1, featureNames: vector.columns };
  const proba = model.predictProba(matrix);
  const p = proba[1];
  // Whatever the algorithm, what is served as a probability is one (a model restored from parameters no training gives could return 5).
  if (!(Number.isFinite(p) && p >= 0 && p <= 1)) throw new Error(`${loaded.version.name} v${loaded.version.version} returned ${Number.isFinite(p) ? 'a probability outside [0, 1]' : 'a non-finite probability'} (${p}) for ${vector.symbol} ${vector.asOf}`);
  return p;
}
