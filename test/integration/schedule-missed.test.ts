/**
 * A retrain missed while the Temporal server was down longer than the schedule's catch-up window:
 * the server drops it (no run, so nothing fails) and only the schedule's counter tells. A real dev
 * server on a database file is stopped before the retrain is due and started again after the
 * window; the monitoring activity that checks pipeline health must then alert it once, naming the
 * backfill, and not again at the next run.
 */
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { readExperimentFile } from '../../client/commands/run-pipeline';
import { retrainSchedule } from '../../client/schedules';
import { monitoringActivities, type PipelineHealthResult } from '../../activities/monitoring';
import { listAlerts, raiseAlert } from '../../lib/alerts/alert-store';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { startTemporal } from '../helpers/temporal';
import { freePort } from '../helpers/worker-process';

const REPO = path.resolve(__dirname, '../..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('schedule_missed: a retrain dropped during a server outage (real dev server)', () => {
  let env: TestWorkflowEnvironment | undefined;
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
  });
  afterAll(async () => {
    await env?.teardown();
    await t?.drop();
  });

  it('is alerted once by the next pipeline health check, with the backfill that starts it; the check after says it was alerted', async () => {
    const port = await freePort();
    const dbFilename = path.join(tempDir('mlp-temporal-outage-'), 'temporal.db');
    env = await startTemporal({ port, dbFilename });
    const experiment = readExperimentFile(path.join(REPO, 'experiments', 'demo.json'));
    const missing = { source: { kind: 'csv' as const, path: path.join(tempDir('mlp-missed-'), 'no-such-folder') } };
    // One retrain due 20 s from now (an hourly interval with that offset), a 10 s catch-up window.
    const due = Date.now() + 20_000;
    const definition = retrainSchedule({ experiment, import: missing, catchupWindow: '10s' });
    await env.client.schedule.create({ ...definition, spec: { intervals: [{ every: '1h', offset: due % 3_600_000 }] } });
    const before = await env.client.schedule.getHandle(definition.scheduleId).describe();
    expect(Math.abs(before.info.nextActionTimes[0].getTime() - due)).toBeLessThan(1000);

    // The outage: down before the retrain is due, back after its catch-up window.
    await env.teardown();
    env = undefined;
    while (Date.now() < due + 10_000 + 5_000) await sleep(500);
    env = await startTemporal({ port, dbFilename });
    const client = env.client;
    let missed = 0;
    for (let i = 0; i < 120 && missed === 0; i++) {
      missed = (await client.schedule.getHandle(definition.scheduleId).describe()).info.numActionsMissedCatchupWindow;
      if (missed === 0) await sleep(500);
    }
    expect(missed).toBe(1);
    const after = await client.schedule.getHandle(definition.scheduleId).describe();
    expect(after.info.numActionsTaken).toBe(0);

    const activities = monitoringActivities({ store: t.store });
    const check = (): Promise<PipelineHealthResult> => new MockActivityEnvironment(undefined, { client }).run(activities.checkPipelineHealth, {});
    const first = await check();
    expect(first.health.status).toBe('failing');
    expect(first.health.reason).toMatch(new RegExp(`schedule ${definition.scheduleId}: 1 scheduled retrain missed`));
    const alerts = first.findings.filter((f) => f.alert.rule === 'schedule_missed');
    expect(alerts).toHaveLength(1);
    const [finding] = alerts;
    expect(finding.alert.subject).toBe(`schedule ${definition.scheduleId}`);
    expect(finding.alert.message).toMatch(/1 scheduled retrain of schedule retrain-demo-direction-5d never started/);
    // The missed time itself, as the backfill's range.
    const backfill = /`mlp schedules backfill retrain-demo-direction-5d --from (\S+) --to (\S+)`/.exec(finding.alert.message);
    expect(backfill).not.toBeNull();
    expect(Math.abs(new Date(backfill![1]).getTime() - due)).toBeLessThan(1000);
    expect(backfill![2]).toBe(backfill![1]);
    expect(finding.alert.evidence).toMatchObject({ scheduleId: definition.scheduleId, missedCatchupWindow: 1, newlyMissed: 1 });
    expect(first.findings.some((f) => f.alert.rule === 'pipeline_failed')).toBe(false);
    await raiseAlert(t.store, finding.alert);

    // The next monitoring run: told already, so no second alert; health still names it within the look-back.
    const second = await check();
    expect(second.findings.filter((f) => f.alert.rule === 'schedule_missed')).toHaveLength(0);
    expect(second.health.status).toBe('failing');
    expect(second.health.reason).toMatch(/missed retrains alerted before/);
    expect(await listAlerts(t.store, { rule: 'schedule_missed' })).toHaveLength(1);
    await client.schedule.getHandle(definition.scheduleId).delete();
  }, 240_000);
});
