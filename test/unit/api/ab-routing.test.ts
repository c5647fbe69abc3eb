/**
 * How a request without a routing key is assigned a variant: by symbol, except in an A/B test,
 * where it is by symbol and the NYSE session whose features it is answered on, so every symbol
 * reaches both arms over the test and the report can compare them within symbols
 * (lib/deployment/ab-report.ts), and keeps its arm over nights and weekends.
 */
import { predictSymbols, type PredictionDeps } from '../../../api/predictions';
import type { PredictionLogEntry } from '../../../lib/serving/prediction-log';
import type { LoadedModel, ServingSnapshot } from '../../../lib/serving/serving-models';
import type { Route } from '../../../lib/serving/routing';
import { ExpectedSessionClock } from '../../../lib/serving/staleness';

function snapshotOf(mode: 'ab' | 'canary', routes: Route[]): ServingSnapshot {
  const loaded = (version: number) =>
    ({
      version: { name: 'm', version, featureSetVersion: 'fs', label: { kind: 'direction', horizon: 5, deadZone: 0 } },
      model: { featureNames: ['x'], predictProba: () => Float64Array.from([0.4, 0.6]) },
    }) as unknown as LoadedModel;
  return {
    routes: { model: 'm', generation: 1, mode, routes, salt: 'salt', ...(mode === 'canary' ? { reference: 'champion' } : {}), updatedBy: 'test', reason: 'test', updatedAt: '2024-01-01T00:00:00Z' },
    models: new Map(routes.map((r) => [r.version, loaded(r.version)])),
    loadedAt: '2024-01-01T00:00:00Z',
  } as ServingSnapshot;
}

function depsOf(snapshot: ServingSnapshot, logged: PredictionLogEntry[], graceMinutes = 120): PredictionDeps {
  const counter = { inc: () => undefined };
  return {
    servingModels: { snapshot: () => snapshot, models: () => ['m'] },
    features: { read: async (version: string, symbol: string) => ({ version, symbol, asOf: '2024-01-02', columns: ['x'], values: [1] }) },
    predictionLog: { append: (entries) => logged.push(...entries) },
    metrics: { predictions: counter, predictionErrors: counter, stalePredictions: counter } as unknown as PredictionDeps['metrics'],
    sessions: new ExpectedSessionClock(graceMinutes),
  };
}

const SYMBOLS = Array.from({ length: 20 }, (_, i) => `S${i}`);

