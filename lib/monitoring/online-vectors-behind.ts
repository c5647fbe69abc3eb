/**
 * With MODEL_SIGNING_KEY, at every monitoring run: the online vectors (Redis) of the feature sets the
 * served versions read, against the newest signed offline row of each symbol. A vector's signature
 * covers its symbol and date, not that it is the newest one: an older signed vector written back
 * over a newer one (a plain Redis SET) was served as fresh. The prediction API refuses such a vector
 * (`superseded`, `replayed`) and answers from the offline row; this check says it happened, since
 * the writers only ever replace a vector with a newer one. One `online_vector_behind` alert per
 * feature set, naming the symbols (a features step between writing its offline rows and its online
 * vectors can be caught in between: the next run no longer finds them).
 */
import type { Cache } from '../cache/cache';
import { ONLINE_VECTOR_KEY_PREFIX, readOfflineNewestSignedDates } from '../features/online-features';
import { verificationKeysOf, type RowSigning } from '../registry/row-signature';
import type { ServingRoutes } from '../serving/serving-routes';
import type { Database } from '../store/database';
import type { MonitoringRules, RuleEvaluation, RuleFinding } from './monitoring-rules';

export interface OnlineVectorsBehind {
  featureSetVersion: string;
  /** The symbols whose online vector is dated before their newest signed offline row (at most 20 listed). */
  behind: Array<{ symbol: string; online: string; offline: string }>;
  count: number;
}

const LISTED = 20;

/** The stored vector's asOf, read from its text (undefined: none or unreadable; the API judges those itself). */
function asOfOf(text: string): string | undefined {
  try {
    const asOf = (JSON.parse(text) as { asOf?: unknown }).asOf;
    return typeof asOf === 'string' ? asOf : undefined;
  } catch {
    return undefined;
  }
}

/** Per feature set the served versions of `routes` read, the symbols whose online vector is older than their newest signed offline row; none without the key. */
export async function checkOnlineVectorsBehind(store: Database, cache: Cache, routes: readonly ServingRoutes[], signing: RowSigning, today: string): Promise<OnlineVectorsBehind[]> {
  if (verificationKeysOf(signing) === undefined || routes.length === 0) return [];
  const pairs = routes.flatMap((r) => [...r.routes.map((x) => x.version), ...(r.shadow ? [r.shadow.version] : [])].map((version) => ({ name: r.model, version })));
  const rows = await store.db
    .selectFrom('model_versions')
    .select('feature_set_version')
    .where((eb) => eb.or(pairs.map((p) => eb.and([eb('name', '=', p.name), eb('version', '=', p.version)]))))
    .execute();
  const found: OnlineVectorsBehind[] = [];
  for (const featureSetVersion of [...new Set(rows.map((r) => r.feature_set_version))].sort()) {
    const offline = await readOfflineNewestSignedDates(store, featureSetVersion, today, signing);
    const behind: OnlineVectorsBehind['behind'] = [];
    for (const [symbol, date] of [...offline].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const text = await cache.get(`${ONLINE_VECTOR_KEY_PREFIX}${featureSetVersion}:${symbol}`);
      const online = text === undefined ? undefined : asOfOf(text);
      if (online !== undefined && online < date) behind.push({ symbol, online, offline: date });
    }
    if (behind.length > 0) found.push({ featureSetVersion, behind: behind.slice(0, LISTED), count: behind.length });
  }
  return found;
}

/** An online_vector_behind alert (the rule's severity and cool-down) per feature set found. */
export function evaluateOnlineVectorsBehind(found: readonly OnlineVectorsBehind[], rules: MonitoringRules): RuleEvaluation {
  const options = rules.online_vector_behind;
  const findings: RuleFinding[] = [];
  if (options.enabled) {
    for (const f of found) {
      const listed = f.behind.map((b) => `${b.symbol} ${b.online} < ${b.offline}`).join(', ');
      findings.push({
        alert: {
          rule: 'online_vector_behind',
          severity: options.severity,
          subject: `online vectors of feature set ${f.featureSetVersion}`.slice(0, 255),
          message:
            `${f.count} online vector${f.count === 1 ? ' is' : 's are'} dated before the newest signed offline row of ${f.count === 1 ? 'its symbol' : 'their symbols'} (${listed}${f.count > f.behind.length ? ', …' : ''}): ` +
            'writers only replace a vector with a newer one, so an older signed vector was most likely written back by hand (the prediction API refuses it and answers from the offline row). ' +
            'Find who wrote Redis; publish the newest vectors again (the features step, or the API re-warm after a restart)',
          evidence: { featureSetVersion: f.featureSetVersion, count: f.count, behind: f.behind },
          cooldownSeconds: options.cooldownSeconds,
        },
        retrain: false,
        blockDeployments: false,
      });
    }
  }
  return { findings, actions: { retrain: false, blockDeployments: false, reasons: [] } };
}
