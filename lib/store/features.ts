import { sql, type Kysely, type Transaction } from 'kysely';
import { BadInputError } from '../errors';
import { fromLittleEndianFloat64, toLittleEndianFloat64 } from '../float64-bytes';
import type { FeatureSet } from '../features/feature-set';
import { FeatureRowVerifier, featureRowVerifierOf, signFeatureRow, type RefusedFeatureRows } from '../features/vector-signature';
import { NO_ROW_SIGNING, verificationKeysOf, type RowSigning } from '../registry/row-signature';
import type { Database } from './database';
import type { DatabaseSchema } from './schema';

const ROWS_PER_STATEMENT = 1000;

export interface FeatureRow {
  symbol: string;
  date: string;
  values: Float64Array;
}

/** Packs values as little-endian float64 whatever the host, so both drivers store identical bytes. */
export function packValues(values: Float64Array): Buffer {
  return toLittleEndianFloat64([values]);
}

/** The values of a stored row; `row` names it in the error a damaged blob gets (retrying cannot mend it). */
export function unpackValues(bytes: Uint8Array, row = 'a feature row'): Float64Array {
  if (bytes.byteLength % 8 !== 0) throw new BadInputError(`the stored values of ${row} take ${bytes.byteLength} bytes, not a whole number of float64s: the row is damaged; rematerialise its feature set`);
  return fromLittleEndianFloat64(bytes, 0, bytes.byteLength / 8);
}

/** Registers a feature-set version once (definitions are immutable under their version). */
export async function saveFeatureSet(store: Database, set: FeatureSet, columns: readonly string[]): Promise<void> {
  const { version, ...definition } = set;
  await store.db
    .insertInto('feature_sets')
    .ignore()
    .values({ version, name: set.name, definition: JSON.stringify(definition), columns: JSON.stringify(columns), created_at: new Date().toISOString() })
    .execute();
}

export async function getFeatureSetColumns(store: Database, version: string): Promise<string[] | undefined> {
  const row = await store.db.selectFrom('feature_sets').select('columns').where('version', '=', version).executeTakeFirst();
  return row ? (JSON.parse(row.columns) as string[]) : undefined;
}

/** Last materialised date per symbol for a version (symbols without rows are absent). */
export async function lastFeatureDates(store: Database, version: string): Promise<Map<string, string>> {
  const rows = await store.db
    .selectFrom('feature_rows')
    .select(['symbol', (eb) => eb.fn.max('date').as('last')])
    .where('version', '=', version)
    .groupBy('symbol')
    .execute();
  return new Map(rows.map((r) => [r.symbol, String(r.last)]));
}

/**
 * Appends rows; a row already stored for (version, symbol, date) is kept as it was. `signing`: the
 * deployment's MODEL_SIGNING_KEY; with it each row is stored with its signature (signFeatureRow),
 * which the prediction API requires of a row it serves. Without it, rows added to a symbol whose
 * newest stored row is signed are refused, none written (UnsignedOverSignedRowError).
 */
export async function writeFeatureRows(store: Database, version: string, rows: readonly FeatureRow[], signing: RowSigning = NO_ROW_SIGNING): Promise<void> {
  if (rows.length === 0) return;
  await store.db.transaction().execute(async (tx) => {
    if (signing.signingKey === undefined) await refuseUnsignedOverSigned(tx, version, { added: rows, replaced: [] });
    await insertRows(tx, version, rows, signing);
  });
}

/** What a keyless write would do to a signed row: the refusal's words. */
type OverSigned = { symbol: string; date: string; keyId: string | null } & ({ does: 'replace' | 'delete' } | { does: 'add'; added: string });

/**
 * A write without MODEL_SIGNING_KEY refused because it would change what a signed feature row
 * vouches for: replace a signed row with an unsigned one, delete one (a cleared range), or add an
 * unsigned row to a symbol whose newest stored row is signed (the row the API would then serve,
 * which hides the signed rows from the start-up rule: lib/registry/signing-key-required.ts). Every
 * process holding the key refuses an unsigned row, so such a write only downgrades what is served.
 * Before, a script or a materialisation run without the key did so silently. Nothing of the batch
 * is written. The rule of the online store (UnsignedOverSignedVectorError), here for every writer of
 * feature_rows, since every one goes through this module.
 */
