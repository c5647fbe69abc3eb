/**
 * Run reports of registered versions: reads what the report needs (registry row, aliases, the
 * dataset, walk-forward predictions and bars, the model artifact), renders the HTML and files it
 * in the artifact store like every other artifact (content-addressed by sha256), and records where
 * in the version's lineage. Missing files make the matching sections say so instead of failing.
 *
 * Integrity: every report names the version it is of (model name, version, artifact sha256) in its
 * HTML's head and in a sidecar JSON beside it, and a stored report is read only for that version
 * (readReportFile, readRecordedReport: the dashboard and `mlp report` both). With a signing key
 * (MODEL_SIGNING_KEY), the row is verified as serving verifies it before anything it names is read,
 * the report record (report, promotion decision, guard verdicts) is read only when its own
 * signature holds (lib/registry/row-signature.ts reportRecordProblem), and a report is recorded
 * only for a row and record that pass: otherwise it is built to show the failure, and not recorded.
 */
import { decodeArtifact, sha256 } from '../../models/artifact';
import { loadModelRuntimes, restoreModel } from '../../models/algorithms';
import type { TrainedModel } from '../../models/model';
import type { ArtifactStore } from '../artifacts/artifact-store';
import { fileDerived, readDerived } from '../artifacts/derived-file';
import { codeVersion } from '../code-version';
import { readArtifact } from '../registry/artifact-store';
import { configuredSigning } from '../config';
import { BadInputError } from '../errors';
import { aliasHistory, getModelVersion, loadRegisteredModel, recordVersionReport, RegistryError, resolveVersion, signVersionReportRecord, type ModelVersion } from '../registry/model-registry';
import { currentKeyId, REPORT_RECORD_KEYS, reportRecordProblem, rowSignatureCheck, rowSignatureProblem, verificationKeysOf, type RowSigning } from '../registry/row-signature';
import type { PromotionDecision } from '../registry/promotion';
import type { Database } from '../store/database';
import { evaluationBarsOf, readDataset } from '../training/dataset';
import type { GuardVerdict } from '../training/guards';
import { readPredictions } from '../training/walk-forward';
import { renderRunReportHtml, reportBindingOf, type ReportBinding } from './html';
import { assembleRunReport, permutationRowsOf, predictionSectionsOf, reportBacktestOptionsOf, usesPermutationImportance, type PredictionSections, type ReportInputs, type ReportIntegrity, type RunReport } from './report-data';
import type { BacktestOptionsInput } from '../backtest/input';
import type { BarSeries } from '../market-data/bar';
import type { WalkForwardPredictions } from '../training/walk-forward';
import type { TaskPool } from '../threads/task-pool';
import type { TrainingDataset } from '../training/dataset';

export interface StoredReport {
  /** Where the report is: a file path (ARTIFACT_DIR) or an s3:// URL (ARTIFACT_URL). */
  path: string;
  sha256: string;
  bytes: number;
}

/** reports/<sha[0..2]>/<sha>.html */
export function reportKey(sha: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha)) throw new BadInputError(`"${sha}" is not a sha256 (64 hex characters)`);
  return `reports/${sha.slice(0, 2)}/${sha}.html`;
}

/** A stored report that is not the given version's, or whose file was modified: never shown as that version's. */
export class ReportRefusedError extends BadInputError {
  override name = 'ReportRefusedError';
  constructor(message: string) {
    super(message, 'ARTIFACT_INVALID'); // a report is an artifact that failed verification
  }
}

/** reports/<sha[0..2]>/<sha>.binding.json: the sidecar that names the version a report is of. */
export function reportBindingKey(sha: string): string {
  return reportKey(sha).replace(/\.html$/, '.binding.json');
}

/** The sidecar JSON beside each report: which version's report the HTML of this sha256 is. */
export interface ReportBindingFile extends ReportBinding {
  kind: 'run-report-binding';
  format: 1;
  report: { sha256: string; bytes: number };
}

const describeBinding = (b: ReportBinding) => `${b.name} v${b.version} (artifact sha256 ${b.artifactSha256.slice(0, 12)}…)`;

