/**
 * The prediction API process (`npm run api`): opens the store and cache, starts listening at once
 * (so /healthz answers while models load; /readyz says 503 until they are), loads the served
 * models, and shuts down gracefully on SIGTERM/SIGINT: stop accepting, finish in-flight requests,
 * flush the prediction log, close.
 */
import { raiseAlert } from '../lib/alerts/alert-store';
import { alertChannelNames } from '../lib/alerts/channels';
import { openCache } from '../lib/cache/open-cache';
import { configuredSigning, loadApiRateLimits, loadConfig, type AppConfig } from '../lib/config';
import { excerpt } from '../lib/quality/excerpt';
import { PredictionLogWriter } from '../lib/serving/prediction-log';
import { ServingModels, type RoutesRefusal, type WithdrawalEvent } from '../lib/serving/serving-models';
import { routesSubject } from '../lib/monitoring/monitoring-rules';
import { deploymentStatusFrom } from '../lib/serving/served-champion';
import { openDatabase, StoreBusyError } from '../lib/store/database';
import { assertSigningKeyWhereSigned } from '../lib/registry/signing-key-required';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildApiServer } from './server';
import { checkArtifactStore, openArtifactStore } from '../lib/artifacts/artifact-store';

/**
 * Longest a statement of this process waits for another process's SQLite write lock, in timers
 * (lib/store/database.ts), before failing with 503 store_busy; other requests are answered meanwhile.
 * Ordinary commits of a worker take milliseconds; a lock held longer (an import publishing, a
 * hand-opened transaction) is worth a retry, not a stalled request.
 */
export const API_STORE_LOCK_WAIT_MS = 1000;
/** Tries of a withdrawal alert against a locked store (2, 4, 6, 8 s apart: about 20 s in all). */
const WITHDRAWAL_ALERT_ATTEMPTS = 5;

/** Longest the routes poll waits for Temporal's answer about a deployment's workflow, then how long it stops asking after a failure. */
const TEMPORAL_QUESTION_MS = 2000;
const TEMPORAL_RETRY_MS = 30_000;

/** A shutdown that hangs (a stuck store) must not keep the process alive forever. */
const SHUTDOWN_GRACE_MS = 15_000;

export interface ApiProcess {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  /** Resolves once ServingModels.start() has finished (models loaded or their failure counted). */
  started: Promise<void>;
  /** Graceful stop; resolves to 0, or 1 when a step failed (each failure is logged). */
  stop(): Promise<number>;
}

/** The start-up line of an API process without MODEL_SIGNING_KEY (the default), saying what serving then cannot refuse. */
export const UNSIGNED_REGISTRY_WARNING =
  'warning: MODEL_SIGNING_KEY is not set, so registry rows are unsigned and not checked: this API serves a model_versions row as it stands in the database, and a row edited there ' +
  '(pointed at another artifact with its sha256, size and recorded fields edited to match) is served as if it had been registered. Set a secret of 32+ characters ' +
  'shared by the workers, the API and the CLI (and sign the served versions: mlp models sign) to refuse such rows; see docs/serving-and-deployment.md';

/** The alert a withdrawn version raises (rule serving_version_withdrawn; docs/alerts-and-runbook.md): a warning while the champion serves its traffic, critical when the model is not served. */
export function withdrawalAlert(event: WithdrawalEvent): Parameters<typeof raiseAlert>[1] {
  const what = `${event.model} v${event.version} (${event.variants.join(', ') || 'not routed'})`;
  const message = event.servedBy
    ? `${what} was withdrawn from serving [${event.reason}]: ${event.message}. The model keeps serving: v${event.servedBy.version} (${event.servedBy.variant}) answers its traffic.`
    : `${event.model} is not served (every request gets 503): its champion ${what} was withdrawn [${event.reason}]: ${event.message}`;
  return {
    rule: 'serving_version_withdrawn',
    severity: event.servedBy ? 'warning' : 'critical',
    subject: `model ${event.model} v${event.version}`.slice(0, 255),
    message: excerpt(message, 4000),
    evidence: { model: event.model, version: event.version, generation: event.generation, variants: event.variants, weight: event.weight, reason: event.reason, servedBy: event.servedBy ?? null, at: event.at },
  };
}

/**
 * The alert refused routes raise (rule serving_routes_tampered, critical; docs/alerts-and-runbook.md):
 * with MODEL_SIGNING_KEY, the stored routes of a model carry no valid signature, or are a signed row
 * older than routes this process verified (written back). The process keeps serving the last routes
 * it verified (none: the model is not served).
 */
