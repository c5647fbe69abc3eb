/**
 * The canary and A/B analyses aggregate the prediction log in the database: they give the row-by-row
 * results on the same rows, and what they fetch does not grow with the number of predictions.
 */
import { Migrator, sql } from 'kysely';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { deploymentActivities } from '../../activities/deployment';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { abReport, abReportInStore } from '../../lib/deployment/ab-report';
import { analyseCanary, analyseCanaryInStore } from '../../lib/deployment/canary-analysis';
import { SETTLE_LAG_US } from '../../lib/deployment/log-aggregates';
import { attachOutcomes, labelSpecsOf, readPredictionLog, readPredictionsWithOutcomes, type LoggedPrediction } from '../../lib/deployment/outcomes';
import { rng } from '../../lib/random';
import { registerModel } from '../../lib/registry/model-registry';
import { upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { migrationProvider } from '../../lib/store/migrations';
import type { PredictionLogTable } from '../../lib/store/schema';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';

const MODEL = 'agg-direction';
const SINCE = '2024-03-01T00:00:00.000Z';
const SYMBOLS = ['AAA', 'BBB', 'CCC', 'DDD', 'EEE'];
/** Weekdays of January and February 2024. */
const DATES = (() => {
  const out: string[] = [];
  for (let d = new Date('2024-01-02T00:00:00Z'); d < new Date('2024-03-01T00:00:00Z'); d.setUTCDate(d.getUTCDate() + 1)) {
    if (d.getUTCDay() !== 0 && d.getUTCDay() !== 6) out.push(d.toISOString().slice(0, 10));
  }
  return out;
})();

/** Counts the rows every query returns: what an analysis fetches from the store. */
class RowCounter implements KyselyPlugin {
  rows = 0;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return args.node;
  }
  transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.rows += args.result.rows.length;
    return Promise.resolve(args.result);
  }
}

async function register(store: Database, dir: string, label: Record<string, unknown>, key: string): Promise<number> {
  return registerAs(store, dir, MODEL, key, label);
}

async function registerAs(store: Database, dir: string, name: string, key: string, label: Record<string, unknown> = { kind: 'direction', horizon: 2, deadZone: 0 }): Promise<number> {
  const { version: FS, columns } = await saveTestFeatureSet(store, returnsFeatureSet('deployment-aggregates', 3));
  const d = separable(100, 3, 1);
  const model = await logisticRegression.fit({ features: withColumns(d.x, columns), labels: d.y, classes: 2, seed: 1 }, {});
  const v = await registerModel(store, localArtifactStore(dir), {
    name,
    artifact: encodeArtifact(model.state(), { featureSetVersion: FS, label }),
    algorithm: 'logistic_regression',
    params: {},
    seed: 1,
    featureSetVersion: FS,
    label,
    ...UNTRACKED_REGISTRATION,
    registrationKey: key,
  });
  return v.version;
}

/** Random-walk closes for every symbol; BBB lacks one day (a gap: predictions on it never get a label). */
async function storeBars(store: Database): Promise<void> {
  const next = rng(3);
  for (const symbol of SYMBOLS) {
    let close = 100;
    const bars = DATES.filter((date) => !(symbol === 'BBB' && date === '2024-01-17')).map((date) => {
      close *= 1 + 0.02 * (next() - 0.5);
      return { symbol, date, open: close, high: close, low: close, close, volume: 1000 };
    });
    await upsertBars(store, bars);
  }
}

/** A seed per (symbol, asOf). */
function keySeed(symbol: string, asOf: string): number {
  let h = 7;
  for (const ch of `${symbol}/${asOf}`) h = (h * 31 + ch.charCodeAt(0)) % 1_000_003;
  return h;
}

/**
 * `requests` requests; each logs a champion and a canary prediction (one of them served), some a
 * shadow one. Feature dates run to a few days past the last bar (unmatured) and include a weekend
 * (no bar, never labelled); some predictions failed, some have no logged class.
 */
