/**
 * The training dataset of an experiment: feature rows from the offline store joined with labels
 * computed from the stored bars, one row per (decision day, symbol) in time order, with what
 * time-aware validation needs (each label's window in trading days) and what the backtest needs
 * (forward return, symbol and day). Written once as a binary file named by its content hash, so
 * trials on any worker read it by id and large data never travels through Temporal.
 */
import { computeLabels, LABEL_CODE_VERSION, labelReach, readsMove, sessionHorizons, tradableReturn, type LabelSpec } from '../labels/labels';
import type { Database } from '../store/database';
import { barChecking } from '../store/bar-signature';
import { readBarSeries } from '../store/bars';
import type { BarSeries } from '../market-data/bar';
import { getFeatureSetColumns, readFeatureRowBytes } from '../store/features';
import { littleEndianFloat64Into } from '../float64-bytes';
import { argsortOf } from '../sorted';
import { BadInputError } from '../errors';
import type { ArtifactStore } from '../artifacts/artifact-store';
import { readStoredFeatureSet } from '../features/stored-feature-set';
import { memoryReach, requiredBars } from '../features/compute-features';
import { seriesSplits, splitMovesAsOfTheirDay, type SeriesSplit } from '../quality/splits';
import type { GuardVerdict } from './guards';
import { arrayFileKey, decodeArrayFile, encodeArrayFile, readArrayFile, writeArrayFile, type StoredArray } from './array-file';

export interface TrainingDataset {
  featureSetVersion: string;
  label: LabelSpec;
  /**
   * LABEL_CODE_VERSION of the code that computed the labels (lib/labels/labels.ts); absent in
   * datasets written before it was kept (version 1: the horizon counted stored bars).
   */
  labelCodeVersion?: number;
  columns: string[];
  /** Trading days present in the data, ascending; rows refer to them by index. */
  days: string[];
  /**
   * The last day whose close the dataset may know: the request's `to` (the cut-off), or the last
   * bar. Labels may look past it (evaluation); the final model learns only labels ending by it.
   * Absent in datasets written before it was kept: then the last day of `days`.
   */
  cutoff?: string;
  symbols: string[];
  rows: number;
  /** rows × columns, row-major. */
  values: Float64Array;
  labels: Int32Array;
  /** Decision day of each row (index into days). */
  start: Int32Array;
  /** Last day each label looks at (index into days): its horizon's last session, or the bar a triple barrier was touched. */
  end: Int32Array;
  symbol: Int32Array;
  /** The tradable return over the label horizon, `horizon` NYSE sessions: from the next open to the horizon's last close (tradableReturn; close to close before label code version 3). */
  forwardReturn: Float64Array;
  /**
   * 1 for rows that are evaluated but never trained on (a direction move inside the dead zone:
   * LabelSeries.evaluationOnly); absent when there are none. trainingRowsOf leaves them out.
   */
  evaluationOnly?: Int32Array;
  /**
   * The opens and closes of every symbol of `symbols` on every day of `days` as the dataset was built
   * (symbol-major: [s × days.length + d], NaN where the symbol had no bar): what the evaluation trades
   * and its naive baselines read (datasetBarSeries). Absent in datasets written before they were kept.
   * Split-adjusted at the unadjusted splits of `splits` (prices before each split times its ratio),
   * so a position or baseline held across one earns what a holder earned, not the split's ratio.
   */
  bars?: { open: Float64Array; close: Float64Array };
  /**
   * Unadjusted splits in the stored bars (the quality gate's unadjusted_split rule, judged on the
   * bars as stored): no row whose features or label read the move across one is kept (`rows` counts
   * those left out), and `bars` are adjusted at them. Absent when there are none.
   */
  splits?: { found: Array<{ symbol: string; date: string; ratio: number }>; rows: number };
}

/**
 * The rows of `indices` a model may be trained on: all but the evaluation-only ones. Every fit
 * (trial folds, walk-forward windows, the final model, warm starts) takes its rows through here,
 * and every evaluation takes all rows.
 */
export function trainingRowsOf(ds: Pick<TrainingDataset, 'evaluationOnly'>, indices: Int32Array): Int32Array {
  const only = ds.evaluationOnly;
  return only ? indices.filter((r) => only[r] === 0) : indices;
}

export interface DatasetRequest {
  featureSetVersion: string;
  label: LabelSpec;
  from?: string;
  to?: string;
  symbols?: readonly string[];
}

