/**
 * The canary and A/B analyses aggregate the prediction log in the database: they give the row-by-row
 * results on the same rows, and what they fetch does not grow with the number of predictions.
 */
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { deploymentActivities } from '../../activities/deployment';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { abReport, abReportInStore } from '../../lib/deployment/ab-report';
import { bucketMidpoint, bucketOf } from '../../lib/deployment/binned-shift';
import { analyseCanary, analyseCanaryInStore } from '../../lib/deployment/canary-analysis';
import { PROBABILITY_BUCKETS } from '../../lib/deployment/log-aggregates';
import { readPredictionsWithOutcomes, type PredictionWithOutcome } from '../../lib/deployment/outcomes';
import { rng } from '../../lib/random';
import { registerModel } from '../../lib/registry/model-registry';
import { upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import type { PredictionLogTable } from '../../lib/store/schema';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { UNTRACKED_REGISTRATION } from '../helpers/registration';

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
  const d = separable(100, 3, 1);
  const model = await logisticRegression.fit({ features: d.x, labels: d.y, classes: 2, seed: 1 }, {});
  const v = await registerModel(store, dir, {
    name,
    artifact: encodeArtifact(model.state(), { featureSetVersion: 'fs-test-000000000000', label }),
    algorithm: 'logistic_regression',
    params: {},
    seed: 1,
    featureSetVersion: 'fs-test-000000000000',
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

/**
 * `requests` requests; each logs a champion and a canary prediction (one of them served), some a
 * shadow one. Feature dates run to a few days past the last bar (unmatured) and include a weekend
 * (no bar, never labelled); some predictions failed, some have no logged class.
 */
function logRows(requests: number, versions: { champion: number; canary: number }, seed: number, canaryBias: number, options: { model?: string; discrete?: boolean } = {}): PredictionLogTable[] {
  const next = rng(seed);
  // Discrete: 41 probabilities and 12 latencies, so the groups an analysis fetches stop growing early.
  const score = (p: number) => (options.discrete ? Math.round(p * 40) / 40 : p);
  const asOfs = [...DATES.slice(-30), '2024-01-13', '2024-03-01', '2024-03-04'];
  const rows: PredictionLogTable[] = [];
  for (let i = 0; i < requests; i++) {
    const requestId = `q${seed}-${i}`;
    const symbol = SYMBOLS[Math.floor(next() * SYMBOLS.length)];
    const asOf = asOfs[Math.floor(next() * asOfs.length)];
    // Some requests fall before the window and must not count.
    const createdAt = new Date(Date.parse(SINCE) + (i - requests / 10) * 1000).toISOString();
    const base = next();
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
    rows.push(row('canary', versions.canary, Math.min(1, Math.max(0, base + canaryBias + 0.1 * (next() - 0.5))), canaryServed));
    if (next() < 0.2) rows.push(row('shadow', versions.champion, next(), false));
  }
  return rows;
}

async function insertRows(store: Database, rows: PredictionLogTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) await store.db.insertInto('prediction_log').values(rows.slice(i, i + 500)).execute();
}

/** The rows with every probability rounded to its histogram bucket's midpoint. */
function rounded(rows: PredictionWithOutcome[]): PredictionWithOutcome[] {
  return rows.map((r) => (r.probability === null ? r : { ...r, probability: bucketMidpoint(bucketOf(r.probability, PROBABILITY_BUCKETS), PROBABILITY_BUCKETS) }));
}

describe.each(DRIVERS)('deployment analyses aggregated in the store on %s', (_driver, create) => {
  let t: TestDatabase;
  let versions: { champion: number; canary: number };
  beforeAll(async () => {
    t = await create();
    const dir = tempDir('mlp-artifacts-');
    await storeBars(t.store);
    versions = {
      champion: await register(t.store, dir, { kind: 'direction', horizon: 2, deadZone: 0.002 }, 'k-champion'),
      canary: await register(t.store, dir, { kind: 'direction', horizon: 3, deadZone: 0 }, 'k-canary'),
    };
    await insertRows(t.store, logRows(3000, versions, 1, 0.05));
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('gives the row-by-row canary analysis: counts, hit rates and latency percentiles equal, PSI and KS those of the rounded scores', async () => {
    const rows = await readPredictionsWithOutcomes(t.store, MODEL, SINCE);
    const options = { canary: 'canary', reference: 'champion', thresholds: { minMaturedPairs: 50, maxP99LatencyMs: 30 } };
    const expected = analyseCanary(rows, options);
    const actual = await analyseCanaryInStore(t.store, { model: MODEL, since: SINCE, ...options });

    // The data exercises every branch: pairs of each kind, errors, several variants.
    expect(expected.paired.pairs).toBeGreaterThan(500);
    expect(expected.paired.unmatured).toBeGreaterThan(50);
    expect(expected.paired.noLabel).toBeGreaterThan(10);
    expect(expected.variants.map((v) => v.variant)).toEqual(['canary', 'champion', 'shadow']);
    expect(expected.variants.every((v) => v.errors > 0)).toBe(true);

    expect(actual.variants).toEqual(expected.variants);
    expect(actual.paired).toEqual(expected.paired);
    expect(actual.verdict).toBe(expected.verdict);
    expect(actual.shift.pairs).toBe(expected.shift.pairs);
    // Exactly the statistics of the rounded scores …
    const onRounded = analyseCanary(rounded(rows), options);
    expect(actual.shift.psi).toBeCloseTo(onRounded.shift.psi as number, 12);
    expect(actual.shift.ksStatistic).toBeCloseTo(onRounded.shift.ksStatistic as number, 12);
    expect(actual.shift.ksPValue).toBeCloseTo(onRounded.shift.ksPValue as number, 12);
    expect(actual).toEqual({ ...onRounded, reasons: actual.reasons });
    // … which are close to the exact ones.
    expect(Math.abs((actual.shift.psi as number) - (expected.shift.psi as number))).toBeLessThan(0.005);
    expect(Math.abs((actual.shift.ksStatistic as number) - (expected.shift.ksStatistic as number))).toBeLessThan(0.005);
  });

  it('gives the row-by-row A/B report: every count and score equal, the AUC that of the rounded scores', async () => {
    const rows = await readPredictionsWithOutcomes(t.store, MODEL, SINCE);
    const options = { variants: ['champion', 'canary', 'shadow'], minSamplesPerVariant: 10 };
    const expected = abReport(rows, options);
    const actual = await abReportInStore(t.store, { model: MODEL, since: SINCE, ...options });
    expect(expected.variants[0].matured).toBeGreaterThan(500);
    expect(actual.decision).toBe(expected.decision);
    expect(actual.comparisons).toEqual(expected.comparisons);
    expect(actual.reasons).toEqual(expected.reasons);
    const onRounded = abReport(rounded(rows), options);
    for (const [i, v] of actual.variants.entries()) {
      const { meanProbability, brier, auc, ...counts } = v;
      const { meanProbability: m, brier: b } = expected.variants[i];
      expect({ ...expected.variants[i], meanProbability, brier, auc }).toEqual({ ...counts, meanProbability, brier, auc });
      // Sums of doubles in another order.
      if (m === null) {
        expect([meanProbability, brier, auc, onRounded.variants[i].auc]).toEqual([null, null, null, null]);
        continue;
      }
      expect(meanProbability).toBeCloseTo(m, 10);
      expect(brier).toBeCloseTo(b as number, 10);
      expect(auc).toBeCloseTo(onRounded.variants[i].auc as number, 12);
      expect(Math.abs((auc as number) - (expected.variants[i].auc as number))).toBeLessThan(0.002);
    }
  });

  it('fetches as many rows through the deployment activities whatever the number of predictions logged', async () => {
    const model = 'agg-bounded';
    const counter = new RowCounter();
    const counted: Database = { ...t.store, db: t.store.db.withPlugin(counter) };
    const activities = deploymentActivities({ store: counted, cache: new MemoryCache(), artifactDir: tempDir('mlp-artifacts-') });
    const dir = tempDir('mlp-artifacts-');
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
    // At most a few groups that the smaller sample happened to miss (the row-by-row path fetched 3× the rows).
    expect(after.canary).toBeLessThan(1.1 * before.canary);
    expect(after.ab).toBeLessThan(1.1 * before.ab);
    // Label keys, probability and latency groups: far fewer than the rows (the row-by-row path fetched them all).
    expect(after.canary).toBeLessThan(rowsAfter / 10);
    expect(after.ab).toBeLessThan(rowsAfter / 10);
  });

  it('names the cause of bad input', async () => {
    await expect(analyseCanaryInStore(t.store, { model: MODEL, since: 'yesterday', canary: 'canary', reference: 'champion' })).rejects.toThrow(/invalid prediction log query: since/);
    await expect(analyseCanaryInStore(t.store, { model: MODEL, since: SINCE, canary: 'x', reference: 'x' })).rejects.toThrow(/different variants/);
    await expect(abReportInStore(t.store, { model: MODEL, since: SINCE, variants: ['champion'] })).rejects.toThrow(/invalid A\/B report options: variants/);
  });
});
