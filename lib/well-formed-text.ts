/**
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
