/**
 * The alert outbox: one `alert_deliveries` row per alert and channel, delivered by whoever runs
 * deliverPendingAlerts (the raising activity at once, the worker's loop afterwards). A failed
 * attempt is rescheduled with exponential back-off; a delivery is never dropped. Several workers
 * may run the loop: a delivery is claimed with a compare-and-set on its next_attempt_at before it
 * is sent, so only one process sends it at a time.
 */
import type { Database } from '../store/database';
import type { AlertDeliveriesTable } from '../store/schema';
import { alertFromRow } from './alert';
import type { AlertChannel } from './channels';

export interface AlertDelivery {
  alertId: string;
  channel: string;
  status: 'pending' | 'delivered';
  attempts: number;
  lastError: string | null;
  nextAttemptAt: string;
  deliveredAt: string | null;
}

function deliveryFromRow(row: AlertDeliveriesTable): AlertDelivery {
  return {
    alertId: row.alert_id,
    channel: row.channel,
    status: row.status === 'delivered' ? 'delivered' : 'pending',
    attempts: Number(row.attempts),
    lastError: row.last_error,
    nextAttemptAt: row.next_attempt_at,
    deliveredAt: row.delivered_at,
  };
}

export const RETRY_BASE_SECONDS = 5;
export const RETRY_MAX_SECONDS = 15 * 60;

/** Wait before the next attempt after `attempts` failed ones: 5 s, 10 s, 20 s, … capped at 15 min. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(RETRY_BASE_SECONDS * 2 ** Math.max(0, attempts - 1), RETRY_MAX_SECONDS);
}

export interface DeliveryAttempt {
  alertId: string;
  channel: string;
  ok: boolean;
  error?: string;
}

export interface DeliverResult {
  delivered: number;
  failed: number;
  attempts: DeliveryAttempt[];
}

export interface DeliverOptions {
  /** Only these alerts (the raising activity delivers its own alert at once). */
  alertIds?: readonly string[];
  /** At most this many deliveries per call. */
  limit?: number;
  /** A claimed delivery is not retried by others for this long (longer than any channel's timeout). */
  leaseSeconds?: number;
}

const MAX_ERROR_LENGTH = 1000;

/** Sends every pending delivery that is due at `now`; failures get attempts + 1 and a later next_attempt_at. */
export async function deliverPendingAlerts(store: Database, channels: readonly AlertChannel[], now: Date = new Date(), options: DeliverOptions = {}): Promise<DeliverResult> {
  const result: DeliverResult = { delivered: 0, failed: 0, attempts: [] };
  if (options.alertIds && options.alertIds.length === 0) return result;
  let q = store.db
    .selectFrom('alert_deliveries')
    .selectAll()
    .where('status', '=', 'pending')
    .where('next_attempt_at', '<=', now.toISOString())
    .orderBy('next_attempt_at')
    .limit(options.limit ?? 100);
  if (options.alertIds) q = q.where('alert_id', 'in', [...options.alertIds]);
  const due = await q.execute();
  // `now` moved on by the time this pass has taken: a pass of many slow sends claims its later rows
  // for the lease from when it claims them, not from when it began (those leases had already run out,
  // so another process could send the same delivery again).
  const started = Date.now();
  const at = () => new Date(now.getTime() + (Date.now() - started));
  for (const row of due) {
    const lease = new Date(at().getTime() + (options.leaseSeconds ?? 120) * 1000).toISOString();
    const claim = await store.db
      .updateTable('alert_deliveries')
      .set({ next_attempt_at: lease })
      .where('alert_id', '=', row.alert_id)
      .where('channel', '=', row.channel)
      .where('status', '=', 'pending')
      .where('next_attempt_at', '=', row.next_attempt_at)
      .executeTakeFirst();
    if (Number(claim.numUpdatedRows) === 0) continue; // another process took it
    const attempts = Number(row.attempts) + 1;
    const thisDelivery = () => store.db.updateTable('alert_deliveries').where('alert_id', '=', row.alert_id).where('channel', '=', row.channel);
    try {
      const alertRow = await store.db.selectFrom('alerts').selectAll().where('id', '=', row.alert_id).executeTakeFirst();
      if (!alertRow) throw new Error(`alert ${row.alert_id} is not in the alerts table`);
      const channel = channels.find((c) => c.name === row.channel);
      if (!channel) throw new Error(`no "${row.channel}" channel is configured in this process${row.channel === 'webhook' ? ' (set ALERT_WEBHOOK_URL)' : ''}`);
      await channel.send(alertFromRow(alertRow));
      await thisDelivery().set({ status: 'delivered', attempts, last_error: null, delivered_at: new Date().toISOString() }).execute();
      result.delivered++;
      result.attempts.push({ alertId: row.alert_id, channel: row.channel, ok: true });
    } catch (error) {
      const message = (error instanceof Error ? error.message : String(error)).slice(0, MAX_ERROR_LENGTH);
      const next = new Date(now.getTime() + retryDelaySeconds(attempts) * 1000).toISOString();
      await thisDelivery().set({ attempts, last_error: message, next_attempt_at: next }).execute();
      result.failed++;
      result.attempts.push({ alertId: row.alert_id, channel: row.channel, ok: false, error: message });
    }
  }
  return result;
}

export interface ListDeliveriesFilter {
  /** pending: not delivered yet; failing: pending after at least one failed attempt; delivered; all. */
  status?: 'pending' | 'failing' | 'delivered' | 'all';
  alertId?: string;
  limit?: number;
}

/** Deliveries, the ones due soonest first. */
export async function listDeliveries(store: Database, filter: ListDeliveriesFilter = {}): Promise<AlertDelivery[]> {
  let q = store.db.selectFrom('alert_deliveries').selectAll().orderBy('next_attempt_at').orderBy('alert_id').orderBy('channel').limit(filter.limit ?? 100);
  const status = filter.status ?? 'pending';
  if (status === 'pending' || status === 'failing') q = q.where('status', '=', 'pending');
  if (status === 'failing') q = q.where('attempts', '>', 0);
  if (status === 'delivered') q = q.where('status', '=', 'delivered');
  if (filter.alertId) q = q.where('alert_id', '=', filter.alertId);
  return (await q.execute()).map(deliveryFromRow);
}

/** Pending and failing deliveries per channel (what the worker's metrics expose). */
export async function deliveryBacklog(store: Database): Promise<Array<{ channel: string; pending: number; failing: number }>> {
  const rows = await store.db
    .selectFrom('alert_deliveries')
    .select((eb) => ['channel', eb.fn.countAll<number>().as('pending'), eb.fn.sum<number>(eb.case().when('attempts', '>', 0).then(1).else(0).end()).as('failing')])
    .where('status', '=', 'pending')
    .groupBy('channel')
    .execute();
  return rows.map((r) => ({ channel: r.channel, pending: Number(r.pending), failing: Number(r.failing ?? 0) }));
}
