/**
 * Support vector classifier (C-SVC, RBF or linear kernel). Two classes train in our own solver
 * (smo-solver.ts: libsvm 3.22's algorithm on dense rows, the same support vectors as libsvm and so
 * as scikit-learn's SVC); more classes train in libsvm 3.22 compiled to wasm (libsvm-js 0.2.1, see
 * libsvm-wasm.ts). Features are standardised inside the model; probabilities are Platt scaling on
 * decision values cross-validated over five purged folds of consecutive days (probability.ts: cut
 * from `input.times`, which a fit therefore needs), coupled pairwise for more than two classes as
 * libsvm does.
 *
 * Speed. A probability SVM is six trainings (the final model and five folds). libsvm runs them one
 * after another; here they are independent jobs spread over `input.threads` threads (longest
 * first). Jobs in one thread share one kernel matrix of all the rows when it fits the cache (the
 * folds train on subsets of them). libsvm-js spent half a trial's time evaluating kernels on
 * sparse nodes: a 1,500-row trial fold took 3.5 s with it and 1.5–1.9 s with the solver.
 *
 * Determinism. The C-SVC solver (ours as libsvm's) has no randomness and the folds come from the
 * rows' times, so `input.seed` changes nothing: same data, times and parameters give the same model
 * text and byte-identical artifacts, for any thread count. (Models fitted before the folds were cut
 * in time had random folds drawn with the seed; their stored probA / probB load and predict as they did.)
 *
 * Precision. A fitted model predicts from libsvm's own model text, reloaded, just like a restored
 * one, so fit and restore predict bit-identically. Two-class models evaluate that text themselves
 * (dot products in SIMD wasm, simd-dots.ts; equal to libsvm's own output within 1e-12, tested):
 * one row with 19,000 support vectors takes about 0.25 ms against libsvm-js's 1.4 ms. More classes
 * go through libsvm. That text holds gamma and rho to 6 significant
 * digits (%g) and support vectors to 8: probabilities differ from the in-memory training model by
 * well under 1e-6. gamma is rounded to 6 digits before training so that training and prediction
 * use the same kernel.
 *
 * Sample weights: libsvm has per-class weights only, so unequal `input.weights` are refused
 * (equal weights are the unweighted problem: weights are relative, as in the other algorithms).
 * `input.signal` is checked between trainings (a running training cannot be interrupted).
 */
import { z } from 'zod';
import { sharedPool, type TaskPool } from '../../lib/threads/task-pool';
import { ArtifactError, packFloat64, unpackFloat64 } from '../artifact';
import { assertSameFeatures, type Algorithm, type FeatureMatrix, type FitInput, type ModelState, type TrainedModel } from '../model';
import { fitStandardiser, standardise, type Standardiser } from '../standardiser';
import { requireStandardiser } from '../state-checks';
import { freeLibsvmModel, loadedSvmRuntime, loadLibsvmModel, loadSvmRuntime, type LibsvmInstance, type LoadedLibsvmModel } from './libsvm-wasm';
import { binaryModelFromText, expWeightedSum, headerValues, kernelExpansion, kernelSum, plattProbability, type BinaryModelText, type KernelExpansion } from './decision-function';
import { simdExp } from '../simd-exp';
import { planSvmJobs, runSvmJob, sharedKernelFor, type SvmJob, type SvmJobResult } from './probability';
import { SimdDots } from './simd-dots';

export { loadSvmRuntime } from './libsvm-wasm';

export const svmParamsSchema = z.strictObject({
  kernel: z.enum(['rbf', 'linear']).default('rbf'),
  /** Cost of a margin violation, as scikit-learn's C. */
  C: z.number().positive().finite().default(1),
  /** RBF width; 'scale' is scikit-learn's 1 / (p · var(X)) on the standardised training data (≈ 1/p). */
  gamma: z.union([z.literal('scale'), z.number().positive().finite()]).default('scale'),
  /** libsvm's stopping tolerance (-e), as scikit-learn's tol. */
  tolerance: z.number().positive().finite().default(1e-3),
  /** libsvm's kernel cache (-m); wasm32 memory ends at 2 GB. */
  cacheSizeMb: z.number().positive().max(1024).default(200),
  shrinking: z.boolean().default(true),
});
export type SvmParams = z.input<typeof svmParamsSchema>;
type ParsedParams = z.infer<typeof svmParamsSchema>;

function parseParams(raw: unknown): ParsedParams {
  const result = svmParamsSchema.safeParse(raw);
  if (result.success) return result.data;
  throw new Error(`svm: invalid parameters: ${result.error.issues.map((i) => `${i.path.join('.') || '(params)'}: ${i.message}`).join('; ')}`);
}

