/**
 * Probability outputs for the SVM: Platt scaling fitted on cross-validated decision values, as
 * libsvm's `-b 1` does (Lin, Lin & Weng 2007, "A note on Platt's probabilistic outputs for support
 * vector machines"), but planned here so that the five cross-validation trainings and the final
 * training are independent jobs that run on several threads at once. libsvm runs them one after
 * another inside svm_train, which is why a probability SVM costs six trainings of wall time there.
 *
 * Per pair of classes (one pair for a binary problem), the pair's rows are cut into five folds of
 * consecutive decision days, purged and embargoed as the training's cross-validation
 * (purgedKFold in lib/validation/splits.ts): a fold's C-SVC trains on the other folds' rows whose
 * labels do not reach into the fold's days and that do not start within the embargo after them.
 * libsvm's random folds would not do for rows of a time series: a 5-session label shares four
 * sessions with the next day's, and neighbouring days have nearly the same features, so a held-out
 * row's neighbours in the training folds give away its outcome and the decision values look more
 * certain than they are out of sample, giving a sigmoid too steep (overconfident probabilities).
 * Each fold's decision values come from its C-SVC; a sigmoid 1 / (1 + exp(A·f + B)) is fitted to
 * all of them. The (A, B) of each pair go into
 * the final model's text as libsvm's probA / probB, so libsvm itself predicts the probabilities
 * (pairwise coupling for more than two classes), exactly as for a model it scaled itself.
 */
import { decisionValues, headerValues, kernelExpansion } from './decision-function';
import { loadSvmRuntime, trainCsvc, type CsvcOptions } from './libsvm-wasm';
import { binaryModelText, formatG, KernelMatrix, solveBinaryCsvc } from './smo-solver';
import { BadInputError } from '../../lib/errors';
import { purgedKFold, type PurgedFold } from '../../lib/validation/splits';
import type { FitTimes } from '../model';

export const PROBABILITY_FOLDS = 5;

/** One C-SVC training: the final model (text kept) or a fold (decision values of its held-out rows). */
export interface SvmJob {
  /** Row-major standardised training rows. */
  rows: Float64Array;
  p: number;
  labels: Int32Array;
  options: CsvcOptions;
  /** A fold's held-out rows; their decision values are returned, positive for label `positive`. */
  heldOut?: Float64Array;
  /** Index of each held-out row in the matrix the plan was made from. */
  heldOutRows?: Int32Array;
  positive?: number;
  /** Index of each training row in the matrix the plan was made from (for a shared kernel matrix). */
  sourceRows: Int32Array;
}

export interface SvmJobResult {
  text?: string;
  decisions?: Float64Array;
}

/** Do the labels hold exactly two classes? */
function twoClasses(labels: Int32Array): boolean {
  let other: number | undefined;
  for (const y of labels) {
    if (y === labels[0]) continue;
    if (other === undefined) other = y;
    else if (y !== other) return false;
  }
  return other !== undefined;
}

/**
 * The kernel matrix of all the plan's rows, when its jobs are two-class trainings that can share it
 * (it fits in their cache, as their own full matrices would): computed once instead of six times.
 * `undefined` otherwise. Sharing changes no bit of any result (smo-solver.ts).
 */
export function sharedKernelFor(jobs: readonly SvmJob[]): KernelMatrix | undefined {
  const final = jobs[0];
  if (!final || final.heldOut || jobs.length < 2 || !twoClasses(final.labels)) return undefined;
  if (KernelMatrix.bytes(final.labels.length) > final.options.cacheSizeMb * 1024 * 1024) return undefined;
  return new KernelMatrix(final.rows, final.p, final.labels.length, final.options);
}

/**
 * Runs one job (also the body of the `svmJob` thread task): two classes in our SMO solver
 * (smo-solver.ts, libsvm's algorithm on dense rows, with libsvm's kernel cache where the Q matrix
 * does not fit it), more classes in this thread's libsvm runtime.
 * `shared`: sharedKernelFor(the plan's jobs), in the thread that made it.
 */
export async function runSvmJob(job: SvmJob, shared?: KernelMatrix): Promise<SvmJobResult> {
  if (twoClasses(job.labels)) {
    const model = solveBinaryCsvc(job.rows, job.p, job.labels, job.options, shared && { matrix: shared, rows: job.sourceRows });
    if (!job.heldOut) return { text: binaryModelText(model, job.rows, job.p, job.options) };
    // the fold's decision function as the text would give it: coefficients and rho as %g writes them
    const coef = Float64Array.from(model.coef, (c) => Number(formatG(c, 16)));
    return { decisions: heldOutDecisions(job, job.heldOut, { supportRows: model.supportRows, coef, rho: Number(formatG(model.rho)), first: model.labels[0] }) };
  }
  const instance = await loadSvmRuntime();
  const { text, supportRows } = trainCsvc(instance, job.rows, job.p, job.labels, job.options);
  if (!job.heldOut) return { text };
  const lines = text.slice(text.indexOf('\nSV\n') + 4).split('\n');
  const coef = Float64Array.from(supportRows, (_, k) => Number(lines[k].slice(0, lines[k].indexOf(' '))));
  return { decisions: heldOutDecisions(job, job.heldOut, { supportRows, coef, rho: headerValues(text, 'rho')[0], first: headerValues(text, 'label')[0] }) };
}

