/**
 * deploymentWorkflow through the real Temporal dev server, with the real prediction API (injected
 * requests), a real SQLite store with bars, and real Redis. Requests are predicted for online
 * vectors dated in the past, so their outcomes have matured in the bar store: the champion and a
 * good challenger predict the realised 5-day direction, a bad challenger predicts its opposite.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { buildApiServer } from '../../api/server';
import { RedisCache } from '../../lib/cache/redis-cache';
import type { ApiToken } from '../../lib/config';
import { publishOnlineFeatures } from '../../lib/features/online-features';
import { readBarCsv } from '../../lib/market-data/csv-reader';
import { generateSyntheticMarket } from '../../lib/market-data/synthetic';
import { aliasHistory, aliasVersion, moveAlias, registerModel } from '../../lib/registry/model-registry';
import { PredictionLogWriter } from '../../lib/serving/prediction-log';
import { ServingModels } from '../../lib/serving/serving-models';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { upsertBars } from '../../lib/store/bars';
import type { Database } from '../../lib/store/database';
import { TASK_QUEUES } from '../../lib/task-queues';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { rng } from '../../lib/random';
import { abortSignal, approveSignal, deploymentStateQuery, deploymentWorkflow, type DeploymentState } from '../../workflows';
import type { DeploymentRequest } from '../../lib/deployment/plan';
import { createSqliteTestDatabase, tempDir, TEST_REDIS_URL, type TestDatabase } from '../helpers/databases';
import { startTemporal, withWorkers } from '../helpers/temporal';

const run = promisify(execFile);
const FS = `fs-deploy-${crypto.randomBytes(4).toString('hex')}`;
/** Vectors dated on the last stored bar: no outcome can mature. */
const FS_LATEST = `${FS}-latest`;
const COLUMNS = ['oracle', 'noise'];
const TOKEN: ApiToken = { name: 'test', token: 'deployment-test-token-0123456789', scopes: ['predict', 'admin'] };
const HORIZON = 5;

/** A model over (oracle, noise): `flip` makes it predict the opposite of the oracle. */
async function registerOracleModel(store: Database, dir: string, name: string, seed: number, flip: boolean, featureSetVersion = FS): Promise<number> {
  const next = rng(seed);
  const rows = 400;
  const values = new Float64Array(rows * 2);
  const labels = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const up = next() < 0.5;
    values[r * 2] = up ? 1 : -1;
    values[r * 2 + 1] = next() - 0.5;
    labels[r] = up !== flip ? 1 : 0;
  }
  const model = await logisticRegression.fit({ features: { values, rows, featureNames: COLUMNS }, labels, classes: 2, seed }, {});
  const label = { kind: 'direction', horizon: HORIZON, deadZone: 0 };
  const v = await registerModel(store, dir, {
    name, artifact: encodeArtifact(model.state(), { featureSetVersion, label }), algorithm: 'logistic_regression', params: {}, seed, featureSetVersion, label,
    snapshotId: null, snapshotHash: null, codeVersion: 'test', workflowId: null, runId: null, registrationKey: `${name}/${seed}/${flip}`, metrics: {}, lineage: {},
  });
  return v.version;
}

