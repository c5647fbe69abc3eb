/**
 * A request the routed variant fails before any model predicts (no vector in its feature set, the
 * features unreadable, its version not loaded) is logged as an error row of that variant and
 * version, as a model's own failure is: the canary's error rate and its maxErrorRate guard, and the
 * A/B report's intention-to-treat, read the prediction log alone. Unlogged, a canary whose feature
 * set covered half the symbols failed 8 of 18 requests while its analysis read 0 errors.
 */
import { predictSymbols, type PredictionDeps } from '../../../api/predictions';
import { abReport } from '../../../lib/deployment/ab-report';
import { analyseCanary } from '../../../lib/deployment/canary-analysis';
import type { OnlineFeatureVector } from '../../../lib/features/online-features';
import type { PredictionLogEntry } from '../../../lib/serving/prediction-log';
import type { Route } from '../../../lib/serving/routing';
import type { LoadedModel, ServingSnapshot } from '../../../lib/serving/serving-models';
import { ExpectedSessionClock } from '../../../lib/serving/staleness';

const SYMBOLS = Array.from({ length: 40 }, (_, i) => `S${String(i).padStart(2, '0')}`);
/** fsB (the canary's, v2) is published for the first 20 symbols only; fsA (v1) for all 40. */
const publishedB = new Set(SYMBOLS.slice(0, 20));

function snapshotOf(mode: 'canary' | 'ab', routes: Route[], loadedVersions = [1, 2]): ServingSnapshot {
  const loaded = (version: number) =>
    ({ version: { name: 'm', version, featureSetVersion: version === 2 ? 'fsB' : 'fsA', label: { kind: 'direction', horizon: 5, deadZone: 0 } }, model: { featureNames: ['x'], predictProba: () => Float64Array.from([0.3, 0.7]) } }) as unknown as LoadedModel;
  return {
    routes: { model: 'm', generation: 1, mode, routes, ...(mode === 'canary' ? { reference: 'champion' } : {}), salt: 's', updatedBy: 't', reason: 't', updatedAt: '2024-01-01T00:00:00Z' },
    models: new Map(loadedVersions.map((v) => [v, loaded(v)])),
    loadedAt: '2024-01-01T00:00:00Z',
  } as unknown as ServingSnapshot;
}

function depsOf(snapshot: ServingSnapshot, logged: PredictionLogEntry[], read?: PredictionDeps['features']['read']): PredictionDeps {
  const counter = { inc: () => undefined };
  const vector = (version: string, symbol: string): OnlineFeatureVector | undefined =>
    symbol === 'NOPE' || (version === 'fsB' && !publishedB.has(symbol)) ? undefined : { version, symbol, asOf: '2024-01-02', columns: ['x'], values: [1] };
  return {
    servingModels: { snapshot: () => snapshot, models: () => ['m'] },
    features: { read: read ?? (async (version: string, symbol: string) => vector(version, symbol)) },
    predictionLog: { append: (entries) => logged.push(...entries) },
    metrics: { predictions: counter, predictionErrors: counter, stalePredictions: counter } as unknown as PredictionDeps['metrics'],
    sessions: new ExpectedSessionClock(120),
  };
}

const canarySplit: Route[] = [{ variant: 'canary', version: 2, weight: 0.5 }, { variant: 'champion', version: 1, weight: 0.5 }];

