import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { attachOutcomes, labelSpecOfVersion, labelSpecsOf, readPredictionLog, type LoggedPrediction } from '../../lib/deployment/outcomes';
import { labelSpecSchema } from '../../lib/labels/labels';
import { registerModel } from '../../lib/registry/model-registry';
import { upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';

const MODEL = 'direction-2d';
// Version 1: up or down 2 bars ahead, ±1% dead zone. Version 2: triple barrier, ±1σ, 4 bars, σ over 3 returns.
const DIRECTION = { kind: 'direction', horizon: 2, deadZone: 0.01 } as const;
const BARRIER = { kind: 'triple_barrier', horizon: 4, profitTake: 1, stopLoss: 1, volWindow: 3 } as const;

const AAA_DATES = ['2024-01-02', '2024-01-03', '2024-01-04', '2024-01-05', '2024-01-08', '2024-01-09', '2024-01-10', '2024-01-11', '2024-01-12', '2024-01-16'];
const AAA_CLOSES = [100, 102, 100.5, 99, 100.5, 103, 104, 104.5, 102, 101];
const BBB_DATES = AAA_DATES.slice(0, 9);
const BBB_CLOSES = [100, 101, 100, 101, 101.5, 103, 99, 99, 99];

/** Bars without overnight gaps (each opens at the close before, `previousClose` for the first), so outcomes from the next open are the closes' moves. */
async function storeBars(store: Database, symbol: string, dates: string[], closes: number[], previousClose = closes[0]): Promise<void> {
  await upsertBars(
    store,
    dates.map((date, i) => {
      const open = i > 0 ? closes[i - 1] : previousClose;
      return { symbol, date, open, high: Math.max(open, closes[i]), low: Math.min(open, closes[i]), close: closes[i], volume: 1000 };
    }),
  );
}

async function register(store: Database, dir: string, label: Record<string, unknown>, key: string): Promise<number> {
  const { version: FS, columns } = await saveTestFeatureSet(store, returnsFeatureSet('deployment-outcomes', 3));
  const d = separable(100, 3, 1);
  const model = await logisticRegression.fit({ features: withColumns(d.x, columns), labels: d.y, classes: 2, seed: 1 }, {});
  const v = await registerModel(store, localArtifactStore(dir), {
    name: MODEL,
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

let seq = 0;
async function logPrediction(store: Database, p: { model?: string; version: number; symbol: string; asOf: string; createdAt?: string; variant?: string; error?: boolean }): Promise<void> {
  const requestId = `req-${++seq}`;
  const variant = p.variant ?? 'champion';
  await store.db
    .insertInto('prediction_log')
    .values({
      id: `${requestId}:${variant}`,
      request_id: requestId,
      model: p.model ?? MODEL,
      version: p.version,
      variant,
      served: variant === 'shadow' ? 0 : 1,
      symbol: p.symbol,
      routing_key: `key-${seq}`,
      as_of: p.asOf,
      probability: p.error ? null : 0.625,
      predicted_class: p.error ? null : 1,
      latency_us: 1500 + seq,
      error: p.error ? 'feature vector missing' : null,
      created_at: p.createdAt ?? `2024-02-01T10:00:${String(seq).padStart(2, '0')}.000Z`,
    })
    .execute();
}

const outcomeOf = (rows: Array<{ symbol: string; asOf: string; matured: boolean; outcome: 0 | 1 | null }>) => rows.map((r) => [r.symbol, r.asOf, r.matured, r.outcome]);

describe.each(DRIVERS)('deployment outcomes on %s', (_driver, create) => {
  let t: TestDatabase;
  let dir: string;
  beforeEach(async () => {
    t = await create();
    dir = tempDir('mlp-artifacts-');
    seq = 0;
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('reads the prediction log of one model in a [since, until) window, in camelCase', async () => {
    await logPrediction(t.store, { version: 1, symbol: 'AAA', asOf: '2024-01-02', createdAt: '2024-02-01T09:00:00.000Z' });
    await logPrediction(t.store, { version: 1, symbol: 'AAA', asOf: '2024-01-03', createdAt: '2024-02-01T10:00:00.000Z', variant: 'shadow', error: true });
    await logPrediction(t.store, { version: 1, symbol: 'AAA', asOf: '2024-01-04', createdAt: '2024-02-01T11:00:00.000Z' });
    await logPrediction(t.store, { model: 'other', version: 1, symbol: 'AAA', asOf: '2024-01-04', createdAt: '2024-02-01T10:30:00.000Z' });

    const all = await readPredictionLog(t.store, { model: MODEL });
    expect(all.map((r) => r.asOf)).toEqual(['2024-01-02', '2024-01-03', '2024-01-04']);
    const window = await readPredictionLog(t.store, { model: MODEL, since: '2024-02-01T10:00:00.000Z', until: '2024-02-01T11:00:00.000Z' });
    expect(window).toEqual<LoggedPrediction[]>([
      {
        id: 'req-2:shadow',
        requestId: 'req-2',
        model: MODEL,
        version: 1,
        variant: 'shadow',
        served: false,
        symbol: 'AAA',
        routingKey: 'key-2',
        asOf: '2024-01-03',
        probability: null,
        predictedClass: null,
        latencyUs: 1502,
        error: 'feature vector missing',
        createdAt: '2024-02-01T10:00:00.000Z',
      },
    ]);
    expect((await readPredictionLog(t.store, { model: MODEL, since: '2024-02-01' }))[0].probability).toBe(0.625);
    await expect(readPredictionLog(t.store, { model: MODEL, since: 'yesterday' })).rejects.toThrow(/invalid prediction log query: since/);
  });

  it('attaches matured outcomes from the stored bars, reports unmatured ones and matures them when bars arrive', async () => {
    await storeBars(t.store, 'AAA', AAA_DATES, AAA_CLOSES);
    await storeBars(t.store, 'BBB', BBB_DATES, BBB_CLOSES);
    const direction = await register(t.store, dir, DIRECTION, 'k-direction');
    const barrier = await register(t.store, dir, BARRIER, 'k-barrier');
    expect(await labelSpecOfVersion(t.store, MODEL, direction, { artifacts: localArtifactStore(dir) })).toEqual(labelSpecSchema.parse(DIRECTION));

    const predictions: Array<[number, string, string]> = [
      [direction, 'AAA', '2024-01-02'], // 100.5 / 100 − 1 = +0.5%: inside the dead zone, scored by its sign → 1 (live accuracy, as the evaluation, counts every row)
      [direction, 'AAA', '2024-01-03'], // 99 / 102 − 1 = −2.9% → 0
      [direction, 'AAA', '2024-01-05'], // 103 / 99 − 1 = +4.0% → 1
      [direction, 'AAA', '2024-01-11'], // 101 / 104.5 − 1 = −3.3% → 0 (the horizon bar is the last stored)
      [direction, 'AAA', '2024-01-12'], // needs a bar after 2024-01-16: unmatured
      [direction, 'AAA', '2024-01-06'], // a Saturday: no bar, later bars exist → never labelled
      [direction, 'AAA', '2024-01-17'], // after the last bar: may still come → unmatured
      [direction, 'CCC', '2024-01-02'], // no bars at all yet → unmatured
      // σ from the 3 returns before 2024-01-05 (±1%) puts the barriers near ±1.15%: 103 (+2%) on
      // 2024-01-09 touches the upper one first → 1. Without the look-back bars σ is undefined and
      // the time-limit sign (99 < 101) would give 0.
      [barrier, 'BBB', '2024-01-05'],
      // at 2024-01-08 σ over 100→101→100→101→101.5 is ≈1.04%, upper barrier ≈102.56: 103 touches it → 1
      [barrier, 'BBB', '2024-01-08'],
      [barrier, 'BBB', '2024-01-09'], // 4 bars ahead is not stored: unmatured
    ];
    for (const [version, symbol, asOf] of predictions) await logPrediction(t.store, { version, symbol, asOf });

    const rows = await readPredictionLog(t.store, { model: MODEL });
    const labelFor = await labelSpecsOf(t.store, MODEL, rows.map((r) => r.version), { artifacts: localArtifactStore(dir) });
    const joined = await attachOutcomes(t.store, rows, labelFor);
    expect(outcomeOf(joined.rows)).toEqual([
      ['AAA', '2024-01-02', true, 1],
      ['AAA', '2024-01-03', true, 0],
      ['AAA', '2024-01-05', true, 1],
      ['AAA', '2024-01-11', true, 0],
      ['AAA', '2024-01-12', false, null],
      ['AAA', '2024-01-06', true, null],
      ['AAA', '2024-01-17', false, null],
      ['CCC', '2024-01-02', false, null],
      ['BBB', '2024-01-05', true, 1],
      ['BBB', '2024-01-08', true, 1],
      ['BBB', '2024-01-09', false, null],
    ]);
    expect({ unmatured: joined.unmatured, noLabel: joined.noLabel, missingBar: joined.missingBar }).toEqual({ unmatured: 4, noLabel: 1, missingBar: 1 });
    expect(joined.rows[1]).toMatchObject({ requestId: 'req-2', version: direction, probability: 0.625 });

    // A new bar matures the 2024-01-12 prediction: 104 / 102 − 1 = +2.0% → 1.
    await storeBars(t.store, 'AAA', ['2024-01-17'], [104], AAA_CLOSES[AAA_CLOSES.length - 1]);
    const later = await attachOutcomes(t.store, rows, labelFor);
    expect(outcomeOf(later.rows).slice(4, 7)).toEqual([
      ['AAA', '2024-01-12', true, 1],
      ['AAA', '2024-01-06', true, null],
      ['AAA', '2024-01-17', false, null], // its own bar exists now, the one 2 bars later does not
    ]);
    expect(later.unmatured).toBe(3);
  });

  it('refuses versions it has no label spec for, with a way out', async () => {
    const labelFor = await labelSpecsOf(t.store, MODEL, []);
    await logPrediction(t.store, { version: 7, symbol: 'AAA', asOf: '2024-01-02' });
    const rows = await readPredictionLog(t.store, { model: MODEL });
    await expect(attachOutcomes(t.store, rows, labelFor)).rejects.toThrow(/no label spec loaded for model direction-2d version 7/);
    await expect(labelSpecsOf(t.store, MODEL, [7])).rejects.toThrow(/has no version 7/);
  });
});
