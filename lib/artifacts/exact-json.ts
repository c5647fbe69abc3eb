/**
 * JSON for derived files that must read back to the same numbers: plain JSON has no NaN, ±Infinity or
 * −0 (they become null or 0), and computed figures hold them (a baseline without a Sharpe ratio, the
 * AUC of a month with one class). They are written as {"$number": "NaN"} and read back as numbers.
 */
const SPECIAL = new Set(['NaN', 'Infinity', '-Infinity', '-0']);

export function stringifyExact(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) => (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0)) ? { $number: Object.is(v, -0) ? '-0' : String(v) } : v));
}

export function parseExact(text: string): unknown {
  return JSON.parse(text, (_, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const n = (v as { $number?: unknown }).$number;
    return typeof n === 'string' && SPECIAL.has(n) && Object.keys(v).length === 1 ? Number(n) : v;
  });
}
