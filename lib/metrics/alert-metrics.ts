/**
 * Alert metrics of the worker: counters of what this process raised and delivered, and gauges read
 * from the store at scrape time (so they agree across workers and restarts).
 */
import { Counter, Gauge } from 'prom-client';
import type { DeliveryAttempt } from '../alerts/outbox';
import { deliveryBacklog } from '../alerts/outbox';
import { acked } from '../alerts/alert-store';
import { sql } from 'kysely';
import type { Database } from '../store/database';
import { appRegistry } from './registry';

const registers = [appRegistry];

const raised = new Counter({ name: 'alerts_raised_total', help: 'Alerts raised by this process (stored and queued for delivery), by rule and severity', labelNames: ['rule', 'severity'], registers });
const suppressed = new Counter({ name: 'alerts_suppressed_total', help: 'Alerts suppressed by the cool-down (same rule and subject raised recently), by rule and severity', labelNames: ['rule', 'severity'], registers });
const attempts = new Counter({ name: 'alert_delivery_attempts_total', help: 'Alert delivery attempts by this process, by channel and result (delivered, failed)', labelNames: ['channel', 'result'], registers });

export function countRaisedAlert(alert: { rule: string; severity: string }, wasSuppressed: boolean): void {
  (wasSuppressed ? suppressed : raised).inc({ rule: alert.rule, severity: alert.severity });
}

export function countDeliveryAttempts(list: readonly DeliveryAttempt[]): void {
  for (const a of list) attempts.inc({ channel: a.channel, result: a.ok ? 'delivered' : 'failed' });
}

let storeGauges = false;
/**
 * alerts_in_store{rule, severity, status}, alert_deliveries_pending{channel}, alert_deliveries_failing{channel}:
 * counted in the store at each scrape. Registered once per process; a failed query keeps the last values.
 */
export function registerAlertStoreGauges(store: Database, onError: (error: unknown) => void = () => undefined): void {
  if (storeGauges) return;
  storeGauges = true;
  new Gauge({
    name: 'alerts_in_store',
    help: 'Alerts in the store, by rule, severity and status (open, acked)',
    labelNames: ['rule', 'severity', 'status'],
    registers,
    async collect() {
      try {
        // Open is anything but acknowledged, as alertFromRow reads a row (a status edited to another word, or 'ACKED' under MySQL's collation, is open).
        const status = sql<string>`case when ${acked(store.driver)} then 'acked' else 'open' end`;
        const rows = await store.db
          .selectFrom('alerts')
          .select((eb) => ['rule', 'severity', status.as('status'), eb.fn.countAll<number>().as('n')])
          .groupBy(['rule', 'severity', status])
          .execute();
        this.reset();
        for (const r of rows) this.set({ rule: r.rule, severity: r.severity, status: r.status }, Number(r.n));
      } catch (error) {
        onError(error);
      }
    },
  });
  let backlog: Promise<Array<{ channel: string; pending: number; failing: number }>> | undefined;
  // Both delivery gauges come from one query per scrape.
  const readBacklog = () => {
    backlog ??= deliveryBacklog(store).finally(() => setTimeout(() => (backlog = undefined), 1000).unref());
    return backlog;
  };
  for (const [name, help, field] of [
    ['alert_deliveries_pending', 'Alert deliveries not delivered yet, by channel', 'pending'],
    ['alert_deliveries_failing', 'Alert deliveries whose last attempt failed (retried with back-off, never dropped), by channel', 'failing'],
  ] as const) {
    new Gauge({
      name,
      help,
      labelNames: ['channel'],
      registers,
      async collect() {
        try {
          const rows = await readBacklog();
          this.reset();
          for (const r of rows) this.set({ channel: r.channel }, r[field]);
        } catch (error) {
          onError(error);
        }
      },
    });
  }
}
