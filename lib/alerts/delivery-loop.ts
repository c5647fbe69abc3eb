/**
 * The worker's delivery loop: every few seconds, deliver what is due in the outbox, so alerts raised
 * while a receiver (or this worker) was down go out once it is back.
 */
import type { Database } from '../store/database';
import type { AlertChannel } from './channels';
import { deliverPendingAlerts, type DeliverResult } from './outbox';

export interface DeliveryLoopOptions {
  store: Database;
  channels: readonly AlertChannel[];
  intervalMs?: number;
  /** Every pass's result (metrics, logs). */
  onResult?: (result: DeliverResult) => void;
  /** A pass that could not run (store unreachable): reported, and the loop goes on. */
  onError?: (error: unknown) => void;
}

export interface DeliveryLoop {
  /** Waits for a pass in progress, then stops. */
  stop(): Promise<void>;
}

export function startAlertDeliveryLoop(options: DeliveryLoopOptions): DeliveryLoop {
  const intervalMs = options.intervalMs ?? 5000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> = Promise.resolve();
  const run = async () => {
    try {
      const result = await deliverPendingAlerts(options.store, options.channels);
      if (result.attempts.length > 0) options.onResult?.(result);
    } catch (error) {
      options.onError?.(error);
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      pass = run().then(schedule);
    }, intervalMs);
  };
  pass = run().then(schedule);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await pass;
    },
  };
}
