/**
 * One monitoring report: a served model version's feature drift, prediction drift, live
 * performance and data freshness at one moment, stored in monitoring_reports (one row per
 * monitoring run and version) as the evidence behind alerts and dashboards. The version's label
 * (which outcomes its predictions are judged on) and backtest metrics come from its registry row
 * only once that row is verified as serving verifies it: the signature with MODEL_SIGNING_KEY, the
 * artifact header's label (and every field the header records) given the artifact store.
 */
import { ALGORITHM_VERSIONS } from '../../models/algorithms';
import { ArtifactError, decodeArtifact } from '../../models/artifact';
import type { ArtifactStore } from '../artifacts/artifact-store';
import { configuredSigning } from '../config';
import { labelSpecOf } from '../deployment/outcomes';
import { BadInputError } from '../errors';
import { readArtifact } from '../registry/artifact-store';
import { getModelVersion, trainedThroughOf, type ModelVersion } from '../registry/model-registry';
import { recordedFieldMismatch } from '../registry/recorded-fields';
import { profileRecordProblem, rowSignatureProblem, verificationKeysOf, type RowSigning, type VerificationKeys } from '../registry/row-signature';
import { barChecking, refusedBarsSummary } from '../store/bar-signature';
import { newestVerifiedBarDates } from '../store/bars';
import type { Database } from '../store/database';
import { UnverifiedFeatureRowsError } from '../features/vector-signature';
import { detectFeatureDrift, detectPredictionDrift, staleFeatureDrift, type FeatureDriftReport, type PredictionDriftReport } from './drift';
import { featureRowsLag, freshnessOf, type FreshnessReport } from './freshness';
import { liveBookOf, recordedBacktestOptionsOf } from './live-book';
import { backtestPromiseOf, livePerformanceOf, type LivePerformance } from './live-performance';
import { readLivePredictions } from './live-predictions';
import { readLiveFeatureWindow } from './live-window';
import { profileStoredSigned, readReferenceProfileRecord, type StoredReferenceProfile } from './profile-store';
import type { ReferenceProfile } from './reference-profile';
import type { MonitoringRules } from './monitoring-rules';

export interface MonitoringTarget {
  model: string;
  version: number;
  /** Serving variants routed to this version (champion, canary, A, B …). */
  variants: string[];
  /** True for the version the champion alias points at. */
  champion: boolean;
}

export interface ModelMonitoringReport {
  id: string;
  model: string;
  version: number;
  variants: string[];
  champion: boolean;
  createdAt: string;
  windowDays: number;
  /** `problem`: a stored profile that cannot be this version's training reference (moved, replaced or edited), not used. */
  /**
   * `missing`: no profile is stored for a version a training run registered (one was expected), and
   * why as far as its registry row tells (missingProfileReason); absent for a version registered
   * outside a training run, which never has one.
   */
  reference: { available: boolean; reason: string; period?: { from: string; to: string; days: number; rows: number }; scoreSource?: string; problem?: string; missing?: string };
  drift: FeatureDriftReport;
  predictionDrift: PredictionDriftReport;
  performance: LivePerformance & { since: string; predictions: number; unmatured: number; noLabel: number; inTraining?: number };
  freshness: FreshnessReport;
  /** The symbols drift and freshness were judged over, and where that list came from; absent in reports stored before it was recorded. */
  universe?: ReportUniverse;
  /** How the registry row the label and backtest metrics came from was verified (both false: neither a key nor the artifact store was given); absent in reports stored before it was recorded. */
  rowVerification?: RowVerificationDone;
}

/**
 * The model's symbols: the reference profile's list (its training universe), else the universe its
 * registry lineage records (a profile keeps no list above 1,000 symbols, or when it had to be thinned
 * to fit its column), else none: then drift and freshness read every symbol in the store, and say so.
 */
export interface ReportUniverse {
  source: 'profile' | 'lineage' | 'store';
  /** How many symbols; null when judged over the whole store. */
  symbols: number | null;
  reason: string;
}

