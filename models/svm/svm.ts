/**
 * Support vector classifier (C-SVC, RBF or linear kernel) backed by libsvm 3.22 compiled to wasm
 * (libsvm-js 0.2.1): the same solver as scikit-learn's SVC, so the same support vectors. Features
 * are standardised inside the model; probabilities are libsvm's Platt scaling (pairwise coupling
 * for more than two classes, one-vs-one as libsvm does).
 *
 * The wasm runtime. Emscripten instantiates wasm asynchronously but `restore` is synchronous, so
 * models predict in one shared wasm instance that `loadSvmRuntime()` creates once per process:
 * await it before `svm.restore` (restore throws if it has not been loaded; `fit` awaits it itself).
 * We build instances from libsvm-js's emscripten output ourselves instead of requiring the package
 * main, because that main (a) registers `process.on('unhandledRejection', () => process.exit(1))`,
 * which would silently exit the whole worker on any unhandled rejection, (b) would call
 * `process.exit` on a libsvm usage error, and (c) gives one instance only. Here the glue sees a
 * stub `process` (no listener; exit throws) and no `fetch` (so Node loads the .wasm from disk
 * without a "streaming compile failed" warning). libsvm-js's own `loadSVM` wrapper is used on top.
 *
 * Determinism. libsvm's probability estimates come from an internal 5-fold cross-validation whose
 * folds are drawn with C `rand()`; libsvm-js never seeds it and does not export `srand`, and the
 * rand state lives in wasm memory, so repeated trainings in one instance all differ. Therefore
 * every fit trains in a fresh wasm instance (thrown away afterwards, which also returns its
 * memory, kernel cache included) and, before training, sets rand's state as `srand(seed >>> 0)`
 * would: musl's rand is a 64-bit LCG whose whole state is one static uint64 at RAND_STATE_ADDRESS
 * in this build. Each fresh instance first checks that address with a tiny training (the state
 * must advance exactly as the LCG predicts) and refuses to train if it does not. Same data,
 * parameters and seed therefore give the same model text and byte-identical artifacts, whatever
 * else ran in the process; another seed gives other folds, hence other probA/probB.
 *
 * Precision. A fitted model predicts from libsvm's own model text (svm_save_model), reloaded, just
 * like a restored one, so fit and restore predict bit-identically. That text holds gamma, rho and
 * the Platt parameters to 6 significant digits (%g) and support vectors to 8: probabilities differ
 * from the in-memory training model by well under 1e-6. gamma is rounded to 6 digits before
 * training so that training and prediction use the same kernel.
 *
 * Sample weights: libsvm has per-class weights only, so unequal `input.weights` are refused
 * (equal weights are the unweighted problem: weights are relative, as in the other algorithms).
 * libsvm is single-threaded: `input.threads` is ignored, and `input.signal` is checked before and
 * after training (a running libsvm training cannot be interrupted).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { compileFunction } from 'node:vm';
import loadSVM from 'libsvm-js/src/loadSVM';
import { z } from 'zod';
import { packFloat64, unpackFloat64 } from '../artifact';
import { assertSameFeatures, type Algorithm, type FeatureMatrix, type FitInput, type ModelState, type TrainedModel } from '../model';
import { fitStandardiser, standardise, type Standardiser } from '../standardiser';

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
// wasm instances

type LibsvmClass = ReturnType<typeof loadSVM>;

/** The emscripten module object of libsvm-js's wasm build (exports used here only). */
interface LibsvmWasm {
  readonly HEAPU8: Uint8Array;
  readonly HEAP32: Int32Array;
  readonly HEAPF64: Float64Array;
  readonly STATIC_BASE: number;
  readonly STATIC_BUMP: number;
  /** Resolves when the wasm is instantiated (libsvm-js's src/pre.js). */
  load(): Promise<void>;
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  _deserialize_model(text: number): number;
  _svm_free_model(model: number): void;
  _svm_get_nr_class(model: number): number;
  _svm_get_labels(model: number, out: number): void;
  _libsvm_predict_one_probability(model: number, row: number, size: number, estimates: number): number;
}

interface Instance {
  wasm: LibsvmWasm;
  SVM: LibsvmClass;
}

const GLUE_FILE = require.resolve('libsvm-js/out/wasm/libsvm.js');
type Glue = (module: { exports: unknown }, exports: unknown, require: NodeJS.Require, dirname: string, filename: string) => void;
let glue: Glue | undefined;

