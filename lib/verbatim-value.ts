/**
 * Paths and URLs read from the environment are used verbatim: no shell stands between the value and
 * Node, which expands no leading "~", removes no quotes and keeps spaces. `DATA_DIR="~/mlp"`,
 * `DATA_DIR="'/srv/ml data'"` or `DATABASE_URL="sqlite: /srv/pipeline.sqlite"` each named a new
 * folder under the current directory, where an empty store was created and migrated.
 */

/** Why a path or URL would not be read as written, or undefined when it would. */
export function verbatimValueProblem(value: string): string | undefined {
  if (value.trim() !== value) return 'has blank space before or after it, which would be part of the value; remove the space';
  if (/^["']|["']$/.test(value)) return 'starts or ends with a quote, which would be part of the value (only a shell removes quotes); remove the quotes';
  if (value.startsWith('~')) return 'starts with "~", which only a shell expands to a home folder; give the full path';
  return undefined;
}
