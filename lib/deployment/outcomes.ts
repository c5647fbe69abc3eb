/**
 * Logged predictions joined with what actually happened. The outcome of a prediction is its model
 * version's label spec applied to the symbol's stored bars from the bar dated `asOf`, over the next
 * `horizon` NYSE sessions (computeLabels: from the next session's open, the first price an order on
 * the prediction can fill at). It is known (matured) once the store holds a bar of the
 * symbol dated on or after the horizon's last session; a session of the horizon without a stored bar
 * (a quarantined day) leaves it matured without a label (missingBar), never labelled over a longer
 * window. Unmatured predictions are reported as such, never guessed, so a canary is not judged on
 * outcomes that do not exist yet.
 *
 * The label spec is the version's as registered: from the artifact header (sha256-checked) in the
 * deployment's artifact store, and the row's signature when MODEL_SIGNING_KEY is set. A version whose
 * row cannot be bound to what was registered is refused, and its predictions get no outcome.
 *
 * With MODEL_SIGNING_KEY the bars outcomes are measured on are checked as the features step checks
 * them (bar-signature.ts): closes edited after the predictions were served would otherwise flip a
 * canary's hit rate or an A/B test's winner. A bar no held key vouches for labels nothing: the read
 * is refused (UnverifiedBarsError, BARS_UNVERIFIED, naming symbols and dates), and the analyses say
 * so instead of deciding (canary-analysis.ts, ab-report.ts, monitoring's model-report.ts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { z } from 'zod';
import { ALGORITHM_VERSIONS } from '../../models/algorithms';
import { ArtifactError, decodeArtifact } from '../../models/artifact';
import { openArtifactStore, type ArtifactStore } from '../artifacts/artifact-store';
import { nthNyseTradingDayAfter } from '../calendar/nyse';
import { configuredSigning, loadConfig, type AppConfig } from '../config';
import { BadInputError, describeValidationError } from '../errors';
import { computeLabels, labelReach, labelSpecSchema, readsMove, sessionHorizons, type LabelPrices, type LabelSeries, type LabelSpec } from '../labels/labels';
import { seriesSplits, SPLIT_BARS_BEFORE } from '../quality/splits';
import { readArtifact } from '../registry/artifact-store';
import { getModelVersion, type ModelVersion } from '../registry/model-registry';
import { canonicalJson } from '../registry/recorded-fields';
import { rowSignatureProblem, verificationKeysOf, type RowSigning } from '../registry/row-signature';
import { barChecking, UnverifiedBarsError } from '../store/bar-signature';
import { readBarSeries } from '../store/bars';
import type { Database } from '../store/database';
import type { PredictionLogEntry } from '../serving/prediction-log';
import type { PredictionLogTable } from '../store/schema';
import { labelHorizon } from '../training/dataset';

/** A prediction_log row in camelCase: what the API's log writer stores. */
export type LoggedPrediction = PredictionLogEntry;

export interface PredictionWithOutcome extends LoggedPrediction {
  /** The label; null when not matured or when the label is undefined (dead zone, missing bar). */
  outcome: 0 | 1 | null;
  matured: boolean;
  /** Matured without a label because a session of its horizon has no bar (yet: a late bar may still fill it). */
  missingBar?: boolean;
}

export interface OutcomeJoin {
  rows: PredictionWithOutcome[];
  /** Rows whose horizon bar is not in the store yet. */
  unmatured: number;
  /** Matured rows without a label: too little history for the spec, a zero close, or a missing bar (below). */
  noLabel: number;
  /** The part of noLabel with a missing bar: none dated asOf, or none on a session of the horizon, although later bars are stored (a gap in the data). */
  missingBar: number;
}

const isoTime = z.string().regex(/^\d{4}-\d{2}-\d{2}/, 'expected an ISO date or timestamp such as 2024-05-01 or 2024-05-01T14:30:00Z');

export const predictionLogQuerySchema = z.object({
  model: z.string().min(1),
  /** Inclusive lower bound on created_at. */
  since: isoTime.optional(),
  /** Exclusive upper bound on created_at, so consecutive windows [since, until) never share a row. */
  until: isoTime.optional(),
});
export type PredictionLogQuery = z.input<typeof predictionLogQuerySchema>;

/** A prediction_log row as a LoggedPrediction. */
export function toLoggedPrediction(r: PredictionLogTable): LoggedPrediction {
  return {
    id: r.id,
    requestId: r.request_id,
    model: r.model,
    version: Number(r.version),
    variant: r.variant,
    served: Number(r.served) === 1,
    symbol: r.symbol,
    routingKey: r.routing_key,
    asOf: r.as_of,
    probability: r.probability === null ? null : Number(r.probability),
    predictedClass: r.predicted_class === null ? null : Number(r.predicted_class),
    latencyUs: Number(r.latency_us),
    error: r.error,
    createdAt: r.created_at,
  };
}

