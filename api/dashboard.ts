/**
 * The read-only dashboard at /ui, served by the API process: models and versions (champion and
 * challenger marked) with their run reports, deployments with their step timeline and analyses,
 * open alerts, and the latest monitoring report of each served version with drift per feature.
 *
 * Login: a form takes an API token; a token with the `read` scope (or `admin`) is kept in an
 * HttpOnly, SameSite=Strict cookie scoped to /ui and checked again on every request. Pages are
 * server-rendered HTML with every value escaped, no scripts, and a Content-Security-Policy that
 * allows nothing but inline styles and forms posting back here.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { listAlerts } from '../lib/alerts/alert-store';
import { recentDeploymentAnalyses } from '../lib/deployment/analysis-log';
import { configuredSigning, type ApiToken } from '../lib/config';
import { listModelVersions, type ModelVersion } from '../lib/registry/model-registry';
import { annualisedText } from '../lib/backtest/short-sample';
import { accuracyComparisonsOf } from '../lib/registry/promotion';
import { rowSignatureProblem, verificationKeysOf, type RowSigning } from '../lib/registry/row-signature';
import { readRecordedReport, recordedReportOf } from '../lib/reports/version-report';
import { escapeHtml as e } from '../lib/reports/svg';
import { readEveryServingRoutes } from '../lib/serving/serving-routes';
import type { Database } from '../lib/store/database';
import { hasScope, type TokenVerifier } from './auth';
import { ApiError } from './errors';
import type { ArtifactStore } from '../lib/artifacts/artifact-store';
import { FINAL_STATUSES } from '../workflows/deployment/state';

export const DASHBOARD_COOKIE = 'mlp_ui_token';

export interface DashboardDeps {
  store: Database;
  /** Where run reports are filed; without it, report pages say the reports are not available here. */
  artifacts?: ArtifactStore;
  verifier: TokenVerifier;
  /**
   * The deployment's MODEL_SIGNING_KEY; default: the configured one (loadConfig). With a key, a run
   * report is shown only when the version's row and its report record pass their signatures.
   */
  signing?: RowSigning;
  /**
   * The API's limit on failed authentications per address, shared with the dashboard so that a
   * token cannot be guessed through the login form or the cookie either: `check` refuses an address
   * already over it, `failed` counts one more failure; both throw a 429 ApiError when over.
   */
  authFailures?: { check(request: FastifyRequest): Promise<void> | undefined; failed(request: FastifyRequest): Promise<void> };
}

const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const CSS = `body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#222;background:#f6f7f9}
nav{background:#1f2937;padding:10px 24px}nav a{color:#e5e7eb;margin-right:18px;text-decoration:none;font-weight:600}nav a:hover{color:#fff}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px}h1{font-size:22px}h2{font-size:17px;margin:18px 0 8px}
table{border-collapse:collapse;font-size:13px;background:#fff;margin:6px 0}th,td{border:1px solid #e5e7eb;padding:4px 10px;text-align:left;vertical-align:top}th{background:#f3f4f6}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#e8eef7;margin-right:4px}.badge.champion{background:#2ca02c;color:#fff}.badge.challenger{background:#ff7f0e;color:#fff}
.card{background:#fff;border:1px solid #e2e4e8;border-radius:6px;padding:12px 16px;margin:12px 0}.note{color:#666;font-size:12px}
.error{color:#a94442;background:#f2dede;padding:8px 12px;border-radius:4px}.critical{color:#a94442;font-weight:600}.warning{color:#8a6d3b;font-weight:600}
ol.timeline{list-style:none;padding:0;display:flex;gap:6px;flex-wrap:wrap}ol.timeline li{padding:6px 12px;border-radius:4px;background:#e5e7eb}ol.timeline li.done{background:#2ca02c;color:#fff}ol.timeline li.current{background:#ff7f0e;color:#fff}
.drifted{color:#a94442;font-weight:600}form.login{background:#fff;padding:18px;border:1px solid #ddd;border-radius:6px;max-width:420px}input[type=password]{width:100%;padding:6px;margin:6px 0 12px}`;

