/**
 * The check shared by stored records signed per symbol and date (bars: lib/store/bar-signature.ts;
 * offline feature rows: lib/features/vector-signature.ts): a record's signature state under the held
 * keys, and the refusals of a read grouped by symbol and problem, so one refusal names every bad
 * record. Each record kind keeps its own MAC text and its own error (what it is, the remedy).
 */
import { checkMac, sameMac, signedWithAnotherKey, signingKeyId, type VerificationKeys } from './row-signature';

/** Why a stored record is refused, in a few words (grouped in a refusal). */
export type SignatureProblem = 'unsigned' | 'edited' | 'other_key';

export type SignatureState = { ok: true; previous: boolean } | { ok: false; problem: SignatureProblem; keyId?: string };

/**
 * What a stored record's signature columns (null: none) are under `keys`: valid (by the current key
 * or a previous one), or why not. `macOf`: the record's MAC under a key. The common case (the
 * current key) is checked without checkMac's per-call key list: whole datasets take this per record.
 */
export function signatureState(keys: VerificationKeys, signature: string | null, storedKeyId: string | null, macOf: (key: string) => string): SignatureState {
  if (signature === null) return { ok: false, problem: 'unsigned' };
  const keyId = String(storedKeyId ?? '?').slice(0, 16);
  const current = typeof keys === 'string' ? keys : keys.signingKey;
  if (keyId === signingKeyId(current)) return sameMac(signature, macOf(current)) ? { ok: true, previous: false } : { ok: false, problem: 'edited', keyId };
  const verdict = checkMac(keys, { keyId, mac: signature }, macOf);
  if (verdict.state === 'valid') return { ok: true, previous: verdict.previous };
  return { ok: false, problem: verdict.state === 'mismatch' ? 'edited' : 'other_key', keyId };
}

/**
 * Refused records of one symbol with one problem, dates ascending. An `edited` group without a key
 * id had its signature removed: unsigned, yet dated after a record of its symbol that is signed
 * (a record written before signing began predates every signed one).
 */
export interface RefusedGroup {
  symbol: string;
  problem: SignatureProblem;
  dates: string[];
  keyId?: string;
}

/** Collects the records a read refuses, grouped by symbol, problem and key id. */
export class RefusalGroups {
  private readonly groups = new Map<string, RefusedGroup>();

  add(symbol: string, date: string, state: { problem: SignatureProblem; keyId?: string }): void {
    const k = `${symbol}\u0000${state.problem}\u0000${state.keyId ?? ''}`;
    let g = this.groups.get(k);
    if (!g) {
      g = { symbol, problem: state.problem, dates: [], ...(state.keyId === undefined ? {} : { keyId: state.keyId }) };
      this.groups.set(k, g);
    }
    g.dates.push(date);
  }

  get size(): number {
    return this.groups.size;
  }

  /** The refused records so far, by symbol then problem, dates ascending. */
  refused(): RefusedGroup[] {
    return sortGroups([...this.groups.values()].map((g) => ({ ...g, dates: [...g.dates].sort() })));
  }
}

function sortGroups(groups: RefusedGroup[]): RefusedGroup[] {
  return groups.sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : a.problem < b.problem ? -1 : a.problem > b.problem ? 1 : 0));
}

/**
 * `refused` with each unsigned date after (with `atFirstToo`, at or after: prediction log rows,
 * dated by instants that may repeat) `firstSigned` of its symbol (the earliest date of a
 * signed record of the symbol) counted as an edit: a signature is only ever removed by hand, and
 * removing it with the values edited made an edit read as a row from before signing (a warning,
 * not critical).
 */
export function strippedAsEdited(refused: readonly RefusedGroup[], firstSigned: ReadonlyMap<string, string>, atFirstToo = false): RefusedGroup[] {
  const out: RefusedGroup[] = [];
  for (const g of refused) {
    const first = firstSigned.get(g.symbol);
    if (g.problem !== 'unsigned' || first === undefined) {
      out.push(g);
      continue;
    }
    const before = g.dates.filter((d) => d < first);
    const after = g.dates.filter((d) => d > first || (atFirstToo && d === first));
    if (before.length > 0) out.push({ ...g, dates: before });
    if (after.length > 0) out.push({ symbol: g.symbol, problem: 'edited', dates: after });
  }
  // An edited group of the same symbol with a key id stays apart: its text names that key.
  return sortGroups(out);
}

/** How many dates of a group a refusal names. */
const DATES_NAMED = 5;

/** "AAPL on 2018-01-02", or "AAPL, 12 rows from … to … (first five, …)". */
export function describeRefusedDates(symbol: string, dates: readonly string[], noun: string): string {
  if (dates.length === 1) return `${symbol} on ${dates[0]}`;
  const named = dates.slice(0, DATES_NAMED).join(', ');
  return `${symbol}, ${dates.length} ${noun} from ${dates[0]} to ${dates[dates.length - 1]} (${named}${dates.length > DATES_NAMED ? ', …' : ''})`;
}

/** Why a group is refused, after its dates. */
export function refusalProblemText(g: Pick<RefusedGroup, 'problem' | 'keyId'>, keys: VerificationKeys): string {
  if (g.problem === 'unsigned') return 'unsigned (written before signing, by a process without MODEL_SIGNING_KEY, or edited with the signature removed)';
  if (g.problem === 'edited' && g.keyId === undefined) return 'its signature was removed: unsigned, yet dated after a signed one of its symbol (an edit that also strips the signature)';
  if (g.problem === 'edited') return `the signature does not match the values: they were changed after they were written (signed by key id ${g.keyId}, which this process holds)`;
  return signedWithAnotherKey(g.keyId ?? '?', keys);
}
