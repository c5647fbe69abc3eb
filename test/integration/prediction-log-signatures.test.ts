/**
 * With MODEL_SIGNING_KEY every prediction_log row is signed by the API's log writer, and the
 * analyses count no row whose signature does not hold: flipping the logged classes by SQL (no key)
 * turned a passing canary into a failing one and the A/B report into "stop-winner champion". Now the
 * verdict over such a window is inconclusive and names the rows; totals folded from verified rows
 * keep their honest values, and totals edited in analysis_cells are folded again from the log.
 * Without a key nothing changes. Both drivers.
 */
import crypto from 'node:crypto';
import { sql } from 'kysely';
import * as aggregates from '../../lib/deployment/log-aggregates';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { abReportInStore } from '../../lib/deployment/ab-report';
import { analyseCanaryInStore } from '../../lib/deployment/canary-analysis';
import { withLabelVerification } from '../../lib/deployment/outcomes';
import { registerModel, signModelVersion } from '../../lib/registry/model-registry';
import { PredictionLogWriter, type PredictionLogEntry } from '../../lib/serving/prediction-log';
import { CHECKED_LOG_COLUMNS, logRowSignatureState, logRowValuesText, type StoredLogRow } from '../../lib/serving/prediction-log-signature';
import { upsertBars } from '../../lib/store/bars';
import * as clock from '../../lib/store/db-clock';
import { openDatabase, type Database } from '../../lib/store/database';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';

const MODEL = 'signed-prediction-log';
const KEY = 'prediction-log-signature-key-0123456789abcd';
const signing = { signingKey: KEY };
/** The signed form of the release before logged_at was signed. */
const LEGACY_SCHEME = 'mlp-prediction-log-v1';
const SINCE = '2024-03-01T00:00:00.000Z';
const SYMBOLS = ['AAA', 'BBB', 'CCC'];
const DATES = (() => {
  const out: string[] = [];
  for (let d = new Date('2024-01-02T00:00:00Z'); d < new Date('2024-03-01T00:00:00Z'); d.setUTCDate(d.getUTCDate() + 1)) {
    if (d.getUTCDay() !== 0 && d.getUTCDay() !== 6) out.push(d.toISOString().slice(0, 10));
  }
  return out;
})();

async function register(store: Database, dir: string, key: string): Promise<number> {
  const label = { kind: 'direction', horizon: 1, deadZone: 0 };
  const { version: FS, columns } = await saveTestFeatureSet(store, returnsFeatureSet('signed-log', 3));
  const d = separable(100, 3, 1);
  const model = await logisticRegression.fit({ features: withColumns(d.x, columns), labels: d.y, classes: 2, seed: 1 }, {});
  const v = await registerModel(store, localArtifactStore(dir), { name: MODEL, artifact: encodeArtifact(model.state(), { featureSetVersion: FS, label }), algorithm: 'logistic_regression', params: {}, seed: 1, featureSetVersion: FS, label, ...UNTRACKED_REGISTRATION, registrationKey: key });
  await signModelVersion(store, localArtifactStore(dir), MODEL, v.version, signing, { acceptEdit: true });
  return v.version;
}

/** Closes alternating up and down; the canary predicts the move, the champion its opposite. */
function bars() {
  return SYMBOLS.flatMap((symbol) => DATES.map((date, i) => ({ symbol, date, open: 100 + (i % 2), high: 102, low: 99, close: 100 + ((i + 1) % 2), volume: 1000 })));
}

/** Both variants answer every request; each serves every other one. */
function entries(versions: { champion: number; canary: number }): PredictionLogEntry[] {
  const out: PredictionLogEntry[] = [];
  let n = 0;
  for (const symbol of SYMBOLS) {
    for (const [i, asOf] of DATES.slice(0, -1).entries()) {
      const up = (i + 1) % 2 === 0 ? 1 : 0; // the next session's move: up when its close is 101
      const createdAt = new Date(Date.parse(SINCE) + n * 1000).toISOString();
      const requestId = `q${String(n++).padStart(4, '0')}`;
      const row = (variant: string, version: number, cls: number, served: boolean): PredictionLogEntry => ({ id: `${requestId}:${variant}`, requestId, model: MODEL, version, variant, served, symbol, routingKey: symbol, asOf, probability: cls === 1 ? 0.7 : 0.3, predictedClass: cls, latencyUs: 1000, error: null, createdAt });
      out.push(row('champion', versions.champion, 1 - up, n % 2 === 0), row('canary', versions.canary, up, n % 2 === 1));
    }
  }
  return out;
}

