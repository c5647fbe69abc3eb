/**
 * Typed arrays in shared memory. Pool threads read them in place: a matrix built here reaches a
 * training's threads without being copied (a first copy of a 200k × 61 matrix costs ~0.3 s on a
 * 2-core VM, most of it the kernel mapping fresh pages).
 */
export const sharedBytes = (n: number): Uint8Array => new Uint8Array(new SharedArrayBuffer(n));
export const sharedInt32 = (n: number): Int32Array => new Int32Array(new SharedArrayBuffer(n * 4));
export const sharedFloat64 = (n: number): Float64Array => new Float64Array(new SharedArrayBuffer(n * 8));
export const sharedFloat32 = (n: number): Float32Array => new Float32Array(new SharedArrayBuffer(n * 4));

/** Whether other threads can see this array's memory. */
export const isShared = (a: ArrayBufferView): boolean => a.buffer instanceof SharedArrayBuffer;

/** The array itself when other threads can already see it, else a copy in shared memory. */
export function inSharedMemory<T extends Float64Array | Float32Array | Int32Array>(a: T): T {
  if (isShared(a)) return a;
  const copy = (a instanceof Float64Array ? sharedFloat64(a.length) : a instanceof Float32Array ? sharedFloat32(a.length) : sharedInt32(a.length)) as T;
  copy.set(a);
  return copy;
}