function logRows(requests: number, versions: { champion: number; canary: number }, seed: number, canaryBias: number, options: { model?: string; discrete?: boolean } = {}): PredictionLogTable[] {
  const next = rng(seed);
  // Discrete: 41 probabilities, one per version and key, and 12 latencies, so the groups an analysis fetches stop growing early.
  const score = (p: number) => (options.discrete ? Math.round(p * 40) / 40 : p);
  const asOfs = [...DATES.slice(-30), '2024-01-13', '2024-03-01', '2024-03-04'];
  const rows: PredictionLogTable[] = [];
  for (let i = 0; i < requests; i++) {
    const requestId = `q${seed}-${i}`;
    const symbol = SYMBOLS[Math.floor(next() * SYMBOLS.length)];
    const asOf = asOfs[Math.floor(next() * asOfs.length)];
    // Some requests fall before the window and must not count.
    const createdAt = new Date(Date.parse(SINCE) + (i - requests / 10) * 1000).toISOString();
    // Discrete: a deployed model scores a symbol and feature day once, so each version has one score per key.
    const base = options.discrete ? rng(keySeed(symbol, asOf))() : next();
    const canaryServed = next() < 0.3;
    const row = (variant: string, version: number, probability: number, served: boolean): PredictionLogTable => {
      const failed = next() < 0.02;
      return {
        id: `${requestId}:${variant}`,
        request_id: requestId,
        model: options.model ?? MODEL,
        version,
        variant,
        served: served ? 1 : 0,
        symbol,
        routing_key: `k${i}`,
        as_of: asOf,
        probability: failed ? null : score(probability),
        predicted_class: failed || next() < 0.2 ? null : score(probability) >= 0.5 ? 1 : 0,
        // Repeated values (whole ms) and a long tail.
        latency_us: options.discrete ? 1000 * Math.floor(1 + 12 * next()) : next() < 0.5 ? 1000 * Math.floor(1 + 8 * next()) : Math.floor(500 + 40_000 * next() ** 4),
        error: failed ? 'model failed' : null,
        created_at: createdAt,
      };
    };
    rows.push(row('champion', versions.champion, base, !canaryServed));
    const noise = options.discrete ? rng(keySeed(symbol, asOf) + 1)() : next();
    rows.push(row('canary', versions.canary, Math.min(1, Math.max(0, base + canaryBias + 0.1 * (noise - 0.5))), canaryServed));
    if (next() < 0.2) rows.push(row('shadow', versions.champion, next(), false));
  }
  return rows;
}

async function insertRows(store: Database, rows: PredictionLogTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) await store.db.insertInto('prediction_log').values(rows.slice(i, i + 500)).execute();
}