// ---------------------------------------------------------------------------------------------
// the model

/**
 * Payload layout (version 1), little-endian:
 *   float64[p]  standardiser mean        (p = featureNames.length)
 *   float64[p]  standardiser scale
 *   then        libsvm's model file text (svm_save_model format: data, not code), UTF-8, to the end
 */
class SvmModel implements TrainedModel {
  readonly algorithm = 'svm';
  readonly rowwise = true;
  /** Linear kernel only: mean over the one-vs-one classifiers of |w| on the standardised features. */
  readonly featureImportances?: () => ReadonlyMap<string, number>;
  /** Two classes: evaluated here, support vectors in SIMD wasm memory (6× faster per row than libsvm-js). */
  private readonly binary: { model: BinaryModelText; expansion: KernelExpansion; dots: SimdDots } | undefined;
  /** More classes: libsvm's own prediction with pairwise coupling. */
  private loaded: LoadedLibsvmModel | undefined;

  constructor(
    readonly featureNames: readonly string[],
    readonly classes: number,
    private readonly params: ParsedParams,
    private readonly s: Standardiser,
    private readonly modelText: Uint8Array,
    instance: () => LibsvmInstance,
  ) {
    const text = this.text();
    if (!/^probA /m.test(text)) throw new Error('svm: the stored model has no probability estimates (probA)');
    const p = featureNames.length;
    if (headerValues(text, 'nr_class')[0] === 2) {
      const model = binaryModelFromText(text, p);
      if (model.labels.some((k) => !Number.isInteger(k) || k < 0 || k >= classes) || model.labels[0] === model.labels[1]) {
        throw new Error(`svm: the stored model's labels [${model.labels.join(', ')}] are not distinct classes of 0..${classes - 1}`);
      }
      const m = model.coef.length;
      this.binary = { model, expansion: kernelExpansion(model.sv, p, model.coef, model.rho, model.kernel, model.gamma), dots: new SimdDots(model.sv, m, p) };
    } else {
      this.loaded = loadLibsvmModel(this, instance().wasm, modelText, classes);
    }
    if (params.kernel === 'linear') {
      let importances: ReadonlyMap<string, number> | undefined;
      this.featureImportances = () => (importances ??= linearImportances(this.text(), featureNames));
    }
  }

  private text(): string {
    return new TextDecoder('utf-8', { fatal: true }).decode(this.modelText);
  }

  predictProba(features: FeatureMatrix): Float64Array {
    assertSameFeatures(this.featureNames, features.featureNames, 'svm.predictProba');
    const p = this.featureNames.length;
    const K = this.classes;
    const z = standardise(features, this.s, new Float64Array(features.rows * p));
    const out = new Float64Array(features.rows * K); // a class libsvm never saw keeps probability 0
    if (this.binary) {
      const { expansion, dots } = this.binary;
      for (let r = 0; r < features.rows; r++) {
        const x = z.subarray(r * p, r * p + p);
        this.writeBinary(out, r, kernelSum(expansion, x, dots.dots(x)));
      }
      return out;
    }
    const m = this.loaded;
    if (!m) throw new Error('svm.predictProba: the model was freed');
    const { wasm, pointer, columns } = m;
    const row = wasm._malloc(8 * Math.max(p, 1));
    const estimates = wasm._malloc(8 * columns.length);
    try {
      for (let r = 0; r < features.rows; r++) {
        wasm.HEAPF64.set(z.subarray(r * p, r * p + p), row >> 3);
        wasm._libsvm_predict_one_probability(pointer, row, p, estimates);
        const heap = wasm.HEAPF64; // read after the call: memory growth replaces the views
        for (let c = 0; c < columns.length; c++) out[r * K + columns[c]] = heap[(estimates >> 3) + c];
      }
    } finally {
      wasm._free(row);
      wasm._free(estimates);
    }
    return out;
  }

