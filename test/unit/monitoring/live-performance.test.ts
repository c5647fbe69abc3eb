import { backtestPromiseOf, calibrationOf, dayClusteredEffectiveSize, hitRateIntervalOf, livePerformanceOf, liveStrategyOf, DEFAULT_PERFORMANCE_OPTIONS, type OutcomeSample } from '../../../lib/monitoring/live-performance';
import { rng } from '../../../lib/random';

const day = (d: number) => `2024-${String(1 + Math.floor(d / 28)).padStart(2, '0')}-${String(1 + (d % 28)).padStart(2, '0')}`;

/** `days` days × `symbols` symbols; the model is right with probability `accuracy`, its probability 0.5 ± 0.1. */
function samples(options: { days: number; symbols: number; accuracy: number; seed: number; upReturn?: number }): OutcomeSample[] {
  const next = rng(options.seed);
  const out: OutcomeSample[] = [];
  for (let d = 0; d < options.days; d++) {
    for (let s = 0; s < options.symbols; s++) {
      const outcome = next() < 0.5 ? 1 : 0;
      const right = next() < options.accuracy;
      const predictedClass = (right ? outcome : 1 - outcome) as 0 | 1;
      out.push({ symbol: `S${s}`, asOf: day(d), probability: predictedClass === 1 ? 0.6 : 0.4, predictedClass, outcome: outcome as 0 | 1, forwardReturn: (outcome === 1 ? 1 : -1) * (options.upReturn ?? 0.01) });
    }
  }
  return out;
}

const promise = { accuracy: 0.55, auc: 0.56, maxDrawdown: 0.1, meanDailyReturn: 0.0004 };

