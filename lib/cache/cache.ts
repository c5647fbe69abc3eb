/**
 * Cache and pub/sub: Redis when REDIS_URL is set (shared by every process), otherwise an in-process
 * fallback with the same behaviour for a single process.
 */
export interface Cache {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | undefined>;
  /** ttlSeconds omitted: no expiry. */
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /**
   * Sets `key` to `value` only if it still holds `expected` (undefined: nothing), atomically: no
   * write can land between the comparison and this one. Returns whether it was set. A writer that
   * decides from what it read (only a newer vector replaces the stored one) writes with it, so what
   * another process wrote after that read is never replaced by a decision made without seeing it.
   */
  setIfUnchanged(key: string, expected: string | undefined, value: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /**
   * One step of a scan over the keys that start with `prefix` (taken literally: no glob), `count`
   * keys or so looked at per step (Redis SCAN's COUNT hint): `cursor` '0' starts, and the step that
   * returns cursor '0' ends it. Keys may come twice; a key written during the scan may be missed.
   */
  scan(prefix: string, cursor: string, count: number): Promise<{ cursor: string; keys: string[] }>;
  publish(channel: string, message: string): Promise<void>;
  /** Resolves once the subscription is active; the returned function unsubscribes. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>>;
  /**
   * Calls `listener(false)` when the cache becomes unreachable and `listener(true)` when it is back
   * (its contents may be gone: a restarted Redis without persistence is empty). Returns a remover.
   */
  onAvailability(listener: (available: boolean) => void): () => void;
  close(): Promise<void>;
}
