/**
 * Prometheus metrics of one prediction API process, on its own registry (so several servers in one
 * process, as in tests, never collide). Counters the serving layer keeps itself (model swaps,
 * verification failures, prediction-log queue) are read from its stats() at scrape time.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FeatureReadCacheStats } from '../lib/serving/feature-read-cache';
import type { PredictionLogStats } from '../lib/serving/prediction-log';
import type { ServingModelsStats } from '../lib/serving/serving-models';

/** Predictions take well under a millisecond; fine buckets below 5 ms show where the time goes. */
export const LATENCY_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface MetricSources {
  serving: () => ServingModelsStats;
  predictionLog: () => PredictionLogStats;
  /** The in-process cache of online vectors (absent when there is none). */
  featureCache?: () => FeatureReadCacheStats;
}

/** Sets a counter to a total kept elsewhere (prom-client counters only go up by inc). */
function setTotal(counter: Counter, value: number, labels: Record<string, string> = {}): void {
  counter.reset();
  if (value > 0) counter.inc(labels, value);
}

export class ApiMetrics {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  readonly httpErrors: Counter<'route' | 'code'>;
  readonly predictions: Counter<'model' | 'variant' | 'version' | 'served'>;
  readonly predictionErrors: Counter<'model' | 'reason'>;
  readonly stalePredictions: Counter<'model'>;
  readonly onlineVectorsRefused: Counter<'reason' | 'store'>;
  readonly offlineFeatureReads: Counter<'reason'>;
  readonly onlineVectorsPreviousKey: Counter<'key_id' | 'store'>;
  readonly dependencyUp: Gauge<'dependency'>;

  constructor(sources: MetricSources, options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.httpRequests = new Counter({ name: 'api_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'], registers });
    this.httpDuration = new Histogram({ name: 'api_http_request_duration_seconds', help: 'HTTP request latency (server side)', labelNames: ['method', 'route'], buckets: LATENCY_BUCKETS_SECONDS, registers });
    this.httpErrors = new Counter({ name: 'api_http_errors_total', help: 'Error responses by route and error code', labelNames: ['route', 'code'], registers });
    this.predictions = new Counter({ name: 'api_predictions_total', help: 'Predictions made, by model, variant, version and whether they were served', labelNames: ['model', 'variant', 'version', 'served'], registers });
    this.onlineVectorsRefused = new Counter({
      name: 'api_online_vectors_refused_total',
      help: 'Feature vectors refused: store="online", read from the cache as not the vector of their key (other_symbol, other_feature_set, future_date, non_session_date, length_mismatch, malformed) or, with MODEL_SIGNING_KEY, not signed by it (unsigned, bad_signature), the offline store answering instead; store="offline", an offline feature row not signed by the key (unsigned, bad_signature), not served nor re-warmed',
      labelNames: ['reason', 'store'],
      registers,
    });
    this.offlineFeatureReads = new Counter({
      name: 'api_offline_feature_reads_total',
      help: 'Feature reads sent to the offline store instead of answered from the online one (whether or not it then had a vector), by why: missing (no online vector under the key), refused (the online vector refused), cache_unavailable (the online store could not be read)',
      labelNames: ['reason'],
      registers,
    });
    this.onlineVectorsPreviousKey = new Counter({
      name: 'api_online_vectors_previous_key_total',
      help: 'Feature vectors served whose signature a previous key (MODEL_SIGNING_PREVIOUS_KEYS) made, by its key id: a key rotation in progress. store="online": online vectors, which their writers sign with the current key on their next write; store="offline": offline feature rows served by a fallback read or re-warmed, which `mlp features recompute` signs with the current key',
      labelNames: ['key_id', 'store'],
      registers,
    });
    this.dependencyUp = new Gauge({
      name: 'api_dependency_up',
      help: 'Whether the dependency answered the last /readyz probe (1) or not (0): store (the database) or cache (Redis). One of them down degrades the process (predictions are read from the other) but leaves it ready; both down, it is not ready',
      labelNames: ['dependency'],
      registers,
    });
    this.predictionErrors = new Counter({ name: 'api_prediction_errors_total', help: 'Symbols that got no prediction, by reason (no_features, features_withheld, features_unavailable, model_failed)', labelNames: ['model', 'reason'], registers });
    this.stalePredictions = new Counter({ name: 'api_stale_predictions_total', help: 'Predictions answered from features older than the latest session whose bar is due (stale: true in the answer)', labelNames: ['model'], registers });

