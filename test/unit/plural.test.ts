import { plural } from '../../lib/plural';

describe('plural', () => {
  it('writes a count with its noun, singular for one only', () => {
    expect([0, 1, 2, 1259].map((n) => plural(n, 'row'))).toEqual(['0 rows', '1 row', '2 rows', '1,259 rows']);
    expect(plural(1, 'series', 'series')).toBe('1 series');
    expect(plural(3, 'series', 'series')).toBe('3 series');
  });
});
