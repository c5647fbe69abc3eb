export { trainingPipeline, pipelineStatusQuery } from './training-pipeline';
export type { TrainingPipelineInput, TrainingPipelineResult, PipelineStatus, StageState } from './training-pipeline';
