/**
 * Actions of the pipeline's Temporal Schedules (the retrain after the close, the monitoring runs)
 * that the server dropped because it was down longer than their catch-up window (10 minutes,
 * client/schedules.ts). Nothing else tells of them: no run was started, so no run failed, and the
 * only trace is the schedule's `numActionsMissedCatchupWindow` counter (`mlp schedules describe`).
 *
 * The counter only grows over a schedule's life (deleting and creating it again starts a new one,
 * with a new creation time), so a miss is news when the counter exceeds the count the last
 * `schedule_missed` alert of the same schedule (same creation time) recorded in its evidence, or 0
 * when none did: each miss is told once, by the first monitoring run that sees it, and never again.
 * The activity (activities/monitoring.ts) describes the schedules; this module has no Temporal
 * imports.
 */

export type PipelineScheduleKind = 'retrain' | 'monitor';

/** Workflow types the pipeline's schedules start (workflows/training-pipeline.ts, workflows/monitoring.ts). */
const KIND_OF_WORKFLOW: Readonly<Record<string, PipelineScheduleKind>> = { trainingPipeline: 'retrain', monitoringWorkflow: 'monitor' };

/** retrain or monitor, from the memo the schedule was created with, else from the workflow type it starts; undefined for other schedules. */
export function pipelineScheduleKind(memo: Record<string, unknown> | undefined, workflowType: string | undefined): PipelineScheduleKind | undefined {
  const memoKind = memo?.kind;
  if (memoKind === 'retrain' || memoKind === 'monitor') return memoKind;
  return workflowType === undefined ? undefined : KIND_OF_WORKFLOW[workflowType];
}

/** What a schedule's description says about its missed actions (the activity fills it in). */
export interface ScheduleObservation {
  scheduleId: string;
  kind: PipelineScheduleKind;
  /** ISO 8601: the schedule's creation (its counter starts there). */
  createdAt: string;
  paused: boolean;
  /** info.numActionsMissedCatchupWindow. */
  missedCatchupWindow: number;
  catchupWindowMs: number;
  /** Scheduled time of the newest action taken (started runs, triggers included), ISO 8601, or null. */
  lastActionAt: string | null;
  /** Scheduled times of the look-back before the catch-up window with no action taken for them (ISO 8601, oldest first): the candidates for a backfill. */
  unstarted: string[];
}

/** A schedule with missed actions: newly missed ones (`newlyMissed` > 0) are alerted; ones alerted within the look-back are only listed. */
export interface ScheduleMiss extends ScheduleObservation {
  newlyMissed: number;
  /** The count the last alert of this schedule recorded (0 when none). */
  alertedCount: number;
  /** That alert, when there is one. */
  alerted?: { id: string; createdAt: string };
}

/** An earlier schedule_missed alert, as the activity reads it from the alert store. */
export interface EarlierScheduleAlert {
  id: string;
  createdAt: string;
  evidence: unknown;
}

export const scheduleSubject = (scheduleId: string) => `schedule ${scheduleId}`.slice(0, 255);

/** The count an alert's evidence recorded for a schedule created at `createdAt`, or undefined (another schedule of that id, or no count). */
function recordedCount(evidence: unknown, scheduleId: string, createdAt: string): number | undefined {
  if (typeof evidence !== 'object' || evidence === null) return undefined;
  const e = evidence as { scheduleId?: unknown; createdAt?: unknown; missedCatchupWindow?: unknown };
  if (e.scheduleId !== scheduleId || e.createdAt !== createdAt) return undefined;
  return typeof e.missedCatchupWindow === 'number' && Number.isInteger(e.missedCatchupWindow) && e.missedCatchupWindow >= 0 ? e.missedCatchupWindow : undefined;
}

/**
 * The schedules with missed actions: those whose counter grew past what the last alert of the same
 * schedule recorded (its `newlyMissed`), and those alerted after `since` whose counter has not grown
 * (listed, `newlyMissed` 0: told already). `earlier(id)`: the schedule_missed alerts of the schedule, any order.
 */
