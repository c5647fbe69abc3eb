/** The worker's own Prometheus metrics (APP_METRICS_ADDRESS): alerts and monitoring results. */
export { appRegistry, enableProcessMetrics } from './registry';
export { countDeliveryAttempts, countRaisedAlert, registerAlertStoreGauges } from './alert-metrics';
export { MONITORING_GAUGES, recordMonitoringReport, setModelGauge, type MonitoringGaugeName, type MonitoringReportLike } from './monitoring-gauges';
export { startMetricsServer, type MetricsServer } from './metrics-server';
