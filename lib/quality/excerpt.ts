/**
 * Bounded, escaped excerpts of untrusted text (rows, fields, file names) for messages and the
 * quarantine table. Control, format and line-separator characters are escaped so stored text can
 * neither drive a terminal nor fake extra lines when the `quarantine` command prints it.
 */
import { CONTROL_CHARACTER_CLASS } from '../well-formed-text';

// The control and format characters stored text is refused or normalised with (one set:
// lib/well-formed-text.ts), and lone surrogates. Backslashes stay as they are (Windows paths,
// regex-looking text); the escapes are for reading, not for decoding back.
const NEEDS_ESCAPE = new RegExp(`${CONTROL_CHARACTER_CLASS}|[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?<![\\ud800-\\udbff])[\\udc00-\\udfff]`);

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(ch: string): string {
  const named = NAMED[ch];
  if (named !== undefined) return named;
  const code = ch.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` with every control/format character written as an escape (\n, \x1b, \u202e). */
export function escapeControl(text: string): string {
  if (!NEEDS_ESCAPE.test(text)) return text;
  return text.replace(new RegExp(NEEDS_ESCAPE.source, 'g'), escapeChar);
}

/**
 * Text of several lines that the CLI composes around stored or remote text, each line escaped: the
 * line breaks it put there stay, those inside the text it quotes are escaped with the rest.
 */
export function escapeLines(text: string): string {
  return text.split('\n').map(escapeControl).join('\n');
}

/**
 * At most `max` characters of escaped text. Longer text keeps its start and ends with
 * "…(+N chars)", N counting the characters of `text` left out. Never splits an escape or a
 * surrogate pair, and reads only about `max` characters of `text` however long it is.
 */
export function excerpt(text: string, max = 200): string {
  if (text.length <= max) {
    const escaped = escapeControl(text);
    if (escaped.length <= max) return escaped;
  }
  // Room for the longest possible suffix, so the result never exceeds `max`.
  const budget = Math.max(0, max - `…(+${text.length} chars)`.length);
  let out = '';
  let i = 0;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    const pair = code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && text.charCodeAt(i + 1) >= 0xdc00 && text.charCodeAt(i + 1) <= 0xdfff;
    const ch = pair ? text.slice(i, i + 2) : text[i];
    const piece = pair ? ch : escapeControl(ch);
    if (out.length + piece.length > budget) break;
    out += piece;
    i += ch.length;
  }
  return `${out}…(+${text.length - i} chars)`;
}
