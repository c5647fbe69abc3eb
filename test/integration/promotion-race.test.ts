/**
 * Two promotions of one model at once (MariaDB): a run judged for the empty champion slot must not
 * land over a champion another run (or a deployment) made while it was being judged. The run is held
 * at its challenge's insert by a lock the test takes on the model's challenges; meanwhile another
 * version becomes champion; then the lock is released. registerAndPromote, the real activity in a
 * mock activity context.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { createConnection, type Connection } from 'mysql2/promise';
import { experimentActivities, type RegisterResult } from '../../activities/experiments';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { experimentSchema } from '../../lib/experiments/experiment';
import { listChallenges } from '../../lib/registry/challenges';
import { aliasHistory, aliasVersion, moveAlias } from '../../lib/registry/model-registry';
import type { MetricEvidence } from '../../lib/registry/promotion';
import type { TaskPool } from '../../lib/threads/task-pool';
import { loadModelRuntimes } from '../../models/algorithms';
import { createMysqlTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { returnsFeatureSet, saveTestFeatureSet, type TestFeatureSet, trainedRun } from '../helpers/registration';
import { until } from '../helpers/until';

jest.setTimeout(120_000);

describe('a promotion racing another (mysql)', () => {
  let t: TestDatabase;
  let lock: Connection;
  let FEATURE_SET: TestFeatureSet;
  const artifacts = localArtifactStore(tempDir('mlp-promotion-race-'));
  beforeAll(async () => {
    t = await createMysqlTestDatabase();
    lock = await createConnection(t.url);
    await loadModelRuntimes();
    FEATURE_SET = await saveTestFeatureSet(t.store, returnsFeatureSet('promotion-race', 3));
  });
  afterAll(async () => {
    await lock?.end();
    await t?.drop();
  });

  const evidence = (pValue: number): MetricEvidence => ({ versus: 'momentum_sign', difference: 0.02, lower: 0.001, pValue });

  /** Registers (and judges) one run's best model; resolves with the activity's answer. */
  async function run(name: string, seed: number): Promise<RegisterResult> {
    const activities = experimentActivities({ store: t.store, artifacts, trainingPool: {} as TaskPool });
    const { ds, datasetId, sha256 } = await trainedRun(artifacts, FEATURE_SET, { symbols: 4, days: 120, seed });
    const experiment = experimentSchema.parse({ name, label: ds.label, seed, algorithms: [{ algorithm: 'logistic_regression' }], promotion: { alpha: 0.05, margin: 0.005 } });
    return new MockActivityEnvironment().run(activities.registerAndPromote, {
      experiment,
      algorithm: 'logistic_regression',
      params: {},
      artifactSha256: sha256,
      datasetId,
      featureSetVersion: ds.featureSetVersion,
      metrics: { outOfSample: { period: { from: '2019-01-02', to: '2020-12-31', days: 504, rows: 20_000 } } },
      lineage: {},
      scores: { auc: 0.56, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true, bestOfRun: true, candidatesCompared: 1, evidence: { auc: evidence(0.0001) } },
      workflowId: `wf-${name}-${seed}`,
      runId: 'r',
    });
  }

  /** Whether a statement of this test's database starting with `prefix` is under way (waiting for a lock, here). */
  const running = async (prefix: string) => {
    const [rows] = await lock.query('select count(*) as n from information_schema.processlist where db = ? and command = ? and id <> connection_id() and info like ?', [new URL(t.url).pathname.slice(1), 'Query', `${prefix}%`]);
    return Number((rows as Array<{ n: number }>)[0].n) > 0;
  };

  it('a first champion judged while another became champion is not moved over it', async () => {
    const name = 'race';
    // Another run's version, registered and promoted first (below, while this run is judged).
    const other = await run(name, 1);
    expect(other.decision.promote).toBe(true);
    await moveAlias(t.store, { name, alias: 'champion', version: undefined, movedBy: 'test', reason: 'the slot empty again, as before the other run' });
    const before = (await aliasHistory(t.store, name)).length;

    await lock.query('begin');
    await lock.query('select * from promotion_challenges where model = ? for update', [name]);
    const pending = run(name, 2).then(
      (r) => ({ ok: true as const, r }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    await until('the run to wait at its challenge', () => running('insert into `promotion_challenges`'));
    // Meanwhile the other version becomes champion (a run or a deployment finishing first).
    await moveAlias(t.store, { name, alias: 'champion', version: other.version.version, movedBy: 'workflow other', reason: 'promoted first' });
    await lock.query('rollback');
    const late = await pending;
    if (!late.ok) throw late.e;

    expect(await aliasVersion(t.store, name, 'champion')).toBe(other.version.version);
    expect(late.r.decision).toEqual({ promote: false, reason: expect.stringMatching(new RegExp(`^not promoted: the champion became v${other.version.version} while this run was judged against no champion`)) });
    expect((await aliasHistory(t.store, name)).length).toBe(before + 1);
    expect((await listChallenges(t.store, name)).find((c) => c.challengerVersion === late.r.version.version)).toMatchObject({ promoted: false, reason: late.r.decision.reason });
  });
});
