/**
 * The S3-compatible artifact store against a real server (versitygw): objects are written once and
 * never overwritten, read through a size-bounded cache on this machine, and — the acceptance case —
 * a model artifact or dataset tampered in the object store is refused at load exactly as a
 * tampered local file is (same errors, same messages).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { deploymentActivities } from '../../activities/deployment';
import { S3ArtifactStore, localArtifactStore, type ArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { artifactKey, putArtifact, readArtifact } from '../../lib/registry/artifact-store';
import { loadRegisteredModel, registerModel } from '../../lib/registry/model-registry';
import { ArtifactVerificationError } from '../../lib/registry/verify-artifact';
import { fileDerived, readDerived } from '../../lib/artifacts/derived-file';
import { readDataset, writeDataset } from '../../lib/training/dataset';
import { encodeArtifact, ArtifactError } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { startTestObjectStore, type TestObjectStore } from '../helpers/object-store';
import { returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';
import { syntheticTrainingDataset } from '../helpers/training-dataset';
import { verifyRegisteredVersion } from '../../lib/registry/model-registry';

const LABEL = { kind: 'direction', horizon: 5 };

async function register(t: TestDatabase, artifacts: ArtifactStore, name: string, seed: number): Promise<{ version: number; sha: string }> {
  // Verification (hence loading) needs the feature set in the store; the model is trained on its columns.
  const { version: featureSetVersion, columns } = await saveTestFeatureSet(t.store, returnsFeatureSet('object-store'));
  const d = separable(200, 5, seed);
  const model = await logisticRegression.fit({ features: withColumns(d.x, columns), labels: d.y, classes: 2, seed }, {});
  const v = await registerModel(t.store, artifacts, {
    name, artifact: encodeArtifact(model.state(), { featureSetVersion, label: LABEL }), algorithm: 'logistic_regression', params: {}, seed, featureSetVersion, label: LABEL,
    ...UNTRACKED_REGISTRATION, registrationKey: `${name}/${seed}`,
  });
  return { version: v.version, sha: v.artifactSha256 };
}

describe('artifacts in an S3-compatible object store (versitygw)', () => {
  let s3: TestObjectStore;
  let t: TestDatabase;
  let raw: S3Client;

  beforeAll(async () => {
    s3 = await startTestObjectStore();
    t = await createSqliteTestDatabase();
    raw = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true });
  }, 600_000); // the first run on a machine builds versitygw (about 3 minutes)
  afterAll(async () => {
    raw?.destroy();
    await t?.drop();
    await s3?.stop();
  });

  /** Replaces an object's bytes behind the store's back (what a tampering hand or a bad disk does). */
  async function overwriteInStore(objectKey: string, change: (bytes: Buffer) => void): Promise<void> {
    const file = path.join(s3.dir, s3.bucket, objectKey);
    const bytes = fs.readFileSync(file);
    change(bytes);
    await raw.send(new PutObjectCommand({ Bucket: s3.bucket, Key: objectKey, Body: bytes }));
  }

  it('writes an object once under its key, never overwrites it, and reads it on another machine', async () => {
    const a = new S3ArtifactStore(s3.location());
    expect(await a.putIfAbsent('notes/one.txt', Buffer.from('first'))).toBe(true);
    expect(await a.putIfAbsent('notes/one.txt', Buffer.from('second'))).toBe(false);
    const b = new S3ArtifactStore(s3.location()); // empty cache: from the store
    expect((await b.get('notes/one.txt'))?.toString()).toBe('first');
    expect(await b.get('notes/absent.txt')).toBeUndefined();
    expect(a.urlOf('notes/one.txt')).toBe(`s3://${s3.bucket}/artifacts/notes/one.txt`);
    expect(fs.readFileSync(path.join(s3.dir, s3.bucket, 'artifacts', 'notes', 'one.txt'), 'utf8')).toBe('first');
    a.destroy();
    b.destroy();
  });

  it('reads through a size-bounded cache of immutable objects, and drops a damaged cached copy for the store\'s', async () => {
    const store = new S3ArtifactStore(s3.location({ cacheMaxBytes: 2500 }));
    const other = new S3ArtifactStore(s3.location());
    for (const i of [1, 2, 3]) await other.putIfAbsent(`blobs/${i}`, Buffer.alloc(1000, i));
    expect((await store.get('blobs/1'))?.[0]).toBe(1);
    await new Promise((r) => setTimeout(r, 20));
    expect((await store.get('blobs/2'))?.[0]).toBe(2);
    await new Promise((r) => setTimeout(r, 20));
    expect((await store.get('blobs/3'))?.[0]).toBe(3); // over 2500 bytes: the least recently used (1) goes
    const cached = (k: string) => fs.existsSync(path.join(store.location.cacheDir, k));
    expect([cached('blobs/1'), cached('blobs/2'), cached('blobs/3')]).toEqual([false, true, true]);
    expect(store.cache.bytesHeld).toBeLessThanOrEqual(2500);

    // Served from the cache: gone from the store, still readable here.
    fs.rmSync(path.join(s3.dir, s3.bucket, 'artifacts', 'blobs', '3'));
    expect((await store.get('blobs/3'))?.[0]).toBe(3);
    // A cached copy that fails the caller's check is replaced by the store's.
    fs.writeFileSync(path.join(store.location.cacheDir, 'blobs', '2'), Buffer.alloc(1000, 9));
    expect((await store.get('blobs/2', (b) => b[0] === 2))?.[0]).toBe(2);
    store.destroy();
    other.destroy();
  });

  it('registers a model into the store and loads it on a machine with an empty cache', async () => {
    const writer = new S3ArtifactStore(s3.location());
    const { version, sha } = await register(t, writer, 's3-load', 1);
    expect(fs.existsSync(path.join(s3.dir, s3.bucket, 'artifacts', artifactKey(sha)))).toBe(true);
    const reader = new S3ArtifactStore(s3.location());
    const { model } = await loadRegisteredModel(t.store, reader, 's3-load', version);
    expect(model.classes).toBe(2);
    writer.destroy();
    reader.destroy();
  });

  it('refuses a model artifact tampered in the object store exactly as a tampered local file', async () => {
    // Local directory: the existing behaviour.
    const dir = tempDir('mlp-s3-local-');
    const local = localArtifactStore(dir);
    const l = await register(t, local, 'tamper-local', 7);
    const file = path.join(dir, artifactKey(l.sha));
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 40] ^= 1;
    fs.writeFileSync(file, bytes);
    const localError = await loadRegisteredModel(t.store, local, 'tamper-local', l.version).catch((e: unknown) => e);

    // Object store: the same bytes, flipped the same way, in the bucket.
    const writer = new S3ArtifactStore(s3.location());
    const s = await register(t, writer, 'tamper-s3', 7);
    expect(s.sha).toBe(l.sha);
    await overwriteInStore(`artifacts/${artifactKey(s.sha)}`, (b) => {
      b[b.length - 40] ^= 1;
    });
    const fresh = new S3ArtifactStore(s3.location()); // another machine: nothing cached
    const s3Error = await loadRegisteredModel(t.store, fresh, 'tamper-s3', s.version).catch((e: unknown) => e);

    for (const error of [localError, s3Error]) {
      expect(error).toBeInstanceOf(ArtifactVerificationError);
      expect(error).toBeInstanceOf(ArtifactError);
      expect((error as Error).message).toMatch(/artifact failed verification: artifact .* does not match its sha256: the file was modified or corrupted/);
    }
    expect((s3Error as Error).message).toContain(`s3://${s3.bucket}/artifacts/${artifactKey(s.sha)}`);
    await expect(verifyRegisteredVersion(t.store, fresh, 'tamper-s3', s.version)).rejects.toThrow(/does not match its sha256/);
    // The tampered copy was never cached: a repaired object loads.
    await overwriteInStore(`artifacts/${artifactKey(s.sha)}`, (b) => {
      b[b.length - 40] ^= 1;
    });
    await expect(loadRegisteredModel(t.store, fresh, 'tamper-s3', s.version)).resolves.toBeDefined();
    writer.destroy();
    fresh.destroy();
  });

  it('refuses a model artifact tampered in the object store on the machine that caches it intact too: verification judges the store\'s copy', async () => {
    // The worker that registered the model caches what it wrote, and is the one whose deployment
    // activities verify the versions before every analysis and traffic move.
    const worker = new S3ArtifactStore(s3.location());
    const { version, sha } = await register(t, worker, 'tamper-cached', 31);
    const cached = path.join(worker.location.cacheDir, artifactKey(sha));
    expect(fs.existsSync(cached)).toBe(true);
    await expect(verifyRegisteredVersion(t.store, worker, 'tamper-cached', version)).resolves.toBeDefined();
    await overwriteInStore(`artifacts/${artifactKey(sha)}`, (b) => {
      b[b.length - 40] ^= 1;
    });
    // Every machine without the cached copy (a new API process, another worker) refuses it now, so
    // the deployment must see it too, whatever its machine caches.
    const fresh = new S3ArtifactStore(s3.location());
    await expect(verifyRegisteredVersion(t.store, fresh, 'tamper-cached', version)).rejects.toThrow(/does not match its sha256/);
    await expect(verifyRegisteredVersion(t.store, worker, 'tamper-cached', version)).rejects.toThrow(
      new RegExp(`tamper-cached v${version} artifact failed verification: artifact s3://${s3.bucket}/artifacts/${artifactKey(sha)} does not match its sha256`),
    );
    await expect(loadRegisteredModel(t.store, worker, 'tamper-cached', version)).rejects.toThrow(/does not match its sha256/);
    // A canary of it on this worker is rolled back at its next analysis or traffic move, as with a local file.
    const deployment = deploymentActivities({ store: t.store, cache: new MemoryCache(), artifacts: worker, signing: { signingKey: undefined } });
    expect(await deployment.verifyDeploymentVersions({ model: 'tamper-cached', challengerVersion: version })).toEqual([{ role: 'challenger', version, reason: expect.stringMatching(/does not match its sha256/) }]);
    // The machine's intact copy is kept (it is the right content): reading by hash still serves it, and the store is repaired by writing the model again.
    expect(fs.existsSync(cached)).toBe(true);
    expect((await readArtifact(worker, sha)).byteLength).toBeGreaterThan(0);
    expect((await register(t, worker, 'tamper-cached', 31)).version).toBe(version);
    await expect(verifyRegisteredVersion(t.store, worker, 'tamper-cached', version)).resolves.toBeDefined();
    await expect(verifyRegisteredVersion(t.store, fresh, 'tamper-cached', version)).resolves.toBeDefined();
    // A missing object is missing for verification too, not served from the cache.
    await raw.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: `artifacts/${artifactKey(sha)}` }));
    await expect(verifyRegisteredVersion(t.store, worker, 'tamper-cached', version)).rejects.toThrow(new RegExp(`artifact ${sha} is missing from s3://${s3.bucket}/artifacts`));
    worker.destroy();
    fresh.destroy();
  });

  it('re-registering a model repairs an object damaged in the store (even one this machine caches intact) and leaves an intact one alone', async () => {
    const writer = new S3ArtifactStore(s3.location());
    const { version, sha } = await register(t, writer, 's3-repair', 21);
    const objectFile = path.join(s3.dir, s3.bucket, 'artifacts', artifactKey(sha));
    expect(fs.existsSync(path.join(writer.location.cacheDir, artifactKey(sha)))).toBe(true); // the writer caches what it wrote
    await overwriteInStore(`artifacts/${artifactKey(sha)}`, (b) => {
      b[b.length - 40] ^= 1;
    });
    const reader = new S3ArtifactStore(s3.location());
    await expect(verifyRegisteredVersion(t.store, reader, 's3-repair', version)).rejects.toThrow(/does not match its sha256/);

    // The same registration again (same key, same bytes), from the machine whose cache still holds the intact copy.
    expect((await register(t, writer, 's3-repair', 21)).version).toBe(version);
    expect(createHash('sha256').update(fs.readFileSync(objectFile)).digest('hex')).toBe(sha);
    const another = new S3ArtifactStore(s3.location()); // nothing cached: the store's copy
    await expect(verifyRegisteredVersion(t.store, another, 's3-repair', version)).resolves.toBeDefined();

    // An intact object is not written again.
    const before = fs.statSync(objectFile).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    expect((await putArtifact(writer, fs.readFileSync(objectFile))).stored).toBe('kept');
    await register(t, writer, 's3-repair', 21);
    expect(fs.statSync(objectFile).mtimeMs).toBe(before);
    for (const s of [writer, reader, another]) s.destroy();
  });

  it('rebuilding a training dataset damaged in the store (even one this machine caches intact) repairs it, and leaves an intact one alone; so does filing a derived file again', async () => {
    const build = () => syntheticTrainingDataset({ days: 60, seed: 5 });
    const writer = new S3ArtifactStore(s3.location());
    const { id } = await writeDataset(writer, build());
    const objectFile = path.join(s3.dir, s3.bucket, 'artifacts', 'datasets', `${id}.mlpd`);
    const intact = fs.readFileSync(objectFile);
    expect(fs.existsSync(path.join(writer.location.cacheDir, 'datasets', `${id}.mlpd`))).toBe(true); // the writer caches what it wrote
    await overwriteInStore(`artifacts/datasets/${id}.mlpd`, (b) => {
      b[Math.floor(b.length / 2)] ^= 0xff;
    });
    const reader = new S3ArtifactStore(s3.location());
    await expect(readDataset(reader, id)).rejects.toThrow(/does not match its id: modified or corrupted; rebuild it/);
    // Rebuilt as prepareTrainingDataset writes it, on the machine whose cache still holds the intact copy.
    expect(await writeDataset(writer, build())).toMatchObject({ id, stored: 'replaced' });
    expect(fs.readFileSync(objectFile).equals(intact)).toBe(true);
    const another = new S3ArtifactStore(s3.location()); // nothing cached: the store's copy
    expect((await readDataset(another, id)).values).toEqual(build().values);
    // An intact object is not written again.
    const before = fs.statSync(objectFile).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    expect((await writeDataset(writer, build())).stored).toBe('kept');
    expect(fs.statSync(objectFile).mtimeMs).toBe(before);

    const keyOf = (sha: string) => `derived/${sha}.json`;
    const value = { drift: [0.25, 1 / 3] };
    const { sha256 } = await fileDerived(writer, keyOf, value);
    const derivedFile = path.join(s3.dir, s3.bucket, 'artifacts', keyOf(sha256));
    await overwriteInStore(`artifacts/${keyOf(sha256)}`, (b) => {
      b[0] ^= 1;
    });
    const derivedReader = new S3ArtifactStore(s3.location());
    expect(await readDerived(derivedReader, keyOf, sha256)).toBeUndefined();
    await fileDerived(writer, keyOf, value);
    const derivedAnother = new S3ArtifactStore(s3.location());
    expect(await readDerived(derivedAnother, keyOf, sha256)).toEqual(value);
    const derivedBefore = fs.statSync(derivedFile).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    await fileDerived(writer, keyOf, value);
    expect(fs.statSync(derivedFile).mtimeMs).toBe(derivedBefore);
    for (const s of [writer, reader, another, derivedReader, derivedAnother]) s.destroy();
  });

  it('refuses a training dataset tampered in the object store, and names a missing one', async () => {
    const writer = new S3ArtifactStore(s3.location());
    const { id } = await writeDataset(writer, syntheticTrainingDataset({ days: 60, seed: 3 }));
    await overwriteInStore(`artifacts/datasets/${id}.mlpd`, (b) => {
      b[b.length - 1] ^= 1;
    });
    const fresh = new S3ArtifactStore(s3.location());
    await expect(readDataset(fresh, id)).rejects.toThrow(new RegExp(`s3://${s3.bucket}/artifacts/datasets/${id}.mlpd does not match its id: modified or corrupted`));
    await expect(readDataset(fresh, 'td-00000000000000000000000000000000')).rejects.toThrow(/is not in s3:\/\/mlp-test\/artifacts/);
    writer.destroy();
    fresh.destroy();
  });
});
