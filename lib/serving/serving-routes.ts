/**
 * The traffic split each prediction API process serves, per registry model name: which versions
 * take which share of requests, an optional shadow, and the sticky-hash salt. One current row per
 * model (serving_routes) plus an append-only history (serving_route_history), one row per
 * generation. Every change is announced on the cache channel `serving:routes`; processes also poll.
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import type { Cache } from '../cache/cache';
import { aliasVersionIn, getModelVersion, moveAliasIn, type AliasMove } from '../registry/model-registry';
import { signingKeyId, verificationKeysOf, type RowSignature, type RowSigning } from '../registry/row-signature';
import { routesRecordProblem, signRoutesRecord, storedSignatureOf } from '../registry/serving-record-signature';
import type { Database } from '../store/database';
import type { ServingRoutesTable } from '../store/schema';
import { isWellFormedText, normaliseControlCharacters, WELL_FORMED_TEXT_RULE } from '../well-formed-text';
import { CHAMPION_VARIANT, type Route } from './routing';

export type { Route } from './routing';

export const SERVING_ROUTES_CHANNEL = 'serving:routes';
export const SHADOW_VARIANT = 'shadow';
export const SERVING_MODES = ['single', 'canary', 'ab'] as const;
export type ServingMode = (typeof SERVING_MODES)[number];

/** Invalid input: a bad split, an unknown model version. */
export class ServingRoutesError extends Error {
  override name = 'ServingRoutesError';
}

/** A stored routes row this code cannot read (a hand edit, another build's format): names the model and generation. */
export class InvalidServingRoutesError extends ServingRoutesError {
  override name = 'InvalidServingRoutesError';
  constructor(
    message: string,
    readonly model: string,
    readonly generation: number,
  ) {
    super(message);
  }
}

/** The routes changed since the caller read them (expectedGeneration differs, or a concurrent write won). */
export class ServingRoutesConflictError extends ServingRoutesError {
  override name = 'ServingRoutesConflictError';
  constructor(
    message: string,
    readonly currentGeneration: number,
  ) {
    super(message);
  }
}

const VARIANT = /^[A-Za-z][A-Za-z0-9_-]{0,31}$/;
/** Same rule as registry model names (serving_routes.model is varchar(64)). */
const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const WEIGHT_SUM_TOLERANCE = 1e-9;

export const routeSchema = z.object({
  variant: z.string().regex(VARIANT, 'a variant starts with a letter, then up to 31 letters, digits, "_" or "-"'),
  version: z.number().int().positive(),
  weight: z.number().min(0).max(1),
});

const splitFields = {
  mode: z.enum(SERVING_MODES),
  routes: z.array(routeSchema).min(1, 'at least one route is needed'),
  shadow: z.object({ version: z.number().int().positive() }).optional(),
  reference: z.string().optional(),
  salt: z.string().min(1).max(64),
};

type SplitFields = { mode: ServingMode; routes: Route[]; reference?: string };

/** The rules a split must satisfy beyond each field's own type. */
function checkSplit(split: SplitFields, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  split.routes.forEach((route, i) => {
    if (route.variant === SHADOW_VARIANT) ctx.addIssue({ code: 'custom', path: ['routes', i, 'variant'], message: `"${SHADOW_VARIANT}" is reserved for the shadow; use the shadow field` });
    if (seen.has(route.variant)) ctx.addIssue({ code: 'custom', path: ['routes', i, 'variant'], message: `variant "${route.variant}" appears twice; variants must be unique` });
    seen.add(route.variant);
  });
  const sum = split.routes.reduce((s, r) => s + r.weight, 0);
  if (Math.abs(sum - 1) > WEIGHT_SUM_TOLERANCE) ctx.addIssue({ code: 'custom', path: ['routes'], message: `weights sum to ${sum}; they must sum to 1` });
  const served = split.routes.filter((r) => r.weight > 0);
  if (served.length === 0) ctx.addIssue({ code: 'custom', path: ['routes'], message: 'no route has a positive weight; at least one must take traffic' });
  if (split.mode === 'single' && served.length > 1) ctx.addIssue({ code: 'custom', path: ['mode'], message: `mode "single" serves one route, but ${served.length} have a positive weight; use "canary" or "ab"` });
  if (split.reference !== undefined && !seen.has(split.reference)) ctx.addIssue({ code: 'custom', path: ['reference'], message: `reference "${split.reference}" is not one of the routes' variants (${[...seen].join(', ')})` });
}

