/**
 * Neural network classifiers through TensorFlow.js: `mlp` and the sequence model `sequenceModel`
 * (a 1-D convolution, name 'conv1d'). Before restoring either from an artifact, await
 * loadTensorFlow() once (restore is synchronous; fit loads it itself).
 */
export { sequenceModel, sequenceParamsSchema, type SequenceParams } from './conv1d';
export { mlp, mlpParamsSchema, type MlpParams } from './mlp';
export { NeuralModel, type NeuralAlgorithm } from './neural-model';
export type { TrainingSummary } from './network';
export { loadTensorFlow, loadedTensorFlow, requestedBackend, tensorFlowInfo, type NeuralBackend, type TensorFlow, type TensorFlowInfo } from './tensorflow';