    new Counter({
      name: 'api_model_swaps_total',
      help: 'Serving snapshots replaced (a new traffic split or version loaded)',
      registers,
      collect() {
        setTotal(this, sources.serving().swaps);
      },
    });
    new Counter({
      name: 'api_model_verification_failures_total',
      help: 'Model loads refused (missing, unreadable or failing sha256/header/feature checks); the old snapshot kept serving',
      registers,
      collect() {
        setTotal(this, sources.serving().verificationFailures);
      },
    });
    new Counter({
      name: 'api_serving_route_read_failures_total',
      help: 'Failed reads of the serving routes (store unreachable)',
      registers,
      collect() {
        setTotal(this, sources.serving().readFailures);
      },
    });
    new Counter({
      name: 'api_serving_versions_withdrawn_total',
      help: 'Versions withdrawn from serving because verification refused them (row edited, unsigned, vetoed, deleted, artifact invalid), by model, version and reason; a withdrawn non-champion version leaves its traffic to the champion',
      labelNames: ['model', 'version', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const w of sources.serving().withdrawals) if (w.count > 0) this.inc({ model: w.model, version: String(w.version), reason: w.reason }, w.count);
      },
    });
    new Gauge({
      name: 'api_serving_withdrawn_versions',
      help: 'Versions each model\'s routes name that are withdrawn now (refused by verification); non-zero: the model is degraded, or not served when its champion is the one withdrawn',
      labelNames: ['model'],
      registers,
      collect() {
        this.reset();
        for (const [model, withdrawn] of Object.entries(sources.serving().withdrawn)) this.set({ model }, withdrawn.length);
      },
    });
    new Gauge({
      name: 'api_serving_versions_previous_key',
      help: 'Served versions whose registry row a previous key (MODEL_SIGNING_PREVIOUS_KEYS) signed, by model and key id: served, but the key rotation is not finished until `mlp models sign` re-signs them',
      labelNames: ['model', 'key_id'],
      registers,
      collect() {
        this.reset();
        for (const [model, signed] of Object.entries(sources.serving().previousKeySigned)) {
          for (const { keyId } of signed) this.inc({ model, key_id: keyId });
        }
      },
    });
    new Gauge({
      name: 'api_serving_generation',
      help: 'Serving-routes generation each model serves now',
      labelNames: ['model'],
      registers,
      collect() {
        this.reset();
        for (const [model, generation] of Object.entries(sources.serving().generations)) this.set({ model }, generation);
      },
    });
    new Gauge({
      name: 'api_prediction_log_queued',
      help: 'Prediction-log rows waiting to be written',
      registers,
      collect() {
        this.set(sources.predictionLog().queued);
      },
    });
    new Counter({
      name: 'api_prediction_log_dropped_total',
      help: 'Prediction-log rows dropped because the queue was full (the store could not keep up)',
      registers,
      collect() {
        setTotal(this, sources.predictionLog().dropped);
      },
    });
    new Counter({
      name: 'api_prediction_log_rejected_total',
      help: 'Prediction-log rows refused because they do not fit the table (a bug: see the process log)',
      registers,
      collect() {
        setTotal(this, sources.predictionLog().rejected);
      },
    });
    new Counter({
      name: 'api_prediction_log_written_total',
      help: 'Prediction-log rows written to the store',
      registers,
      collect() {
        setTotal(this, sources.predictionLog().written);
      },
    });
    if (sources.featureCache) {
      const featureCache = sources.featureCache;
      new Counter({
        name: 'api_feature_cache_hits_total',
        help: 'Online feature vectors read from the in-process cache (no Redis round trip)',
        registers,
        collect() {
          setTotal(this, featureCache().hits);
        },
      });
      new Counter({
        name: 'api_feature_cache_misses_total',
        help: 'Online feature vector reads that went to Redis while the in-process cache was active',
        registers,
        collect() {
          setTotal(this, featureCache().misses);
        },
      });
      new Counter({
        name: 'api_feature_cache_invalidations_total',
        help: 'Times the in-process cache of online vectors was emptied (features:updated announcements, cache availability changes)',
        registers,
        collect() {
          setTotal(this, featureCache().invalidations);
        },
      });
    }
    new Counter({
      name: 'api_prediction_log_failed_flushes_total',
      help: 'Prediction-log flushes that failed (retried)',
      registers,
      collect() {
        setTotal(this, sources.predictionLog().failedFlushes);
      },
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
