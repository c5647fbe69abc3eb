/**
 * Rolling a model back: every request served by one known-good version again, and the registry's
 * `champion` alias pointing at it. Shared by the admin API and the CLI.
 */
import type { Cache } from '../cache/cache';
import { aliasHistory, aliasVersion, assertServable, getModelVersion, type AliasHistoryEntry } from '../registry/model-registry';
import type { Database } from '../store/database';
import { verificationKeysOf, type RowSigning } from '../registry/row-signature';
import { aliasMoveProblem, storedSignatureOf } from '../registry/serving-record-signature';
import { isWellFormedText, normaliseControlCharacters, WELL_FORMED_TEXT_RULE } from '../well-formed-text';
import { singleRoute, writeServingRoutes, type ServingRoutes } from './serving-routes';
import { UnverifiedServingRecordsError, verifiedChampionAlias } from './verified-serving-records';

export class RollbackError extends Error {
  override name = 'RollbackError';
}

export interface RollbackInput {
  model: string;
  /** Defaults to the previous champion: the version the current champion replaced. */
  toVersion?: number;
  movedBy: string;
  reason: string;
  /**
   * Checks the target can be served (verifyRegisteredVersion: its artifact's bytes, header and
   * model) before anything moves; throws why not. Required: a rollback to a version no API
   * process can load moves the champion and routes while running processes keep the old version.
   */
  verify: (model: string, version: number) => Promise<unknown>;
  /** The deployment's MODEL_SIGNING_KEY: signs the routes and the alias written (writeServingRoutes). */
  signing?: RowSigning;
}

export interface RollbackResult {
  model: string;
  /** The champion before the rollback (null when there was none). */
  fromVersion: number | null;
  toVersion: number;
  routes: ServingRoutes;
}

/**
 * The champion before the current one, from the alias history: the newest earlier champion not
 * pulled by a rollback since it last became champion. Undefined when there is no champion or no such one. Champion v3 rolled
 * back to v2 (bad fills), a second rollback went back to v3, the version just pulled; now it goes on
 * to v1, the champion before v2 (`--to-version` still serves any version that verifies).
 * Throws RollbackError when the history's moves do not chain (brokenChampionHistory).
 */
export async function previousChampion(store: Database, model: string, signing?: RowSigning): Promise<number | undefined> {
  const current = await aliasVersion(store, model, 'champion');
  if (current === undefined) return undefined;
  const moves = (await aliasHistory(store, model)).filter((m) => m.alias === 'champion');
  // With the key the choice rests only on moves a key holder wrote: an unsigned move inserted by
  // hand (v2 → v3, v3 → v2) chained and chose v3, never promoted, which the rollback then signed.
  const keys = verificationKeysOf(signing);
  if (keys !== undefined) {
    const rows = await store.db.selectFrom('model_alias_history').selectAll().where('name', '=', model).where('alias', '=', 'champion').orderBy('seq').execute();
    const failing = rows.flatMap((m) => {
      const problem = aliasMoveProblem(keys, { name: model, seq: Number(m.seq), alias: m.alias, fromVersion: m.from_version === null ? null : Number(m.from_version), toVersion: m.to_version === null ? null : Number(m.to_version), movedBy: m.moved_by, reason: m.reason, movedAt: m.moved_at }, storedSignatureOf(m));
      return problem === undefined ? [] : [problem];
    });
    if (failing.length > 0) throw new RollbackError(`the champion alias history of ${model} holds moves no key holder wrote (${failing.join('; ')}), so it cannot say which version was champion before v${current}; name the version to roll back to (toVersion / --to-version)`);
  }
  const broken = brokenChampionHistory(moves, current);
  if (broken) throw new RollbackError(`the champion alias history of ${model} does not chain: ${broken}, so it cannot say which version was champion before v${current} (a row edited or deleted by hand, or the alias moved by SQL); name the version to roll back to (toVersion / --to-version)`);
  // A version is pulled by a rollback back to an earlier champion made after it last became
  // champion; made champion again since (by name), it is not. A rollback to a version that was never
  // champion (serving a new one by name) pulls nothing.
  const lastArrival = new Map<number, number>();
  const pulledAt = new Map<number, number>();
  moves.forEach((m, i) => {
    if (m.toVersion === null) return;
    if (m.fromVersion !== null && ROLLBACK_REASON.test(m.reason) && lastArrival.has(m.toVersion)) pulledAt.set(m.fromVersion, i);
    lastArrival.set(m.toVersion, i);
  });
  const pulled = (v: number) => (pulledAt.get(v) ?? -1) > (lastArrival.get(v) ?? -1);
  for (const m of [...moves].reverse()) if (m.fromVersion !== null && m.fromVersion !== current && !pulled(m.fromVersion)) return m.fromVersion;
  return undefined;
}

/**
 * Where the champion moves stop chaining, or undefined when each starts where the one before it
 * ended (the first from no version) and the last ends at the alias's `current` version. Only a
 * chained history says which champion came before: a move's from_version edited to a version that
 * was never champion chose that version as the rollback target.
 */