const stringList = (x: unknown): string[] | undefined => (Array.isArray(x) && x.length > 0 && x.every((s) => typeof s === 'string') ? (x as string[]) : undefined);

/**
 * Why the stored profile cannot be the training reference of `version`, or undefined. Without the
 * signing key the profile is no signed record: one row
 * edited, or another model's profile put in its place, turned off drift and freshness alerts of a
 * signed, verified champion (a dead symbol left out of its symbols, its period
 * moved to 2099, the live rows' own profile filed under it). It must name the version and its feature
 * set, describe days before the version was registered, and list the symbols the registry lineage
 * (signed with the row) says it trained on.
 */
export function referenceProfileProblem(profile: ReferenceProfile, version: Pick<ModelVersion, 'name' | 'version' | 'featureSetVersion' | 'createdAt' | 'lineage'>): string | undefined {
  const its = `the reference profile stored for ${version.name} v${version.version}`;
  if (profile.model !== version.name || profile.version !== version.version) return `${its} describes ${profile.model} v${profile.version}`;
  if (profile.featureSetVersion !== version.featureSetVersion) return `${its} describes feature set ${profile.featureSetVersion}, not the version's ${version.featureSetVersion}`;
  const registered = version.createdAt.slice(0, 10);
  if (profile.period.to > registered) return `${its} describes training days through ${profile.period.to}, after the version was registered (${registered})`;
  const trained = stringList((version.lineage.universe as { trained?: unknown } | undefined)?.trained);
  if (trained && profile.symbols.length > 0) {
    const listed = new Set(profile.symbols);
    const missing = trained.filter((s) => !listed.has(s));
    const extra = profile.symbols.length - (trained.length - missing.length);
    if (missing.length > 0 || extra > 0) return `${its} lists ${profile.symbols.length} symbols, not the ${trained.length} the registry lineage says it trained on${missing.length > 0 ? ` (without ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''})` : ''}`;
  }
  return undefined;
}

/**
 * The stored profile as the report may use it, or why it may not (then no profile). With the signing
 * key (the version's row verified under it), the profile must carry its own valid signature: the
 * checks of referenceProfileProblem see only what it says it describes, not its distributions. And
 * a version whose signed row says its run stored the profile signed must have one, signed.
 */
export async function profileForReport(store: Database, version: ModelVersion, keys: VerificationKeys | undefined): Promise<{ profile?: ReferenceProfile; problem?: string }> {
  let stored: StoredReferenceProfile | undefined;
  try {
    stored = await readReferenceProfileRecord(store, version.name, version.version);
  } catch (error) {
    if (!(error instanceof BadInputError)) throw error; // the store cannot be read: retried
    return { problem: error.message };
  }
  // A version whose signed row says its run stored its profile signed (profileStoredSigned) has no
  // older, unsigned profile: one missing was deleted, one without a signature edited.
  const expected = keys !== undefined && profileStoredSigned(version);
  const its = `the reference profile of ${version.name} v${version.version}`;
  if (!stored) return expected ? { problem: `${its} is missing, though its signed registry row says its training run stored one, signed: it was deleted` } : {};
  if (expected && !stored.signature) return { problem: `${its} has had its signature removed, though its signed registry row says its training run stored it signed: it was edited (or replaced) since` };
  const problem = (keys !== undefined ? profileRecordProblem(keys, version, stored.text, stored.signature) : undefined) ?? referenceProfileProblem(stored.profile, version);
  return problem ? { problem } : { profile: stored.profile };
}

/**
 * Why no reference profile is stored for a version, as far as its registry row tells. A version a
 * training run registered (its lineage names the training dataset) had one built at registration
 * unless that could never succeed (its dataset or predictions gone or damaged, a profile too large
 * for its column: the run's worker log names which), it predates drift monitoring, or the row was
 * deleted; it was said to be "registered outside a training run", which sent people looking for a
 * registration that never happened.
 */
