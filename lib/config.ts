import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/**
 * The one typed configuration of every process (worker, CLI, scripts), read from environment variables.
 * A bad value fails at start with a message that names the variable.
 */
export interface AppConfig {
  temporalAddress: string;
  temporalNamespace: string;
  temporalUiUrl: string;
  dataDir: string;
  databaseUrl: string;
  redisUrl: string | undefined;
  artifactDir: string;
  metricsAddress: string;
  trainingConcurrency: number;
}

/** Default state folder: inside the checkout, whatever the current directory (git-ignored). */
const REPO_DATA_DIR = path.resolve(__dirname, '..', '.data');

const hostPort = z
  .string()
  .regex(/^[\w.-]+:\d{1,5}$/, 'expected host:port, such as 127.0.0.1:7233');

const envSchema = z.object({
  TEMPORAL_ADDRESS: hostPort.default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_UI_URL: z.url({ message: 'expected a URL such as http://127.0.0.1:8233' }).default('http://127.0.0.1:8233'),
  DATA_DIR: z.string().min(1).default(REPO_DATA_DIR),
  DATABASE_URL: z
    .string()
    .regex(/^(mysql:\/\/.+|sqlite:.+)$/, 'expected mysql://user:pass@host:port/db or sqlite:<file>')
    .optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/.+/, 'expected redis://host:port[/db]')
    .optional(),
  ARTIFACT_DIR: z.string().min(1).optional(),
  METRICS_ADDRESS: hostPort.default('127.0.0.1:9464'),
  TRAINING_CONCURRENCY: z.coerce.number().int().min(1).max(256).optional(),
});

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Empty strings count as unset, so `FOO= cmd` falls back to the default rather than failing. */
function withoutEmpty(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') out[key] = value;
  return out;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = envSchema.safeParse(withoutEmpty(env));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      return `  ${name}=${JSON.stringify(env[name] ?? '')}: ${issue.message}`;
    });
    throw new ConfigError(`Invalid configuration; fix these environment variables:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.DATA_DIR);
  return {
    temporalAddress: e.TEMPORAL_ADDRESS,
    temporalNamespace: e.TEMPORAL_NAMESPACE,
    temporalUiUrl: e.TEMPORAL_UI_URL.replace(/\/$/, ''),
    dataDir,
    databaseUrl: e.DATABASE_URL ?? `sqlite:${path.join(dataDir, 'pipeline.sqlite')}`,
    redisUrl: e.REDIS_URL,
    artifactDir: path.resolve(e.ARTIFACT_DIR ?? path.join(dataDir, 'artifacts')),
    metricsAddress: e.METRICS_ADDRESS,
    trainingConcurrency: e.TRAINING_CONCURRENCY ?? Math.max(1, os.availableParallelism()),
  };
}

/** Documented defaults, printed by `cli config` and mirrored in the README's table. */
export const CONFIG_VARIABLES: ReadonlyArray<{ name: string; default: string; meaning: string }> = [
  { name: 'TEMPORAL_ADDRESS', default: '127.0.0.1:7233', meaning: 'Temporal frontend (gRPC)' },
  { name: 'TEMPORAL_NAMESPACE', default: 'default', meaning: 'Temporal namespace' },
  { name: 'TEMPORAL_UI_URL', default: 'http://127.0.0.1:8233', meaning: 'Web UI base, used for links' },
  { name: 'DATA_DIR', default: '<repo>/.data', meaning: 'local state: SQLite file, Temporal dev db, logs' },
  { name: 'DATABASE_URL', default: 'sqlite:$DATA_DIR/pipeline.sqlite', meaning: 'mysql://user:pass@host:3306/db or sqlite:<file>' },
  { name: 'REDIS_URL', default: '(unset: in-process cache)', meaning: 'redis://host:6379 for cache and pub/sub' },
  { name: 'ARTIFACT_DIR', default: '$DATA_DIR/artifacts', meaning: 'model artifacts, datasets, predictions (shared by all workers)' },
  { name: 'METRICS_ADDRESS', default: '127.0.0.1:9464', meaning: 'worker Prometheus endpoint (host:port)' },
  { name: 'TRAINING_CONCURRENCY', default: 'number of cores', meaning: 'parallel CPU-heavy activities per worker' },
  { name: 'TEMPORAL_CLI_PATH', default: '(search PATH, then build)', meaning: 'temporal CLI binary used for the dev server' },
];
