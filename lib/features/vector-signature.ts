/**
 * Binding an online feature vector (features:latest:<set>:<symbol> in Redis) to its writer. With the
 * deployment's signing key (MODEL_SIGNING_KEY), every writer of the online store (the features step,
 * the stream consumer, the API's re-warm: lib/features/online-features.ts) ends each stored vector
 * with an HMAC by that key (the registry's: lib/registry/row-signature.ts hmacSha256Hex) over the
 * exact text before it: feature set, symbol, as-of date, column names, every value's digits (the
 * shortest decimal naming that double) and the withheld reason or its absence, i.e. everything the
 * prediction API reads from it. The reader recomputes it over the same bytes before it trusts what
 * it parsed from them, so a vector changed by hand (other values, a withheld reason removed or
 * added, another date) is refused however consistent the edit, by anyone without the key. Signing
 * the stored bytes, not a re-encoding of the parsed fields, keeps the check to one HMAC of the text
 * (4–9 µs for the 2.8 KB of 61 columns on a loaded 2-core machine) and leaves no encoding to keep in step between writer and reader.
 *
 * Stored form: the vector's JSON object with a last member "signature":{"keyId":"<8 hex>","mac":"<64
 * hex>"}; the MAC covers ONLINE_VECTOR_SCHEME, a line break, and the text with that member removed.
 *
 * Not covered: which of the signed vectors of a key is stored. A signed older vector of the same
 * symbol written back over a newer one is accepted; its as-of date (signed) says how old it is, and
 * the API's freshness check answers for it as for any late vector.
 */
import { BadInputError } from '../errors';
import { checkMac, currentKeyId, heldKeyMismatch, hmacSha256Hex, signedWithAnotherKey, signingKeyId, verificationKeysOf, type RowSigning, type VerificationKeys } from '../registry/row-signature';
import { describeRefusedDates, RefusalGroups, refusalProblemText, signatureState, strippedAsEdited, type RefusedGroup, type SignatureProblem, type SignatureState } from '../registry/signature-refusals';

/** Names the signed text's form; part of it, and unlike the registry's schemes, so no MAC is valid as another's. */
export const ONLINE_VECTOR_SCHEME = 'mlp-online-vector-v1';

const SIGNATURE_MEMBER = /^,"signature":\{"keyId":"([0-9a-f]{8})","mac":"([0-9a-f]{64})"\}\}$/;
/** Length of the signature member and the closing brace: a key id is always 8 hex digits, a MAC 64. */
const SIGNATURE_TAIL = ',"signature":{"keyId":"","mac":""}}'.length + 8 + 64;

function vectorMac(key: string, unsignedText: string): string {
  return hmacSha256Hex(key, `${ONLINE_VECTOR_SCHEME}\n${unsignedText}`);
}

/** The stored text of a vector whose unsigned JSON is `unsignedText` (an object: it ends with `}`): the same with its signature by `key` as last member. */
export function signVectorText(key: string, unsignedText: string): string {
  return `${unsignedText.slice(0, -1)},"signature":{"keyId":"${signingKeyId(key)}","mac":"${vectorMac(key, unsignedText)}"}}`;
}

/** Why a stored vector's signature does not vouch for it (the refusal metric's label and the sentence). */
export interface VectorSignatureProblem {
  problem: 'unsigned' | 'bad_signature';
  detail: string;
}

/**
 * Why the stored text `raw` does not carry the signature one of `keys` gives it (the current key or a
 * previous one: checkMac), or undefined when it does. `signature`: the stored vector's `signature`
 * member as parsed (absent: unsigned). `onPreviousKey`: told the key id when only a previous key
 * vouches for it (accepted; its writers sign it with the current key when they next write it).
 */
export function vectorSignatureProblem(keys: VerificationKeys, raw: string, signature: unknown, onPreviousKey?: (keyId: string) => void): VectorSignatureProblem | undefined {
  if (signature === undefined) {
    return {
      problem: 'unsigned',
      detail: 'it carries no signature (unsigned: written before signing or by hand, or by a process without MODEL_SIGNING_KEY); the features step or the stream consumer writes it again signed on its next run',
    };
  }
  const tail = raw.length > SIGNATURE_TAIL ? SIGNATURE_MEMBER.exec(raw.slice(-SIGNATURE_TAIL)) : null;
  const edited = 'its signature does not match it: its values, date, columns or withheld reason were changed after it was written';
  // Anything but the member a writer appends (moved, reformatted, another shape) is not its signature.
  if (!tail) {
    const keyId = typeof (signature as { keyId?: unknown } | null)?.keyId === 'string' ? String((signature as { keyId: string }).keyId).slice(0, 16) : '?';
    return { problem: 'bad_signature', detail: `${edited} (its signature member, key id ${JSON.stringify(keyId)}, is not the one its writers append)` };
  }
  const unsignedText = `${raw.slice(0, -SIGNATURE_TAIL)}}`;
  const verdict = checkMac(keys, { keyId: tail[1], mac: tail[2] }, (key) => vectorMac(key, unsignedText));
  if (verdict.state === 'valid') {
    if (verdict.previous) onPreviousKey?.(verdict.keyId);
    return undefined;
  }
  return badSignature(verdict, keys, edited);
}

