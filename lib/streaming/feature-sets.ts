/** Which feature sets the stream consumer keeps online. */
import fs from 'node:fs/promises';
import { BadInputError, describeValidationError } from '../errors';
import { DEFAULT_FEATURE_SET, defineFeatureSet, featureSetSchema, type FeatureSet, type FeatureSetInput } from '../features/feature-set';
import { rebuildStoredFeatureSet } from '../features/stored-feature-set';
import { getModelVersion } from '../registry/model-registry';
import type { Database } from '../store/database';
import { readEveryServingRoutes } from '../serving/serving-routes';

async function fromFile(file: string): Promise<FeatureSet> {
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (error) {
    throw new BadInputError(`cannot read the feature set file ${file}: ${(error as Error).message}`);
  }
  const parsed = featureSetSchema.safeParse(json);
  if (!parsed.success) throw new BadInputError(`feature set file ${file} is invalid: ${describeValidationError(parsed.error)}`);
  try {
    return defineFeatureSet(json as FeatureSetInput); // refuses the keys parsing would drop, naming them
  } catch (error) {
    throw new BadInputError(`feature set file ${file} is invalid: ${(error as Error).message}`);
  }
}

/** A version materialised earlier, rebuilt from its stored definition (and refused if this code would version it differently: lib/features/stored-feature-set.ts). */
async function fromStore(store: Database, version: string): Promise<FeatureSet> {
  const row = await store.db.selectFrom('feature_sets').select('definition').where('version', '=', version).executeTakeFirst();
  if (!row) throw new BadInputError(`feature set ${version} is not in the store; materialise it first (a pipeline run does) or pass a definition file`);
  // The columns are not checked: online features are computed from the definition, whatever the row lists.
  return rebuildStoredFeatureSet({ version, definition: row.definition }).set;
}

/** The feature sets of every model version the serving routes use (routes and shadow). */
async function servedVersions(store: Database): Promise<string[]> {
  const versions = new Set<string>();
  // A routes row this code cannot read serves nothing (the API disables its model): the others' sets still count.
  for (const routes of (await readEveryServingRoutes(store)).routes) {
    const numbers = [...routes.routes.map((r) => r.version), ...(routes.shadow ? [routes.shadow.version] : [])];
    for (const n of new Set(numbers)) versions.add((await getModelVersion(store, routes.model, n)).featureSetVersion);
  }
  return [...versions].sort();
}

/**
 * `refs` are feature-set versions (fs-…) or JSON definition files. Without refs: the feature sets
 * the served models were trained on, or the default set when nothing is served yet.
 */
export async function resolveStreamFeatureSets(store: Database, refs: readonly string[]): Promise<{ sets: FeatureSet[]; origin: string }> {
  if (refs.length > 0) {
    const sets = await Promise.all(refs.map((ref) => (ref.endsWith('.json') ? fromFile(ref) : fromStore(store, ref))));
    return { sets, origin: 'given' };
  }
  const served = await servedVersions(store);
  if (served.length > 0) return { sets: await Promise.all(served.map((v) => fromStore(store, v))), origin: 'served models' };
  return { sets: [defineFeatureSet(DEFAULT_FEATURE_SET)], origin: 'default (no model is served yet)' };
}
