import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { pipelineStatusQuery, searchProgressQuery, type PipelineStatus, type SearchProgress } from '../workflows';

function describeStatus(status: PipelineStatus): string {
  return status.stages.map((s) => `${s.name}: ${s.status}${s.detail ? ` (${s.detail})` : ''}`).join(' | ');
}

/**
 * Prints stage changes and activity heartbeats (e.g. bars written) until the run ends; returns the
 * result or throws the workflow's failure with its reason.
 */
/** "random_forest search 7/20 ▓▓▓▓░░░░░░ best 0.5312 (2 running)" per training child. */
function describeTraining(progress: readonly SearchProgress[]): string {
  return progress
    .map((p) => {
      const filled = Math.round((10 * (p.trialsDone + p.trialsFailed)) / Math.max(1, p.budget));
      const bar = '▓'.repeat(filled) + '░'.repeat(10 - filled);
      return `${p.algorithm} ${p.phase} ${p.trialsDone + p.trialsFailed}/${p.budget} ${bar}${p.bestScore !== undefined ? ` best ${p.bestScore.toFixed(4)}` : ''}${p.running ? ` (${p.running} running)` : ''}${p.trialsFailed ? ` ${p.trialsFailed} failed` : ''}`;
    })
    .join('; ');
}

export async function followRun<T>(handle: WorkflowHandle, print: (line: string) => void, pollMs = 1000): Promise<T> {
  let last = '';
  const result = handle.result() as Promise<T>;
  let done = false;
  void result.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    try {
      const [status, description] = await Promise.all([handle.query(pipelineStatusQuery), handle.describe()]);
      const pending = description.raw.pendingActivities ?? [];
      const beats = pending
        .map((a) => {
          const payload = a.heartbeatDetails?.payloads?.[0]?.data;
          const detail = payload ? (JSON.parse(Buffer.from(payload).toString('utf8')) as { phase?: string; barsWritten?: number; barsTotal?: number }) : undefined;
          const attempt = (a.attempt ?? 1) > 1 ? ` attempt ${a.attempt}` : '';
          return detail?.phase ? `${a.activityType?.name}${attempt}: ${detail.phase} ${detail.barsWritten ?? 0}/${detail.barsTotal ?? 0}` : `${a.activityType?.name}${attempt}`;
        })
        .join(', ');
      const children = Object.values(status.trainingWorkflows ?? {});
      const training = (await Promise.all(children.map((id) => handle.client.getHandle(id).query(searchProgressQuery).catch(() => undefined)))).filter((p): p is SearchProgress => p !== undefined);
      const line = describeStatus(status) + (beats ? `  [${beats}]` : '') + (training.length > 0 ? `\n    training: ${describeTraining(training)}` : '');
      if (line !== last) print(line);
      last = line;
    } catch {
      // The first query can race the first workflow task; the next poll will answer.
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, pollMs))]);
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
