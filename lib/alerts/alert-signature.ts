/**
 * Signatures of alert rows (MODEL_SIGNING_KEY). An alert row decides whether a later alert of its
 * rule and subject is told at all (the cool-down), so a row written by SQL (an "acknowledged" alert
 * dated now, re-inserted every few hours) silenced the alert of a condition that still held: a
 * replay of older signed serving routes, found by monitoring, raised nothing and delivered nothing.
 *
 * With the key, raiseAlert signs every row it writes: an HMAC by the key (the MAC and key ids of
 * lib/registry/row-signature.ts, checked by checkMac against the current key and
 * MODEL_SIGNING_PREVIOUS_KEYS) over the fields fixed when it is raised: id, rule, severity, subject,
 * message, evidence (as stored) and creation time, under a scheme name of its own. The
 * acknowledgement (status, acked_by, acked_at) is not covered: people acknowledge alerts, and an
 * acknowledged row still cools its rule down (docs/alerts-and-runbook.md).
 *
 * A signature proves a key holder raised the row then, not that its condition is over: a signed row
 * still suppresses for its cool-down, as any honest row does.
 */
import { canonicalEncoding, checkMac, hmacSha256Hex, signingKeyId, type RowSignature, type VerificationKeys } from '../registry/row-signature';
import { storedSignatureOf } from '../registry/serving-record-signature';
import type { AlertsTable } from '../store/schema';

export const ALERT_RECORD_SCHEME = 'mlp-alert-v1';

/** The columns of an alert row its signature covers, as stored (evidence: the stored text, serialiseEvidence, signed as it is). */
export type SignedAlertFields = Pick<AlertsTable, 'id' | 'rule' | 'severity' | 'subject' | 'message' | 'evidence' | 'created_at'>;

export function signedAlertText(a: SignedAlertFields): string {
  const covered = { id: a.id, rule: a.rule, severity: a.severity, subject: a.subject, message: a.message, evidence: a.evidence, createdAt: a.created_at };
  return `${ALERT_RECORD_SCHEME}\n${canonicalEncoding(covered)}`;
}

export function signAlertRecord(key: string, a: SignedAlertFields): RowSignature {
  return { keyId: signingKeyId(key), mac: hmacSha256Hex(key, signedAlertText(a)) };
}

/** The signature columns of a row raised by a process holding `signingKey` (nulls without a key). */
export function alertSignatureColumns(signingKey: string | undefined, a: SignedAlertFields): { signature: string | null; signature_key_id: string | null } {
  if (signingKey === undefined) return { signature: null, signature_key_id: null };
  const s = signAlertRecord(signingKey, a);
  return { signature: s.mac, signature_key_id: s.keyId };
}

/**
 * Whether a held key (the current one or a previous one of a rotation) raised this row as it stands.
 * A row without a signature (written by SQL, by a process without the key, or before alerts were
 * signed), edited since (another time, subject, rule or severity), or another key's is not.
 */
export function alertRowVouched(keys: VerificationKeys, row: SignedAlertFields & { signature?: string | null; signature_key_id?: string | null }): boolean {
  const signature = storedSignatureOf(row);
  if (!signature) return false;
  const text = signedAlertText(row);
  return checkMac(keys, signature, (key) => hmacSha256Hex(key, text)).state === 'valid';
}
