/**
 * pipeline_failed over a day of monitoring runs: every failing run shares the subject `pipeline`, so
 * the cool-down must not hide a run that failed after the first alert, nor tell a failure again once
 * it is past; a run stuck for hours is a condition, repeated after the cool-down.
 */
import { listAlerts, raiseAlert } from '../../../lib/alerts/alert-store';
import { evaluatePipelineHealth, parseMonitoringRules, PIPELINE_SUBJECT } from '../../../lib/monitoring/monitoring-rules';
import { alertedExecutions, pipelineHealthOf, type ExecutionSummary } from '../../../lib/monitoring/pipeline-health';
import { createSqliteTestDatabase, type TestDatabase } from '../../helpers/databases';

const rules = parseMonitoringRules({});
const run = (workflowId: string, type: string, start: string, close: string | null): ExecutionSummary => ({ workflowId, runId: `${workflowId}-run`, type, status: close ? 'Failed' : 'Running', startTime: start, closeTime: close });

describe('pipeline_failed alerts over monitoring runs', () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  /** What a monitoring run does (activities/monitoring.ts checkPipelineHealth, then raiseAlert): returns the alert's message, or undefined when none went out. */
  async function monitoringRun(at: string, failed: ExecutionSummary[], running: ExecutionSummary[] = []): Promise<string | undefined> {
    const now = new Date(at);
    const health = pipelineHealthOf({ failed, timedOut: [], running }, now, rules.pipeline_failed);
    const since = new Date(now.getTime() - rules.pipeline_failed.lookbackHours * 3_600_000).toISOString();
    const alerted = alertedExecutions((await listAlerts(t.store, { rule: 'pipeline_failed', subject: PIPELINE_SUBJECT, since, limit: 500 })).map((a) => a.evidence));
    const [finding] = evaluatePipelineHealth(health, rules, alerted).findings;
    if (!finding) return undefined;
    const raised = await raiseAlert(t.store, finding.alert, { now });
    return raised.suppressed ? undefined : finding.alert.message;
  }

  it('counts a terminated deployment run, told once, and not a terminated run of another workflow', async () => {
    const terminated = (workflowId: string, type: string): ExecutionSummary => ({ workflowId, runId: `${workflowId}-run`, type, status: 'Terminated', startTime: '2026-03-02T20:00:00Z', closeTime: '2026-03-02T20:10:00Z' });
    const now = new Date('2026-03-02T21:00:00Z');
    const deployment = terminated('d-m3u', 'deploymentWorkflow');
    const health = pipelineHealthOf({ failed: [], timedOut: [], terminated: [deployment, terminated('retrain-x', 'trainingPipeline')], running: [] }, now, rules.pipeline_failed);
    expect(health.status).toBe('failing');
    expect(health.terminated).toEqual([deployment]);
    expect(health.reason).toMatch(/1 deployment run terminated in the last 24 h, its last traffic split left serving \(deploymentWorkflow d-m3u/);
    const [finding] = evaluatePipelineHealth(health, rules).findings;
    expect(finding.alert.evidence).toMatchObject({ terminated: [deployment], newRuns: ['d-m3u/d-m3u-run'] });
    await raiseAlert(t.store, finding.alert, { now });
    const alerted = alertedExecutions((await listAlerts(t.store, { rule: 'pipeline_failed', subject: PIPELINE_SUBJECT, limit: 10 })).map((a) => a.evidence));
    expect(alerted.has('d-m3u/d-m3u-run')).toBe(true);
    // A terminated training run alone is no failure (an operator's choice, or a reset's replaced run).
    expect(pipelineHealthOf({ failed: [], timedOut: [], terminated: [terminated('retrain-x', 'trainingPipeline')], running: [] }, now, rules.pipeline_failed).status).toBe('healthy');
  });

  it('tells each failed run once, at the first run after it failed, whatever failed before it', async () => {
    const retrain = run('retrain-demo-2026-03-02T21:30:00Z', 'trainingPipeline', '2026-03-02T21:30:00Z', '2026-03-02T21:31:00Z');
    const monitoring = run('monitoring-2026-03-02T22:35:00Z', 'monitoringWorkflow', '2026-03-02T22:35:00Z', '2026-03-02T22:50:00Z');
    // 16:35 New York: the retrain's failure.
    expect(await monitoringRun('2026-03-02T21:35:00Z', [retrain])).toMatch(/retrain-demo/);
    // 18:05: a monitoring run failed at 17:50, another problem: told now, not after the cool-down (the next morning).
    expect(await monitoringRun('2026-03-02T23:05:00Z', [monitoring, retrain])).toMatch(/not alerted before: monitoringWorkflow monitoring-2026-03-02T22:35:00Z;/);
    // 9:35 the next day, both still in the 24 h look-back and past the 12 h cool-down: nothing new to tell.
    expect(await monitoringRun('2026-03-03T14:35:00Z', [monitoring, retrain])).toBeUndefined();
    expect(await monitoringRun('2026-03-03T20:35:00Z', [monitoring])).toBeUndefined();
    expect((await listAlerts(t.store, { rule: 'pipeline_failed' })).length).toBe(2);
  });

  it('tells a failed run once when two monitoring runs find it at the same time', async () => {
    const failed = run('retrain-demo-2026-03-02T21:30:00Z', 'trainingPipeline', '2026-03-02T21:30:00Z', '2026-03-02T21:31:00Z');
    const now = new Date('2026-03-02T21:35:00Z');
    // The schedule's run and one started by hand both look before either raises: neither sees an alert naming it.
    const look = async () => {
      const health = pipelineHealthOf({ failed: [failed], timedOut: [], running: [] }, now, rules.pipeline_failed);
      const since = new Date(now.getTime() - rules.pipeline_failed.lookbackHours * 3_600_000).toISOString();
      const alerted = alertedExecutions((await listAlerts(t.store, { rule: 'pipeline_failed', subject: PIPELINE_SUBJECT, since, limit: 500 })).map((a) => a.evidence));
      return evaluatePipelineHealth(health, rules, alerted).findings[0];
    };
    const [scheduled, byHand] = [await look(), await look()];
    // Each raises through its own activity (its own stable id per workflow run and activity).
    const first = await raiseAlert(t.store, scheduled.alert, { now, id: 'alert-monitoring-scheduled-7' });
    const second = await raiseAlert(t.store, byHand.alert, { now, id: 'alert-monitoring-by-hand-7' });
    expect(second.id).toBe(first.id);
    expect((await listAlerts(t.store, { rule: 'pipeline_failed' })).length).toBe(1);
    expect(Number((await t.store.db.selectFrom('alert_deliveries').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)).toBe(1);
    // A retry of either raise gets the same alert.
    expect((await raiseAlert(t.store, scheduled.alert, { now, id: 'alert-monitoring-scheduled-7' })).id).toBe(first.id);
    // A run failing later is news: told at once, in an alert of its own.
    const later = run('monitoring-2026-03-02T22:35:00Z', 'monitoringWorkflow', '2026-03-02T22:35:00Z', '2026-03-02T22:50:00Z');
    const health = pipelineHealthOf({ failed: [later, failed], timedOut: [], running: [] }, new Date('2026-03-02T23:05:00Z'), rules.pipeline_failed);
    const alerted = alertedExecutions((await listAlerts(t.store, { rule: 'pipeline_failed' })).map((a) => a.evidence));
    const [finding] = evaluatePipelineHealth(health, rules, alerted).findings;
    expect((await raiseAlert(t.store, finding.alert, { now: new Date('2026-03-02T23:05:00Z') })).suppressed).toBe(false);
    expect((await listAlerts(t.store, { rule: 'pipeline_failed' })).length).toBe(2);
  });

  it('repeats a run stuck for hours after the cool-down, and tells a new failure beside it at once', async () => {
    const stuck = run('retrain-demo-2026-03-02T21:30:00Z', 'trainingPipeline', '2026-03-02T21:30:00Z', null);
    expect(await monitoringRun('2026-03-03T04:00:00Z', [], [stuck])).toMatch(/running for more than 6 h/);
    expect(await monitoringRun('2026-03-03T05:00:00Z', [], [stuck])).toBeUndefined();
    const failed = run('monitoring-2026-03-03T05:35:00Z', 'monitoringWorkflow', '2026-03-03T05:35:00Z', '2026-03-03T05:40:00Z');
    expect(await monitoringRun('2026-03-03T06:00:00Z', [failed], [stuck])).toMatch(/not alerted before: monitoringWorkflow monitoring-2026-03-03T05:35:00Z;/);
    expect(await monitoringRun('2026-03-03T07:00:00Z', [failed], [stuck])).toBeUndefined();
    // The 06:00 alert named the stuck run too: 12 h after it, the run still stuck is told again.
    expect(await monitoringRun('2026-03-03T17:59:00Z', [failed], [stuck])).toBeUndefined();
    expect(await monitoringRun('2026-03-03T18:01:00Z', [failed], [stuck])).toMatch(/running for more than 6 h/);
  });
  it('counts and tells every failed run when more fail than an alert lists', async () => {
    // A broken release: 25 retrains failed between 21:00 and 21:25 (newest first, as visibility lists them).
    const failed = Array.from({ length: 25 }, (_, k) => run(`retrain-m${24 - k}`, 'trainingPipeline', `2026-03-02T21:${String(24 - k).padStart(2, '0')}:00Z`, `2026-03-02T21:${String(24 - k).padStart(2, '0')}:30Z`));
    expect(await monitoringRun('2026-03-02T21:35:00Z', failed)).toMatch(/25 failed in the last 24 h/);
    const later = run('retrain-late', 'trainingPipeline', '2026-03-02T22:30:00Z', '2026-03-02T22:31:00Z');
    expect(await monitoringRun('2026-03-02T22:35:00Z', [later, ...failed])).toMatch(/not alerted before: trainingPipeline retrain-late; workflow runs: 26 failed/);
    expect(await monitoringRun('2026-03-02T23:35:00Z', [later, ...failed])).toBeUndefined();
    // Every run told, each once.
    const told = (await listAlerts(t.store, { rule: 'pipeline_failed', limit: 500 })).flatMap((a) => (a.evidence as { newRuns: string[] }).newRuns);
    expect(told.length).toBe(26);
    expect(new Set(told).size).toBe(26);
  });
});
