import { Context } from '@temporalio/activity';

/**
 * Runs `work` (which keeps this thread free: its CPU-heavy parts run on training threads) while
 * heartbeating every few seconds with the current details, and gives up when the activity is
 * cancelled or its worker is shutting down. `work` is given the cancellation signal, so jobs it has
 * queued for a training thread are dropped then, not run.
 */
export async function whileHeartbeating<T>(work: (cancelled: AbortSignal) => Promise<T>, details: () => unknown = () => undefined): Promise<T> {
  const ctx = Context.current();
  ctx.heartbeat(details());
  const alive = setInterval(() => ctx.heartbeat(details()), 5_000);
  const cancelled = new Promise<never>((_, reject) => ctx.cancellationSignal.addEventListener('abort', () => reject(ctx.cancellationSignal.reason as Error)));
  cancelled.catch(() => undefined); // only observed through the race below
  try {
    return await Promise.race([work(ctx.cancellationSignal), cancelled]);
  } finally {
    clearInterval(alive);
  }
}
