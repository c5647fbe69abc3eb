import type { Cache } from '../cache/cache';
import { isIsoDate } from '../calendar/dates';
import { isNyseTradingDay } from '../calendar/nyse';
import { newYorkDate } from '../quality/rules';
import type { Database } from '../store/database';
import { getFeatureSetColumns, unpackValues } from '../store/features';
import { SPLIT_BARS_BEFORE, splitsIn, type SeriesSplit } from '../quality/splits';
import { readRecentBars } from '../store/bars';
import { requiredBars } from './compute-features';
import { readStoredFeatureSet } from './stored-feature-set';
import type { FeatureSet } from './feature-set';
import { staleRows, type StaleRows } from './stale-rows';
import { NO_ROW_SIGNING, verificationKeysOf, type RowSigning, type VerificationKeys } from '../registry/row-signature';
import { featureRowSignatureProblem, signVectorText, vectorSignatureProblem, type VectorSignatureProblem } from './vector-signature';

/** The newest feature vector of a symbol, as the prediction API reads it. */
export interface OnlineFeatureVector {
  version: string;
  symbol: string;
  asOf: string;
  columns: string[];
  values: number[]; // NaN is stored as null in JSON
  /** Why no prediction may be made from these values (splitWithholding); absent when they may be used. */
  withheld?: string;
}

/**
 * Why a symbol's vector on bar `newest` is withheld, or undefined: an unadjusted split (seriesSplits
 * of the same bars) among the `lookback` bars its features read (requiredBars) has them read the
 * split's move as a crash or a jump that no holder had. The offline features step and the live
 * updater both withhold with it, so the API answers the same whichever wrote the vector.
 */
export function splitWithholding(splits: readonly SeriesSplit[], newest: number, lookback: number): string | undefined {
  const split = [...splits].reverse().find((s) => s.index > newest - lookback && s.index <= newest);
  if (split === undefined) return undefined;
  return `its features read an unadjusted ${split.label} split on ${split.date} (prices ×${split.ratio.toFixed(3)}, volume ×${(1 / split.ratio).toFixed(3)}) among the ${lookback} bars they look back, so they read its move as a return no holder had; withheld until the split is ${lookback} bars old, or import split-adjusted prices (Adj Close with adjust)`;
}

/** Key prefix of online vectors: features:latest:<feature set>:<symbol>. */
export const ONLINE_VECTOR_KEY_PREFIX = 'features:latest:';
const key = (version: string, symbol: string) => `${ONLINE_VECTOR_KEY_PREFIX}${version}:${symbol}`;
export const FEATURES_UPDATED_CHANNEL = 'features:updated';

/**
 * Stores the vectors (only when newer than what is there) and announces the update; returns how many
 * were written. `signing`: the deployment's MODEL_SIGNING_KEY; with it each vector is stored signed
 * (lib/features/vector-signature.ts), as readers holding the key require.
 */
export async function publishOnlineFeatures(cache: Cache, vectors: readonly OnlineFeatureVector[], signing: RowSigning = NO_ROW_SIGNING): Promise<number> {
  return (await writeOnlineVectors(cache, vectors, { sameDate: 'keeps', signing })).written;
}

/** Why a stored online vector was refused (the metric's label). */
export type OnlineVectorProblem = 'malformed' | 'other_feature_set' | 'other_symbol' | 'future_date' | 'non_session_date' | 'length_mismatch' | 'unsigned' | 'bad_signature' | 'replayed' | 'superseded';

/**
 * A stored online vector that is not the one its key names, or not a vector at all: another feature
 * set's or another symbol's vector under this key, an as-of date after today (no bar is dated in the
 * future: a vector claiming one was written by hand, and it would otherwise stay, since writers only
 * replace an older vector), values that are not numbers (NaN is stored as null), or a value count
 * other than the column count. With a signing key, also a vector without the signature its writers
 * give it (unsigned) or whose signature does not match it (changed since, or another key's). The
 * message names the key and the cause.
 */
export class InvalidOnlineVectorError extends Error {
  override name = 'InvalidOnlineVectorError';
  constructor(
    readonly version: string,
    readonly symbol: string,
    readonly problem: OnlineVectorProblem,
    detail: string,
  ) {
    super(`the online vector stored for ${symbol} in feature set ${version} is refused: ${detail}`);
  }
}

/**
 * A write without MODEL_SIGNING_KEY that would have replaced stored vectors carrying a signature:
 * those stay as they are (the others of the write are written), since a prediction API holding the
 * key refuses an unsigned vector and answers from an older offline row instead. Before, such a
 * write (the stream consumer started without the key) replaced the day's signed vectors with
 * unsigned ones on every bar. `refused`: how many were not written; `written`: how many were.
 */
export class UnsignedOverSignedVectorError extends Error {
  override name = 'UnsignedOverSignedVectorError';
  constructor(
    readonly refused: number,
    readonly written: number,
    first: OnlineFeatureVector,
    storedAsOfDate: string | undefined,
  ) {
    super(
      `${refused} online ${refused === 1 ? 'vector' : 'vectors'} not written: the stored vector of ${first.symbol} in feature set ${first.version} (dated ${storedAsOfDate ?? '?'}) is signed, and this process has no MODEL_SIGNING_KEY, ` +
        `so it would replace it with an unsigned one, which a prediction API holding the key refuses (it would answer from an older offline row); ${written} written. Start this process with the deployment's MODEL_SIGNING_KEY (docs/configuration.md)`,
    );
  }
}

/**
 * Whether a stored text carries a signature member (valid or not: without the key it cannot be told).
 * The substring test is exact for a key (a quote inside a JSON string is escaped) and skips the parse
 * for the unsigned vectors of a deployment without a key.
 */
function carriesSignature(stored: string | undefined): boolean {
  return signedFields(stored) !== undefined;
}

