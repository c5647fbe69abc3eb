import { readBarCsv, symbolFromFileName } from '../../lib/market-data/csv-reader';
import { instrumentMapSchema } from '../../lib/market-data/instruments';
import { ProviderError } from '../../lib/market-data/providers/provider';
import { StooqProvider } from '../../lib/market-data/providers/stooq';
import { stooqTicker } from '../../lib/market-data/stooq-symbols';
import { canonicalSymbol, dotShareClass, isSymbol, parseSymbol, parseSymbolList, symbolSchema } from '../../lib/market-data/symbols';

// One security, one stored symbol: Yahoo's BRK-B, Stooq's brk-b.us and Kaggle's BRK.B are Berkshire B.
const STOOQ = 'Date,Open,High,Low,Close,Volume\n2018-01-02,175.85,177.8,175.26,177.7,2432814\n';

describe('a one-letter share class is stored dotted wherever it enters', () => {
  it.each([
    ['BRK-B', 'BRK.B'],
    ['BF-A', 'BF.A'],
    ['BRK.B', 'BRK.B'],
    // Not a one-letter class after a plain ticker: kept as written.
    ['BAC-PL', 'BAC-PL'],
    ['BTC-USD', 'BTC-USD'],
    ['ES=F', 'ES=F'],
    ['$X-Y', '$X-Y'],
    ['A-B-C', 'A-B-C'],
  ])('dotShareClass(%j) is %j', (given, stored) => {
    expect(dotShareClass(given)).toBe(stored);
  });

  it('at API, CLI and request boundaries (symbolSchema, parseSymbol, parseSymbolList)', () => {
    expect(symbolSchema.parse(' brk-b ')).toBe('BRK.B');
    expect(parseSymbol('BF-B')).toBe('BF.B');
    expect(parseSymbolList('BRK-B,brk.b,AAPL')).toEqual(['BRK.B', 'AAPL']);
  });

  it('in symbol columns and live messages (canonicalSymbol) and CSV symbol cells', () => {
    expect(canonicalSymbol('BRK-B')).toBe('BRK.B');
    expect(canonicalSymbol(' brk-b')).toBe('BRK.B');
    const read = readBarCsv('date,open,high,low,close,volume,Name\n2018-01-02,1,2,0.5,1.5,100,BRK-B\n2018-01-03,1,2,0.5,1.5,100,BRK.B\n', { source: '/x/prices.csv' });
    expect(read.bars.map((b) => b.symbol)).toEqual(['BRK.B', 'BRK.B']);
  });

  it('in file names, with or without a market (BRK-B.csv is brk-b.us.csv is brk.b.csv)', () => {
    for (const name of ['BRK-B.csv', 'brk-b.csv', 'brk-b.us.csv', 'brk.b.csv', 'BRK-B_d.csv']) expect(symbolFromFileName(`/x/${name}`)).toEqual({ symbol: 'BRK.B' });
    expect(readBarCsv(STOOQ, { source: '/x/BF-B.csv' }).bars.map((b) => b.symbol)).toEqual(['BF.B']);
  });

  it('in the Stooq provider: BRK-B fetches brk-b.us, as BRK.B does, and is stored as BRK.B', () => {
    expect(stooqTicker('BRK-B', 'us')).toEqual({ ticker: 'brk-b.us', stored: 'BRK.B' });
    expect(stooqTicker('BRK.B', 'us')).toEqual({ ticker: 'brk-b.us', stored: 'BRK.B' });
    expect(readBarCsv(STOOQ, { source: 'https://stooq.example/q/d/l/?s=brk-b.us&i=d', symbol: 'BRK-B' }).bars.map((b) => b.symbol)).toEqual(['BRK.B']);
  });

  it("in the Stooq provider: Yahoo's one-letter market suffix is asked for in Stooq's market, never as a US share class", () => {
    expect(stooqTicker('VOD.L', 'us')).toEqual({ ticker: 'vod.uk', stored: 'VOD.L' });
    expect(stooqTicker('7203.T', 'us')).toEqual({ ticker: '7203.jp', stored: '7203.T' });
    expect(stooqTicker('BT-A.L', 'us')).toEqual({ ticker: 'bt-a.uk', stored: 'BT.A.L' });
    // A US class stays one, and Stooq's own spellings are unchanged.
    expect(stooqTicker('BF.B', 'us')).toEqual({ ticker: 'bf-b.us', stored: 'BF.B' });
    expect(stooqTicker('VOD.UK', 'us')).toEqual({ ticker: 'vod.uk', stored: 'VOD.UK' });
    const p = new StooqProvider({ baseUrl: 'https://stooq.example' });
    expect(p.urlFor('VOD.L', {})).toBe('https://stooq.example/q/d/l/?s=vod.uk&i=d');
    // Frankfurt (.F) is not Stooq's: refused, not fetched as the US ticker bmw-f.us.
    expect(() => p.urlFor('BMW.F', {})).toThrow(ProviderError);
    expect(() => p.urlFor('BMW.F', {})).toThrow(/BMW\.F names a market \("\.F", DE\) that Stooq does not carry/);
    expect(symbolFromFileName('/x/vod.l.csv')).toEqual({ symbol: 'VOD.L' });
  });

  it('drops the US market suffix wherever a symbol enters (AAPL.US is AAPL, as aapl.us.csv and the Stooq provider store it); other markets keep theirs', () => {
    expect(symbolSchema.parse(' aapl.us ')).toBe('AAPL');
    expect(parseSymbolList('AAPL.US,AAPL,brk-b.us,SAP.DE')).toEqual(['AAPL', 'BRK.B', 'SAP.DE']);
    expect(canonicalSymbol('AAPL.US')).toBe('AAPL');
    const read = readBarCsv('date,open,high,low,close,volume,Name\n2018-01-02,1,2,0.5,1.5,100,AAPL.US\n2018-01-02,1,2,0.5,1.5,100,SAP.DE\n', { source: '/x/prices.csv' });
    expect(read.bars.map((b) => b.symbol)).toEqual(['AAPL', 'SAP.DE']);
  });

  it('keeps a dashed symbol stored before valid: the rule and stored instrument declarations still accept it', () => {
    expect(isSymbol('BF-B')).toBe(true);
    expect(instrumentMapSchema.safeParse({ 'BF-B': 'equity', SPY: 'etf' }).success).toBe(true);
  });
});
