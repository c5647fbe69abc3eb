const STEP = 0x6d2b79f5;

/** mulberry32's output for the state it has just stepped to. */
function mulberryOutput(a: number): number {
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** mulberry32: a small, fast, seeded PRNG (uniform in [0, 1)); the same seed gives the same stream. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + STEP) >>> 0;
    return mulberryOutput(a);
  };
}

/**
 * The same stream as rng(seed), whose draws can also be taken as a numbered run: mulberry32's
 * state only counts up by a constant, so draw i of a run follows from the state before the run
 * and i, and threads can each compute their part of one run.
 */
export class Mulberry32 {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }

  readonly next = (): number => {
    this.a = (this.a + STEP) >>> 0;
    return mulberryOutput(this.a);
  };

  /** Skips n draws; returns the state before them, for drawAt. */
  take(n: number): number {
    const before = this.a;
    this.a = (this.a + Math.imul(n, STEP)) >>> 0;
    return before;
  }
}

/** Draw i (from 0) of the run that Mulberry32.take returned `state` for. */
export function drawAt(state: number, i: number): number {
  return mulberryOutput((state + Math.imul(i + 1, STEP)) >>> 0);
}

/** murmur3's 32-bit finaliser: a bijection on uint32 that mixes every input bit into every output bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
