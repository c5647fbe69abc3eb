/**
 * Alerts in the relational store: raising with a cool-down (and the outbox rows, in the same
 * transaction), listing, acknowledging, and the open alerts other steps consult.
 */
import { createHash, randomUUID } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';
import { BadInputError } from '../errors';
import { hmacSha256Hex, verificationKeysOf } from '../registry/row-signature';
import type { Database } from '../store/database';
import { alertRowVouched, alertSignatureColumns, type SignedAlertFields } from './alert-signature';
import { alertFromRow, alertInputSchema, DEFAULT_COOLDOWN_SECONDS, serialiseEvidence, severityRank, type Alert, type AlertInput, type AlertStatus } from './alert';

export interface RaiseAlertOptions {
  /** Channels to deliver to; `log` is always added. */
  channels?: readonly string[];
  now?: Date;
  /** A stable id makes raising idempotent: a retried caller gets the alert it already raised. */
  id?: string;
  /** For an alert that tells events once (see AlertRetelling). */
  retell?: AlertRetelling;
  /** Set for the alert_id_taken alert itself: a forged row at its id does not raise another. */
  integrity?: false;
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
  // With a key, a row at the stable id is this alert's earlier raise only when a held key signed it
  // as this alert (rule and subject): a deployment's activity ids are readable from the database, so
  // a writer without the key could pre-insert rows there that swallowed its alerts, integrity ones
  // included. The alert then goes under an id only a key holder can derive, the same on a retry.
  const ownRaise = (row: AlertRowAtId) => keys === undefined || (alertRowVouched(keys, row) && row.rule === asked.rule && row.subject === asked.subject);
  const placeOf = (db: Pick<Database['db'], 'selectFrom'>) => alertPlace(db, stableId, keys, ownRaise);
  let taken: AlertRowAtId[] = [];
  const raiseOnce = (): Promise<RaiseAlertResult> =>
    store.db.transaction().execute(async (trx) => {
      const place = await placeOf(trx);
      taken = place.taken;
      if (place.raised !== undefined) return { id: place.raised, suppressed: false };
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
      // A retold alert whose key shrank has another id: looked at as the asked one was.
      let id = place.free;
      if (idOf(alert) !== stableId) {
        const revised = await alertPlace(trx, idOf(alert), keys, ownRaise);
        taken = [...taken, ...revised.taken];
        if (revised.raised !== undefined) return { id: revised.raised, suppressed: false };
        id = revised.free;
      }
      id ??= randomUUID();
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
  const raised = await (async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await raiseOnce();
      } catch (error) {
        // Another raiser inserted the same keyed alert between this one's look and its insert.
        const raced = await placeOf(store.db).catch(() => undefined);
        if (raced?.raised !== undefined) return { id: raced.raised, suppressed: false };
        // MySQL chose this transaction as a deadlock victim: the other raiser committed, look again.
        if (attempt < 5 && isDeadlock(error)) continue;
        throw error;
      }
    }
  })();
  // Told once per forged row (keyed by its id), on the first raise and on any retry that finds it.
  // The alert is stored by then: a failure telling it must not fail the raiser (a deployment's
  // activity retried until its workflow failed, its canary left routed), so it is logged instead.
  if (options.integrity !== false && taken.length > 0 && keys !== undefined) {
    try {
      await raiseAlert(store, alertIdTakenAlert(keys.signingKey, asked, taken, raised.id), { channels, now, integrity: false });
    } catch (error) {
      console.error(JSON.stringify({ time: now.toISOString(), event: 'alert_id_taken_not_raised', alert: { rule: asked.rule, subject: asked.subject, id: raised.id }, taken: taken.map((r) => r.id), error: error instanceof Error ? error.message : String(error) }));
    }
  }
  return raised;
}

/** The columns of a row found at an alert's id that tell whether it is that alert's earlier raise. */
type AlertRowAtId = SignedAlertFields & { signature?: string | null; signature_key_id?: string | null; status: string };

/** The most ids tried past a taken one; each further one needs a key holder's row edited since. */
const MAX_DISPLACEMENTS = 4;

/**
 * Where an alert with a stable id stands: `raised` when its earlier raise is stored (a retry, or
 * another raiser of the same keyed alert), else the `free` id to store it under; `taken`, the rows
 * found at the ids it could not use (none without a key: every row there is its earlier raise).
 */