async function log(store: Database, rows: readonly PredictionLogEntry[]): Promise<void> {
  const writer = new PredictionLogWriter(store, { flushMs: 10_000, batchRows: 100_000 });
  writer.append(rows);
  await writer.close();
  expect(writer.stats()).toMatchObject({ written: rows.length, rejected: 0, dropped: 0 });
}

describe.each(DRIVERS)('signed prediction log (%s)', (_driver, create) => {
  let t: TestDatabase;
  let signed: Database;
  const dir = tempDir('mlp-signed-log-');
  const verify = { signing, artifacts: localArtifactStore(dir) };
  let versions: { champion: number; canary: number };

  async function setUp(opts: { unsignedLog?: boolean } = {}) {
    t = await create();
    signed = await openDatabase(t.url, { signing });
    await upsertBars(signed, bars());
    versions = { champion: await register(signed, dir, 'k-champion'), canary: await register(signed, dir, 'k-canary') };
    await log(opts.unsignedLog ? t.store : signed, entries(versions));
  }
  afterEach(async () => {
    await signed.close();
    await t.drop();
  });
  const canary = (store: Database = signed, tallies = {}) =>
    withLabelVerification(verify, () => analyseCanaryInStore(store, { model: MODEL, since: SINCE, canary: 'canary', reference: 'champion', thresholds: { minMaturedPairs: 20 } }, tallies));
  const ab = (store: Database = signed) => withLabelVerification(verify, () => abReportInStore(store, { model: MODEL, since: SINCE, variants: ['champion', 'canary'], minSamplesPerVariant: 10 }));
  const flip = (where?: (q: ReturnType<typeof update>) => ReturnType<typeof update>) => (where ? where(update()) : update()).execute();
  const update = () => t.store.db.updateTable('prediction_log').set((eb) => ({ predicted_class: eb(eb.val(1), '-', eb.ref('predicted_class')), probability: eb(eb.val(1), '-', eb.ref('probability')) }));

  it('signs every row it writes, and the honest log passes the canary', async () => {
    await setUp();
    const rows = await t.store.db.selectFrom('prediction_log').select(['signature', 'signature_key_id']).execute();
    expect(rows.length).toBe(2 * SYMBOLS.length * (DATES.length - 1));
    expect(rows.every((r) => /^[0-9a-f]{64}$/.test(String(r.signature)) && r.signature_key_id !== null)).toBe(true);
    const a = await canary();
    expect(a.verdict).toBe('pass');
    expect(a.unverifiedLog).toBeUndefined();
  });

  it('classes flipped by SQL: neither the canary nor the A/B report decides, and both name the rows', async () => {
    await setUp();
    await flip();
    const a = await canary();
    expect(a.verdict).toBe('inconclusive');
    expect(a.unverifiedLog?.rows).toBe(2 * SYMBOLS.length * (DATES.length - 1));
    expect(a.unverifiedLog?.problems).toEqual(['edited']);
    expect(a.reasons[0]).toMatch(/prediction_log rows are not vouched for by MODEL_SIGNING_KEY/);
    expect(a.reasons[0]).toContain('AAA');
    // Nothing edited is counted.
    expect(a.paired.pairs).toBe(0);
    const r = await ab();
    expect(r.decision).toBe('continue');
    expect(r.winner ?? null).toBeNull();
    expect(r.unverifiedLog?.rows).toBe(2 * SYMBOLS.length * (DATES.length - 1));
    expect(r.reasons[0]).toMatch(/prediction_log rows are not vouched for/);
  });

  it('a few edited rows are left out and named; the verdict waits', async () => {
    await setUp();
    await flip((q) => q.where('symbol', '=', 'BBB').where('variant', '=', 'canary').where('as_of', '<', '2024-01-20'));
    const a = await canary();
    expect(a.verdict).toBe('inconclusive');
    expect(a.unverifiedLog?.symbols).toEqual(['BBB']);
    expect(a.unverifiedLog?.rows).toBe(DATES.filter((d) => d < '2024-01-20').length);
    // The rest is still counted (each refused canary row takes its pair out).
    expect(a.paired.pairs).toBe(SYMBOLS.length * (DATES.length - 1) - (a.unverifiedLog?.rows ?? 0));
  });

  it('an edit with its signature removed counts as an edit, not as a row from before signing', async () => {
    await setUp();
    await flip((q) => q.where('symbol', '=', 'CCC'));
    await t.store.db.updateTable('prediction_log').set({ signature: null, signature_key_id: null }).where('symbol', '=', 'CCC').execute();
    const a = await canary();
    expect(a.verdict).toBe('inconclusive');
    expect(a.unverifiedLog?.problems).toEqual(['edited']);
    expect(a.unverifiedLog?.reason).toMatch(/signature was removed/);
  });

  it('rows logged before signing began: refused as unsigned (a warning), not as edits', async () => {
    await setUp({ unsignedLog: true });
    const a = await canary();
    expect(a.verdict).toBe('inconclusive');
    expect(a.unverifiedLog?.problems).toEqual(['unsigned']);
  });

  it('totals folded from verified rows keep their values after the rows are edited; edited totals are folded again', async () => {
    await setUp();
    const folded = await canary(signed, { settleLagUs: 0 });
    expect(folded.verdict).toBe('pass');
    // The rows are in the signed totals now; an edit of them changes nothing already counted.
    await flip();
    const after = await canary(signed, { settleLagUs: 0 });
    expect(after.verdict).toBe('pass');
    expect(after.paired.canaryHitRate).toBe(folded.paired.canaryHitRate);
    // Editing the totals themselves (keeping every count) is found, and the window folded again from
    // the log, whose edited rows are then refused.
    const streams = await t.store.db.selectFrom('analysis_streams').select('id').execute();
    expect(streams.length).toBeGreaterThan(0);
    const cells = await t.store.db.selectFrom('analysis_cells').select(['stream', 'cell', 'n', 's1', 's2']).execute();
    for (const c of cells) {
      const key = JSON.parse(c.cell) as Array<string | number>;
      if (key[0] !== 'k') continue;
      // Swap the predicted classes of the pair cell: canary right ⇄ wrong.
      const swapped = JSON.stringify([...key.slice(0, 6), 1 - Number(key[6]), 1 - Number(key[7])]);
      await t.store.db.updateTable('analysis_cells').set({ cell: swapped }).where('stream', '=', c.stream).where('cell', '=', c.cell).execute();
    }
    const forged = await canary(signed, { settleLagUs: 0 });
    expect(forged.verdict).not.toBe('fail');
    expect(forged.verdict).toBe('inconclusive');
    expect(forged.unverifiedLog?.problems).toEqual(['edited']);
  });

  it.each([0, undefined])('logged_at moved past the watermark (settle lag %s): rows already folded are not counted again; they are refused and named', async (settleLagUs) => {
    await setUp();
    const folded = await canary(signed, { settleLagUs: 0 });
    expect(folded.verdict).toBe('pass');
    expect(folded.paired.pairs).toBe(SYMBOLS.length * (DATES.length - 1));
    // Someone with SQL access moves folded rows to after the stream's watermark.
    const now = Date.now() * 1000 + 1000;
    const moved = await t.store.db.updateTable('prediction_log').set({ logged_at: now }).where('symbol', '=', 'BBB').where('variant', '=', 'canary').executeTakeFirst();
    expect(Number(moved.numUpdatedRows)).toBe(DATES.length - 1);
    const after = await canary(signed, settleLagUs === undefined ? {} : { settleLagUs });
    // Counted once (in the totals folded before the edit), never twice.
    expect(after.paired.pairs).toBe(folded.paired.pairs);
    expect(after.paired.canaryHitRate).toBe(folded.paired.canaryHitRate);
    // The request counts (an earlier measurement went from 63 to 105 canary requests) stay those folded.
    expect(after.variants).toEqual(folded.variants);
    expect(after.verdict).toBe('inconclusive');
    expect(after.unverifiedLog?.problems).toEqual(['edited']);
    expect(after.unverifiedLog?.symbols).toEqual(['BBB']);
    expect(after.unverifiedLog?.rows).toBe(DATES.length - 1);
    const r = await ab();
    expect(r.unverifiedLog?.rows).toBe(DATES.length - 1);
    expect(r.decision).toBe('continue');
  });

  it('rows edited between a fold\'s check and its aggregate are not folded as edited: the fold reads one snapshot', async () => {
    await setUp();
    const honest = await canary(signed, { settleLagUs: 0 });
    expect(honest.verdict).toBe('pass');
    expect(honest.paired.canaryHitRate).toBe(1);
    // Fresh streams; the canary's classes are flipped by SQL right after the first fold has checked its rows.
    await t.store.db.deleteFrom('analysis_cells').execute();
    await t.store.db.deleteFrom('analysis_streams').execute();
    const real = aggregates.streamCells;
    let edited = false;
    const spy = jest.spyOn(aggregates, 'streamCells').mockImplementation(async (store, query, spec, options) => {
      const aggregate: aggregates.StreamSpec['aggregate'] = async (w, range) => {
        if (range.to !== undefined && !edited) {
          edited = true;
          await flip((q) => q.where('variant', '=', 'canary'));
        }
        return spec.aggregate(w, range);
      };
      return real(store, query, { ...spec, aggregate }, options);
    });
    let raced: Awaited<ReturnType<typeof canary>>;
    try {
      raced = await canary(signed, { settleLagUs: 0 });
    } finally {
      spy.mockRestore();
    }
    expect(edited).toBe(true);
    const later = await canary(signed, { settleLagUs: 0 });
    // The fold counted the rows as they were signed (its snapshot predates the edit), as a fold
    // before the edit would have; before, the flipped classes were folded: hit rate 0, nothing refused.
    for (const a of [raced, later]) {
      expect(a.paired.canaryHitRate).toBe(1);
      expect(a.unverifiedLog).toBeUndefined();
      expect(a.verdict).toBe('pass');
    }
    // A stream that folds them now refuses every flipped row and names it.
    const r = await ab();
    expect(r.unverifiedLog?.rows).toBe(SYMBOLS.length * (DATES.length - 1));
    expect(r.unverifiedLog?.problems).toEqual(['edited']);
  });

  it('a batch whose flush waits for a pool connection still commits ahead of the folds: its rows are counted', async () => {
    await setUp();
    const folded = await canary(signed, { settleLagUs: 0 });
    expect(folded.variants.map((v) => v.predictions)).toEqual([SYMBOLS.length * (DATES.length - 1), SYMBOLS.length * (DATES.length - 1)]);
    const analyst = await openDatabase(t.url, { signing }); // the worker's own handle
    const read = clock.readDbClockMicros;
    let armed = true;
    const busy: Array<Promise<unknown>> = [];
    // As the flush reads the clock, every connection of its pool (8 on MariaDB) is taken for 3 s by other work.
    const spy = jest.spyOn(clock, 'readDbClockMicros').mockImplementation(async (db, driver) => {
      const now = await read(db, driver);
      if (armed) {
        armed = false;
        for (let i = 0; i < 8; i++) busy.push(sql`select ${sql.raw(driver === 'mysql' ? 'sleep(3)' : '1')}`.execute(signed.db));
      }
      return now;
    });
    const late = entries(versions)
      .filter((e) => e.symbol === 'CCC')
      .map((e) => ({ ...e, id: `late-${e.id}`, requestId: `late-${e.requestId}` }));
    const writer = new PredictionLogWriter(signed, { flushMs: 10_000, batchRows: 100_000, thread: false });
    try {
      writer.append(late);
      const flushing = writer.flush();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      // An analysis folds everything logged over a second ago meanwhile.
      await canary(analyst, { settleLagUs: 1_000_000 });
      await flushing;
      await Promise.all(busy);
    } finally {
      spy.mockRestore();
    }
    expect(writer.stats()).toMatchObject({ written: late.length, dropped: 0 });
    const after = await canary(analyst, { settleLagUs: 0 });
    // Before: the batch committed with a logged_at behind that fold's watermark, and 84 rows were never counted.
    expect(after.variants.map((v) => v.predictions)).toEqual([SYMBOLS.length * (DATES.length - 1) + late.length / 2, SYMBOLS.length * (DATES.length - 1) + late.length / 2]);
    expect(after.unverifiedLog).toBeUndefined();
    await analyst.close();
  });

  it.each([
    ['unfolded', undefined],
    ['folded', 0],
  ])('logged_at set to NULL on %s rows: refused and named, never silently gone', async (_state, settleLagUs) => {
    await setUp();
    const before = await canary(signed, settleLagUs === undefined ? {} : { settleLagUs });
    expect(before.verdict).toBe('pass');
    const cleared = await t.store.db.updateTable('prediction_log').set({ logged_at: sql<number>`null` }).where('symbol', '=', 'BBB').where('variant', '=', 'canary').executeTakeFirst();
    expect(Number(cleared.numUpdatedRows)).toBe(DATES.length - 1);
    const after = await canary(signed, settleLagUs === undefined ? {} : { settleLagUs });
    expect(after.verdict).toBe('inconclusive');
    expect(after.unverifiedLog?.problems).toEqual(['edited']);
    expect(after.unverifiedLog?.symbols).toEqual(['BBB']);
    expect(after.unverifiedLog?.rows).toBe(DATES.length - 1);
    // Folded before the edit: counted once, as folded. Not folded: left out.
    if (settleLagUs === 0) expect(after.variants).toEqual(before.variants);
    else expect(after.variants.find((v) => v.variant === 'canary')?.predictions).toBe(SYMBOLS.length * (DATES.length - 1) - (DATES.length - 1));
    const r = await ab();
    expect(r.unverifiedLog?.rows).toBe(DATES.length - 1);
    expect(r.decision).toBe('continue');
  });

  /**
   * The rows of `symbol` as the writer of the earlier release signed them (every column but
   * logged_at, under its scheme), logged a minute before this release's rows.
   */
  async function earlierForm(symbol: string): Promise<void> {
    const stored = await t.store.db.selectFrom('prediction_log').select([...CHECKED_LOG_COLUMNS]).where('symbol', '=', symbol).execute();
    for (const r of stored) {
      const mac = crypto.createHmac('sha256', KEY).update(`${LEGACY_SCHEME}\n${logRowValuesText(r as StoredLogRow)}`, 'utf8').digest('hex');
      await t.store.db.updateTable('prediction_log').set({ signature: mac, logged_at: Number(r.logged_at) - 60_000_000 }).where('id', '=', r.id).execute();
    }
  }

  it('earlier-form rows moved to the watermark itself (before any later row) are refused: the stream remembers it folded a current-form row', async () => {
    await setUp();
    await earlierForm('AAA');
    const folded = await canary(signed, { settleLagUs: 0 });
    expect(folded.unverifiedLog).toBeUndefined();
    const streams = await t.store.db.selectFrom('analysis_streams').select(['folded_until', 'current_form_from']).execute();
    expect(streams.every((st) => st.current_form_from !== null)).toBe(true);
    const watermark = Math.min(...streams.map((st) => Number(st.folded_until)));
    await t.store.db.updateTable('prediction_log').set({ logged_at: watermark }).where('symbol', '=', 'AAA').where('variant', '=', 'canary').execute();
    const after = await canary();
    expect(after.unverifiedLog?.problems).toEqual(['edited']);
    expect(after.unverifiedLog?.rows).toBe(DATES.length - 1);
    expect(after.variants).toEqual(folded.variants);
    expect(after.verdict).toBe('inconclusive');
    // The remembered row is part of the signed totals: clearing it folds the window again, where the moved rows are refused all the same.
    await t.store.db.updateTable('analysis_streams').set({ current_form_from: null }).execute();
    const cleared = await canary();
    expect(cleared.unverifiedLog?.rows).toBe(DATES.length - 1);
    expect(cleared.variants.find((v) => v.variant === 'champion')).toEqual(folded.variants.find((v) => v.variant === 'champion'));
  });

  it('rows signed in the earlier form (logged_at not covered) still verify; one logged after a row of the current form is refused', async () => {
    await setUp();
    await earlierForm('AAA');
    const a = await canary();
    expect(a.unverifiedLog).toBeUndefined();
    expect(a.verdict).toBe('pass');
    const folded = await canary(signed, { settleLagUs: 0 });
    expect(folded.unverifiedLog).toBeUndefined();
    // A row of the current form logged after the watermark, then earlier-form rows moved after it.
    const later = entries(versions).filter((e) => e.symbol === 'CCC').slice(0, 1).map((e) => ({ ...e, id: `late-${e.id}`, requestId: `late-${e.requestId}` }));
    await log(signed, later);
    const last = await t.store.db.selectFrom('prediction_log').select((eb) => eb.fn.max('logged_at').as('at')).executeTakeFirstOrThrow();
    await t.store.db.updateTable('prediction_log').set({ logged_at: Number(last.at) + 1 }).where('symbol', '=', 'AAA').where('variant', '=', 'canary').execute();
    const after = await canary(signed, { settleLagUs: 0 });
    expect(after.unverifiedLog?.problems).toEqual(['edited']);
    expect(after.unverifiedLog?.symbols).toEqual(['AAA']);
    expect(after.unverifiedLog?.rows).toBe(DATES.length - 1);
    expect(after.paired.pairs).toBe(folded.paired.pairs);
    expect(after.variants.find((v) => v.variant === 'canary')).toEqual(folded.variants.find((v) => v.variant === 'canary'));
  });

  it.each([true, false])('signs in the batch, not when a row is appended (thread %s): no HMAC on the request path, every row verifies', async (thread) => {
    t = await create();
    signed = await openDatabase(t.url, { signing });
    const rows = entries({ champion: 1, canary: 2 }).map((e, i) => ({ ...e, error: i % 5 === 0 ? 'line\nbreak "quoted" ünï ✓' : null, probability: i % 7 === 0 ? null : Math.random(), latencyUs: i * 13.7 }));
    const writer = new PredictionLogWriter(signed, { flushMs: 10_000, batchRows: 100_000, thread });
    const hmacs = jest.spyOn(crypto, 'createHmac');
    try {
      writer.append(rows);
      expect(hmacs).not.toHaveBeenCalled();
    } finally {
      hmacs.mockRestore();
    }
    await writer.close();
    expect(writer.stats()).toMatchObject({ written: rows.length, rejected: 0, dropped: 0 });
    const stored = await t.store.db.selectFrom('prediction_log').select([...CHECKED_LOG_COLUMNS]).execute();
    expect(stored.length).toBe(rows.length);
    const refused = stored.filter((r) => !logRowSignatureState({ signingKey: KEY }, r as StoredLogRow).ok);
    expect(refused.map((r) => r.id)).toEqual([]);
  });

  it('without a key nothing is signed or checked (the edit is read as logged)', async () => {
    t = await create();
    signed = await openDatabase(t.url, {});
    await upsertBars(t.store, bars());
    versions = { champion: await register(t.store, dir, 'k-champion'), canary: await register(t.store, dir, 'k-canary') };
    await log(t.store, entries(versions));
    const rows = await t.store.db.selectFrom('prediction_log').select('signature').execute();
    expect(rows.every((r) => r.signature === null)).toBe(true);
    const keyless = () => withLabelVerification({ artifacts: localArtifactStore(dir) }, () => analyseCanaryInStore(t.store, { model: MODEL, since: SINCE, canary: 'canary', reference: 'champion', thresholds: { minMaturedPairs: 20 } }));
    expect((await keyless()).verdict).toBe('pass');
    await flip();
    const a = await keyless();
    expect(a.verdict).toBe('fail');
    expect(a.unverifiedLog).toBeUndefined();
  });
});
