/**
 * Scratch memory for intermediate series. In V8 a typed array of its own costs ~3–4 µs for a
 * five-year daily series (an off-heap backing store, allocated, zeroed and later swept by the GC),
 * several times the arithmetic of most indicators on it; one symbol's default feature set makes ~160
 * of them. Inside `inScratch`, `newSeries` hands out views of a few reused buffers instead, and
 * takes them all back when `inScratch` returns: what it returns must not be, or hold, such a view
 * (copy the values out; `symbolColumns` does). Outside, `newSeries` allocates as before.
 */

/** Doubles per buffer (1 MiB); a longer series gets a buffer of its own length. */
const BUFFER_LENGTH = 1 << 17;

const buffers: Float64Array[] = [];
/** Position of the next view: buffers[buffer] from offset on. */
let buffer = 0;
let offset = 0;
let depth = 0;

/**
 * A series of n values, not initialised inside `inScratch` (write every element before reading
 * it), zeros outside.
 */
export function newSeries(n: number): Float64Array {
  if (depth === 0) return new Float64Array(n);
  for (;;) {
    if (buffer === buffers.length) buffers.push(new Float64Array(Math.max(BUFFER_LENGTH, n)));
    const b = buffers[buffer];
    if (offset + n <= b.length) {
      offset += n;
      return b.subarray(offset - n, offset);
    }
    buffer++;
    offset = 0;
  }
}

/** A series of n zeros (from scratch memory inside `inScratch`). */
export function zeroSeries(n: number): Float64Array {
  const s = newSeries(n);
  if (depth > 0) s.fill(0);
  return s;
}

/** Runs f with `newSeries` handing out scratch views, all of which are reused once f returns (or throws). Nests. */
export function inScratch<T>(f: () => T): T {
  const mark = { buffer, offset };
  depth++;
  try {
    return f();
  } finally {
    depth--;
    buffer = mark.buffer;
    offset = mark.offset;
  }
}
