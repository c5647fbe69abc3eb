/**
 * Rules for text from outside that is stored (a request's reason, a routing key).
 *
 * Well-formed Unicode: text without a lone surrogate. A JSON body can carry one ("\ud83d", an emoji
 * cut in half), but it has no UTF-8 form, so the store saves U+FFFD in its place: text read back is
 * not the text written, and a retried request no longer matches the row its first attempt wrote.
 * Text from outside that is stored is refused with one (never silently repaired).
 */

// With the u flag a surrogate pair is one code point, so only a lone surrogate matches.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export const WELL_FORMED_TEXT_RULE = 'must be well-formed Unicode (no lone surrogate)';

export function isWellFormedText(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/**
 * C0 controls (a newline, a tab, ESC), DEL and C1 controls (CSI): a stored reason holding them is
 * printed by every reader of the history (the CLI escapes them: lib/quality/excerpt.ts
 * escapeControl), where they could drive a terminal or fake extra lines. A reason is one line of text.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

export const NO_CONTROL_CHARACTERS_RULE = 'must not contain control characters (a newline, a tab, an escape sequence: C0, DEL or C1)';

export function hasNoControlCharacters(text: string): boolean {
  return !CONTROL_CHARACTER.test(text);
}