/** The fields of a stored text that carries a signature member, else undefined (carriesSignature). */
function signedFields(stored: string | undefined): { version?: unknown; symbol?: unknown; asOf?: unknown; signature: unknown } | undefined {
  if (stored === undefined || !stored.includes('"signature"')) return undefined;
  try {
    const parsed = JSON.parse(stored) as unknown;
    const signed = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && (parsed as { signature?: unknown }).signature !== undefined;
    return signed ? (parsed as { signature: unknown }) : undefined;
  } catch {
    return undefined;
  }
}

/** How much of the online store sampleSignedOnlineVector reads at most. */
export interface OnlineSampleBounds {
  /** Vectors read (one GET each, ~2.8 KB for 61 columns). */
  maxVectors: number;
  /** Wall time: no SCAN step starts after it. */
  timeMs: number;
  /** Keys SCAN looks at per step (its COUNT hint); other keys of the database count too. */
  scanCount: number;
}

/** The start-up rule's sample: a deployment that signs has signed every vector its writers wrote, so the first few say it. */
export const ONLINE_SAMPLE_BOUNDS: OnlineSampleBounds = { maxVectors: 100, timeMs: 2000, scanCount: 500 };

/** A stored online vector carrying a signature, as the start-up rule names it. */
export interface SignedOnlineVector {
  version: string;
  symbol: string;
  asOf: string;
  keyId: string;
}

/**
 * A stored online vector that carries a signature (valid or not: a process without the key cannot
 * tell), looked for among at most `maxVectors` vectors found by SCAN steps under the online key
 * prefix, started within `timeMs`. `examined`: vectors read; `complete`: every vector was read.
 * The start-up rule of a process without the key (lib/registry/signing-key-required.ts) asks it,
 * since a deployment's online store can be signed while its database holds no signed row (a fresh
 * or pruned database). Errors of the cache (unreachable) are thrown.
 */
export async function sampleSignedOnlineVector(cache: Cache, bounds: Partial<OnlineSampleBounds> = {}): Promise<{ signed?: SignedOnlineVector; examined: number; complete: boolean }> {
  const { maxVectors, timeMs, scanCount } = { ...ONLINE_SAMPLE_BOUNDS, ...bounds };
  const deadline = Date.now() + timeMs;
  let cursor = '0';
  let examined = 0;
  do {
    if (Date.now() >= deadline || examined >= maxVectors) return { examined, complete: false };
    const step = await cache.scan(ONLINE_VECTOR_KEY_PREFIX, cursor, scanCount);
    cursor = step.cursor;
    const keys = step.keys.slice(0, maxVectors - examined);
    const texts = await Promise.all(keys.map((k) => cache.get(k)));
    for (const [i, text] of texts.entries()) {
      if (text === undefined) continue; // gone since the scan
      examined++;
      const fields = signedFields(text);
      if (fields === undefined) continue;
      const name = keys[i].slice(ONLINE_VECTOR_KEY_PREFIX.length);
      const [version, symbol] = [name.slice(0, name.indexOf(':')), name.slice(name.indexOf(':') + 1)];
      const keyId = (fields.signature as { keyId?: unknown } | null)?.keyId;
      const signed = { version, symbol, asOf: typeof fields.asOf === 'string' ? fields.asOf : '?', keyId: typeof keyId === 'string' ? keyId.slice(0, 16) : '?' };
      return { signed, examined, complete: cursor === '0' && i === texts.length - 1 && keys.length === step.keys.length };
    }
    if (keys.length < step.keys.length) return { examined, complete: false };
  } while (cursor !== '0');
  return { examined, complete: true };
}

/**
 * Today's date in New York, the market's: no vector can be of a later session. (The UTC date was
 * used before: from 19:00 or 20:00 New York it is already tomorrow's, so a vector dated the next,
 * unopened session passed as current.)
 */
export function marketToday(now: Date = new Date()): string {
  return newYorkDate(now);
}

/**
 * The vector a stored JSON text holds, after checking it is the vector of `version` and `symbol`
 * (the key it was read under), dated no later than `today`, with one number (or null: NaN) per
 * column, and, given the deployment's `keys`, signed by its key (or one of its previous keys: a
 * rotation in progress; `onPreviousKey` is told) over all of that and its withheld reason
 * (vectorSignatureProblem); throws InvalidOnlineVectorError otherwise. Without a key the online
 * store is trusted as it stands (a signature is not checked).
 */
export function parseStoredVector(raw: string, version: string, symbol: string, today: string = marketToday(), keys?: VerificationKeys, onPreviousKey?: (keyId: string) => void): OnlineFeatureVector {
  const refuse = (problem: OnlineVectorProblem, detail: string): never => {
    throw new InvalidOnlineVectorError(version, symbol, problem, detail);
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return refuse('malformed', 'it is not JSON');
  }
  const v = parsed as Partial<Record<keyof OnlineFeatureVector, unknown>> | null;
  if (!v || typeof v !== 'object' || Array.isArray(v)) return refuse('malformed', 'it is not a vector object');
  if (typeof v.version !== 'string' || typeof v.symbol !== 'string' || typeof v.asOf !== 'string') return refuse('malformed', 'its version, symbol or asOf is missing or not text');
  if (v.version !== version) return refuse('other_feature_set', `it is a vector of feature set ${v.version}`);
  if (v.symbol !== symbol) return refuse('other_symbol', `it is the vector of ${v.symbol}`);
  if (!isIsoDate(v.asOf)) return refuse('malformed', `its as-of date ${JSON.stringify(v.asOf)} is not a date`);
  if (v.asOf > today) return refuse('future_date', `it is dated ${v.asOf}, after today in New York (${today})`);
  if (!isNyseTradingDay(v.asOf)) return refuse('non_session_date', `it is dated ${v.asOf}, a day the NYSE did not trade: no bar, so no vector, is of that date`);
  if (!Array.isArray(v.columns) || !v.columns.every((c) => typeof c === 'string')) return refuse('malformed', 'its columns are not a list of names');
  if (!Array.isArray(v.values) || !v.values.every((x) => x === null || (typeof x === 'number' && Number.isFinite(x)))) return refuse('malformed', 'its values are not all numbers (or null for a missing value)');
  if (v.values.length !== v.columns.length) return refuse('length_mismatch', `it has ${v.values.length} values for ${v.columns.length} columns`);
  if (v.withheld !== undefined && typeof v.withheld !== 'string') return refuse('malformed', 'its withheld reason is not text');
  if (keys !== undefined) {
    // Over the text everything above was parsed from: whatever it says, only a key holder wrote it.
    const bad = vectorSignatureProblem(keys, raw, (parsed as { signature?: unknown }).signature, onPreviousKey);
    if (bad) return refuse(bad.problem, bad.detail);
  }
  return { version, symbol, asOf: v.asOf, columns: v.columns as string[], values: (v.values as Array<number | null>).map((x) => (x === null ? NaN : x)), ...(v.withheld !== undefined ? { withheld: v.withheld } : {}) };
}

