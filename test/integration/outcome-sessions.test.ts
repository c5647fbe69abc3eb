/**
 * A prediction's outcome looks `horizon` NYSE sessions ahead, not `horizon` stored bars: when the
 * bar of a session inside the horizon is missing (quarantined, not imported), the outcome is matured
 * without a label (missingBar), never the move over one session more; backfilling the bar gives the
 * true label. The live strategy's forward returns follow the same sessions.
 */
import { attachOutcomes, outcomesOfKeys, type LoggedPrediction } from '../../lib/deployment/outcomes';
import { labelSpecSchema, type LabelSpecInput } from '../../lib/labels/labels';
import { readLivePredictions } from '../../lib/monitoring/live-predictions';
import type { ModelVersion } from '../../lib/registry/model-registry';
import { upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { DRIVERS, type TestDatabase } from '../helpers/databases';

const SYMBOL = 'XYZ';
// 2024-03-01 (Fri) + 5 sessions = 2024-03-08: 99 < 100, down. 6 sessions = 2024-03-11: 105, up.
const SESSIONS = ['2024-02-29', '2024-03-01', '2024-03-04', '2024-03-05', '2024-03-06', '2024-03-07', '2024-03-08', '2024-03-11', '2024-03-12'];
const CLOSES = [100, 100, 101, 102, 101, 100, 99, 105, 106];
const GAP = '2024-03-05';

async function storeBars(store: Database, dates: readonly string[]): Promise<void> {
  await upsertBars(
    store,
    dates.map((date) => {
      // No overnight gaps: each session opens at the close before it.
      const i = SESSIONS.indexOf(date);
      const c = CLOSES[i];
      const open = CLOSES[Math.max(0, i - 1)];
      return { symbol: SYMBOL, date, open, high: Math.max(open, c), low: Math.min(open, c), close: c, volume: 1000 };
    }),
  );
}

const spec = (input: LabelSpecInput) => labelSpecSchema.parse(input);
const key = (asOf: string) => ({ version: 1, symbol: SYMBOL, asOf });

describe.each(DRIVERS)('outcomes over NYSE sessions on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  it('gives no label where a session of the horizon has no bar, and the true one once it is backfilled', async () => {
    const five = spec({ kind: 'direction', horizon: 5 });
    // Bars up to 2024-03-07 only, 03-05 missing: the horizon (to 03-08) has not passed yet.
    await storeBars(t.store, SESSIONS.filter((d) => d !== GAP && d <= '2024-03-07'));
    expect(await outcomesOfKeys(t.store, [key('2024-03-01')], () => five)).toEqual([{ outcome: null, matured: false, missingBar: false }]);

    await storeBars(t.store, SESSIONS.filter((d) => d !== GAP));
    const keys = [key('2024-03-01'), key('2024-02-29'), key('2024-03-06'), key('2024-03-08')];
    const outcomes = await outcomesOfKeys(t.store, keys, () => five);
    expect(outcomes[0]).toEqual({ outcome: null, matured: true, missingBar: true }); // not the 6-session move to 03-11 (up)
    expect(outcomes[1]).toEqual({ outcome: null, matured: true, missingBar: true }); // 02-29 → 03-07 spans the gap too
    expect(outcomes[2]).toEqual({ outcome: null, matured: false, missingBar: false }); // 03-06 + 5 sessions = 03-13: not stored yet
    expect(outcomes[3]).toEqual({ outcome: null, matured: false, missingBar: false }); // 03-08 + 5 sessions = 03-15
    const two = spec({ kind: 'direction', horizon: 2 });

    // Per-row counts, with a version whose horizon does not reach the gap.
    const row = (version: number, asOf: string): LoggedPrediction => ({ id: `${version}-${asOf}`, requestId: asOf, model: 'm', version, variant: 'champion', served: true, symbol: SYMBOL, routingKey: 'k', asOf, probability: 0.5, predictedClass: 1, latencyUs: 1, error: null, createdAt: '2024-03-01T00:00:00.000Z' });
    const joined = await attachOutcomes(t.store, [row(1, '2024-03-01'), row(2, '2024-03-06'), row(2, '2024-03-01')], (v) => (v === 1 ? five : two));
    expect(joined.rows.map((r) => [r.asOf, r.matured, r.outcome])).toEqual([
      ['2024-03-01', true, null],
      ['2024-03-06', true, 0], // 03-06 → 03-08: 99 < 101, no gap in between
      ['2024-03-01', true, null], // 03-01 + 2 sessions = 03-05: missing
    ]);
    expect({ unmatured: joined.unmatured, noLabel: joined.noLabel, missingBar: joined.missingBar }).toEqual({ unmatured: 0, noLabel: 2, missingBar: 2 });

    // The bar is backfilled: the true 5-session outcome, down.
    await storeBars(t.store, [GAP]);
    expect(await outcomesOfKeys(t.store, [key('2024-03-01')], () => five)).toEqual([{ outcome: 0, matured: true, missingBar: false }]);
  });

  it('counts the sessions of the exchange: a holiday inside the horizon is no gap, a missing horizon-end bar is one', async () => {
    // 2024-03-29 is Good Friday: 03-28 + 1 session = 04-01.
    await upsertBars(
      t.store,
      [
        ['2024-03-27', 10],
        ['2024-03-28', 11],
        ['2024-04-01', 12],
        ['2024-04-03', 9],
      ].map(([date, c], i, all) => {
        const open = all[Math.max(0, i - 1)][1] as number; // each opens at the close before it
        return { symbol: SYMBOL, date: date as string, open, high: Math.max(open, c as number), low: Math.min(open, c as number), close: c as number, volume: 1 };
      }),
    );
    const one = spec({ kind: 'direction', horizon: 1 });
    const outcomes = await outcomesOfKeys(t.store, [key('2024-03-28'), key('2024-04-01'), key('2024-04-03')], () => one);
    expect(outcomes).toEqual([
      { outcome: 1, matured: true, missingBar: false }, // 11 → 12 over the holiday
      { outcome: null, matured: true, missingBar: true }, // 04-02 has no bar; 04-03 is stored, so it will not come
      { outcome: null, matured: false, missingBar: false },
    ]);
    // Triple barrier and volatility regime need their whole horizon as well.
    const barrier = spec({ kind: 'triple_barrier', horizon: 2, volWindow: 1, profitTake: 1, stopLoss: 1 });
    expect((await outcomesOfKeys(t.store, [key('2024-03-28')], () => barrier))[0]).toMatchObject({ outcome: null, matured: true, missingBar: true });
  });

  it('takes the live forward returns over the same sessions: none across a missing bar', async () => {
    await storeBars(t.store, SESSIONS.filter((d) => d !== GAP));
    const version = { name: 'live', version: 1, label: { kind: 'direction', horizon: 2, deadZone: 0 } } as unknown as ModelVersion;
    const asOfs = ['2024-03-01', '2024-03-04', '2024-03-06', '2024-03-07'];
    await t.store.db
      .insertInto('prediction_log')
      .values(asOfs.map((asOf, i) => ({ id: `r${i}:champion`, request_id: `r${i}`, model: 'live', version: 1, variant: 'champion', served: 1, symbol: SYMBOL, routing_key: 'k', as_of: asOf, probability: 0.7, predicted_class: 1, latency_us: 10, error: null, created_at: '2024-03-12T21:00:00.000Z' })))
      .execute();
    const live = await readLivePredictions(t.store, version, { since: '2024-03-01T00:00:00.000Z' });
    const close = (d: string) => CLOSES[SESSIONS.indexOf(d)];
    // 03-01 and 03-04 reach 03-05 (missing) within 2 sessions: no outcome, no return.
    expect(live.samples.map((s) => [s.asOf, s.outcome, s.forwardReturn])).toEqual([
      ['2024-03-06', 0, close('2024-03-08') / close('2024-03-06') - 1],
      ['2024-03-07', 1, close('2024-03-11') / close('2024-03-07') - 1],
    ]);
    expect({ predictions: live.predictions, unmatured: live.unmatured, noLabel: live.noLabel }).toEqual({ predictions: 4, unmatured: 0, noLabel: 2 });
  });
});