export class UnsignedOverSignedRowError extends BadInputError {
  override name = 'UnsignedOverSignedRowError';
  constructor(
    readonly version: string,
    readonly rows: number,
    readonly signed: OverSigned,
  ) {
    const which = signed.does === 'add' ? `the newest stored row of ${signed.symbol}, on ${signed.date},` : `the stored row of ${signed.symbol} on ${signed.date}`;
    const would =
      signed.does === 'add'
        ? `add an unsigned row (${signed.added}) to a symbol whose rows are signed, which a prediction API holding the key refuses (and serves instead of the signed one)`
        : signed.does === 'replace'
          ? 'replace it with an unsigned row, which a prediction API holding the key refuses'
          : 'delete it, and the rows written in its place would be unsigned';
    super(
      `feature rows of feature set ${version} not written (${rows} ${rows === 1 ? 'row' : 'rows'}): ${which} is signed (key id ${signed.keyId ?? '?'}) and this write has no MODEL_SIGNING_KEY, so it would ${would}; nothing of the batch was written. ` +
        "Run it with the deployment's MODEL_SIGNING_KEY (and MODEL_SIGNING_PREVIOUS_KEYS during a rotation): docs/configuration.md",
    );
  }
}

/** Keys per statement of the checks below: three parameters or fewer each, far under both drivers' limits. */
const KEYS_PER_CHECK = 500;

/**
 * Throws UnsignedOverSignedRowError when the keyless write `batch` would replace, delete or add
 * beside a signed row (see there). Run in the write's transaction before anything is written, so a
 * refused batch leaves the store as it was. Costs a keyless writer: the primary-key lookups of its
 * replaced rows, a range read per cleared range, and one newest-row lookup per symbol it adds to
 * (which for a daily run is the max-date seek it already does); a writer with the key skips it.
 * On SQLite the transaction holds the write lock from BEGIN, so nothing lands between check and
 * write; on MariaDB a keyed writer committing in between could still be replaced (both would be
 * processes of one deployment, one of them misconfigured).
 */
