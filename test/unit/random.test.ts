import { drawAt, Mulberry32, rng } from '../../lib/random';

describe('seeded random stream', () => {
  it('gives the same stream as an object as rng does, and numbered runs that are the stream’s draws', () => {
    for (const seed of [0, 1, 42, 2 ** 32 - 1]) {
      const closure = rng(seed);
      const stream = new Mulberry32(seed);
      const sequential: number[] = [];
      const numbered: number[] = [];
      for (let step = 0; step < 40; step++) {
        const n = step % 7 === 3 ? 70_000 : step % 5; // runs of 0..4 draws, and some long ones
        const state = stream.take(n);
        for (let i = 0; i < n; i++) sequential.push(closure());
        for (let i = 0; i < n; i++) numbered.push(drawAt(state, i));
        expect(stream.next()).toBe(closure());
      }
      expect(numbered).toEqual(sequential);
    }
  });
});
