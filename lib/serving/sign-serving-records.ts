/**
 * Signing a model's serving records (its routes row and alias rows) with the current
 * MODEL_SIGNING_KEY (`mlp models sign-serving`):
 *
 * - after a key rotation, every record a previous key signed and still confirms (the routes row,
 *   the alias rows, and their history rows) is signed again in place by the current key: same
 *   generation, same writer, reason, time and content, only the signature and its key id change.
 *   What decides serving, and who owns it, is untouched: a running deployment's split stays its
 *   own, and its next step and promotion go on (written again as a new generation by the CLI, it
 *   was judged superseded and its canary split was left serving with no owner);
 * - with `acceptEdit`, records no key confirms (written before serving records were signed, by a
 *   process without the key, or edited), which the person vouches for after checking them, are
 *   written again as they stand as a key holder's write (a new routes generation with the same split
 *   and salt, so no request changes variant; a move of each alias to the version it names), with
 *   their history rows. That changes the writer of record, so it is refused while a deployment of
 *   the model is running.
 */
import type { Cache } from '../cache/cache';
import { checkServingRecords } from '../monitoring/serving-records';
import { moveAlias, MODEL_ALIASES, type ModelAlias } from '../registry/model-registry';
import { checkMac, hmacSha256Hex, signingKeyId, verificationKeysOf, type RowSignature, type RowSigning } from '../registry/row-signature';
import { signAliasMoveRecord, signAliasRecord, signedAliasMoveText, signedAliasText, signedRoutesText, signRoutesRecord, storedSignatureOf } from '../registry/serving-record-signature';
import type { Database } from '../store/database';
import { InvalidServingRoutesError, readServingRoutes, ServingRoutesError, toRoutes, writeServingRoutes, type ServingRoutes } from './serving-routes';

export interface SignedServingRecords {
  /** The routes now stored, and whether they were written again as a new generation (only with acceptEdit, for routes no key confirmed). */
  routes: ServingRoutes;
  rewritten: boolean;
  /** How many records (routes, alias and history rows) a previous key signed were signed again in place by the current key. */
  resigned: number;
  /** What no key confirmed before (empty after a rotation or when everything was signed already). */
  accepted: string[];
}

