/**
 * Drift detection on real data (`npm run bench:drift`): the shared S&P 500 files when present,
 * otherwise a generated market of the same shape.
 *
 * The default feature set is computed over every symbol (the code the features step runs); the
 * reference profile is built from the rows before the last year (the code registration runs); then
 * the last year is replayed one trading day at a time, each day being one monitoring run over the
 * latest `--window-days` sessions, judged by the same drift test and data_drift rule the monitoring
 * workflow uses (no Redis or Temporal needed: the windows are computed directly).
 *
 * Printed: drift alerts over the year without any change to the data (target: none), then, for
 * drifts injected into one feature from the middle of the year (a unit change, a shift of 3, 2 and
 * 1 standard deviations, a stuck feed, a dead feed), the first run that alerts and how many drifted
 * sessions its window held (target: within the first window that holds the drift).
 *   tsx bench/drift-detection.ts [--data ../shared/data/sp500-2013-2018] [--window-days 10] [--features rsi_14,ret_5]
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { z } from 'zod';
import { computeFeatures, featureLookbacks } from '../lib/features/compute-features';
import { defineFeatureSet, DEFAULT_FEATURE_SET } from '../lib/features/feature-set';
import { toSymbolBars } from '../lib/features/materialize';
import { readBarCsv } from '../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../lib/market-data/synthetic';
import { detectFeatureDrift, type LiveFeatureWindow } from '../lib/monitoring/drift';
import type { ModelMonitoringReport } from '../lib/monitoring/model-report';
import { evaluateModelReport, parseMonitoringRules } from '../lib/monitoring/monitoring-rules';
import { serialiseProfile } from '../lib/monitoring/profile-store';
import { buildReferenceProfile, type ReferenceProfile } from '../lib/monitoring/reference-profile';
import type { SymbolBars } from '../lib/features/compute-features';
import { DEFAULT_MONITORING_WINDOW_DAYS } from '../workflows/monitoring';

const options = z
  .object({
    data: z.string().default(path.resolve(__dirname, '../../shared/data/sp500-2013-2018')),
    windowDays: z.coerce.number().int().min(1).max(120).default(DEFAULT_MONITORING_WINDOW_DAYS),
    replayDays: z.coerce.number().int().min(20).max(1000).default(252),
    features: z.string().default('rsi_14,ret_5,realized_vol_20,relative_volume_20'),
    /** Replay day (0-based) from which the injected drift applies. */
    injectFrom: z.coerce.number().int().min(0).default(126),
  })
  .parse(
    new Command()
      .option('--data <dir>', 'folder of CSV files (default: the shared S&P 500 data, else a generated market)')
      .option('--window-days <n>', 'sessions per monitoring window')
      .option('--replay-days <n>', 'sessions replayed at the end of the data (one year: 252)')
      .option('--features <list>', 'features to inject drift into, comma-separated')
      .option('--inject-from <n>', 'replay day from which the drift applies')
      .parse()
      .opts(),
  );

function loadUniverse(): { universe: SymbolBars[]; source: string } {
  if (fs.existsSync(options.data)) {
    const files = fs.readdirSync(options.data).filter((f) => f.toLowerCase().endsWith('.csv'));
    const universe = files.map((f) => readBarCsv(fs.readFileSync(path.join(options.data, f), 'utf8'), { source: f }).bars).filter((bars) => bars.length > 0).map((bars) => toSymbolBars(bars[0].symbol, bars));
    return { universe, source: `${options.data} (${universe.length} symbols)` };
  }
  const market = generateSyntheticMarket({ symbols: 120, from: '2013-02-08', to: '2018-02-07', seed: 2013, plantErrors: false });
  const universe = market.files.map((f) => readBarCsv(f.csv, { source: f.fileName }).bars).map((bars) => toSymbolBars(bars[0].symbol, bars));
  return { universe, source: `generated market (${universe.length} symbols; ${options.data} not found)` };
}

interface Row {
  symbol: number;
  values: Float64Array;
}

type Edit = (value: number) => number;

