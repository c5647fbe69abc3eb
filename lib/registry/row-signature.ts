/**
 * Binding a registry row to what was registered (MODEL_SIGNING_KEY). With the key set, registration
 * stores an HMAC-SHA256 by it over a canonical encoding of every field of the row fixed at
 * registration (name, version, artifact sha256 and size, algorithm, parameters, seed, feature set,
 * label, snapshot, code version, run, registration key, metrics, lineage, creation time), and
 * artifact verification (lib/registry/verify-artifact.ts) recomputes it before it reads anything
 * else: a row edited since (another artifact with a consistent sha256 and size, other parameters,
 * another feature set…) is refused, however consistent the edit, by anyone without the key.
 *
 * Not covered by the row signature: the lineage keys a run report writes after registration
 * (recordVersionReport: `report`, `promotion`, `datasetGuards`), which describe the report and not
 * the model; covering them would break the signature of every version whose report is written.
 * They have their own signature instead (the report record: REPORT_RECORD_SCHEME below), made by the
 * key holder who records them and stored beside them (`reportSignature`): an HMAC by the same key
 * over the three keys together with the row's name, version, artifact sha256, registration key and
 * creation time, so a record cannot be edited, nor moved to another version, without the key.
 * The drift reference profile monitoring stores after registration (model_reference_profiles) has a
 * signature of its own too (PROFILE_RECORD_SCHEME below), bound to the row's identity.
 * Aliases and routes live in other tables with signatures of their own
 * (lib/registry/serving-record-signature.ts); deployments rows are not signed.
 *
 * Every signed record is checked by checkMac alone, against the current key and the keys of
 * MODEL_SIGNING_PREVIOUS_KEYS (the stored key id picks which): during a key rotation every process
 * holds both, so what the old key signed keeps verifying until it is re-signed (docs/operations.md).
 *
 * The encoding is part of the stored format: changing it (or the covered fields) invalidates every
 * signature, so it is versioned (ROW_SIGNATURE_SCHEME) and defined here alone.
 */
import crypto from 'node:crypto';
import type { ModelVersion } from './model-registry';

/** The shortest MODEL_SIGNING_KEY accepted (lib/config.ts): an HMAC key should be random and long. */
export const MIN_SIGNING_KEY_LENGTH = 32;

/** Names the encoding below; part of the signed text, so a future encoding can never collide with this one. */
export const ROW_SIGNATURE_SCHEME = 'mlp-model-row-v1';

/** Lineage keys written after registration by a run report (lib/registry/model-registry.ts recordVersionReport): covered by the report record's signature, not the row's. */
export const REPORT_RECORD_KEYS = ['report', 'promotion', 'datasetGuards'] as const;

/** The lineage key holding the report record's signature ({ keyId, mac }). */
export const REPORT_RECORD_SIGNATURE_KEY = 'reportSignature';

/** Lineage keys the row signature leaves out: the report record and its own signature. */
export const UNSIGNED_LINEAGE_KEYS = [...REPORT_RECORD_KEYS, REPORT_RECORD_SIGNATURE_KEY] as const;

/** Names the report record's encoding; part of its signed text (and unlike ROW_SIGNATURE_SCHEME, so neither MAC is ever valid as the other). */
export const REPORT_RECORD_SCHEME = 'mlp-report-record-v1';

/** The deployment's signing key as the registry takes it (MODEL_SIGNING_KEY); undefined: rows are neither signed nor checked. */
export interface RowSigning {
  signingKey: string | undefined;
  /**
   * Keys signing used before a rotation (MODEL_SIGNING_PREVIOUS_KEYS): they never sign, but what they
   * signed verifies (checkMac), so every process can be given the new key before rows and records
   * are re-signed with it and keep serving throughout (docs/operations.md); re-signing reads them to
   * confirm a record's old signature.
   */
  previousKeys?: readonly string[];
}

/** The keys a signature is checked with: the deployment's key alone, or with the previous keys of a rotation in progress. */
export type VerificationKeys = string | { signingKey: string; previousKeys?: readonly string[] };

