export { trainingPipeline, pipelineStatusQuery } from './training-pipeline';
export type { TrainingPipelineInput, TrainingPipelineResult, PipelineStatus, StageState } from './training-pipeline';
export { trainAlgorithm, searchProgressQuery } from './train-algorithm';
export type { TrainAlgorithmInput, TrainAlgorithmResult, SearchProgress } from './train-algorithm';
export { deploymentWorkflow, deploymentStateQuery, approveStartUpdate, approveStepUpdate, overrideBlockUpdate, promoteUpdate, pauseUpdate, resumeUpdate, abortUpdate, approveSignal, pauseSignal, resumeSignal, abortSignal } from './deployment';
export type { DeploymentState, DeploymentStatus, AnalysisRecord, DeploymentCarry } from './deployment';
export { monitoringWorkflow, DEFAULT_MONITORING_WINDOW_DAYS } from './monitoring';
export type { MonitoringWorkflowInput, MonitoringSummary, MonitoredVersion, RaisedAlert } from './monitoring';
