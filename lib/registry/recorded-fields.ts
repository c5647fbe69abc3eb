/**
 * The fields a registry row records that the model artifact's header also carries, and the one
 * comparison of the two that registration (before anything is stored) and artifact verification
 * (before anything is served) both make: the algorithm, the feature set, the label definition and
 * the parameters. A row that disagrees with its artifact describes another model than the one it
 * serves, so both refuse it, naming the field and the two values.
 *
 * Parameters: the row keeps the recipe the model was trained with (what an experiment asked for,
 * e.g. { C: 0.5 } or { hiddenLayers: "64,32" }); the header keeps the model's own parameters, which
 * are that recipe read by the algorithm's parameter schema (defaults filled in, "64,32" read as
 * [64, 32]) plus what training measured (trees kept, rounds or epochs run). So every parameter the
 * row states is read by the algorithm's schema as training read it and must then equal the header's
 * exactly (keys in any order); parameters the row does not state are the header's alone, and a
 * parameter neither the schema nor the header has is refused, named (the schema would drop it
 * unread: a row stating `maxDepht`, or edited to, passed as the model's recipe). A warm
 * start sets a few parameters itself (WARM_START_SETS), which a warm-started version's row keeps as
 * its recipe had them.
 */
import type { z } from 'zod';
import type { ArtifactHeader } from '../../models/artifact';
import { logisticParamsSchema, logisticRegression } from '../../models/baselines/logistic-regression';
import { mlp, mlpParamsSchema, sequenceModel, sequenceParamsSchema } from '../../models/neural';
import { svm, svmParamsSchema } from '../../models/svm/svm';
import { gradientBoosting, gradientBoostingParamsSchema } from '../../models/trees/gradient-boosting';
import { randomForest, randomForestParamsSchema } from '../../models/trees/random-forest';
import { majority } from '../../models/baselines/majority';
import { ALGORITHM_PARAMETERS, unknownParameterMessage, unknownParameters } from '../experiments/algorithm-parameters';

/** What a registry row records that the artifact's header also carries (lineage: only to know a warm start). */
export interface RecordedFields {
  algorithm: string;
  featureSetVersion: string;
  label: Record<string, unknown>;
  params: Record<string, unknown>;
  lineage: Record<string, unknown>;
}

/**
 * Each algorithm's parameter schema, as its fit reads parameters; undefined for one without
 * parameters. Every algorithm of models/algorithms.ts is listed (a unit test checks it); one that is
 * not would have its row's parameters compared with the header's as they are.
 */
export const PARAMETER_SCHEMAS: ReadonlyMap<string, z.ZodObject | undefined> = new Map<string, z.ZodObject | undefined>([
  [majority.name, undefined],
  [logisticRegression.name, logisticParamsSchema],
  [randomForest.name, randomForestParamsSchema],
  [gradientBoosting.name, gradientBoostingParamsSchema],
  [svm.name, svmParamsSchema],
  [mlp.name, mlpParamsSchema],
  [sequenceModel.name, sequenceParamsSchema],
]);

/**
 * Parameters a warm start sets itself (models/*: continueFit): a continued forest keeps its
 * champion's size, a continued network trains the warm start's epochs.
 */
export const WARM_START_SETS: ReadonlyMap<string, readonly string[]> = new Map([
  [randomForest.name, ['nEstimators']],
  [mlp.name, ['epochs']],
]);

/** Keys sorted at every level, so two equal values compare equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v));
}

function shown(value: unknown): string {
  if (value === undefined) return 'none';
  const json = canonicalJson(value);
  return json.length > 80 ? `${json.slice(0, 79)}…` : json;
}

/** Was this version trained by continuing a champion? (the header's own mark, or the pipeline's lineage) */
function warmStarted(row: RecordedFields, header: ArtifactHeader): boolean {
  return header.params.warmStart !== undefined || row.lineage.warmStartedFrom !== undefined;
}

/**
 * The first field on which the row and the header disagree, as "<field> differs: the artifact has
 * X, the <recordedBy> says Y" (or "params.<key>: <algorithm> has no parameter …" for a key the
 * model cannot have), or undefined when they agree.
 */
export function recordedFieldMismatch(row: RecordedFields, header: ArtifactHeader, recordedBy: 'registry' | 'registration'): string | undefined {
  const differs = (field: string, artifact: unknown, recorded: unknown) => `${field} differs: the artifact has ${shown(artifact)}, the ${recordedBy} says ${shown(recorded)}`;
  if (header.algorithm !== row.algorithm) return differs('algorithm', header.algorithm, row.algorithm);
  if (header.featureSetVersion !== row.featureSetVersion) return differs('featureSetVersion', header.featureSetVersion, row.featureSetVersion);
  if (canonicalJson(header.label) !== canonicalJson(row.label)) return differs('label', header.label, row.label);
  const schema = PARAMETER_SCHEMAS.get(header.algorithm);
  const setByWarmStart = warmStarted(row, header) ? (WARM_START_SETS.get(header.algorithm) ?? []) : [];
  // The parameters a row may state: its algorithm's (the names experiments are held to), else the model's own.
  const known = ALGORITHM_PARAMETERS[header.algorithm] ?? Object.keys(header.params);
  const unknown = new Set(unknownParameters(header.algorithm, row.params, known));
  for (const key of Object.keys(row.params).sort()) {
    if (setByWarmStart.includes(key)) continue;
    const field = schema && Object.hasOwn(schema.shape, key) ? schema.shape[key] : undefined;
    // A key neither the algorithm nor the model has: the schema would drop it unread, so the row
    // states a parameter the model was not trained with (a misspelt name, an edit).
    if (unknown.has(key) && !Object.hasOwn(header.params, key)) return `params.${key}: ${unknownParameterMessage(header.algorithm, key, known)}, so the model was not trained with it`;
    const read = field?.safeParse(row.params[key]);
    const recorded = read?.success ? read.data : row.params[key];
    if (canonicalJson(recorded) !== canonicalJson(header.params[key])) return differs(`params.${key}`, header.params[key], row.params[key]);
  }
  return undefined;
}