/**
 * Files the HTML under its sha256, with its sidecar JSON naming the version it is of (as the HTML's
 * head does; a report without that is refused). The same bytes again leave intact files alone and
 * replace damaged ones (the HTML no longer hashing to its sha256, the sidecar not the one this HTML
 * has), which a write-once put kept: the report regenerated as the refusal says was refused again.
 */
export async function writeReportFile(artifacts: ArtifactStore, html: string): Promise<StoredReport> {
  const binding = reportBindingOf(html);
  if (!binding) throw new BadInputError('a run report must name the version it is of (renderRunReportHtml writes it in the head)');
  const bytes = Buffer.from(html, 'utf8');
  const sha = sha256(bytes);
  const key = reportKey(sha);
  await artifacts.putOrRepair(key, bytes, (b) => sha256(b) === sha);
  const sidecar: ReportBindingFile = { kind: 'run-report-binding', format: 1, name: binding.name, version: binding.version, artifactSha256: binding.artifactSha256, report: { sha256: sha, bytes: bytes.byteLength } };
  // The sidecar follows from the HTML alone: any other bytes under its key are damage.
  const sidecarBytes = Buffer.from(`${JSON.stringify(sidecar, null, 2)}\n`, 'utf8');
  await artifacts.putOrRepair(reportBindingKey(sha), sidecarBytes, (b) => b.equals(sidecarBytes));
  return { path: artifacts.urlOf(key), sha256: sha, bytes: bytes.byteLength };
}

/**
 * A stored report's HTML, only as the report of `of` (a version: its name, number and artifact
 * sha256): checked against the sha256 it is filed under, then against the version its head names
 * and its sidecar JSON (when present) names. Undefined when the file is gone; ReportRefusedError
 * when it was modified, or is another version's (or names none).
 */
export async function readReportFile(artifacts: ArtifactStore, sha: string, of: ReportBinding): Promise<string | undefined> {
  if (!of || typeof of.name !== 'string' || typeof of.version !== 'number' || typeof of.artifactSha256 !== 'string') throw new ReportRefusedError('a stored report is read only as the report of a given version (name, version and artifact sha256)');
  const key = reportKey(sha);
  const bytes = await artifacts.get(key, (b) => sha256(b) === sha);
  if (!bytes) return undefined;
  if (sha256(bytes) !== sha) throw new ReportRefusedError(`report ${artifacts.urlOf(key)} does not match its sha256: the file was modified; regenerate it with "mlp report"`);
  const html = bytes.toString('utf8');
  const binding = reportBindingOf(html);
  if (!binding) throw new ReportRefusedError(`report ${sha.slice(0, 12)}… names no version it is of (written before reports were bound to their version, or not a run report): it is not shown as ${describeBinding(of)}'s; regenerate it with "mlp report ${of.name}@${of.version} --regenerate"`);
  if (binding.name !== of.name || binding.version !== of.version || binding.artifactSha256 !== of.artifactSha256) {
    throw new ReportRefusedError(`report ${sha.slice(0, 12)}… is the report of ${describeBinding(binding)}, not of ${describeBinding(of)}: the registry names another version's report for it; regenerate it with "mlp report ${of.name}@${of.version} --regenerate"`);
  }
  const sidecar = await artifacts.get(reportBindingKey(sha)).catch(() => undefined);
  if (sidecar) {
    let named: Partial<ReportBindingFile> | undefined;
    try {
      named = JSON.parse(sidecar.toString('utf8')) as Partial<ReportBindingFile>;
    } catch {
      named = undefined;
    }
    if (!named || named.kind !== 'run-report-binding' || named.name !== of.name || named.version !== of.version || named.artifactSha256 !== of.artifactSha256 || named.report?.sha256 !== sha) {
      throw new ReportRefusedError(`report ${sha.slice(0, 12)}…'s sidecar ${artifacts.urlOf(reportBindingKey(sha))} does not name ${describeBinding(of)} as its version: it was modified; regenerate the report with "mlp report ${of.name}@${of.version} --regenerate"`);
    }
  }
  return html;
}

