/**
 * Reference profiles in the relational store (model_reference_profiles, one row per model version,
 * written once). The column is TEXT, which MySQL caps at 65 535 bytes: a profile that does not fit
 * is thinned (symbol list, then the rarely used window lengths) rather than truncated.
 */
import { BadInputError, describeValidationError } from '../errors';
import { PROFILE_RECORD_SCHEME, profileRecordCheck, signProfileRecord, verificationKeysOf, type ProfileOwner, type RowSignature, type RowSigning } from '../registry/row-signature';
import type { Database } from '../store/database';
import { referenceProfileSchema, type ReferenceProfile } from './reference-profile';

/** Below MySQL's TEXT limit with room for multi-byte names. */
export const MAX_PROFILE_BYTES = 60_000;
/** Window lengths kept when a profile has to be thinned to fit. */
const ESSENTIAL_WINDOW_DAYS = new Set([1, 5, 10, 20]);

/** The profile as stored: the JSON, thinned step by step until it fits; undefined if it never does. */
export function serialiseProfile(profile: ReferenceProfile): string | undefined {
  const attempts: Array<(p: ReferenceProfile) => ReferenceProfile> = [
    (p) => p,
    (p) => ({ ...p, symbols: [] }),
    (p) => {
      const thin = (c: ReferenceProfile['features'][number]) => {
        const keep = c.nulls.days.map((d) => ESSENTIAL_WINDOW_DAYS.has(d));
        const pick = (a: number[]) => a.filter((_, i) => keep[i]);
        const g = c.nulls;
        return { ...c, nulls: { ...g, ...(g.maxPsi ? { maxPsi: pick(g.maxPsi) } : {}), days: pick(g.days), windows: pick(g.windows), rows: pick(g.rows), mean: pick(g.mean), variance: pick(g.variance), max: pick(g.max), tail: pick(g.tail), excess: pick(g.excess) } };
      };
      return { ...p, symbols: [], features: p.features.map(thin), score: p.score ? thin(p.score) : null };
    },
  ];
  for (const thin of attempts) {
    const json = JSON.stringify(thin(profile));
    if (Buffer.byteLength(json) <= MAX_PROFILE_BYTES) return json;
  }
  return undefined;
}

/**
 * The lineage key by which a registration with MODEL_SIGNING_KEY says, in its signed row, that its
 * training run stores the version's reference profile signed (the value: PROFILE_RECORD_SCHEME).
 * Written only when the profile was built and fits before the row was registered. With it, a
 * missing or unsigned profile is no older version's: it was deleted, or edited and its signature
 * removed (monitoring's artifact_damaged, critical). Before, deleting a signed champion's profile
 * turned off its drift, broken-feed and retrain alerts without an alert.
 */
export const SIGNED_PROFILE_LINEAGE_KEY = 'referenceProfile';

/** Whether a version's (verified) row says its training run stored its reference profile signed. */
export function profileStoredSigned(version: { lineage: Record<string, unknown> }): boolean {
  return version.lineage[SIGNED_PROFILE_LINEAGE_KEY] === PROFILE_RECORD_SCHEME;
}

export interface SaveProfileResult {
  stored: boolean;
  /** Present when nothing new was stored: already there, or too large. */
  reason?: string;
  bytes?: number;
}

/**
 * Stores the profile of its model version unless one is there already (idempotent: retries and
 * re-registrations keep the first). `sign` (with MODEL_SIGNING_KEY: row-signature.ts
 * signProfileRecord bound to the version's row) signs the exact text stored.
 */
export async function saveReferenceProfile(store: Database, profile: ReferenceProfile, sign?: (storedText: string) => RowSignature): Promise<SaveProfileResult> {
  const existing = await store.db.selectFrom('model_reference_profiles').select('version').where('name', '=', profile.model).where('version', '=', profile.version).executeTakeFirst();
  if (existing) return { stored: false, reason: 'already stored' };
  const json = serialiseProfile(profile);
  if (json === undefined) {
    return { stored: false, reason: `the profile of ${profile.features.length} features does not fit in ${MAX_PROFILE_BYTES} bytes even thinned; use fewer bins or widen model_reference_profiles.profile (MEDIUMTEXT)` };
  }
  const signature = sign?.(json);
  await store.db
    .insertInto('model_reference_profiles')
    .ignore()
    .values({ name: profile.model, version: profile.version, profile: json, created_at: profile.createdAt, signature: signature?.mac ?? null, signature_key_id: signature?.keyId ?? null })
    .execute();
  return { stored: true, bytes: Buffer.byteLength(json) };
}