/** The keys `signing` verifies with (the current key and the previous ones, always a list); undefined without a key (nothing is checked). The one place a key set is built from the configured signing. */
export function verificationKeysOf(signing: RowSigning | undefined): { signingKey: string; previousKeys: readonly string[] } | undefined {
  const key = signing?.signingKey;
  return key === undefined ? undefined : { signingKey: key, previousKeys: signing?.previousKeys ?? [] };
}

/** No key: registration signs nothing and verification checks no signature (the behaviour without MODEL_SIGNING_KEY). */
export const NO_ROW_SIGNING: RowSigning = { signingKey: undefined };

/** A stored signature: which key made it (signingKeyId) and the HMAC-SHA256, hex. */
export interface RowSignature {
  keyId: string;
  mac: string;
}

/** The fields of a registry row that the signature covers: all of them but the signature (the lineage keys in UNSIGNED_LINEAGE_KEYS left out when encoding). */
export type SignedRowFields = Omit<ModelVersion, 'signature'>;

/** A short public name of a key (the first 8 hex digits of its sha256), stored beside each signature so a rotated key is told apart from an edited row. */
export function signingKeyId(key: string): string {
  let id = keyIds.get(key);
  if (id === undefined) {
    id = crypto.createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 8);
    keyIds.set(key, id);
  }
  return id;
}

/** signingKeyId per key: a sha256 per check is too many on the API's hot path (online vectors). */
const keyIds = new Map<string, string>();

/**
 * What a stored signature is under the keys held: made by the key its key id names (`previous`: one of
 * MODEL_SIGNING_PREVIOUS_KEYS, so re-signing is pending); not the MAC of the held key its id names
 * (`mismatch`: the record changed since it was signed, or the id was written over); or naming none of
 * the held keys (`unknown_key`: signed with a key this process was not given, or an id written by
 * hand). The id only picks the key to compute with; the MAC alone vouches.
 */
export type MacVerdict = { state: 'valid'; keyId: string; previous: boolean } | { state: 'mismatch'; keyId: string } | { state: 'unknown_key'; keyId: string };

/**
 * The one check of a stored signature, for every signed record (registry rows, report records,
 * reference profiles, online vectors, and any record signed with the deployment's key): `macOf(key)`
 * is the MAC `key` gives the record. A signature by a previous key is valid, so rotating keys takes
 * nothing offline.
 */
export function checkMac(keys: VerificationKeys, signature: RowSignature, macOf: (key: string) => string): MacVerdict {
  const { signingKey, previousKeys = [] } = typeof keys === 'string' ? { signingKey: keys } : keys;
  let held = false;
  for (const key of [signingKey, ...previousKeys]) {
    if (signingKeyId(key) !== signature.keyId) continue;
    held = true;
    if (sameMac(signature.mac, macOf(key))) return { state: 'valid', keyId: signature.keyId, previous: key !== signingKey };
  }
  return { state: held ? 'mismatch' : 'unknown_key', keyId: signature.keyId };
}

/** The id of the key `keys` sign with. */
export function currentKeyId(keys: VerificationKeys): string {
  return signingKeyId(typeof keys === 'string' ? keys : keys.signingKey);
}

/** The refusal of a signature naming a key none of `keys` is, after its subject and verb ("the registry row is …"). */
export function signedWithAnotherKey(keyId: string, keys: VerificationKeys): string {
  return `signed with another key (key id ${keyId}), neither this deployment's MODEL_SIGNING_KEY (key id ${currentKeyId(keys)}) nor one of its MODEL_SIGNING_PREVIOUS_KEYS: a key rotation gives every process the new key, with the old one in MODEL_SIGNING_PREVIOUS_KEYS, before anything is re-signed (docs/operations.md); otherwise it was edited (a stored key id is no proof: whoever edits it can write one)`;
}

/** The end of the refusal of a signature that is not the MAC of the held key its id names. */
export function heldKeyMismatch(keyId: string): string {
  return `(its signature names key id ${keyId}, which this deployment holds, and is not that key's)`;
}

/** A signature's check for callers that act on it: the refusal, or, when valid, the previous key that made it (re-signing pending). */
export type SignatureCheck = { problem: string; previousKeyId?: undefined } | { problem?: undefined; previousKeyId?: string };

