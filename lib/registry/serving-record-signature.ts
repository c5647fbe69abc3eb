/**
 * Signatures of what decides serving (MODEL_SIGNING_KEY): a model's serving routes row (which
 * versions take which share of traffic, at which generation) and its alias rows (which version is
 * the champion, canary, challenger), with their history rows. A registry row's signature binds a
 * version to its artifact, but not which version is served: routes and alias moved together by SQL
 * to another signed version (a superseded champion, a version never promoted) were served to all
 * traffic with no alert, since both agreed and both named a signed version.
 *
 * Each record is signed by the same key and MAC as registry rows (lib/registry/row-signature.ts
 * hmacSha256Hex, checked by checkMac against the current key and MODEL_SIGNING_PREVIOUS_KEYS), under
 * a scheme name of its own so no MAC is valid as another record's:
 *
 * - a routes row (and its history row, the same values): the model, generation, mode, routes
 *   (variant, version, weight), shadow, reference, salt, who, why and when (ROUTES_RECORD_SCHEME);
 * - an alias row: the model name, the alias, the version and the number (`seq`) of the history row
 *   of the move that set it (ALIAS_RECORD_SCHEME);
 * - an alias history row: every column (ALIAS_MOVE_SCHEME).
 *
 * A signature proves a record was written by a key holder, not that it is the newest one: an older
 * signed routes row (or alias row) written back is caught by comparing it with the newest signed
 * history row (monitoring) and, in the prediction API, by never moving to a generation below one it
 * has verified.
 */
import type { AliasHistoryEntry } from './model-registry';
import { canonicalEncoding, checkMac, hmacSha256Hex, heldKeyMismatch, signedWithAnotherKey, signingKeyId, type RowSignature, type VerificationKeys } from './row-signature';

export const ROUTES_RECORD_SCHEME = 'mlp-serving-routes-v1';
export const ALIAS_RECORD_SCHEME = 'mlp-model-alias-v1';
export const ALIAS_MOVE_SCHEME = 'mlp-model-alias-move-v1';

/** The fields of a routes row (or routes history row) its signature covers. */
export interface SignedRoutesFields {
  model: string;
  generation: number;
  mode: string;
  routes: ReadonlyArray<{ variant: string; version: number; weight: number }>;
  shadow?: { version: number };
  reference?: string;
  salt: string;
  updatedBy: string;
  reason: string;
  updatedAt: string;
}

/** The fields of an alias row its signature covers. */
export interface SignedAliasFields {
  name: string;
  alias: string;
  version: number;
  /** model_alias_history.seq of the move that set it. */
  seq: number;
}

/** The fields of an alias history row its signature covers (all of them: the move and its model). */
export type SignedAliasMoveFields = AliasHistoryEntry & { name: string };

export function signedRoutesText(r: SignedRoutesFields): string {
  const covered = {
    model: r.model,
    generation: r.generation,
    mode: r.mode,
    routes: r.routes.map((route) => ({ variant: route.variant, version: route.version, weight: route.weight })),
    shadow: r.shadow ? { version: r.shadow.version } : undefined,
    reference: r.reference,
    salt: r.salt,
    updatedBy: r.updatedBy,
    reason: r.reason,
    updatedAt: r.updatedAt,
  };
  return `${ROUTES_RECORD_SCHEME}\n${canonicalEncoding(covered)}`;
}

export function signedAliasText(a: SignedAliasFields): string {
  return `${ALIAS_RECORD_SCHEME}\n${canonicalEncoding({ name: a.name, alias: a.alias, version: a.version, seq: a.seq })}`;
}

export function signedAliasMoveText(m: SignedAliasMoveFields): string {
  const covered = { name: m.name, seq: m.seq, alias: m.alias, fromVersion: m.fromVersion, toVersion: m.toVersion, movedBy: m.movedBy, reason: m.reason, movedAt: m.movedAt };
  return `${ALIAS_MOVE_SCHEME}\n${canonicalEncoding(covered)}`;
}

function sign(key: string, text: string): RowSignature {
  return { keyId: signingKeyId(key), mac: hmacSha256Hex(key, text) };
}

export const signRoutesRecord = (key: string, r: SignedRoutesFields): RowSignature => sign(key, signedRoutesText(r));
export const signAliasRecord = (key: string, a: SignedAliasFields): RowSignature => sign(key, signedAliasText(a));
export const signAliasMoveRecord = (key: string, m: SignedAliasMoveFields): RowSignature => sign(key, signedAliasMoveText(m));

/** The stored signature of a row with `signature` and `signature_key_id` columns, when both are set. */
export function storedSignatureOf(row: { signature?: string | null; signature_key_id?: string | null }): RowSignature | undefined {
  return typeof row.signature === 'string' && typeof row.signature_key_id === 'string' ? { keyId: row.signature_key_id, mac: row.signature } : undefined;
}

/** Why a record's signature does not vouch for it under `keys`, or undefined when it does (by the current or a previous key). `subject`: what it is, for the sentence. */
function problemOf(keys: VerificationKeys, subject: string, signature: RowSignature | undefined, text: () => string): string | undefined {
  if (!signature) return `${subject} carries no signature: it was written without MODEL_SIGNING_KEY (before serving records were signed, or by a process without the key) or by hand`;
  let encoded: string;
  try {
    encoded = text();
  } catch (error) {
    return `the signature of ${subject} does not match it: it holds a value no write makes (${(error as Error).message}), so it was edited`;
  }
  const verdict = checkMac(keys, signature, (key) => hmacSha256Hex(key, encoded));
  if (verdict.state === 'valid') return undefined;
  if (verdict.state === 'mismatch') return `the signature of ${subject} does not match it: it was edited after it was written ${heldKeyMismatch(verdict.keyId)}`;
  return `${subject} is ${signedWithAnotherKey(verdict.keyId, keys)}`;
}

export function routesRecordProblem(keys: VerificationKeys, r: SignedRoutesFields, signature: RowSignature | undefined, subject = `the serving routes row of ${r.model} (generation ${r.generation})`): string | undefined {
  return problemOf(keys, subject, signature, () => signedRoutesText(r));
}

export function aliasRecordProblem(keys: VerificationKeys, a: SignedAliasFields, signature: RowSignature | undefined): string | undefined {
  return problemOf(keys, `the ${a.alias} alias of ${a.name} (v${a.version}, move ${a.seq})`, signature, () => signedAliasText(a));
}

export function aliasMoveProblem(keys: VerificationKeys, m: SignedAliasMoveFields, signature: RowSignature | undefined): string | undefined {
  return problemOf(keys, `move ${m.seq} of the aliases of ${m.name} (${m.alias} → ${m.toVersion === null ? 'cleared' : `v${m.toVersion}`})`, signature, () => signedAliasMoveText(m));
}
