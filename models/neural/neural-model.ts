/**
 * What the MLP and the sequence model share: training parameters, input checks, the trained
 * model (standardise → network → softmax), and the payload.
 *
 * Payload (payload version 1 of both algorithms), little-endian:
 *   standardiser mean   float64 × p
 *   standardiser scale  float64 × p
 *   weights             float32, the arrays of weightShapes(architecture) in order, each row-major
 * The architecture is not in the payload: it is rebuilt from the validated JSON params (plus the
 * feature count and classes of the state), and the payload must then have exactly the right size.
 */
import { z } from 'zod';
import { ArtifactError, packFloat64, unpackFloat64 } from '../artifact';
import { assertSameFeatures, type Algorithm, type FeatureMatrix, type FitInput, type ModelState, type TrainedModel } from '../model';
import { standardise, type Standardiser } from '../standardiser';
import { requireFinite, requireStandardiser } from '../state-checks';
import { predictNetwork, trainNetwork, weightCount, weightShapes, type Architecture, type TrainingSummary } from './network';
import { NetworkKernel } from './network-kernel';
import { sharedFloat32 } from '../../lib/threads/shared-memory';
import { earlyStoppingSplit, withTrained } from '../early-stopping';

/** Training parameters of both neural algorithms. */
export const trainingParamsShape = {
  /** Dropout rate of every hidden representation (0 disables it). */
  dropout: z.number().min(0).max(0.9).default(0.1),
  /** Adam's step size. */
  learningRate: z.number().positive().max(1).default(0.001),
  /** Rows per minibatch (capped at the training rows); 200 as scikit-learn's MLPClassifier. */
  batchSize: z.number().int().min(1).max(1_000_000).default(200),
  /** Maximum epochs; early stopping usually ends training before. */
  epochs: z.number().int().min(1).max(10_000).default(100),
  /** Epochs without a validation-loss improvement of at least minDelta before stopping. */
  patience: z.number().int().min(1).max(10_000).default(5),
  minDelta: z.number().min(0).default(1e-4),
  /**
   * Share of rows held out for early stopping: the last whole decision days, purged of the fit rows
   * whose labels reach them, fewer days when the purge leaves too few to fit (models/early-stopping.ts;
   * needs input.times); 0 trains on every row for exactly `epochs` epochs.
   */
  validationFraction: z.number().min(0).max(0.5).default(0.1),
  /** L2 penalty l2·Σw² on the kernels (not the biases), added to the minibatch loss. */
  l2: z.number().min(0).default(0),
};

export type TrainingParams = z.output<z.ZodObject<typeof trainingParamsShape>>;

/** Parses parameters with a message naming the algorithm and every offending field. */
export function parseParams<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.output<S> {
  const result = schema.safeParse(raw ?? {});
  if (!result.success) {
    throw new Error(`${what}: invalid parameters: ${result.error.issues.map((i) => `${i.path.join('.') || '(params)'}: ${i.message}`).join('; ')}`);
  }
  return result.data;
}

const summarySchema = z.object({
  // 0: a continuation that could judge no epoch added none (models/early-stopping.ts).
  epochsRun: z.number().int().min(0),
  bestEpoch: z.number().int().min(0),
  validationLoss: z.number().nullable(),
  backend: z.enum(['kernel', 'node', 'wasm', 'cpu']),
  // Absent from models trained before it was recorded.
  earlyStopping: z.record(z.string(), z.unknown()).optional(),
});

/** Training results, stored after the parameters in the state's params. */
export function parseSummary(params: Record<string, unknown>, what: string): TrainingSummary {
  return parseParams(summarySchema, params, `${what}.restore (training summary)`);
}

function checkInput(input: FitInput, what: string): void {
  const x = input.features;
  const p = x.featureNames.length;
  if (p < 1) throw new Error(`${what}: the feature matrix has no columns`);
  if (x.values.length !== x.rows * p) throw new Error(`${what}: the feature matrix holds ${x.values.length} values, not rows × columns = ${x.rows} × ${p}`);
  if (!Number.isInteger(input.classes) || input.classes < 2) throw new Error(`${what}: classes must be an integer ≥ 2, not ${input.classes}`);
  if (input.labels.length !== x.rows) throw new Error(`${what}: ${input.labels.length} labels for ${x.rows} rows`);
  const bad = input.labels.findIndex((y) => y < 0 || y >= input.classes);
  if (bad >= 0) throw new Error(`${what}: label ${input.labels[bad]} at row ${bad} is outside 0..${input.classes - 1}`);
  if (input.weights) {
    if (input.weights.length !== x.rows) throw new Error(`${what}: ${input.weights.length} weights for ${x.rows} rows`);
    const w = input.weights.findIndex((v) => !(v >= 0 && Number.isFinite(v)));
    if (w >= 0) throw new Error(`${what}: weight ${input.weights[w]} at row ${w} is not a finite value ≥ 0`);
  }
}

