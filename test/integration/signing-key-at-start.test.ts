/**
 * Every process that signs or verifies rows refuses to start without MODEL_SIGNING_KEY where the
 * registry or the feature store holds signed rows (lib/registry/signing-key-required.ts). The stream
 * consumer did not: started without the key it replaced the signed online vectors of the day with
 * unsigned ones, which the prediction API (holding the key) refuses, answering from an older row.
 * The consumer through its real entry point (SQLite), the check itself on both drivers.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { registerModel } from '../../lib/registry/model-registry';
import { assertSigningKeyWhereSigned } from '../../lib/registry/signing-key-required';
import { writeFeatureRows } from '../../lib/store/features';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { createSqliteTestDatabase, DRIVERS, TEST_REDIS_URL, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';
import { freePort } from '../helpers/worker-process';

const REPO = path.resolve(__dirname, '..', '..');
const SIGNING = { signingKey: 'k'.repeat(16) + '0123456789abcdef0123' };
const LABEL = { kind: 'direction', horizon: 5 };

/** Runs workers/stream-consumer.ts without MODEL_SIGNING_KEY until it exits (or 60 s): its exit code and output. */
async function consumerWithoutKey(databaseUrl: string): Promise<{ code: number | null; output: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, REDIS_URL: TEST_REDIS_URL, STREAM_KEY: `test:keyless:${crypto.randomBytes(4).toString('hex')}`, STREAM_METRICS_ADDRESS: `127.0.0.1:${await freePort()}` };
  delete env.MODEL_SIGNING_KEY;
  delete env.MODEL_SIGNING_PREVIOUS_KEYS;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'workers', 'stream-consumer.ts')], { env, cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGINT'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, output };
}

async function registerSigned(t: TestDatabase, dir: string): Promise<void> {
  const { version, columns } = await saveTestFeatureSet(t.store, returnsFeatureSet('keyless-start'));
  const d = separable(200, 5, 1);
  const model = await logisticRegression.fit({ features: withColumns(d.x, columns), labels: d.y, classes: 2, seed: 1 }, {});
  const input = { name: 'direction-5d', artifact: encodeArtifact(model.state(), { featureSetVersion: version, label: LABEL }), algorithm: 'logistic_regression', params: {}, seed: 1, featureSetVersion: version, label: LABEL, ...UNTRACKED_REGISTRATION, registrationKey: 'direction-5d/1' };
  await registerModel(t.store, localArtifactStore(dir), input, SIGNING);
}

async function writeSignedRows(t: TestDatabase): Promise<string> {
  const { version } = await saveTestFeatureSet(t.store, returnsFeatureSet('keyless-start-rows'));
  const row = (symbol: string, date: string) => ({ symbol, date, values: Float64Array.from([0.1, -0.2, 0.3, -0.4, 0.5]) });
  // Rows written before the key, then the newest ones with it: the deployment signs now.
  await writeFeatureRows(t.store, version, [row('AAPL', '2024-06-26'), row('MSFT', '2024-06-27')]);
  await writeFeatureRows(t.store, version, [row('AAPL', '2024-06-27')], SIGNING);
  return version;
}

describe('the stream consumer does not start without MODEL_SIGNING_KEY where rows are signed (its real entry point, SQLite)', () => {
  let t: TestDatabase;
  let dir: string;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
    dir = tempDir('mlp-keyless-start-');
  });
  afterEach(async () => {
    await t.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses where the registry holds a signed row, naming it', async () => {
    await registerSigned(t, dir);
    const { code, output } = await consumerWithoutKey(t.url);
    expect(output).not.toContain('stream consumer ready');
    expect(output).toMatch(/the stream consumer does not start without MODEL_SIGNING_KEY: the registry's rows are signed \(direction-5d v1, key id [0-9a-f]{8}\)/);
    expect(code).toBe(1);
  }, 90_000);

  it('refuses where only the feature store holds signed rows, naming one', async () => {
    const version = await writeSignedRows(t);
    const { code, output } = await consumerWithoutKey(t.url);
    expect(output).not.toContain('stream consumer ready');
    expect(output).toContain(`the stream consumer does not start without MODEL_SIGNING_KEY: the feature store's rows are signed (AAPL 2024-06-27 in feature set ${version}, key id`);
    expect(code).toBe(1);
  }, 90_000);
});

describe.each(DRIVERS)('the start-up rule on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t.drop();
  });

  it('lets a process start without the key while nothing is signed, refuses it once a newest feature row is signed, and lets it start with the key', async () => {
    await expect(assertSigningKeyWhereSigned(t.store, undefined, 'the worker')).resolves.toBeUndefined();
    const version = await writeSignedRows(t);
    await expect(assertSigningKeyWhereSigned(t.store, undefined, 'the worker')).rejects.toThrow(`the worker does not start without MODEL_SIGNING_KEY: the feature store's rows are signed (AAPL 2024-06-27 in feature set ${version}, key id`);
    await expect(assertSigningKeyWhereSigned(t.store, SIGNING.signingKey, 'the worker')).resolves.toBeUndefined();
  });
});
