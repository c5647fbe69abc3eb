/**
 * Gradient-boosted trees on the histogram engine: logistic loss (softmax for more than two
 * classes, one tree per class and round), shrinkage, L2 on leaf values, row and column
 * subsampling, and early stopping on a validation slice of the most recent whole decision days,
 * never a random sample of them, with the rows whose labels reach into it left out of the fit
 * (models/early-stopping.ts).
 */
import { z } from 'zod';
import { Mulberry32 } from '../../lib/random';
import { inSharedMemory, sharedBytes, sharedFloat64, sharedInt32 } from '../../lib/threads/shared-memory';
import { idlePoolThreads, type TaskPool } from '../../lib/threads/task-pool';
import { packFloat64, unpackFloat64 } from '../artifact';
import { assertSameFeatures, type Algorithm, type FeatureMatrix, type FitInput, type ModelState, type TrainedModel, type WarmStartOptions } from '../model';
import { binFeatureRange, binRows } from './binning';
import { leafOf, type Tree } from './classification-tree';
import { HistogramRange, RemoteHistogramRange, sharedRange, type HistogramData } from './gradient-histograms';
import { addLeafValue, quantisationScales, quantisationWidths, quantiseRows, rowGradients, toProbabilities, type RowState } from './gradient-rows';
import { binnedLeafOf, growGradientTree, type GradientTreeContext } from './gradient-tree';
import { evenShares } from '../../lib/threads/shares';
import { requireCount, requireFinite } from '../state-checks';
import { earlyStoppingSplit, withTrained } from '../early-stopping';
import { treeArrayLengths, treeArrays, treesFrom } from './tree-payload';

export const gradientBoostingParamsSchema = z.object({
  /** Boosting rounds (the most; early stopping may keep fewer). */
  nRounds: z.number().int().min(1).max(10_000).default(100),
  learningRate: z.number().positive().max(1).default(0.1),
  maxDepth: z.number().int().min(1).max(16).default(6),
  minChildWeight: z.number().min(0).default(1),
  lambda: z.number().min(0).default(1),
  minGain: z.number().min(0).default(0),
  /** Share of rows drawn (without replacement) for each round. */
  subsample: z.number().gt(0).max(1).default(1),
  /** Share of features each tree may split on. */
  colsample: z.number().gt(0).max(1).default(1),
  maxBins: z.number().int().min(2).max(255).default(255),
  /**
   * Share of rows held out for early stopping: the last whole decision days, purged of the fit rows
   * whose labels reach them, fewer days when the purge leaves too few to fit (models/early-stopping.ts;
   * needs input.times); 0 trains on every row for nRounds.
   */
  validationFraction: z.number().min(0).max(0.5).default(0.1),
  /** Stop after this many rounds without a better validation log loss. */
  earlyStoppingRounds: z.number().int().min(1).default(10),
});
export type GradientBoostingParams = z.input<typeof gradientBoostingParamsSchema>;

export class GradientBoostingModel implements TrainedModel {
  readonly algorithm = 'gradient_boosting';
  private readonly outputs: number;
  constructor(
    readonly featureNames: readonly string[],
    readonly classes: number,
    private readonly params: Record<string, unknown>,
    /** Initial raw score(s): the class prior's log-odds (a warm start keeps its champion's). */
    readonly base: Float64Array,
    /** Round-major: trees[round * outputs + k]. */
    readonly trees: readonly Tree[],
    readonly gain: Float64Array,
  ) {
    this.outputs = classes === 2 ? 1 : classes;
  }

  predictProba(features: FeatureMatrix): Float64Array {
    assertSameFeatures(this.featureNames, features.featureNames, 'gradient_boosting.predictProba');
    const p = this.featureNames.length;
    const K = this.outputs;
    const raw = new Float64Array(K);
    const out = new Float64Array(features.rows * this.classes);
    for (let r = 0; r < features.rows; r++) {
      const row = features.values.subarray(r * p, (r + 1) * p);
      raw.set(this.base);
      for (let t = 0; t < this.trees.length; t++) {
        const tree = this.trees[t];
        raw[t % K] += tree.value[leafOf(tree, row)];
      }
      toProbabilities(raw, 0, K, out, r * this.classes);
    }
    return out;
  }

