import os from 'node:os';
import path from 'node:path';
import { CONFIG_VARIABLES, ConfigError, describeStoreSetting, loadApiRateLimits, loadConfig, loadObjectStoreSettings } from '../../lib/config';
import { signingKeyId } from '../../lib/registry/row-signature';

function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('fills every default from an empty environment, with absolute paths under DATA_DIR', () => {
    const dataDir = path.resolve(__dirname, '..', '..', '.data'); // the checkout's .data, whatever the cwd
    expect(loadConfig({})).toEqual({
      temporalAddress: '127.0.0.1:7233',
      temporalNamespace: 'default',
      temporalUiUrl: 'http://127.0.0.1:8233',
      dataDir,
      databaseUrl: `sqlite:${path.join(dataDir, 'pipeline.sqlite')}`,
      databaseUrlFrom: 'default DATA_DIR',
      redisUrl: undefined,
      artifactDir: path.join(dataDir, 'artifacts'),
      artifacts: { kind: 'local', dir: path.join(dataDir, 'artifacts') },
      modelSigningPreviousKeys: [],
      metricsAddress: '127.0.0.1:9464',
      trainingConcurrency: Math.max(1, os.availableParallelism()),
      apiAddress: '127.0.0.1:8080',
      apiTokens: [],
      apiFeatureCacheMs: 1000,
      apiFeatureGraceMinutes: 120,
      appMetricsAddress: '127.0.0.1:9465',
      alertWebhookUrl: undefined,
      streamKey: 'bars:live',
      streamGroup: 'bar-ingest',
      streamMetricsAddress: '127.0.0.1:9466',
    });
    expect(path.isAbsolute(dataDir)).toBe(true);
  });

  it('derives DATABASE_URL and ARTIFACT_DIR from a custom DATA_DIR', () => {
    const config = loadConfig({ DATA_DIR: '/srv/pipeline' });
    expect(config.dataDir).toBe('/srv/pipeline');
    expect(config.databaseUrl).toBe('sqlite:/srv/pipeline/pipeline.sqlite');
    expect(config.artifactDir).toBe('/srv/pipeline/artifacts');
  });

  it('resolves a relative DATA_DIR and ARTIFACT_DIR against the working directory', () => {
    const config = loadConfig({ DATA_DIR: 'state', ARTIFACT_DIR: 'out/models' });
    expect(config.dataDir).toBe(path.join(process.cwd(), 'state'));
    expect(config.databaseUrl).toBe(`sqlite:${path.join(process.cwd(), 'state', 'pipeline.sqlite')}`);
    expect(config.artifactDir).toBe(path.join(process.cwd(), 'out', 'models'));
  });

  it('says which setting names the store, for messages about it', () => {
    const relative = loadConfig({ DATA_DIR: 'state' });
    expect(relative.databaseUrlFrom).toBe('DATA_DIR');
    expect(describeStoreSetting(relative)).toBe(`DATA_DIR=${path.join(process.cwd(), 'state')}, since DATABASE_URL is unset; a relative DATA_DIR is taken from the current folder, ${process.cwd()}`);
    expect(describeStoreSetting(loadConfig({ DATA_DIR: '' }))).toMatch(/^DATA_DIR, unset, so its default \/.*\.data, since DATABASE_URL is unset/);
    const url = loadConfig({ DATA_DIR: 'state', DATABASE_URL: 'mysql://u:secret@db:3306/bars' });
    expect(url.databaseUrlFrom).toBe('DATABASE_URL');
    expect(describeStoreSetting(url)).toBe('DATABASE_URL=mysql://u:***@db:3306/bars');
  });

  it('selects the object store with ARTIFACT_URL, path-style when S3_ENDPOINT is set, and refuses a bad URL naming the variable', () => {
    expect(loadConfig({ DATA_DIR: '/srv/ml', ARTIFACT_URL: 's3://ml-artifacts/team/a/', S3_ENDPOINT: 'http://10.0.0.1:7070', ARTIFACT_CACHE_MAX_MB: '64' }).artifacts).toEqual({
      kind: 's3',
      bucket: 'ml-artifacts',
      prefix: 'team/a',
      endpoint: 'http://10.0.0.1:7070',
      region: 'us-east-1',
      forcePathStyle: true,
      cacheDir: '/srv/ml/artifact-cache',
      cacheMaxBytes: 64 * 1024 * 1024,
    });
    expect(loadConfig({ ARTIFACT_URL: 's3://bucket', S3_REGION: 'eu-west-1' }).artifacts).toMatchObject({ bucket: 'bucket', prefix: '', endpoint: undefined, region: 'eu-west-1', forcePathStyle: false });
    expect(() => loadConfig({ ARTIFACT_URL: '/mnt/artifacts' })).toThrow(/ARTIFACT_URL="\/mnt\/artifacts": expected s3:\/\/bucket\[\/prefix\]/);
    expect(() => loadConfig({ ARTIFACT_URL: 's3://b', S3_ENDPOINT: 'not a url' })).toThrow(/S3_ENDPOINT=/);
    // Timeouts: the client's defaults unless set (lib/artifacts/s3-client.ts); the artifact store and s3:// sources alike.
    expect(loadConfig({ ARTIFACT_URL: 's3://bucket', S3_CONNECT_TIMEOUT_MS: '2000', S3_IDLE_TIMEOUT_MS: '30000' }).artifacts).toMatchObject({ connectTimeoutMs: 2000, idleTimeoutMs: 30000 });
    expect(loadObjectStoreSettings({ S3_IDLE_TIMEOUT_MS: '1500' })).toMatchObject({ idleTimeoutMs: 1500 });
    expect(() => loadConfig({ ARTIFACT_URL: 's3://b', S3_IDLE_TIMEOUT_MS: '0' })).toThrow(/S3_IDLE_TIMEOUT_MS="0": expected a whole number of milliseconds/);
  });

  it('takes explicit values as given', () => {
    expect(
      loadConfig({
        TEMPORAL_ADDRESS: 'temporal.internal:7233',
        TEMPORAL_NAMESPACE: 'ml',
        TEMPORAL_UI_URL: 'https://ui.example.com/',
        DATA_DIR: '/var/lib/ml',
        DATABASE_URL: 'mysql://u:p@db:3306/bars',
        REDIS_URL: 'rediss://cache:6380/2',
        ARTIFACT_DIR: '/mnt/artifacts',
        METRICS_ADDRESS: '0.0.0.0:9100',
        TRAINING_CONCURRENCY: '3',
        UNRELATED: 'ignored',
      }),
    ).toEqual({
      temporalAddress: 'temporal.internal:7233',
      temporalNamespace: 'ml',
      temporalUiUrl: 'https://ui.example.com', // trailing slash dropped
      dataDir: '/var/lib/ml',
      databaseUrl: 'mysql://u:p@db:3306/bars',
      databaseUrlFrom: 'DATABASE_URL',
      redisUrl: 'rediss://cache:6380/2',
      artifactDir: '/mnt/artifacts',
      artifacts: { kind: 'local', dir: '/mnt/artifacts' },
      modelSigningPreviousKeys: [],
      metricsAddress: '0.0.0.0:9100',
      trainingConcurrency: 3,
      apiAddress: '127.0.0.1:8080',
      apiTokens: [],
      apiFeatureCacheMs: 1000,
      apiFeatureGraceMinutes: 120,
      appMetricsAddress: '127.0.0.1:9465',
      alertWebhookUrl: undefined,
      streamKey: 'bars:live',
      streamGroup: 'bar-ingest',
      streamMetricsAddress: '127.0.0.1:9466',
    });
  });

  it('accepts a sqlite DATABASE_URL and a plain redis URL', () => {
    const config = loadConfig({ DATABASE_URL: 'sqlite:/tmp/x.sqlite', REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(config.databaseUrl).toBe('sqlite:/tmp/x.sqlite');
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
  });

  it('treats empty strings as unset', () => {
    const empty = {
      TEMPORAL_ADDRESS: '',
      TEMPORAL_NAMESPACE: '',
      TEMPORAL_UI_URL: '',
      DATA_DIR: '',
      DATABASE_URL: '',
      REDIS_URL: '',
      ARTIFACT_DIR: '',
      METRICS_ADDRESS: '',
      TRAINING_CONCURRENCY: '',
    };
    expect(loadConfig(empty)).toEqual(loadConfig({}));
    expect(loadConfig(empty).redisUrl).toBeUndefined();
  });

  it.each([
    ['DATABASE_URL', 'postgres://x', 'expected mysql://user:pass@host:port/db or sqlite:<file>'],
    ['DATABASE_URL', 'sqlite:', 'expected mysql://user:pass@host:port/db or sqlite:<file>'],
    ['TEMPORAL_ADDRESS', 'nohost', 'expected host:port, such as 127.0.0.1:7233'],
    ['METRICS_ADDRESS', 'localhost', 'expected host:port, such as 127.0.0.1:7233'],
    ['REDIS_URL', 'http://x', 'expected redis://host:port[/db]'],
    ['TEMPORAL_UI_URL', 'not a url', 'expected an http(s) URL such as http://127.0.0.1:8233'],
  ])('rejects %s=%j naming the variable, its value and the expectation', (name, value, expectation) => {
    const err = configError({ [name]: value });
    expect(err.name).toBe('ConfigError');
    expect(err.message).toBe(`Invalid configuration; fix these environment variables:\n  ${name}=${JSON.stringify(value)}: ${expectation}`);
  });

  it.each(['0', '-2', '257', '1.5', 'many'])('rejects TRAINING_CONCURRENCY=%j', (value) => {
    const err = configError({ TRAINING_CONCURRENCY: value });
    expect(err.message).toContain(`\n  TRAINING_CONCURRENCY=${JSON.stringify(value)}: `);
    expect(err.message.split('\n')).toHaveLength(2);
  });

  it('accepts TRAINING_CONCURRENCY at both ends of its range', () => {
    expect(loadConfig({ TRAINING_CONCURRENCY: '1' }).trainingConcurrency).toBe(1);
    expect(loadConfig({ TRAINING_CONCURRENCY: '256' }).trainingConcurrency).toBe(256);
  });

  it('lists every bad variable, one per line', () => {
    const err = configError({ DATABASE_URL: 'postgres://x', REDIS_URL: 'http://x', TEMPORAL_ADDRESS: 'nohost' });
    const lines = err.message.split('\n').slice(1).sort();
    expect(lines).toEqual([
      '  DATABASE_URL="postgres://x": expected mysql://user:pass@host:port/db or sqlite:<file>',
      '  REDIS_URL="http://x": expected redis://host:port[/db]',
      '  TEMPORAL_ADDRESS="nohost": expected host:port, such as 127.0.0.1:7233',
    ]);
  });

  it('reads API_FEATURE_CACHE_MS: 1000 by default, 0 turns the cache off, a bad value fails naming the variable', () => {
    expect(loadConfig({}).apiFeatureCacheMs).toBe(1000);
    expect(loadConfig({ API_FEATURE_CACHE_MS: '' }).apiFeatureCacheMs).toBe(1000);
    expect(loadConfig({ API_FEATURE_CACHE_MS: '250' }).apiFeatureCacheMs).toBe(250);
    expect(loadConfig({ API_FEATURE_CACHE_MS: '0' }).apiFeatureCacheMs).toBe(0);
    for (const bad of ['-1', '1.5', 'soon']) {
      const err = configError({ API_FEATURE_CACHE_MS: bad });
      expect(err.message.split('\n').slice(1)).toEqual([`  API_FEATURE_CACHE_MS=${JSON.stringify(bad)}: expected a whole number of milliseconds, 0 for no in-process cache of online vectors`]);
    }
  });

  it('reads the grace after the close before answers are stale, refusing what is not a number of minutes in a day', () => {
    expect(loadConfig({}).apiFeatureGraceMinutes).toBe(120);
    expect(loadConfig({ API_FEATURE_GRACE_MINUTES: '0' }).apiFeatureGraceMinutes).toBe(0);
    for (const bad of ['-1', '1441', '1.5', 'soon']) expect(() => loadConfig({ API_FEATURE_GRACE_MINUTES: bad })).toThrow(/API_FEATURE_GRACE_MINUTES=.*expected a whole number of minutes from 0 to 1440/);
  });

  it('documents every variable the schema reads', () => {
    expect(CONFIG_VARIABLES.map((v) => v.name)).toEqual([
      'TEMPORAL_ADDRESS',
      'TEMPORAL_NAMESPACE',
      'TEMPORAL_UI_URL',
      'DATA_DIR',
      'DATABASE_URL',
      'REDIS_URL',
      'ARTIFACT_DIR',
      'ARTIFACT_URL',
      'S3_ENDPOINT',
      'S3_REGION',
      'S3_FORCE_PATH_STYLE',
      'S3_CONNECT_TIMEOUT_MS',
      'S3_IDLE_TIMEOUT_MS',
      'ARTIFACT_CACHE_DIR',
      'ARTIFACT_CACHE_MAX_MB',
      'MODEL_SIGNING_KEY',
      'MODEL_SIGNING_PREVIOUS_KEYS',
      'METRICS_ADDRESS',
      'TRAINING_CONCURRENCY',
      'API_ADDRESS',
      'API_TOKENS',
      'API_FEATURE_CACHE_MS',
      'API_FEATURE_GRACE_MINUTES',
      'APP_METRICS_ADDRESS',
      'ALERT_WEBHOOK_URL',
      'STREAM_KEY',
      'STREAM_GROUP',
      'STREAM_METRICS_ADDRESS',
      'TEMPORAL_CLI_PATH',
    ]);
  });
});

