import { logisticRegression } from '../../../models/baselines/logistic-regression';
import type { TrainedModel } from '../../../models/model';
import type { OnlineFeatureVector } from '../../../lib/features/online-features';
import type { ModelVersion } from '../../../lib/registry/model-registry';
import { featureSetVersionsOf, predictForRequest } from '../../../lib/serving/predict';
import { routeFor } from '../../../lib/serving/routing';
import type { LoadedModel, ServingSnapshot } from '../../../lib/serving/serving-models';
import type { ServingRoutes } from '../../../lib/serving/serving-routes';
import { separable } from '../../helpers/datasets';

const FS = 'fs-test-000000000000';

function version(v: number, featureSetVersion = FS): ModelVersion {
  return {
    name: 'direction-5d', version: v, artifactSha256: 'x', artifactBytes: 1, algorithm: 'logistic_regression', params: {}, seed: v, featureSetVersion, label: {},
    snapshotId: null, snapshotHash: null, codeVersion: 't', workflowId: null, runId: null, registrationKey: `k${v}`, metrics: {}, lineage: {}, createdAt: '2026-01-01',
  };
}

const broken = (featureNames: readonly string[]): TrainedModel => ({
  algorithm: 'broken', featureNames, classes: 2,
  predictProba: () => {
    throw new Error('boom');
  },
  state: () => {
    throw new Error('not used');
  },
});

function vector(values = [0.5, 0.2, -0.1, 0.3, 0.0], version = FS): OnlineFeatureVector {
  return { version, symbol: 'AAPL', asOf: '2026-01-02', columns: ['f0', 'f1', 'f2', 'f3', 'f4'], values };
}

