/**
 * Alerts in the relational store: raising with a cool-down (and the outbox rows, in the same
 * transaction), listing, acknowledging, and the open alerts other steps consult.
 */
import { createHash, randomUUID } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';
import { BadInputError } from '../errors';
import { verificationKeysOf } from '../registry/row-signature';
import type { Database } from '../store/database';
import { alertRowVouched, alertSignatureColumns } from './alert-signature';
import { alertFromRow, alertInputSchema, DEFAULT_COOLDOWN_SECONDS, serialiseEvidence, severityRank, type Alert, type AlertInput, type AlertStatus } from './alert';

export interface RaiseAlertOptions {
  /** Channels to deliver to; `log` is always added. */
  channels?: readonly string[];
  now?: Date;
  /** A stable id makes raising idempotent: a retried caller gets the alert it already raised. */
  id?: string;
  /** For an alert that tells events once (see AlertRetelling). */
  retell?: AlertRetelling;
}

/**
 * An alert that tells events once (the runs of pipeline_failed), judged against the alerts of its
 * rule and subject as they are when it is stored, not when its events were looked up: two raisers
 * that looked at once (overlapping monitoring runs) and found different new events would otherwise
 * each tell the events they share.
 */
export interface AlertRetelling {
  /** Earlier alerts of the rule and subject created after this ISO time are the ones that told. */
  since: string;
  /** The alert with only what `earlier` did not tell, or the id of one that told all of it. */
  revise(earlier: readonly Alert[]): { alert: AlertInput } | { toldBy: string };
}

export interface RaiseAlertResult {
  /** The new alert, or the earlier one that suppressed this one. */
  id: string;
  suppressed: boolean;
}

/**
 * Stores an alert and one pending delivery per channel, in one transaction, unless an alert with
 * the same rule and subject, at least as severe, was created within the cool-down: then nothing
 * is written and the earlier alert's id comes back with suppressed = true. A more severe alert
 * (warning → critical) is an escalation and always goes through.
 *
 * With MODEL_SIGNING_KEY (the store's signing), the row is signed, and only rows a held key signed
 * count as earlier alerts (the cool-down, and what a retold alert told): a row written by SQL, or a
 * signed one edited, must not silence an alert whose condition still holds (lib/alerts/alert-signature.ts).
 */
export async function raiseAlert(store: Database, input: AlertInput, options: RaiseAlertOptions = {}): Promise<RaiseAlertResult> {
  const asked = alertInputSchema.parse(input);
  const keys = verificationKeysOf(store.signing);
  // Without a key nothing can be told apart from an edit: every row counts, as it always did.
  const raisedByKeyHolder = <R extends Parameters<typeof alertRowVouched>[1]>(row: R) => keys === undefined || alertRowVouched(keys, row);
  const now = options.now ?? new Date();
  const channels = [...new Set(['log', ...(options.channels ?? [])])];
  // An alert with a key has the key's id, so two raisers of the same event (overlapping monitoring
  // runs, each with its own activity id) write one alert between them. A retold alert's key may
  // shrink in the transaction: the raiser's own id then makes its retry find what it stored.
  const idOf = (a: typeof asked) => (options.retell && options.id !== undefined ? options.id : a.key !== undefined ? keyedAlertId(a.rule, a.subject, a.key) : options.id);
  const stableId = idOf(asked);
  const existingAlert = async (db: Pick<Database['db'], 'selectFrom'>) => (stableId === undefined ? undefined : await db.selectFrom('alerts').select('id').where('id', '=', stableId).executeTakeFirst());
  const raiseOnce = (): Promise<RaiseAlertResult> =>
    store.db.transaction().execute(async (trx) => {
      const existing = await existingAlert(trx);
      if (existing) return { id: existing.id, suppressed: false };
      let alert = asked;
      if (options.retell) {
        let told = trx.selectFrom('alerts').selectAll().where('rule', '=', alert.rule).where('subject', '=', alert.subject).where('created_at', '>', options.retell.since).where('created_at', '<=', latestCredible(now)).orderBy('created_at', 'desc');
        // MySQL: read the latest committed alerts and lock their range, so concurrent retellers
        // serialise (the loser of a deadlock runs again below and sees the winner's alert).
        if (store.driver === 'mysql') told = told.forUpdate();
        const revised = options.retell.revise((await told.execute()).filter(raisedByKeyHolder).map(alertFromRow));
        if ('toldBy' in revised) return { id: revised.toldBy, suppressed: true };
        alert = alertInputSchema.parse(revised.alert);
      }
      const cooldownSeconds = alert.cooldownSeconds ?? DEFAULT_COOLDOWN_SECONDS[alert.severity];
      if (cooldownSeconds > 0) {
        let recent = trx
          .selectFrom('alerts')
          .select(['id', 'rule', 'severity', 'subject', 'message', 'evidence', 'created_at', 'signature', 'signature_key_id'])
          .where('rule', '=', alert.rule)
          .where('subject', '=', alert.subject)
          .where('created_at', '>', new Date(now.getTime() - cooldownSeconds * 1000).toISOString())
          // A row dated well after now was written by no raiser (an edit, or a clock far ahead): it
          // never cools an alert down, else one dated 2099 silenced its rule and subject for good.
          .where('created_at', '<=', latestCredible(now))
          .orderBy('created_at', 'desc');
        // Open is anything but acknowledged (alertFromRow): an edited status still holds.
        if (alert.holds) recent = recent.where(notAcked(store.driver));
        // MySQL: lock the index range so two concurrent raisers of the same condition serialise.
        if (store.driver === 'mysql') recent = recent.forUpdate();
        const earlier = (await recent.execute()).find((r) => severityRank(r.severity) >= severityRank(alert.severity) && raisedByKeyHolder(r));
        if (earlier) return { id: earlier.id, suppressed: true };
      }
      const id = idOf(alert) ?? randomUUID();
      const createdAt = now.toISOString();
      const raised = { id, rule: alert.rule, severity: alert.severity, subject: alert.subject, message: alert.message, evidence: serialiseEvidence(alert.evidence), created_at: createdAt };
      await trx
        .insertInto('alerts')
        .values({ ...raised, status: 'open', acked_by: null, acked_at: null, ...alertSignatureColumns(keys?.signingKey, raised) })
        .execute();
      await trx
        .insertInto('alert_deliveries')
        .values(channels.map((channel) => ({ alert_id: id, channel, status: 'pending', attempts: 0, last_error: null, next_attempt_at: createdAt, delivered_at: null })))
        .execute();
      return { id, suppressed: false };
    });
  for (let attempt = 1; ; attempt++) {
    try {
      return await raiseOnce();
    } catch (error) {
      // Another raiser inserted the same keyed alert between this one's look and its insert.
      const raced = await existingAlert(store.db).catch(() => undefined);
      if (raced) return { id: raced.id, suppressed: false };
      // MySQL chose this transaction as a deadlock victim: the other raiser committed, look again.
      if (attempt < 5 && isDeadlock(error)) continue;
      throw error;
    }
  }
}

