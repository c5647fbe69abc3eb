/**
 * An S3-compatible artifact store that fails (versitygw, a closed port): what the store cannot
 * answer is never taken for a verdict on an artifact. A refused connection during verification is
 * thrown as a plain error (the activities retry it; the API keeps serving), not as a failed
 * verification; monitoring reports the store unreadable, not the artifact damaged. A broken disk under
 * the read-through cache only costs the cache: reads and writes go to the bucket.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { deploymentActivities } from '../../activities/deployment';
import { checkArtifactStore, localArtifactStore, S3ArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { parseMonitoringRules } from '../../lib/monitoring/monitoring-rules';
import { checkServedArtifacts, evaluateServedArtifacts } from '../../lib/monitoring/served-artifacts';
import { registerModel, verifyRegisteredVersion } from '../../lib/registry/model-registry';
import { artifactKey, putArtifact, readArtifact } from '../../lib/registry/artifact-store';
import { ArtifactVerificationError } from '../../lib/registry/verify-artifact';
import { BadInputError } from '../../lib/errors';
import { asTemporalFailure } from '../../activities/failures';
import { ArtifactError, encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
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

  /** Every file under `dir` (relative paths). */
  const filesUnder = (dir: string): string[] => (fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile()) : []);

  it('a cache folder that cannot be used (a file where the folder should be: ENOTDIR) leaves reads and writes to the bucket, with one warning', async () => {
    const writer = open(s3.location());
    const bytes = Buffer.from(`model-bytes-${Date.now()}`);
    const { sha256 } = await putArtifact(writer, bytes);
    const blocker = path.join(tempDir('mlp-s3-blocked-'), 'not-a-folder');
    fs.writeFileSync(blocker, 'x');
    const warnings = jest.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const broken = open({ ...s3.location(), cacheDir: path.join(blocker, 'cache') });
      expect((await readArtifact(broken, sha256)).equals(bytes)).toBe(true);
      expect((await readArtifact(broken, sha256)).equals(bytes)).toBe(true); // read again: still from the bucket
      const mine = Buffer.from(`other-bytes-${Date.now()}`);
      const written = await putArtifact(broken, mine);
      expect(written.stored).toBe('written');
      expect(fs.readFileSync(path.join(s3.dir, s3.bucket, 'artifacts', artifactKey(written.sha256)))).toEqual(mine);
      expect(await putArtifact(broken, mine)).toMatchObject({ stored: 'kept' });
      const logged = warnings.mock.calls.map((c) => JSON.parse(String(c[0])) as { event: string; code: string; dir: string });
      expect(logged).toEqual([expect.objectContaining({ event: 'artifact_cache_unusable', code: 'ENOTDIR', dir: path.join(blocker, 'cache') })]);
    } finally {
      warnings.mockRestore();
    }
  });

  it('a cache disk that fills up mid-write (ENOSPC) leaves reads and writes to the bucket and no temporary file behind', async () => {
    const writer = open(s3.location());
    const bytes = Buffer.from(`model-bytes-full-${Date.now()}`);
    const { sha256 } = await putArtifact(writer, bytes);
    const location = s3.location();
    const full = open(location);
    // What a full disk does: the temporary file is created, then its bytes do not fit.
    const writeFileSync = fs.writeFileSync;
    const noSpace = jest.spyOn(fs, 'writeFileSync').mockImplementation((file, data, options) => {
      if (String(file).startsWith(location.cacheDir)) {
        writeFileSync(file, '', options);
        throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC', errno: -28, syscall: 'write' });
      }
      writeFileSync(file, data, options);
    });
    const warnings = jest.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect((await readArtifact(full, sha256)).equals(bytes)).toBe(true);
      const mine = Buffer.from(`other-bytes-full-${Date.now()}`);
      expect(await putArtifact(full, mine)).toMatchObject({ stored: 'written' });
      expect((await readArtifact(open(s3.location()), sha256)).equals(bytes)).toBe(true);
      expect(noSpace).toHaveBeenCalled();
      expect(filesUnder(location.cacheDir)).toEqual([]); // neither the objects nor a zero-byte *.tmp
      expect(warnings.mock.calls.map((c) => (JSON.parse(String(c[0])) as { code: string }).code)).toEqual(['ENOSPC']);
    } finally {
      noSpace.mockRestore();
      warnings.mockRestore();
    }
  });

  it('the cache removes temporary files that writers dying mid-write left, once they are old', async () => {
    const location = s3.location({ cacheMaxBytes: 100 });
    const store = open(location);
    const folder = path.join(location.cacheDir, 'models', 'aa');
    fs.mkdirSync(folder, { recursive: true });
    const old = path.join(folder, 'left.mlpa.0123456789ab.tmp');
    const recent = path.join(folder, 'writing.mlpa.ba9876543210.tmp');
    fs.writeFileSync(old, '');
    fs.writeFileSync(recent, '');
    const hoursAgo = new Date(Date.now() - 2 * 3600_000);
    fs.utimesSync(old, hoursAgo, hoursAgo);
    expect(store.cache.bytesHeld).toBe(0);
    expect(fs.existsSync(old)).toBe(false);
    expect(fs.existsSync(recent)).toBe(true); // a live writer's
  });

  it('a server that accepts the connection and never answers fails the read within the timeouts, with an error naming the store', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    try {
      const hung = open({ ...s3.location(), endpoint, idleTimeoutMs: 400 });
      const started = Date.now();
      const error = await readArtifact(hung, 'a'.repeat(64)).then(() => undefined, (e: unknown) => e);
      const took = Date.now() - started;
      expect((error as Error).message).toMatch(new RegExp(`^object store s3://mlp-test/artifacts at ${endpoint.replace(/\./g, '\\.')}: GET s3://mlp-test/artifacts/models/aa/a{64}\\.mlpa failed \\(TimeoutError: .*timed out after 400 ms`));
      expect(error).not.toBeInstanceOf(ArtifactError);
      expect(sockets.length).toBeGreaterThanOrEqual(4); // each attempt timed out and was retried (4 attempts)
      expect(took).toBeLessThan(15_000); // 4 × 400 ms and the SDK's back-off, not for ever
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  }, 30_000);

  it('a bucket that does not exist is a store failure saying so, not a missing artifact; the store check at a process\'s start refuses it', async () => {
    const version = await register('wrong-bucket', 2);
    const wrong = open({ ...s3.location(), bucket: 'mlp-test-typo' });
    const noBucket = new RegExp(`^object store s3://mlp-test-typo/artifacts at ${s3.endpoint.replace(/\./g, '\\.')}: bucket mlp-test-typo does not exist at ${s3.endpoint.replace(/\./g, '\\.')}; check the bucket in ARTIFACT_URL and S3_ENDPOINT`);
    const read = await readArtifact(wrong, 'b'.repeat(64)).then(() => undefined, (e: unknown) => e);
    expect((read as Error).message).toMatch(noBucket);
    expect(read).not.toBeInstanceOf(ArtifactError); // not "missing … restore the object"
    await expect(putArtifact(wrong, Buffer.from(`bytes-${Date.now()}`))).rejects.toThrow(noBucket);
    const verified = await verifyRegisteredVersion(t.store, wrong, 'wrong-bucket', version).then(() => undefined, (e: unknown) => e);
    expect((verified as Error).message).toMatch(noBucket);
    expect(verified).not.toBeInstanceOf(ArtifactVerificationError);
    const checks = await checkServedArtifacts(t.store, wrong, [{ model: 'wrong-bucket', version, variants: ['champion'], champion: true }]);
    expect(checks.map((c) => c.problem?.kind)).toEqual(['unreadable']); // not 'missing'

    await expect(checkArtifactStore(wrong)).rejects.toThrow(noBucket);
    await expect(checkArtifactStore(open(s3.location()))).resolves.toBeUndefined();
    await expect(checkArtifactStore(localArtifactStore(tempDir('mlp-local-')))).resolves.toBeUndefined();
    // A store down at start is no reason to refuse it: each request retries later.
    await expect(checkArtifactStore(open({ ...s3.location(), endpoint: `http://127.0.0.1:${await freePort()}` }))).resolves.toBeUndefined();
  }, 60_000);
});
