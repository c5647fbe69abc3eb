/**
 * A feature set as the store holds it (a `feature_sets` row: version, definition and column order),
 * rebuilt with this build's feature code. Versions hash the definition with FEATURE_CODE_VERSION, so
 * a row is one this code would produce only when its definition still defines a feature set, that
 * set's version is the row's, and (when checked) the stored columns are the ones the definition
 * yields. The one home of that check: the stream consumer (lib/streaming/feature-sets.ts) and
 * artifact verification (lib/registry/verify-artifact.ts) both refuse a stale or edited row through
 * it, with the same words.
 */
import { BadInputError, describeValidationError } from '../errors';
import type { Database } from '../store/database';
import { defineFeatureSet, type FeatureSet, type FeatureSetInput } from './feature-set';
import { featureColumns } from './compute-features';

export interface StoredFeatureSetRow {
  version: string;
  /** The definition's JSON, as saveFeatureSet (lib/store/features.ts) writes it. */
  definition: string;
  /** The column order's JSON; checked against the definition's columns when given. */
  columns?: string;
}

export interface StoredFeatureSet {
  set: FeatureSet;
  /** The set's column order under this code (equal to the stored one when the row's columns were checked). */
  columns: string[];
}

const REMEDY = 'retrain or re-materialise';

/** Where two column lists first differ, as verification words it: "2 vs 3 columns, first difference at column 1 ("a" vs "b")". */
export function firstColumnDifference(a: readonly string[], b: readonly string[]): string | undefined {
  const at = a.findIndex((name, i) => name !== b[i]);
  if (a.length === b.length && at < 0) return undefined;
  const i = at >= 0 ? at : Math.min(a.length, b.length);
  return `${a.length} vs ${b.length} columns, first difference at column ${i} (${JSON.stringify(a[i] ?? null)} vs ${JSON.stringify(b[i] ?? null)})`;
}

/**
 * The row's feature set rebuilt by this code; throws BadInputError naming the cause when the stored
 * definition is not JSON or not a valid feature set, when this code versions it differently (the
 * feature code changed since, or the definition was edited), or when `row.columns` is given and is
 * not the column list the definition yields.
 */
export function rebuildStoredFeatureSet(row: StoredFeatureSetRow): StoredFeatureSet {
  const { version } = row;
  let definition: unknown;
  try {
    definition = JSON.parse(row.definition);
  } catch (error) {
    throw new BadInputError(`feature set ${version}: the stored definition is not valid JSON (${(error as Error).message}); the row is damaged: ${REMEDY}`);
  }
  let set: FeatureSet;
  try {
    set = defineFeatureSet(definition as FeatureSetInput);
  } catch (error) {
    const issues = (error as { issues?: unknown }).issues;
    if (!Array.isArray(issues)) throw error;
    throw new BadInputError(`feature set ${version}: the stored definition is not a valid feature set for this code (${describeValidationError(error as Parameters<typeof describeValidationError>[0])}); ${REMEDY}`);
  }
  if (set.version !== version) {
    throw new BadInputError(`feature set ${version} was computed by another version of the feature code, or its stored definition was edited (this code calls that definition ${set.version}); ${REMEDY}`);
  }
  const columns = featureColumns(set);
  if (row.columns !== undefined) {
    let stored: unknown;
    try {
      stored = JSON.parse(row.columns);
    } catch {
      stored = undefined;
    }
    if (!Array.isArray(stored) || !stored.every((c) => typeof c === 'string')) {
      throw new BadInputError(`feature set ${version}: the stored columns are not a JSON list of column names; the row is damaged: ${REMEDY}`);
    }
    const difference = firstColumnDifference(stored as string[], columns);
    if (difference) throw new BadInputError(`feature set ${version}: the stored columns are not the ones its definition yields under this code (${difference}); the row was edited: ${REMEDY}`);
  }
  return { set, columns };
}

/**
 * The feature set the store holds under `version`, rebuilt by this code; `need` says what reads it
 * ("the point-in-time audit recomputes features from its definition"), for the error when no row is there.
 */
export async function readStoredFeatureSet(store: Database, version: string, need: string): Promise<FeatureSet> {
  const row = await store.db.selectFrom('feature_sets').select('definition').where('version', '=', version).executeTakeFirst();
  if (!row) throw new BadInputError(`feature set ${version} is not in the store; ${need}`);
  return rebuildStoredFeatureSet({ version, definition: row.definition }).set;
}
