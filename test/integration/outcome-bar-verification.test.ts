/**
 * With MODEL_SIGNING_KEY the outcomes a canary or an A/B test is judged on are measured on verified
 * bars only: closes edited by SQL after the predictions were served (no key, no import) flipped a
 * canary's hit rate (a bad challenger promoted, a good one rolled back). Now the analyses count no
 * outcome from them and say why, naming symbols and dates. Both drivers.
 */
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { abReportInStore } from '../../lib/deployment/ab-report';
import { analyseCanaryInStore } from '../../lib/deployment/canary-analysis';
import { readPredictionsWithOutcomes, withLabelVerification } from '../../lib/deployment/outcomes';
import { registerModel, signModelVersion } from '../../lib/registry/model-registry';
import { UnverifiedBarsError } from '../../lib/store/bar-signature';
import { upsertBars } from '../../lib/store/bars';
import { openDatabase, type Database } from '../../lib/store/database';
import type { PredictionLogTable } from '../../lib/store/schema';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { OutcomeRecorder } from '../../lib/streaming/outcome-recorder';
import { signedLogRow } from '../helpers/signed-log';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';

const MODEL = 'bar-verified-outcomes';
const KEY = 'outcome-bar-verification-key-0123456789abcd';
const signing = { signingKey: KEY };
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
  const { version: FS, columns } = await saveTestFeatureSet(store, returnsFeatureSet('outcome-bars', 3));
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

function rows(versions: { champion: number; canary: number }): PredictionLogTable[] {
  const out: PredictionLogTable[] = [];
  let n = 0;
  for (const symbol of SYMBOLS) {
    for (const [i, asOf] of DATES.slice(0, -1).entries()) {
      const up = (i + 1) % 2 === 0 ? 1 : 0; // the next session's move (open to close): up when its close is 101
      const createdAt = new Date(Date.parse(SINCE) + n * 1000).toISOString();
      const requestId = `q${n++}`;
      const row = (variant: string, version: number, cls: number, served: boolean): PredictionLogTable => ({ id: `${requestId}:${variant}`, request_id: requestId, model: MODEL, version, variant, served: served ? 1 : 0, symbol, routing_key: symbol, as_of: asOf, probability: cls === 1 ? 0.7 : 0.3, predicted_class: cls, latency_us: 1000, error: null, created_at: createdAt });
      // Each variant serves every other request (the A/B test counts served rows; the canary analysis, pairs).
      out.push(row('champion', versions.champion, 1 - up, n % 2 === 0), row('canary', versions.canary, up, n % 2 === 1));
    }
  }
  return out;
}

