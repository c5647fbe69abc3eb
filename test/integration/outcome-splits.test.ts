/**
 * A live prediction's outcome across an unadjusted split in the stored bars: the split's move (a
 * fall of half the price on a 2:1 split) is no return a holder had, so the outcome is matured with
 * no label, never "down"; outcomes whose window does not cross it are measured as usual.
 */
import { outcomesOfKeys } from '../../lib/deployment/outcomes';
import { nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import { labelSpecSchema } from '../../lib/labels/labels';
import { upsertBars } from '../../lib/store/bars';
import { createSqliteTestDatabase, type TestDatabase } from '../helpers/databases';

const SYMBOL = 'XYZ';
const SESSIONS = nyseTradingDaysBetween('2024-03-01', '2024-05-31');
const SPLIT = 30; // SESSIONS[30] opens at half the price, on twice the volume
const five = labelSpecSchema.parse({ kind: 'direction', horizon: 5 });
const key = (t: number) => ({ version: 1, symbol: SYMBOL, asOf: SESSIONS[t] });

describe('outcomes across an unadjusted split', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    // A steady rise of 0.5% a session, opening at the close before: every 5-session outcome is up.
    await upsertBars(
      t.store,
      SESSIONS.map((date, i) => {
        const scale = i >= SPLIT ? 0.5 : 1;
        const close = 100 * 1.005 ** i * scale;
        const open = 100 * 1.005 ** Math.max(0, i - 1) * scale;
        return { symbol: SYMBOL, date, open, high: Math.max(open, close), low: Math.min(open, close), close, volume: i >= SPLIT ? 2000 + (i % 7) : 1000 + (i % 7) };
      }),
    );
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('gives no label to an outcome whose window holds the split, and the true one to the others', async () => {
    const keys = [SPLIT - 10, SPLIT - 6, SPLIT - 5, SPLIT - 2, SPLIT - 1, SPLIT, SPLIT + 3].map(key);
    const outcomes = await outcomesOfKeys(t.store, keys, () => five);
    expect(outcomes).toEqual([
      { outcome: 1, matured: true, missingBar: false }, // ends 5 sessions before the split
      { outcome: 1, matured: true, missingBar: false }, // ends the session before it
      { outcome: null, matured: true, missingBar: false }, // bought at the open 4 sessions before it, sold after it
      { outcome: null, matured: true, missingBar: false },
      { outcome: 1, matured: true, missingBar: false }, // bought at the split day's open: after the move
      { outcome: 1, matured: true, missingBar: false },
      { outcome: 1, matured: true, missingBar: false },
    ]);
  });

  it('reads enough bars before the earliest prediction to tell the split', async () => {
    // Only keys a few sessions before the split: the bars read must reach back far enough to tell it.
    expect(await outcomesOfKeys(t.store, [key(SPLIT - 3)], () => five)).toEqual([{ outcome: null, matured: true, missingBar: false }]);
  });
});
