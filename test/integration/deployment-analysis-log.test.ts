/** The analysis log of running deployments: one row per analysis, a retried activity rewrites its own, old rows are trimmed. */
import { ANALYSES_LOGGED_PER_DEPLOYMENT, logDeploymentAnalysis, recentDeploymentAnalyses } from '../../lib/deployment/analysis-log';
import { DRIVERS, type TestDatabase } from '../helpers/databases';

describe.each(DRIVERS)('deployment analysis log on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await create();
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('keeps one row per analysis, rewritten by a retry, and the newest ANALYSES_LOGGED_PER_DEPLOYMENT', async () => {
    const entry = (seq: number) => ({ deploymentId: 'dep-1', seq, phase: 'canary' as const, weight: 0.25 });
    await logDeploymentAnalysis(t.store, entry(1), { verdict: 'inconclusive', reasons: ['first try'], detail: { n: 1 } });
    await logDeploymentAnalysis(t.store, entry(1), { verdict: 'pass', reasons: ['retried'], detail: { n: 2 } });
    await logDeploymentAnalysis(t.store, { ...entry(1), deploymentId: 'dep-2' }, { verdict: 'fail', reasons: ['other deployment'], detail: null });
    expect((await recentDeploymentAnalyses(t.store, 'dep-1')).map((a) => [a.seq, a.verdict, a.reasons, a.detail])).toEqual([[1, 'pass', ['retried'], { n: 2 }]]);

    for (let seq = 2; seq <= ANALYSES_LOGGED_PER_DEPLOYMENT + 3; seq++) await logDeploymentAnalysis(t.store, entry(seq), { verdict: 'pass', reasons: [], detail: {} });
    const rows = await t.store.db.selectFrom('deployment_analyses').select('seq').where('deployment_id', '=', 'dep-1').orderBy('seq').execute();
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: ANALYSES_LOGGED_PER_DEPLOYMENT }, (_, i) => i + 4));
    expect((await recentDeploymentAnalyses(t.store, 'dep-1', 3)).map((a) => a.seq)).toEqual([ANALYSES_LOGGED_PER_DEPLOYMENT + 1, ANALYSES_LOGGED_PER_DEPLOYMENT + 2, ANALYSES_LOGGED_PER_DEPLOYMENT + 3]);
    expect(await recentDeploymentAnalyses(t.store, 'dep-2')).toHaveLength(1);
  });

  it('names what is wrong with an entry', async () => {
    await expect(logDeploymentAnalysis(t.store, { deploymentId: '', seq: 0, phase: 'canary', weight: 2 }, { verdict: 'pass', reasons: [], detail: {} })).rejects.toThrow(/invalid analysis log entry: .*deploymentId/);
  });
});
