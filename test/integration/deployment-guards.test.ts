/**
 * What the deployment activities refuse or leave alone, called directly on a real store (both
 * drivers): a second deployment of a model while one runs (two starts at once: exactly one wins);
 * analyses that count rows of other versions under the same variant names; traffic moves after
 * someone else took the traffic over (a manual rollback, an admin edit); a rollback to a champion
 * whose registry row no longer verifies; and a version of another label under the same model name.
 * Analyses read one step's window (its own serving health, the whole rollout only when asked) and
 * answer which version under test no longer verifies instead of analysing it.
 */
import crypto from 'node:crypto';
import { deploymentActivities } from '../../activities/deployment';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { abReportInStore } from '../../lib/deployment/ab-report';
import { recentDeploymentAnalyses } from '../../lib/deployment/analysis-log';
import { analyseCanaryInStore } from '../../lib/deployment/canary-analysis';
import { withLabelVerification } from '../../lib/deployment/outcomes';
import { aliasVersion, getModelVersion, moveAlias, signModelVersion } from '../../lib/registry/model-registry';
import { assertSameLabelAsChampion } from '../../lib/registry/label-spec';
import { rollbackModel } from '../../lib/serving/rollback';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { signServingRecords } from '../../lib/serving/sign-serving-records';
import type { PredictionLogTable } from '../../lib/store/schema';
import { startApiStack } from '../helpers/api-stack';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket, type OracleMarket } from '../helpers/oracle-models';

const SINCE = '2024-01-01T00:00:00.000Z';
const KEY = 'deployment-guards-signing-key-0123456789abcdef';

