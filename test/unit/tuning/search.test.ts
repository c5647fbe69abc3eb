import { rng } from '../../../lib/random';
import { suggestRandom, trialSeed } from '../../../lib/tuning/random-search';
import { paramsKey, searchSpaceSchema, type Params, type SearchSpace } from '../../../lib/tuning/search-space';
import { suggestParams } from '../../../lib/tuning/suggest';
import { defaultStartupTrials, suggestTpe, type CompletedTrial } from '../../../lib/tuning/tpe';

const space: SearchSpace = searchSpaceSchema.parse({
  x: { type: 'float', low: 0, high: 1 },
  y: { type: 'float', low: 1e-4, high: 1, log: true },
  n: { type: 'int', low: 1, high: 64, log: true },
  kind: { type: 'choice', values: ['a', 'b', 'c'] },
  epochs: 20,
});

/** Synthetic objective, maximised at x = 0.7, y = 1e-2, n = 8, kind = 'b'. */
const objective = (p: Params) =>
  -(((p.x as number) - 0.7) ** 2) - (Math.log10(p.y as number) + 2) ** 2 - 0.1 * Math.log2(p.n as number / 8) ** 2 / 9 - (p.kind === 'b' ? 0 : 0.2);

function runTpe(s: SearchSpace, seed: number, budget: number, f: (p: Params) => number): CompletedTrial[] {
  const history: CompletedTrial[] = [];
  for (let i = 0; i < budget; i++) {
    const params = suggestTpe(s, history, seed, i, { budget });
    history.push({ index: i, params, score: f(params) });
  }
  return history;
}

function expectInSpace(p: Readonly<Record<string, unknown>>) {
  expect(p.x).toBeGreaterThanOrEqual(0);
  expect(p.x).toBeLessThanOrEqual(1);
  expect(p.y).toBeGreaterThanOrEqual(1e-4);
  expect(p.y).toBeLessThanOrEqual(1);
  expect(Number.isInteger(p.n)).toBe(true);
  expect(p.n).toBeGreaterThanOrEqual(1);
  expect(p.n).toBeLessThanOrEqual(64);
  expect(['a', 'b', 'c']).toContain(p.kind);
  expect(p.epochs).toBe(20);
}

describe('suggestRandom', () => {
  it('depends only on (seed, trial index)', () => {
    expect(suggestRandom(space, 5, 3)).toEqual(suggestRandom(space, 5, 3));
    expect(suggestRandom(space, 5, 3)).not.toEqual(suggestRandom(space, 5, 4));
    expect(suggestRandom(space, 5, 3)).not.toEqual(suggestRandom(space, 6, 3));
    for (let i = 0; i < 50; i++) expectInSpace(suggestRandom(space, 1, i));
  });

  it('derives unrelated PRNG seeds for neighbouring seeds and indices', () => {
    const seeds = new Set<number>();
    for (let s = 0; s < 20; s++) for (let i = 0; i < 50; i++) seeds.add(trialSeed(s, i));
    expect(seeds.size).toBe(1000);
    // First draws across trial indices look uniform (no shifted-stream correlation).
    const first = Array.from({ length: 1000 }, (_, i) => rng(trialSeed(1, i))());
    expect(first.reduce((a, b) => a + b, 0) / first.length).toBeCloseTo(0.5, 1);
    expect(() => trialSeed(-1, 0)).toThrow(RangeError);
    expect(() => trialSeed(0, 1.5)).toThrow(RangeError);
  });
});

