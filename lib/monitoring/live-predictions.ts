/**
 * A served version's live predictions from prediction_log, one per symbol and feature day (the API
 * predicts the same vector for every request; repeats carry no new information), with their
 * matured outcomes (the version's label spec on the stored bars, lib/deployment/outcomes.ts) and
 * forward returns over the label horizon (`horizon` NYSE sessions, as the label: none when a session
 * of it has no stored bar).
 *
 * With MODEL_SIGNING_KEY the bars outcomes and returns are measured on are checked (bar-signature.ts,
 * the key given, else the store handle's): closes edited after serving would silence or trigger the
 * live accuracy, book and return alarms. A refused bar leaves no sample, return or book at all
 * (`unverifiedBars` says which), never a verdict on the rest as if it did not exist. The log rows
 * themselves are checked too (prediction-log-signature.ts), every row of the version's window before
 * the unscored and failed are set aside: a refused row is left out, and
 * `unverifiedLog` says which (live performance is then not judged: model-report.ts).
 */
import { groupBy } from '../group-by';
import type { BarSeries } from '../market-data/bar';
import { attachOutcomes, labelSpecOf, type LoggedPrediction } from '../deployment/outcomes';
import { sessionHorizons, tradableReturn } from '../labels/labels';
import type { ModelVersion } from '../registry/model-registry';
import { verificationKeysOf, type RowSigning } from '../registry/row-signature';
import { CHECKED_LOG_COLUMNS, LogRowVerifier, type RefusedLogRowsSummary } from '../serving/prediction-log-signature';
import { barChecking, refusedBarsSummary, UnverifiedBarsError, type RefusedBarsSummary } from '../store/bar-signature';
import { readBarSeries } from '../store/bars';
import type { Database } from '../store/database';
import type { OutcomeSample } from './live-performance';

export interface LivePredictions {
  /** Matured, labelled predictions. */
  samples: OutcomeSample[];
  /** Scores of served predictions (one per symbol and day), for prediction drift; `day` indexes `dates`. */
  scores: { values: Float64Array; day: Int32Array; dates: string[] };
  /** Distinct (symbol, day) predictions in the window, and how many have not matured / have no label. */
  predictions: number;
  unmatured: number;
  noLabel: number;
  /** Predictions dated on or before the version's last training day (`after`): rows it may have learnt, left out of everything above. */
  inTraining: number;
  /** The stored bars of the predicted symbols from the first prediction day: the live book trades on them. */
  bars: BarSeries[];
  /** With a key: bars of the predicted symbols no held key vouches for. Then samples and bars are empty: nothing is judged on outcomes. */
  unverifiedBars?: RefusedBarsSummary;
  /** With a key: log rows of the version no held key vouches for, left out of everything above. */
  unverifiedLog?: RefusedLogRowsSummary;
}

interface GroupedPrediction {
  symbol: string;
  asOf: string;
  probability: number;
  served: boolean;
}

/** Rows per read of the checked path: what it holds at once besides the groups (log-aggregates.ts checks 5,000 a read too). */
export const LIVE_ROWS_PER_READ = 5000;

/** The version's predictions logged in [since, until), scored or not: the rows a checked read checks. */
function logWindow(store: Database, model: string, version: number, since: string, until?: string) {
  const q = store.db.selectFrom('prediction_log').where('model', '=', model).where('version', '=', version).where('created_at', '>=', since);
  return until === undefined ? q : q.where('created_at', '<', until);
}

/** The rows live performance counts: scored, without an error. */
const scored = (r: { probability: number | null; error: string | null }): boolean => r.probability !== null && r.error === null;

/**
 * With a key, every row of the window is read and checked one by one, and the refused left out,
 * then the unscored (grouped here as the SQL does: mean probability, served if any was). Read in pages by (created_at, id), keyset on
 * the (model, created_at) index, and grouped as they come: a lookback at a million predictions a day
 * is 60 million rows, and only its (symbol, as_of) groups are kept.
 */
async function checkedGroupedPredictions(store: Database, verifier: LogRowVerifier, model: string, version: number, since: string, until?: string): Promise<GroupedPrediction[]> {
  const groups = new Map<string, { symbol: string; asOf: string; sum: number; n: number; served: boolean }>();
  let after: { createdAt: string; id: string } | undefined;
  for (;;) {
    let q = logWindow(store, model, version, since, until).select([...CHECKED_LOG_COLUMNS]);
    const from = after;
    if (from !== undefined) q = q.where((eb) => eb.or([eb('created_at', '>', from.createdAt), eb.and([eb('created_at', '=', from.createdAt), eb('id', '>', from.id)])]));
    const rows = await q.orderBy('created_at').orderBy('id').limit(LIVE_ROWS_PER_READ).execute();
    for (const r of rows) {
      // Every row is checked before the unscored are set aside: nulling a probability or setting an
      // error by SQL would otherwise take a row out of the verdict unseen.
      if (!verifier.check({ ...r, signature: r.signature ?? null, signature_key_id: r.signature_key_id ?? null, logged_at: r.logged_at ?? null }) || !scored(r)) continue;
      const k = `${r.as_of}\u0000${r.symbol}`;
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { symbol: r.symbol, asOf: r.as_of, sum: 0, n: 0, served: false }));
      g.sum += Number(r.probability);
      g.n++;
      g.served ||= Number(r.served) === 1;
    }
    if (rows.length < LIVE_ROWS_PER_READ) break;
    const last = rows[rows.length - 1];
    after = { createdAt: last.created_at, id: last.id };
  }
  return [...groups.values()].sort((a, b) => (a.asOf < b.asOf ? -1 : a.asOf > b.asOf ? 1 : a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0)).map((g) => ({ symbol: g.symbol, asOf: g.asOf, probability: g.sum / g.n, served: g.served }));
}