async function refuseUnsignedOverSigned(tx: Transaction<DatabaseSchema>, version: string, batch: { added: readonly FeatureRow[]; replaced: readonly FeatureRow[]; cleared?: readonly ClearedRange[] }): Promise<void> {
  const total = batch.added.length + batch.replaced.length;
  const refuse = (signed: OverSigned): never => {
    throw new UnsignedOverSignedRowError(version, total, signed);
  };
  const replaced = await storedAmong(tx, version, batch.replaced, true);
  if (replaced) refuse({ ...replaced, does: 'replace' });
  const cleared = batch.cleared ?? [];
  for (let i = 0; i < cleared.length; i += KEYS_PER_CHECK) {
    const ranges = cleared.slice(i, i + KEYS_PER_CHECK);
    const hit = await tx
      .selectFrom('feature_rows')
      .select(['symbol', 'date', 'signature_key_id'])
      .where('signature', 'is not', null)
      .where((eb) => eb.or(ranges.map((c) => eb.and([eb('version', '=', version), eb('symbol', '=', c.symbol), eb('date', '>=', c.from), ...(c.to === undefined ? [] : [eb('date', '<', c.to)])]))))
      .limit(1)
      .executeTakeFirst();
    if (hit) refuse({ symbol: hit.symbol, date: hit.date, keyId: hit.signature_key_id, does: 'delete' });
  }
  if (batch.added.length === 0) return;
  // Added rows: only symbols that have rows are looked at further, so a first write (also to a store
  // migrated before the signature columns existed) reads no signature.
  const symbols = [...new Set(batch.added.map((r) => r.symbol))];
  for (let i = 0; i < symbols.length; i += KEYS_PER_CHECK) {
    const chunk = symbols.slice(i, i + KEYS_PER_CHECK);
    // Each symbol's newest date by one seek of the primary key (a GROUP BY over `symbol in (…)` read
    // every row of those symbols on SQLite: 0.1–0.2 s for 500 symbols of 310 rows), then those rows by key.
    const newest = await sql<{ symbol: string; last: string | null }>`${sql.join(
      chunk.map((symbol) => sql`select ${symbol} as symbol, (select max(date) from feature_rows where version = ${version} and symbol = ${symbol}) as last`),
      sql` union all `,
    )}`.execute(tx);
    const dated = newest.rows.filter((n) => n.last !== null).map((n) => ({ symbol: n.symbol, date: String(n.last) }));
    if (dated.length === 0) continue;
    const signedNewest = await storedRowsAmong(tx, version, dated, true);
    if (signedNewest.length === 0) continue;
    const newestOf = new Map(signedNewest.map((r) => [r.symbol, r]));
    const candidates = batch.added.filter((r) => newestOf.has(r.symbol));
    const after = candidates.find((r) => r.date > (newestOf.get(r.symbol) as { date: string }).date);
    const at = (symbol: string) => newestOf.get(symbol) as { symbol: string; date: string; signature_key_id: string | null };
    if (after) refuse({ symbol: after.symbol, date: at(after.symbol).date, keyId: at(after.symbol).signature_key_id, does: 'add', added: after.date });
    // Rows dated before the newest one are appended only where none is stored (insert ignore): one
    // stored already changes nothing (an incremental rerun), one missing would be unsigned among signed rows.
    const stored = new Set<string>();
    for (let j = 0; j < candidates.length; j += KEYS_PER_CHECK) {
      const rows = await storedRowsAmong(tx, version, candidates.slice(j, j + KEYS_PER_CHECK), false);
      rows.forEach((r) => stored.add(`${r.symbol}\u0000${r.date}`));
    }
    const missing = candidates.find((r) => !stored.has(`${r.symbol}\u0000${r.date}`));
    if (missing) refuse({ symbol: missing.symbol, date: at(missing.symbol).date, keyId: at(missing.symbol).signature_key_id, does: 'add', added: missing.date });
  }
}

/** The first stored row among `rows` (with `signedOnly`, the first signed one), by primary key. */
async function storedAmong(tx: Transaction<DatabaseSchema>, version: string, rows: readonly FeatureRow[], signedOnly: boolean): Promise<{ symbol: string; date: string; keyId: string | null } | undefined> {
  for (let i = 0; i < rows.length; i += KEYS_PER_CHECK) {
    const [hit] = await storedRowsAmong(tx, version, rows.slice(i, i + KEYS_PER_CHECK), signedOnly, 1);
    if (hit) return { symbol: hit.symbol, date: hit.date, keyId: hit.signature_key_id };
  }
  return undefined;
}

/** Stored rows among `rows` (at most KEYS_PER_CHECK), grouped by symbol so each is one `date in (…)` on the primary key. */
function storedRowsAmong(tx: Transaction<DatabaseSchema>, version: string, rows: ReadonlyArray<{ symbol: string; date: string }>, signedOnly: boolean, limit?: number): Promise<Array<{ symbol: string; date: string; signature_key_id: string | null }>> {
  if (rows.length === 0) return Promise.resolve([]);
  const dates = new Map<string, string[]>();
  for (const r of rows) {
    const list = dates.get(r.symbol);
    if (list) list.push(r.date);
    else dates.set(r.symbol, [r.date]);
  }
  let q = tx
    .selectFrom('feature_rows')
    .select(['symbol', 'date', ...(signedOnly ? (['signature_key_id'] as const) : [])])
    // The version inside each term: outside, SQLite reads every row of the version instead of seeking each key.
    .where((eb) => eb.or([...dates].map(([symbol, list]) => eb.and([eb('version', '=', version), eb('symbol', '=', symbol), eb('date', 'in', list)]))));
  if (signedOnly) q = q.where('signature', 'is not', null);
  if (limit !== undefined) q = q.limit(limit);
  return q.execute() as Promise<Array<{ symbol: string; date: string; signature_key_id: string | null }>>;
}