describe('suggestTpe', () => {
  const history = runTpe(space, 3, 25, objective);

  it('starts with the random suggestions, then stays within the space', () => {
    expect(defaultStartupTrials()).toBe(10);
    expect(defaultStartupTrials(40)).toBe(10);
    expect(defaultStartupTrials(12)).toBe(4);
    expect(defaultStartupTrials(1)).toBe(1);
    for (let i = 0; i < 9; i++) expect(history[i].params).toEqual(suggestRandom(space, 3, i)); // budget 25 → 9 start-up trials
    expect(history[9].params).not.toEqual(suggestRandom(space, 3, 9));
    for (const t of history) expectInSpace(t.params);
    // Random while nothing usable has completed, whatever the index.
    expect(suggestTpe(space, [], 3, 30)).toEqual(suggestRandom(space, 3, 30));
  });

  it('is deterministic and does not depend on the order trials completed in', () => {
    const a = suggestTpe(space, history, 3, 25);
    expect(suggestTpe(space, history, 3, 25)).toEqual(a);
    const shuffled = [...history].reverse();
    const r = rng(9);
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    expect(suggestTpe(space, shuffled, 3, 25)).toEqual(a);
    // Key order of the params does not matter either.
    const reKeyed = history.map((t) => ({ ...t, params: Object.fromEntries(Object.entries(t.params).reverse()) }));
    expect(suggestTpe(space, reKeyed, 3, 25)).toEqual(a);
    expect(suggestTpe(space, history, 3, 26)).not.toEqual(a);
    expect(suggestTpe(space, history, 4, 25)).not.toEqual(a);
  });

  it('copes with equal scores, NaN scores and foreign params', () => {
    const equal = history.map((t) => ({ ...t, score: 0.5 }));
    expectInSpace(suggestTpe(space, equal, 1, 25));
    const nan = history.map((t, i) => ({ ...t, score: i % 3 === 0 ? NaN : t.score }));
    expectInSpace(suggestTpe(space, nan, 1, 25));
    const allNaN = history.map((t) => ({ ...t, score: NaN }));
    expectInSpace(suggestTpe(space, allNaN, 1, 25));
    // Trials whose params do not fit the space are ignored, not fatal.
    const foreign = [...history, { index: 99, params: { x: 7, y: 'no', n: 1.5, kind: 'z' }, score: 1 }, { index: 100, params: {}, score: 1 }];
    expect(suggestTpe(space, foreign, 1, 25)).toEqual(suggestTpe(space, history, 1, 25));
  });

  it('treats NaN as the worst score', () => {
    // Only the NaN trials sit near x = 0.1; TPE must not move there.
    const s = searchSpaceSchema.parse({ x: { type: 'float', low: 0, high: 1 } });
    const h: CompletedTrial[] = [];
    for (let i = 0; i < 30; i++) {
      const x = i % 2 === 0 ? 0.1 + i * 0.001 : 0.9 - i * 0.001;
      h.push({ index: i, params: { x }, score: i % 2 === 0 ? NaN : -Infinity });
    }
    for (let i = 30; i < 40; i++) expect(suggestTpe(s, h, 1, i).x).toBeGreaterThan(0.5);
  });

  it('handles one dimension, only choices, ints and fixed-only spaces', () => {
    const one = searchSpaceSchema.parse({ x: { type: 'float', low: -5, high: 5 } });
    const h1 = runTpe(one, 2, 30, (p) => -(((p.x as number) - 2) ** 2));
    expect(Math.max(...h1.map((t) => t.score))).toBeGreaterThan(-0.01);

    const choices = searchSpaceSchema.parse({ k: { type: 'choice', values: ['a', 'b', 'c', 'd'] }, flag: { type: 'choice', values: [true, false] }, fixed: 'z' });
    const h2 = runTpe(choices, 2, 30, (p) => (p.k === 'c' ? 1 : 0) + (p.flag === true ? 0.5 : 0));
    expect(h2.every((t) => t.params.fixed === 'z')).toBe(true);
    // Every combination is tried (TPE avoids repeats while untried ones are among its candidates) …
    expect(new Set(h2.map((t) => paramsKey(t.params))).size).toBe(8);
    // … and later suggestions concentrate on the choice that matters most.
    expect(h2.slice(20).filter((t) => t.params.k === 'c').length).toBeGreaterThanOrEqual(7);

    const ints = searchSpaceSchema.parse({ n: { type: 'int', low: 1, high: 1000, log: true } });
    const h3 = runTpe(ints, 2, 30, (p) => -Math.abs(Math.log((p.n as number) / 50)));
    for (const t of h3) expect(Number.isInteger(t.params.n)).toBe(true);
    expect(Math.max(...h3.map((t) => t.score))).toBeGreaterThan(-0.15);

    const fixedOnly = searchSpaceSchema.parse({ a: 1, b: 'x' });
    expect(suggestTpe(fixedOnly, [], 1, 20)).toEqual({ a: 1, b: 'x' });
    expect(suggestTpe({}, [{ index: 0, params: {}, score: 1 }], 1, 20)).toEqual({});
  });

  it('rejects bad options', () => {
    expect(() => suggestTpe(space, history, 1, 25, { gamma: 0 })).toThrow(RangeError);
    expect(() => suggestTpe(space, history, 1, 25, { nCandidates: 0 })).toThrow(RangeError);
    expect(() => suggestTpe(space, history, 1, 25, { nStartup: -1 })).toThrow(RangeError);
  });

  it('beats random search on a synthetic objective', () => {
    // Maximise −(x − 0.7)² − (log10 y + 2)² over x ∈ [0, 1], y ∈ [1e-4, 1] (log), 40 trials, 10 seeds.
    const s = searchSpaceSchema.parse({ x: { type: 'float', low: 0, high: 1 }, y: { type: 'float', low: 1e-4, high: 1, log: true } });
    const f = (p: Params) => -(((p.x as number) - 0.7) ** 2) - (Math.log10(p.y as number) + 2) ** 2;
    const budget = 40;
    let randomSum = 0;
    let tpeSum = 0;
    let tpeWins = 0;
    for (let seed = 0; seed < 10; seed++) {
      let randomBest = -Infinity;
      for (let i = 0; i < budget; i++) randomBest = Math.max(randomBest, f(suggestRandom(s, seed, i)));
      const tpeBest = Math.max(...runTpe(s, seed, budget, f).map((t) => t.score));
      randomSum += randomBest;
      tpeSum += tpeBest;
      if (tpeBest > randomBest) tpeWins++;
    }
    expect(tpeSum / 10).toBeGreaterThan(randomSum / 10);
    expect(tpeWins).toBeGreaterThanOrEqual(6);
  });
});

describe('suggestParams', () => {
  it('dispatches on the method', () => {
    const history = runTpe(space, 3, 15, objective);
    expect(suggestParams('random', space, history, 3, 15)).toEqual(suggestRandom(space, 3, 15));
    expect(suggestParams('tpe', space, history, 3, 15)).toEqual(suggestTpe(space, history, 3, 15));
    expect(suggestParams('tpe', space, history, 3, 15, { nCandidates: 5 })).toEqual(suggestTpe(space, history, 3, 15, { nCandidates: 5 }));
  });
});
