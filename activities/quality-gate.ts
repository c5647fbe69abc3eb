import { Context } from '@temporalio/activity';
import { BadInputError } from '../lib/errors';
import { providerAnswersNote } from '../lib/ingest/import-bars';
import { judgeSnapshot } from '../lib/ingest/judge';
import type { GateVerdict } from '../lib/quality/report';
import type { Cache } from '../lib/cache/cache';
import { withdrawStaleOnlineVectors } from '../lib/features/online-features';
import type { Database } from '../lib/store/database';
import { getSnapshot } from '../lib/store/snapshots';
import type { PublishResult } from '../lib/store/staging';
import { withFailureMapping } from './failures';
import { whileHeartbeating } from './heartbeat';

export interface QualityGateInput {
  snapshotId: string;
}

export type QualityGateResult = GateVerdict & { published?: PublishResult };

export function qualityGateActivities({ store, cache }: { store: Database; cache?: Cache }) {
  return {
    /**
     * Judges a staged snapshot and publishes it when it passes (one transaction; a retry finds it
     * published and changes nothing), heartbeating while it runs. A failure rejects the snapshot, leaves the published bars as
     * they were, and is non-retryable with the reason.
     */
    async runQualityGate({ snapshotId }: QualityGateInput): Promise<QualityGateResult> {
      return withFailureMapping(async () => {
        // Publishing millions of bars is one long transaction: heartbeats say the worker is alive.
        const { verdict, published } = await whileHeartbeating(() => judgeSnapshot(store, snapshotId), () => ({ snapshotId, phase: 'judge-and-publish' }));
        Context.current().log.info('quality gate', { snapshotId, passed: verdict.passed, reasons: verdict.reasons, published });
        if (!verdict.passed) {
          const snapshot = await getSnapshot(store, snapshotId);
          throw new BadInputError(`Quality gate failed for snapshot ${snapshotId}: ${verdict.reasons.join('; ')}${snapshot ? providerAnswersNote(snapshot) : ''}`, 'QUALITY_GATE_FAILED');
        }
        // Online vectors computed from the bars this publish revised are not served as current (the features step recomputes them).
        if (cache && published && published.revised > 0) {
          const withdrawn = await withdrawStaleOnlineVectors(store, cache);
          if (withdrawn > 0) Context.current().log.info('online vectors of revised bars withdrawn', { snapshotId, withdrawn });
        }
        return { ...verdict, published };
      });
    },
  };
}
