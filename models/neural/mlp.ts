/**
 * Multi-layer perceptron: standardised features → dense ReLU layers (`hiddenLayers`, dropout
 * after each) → softmax over the classes. Adam on seeded minibatches, early stopping on the
 * last `validationFraction` of the rows (see network.ts for the training loop and weight order).
 *
 * fit() loads TensorFlow.js itself; restore() is synchronous and needs `await loadTensorFlow()`
 * (models/neural/tensorflow.ts) to have been done once in the process.
 */
import { z } from 'zod';
import type { FitInput, ModelState } from '../model';
import { fitStandardiser } from '../standardiser';
import type { Architecture } from './network';
import { fitNeural, leadingRows, parseParams, restoreNeural, trainingParamsShape, type NeuralAlgorithm } from './neural-model';
import { loadedTensorFlow } from './tensorflow';

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
  restore(state: ModelState) {
    const tf = loadedTensorFlow(`${NAME}.restore`);
    const params = parseParams(mlpParamsSchema, state.params, `${NAME}.restore`);
    return restoreNeural(state, { algorithm: NAME, version: VERSION, params, architecture: architecture(params, state.featureNames.length, state.classes) }, tf);
  },
};
