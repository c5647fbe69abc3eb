/**
 * libsvm 3.22 compiled to wasm (libsvm-js 0.2.1): one instance per thread, created on first use,
 * that trains C-SVC models (no probability: Platt scaling is ours, see probability.ts) and predicts
 * from model texts.
 *
 * We build the instance from libsvm-js's emscripten output ourselves instead of requiring the
 * package main, because that main (a) registers `process.on('unhandledRejection', () =>
 * process.exit(1))`, which would silently exit the whole worker on any unhandled rejection, (b)
 * would call `process.exit` on a libsvm usage error, and (c) gives one instance only. Here the glue
 * sees a stub `process` (no listener; exit throws) and no `fetch` (so Node loads the .wasm from
 * disk without a "streaming compile failed" warning). libsvm-js's own `loadSVM` wrapper is used on
 * top. Emscripten instantiates wasm asynchronously while `restore` is synchronous, so
 * `loadSvmRuntime()` must have been awaited once in the thread before a model is restored.
 *
 * Training without probability estimates never calls C `rand()`, so a C-SVC training is a pure
 * function of rows, labels and parameters: the runtime instance can be reused for every fit.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { compileFunction } from 'node:vm';
import loadSVM from 'libsvm-js/src/loadSVM';
import type { SmoOptions } from './smo-solver';

type LibsvmClass = ReturnType<typeof loadSVM>;

/** The emscripten module object of libsvm-js's wasm build (exports used here only). */
export interface LibsvmWasm {
  readonly HEAPU8: Uint8Array;
  readonly HEAP32: Int32Array;
  readonly HEAPF64: Float64Array;
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

export interface LibsvmInstance {
  wasm: LibsvmWasm;
  SVM: LibsvmClass;
}

const GLUE_FILE = require.resolve('libsvm-js/out/wasm/libsvm.js');
type Glue = (module: { exports: unknown }, exports: unknown, require: NodeJS.Require, dirname: string, filename: string) => void;
let glue: Glue | undefined;

async function createInstance(): Promise<LibsvmInstance> {
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

let runtime: LibsvmInstance | undefined;
let runtimeLoading: Promise<LibsvmInstance> | undefined;

/** Loads (once per thread) the wasm instance that SVM models train and predict in. */
export async function loadSvmRuntime(): Promise<LibsvmInstance> {
  runtimeLoading ??= createInstance().then(
    (instance) => (runtime = instance),
    (error: unknown) => {
      runtimeLoading = undefined; // let a later call retry
      throw error;
    },
  );
  return runtimeLoading;
}

export function loadedSvmRuntime(): LibsvmInstance {
  if (!runtime) throw new Error('svm: the libsvm wasm runtime is not loaded: await loadSvmRuntime() (models/svm/svm) before svm.restore');
  return runtime;
}

/** A C-SVC training's options: libsvm takes the same ones as our solver. */
export type CsvcOptions = SmoOptions;

/**
 * Trains a C-SVC on row-major `rows` (rows × p) and returns libsvm's model text (svm_save_model
 * format) and the support vectors' row indices, in the text's order.
 */
export function trainCsvc(instance: LibsvmInstance, rows: Float64Array, p: number, labels: ArrayLike<number>, options: CsvcOptions): { text: string; supportRows: Int32Array } {
  const { SVM } = instance;
  const machine = new SVM({
    type: SVM.SVM_TYPES.C_SVC,
    kernel: options.kernel === 'linear' ? SVM.KERNEL_TYPES.LINEAR : SVM.KERNEL_TYPES.RBF,
    gamma: options.gamma,
    cost: options.C,
    tolerance: options.tolerance,
    cacheSize: options.cacheSizeMb,
    shrinking: options.shrinking,
    probabilityEstimates: false,
    quiet: true,
  });
  try {
    const n = labels.length;
    machine.train(Array.from({ length: n }, (_, r) => rows.subarray(r * p, r * p + p)), Array.from(labels));
    return { text: machine.serializeModel(), supportRows: Int32Array.from(machine.getSVIndices()) };
  } finally {
    machine.free(); // the wasm copy of the training rows and the training model
  }
}

/** Frees the wasm copy of a model whose owner was garbage collected without free(). */
const finalizer = new FinalizationRegistry<{ wasm: LibsvmWasm; pointer: number }>(({ wasm, pointer }) => wasm._svm_free_model(pointer));

/** A libsvm model loaded from its text into the runtime. */
export interface LoadedLibsvmModel {
  wasm: LibsvmWasm;
  pointer: number;
  /** Our class index of each libsvm probability column (libsvm orders labels by first appearance). */
  columns: Int32Array;
}

export function loadLibsvmModel(owner: object, wasm: LibsvmWasm, text: Uint8Array, classes: number): LoadedLibsvmModel {
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
  finalizer.register(owner, { wasm, pointer }, owner);
  return { wasm, pointer, columns };
}

export function freeLibsvmModel(owner: object, model: LoadedLibsvmModel): void {
  finalizer.unregister(owner);
  model.wasm._svm_free_model(model.pointer);
}
