/**
 * Batched, bounded writer of prediction_log rows. The request path only appends to an in-memory
 * queue; rows are written every flushMs or every batchRows, and on close. A failed flush keeps its
 * rows queued and is retried with backoff; a retried batch that had in fact committed does not fail
 * (duplicate ids are ignored). Beyond maxQueued the oldest rows are dropped, and counted.
 *
 * On a SQLite file the batches are written by a worker thread with its own connection
 * (prediction-log-thread.ts): better-sqlite3 is synchronous, and a batch of a few hundred rows
 * (plus the WAL checkpoint a commit sometimes runs) written on the event loop held up every request
 * arriving meanwhile — it was the API's p99 (docs/benchmarks.md, "Prediction API"). Batches still
 * go one at a time, in order, and a row counts as written once its transaction has committed. Each
 * row is queued as the JSON text of its values, made when it is appended, and a batch goes to the
 * thread as one string: a batch of row objects took the event loop milliseconds to clone, an array
 * of 500 strings ~1 ms, one string a copy.
 * MySQL (asynchronous already) and in-memory SQLite stores are written from the calling thread.
 *
 * With MODEL_SIGNING_KEY each row is signed when its batch is written, never when it is appended:
 * one HMAC is 5-16 µs a row, and a request logs a row per symbol and variant (1,500 for 500 symbols
 * and three variants). The SQLite thread signs its batches itself; the direct path signs in the flush.
 * Either reads the database's clock for the batch first and signs that logged_at with every row
 * (prediction-log-signature.ts: the analyses fold by it); the direct path reads it on the connection
 * it then INSERTs on, taken before the read (see insert).
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { v7 as uuidv7 } from 'uuid';
import type { Database } from '../store/database';
import { readDbClockMicros } from '../store/db-clock';
import type { PredictionLogTable } from '../store/schema';
import type { Prediction, RequestPredictions } from './predict';
import { logRowSignatureColumns, logRowValuesText } from './prediction-log-signature';
import { type LogThreadData, type LogThreadReply, type LogThreadRequest } from './prediction-log-wire';

/** One prediction_log row, camelCase. */
export interface PredictionLogEntry {
  /** requestId + ':' + variant */
  id: string;
  requestId: string;
  model: string;
  version: number;
  variant: string;
  /** true for the response, false for shadow and paired reference predictions. */
  served: boolean;
  symbol: string;
  routingKey: string;
  /** Date of the feature vector this prediction used (YYYY-MM-DD): each variant's own, as outcomes are dated by it. */
  asOf: string;
  probability: number | null;
  predictedClass: number | null;
  latencyUs: number;
  error: string | null;
  createdAt: string;
}

export interface PredictionLogOptions {
  /** Longest a row waits in the queue before a flush starts (ms, default 250). */
  flushMs?: number;
  /** Queue length that starts a flush at once (default 500). */
  batchRows?: number;
  /** Rows held at most; beyond it the oldest are dropped and counted (default 100 000). */
  maxQueued?: number;
  /** Longest wait between retries of a failing flush (ms, default 30 000). */
  maxBackoffMs?: number;
  /** On a SQLite file, write from a worker thread (default true); false: from the calling thread. */
  thread?: boolean;
  log?: (event: string, detail: Record<string, unknown>) => void;
}

export interface PredictionLogStats {
  /** Rows the store acknowledged. */
  written: number;
  /** Rows lost: pushed out of a full queue, or still unwritten when close gave up. */
  dropped: number;
  /** Rows refused by append because they do not fit the table (too long a field, bad number). */
  rejected: number;
  failedFlushes: number;
  /** Rows waiting, including a batch being written. */
  queued: number;
  lastError?: string;
}

/** Column widths of prediction_log (migration 0005): longer values would fail the whole batch on MySQL. */
export const PREDICTION_LOG_LIMITS = { id: 80, requestId: 32, model: 64, variant: 32, symbol: 32, routingKey: 128, asOf: 10, createdAt: 32 } as const;

/** Rows per INSERT: 17 parameters each, well under SQLite's and MySQL's placeholder limits. */
const INSERT_CHUNK_ROWS = 500;
const CLOSE_ATTEMPTS = 3;
/**
 * Longest a direct flush lets pass between its clock read and sending the INSERT (ms), and its tries
 * before it fails (its rows stay queued): well inside the analyses' settle lag (two minutes,
 * log-aggregates.ts), as the SQLite thread's lock wait (10 s) is.
 */
