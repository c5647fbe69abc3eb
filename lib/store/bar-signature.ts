/**
 * Binding a stored bar (bars: symbol, date, open, high, low, close, volume) to the deployment's
 * signing key. Feature rows, online vectors and registry rows are signed, but they are computed from
 * `bars`: an SQL UPDATE of a few closes (no import, no revision logged) was laundered by the next
 * day-only import into a validly signed feature row, served as verified, and `mlp features
 * recompute` re-signed history from it. With MODEL_SIGNING_KEY every writer of bars (upsertBars, an
 * import's publish, the live-bar store) stores beside each bar an HMAC by the key of the store handle
 * (openDatabase's `signing`) over BAR_SCHEME, the bar's identity and its five values, and the reads
 * that compute features or train (readBarSeries / readBars with `verify`: the features step, the
 * stream's windows, the dataset build) refuse, naming symbol and dates, a bar no held key vouches for.
 *
 * The values are signed as JavaScript reads them back, in their shortest round-trip decimal form
 * (String(n): 1.0 → "1", -0 → "0"): both drivers hand back the exact double written (SQLite's REAL,
 * MariaDB's double read by exactDoubles), so the text is the same wherever it is computed.
 *
 * Not covered: a bar deleted by hand (a deletion leaves nothing to check; a retraction is logged in
 * bar_revisions), and which signed version of a bar is stored (a signed older version written back
 * is accepted, as for an online vector). Without a key nothing is signed or checked.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { BadInputError } from '../errors';
import { currentKeyId, hmacSha256Hex, signingKeyId, verificationKeysOf, type RowSigning, type VerificationKeys } from '../registry/row-signature';
import { describeRefusedDates, RefusalGroups, refusalProblemText, signatureState, strippedAsEdited, type RefusedGroup, type SignatureProblem, type SignatureState } from '../registry/signature-refusals';
import type { Database } from './database';
import type { DatabaseSchema } from './schema';
import type { Bar } from '../market-data/bar';

/** Names the signed text's form; part of it and unlike every other record's, so no MAC is valid as another's. */
export const BAR_SCHEME = 'mlp-bar-v1';

/** The values of a bar as stored: the bar itself (lib/market-data/bar.ts). */
export type BarValues = Bar;

function barText(b: BarValues): string {
  return `${BAR_SCHEME}\n${JSON.stringify([b.symbol, b.date])}\n${String(b.open)},${String(b.high)},${String(b.low)},${String(b.close)},${String(b.volume)}`;
}

function barMac(key: string, b: BarValues): string {
  return hmacSha256Hex(key, barText(b));
}

/** The signature columns of a bar written by a handle with `signing`: nulls without a key. */
export function barSignatureColumns(signing: RowSigning | undefined, b: BarValues): { signature: string | null; signature_key_id: string | null } {
  const key = signing?.signingKey;
  return key === undefined ? { signature: null, signature_key_id: null } : { signature: barMac(key, b), signature_key_id: signingKeyId(key) };
}

/** A bar refused: why, in a few words (grouped in the refusal). */
export type BarProblem = SignatureProblem;

/** What a stored bar's signature is under `keys`: valid (by the current key or a previous one), or why not. */
export function barSignatureState(keys: VerificationKeys, b: BarValues & { signature: string | null; signature_key_id: string | null }): SignatureState {
  return signatureState(keys, b.signature, b.signature_key_id, (key) => barMac(key, b));
}

/**
 * Bars read for a computation (features, training, the stream's windows) that no held key vouches
 * for: edited in the database since they were written, unsigned (written before signing or by a
 * process without the key), or signed with a key this process does not hold. Nothing is computed
 * from them; retrying cannot help, so it is a BadInputError.
 */