/** What reading the report recorded for a version found. */
export type RecordedReportRead =
  | { state: 'none' }
  /** Recorded, and its file is gone (it can be generated again). */
  | { state: 'missing'; report: StoredReport }
  /** Recorded, and not to be shown as this version's: why. */
  | { state: 'refused'; report?: StoredReport; reason: string }
  | { state: 'ok'; report: StoredReport; html: string };

/**
 * The report recorded for a version, as `mlp report` and the dashboard show it: with a signing key,
 * only when the row's signature and the report record's signature hold; and only when the file is
 * intact and is this version's report (readReportFile).
 */
export async function readRecordedReport(artifacts: ArtifactStore, version: ModelVersion, signing: RowSigning = configuredSigning()): Promise<RecordedReportRead> {
  const recorded = recordedReportOf(version);
  const keys = verificationKeysOf(signing);
  if (keys !== undefined) {
    const rowProblem = rowSignatureProblem(keys, version);
    if (rowProblem) return { state: 'refused', ...(recorded ? { report: recorded } : {}), reason: `the registry row of ${version.name} v${version.version} fails verification: ${rowProblem}` };
    const recordProblem = reportRecordProblem(keys, version);
    if (recordProblem) return { state: 'refused', ...(recorded ? { report: recorded } : {}), reason: recordProblem };
  }
  if (!recorded) return { state: 'none' };
  let html: string | undefined;
  try {
    html = await readReportFile(artifacts, recorded.sha256, version);
  } catch (error) {
    if (error instanceof BadInputError) return { state: 'refused', report: recorded, reason: error.message };
    throw error;
  }
  if (html === undefined) return { state: 'missing', report: recorded };
  return { state: 'ok', report: { ...recorded, path: artifacts.urlOf(reportKey(recorded.sha256)) }, html };
}

/** The report recorded in a version's lineage, if any (as the lineage says: readRecordedReport checks it). */
export function recordedReportOf(version: ModelVersion): StoredReport | undefined {
  const r = version.lineage.report as { path?: unknown; sha256?: unknown; bytes?: unknown } | undefined;
  if (!r || typeof r.sha256 !== 'string' || typeof r.path !== 'string') return undefined;
  return { path: r.path, sha256: r.sha256, bytes: typeof r.bytes === 'number' ? r.bytes : 0 };
}

async function aliasesOf(store: Database, name: string, version: number): Promise<string[]> {
  const rows = await store.db.selectFrom('model_aliases').select('alias').where('name', '=', name).where('version', '=', version).orderBy('alias').execute();
  return rows.map((r) => r.alias);
}

/** Everything the report of one version reads, from the store and the artifact store. */
export async function loadReportInputs(
  store: Database,
  artifacts: ArtifactStore,
  name: string,
  version: number,
  extra: { decision?: PromotionDecision; datasetGuards?: GuardVerdict[] } = {},
  pool?: TaskPool,
  /**
   * `recompute`: the prediction sections from the bars as stored now, even when the lineage names a
   * file of them. `signing`: the deployment's MODEL_SIGNING_KEY (default: the configured one).
   */
  options: { recompute?: boolean; signing?: RowSigning } = {},
): Promise<ReportInputs> {
  const v = await getModelVersion(store, name, version);
  const signing = options.signing ?? configuredSigning();
  const inputs: ReportInputs = { version: v, aliases: await aliasesOf(store, name, version), aliasHistory: await aliasHistory(store, name), ...extra, integrity: integrityOf(v, signing, extra) };
  const rowProblem = inputs.integrity?.rowProblem;
  if (rowProblem) {
    // As serving: a row that fails its signature never leads to reading what it names.
    inputs.evaluationMissing = `not read: the registry row fails verification (${rowProblem})`;
    inputs.modelMissing = `the model artifact was not read: the registry row fails verification (${rowProblem})`;
    return inputs;
  }
  const datasetId = v.lineage.datasetId;
  const predictionsId = (v.lineage.walkForward as { predictionsId?: unknown } | undefined)?.predictionsId;
  if (typeof datasetId !== 'string' || typeof predictionsId !== 'string') inputs.evaluationMissing = 'the version names no training dataset or walk-forward predictions';
  else {
    try {
      const dataset = await readDataset(artifacts, datasetId);
      const predictions = await readPredictions(artifacts, predictionsId);
      const sections = options.recompute ? undefined : await recordedSections(artifacts, v.lineage.reportSections, { datasetId, predictionsId, seed: v.seed, backtest: reportBacktestOptionsOf(v.lineage.experiment) });
      if (sections) inputs.sections = sections;
      // The bars only when the sections have to be computed (reading a universe's from the store takes
      // ~0.6 s): the dataset's own, so a report made again after bars were revised shows the evaluation's numbers.
      inputs.evaluation = { dataset, predictions, ...(sections ? {} : { series: await evaluationBarsOf(store, dataset) }) };
    } catch (error) {
      inputs.evaluationMissing = `dataset ${datasetId} or predictions ${predictionsId} could not be read from ${artifacts.description} (${(error as Error).message})`;
    }
  }
  let model: TrainedModel | undefined;
  try {
    model = (await loadRegisteredModel(store, artifacts, name, version, signing)).model;
  } catch (error) {
    inputs.modelMissing = `the model artifact could not be loaded (${(error as Error).message})`;
  }
  if (model) inputs.model = model;
  if (model && inputs.evaluation && usesPermutationImportance(model)) {
    const about = { modelSha256: v.artifactSha256, datasetId: datasetId as string, predictionsId: predictionsId as string, seed: v.seed };
    inputs.permutationImportance = (await recordedImportance(artifacts, v.lineage.permutationImportance, about)) ?? (pool ? await pooledPermutationImportance(pool, model, inputs.evaluation.dataset, inputs.evaluation.predictions.rows, v.seed) : undefined);
  }
  return inputs;
}