/** A stored profile with the text it was stored as and its signature, as verification needs them. */
export interface StoredReferenceProfile {
  profile: ReferenceProfile;
  text: string;
  signature?: RowSignature;
}

/** The stored profile of a version, or undefined when none was stored (registered before monitoring existed, outside a training run, or by a registration that could never build one: model-report.ts missingProfileReason). */
export async function readReferenceProfile(store: Database, model: string, version: number): Promise<ReferenceProfile | undefined> {
  return (await readReferenceProfileRecord(store, model, version))?.profile;
}

/** The stored profile of a version with its stored text and signature, or undefined when none was stored. */
export async function readReferenceProfileRecord(store: Database, model: string, version: number): Promise<StoredReferenceProfile | undefined> {
  const row = await store.db.selectFrom('model_reference_profiles').select(['profile', 'signature', 'signature_key_id']).where('name', '=', model).where('version', '=', version).executeTakeFirst();
  if (!row) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(row.profile);
  } catch (error) {
    throw new BadInputError(`the reference profile of ${model} v${version} is not valid JSON (${(error as Error).message}); delete its row in model_reference_profiles and re-register the version`);
  }
  const parsed = referenceProfileSchema.safeParse(json);
  if (!parsed.success) throw new BadInputError(`the reference profile of ${model} v${version} cannot be read by this code (${describeValidationError(parsed.error)}); delete its row in model_reference_profiles and re-register the version`);
  const signature = row.signature !== null ? { keyId: row.signature_key_id ?? '', mac: row.signature } : undefined;
  return { profile: parsed.data, text: row.profile, ...(signature ? { signature } : {}) };
}

/** What signing a version's stored profile found: none stored, already valid, or signed now (and what it was before). */
export type ProfileSigning = { state: 'none' } | { state: 'valid' } | { state: 'signed'; before: 'unsigned' | 'previous_key' | 'invalid' };

/**
 * Signs the stored reference profile of `owner` (a registry row the caller has verified, signature
 * included) with the signing key, as it is now: for profiles stored before profiles were signed or
 * without the key, and after a key rotation (`mlp models sign`). As for rows, a profile no key
 * confirms (unsigned, or changed since it was signed) is signed only with `acceptEdit`: signing
 * vouches for it. Only the text that was read is signed (the update matches it).
 */
export async function signVersionProfile(store: Database, owner: ProfileOwner, signing: RowSigning, options: { acceptEdit?: boolean } = {}): Promise<ProfileSigning> {
  const keys = verificationKeysOf(signing);
  if (keys === undefined) throw new BadInputError('no signing key: set MODEL_SIGNING_KEY to sign reference profiles');
  const key = keys.signingKey;
  const record = await readReferenceProfileRecord(store, owner.name, owner.version);
  if (!record) return { state: 'none' };
  const check = profileRecordCheck(keys, owner, record.text, record.signature);
  if (check.problem === undefined && check.previousKeyId === undefined) return { state: 'valid' };
  // Only a profile some key confirms (a previous key: a rotation) is re-signed without asking.
  if (check.problem !== undefined && !options.acceptEdit) {
    throw new BadInputError(`${check.problem}; it was not signed: compare it with the version's training data (mlp models show) and sign it with --accept-profile only if you vouch for it as it is, or restore its row in model_reference_profiles from a backup (deleted, drift is unavailable for the version, and alerted as damage when its row says its profile was stored signed)`);
  }
  const signature = signProfileRecord(key, owner, record.text);
  const [result] = await store.db
    .updateTable('model_reference_profiles')
    .set({ signature: signature.mac, signature_key_id: signature.keyId })
    .where('name', '=', owner.name)
    .where('version', '=', owner.version)
    .where('profile', '=', record.text)
    .execute();
  if (Number(result?.numUpdatedRows ?? 0) !== 1) throw new BadInputError(`the reference profile of ${owner.name} v${owner.version} changed while it was being signed; nothing was signed, run the command again`);
  return { state: 'signed', before: !record.signature ? 'unsigned' : check.problem === undefined ? 'previous_key' : 'invalid' };
}

/** Whether a version has a stored profile (cheap: the JSON is not read). */
export async function hasReferenceProfile(store: Database, model: string, version: number): Promise<boolean> {
  const row = await store.db.selectFrom('model_reference_profiles').select('version').where('name', '=', model).where('version', '=', version).executeTakeFirst();
  return row !== undefined;
}
