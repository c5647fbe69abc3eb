import fs from 'node:fs';
import path from 'node:path';
import type { History } from '@temporalio/common/lib/proto-utils';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

/** Every run of a workflow id, first to last, following the continued-as-new links. */
export async function historiesOfAllRuns(env: TestWorkflowEnvironment, workflowId: string, firstRunId: string) {
  const runs = [];
  for (let runId: string | undefined = firstRunId; runId; ) {
    const history = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
    runs.push({ runId, history });
    runId = history.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return runs;
}

/**
 * Recorded histories for replay tests (test/fixtures/histories). Re-recorded when RECORD_HISTORIES=1;
 * older recordings stay and keep replaying, which is what makes a change that would break running
 * workflows fail CI (docs/changing-workflows.md).
 */
export const HISTORY_DIR = path.join(__dirname, '..', 'fixtures', 'histories');
export const RECORDING = process.env.RECORD_HISTORIES === '1';
/** Shape of deploymentWorkflow recorded by today's code (the resumable state machine of workflows/deployment/rollout.ts). */
export const DEPLOYMENT_RECORDING_TAG = 'v2';

/** Writes the history of one run (the newest without `runId`) as `<name>.json`, when recording. */
export async function recordHistory(env: TestWorkflowEnvironment, name: string, workflowId: string, runId?: string): Promise<void> {
  if (!RECORDING) return;
  const history = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
  fs.mkdirSync(HISTORY_DIR, { recursive: true });
  fs.writeFileSync(path.join(HISTORY_DIR, `${name}.json`), historyToJSON(history));
}

/**
 * Committed histories whose file name starts with `prefix`, each replayed under the workflow id it
 * was recorded with (a workflow may check its own id, e.g. against a carried state), else its file name.
 */
export function committedHistories(prefix: string): Array<{ file: string; workflowId: string; history: History }> {
  return fs
    .readdirSync(HISTORY_DIR)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
    .sort()
    .map((f) => {
      const history = historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORY_DIR, f), 'utf8')));
      const recorded = (history.events?.[0]?.workflowExecutionStartedEventAttributes as { workflowId?: string | null } | null | undefined)?.workflowId;
      return { file: f, workflowId: recorded || f, history };
    });
}