describe('live performance', () => {
  it('says "insufficient data", never degraded, below the minimum sample, even when every prediction is wrong', () => {
    const few = samples({ days: 5, symbols: 10, accuracy: 0, seed: 1 });
    const report = livePerformanceOf(few, promise);
    expect(report.status).toBe('insufficient-data');
    expect(report.severity).toBeNull();
    expect(report.hitRate).toBe(0);
    expect(report.reasons[0]).toMatch(/50 matured predictions on 5 days; performance is judged from 100 predictions on 10 days/);
    // Enough predictions but too few days is just as insufficient.
    expect(livePerformanceOf(samples({ days: 5, symbols: 40, accuracy: 0, seed: 1 }), promise).status).toBe('insufficient-data');
  });

  it('is degraded (critical) when the hit rate is significantly below the promise, ok when it keeps it', () => {
    const bad = livePerformanceOf(samples({ days: 30, symbols: 20, accuracy: 0.4, seed: 2 }), promise);
    expect(bad.status).toBe('degraded');
    expect(bad.severity).toBe('critical');
    expect(bad.hitRateInterval?.upper).toBeLessThan(0.55 - 0.02);
    // The interval carries its level, so whatever shows it can say which.
    expect(bad.hitRateInterval?.confidence).toBe(DEFAULT_PERFORMANCE_OPTIONS.confidence);
    expect(bad.reasons[0]).toMatch(/significantly more than 2\.0 points below/);

    const good = livePerformanceOf(samples({ days: 30, symbols: 20, accuracy: 0.56, seed: 3 }), promise);
    expect(good.status).toBe('ok');
    expect(good.severity).toBeNull();
    expect(good.auc).toBeGreaterThan(0.5);
    // The verdict names the margin it judges by (an interval below the promise by less than it read "not significantly below").
    expect(good.reasons[0]).toMatch(/: not significantly more than 2\.0 points below/);
    // Noise around the promise is not degradation: a model as good as promised, judged on a small sample
    // (30 days of 5-session outcomes: 6 independent stretches).
    for (let seed = 10; seed < 30; seed++) expect(livePerformanceOf(samples({ days: 30, symbols: 10, accuracy: 0.55, seed }), { ...promise, maxDrawdown: null }).status).toBe('ok');
  });

  it('shows the hit rate beside the stronger constant on the same predictions', () => {
    // A period of mostly downs: a model right 52% of the time reads well until "always down" scores more.
    const rows = samples({ days: 30, symbols: 20, accuracy: 0.52, seed: 4 }).map((r, i) => (i % 10 < 2 && r.outcome === 1 ? { ...r, outcome: 0 as const, predictedClass: (1 - r.predictedClass) as 0 | 1 } : r));
    const report = livePerformanceOf(rows, promise);
    const downs = rows.filter((r) => r.outcome === 0).length / rows.length;
    expect(report.baseline).toEqual({ name: 'always down', hitRate: expect.closeTo(downs, 4) });
    expect(report.baseline!.hitRate).toBeGreaterThan(report.hitRate!);
    expect(report.reasons[0]).toMatch(/; always down scores \d+\.\d% on the same predictions\) against/);
    expect(livePerformanceOf(rows.map((r) => ({ ...r, outcome: (1 - r.outcome) as 0 | 1 })), promise).baseline?.name).toBe('always up');
  });

  it('holds no other strategy than the backtest\'s against its drawdown, and compares calibration with its bound (warnings)', () => {
    // Right 56% of the time but every up-call loses big: the signal check falls. It is not the
    // backtest's strategy (no costs, every up-call, per horizon), so its drawdown is shown, never
    // compared with the promise; the backtest's own strategy re-traded is (live-book.test.ts).
    const losing = samples({ days: 40, symbols: 20, accuracy: 0.56, seed: 5 }).map((s) => ({ ...s, forwardReturn: s.predictedClass === 1 ? -0.05 : 0.05 }));
    const report = livePerformanceOf(losing, promise);
    expect(report.strategy?.maxDrawdown).toBeGreaterThan(0.15);
    expect(report.status).toBe('ok');
    expect(report.reasons.join(' ')).toMatch(/drawdown not compared with the backtest's 10\.0%: the backtest strategy was not re-traded on the live period/);

    const overconfident = samples({ days: 30, symbols: 20, accuracy: 0.56, seed: 6 }).map((s) => ({ ...s, probability: s.predictedClass === 1 ? 0.99 : 0.01 }));
    const miscalibrated = livePerformanceOf(overconfident, { ...promise, maxDrawdown: null });
    expect(miscalibrated.calibration.expectedCalibrationError).toBeGreaterThan(0.3);
    expect(miscalibrated.severity).toBe('warning');
  });

  it('builds reliability bins and the expected calibration error', () => {
    const s: OutcomeSample[] = [
      { symbol: 'A', asOf: day(0), probability: 0.05, predictedClass: 0, outcome: 0, forwardReturn: 0 },
      { symbol: 'B', asOf: day(0), probability: 0.95, predictedClass: 1, outcome: 1, forwardReturn: 0 },
      { symbol: 'C', asOf: day(0), probability: 0.95, predictedClass: 1, outcome: 0, forwardReturn: 0 },
    ];
    const c = calibrationOf(s, 10);
    expect(c.bins[0]).toMatchObject({ count: 1, meanPredicted: 0.05, observedRate: 0 });
    expect(c.bins[9]).toMatchObject({ count: 2, meanPredicted: 0.95, observedRate: 0.5 });
    expect(c.expectedCalibrationError).toBeCloseTo((1 / 3) * 0.05 + (2 / 3) * 0.45, 4);
  });

  it('counts day clusters: a day where every symbol is right together is one observation, not forty', () => {
    const together: OutcomeSample[] = [];
    for (let d = 0; d < 20; d++) for (let s = 0; s < 40; s++) together.push({ symbol: `S${s}`, asOf: day(d), probability: 0.6, predictedClass: 1, outcome: d % 2 === 0 ? 1 : 0, forwardReturn: 0 });
    expect(dayClusteredEffectiveSize(together)).toBeCloseTo(20, 5);
    expect(dayClusteredEffectiveSize(samples({ days: 20, symbols: 40, accuracy: 0.5, seed: 7 }))).toBeGreaterThan(500);
  });

  it('runs the long-or-flat strategy in overlapping tranches', () => {
    const s: OutcomeSample[] = [
      { symbol: 'A', asOf: day(0), probability: 0.7, predictedClass: 1, outcome: 1, forwardReturn: 0.1 },
      { symbol: 'B', asOf: day(0), probability: 0.3, predictedClass: 0, outcome: 1, forwardReturn: 0.2 },
      { symbol: 'A', asOf: day(1), probability: 0.7, predictedClass: 1, outcome: 0, forwardReturn: -0.1 },
    ];
    const st = liveStrategyOf(s, 5);
    // Day 0: (0.1 + 0) / 2 / 5 = 1%; day 1: −0.1 / 5 = −2%.
    expect(st?.totalReturn).toBeCloseTo(1.01 * 0.98 - 1, 4);
    expect(st?.maxDrawdown).toBeCloseTo(0.02, 4);
  });

  it('reads the promise from registry metrics, tolerating versions without one', () => {
    expect(backtestPromiseOf({ outOfSample: { classification: { accuracy: 0.53, rocAuc: 0.55 }, backtest: { strategy: { maxDrawdown: 0.2, meanReturn: 0.001 } } } })).toEqual({ accuracy: 0.53, auc: 0.55, maxDrawdown: 0.2, meanDailyReturn: 0.001 });
    expect(backtestPromiseOf({})).toEqual({ accuracy: null, auc: null, maxDrawdown: null, meanDailyReturn: null });
    // Without a promise the bar is a coin flip.
    const report = livePerformanceOf(samples({ days: 30, symbols: 20, accuracy: 0.4, seed: 8 }), backtestPromiseOf({}), DEFAULT_PERFORMANCE_OPTIONS);
    expect(report.status).toBe('degraded');
    expect(report.reasons[0]).toMatch(/coin flip/);
  });
});