/** A split as a client proposes it (salt optional: the current one, or a new random one, is kept). */
export const servingSplitInputSchema = z.object({ ...splitFields, salt: splitFields.salt.optional() }).superRefine(checkSplit);
export type ServingSplitInput = z.infer<typeof servingSplitInputSchema>;

/** The serving routes of one model, as read back from the store. */
export const servingRoutesSchema = z
  .object({
    model: z.string().regex(MODEL_NAME, 'a model name is lower-case letters, digits, ".", "_" or "-" (at most 64)'),
    generation: z.number().int().positive(),
    ...splitFields,
    updatedBy: z.string(),
    reason: z.string(),
    updatedAt: z.string(),
  })
  .superRefine(checkSplit);
export type ServingRoutes = z.infer<typeof servingRoutesSchema>;

export interface WriteServingRoutesInput extends ServingSplitInput {
  model: string;
  updatedBy: string;
  reason: string;
  /** When given, the write is refused unless the current generation is this one (0: no routes yet). */
  expectedGeneration?: number;
  /**
   * An alias of the model moved in the same transaction (a promotion or rollback points `champion`
   * at the version it routes to), also when the routes are already so. Written apart, a rollback
   * landing between a promotion's routes and its alias left the routes on one version and the
   * champion alias on another.
   */
  alias?: Omit<AliasMove, 'name'>;
  /**
   * Judges the split against the champion alias as committed, inside the write's transaction (on
   * MySQL the routes row and the alias are read locked until it commits); throws to refuse it. The
   * admin route refuses a split that disagrees with the alias: judged before the transaction, a
   * rollback committing in between (routes and alias on v3) was overwritten by a split serving v1
   * under alias v3.
   */
  championCheck?: (aliasChampion: number | undefined) => void;
  /**
   * The deployment writing (its `deployments` row): the generation written, or kept when the split
   * is already its own (same split, same updatedBy), is recorded on its row in the same transaction. A running deployment's own split
   * is exempt from the champion check only at the generation its row records
   * (lib/serving/served-champion.ts); recorded after the write, a check in between judged its own
   * last canary step a mismatch.
   */
  deploymentId?: string;
  /**
   * The deployment's MODEL_SIGNING_KEY: with it the routes row and its history row (and the alias
   * moved with them) are signed (lib/registry/serving-record-signature.ts), and a prediction API
   * holding the key serves only signed routes. Without it nothing is signed, and the write is refused
   * where the stored routes are signed (it would replace them with routes every such API refuses).
   */
  signing?: RowSigning;
}

/** The all-champion split: every request served by `version`. */
export function singleRoute(version: number): Route[] {
  return [{ variant: CHAMPION_VARIANT, version, weight: 1 }];
}

/** What the routes column stores (model and generation have their own columns). */
interface StoredSplit {
  mode: ServingMode;
  routes: Route[];
  shadow?: { version: number };
  reference?: string;
  salt: string;
}

/** The signature stored with each routes object read or written here (none: the row has none). */
const storedSignatures = new WeakMap<ServingRoutes, RowSignature>();

/** The signature the row these routes were read from carries (undefined: none, or routes not read from the store). */
export function storedRoutesSignature(routes: ServingRoutes): RowSignature | undefined {
  return storedSignatures.get(routes);
}

/**
 * Why these routes, as read from the store, are not vouched for under the deployment's key (no
 * signature, edited since, another key's), or undefined when their signature holds or no key is set.
 */
export function servingRoutesSignatureProblem(signing: RowSigning | undefined, routes: ServingRoutes): string | undefined {
  const keys = verificationKeysOf(signing);
  return keys === undefined ? undefined : routesRecordProblem(keys, routes, storedSignatures.get(routes));
}