/** The stored vector of `symbol` in feature set `version`; throws InvalidOnlineVectorError when what is stored is not that vector (parseStoredVector, with `signing`'s key when set). */
export async function readOnlineFeatures(cache: Cache, version: string, symbol: string, today?: string, signing: RowSigning = NO_ROW_SIGNING): Promise<OnlineFeatureVector | undefined> {
  const raw = await cache.get(key(version, symbol));
  if (raw === undefined) return undefined;
  return parseStoredVector(raw, version, symbol, today, verificationKeysOf(signing));
}

/**
 * Whether the stored text keeps the new vector `v` out: a valid vector of the same key (parseStoredVector)
 * newer than `v` (or, with `sameDateKeeps`, of the same date). Nothing stored, or something refused as
 * the key's vector (another symbol's or feature set's, dated after today, damaged, unsigned or not
 * matching its signature under `keys`), keeps nothing out: the new vector replaces it, so a
 * vector written by hand with a far date cannot pin itself, and one written before signing is
 * replaced by the next signed one.
 */
function keepsOut(stored: string | undefined, v: OnlineFeatureVector, today: string, sameDateKeeps: boolean, keys: VerificationKeys | undefined): boolean {
  if (stored === undefined) return false;
  const asOf = storedAsOf(stored);
  // The common case (a stored vector older than this one) without parsing its values.
  if (asOf === undefined || (sameDateKeeps ? asOf < v.asOf : asOf <= v.asOf)) return false;
  try {
    parseStoredVector(stored, v.version, v.symbol, today, keys);
    return true;
  } catch (error) {
    if (error instanceof InvalidOnlineVectorError) return false;
    throw error;
  }
}

/**
 * Stores vectors unless the stored one is newer, and announces the update. Unlike
 * publishOnlineFeatures, a vector of the same as-of date replaces the stored one: the live path
 * recomputes a date's vector when a late or corrected bar or the date's cross-section changes it.
 */
export async function replaceOnlineFeatures(cache: Cache, vectors: readonly OnlineFeatureVector[], signing: RowSigning = NO_ROW_SIGNING): Promise<number> {
  return (await writeOnlineVectors(cache, vectors, { sameDate: 'replaces', signing })).written;
}

/** What the online store holds under each vector's key now: the `seen` of a later writeOnlineVectors. */
export function readStoredVectorTexts(cache: Cache, vectors: readonly OnlineFeatureVector[]): Promise<Array<string | undefined>> {
  return Promise.all(vectors.map((v) => cache.get(key(v.version, v.symbol))));
}

export interface OnlineWriteOptions {
  /** Whether a stored vector of the same as-of date stays ('keeps') or is replaced. A newer one always stays. */
  sameDate: 'keeps' | 'replaces';
  /**
   * What the writer read under each key (readStoredVectorTexts, in the vectors' order) before its
   * last check that its vectors are still current. A vector is written only where that is still
   * what is stored: whatever was written since (the live path's vector of a corrected bar) stays,
   * and the vector counts as superseded. Without it, each key is read here, and a write that loses
   * to another writer is decided again on what that one wrote.
   */
  seen?: ReadonlyArray<string | undefined>;
  /**
   * The deployment's MODEL_SIGNING_KEY: with it each vector is stored with its signature
   * (lib/features/vector-signature.ts), and a stored vector without a valid one keeps nothing out.
   * Without it vectors are stored unsigned, which readers holding the key refuse, and a stored vector
   * carrying a signature is never replaced (UnsignedOverSignedVectorError once the others are written).
   */
  signing?: RowSigning;
}

/** Attempts per vector without `seen` before giving up: each failed one means another writer wrote that key in between. */
const WRITE_ATTEMPTS = 10;

/**
 * Writes vectors to the online store, each only if the stored one does not keep it out (keepsOut)
 * and with a conditional write (setIfUnchanged), so no vector replaces one it was not compared with.
 * Reads and writes go out concurrently (one Redis round trip each way, not one per symbol). The
 * announcement goes out after the writes, on the same connection: whoever reads on hearing it finds them.
 */