function page(title: string, body: string, options: { nav?: boolean } = {}): string {
  const nav = options.nav === false ? '' : '<nav><a href="/ui/models">Models</a><a href="/ui/deployments">Deployments</a><a href="/ui/alerts">Alerts</a><a href="/ui/monitoring">Monitoring</a><a href="/ui/logout">Log out</a></nav>';
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${e(title)} · mlp dashboard</title><style>${CSS}</style></head><body>${nav}<main><h1>${e(title)}</h1>${body}</main></body></html>`;
}

function table(headers: string[], rows: string[][]): string {
  return `<table><thead><tr>${headers.map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

const f = (x: unknown, digits = 4) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '-');
const pct = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? `${(x * 100).toFixed(0)}%` : '-');

function parseJson(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

// What the pages read from stored JSON: checked at this boundary; anything else is ignored.
const storedLift = { accuracy: z.number().nullable(), accuracyLift: z.number().nullable().optional(), liftInterval: z.array(z.number().nullable()).optional(), pValue: z.number().nullable().optional() };
const outOfSampleSchema = z.object({
  classification: z.object({ accuracy: z.number().nullable(), rocAuc: z.number().nullable() }),
  // The lift's evidence and the no-information rate are absent in versions evaluated before they were stored.
  baseline: z.object({ name: z.string(), ...storedLift, noInformation: z.object(storedLift).optional() }),
  auc: z
    .object({
      versus: z.string(),
      baselineAuc: z.number().nullable(),
      withinDay: z.object({ value: z.number().nullable(), versus: z.string(), baselineValue: z.number().nullable(), difference: z.object({ pValue: z.number().nullable() }).optional() }).optional(),
    })
    .optional(),
  backtest: z.object({ strategy: z.object({ sharpe: z.number().nullable().optional(), periods: z.number().nullable().optional() }), buyAndHold: z.object({ sharpe: z.number().nullable().optional(), periods: z.number().nullable().optional() }) }).optional(),
});
const headlineSchema = z.object({ outOfSample: outOfSampleSchema.optional() });

/**
 * The backtest Sharpe cell of the models page, beside buy-and-hold's: annualised, so marked n/a with
 * the number of periods on a backtest shorter than MIN_ANNUALISED_PERIODS (lib/backtest/short-sample.ts).
 */
export function sharpeCellHtml(b: NonNullable<z.input<typeof outOfSampleSchema>['backtest']>): string {
  const periods = b.strategy.periods;
  return `${e(annualisedText(b.strategy.sharpe, periods, 2))} <span class="note">vs buy-and-hold ${e(annualisedText(b.buyAndHold.sharpe, b.buyAndHold.periods ?? periods, 2))}</span>`;
}

/**
 * The OOS accuracy cell of the models page: beside the baseline promotion judges accuracy_lift
 * against (the evaluation period's own majority class, marked hindsight, where that evidence is the
 * weaker), with its p-value where stored ('-' where undefined).
 */
export function accuracyCellHtml(h: z.input<typeof outOfSampleSchema>): string {
  const judged = accuracyComparisonsOf(h.baseline).judged;
  const p = h.baseline.pValue === undefined ? '' : `, p ${Number.isFinite(judged.pValue) ? judged.pValue.toPrecision(2) : '-'}`;
  return `${f(h.classification.accuracy)} <span class="note">vs ${e(judged.versus)}${judged.hindsight ? ' (hindsight)' : ''} ${f(judged.accuracy)}${p}</span>`;
}
/**
 * The within-day AUC cell of the models page (each day's stocks ranked: what a cross-sectional
 * experiment promotes on), beside its strongest baseline with the p-value of the difference; '-'
 * for versions evaluated without it (one symbol, or before it was stored). Without it the page
 * showed only the pooled AUC, which a market-timing score without ranking skill raises.
 */
export function withinDayAucCellHtml(h: z.input<typeof outOfSampleSchema>): string {
  const wd = h.auc?.withinDay;
  if (!wd) return '-';
  const p = wd.difference === undefined ? '' : `, p ${typeof wd.difference.pValue === 'number' && Number.isFinite(wd.difference.pValue) ? wd.difference.pValue.toPrecision(2) : '-'}`;
  return `${f(wd.value)} <span class="note">vs ${e(wd.versus)} ${f(wd.baselineValue)}${p}</span>`;
}
const planSchema = z.object({ mode: z.string().optional(), canary: z.object({ steps: z.array(z.number()) }).optional(), ab: z.object({ challengerWeight: z.number() }).optional() });
const analysisSchema = z.object({ at: z.string(), phase: z.string(), weight: z.number(), verdict: z.string(), reasons: z.array(z.string()) });
const deploymentStateSchema = z.object({
  status: z.string().optional(),
  step: z.number().optional(),
  steps: z.array(z.number()).optional(),
  challengerWeight: z.number().optional(),
  analyses: z.array(analysisSchema).default([]),
  decisions: z.array(z.object({ at: z.string(), message: z.string() })).default([]),
});
const featureDriftSchema = z.object({ name: z.string(), psi: z.number().nullable(), pValue: z.number().nullable().optional(), qValue: z.number().nullable().optional(), drifted: z.boolean(), referenceMean: z.number().nullable().optional(), liveMean: z.number().nullable().optional() });
const monitoringSchema = z.object({
  model: z.string(),
  version: z.number(),
  createdAt: z.string(),
  champion: z.boolean().optional(),
  drift: z.object({ status: z.string(), reason: z.string(), drifted: z.array(z.string()).default([]), maxPsi: z.number().nullable().optional(), features: z.array(featureDriftSchema).default([]), window: z.object({ from: z.string().nullable(), to: z.string().nullable(), days: z.number(), rows: z.number() }).optional() }),
  predictionDrift: z.object({ status: z.string(), reason: z.string(), psi: z.number().nullable().optional() }).optional(),
  freshness: z.object({ status: z.string().optional(), reason: z.string().optional() }).passthrough().optional(),
  universe: z.object({ reason: z.string() }).passthrough().optional(),
  performance: z
    .object({
      status: z.string(),
      samples: z.number(),
      hitRate: z.number().nullable(),
      // confidence: absent in reports written before the interval carried its level.
      hitRateInterval: z.object({ lower: z.number(), upper: z.number(), confidence: z.number().optional() }).nullable().optional(),
      baseline: z.object({ name: z.string(), hitRate: z.number() }).nullable().optional(),
      reasons: z.array(z.string()).default([]),
    })
    .optional(),
});

/** The live hit rate as a person should read it: beside the stronger constant on the same predictions, and only once judged. */
function performanceLine(p: NonNullable<z.infer<typeof monitoringSchema>['performance']>): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  if (p.status === 'insufficient-data' || p.hitRate === null) return `<p class="performance">Live performance: <strong>${e(p.status)}</strong>${p.reasons[0] ? ` — ${e(p.reasons[0])}` : ''}.</p>`;
  const level = p.hitRateInterval?.confidence;
  const interval = p.hitRateInterval ? ` (${level === undefined ? 'interval' : `${Math.round(level * 1000) / 10}% interval`} ${pct(p.hitRateInterval.lower)}–${pct(p.hitRateInterval.upper)}${level === undefined ? ', its level not recorded' : ''})` : '';
  const baseline = p.baseline ? `; ${e(p.baseline.name)} scores <strong>${pct(p.baseline.hitRate)}</strong> on the same predictions` : '; no baseline recorded in this report';
  return `<p class="performance">Live performance: <strong>${e(p.status)}</strong> — hit rate <strong>${pct(p.hitRate)}</strong>${interval} on ${p.samples} matured predictions${baseline}.</p>`;
}

