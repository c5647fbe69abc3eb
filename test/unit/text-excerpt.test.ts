import { escapeControl, excerpt } from '../../lib/quality/excerpt';

describe('escapeControl', () => {
  it('leaves ordinary text, backslashes and emoji alone', () => {
    expect(escapeControl('2019-01-02,1.5,"Société",🚀,C:\\data')).toBe('2019-01-02,1.5,"Société",🚀,C:\\data');
  });

  it('escapes line breaks, terminal escapes, DEL, C1, bidi overrides and lone surrogates', () => {
    expect(escapeControl('a\nb\r\tc\u001b[31m\u0007\u007f\u0085\u202eevil\u2028\ud800x')).toBe('a\\nb\\r\\tc\\x1b[31m\\x07\\x7f\\x85\\u202eevil\\u2028\\ud800x');
  });
});

describe('excerpt', () => {
  it('returns short text escaped and whole', () => {
    expect(excerpt('a\u001bb', 200)).toBe('a\\x1bb');
  });

  it('keeps the start of long text within the limit and says how much was left out', () => {
    const out = excerpt('x'.repeat(50 * 2 ** 20), 200);
    expect(out.length).toBeLessThanOrEqual(200);
    expect(out).toMatch(/^x+…\(\+\d+ chars\)$/);
    const kept = out.indexOf('…');
    expect(out).toBe(`${'x'.repeat(kept)}…(+${50 * 2 ** 20 - kept} chars)`);
  });

  it('counts escapes against the limit and never splits one or a surrogate pair', () => {
    for (let max = 20; max < 60; max++) {
      const out = excerpt('\u001b🚀'.repeat(100), max);
      expect(out.length).toBeLessThanOrEqual(max);
      expect(out).toMatch(/^(\\x1b🚀)*(\\x1b)?…\(\+\d+ chars\)$/);
    }
  });

  it('bounds text that fits in characters but not once escaped', () => {
    const out = excerpt('\n'.repeat(150), 200);
    expect(out.length).toBeLessThanOrEqual(200);
    expect(out.startsWith('\\n\\n')).toBe(true);
  });
});