/** A new, independent libsvm wasm instance (own memory, own rand state). */
async function createInstance(): Promise<Instance> {
  if (!glue) {
    const processStub = {
      argv: [] as string[],
      platform: process.platform,
      on: () => processStub,
      exit: (code: number) => {
        throw new Error(`libsvm tried to exit the process (status ${code})`);
      },
      binding: () => ({}), // read by emscripten's NODEFS set-up, which is never mounted here
    };
    glue = compileFunction(readFileSync(GLUE_FILE, 'utf8'), ['module', 'exports', 'require', '__dirname', '__filename'], {
      filename: GLUE_FILE,
      contextExtensions: [{ process: processStub, fetch: undefined }],
    }) as Glue;
  }
  const holder: { exports: unknown } = { exports: {} };
  glue(holder, holder.exports, require, path.dirname(GLUE_FILE), GLUE_FILE);
  const wasm = holder.exports as LibsvmWasm;
  await wasm.load();
  // Never resolve a promise with the module object itself: emscripten gives it a `then` method,
  // and promise adoption of that thenable loops forever.
  return { wasm, SVM: loadSVM(wasm) };
}

let runtime: Instance | undefined;
let runtimeLoading: Promise<Instance> | undefined;

/**
 * Loads (once per process) the wasm instance that SVM models predict in. Await it before
 * `svm.restore`; `svm.fit` awaits it itself.
 */
export async function loadSvmRuntime(): Promise<void> {
  runtimeLoading ??= createInstance().then(
    (instance) => (runtime = instance),
    (error: unknown) => {
      runtimeLoading = undefined; // let a later call retry
      throw error;
    },
  );
  await runtimeLoading;
}

function loadedRuntime(): Instance {
  if (!runtime) throw new Error('svm: the libsvm wasm runtime is not loaded: await loadSvmRuntime() (models/svm/svm) before svm.restore');
  return runtime;
}

// ---------------------------------------------------------------------------------------------
// seeding libsvm's rand()

/** musl's `static uint64_t seed` (rand()'s whole state) in libsvm-js 0.2.1's out/wasm/libsvm.wasm. */
const RAND_STATE_ADDRESS = 7248;
const U64 = (1n << 64n) - 1n;
const lcg = (state: bigint): bigint => (6364136223846793005n * state + 1n) & U64; // musl rand()

function setRandState(instance: Instance, state: bigint): void {
  new DataView(instance.wasm.HEAPU8.buffer).setBigUint64(RAND_STATE_ADDRESS, state, true);
}

function randState(instance: Instance): bigint {
  return new DataView(instance.wasm.HEAPU8.buffer).getBigUint64(RAND_STATE_ADDRESS, true);
}

/**
 * Proves RAND_STATE_ADDRESS on this (fresh, throw-away) instance: a binary probability training on
 * l rows draws rand() exactly l times (libsvm's fold permutation), so the state must be lcg^l(s).
 */
function verifyRandState(instance: Instance): void {
  const { STATIC_BASE, STATIC_BUMP } = instance.wasm;
  let ok = RAND_STATE_ADDRESS >= STATIC_BASE && RAND_STATE_ADDRESS + 8 <= STATIC_BASE + STATIC_BUMP;
  if (ok) {
    const start = 0x0123456789abcdefn;
    const rows = Array.from({ length: 10 }, (_, i) => [i / 9]);
    const labels = rows.map((_, i) => (i < 5 ? 0 : 1));
    setRandState(instance, start);
    const probe = new instance.SVM({ type: instance.SVM.SVM_TYPES.C_SVC, kernel: instance.SVM.KERNEL_TYPES.LINEAR, cost: 1, probabilityEstimates: true, quiet: true });
    try {
      probe.train(rows, labels);
    } finally {
      probe.free();
    }
    let expected = start;
    for (let i = 0; i < rows.length; i++) expected = lcg(expected);
    ok = randState(instance) === expected;
  }
  if (!ok) {
    throw new Error('svm: this libsvm-js build is not the one models/svm/svm.ts was written for (libsvm-js 0.2.1): cannot seed its rand(), so its probability estimates would not be reproducible');
  }
}

/** Sets libsvm's rand() state as srand(seed >>> 0) would (musl: state = seed - 1). */
function seedRand(instance: Instance, seed: number): void {
  setRandState(instance, BigInt.asUintN(64, BigInt(seed >>> 0) - 1n));
}

// ---------------------------------------------------------------------------------------------
// a libsvm model loaded in the runtime

/** Frees the wasm copy of a model whose SvmModel was garbage collected without free(). */
const finalizer = new FinalizationRegistry<{ wasm: LibsvmWasm; pointer: number }>(({ wasm, pointer }) => wasm._svm_free_model(pointer));

interface LoadedModel {
  wasm: LibsvmWasm;
  pointer: number;
  /** Our class index of each libsvm probability column (libsvm orders labels by first appearance). */
  columns: Int32Array;
}

