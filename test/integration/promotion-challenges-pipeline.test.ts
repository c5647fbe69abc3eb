/**
 * Through the real Temporal server: each run's best model is recorded as a challenge of the
 * champion (or of the empty slot) on its evaluation period, and over a champion its paired
 * comparison with the champion re-run on the same rows reaches registration (the p-value recorded
 * with the challenge), so the champion must be beaten with evidence, not by a point difference.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { writeSyntheticMarket } from '../../lib/market-data/synthetic';
import { listChallenges } from '../../lib/registry/challenges';
import { TASK_QUEUES } from '../../lib/task-queues';
import { loadModelRuntimes } from '../../models/algorithms';
import { trainingPipeline } from '../../workflows';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { smallExperiment } from '../helpers/experiments';
import { startTemporal, withWorkers } from '../helpers/temporal';

jest.setTimeout(420_000);

describe('challenges recorded by the training pipeline', () => {
  let env: TestWorkflowEnvironment;
  let db: TestDatabase;
  beforeAll(async () => {
    [env, db] = await Promise.all([startTemporal(), createSqliteTestDatabase()]);
    await loadModelRuntimes();
  });
  afterAll(async () => {
    await db?.drop();
    await env?.teardown();
  });

  it('records each run as a challenge and compares a challenger with the champion on the same rows', async () => {
    const data = tempDir('mlp-challenges-');
    await writeSyntheticMarket(data, { symbols: 5, from: '2016-01-04', to: '2018-03-29', plantErrors: false });
    const artifactDir = tempDir('mlp-challenges-artifacts-');
    // The first run becomes champion whatever noise gives (evidence off); the second, another seed, challenges it.
    const first = { ...smallExperiment(data, 'shopped'), promotion: { minAuc: 0, margin: 0.005, alpha: 1, allowRelaxedGuards: { reason: 'a small test market, judged without the naive-baseline tests' } } };
    const second = { ...first, seed: 8, promotion: { minAuc: 0, margin: 0, alpha: 0.05, allowRelaxedGuards: { reason: 'a small test market: floors lowered so the paired test decides' } } };
    const run = (experiment: typeof first | typeof second, id: string) => env.client.workflow.execute(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId: id, args: [{ experiment }] });
    const [one, two] = await withWorkers(env, { store: db.store, cache: new MemoryCache(), artifactDir }, async () => [await run(first, `shop-1-${Date.now()}`), await run(second, `shop-2-${Date.now()}`)]);
    expect(one.promoted?.alias).toBe('champion');
    const challenges = await listChallenges(db.store, 'shopped');
    const best = two.candidates?.find((c) => c.bestOfRun);
    const period = best?.evaluation.report.period;
    expect(challenges.map((c) => [c.number, c.championVersion, c.algorithmsTested, c.challengerVersion, c.period])).toEqual([
      [1, null, 2, one.promoted?.version, { from: period?.from, to: period?.to }],
      [1, one.promoted?.version, 2, best?.registration.version.version, { from: period?.from, to: period?.to }],
    ]);
    // The paired comparison with the champion reached registration.
    expect(challenges[1].championPValue).toEqual(expect.any(Number));
    expect(challenges[1].reason).toBe(best?.registration.decision.reason);
    expect(best?.registration.decision.reason).not.toMatch(/no paired evidence/);
    if (best?.registration.decision.promote) expect(best.registration.decision.reason).toMatch(/paired on the same rows: auc [+-]\d\.\d{4} over champion v\d+ re-run/);
  });
});