/** The stored form of rows: packed values, and with a key their signature (null without: a replaced row loses the old one). */
function storedRows(version: string, rows: readonly FeatureRow[], signing: RowSigning) {
  const key = signing.signingKey;
  return rows.map((r) => {
    const row = { version, symbol: r.symbol, date: r.date, vals: packValues(r.values) };
    return { ...row, ...(key === undefined ? { signature: null, signature_key_id: null } : signFeatureRow(key, row)) };
  });
}

async function insertRows(tx: Transaction<DatabaseSchema>, version: string, rows: readonly FeatureRow[], signing: RowSigning): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    const stored = storedRows(version, rows.slice(i, i + ROWS_PER_STATEMENT), signing);
    // Appended unsigned rows name no signature columns (their default is null): the same statement
    // a store migrated before 0030 takes, as tests of older migrations write with today's code.
    const values = signing.signingKey === undefined ? stored.map(({ version: v, symbol, date, vals }) => ({ version: v, symbol, date, vals })) : stored;
    await tx.insertInto('feature_rows').ignore().values(values).execute();
  }
}

async function replaceRows(store: Database, tx: Transaction<DatabaseSchema>, version: string, rows: readonly FeatureRow[], signing: RowSigning): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    const insert = tx.insertInto('feature_rows').values(storedRows(version, rows.slice(i, i + ROWS_PER_STATEMENT), signing));
    if (store.driver === 'mysql') await insert.onDuplicateKeyUpdate({ vals: sql`values(vals)`, signature: sql`values(signature)`, signature_key_id: sql`values(signature_key_id)` }).execute();
    else await insert.onConflict((oc) => oc.columns(['version', 'symbol', 'date']).doUpdateSet((eb) => ({ vals: eb.ref('excluded.vals'), signature: eb.ref('excluded.signature'), signature_key_id: eb.ref('excluded.signature_key_id') }))).execute();
  }
}

/** Stored rows of a symbol dated in [from, to): rows a recomputation no longer produces. */
export interface ClearedRange {
  symbol: string;
  from: string;
  /** Exclusive; absent: everything from `from` on. */
  to?: string;
}

/**
 * One write batch in one transaction: `added` rows are appended (a stored row is kept), `replaced`
 * rows overwrite the stored ones (recomputed after a revision), `cleared` ranges are deleted, every
 * row written signed with `signing`'s key when set (writeFeatureRows). So
 * a reader never sees a half-replaced batch, and a crash leaves the batch undone, to be redone.
 * Without the key, a batch that would replace or delete a signed row, or add to a symbol whose
 * newest row is signed, is refused whole (UnsignedOverSignedRowError).
 */
export async function writeFeatureBatch(store: Database, version: string, batch: { added: readonly FeatureRow[]; replaced: readonly FeatureRow[]; cleared?: readonly ClearedRange[] }, signing: RowSigning = NO_ROW_SIGNING): Promise<void> {
  const cleared = batch.cleared ?? [];
  if (batch.added.length === 0 && batch.replaced.length === 0 && cleared.length === 0) return;
  await store.db.transaction().execute(async (tx) => {
    if (signing.signingKey === undefined) await refuseUnsignedOverSigned(tx, version, { ...batch, cleared });
    for (const c of cleared) {
      let q = tx.deleteFrom('feature_rows').where('version', '=', version).where('symbol', '=', c.symbol).where('date', '>=', c.from);
      if (c.to !== undefined) q = q.where('date', '<', c.to);
      await q.execute();
    }
    await replaceRows(store, tx, version, batch.replaced, signing);
    await insertRows(tx, version, batch.added, signing);
  });
}

/** Stored row dates of one symbol, ascending. */
export async function featureRowDates(store: Database, version: string, symbol: string): Promise<string[]> {
  const rows = await store.db.selectFrom('feature_rows').select('date').where('version', '=', version).where('symbol', '=', symbol).orderBy('date').execute();
  return rows.map((r) => r.date);
}