/** A stored routes row (or routes history row) as read back, with its stored signature kept (storedRoutesSignature). */
export function toRoutes(row: ServingRoutesTable): ServingRoutes {
  const invalid = (problem: string) => new InvalidServingRoutesError(`serving routes of ${row.model} generation ${row.generation} are ${problem}; rewrite them with writeServingRoutes`, row.model, Number(row.generation));
  let stored: unknown;
  try {
    stored = JSON.parse(row.routes);
  } catch (error) {
    throw invalid(`not valid JSON (${(error as Error).message})`);
  }
  const parsed = servingRoutesSchema.safeParse({ ...(stored as object), model: row.model, generation: Number(row.generation), updatedBy: row.updated_by, reason: row.reason, updatedAt: row.updated_at });
  if (!parsed.success) throw invalid(`invalid: ${z.prettifyError(parsed.error)}`);
  const signature = storedSignatureOf(row);
  if (signature) storedSignatures.set(parsed.data, signature);
  return parsed.data;
}

export async function readServingRoutes(store: Database, model: string): Promise<ServingRoutes | undefined> {
  const row = await store.db.selectFrom('serving_routes').selectAll().where('model', '=', model).executeTakeFirst();
  return row ? toRoutes(row) : undefined;
}

/** Current routes of every model, by model name. */
export async function listServingRoutes(store: Database): Promise<ServingRoutes[]> {
  return (await store.db.selectFrom('serving_routes').selectAll().orderBy('model').execute()).map(toRoutes);
}

/**
 * Current routes of every model, each row read on its own: a row this code cannot read is returned
 * among `invalid` (with why) instead of failing the whole list, so one bad row stops only its model.
 */
export async function readEveryServingRoutes(store: Database): Promise<{ routes: ServingRoutes[]; invalid: InvalidServingRoutesError[] }> {
  const routes: ServingRoutes[] = [];
  const invalid: InvalidServingRoutesError[] = [];
  for (const row of await store.db.selectFrom('serving_routes').selectAll().orderBy('model').execute()) {
    try {
      routes.push(toRoutes(row));
    } catch (error) {
      if (!(error instanceof InvalidServingRoutesError)) throw error;
      invalid.push(error);
    }
  }
  return { routes, invalid };
}

/** Every generation of a model's routes, oldest first. */
export async function servingRouteHistory(store: Database, model: string): Promise<ServingRoutes[]> {
  return (await store.db.selectFrom('serving_route_history').selectAll().where('model', '=', model).orderBy('generation').execute()).map(toRoutes);
}

function sameSplit(a: StoredSplit, b: StoredSplit): boolean {
  return (
    a.mode === b.mode &&
    a.salt === b.salt &&
    a.reference === b.reference &&
    a.shadow?.version === b.shadow?.version &&
    a.routes.length === b.routes.length &&
    a.routes.every((r, i) => r.variant === b.routes[i].variant && r.version === b.routes[i].version && r.weight === b.routes[i].weight)
  );
}

/** The same model, generation and split (mode, routes, shadow, reference, salt): who wrote it, why and when aside. */
export function sameServingRoutes(a: ServingRoutes, b: ServingRoutes): boolean {
  return a.model === b.model && a.generation === b.generation && sameSplit(a, b);
}

function storedSplit(input: ServingSplitInput, salt: string): StoredSplit {
  return {
    mode: input.mode,
    routes: input.routes.map((r) => ({ variant: r.variant, version: r.version, weight: r.weight })),
    ...(input.shadow ? { shadow: { version: input.shadow.version } } : {}),
    ...(input.reference !== undefined ? { reference: input.reference } : {}),
    salt,
  };
}

const newSalt = () => crypto.randomBytes(8).toString('hex');
const CONCURRENT_WRITE_ATTEMPTS = 8;

/**
 * Validates and stores a new split for a model (the generation after the row's and every one its
 * history holds, with a history row, in one transaction), then announces it on
 * `serving:routes`. Writing the split that is already current
 * is a no-op that returns the current routes, except for a deployment (`deploymentId`) writing a
 * split another writer left: that is a new generation naming it. Refuses when `expectedGeneration`
 * is given and the current generation differs.
 */
