/**
 * deploymentWorkflow through the real Temporal dev server, with the real prediction API (injected
 * requests), a real SQLite store with bars, and real Redis. Requests are predicted for online
 * vectors dated in the past, so their outcomes have matured in the bar store: the champion and a
 * good challenger predict the realised 5-day direction, a bad challenger predicts its opposite.
 */
import { recentDeploymentAnalyses } from '../../lib/deployment/analysis-log';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { RedisCache } from '../../lib/cache/redis-cache';
import type { ApiToken } from '../../lib/config';
import { ackAlert, raiseAlert } from '../../lib/alerts/alert-store';
import { dataSubject } from '../../lib/monitoring/monitoring-rules';
import { aliasHistory, aliasVersion, moveAlias } from '../../lib/registry/model-registry';
import { PredictionLogWriter } from '../../lib/serving/prediction-log';
import { ServingModels } from '../../lib/serving/serving-models';
import { readServingRoutes, servingRouteHistory, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { TASK_QUEUES } from '../../lib/task-queues';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { abortSignal, abortUpdate, approveSignal, approveStartUpdate, approveStepUpdate, deploymentStateQuery, deploymentWorkflow, overrideBlockUpdate, pauseUpdate, promoteUpdate, resumeUpdate, type DeploymentState } from '../../workflows';
import type { DeploymentRequest } from '../../lib/deployment/plan';
import { startApiStack, type ApiStack } from '../helpers/api-stack';
import { clearSharedOnlineVectors, createSqliteTestDatabase, tempDir, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket, type OracleMarket } from '../helpers/oracle-models';
import { startTemporal, withWorkers } from '../helpers/temporal';
import { DEPLOYMENT_RECORDING_TAG, recordHistory } from '../helpers/workflow-histories';

const run = promisify(execFile);
const TOKEN: ApiToken = { name: 'test', token: 'deployment-test-token-0123456789', scopes: ['predict', 'admin'] };

describe('deploymentWorkflow (real Temporal server, API, SQLite, Redis)', () => {
  let env: TestWorkflowEnvironment;
  let t: TestDatabase;
  let cache: RedisCache;
  let artifactDir: string;
  let serving: ServingModels;
  let log: PredictionLogWriter;
  let app: FastifyInstance;
  let api: ApiStack;
  let market: OracleMarket;

  beforeAll(async () => {
    env = await startTemporal();
    t = await createSqliteTestDatabase();
    // The CLI's prefix, so a CLI process sees the same keys. The workers' activities run in this
    // process on a synchronous SQLite store: an analysis of the 800-symbol market below held the
    // event loop up to 1.2 s, past the 500 ms default command timeout, and a request now and then
    // failed on it (the API runs apart from the workers in a deployment, so give it 5 s here).
    cache = new RedisCache(TEST_REDIS_URL, undefined, { commandTimeoutMs: 5000 });
    artifactDir = tempDir('mlp-deploy-artifacts-');
    // 800 symbols on 80 feature dates: the analyses count one pair per symbol-day and cluster blocks
    // of 5 dates (5-session labels), so 16 clusters of 50 pairs. A promotion needs evidence at 1/alpha
    // (20) that the canary is less than 5 points worse: an equally good canary reaches ~77 on all of
    // them (~20 on 600 over 60 dates, 1.1 on the 24 over 24 dates this market used to have).
    market = await setUpOracleMarket(t.store, cache, 800, { spreadDays: 80 });
    api = await startApiStack({ store: t.store, cache, artifactDir, tokens: [TOKEN] });
    ({ serving, log, app } = api);
  });
  afterAll(async () => {
    await api?.close();
    await cache?.close();
    // The market's vectors under the processes' shared prefix: left there, they would hide another file's from a bounded sample.
    await clearSharedOnlineVectors();
    await t?.drop();
    await env?.teardown();
  });

  /** Sends requests (random client keys, so every variant gets traffic) until stopped; counts failures. */
  function traffic(model: string) {
    let running = true;
    const stats = { sent: 0, failed: 0, versions: new Map<number, number>(), errors: [] as string[] };
    const loop = (async () => {
      for (let i = 0; running; i++) {
        stats.sent++;
        try {
          const response = await app.inject({ method: 'POST', url: '/v1/predictions', headers: { authorization: `Bearer ${TOKEN.token}` }, payload: { model, symbols: [market.symbols[i % market.symbols.length]], key: `client-${crypto.randomUUID()}` } });
          const body = response.json<{ predictions: Array<{ version: number }>; errors: unknown[] }>();
          if (response.statusCode !== 200 || body.predictions.length !== 1) throw new Error(`${response.statusCode} ${response.body}`);
          const v = body.predictions[0].version;
          stats.versions.set(v, (stats.versions.get(v) ?? 0) + 1);
        } catch (error) {
          stats.failed++;
          if (stats.errors.length < 5) stats.errors.push((error as Error).message);
        }
        await new Promise((r) => setTimeout(r, 3));
      }
    })();
    return {
      stats,
      stop: async () => {
        running = false;
        await loop;
        await log.flush();
      },
    };
  }

  /** Registers a champion (served) and a challenger; waits until the API serves the champion. */
  async function newModel(name: string, challengerFlip: boolean, latest = false): Promise<{ champion: number; challenger: number }> {
    const featureSetVersion = latest ? market.latestFeatureSetVersion : market.featureSetVersion;
    const champion = await registerOracleModel(t.store, artifactDir, { name, seed: 1, flip: false, featureSetVersion });
    const challenger = await registerOracleModel(t.store, artifactDir, { name, seed: 2, flip: challengerFlip, featureSetVersion });
    await moveAlias(t.store, { name, alias: 'champion', version: champion, movedBy: 'test', reason: 'first model' });
    await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(champion), updatedBy: 'test', reason: 'first model' });
    for (let i = 0; i < 200 && !serving.snapshot(name); i++) await new Promise((r) => setTimeout(r, 25));
    return { champion, challenger };
  }

  /** Keeps the history for the replay tests when RECORD_HISTORIES=1 (test/integration/replay-deployment.test.ts). */
  const record = (scenario: string, workflowId: string) => recordHistory(env, `deployment-${DEPLOYMENT_RECORDING_TAG}-${scenario}`, workflowId);
  const start = (id: string, request: DeploymentRequest) => env.client.workflow.start(deploymentWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [request] });
  // A few seconds of traffic: serving guards judged from 20 canary predictions (default 50), as pairs from 20.
  const fast = { analysisSeconds: 1, thresholds: { minMaturedPairs: 20, minServingPredictions: 20 } };

  async function waitForStatus(handle: { query: (q: typeof deploymentStateQuery) => Promise<DeploymentState> }, status: string): Promise<DeploymentState> {
    for (let i = 0; i < 300; i++) {
      const s = await handle.query(deploymentStateQuery);
      if (s.status === status) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`deployment never reached ${status}`);
  }

  it('promotes a good canary step by step and rolls a bad one back automatically, with zero failed requests', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const good = await newModel('deploy-good', false);
      const load = traffic('deploy-good');
      const goodHandle = await start(`deploy-good-${Date.now()}`, { model: 'deploy-good', challengerVersion: good.challenger, canary: { steps: [50, 100], ...fast } });
      const state = await goodHandle.result();
      await record('canary-promoted', goodHandle.workflowId);
      await load.stop();
      expect(state.status).toBe('promoted');
      // An analysis before 20 pairs or 20 canary predictions have arrived (a loaded machine's slower
      // traffic) waits as inconclusive; the two steps each pass once.
      const decided = state.analyses.filter((a) => a.verdict !== 'inconclusive');
      expect(decided.map((a) => a.verdict)).toEqual(['pass', 'pass']);
      expect(decided[0].canary?.paired.pairs).toBeGreaterThanOrEqual(20);
      // Each analysis was also logged as it ran (the dashboard reads a running rollout from this log).
      const logged = await recentDeploymentAnalyses(t.store, state.deploymentId);
      expect(logged.filter((a) => a.verdict !== 'inconclusive').map((a) => [a.phase, a.weight, a.verdict])).toEqual([
        ['canary', 0.5, 'pass'],
        ['canary', 1, 'pass'],
      ]);
      expect(await aliasVersion(t.store, 'deploy-good', 'champion')).toBe(good.challenger);
      expect((await readServingRoutes(t.store, 'deploy-good'))?.routes).toEqual(singleRoute(good.challenger));
      expect(load.stats.errors).toEqual([]);
      expect(load.stats.versions.get(good.challenger)).toBeGreaterThan(0);

      const bad = await newModel('deploy-bad', true);
      const badLoad = traffic('deploy-bad');
      // Score shift alone would also stop it; switched off here so that the matured outcomes decide.
      const outcomesOnly = { ...fast, thresholds: { ...fast.thresholds, maxPsi: 100 } };
      const badHandle = await start(`deploy-bad-${Date.now()}`, { model: 'deploy-bad', challengerVersion: bad.challenger, canary: { steps: [50, 100], ...outcomesOnly } });
      const rolled = await badHandle.result();
      await record('canary-rolled-back', badHandle.workflowId);
      await badLoad.stop();
      expect(rolled.status).toBe('rolled-back');
      expect(rolled.analyses[rolled.analyses.length - 1].verdict).toBe('fail');
      expect(rolled.analyses[rolled.analyses.length - 1].reasons.join(' ')).toMatch(/hit rate/i);
      expect(await aliasVersion(t.store, 'deploy-bad', 'champion')).toBe(bad.champion);
      expect(await aliasVersion(t.store, 'deploy-bad', 'canary')).toBeUndefined();
      expect((await readServingRoutes(t.store, 'deploy-bad'))?.routes).toEqual(singleRoute(bad.champion));
      expect(badLoad.stats.failed).toBe(0);
      const history = await aliasHistory(t.store, 'deploy-bad');
      expect(history.map((h) => `${h.alias}:${h.toVersion ?? '-'}`)).toEqual([`champion:${bad.champion}`, `canary:${bad.challenger}`, 'canary:-']);
      const alerts = await t.store.db.selectFrom('alerts').selectAll().where('rule', '=', 'deployment_rolled_back').execute();
      expect(alerts.map((a) => a.subject)).toContain('model deploy-bad');
      const row = await t.store.db.selectFrom('deployments').selectAll().where('model', '=', 'deploy-bad').executeTakeFirstOrThrow();
      expect(row.status).toBe('rolled-back');
    });
  });

  it('runs a shadow phase before any traffic moves, and an A/B test that keeps the better champion', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const m = await newModel('deploy-shadow', false);
      const load = traffic('deploy-shadow');
      const shadowHandle = await start(`deploy-shadow-${Date.now()}`, { model: 'deploy-shadow', challengerVersion: m.challenger, shadowSeconds: 1, canary: { steps: [100], ...fast } });
      const state = await shadowHandle.result();
      await record('shadow-promoted', shadowHandle.workflowId);
      await load.stop();
      expect(state.status).toBe('promoted');
      // The shadow phase widens (to 100% here) only on evidence at 1/alpha: it may wait as inconclusive first.
      expect(state.analyses[0]).toMatchObject({ phase: 'shadow', weight: 0 });
      expect(state.analyses.filter((a) => a.phase === 'shadow' && a.verdict !== 'inconclusive').map((a) => a.verdict)).toEqual(['pass']);
      const shadowRows = await t.store.db.selectFrom('prediction_log').select(['served', 'version']).where('model', '=', 'deploy-shadow').where('variant', '=', 'shadow').execute();
      expect(shadowRows.length).toBeGreaterThan(0);
      expect(shadowRows.every((r) => Number(r.served) === 0 && Number(r.version) === m.challenger)).toBe(true);

      const ab = await newModel('deploy-ab', true);
      const abLoad = traffic('deploy-ab');
      const abHandle = await start(`deploy-ab-${Date.now()}`, { model: 'deploy-ab', challengerVersion: ab.challenger, mode: 'ab', ab: { analysisSeconds: 1, minSamplesPerVariant: 20 } });
      const abState = await abHandle.result();
      await record('ab-kept-champion', abHandle.workflowId);
      await abLoad.stop();
      expect(abState.status).toBe('kept-champion');
      const last = abState.analyses.at(-1)?.ab;
      expect(last?.decision).toBe('stop-winner');
      expect(last?.winner).toBe('A');
      const abLogged = await recentDeploymentAnalyses(t.store, abState.deploymentId);
      expect(abLogged).toHaveLength(abState.analysisCount);
      expect(abLogged.at(-1)).toMatchObject({ seq: abState.analysisCount, phase: 'ab-test', verdict: 'stop-winner' });
      expect(abLoad.stats.versions.get(ab.challenger)).toBeGreaterThan(0); // B really served
      expect(abLoad.stats.errors).toEqual([]);
      expect(abLoad.stats.failed).toBe(0);
      expect((await readServingRoutes(t.store, 'deploy-ab'))?.routes).toEqual(singleRoute(ab.champion));
      expect(await aliasVersion(t.store, 'deploy-ab', 'champion')).toBe(ab.champion);
    });
  });

  it('holds traffic while a data alert for the model is open, and goes on once it is acknowledged', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const m = await newModel('deploy-blocked', false);
      const { id } = await raiseAlert(t.store, { rule: 'data_stale', severity: 'critical', subject: dataSubject('deploy-blocked'), message: 'no bars for 3 trading days', evidence: {} });
      const load = traffic('deploy-blocked');
      const handle = await start(`deploy-blocked-${Date.now()}`, { model: 'deploy-blocked', challengerVersion: m.challenger, canary: { steps: [100], ...fast } });
      const blocked = await waitForStatus(handle, 'blocked');
      expect(blocked.challengerWeight).toBe(0);
      expect(blocked.decisions.map((d) => d.message).join('\n')).toMatch(/traffic held: data_stale/);
      expect((await readServingRoutes(t.store, 'deploy-blocked'))?.routes).toEqual(singleRoute(m.champion));
      await ackAlert(t.store, id, 'test');
      const state = await handle.result();
      await load.stop();
      expect(state.status).toBe('promoted');
      await record('blocked-promoted', handle.workflowId);
    });
  });

  it('pauses an inconclusive canary for a person; typed updates approve exactly what they name and answer with the new state', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      // Requests for today's features: their outcomes cannot mature, so every step stays inconclusive.
      const m = await newModel('deploy-wait', false, true);
      const load = traffic('deploy-wait');
      const id = `deploy-wait-${Date.now()}`;
      const handle = await start(id, { model: 'deploy-wait', challengerVersion: m.challenger, requireApproval: true, canary: { steps: [20, 100], analysisSeconds: 1, stepDeadlineSeconds: 1 } });
      await waitForStatus(handle, 'awaiting-approval');
      expect((await readServingRoutes(t.store, 'deploy-wait'))?.routes).toEqual(singleRoute(m.champion)); // nothing moved yet
      // Wrong-state calls are rejected with the reason, and change nothing.
      await expect(handle.executeUpdate(approveStepUpdate, { args: [{ step: 0, by: 'test' }] })).rejects.toMatchObject({ cause: { message: expect.stringMatching(/no step to approve: the deployment is awaiting-approval/) } });
      await expect(handle.executeUpdate(promoteUpdate, { args: [{ variant: 'B', by: 'test' }] })).rejects.toThrow(WorkflowUpdateFailedError);
      await expect(handle.executeUpdate(resumeUpdate, { args: [{ by: 'test' }] })).rejects.toMatchObject({ cause: { message: expect.stringMatching(/not paused/) } });
      // The old ambiguous signal no longer approves anything: it is logged as ignored.
      await handle.signal(approveSignal, 'old cli');
      await new Promise((r) => setTimeout(r, 500));
      const still = await handle.query(deploymentStateQuery);
      expect(still.status).toBe('awaiting-approval');
      expect(still.decisions.map((d) => d.message).join('\n')).toMatch(/approve signal from old cli ignored/);
      const started = await handle.executeUpdate(approveStartUpdate, { args: [{ by: 'test' }] });
      expect(started.status).not.toBe('awaiting-approval');
      expect(started.decisions.map((d) => d.message)).toContain('start approved by test');
      await expect(handle.executeUpdate(approveStartUpdate, { args: [{ by: 'test' }] })).rejects.toMatchObject({ cause: { message: expect.stringMatching(/nothing to approve/) } });
      const paused = await waitForStatus(handle, 'paused-inconclusive');
      expect(paused.step).toBe(0);
      expect(paused.challengerWeight).toBe(0.2);
      expect(paused.analyses.every((a) => a.verdict === 'inconclusive')).toBe(true);
      // Approving a step that is not the current one is refused, naming both.
      await expect(handle.executeUpdate(approveStepUpdate, { args: [{ step: 1, by: 'test' }] })).rejects.toMatchObject({ cause: { message: expect.stringMatching(/step 2\/2 \(100%\) is not the current step: the deployment is at step 1\/2 \(20%\)/) } });
      const accepted = await handle.executeUpdate(approveStepUpdate, { args: [{ step: 0, by: 'test' }] }); // step 2 pauses again
      expect(accepted.decisions.map((d) => d.message)).toContain('inconclusive step 1 (20%) accepted by test');
      const again = await waitForStatus(handle, 'paused-inconclusive');
      expect(again.step).toBe(1);
      const aborted = await handle.executeUpdate(abortUpdate, { args: [{ reason: 'test abort', by: 'test' }] });
      expect(aborted.status).toBe('rolled-back'); // the update answers once the rollback is done
      await expect(handle.executeUpdate(pauseUpdate, { args: [{ by: 'test' }] })).rejects.toThrow(); // the workflow has ended
      const state = await handle.result();
      await record('inconclusive-aborted', handle.workflowId);
      await load.stop();
      expect(load.stats.failed).toBe(0);
      expect(state.analyses.at(-1)?.canary?.paired.unmatured).toBeGreaterThan(0);
      expect(state.analyses.at(-1)?.reasons.join(' ')).toMatch(/matured/);
      expect(state.status).toBe('rolled-back');
      expect(state.decisions.map((d) => d.message).join('\n')).toMatch(/abort requested: test abort/);
      expect((await readServingRoutes(t.store, 'deploy-wait'))?.routes).toEqual(singleRoute(m.champion));
      const warnings = await t.store.db.selectFrom('alerts').selectAll().where('rule', '=', 'deployment_inconclusive').execute();
      expect(warnings.length).toBe(1); // the second pause came within the alert's cool-down
    });
  });

  it('a canary promoted through steps a person accepted says so in the alias and route history, never "passed"', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      // No traffic: every analysis is inconclusive, and each step is accepted by hand.
      const m = await newModel('deploy-accepted', false, true);
      const handle = await start(`deploy-accepted-${Date.now()}`, { model: 'deploy-accepted', challengerVersion: m.challenger, canary: { steps: [20, 100], analysisSeconds: 1, stepDeadlineSeconds: 1 } });
      await waitForStatus(handle, 'paused-inconclusive');
      await handle.executeUpdate(approveStepUpdate, { args: [{ step: 0, by: 'ana' }] });
      const second = await waitForStatus(handle, 'paused-inconclusive');
      expect(second.step).toBe(1);
      await handle.executeUpdate(approveStepUpdate, { args: [{ step: 1, by: 'bo' }] });
      const state = await handle.result();
      expect(state.status).toBe('promoted');
      expect(state.analyses.some((a) => a.verdict === 'pass')).toBe(false);
      const reason = 'canary went through 2 steps, 0 passed by their analyses; accepted by a person without passing: step 1 (20%) by ana, step 2 (100%) by bo';
      expect((await aliasHistory(t.store, 'deploy-accepted')).filter((h) => h.alias === 'champion').at(-1)).toMatchObject({ toVersion: m.challenger, reason });
      expect((await servingRouteHistory(t.store, 'deploy-accepted')).at(-1)?.reason).toBe(reason);
      expect(state.decisions.at(-1)?.message).toContain(reason);
    });
  });

  it('overrides data alerts one by one by id, pauses and resumes, and a person ends an A/B test with promote', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const m = await newModel('deploy-override', false, true);
      const stale = await raiseAlert(t.store, { rule: 'data_stale', severity: 'critical', subject: dataSubject('deploy-override'), message: 'no bars for 3 trading days', evidence: {} });
      const quality = await raiseAlert(t.store, { rule: 'data_quality', severity: 'critical', subject: dataSubject('deploy-override'), message: 'too many rows quarantined', evidence: {} });
      const handle = await start(`deploy-override-${Date.now()}`, { model: 'deploy-override', challengerVersion: m.challenger, canary: { steps: [50, 100], analysisSeconds: 1 } });
      const blocked = await waitForStatus(handle, 'blocked');
      expect(blocked.blockers).toHaveLength(2);
      await expect(handle.executeUpdate(overrideBlockUpdate, { args: [{ alertId: 'no-such-alert', by: 'test' }] })).rejects.toMatchObject({ cause: { message: expect.stringMatching(/alert no-such-alert does not hold this deployment/) } });
      await expect(handle.executeUpdate(approveStepUpdate, { args: [{ step: 0, by: 'test' }] })).rejects.toMatchObject({ cause: { message: expect.stringMatching(/blocked \(override the data alerts first\)/) } });
      const one = await handle.executeUpdate(overrideBlockUpdate, { args: [{ alertId: stale.id, by: 'test' }] });
      expect(one.decisions.map((d) => d.message)).toContain(`data alert ${stale.id} overridden by test`);
      await new Promise((r) => setTimeout(r, 300));
      expect((await handle.query(deploymentStateQuery)).status).toBe('blocked'); // the other alert still holds it
      await handle.executeUpdate(overrideBlockUpdate, { args: [{ alertId: quality.id, by: 'test' }] });
      const canary = await waitForStatus(handle, 'canary');
      expect(canary.step).toBe(0);
      const paused = await handle.executeUpdate(pauseUpdate, { args: [{ by: 'test' }] });
      expect(paused.status).toBe('paused');
      await expect(handle.executeUpdate(pauseUpdate, { args: [{ by: 'test' }] })).rejects.toMatchObject({ cause: { message: expect.stringMatching(/already paused/) } });
      await expect(handle.executeUpdate(approveStepUpdate, { args: [{ step: 0, by: 'test' }] })).rejects.toMatchObject({ cause: { message: expect.stringMatching(/resume it first/) } });
      const resumed = await handle.executeUpdate(resumeUpdate, { args: [{ by: 'test' }] });
      expect(resumed.status).toBe('canary');
      await handle.signal(abortSignal, 'done with this one'); // the legacy signal still works for one release
      expect((await handle.result()).status).toBe('rolled-back');

      const ab = await newModel('deploy-ab-hand', false, true);
      const abHandle = await start(`deploy-ab-hand-${Date.now()}`, { model: 'deploy-ab-hand', challengerVersion: ab.challenger, mode: 'ab', ab: { analysisSeconds: 1 } });
      await waitForStatus(abHandle, 'ab-test');
      await expect(abHandle.executeUpdate(approveStepUpdate, { args: [{ step: 0, by: 'test' }] })).rejects.toMatchObject({ cause: { message: expect.stringMatching(/an A\/B test has no steps: use promote/) } });
      const promoted = await abHandle.executeUpdate(promoteUpdate, { args: [{ variant: 'B', by: 'test' }] });
      expect(promoted.status).toBe('promoted');
      expect(await aliasVersion(t.store, 'deploy-ab-hand', 'champion')).toBe(ab.challenger);
      await record('ab-promoted-by-hand', abHandle.workflowId);
    });
  });

  it('the CLI sends updates and prints a rejection with its reason, exiting non-zero', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const m = await newModel('deploy-cli-steer', false, true);
      const id = `deploy-cli-steer-${Date.now()}`;
      const handle = await start(id, { model: 'deploy-cli-steer', challengerVersion: m.challenger, requireApproval: true, canary: { steps: [100], analysisSeconds: 1 } });
      await waitForStatus(handle, 'awaiting-approval');
      const root = path.resolve(__dirname, '../..');
      const cli = (...args: string[]) => run(path.join(root, 'node_modules/.bin/tsx'), [path.join(root, 'client/cli.ts'), 'deployments', ...args], { env: { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default', DATABASE_URL: t.url } });
      await expect(cli('approve-step', id, '1')).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/approve-step rejected by .*: no step to approve: the deployment is awaiting-approval/) });
      const { stdout } = await cli('approve-start', id);
      expect(stdout).toMatch(/approve-start applied to/);
      expect(stdout).toMatch(/start approved by cli/);
      const abort = await cli('abort', id, '--reason', 'cli test');
      expect(abort.stdout).toMatch(/rolled-back/);
      expect((await handle.result()).status).toBe('rolled-back');
    });
  });

  it('rolls back through the CLI while the API is under load: every request answered, the old champion served again', async () => {
    const m = await newModel('deploy-cli', false);
    await moveAlias(t.store, { name: 'deploy-cli', alias: 'champion', version: m.challenger, movedBy: 'test', reason: 'new champion' });
    await writeServingRoutes(t.store, cache, { model: 'deploy-cli', mode: 'single', routes: singleRoute(m.challenger), updatedBy: 'test', reason: 'new champion' });
    const load = traffic('deploy-cli');
    const root = path.resolve(__dirname, '../..');
    const { stdout } = await run(path.join(root, 'node_modules/.bin/tsx'), [path.join(root, 'client/cli.ts'), 'models', 'rollback', 'deploy-cli', '--reason', 'bad fills'], {
      env: { ...process.env, DATABASE_URL: `sqlite:${t.url.slice('sqlite:'.length)}`, REDIS_URL: TEST_REDIS_URL, ARTIFACT_DIR: artifactDir },
    });
    expect(stdout).toMatch(new RegExp(`v${m.challenger} → v${m.champion}`));
    for (let i = 0; i < 200 && !(serving.snapshot('deploy-cli')?.routes.routes[0].version === m.champion); i++) await new Promise((r) => setTimeout(r, 50));
    const before = load.stats.versions.get(m.champion) ?? 0;
    await new Promise((r) => setTimeout(r, 300));
    await load.stop();
    expect(load.stats.errors).toEqual([]);
    expect(load.stats.failed).toBe(0);
    expect(load.stats.versions.get(m.champion) ?? 0).toBeGreaterThan(before);
    expect((await aliasHistory(t.store, 'deploy-cli')).at(-1)).toMatchObject({ alias: 'champion', toVersion: m.champion, reason: expect.stringMatching(/bad fills/) });
  });
});