/**
 * What the signatures say of the row and of the report record the report would read (with a key):
 * the row must hold; the record only matters when the report reads from it (a promotion decision or
 * guard verdicts the caller does not give), and those are the keys a recording would keep.
 */
function integrityOf(v: ModelVersion, signing: RowSigning, given: { decision?: PromotionDecision; datasetGuards?: GuardVerdict[] }): ReportIntegrity {
  const keys = verificationKeysOf(signing);
  if (keys === undefined) return {};
  const row = rowSignatureCheck(keys, v);
  const readsRecord = keptRecordKeys(v, given).length > 0;
  const recordProblem = readsRecord ? reportRecordProblem(keys, v) : undefined;
  return { keyId: currentKeyId(keys), ...(row.problem !== undefined ? { rowProblem: row.problem } : {}), ...(row.previousKeyId !== undefined ? { rowPreviousKeyId: row.previousKeyId } : {}), ...(recordProblem ? { recordProblem } : {}) };
}

/** The keys of the version's report record that recording a report with these values would keep (and a report reads). */
function keptRecordKeys(v: ModelVersion, given: { decision?: PromotionDecision; datasetGuards?: GuardVerdict[] }): string[] {
  const replaced = new Set<string>(['report', ...(given.decision ? ['promotion'] : []), ...(given.datasetGuards ? ['datasetGuards'] : [])]);
  return REPORT_RECORD_KEYS.filter((k) => !replaced.has(k) && Object.hasOwn(v.lineage, k));
}

/** What precomputed prediction sections were computed from: the dataset, the predictions, the backtest's seed and options. */
export interface SectionsInputs {
  datasetId: string;
  predictionsId: string;
  seed: number;
  backtest: BacktestOptionsInput;
}

interface SectionsFile extends SectionsInputs {
  kind: 'prediction-sections';
  format: number;
  /** The code that computed them (lib/code-version.ts): other code computes them again. */
  codeVersion: string;
  sections: PredictionSections;
}

/** Raised when the sections' layout changes: files of another format are computed again. */
const SECTIONS_FORMAT = 1;

/**
 * The report's prediction sections (equity, monthly figures, IC, ROC, calibration, confusion),
 * computed as soon as the walk-forward predictions are evaluated (evaluateAlgorithm does, while the
 * training threads run the shuffled-label control) instead of by every report at the end of the
 * run, and filed as a content-addressed artifact that the version's lineage names
 * (`reportSections.sha256`).
 */