async function alertPlace(
  db: Pick<Database['db'], 'selectFrom'>,
  stableId: string | undefined,
  keys: ReturnType<typeof verificationKeysOf>,
  ownRaise: (row: AlertRowAtId) => boolean,
): Promise<{ raised?: string; free?: string; taken: AlertRowAtId[] }> {
  const taken: AlertRowAtId[] = [];
  if (stableId === undefined) return { taken };
  const rowAt = (id: string) => db.selectFrom('alerts').select(['id', 'rule', 'severity', 'subject', 'message', 'evidence', 'created_at', 'signature', 'signature_key_id', 'status']).where('id', '=', id).executeTakeFirst();
  // Delivery rows with no alert row at the id (written by SQL: the outbox's key is the alert id) made
  // the insert fail on every attempt, a deployment's activity until its workflow failed.
  const orphanAt = async (id: string): Promise<AlertRowAtId | undefined> => {
    const delivery = await db.selectFrom('alert_deliveries').select(['channel', 'status']).where('alert_id', '=', id).executeTakeFirst();
    return delivery ? { id, rule: '(none: delivery rows only)', severity: '', subject: 'alert_deliveries', message: '', evidence: '', created_at: '', status: `a ${delivery.channel} delivery ${delivery.status}` } : undefined;
  };
  let candidate = stableId;
  for (let n = 0; n <= MAX_DISPLACEMENTS; n++) {
    const row = await rowAt(candidate);
    if (!row) {
      const orphan = await orphanAt(candidate);
      if (!orphan) return { free: candidate, taken };
      taken.push(orphan);
      // Without a key no id is out of a writer's reach: a fresh one, so that the alert is stored at all.
      if (keys === undefined) return { free: randomUUID(), taken: [] };
      candidate = displacedAlertId(keys.signingKey, candidate);
      continue;
    }
    if (ownRaise(row)) return { raised: candidate, taken };
    taken.push(row);
    if (keys === undefined) return { raised: candidate, taken: [] }; // ownRaise takes any row then
    // Another key of a rotation may have placed it on an earlier attempt.
    for (const previous of keys.previousKeys) {
      const moved = await rowAt(displacedAlertId(previous, candidate));
      if (moved && ownRaise(moved)) return { raised: moved.id, taken };
    }
    candidate = displacedAlertId(keys.signingKey, candidate);
  }
  throw new Error(`cannot store the alert: the ids ${taken.map((r) => r.id).join(', ')} hold rows that are not it (written without the key, or edited since)`);
}

/** The id an alert takes when a row that is not it holds `id`: a database writer without the key cannot know it beforehand. */
export function displacedAlertId(signingKey: string, id: string): string {
  return `alert-moved-${hmacSha256Hex(signingKey, `mlp-alert-displaced\u0000${id}`).slice(0, 32)}`;
}

/**
 * The integrity alert for rows found at an alert's id that are not it (alert_id_taken), one per row.
 * Its key is an HMAC of the row's id: keyed by the id alone, its own id was computable without the
 * key, and an outbox row pre-inserted there failed every raise that found the forged row.
 */
function alertIdTakenAlert(signingKey: string, alert: { rule: string; subject: string }, taken: readonly AlertRowAtId[], raisedId: string): AlertInput {
  const rows = taken.map((r) => ({ id: r.id, rule: r.rule, subject: r.subject, status: r.status, createdAt: r.created_at, signed: typeof r.signature === 'string' }));
  const first = rows[0];
  return {
    rule: 'alert_id_taken',
    severity: 'critical',
    subject: 'alerts table',
    message: `a ${alert.rule} alert (${alert.subject}) found its id held by a row that is not it, written without the key or edited since: ${rows.map((r) => `${r.id} (rule ${r.rule}, subject ${r.subject}, ${r.status}, created ${r.createdAt}${r.signed ? ', signature not matching' : ', unsigned'})`).join('; ')}; it was raised as ${raisedId}`.slice(0, 4000),
    evidence: { alert: { rule: alert.rule, subject: alert.subject, id: raisedId }, rows },
    key: hmacSha256Hex(signingKey, `mlp-alert-id-taken\u0000${first.id}`).slice(0, 32),
    cooldownSeconds: 0,
  };
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
  /**
   * With the store's signing key, only rows a held key signed as raised (what an earlier alert
   * recorded decides what is news: a forged schedule_missed row recording a huge count silenced that
   * schedule's alerts for good). Rows are limited before they are checked, so forged rows can only
   * make fewer count: the alert is told again, never kept quiet.
   */
  raisedByKeyHolder?: boolean;
}

/** Newest first. */
export async function listAlerts(store: Database, filter: ListAlertsFilter = {}): Promise<Alert[]> {
  let q = store.db.selectFrom('alerts').selectAll().orderBy('created_at', 'desc').orderBy('id').limit(filter.limit ?? 50);
  if (filter.status) q = q.where(filter.status === 'acked' ? acked(store.driver) : notAcked(store.driver));
  if (filter.rule) q = q.where('rule', '=', filter.rule);
  if (filter.subject) q = q.where('subject', '=', filter.subject);
  if (filter.since) q = q.where('created_at', '>', filter.since);
  const keys = filter.raisedByKeyHolder ? verificationKeysOf(store.signing) : undefined;
  const rows = await q.execute();
  return (keys === undefined ? rows : rows.filter((row) => alertRowVouched(keys, row))).map(alertFromRow);
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