/** The label horizon in NYSE sessions, whatever the label kind. */
export function labelHorizon(label: LabelSpec): number {
  return label.horizon;
}

/**
 * A series' unadjusted splits, the bars they moved, and those of them the features did not adjust
 * for: the features read bars adjusted at the splits found on their own day (split-adjusted.ts); a
 * split judged only with the bars after it (its volume level) is still read as a move.
 */
function splitsOf(s: BarSeries): { splits: SeriesSplit[]; moved: number[]; unadjusted: number[] } {
  const splits = seriesSplits(s);
  if (splits.length === 0) return { splits, moved: [], unadjusted: [] };
  const adjusted = new Set(splitMovesAsOfTheirDay(s).map((x) => `${x.index} ${x.ratio}`));
  return { splits, moved: splits.map((x) => x.index), unadjusted: splits.filter((x) => !adjusted.has(`${x.index} ${x.ratio}`)).map((x) => x.index) };
}

export async function buildTrainingDataset(store: Database, request: DatasetRequest): Promise<TrainingDataset> {
  const columns = await getFeatureSetColumns(store, request.featureSetVersion);
  if (!columns) throw new BadInputError(`feature set ${request.featureSetVersion} is not in the store; run the features step first`);
  // How far back a row's features read (their warm-up), and how far a move they read reaches (the
  // memory of recursive smoothers, far longer: memoryReach): an unadjusted split inside either makes them wrong.
  const storedSet = await readStoredFeatureSet(store, request.featureSetVersion, 'run the features step first');
  const featureReach = requiredBars(storedSet);
  const featureMemory = memoryReach(storedSet);
  const [featureRows, series] = await Promise.all([
    // As stored: each row's bytes go straight into the matrix, with no array of its own in between.
    // Checked with the store's key as the bars are: a model trained on rows edited in the database
    // would be registered validly signed (the point-in-time audit recomputes only a sample).
    readFeatureRowBytes(store, request.featureSetVersion, { symbols: request.symbols, from: request.from, to: request.to }, { verify: barChecking(store) }),
    // labels look past `to`: they need the later bars; checked with the store's key (a model is not trained on bars it does not vouch for)
    readBarSeries(store, { symbols: request.symbols }, { verify: barChecking(store) }),
  ]);
  const daySet = new Set<string>();
  for (const s of series) for (const d of s.dates) daySet.add(d);
  const days = [...daySet].sort();
  const dayIndex = new Map(days.map((d, i) => [d, i]));
  // Labels over the NYSE sessions of each symbol's stored bars: a row whose horizon lacks a stored session is not labelled (not kept).
  const bySymbol = new Map(
    series.map((s) => [
      s.symbol,
      { series: s, labels: computeLabels(request.label, s, s.dates), horizonEnd: sessionHorizons(s.dates, s.close.length, request.label.horizon).ends, barOf: new Map(s.dates.map((d, i) => [d, i])), ...splitsOf(s) },
    ]),
  );
  const labelsRead = labelReach(request.label);
  const reach = { back: Math.max(featureReach, labelsRead.back), ahead: labelsRead.ahead };
  // A split the features did not adjust for stays in every recursive smoother past its warm-up.
  const memory = { back: Math.max(featureMemory, labelsRead.back), ahead: labelsRead.ahead };

  // The labelled rows: which stored row, and its bar in its symbol's series.
  const kept: number[] = [];
  const barOfKept: number[] = [];
  let nearSplits = 0;
  featureRows.forEach((row, k) => {
    const known = bySymbol.get(row.symbol);
    const t = known?.barOf.get(row.date);
    if (known === undefined || t === undefined) return;
    const value = known.labels.value[t];
    if (value === undefined || Number.isNaN(value)) return; // no label yet
    // A split's move read as a return would be a fall (or jump) no holder had: no such row is kept.
    // Rows within the features' warm-up of any split are left out all the same (its move is in their look-back).
    if (known.moved.length > 0 && (readsMove(known.moved, t, known.labels.end[t], reach) || readsMove(known.unadjusted, t, known.labels.end[t], memory))) {
      nearSplits++;
      return;
    }
    kept.push(k);
    barOfKept.push(t);
  });
  if (kept.length === 0) throw new BadInputError(`no labelled feature rows for feature set ${request.featureSetVersion}${request.from || request.to ? ` between ${request.from ?? 'the start'} and ${request.to ?? 'the end'}` : ''}`);
  const symbols = [...new Set(kept.map((k) => featureRows[k].symbol))].sort();
  const symbolIndex = new Map(symbols.map((s, i) => [s, i]));
  // Time order, then symbol: days and symbols are both sorted, so one number per row orders them (a row's key is unique).
  const { order } = argsortOf(kept.map((k) => (dayIndex.get(featureRows[k].date) as number) * symbols.length + (symbolIndex.get(featureRows[k].symbol) as number)));

  const p = columns.length;
  const rows = kept.length;
  const out: TrainingDataset = {
    featureSetVersion: request.featureSetVersion,
    label: request.label,
    labelCodeVersion: LABEL_CODE_VERSION,
    columns,
    days,
    cutoff: request.to && request.to < days[days.length - 1] ? request.to : days[days.length - 1],
    symbols,
    rows,
    values: new Float64Array(rows * p),
    labels: new Int32Array(rows),
    start: new Int32Array(rows),
    end: new Int32Array(rows),
    symbol: new Int32Array(rows),
    forwardReturn: new Float64Array(rows),
  };
  const evaluationOnly = new Int32Array(rows);
  let evaluationOnlyRows = 0;
  const putValues = littleEndianFloat64Into(out.values);
  order.forEach((o, r) => {
    const row = featureRows[kept[o]];
    const t = barOfKept[o];
    const { series: s, labels, horizonEnd } = bySymbol.get(row.symbol) as NonNullable<ReturnType<typeof bySymbol.get>>;
    if (row.vals.byteLength !== p * 8) {
      throw new BadInputError(`feature row ${row.symbol} ${row.date} (${request.featureSetVersion}) holds ${row.vals.byteLength} bytes, not the ${p} float64s of the feature set's columns: the row is damaged; rematerialise the feature set`);
    }
    putValues(row.vals, r * p);
    out.labels[r] = labels.value[t];
    out.start[r] = dayIndex.get(row.date) as number;
    out.end[r] = dayIndex.get(s.dates[labels.end[t]]) as number;
    out.symbol[r] = symbolIndex.get(row.symbol) as number;
    // Every labelled row has its whole horizon stored; NaN otherwise (never: no label, no row).
    out.forwardReturn[r] = horizonEnd[t] >= 0 ? tradableReturn(s, t, horizonEnd[t]) : NaN;
    if (labels.evaluationOnly?.[t]) {
      evaluationOnly[r] = 1;
      evaluationOnlyRows++;
    }
  });
  // Only when some row is: datasets without any keep their content id.
  if (evaluationOnlyRows > 0) out.evaluationOnly = evaluationOnly;
  // The prices the labels and forward returns were computed from, kept with them: the evaluation's
  // backtest and baselines must read these, not the store as it is when they run (a bar revised or
  // back-filled after the dataset was built would be traded beside labels and features made without it).
  const open = new Float64Array(symbols.length * days.length).fill(NaN);
  const close = new Float64Array(symbols.length * days.length).fill(NaN);
  const found: NonNullable<TrainingDataset['splits']>['found'] = [];
  symbols.forEach((symbol, k) => {
    const { series: s, splits } = bySymbol.get(symbol) as NonNullable<ReturnType<typeof bySymbol.get>>;
    // Each price times the ratios of the splits after it, as a vendor's split-adjusted series would be
    // (a product of the ratios left, so the bars after the last split are the stored ones exactly).
    const after = (next: number) => splits.slice(next).reduce((f, split) => f * split.ratio, 1);
    let next = 0;
    let factor = after(0);
    s.dates.forEach((d, i) => {
      if (next < splits.length && splits[next].index === i) factor = after(++next);
      const at = k * days.length + (dayIndex.get(d) as number);
      open[at] = s.open[i] * factor;
      close[at] = s.close[i] * factor;
    });
    for (const split of splits) found.push({ symbol, date: split.date, ratio: split.ratio });
  });
  out.bars = { open, close };
  // Only when there are some: datasets without keep their content id.
  if (found.length > 0 || nearSplits > 0) out.splits = { found, rows: nearSplits };
  if (evaluationOnlyRows === rows) throw new BadInputError(`every labelled row of feature set ${request.featureSetVersion} is inside the label's dead zone (${JSON.stringify(request.label)}), so there is nothing to train on; use a smaller deadZone`);
  return out;
}