/** A model's logged predictions with created_at in [since, until), oldest first. */
export async function readPredictionLog(store: Database, query: PredictionLogQuery): Promise<LoggedPrediction[]> {
  const parsed = predictionLogQuerySchema.safeParse(query);
  if (!parsed.success) throw new BadInputError(`invalid prediction log query: ${describeValidationError(parsed.error)}`);
  const { model, since, until } = parsed.data;
  let q = store.db.selectFrom('prediction_log').selectAll().where('model', '=', model);
  if (since !== undefined) q = q.where('created_at', '>=', since);
  if (until !== undefined) q = q.where('created_at', '<', until);
  const rows = await q.orderBy('created_at').orderBy('request_id').orderBy('variant').execute();
  return rows.map(toLoggedPrediction);
}

/** The label spec a registered version was trained on (with defaults filled). */
export function labelSpecOf(version: ModelVersion): LabelSpec {
  const parsed = labelSpecSchema.safeParse(version.label);
  if (!parsed.success) throw new BadInputError(`model ${version.name} version ${version.version} has a label spec this code cannot read (${describeValidationError(parsed.error)}); re-register it with a current label spec`);
  return parsed.data;
}

/**
 * What a version's label is checked against before outcomes are computed with it: a label edited in
 * the registry row after registration would label the predictions of a model trained on another
 * target. At least one of the two is needed; with neither, every version is refused.
 */
export interface LabelVerification {
  /** MODEL_SIGNING_KEY: with a key, the row's signature (which covers the label) must hold. */
  signing?: RowSigning;
  /** Where the artifacts are: given, the label is the artifact header's (sha256-checked), and a row saying otherwise is refused. */
  artifacts?: ArtifactStore;
}

/**
 * The deployment's check, as the workers and the API build theirs from the environment: the signing
 * key (MODEL_SIGNING_KEY, may be unset) and the artifact store (ARTIFACT_DIR or ARTIFACT_URL, the
 * same instance openArtifactStore gives them).
 */
export function deploymentLabelVerification(config: Pick<AppConfig, 'modelSigningKey' | 'modelSigningPreviousKeys' | 'artifacts'> = loadConfig()): LabelVerification {
  return { signing: configuredSigning(config), artifacts: openArtifactStore(config.artifacts) };
}

const scopedVerification = new AsyncLocalStorage<LabelVerification>();

/**
 * Runs `fn` with `verify` as the check of every label spec read inside it without one of its own:
 * the deployment activities run their analyses (which reach labelSpecsOf through the log
 * aggregates) with their own artifact store and key, not the environment's.
 */
export function withLabelVerification<T>(verify: LabelVerification, fn: () => T): T {
  return scopedVerification.run(verify, fn);
}

/** The check labelling uses when given none: withLabelVerification's around the caller, else deploymentLabelVerification(). */
export function currentLabelVerification(): LabelVerification {
  return scopedVerification.getStore() ?? deploymentLabelVerification();
}

/**
 * The label spec of a registered version, from its row only once the row is bound to what was
 * registered: its signature with the key, and the artifact header (the label then comes from the
 * header) with the artifact store. Refused (BadInputError: a per-version verdict, not a store
 * failure, naming the cause) otherwise, and when `verify` has neither a key nor a store.
 */
export async function labelSpecOfVersion(store: Database, model: string, version: number, verify: LabelVerification = currentLabelVerification()): Promise<LabelSpec> {
  const row = await getModelVersion(store, model, version);
  const refuse = (problem: string): never => {
    throw new BadInputError(`${model} v${version}: its predictions are not labelled from this registry row: ${problem}`, 'ARTIFACT_INVALID');
  };
  const keys = verificationKeysOf(verify.signing);
  if (keys === undefined && !verify.artifacts) refuse('nothing to check the row against (no MODEL_SIGNING_KEY and no artifact store): a label edited in the row would go unnoticed; pass the artifact store');
  if (keys !== undefined) {
    const problem = rowSignatureProblem(keys, row);
    if (problem) refuse(problem);
  }
  if (verify.artifacts) {
    let header: { label: Record<string, unknown> };
    try {
      ({ header } = decodeArtifact(await readArtifact(verify.artifacts, row.artifactSha256), { algorithms: ALGORITHM_VERSIONS }));
    } catch (error) {
      // Missing, modified or undecodable: a verdict. Anything else (the object store is down) is thrown as is, to be retried.
      if (!(error instanceof ArtifactError)) throw error;
      return refuse(`its artifact cannot be read: ${error.message}`);
    }
    if (canonicalJson(header.label) !== canonicalJson(row.label)) refuse(`label differs: the artifact has ${canonicalJson(header.label)}, the registry says ${canonicalJson(row.label)}`);
    return labelSpecOf({ ...row, label: header.label });
  }
  return labelSpecOf(row);
}