/** What a version's stored rows were computed from, per input series (see feature_progress). */
export interface FeatureProgress {
  through: string | null;
  bars: number | null;
  staleFrom: string | null;
  updatedAt: string;
}

export async function readFeatureProgress(store: Database, version: string): Promise<Map<string, FeatureProgress>> {
  const rows = await store.db.selectFrom('feature_progress').selectAll().where('version', '=', version).execute();
  return new Map(rows.map((r) => [r.symbol, { through: r.through, bars: r.bars === null ? null : Number(r.bars), staleFrom: r.stale_from, updatedAt: r.updated_at }]));
}

/**
 * Series whose stale mark was set or moved after `read` was taken (a live correction, a publish
 * absorbed by a concurrent run, a late headline): their bars changed under whatever was computed
 * from that read. Mark moves always move `updated_at`, so a row whose `updated_at` is not the one
 * read, nor `ownWrite` (what this run's own progress write set), was touched by someone else.
 * `lock` (MySQL, in a transaction that then writes these rows): every row of the version is read
 * for update, so no mark lands between this read and the transaction's commit.
 */
export async function marksSince(
  db: Kysely<DatabaseSchema>,
  version: string,
  read: ReadonlyMap<string, FeatureProgress>,
  ownWrite?: { at: string; symbols: ReadonlySet<string> },
  lock = false,
): Promise<Map<string, string>> {
  let q = db.selectFrom('feature_progress').select(['symbol', 'stale_from', 'updated_at']).where('version', '=', version);
  q = lock ? q.forUpdate() : q.where('stale_from', 'is not', null);
  const marked = await q.execute();
  const touched = new Map<string, string>();
  for (const r of marked) {
    if (r.stale_from === null || r.updated_at === read.get(r.symbol)?.updatedAt) continue;
    if (ownWrite && ownWrite.symbols.has(r.symbol) && r.updated_at === ownWrite.at) continue;
    touched.set(r.symbol, r.stale_from);
  }
  return touched;
}

/**
 * Records, after a run, the bars each series had up to the date its rows now reflect. A stale mark
 * is cleared only when it is still the one the run read (`consumed`): a revision absorbed by a
 * concurrent run in the meantime stays marked. Returns the series marked stale since `read` (the
 * progress the run started from; marksSince), looked at before this write moves `updated_at`, and
 * when this write happened.
 */
export async function saveFeatureProgress(
  store: Database,
  version: string,
  entries: ReadonlyArray<{ symbol: string; through: string; bars: number }>,
  consumed: ReadonlyArray<{ symbol: string; staleFrom: string; updatedAt: string }>,
  read: ReadonlyMap<string, FeatureProgress> = new Map(),
): Promise<{ touched: Map<string, string>; at: string }> {
  const now = new Date().toISOString();
  if (entries.length === 0 && consumed.length === 0) return { touched: await marksSince(store.db, version, read), at: now };
  return store.db.transaction().execute(async (tx) => {
    // On MySQL the rows are read locked, at their newest: a plain read sees the transaction's
    // snapshot, so a live mark committed after it but before the write below was missed, and the
    // write then moved that row's updated_at to this run's, hiding the mark from every later check
    // (the run published a vector of the old bar). The lock holds such a mark back until the commit.
    const touched = await marksSince(tx, version, read, undefined, store.driver === 'mysql');
    for (const c of consumed) {
      await tx.updateTable('feature_progress').set({ stale_from: null }).where('version', '=', version).where('symbol', '=', c.symbol).where('stale_from', '=', c.staleFrom).where('updated_at', '=', c.updatedAt).execute();
    }
    // 6 parameters per row.
    for (let i = 0; i < entries.length; i += ROWS_PER_STATEMENT) {
      const chunk = entries.slice(i, i + ROWS_PER_STATEMENT).map((e) => ({ version, symbol: e.symbol, through: e.through, bars: e.bars, stale_from: null, updated_at: now }));
      const insert = tx.insertInto('feature_progress').values(chunk);
      if (store.driver === 'mysql') await insert.onDuplicateKeyUpdate({ through: sql`values(through)`, bars: sql`values(bars)`, updated_at: sql`values(updated_at)` }).execute();
      else await insert.onConflict((oc) => oc.columns(['version', 'symbol']).doUpdateSet((eb) => ({ through: eb.ref('excluded.through'), bars: eb.ref('excluded.bars'), updated_at: eb.ref('excluded.updated_at') }))).execute();
    }
    return { touched, at: now };
  });
}