export class UnverifiedBarsError extends BadInputError {
  override name = 'UnverifiedBarsError';
  constructor(
    readonly keys: VerificationKeys,
    /** Per symbol and problem, the refused dates, ascending. */
    readonly refused: readonly RefusedGroup[],
  ) {
    const total = refused.reduce((n, g) => n + g.dates.length, 0);
    const groups = refused.map((g) => `${describeRefusedDates(g.symbol, g.dates, 'bars')}: ${refusalProblemText(g, keys)}`);
    const remedies: string[] = [];
    if (refused.some((g) => g.problem === 'edited')) remedies.push('import those dates again from the source (an import rewrites a bar that differs from its file, signed), or find who wrote them');
    if (refused.some((g) => g.problem === 'unsigned')) remedies.push("for bars written before signing was configured, check them and sign them as they stand with `mlp data sign-bars --accept-unsigned` (it signs only bars dated before their symbol's first signed bar, and lists them; an unsigned bar inside a signed history had its signature removed: import its dates again)");
    if (refused.some((g) => g.problem === 'other_key')) remedies.push('during a key rotation give this process the old key in MODEL_SIGNING_PREVIOUS_KEYS (docs/operations.md)');
    super(
      `${total} stored ${total === 1 ? 'bar is' : 'bars are'} not vouched for by MODEL_SIGNING_KEY (key id ${currentKeyId(keys)}), so nothing is computed or signed from ${total === 1 ? 'it' : 'them'}: ${groups.join('; ')}. ${remedies.join('; ')}.`,
      'BARS_UNVERIFIED',
    );
  }
}

/**
 * What a verdict computed from bars reports when they were refused (the canary and A/B analyses,
 * live monitoring): how many, which symbols (the first 20), which problems, and the refusal's text.
 */
export interface RefusedBarsSummary {
  bars: number;
  symbols: string[];
  problems: SignatureProblem[];
  reason: string;
}

export function refusedBarsSummary(error: UnverifiedBarsError): RefusedBarsSummary {
  return {
    bars: error.refused.reduce((n, g) => n + g.dates.length, 0),
    symbols: [...new Set(error.refused.map((g) => g.symbol))].slice(0, 20),
    problems: [...new Set(error.refused.map((g) => g.problem))].sort(),
    reason: error.message,
  };
}

/**
 * Collects the bars a read refuses and throws them together (UnverifiedBarsError) once the read is
 * done: one refusal naming every bad bar, not the first only. An unsigned bar dated after a signed
 * bar of its symbol counts as edited (strippedAsEdited): only a hand clears a signature, and clearing
 * it with the values made an edit read as a bar from before signing.
 */
export class BarVerifier {
  private readonly groups = new RefusalGroups();
  constructor(readonly keys: VerificationKeys) {}

  /** Whether the bar is vouched for; a refused one is recorded. */
  check(b: BarValues & { signature: string | null; signature_key_id: string | null }): boolean {
    const state = barSignatureState(this.keys, b);
    if (!state.ok) this.groups.add(b.symbol, b.date, state);
    return state.ok;
  }

  get refusing(): boolean {
    return this.groups.size > 0;
  }

  /**
   * The refusal of the bars refused so far (undefined: none), unsigned ones inside a signed history
   * counted as edited; each symbol's first signed bar is looked up over its whole history in `db`
   * (a read of a window does not see the bars before it).
   */
  async refusal(db: Kysely<DatabaseSchema> | Transaction<DatabaseSchema>): Promise<UnverifiedBarsError | undefined> {
    if (!this.refusing) return undefined;
    const refused = this.groups.refused();
    const unsigned = [...new Set(refused.filter((g) => g.problem === 'unsigned').map((g) => g.symbol))];
    return new UnverifiedBarsError(this.keys, strippedAsEdited(refused, await firstSignedBars(db, unsigned)));
  }

  /** Throws the refusal (UnverifiedBarsError) when any bar checked was refused. */
  async done(db: Kysely<DatabaseSchema> | Transaction<DatabaseSchema>): Promise<void> {
    const refusal = await this.refusal(db);
    if (refusal) throw refusal;
  }
}

const SYMBOLS_PER_LOOKUP = 100;