export async function precomputeReportSections(artifacts: ArtifactStore, evaluation: { dataset: TrainingDataset; predictions: WalkForwardPredictions; series: readonly BarSeries[] }, about: SectionsInputs): Promise<{ sha256: string }> {
  const sections = predictionSectionsOf(evaluation, { backtest: about.backtest, seed: about.seed });
  const file: SectionsFile = { kind: 'prediction-sections', format: SECTIONS_FORMAT, codeVersion: codeVersion(), ...about, sections };
  return fileDerived(artifacts, reportDataKey, file);
}

/**
 * The sections named in a lineage, when the file is intact (its sha256), of this format, computed by
 * this code from exactly these predictions, dataset, seed and backtest options; otherwise undefined
 * and the report computes them.
 */
async function recordedSections(artifacts: ArtifactStore, recorded: unknown, about: SectionsInputs): Promise<PredictionSections | undefined> {
  const file = (await readDerived(artifacts, reportDataKey, (recorded as { sha256?: unknown } | undefined)?.sha256)) as SectionsFile | undefined;
  const same =
    file?.kind === 'prediction-sections' &&
    file.format === SECTIONS_FORMAT &&
    file.codeVersion === codeVersion() &&
    file.datasetId === about.datasetId &&
    file.predictionsId === about.predictionsId &&
    file.seed === about.seed &&
    JSON.stringify(file.backtest) === JSON.stringify(about.backtest) &&
    typeof file.sections === 'object' &&
    file.sections !== null;
  return same ? file.sections : undefined;
}

/** What a precomputed permutation importance was computed from: the model, the evaluation rows and the seed. */
export interface ImportanceInputs {
  modelSha256: string;
  datasetId: string;
  predictionsId: string;
  seed: number;
}

interface ImportanceFile extends ImportanceInputs {
  kind: 'permutation-importance';
  values: Array<{ name: string; value: number }>;
}

/**
 * The report's permutation importance, computed as soon as the model and its walk-forward
 * predictions exist (evaluateAlgorithm does, beside the other algorithms' training) instead of at
 * the end of the run, and filed as a content-addressed artifact; the version's lineage names it
 * (`permutationImportance.sha256`) and the report reads it from there. undefined when the model uses
 * split gains instead.
 */
export async function precomputePermutationImportance(artifacts: ArtifactStore, pool: TaskPool, about: ImportanceInputs): Promise<{ sha256: string } | undefined> {
  await loadModelRuntimes();
  const { state } = decodeArtifact(await readArtifact(artifacts, about.modelSha256));
  const model = restoreModel(state);
  if (!usesPermutationImportance(model)) return undefined;
  const dataset = await readDataset(artifacts, about.datasetId);
  const predictions = await readPredictions(artifacts, about.predictionsId);
  const values = await pooledPermutationImportance(pool, model, dataset, predictions.rows, about.seed);
  const file: ImportanceFile = { kind: 'permutation-importance', ...about, values };
  return fileDerived(artifacts, reportDataKey, file);
}

/** reports/<sha[0..2]>/<sha>.json, beside the reports that read it (permutation importance, prediction sections). */
function reportDataKey(sha: string): string {
  return reportKey(sha).replace(/\.html$/, '.json');
}

/**
 * The importance named in a lineage, when its file is intact (its sha256) and was computed from
 * exactly this model, these rows and this seed; otherwise undefined and the report computes it.
 */
async function recordedImportance(artifacts: ArtifactStore, recorded: unknown, about: ImportanceInputs): Promise<Array<{ name: string; value: number }> | undefined> {
  const file = (await readDerived(artifacts, reportDataKey, (recorded as { sha256?: unknown } | undefined)?.sha256)) as ImportanceFile | undefined;
  const same = file?.kind === 'permutation-importance' && file.modelSha256 === about.modelSha256 && file.datasetId === about.datasetId && file.predictionsId === about.predictionsId && file.seed === about.seed;
  return same ? file.values : undefined;
}

/**
 * Permutation importance with the columns shared out over the pool's threads (the same values as
 * one pass: each column has its own seeded shuffle). For an SVM it is 62 predictions of 4,000 rows
 * against thousands of support vectors, 38 s on one thread, which was the end of every full retrain.
 */