/**
 * A fold model's decision values on its held-out rows, signed so that positive means
 * `job.positive` (`first`: the model's first label). Support vectors are the exact training rows
 * (a model text rounds them to 8 digits).
 */
function heldOutDecisions(job: SvmJob, heldOut: Float64Array, fold: { supportRows: Int32Array; coef: Float64Array; rho: number; first: number }): Float64Array {
  const { p, options } = job;
  const sv = new Float64Array(fold.supportRows.length * p);
  fold.supportRows.forEach((r, k) => sv.set(job.rows.subarray(r * p, r * p + p), k * p));
  const values = decisionValues(kernelExpansion(sv, p, fold.coef, fold.rho, options.kernel, options.gamma), heldOut);
  if (fold.first !== job.positive) for (let i = 0; i < values.length; i++) values[i] = -values[i];
  return values;
}

/**
 * Platt's sigmoid P(positive | f) = 1 / (1 + exp(A·f + B)) fitted by Newton's method with
 * backtracking on regularised targets (Lin, Lin & Weng's algorithm 1, libsvm's sigmoid_train).
 */
export function plattSigmoid(decisions: Float64Array, positive: Uint8Array): { A: number; B: number } {
  const n = decisions.length;
  let prior1 = 0;
  for (let i = 0; i < n; i++) prior1 += positive[i];
  const prior0 = n - prior1;
  const maxIterations = 100;
  const minStep = 1e-10;
  const sigma = 1e-12; // keeps the Hessian positive definite
  const eps = 1e-5;
  const hiTarget = (prior1 + 1) / (prior1 + 2);
  const loTarget = 1 / (prior0 + 2);
  const t = Float64Array.from(positive, (y) => (y ? hiTarget : loTarget));
  const objective = (A: number, B: number) => {
    let f = 0;
    for (let i = 0; i < n; i++) {
      const fApB = decisions[i] * A + B;
      f += fApB >= 0 ? t[i] * fApB + Math.log1p(Math.exp(-fApB)) : (t[i] - 1) * fApB + Math.log1p(Math.exp(fApB));
    }
    return f;
  };
  let A = 0;
  let B = Math.log((prior0 + 1) / (prior1 + 1));
  let fval = objective(A, B);
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    let h11 = sigma;
    let h22 = sigma;
    let h21 = 0;
    let g1 = 0;
    let g2 = 0;
    for (let i = 0; i < n; i++) {
      const fApB = decisions[i] * A + B;
      const e = Math.exp(-Math.abs(fApB));
      const p = fApB >= 0 ? e / (1 + e) : 1 / (1 + e);
      const q = 1 - p;
      const d2 = p * q;
      h11 += decisions[i] * decisions[i] * d2;
      h22 += d2;
      h21 += decisions[i] * d2;
      const d1 = t[i] - p;
      g1 += decisions[i] * d1;
      g2 += d1;
    }
    if (Math.abs(g1) < eps && Math.abs(g2) < eps) break;
    const det = h11 * h22 - h21 * h21;
    const dA = -(h22 * g1 - h21 * g2) / det;
    const dB = -(-h21 * g1 + h11 * g2) / det;
    const gd = g1 * dA + g2 * dB;
    let step = 1;
    while (step >= minStep) {
      const newA = A + step * dA;
      const newB = B + step * dB;
      const newF = objective(newA, newB);
      if (newF < fval + 0.0001 * step * gd) {
        A = newA;
        B = newB;
        fval = newF;
        break;
      }
      step /= 2;
    }
    if (step < minStep) break; // line search failed: keep the best point found
  }
  return { A, B };
}

/** Adds libsvm's probA / probB lines (one value per pair of classes) to a model text. */
export function withProbabilities(text: string, sigmoids: ReadonlyArray<{ A: number; B: number }>): string {
  const at = text.indexOf('\nnr_sv ');
  if (at < 0 || /^probA /m.test(text)) throw new Error('svm: unexpected model text (no nr_sv line, or probabilities already present)');
  const lines = `\nprobA ${sigmoids.map((s) => String(s.A)).join(' ')}\nprobB ${sigmoids.map((s) => String(s.B)).join(' ')}`;
  return text.slice(0, at) + lines + text.slice(at);
}

/** Row indices → their rows, gathered contiguously. */
function gather(z: Float64Array, p: number, indices: ArrayLike<number>): Float64Array {
  const out = new Float64Array(indices.length * p);
  for (let i = 0; i < indices.length; i++) out.set(z.subarray(indices[i] * p, indices[i] * p + p), i * p);
  return out;
}

