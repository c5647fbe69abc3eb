import { Redis } from 'ioredis';
import type { Cache } from './cache';

/** Redis-backed cache; a second connection is opened lazily for subscriptions, as Redis requires. */
export class RedisCache implements Cache {
  readonly kind = 'redis' as const;
  private readonly client: Redis;
  private subscriber: Redis | undefined;
  private readonly handlers = new Map<string, Set<(message: string) => void>>();

  constructor(
    private readonly url: string,
    readonly keyPrefix = 'mlp:',
  ) {
    this.client = new Redis(url, { keyPrefix, lazyConnect: false, maxRetriesPerRequest: 3 });
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.client.get(key)) ?? undefined;
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    if (ttlSeconds === undefined) await this.client.set(key, value);
    else await this.client.set(key, value, 'EX', Math.max(1, Math.round(ttlSeconds)));
  }

  async delete(key: string): Promise<void> {
    await this.client.del(key);
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.client.publish(this.keyPrefix + channel, message);
  }

  async subscribe(channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    const full = this.keyPrefix + channel;
    if (!this.subscriber) {
      this.subscriber = new Redis(this.url, { maxRetriesPerRequest: 3 });
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
        await this.subscriber?.unsubscribe(full);
      }
    };
  }

  async close(): Promise<void> {
    await Promise.all([this.client.quit(), this.subscriber?.quit()]);
  }
}
