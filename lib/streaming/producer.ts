/**
 * Appends live bars to the stream. Every bar is validated (liveBarSchema) before it is sent, so a
 * producer never writes a message the consumer cannot read; quality rules (trading day, OHLC
 * consistency, …) are the consumer's job, as for historical ingestion.
 */
import type { Redis } from 'ioredis';
import { BadInputError, describeValidationError } from '../errors';
import { encodeLiveBar, liveBarSchema, type LiveBar, type LiveBarInput } from './live-bar';
import { groupLag, streamLength } from './redis-streams';

/**
 * Approximate cap on the stream length (XADD MAXLEN ~). Entries beyond it are trimmed whether or
 * not the group has read them, so it must exceed any backlog the consumers may fall behind by:
 * one million entries hold two full S&P 500 histories (2013-2018 is 470k bars), about 150 MB in Redis.
 */
export const DEFAULT_STREAM_MAX_LEN = 1_000_000;
/** Bars per pipeline round trip. */
const PIPELINE_SIZE = 1000;

export interface BarStreamProducerOptions {
  key: string;
  maxLen?: number;
}

export class BarStreamProducer {
  readonly key: string;
  readonly maxLen: number;

  constructor(
    private readonly redis: Redis,
    options: BarStreamProducerOptions,
  ) {
    this.key = options.key;
    this.maxLen = options.maxLen ?? DEFAULT_STREAM_MAX_LEN;
  }

  /** Validates and appends the bars in order; returns their stream entry ids. */
  async publish(bars: readonly LiveBarInput[]): Promise<string[]> {
    const valid: LiveBar[] = bars.map((bar, i) => {
      const parsed = liveBarSchema.safeParse(bar);
      if (!parsed.success) throw new BadInputError(`live bar ${i} (${String((bar as { symbol?: unknown }).symbol)} ${String((bar as { date?: unknown }).date)}) is not a valid message: ${describeValidationError(parsed.error)}`, 'INVALID_LIVE_BAR');
      return parsed.data;
    });
    const ids: string[] = [];
    for (let i = 0; i < valid.length; i += PIPELINE_SIZE) {
      const pipeline = this.redis.pipeline();
      for (const bar of valid.slice(i, i + PIPELINE_SIZE)) pipeline.call('XADD', [this.key, 'MAXLEN', '~', this.maxLen, '*', ...encodeLiveBar(bar)]);
      const results = (await pipeline.exec()) ?? [];
      for (const [error, id] of results) {
        if (error) throw new Error(`XADD to ${this.key} failed: ${error.message}`, { cause: error });
        ids.push(String(id));
      }
    }
    return ids;
  }

  /**
   * Waits while the group has more than `maxBacklog` unread entries, so a fast producer never runs
   * so far ahead that MAXLEN trims entries nobody has read. Before the group exists the whole
   * stream counts as unread. Returns the milliseconds waited.
   */
  async waitForBacklogBelow(group: string, maxBacklog: number, signal?: AbortSignal, pollMs = 50): Promise<number> {
    const started = Date.now();
    for (;;) {
      signal?.throwIfAborted();
      const { exists, lag } = await groupLag(this.redis, this.key, group);
      const backlog = exists ? lag : await streamLength(this.redis, this.key);
      if (backlog === undefined || backlog <= maxBacklog) return Date.now() - started;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }
}