export function routesRefusedAlert(event: RoutesRefusal): Parameters<typeof raiseAlert>[1] {
  if (event.reason === 'alias') {
    return {
      rule: 'serving_routes_tampered',
      severity: 'critical',
      subject: routesSubject(event.model).slice(0, 255),
      message: excerpt(`${event.message}. The routes are served as their own signature allows; deployments, promotion and the dashboard judge the alias's version. Someone changed model_aliases without the signing key: find who, then move the champion with the key (mlp models rollback ${event.model} --to-version N --reason "…")`, 4000),
      evidence: { model: event.model, reason: event.reason, serving: event.serving },
    };
  }
  const serving = event.serving === null ? `${event.model} is not served (every request gets 503)` : `this process keeps serving generation ${event.serving}, the last routes it verified`;
  return {
    rule: 'serving_routes_tampered',
    severity: 'critical',
    subject: routesSubject(event.model).slice(0, 255),
    message: excerpt(`the serving routes of ${event.model} stored now (generation ${event.generation}: ${event.versions}) are refused [${event.reason}]: ${event.message}. ${serving}. Someone changed serving_routes without the signing key: find who (serving_route_history, the database's audit log), then write the intended routes with the key (mlp models rollback ${event.model} --to-version N --reason "…")`, 4000),
    evidence: { model: event.model, generation: event.generation, versions: event.versions, reason: event.reason, serving: event.serving },
  };
}

function hostAndPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

