import type { Cache } from '../cache/cache';
import type { Database } from '../store/database';
import { getFeatureSetColumns, unpackValues } from '../store/features';

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
  const current = await Promise.all(vectors.map((v) => cache.get(key(v.version, v.symbol))));
  const fresh = vectors.filter((v, i) => {
    const stored = current[i];
    if (stored === undefined) return true;
    const asOf = storedAsOf(stored);
    return asOf === undefined || asOf <= v.asOf;
  });
  if (fresh.length === 0) return 0;
  // The announcement goes out with the writes, on the same connection after them: whoever reads on hearing it finds them.
  await Promise.all([
    ...fresh.map((v) => cache.set(key(v.version, v.symbol), vectorJson(v))),
    cache.publish(FEATURES_UPDATED_CHANNEL, JSON.stringify({ version: fresh[0].version, symbols: fresh.length })),
  ]);
  return fresh.length;
}

const AS_OF = '"asOf":"';

/**
 * The as-of date of a stored vector without parsing its 61 values: the text after its "asOf" key
 * (a key, since a quote inside a JSON string is escaped). Undefined for something unreadable, which
 * the new vector then replaces, as before.
 */
function storedAsOf(json: string): string | undefined {
  const at = json.indexOf(AS_OF);
  if (at >= 0) {
    const end = json.indexOf('"', at + AS_OF.length);
    const asOf = json.slice(at + AS_OF.length, end);
    if (end > at && /^\d{4}-\d{2}-\d{2}$/.test(asOf)) return asOf;
  }
  try {
    return (JSON.parse(json) as { asOf?: string }).asOf;
  } catch {
    return undefined;
  }
}

/** Column lists as JSON, per list (a feature set's vectors all share its array). */
const columnsJson = new WeakMap<readonly string[], string>();

/** JSON.stringify of the vector with NaN as null, the same text, written out directly (the column list once per set). */
function vectorJson(v: OnlineFeatureVector): string {
  const keys = Object.keys(v);
  if (keys.length !== 5 || keys[0] !== 'version' || keys[1] !== 'symbol' || keys[2] !== 'asOf' || keys[3] !== 'columns' || keys[4] !== 'values') {
    return JSON.stringify({ ...v, values: v.values.map((x) => (Number.isFinite(x) ? x : null)) });
  }
  let columns = columnsJson.get(v.columns);
  if (columns === undefined) {
    columns = JSON.stringify(v.columns);
    columnsJson.set(v.columns, columns);
  }
  let values = '';
  for (let i = 0; i < v.values.length; i++) {
    const x = v.values[i];
    values += (i === 0 ? '' : ',') + (Number.isFinite(x) ? String(x) : 'null');
  }
  return `{"version":${JSON.stringify(v.version)},"symbol":${JSON.stringify(v.symbol)},"asOf":${JSON.stringify(v.asOf)},"columns":${columns},"values":[${values}]}`;
}

export type FeatureStoreLog = (event: string, detail: Record<string, unknown>) => void;

/**
 * The newest stored (offline) vector of a symbol: the last feature_rows row of the feature set,
 * with the set's columns. What the features step published to the online store for that date.
 */
export async function readOfflineLatest(store: Database, version: string, symbol: string, columns?: readonly string[]): Promise<OnlineFeatureVector | undefined> {
  const cols = columns ?? (await getFeatureSetColumns(store, version));
  if (!cols) return undefined;
  const row = await store.db.selectFrom('feature_rows').select(['date', 'vals']).where('version', '=', version).where('symbol', '=', symbol).orderBy('date', 'desc').limit(1).executeTakeFirst();
  return row ? { version, symbol, asOf: row.date, columns: [...cols], values: Array.from(unpackValues(row.vals)) } : undefined;
}

