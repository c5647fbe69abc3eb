/**
 * Free text the store keeps from people and clients (a rollback's or a split's reason, who moved an
 * alias, an abort's reason in a deployment's decisions, an alert's subject and message, a delivery's
 * error) is printed by the CLI escaped (lib/quality/excerpt.ts escapeControl), as the quarantine
 * command prints its rows: a reason holding terminal escape sequences cleared the screen, set the
 * window title and faked extra lines in `mlp models history`.
 */
import { PassThrough } from 'node:stream';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, RetryState } from '@temporalio/common';
import { alertLine, deliveryLine } from '../../client/commands/alerts';
import { quarantineLine } from '../../client/commands/data';
import { describeDeployment } from '../../client/commands/deployments';
import { describeCandidates } from '../../client/commands/run-pipeline';
import { followRun, progressItems } from '../../client/follow-run';
import { changedLines, liveLine, progressSink } from '../../client/progress';
import type { DeploymentState, PipelineStatus, TrainingPipelineResult } from '../../workflows';

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
    // An analysis run while the step was held for a person says so.
    state.analyses.push({ at: '2024-01-03T00:00:00.000Z', phase: 'canary', weight: 0.05, verdict: 'fail', reasons: ['paired hit rate'], held: 'paused-inconclusive' });
    expect(describeDeployment(state)).toContain('2024-01-03T00:00:00.000Z canary @5% (held: paused-inconclusive): fail — paired hit rate');
  });

  it("a run's candidates: algorithm, guard messages, promotion reasons, a report's error (a worker's or an older build's text)", () => {
    const candidate = (bestOfRun: boolean) => ({
      report: { error: EVIL },
      algorithm: `forest ${EVIL}`,
      bestOfRun,
      training: { best: { score: 0.53 } },
      evaluation: {
        report: {
          period: { from: '2016-02-02', to: EVIL },
          classification: { accuracy: 0.54, rocAuc: 0.53 },
          baseline: { name: EVIL, accuracy: 0.56, accuracyLift: -0.02, liftInterval: [-0.05, 0.01], pValue: 0.86 },
          informationCoefficient: { mean: 0.01, tStat: 1.1 },
          backtest: { strategy: { sharpe: 1.2, maxDrawdown: 0.1 }, buyAndHold: { sharpe: 1.9 } },
          inference: { method: EVIL },
          guards: [{ guard: EVIL, tripped: true }],
        },
      },
      registration: { version: { name: `m ${EVIL}`, version: 2 }, decision: { promote: false, reason: `not promoted: ${EVIL}` } },
    });
    const result = {
      dataset: { datasetId: EVIL, rows: 10, symbols: 2 },
      datasetGuards: { verdicts: [{ guard: 'leak', passed: false, message: EVIL }] },
      candidates: [candidate(false), candidate(true)],
      experiment: { name: EVIL },
      deploymentWorkflowId: EVIL,
    } as unknown as TrainingPipelineResult;
    const text = describeCandidates(result);
    expect(text.endsWith('\n')).toBe(true);
    // Dataset, guard, two candidates with their report lines (4), inference method, nothing promoted, deployment.
    expectPrintable(text.slice(0, -1), 9);
  });

  it("a followed run's progress lines: stage details, heartbeat phases, activity names, notes", () => {
    const status = { stages: [{ name: `ingest ${EVIL}`, status: 'completed', detail: EVIL }, { name: 'features', status: 'running', detail: EVIL }] } as unknown as PipelineStatus;
    const heartbeat = { payloads: [{ data: Buffer.from(JSON.stringify({ phase: EVIL, chunk: 1, chunks: 4 })) }] };
    const items = progressItems(status, [{ activityType: { name: `ingestBars ${EVIL}` }, heartbeatDetails: heartbeat }], [{ algorithm: EVIL, phase: 'search', trialsDone: 1, trialsFailed: 0, budget: 4, running: 1 }]);
    // Each item one line of a log.
    expectPrintable(changedLines([], items).join('\n'), 4);
    const live = liveLine(items, 100_000);
    expectPrintable(live, 1);

    const pipe = Object.assign(new PassThrough(), { isTTY: false });
    const sink = progressSink(pipe);
    sink.update(items);
    sink.note(`lost contact with ${EVIL}`);
    expectPrintable((pipe.read() as Buffer).toString().slice(0, -1), 5);

    // On a terminal the sink's own escape sequences (clear the line) are all that is raw.
    const tty = Object.assign(new PassThrough(), { isTTY: true, columns: 100_000 });
    const liveSink = progressSink(tty);
    liveSink.update(items);
    liveSink.note(EVIL);
    liveSink.finish();
    const written = (tty.read() as Buffer).toString().split('\r\x1b[2K').filter(Boolean);
    expect(written).toHaveLength(2);
    for (const line of written) expectPrintable(line.replace(/\n$/, ''), 1);
  });

  it("a followed run's failure: the reason a worker gave, escaped", async () => {
    const handle = {
      workflowId: 'run-x',
      result: () => Promise.reject(new WorkflowFailedError('Workflow execution failed', ApplicationFailure.nonRetryable(EVIL), RetryState.NON_RETRYABLE_FAILURE)),
      query: () => Promise.reject(new Error('no worker')),
      describe: () => Promise.reject(new Error('no worker')),
      client: { getHandle: () => ({ query: () => Promise.reject(new Error('no worker')) }) },
    } as unknown as WorkflowHandle;
    const error = (await followRun(handle, { update: () => undefined, finish: () => undefined, note: () => undefined }, { pollMs: 1 }).catch((e: unknown) => e)) as Error;
    expect(error.message.startsWith('Run run-x failed: bad canary')).toBe(true);
    expectPrintable(error.message, 1);
  });
});
