/** Worker-thread side of TaskPool: runs a named task and transfers its typed arrays back. */
import { parentPort } from 'node:worker_threads';
import { threadTasks, type TaskName } from './tasks';
import { badInputOf, type ErrorCode } from '../errors';

export interface TaskRequest {
  id: number;
  task: TaskName;
  input: unknown;
}
export interface TaskResponse {
  id: number;
  result?: unknown;
  error?: string;
  /** Set when the error means bad input, so the pool raises it as a BadInputError again (non-retryable). */
  badInput?: { code: ErrorCode; message: string };
}

/** Every ArrayBuffer reachable in a result, so it is moved rather than copied. */
function buffersOf(value: unknown, out: Set<ArrayBuffer>): Set<ArrayBuffer> {
  if (ArrayBuffer.isView(value)) out.add(value.buffer as ArrayBuffer);
  else if (Array.isArray(value)) for (const v of value) buffersOf(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) buffersOf(v, out);
  return out;
}

parentPort?.on('message', (request: TaskRequest) => {
  const fail = (error: unknown) => parentPort?.postMessage({ id: request.id, error: (error as Error).stack ?? String(error), badInput: badInputOf(error) } satisfies TaskResponse);
  try {
    const run = threadTasks[request.task] as (input: unknown) => unknown;
    // Tasks may be asynchronous (model fits are); the answer goes back when they settle.
    // A result that cannot be sent (not cloneable) is answered as a failure, not left unanswered.
    Promise.resolve(run(request.input))
      .then((result) => parentPort?.postMessage({ id: request.id, result } satisfies TaskResponse, [...buffersOf(result, new Set())]))
      .catch(fail);
  } catch (error) {
    fail(error);
  }
});