/** Refuses a validationFraction that holds out no row (which rows are held out: models/early-stopping.ts). */
function checkValidationShare(rows: number, fraction: number, what: string): void {
  if (fraction > 0 && Math.floor(rows * fraction) < 1) {
    throw new Error(`${what}: validationFraction ${fraction} of ${rows} rows leaves no validation row; give more rows or set validationFraction to 0`);
  }
}

/** `a` then `b` in `out`. */
function joined<T extends Int32Array | Float64Array>(a: T, b: T, out: T): T {
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The first `rows` rows of a matrix, as a view. */
export function leadingRows(x: FeatureMatrix, rows: number): FeatureMatrix {
  return { values: x.values.subarray(0, rows * x.featureNames.length), rows, featureNames: x.featureNames };
}

function packPayload(s: Standardiser, weights: readonly Float32Array[]): Uint8Array {
  const floats = Buffer.alloc(weights.reduce((n, w) => n + w.length, 0) * 4);
  let offset = 0;
  for (const w of weights) for (let i = 0; i < w.length; i++, offset += 4) floats.writeFloatLE(w[i], offset);
  const out = Buffer.concat([packFloat64([s.mean, s.scale]), floats]);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

function unpackPayload(payload: Uint8Array, featureNames: readonly string[], a: Architecture, algorithm: string): { s: Standardiser; weights: Float32Array[] } {
  const p = featureNames.length;
  const shapes = weightShapes(a);
  const lengths = shapes.map(weightCount);
  const expected = 16 * p + 4 * lengths.reduce((n, l) => n + l, 0);
  if (payload.byteLength !== expected) throw new ArtifactError(`payload holds ${payload.byteLength} bytes; the network of the stored parameters needs ${expected}`);
  const [mean, scale] = unpackFloat64(payload.subarray(0, 16 * p), [p, p]);
  requireStandardiser(algorithm, { mean, scale }, featureNames);
  const buf = Buffer.from(payload.buffer, payload.byteOffset + 16 * p, payload.byteLength - 16 * p);
  let offset = 0;
  const weights = lengths.map((l, n) => {
    const w = new Float32Array(l);
    for (let i = 0; i < l; i++, offset += 4) w[i] = buf.readFloatLE(offset);
    requireFinite(algorithm, w, (i) => `weight ${shapes[n].name}[${i}]`);
    return w;
  });
  return { s: { mean, scale }, weights };
}

export class NeuralModel implements TrainedModel {
  /** Each row's probabilities come from that row alone (see network-kernel.ts). */
  readonly rowwise = true;
  /** Made on the first prediction, holding the weights. */
  private kernel: NetworkKernel | undefined;

  constructor(
    readonly algorithm: string,
    private readonly algorithmVersion: number,
    readonly featureNames: readonly string[],
    readonly classes: number,
    /** Validated parameters, in the schema's key order. */
    private readonly params: Record<string, unknown>,
    /** How training went (epochs run, best epoch, validation loss, backend). */
    readonly training: TrainingSummary,
    readonly architecture: Architecture,
    /** Fitted on the training rows; a warm start keeps it, since the weights expect its scale. */
    readonly s: Standardiser,
    /** In weightShapes(architecture) order; never modified. */
    readonly weights: readonly Float32Array[],
  ) {}

  predictProba(features: FeatureMatrix): Float64Array {
    assertSameFeatures(this.featureNames, features.featureNames, `${this.algorithm}.predictProba`);
    const p = this.featureNames.length;
    if (features.values.length !== features.rows * p) throw new Error(`${this.algorithm}.predictProba: the matrix holds ${features.values.length} values, not ${features.rows} × ${p}`);
    const x = standardise(features, this.s, new Float32Array(features.rows * p));
    if (!this.kernel) {
      this.kernel = new NetworkKernel(this.architecture, 256);
      this.kernel.setWeights(this.weights);
    }
    return predictNetwork(this.kernel, x, features.rows);
  }

  state(): ModelState {
    return {
      algorithm: this.algorithm,
      algorithmVersion: this.algorithmVersion,
      featureNames: this.featureNames,
      classes: this.classes,
      params: { ...this.params, ...this.training },
      payload: packPayload(this.s, this.weights),
    };
  }
}

/** An Algorithm whose models also expose how training went (`training`). */
export interface NeuralAlgorithm<Params> extends Algorithm<Params> {
  fit(input: FitInput, params: Params): Promise<NeuralModel>;
  restore(state: ModelState): NeuralModel;
}

export interface NeuralSpec {
  algorithm: string;
  version: number;
  /** Validated parameters, in a fixed key order (they are stored as given). */
  params: Record<string, unknown> & TrainingParams;
  architecture: Architecture;
  /** Fits the standardiser on the training rows (the first `trainRows`). */
  standardiser(x: FeatureMatrix, trainRows: number): Standardiser;
}

/**
 * Fits the network on the input. With `from` (a warm start) training starts from that model's
 * weights and keeps its standardiser, which must then have the same architecture; Adam's moments
 * start afresh.
 */
export async function fitNeural(input: FitInput, spec: NeuralSpec, from?: NeuralModel): Promise<NeuralModel> {
  const what = `${spec.algorithm}.${from ? 'continueFit' : 'fit'}`;
  checkInput(input, what);
  if (from) {
    assertSameFeatures(from.featureNames, input.features.featureNames, what);
    if (from.algorithm !== spec.algorithm || JSON.stringify(from.architecture) !== JSON.stringify(spec.architecture)) {
      throw new Error(`${what}: the model's network (${from.algorithm} ${JSON.stringify(from.architecture)}) is not the one of these parameters (${JSON.stringify(spec.architecture)}); its weights cannot be continued`);
    }
  }
  const x = input.features;
  checkValidationShare(x.rows, spec.params.validationFraction, what);
  const { fit, validation, record } = earlyStoppingSplit(input, spec.params.validationFraction, what);
  // No honest slice although one was asked for (models/early-stopping.ts): a continuation adds no
  // epoch, as boosting adds no round; a cold fit runs no more epochs than early stopping would
  // wait for an improvement (100 unjudged epochs fitted the noise).
  const unjudged = !validation && spec.params.validationFraction > 0;
  if (unjudged && from) {
    const kept = { epochsRun: 0, bestEpoch: 0, validationLoss: null, backend: from.training.backend, earlyStopping: withTrained(record, 'no epoch added to the continued network: none could be judged') };
    return new NeuralModel(spec.algorithm, spec.version, x.featureNames, input.classes, spec.params, kept, spec.architecture, from.s, from.weights);
  }
  const epochs = unjudged ? Math.min(spec.params.epochs, spec.params.patience) : spec.params.epochs;
  const trainedNote = epochs < spec.params.epochs ? `${epochs} epochs on every row (patience; epochs ${spec.params.epochs} cannot be judged)` : `${epochs} epochs on every row`;
  const trainRows = fit.features.rows;
  const validationRows = validation?.features.rows ?? 0;
  const s = from ? from.s : spec.standardiser(fit.features, trainRows);
  const threads = input.threads ?? 1;
  const p = x.featureNames.length;
  // In shared memory when pool threads take parts of each batch (network-threads.ts).
  const rows = threads > 1 ? sharedFloat32((trainRows + validationRows) * p) : new Float32Array((trainRows + validationRows) * p);
  standardise(fit.features, s, rows.subarray(0, trainRows * p));
  if (validation) standardise(validation.features, s, rows.subarray(trainRows * p));
  const labels = validation ? joined(fit.labels, validation.labels, new Int32Array(trainRows + validationRows)) : fit.labels;
  const weights = fit.weights && (validation?.weights ? joined(fit.weights, validation.weights, new Float64Array(trainRows + validationRows)) : fit.weights);
  const data = { x: rows, labels, weights, trainRows, validationRows };
  // The stored params keep the recipe's epochs (what a fit with a slice may run); the summary says how many ran.
  const trained = await trainNetwork(spec.architecture, data, { ...spec.params, epochs }, input.seed, input.signal, from?.weights, threads);
  const summary = { ...trained.summary, earlyStopping: withTrained(record, trainedNote) };
  return new NeuralModel(spec.algorithm, spec.version, x.featureNames, input.classes, spec.params, summary, spec.architecture, s, trained.weights);
}

export function restoreNeural(state: ModelState, spec: Omit<NeuralSpec, 'standardiser'>): NeuralModel {
  const what = `${spec.algorithm}.restore`;
  if (state.algorithm !== spec.algorithm) throw new ArtifactError(`${what}: the state is of algorithm "${state.algorithm}"`);
  if (state.algorithmVersion !== spec.version) throw new ArtifactError(`${what}: payload version ${state.algorithmVersion} is not the one this build reads (${spec.version})`);
  const { s, weights } = unpackPayload(state.payload, state.featureNames, spec.architecture, spec.algorithm);
  return new NeuralModel(spec.algorithm, spec.version, state.featureNames, state.classes, spec.params, parseSummary(state.params, spec.algorithm), spec.architecture, s, weights);
}
