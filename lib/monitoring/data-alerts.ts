/**
 * The open data alerts of a model that still hold its deployments. A stale-bars alert (data_stale)
 * that monitoring raised is over once a later monitoring run found every served version's bars
 * fresh: a provider ten minutes late at 18:05 had held a canary until someone acknowledged the alert
 * the next morning, and an alert nobody acknowledged held every later deployment of the model. The
 * alert stays open (someone may still want to backfill what ran on stale data); it no longer holds.
 * Alerts raised otherwise (by hand, by another check), and data_quality alerts, hold until they are
 * acknowledged or overridden.
 *
 * With MODEL_SIGNING_KEY, monitoring_reports rows are not signed: a report written by SQL saying
 * "fresh" released the hold while the feed stayed stopped. The hold then also needs evidence a
 * database writer cannot make: the alert row signed as raised (its evidence names the stale symbols
 * and the session they missed), and every one of those symbols' newest verified bar reaching that
 * session (unsigned or edited bars are not counted, as for freshness itself).
 */
import { openAlerts } from '../alerts/alert-store';
import type { Alert } from '../alerts/alert';
import { alertRowVouched } from '../alerts/alert-signature';
import { verificationKeysOf, type RowSigning, type VerificationKeys } from '../registry/row-signature';
import { barChecking } from '../store/bar-signature';
import { newestVerifiedBarDates } from '../store/bars';
import type { Database } from '../store/database';
import type { FreshnessReport } from './freshness';
import { dataSubject } from './monitoring-rules';

/** The rules whose open alerts on a model's data hold its deployments. */
export const DATA_BLOCKING_RULES = ['data_stale', 'data_quality'] as const;

/** The monitoring run a report belongs to: reports of one run share their id's prefix (activities/monitoring.ts reportIdOf). */
const runOf = (reportId: string) => /^mr-[0-9a-f]{16}-/.exec(reportId)?.[0];

interface StoredReport {
  id: string;
  createdAt: string;
  freshness?: { status?: string; reason?: string };
}

/** Every report of the model's newest monitoring run, when that whole run came after `after`; else undefined. */
async function latestRun(store: Database, model: string, after: string): Promise<StoredReport[] | undefined> {
  const newest = await store.db.selectFrom('monitoring_reports').select(['id']).where('model', '=', model).where('created_at', '>', after).orderBy('created_at', 'desc').limit(1).executeTakeFirst();
  const run = newest ? runOf(newest.id) : undefined;
  if (run === undefined) return undefined;
  // The run's prefix is hex and dashes: nothing LIKE would read as a wildcard.
  const rows = await store.db.selectFrom('monitoring_reports').select(['id', 'report', 'created_at']).where('model', '=', model).where('id', 'like', `${run}%`).execute();
  // A run that raised the alert itself (one version's report before it, another's after) is not a later one.
  if (rows.some((r) => r.created_at <= after)) return undefined;
  const reports: StoredReport[] = [];
  for (const r of rows) {
    try {
      const parsed = JSON.parse(r.report) as { freshness?: StoredReport['freshness'] };
      reports.push({ id: r.id, createdAt: r.created_at, freshness: parsed.freshness });
    } catch {
      return undefined;
    }
  }
  return reports;
}

const raisedByMonitoring = (alert: Alert) => typeof alert.evidence === 'object' && alert.evidence !== null && typeof (alert.evidence as { reportId?: unknown }).reportId === 'string';

/**
 * With a key: why the bars a signed stale-bars alert found missing have not all arrived, verified, or
 * undefined when they have. The alert's evidence is the freshness report it was raised from.
 */
async function missingVerifiedBars(store: Database, alert: Alert, keys: VerificationKeys, signing: RowSigning): Promise<string | undefined> {
  const row = await store.db.selectFrom('alerts').selectAll().where('id', '=', alert.id).executeTakeFirst();
  if (!row || !alertRowVouched(keys, row)) return 'the alert row is not as a key holder raised it, so the bars it names cannot be trusted';
  const evidence = alert.evidence as Partial<FreshnessReport>;
  const named = Array.isArray(evidence.stalest) ? evidence.stalest.map((s) => s.symbol) : [];
  const session = evidence.expectedSession;
  // The evidence names at most 20 symbols: with more behind, the others cannot be checked.
  if (typeof session !== 'string' || named.length === 0 || named.length < (evidence.staleSymbols ?? Infinity)) return 'its evidence does not name every stale symbol';
  const { newest } = await newestVerifiedBarDates(store, named, signing);
  const behind = named.filter((symbol) => (newest.get(symbol) ?? '') < session);
  return behind.length === 0 ? undefined : `no verified bar for ${session} yet: ${behind.join(', ')}`;
}

/** Open data alerts of the model that hold its deployments, each with why it still does; and those a later monitoring run found over. `signing`: the key bars and alert rows are checked with (default the store's). */
export async function dataAlertsHolding(store: Database, model: string, signing?: RowSigning): Promise<{ holding: Alert[]; over: Array<{ alert: Alert; reason: string }> }> {
  const checking = barChecking(store, signing);
  const keys = verificationKeysOf(checking);
  const open = await openAlerts(store, { rules: DATA_BLOCKING_RULES, subjectPrefix: dataSubject(model) });
  const holding: Alert[] = [];
  const over: Array<{ alert: Alert; reason: string }> = [];
  for (const alert of open) {
    if (alert.rule !== 'data_stale' || !raisedByMonitoring(alert)) {
      holding.push(alert);
      continue;
    }
    const run = await latestRun(store, model, alert.createdAt);
    const reportedFresh = run !== undefined && run.length > 0 && run.every((r) => r.freshness?.status === 'fresh');
    // The reports are unsigned: with a key the bars themselves must say so too.
    if (reportedFresh && (!checking || !keys || (await missingVerifiedBars(store, alert, keys, checking)) === undefined)) over.push({ alert, reason: `monitoring found the bars fresh again at ${run[0].createdAt} (report ${run[0].id})${keys ? ', and the bars the alert named are there, signed' : ''}` });
    else holding.push(alert);
  }
  return { holding, over };
}
