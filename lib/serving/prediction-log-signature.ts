/**
 * Binding a prediction_log row to the API that wrote it. The log supplies the predicted class, the
 * probability, served, error and latency to every verdict on a rollout (the canary's hit rate,
 * serving guards and score shift, the A/B report) and to live monitoring; everything else those
 * verdicts read is signed, yet `update prediction_log set predicted_class = 1 - predicted_class`
 * turned a passing canary into a failing one and an A/B report into "stop-winner champion".
 *
 * With MODEL_SIGNING_KEY the log writer (lib/serving/prediction-log.ts) stores beside each row an
 * HMAC by the key of the store handle (openDatabase's `signing`) over PREDICTION_LOG_SCHEME, every
 * column it writes (LOG_SIGNED_COLUMNS, in that order, as JSON: numbers in their shortest round-trip
 * form, which both drivers read back exactly) and logged_at. The readers that judge from the log (the
 * analysis totals: lib/deployment/log-aggregates.ts; live monitoring: lib/monitoring/live-predictions.ts)
 * check every row of their window before deciding which rows count (a row made to look failed or
 * unscored is an edit like any other) and leave out one no held key vouches for, reporting how many
 * and which (LogRowsRefusal); a verdict over a window that holds one is inconclusive.
 *
 * logged_at is signed because the analyses fold the log into stored totals by it: moving the
 * logged_at of rows already folded to after the stream's watermark counted them a second time
 * (a canary's 63 requests read as 105). The writer reads the database's clock once per batch and
 * signs that value with every row of the batch (one value a batch, monotonic per writer, as the fold's
 * settle lag needs). Signing it, rather than making the folds remember which rows they counted, costs
 * nothing per row at read time and makes such an edit a refused row like every other, named in the
 * verdict; remembering ids would grow with the log and would leave the edit unreported.
 *
 * Rows of the earlier form (LEGACY_PREDICTION_LOG_SCHEME: every column but logged_at, written before
 * this release) still verify. Their logged_at is not vouched for, so a read in logged_at order
 * (log-aggregates.ts) refuses, as edited, one logged at or after a row of the current form: the
 * first its range holds, or the first its analysis stream has folded (current_form_from, signed with
 * the stream's totals). No writer of the earlier release logs after one of this release has (every
 * API process is upgraded together, docs/serving-and-deployment.md).
 *
 * A row whose logged_at is set to null is in no fold's range: the analyses read such rows of their
 * window apart, and refuse them (the MAC covers logged_at; an earlier-form row has no place in
 * logged_at order). Not covered: a row deleted by hand (a deletion leaves nothing to check), and its like, a row whose
 * logged_at is moved back behind a watermark before it was folded (it leaves the unfolded tail as a
 * deleted one would), or whose model, version or created_at is edited out of a read's window; and
 * an earlier-form row moved past the watermark of a stream that has folded no current-form row yet
 * and ahead of every current-form row of its tail (a window whose rows all predate the upgrade, or
 * the folds right after it). Without a key nothing is signed or checked.
 */
import type { Kysely, Transaction } from 'kysely';
import { currentKeyId, hmacSha256Hex, signingKeyId, verificationKeysOf, type RowSigning, type VerificationKeys } from '../registry/row-signature';
import { describeRefusedDates, RefusalGroups, refusalProblemText, signatureState, strippedAsEdited, type RefusedGroup, type SignatureProblem, type SignatureState } from '../registry/signature-refusals';
import type { DatabaseSchema, PredictionLogTable } from '../store/schema';
import { LOG_SIGNED_COLUMNS } from './prediction-log-wire';

/** Names the signed text's form; part of it and unlike every other record's, so no MAC is valid as another's. */
export const PREDICTION_LOG_SCHEME = 'mlp-prediction-log-v2';
/** The form of the release before logged_at was signed: every column of LOG_SIGNED_COLUMNS but not logged_at. Verified, never written. */
export const LEGACY_PREDICTION_LOG_SCHEME = 'mlp-prediction-log-v1';

/** The signed columns of a row, as written or as read back (drivers may hand back numbers as strings). */
export type LogRowValues = Pick<PredictionLogTable, (typeof LOG_SIGNED_COLUMNS)[number]>;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * A row's signed values as JSON, in LOG_SIGNED_COLUMNS' order: the text the MAC covers (after the
 * scheme line, before logged_at), and the text the log writer queues for its SQLite thread, which signs it as it is.
 * JSON never holds a raw newline, so a batch of them crosses to the thread newline-separated.
 */
export function logRowValuesText(r: LogRowValues): string {
  return JSON.stringify([r.id, r.request_id, r.model, num(r.version), r.variant, num(r.served), r.symbol, r.routing_key, r.as_of, num(r.probability), num(r.predicted_class), num(r.latency_us), r.error ?? null, r.created_at]);
}

/** The MAC of a row's values text with its logged_at (µs since the epoch, the writer's batch clock). */
function macOfValuesText(key: string, valuesText: string, loggedAt: number | null): string {
  return hmacSha256Hex(key, `${PREDICTION_LOG_SCHEME}\n${valuesText}\n${String(loggedAt)}`);
}

function legacyMacOfValuesText(key: string, valuesText: string): string {
  return hmacSha256Hex(key, `${LEGACY_PREDICTION_LOG_SCHEME}\n${valuesText}`);
}