/** The refusal of a signature checkMac did not find valid: `edited` for a held key's mismatch, else another key's. */
function badSignature(verdict: Exclude<ReturnType<typeof checkMac>, { state: 'valid' }>, keys: VerificationKeys, edited: string): VectorSignatureProblem {
  return { problem: 'bad_signature', detail: verdict.state === 'mismatch' ? `${edited} ${heldKeyMismatch(verdict.keyId)}` : `it is ${signedWithAnotherKey(verdict.keyId, keys)}` };
}

/**
 * Binding an offline feature row (feature_rows: feature set, symbol, date, packed values) to its
 * writer. The prediction API answers from the offline store's newest row when a symbol's online
 * vector is missing or refused, and its re-warm publishes those rows signed: unsigned, a row edited
 * in the database (-9,9,-9,9,-9 written over an honest row) was served and then re-signed into Redis.
 * With the key, every writer of feature_rows (lib/store/features.ts) stores beside each row an HMAC
 * over FEATURE_ROW_SCHEME, its identity as JSON ([version, symbol, date]) and its packed values
 * (the stored bytes, so no encoding has to match between writer and reader), and every read that
 * computes from stored rows checks it: serving (lib/features/online-features.ts), and through
 * FeatureRowVerifier the dataset build, the drift monitor's live window and the features step
 * (lib/store/features.ts readFeatureRowBytes; materialize.ts repairs what fails). One HMAC of
 * ~0.5 KB a row, in the pass that reads the bytes: 16–21 µs a row with its two signature columns
 * (470,000 rows of 61 columns from SQLite on a 2-core machine at load 8: +7.7–10 s on a 6.4–9.2 s read).
 */
export const FEATURE_ROW_SCHEME = 'mlp-feature-row-v1';

/** The identity of a stored feature row and its packed values (packValues' bytes). */
export interface SignedFeatureRow {
  version: string;
  symbol: string;
  date: string;
  vals: Uint8Array;
}

function featureRowMac(key: string, row: SignedFeatureRow): string {
  return hmacSha256Hex(key, `${FEATURE_ROW_SCHEME}\n${JSON.stringify([row.version, row.symbol, row.date])}\n`, row.vals);
}

/** The signature `key` gives the stored row (feature_rows.signature, signature_key_id). */
export function signFeatureRow(key: string, row: SignedFeatureRow): { signature: string; signature_key_id: string } {
  return { signature: featureRowMac(key, row), signature_key_id: signingKeyId(key) };
}

/** A stored feature row refused by a read that computes from it: why, in a few words (grouped in the refusal). */
export type FeatureRowProblem = SignatureProblem;

/** A stored row as a verifying read takes it: identity, packed values and signature columns. */
export type StoredSignedFeatureRow = SignedFeatureRow & { signature: string | null; signature_key_id: string | null };

/**
 * The one check of a stored feature row, for serving and for every read that computes from rows:
 * valid under `keys` (by the current key or a previous one), or why not.
 */
export function featureRowSignatureState(keys: VerificationKeys, row: StoredSignedFeatureRow): SignatureState {
  return signatureState(keys, row.signature, row.signature_key_id, (key) => featureRowMac(key, row));
}

/**
 * featureRowSignatureState in serving's terms (its refusal metric's labels, as for an online vector)
 * with the sentence, or undefined when the row is vouched for. `onPreviousKey`: told the key id when
 * only a previous key vouches for it (served; `mlp features recompute` signs it with the current key).
 */
export function featureRowSignatureProblem(keys: VerificationKeys, row: StoredSignedFeatureRow, onPreviousKey?: (keyId: string) => void): VectorSignatureProblem | undefined {
  const state = featureRowSignatureState(keys, row);
  if (state.ok) {
    if (state.previous) onPreviousKey?.(String(row.signature_key_id));
    return undefined;
  }
  if (state.problem === 'unsigned') {
    return {
      problem: 'unsigned',
      detail: 'it carries no signature (unsigned: written before signing, by a process without MODEL_SIGNING_KEY, or edited with its signature removed); `mlp features recompute` writes every row of the feature set again, signed',
    };
  }
  const edited = 'its signature does not match it: its values were changed after it was written (or it was moved from another symbol, date or feature set)';
  return { problem: 'bad_signature', detail: state.problem === 'edited' ? `${edited} ${heldKeyMismatch(state.keyId ?? '?')}` : `it is ${signedWithAnotherKey(state.keyId ?? '?', keys)}` };
}

