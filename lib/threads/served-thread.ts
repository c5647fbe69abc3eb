/**
 * A pool thread that serves another thread's requests through shared memory, for work handed over
 * many times a second (boosting's histogram levels and row steps, a network's minibatch parts),
 * where a message per request would cost more than the work. The requesting thread writes its
 * operands into shared arrays and `args`, then an operation; the served thread runs it and marks
 * it done, or stores the error's text. Both sides sleep in Atomics.wait after a short spin
 * (HANDOVER_SPIN_MS); the requester gives up after a minute rather than hang a training forever.
 */
import { sharedBytes, sharedInt32 } from './shared-memory';

const REQUEST = 0;
const DONE = 1;
const OP = 2;
const FAILED = 3;
const READY = 4;
const ARGS = 5;
/** The operation that ends serveRequests. */
export const STOP = 0;

/**
 * How long both sides spin before sleeping. A wake-up from Atomics.wait took 50-300 µs on the
 * 2-core VMs measured (the idle vCPU must be woken), as much as a short request's work: a network's
 * 200k-row fit on 2 threads took 3.37 s sleeping at once and 2.67 s spinning up to 0.2 ms first
 * (50 µs to 1 ms alike; one thread took 3.04 s); a 200k-row boosting fit 2.27 against 2.22 s mean
 * in 8 alternating runs, 7 of them faster (1 ms: 2.29 s).
 */
export const HANDOVER_SPIN_MS = 0.2;

// Atomics.waitAsync is in Node 16+ (V8), but not in TypeScript's ES2022 library.
interface AtomicsWaitAsync {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): { async: boolean; value: Promise<'ok' | 'timed-out'> | 'not-equal' | 'timed-out' };
}

/** What both sides share; structured-cloneable, so it travels in a pool task's input. */
export interface ServedChannel {
  control: Int32Array;
  error: Uint8Array;
}

/** A channel with `args` integers of operands beside the control words. */
export function servedChannel(args: number): ServedChannel {
  return { control: sharedInt32(ARGS + args), error: sharedBytes(2048) };
}

/** The operand integers of a channel. */
export const channelArgs = (channel: ServedChannel): Int32Array => channel.control.subarray(ARGS);

/**
 * Waits up to `spinMs` for control[at] to leave `value` before the caller sleeps in Atomics.wait:
 * a wake-up from Atomics.wait can cost as much as a short request's work.
 */
function spinWhile(control: Int32Array, at: number, value: number, spinMs: number): void {
  if (spinMs <= 0 || Atomics.load(control, at) !== value) return;
  const until = performance.now() + spinMs;
  while (Atomics.load(control, at) === value && performance.now() < until);
}

/** The pool thread's side: runs `handle(op)` for each request until the STOP operation. */
export function serveRequests(channel: ServedChannel, handle: (op: number) => void, spinMs = HANDOVER_SPIN_MS): void {
  const { control, error } = channel;
  let seen = 0;
  Atomics.store(control, READY, 1);
  Atomics.notify(control, READY);
  for (;;) {
    spinWhile(control, REQUEST, seen, spinMs);
    // A wake-up alone is no new request: a requester preempted between storing a request and its
    // notify wakes this thread after it has already seen (spinning) and run that request, and
    // running it again raced with the next request's operands (a boosting fit's leaf values added
    // twice, rows partitioned from stale operands).
    while (Atomics.load(control, REQUEST) === seen) Atomics.wait(control, REQUEST, seen);
    seen = Atomics.load(control, REQUEST);
    const op = Atomics.load(control, OP);
    try {
      if (op === STOP) return;
      handle(op);
    } catch (e) {
      const text = Buffer.from(String(e instanceof Error ? (e.stack ?? e.message) : e)).subarray(0, error.length - 1);
      error.set(text);
      Atomics.store(control, FAILED, text.length);
    } finally {
      Atomics.store(control, DONE, seen);
      Atomics.notify(control, DONE);
    }
  }
}

/** The requesting thread's handle on a served channel; `what` names the thread in errors. */
export class ServedThread {
  private seq = 0;
  readonly args: Int32Array;

  constructor(
    readonly channel: ServedChannel,
    private readonly what: string,
    private readonly spinMs = HANDOVER_SPIN_MS,
  ) {
    this.args = channelArgs(channel);
  }

  /**
   * Resolves when the pool thread runs the serving task (a thread's first task waits for it to
   * start). Awaited, not blocked on: the calling thread's event loop (heartbeats) goes on meanwhile.
   */
  async untilServing(timeoutMs: number): Promise<void> {
    const wait = (Atomics as unknown as AtomicsWaitAsync).waitAsync(this.channel.control, READY, 0, timeoutMs);
    if ((wait.async ? await wait.value : wait.value) === 'timed-out') throw new Error(`no pool thread took the ${this.what} within ${timeoutMs} ms`);
  }

  /** Whether the pool thread has started serving (it may still be starting, or finishing other work). */
  get serving(): boolean {
    return Atomics.load(this.channel.control, READY) === 1;
  }

  /** Starts operation `op` on the operands written so far; finish() waits for it. */
  send(op: number): void {
    const { control } = this.channel;
    Atomics.store(control, OP, op);
    Atomics.store(control, REQUEST, ++this.seq);
    Atomics.notify(control, REQUEST);
  }

  /** Waits for the last operation; throws the served thread's error, if it failed. */
  finish(): void {
    const { control } = this.channel;
    spinWhile(control, DONE, this.seq - 1, this.spinMs);
    for (;;) {
      const done = Atomics.load(control, DONE);
      if (done === this.seq) break;
      if (Atomics.wait(control, DONE, done, 60_000) === 'timed-out') throw new Error(`${this.what} thread did not answer within 60 s`);
    }
    const failed = Atomics.load(control, FAILED);
    if (failed > 0) throw new Error(`${this.what} thread failed: ${Buffer.from(this.channel.error.subarray(0, failed)).toString()}`);
  }

  stop(): void {
    this.send(STOP);
  }
}