describe.each(DRIVERS)('deployment analyses aggregated in the store on %s', (_driver, create) => {
  let t: TestDatabase;
  let versions: { champion: number; canary: number };
  // The deployment's artifact store (ARTIFACT_DIR): outcomes are labelled from the artifact headers in it.
  const artifactDir = tempDir('mlp-artifacts-');
  const savedArtifactDir = process.env.ARTIFACT_DIR;
  beforeAll(async () => {
    process.env.ARTIFACT_DIR = artifactDir;
    t = await create();
    const dir = artifactDir;
    await storeBars(t.store);
    versions = {
      champion: await register(t.store, dir, { kind: 'direction', horizon: 2, deadZone: 0.002 }, 'k-champion'),
      canary: await register(t.store, dir, { kind: 'direction', horizon: 3, deadZone: 0 }, 'k-canary'),
    };
    await insertRows(t.store, logRows(3000, versions, 1, 0.05));
  });
  afterAll(async () => {
    if (savedArtifactDir === undefined) delete process.env.ARTIFACT_DIR;
    else process.env.ARTIFACT_DIR = savedArtifactDir;
    await t?.drop();
  });

  it('gives the row-by-row canary analysis: symbol-day pairs, hit rates, latency percentiles, PSI and KS all equal', async () => {
    const rows = await readPredictionsWithOutcomes(t.store, MODEL, SINCE);
    const options = { canary: 'canary', reference: 'champion', thresholds: { minMaturedPairs: 50, maxP99LatencyMs: 30 } };
    // The store takes the lags from the versions' label specs (the longest horizon, 3, − 1); rows in memory carry none.
    const expected = analyseCanary(rows, { ...options, lags: 2 });
    const actual = await analyseCanaryInStore(t.store, { model: MODEL, since: SINCE, ...options });

    // The data exercises every branch: pairs of each kind, errors, several variants, symbol-days
    // requested many times (3000 requests on 5 symbols × 33 feature dates) with differing scores.
    expect(expected.paired.pairs).toBeGreaterThan(100);
    expect(expected.paired.requests).toBeGreaterThan(5 * expected.shift.pairs);
    expect(expected.paired.unmatured).toBeGreaterThan(10);
    expect(expected.paired.noLabel).toBeGreaterThan(3);
    expect(expected.variants.map((v) => v.variant)).toEqual(['canary', 'champion', 'shadow']);
    expect(expected.variants.every((v) => v.errors > 0)).toBe(true);

    expect(actual.variants).toEqual(expected.variants);
    expect(actual.paired).toEqual(expected.paired);
    expect(actual.verdict).toBe(expected.verdict);
    // One score per symbol-day (the mean of its probabilities): the same from rows and from cells.
    expect(actual.shift.pairs).toBe(expected.shift.pairs);
    expect(actual.shift.psi).toBeCloseTo(expected.shift.psi as number, 10);
    expect(actual.shift.ksStatistic).toBeCloseTo(expected.shift.ksStatistic as number, 10);
    expect(actual.shift.ksPValue).toBeCloseTo(expected.shift.ksPValue as number, 10);
    expect(actual.reasons).toEqual(expected.reasons);
  });

  it('gives the row-by-row A/B report: every count, score, comparison and decision equal', async () => {
    const rows = await readPredictionsWithOutcomes(t.store, MODEL, SINCE);
    // The same look from both: the store path would take now as the analysis time.
    const options = { variants: ['champion', 'canary', 'shadow'], minSamplesPerVariant: 10, analysedAt: '2024-03-02T00:00:00.000Z', start: SINCE };
    // The store takes the lags from the versions' label specs (the longest horizon, 3, − 1); rows in memory carry none.
    const expected = abReport(rows, { ...options, lags: 2 });
    const actual = await abReportInStore(t.store, { model: MODEL, since: SINCE, ...options });
    expect(expected.variants[0].matured).toBeGreaterThan(100);
    expect(expected.variants[0].served).toBeGreaterThan(5 * expected.variants[0].symbolDays);
    expect(expected.comparisons.length).toBeGreaterThan(0);
    expect(actual.look).toEqual(expected.look);
    expect(actual.decision).toBe(expected.decision);
    expect(actual.comparisons).toEqual(expected.comparisons);
    expect(actual.reasons).toEqual(expected.reasons);
    for (const [i, v] of actual.variants.entries()) {
      const { meanProbability, brier, auc, ...counts } = v;
      const { meanProbability: m, brier: b, auc: a } = expected.variants[i];
      expect({ ...expected.variants[i], meanProbability, brier, auc }).toEqual({ ...counts, meanProbability, brier, auc });
      // Sums of doubles in another order.
      if (m === null) {
        expect([meanProbability, brier, auc]).toEqual([null, null, null]);
        continue;
      }
      expect(meanProbability).toBeCloseTo(m, 10);
      expect(brier).toBeCloseTo(b as number, 10);
      expect(auc).toBeCloseTo(a as number, 10);
    }
  });

  it("counts symbol-days less than the label horizon apart as dependent: the lags come from the versions' verified label specs, in the activity too", async () => {
    const rows = await readPredictionsWithOutcomes(t.store, MODEL, SINCE);
    const options = { variants: ['champion', 'canary'], versions: [versions.champion, versions.canary], minSamplesPerVariant: 10, start: SINCE, analysedAt: '2024-03-02T00:00:00.000Z' };
    // Horizons 2 (champion) and 3 (canary): outcomes of days up to 2 sessions apart overlap.
    const overlapping = abReport(rows, { ...options, lags: 2 });
    const dayOnly = abReport(rows, { ...options, lags: 0 });
    expect(overlapping.comparisons[0].standardError).not.toBeCloseTo(dayOnly.comparisons[0].standardError, 6);
    const inStore = await abReportInStore(t.store, { model: MODEL, since: SINCE, ...options });
    expect(inStore.comparisons).toEqual(overlapping.comparisons);
    // Told otherwise, the store takes what it is told.
    expect((await abReportInStore(t.store, { model: MODEL, since: SINCE, ...options, lags: 0 })).comparisons).toEqual(dayOnly.comparisons);
    const activities = deploymentActivities({ store: t.store, cache: new MemoryCache(), artifacts: localArtifactStore(artifactDir) });
    const report = await activities.analyseAbTest({ model: MODEL, since: SINCE, alpha: 0.05, ...options });
    expect('comparisons' in report && report.comparisons).toEqual(overlapping.comparisons);
  });

  it("judges the canary with symbol-days less than the label horizon apart dependent: the lags come from both versions' verified label specs, in the activity too", async () => {
    const rows = await readPredictionsWithOutcomes(t.store, MODEL, SINCE);
    const options = { canary: 'canary', reference: 'champion', canaryVersion: versions.canary, referenceVersion: versions.champion, thresholds: { minMaturedPairs: 50, maxP99LatencyMs: 30 } };
    // Horizons 2 (champion) and 3 (canary): outcomes of days up to 2 sessions apart overlap.
    const overlapping = analyseCanary(rows, { ...options, lags: 2 });
    const dayOnly = analyseCanary(rows, { ...options, lags: 0 });
    expect([overlapping.paired.lags, dayOnly.paired.lags]).toEqual([2, 0]);
    expect(overlapping.paired.clusters).toBeLessThan(dayOnly.paired.clusters);
    const inStore = await analyseCanaryInStore(t.store, { model: MODEL, since: SINCE, ...options });
    expect(inStore.paired).toEqual(overlapping.paired);
    expect(inStore.reasons).toEqual(overlapping.reasons);
    // Told otherwise, the store takes what it is told.
    expect((await analyseCanaryInStore(t.store, { model: MODEL, since: SINCE, ...options, lags: 0 })).paired).toEqual(dayOnly.paired);
    const activities = deploymentActivities({ store: t.store, cache: new MemoryCache(), artifacts: localArtifactStore(artifactDir) });
    const analysis = await activities.analyseCanary({ model: MODEL, since: SINCE, ...options });
    expect('paired' in analysis && analysis.paired).toEqual(overlapping.paired);
  });

  it('fetches as many rows through the deployment activities whatever the number of predictions logged', async () => {
    const model = 'agg-bounded';
    const counter = new RowCounter();
    const counted: Database = { ...t.store, db: t.store.db.withPlugin(counter) };
    const activities = deploymentActivities({ store: counted, cache: new MemoryCache(), artifacts: localArtifactStore(artifactDir) });
    const dir = artifactDir;
    const bounded = { champion: await registerAs(t.store, dir, model, 'k-b1'), canary: await registerAs(t.store, dir, model, 'k-b2') };
    const fetched = async (): Promise<{ canary: number; ab: number }> => {
      counter.rows = 0;
      await activities.analyseCanary({ model, canary: 'canary', reference: 'champion', since: SINCE, thresholds: {} });
      const canary = counter.rows;
      counter.rows = 0;
      await activities.analyseAbTest({ model, since: SINCE, variants: ['champion', 'canary'], alpha: 0.05, minSamplesPerVariant: 100 });
      return { canary, ab: counter.rows };
    };
    const logged = async () => Number((await t.store.db.selectFrom('prediction_log').select((eb) => eb.fn.countAll().as('n')).where('model', '=', model).executeTakeFirstOrThrow()).n);

    await insertRows(t.store, logRows(2000, bounded, 3, 0.05, { model, discrete: true }));
    const before = await fetched();
    const rowsBefore = await logged();
    // Three times the predictions on the same symbols, feature dates, scores and latencies: the groups stay, the rows triple.
    await insertRows(t.store, logRows(4000, bounded, 4, 0.05, { model, discrete: true }));
    const rowsAfter = await logged();
    expect(rowsAfter).toBeGreaterThan(2.5 * rowsBefore);
    const after = await fetched();
    // At most the groups that the smaller sample happened to miss (the rarer failed × latency and
    // failed × symbol-day groups fill up), against 3× the rows for the row-by-row path.
    expect(after.canary).toBeLessThan(1.25 * before.canary);
    expect(after.ab).toBeLessThan(1.25 * before.ab);
    // Label keys, symbol-day and latency groups: far fewer than the rows (the row-by-row path fetched them all).
    expect(after.canary).toBeLessThan(rowsAfter / 10);
    expect(after.ab).toBeLessThan(rowsAfter / 10);
  });

  it('keeps running totals: an analysis reads only rows logged since the previous one, and labels that matured since count at once', async () => {
    const model = 'agg-folded';
    const dir = artifactDir;
    const folded = { champion: await registerAs(t.store, dir, model, 'k-f1'), canary: await registerAs(t.store, dir, model, 'k-f2', { kind: 'direction', horizon: 3, deadZone: 0 }) };
    const canaryOptions = { canary: 'canary', reference: 'champion', thresholds: { minMaturedPairs: 50, maxP99LatencyMs: 30 } };
    const abOptions = { variants: ['champion', 'canary'], minSamplesPerVariant: 10, start: SINCE, analysedAt: '2024-03-09T00:00:00.000Z' };
    const expected = async (rows: LoggedPrediction[]) => {
      const labelFor = await labelSpecsOf(t.store, model, new Set(rows.map((r) => r.version)));
      const labelled = (await attachOutcomes(t.store, rows, labelFor)).rows;
      // Horizons 2 and 3: the store takes symbol-days up to 2 sessions apart for dependent.
      return { canary: analyseCanary(labelled, { ...canaryOptions, lags: 2 }), ab: abReport(labelled, { ...abOptions, lags: 2 }) };
    };
    const actual = async () => ({
      canary: await analyseCanaryInStore(t.store, { model, since: SINCE, ...canaryOptions }),
      ab: await abReportInStore(t.store, { model, since: SINCE, ...abOptions }),
    });
    const same = (a: Awaited<ReturnType<typeof actual>>, e: Awaited<ReturnType<typeof expected>>) => {
      expect(a.canary.variants).toEqual(e.canary.variants);
      expect(a.canary.paired).toEqual(e.canary.paired);
      expect(a.canary.shift.psi).toBeCloseTo(e.canary.shift.psi as number, 10);
      expect(a.canary.shift.ksStatistic).toBeCloseTo(e.canary.shift.ksStatistic as number, 10);
      expect(a.ab.decision).toBe(e.ab.decision);
      expect(a.ab.comparisons).toEqual(e.ab.comparisons);
      for (const [i, v] of a.ab.variants.entries()) {
        const { meanProbability, brier, auc, ...counts } = v;
        const w = e.ab.variants[i];
        expect({ ...w, meanProbability, brier, auc }).toEqual({ ...counts, meanProbability, brier, auc });
        if (w.meanProbability !== null) {
          expect(meanProbability).toBeCloseTo(w.meanProbability, 8);
          expect(brier).toBeCloseTo(w.brier as number, 8);
          expect(auc).toBeCloseTo(w.auc as number, 8);
        }
      }
    };

    // Logged an hour ago: settled, so the first analysis folds them into the totals.
    const hourAgo = (Date.now() - 3_600_000) * 1000;
    expect(3_600_000_000).toBeGreaterThan(SETTLE_LAG_US);
    await insertRows(t.store, logRows(1500, folded, 5, -0.05, { model }).map((r) => ({ ...r, logged_at: hourAgo })));
    const old = await readPredictionLog(t.store, { model, since: SINCE });
    // Two analyses at once fold the same rows once.
    const [first] = await Promise.all([actual(), actual()]);
    same(first, await expected(old));
    same(await actual(), await expected(old));
    expect(first.canary.paired.unmatured).toBeGreaterThan(10);

    // The folded rows are gone (as after a retention purge): the totals still hold them, so the
    // analysis does not read them again. On the old code every analysis re-read the whole window.
    await t.store.db.deleteFrom('prediction_log').where('model', '=', model).execute();
    same(await actual(), await expected(old));

    // New rows (logged now: not folded yet) and bars that mature the keys that were waiting.
    const fresh = logRows(800, folded, 6, -0.05, { model }).map((r) => ({ ...r, id: `n-${r.id}`, request_id: `n-${r.request_id}` }));
    await insertRows(t.store, fresh);
    const late = ['2024-03-01', '2024-03-04', '2024-03-05', '2024-03-06', '2024-03-07', '2024-03-08'];
    for (const symbol of SYMBOLS) await upsertBars(t.store, late.map((date, i) => ({ symbol, date, open: 100 + i, high: 100 + i, low: 100 + i, close: 100 + (i % 2 === 0 ? i : -i), volume: 1000 })));
    const all = [...old, ...(await readPredictionLog(t.store, { model, since: SINCE }))];
    const now = await expected(all);
    expect(now.canary.paired.unmatured).toBeLessThan(first.canary.paired.unmatured);
    same(await actual(), now);
  });

  it('folds the window again when the stored totals no longer hold what the folds added (analysis_cells emptied or edited)', async () => {
    const model = 'agg-tampered';
    const pair = { champion: await registerAs(t.store, artifactDir, model, 'k-t1'), canary: await registerAs(t.store, artifactDir, model, 'k-t2', { kind: 'direction', horizon: 3, deadZone: 0 }) };
    const options = { canary: 'canary', reference: 'champion', thresholds: { minMaturedPairs: 50, maxP99LatencyMs: 30 } };
    await insertRows(t.store, logRows(1200, pair, 7, 0.05, { model }).map((r) => ({ ...r, logged_at: (Date.now() - 3_600_000) * 1000 })));
    const expected = await analyseCanaryInStore(t.store, { model, since: SINCE, ...options }); // folds every row
    const streams = await t.store.db.selectFrom('analysis_streams').select(['id', 'folded_n']).execute();
    expect(streams.some((s) => Number(s.folded_n) > 0)).toBe(true);
    // Emptied: before, the watermark stood and the analysis saw none of the folded rows.
    await t.store.db.deleteFrom('analysis_cells').execute();
    const afterEmptied = await analyseCanaryInStore(t.store, { model, since: SINCE, ...options });
    expect(afterEmptied.paired).toEqual(expected.paired);
    expect(afterEmptied.variants).toEqual(expected.variants);
    // A count edited down.
    await t.store.db.updateTable('analysis_cells').set({ n: 0 }).execute();
    expect((await analyseCanaryInStore(t.store, { model, since: SINCE, ...options })).paired).toEqual(expected.paired);
  });

  it('names the cause of bad input', async () => {
    await expect(analyseCanaryInStore(t.store, { model: MODEL, since: 'yesterday', canary: 'canary', reference: 'champion' })).rejects.toThrow(/invalid prediction log query: since/);
    await expect(analyseCanaryInStore(t.store, { model: MODEL, since: SINCE, canary: 'x', reference: 'x' })).rejects.toThrow(/different variants/);
    await expect(abReportInStore(t.store, { model: MODEL, since: SINCE, variants: ['champion'] })).rejects.toThrow(/invalid A\/B report options: variants/);
  });
});