/**
 * A row of the SQLite thread's batch (LOG_THREAD_COLUMNS' values as JSON) from its signed values'
 * text (logRowValuesText) and its batch's logged_at: the signature and key id appended, nulls without a key.
 */
export function signedLogThreadRow(signingKey: string | undefined, valuesText: string, loggedAt: number): string {
  const tail = signingKey === undefined ? 'null,null' : `${JSON.stringify(macOfValuesText(signingKey, valuesText, loggedAt))},${JSON.stringify(signingKeyId(signingKey))}`;
  return `${valuesText.slice(0, -1)},${tail}]`;
}

/** The signature columns of a row written by a handle with `signing` at `logged_at`: nulls without a key. */
export function logRowSignatureColumns(signing: RowSigning | undefined, r: LogRowValues & { logged_at: number }): { signature: string | null; signature_key_id: string | null } {
  const key = signing?.signingKey;
  return key === undefined ? { signature: null, signature_key_id: null } : { signature: macOfValuesText(key, logRowValuesText(r), r.logged_at), signature_key_id: signingKeyId(key) };
}

export type StoredLogRow = LogRowValues & { signature: string | null; signature_key_id: string | null; logged_at: number | null };

/** A row's signature state; `legacy`: valid in the earlier form, whose MAC does not cover logged_at. */
export type LogRowSignatureState = SignatureState & { legacy?: true };

/**
 * What a stored row's signature is under `keys`: valid (by the current key or a previous one, in the
 * current form or the earlier one), or why not. A MAC of the current form never verifies as the
 * earlier form's (the scheme line differs), so an edit of logged_at cannot pass as an earlier-form row.
 */
export function logRowSignatureState(keys: VerificationKeys, r: StoredLogRow): LogRowSignatureState {
  const text = logRowValuesText(r);
  const state = signatureState(keys, r.signature, r.signature_key_id, (key) => macOfValuesText(key, text, num(r.logged_at)));
  if (state.ok || state.problem !== 'edited') return state;
  const legacy = signatureState(keys, r.signature, r.signature_key_id, (key) => legacyMacOfValuesText(key, text));
  return legacy.ok ? { ...legacy, legacy: true } : state;
}

/** The columns a check reads: the signed ones (logged_at among them: where folding may stop), and the signature. */
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

  /**
   * The logged_at of the first current-form row met, or before the rows checked (a stream's, folded
   * earlier): checkInLoggedOrder refuses an earlier-form row at or after it.
   */
  currentFormFrom: number | undefined;
  /** Earlier-form rows checkInLoggedOrder passed at the last instant it met, before any current-form row. */
  private legacyAtLast: { at: number; rows: StoredLogRow[] } | undefined;

  constructor(
    readonly keys: VerificationKeys,
    currentFormFrom?: number,
  ) {
    this.currentFormFrom = currentFormFrom;
  }

  /** Whether the row is vouched for; a refused one is recorded. */
  check(r: StoredLogRow): boolean {
    const state = logRowSignatureState(this.keys, r);
    if (state.ok) return true;
    this.refuse(r, state);
    return false;
  }

  /**
   * check, for rows read in logged_at order (log-aggregates.ts), where logged_at decides what is
   * folded: an earlier-form row (its logged_at not signed) at or after the first current-form row
   * met (or currentFormFrom given) is refused as edited, as no writer of the earlier release logs
   * after one of this release has. One at the same instant as that row but read before it (ids
   * break the tie) is refused too.
   * Read refusedIds once every row is checked.
   */
  checkInLoggedOrder(r: StoredLogRow): void {
    const state = logRowSignatureState(this.keys, r);
    if (!state.ok) return this.refuse(r, state);
    const at = num(r.logged_at);
    if (state.legacy !== true) {
      if (this.currentFormFrom !== undefined || at === null) return;
      this.currentFormFrom = at;
      if (this.legacyAtLast?.at === at) for (const l of this.legacyAtLast.rows) this.refuseMoved(l);
      this.legacyAtLast = undefined;
      return;
    }
    if (this.currentFormFrom !== undefined || at === null) return this.refuseMoved(r);
    if (this.legacyAtLast?.at !== at) this.legacyAtLast = { at, rows: [] };
    this.legacyAtLast.rows.push(r);
  }

  private refuseMoved(r: StoredLogRow): void {
    this.refuse(r, { problem: 'edited', keyId: String(r.signature_key_id ?? '?').slice(0, 16) });
  }

  private refuse(r: StoredLogRow, state: { problem: SignatureProblem; keyId?: string }): void {
    this.groups.add(r.symbol, r.created_at, state);
    this.ids.push(r.id);
    const at = num(r.logged_at);
    if (at !== null && (this.firstRefusedLoggedAt === undefined || at < this.firstRefusedLoggedAt)) this.firstRefusedLoggedAt = at;
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
  if (refused.some((g) => g.problem === 'edited')) remedies.push('their predictions, scores, errors, latencies or logging times (logged_at) were changed after the API logged them (or, unsigned, they were logged by an API process of a release before the signed log during an upgrade): find who wrote them; a verdict over a window that holds them stays inconclusive (delete them to judge on the rest, or let the window pass them)');
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