type MonitoringRow = { id: string; model: string; version: number | null; report: string; created_at: string };

/** The monitoring run a report id belongs to: `mr-<run>-<model>-v<version>` (activities/monitoring.ts) less its target; the id itself otherwise. */
function runOfReport(r: Pick<MonitoringRow, 'id' | 'model' | 'version'>): string {
  const suffix = `-${r.model}-v${r.version}`;
  return r.id.endsWith(suffix) ? r.id.slice(0, -suffix.length) : r.id;
}

/**
 * Which reports /ui/monitoring shows: per model (newest report first), the newest report of each
 * version it serves now (routes with traffic, as the monitoring run picks them), champion first. One
 * per model would hide the champion's drift behind a canary's or an A/B challenger's report of the
 * same run. A model without readable routes (not served now) shows the versions of its newest run.
 */
async function monitoringReportsToShow(store: Database, rows: readonly MonitoringRow[]): Promise<Array<MonitoringRow | { missing: true; model: string; version: number }>> {
  const served = new Map((await readEveryServingRoutes(store)).routes.map((r) => [r.model, [...new Set(r.routes.filter((x) => x.weight > 0).map((x) => x.version))]]));
  const byModel = new Map<string, MonitoringRow[]>();
  for (const r of rows) byModel.set(r.model, [...(byModel.get(r.model) ?? []), r]);
  const out: Array<MonitoringRow | { missing: true; model: string; version: number }> = [];
  for (const [model, reports] of byModel) {
    const newestOf = new Map<number | null, MonitoringRow>();
    for (const r of reports) if (!newestOf.has(r.version)) newestOf.set(r.version, r);
    const versions = served.get(model) ?? [...newestOf.keys()].filter((v) => runOfReport(newestOf.get(v) as MonitoringRow) === runOfReport(reports[0]));
    const shown: Array<{ version: number | null; row?: MonitoringRow; champion: boolean }> = [];
    for (const version of versions) {
      // Beyond the newest 500 rows: read that version's newest on its own.
      const row = newestOf.get(version) ?? (version === null ? undefined : await store.db.selectFrom('monitoring_reports').selectAll().where('model', '=', model).where('version', '=', version).orderBy('created_at', 'desc').limit(1).executeTakeFirst());
      const champion = row ? (parseJson(row.report) as { champion?: unknown } | undefined)?.champion === true : false;
      shown.push({ version, row, champion });
    }
    shown.sort((a, b) => Number(b.champion) - Number(a.champion) || (a.version ?? 0) - (b.version ?? 0));
    for (const x of shown) out.push(x.row ?? { missing: true, model, version: x.version ?? 0 });
  }
  return out;
}