/** Refused rows of one symbol with one problem, dates ascending (an `edited` one without key id: its signature was removed). */
export type RefusedFeatureRows = RefusedGroup;

/**
 * Stored feature rows a read computes from (a training dataset, the drift monitor's live window)
 * that no held key vouches for: edited in the database since the features step wrote them (values
 * changed, or the signature removed from a row dated after a signed one), unsigned (written before
 * signing or by a process without the key), or signed with a key this process does not hold.
 * Nothing is computed from them: a model trained on a forged row would be registered validly
 * signed, and a drift verdict from forged rows raises or silences an alert. Retrying cannot help,
 * so it is a BadInputError.
 */
export class UnverifiedFeatureRowsError extends BadInputError {
  override name = 'UnverifiedFeatureRowsError';
  /** The id of the key the rows were checked with (the key itself is not kept: an error is logged whole). */
  readonly keyId: string;
  constructor(
    readonly version: string,
    keys: VerificationKeys,
    readonly refused: readonly RefusedFeatureRows[],
  ) {
    super(unverifiedRowsMessage(version, keys, refused), 'FEATURE_ROWS_UNVERIFIED');
    this.keyId = currentKeyId(keys);
  }

  get rows(): number {
    return this.refused.reduce((n, g) => n + g.dates.length, 0);
  }
}

function unverifiedRowsMessage(version: string, keys: VerificationKeys, refused: readonly RefusedFeatureRows[]): string {
  const total = refused.reduce((n, g) => n + g.dates.length, 0);
  const groups = refused.map((g) => `${describeRefusedDates(g.symbol, g.dates, 'rows')}: ${refusalProblemText(g, keys)}`);
  const remedies: string[] = [];
  if (refused.some((g) => g.problem === 'other_key')) remedies.push('during a key rotation give this process the old key in MODEL_SIGNING_PREVIOUS_KEYS (docs/operations.md)');
  remedies.push(
    `run \`mlp features recompute --version ${version}\` with the key (or wait for the next features step): it writes such rows again from the verified bars, signed (rowsRepaired), and deletes those no computation from the verified bars produces, naming them (rowsRemoved: a date without a bar, a symbol without bars); an edit nobody made on purpose is an incident: find who wrote feature_rows`,
  );
  const they = total === 1 ? 'it' : 'them';
  return `${total} stored feature ${total === 1 ? 'row' : 'rows'} of feature set ${version} ${total === 1 ? 'is' : 'are'} not vouched for by MODEL_SIGNING_KEY (key id ${currentKeyId(keys)}), so nothing is computed from ${they}: ${groups.join('; ')}. ${remedies.join('; ')}.`;
}

/**
 * Checks the stored rows a read takes, one HMAC each as the read goes, and collects those refused,
 * grouped by symbol and problem: a refusal names every bad row, not the first only. Unsigned rows
 * dated after a signed row of their symbol count as edited (refused(firstSigned)).
 */
export class FeatureRowVerifier {
  private readonly groups = new RefusalGroups();
  /** Rows only a previous key vouches for (accepted: a rotation in progress). */
  previousKey = 0;
  constructor(
    readonly version: string,
    private readonly keys: { signingKey: string; previousKeys: readonly string[] },
  ) {}

  /** Whether the row is vouched for; a refused one is recorded. */
  check(row: StoredSignedFeatureRow): boolean {
    const state = featureRowSignatureState(this.keys, row);
    if (state.ok) {
      if (state.previous) this.previousKey++;
      return true;
    }
    this.groups.add(row.symbol, row.date, state);
    return false;
  }

  /** Whether any row checked was refused. */
  get refusing(): boolean {
    return this.groups.size > 0;
  }

  /** Unsigned symbols among the refused: those whose first signed row decides refused(firstSigned). */
  unsignedSymbols(): string[] {
    return [...new Set(this.groups.refused().filter((g) => g.problem === 'unsigned').map((g) => g.symbol))];
  }

  /** The refused rows so far, by symbol, dates ascending; `firstSigned`: each symbol's earliest signed row (strippedAsEdited). */
  refused(firstSigned: ReadonlyMap<string, string> = new Map()): RefusedFeatureRows[] {
    return strippedAsEdited(this.groups.refused(), firstSigned);
  }

  /** The refusal of the rows refused (none: undefined). */
  refusal(firstSigned?: ReadonlyMap<string, string>): UnverifiedFeatureRowsError | undefined {
    return this.refusing ? new UnverifiedFeatureRowsError(this.version, this.keys, this.refused(firstSigned)) : undefined;
  }
}

/** A verifier of `version`'s rows with `signing`'s keys, or undefined without a key (nothing is checked). */
export function featureRowVerifierOf(version: string, signing: RowSigning | undefined): FeatureRowVerifier | undefined {
  const keys = verificationKeysOf(signing);
  return keys === undefined ? undefined : new FeatureRowVerifier(version, keys);
}
