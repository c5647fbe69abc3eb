/**
 * Binding a prediction_log row to the API that wrote it. The log supplies the predicted class, the
 * probability, served, error and latency to every verdict on a rollout (the canary's hit rate,
 * serving guards and score shift, the A/B report) and to live monitoring; everything else those
 * verdicts read is signed, yet `update prediction_log set predicted_class = 1 - predicted_class`
 * turned a passing canary into a failing one and an A/B report into "stop-winner champion".
 *
 * With MODEL_SIGNING_KEY the log writer (lib/serving/prediction-log.ts) stores beside each row an
 * HMAC by the key of the store handle (openDatabase's `signing`) over PREDICTION_LOG_SCHEME and every
 * column it writes but logged_at (LOG_SIGNED_COLUMNS, in that order, as JSON: numbers in their shortest
 * round-trip form, which both drivers read back exactly). The readers that judge from the log (the
 * analysis totals: lib/deployment/log-aggregates.ts; live monitoring: lib/monitoring/live-predictions.ts)
 * check every row they count and leave out one no held key vouches for, reporting how many and
 * which (LogRowsRefusal); a verdict over a window that holds one is inconclusive.
 *
 * Not covered: a row deleted by hand (a deletion leaves nothing to check), and logged_at (the
 * database's clock, set by the INSERT; it only orders folding). Without a key nothing is signed or
 * checked.
 */
import type { Kysely, Transaction } from 'kysely';
import { currentKeyId, hmacSha256Hex, signingKeyId, verificationKeysOf, type RowSigning, type VerificationKeys } from '../registry/row-signature';
import { describeRefusedDates, RefusalGroups, refusalProblemText, signatureState, strippedAsEdited, type RefusedGroup, type SignatureProblem, type SignatureState } from '../registry/signature-refusals';
import type { DatabaseSchema, PredictionLogTable } from '../store/schema';
import { LOG_SIGNED_COLUMNS } from './prediction-log-wire';

/** Names the signed text's form; part of it and unlike every other record's, so no MAC is valid as another's. */
export const PREDICTION_LOG_SCHEME = 'mlp-prediction-log-v1';

/** The signed columns of a row, as written or as read back (drivers may hand back numbers as strings). */
export type LogRowValues = Pick<PredictionLogTable, (typeof LOG_SIGNED_COLUMNS)[number]>;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * A row's signed values as JSON, in LOG_SIGNED_COLUMNS' order: the text the MAC covers (after the
 * scheme line), and the text the log writer queues for its SQLite thread, which signs it as it is.
 * JSON never holds a raw newline, so a batch of them crosses to the thread newline-separated.
 */
export function logRowValuesText(r: LogRowValues): string {
  return JSON.stringify([r.id, r.request_id, r.model, num(r.version), r.variant, num(r.served), r.symbol, r.routing_key, r.as_of, num(r.probability), num(r.predicted_class), num(r.latency_us), r.error ?? null, r.created_at]);
}

function macOfValuesText(key: string, valuesText: string): string {
  return hmacSha256Hex(key, `${PREDICTION_LOG_SCHEME}\n${valuesText}`);
}

function logRowMac(key: string, r: LogRowValues): string {
  return macOfValuesText(key, logRowValuesText(r));
}

/**
 * A row of the SQLite thread's batch (LOG_THREAD_COLUMNS' values as JSON) from its signed values'
 * text (logRowValuesText): the signature and key id appended, nulls without a key.
 */
export function signedLogThreadRow(signingKey: string | undefined, valuesText: string): string {
  const tail = signingKey === undefined ? 'null,null' : `${JSON.stringify(macOfValuesText(signingKey, valuesText))},${JSON.stringify(signingKeyId(signingKey))}`;
  return `${valuesText.slice(0, -1)},${tail}]`;
}

/** The signature columns of a row written by a handle with `signing`: nulls without a key. */
export function logRowSignatureColumns(signing: RowSigning | undefined, r: LogRowValues): { signature: string | null; signature_key_id: string | null } {
  const key = signing?.signingKey;
  return key === undefined ? { signature: null, signature_key_id: null } : { signature: logRowMac(key, r), signature_key_id: signingKeyId(key) };
}

export type StoredLogRow = LogRowValues & { signature: string | null; signature_key_id: string | null };

/** What a stored row's signature is under `keys`: valid (by the current key or a previous one), or why not. */
export function logRowSignatureState(keys: VerificationKeys, r: StoredLogRow): SignatureState {
  return signatureState(keys, r.signature, r.signature_key_id, (key) => logRowMac(key, r));
}

/** The columns a check reads: the signed ones, the signature, and logged_at (where folding may stop). */
export const CHECKED_LOG_COLUMNS = [...LOG_SIGNED_COLUMNS, 'signature', 'signature_key_id', 'logged_at'] as const;

