import { Client, Connection } from '@temporalio/client';
import type { AppConfig } from '../lib/config';

export async function connectClient(config: AppConfig): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: config.temporalAddress, connectTimeout: 5000 });
  } catch (error) {
    throw new Error(
      `Cannot reach Temporal at ${config.temporalAddress} (${(error as Error).message}). Start it with "npm run temporal:server -- start" or set TEMPORAL_ADDRESS.`,
      { cause: error },
    );
  }
  return new Client({ connection, namespace: config.temporalNamespace });
}

export function webUiLink(config: AppConfig, workflowId: string, runId?: string): string {
  const base = `${config.temporalUiUrl}/namespaces/${encodeURIComponent(config.temporalNamespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${runId}/history` : base;
}