function loadModel(wasm: LibsvmWasm, text: Uint8Array, classes: number): LoadedModel {
  // Through the heap, not SVM.load: libsvm-js's SVM.load passes the text as a ccall 'string',
  // which reserves 4 bytes per character on the 5 MB wasm stack without an overflow check. Texts
  // over ~1.3 MB (a few thousand support vectors) run past the stack into the heap; a 7.6 MB one
  // failed with "memory access out of bounds". The heap has no such limit.
  const buffer = wasm._malloc(text.length + 1);
  wasm.HEAPU8.set(text, buffer);
  wasm.HEAPU8[buffer + text.length] = 0;
  let pointer: number;
  try {
    pointer = wasm._deserialize_model(buffer);
  } finally {
    wasm._free(buffer);
  }
  if (!pointer) throw new Error('svm: libsvm could not read the stored model text');
  const n = wasm._svm_get_nr_class(pointer);
  const labelsAt = wasm._malloc(4 * Math.max(n, 1));
  wasm._svm_get_labels(pointer, labelsAt);
  const columns = Int32Array.from(wasm.HEAP32.subarray(labelsAt >> 2, (labelsAt >> 2) + n));
  wasm._free(labelsAt);
  if (n < 2 || new Set(columns).size !== n || columns.some((k) => k < 0 || k >= classes)) {
    wasm._svm_free_model(pointer);
    throw new Error(`svm: the stored model's labels [${columns.join(', ')}] are not distinct classes of 0..${classes - 1}`);
  }
  return { wasm, pointer, columns };
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
  /** Linear kernel only: mean over the one-vs-one classifiers of |w| on the standardised features. */
  readonly featureImportances?: () => ReadonlyMap<string, number>;
  private loaded: LoadedModel | undefined;

  constructor(
    readonly featureNames: readonly string[],
    readonly classes: number,
    private readonly params: ParsedParams,
    private readonly s: Standardiser,
    private readonly modelText: Uint8Array,
    instance: Instance,
  ) {
    if (!/^probA /m.test(this.text())) throw new Error('svm: the stored model has no probability estimates (probA)');
    this.loaded = loadModel(instance.wasm, modelText, classes);
    finalizer.register(this, { wasm: this.loaded.wasm, pointer: this.loaded.pointer }, this);
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
    const m = this.loaded;
    if (!m) throw new Error('svm.predictProba: the model was freed');
    const p = this.featureNames.length;
    const K = this.classes;
    const z = standardise(features, this.s, new Float64Array(features.rows * p));
    const out = new Float64Array(features.rows * K); // a class libsvm never saw keeps probability 0
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

  /** Releases the model's wasm memory now rather than at garbage collection; it cannot predict afterwards. */
  free(): void {
    if (!this.loaded) return;
    finalizer.unregister(this);
    this.loaded.wasm._svm_free_model(this.loaded.pointer);
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
  if (weights) {
    if (weights.length !== x.rows) throw new Error(`svm.fit: ${weights.length} weights for ${x.rows} rows`);
    if (weights.some((w) => w !== weights[0]) || !(weights[0] > 0 && Number.isFinite(weights[0]))) {
      throw new Error('svm.fit: the SVM does not support sample weights (libsvm weights classes, not rows); fit it without weights');
    }
  }
}

export const svm: Algorithm<SvmParams> = {
  name: 'svm',
  version: 1,
  async fit(input: FitInput, raw: SvmParams) {
    const params = parseParams(raw);
    checkInput(input);
    input.signal?.throwIfAborted();
    await loadSvmRuntime();
    const trainer = await createInstance(); // fresh for this fit: see "Determinism" above
    verifyRandState(trainer);
    input.signal?.throwIfAborted();

    const x = input.features;
    const p = x.featureNames.length;
    const s = fitStandardiser(x);
    const z = standardise(x, s, new Float64Array(x.rows * p));
    const gamma = Number((params.gamma === 'scale' ? scaleGamma(z, p) : params.gamma).toPrecision(6)); // as the model text stores it
    const { SVM } = trainer;
    const machine = new SVM({
      type: SVM.SVM_TYPES.C_SVC,
      kernel: params.kernel === 'linear' ? SVM.KERNEL_TYPES.LINEAR : SVM.KERNEL_TYPES.RBF,
      gamma,
      cost: params.C,
      tolerance: params.tolerance,
      cacheSize: params.cacheSizeMb,
      shrinking: params.shrinking,
      probabilityEstimates: true,
      quiet: true,
    });
    let text: string;
    try {
      seedRand(trainer, input.seed);
      machine.train(Array.from({ length: x.rows }, (_, r) => z.subarray(r * p, r * p + p)), input.labels);
      text = machine.serializeModel();
    } finally {
      machine.free(); // the wasm copy of the training rows and the training model
    }
    input.signal?.throwIfAborted();
    return new SvmModel(x.featureNames, input.classes, params, s, new TextEncoder().encode(text), loadedRuntime());
  },
  restore(state: ModelState) {
    const p = state.featureNames.length;
    if (state.payload.length < 16 * p) throw new Error(`svm.restore: payload of ${state.payload.length} bytes cannot hold the ${p}-feature standardiser`);
    const [mean, scale] = unpackFloat64(state.payload.subarray(0, 16 * p), [p, p]);
    return new SvmModel(state.featureNames, state.classes, parseParams(state.params), { mean, scale }, state.payload.slice(16 * p), loadedRuntime());
  },
};
