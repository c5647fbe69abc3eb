/**
 * JSON for a terminal: `--json` output of the CLI, which prints text the store keeps as people and
 * clients gave it. JSON.stringify escapes only the C0 controls, so a C1 control (U+009B is CSI,
 * which a terminal acts on as ESC [ does), a bidi override or a line separator came out raw. Here
 * every character of the set text output escapes (lib/well-formed-text.ts) is written \uXXXX: the
 * same JSON to a parser, inert on a screen.
 */
import { CONTROL_CHARACTER_CLASS } from './well-formed-text';

const CONTROL_CHARACTERS = new RegExp(CONTROL_CHARACTER_CLASS, 'g');

function asUnicodeEscape(ch: string): string {
  // A raw C0 character in JSON.stringify's output is its own indentation (inside strings it has already escaped C0).
  const code = ch.charCodeAt(0);
  return code < 0x20 ? ch : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `JSON.stringify(value, replacer, 2)` with every control and format character escaped as \uXXXX. */
export function printableJson(value: unknown, replacer?: (this: unknown, key: string, value: unknown) => unknown): string {
  const json = JSON.stringify(value, replacer, 2) as string | undefined;
  // JSON.stringify(undefined) is undefined; `null` is what a parser can read.
  return (json ?? 'null').replace(CONTROL_CHARACTERS, asUnicodeEscape);
}
