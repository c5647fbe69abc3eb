/** Task queues of the worker process: orchestration and light I/O vs CPU-heavy work. */
export const TASK_QUEUES = {
  pipeline: 'ml-pipeline',
  training: 'ml-training',
} as const;
