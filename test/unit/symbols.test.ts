import { z } from 'zod';
import { isSymbol, MAX_SYMBOL_LENGTH, parseSymbol, parseSymbolList, SYMBOL_MESSAGE, symbolSchema } from '../../lib/market-data/symbols';

describe('symbol rule', () => {
  it.each(['AAPL', 'BRK.B', 'BF-B', '$VIX', '$SPX', '^GSPC', '^VIX', 'ES=F', 'A', '7203', 'X'.repeat(MAX_SYMBOL_LENGTH)])('accepts %j', (s) => {
    expect(isSymbol(s)).toBe(true);
    // A dashed one-letter share class is input for the dotted stored form (symbols-share-class.test.ts).
    expect(symbolSchema.parse(s)).toBe(s === 'BF-B' ? 'BF.B' : s);
  });

  it.each([
    '', ' ', 'A B', 'AAPL;DROP', 'X'.repeat(MAX_SYMBOL_LENGTH + 1), 'a/b', 'A\\B', '../X', '.X', '-X', '$', '^', '$$VIX', 'A$B',
    '"AAPL"', "AAPL'", 'AA\u0000PL', 'AA\nPL', 'AAPL\t1', 'ÄAPL', 'AAPＬ', 'A,B', 'A*',
  ])('rejects %j', (s) => {
    expect(isSymbol(s)).toBe(false);
    const r = symbolSchema.safeParse(s);
    expect(r.success).toBe(false);
    if (!r.success) expect(r.error.issues.map((i) => i.message)).toContain(SYMBOL_MESSAGE);
  });

  it('canonical form is upper case; boundaries trim and upper-case as the readers do', () => {
    expect(isSymbol('aapl')).toBe(false);
    expect(isSymbol(' AAPL')).toBe(false);
    expect(symbolSchema.parse(' brk.b ')).toBe('BRK.B');
    expect(parseSymbol('$vix')).toBe('$VIX');
  });

  it('parses a CLI list with $ and ^ symbols, naming every bad item', () => {
    expect(parseSymbolList('$VIX,AAPL')).toEqual(['$VIX', 'AAPL']);
    expect(parseSymbolList(' ^gspc , aapl,,AAPL ')).toEqual(['^GSPC', 'AAPL']);
    expect(() => parseSymbolList('AAPL,a b,x/y')).toThrow('"a b", "x/y": expected a symbol');
  });

  it('gives a JSON Schema with the pattern and the length limit', () => {
    const json = z.toJSONSchema(symbolSchema, { io: 'input' }) as { pattern?: string; maxLength?: number };
    expect(json.maxLength).toBe(MAX_SYMBOL_LENGTH);
    expect(new RegExp(json.pattern ?? '').test('$vix')).toBe(true);
  });
});
