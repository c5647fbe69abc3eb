import type { Alert } from '../../../lib/alerts/alert';
import { evidenceSummary, slackMessage } from '../../../lib/alerts/slack-message';

const alert = (over: Partial<Alert> = {}): Alert => ({
  id: 'a-1',
  rule: 'data_drift',
  severity: 'critical',
  subject: 'model demo-direction-5d',
  message: '7 of 61 features drifted',
  evidence: { driftedFeatures: 7, maxPsi: 0.41, features: ['rsi_14', 'atr_14'], link: 'https://example.test/report' },
  status: 'open',
  createdAt: '2026-03-02T15:35:00.000Z',
  ackedBy: null,
  ackedAt: null,
  ...over,
});

/** Every mrkdwn text in the message, blocks and fields alike. */
function texts(message: ReturnType<typeof slackMessage>): string[] {
  const out: string[] = [];
  const visit = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      if (o.type === 'mrkdwn' && typeof o.text === 'string') out.push(o.text);
      Object.values(o).forEach(visit);
    }
  };
  visit(message.attachments);
  return out;
}

describe('Slack-compatible alert message', () => {
  it('has a text fallback and blocks with severity, rule, subject, message, evidence and the link', () => {
    const m = slackMessage(alert(), 'https://example.test/report');
    expect(m.text).toContain('[CRITICAL] data_drift — model demo-direction-5d: 7 of 61 features drifted');
    expect(m.attachments).toHaveLength(1);
    expect(m.attachments[0].color).toBe('#d0021b');
    const all = texts(m).join('\n');
    expect(all).toContain('*Severity*\ncritical');
    expect(all).toContain('*Rule*\ndata_drift');
    expect(all).toContain('driftedFeatures: 7');
    expect(all).toContain('maxPsi: 0.41');
    expect(all).toContain('features: ["rsi_14","atr_14"]');
    expect(all).toContain('<https://example.test/report|');
    expect(all).toContain('mlp alerts ack a-1');
    // The link is shown once, as a link, not among the evidence lines.
    expect(all).not.toContain('link: https');
  });

  it('colours by severity and leaves the link out when there is none', () => {
    expect(slackMessage(alert({ severity: 'warning' })).attachments[0].color).toBe('#f5a623');
    const info = slackMessage(alert({ severity: 'info' }));
    expect(info.attachments[0].color).toBe('#4a90e2');
    expect(texts(info).some((t) => t.includes('<http'))).toBe(false);
  });

  it('keeps every block under Slack limits, whatever the evidence and message', () => {
    const huge = alert({ message: 'x'.repeat(10_000), evidence: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`field${i}`, 'y'.repeat(1000)])) });
    const m = slackMessage(huge);
    for (const t of texts(m)) expect(t.length).toBeLessThanOrEqual(3000);
    expect(m.text.length).toBeLessThanOrEqual(3000);
    expect(evidenceSummary(huge.evidence)).toContain('more fields (mlp alerts show <id>)');
  });

  it('summarises non-object evidence and none at all', () => {
    expect(evidenceSummary(null)).toBe('');
    expect(evidenceSummary([1, 2, 3])).toBe('[1,2,3]');
    expect(evidenceSummary('plain')).toBe('"plain"');
  });
});
