import type { Cache } from '../cache/cache';

/** The newest feature vector of a symbol, as the prediction API reads it. */
export interface OnlineFeatureVector {
  version: string;
  symbol: string;
  asOf: string;
  columns: string[];
  values: number[]; // NaN is stored as null in JSON
}

const key = (version: string, symbol: string) => `features:latest:${version}:${symbol}`;
export const FEATURES_UPDATED_CHANNEL = 'features:updated';

/** Stores the vectors (only when newer than what is there) and announces the update. */
export async function publishOnlineFeatures(cache: Cache, vectors: readonly OnlineFeatureVector[]): Promise<number> {
  let written = 0;
  for (const v of vectors) {
    const current = await readOnlineFeatures(cache, v.version, v.symbol);
    if (current && current.asOf >= v.asOf) continue;
    await cache.set(key(v.version, v.symbol), JSON.stringify({ ...v, values: v.values.map((x) => (Number.isFinite(x) ? x : null)) }));
    written++;
  }
  if (written > 0) await cache.publish(FEATURES_UPDATED_CHANNEL, JSON.stringify({ version: vectors[0].version, symbols: written }));
  return written;
}

export async function readOnlineFeatures(cache: Cache, version: string, symbol: string): Promise<OnlineFeatureVector | undefined> {
  const raw = await cache.get(key(version, symbol));
  if (raw === undefined) return undefined;
  const parsed = JSON.parse(raw) as Omit<OnlineFeatureVector, 'values'> & { values: Array<number | null> };
  return { ...parsed, values: parsed.values.map((x) => (x === null ? NaN : x)) };
}

/**
 * Stores vectors unless the stored one is newer, and announces the update. Unlike
 * publishOnlineFeatures, a vector of the same as-of date replaces the stored one: the live path
 * recomputes a date's vector when a late or corrected bar or the date's cross-section changes it.
 * Reads and writes go out concurrently (one Redis round trip each way, not one per symbol).
 */
export async function replaceOnlineFeatures(cache: Cache, vectors: readonly OnlineFeatureVector[]): Promise<number> {
  const current = await Promise.all(vectors.map((v) => readOnlineFeatures(cache, v.version, v.symbol)));
  const fresh = vectors.filter((v, i) => current[i] === undefined || (current[i] as OnlineFeatureVector).asOf <= v.asOf);
  await Promise.all(fresh.map((v) => cache.set(key(v.version, v.symbol), JSON.stringify({ ...v, values: v.values.map((x) => (Number.isFinite(x) ? x : null)) }))));
  if (fresh.length > 0) await cache.publish(FEATURES_UPDATED_CHANNEL, JSON.stringify({ version: fresh[0].version, symbols: fresh.length }));
  return fresh.length;
}
