import type { Client, Connection } from '@temporalio/client';
import type { AppConfig } from '../lib/config';
import { lazy } from './lazy';

/** Connects to Temporal; the SDK is loaded here, on first use, so that parsing and --help stay fast. */
export async function connectClient(config: AppConfig): Promise<Client> {
  const { Client, Connection } = lazy.temporalClient();
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
