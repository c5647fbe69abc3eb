/**
 * With MODEL_SIGNING_KEY, what a signed write is based on is verified first: the champion alias a
 * deployment starts against, a rollback goes back from, or the admin routes are judged by, and the
 * routes a deployment's step or promotion replaces. Read unverified, routes and the champion alias
 * moved together by SQL to a superseded version were taken as the champion and written again,
 * signed (laundered); unsigned champion moves inserted into the history chose a rollback's target.
 * The checks are monitoring's (lib/monitoring/serving-records.ts): the record's own signature, and
 * that it is the one its newest signed history row set. Without the key nothing is checked.
 */
import { aliasProblems, routesProblems } from '../monitoring/serving-records';
import { aliasVersion } from '../registry/model-registry';
import { verificationKeysOf, type RowSigning } from '../registry/row-signature';
import type { Database } from '../store/database';
import { readServingRoutes, ServingRoutesError } from './serving-routes';

/** The routes or champion alias of a model a signed write would be based on are not as a key holder wrote them: nothing was written. */
export class UnverifiedServingRecordsError extends ServingRoutesError {
  override name = 'UnverifiedServingRecordsError';
  constructor(
    message: string,
    readonly model: string,
    readonly problems: readonly string[],
  ) {
    super(message);
  }
}

const advice = (model: string) =>
  `Nothing was written (serving_routes_tampered: someone changed serving records without the signing key). Find who (the database's audit log), then write the intended routes and champion with the key: mlp models rollback ${model} --to-version N --reason "…" (or, for records written before they were signed, check them and run mlp models sign-serving ${model} --accept-edit)`;

/** Why the champion alias of `model` (its row and every champion move) does not verify under `signing`; [] when it does or without a key. */
export async function championAliasProblems(store: Database, model: string, signing: RowSigning | undefined): Promise<string[]> {
  if (verificationKeysOf(signing) === undefined) return [];
  return (await aliasProblems(store, signing!, model, 'champion')).problems;
}

/**
 * The champion alias of `model` (undefined: not set), after checking with the key that a key holder
 * set it and wrote every champion move; throws UnverifiedServingRecordsError naming what fails.
 * `what`: the action refused, for the message.
 */
export async function verifiedChampionAlias(store: Database, model: string, signing: RowSigning | undefined, what: string): Promise<number | undefined> {
  const problems = await championAliasProblems(store, model, signing);
  if (problems.length > 0) throw new UnverifiedServingRecordsError(`${what}: the champion alias of ${model} is not as a key holder wrote it: ${problems.join('; ')}. ${advice(model)}`, model, problems);
  return aliasVersion(store, model, 'champion');
}

/** Checks with the key that the routes and the champion alias of `model` are as a key holder wrote them; throws UnverifiedServingRecordsError naming what fails. */
export async function assertServingRecordsVerified(store: Database, model: string, signing: RowSigning | undefined, what: string): Promise<void> {
  if (verificationKeysOf(signing) === undefined) return;
  const routes = await readServingRoutes(store, model);
  const problems = [...(routes ? await routesProblems(store, signing!, routes) : []), ...(await championAliasProblems(store, model, signing))];
  if (problems.length > 0) throw new UnverifiedServingRecordsError(`${what}: the serving records of ${model} are not as a key holder wrote them: ${problems.join('; ')}. ${advice(model)}`, model, problems);
}