const MAX_CLOCK_TO_INSERT_MS = 5000;
const CLOCK_ATTEMPTS = 3;
const MAX_INT32 = 2147483647;

/**
 * A new request id: a UUIDv7 without dashes (32 hex digits), so ids grow with time. prediction_log's
 * primary key (MariaDB's clustered index, SQLite's id index) then takes each new row at its end
 * instead of at a random page: 24 against 41 µs a row on the SQLite log thread at 300,000 rows.
 */
export function newRequestId(): string {
  return uuidv7(undefined, REQUEST_ID_BYTES).toString('hex');
}
/** newRequestId's 16 bytes, written and read within one call: their hex is the id, with no dashes to strip. */
const REQUEST_ID_BYTES = Buffer.alloc(16);

/**
 * The log rows of one request: its served prediction and every unserved one, each dated by the
 * vector it read (a shadow on another feature set may read another day's); `request.asOf` (the
 * routed vector's) only for a prediction that failed before reading one.
 */
export function predictionLogEntries(
  request: { requestId: string; model: string; symbol: string; routingKey: string; asOf: string; createdAt: string },
  predictions: RequestPredictions,
): PredictionLogEntry[] {
  const row = (p: Prediction, served: boolean): PredictionLogEntry => ({
    id: `${request.requestId}:${p.variant}`,
    requestId: request.requestId,
    model: request.model,
    version: p.version,
    variant: p.variant,
    served,
    symbol: request.symbol,
    routingKey: request.routingKey,
    asOf: p.asOf ?? request.asOf,
    probability: p.probability,
    predictedClass: p.predictedClass,
    latencyUs: p.latencyMicros,
    error: p.error ?? null,
    createdAt: request.createdAt,
  });
  return [row(predictions.served, true), ...predictions.unserved.map((p) => row(p, false))];
}

/**
 * The log row of a request whose routed variant failed before any model predicted (no vector in its
 * feature set, the features unreadable, its version not loaded): an error row of that variant and
 * version, served (it was the answer), with no probability and no model time, as the analyses read
 * a model's own failure.
 */
export function failedPredictionLogEntry(
  request: { requestId: string; model: string; symbol: string; routingKey: string; asOf: string; createdAt: string },
  route: { variant: string; version: number },
  error: string,
): PredictionLogEntry {
  return {
    id: `${request.requestId}:${route.variant}`,
    requestId: request.requestId,
    model: request.model,
    version: route.version,
    variant: route.variant,
    served: true,
    symbol: request.symbol,
    routingKey: request.routingKey,
    asOf: request.asOf,
    probability: null,
    predictedClass: null,
    latencyUs: 0,
    error,
    createdAt: request.createdAt,
  };
}

const LIMITS = Object.entries(PREDICTION_LOG_LIMITS) as Array<[keyof typeof PREDICTION_LOG_LIMITS, number]>;

/** Why an entry cannot be stored, or undefined when it can. */
function entryProblem(e: PredictionLogEntry): string | undefined {
  for (const [field, max] of LIMITS) {
    const value = e[field];
    if (typeof value !== 'string' || value.length === 0 || value.length > max) return `${field} must be a non-empty string of at most ${max} characters`;
  }
  if (!Number.isInteger(e.version)) return 'version must be an integer';
  if (e.probability !== null && !Number.isFinite(e.probability)) return 'probability must be finite or null';
  if (e.predictedClass !== null && !Number.isInteger(e.predictedClass)) return 'predictedClass must be an integer or null';
  if (!Number.isFinite(e.latencyUs)) return 'latencyUs must be finite';
  return undefined;
}

/** The row of an entry, unsigned: the signature is made when its batch is written (see the top of this file). */
function toRow(e: PredictionLogEntry): LogRow {
  return {
    id: e.id,
    request_id: e.requestId,
    model: e.model,
    version: e.version,
    variant: e.variant,
    served: e.served ? 1 : 0,
    symbol: e.symbol,
    routing_key: e.routingKey,
    as_of: e.asOf,
    probability: e.probability,
    predicted_class: e.predictedClass,
    latency_us: Math.min(MAX_INT32, Math.max(0, Math.round(e.latencyUs))),
    error: e.error,
    created_at: e.createdAt,
  };
}

/** A queued row: every column the writer sets but the signature's two and logged_at. */
type LogRow = Omit<PredictionLogTable, 'signature' | 'signature_key_id' | 'logged_at'>;

