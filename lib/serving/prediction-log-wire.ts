/**
 * What passes between the prediction-log writer (prediction-log.ts) and its SQLite thread
 * (prediction-log-thread.ts). A module of its own so the writer never loads the thread's script,
 * which starts serving when it finds itself in a worker thread.
 */
import type { PredictionLogTable } from '../store/schema';

/** The columns a row's signature covers, in the order they are signed, before logged_at (prediction-log-signature.ts). */
export const LOG_SIGNED_COLUMNS = ['id', 'request_id', 'model', 'version', 'variant', 'served', 'symbol', 'routing_key', 'as_of', 'probability', 'predicted_class', 'latency_us', 'error', 'created_at'] as const satisfies ReadonlyArray<keyof PredictionLogTable>;

/** The columns of a batch's rows, in the order of a row's values; logged_at (signed too) is the batch's one value, bound beside them. */
export const LOG_THREAD_COLUMNS = [...LOG_SIGNED_COLUMNS, 'signature', 'signature_key_id'] as const satisfies ReadonlyArray<keyof PredictionLogTable>;

export interface LogThreadData {
  file: string;
  /** The store handle's MODEL_SIGNING_KEY: the thread signs each row of a batch (undefined: rows unsigned). */
  signingKey?: string;
}
/**
 * rows: the batch as one string, its rows newline-separated, each the JSON array of its signed values
 * (logRowValuesText, as prediction-log.ts queues them). One string is cloned to the thread as one
 * copy (an array of 500 strings took ~1 ms of the event loop to clone); the thread reads the
 * database's clock for the batch, signs each row with it (signedLogThreadRow: LOG_THREAD_COLUMNS'
 * values) and hands the batch to SQLite as one JSON array.
 */
export type LogThreadRequest = { id: number; rows: string } | { id: number; close: true };
export type LogThreadRow = Array<PredictionLogTable[(typeof LOG_THREAD_COLUMNS)[number]]>;

export interface LogThreadReply {
  id: number;
  error?: string;
}
