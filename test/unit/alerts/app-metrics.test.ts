import { countDeliveryAttempts, countRaisedAlert } from '../../../lib/metrics/alert-metrics';
import { recordMonitoringReport, setModelGauge } from '../../../lib/metrics/monitoring-gauges';
import { appRegistry } from '../../../lib/metrics/registry';

/** The value of one series in the registry's text output, or undefined when the series is absent. */
async function sample(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await appRegistry.metrics();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe("the worker's own metrics", () => {
  it('exposes a monitoring report as monitoring_* gauges per model and variant', async () => {
    recordMonitoringReport({ model: 'm1', hitRate: 0.53, auc: 0.55, driftedFeatures: 3, maxPsi: 0.27, freshnessLagDays: 1, createdAt: '2026-03-02T15:35:00Z' });
    recordMonitoringReport({ model: 'm1', variant: 'canary', hitRate: 0.49 });
    expect(await sample('monitoring_hit_rate', { model: 'm1', variant: 'champion' })).toBe(0.53);
    expect(await sample('monitoring_hit_rate', { model: 'm1', variant: 'canary' })).toBe(0.49);
    expect(await sample('monitoring_auc', { model: 'm1', variant: 'champion' })).toBe(0.55);
    expect(await sample('monitoring_drifted_features', { model: 'm1' })).toBe(3);
    expect(await sample('monitoring_max_psi', { model: 'm1' })).toBe(0.27);
    expect(await sample('monitoring_freshness_lag_days', { model: 'm1' })).toBe(1);
    expect(await sample('monitoring_last_report_timestamp_seconds', { model: 'm1', variant: 'champion' })).toBe(Date.parse('2026-03-02T15:35:00Z') / 1000);
  });

  it('removes a series whose value is missing or not finite, rather than showing a stale number', async () => {
    setModelGauge('auc', 'm2', 0.6);
    expect(await sample('monitoring_auc', { model: 'm2' })).toBe(0.6);
    recordMonitoringReport({ model: 'm2', auc: Number.NaN });
    expect(await sample('monitoring_auc', { model: 'm2' })).toBeUndefined();
  });

  it('takes other snake_case names and refuses names Prometheus would not accept', async () => {
    setModelGauge('realised_drawdown', 'm3', -0.12);
    expect(await sample('monitoring_realised_drawdown', { model: 'm3' })).toBe(-0.12);
    expect(() => setModelGauge('Bad-Name', 'm3', 1)).toThrow(/snake_case/);
  });

  it('counts raised, suppressed and delivered alerts by their labels', async () => {
    countRaisedAlert({ rule: 'data_drift', severity: 'critical' }, false);
    countRaisedAlert({ rule: 'data_drift', severity: 'critical' }, true);
    countRaisedAlert({ rule: 'data_drift', severity: 'critical' }, true);
    countDeliveryAttempts([{ alertId: 'a', channel: 'webhook', ok: false, error: 'down' }, { alertId: 'a', channel: 'webhook', ok: true }, { alertId: 'a', channel: 'log', ok: true }]);
    expect(await sample('alerts_raised_total', { rule: 'data_drift', severity: 'critical' })).toBe(1);
    expect(await sample('alerts_suppressed_total', { rule: 'data_drift' })).toBe(2);
    expect(await sample('alert_delivery_attempts_total', { channel: 'webhook', result: 'failed' })).toBe(1);
    expect(await sample('alert_delivery_attempts_total', { channel: 'webhook', result: 'delivered' })).toBe(1);
  });
});