describe('environment values of blank space', () => {
  it('are refused, naming the variable, not read as 0 or as a key', () => {
    expect(() => loadConfig({ API_FEATURE_GRACE_MINUTES: ' ' })).toThrow(/API_FEATURE_GRACE_MINUTES: holds only blank space/);
    expect(() => loadConfig({ MODEL_SIGNING_KEY: ' '.repeat(32) })).toThrow(/MODEL_SIGNING_KEY: holds only blank space/);
    // Empty is unset, as before.
    expect(loadConfig({ API_FEATURE_GRACE_MINUTES: '' }).apiFeatureGraceMinutes).toBe(120);
  });
});

describe('path and URL variables', () => {
  // What a shell would have removed or expanded: read as written, each named a new folder under the current directory.
  const PATH_VARIABLES = ['DATA_DIR', 'ARTIFACT_DIR', 'ARTIFACT_CACHE_DIR'];
  const cases: Array<[string, string, RegExp]> = [
    ...PATH_VARIABLES.flatMap((name): Array<[string, string, RegExp]> => [
      [name, '~/mlp', /starts with "~", which only a shell expands/],
      [name, "'/tmp/quoted dir'", /starts or ends with a quote/],
      [name, '"/tmp/quoted dir"', /starts or ends with a quote/],
      [name, ' /srv/ml', /blank space before or after it/],
      [name, '/srv/ml\t', /blank space before or after it/],
    ]),
    ['DATABASE_URL', 'sqlite: /abs/path.sqlite', /the file after "sqlite:" has blank space before or after it/],
    ['DATABASE_URL', 'sqlite:~/pipeline.sqlite', /the file after "sqlite:" starts with "~"/],
    ['DATABASE_URL', "sqlite:'/srv/pipeline.sqlite", /the file after "sqlite:" starts or ends with a quote/],
    ['DATABASE_URL', ' mysql://u@db:3306/bars', /blank space before or after it/],
    ['REDIS_URL', 'redis://cache:6379 ', /blank space before or after it/],
    ['ARTIFACT_URL', "'s3://bucket/prefix'", /starts or ends with a quote/],
    ['S3_ENDPOINT', ' http://10.0.0.1:7070', /blank space before or after it/],
    ['TEMPORAL_UI_URL', '"http://127.0.0.1:8233"', /starts or ends with a quote/],
  ];
  it.each(cases)('refuses %s=%j, naming the variable and why', (name, value, why) => {
    const lines = configError({ [name]: value }).message.split('\n').slice(1);
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^  ${name}=${JSON.stringify(value).replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}: `))]);
    expect(lines[0]).toMatch(why);
  });

  it('never echoes a secret URL it refuses', () => {
    const message = configError({ ALERT_WEBHOOK_URL: ' https://hooks.example.com/services/T0/B0/s3cr3t' }).message;
    expect(message).toMatch(/ALERT_WEBHOOK_URL=\(secret, not shown\): has blank space before or after it/);
    expect(message).not.toContain('s3cr3t');
  });

  it('still takes paths and URLs that read as written, spaces and quotes inside them included', () => {
    expect(loadConfig({ DATA_DIR: '/tmp/a dir with spaces', ARTIFACT_DIR: "/srv/o'brien" }).artifactDir).toBe("/srv/o'brien");
    expect(loadConfig({ DATABASE_URL: 'sqlite:/srv/my data/p~1.sqlite' }).databaseUrl).toBe('sqlite:/srv/my data/p~1.sqlite');
    expect(loadConfig({ DATABASE_URL: 'sqlite::memory:' }).databaseUrl).toBe('sqlite::memory:');
  });
});

describe('URL variables that are fetched or shown as links', () => {
  it.each([
    ['ALERT_WEBHOOK_URL', 'ftp://hooks.example.com/x'],
    ['ALERT_WEBHOOK_URL', 'mailto:ops@example.com'],
    ['ALERT_WEBHOOK_URL', 'file:///tmp/hook'],
    ['TEMPORAL_UI_URL', 'javascript:alert(1)'],
    ['TEMPORAL_UI_URL', 'ws://127.0.0.1:8233'],
    ['S3_ENDPOINT', 'javascript:alert(1)'],
    ['S3_ENDPOINT', 'file:///srv/minio'],
  ])('refuses %s=%j: http(s) only', (name, value) => {
    expect(configError({ [name]: value }).message).toMatch(new RegExp(`\n  ${name}=.*: expected an http\\(s\\) URL such as `));
  });

  it('takes http and https', () => {
    const config = loadConfig({ ALERT_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/x', TEMPORAL_UI_URL: 'http://ui.internal:8233', S3_ENDPOINT: 'https://s3.internal', ARTIFACT_URL: 's3://bucket' });
    expect(config.alertWebhookUrl).toBe('https://hooks.slack.com/services/T0/B0/x');
    expect(config.temporalUiUrl).toBe('http://ui.internal:8233');
    expect(config.artifacts).toMatchObject({ endpoint: 'https://s3.internal' });
  });
});

describe('host:port variables', () => {
  it('refuses a port above 65535, and port 0 where the process connects rather than listens', () => {
    expect(() => loadConfig({ API_ADDRESS: '127.0.0.1:99999' })).toThrow(/API_ADDRESS=.*the port must be 0\.\.65535/);
    expect(() => loadConfig({ TEMPORAL_ADDRESS: 'localhost:0' })).toThrow(/TEMPORAL_ADDRESS=.*the port must be 1\.\.65535/);
    expect(loadConfig({ API_ADDRESS: '0.0.0.0:65535' }).apiAddress).toBe('0.0.0.0:65535');
    // a listening address may ask the system for a free port
    expect(loadConfig({ API_ADDRESS: '127.0.0.1:0' }).apiAddress).toBe('127.0.0.1:0');
  });
});

describe('API token names', () => {
  const a = 'a'.repeat(24);
  const b = 'b'.repeat(24);
  it('gives each token its own name: a written name may not be an unnamed entry\'s default, nor the reverse', () => {
    expect(() => loadConfig({ API_TOKENS: `token-2:${a}=admin,${b}=predict` })).toThrow(/entry 2: the name "token-2" \(the default of an unnamed entry\) is already another token's/);
    expect(() => loadConfig({ API_TOKENS: `${a}=admin,token-1:${b}=predict` })).toThrow(/entry 2: the name "token-1" is already another token's/);
    expect(() => loadConfig({ API_TOKENS: `ops:${a}=admin,ops:${b}=predict` })).toThrow(/entry 2: the name "ops" is already another token's/);
    expect(loadConfig({ API_TOKENS: `ops:${a}=admin,${b}=predict` }).apiTokens.map((t) => t.name)).toEqual(['ops', 'token-2']);
  });
});

describe('signing keys with blank space at their ends or a comma', () => {
  // A key read from a secret file keeps its last line break in MODEL_SIGNING_KEY, while the same value
  // given in MODEL_SIGNING_PREVIOUS_KEYS at a rotation was trimmed: two key ids for one secret, and
  // everything the key signed was refused as another key's.
  const secret = 'a3f1c9e07b2d4e6f8a1b3c5d7e9f0a2b4c6d8e0f';
  it.each([
    ['a trailing line break', `${secret}\n`, /MODEL_SIGNING_KEY=\(secret, not shown\): has blank space \(a line break\) at its end/],
    ['a trailing carriage return and line break', `${secret}\r\n`, /MODEL_SIGNING_KEY=\(secret, not shown\): has blank space \(a line break\) at its end/],
    ['a trailing space', `${secret} `, /MODEL_SIGNING_KEY=\(secret, not shown\): has blank space at its end/],
    ['a leading space', ` ${secret}`, /MODEL_SIGNING_KEY=\(secret, not shown\): has blank space at its start/],
    ['a comma', `abc,${secret}`, /MODEL_SIGNING_KEY=\(secret, not shown\): holds a comma/],
  ])('refuses MODEL_SIGNING_KEY with %s, saying why and never echoing it', (_what, key, message) => {
    let error: unknown;
    try {
      loadConfig({ MODEL_SIGNING_KEY: key });
    } catch (e) {
      error = e;
    }
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain(secret);
  });

  it('gives a key the same key id in both variables: MODEL_SIGNING_PREVIOUS_KEYS entries are the keys between the commas, without blank space around them', () => {
    const current = loadConfig({ MODEL_SIGNING_KEY: secret });
    const moved = loadConfig({ MODEL_SIGNING_KEY: 'n'.repeat(40), MODEL_SIGNING_PREVIOUS_KEYS: `${secret}\n` });
    expect(moved.modelSigningPreviousKeys.map(signingKeyId)).toEqual([signingKeyId(current.modelSigningKey!)]);
  });

  it('takes previous keys written as a JSON list exactly, for what a key with blank space signed before it was refused', () => {
    const config = loadConfig({ MODEL_SIGNING_KEY: secret, MODEL_SIGNING_PREVIOUS_KEYS: JSON.stringify([`${secret}\n`, `x,${secret}`]) });
    expect(config.modelSigningPreviousKeys).toEqual([`${secret}\n`, `x,${secret}`]);
    expect(() => loadConfig({ MODEL_SIGNING_KEY: secret, MODEL_SIGNING_PREVIOUS_KEYS: '["short"]' })).toThrow(/MODEL_SIGNING_PREVIOUS_KEYS=\(secret, not shown\): .*at least 32 characters/);
    expect(() => loadConfig({ MODEL_SIGNING_KEY: secret, MODEL_SIGNING_PREVIOUS_KEYS: `["${secret}"` })).toThrow(/MODEL_SIGNING_PREVIOUS_KEYS=\(secret, not shown\): starts with "\[" but is not a JSON list of strings/);
  });
});

describe('numeric variables', () => {
  it.each([
    ['API_FEATURE_CACHE_MS', '0b0'],
    ['API_FEATURE_CACHE_MS', '0x3e8'],
    ['API_FEATURE_GRACE_MINUTES', '0x78'],
    ['API_FEATURE_GRACE_MINUTES', '\n120'],
    ['TRAINING_CONCURRENCY', '0x2'],
    ['TRAINING_CONCURRENCY', 'Infinity'],
    ['S3_CONNECT_TIMEOUT_MS', '5e3'],
    ['S3_IDLE_TIMEOUT_MS', '0o17'],
    ['ARTIFACT_CACHE_MAX_MB', ' 2048 '],
  ])('take decimal notation only, as command-line flags do: %s=%j is refused naming the variable', (name, value) => {
    const lines = configError({ [name]: value }).message.split('\n').slice(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^  ${name}=${JSON.stringify(value).replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}: expected a whole number`));
  });

  it('still read decimal numbers, a leading + included', () => {
    expect(loadConfig({ TRAINING_CONCURRENCY: '+4', API_FEATURE_CACHE_MS: '250', S3_CONNECT_TIMEOUT_MS: '5000' })).toMatchObject({ trainingConcurrency: 4, apiFeatureCacheMs: 250 });
    expect(loadObjectStoreSettings({ S3_CONNECT_TIMEOUT_MS: '5000', S3_IDLE_TIMEOUT_MS: '60000' })).toMatchObject({ connectTimeoutMs: 5000, idleTimeoutMs: 60000 });
  });
});

