/**
 * schedule_missed over monitoring runs: a schedule's missed-action counter against the count its
 * last alert recorded. Each miss is told once; a counter that grows again is told again (only the
 * new ones); a schedule deleted and created again (a new creation time, its counter from 0) is
 * compared with nothing of the old one's.
 */
import { listAlerts, raiseAlert } from '../../../lib/alerts/alert-store';
import { evaluatePipelineHealth, evaluateScheduleMisses, parseMonitoringRules } from '../../../lib/monitoring/monitoring-rules';
import { pipelineHealthOf, withScheduleMisses } from '../../../lib/monitoring/pipeline-health';
import { pipelineScheduleKind, RECENT_ACTIONS_KEPT, scheduleMissesOf, scheduleSubject, unstartedAmong, type ScheduleObservation } from '../../../lib/monitoring/schedule-misses';
import { createSqliteTestDatabase, type TestDatabase } from '../../helpers/databases';

const rules = parseMonitoringRules({});
const observation = (missed: number, createdAt = '2026-03-01T12:00:00.000Z'): ScheduleObservation => ({
  scheduleId: 'retrain-demo',
  kind: 'retrain',
  createdAt,
  paused: false,
  missedCatchupWindow: missed,
  catchupWindowMs: 600_000,
  lastActionAt: '2026-03-02T21:30:00.000Z',
  unstarted: ['2026-03-03T21:30:00.000Z'],
});

describe('schedule_missed alerts over monitoring runs', () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  /** What a monitoring run does (activities/monitoring.ts checkPipelineHealth, then raiseAlert): the alert's message, or undefined; and the health's status. */
  async function monitoringRun(at: string, observed: ScheduleObservation, options = rules): Promise<{ message?: string; status: string; reason: string }> {
    const now = new Date(at);
    const since = new Date(now.getTime() - options.pipeline_failed.lookbackHours * 3_600_000).toISOString();
    const earlier = await listAlerts(t.store, { rule: 'schedule_missed', subject: scheduleSubject(observed.scheduleId), limit: 20 });
    const misses = scheduleMissesOf([observed], () => earlier, since);
    const health = withScheduleMisses(pipelineHealthOf({ failed: [], timedOut: [], running: [] }, now, options.pipeline_failed), misses);
    // A missed action is no failed run: pipeline_failed stays quiet.
    expect(evaluatePipelineHealth(health, options).findings).toHaveLength(0);
    const [finding, ...more] = evaluateScheduleMisses(misses, options, since, now).findings;
    expect(more).toHaveLength(0);
    if (!finding) return { status: health.status, reason: health.reason };
    const raised = await raiseAlert(t.store, finding.alert, { now });
    return { message: raised.suppressed ? undefined : finding.alert.message, status: health.status, reason: health.reason };
  }

  it('tells a miss once, with the backfill of the unstarted time; tells only the new ones when the counter grows; says healthy once the look-back has passed', async () => {
    expect((await monitoringRun('2026-03-02T22:35:00Z', observation(0))).status).toBe('healthy');
    const first = await monitoringRun('2026-03-03T22:35:00Z', observation(1));
    expect(first.message).toMatch(/^1 scheduled retrain of schedule retrain-demo never started \(scheduled 2026-03-03T21:30:00.000Z\): the Temporal server was down longer than the schedule's 10 min catch-up window/);
    expect(first.message).toContain('`mlp schedules backfill retrain-demo --from 2026-03-03T21:30:00.000Z --to 2026-03-03T21:30:00.000Z`');
    expect(first.status).toBe('failing');
    // The next run, an hour later: told already; the health still names it (within the look-back).
    const again = await monitoringRun('2026-03-03T23:35:00Z', observation(1));
    expect(again.message).toBeUndefined();
    expect(again.status).toBe('failing');
    expect(again.reason).toMatch(/schedule retrain-demo: missed retrains alerted before \(alert /);
    // Two more missed the next day: those two are news.
    const grown = await monitoringRun('2026-03-04T22:35:00Z', observation(3));
    expect(grown.message).toMatch(/^2 scheduled retrains of schedule retrain-demo never started .*\(3 missed since alert \S+ \(1 then\)\)/);
    // A day after the last alert, nothing new: healthy.
    expect(await monitoringRun('2026-03-05T23:35:00Z', observation(3))).toEqual({ status: 'healthy', reason: expect.stringMatching(/^no failed/) });
    expect(await listAlerts(t.store, { rule: 'schedule_missed' })).toHaveLength(2);
  });

  it('compares a schedule created again with nothing of the one it replaced', async () => {
    expect((await monitoringRun('2026-03-03T22:35:00Z', observation(4))).message).toMatch(/^4 scheduled retrains .*\(4 missed since the schedule was created\)/);
    // Deleted and created again: its counter starts at 0, and its first miss is news.
    expect((await monitoringRun('2026-03-04T22:35:00Z', observation(1, '2026-03-04T10:00:00.000Z'))).message).toMatch(/^1 scheduled retrain /);
  });

  it('is quiet when the rule is disabled, and knows only the pipeline\'s schedules', async () => {
    const off = parseMonitoringRules({ schedule_missed: { enabled: false } });
    expect((await monitoringRun('2026-03-03T22:35:00Z', observation(1), off)).message).toBeUndefined();
    expect(pipelineScheduleKind({ kind: 'monitor' }, 'anything')).toBe('monitor');
    expect(pipelineScheduleKind(undefined, 'trainingPipeline')).toBe('retrain');
    expect(pipelineScheduleKind({}, 'someoneElsesWorkflow')).toBeUndefined();
  });
});

describe('the scheduled times a schedule_missed alert names as never started', () => {
  const hour = (h: number) => new Date(Date.UTC(2026, 2, 5, h));
  it('names the times without an action, but none before the oldest of a full list of recent actions (the server keeps 10)', () => {
    // A few actions: every matching time without one is named.
    expect(unstartedAmong([hour(1), hour(2), hour(3)], [hour(1), hour(3)])).toEqual([hour(2).toISOString()]);
    // An hourly schedule over 20 hours, hours 12 and 15 missed: the server lists the last 10 actions
    // (hours 8-19 but 12 and 15), so hours 0-7, which did run, were named as never started before.
    const matching = Array.from({ length: 20 }, (_, h) => hour(h));
    const recent = matching.filter((t) => t.getUTCHours() >= 8 && ![12, 15].includes(t.getUTCHours()));
    expect(recent).toHaveLength(RECENT_ACTIONS_KEPT);
    expect(unstartedAmong(matching, recent)).toEqual([hour(12).toISOString(), hour(15).toISOString()]);
  });
});