function brokenChampionHistory(moves: readonly AliasHistoryEntry[], current: number): string | undefined {
  const name = (m: AliasHistoryEntry) => `move #${m.seq} (${m.movedAt}, by ${m.movedBy}: ${m.reason})`;
  const v = (version: number | null) => (version === null ? 'no version' : `v${version}`);
  let before: AliasHistoryEntry | undefined;
  for (const m of moves) {
    const expected = before ? before.toVersion : null;
    if (m.fromVersion !== expected) return `${name(m)} moved the alias from ${v(m.fromVersion)}, but ${before ? `the move before it (#${before.seq}) left it at ${v(expected)}` : 'it is the first move, from no version'}`;
    before = m;
  }
  if (!before) return `it has no move, but the alias names v${current}`;
  if (before.toVersion !== current) return `its last move, ${name(before)}, left the alias at ${v(before.toVersion)}, but it names v${current}`;
  return undefined;
}

/**
 * The champion move that made `current` champion, when it is this rollback's own: a rollback by the
 * same person for the same reason, and nothing moved the champion since.
 */
async function repeatedRollback(store: Database, input: RollbackInput, current: number): Promise<{ fromVersion: number | null } | undefined> {
  const last = (await aliasHistory(store, input.model)).filter((m) => m.alias === 'champion').at(-1);
  if (!last || last.toVersion !== current || last.movedBy !== input.movedBy || last.reason !== rollbackReason(current, input.reason)) return undefined;
  return { fromVersion: last.fromVersion };
}

const rollbackReason = (target: number, reason: string) => `rollback to v${target}: ${reason}`;
const ROLLBACK_REASON = /^rollback to v\d+: /;

/**
 * Serves `toVersion` (or the previous champion) on 100% of the traffic and makes it the champion.
 * The routes are written before the alias moves: traffic leaves the bad version first, and a retry
 * after a failure in between still finds the same previous champion (the alias has not moved yet).
 * With `toVersion` a repeated rollback is a no-op. Without it, the same rollback repeated (same
 * person and reason, nothing moved since) is one too, answering as the first did; a second rollback
 * (another reason or person) goes on to the champion before (previousChampion: never a version a
 * rollback moved away from).
 */
export async function rollbackModel(store: Database, cache: Cache, asked: RollbackInput): Promise<RollbackResult> {
  // As writeServingRoutes stores them (one line, normalised): a retry then matches the move it made.
  const input: RollbackInput = { ...asked, movedBy: normaliseControlCharacters(asked.movedBy), reason: normaliseControlCharacters(asked.reason) };
  if (!input.movedBy || !input.reason) throw new RollbackError('a rollback needs movedBy and reason (who and why), for the alias and route history');
  // Stored as U+FFFD, such a reason never matches itself read back: a retry would roll back a second version.
  if (!isWellFormedText(input.reason) || !isWellFormedText(input.movedBy)) throw new RollbackError(`a rollback's reason and movedBy ${WELL_FORMED_TEXT_RULE}`);
  // Without toVersion the target is chosen from the champion alias and its history: with the key,
  // only as key holders wrote them (routes and alias moved together by SQL to a superseded version
  // were otherwise rolled back from, and written again signed).
  let current: number | null;
  if (input.toVersion === undefined) {
    try {
      current = (await verifiedChampionAlias(store, input.model, input.signing, `cannot roll ${input.model} back without a version named`)) ?? null;
    } catch (error) {
      if (error instanceof UnverifiedServingRecordsError) throw new RollbackError(`${error.message}. Or name the version to roll back to (toVersion / --to-version)`, { cause: error });
      throw error;
    }
  } else current = (await aliasVersion(store, input.model, 'champion')) ?? null;
  // The same request again (its answer was lost, so the person or client ran it again): the same
  // rollback, whose answer it gets, not a second one back to the version it rolled back from.
  const repeated = input.toVersion === undefined && current !== null ? await repeatedRollback(store, input, current) : undefined;
  const fromVersion = repeated ? repeated.fromVersion : current;
  const target = repeated ? current ?? undefined : input.toVersion ?? (await previousChampion(store, input.model, input.signing));
  if (target === undefined) {
    const why = fromVersion === null ? `model ${input.model} has no champion` : `champion v${fromVersion} of ${input.model} has no predecessor in the alias history that no rollback moved away from (a rolled-back version is served again only when named)`;
    throw new RollbackError(`${why}; name the version to roll back to (toVersion / --to-version)`);
  }
  try {
    // Whatever verify checks, a version its own evaluation vetoed is never rolled back to.
    assertServable(await getModelVersion(store, input.model, target));
    await input.verify(input.model, target);
  } catch (error) {
    throw new RollbackError(`cannot roll ${input.model} back to v${target}: ${(error as Error).message}`, { cause: error });
  }
  const reason = rollbackReason(target, input.reason);
  // The routes and the champion alias in one transaction: a deployment promoting at the same moment
  // cannot leave its alias over this rollback's routes (or the reverse).
  const routes = await writeServingRoutes(store, cache, { model: input.model, mode: 'single', routes: singleRoute(target), updatedBy: input.movedBy, reason, alias: { alias: 'champion', version: target, movedBy: input.movedBy, reason }, ...(input.signing ? { signing: input.signing } : {}) });
  return { model: input.model, fromVersion, toVersion: target, routes };
}