describe.each(DRIVERS)('outcomes are measured on verified bars only (%s)', (_driver, create) => {
  let t: TestDatabase;
  let signed: Database;
  const dir = tempDir('mlp-outcome-bars-');
  const verify = { signing, artifacts: localArtifactStore(dir) };
  beforeEach(async () => {
    t = await create();
    signed = await openDatabase(t.url, { signing });
    await upsertBars(signed, bars());
    const versions = { champion: await register(signed, dir, 'k-champion'), canary: await register(signed, dir, 'k-canary') };
    const logged = rows(versions);
    for (let i = 0; i < logged.length; i += 200) await signed.db.insertInto('prediction_log').values(logged.slice(i, i + 200).map((r) => signedLogRow(signing, r))).execute();
  });
  afterEach(async () => {
    await signed.close();
    await t.drop();
  });

  const canary = () => withLabelVerification(verify, () => analyseCanaryInStore(signed, { model: MODEL, since: SINCE, canary: 'canary', reference: 'champion', thresholds: { minMaturedPairs: 20 } }));
  const ab = () => withLabelVerification(verify, () => abReportInStore(signed, { model: MODEL, since: SINCE, variants: ['champion', 'canary'], minSamplesPerVariant: 10 }));

  it('counts no outcome from closes edited after serving: the canary is inconclusive and the A/B test continues, naming symbols and dates', async () => {
    const honest = await canary();
    expect(honest.paired.pairs).toBeGreaterThan(100);
    expect(honest.paired.canaryHitRate).toBe(1);
    expect(honest.unverifiedBars).toBeUndefined();

    // Someone with write access but not the key swaps AAA's closes on five sessions after the predictions were served.
    const edited = DATES.slice(10, 15);
    for (const date of edited) await t.store.db.updateTable('bars').set({ close: 100.5 }).where('symbol', '=', 'AAA').where('date', '=', date).execute();

    const analysis = await canary();
    expect(analysis.verdict).toBe('inconclusive');
    expect(analysis.paired.pairs).toBe(0);
    expect(analysis.unverifiedBars).toMatchObject({ bars: 5, symbols: ['AAA'], problems: ['edited'] });
    expect(analysis.reasons[0]).toMatch(/^hit rate not judged: no outcome is measured on bars MODEL_SIGNING_KEY does not vouch for/);
    for (const date of edited) expect(analysis.reasons[0]).toContain(date);

    const report = await ab();
    expect(report.decision).toBe('continue');
    expect(report.unverifiedBars).toMatchObject({ bars: 5, symbols: ['AAA'] });
    expect(report.reasons[0]).toContain(`AAA, 5 bars from ${edited[0]} to ${edited[4]}`);

    // The rows with outcomes (the CLI's report) are refused with the bars' code.
    const refused = await withLabelVerification(verify, () => readPredictionsWithOutcomes(signed, MODEL, SINCE)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UnverifiedBarsError);
    expect((refused as UnverifiedBarsError).code).toBe('BARS_UNVERIFIED');

    // The stream's outcome recorder records none of the model's outcomes from them (recorded for good), and says why.
    const recording = await new OutcomeRecorder(signed, verify).recordFor(SYMBOLS);
    expect(recording.errors).toEqual([expect.stringMatching(/^bar-verified-outcomes: no outcome recorded: .*AAA, 5 bars/)]);
    expect(await signed.db.selectFrom('prediction_outcomes').select('prediction_id').execute()).toEqual([]);

    // A signature cleared with the edit counts as one too (an unsigned bar inside a signed history).
    await upsertBars(signed, bars());
    await t.store.db.updateTable('bars').set({ close: 100.5, signature: null, signature_key_id: null }).where('symbol', '=', 'BBB').where('date', '=', DATES[20]).execute();
    expect((await canary()).unverifiedBars).toMatchObject({ bars: 1, symbols: ['BBB'], problems: ['edited'] });

    // Without a key nothing is checked: the edited closes are read as they stand.
    const keyless = await withLabelVerification({ artifacts: localArtifactStore(dir) }, () => analyseCanaryInStore(t.store, { model: MODEL, since: SINCE, canary: 'canary', reference: 'champion', thresholds: { minMaturedPairs: 20 } }));
    expect(keyless.unverifiedBars).toBeUndefined();
    expect(keyless.paired.pairs).toBeGreaterThan(100);
  });

  it('refuses an edit that flips the outcomes: keyless it turns a passing canary into a failing one, under the key nothing is judged', async () => {
    const keyless = () => withLabelVerification({ artifacts: localArtifactStore(dir) }, () => analyseCanaryInStore(t.store, { model: MODEL, since: SINCE, canary: 'canary', reference: 'champion', thresholds: { minMaturedPairs: 20 } }));
    expect((await keyless()).verdict).toBe('pass');
    expect((await canary()).verdict).toBe('pass');
    // Every close mirrored about its open: each session's move, and so each label, flips.
    await t.store.db.updateTable('bars').set((eb) => ({ close: eb(eb(eb.val(2), '*', eb.ref('open')), '-', eb.ref('close')) })).execute();
    const flipped = await keyless();
    expect(flipped.verdict).toBe('fail');
    expect(flipped.paired.canaryHitRate).toBe(0);
    const analysis = await canary();
    expect(analysis.verdict).toBe('inconclusive');
    expect(analysis.unverifiedBars).toMatchObject({ symbols: SYMBOLS, problems: ['edited'] });
    const report = await ab();
    expect(report.decision).toBe('continue');
    expect(report.winner).toBeUndefined();
  });

  it('still fails a canary whose serving health fails when its outcome bars are refused', async () => {
    // The canary answered slowly: a serving failure, known without any outcome (logged so, signed, as the API would).
    const slow = (await signed.db.selectFrom('prediction_log').selectAll().where('variant', '=', 'canary').execute()).map(({ signature: _s, signature_key_id: _k, logged_at: _l, ...r }) => ({ ...r, latency_us: 5_000_000 }));
    await signed.db.deleteFrom('prediction_log').where('variant', '=', 'canary').execute();
    for (let i = 0; i < slow.length; i += 200) await signed.db.insertInto('prediction_log').values(slow.slice(i, i + 200).map((r) => signedLogRow(signing, r))).execute();
    await t.store.db.updateTable('bars').set({ close: 100.5 }).where('symbol', '=', 'AAA').where('date', 'in', DATES.slice(10, 15)).execute();
    await t.store.db.updateTable('bars').set({ close: 100.5 }).where('symbol', '=', 'CCC').where('date', '=', DATES[20]).execute();
    const analysis = await canary();
    expect(analysis.unverifiedBars).toMatchObject({ bars: 6, symbols: ['AAA', 'CCC'], problems: ['edited'] });
    expect(analysis.verdict).toBe('fail');
    // Every refused symbol is named, with its dates.
    expect(analysis.reasons.join('; ')).toContain(`AAA, 5 bars from ${DATES[10]} to ${DATES[14]}`);
    expect(analysis.reasons.join('; ')).toContain(`CCC on ${DATES[20]}`);
  });
});
