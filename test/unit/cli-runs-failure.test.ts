import { ApplicationFailure, ActivityFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { failureOf } from '../../client/commands/runs';

describe('mlp runs show: why a run did not complete', () => {
  it("names the failure's causes, outermost first, not just the status", async () => {
    // A run that failed at the quality gate printed only "FAILED" and its Web UI link.
    const gate = ApplicationFailure.nonRetryable('IBM: series rejected whole as lagged_duplicate', 'QUALITY_GATE');
    const activity = new ActivityFailure('activity failed', 'qualityGate', '7', 1 as never, 'default', gate);
    const failed = new WorkflowFailedError('Workflow execution failed', activity, 1 as never);
    await expect(failureOf({ result: () => Promise.reject(failed) })).resolves.toBe('activity failed: IBM: series rejected whole as lagged_duplicate');
  });

  it('says nothing for a run whose result arrives', async () => {
    await expect(failureOf({ result: () => Promise.resolve({}) })).resolves.toBeUndefined();
  });
});
