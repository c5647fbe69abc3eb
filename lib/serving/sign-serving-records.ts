/**
 * Signing a model's serving records (its routes row and alias rows) with the current
 * MODEL_SIGNING_KEY (`mlp models sign-serving`): after a key rotation (records a previous key
 * signed, confirmed by it, re-signed without a question), or, with `acceptEdit`, records no key
 * confirms (written before serving records were signed, by a process without the key, or edited),
 * which the person vouches for after checking them. Each is written again as it stands, as a key
 * holder's write (a new routes generation with the same split and salt, so no request changes
 * variant; a move of each alias to the version it names), with its history row.
 */
import type { Cache } from '../cache/cache';
import { checkServingRecords } from '../monitoring/serving-records';
import { moveAlias, MODEL_ALIASES, type ModelAlias } from '../registry/model-registry';
import type { RowSigning } from '../registry/row-signature';
import type { Database } from '../store/database';
import { readServingRoutes, ServingRoutesError, writeServingRoutes, type ServingRoutes } from './serving-routes';

export interface SignedServingRecords {
  /** The routes now stored, and whether they were written again (false: the current key had signed them already). */
  routes: ServingRoutes;
  rewritten: boolean;
  /** What no key confirmed before (empty after a rotation or when everything was signed already). */
  accepted: string[];
}

export async function signServingRecords(store: Database, cache: Cache, model: string, signing: RowSigning, options: { by: string; reason: string; acceptEdit?: boolean }): Promise<SignedServingRecords> {
  if (signing.signingKey === undefined) throw new ServingRoutesError('MODEL_SIGNING_KEY is not set: there is no key to sign serving records with');
  const current = await readServingRoutes(store, model);
  if (!current) throw new ServingRoutesError(`model ${model} has no serving routes to sign`);
  const found = (await checkServingRecords(store, [current], signing)).flatMap((f) => f.problems);
  if (found.length > 0 && options.acceptEdit !== true) {
    throw new ServingRoutesError(
      `serving records of ${model} not signed: ${found.join('; ')}. Check that the routes (serving_routes, GET /v1/models) and the aliases (mlp models history ${model}) are what you intend, then sign them as they are with --accept-edit; otherwise write the intended ones with the key (mlp models rollback ${model} --to-version N)`,
    );
  }
  const split = { mode: current.mode, routes: current.routes, ...(current.shadow ? { shadow: current.shadow } : {}), ...(current.reference !== undefined ? { reference: current.reference } : {}), salt: current.salt };
  const reason = `serving records signed: ${options.reason}`;
  const routes = await writeServingRoutes(store, cache, { model, ...split, updatedBy: options.by, reason, expectedGeneration: current.generation, signing });
  const aliases = await store.db.selectFrom('model_aliases').select(['alias', 'version']).where('name', '=', model).execute();
  for (const a of aliases) {
    if (!(MODEL_ALIASES as readonly string[]).includes(a.alias)) continue;
    await moveAlias(store, { name: model, alias: a.alias as ModelAlias, version: Number(a.version), movedBy: options.by, reason, expected: { version: Number(a.version) } }, signing);
  }
  return { routes, rewritten: routes.generation !== current.generation, accepted: found };
}
