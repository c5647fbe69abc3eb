/**
 * Multi-layer perceptron: standardised features → dense ReLU layers (`hiddenLayers`, dropout
 * after each) → softmax over the classes. Adam on seeded minibatches, early stopping on a slice
 * of whole decision days purged of the rows whose labels reach them (models/early-stopping.ts;
 * see network.ts for the training loop and weight order).
 */
import { z } from 'zod';
import type { FitInput, ModelState, TrainedModel, WarmStartOptions } from '../model';
import { fitStandardiser } from '../standardiser';
import type { Architecture } from './network';
import { fitNeural, leadingRows, NeuralModel, parseParams, restoreNeural, trainingParamsShape, type NeuralAlgorithm } from './neural-model';

export const mlpParamsSchema = z.object({
  /** Units of each hidden layer, input side first; [] is a (multinomial) logistic regression. */
  hiddenLayers: z
    // Also "64,32" (a search-space choice holds plain values, not arrays); "" is no hidden layer.
    .preprocess((v) => (typeof v === 'string' ? (v.trim() === '' ? [] : v.split(',').map((x) => Number(x.trim()))) : v), z.array(z.number().int().min(1).max(4096)).max(16))
    .default([64, 32]),
  /** Hidden activation; stored so that the architecture is fully described by the params. */
  activation: z.literal('relu').default('relu'),
  ...trainingParamsShape,
});
export type MlpParams = z.input<typeof mlpParamsSchema>;
type Parsed = z.output<typeof mlpParamsSchema>;

const NAME = 'mlp';
const VERSION = 1;

function architecture(params: Parsed, inputs: number, classes: number): Architecture {
  return { inputs, conv: null, hidden: params.hiddenLayers, classes };
}

export const mlp: NeuralAlgorithm<MlpParams> = {
  name: NAME,
  version: VERSION,
  async fit(input: FitInput, raw: MlpParams) {
    const params = parseParams(mlpParamsSchema, raw, `${NAME}.fit`);
    return fitNeural(input, {
      algorithm: NAME,
      version: VERSION,
      params,
      architecture: architecture(params, input.features.featureNames.length, input.classes),
      standardiser: (x, trainRows) => fitStandardiser(leadingRows(x, trainRows)),
    });
  },
  /**
   * Continues training from `from`'s weights (and its standardiser) for at most `warm.epochs`
   * epochs of `params`' optimiser settings; the hidden layers must be the model's.
   */
  async continueFit(from: TrainedModel, input: FitInput, raw: MlpParams, warm: WarmStartOptions) {
    if (!(from instanceof NeuralModel) || from.algorithm !== NAME) throw new Error(`${NAME}.continueFit: cannot continue a ${from.algorithm} model`);
    if (!Number.isInteger(warm.epochs) || warm.epochs < 1) throw new Error(`${NAME}.continueFit: epochs must be an integer ≥ 1, not ${warm.epochs}`);
    const params = parseParams(mlpParamsSchema, { ...(raw as Record<string, unknown>), epochs: warm.epochs }, `${NAME}.continueFit`);
    const spec = { algorithm: NAME, version: VERSION, params, architecture: architecture(params, input.features.featureNames.length, input.classes), standardiser: () => from.s };
    return fitNeural(input, spec, from);
  },
  restore(state: ModelState) {
    const params = parseParams(mlpParamsSchema, state.params, `${NAME}.restore`);
    return restoreNeural(state, { algorithm: NAME, version: VERSION, params, architecture: architecture(params, state.featureNames.length, state.classes) });
  },
};
