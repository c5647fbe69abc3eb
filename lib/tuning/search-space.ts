/**
 * One algorithm's hyper-parameter search space, as written in experiment config files, and the
 * mappings the searchers use: uniform sampling, and a unit-cube encoding of the searched dimensions.
 *
 * A space maps a parameter name to a spec:
 *   { type: 'float', low, high, log? }   uniform on [low, high] (log: uniform in log, needs low > 0)
 *   { type: 'int', low, high, log? }     an integer in [low, high] (log: log-uniform, needs low >= 1)
 *   { type: 'choice', values: [...] }    one of the listed strings / numbers / booleans
 *   a plain number | string | boolean    fixed: always passed through as is
 *
 * Pure computation only: this module is imported by Temporal workflow code (no I/O, no clock, no
 * Math.random; randomness comes in as a function, e.g. rng(seed) from lib/random).
 */
import { z } from 'zod';

export type ParamValue = string | number | boolean;
/** One set of hyper-parameters: searched and fixed ones together. */
export type Params = Record<string, ParamValue>;

const paramValueSchema = z.union([z.number(), z.string(), z.boolean()]);

const rangeFields = {
  log: z.boolean().optional(),
};

export const floatSpecSchema = z
  .strictObject({ type: z.literal('float'), low: z.number(), high: z.number(), ...rangeFields })
  .superRefine((s, ctx) => {
    if (!(s.low < s.high)) ctx.addIssue({ code: 'custom', path: ['high'], message: `float range needs low < high (got low ${s.low}, high ${s.high})` });
    if (s.log && !(s.low > 0)) ctx.addIssue({ code: 'custom', path: ['low'], message: `a log-scale range needs low > 0 (got ${s.low})` });
  });

export const intSpecSchema = z
  .strictObject({
    type: z.literal('int'),
    low: z.int('int range bounds must be integers'),
    high: z.int('int range bounds must be integers'),
    ...rangeFields,
  })
  .superRefine((s, ctx) => {
    if (!(s.low < s.high)) ctx.addIssue({ code: 'custom', path: ['high'], message: `int range needs low < high (got low ${s.low}, high ${s.high}); use a plain number for a fixed value` });
    if (s.log && !(s.low >= 1)) ctx.addIssue({ code: 'custom', path: ['low'], message: `a log-scale int range needs low >= 1 (got ${s.low})` });
  });

export const choiceSpecSchema = z
  .strictObject({
    type: z.literal('choice'),
    values: z.array(paramValueSchema).min(1, 'a choice needs at least one value'),
  })
  .superRefine((s, ctx) => {
    s.values.forEach((v, i) => {
      if (s.values.indexOf(v) !== i) ctx.addIssue({ code: 'custom', path: ['values', i], message: `duplicate choice value ${JSON.stringify(v)}` });
    });
  });

const rangeOrChoiceSchema = z.discriminatedUnion('type', [floatSpecSchema, intSpecSchema, choiceSpecSchema], {
  error: (issue) => (issue.code === 'invalid_union' ? "must be 'float', 'int' or 'choice'" : undefined),
});

const SPEC_HINT = "expected a fixed value (number, string or boolean) or { type: 'float' | 'int' | 'choice', … }";

/** A searched dimension, or a fixed value. */
export const paramSpecSchema = z.union([paramValueSchema, rangeOrChoiceSchema], {
  // A union reports only "Invalid input"; for an object, say what is wrong with it as a spec.
  error: (issue) => {
    if (issue.code !== 'invalid_union') return undefined;
    const input = issue.input;
    if (typeof input !== 'object' || input === null || Array.isArray(input)) return SPEC_HINT;
    const specIssues = issue.errors[1] ?? [];
    if (specIssues.length === 0) return SPEC_HINT;
    return specIssues.map((i) => (i.path.length ? `${i.path.map(String).join('.')}: ${i.message}` : i.message)).join('; ');
  },
});

