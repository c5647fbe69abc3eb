import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { isSecretName, redactDeep, redactUrl } from './redact';
import { parseS3Url, type ArtifactLocation } from './artifacts/location';
import { DEFAULT_FRESHNESS_OPTIONS } from './monitoring/freshness';
import { MIN_SIGNING_KEY_LENGTH, type RowSigning } from './registry/row-signature';
import { decimalValue } from './decimal-number';
import { blankAtEndsProblem, verbatimValueProblem } from './verbatim-value';

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
  /**
   * The setting that names the store, for messages: DATABASE_URL, else the SQLite file in DATA_DIR
   * (set, or its default <repo>/.data when unset).
   */
  databaseUrlFrom: 'DATABASE_URL' | 'DATA_DIR' | 'default DATA_DIR';
  redisUrl: string | undefined;
  /** ARTIFACT_DIR: the local artifact directory (the store when ARTIFACT_URL is unset). */
  artifactDir: string;
  /** Where artifacts are stored: ARTIFACT_DIR, or the object store ARTIFACT_URL names (lib/artifacts). */
  artifacts: ArtifactLocation;
  /**
   * MODEL_SIGNING_KEY: when set, registration signs each registry row and every verification
   * (serving, deployments, rollback) refuses a row without its valid signature
   * (lib/registry/row-signature.ts), and online feature vectors are written signed and served only
   * signed (lib/features/vector-signature.ts); unset: rows are not bound to their artifacts, nor
   * vectors to their writers. A secret.
   */
  modelSigningKey: string | undefined;
  /**
   * MODEL_SIGNING_PREVIOUS_KEYS: keys signing was done with before a rotation. They never sign; every
   * verification accepts what they signed (identified by its key id, vouched for by its MAC), so
   * processes given the new key keep serving rows, records and vectors the old key signed until
   * `mlp models sign` re-signs them (docs/operations.md). Secrets.
   */
  modelSigningPreviousKeys: string[];
  metricsAddress: string;
  trainingConcurrency: number;
  /** Where the prediction API listens (host:port). */
  apiAddress: string;
  /** Bearer tokens the prediction API accepts, with their scopes. */
  apiTokens: ApiToken[];
  /**
   * API_FEATURE_CACHE_MS: with Redis, online vectors read by the API are kept in process, emptied by
   * every `features:updated` announcement and re-read after at most this many ms
   * (lib/serving/feature-read-cache.ts); 0: every prediction reads Redis.
   */
  apiFeatureCacheMs: number;
  /**
   * API_FEATURE_GRACE_MINUTES: minutes after a session's close before the API counts features
   * without that session as stale (each answer's sessionsBehind and stale; the freshness monitor's
   * default grace).
   */
  apiFeatureGraceMinutes: number;
  /** Prometheus endpoint of the worker's own metrics (monitoring results, alerts); Temporal's are on metricsAddress. */
  appMetricsAddress: string;
  /** Slack-compatible webhook that alerts are delivered to (besides the log). */
  alertWebhookUrl: string | undefined;
  /** Redis Stream of live bars and the consumer group that ingests it. */
  streamKey: string;
  streamGroup: string;
  /** Prometheus endpoint of the stream consumer process. */
  streamMetricsAddress: string;
}

/**
 * How to reach the S3-compatible object store (S3_ENDPOINT, S3_REGION, S3_FORCE_PATH_STYLE):
 * shared by the artifact store (ARTIFACT_URL) and s3:// import sources, which may name other
 * buckets. Credentials are not here: the AWS SDK's standard chain finds them (AWS_ACCESS_KEY_ID…).
 */
export interface ObjectStoreSettings {
  /** S3_ENDPOINT: an S3-compatible server (undefined: AWS S3 itself). */
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  /** S3_CONNECT_TIMEOUT_MS: longest wait for a connection (undefined: lib/artifacts/s3-client.ts's default). */
  connectTimeoutMs?: number;
  /** S3_IDLE_TIMEOUT_MS: longest silence of the server within a request (undefined: lib/artifacts/s3-client.ts's default). */
  idleTimeoutMs?: number;
}

