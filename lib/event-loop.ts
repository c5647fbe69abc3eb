/**
 * Lets the event loop run what is waiting (I/O callbacks, timers, a Temporal worker's task
 * dispatch and heartbeats) between parts of a long computation on the main thread.
 */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
