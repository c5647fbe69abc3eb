import { alertFromRow, alertInputSchema, serialiseEvidence } from '../../../lib/alerts/alert';
import { alertChannelNames, alertLink } from '../../../lib/alerts/channels';
import { retryDelaySeconds, RETRY_MAX_SECONDS } from '../../../lib/alerts/outbox';

const temporal = { temporalUiUrl: 'http://ui.test:8233', temporalNamespace: 'default' };

describe('alert input, evidence, back-off and links', () => {
  it('accepts the documented shape and refuses a rule that is not snake_case or an unknown severity', () => {
    expect(alertInputSchema.parse({ rule: 'data_stale', severity: 'warning', subject: 'symbol AAPL', message: 'no bar for 3 sessions', evidence: {} }).rule).toBe('data_stale');
    expect(() => alertInputSchema.parse({ rule: 'Data Stale', severity: 'warning', subject: 's', message: 'm', evidence: {} })).toThrow(/snake_case/);
    expect(() => alertInputSchema.parse({ rule: 'data_stale', severity: 'fatal', subject: 's', message: 'm', evidence: {} })).toThrow();
    expect(() => alertInputSchema.parse({ rule: 'data_stale', severity: 'info', subject: '', message: 'm', evidence: {} })).toThrow();
  });

  it('stores evidence that would not fit a MySQL TEXT column as a truncated preview', () => {
    const small = serialiseEvidence({ a: 1 });
    expect(JSON.parse(small)).toEqual({ a: 1 });
    const big = serialiseEvidence({ values: 'x'.repeat(100_000) });
    expect(Buffer.byteLength(big)).toBeLessThan(60_000);
    expect(JSON.parse(big)).toMatchObject({ truncated: true, bytes: expect.any(Number) });
    expect(serialiseEvidence(undefined)).toBe('null');
  });

  it('reads stored rows back, unknown severities as warnings', () => {
    const row = { id: 'x', rule: 'r', severity: 'weird', subject: 's', message: 'm', evidence: '{"k":1}', status: 'acked', created_at: 't', acked_by: 'me', acked_at: 't2' };
    expect(alertFromRow(row)).toMatchObject({ severity: 'warning', evidence: { k: 1 }, status: 'acked', ackedBy: 'me' });
  });

  it('backs off exponentially from 5 s and never beyond 15 minutes', () => {
    expect([1, 2, 3, 4, 5].map(retryDelaySeconds)).toEqual([5, 10, 20, 40, 80]);
    expect(retryDelaySeconds(50)).toBe(RETRY_MAX_SECONDS);
    expect(retryDelaySeconds(1000)).toBe(RETRY_MAX_SECONDS);
  });

  it('links to evidence.link, else to the Web UI page of the workflow behind the alert', () => {
    const base = { id: 'a', rule: 'r', severity: 'info' as const, subject: 's', message: 'm', status: 'open' as const, createdAt: 't', ackedBy: null, ackedAt: null };
    expect(alertLink({ ...base, evidence: { link: 'https://grafana.test/d/x' } }, temporal)).toBe('https://grafana.test/d/x');
    expect(alertLink({ ...base, evidence: { deploymentId: 'deploy-m-v2' } }, temporal)).toBe('http://ui.test:8233/namespaces/default/workflows/deploy-m-v2');
    expect(alertLink({ ...base, evidence: { workflowId: 'a/b' } }, temporal)).toBe('http://ui.test:8233/namespaces/default/workflows/a%2Fb');
    expect(alertLink({ ...base, evidence: { link: 'javascript:alert(1)' } }, temporal)).toBeUndefined();
    expect(alertLink({ ...base, evidence: null }, temporal)).toBeUndefined();
  });

  it('queues the webhook only when ALERT_WEBHOOK_URL is set; the log always', () => {
    expect(alertChannelNames({ alertWebhookUrl: undefined })).toEqual(['log']);
    expect(alertChannelNames({ alertWebhookUrl: 'https://hooks.test/x' })).toEqual(['log', 'webhook']);
  });
});
