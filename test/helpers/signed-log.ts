import type { RowSigning } from '../../lib/registry/row-signature';
import { logRowSignatureColumns, type LogRowValues } from '../../lib/serving/prediction-log-signature';

/**
 * A prediction_log row as the API's log writer stores it under `signing`: logged at `loggedAt` (µs
 * since the epoch; default now), which the signature covers with every other column.
 */
export function signedLogRow<R extends LogRowValues>(signing: RowSigning, r: R, loggedAt: number = Date.now() * 1000): R & { logged_at: number; signature: string | null; signature_key_id: string | null } {
  return { ...r, logged_at: loggedAt, ...logRowSignatureColumns(signing, { ...r, logged_at: loggedAt }) };
}
