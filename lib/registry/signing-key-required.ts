/**
 * The start-up rule of every process that signs or verifies rows (the prediction API, the worker,
 * the stream consumer): where the store already holds signed rows, or the online store signed
 * vectors, the deployment signs, and a process without MODEL_SIGNING_KEY does not start. Without
 * the key such a process would trust any row or vector whose signature was removed, and would write
 * unsigned rows and online vectors over signed ones, which every process holding the key refuses
 * (the stream consumer started without it replaced the day's signed vectors, and the API answered
 * from an older offline row).
 */
import type { Cache } from '../cache/cache';
import { ONLINE_SAMPLE_BOUNDS, sampleSignedOnlineVector, type OnlineSampleBounds } from '../features/online-features';
import type { Database } from '../store/database';
import { RegistryError } from './model-registry';

/**
 * A signed registry row, when the store holds any: a process of a deployment that signs its rows
 * must have the key (a process without it would trust any row whose signature was simply removed).
 */
export async function anySignedVersion(store: Database): Promise<{ name: string; version: number; keyId: string | null } | undefined> {
  const row = await store.db.selectFrom('model_versions').select(['name', 'version', 'signature_key_id']).where('signature', 'is not', null).limit(1).executeTakeFirst();
  return row ? { name: row.name, version: row.version, keyId: row.signature_key_id } : undefined;
}

/**
 * A signed offline feature row among the newest row of each symbol of each feature set (the rows the
 * API serves and the features step last wrote), when there is one. Only the newest rows are read:
 * rows written before the key stay unsigned until `mlp features recompute`, and looking for any
 * signed row read the whole table where none is (2.5 s for 630,000 rows on MariaDB, against 0.13–0.3 s
 * for the newest rows through the primary key).
 */
export async function anySignedNewestFeatureRow(store: Database): Promise<{ version: string; symbol: string; date: string; keyId: string | null } | undefined> {
  const newest = store.db.selectFrom('feature_rows').select(['version', 'symbol', (eb) => eb.fn.max('date').as('last')]).groupBy(['version', 'symbol']).as('newest');
  const row = await store.db
    .selectFrom('feature_rows as r')
    .innerJoin(newest, (join) => join.onRef('newest.version', '=', 'r.version').onRef('newest.symbol', '=', 'r.symbol').onRef('newest.last', '=', 'r.date'))
    .select(['r.version', 'r.symbol', 'r.date', 'r.signature_key_id'])
    .where('r.signature', 'is not', null)
    .limit(1)
    .executeTakeFirst();
  return row ? { version: row.version, symbol: row.symbol, date: row.date, keyId: row.signature_key_id } : undefined;
}

/** The online store a process reads or writes vectors in, for the start-up rule to sample. */
export interface OnlineStoreCheck {
  cache: Cache;
  /** Default ONLINE_SAMPLE_BOUNDS: at most 100 vectors read, no SCAN step started after 2 s. */
  bounds?: Partial<OnlineSampleBounds>;
  /** Where the line goes when the online store cannot be sampled (default: stderr). */
  warn?: (line: string) => void;
}

/**
 * Refuses to start `what` (e.g. "the stream consumer") without MODEL_SIGNING_KEY in a store whose
 * registry rows or newest feature rows are signed, or, given `online`, whose online store holds a
 * signed vector among a bounded sample (sampleSignedOnlineVector: a fresh or pruned database beside
 * a signed Redis passed before, and the process then met signed vectors), naming one of them. Every
 * process that signs or verifies rows calls it once its store is open, before it reads or writes
 * anything else. An online store that cannot be read (Redis down) is not waited for: the process
 * starts, saying so in one line, as it would answer from the offline store.
 */
export async function assertSigningKeyWhereSigned(store: Database, signingKey: string | undefined, what: string, online?: OnlineStoreCheck): Promise<void> {
  if (signingKey !== undefined) return;
  const version = await anySignedVersion(store);
  const row = version ? undefined : await anySignedNewestFeatureRow(store);
  const vector = version || row || !online ? undefined : await sampledSignedVector(online, what);
  const signed = version
    ? `the registry's rows are signed (${version.name} v${version.version}, key id ${version.keyId ?? '?'})`
    : row
      ? `the feature store's rows are signed (${row.symbol} ${row.date} in feature set ${row.version}, key id ${row.keyId ?? '?'})`
      : vector
        ? `the online store's vectors are signed (${vector.symbol} ${vector.asOf} in feature set ${vector.version}, key id ${vector.keyId})`
        : undefined;
  if (signed === undefined) return;
  throw new RegistryError(
    `${what} does not start without MODEL_SIGNING_KEY: ${signed}, so the deployment signs with a key this process lacks, and without it any row whose signature was removed ` +
      `would be trusted as it stands, and what it writes (registry rows, feature rows, online vectors) would be unsigned, which every process holding the key refuses; start it with the key the other processes use (docs/configuration.md)`,
  );
}

async function sampledSignedVector(online: OnlineStoreCheck, what: string) {
  const warn = online.warn ?? ((line: string) => console.error(line));
  try {
    const sample = await sampleSignedOnlineVector(online.cache, { ...ONLINE_SAMPLE_BOUNDS, ...online.bounds });
    // Stopped at its bounds before it read a single vector (a database of many other keys): the check
    // saw nothing, which must not read as "nothing signed" without a word.
    if (sample.signed === undefined && sample.examined === 0 && !sample.complete) {
      warn(`warning: ${what} found no online vector to sample for signed ones within its bounds (the online store's database holds many other keys): started without that check; it checks the registry and the feature store only`);
    }
    return sample.signed;
  } catch (error) {
    warn(`warning: ${what} could not sample the online store for signed vectors (${(error as Error).message}): started without that check; it checks the registry and the feature store only`);
    return undefined;
  }
}
