import { compareEntryIds, entryKey, liveRevisionId } from '../../../lib/streaming/live-bar-store';

describe('stream entry ids as the live bar store orders them', () => {
  const ids = ['0-1', '9-0', '9-1', '9-10', '10-0', '1700000000000-0', '1700000000000-2', '1700000000001-0', '18446744073709551615-18446744073709551615'];

  it('compares ids as pairs of integers, and the stored keys sort the same way as text', () => {
    for (const a of ids) {
      for (const b of ids) {
        const expected = Math.sign(ids.indexOf(a) - ids.indexOf(b));
        expect(Math.sign(compareEntryIds(a, b))).toBe(expected);
        expect(Math.sign(entryKey(a) < entryKey(b) ? -1 : entryKey(a) > entryKey(b) ? 1 : 0)).toBe(expected);
      }
    }
    expect(entryKey('1700000000000-2')).toBe('00000001700000000000-00000000000000000002');
    expect(entryKey(ids[ids.length - 1])).toHaveLength(41);
  });

  it('names a live revision by its stream and entry, within 64 characters', () => {
    expect(liveRevisionId('stream:bars:live', '1700000000000-0')).toBe('stream:bars:live@1700000000000-0');
    const long = liveRevisionId(`stream:${'k'.repeat(57)}`, '18446744073709551615-18446744073709551615');
    expect(long.length).toBeLessThanOrEqual(64);
    expect(long).toMatch(/^stream:[0-9a-f]{15}@18446744073709551615-18446744073709551615$/);
  });
});