/** The newest stored vector of every symbol of a feature set. */
export async function readOfflineLatestAll(store: Database, version: string): Promise<OnlineFeatureVector[]> {
  const columns = await getFeatureSetColumns(store, version);
  if (!columns) return [];
  const newest = store.db.selectFrom('feature_rows').select(['symbol', (eb) => eb.fn.max('date').as('last')]).where('version', '=', version).groupBy('symbol').as('newest');
  const rows = await store.db
    .selectFrom('feature_rows as r')
    .innerJoin(newest, (join) => join.onRef('newest.symbol', '=', 'r.symbol').onRef('newest.last', '=', 'r.date'))
    .select(['r.symbol', 'r.date', 'r.vals'])
    .where('r.version', '=', version)
    .orderBy('r.symbol')
    .execute();
  return rows.map((r) => ({ version, symbol: r.symbol, asOf: r.date, columns: [...columns], values: Array.from(unpackValues(r.vals)) }));
}

/**
 * Online feature reads for the prediction API, resilient to the cache: when the cache cannot be
 * read (Redis down: it fails at once, see RedisCache) or has no vector (Redis restarted empty), the
 * newest vector of the offline store answers instead. When the cache comes back it is re-warmed
 * from the offline store, so reads go back to the cache without waiting for the next pipeline run.
 */
export class OnlineFeatureStore {
  /** Column order per feature set (immutable under a version), so a fallback read is one query. */
  private readonly columns = new Map<string, readonly string[]>();
  private readonly counters = { offlineReads: 0, rewarmed: 0, rewarmFailures: 0 };
  private cacheFailing = false;
  private readonly log: FeatureStoreLog;
  private readonly removeListener: () => void;
  private rewarming: Promise<number> | undefined;

  constructor(
    private readonly deps: {
      cache: Cache;
      store: Database;
      /** Feature sets to re-warm when the cache is back (e.g. those the served models read). */
      rewarmVersions: () => readonly string[];
      log?: FeatureStoreLog;
    },
  ) {
    this.log = deps.log ?? (() => undefined);
    this.removeListener = deps.cache.onAvailability((available) => {
      if (available) void this.rewarm();
    });
  }

  stats(): { offlineReads: number; rewarmed: number; rewarmFailures: number } {
    return { ...this.counters };
  }

  /** The newest vector: the cache's, else the offline store's; throws only when neither can be read. */
  async read(version: string, symbol: string): Promise<OnlineFeatureVector | undefined> {
    let cacheError: unknown;
    try {
      const online = await readOnlineFeatures(this.deps.cache, version, symbol);
      if (this.cacheFailing) {
        this.cacheFailing = false;
        this.log('features.online_read_recovered', {});
      }
      if (online) return online;
    } catch (error) {
      cacheError = error;
      if (!this.cacheFailing) {
        this.cacheFailing = true;
        this.log('features.online_read_failed', { error: (error as Error).message, fallback: 'offline store' });
      }
    }
    try {
      const offline = await readOfflineLatest(this.deps.store, version, symbol, await this.columnsOf(version));
      if (offline) this.counters.offlineReads++;
      return offline;
    } catch (error) {
      const why = cacheError ? `the online store failed (${(cacheError as Error).message}) and ` : '';
      throw new Error(`${why}the offline store failed (${(error as Error).message})`, { cause: error });
    }
  }

  /** Publishes the offline store's newest vectors (only where the cache has none or an older one). */
  rewarm(versions: readonly string[] = this.deps.rewarmVersions()): Promise<number> {
    this.rewarming ??= (async () => {
      let written = 0;
      try {
        for (const version of [...new Set(versions)]) {
          const vectors = await readOfflineLatestAll(this.deps.store, version);
          if (vectors.length > 0) written += await publishOnlineFeatures(this.deps.cache, vectors);
        }
        this.counters.rewarmed += written;
        this.log('features.online_rewarmed', { versions: [...new Set(versions)], written });
      } catch (error) {
        this.counters.rewarmFailures++;
        this.log('features.online_rewarm_failed', { error: (error as Error).message });
      } finally {
        this.rewarming = undefined;
      }
      return written;
    })();
    return this.rewarming;
  }

  close(): void {
    this.removeListener();
  }

  private async columnsOf(version: string): Promise<readonly string[] | undefined> {
    const known = this.columns.get(version);
    if (known) return known;
    const columns = await getFeatureSetColumns(this.deps.store, version);
    if (columns) this.columns.set(version, columns);
    return columns;
  }
}