/** Requests per minute (0: no limit); over a limit the API answers 429 with Retry-After. */
export interface ApiRateLimits {
  /** Failed authentications (401) per client address; further requests from it are refused. */
  authFailuresPerAddress: number;
  /** Prediction requests per token. */
  predictionsPerToken: number;
  /** Prediction requests per client address. */
  predictionsPerAddress: number;
}

export const DEFAULT_API_RATE_LIMITS: ApiRateLimits = { authFailuresPerAddress: 30, predictionsPerToken: 60_000, predictionsPerAddress: 120_000 };

export const API_SCOPES = ['predict', 'admin', 'read'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

export interface ApiToken {
  /** Who the token belongs to, for audit trails ("updated by api:<name>"): the given name or token-<n>. */
  name: string;
  token: string;
  scopes: ApiScope[];
}

const API_TOKEN_MIN_LENGTH = 16;
const TOKEN_ENTRY = /^(?:([A-Za-z0-9][\w-]{0,31}):)?([A-Za-z0-9._~/-]+)=(.*)$/;

/**
 * API_TOKENS: comma-separated `[name:]token=scope+scope` entries, e.g. `ci:7f3a…=predict+admin,9c1e…=predict`.
 * Messages name the entry by position and never echo a token, since this variable holds secrets.
 */
export const apiTokensSchema = z.string().transform((raw, ctx): ApiToken[] => {
  const tokens: ApiToken[] = [];
  const entries = raw.split(',').map((e) => e.trim()).filter((e) => e !== '');
  entries.forEach((entry, i) => {
    const where = `entry ${i + 1}`;
    const match = TOKEN_ENTRY.exec(entry);
    if (!match) {
      ctx.addIssue({ code: 'custom', message: `${where} is not [name:]token=scope+scope (token letters, digits and ._~/- only)` });
      return;
    }
    const [, name, token, scopeList] = match;
    if (token.length < API_TOKEN_MIN_LENGTH) ctx.addIssue({ code: 'custom', message: `${where}: token is shorter than ${API_TOKEN_MIN_LENGTH} characters; use a random one, e.g. \`openssl rand -hex 24\`` });
    const scopes = scopeList.split('+').map((s) => s.trim()).filter((s) => s !== '');
    const unknown = scopes.filter((s) => !(API_SCOPES as readonly string[]).includes(s));
    if (scopes.length === 0) ctx.addIssue({ code: 'custom', message: `${where}: no scope after "="; give ${API_SCOPES.join(', ')} or several joined by "+"` });
    else if (unknown.length > 0) ctx.addIssue({ code: 'custom', message: `${where}: unknown scope ${unknown.map((u) => JSON.stringify(u)).join(', ')}; known scopes: ${API_SCOPES.join(', ')}` });
    if (tokens.some((t) => t.token === token)) ctx.addIssue({ code: 'custom', message: `${where}: the same token is listed twice` });
    const entryName = name ?? `token-${i + 1}`;
    // A name is who made an admin change and whose rate limit a request counts against: one token each,
    // whether written or the default an unnamed entry gets (token-2 named by hand beside a second unnamed entry).
    const earlier = tokens.find((t) => t.name === entryName);
    if (earlier) ctx.addIssue({ code: 'custom', message: `${where}: the name "${entryName}"${name === undefined ? ' (the default of an unnamed entry)' : ''} is already another token's; give each token its own name` });
    tokens.push(redactedInJson({ name: entryName, token, scopes: [...new Set(scopes)] as ApiScope[] }));
  });
  return tokens;
});

/** `cli config` prints the config as JSON: a token must never appear there or in logs. */
function redactedInJson(token: ApiToken): ApiToken {
  Object.defineProperty(token, 'toJSON', { enumerable: false, value: () => ({ name: token.name, token: '(redacted)', scopes: token.scopes }) });
  return token;
}

/** Default state folder: inside the checkout, whatever the current directory (git-ignored). */
const REPO_DATA_DIR = path.resolve(__dirname, '..', '.data');

const HOST_PORT = /^[\w.-]+:(\d{1,5})$/;
/** A host:port; port 0 only where the process listens (the system picks a free port, as tests do). */
function hostPortVar(listens: boolean) {
  const lowest = listens ? 0 : 1;
  return z
    .string()
    .regex(HOST_PORT, 'expected host:port, such as 127.0.0.1:7233')
    .refine((v) => {
      const m = HOST_PORT.exec(v);
      return m === null || (Number(m[1]) >= lowest && Number(m[1]) <= 65535); // (malformed: the format's message alone)
    }, `the port must be ${lowest}..65535`);
}
const hostPort = hostPortVar(false);
const listenAddress = hostPortVar(true);

/**
 * A path or URL variable, checked by `schema` only once it reads as written: no surrounding space,
 * quotes or leading "~", which no shell removes or expands here (lib/verbatim-value.ts).
 */
function verbatim<T extends z.ZodType<unknown, string>>(schema: T) {
  return z
    .string()
    .superRefine((value, ctx) => {
      const problem = verbatimValueProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .pipe(schema);
}

/** A variable that names something (namespace, stream, group, region): as written, without blank space at its ends. */
function nameVar(max = 200) {
  return z
    .string()
    .superRefine((value, ctx) => {
      const problem = blankAtEndsProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .pipe(z.string().min(1).max(max));
}

/**
 * A whole-number variable in decimal notation only, as command-line flags take (lib/decimal-number.ts):
 * z.coerce.number read "0x0", "0b0" and " " as 0, which turned a rate limit or a cache off.
 * `expected` is the message for every refusal, so 0x10 and 2.5 alike say which values are taken.
 */
function wholeNumberVar(expected: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return z.preprocess(decimalValue, z.number({ error: expected }).int(expected).min(min, expected).max(max, expected));
}

/**
 * A URL fetched or shown as a link: http: or https: only. z.url() alone takes any scheme, so a
 * webhook at ftp:, mailto: or file: failed every delivery, and TEMPORAL_UI_URL=javascript:… was
 * printed as the base of every Web UI link.
 */
const httpUrl = (example: string) => verbatim(z.url({ protocol: /^https?$/, message: `expected an http(s) URL such as ${example}` }));

/** The file of a sqlite: DATABASE_URL is a path like DATA_DIR's, with the same rule. */
const databaseUrl = z
  .string()
  .regex(/^(mysql:\/\/.+|sqlite:.+)$/, 'expected mysql://user:pass@host:port/db or sqlite:<file>')
  .superRefine((value, ctx) => {
    const problem = value.startsWith('sqlite:') ? verbatimValueProblem(value.slice('sqlite:'.length)) : undefined;
    if (problem) ctx.addIssue({ code: 'custom', message: `the file after "sqlite:" ${problem}` });
  });

/**
 * Why MODEL_SIGNING_KEY is refused as written, or undefined. A key is the exact bytes given, while
 * MODEL_SIGNING_PREVIOUS_KEYS is a comma-separated list whose entries lose the blank space around
 * them: a key read from a secret file with its last line break signed as one key id, and the same
 * value moved to the previous keys at a rotation was another, so everything it signed was refused.
 * So a key has no blank space at its ends and no comma: it reads the same in both variables.
 */
function signingKeyProblem(key: string): string | undefined {
  const moved = 'which would be part of the key, and the same value moved to MODEL_SIGNING_PREVIOUS_KEYS at a rotation would be another key';
  const resign = 'if rows, records or vectors were signed with it as it is (before keys were checked for this), give it exactly as the previous key, as a JSON list (MODEL_SIGNING_PREVIOUS_KEYS=\'["…\\n"]\'), and re-sign as for a rotation (docs/operations.md)';
  for (const [end, blank] of [['end', /\s+$/.exec(key)], ['start', /^\s+/.exec(key)]] as const) {
    if (blank) return `has blank space${/[\r\n]/.test(blank[0]) ? ' (a line break)' : ''} at its ${end}, ${moved}: remove it (a secret file's last line break is kept by most secret stores); ${resign}`;
  }
  if (key.includes(',')) return `holds a comma, and MODEL_SIGNING_PREVIOUS_KEYS is separated by commas: the same value moved there at a rotation would be two other keys; use a key without one, e.g. \`openssl rand -hex 32\`; ${resign}`;
  return undefined;
}

/**
 * MODEL_SIGNING_PREVIOUS_KEYS as keys: comma-separated, each without the blank space around it (no
 * key has any: signingKeyProblem), or a JSON list of strings taken exactly as written, for a key
 * that signed before keys with blank space or a comma were refused.
 */
function previousKeysOf(value: string, ctx: z.RefinementCtx): string[] {
  if (!value.trimStart().startsWith('[')) return value.split(',').map((k) => k.trim()).filter((k) => k !== '');
  let list: unknown;
  try {
    list = JSON.parse(value);
  } catch {
    list = undefined;
  }
  if (!Array.isArray(list) || !list.every((k): k is string => typeof k === 'string')) {
    ctx.addIssue({ code: 'custom', message: 'starts with "[" but is not a JSON list of strings; give the keys separated by commas, or as a JSON list of strings (["…", "…"])' });
    return z.NEVER;
  }
  return list;
}

const FEATURE_CACHE_MS_EXPECTED = 'expected a whole number of milliseconds, 0 for no in-process cache of online vectors';
const GRACE_MINUTES_EXPECTED = 'expected a whole number of minutes from 0 to 1440 after the close';
/** How long the API keeps an online vector in process by default (API_FEATURE_CACHE_MS). */
export const DEFAULT_API_FEATURE_CACHE_MS = 1000;

const envSchema = z.object({
  TEMPORAL_ADDRESS: hostPort.default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: nameVar().default('default'),
  TEMPORAL_UI_URL: httpUrl('http://127.0.0.1:8233').default('http://127.0.0.1:8233'),
  DATA_DIR: verbatim(z.string().min(1)).default(REPO_DATA_DIR),
  DATABASE_URL: verbatim(databaseUrl).optional(),
  REDIS_URL: verbatim(z.string().regex(/^rediss?:\/\/.+/, 'expected redis://host:port[/db]')).optional(),
  ARTIFACT_DIR: verbatim(z.string().min(1)).optional(),
  ARTIFACT_URL: verbatim(
    z.string().refine((v) => {
      try {
        parseS3Url(v);
        return true;
      } catch {
        return false;
      }
    }, 'expected s3://bucket[/prefix] (bucket: 3-63 lower-case letters, digits, dots, hyphens)'),
  ).optional(),
  S3_ENDPOINT: httpUrl('http://127.0.0.1:7070').optional(),
  S3_REGION: nameVar().optional(),
  // The AWS SDK's own variable, read as S3_REGION's fallback: held to the same rule (a region with a
  // space at an end failed at the first request with the SDK's message, naming no variable).
  AWS_REGION: nameVar().optional(),
  S3_FORCE_PATH_STYLE: z.enum(['true', 'false'], { message: 'expected true or false' }).optional(),
  S3_CONNECT_TIMEOUT_MS: wholeNumberVar('expected a whole number of milliseconds, at least 1', 1).optional(),
  S3_IDLE_TIMEOUT_MS: wholeNumberVar('expected a whole number of milliseconds, at least 1', 1).optional(),
  ARTIFACT_CACHE_DIR: verbatim(z.string().min(1)).optional(),
  ARTIFACT_CACHE_MAX_MB: wholeNumberVar('expected a whole number of megabytes, at least 1', 1).optional(),
  MODEL_SIGNING_KEY: z
    .string()
    .superRefine((value, ctx) => {
      const problem = signingKeyProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .pipe(z.string().min(MIN_SIGNING_KEY_LENGTH, `expected at least ${MIN_SIGNING_KEY_LENGTH} characters: a random secret, e.g. \`openssl rand -hex 32\``))
    .optional(),
  MODEL_SIGNING_PREVIOUS_KEYS: z
    .string()
    .transform(previousKeysOf)
    .pipe(z.array(z.string().min(MIN_SIGNING_KEY_LENGTH, `expected keys of at least ${MIN_SIGNING_KEY_LENGTH} characters, separated by commas`)))
    .optional(),
  METRICS_ADDRESS: listenAddress.default('127.0.0.1:9464'),
  TRAINING_CONCURRENCY: wholeNumberVar('expected a whole number of threads from 1 to 256', 1, 256).optional(),
  API_ADDRESS: listenAddress.default('127.0.0.1:8080'),
  API_TOKENS: apiTokensSchema.default(() => []),
  API_FEATURE_CACHE_MS: wholeNumberVar(FEATURE_CACHE_MS_EXPECTED, 0).default(DEFAULT_API_FEATURE_CACHE_MS),
  API_FEATURE_GRACE_MINUTES: wholeNumberVar(GRACE_MINUTES_EXPECTED, 0, 24 * 60).default(DEFAULT_FRESHNESS_OPTIONS.graceMinutes),

  APP_METRICS_ADDRESS: listenAddress.default('127.0.0.1:9465'),
  ALERT_WEBHOOK_URL: httpUrl('https://hooks.slack.com/services/…').optional(),
  STREAM_KEY: nameVar().default('bars:live'),
  STREAM_GROUP: nameVar().default('bar-ingest'),
  STREAM_METRICS_ADDRESS: listenAddress.default('127.0.0.1:9466'),
});

/** Variables whose values are secrets beyond those named like one (lib/redact.ts): never echoed. */
const SECRET_VARIABLES = new Set(['API_TOKENS', 'ALERT_WEBHOOK_URL', 'MODEL_SIGNING_KEY', 'MODEL_SIGNING_PREVIOUS_KEYS']);

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Empty strings count as unset, so `FOO= cmd` falls back to the default rather than failing. */
function withoutEmpty(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') out[key] = value;
  return out;
}

function parseEnvironment<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv): z.output<T> {
  // A value of blank space is neither unset nor a value: " " read as 0 minutes of grace, and 32
  // spaces were taken as a signing key.
  const known = (schema as unknown as { shape?: Record<string, unknown> }).shape ?? {};
  const blank = Object.keys(known).filter((name) => typeof env[name] === 'string' && env[name] !== '' && (env[name] as string).trim() === '');
  if (blank.length > 0) throw new ConfigError(`Invalid configuration; fix these environment variables:\n${blank.map((name) => `  ${name}: holds only blank space; unset it (or leave it empty) for the default, or give a value`).join('\n')}`);
  const parsed = schema.safeParse(withoutEmpty(env));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '?');
      const shown = SECRET_VARIABLES.has(name) || isSecretName(name) ? '(secret, not shown)' : JSON.stringify(redactUrl(env[name] ?? ''));
      return `  ${name}=${shown}: ${issue.message}`;
    });
    throw new ConfigError(`Invalid configuration; fix these environment variables:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

const objectStoreEnvSchema = envSchema.pick({ S3_ENDPOINT: true, S3_REGION: true, AWS_REGION: true, S3_FORCE_PATH_STYLE: true, S3_CONNECT_TIMEOUT_MS: true, S3_IDLE_TIMEOUT_MS: true });

function objectStoreSettingsOf(e: z.output<typeof objectStoreEnvSchema>): ObjectStoreSettings {
  return {
    endpoint: e.S3_ENDPOINT,
    region: e.S3_REGION ?? e.AWS_REGION ?? 'us-east-1',
    // S3-compatible servers are addressed by path (http://host:port/bucket/key); AWS by virtual host
    forcePathStyle: e.S3_FORCE_PATH_STYLE ? e.S3_FORCE_PATH_STYLE === 'true' : e.S3_ENDPOINT !== undefined,
    ...(e.S3_CONNECT_TIMEOUT_MS !== undefined ? { connectTimeoutMs: e.S3_CONNECT_TIMEOUT_MS } : {}),
    ...(e.S3_IDLE_TIMEOUT_MS !== undefined ? { idleTimeoutMs: e.S3_IDLE_TIMEOUT_MS } : {}),
  };
}

/**
 * The object-store settings alone, for a reader that needs only them (an s3:// CSV source must be
 * readable on a worker whose artifacts stay in a local ARTIFACT_DIR).
 */
export function loadObjectStoreSettings(env: NodeJS.ProcessEnv = process.env): ObjectStoreSettings {
  return objectStoreSettingsOf(parseEnvironment(objectStoreEnvSchema, env));
}

/** The deployment's signing as configured: MODEL_SIGNING_KEY signs and verifies, MODEL_SIGNING_PREVIOUS_KEYS verify too (a rotation in progress). */
export function configuredSigning(config: Pick<AppConfig, 'modelSigningKey' | 'modelSigningPreviousKeys'> = loadConfig()): RowSigning {
  return { signingKey: config.modelSigningKey, previousKeys: config.modelSigningPreviousKeys };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const e = parseEnvironment(envSchema, env);
  // Previous keys only verify beside a current key: without one nothing is checked (signed rows are refused), so they would be ignored.
  if (e.MODEL_SIGNING_PREVIOUS_KEYS !== undefined && e.MODEL_SIGNING_PREVIOUS_KEYS.length > 0 && e.MODEL_SIGNING_KEY === undefined) {
    throw new ConfigError('Invalid configuration; fix these environment variables:\n  MODEL_SIGNING_PREVIOUS_KEYS=(secret, not shown): set without MODEL_SIGNING_KEY; previous keys only verify beside the current key: set MODEL_SIGNING_KEY (during a rotation, the new key)');
  }
  const dataDir = path.resolve(e.DATA_DIR);
  const artifactDir = path.resolve(e.ARTIFACT_DIR ?? path.join(dataDir, 'artifacts'));
  return {
    temporalAddress: e.TEMPORAL_ADDRESS,
    temporalNamespace: e.TEMPORAL_NAMESPACE,
    temporalUiUrl: e.TEMPORAL_UI_URL.replace(/\/$/, ''),
    dataDir,
    databaseUrl: e.DATABASE_URL ?? `sqlite:${path.join(dataDir, 'pipeline.sqlite')}`,
    databaseUrlFrom: e.DATABASE_URL !== undefined ? 'DATABASE_URL' : env.DATA_DIR ? 'DATA_DIR' : 'default DATA_DIR',
    redisUrl: e.REDIS_URL,
    artifactDir,
    artifacts: e.ARTIFACT_URL
      ? {
          kind: 's3',
          ...parseS3Url(e.ARTIFACT_URL),
          ...objectStoreSettingsOf(e),
          cacheDir: path.resolve(e.ARTIFACT_CACHE_DIR ?? path.join(dataDir, 'artifact-cache')),
          cacheMaxBytes: (e.ARTIFACT_CACHE_MAX_MB ?? 2048) * 1024 * 1024,
        }
      : { kind: 'local', dir: artifactDir },
    modelSigningKey: e.MODEL_SIGNING_KEY,
    modelSigningPreviousKeys: e.MODEL_SIGNING_PREVIOUS_KEYS ?? [],
    metricsAddress: e.METRICS_ADDRESS,
    trainingConcurrency: e.TRAINING_CONCURRENCY ?? Math.max(1, os.availableParallelism()),
    apiAddress: e.API_ADDRESS,
    apiTokens: e.API_TOKENS,
    apiFeatureCacheMs: e.API_FEATURE_CACHE_MS,
    apiFeatureGraceMinutes: e.API_FEATURE_GRACE_MINUTES,
    appMetricsAddress: e.APP_METRICS_ADDRESS,
    alertWebhookUrl: e.ALERT_WEBHOOK_URL,
    streamKey: e.STREAM_KEY,
    streamGroup: e.STREAM_GROUP,
    streamMetricsAddress: e.STREAM_METRICS_ADDRESS,
  };
}

/** Which setting named the store and what it says, for a message about the store (lib/store/database.ts StoreNotFoundError). */
export function describeStoreSetting(config: AppConfig): string {
  if (config.databaseUrlFrom === 'DATABASE_URL') return `DATABASE_URL=${redactUrl(config.databaseUrl)}`;
  const dataDir = config.databaseUrlFrom === 'DATA_DIR' ? `DATA_DIR=${config.dataDir}` : `DATA_DIR, unset, so its default ${config.dataDir}`;
  return `${dataDir}, since DATABASE_URL is unset; a relative DATA_DIR is taken from the current folder, ${process.cwd()}`;
}

/** The configuration as `cli config` and start-up lines may print it: credentials redacted (lib/redact.ts). */
export function printableConfig(config: AppConfig): Record<string, unknown> {
  return redactDeep(config) as Record<string, unknown>;
}

const perMinute = wholeNumberVar('expected a whole number of requests per minute, 0 for no limit', 0);
const apiRateLimitsSchema = z.object({
  API_RATE_LIMIT_AUTH_FAILURES: perMinute.default(DEFAULT_API_RATE_LIMITS.authFailuresPerAddress),
  API_RATE_LIMIT_PREDICTIONS_PER_TOKEN: perMinute.default(DEFAULT_API_RATE_LIMITS.predictionsPerToken),
  API_RATE_LIMIT_PREDICTIONS_PER_ADDRESS: perMinute.default(DEFAULT_API_RATE_LIMITS.predictionsPerAddress),
});

/** The prediction API's rate limits (only the API process reads them). */
export function loadApiRateLimits(env: NodeJS.ProcessEnv = process.env): ApiRateLimits {
  // Through parseEnvironment like every other variable: " " is refused, not read as 0 (no limit).
  const e = parseEnvironment(apiRateLimitsSchema, env);
  return { authFailuresPerAddress: e.API_RATE_LIMIT_AUTH_FAILURES, predictionsPerToken: e.API_RATE_LIMIT_PREDICTIONS_PER_TOKEN, predictionsPerAddress: e.API_RATE_LIMIT_PREDICTIONS_PER_ADDRESS };
}

/** The API's rate-limit variables, printed by `cli config` after CONFIG_VARIABLES. */
export const API_RATE_LIMIT_VARIABLES: ReadonlyArray<{ name: string; default: string; meaning: string }> = [
  { name: 'API_RATE_LIMIT_AUTH_FAILURES', default: String(DEFAULT_API_RATE_LIMITS.authFailuresPerAddress), meaning: 'failed authentications per client address per minute, then 429 (0: no limit)' },
  { name: 'API_RATE_LIMIT_PREDICTIONS_PER_TOKEN', default: String(DEFAULT_API_RATE_LIMITS.predictionsPerToken), meaning: 'prediction requests per token per minute (0: no limit)' },
  { name: 'API_RATE_LIMIT_PREDICTIONS_PER_ADDRESS', default: String(DEFAULT_API_RATE_LIMITS.predictionsPerAddress), meaning: 'prediction requests per client address per minute (0: no limit)' },
];

/** Documented defaults, printed by `cli config` and mirrored in the README's table. */
export const CONFIG_VARIABLES: ReadonlyArray<{ name: string; default: string; meaning: string }> = [
  { name: 'TEMPORAL_ADDRESS', default: '127.0.0.1:7233', meaning: 'Temporal frontend (gRPC)' },
  { name: 'TEMPORAL_NAMESPACE', default: 'default', meaning: 'Temporal namespace' },
  { name: 'TEMPORAL_UI_URL', default: 'http://127.0.0.1:8233', meaning: 'Web UI base, used for links' },
  { name: 'DATA_DIR', default: '<repo>/.data', meaning: 'local state: SQLite file, Temporal dev db, logs' },
  { name: 'DATABASE_URL', default: 'sqlite:$DATA_DIR/pipeline.sqlite', meaning: 'mysql://user:pass@host:3306/db or sqlite:<file>' },
  { name: 'REDIS_URL', default: '(unset: in-process cache)', meaning: 'redis://host:6379 for cache and pub/sub' },
  { name: 'ARTIFACT_DIR', default: '$DATA_DIR/artifacts', meaning: 'model artifacts, datasets, predictions, reports when ARTIFACT_URL is unset (one machine, or a shared directory)' },
  { name: 'ARTIFACT_URL', default: '(unset: ARTIFACT_DIR)', meaning: 's3://bucket[/prefix]: keep artifacts in S3-compatible object storage (several machines)' },
  { name: 'S3_ENDPOINT', default: '(unset: AWS S3)', meaning: 'URL of an S3-compatible server (MinIO, Ceph, R2, SeaweedFS, versitygw), for ARTIFACT_URL and s3:// CSV sources' },
  { name: 'S3_REGION', default: '$AWS_REGION or us-east-1', meaning: 'region of the bucket; credentials come from the AWS SDK chain (AWS_ACCESS_KEY_ID…)' },
  { name: 'S3_FORCE_PATH_STYLE', default: 'true when S3_ENDPOINT is set', meaning: 'address objects as endpoint/bucket/key rather than bucket.endpoint/key' },
  { name: 'S3_CONNECT_TIMEOUT_MS', default: '5000', meaning: 'longest wait for a connection to the object store; a request that times out is retried (4 attempts in all), then fails naming the store' },
  { name: 'S3_IDLE_TIMEOUT_MS', default: '60000', meaning: "longest silence of the object store within a request (waiting for its answer, or between bytes of an object: a long transfer that keeps moving is not cut); retried like a connection timeout" },
  { name: 'ARTIFACT_CACHE_DIR', default: '$DATA_DIR/artifact-cache', meaning: "this machine's read-through cache of objects from ARTIFACT_URL" },
  { name: 'ARTIFACT_CACHE_MAX_MB', default: '2048', meaning: 'size bound of the read-through cache (least recently used objects go first)' },
  { name: 'MODEL_SIGNING_KEY', default: '(unset: registry rows are not signed)', meaning: `secret of ${MIN_SIGNING_KEY_LENGTH}+ characters: registration signs each model version's row, serving refuses a row without its valid signature; online feature vectors are written signed and served only signed (a secret: never printed)` },
  { name: 'MODEL_SIGNING_PREVIOUS_KEYS', default: '(unset)', meaning: `the keys signing used before a rotation, separated by commas: \`mlp models sign\` and \`mlp report --sign-record\` re-sign a row or record only when one of them (or MODEL_SIGNING_KEY) confirms it, else only with --accept-edit (secrets: never printed)` },
  { name: 'METRICS_ADDRESS', default: '127.0.0.1:9464', meaning: 'worker Prometheus endpoint (host:port)' },
  { name: 'TRAINING_CONCURRENCY', default: 'number of cores', meaning: 'training threads per worker; it runs one CPU-heavy activity more than that at once' },
  { name: 'API_ADDRESS', default: '127.0.0.1:8080', meaning: 'prediction API listen address (host:port)' },
  { name: 'API_TOKENS', default: '(none: every /v1 request is refused)', meaning: 'prediction API bearer tokens: [name:]token=predict+admin,token2=predict' },
  { name: 'API_FEATURE_CACHE_MS', default: String(DEFAULT_API_FEATURE_CACHE_MS), meaning: 'with Redis, how long the API keeps an online vector in process, emptied by every features:updated announcement (0: every prediction reads Redis)' },
  { name: 'API_FEATURE_GRACE_MINUTES', default: String(DEFAULT_FRESHNESS_OPTIONS.graceMinutes), meaning: "minutes after a session's close (16:00 New York, or the early close) before predictions from features without that session are marked stale: true, with sessionsBehind" },
  { name: 'APP_METRICS_ADDRESS', default: '127.0.0.1:9465', meaning: "worker's own Prometheus endpoint: monitoring results, alerts" },
  { name: 'ALERT_WEBHOOK_URL', default: '(unset: alerts go to the log only)', meaning: 'http(s) URL of a Slack-compatible webhook for alerts (a secret: never printed)' },
  { name: 'STREAM_KEY', default: 'bars:live', meaning: 'Redis Stream of live bars' },
  { name: 'STREAM_GROUP', default: 'bar-ingest', meaning: 'consumer group that ingests the live stream' },
  { name: 'STREAM_METRICS_ADDRESS', default: '127.0.0.1:9466', meaning: 'stream consumer Prometheus endpoint (host:port)' },
  { name: 'TEMPORAL_CLI_PATH', default: '(search PATH, then build)', meaning: 'temporal CLI binary used for the dev server' },
];
