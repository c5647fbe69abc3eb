/**
 * Run reports of registered versions: reads what the report needs (registry row, aliases, the
 * dataset, walk-forward predictions and bars, the model artifact), renders the HTML and files it
 * under ARTIFACT_DIR like every other artifact (content-addressed by sha256), and records its path
 * in the version's lineage. Missing files make the matching sections say so instead of failing.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { sha256 } from '../../models/artifact';
import type { TrainedModel } from '../../models/model';
import { BadInputError } from '../errors';
import { aliasHistory, getModelVersion, loadRegisteredModel, recordVersionReport, resolveVersion, type ModelVersion } from '../registry/model-registry';
import type { PromotionDecision } from '../registry/promotion';
import { readBarSeries } from '../store/bars';
import type { Database } from '../store/database';
import { readDataset } from '../training/dataset';
import type { GuardVerdict } from '../training/guards';
import { readPredictions } from '../training/walk-forward';
import { renderRunReportHtml } from './html';
import { assembleRunReport, type ReportInputs, type RunReport } from './report-data';

export interface StoredReport {
  path: string;
  sha256: string;
  bytes: number;
}

/** <dir>/reports/<sha[0..2]>/<sha>.html */
export function reportPath(dir: string, sha: string): string {
  if (!/^[0-9a-f]{64}$/.test(sha)) throw new BadInputError(`"${sha}" is not a sha256 (64 hex characters)`);
  return path.join(dir, 'reports', sha.slice(0, 2), `${sha}.html`);
}

/** Files the HTML under its sha256 (temporary file + rename; the same bytes again are a no-op). */
export function writeReportFile(dir: string, html: string): StoredReport {
  const bytes = Buffer.from(html, 'utf8');
  const sha = sha256(bytes);
  const file = reportPath(dir, sha);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    fs.writeFileSync(tmp, bytes, { flag: 'wx' });
    fs.renameSync(tmp, file);
  }
  return { path: file, sha256: sha, bytes: bytes.byteLength };
}

/** A stored report's HTML, checked against the sha256 it is filed under; undefined when the file is gone. */
export function readReportFile(dir: string, sha: string): string | undefined {
  const file = reportPath(dir, sha);
  if (!fs.existsSync(file)) return undefined;
  const bytes = fs.readFileSync(file);
  if (sha256(bytes) !== sha) throw new BadInputError(`report ${file} does not match its sha256: the file was modified; regenerate it with "mlp report"`);
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

/** Everything the report of one version reads, from the store and ARTIFACT_DIR. */
export async function loadReportInputs(store: Database, artifactDir: string, name: string, version: number, extra: { decision?: PromotionDecision; datasetGuards?: GuardVerdict[] } = {}): Promise<ReportInputs> {
  const v = await getModelVersion(store, name, version);
  const inputs: ReportInputs = { version: v, aliases: await aliasesOf(store, name, version), aliasHistory: await aliasHistory(store, name), ...extra };
  const datasetId = v.lineage.datasetId;
  const predictionsId = (v.lineage.walkForward as { predictionsId?: unknown } | undefined)?.predictionsId;
  if (typeof datasetId !== 'string' || typeof predictionsId !== 'string') inputs.evaluationMissing = 'the version names no training dataset or walk-forward predictions';
  else {
    try {
      const dataset = readDataset(artifactDir, datasetId);
      const predictions = readPredictions(artifactDir, predictionsId);
      const series = await readBarSeries(store, { symbols: dataset.symbols });
      inputs.evaluation = { dataset, predictions, series };
    } catch (error) {
      inputs.evaluationMissing = `dataset ${datasetId} or predictions ${predictionsId} could not be read from ${artifactDir} (${(error as Error).message})`;
    }
  }
  let model: TrainedModel | undefined;
  try {
    model = (await loadRegisteredModel(store, artifactDir, name, version)).model;
  } catch (error) {
    inputs.modelMissing = `the model artifact could not be loaded (${(error as Error).message})`;
  }
  if (model) inputs.model = model;
  return inputs;
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
  artifactDir: string,
  request: { name: string; version: number; decision?: PromotionDecision; datasetGuards?: GuardVerdict[]; record?: boolean; now?: Date },
): Promise<GeneratedReport> {
  const inputs = await loadReportInputs(store, artifactDir, request.name, request.version, { decision: request.decision, datasetGuards: request.datasetGuards });
  const report = assembleRunReport({ ...inputs, now: request.now });
  const html = renderRunReportHtml(report);
  const stored = writeReportFile(artifactDir, html);
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
export async function reportsForTarget(store: Database, artifactDir: string, target: ReportTarget, options: { regenerate?: boolean } = {}): Promise<VersionReport[]> {
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
      html = recordedReport ? readReportFile(artifactDir, recordedReport.sha256) : undefined;
    } catch {
      html = undefined; // a modified file is regenerated
    }
    if (recordedReport && html !== undefined) {
      out.push({ name, version, ...recordedReport, path: reportPath(artifactDir, recordedReport.sha256), generated: false, html });
      continue;
    }
    const g = await generateVersionReport(store, artifactDir, { name, version, record: true });
    out.push({ name, version, path: g.path, sha256: g.sha256, bytes: g.bytes, generated: true, html: g.html });
  }
  return out;
}