describe.each(DRIVERS)('deployment activities guard the traffic (%s)', (_driver, create) => {
  let t: TestDatabase;
  let market: OracleMarket;
  const cache = new MemoryCache();
  const artifactDir = tempDir('mlp-deploy-guards-');
  const activities = () => deploymentActivities({ store: t.store, cache, artifacts: localArtifactStore(artifactDir), signing: { signingKey: undefined } });

  beforeAll(async () => {
    t = await create();
    market = await setUpOracleMarket(t.store, cache, 4);
  });
  afterAll(async () => {
    await t?.drop();
  });

  /** Versions v1…vN of a fresh model; the champion alias and the routes moved v1 → … → `champion`. */
  async function model(prefix: string, versions: number, champions: number[], label?: (i: number) => Record<string, unknown> | undefined): Promise<{ name: string; v: number[] }> {
    const name = `${prefix}-${crypto.randomBytes(3).toString('hex')}`;
    const v: number[] = [];
    for (let i = 1; i <= versions; i++) v.push(await registerOracleModel(t.store, artifactDir, { name, seed: i, flip: false, featureSetVersion: market.featureSetVersion, ...(label?.(i) ? { label: label(i) } : {}) }));
    for (const c of champions) {
      await moveAlias(t.store, { name, alias: 'champion', version: c, movedBy: 'test', reason: `champion v${c}` });
      await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(c), updatedBy: 'test', reason: `champion v${c}` });
    }
    return { name, v };
  }
  const request = (name: string, challengerVersion: number, extra: Record<string, unknown> = {}) => ({ model: name, challengerVersion, startedBy: 'test', ...extra });
  const canarySplit = (name: string, id: string, canary: number, champion: number, weight: number) => ({
    model: name,
    mode: 'canary' as const,
    routes: [{ variant: 'canary', version: canary, weight }, { variant: 'champion', version: champion, weight: 1 - weight }],
    reference: 'champion',
    updatedBy: `deployment ${id}`,
    reason: `canary at ${weight}`,
    deploymentId: id,
  });

  it('starts one deployment of a model at a time: of two started at once exactly one runs, the other is refused naming it', async () => {
    const { name, v } = await model('lock', 3, [1]);
    const a = activities();
    const results = await Promise.allSettled([a.beginDeployment({ deploymentId: `${name}-a`, request: request(name, v[1]) }), a.beginDeployment({ deploymentId: `${name}-b`, request: request(name, v[2]) })]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const winner = results[0].status === 'fulfilled' ? `${name}-a` : `${name}-b`;
    const refusal = (results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason as Error;
    expect(refusal.message).toMatch(new RegExp(`cannot deploy ${name} v\\d: deployment ${winner} of ${name} \\(v\\d against v1, started by test at .*\\) is still running.*mlp deployments abort ${winner}`));
    const rows = await t.store.db.selectFrom('deployments').select(['id', 'status']).where('model', '=', name).execute();
    expect(rows).toEqual([{ id: winner, status: 'running' }]);
    // A retry of the winner's start is the same deployment, not a second one.
    await expect(a.beginDeployment({ deploymentId: winner, request: request(name, v[results[0].status === 'fulfilled' ? 1 : 2]) })).resolves.toMatchObject({ championVersion: 1 });
    // Once it has ended, the model is free again.
    await a.finishDeployment({ deploymentId: winner, status: 'rolled-back', outcome: {} });
    await expect(a.beginDeployment({ deploymentId: `${name}-c`, request: request(name, v[2]) })).resolves.toMatchObject({ championVersion: 1 });
  });

  it('moves traffic and the alias only for a recorded running deployment, and only to its own versions', async () => {
    const { name, v } = await model('unrecorded', 3, [1]);
    const [v1, v2, v3] = v;
    const a = activities();
    const records = async () => ({
      routes: await t.store.db.selectFrom('serving_routes').selectAll().where('model', '=', name).execute(),
      aliases: await t.store.db.selectFrom('model_aliases').selectAll().where('name', '=', name).execute(),
      history: await t.store.db.selectFrom('model_alias_history').selectAll().where('name', '=', name).execute(),
    });
    const before = await records();
    // A deployment id no beginDeployment recorded (a workflow started with a forged carried state): nothing moves.
    const ghost = `${name}-ghost`;
    const unknown = { type: 'DEPLOYMENT_NOT_RECORDED', nonRetryable: true, message: expect.stringContaining(`no deployment ${ghost} is recorded`) };
    await expect(a.promoteChallenger({ deploymentId: ghost, model: name, challengerVersion: v2, championVersion: v1, movedBy: `deployment ${ghost}`, reason: 'canary passed 1 steps' })).rejects.toMatchObject(unknown);
    await expect(a.setTrafficSplit(canarySplit(name, ghost, v2, v1, 0.5))).rejects.toMatchObject(unknown);
    await expect(a.rollBackDeployment({ deploymentId: ghost, model: name, championVersion: v3, challengerVersion: v2, movedBy: `deployment ${ghost}`, reason: 'failed' })).rejects.toMatchObject(unknown);
    // A split naming no deployment at all.
    await expect(a.setTrafficSplit({ ...canarySplit(name, ghost, v2, v1, 0.5), deploymentId: undefined, updatedBy: 'someone' })).rejects.toMatchObject({ type: 'DEPLOYMENT_NOT_RECORDED' });
    expect(await records()).toEqual(before);

    // A recorded deployment of v2 against v1 moves only v2 and v1, of this model.
    const id = `${name}-d`;
    await a.beginDeployment({ deploymentId: id, request: request(name, v2) });
    const begun = await records();
    const other = { type: 'DEPLOYMENT_NOT_RECORDED', message: expect.stringContaining(`deployment ${id}`) };
    await expect(a.promoteChallenger({ deploymentId: id, model: name, challengerVersion: v3, championVersion: v1, movedBy: `deployment ${id}`, reason: 'passed' })).rejects.toMatchObject(other);
    await expect(a.setTrafficSplit(canarySplit(name, id, v3, v1, 0.5))).rejects.toMatchObject(other);
    await expect(a.setTrafficSplit({ model: name, mode: 'single', routes: singleRoute(v3), updatedBy: `deployment ${id}`, reason: 'x', deploymentId: id })).rejects.toMatchObject(other);
    await expect(a.rollBackDeployment({ deploymentId: id, model: name, championVersion: v3, challengerVersion: v2, movedBy: `deployment ${id}`, reason: 'failed' })).rejects.toMatchObject(other);
    const elsewhere = await model('unrecorded-other', 2, [1]);
    await expect(a.setTrafficSplit(canarySplit(elsewhere.name, id, elsewhere.v[1], elsewhere.v[0], 0.5))).rejects.toMatchObject({ type: 'DEPLOYMENT_NOT_RECORDED', message: expect.stringContaining(`deployment ${id} is of ${name}, not ${elsewhere.name}`) });
    expect(await records()).toEqual(begun);
    // Its own moves go through; a retried rollback after its end leaves the traffic as it is.
    await expect(a.setTrafficSplit(canarySplit(name, id, v2, v1, 0.5))).resolves.toEqual(expect.any(Number));
    await expect(a.rollBackDeployment({ deploymentId: id, model: name, championVersion: v1, challengerVersion: v2, movedBy: `deployment ${id}`, reason: 'failed' })).resolves.toBeUndefined();
    expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v1));
    await a.finishDeployment({ deploymentId: id, status: 'rolled-back', outcome: {} });
    await expect(a.rollBackDeployment({ deploymentId: id, model: name, championVersion: v1, challengerVersion: v2, movedBy: `deployment ${id}`, reason: 'failed' })).resolves.toMatchObject({ trafficLeft: expect.stringContaining('already ended (rolled-back') });
    expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v1));
    expect(await aliasVersion(t.store, name, 'champion')).toBe(v1);
  });

  it('moves traffic and the alias only for the execution chain that began the deployment; a row begun without one (before 0036) takes any', async () => {
    const { name, v } = await model('chain', 2, [1]);
    const [v1, v2] = v;
    const a = activities();
    const id = `${name}-d`;
    await a.beginDeployment({ deploymentId: id, request: request(name, v2), firstExecutionRunId: 'chain-a' });
    const records = async () => ({
      routes: await t.store.db.selectFrom('serving_routes').selectAll().where('model', '=', name).execute(),
      aliases: await t.store.db.selectFrom('model_aliases').selectAll().where('name', '=', name).execute(),
      deployment: await t.store.db.selectFrom('deployments').selectAll().where('id', '=', id).execute(),
    });
    const begun = await records();
    const refused = (chain: string) => ({ type: 'DEPLOYMENT_NOT_RECORDED', nonRetryable: true, message: expect.stringContaining(`begun by the workflow execution chain chain-a, not by this run's (${chain})`) });
    // Another chain under the same id (the running one terminated and the id started anew), or a move naming none (an old build).
    for (const chain of ['chain-b', undefined]) {
      const shown = chain ?? 'none given';
      await expect(a.setTrafficSplit({ ...canarySplit(name, id, v2, v1, 0.5), ...(chain ? { firstExecutionRunId: chain } : {}) })).rejects.toMatchObject(refused(shown));
      await expect(a.promoteChallenger({ deploymentId: id, model: name, challengerVersion: v2, championVersion: v1, movedBy: `deployment ${id}`, reason: 'canary passed 3 steps', ...(chain ? { firstExecutionRunId: chain } : {}) })).rejects.toMatchObject(refused(shown));
      await expect(a.rollBackDeployment({ deploymentId: id, model: name, championVersion: v1, challengerVersion: v2, movedBy: `deployment ${id}`, reason: 'x', ...(chain ? { firstExecutionRunId: chain } : {}) })).rejects.toMatchObject(refused(shown));
    }
    await expect(a.finishDeployment({ deploymentId: id, status: 'promoted', outcome: {}, firstExecutionRunId: 'chain-b' })).rejects.toMatchObject(refused('chain-b'));
    await expect(a.beginDeployment({ deploymentId: id, request: request(name, v2), firstExecutionRunId: 'chain-b' })).rejects.toMatchObject(refused('chain-b'));
    expect(await records()).toEqual(begun);
    // Its own chain (a retry, a continue-as-new, a reset) moves.
    await expect(a.beginDeployment({ deploymentId: id, request: request(name, v2), firstExecutionRunId: 'chain-a' })).resolves.toMatchObject({ championVersion: v1 });
    await expect(a.setTrafficSplit({ ...canarySplit(name, id, v2, v1, 0.25), firstExecutionRunId: 'chain-a' })).resolves.toEqual(expect.any(Number));
    await expect(a.rollBackDeployment({ deploymentId: id, model: name, championVersion: v1, challengerVersion: v2, movedBy: `deployment ${id}`, reason: 'done', firstExecutionRunId: 'chain-a' })).resolves.toBeUndefined();
    await a.finishDeployment({ deploymentId: id, status: 'rolled-back', outcome: {}, firstExecutionRunId: 'chain-a' });
    // A row from before the chain was recorded: any run of the id may act for it, as before.
    const old = `${name}-old`;
    await a.beginDeployment({ deploymentId: old, request: request(name, v2) });
    expect((await t.store.db.selectFrom('deployments').select('first_execution_run_id').where('id', '=', old).executeTakeFirstOrThrow()).first_execution_run_id).toBeNull();
    await expect(a.setTrafficSplit({ ...canarySplit(name, old, v2, v1, 0.25), firstExecutionRunId: 'chain-z' })).resolves.toEqual(expect.any(Number));
    await expect(a.rollBackDeployment({ deploymentId: old, model: name, championVersion: v1, challengerVersion: v2, movedBy: `deployment ${old}`, reason: 'done' })).resolves.toBeUndefined();
    expect(await aliasVersion(t.store, name, 'champion')).toBe(v1);
  });

  it('refuses to start while the champion alias is not the version the routes serve (deleted or moved by hand), moving nothing', async () => {
    const { name, v } = await model('alias-hand', 3, [1]);
    const [v1, v2, v3] = v;
    const a = activities();
    const unchanged = async () => {
      expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v1));
      expect(await t.store.db.selectFrom('deployments').select('id').where('model', '=', name).execute()).toEqual([]);
      expect(await aliasVersion(t.store, name, 'canary')).toBeUndefined();
    };
    // The alias deleted: without the check v2 was a "first champion" and took all traffic from v1, uncompared.
    await t.store.db.deleteFrom('model_aliases').where('name', '=', name).where('alias', '=', 'champion').execute();
    await expect(a.beginDeployment({ deploymentId: `${name}-none`, request: request(name, v2) })).rejects.toMatchObject({
      type: 'REGISTRY_REJECTED',
      message: expect.stringContaining(`cannot deploy ${name} v${v2}: the serving routes of ${name} (generation 1, by test: champion v${v1}) serve v${v1} as the champion, but the champion alias is not set; `),
    });
    await unchanged();
    // Moved to another version: the canary would have moved the champion's traffic from v1 to v3.
    await t.store.db.insertInto('model_aliases').values({ name, alias: 'champion', version: v3 }).execute();
    await expect(a.beginDeployment({ deploymentId: `${name}-other`, request: request(name, v2) })).rejects.toMatchObject({ type: 'REGISTRY_REJECTED', message: expect.stringContaining(`serve v${v1} as the champion, but the champion alias names v${v3}`) });
    await unchanged();
    // Moved to the challenger itself: it would have taken all traffic as "already the champion".
    await t.store.db.updateTable('model_aliases').set({ version: v2 }).where('name', '=', name).where('alias', '=', 'champion').execute();
    await expect(a.beginDeployment({ deploymentId: `${name}-self`, request: request(name, v2) })).rejects.toMatchObject({ type: 'REGISTRY_REJECTED', message: expect.stringContaining(`serve v${v1} as the champion, but the champion alias names v${v2}`) });
    await unchanged();
    // Once they agree again (a rollback moves both), the deployment starts against the served champion.
    await rollbackModel(t.store, cache, { model: name, toVersion: v1, movedBy: 'test', reason: 'agree', verify: async () => undefined });
    await expect(a.beginDeployment({ deploymentId: `${name}-agreed`, request: request(name, v2) })).resolves.toMatchObject({ championVersion: v1 });
    // A model that no routes serve yet has no served champion to disagree with: its first version is served at once.
    const fresh = await model('alias-fresh', 1, []);
    await expect(a.beginDeployment({ deploymentId: `${fresh.name}-first`, request: request(fresh.name, fresh.v[0]) })).resolves.toMatchObject({ championVersion: null });
  });

  it('refuses to start while the champion alias names a registry row that is gone, saying so and how to repair it; the rollback repairs it', async () => {
    const { name, v } = await model('alias-gone', 3, [1]);
    const [v1, v2, v3] = v;
    const a = activities();
    await t.store.db.deleteFrom('model_versions').where('name', '=', name).where('version', '=', v1).execute();
    await expect(a.beginDeployment({ deploymentId: `${name}-gone`, request: request(name, v2) })).rejects.toMatchObject({
      type: 'REGISTRY_REJECTED',
      message: `cannot deploy ${name} v${v2}: the champion alias names v${v1}, whose registry row is gone, so there is no champion to compare with or roll back to. Nothing was moved; first serve a version that verifies: \`mlp models rollback ${name} --to-version N --reason "…"\` serves N and moves the alias to it`,
    });
    expect(await t.store.db.selectFrom('deployments').select('id').where('model', '=', name).execute()).toEqual([]);
    expect(await aliasVersion(t.store, name, 'canary')).toBeUndefined();
    // The repair it names: a rollback (with the label rule, as the CLI and the admin API check it), then the deployment starts.
    await rollbackModel(t.store, cache, { model: name, toVersion: v2, movedBy: 'test', reason: 'champion row gone', verify: (m, version) => assertSameLabelAsChampion(t.store, m, [version]) });
    await expect(a.beginDeployment({ deploymentId: `${name}-after`, request: request(name, v3) })).resolves.toMatchObject({ championVersion: v2 });
  });

  it('judges and moves only the artifacts a deployment started with: a row edited to name another valid artifact mid-rollout no longer verifies for it', async () => {
    const { name, v } = await model('pinned', 4, [1]);
    const [v1, v2, v3, v4] = v;
    const a = activities();
    const id = `${name}-d`;
    await a.beginDeployment({ deploymentId: id, request: request(name, v2) });
    await expect(a.setTrafficSplit(canarySplit(name, id, v2, v1, 0.25))).resolves.toEqual(expect.any(Number));
    const query = { model: name, canary: 'canary', reference: 'champion', since: SINCE, thresholds: {}, canaryVersion: v2, referenceVersion: v1, log: { deploymentId: id, seq: 1, phase: 'canary' as const, weight: 0.25 } };
    expect(await a.verifyDeploymentVersions({ model: name, challengerVersion: v2, championVersion: v1 })).toEqual([]);
    // v2's row edited to name v3's artifact (same algorithm, parameters, label and feature set): it
    // still verifies on its own, as every row does without a signing key, but the canary's evidence
    // is about the model it started with, not this one.
    const edit = async (version: number, from: number) => {
      const source = await getModelVersion(t.store, name, from);
      await t.store.db.updateTable('model_versions').set({ artifact_sha256: source.artifactSha256, artifact_bytes: source.artifactBytes }).where('name', '=', name).where('version', '=', version).execute();
    };
    const original = await getModelVersion(t.store, name, v2);
    await edit(v2, v3);
    const swapped = await getModelVersion(t.store, name, v2);
    const reason = `${name} v${v2}'s registry row names artifact ${swapped.artifactSha256.slice(0, 12)}…, not ${original.artifactSha256.slice(0, 12)}…, the one deployment ${id} started with`;
    expect(await a.verifyDeploymentVersions({ model: name, challengerVersion: v2, championVersion: v1 })).toEqual([{ role: 'challenger', version: v2, reason: expect.stringContaining(reason) }]);
    expect(await a.analyseCanary(query)).toEqual({ unverified: [{ role: 'challenger', version: v2, reason: expect.stringContaining(reason) }] });
    await expect(a.setTrafficSplit(canarySplit(name, id, v2, v1, 0.5))).rejects.toMatchObject({ type: 'ARTIFACT_INVALID', message: expect.stringContaining(reason) });
    await expect(a.promoteChallenger({ deploymentId: id, model: name, challengerVersion: v2, championVersion: v1, movedBy: `deployment ${id}`, reason: 'passed' })).rejects.toMatchObject({ type: 'ARTIFACT_INVALID' });
    expect(await aliasVersion(t.store, name, 'champion')).toBe(v1);
    // Back as it was, it verifies again; the champion's row edited the same way: a rollback would route to another model than the one served.
    await t.store.db.updateTable('model_versions').set({ artifact_sha256: original.artifactSha256, artifact_bytes: original.artifactBytes }).where('name', '=', name).where('version', '=', v2).execute();
    expect(await a.verifyDeploymentVersions({ model: name, challengerVersion: v2, championVersion: v1 })).toEqual([]);
    await edit(v1, v4);
    expect(await a.verifyDeploymentVersions({ model: name, challengerVersion: v2, championVersion: v1 })).toEqual([{ role: 'champion', version: v1, reason: expect.stringContaining(`${name} v${v1}'s registry row names artifact`) }]);
    await expect(a.rollBackDeployment({ deploymentId: id, model: name, championVersion: v1, challengerVersion: v2, movedBy: `deployment ${id}`, reason: 'failed' })).rejects.toMatchObject({ type: 'ARTIFACT_INVALID' });
    expect((await readServingRoutes(t.store, name))?.routes.map((r) => [r.variant, r.version, r.weight])).toEqual([['canary', v2, 0.25], ['champion', v1, 0.75]]);
  });

  it('counts only the rows of the versions under test in the canary, shadow and A/B analyses', async () => {
    const { name, v } = await model('versions', 4, [1, 2]);
    const [, v2, v3, v4] = v;
    // Another deployment's canary (v4) and an earlier champion (v1) logged under the same variant names as this deployment's (v3 against v2).
    const rows: PredictionLogTable[] = [];
    const log = (request: string, variant: string, version: number, served: boolean) =>
      rows.push({ id: `${request}:${variant}`, request_id: request, model: name, version, variant, served: served ? 1 : 0, symbol: market.symbols[0], routing_key: request, as_of: '2030-01-02', probability: 0.7, predicted_class: 1, latency_us: 1000, error: null, created_at: '2024-06-01T00:00:00.000Z' });
    const pairs = (n: number, [p, a, va]: [string, string, number], [q, b, vb]: [string, string, number]) => {
      for (let i = 0; i < n; i++) {
        log(`${p}${i}`, a, va, true);
        log(`${q}${i}`, b, vb, q !== p);
      }
    };
    pairs(12, ['a', 'canary', v4], ['a', 'champion', v2]);
    pairs(5, ['b', 'canary', v3], ['b', 'champion', v2]);
    pairs(7, ['c', 'canary', v3], ['c', 'champion', 1]);
    pairs(9, ['d', 'B', v4], ['e', 'A', 1]);
    pairs(4, ['f', 'B', v3], ['g', 'A', v2]);
    await t.store.db.insertInto('prediction_log').values(rows).execute();

    // Labelled with the label specs of the artifacts in this store (the deployment activities run their analyses so).
    const verify = { artifacts: localArtifactStore(artifactDir) };
    const canary = await withLabelVerification(verify, () => analyseCanaryInStore(t.store, { model: name, since: SINCE, canary: 'canary', reference: 'champion', canaryVersion: v3, referenceVersion: v2 }));
    expect(canary.variants.find((x) => x.variant === 'canary')?.predictions).toBe(12);
    // The champion v2's rows beside v4 are still v2's; v1's are not counted.
    expect(canary.variants.find((x) => x.variant === 'champion')?.predictions).toBe(17);
    expect(canary.paired.requests).toBe(5);
    const ab = await withLabelVerification(verify, () => abReportInStore(t.store, { model: name, since: SINCE, variants: ['A', 'B'], versions: [v2, v3], minSamplesPerVariant: 1 }));
    expect(ab.variants.map((x) => [x.variant, x.served])).toEqual([['A', 4], ['B', 4]]);

    // A deployment that passes no versions (started before they were passed) is judged on its own, from its row.
    const a = activities();
    const id = `${name}-d`;
    await a.beginDeployment({ deploymentId: id, request: request(name, v3) });
    const viaActivity = await a.analyseCanary({ model: name, canary: 'canary', reference: 'champion', since: SINCE, thresholds: {}, log: { deploymentId: id, seq: 1, phase: 'canary', weight: 0.1 } });
    expect(viaActivity).toMatchObject({ paired: { requests: 5 } });
    const abViaActivity = await a.analyseAbTest({ model: name, since: SINCE, variants: ['A', 'B'], alpha: 0.05, minSamplesPerVariant: 1, log: { deploymentId: id, seq: 2, phase: 'ab-test', weight: 0.5 } });
    expect('variants' in abViaActivity && abViaActivity.variants.map((x) => x.served)).toEqual([4, 4]);
  });

  it('moves no traffic once someone else took it over, and its own rollback leaves it as they set it', async () => {
    const { name, v } = await model('takeover', 3, [1, 2]);
    const [v1, v2, v3] = v;
    const a = activities();
    const id = `${name}-d`;
    await a.beginDeployment({ deploymentId: id, request: request(name, v3) });
    expect(typeof (await a.setTrafficSplit(canarySplit(name, id, v3, v2, 0.25)))).toBe('number');
    // A retry of a write this deployment made before recording it is still its own.
    await t.store.db.updateTable('deployments').set({ routes_generation: 0 }).where('id', '=', id).execute();
    expect(typeof (await a.setTrafficSplit(canarySplit(name, id, v3, v2, 0.25)))).toBe('number');

    // `mlp models rollback` (and the admin API) to v1 during the canary.
    await rollbackModel(t.store, cache, { model: name, toVersion: v1, movedBy: 'cli (ops)', reason: 'v2 bad fills', verify: async () => undefined });
    const rolledBack = await readServingRoutes(t.store, name);
    const taken = new RegExp(`champion alias of ${name} moved from v${v2} to v${v1} \\(by cli \\(ops\\): rollback to v${v1}: v2 bad fills\\)`);
    // The answer also says what serves now (the record of the takeover is worded from it).
    expect(await a.setTrafficSplit(canarySplit(name, id, v3, v2, 0.5))).toMatchObject({ superseded: expect.stringMatching(taken), serving: { champion: v1, championMovedBy: 'cli (ops)' } });
    expect(await a.analyseCanary({ model: name, canary: 'canary', reference: 'champion', since: SINCE, thresholds: {}, log: { deploymentId: id, seq: 1, phase: 'canary', weight: 0.5 } })).toMatchObject({ superseded: expect.stringMatching(taken) });
    expect(await a.promoteChallenger({ deploymentId: id, model: name, challengerVersion: v3, championVersion: v2, movedBy: `deployment ${id}`, reason: 'passed' })).toMatchObject({ superseded: expect.stringMatching(taken) });
    expect(await a.rollBackDeployment({ deploymentId: id, model: name, championVersion: v2, challengerVersion: v3, movedBy: `deployment ${id}`, reason: 'aborted: manual rollback' })).toMatchObject({ trafficLeft: expect.stringMatching(taken) });
    expect(await readServingRoutes(t.store, name)).toEqual(rolledBack);
    expect(await aliasVersion(t.store, name, 'champion')).toBe(v1);
    expect(await aliasVersion(t.store, name, 'canary')).toBeUndefined();

    // An admin edit of the routes (no alias move) takes the traffic over too.
    const other = await model('takeover-edit', 2, [1]);
    const id2 = `${other.name}-d`;
    await a.beginDeployment({ deploymentId: id2, request: request(other.name, other.v[1]) });
    await a.setTrafficSplit(canarySplit(other.name, id2, other.v[1], other.v[0], 0.25));
    const edited = await writeServingRoutes(t.store, cache, { model: other.name, mode: 'single', routes: singleRoute(other.v[0]), updatedBy: 'api:ops', reason: 'canary off by hand' });
    expect(await a.setTrafficSplit(canarySplit(other.name, id2, other.v[1], other.v[0], 1))).toMatchObject({ superseded: expect.stringMatching(new RegExp(`serving routes of ${other.name} were changed by api:ops \\(generation ${edited.generation}: canary off by hand\\) after deployment ${id2}'s own change`)) });
    expect(await readServingRoutes(t.store, other.name)).toEqual(edited);
  });

  it('verifies the champion before its rollback moves any route: a registry row edited since is refused', async () => {
    const { name, v } = await model('rollback-verify', 2, [1]);
    const [v1, v2] = v;
    const artifacts = localArtifactStore(artifactDir);
    for (const version of v) await signModelVersion(t.store, artifacts, name, version, { signingKey: KEY }, { acceptEdit: true });
    // Routes and alias written without the key: signed as they stand (the upgrade step), else a deployment with the key refuses them.
    await signServingRecords(t.store, cache, name, { signingKey: KEY }, { by: 'test', reason: 'upgrade', acceptEdit: true });
    const a = deploymentActivities({ store: t.store, cache, artifacts, signing: { signingKey: KEY } });
    const id = `${name}-d`;
    await a.beginDeployment({ deploymentId: id, request: request(name, v2) });
    await a.setTrafficSplit(canarySplit(name, id, v2, v1, 0.5));
    const before = await readServingRoutes(t.store, name);
    const row = await getModelVersion(t.store, name, v1);
    await t.store.db.updateTable('model_versions').set({ label: JSON.stringify({ ...row.label, horizon: 1 }) }).where('name', '=', name).where('version', '=', v1).execute();
    await expect(a.rollBackDeployment({ deploymentId: id, model: name, championVersion: v1, challengerVersion: v2, movedBy: `deployment ${id}`, reason: 'failed analysis' })).rejects.toMatchObject({
      type: 'ARTIFACT_INVALID',
      message: expect.stringMatching(new RegExp(`cannot roll ${name} back to v${v1}: .*signature does not match`)),
    });
    expect(await readServingRoutes(t.store, name)).toEqual(before);
  });

  it("judges a step on its own window's rows (a regression at the new weight is not diluted), and the last step on the whole rollout too", async () => {
    const STEP = '2024-06-02T00:00:00.000Z';
    const a = activities();
    const windows = async (prefix: string, before: { n: number; failed: number }, after: { n: number; failed: number }) => {
      const { name, v } = await model(prefix, 2, [1]);
      const [v1, v2] = v;
      const rows: PredictionLogTable[] = [];
      const add = (at: string, { n, failed }: { n: number; failed: number }) => {
        for (let i = 0; i < n; i++) {
          const requestId = `${name}-${at.slice(8, 10)}-${i}`;
          const bad = i < failed;
          for (const [variant, version, served] of [['canary', v2, true], ['champion', v1, false]] as const) {
            rows.push({ id: `${requestId}:${variant}`, request_id: requestId, model: name, version, variant, served: served ? 1 : 0, symbol: market.symbols[i % 4], routing_key: requestId, as_of: '2030-01-02', probability: bad && variant === 'canary' ? null : 0.7, predicted_class: bad && variant === 'canary' ? null : 1, latency_us: 1000, error: bad && variant === 'canary' ? 'model failed' : null, created_at: at });
          }
        }
      };
      add('2024-06-01T12:00:00.000Z', before);
      add('2024-06-02T12:00:00.000Z', after);
      for (let i = 0; i < rows.length; i += 200) await t.store.db.insertInto('prediction_log').values(rows.slice(i, i + 200)).execute();
      const id = `${name}-d`;
      await a.beginDeployment({ deploymentId: id, request: request(name, v2) });
      return { model: name, canary: 'canary', reference: 'champion', since: STEP, thresholds: {}, canaryVersion: v2, referenceVersion: v1 };
    };
    const canaryStats = (analysis: object) => ('variants' in analysis ? (analysis.variants as Array<{ variant: string; predictions: number; errors: number }>).find((x) => x.variant === 'canary') : undefined);

    // Failures at the new weight only: judged on the step's rows they fail it; the 2,000 earlier rows would hide them.
    // (60 requests: the serving guards judge from 50 canary predictions, and need the champion's errors to be fewer.)
    const regression = await windows('window-regression', { n: 2000, failed: 0 }, { n: 60, failed: 12 });
    const own = await a.analyseCanary(regression);
    expect(canaryStats(own)).toMatchObject({ predictions: 60, errors: 12 });
    expect(own).toMatchObject({ verdict: 'fail', reasons: [expect.stringMatching(/canary error rate 20\.0% \(12 of 60\)/)] });
    expect(await a.analyseCanary({ ...regression, since: SINCE })).not.toMatchObject({ verdict: 'fail' });

    // The last step: failures earlier in the rollout fail it through the whole-rollout comparison, named as such.
    const earlier = await windows('window-earlier', { n: 100, failed: 30 }, { n: 20, failed: 0 });
    const step = await a.analyseCanary(earlier);
    expect(step).not.toMatchObject({ verdict: 'fail' });
    expect(step).not.toHaveProperty('cumulative');
    const last = await a.analyseCanary({ ...earlier, cumulativeSince: SINCE });
    expect(canaryStats(last)).toMatchObject({ predictions: 20, errors: 0 });
    expect(last).toMatchObject({ verdict: 'fail', since: STEP, cumulative: { since: SINCE, verdict: 'fail' } });
    expect(canaryStats((last as { cumulative: object }).cumulative)).toMatchObject({ predictions: 120, errors: 30 });
    expect('reasons' in last && last.reasons).toEqual([expect.stringMatching(new RegExp(`^whole rollout since ${SINCE}: canary error rate 25\\.0%`))]);
  });

  it('answers which version under test no longer verifies (the champion first) instead of analysing, in analyses and before traffic moves', async () => {
    const { name, v } = await model('unverified', 2, [1]);
    const [v1, v2] = v;
    const a = activities();
    const id = `${name}-d`;
    await a.beginDeployment({ deploymentId: id, request: request(name, v2) });
    await a.setTrafficSplit(canarySplit(name, id, v2, v1, 0.5));
    const versions = { model: name, challengerVersion: v2, championVersion: v1 };
    const canary = (seq: number) => a.analyseCanary({ model: name, canary: 'canary', reference: 'champion', since: SINCE, thresholds: {}, canaryVersion: v2, referenceVersion: v1, log: { deploymentId: id, seq, phase: 'canary', weight: 0.5 } });
    const ab = (seq: number) => a.analyseAbTest({ model: name, since: SINCE, variants: ['A', 'B'], versions: [v1, v2], alpha: 0.05, minSamplesPerVariant: 1, log: { deploymentId: id, seq, phase: 'ab-test', weight: 0.5 } });
    const edit = async (version: number) => {
      const row = await getModelVersion(t.store, name, version);
      await t.store.db.updateTable('model_versions').set({ label: JSON.stringify({ ...row.label, horizon: 1 }) }).where('name', '=', name).where('version', '=', version).execute();
    };
    expect(await a.verifyDeploymentVersions(versions)).toEqual([]);
    expect(await canary(1)).toMatchObject({ verdict: 'inconclusive' });

    await edit(v2);
    const challenger = { role: 'challenger', version: v2, reason: expect.stringMatching(new RegExp(`${name} v${v2} artifact failed verification: label differs`)) };
    expect(await canary(2)).toEqual({ unverified: [challenger] });
    expect(await ab(3)).toEqual({ unverified: [challenger] });
    expect(await a.verifyDeploymentVersions(versions)).toEqual([challenger]);
    expect(await a.verifyDeploymentVersions({ model: name, championVersion: v1 })).toEqual([]);

    await edit(v1);
    const champion = { role: 'champion', version: v1, reason: expect.stringMatching(new RegExp(`${name} v${v1} artifact failed verification: label differs`)) };
    expect(await canary(4)).toEqual({ unverified: [champion, challenger] });
    expect(await ab(5)).toEqual({ unverified: [champion, challenger] });
    expect(await a.verifyDeploymentVersions({ model: name, championVersion: v1 })).toEqual([champion]);
    const logged = await recentDeploymentAnalyses(t.store, id);
    expect(logged.map((x) => x.verdict)).toEqual(['inconclusive', 'unverified', 'unverified', 'unverified', 'unverified']);
    expect(logged[3].reasons).toEqual([expect.stringMatching(new RegExp(`^the champion v${v1} no longer verifies`)), expect.stringMatching(new RegExp(`^the challenger v${v2} no longer verifies`))]);
    // Nothing was moved by any of it.
    expect((await readServingRoutes(t.store, name))?.routes.map((r) => [r.variant, r.version])).toEqual([['canary', v2], ['champion', v1]]);
  });

  it('refuses to deploy, route or roll back to a version of another label than the champion, naming both; registration keeps it', async () => {
    const horizon = (i: number) => (i === 2 ? { kind: 'direction', horizon: 1, deadZone: 0 } : undefined);
    // Registration of v2 (horizon 1) beside v1 (horizon 5) succeeds: see lib/registry/label-spec.ts for why.
    const { name, v } = await model('label', 3, [1], horizon);
    const [v1, v2, v3] = v;
    const mismatch = new RegExp(`${name} v${v2} predicts another label \\(\\{"deadZone":0,"horizon":1,"kind":"direction"\\}\\) than the champion v${v1} \\(\\{"deadZone":0,"horizon":5,"kind":"direction"\\}\\)`);
    const a = activities();
    await expect(a.beginDeployment({ deploymentId: `${name}-d`, request: request(name, v2) })).rejects.toMatchObject({ type: 'REGISTRY_REJECTED', message: expect.stringMatching(new RegExp(`cannot deploy ${name} v${v2}: ${mismatch.source}`)) });
    expect(await t.store.db.selectFrom('deployments').select('id').where('model', '=', name).execute()).toEqual([]);
    expect(await aliasVersion(t.store, name, 'canary')).toBeUndefined();
    // A deployment of v2 recorded without the start's check (a row from before it): its split is refused too.
    const old = `${name}-old`;
    await t.store.db.insertInto('deployments').values({ id: old, model: name, mode: 'canary', champion_version: v1, challenger_version: v2, status: 'running', plan: '{}', outcome: null, started_by: 'test', started_at: new Date().toISOString(), ended_at: null, running_model: name, routes_generation: (await readServingRoutes(t.store, name))?.generation ?? 0, challenger_sha256: null, champion_sha256: null }).execute();
    await expect(a.setTrafficSplit(canarySplit(name, old, v2, v1, 0.5))).rejects.toMatchObject({ message: expect.stringMatching(mismatch) });
    await a.finishDeployment({ deploymentId: old, status: 'rolled-back', outcome: {} });
    // A version of the same label is routed as before.
    const same = `${name}-same`;
    await a.beginDeployment({ deploymentId: same, request: request(name, v3) });
    await expect(a.setTrafficSplit(canarySplit(name, same, v3, v1, 0.5))).resolves.toEqual(expect.any(Number));
    await a.rollBackDeployment({ deploymentId: same, model: name, championVersion: v1, challengerVersion: v3, movedBy: `deployment ${same}`, reason: 'back' });
    await a.finishDeployment({ deploymentId: same, status: 'rolled-back', outcome: {} });

    const token = { name: 'ops', token: 'deployment-guards-token-0123456789', scopes: ['predict', 'admin'] as Array<'predict' | 'admin'> };
    const api = await startApiStack({ store: t.store, cache, artifactDir, tokens: [token] });
    try {
      const auth = { authorization: `Bearer ${token.token}` };
      const put = await api.app.inject({ method: 'PUT', url: `/v1/admin/routes/${name}`, headers: auth, payload: { mode: 'canary', routes: [{ variant: 'canary', version: v2, weight: 0.5 }, { variant: 'champion', version: v1, weight: 0.5 }], reference: 'champion', reason: 'canary by hand' } });
      expect(put.statusCode).toBe(422);
      expect(put.json()).toEqual({ error: 'label_mismatch', message: expect.stringMatching(mismatch) });
      const rollback = await api.app.inject({ method: 'POST', url: `/v1/admin/rollback/${name}`, headers: auth, payload: { toVersion: v2, reason: 'back' } });
      expect(rollback.statusCode).toBe(422);
      expect(rollback.json()).toEqual({ error: 'label_mismatch', message: expect.stringMatching(mismatch) });
    } finally {
      await api.close();
    }
    expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v1));
    expect(await aliasVersion(t.store, name, 'champion')).toBe(v1);
  });
});
