import { MemoryCache } from '../../lib/cache/memory-cache';
import { readOnlineFeatures, readStoredVectorTexts, replaceOnlineFeatures, publishOnlineFeatures, writeOnlineVectors, type OnlineFeatureVector } from '../../lib/features/online-features';

const vector = (symbol: string, asOf: string, values: number[]): OnlineFeatureVector => ({ version: 'fs-test', symbol, asOf, columns: values.map((_, i) => `c${i}`), values });

/** A cache where another writer stores `theirs` just before each of the first `times` conditional writes to its key. */
class Interleaved extends MemoryCache {
  writes = 0;
  constructor(
    private readonly theirs: () => OnlineFeatureVector,
    private times = 1,
  ) {
    super();
  }
  override async setIfUnchanged(key: string, expected: string | undefined, value: string): Promise<boolean> {
    this.writes++;
    if (this.times > 0) {
      this.times--;
      await this.set(key, JSON.stringify(this.theirs()));
    }
    return super.setIfUnchanged(key, expected, value);
  }
}

describe('writes to the online store never replace a vector they were not compared with', () => {
  it('a writer that loses to another decides again on what that one wrote: a newer vector stays, an older one is replaced', async () => {
    const newer = new Interleaved(() => vector('AAA', '2024-01-05', [5]));
    expect(await publishOnlineFeatures(newer, [vector('AAA', '2024-01-04', [4])])).toBe(0);
    expect((await readOnlineFeatures(newer, 'fs-test', 'AAA'))?.asOf).toBe('2024-01-05');

    const older = new Interleaved(() => vector('AAA', '2024-01-03', [3]));
    expect(await replaceOnlineFeatures(older, [vector('AAA', '2024-01-04', [4])])).toBe(1);
    expect(older.writes).toBe(2);
    expect(await readOnlineFeatures(older, 'fs-test', 'AAA')).toEqual(vector('AAA', '2024-01-04', [4]));
  });

  it('with what the writer saw before its last check, a vector written since stays and counts as superseded; the others are written', async () => {
    const cache = new Interleaved(() => vector('BBB', '2024-01-04', [40]), 0);
    await replaceOnlineFeatures(cache, [vector('AAA', '2024-01-03', [3]), vector('BBB', '2024-01-03', [3])]);
    const mine = [vector('AAA', '2024-01-04', [4]), vector('BBB', '2024-01-04', [4])];
    const seen = await readStoredVectorTexts(cache, mine);
    await replaceOnlineFeatures(cache, [vector('BBB', '2024-01-04', [40])]); // the live path, after the check
    expect(await writeOnlineVectors(cache, mine, { sameDate: 'replaces', seen })).toEqual({ written: 1, superseded: 1 });
    expect((await readOnlineFeatures(cache, 'fs-test', 'AAA'))?.values).toEqual([4]);
    expect((await readOnlineFeatures(cache, 'fs-test', 'BBB'))?.values).toEqual([40]);
  });

  it('gives up, naming the vector, when another writer got in first every time', async () => {
    let day = 10;
    const busy = new Interleaved(() => vector('AAA', `2024-01-${String(day++).padStart(2, '0')}`, [1]), 100);
    await expect(replaceOnlineFeatures(busy, [vector('AAA', '2024-02-01', [2])])).rejects.toThrow(/online vector of AAA in feature set fs-test was written by another writer during each of 10 attempts to write the one dated 2024-02-01/);
  });
});

describe('a write without the signing key never replaces a signed vector', () => {
  const SIGNING = { signingKey: 'k'.repeat(16) + '0123456789abcdef0123' };
  const stored = (cache: MemoryCache, symbol: string) => cache.get(`features:latest:fs-test:${symbol}`);

  it('refuses it naming the cause, keeps the signed vector and writes the others (the live path, the features step and the re-warm alike)', async () => {
    const cache = new MemoryCache();
    await replaceOnlineFeatures(cache, [vector('AAA', '2024-06-27', [1])], SIGNING);
    await replaceOnlineFeatures(cache, [vector('BBB', '2024-06-27', [1])]);
    const signed = await stored(cache, 'AAA');
    expect(signed).toContain('"signature":');

    // The stream consumer started without the key recomputes the same date's vectors: before, AAA's signed vector was replaced by an unsigned one that a keyed API refuses.
    const refusal = await replaceOnlineFeatures(cache, [vector('AAA', '2024-06-27', [2]), vector('BBB', '2024-06-27', [2])]).catch((error: unknown) => error as Error);
    expect(refusal).toBeInstanceOf(Error);
    expect(refusal).toMatchObject({ name: 'UnsignedOverSignedVectorError', refused: 1, written: 1 });
    expect((refusal as Error).message).toMatch(/1 online vector not written: the stored vector of AAA in feature set fs-test \(dated 2024-06-27\) is signed, and this process has no MODEL_SIGNING_KEY/);
    expect(await stored(cache, 'AAA')).toBe(signed);
    expect((await readOnlineFeatures(cache, 'fs-test', 'BBB'))?.values).toEqual([2]);

    // A newer date, and the keeping writers (features step, re-warm), are refused the same way.
    await expect(publishOnlineFeatures(cache, [vector('AAA', '2024-06-28', [3])])).rejects.toThrow(/AAA in feature set fs-test \(dated 2024-06-27\) is signed, and this process has no MODEL_SIGNING_KEY/);
    await expect(writeOnlineVectors(cache, [vector('AAA', '2024-06-28', [3])], { sameDate: 'keeps', seen: [signed] })).rejects.toThrow(/is signed, and this process has no MODEL_SIGNING_KEY/);
    expect(await stored(cache, 'AAA')).toBe(signed);

    // With the key it is replaced, signed again.
    expect(await replaceOnlineFeatures(cache, [vector('AAA', '2024-06-27', [2])], SIGNING)).toBe(1);
    expect((await readOnlineFeatures(cache, 'fs-test', 'AAA', undefined, SIGNING))?.values).toEqual([2]);
  });
});