describe('deploymentWorkflow (real Temporal server, API, SQLite, Redis)', () => {
  let env: TestWorkflowEnvironment;
  let t: TestDatabase;
  let cache: RedisCache;
  let artifactDir: string;
  let serving: ServingModels;
  let log: PredictionLogWriter;
  let app: FastifyInstance;
  const symbols: string[] = [];

  beforeAll(async () => {
    env = await startTemporal();
    t = await createSqliteTestDatabase();
    cache = new RedisCache(TEST_REDIS_URL); // the CLI's prefix, so a CLI process sees the same keys
    artifactDir = tempDir('mlp-deploy-artifacts-');
    const market = generateSyntheticMarket({ symbols: 12, from: '2017-01-03', to: '2017-06-30', seed: 7, plantErrors: false });
    const vectors = [];
    for (const f of market.files) {
      const { bars } = readBarCsv(f.csv, { source: f.fileName });
      await upsertBars(t.store, bars.map(({ symbol, date, open, high, low, close, volume }) => ({ symbol, date, open, high, low, close, volume })));
      symbols.push(f.symbol);
      // Features as of a day whose 5-day outcome is in the store: the oracle is that outcome's sign.
      const at = bars.length - 30;
      const up = bars[at + HORIZON].close > bars[at].close;
      vectors.push({ version: FS, symbol: f.symbol, asOf: bars[at].date, columns: COLUMNS, values: [up ? 1 : -1, 0] });
      vectors.push({ version: FS_LATEST, symbol: f.symbol, asOf: bars[bars.length - 1].date, columns: COLUMNS, values: [1, 0] });
    }
    await publishOnlineFeatures(cache, vectors.filter((v) => v.version === FS));
    await publishOnlineFeatures(cache, vectors.filter((v) => v.version === FS_LATEST));
    serving = new ServingModels({ store: t.store, cache, artifactDir, pollMs: 200 });
    await serving.start();
    log = new PredictionLogWriter(t.store, { flushMs: 50 });
    app = buildApiServer({ store: t.store, cache, servingModels: serving, predictionLog: log, tokens: [TOKEN] });
  });
  afterAll(async () => {
    await app?.close();
    await log?.close();
    await serving?.close();
    await cache?.close();
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
          const response = await app.inject({ method: 'POST', url: '/v1/predictions', headers: { authorization: `Bearer ${TOKEN.token}` }, payload: { model, symbols: [symbols[i % symbols.length]], key: `client-${crypto.randomUUID()}` } });
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
  async function newModel(name: string, challengerFlip: boolean, featureSetVersion = FS): Promise<{ champion: number; challenger: number }> {
    const champion = await registerOracleModel(t.store, artifactDir, name, 1, false, featureSetVersion);
    const challenger = await registerOracleModel(t.store, artifactDir, name, 2, challengerFlip, featureSetVersion);
    await moveAlias(t.store, { name, alias: 'champion', version: champion, movedBy: 'test', reason: 'first model' });
    await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(champion), updatedBy: 'test', reason: 'first model' });
    for (let i = 0; i < 200 && !serving.snapshot(name); i++) await new Promise((r) => setTimeout(r, 25));
    return { champion, challenger };
  }

  const start = (id: string, request: DeploymentRequest) => env.client.workflow.start(deploymentWorkflow, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [request] });
  const fast = { analysisSeconds: 1, thresholds: { minMaturedPairs: 20 } };

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
      const state = await (await start(`deploy-good-${Date.now()}`, { model: 'deploy-good', challengerVersion: good.challenger, canary: { steps: [50, 100], ...fast } })).result();
      await load.stop();
      expect(state.status).toBe('promoted');
      expect(state.analyses.map((a) => a.verdict)).toEqual(['pass', 'pass']);
      expect(state.analyses[0].canary?.paired.pairs).toBeGreaterThanOrEqual(20);
      expect(await aliasVersion(t.store, 'deploy-good', 'champion')).toBe(good.challenger);
      expect((await readServingRoutes(t.store, 'deploy-good'))?.routes).toEqual(singleRoute(good.challenger));
      expect(load.stats.errors).toEqual([]);
      expect(load.stats.versions.get(good.challenger)).toBeGreaterThan(0);

      const bad = await newModel('deploy-bad', true);
      const badLoad = traffic('deploy-bad');
      const rolled = await (await start(`deploy-bad-${Date.now()}`, { model: 'deploy-bad', challengerVersion: bad.challenger, canary: { steps: [50, 100], ...fast } })).result();
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

  it('pauses an inconclusive canary for a person, and obeys approve and abort signals', async () => {
    await withWorkers(env, { store: t.store, cache, artifactDir }, async () => {
      // Requests for today's features: their outcomes cannot mature, so every step stays inconclusive.
      const m = await newModel('deploy-wait', false, FS_LATEST);
      const load = traffic('deploy-wait');
      const handle = await start(`deploy-wait-${Date.now()}`, { model: 'deploy-wait', challengerVersion: m.challenger, requireApproval: true, canary: { steps: [20, 100], analysisSeconds: 0.5, stepDeadlineSeconds: 1 } });
      await waitForStatus(handle, 'awaiting-approval');
      expect((await readServingRoutes(t.store, 'deploy-wait'))?.routes).toEqual(singleRoute(m.champion)); // nothing moved yet
      await handle.signal(approveSignal, 'test');
      const paused = await waitForStatus(handle, 'paused-inconclusive');
      expect(paused.step).toBe(0);
      expect(paused.challengerWeight).toBe(0.2);
      expect(paused.analyses.every((a) => a.verdict === 'inconclusive')).toBe(true);
      await handle.signal(approveSignal, 'test'); // accept step 1 by hand; step 2 pauses again
      const again = await waitForStatus(handle, 'paused-inconclusive');
      expect(again.step).toBe(1);
      await handle.signal(abortSignal, 'test abort');
      const state = await handle.result();
      await load.stop();
      expect(load.stats.failed).toBe(0);
      expect(state.analyses.at(-1)?.canary?.paired.unmatured).toBeGreaterThan(0);
      expect(state.analyses.at(-1)?.reasons.join(' ')).toMatch(/matured/);
      expect(state.status).toBe('rolled-back');
      expect(state.decisions.map((d) => d.message).join('\n')).toMatch(/abort requested: test abort/);
      expect((await readServingRoutes(t.store, 'deploy-wait'))?.routes).toEqual(singleRoute(m.champion));
      const warnings = await t.store.db.selectFrom('alerts').selectAll().where('rule', '=', 'deployment_inconclusive').execute();
      expect(warnings.length).toBeGreaterThanOrEqual(2);
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
