/**
 * The worker's own Prometheus registry (served on APP_METRICS_ADDRESS): alerts and monitoring
 * results. Temporal SDK metrics are served by the SDK's runtime on METRICS_ADDRESS.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';

export const appRegistry = new Registry();

let processMetrics = false;
/** Node process metrics (memory, event-loop lag, GC), which the SDK's endpoint does not have. Idempotent. */
export function enableProcessMetrics(registry: Registry = appRegistry): void {
  if (registry === appRegistry) {
    if (processMetrics) return;
    processMetrics = true;
  }
  collectDefaultMetrics({ register: registry });
}