describe('a request the routed variant fails before predicting', () => {
  afterEach(() => jest.useRealTimers());

  it('is logged as an error row of the routed canary when its feature set lacks the symbol, and the canary analysis counts it', async () => {
    const logged: PredictionLogEntry[] = [];
    const out = await predictSymbols(depsOf(snapshotOf('canary', canarySplit), logged), { model: 'm', symbols: SYMBOLS });
    expect(out.errors.length).toBeGreaterThan(0);
    expect(new Set(out.errors.map((e) => e.reason))).toEqual(new Set(['no_features']));
    const failedRows = logged.filter((e) => e.error !== null);
    // One served error row of the canary (v2) per symbol the client got an error for, dated by the champion's vector.
    expect(failedRows.map((e) => e.symbol).sort()).toEqual(out.errors.map((e) => e.symbol).sort());
    for (const e of failedRows) expect(e).toMatchObject({ variant: 'canary', version: 2, served: true, probability: null, predictedClass: null, asOf: '2024-01-02', error: expect.stringMatching(/^no online features for S\d+ in feature set fsB/) });
    // The canary's error rate and its maxErrorRate guard see them.
    // A handful of requests: the serving guards judge from the first (default: 50 canary predictions).
    const a = analyseCanary(logged.map((e) => ({ ...e, outcome: 1 as const, matured: true })), { canary: 'canary', reference: 'champion', thresholds: { minServingPredictions: 1 } });
    const canary = a.variants.find((v) => v.variant === 'canary');
    expect(canary?.errors).toBe(out.errors.length);
    expect(canary?.predictions).toBe(out.errors.length + out.predictions.filter((p) => p.variant === 'canary').length);
    expect(a.verdict).toBe('fail');
    expect(a.reasons[0]).toMatch(new RegExp(`canary error rate [\\d.]+% \\(${out.errors.length} of ${canary?.predictions}\\)`));
  });

  it('is logged for the routed arm of an A/B split, reading the other arm\'s feature set to see the symbol is served', async () => {
    const logged: PredictionLogEntry[] = [];
    const split: Route[] = [{ variant: 'A', version: 1, weight: 0.5 }, { variant: 'B', version: 2, weight: 0.5 }];
    const out = await predictSymbols(depsOf(snapshotOf('ab', split), logged), { model: 'm', symbols: SYMBOLS });
    expect(out.errors.length).toBeGreaterThan(0);
    expect(logged.filter((e) => e.error !== null).map((e) => [e.symbol, e.variant, e.version, e.served, e.asOf])).toEqual(out.errors.map((e) => [e.symbol, 'B', 2, true, '2024-01-02']));
    // The report counts them against arm B: in its error rate, and as misses of matured symbol-days.
    const report = abReport(logged.map((e) => ({ ...e, outcome: 1 as const, matured: true })), { variants: ['A', 'B'] });
    const b = report.variants.find((v) => v.variant === 'B');
    expect(b?.errors).toBe(out.errors.length);
    expect(b?.served).toBe(out.errors.length + out.predictions.filter((p) => p.variant === 'B').length);
    expect(b).toMatchObject({ matured: b?.served, hits: b!.served - out.errors.length });
  });

  it('is not logged when no variant has a vector for the symbol (a symbol the model does not serve), nor when the vector is withheld', async () => {
    const logged: PredictionLogEntry[] = [];
    const out = await predictSymbols(depsOf(snapshotOf('canary', canarySplit), logged), { model: 'm', symbols: ['NOPE'] });
    expect(out.errors).toEqual([expect.objectContaining({ symbol: 'NOPE', reason: 'no_features' })]);
    expect(logged).toEqual([]);
  });

  it("is logged when the routed variant's own feature set cannot be read while another variant's can, dated by the session a fresh vector would be of; not when every set fails alike", async () => {
    // Wednesday 10:00 in New York: the latest session whose bar is due is Tuesday's.
    jest.useFakeTimers({ now: new Date('2024-03-06T15:00:00Z'), doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const split: Route[] = [{ variant: 'canary', version: 2, weight: 1 }, { variant: 'champion', version: 1, weight: 0 }];
    const logged: PredictionLogEntry[] = [];
    const onlyB = depsOf(snapshotOf('canary', split), logged, async (version, symbol) => {
      if (version === 'fsB') throw new Error('feature set fsB unreadable');
      return { version, symbol, asOf: '2024-03-05', columns: ['x'], values: [1] };
    });
    const out = await predictSymbols(onlyB, { model: 'm', symbols: ['S01'] });
    expect(out.errors).toEqual([expect.objectContaining({ symbol: 'S01', reason: 'features_unavailable' })]);
    expect(logged).toEqual([expect.objectContaining({ variant: 'canary', version: 2, served: true, symbol: 'S01', probability: null, asOf: '2024-03-05', error: expect.stringMatching(/fsB unreadable/) })]);
    // A store outage fails the champion as much as the canary: the request's failure, not the canary's.
    logged.length = 0;
    const outage = depsOf(snapshotOf('canary', split), logged, async () => {
      throw new Error('cache and offline store unreachable');
    });
    const down = await predictSymbols(outage, { model: 'm', symbols: ['S01'] });
    expect(down.errors).toEqual([expect.objectContaining({ symbol: 'S01', reason: 'features_unavailable' })]);
    expect(logged).toEqual([]);
  });

  it('is logged when the routed version is not loaded', async () => {
    const logged: PredictionLogEntry[] = [];
    const snapshot = snapshotOf('canary', [{ variant: 'canary', version: 2, weight: 1 }, { variant: 'champion', version: 1, weight: 0 }], [1]);
    const out = await predictSymbols(depsOf(snapshot, logged), { model: 'm', symbols: ['S01'] });
    expect(out.errors).toEqual([expect.objectContaining({ symbol: 'S01', reason: 'model_failed' })]);
    expect(logged).toEqual([expect.objectContaining({ variant: 'canary', version: 2, served: true, probability: null, error: 'm: the routed version is not loaded in this snapshot' })]);
  });
});
