/**
 * The pipeline's Temporal Schedules against a real dev server: the default retraining and
 * monitoring specs (New York time, NYSE holidays skipped), create/update/describe, SKIP overlap,
 * pause/resume, trigger, backfill, pause-on-failure with a run that fails fast, delete, and the CLI.
 * Timing-sensitive cases use second-level interval specs.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ScheduleNotFoundError, type Client, type ScheduleDescription } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { readExperimentFile } from '../../client/commands/run-pipeline';
import { createSchedule, monitorSchedule, nyseHolidaySkips, retrainSchedule, scheduledTimesBetween, updateSchedule, upsertSchedule, withSchedule } from '../../client/schedules';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { isNyseTradingDay, nyseCloseTime, nyseHolidays, nyseTradingDaysBetween } from '../../lib/calendar/nyse';
import type { ExperimentInput } from '../../lib/experiments/experiment';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { startTemporal, withWorkers } from '../helpers/temporal';
import { freePort } from '../helpers/worker-process';

const REPO = path.resolve(__dirname, '../..');
const run = promisify(execFile);

/** Weekday, hour and minute of an instant on the New York wall clock. */
function newYork(d: Date): { weekday: string; hour: number; minute: number; date: string } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false })
      .formatToParts(d)
      .map((p) => [p.type, p.value]),
  );
  return { weekday: parts.weekday, hour: Number(parts.hour) % 24, minute: Number(parts.minute), date: `${parts.year}-${parts.month}-${parts.day}` };
}

