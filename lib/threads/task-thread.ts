/** Worker-thread side of TaskPool: runs a named task and transfers its typed arrays back. */
import { parentPort } from 'node:worker_threads';
import { threadTasks, type TaskName } from './tasks';

export interface TaskRequest {
  id: number;
  task: TaskName;
  input: unknown;
}
export interface TaskResponse {
  id: number;
  result?: unknown;
  error?: string;
}

/** Every ArrayBuffer reachable in a result, so it is moved rather than copied. */
function buffersOf(value: unknown, out: Set<ArrayBuffer>): Set<ArrayBuffer> {
  if (ArrayBuffer.isView(value)) out.add(value.buffer as ArrayBuffer);
  else if (Array.isArray(value)) for (const v of value) buffersOf(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) buffersOf(v, out);
  return out;
}

parentPort?.on('message', (request: TaskRequest) => {
  try {
    const run = threadTasks[request.task] as (input: unknown) => unknown;
    const result = run(request.input);
    parentPort?.postMessage({ id: request.id, result } satisfies TaskResponse, [...buffersOf(result, new Set())]);
  } catch (error) {
    parentPort?.postMessage({ id: request.id, error: (error as Error).stack ?? String(error) } satisfies TaskResponse);
  }
});
