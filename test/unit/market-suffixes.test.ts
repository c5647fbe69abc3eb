import fs from 'node:fs';
import { computeFeatures, type SymbolBars } from '../../lib/features/compute-features';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from '../../lib/features/feature-set';
import { symbolFromFileName } from '../../lib/market-data/csv-reader';
import { assertMarketsKnown, describeInstrumentKinds, foreignMarketOf, instrumentKind } from '../../lib/market-data/instruments';
import { hasSharedData, SHARED_SP500_DIR } from '../helpers/databases';
import { syntheticUniverse } from '../helpers/universe';

/**
 * A symbol's suffix decides whether its series is a US equity: a share class (BRK.B) is, another
 * market's series (Yahoo's 7203.T, VOD.L; Stooq's 7203.JP) is not, and closes hours before the NYSE.
 * One-letter market suffixes were read as share classes, so 7203.T and VOD.L were US equities.
 */
const YAHOO = { '7203.T': 'JP', 'VOD.L': 'UK', 'BMW.F': 'DE', 'BMW.DE': 'DE', 'AIR.PA': 'FR', 'BHP.AX': 'AU', 'RY.TO': 'CA', '0700.HK': 'HK', '005930.KS': 'KR', 'INFY.NS': 'IN' };
const STOOQ = { '7203.JP': 'JP', 'VOD.UK': 'UK', 'SAP.DE': 'DE', '0700.HK': 'HK' };

describe('market suffixes', () => {
  it("Yahoo's and Stooq's market suffixes, one letter or more, are foreign_equity of their market", () => {
    for (const [symbol, market] of Object.entries({ ...YAHOO, ...STOOQ })) {
      expect([symbol, instrumentKind(symbol), foreignMarketOf(symbol)]).toEqual([symbol, 'foreign_equity', market]);
    }
  });

  it('US share classes, .US and bare tickers stay equities', () => {
    expect(['BRK.B', 'BF.B', 'BRK.A', 'BRK-B', 'BF-B', 'MOG.A', 'AAPL.US', 'AAPL', 'A'].map((s) => [s, instrumentKind(s), foreignMarketOf(s)])).toEqual(
      ['BRK.B', 'BF.B', 'BRK.A', 'BRK-B', 'BF-B', 'MOG.A', 'AAPL.US', 'AAPL', 'A'].map((s) => [s, 'equity', undefined]),
    );
  });

  it('an unknown suffix is refused, asking for a declaration, and a declaration decides it', () => {
    for (const symbol of ['XYZ.Q', 'SHOP.V', 'ABC.ZZ', 'ABC.XYZ']) {
      expect(() => instrumentKind(symbol)).toThrow(new RegExp(`${symbol.replace('.', '\\.')} \\("\\.[A-Z]+"\\) ends in a suffix that is neither a US share class .* nor a known market's .*declare its kind in "instruments"`));
    }
    expect(instrumentKind('SHOP.V', { 'SHOP.V': 'foreign_equity' })).toBe('foreign_equity');
    expect(foreignMarketOf('SHOP.V')).toBe('V');
    expect(instrumentKind('MKC.V', { 'MKC.V': 'equity' })).toBe('equity');
    expect(() => assertMarketsKnown(['AAPL', 'XYZ.Q', 'XYZ.Q', '7203.T', 'ABC.W'], {}, 'the request')).toThrow(/^2 symbols ABC\.W \("\.W"\), XYZ\.Q \("\.Q"\) end in a suffix/);
    expect(() => assertMarketsKnown(['AAPL', 'XYZ.Q'], { 'XYZ.Q': 'equity' }, 'the request')).not.toThrow();
    expect(describeInstrumentKinds(['AAPL', 'VOD.L', 'XYZ.Q'])).toBe('1 equity; 1 foreign_equity (VOD.L); 1 undeclared (XYZ.Q)');
  });

  it('a Yahoo series of Tokyo or London gets no rows and no weight in a US universe; an undeclared suffix stops the features', () => {
    const us = syntheticUniverse(6, '2015-01-02', '2017-12-29', 9);
    const rename = (s: SymbolBars, symbol: string): SymbolBars => ({ ...s, symbol });
    const set = defineFeatureSet(DEFAULT_FEATURE_SET);
    const mixed = computeFeatures([...us.slice(0, 4), rename(us[4], '7203.T'), rename(us[5], 'VOD.L')], set);
    expect(mixed.skipped.map((s) => [s.symbol, s.reason.split(';')[0]])).toEqual([
      ['7203.T', 'foreign_equity series'],
      ['VOD.L', 'foreign_equity series'],
    ]);
    expect(mixed.frames.map((f) => f.symbol)).toEqual(us.slice(0, 4).map((s) => s.symbol));
    expect(() => computeFeatures([...us.slice(0, 4), rename(us[4], 'XYZ.Q')], set)).toThrow(/XYZ\.Q \("\.Q"\) ends in a suffix .*declare its kind in "instruments"/);
  });

  (hasSharedData ? it : it.skip)('every real S&P 500 file name (382, BF.B and BRK.B among them) gives a US equity, as before', () => {
    const names = fs.readdirSync(SHARED_SP500_DIR).filter((f) => f.endsWith('.csv'));
    const symbols = names.map((f) => {
      const r = symbolFromFileName(f);
      if (!('symbol' in r)) throw new Error(`${f}: ${r.message}`);
      return r.symbol;
    });
    expect(symbols.length).toBe(382);
    expect(symbols.filter((s) => s.includes('.')).sort()).toEqual(['BF.B', 'BRK.B']);
    expect(symbols.filter((s) => instrumentKind(s) !== 'equity')).toEqual([]);
  });
});
