/**
 * The online feature vectors this API process has read from Redis, kept in process: without it
 * every prediction made a Redis round trip (a write, a wake-up of redis-server, a read), the
 * largest cost of a request (docs/benchmarks.md, "Prediction API").
 *
 * It stays what Redis holds because every writer of online vectors announces on `features:updated`
 * after writing (lib/features/online-features.ts) and any announcement empties it. It holds
 * nothing, and every read goes to Redis as before, while the subscription is not confirmed or the
 * cache is unreachable (so a Redis outage still falls back to the offline store at once), and it is
 * emptied whenever availability changes (a restarted Redis may hold other vectors). A read that was
 * in flight when an announcement came is used but not kept. Only vectors found are kept (a missing
 * one is looked up every time, then the offline store is asked, as before). As a bound for a
 * missed announcement (a subscriber connection dropped while the main one stayed up, a key changed
 * by hand), an entry is re-read after maxAgeMs.
 *
 * A Cache wrapper: everything but get() of an online vector key goes straight to the wrapped cache.
 * reader() also keeps the vector parsed from an entry, so a request served from memory does not
 * parse the same JSON again.
 */
import type { Cache } from '../cache/cache';
import { FEATURES_UPDATED_CHANNEL, ONLINE_VECTOR_KEY_PREFIX, type OnlineFeatureVector } from '../features/online-features';

export { ONLINE_VECTOR_KEY_PREFIX };

export interface FeatureReadCacheOptions {
  /** Longest an entry is served without being re-read (ms, default 1000). */
  maxAgeMs?: number;
  /** Most entries held; beyond it the cache is emptied (default 100 000). */
  maxEntries?: number;
  now?: () => number;
}

export interface FeatureReadCacheStats {
  hits: number;
  misses: number;
  /** Times it was emptied (announcements, availability changes, writes through it). */
  invalidations: number;
  entries: number;
  /** Whether it serves from memory now (subscription confirmed, cache reachable). */
  active: boolean;
}

