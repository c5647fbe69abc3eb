/**
 * `mlp models rollback` stops a running deployment with the typed `abort` update and prints its answer;
 * when a deployment cannot take the update, the reason is printed and the exit code is non-zero.
 * Real Temporal dev server, workers, SQLite and Redis; the CLI is the built dist/cli.js.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { RedisCache } from '../../lib/cache/redis-cache';
import { aliasVersion, getModelVersion, moveAlias } from '../../lib/registry/model-registry';
import { artifactKey } from '../../lib/registry/artifact-store';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { TASK_QUEUES } from '../../lib/task-queues';
import { buildCliIfStale } from '../../scripts/build';
import { runBuiltCli } from '../helpers/cli';
import { deploymentStateQuery, deploymentWorkflow } from '../../workflows';
import { clearSharedOnlineVectors, createSqliteTestDatabase, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket } from '../helpers/oracle-models';
import { startTemporal, withWorkers } from '../helpers/temporal';


describe('mlp models rollback with a running deployment (real Temporal server, SQLite, Redis)', () => {
  let env: TestWorkflowEnvironment;
  let t: TestDatabase;
  let cache: RedisCache;
  let artifactDir: string;

  beforeAll(async () => {
    await buildCliIfStale();
    env = await startTemporal();
    t = await createSqliteTestDatabase();
    cache = new RedisCache(TEST_REDIS_URL);
    artifactDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-rollback-artifacts-'));
  });
  afterAll(async () => {
    await cache?.close();
    // The market's vectors under the processes' shared prefix: left there, they would hide another file's from a bounded sample.
    await clearSharedOnlineVectors();
    await t?.drop();
    await env?.teardown();
    fs.rmSync(artifactDir, { recursive: true, force: true });
  });

  const mlp = (...args: string[]) => runBuiltCli(args, { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', DATABASE_URL: t.url, REDIS_URL: TEST_REDIS_URL, ARTIFACT_DIR: artifactDir });

  it('aborts the running deployment through the abort update and prints its answer', async () => {
    const market = await setUpOracleMarket(t.store, cache, 4);
    const name = `rollback-abort-${Date.now()}`;
    const versions = [];
    for (const seed of [1, 2, 3]) versions.push(await registerOracleModel(t.store, artifactDir, { name, seed, flip: false, featureSetVersion: market.featureSetVersion }));
    const [v1, v2, v3] = versions;
    for (const v of [v1, v2]) {
      await moveAlias(t.store, { name, alias: 'champion', version: v, movedBy: 'test', reason: `champion v${v}` });
      await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(v), updatedBy: 'test', reason: `champion v${v}` });
    }
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const id = `deploy-${name}`;
      const handle = await env.client.workflow.start(deploymentWorkflow, {
        taskQueue: TASK_QUEUES.pipeline,
        workflowId: id,
        args: [{ model: name, challengerVersion: v3, startedBy: 'test', requireApproval: true, canary: { steps: [100], analysisSeconds: 1 } }],
      });
      for (let i = 0; i < 300 && (await handle.query(deploymentStateQuery)).status !== 'awaiting-approval'; i++) await new Promise((r) => setTimeout(r, 100));
      expect((await handle.query(deploymentStateQuery)).status).toBe('awaiting-approval');

      const out = await mlp('models', 'rollback', name, '--reason', 'bad fills');
      expect(out).toMatchObject({ code: 0, stderr: '' });
      expect(out.stdout).toContain(`${name}: v${v2} → v${v1} on 100% of traffic`);
      expect(out.stdout).toMatch(new RegExp(`abort accepted by running deployment ${id}: now [\\w-]+`));
      const final = await handle.result();
      expect(final.decisions.map((d) => d.message).join('\n')).toMatch(/abort requested: manual rollback: bad fills/);
      expect(await aliasVersion(t.store, name, 'champion')).toBe(v1);
    });
  });

  it('prints why a deployment did not take the abort and exits non-zero', async () => {
    const market = await setUpOracleMarket(t.store, cache, 4);
    const name = `rollback-gone-${Date.now()}`;
    const v1 = await registerOracleModel(t.store, artifactDir, { name, seed: 1, flip: false, featureSetVersion: market.featureSetVersion });
    const v2 = await registerOracleModel(t.store, artifactDir, { name, seed: 2, flip: false, featureSetVersion: market.featureSetVersion });
    for (const v of [v1, v2]) await moveAlias(t.store, { name, alias: 'champion', version: v, movedBy: 'test', reason: `champion v${v}` });
    // The store says running, but no such workflow exists (e.g. it was terminated by hand).
    const id = `deploy-${name}-gone`;
    await t.store.db
      .insertInto('deployments')
      .values({ id, model: name, mode: 'canary', champion_version: v2, challenger_version: v1, status: 'running', plan: '{}', outcome: null, started_by: 'test', started_at: new Date().toISOString(), ended_at: null })
      .execute();
    const out = await mlp('models', 'rollback', name, '--reason', 'gone');
    expect(out.code).toBe(1);
    expect(out.stdout).toContain(`${name}: v${v2} → v${v1} on 100% of traffic`);
    expect(out.stderr).toContain(`no running deployment "${id}"`);
    expect(out.stderr).toContain(`check it with "mlp deployments show ${id}"`);
  });

  it('deployments list and show say when the workflow of a running row was terminated or is gone', async () => {
    const name = `list-terminated-${Date.now()}`;
    const insert = (id: string) =>
      t.store.db.insertInto('deployments').values({ id, model: name, mode: 'canary', champion_version: 2, challenger_version: 1, status: 'running', plan: '{}', outcome: null, started_by: 'test', started_at: new Date().toISOString(), ended_at: null }).execute();
    // Started (no worker takes it) and terminated, as from the Web UI; its row stays running until monitoring settles it.
    const terminated = `deploy-${name}-terminated`;
    const handle = await env.client.workflow.start(deploymentWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: terminated, args: [{ model: name, challengerVersion: 1, startedBy: 'test' }] });
    await handle.terminate('operator terminated');
    await insert(terminated);
    const gone = `deploy-${name}-gone`;
    await insert(gone);

    const list = await mlp('deployments', 'list', name);
    expect(list).toMatchObject({ code: 0, stderr: '' });
    expect(list.stdout).toMatch(new RegExp(`${terminated} .* running\\n +but its workflow is terminated \\(closed [^)]+\\): nothing judges, widens or rolls back the split it left`));
    expect(list.stdout).toMatch(new RegExp(`${gone} .* running\\n +but its workflow is gone \\(not found in Temporal\\)`));
    // The way out names the champion alias's version: without --to-version a rollback goes to the champion before it.
    expect(list.stdout).toContain('choose the version to serve');
    const market = await setUpOracleMarket(t.store, cache, 4);
    const v1 = await registerOracleModel(t.store, artifactDir, { name, seed: 1, flip: false, featureSetVersion: market.featureSetVersion });
    const v2 = await registerOracleModel(t.store, artifactDir, { name, seed: 2, flip: false, featureSetVersion: market.featureSetVersion });
    for (const v of [v1, v2]) await moveAlias(t.store, { name, alias: 'champion', version: v, movedBy: 'test', reason: `champion v${v}` });
    const named = await mlp('deployments', 'list', name);
    expect(named.stdout).toContain(`First roll back to the champion (mlp models rollback ${name} --to-version ${v2} --reason`);

    const show = await mlp('deployments', 'show', terminated);
    expect(show).toMatchObject({ code: 0, stderr: '' });
    expect(show.stdout).toContain(`${terminated}: ${name} v1 vs champion v2 (canary) — running in the store`);
    expect(show.stdout).toContain('but its workflow is terminated');
    const json = JSON.parse((await mlp('deployments', 'show', gone, '--json')).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ deploymentId: gone, storeStatus: 'running', workflowStatus: 'NOT_FOUND' });

    // Once monitoring has marked the row failed, show says so and gives no second way out.
    await t.store.db.updateTable('deployments').set({ status: 'failed', ended_at: '2026-12-06T12:00:00.000Z' }).where('id', '=', terminated).execute();
    const ended = await mlp('deployments', 'show', terminated);
    expect(ended.stdout).toContain('— failed in the store');
    expect(ended.stdout).toContain('the row ended failed at 2026-12-06T12:00:00.000Z');
    expect(ended.stdout).not.toContain('rollback');

    // Without Temporal, list still lists, and says what it could not check.
    const offline = await runBuiltCli(['deployments', 'list', name], { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1', DATABASE_URL: t.url, REDIS_URL: TEST_REDIS_URL, ARTIFACT_DIR: artifactDir });
    expect(offline.code).toBe(0);
    expect(offline.stdout).toContain(terminated);
    expect(offline.stderr).toMatch(/running deployments not checked against their workflows: Cannot reach Temporal/);
  });

  it('refuses to roll back to a version whose artifact was modified, and moves nothing', async () => {
    const market = await setUpOracleMarket(t.store, cache, 4);
    const name = `rollback-tampered-${Date.now()}`;
    const v1 = await registerOracleModel(t.store, artifactDir, { name, seed: 1, flip: false, featureSetVersion: market.featureSetVersion });
    const v2 = await registerOracleModel(t.store, artifactDir, { name, seed: 2, flip: false, featureSetVersion: market.featureSetVersion });
    for (const v of [v1, v2]) {
      await moveAlias(t.store, { name, alias: 'champion', version: v, movedBy: 'test', reason: `champion v${v}` });
      await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(v), updatedBy: 'test', reason: `champion v${v}` });
    }
    const file = path.join(artifactDir, artifactKey((await getModelVersion(t.store, name, v1)).artifactSha256));
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 40] ^= 1;
    fs.writeFileSync(file, bytes);
    const routesBefore = await readServingRoutes(t.store, name);
    const out = await mlp('models', 'rollback', name, '--reason', 'bad fills');
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain(`cannot roll ${name} back to v${v1}`);
    expect(out.stderr).toMatch(/modified or corrupted|sha256/);
    expect(await aliasVersion(t.store, name, 'champion')).toBe(v2);
    expect(await readServingRoutes(t.store, name)).toEqual(routesBefore);
  });
});
