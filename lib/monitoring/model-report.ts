/**
 * One monitoring report: a served model version's feature drift, prediction drift, live
 * performance and data freshness at one moment, stored in monitoring_reports (one row per
 * monitoring run and version) as the evidence behind alerts and dashboards.
 */
import { labelSpecOf } from '../deployment/outcomes';
import { BadInputError } from '../errors';
import { getModelVersion } from '../registry/model-registry';
import type { Database } from '../store/database';
import { detectFeatureDrift, detectPredictionDrift, type FeatureDriftReport, type PredictionDriftReport } from './drift';
import { freshnessOf, newestBarDates, type FreshnessReport } from './freshness';
import { backtestPromiseOf, livePerformanceOf, type LivePerformance } from './live-performance';
import { readLivePredictions } from './live-predictions';
import { readLiveFeatureWindow } from './live-window';
import { readReferenceProfile } from './profile-store';
import type { MonitoringRules } from './monitoring-rules';

export interface MonitoringTarget {
  model: string;
  version: number;
  /** Serving variants routed to this version (champion, canary, A, B …). */
  variants: string[];
  /** True for the version the champion alias points at. */
  champion: boolean;
}

export interface ModelMonitoringReport {
  id: string;
  model: string;
  version: number;
  variants: string[];
  champion: boolean;
  createdAt: string;
  windowDays: number;
  reference: { available: boolean; reason: string; period?: { from: string; to: string; days: number; rows: number }; scoreSource?: string };
  drift: FeatureDriftReport;
  predictionDrift: PredictionDriftReport;
  performance: LivePerformance & { since: string; predictions: number; unmatured: number; noLabel: number };
  freshness: FreshnessReport;
}

export interface ModelReportRequest {
  id: string;
  target: MonitoringTarget;
  /** Latest trading days of live feature rows and served scores that drift is judged on. */
  windowDays: number;
  rules: MonitoringRules;
  now: Date;
}

const DAY_MS = 86_400_000;

export async function computeModelReport(store: Database, request: ModelReportRequest): Promise<ModelMonitoringReport> {
  const { target, rules, now, windowDays } = request;
  const version = await getModelVersion(store, target.model, target.version);
  const profile = await readReferenceProfile(store, target.model, target.version);
  const driftOptions = rules.data_drift;
  const predictionOptions = rules.prediction_drift;
  const perf = rules.performance_degraded;

  let drift: FeatureDriftReport;
  const noWindow = { from: null, to: null, days: 0, rows: 0 };
  if (!profile) {
    drift = { status: 'unavailable', reason: `no reference profile for ${target.model} v${target.version} (registered outside a training run, or before monitoring existed)`, window: noWindow, q: driftOptions.q, minPsi: driftOptions.minPsi, drifted: [], maxPsi: null, features: [], missingColumns: [] };
  } else {
    try {
      const live = await readLiveFeatureWindow(store, version.featureSetVersion, { days: windowDays, after: profile.period.to });
      drift = detectFeatureDrift(profile, live, driftOptions);
    } catch (error) {
      // A feature set missing from this store is a fact to report, not a reason to stop monitoring the rest.
      if (!(error instanceof BadInputError)) throw error;
      drift = { status: 'unavailable', reason: error.message, window: noWindow, q: driftOptions.q, minPsi: driftOptions.minPsi, drifted: [], maxPsi: null, features: [], missingColumns: [] };
    }
  }

  const since = new Date(now.getTime() - perf.lookbackDays * DAY_MS).toISOString();
  const predictions = await readLivePredictions(store, version, { since, until: now.toISOString() });
  // Scores of the latest windowDays feature days only, like the features.
  const firstDay = Math.max(0, predictions.scores.dates.length - windowDays);
  const recent = Array.from(predictions.scores.day.keys()).filter((i) => predictions.scores.day[i] >= firstDay);
  const predictionDrift: PredictionDriftReport = profile
    ? detectPredictionDrift(profile, { values: recent.map((i) => predictions.scores.values[i]), day: recent.map((i) => predictions.scores.day[i]) }, predictionOptions)
    : { status: 'unavailable', reason: 'no reference profile', rows: recent.length, days: predictions.scores.dates.length - firstDay, psi: null, pValue: null, referenceMean: null, liveMean: null };

  const performance = livePerformanceOf(predictions.samples, backtestPromiseOf(version.metrics), { ...perf, horizon: labelSpecOf(version).horizon });

  // The model's universe: the profile's symbols, less those whose bars ended before its training period did (delisted then).
  const newest = await newestBarDates(store, profile && profile.symbols.length > 0 ? profile.symbols : undefined);
  const universe = new Map<string, string | undefined>();
  for (const symbol of profile && profile.symbols.length > 0 ? profile.symbols : newest.keys()) {
    const last = newest.get(symbol);
    if (profile && last !== undefined && last < profile.period.to) continue;
    universe.set(symbol, last);
  }
  const freshness = freshnessOf(universe, now, rules.data_stale);

  return {
    id: request.id,
    model: target.model,
    version: target.version,
    variants: target.variants,
    champion: target.champion,
    createdAt: now.toISOString(),
    windowDays,
    reference: profile
      ? { available: true, reason: `profile of ${profile.period.rows} training rows over ${profile.period.days} days`, period: profile.period, scoreSource: profile.scoreSource }
      : { available: false, reason: 'no reference profile stored for this version' },
    drift,
    predictionDrift,
    performance: { ...performance, since, predictions: predictions.predictions, unmatured: predictions.unmatured, noLabel: predictions.noLabel },
    freshness,
  };
}

/** Below MySQL's TEXT limit (monitoring_reports.report). */
const MAX_REPORT_BYTES = 60_000;

/** The report as stored: per-feature detail is cut to the drifted and largest-PSI features if it would not fit. */
export function serialiseReport(report: ModelMonitoringReport): string {
  let json = JSON.stringify(report);
  if (Buffer.byteLength(json) <= MAX_REPORT_BYTES) return json;
  const features = report.drift.features.filter((f, i) => f.drifted || i < 10);
  json = JSON.stringify({ ...report, drift: { ...report.drift, features, truncated: report.drift.features.length - features.length } });
  if (Buffer.byteLength(json) <= MAX_REPORT_BYTES) return json;
  return JSON.stringify({ ...report, drift: { ...report.drift, features: [], truncated: report.drift.features.length } });
}

/** Stores the report once under its id (a retried activity writes nothing new). */
export async function saveMonitoringReport(store: Database, report: ModelMonitoringReport): Promise<void> {
  await store.db.insertInto('monitoring_reports').ignore().values({ id: report.id, model: report.model, version: report.version, report: serialiseReport(report), created_at: report.createdAt }).execute();
}