export function missingProfileReason(version: Pick<ModelVersion, 'name' | 'version' | 'workflowId' | 'lineage'>): string {
  const none = `no reference profile is stored for ${version.name} v${version.version}`;
  const datasetId = version.lineage.datasetId;
  if (!registeredByTrainingRun(version)) return `${none}: it was registered outside a training run (its lineage names no training dataset), so none was built`;
  return `${none}, which training run ${version.workflowId ?? '(not recorded)'} registered from dataset ${datasetId}: its registration could not build or store one (the worker's log of that run says why: the dataset or predictions gone from the artifact store or damaged, or a profile too large for its column), the version was registered before drift monitoring existed, or its row in model_reference_profiles was deleted`;
}

/** Whether a training run registered the version (its lineage names the training dataset): its registration stores a reference profile. */
export function registeredByTrainingRun(version: Pick<ModelVersion, 'lineage'>): boolean {
  return typeof version.lineage.datasetId === 'string';
}

/** The symbols of `version` that monitoring judges, and where they come from (undefined symbols: the whole store). */
export function universeOfVersion(profile: ReferenceProfile | undefined, version: Pick<ModelVersion, 'lineage'>): { symbols: string[] | undefined; universe: ReportUniverse } {
  if (profile && profile.symbols.length > 0) return { symbols: profile.symbols, universe: { source: 'profile', symbols: profile.symbols.length, reason: `the ${profile.symbols.length} symbols of the reference profile (the training universe)` } };
  const lineage = version.lineage.universe as { trained?: unknown; requested?: unknown } | undefined;
  // As lib/registry/challenges.ts reads a version's outcomes: the symbols trained on, else those requested.
  const trained = stringList(lineage?.trained);
  const symbols = trained ?? stringList(lineage?.requested);
  const why = profile ? 'the reference profile lists no symbols (left out above 1,000 symbols or to fit its column)' : 'no reference profile';
  if (symbols) return { symbols, universe: { source: 'lineage', symbols: symbols.length, reason: `the ${symbols.length} symbols ${trained ? 'trained on' : 'requested'} in the registry lineage (${why})` } };
  return { symbols: undefined, universe: { source: 'store', symbols: null, reason: `every symbol in the store, not the model's universe: ${why} and the registry lineage records no universe` } };
}

/**
 * The newest bar of each symbol freshness judges for a version: `symbols` (its universe, undefined
 * for the whole store), less those whose bars ended before its training period did (delisted then).
 * With a key, a symbol's newest bar is its newest verified one: a forged bar dated today would
 * silence data_stale. Also what ends a stale-bars hold (lib/monitoring/data-alerts.ts).
 */
export async function judgedNewestBars(
  store: Database,
  version: ModelVersion,
  profile: ReferenceProfile | undefined,
  symbols: readonly string[] | undefined,
  asked: { since: string; until: string },
  signing: RowSigning | undefined,
): Promise<{ lastBars: Map<string, string | undefined>; refusal?: Awaited<ReturnType<typeof newestVerifiedBarDates>>['refusal'] }> {
  const { newest, refusal } = await newestVerifiedBarDates(store, symbols, signing);
  const trainedTo = profile?.period.to ?? trainedThroughOf(version);
  const lastBars = new Map<string, string | undefined>();
  const endedEarlier = new Map<string, string>();
  for (const symbol of symbols ?? newest.keys()) {
    const last = newest.get(symbol);
    if (trainedTo !== undefined && last !== undefined && last < trainedTo) endedEarlier.set(symbol, last);
    else lastBars.set(symbol, last);
  }
  // Bars that ended before the training period did are a delisting, or a feed that died just
  // before a retrain's cut-off: the bars cannot tell. A symbol the model was still asked about in
  // the lookback is live for whoever asks, so it is judged (served stale, it raised nothing before).
  for (const symbol of await symbolsAskedAbout(store, version.name, [...endedEarlier.keys()], asked.since, asked.until)) lastBars.set(symbol, endedEarlier.get(symbol));
  return { lastBars, ...(refusal ? { refusal } : {}) };
}

