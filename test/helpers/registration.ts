import type { FeatureSet } from '../../lib/features/feature-set';
import type { Database } from '../../lib/store/database';
import { saveFeatureSet } from '../../lib/store/features';

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

/**
 * Stores a feature set's row (its version and column order), as materialising it does before a
 * pipeline registers any model of it: artifact verification (hence serving, deployments, route
 * changes and loadRegisteredModel) refuses a model whose feature set the store does not hold. The
 * definition is a stand-in (the default is the one the oracle-market tests store); a row already
 * stored under the version is kept.
 */
export async function saveTestFeatureSet(store: Database, version: string, columns: readonly string[], definition: Record<string, unknown> = { name: 'oracle', features: [{ kind: 'return', horizon: 1 }] }): Promise<void> {
  await saveFeatureSet(store, { ...definition, version } as unknown as FeatureSet, columns);
}
