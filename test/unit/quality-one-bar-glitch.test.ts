import fs from 'node:fs';
import path from 'node:path';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { readPriceTable, type CandidateBar } from '../../lib/market-data/csv-reader';
import { qualityPolicySchema } from '../../lib/quality/policy';
import { checkQuality, evaluateQualityGate } from '../../lib/quality/report';
import { glitchRuns, oneBarGlitches } from '../../lib/quality/rules';
import { QUALITY_RULES } from '../../lib/quality/rules-catalog';
import { storedBarIssues } from '../../lib/quality/stored-rules';
import { rng } from '../../lib/random';
import { coverageOf } from '../../lib/store/staging';
import { hasSharedData, SHARED_SP500_DIR } from '../helpers/databases';

// A row the next bar undoes (probe p7-real-glitch.ts: IBM 2016-04-12 written without its decimal
// points, 149.63 -> 14963) was only an extreme_move flag, so it was published over the good bar.
const POLICY = { ...qualityPolicySchema.parse({}), minHistoryBars: 1 };
const DAYS = nyseTradingDaysBetween('2016-01-04', '2018-12-31');
const NOW = () => new Date('2019-01-10T22:00:00Z');

/** 60 bars of S around 150 (±1% a day, seeded), volume about 3.5M; `edit` changes bar i. */
function series(edit: (b: CandidateBar, i: number) => CandidateBar = (b) => b, n = 60, symbol = 'S'): CandidateBar[] {
  const draw = rng(5);
  let close = 150;
  return DAYS.slice(0, n).map((date, i) => {
    close = Math.round(close * (1 + (draw() - 0.5) * 0.02) * 100) / 100;
    const b = { symbol, date, open: close, high: Math.round(close * 101) / 100, low: Math.round(close * 99) / 100, close, volume: 3_500_000 + i, source: `/x/${symbol.toLowerCase()}.csv`, line: i + 2, raw: `${date},row ${i}` };
    return edit(b, i);
  });
}
const scaled = (b: CandidateBar, k: number): CandidateBar => ({ ...b, open: b.open * k, high: b.high * k, low: b.low * k, close: b.close * k });
const glitches = (s: readonly CandidateBar[], policy = POLICY) => oneBarGlitches(s, policy).map((i) => i.date);