/**
 * A market of `symbols` stocks over `days` prediction days with 5-session outcomes: daily returns
 * are the market's move plus the stock's own (symmetric, no drift: every outcome is up with
 * probability ½), and the model, with no view of the future, mostly calls "up" and keeps its call on
 * a stock from day to day. Its hit rate is ½ in expectation, what it promised.
 */
function overlappingMarket(seed: number, options: { days: number; symbols: number; horizon: number; wrongShare?: number }): OutcomeSample[] {
  const next = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const sessions = options.days + options.horizon;
  const market = Array.from({ length: sessions }, () => 0.01 * gauss());
  const returns = Array.from({ length: options.symbols }, () => market.map((m) => m + 0.015 * gauss()));
  const view = Array.from({ length: options.symbols }, () => gauss());
  const out: OutcomeSample[] = [];
  for (let d = 0; d < options.days; d++) {
    for (let s = 0; s < options.symbols; s++) {
      view[s] = 0.9 * view[s] + Math.sqrt(1 - 0.81) * gauss();
      let forward = 0;
      for (let k = 1; k <= options.horizon; k++) forward += returns[s][d + k];
      const outcome = forward > 0 ? 1 : 0;
      let predictedClass: 0 | 1 = view[s] + 0.5 > 0 ? 1 : 0;
      if (options.wrongShare !== undefined && next() < options.wrongShare) predictedClass = outcome === 1 ? 0 : 1;
      out.push({ symbol: `S${s}`, asOf: day(d), probability: predictedClass === 1 ? 0.6 : 0.4, predictedClass, outcome, forwardReturn: forward });
    }
  }
  return out;
}

