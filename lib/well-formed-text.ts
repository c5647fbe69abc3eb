/**
 * Rules for text from outside that is stored (a request's reason, a routing key).
 *
 * Well-formed Unicode: text without a lone surrogate. A JSON body can carry one ("\ud83d", an emoji
 * cut in half), but it has no UTF-8 form, so the store saves U+FFFD in its place: text read back is
 * not the text written, and a retried request no longer matches the row its first attempt wrote.
 * Text from outside that is stored is refused with one (never silently repaired). Control and
 * format characters (below) are normalised in a reason kept in a history people read, and escaped
 * when stored text is printed.
 */

// With the u flag a surrogate pair is one code point, so only a lone surrogate matches.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

export const WELL_FORMED_TEXT_RULE = 'must be well-formed Unicode (no lone surrogate)';

export function isWellFormedText(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/**
 * The one set of control and format characters, for refusing or normalising them in stored text and
 * for escaping them when text is printed (lib/quality/excerpt.ts escapeControl): C0 controls (a
 * newline, a tab, ESC), DEL and C1 controls (CSI, NEL), which could drive a terminal or fake extra
 * lines; the line and paragraph separators U+2028/2029, which fake lines too; and invisible format
 * characters: soft hyphen, the Arabic letter mark, the Mongolian vowel separator, zero-width
 * characters and direction marks (U+200B-200F), bidi embeddings and overrides (U+202A-202E), word
 * joiners, invisible operators and bidi isolates (U+2060-206F), the BOM and the interlinear
 * annotation characters, which make printed text read otherwise than it is (a reversed override).
 */
export const CONTROL_CHARACTER_CLASS = '[\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u061c\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\ufeff\\ufff9-\\ufffb]';
const CONTROL_CHARACTER = new RegExp(CONTROL_CHARACTER_CLASS);
/** Those that break or space text (C0, DEL, C1, line and paragraph separators): normalised to a space; the others (invisible) are dropped. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const SPACING_CONTROL = /^[\u0000-\u001f\u007f-\u009f\u2028\u2029]$/;

export function hasNoControlCharacters(text: string): boolean {
  return !CONTROL_CHARACTER.test(text);
}

/**
 * `text` as one line without control characters: each run of those that break or space text (a tab,
 * CR LF, ESC), with the spaces around it, becomes one space, the invisible ones are dropped, and the
 * ends are trimmed. A reason
 * kept in a history people read (alias and route history) is stored so, wherever it comes from: an
 * emergency rollback whose reason holds a tab or a pasted newline is not refused (a 400 mid-incident
 * helps nobody), and a reason a deployment writes itself (a failure message) is never refused.
 */
export function normaliseControlCharacters(text: string): string {
  if (!CONTROL_CHARACTER.test(text)) return text;
  return text
    .replace(new RegExp(` *${CONTROL_CHARACTER_CLASS}+ *`, 'g'), (run) => ([...run].some((ch) => SPACING_CONTROL.test(ch)) ? ' ' : run.replace(new RegExp(CONTROL_CHARACTER_CLASS, 'g'), '')))
    .trim();
}