/** Each of `symbols`' earliest stored bar that carries a signature (its date), for those that have one. */
async function firstSignedBars(db: Kysely<DatabaseSchema> | Transaction<DatabaseSchema>, symbols: readonly string[]): Promise<Map<string, string>> {
  const first = new Map<string, string>();
  for (let i = 0; i < symbols.length; i += SYMBOLS_PER_LOOKUP) {
    const rows = await db
      .selectFrom('bars')
      .select(['symbol', (eb) => eb.fn.min('date').as('first')])
      .where('symbol', 'in', symbols.slice(i, i + SYMBOLS_PER_LOOKUP))
      .where('signature', 'is not', null)
      .groupBy('symbol')
      .execute();
    for (const r of rows) first.set(r.symbol, String(r.first));
  }
  return first;
}

/** A verifier for `signing`'s keys, or undefined without a key (nothing is checked). */
export function barVerifierOf(signing: RowSigning | undefined): BarVerifier | undefined {
  const keys = verificationKeysOf(signing);
  return keys === undefined ? undefined : new BarVerifier(keys);
}

/**
 * The keys bars are checked with where features are computed: those of the step (`signing`: it
 * signs what it derives, so it never signs from bars its key does not vouch for), else the store
 * handle's (openDatabase's `signing`: the deployment's key as this process holds it).
 */
export function barChecking(store: Database, signing?: RowSigning): RowSigning | undefined {
  if (signing?.signingKey !== undefined) return signing;
  return store.signing?.signingKey !== undefined ? store.signing : undefined;
}

/** What `mlp data sign-bars` did. */
export interface SignBarsResult {
  examined: number;
  /** Bars whose signature was written: previousKey ones, and unsigned ones with acceptUnsigned. */
  signed: number;
  /** Bars without a signature (signed only with acceptUnsigned). */
  unsigned: number;
  /** Bars a previous key (MODEL_SIGNING_PREVIOUS_KEYS) signed: signed again with the current key. */
  previousKey: number;
  /** Bars whose signature does not match them (edited): never signed here; import them again. */
  mismatched: number;
  /** Bars signed with a key not held: never signed here. */
  otherKey: number;
  /** A few refused bars (mismatched or another key's), for the operator. */
  examples: string[];
  /**
   * Unsigned bars dated after a bar of their symbol that a held key signed: not signed even with
   * acceptUnsigned (a bar written before signing began predates every signed one; one inside a
   * signed history had its signature stripped, as an edit would).
   */
  strippedInside: number;
  /** What acceptUnsigned signed, per symbol: "AAPL 2013-02-08..2014-01-02 (230 bars)". */
  acceptedRanges: string[];
}

/** Symbols per transaction of signStoredBars: its bars are locked while they are signed. */
const SYMBOLS_PER_STEP = 20;
const ROWS_PER_STATEMENT = 1000;

/**
 * The upgrade step (`mlp data sign-bars`): signs with `signing`'s current key the stored bars a
 * previous key signed (a key rotation), and, with `acceptUnsigned`, those without a signature as they
 * stand (bars written before signing was configured: the operator accepts them as honest, as `mlp
 * models sign-serving --accept-edit` does for routes). A bar whose signature does not match it, or
 * names a key not held, is never signed here: it was edited, and importing its dates again from the
 * source writes it signed. Symbol by symbol, each in a transaction holding its bars (FOR UPDATE on
 * MariaDB; SQLite's write lock), so a bar written meanwhile is not signed with old values.
 */