describe('one_bar_glitch', () => {
  it('is a row rejection', () => {
    expect(QUALITY_RULES.one_bar_glitch.severity).toBe('reject');
  });

  it.each([
    ['decimal points lost (x100)', 100],
    ['/100', 0.01],
    ['x10', 10],
    ['/10', 0.1],
    ['+50%', 1.5],
    ['-40%', 0.6],
  ])('rejects a row %s that the next bar undoes, and only that row', (_label, k) => {
    const s = series((b, i) => (i === 30 ? scaled(b, k) : b));
    expect(glitches(s)).toEqual([s[30].date]);
  });

  // The rule decides with the next bar; a real move undone the next day on heavy volume (a pump and
  // its collapse) is no data error: it was deleted, whatever its volume, and the labels spanning it
  // left training and scoring.
  it('keeps and flags a +35% move undone the next session when both traded on heavy volume for the symbol', () => {
    const pumped = (volume: number, next: number, k = 1.4) => series((b, i) => (i === 30 ? { ...scaled(b, k), volume: volume * b.volume } : i === 31 ? { ...b, volume: next * b.volume } : b));
    const real = pumped(6, 4);
    const found = oneBarGlitches(real, POLICY);
    expect(found.map((i) => [i.rule, i.severity, i.date])).toEqual([['extreme_move', 'flag', real[30].date]]);
    expect(found[0].message).toMatch(/undone the next session as a glitch is, but on heavy volume \(6\.0 and 4\.0 times the median of the 20 sessions before\): a real move reversed, not a data error; kept$/);
    // Through the whole check: stored, one flag for the move (not a second extreme_move), none rejected.
    const checked = checkQuality(real, [], real.length, POLICY, { now: NOW });
    expect(checked.issues.filter((i) => i.date === real[30].date).map((i) => i.rule)).toEqual(['extreme_move']);
    expect(checked.accepted.map((b) => b.date)).toContain(real[30].date);
    // Ordinary volume on either day, or a move no trading day makes (×10), is still a glitch.
    expect(glitches(pumped(1, 4))).toEqual([real[30].date]);
    expect(glitches(pumped(6, 1))).toEqual([real[30].date]);
    expect(glitches(pumped(2.9, 4))).toEqual([real[30].date]);
    expect(glitches(pumped(6, 4, 10))).toEqual([real[30].date]);
    // Without the volumes (glitchRuns on closes alone) nothing changes.
    expect(glitchRuns(real.map((b) => b.close), 0.35)).toEqual([{ first: 30, last: 30 }]);
  });

  it('does not retract a stored pump that the next bar undoes when both traded on heavy volume', () => {
    const pump = (volume: number) => series((b, i) => (i === 30 ? { ...scaled(b, 1.4), volume: volume * b.volume } : i === 31 ? { ...b, volume: 4 * b.volume } : b), 32);
    const judged = (s: CandidateBar[]) => [...storedBarIssues({ symbol: 'S', staged: [s[31]], stored: s.slice(0, 31), kind: 'equity', source: '' }, POLICY).retracted.keys()];
    expect(judged(pump(6))).toEqual([]);
    expect(judged(pump(1))).toEqual([DAYS[30]]);
  });

  it('rejects a row of 0.000001 prices (the smallest plausible price)', () => {
    const s = series((b, i) => (i === 30 ? { ...b, open: 1e-6, high: 1e-6, low: 1e-6, close: 1e-6 } : b));
    expect(glitches(s)).toEqual([s[30].date]);
  });

  it('rejects a glitch spanning two rows, both of them', () => {
    const s = series((b, i) => (i === 30 || i === 31 ? scaled(b, 100) : b));
    expect(glitches(s)).toEqual([s[30].date, s[31].date]);
    const mixed = series((b, i) => (i === 30 ? scaled(b, 100) : i === 31 ? scaled(b, 0.01) : b));
    expect(glitches(mixed)).toEqual([mixed[30].date, mixed[31].date]);
  });

  // A few rows in cents, or mislabelled with another symbol (its level ×3.6), between bars that agree:
  // too few for series_splice and series_mismatch, they were published over good stored bars.
  it.each([
    ['in cents (x100)', 100, [3, 4, 5, 8, 20, 30]],
    ['/100', 0.01, [3, 10, 30]],
    ["another security's level (x3.6)", 3.6, [3, 7, 12, 30]],
    ['-40%', 0.6, [3, 30]],
  ])('rejects a block of 3 to 30 rows %s between bars that agree, every row of it', (_label, k, lengths) => {
    for (const n of lengths as number[]) {
      const s = series((b, i) => (i >= 20 && i < 20 + n ? scaled(b, k as number) : b));
      expect(glitches(s)).toEqual(s.slice(20, 20 + n).map((b) => b.date));
    }
    const s = series((b, i) => (i >= 20 && i < 24 ? scaled(b, 100) : b));
    const [found] = oneBarGlitches(s, POLICY);
    expect(found.message).toMatch(/every one of the rows a move beyond ×1\.50 or ÷1\.50 \(the 50% limit of a block of 3 to 30 rows either way\), and the bar after is back within 10% of the bar before: the 4 rows \d{4}-\d\d-\d\d\.\.\d{4}-\d\d-\d\d are a block off the series/);
  });

  it('leaves a block of 3 rows or more alone within ×1.5 (a move undone later is a move), and one of more than 30 rows (a level held that long is series_splice\'s)', () => {
    expect(glitches(series((b, i) => (i >= 20 && i <= 22 ? scaled(b, 1.45) : b)))).toEqual([]);
    expect(glitches(series((b, i) => (i >= 20 && i <= 22 ? scaled(b, 0.7) : b)))).toEqual([]);
    expect(glitches(series((b, i) => (i >= 10 && i < 41 ? scaled(b, 100) : b), 80))).toEqual([]);
    // A higher glitch limit holds for blocks too.
    expect(glitches(series((b, i) => (i >= 20 && i <= 22 ? scaled(b, 1.7) : b)), { ...POLICY, extremeMoveLimit: 0.8 })).toEqual([]);
  });

  it('does not take the good rows between two glitched rows or blocks for a block', () => {
    expect(glitchRuns([10, 1000, 10, 10, 10, 1000, 10], 0.35)).toEqual([{ first: 1, last: 1 }, { first: 5, last: 5 }]);
    expect(glitchRuns([10, 1000, 1000, 1000, 10, 10, 10, 1000, 1000, 1000, 10], 0.35)).toEqual([{ first: 1, last: 3 }, { first: 7, last: 9 }]);
  });

  it('leaves a real move that holds alone (a level shift, a split), and a spike that does not come back within 10%', () => {
    expect(glitches(series((b, i) => (i >= 30 ? scaled(b, 0.5) : b)))).toEqual([]);
    expect(glitches(series((b, i) => (i === 30 ? scaled(b, 2) : i > 30 ? scaled(b, 1.15) : b)))).toEqual([]);
    // A trend of big moves (CHK 2016-03: 2.76, 3.40, 4.27): the bar lies between its neighbours.
    expect(glitchRuns([2.76, 3.4, 4.27, 5.08], 0.35)).toEqual([]);
  });

  it('needs both moves beyond the limit, measured on the log scale (NWL 2017-09-14: -30.3%, then +40.2%)', () => {
    expect(glitchRuns([44.22, 30.81, 43.2], 0.35)).toEqual([{ first: 1, last: 1 }]);
    expect(glitchRuns([100, 130, 100], 0.35)).toEqual([]);
    expect(glitchRuns([100, 136, 100], 0.35)).toEqual([{ first: 1, last: 1 }]);
    expect(glitchRuns([100, 136, 100], 0.6)).toEqual([]);
  });

  it('never goes below a 25% limit: a lower extremeMoveLimit asks for more flags, not for rejected rows', () => {
    // Row 30 has 29 returns before it, too few for the symbol's own scale (judged below): the fixed limit alone.
    const s = series((b, i) => (i === 30 ? scaled(b, 1.2) : b));
    expect(glitches(s, { ...POLICY, extremeMoveLimit: 0.05 })).toEqual([]);
    expect(glitches(series((b, i) => (i === 30 ? scaled(b, 1.3) : b)), { ...POLICY, extremeMoveLimit: 0.05 })).toEqual([series()[30].date]);
  });

  // A MSFT row typed ×1.3 between two bars that agree within 1%, on ordinary volume, is some 20 of
  // the symbol's standard deviations and undone the next day; under the fixed 35% it was published.
  describe("on the symbol's own scale (its robust daily volatility)", () => {
    const AT = 70;
    const long = (edit: (b: CandidateBar, i: number) => CandidateBar = (b) => b) => series(edit, 120);

    it.each([
      ['x1.3', 1.3],
      ['x1.2', 1.2],
      ['x0.8', 0.8],
      ['x0.75', 0.75],
    ])('rejects a row %s of a quiet symbol (about 0.7%% a day) that the next bar undoes', (_label, k) => {
      const s = long((b, i) => (i === AT ? scaled(b, k) : b));
      const found = oneBarGlitches(s, POLICY);
      expect(found.map((f) => [f.rule, f.date])).toEqual([['one_bar_glitch', s[AT].date]]);
      expect(found[0].message).toMatch(/times the symbol's robust daily volatility \(0\.\d\d%, of the 60 sessions before or, when it moved far more of late, of the last 10; the limit is \d+ times it, at least 10%.*on no volume spike.*is a one-bar glitch \(a mistyped price\), not a move; rejected, and a stored bar for its date is kept$/);
    });

    it('rejects two adjacent rows typed x1.3, and a row with only its close and high typed', () => {
      const two = long((b, i) => (i === AT || i === AT + 1 ? scaled(b, 1.3) : b));
      expect(glitches(two)).toEqual([two[AT].date, two[AT + 1].date]);
      const closeOnly = long((b, i) => (i === AT ? { ...b, high: b.high * 1.3, close: b.close * 1.3 } : b));
      expect(glitches(closeOnly)).toEqual([closeOnly[AT].date]);
    });

    // The level 10 sessions back was one close: a typo there (rejected, yet among the file's closes)
    // read as a level move of log 1.3 (σ 2.8%, a limit of 22%), and a second typo 11 sessions later
    // was published (MSFT 2015-06-29 ×1.3, 2015-07-15 ×1.2: only the first rejected).
    it.each([
      ['x1.3', 'x1.2', 1.3, 1.2],
      ['x10', 'x1.3', 10, 1.3],
    ])('rejects a row %s and a row %s 11 sessions later: a glitch is no move of the level', (_a, _b, first, second) => {
      const s = long((b, i) => (i === AT ? scaled(b, first) : i === AT + 11 ? scaled(b, second) : b));
      expect(glitches(s)).toEqual([s[AT].date, s[AT + 11].date]);
    });

    // A 2:1 split (prices halved, volume doubled, as unadjusted_split reads one) read as a level move
    // of log 2: σ 7.3%, a limit of 58%, and a typo ×1.2 in the 10 sessions after it was published.
    it.each([1, 3, 6, 10])('rejects a row x1.2 %i sessions after an unadjusted 2:1 split, and not the split', (k) => {
      const split = (b: CandidateBar, i: number): CandidateBar => (i >= AT ? { ...scaled(b, 0.5), volume: b.volume * 2 } : b);
      const s = long((b, i) => (i === AT + k ? scaled(split(b, i), 1.2) : split(b, i)));
      expect(glitches(s)).toEqual([s[AT + k].date]);
      expect(glitches(long(split))).toEqual([]);
    });

    it('keeps a row x1.2 after a halving on news (10 times the volume, on no split volume): the jump that held raises σ', () => {
      const news = (b: CandidateBar, i: number): CandidateBar => (i === AT ? { ...scaled(b, 0.5), volume: b.volume * 10 } : i > AT ? { ...scaled(b, 0.5), volume: b.volume * 3 } : b);
      expect(glitches(long((b, i) => (i === AT + 3 ? scaled(news(b, i), 1.2) : news(b, i))))).toEqual([]);
    });

    it('keeps a spike on its own heavy volume (3 times the 20 sessions before), a move that holds, a volatile symbol, and a row with too little history', () => {
      expect(glitches(long((b, i) => (i === AT ? { ...scaled(b, 1.3), volume: b.volume * 3 } : b)))).toEqual([]);
      expect(glitches(long((b, i) => (i >= AT ? scaled(b, 1.3) : b)))).toEqual([]);
      // An earnings gap of +15% that the next day keeps most of.
      expect(glitches(long((b, i) => (i === AT ? scaled(b, 1.15) : i > AT ? scaled(b, 1.1) : b)))).toEqual([]);
      // A symbol moving about 5% a day: +30% is 6 of its deviations, no glitch by the scale.
      const draw = rng(3);
      let c = 20;
      const wild = long((b) => {
        c = Math.round(c * Math.exp((draw() - 0.5) * 0.14) * 100) / 100;
        return { ...b, open: c, high: c, low: c, close: c };
      });
      expect(glitches(wild.map((b, i) => (i === AT ? scaled(b, 1.3) : b)))).toEqual([]);
      // 30 returns before it: the fixed limit alone.
      expect(glitches(series((b, i) => (i === 30 ? scaled(b, 1.3) : b)))).toEqual([]);
    });

    it('flags a move beyond the scale that is not undone (extreme_move), and not a quiet day', () => {
      const flags = (s: CandidateBar[]) => checkQuality(s, [], s.length, POLICY, { now: NOW }).issues.filter((f) => f.rule === 'extreme_move').map((f) => f.date);
      const held = long((b, i) => (i >= AT ? scaled(b, 1.2) : b));
      expect(flags(held)).toEqual([held[AT].date]);
      const last = long((b, i) => (i === 119 ? scaled(b, 1.3) : b));
      const found = checkQuality(last, [], last.length, POLICY, { now: NOW }).issues.filter((f) => f.rule === 'extreme_move');
      expect(found.map((f) => f.date)).toEqual([last[119].date]);
      expect(found[0].message).toMatch(/^close [\d.]+ -> [\d.]+ \(29\.\d%\), \d+ times the symbol's robust daily volatility/);
      expect(flags(long())).toEqual([]);
    });

    // A stock halved on news (10 times its volume) that then moves about 5% a day: its σ of the 60
    // returns before stays about 1.2% for 20 to 40 sessions, so its limit was the 10% floor and real
    // days of the new regime (-10%, then +11%, on its new ordinary volume) were rejected: 3 of these
    // 200 paths lost a real bar. A typo ×1.3 on the calm stretch before the news is still found.
    it('judges a symbol whose regime changed on its recent volatility, not the 60 sessions before (a stock halved, then 5% a day)', () => {
      const draw = rng(11);
      const gauss = (): number => {
        let sum = 0;
        for (let k = 0; k < 12; k++) sum += draw();
        return sum - 6;
      };
      const lost: string[] = [];
      let typos = 0;
      for (let path = 0; path < 200; path++) {
        const closes: number[] = [];
        const volumes: number[] = [];
        let c = 40;
        for (let i = 0; i < 80; i++) {
          c *= Math.exp(0.01 * gauss());
          closes.push(c);
          volumes.push(1e6 * (0.8 + 0.4 * draw()));
        }
        c *= 0.5;
        closes.push(c);
        volumes.push(1e7);
        for (let i = 0; i < 40; i++) {
          c *= Math.exp(0.05 * gauss());
          closes.push(c);
          volumes.push(3e6 * (0.7 + 0.6 * draw()));
        }
        for (const r of glitchRuns(closes, 0.35, volumes)) lost.push(`path ${path}: session ${r.first - 80} after the news, ${closes.slice(r.first - 1, r.last + 2).map((x) => x.toFixed(2)).join(' -> ')}`);
        const typo = closes.map((x, i) => (i === 70 ? x * 1.3 : x));
        if (glitchRuns(typo, 0.35, volumes).some((r) => r.first === 70 && r.last === 70 && r.scale)) typos++;
      }
      expect(lost).toEqual([]);
      expect(typos).toBe(200);
    });
  });

  it('cannot judge the first or the last row of a file on its own (no bar on one side)', () => {
    expect(glitches(series((b, i) => (i === 0 || i === 59 ? scaled(b, 100) : b)))).toEqual([]);
  });

  it('rejects the row in checkQuality: not accepted, quarantined with line and raw row, no extreme_move, its date a rejected row of the coverage', () => {
    const s = series((b, i) => (i === 30 ? scaled(b, 100) : b));
    const { accepted, issues, report } = checkQuality(s, [], s.length, POLICY, { now: NOW });
    expect(accepted.map((b) => b.date)).toEqual(s.filter((_, i) => i !== 30).map((b) => b.date));
    const found = issues.filter((i) => i.rule === 'one_bar_glitch');
    expect(found).toEqual([expect.objectContaining({ severity: 'reject', symbol: 'S', date: s[30].date, source: '/x/s.csv', line: 32, raw: s[30].raw })]);
    expect(found[0].message).toContain(`-> ${s[30].close} -> ${s[31].close}`);
    expect(found[0].message).toMatch(/\+\d{4}\.\d%, then -99\.\d%, each a move beyond ×1\.35 or ÷1\.35 \(the 35% limit either way\), and the bar after is back within 10% of the bar before: the row of \d{4}-\d\d-\d\d is a one-bar glitch/);
    expect(report.byRule).toMatchObject({ one_bar_glitch: 1, calendar_gap: 1 });
    expect(report.byRule.extreme_move).toBeUndefined();
    expect(report.rowsRejected).toBe(1);
    expect(coverageOf(accepted, issues).rejected.get(`S\u0000${s[30].date}`)).toBe('one_bar_glitch');
  });

  it("counts toward the file's share: a file of many glitches is rejected whole", () => {
    const s = series((b, i) => (i % 4 === 2 ? scaled(b, 100) : b));
    const { accepted, report } = checkQuality(s, [], s.length, POLICY, { now: NOW });
    expect(report.byRule.one_bar_glitch).toBe(15);
    expect(report.byRule.file_bad_row_share).toBe(1);
    expect(accepted).toEqual([]);
    expect(evaluateQualityGate(report).reasons[0]).toMatch(/^file \/x\/s\.csv rejected whole: 15 of its 60 rows for S were rejected \(25\.00%\), above the per-file limit of 20\.00% \(one_bar_glitch: 15/);
  });

  // The 382 real S&P 500 files (not in the repository), each judged as an import judges it.
  (hasSharedData ? it : it.skip)('rejects eight rows of the real S&P 500 files, each a vendor glitch (NWL 2017-09-14 beyond 35%), and finds glitches planted into them', () => {
    const found: string[] = [];
    const real: CandidateBar[][] = [];
    for (const f of fs.readdirSync(SHARED_SP500_DIR).filter((n) => n.endsWith('.csv')).sort()) {
      const source = path.join(SHARED_SP500_DIR, f);
      const read = readPriceTable(fs.readFileSync(source, 'utf8'), { source });
      const { accepted, issues } = checkQuality(read.bars, read.issues, read.rowsRead, POLICY, { now: NOW });
      for (const i of issues) if (i.rule === 'one_bar_glitch') found.push(`${i.symbol} ${i.date}`);
      real.push(accepted.map((b) => ({ ...b, source, line: 0, raw: '' })));
    }
    expect(real).toHaveLength(382);
    // 44.22, 30.81, 43.20: the file's 2017-09-14 is off, and so are COP, MPC and MRK that day, by less
    // than 35% but 10 to 21 of their robust daily deviations each (found on the symbol's own scale), as
    // are COTY, MTD, O and TIF on single days (a whole bar +13% to +19% on ordinary volume, undone the
    // next morning).
    expect(found).toEqual(['COP 2017-09-14', 'COTY 2014-10-30', 'MPC 2017-09-14', 'MRK 2017-09-14', 'MTD 2014-10-30', 'NWL 2017-09-14', 'O 2013-12-20', 'TIF 2013-12-18']);
    const draw = rng(11);
    let planted = 0;
    let caught = 0;
    for (const s of real) {
      for (const k of [100, 0.01, 10, 1.5]) {
        const at = 1 + Math.floor(draw() * (s.length - 2));
        planted++;
        if (glitches(s.map((b, i) => (i === at ? scaled(b, k) : b))).includes(s[at].date)) caught++;
      }
    }
    expect(caught / planted).toBeGreaterThan(0.985);
  });
});