/** Starts the API for `config`: listening when it resolves, models loading in the background. */
export async function startApiProcess(config: AppConfig, print: (line: string) => void = console.log): Promise<ApiProcess> {
  if (config.apiTokens.length === 0) {
    throw new Error('API_TOKENS is empty: every /v1 request would be refused. Set e.g. API_TOKENS="$(openssl rand -hex 24)=predict+admin"');
  }
  const store = await openDatabase(config.databaseUrl, { sqliteLockWaitMs: API_STORE_LOCK_WAIT_MS, signing: configuredSigning(config) });
  const cache = openCache(config.redisUrl);
  try {
    // The online store too: it serves (and re-warms) vectors there.
    await assertSigningKeyWhereSigned(store, config.modelSigningKey, 'the prediction API', { cache, warn: print });
    // A wrong bucket name stops the API here, not at every load with "artifact missing".
    await checkArtifactStore(openArtifactStore(config.artifacts));
  } catch (error) {
    await cache.close();
    await store.close();
    throw error;
  }
  const log = (event: string, detail: Record<string, unknown>) => print(JSON.stringify({ time: new Date().toISOString(), event, ...detail }));
  const artifacts = openArtifactStore(config.artifacts);
  const channels = alertChannelNames(config);
  const onWithdrawn = (event: WithdrawalEvent) => {
    // Stored with its deliveries (the workers deliver them); the cool-down keeps one alert when every API process withdraws the same version.
    // A store locked by another process past the API's short wait is tried again for a while (the alert is critical when the champion goes).
    const raise = async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await raiseAlert(store, withdrawalAlert(event), { channels });
        } catch (error) {
          if (!(error instanceof StoreBusyError) || attempt >= WITHDRAWAL_ALERT_ATTEMPTS) throw error;
          await sleep(2000 * attempt);
        }
      }
    };
    raise().catch((error: unknown) => log('serving.alert_failed', { model: event.model, version: event.version, error: (error as Error).message }));
  };
  const onRoutesRefused = (event: RoutesRefusal) => {
    raiseAlert(store, routesRefusedAlert(event), { channels }).catch((error: unknown) => log('serving.alert_failed', { model: event.model, generation: event.generation, error: (error as Error).message }));
  };
  // Temporal is reached only when an admin rollback finds a running deployment to stop (as `mlp models rollback`),
  // or when the poll asks whether a deployment that wrote a model's routes still runs.
  let temporal: Promise<import('@temporalio/client').Client> | undefined;
  const temporalClient = async (what: string) => {
    temporal ??= (async () => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- the SDK is loaded on first use, as the CLI loads it (client/lazy.ts)
      const { Client, Connection } = require('@temporalio/client') as typeof import('@temporalio/client');
      return new Client({ connection: await Connection.connect({ address: config.temporalAddress, connectTimeout: 5000 }), namespace: config.temporalNamespace });
    })();
    return temporal.catch((error: unknown) => {
      temporal = undefined;
      throw new Error(`cannot reach Temporal at ${config.temporalAddress} to ${what}: ${(error as Error).message}`, { cause: error });
    });
  };
  const abortDeployment = async (deploymentId: string, input: { by: string; reason: string }): Promise<{ status: string }> => {
    const client = await temporalClient(`abort ${deploymentId}`);
    return client.workflow.getHandle(deploymentId).executeUpdate<{ status: string }, [{ by: string; reason: string }]>('abort', { args: [input] });
  };
  // A terminated deployment workflow leaves its row 'running' and cannot roll back: the poll asks
  // Temporal before taking the row at its word. Temporal unreachable: the row is taken at its word
  // (as before), and Temporal is not asked again for a while, so the poll never waits on it.
  let temporalDownUntil = 0;
  const deploymentOpen = async (deploymentId: string): Promise<boolean> => {
    if (Date.now() < temporalDownUntil) return true;
    try {
      const client = await temporalClient(`ask whether deployment ${deploymentId} still runs`);
      return (await client.withDeadline(Date.now() + TEMPORAL_QUESTION_MS, () => deploymentStatusFrom(client)(deploymentId))) === 'RUNNING';
    } catch (error) {
      temporalDownUntil = Date.now() + TEMPORAL_RETRY_MS;
      log('serving.temporal_unreachable', { deploymentId, error: (error as Error).message });
      return true;
    }
  };
  const servingModels = new ServingModels({ store, cache, artifacts, log, signing: configuredSigning(config), onWithdrawn, onRoutesRefused, deploymentOpen });
  const predictionLog = new PredictionLogWriter(store, { log });
  let servingStarted = false;
  const app = buildApiServer({ store, cache, servingModels, predictionLog, tokens: config.apiTokens, artifacts, rateLimits: loadApiRateLimits(), servingStarted: () => servingStarted, logger: { level: 'warn' }, featureCacheMaxAgeMs: config.apiFeatureCacheMs, featureGraceMinutes: config.apiFeatureGraceMinutes, abortDeployment });

  const closeAll = async (): Promise<number> => {
    let code = 0;
    for (const [what, step] of [
      ['http server', () => app.close()],
      ['serving models', () => servingModels.close()],
      ['prediction log', () => predictionLog.close()],
      ['cache', () => cache.close()],
      ['temporal connection', async () => (await temporal?.catch(() => undefined))?.connection.close()],
      ['store', () => store.close()],
    ] as const) {
      try {
        await step();
      } catch (error) {
        code = 1;
        print(`closing the ${what} failed: ${(error as Error).message}`);
      }
    }
    const s = predictionLog.stats();
    print(`stopped; prediction log: ${s.written} rows written, ${s.dropped} dropped, ${s.rejected} rejected`);
    return code;
  };

  const { host, port } = hostAndPort(config.apiAddress);
  let url: string;
  try {
    url = await app.listen({ host, port });
  } catch (error) {
    await closeAll();
    throw new Error(`cannot listen on API_ADDRESS=${config.apiAddress}: ${(error as Error).message}`, { cause: error });
  }
  const featureCacheMs = config.apiFeatureCacheMs;
  const vectors = cache.kind !== 'redis' ? '' : featureCacheMs > 0 ? `; online vectors kept in process up to ${featureCacheMs} ms` : '; online vectors read from Redis per prediction';
  print(`prediction API listening on ${url} (store ${store.description}; cache ${cache.kind}${vectors}; artifacts ${artifacts.description}; ${config.apiTokens.length} token(s))`);
  if (config.modelSigningKey === undefined) print(UNSIGNED_REGISTRY_WARNING);

  const started = servingModels.start().then(() => {
    servingStarted = true;
    const served = servingModels.models();
    print(`serving ${served.length} model(s): ${served.map((m) => `${m} gen ${servingModels.snapshot(m)?.routes.generation ?? '(not loaded)'}`).join(', ') || '(none; waiting for serving routes)'}`);
  });
  let stopping: Promise<number> | undefined;
  return {
    url,
    started,
    stop: () => (stopping ??= started.catch(() => undefined).then(closeAll)),
  };
}

async function main(): Promise<void> {
  const api = await startApiProcess(loadConfig());
  const onSignal = (signal: string) => {
    console.log(`${signal}: stopping (no new connections; in-flight requests finish)`);
    setTimeout(() => {
      console.error(`shutdown took longer than ${SHUTDOWN_GRACE_MS} ms; exiting`);
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
    void api.stop().then((code) => process.exit(code));
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  // The store being unreadable at start is fatal: exit so a supervisor restarts the process.
  await api.started;
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
