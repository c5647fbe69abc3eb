import { describeValidationError } from '../../../lib/errors';
import { rng } from '../../../lib/random';
import { dimensionsOf, fromUnit, paramsKey, sampleParams, searchSpaceSchema, toUnit, type SearchSpace } from '../../../lib/tuning/search-space';

const errorOf = (input: unknown) => {
  const r = searchSpaceSchema.safeParse(input);
  if (r.success) throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
  return describeValidationError(r.error);
};

describe('searchSpaceSchema', () => {
  it('accepts ranges, choices and fixed values', () => {
    const input = {
      lr: { type: 'float', low: 1e-4, high: 1, log: true },
      dropout: { type: 'float', low: 0, high: 0.5 },
      depth: { type: 'int', low: 2, high: 12 },
      trees: { type: 'int', low: 10, high: 1000, log: true },
      kernel: { type: 'choice', values: ['rbf', 'linear', 3, true] },
      epochs: 20,
      loss: 'log',
      balanced: false,
    };
    expect(searchSpaceSchema.parse(input)).toEqual(input);
    expect(searchSpaceSchema.parse({})).toEqual({});
  });

  it('rejects a log scale with low <= 0', () => {
    expect(errorOf({ lr: { type: 'float', low: 0, high: 1, log: true } })).toBe('lr.low: a log-scale range needs low > 0 (got 0)');
    expect(errorOf({ lr: { type: 'float', low: -1, high: 1, log: true } })).toMatch(/^lr\.low: a log-scale range needs low > 0/);
    expect(errorOf({ n: { type: 'int', low: 0, high: 10, log: true } })).toBe('n.low: a log-scale int range needs low >= 1 (got 0)');
  });

  it('rejects low >= high', () => {
    expect(errorOf({ x: { type: 'float', low: 1, high: 1 } })).toBe('x.high: float range needs low < high (got low 1, high 1)');
    expect(errorOf({ x: { type: 'float', low: 2, high: 1 } })).toMatch(/^x\.high: float range needs low < high/);
    expect(errorOf({ n: { type: 'int', low: 5, high: 3 } })).toMatch(/^n\.high: int range needs low < high/);
  });

  it('rejects empty or duplicate choices', () => {
    expect(errorOf({ k: { type: 'choice', values: [] } })).toBe('k.values: a choice needs at least one value');
    expect(errorOf({ k: { type: 'choice', values: ['a', 'a'] } })).toBe('k.values.1: duplicate choice value "a"');
  });

  it('explains malformed specs', () => {
    expect(errorOf({ n: { type: 'int', low: 1.5, high: 3 } })).toMatch(/low: int range bounds must be integers/);
    expect(errorOf({ n: { type: 'integer', low: 1, high: 3 } })).toMatch(/must be 'float', 'int' or 'choice'/);
    expect(errorOf({ x: { type: 'float', low: 0, hi: 1 } })).toMatch(/Unrecognized key: "hi"/);
    expect(errorOf({ x: null })).toMatch(/^x: expected a fixed value/);
    expect(errorOf({ x: [1, 2] })).toMatch(/^x: expected a fixed value/);
  });
});

const space: SearchSpace = searchSpaceSchema.parse({
  lr: { type: 'float', low: 1e-4, high: 1, log: true },
  dropout: { type: 'float', low: 0, high: 0.5 },
  depth: { type: 'int', low: -3, high: 12 },
  trees: { type: 'int', low: 10, high: 1000, log: true },
  kernel: { type: 'choice', values: ['rbf', 'linear', 3, true] },
  epochs: 20,
});

describe('sampleParams', () => {
  const random = rng(7);
  const samples = Array.from({ length: 4000 }, () => sampleParams(space, random));

  it('stays within bounds, with integer ints, valid choices and fixed values passed through', () => {
    const within = (v: unknown, low: number, high: number) => typeof v === 'number' && v >= low && v <= high;
    const bad = samples.filter(
      (p) =>
        Object.keys(p).sort().join() !== 'depth,dropout,epochs,kernel,lr,trees' ||
        !within(p.lr, 1e-4, 1) ||
        !within(p.dropout, 0, 0.5) ||
        !Number.isInteger(p.depth) ||
        !within(p.depth, -3, 12) ||
        !Number.isInteger(p.trees) ||
        !within(p.trees, 10, 1000) ||
        !['rbf', 'linear', 3, true].includes(p.kernel) ||
        p.epochs !== 20,
    );
    expect(bad).toEqual([]);
  });

  it('reaches every integer and every choice, about equally often', () => {
    const depths = new Map<number, number>();
    const kernels = new Map<unknown, number>();
    for (const p of samples) {
      depths.set(p.depth as number, (depths.get(p.depth as number) ?? 0) + 1);
      kernels.set(p.kernel, (kernels.get(p.kernel) ?? 0) + 1);
    }
    expect(depths.size).toBe(16);
    for (const n of depths.values()) expect(Math.abs(n - 250)).toBeLessThan(80);
    expect(kernels.size).toBe(4);
    for (const n of kernels.values()) expect(Math.abs(n - 1000)).toBeLessThan(150);
  });

  it('samples log ranges log-uniformly', () => {
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
    // lr in [1e-4, 1]: log10 median near −2 (a linear-uniform sample would have its median near 0.5).
    expect(Math.log10(median(samples.map((p) => p.lr as number)))).toBeCloseTo(-2, 0.7);
    const logs = samples.map((p) => Math.log10(p.lr as number));
    expect(logs.filter((l) => l < -3).length / logs.length).toBeCloseTo(0.25, 1);
    // trees in [10, 1000]: median near 100.
    const m = median(samples.map((p) => p.trees as number));
    expect(m).toBeGreaterThan(80);
    expect(m).toBeLessThan(125);
  });

  it('is reproducible for the same seed', () => {
    const a = Array.from({ length: 5 }, ((r) => () => sampleParams(space, r))(rng(3)));
    const b = Array.from({ length: 5 }, ((r) => () => sampleParams(space, r))(rng(3)));
    expect(a).toEqual(b);
  });
});