describe.each(DRIVERS)('prediction-log rows written before running totals, on %s', (_driver, create) => {
  let t: TestDatabase;
  afterAll(async () => {
    await t?.drop();
  });

  it('get their request time as logged_at from the migration, so the analyses fold them; later rows get the database clock', async () => {
    t = await create();
    const migrator = new Migrator({ db: t.store.db, provider: migrationProvider });
    expect((await migrator.migrateTo('0012_staged_chunk_bars')).error).toBeUndefined();
    await sql`insert into prediction_log (id, request_id, model, version, variant, served, symbol, routing_key, as_of, probability, predicted_class, latency_us, error, created_at)
      values ('r1:champion', 'r1', 'm', 1, 'champion', 1, 'AAA', 'k', '2024-01-02', 0.6, 1, 900, null, '2024-03-01T12:34:56.789Z')`.execute(t.store.db);
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    const row = await t.store.db.selectFrom('prediction_log').select('logged_at').where('id', '=', 'r1:champion').executeTakeFirstOrThrow();
    expect(Number(row.logged_at)).toBe(Date.parse('2024-03-01T12:34:56.789Z') * 1000);
    // A row inserted without it gets the database's clock (MySQL: the column default; SQLite: a trigger).
    await sql`insert into prediction_log (id, request_id, model, version, variant, served, symbol, routing_key, as_of, probability, predicted_class, latency_us, error, created_at)
      values ('r2:champion', 'r2', 'm', 1, 'champion', 1, 'AAA', 'k', '2024-01-02', 0.6, 1, 900, null, '2024-03-01T12:34:56.789Z')`.execute(t.store.db);
    const stamped = await t.store.db.selectFrom('prediction_log').select('logged_at').where('id', '=', 'r2:champion').executeTakeFirstOrThrow();
    expect(Math.abs(Number(stamped.logged_at) / 1000 - Date.now())).toBeLessThan(60_000);
  });
});
