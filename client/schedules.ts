/**
 * The pipeline's Temporal Schedules: what the retraining and monitoring schedules start and when,
 * and the create/update helpers the CLI and the main command share.
 *
 * - retraining: trainingPipeline with an experiment, weekdays 16:30 America/New_York (after the
 *   close), NYSE holidays skipped;
 * - monitoring: monitoringWorkflow hourly at :35 from 9:35 to 16:35 on weekdays, once more on
 *   weekdays just after the day's bars are due (the close plus the freshness grace: 18:05 with the
 *   default 120 minutes), and at 12:35 on weekends.
 *
 * Both use overlap SKIP (a run still going when the next is due means the next is dropped, never
 * queued) and a catch-up window of 10 minutes: the server default is one year, so after an outage
 * it would start every missed action at once. Missed retrains are started on purpose with
 * `schedules backfill`.
 */
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type CalendarSpec, type Client, type ScheduleDescription, type ScheduleHandle, type ScheduleOptions, type ScheduleSpec } from '@temporalio/client';
import { msNumberToTs, tsToDate } from '@temporalio/common/lib/time';
import { z } from 'zod';
import { nyseHolidays } from '../lib/calendar/nyse';
import { DEFAULT_FRESHNESS_OPTIONS } from '../lib/monitoring/freshness';
import { experimentImporting, type ExperimentInput } from '../lib/experiments/experiment';
import type { ImportRequestInput } from '../lib/ingest/import-request';
import { TASK_QUEUES } from '../lib/task-queues';
import { monitoringWorkflow, trainingPipeline, type MonitoringWorkflowInput, type TrainingPipelineInput } from '../workflows';

export type ScheduleKind = 'retrain' | 'monitor';
export const SCHEDULE_KINDS = ['retrain', 'monitor'] as const;

export const SCHEDULE_TIMEZONE = 'America/New_York';
export const DEFAULT_CATCHUP_WINDOW = '10m';
export const MONITOR_SCHEDULE_ID = 'monitoring';
/** Workflow type of the monitoring runs (workflows/monitoring.ts). */
export const MONITORING_WORKFLOW_TYPE = monitoringWorkflow.name;

export function retrainScheduleId(experimentName: string): string {
  return `retrain-${experimentName}`;
}

/** The input of monitoringWorkflow: models (default every served model), retrainOnDrift, window, rules. */
export type MonitoringScheduleArgs = MonitoringWorkflowInput;

/** After the close (16:00) with time for the day's bars to land. */
export const RETRAIN_CALENDARS: CalendarSpec[] = [{ comment: 'weekdays 16:30, after the US close', dayOfWeek: [{ start: 'MONDAY', end: 'FRIDAY' }], hour: 16, minute: 30 }];

const WEEKDAY_HOURLY_COMMENT = 'weekdays hourly at :35 from 9:35 to 16:35 (market hours and the close)';
const LAST_HOURLY_RUN = 16 * 60 + 35;
const REGULAR_CLOSE = 16 * 60;

/**
 * The monitoring calendars. Freshness alerts a missing session at the first run after its bar is
 * due (the close plus `graceMinutes`, lib/monitoring/freshness.ts): when that is after the last
 * hourly run, one more weekday run 5 minutes after it, so a missing bar is alerted the same evening
 * and not at the next morning's run (early closes, at 13:00, are due before the 15:35 run). A grace
 * that runs past midnight needs none: the next day's runs come after it.
 */
export function monitorCalendars(graceMinutes: number = DEFAULT_FRESHNESS_OPTIONS.graceMinutes): CalendarSpec[] {
  const calendars: CalendarSpec[] = [{ comment: WEEKDAY_HOURLY_COMMENT, dayOfWeek: [{ start: 'MONDAY', end: 'FRIDAY' }], hour: { start: 9, end: 16 }, minute: 35 }];
  const due = REGULAR_CLOSE + graceMinutes;
  const check = due + 5;
  if (due > LAST_HOURLY_RUN && check < 24 * 60) {
    const [hour, minute] = [Math.floor(check / 60), check % 60];
    const hhmm = `${hour}:${String(minute).padStart(2, '0')}`;
    calendars.push({ comment: `weekdays at ${hhmm}, after the day's bars are due (close 16:00 + ${graceMinutes} min grace)`, dayOfWeek: [{ start: 'MONDAY', end: 'FRIDAY' }], hour, minute });
  }
  calendars.push({ comment: 'weekends once a day at 12:35', dayOfWeek: ['SATURDAY', 'SUNDAY'], hour: 12, minute: 35 });
  return calendars;
}

