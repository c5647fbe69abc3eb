import { Context } from '@temporalio/activity';
import { BadInputError } from '../lib/errors';
import { evaluateQualityGate, type GateVerdict } from '../lib/quality/report';
import type { Database } from '../lib/store/database';
import { getSnapshot, setSnapshotStatus } from '../lib/store/snapshots';
import { withFailureMapping } from './failures';

export interface QualityGateInput {
  snapshotId: string;
}

export function qualityGateActivities({ store }: { store: Database }) {
  return {
    /** Passes or fails a snapshot; a failure is non-retryable and carries the reason. */
    async runQualityGate({ snapshotId }: QualityGateInput): Promise<GateVerdict> {
      return withFailureMapping(async () => {
        const snapshot = await getSnapshot(store, snapshotId);
        if (!snapshot) throw new BadInputError(`Snapshot ${snapshotId} does not exist; run the ingest step first`, 'SNAPSHOT_NOT_FOUND');
        const verdict = evaluateQualityGate(snapshot.qualityReport);
        await setSnapshotStatus(store, snapshotId, verdict.passed ? 'passed' : 'failed', verdict.passed ? null : verdict.reasons.join('; '));
        Context.current().log.info('quality gate', { snapshotId, passed: verdict.passed, reasons: verdict.reasons });
        if (!verdict.passed) {
          throw new BadInputError(`Quality gate failed for snapshot ${snapshotId}: ${verdict.reasons.join('; ')}`, 'QUALITY_GATE_FAILED');
        }
        return verdict;
      });
    },
  };
}
