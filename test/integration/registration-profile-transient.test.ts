/**
 * The drift reference profile a registration stores, when the stores fail on the way. A read that
 * fails once (an object store timing out, a database connection reset) failed the profile only: the
 * activity completed without one, and nothing ever built it. Now such a failure fails the attempt,
 * and the retry (which finds its registered version by its registration key) stores the profile,
 * with one version registered. A profile that can never be built (the run's dataset gone) is still
 * skipped, and monitoring says why, truthfully, and alerts it. The real activity in a mock activity
 * context, on SQLite.
 */
import fs from 'node:fs';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { experimentActivities, type RegisterInput, type RegisterResult } from '../../activities/experiments';
import { localArtifactStore, type ArtifactStore } from '../../lib/artifacts/artifact-store';
import { experimentSchema } from '../../lib/experiments/experiment';
import { computeModelReport, missingProfileReason } from '../../lib/monitoring/model-report';
import { evaluateModelReport, parseMonitoringRules } from '../../lib/monitoring/monitoring-rules';
import { hasReferenceProfile } from '../../lib/monitoring/profile-store';
import { listModelVersions } from '../../lib/registry/model-registry';
import type { Database } from '../../lib/store/database';
import type { TaskPool } from '../../lib/threads/task-pool';
import { loadModelRuntimes } from '../../models/algorithms';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { returnsFeatureSet, saveTestFeatureSet, trainedRun, type TestFeatureSet } from '../helpers/registration';

describe('a registration\'s reference profile when a store fails on the way', () => {
  let t: TestDatabase;
  const dir = tempDir('mlp-profile-transient-');
  const local = localArtifactStore(dir);
  let featureSet: TestFeatureSet;
  // What fails next: the next read of a training dataset, or the next read of a feature set once a dataset was read.
  const failing = { dataset: false, featureSetAfterDataset: false, armed: false };
  const flaky: ArtifactStore = Object.assign(Object.create(Object.getPrototypeOf(local) as object) as ArtifactStore, local, {
    get: async (...args: Parameters<ArtifactStore['get']>) => {
      if (args[0].startsWith('datasets/')) {
        if (failing.dataset) {
          failing.dataset = false;
          throw Object.assign(new Error(`read ETIMEDOUT ${args[0]}`), { code: 'ETIMEDOUT' });
        }
        if (failing.featureSetAfterDataset) failing.armed = true;
      }
      return local.get(...args);
    },
  });
  let store: Database;

  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    await loadModelRuntimes();
    featureSet = await saveTestFeatureSet(t.store, returnsFeatureSet('profile-transient', 3));
    // The database, but a read of feature_sets fails once when armed (a connection reset).
    const db = new Proxy(t.store.db, {
      get(target, prop, receiver) {
        if (prop === 'selectFrom') {
          return (table: unknown) => {
            if (table === 'feature_sets' && failing.armed) {
              failing.armed = false;
              failing.featureSetAfterDataset = false;
              throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
            }
            return (target.selectFrom as (t: unknown) => unknown)(table);
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    store = { ...t.store, db } as Database;
  });
  afterAll(async () => {
    await t?.drop();
  });

  async function runInput(name: string, seed: number): Promise<RegisterInput> {
    const { ds, datasetId, sha256 } = await trainedRun(local, featureSet, { symbols: 4, days: 160, seed });
    const experiment = experimentSchema.parse({ name, label: ds.label, seed, algorithms: [{ algorithm: 'logistic_regression' }] });
    return {
      experiment,
      algorithm: 'logistic_regression',
      params: {},
      artifactSha256: sha256,
      datasetId,
      featureSetVersion: ds.featureSetVersion,
      metrics: { outOfSample: { period: { from: '2019-01-02', to: '2019-08-30', days: 160, rows: 640 } } },
      lineage: {},
      scores: { auc: 0.5, accuracyLift: 0, sharpe: 0, shuffledLabelPassed: true, bestOfRun: true, candidatesCompared: 1 },
      workflowId: `wf-${name}`,
      runId: 'r1',
    };
  }
  const register = (input: RegisterInput): Promise<RegisterResult> => new MockActivityEnvironment().run(experimentActivities({ store, artifacts: flaky, trainingPool: {} as TaskPool }).registerAndPromote, input);

  it('a dataset read that times out once fails the attempt; the retry stores the profile, one version registered', async () => {
    const input = await runInput('profile-timeout', 3);
    failing.dataset = true;
    await expect(register(input)).rejects.toThrow(/read ETIMEDOUT datasets\//);
    // The profile is built before the row is registered: the failed attempt registered nothing.
    expect((await listModelVersions(t.store, 'profile-timeout')).map((v) => v.version)).toEqual([]);
    const retried = await register(input);
    expect(retried.version.version).toBe(1);
    expect(retried.identicalToEarlier).toBe(false);
    expect(await hasReferenceProfile(t.store, 'profile-timeout', 1)).toBe(true);
    expect((await listModelVersions(t.store, 'profile-timeout')).map((v) => v.version)).toEqual([1]);
  });

  it('a feature-set read that fails once while the profile reads its look-backs fails the attempt (not a profile without look-backs for good)', async () => {
    const input = await runInput('profile-lookbacks', 4);
    failing.featureSetAfterDataset = true;
    await expect(register(input)).rejects.toThrow(/ECONNRESET/);
    expect(await hasReferenceProfile(t.store, 'profile-lookbacks', 1)).toBe(false);
    const retried = await register(input);
    expect(retried.version.version).toBe(1);
    expect(await hasReferenceProfile(t.store, 'profile-lookbacks', 1)).toBe(true);
  });

  it('a dataset gone for good is skipped; monitoring says the version has no profile, why, and alerts it', async () => {
    const input = await runInput('profile-gone', 5);
    fs.rmSync(path.join(dir, 'datasets', `${input.datasetId}.mlpd`));
    const result = await register(input);
    expect(result.version.version).toBe(1);
    expect(await hasReferenceProfile(t.store, 'profile-gone', 1)).toBe(false);
    const rules = parseMonitoringRules({});
    const report = await computeModelReport(t.store, { id: 'mr-profile-gone', target: { model: 'profile-gone', version: 1, variants: ['champion'], champion: true }, windowDays: 10, rules, now: new Date('2019-09-10T22:00:00Z'), verify: {} });
    expect(report.drift.status).toBe('unavailable');
    expect(report.drift.reason).not.toMatch(/registered outside a training run/);
    expect(report.drift.reason).toMatch(/^no reference profile is stored for profile-gone v1, which training run wf-profile-gone registered from dataset td-\w+: its registration could not build or store one/);
    const alerts = evaluateModelReport(report, rules).findings.map((f) => f.alert).filter((a) => a.rule === 'reference_profile_missing');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: 'warning', subject: 'reference profile of model profile-gone v1' });
    expect(alerts[0].message).toMatch(/drift are not judged while it serves/);
    // A version registered outside a training run never had one: said so, and nothing raised for it.
    expect(missingProfileReason({ name: 'by-hand', version: 2, workflowId: null, lineage: {} })).toBe('no reference profile is stored for by-hand v2: it was registered outside a training run (its lineage names no training dataset), so none was built');
    const byHand = { ...report, reference: { available: false, reason: 'outside' } };
    expect(evaluateModelReport(byHand, rules).findings.filter((f) => f.alert.rule === 'reference_profile_missing')).toEqual([]);
  });
});