describe('toUnit / fromUnit', () => {
  it('orders dimensions by name and skips fixed params', () => {
    expect(dimensionsOf(space).map((d) => d.name)).toEqual(['depth', 'dropout', 'kernel', 'lr', 'trees']);
  });

  it('round-trips sampled params', () => {
    const random = rng(11);
    for (let i = 0; i < 500; i++) {
      const p = sampleParams(space, random);
      const u = toUnit(space, p);
      expect(u).toHaveLength(5);
      u.forEach((v, d) => {
        if (d === 2) expect([0, 1, 2, 3]).toContain(v); // kernel: a choice index
        else {
          expect(v).toBeGreaterThanOrEqual(0);
          expect(v).toBeLessThanOrEqual(1);
        }
      });
      const back = fromUnit(space, u);
      expect(back.depth).toBe(p.depth);
      expect(back.trees).toBe(p.trees);
      expect(back.kernel).toBe(p.kernel);
      expect(back.epochs).toBe(20);
      expect(back.lr).toBeCloseTo(p.lr as number, 12);
      expect(back.dropout).toBeCloseTo(p.dropout as number, 12);
    }
  });

  it('maps the unit interval onto the range', () => {
    const s = searchSpaceSchema.parse({ x: { type: 'float', low: 1e-3, high: 10, log: true }, n: { type: 'int', low: 0, high: 3 }, k: { type: 'choice', values: ['a', 'b'] } });
    // dims: k, n, x
    expect(fromUnit(s, [0, 0, 0])).toEqual({ k: 'a', n: 0, x: 1e-3 });
    expect(fromUnit(s, [1, 1, 1])).toEqual({ k: 'b', n: 3, x: 10 });
    expect(fromUnit(s, [5, 2, -1])).toEqual({ k: 'b', n: 3, x: 1e-3 }); // clamped
    expect((fromUnit(s, [0, 0.5, 0.5]).x as number)).toBeCloseTo(0.1, 12); // log midpoint
    expect(fromUnit(s, [0, 0.3, 0.5]).n).toBe(1); // the ints' bins: [0, .25), [.25, .5), …
    expect(toUnit(s, { k: 'b', n: 2, x: 0.1 })).toEqual([1, 0.625, expect.closeTo(0.5, 12)]);
  });

  it('rejects params that do not fit the space', () => {
    expect(() => toUnit(space, { ...sampleParams(space, rng(1)), depth: 13 })).toThrow('depth: 13 is outside [-3, 12]');
    expect(() => toUnit(space, { ...sampleParams(space, rng(1)), depth: 1.5 })).toThrow('depth: expected an integer, got 1.5');
    expect(() => toUnit(space, { ...sampleParams(space, rng(1)), kernel: 'poly' })).toThrow('kernel: "poly" is not one of the choices');
    const missing = sampleParams(space, rng(1));
    delete missing.lr;
    expect(() => toUnit(space, missing)).toThrow('lr: missing');
  });
});

describe('paramsKey', () => {
  it('ignores key order and tells different values apart', () => {
    expect(paramsKey({ b: 1, a: 'x', c: true })).toBe(paramsKey({ c: true, a: 'x', b: 1 }));
    expect(paramsKey({ a: 1, b: 2 })).toBe('{"a":1,"b":2}');
    expect(paramsKey({ a: 1 })).not.toBe(paramsKey({ a: '1' }));
    expect(paramsKey({ a: 1 })).not.toBe(paramsKey({ a: 1.0000001 }));
    expect(paramsKey({ '10': 1, '9': 2, a: 3 })).toBe('{"10":1,"9":2,"a":3}');
  });
});
