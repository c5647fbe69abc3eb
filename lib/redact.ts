/**
 * The one redaction helper for anything that prints configuration (the `config` command, start-up
 * lines, configuration errors, store descriptions). Credentials never reach a terminal or a log:
 * passwords in URLs, secret query parameters, token-like path segments (webhook URLs carry their
 * secret in the path), and every value of a variable whose name says it is a secret.
 */

export const REDACTED = '(redacted)';

/**
 * Variable names whose values are secrets: *_TOKEN(S), *_SECRET, *_PASSWORD, *_KEY, *_WEBHOOK_URL,
 * *_CREDENTIALS, *_AUTH. Matched on the UPPER_SNAKE name (camelCase keys are converted first).
 */
const SECRET_NAME = /(^|_)(TOKENS?|SECRETS?|PASSWORDS?|PASSWD|PASS|PWD|KEYS?|CREDENTIALS?|AUTH|AUTHORIZATION|COOKIE|WEBHOOK(_URL)?|PRIVATE_KEY|DSN)$/;

/** Names matching SECRET_NAME that hold no secret: STREAM_KEY names a Redis stream. */
const NOT_SECRET = new Set(['STREAM_KEY']);

/** "…_PER_TOKEN" names a quantity counted per token (a rate limit), not a token: its value may be shown. */
const PER_UNIT = /_PER_[A-Z]+$/;

/** Query parameters that carry credentials in URLs (signatures, tokens, keys). */
const SECRET_PARAM = /^(.*[_-])?(token|access_token|secret|password|passwd|pwd|key|apikey|api_key|sig|signature|auth|credential|credentials|code)$/i;

/**
 * A path segment that looks like a generated id or secret (webhook URLs are made of them): 8+
 * URL-safe characters with a digit in them, or 32+ of any. Words such as "namespaces" stay.
 */
function looksLikeSecret(segment: string): boolean {
  if (!/^[A-Za-z0-9_.~+=-]+$/.test(segment)) return false;
  return segment.length >= 32 || (segment.length >= 8 && /[0-9]/.test(segment));
}

/** "databaseUrl" → "DATABASE_URL"; "API_TOKENS" stays. */
export function toEnvName(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** Whether a variable (or config key) with this name holds a secret. */
export function isSecretName(name: string): boolean {
  const env = toEnvName(name);
  return !NOT_SECRET.has(env) && !PER_UNIT.test(env) && SECRET_NAME.test(env);
}

/**
 * A URL with its credentials replaced: user kept, password → ***, secret query values → ***,
 * token-like path segments → ***. Text that is not a URL is returned unchanged, except that a
 * "user:password@" part is still masked.
 */
export function redactUrl(text: string): string {
  if (!/^[a-z][a-z0-9+.-]*:/i.test(text)) return text;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    url = undefined as unknown as URL;
  }
  // sqlite:<file>, or anything URL cannot parse: only the user:password@ part is masked (file paths stay readable).
  if (!url || !text.includes('//')) return text.replace(/\/\/([^:@/]*):[^@]*@/, '//$1:***@');
  let changed = false;
  const mask = (): string => {
    changed = true;
    return '***';
  };
  if (url.password) url.password = mask();
  for (const key of [...url.searchParams.keys()]) if (SECRET_PARAM.test(key)) url.searchParams.set(key, mask());
  // Web URLs (webhooks) carry secrets in their path; other schemes' paths are database names and the like.
  if ((url.protocol === 'http:' || url.protocol === 'https:') && url.pathname.length > 1) {
    url.pathname = url.pathname.split('/').map((s) => (looksLikeSecret(safeDecode(s)) ? mask() : s)).join('/');
  }
  if (url.hash.length > 1 && looksLikeSecret(url.hash.slice(1))) url.hash = mask();
  // Unchanged text is returned as given (URL would normalise it, e.g. add a trailing "/"); URL escapes the '*' we put in.
  return changed ? url.toString().replace(/%2A/gi, '*') : text;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * A secret variable's value for display: only the scheme and host of a URL (enough to tell which
 * service it points at), nothing of anything else.
 */
function redactSecret(value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:' || url.host) return `${url.protocol}//${url.host}/${REDACTED}`;
  } catch {
    // not a URL
  }
  return REDACTED;
}

/** One variable's value as it may be printed. */
export function redactValue(name: string, value: string): string {
  if (isSecretName(name)) return redactSecret(value);
  return value.includes(':') ? redactUrl(value) : value;
}

/**
 * A deep copy of `value` fit to print: secret-named keys redacted (whatever they hold), URLs in
 * every other string redacted. Objects with toJSON are serialised first.
 */
export function redactDeep(value: unknown, name = ''): unknown {
  if (value === null || value === undefined) return value;
  if (typeof value === 'string') return name !== '' ? redactValue(name, value) : redactUrl(value);
  if (typeof value !== 'object') return name !== '' && isSecretName(name) ? REDACTED : value;
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return redactDeep(toJSON.call(value), name);
  // Items of a list take the list's name (API_TOKENS entries are secrets); object fields their own.
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, name));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, k)]));
}

/** Environment variables for display: secret-named values redacted, credentials in URLs masked. */
export function redactEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = redactValue(name, value);
  return out;
}