/**
 * The calibration folds of one pair's rows (`rows`, indices into the plan's matrix, ascending):
 * purgedKFold over their times, as indices into the plan's matrix. A short window (a rolling
 * walk-forward's, a small search fold) may hold too few days for five folds with the whole
 * dataset's embargo: the embargo is shortened first (the purge alone already keeps every training
 * row's label out of the held-out days; the embargo is a margin beyond it), then the folds are
 * fewer, down to two, rather than failing a window every other model trains on. Only when two
 * purged folds without embargo cannot be cut does the fit fail.
 */
export function calibrationFolds(rows: Int32Array, times: FitTimes): PurgedFold[] {
  const start = rows.map((r) => times.start[r]);
  const end = rows.map((r) => times.end[r]);
  const attempts: Array<{ folds: number; embargoDays: number }> = [];
  for (let e = times.embargoDays; e > 0; e = Math.floor(e / 2)) attempts.push({ folds: PROBABILITY_FOLDS, embargoDays: e });
  for (let k = PROBABILITY_FOLDS; k >= 2; k--) attempts.push({ folds: k, embargoDays: 0 });
  let first: BadInputError | undefined;
  for (const attempt of attempts) {
    try {
      const folds = purgedKFold({ start, end }, attempt);
      const toRows = (indices: Int32Array) => indices.map((i) => rows[i]);
      return folds.map((f) => ({ ...f, train: toRows(f.train), test: toRows(f.test), purged: toRows(f.purged), embargoed: toRows(f.embargoed) }));
    } catch (error) {
      if (!(error instanceof BadInputError)) throw error;
      first ??= error;
    }
  }
  const error = first as BadInputError;
  throw new BadInputError(`svm: the probability calibration's purged folds cannot be cut from these ${rows.length} training rows, not even two without embargo: ${error.message}`, error.code);
}

/**
 * The trainings behind a probability SVM: job 0 is the final model on all rows, then five fold
 * jobs per pair of classes (pairs in libsvm's class order: first appearance in the labels), the
 * folds cut in time from `times` (calibrationFolds).
 * `finish` turns their results into the final model text with probA / probB.
 */
export function planSvmJobs(z: Float64Array, p: number, labels: Int32Array, options: CsvcOptions, times: FitTimes): { jobs: SvmJob[]; finish(results: readonly SvmJobResult[]): string } {
  const order: number[] = [];
  for (const y of labels) if (!order.includes(y)) order.push(y);
  const jobs: SvmJob[] = [{ rows: z, p, labels, options, sourceRows: Int32Array.from(labels.keys()) }];
  interface Fold {
    job?: number;
    heldOut: Int32Array;
    /** Set when the fold's training rows hold one class: libsvm's fixed decision values. */
    constant?: number;
  }
  const pairs: Array<{ positive: number; rows: Int32Array; folds: Fold[] }> = [];
  for (let i = 0; i < order.length; i++) {
    for (let j = i + 1; j < order.length; j++) {
      const positive = order[i];
      const negative = order[j];
      const rows = Int32Array.from(labels.keys()).filter((r) => labels[r] === positive || labels[r] === negative);
      const folds: Fold[] = [];
      for (const { train, test: heldOut } of calibrationFolds(rows, times)) {
        let positives = 0;
        for (const r of train) if (labels[r] === positive) positives++;
        if (positives === 0 || positives === train.length) {
          folds.push({ heldOut, constant: positives > 0 ? 1 : -1 });
          continue;
        }
        folds.push({ heldOut, job: jobs.length });
        jobs.push({ rows: gather(z, p, train), p, labels: train.map((r) => labels[r]), options, heldOut: gather(z, p, heldOut), heldOutRows: heldOut, positive, sourceRows: train });
      }
      pairs.push({ positive, rows, folds });
    }
  }
  return {
    jobs,
    finish(results) {
      const sigmoids = pairs.map(({ positive, folds }) => {
        const n = folds.reduce((s, f) => s + f.heldOut.length, 0);
        const decisions = new Float64Array(n);
        const isPositive = new Uint8Array(n);
        let at = 0;
        for (const fold of folds) {
          const values = fold.job === undefined ? undefined : results[fold.job].decisions;
          if (fold.job !== undefined && !values) throw new Error('svm: a cross-validation job returned no decision values');
          for (let i = 0; i < fold.heldOut.length; i++, at++) {
            decisions[at] = values ? values[i] : (fold.constant ?? 0);
            isPositive[at] = labels[fold.heldOut[i]] === positive ? 1 : 0;
          }
        }
        return plattSigmoid(decisions, isPositive);
      });
      const text = results[0].text;
      if (text === undefined) throw new Error('svm: the final training returned no model text');
      return withProbabilities(text, sigmoids);
    },
  };
}