/** paramName → spec. Validate configs with this; the functions below expect its output. */
export const searchSpaceSchema = z.record(z.string().min(1, 'parameter names must not be empty'), paramSpecSchema);

export type FloatSpec = z.output<typeof floatSpecSchema>;
export type IntSpec = z.output<typeof intSpecSchema>;
export type ChoiceSpec = z.output<typeof choiceSpecSchema>;
export type ParamSpec = z.output<typeof paramSpecSchema>;
export type SearchSpace = z.output<typeof searchSpaceSchema>;

/**
 * A searched dimension. For numeric ones `lo`/`hi` bound the continuous interval the unit coordinate is
 * linear in: [low, high] for floats, widened by half a step to [low − 0.5, high + 0.5] for ints (so every
 * integer gets an equal share of it), and in natural-log units when `log`.
 */
export type Dimension =
  | { name: string; kind: 'float' | 'int'; low: number; high: number; log: boolean; lo: number; hi: number }
  | { name: string; kind: 'choice'; values: readonly ParamValue[] };

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function isFixed(spec: ParamSpec): spec is ParamValue {
  return typeof spec !== 'object' || spec === null;
}

/** The searched dimensions in a stable order (parameter names by code unit, independent of key order). */
export function dimensionsOf(space: SearchSpace): Dimension[] {
  const dims: Dimension[] = [];
  for (const name of Object.keys(space).sort(byCodeUnit)) {
    const spec = space[name];
    if (isFixed(spec)) continue;
    if (spec.type === 'choice') {
      dims.push({ name, kind: 'choice', values: spec.values });
    } else {
      const log = spec.log === true;
      const widen = spec.type === 'int' ? 0.5 : 0;
      const a = spec.low - widen;
      const b = spec.high + widen;
      dims.push({ name, kind: spec.type, low: spec.low, high: spec.high, log, lo: log ? Math.log(a) : a, hi: log ? Math.log(b) : b });
    }
  }
  return dims;
}

/** The fixed (plain-value) parameters of a space. */
export function fixedParamsOf(space: SearchSpace): Params {
  const fixed: Params = {};
  for (const name of Object.keys(space).sort(byCodeUnit)) {
    const spec = space[name];
    if (isFixed(spec)) fixed[name] = spec;
  }
  return fixed;
}

const clamp01 = (u: number) => (u > 0 ? (u < 1 ? u : 1) : 0);

/** A numeric dimension's value at unit coordinate u (clamped to [0, 1]); ints are rounded. */
export function numericFromUnit(dim: Extract<Dimension, { lo: number }>, u: number): number {
  const c = clamp01(u);
  if (dim.kind === 'float' && (c === 0 || c === 1)) return c === 0 ? dim.low : dim.high; // exactly, despite exp/log
  const t = dim.lo + c * (dim.hi - dim.lo);
  const x = dim.log ? Math.exp(t) : t;
  const v = dim.kind === 'int' ? Math.round(x) + 0 : x; // + 0: no −0
  return Math.min(dim.high, Math.max(dim.low, v)); // rounding and exp can step just outside
}

/** The unit coordinate of a continuous point of a numeric dimension's (widened) interval; not clamped. */
export function numericToUnit(dim: Extract<Dimension, { lo: number }>, x: number): number {
  return ((dim.log ? Math.log(x) : x) - dim.lo) / (dim.hi - dim.lo);
}

/**
 * Draws every searched parameter uniformly (log-uniformly on log scales; each int and each choice
 * equally likely, or log-uniformly for log ints) and adds the fixed ones. Consumes one draw of
 * `random` per searched dimension, in dimensionsOf order.
 */
export function sampleParams(space: SearchSpace, random: () => number): Params {
  const dims = dimensionsOf(space);
  return fromUnitDims(space, dims, dims.map(() => random()));
}

