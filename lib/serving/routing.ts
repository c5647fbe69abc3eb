/**
 * Sticky request routing: a key (normally the symbol or the client's id) always lands in the same
 * bucket for a given salt, and the bucket picks the variant. Pure: no I/O, no clock, no randomness.
 */
import { fmix32 } from '../random';

/** One served variant of a traffic split (see serving-routes.ts). */
export interface Route {
  variant: string;
  version: number;
  weight: number;
}

export const CHAMPION_VARIANT = 'champion';

const utf8 = new TextEncoder();
/** Reused for every key (routing runs on each request): grown when a key needs more. */
let scratch = new Uint8Array(256);

/** The UTF-8 bytes of `text` in the scratch buffer; returns how many. */
function encodeToScratch(text: string): number {
  // At most 3 bytes per UTF-16 unit.
  if (scratch.length < text.length * 3) scratch = new Uint8Array(text.length * 3);
  return utf8.encodeInto(text, scratch).written;
}

/** MurmurHash3 x86 32-bit of the UTF-8 bytes of `text`. */
export function murmur3(text: string, seed = 0): number {
  const n = encodeToScratch(text);
  const bytes = scratch;
  const blocks = n & ~3;
  let h = seed >>> 0;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = n & 3;
  if (tail > 0) {
    let k = 0;
    if (tail === 3) k ^= bytes[blocks + 2] << 16;
    if (tail >= 2) k ^= bytes[blocks + 1] << 8;
    k ^= bytes[blocks];
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  return fmix32(h ^ n);
}

/** The key's uniform position in [0, 1) for this salt. */
export function routingBucket(salt: string, key: string): number {
  return murmur3(`${salt}:${key}`) / 4294967296;
}

/**
 * The routes in the order they are laid out on [0, 1): every variant other than the champion
 * first (in their array order), the champion last. Raising a canary's weight therefore only moves
 * the boundary into the champion's range: keys go from champion to canary, never back.
 */
export function canonicalOrder(routes: readonly Route[]): Route[] {
  return [...routes.filter((r) => r.variant !== CHAMPION_VARIANT), ...routes.filter((r) => r.variant === CHAMPION_VARIANT)];
}

/** The route serving `key`: deterministic for a given split and salt. */
export function routeFor(split: { readonly routes: readonly Route[]; readonly salt: string }, key: string): Route {
  const bucket = routingBucket(split.salt, key);
  let upper = 0;
  let last: Route | undefined;
  // canonicalOrder without building it (this runs on every request): other variants, then the champion.
  for (const championPass of [false, true]) {
    for (const route of split.routes) {
      if ((route.variant === CHAMPION_VARIANT) !== championPass || route.weight <= 0) continue;
      upper += route.weight;
      last = route;
      if (bucket < upper) return route;
    }
  }
  // Only reachable when the weights sum to a hair under 1 (rounding): the last served route takes the rest.
  if (!last) throw new Error('routeFor: no route has a positive weight; a valid split has at least one');
  return last;
}

/** Fraction of `keys` routed to each variant (variants with no keys are absent). */
export function variantShares(split: { readonly routes: readonly Route[]; readonly salt: string }, keys: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  let total = 0;
  for (const key of keys) {
    const variant = routeFor(split, key).variant;
    counts.set(variant, (counts.get(variant) ?? 0) + 1);
    total++;
  }
  return new Map([...counts].map(([variant, count]) => [variant, count / total]));
}