/** The default monitoring calendars (default freshness grace). */
export const MONITOR_CALENDARS: CalendarSpec[] = monitorCalendars();

/** The freshness grace a monitoring run is given (its rules), or the default. */
export function monitoringGraceMinutes(args: MonitoringScheduleArgs | undefined): number {
  return args?.rules?.data_stale?.graceMinutes ?? DEFAULT_FRESHNESS_OPTIONS.graceMinutes;
}

/** Whether a schedule spec has the default monitoring calendars (of some grace), not a cron or interval override. */
function hasDefaultMonitorCalendars(spec: ScheduleSpec): boolean {
  return (spec.calendars ?? []).some((c) => c.comment === WEEKDAY_HOURLY_COMMENT) && !(spec.cronExpressions?.length || spec.intervals?.length);
}

const MONTHS = ['JANUARY', 'FEBRUARY', 'MARCH', 'APRIL', 'MAY', 'JUNE', 'JULY', 'AUGUST', 'SEPTEMBER', 'OCTOBER', 'NOVEMBER', 'DECEMBER'] as const;
/** Years of NYSE holidays a retraining schedule skips; `schedules update` renews them. */
export const HOLIDAY_SKIP_YEARS = 3;

/** Whole-day skips for the NYSE holidays of `years` years from `fromYear` (a retrain on a closed day trains on nothing new). */
export function nyseHolidaySkips(fromYear: number, years = HOLIDAY_SKIP_YEARS): CalendarSpec[] {
  const skips: CalendarSpec[] = [];
  for (let year = fromYear; year < fromYear + years; year++) {
    for (const [date, name] of nyseHolidays(year)) {
      const [, month, day] = date.split('-').map(Number);
      skips.push({ comment: `NYSE closed: ${name} ${date}`, year, month: MONTHS[month - 1], dayOfMonth: day, hour: '*', minute: '*', second: '*' });
    }
  }
  return skips;
}

const durationSchema = z.string().regex(/^[1-9]\d*(s|m|h|d)$/, 'expected a duration such as 30s, 10m, 1h or 1d');

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** When a schedule fires, when it is not the default: a cron expression or an interval, and a time zone. */
export const scheduleTimingSchema = z
  .object({
    cron: z
      .string()
      .trim()
      .refine((c) => !/^(CRON_)?TZ=/.test(c), { message: 'give the time zone with --timezone, not inside the cron expression' })
      .refine((c) => /^@(yearly|monthly|weekly|daily|hourly)$/.test(c) || /^@every \d+[smhd](\/\d+[smhd])?$/.test(c) || [5, 6, 7].includes(c.split(/\s+/).length), {
        message: 'expected a cron expression of 5 to 7 fields, e.g. "30 16 * * MON-FRI", or @daily / @hourly',
      })
      .optional(),
    interval: durationSchema.optional(),
    timezone: z.string().refine(isTimeZone, { message: 'expected an IANA time zone such as America/New_York' }).optional(),
  })
  .refine((t) => !(t.cron && t.interval), { message: 'give only one of --cron or --interval' });
export type ScheduleTiming = z.infer<typeof scheduleTimingSchema>;

export const schedulePolicySchema = z.object({
  catchupWindow: durationSchema.optional(),
  pauseOnFailure: z.boolean().optional(),
});

/** The spec of a kind of schedule: the default calendars, or a cron/interval override. */
export function scheduleSpec(kind: ScheduleKind, timing: ScheduleTiming = {}, now: Date = new Date(), monitoring?: MonitoringScheduleArgs): ScheduleSpec {
  // An interval (tests, special set-ups) fires on every tick: no time zone, no holiday skips.
  if (timing.interval) return { intervals: [{ every: timing.interval }] };
  const times: ScheduleSpec = timing.cron ? { cronExpressions: [timing.cron] } : { calendars: kind === 'retrain' ? RETRAIN_CALENDARS : monitorCalendars(monitoringGraceMinutes(monitoring)) };
  return { ...times, timezone: timing.timezone ?? SCHEDULE_TIMEZONE, ...(kind === 'retrain' ? { skip: nyseHolidaySkips(now.getUTCFullYear()) } : {}) };
}

interface CommonScheduleInput {
  scheduleId?: string;
  timing?: ScheduleTiming;
  catchupWindow?: string;
  pauseOnFailure?: boolean;
  paused?: boolean;
  note?: string;
  now?: Date;
}

export interface RetrainScheduleInput extends CommonScheduleInput {
  /** The parsed experiment file. */
  experiment: ExperimentInput;
  /** What to ingest (default: the experiment's own `import`). */
  import?: ImportRequestInput;
}

