/**
 * Outcomes are labelled with a version's label spec: never one read from a registry row edited
 * after registration (its signature no longer holds, or its label no longer matches the artifact).
 */
import fs from 'node:fs';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { labelSpecOfVersion, labelSpecsOf, readPredictionsWithOutcomes, withLabelVerification } from '../../lib/deployment/outcomes';
import { BadInputError } from '../../lib/errors';
import { readOnlineFeatures } from '../../lib/features/online-features';
import { signModelVersion } from '../../lib/registry/model-registry';
import { signStoredBars } from '../../lib/store/bar-signature';
import { OutcomeRecorder } from '../../lib/streaming/outcome-recorder';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket, type OracleMarket } from '../helpers/oracle-models';

const MODEL = 'labelled-5d';
const KEY = 'outcome-label-verification-key-0123456789ab';
const signing = { signingKey: KEY };

describe('label specs for outcomes come from verified rows only (SQLite)', () => {
  let t: TestDatabase;
  let dir: string;
  let cache: MemoryCache;
  let market: OracleMarket;
  const savedKey = process.env.MODEL_SIGNING_KEY;
  const savedArtifactDir = process.env.ARTIFACT_DIR;

  beforeEach(async () => {
    t = await createSqliteTestDatabase();
    dir = tempDir('mlp-outcome-labels-');
    cache = new MemoryCache();
    market = await setUpOracleMarket(t.store, cache, 3);
    for (const seed of [1, 2]) {
      const v = await registerOracleModel(t.store, dir, { name: MODEL, seed, flip: false, featureSetVersion: market.featureSetVersion });
      await signModelVersion(t.store, localArtifactStore(dir), MODEL, v, signing, { acceptEdit: true });
    }
  });
  afterEach(async () => {
    if (savedKey === undefined) delete process.env.MODEL_SIGNING_KEY;
    else process.env.MODEL_SIGNING_KEY = savedKey;
    if (savedArtifactDir === undefined) delete process.env.ARTIFACT_DIR;
    else process.env.ARTIFACT_DIR = savedArtifactDir;
    await cache.close();
    await t.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** v1's row edited by hand after registration: the label's horizon 5 → 1. */
  const editLabel = () => t.store.db.updateTable('model_versions').set({ label: JSON.stringify({ kind: 'direction', horizon: 1, deadZone: 0 }) }).where('name', '=', MODEL).where('version', '=', 1).execute();

  it('refuses the edited row with the key (signature) and without it given the artifacts (header), and reads intact rows', async () => {
    await editLabel();
    const edited = labelSpecOfVersion(t.store, MODEL, 1, { signing });
    await expect(edited).rejects.toThrow(BadInputError);
    await expect(edited).rejects.toThrow(/labelled-5d v1: its predictions are not labelled from this registry row: the registry row's signature does not match it/);
    await expect(labelSpecOfVersion(t.store, MODEL, 1, { artifacts: localArtifactStore(dir) })).rejects.toThrow(/label differs: the artifact has .*"horizon":5.*the registry says .*"horizon":1/);
    await expect(labelSpecsOf(t.store, MODEL, [2, 1], { signing })).rejects.toThrow(/v1/);

    expect(await labelSpecOfVersion(t.store, MODEL, 2, { signing, artifacts: localArtifactStore(dir) })).toEqual({ kind: 'direction', horizon: 5, deadZone: 0 });
    // Without a key or artifacts there is nothing to check the row against: refused, never read as it is.
    await expect(labelSpecOfVersion(t.store, MODEL, 1, {})).rejects.toThrow(/labelled-5d v1: .*nothing to check the row against/);
    await expect(labelSpecOfVersion(t.store, MODEL, 2, {})).rejects.toThrow(BadInputError);
  });

  /** One champion prediction of v1 and one of v2 per symbol, on each symbol's latest vector (matured by the market's bars). */
  async function logPredictions(): Promise<void> {
    let seq = 0;
    for (const symbol of market.symbols) {
      const vector = await readOnlineFeatures(cache, market.featureSetVersion, symbol);
      for (const version of [1, 2]) {
        seq++;
        await t.store.db
          .insertInto('prediction_log')
          .values({ id: `r${seq}:champion`, request_id: `r${seq}`, model: MODEL, version, variant: 'champion', served: 1, symbol, routing_key: symbol, as_of: vector!.asOf, probability: 0.9, predicted_class: 1, latency_us: 10, error: null, created_at: new Date().toISOString() })
          .execute();
      }
    }
  }

  it("the outcome recorder (the deployment's key and artifact store from the environment) records no outcome from the edited label, and the other version's", async () => {
    process.env.MODEL_SIGNING_KEY = KEY;
    process.env.ARTIFACT_DIR = dir;
    // Under the key the outcomes' bars are checked too: the set-up's bars, signed as they stand.
    await signStoredBars(t.store, signing, { acceptUnsigned: true });
    await logPredictions();
    await editLabel();
    const result = await new OutcomeRecorder(t.store).recordFor(market.symbols);
    expect(result.errors).toEqual([expect.stringMatching(/labelled-5d v1: .*signature does not match/)]);
    const recorded = await t.store.db.selectFrom('prediction_outcomes').select(['version']).execute();
    expect(recorded.map((r) => Number(r.version))).toEqual(market.symbols.map(() => 2));
  });

  it('without a signing key (the default) labels from the artifact header of the deployment\'s store: an edited row is refused everywhere, naming why', async () => {
    delete process.env.MODEL_SIGNING_KEY;
    process.env.ARTIFACT_DIR = dir;
    await logPredictions();
    await editLabel();
    const differs = /labelled-5d v1: its predictions are not labelled from this registry row: label differs: the artifact has .*"horizon":5.*the registry says .*"horizon":1/;
    await expect(labelSpecOfVersion(t.store, MODEL, 1)).rejects.toThrow(differs);
    await expect(labelSpecsOf(t.store, MODEL, [1, 2])).rejects.toThrow(differs);
    await expect(readPredictionsWithOutcomes(t.store, MODEL, '2000-01-01')).rejects.toThrow(differs);
    // The intact version's label is the header's.
    expect(await labelSpecOfVersion(t.store, MODEL, 2)).toEqual({ kind: 'direction', horizon: 5, deadZone: 0 });

    const recorder = new OutcomeRecorder(t.store);
    const result = await recorder.recordFor(market.symbols);
    expect(result.errors).toEqual([expect.stringMatching(differs)]);
    const recorded = await t.store.db.selectFrom('prediction_outcomes').select(['version']).execute();
    expect(recorded.map((r) => Number(r.version))).toEqual(market.symbols.map(() => 2));

    // The row is put right: the refusal stands for a while, then the version is checked again and labelled.
    await t.store.db.updateTable('model_versions').set({ label: JSON.stringify({ kind: 'direction', horizon: 5, deadZone: 0 }) }).where('name', '=', MODEL).where('version', '=', 1).execute();
    expect((await recorder.recordFor(market.symbols)).recorded).toBe(0);
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now + 11 * 60_000);
    try {
      const again = await recorder.recordFor(market.symbols);
      expect(again).toMatchObject({ recorded: market.symbols.length, errors: [] });
    } finally {
      clock.mockRestore();
    }
  });

  it('refuses every version when there is nothing to check the row against, and takes the check of an enclosing withLabelVerification', async () => {
    delete process.env.MODEL_SIGNING_KEY;
    process.env.ARTIFACT_DIR = tempDir('mlp-outcome-labels-elsewhere-'); // not where the artifacts are
    await logPredictions();
    await editLabel();
    // The environment's store lacks the artifacts: refused (and named), not read from the row.
    await expect(labelSpecOfVersion(t.store, MODEL, 2)).rejects.toThrow(/labelled-5d v2: .*its artifact cannot be read/);
    const none = await new OutcomeRecorder(t.store, {}).recordFor(market.symbols);
    expect(none.errors).toEqual([expect.stringMatching(/labelled-5d v1: .*nothing to check the row against/), expect.stringMatching(/labelled-5d v2: .*nothing to check the row against/)]);
    expect(await t.store.db.selectFrom('prediction_outcomes').selectAll().execute()).toEqual([]);

    // Inside a scope with the right store (as the deployment activities run their analyses), the header decides.
    const artifacts = localArtifactStore(dir);
    await withLabelVerification({ artifacts }, async () => {
      await expect(labelSpecsOf(t.store, MODEL, [1])).rejects.toThrow(/label differs/);
      expect(await labelSpecOfVersion(t.store, MODEL, 2)).toMatchObject({ horizon: 5 });
      const scoped = await new OutcomeRecorder(t.store).recordFor(market.symbols);
      expect(scoped.errors).toEqual([expect.stringMatching(/labelled-5d v1: .*label differs/)]);
    });
    const recorded = await t.store.db.selectFrom('prediction_outcomes').select(['version']).execute();
    expect(recorded.map((r) => Number(r.version))).toEqual(market.symbols.map(() => 2));
  });
});