/** Looks up the label specs of the given versions once (each checked as labelSpecOfVersion does) and returns the `labelFor` attachOutcomes wants. */
export async function labelSpecsOf(store: Database, model: string, versions: Iterable<number>, verify: LabelVerification = currentLabelVerification()): Promise<(version: number) => LabelSpec> {
  const specs = new Map<number, LabelSpec>();
  for (const v of new Set(versions)) specs.set(v, await labelSpecOfVersion(store, model, v, verify));
  return (version) => {
    const spec = specs.get(version);
    if (!spec) throw new BadInputError(`no label spec loaded for model ${model} version ${version}; pass every version of the rows to labelSpecsOf`);
    return spec;
  };
}

/**
 * Trading days apart within which symbol-days are dependent when labels' windows overlap: the longest
 * horizon of `specs` − 1 (the outcomes of consecutive days then share horizon − 1 sessions; 0 for
 * one-session labels). The A/B report and the canary analysis take their lags from it.
 */
export function overlapLags(specs: readonly LabelSpec[]): number {
  return specs.reduce((most, spec) => Math.max(most, labelHorizon(spec) - 1), 0);
}

/** The date `lookback` bars before `date` for the symbol, or undefined when the store holds fewer. */
async function dateBarsBefore(store: Database, symbol: string, date: string, lookback: number): Promise<string | undefined> {
  if (lookback === 0) return date;
  const row = await store.db.selectFrom('bars').select('date').where('symbol', '=', symbol).where('date', '<', date).orderBy('date', 'desc').limit(1).offset(lookback - 1).executeTakeFirst();
  return row?.date;
}

/** What a prediction's outcome depends on: its model version's label spec, its symbol and its feature date. */
export interface OutcomeKey {
  version: number;
  symbol: string;
  asOf: string;
}

export interface KeyOutcome {
  /** The label; null when not matured or when the label is undefined (missing bar, too little history). */
  outcome: 0 | 1 | null;
  matured: boolean;
  /**
   * Matured without a label because a bar is missing although later ones are stored: none dated
   * asOf, or none on one of the horizon's sessions (a quarantined day). Backfilling it would give
   * the label; until then there is none, rather than one measured over more sessions.
   */
  missingBar: boolean;
}

/**
 * The outcome of each key, in order. Reads per symbol only the bars from the earliest asOf (less
 * the lookback its label specs need) to the latest stored bar. Every prediction with the same key
 * has the same outcome, which is what lets the deployment analyses label (version, symbol, asOf)
 * groups instead of rows.
 */
