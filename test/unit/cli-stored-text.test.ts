/**
 * Free text the store keeps from people and clients (a rollback's or a split's reason, who moved an
 * alias, an abort's reason in a deployment's decisions, an alert's subject and message, a delivery's
 * error) is printed by the CLI escaped (lib/quality/excerpt.ts escapeControl), as the quarantine
 * command prints its rows: a reason holding terminal escape sequences cleared the screen, set the
 * window title and faked extra lines in `mlp models history`.
 */
import { alertLine, deliveryLine } from '../../client/commands/alerts';
import { quarantineLine } from '../../client/commands/data';
import { describeDeployment } from '../../client/commands/deployments';
import type { DeploymentState } from '../../workflows';

/** Clears the screen, sets the window title, colours (C1 CSI too), reverses the line, and fakes a line. */
const EVIL = 'bad canary\x1b[2J\x1b[H\x1b]0;owned\x07\u009b32mapproved\u202e\nFAKE 2099-01-01 champion v1 → v2 by cto: all good';
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const RAW = /[\u0000-\u001f\u007f-\u009f\u202e]/;

/** The printed lines: as many as expected, none holding a raw control character. */
function expectPrintable(text: string, lines: number): void {
  const split = text.split('\n');
  expect(split).toHaveLength(lines);
  for (const line of split) expect(line).not.toMatch(RAW);
  expect(text).toContain('bad canary\\x1b[2J\\x1b[H\\x1b]0;owned\\x07\\x9b32mapproved\\u202e\\nFAKE');
}

describe('the CLI prints stored free text escaped', () => {
  it('alert lines: subject, message and who acknowledged it', () => {
    expectPrintable(alertLine({ id: 'a1', rule: 'data_drift', severity: 'warning', subject: `model m ${EVIL}`, message: EVIL, evidence: {}, status: 'acked', createdAt: '2024-01-02T00:00:00.000Z', ackedBy: EVIL, ackedAt: '2024-01-02T00:00:00.000Z' }), 1);
  });

  it('quarantine lines: the message, source and rule, even of a row stored unescaped (by hand, by an older build)', () => {
    expectPrintable(quarantineLine({ severity: 'error', rule: `ohlc ${EVIL}`, symbol: 'AAA', date: '2024-01-02', source: `file ${EVIL}.csv`, line: 3, message: EVIL }), 1);
  });

  it('delivery lines: the channel error', () => {
    expectPrintable(deliveryLine({ alertId: 'a1', channel: 'slack', status: 'pending', attempts: 2, lastError: EVIL, nextAttemptAt: '2024-01-02T00:00:00.000Z', deliveredAt: null }), 1);
  });

  it('deployment descriptions: analyses, blockers and decisions (an abort reason, who steered it)', () => {
    const state: DeploymentState = {
      deploymentId: 'deploy-m-v2',
      model: 'm',
      mode: 'canary',
      championVersion: 1,
      challengerVersion: 2,
      status: 'rolled-back',
      step: 0,
      steps: [5, 100],
      challengerWeight: 0,
      failures: 1,
      analyses: [{ at: '2024-01-02T00:00:00.000Z', phase: 'canary', weight: 0.05, verdict: 'fail', reasons: [EVIL] }],
      analysisCount: 1,
      decisions: [{ at: '2024-01-02T00:00:00.000Z', message: `aborted by ${EVIL}: ${EVIL}` }],
      decisionCount: 1,
      blockers: [EVIL],
      run: 1,
    };
    // Two header lines, one analysis, one blocker, one decision.
    expectPrintable(describeDeployment(state), 5);
  });
});
