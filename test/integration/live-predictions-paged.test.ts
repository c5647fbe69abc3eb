/**
 * With MODEL_SIGNING_KEY live monitoring checks every prediction_log row of the version's lookback.
 * It reads them in pages (keyset on created_at, id; at most LIVE_ROWS_PER_READ rows a read) and
 * groups them as it goes, so what it holds is one page and the (symbol, as_of) groups, not every
 * row of the lookback (at a million predictions a day, 60 million rows a run). The groups are the
 * ones the keyless SQL GROUP BY gives, less the refused rows. Both drivers.
 */
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, UnknownRow } from 'kysely';
import { LIVE_ROWS_PER_READ, readLivePredictions } from '../../lib/monitoring/live-predictions';
import type { ModelVersion } from '../../lib/registry/model-registry';
import { openDatabase, type Database } from '../../lib/store/database';
import type { PredictionLogTable } from '../../lib/store/schema';
import { signedLogRow } from '../helpers/signed-log';
import { DRIVERS, type TestDatabase } from '../helpers/databases';

const SIGNING = { signingKey: 'live-predictions-paged-key-0123456789abcdef' };
const VERSION = { name: 'paged', version: 1, label: { kind: 'direction', horizon: 1, deadZone: 0 } } as unknown as ModelVersion;
const SYMBOLS = Array.from({ length: 30 }, (_, i) => `S${String(i).padStart(2, '0')}`);
const DAYS = ['2024-03-01', '2024-03-04', '2024-03-05', '2024-03-06', '2024-03-07', '2024-03-08'];
/** Requests per (symbol, day): 30 x 6 x 70 x 2 variants = 25,200 rows, five pages. */
const REPEATS = 70;

/** The largest number of rows one query returned. */
class LargestRead implements KyselyPlugin {
  largest = 0;
  transformQuery(args: PluginTransformQueryArgs) {
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.largest = Math.max(this.largest, args.result.rows.length);
    return args.result;
  }
}

function rows(): PredictionLogTable[] {
  const out: PredictionLogTable[] = [];
  let n = 0;
  for (let r = 0; r < REPEATS; r++) {
    for (const asOf of DAYS) {
      for (const symbol of SYMBOLS) {
        // Many rows share a created_at (a request's rows do, and requests of one millisecond): the pages must not skip or repeat them.
        const createdAt = new Date(Date.parse('2024-03-11T14:00:00.000Z') + Math.floor(n / 7)).toISOString();
        const requestId = `q${String(n++).padStart(6, '0')}`;
        for (const [variant, served] of [['champion', 1], ['shadow', 0]] as const) {
          const p = ((n * 7919 + (served ? 0 : 13)) % 1000) / 1000;
          const row = { id: `${requestId}:${variant}`, request_id: requestId, model: VERSION.name, version: 1, variant, served, symbol, routing_key: symbol, as_of: asOf, probability: p, predicted_class: p > 0.5 ? 1 : 0, latency_us: 100, error: null, created_at: createdAt };
          out.push(signedLogRow(SIGNING, row));
        }
      }
    }
  }
  return out;
}

describe.each(DRIVERS)('live predictions read in pages (%s)', (_driver, create) => {
  let t: TestDatabase;
  let signed: Database;
  beforeAll(async () => {
    t = await create();
    signed = await openDatabase(t.url, { signing: SIGNING });
    const all = rows();
    for (let i = 0; i < all.length; i += 500) await t.store.db.insertInto('prediction_log').values(all.slice(i, i + 500)).execute();
  });
  afterAll(async () => {
    await signed?.close();
    await t?.drop();
  });
  const window = { since: '2024-03-11T00:00:00.000Z', until: '2024-03-12T00:00:00.000Z' };

  it('never reads more than a page of rows at once, and groups them as the SQL does', async () => {
    const largest = new LargestRead();
    const live = await readLivePredictions({ ...signed, db: signed.db.withPlugin(largest) }, VERSION, window);
    expect(largest.largest).toBeLessThanOrEqual(LIVE_ROWS_PER_READ);
    const keyless = await readLivePredictions(t.store, VERSION, window);
    expect(live.unverifiedLog).toBeUndefined();
    expect(live.predictions).toBe(SYMBOLS.length * DAYS.length);
    expect(live.predictions).toBe(keyless.predictions);
    expect(live.scores.dates).toEqual(keyless.scores.dates);
    expect([...live.scores.day]).toEqual([...keyless.scores.day]);
    expect(live.scores.values.length).toBe(keyless.scores.values.length);
    live.scores.values.forEach((v, i) => expect(v).toBeCloseTo(keyless.scores.values[i], 12));
  });

  it('leaves out and names the edited rows of any page', async () => {
    const ids = ['q000000:champion', 'q006000:shadow', 'q012599:champion'];
    await t.store.db.updateTable('prediction_log').set({ probability: 0.999 }).where('id', 'in', ids).execute();
    const live = await readLivePredictions(signed, VERSION, window);
    expect(live.unverifiedLog?.rows).toBe(3);
    expect([...(live.unverifiedLog?.examples ?? [])].sort()).toEqual([...ids].sort());
    expect(live.predictions).toBe(SYMBOLS.length * DAYS.length);
  });

  it('rows whose probability was nulled or error set by SQL are refused and named, not silently left out', async () => {
    const before = (await readLivePredictions(signed, VERSION, window)).unverifiedLog?.rows ?? 0;
    const nulled = ['q000100:champion', 'q007000:shadow'];
    const failed = ['q011000:champion'];
    await t.store.db.updateTable('prediction_log').set({ probability: null, predicted_class: null }).where('id', 'in', nulled).execute();
    await t.store.db.updateTable('prediction_log').set({ error: 'model failed' }).where('id', 'in', failed).execute();
    const live = await readLivePredictions(signed, VERSION, window);
    expect(live.unverifiedLog?.rows).toBe(before + 3);
    expect(live.unverifiedLog?.problems).toEqual(['edited']);
    expect(live.unverifiedLog?.reason).toContain('q000100:champion');
    expect(live.predictions).toBe(SYMBOLS.length * DAYS.length);
  });
});