/**
 * The note beside a dataset's numbers when unadjusted splits kept rows out (TrainingDataset.splits):
 * which splits, how many rows, and the fix; undefined when there were none.
 */
export function splitsNote(ds: Pick<TrainingDataset, 'splits'>): GuardVerdict | undefined {
  if (!ds.splits) return undefined;
  const { found, rows } = ds.splits;
  const named = found.slice(0, 5).map((f) => `${f.symbol} ${f.date} (price ×${f.ratio.toFixed(3)})`).join(', ');
  return {
    guard: 'unadjusted_splits',
    tripped: false,
    message: `${rows} rows left out whose features or labels read the move across an unadjusted split in the stored bars, and the evaluation's prices split-adjusted there: ${named}${found.length > 5 ? `, and ${found.length - 5} more` : ''}; import split-adjusted prices (Adj Close with adjust) to keep those rows`,
  };
}

const FOLDER = 'datasets';
const PREFIX = 'td';
type DatasetMeta = Omit<TrainingDataset, 'values' | 'labels' | 'start' | 'end' | 'symbol' | 'forwardReturn' | 'evaluationOnly' | 'bars'>;

/**
 * Writes the dataset under datasets/<id>.mlpd in the artifact store and returns its id: an intact
 * stored copy is kept, a damaged one (refused by readDataset: "rebuild it") replaced (writeArrayFile).
 */