export interface MonitorScheduleInput extends CommonScheduleInput {
  monitoring?: MonitoringScheduleArgs;
}

function policies(input: CommonScheduleInput): NonNullable<ScheduleOptions['policies']> {
  return { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: input.catchupWindow ?? DEFAULT_CATCHUP_WINDOW, pauseOnFailure: input.pauseOnFailure ?? false };
}

function state(input: CommonScheduleInput, scheduleId: string): NonNullable<ScheduleOptions['state']> {
  const paused = input.paused ?? false;
  return { paused, note: input.note ?? (paused ? `created paused: start it with "mlp schedules resume ${scheduleId}"` : `created by ${process.env.USER ?? 'the CLI'}`) };
}

/** A retraining input must name data: the experiment's `import` or an explicit one. */
export function retrainInput(experiment: ExperimentInput, importRequest?: ImportRequestInput): TrainingPipelineInput {
  if (!importRequest && !experiment.import) {
    throw new Error(`experiment "${experiment.name}" has no "import": give the data to retrain on with --source <folder-or-file>`);
  }
  return importRequest ? { import: importRequest, experiment: experimentImporting(experiment, importRequest) } : { experiment };
}

export function retrainSchedule(input: RetrainScheduleInput): ScheduleOptions {
  const scheduleId = input.scheduleId ?? retrainScheduleId(input.experiment.name);
  return {
    scheduleId,
    spec: scheduleSpec('retrain', input.timing, input.now),
    action: {
      type: 'startWorkflow',
      workflowType: trainingPipeline,
      taskQueue: TASK_QUEUES.pipeline,
      // Runs are named <schedule id>-<scheduled time>.
      workflowId: scheduleId,
      args: [retrainInput(input.experiment, input.import)],
      // A stuck retrain must not hold the schedule (overlap SKIP) for more than a day.
      workflowExecutionTimeout: '20h',
    },
    policies: policies(input),
    state: state(input, scheduleId),
    memo: { kind: 'retrain' },
  };
}

export function monitorSchedule(input: MonitorScheduleInput = {}): ScheduleOptions {
  const scheduleId = input.scheduleId ?? MONITOR_SCHEDULE_ID;
  return {
    scheduleId,
    spec: scheduleSpec('monitor', input.timing, input.now, input.monitoring),
    action: {
      type: 'startWorkflow',
      workflowType: monitoringWorkflow,
      taskQueue: TASK_QUEUES.pipeline,
      workflowId: scheduleId,
      args: [input.monitoring ?? {}],
      workflowExecutionTimeout: '50m',
    },
    policies: policies(input),
    state: state(input, scheduleId),
    memo: { kind: 'monitor' },
  };
}

/** retrain or monitor, from the memo the schedule was created with, else from its workflow type. */
export function scheduleKindOf(description: Pick<ScheduleDescription, 'memo' | 'action'>): ScheduleKind | undefined {
  const memoKind = description.memo?.kind;
  if (memoKind === 'retrain' || memoKind === 'monitor') return memoKind;
  if (description.action.workflowType === trainingPipeline.name) return 'retrain';
  if (description.action.workflowType === MONITORING_WORKFLOW_TYPE) return 'monitor';
  return undefined;
}

function notFound(id: string, cause: unknown): Error {
  return new Error(`no schedule "${id}": list them with "mlp schedules list"`, { cause });
}

/** Runs `fn` on a schedule handle, turning "not found" into a message that says what to do. */
export async function withSchedule<T>(client: Client, id: string, fn: (handle: ScheduleHandle) => Promise<T>): Promise<T> {
  try {
    return await fn(client.schedule.getHandle(id));
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) throw notFound(id, error);
    throw error;
  }
}

/** Creates a schedule; an existing one is an error that says to use update (or delete it first). */
export async function createSchedule(client: Client, options: ScheduleOptions): Promise<ScheduleHandle> {
  try {
    return await client.schedule.create(options);
  } catch (error) {
    if (error instanceof ScheduleAlreadyRunning) {
      throw new Error(`schedule "${options.scheduleId}" already exists: change it with "mlp schedules update ${options.scheduleId} …", or remove it with "mlp schedules delete ${options.scheduleId}" first`, { cause: error });
    }
    throw error;
  }
}

/**
 * Creates the schedule, or replaces the definition (spec, action, policies) of the existing one.
 * An existing schedule keeps its paused state and note unless `forceState`: a person who resumed or
 * paused it decided so.
 */
