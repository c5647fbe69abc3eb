/**
 * The built `mlp` executable (dist/cli.js, rebuilt here when stale): --help lists every command without
 * loading the slow modules, --json output is JSON and nothing else, and the registry and run commands
 * that need no Temporal server answer as a newcomer expects. Runs the bundle as a child process.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildProgram } from '../../client/program';
import { qualityPolicySchema } from '../../lib/quality/policy';
import { MODEL_ALIASES, moveAlias } from '../../lib/registry/model-registry';
import { saveSnapshot } from '../../lib/store/snapshots';
import { buildCliIfStale } from '../../scripts/build';
import { createSqliteTestDatabase, type TestDatabase } from '../helpers/databases';
import { oracleFeatureSet, registerOracleModel } from '../helpers/oracle-models';
import { saveTestFeatureSet } from '../helpers/registration';
import { runBuiltCli, type CliOutput } from '../helpers/cli';


let tmp: string;
let db: TestDatabase;
let env: NodeJS.ProcessEnv;

/** Runs `node dist/cli.js …args`; never throws on a non-zero exit (the code is returned). */
const mlp = (args: string[], extraNodeArgs: string[] = [], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliOutput> => runBuiltCli(args, { ...env, ...extraEnv }, extraNodeArgs);

beforeAll(async () => {
  await buildCliIfStale();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-cli-'));
  db = await createSqliteTestDatabase();
  // Nothing listens on port 1: a command that tried to reach Temporal would fail saying so.
  env = { ...process.env, DATABASE_URL: db.url, DATA_DIR: tmp, ARTIFACT_DIR: path.join(tmp, 'artifacts'), TEMPORAL_ADDRESS: '127.0.0.1:1', REDIS_URL: '' };
  const artifactDir = path.join(tmp, 'artifacts');
  const registered = [];
  const featureSet = await saveTestFeatureSet(db.store, oracleFeatureSet('cli-test'));
  for (const seed of [1, 2, 3]) registered.push(await registerOracleModel(db.store, artifactDir, { name: 'cli-demo', seed, flip: false, featureSetVersion: featureSet.version }));
  await moveAlias(db.store, { name: 'cli-demo', alias: 'champion', version: registered[1], movedBy: 'test', reason: 'test' });
  await moveAlias(db.store, { name: 'cli-demo', alias: 'challenger', version: registered[2], movedBy: 'test', reason: 'test' });
  await saveSnapshot(db.store, {
    id: 'snap-cli-test',
    contentHash: 'c'.repeat(64),
    source: { kind: 'csv', path: '/data' },
    symbols: ['AAPL', 'MSFT'],
    firstDate: '2020-01-02',
    lastDate: '2020-12-31',
    rowsRead: 504,
    rowCount: 500,
    rejectedCount: 4,
    flaggedCount: 0,
    qualityReport: { policy: qualityPolicySchema.parse({}), rowsRead: 504, rowsAccepted: 500, rowsRejected: 4, flags: 0, badRowShare: 4 / 504, byRule: {}, bySymbol: {} },
  });
});

afterAll(async () => {
  await db.drop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('mlp --help', () => {
  test('lists every command of the program', async () => {
    const out = await mlp(['--help']);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^Usage: mlp /);
    const names = buildProgram().commands.map((c) => c.name());
    expect(names.length).toBeGreaterThan(10);
    for (const name of names) expect(out.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
  });

  test('loads none of the slow modules (Temporal SDK, store drivers, tfjs, redis, libsvm)', async () => {
    const list = path.join(tmp, 'loaded.json');
    const preload = path.join(tmp, 'record-modules.js');
    fs.writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(list)}, JSON.stringify(Object.keys(require.cache))));\n`);
    for (const args of [['--help'], ['models', 'show', '--help'], ['run', '--help'], ['schedules', 'create', '--help']]) {
      const out = await mlp(args, ['--require', preload]);
      expect(out.code).toBe(0);
      const loaded = JSON.parse(fs.readFileSync(list, 'utf8')) as string[];
      expect(loaded.some((m) => m.includes(`${path.sep}commander${path.sep}`))).toBe(true);
      const slow = loaded.filter((m) => /node_modules\/(@temporalio|kysely|mysql2|better-sqlite3|@tensorflow|ioredis|libsvm-js|fastify|protobufjs)\//.test(m));
      expect({ args, slow }).toEqual({ args, slow: [] });
    }
  });

  test('the alias list in "models show" help is the registry\'s', async () => {
    const out = await mlp(['models', 'show', '--help']);
    expect(out.stdout.replace(/\s+/g, ' ')).toContain(`an alias: ${MODEL_ALIASES.join(', ')})`);
  });
});

describe('--json prints JSON and nothing else on stdout', () => {
  test('config --json', async () => {
    const out = await mlp(['config', '--json']);
    expect(out.code).toBe(0);
    const config = JSON.parse(out.stdout) as Record<string, unknown>;
    expect(config).toMatchObject({ temporalAddress: '127.0.0.1:1' });
  });

  test('snapshots list --json', async () => {
    const out = await mlp(['snapshots', 'list', '--json']);
    expect(out.code).toBe(0);
    const snapshots = JSON.parse(out.stdout) as Array<{ id: string; rowCount: number }>;
    expect(snapshots).toEqual([expect.objectContaining({ id: 'snap-cli-test', rowCount: 500 })]);
  });

  test('models show <name> champion --json: the version on stdout, which alias resolved to it on stderr', async () => {
    const out = await mlp(['models', 'show', 'cli-demo', 'champion', '--json']);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ name: 'cli-demo', version: 2 });
    expect(out.stderr).toContain('cli-demo champion is v2');
  });

  test('alerts list --json', async () => {
    const out = await mlp(['alerts', 'list', '--json']);
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual([]);
  });
});

describe('models', () => {
  test('show <name> champion says which version the alias resolved to', async () => {
    const out = await mlp(['models', 'show', 'cli-demo', 'champion']);
    expect(out.code).toBe(0);
    expect(out.stdout.split('\n')[0]).toBe('cli-demo v2 (champion → v2)  aliases: champion');
    expect(out.stdout).toMatch(/^algorithm +logistic_regression$/m);
  });

  test('an unknown model is "no such model"; a known model without the alias says which aliases it has', async () => {
    const unknown = await mlp(['models', 'show', 'nosuchmodel', 'champion']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no such model "nosuchmodel"; registered models: cli-demo');
    const noAlias = await mlp(['models', 'show', 'cli-demo', 'canary']);
    expect(noAlias.code).toBe(1);
    expect(noAlias.stderr).toContain('model cli-demo has no canary (its aliases: challenger → v3, champion → v2)');
  });

  test('history prints who moved an alias and why escaped: a reason cannot drive the terminal nor fake a line', async () => {
    // As the admin API stored such a reason before it normalised control characters (or a hand edit leaves it).
    const reason = 'bad canary\x1b[2J\x1b[H\x1b]0;owned\x07\x1b[32mrollback approved by risk\x1b[0m\nFAKE 2099-01-01  champion v1 → v2  by cto: all good';
    await db.store.db.insertInto('model_alias_history').values({ name: 'cli-demo', seq: 100, alias: 'champion', from_version: 2, to_version: 2, moved_by: 'api:\u009b31mops', reason, moved_at: '2024-01-02T00:00:00.000Z' }).execute();
    const out = await mlp(['models', 'history', 'cli-demo']);
    expect(out.code).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    expect(out.stdout.replace(/\n/g, '')).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(lines[2]).toBe('2024-01-02T00:00:00.000Z  champion   v2 → v2  by api:\\x9b31mops: bad canary\\x1b[2J\\x1b[H\\x1b]0;owned\\x07\\x1b[32mrollback approved by risk\\x1b[0m\\nFAKE 2099-01-01  champion v1 → v2  by cto: all good');
  });

  test('list marks the champion and the challenger', async () => {
    const out = await mlp(['models', 'list', 'cli-demo']);
    expect(out.code).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^cli-demo v1 +logistic_regression/);
    expect(lines[1]).toMatch(/^cli-demo v2 \[champion\] +logistic_regression/);
    expect(lines[2]).toMatch(/^cli-demo v3 \[challenger\] +logistic_regression/);
  });
});

describe('a store that is not there', () => {
  // As an operator would type them: a relative DATA_DIR, run from another folder than the usual one.
  const READ_COMMANDS = [['models', 'list'], ['models', 'show', 'cli-demo', '1'], ['models', 'history', 'cli-demo'], ['alerts', 'list'], ['snapshots', 'list'], ['snapshots', 'show', 'x'], ['quarantine'], ['features', 'sets'], ['deployments', 'list']];

  test('read commands fail naming the path and DATA_DIR, and create nothing', async () => {
    const cwd = fs.mkdtempSync(path.join(tmp, 'cwd-'));
    for (const args of READ_COMMANDS) {
      const out = await runBuiltCli(args, { ...env, DATABASE_URL: '', DATA_DIR: 'reldata' }, [], cwd);
      const file = path.join(cwd, 'reldata', 'pipeline.sqlite');
      expect({ args, code: out.code, stdout: out.stdout }).toEqual({ args, code: 1, stdout: '' });
      expect(out.stderr).toContain(`No store at ${file}: neither the file nor its folder ${path.join(cwd, 'reldata')} exists (named by DATA_DIR=${path.join(cwd, 'reldata')}, since DATABASE_URL is unset; a relative DATA_DIR is taken from the current folder, ${cwd}); nothing was created`);
      expect(fs.readdirSync(cwd)).toEqual([]);
    }
    // The folder there, the file not: the same, and the folder stays empty.
    fs.mkdirSync(path.join(cwd, 'reldata'));
    const out = await runBuiltCli(['models', 'list'], { ...env, DATABASE_URL: '', DATA_DIR: 'reldata' }, [], cwd);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`No store at ${path.join(cwd, 'reldata', 'pipeline.sqlite')}: the file does not exist (named by DATA_DIR=`);
    expect(fs.readdirSync(path.join(cwd, 'reldata'))).toEqual([]);
  });

  test('a sqlite DATABASE_URL naming no file is refused naming DATABASE_URL', async () => {
    const file = path.join(tmp, 'typo.sqlite');
    const out = await mlp(['alerts', 'list'], [], { DATABASE_URL: `sqlite:${file}` });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`No store at ${file}: the file does not exist (named by DATABASE_URL=sqlite:${file}); nothing was created`);
    expect(fs.existsSync(file)).toBe(false);
  });

  test('deploy, whose store check is advisory, goes on to Temporal without a local store and creates none', async () => {
    const cwd = fs.mkdtempSync(path.join(tmp, 'cwd-'));
    const out = await runBuiltCli(['deploy', 'cli-demo', '2', '--no-follow'], { ...env, DATABASE_URL: '', DATA_DIR: 'reldata', TEMPORAL_ADDRESS: '127.0.0.1:1' }, [], cwd);
    expect(out.code).toBe(1);
    expect(out.stderr).not.toContain('No store at');
    expect(fs.readdirSync(cwd)).toEqual([]);
  });

  test('an import still creates the store it is given', async () => {
    const cwd = fs.mkdtempSync(path.join(tmp, 'cwd-'));
    fs.writeFileSync(path.join(cwd, 'news.csv'), 'date,time,symbol,headline\n2020-01-02,09:00,AAPL,Apple beats estimates\n');
    const out = await runBuiltCli(['news', 'import', 'news.csv'], { ...env, DATABASE_URL: '', DATA_DIR: 'reldata' }, [], cwd);
    expect({ code: out.code, stderr: out.stderr }).toEqual({ code: 0, stderr: '' });
    expect(fs.existsSync(path.join(cwd, 'reldata', 'pipeline.sqlite'))).toBe(true);
    // Then the read commands find it.
    const list = await runBuiltCli(['models', 'list'], { ...env, DATABASE_URL: '', DATA_DIR: 'reldata' }, [], cwd);
    expect(list.code).toBe(0);
  });
});

describe('run', () => {
  test('--source that does not exist fails before any workflow starts (Temporal is never contacted)', async () => {
    const out = await mlp(['run', '--source', path.join(tmp, 'nope')]);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`--source: ${path.join(tmp, 'nope')} does not exist; no run was started`);
    expect(out.stderr).not.toMatch(/Temporal/);
  });

  test('--source that is neither a file nor a folder fails the same way', async () => {
    const out = await mlp(['run', '--source', '/dev/null']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('--source: /dev/null is neither a CSV file nor a folder; no run was started');
  });
});

describe('schedules', () => {
  // Every run of such a schedule failed at ingest; refused before Temporal is contacted (none listens here).
  test('create and update refuse a --source that does not exist, as run does', async () => {
    const missing = path.join(tmp, 'a dir with spaces');
    const created = await mlp(['schedules', 'create', '--which', 'retrain', '--source', missing]);
    expect({ code: created.code, stderr: created.stderr }).toEqual({ code: 1, stderr: expect.stringContaining(`--source: ${missing} does not exist; no schedule was created`) });
    expect(created.stderr).not.toMatch(/Temporal/);
    const updated = await mlp(['schedules', 'update', 'retrain-demo', '--source', '/also/missing']);
    expect({ code: updated.code, stderr: updated.stderr }).toEqual({ code: 1, stderr: expect.stringContaining('--source: /also/missing does not exist; the schedule was not changed') });
    expect((await mlp(['schedules', 'create', '--which', 'retrain', '--source', '/dev/null'])).stderr).toContain('--source: /dev/null is neither a CSV file nor a folder; no schedule was created');
    // A path that exists only on the worker's host is said so: not checked here, the command goes on to Temporal (not there).
    const onWorker = await mlp(['schedules', 'create', '--which', 'retrain', '--source', missing, '--source-on-worker']);
    expect(onWorker.code).toBe(1);
    expect(onWorker.stderr).not.toMatch(/--source:/);
  });

  test("create and update refuse an experiment whose own import.source.path does not exist", async () => {
    const experiment = JSON.parse(fs.readFileSync(path.join(__dirname, '../../experiments/demo.json'), 'utf8')) as Record<string, unknown>;
    const file = path.join(tmp, 'import-missing.json');
    fs.writeFileSync(file, JSON.stringify({ ...experiment, import: { source: { kind: 'csv', path: 'no-such-data' } } }));
    const created = await mlp(['schedules', 'create', '--which', 'retrain', '--experiment', file]);
    expect({ code: created.code, stderr: created.stderr }).toEqual({ code: 1, stderr: expect.stringContaining(`the experiment's import.source.path: ${path.join(tmp, 'no-such-data')} does not exist; no schedule was created`) });
    const updated = await mlp(['schedules', 'update', 'retrain-demo', '--experiment', file]);
    expect(updated.stderr).toContain(`the experiment's import.source.path: ${path.join(tmp, 'no-such-data')} does not exist; the schedule was not changed`);
    // A source that exists passes the check: the command goes on to Temporal, which is not there.
    const reached = await mlp(['schedules', 'create', '--which', 'retrain', '--source', tmp]);
    expect(reached.stderr).not.toMatch(/--source:/);
  });
});

