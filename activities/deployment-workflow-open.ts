/**
 * Whether a deployment's workflow is still open, asked of Temporal through the activity's client
 * (the deployment id is its workflow id). A deployment workflow that was terminated, failed or timed
 * out leaves its `deployments` row 'running' until the next deployment of the model starts; the
 * checks that exempt a running deployment's own split ask this instead of taking the row at its word.
 */
import { Context } from '@temporalio/activity';
import { deploymentStatusFrom, type DeploymentOpen, type DeploymentWorkflowStatus } from '../lib/serving/served-champion';

/** True while the workflow runs (also across continue-as-new), false once it closed or never existed, undefined outside a worker (no client to ask). */
export async function deploymentWorkflowOpen(deploymentId: string): Promise<boolean | undefined> {
  const ask = deploymentOpenCheck();
  return ask ? ask(deploymentId) : undefined;
}

/** The question as lib/serving/served-champion.ts takes it, or undefined outside a worker (a mock activity environment has no client). */
export function deploymentOpenCheck(): DeploymentOpen | undefined {
  const status = deploymentStatusCheck();
  return status ? async (deploymentId) => (await status(deploymentId)) === 'RUNNING' : undefined;
}

/** The status name of a deployment's workflow ('RUNNING', 'TERMINATED', …, 'NOT_FOUND'), or undefined outside a worker. */
export function deploymentStatusCheck(): DeploymentWorkflowStatus | undefined {
  let client;
  try {
    client = Context.current().client;
  } catch {
    return undefined;
  }
  return deploymentStatusFrom(client);
}
