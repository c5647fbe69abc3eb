/**
 * Reference profiles in the relational store (model_reference_profiles, one row per model version,
 * written once). The column is TEXT, which MySQL caps at 65 535 bytes: a profile that does not fit
 * is thinned (symbol list, then the rarely used window lengths) rather than truncated.
 */
import { BadInputError, describeValidationError } from '../errors';
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
        return { ...c, nulls: { days: pick(g.days), windows: pick(g.windows), rows: pick(g.rows), mean: pick(g.mean), variance: pick(g.variance), max: pick(g.max), tail: pick(g.tail), excess: pick(g.excess) } };
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

export interface SaveProfileResult {
  stored: boolean;
  /** Present when nothing new was stored: already there, or too large. */
  reason?: string;
  bytes?: number;
}

/** Stores the profile of its model version unless one is there already (idempotent: retries and re-registrations keep the first). */
export async function saveReferenceProfile(store: Database, profile: ReferenceProfile): Promise<SaveProfileResult> {
  const existing = await store.db.selectFrom('model_reference_profiles').select('version').where('name', '=', profile.model).where('version', '=', profile.version).executeTakeFirst();
  if (existing) return { stored: false, reason: 'already stored' };
  const json = serialiseProfile(profile);
  if (json === undefined) {
    return { stored: false, reason: `the profile of ${profile.features.length} features does not fit in ${MAX_PROFILE_BYTES} bytes even thinned; use fewer bins or widen model_reference_profiles.profile (MEDIUMTEXT)` };
  }
  await store.db.insertInto('model_reference_profiles').ignore().values({ name: profile.model, version: profile.version, profile: json, created_at: profile.createdAt }).execute();
  return { stored: true, bytes: Buffer.byteLength(json) };
}

/** The stored profile of a version, or undefined when none was stored (registered before monitoring existed, or outside a training run). */
export async function readReferenceProfile(store: Database, model: string, version: number): Promise<ReferenceProfile | undefined> {
  const row = await store.db.selectFrom('model_reference_profiles').select('profile').where('name', '=', model).where('version', '=', version).executeTakeFirst();
  if (!row) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(row.profile);
  } catch (error) {
    throw new BadInputError(`the reference profile of ${model} v${version} is not valid JSON (${(error as Error).message}); delete its row in model_reference_profiles and re-register the version`);
  }
  const parsed = referenceProfileSchema.safeParse(json);
  if (!parsed.success) throw new BadInputError(`the reference profile of ${model} v${version} cannot be read by this code (${describeValidationError(parsed.error)}); delete its row in model_reference_profiles and re-register the version`);
  return parsed.data;
}

/** Whether a version has a stored profile (cheap: the JSON is not read). */
export async function hasReferenceProfile(store: Database, model: string, version: number): Promise<boolean> {
  const row = await store.db.selectFrom('model_reference_profiles').select('version').where('name', '=', model).where('version', '=', version).executeTakeFirst();
  return row !== undefined;
}