export async function writeServingRoutes(store: Database, cache: Cache, written: WriteServingRoutesInput): Promise<ServingRoutes> {
  // Who and why are kept in histories people read: stored as one line without control characters,
  // normalised rather than refused (a deployment's own rollback reason is never refused).
  const input: WriteServingRoutesInput = {
    ...written,
    updatedBy: normaliseControlCharacters(written.updatedBy),
    reason: normaliseControlCharacters(written.reason),
    ...(written.alias ? { alias: { ...written.alias, movedBy: normaliseControlCharacters(written.alias.movedBy), reason: normaliseControlCharacters(written.alias.reason) } } : {}),
  };
  if (!MODEL_NAME.test(input.model)) throw new ServingRoutesError(`model name "${input.model}" is invalid: use lower-case letters, digits, ".", "_" or "-" (at most 64)`);
  const parsed = servingSplitInputSchema.safeParse({ mode: input.mode, routes: input.routes, shadow: input.shadow, reference: input.reference, salt: input.salt });
  if (!parsed.success) throw new ServingRoutesError(`serving routes for ${input.model} are invalid: ${z.prettifyError(parsed.error)}`);
  if (!input.updatedBy || !input.reason) throw new ServingRoutesError('serving route changes need updatedBy and reason (who and why), for the history');
  // Stored as U+FFFD, such text would no longer match itself read back (a retried rollback's reason).
  for (const [field, text] of [['updatedBy', input.updatedBy], ['reason', input.reason], ['alias.movedBy', input.alias?.movedBy], ['alias.reason', input.alias?.reason]] as const) {
    if (text !== undefined && !isWellFormedText(text)) throw new ServingRoutesError(`serving route changes of ${input.model}: ${field} ${WELL_FORMED_TEXT_RULE}`);
  }
  const versions = new Set([...parsed.data.routes.map((r) => r.version), ...(parsed.data.shadow ? [parsed.data.shadow.version] : []), ...(input.alias?.version !== undefined ? [input.alias.version] : [])]);
  for (const version of versions) {
    try {
      await getModelVersion(store, input.model, version);
    } catch (error) {
      throw new ServingRoutesError(`cannot route traffic to ${input.model} v${version}: ${(error as Error).message}`, { cause: error });
    }
  }

  for (let attempt = 1; ; attempt++) {
    try {
      const result = await writeOnce(store, input, parsed.data);
      if (result.changed) {
        // Processes also poll every few seconds, so a lost announcement only delays the switch.
        await cache.publish(SERVING_ROUTES_CHANNEL, JSON.stringify({ model: result.routes.model, generation: result.routes.generation })).catch(() => undefined);
      }
      return result.routes;
    } catch (error) {
      // A concurrent writer took the generation: try again on top of it, unless the caller pinned one.
      const retry = error instanceof ServingRoutesConflictError && input.expectedGeneration === undefined && attempt < CONCURRENT_WRITE_ATTEMPTS;
      if (!retry) throw error;
    }
  }
}

