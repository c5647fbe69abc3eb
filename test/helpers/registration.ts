/** The registry fields a test model has no real value for: no snapshot, run or metrics. */
export const UNTRACKED_REGISTRATION = {
  snapshotId: null,
  snapshotHash: null,
  codeVersion: 'test',
  workflowId: null,
  runId: null,
  metrics: {},
  lineage: {},
} as const;