  featureImportances(): ReadonlyMap<string, number> {
    const total = this.gain.reduce((a, b) => a + b, 0) || 1;
    return new Map(this.featureNames.map((name, j) => [name, this.gain[j] / total]));
  }

  /** Raw scores (rows × outputs) of row-major rows [from, to) of `x`: base plus every tree. */
  rawScores(x: FeatureMatrix, from: number, to: number): Float64Array {
    const p = this.featureNames.length;
    const K = this.outputs;
    const raw = new Float64Array((to - from) * K);
    for (let r = from; r < to; r++) {
      const row = x.values.subarray(r * p, (r + 1) * p);
      const o = (r - from) * K;
      raw.set(this.base, o);
      for (let t = 0; t < this.trees.length; t++) raw[o + (t % K)] += this.trees[t].value[leafOf(this.trees[t], row)];
    }
    return raw;
  }

  state(): ModelState {
    const [sizes, ...arrays] = treeArrays([...this.trees]);
    return {
      algorithm: this.algorithm,
      algorithmVersion: gradientBoosting.version,
      featureNames: this.featureNames,
      classes: this.classes,
      params: { ...this.params, trees: this.trees.length },
      payload: packFloat64([sizes, this.base, this.gain, ...arrays]),
    };
  }
}

function logLoss(raw: Float64Array, outputs: number, labels: Int32Array, classes: number): number {
  const proba = new Float64Array(classes);
  let loss = 0;
  const rows = raw.length / outputs;
  for (let r = 0; r < rows; r++) {
    toProbabilities(raw, r * outputs, outputs, proba, 0);
    loss -= Math.log(Math.max(proba[labels[r]], 1e-15));
  }
  return loss / rows;
}

/** Feature ranges per thread, on 4-feature word boundaries, covering [0, stride). */
function featureRanges(stride: number, threads: number): Array<[number, number]> {
  const words = stride / 4;
  const parts = Math.max(1, Math.min(threads, words));
  return Array.from({ length: parts }, (_, t) => [Math.round((t * words) / parts) * 4, Math.round(((t + 1) * words) / parts) * 4]);
}

/**
 * Boosts `rounds` rounds on the input's rows. From scratch the ensemble starts at the class prior;
 * with `start` (a warm start, as LightGBM's init_model) it starts from that model's raw scores on
 * these rows, keeps its base score and trees, and appends the new ones after them.
 */
