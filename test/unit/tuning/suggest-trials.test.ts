import { searchSpaceSchema, type Params } from '../../../lib/tuning/search-space';
import { scoreForRequest, suggestParams, suggestTrials, type SuggestionRequest } from '../../../lib/tuning/suggest';
import type { CompletedTrial } from '../../../lib/tuning/tpe';

const space = searchSpaceSchema.parse({
  C: { type: 'float', low: 0.01, high: 10, log: true },
  depth: { type: 'int', low: 2, high: 8 },
  kind: { type: 'choice', values: ['a', 'b'] },
  fixed: 3,
});
const score = (p: Params) => -Math.abs(Math.log10(p.C as number)) - Math.abs((p.depth as number) - 5) / 10;

/** A search as trainAlgorithm runs it: batches of `parallelism`, each suggested from earlier batches only. */
function search(method: 'tpe' | 'random', seed: number, budget: number, parallelism: number, fail: (trial: number) => boolean): CompletedTrial[] {
  const history: CompletedTrial[] = [];
  for (let start = 0; start < budget; start += parallelism) {
    const trials = Array.from({ length: Math.min(parallelism, budget - start) }, (_, k) => start + k);
    // Through JSON, as the request and answer of a Temporal activity travel.
    const request: SuggestionRequest = JSON.parse(JSON.stringify({ method, space, seed, trials, history: history.map((h) => ({ ...h, score: scoreForRequest(h.score) })), budget }));
    const params = JSON.parse(JSON.stringify(suggestTrials(request))) as Params[];
    params.forEach((p, k) => history.push({ index: trials[k], params: p, score: fail(trials[k]) ? Number.NaN : score(p) }));
  }
  return history;
}

describe('suggestTrials (the search step activity)', () => {
  it('gives, for each trial of a batch, what suggestParams gives from the same history', () => {
    const history: CompletedTrial[] = [0, 1, 2, 3, 4, 5].map((i) => ({ index: i, params: suggestParams('random', space, [], 11, i), score: i === 2 ? Number.NaN : i / 10 }));
    const request = { method: 'tpe' as const, space, seed: 11, trials: [6, 7, 8], history: history.map((h) => ({ ...h, score: scoreForRequest(h.score) })), budget: 12 };
    const suggested = suggestTrials(request);
    expect(suggested).toEqual([6, 7, 8].map((i) => suggestParams('tpe', space, history, 11, i, { budget: 12 })));
    expect(new Set(suggested.map((p) => JSON.stringify(p))).size).toBe(3);
    for (const p of suggested) expect(p.fixed).toBe(3);
  });

  it('ranks a failed trial (null score after JSON) as the worst, as NaN does in memory', () => {
    const history: CompletedTrial[] = [0, 1, 2, 3].map((i) => ({ index: i, params: suggestParams('random', space, [], 5, i), score: i === 0 ? Number.NaN : 0.5 + i / 100 }));
    const viaJson = JSON.parse(JSON.stringify({ method: 'tpe', space, seed: 5, trials: [4, 5], history: history.map((h) => ({ ...h, score: scoreForRequest(h.score) })), budget: 6 }));
    expect(viaJson.history[0].score).toBeNull();
    expect(suggestTrials(viaJson)).toEqual([4, 5].map((i) => suggestParams('tpe', space, history, 5, i, { budget: 6 })));
  });

  it('repeats a whole search for the same seed and differs for another', () => {
    const fail = (t: number) => t % 5 === 3;
    const a = search('tpe', 7, 16, 2, fail);
    expect(search('tpe', 7, 16, 2, fail)).toEqual(a);
    expect(search('tpe', 8, 16, 2, fail).map((t) => t.params)).not.toEqual(a.map((t) => t.params));
    expect(search('random', 7, 6, 3, fail)).toEqual(search('random', 7, 6, 3, fail));
  });

  it('refuses a malformed request, naming the field', () => {
    expect(() => suggestTrials({ method: 'tpe', space, seed: 1, trials: [], history: [], budget: 4 })).toThrow(/trials: /);
    expect(() => suggestTrials({ method: 'grid' as 'tpe', space, seed: 1, trials: [0], history: [], budget: 4 })).toThrow(/method/);
    expect(() => suggestTrials({ method: 'tpe', space, seed: -1, trials: [0], history: [], budget: 4 })).toThrow(/seed/);
  });
});