/**
 * Encodes the searched parameters as a vector in dimensionsOf order: numeric ones as their unit coordinate
 * in [0, 1] (log-scaled where `log`; an int sits in the middle of its 1/(high − low + 1) share), a choice
 * as the index of its value. Fixed parameters are ignored. Throws if a searched parameter is missing,
 * of the wrong type, out of range or not one of the choices.
 */
export function toUnit(space: SearchSpace, params: Params): number[] {
  const dims = dimensionsOf(space);
  return dims.map((dim) => {
    const r = encodeOne(dim, params[dim.name]);
    if (typeof r === 'string') throw new RangeError(`${dim.name}: ${r}`);
    return r;
  });
}

/**
 * Decodes a vector in dimensionsOf order (numeric coordinates clamped to [0, 1], choice indices rounded
 * and clamped) into params, fixed ones included. fromUnit(space, toUnit(space, p)) gives p back (floats
 * to rounding error).
 */
export function fromUnit(space: SearchSpace, unit: readonly number[]): Params {
  const dims = dimensionsOf(space);
  if (unit.length !== dims.length) throw new RangeError(`fromUnit: expected ${dims.length} coordinates, got ${unit.length}`);
  return fromUnitDims(space, dims, unit.map((u, i) => {
    const dim = dims[i];
    if (dim.kind !== 'choice') return u;
    const k = Math.min(dim.values.length - 1, Math.max(0, Math.round(u)));
    return (k + 0.5) / dim.values.length;
  }));
}

/** Same as fromUnit but with choices also given as a unit coordinate (its share of [0, 1]). */
function fromUnitDims(space: SearchSpace, dims: readonly Dimension[], unit: readonly number[]): Params {
  const params = fixedParamsOf(space);
  dims.forEach((dim, i) => {
    const u = Number.isNaN(unit[i]) ? 0.5 : unit[i];
    if (dim.kind === 'choice') params[dim.name] = dim.values[Math.min(dim.values.length - 1, Math.floor(clamp01(u) * dim.values.length))];
    else params[dim.name] = numericFromUnit(dim, u);
  });
  return sortedParams(params);
}

/**
 * One parameter's coordinate (unit coordinate, or choice index), or why it does not fit. Values up to
 * 1e-9 of the range outside it (rounding) are accepted and clamped.
 */
export function encodeOne(dim: Dimension, value: unknown): number | string {
  if (value === undefined) return 'missing';
  if (dim.kind === 'choice') {
    const k = dim.values.indexOf(value as ParamValue);
    return k >= 0 ? k : `${JSON.stringify(value)} is not one of the choices`;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return `expected a finite number, got ${JSON.stringify(value)}`;
  if (dim.kind === 'int' && !Number.isInteger(value)) return `expected an integer, got ${value}`;
  if (dim.log && !(value > 0)) return `${value} is outside [${dim.low}, ${dim.high}]`;
  const lowU = numericToUnit(dim, dim.low);
  const highU = numericToUnit(dim, dim.high);
  const u = numericToUnit(dim, value);
  const slack = 1e-9 * (highU - lowU);
  if (!(u >= lowU - slack && u <= highU + slack)) return `${value} is outside [${dim.low}, ${dim.high}]`;
  return Math.min(highU, Math.max(lowU, u));
}

/** The same params with keys in code-unit order. */
function sortedParams(params: Params): Params {
  const out: Params = {};
  for (const k of Object.keys(params).sort(byCodeUnit)) out[k] = params[k];
  return out;
}

/**
 * A stable string for a set of params (keys sorted by code unit, values as JSON), for spotting
 * duplicates: equal params give equal keys whatever their key order.
 */
export function paramsKey(params: Readonly<Record<string, unknown>>): string {
  return `{${Object.keys(params)
    .sort(byCodeUnit)
    .map((k) => `${JSON.stringify(k)}:${JSON.stringify(params[k])}`)
    .join(',')}}`;
}
