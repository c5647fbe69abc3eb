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
import { listModelVersions, registerModel, RegistryError, repairVersionArtifact, verifyRegisteredVersion, type RegisterModelInput } from '../../lib/registry/model-registry';
import { encodeArtifact, sha256 } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { buildCliIfStale } from '../../scripts/build';
import { runBuiltCli } from '../helpers/cli';
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

/**
 * `mlp models repair-artifact` (repairVersionArtifact) writes a damaged or missing stored artifact
 * back from a copy, without re-running the registration: only the exact bytes the version was
 * registered with (its sha256 and size), and with a signing key only for a row whose signature
 * holds. Anything else is refused naming both hashes (or the signature), the store left byte-identical.
 */
describe('repairing a stored artifact from a copy: mlp models repair-artifact (SQLite, built CLI)', () => {
  const KEY = 'repair-test-signing-key-0123456789abcdef';
  let t: TestDatabase;
  let dir: string;
  let artifacts: ArtifactStore;
  let env: NodeJS.ProcessEnv;
  const mlp = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) => runBuiltCli(args, { ...env, ...extraEnv });

  beforeAll(async () => {
    await buildCliIfStale();
    t = await createSqliteTestDatabase();
    dir = tempDir('mlp-repair-cli-');
    artifacts = localArtifactStore(path.join(dir, 'artifacts'));
    await saveTestFeatureSet(t.store, FEATURES);
    env = { ...process.env, DATABASE_URL: t.url, DATA_DIR: dir, ARTIFACT_DIR: path.join(dir, 'artifacts'), TEMPORAL_ADDRESS: '127.0.0.1:1', REDIS_URL: '', MODEL_SIGNING_KEY: '' };
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('writes back only the registered bytes: another model, a truncated copy and an edited copy are refused, the store untouched', async () => {
    const input = await registration('repair-cli', 21);
    const v = await registerModel(t.store, artifacts, input);
    const other = await registration('repair-cli', 22); // a valid artifact of another model
    const file = path.join(dir, 'artifacts', artifactKey(v.artifactSha256));
    const damaged = Buffer.from(fs.readFileSync(file));
    damaged[damaged.length - 40] ^= 1;
    fs.writeFileSync(file, damaged);
    await expect(verifyRegisteredVersion(t.store, artifacts, v.name, v.version)).rejects.toThrow('does not match its sha256');

    const copies: Array<[string, Uint8Array]> = [
      ['another model', other.artifact],
      ['a truncated copy', Buffer.from(input.artifact).subarray(0, input.artifact.byteLength - 1)],
      ['the damaged copy itself', damaged],
    ];
    for (const [, bytes] of copies) {
      const refused = await repairVersionArtifact(t.store, artifacts, v.name, v.version, bytes).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(RegistryError);
      expect((refused as Error).message).toBe(
        `repair-cli v${v.version}'s artifact was not repaired: the file given has sha256 ${sha256(bytes)} (${bytes.byteLength} bytes), the version was registered with ${v.artifactSha256} (${v.artifactBytes} bytes): it is not that version's model; nothing was written`,
      );
      expect(fs.readFileSync(file).equals(damaged)).toBe(true);
    }
    const copy = path.join(dir, 'other.mlpa');
    fs.writeFileSync(copy, other.artifact);
    const cliRefused = await mlp(['models', 'repair-artifact', 'repair-cli', String(v.version), '--file', copy]);
    expect(cliRefused.code).toBe(1);
    expect(cliRefused.stderr).toContain(`the file given has sha256 ${sha256(other.artifact)}`);
    expect(fs.readFileSync(file).equals(damaged)).toBe(true);
    expect(await listModelVersions(t.store, 'repair-cli')).toEqual([v]);

    // The registered bytes repair it, and the version verifies again.
    fs.writeFileSync(copy, input.artifact);
    const repaired = await mlp(['models', 'repair-artifact', 'repair-cli', String(v.version), '--file', copy]);
    expect(repaired.stderr).toBe('');
    expect(repaired.code).toBe(0);
    expect(repaired.stdout.trim()).toBe(`repair-cli v${v.version}: artifact sha256 ${v.artifactSha256} at ${file}: the damaged stored copy was replaced; the version verifies`);
    expect(sha256(fs.readFileSync(file))).toBe(v.artifactSha256);
    await expect(verifyRegisteredVersion(t.store, artifacts, v.name, v.version)).resolves.toBeDefined();

    // Intact: nothing written. Missing: written back.
    const before = fs.statSync(file);
    await expect(repairVersionArtifact(t.store, artifacts, v.name, v.version, input.artifact)).resolves.toMatchObject({ stored: 'kept' });
    expect(fs.statSync(file).mtimeMs).toBe(before.mtimeMs);
    fs.rmSync(file);
    await expect(repairVersionArtifact(t.store, artifacts, v.name, v.version, input.artifact)).resolves.toMatchObject({ stored: 'written' });
    await expect(verifyRegisteredVersion(t.store, artifacts, v.name, v.version)).resolves.toBeDefined();
  });

  it('with a signing key, refuses to write the bytes a row edited since registration names', async () => {
    const signing = { signingKey: KEY };
    const input = await registration('repair-signed', 31);
    const v = await registerModel(t.store, artifacts, input, signing);
    // The row pointed at another model's artifact (sha256 and size edited to match): its bytes are "the registered ones" for the row alone.
    const other = await registration('repair-signed', 32);
    await t.store.db.updateTable('model_versions').set({ artifact_sha256: sha256(other.artifact), artifact_bytes: other.artifact.byteLength }).where('name', '=', v.name).where('version', '=', v.version).execute();
    const refused = await repairVersionArtifact(t.store, artifacts, v.name, v.version, other.artifact, signing).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RegistryError);
    expect((refused as Error).message).toMatch(new RegExp(`^repair-signed v${v.version}'s artifact was not repaired: the registry row's signature does not match it.*; nothing was written$`));
    expect(fs.existsSync(path.join(dir, 'artifacts', artifactKey(sha256(other.artifact))))).toBe(false);
    const cli = await mlp(['models', 'repair-artifact', 'repair-signed', String(v.version), '--file', (fs.writeFileSync(path.join(dir, 'edited.mlpa'), other.artifact), path.join(dir, 'edited.mlpa'))], { MODEL_SIGNING_KEY: KEY });
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('the registry row\'s signature does not match it');
    expect(fs.existsSync(path.join(dir, 'artifacts', artifactKey(sha256(other.artifact))))).toBe(false);
  });
});
