import crypto from 'node:crypto';
import { openCache } from '../../lib/cache/open-cache';
import { RedisCache } from '../../lib/cache/redis-cache';
import { TEST_REDIS_URL } from '../helpers/databases';

describe('Redis cache and pub/sub (real Redis)', () => {
  const cache = new RedisCache(TEST_REDIS_URL, `mlp-test-${crypto.randomBytes(3).toString('hex')}:`);
  const other = new RedisCache(TEST_REDIS_URL, cache.keyPrefix);
  afterAll(async () => {
    await cache.close();
    await other.close();
  });

  it('is what openCache picks when REDIS_URL is set, and memory otherwise', async () => {
    const picked = openCache(TEST_REDIS_URL);
    expect(picked.kind).toBe('redis');
    await picked.close();
    expect(openCache(undefined).kind).toBe('memory');
  });

  it('stores, reads, expires and deletes values shared across connections', async () => {
    await cache.set('k', 'v1');
    expect(await other.get('k')).toBe('v1');
    await cache.set('short', 'x', 1);
    expect(await cache.get('short')).toBe('x');
    await new Promise((r) => setTimeout(r, 1200));
    expect(await cache.get('short')).toBeUndefined();
    await other.delete('k');
    expect(await cache.get('k')).toBeUndefined();
  });

  it('sets a value only where it still holds what the writer expects, atomically across connections', async () => {
    expect(await cache.setIfUnchanged('cas', undefined, 'a')).toBe(true);
    expect(await other.setIfUnchanged('cas', undefined, 'b')).toBe(false); // it holds 'a' now
    expect(await other.setIfUnchanged('cas', 'x', 'b')).toBe(false);
    expect(await cache.get('cas')).toBe('a');
    expect(await other.setIfUnchanged('cas', 'a', 'b')).toBe(true);
    expect(await cache.get('cas')).toBe('b');
    // The empty text is a value like any other, not "nothing".
    await cache.set('empty', '');
    expect(await cache.setIfUnchanged('empty', undefined, 'c')).toBe(false);
    expect(await cache.setIfUnchanged('empty', '', 'c')).toBe(true);
    // Forty writers from two connections that all read 'b': exactly one replaces it.
    const won = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? cache : other).setIfUnchanged('cas', 'b', `w${i}`)));
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(await cache.get('cas')).toBe(`w${won.indexOf(true)}`);
    // Under this cache's key prefix, like every other key.
    const raw = new RedisCache(TEST_REDIS_URL, '');
    try {
      expect(await raw.get(`${cache.keyPrefix}cas`)).toBe(`w${won.indexOf(true)}`);
      expect(await raw.get('cas')).toBeUndefined();
    } finally {
      await raw.close();
    }
  });

  it('delivers published messages to subscribers in other connections until they unsubscribe', async () => {
    const received: string[] = [];
    const unsubscribe = await cache.subscribe('models', (m) => received.push(m));
    await other.publish('models', 'swap:v2');
    await other.publish('unrelated', 'nope');
    for (let i = 0; i < 50 && received.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
    expect(received).toEqual(['swap:v2']);
    await unsubscribe();
    await other.publish('models', 'swap:v3');
    await new Promise((r) => setTimeout(r, 200));
    expect(received).toEqual(['swap:v2']);
  });
});
