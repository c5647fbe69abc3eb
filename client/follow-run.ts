import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { pipelineStatusQuery, searchProgressQuery, type PipelineStatus, type SearchProgress } from '../workflows';
import { describeHeartbeat, progressSink, type HeartbeatDetail, type ProgressItem, type ProgressSink } from './progress';

/** "search 7/20 best 0.5312 (2 running)" for one training child. */
function describeTraining(p: SearchProgress): string {
  const done = p.trialsDone + p.trialsFailed;
  return `${p.phase} ${done}/${p.budget}${p.bestScore !== undefined ? ` best ${p.bestScore.toFixed(4)}` : ''}${p.running ? ` (${p.running} running)` : ''}${p.trialsFailed ? ` ${p.trialsFailed} failed` : ''}`;
}

/** A pending activity as the server describes it (the fields progress reads). */
export interface PendingActivity {
  activityType?: { name?: string | null } | null;
  attempt?: number | null;
  heartbeatDetails?: { payloads?: Array<{ data?: Uint8Array | null }> | null } | null;
}

function heartbeatOf(a: PendingActivity): HeartbeatDetail | undefined {
  const data = a.heartbeatDetails?.payloads?.[0]?.data;
  if (!data) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(data).toString('utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as HeartbeatDetail) : undefined;
  } catch {
    return undefined;
  }
}

/** What is worth showing of a run: its stages, its running activities with their heartbeats, its training children. */
export function progressItems(status: PipelineStatus, pending: readonly PendingActivity[], training: readonly SearchProgress[]): ProgressItem[] {
  const items: ProgressItem[] = status.stages
    .filter((s) => s.status !== 'pending')
    .map((s) => ({ key: s.name, text: `${s.status}${s.detail ? ` (${s.detail})` : ''}`, active: s.status === 'running' && pending.length === 0 && training.length === 0 }));
  // Several running activities of one type (e.g. one evaluation per algorithm) are one item: "3 running".
  const byType = new Map<string, PendingActivity[]>();
  for (const a of pending) byType.set(a.activityType?.name ?? 'activity', [...(byType.get(a.activityType?.name ?? 'activity') ?? []), a]);
  for (const [name, group] of byType) {
    const retried = group.filter((a) => (a.attempt ?? 1) > 1).map((a) => a.attempt ?? 1);
    const attempt = retried.length ? `attempt ${Math.max(...retried)}` : '';
    if (group.length > 1) {
      items.push({ key: name, text: [`${group.length} running`, attempt].filter(Boolean).join(', '), active: true });
      continue;
    }
    const beat = describeHeartbeat(heartbeatOf(group[0]));
    items.push({ key: name, text: [attempt, beat.text].filter(Boolean).join(' ') || 'running', fraction: beat.fraction, active: true });
  }
  for (const p of training) {
    if (p.phase === 'done') continue;
    items.push({ key: `training ${p.algorithm}`, text: describeTraining(p), fraction: (p.trialsDone + p.trialsFailed) / Math.max(1, p.budget), active: true });
  }
  return items;
}

/**
 * Shows stage changes, activity heartbeats (e.g. bars written) and training progress on stderr until
 * the run ends (a live line on a terminal, a line per change otherwise); returns the result or throws
 * the workflow's failure with its reason.
 */
export async function followRun<T>(handle: WorkflowHandle, sink: ProgressSink = progressSink(), pollMs = 1000): Promise<T> {
  const result = handle.result() as Promise<T>;
  let done = false;
  void result.then(
    () => (done = true),
    () => (done = true),
  );
  try {
    while (!done) {
      try {
        const [status, description] = await Promise.all([handle.query(pipelineStatusQuery), handle.describe()]);
        const children = Object.values(status.trainingWorkflows ?? {});
        const training = (await Promise.all(children.map((id) => handle.client.getHandle(id).query(searchProgressQuery).catch(() => undefined)))).filter((p): p is SearchProgress => p !== undefined);
        sink.update(progressItems(status, description.raw.pendingActivities ?? [], training));
      } catch {
        // The first query can race the first workflow task; the next poll will answer.
      }
      await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, pollMs))]);
    }
  } finally {
    sink.finish();
  }
  try {
    return await result;
  } catch (error) {
    if (error instanceof WorkflowFailedError) {
      const reason = error.cause?.message ?? error.message;
      throw new Error(`Run ${handle.workflowId} failed: ${reason}`, { cause: error });
    }
    throw error;
  }
}
