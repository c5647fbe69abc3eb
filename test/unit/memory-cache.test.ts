import { MemoryCache } from '../../lib/cache/memory-cache';

/** Lets queued microtasks (the cache's deliveries) run. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('MemoryCache', () => {
  let clock: number;
  let cache: MemoryCache;

  beforeEach(() => {
    clock = 1_000_000;
    cache = new MemoryCache(() => clock);
  });

  afterEach(async () => {
    await cache.close();
  });

  it('is the memory kind', () => {
    expect(cache.kind).toBe('memory');
  });

  describe('get / set / delete', () => {
    it('returns undefined for a key never set', async () => {
      await expect(cache.get('missing')).resolves.toBeUndefined();
    });

    it('returns what was set and overwrites on a second set', async () => {
      await cache.set('k', 'v1');
      await expect(cache.get('k')).resolves.toBe('v1');
      await cache.set('k', 'v2');
      await expect(cache.get('k')).resolves.toBe('v2');
    });

    it('keeps keys apart and stores the empty string as a value', async () => {
      await cache.set('a', '1');
      await cache.set('b', '');
      await expect(cache.get('a')).resolves.toBe('1');
      await expect(cache.get('b')).resolves.toBe('');
    });

    it('deletes a key, and deleting a missing key is a no-op', async () => {
      await cache.set('a', '1');
      await cache.set('b', '2');
      await cache.delete('a');
      await cache.delete('never');
      await expect(cache.get('a')).resolves.toBeUndefined();
      await expect(cache.get('b')).resolves.toBe('2');
    });

    it('never expires a key set without a TTL', async () => {
      await cache.set('k', 'v');
      clock += 10 * 365 * 24 * 3600 * 1000;
      await expect(cache.get('k')).resolves.toBe('v');
    });

    it('sets a value only where it still holds what the writer expects; an expired value counts as nothing', async () => {
      await expect(cache.setIfUnchanged('k', undefined, 'a')).resolves.toBe(true);
      await expect(cache.setIfUnchanged('k', undefined, 'b')).resolves.toBe(false);
      await expect(cache.setIfUnchanged('k', 'x', 'b')).resolves.toBe(false);
      await expect(cache.get('k')).resolves.toBe('a');
      await expect(cache.setIfUnchanged('k', 'a', 'b')).resolves.toBe(true);
      await expect(cache.get('k')).resolves.toBe('b');
      await cache.set('t', 'old', 5);
      clock += 5_000;
      await expect(cache.setIfUnchanged('t', 'old', 'new')).resolves.toBe(false);
      await expect(cache.setIfUnchanged('t', undefined, 'new')).resolves.toBe(true);
      await expect(cache.get('t')).resolves.toBe('new');
      // Writers that all read 'b', started together: exactly one replaces it.
      const won = await Promise.all(Array.from({ length: 10 }, (_, i) => cache.setIfUnchanged('k', 'b', `w${i}`)));
      expect(won.filter(Boolean)).toHaveLength(1);
    });
  });

  describe('TTL', () => {
    it('serves the value until just before the TTL and not from the TTL on', async () => {
      await cache.set('k', 'v', 30);
      clock += 29_999;
      await expect(cache.get('k')).resolves.toBe('v');
      clock += 1;
      await expect(cache.get('k')).resolves.toBeUndefined();
      // Going back in time does not resurrect an expired (and evicted) entry.
      clock -= 10_000;
      await expect(cache.get('k')).resolves.toBeUndefined();
    });

    it('measures the TTL from the latest set', async () => {
      await cache.set('k', 'old', 10);
      clock += 8_000;
      await cache.set('k', 'new', 10);
      clock += 8_000;
      await expect(cache.get('k')).resolves.toBe('new');
      clock += 2_000;
      await expect(cache.get('k')).resolves.toBeUndefined();
    });

    it('drops a TTL when the key is set again without one', async () => {
      await cache.set('k', 'v', 1);
      await cache.set('k', 'v');
      clock += 5_000;
      await expect(cache.get('k')).resolves.toBe('v');
    });

    it('supports fractional seconds and expires a zero TTL at once', async () => {
      await cache.set('half', 'v', 0.5);
      await cache.set('zero', 'v', 0);
      await expect(cache.get('zero')).resolves.toBeUndefined();
      clock += 499;
      await expect(cache.get('half')).resolves.toBe('v');
      clock += 1;
      await expect(cache.get('half')).resolves.toBeUndefined();
    });

    it('uses Date.now when no clock is injected', async () => {
      const real = new MemoryCache();
      try {
        await real.set('k', 'v', 60);
        await expect(real.get('k')).resolves.toBe('v');
      } finally {
        await real.close();
      }
    });
  });

  describe('publish / subscribe', () => {
    it('delivers asynchronously, not inside publish', async () => {
      const got: string[] = [];
      await cache.subscribe('ch', (m) => got.push(m));
      const published = cache.publish('ch', 'hello');
      expect(got).toEqual([]);
      await published;
      await flush();
      expect(got).toEqual(['hello']);
    });

    it('delivers to every subscriber of the channel, in publish order, and to no other channel', async () => {
      const a: string[] = [];
      const b: string[] = [];
      const other: string[] = [];
      await cache.subscribe('models', (m) => a.push(m));
      await cache.subscribe('models', (m) => b.push(m));
      await cache.subscribe('runs', (m) => other.push(m));
      await cache.publish('models', 'm1');
      await cache.publish('models', 'm2');
      await cache.publish('nobody-listens', 'x');
      await flush();
      expect(a).toEqual(['m1', 'm2']);
      expect(b).toEqual(['m1', 'm2']);
      expect(other).toEqual([]);
    });

    it('stops delivery to an unsubscribed handler only', async () => {
      const a: string[] = [];
      const b: string[] = [];
      const unsubscribeA = await cache.subscribe('ch', (m) => a.push(m));
      await cache.subscribe('ch', (m) => b.push(m));
      await cache.publish('ch', 'before');
      await flush();
      await unsubscribeA();
      await cache.publish('ch', 'after');
      await flush();
      expect(a).toEqual(['before']);
      expect(b).toEqual(['before', 'after']);
    });

    it('does not deliver a message published before the subscription', async () => {
      const got: string[] = [];
      await cache.publish('ch', 'early');
      await flush();
      await cache.subscribe('ch', (m) => got.push(m));
      await flush();
      expect(got).toEqual([]);
    });

    it('delivers nothing after close and forgets every key', async () => {
      const got: string[] = [];
      await cache.subscribe('ch', (m) => got.push(m));
      await cache.set('k', 'v');
      await cache.close();
      await cache.publish('ch', 'late');
      await flush();
      expect(got).toEqual([]);
      await expect(cache.get('k')).resolves.toBeUndefined();
    });
  });
});
