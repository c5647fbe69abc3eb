/**
 * The prediction API's wire format: request and response schemas, shared by the server (validation),
 * the OpenAPI document (z.toJSONSchema) and the typed client (response validation).
 */
import { z } from 'zod';
import { symbolSchema } from '../lib/market-data/symbols';
import { isWellFormedText, normaliseControlCharacters, WELL_FORMED_TEXT_RULE } from '../lib/well-formed-text';

// The one symbol rule (lib/market-data/symbols.ts): $ and ^ series such as $VIX are symbols too.
export { SYMBOL_INPUT_PATTERN as SYMBOL_PATTERN, symbolSchema } from '../lib/market-data/symbols';
export const MAX_SYMBOLS_PER_REQUEST = 500;

/** The registry's model-name rule (lib/registry/model-registry.ts). */
export const modelNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a registered model name: lower-case letters, digits, ".", "_" or "-" (at most 64)');

/**
 * Text of a request that is stored (a routing key, a reason): no lone surrogate, which the store
 * would save as U+FFFD, so what is read back (a retried rollback's reason) would differ from what was sent.
 */
const wellFormed = (schema: z.ZodString) => schema.refine(isWellFormedText, WELL_FORMED_TEXT_RULE);

/**
 * A reason kept in a history people read (alias and route history, `mlp models history`): well-formed,
 * and one line without control characters, which could drive the terminal it is printed on or fake
 * lines of the history. They are normalised (normaliseControlCharacters, as writeServingRoutes and
 * rollbackModel store it), not refused: a 400 in the middle of an emergency rollback because of a
 * pasted newline helps nobody. What is left must still say why (`why`: the message when nothing is).
 */
const storedReason = (schema: z.ZodString, why: string) => wellFormed(schema.min(1, why)).transform(normaliseControlCharacters).pipe(z.string().min(1, why));

/**
 * Sticky routing key (hashed to pick an A/B or canary variant, stored in prediction_log.routing_key,
 * at most 128 characters): printable ASCII, U+0020 to U+007E. Control characters could drive a
 * terminal the stored key is printed on, and non-ASCII text can look like another key (a
 * non-breaking hyphen, a bidi override) while it routes apart. Refused, not normalised: a key that
 * changed on the way in would route a client apart from its other requests.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_IN_KEY = /[\u0000-\u001f\u007f-\u009f]/;
const NON_ASCII = /[\u0080-\uffff]/;
export const routingKeySchema = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .refine((key) => !CONTROL_IN_KEY.test(key), 'must not hold control characters (a newline, a tab, ESC, DEL, C1): printable ASCII only, U+0020 to U+007E')
  .refine((key) => !NON_ASCII.test(key) || CONTROL_IN_KEY.test(key), 'must be ASCII (no accented letters, look-alike punctuation, invisible or bidi characters, emoji): printable ASCII only, U+0020 to U+007E');

export const predictionsRequestSchema = z.strictObject({
  model: modelNameSchema.optional().describe('registry model name; defaults to the only served model'),
  symbols: z
    .array(symbolSchema)
    .min(1, 'must list at least one symbol')
    .max(MAX_SYMBOLS_PER_REQUEST, `must list at most ${MAX_SYMBOLS_PER_REQUEST} symbols; split the request`),
  key: routingKeySchema.optional().describe('routing key (e.g. a client id): printable ASCII, 1 to 128 characters; defaults to each symbol'),
});
export type PredictionsRequest = z.infer<typeof predictionsRequestSchema>;

export const symbolParamsSchema = z.strictObject({ symbol: symbolSchema });
export const modelParamsSchema = z.strictObject({ model: modelNameSchema });
export const predictionQuerySchema = z.strictObject({
  model: modelNameSchema.optional(),
  key: routingKeySchema.optional(),
});

/** A label definition (lib/labels/labels.ts labelSpecSchema, defaults filled): its kind and horizon, then the kind's own parameters. */
export const labelSummarySchema = z
  .looseObject({
    kind: z.string().describe('direction, triple_barrier or volatility_regime'),
    horizon: z.number().int().describe('bars after asOf at which the outcome is measured'),
  })
  .describe("the label of the version that answered: what `probability` is the probability of (versions of one model may differ); other keys are the kind's parameters, e.g. deadZone");

export const predictionSchema = z.object({
  symbol: z.string(),
  model: z.string(),
  version: z.number().int(),
  variant: z.string(),
  /** Probability of class 1 (up). */
  probability: z.number(),
  class: z.number().int(),
  asOf: z.string(),
  // Optional so a client of this version still reads an older server's answers.
  sessionsBehind: z.number().int().min(0).optional().describe("trading sessions whose bars were due (their close plus the API's grace, API_FEATURE_GRACE_MINUTES) after asOf: 0 when the features are current"),
  stale: z.boolean().optional().describe('true when sessionsBehind > 0: the prediction was made from features older than the latest session due'),
  featureSetVersion: z.string(),
  label: labelSummarySchema.optional(),
});
export type PredictionResult = z.infer<typeof predictionSchema>;

