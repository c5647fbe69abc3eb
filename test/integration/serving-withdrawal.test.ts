/**
 * A version beside the champion (canary, shadow, A/B arm) that stops verifying after it was loaded
 * (its registry row edited, vetoed…) is withdrawn alone: the champion keeps serving and answers its
 * traffic (and the prediction log names the champion), the model is reported degraded (/readyz,
 * /v1/models, the metrics, the onWithdrawn hook) and the version is taken back once it verifies
 * again. Only a refused champion withdraws the model (503 naming the cause). A process starting
 * with such routes serves the same way as one that was running.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { withdrawalAlert } from '../../api/main';
import { servedSnapshot } from '../../api/predictions';
import { buildApiServer } from '../../api/server';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { loadConfig } from '../../lib/config';
import { publishOnlineFeatures } from '../../lib/features/online-features';
import { moveAlias, registerModel, type ModelVersion } from '../../lib/registry/model-registry';
import { predictForRequest } from '../../lib/serving/predict';
import { PredictionLogWriter } from '../../lib/serving/prediction-log';
import { routeFor } from '../../lib/serving/routing';
import { ServingModels, type WithdrawalEvent } from '../../lib/serving/serving-models';
import { writeServingRoutes, type WriteServingRoutesInput } from '../../lib/serving/serving-routes';
import type { Database } from '../../lib/store/database';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { createSqliteTestDatabase, DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { defineTestFeatureSet, returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';
import { until } from '../helpers/until';

const FEATURES = returnsFeatureSet('serving-withdrawal');
const { version: FS, columns: COLUMNS } = defineTestFeatureSet(FEATURES);
const MODEL = 'direction-5d';
const LABEL = { kind: 'direction', horizon: 5 };
const KEYS = Array.from({ length: 400 }, (_, i) => `key-${i}`);

async function registerVersions(store: Database, dir: string, count: number): Promise<ModelVersion[]> {
  await saveTestFeatureSet(store, FEATURES);
  const versions: ModelVersion[] = [];
  for (let seed = 1; seed <= count; seed++) {
    const d = separable(200, 5, seed);
    const model = await logisticRegression.fit({ features: withColumns(d.x, COLUMNS), labels: d.y, classes: 2, seed }, {});
    versions.push(
      await registerModel(store, localArtifactStore(dir), {
        name: MODEL, artifact: encodeArtifact(model.state(), { featureSetVersion: FS, label: LABEL }), algorithm: 'logistic_regression', params: {}, seed, featureSetVersion: FS, label: LABEL,
        ...UNTRACKED_REGISTRATION, registrationKey: `${MODEL}/${seed}`,
      }),
    );
  }
  return versions;
}

/** The deployment's canary step: champion v1 95%, canary v2 5%, v3 in shadow. */
const CANARY_STEP: WriteServingRoutesInput = {
  model: MODEL, mode: 'canary', routes: [{ variant: 'canary', version: 2, weight: 0.05 }, { variant: 'champion', version: 1, weight: 0.95 }], reference: 'champion', shadow: { version: 3 }, updatedBy: 'test', reason: 'canary 5%',
};

const editLabel = (store: Database, version: number, horizon: number) =>
  store.db.updateTable('model_versions').set({ label: JSON.stringify({ ...LABEL, horizon }) }).where('name', '=', MODEL).where('version', '=', version).execute();
const vector = { version: FS, symbol: 'AAPL', asOf: '2026-01-02', columns: COLUMNS, values: [0.1, 0.2, 0.3, 0.4, 0.5] };