/** The check for a verdict; `refusal.mismatch`: the sentence for an edit, `refusal.subject`: what is signed, with its verb (for another key's). */
function checkOf(verdict: MacVerdict, keys: VerificationKeys, refusal: { subject: string; mismatch: string }): SignatureCheck {
  if (verdict.state === 'valid') return verdict.previous ? { previousKeyId: verdict.keyId } : {};
  if (verdict.state === 'mismatch') return { problem: `${refusal.mismatch} ${heldKeyMismatch(verdict.keyId)}` };
  return { problem: `${refusal.subject} ${signedWithAnotherKey(verdict.keyId, keys)}` };
}

/**
 * Canonical JSON: object keys sorted (by UTF-16 code unit) at every level and keys whose value is
 * undefined left out, so two equal values encode alike whatever their key order; arrays keep their
 * order; numbers in JavaScript's shortest round-trip form (1.0 → 1, 1e21 → 1e+21, -0 → 0), as
 * JSON.stringify writes them, so a value read back from the stored JSON encodes as it did when
 * signed. Anything JSON cannot hold (NaN, Infinity, bigint, functions) is refused.
 */
export function canonicalEncoding(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalEncoding: ${value} is not a JSON number`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((item: unknown) => (item === undefined ? 'null' : canonicalEncoding(item))).join(',')}]`;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalEncoding(record[k])}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonicalEncoding: a value of type ${typeof value} is not JSON`);
  }
}

/** The row's lineage without the keys a run report writes later. */
function signedLineage(lineage: Record<string, unknown>): Record<string, unknown> {
  const out = { ...lineage };
  for (const key of UNSIGNED_LINEAGE_KEYS) delete out[key];
  return out;
}

/** The exact text that is signed: the scheme, then the covered fields as canonical JSON. */
export function signedRowText(row: SignedRowFields): string {
  const covered: Record<keyof SignedRowFields, unknown> = {
    name: row.name,
    version: row.version,
    artifactSha256: row.artifactSha256,
    artifactBytes: row.artifactBytes,
    algorithm: row.algorithm,
    params: row.params,
    seed: row.seed,
    featureSetVersion: row.featureSetVersion,
    label: row.label,
    snapshotId: row.snapshotId,
    snapshotHash: row.snapshotHash,
    codeVersion: row.codeVersion,
    workflowId: row.workflowId,
    runId: row.runId,
    registrationKey: row.registrationKey,
    metrics: row.metrics,
    lineage: signedLineage(row.lineage),
    createdAt: row.createdAt,
  };
  return `${ROW_SIGNATURE_SCHEME}\n${canonicalEncoding(covered)}`;
}

/**
 * HMAC-SHA256 by `key` of `text` (UTF-8) followed by `bytes` (as they are), hex: the one MAC every
 * signed record of the deployment uses (rows, report records, reference profiles, online feature
 * vectors and offline feature rows: lib/features/vector-signature.ts). Each record's text starts
 * with its own scheme name, so no MAC is ever valid as another's. `bytes` lets a binary record
 * (a feature row's packed values) be signed as stored, without an encoding of it per row.
 */
export function hmacSha256Hex(key: string, text: string, bytes?: Uint8Array): string {
  const hmac = crypto.createHmac('sha256', secretKeyOf(key)).update(text, 'utf8');
  if (bytes !== undefined) hmac.update(bytes);
  return hmac.digest('hex');
}

/** The key as a KeyObject, per key: made once, not per MAC (online vectors are checked on the API's hot path). */
const secretKeys = new Map<string, crypto.KeyObject>();

function secretKeyOf(key: string): crypto.KeyObject {
  let secret = secretKeys.get(key);
  if (secret === undefined) {
    secret = crypto.createSecretKey(Buffer.from(key, 'utf8'));
    secretKeys.set(key, secret);
  }
  return secret;
}

function mac(key: string, row: SignedRowFields): string {
  return hmacSha256Hex(key, signedRowText(row));
}

/**
 * Why the covered text of a row (or report record) cannot be made, or undefined when it can. A
 * stored value JSON.stringify can never write (1e999 read back as Infinity) is there only by an
 * edit: it is refused as an edit, never thrown, else a TypeError reads as "store unreadable" and
 * the edited row keeps serving.
 */
function unencodable(encode: () => string): string | undefined {
  try {
    encode();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Whether a stored MAC (anything, as read) is the expected one (hmacSha256Hex), compared in constant time. */
export function sameMac(stored: string, expected: string): boolean {
  return /^[0-9a-f]{64}$/.test(stored) && crypto.timingSafeEqual(Buffer.from(stored, 'hex'), Buffer.from(expected, 'hex'));
}

/** The signature `key` gives the row. */
export function signRow(key: string, row: SignedRowFields): RowSignature {
  return { keyId: signingKeyId(key), mac: mac(key, row) };
}

/**
 * Whether the row's signature binds it under `keys` (the current key or a previous one), else why
 * not (missing, edited since, another key's). The reason is what artifact verification refuses the
 * version with.
 */
export function rowSignatureCheck(keys: VerificationKeys, row: SignedRowFields & { signature?: RowSignature }): SignatureCheck {
  const { signature } = row;
  if (!signature) return { problem: `the registry row has no signature: it was registered without the signing key or the signature was removed; sign it with \`mlp models sign ${row.name} ${row.version} --accept-edit\` after checking it` };
  const cannot = unencodable(() => signedRowText(row));
  if (cannot !== undefined) return { problem: `the registry row's signature does not match it: the row holds a value registration never writes (${cannot}), so it was edited after registration` };
  return checkOf(checkMac(keys, signature, (key) => mac(key, row)), keys, { subject: 'the registry row is', mismatch: "the registry row's signature does not match it: the registry row was edited after registration" });
}