/** Which of `symbols` the model's prediction log holds a request for between `since` and `until` (any version, served or not). */
async function symbolsAskedAbout(store: Database, model: string, symbols: readonly string[], since: string, until: string): Promise<string[]> {
  if (symbols.length === 0) return [];
  const rows = await store.db.selectFrom('prediction_log').select('symbol').distinct().where('model', '=', model).where('symbol', 'in', [...symbols]).where('created_at', '>=', since).where('created_at', '<=', until).execute();
  return rows.map((r) => r.symbol);
}

/** What the version's registry row is checked against before the report uses its label and metrics. */
export interface ReportRowVerification {
  /** MODEL_SIGNING_KEY: with a key, the row's signature (covering label and metrics) must hold. */
  signing?: RowSigning;
  /** Where the artifacts are: given, the label is the artifact header's (sha256-checked) and a row disagreeing with the header is refused. */
  artifacts?: ArtifactStore;
}

export interface RowVerificationDone {
  /** The row's signature was checked (and held). */
  signature: boolean;
  /** The row was checked against its artifact's header, and the label taken from the header. */
  artifactHeader: boolean;
}

export interface ModelReportRequest {
  id: string;
  target: MonitoringTarget;
  /** Latest trading days of live feature rows and served scores that drift is judged on. */
  windowDays: number;
  rules: MonitoringRules;
  now: Date;
  /** Default: the signing key from the environment (MODEL_SIGNING_KEY), as the activities take it; no artifact store. */
  verify?: ReportRowVerification;
}

const DAY_MS = 86_400_000;

/**
 * The version's registry row as the report may use it: refused (BadInputError, ARTIFACT_INVALID:
 * a per-version verdict) when its signature fails with the key, or when it disagrees with its
 * artifact's header (algorithm, feature set, label, parameters) given the artifact store, the same
 * checks the prediction API applies to a loaded row; with the artifact store the label is the
 * header's. A store that cannot be read is thrown as is (retried).
 */
export async function verifiedVersionForReport(store: Database, model: string, version: number, verify: ReportRowVerification): Promise<{ version: ModelVersion; rowVerification: RowVerificationDone }> {
  const row = await getModelVersion(store, model, version);
  const refuse = (problem: string): never => {
    throw new BadInputError(`${model} v${version} is not monitored from this registry row (its label and backtest metrics would judge the live predictions): ${problem}`, 'ARTIFACT_INVALID');
  };
  const keys = verificationKeysOf(verify.signing);
  if (keys !== undefined) {
    const problem = rowSignatureProblem(keys, row);
    if (problem) refuse(problem);
  }
  if (!verify.artifacts) return { version: row, rowVerification: { signature: keys !== undefined, artifactHeader: false } };
  let header: ReturnType<typeof decodeArtifact>['header'];
  try {
    ({ header } = decodeArtifact(await readArtifact(verify.artifacts, row.artifactSha256), { algorithms: ALGORITHM_VERSIONS }));
  } catch (error) {
    // Missing, modified or undecodable: a verdict. Anything else (the object store is down) is thrown, to be retried.
    if (!(error instanceof ArtifactError)) throw error;
    return refuse(`its artifact cannot be read: ${error.message}`);
  }
  const mismatch = recordedFieldMismatch(row, header, 'registry');
  if (mismatch) refuse(mismatch);
  return { version: { ...row, label: header.label }, rowVerification: { signature: keys !== undefined, artifactHeader: true } };
}