/** Published snapshots that revised bars and that feature-set `version` has not absorbed yet. */
function unabsorbedRevisionSnapshots(db: Kysely<DatabaseSchema>, version: string): Promise<Array<{ id: string }>> {
  return db
    .selectFrom('dataset_snapshots')
    .select('id')
    .where('status', '=', 'published')
    .where('bars_revised', '>', 0)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('feature_revision_marks as m').select('m.snapshot_id').where('m.version', '=', version).whereRef('m.snapshot_id', '=', 'dataset_snapshots.id'))))
    .execute();
}

/**
 * Absorbs the bar revisions of every published snapshot this version has not absorbed yet: each
 * revised series that this version has rows or progress for gets its stale mark moved back to the
 * earliest revised date, and the snapshot is marked, all in one transaction, so each revision is
 * absorbed once; the stale marks then stay until a run recomputes those rows. Returns how many
 * snapshots were absorbed. Only published snapshots with revisions are looked at (a handful of
 * rows), and only their revisions are read.
 */
export async function absorbBarRevisions(store: Database, version: string): Promise<number> {
  return store.db.transaction().execute(async (tx) => {
    const pending = await unabsorbedRevisionSnapshots(tx, version);
    if (pending.length === 0) return 0;
    const ids = pending.map((p) => p.id);
    const earliest = await tx
      .selectFrom('bar_revisions')
      .select(['symbol', (eb) => eb.fn.min<string>('date').as('first')])
      .where('snapshot_id', 'in', ids)
      .groupBy('symbol')
      .execute();
    const now = new Date().toISOString();
    if (earliest.length > 0) {
      const symbols = earliest.map((e) => e.symbol);
      const progress = new Map((await tx.selectFrom('feature_progress').select(['symbol', 'stale_from']).where('version', '=', version).where('symbol', 'in', symbols).execute()).map((r) => [r.symbol, r.stale_from]));
      // Rows stored before progress was kept have no progress row: they are stale all the same.
      const withRows = new Set((await tx.selectFrom('feature_rows').select('symbol').distinct().where('version', '=', version).where('symbol', 'in', symbols).execute()).map((r) => r.symbol));
      for (const { symbol, first } of earliest) {
        if (progress.has(symbol)) {
          const stale = progress.get(symbol);
          if (stale !== null && stale !== undefined && stale <= first) continue;
          await tx.updateTable('feature_progress').set({ stale_from: first, updated_at: now }).where('version', '=', version).where('symbol', '=', symbol).execute();
        } else if (withRows.has(symbol)) {
          await tx.insertInto('feature_progress').values({ version, symbol, through: null, bars: null, stale_from: first, updated_at: now }).execute();
        }
      }
    }
    await tx.insertInto('feature_revision_marks').ignore().values(ids.map((id) => ({ version, snapshot_id: id, applied_at: now }))).execute();
    return ids.length;
  });
}

/**
 * Per symbol, the earliest date from which this version's stored rows are known to be stale: a
 * stale mark not yet recomputed (feature_progress.stale_from), or a bar revised by a published
 * snapshot this version has not absorbed yet (one published after the last features run). Read
 * only: nothing is marked. A bar back-filled into a history is logged nowhere and is not listed.
 */