const THREAD_SCRIPT = path.join(__dirname, 'prediction-log-thread');

/**
 * The thread that writes a SQLite file's batches (started on the first batch, never keeping the
 * process alive when idle). A thread that dies fails its batch, which the writer retries on a new one.
 */
class SqliteLogThread {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();

  constructor(
    private readonly file: string,
    private readonly signingKey: string | undefined,
  ) {}

  /** rows: each row's signed values as JSON text (logRowValuesText); the batch crosses to the thread as one string. */
  insert(rows: string[]): Promise<void> {
    return this.request({ id: this.nextId++, rows: rows.join('\n') });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    await this.request({ id: this.nextId++, close: true }).catch(() => undefined);
    this.worker = undefined;
    await worker.terminate();
  }

  private request(request: LogThreadRequest): Promise<void> {
    const worker = this.start();
    return new Promise((resolve, reject) => {
      this.pending.set(request.id, { resolve, reject });
      worker.ref(); // busy: keep the process alive until the batch is written
      worker.postMessage(request);
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    // The project runs from TypeScript sources through tsx; the thread loads them the same way (as lib/threads does).
    const worker = new Worker(`require('tsx/cjs'); require(${JSON.stringify(THREAD_SCRIPT)});`, { eval: true, workerData: { file: this.file, ...(this.signingKey !== undefined ? { signingKey: this.signingKey } : {}) } satisfies LogThreadData });
    worker.on('message', (reply: LogThreadReply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (reply.error !== undefined) waiter.reject(new Error(reply.error));
      else waiter.resolve();
      if (this.pending.size === 0) worker.unref();
    });
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
    worker.on('error', (error) => fail(new Error(`the prediction-log thread failed: ${error.message}`)));
    worker.on('exit', (code) => fail(new Error(`the prediction-log thread exited with code ${code}`)));
    worker.unref();
    this.worker = worker;
    return worker;
  }
}

export class PredictionLogWriter {
  /** Unsigned row objects, or on the thread path their signed values' JSON text (logRowValuesText). */
  private queue: Array<LogRow | string> = [];
  private inFlight = 0;
  private readonly counters = { written: 0, dropped: 0, rejected: 0, failedFlushes: 0 };
  private lastError: string | undefined;
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private timerDue = 0;
  private consecutiveFailures = 0;
  private retryAt = 0;
  private closed = false;
  private readonly flushMs: number;
  private readonly batchRows: number;
  private readonly maxQueued: number;
  private readonly maxBackoffMs: number;
  private readonly thread: SqliteLogThread | undefined;

  constructor(
    private readonly store: Database,
    private readonly options: PredictionLogOptions = {},
  ) {
    this.flushMs = options.flushMs ?? 250;
    this.batchRows = options.batchRows ?? 500;
    this.maxQueued = options.maxQueued ?? 100_000;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    for (const [name, value] of Object.entries({ flushMs: this.flushMs, batchRows: this.batchRows, maxQueued: this.maxQueued, maxBackoffMs: this.maxBackoffMs })) {
      if (!(Number.isFinite(value) && value > 0)) throw new Error(`PredictionLogWriter: ${name} must be a positive number, got ${value}`);
    }
    const sqlite = store.sqlite;
    if (options.thread !== false && store.driver === 'sqlite' && sqlite && !sqlite.memory) this.thread = new SqliteLogThread(sqlite.name, store.signing?.signingKey);
  }

  /** Queues rows for writing; never waits for the store. Rows that cannot be stored are counted as rejected. */
  append(entries: readonly PredictionLogEntry[]): void {
    for (const entry of entries) {
      const problem = entryProblem(entry);
      if (problem) {
        this.counters.rejected++;
        this.lastError = `prediction log row ${String(entry.id).slice(0, 80)} rejected: ${problem}`;
        continue;
      }
      if (this.closed) {
        this.counters.dropped++;
        this.lastError = 'prediction log rows appended after close were dropped';
        continue;
      }
      const row = toRow(entry);
      this.queue.push(this.thread ? logRowValuesText(row) : row);
    }
    this.enforceBound();
    if (this.queue.length === 0) return;
    const backoff = Math.max(0, this.retryAt - Date.now());
    this.schedule(this.queue.length >= this.batchRows ? backoff : Math.max(backoff, this.flushMs));
  }

  /** Writes every queued row; rejects (rows kept queued, retried later) when the store fails. */
  flush(): Promise<void> {
    const run = this.chain.then(() => this.drain());
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Stops the timer and writes what is queued, retrying a few times; rows still unwritten then are counted as dropped. */
  async close(): Promise<void> {
    this.closed = true;
    this.clearTimer();
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.flush();
          return;
        } catch (error) {
          if (attempt >= CLOSE_ATTEMPTS) {
            const lost = this.queue.length;
            this.counters.dropped += lost;
            this.queue = [];
            throw new Error(`prediction log: ${lost} rows could not be written before close (${(error as Error).message})`, { cause: error });
          }
          await new Promise((resolve) => setTimeout(resolve, this.backoffMs()));
        }
      }
    } finally {
      await this.thread?.close();
    }
  }