export async function signStoredBars(store: Database, signing: RowSigning, options: { acceptUnsigned: boolean }): Promise<SignBarsResult> {
  const key = signing.signingKey;
  if (key === undefined) throw new BadInputError('MODEL_SIGNING_KEY is not set: there is no key to sign bars with');
  const keys = verificationKeysOf(signing) as VerificationKeys;
  const keyId = signingKeyId(key);
  const result: SignBarsResult = { examined: 0, signed: 0, unsigned: 0, previousKey: 0, mismatched: 0, otherKey: 0, examples: [], strippedInside: 0, acceptedRanges: [] };
  const symbols = (await store.db.selectFrom('bars').select('symbol').distinct().orderBy('symbol').execute()).map((r) => r.symbol);
  for (let i = 0; i < symbols.length; i += SYMBOLS_PER_STEP) {
    const batch = symbols.slice(i, i + SYMBOLS_PER_STEP);
    await store.db.transaction().execute(async (tx) => {
      let q = tx.selectFrom('bars').select(['symbol', 'date', 'open', 'high', 'low', 'close', 'volume', 'signature', 'signature_key_id']).where('symbol', 'in', batch);
      if (store.driver === 'mysql') q = q.forUpdate();
      const rows = await q.execute();
      const writes: Array<{ symbol: string; date: string; open: number; high: number; low: number; close: number; volume: number; signature: string; signature_key_id: string }> = [];
      const valueOf = (r: (typeof rows)[number]) => ({ symbol: r.symbol, date: r.date, open: Number(r.open), high: Number(r.high), low: Number(r.low), close: Number(r.close), volume: Number(r.volume) });
      const states = rows.map((r) => barSignatureState(keys, { ...valueOf(r), signature: r.signature, signature_key_id: r.signature_key_id }));
      // Each symbol's earliest bar a held key signed: unsigned bars after it are no pre-signing bars.
      const firstSigned = new Map<string, string>();
      rows.forEach((r, k) => {
        const first = firstSigned.get(r.symbol);
        if (states[k].ok && (first === undefined || r.date < first)) firstSigned.set(r.symbol, r.date);
      });
      const accepted = new Map<string, { from: string; to: string; count: number }>();
      rows.forEach((r, k) => {
        result.examined++;
        const b = valueOf(r);
        const state = states[k];
        let sign = false;
        if (state.ok) {
          if (!state.previous) return;
          result.previousKey++;
          sign = true;
        } else if (state.problem === 'unsigned') {
          result.unsigned++;
          const first = firstSigned.get(b.symbol);
          if (first !== undefined && b.date > first) {
            result.strippedInside++;
            if (result.examples.length < 5) result.examples.push(`${b.symbol} ${b.date} (unsigned after ${first}, signed: its signature removed)`);
          } else if (options.acceptUnsigned) {
            sign = true;
            const range = accepted.get(b.symbol);
            if (range === undefined) accepted.set(b.symbol, { from: b.date, to: b.date, count: 1 });
            else accepted.set(b.symbol, { from: b.date < range.from ? b.date : range.from, to: b.date > range.to ? b.date : range.to, count: range.count + 1 });
          }
        } else {
          if (state.problem === 'edited') result.mismatched++;
          else result.otherKey++;
          if (result.examples.length < 5) result.examples.push(`${b.symbol} ${b.date} (${state.problem === 'edited' ? 'edited' : `key id ${state.keyId ?? '?'}`})`);
        }
        if (sign) writes.push({ ...b, signature: barMac(key, b), signature_key_id: keyId });
      });
      for (const [symbol, r] of [...accepted].sort(([a], [b]) => (a < b ? -1 : 1))) result.acceptedRanges.push(`${symbol} ${r.from}..${r.to} (${r.count} bar${r.count === 1 ? '' : 's'})`);
      // Only the signature columns change: the values are those just read, under the lock.
      for (let k = 0; k < writes.length; k += ROWS_PER_STATEMENT) {
        const insert = tx.insertInto('bars').values(writes.slice(k, k + ROWS_PER_STATEMENT));
        if (store.driver === 'mysql') {
          await insert.onDuplicateKeyUpdate({ signature: sql`values(signature)`, signature_key_id: sql`values(signature_key_id)` }).execute();
        } else {
          await insert.onConflict((oc) => oc.columns(['symbol', 'date']).doUpdateSet((eb) => ({ signature: eb.ref('excluded.signature'), signature_key_id: eb.ref('excluded.signature_key_id') }))).execute();
        }
      }
      result.signed += writes.length;
    });
  }
  return result;
}
