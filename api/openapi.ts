/**
 * The OpenAPI 3.1 document of the prediction API, generated from the same zod schemas the server
 * validates with, so the document cannot drift from the behaviour.
 */
import { z } from 'zod';
import {
  errorResponseSchema,
  modelParamsSchema,
  modelsResponseSchema,
  predictionQuerySchema,
  predictionsRequestSchema,
  predictionsResponseSchema,
  readinessResponseSchema,
  rollbackRequestSchema,
  rollbackResponseSchema,
  symbolParamsSchema,
  writeRoutesRequestSchema,
  writeRoutesResponseSchema,
} from './schemas';

type JsonSchema = Record<string, unknown>;

/** JSON Schema 2020-12 (OpenAPI 3.1's dialect), without the per-schema `$schema` marker. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const generated = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as JsonSchema;
  delete generated.$schema;
  return generated;
}

const json = (schema: z.ZodType, io: 'input' | 'output') => ({ 'application/json': { schema: jsonSchema(schema, io) } });

function parameters(schema: z.ZodObject, where: 'path' | 'query') {
  const shape = jsonSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(shape.properties ?? {}).map(([name, s]) => ({ name, in: where, required: where === 'path' || (shape.required ?? []).includes(name), schema: s }));
}

const errorResponse = (description: string) => ({ description, content: json(errorResponseSchema, 'output') });

/** The Retry-After header of every 429 and 503 (api/server.ts). */
const RETRY_AFTER = { 'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 1 } } };
const SHUTTING_DOWN = 'the process is shutting down (shutting_down: another instance, or this one restarted, answers)';

/** A 503: what the route itself answers it for (if anything), and shutting down, which any route answers; always with Retry-After. */
const unavailable = (why?: string) => ({ ...errorResponse(`${why ? `${why}; or ${SHUTTING_DOWN}` : `${SHUTTING_DOWN[0].toUpperCase()}${SHUTTING_DOWN.slice(1)}`}. Retry after Retry-After seconds`), headers: RETRY_AFTER });

const COMMON_ERRORS = {
  '400': errorResponse('Malformed request; the message names each field and problem'),
  '401': errorResponse('Missing or invalid bearer token'),
  '403': errorResponse('The token lacks the scope this route needs'),
  '429': { headers: RETRY_AFTER, ...errorResponse('Too many failed authentications from this address (or, on the prediction routes, too many predictions for this token or address); Retry-After says when to try again') },
  '414': errorResponse('A path segment of the URL is longer than any route takes (uri_too_long)'),
  '431': errorResponse('The request headers (or the URL) exceed the server\'s limit (headers_too_large)'),
  '500': errorResponse('The server failed on this request (internal_error); it is logged: retry or report it'),
  '503': unavailable(),
};

/** What a route that reads a JSON body also answers. */
const BODY_ERRORS = {
  '413': errorResponse('The request body is larger than the server accepts (body_too_large)'),
};

/** The model is routed but cannot answer (not loaded yet, its versions failed verification, or its routes row cannot be read). */
const MODEL_LOADING = unavailable('The model has serving routes but is not loaded (not yet, its versions failed verification, or its routes cannot be read): model_loading');
/** Another process holds the store's write lock (SQLite) longer than the API waits: nothing was written. */
const STORE_BUSY = unavailable('Another process holds the store\'s write lock (store_busy, naming the store): nothing was changed');
/** What a write that names versions refuses with (the routes and alias are unchanged). */
const VERSION_REFUSED = errorResponse('A version named is refused: of another label than the served ones (label_mismatch), its artifact fails verification (artifact_invalid), or its evaluation vetoes serving (serving_vetoed)');

export function buildOpenApiDocument(serverUrl?: string): Record<string, unknown> {
  const predict = [{ bearer: ['predict'] }];
  const admin = [{ bearer: ['admin'] }];
  return {
    openapi: '3.1.0',
    info: {
      title: 'Prediction API',
      version: '1',
      description: 'Serves the registry models named by their serving routes. Requests are routed by a sticky hash of `key` (default: the symbol); every prediction is logged.',
    },
    ...(serverUrl ? { servers: [{ url: serverUrl }] } : {}),
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token from API_TOKENS with the scope the route needs (predict or admin).' } },
    },
    paths: {
      '/v1/predictions': {
        post: {
          summary: 'Predict for up to 500 symbols',
          security: predict,
          requestBody: { required: true, content: json(predictionsRequestSchema, 'input') },
          responses: { '200': { description: 'Predictions, and per-symbol errors (e.g. no online features)', content: json(predictionsResponseSchema, 'output') }, ...COMMON_ERRORS, ...BODY_ERRORS, '404': errorResponse('Unknown or unserved model'), '503': MODEL_LOADING },
        },
      },
      '/v1/predictions/{symbol}': {
        get: {
          summary: 'Predict for one symbol',
          security: predict,
          parameters: [...parameters(symbolParamsSchema, 'path'), ...parameters(predictionQuerySchema, 'query')],
          responses: { '200': { description: 'The prediction', content: json(predictionsResponseSchema, 'output') }, ...COMMON_ERRORS, '404': errorResponse('Unknown model, or no online features for the symbol'), '409': errorResponse('The symbol\'s online features are withheld (they read an unadjusted split); the message says why and until when'), '500': errorResponse('The model failed on this symbol, or the server failed on this request (internal_error)'), '503': unavailable('The model is not loaded (model_loading), or the online features could not be read (features_unavailable)') },
        },
      },
      '/v1/models': {
        get: {
          summary: 'Served models: traffic split and loaded versions',
          security: predict,
          responses: { '200': { description: 'Served models', content: json(modelsResponseSchema, 'output') }, '401': COMMON_ERRORS['401'], '403': COMMON_ERRORS['403'], '429': COMMON_ERRORS['429'], '431': COMMON_ERRORS['431'], '500': COMMON_ERRORS['500'], '503': COMMON_ERRORS['503'] },
        },
      },
      '/v1/admin/routes/{model}': {
        put: {
          summary: 'Change the traffic split of a model',
          security: admin,
          parameters: parameters(modelParamsSchema, 'path'),
          requestBody: { required: true, content: json(writeRoutesRequestSchema, 'input') },
          responses: { '200': { description: 'The routes now stored (unchanged generation when nothing changed)', content: json(writeRoutesResponseSchema, 'output') }, ...COMMON_ERRORS, ...BODY_ERRORS, '409': errorResponse('expectedGeneration differs from the current one (conflict), or the split would serve another champion than the champion alias names (champion_mismatch), or with MODEL_SIGNING_KEY the champion alias is not as a key holder wrote it (serving_routes_tampered)'), '422': VERSION_REFUSED, '503': STORE_BUSY },
        },
      },
      '/v1/admin/rollback/{model}': {
        post: {
          summary: 'Serve one version on all traffic and make it the champion',
          security: admin,
          parameters: parameters(modelParamsSchema, 'path'),
          requestBody: { required: true, content: json(rollbackRequestSchema, 'input') },
          responses: { '200': { description: 'Rolled back', content: json(rollbackResponseSchema, 'output') }, ...COMMON_ERRORS, ...BODY_ERRORS, '422': VERSION_REFUSED, '503': STORE_BUSY },
        },
      },
      '/healthz': {
        get: { summary: 'The process is alive', security: [], responses: { '200': { description: 'Alive' }, '503': unavailable() } },
        head: { summary: 'The process is alive (status only)', security: [], responses: { '200': { description: 'Alive' }, '503': { description: 'Shutting down; retry after Retry-After seconds', headers: RETRY_AFTER } } },
      },
      '/readyz': {
        get: {
          summary: 'Whether the process can serve predictions: models loaded, and the store or the cache answering (one of them down: 200, its check saying degraded; both down: 503)',
          security: [],
          responses: { '200': { description: 'Ready', content: json(readinessResponseSchema, 'output') }, '503': { description: 'Not ready (the checks say why; shutting down: the error shape, shutting_down); retry after Retry-After seconds', headers: RETRY_AFTER, content: json(readinessResponseSchema, 'output') } },
        },
        head: { summary: 'Whether the process can serve predictions (status only)', security: [], responses: { '200': { description: 'Ready' }, '503': { description: 'Not ready, or shutting down; retry after Retry-After seconds', headers: RETRY_AFTER } } },
      },
      '/metrics': { get: { summary: 'Prometheus metrics', security: [], responses: { '200': { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } }, '503': unavailable() } } },
      '/openapi.json': { get: { summary: 'This document', security: [], responses: { '200': { description: 'OpenAPI 3.1 document' }, '503': unavailable() } } },
    },
  };
}