  stats(): PredictionLogStats {
    return { ...this.counters, queued: this.queue.length + this.inFlight, ...(this.lastError !== undefined ? { lastError: this.lastError } : {}) };
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, INSERT_CHUNK_ROWS);
      this.inFlight = batch.length;
      try {
        await this.insert(batch);
      } catch (error) {
        // Back to the front, in order; the bound applies again (oldest first out).
        this.queue = batch.concat(this.queue);
        this.enforceBound();
        this.counters.failedFlushes++;
        this.consecutiveFailures++;
        this.lastError = `prediction log flush failed: ${(error as Error).message}`;
        this.options.log?.('prediction_log.flush_failed', { rows: batch.length, queued: this.queue.length, error: (error as Error).message });
        const delay = this.backoffMs();
        this.retryAt = Date.now() + delay;
        this.clearTimer();
        this.schedule(delay);
        throw error;
      } finally {
        this.inFlight = 0;
      }
      this.counters.written += batch.length;
      this.consecutiveFailures = 0;
      this.retryAt = 0;
    }
  }

  private async insert(queued: Array<LogRow | string>): Promise<void> {
    if (this.thread) return this.thread.insert(queued as string[]);
    const rows = queued as LogRow[];
    const { driver, signing } = this.store;
    // logged_at by the database's clock, read for the batch and signed with each row: the deployment
    // analyses fold rows by it (log-aggregates.ts), so the batch must commit within their settle lag
    // of the read. The connection is taken first, and the clock read and the INSERT go on it: a
    // flush that read the clock and then waited for a pool connection (mysql2 waits without limit;
    // the API's requests share the pool) committed behind a watermark an analysis had already
    // passed, and its rows were never counted (84 rows at a 1 s settle lag).
    await this.store.db.connection().execute(async (db) => {
      for (let attempt = 1; ; attempt++) {
        const readAt = performance.now();
        const loggedAt = await readDbClockMicros(db, driver);
        const values = rows.map((r) => ({ ...r, logged_at: loggedAt, ...logRowSignatureColumns(signing, { ...r, logged_at: loggedAt }) }));
        // A stalled event loop between the read and the INSERT: read the clock again and sign again.
        if (performance.now() - readAt > MAX_CLOCK_TO_INSERT_MS) {
          if (attempt < CLOCK_ATTEMPTS) continue;
          throw new Error(`the batch could not be sent within ${MAX_CLOCK_TO_INSERT_MS} ms of its clock read (${CLOCK_ATTEMPTS} tries): the process is stalled`);
        }
        const insert = db.insertInto('prediction_log').values(values);
        // A retried batch may have committed the first time: its ids are already there, which is fine.
        if (driver === 'mysql') await insert.onDuplicateKeyUpdate((eb) => ({ id: eb.ref('prediction_log.id') })).execute();
        else await insert.onConflict((oc) => oc.column('id').doNothing()).execute();
        return;
      }
    });
  }

  private enforceBound(): void {
    const excess = this.queue.length + this.inFlight - this.maxQueued;
    if (excess <= 0) return;
    const dropped = Math.min(excess, this.queue.length);
    this.queue.splice(0, dropped);
    this.counters.dropped += dropped;
    this.lastError = `prediction log queue full (${this.maxQueued} rows): dropped the ${dropped} oldest`;
  }

  private backoffMs(): number {
    return Math.min(this.maxBackoffMs, this.flushMs * 2 ** Math.max(0, this.consecutiveFailures - 1));
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    const due = Date.now() + delayMs;
    if (this.timer) {
      if (this.timerDue <= due) return;
      this.clearTimer();
    }
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch(() => undefined); // counted, logged and rescheduled by drain
    }, delayMs);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