describe('live hit rate with overlapping outcomes', () => {
  const noPromiseOfDrawdown = { accuracy: 0.5, auc: null, maxDrawdown: null, meanDailyReturn: null };

  it('calls a model as good as promised degraded at most at the nominal rate (99% interval, 0.5% one-sided)', () => {
    // 37 matured days of 5-session outcomes, 50 symbols: what a 60-day lookback holds. Clustering by
    // day alone took consecutive days for independent ones and alarmed in 8 of these 200 runs (4%).
    let critical = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const report = livePerformanceOf(overlappingMarket(seed, { days: 37, symbols: 50, horizon: 5 }), noPromiseOfDrawdown, { ...DEFAULT_PERFORMANCE_OPTIONS, maxCalibrationError: 1 });
      if (report.severity === 'critical') critical++;
    }
    expect(critical).toBeLessThanOrEqual(2);
  });

  it('still finds a model that got clearly worse, and says what its interval rests on', () => {
    let critical = 0;
    for (let seed = 1; seed <= 50; seed++) {
      const report = livePerformanceOf(overlappingMarket(seed, { days: 37, symbols: 50, horizon: 5, wrongShare: 0.35 }), noPromiseOfDrawdown, { ...DEFAULT_PERFORMANCE_OPTIONS, maxCalibrationError: 1 });
      if (report.severity === 'critical') critical++;
    }
    expect(critical).toBeGreaterThanOrEqual(45);
    const one = livePerformanceOf(overlappingMarket(1, { days: 37, symbols: 50, horizon: 5 }), noPromiseOfDrawdown);
    expect(one.reasons[0]).toMatch(/independent stretches of days/);
    // Student's t on the 8 stretches of 5 days that 37 days make (7 degrees of freedom), not on 37 days.
    const interval = hitRateIntervalOf(overlappingMarket(1, { days: 37, symbols: 50, horizon: 5 }), 5, 0.99);
    expect(interval?.units).toBe(8);
    expect(interval?.degreesOfFreedom).toBe(7);
  });

  it('still raises the alarm on fewer than five stretches when the interval lies wholly below the promise', () => {
    // 20 days × 40 symbols (4 stretches) of a model wrong on nine rows in ten.
    const wrong = overlappingMarket(4, { days: 20, symbols: 40, horizon: 5, wrongShare: 0.9 });
    const report = livePerformanceOf(wrong, noPromiseOfDrawdown);
    expect([report.status, report.severity]).toEqual(['degraded', 'critical']);
    expect(report.reasons[0]).toMatch(/over 4 independent stretches of days.*significantly more than/);
  });

  it('needs five independent stretches of days before judging the hit rate', () => {
    // 15 symbols on 4 days of 5-session outcomes: one stretch of days, no variance to judge on.
    const worse = overlappingMarket(3, { days: 4, symbols: 15, horizon: 5, wrongShare: 0.4 });
    const report = livePerformanceOf(worse, noPromiseOfDrawdown, { ...DEFAULT_PERFORMANCE_OPTIONS, minDays: 1, minSamples: 10 });
    expect(report.status).toBe('insufficient-data');
    expect(report.reasons[0]).toMatch(/independent stretch/);
  });

  it('is never "ok" on a tiny matured sample: 10 days × 10 symbols of a model right 30% of the time against a promised 55%', () => {
    // The market's call of the day is shared by every symbol (rows of a day depend on each other).
    const tiny = (days: number, seed: number): OutcomeSample[] => {
      const next = rng(seed);
      const out: OutcomeSample[] = [];
      for (let d = 0; d < days; d++) {
        const up = next() < 0.5 ? 1 : 0;
        for (let s = 0; s < 10; s++) {
          const outcome = (next() < 0.7 ? up : 1 - up) as 0 | 1;
          const predictedClass = (next() < 0.3 ? outcome : 1 - outcome) as 0 | 1;
          out.push({ symbol: `S${s}`, asOf: day(d), probability: predictedClass ? 0.6 : 0.4, predictedClass, outcome, forwardReturn: (outcome ? 1 : -1) * 0.01 });
        }
      }
      return out;
    };
    const promised = { accuracy: 0.56, auc: 0.58, maxDrawdown: 0.2, meanDailyReturn: 0.0005, recall: { down: 0.5, up: 0.6 } };
    for (let seed = 1; seed <= 20; seed++) {
      // 10 and 20 days: 2 and 4 stretches of 5 sessions. Before, 10 days gave "ok" with an interval of 0.3%–98.9% on 1 df and 100 "effective" samples.
      // Never ok; an interval wholly below the promise is still the alarm it proves.
      for (const days of [10, 20]) {
        const report = livePerformanceOf(tiny(days, seed), promised);
        expect(report.status).not.toBe('ok');
        if (report.status === 'degraded') {
          expect(report.severity).not.toBeNull();
          continue;
        }
        expect(report.status).toBe('insufficient-data');
        expect(report.severity).toBeNull();
        expect(report.effectiveSamples).toBeNull();
        expect(report.reasons[0]).toMatch(new RegExp(`${days * 10} matured predictions on ${days} days make ${days / 5} independent stretch\\(es\\) of 5-session outcomes; the hit rate is judged from 5 \\(its 99% interval would be`));
      }
      // 25 days: 5 stretches, judged.
      expect(livePerformanceOf(tiny(25, seed), promised).status).not.toBe('insufficient-data');
    }
  });
});

/**
 * A model of fixed skill in a market with a drift: it calls "up" on about `upCalls` of the rows from
 * a persistent view of each stock, and is right by construction on `skill` of them. Its recall of
 * each class is what it is whatever the market does; its accuracy is not.
 */
function driftingMarket(seed: number, options: { days: number; symbols: number; drift: number; upCalls: number; skill: number }): OutcomeSample[] {
  const next = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  const market = Array.from({ length: options.days + 5 }, () => options.drift + 0.01 * gauss());
  const returns = Array.from({ length: options.symbols }, () => market.map((m) => m + 0.015 * gauss()));
  const view = Array.from({ length: options.symbols }, () => next());
  const out: OutcomeSample[] = [];
  for (let d = 0; d < options.days; d++) {
    for (let s = 0; s < options.symbols; s++) {
      if (next() < 0.1) view[s] = next();
      let forward = 0;
      for (let k = 1; k <= 5; k++) forward += returns[s][d + k];
      const outcome = forward > 0 ? 1 : 0;
      const predictedClass = (next() < options.skill ? outcome : view[s] < options.upCalls ? 1 : 0) as 0 | 1;
      out.push({ symbol: `S${s}`, asOf: day(d), probability: predictedClass === 1 ? 0.6 : 0.4, predictedClass, outcome, forwardReturn: forward });
    }
  }
  return out;
}