// A version as the dashboard writes it in links: plain digits (coercion also read 0x1, 1e0 and " 1" as 1).
const versionParams = z.object({ name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/), version: z.string().regex(/^[1-9][0-9]{0,14}$/).transform(Number) });
const loginBody = z.object({ token: z.string().max(512).default('') });

function aliasBadges(aliases: string[]): string {
  return aliases.map((a) => `<span class="badge ${e(a)}" data-alias="${e(a)}">${e(a)}</span>`).join('');
}

export function registerDashboard(app: FastifyInstance, deps: DashboardDeps): void {
  const { store, verifier } = deps;
  let signing = deps.signing;
  const signingOf = (): RowSigning => (signing ??= configuredSigning());

  const send = (reply: FastifyReply, status: number, html: string) => reply.code(status).header('content-type', 'text/html; charset=utf-8').header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').send(html);

  const loginForm = (message?: string) =>
    page(
      'Sign in',
      `${message ? `<p class="error" id="login-error">${e(message)}</p>` : ''}<form class="login" method="post" action="/ui/login"><label for="token">API token (with the <code>read</code> scope)</label><input type="password" id="token" name="token" autocomplete="off" required><button type="submit" id="login-submit">Sign in</button><p class="note">The token is kept in a cookie for this dashboard only and checked on every page.</p></form>`,
      { nav: false },
    );

  /** The caller of a dashboard page: cookie (or Authorization header) with the read scope; otherwise the answer is sent. */
  /** Runs `fn`; a 429 from the failed-authentication limit is answered as a page with its Retry-After. */
  const limited = async (reply: FastifyReply, fn: () => Promise<void>): Promise<boolean> => {
    try {
      await fn();
      return true;
    } catch (error) {
      if (!(error instanceof ApiError) || error.statusCode !== 429) throw error;
      void send(reply.headers(error.headers), 429, page('Too many attempts', `<p class="error" id="rate-limited">${e(error.message)}</p>`, { nav: false }));
      return false;
    }
  };
  const checkAddress = (request: FastifyRequest, reply: FastifyReply) => limited(reply, async () => deps.authFailures?.check(request));
  const countFailure = (request: FastifyRequest, reply: FastifyReply) => limited(reply, async () => deps.authFailures?.failed(request));

  const caller = async (request: FastifyRequest, reply: FastifyReply): Promise<ApiToken | undefined> => {
    if (!(await checkAddress(request, reply))) return undefined;
    const fromCookie = cookieValue(request.headers.cookie, DASHBOARD_COOKIE);
    const authorization = fromCookie ? `Bearer ${fromCookie}` : request.headers.authorization;
    if (!authorization) {
      void reply.redirect('/ui/login', 303);
      return undefined;
    }
    const token = verifier.identify(authorization);
    if (!token) {
      if (!(await countFailure(request, reply))) return undefined;
      void send(reply.header('set-cookie', `${DASHBOARD_COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0`), 401, loginForm('That token is not known to this API (API_TOKENS); sign in again.'));
      return undefined;
    }
    if (!hasScope(token, 'read')) {
      void send(reply, 403, page('Not allowed', `<p class="error" id="forbidden">Token "${e(token.name)}" lacks the read scope (it has ${e(token.scopes.join(', '))}); use a token with read in API_TOKENS.</p><p><a href="/ui/logout">Sign in with another token</a></p>`, { nav: false }));
      return undefined;
    }
    return token;
  };

  void app.register(async (ui) => {
    // The login form posts urlencoded data; the API elsewhere takes JSON only.
    ui.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });

    ui.get('/ui/login', async (_request, reply) => send(reply, 200, loginForm()));

    ui.post('/ui/login', async (request, reply) => {
      if (!(await checkAddress(request, reply))) return reply;
      const parsed = loginBody.safeParse(request.body ?? {});
      const token = parsed.success && parsed.data.token !== '' ? verifier.identify(`Bearer ${parsed.data.token}`) : undefined;
      if (!token) {
        if (!(await countFailure(request, reply))) return reply;
        return send(reply, 401, loginForm('Unknown token: give a token listed in API_TOKENS.'));
      }
      if (!hasScope(token, 'read')) return send(reply, 403, loginForm(`Token "${token.name}" lacks the read scope (it has ${token.scopes.join(', ')}); the dashboard needs read (or admin).`));
      return reply.header('set-cookie', `${DASHBOARD_COOKIE}=${encodeURIComponent(parsed.success ? parsed.data.token : '')}; Path=/ui; HttpOnly; SameSite=Strict`).redirect('/ui/models', 303);
    });

    ui.get('/ui/logout', async (_request, reply) => reply.header('set-cookie', `${DASHBOARD_COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0`).redirect('/ui/login', 303));

    ui.get('/ui', async (request, reply) => {
      if (!(await caller(request, reply))) return reply;
      return reply.redirect('/ui/models', 303);
    });

    ui.get('/ui/models', async (request, reply) => {
      if (!(await caller(request, reply))) return reply;
      const versions = await listModelVersions(store);
      const aliases = await store.db.selectFrom('model_aliases').select(['name', 'alias', 'version']).execute();
      const aliasesOf = (v: ModelVersion) => aliases.filter((a) => a.name === v.name && Number(a.version) === v.version).map((a) => a.alias).sort();
      const byModel = new Map<string, ModelVersion[]>();
      for (const v of versions) (byModel.get(v.name) ?? byModel.set(v.name, []).get(v.name)!).push(v);
      const cards = [...byModel.entries()].map(([name, list]) => {
        const keys = verificationKeysOf(signingOf());
        const rows = [...list].reverse().map((v) => {
          // With the key, a row whose signature fails may carry edited metrics: its figures are not shown as the version's.
          const unvouched = keys === undefined ? undefined : rowSignatureProblem(keys, v);
          const h = unvouched === undefined ? headlineSchema.safeParse(v.metrics).data?.outOfSample : undefined;
          const report = recordedReportOf(v);
          const withheld = '<span class="error withheld">withheld</span>';
          return [
            `<span class="version">v${v.version}</span>`,
            aliasBadges(aliasesOf(v)),
            e(v.algorithm),
            unvouched !== undefined ? `<span class="error withheld">withheld: ${e(unvouched)}</span>` : h ? `${f(h.classification.rocAuc)} <span class="note">vs ${e(h.auc?.versus ?? 'chance')} ${f(h.auc?.baselineAuc ?? 0.5)}</span>` : '-',
            unvouched !== undefined ? withheld : h ? withinDayAucCellHtml(h) : '-',
            unvouched !== undefined ? withheld : h ? accuracyCellHtml(h) : '-',
            unvouched !== undefined ? withheld : h?.backtest ? sharpeCellHtml(h.backtest) : '-',
            e(v.createdAt),
            report ? `<a class="report-link" href="/ui/models/${encodeURIComponent(v.name)}/versions/${v.version}/report">report</a>` : '<span class="note">no report recorded</span>',
          ];
        });
        return `<div class="card model" data-model="${e(name)}"><h2>${e(name)}</h2>${table(['version', 'aliases', 'algorithm', 'OOS AUC', 'OOS within-day AUC', 'OOS accuracy', 'Sharpe (net)', 'registered', 'run report'], rows)}</div>`;
      });
      return send(reply, 200, page('Models and versions', cards.length > 0 ? cards.join('') : '<p>No model is registered yet.</p>'));
    });

    ui.get('/ui/models/:name/versions/:version/report', async (request, reply) => {
      if (!(await caller(request, reply))) return reply;
      const params = versionParams.safeParse(request.params);
      if (!params.success) return send(reply, 400, page('Bad request', '<p class="error">Expected /ui/models/&lt;model&gt;/versions/&lt;number&gt;/report.</p>'));
      const { name, version } = params.data;
      const v = (await listModelVersions(store, name)).find((x) => x.version === version);
      if (!v) return send(reply, 404, page('Not found', `<p class="error">Model ${e(name)} has no version ${version}.</p>`));
      const recorded = recordedReportOf(v);
      // Only this version's report, intact, and (with a signing key) with the row and its report record signed.
      const read = deps.artifacts ? await readRecordedReport(deps.artifacts, v, signingOf()) : undefined;
      if (read?.state === 'refused') {
        return send(reply, 409, page(`${name} v${version}`, `<p class="error" id="report-refused">The run report recorded for this version is not shown: ${e(read.reason)}</p><p>Build it again with <code>mlp report ${e(name)}@${version} --regenerate</code> (a version whose signatures fail gets a report that says so, and it is not recorded).</p>`));
      }
      if (read?.state !== 'ok') {
        const why = !recorded ? 'No run report is recorded for this version' : !deps.artifacts ? 'This API process has no artifact store' : `The report file ${recorded.sha256}.html is missing from ${deps.artifacts.description}`;
        return send(reply, 404, page(`${name} v${version}`, `<p class="error">${e(why)}; build it with <code>mlp report ${e(name)}@${version}</code>.</p>`));
      }
      return send(reply, 200, read.html);
    });

    ui.get('/ui/deployments', async (request, reply) => {
      if (!(await caller(request, reply))) return reply;
      const rows = await store.db.selectFrom('deployments').selectAll().orderBy('started_at', 'desc').limit(50).execute();
      const cards: string[] = [];
      for (const d of rows) {
        const plan = planSchema.safeParse(parseJson(d.plan)).data;
        const state = deploymentStateSchema.safeParse(parseJson(d.outcome)).data;
        const steps = state?.steps ?? plan?.canary?.steps ?? [];
        const final = (FINAL_STATUSES as readonly string[]).includes(d.status);
        // A running deployment has no final state yet: its analyses come from the analysis log, and
        // its step is the one whose traffic share the newest canary analysis ran at.
        const logged = state ? [] : (await recentDeploymentAnalyses(store, d.id, 100)).map((a) => ({ at: a.analysedAt, phase: a.phase, weight: a.weight, verdict: a.verdict, reasons: a.reasons }));
        const newestCanary = [...logged].reverse().find((a) => a.phase === 'canary');
        const reached = state?.step ?? (newestCanary ? steps.findIndex((s) => Math.abs(s / 100 - newestCanary.weight) < 1e-9) : -1);
        const timeline =
          d.mode === 'canary' && steps.length > 0
            ? `<ol class="timeline">${steps.map((s, i) => `<li class="step ${i < reached || (i === reached && d.status === 'promoted') ? 'done' : i === reached ? 'current' : ''}" data-step="${i + 1}">step ${i + 1}: ${e(s)}%</li>`).join('')}</ol>`
            : `<p>A/B test, challenger weight ${pct(plan?.ab?.challengerWeight)}</p>`;
        const analyses = state?.analyses ?? logged;
        const decisions = state?.decisions ?? [];
        cards.push(
          `<div class="card deployment" data-deployment="${e(d.id)}"><h2>${e(d.id)}</h2>` +
          `<p>${e(d.model)} v${e(d.challenger_version)} vs champion ${d.champion_version === null ? '-' : `v${e(d.champion_version)}`} (${e(d.mode)}): <strong class="status">${e(d.status)}</strong>; started ${e(d.started_at)} by ${e(d.started_by)}${d.ended_at ? `, ended ${e(d.ended_at)}` : ''}${state?.challengerWeight !== undefined ? `; challenger traffic ${pct(state.challengerWeight)}` : ''}</p>` +
          timeline +
          (analyses.length > 0 ? `<h3>Analyses</h3>${table(['at', 'phase', 'traffic', 'verdict', 'reasons'], analyses.map((a) => [e(a.at), e(a.phase), pct(a.weight), `<span class="verdict">${e(a.verdict)}</span>`, e(a.reasons.join('; '))]))}` : `<p class="note">${final ? 'No analysis recorded.' : 'No analysis has run yet.'}</p>`) +
          (decisions.length > 0 ? `<h3>Decisions</h3>${table(['at', 'decision'], decisions.map((x) => [e(x.at), e(x.message)]))}` : final ? '' : '<p class="note">Decisions (approvals, pauses) of a running deployment are in its workflow: mlp deployments show.</p>') +
          '</div>',
        );
      }
      return send(reply, 200, page('Deployments', cards.length > 0 ? cards.join('') : '<p>No deployment has started yet.</p>'));
    });

    ui.get('/ui/alerts', async (request, reply) => {
      if (!(await caller(request, reply))) return reply;
      const alerts = await listAlerts(store, { status: 'open', limit: 200 });
      const body =
        alerts.length > 0
          ? table(['raised', 'severity', 'rule', 'subject', 'message'], alerts.map((a) => [e(a.createdAt), `<span class="${e(a.severity)}">${e(a.severity)}</span>`, e(a.rule), e(a.subject), `<span class="alert-message">${e(a.message)}</span>`]))
          : '<p>No open alert.</p>';
      return send(reply, 200, page('Open alerts', body));
    });

    ui.get('/ui/monitoring', async (request, reply) => {
      if (!(await caller(request, reply))) return reply;
      const rows = await store.db.selectFrom('monitoring_reports').selectAll().orderBy('created_at', 'desc').limit(500).execute();
      const shown = await monitoringReportsToShow(store, rows);
      const cards = shown.map((r) => {
        if ('missing' in r) return `<div class="card monitoring-missing" data-model="${e(r.model)}" data-version="${r.version}"><h2>${e(r.model)} v${r.version}</h2><p class="note">Served, but no monitoring report of this version yet.</p></div>`;
        const parsed = monitoringSchema.safeParse(parseJson(r.report));
        if (!parsed.success) return `<div class="card"><h2>${e(r.model)}</h2><p class="error">Report ${e(r.id)} could not be read.</p></div>`;
        const m = parsed.data;
        const drift = m.drift;
        return (
          `<div class="card monitoring" data-model="${e(m.model)}" data-version="${m.version}"><h2>${e(m.model)} v${m.version}${m.champion ? ' <span class="badge champion">champion</span>' : ''}</h2>` +
          `<p>Report of ${e(m.createdAt)}. Feature drift: <strong>${e(drift.status)}</strong> — ${e(drift.reason)}${drift.window ? ` (live window ${e(drift.window.from ?? '-')} .. ${e(drift.window.to ?? '-')}, ${drift.window.rows} rows)` : ''}.</p>` +
          (m.predictionDrift ? `<p>Prediction drift: <strong>${e(m.predictionDrift.status)}</strong> — ${e(m.predictionDrift.reason)}</p>` : '') +
          (m.performance ? performanceLine(m.performance) : '') +
          (m.freshness?.status ? `<p>Data freshness: <strong>${e(m.freshness.status)}</strong>${m.freshness.reason ? ` — ${e(m.freshness.reason)}` : ''}</p>` : '') +
          (m.universe ? `<p class="note universe">Symbols judged: ${e(m.universe.reason)}.</p>` : '') +
          (drift.features.length > 0
            ? table(['feature', 'PSI', 'p', 'q (BH)', 'reference mean', 'live mean', 'drifted'], drift.features.map((x) => [`<span class="feature">${e(x.name)}</span>`, f(x.psi), f(x.pValue), f(x.qValue), f(x.referenceMean), f(x.liveMean), x.drifted ? '<span class="drifted">drifted</span>' : 'no']))
            : '<p class="note">No per-feature detail in this report.</p>') +
          '</div>'
        );
      });
      return send(reply, 200, page('Monitoring: latest report per served version', cards.length > 0 ? cards.join('') : '<p>No monitoring report yet.</p>'));
    });
  });
}