export async function computeModelReport(store: Database, request: ModelReportRequest): Promise<ModelMonitoringReport> {
  const { target, rules, now, windowDays } = request;
  const verify = request.verify ?? { signing: configuredSigning() };
  const { version, rowVerification } = await verifiedVersionForReport(store, target.model, target.version, verify);
  const { profile, problem: profileProblem } = await profileForReport(store, version, verificationKeysOf(verify.signing));
  // Drift and freshness are judged on the model's own symbols: the profile describes only those.
  const { symbols, universe } = universeOfVersion(profile, version);
  const wholeStore = universe.source === 'store' ? ` (judged over ${universe.reason})` : '';
  const driftOptions = rules.data_drift;
  const predictionOptions = rules.prediction_drift;
  const perf = rules.performance_degraded;

  let drift: FeatureDriftReport;
  const noWindow = { from: null, to: null, days: 0, rows: 0 };
  if (!profile) {
    const why = profileProblem ? `${profileProblem}: it is not used` : missingProfileReason(version);
    drift = { status: 'unavailable', reason: why, window: noWindow, q: driftOptions.q, minPsi: driftOptions.minPsi, drifted: [], maxPsi: null, features: [], missingColumns: [] };
  } else {
    try {
      // Rows checked with the report's key (else the store handle's): no verdict from rows edited in the database.
      const rowKeys = verify.signing?.signingKey !== undefined ? verify.signing : store.signing;
      const live = await readLiveFeatureWindow(store, version.featureSetVersion, { days: windowDays, after: profile.period.to, ...(symbols ? { symbols } : {}) }, rowKeys);
      drift = detectFeatureDrift(profile, live, driftOptions);
      drift = { ...drift, reason: drift.reason + wholeStore };
    } catch (error) {
      // A feature set missing from this store is a fact to report, not a reason to stop monitoring the rest.
      if (!(error instanceof BadInputError)) throw error;
      drift = { status: 'unavailable', reason: error.message, window: noWindow, q: driftOptions.q, minPsi: driftOptions.minPsi, drifted: [], maxPsi: null, features: [], missingColumns: [] };
      // Forged or unsigned rows are not a missing feature set: the features_unverified rule says so.
      if (error instanceof UnverifiedFeatureRowsError) {
        drift.unverifiedRows = { featureSet: error.version, rows: error.rows, symbols: [...new Set(error.refused.map((g) => g.symbol))].slice(0, 20), problems: [...new Set(error.refused.map((g) => g.problem))].sort() };
      }
    }
  }

  const since = new Date(now.getTime() - perf.lookbackDays * DAY_MS).toISOString();
  const trainedThrough = trainedThroughOf(version);
  const predictions = await readLivePredictions(store, version, { since, until: now.toISOString(), ...(trainedThrough ? { after: trainedThrough } : {}) }, verify.signing);
  // Scores of the latest windowDays feature days only, like the features.
  const firstDay = Math.max(0, predictions.scores.dates.length - windowDays);
  const recent = Array.from(predictions.scores.day.keys()).filter((i) => predictions.scores.day[i] >= firstDay);
  const predictionDrift: PredictionDriftReport = profile
    ? detectPredictionDrift(profile, { values: recent.map((i) => predictions.scores.values[i]), day: recent.map((i) => predictions.scores.day[i]) }, predictionOptions)
    : { status: 'unavailable', reason: 'no reference profile', rows: recent.length, days: predictions.scores.dates.length - firstDay, psi: null, pValue: null, referenceMean: null, liveMean: null };

  // The promised drawdown is of the backtest's strategy under the experiment's options: the live side is that strategy re-traded.
  const book = liveBookOf(predictions.samples, predictions.bars, recordedBacktestOptionsOf(version.lineage));
  const judged = livePerformanceOf(predictions.samples, backtestPromiseOf(version.metrics), { ...perf, horizon: labelSpecOf(version).horizon }, book);
  const withTraining = predictions.inTraining > 0 ? { ...judged, reasons: [...judged.reasons, `${predictions.inTraining} predictions dated on or before ${trainedThrough}, the last day the version trained on, are left out: it may have learnt their outcomes`] } : judged;
  // Bars no held key vouches for: no hit rate, book or return is judged (the bars_unverified rule says so).
  const refusedBars = predictions.unverifiedBars;
  const barsChecked: LivePerformance = refusedBars ? { ...withTraining, status: 'unavailable', severity: null, reasons: [`not judged: no outcome, return or book is measured on bars MODEL_SIGNING_KEY does not vouch for: ${refusedBars.reason}`], unverifiedBars: refusedBars } : withTraining;
  // Log rows no held key vouches for were left out: a verdict on the rest could go either way (the predictions_unverified rule says so).
  const refusedLog = predictions.unverifiedLog;
  const performance: LivePerformance = refusedLog ? { ...barsChecked, status: 'unavailable', severity: null, reasons: [`not judged: the window holds prediction log rows MODEL_SIGNING_KEY does not vouch for, left out: ${refusedLog.reason}`, ...(refusedBars ? barsChecked.reasons : [])], unverifiedLog: refusedLog } : barsChecked;

  const { lastBars, refusal: newestRefused } = await judgedNewestBars(store, version, profile, symbols, { since, until: now.toISOString() }, barChecking(store, verify.signing));
  const fresh = freshnessOf(lastBars, now, rules.data_stale);
  const refusedNewest = newestRefused ? refusedBarsSummary(newestRefused) : undefined;
  const freshness: FreshnessReport = { ...fresh, reason: fresh.reason + wholeStore + (refusedNewest ? `; newer bars MODEL_SIGNING_KEY does not vouch for are not counted: ${refusedNewest.reason}` : ''), ...(refusedNewest ? { unverifiedBars: refusedNewest } : {}) };
  // Drift judged on feature rows the bars left behind: the rows should reach the newest bar (bars
  // that stopped too are data_stale's, and the rows are then as new as they can be).
  if (profile && rules.features_stale.enabled && fresh.newestBar !== null && (drift.status === 'stable' || drift.status === 'drift' || drift.status === 'insufficient-data')) {
    const lag = featureRowsLag(version.featureSetVersion, drift.window.to ?? profile.period.to, fresh.newestBar, fresh.expectedSession, rules.features_stale.maxLagSessions);
    drift = lag.sessionsBehind > lag.maxLagSessions ? staleFeatureDrift(drift, lag) : { ...drift, featureLag: lag };
  }

  return {
    id: request.id,
    model: target.model,
    version: target.version,
    variants: target.variants,
    champion: target.champion,
    createdAt: now.toISOString(),
    windowDays,
    reference: profile
      ? { available: true, reason: `profile of ${profile.period.rows} training rows over ${profile.period.days} days`, period: profile.period, scoreSource: profile.scoreSource }
      : profileProblem
        ? { available: false, reason: `${profileProblem}: not used (drift unavailable until the version's profile is stored again)`, problem: profileProblem }
        : { available: false, reason: missingProfileReason(version), ...(registeredByTrainingRun(version) ? { missing: missingProfileReason(version) } : {}) },
    drift,
    predictionDrift,
    performance: { ...performance, since, predictions: predictions.predictions, unmatured: predictions.unmatured, noLabel: predictions.noLabel, inTraining: predictions.inTraining },
    freshness,
    universe,
    rowVerification,
  };
}

