/**
 * Types for the part of libsvm-js 0.2.1 that models/svm/libsvm-wasm.ts uses: `src/loadSVM.js`, which
 * wraps an instantiated emscripten module of libsvm (see libsvm-wasm.ts for how the module is created).
 */
declare module 'libsvm-js/src/loadSVM' {
  interface LibsvmOptions {
    /** One of SVM_TYPES (a string holding libsvm's numeric code). */
    type?: string;
    /** One of KERNEL_TYPES. */
    kernel?: string;
    gamma?: number;
    cost?: number;
    /** libsvm's stopping tolerance (-e). */
    tolerance?: number;
    /** Kernel cache in MB (-m). */
    cacheSize?: number;
    shrinking?: boolean;
    probabilityEstimates?: boolean;
    /** Per-class weights (-wi): label -> weight. */
    weight?: Record<number, number>;
    quiet?: boolean;
  }

  interface LibsvmSVM {
    /** Copies the rows into wasm memory (kept until free()) and trains. */
    train(samples: ReadonlyArray<ArrayLike<number>>, labels: ArrayLike<number>): void;
    /** The model in libsvm's model-file text format (svm_save_model). */
    serializeModel(): string;
    /** Frees the wasm copy of the training rows and the model. */
    free(): void;
    getLabels(): number[];
    /** Row indices (0-based, in the order passed to train) of the support vectors, in the model text's order. */
    getSVIndices(): number[];
    predictOneProbability(sample: ArrayLike<number>): { prediction: number; estimates: Array<{ label: number; probability: number }> };
  }

  interface LibsvmSVMClass {
    new (options?: LibsvmOptions): LibsvmSVM;
    readonly SVM_TYPES: { readonly C_SVC: string; readonly NU_SVC: string; readonly ONE_CLASS: string; readonly EPSILON_SVR: string; readonly NU_SVR: string };
    readonly KERNEL_TYPES: { readonly LINEAR: string; readonly POLYNOMIAL: string; readonly RBF: string; readonly SIGMOID: string; readonly PRECOMPUTED: string };
    /** Unsafe for large models (the text goes through the wasm stack): svm.ts loads through the heap instead. */
    load(serializedModel: string): LibsvmSVM;
  }

  function loadSVM(libsvm: object): LibsvmSVMClass;
  export = loadSVM;
}
