/**
 * Deployment activities retried after an attempt that did its work but never completed (the worker
 * died, the answer was lost), called directly on a real store (both drivers): a retried attempt
 * takes what its own first attempt moved as its own, not as someone else taking the traffic over,
 * so the deployment ends as what it did and its record says so.
 */
import crypto from 'node:crypto';
import { deploymentActivities } from '../../activities/deployment';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { aliasHistory, aliasVersion, moveAlias } from '../../lib/registry/model-registry';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket, type OracleMarket } from '../helpers/oracle-models';

describe.each(DRIVERS)('retried deployment activities (%s)', (_driver, create) => {
  let t: TestDatabase;
  let market: OracleMarket;
  const cache = new MemoryCache();
  const artifactDir = tempDir('mlp-deploy-retries-');
  const activities = () => deploymentActivities({ store: t.store, cache, artifacts: localArtifactStore(artifactDir), signing: { signingKey: undefined } });

  beforeAll(async () => {
    t = await create();
    market = await setUpOracleMarket(t.store, cache, 4);
  });
  afterAll(async () => {
    await t?.drop();
  });

  /** Versions v1…vN of a fresh model; v1 champion and served. */
  async function model(prefix: string, versions: number): Promise<{ name: string; v: number[] }> {
    const name = `${prefix}-${crypto.randomBytes(3).toString('hex')}`;
    const v: number[] = [];
    for (let i = 1; i <= versions; i++) v.push(await registerOracleModel(t.store, artifactDir, { name, seed: i, flip: false, featureSetVersion: market.featureSetVersion }));
    await moveAlias(t.store, { name, alias: 'champion', version: v[0], movedBy: 'test', reason: 'first champion' });
    await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(v[0]), updatedBy: 'test', reason: 'first champion' });
    return { name, v };
  }

  it('a promotion retried after it moved the champion alias completes the promotion instead of answering "superseded"', async () => {
    const { name, v } = await model('promote-retry', 2);
    const [v1, v2] = v;
    const id = `deploy-${name}-v${v2}`;
    const by = `deployment ${id}`;
    const a = activities();
    await a.beginDeployment({ deploymentId: id, request: { model: name, challengerVersion: v2, startedBy: 'test' } });
    await a.setTrafficSplit({ model: name, mode: 'canary', routes: [{ variant: 'canary', version: v2, weight: 0.5 }, { variant: 'champion', version: v1, weight: 0.5 }], reference: 'champion', updatedBy: by, reason: 'canary at 0.5', deploymentId: id });
    const promote = { deploymentId: id, model: name, challengerVersion: v2, championVersion: v1, movedBy: by, reason: 'canary passed 1 steps' };
    await expect(a.promoteChallenger(promote)).resolves.toBeUndefined();
    const moves = (await aliasHistory(t.store, name)).length;
    // The first attempt's answer was lost: Temporal runs it again with the same input.
    await expect(a.promoteChallenger(promote)).resolves.toBeUndefined();
    expect(await aliasVersion(t.store, name, 'champion')).toBe(v2);
    expect(await aliasVersion(t.store, name, 'canary')).toBeUndefined();
    expect((await aliasHistory(t.store, name)).length).toBe(moves);
    expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v2));
    // Anything after it of the same deployment (its last analysis log, a late split) is still its own.
    await expect(a.setTrafficSplit({ model: name, mode: 'single', routes: singleRoute(v2), updatedBy: by, reason: 'promoted', deploymentId: id })).resolves.toEqual(expect.any(Number));
  });

  it('a start retried after it recorded the deployment, before its canary alias, still marks the canary (once)', async () => {
    const { name, v } = await model('begin-retry', 2);
    const [v1, v2] = v;
    const id = `deploy-${name}-v${v2}`;
    const a = activities();
    const request = { model: name, challengerVersion: v2, startedBy: 'test' };
    await expect(a.beginDeployment({ deploymentId: id, request })).resolves.toMatchObject({ championVersion: v1 });
    // What an attempt that ended between its two writes leaves: the deployment row, no canary alias.
    await t.store.db.deleteFrom('model_aliases').where('name', '=', name).where('alias', '=', 'canary').execute();
    await t.store.db.deleteFrom('model_alias_history').where('name', '=', name).where('alias', '=', 'canary').execute();
    await expect(a.beginDeployment({ deploymentId: id, request })).resolves.toMatchObject({ championVersion: v1 });
    expect(await aliasVersion(t.store, name, 'canary')).toBe(v2);
    await a.beginDeployment({ deploymentId: id, request });
    expect((await aliasHistory(t.store, name)).filter((m) => m.alias === 'canary').map((m) => [m.fromVersion, m.toVersion, m.movedBy])).toEqual([[null, v2, `deployment ${id}`]]);
    expect(await t.store.db.selectFrom('deployments').select(['id', 'status']).where('model', '=', name).execute()).toEqual([{ id, status: 'running' }]);
  });

  it('a champion moved by someone else after the promotion is still a takeover', async () => {
    const { name, v } = await model('promote-then-rollback', 2);
    const [v1, v2] = v;
    const id = `deploy-${name}-v${v2}`;
    const by = `deployment ${id}`;
    const a = activities();
    await a.beginDeployment({ deploymentId: id, request: { model: name, challengerVersion: v2, startedBy: 'test' } });
    const promote = { deploymentId: id, model: name, challengerVersion: v2, championVersion: v1, movedBy: by, reason: 'canary passed 1 steps' };
    await expect(a.promoteChallenger(promote)).resolves.toBeUndefined();
    // An operator rolls back to v1 before the retry.
    await moveAlias(t.store, { name, alias: 'champion', version: v1, movedBy: 'ops', reason: 'rollback by hand' });
    await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(v1), updatedBy: 'ops', reason: 'rollback by hand' });
    await expect(a.promoteChallenger(promote)).resolves.toMatchObject({ superseded: expect.stringMatching(/by ops/) });
    expect(await aliasVersion(t.store, name, 'champion')).toBe(v1);
    expect((await readServingRoutes(t.store, name))?.routes).toEqual(singleRoute(v1));
  });

  it('a finished deployment run again (its workflow reset, or started again under its id) moves nothing and keeps its record', async () => {
    const { name, v } = await model('ended-again', 2);
    const [v1, v2] = v;
    const id = `deploy-${name}-v${v2}`;
    const by = `deployment ${id}`;
    const a = activities();
    const request = { model: name, challengerVersion: v2, startedBy: 'test', canary: { steps: [50, 100] } };
    await a.beginDeployment({ deploymentId: id, request });
    const canary = { model: name, mode: 'canary' as const, routes: [{ variant: 'canary', version: v2, weight: 0.5 }, { variant: 'champion', version: v1, weight: 0.5 }], reference: 'champion', updatedBy: by, reason: 'canary at 0.5', deploymentId: id };
    await a.setTrafficSplit(canary);
    await a.promoteChallenger({ deploymentId: id, model: name, challengerVersion: v2, championVersion: v1, movedBy: by, reason: 'canary passed 1 steps' });
    await a.finishDeployment({ deploymentId: id, status: 'promoted', outcome: { status: 'promoted' } });
    const routes = await readServingRoutes(t.store, name);
    const moves = (await aliasHistory(t.store, name)).length;

    // The same workflow id from its start: refused, naming the end it had.
    await expect(a.beginDeployment({ deploymentId: id, request })).rejects.toThrow(/already ended \(promoted at .*start a new deployment/);
    // Reset past its start: each traffic move answers that it is not the deployment's to make.
    await expect(a.setTrafficSplit(canary)).resolves.toMatchObject({ superseded: expect.stringMatching(/already ended \(promoted/) });
    await expect(a.rollBackDeployment({ deploymentId: id, model: name, championVersion: v1, challengerVersion: v2, movedBy: by, reason: '1 failed analysis' })).resolves.toMatchObject({ trafficLeft: expect.stringMatching(/already ended/) });
    await expect(a.promoteChallenger({ deploymentId: id, model: name, challengerVersion: v2, championVersion: v1, movedBy: by, reason: 'again' })).resolves.toMatchObject({ superseded: expect.stringMatching(/already ended/) });
    await a.finishDeployment({ deploymentId: id, status: 'rolled-back', outcome: { status: 'rolled-back' } });

    expect(await readServingRoutes(t.store, name)).toEqual(routes);
    expect(await aliasVersion(t.store, name, 'champion')).toBe(v2);
    expect((await aliasHistory(t.store, name)).length).toBe(moves);
    expect(await t.store.db.selectFrom('deployments').select(['status']).where('id', '=', id).execute()).toEqual([{ status: 'promoted' }]);
  });
});