export async function signServingRecords(store: Database, cache: Cache, model: string, signing: RowSigning, options: { by: string; reason: string; acceptEdit?: boolean }): Promise<SignedServingRecords> {
  if (signing.signingKey === undefined) throw new ServingRoutesError('MODEL_SIGNING_KEY is not set: there is no key to sign serving records with');
  if ((await readServingRoutes(store, model)) === undefined) throw new ServingRoutesError(`model ${model} has no serving routes to sign`);
  // Records a previous key confirms: signed again in place, nothing else changes.
  const resigned = await resignInPlace(store, model, signing);
  const current = await readServingRoutes(store, model);
  if (!current) throw new ServingRoutesError(`model ${model} has no serving routes to sign`);
  const found = (await checkServingRecords(store, [current], signing)).flatMap((f) => f.problems);
  if (found.length === 0) return { routes: current, rewritten: false, resigned, accepted: [] };
  if (options.acceptEdit !== true) {
    throw new ServingRoutesError(
      `serving records of ${model} not signed: ${found.join('; ')}. Check that the routes (serving_routes, GET /v1/models) and the aliases (mlp models history ${model}) are what you intend, then sign them as they are with --accept-edit; otherwise write the intended ones with the key (mlp models rollback ${model} --to-version N)`,
    );
  }
  // Written again by the CLI, the routes would no longer be the running deployment's own: its next
  // step would find itself superseded and leave its split serving with no owner.
  const running = await store.db.selectFrom('deployments').select(['id', 'started_by']).where('model', '=', model).where('status', '=', 'running').execute();
  if (running.length > 0) {
    throw new ServingRoutesError(
      `serving records of ${model} not signed: ${found.join('; ')}; signing them as they stand writes them again as the CLI's, which would take the serving routes from deployment ${running.map((d) => `${d.id} (started by ${d.started_by})`).join(', ')}, still running. Run it again once that deployment has ended (or abort it: mlp deploy abort)`,
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
  return { routes, rewritten: routes.generation !== current.generation, resigned, accepted: found };
}

/**
 * Signs again, with the current key, every serving record of `model` whose signature a previous key
 * made and still confirms, in one transaction (each update conditional on the signature read, so a
 * write landing meanwhile is never re-signed unread). Returns how many rows were signed again.
 */
async function resignInPlace(store: Database, model: string, signing: RowSigning): Promise<number> {
  const keys = verificationKeysOf(signing)!;
  const key = keys.signingKey;
  const currentId = signingKeyId(key);
  /** Confirmed by a previous key (not the current one): the record's text is what it signed. */
  const byPreviousKey = (signature: RowSignature | undefined, text: () => string): boolean => {
    if (!signature || signature.keyId === currentId) return false;
    let encoded: string;
    try {
      encoded = text();
    } catch {
      return false;
    }
    return checkMac(keys, signature, (k) => hmacSha256Hex(k, encoded)).state === 'valid';
  };
  const routesOf = (row: Parameters<typeof toRoutes>[0]): ServingRoutes | undefined => {
    try {
      return toRoutes(row);
    } catch (error) {
      if (error instanceof InvalidServingRoutesError) return undefined;
      throw error;
    }
  };
  return store.db.transaction().execute(async (tx) => {
    let count = 0;
    const changed = (n: bigint | number) => {
      if (Number(n) !== 1) throw new ServingRoutesError(`serving records of ${model} changed while they were being signed; run it again`);
      count++;
    };
    let routesRead = tx.selectFrom('serving_routes').selectAll().where('model', '=', model);
    if (store.driver === 'mysql') routesRead = routesRead.forUpdate();
    const routeRows = [
      ...(await routesRead.execute()).map((row) => ({ table: 'serving_routes' as const, row })),
      ...(await tx.selectFrom('serving_route_history').selectAll().where('model', '=', model).orderBy('generation').execute()).map((row) => ({ table: 'serving_route_history' as const, row })),
    ];
    for (const { table, row } of routeRows) {
      const routes = routesOf(row);
      const signature = storedSignatureOf(row);
      if (!routes || !signature || !byPreviousKey(signature, () => signedRoutesText(routes))) continue;
      const next = signRoutesRecord(key, routes);
      const updated = await tx.updateTable(table).set({ signature: next.mac, signature_key_id: next.keyId }).where('model', '=', model).where('generation', '=', routes.generation).where('signature', '=', signature.mac).executeTakeFirst();
      changed(updated.numUpdatedRows);
    }
    let aliasRead = tx.selectFrom('model_aliases').selectAll().where('name', '=', model);
    if (store.driver === 'mysql') aliasRead = aliasRead.forUpdate();
    for (const row of await aliasRead.execute()) {
      if (row.seq === null || row.seq === undefined) continue;
      const fields = { name: model, alias: row.alias, version: Number(row.version), seq: Number(row.seq) };
      const signature = storedSignatureOf(row);
      if (!signature || !byPreviousKey(signature, () => signedAliasText(fields))) continue;
      const next = signAliasRecord(key, fields);
      const updated = await tx.updateTable('model_aliases').set({ signature: next.mac, signature_key_id: next.keyId }).where('name', '=', model).where('alias', '=', row.alias).where('signature', '=', signature.mac).executeTakeFirst();
      changed(updated.numUpdatedRows);
    }
    for (const row of await tx.selectFrom('model_alias_history').selectAll().where('name', '=', model).orderBy('seq').execute()) {
      const fields = { name: model, seq: Number(row.seq), alias: row.alias, fromVersion: row.from_version === null ? null : Number(row.from_version), toVersion: row.to_version === null ? null : Number(row.to_version), movedBy: row.moved_by, reason: row.reason, movedAt: row.moved_at };
      const signature = storedSignatureOf(row);
      if (!signature || !byPreviousKey(signature, () => signedAliasMoveText(fields))) continue;
      const next = signAliasMoveRecord(key, fields);
      const updated = await tx.updateTable('model_alias_history').set({ signature: next.mac, signature_key_id: next.keyId }).where('name', '=', model).where('seq', '=', fields.seq).where('signature', '=', signature.mac).executeTakeFirst();
      changed(updated.numUpdatedRows);
    }
    return count;
  });
}
