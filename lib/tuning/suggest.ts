/**
 * The searchers behind one entry point, as experiment configs name them (search.method). Pure computation:
 * the same arguments always give the same params. Workflows call it through the suggestTrials activity
 * (a TPE step over a long history is too slow for a workflow task).
 */
import { z } from 'zod';
import { BadInputError, describeValidationError } from '../errors';
import { suggestRandom } from './random-search';
import { searchSpaceSchema, type Params, type SearchSpace } from './search-space';
import { suggestTpe, type CompletedTrial, type TpeOptions } from './tpe';

export const SEARCH_METHODS = ['random', 'tpe'] as const;
export type SearchMethod = (typeof SEARCH_METHODS)[number];

/**
 * Params for trial `index` of a search with `seed`. `history` holds the completed trials (any order;
 * higher score is better, NaN = failed); random search ignores it. `options` tune TPE only.
 */
export function suggestParams(method: SearchMethod, space: SearchSpace, history: readonly CompletedTrial[], seed: number, index: number, options?: TpeOptions): Params {
  switch (method) {
    case 'random':
      return suggestRandom(space, seed, index);
    case 'tpe':
      return suggestTpe(space, history, seed, index, options);
    default: {
      const never: never = method;
      throw new RangeError(`unknown search method ${String(never)}`);
    }
  }
}

const trialIndexSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/**
 * One batch of suggestions as it crosses Temporal (JSON): a failed trial's score travels as null,
 * since JSON has no NaN, and becomes NaN (ranked worst) again here.
 */
export const suggestionRequestSchema = z.object({
  method: z.enum(SEARCH_METHODS),
  space: searchSpaceSchema,
  seed: trialIndexSchema,
  /** The trials to suggest: one batch, all suggested from the same history so timing cannot change them. */
  trials: z.array(trialIndexSchema).min(1),
  /** Completed trials of earlier batches. */
  history: z.array(z.object({ index: trialIndexSchema, params: z.record(z.string(), z.unknown()), score: z.number().nullable().transform((s) => s ?? Number.NaN) })),
  /** The planned number of trials (TPE's default start-up count depends on it). */
  budget: z.number().int().positive(),
});
export type SuggestionRequest = z.input<typeof suggestionRequestSchema>;

/** The failed-trial score as it travels in a SuggestionRequest. */
export const scoreForRequest = (score: number): number | null => (Number.isFinite(score) ? score : null);

/** Params for each trial of the batch, in the order asked (what suggestParams gives for each). */
export function suggestTrials(input: SuggestionRequest): Params[] {
  const parsed = suggestionRequestSchema.safeParse(input);
  if (!parsed.success) throw new BadInputError(`invalid suggestion request: ${describeValidationError(parsed.error)}`, 'INVALID_INPUT');
  const request = parsed.data;
  return request.trials.map((trial) => suggestParams(request.method, request.space, request.history, request.seed, trial, { budget: request.budget }));
}
