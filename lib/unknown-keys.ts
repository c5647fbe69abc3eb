/**
 * Keys a schema dropped. zod's objects strip keys they do not know, so a misspelt setting in a file
 * a person wrote ("embargo" for "embargoDays", "adjst" for "adjust") would silently fall back to
 * its default: a run with another embargo, or unadjusted prices, than the author meant. Where
 * outside input enters (experiment and feature-set files, workflow inputs, import requests), every
 * key of the input must survive parsing; the input and the parsed value are walked side by side, so
 * the schemas stay lenient where the code re-reads what it stored itself (registry lineage written
 * by an earlier version keeps loading).
 */
import { BadInputError } from './errors';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** Paths of the keys present in `input` and absent where the parsed `output` has the same object. */
export function droppedKeys(input: unknown, output: unknown, path: ReadonlyArray<string | number> = []): Array<Array<string | number>> {
  if (Array.isArray(input) && Array.isArray(output)) {
    return input.flatMap((item, i) => (i < output.length ? droppedKeys(item, output[i], [...path, i]) : []));
  }
  if (!isRecord(input) || !isRecord(output)) return [];
  return Object.keys(input).flatMap((key) => (key in output ? droppedKeys(input[key], output[key], [...path, key]) : [[...path, key]]));
}

/** Throws BadInputError naming every key of `input` that parsing to `output` dropped: "the experiment has unknown settings …: cv.embargo". */
export function refuseUnknownKeys(input: unknown, output: unknown, what: string, has = 'has'): void {
  const dropped = droppedKeys(input, output);
  if (dropped.length === 0) return;
  throw new BadInputError(
    `${what} ${has} unknown settings, which would be ignored and their defaults used instead (misspelt, or not settings of this version): ${dropped.map((p) => p.join('.')).join(', ')}`,
    'INVALID_INPUT',
  );
}
