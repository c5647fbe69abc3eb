import { isGrpcServiceError, ServiceError, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { escapeControl } from '../lib/quality/excerpt';
import { pipelineStatusQuery, searchProgressQuery, type PipelineStatus, type SearchProgress } from '../workflows';
import { describeHeartbeat, progressSink, type HeartbeatDetail, type ProgressItem, type ProgressSink } from './progress';

/** "search 7/20 best 0.5312 (2 running)" for one training child. */
function describeTraining(p: SearchProgress): string {
  const done = p.trialsDone + p.trialsFailed;
  // A query answers in JSON: a best score that is NaN in the workflow (a trial's undefined CV AUC) arrives as null.
  const best = p.bestScore === undefined ? '' : ` best ${typeof p.bestScore === 'number' && Number.isFinite(p.bestScore) ? p.bestScore.toFixed(4) : 'undefined'}`;
  return `${p.phase} ${done}/${p.budget}${best}${p.running ? ` (${p.running} running)` : ''}${p.trialsFailed ? ` ${p.trialsFailed} failed` : ''}`;
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
 * `mlp run`'s exit code when it stopped following a run because Temporal could not be reached for
 * `giveUpMs`: the run itself may still be running (or done), unlike a failed run's 1. 75 is
 * EX_TEMPFAIL (sysexits.h): try again later.
 */
export const LOST_CONTACT_EXIT_CODE = 75;

/** Following stopped without an answer: Temporal was unreachable too long. The run's own state is unknown. */
export class LostContactError extends Error {
  readonly exitCode = LOST_CONTACT_EXIT_CODE;
}

/** gRPC status codes of a server that is gone or not answering (not of a refusal): UNAVAILABLE, DEADLINE_EXCEEDED. */
const LOST_CONTACT_CODES = new Set([14, 4]);

/** Whether an SDK call failed because the server could not be reached (restarting, network down), not because of the run. */
export function isLostContact(error: unknown): boolean {
  const grpc = error instanceof ServiceError ? error.cause : error;
  return isGrpcServiceError(grpc) && LOST_CONTACT_CODES.has(grpc.code);
}

export interface FollowOptions {
  pollMs?: number;
  /** The Temporal address, named when contact is lost. */
  address?: string;
  /** How long Temporal may stay unreachable before following gives up (LostContactError). */
  giveUpMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30_000;
const GIVE_UP_MS = 5 * 60_000;

/** When contact with Temporal was lost (undefined while it answers), shared by the result's wait and the progress polls. */
interface Contact {
  lostSince?: number;
}

/**
 * The run's result, waited for through server restarts: the run lives in Temporal and its worker,
 * not in this process, so a connection lost while waiting (the SDK's own retries spent) is no answer
 * about the run; the wait starts again with backoff until `giveUpMs` without contact.
 */
async function resultThroughOutages<T>(handle: WorkflowHandle, sink: ProgressSink, contact: Contact, options: FollowOptions): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const giveUpMs = options.giveUpMs ?? GIVE_UP_MS;
  const address = options.address ?? 'TEMPORAL_ADDRESS';
  let delay = RETRY_FIRST_MS;
  for (;;) {
    try {
      return (await handle.result()) as T;
    } catch (error) {
      if (!isLostContact(error)) throw error;
      if (contact.lostSince === undefined) {
        contact.lostSince = now();
        delay = RETRY_FIRST_MS;
        sink.note(`lost contact with Temporal at ${address}; run ${handle.workflowId} keeps going; retrying`);
      }
      const left = contact.lostSince + giveUpMs - now();
      if (left <= 0) {
        throw new LostContactError(
          `lost contact with Temporal at ${address} for ${Math.round(giveUpMs / 1000)} s; run ${handle.workflowId} may still be running: see \`mlp runs show ${handle.workflowId}\` once Temporal answers (this is not the run's result)`,
          { cause: error },
        );
      }
      await sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  }
}

/**
 * Shows stage changes, activity heartbeats (e.g. bars written) and training progress on stderr until
 * the run ends (a live line on a terminal, a line per change otherwise); returns the result or throws
 * the workflow's failure with its reason. Temporal unreachable for longer than `giveUpMs` (a server
 * restart that does not come back) ends following with LostContactError, not as a failed run.
 */
export async function followRun<T>(handle: WorkflowHandle, sink: ProgressSink = progressSink(), options: FollowOptions = {}): Promise<T> {
  const pollMs = options.pollMs ?? 1000;
  const contact: Contact = {};
  const result = resultThroughOutages<T>(handle, sink, contact, options);
  let done = false;
  void result.then(
    () => (done = true),
    () => (done = true),
  );
  try {
    while (!done) {
      try {
        // The server answers describe() on its own (a query also needs a worker): contact is back.
        const description = await handle.describe();
        if (contact.lostSince !== undefined) {
          contact.lostSince = undefined;
          sink.note(`Temporal at ${options.address ?? 'TEMPORAL_ADDRESS'} answers again; following run ${handle.workflowId}`);
        }
        const status = await handle.query(pipelineStatusQuery);
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
      // The worker's reason can quote a file's rows or stored text: escaped, one line.
      const reason = escapeControl(error.cause?.message ?? error.message);
      throw new Error(`Run ${handle.workflowId} failed: ${reason}`, { cause: error });
    }
    throw error;
  }
}