describe('malformed flags are named before anything is reached', () => {
  test('schedules commands check their flags before connecting to Temporal (none listens here)', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['schedules', 'create', '--which', 'monitor', '--interval', '5x'], /--interval/],
      [['schedules', 'backfill', 'x', '--from', '2026-03-04', '--to', '2026-03-02'], /--from.*must be before --to/],
      [['schedules', 'describe', 'x', '--next', '0'], /schedules describe: --next must be a whole number from 1 to 10, got "0"/],
      [['schedules', 'update', 'x', '--catchup-window', 'soon'], /--catchup-window/],
    ];
    for (const [args, message] of cases) {
      const out = await mlp(args);
      expect({ args, code: out.code, stderr: out.stderr }).toEqual({ args, code: 1, stderr: expect.stringMatching(message) });
      expect(out.stderr).not.toMatch(/Cannot reach Temporal/);
    }
  });

  test('a --limit out of range says which values it takes', async () => {
    for (const bad of ['0', '2.5', '99999', 'many']) {
      const out = await mlp(['alerts', 'list', '--limit', bad]);
      expect({ bad, code: out.code }).toEqual({ bad, code: 1 });
      expect(out.stderr).toMatch(/--limit must be a whole number from 1 to 10000/);
    }
    expect((await mlp(['snapshots', 'list', '--limit', '0'])).stderr).toMatch(/--limit must be a whole number from 1 to 1000, got "0"/);
  });

  test('number flags are decimal: hex, binary, exponents and empty values are refused, naming the flag', async () => {
    for (const bad of ['0x10', '0b101', '1e2', '', ' 12', 'Infinity']) {
      const out = await mlp(['runs', 'list', `--limit=${bad}`]);
      expect({ bad, code: out.code, stderr: out.stderr }).toEqual({ bad, code: 1, stderr: expect.stringContaining(`--limit must be a whole number from 1 to 1000, got "${bad}"`) });
    }
    const deploy = await mlp(['deploy', 'cli-demo', '3', '--shadow-seconds', '', '--no-follow']);
    expect({ code: deploy.code, stderr: deploy.stderr }).toEqual({ code: 1, stderr: expect.stringContaining('--shadow-seconds must be a number') });
    const run = await mlp(['run', '--source', tmp, '--max-bad-row-share', '0x1']);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 1, stderr: expect.stringContaining('--max-bad-row-share must be a number') });
  });
});
