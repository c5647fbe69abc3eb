/**
 * A withheld online vector (its features read an unadjusted split) is not served, and no other
 * variant's prediction on it is logged either: the reference and shadow rows are what live hit
 * rates, calibration and the canary-vs-reference comparison are computed from.
 */
import { predictSymbols, type PredictionDeps } from '../../../api/predictions';
import type { PredictionLogEntry } from '../../../lib/serving/prediction-log';
import type { Route } from '../../../lib/serving/routing';
import type { LoadedModel, ServingSnapshot } from '../../../lib/serving/serving-models';
import { ExpectedSessionClock } from '../../../lib/serving/staleness';

const WITHHELD = 'its features read an unadjusted 2:1 split on 2023-12-20';

function snapshotOf(routes: Route[], shadow?: number): ServingSnapshot {
  // v1 (champion) and v3 read feature set fsA, whose vector is withheld; v2 (canary) reads fsB.
  const loaded = (version: number, fs: string) =>
    ({ version: { name: 'm', version, featureSetVersion: fs, label: { kind: 'direction', horizon: 5, deadZone: 0 } }, model: { featureNames: ['x'], predictProba: () => Float64Array.from([0.3, 0.7]) } }) as unknown as LoadedModel;
  return {
    routes: { model: 'm', generation: 1, mode: 'canary', routes, reference: 'champion', ...(shadow ? { shadow: { version: shadow } } : {}), salt: 's', updatedBy: 't', reason: 't', updatedAt: '2024-01-01T00:00:00Z' },
    models: new Map([[1, loaded(1, 'fsA')], [2, loaded(2, 'fsB')], [3, loaded(3, 'fsA')]]),
    loadedAt: '2024-01-01T00:00:00Z',
  } as unknown as ServingSnapshot;
}

function depsOf(snapshot: ServingSnapshot, logged: PredictionLogEntry[]): PredictionDeps {
  const counter = { inc: () => undefined };
  return {
    servingModels: { snapshot: () => snapshot, models: () => ['m'] },
    features: { read: async (version: string, symbol: string) => ({ version, symbol, asOf: '2024-01-02', columns: ['x'], values: [1], ...(version === 'fsA' ? { withheld: WITHHELD } : {}) }) },
    predictionLog: { append: (entries) => logged.push(...entries) },
    metrics: { predictions: counter, predictionErrors: counter, stalePredictions: counter } as unknown as PredictionDeps['metrics'],
    sessions: new ExpectedSessionClock(120),
  };
}

describe('predictions on a withheld vector', () => {
  it('are not logged for the reference or the shadow when the routed variant reads another feature set', async () => {
    const logged: PredictionLogEntry[] = [];
    const snapshot = snapshotOf([{ variant: 'champion', version: 1, weight: 0 }, { variant: 'canary', version: 2, weight: 1 }], 3);
    const out = await predictSymbols(depsOf(snapshot, logged), { model: 'm', symbols: ['AAA'] });
    expect(out.predictions.map((p) => [p.variant, p.version])).toEqual([['canary', 2]]);
    // Only the canary's own prediction: the champion's and the shadow's vectors are withheld.
    expect(logged.map((e) => [e.variant, e.version, e.served, e.error])).toEqual([['canary', 2, true, null]]);
  });

  it('are refused, and nothing logged, when the routed variant\'s own vector is withheld', async () => {
    const logged: PredictionLogEntry[] = [];
    const snapshot = snapshotOf([{ variant: 'champion', version: 1, weight: 1 }, { variant: 'canary', version: 2, weight: 0 }]);
    const out = await predictSymbols(depsOf(snapshot, logged), { model: 'm', symbols: ['AAA'] });
    expect(out.errors).toEqual([expect.objectContaining({ symbol: 'AAA', reason: 'features_withheld' })]);
    expect(logged).toEqual([]);
  });
});