/** The promise of such a model, measured as the evaluation does, over 400 days of a market without drift. */
function measuredPromise(options: { upCalls: number; skill: number }) {
  const rows = driftingMarket(999, { days: 400, symbols: 50, drift: 0, ...options });
  const ups = rows.filter((r) => r.outcome === 1);
  const downs = rows.filter((r) => r.outcome === 0);
  const hits = rows.filter((r) => r.predictedClass === r.outcome).length;
  return backtestPromiseOf({ outOfSample: { classification: { accuracy: hits / rows.length, recall: [downs.filter((r) => r.predictedClass === 0).length / downs.length, ups.filter((r) => r.predictedClass === 1).length / ups.length] } } });
}

describe('live hit rate at the period\'s own share of ups', () => {
  const options = { ...DEFAULT_PERFORMANCE_OPTIONS, maxCalibrationError: 1 };

  it('reads the promised recall of each class', () => {
    expect(backtestPromiseOf({ outOfSample: { classification: { accuracy: 0.55, recall: [0.4, 0.7] } } }).recall).toEqual({ down: 0.4, up: 0.7 });
    expect(backtestPromiseOf({ outOfSample: { classification: { accuracy: 0.55, recall: [0.4, 0.7, 0.1] } } }).recall).toBeUndefined();
  });

  it('does not call a falling market lost skill: a model that mostly calls up, as good as it was, in a bear market', () => {
    // Its accuracy in a market losing 0.3% a day is far below the 50% it showed without drift, and
    // so is every model that calls up more often than down; its recall of ups and of downs is not.
    const promise = measuredPromise({ upCalls: 0.8, skill: 0 });
    let critical = 0;
    for (let seed = 1; seed <= 100; seed++) if (livePerformanceOf(driftingMarket(seed, { days: 37, symbols: 50, drift: -0.003, upCalls: 0.8, skill: 0 }), promise, options).severity === 'critical') critical++;
    // Judged against the promised accuracy: 7 of 100 (nominal 0.5%).
    expect(critical).toBeLessThanOrEqual(1);
    const report = livePerformanceOf(driftingMarket(1, { days: 37, symbols: 50, drift: -0.003, upCalls: 0.8, skill: 0 }), promise, options);
    expect(report.reasons[0]).toMatch(/against the 4\d\.\d% its promised recalls \(up 78\.1%, down 21\.6%\) give at this period's 4\d\.\d% ups/);
  });

  it('finds a model that lost its skill, in any market, more often than the accuracy did', () => {
    // Promised 59.4% (right by construction on a fifth of the rows); live, it no longer is (about 52%).
    const promise = measuredPromise({ upCalls: 0.7, skill: 0.2 });
    let critical = 0;
    for (const drift of [0, 0.001, -0.001]) {
      for (let seed = 1; seed <= 100; seed++) if (livePerformanceOf(driftingMarket(seed, { days: 37, symbols: 50, drift, upCalls: 0.7, skill: 0 }), promise, options).severity === 'critical') critical++;
    }
    // Against the promised accuracy: 79 of 300 runs (27, 11 and 41 by drift); by class, 157.
    expect(critical).toBeGreaterThanOrEqual(130);
  });
});

describe('calibration noise with dependent outcomes', () => {
  /** A model calibrated by construction (P(up) ½ ± 0.02, ups exactly half the time in expectation) in a market moving 1% a day. */
  function calibrated(seed: number): OutcomeSample[] {
    const next = rng(seed);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
    const market = Array.from({ length: 42 }, () => 0.01 * gauss());
    const returns = Array.from({ length: 50 }, () => market.map((m) => m + 0.015 * gauss()));
    const out: OutcomeSample[] = [];
    for (let d = 0; d < 37; d++) {
      for (let s = 0; s < 50; s++) {
        let forward = 0;
        for (let k = 1; k <= 5; k++) forward += returns[s][d + k];
        const probability = 0.5 + 0.04 * (next() - 0.5);
        out.push({ symbol: `S${s}`, asOf: day(d), probability, predictedClass: probability > 0.5 ? 1 : 0, outcome: forward > 0 ? 1 : 0, forwardReturn: forward });
      }
    }
    return out;
  }

  it('counts the market\'s share of the calibration error as noise: a calibrated model is rarely warned about', () => {
    let warned = 0;
    for (let seed = 1; seed <= 400; seed++) if (livePerformanceOf(calibrated(seed), { accuracy: null, auc: null, maxDrawdown: null, meanDailyReturn: null }).reasons.some((r) => /calibration/.test(r))) warned++;
    // With the noise of independent rows: 15 of these 400 (3.75%); now 3.
    expect(warned).toBeLessThanOrEqual(6);
  });
});