async function writeOnce(store: Database, input: WriteServingRoutesInput, split: ServingSplitInput): Promise<{ routes: ServingRoutes; changed: boolean }> {
  try {
    return await store.db.transaction().execute(async (tx) => {
      // Locked first when the alias is judged: the row then cannot change under the judgement, and
      // routes before alias is the order every routes-and-alias write takes (no deadlock between them).
      let read = tx.selectFrom('serving_routes').selectAll().where('model', '=', input.model);
      if (input.championCheck && store.driver === 'mysql') read = read.forUpdate();
      const row = await read.executeTakeFirst();
      if (input.championCheck) input.championCheck(await aliasVersionIn(tx, store.driver, input.model, 'champion'));
      let current: ServingRoutes | undefined;
      try {
        current = row ? toRoutes(row) : undefined;
      } catch (error) {
        // An unreadable row (a hand edit) is what a new split replaces: refusing would leave no way to fix or roll back the model.
        if (!(error instanceof InvalidServingRoutesError)) throw error;
      }
      const currentGeneration = row ? Number(row.generation) : 0;
      if (input.expectedGeneration !== undefined && input.expectedGeneration !== currentGeneration) {
        throw new ServingRoutesConflictError(
          `serving routes of ${input.model} are at generation ${currentGeneration}, not the expected ${input.expectedGeneration}: someone changed them meanwhile; read them again and retry`,
          currentGeneration,
        );
      }
      // The history keeps every generation written, also after the routes row was deleted (to stop
      // serving the model) or restored from an older backup: numbering from the row alone took one the
      // history holds, and every later write failed as a "concurrent write". A concurrent writer that
      // commits first still takes the same number, and this write conflicts as before.
      const last = await tx.selectFrom('serving_route_history').select((eb) => eb.fn.max('generation').as('g')).where('model', '=', input.model).executeTakeFirst();
      const generation = Math.max(currentGeneration, Number(last?.g ?? 0)) + 1;
      const next = storedSplit(split, split.salt ?? current?.salt ?? newSalt());
      const signingKey = input.signing?.signingKey;
      const storedSignature = row?.signature ?? (await tx.selectFrom('serving_route_history').select('signature').where('model', '=', input.model).orderBy('generation', 'desc').limit(1).executeTakeFirst())?.signature;
      if (signingKey === undefined && storedSignature) {
        throw new ServingRoutesError(
          `serving routes of ${input.model} not written: the stored routes (generation ${Math.max(currentGeneration, Number(last?.g ?? 0))}) are signed and this write has no MODEL_SIGNING_KEY, so it would replace them with unsigned routes, which every prediction API holding the key refuses (it keeps serving the last signed routes). Run it with the deployment's MODEL_SIGNING_KEY`,
        );
      }
      const move = input.alias;
      const alias = move ? () => moveAliasIn(tx, store.driver, { ...move, name: input.model }, input.signing) : async () => undefined;
      const record = async (written: number) => {
        if (input.deploymentId !== undefined) await tx.updateTable('deployments').set({ routes_generation: written }).where('id', '=', input.deploymentId).execute();
      };
      // A deployment writing the split another writer left (a closed deployment's step, the same
      // canary again) takes it over as a new generation naming it: kept as a no-op, the routes went
      // on naming the old writer, so the running deployment's own split was reported as left by a
      // closed one (lib/serving/served-champion.ts judges ownership by the writer of record). The
      // salt is kept, so no request changes variant. Its own split written again stays a no-op.
      const takenOver = input.deploymentId !== undefined && current !== undefined && current.updatedBy !== input.updatedBy;
      // With the key, routes it did not sign (unsigned: written before routes were signed; edited;
      // signed by a previous key) are never kept as they are: the same split is written again as a
      // new generation signed by the current key (a key rotation re-signs routes this way).
      const verifies = current !== undefined && (signingKey === undefined || (servingRoutesSignatureProblem(input.signing, current) === undefined && storedSignatures.get(current)?.keyId === signingKeyId(signingKey)));
      if (current && verifies && !takenOver && sameSplit(storedSplit(current, current.salt), next)) {
        await alias();
        await record(current.generation);
        return { routes: current, changed: false };
      }

      const values: ServingRoutesTable = {
        model: input.model,
        generation,
        routes: JSON.stringify(next),
        updated_by: input.updatedBy,
        reason: input.reason,
        updated_at: new Date().toISOString(),
      };
      if (signingKey !== undefined) {
        const signature = signRoutesRecord(signingKey, { model: values.model, generation, ...next, updatedBy: values.updated_by, reason: values.reason, updatedAt: values.updated_at });
        values.signature = signature.mac;
        values.signature_key_id = signature.keyId;
      }
      if (row) {
        const changes = { generation: values.generation, routes: values.routes, updated_by: values.updated_by, reason: values.reason, updated_at: values.updated_at, signature: values.signature ?? null, signature_key_id: values.signature_key_id ?? null };
        const updated = await tx.updateTable('serving_routes').set(changes).where('model', '=', input.model).where('generation', '=', currentGeneration).executeTakeFirst();
        if (Number(updated.numUpdatedRows) !== 1) throw new ServingRoutesConflictError(`serving routes of ${input.model} changed during the write; retry`, currentGeneration);
      } else {
        await tx.insertInto('serving_routes').values(values).execute();
      }
      await tx.insertInto('serving_route_history').values(values).execute();
      await alias();
      await record(generation);
      return { routes: toRoutes(values), changed: true };
    });
  } catch (error) {
    if (error instanceof ServingRoutesError) throw error;
    // A duplicate key on either table means a concurrent write committed the same generation first.
    if (isConcurrentWrite(error)) throw new ServingRoutesConflictError(`serving routes of ${input.model} were changed by a concurrent write; retry`, -1);
    throw error;
  }
}

/** A duplicate key (MySQL, SQLite) or a deadlock victim (MySQL): another write got there first. */
function isConcurrentWrite(error: unknown): boolean {
  const e = error as { code?: string; errno?: number } | undefined;
  return e?.errno === 1062 || e?.errno === 1213 || (typeof e?.code === 'string' && (e.code === 'ER_DUP_ENTRY' || e.code === 'ER_LOCK_DEADLOCK' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e.code === 'SQLITE_CONSTRAINT_UNIQUE'));
}
