/**
 * Tells a consumer when another consumer of the same stream wrote bars, so that its in-memory
 * windows (BarWindows) are reloaded from the store instead of silently going stale.
 *
 * Every consumer, after committing a batch, increments a per-symbol counter (hash `<stream>:revisions`)
 * for each symbol it wrote, then a global counter (`<stream>:revision`). A consumer that sees the
 * global counter move by exactly its own increment knows nobody else wrote in between; otherwise it
 * reads the hash and reloads the symbols whose counters moved. Counters move only after the store
 * commit, so a reload always sees the bars behind them.
 *
 * Redis restarted without persistence (or the keys deleted) restarts the counters at 0. A global
 * counter found below the one known says so (it only ever goes up): every counter is then compared
 * with 0, so this consumer's own writes are not taken for another's (each symbol's window was reloaded
 * once, for nothing) and the symbols others wrote since the restart still are. A restart the counter
 * has already been written past unseen is told only by the consumer (countersLost). Either way what
 * other consumers wrote after this one's last look and before the restart is told by no counter any
 * more: a loss raises `lost`, on which the consumer reads every window again from the store.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** HINCRBY of each symbol (ARGV) in the hash, then INCR of the global counter; returns every new value, the global last. */
const INCREMENT = `local out = {}
for i = 1, #ARGV do out[i] = redis.call('HINCRBY', KEYS[1], ARGV[i], 1) end
out[#ARGV + 1] = redis.call('INCR', KEYS[2])
return out`;
const INCREMENT_SHA = createHash('sha1').update(INCREMENT).digest('hex');

export class BarRevisions {
  private readonly globalKey: string;
  private readonly hashKey: string;
  private global = 0;
  private readonly known = new Map<string, number>();
  private countersWereLost = false;

  constructor(
    private readonly redis: Redis,
    streamKey: string,
  ) {
    this.globalKey = `${streamKey}:revision`;
    this.hashKey = `${streamKey}:revisions`;
  }

  /** Reads the counters; call before loading windows, so any later write shows up as a change. */
  async init(): Promise<void> {
    const [global, all] = await Promise.all([this.redis.get(this.globalKey), this.redis.hgetall(this.hashKey)]);
    this.global = Number(global ?? 0);
    this.known.clear();
    for (const [symbol, value] of Object.entries(all)) this.known.set(symbol, Number(value));
  }

  /**
   * Redis lost the counters (they restart at 0): every symbol counted since by anyone is a change.
   * Raises `lost`: writes of other consumers this one had not seen went with the counters.
   */
  countersLost(): void {
    this.global = 0;
    this.known.clear();
    this.countersWereLost = true;
  }

  /** The counters were found lost (here or by countersLost) since the last lostHandled(): every window should be read again. */
  get lost(): boolean {
    return this.countersWereLost;
  }

  /** Every window was read again from the store: the loss is dealt with. */
  lostHandled(): void {
    this.countersWereLost = false;
  }

  /** Records this consumer's write of `symbols`; returns symbols another consumer changed meanwhile. */
  async afterWrite(symbols: readonly string[]): Promise<string[]> {
    if (symbols.length === 0) return this.check();
    // One command (a script) rather than a pipeline of one HINCRBY per symbol: hundreds of symbols a batch.
    let results: number[];
    try {
      results = (await this.increment(symbols)).map(Number);
    } catch (error) {
      throw new Error(`updating bar revisions failed: ${(error as Error).message}`, { cause: error });
    }
    const global = results[results.length - 1];
    // An increment that took the global counter no higher than known: the counters restarted.
    if (global <= this.global) this.countersLost();
    const foreign: string[] = [];
    symbols.forEach((s, i) => {
      const value = results[i];
      if (value !== (this.known.get(s) ?? 0) + 1) foreign.push(s);
      this.known.set(s, value);
    });
    if (global === this.global + 1) {
      this.global = global;
      return foreign;
    }
    const others = await this.diff();
    this.global = global;
    return [...new Set([...foreign, ...others])];
  }

  private async increment(symbols: readonly string[]): Promise<unknown[]> {
    const args = [INCREMENT_SHA, 2, this.hashKey, this.globalKey, ...symbols];
    try {
      return (await this.redis.call('EVALSHA', args)) as unknown[];
    } catch (error) {
      if (!/NOSCRIPT/.test((error as Error).message)) throw error;
      return (await this.redis.call('EVAL', [INCREMENT, ...args.slice(1)])) as unknown[];
    }
  }

  /** Symbols other consumers changed since the last look (one GET when nothing did). */
  async check(): Promise<string[]> {
    const global = Number((await this.redis.get(this.globalKey)) ?? 0);
    if (global === this.global) return [];
    if (global < this.global) this.countersLost();
    const changed = await this.diff();
    this.global = global;
    return changed;
  }

  private async diff(): Promise<string[]> {
    const all = await this.redis.hgetall(this.hashKey);
    const changed: string[] = [];
    for (const [symbol, raw] of Object.entries(all)) {
      const value = Number(raw);
      if (value !== (this.known.get(symbol) ?? 0)) changed.push(symbol);
      this.known.set(symbol, value);
    }
    return changed;
  }
}
