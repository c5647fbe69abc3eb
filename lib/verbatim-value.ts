/**
 * Paths and URLs read from the environment are used verbatim: no shell stands between the value and
 * Node, which expands no leading "~", removes no quotes and keeps spaces. `DATA_DIR="~/mlp"`,
 * `DATA_DIR="'/srv/ml data'"` or `DATABASE_URL="sqlite: /srv/pipeline.sqlite"` each named a new
 * folder under the current directory, where an empty store was created and migrated.
 */

/**
 * Why a value that names something (a namespace, a stream, a region) would not be read as written:
 * blank space at an end, which no shell removes and which names another thing (STREAM_KEY="bars:live "
 * read a stream nothing writes to). Undefined when there is none.
 */
export function blankAtEndsProblem(value: string): string | undefined {
  return value.trim() !== value ? 'has blank space before or after it, which would be part of the value; remove the space' : undefined;
}

/** Why a path or URL would not be read as written, or undefined when it would. */
export function verbatimValueProblem(value: string): string | undefined {
  const blank = blankAtEndsProblem(value);
  if (blank) return blank;
  if (/^["']|["']$/.test(value)) return 'starts or ends with a quote, which would be part of the value (only a shell removes quotes); remove the quotes';
  if (value.startsWith('~')) return 'starts with "~", which only a shell expands to a home folder; give the full path';
  return undefined;
}