describe.each(DRIVERS)('withdrawing a version beside the champion, on %s', (_driver, create) => {
  let t: TestDatabase;
  let dir: string;
  let cache: MemoryCache;
  const started: ServingModels[] = [];
  let withdrawals: WithdrawalEvent[];

  beforeEach(async () => {
    t = await create();
    dir = tempDir('mlp-serving-withdrawal-');
    cache = new MemoryCache();
    withdrawals = [];
  });
  afterEach(async () => {
    for (const s of started.splice(0)) await s.close();
    await cache.close();
    await t?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const start = async () => {
    const s = new ServingModels({ store: t.store, cache, artifacts: localArtifactStore(dir), pollMs: 50, onWithdrawn: (event) => withdrawals.push(event) });
    started.push(s);
    await s.start();
    return s;
  };

  it("keeps the champion serving when the canary's row is edited: the canary's traffic goes to the champion, the model says so, and the canary returns once its row verifies", async () => {
    await registerVersions(t.store, dir, 3);
    const written = await writeServingRoutes(t.store, cache, CANARY_STEP);
    const a = await start();
    expect([...a.snapshot(MODEL)!.models.keys()]).toEqual([1, 2, 3]);
    const toCanary = KEYS.filter((key) => routeFor(written, key).variant === 'canary');
    expect(toCanary.length).toBeGreaterThan(0);

    await editLabel(t.store, 2, 1);
    await until('the canary withdrawn', () => a.snapshot(MODEL)?.degraded !== undefined);
    const snapshot = a.snapshot(MODEL)!;
    expect(snapshot.routes).toMatchObject({ generation: written.generation, mode: 'single', routes: [{ variant: 'champion', version: 1, weight: 1 }], reference: 'champion', shadow: { version: 3 } });
    expect([...snapshot.models.keys()]).toEqual([1, 3]);
    expect(snapshot.degraded!.written).toEqual(written);
    expect(snapshot.degraded!.anchor).toEqual({ variant: 'champion', version: 1, weight: 0.95 });
    expect(snapshot.degraded!.withdrawn).toEqual([{ version: 2, variants: ['canary'], weight: 0.05, reason: 'row_mismatch', message: expect.stringMatching(/v2 artifact failed verification: label differs/), at: expect.any(String) }]);

    // Served, ready, and saying what happened.
    expect(() => servedSnapshot(a, MODEL)).not.toThrow();
    expect(a.ready()).toBe(true);
    expect(a.degradedModels()).toEqual([expect.stringMatching(/^direction-5d: generation 1 is served without v2, whose traffic v1 \(champion\) answers: v2 \(canary, 5% of requests\) withdrawn \[row_mismatch\]: .*label differs/)]);
    expect(a.stats().withdrawals).toEqual([{ model: MODEL, version: 2, reason: 'row_mismatch', count: 1 }]);
    expect(a.stats().withdrawn[MODEL].map((w) => w.version)).toEqual([2]);
    expect(withdrawals).toEqual([expect.objectContaining({ model: MODEL, generation: 1, version: 2, variants: ['canary'], reason: 'row_mismatch', servedBy: { variant: 'champion', version: 1 } })]);

    // Every request, the canary's included, is answered by the champion and names it; the shadow still predicts beside it.
    for (const key of KEYS) {
      const { served, unserved } = predictForRequest(snapshot, vector, key);
      expect([served.variant, served.version, served.error]).toEqual(['champion', 1, undefined]);
      expect(unserved.map((p) => [p.variant, p.version])).toEqual([['shadow', 3]]);
    }

    // The shadow's evaluation now vetoes it: withdrawn too.
    const [, , v3] = await t.store.db.selectFrom('model_versions').select('metrics').where('name', '=', MODEL).orderBy('version').execute();
    const vetoed = { ...(JSON.parse(v3.metrics) as object), shuffledLabel: { passed: false, message: 'beats chance on shuffled labels' } };
    await t.store.db.updateTable('model_versions').set({ metrics: JSON.stringify(vetoed) }).where('name', '=', MODEL).where('version', '=', 3).execute();
    await until('the shadow withdrawn', () => a.snapshot(MODEL)?.degraded?.withdrawn.length === 2);
    expect(a.snapshot(MODEL)!.routes.shadow).toBeUndefined();
    expect(a.snapshot(MODEL)!.degraded!.withdrawn.map((w) => [w.version, w.variants, w.reason])).toEqual([[2, ['canary'], 'row_mismatch'], [3, ['shadow'], 'vetoed']]);

    // The canary's row put back: it verifies, so it takes its 5% again (counted once).
    await editLabel(t.store, 2, 5);
    await until('the canary back', () => a.snapshot(MODEL)?.models.has(2) === true);
    expect(a.snapshot(MODEL)!.routes.routes).toEqual(written.routes);
    expect(a.snapshot(MODEL)!.degraded!.withdrawn.map((w) => w.version)).toEqual([3]);
    expect(a.stats().withdrawals).toEqual([{ model: MODEL, version: 2, reason: 'row_mismatch', count: 1 }, { model: MODEL, version: 3, reason: 'vetoed', count: 1 }]);

    // The champion's own row edited: nothing may stand in for it, the model is withdrawn and requests get 503 saying why.
    await editLabel(t.store, 1, 1);
    await until('the model withdrawn', () => a.snapshot(MODEL) === undefined);
    expect(() => servedSnapshot(a, MODEL)).toThrow(expect.objectContaining({ statusCode: 503, message: expect.stringMatching(/Why: .*v1 .*label differs/) }));
    expect(a.stats().withdrawn[MODEL]).toEqual([expect.objectContaining({ version: 1, variants: ['champion'], reason: 'row_mismatch' })]);
    expect(withdrawals.at(-1)).toMatchObject({ version: 1, servedBy: undefined });
    expect(withdrawalAlert(withdrawals.at(-1)!)).toMatchObject({ rule: 'serving_version_withdrawn', severity: 'critical', subject: `model ${MODEL} v1` });
    expect(withdrawalAlert(withdrawals[0])).toMatchObject({ severity: 'warning', message: expect.stringMatching(/v1 \(champion\) answers its traffic/) });
  });

  it('serves the same way when a process starts with such routes: the champion, without the refused canary; a refused champion is still not served', async () => {
    await registerVersions(t.store, dir, 3);
    await writeServingRoutes(t.store, cache, CANARY_STEP);
    await editLabel(t.store, 2, 1);
    const a = await start();
    const snapshot = a.snapshot(MODEL);
    expect(snapshot?.routes.routes).toEqual([{ variant: 'champion', version: 1, weight: 1 }]);
    expect(snapshot?.degraded?.withdrawn.map((w) => [w.version, w.reason])).toEqual([[2, 'row_mismatch']]);
    expect(a.ready()).toBe(true);
    expect(withdrawals).toHaveLength(1);

    await editLabel(t.store, 1, 1);
    const b = await start();
    expect(b.snapshot(MODEL)).toBeUndefined();
    expect(b.whyUnavailable(MODEL)).toMatch(/direction-5d v1 cannot be loaded: .*label differs/);
    // Reported as the running process reports it: the champion withdrawn, counted once however many polls retry it.
    expect(b.stats().withdrawn[MODEL]).toEqual([expect.objectContaining({ version: 1, variants: ['champion'], reason: 'row_mismatch' })]);
    await new Promise((r) => setTimeout(r, 300));
    expect(b.stats().withdrawals).toEqual([{ model: MODEL, version: 1, reason: 'row_mismatch', count: 1 }]);
  });

  it("in an A/B test, a refused arm's traffic goes to the arm the champion alias points at; without one, nothing says which arm is approved and the model is withdrawn", async () => {
    await registerVersions(t.store, dir, 2);
    await moveAlias(t.store, { name: MODEL, alias: 'champion', version: 1, movedBy: 'test', reason: 'test' });
    await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'ab', routes: [{ variant: 'B', version: 2, weight: 0.5 }, { variant: 'A', version: 1, weight: 0.5 }], updatedBy: 'test', reason: 'A/B' });
    const a = await start();
    await editLabel(t.store, 2, 1);
    await until('arm B withdrawn', () => a.snapshot(MODEL)?.degraded !== undefined);
    expect(a.snapshot(MODEL)!.routes.routes).toEqual([{ variant: 'A', version: 1, weight: 1 }]);
    for (const key of KEYS.slice(0, 50)) expect(predictForRequest(a.snapshot(MODEL)!, vector, key).served).toMatchObject({ variant: 'A', version: 1 });

    await editLabel(t.store, 2, 5);
    await until('arm B back', () => a.snapshot(MODEL)?.degraded === undefined);
    await moveAlias(t.store, { name: MODEL, alias: 'champion', version: undefined, movedBy: 'test', reason: 'test' });
    await editLabel(t.store, 2, 1);
    await until('the model withdrawn', () => a.snapshot(MODEL) === undefined);
    expect(a.whyUnavailable(MODEL)).toMatch(/v2 .*label differs/);
    expect(a.stats().withdrawn[MODEL]).toEqual([expect.objectContaining({ version: 2, variants: ['B'] })]);
  });
});