export class FeatureReadCache implements Cache {
  readonly kind: Cache['kind'];
  private readonly entries = new Map<string, { value: string; at: number; vector?: OnlineFeatureVector }>();
  /** Bumped by every invalidation: a read that started in an older epoch is not kept. */
  private epoch = 0;
  private subscribed = false;
  private available = true;
  private closed = false;
  private unsubscribe: (() => Promise<void>) | undefined;
  private readonly removeAvailability: () => void;
  private readonly counters = { hits: 0, misses: 0, invalidations: 0 };
  private readonly maxAgeMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly inner: Cache,
    options: FeatureReadCacheOptions = {},
  ) {
    this.kind = inner.kind;
    this.maxAgeMs = options.maxAgeMs ?? 1000;
    this.maxEntries = options.maxEntries ?? 100_000;
    this.now = options.now ?? Date.now;
    if (!(this.maxAgeMs > 0) || !(this.maxEntries > 0)) throw new Error('FeatureReadCache: maxAgeMs and maxEntries must be positive');
    this.removeAvailability = inner.onAvailability((available) => {
      this.available = available;
      this.invalidate();
    });
  }

  /** Subscribes to the announcements; until that is confirmed (or when it fails) every read goes to the cache. */
  async start(): Promise<void> {
    if (this.closed || this.unsubscribe) return;
    const unsubscribe = await this.inner.subscribe(FEATURES_UPDATED_CHANNEL, () => this.invalidate());
    if (this.closed) {
      await unsubscribe();
      return;
    }
    this.unsubscribe = unsubscribe;
    this.invalidate(); // anything read before the subscription was confirmed may have missed an announcement
    this.subscribed = true;
  }

  stats(): FeatureReadCacheStats {
    return { ...this.counters, entries: this.entries.size, active: this.active };
  }

  private get active(): boolean {
    return this.subscribed && this.available && !this.closed;
  }

  private invalidate(): void {
    this.epoch++;
    this.counters.invalidations++;
    this.entries.clear();
  }

  /** The entry of `key` when it may be served from memory now. */
  private fresh(key: string): { value: string; at: number; vector?: OnlineFeatureVector } | undefined {
    if (!this.active) return undefined;
    const entry = this.entries.get(key);
    return entry && this.now() - entry.at < this.maxAgeMs ? entry : undefined;
  }

  /**
   * Reads through `source` (the online feature store over this cache), keeping the vector it
   * parsed from a cache entry with that entry: the next read of the same entry returns it without
   * parsing. The vector is shared by the requests that read it, so it is frozen.
   */
  reader(source: { read(version: string, symbol: string): Promise<OnlineFeatureVector | undefined> }): { read(version: string, symbol: string): Promise<OnlineFeatureVector | undefined> } {
    return {
      read: (version, symbol) => {
        const key = `${ONLINE_VECTOR_KEY_PREFIX}${version}:${symbol}`;
        const entry = this.fresh(key);
        if (entry?.vector) {
          this.counters.hits++;
          return Promise.resolve(entry.vector);
        }
        // With an entry, source.read() gets its value from get() below, synchronously, in this call.
        const read = source.read(version, symbol);
        if (!entry) return read;
        return read.then((vector) => {
          if (vector && vector.version === version && vector.symbol === symbol && this.entries.get(key) === entry) {
            Object.freeze(vector.values);
            Object.freeze(vector.columns);
            entry.vector = Object.freeze(vector);
          }
          return vector;
        });
      },
    };
  }

  get(key: string): Promise<string | undefined> {
    if (!key.startsWith(ONLINE_VECTOR_KEY_PREFIX) || !this.active) return this.inner.get(key);
    const entry = this.fresh(key);
    if (entry) {
      this.counters.hits++;
      return Promise.resolve(entry.value);
    }
    this.counters.misses++;
    const epoch = this.epoch;
    const at = this.now();
    return this.inner.get(key).then((value) => {
      if (value !== undefined && epoch === this.epoch && this.active) {
        if (this.entries.size >= this.maxEntries) this.invalidate();
        else this.entries.set(key, { value, at });
      }
      return value;
    });
  }

  set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    if (key.startsWith(ONLINE_VECTOR_KEY_PREFIX)) this.invalidate();
    return this.inner.set(key, value, ttlSeconds).finally(() => {
      if (key.startsWith(ONLINE_VECTOR_KEY_PREFIX)) this.invalidate();
    });
  }

  setIfUnchanged(key: string, expected: string | undefined, value: string): Promise<boolean> {
    if (key.startsWith(ONLINE_VECTOR_KEY_PREFIX)) this.invalidate();
    return this.inner.setIfUnchanged(key, expected, value).finally(() => {
      if (key.startsWith(ONLINE_VECTOR_KEY_PREFIX)) this.invalidate();
    });
  }

  delete(key: string): Promise<void> {
    if (key.startsWith(ONLINE_VECTOR_KEY_PREFIX)) this.invalidate();
    return this.inner.delete(key).finally(() => {
      if (key.startsWith(ONLINE_VECTOR_KEY_PREFIX)) this.invalidate();
    });
  }

  scan(prefix: string, cursor: string, count: number): Promise<{ cursor: string; keys: string[] }> {
    return this.inner.scan(prefix, cursor, count);
  }

  publish(channel: string, message: string): Promise<void> {
    return this.inner.publish(channel, message);
  }

  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    return this.inner.subscribe(channel, onMessage);
  }

  onAvailability(listener: (available: boolean) => void): () => void {
    return this.inner.onAvailability(listener);
  }

  /** Stops listening; the wrapped cache stays open (its owner closes it). */
  async close(): Promise<void> {
    this.closed = true;
    this.removeAvailability();
    this.entries.clear();
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = undefined;
    await unsubscribe?.().catch(() => undefined);
  }
}
