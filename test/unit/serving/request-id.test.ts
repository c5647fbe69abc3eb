import { newRequestId } from '../../../lib/serving/prediction-log';

describe('newRequestId', () => {
  it('is a UUIDv7 as 32 lower-case hex digits, distinct and growing with time', () => {
    const ids = Array.from({ length: 2000 }, () => newRequestId());
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{12}7[0-9a-f]{3}[89ab][0-9a-f]{15}$/);
    }
    expect(new Set(ids).size).toBe(ids.length);
    // uuid's v7 keeps ids minted in one process strictly increasing (a counter within a millisecond).
    for (let i = 1; i < ids.length; i++) expect(ids[i] > ids[i - 1]).toBe(true);
    // The first 12 digits are the time in ms.
    expect(Math.abs(parseInt(ids[0].slice(0, 12), 16) - Date.now())).toBeLessThan(60_000);
  });
});