/**
 * Whether a row's status is exactly 'acked', as alertFromRow reads it. MySQL's default collation
 * ignores case and trailing spaces ('ACKED' and 'acked ' equal 'acked'), so it compares the bytes there.
 */
export function acked(driver: Database['driver']): RawBuilder<boolean> {
  return driver === 'mysql' ? sql<boolean>`binary status = 'acked'` : sql<boolean>`status = 'acked'`;
}
function notAcked(driver: Database['driver']): RawBuilder<boolean> {
  return driver === 'mysql' ? sql<boolean>`binary status <> 'acked'` : sql<boolean>`status <> 'acked'`;
}

/**
 * The latest creation time a raiser's row can honestly have, seen from `now`: other hosts' clocks
 * run a little ahead (one withdrawing the same version a moment earlier must still cool this one
 * down), an edited row dated years ahead is no raiser's.
 */
const CLOCK_SKEW_MS = 10 * 60_000;
function latestCredible(now: Date): string {
  return new Date(now.getTime() + CLOCK_SKEW_MS).toISOString();
}

function isDeadlock(error: unknown): boolean {
  const e = error as { code?: unknown; errno?: unknown } | undefined;
  return e?.errno === 1213 || e?.code === 'ER_LOCK_DEADLOCK';
}

/** The id of the alert telling `key` under a rule and subject: the same for every raiser. */
export function keyedAlertId(rule: string, subject: string, key: string): string {
  return `alert-key-${createHash('sha256').update(`${rule}\u0000${subject}\u0000${key}`).digest('hex').slice(0, 32)}`;
}

export async function getAlert(store: Database, id: string): Promise<Alert | undefined> {
  const row = await store.db.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? alertFromRow(row) : undefined;
}

export interface ListAlertsFilter {
  status?: AlertStatus;
  rule?: string;
  subject?: string;
  /** Only alerts created after this ISO time. */
  since?: string;
  limit?: number;
}

/** Newest first. */
export async function listAlerts(store: Database, filter: ListAlertsFilter = {}): Promise<Alert[]> {
  let q = store.db.selectFrom('alerts').selectAll().orderBy('created_at', 'desc').orderBy('id').limit(filter.limit ?? 50);
  if (filter.status) q = q.where(filter.status === 'acked' ? acked(store.driver) : notAcked(store.driver));
  if (filter.rule) q = q.where('rule', '=', filter.rule);
  if (filter.subject) q = q.where('subject', '=', filter.subject);
  if (filter.since) q = q.where('created_at', '>', filter.since);
  return (await q.execute()).map(alertFromRow);
}

export interface AckResult {
  alert: Alert;
  /** False when someone had acknowledged it before (the first acknowledgement is kept). */
  changed: boolean;
}

/** Marks an alert as seen by `by`; acknowledging twice keeps the first acknowledgement. */
export async function ackAlert(store: Database, id: string, by: string, now: Date = new Date()): Promise<AckResult> {
  const result = await store.db.updateTable('alerts').set({ status: 'acked', acked_by: by, acked_at: now.toISOString() }).where('id', '=', id).where(notAcked(store.driver)).executeTakeFirst();
  const alert = await getAlert(store, id);
  if (!alert) throw new BadInputError(`no alert "${id}": list them with "mlp alerts list"`, 'ALERT_NOT_FOUND');
  return { alert, changed: Number(result.numUpdatedRows) > 0 };
}

/** Open (unacknowledged) alerts, newest first, e.g. to hold a deployment while data is stale. */
export async function openAlerts(store: Database, filter: { rules?: readonly string[]; subjectPrefix?: string } = {}): Promise<Alert[]> {
  if (filter.rules && filter.rules.length === 0) return [];
  // Open is anything but acknowledged, as alertFromRow reads a row: a status edited to another word still holds deployments.
  let q = store.db.selectFrom('alerts').selectAll().where(notAcked(store.driver)).orderBy('created_at', 'desc');
  if (filter.rules) q = q.where('rule', 'in', [...filter.rules]);
  // A prefix filter in JavaScript: LIKE would need escaping of % and _ on both drivers.
  return (await q.execute()).map(alertFromRow).filter((a) => filter.subjectPrefix === undefined || a.subject.startsWith(filter.subjectPrefix));
}