export function scheduleMissesOf(observations: readonly ScheduleObservation[], earlier: (scheduleId: string) => readonly EarlierScheduleAlert[], since: string): ScheduleMiss[] {
  const misses: ScheduleMiss[] = [];
  for (const o of observations) {
    let last: { id: string; createdAt: string; count: number } | undefined;
    for (const a of earlier(o.scheduleId)) {
      const count = recordedCount(a.evidence, o.scheduleId, o.createdAt);
      if (count !== undefined && (last === undefined || count > last.count || (count === last.count && a.createdAt > last.createdAt))) last = { id: a.id, createdAt: a.createdAt, count };
    }
    const alertedCount = last?.count ?? 0;
    const alerted = last ? { id: last.id, createdAt: last.createdAt } : undefined;
    if (o.missedCatchupWindow > alertedCount) misses.push({ ...o, newlyMissed: o.missedCatchupWindow - alertedCount, alertedCount, ...(alerted ? { alerted } : {}) });
    else if (o.missedCatchupWindow > 0 && alerted && alerted.createdAt > since) misses.push({ ...o, newlyMissed: 0, alertedCount, alerted });
  }
  return misses;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const minutes = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`);

/** The backfill that starts what was missed: over the unstarted scheduled times, else from the last action taken (or the look-back) to now. */
export function backfillCommand(miss: Pick<ScheduleMiss, 'scheduleId' | 'unstarted' | 'lastActionAt'>, since: string, now: Date): string {
  const from = miss.unstarted[0] ?? (miss.lastActionAt !== null && miss.lastActionAt > since ? miss.lastActionAt : since);
  const to = miss.unstarted[miss.unstarted.length - 1] ?? now.toISOString();
  return `mlp schedules backfill ${miss.scheduleId} --from ${from} --to ${to}`;
}

/** One line of the pipeline health's reason for a schedule's misses. */
export function scheduleMissReason(miss: ScheduleMiss): string {
  const what = miss.kind === 'retrain' ? 'retrain' : 'monitoring run';
  const told = miss.newlyMissed > 0 ? `${plural(miss.newlyMissed, `scheduled ${what}`)} missed` : `missed ${what}s alerted before (alert ${miss.alerted?.id})`;
  return `schedule ${miss.scheduleId}: ${told} (the Temporal server was down longer than its ${minutes(miss.catchupWindowMs)} catch-up window; ${miss.missedCatchupWindow} in all since it was created)`;
}

/** The alert of a schedule's new misses: what was not started, and the backfill that starts it. */
export function scheduleMissedMessage(miss: ScheduleMiss, since: string, now: Date): string {
  const what = miss.kind === 'retrain' ? 'retrain' : 'monitoring run';
  const times = miss.unstarted.length > 0 ? ` (scheduled ${miss.unstarted.slice(0, 3).join(', ')}${miss.unstarted.length > 3 ? `, … ${miss.unstarted.length} in all` : ''})` : '';
  const since0 = miss.alertedCount > 0 ? `since alert ${miss.alerted?.id} (${miss.alertedCount} then)` : 'since the schedule was created';
  const consequence = miss.kind === 'retrain' ? 'no model was retrained for it, and the champion serves on without the new data' : 'drift, performance and freshness were not checked then';
  const remedy = miss.kind === 'retrain' ? `start it now with \`${backfillCommand(miss, since, now)}\` (one catch-up run on all data up to now), or \`mlp schedules trigger ${miss.scheduleId}\`` : `the next scheduled run checks again; to check now, \`mlp schedules trigger ${miss.scheduleId}\``;
  return `${plural(miss.newlyMissed, `scheduled ${what}`)} of schedule ${miss.scheduleId} never started${times}: the Temporal server was down longer than the schedule's ${minutes(miss.catchupWindowMs)} catch-up window, so it dropped ${miss.newlyMissed === 1 ? 'it' : 'them'} (${miss.missedCatchupWindow} missed ${since0}); ${consequence}. Find why the server was down; ${remedy}`;
}

/** How many recent actions a Temporal schedule's description lists (the server's default, 10). */
export const RECENT_ACTIONS_KEPT = 10;

/**
 * The scheduled times (`matching`) left without a run, as ISO texts: those not among the schedule's
 * recent actions. The server keeps only its last RECENT_ACTIONS_KEPT actions, so before the oldest of
 * a full list nothing tells a run that started from one that did not, and those times are not named
 * (an hourly schedule had runs that did start named as never started).
 */
export function unstartedAmong(matching: readonly Date[], recentActions: readonly Date[]): string[] {
  const taken = new Set(recentActions.map((a) => a.getTime()));
  const known = recentActions.length >= RECENT_ACTIONS_KEPT ? Math.min(...recentActions.map((a) => a.getTime())) : -Infinity;
  return matching.filter((t) => t.getTime() >= known && !taken.has(t.getTime())).map((t) => t.toISOString());
}