export async function pooledPermutationImportance(pool: TaskPool, model: TrainedModel, ds: TrainingDataset, rows: Int32Array, seed: number): Promise<Array<{ name: string; value: number }>> {
  const { x, y } = permutationRowsOf(ds, rows);
  const state = model.state();
  const p = ds.columns.length;
  const parts = Math.min(pool.size, p);
  // Every parts-th column to each thread: neighbouring columns cost alike (the candle patterns, which
  // few rows change, sit together), so contiguous ranges left one thread with most of the work.
  const shares = Array.from({ length: parts }, (_, k) => ds.columns.map((_, j) => j).filter((j) => j % parts === k));
  const values = await Promise.all(shares.map((columns) => pool.runOnFreeThread('permutationImportance', { state, x, y, seed, columns })));
  const all = new Float64Array(p);
  shares.forEach((columns, k) => columns.forEach((j, c) => (all[j] = values[k][c])));
  return ds.columns.map((name, j) => ({ name, value: all[j] }));
}

export interface GeneratedReport extends StoredReport {
  report: RunReport;
  html: string;
  /** Whether the version's lineage now names this report (asked to record it, and its row and record verified). */
  recorded: boolean;
  /** Why it was not recorded though asked to (the row or its report record fail their signature). */
  notRecorded?: string;
}

export interface ReportRequest {
  name: string;
  version: number;
  decision?: PromotionDecision;
  datasetGuards?: GuardVerdict[];
  record?: boolean;
  /** The prediction sections from the bars and code of now, not from the file the evaluation made. */
  recompute?: boolean;
  now?: Date;
  /** The deployment's MODEL_SIGNING_KEY; default: the configured one (loadConfig). */
  signing?: RowSigning;
}

/**
 * Builds, files and (with `record`) registers the run report of one version: the version's lineage
 * then names the report, the promotion decision and the dataset guards it was given (signed with the
 * key when one is configured). With a key, a version whose row or report record fails its signature
 * is not recorded: `record` then throws ReportRefusedError (the report is filed all the same, showing why).
 */
export async function generateVersionReport(
  store: Database,
  artifacts: ArtifactStore,
  request: ReportRequest,
  /** Training threads for the report's heavy part (permutation importance); without them it runs on this thread. */
  pool?: TaskPool,
): Promise<GeneratedReport> {
  const generated = await buildAndRecord(store, artifacts, request, pool);
  if (generated.notRecorded !== undefined) throw new ReportRefusedError(`the run report of ${request.name} v${request.version} was not recorded: ${generated.notRecorded}`);
  return generated;
}

async function buildAndRecord(store: Database, artifacts: ArtifactStore, request: ReportRequest, pool?: TaskPool): Promise<GeneratedReport> {
  const signing = request.signing ?? configuredSigning();
  const inputs = await loadReportInputs(store, artifacts, request.name, request.version, { decision: request.decision, datasetGuards: request.datasetGuards }, pool, { recompute: request.recompute, signing });
  const report = assembleRunReport({ ...inputs, now: request.now });
  const html = renderRunReportHtml(report);
  const stored = await writeReportFile(artifacts, html);
  if (!request.record) return { ...stored, report, html, recorded: false };
  const refusal = inputs.integrity?.rowProblem ? `the registry row fails verification: ${inputs.integrity.rowProblem}` : inputs.integrity?.recordProblem;
  if (refusal) return { ...stored, report, html, recorded: false, notRecorded: refusal };
  try {
    await recordVersionReport(
      store,
      request.name,
      request.version,
      {
        report: { ...stored, generatedAt: report.generatedAt },
        ...(request.decision ? { promotion: { promote: request.decision.promote, reason: request.decision.reason } } : {}),
        ...(request.datasetGuards ? { datasetGuards: request.datasetGuards.map((g) => ({ guard: g.guard, tripped: g.tripped, message: g.message })) } : {}),
      },
      signing,
    );
  } catch (error) {
    // The row or record changed between reading and recording, and now fails: not recorded.
    if (error instanceof RegistryError) return { ...stored, report, html, recorded: false, notRecorded: error.message };
    throw error;
  }
  return { ...stored, report, html, recorded: true };
}