  /**
   * Two classes: per block of rows, each row's squared distance to every support vector (or, for
   * the linear kernel, its dot product) is computed once; a swap of column j changes it by
   * (a − b)(a + b − 2·sv_kj) (linear: (a − b)·sv_kj), so a swapped row costs m kernel values instead
   * of m dot products of p features, and a row whose value the swap leaves unchanged costs nothing.
   */
  predictProbaColumnSwaps(features: FeatureMatrix, swaps: ReadonlyArray<{ column: number; values: Float64Array }>): Float64Array[] {
    assertSameFeatures(this.featureNames, features.featureNames, 'svm.predictProbaColumnSwaps');
    const p = this.featureNames.length;
    const K = this.classes;
    const rows = features.rows;
    for (const { column, values } of swaps) {
      if (!Number.isInteger(column) || column < 0 || column >= p || values.length !== rows) throw new Error(`svm.predictProbaColumnSwaps: column ${column} with ${values.length} values does not fit ${rows} rows × ${p} features`);
    }
    if (!this.binary) {
      return swaps.map(({ column, values }) => {
        const swapped = Float64Array.from(features.values);
        for (let r = 0; r < rows; r++) swapped[r * p + column] = values[r];
        return this.predictProba({ ...features, values: swapped });
      });
    }
    const { model, expansion, dots } = this.binary;
    const { coef, gamma, sv } = model;
    const rbf = model.kernel === 'rbf';
    const m = coef.length;
    const z = standardise(features, this.s, new Float64Array(rows * p));
    // The swapped columns, standardised as predictProba would, and the support vectors' values in them.
    const swapped = swaps.map(({ column, values }) => Float64Array.from(values, (v) => (Number.isFinite(v) ? (v - this.s.mean[column]) / this.s.scale[column] : 0)));
    const svColumn = swaps.map(({ column }) => Float64Array.from({ length: m }, (_, k) => sv[k * p + column]));
    const out = swaps.map(() => new Float64Array(rows * K));
    const BLOCK = 64;
    const base = new Float64Array(BLOCK * m); // rbf: squared distances; linear: dot products
    const baseDecision = new Float64Array(BLOCK);
    for (let from = 0; from < rows; from += BLOCK) {
      const to = Math.min(rows, from + BLOCK);
      for (let r = from; r < to; r++) {
        const x = z.subarray(r * p, r * p + p);
        baseDecision[r - from] = kernelSum(expansion, x, dots.dots(x), base, (r - from) * m);
      }
      swaps.forEach(({ column }, s) => {
        const values = swapped[s];
        const svj = svColumn[s];
        for (let r = from; r < to; r++) {
          const a = values[r];
          const b = z[r * p + column];
          if (a === b) {
            this.writeBinary(out[s], r, baseDecision[r - from]);
            continue;
          }
          const delta = a - b;
          const at = (r - from) * m;
          let sum = 0;
          if (rbf) {
            const sigma = a + b;
            const args = simdExp().input(m);
            for (let k = 0; k < m; k++) args[k] = -gamma * Math.max(0, base[at + k] + delta * (sigma - 2 * svj[k]));
            sum = expWeightedSum(coef, m);
          } else {
            for (let k = 0; k < m; k++) sum += coef[k] * (base[at + k] + delta * svj[k]);
          }
          this.writeBinary(out[s], r, sum);
        }
      });
    }
    return out;
  }

  /** Row r of a two-class model's probabilities from its decision sum (before rho): Platt's sigmoid, in libsvm's label order. */
  private writeBinary(out: Float64Array, r: number, sum: number): void {
    const { model } = this.binary as NonNullable<SvmModel['binary']>;
    const first = plattProbability(sum - model.rho, model.probA, model.probB);
    out[r * this.classes + model.labels[0]] = first;
    out[r * this.classes + model.labels[1]] = 1 - first;
  }

  /** Releases the model's wasm memory now rather than at garbage collection; it cannot predict afterwards. */
  free(): void {
    if (!this.loaded) return;
    freeLibsvmModel(this, this.loaded);
    this.loaded = undefined;
  }

  state(): ModelState {
    const scaling = packFloat64([this.s.mean, this.s.scale]);
    const payload = new Uint8Array(scaling.length + this.modelText.length);
    payload.set(scaling);
    payload.set(this.modelText, scaling.length);
    return { algorithm: this.algorithm, algorithmVersion: svm.version, featureNames: this.featureNames, classes: this.classes, params: { ...this.params }, payload };
  }
}

