import type { FastifyInstance } from 'fastify';
import { buildApiServer, type ApiServerDeps } from '../../api/server';
import type { Cache } from '../../lib/cache/cache';
import type { ApiToken } from '../../lib/config';
import { PredictionLogWriter } from '../../lib/serving/prediction-log';
import { ServingModels } from '../../lib/serving/serving-models';
import type { Database } from '../../lib/store/database';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import type { RowSigning } from '../../lib/registry/row-signature';

export interface ApiStack {
  serving: ServingModels;
  log: PredictionLogWriter;
  app: FastifyInstance;
  /** Closes the app, flushes the log and stops the serving models, in that order. */
  close(): Promise<void>;
}

/**
 * An API process inside the test: serving models polling the store every 200 ms, a prediction log
 * flushed every 50 ms (tests read it soon after), and the Fastify app on them.
 */
export async function startApiStack(deps: { store: Database; cache: Cache; artifactDir: string; tokens: ApiToken[]; abortDeployment?: ApiServerDeps['abortDeployment']; abortWaitMs?: number; signing?: RowSigning; featureCacheMaxAgeMs?: number }): Promise<ApiStack> {
  const artifacts = localArtifactStore(deps.artifactDir);
  // As api/main.ts: the process's MODEL_SIGNING_KEY goes to the serving models, and the API checks online vectors with it too.
  const serving = new ServingModels({ store: deps.store, cache: deps.cache, artifacts, pollMs: 200, ...(deps.signing ? { signing: deps.signing } : {}) });
  await serving.start();
  const log = new PredictionLogWriter(deps.store, { flushMs: 50 });
  // As api/main.ts: the same artifact store also serves the dashboard's run reports.
  const app = buildApiServer({ store: deps.store, cache: deps.cache, servingModels: serving, predictionLog: log, tokens: deps.tokens, artifacts, ...(deps.abortDeployment ? { abortDeployment: deps.abortDeployment } : {}), ...(deps.abortWaitMs !== undefined ? { abortWaitMs: deps.abortWaitMs } : {}), ...(deps.featureCacheMaxAgeMs !== undefined ? { featureCacheMaxAgeMs: deps.featureCacheMaxAgeMs } : {}) });
  return {
    serving,
    log,
    app,
    async close() {
      await app.close();
      await log.close();
      await serving.close();
    },
  };
}