export async function outcomesOfKeys(store: Database, keys: readonly OutcomeKey[], labelFor: (version: number) => LabelSpec, options: OutcomeReadOptions = {}): Promise<KeyOutcome[]> {
  const verify = options.verify ?? barChecking(store, scopedVerification.getStore()?.signing);
  const specOfVersion = new Map<number, LabelSpec>();
  for (const r of keys) if (!specOfVersion.has(r.version)) specOfVersion.set(r.version, labelFor(r.version));

  const bySymbol = new Map<string, { firstAsOf: string; lookback: number }>();
  for (const r of keys) {
    // Bars before t its label needs, and before those the ones that tell an unadjusted split there.
    const lookback = labelReach(specOfVersion.get(r.version) as LabelSpec).back + SPLIT_BARS_BEFORE;
    const s = bySymbol.get(r.symbol);
    if (!s) bySymbol.set(r.symbol, { firstAsOf: r.asOf, lookback });
    else {
      if (r.asOf < s.firstAsOf) s.firstAsOf = r.asOf;
      s.lookback = Math.max(s.lookback, lookback);
    }
  }

  interface SymbolBars {
    dates: string[];
    indexOf: Map<string, number>;
    prices: LabelPrices;
    labels: Map<LabelSpec, LabelSeries>;
    /** Bars an unadjusted split moved (seriesSplits): no outcome is measured across one. */
    moved: number[];
    /** sessionHorizons(dates).ends by horizon: -1 where a session of the horizon has no bar. */
    ends: Map<number, Int32Array>;
  }
  const barsOf = new Map<string, SymbolBars>();
  // Every symbol is read before a refusal is thrown: it names every refused bar, not one symbol's.
  const refusals: UnverifiedBarsError[] = [];
  for (const [symbol, need] of bySymbol) {
    const from = await dateBarsBefore(store, symbol, need.firstAsOf, need.lookback);
    const read = await readBarSeries(store, { symbols: [symbol], from }, { verify }).catch((error: unknown) => {
      if (!(error instanceof UnverifiedBarsError)) throw error;
      refusals.push(error);
      return [];
    });
    const [series] = read;
    const dates = series?.dates ?? [];
    const moved = series ? seriesSplits(series).map((x) => x.index) : [];
    barsOf.set(symbol, { dates, indexOf: new Map(dates.map((d, i) => [d, i])), prices: { open: series?.open ?? new Float64Array(0), close: series?.close ?? new Float64Array(0) }, labels: new Map(), ends: new Map(), moved });
  }

  if (refusals.length > 0) throw new UnverifiedBarsError(refusals[0].keys, refusals.flatMap((e) => e.refused).sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0)));

  const unmatured: KeyOutcome = { outcome: null, matured: false, missingBar: false };
  const splitOutcome: KeyOutcome = { outcome: null, matured: true, missingBar: false };
  const horizonEnds = new Map<string, string>();
  return keys.map((r) => {
    const spec = specOfVersion.get(r.version) as LabelSpec;
    const bars = barsOf.get(r.symbol) as SymbolBars;
    const t = bars.indexOf.get(r.asOf);
    const last = bars.dates.length > 0 ? bars.dates[bars.dates.length - 1] : undefined;
    if (t === undefined) {
      // No bar dated asOf: it may still arrive while no later bar is stored; after that it never will.
      if (last === undefined || last <= r.asOf) return unmatured;
      return { outcome: null, matured: true, missingBar: true };
    }
    // The horizon's last session, by the exchange's calendar (not `horizon` stored bars on).
    const endKey = `${r.asOf}/${spec.horizon}`;
    let horizonEnd = horizonEnds.get(endKey);
    if (horizonEnd === undefined) horizonEnds.set(endKey, (horizonEnd = nthNyseTradingDayAfter(r.asOf, spec.horizon)));
    if (last === undefined || last < horizonEnd) return unmatured;
    let labels = bars.labels.get(spec);
    if (!labels) {
      labels = computeLabels(spec, bars.prices, bars.dates);
      bars.labels.set(spec, labels);
    }
    const value = labels.value[t];
    if (Number.isNaN(value)) {
      // The horizon has passed in the stored bars: no label because a session of it has no bar (a gap), or none is defined (history, a zero close).
      let ends = bars.ends.get(spec.horizon);
      if (!ends) bars.ends.set(spec.horizon, (ends = sessionHorizons(bars.dates, bars.dates.length, spec.horizon).ends));
      return { outcome: null, matured: true, missingBar: ends[t] < 0 };
    }
    // An unadjusted split's move is no holder's return: the label it makes is no outcome.
    if (bars.moved.length > 0 && readsMove(bars.moved, t, labels.end[t], labelReach(spec))) return splitOutcome;
    return { outcome: value === 1 ? 1 : 0, matured: true, missingBar: false };
  });
}

/**
 * How outcomes check the bars they are measured on: `verify`, the keys (default: the label check's
 * key in scope, withLabelVerification, else the store handle's: barChecking). Without a key nothing
 * is checked.
 */
export interface OutcomeReadOptions {
  verify?: RowSigning;
}

/**
 * Attaches the outcome of every row (see outcomesOfKeys). `labelFor` gives the label spec of a
 * model version (see labelSpecsOf).
 */
export async function attachOutcomes(store: Database, rows: readonly LoggedPrediction[], labelFor: (version: number) => LabelSpec, options: OutcomeReadOptions = {}): Promise<OutcomeJoin> {
  const outcomes = await outcomesOfKeys(store, rows, labelFor, options);
  let unmatured = 0;
  let noLabel = 0;
  let missingBar = 0;
  const out: PredictionWithOutcome[] = rows.map((r, i) => {
    const o = outcomes[i];
    if (!o.matured) unmatured++;
    else if (o.outcome === null) noLabel++;
    if (o.missingBar) missingBar++;
    return { ...r, outcome: o.outcome, matured: o.matured, ...(o.missingBar ? { missingBar: true } : {}) };
  });
  return { rows: out, unmatured, noLabel, missingBar };
}

/**
 * A model's logged predictions since `since`, each with its outcome where it has matured. The label
 * specs are checked by `verify` (default: the deployment's key and artifact store); a refused version
 * is an error that names it and why.
 */
export async function readPredictionsWithOutcomes(store: Database, model: string, since: string, verify: LabelVerification = currentLabelVerification()): Promise<PredictionWithOutcome[]> {
  const rows = await readPredictionLog(store, { model, since });
  const labelFor = await labelSpecsOf(store, model, new Set(rows.map((r) => r.version)), verify);
  return (await attachOutcomes(store, rows, labelFor)).rows;
}