/** A report with only the drift part filled in: what the data_drift rule reads. */
function driftOnlyReport(profile: ReferenceProfile, drift: ModelMonitoringReport['drift']): ModelMonitoringReport {
  return {
    id: 'bench',
    model: profile.model,
    version: profile.version,
    variants: ['champion'],
    champion: true,
    createdAt: new Date().toISOString(),
    windowDays: options.windowDays,
    reference: { available: true, reason: '' },
    drift,
    predictionDrift: { status: 'unavailable', reason: 'not replayed', rows: 0, days: 0, psi: null, pValue: null, referenceMean: null, liveMean: null },
    performance: {
      status: 'insufficient-data', severity: null, reasons: [], samples: 0, days: 0, from: null, to: null, hitRate: null, hitRateInterval: null, baseline: null, effectiveSamples: null, auc: null,
      calibration: { bins: [], expectedCalibrationError: null, noise: null }, strategy: null, book: { status: 'unavailable', reason: 'not replayed' }, promised: { accuracy: null, auc: null, maxDrawdown: null, meanDailyReturn: null }, since: '', predictions: 0, unmatured: 0, noLabel: 0,
    },
    freshness: { status: 'unavailable', reason: 'not replayed', expectedSession: '', symbols: 0, staleSymbols: 0, maxLagDays: null, newestBar: null, stalest: [] },
  };
}