describe('routing of requests without a key', () => {
  afterEach(() => jest.useRealTimers());

  it('in an A/B test, by symbol and session: a symbol keeps its arm on one session\'s features and reaches both arms over the test', async () => {
    const snapshot = snapshotOf('ab', [{ variant: 'B', version: 2, weight: 0.5 }, { variant: 'A', version: 1, weight: 0.5 }]);
    const logged: PredictionLogEntry[] = [];
    const deps = depsOf(snapshot, logged);
    const arms = new Map<string, Set<string>>();
    for (let day = 0; day < 16; day++) {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] }).setSystemTime(new Date(Date.UTC(2024, 0, 2 + day, 15)));
      const date = deps.sessions.at(new Date());
      for (let repeat = 0; repeat < 3; repeat++) {
        const before = logged.length;
        await predictSymbols(deps, { model: 'm', symbols: SYMBOLS });
        for (const entry of logged.slice(before)) {
          expect(entry.routingKey).toBe(`${entry.symbol}@${date}`);
          const seen = arms.get(`${entry.symbol} ${date}`) ?? new Set<string>();
          arms.set(`${entry.symbol} ${date}`, seen.add(entry.variant));
        }
      }
    }
    // One arm per symbol and day, however often it is requested …
    expect([...arms.values()].every((s) => s.size === 1)).toBe(true);
    // … and each symbol on both arms over 16 days (by symbol alone, every symbol had one arm throughout).
    const bySymbol = new Map<string, Set<string>>();
    for (const [key, s] of arms) {
      const symbol = key.split(' ')[0];
      bySymbol.set(symbol, new Set([...(bySymbol.get(symbol) ?? []), ...s]));
    }
    expect([...bySymbol.values()].filter((s) => s.size === 2).length).toBeGreaterThanOrEqual(19);
  });

  it('keeps routing by symbol in a canary, and by the client\'s key whenever one is given', async () => {
    const canary = snapshotOf('canary', [{ variant: 'canary', version: 2, weight: 0.5 }, { variant: 'champion', version: 1, weight: 0.5 }]);
    const logged: PredictionLogEntry[] = [];
    await predictSymbols(depsOf(canary, logged), { model: 'm', symbols: SYMBOLS });
    expect(logged.filter((e) => e.served).map((e) => e.routingKey)).toEqual(SYMBOLS);
    const ab = snapshotOf('ab', [{ variant: 'B', version: 2, weight: 0.5 }, { variant: 'A', version: 1, weight: 0.5 }]);
    const keyed: PredictionLogEntry[] = [];
    await predictSymbols(depsOf(ab, keyed), { model: 'm', symbols: SYMBOLS, key: 'client-7' });
    expect(keyed.every((e) => e.routingKey === 'client-7')).toBe(true);
  });

  it('in an A/B test, gives one arm to every request on one session\'s features: across UTC midnight on a Friday evening and over the weekend', async () => {
    const snapshot = snapshotOf('ab', [{ variant: 'B', version: 2, weight: 0.5 }, { variant: 'A', version: 1, weight: 0.5 }]);
    const logged: PredictionLogEntry[] = [];
    const deps = depsOf(snapshot, logged);
    // Friday 5 January 2024 at 18:30 and 19:30 in New York (23:30 and 00:30 UTC), Saturday, Sunday, Monday 08:00 New York: Friday's features throughout.
    const times = ['2024-01-05T23:30:00Z', '2024-01-06T00:30:00Z', '2024-01-06T15:00:00Z', '2024-01-07T15:00:00Z', '2024-01-08T13:00:00Z'];
    const arms = new Map<string, Set<string>>();
    for (const time of times) {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] }).setSystemTime(new Date(time));
      expect(deps.sessions.at(new Date())).toBe('2024-01-05');
      const before = logged.length;
      await predictSymbols(deps, { model: 'm', symbols: SYMBOLS });
      for (const entry of logged.slice(before)) arms.set(entry.symbol, (arms.get(entry.symbol) ?? new Set<string>()).add(entry.variant));
    }
    expect([...arms.values()].filter((s) => s.size > 1)).toEqual([]);
    expect(new Set(logged.map((e) => e.routingKey.split('@')[1]))).toEqual(new Set(['2024-01-05']));
  });

  it('in an A/B test, gives a symbol one arm in every API process, whatever its API_FEATURE_GRACE_MINUTES', async () => {
    // Two processes reading one split, graces 30 and 120, asked at the same moments: 75 minutes after
    // Tuesday's close the first already expects Tuesday's features, the second still Monday's. Keyed
    // by each process's expected session, half the symbols were answered by different arms there.
    const snapshot = snapshotOf('ab', [{ variant: 'B', version: 2, weight: 0.5 }, { variant: 'A', version: 1, weight: 0.5 }]);
    const symbols = Array.from({ length: 200 }, (_, i) => `SYM${i}`);
    const early: PredictionLogEntry[] = [];
    const late: PredictionLogEntry[] = [];
    const processes = [depsOf(snapshot, early, 30), depsOf(snapshot, late, 120)];
    for (const time of ['2024-07-02T19:00:00Z', '2024-07-02T20:45:00Z', '2024-07-02T21:15:00Z', '2024-07-02T21:59:00Z', '2024-07-02T22:30:00Z', '2024-07-03T15:00:00Z']) {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] }).setSystemTime(new Date(time));
      for (const deps of processes) await predictSymbols(deps, { model: 'm', symbols });
    }
    const served = (entries: PredictionLogEntry[]) => entries.filter((e) => e.served).map((e) => [e.routingKey, e.variant]);
    expect(served(early)).toEqual(served(late));
    // Each still counts staleness against its own grace.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] }).setSystemTime(new Date('2024-07-02T21:15:00Z'));
    expect(processes.map((d) => d.sessions.at(new Date()))).toEqual(['2024-07-02', '2024-07-01']);
  });
});
