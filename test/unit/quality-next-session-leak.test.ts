import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { readPriceTable, type CandidateBar } from '../../lib/market-data/csv-reader';
import { qualityPolicySchema } from '../../lib/quality/policy';
import { checkQuality, evaluateQualityGate } from '../../lib/quality/report';
import { nextSessionEvidence, seriesIssues } from '../../lib/quality/rules';
import { QUALITY_RULES } from '../../lib/quality/rules-catalog';
import { rng } from '../../lib/random';
import { hasSharedData, SHARED_SP500_DIR } from '../helpers/databases';

// Bars whose high and low span two sessions (a look-ahead inside the bars, probe bar-level-leak.ts):
// OHLC-consistent, so no row rule sees them; the series rule next_session_leak must.
const POLICY = { ...qualityPolicySchema.parse({}), minHistoryBars: 1 };
const DAYS = nyseTradingDaysBetween('2013-01-02', '2018-12-31');
const cents = (x: number) => Math.round(x * 100) / 100;

/** A clean random walk in cents: `n` bars of one symbol. */
function walk(n: number, seed: number, symbol = 'WALK', level = 60): CandidateBar[] {
  const draw = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - draw())) * Math.cos(2 * Math.PI * draw());
  let close = level;
  return DAYS.slice(0, n).map((date, i) => {
    const open = cents(close * (1 + 0.005 * gauss()));
    close = cents(open * (1 + 0.012 * gauss()));
    const high = cents(Math.max(open, close) * (1 + 0.006 * Math.abs(gauss())));
    const low = cents(Math.min(open, close) * (1 - 0.006 * Math.abs(gauss())));
    const volume = Math.round(1e6 * Math.exp(0.3 * gauss()));
    return { symbol, date, open, high, low, close, volume, source: `/x/${symbol.toLowerCase()}.csv`, line: i + 2, raw: `${date},${open},${high},${low},${close},${volume}` };
  });
}

/** The probe's smear: on `share` of days (seeded), the bar's high/low include the next bar's. */
function smear(series: readonly CandidateBar[], share: number, seed = 7): CandidateBar[] {
  const draw = rng(seed);
  const hit = series.map(() => draw() < share);
  return series.map((b, t) => (t + 1 < series.length && hit[t] ? { ...b, high: Math.max(b.high, series[t + 1].high), low: Math.min(b.low, series[t + 1].low) } : b));
}

const leaks = (s: readonly CandidateBar[]) => seriesIssues(s, POLICY).filter((i) => i.rule === 'next_session_leak');

describe('next_session_leak', () => {
  it('is a series rule that rejects (the whole series, as file_bad_row_share rejects a file)', () => {
    expect(QUALITY_RULES.next_session_leak.severity).toBe('reject');
  });

  it('leaves clean random walks alone', () => {
    for (let seed = 1; seed <= 20; seed++) expect(leaks(walk(1250, seed))).toEqual([]);
  });

  it.each([0.25, 0.1])('flags a series whose bars span two sessions on %p of days', (share) => {
    const found = leaks(smear(walk(1250, 3), share));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ symbol: 'WALK', severity: 'reject', source: '/x/walk.csv', line: null });
    expect(found[0].message).toMatch(/carry the next session's prices: on \d+ of 1249 bars the next bar lies inside the bar's range and shares its high or low, against \d+ two bars on/);
  });

  it('cannot judge a short series (no finding below the evidence a strict threshold needs)', () => {
    expect(leaks(smear(walk(30, 3), 0.25))).toEqual([]);
    expect(nextSessionEvidence([])).toMatchObject({ leaks: false, nextTouches: 0, laterTouches: 0 });
  });

  it('does not count exact copies of the previous bar (stale bars, not a look-ahead)', () => {
    const s = walk(400, 5);
    const copied = s.map((b, t) => (t % 3 === 1 ? { ...s[t - 1], date: b.date, line: b.line } : b));
    expect(leaks(copied)).toEqual([]);
  });

  it("rejects every bar of the series and fails the gate naming the symbol and file; other symbols' bars are unaffected", () => {
    const bad = smear(walk(1250, 3, 'LEAK'), 0.25);
    const good = walk(1250, 4, 'GOOD');
    const rows = [...bad, ...good];
    const { accepted, issues, report } = checkQuality(rows, [], rows.length, POLICY, { now: () => new Date('2024-01-02T23:00:00Z') });
    expect(new Set(accepted.map((b) => b.symbol))).toEqual(new Set(['GOOD']));
    expect(issues.filter((i) => i.rule === 'file_rejected' && i.symbol === 'LEAK')).toHaveLength(1250);
    expect(report.byRule.next_session_leak).toBe(1);
    expect(report.bySymbol.LEAK).toMatchObject({ rowsAccepted: 0, rowsRejected: 1250, rejectedSeries: { source: '/x/leak.csv', rule: 'next_session_leak' } });
    const verdict = evaluateQualityGate(report);
    expect(verdict.passed).toBe(false);
    expect(verdict.reasons[0]).toMatch(/^series of LEAK from \/x\/leak\.csv rejected whole \(next_session_leak\): its bars carry the next session's prices/);
  });

  // The 382 real S&P 500 files (not in the repository): no clean series flagged, the smear caught.
  (hasSharedData ? it : it.skip)('flags no real S&P 500 series, and most of them once smeared on 25% or 10% of days', () => {
    const bySymbol = new Map<string, CandidateBar[]>();
    for (const f of fs.readdirSync(SHARED_SP500_DIR).filter((n) => n.endsWith('.csv'))) {
      const source = path.join(SHARED_SP500_DIR, f);
      for (const b of readPriceTable(fs.readFileSync(source, 'utf8'), { source }).bars) {
        const list = bySymbol.get(b.symbol) ?? [];
        list.push(b);
        bySymbol.set(b.symbol, list);
      }
    }
    const series = [...bySymbol.values()].map((l) => l.sort((a, b) => (a.date < b.date ? -1 : 1)));
    expect(series.length).toBe(382);
    expect(series.filter((s) => nextSessionEvidence(s).leaks).map((s) => s[0].symbol)).toEqual([]);
    expect(series.filter((s) => nextSessionEvidence(smear(s, 0.25)).leaks).length).toBeGreaterThanOrEqual(370);
    expect(series.filter((s) => nextSessionEvidence(smear(s, 0.1)).leaks).length).toBeGreaterThanOrEqual(340);
  });
});