async function boost(input: FitInput, params: z.output<typeof gradientBoostingParamsSchema>, rounds: number, start?: GradientBoostingModel): Promise<GradientBoostingModel> {
  const split = earlyStoppingSplit(input, params.validationFraction, `gradient_boosting.${start ? 'continueFit' : 'fit'}`);
  // No honest slice although one was asked for (validationFraction 0 asks for the rounds unjudged):
  // a continued ensemble keeps only rounds that beat it on held-out rows, so it adds none; a cold
  // fit has nothing to keep instead and runs no more rounds than early stopping would wait for an
  // improvement (its configured rounds, unjudged, fitted the noise: log loss 1.1-1.8 on a random walk).
  const unjudged = !split.validation && params.validationFraction > 0;
  let trained = `${rounds} rounds on every row`;
  if (unjudged && start) {
    rounds = 0;
    trained = 'no round added to the continued ensemble: none could be judged';
  } else if (unjudged && rounds > params.earlyStoppingRounds) {
    trained = `${params.earlyStoppingRounds} rounds on every row (earlyStoppingRounds; nRounds ${rounds} cannot be judged)`;
    rounds = params.earlyStoppingRounds;
  }
  const record = withTrained(split.record, trained);
  const x = split.fit.features;
  const p = x.featureNames.length;
  const K = input.classes === 2 ? 1 : input.classes;
  const valid = split.validation?.features ?? { values: new Float64Array(0), rows: 0, featureNames: x.featureNames };
  const validLabels = split.validation?.labels ?? new Int32Array(0);
  const validRows = valid.rows;
  const n = x.rows;
  if (n < 2) throw new Error(`gradient_boosting: ${n} training rows left after the validation slice; give more rows or lower validationFraction`);
  const stride = Math.ceil(p / 4) * 4;
  const helpers = idlePoolThreads(input.threads ?? 1);
  const ranges = featureRanges(stride, 1 + (helpers?.indices.length ?? 0));
  const pool = ranges.length > 1 ? helpers?.pool : undefined;
  const thread = (i: number) => (helpers as NonNullable<typeof helpers>).indices[i];
  // Binning is shared out by feature range too: each thread writes its columns of the same arrays.
  const bins = sharedBytes(n * stride);
  const columns = sharedBytes(n * p);
  // Pool threads bin their features from the rows in place when they are in shared memory (as
  // datasetRows makes them); only other matrices are copied there.
  const values = pool ? inSharedMemory(x.values) : x.values;
  const clip = (to: number) => Math.min(to, p);
  const remoteEdges = ranges.slice(1).map(([from, to], i) => (pool as TaskPool).run(thread(i), 'binFeatures', { values, rows: n, p, from: clip(from), to: clip(to), maxBins: params.maxBins, stride, rowMajor: bins, columnMajor: columns }));
  const localEdges = binFeatureRange(values, n, p, 0, clip(ranges[0][1]), params.maxBins, stride, bins, columns);
  const edges = [...localEdges, ...(await Promise.all(remoteEdges)).flat()];
  const data: HistogramData = {
    rows: n,
    stride,
    bins,
    binCounts: Int32Array.from(edges, (e) => e.length + 1),
    order: sharedInt32(n),
    packed: sharedFloat64(n),
    quantisation: sharedFloat64(3),
  };
  const widths = quantisationWidths(n);
  const validBins = binRows(valid, edges, stride);
  const labels = split.fit.labels;
  const weight = split.fit.weights;

  // Start from the (weighted) class prior, or from the model being continued.
  let base: Float64Array;
  let trainRaw: Float64Array;
  let validRaw: Float64Array;
  if (start) {
    base = start.base;
    trainRaw = start.rawScores(x, 0, n);
    validRaw = start.rawScores(valid, 0, validRows);
  } else {
    const prior = new Float64Array(input.classes);
    for (let r = 0; r < n; r++) prior[labels[r]] += weight?.[r] ?? 1;
    const total = prior.reduce((a, b) => a + b, 0);
    const clamp = (q: number) => Math.min(Math.max(q / total, 1e-6), 1 - 1e-6);
    base = K === 1 ? Float64Array.of(Math.log(clamp(prior[1]) / (1 - clamp(prior[1])))) : Float64Array.from(prior, (c) => Math.log(clamp(c)));
    trainRaw = new Float64Array(n * K);
    validRaw = new Float64Array(validRows * K);
    for (let r = 0; r < n; r++) trainRaw.set(base, r * K);
    for (let r = 0; r < validRows; r++) validRaw.set(base, r * K);
  }

  const allowed = sharedBytes(stride).fill(1, 0, p);
  const splitParams = { minChildWeight: params.minChildWeight, lambda: params.lambda, minGain: params.minGain };
  const maxNodes = 2 ** Math.min(params.maxDepth, 20);
  // Per-row state in shared memory: each round's per-row steps are split between the threads.
  const toShared = <T extends Float64Array | Int32Array>(a: T): T => (pool ? inSharedMemory(a) : a);
  const rowState: RowState = {
    K,
    classes: input.classes,
    raw: toShared(trainRaw),
    proba: sharedFloat64(K > 1 ? n * input.classes : 0),
    labels: toShared(labels),
    weights: weight && toShared(weight),
    inSample: sharedBytes(n),
    grad: sharedFloat64(n),
    hess: sharedFloat64(n),
    order: data.order,
    packed: data.packed,
    ...widths,
  };
  trainRaw = rowState.raw;
  const served = ranges.slice(1).map(([from, to]) => sharedRange(data, columns, from, to, allowed, splitParams, rowState, maxNodes));
  const serving = served.map((range, i) => (pool as TaskPool).run(thread(i), 'gradientHistograms', range));
  const remotes = served.map((range) => new RemoteHistogramRange(range));
  const ctx: GradientTreeContext = {
    data,
    edges,
    local: new HistogramRange(data, ranges[0][0], ranges[0][1], allowed, splitParams, columns),
    remotes,
    params: { maxDepth: params.maxDepth, minChildWeight: params.minChildWeight, lambda: params.lambda, learningRate: params.learningRate },
    scratch: new Int32Array(n),
  };

  const trees: Tree[] = [];
  const gains: Float64Array[] = [];
  const earlyStopping = validRows > 0;
  // A continued ensemble competes with itself: new rounds are kept only while they beat it.
  let bestLoss = start && earlyStopping ? logLoss(validRaw, K, validLabels, input.classes) : Infinity;
  let bestRounds = 0;
  let roundsRun = 0;
  try {
    for (const remote of remotes) await remote.untilServing(60_000);
    const stream = new Mulberry32(input.seed);
    const random = stream.next;
    const { inSample } = rowState;
    // Rows [0, n) and order positions [0, count) are split evenly: this thread takes the first share.
    const parts = 1 + remotes.length;
    const shares = (total: number) => evenShares(0, total, parts);
    for (let round = 0; round < rounds; round++) {
      input.signal?.throwIfAborted();
      // Rows drawn once per round (all outputs share them), kept ascending.
      let count = n;
      if (params.subsample >= 1) {
        if (round === 0) inSample.fill(1);
      } else {
        count = 0;
        for (let r = 0; r < n; r++) {
          inSample[r] = random() < params.subsample ? 1 : 0;
          count += inSample[r];
        }
      }
      for (let k = 0; k < K; k++) {
        const rowShares = shares(n);
        const allSampled = count === n;
        remotes.forEach((remote, t) => remote.startGradients(k, rowShares[t + 1], rowShares[t + 2], allSampled));
        let [gAbs, hTop] = rowGradients(rowState, k, 0, rowShares[1], allSampled);
        for (const remote of remotes) {
          const [g, h] = remote.finishGradients();
          gAbs = Math.max(gAbs, g);
          hTop = Math.max(hTop, h);
        }
        if (!allSampled) for (let r = 0, o = 0; r < n; r++) if (inSample[r]) data.order[o++] = r;
        // One draw per sampled row, numbered by its position, so each thread computes its own.
        const drawState = stream.take(count);
        const [gScale, hScale] = quantisationScales(rowState, gAbs, hTop);
        const positions = shares(count);
        remotes.forEach((remote, t) => remote.startQuantise(positions[t + 1], positions[t + 2], gScale, hScale, drawState));
        let packedSum = quantiseRows(rowState, 0, positions[1], gScale, hScale, drawState);
        for (const remote of remotes) packedSum += remote.finishQuantise();
        data.quantisation.set([rowState.shift, 1 / gScale, 1 / hScale]);
        if (params.colsample < 1) sampleFeatures(allowed, p, params.colsample, random);
        const grown = growGradientTree(ctx, count, packedSum);
        trees.push(grown.tree);
        gains.push(grown.gain);
        // Each share of positions gets the pieces of the leaves' segments that fall in it.
        const { leaves } = grown;
        const pieces = (from: number, to: number) => {
          const out: Array<[number, number, number, number]> = [];
          for (let l = 0; l < leaves.length; l += 3) {
            const start = Math.max(leaves[l + 1], from);
            const end = Math.min(leaves[l + 2], to);
            if (start < end) out.push([start, end, k, grown.tree.value[leaves[l]]]);
          }
          return out;
        };
        remotes.forEach((remote, t) => remote.startLeaves(pieces(positions[t + 1], positions[t + 2])));
        for (const [start, end, , value] of pieces(0, positions[1])) addLeafValue(rowState, k, value, start, end);
        for (const remote of remotes) remote.finish();
        if (count < n) for (let r = 0; r < n; r++) if (!inSample[r]) trainRaw[r * K + k] += grown.tree.value[binnedLeafOf(grown.tree, grown.binThreshold, data.bins, r * stride)];
        for (let r = 0; r < validRows; r++) validRaw[r * K + k] += grown.tree.value[binnedLeafOf(grown.tree, grown.binThreshold, validBins, r * stride)];
      }
      roundsRun = round + 1;
      if (!earlyStopping) continue;
      const loss = logLoss(validRaw, K, validLabels, input.classes);
      if (loss < bestLoss) {
        bestLoss = loss;
        bestRounds = roundsRun;
      } else if (roundsRun - bestRounds >= params.earlyStoppingRounds) break;
    }
  } finally {
    for (const remote of remotes) remote.stop();
    await Promise.all(serving);
  }
  const kept = earlyStopping ? bestRounds : roundsRun;
  const gain = start ? Float64Array.from(start.gain) : new Float64Array(p);
  for (const g of gains.slice(0, kept * K)) for (let j = 0; j < p; j++) gain[j] += g[j];
  const summary = { ...params, roundsRun, bestRounds: kept, validationLogLoss: earlyStopping && Number.isFinite(bestLoss) ? bestLoss : null, earlyStopping: record };
  if (!start) return new GradientBoostingModel(x.featureNames, input.classes, summary, base, trees.slice(0, kept * K), gain);
  // nRounds stays the recipe's (what a cold fit of these params runs); the ensemble's size is the payload's.
  const continued = { ...summary, warmStart: { championTrees: start.trees.length, roundsAdded: kept } };
  return new GradientBoostingModel(x.featureNames, input.classes, continued, base, [...start.trees, ...trees.slice(0, kept * K)], gain);
}

