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