export function writeDataset(store: ArtifactStore, ds: TrainingDataset): Promise<{ id: string; url: string; stored: 'written' | 'kept' | 'replaced' }> {
  const { values, labels, start, end, symbol, forwardReturn, evaluationOnly, bars, ...meta } = ds;
  return writeArrayFile(store, FOLDER, PREFIX, encodeArrayFile(meta, { values, labels, start, end, symbol, forwardReturn, ...(evaluationOnly ? { evaluationOnly } : {}), ...(bars ? { barOpen: bars.open, barClose: bars.close } : {}) }));
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
    ...(arrays.has('evaluationOnly') ? { evaluationOnly: get<Int32Array>('evaluationOnly') } : {}),
    ...(arrays.has('barOpen') && arrays.has('barClose') ? { bars: { open: get<Float64Array>('barOpen'), close: get<Float64Array>('barClose') } } : {}),
  };
  if (dataset.values.length !== dataset.rows * dataset.columns.length) throw new BadInputError(`training dataset ${id} is inconsistent; rebuild it`);
  const cells = dataset.symbols.length * dataset.days.length;
  if (dataset.bars && (dataset.bars.open.length !== cells || dataset.bars.close.length !== cells)) throw new BadInputError(`training dataset ${id} holds bars for another number of symbols or days than it names; rebuild it`);
  cached = { key, dataset };
  return dataset;
}

/**
 * The bars the dataset was built from, one series per symbol of `ds.symbols` (dates, opens and
 * closes; high, low and volume are not kept and read NaN), or undefined for a dataset written before
 * they were kept.
 */
export function datasetBarSeries(ds: Pick<TrainingDataset, 'symbols' | 'days' | 'bars'>): BarSeries[] | undefined {
  const bars = ds.bars;
  if (!bars) return undefined;
  const n = ds.days.length;
  return ds.symbols.map((symbol, k) => {
    const at: number[] = [];
    for (let d = 0; d < n; d++) if (!Number.isNaN(bars.close[k * n + d])) at.push(d);
    const none = () => new Float64Array(at.length).fill(NaN);
    return { symbol, dates: at.map((d) => ds.days[d]), open: Float64Array.from(at, (d) => bars.open[k * n + d]), high: none(), low: none(), close: Float64Array.from(at, (d) => bars.close[k * n + d]), volume: none() };
  });
}

/** A dataset's own bars as series, made once per dataset object: the evaluations of a run's algorithms then share one set (and what is computed from it: periodRivalsOf). Callers only read them. */
const ownBars = new WeakMap<TrainingDataset, BarSeries[]>();

/**
 * The bars an evaluation of this dataset reads (its backtest, naive baselines, report sections): the
 * dataset's own, so that the verdict is judged on the prices its labels, forward returns and
 * features were made from, whatever the store holds now; the store's for a dataset written before
 * they were kept.
 */
export async function evaluationBarsOf(store: Database, ds: TrainingDataset): Promise<BarSeries[]> {
  const own = ownBars.get(ds) ?? datasetBarSeries(ds);
  if (own) {
    ownBars.set(ds, own);
    return own;
  }
  return readBarSeries(store, { symbols: ds.symbols }, { verify: barChecking(store) });
}