/** Polls describe() until `done` holds (the server takes actions asynchronously); a describe that times out on a busy server is retried. */
async function describeUntil(client: Client, id: string, done: (d: ScheduleDescription) => boolean, what: string): Promise<ScheduleDescription> {
  let last: ScheduleDescription | undefined;
  let lastError: unknown;
  for (let i = 0; i < 300; i++) {
    try {
      last = await client.schedule.getHandle(id).describe();
      if (done(last)) return last;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`schedule ${id} never reached: ${what}; last info ${JSON.stringify(last?.info)} state ${JSON.stringify(last?.state)}; last error ${(lastError as Error | undefined)?.message}`);
}

describe('Temporal Schedules (real dev server)', () => {
  let env: TestWorkflowEnvironment;
  let client: Client;
  let experiment: ExperimentInput;
  // Runs that fail fast: the ingest step finds no such folder (non-retryable).
  const missing = { source: { kind: 'csv' as const, path: path.join(tempDir('mlp-schedules-'), 'no-such-folder') } };

  beforeAll(async () => {
    env = await startTemporal({ port: await freePort() });
    client = env.client;
    experiment = readExperimentFile(path.join(REPO, 'experiments', 'demo.json'));
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('creates the retraining schedule: weekdays 16:30 New York, NYSE holidays skipped, SKIP, 10-minute catch-up; a second create says to use update', async () => {
    const definition = retrainSchedule({ experiment, import: missing, paused: true });
    expect(definition.scheduleId).toBe('retrain-demo-direction-5d');
    await createSchedule(client, definition);
    const d = await client.schedule.getHandle(definition.scheduleId).describe();
    expect(d.action.workflowType).toBe('trainingPipeline');
    expect(d.action.taskQueue).toBe('ml-pipeline');
    expect(d.action.args?.[0]).toMatchObject({ import: missing, experiment: { name: 'demo-direction-5d' } });
    expect(d.policies).toEqual({ overlap: 'SKIP', catchupWindow: 10 * 60_000, pauseOnFailure: false });
    expect(d.state.paused).toBe(true);
    expect(d.state.note).toMatch(/schedules resume retrain-demo-direction-5d/);
    expect(d.spec.timezone).toBe('America/New_York');
    expect(d.info.nextActionTimes.length).toBeGreaterThanOrEqual(5);
    for (const t of d.info.nextActionTimes) {
      const local = newYork(t);
      expect([local.weekday, local.hour, local.minute]).toEqual([expect.stringMatching(/^(Mon|Tue|Wed|Thu|Fri)$/), 16, 30]);
      expect(isNyseTradingDay(local.date)).toBe(true);
    }

    await expect(createSchedule(client, definition)).rejects.toThrow('schedule "retrain-demo-direction-5d" already exists: change it with "mlp schedules update retrain-demo-direction-5d …"');

    // Next year's Thanksgiving week: Monday, Tuesday, Wednesday and Friday, not the holiday.
    const year = new Date().getUTCFullYear() + 1;
    const thanksgiving = [...nyseHolidays(year)].find(([, name]) => name.startsWith('Thanksgiving'))?.[0] as string;
    const monday = new Date(Date.parse(`${thanksgiving}T00:00:00Z`) - 3 * 86_400_000);
    const week = await scheduledTimesBetween(client, definition.scheduleId, monday, new Date(monday.getTime() + 5 * 86_400_000));
    expect(week.map((t) => newYork(t).weekday)).toEqual(['Mon', 'Tue', 'Wed', 'Fri']);
  });

  it('creates the monitoring schedule: hourly at :35 in market hours on weekdays, once after the day\'s bars are due, once a day on weekends, in New York time across a DST change', async () => {
    const definition = monitorSchedule({ paused: true, monitoring: { models: ['m1'], retrainOnDrift: true } });
    await createSchedule(client, definition);
    const d = await client.schedule.getHandle('monitoring').describe();
    expect(d.action).toMatchObject({ workflowType: 'monitoringWorkflow', taskQueue: 'ml-pipeline', args: [{ models: ['m1'], retrainOnDrift: true }] });
    // 2027-03-14 is the first day of daylight saving time in New York.
    const times = await scheduledTimesBetween(client, 'monitoring', new Date('2027-03-08T05:00:00Z'), new Date('2027-03-15T04:00:00Z'));
    const local = times.map(newYork);
    const weekdays = local.filter((l) => !['Sat', 'Sun'].includes(l.weekday));
    const weekends = local.filter((l) => ['Sat', 'Sun'].includes(l.weekday));
    expect(weekdays).toHaveLength(5 * 9);
    expect(new Set(weekdays.map((l) => `${l.hour}:${l.minute}`))).toEqual(new Set(['9:35', '10:35', '11:35', '12:35', '13:35', '14:35', '15:35', '16:35', '18:5']));
    expect(weekends.map((l) => [l.weekday, l.hour, l.minute])).toEqual([['Sat', 12, 35], ['Sun', 12, 35]]);
  });

  it('runs monitoring on every trading day after that day\'s bars are due (close, early closes included, + the freshness grace), as the server computes the calendar', async () => {
    const sessions = nyseTradingDaysBetween('2027-01-01', '2027-12-31');
    for (const grace of [120, 30, 200]) {
      const id = `monitoring-grace-${grace}`;
      await createSchedule(client, monitorSchedule({ scheduleId: id, paused: true, monitoring: grace === 120 ? {} : { rules: { data_stale: { graceMinutes: grace } } } }));
      // Month by month: the server answers at most 1,000 times per request.
      const times = [];
      for (let month = 0; month < 12; month++) times.push(...(await scheduledTimesBetween(client, id, new Date(Date.UTC(2027, month, 1, 5)), new Date(Date.UTC(2027, month + 1, 1, 5)))).map(newYork));
      for (const session of sessions) {
        const [hh, mm] = (nyseCloseTime(session) as string).split(':').map(Number);
        const due = hh * 60 + mm + grace;
        expect([grace, session, times.some((l) => l.date === session && l.hour * 60 + l.minute >= due)]).toEqual([grace, session, true]);
      }
      await client.schedule.getHandle(id).delete();
    }
    // A grace changed by `schedules update` moves the evening run with it.
    await createSchedule(client, monitorSchedule({ scheduleId: 'monitoring-regrace', paused: true }));
    await updateSchedule(client, 'monitoring-regrace', { monitoring: { rules: { data_stale: { graceMinutes: 240 } } } });
    const after = (await scheduledTimesBetween(client, 'monitoring-regrace', new Date('2027-03-01T05:00:00Z'), new Date('2027-03-02T05:00:00Z'))).map(newYork);
    expect(after.map((l) => `${l.hour}:${l.minute}`).at(-1)).toBe('20:5');
    await client.schedule.getHandle('monitoring-regrace').delete();
  });

  it('updates in place: what is not given stays, the paused state too; upsert keeps a person\'s pause or resume', async () => {
    const id = 'monitoring';
    await updateSchedule(client, id, { pauseOnFailure: true, timing: { interval: '45s' }, monitoring: { retrainOnDrift: false } });
    let d = await client.schedule.getHandle(id).describe();
    expect(d.policies).toMatchObject({ pauseOnFailure: true, catchupWindow: 600_000, overlap: 'SKIP' });
    expect(d.spec.intervals).toEqual([expect.objectContaining({ every: 45_000 })]);
    expect(d.spec.calendars ?? []).toEqual([]);
    expect(d.action.args).toEqual([{ models: ['m1'], retrainOnDrift: false }]);
    expect(d.state.paused).toBe(true);

    await updateSchedule(client, id, { defaultSpec: true, catchupWindow: '5m' });
    d = await client.schedule.getHandle(id).describe();
    expect(d.spec.intervals ?? []).toEqual([]);
    expect(d.spec.calendars).toHaveLength(3);
    expect(d.policies.catchupWindow).toBe(300_000);

    await client.schedule.getHandle(id).unpause('resumed by a person');
    expect(await upsertSchedule(client, monitorSchedule({ paused: true }))).toBe('updated');
    d = await client.schedule.getHandle(id).describe();
    expect(d.state.paused).toBe(false);
    expect(d.action.args).toEqual([{}]);
    await upsertSchedule(client, monitorSchedule({ paused: true }), { forceState: true });
    expect((await client.schedule.getHandle(id).describe()).state.paused).toBe(true);

    await expect(updateSchedule(client, 'no-such-schedule', { note: 'x' })).rejects.toThrow('no schedule "no-such-schedule": list them with "mlp schedules list"');
  });

  it('a new experiment with its own import replaces an earlier --source; without one the source stays', async () => {
    const id = 'retrain-source-change';
    await createSchedule(client, retrainSchedule({ scheduleId: id, experiment, import: missing, paused: true }));
    const own = { source: { kind: 'csv' as const, path: path.join(tempDir('mlp-schedules-'), 'own-folder') } };
    await updateSchedule(client, id, { experiment: { ...experiment, import: own } });
    let args = (await client.schedule.getHandle(id).describe()).action.args?.[0] as { import?: unknown; experiment: { import?: unknown } };
    expect(args.import).toBeUndefined();
    expect(args.experiment.import).toEqual(own);
    await updateSchedule(client, id, { experiment, import: missing });
    await updateSchedule(client, id, { experiment: { ...experiment, name: experiment.name } });
    args = (await client.schedule.getHandle(id).describe()).action.args?.[0] as { import?: unknown; experiment: { import?: unknown } };
    expect(args.import).toEqual(missing);
    await client.schedule.getHandle(id).delete();
  });

  it('an interval schedule starts runs; SKIP drops actions while one is running; pause, trigger while paused, resume, delete', async () => {
    const id = 'monitor-every-second';
    await createSchedule(client, monitorSchedule({ scheduleId: id, timing: { interval: '1s' } }));
    // No worker polls: the first run stays open, so every later action overlaps it.
    let d = await describeUntil(client, id, (x) => x.info.numActionsTaken >= 1 && x.info.numActionsSkippedOverlap >= 2, 'one run taken and two actions skipped');
    expect(d.info.numActionsTaken).toBe(1);
    expect(d.info.runningActions).toHaveLength(1);
    const first = d.info.recentActions[0].action.workflow;
    expect(first.workflowId).toMatch(/^monitor-every-second-\d{4}-\d{2}-\d{2}T/);
    expect((await client.workflow.getHandle(first.workflowId).describe()).type).toBe('monitoringWorkflow');

    await client.schedule.getHandle(id).pause('maintenance window');
    d = await client.schedule.getHandle(id).describe();
    expect(d.state).toMatchObject({ paused: true, note: 'maintenance window' });
    await client.workflow.getHandle(first.workflowId).terminate('test: make room for the trigger');
    const taken = (await describeUntil(client, id, (x) => x.info.runningActions.length === 0, 'the terminated run is no longer running')).info.numActionsTaken;

    await client.schedule.getHandle(id).trigger();
    d = await describeUntil(client, id, (x) => x.info.numActionsTaken === taken + 1, 'the triggered run');
    expect(d.state.paused).toBe(true);
    expect(d.info.recentActions.at(-1)?.action.workflow.workflowId).not.toBe(first.workflowId);

    await client.schedule.getHandle(id).unpause('back');
    expect((await client.schedule.getHandle(id).describe()).state).toMatchObject({ paused: false, note: 'back' });

    await client.schedule.getHandle(id).delete();
    await expect(client.schedule.getHandle(id).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
    await expect(withSchedule(client, id, (h) => h.describe())).rejects.toThrow(`no schedule "${id}"`);
  });

  it('backfills a past range: one run per scheduled time with BUFFER/ALLOW, a single catch-up run with SKIP', async () => {
    // Half-minute bounds, so exactly five whole minutes (the interval's times) lie inside, all in the past.
    const to = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 30_000);
    const from = new Date(to.getTime() - 5 * 60_000);
    for (const [id, overlap, expected] of [
      ['retrain-backfill-all', 'ALLOW_ALL', 5],
      ['retrain-backfill-skip', 'SKIP', 1],
    ] as const) {
      await createSchedule(client, retrainSchedule({ scheduleId: id, experiment, import: missing, timing: { interval: '1m' }, paused: true }));
      const times = await scheduledTimesBetween(client, id, from, to);
      expect(times).toHaveLength(5);
      await client.schedule.getHandle(id).backfill({ start: from, end: to, overlap });
      const d = await describeUntil(client, id, (x) => x.info.numActionsTaken + x.info.numActionsSkippedOverlap >= times.length, `${times.length} backfilled actions taken or skipped`);
      expect(d.info.numActionsTaken).toBe(expected);
      expect(d.info.recentActions.map((a) => a.scheduledAt.getTime()).sort()).toEqual(times.slice(0, expected).map((t) => t.getTime()));
      for (const a of d.info.recentActions) await client.workflow.getHandle(a.action.workflow.workflowId).terminate('test cleanup');
    }
  });

  describe('pause on failure, with a worker and a run that fails fast', () => {
    let t: TestDatabase;
    beforeAll(async () => {
      t = await createSqliteTestDatabase();
    });
    afterAll(async () => {
      await t?.drop();
    });

    it('pauses the schedule after a failed run when configured, and keeps starting runs when not', async () => {
      await withWorkers(env, { store: t.store, cache: new MemoryCache() }, async () => {
        await createSchedule(client, retrainSchedule({ scheduleId: 'retrain-pause-on-failure', experiment, import: missing, timing: { interval: '1h' }, paused: false, pauseOnFailure: true }));
        // Triggered with the schedule's own policy (as the CLI does): with ALLOW_ALL the server does not watch the run, so it could not pause.
        await client.schedule.getHandle('retrain-pause-on-failure').trigger('SKIP');
        const d = await describeUntil(client, 'retrain-pause-on-failure', (x) => x.state.paused, 'paused after the failed run');
        const failed = d.info.recentActions[0].action.workflow;
        expect((await client.workflow.getHandle(failed.workflowId).describe()).status.name).toBe('FAILED');
        expect(d.state.note).toMatch(/paused due to workflow failure: retrain-pause-on-failure-.*ingest failed: No file or folder/);

        await createSchedule(client, retrainSchedule({ scheduleId: 'retrain-keep-going', experiment, import: missing, timing: { interval: '2s' }, paused: false, pauseOnFailure: false }));
        const later = await describeUntil(client, 'retrain-keep-going', (x) => x.info.numActionsTaken >= 2 && x.info.runningActions.length === 0, 'a second run after the first failed');
        expect(later.state.paused).toBe(false);
        const statuses = await Promise.all(later.info.recentActions.slice(0, 2).map(async (a) => (await client.workflow.getHandle(a.action.workflow.workflowId).describe()).status.name));
        expect(statuses).toEqual(['FAILED', 'FAILED']);
        await client.schedule.getHandle('retrain-keep-going').delete();
      });
    });
  });

  it('the CLI: create with validated flags, describe with next runs, a clear error for an existing schedule or a bad flag', async () => {
    const cli = (...args: string[]) => run(path.join(REPO, 'node_modules/.bin/tsx'), [path.join(REPO, 'client/cli.ts'), 'schedules', ...args], { env: { ...process.env, TEMPORAL_ADDRESS: env.address, TEMPORAL_NAMESPACE: 'default' } });
    const created = await cli('create', '--which', 'monitor', '--id', 'cli-monitor', '--interval', '1h', '--paused', '--models', 'm1,m2', '--pause-on-failure');
    expect(created.stdout).toContain('created cli-monitor (paused)');
    const described = await cli('describe', 'cli-monitor');
    expect(described.stdout).toContain('cli-monitor: monitor schedule, starts monitoringWorkflow on ml-pipeline — PAUSED');
    expect(described.stdout).toContain('when: every 3600 s');
    expect(described.stdout).toContain('models m1, m2; retrain on drift no');
    expect(described.stdout).toContain('policies: overlap SKIP, catch-up window 10 min, pause on failure yes');
    expect(described.stdout).toMatch(/next 5 runs \(once resumed\):\n( {4}\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\n){5}/);

    await expect(cli('create', '--which', 'monitor', '--id', 'cli-monitor', '--interval', '1h')).rejects.toMatchObject({ stderr: expect.stringContaining('"mlp schedules update cli-monitor') });
    await expect(cli('create', '--which', 'monitor', '--id', 'x', '--interval', '5 minutes')).rejects.toMatchObject({ stderr: expect.stringContaining('--interval: expected a duration such as 30s, 10m, 1h or 1d') });
    await expect(cli('create', '--interval', '1h')).rejects.toMatchObject({ stderr: expect.stringContaining('add --which retrain or --which monitor') });
    await expect(cli('create', '--which', 'retrain', '--id', 'y')).rejects.toMatchObject({ stderr: expect.stringContaining('has no "import": give the data to retrain on with --source') });

    const paused = await cli('pause', 'cli-monitor', '--note', 'vendor outage');
    expect(paused.stdout).toContain('paused cli-monitor');
    expect((await client.schedule.getHandle('cli-monitor').describe()).state.note).toMatch(/^vendor outage/);
    expect((await cli('delete', 'cli-monitor')).stdout).toContain('deleted cli-monitor');
  });
});

describe('NYSE holiday skips', () => {
  it('cover every full-day closure of the years, as whole days', () => {
    const skips = nyseHolidaySkips(2027, 2);
    expect(skips).toHaveLength(nyseHolidays(2027).size + nyseHolidays(2028).size);
    expect(skips).toContainEqual(expect.objectContaining({ year: 2027, month: 'NOVEMBER', dayOfMonth: 25, hour: '*', minute: '*', second: '*', comment: 'NYSE closed: Thanksgiving Day 2027-11-25' }));
  });
});