export async function writeOnlineVectors(cache: Cache, vectors: readonly OnlineFeatureVector[], options: OnlineWriteOptions): Promise<{ written: number; superseded: number }> {
  if (options.seen !== undefined && options.seen.length !== vectors.length) throw new Error(`writeOnlineVectors: ${options.seen.length} texts seen for ${vectors.length} vectors`);
  const today = marketToday();
  const sameDateKeeps = options.sameDate === 'keeps';
  const signingKey = options.signing?.signingKey;
  const keys = verificationKeysOf(options.signing);
  let pending = vectors.map((_, i) => i);
  const current = [...(options.seen ?? (await readStoredVectorTexts(cache, vectors)))];
  let written = 0;
  let superseded = 0;
  const refusedSigned: number[] = [];
  for (let attempt = 1; pending.length > 0; attempt++) {
    // A stored vector refused as the key's (another symbol's, dated after today, damaged) is replaced, never kept.
    let tries = pending.filter((i) => !keepsOut(current[i], vectors[i], today, sameDateKeeps, keys));
    if (signingKey === undefined) {
      // Without the key a signed vector is never downgraded to an unsigned one that keyed readers refuse.
      const signed = new Set(tries.filter((i) => carriesSignature(current[i])));
      if (signed.size > 0) {
        refusedSigned.push(...signed);
        tries = tries.filter((i) => !signed.has(i));
      }
    }
    const writes = tries.map((i) => cache.setIfUnchanged(key(vectors[i].version, vectors[i].symbol), current[i], vectorJson(vectors[i], signingKey)));
    // Sent after the writes on the same connection, not after their answers (a round trip less); an
    // announcement of a write that lost only empties read caches once more.
    const [, done] = await Promise.all([tries.length > 0 ? cache.publish(FEATURES_UPDATED_CHANNEL, JSON.stringify({ version: vectors[0].version, symbols: tries.length })) : undefined, Promise.all(writes)]);
    written += done.filter(Boolean).length;
    pending = tries.filter((_, j) => !done[j]);
    if (options.seen !== undefined) {
      superseded = pending.length;
      break;
    }
    if (pending.length === 0) break;
    if (attempt === WRITE_ATTEMPTS) {
      const v = vectors[pending[0]];
      throw new Error(`the online vector of ${v.symbol} in feature set ${v.version} was written by another writer during each of ${WRITE_ATTEMPTS} attempts to write the one dated ${v.asOf}`);
    }
    const again = await readStoredVectorTexts(cache, pending.map((i) => vectors[i]));
    pending.forEach((i, j) => (current[i] = again[j]));
  }
  if (refusedSigned.length > 0) {
    const first = refusedSigned[0];
    throw new UnsignedOverSignedVectorError(refusedSigned.length, written, vectors[first], storedAsOf(current[first] as string));
  }
  return { written, superseded };
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

/**
 * The stored text of a vector: its fields as JSON (NaN as null), written out directly (the column
 * list once per set), then, with `signingKey`, its signature over that text (signVectorText). Only
 * the fields of OnlineFeatureVector are written: nothing else is read back.
 */
function vectorJson(v: OnlineFeatureVector, signingKey: string | undefined): string {
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
  const withheld = v.withheld === undefined ? '' : `,"withheld":${JSON.stringify(v.withheld)}`;
  const text = `{"version":${JSON.stringify(v.version)},"symbol":${JSON.stringify(v.symbol)},"asOf":${JSON.stringify(v.asOf)},"columns":${columns},"values":[${values}]${withheld}}`;
  return signingKey === undefined ? text : signVectorText(signingKey, text);
}

export type FeatureStoreLog = (event: string, detail: Record<string, unknown>) => void;

/**
 * An offline feature row (feature_rows) that may not be served: with a signing key, one without the
 * signature its writers give it (unsigned) or whose signature does not match it (edited, moved, or
 * another key's): featureRowSignatureProblem. The message names the row and the cause.
 */
export class RefusedFeatureRowError extends Error {
  override name = 'RefusedFeatureRowError';
  constructor(
    readonly version: string,
    readonly symbol: string,
    readonly date: string,
    readonly problem: VectorSignatureProblem['problem'],
    detail: string,
  ) {
    super(`the offline feature row of ${symbol} on ${date} in feature set ${version} is refused: ${detail}`);
  }
}

type StoredRow = { date: string; vals: Uint8Array; signature: string | null; signature_key_id: string | null };

/**
 * The row's values once its signature holds under `signing`'s key (without a key, as stored); throws
 * RefusedFeatureRowError otherwise. Every read that serves a row goes through here, so nothing the
 * features step did not write is served, nor signed into the online store by the re-warm.
 * `onPreviousKey`: told the key id of a row only a previous key vouches for (served: a rotation).
 */
function servedValues(row: StoredRow, version: string, symbol: string, signing: RowSigning, onPreviousKey?: (keyId: string) => void): number[] {
  const keys = verificationKeysOf(signing);
  if (keys !== undefined) {
    const bad = featureRowSignatureProblem(keys, { version, symbol, ...row }, onPreviousKey);
    if (bad) throw new RefusedFeatureRowError(version, symbol, row.date, bad.problem, bad.detail);
  }
  return Array.from(unpackValues(row.vals, `feature row ${symbol} ${row.date} (${version})`));
}

/**
 * The newest stored (offline) vector of a symbol: the last feature_rows row of the feature set dated
 * no later than `today` (a row dated after it was not computed from bars: the online store refuses
 * such a vector, and so does this), with the set's columns. What the features step published to the
 * online store for that date. With `signing`'s key the row is served only with its valid signature:
 * otherwise RefusedFeatureRowError (an older row is not served instead: the refusal is what is wrong);
 * `onPreviousKey` is told the key id when a previous key's signature vouches for it.
 */
export async function readOfflineLatest(store: Database, version: string, symbol: string, columns?: readonly string[], today: string = marketToday(), stale?: StaleRows, signing: RowSigning = NO_ROW_SIGNING, onPreviousKey?: (keyId: string) => void): Promise<OnlineFeatureVector | undefined> {
  const cols = columns ?? (await getFeatureSetColumns(store, version));
  if (!cols) return undefined;
  const newest = await newestRowBefore(store, version, symbol, { to: today });
  if (!newest) return undefined;
  // A row computed from bars revised since (within what its features look back) is not what the
  // features step would publish now: the newest row before them is served instead, and its as-of
  // date says how old it is.
  const mark = (stale ?? (await staleRows(store, await storedSet(store, version), version))).reaches(symbol, newest.date);
  const row = mark === undefined ? newest : await newestRowBefore(store, version, symbol, { before: mark });
  return row ? withheldIfSplit(store, { version, symbol, asOf: row.date, columns: [...cols], values: servedValues(row, version, symbol, signing, onPreviousKey) }) : undefined;
}

/** The newest stored row of a symbol dated no later than `to`, or before `before`. */
function newestRowBefore(store: Database, version: string, symbol: string, bound: { to: string } | { before: string }): Promise<StoredRow | undefined> {
  const q = store.db.selectFrom('feature_rows').select(['date', 'vals', 'signature', 'signature_key_id']).where('version', '=', version).where('symbol', '=', symbol);
  return ('to' in bound ? q.where('date', '<=', bound.to) : q.where('date', '<', bound.before)).orderBy('date', 'desc').limit(1).executeTakeFirst();
}

/**
 * Removes from the online store every vector computed from bars or headlines revised since (its
 * symbol's stale mark within what its features look back: StaleRows.reaches), after a publish
 * revised stored bars or headlines were imported. Until the features step (or the stream consumer) recomputes them, the API answers
 * from the offline store's newest row before the mark, saying how old it is; before, it served the
 * old vector as current. A vector the consumer wrote from the revised bars in the meantime may be
 * removed too: the next bar writes it again. Returns how many were removed.
 */
export async function withdrawStaleOnlineVectors(store: Database, cache: Cache): Promise<number> {
  let removed = 0;
  const versions = await store.db.selectFrom('feature_sets').select('version').execute();
  for (const { version } of versions) {
    let set: FeatureSet;
    try {
      set = await storedSet(store, version);
    } catch {
      continue; // a set this code cannot rebuild has no vectors it would serve
    }
    const stale = await staleRows(store, set, version);
    if (stale.bySeries.size === 0) continue;
    const progress = await store.db.selectFrom('feature_progress').select('symbol').where('version', '=', version).execute();
    for (const symbol of new Set([...progress.map((p) => p.symbol), ...stale.bySeries.keys()])) {
      if (stale.from(symbol) === undefined) continue;
      const raw = await cache.get(key(version, symbol));
      const asOf = raw === undefined ? undefined : storedAsOf(raw);
      if (asOf === undefined || stale.reaches(symbol, asOf) === undefined) continue;
      await cache.delete(key(version, symbol));
      removed++;
    }
  }
  return removed;
}

/** Feature sets as stored, per version: definitions are immutable under their version. */
const storedSets = new Map<string, FeatureSet>();

async function storedSet(store: Database, version: string): Promise<FeatureSet> {
  let known = storedSets.get(version);
  if (known === undefined) {
    known = await readStoredFeatureSet(store, version, 'its vectors cannot be served from the offline store');
    storedSets.set(version, known);
  }
  return known;
}

/**
 * A stored row read as a vector is withheld as the features step and the live updater withhold it
 * (splitWithholding), from the symbol's bars up to its date: the offline fallback and the re-warm
 * of an emptied cache must not serve what the online store would have refused to.
 */
async function withheldIfSplit(store: Database, vector: OnlineFeatureVector): Promise<OnlineFeatureVector> {
  const lookback = requiredBars(await storedSet(store, vector.version));
  const bars = await readRecentBars(store, vector.symbol, vector.asOf, lookback + SPLIT_BARS_BEFORE);
  const withheld = splitWithholding(splitsIn(bars, bars.length - lookback), bars.length - 1, lookback);
  return withheld === undefined ? vector : { ...vector, withheld };
}

/** Each symbol's newest offline row of the feature set dated no later than `today` (one query). */
function newestRowsQuery(store: Database, version: string, today: string) {
  const newest = store.db.selectFrom('feature_rows').select(['symbol', (eb) => eb.fn.max('date').as('last')]).where('version', '=', version).where('date', '<=', today).groupBy('symbol').as('newest');
  return store.db
    .selectFrom('feature_rows as r')
    .innerJoin(newest, (join) => join.onRef('newest.symbol', '=', 'r.symbol').onRef('newest.last', '=', 'r.date'))
    .select(['r.symbol', 'r.date', 'r.vals', 'r.signature', 'r.signature_key_id'])
    .where('r.version', '=', version);
}

/**
 * The newest stored vector of every symbol of a feature set (dated no later than `today`, as
 * readOfflineLatest). With `signing`'s key a row whose signature does not hold is left out and
 * handed to `onRefused`: the re-warm signs what it publishes, so it must publish only verified rows;
 * `onPreviousKey` is told the key id of each row a previous key's signature vouches for.
 */
export async function readOfflineLatestAll(store: Database, version: string, today: string = marketToday(), signing: RowSigning = NO_ROW_SIGNING, onRefused: (error: RefusedFeatureRowError) => void = () => undefined, onPreviousKey?: (keyId: string) => void): Promise<OnlineFeatureVector[]> {
  const columns = await getFeatureSetColumns(store, version);
  if (!columns) return [];
  const stale = await staleRows(store, await storedSet(store, version), version);
  const rows = await newestRowsQuery(store, version, today).orderBy('r.symbol').execute();
  const vectors: OnlineFeatureVector[] = [];
  for (const r of rows) {
    try {
      // A newest row computed from since-revised bars: the newest one before them (one read per such symbol).
      if (stale.reaches(r.symbol, r.date) !== undefined) {
        const older = await readOfflineLatest(store, version, r.symbol, columns, today, stale, signing, onPreviousKey);
        if (older) vectors.push(older);
        continue;
      }
      vectors.push(await withheldIfSplit(store, { version, symbol: r.symbol, asOf: r.date, columns: [...columns], values: servedValues(r, version, r.symbol, signing, onPreviousKey) }));
    } catch (error) {
      if (!(error instanceof RefusedFeatureRowError)) throw error;
      onRefused(error);
    }
  }
  return vectors;
}

/**
 * Per symbol, the date of the newest offline row of the feature set whose signature holds under
 * `signing`'s key (dated no later than `today`; a row computed from since-revised bars is left
 * out, as the offline read leaves it out). One query for the whole set: the prediction API keeps
 * it per feature set and refreshes it off the request path (OnlineFeatureStore).
 */
export async function readOfflineNewestSignedDates(store: Database, version: string, today: string, signing: RowSigning): Promise<Map<string, string>> {
  const dates = new Map<string, string>();
  if (verificationKeysOf(signing) === undefined) return dates;
  const rows = await newestRowsQuery(store, version, today).execute();
  if (rows.length === 0) return dates;
  const stale = await staleRows(store, await storedSet(store, version), version);
  for (const r of rows) {
    if (stale.reaches(r.symbol, r.date) !== undefined) continue;
    try {
      servedValues(r, version, r.symbol, signing);
      dates.set(r.symbol, r.date);
    } catch (error) {
      if (!(error instanceof RefusedFeatureRowError)) throw error;
    }
  }
  return dates;
}

/** Why the offline store was read for a symbol: no online vector under its key, the stored one refused, or the online store unreadable. */
export type OfflineReadReason = 'missing' | 'refused' | 'cache_unavailable';

/** Per-key newest verified dates kept before the memory is reset (far above symbols × feature sets served). */
const MAX_VERIFIED_KEYS = 1_000_000;

/** Per-key log lines kept before the memory of what was logged is reset (each key logs again after). */
const MAX_LOGGED_KEYS = 100_000;

/**
 * Online feature reads for the prediction API, resilient to the cache: when the cache cannot be
 * read (Redis down: it fails at once, see RedisCache) or has no vector (Redis restarted empty), the
 * newest vector of the offline store answers instead. When the cache comes back it is re-warmed
 * from the offline store, so reads go back to the cache without waiting for the next pipeline run.
 * Every fallback is counted (onOfflineRead) and logged once per key and reason; with a signing key
 * an offline row is served, and re-warmed, only with its valid signature (RefusedFeatureRowError).
 * A vector or row only a previous key (a rotation in progress) signed is served, counted
 * (onPreviousKeyVector, onPreviousKeyRow) and logged once per key id.
 */
export class OnlineFeatureStore {
  /** Column order per feature set (immutable under a version), so a fallback read is one query. */
  private readonly columns = new Map<string, readonly string[]>();
  private readonly counters = { offlineReads: 0, rewarmed: 0, rewarmFailures: 0, invalidVectors: 0, refusedRows: 0 };
  private cacheFailing = false;
  private readonly log: FeatureStoreLog;
  private readonly removeListener: () => void;
  private rewarming: Promise<number> | undefined;
  /** The refusal last logged per key: a vector refused again for the same reason is counted, not logged again. */
  private readonly refusalsLogged = new Map<string, OnlineVectorProblem>();
  /** Keys whose missing online vector was logged (until one is served from the online store again). */
  private readonly missingLogged = new Set<string>();
  /** The offline row refusal last logged per key. */
  private readonly rowRefusalsLogged = new Map<string, string>();
  /** The previous keys whose vectors were served and logged (once each). */
  private readonly previousKeysLogged = new Set<string>();
  /** The previous keys whose offline rows were served or re-warmed and logged (once each). */
  private readonly rowPreviousKeysLogged = new Set<string>();
  /** The keys stored vectors are checked with (the current and previous ones); undefined: not checked. */
  private readonly keys: VerificationKeys | undefined;
  /**
   * With the key: per online key, the newest as-of date this process verified (an online vector
   * served, or an offline row): a signed vector written back over a newer one is never served again.
   */
  private readonly verifiedAsOf = new Map<string, string>();
  /** With the key: per feature set, the date of each symbol's newest offline row whose signature holds (refreshOfflineNewest). */
  private readonly offlineNewest = new Map<string, ReadonlyMap<string, string>>();
  /** Feature sets read since start: their offline dates are refreshed too (the first read of one starts a refresh). */
  private readonly offlineVersions = new Set<string>();
  private offlineRefresh: Promise<void> | undefined;
  private offlineRefreshAgain = false;
  private offlineTimer: NodeJS.Timeout | undefined;
  private unsubscribeUpdates: (() => Promise<void>) | undefined;
  private closed = false;

  constructor(
    private readonly deps: {
      cache: Cache;
      store: Database;
      /** Feature sets to re-warm when the cache is back (e.g. those the served models read). */
      rewarmVersions: () => readonly string[];
      log?: FeatureStoreLog;
      /** Told of every stored vector refused as its key's (parseStoredVector), before the offline store answers instead: the API counts them. */
      onInvalidVector?: (error: InvalidOnlineVectorError) => void;
      /** Told of every offline row refused (unsigned or not matching its signature under `signing`'s key), by a read or the re-warm: the API counts them with the online refusals. */
      onRefusedRow?: (error: RefusedFeatureRowError) => void;
      /** Told of every read answered from the offline store instead of the online one, and why: the API counts them. */
      onOfflineRead?: (reason: OfflineReadReason) => void;
      /** Told the key id of every vector served whose signature a previous key made (a rotation in progress): the API counts them. */
      onPreviousKeyVector?: (keyId: string) => void;
      /** Told the key id of every offline row served or re-warmed whose signature a previous key made: the API counts them. */
      onPreviousKeyRow?: (keyId: string) => void;
      /**
       * The deployment's MODEL_SIGNING_KEY: with it a stored vector is served only with its valid
       * signature (refused otherwise, as another symbol's is), and the re-warm writes signed vectors.
       * Without it the online store is trusted as it stands.
       */
      signing?: RowSigning;
      /** The clock that dates "today" for the as-of check (tests). */
      now?: () => Date;
    },
  ) {
    this.log = deps.log ?? (() => undefined);
    this.keys = verificationKeysOf(deps.signing);
    this.removeListener = deps.cache.onAvailability((available) => {
      if (available) void this.rewarm();
    });
  }

  /** A vector a previous key signed is served; logged once per key id (its writers re-sign it on their next write), counted each time. */
  private readonly onPreviousKey = (keyId: string): void => {
    if (!this.previousKeysLogged.has(keyId)) {
      this.previousKeysLogged.add(keyId);
      this.log('features.online_vector_previous_key', { keyId, action: 'served; the features step and the stream consumer sign vectors with the current key when they next write them' });
    }
    this.deps.onPreviousKeyVector?.(keyId);
  };

  /** An offline row a previous key signed is served (or re-warmed, signed with the current key); logged once per key id, counted each time. */
  private readonly onPreviousKeyRow = (keyId: string): void => {
    if (!this.rowPreviousKeysLogged.has(keyId)) {
      this.rowPreviousKeysLogged.add(keyId);
      this.log('features.offline_row_previous_key', { keyId, action: 'served; `mlp features recompute` signs the feature set\'s rows with the current key' });
    }
    this.deps.onPreviousKeyRow?.(keyId);
  };

  stats(): { offlineReads: number; rewarmed: number; rewarmFailures: number; invalidVectors: number; refusedRows: number } {
    return { ...this.counters };
  }

  /**
   * The newest vector: the cache's, else the offline store's; throws only when neither can be read.
   * A cached vector that is not the key's (another symbol's or feature set's, dated after today,
   * damaged, or with a signing key unsigned or not matching its signature: parseStoredVector) is
   * never served: it is counted, logged once per key and reason, and the offline store answers as
   * when the cache holds none.
   */
  async read(version: string, symbol: string): Promise<OnlineFeatureVector | undefined> {
    if (this.keys !== undefined && !this.offlineVersions.has(version)) {
      // The first read of a feature set waits for its newest signed offline dates (one query, once
      // per set); later reads never query for them (refreshed off the request path).
      this.offlineVersions.add(version);
      await this.refreshOfflineNewest();
    }
    let cacheError: unknown;
    let refused: InvalidOnlineVectorError | undefined;
    try {
      const raw = await this.deps.cache.get(key(version, symbol));
      if (this.cacheFailing) {
        this.cacheFailing = false;
        this.log('features.online_read_recovered', {});
      }
      const at = key(version, symbol);
      if (raw === undefined) {
        // Served from the offline store, which is not what the writers published: said once per key.
        if (!this.missingLogged.has(at)) {
          if (this.missingLogged.size >= MAX_LOGGED_KEYS) this.missingLogged.clear();
          this.missingLogged.add(at);
          this.log('features.online_vector_missing', { version, symbol, fallback: 'offline store' });
        }
      } else {
        try {
          const vector = parseStoredVector(raw, version, symbol, marketToday(this.deps.now?.()), this.keys, this.onPreviousKey);
          if (this.keys !== undefined) this.checkNotOlder(vector, at);
          this.refusalsLogged.delete(at);
          this.missingLogged.delete(at);
          this.rowRefusalsLogged.delete(at);
          return vector;
        } catch (error) {
          if (!(error instanceof InvalidOnlineVectorError)) throw error;
          refused = error;
          this.counters.invalidVectors++;
          // Read again on every fetch until rewritten: one line per key and reason, the metric counts each.
          if (this.refusalsLogged.get(at) !== error.problem) {
            if (this.refusalsLogged.size >= MAX_LOGGED_KEYS) this.refusalsLogged.clear();
            this.refusalsLogged.set(at, error.problem);
            this.log('features.online_vector_refused', { version, symbol, problem: error.problem, error: error.message, fallback: 'offline store' });
          }
          this.deps.onInvalidVector?.(error);
        }
      }
    } catch (error) {
      cacheError = error;
      if (!this.cacheFailing) {
        this.cacheFailing = true;
        this.log('features.online_read_failed', { error: (error as Error).message, fallback: 'offline store' });
      }
    }
    this.deps.onOfflineRead?.(cacheError ? 'cache_unavailable' : refused ? 'refused' : 'missing');
    let offline: OnlineFeatureVector | undefined;
    try {
      offline = await readOfflineLatest(this.deps.store, version, symbol, await this.columnsOf(version), marketToday(this.deps.now?.()), undefined, this.deps.signing, this.onPreviousKeyRow);
    } catch (error) {
      if (error instanceof RefusedFeatureRowError) {
        this.rowRefused(error);
        const online = refused ? refused.message : cacheError ? `the online store failed (${(cacheError as Error).message})` : `the online store holds no vector of ${symbol} in feature set ${version}`;
        throw new Error(`${online}, and ${error.message}`, { cause: error });
      }
      const why = cacheError ? `the online store failed (${(cacheError as Error).message}) and ` : '';
      throw new Error(`${why}the offline store failed (${(error as Error).message})`, { cause: error });
    }
    if (offline) {
      if (this.keys !== undefined) this.noteVerified(key(version, symbol), offline.asOf);
      this.counters.offlineReads++;
      this.rowRefusalsLogged.delete(key(version, symbol));
      return offline;
    }
    // Nothing to serve instead of a refused vector: say why, rather than that none was published.
    if (refused) throw new Error(`${refused.message}, and the offline store holds no vector of ${symbol} in feature set ${version}`, { cause: refused });
    // The online store could not be asked: whether it holds a vector is unknown, so this is the
    // outage (503 features_unavailable), not a symbol without features (404 no_features).
    if (cacheError) throw new Error(`the online store (${this.deps.cache.kind}) could not be read (${(cacheError as Error).message}) and the offline store holds no vector of ${symbol} in feature set ${version}: whether the online store has one is unknown until it answers`, { cause: cacheError });
    return undefined;
  }

  /**
   * With the key: a vector whose signature holds is still refused when it is older than one this
   * process verified for the symbol (`replayed`: an older signed vector written back, e.g. by a plain
   * Redis SET; its signature covers symbol and date, not that it is the newest), or than the newest
   * signed offline row of the symbol (`superseded`): the offline store then answers with its newer
   * row. No database read: the offline dates are kept per feature set (refreshOfflineNewest).
   */
  private checkNotOlder(vector: OnlineFeatureVector, at: string): void {
    const verified = this.verifiedAsOf.get(at);
    if (verified !== undefined && vector.asOf < verified) {
      throw new InvalidOnlineVectorError(vector.version, vector.symbol, 'replayed', `it is dated ${vector.asOf}, older than the vector dated ${verified} this process verified before: an older signed vector was written back over a newer one (its signature covers the symbol and date, not that it is the newest)`);
    }
    const offline = this.offlineNewest.get(vector.version)?.get(vector.symbol);
    if (offline !== undefined && vector.asOf < offline) {
      throw new InvalidOnlineVectorError(vector.version, vector.symbol, 'superseded', `it is dated ${vector.asOf}, older than the signed offline row dated ${offline}: the offline row answers instead`);
    }
    this.noteVerified(at, vector.asOf);
  }

  private noteVerified(at: string, asOf: string): void {
    const known = this.verifiedAsOf.get(at);
    if (known !== undefined && known >= asOf) return;
    if (known === undefined && this.verifiedAsOf.size >= MAX_VERIFIED_KEYS) this.verifiedAsOf.clear();
    this.verifiedAsOf.set(at, asOf);
  }

  /**
   * With the key: reads, per feature set served, the date of each symbol's newest offline row whose
   * signature holds (one query per set: readOfflineNewestSignedDates), the floor below which an
   * online vector is `superseded`. Refreshed by watchOfflineNewest; a failure keeps the last dates.
   */
  refreshOfflineNewest(): Promise<void> {
    if (this.keys === undefined || this.closed) return Promise.resolve();
    if (this.offlineRefresh) {
      this.offlineRefreshAgain = true;
      return this.offlineRefresh;
    }
    this.offlineRefresh = (async () => {
      try {
        do {
          this.offlineRefreshAgain = false;
          const today = marketToday(this.deps.now?.());
          const versions = new Set([...this.deps.rewarmVersions(), ...this.offlineVersions]);
          for (const version of versions) this.offlineNewest.set(version, await readOfflineNewestSignedDates(this.deps.store, version, today, this.deps.signing!));
        } while (this.offlineRefreshAgain && !this.closed);
      } catch (error) {
        this.log('features.offline_newest_failed', { error: (error as Error).message });
      } finally {
        this.offlineRefresh = undefined;
      }
    })();
    return this.offlineRefresh;
  }

  /**
   * With the key: refreshes the newest signed offline dates now, on every `features:updated`
   * announcement (a features step or the stream consumer wrote), and every `intervalMs`.
   */
  async watchOfflineNewest(intervalMs: number): Promise<void> {
    if (this.keys === undefined || this.closed) return;
    try {
      this.unsubscribeUpdates = await this.deps.cache.subscribe(FEATURES_UPDATED_CHANNEL, () => void this.refreshOfflineNewest());
    } catch (error) {
      this.log('features.offline_newest_subscribe_failed', { error: (error as Error).message });
    }
    this.offlineTimer = setInterval(() => void this.refreshOfflineNewest(), intervalMs);
    this.offlineTimer.unref();
    await this.refreshOfflineNewest();
  }

  /** An offline row refused (by a read or the re-warm): counted every time, logged once per key and reason. */
  private rowRefused(error: RefusedFeatureRowError): void {
    this.counters.refusedRows++;
    const at = key(error.version, error.symbol);
    const logged = `${error.date} ${error.problem}`;
    if (this.rowRefusalsLogged.get(at) !== logged) {
      if (this.rowRefusalsLogged.size >= MAX_LOGGED_KEYS) this.rowRefusalsLogged.clear();
      this.rowRefusalsLogged.set(at, logged);
      this.log('features.offline_row_refused', { version: error.version, symbol: error.symbol, date: error.date, problem: error.problem, error: error.message });
    }
    this.deps.onRefusedRow?.(error);
  }

  /** Publishes the offline store's newest vectors (only where the cache has none or an older one). */
  rewarm(versions: readonly string[] = this.deps.rewarmVersions()): Promise<number> {
    this.rewarming ??= (async () => {
      let written = 0;
      try {
        for (const version of [...new Set(versions)]) {
          // Only rows whose signature holds: the re-warm signs what it writes.
          const vectors = await readOfflineLatestAll(this.deps.store, version, marketToday(this.deps.now?.()), this.deps.signing, (error) => this.rowRefused(error), this.onPreviousKeyRow);
          if (vectors.length > 0) written += await publishOnlineFeatures(this.deps.cache, vectors, this.deps.signing);
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
    this.closed = true;
    this.removeListener();
    if (this.offlineTimer) clearInterval(this.offlineTimer);
    void this.unsubscribeUpdates?.().catch(() => undefined);
  }

  private async columnsOf(version: string): Promise<readonly string[] | undefined> {
    const known = this.columns.get(version);
    if (known) return known;
    const columns = await getFeatureSetColumns(this.deps.store, version);
    if (columns) this.columns.set(version, columns);
    return columns;
  }
}
