/**
 * Neural network classifiers: `mlp` and the sequence model `sequenceModel` (a 1-D convolution,
 * name 'conv1d'), trained and evaluated by the WebAssembly kernel in network-kernel.ts.
 */
export { sequenceModel, sequenceParamsSchema, type SequenceParams } from './conv1d';
export { mlp, mlpParamsSchema, type MlpParams } from './mlp';
export { NeuralModel, type NeuralAlgorithm } from './neural-model';
export type { TrainingSummary } from './network';
