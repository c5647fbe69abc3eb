/**
 * What a canary step is judged on, and what happens when a version under test stops verifying
 * mid-rollout (real Temporal dev server, workers with the real activities, the prediction API in
 * process, SQLite). Requests are predicted for online vectors dated in the past, so their outcomes
 * have matured; each model has its own feature set whose vectors the test moves forward one past
 * trading day at a time, so a step's requests cover as many symbol-days (the analyses' unit of
 * evidence) as the test sends: a step's analysis can pass as soon as its own requests are logged.
 *
 * - A step's serving health is judged only on the requests logged since its own traffic moved: once
 *   step 1 has passed, step 2 (100%) does not pass on step 1's rows; it waits for its own. The hit
 *   rate is one test over the whole rollout, and the last step promotes only once it shows the
 *   canary less than maxHitRateDrop worse.
 * - A challenger whose registry row is edited mid-canary (the API withdraws the model) is rolled back
 *   by the next analysis, or by the check before the next traffic move; the reason is recorded.
 * - A champion whose row is edited is never rolled back to: the deployment stops ('stopped'), leaves
 *   the traffic as it is and raises a critical alert.
 * - A step held for a person (inconclusive past its deadline, or paused by hand) with the challenger
 *   serving is still analysed: a canary whose outcomes mature wrong during the hold is rolled back
 *   without anyone, and the hold still takes approve-step at once.
 * - So is a step held at its gate by a data alert (the step before's weight still serving, judged on
 *   that step's own window) and an A/B test paused by hand: a challenger going wrong meanwhile is
 *   withdrawn without anyone, and override and resume are still answered at once.
 */
import crypto from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { ackAlert, raiseAlert } from '../../lib/alerts/alert-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import type { ApiToken } from '../../lib/config';
import type { DeploymentRequest } from '../../lib/deployment/plan';
import { publishOnlineFeatures } from '../../lib/features/online-features';
import { dataSubject } from '../../lib/monitoring/monitoring-rules';
import { aliasVersion, getModelVersion, moveAlias } from '../../lib/registry/model-registry';
import type { PredictionLogWriter } from '../../lib/serving/prediction-log';
import type { ServingModels } from '../../lib/serving/serving-models';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { readBars } from '../../lib/store/bars';
import { TASK_QUEUES } from '../../lib/task-queues';
import { abortUpdate, approveStepUpdate, deploymentStateQuery, deploymentWorkflow, overrideBlockUpdate, pauseUpdate, resumeUpdate, type DeploymentState } from '../../workflows';
import { startApiStack, type ApiStack } from '../helpers/api-stack';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { ORACLE_COLUMNS, ORACLE_HORIZON, oracleFeatureSet, registerOracleModel, setUpOracleMarket, type OracleMarket } from '../helpers/oracle-models';
import { saveTestFeatureSet } from '../helpers/registration';
import { startTemporal, withWorkers } from '../helpers/temporal';
import { recordHistory } from '../helpers/workflow-histories';

jest.setTimeout(6 * 60_000);

const TOKEN: ApiToken = { name: 'test', token: 'step-evidence-test-token-0123456789', scopes: ['predict', 'admin'] };

