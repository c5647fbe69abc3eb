/**
 * A numeric command-line flag whose error names the flag and the values it takes: "--limit must be a
 * whole number from 1 to 10000", for 0 and 2.5 alike (a message given to zod's base type alone would
 * say "must be a number" of 0, sending the operator after a typo that is not there).
 */
import { decimalValue } from '../lib/decimal-number';
import { lazy } from './lazy';

/** The values a numeric flag takes: whole numbers only (`int`), at least `min`, at most `max`, above `above` (a pace, a factor). */
export interface NumberFlagRange {
  int?: boolean;
  min?: number;
  max?: number;
  above?: number;
}

export function numberFlag(flag: string, range: NumberFlagRange = {}) {
  const { z } = lazy.zod();
  const kind = range.int ? 'a whole number' : 'a number';
  const bounds =
    range.min !== undefined && range.max !== undefined ? ` from ${range.min} to ${range.max}` : range.min !== undefined ? ` of at least ${range.min}` : range.max !== undefined ? ` of at most ${range.max}` : '';
  const message = `${flag} must be ${kind}${range.above !== undefined ? ` above ${range.above}${bounds.replace(/^ of/, ' and')}` : bounds}`;
  let schema = z.number({ error: message });
  if (range.int) schema = schema.int({ error: message });
  if (range.min !== undefined) schema = schema.min(range.min, { error: message });
  if (range.max !== undefined) schema = schema.max(range.max, { error: message });
  if (range.above !== undefined) schema = schema.gt(range.above, { error: message });
  return z.preprocess(decimalValue, schema);
}

/** The flag's value as a number, or an Error naming the command (`command: ` first, when given), the flag and the values it takes. */
export function parseNumberFlag(flag: string, value: unknown, range: NumberFlagRange = {}, command?: string): number {
  const parsed = numberFlag(flag, range).safeParse(value);
  if (!parsed.success) throw new Error(`${command ? `${command}: ` : ''}${parsed.error.issues[0].message}, got "${String(value)}"`);
  return parsed.data;
}
