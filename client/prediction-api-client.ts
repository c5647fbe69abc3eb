/**
 * Typed client of the prediction API (api/). Retries what may succeed a moment later (network
 * errors, timeouts, 429 and 5xx) with exponential backoff and jitter; never a 4xx, which would fail
 * again the same way. Responses are validated, so a caller gets the documented shape or an error.
 */
import { z } from 'zod';
import {
  errorResponseSchema,
  modelsResponseSchema,
  predictionsResponseSchema,
  readinessResponseSchema,
  type ModelsResponse,
  type PredictionResult,
  type PredictionsResponse,
  type ReadinessResponse,
} from '../api/schemas';

export interface PredictionApiClientOptions {
  /** e.g. http://127.0.0.1:8080 */
  baseUrl: string;
  token: string;
  /** Per attempt. */
  timeoutMs?: number;
  /** Extra attempts after the first. */
  retries?: number;
  /** First backoff; doubles per retry, with jitter. */
  backoffMs?: number;
}

export interface PredictOptions {
  model?: string;
  key?: string;
}

export class PredictionApiError extends Error {
  override name = 'PredictionApiError';
  constructor(
    message: string,
    /** HTTP status, or undefined when no response came (network error, timeout). */
    readonly status: number | undefined,
    /** The server's error code (e.g. "invalid_request"), or "network_error" / "timeout" / "invalid_response". */
    readonly code: string,
    readonly attempts: number,
  ) {
    super(message);
  }
}

const optionsSchema = z.object({
  baseUrl: z.url({ message: 'baseUrl must be a URL such as http://127.0.0.1:8080' }),
  token: z.string().min(1, 'token is required'),
  timeoutMs: z.number().int().positive().default(2000),
  retries: z.number().int().min(0).max(10).default(2),
  backoffMs: z.number().min(0).default(100),
});

/** Retry-After is honoured up to this, so a misconfigured server cannot stall a caller for minutes. */
const MAX_RETRY_AFTER_MS = 10_000;

interface Call<T> {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  schema: z.ZodType<T>;
  /** Statuses that are answers, not failures (e.g. 503 from /readyz). */
  accept?: readonly number[];
  auth?: boolean;
  retry?: boolean;
}

export class PredictionApiClient {
  private readonly options: z.infer<typeof optionsSchema>;

  constructor(options: PredictionApiClientOptions) {
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) throw new Error(`PredictionApiClient: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    this.options = { ...parsed.data, baseUrl: parsed.data.baseUrl.replace(/\/+$/, '') };
  }

  /** Predictions for several symbols; per-symbol failures (e.g. no features) are in `errors`. */
  predict(symbols: readonly string[], opts: PredictOptions = {}): Promise<PredictionsResponse> {
    return this.call({ method: 'POST', path: '/v1/predictions', body: { symbols, ...opts }, schema: predictionsResponseSchema });
  }

  /** The prediction for one symbol; a symbol without features is a PredictionApiError with status 404. */
  async predictOne(symbol: string, opts: PredictOptions = {}): Promise<PredictionResult> {
    const query = new URLSearchParams();
    if (opts.model !== undefined) query.set('model', opts.model);
    if (opts.key !== undefined) query.set('key', opts.key);
    const qs = query.size > 0 ? `?${query.toString()}` : '';
    const response = await this.call({ method: 'GET', path: `/v1/predictions/${encodeURIComponent(symbol)}${qs}`, schema: predictionsResponseSchema });
    const [prediction] = response.predictions;
    if (!prediction) throw new PredictionApiError(response.errors[0]?.error ?? `no prediction for ${symbol}`, 200, 'prediction_failed', 1);
    return prediction;
  }

  models(): Promise<ModelsResponse> {
    return this.call({ method: 'GET', path: '/v1/models', schema: modelsResponseSchema });
  }

  /** Whether the server is ready to serve (models loaded, store and cache answering); 503 is an answer, not retried. */
  async ready(): Promise<ReadinessResponse> {
    return this.call({ method: 'GET', path: '/readyz', schema: readinessResponseSchema, accept: [503], auth: false, retry: false });
  }

  private async call<T>(call: Call<T>): Promise<T> {
    const { retries, backoffMs } = this.options;
    const maxAttempts = call.retry === false ? 1 : retries + 1;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(call, attempt);
      if (outcome.ok) return outcome.value;
      if (!outcome.retryable || attempt >= maxAttempts) throw outcome.error;
      const base = backoffMs * 2 ** (attempt - 1);
      const jittered = base / 2 + Math.random() * (base / 2); // equal jitter: spread retries of many clients
      await sleep(Math.max(jittered, Math.min(outcome.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS)));
    }
  }

  private async attempt<T>(call: Call<T>, attempt: number): Promise<{ ok: true; value: T } | { ok: false; retryable: boolean; error: PredictionApiError; retryAfterMs?: number }> {
    const where = `${call.method} ${call.path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (call.auth !== false) headers.authorization = `Bearer ${this.options.token}`;
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    let text: string;
    try {
      response = await fetch(this.options.baseUrl + call.path, {
        method: call.method,
        headers,
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError';
      const detail = timedOut ? `no answer within ${this.options.timeoutMs} ms` : describeNetworkError(error);
      return { ok: false, retryable: true, error: new PredictionApiError(`${where} failed after ${attempt} attempt(s): ${detail}`, undefined, timedOut ? 'timeout' : 'network_error', attempt) };
    }
    const json = parseJson(text);
    if (response.ok || call.accept?.includes(response.status)) {
      const parsed = call.schema.safeParse(json);
      if (parsed.success) return { ok: true, value: parsed.data };
      const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
      return { ok: false, retryable: false, error: new PredictionApiError(`${where}: unexpected response shape (${problems}); is the server the same version as this client?`, response.status, 'invalid_response', attempt) };
    }
    const server = errorResponseSchema.safeParse(json);
    const code = server.success ? server.data.error : `http_${response.status}`;
    const message = server.success ? server.data.message : text.slice(0, 200) || response.statusText;
    const retryable = response.status === 429 || response.status >= 500;
    const retryAfter = Number(response.headers.get('retry-after'));
    return {
      ok: false,
      retryable,
      error: new PredictionApiError(`${where} → ${response.status} ${code}: ${message}${retryable ? ` (after ${attempt} attempt(s))` : ''}`, response.status, code, attempt),
      retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
    };
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ? `${cause.code} ${cause.message ?? ''}`.trim() : (error as Error).message;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
