/**
 * Gauges of the latest monitoring results per model, for dashboards and Prometheus alerting:
 * `monitoring_<name>{model, variant}`. The monitoring step calls recordMonitoringReport (or
 * setModelGauge for anything else); the documented names are MONITORING_GAUGES.
 */
import { Gauge } from 'prom-client';
import { appRegistry } from './registry';

export const MONITORING_GAUGES = {
  hit_rate: 'Rolling live hit rate (share of matured predictions whose direction was right); absent until enough outcomes matured to judge it',
  hit_rate_baseline: 'Hit rate of the stronger constant (always up or always down) on the same matured predictions: read hit_rate beside it',
  auc: 'Rolling live ROC AUC of matured predictions',
  drifted_features: 'Features whose drift passed the multiple-testing control and the minimum effect size',
  max_psi: 'Largest population stability index over the features',
  prediction_psi: 'PSI of the live score distribution against the training scores',
  freshness_lag_days: 'Trading days between the newest stored bar and the latest completed session (worst symbol)',
  matured_outcomes: 'Matured predictions the live performance is computed from',
  last_report_timestamp_seconds: 'Unix time of the latest monitoring report',
} as const;
export type MonitoringGaugeName = keyof typeof MONITORING_GAUGES;

const NAME = /^[a-z][a-z0-9_]{0,62}$/;
const gauges = new Map<string, Gauge<'model' | 'variant'>>();

function gauge(name: string): Gauge<'model' | 'variant'> {
  let g = gauges.get(name);
  if (!g) {
    if (!NAME.test(name)) throw new Error(`monitoring gauge name "${name}" must be snake_case (it becomes monitoring_${name})`);
    const help = (MONITORING_GAUGES as Record<string, string>)[name] ?? `Monitoring result ${name} (latest run)`;
    g = new Gauge({ name: `monitoring_${name}`, help, labelNames: ['model', 'variant'], registers: [appRegistry] });
    gauges.set(name, g);
  }
  return g;
}

/**
 * Sets monitoring_<name>{model, variant} to value. A missing or non-finite value removes the series,
 * so a dashboard shows a gap rather than a stale number (e.g. AUC with too few matured outcomes).
 */
export function setModelGauge(name: MonitoringGaugeName | (string & {}), model: string, value: number | null | undefined, variant = 'champion'): void {
  const g = gauge(name);
  if (typeof value === 'number' && Number.isFinite(value)) g.set({ model, variant }, value);
  else g.remove({ model, variant });
}

/** What recordMonitoringReport reads; every field but `model` is optional. */
export interface MonitoringReportLike {
  model: string;
  /** champion (default) or canary. */
  variant?: string;
  hitRate?: number | null;
  hitRateBaseline?: number | null;
  auc?: number | null;
  driftedFeatures?: number | null;
  maxPsi?: number | null;
  predictionPsi?: number | null;
  freshnessLagDays?: number | null;
  maturedOutcomes?: number | null;
  /** When the report was made (default now). */
  createdAt?: string | Date;
}

const FIELDS: ReadonlyArray<[keyof MonitoringReportLike, MonitoringGaugeName]> = [
  ['hitRate', 'hit_rate'],
  ['hitRateBaseline', 'hit_rate_baseline'],
  ['auc', 'auc'],
  ['driftedFeatures', 'drifted_features'],
  ['maxPsi', 'max_psi'],
  ['predictionPsi', 'prediction_psi'],
  ['freshnessLagDays', 'freshness_lag_days'],
  ['maturedOutcomes', 'matured_outcomes'],
];

/** Sets every monitoring gauge of one model (and variant) from a report. */
export function recordMonitoringReport(report: MonitoringReportLike): void {
  const variant = report.variant ?? 'champion';
  for (const [field, name] of FIELDS) setModelGauge(name, report.model, report[field] as number | null | undefined, variant);
  const at = report.createdAt === undefined ? new Date() : new Date(report.createdAt);
  setModelGauge('last_report_timestamp_seconds', report.model, at.getTime() / 1000, variant);
}