describe('the prediction API while a canary is withdrawn (SQLite)', () => {
  it('answers every request from the champion, logs the champion as the version that answered, and says degraded in /readyz, /v1/models and /metrics', async () => {
    const t = await createSqliteTestDatabase();
    const dir = tempDir('mlp-serving-withdrawal-api-');
    const cache = new MemoryCache();
    const token = 'withdrawal-token-0123456789';
    await registerVersions(t.store, dir, 3);
    await writeServingRoutes(t.store, cache, CANARY_STEP);
    const symbols = Array.from({ length: 40 }, (_, i) => `SYM${String(i).padStart(2, '0')}`);
    await publishOnlineFeatures(cache, symbols.map((symbol, i) => ({ version: FS, symbol, asOf: '2026-01-02', columns: COLUMNS, values: COLUMNS.map((_, j) => Math.sin(i + j)) })));
    const serving = new ServingModels({ store: t.store, cache, artifacts: localArtifactStore(dir), pollMs: 50 });
    const predictionLog = new PredictionLogWriter(t.store, { flushMs: 20 });
    const app = buildApiServer({ store: t.store, cache, servingModels: serving, predictionLog, tokens: loadConfig({ API_TOKENS: `reader:${token}=predict` }).apiTokens });
    try {
      await serving.start();
      await app.listen({ host: '127.0.0.1', port: 0 });
      const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

      await editLabel(t.store, 2, 1);
      await until('the canary withdrawn', () => serving.snapshot(MODEL)?.degraded !== undefined);
      const since = new Date().toISOString();

      const response = await fetch(`${base}/v1/predictions`, { method: 'POST', headers, body: JSON.stringify({ model: MODEL, symbols }) });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { predictions: Array<{ version: number; variant: string }>; errors: unknown[] };
      expect(body.errors).toEqual([]);
      expect(body.predictions).toHaveLength(symbols.length);
      for (const p of body.predictions) expect([p.variant, p.version]).toEqual(['champion', 1]);

      await predictionLog.flush();
      const logged = await t.store.db.selectFrom('prediction_log').select(['version', 'variant', 'served']).where('created_at', '>=', since).execute();
      expect(logged.length).toBe(symbols.length * 2); // the champion's answer and the shadow's
      expect(new Set(logged.map((r) => `${r.variant} v${r.version} served=${r.served}`))).toEqual(new Set(['champion v1 served=1', 'shadow v3 served=0']));

      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
      const readiness = (await ready.json()) as { ready: boolean; checks: { models: { ok: boolean; detail?: string } } };
      expect(readiness.checks.models).toEqual({ ok: true, detail: expect.stringMatching(/^degraded: direction-5d: generation 1 is served without v2, whose traffic v1 \(champion\) answers: .*\[row_mismatch\]/) });

      const models = (await (await fetch(`${base}/v1/models`, { headers })).json()) as { models: Array<{ routes: { routes: unknown[] }; degraded?: { routesAsWritten: { routes: unknown[] }; servedBy: unknown; withdrawn: Array<{ version: number; reason: string }> } }> };
      expect(models.models[0].routes.routes).toEqual([{ variant: 'champion', version: 1, weight: 1 }]);
      expect(models.models[0].degraded).toMatchObject({ routesAsWritten: { routes: CANARY_STEP.routes }, servedBy: { variant: 'champion', version: 1 }, withdrawn: [{ version: 2, reason: 'row_mismatch' }] });

      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/^api_serving_versions_withdrawn_total\{model="direction-5d",version="2",reason="row_mismatch"\} 1$/m);
      expect(metrics).toMatch(/^api_serving_withdrawn_versions\{model="direction-5d"\} 1$/m);
    } finally {
      await app.close();
      await predictionLog.close();
      await serving.close();
      await cache.close();
      await t.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
