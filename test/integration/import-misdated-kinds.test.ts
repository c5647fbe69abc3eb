import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { importBars } from '../../lib/ingest/import-bars';
import { importRequestSchema } from '../../lib/ingest/import-request';
import { rng } from '../../lib/random';
import { readBars } from '../../lib/store/bars';
import { getSnapshot } from '../../lib/store/snapshots';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';

/**
 * A VIX-like series dated two sessions early (each bar of session t+2 filed under t) was published
 * when named VXST (CBOE's 9-day VIX before 2017) and rejected when named VIX9D: the misdating test
 * took a series' orientation against the market from a list of VIX-family names, ignored the kinds
 * the import declared, and never judged futures or currencies (VX=F). A volatility_index feature on
 * the published feed became champion (OOS AUC 0.5596 against 0.5206 dated right). Now a series of
 * any kind but another market's is judged, whichever way it moves with the market, and the declared
 * kind decides which kind it is.
 */
const DAYS = nyseTradingDaysBetween('2016-01-04', '2017-12-29').slice(0, 300);
const NOW = () => new Date('2019-01-10T22:00:00Z');
const HEADER = 'Date,Open,High,Low,Close,Volume';
const cents = (x: number) => Math.round(x * 100) / 100;
const gaussOf = (draw: () => number) => () => Math.sqrt(-2 * Math.log(1 - draw())) * Math.cos(2 * Math.PI * draw());
const market = (() => {
  const gauss = gaussOf(rng(1000));
  return DAYS.map(() => 0.008 * gauss());
})();

/** Rows (date, OHLC, volume) of a level moving `beta` times the market's return, with noise of its own; `shift` sessions early (2: the bar of t+2 under t) or late (−1). */
function rows(seed: number, beta: number, noise: number, shift = 0, volume = true): string[][] {
  const gauss = gaussOf(rng(seed));
  let close = 30 + 50 * rng(seed + 7)();
  const bars = DAYS.map((_, t) => {
    const open = cents(close * (1 + 0.003 * gauss()));
    close = cents(open * Math.exp(beta * market[t] + noise * gauss()));
    const high = cents(Math.max(open, close) * (1 + 0.004 * Math.abs(gauss())));
    const low = cents(Math.min(open, close) * (1 - 0.004 * Math.abs(gauss())));
    return [String(open), String(high), String(low), String(close), String(volume ? Math.round(1e6 * Math.exp(0.3 * gauss())) : 0)];
  });
  return DAYS.flatMap((date, t) => (t + shift >= 0 && t + shift < DAYS.length ? [[date, ...bars[t + shift]]] : []));
}
const stocks = (): Record<string, string[][]> => Object.fromEntries(Array.from({ length: 24 }, (_, i) => [`SYN${String(i + 1).padStart(2, '0')}`, rows(i + 1, 1, 0.012)]));

function folder(files: Record<string, string[][]>): string {
  const dir = tempDir('mlp-misdated-kinds-');
  for (const [symbol, r] of Object.entries(files)) fs.writeFileSync(path.join(dir, `${symbol}.csv`), `${HEADER}\n${r.map((x) => x.join(',')).join('\n')}\n`);
  return dir;
}
const request = (files: Record<string, string[][]>, instruments?: Record<string, string>) => importRequestSchema.parse({ source: { kind: 'csv', path: folder(files) }, quality: { minHistoryBars: 1 }, ...(instruments ? { instruments } : {}) });

describe.each(DRIVERS)('misdated series of every kind that can feed features, at import on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it.each([
    ['VXST', { VXST: 'volatility_index' }],
    ['VXST', undefined],
    ['VX=F', undefined],
  ])('rejects %s (instruments %j), a VIX-like series dated 2 sessions early; publishes it dated as traded', async (symbol, instruments) => {
    const early = await importBars(t.store, request({ ...stocks(), [symbol]: rows(500, -5, 0.03, 2, false) }, instruments), { now: NOW });
    expect(early.status).toBe('rejected');
    expect(early.byRule.misdated_series).toBe(1);
    expect((await getSnapshot(t.store, early.snapshotId))?.statusReason).toMatch(new RegExp(`^series of ${symbol.replace('=', '\\=')} from \\S+ rejected whole \\(misdated_series\\): series of \\S+ moves against the market of 2 sessions later, .*dated 2 sessions early`));
    expect(await readBars(t.store)).toEqual([]);
    const right = await importBars(t.store, request({ ...stocks(), [symbol]: rows(500, -5, 0.03, 0, false) }, instruments), { now: NOW });
    expect([right.status, right.byRule.misdated_series]).toEqual(['published', undefined]);
  });

  it('reads the kinds the import declares: a series declared another market\'s (its day following the US day before) is not judged against the US market', async () => {
    // ZTKY moves with the US session before its own, as a Tokyo stock does: as a US equity (its name's kind) it is misdated.
    const files = { ...stocks(), ZTKY: rows(600, 1, 0.01, -1) };
    const undeclared = await importBars(t.store, request(files), { now: NOW });
    expect([undeclared.status, undeclared.byRule.misdated_series]).toEqual(['rejected', 1]);
    const declared = await importBars(t.store, request(files, { ZTKY: 'foreign_equity' }), { now: NOW });
    expect([declared.status, declared.byRule.misdated_series]).toEqual(['published', undefined]);
  });
});
