/**
 * Two monitoring runs that overlap (the schedule's and one by hand) each list the failed runs and
 * then raise their pipeline_failed alert through the real activity. When they found different new
 * failures, each failed run must still be told once: the second alert tells only what the first did
 * not, or nothing when the first told it all. On SQLite and MariaDB.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { alertActivities, type RaiseAlertActivityResult } from '../../activities/alerts';
import type { AlertInput } from '../../lib/alerts/alert';
import { listAlerts } from '../../lib/alerts/alert-store';
import { evaluatePipelineHealth, parseMonitoringRules, PIPELINE_SUBJECT } from '../../lib/monitoring/monitoring-rules';
import { alertedExecutions, pipelineHealthOf, type ExecutionSummary } from '../../lib/monitoring/pipeline-health';
import { DRIVERS, type TestDatabase } from '../helpers/databases';

const rules = parseMonitoringRules({});
const NOW = new Date(Date.now() - 60_000);
const failedRun = (workflowId: string, minutesAgo: number): ExecutionSummary => ({ workflowId, runId: `${workflowId}-run`, type: 'trainingPipeline', status: 'Failed', startTime: new Date(NOW.getTime() - (minutesAgo + 5) * 60_000).toISOString(), closeTime: new Date(NOW.getTime() - minutesAgo * 60_000).toISOString() });

describe.each(DRIVERS)('overlapping monitoring runs on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  /** What checkPipelineHealth answers: the alert for the runs no stored alert named yet. */
  async function look(failed: ExecutionSummary[]): Promise<AlertInput> {
    const health = pipelineHealthOf({ failed, timedOut: [], running: [] }, NOW, rules.pipeline_failed);
    const earlier = await listAlerts(t.store, { rule: 'pipeline_failed', subject: PIPELINE_SUBJECT, since: health.since, limit: 500 });
    const [finding] = evaluatePipelineHealth(health, rules, alertedExecutions(earlier.map((a) => a.evidence))).findings;
    return finding.alert;
  }
  /** raiseAlert as the monitoring workflow `workflowId` runs it. */
  function raise(workflowId: string, alert: AlertInput): Promise<RaiseAlertActivityResult> {
    const env = new MockActivityEnvironment({ activityId: '7', workflowExecution: { workflowId, runId: `${workflowId}-r` } });
    return env.run(alertActivities({ store: t.store, config: { alertWebhookUrl: undefined, temporalUiUrl: 'http://ui.test:8233', temporalNamespace: 'default' } }).raiseAlert, alert) as Promise<RaiseAlertActivityResult>;
  }
  /** How many stored alerts tell each run as news. */
  async function toldCount(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const a of await listAlerts(t.store, { rule: 'pipeline_failed', limit: 500 })) for (const run of (a.evidence as { newRuns: string[] }).newRuns) counts[run] = (counts[run] ?? 0) + 1;
    return counts;
  }

  const x = failedRun('retrain-x', 30);
  const y = failedRun('retrain-y', 2);

  it('the run that saw more raises second: its alert tells only the failure the first did not', async () => {
    const [scheduled, byHand] = [await look([x]), await look([y, x])];
    const first = await raise('monitoring-scheduled', scheduled);
    const second = await raise('monitoring-by-hand', byHand);
    expect(first.suppressed).toBe(false);
    expect(second.suppressed).toBe(false);
    expect(second.id).not.toBe(first.id);
    expect(await toldCount()).toEqual({ 'retrain-x/retrain-x-run': 1, 'retrain-y/retrain-y-run': 1 });
    const told = (await listAlerts(t.store, { rule: 'pipeline_failed' })).find((a) => a.id === second.id);
    expect(told?.message).toMatch(/^not alerted before: trainingPipeline retrain-y;/);
    // A retry of the second raise answers the alert it stored, once.
    expect(await raise('monitoring-by-hand', byHand)).toMatchObject({ id: second.id, suppressed: false });
    expect((await listAlerts(t.store, { rule: 'pipeline_failed' })).length).toBe(2);
  });

  it('the run that saw more raises first: the other one has nothing left to tell', async () => {
    const [scheduled, byHand] = [await look([x]), await look([y, x])];
    const first = await raise('monitoring-by-hand', byHand);
    const second = await raise('monitoring-scheduled', scheduled);
    expect(second).toMatchObject({ id: first.id, suppressed: true });
    expect(await toldCount()).toEqual({ 'retrain-x/retrain-x-run': 1, 'retrain-y/retrain-y-run': 1 });
    expect(Number((await t.store.db.selectFrom('alert_deliveries').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)).toBe(1);
  });

  it('both raise at the same moment: every failed run is told once', async () => {
    const z = failedRun('retrain-z', 1);
    const looks = [await look([x]), await look([y, x]), await look([z, y, x]), await look([z, x])];
    await Promise.all(looks.map((alert, i) => raise(`monitoring-${i}`, alert)));
    expect(await toldCount()).toEqual({ 'retrain-x/retrain-x-run': 1, 'retrain-y/retrain-y-run': 1, 'retrain-z/retrain-z-run': 1 });
  });
});