describe('predictForRequest', () => {
  let fitted: TrainedModel[];
  beforeAll(async () => {
    fitted = await Promise.all([1, 2, 3].map(async (seed) => {
      const d = separable(300, 5, seed);
      return logisticRegression.fit({ features: d.x, labels: d.y, classes: 2, seed }, {});
    }));
  });

  function snapshot(routes: Partial<ServingRoutes>, models: Array<[number, TrainedModel, string?]>): ServingSnapshot {
    const full: ServingRoutes = {
      model: 'direction-5d', generation: 1, mode: 'canary', salt: 's',
      routes: [{ variant: 'champion', version: 1, weight: 0.5 }, { variant: 'canary', version: 2, weight: 0.5 }],
      updatedBy: 't', reason: 'r', updatedAt: '2026-01-01', ...routes,
    };
    return { routes: full, models: new Map<number, LoadedModel>(models.map(([v, model, fs]) => [v, { version: version(v, fs), model }])), loadedAt: '2026-01-01' };
  }

  /** A key the split routes to `variant`. */
  const keyFor = (s: ServingSnapshot, variant: string) => Array.from({ length: 1000 }, (_, i) => `k${i}`).find((k) => routeFor(s.routes, k).variant === variant)!;

  it('serves the routed variant with the probability of class 1, and pairs the reference and the shadow unserved', () => {
    const s = snapshot({ reference: 'champion', shadow: { version: 3 } }, [[1, fitted[0]], [2, fitted[1]], [3, fitted[2]]]);
    const x = vector();
    const expected = (m: TrainedModel) => m.predictProba({ values: Float64Array.from(x.values), rows: 1, featureNames: x.columns })[1];

    const toCanary = predictForRequest(s, x, keyFor(s, 'canary'));
    expect(toCanary.served).toMatchObject({ variant: 'canary', version: 2, probability: expected(fitted[1]) });
    expect(toCanary.served.predictedClass).toBe(expected(fitted[1]) > 0.5 ? 1 : 0);
    expect(toCanary.served.error).toBeUndefined();
    expect(toCanary.unserved.map((p) => [p.variant, p.version, p.probability])).toEqual([
      ['shadow', 3, expected(fitted[2])],
      ['champion', 1, expected(fitted[0])],
    ]);

    // Routed to the reference itself: no paired prediction, only the shadow.
    const toChampion = predictForRequest(s, x, keyFor(s, 'champion'));
    expect(toChampion.served).toMatchObject({ variant: 'champion', version: 1 });
    expect(toChampion.unserved.map((p) => p.variant)).toEqual(['shadow']);
  });

  it('measures each latency with the clock it is given', () => {
    const s = snapshot({}, [[1, fitted[0]], [2, fitted[1]]]);
    let t = 0;
    const clock = () => (t += 0.25); // every reading 250 µs later
    const { served } = predictForRequest(s, vector(), 'k', clock);
    expect(served.latencyMicros).toBe(250);
  });

  it('never lets an unserved model failure fail the served prediction', () => {
    const s = snapshot({ reference: 'champion', shadow: { version: 3 } }, [[1, broken(['f0', 'f1', 'f2', 'f3', 'f4'])], [2, fitted[1]], [3, broken(['f0', 'f1', 'f2', 'f3', 'f4'])]]);
    const r = predictForRequest(s, vector(), keyFor(s, 'canary'));
    expect(r.served.error).toBeUndefined();
    expect(r.served.probability).not.toBeNull();
    expect(r.unserved.map((p) => [p.variant, p.probability, p.predictedClass, p.error])).toEqual([
      ['shadow', null, null, 'boom'],
      ['champion', null, null, 'boom'],
    ]);
  });

  it('reports a served failure as an error prediction (logged like any other), not a throw', () => {
    const s = snapshot({}, [[1, fitted[0]], [2, broken(['f0', 'f1', 'f2', 'f3', 'f4'])]]);
    const r = predictForRequest(s, vector(), keyFor(s, 'canary'));
    expect(r.served).toMatchObject({ variant: 'canary', probability: null, predictedClass: null, error: 'boom' });
  });

  it('refuses vectors whose columns, feature set or values do not fit the model', () => {
    const s = snapshot({ mode: 'single', routes: [{ variant: 'champion', version: 1, weight: 1 }] }, [[1, fitted[0]]]);
    const reordered = { ...vector(), columns: ['f1', 'f0', 'f2', 'f3', 'f4'] };
    expect(predictForRequest(s, reordered, 'k').served.error).toMatch(/features differ from the model's.*first difference at column 0/);
    expect(predictForRequest(s, vector(undefined, 'fs-other'), 'k').served.error).toMatch(/trained on feature set fs-test-000000000000, but the vector is of fs-other/);
    expect(predictForRequest(s, vector([1, 2, 3]), 'k').served.error).toMatch(/3 values for 5 columns/);
  });

  it('takes one vector per feature set when the variants use different ones', () => {
    const s = snapshot({ reference: 'champion' }, [[1, fitted[0]], [2, fitted[1], 'fs-new']]);
    expect(featureSetVersionsOf(s)).toEqual(['fs-new', FS]);
    const vectors = new Map([[FS, vector()], ['fs-new', vector(undefined, 'fs-new')]]);
    const r = predictForRequest(s, vectors, keyFor(s, 'canary'));
    expect(r.served.error).toBeUndefined();
    expect(r.unserved[0].error).toBeUndefined();
    const missing = predictForRequest(s, new Map([[FS, vector()]]), keyFor(s, 'canary'));
    expect(missing.served.error).toMatch(/no feature vector of feature set fs-new/);
    expect(missing.unserved[0].error).toBeUndefined();
  });

  it('predicts no variant on a withheld vector: the unserved ones are left out, the served one is an error', () => {
    const calls: number[] = [];
    const counting = (v: number, m: TrainedModel): TrainedModel => ({ ...m, predictProba: (x) => (calls.push(v), m.predictProba(x)) });
    // Champion (reference) and shadow on FS, the canary on fs-new; only FS's vector is withheld (an unadjusted split).
    const s = snapshot({ reference: 'champion', shadow: { version: 3 } }, [[1, counting(1, fitted[0])], [2, counting(2, fitted[1]), 'fs-new'], [3, counting(3, fitted[2])]]);
    const held = { ...vector(), withheld: 'its features read an unadjusted 2:1 split' };
    const toCanary = predictForRequest(s, new Map([[FS, held], ['fs-new', vector(undefined, 'fs-new')]]), keyFor(s, 'canary'));
    expect(toCanary.served).toMatchObject({ variant: 'canary', version: 2 });
    expect(toCanary.served.probability).not.toBeNull();
    // Logged, the champion's and the shadow's would count in their live metrics and the canary comparison.
    expect(toCanary.unserved).toEqual([]);
    expect(calls).toEqual([2]);

    const toChampion = predictForRequest(s, new Map([[FS, held], ['fs-new', vector(undefined, 'fs-new')]]), keyFor(s, 'champion'));
    expect(toChampion.served).toMatchObject({ variant: 'champion', probability: null, predictedClass: null, withheld: held.withheld });
    expect(toChampion.served.error).toMatch(/^features_withheld: .*unadjusted 2:1 split/);
    expect(calls).toEqual([2]);
  });

  it('refuses to serve a probability outside [0, 1], whatever the model returned', () => {
    const returning = (q: number): TrainedModel => ({ algorithm: 'odd', featureNames: ['f0', 'f1', 'f2', 'f3', 'f4'], classes: 2, predictProba: () => Float64Array.of(1 - q, q), state: () => { throw new Error('not used'); } });
    for (const q of [5, -0.25, 1.0000001]) {
      const s = snapshot({ mode: 'single', routes: [{ variant: 'champion', version: 1, weight: 1 }] }, [[1, returning(q)]]);
      const { served } = predictForRequest(s, vector(), 'k');
      expect(served).toMatchObject({ probability: null, predictedClass: null });
      expect(served.error).toContain(`returned a probability outside [0, 1] (${q})`);
    }
    const s = snapshot({ mode: 'single', routes: [{ variant: 'champion', version: 1, weight: 1 }] }, [[1, returning(1)]]);
    expect(predictForRequest(s, vector(), 'k').served).toMatchObject({ probability: 1, predictedClass: 1 });
  });
});