export const symbolErrorSchema = z.object({ symbol: z.string(), error: z.string() });
export type SymbolError = z.infer<typeof symbolErrorSchema>;

export const predictionsResponseSchema = z.object({
  predictions: z.array(predictionSchema),
  errors: z.array(symbolErrorSchema),
});
export type PredictionsResponse = z.infer<typeof predictionsResponseSchema>;

export const routeSchema = z.strictObject({
  variant: z.string().regex(/^[A-Za-z][\w-]{0,31}$/, 'must be a variant name such as champion, canary, A or B'),
  version: z.number().int().min(1),
  weight: z.number().min(0).max(1),
});

export const servingRoutesViewSchema = z.object({
  model: z.string(),
  generation: z.number().int(),
  mode: z.enum(['single', 'canary', 'ab']),
  routes: z.array(z.object({ variant: z.string(), version: z.number().int(), weight: z.number() })),
  shadow: z.object({ version: z.number().int() }).nullable(),
  reference: z.string().nullable(),
  updatedBy: z.string(),
  reason: z.string(),
  updatedAt: z.string(),
});
export type ServingRoutesView = z.infer<typeof servingRoutesViewSchema>;

export const loadedVersionSchema = z.object({
  version: z.number().int(),
  algorithm: z.string(),
  artifactSha256: z.string(),
  featureSetVersion: z.string(),
  createdAt: z.string(),
});

export const withdrawnVersionSchema = z.object({
  version: z.number().int(),
  /** Its variants in the routes as written ("shadow" for the shadow). */
  variants: z.array(z.string()),
  /** Share of requests it was routed, now answered by `servedBy`. */
  weight: z.number(),
  /** signature, row_mismatch, vetoed, label_mismatch, row_missing or artifact_invalid (lib/serving/withdrawal.ts; a string, so clients read future reasons too). */
  reason: z.string(),
  message: z.string(),
  at: z.string(),
});

export const servedModelSchema = z.object({
  model: z.string(),
  /** Present when the routes serve another champion than the registry's champion alias names (a routes row or the alias edited by hand): why. Served as routed. */
  championMismatch: z.string().optional(),
  /** The routes served (without any withdrawn version). */
  routes: servingRoutesViewSchema,
  versions: z.array(loadedVersionSchema),
  loadedAt: z.string(),
  /** Present when versions the routes name are withdrawn (refused by verification): the routes as written and what answers their traffic. */
  degraded: z
    .object({
      routesAsWritten: servingRoutesViewSchema,
      servedBy: z.object({ variant: z.string(), version: z.number().int() }),
      withdrawn: z.array(withdrawnVersionSchema),
    })
    .optional(),
});
export type ServedModel = z.infer<typeof servedModelSchema>;

export const modelsResponseSchema = z.object({ models: z.array(servedModelSchema) });
export type ModelsResponse = z.infer<typeof modelsResponseSchema>;

export const writeRoutesRequestSchema = z.strictObject({
  mode: z.enum(['single', 'canary', 'ab']),
  routes: z.array(routeSchema).min(1, 'must list at least one route'),
  shadow: z.strictObject({ version: z.number().int().min(1) }).optional(),
  reference: wellFormed(z.string().min(1)).optional().describe('served variant that also predicts, unserved, on requests routed elsewhere'),
  salt: wellFormed(z.string().min(1).max(64)).optional(),
  reason: storedReason(z.string().max(1000), 'must say why the split changes'),
  expectedGeneration: z.number().int().min(0).optional().describe('refuse the change when the current generation differs'),
});
export type WriteRoutesRequest = z.infer<typeof writeRoutesRequestSchema>;

export const writeRoutesResponseSchema = z.object({ routes: servingRoutesViewSchema });

export const rollbackRequestSchema = z.strictObject({
  toVersion: z.number().int().min(1).optional().describe('defaults to the previous champion in the alias history'),
  reason: storedReason(z.string().max(1000), 'must say why the model is rolled back'),
});
export type RollbackRequest = z.infer<typeof rollbackRequestSchema>;

export const rollbackResponseSchema = z.object({
  model: z.string(),
  fromVersion: z.number().int().nullable(),
  toVersion: z.number().int(),
  routes: servingRoutesViewSchema,
  deployments: z
    .array(
      z.object({
        id: z.string(),
        stopped: z.boolean().describe('true once the deployment accepted the abort; false when it could not be asked, the ask failed, or it was not accepted within a few seconds'),
        detail: z.string().describe('the state the abort left, or why it is not stopped yet: "abort sent but not accepted within 5 s" means no worker has taken the workflow; it stops when one does'),
      }),
    )
    .describe('running deployments of the model, each asked to stop (abort) so that it cannot move the traffic again; the answer waits a few seconds at most for each'),
});
export type RollbackResponse = z.infer<typeof rollbackResponseSchema>;

export const errorResponseSchema = z.object({ error: z.string(), message: z.string() });
export type ErrorResponse = z.infer<typeof errorResponseSchema>;

export const readinessResponseSchema = z.object({
  ready: z.boolean(),
  checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional() })),
});
export type ReadinessResponse = z.infer<typeof readinessResponseSchema>;