async function groupedPredictions(store: Database, model: string, version: number, since: string, until?: string): Promise<GroupedPrediction[]> {
  const q = logWindow(store, model, version, since, until).where('probability', 'is not', null).where('error', 'is', null).select(['symbol', 'as_of', (eb) => eb.fn.avg<number>('probability').as('probability'), (eb) => eb.fn.max('served').as('served')]);
  const rows = await q.groupBy(['symbol', 'as_of']).orderBy('as_of').orderBy('symbol').execute();
  return rows.map((r) => ({ symbol: r.symbol, asOf: r.as_of, probability: Number(r.probability), served: Number(r.served) === 1 }));
}

/**
 * The tradable return (tradableReturn: next open to the last close) over the `horizon` NYSE sessions
 * after each (symbol, asOf), where the bars of asOf and of every one of those sessions are stored (not `horizon` stored bars on: a missing day
 * would stretch the return over another session).
 */
async function forwardReturns(store: Database, rows: readonly GroupedPrediction[], horizon: number, verify: RowSigning | undefined): Promise<{ returns: Map<string, number>; series: BarSeries[] }> {
  const out = new Map<string, number>();
  if (rows.length === 0) return { returns: out, series: [] };
  const from = rows.reduce((m, r) => (r.asOf < m ? r.asOf : m), rows[0].asOf);
  const series = await readBarSeries(store, { symbols: [...new Set(rows.map((r) => r.symbol))], from }, { verify });
  const bySymbol = groupBy(rows, (r) => r.symbol);
  for (const s of series) {
    const indexOf = new Map(s.dates.map((d, i) => [d, i]));
    const { ends } = sessionHorizons(s.dates, s.close.length, horizon);
    for (const r of bySymbol.get(s.symbol) ?? []) {
      const t = indexOf.get(r.asOf);
      if (t === undefined || ends[t] < 0) continue;
      const ret = tradableReturn(s, t, ends[t]);
      if (Number.isFinite(ret)) out.set(`${r.symbol} ${r.asOf}`, ret);
    }
  }
  return { returns: out, series };
}

/**
 * The version's predictions logged in [since, until); with `after` (its lineage's trainedThrough),
 * only those dated after it: a prediction on a day the version was trained on scores it on a row it
 * may have learnt (an old vector served while a feed was stopped, a replay), as the canary analysis
 * already leaves out; counted as `inTraining`.
 */
export async function readLivePredictions(store: Database, version: ModelVersion, window: { since: string; until?: string; after?: string }, signing?: RowSigning): Promise<LivePredictions> {
  const verify = barChecking(store, signing);
  const keys = verificationKeysOf(verify);
  const verifier = keys === undefined ? undefined : new LogRowVerifier(keys);
  const all = verifier ? await checkedGroupedPredictions(store, verifier, version.name, version.version, window.since, window.until) : await groupedPredictions(store, version.name, version.version, window.since, window.until);
  const unverifiedLog = await verifier?.summary(store.db, version.name);
  const after = window.after;
  const grouped = after === undefined ? all : all.filter((g) => g.asOf > after);
  const spec = labelSpecOf(version);
  const logged: LoggedPrediction[] = grouped.map((g) => ({
    id: '',
    requestId: '',
    model: version.name,
    version: version.version,
    variant: '',
    served: g.served,
    symbol: g.symbol,
    routingKey: '',
    asOf: g.asOf,
    probability: g.probability,
    predictedClass: g.probability > 0.5 ? 1 : 0,
    latencyUs: 0,
    error: null,
    createdAt: '',
  }));
  let unverifiedBars: RefusedBarsSummary | undefined;
  const refused = (error: unknown): undefined => {
    if (!(error instanceof UnverifiedBarsError)) throw error;
    unverifiedBars ??= refusedBarsSummary(error);
    return undefined;
  };
  // The outcomes read every bar the returns and the book read (from the lookback before the first prediction): a refusal there stops both.
  const joined = (await attachOutcomes(store, logged, () => spec, { verify }).catch(refused)) ?? { rows: [], unmatured: 0, noLabel: 0, missingBar: 0 };
  const { returns, series } = unverifiedBars ? { returns: new Map<string, number>(), series: [] } : ((await forwardReturns(store, grouped, spec.horizon, verify).catch(refused)) ?? { returns: new Map<string, number>(), series: [] });
  const samples: OutcomeSample[] = [];
  for (const r of joined.rows) {
    if (!r.matured || r.outcome === null) continue;
    samples.push({ symbol: r.symbol, asOf: r.asOf, probability: r.probability as number, predictedClass: r.predictedClass === 1 ? 1 : 0, outcome: r.outcome, forwardReturn: returns.get(`${r.symbol} ${r.asOf}`) ?? null });
  }
  const served = grouped.filter((g) => g.served);
  const dates = [...new Set(served.map((g) => g.asOf))].sort();
  const dayOf = new Map(dates.map((d, i) => [d, i]));
  return {
    samples,
    scores: { values: Float64Array.from(served, (g) => g.probability), day: Int32Array.from(served, (g) => dayOf.get(g.asOf) as number), dates },
    predictions: grouped.length,
    unmatured: joined.unmatured,
    noLabel: joined.noLabel,
    inTraining: all.length - grouped.length,
    bars: unverifiedBars ? [] : series,
    ...(unverifiedBars ? { unverifiedBars } : {}),
    ...(unverifiedLog ? { unverifiedLog } : {}),
  };
}