describe('API rate limits', () => {
  function rateLimitError(env: NodeJS.ProcessEnv): ConfigError {
    try {
      loadApiRateLimits(env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error(`loadApiRateLimits accepted ${JSON.stringify(env)}`);
  }

  it('read decimal numbers, 0 for no limit, and fall back to the defaults when unset or empty', () => {
    expect(loadApiRateLimits({})).toEqual({ authFailuresPerAddress: 30, predictionsPerToken: 60_000, predictionsPerAddress: 120_000 });
    expect(loadApiRateLimits({ API_RATE_LIMIT_AUTH_FAILURES: '', API_RATE_LIMIT_PREDICTIONS_PER_TOKEN: '0', API_RATE_LIMIT_PREDICTIONS_PER_ADDRESS: '500' })).toEqual({ authFailuresPerAddress: 30, predictionsPerToken: 0, predictionsPerAddress: 500 });
  });

  it.each([
    ['API_RATE_LIMIT_AUTH_FAILURES', ' '],
    ['API_RATE_LIMIT_AUTH_FAILURES', '\t'],
    ['API_RATE_LIMIT_PREDICTIONS_PER_TOKEN', '  '],
  ])('refuse %s=%j (blank space), naming the variable, rather than reading 0 and switching the limit off', (name, value) => {
    expect(rateLimitError({ [name]: value }).message).toBe(`Invalid configuration; fix these environment variables:\n  ${name}: holds only blank space; unset it (or leave it empty) for the default, or give a value`);
  });

  it.each([
    ['API_RATE_LIMIT_AUTH_FAILURES', '0x0'],
    ['API_RATE_LIMIT_PREDICTIONS_PER_ADDRESS', '0x0'],
    ['API_RATE_LIMIT_PREDICTIONS_PER_ADDRESS', '0b0'],
    ['API_RATE_LIMIT_AUTH_FAILURES', '1e1'],
    ['API_RATE_LIMIT_AUTH_FAILURES', '30/min'],
    ['API_RATE_LIMIT_AUTH_FAILURES', '-1'],
  ])('refuse %s=%j, naming the variable and the values it takes', (name, value) => {
    expect(rateLimitError({ [name]: value }).message).toBe(`Invalid configuration; fix these environment variables:\n  ${name}=${JSON.stringify(value)}: expected a whole number of requests per minute, 0 for no limit`);
  });

  it('refuse a hexadecimal per-token limit too (its value unshown, as of every variable named like a secret)', () => {
    expect(rateLimitError({ API_RATE_LIMIT_PREDICTIONS_PER_TOKEN: '0b0' }).message).toBe('Invalid configuration; fix these environment variables:\n  API_RATE_LIMIT_PREDICTIONS_PER_TOKEN="0b0": expected a whole number of requests per minute, 0 for no limit');
  });
});

describe('variables that name things', () => {
  it.each([
    ['TEMPORAL_NAMESPACE', ' default'],
    ['TEMPORAL_NAMESPACE', 'default\n'],
    ['STREAM_KEY', 'bars:live '],
    ['STREAM_GROUP', '\tbar-ingest'],
    ['S3_REGION', 'us-east-1 '],
    ['AWS_REGION', ' us-east-1'],
  ])('refuse %s=%j with blank space at an end, naming the variable, rather than keep it verbatim', (name, value) => {
    const lines = configError({ [name]: value }).message.split('\n').slice(1);
    expect(lines).toEqual([`  ${name}=${JSON.stringify(value)}: has blank space before or after it, which would be part of the value; remove the space`]);
  });

  it('keep names as given otherwise', () => {
    expect(loadConfig({ TEMPORAL_NAMESPACE: 'team-a', STREAM_KEY: 'bars:live:eu', STREAM_GROUP: 'ingest 2' })).toMatchObject({ temporalNamespace: 'team-a', streamKey: 'bars:live:eu', streamGroup: 'ingest 2' });
  });
});
