import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadConfig, printableConfig } from '../../lib/config';
import { isSecretName, REDACTED, redactDeep, redactEnv, redactUrl, redactValue } from '../../lib/redact';

const run = promisify(execFile);
const SLACK = 'https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdEFGH1234ijklMNOP5678';
const TOKEN = '7f3a9c1e5b2d4f6a8c0e7f3a9c1e5b2d';

describe('redactUrl', () => {
  it('masks the password of user:password URLs and keeps user, host, port and database', () => {
    expect(redactUrl('mysql://root:hunter2@db.internal:3306/pipeline')).toBe('mysql://root:***@db.internal:3306/pipeline');
    expect(redactUrl('redis://:s3cr3t@cache:6379/0')).toBe('redis://:***@cache:6379/0');
    expect(redactUrl('rediss://default:p%40ss@cache:6380')).toBe('rediss://default:***@cache:6380');
  });

  it('masks secret query parameters and token-like path segments of web URLs (webhooks)', () => {
    expect(redactUrl(SLACK)).toBe('https://hooks.slack.com/services/***/***/***');
    expect(redactUrl('https://example.com/hook?token=abc&channel=ops&api_key=xyz&X-Amz-Signature=f00')).toBe('https://example.com/hook?token=***&channel=ops&api_key=***&X-Amz-Signature=***');
    expect(redactUrl(`https://discord.com/api/webhooks/123456789012345678/${TOKEN}`)).toBe('https://discord.com/api/webhooks/***/***');
  });

  it('leaves URLs without credentials and file paths readable', () => {
    expect(redactUrl('http://127.0.0.1:8233')).toBe('http://127.0.0.1:8233');
    expect(redactUrl('http://127.0.0.1:8233/namespaces/default/workflows')).toBe('http://127.0.0.1:8233/namespaces/default/workflows');
    expect(redactUrl('sqlite:/tmp/mlp-sqlite-Xy12ab34cd56/test.sqlite')).toBe('sqlite:/tmp/mlp-sqlite-Xy12ab34cd56/test.sqlite');
    expect(redactUrl('not a url')).toBe('not a url');
  });
});

describe('secret variables', () => {
  it('recognises *_TOKEN(S), *_SECRET, *_PASSWORD, *_KEY and webhook URLs, in env or camelCase form', () => {
    for (const name of ['API_TOKENS', 'GITHUB_TOKEN', 'JWT_SECRET', 'DB_PASSWORD', 'AWS_SECRET_ACCESS_KEY', 'STRIPE_API_KEY', 'ALERT_WEBHOOK_URL', 'alertWebhookUrl', 'apiTokens', 'token']) expect([name, isSecretName(name)]).toEqual([name, true]);
    for (const name of ['DATABASE_URL', 'REDIS_URL', 'STREAM_KEY', 'streamKey', 'TEMPORAL_ADDRESS', 'name', 'scopes', 'API_RATE_LIMIT_PREDICTIONS_PER_TOKEN', 'predictionsPerToken']) expect([name, isSecretName(name)]).toEqual([name, false]);
  });

  it('hides secret values entirely (a URL keeps only scheme and host) and masks credentials in other URLs', () => {
    expect(redactValue('ALERT_WEBHOOK_URL', SLACK)).toBe(`https://hooks.slack.com/${REDACTED}`);
    expect(redactValue('GITHUB_TOKEN', 'ghp_abc')).toBe(REDACTED);
    expect(redactValue('DATABASE_URL', 'mysql://root:pw@h/db')).toBe('mysql://root:***@h/db');
    expect(redactEnv({ DB_PASSWORD: 'pw', STREAM_KEY: 'bars:live', REDIS_URL: 'redis://:pw@h:6379' })).toEqual({ DB_PASSWORD: REDACTED, STREAM_KEY: 'bars:live', REDIS_URL: 'redis://:***@h:6379' });
  });

  it('redacts nested values by their key names, through toJSON', () => {
    const withToJson = { toJSON: () => ({ name: 'ci', token: TOKEN }) };
    expect(redactDeep({ apiTokens: [withToJson], nested: { clientSecret: 'x', url: 'https://u:p@h/' }, count: 3 })).toEqual({ apiTokens: [{ name: 'ci', token: REDACTED }], nested: { clientSecret: REDACTED, url: 'https://u:***@h/' }, count: 3 });
  });
});

describe('printableConfig and `cli config`', () => {
  const env = {
    DATABASE_URL: 'mysql://root:hunter2-db-pass@db.internal:3306/pipeline',
    REDIS_URL: 'redis://:redis-pass-77@cache:6379/0',
    ALERT_WEBHOOK_URL: SLACK,
    API_TOKENS: `ci:${TOKEN}=predict+admin`,
  };
  const secrets = ['hunter2-db-pass', 'redis-pass-77', 'abcdEFGH1234ijklMNOP5678', 'B0456EFGH', TOKEN];

  it('keeps no credential of the configuration', () => {
    const text = JSON.stringify(printableConfig(loadConfig(env)));
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(JSON.parse(text)).toMatchObject({ databaseUrl: 'mysql://root:***@db.internal:3306/pipeline', redisUrl: 'redis://:***@cache:6379/0', alertWebhookUrl: `https://hooks.slack.com/${REDACTED}`, apiTokens: [{ name: 'ci', token: REDACTED, scopes: ['predict', 'admin'] }] });
  });

  it('`cli config` prints no credential', async () => {
    const root = path.resolve(__dirname, '..', '..');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(root, 'client', 'cli.ts'), 'config'], { cwd: root, env: { ...process.env, ...env } });
    expect(stdout).toContain('"databaseUrl": "mysql://root:***@db.internal:3306/pipeline"');
    for (const secret of secrets) expect(stdout).not.toContain(secret);
  }, 60_000);
});