export const gradientBoosting: Algorithm<GradientBoostingParams> = {
  name: 'gradient_boosting',
  version: 1,
  async fit(input: FitInput, raw: GradientBoostingParams) {
    const params = gradientBoostingParamsSchema.parse(raw);
    return boost(input, params, params.nRounds);
  },
  /** Adds up to `extraRounds` rounds to `from`'s ensemble, fitted to these rows (its trees and base score stay). */
  async continueFit(from: TrainedModel, input: FitInput, raw: GradientBoostingParams, warm: WarmStartOptions) {
    if (!(from instanceof GradientBoostingModel)) throw new Error(`gradient_boosting.continueFit: cannot continue a ${from.algorithm} model`);
    assertSameFeatures(from.featureNames, input.features.featureNames, 'gradient_boosting.continueFit');
    if (from.classes !== input.classes) throw new Error(`gradient_boosting.continueFit: the model has ${from.classes} classes, the rows ${input.classes}`);
    if (!Number.isInteger(warm.extraRounds) || warm.extraRounds < 0) throw new Error(`gradient_boosting.continueFit: extraRounds must be an integer ≥ 0, not ${warm.extraRounds}`);
    return boost(input, gradientBoostingParamsSchema.parse(raw), warm.extraRounds, from);
  },
  restore(state: ModelState) {
    const p = state.featureNames.length;
    const K = state.classes === 2 ? 1 : state.classes;
    const what = 'gradient_boosting';
    const treesCount = requireCount(what, state.params.trees, 'params.trees (the number of trees)', 0); // early stopping may keep none: the base score alone
    const [sizes] = unpackFloat64(state.payload.subarray(0, treesCount * 8), [treesCount]);
    const [count, ...lengths] = treeArrayLengths(sizes, 1, what);
    const [sizesAgain, base, gain, ...arrays] = unpackFloat64(state.payload, [count, K, p, ...lengths]);
    requireFinite(what, base, (k) => (K === 1 ? 'base score' : `base score of class ${k}`));
    requireFinite(what, gain, (j) => `gain of feature ${JSON.stringify(state.featureNames[j])}`);
    const params: Record<string, unknown> = { ...state.params };
    delete params.trees; // derived from the payload, re-added by state()
    return new GradientBoostingModel(state.featureNames, state.classes, params, base, treesFrom([sizesAgain, ...arrays], 1, { algorithm: what, features: p }), gain);
  },
};

/** Marks a random share of the p features as allowed for the next tree (partial Fisher–Yates). */
function sampleFeatures(allowed: Uint8Array, p: number, share: number, random: () => number): void {
  const order = Int32Array.from({ length: p }, (_, j) => j);
  const take = Math.max(1, Math.round(share * p));
  allowed.fill(0, 0, p);
  for (let i = 0; i < take; i++) {
    const j = i + Math.floor(random() * (p - i));
    [order[i], order[j]] = [order[j], order[i]];
    allowed[order[i]] = 1;
  }
}