describe('canary steps on their own evidence; versions that stop verifying (real Temporal server, API, SQLite)', () => {
  let env: TestWorkflowEnvironment;
  let t: TestDatabase;
  const cache = new MemoryCache();
  let artifactDir: string;
  let serving: ServingModels;
  let log: PredictionLogWriter;
  let app: FastifyInstance;
  let api: ApiStack;
  let market: OracleMarket;

  beforeAll(async () => {
    env = await startTemporal();
    t = await createSqliteTestDatabase();
    artifactDir = tempDir('mlp-step-evidence-artifacts-');
    // 24 symbols: a promotion needs evidence at 1/alpha over many clusters of 5 feature dates (the
    // labels' 5 sessions), so the promotion test below sends 50 past days of them (~1,100 pairs).
    market = await setUpOracleMarket(t.store, cache, 24);
    api = await startApiStack({ store: t.store, cache, artifactDir, tokens: [TOKEN] });
    ({ serving, log, app } = api);
  });
  afterAll(async () => {
    await api?.close();
    await t?.drop();
    await env?.teardown();
  });

  const predict = (model: string, symbol: string) =>
    app.inject({ method: 'POST', url: '/v1/predictions', headers: { authorization: `Bearer ${TOKEN.token}` }, payload: { model, symbols: [symbol], key: `client-${crypto.randomUUID()}` } });

  /** Requests (random client keys, so every variant gets some) until stopped. */
  function traffic(model: string) {
    let running = true;
    const loop = (async () => {
      for (let i = 0; running; i++) {
        await predict(model, market.symbols[i % market.symbols.length]).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 3));
      }
    })();
    return {
      stop: async () => {
        running = false;
        await loop;
        await log.flush();
      },
    };
  }

  interface TestModel {
    name: string;
    champion: number;
    challenger: number;
    /** Moves the model's online vectors to the next past trading day (outcome matured), `days` times, sending `perSymbol` requests per symbol on each. */
    requestDays(days: number, perSymbol: number): Promise<void>;
  }

  /** A served champion and a challenger of a fresh model and feature set (both predict the realised direction, unless `wrongChallenger`: its opposite). */
  async function newModel(prefix: string, options: { wrongChallenger?: boolean } = {}): Promise<TestModel> {
    const name = `${prefix}-${crypto.randomBytes(3).toString('hex')}`;
    const featureSetVersion = (await saveTestFeatureSet(t.store, oracleFeatureSet(name))).version;
    const champion = await registerOracleModel(t.store, artifactDir, { name, seed: 1, flip: false, featureSetVersion });
    const challenger = await registerOracleModel(t.store, artifactDir, { name, seed: 2, flip: options.wrongChallenger === true, featureSetVersion });
    const bars = new Map<string, Array<{ date: string; close: number }>>();
    for (const b of await readBars(t.store, { symbols: market.symbols })) bars.set(b.symbol, [...(bars.get(b.symbol) ?? []), b]);
    let day = 0;
    const publishNextDay = async () => {
      // 100 bars before the end, forward: every outcome (ORACLE_HORIZON bars on) is in the store for 94 days.
      const at = (s: string) => (bars.get(s) as Array<{ date: string; open: number; close: number }>).length - 100 + day;
      await publishOnlineFeatures(
        cache,
        market.symbols.map((s) => {
          const series = bars.get(s) as Array<{ date: string; open: number; close: number }>;
          return { version: featureSetVersion, symbol: s, asOf: series[at(s)].date, columns: ORACLE_COLUMNS, values: [series[at(s) + ORACLE_HORIZON].close > series[at(s) + 1].open ? 1 : -1, 0] };
        }),
      );
      day++;
    };
    await publishNextDay();
    await moveAlias(t.store, { name, alias: 'champion', version: champion, movedBy: 'test', reason: 'first model' });
    await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(champion), updatedBy: 'test', reason: 'first model' });
    for (let i = 0; i < 200 && !serving.snapshot(name); i++) await new Promise((r) => setTimeout(r, 25));
    return {
      name,
      champion,
      challenger,
      async requestDays(days, perSymbol) {
        for (let d = 0; d < days; d++) {
          await publishNextDay();
          for (let k = 0; k < perSymbol; k++) for (const s of market.symbols) await predict(name, s);
        }
        await log.flush();
      },
    };
  }

  /** Edits a version's registry row the way verification must catch: its label no longer matches its artifact's header. */
  async function editRow(name: string, version: number): Promise<void> {
    const row = await getModelVersion(t.store, name, version);
    await t.store.db.updateTable('model_versions').set({ label: JSON.stringify({ ...row.label, horizon: 1 }) }).where('name', '=', name).where('version', '=', version).execute();
  }

  const start = (id: string, request: DeploymentRequest) => env.client.workflow.start(deploymentWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [request] });

  async function waitFor(handle: { query: (q: typeof deploymentStateQuery) => Promise<DeploymentState> }, what: string, ok: (s: DeploymentState) => boolean, seconds = 90): Promise<DeploymentState> {
    let last: DeploymentState | undefined;
    for (const until = Date.now() + seconds * 1000; Date.now() < until; ) {
      last = await handle.query(deploymentStateQuery);
      if (ok(last)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`deployment never reached: ${what} (status ${last?.status}, step ${last?.step}, decisions: ${last?.decisions.map((d) => d.message).join(' | ')})`);
  }
  const FINAL = ['promoted', 'rolled-back', 'kept-champion', 'stopped'];

  it("does not pass a step on an earlier step's rows: step 2 waits for requests served at its own weight, then passes and is promoted", async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const m = await newModel('evidence');
      // 1,000 canary predictions in a step's own window before it can pass: step 1 gets ~1,600 (45 days × 24
      // symbols × 3 requests, half to the canary); the requests still sent after it passes (its widening
      // evidence needs 8 clusters, 40 of the 45 days) are at most ~650, so step 2 cannot pass on them.
      const handle = await start(`evidence-${Date.now()}`, { model: m.name, challengerVersion: m.challenger, canary: { steps: [50, 100], analysisSeconds: 2, stepDeadlineSeconds: 15, thresholds: { minMaturedPairs: 20, minServingPredictions: 1000 } } });
      await waitFor(handle, 'step 1 at 50%', (s) => s.status === 'canary' && s.step === 0);
      // Step 1's requests only: 45 past days of every symbol, 3 requests each (about 1.5 reach the
      // canary): 9 clusters of 5 feature dates, enough for the widening evidence to reach 1/alpha
      // (widening to 100%; 8 clusters at the very least, 4 could never get there).
      await m.requestDays(45, 3);
      const heldPassed = (s: DeploymentState) => s.status === 'paused-inconclusive' && s.step === 0 && s.analyses.at(-1)?.verdict === 'pass';
      let paused = await waitFor(handle, 'step 2 paused, inconclusive', (s) => (s.status === 'paused-inconclusive' && s.step === 1) || heldPassed(s) || FINAL.includes(s.status));
      if (heldPassed(paused)) {
        // A loaded machine sends step 1's requests for longer than its 15 s deadline: the step is held
        // for a person and passes while held; a resume then moves on (every request has been sent).
        await handle.executeUpdate(resumeUpdate, { args: [{ by: 'test' }] });
        paused = await waitFor(handle, 'step 2 paused, inconclusive', (s) => (s.status === 'paused-inconclusive' && s.step === 1) || FINAL.includes(s.status));
      }
      expect(paused.status).toBe('paused-inconclusive');
      expect(paused.challengerWeight).toBe(1);
      const stepOne = paused.analyses.filter((a) => a.weight === 0.5);
      const stepTwo = paused.analyses.filter((a) => a.weight === 1);
      expect(stepOne.at(-1)).toMatchObject({ verdict: 'pass' });
      expect(stepOne.at(-1)?.canary?.paired.pairs).toBeGreaterThanOrEqual(20);
      expect(stepTwo.length).toBeGreaterThan(0);
      for (const a of stepTwo) {
        expect(a.verdict).toBe('inconclusive');
        // Read from step 2's own start on, after step 1 passed: none of step 1's rows.
        expect(Date.parse(a.since as string)).toBeGreaterThanOrEqual(Date.parse(stepOne.at(-1)?.at as string));
      }
      expect(await aliasVersion(t.store, m.name, 'champion')).toBe(m.champion);

      // Requests at 100% now (later days): step 2's serving health on its own requests, the hit rate
      // on the whole rollout (75 days of 24 symbols: 15 clusters of 5 days, the margin evidence of an
      // equally good canary well past 1/alpha) before the promotion.
      await handle.executeUpdate(resumeUpdate, { args: [{ by: 'test' }] });
      await m.requestDays(30, 2);
      const state = await handle.result();
      await recordHistory(env, 'deployment-v2-step-evidence-promoted', handle.workflowId);
      expect(state.status).toBe('promoted');
      const last = state.analyses.at(-1);
      expect(last).toMatchObject({ weight: 1, verdict: 'pass' });
      expect(last?.since).toBe(stepTwo[0].since);
      expect(last?.cumulative?.verdict).toBe('pass');
      // The hit rate of the last step is the whole rollout's: step 1's pairs and step 2's.
      expect(last?.canary?.paired.pairs).toBeGreaterThan(stepOne.at(-1)?.canary?.paired.pairs as number);
      expect(last?.canary?.paired.pairs).toBe(last?.cumulative?.pairs);
      expect(last?.canary?.paired.marginEvidence).toBeGreaterThanOrEqual(20);
      expect(last?.reasons.join(' ')).toMatch(/less than 5\.0 points worse/);
      expect(await aliasVersion(t.store, m.name, 'champion')).toBe(m.challenger);
    });
  });

  it('rolls a challenger whose registry row was edited mid-canary back at the next analysis, naming why', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const m = await newModel('unverified-challenger');
      const load = traffic(m.name);
      // Never enough pairs: without the verification the step would wait (and then pause) for a person.
      const handle = await start(`unverified-challenger-${Date.now()}`, { model: m.name, challengerVersion: m.challenger, canary: { steps: [50, 100], analysisSeconds: 1, stepDeadlineSeconds: 3600, thresholds: { minMaturedPairs: 1_000_000 } } });
      await waitFor(handle, 'an analysis at step 1', (s) => s.status === 'canary' && s.analysisCount > 0);
      await editRow(m.name, m.challenger);
      await waitFor(handle, 'a final status', (s) => FINAL.includes(s.status), 60);
      const state = await handle.result();
      await load.stop();
      await recordHistory(env, 'deployment-v2-verify-challenger-rolled-back', handle.workflowId);
      expect(state.status).toBe('rolled-back');
      expect(state.analyses.at(-1)).toMatchObject({ verdict: 'unverified', reasons: [expect.stringMatching(new RegExp(`the challenger v${m.challenger} no longer verifies: .*artifact failed verification`))] });
      expect(state.decisions.at(-1)?.message).toMatch(new RegExp(`rolled back to v${m.champion}: step 1 \\(50%\\): the challenger v${m.challenger} no longer verifies`));
      expect((await readServingRoutes(t.store, m.name))?.routes).toEqual(singleRoute(m.champion));
      expect(await aliasVersion(t.store, m.name, 'champion')).toBe(m.champion);
      expect(await aliasVersion(t.store, m.name, 'canary')).toBeUndefined();
      const alerts = await t.store.db.selectFrom('alerts').selectAll().where('rule', '=', 'deployment_rolled_back').where('subject', '=', `model ${m.name}`).execute();
      expect(alerts).toHaveLength(1);
      const row = await t.store.db.selectFrom('deployments').select(['status', 'running_model']).where('id', '=', handle.workflowId).executeTakeFirstOrThrow();
      expect(row).toEqual({ status: 'rolled-back', running_model: null });
    });
  });

  it('never rolls back to a champion whose registry row was edited mid-canary: it stops, leaves the traffic as it is and raises an alert', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const m = await newModel('unverified-champion');
      const load = traffic(m.name);
      const handle = await start(`unverified-champion-${Date.now()}`, { model: m.name, challengerVersion: m.challenger, canary: { steps: [50, 100], analysisSeconds: 1, stepDeadlineSeconds: 3600, thresholds: { minMaturedPairs: 1_000_000 } } });
      await waitFor(handle, 'an analysis at step 1', (s) => s.status === 'canary' && s.analysisCount > 0);
      const split = await readServingRoutes(t.store, m.name);
      await editRow(m.name, m.champion);
      await waitFor(handle, 'a final status', (s) => FINAL.includes(s.status), 60);
      const state = await handle.result();
      await load.stop();
      await recordHistory(env, 'deployment-v2-verify-champion-stopped', handle.workflowId);
      expect(state.status).toBe('stopped');
      expect(state.challengerWeight).toBe(0.5);
      expect(state.decisions.at(-1)?.message).toMatch(new RegExp(`stopped, not rolled back to v${m.champion} .*the champion v${m.champion} no longer verifies: .*traffic left as it is \\(v${m.challenger} at 50%`));
      // Nothing moved: the canary split, the aliases and the routes generation are as they were.
      expect(await readServingRoutes(t.store, m.name)).toEqual(split);
      expect(await aliasVersion(t.store, m.name, 'champion')).toBe(m.champion);
      expect(await aliasVersion(t.store, m.name, 'canary')).toBe(m.challenger);
      const alerts = await t.store.db.selectFrom('alerts').selectAll().where('subject', '=', `model ${m.name}`).execute();
      expect(alerts.map((a) => [a.rule, a.severity])).toEqual([['deployment_stopped', 'critical']]);
      expect(alerts[0].message).toMatch(new RegExp(`the champion v${m.champion} no longer verifies`));
      const row = await t.store.db.selectFrom('deployments').select(['status', 'running_model']).where('id', '=', handle.workflowId).executeTakeFirstOrThrow();
      expect(row).toEqual({ status: 'stopped', running_model: null });
    });
  });

  it('verifies before each traffic move: a challenger edited while the next step was held by a data alert is rolled back, not routed to', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const m = await newModel('unverified-gate');
      // The gate polls (and analyses step 1 while still blocked) every 5 s: the edit and the ack land within one interval.
      const handle = await start(`unverified-gate-${Date.now()}`, { model: m.name, challengerVersion: m.challenger, canary: { steps: [50, 100], analysisSeconds: 5, stepDeadlineSeconds: 1, thresholds: { minMaturedPairs: 1_000_000 } } });
      await waitFor(handle, 'step 1 paused', (s) => s.status === 'paused-inconclusive' && s.step === 0);
      const alert = await raiseAlert(t.store, { rule: 'data_stale', severity: 'critical', subject: dataSubject(m.name), message: 'no bars for 3 trading days', evidence: {} });
      await handle.executeUpdate(approveStepUpdate, { args: [{ step: 0, by: 'test' }] });
      await waitFor(handle, 'step 2 held', (s) => s.status === 'blocked');
      await editRow(m.name, m.challenger);
      await ackAlert(t.store, alert.id, 'test');
      const state = await handle.result();
      await recordHistory(env, 'deployment-v2-verify-gate-rolled-back', handle.workflowId);
      expect(state.status).toBe('rolled-back');
      expect(state.decisions.at(-1)?.message).toMatch(new RegExp(`rolled back to v${m.champion}: before step 2 \\(100%\\): the challenger v${m.challenger} no longer verifies`));
      expect((await readServingRoutes(t.store, m.name))?.routes).toEqual(singleRoute(m.champion));
      expect(await aliasVersion(t.store, m.name, 'canary')).toBeUndefined();
    });
  });

  const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  /**
   * The end of a canary that went wrong while held: rolled back by its own analysis, nobody deciding
   * after `from` (the state when the hold began). `hold`: how the reason names the hold.
   */
  async function expectRolledBackWhileHeld(handle: { workflowId: string; result: () => Promise<DeploymentState> }, m: TestModel, held: DeploymentState, status: 'paused' | 'paused-inconclusive' | 'blocked', hold: string = status, from = held): Promise<DeploymentState> {
    const state = await handle.result();
    expect(state.status).toBe('rolled-back');
    // Judged on the step's own requests, as before the hold: the same window start.
    expect(state.analyses.at(-1)).toMatchObject({ verdict: 'fail', weight: 0.5, held: status, since: held.analyses.at(-1)?.since });
    // The reason names the hold and the failed analysis's own reasons (its scores moved away from the champion's, or its hit rate fell).
    const reasons = state.analyses.at(-1)?.reasons.join('; ') as string;
    expect(reasons).toMatch(/score shift .* exceeds|paired hit rate canary/);
    expect(state.decisions.at(-1)?.message).toBe(`rolled back to v${m.champion}: step 1 (50%) failed its analysis while held (${hold}): 1 failed analysis: ${reasons}`);
    expect(state.decisions.slice(from.decisions.length).map((d) => d.message)).not.toContainEqual(expect.stringMatching(/accepted by|resumed by|abort requested|overridden by/));
    expect((await readServingRoutes(t.store, m.name))?.routes).toEqual(singleRoute(m.champion));
    expect(await aliasVersion(t.store, m.name, 'champion')).toBe(m.champion);
    expect(await aliasVersion(t.store, m.name, 'canary')).toBeUndefined();
    const alerts = await t.store.db.selectFrom('alerts').selectAll().where('rule', '=', 'deployment_rolled_back').where('subject', '=', `model ${m.name}`).execute();
    expect(alerts.map((a) => [a.severity, a.message])).toEqual([['critical', expect.stringMatching(new RegExp(`v${m.challenger} rolled back: step 1 \\(50%\\) failed its analysis while held \\(${escaped(hold)}\\)`))]]);
    const row = await t.store.db.selectFrom('deployments').select(['status', 'running_model']).where('id', '=', handle.workflowId).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'rolled-back', running_model: null });
    return state;
  }

  it('keeps analysing a step held as inconclusive: a canary whose outcomes mature wrong meanwhile is rolled back without anyone', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const m = await newModel('held-wrong', { wrongChallenger: true });
      const handle = await start(`held-wrong-${Date.now()}`, { model: m.name, challengerVersion: m.challenger, canary: { steps: [50, 100], analysisSeconds: 1, stepDeadlineSeconds: 2, thresholds: { minMaturedPairs: 20 } } });
      // No requests yet: nothing to judge, so the step waits past its deadline for a person.
      const held = await waitFor(handle, 'step 1 paused, inconclusive', (s) => (s.status === 'paused-inconclusive' && s.step === 0) || FINAL.includes(s.status));
      expect(held).toMatchObject({ status: 'paused-inconclusive', challengerWeight: 0.5 });
      // While it waits, the challenger keeps its half of the traffic and predicts every outcome wrong.
      await m.requestDays(6, 4);
      await waitFor(handle, 'a final status', (s) => FINAL.includes(s.status), 60);
      await recordHistory(env, 'deployment-v2-held-analysis-rolled-back', handle.workflowId);
      await expectRolledBackWhileHeld(handle, m, held, 'paused-inconclusive');
    });
  });

  it('keeps analysing a canary step paused by hand: a canary whose outcomes mature wrong meanwhile is rolled back without anyone', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const m = await newModel('paused-wrong', { wrongChallenger: true });
      const handle = await start(`paused-wrong-${Date.now()}`, { model: m.name, challengerVersion: m.challenger, canary: { steps: [50, 100], analysisSeconds: 1, stepDeadlineSeconds: 3600, thresholds: { minMaturedPairs: 20 } } });
      await waitFor(handle, 'an analysis at step 1', (s) => s.status === 'canary' && s.step === 0 && s.analysisCount > 0);
      const held = await handle.executeUpdate(pauseUpdate, { args: [{ by: 'test' }] });
      expect(held).toMatchObject({ status: 'paused', challengerWeight: 0.5 });
      await m.requestDays(6, 4);
      await waitFor(handle, 'a final status', (s) => FINAL.includes(s.status), 60);
      const state = await expectRolledBackWhileHeld(handle, m, held, 'paused');
      expect(state.decisions.map((d) => d.message)).toContain('paused by test');
    });
  });

  it('a held step is analysed on its interval and still takes approve-step at once', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const m = await newModel('held-approve');
      const load = traffic(m.name);
      // Never enough pairs: every analysis is inconclusive, before the hold and during it.
      const handle = await start(`held-approve-${Date.now()}`, { model: m.name, challengerVersion: m.challenger, canary: { steps: [50, 100], analysisSeconds: 3, stepDeadlineSeconds: 1, thresholds: { minMaturedPairs: 1_000_000 } } });
      const held = await waitFor(handle, 'step 1 paused, inconclusive', (s) => (s.status === 'paused-inconclusive' && s.step === 0) || FINAL.includes(s.status));
      expect(held.status).toBe('paused-inconclusive');
      const watched = await waitFor(handle, 'an analysis while held', (s) => s.analysisCount > held.analysisCount || FINAL.includes(s.status), 30);
      expect(watched.status).toBe('paused-inconclusive');
      expect(watched.analyses.at(-1)).toMatchObject({ verdict: 'inconclusive', weight: 0.5, held: 'paused-inconclusive', since: held.analyses.at(-1)?.since });
      // Answered at once, not at the next analysis (3 s after the last).
      const asked = Date.now();
      const accepted = await handle.executeUpdate(approveStepUpdate, { args: [{ step: 0, by: 'test' }] });
      expect(Date.now() - asked).toBeLessThan(2500);
      expect(accepted.decisions.map((d) => d.message)).toContain('inconclusive step 1 (50%) accepted by test');
      const next = await waitFor(handle, 'step 2', (s) => s.step === 1 && s.challengerWeight === 1);
      expect(['canary', 'paused-inconclusive']).toContain(next.status);
      const aborted = await handle.executeUpdate(abortUpdate, { args: [{ by: 'test', reason: 'enough' }] });
      await load.stop();
      await recordHistory(env, 'deployment-v2-held-analysis-approved', handle.workflowId);
      expect(aborted.status).toBe('rolled-back');
      expect((await readServingRoutes(t.store, m.name))?.routes).toEqual(singleRoute(m.champion));
    });
  });
  /** Step 1 (50%) accepted while inconclusive with a data alert open: step 2's gate holds, step 1's weight serving. */
  async function blockedAtStepTwo(handle: Awaited<ReturnType<typeof start>>, m: TestModel): Promise<{ held: DeploymentState; blocked: DeploymentState; alertId: string }> {
    const held = await waitFor(handle, 'step 1 paused, inconclusive', (s) => (s.status === 'paused-inconclusive' && s.step === 0) || FINAL.includes(s.status));
    expect(held).toMatchObject({ status: 'paused-inconclusive', challengerWeight: 0.5 });
    const alert = await raiseAlert(t.store, { rule: 'data_stale', severity: 'critical', subject: dataSubject(m.name), message: 'no bars for 3 trading days', evidence: {} });
    await handle.executeUpdate(approveStepUpdate, { args: [{ step: 0, by: 'test' }] });
    const blocked = await waitFor(handle, 'step 2 held by the data alert', (s) => s.status === 'blocked' || FINAL.includes(s.status));
    expect(blocked).toMatchObject({ status: 'blocked', challengerWeight: 0.5, blockers: [expect.stringContaining(`(alert ${alert.id})`)] });
    return { held, blocked, alertId: alert.id };
  }

  it("keeps analysing the serving step while the next one is held by a data alert: a canary whose outcomes mature wrong meanwhile is rolled back without anyone", async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const m = await newModel('blocked-wrong', { wrongChallenger: true });
      const handle = await start(`blocked-wrong-${Date.now()}`, { model: m.name, challengerVersion: m.challenger, canary: { steps: [50, 100], analysisSeconds: 1, stepDeadlineSeconds: 1, thresholds: { minMaturedPairs: 20 } } });
      const { held, blocked } = await blockedAtStepTwo(handle, m);
      // While the gate waits for a person to look at the data alert, the challenger keeps its half and predicts every outcome wrong.
      await m.requestDays(6, 4);
      await waitFor(handle, 'a final status', (s) => FINAL.includes(s.status), 60);
      await recordHistory(env, 'deployment-v2-blocked-analysis-rolled-back', handle.workflowId);
      // Judged on step 1's window (since its traffic moved, the weight still serving), not step 2's that never began.
      const state = await expectRolledBackWhileHeld(handle, m, held, 'blocked', 'blocked by data alerts before step 2 at 100%', blocked);
      expect(state.analyses.filter((a) => a.weight === 1)).toEqual([]);
    });
  });

  it('a step held at its gate by a data alert is analysed on its interval and still takes the override at once', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const m = await newModel('blocked-override');
      const load = traffic(m.name);
      // Never enough pairs: every analysis is inconclusive, before the gate and while it waits.
      const handle = await start(`blocked-override-${Date.now()}`, { model: m.name, challengerVersion: m.challenger, canary: { steps: [50, 100], analysisSeconds: 3, stepDeadlineSeconds: 1, thresholds: { minMaturedPairs: 1_000_000 } } });
      const { held, blocked, alertId } = await blockedAtStepTwo(handle, m);
      const watched = await waitFor(handle, 'an analysis while blocked', (s) => s.analyses.some((a) => a.held === 'blocked') || FINAL.includes(s.status), 30);
      expect(watched.status).toBe('blocked');
      expect(watched.analyses.at(-1)).toMatchObject({ phase: 'canary', verdict: 'inconclusive', weight: 0.5, held: 'blocked', since: held.analyses.at(-1)?.since });
      expect(watched.analysisCount).toBeGreaterThan(blocked.analysisCount);
      // Answered at once, not at the next analysis (3 s after the last).
      const asked = Date.now();
      const overridden = await handle.executeUpdate(overrideBlockUpdate, { args: [{ alertId, by: 'test' }] });
      expect(Date.now() - asked).toBeLessThan(2500);
      expect(overridden.decisions.map((d) => d.message)).toContain(`data alert ${alertId} overridden by test`);
      const next = await waitFor(handle, 'step 2', (s) => s.step === 1 && s.challengerWeight === 1);
      expect(['canary', 'paused-inconclusive']).toContain(next.status);
      const aborted = await handle.executeUpdate(abortUpdate, { args: [{ by: 'test', reason: 'enough' }] });
      await load.stop();
      await recordHistory(env, 'deployment-v2-blocked-analysis-overridden', handle.workflowId);
      expect(aborted.status).toBe('rolled-back');
      expect((await readServingRoutes(t.store, m.name))?.routes).toEqual(singleRoute(m.champion));
    });
  });

  it('keeps analysing an A/B test paused by hand: a challenger whose outcomes mature wrong meanwhile is withdrawn without anyone', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const m = await newModel('ab-paused-wrong', { wrongChallenger: true });
      const handle = await start(`ab-paused-wrong-${Date.now()}`, { model: m.name, challengerVersion: m.challenger, mode: 'ab', ab: { analysisSeconds: 1, minSamplesPerVariant: 20 } });
      await waitFor(handle, 'the A/B test', (s) => s.status === 'ab-test' && s.challengerWeight === 0.5);
      const paused = await handle.executeUpdate(pauseUpdate, { args: [{ by: 'test' }] });
      expect(paused).toMatchObject({ status: 'paused', challengerWeight: 0.5 });
      // B keeps its half of the traffic while paused, and predicts every outcome wrong. With 5-session
      // labels the report decides on blocks of 5 matured days, and no 3 blocks reach 1/alpha however
      // clear (lib/stats/anytime-mean.ts): 20 days make the 4 it needs.
      await m.requestDays(20, 4);
      await waitFor(handle, 'a final status', (s) => FINAL.includes(s.status), 60);
      const state = await handle.result();
      await recordHistory(env, 'deployment-v2-ab-paused-kept-champion', handle.workflowId);
      expect(state.status).toBe('kept-champion');
      const last = state.analyses.at(-1);
      expect(last).toMatchObject({ phase: 'ab-test', weight: 0.5, held: 'paused', verdict: 'stop-winner', ab: { winner: 'A' } });
      const reasons = last?.reasons.join('; ') as string;
      expect(reasons).toMatch(/every challenger is worse than the control A/);
      expect(state.decisions.at(-1)?.message).toBe(`champion v${m.champion} kept: A/B test while held (paused): A won (${reasons})`);
      expect(state.decisions.map((d) => d.message)).not.toContainEqual(expect.stringMatching(/resumed by|abort requested/));
      expect((await readServingRoutes(t.store, m.name))?.routes).toEqual(singleRoute(m.champion));
      expect(await aliasVersion(t.store, m.name, 'champion')).toBe(m.champion);
      const alerts = await t.store.db.selectFrom('alerts').selectAll().where('rule', '=', 'deployment_rolled_back').where('subject', '=', `model ${m.name}`).execute();
      expect(alerts.map((a) => [a.severity, a.message])).toEqual([['critical', `v${m.challenger} (B) withdrawn: A/B test while held (paused): A won (${reasons})`]]);
      const row = await t.store.db.selectFrom('deployments').select(['status', 'running_model']).where('id', '=', handle.workflowId).executeTakeFirstOrThrow();
      expect(row).toEqual({ status: 'kept-champion', running_model: null });
    });
  });

  it('a paused A/B test is analysed on its interval and still takes resume at once', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      const m = await newModel('ab-paused-resume');
      const load = traffic(m.name);
      // Never enough symbol-days to decide: every analysis continues the test.
      const handle = await start(`ab-paused-resume-${Date.now()}`, { model: m.name, challengerVersion: m.challenger, mode: 'ab', ab: { analysisSeconds: 3, minSamplesPerVariant: 1_000_000 } });
      await waitFor(handle, 'the A/B test', (s) => s.status === 'ab-test' && s.challengerWeight === 0.5);
      const paused = await handle.executeUpdate(pauseUpdate, { args: [{ by: 'test' }] });
      const watched = await waitFor(handle, 'an analysis while paused', (s) => s.analyses.some((a) => a.held === 'paused') || FINAL.includes(s.status), 30);
      expect(watched.status).toBe('paused');
      expect(watched.analyses.at(-1)).toMatchObject({ phase: 'ab-test', weight: 0.5, held: 'paused', verdict: 'continue' });
      expect(watched.analysisCount).toBeGreaterThan(paused.analysisCount);
      // Answered at once, not at the next analysis (3 s after the last).
      const asked = Date.now();
      const resumed = await handle.executeUpdate(resumeUpdate, { args: [{ by: 'test' }] });
      expect(Date.now() - asked).toBeLessThan(2500);
      expect(resumed.status).toBe('ab-test');
      const aborted = await handle.executeUpdate(abortUpdate, { args: [{ by: 'test', reason: 'enough' }] });
      await load.stop();
      await recordHistory(env, 'deployment-v2-ab-paused-resumed', handle.workflowId);
      expect(aborted.status).toBe('kept-champion');
      expect((await readServingRoutes(t.store, m.name))?.routes).toEqual(singleRoute(m.champion));
    });
  });
});