/**
 * Signs the report record of a version as it is now (lib/registry/model-registry.ts
 * signVersionReportRecord): `mlp report model@version --sign-record`, for records written before
 * they were signed or under another key. The recorded report must be intact and this version's.
 */
export async function signRecordedReport(store: Database, artifacts: ArtifactStore, name: string, version: number, signing: RowSigning, options: { acceptEdit?: boolean } = {}): ReturnType<typeof signVersionReportRecord> {
  return signVersionReportRecord(store, name, version, signing, {
    ...options,
    check: async (v) => {
      const recorded = recordedReportOf(v);
      if (!recorded) return;
      const html = await readReportFile(artifacts, recorded.sha256, v);
      if (html === undefined) throw new ReportRefusedError(`${name} v${version}'s recorded report ${recorded.sha256.slice(0, 12)}… is not in ${artifacts.description}; nothing was signed: make the report again with \`mlp report ${name}@${version} --regenerate\``);
    },
  });
}

/** A report target: `model@version` (a number, vN or an alias) or a training run's workflow id. */
export type ReportTarget = { kind: 'version'; name: string; ref: string } | { kind: 'run'; workflowId: string };

export function parseReportTarget(text: string): ReportTarget {
  const at = text.lastIndexOf('@');
  if (at > 0 && at < text.length - 1) return { kind: 'version', name: text.slice(0, at), ref: text.slice(at + 1) };
  if (text.trim() === '' || at >= 0) throw new BadInputError(`"${text}" is neither model@version (e.g. demo-direction-5d@3, @champion) nor a run's workflow id`);
  return { kind: 'run', workflowId: text };
}

export interface VersionReport extends StoredReport {
  name: string;
  version: number;
  /** True when the report was built now (none recorded, its file gone or refused, or asked to). */
  generated: boolean;
  /** True when the registry names this report for the version (the recorded one, or the one generated now and recorded). */
  recorded: boolean;
  /** Why the recorded report was not shown, or the generated one not recorded (a signature or binding check failed). */
  problem?: string;
  html: string;
}

/**
 * The reports of a target: the recorded one of each version when it passes readRecordedReport
 * (intact, this version's, signatures holding under a key), otherwise generated now (and recorded,
 * so the dashboard and later calls find it, unless the row or its record fail their signatures:
 * then the report shows why and is not recorded).
 */
export async function reportsForTarget(store: Database, artifacts: ArtifactStore, target: ReportTarget, options: { regenerate?: boolean; signing?: RowSigning } = {}): Promise<VersionReport[]> {
  const signing = options.signing ?? configuredSigning();
  let versions: Array<{ name: string; version: number }>;
  if (target.kind === 'version') versions = [{ name: target.name, version: await resolveVersion(store, target.name, target.ref) }];
  else {
    const rows = await store.db.selectFrom('model_versions').select(['name', 'version']).where('workflow_id', '=', target.workflowId).orderBy('name').orderBy('version').execute();
    if (rows.length === 0) throw new BadInputError(`run ${target.workflowId} registered no model version (see "mlp runs show ${target.workflowId}"); or give model@version`);
    versions = rows.map((r) => ({ name: r.name, version: Number(r.version) }));
  }
  const out: VersionReport[] = [];
  for (const { name, version } of versions) {
    const v = await getModelVersion(store, name, version);
    const read = options.regenerate ? undefined : await readRecordedReport(artifacts, v, signing);
    if (read?.state === 'ok') {
      out.push({ name, version, ...read.report, generated: false, recorded: true, html: read.html });
      continue;
    }
    // None recorded, its file gone or refused (a modified file, another version's, a failed signature), or
    // asked to regenerate: everything from the store as it is now, as before the sections were filed.
    const g = await buildAndRecord(store, artifacts, { name, version, record: true, recompute: options.regenerate, signing });
    const problem = [read?.state === 'refused' ? `the recorded report was not shown: ${read.reason}` : undefined, g.notRecorded !== undefined ? `the report generated now was not recorded: ${g.notRecorded}` : undefined].filter((x) => x !== undefined).join('; ');
    out.push({ name, version, path: g.path, sha256: g.sha256, bytes: g.bytes, generated: true, recorded: g.recorded, ...(problem ? { problem } : {}), html: g.html });
  }
  return out;
}