/** w of each one-vs-one pair, read from the model text: w_ab = Σ_{SV in a} α·x (column b-1) + Σ_{SV in b} α·x (column a). */
function linearImportances(text: string, featureNames: readonly string[]): ReadonlyMap<string, number> {
  const lines = text.split('\n');
  const sv = lines.indexOf('SV');
  const header = new Map(lines.slice(0, sv).map((line) => [line.split(' ')[0], line.split(' ').slice(1).map(Number)] as const));
  const nrClass = header.get('nr_class')?.[0] ?? 0;
  const nSV = header.get('nr_sv') ?? [];
  const start = nSV.map((_, c) => nSV.slice(0, c).reduce((a, b) => a + b, 0));
  const total = nSV.reduce((a, b) => a + b, 0);
  const p = featureNames.length;
  const pairs = (nrClass * (nrClass - 1)) / 2;
  const w = new Float64Array(pairs * p);
  for (let k = 0; k < total; k++) {
    const tokens = lines[sv + 1 + k].split(' ').filter(Boolean);
    const coef = tokens.slice(0, nrClass - 1).map(Number);
    const x = new Float64Array(p);
    for (const t of tokens.slice(nrClass - 1)) {
      const [index, value] = t.split(':');
      x[Number(index) - 1] = Number(value);
    }
    let cls = 0;
    while (cls + 1 < nrClass && start[cls + 1] <= k) cls++;
    let pair = 0;
    for (let a = 0; a < nrClass; a++) {
      for (let b = a + 1; b < nrClass; b++, pair++) {
        const alpha = cls === a ? coef[b - 1] : cls === b ? coef[a] : 0;
        if (alpha !== 0) for (let j = 0; j < p; j++) w[pair * p + j] += alpha * x[j];
      }
    }
  }
  return new Map(featureNames.map((name, j) => {
    let sum = 0;
    for (let q = 0; q < pairs; q++) sum += Math.abs(w[q * p + j]);
    return [name, pairs > 0 ? sum / pairs : 0];
  }));
}

/** Header lines of a model text whose values are numbers the prediction uses. */
const NUMERIC_HEADER = new Set(['gamma', 'coef0', 'rho', 'probA', 'probB']);

/**
 * Refuses a model text holding a value that is not a finite number (libsvm reads "nan" and "inf"
 * and predicts with them), naming it: a header value (gamma, rho, probA, probB) or a support
 * vector's coefficient or feature value.
 */