/** rowSignatureCheck's refusal, or undefined when the row is vouched for (by the current or a previous key). */
export function rowSignatureProblem(keys: VerificationKeys, row: SignedRowFields & { signature?: RowSignature }): string | undefined {
  return rowSignatureCheck(keys, row).problem;
}

/** The report record's signature stored in a lineage, if it has the shape of one. */
export function reportRecordSignatureOf(lineage: Record<string, unknown>): RowSignature | undefined {
  const r = lineage[REPORT_RECORD_SIGNATURE_KEY] as { keyId?: unknown; mac?: unknown } | undefined;
  return r && typeof r === 'object' && typeof r.keyId === 'string' && typeof r.mac === 'string' ? { keyId: r.keyId, mac: r.mac } : undefined;
}

/** Whether the lineage holds anything of a report record (one of its keys, or a signature of one). */
export function hasReportRecord(lineage: Record<string, unknown>): boolean {
  return UNSIGNED_LINEAGE_KEYS.some((key) => Object.hasOwn(lineage, key));
}

/**
 * The exact text a report record's signature covers: the scheme, then, as canonical JSON, the row's
 * identity (name, version, artifact sha256, registration key, creation time: a record signed for one
 * version is not valid on another) and the record's keys as the lineage holds them (a key absent is
 * left out, a null kept: the two differ).
 */
export function signedReportRecordText(row: Pick<SignedRowFields, 'name' | 'version' | 'artifactSha256' | 'registrationKey' | 'createdAt' | 'lineage'>): string {
  const record = Object.fromEntries(REPORT_RECORD_KEYS.filter((key) => Object.hasOwn(row.lineage, key)).map((key) => [key, row.lineage[key]]));
  const covered = { name: row.name, version: row.version, artifactSha256: row.artifactSha256, registrationKey: row.registrationKey, createdAt: row.createdAt, record };
  return `${REPORT_RECORD_SCHEME}\n${canonicalEncoding(covered)}`;
}

function recordMac(key: string, row: Parameters<typeof signedReportRecordText>[0]): string {
  return hmacSha256Hex(key, signedReportRecordText(row));
}

/** The signature `key` gives the report record the row's lineage holds (REPORT_RECORD_KEYS). */
export function signReportRecord(key: string, row: Parameters<typeof signedReportRecordText>[0]): RowSignature {
  return { keyId: signingKeyId(key), mac: recordMac(key, row) };
}

