/**
 * What the serving loader does when rows change under it: one unreadable serving_routes row stops
 * only its own model (every other model keeps polling, loading and starting), and a registry row
 * edited after its version was loaded is checked again on the next poll (one query; no artifact
 * read while rows are unchanged), so a running process refuses what a process starting now refuses.
 */
import fs from 'node:fs';
import { servedSnapshot } from '../../api/predictions';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { localArtifactStore, type ArtifactStore } from '../../lib/artifacts/artifact-store';
import { recordVersionReport, registerModel, type ModelVersion } from '../../lib/registry/model-registry';
import type { RowSigning } from '../../lib/registry/row-signature';
import { ServingModels } from '../../lib/serving/serving-models';
import { readServingRoutes, singleRoute, writeServingRoutes, type WriteServingRoutesInput } from '../../lib/serving/serving-routes';
import type { Database } from '../../lib/store/database';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { defineTestFeatureSet, returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';
import { until } from '../helpers/until';
import { monitoringActivities } from '../../activities/monitoring';
import { resolveStreamFeatureSets } from '../../lib/streaming/feature-sets';

const FEATURES = returnsFeatureSet('serving-rows');
const { version: FS, columns: COLUMNS } = defineTestFeatureSet(FEATURES);
const MODEL = 'direction-5d';
const OTHER = 'vol-20d';
const KEY = 'serving-row-checks-key-0123456789abcdef0123';

async function registerVersions(store: Database, dir: string, name: string, count: number, signing?: RowSigning): Promise<ModelVersion[]> {
  await saveTestFeatureSet(store, FEATURES);
  const versions: ModelVersion[] = [];
  for (let seed = 1; seed <= count; seed++) {
    const d = separable(200, 5, seed + (name === MODEL ? 0 : 50));
    const model = await logisticRegression.fit({ features: withColumns(d.x, COLUMNS), labels: d.y, classes: 2, seed }, {});
    const label = { kind: 'direction', horizon: 5 };
    versions.push(
      await registerModel(
        store,
        localArtifactStore(dir),
        { name, artifact: encodeArtifact(model.state(), { featureSetVersion: FS, label }), algorithm: 'logistic_regression', params: {}, seed, featureSetVersion: FS, label, ...UNTRACKED_REGISTRATION, registrationKey: `${name}/${seed}` },
        signing,
      ),
    );
  }
  return versions;
}


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const change = (input: Partial<WriteServingRoutesInput>): WriteServingRoutesInput => ({ model: MODEL, mode: 'single', routes: singleRoute(1), updatedBy: 'test', reason: 'test', ...input });

/** The artifact store, counting the reads of artifacts. */
function counting(base: ArtifactStore): { store: ArtifactStore; reads: () => number } {
  let reads = 0;
  const store = Object.create(base, {
    get: {
      value: (key: string, intact?: (bytes: Buffer) => boolean) => {
        reads++;
        return base.get(key, intact);
      },
    },
  }) as ArtifactStore;
  return { store, reads: () => reads };
}

describe.each(DRIVERS)('serving models when rows change under them, on %s', (_driver, create) => {
  let t: TestDatabase;
  let dir: string;
  let cache: MemoryCache;
  let quiet: MemoryCache;
  const started: ServingModels[] = [];
  let events: Array<[string, Record<string, unknown>]>;

  beforeEach(async () => {
    t = await create();
    dir = tempDir('mlp-serving-rows-');
    cache = new MemoryCache();
    quiet = new MemoryCache(); // writes through it announce to nobody: only polling can pick them up
    events = [];
  });
  afterEach(async () => {
    for (const s of started.splice(0)) await s.close();
    await cache.close();
    await quiet.close();
    await t?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const start = async (options: { pollMs?: number; signing?: RowSigning; artifacts?: ArtifactStore } = {}) => {
    const s = new ServingModels({ store: t.store, cache, artifacts: options.artifacts ?? localArtifactStore(dir), pollMs: options.pollMs ?? 50, signing: options.signing, log: (event, detail) => events.push([event, detail]) });
    started.push(s);
    await s.start();
    return s;
  };

  /** Edits a stored routes row by hand into JSON this code refuses (weights summing to 0.99). */
  const breakRoutes = async (model: string, generation: number) => {
    const routes = JSON.stringify({ mode: 'single', routes: [{ variant: 'champion', version: 1, weight: 0.99 }], salt: 'x' });
    const row = { generation, routes, updated_by: 'hand', reason: 'typo', updated_at: new Date().toISOString() };
    const exists = await t.store.db.selectFrom('serving_routes').select('model').where('model', '=', model).executeTakeFirst();
    if (exists) await t.store.db.updateTable('serving_routes').set(row).where('model', '=', model).execute();
    else await t.store.db.insertInto('serving_routes').values({ model, ...row }).execute();
  };

  it('stops only the model whose routes row cannot be read: the others keep polling and a new process starts', async () => {
    await registerVersions(t.store, dir, MODEL, 2);
    await registerVersions(t.store, dir, OTHER, 1);
    await writeServingRoutes(t.store, cache, change({ routes: singleRoute(2) }));
    await writeServingRoutes(t.store, cache, change({ model: OTHER }));
    const a = await start();
    expect(a.snapshot(OTHER)).toBeDefined();

    await breakRoutes(OTHER, 1);
    await breakRoutes('typo-model', 1); // a model no process served yet
    // MODEL rolled back to v1, its announcement lost: the poll must still bring it.
    await writeServingRoutes(t.store, quiet, change({ routes: singleRoute(1), reason: 'rollback' }));
    await until('the rollback by polling', () => a.snapshot(MODEL)?.routes.routes[0].version === 1);
    await until(`${OTHER} to stop being served`, () => a.snapshot(OTHER) === undefined);

    expect(a.models()).toEqual(['direction-5d', 'typo-model', 'vol-20d']);
    expect(a.ready()).toBe(false);
    const problems = a.unreadyModels();
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).toMatch(/vol-20d: not served, its routes \(generation 1\) cannot be read: .*weights sum to 0\.99/);
    expect(problems.join('\n')).toMatch(/typo-model: not served, its routes \(generation 1\) cannot be read/);
    expect(a.stats().readFailures).toBe(0);
    // Monitoring and the stream's feature sets read past the bad rows too: the served model stays monitored.
    expect(await monitoringActivities({ store: t.store, signing: { signingKey: undefined } }).listMonitoringTargets({})).toEqual([{ model: MODEL, version: 1, variants: ['champion'], champion: false }]);
    expect((await resolveStreamFeatureSets(t.store, [])).sets.map((x) => x.version)).toEqual([FS]);
    // A request for it gets a 503 saying why.
    expect(() => servedSnapshot(a, OTHER)).toThrow(expect.objectContaining({ statusCode: 503, message: expect.stringMatching(/Why: its routes \(generation 1\) cannot be read: .*weights sum to 0\.99/) }));
    // Reported once per row, however many polls find it.
    await sleep(200);
    expect(events.filter(([e, d]) => e === 'serving.routes_invalid' && d.model === OTHER)).toHaveLength(1);

    // A process starting now starts, serving every readable model.
    const b = await start();
    expect(b.snapshot(MODEL)?.routes.routes[0].version).toBe(1);
    expect(b.snapshot(OTHER)).toBeUndefined();
    expect(b.unreadyModels().join('\n')).toMatch(/vol-20d: not served/);

    // Rewriting the row (as the message says: writeServingRoutes, also what a rollback does) serves the model again.
    const rewritten = await writeServingRoutes(t.store, quiet, change({ model: OTHER, reason: 'fix the typo' }));
    expect(rewritten.generation).toBe(2);
    expect((await readServingRoutes(t.store, OTHER))?.routes).toEqual(singleRoute(1));
    await t.store.db.deleteFrom('serving_routes').where('model', '=', 'typo-model').execute();
    await until('vol-20d served again and every model ready', () => a.ready() && b.ready() && a.snapshot(OTHER)?.routes.generation === 2 && b.snapshot(OTHER)?.routes.generation === 2);
    expect(a.models()).toEqual([MODEL, OTHER]);
  });

  it('withdraws a loaded version whose signed row was edited, as a process starting now refuses it, and takes the row back once it verifies', async () => {
    const signing = { signingKey: KEY };
    const [v1] = await registerVersions(t.store, dir, MODEL, 2, signing);
    await writeServingRoutes(t.store, cache, change({ signing }));
    const a = await start({ signing });
    expect(a.snapshot(MODEL)?.models.get(1)).toBeDefined();

    // The label's horizon edited by hand: the row's signature no longer holds.
    const edited = JSON.stringify({ ...v1.label, horizon: 1 });
    await t.store.db.updateTable('model_versions').set({ label: edited }).where('name', '=', MODEL).where('version', '=', 1).execute();
    // A new generation still naming v1 must not reuse the loaded copy either.
    await writeServingRoutes(t.store, cache, change({ mode: 'canary', routes: [{ variant: 'champion', version: 1, weight: 0.5 }, { variant: 'canary', version: 2, weight: 0.5 }], signing }));
    await until('v1 withdrawn', () => a.snapshot(MODEL) === undefined);
    expect(a.ready()).toBe(false);
    // Withdrawn by whichever poll comes first: the registry rows' check (generation 1 still current) or the new routes (generation 2).
    expect(a.unreadyModels().join('\n')).toMatch(/direction-5d: routes generation ([12]) .* none loaded yet; loading generation \1 failed: .*v1.*signature does not match/);
    expect(events.some(([e, d]) => e === 'serving.withdrawn' && d.version === 1)).toBe(true);
    expect(() => servedSnapshot(a, MODEL)).toThrow(/Why: .*signature does not match/);

    const b = await start({ signing });
    expect(b.snapshot(MODEL)).toBeUndefined(); // the two processes agree

    // The row put back as registered: both serve again.
    await t.store.db.updateTable('model_versions').set({ label: JSON.stringify(v1.label) }).where('name', '=', MODEL).where('version', '=', 1).execute();
    await until('served again', () => a.ready() && b.ready() && a.snapshot(MODEL)?.routes.generation === 2);
  });

  it('without a signing key refuses a row that no longer matches the loaded artifact (a shadow: withdrawn alone), or whose evaluation now vetoes it (the champion: the model)', async () => {
    const [v1, v2] = await registerVersions(t.store, dir, MODEL, 2);
    await writeServingRoutes(t.store, cache, change({ routes: singleRoute(1), shadow: { version: 2 } }));
    const a = await start();
    expect([...a.snapshot(MODEL)!.models.keys()]).toEqual([1, 2]);

    // The shadow's row edited: the shadow alone is withdrawn; the champion keeps serving, and the model says it is degraded.
    await t.store.db.updateTable('model_versions').set({ label: JSON.stringify({ ...v2.label, horizon: 1 }) }).where('name', '=', MODEL).where('version', '=', 2).execute();
    await until('the shadow withdrawn', () => a.snapshot(MODEL)?.degraded !== undefined);
    expect([...a.snapshot(MODEL)!.models.keys()]).toEqual([1]);
    expect(a.snapshot(MODEL)!.routes.shadow).toBeUndefined();
    expect(a.ready()).toBe(true);
    expect(a.degradedModels().join('\n')).toMatch(/label differs: the artifact has .*"horizon":5.*, the registry says .*"horizon":1/);
    expect(events.some(([e, d]) => e === 'serving.version_withdrawn' && d.version === 2 && d.servedBy === 'v1 (champion)')).toBe(true);

    await t.store.db.updateTable('model_versions').set({ label: JSON.stringify(v2.label) }).where('name', '=', MODEL).where('version', '=', 2).execute();
    await until('the shadow served again', () => a.snapshot(MODEL)?.models.has(2) === true && a.snapshot(MODEL)?.degraded === undefined);
    expect(a.snapshot(MODEL)!.routes.shadow).toEqual({ version: 2 });

    const vetoed = { ...v1.metrics, shuffledLabel: { passed: false, message: 'beats chance on shuffled labels' } };
    await t.store.db.updateTable('model_versions').set({ metrics: JSON.stringify(vetoed) }).where('name', '=', MODEL).where('version', '=', 1).execute();
    await until('withdrawn for the veto', () => a.snapshot(MODEL) === undefined);
    expect(a.unreadyModels().join('\n')).toMatch(/must not be served/);
  });

  it('costs one query per poll: no artifact is read again while rows are unchanged, nor for a change that still verifies', async () => {
    const signing = { signingKey: KEY };
    await registerVersions(t.store, dir, MODEL, 2, signing);
    await writeServingRoutes(t.store, cache, change({ routes: singleRoute(1), shadow: { version: 2 }, signing }));
    const artifacts = counting(localArtifactStore(dir));
    const a = await start({ signing, artifacts: artifacts.store, pollMs: 20 });
    const loaded = a.snapshot(MODEL)!;
    const reads = artifacts.reads();
    expect(reads).toBe(2);
    await sleep(300); // ~15 polls
    expect(artifacts.reads()).toBe(reads);
    expect(a.snapshot(MODEL)).toBe(loaded);

    // A run report written into the lineage (keys the signature leaves out): the row changed, it still verifies.
    await recordVersionReport(t.store, MODEL, 1, { report: { path: 'reports/x.html', sha256: 'a'.repeat(64), bytes: 1, generatedAt: new Date().toISOString() } });
    await until('the changed row re-checked', () => events.some(([e]) => e === 'serving.reverified'));
    const after = a.snapshot(MODEL)!;
    expect(after.routes).toBe(loaded.routes);
    expect(after.models.get(1)!.model).toBe(loaded.models.get(1)!.model); // the same restored model, not reloaded
    expect(after.models.get(1)!.version.lineage.report).toBeDefined();
    expect(artifacts.reads()).toBe(reads);
    expect(a.ready()).toBe(true);
    expect(a.stats().verificationFailures).toBe(0);
  });

  it('a deleted row of a loaded version withdraws it too', async () => {
    await registerVersions(t.store, dir, MODEL, 2);
    await writeServingRoutes(t.store, cache, change({ routes: singleRoute(2) }));
    const a = await start();
    expect(a.snapshot(MODEL)).toBeDefined();
    await t.store.db.deleteFrom('model_versions').where('name', '=', MODEL).where('version', '=', 2).execute();
    await until('withdrawn', () => a.snapshot(MODEL) === undefined);
    expect(a.unreadyModels().join('\n')).toMatch(/has no version 2/);
  });
});
