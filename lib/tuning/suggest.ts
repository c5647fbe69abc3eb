/**
 * The searchers behind one entry point, as experiment configs name them (search.method). Pure computation
 * (workflow-safe): the same arguments always give the same params.
 */
import { suggestRandom } from './random-search';
import type { Params, SearchSpace } from './search-space';
import { suggestTpe, type CompletedTrial, type TpeOptions } from './tpe';

export type SearchMethod = 'random' | 'tpe';

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