/**
 * Whether the report record in the row's lineage (its report, promotion decision and dataset guard
 * verdicts) is vouched for under `keys` (the current key or a previous one), else why not (no
 * signature, edited or moved from another version since, another key's); vouched for when nothing
 * was recorded.
 */
export function reportRecordCheck(keys: VerificationKeys, row: Parameters<typeof signedReportRecordText>[0]): SignatureCheck {
  if (!hasReportRecord(row.lineage)) return {};
  const signature = reportRecordSignatureOf(row.lineage);
  const subject = `the report, promotion decision and guard verdicts recorded with ${row.name} v${row.version}`;
  if (!signature) return { problem: `${subject} carry no signature: they were recorded without the signing key, or edited and the signature removed` };
  const cannot = unencodable(() => signedReportRecordText(row));
  if (cannot !== undefined) return { problem: `the signature of ${subject} does not match them: they hold a value no recording writes (${cannot}), so they were edited after they were recorded` };
  return checkOf(checkMac(keys, signature, (key) => recordMac(key, row)), keys, { subject: `${subject} are`, mismatch: `the signature of ${subject} does not match them: they were edited (or moved from another version) after they were recorded` });
}

/** reportRecordCheck's refusal, or undefined when the record is vouched for (or there is none). */
export function reportRecordProblem(keys: VerificationKeys, row: Parameters<typeof signedReportRecordText>[0]): string | undefined {
  return reportRecordCheck(keys, row).problem;
}

/** Names the reference profile record's encoding (its signed text); unlike the two schemes above, so no MAC is valid as another. */
export const PROFILE_RECORD_SCHEME = 'mlp-reference-profile-v1';

/** The version a stored reference profile is bound to: the identity of its registry row (itself signed). */
export type ProfileOwner = Pick<SignedRowFields, 'name' | 'version' | 'artifactSha256' | 'registrationKey' | 'createdAt'>;

/**
 * The exact text a reference profile's signature covers: the scheme, then, as canonical JSON, the
 * owning row's identity (a profile signed for one version is not valid on another, nor on the same
 * version number registered again elsewhere) and the sha256 of the profile's stored text. The profile
 * (monitoring's drift reference: feature and score distributions) is written after the row is signed,
 * so it cannot be covered by the row's signature; an edited distribution would silence drift alerts.
 */
export function signedProfileText(owner: ProfileOwner, storedText: string): string {
  const covered = { name: owner.name, version: owner.version, artifactSha256: owner.artifactSha256, registrationKey: owner.registrationKey, createdAt: owner.createdAt, profileSha256: crypto.createHash('sha256').update(storedText, 'utf8').digest('hex') };
  return `${PROFILE_RECORD_SCHEME}\n${canonicalEncoding(covered)}`;
}

function profileMac(key: string, owner: ProfileOwner, storedText: string): string {
  return hmacSha256Hex(key, signedProfileText(owner, storedText));
}

/** The signature `key` gives the stored profile text of `owner`. */
export function signProfileRecord(key: string, owner: ProfileOwner, storedText: string): RowSignature {
  return { keyId: signingKeyId(key), mac: profileMac(key, owner, storedText) };
}

/** Whether the stored profile text is vouched for under `keys` (the current key or a previous one) as the profile of `owner`, else why not (no signature, edited or moved since, another key's). */
export function profileRecordCheck(keys: VerificationKeys, owner: ProfileOwner, storedText: string, signature: RowSignature | undefined): SignatureCheck {
  const subject = `the reference profile stored for ${owner.name} v${owner.version}`;
  if (!signature) return { problem: `${subject} carries no signature: it was stored without the signing key, or edited and the signature removed` };
  return checkOf(checkMac(keys, signature, (key) => profileMac(key, owner, storedText)), keys, { subject: `${subject} is`, mismatch: `the signature of ${subject} does not match it: the profile was edited (or moved from another version) after it was stored` });
}

/** profileRecordCheck's refusal, or undefined when the profile is vouched for. */
export function profileRecordProblem(keys: VerificationKeys, owner: ProfileOwner, storedText: string, signature: RowSignature | undefined): string | undefined {
  return profileRecordCheck(keys, owner, storedText, signature).problem;
}
