/**
 * The training dataset of an experiment: feature rows from the offline store joined with labels
 * computed from the stored bars, one row per (decision day, symbol) in time order, with what
 * time-aware validation needs (each label's window in trading days) and what the backtest needs
 * (forward return, symbol and day). Written once as a binary file named by its content hash, so
 * trials on any worker read it by id and large data never travels through Temporal.
 */
import { computeLabels, type LabelSpec } from '../labels/labels';
import type { Database } from '../store/database';
import { readBarSeries } from '../store/bars';
import { getFeatureSetColumns, readFeatureRows } from '../store/features';
import { BadInputError } from '../errors';
import type { ArtifactStore } from '../artifacts/artifact-store';
import { arrayFileKey, decodeArrayFile, encodeArrayFile, readArrayFile, writeArrayFile, type StoredArray } from './array-file';

export interface TrainingDataset {
  featureSetVersion: string;
  label: LabelSpec;
  columns: string[];
  /** Trading days present in the data, ascending; rows refer to them by index. */
  days: string[];
  symbols: string[];
  rows: number;
  /** rows × columns, row-major. */
  values: Float64Array;
  labels: Int32Array;
  /** Decision day of each row (index into days). */
  start: Int32Array;
  /** Last day each label looks at (index into days). */
  end: Int32Array;
  symbol: Int32Array;
  /** Close-to-close return over the label horizon (for the information coefficient). */
  forwardReturn: Float64Array;
}

export interface DatasetRequest {
  featureSetVersion: string;
  label: LabelSpec;
  from?: string;
  to?: string;
  symbols?: readonly string[];
}

/** The label horizon in bars, whatever the label kind. */
export function labelHorizon(label: LabelSpec): number {
  return label.horizon;
}

export async function buildTrainingDataset(store: Database, request: DatasetRequest): Promise<TrainingDataset> {
  const columns = await getFeatureSetColumns(store, request.featureSetVersion);
  if (!columns) throw new BadInputError(`feature set ${request.featureSetVersion} is not in the store; run the features step first`);
  const [featureRows, series] = await Promise.all([
    readFeatureRows(store, request.featureSetVersion, { symbols: request.symbols, from: request.from, to: request.to }),
    readBarSeries(store, { symbols: request.symbols }), // labels look past `to`: they need the later bars
  ]);
  const bySymbol = new Map(series.map((s) => [s.symbol, s]));
  const labelsBySymbol = new Map(series.map((s) => [s.symbol, computeLabels(request.label, s.close)]));
  const dayIndexOfBar = new Map<string, Map<string, number>>();
  for (const s of series) dayIndexOfBar.set(s.symbol, new Map(s.dates.map((d, i) => [d, i])));

  interface Pending {
    symbol: string;
    date: string;
    endDate: string;
    values: Float64Array;
    label: number;
    forward: number;
  }
  const pending: Pending[] = [];
  for (const row of featureRows) {
    const s = bySymbol.get(row.symbol);
    const t = dayIndexOfBar.get(row.symbol)?.get(row.date);
    if (!s || t === undefined) continue;
    const labels = labelsBySymbol.get(row.symbol);
    const value = labels?.value[t];
    if (labels === undefined || value === undefined || Number.isNaN(value)) continue; // no label yet (or dead zone)
    const endBar = labels.end[t];
    const forwardBar = Math.min(t + request.label.horizon, s.close.length - 1);
    pending.push({ symbol: row.symbol, date: row.date, endDate: s.dates[endBar], values: row.values, label: value, forward: s.close[forwardBar] / s.close[t] - 1 });
  }
  if (pending.length === 0) throw new BadInputError(`no labelled feature rows for feature set ${request.featureSetVersion}${request.from || request.to ? ` between ${request.from ?? 'the start'} and ${request.to ?? 'the end'}` : ''}`);
  pending.sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));

  const daySet = new Set<string>();
  for (const s of series) for (const d of s.dates) daySet.add(d);
  const days = [...daySet].sort();
  const dayIndex = new Map(days.map((d, i) => [d, i]));
  const symbols = [...new Set(pending.map((p) => p.symbol))].sort();
  const symbolIndex = new Map(symbols.map((s, i) => [s, i]));
  const p = columns.length;
  const rows = pending.length;
  const values = new Float64Array(rows * p);
  const out: TrainingDataset = {
    featureSetVersion: request.featureSetVersion,
    label: request.label,
    columns,
    days,
    symbols,
    rows,
    values,
    labels: new Int32Array(rows),
    start: new Int32Array(rows),
    end: new Int32Array(rows),
    symbol: new Int32Array(rows),
    forwardReturn: new Float64Array(rows),
  };
  pending.forEach((row, r) => {
    values.set(row.values, r * p);
    out.labels[r] = row.label;
    out.start[r] = dayIndex.get(row.date) as number;
    out.end[r] = dayIndex.get(row.endDate) as number;
    out.symbol[r] = symbolIndex.get(row.symbol) as number;
    out.forwardReturn[r] = row.forward;
  });
  return out;
}

const FOLDER = 'datasets';
const PREFIX = 'td';
type DatasetMeta = Omit<TrainingDataset, 'values' | 'labels' | 'start' | 'end' | 'symbol' | 'forwardReturn'>;

/** Writes the dataset under datasets/<id>.mlpd in the artifact store (once) and returns its id. */
export function writeDataset(store: ArtifactStore, ds: TrainingDataset): Promise<{ id: string; url: string }> {
  const { values, labels, start, end, symbol, forwardReturn, ...meta } = ds;
  return writeArrayFile(store, FOLDER, PREFIX, encodeArrayFile(meta, { values, labels, start, end, symbol, forwardReturn }));
}

let cached: { key: string; dataset: TrainingDataset } | undefined;

/**
 * Reads a dataset by id, verifying its content hash; the last one read stays in memory for the
 * next trial until the stored object changes (a local file edited in place is read and refused).
 */
export async function readDataset(store: ArtifactStore, id: string): Promise<TrainingDataset> {
  const key = `${store.description}:${id}:${store.revision(arrayFileKey(FOLDER, PREFIX, id))}`;
  if (cached?.key === key) return cached.dataset;
  const { meta, arrays } = decodeArrayFile<DatasetMeta>(await readArrayFile(store, FOLDER, PREFIX, id), `training dataset ${id}`);
  const get = <T extends StoredArray>(name: string) => arrays.get(name) as T;
  const dataset: TrainingDataset = {
    ...meta,
    values: get<Float64Array>('values'),
    labels: get<Int32Array>('labels'),
    start: get<Int32Array>('start'),
    end: get<Int32Array>('end'),
    symbol: get<Int32Array>('symbol'),
    forwardReturn: get<Float64Array>('forwardReturn'),
  };
  if (dataset.values.length !== dataset.rows * dataset.columns.length) throw new BadInputError(`training dataset ${id} is inconsistent; rebuild it`);
  cached = { key, dataset };
  return dataset;
}