export async function knownStaleFrom(store: Database, version: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const put = (symbol: string, date: string) => {
    const known = out.get(symbol);
    if (known === undefined || date < known) out.set(symbol, date);
  };
  const marked = await store.db.selectFrom('feature_progress').select(['symbol', 'stale_from']).where('version', '=', version).where('stale_from', 'is not', null).execute();
  for (const r of marked) if (r.stale_from !== null) put(r.symbol, r.stale_from);
  const pending = await unabsorbedRevisionSnapshots(store.db, version);
  if (pending.length > 0) {
    const earliest = await store.db
      .selectFrom('bar_revisions')
      .select(['symbol', (eb) => eb.fn.min<string>('date').as('first')])
      .where('snapshot_id', 'in', pending.map((p) => p.id))
      .groupBy('symbol')
      .execute();
    for (const e of earliest) put(e.symbol, e.first);
  }
  return out;
}

export interface FeatureRowQuery {
  symbols?: readonly string[];
  from?: string;
  to?: string;
}

/**
 * How a read that computes from stored rows checks them: `verify`, the deployment's signing; default
 * the store handle's (openDatabase's `signing`: the deployment's key as this process holds it). With a
 * key every row read must carry a signature a held key gives it, else the read is refused once it is
 * done, naming every refused row (UnverifiedFeatureRowsError); without one nothing is checked.
 */
export interface FeatureRowReadOptions {
  verify?: RowSigning;
}

/** Rows ordered by symbol then date (checked as readFeatureRowBytes checks them). */
export async function readFeatureRows(store: Database, version: string, query: FeatureRowQuery = {}, options: FeatureRowReadOptions = {}): Promise<FeatureRow[]> {
  const rows = await readFeatureRowBytes(store, version, query, options);
  return rows.map((r) => ({ symbol: r.symbol, date: r.date, values: unpackValues(r.vals, `feature row ${r.symbol} ${r.date} (${version})`) }));
}

/**
 * Rows ordered by symbol then date, their values as stored (packValues' bytes): for a caller that
 * copies them straight into a matrix. With a key (FeatureRowReadOptions) each row's signature is
 * checked over the bytes just read, one HMAC per row, before any is returned.
 */
export async function readFeatureRowBytes(store: Database, version: string, query: FeatureRowQuery = {}, options: FeatureRowReadOptions = {}): Promise<Array<{ symbol: string; date: string; vals: Uint8Array }>> {
  const verifier = featureRowVerifierOf(version, options.verify ?? store.signing);
  // The signature columns only when checked: a keyless read takes what a store migrated before them has.
  let q = store.db.selectFrom('feature_rows').select(['symbol', 'date', 'vals', ...(verifier ? (['signature', 'signature_key_id'] as const) : [])]).where('version', '=', version);
  if (query.symbols && query.symbols.length > 0) q = q.where('symbol', 'in', [...query.symbols]);
  if (query.from) q = q.where('date', '>=', query.from);
  if (query.to) q = q.where('date', '<=', query.to);
  const rows = (await q.orderBy('symbol').orderBy('date').execute()) as Array<{ symbol: string; date: string; vals: Uint8Array; signature?: string | null; signature_key_id?: string | null }>;
  if (verifier) {
    for (const r of rows) verifier.check({ version, symbol: r.symbol, date: r.date, vals: r.vals, signature: r.signature ?? null, signature_key_id: r.signature_key_id ?? null });
    const refusal = verifier.refusing ? verifier.refusal(await firstSignedRows(store.db, version, verifier.unsignedSymbols())) : undefined;
    if (refusal) throw refusal;
  }
  return rows;
}

/**
 * Each symbol's earliest stored row that carries a signature, among `symbols`: an unsigned row dated
 * after it had its signature removed (FeatureRowVerifier.refused). Asked only of symbols with an
 * unsigned row refused, over the whole history (a read of a window does not see the rows before it).
 */
