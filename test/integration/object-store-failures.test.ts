/**
 * An S3-compatible artifact store that fails (versitygw, a closed port): what the store cannot
 * answer is never taken for a verdict on an artifact. A refused connection during verification is
 * thrown as a plain error (the activities retry it; the API keeps serving), not as a failed
 * verification; monitoring reports the store unreadable, not the artifact damaged.
 */
import { deploymentActivities } from '../../activities/deployment';
import { S3ArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { parseMonitoringRules } from '../../lib/monitoring/monitoring-rules';
import { checkServedArtifacts, evaluateServedArtifacts } from '../../lib/monitoring/served-artifacts';
import { registerModel, verifyRegisteredVersion } from '../../lib/registry/model-registry';
import { ArtifactVerificationError } from '../../lib/registry/verify-artifact';
import { BadInputError } from '../../lib/errors';
import { asTemporalFailure } from '../../activities/failures';
import { ArtifactError, encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { createSqliteTestDatabase, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { startTestObjectStore, type TestObjectStore } from '../helpers/object-store';
import { returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';
import { freePort } from '../helpers/worker-process';

const LABEL = { kind: 'direction', horizon: 5 };

describe('an artifact store that cannot be read is no verdict on the artifacts (versitygw)', () => {
  let s3: TestObjectStore;
  let t: TestDatabase;
  const stores: S3ArtifactStore[] = [];
  const open = (location: ConstructorParameters<typeof S3ArtifactStore>[0]): S3ArtifactStore => {
    const store = new S3ArtifactStore(location);
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    s3 = await startTestObjectStore();
    t = await createSqliteTestDatabase();
  }, 600_000); // the first run on a machine builds versitygw (about 3 minutes)
  afterAll(async () => {
    for (const s of stores) s.destroy();
    await t?.drop();
    await s3?.stop();
  });

  async function register(name: string, seed: number): Promise<number> {
    const { version: featureSetVersion, columns } = await saveTestFeatureSet(t.store, returnsFeatureSet('object-store-failures'));
    const d = separable(200, 5, seed);
    const model = await logisticRegression.fit({ features: withColumns(d.x, columns), labels: d.y, classes: 2, seed }, {});
    const v = await registerModel(t.store, open(s3.location()), {
      name, artifact: encodeArtifact(model.state(), { featureSetVersion, label: LABEL }), algorithm: 'logistic_regression', params: {}, seed, featureSetVersion, label: LABEL,
      ...UNTRACKED_REGISTRATION, registrationKey: `${name}/${seed}`,
    });
    return v.version;
  }

  it('verification against an unreachable store throws a retryable store error: deployments retry, monitoring does not call the artifact damaged', async () => {
    const version = await register('unreachable', 1);
    const down = open({ ...s3.location(), endpoint: `http://127.0.0.1:${await freePort()}` });

    const error = await verifyRegisteredVersion(t.store, down, 'unreachable', version).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(ArtifactError); // hence not ArtifactVerificationError either
    expect(error).not.toBeInstanceOf(BadInputError);
    expect((error as Error).message).toMatch(/^object store s3:\/\/mlp-test\/artifacts at http:\/\/127\.0\.0\.1:\d+: GET .* failed \(.*ECONNREFUSED/);
    // What the activities throw for it is retried by Temporal (not a non-retryable ApplicationFailure).
    expect(asTemporalFailure(error)).toBe(error);

    const deployment = deploymentActivities({ store: t.store, cache: new MemoryCache(), artifacts: down, signing: { signingKey: undefined } });
    await expect(deployment.verifyDeploymentVersions({ model: 'unreachable', challengerVersion: version })).rejects.toThrow(/ECONNREFUSED/);
    await expect(deployment.verifyDeploymentVersions({ model: 'unreachable', championVersion: version })).rejects.not.toBeInstanceOf(ArtifactVerificationError);

    const checks = await checkServedArtifacts(t.store, down, [{ model: 'unreachable', version, variants: ['champion'], champion: true }]);
    expect(checks.map((c) => c.problem?.kind)).toEqual(['unreadable']);
    const { findings } = evaluateServedArtifacts(checks, parseMonitoringRules({}));
    expect(findings.map((f) => [f.alert.rule, f.alert.severity, f.alert.subject])).toEqual([['artifact_store_unreadable', 'warning', `artifact store ${down.description}`]]);
    expect(findings[0].alert.message).toContain(`the stored copies of unreachable v${version} (champion) could not be checked`.replace(/^t/, 'T'));

    // The same version through the reachable store verifies: the artifact was fine all along.
    await expect(verifyRegisteredVersion(t.store, open(s3.location()), 'unreachable', version)).resolves.toMatchObject({ version: { version } });
  }, 60_000);
});