async function main(): Promise<void> {
  let t = performance.now();
  const { universe, source } = loadUniverse();
  const set = defineFeatureSet(DEFAULT_FEATURE_SET);
  const computed = computeFeatures(universe, set);
  const columns = computed.columns;
  const p = columns.length;
  const dates = [...new Set(computed.frames.flatMap((f) => f.dates))].sort();
  const dayOf = new Map(dates.map((d, i) => [d, i]));
  const replay = dates.slice(-options.replayDays);
  const split = replay[0];
  console.log(`data: ${source}; ${columns.length} features; reference before ${split}, replay ${replay[0]}..${replay[replay.length - 1]} (${replay.length} sessions); window ${options.windowDays} sessions; features computed in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  t = performance.now();
  const referenceValues: number[] = [];
  const referenceDay: number[] = [];
  const liveRows = new Map<string, Row[]>();
  computed.frames.forEach((frame, s) => {
    for (let r = 0; r < frame.dates.length; r++) {
      const values = new Float64Array(p);
      for (let c = 0; c < p; c++) values[c] = frame.columns[c][r];
      if (frame.dates[r] < split) {
        for (let c = 0; c < p; c++) referenceValues.push(values[c]);
        referenceDay.push(dayOf.get(frame.dates[r]) as number);
      } else {
        const list = liveRows.get(frame.dates[r]) ?? [];
        list.push({ symbol: s, values });
        liveRows.set(frame.dates[r], list);
      }
    }
  });
  const profile = buildReferenceProfile({
    model: 'bench-drift',
    version: 1,
    featureSetVersion: set.version,
    features: { columns, rows: referenceDay.length, values: Float64Array.from(referenceValues), day: Int32Array.from(referenceDay) },
    dayLabels: dates,
    symbols: computed.frames.map((f) => f.symbol),
    lookbacks: featureLookbacks(set),
  });
  const stored = serialiseProfile(profile);
  console.log(`reference profile: ${profile.period.rows} rows over ${profile.period.days} sessions (${profile.period.from}..${profile.period.to}), ${stored ? Buffer.byteLength(stored) : 'too many'} bytes stored, built in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const rules = parseMonitoringRules({});
  /** The monitoring run of replay day i; `edit` changes one column from replay day `from` on. */
  const windowAt = (i: number, edit?: { column: number; from: number; change: Edit }): LiveFeatureWindow => {
    const days = replay.slice(Math.max(0, i - options.windowDays + 1), i + 1);
    const rows = days.map((d) => liveRows.get(d) ?? []);
    const n = rows.reduce((a, r) => a + r.length, 0);
    const values = new Float64Array(n * p);
    const day = new Int32Array(n);
    let o = 0;
    rows.forEach((list, k) => {
      const drifted = edit !== undefined && i - (days.length - 1 - k) >= edit.from;
      for (const row of list) {
        values.set(row.values, o * p);
        if (drifted) values[o * p + edit.column] = edit.change(row.values[edit.column]);
        day[o++] = k;
      }
    });
    return { columns, dates: days, rows: n, values, day };
  };
  const alertOf = (window: LiveFeatureWindow) => {
    const drift = detectFeatureDrift(profile, window, rules.data_drift);
    return { drift, finding: evaluateModelReport(driftOnlyReport(profile, drift), rules).findings.find((f) => f.alert.rule === 'data_drift') };
  };

  // 1. The last year as it happened.
  t = performance.now();
  const alerts: Array<{ date: string; features: string[] }> = [];
  const closest: Array<{ date: string; feature: string; qValue: number; psi: number }> = [];
  for (let i = 0; i < replay.length; i++) {
    const { drift, finding } = alertOf(windowAt(i));
    if (finding) alerts.push({ date: replay[i], features: drift.drifted });
    const best = [...drift.features].sort((a, b) => a.qValue - b.qValue)[0];
    if (best) closest.push({ date: replay[i], feature: best.name, qValue: best.qValue, psi: best.psi });
  }
  const msPerRun = (performance.now() - t) / replay.length;
  closest.sort((a, b) => a.qValue - b.qValue);
  console.log(`\nwithout injected drift: ${alerts.length} data_drift alerts in ${replay.length} monitoring runs (target 0); ${msPerRun.toFixed(0)} ms per run`);
  for (const a of alerts.slice(0, 10)) console.log(`  alert ${a.date}: ${a.features.join(', ')}`);
  console.log(`  closest calls: ${closest.slice(0, 3).map((c) => `${c.date} ${c.feature} q ${c.qValue} PSI ${c.psi}`).join('; ')}`);

  // 2. One feature drifts from replay day injectFrom on.
  const injectFrom = Math.min(options.injectFrom, replay.length - 1);
  console.log(`\ninjected drift from ${replay[injectFrom]} (replay day ${injectFrom}); one monitoring run per session:`);
  console.log(`  ${'feature'.padEnd(22)}${'drift'.padEnd(22)}${'first alert'.padEnd(14)}${'drifted sessions in window'.padEnd(28)}within the first window`);
  const results: Array<Record<string, unknown>> = [];
  for (const name of options.features.split(',').map((f) => f.trim()).filter(Boolean)) {
    const column = columns.indexOf(name);
    if (column < 0) throw new Error(`unknown feature ${name}; the default set has ${columns.join(', ')}`);
    const f = profile.features[column];
    const std = f.std ?? 1;
    const mean = f.mean ?? 0;
    const scenarios: Array<[string, Edit]> = [
      ['unit change ×100', (x) => x * 100],
      ['shift +3 sd', (x) => x + 3 * std],
      ['shift +2 sd', (x) => x + 2 * std],
      ['stuck at the mean', () => mean],
      ['dead feed (missing)', () => NaN],
      ['shift +1 sd', (x) => x + std],
    ];
    for (const [label, change] of scenarios) {
      let first: { date: string; sessions: number; features: string[] } | undefined;
      for (let i = injectFrom; i < replay.length && !first; i++) {
        const { drift, finding } = alertOf(windowAt(i, { column, from: injectFrom, change }));
        if (finding) first = { date: replay[i], sessions: i - injectFrom + 1, features: drift.drifted };
      }
      const within = first !== undefined && first.sessions <= options.windowDays;
      const onlyIt = first ? first.features.every((x) => x === name) : false;
      results.push({ feature: name, drift: label, firstAlert: first?.date ?? null, driftedSessions: first?.sessions ?? null, withinFirstWindow: within, alertedFeatures: first?.features ?? [] });
      console.log(`  ${name.padEnd(22)}${label.padEnd(22)}${(first?.date ?? 'never').padEnd(14)}${String(first?.sessions ?? '-').padEnd(28)}${within ? 'yes' : 'no'}${first && !onlyIt ? ` (also: ${first.features.filter((x) => x !== name).join(', ')})` : ''}`);
    }
  }
  console.log(JSON.stringify({ bench: 'drift-detection', source, windowDays: options.windowDays, runs: replay.length, falseAlerts: alerts.length, msPerRun: Math.round(msPerRun), injected: results }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
