import { EventEmitter } from 'node:events';
import type { Cache } from './cache';

/** In-process cache for the zero-config setup: one process, nothing shared. */
export class MemoryCache implements Cache {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, { value: string; expiresAt: number }>();
  private readonly bus = new EventEmitter();

  constructor(private readonly now: () => number = Date.now) {
    this.bus.setMaxListeners(0);
  }

  get(key: string): Promise<string | undefined> {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt <= this.now()) this.entries.delete(key);
    return Promise.resolve(entry && entry.expiresAt > this.now() ? entry.value : undefined);
  }

  set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    this.entries.set(key, { value, expiresAt: ttlSeconds === undefined ? Infinity : this.now() + ttlSeconds * 1000 });
    return Promise.resolve();
  }

  setIfUnchanged(key: string, expected: string | undefined, value: string): Promise<boolean> {
    // Compared and written in one synchronous step: no other write runs in between.
    const entry = this.entries.get(key);
    const current = entry && entry.expiresAt > this.now() ? entry.value : undefined;
    if (current !== expected) return Promise.resolve(false);
    this.entries.set(key, { value, expiresAt: Infinity });
    return Promise.resolve(true);
  }

  delete(key: string): Promise<void> {
    this.entries.delete(key);
    return Promise.resolve();
  }

  /** Every live key under the prefix in one step (the cursor is ignored: one process, nothing large). */
  scan(prefix: string, _cursor?: string, _count?: number): Promise<{ cursor: string; keys: string[] }> {
    const now = this.now();
    return Promise.resolve({ cursor: '0', keys: [...this.entries].filter(([k, e]) => k.startsWith(prefix) && e.expiresAt > now).map(([k]) => k) });
  }

  publish(channel: string, message: string): Promise<void> {
    // Deliver asynchronously, as Redis does, so publishers never run subscriber code inline.
    queueMicrotask(() => this.bus.emit(channel, message));
    return Promise.resolve();
  }

  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    this.bus.on(channel, onMessage);
    return Promise.resolve(() => {
      this.bus.off(channel, onMessage);
      return Promise.resolve();
    });
  }

  /** Always reachable: the listener is never called. */
  onAvailability(): () => void {
    return () => undefined;
  }

  close(): Promise<void> {
    this.bus.removeAllListeners();
    this.entries.clear();
    return Promise.resolve();
  }
}