export async function upsertSchedule(client: Client, options: ScheduleOptions, { forceState = false } = {}): Promise<'created' | 'updated'> {
  try {
    await client.schedule.create(options);
    return 'created';
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
  await client.schedule.getHandle(options.scheduleId).update((previous) => ({
    spec: options.spec,
    action: options.action,
    policies: options.policies,
    state: forceState ? { paused: options.state?.paused, note: options.state?.note } : { paused: previous.state.paused, note: previous.state.note, remainingActions: previous.state.remainingActions },
  }));
  return 'updated';
}

/** What `schedules update` may change; anything left out stays as it is. */
export interface ScheduleChange {
  timing?: ScheduleTiming;
  /** Back to the default calendars of the kind (drops a cron or interval override). */
  defaultSpec?: boolean;
  catchupWindow?: string;
  pauseOnFailure?: boolean;
  experiment?: ExperimentInput;
  import?: ImportRequestInput;
  monitoring?: MonitoringScheduleArgs;
  note?: string;
}

/**
 * Changes an existing schedule in place. The paused state is kept (pause/resume change it). A
 * retraining schedule on calendar times gets its NYSE holiday skips renewed from this year.
 */
export async function updateSchedule(client: Client, id: string, change: ScheduleChange, now: Date = new Date()): Promise<ScheduleKind> {
  let kind: ScheduleKind | undefined;
  await withSchedule(client, id, (handle) =>
    handle.update((previous) => {
      kind = scheduleKindOf(previous);
      if (!kind) throw new Error(`schedule "${id}" starts ${previous.action.workflowType}, not a pipeline schedule: change it in the Web UI or the temporal CLI`);
      let spec: ScheduleSpec = previous.spec;
      const monitoring = kind === 'monitor' ? { ...((previous.action.args?.[0] ?? {}) as MonitoringScheduleArgs), ...change.monitoring } : undefined;
      if (change.defaultSpec || change.timing?.cron || change.timing?.interval) {
        spec = scheduleSpec(kind, { ...change.timing, timezone: change.timing?.timezone ?? previous.spec.timezone }, now, monitoring);
      } else if (change.timing?.timezone) {
        spec = { ...previous.spec, timezone: change.timing.timezone };
      }
      // The default monitoring calendars follow the freshness grace of the runs' rules (a run after the bars are due).
      if (kind === 'monitor' && hasDefaultMonitorCalendars(spec)) spec = { ...spec, calendars: monitorCalendars(monitoringGraceMinutes(monitoring)) };
      if (kind === 'retrain' && !(spec.intervals && spec.intervals.length > 0)) spec = { ...spec, skip: nyseHolidaySkips(now.getUTCFullYear()) };
      let args: readonly unknown[] = previous.action.args ?? [];
      if (kind === 'retrain' && (change.experiment || change.import)) {
        const before = (args[0] ?? {}) as TrainingPipelineInput;
        const experiment = change.experiment ?? before.experiment;
        if (!experiment) throw new Error(`schedule "${id}" has no experiment: give --experiment <file>`);
        // A new experiment with its own "import" reads that, not a --source given for the one before.
        const keptImport = change.experiment?.import !== undefined ? undefined : before.import;
        args = [retrainInput(experiment, change.import ?? keptImport)];
      }
      if (kind === 'monitor' && change.monitoring) args = [monitoring];
      return {
        spec,
        action: { ...previous.action, args },
        policies: {
          overlap: previous.policies.overlap,
          catchupWindow: change.catchupWindow ?? previous.policies.catchupWindow,
          pauseOnFailure: change.pauseOnFailure ?? previous.policies.pauseOnFailure,
        },
        state: { paused: previous.state.paused, note: change.note ?? previous.state.note, remainingActions: previous.state.remainingActions },
      };
    }),
  );
  return kind as ScheduleKind;
}

/** The Web UI page of a schedule (or of all schedules). */
export function scheduleLink(config: { temporalUiUrl: string; temporalNamespace: string }, id?: string): string {
  const base = `${config.temporalUiUrl}/namespaces/${encodeURIComponent(config.temporalNamespace)}/schedules`;
  return id ? `${base}/${encodeURIComponent(id)}` : base;
}

/** Scheduled times of a schedule between two instants (what a backfill over that range would start). */
export async function scheduledTimesBetween(client: Client, id: string, from: Date, to: Date): Promise<Date[]> {
  const response = await client.workflowService.listScheduleMatchingTimes({
    namespace: client.options.namespace,
    scheduleId: id,
    startTime: msNumberToTs(from.getTime()),
    endTime: msNumberToTs(to.getTime()),
  });
  return (response.startTime ?? []).map((t) => tsToDate(t));
}
