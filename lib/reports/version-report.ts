/**
 * Run reports of registered versions: reads what the report needs (registry row, aliases, the
 * dataset, walk-forward predictions and bars, the model artifact), renders the HTML and files it
 * in the artifact store like every other artifact (content-addressed by sha256), and records where
 * in the version's lineage. Missing files make the matching sections say so instead of failing.
 */
import { decodeArtifact, sha256 } from '../../models/artifact';
import { loadModelRuntimes, restoreModel } from '../../models/algorithms';
import type { TrainedModel } from '../../models/model';
import type { ArtifactStore } from '../artifacts/artifact-store';
import { fileDerived, readDerived } from '../artifacts/derived-file';
import { codeVersion } from '../code-version';
import { readArtifact } from '../registry/artifact-store';
import { BadInputError } from '../errors';
import { aliasHistory, getModelVersion, loadRegisteredModel, recordVersionReport, resolveVersion, type ModelVersion } from '../registry/model-registry';
import type { PromotionDecision } from '../registry/promotion';
import { readBarSeries } from '../store/bars';
import type { Database } from '../store/database';
import { readDataset } from '../training/dataset';
import type { GuardVerdict } from '../training/guards';
import { readPredictions } from '../training/walk-forward';
import { renderRunReportHtml } from './html';
import { assembleRunReport, permutationRowsOf, predictionSectionsOf, reportBacktestOptionsOf, usesPermutationImportance, type PredictionSections, type ReportInputs, type RunReport } from './report-data';
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

/** Files the HTML under its sha256 (written once; the same bytes again are a no-op). */
export async function writeReportFile(artifacts: ArtifactStore, html: string): Promise<StoredReport> {
  const bytes = Buffer.from(html, 'utf8');
  const sha = sha256(bytes);
  const key = reportKey(sha);
  await artifacts.putIfAbsent(key, bytes);
  return { path: artifacts.urlOf(key), sha256: sha, bytes: bytes.byteLength };
}

/** A stored report's HTML, checked against the sha256 it is filed under; undefined when the file is gone. */
export async function readReportFile(artifacts: ArtifactStore, sha: string): Promise<string | undefined> {
  const key = reportKey(sha);
  const bytes = await artifacts.get(key, (b) => sha256(b) === sha);
  if (!bytes) return undefined;
  if (sha256(bytes) !== sha) throw new BadInputError(`report ${artifacts.urlOf(key)} does not match its sha256: the file was modified; regenerate it with "mlp report"`);
  return bytes.toString('utf8');
}

/** The report recorded in a version's lineage, if any. */
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
  /** Compute the prediction sections from the bars as stored now, even when the lineage names a file of them. */
  options: { recompute?: boolean } = {},
): Promise<ReportInputs> {
  const v = await getModelVersion(store, name, version);
  const inputs: ReportInputs = { version: v, aliases: await aliasesOf(store, name, version), aliasHistory: await aliasHistory(store, name), ...extra };
  const datasetId = v.lineage.datasetId;
  const predictionsId = (v.lineage.walkForward as { predictionsId?: unknown } | undefined)?.predictionsId;
  if (typeof datasetId !== 'string' || typeof predictionsId !== 'string') inputs.evaluationMissing = 'the version names no training dataset or walk-forward predictions';
  else {
    try {
      const dataset = await readDataset(artifacts, datasetId);
      const predictions = await readPredictions(artifacts, predictionsId);
      const sections = options.recompute ? undefined : await recordedSections(artifacts, v.lineage.reportSections, { datasetId, predictionsId, seed: v.seed, backtest: reportBacktestOptionsOf(v.lineage.experiment) });
      if (sections) inputs.sections = sections;
      // The bars only when the sections have to be computed: reading a universe's takes ~0.6 s.
      inputs.evaluation = { dataset, predictions, ...(sections ? {} : { series: await readBarSeries(store, { symbols: dataset.symbols }) }) };
    } catch (error) {
      inputs.evaluationMissing = `dataset ${datasetId} or predictions ${predictionsId} could not be read from ${artifacts.description} (${(error as Error).message})`;
    }
  }
  let model: TrainedModel | undefined;
  try {
    model = (await loadRegisteredModel(store, artifacts, name, version)).model;
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
}

/**
 * Builds, files and (with `record`) registers the run report of one version: the version's lineage
 * then names the report, the promotion decision and the dataset guards it was given.
 */
export async function generateVersionReport(
  store: Database,
  artifacts: ArtifactStore,
  /** `recompute`: the prediction sections from the bars and code of now, not from the file the evaluation made. */
  request: { name: string; version: number; decision?: PromotionDecision; datasetGuards?: GuardVerdict[]; record?: boolean; recompute?: boolean; now?: Date },
  /** Training threads for the report's heavy part (permutation importance); without them it runs on this thread. */
  pool?: TaskPool,
): Promise<GeneratedReport> {
  const inputs = await loadReportInputs(store, artifacts, request.name, request.version, { decision: request.decision, datasetGuards: request.datasetGuards }, pool, { recompute: request.recompute });
  const report = assembleRunReport({ ...inputs, now: request.now });
  const html = renderRunReportHtml(report);
  const stored = await writeReportFile(artifacts, html);
  if (request.record) {
    await recordVersionReport(store, request.name, request.version, {
      report: { ...stored, generatedAt: report.generatedAt },
      ...(request.decision ? { promotion: { promote: request.decision.promote, reason: request.decision.reason } } : {}),
      ...(request.datasetGuards ? { datasetGuards: request.datasetGuards.map((g) => ({ guard: g.guard, tripped: g.tripped, message: g.message })) } : {}),
    });
  }
  return { ...stored, report, html };
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
  /** True when the report was built now (none recorded, its file gone, or asked to). */
  generated: boolean;
  html: string;
}

/**
 * The reports of a target: the recorded one of each version when its file is intact, otherwise
 * generated now (and recorded, so the dashboard and later calls find it).
 */
export async function reportsForTarget(store: Database, artifacts: ArtifactStore, target: ReportTarget, options: { regenerate?: boolean } = {}): Promise<VersionReport[]> {
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
    const recordedReport = options.regenerate ? undefined : recordedReportOf(v);
    let html: string | undefined;
    try {
      html = recordedReport ? await readReportFile(artifacts, recordedReport.sha256) : undefined;
    } catch {
      html = undefined; // a modified file is regenerated
    }
    if (recordedReport && html !== undefined) {
      out.push({ name, version, ...recordedReport, path: artifacts.urlOf(reportKey(recordedReport.sha256)), generated: false, html });
      continue;
    }
    // Asked to regenerate: everything from the store as it is now, as before the sections were filed.
    const g = await generateVersionReport(store, artifacts, { name, version, record: true, recompute: options.regenerate });
    out.push({ name, version, path: g.path, sha256: g.sha256, bytes: g.bytes, generated: true, html: g.html });
  }
  return out;
}
