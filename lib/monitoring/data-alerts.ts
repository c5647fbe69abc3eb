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
 * database writer cannot make: the alert row signed as raised (its evidence names the session it
 * found missing), and the bars of every version the model serves (its signed serving routes) found
 * fresh for that session from their verified bars, over each version's universe as monitoring judges
 * it (judgedNewestBars), the symbols the alert names included. The symbols one alert names are not
 * enough: monitoring raises data_stale per served version under one subject per model, so with
 * champion and challenger both stale the second version's alert is suppressed by the first, and the
 * open alert names only the first version's symbols.
 */
import { openAlerts } from '../alerts/alert-store';
import type { Alert } from '../alerts/alert';
import { alertRowVouched } from '../alerts/alert-signature';
import { verificationKeysOf, type RowSigning, type VerificationKeys } from '../registry/row-signature';
import { barChecking } from '../store/bar-signature';
import { newestVerifiedBarDates } from '../store/bars';
import type { Database } from '../store/database';
import { BadInputError } from '../errors';
import { readServingRoutes, ServingRoutesError, type ServingRoutes } from '../serving/serving-routes';
import { routesProblems } from './serving-records';
import { tradingDaysBehind, type FreshnessReport } from './freshness';
import { judgedNewestBars, profileForReport, universeOfVersion, verifiedVersionForReport } from './model-report';
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

/** The performance lookback's default (performance_degraded.lookbackDays), for an alert that records none. */
const DEFAULT_LOOKBACK_DAYS = 60;
const DAY_MS = 86_400_000;

/**
 * With a key: why the bars a signed stale-bars alert found missing are not all there, verified, for
 * every version the model serves; undefined when they are. The alert's evidence is the freshness
 * report it was raised from: the session it found missing, the symbols behind it, and (since
 * 2026-12) the trading days a symbol may trail it (data_stale.maxLagDays; 0 for an older alert) and
 * the performance lookback monitoring judged asked-about symbols over (60 for an older alert).
 */
async function missingVerifiedBars(store: Database, model: string, alert: Alert, keys: VerificationKeys, signing: RowSigning, now: Date): Promise<string | undefined> {
  const row = await store.db.selectFrom('alerts').selectAll().where('id', '=', alert.id).executeTakeFirst();
  if (!row || !alertRowVouched(keys, row)) return 'the alert row is not as a key holder raised it, so the bars it names cannot be trusted';
  const evidence = alert.evidence as Partial<FreshnessReport> & { allowedLagDays?: unknown; lookbackDays?: unknown };
  const session = evidence.expectedSession;
  if (typeof session !== 'string') return 'its evidence names no session';
  const allowed = typeof evidence.allowedLagDays === 'number' && Number.isInteger(evidence.allowedLagDays) && evidence.allowedLagDays >= 0 ? evidence.allowedLagDays : 0;
  // Monitoring judges a symbol whose bars ended before training did only when asked about within its
  // performance lookback before now; the hold judges the same window (a window anchored at the alert
  // never moved, and one request long ago held every deployment for good).
  const lookbackDays = typeof evidence.lookbackDays === 'number' && Number.isInteger(evidence.lookbackDays) && evidence.lookbackDays >= 1 ? evidence.lookbackDays : DEFAULT_LOOKBACK_DAYS;
  const asked = { since: new Date(now.getTime() - lookbackDays * DAY_MS).toISOString(), until: now.toISOString() };
  const named = Array.isArray(evidence.stalest) ? evidence.stalest.map((s) => s.symbol) : [];
  // Every served version's judged symbols, and the alert's own (they need not be served any more to have been missing).
  const judged = new Map<string, { last: string | undefined; versions: string[] }>();
  const judge = (symbol: string, last: string | undefined, version: string) => judged.set(symbol, { last, versions: [...(judged.get(symbol)?.versions ?? []), version] });
  const served = await servedVersions(store, model, signing);
  if (typeof served === 'string') return served;
  for (const v of served) {
    const version = await verifiedVersionForReport(store, model, v, { signing }).catch((error: unknown) => {
      if (error instanceof BadInputError) return error.message;
      throw error;
    });
    if (typeof version === 'string') return `the universe of served v${v} cannot be read: ${version}`;
    const { profile } = await profileForReport(store, version.version, keys);
    const { symbols } = universeOfVersion(profile, version.version);
    const { lastBars } = await judgedNewestBars(store, version.version, profile, symbols, asked, signing);
    for (const [symbol, last] of lastBars) judge(symbol, last, `v${v}`);
  }
  const namedNewest = (await newestVerifiedBarDates(store, named, signing)).newest;
  for (const symbol of named) if (!judged.has(symbol)) judge(symbol, namedNewest.get(symbol), 'the alert');
  if (judged.size === 0) return 'no served version and no named symbol to check the bars of';
  const behind = [...judged].filter(([, j]) => j.last === undefined || tradingDaysBehind(j.last, session) > allowed);
  if (behind.length === 0) return undefined;
  const shown = behind.slice(0, 10).map(([symbol, j]) => `${symbol} (${j.versions.join(', ')}; newest verified ${j.last ?? 'none'})`);
  return `no verified bar for ${session}${allowed > 0 ? ` or the ${allowed} trading day(s) before` : ''} yet: ${shown.join(', ')}${behind.length > shown.length ? ` and ${behind.length - shown.length} more` : ''}`;
}

/** The versions the model's signed serving routes give traffic to, or why they cannot be told. */
async function servedVersions(store: Database, model: string, signing: RowSigning): Promise<number[] | string> {
  let routes: ServingRoutes | undefined;
  try {
    routes = await readServingRoutes(store, model);
  } catch (error) {
    if (error instanceof ServingRoutesError) return `the serving routes of ${model} cannot be read: ${error.message}`;
    throw error;
  }
  // Deleted routes do not make the versions an API process still serves any fresher.
  if (!routes) return `${model} has no serving routes, so which versions serve cannot be told`;
  // As monitoring judges them (routesProblems): a row that verifies on its own may be an older
  // generation written back, serving fewer versions than the deployment does.
  const problems = await routesProblems(store, signing, routes);
  if (problems.length > 0) return `the serving routes of ${model} are not as a key holder last wrote them (${problems.join('; ')}), so which versions serve cannot be told`;
  return [...new Set(routes.routes.filter((r) => r.weight > 0).map((r) => r.version))].sort((a, b) => a - b);
}

/** Open data alerts of the model that hold its deployments, each with why it still does; and those a later monitoring run found over. `signing`: the key bars and alert rows are checked with (default the store's). */
export async function dataAlertsHolding(store: Database, model: string, signing?: RowSigning, now: Date = new Date()): Promise<{ holding: Alert[]; over: Array<{ alert: Alert; reason: string }> }> {
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
    if (reportedFresh && (!checking || !keys || (await missingVerifiedBars(store, model, alert, keys, checking, now)) === undefined)) over.push({ alert, reason: `monitoring found the bars fresh again at ${run[0].createdAt} (report ${run[0].id})${keys ? ', and every served version has verified bars for the session the alert found missing' : ''}` });
    else holding.push(alert);
  }
  return { holding, over };
}
