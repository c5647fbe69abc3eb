/**
 * The training dataset of an experiment: feature rows from the offline store joined with labels
 * computed from the stored bars, one row per (decision day, symbol) in time order, with what
 * time-aware validation needs (each label's window in trading days) and what the backtest needs
 * (forward return, symbol and day). Written once as a binary file named by its content hash, so
 * trials on any worker read it by id and large data never travels through Temporal.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { computeLabels, type LabelSpec } from '../labels/labels';
import type { Database } from '../store/database';
import { readBarSeries } from '../store/bars';
import { getFeatureSetColumns, readFeatureRows } from '../store/features';
import { BadInputError } from '../errors';

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

/*
 * File layout: "MLPD" magic, uint32 header length, UTF-8 JSON header (everything but the arrays,
 * plus the arrays' lengths), then the arrays little-endian in header order. The id is the sha256
 * of the whole file, so the same data always gets the same id.
 */
const MAGIC = Buffer.from('MLPD', 'ascii');
const ARRAYS = ['values', 'labels', 'start', 'end', 'symbol', 'forwardReturn'] as const;

function encodeDataset(ds: TrainingDataset): Buffer {
  const { values, labels, start, end, symbol, forwardReturn, ...meta } = ds;
  const arrays = { values, labels, start, end, symbol, forwardReturn };
  const header = Buffer.from(JSON.stringify({ ...meta, arrays: ARRAYS.map((k) => [k, arrays[k].length]) }), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  // Typed arrays are little-endian on every platform Node supports in practice; checked below.
  if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1) throw new Error('big-endian hosts are not supported for dataset files');
  return Buffer.concat([MAGIC, length, header, ...ARRAYS.map((k) => Buffer.from(arrays[k].buffer, arrays[k].byteOffset, arrays[k].byteLength))]);
}

export function decodeDataset(bytes: Buffer): TrainingDataset {
  if (!bytes.subarray(0, 4).equals(MAGIC)) throw new BadInputError('not a training dataset file (bad magic bytes)');
  const headerLength = bytes.readUInt32LE(4);
  const meta = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Omit<TrainingDataset, (typeof ARRAYS)[number]> & { arrays: Array<[string, number]> };
  let offset = 8 + headerLength;
  const take = <T>(Type: { new (b: ArrayBuffer): T; BYTES_PER_ELEMENT: number }, n: number): T => {
    const size = n * Type.BYTES_PER_ELEMENT;
    const copy = new Uint8Array(bytes.subarray(offset, offset + size)).buffer; // aligned copy
    offset += size;
    return new Type(copy);
  };
  const lengths = new Map(meta.arrays);
  const ds: TrainingDataset = {
    featureSetVersion: meta.featureSetVersion,
    label: meta.label,
    columns: meta.columns,
    days: meta.days,
    symbols: meta.symbols,
    rows: meta.rows,
    values: take(Float64Array, lengths.get('values') ?? 0),
    labels: take(Int32Array, lengths.get('labels') ?? 0),
    start: take(Int32Array, lengths.get('start') ?? 0),
    end: take(Int32Array, lengths.get('end') ?? 0),
    symbol: take(Int32Array, lengths.get('symbol') ?? 0),
    forwardReturn: take(Float64Array, lengths.get('forwardReturn') ?? 0),
  };
  if (offset !== bytes.length || ds.values.length !== ds.rows * ds.columns.length) throw new BadInputError('training dataset file is truncated or inconsistent; rebuild it');
  return ds;
}

/** Writes the dataset under <dir>/datasets/<id>.mlpd (once) and returns its id. */
export function writeDataset(dir: string, ds: TrainingDataset): { id: string; path: string; bytes: number } {
  const bytes = encodeDataset(ds);
  const id = `td-${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}`;
  const file = datasetPath(dir, id);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, file);
  }
  return { id, path: file, bytes: bytes.length };
}

export function datasetPath(dir: string, id: string): string {
  if (!/^td-[0-9a-f]{32}$/.test(id)) throw new BadInputError(`"${id}" is not a training dataset id`);
  return path.join(dir, 'datasets', `${id}.mlpd`);
}

let cached: { key: string; dataset: TrainingDataset } | undefined;

/** Reads a dataset by id, verifying its content hash; the last one read stays in memory for the next trial. */
export function readDataset(dir: string, id: string): TrainingDataset {
  const file = datasetPath(dir, id);
  if (!fs.existsSync(file)) throw new BadInputError(`training dataset ${id} is not in ${path.dirname(file)}; is ARTIFACT_DIR shared by every worker?`);
  const stat = fs.statSync(file);
  const key = `${file}:${stat.size}:${stat.mtimeMs}`;
  if (cached?.key === key) return cached.dataset;
  const bytes = fs.readFileSync(file);
  if (`td-${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}` !== id) throw new BadInputError(`training dataset file ${file} does not match its id: modified or corrupted; rebuild it`);
  cached = { key, dataset: decodeDataset(bytes) };
  return cached.dataset;
}
