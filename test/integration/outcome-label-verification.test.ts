/**
 * Outcomes are labelled with a version's label spec: never one read from a registry row edited
 * after registration (its signature no longer holds, or its label no longer matches the artifact).
 */
import fs from 'node:fs';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { labelSpecOfVersion, labelSpecsOf } from '../../lib/deployment/outcomes';
import { BadInputError } from '../../lib/errors';
import { readOnlineFeatures } from '../../lib/features/online-features';
import { signModelVersion } from '../../lib/registry/model-registry';
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

  beforeEach(async () => {
    t = await createSqliteTestDatabase();
    dir = tempDir('mlp-outcome-labels-');
    cache = new MemoryCache();
    market = await setUpOracleMarket(t.store, cache, 3);
    for (const seed of [1, 2]) {
      const v = await registerOracleModel(t.store, dir, { name: MODEL, seed, flip: false, featureSetVersion: market.featureSetVersion });
      await signModelVersion(t.store, localArtifactStore(dir), MODEL, v, signing);
    }
  });
  afterEach(async () => {
    if (savedKey === undefined) delete process.env.MODEL_SIGNING_KEY;
    else process.env.MODEL_SIGNING_KEY = savedKey;
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
    // Without a key or artifacts there is nothing to check the row against: it is read as it is.
    expect(await labelSpecOfVersion(t.store, MODEL, 1, {})).toMatchObject({ horizon: 1 });
  });

  it("the outcome recorder (the deployment's key from the environment) records no outcome from the edited label, and the other version's", async () => {
    process.env.MODEL_SIGNING_KEY = KEY;
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
    await editLabel();
    const result = await new OutcomeRecorder(t.store).recordFor(market.symbols);
    expect(result.errors).toEqual([expect.stringMatching(/labelled-5d v1: .*signature does not match/)]);
    const recorded = await t.store.db.selectFrom('prediction_outcomes').select(['version']).execute();
    expect(recorded.map((r) => Number(r.version))).toEqual(market.symbols.map(() => 2));
  });
});
