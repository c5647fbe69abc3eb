import { packValues, unpackValues } from '../../../lib/store/features';

describe("a feature row's packed values", () => {
  const values = Float64Array.of(1.5, -0, NaN, Infinity, -Infinity, 5e-324, Number.MAX_VALUE, 0.1 + 0.2, -123456.789);

  it('are little-endian float64s, whatever the host', () => {
    const expected = Buffer.alloc(values.length * 8);
    const view = new DataView(expected.buffer, expected.byteOffset, expected.byteLength);
    values.forEach((v, i) => view.setFloat64(i * 8, v, true));
    expect(packValues(values).equals(expected)).toBe(true);
  });

  it('come back value for value, from a view at any offset (drivers hand out slices of larger buffers)', () => {
    const padded = Buffer.concat([Buffer.from([1, 2, 3]), packValues(values)]);
    const back = unpackValues(padded.subarray(3));
    expect(Array.from(back, (v, i) => Object.is(v, values[i]))).toEqual(Array.from(values, () => true));
    // The packed bytes of a view into a larger array are the view's own.
    expect(unpackValues(packValues(values.subarray(2, 5)))).toEqual(values.subarray(2, 5));
  });

  it('are copies: changing the row after packing, or the bytes after unpacking, changes neither', () => {
    const row = Float64Array.of(1, 2, 3);
    const packed = packValues(row);
    // Its own ArrayBuffer, not a slice of Node's shared pool: safe to transfer to another thread.
    expect(packed.byteOffset).toBe(0);
    expect(packed.buffer.byteLength).toBe(packed.byteLength);
    row[0] = 99;
    expect(unpackValues(packed)[0]).toBe(1);
    const back = unpackValues(packed);
    packed.fill(0);
    expect(Array.from(back)).toEqual([1, 2, 3]);
  });

  it('refuse bytes that are not whole float64s', () => {
    expect(() => unpackValues(new Uint8Array(12), 'feature row AAPL 2017-03-01')).toThrow(/AAPL 2017-03-01 take 12 bytes/);
  });
});