/** What a verdict computed from the log reports when rows were left out: how many, which, why. */
export interface RefusedLogRowsSummary {
  rows: number;
  /** The first 20 symbols. */
  symbols: string[];
  problems: SignatureProblem[];
  /** A few of the refused rows' ids. */
  examples: string[];
  reason: string;
}

const EXAMPLES = 5;

/**
 * Collects the rows a read refuses, grouped by symbol and problem (their created_at times named),
 * and makes one summary of them once the read is done.
 */
export class LogRowVerifier {
  private readonly groups = new RefusalGroups();
  private readonly ids: string[] = [];
  /** The earliest logged_at of a refused row (folding stops before it). */
  firstRefusedLoggedAt: number | undefined;

  constructor(readonly keys: VerificationKeys) {}

  /** Whether the row is vouched for; a refused one is recorded. */
  check(r: StoredLogRow & { logged_at?: number | null }): boolean {
    const state = logRowSignatureState(this.keys, r);
    if (state.ok) return true;
    this.groups.add(r.symbol, r.created_at, state);
    this.ids.push(r.id);
    const at = num(r.logged_at);
    if (at !== null && (this.firstRefusedLoggedAt === undefined || at < this.firstRefusedLoggedAt)) this.firstRefusedLoggedAt = at;
    return false;
  }

  /** The ids of the rows refused so far. */
  get refusedIds(): readonly string[] {
    return this.ids;
  }

  /**
   * The summary of the rows refused so far (undefined: none). An unsigned row of `model` created at
   * or after its earliest signed row counts as edited: only a hand clears a signature, and clearing
   * it with the values made an edit read as a row from before signing (a warning, not critical).
   */
  async summary(db: Kysely<DatabaseSchema> | Transaction<DatabaseSchema>, model: string): Promise<RefusedLogRowsSummary | undefined> {
    if (this.ids.length === 0) return undefined;
    let refused = this.groups.refused();
    if (refused.some((g) => g.problem === 'unsigned')) {
      const first = await db.selectFrom('prediction_log').select((eb) => eb.fn.min('created_at').as('first')).where('model', '=', model).where('signature', 'is not', null).executeTakeFirst();
      // One model's log: its earliest signed row dates every symbol's rows; a row logged in that same instant counts too.
      if (first?.first !== null && first?.first !== undefined) refused = strippedAsEdited(refused, new Map(refused.map((g) => [g.symbol, String(first.first)])), true);
    }
    return logRowsSummary(this.keys, refused, [...this.ids].sort().slice(0, EXAMPLES));
  }
}

function logRowsSummary(keys: VerificationKeys, refused: readonly RefusedGroup[], examples: string[]): RefusedLogRowsSummary {
  const total = refused.reduce((n, g) => n + g.dates.length, 0);
  const groups = refused.map((g) => `${describeRefusedDates(g.symbol, g.dates, 'rows created')}: ${refusalProblemText(g, keys)}`);
  const remedies: string[] = [];
  if (refused.some((g) => g.problem === 'edited')) remedies.push('their predictions, scores, errors or latencies were changed after the API logged them (or, unsigned, they were logged by an API process of a release before the signed log during an upgrade): find who wrote them; a verdict over a window that holds them stays inconclusive (delete them to judge on the rest, or let the window pass them)');
  if (refused.some((g) => g.problem === 'unsigned')) remedies.push('rows logged before signing was configured, or by an API process without MODEL_SIGNING_KEY or of a release before the signed log: give every API process the key and upgrade them all together (an old process\'s rows created after the first signed row read as edited); windows that start after them are judged');
  if (refused.some((g) => g.problem === 'other_key')) remedies.push('during a key rotation give this process the old key in MODEL_SIGNING_PREVIOUS_KEYS (docs/operations.md)');
  return {
    rows: total,
    symbols: [...new Set(refused.map((g) => g.symbol))].slice(0, 20),
    problems: [...new Set(refused.map((g) => g.problem))].sort(),
    examples,
    reason: `${total} prediction_log ${total === 1 ? 'row is' : 'rows are'} not vouched for by MODEL_SIGNING_KEY (key id ${currentKeyId(keys)}), so nothing is counted from ${total === 1 ? 'it' : 'them'} (ids ${examples.join(', ')}${total > examples.length ? ', …' : ''}): ${groups.join('; ')}. ${remedies.join('; ')}.`,
  };
}

/** A verifier for `signing`'s keys, or undefined without a key (nothing is checked). */
export function logRowVerifierOf(signing: RowSigning | undefined): LogRowVerifier | undefined {
  const keys = verificationKeysOf(signing);
  return keys === undefined ? undefined : new LogRowVerifier(keys);
}