async function firstSignedRows(db: Kysely<DatabaseSchema> | Transaction<DatabaseSchema>, version: string, symbols: readonly string[]): Promise<Map<string, string>> {
  const first = new Map<string, string>();
  for (let i = 0; i < symbols.length; i += SYMBOLS_PER_CHECK) {
    const rows = await db
      .selectFrom('feature_rows')
      .select(['symbol', (eb) => eb.fn.min('date').as('first')])
      .where('version', '=', version)
      .where('symbol', 'in', symbols.slice(i, i + SYMBOLS_PER_CHECK))
      .where('signature', 'is not', null)
      .groupBy('symbol')
      .execute();
    for (const r of rows) first.set(r.symbol, String(r.first));
  }
  return first;
}

/** Symbols per read of unverifiedFeatureRows: bounds what is held at once (~310 KB of values per symbol-year of 61 columns). */
const SYMBOLS_PER_CHECK = 25;

/**
 * The stored rows of `symbols` that no key of `signing` vouches for, grouped by symbol and problem
 * (nothing without a key): what the features step recomputes and signs again. Read a few symbols at
 * a time, one HMAC per row, the values not decoded.
 */
export async function unverifiedFeatureRows(store: Database, version: string, symbols: readonly string[], signing: RowSigning | undefined): Promise<{ refused: RefusedFeatureRows[]; checked: number; previousKey: number }> {
  const keys = verificationKeysOf(signing);
  if (keys === undefined || symbols.length === 0) return { refused: [], checked: 0, previousKey: 0 };
  const verifier = new FeatureRowVerifier(version, keys);
  let checked = 0;
  for (let i = 0; i < symbols.length; i += SYMBOLS_PER_CHECK) {
    const rows = await store.db
      .selectFrom('feature_rows')
      .select(['symbol', 'date', 'vals', 'signature', 'signature_key_id'])
      .where('version', '=', version)
      .where('symbol', 'in', symbols.slice(i, i + SYMBOLS_PER_CHECK))
      .execute();
    for (const r of rows) verifier.check({ version, ...r });
    checked += rows.length;
  }
  const refused = verifier.refusing ? verifier.refused(await firstSignedRows(store.db, version, verifier.unsignedSymbols())) : [];
  return { refused, checked, previousKey: verifier.previousKey };
}

/**
 * Deletes the stored rows of `rows` (per symbol, dates) that no key of `signing` vouches for, as
 * checked again in the deleting transaction (FOR UPDATE on MariaDB; SQLite's write lock), so a row
 * signed meanwhile stays. For rows no computation from the verified bars produces (the features
 * step decides which): written by no honest writer, they were refused by every read for good, and a
 * forged row dated after the last bar held back its symbol's real later rows. Returns what it
 * deleted, grouped as refusals are, for the caller's record (its report, log and alert).
 */
export async function removeUnverifiedFeatureRows(store: Database, version: string, rows: ReadonlyArray<{ symbol: string; dates: readonly string[] }>, signing: RowSigning): Promise<RefusedFeatureRows[]> {
  const keys = verificationKeysOf(signing);
  if (keys === undefined || rows.length === 0) return [];
  return store.db.transaction().execute(async (tx) => {
    const verifier = new FeatureRowVerifier(version, keys);
    for (const { symbol, dates } of rows) {
      for (let i = 0; i < dates.length; i += ROWS_PER_STATEMENT) {
        let q = tx.selectFrom('feature_rows').select(['symbol', 'date', 'vals', 'signature', 'signature_key_id']).where('version', '=', version).where('symbol', '=', symbol).where('date', 'in', dates.slice(i, i + ROWS_PER_STATEMENT));
        if (store.driver === 'mysql') q = q.forUpdate();
        for (const r of await q.execute()) verifier.check({ version, ...r });
      }
    }
    if (!verifier.refusing) return [];
    const removed = verifier.refused(await firstSignedRows(tx, version, verifier.unsignedSymbols()));
    for (const g of removed) {
      for (let i = 0; i < g.dates.length; i += ROWS_PER_STATEMENT) {
        await tx.deleteFrom('feature_rows').where('version', '=', version).where('symbol', '=', g.symbol).where('date', 'in', g.dates.slice(i, i + ROWS_PER_STATEMENT)).execute();
      }
    }
    return removed;
  });
}
