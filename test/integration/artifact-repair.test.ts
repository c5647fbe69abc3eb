/**
 * A damaged stored copy of a model artifact (bytes that no longer hash to its address) is repaired
 * by writing the model again: re-registering it (same registration key, same bytes) or saving the
 * final model again (putArtifact) replaces the file atomically with the right bytes, after which
 * verification passes. An intact stored copy is never rewritten.
 */
import fs from 'node:fs';
import path from 'node:path';
import { localArtifactStore, type ArtifactStore } from '../../lib/artifacts/artifact-store';
import { artifactKey, putArtifact } from '../../lib/registry/artifact-store';
import { registerModel, verifyRegisteredVersion, type RegisterModelInput } from '../../lib/registry/model-registry';
import { encodeArtifact, sha256 } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { defineTestFeatureSet, returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';

const FEATURES = returnsFeatureSet('repair');
const { version: FS, columns: COLUMNS } = defineTestFeatureSet(FEATURES);
const LABEL = { kind: 'direction', horizon: 5 };

async function registration(name: string, seed: number): Promise<RegisterModelInput> {
  const d = separable(200, 5, seed);
  const model = await logisticRegression.fit({ features: withColumns(d.x, COLUMNS), labels: d.y, classes: 2, seed }, {});
  return {
    ...UNTRACKED_REGISTRATION,
    name, artifact: encodeArtifact(model.state(), { featureSetVersion: FS, label: LABEL }), algorithm: 'logistic_regression', params: {}, seed, featureSetVersion: FS, label: LABEL,
    registrationKey: `${name}/${seed}`,
  };
}

describe('re-writing a model repairs its damaged stored artifact (local directory)', () => {
  let t: TestDatabase;
  let dir: string;
  let artifacts: ArtifactStore;

  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    dir = tempDir('mlp-repair-');
    artifacts = localArtifactStore(dir);
    await saveTestFeatureSet(t.store, FEATURES);
  });
  afterAll(async () => {
    await t?.drop();
  });

  const damages: Array<[string, (file: string) => void]> = [
    ['a flipped byte', (file) => {
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 40] ^= 1;
      fs.writeFileSync(file, bytes);
    }],
    ['a truncated file', (file) => fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 100))],
    ['an empty file', (file) => fs.writeFileSync(file, Buffer.alloc(0))],
  ];

  it.each(damages)('re-registering the same model repairs %s, and verification passes again', async (what, damage) => {
    const input = await registration(`repair-${what.replace(/ /g, '-')}`, what.length);
    const v = await registerModel(t.store, artifacts, input);
    const file = path.join(dir, artifactKey(v.artifactSha256));
    damage(file);
    await expect(verifyRegisteredVersion(t.store, artifacts, v.name, v.version)).rejects.toThrow(/artifact failed verification/);

    const again = await registerModel(t.store, artifacts, input); // the retried registration
    expect(again.version).toBe(v.version);
    expect(sha256(fs.readFileSync(file))).toBe(v.artifactSha256);
    await expect(verifyRegisteredVersion(t.store, artifacts, v.name, v.version)).resolves.toBeDefined();
    expect(fs.readdirSync(path.dirname(file)).filter((f) => f.endsWith('.tmp'))).toEqual([]); // written by rename, nothing left over
  });

  it('saving the final model again (putArtifact) repairs a damaged copy and leaves an intact one untouched', async () => {
    const { artifact } = await registration('put', 11);
    const first = await putArtifact(artifacts, artifact);
    expect(first.stored).toBe('written');
    const file = path.join(dir, artifactKey(first.sha256));
    const written = fs.statSync(file);

    await new Promise((r) => setTimeout(r, 20));
    expect((await putArtifact(artifacts, artifact)).stored).toBe('kept');
    const kept = fs.statSync(file);
    expect([kept.ino, kept.mtimeMs]).toEqual([written.ino, written.mtimeMs]); // not rewritten

    fs.writeFileSync(file, Buffer.from('not a model'));
    expect((await putArtifact(artifacts, artifact)).stored).toBe('replaced');
    expect(fs.readFileSync(file).equals(Buffer.from(artifact))).toBe(true);
  });
});
