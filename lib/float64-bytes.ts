/**
 * Float64 values as little-endian bytes: the one byte order of everything stored (feature rows,
 * model payloads, array files), whatever the host's. On a little-endian host converting is a copy;
 * Buffer's writeDoubleLE/readDoubleLE per value took ~60 ns a value.
 */
export const LITTLE_ENDIAN_HOST = new Uint8Array(Float64Array.of(1).buffer)[7] === 0x3f;

/** The arrays' values one after another as little-endian float64 bytes, in a buffer of their own. */
export function toLittleEndianFloat64(arrays: readonly Float64Array[]): Buffer {
  // Not from Node's shared pool: a payload may be handed to another thread with its ArrayBuffer transferred.
  const out = Buffer.allocUnsafeSlow(arrays.reduce((n, a) => n + a.byteLength, 0));
  let at = 0;
  for (const a of arrays) {
    if (LITTLE_ENDIAN_HOST) out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
    else for (let i = 0; i < a.length; i++) out.writeDoubleLE(a[i], at + i * 8);
    at += a.byteLength;
  }
  return out;
}

/** `count` float64s from little-endian bytes starting at `offset`, in an array of their own. */
export function fromLittleEndianFloat64(bytes: Uint8Array, offset: number, count: number): Float64Array {
  if (offset < 0 || offset + count * 8 > bytes.byteLength) throw new RangeError(`${count} float64s at byte ${offset} run past the ${bytes.byteLength} bytes given`);
  const out = new Float64Array(count);
  littleEndianFloat64Into(out)(bytes.subarray(offset, offset + count * 8), 0);
  return out;
}

/**
 * A writer of little-endian float64 bytes into `target`: each call puts all of `bytes` (whole
 * float64s) at index `at`. Made once per target, so that many rows go in without a view each.
 */
export function littleEndianFloat64Into(target: Float64Array): (bytes: Uint8Array, at: number) => void {
  const targetBytes = new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
  return (bytes, at) => {
    const count = bytes.byteLength / 8;
    if (!Number.isInteger(count) || at < 0 || at + count > target.length) throw new RangeError(`${bytes.byteLength} bytes at index ${at} are not whole float64s within the ${target.length} places given`);
    if (LITTLE_ENDIAN_HOST) targetBytes.set(bytes, at * 8);
    else {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < count; i++) target[at + i] = view.getFloat64(i * 8, true);
    }
  };
}