function checkModelTextNumbers(text: string): void {
  const fail = (what: string, token: string): never => {
    throw new ArtifactError(`svm: the model text's ${what} is ${JSON.stringify(token)}; a stored model parameter must be a finite number`);
  };
  const lines = text.split('\n');
  const sv = lines.indexOf('SV');
  if (sv < 0) throw new ArtifactError('svm: the model text has no "SV" line');
  for (const line of lines.slice(0, sv)) {
    const [key, ...values] = line.trim().split(' ');
    if (!NUMERIC_HEADER.has(key)) continue;
    values.forEach((v, i) => {
      if (!Number.isFinite(Number(v)) || v === '') fail(values.length > 1 ? `${key} ${i}` : key, v);
    });
  }
  for (let k = 0; sv + 1 + k < lines.length; k++) {
    let coefficient = 0;
    for (const token of lines[sv + 1 + k].split(' ')) {
      if (token === '') continue;
      const colon = token.indexOf(':');
      if (colon < 0) {
        if (!Number.isFinite(Number(token))) fail(`support vector ${k} coefficient ${coefficient}`, token);
        coefficient++;
      } else if (!Number.isFinite(Number(token.slice(colon + 1))) || colon === token.length - 1) {
        fail(`support vector ${k} value of feature ${token.slice(0, colon)}`, token.slice(colon + 1));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// the algorithm

/** scikit-learn's gamma='scale': 1 / (p · var(X)) over all values of the (standardised) matrix. */
function scaleGamma(z: Float64Array, p: number): number {
  let mean = 0;
  for (let i = 0; i < z.length; i++) mean += z[i];
  mean /= z.length;
  let variance = 0;
  for (let i = 0; i < z.length; i++) variance += (z[i] - mean) ** 2;
  variance /= z.length;
  return variance > 0 ? 1 / (p * variance) : 1;
}

function checkInput(input: FitInput): void {
  const { features: x, labels, classes, weights } = input;
  if (!Number.isInteger(classes) || classes < 2) throw new Error(`svm.fit: classes must be an integer ≥ 2, got ${classes}`);
  if (labels.length !== x.rows) throw new Error(`svm.fit: ${labels.length} labels for ${x.rows} rows`);
  if (x.featureNames.length === 0) throw new Error('svm.fit: the matrix has no features');
  const seen = new Set<number>();
  for (const y of labels) {
    if (y < 0 || y >= classes) throw new Error(`svm.fit: label ${y} is outside 0..${classes - 1}`);
    seen.add(y);
  }
  if (seen.size < 2) throw new Error(`svm.fit: the training labels hold ${seen.size} class(es); an SVM needs at least two`);
  if (!input.times) {
    throw new Error('svm.fit: no input.times (each row\'s decision day and label end, and the embargo): the SVM\'s probability calibration cross-validates on purged folds of consecutive days and cannot cut them without the rows\' times; pass times (datasetRows gives them for dataset rows)');
  }
  const { start, end, embargoDays } = input.times;
  if (start.length !== x.rows || end.length !== x.rows) throw new Error(`svm.fit: input.times has ${start.length} decision days and ${end.length} label ends for ${x.rows} rows; pass one of each per row`);
  if (!Number.isInteger(embargoDays) || embargoDays < 0) throw new Error(`svm.fit: input.times.embargoDays must be an integer >= 0, got ${embargoDays}`);
  if (weights) {
    if (weights.length !== x.rows) throw new Error(`svm.fit: ${weights.length} weights for ${x.rows} rows`);
    if (weights.some((w) => w !== weights[0]) || !(weights[0] > 0 && Number.isFinite(weights[0]))) {
      throw new Error('svm.fit: the SVM does not support sample weights (libsvm weights classes, not rows); fit it without weights');
    }
  }
}

/** Solver work of a job, for scheduling: SMO costs grow about quadratically with the rows. */
const jobCost = (job: SvmJob) => (job.labels.length ** 2);

/**
 * Runs the jobs longest first, each on the thread with the least work so far (LPT scheduling); the
 * calling thread takes its share too. Remote jobs are all posted before the local ones start, since
 * a local training blocks this thread's event loop.
 */
async function runJobs(jobs: readonly SvmJob[], threads: number, signal: AbortSignal | undefined): Promise<SvmJobResult[]> {
  const pool = sharedPool(threads);
  const lanes = pool ? Math.min(threads, jobs.length) : 1;
  const load = new Float64Array(lanes);
  const lane = new Int32Array(jobs.length);
  const byCost = [...jobs.keys()].sort((a, b) => jobCost(jobs[b]) - jobCost(jobs[a]) || a - b);
  for (const j of byCost) {
    let best = 0;
    for (let l = 1; l < lanes; l++) if (load[l] < load[best]) best = l;
    lane[j] = best;
    load[best] += jobCost(jobs[j]);
  }
  const results: Array<Promise<SvmJobResult>> = new Array(jobs.length);
  for (const j of byCost) if (lane[j] > 0) results[j] = (pool as TaskPool).run(lane[j] - 1, 'svmJob', jobs[j]);
  try {
    // One kernel matrix for this thread's trainings when it runs several of them (other threads compute theirs: same bits).
    const local = byCost.filter((j) => lane[j] === 0);
    const shared = local.length > 1 ? sharedKernelFor(jobs) : undefined;
    for (const j of local) {
      signal?.throwIfAborted();
      results[j] = Promise.resolve(await runSvmJob(jobs[j], shared));
    }
  } catch (error) {
    for (const r of results) r?.catch(() => undefined); // the fit fails with this error, not with theirs
    throw error;
  }
  const done = await Promise.all(results);
  signal?.throwIfAborted();
  return done;
}

export const svm: Algorithm<SvmParams> = {
  name: 'svm',
  version: 1,
  async fit(input: FitInput, raw: SvmParams) {
    const params = parseParams(raw);
    checkInput(input);
    input.signal?.throwIfAborted();
    const x = input.features;
    const p = x.featureNames.length;
    const s = fitStandardiser(x);
    const z = standardise(x, s, new Float64Array(x.rows * p));
    const gamma = Number((params.gamma === 'scale' ? scaleGamma(z, p) : params.gamma).toPrecision(6)); // as the model text stores it
    const options = { kernel: params.kernel, gamma, C: params.C, tolerance: params.tolerance, cacheSizeMb: params.cacheSizeMb, shrinking: params.shrinking };
    const plan = planSvmJobs(z, p, input.labels, options, input.times as NonNullable<FitInput['times']>); // checked by checkInput
    const results = await runJobs(plan.jobs, input.threads ?? 1, input.signal);
    const text = plan.finish(results);
    const runtime = await loadSvmRuntime();
    return new SvmModel(x.featureNames, input.classes, params, s, new TextEncoder().encode(text), () => runtime);
  },
  restore(state: ModelState) {
    const p = state.featureNames.length;
    if (state.payload.length < 16 * p) throw new Error(`svm.restore: payload of ${state.payload.length} bytes cannot hold the ${p}-feature standardiser`);
    const [mean, scale] = unpackFloat64(state.payload.subarray(0, 16 * p), [p, p]);
    requireStandardiser('svm', { mean, scale }, state.featureNames);
    const modelText = state.payload.slice(16 * p);
    checkModelTextNumbers(new TextDecoder('utf-8', { fatal: true }).decode(modelText));
    return new SvmModel(state.featureNames, state.classes, parseParams(state.params), { mean, scale }, modelText, loadedSvmRuntime);
  },
};
