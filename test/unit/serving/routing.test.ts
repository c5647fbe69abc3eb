import { canonicalOrder, murmur3, routeFor, routingBucket, variantShares, type Route } from '../../../lib/serving/routing';

const KEYS = Array.from({ length: 100_000 }, (_, i) => `key-${i}`);
const canary = (w: number, salt = 'salt-1'): { routes: Route[]; salt: string } => ({
  // Champion listed first on purpose: the layout must not depend on the array order.
  routes: [
    { variant: 'champion', version: 1, weight: 1 - w },
    { variant: 'canary', version: 2, weight: w },
  ],
  salt,
});

describe('murmur3', () => {
  it('matches the reference MurmurHash3 x86_32 values', () => {
    expect(murmur3('')).toBe(0);
    expect(murmur3('hello')).toBe(0x248bfa47);
    expect(murmur3('hello, world')).toBe(0x149bbb7f);
    expect(murmur3('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723);
  });
  it('hashes the UTF-8 bytes, so non-ASCII keys spread too', () => {
    expect(murmur3('é')).not.toBe(murmur3('e'));
    expect(routingBucket('s', '日本')).toBeGreaterThanOrEqual(0);
    expect(routingBucket('s', '日本')).toBeLessThan(1);
  });
});

describe('routeFor', () => {
  it.each([
    [[0.95, 0.05]],
    [[0.5, 0.5]],
    [[0.75, 0.25]],
  ])('gives each variant its weight within ±1%% over 100k keys (%j)', ([champion, canaryWeight]) => {
    const shares = variantShares(canary(canaryWeight), KEYS);
    expect(Math.abs((shares.get('champion') ?? 0) - champion)).toBeLessThan(0.01);
    expect(Math.abs((shares.get('canary') ?? 0) - canaryWeight)).toBeLessThan(0.01);
  });

  it('splits three A/B variants by weight', () => {
    const shares = variantShares(
      {
        routes: [
          { variant: 'A', version: 1, weight: 0.5 },
          { variant: 'B', version: 2, weight: 0.3 },
          { variant: 'C', version: 3, weight: 0.2 },
        ],
        salt: 'ab',
      },
      KEYS,
    );
    expect(Math.abs(shares.get('A')! - 0.5)).toBeLessThan(0.01);
    expect(Math.abs(shares.get('B')! - 0.3)).toBeLessThan(0.01);
    expect(Math.abs(shares.get('C')! - 0.2)).toBeLessThan(0.01);
  });

  it('is sticky: the same key always gets the same variant, and the salt reshuffles', () => {
    const split = canary(0.5);
    const first = KEYS.slice(0, 5000).map((k) => routeFor(split, k).variant);
    const again = KEYS.slice(0, 5000).map((k) => routeFor({ routes: [...split.routes].reverse(), salt: split.salt }, k).variant);
    expect(again).toEqual(first);
    const resalted = KEYS.slice(0, 5000).map((k) => routeFor(canary(0.5, 'salt-2'), k).variant);
    const moved = resalted.filter((v, i) => v !== first[i]).length / first.length;
    expect(moved).toBeGreaterThan(0.4); // independent halves: about 50% differ
    expect(moved).toBeLessThan(0.6);
  });

  it('is monotone: raising the canary 5% → 25% → 50% never moves a key from canary back to champion', () => {
    const steps = [0.05, 0.25, 0.5].map((w) => KEYS.map((k) => routeFor(canary(w), k).variant));
    for (let s = 1; s < steps.length; s++) {
      let backwards = 0;
      let forwards = 0;
      for (let i = 0; i < KEYS.length; i++) {
        if (steps[s - 1][i] === 'canary' && steps[s][i] !== 'canary') backwards++;
        if (steps[s - 1][i] === 'champion' && steps[s][i] === 'canary') forwards++;
      }
      expect(backwards).toBe(0);
      expect(forwards).toBeGreaterThan(0);
    }
  });

  it('never routes to a zero-weight variant, and tolerates weights summing a hair under 1', () => {
    const split = { routes: [{ variant: 'canary', version: 2, weight: 0 }, { variant: 'champion', version: 1, weight: 1 - 1e-12 }], salt: 'z' };
    expect(new Set(KEYS.slice(0, 20000).map((k) => routeFor(split, k).variant))).toEqual(new Set(['champion']));
    expect(() => routeFor({ routes: [{ variant: 'champion', version: 1, weight: 0 }], salt: 'z' }, 'k')).toThrow(/no route has a positive weight/);
  });

  it('lays out every other variant before the champion, in array order', () => {
    const order = canonicalOrder([
      { variant: 'champion', version: 1, weight: 0.5 },
      { variant: 'B', version: 3, weight: 0.25 },
      { variant: 'canary', version: 2, weight: 0.25 },
    ]).map((r) => r.variant);
    expect(order).toEqual(['B', 'canary', 'champion']);
  });
});
