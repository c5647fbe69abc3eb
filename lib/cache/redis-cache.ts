import { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import { redactUrl } from '../redact';
import type { Cache } from './cache';

export type CacheLog = (event: string, detail: Record<string, unknown>) => void;

export interface RedisCacheOptions {
  /** Where connection state changes go (once per change, never per failed reconnect). Default: stderr, one JSON line. */
  log?: CacheLog;
  /** Longest wait for a TCP connection (ms, default 1000). */
  connectTimeoutMs?: number;
  /** Longest wait for one command's answer from a connected but stalled Redis (ms, default 500). */
  commandTimeoutMs?: number;
}

/**
 * SET only when GET still returns ARGV[2] (ARGV[1] '1') or nothing (ARGV[1] '0'): one script, so
 * Redis runs the comparison and the write with no other command in between.
 */
const SET_IF_UNCHANGED = `
local current = redis.call('GET', KEYS[1])
if (ARGV[1] == '1' and current == ARGV[2]) or (ARGV[1] == '0' and current == false) then
  redis.call('SET', KEYS[1], ARGV[3])
  return 1
end
return 0`;

type WithSetIfUnchanged = Redis & { mlpSetIfUnchanged(key: string, hasExpected: '0' | '1', expected: string, value: string): Promise<number> };

/** `text` as a Redis glob that matches only itself (`*`, `?`, `[`, `]` and `\\` escaped). */
function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

const defaultLog: CacheLog = (event, detail) => console.error(JSON.stringify({ time: new Date().toISOString(), event, ...detail }));

/**
 * Redis-backed cache; a second connection is opened lazily for subscriptions, as Redis requires.
 * Callers never wait on a Redis that is down: commands are not queued while disconnected (they fail
 * at once), a stalled command times out, and reconnection runs in the background with back-off.
 * Connection errors are handled here and logged once per state change.
 */
export class RedisCache implements Cache {
  readonly kind = 'redis' as const;
  private readonly client: Redis;
  private subscriber: Redis | undefined;
  private readonly handlers = new Map<string, Set<(message: string) => void>>();
  private readonly availability = new EventEmitter();
  /** 'connecting' until the first connection succeeds or fails. */
  private state: 'connecting' | 'up' | 'down' = 'connecting';
  /** Pending until the first connection attempt settles, so commands issued at start-up wait for it rather than fail. */
  private firstConnect: Promise<void> | undefined;
  private closing = false;
  private readonly log: CacheLog;
  private readonly options: RedisOptions;

  constructor(
    private readonly url: string,
    readonly keyPrefix = 'mlp:',
    options: RedisCacheOptions = {},
  ) {
    this.log = options.log ?? defaultLog;
    this.availability.setMaxListeners(0);
    this.options = {
      connectTimeout: options.connectTimeoutMs ?? 1000,
      commandTimeout: options.commandTimeoutMs ?? 500,
      maxRetriesPerRequest: 1,
      // Reconnect forever in the background, backing off to one attempt every 2 s.
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    };
    this.client = new Redis(url, { ...this.options, keyPrefix, lazyConnect: false, enableOfflineQueue: false });
    this.firstConnect = new Promise<void>((resolve) => {
      const settle = () => {
        this.firstConnect = undefined;
        resolve();
      };
      this.client.once('ready', settle);
      this.client.once('error', settle);
      this.client.once('end', settle);
    });
    // Sent once and then called by its SHA (EVALSHA), with the key prefixed like any other key.
    this.client.defineCommand('mlpSetIfUnchanged', { numberOfKeys: 1, lua: SET_IF_UNCHANGED });
    this.client.on('ready', () => this.changeState('up'));
    this.client.on('error', (error: Error) => this.changeState('down', error));
    this.client.on('close', () => this.changeState('down'));
  }

  /** Whether the main connection is up now. */
  get available(): boolean {
    return this.state === 'up';
  }

  onAvailability(listener: (available: boolean) => void): () => void {
    this.availability.on('change', listener);
    return () => this.availability.off('change', listener);
  }

  private changeState(next: 'up' | 'down', error?: Error): void {
    if (this.closing || this.state === next) return;
    const previous = this.state;
    this.state = next;
    const where = redactUrl(this.url);
    if (next === 'down') this.log('cache.redis_down', { url: where, error: error?.message ?? 'connection closed', note: 'retrying in the background; callers fail fast meanwhile' });
    else if (previous === 'down') this.log('cache.redis_up', { url: where });
    // The first successful connection is no change of availability.
    if (!(previous === 'connecting' && next === 'up')) this.availability.emit('change', next === 'up');
  }

  private async connected(): Promise<void> {
    if (this.firstConnect) await this.firstConnect;
  }

  async get(key: string): Promise<string | undefined> {
    await this.connected();
    return (await this.client.get(key)) ?? undefined;
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    await this.connected();
    if (ttlSeconds === undefined) await this.client.set(key, value);
    else await this.client.set(key, value, 'EX', Math.max(1, Math.round(ttlSeconds)));
  }

  async setIfUnchanged(key: string, expected: string | undefined, value: string): Promise<boolean> {
    await this.connected();
    return (await (this.client as WithSetIfUnchanged).mlpSetIfUnchanged(key, expected === undefined ? '0' : '1', expected ?? '', value)) === 1;
  }

  async delete(key: string): Promise<void> {
    await this.connected();
    await this.client.del(key);
  }

  async scan(prefix: string, cursor: string, count: number): Promise<{ cursor: string; keys: string[] }> {
    await this.connected();
    // SCAN's pattern is not prefixed by ioredis, and its keys come back with the prefix: both by hand.
    const [next, keys] = await this.client.scan(cursor, 'MATCH', `${globLiteral(this.keyPrefix + prefix)}*`, 'COUNT', count);
    return { cursor: next, keys: keys.map((k) => k.slice(this.keyPrefix.length)) };
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.connected();
    await this.client.publish(this.keyPrefix + channel, message);
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    const full = this.keyPrefix + channel;
    if (!this.subscriber) {
      // Subscriptions are queued until connected and restored by ioredis after every reconnect.
      this.subscriber = new Redis(this.url, this.options);
      this.subscriber.on('error', () => undefined); // the main connection reports the state; this one would repeat it
      this.subscriber.on('message', (ch: string, message: string) => {
        for (const handler of this.handlers.get(ch) ?? []) handler(message);
      });
    }
    let set = this.handlers.get(full);
    if (!set) {
      set = new Set();
      this.handlers.set(full, set);
      await this.subscriber.subscribe(full);
    }
    set.add(onMessage);
    return async () => {
      const current = this.handlers.get(full);
      current?.delete(onMessage);
      if (current && current.size === 0) {
        this.handlers.delete(full);
        await this.subscriber?.unsubscribe(full).catch(() => undefined);
      }
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    this.availability.removeAllListeners();
    // quit() needs a connection; a Redis that is down is simply disconnected.
    const stop = async (redis: Redis | undefined) => {
      if (!redis) return;
      if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    };
    await Promise.all([stop(this.client), stop(this.subscriber)]);
  }
}