/** Below MySQL's TEXT limit (monitoring_reports.report). */
const MAX_REPORT_BYTES = 60_000;

/** The report as stored: per-feature detail is cut to the drifted and largest-PSI features if it would not fit. */
export function serialiseReport(report: ModelMonitoringReport): string {
  let json = JSON.stringify(report);
  if (Buffer.byteLength(json) <= MAX_REPORT_BYTES) return json;
  const features = report.drift.features.filter((f, i) => f.drifted || i < 10);
  json = JSON.stringify({ ...report, drift: { ...report.drift, features, truncated: report.drift.features.length - features.length } });
  if (Buffer.byteLength(json) <= MAX_REPORT_BYTES) return json;
  return JSON.stringify({ ...report, drift: { ...report.drift, features: [], truncated: report.drift.features.length } });
}

/**
 * Stores the report once under its id and returns the report stored under it: this one, or the one
 * an earlier attempt of the same run stored (a retried activity writes nothing new, and judges and
 * reports what was stored, not a second computation at a later time that can read otherwise).
 */
export async function saveMonitoringReport(store: Database, report: ModelMonitoringReport): Promise<ModelMonitoringReport> {
  await store.db.insertInto('monitoring_reports').ignore().values({ id: report.id, model: report.model, version: report.version, report: serialiseReport(report), created_at: report.createdAt }).execute();
  const stored = await store.db.selectFrom('monitoring_reports').select(['report', 'created_at']).where('id', '=', report.id).executeTakeFirst();
  if (!stored || stored.created_at === report.createdAt) return report;
  return JSON.parse(stored.report) as ModelMonitoringReport;
}
