import { BadInputError } from '../errors';
import { evaluateQualityGate, type GateVerdict } from '../quality/report';
import type { Database } from '../store/database';
import { getSnapshot, setSnapshotStatus, type SnapshotStatus } from '../store/snapshots';
import { publishSnapshot, rejectSnapshot, type PublishResult } from '../store/staging';

export interface Judgement {
  verdict: GateVerdict;
  /** `published` or `rejected`. */
  status: SnapshotStatus;
  /** What the publish added and revised (absent when rejected). */
  published?: PublishResult;
  durationMs: number;
}

/**
 * The quality gate over a staged snapshot: a passed snapshot is published (atomically, once), a
 * failed one is rejected with its reasons and its staging rows deleted. Safe to call again: a
 * judged snapshot keeps its verdict.
 */
export async function judgeSnapshot(store: Database, snapshotId: string): Promise<Judgement> {
  const started = Date.now();
  const snapshot = await getSnapshot(store, snapshotId);
  if (!snapshot) throw new BadInputError(`Snapshot ${snapshotId} does not exist; run the ingest step first`, 'SNAPSHOT_NOT_FOUND');
  if (snapshot.status === 'staging') throw new BadInputError(`Snapshot ${snapshotId} is still being staged; its import has not finished`, 'SNAPSHOT_NOT_STAGED');
  if (snapshot.status === 'rejected' || snapshot.status === 'failed') {
    return { verdict: { passed: false, reasons: [snapshot.statusReason ?? 'rejected'] }, status: snapshot.status, durationMs: Date.now() - started };
  }
  // Published or passed (a publish that did not finish) were judged already; `ingested` is a
  // snapshot recorded before staging (its bars are in the store), judged as any other.
  const verdict = snapshot.status === 'published' || snapshot.status === 'passed' ? { passed: true, reasons: [] } : evaluateQualityGate(snapshot.qualityReport);
  if (!verdict.passed) {
    await rejectSnapshot(store, snapshotId, verdict.reasons.join('; '));
    return { verdict, status: 'rejected', durationMs: Date.now() - started };
  }
  if (snapshot.status !== 'published' && snapshot.status !== 'passed') await setSnapshotStatus(store, snapshotId, 'passed', null);
  const published = await publishSnapshot(store, snapshotId);
  return { verdict, status: 'published', published, durationMs: Date.now() - started };
}
