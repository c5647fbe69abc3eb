/** `schedules …`: the retraining and monitoring Temporal Schedules (definitions in client/schedules.ts). */
import path from 'node:path';
import type { Client, ScheduleDescription, ScheduleOverlapPolicy, Range } from '@temporalio/client';
import { Command, Option } from 'commander';
import type { z } from 'zod';
import type { AppConfig } from '../../lib/config';
import { describeValidationError } from '../../lib/errors';
import { escapeControl } from '../../lib/quality/excerpt';
import { printableJson } from '../../lib/printable-json';
import type { ImportRequestInput } from '../../lib/ingest/import-request';
import type { MonitoringScheduleArgs, ScheduleKind } from '../schedules';
import { repoRoot } from '../repo-root';
import { connectClient, webUiLink } from '../temporal-client';
import { checkLocalSource, readExperimentFile } from './run-pipeline';
import { resolveCsvSource } from '../../lib/market-data/csv-files';
import { lazy } from '../lazy';
import { instant } from '../time-flag';
import { parseNumberFlag } from '../number-flag';

/** The schedule helpers (they load the Temporal SDK): imported by the actions, not at start. */
type Schedules = ReturnType<typeof lazy.schedules>;

export const DEFAULT_EXPERIMENT_FILE = path.join(repoRoot(), 'experiments', 'demo.json');

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
/** Zod issues named by their flag (--catchup-window), not their field (catchupWindow). */
function parseFlags<T>(schema: z.ZodType<T>, raw: unknown, command: string): T {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({ ...i, path: i.path.length ? [`--${kebab(String(i.path[0]))}`, ...i.path.slice(1)] : i.path }));
  throw new Error(`schedules ${command}: ${describeValidationError({ issues })}`);
}

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

/** The flag schemas are built on first use: zod loads then, not at start. */
const definitionFlags = () => {
  const { z } = lazy.zod();
  return z.object({
  experiment: z.string().min(1).optional(),
  source: z.string().min(1).optional(),
  sourceOnWorker: z.boolean().optional(),
  cron: z.string().optional(),
  interval: z.string().optional(),
  timezone: z.string().optional(),
  catchupWindow: z.string().optional(),
  pauseOnFailure: z.boolean().optional(),
  models: z
    .string()
    .transform(list)
    .pipe(z.array(z.string().regex(/^[\w.-]{1,64}$/, 'expected registered model names separated by commas')).min(1))
    .optional(),
  retrainOnDrift: z.boolean().optional(),
  note: z.string().max(500).optional(),
});
};

const createFlags = () => {
  const { z } = lazy.zod();
  return definitionFlags().extend({
  which: z.enum(['retrain', 'monitor', 'all']).default('all'),
  id: z.string().regex(/^[\w.-]{1,200}$/, 'expected letters, digits, "-", "_" or "."').optional(),
  paused: z.boolean().default(false),
});
};

const overlapSchema = () =>
  lazy
    .zod()
    .z.enum(['skip', 'buffer_one', 'buffer_all', 'allow_all'])
    .transform((o) => o.toUpperCase() as ScheduleOverlapPolicy)
    .optional();

/** The pieces of a definition the flags give, validated (timing, policies, data, monitoring input). */
function definitionFromFlags(sch: Schedules, f: z.infer<ReturnType<typeof definitionFlags>>, command: string) {
  const timing = parseFlags(sch.scheduleTimingSchema, { cron: f.cron, interval: f.interval, timezone: f.timezone }, command);
  const policy = parseFlags(sch.schedulePolicySchema, { catchupWindow: f.catchupWindow, pauseOnFailure: f.pauseOnFailure }, command);
  // The worker may run in another directory: send an absolute path (an s3:// URL as given).
  const importRequest: ImportRequestInput | undefined = f.source ? { source: { kind: 'csv', path: resolveCsvSource(f.source) } } : undefined;
  const monitoring: MonitoringScheduleArgs | undefined = f.models || f.retrainOnDrift !== undefined ? { ...(f.models ? { models: f.models } : {}), ...(f.retrainOnDrift !== undefined ? { retrainOnDrift: f.retrainOnDrift } : {}) } : undefined;
  return { timing, policy, importRequest, monitoring };
}

async function withClient<T>(run: (client: Client, config: AppConfig, sch: Schedules) => Promise<T>): Promise<T> {
  const config = lazy.config().loadConfig();
  const client = await connectClient(config);
  const sch = lazy.schedules();
  try {
    return await run(client, config, sch);
  } finally {
    await client.connection.close();
  }
}

function addDefinitionOptions(cmd: Command): Command {
  return cmd
    .option('--experiment <file>', `retrain: the experiment to train (default ${path.relative(process.cwd(), DEFAULT_EXPERIMENT_FILE)})`)
    .option('--source <path>', "retrain: CSV folder or file to ingest (needed when the experiment has no \"import\")")
    .option('--source-on-worker', "retrain: the source path is on the worker's host, not this one: not checked here (it is checked where the CLI runs otherwise)")
    .option('--cron <expr>', 'fire on this cron expression instead of the default calendar, e.g. "30 17 * * MON-FRI"')
    .option('--interval <duration>', 'fire every interval instead, e.g. 30s or 6h (no time zone, no holiday skips)')
    .option('--timezone <tz>', 'IANA time zone of the calendar or cron (default America/New_York)')
    .option('--catchup-window <duration>', 'after an outage, start missed actions at most this late (default 10m)')
    .option('--pause-on-failure', 'pause the schedule when a run it started fails')
    .option('--models <list>', 'monitor: only these registered models (default: every served model)')
    .option('--retrain-on-drift', 'monitor: a severe drift or performance alert starts one retraining run')
    .option('--note <text>', 'note shown with the schedule (Web UI, describe)');
}

const fmtDate = (d: Date, timeZone?: string) =>
  timeZone
    ? `${d.toISOString()}  (${new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false, timeZoneName: 'short' }).format(d)})`
    : d.toISOString();

function rangeText<U>(ranges: Array<Range<U>> | undefined, all: string): string {
  if (!ranges || ranges.length === 0) return all;
  return ranges.map((r) => (r.end === undefined || r.end === r.start ? String(r.start) : `${String(r.start)}-${String(r.end)}${r.step > 1 ? `/${r.step}` : ''}`)).join(',');
}

/** One line per calendar, interval and cron of a schedule's spec. */
export function specLines(spec: ScheduleDescription['spec']): string[] {
  const lines: string[] = [];
  for (const c of spec.calendars ?? []) {
    const hours = rangeText(c.hour, '*');
    const minutes = rangeText(c.minute, '*');
    const time = /^\d+$/.test(hours) && /^\d+$/.test(minutes) ? `at ${hours}:${minutes.padStart(2, '0')}` : `hours ${hours}, minute ${minutes}`;
    const when = `${rangeText(c.dayOfWeek, 'every day')} ${time}${c.dayOfMonth?.length && !(c.dayOfMonth.length === 1 && c.dayOfMonth[0].start === 1 && c.dayOfMonth[0].end === 31) ? `, day ${rangeText(c.dayOfMonth, '*')}` : ''}`;
    lines.push(c.comment ? `${c.comment} [${when}]` : when);
  }
  for (const i of spec.intervals ?? []) lines.push(`every ${i.every / 1000} s${i.offset ? ` (offset ${i.offset / 1000} s)` : ''}`);
  if (spec.timezone) lines.push(`time zone ${spec.timezone}`);
  const skips = spec.skip ?? [];
  if (skips.length > 0) {
    const years = skips.flatMap((s) => s.year.map((y) => y.end ?? y.start));
    lines.push(`skips ${skips.length} NYSE holidays through ${Math.max(...years)} (renewed by "schedules update")`);
  }
  return lines;
}

function inputLines(kind: ScheduleKind | undefined, args: readonly unknown[] | undefined): string[] {
  const input = (args?.[0] ?? {}) as Record<string, unknown>;
  if (kind === 'retrain') {
    const experiment = input.experiment as { name?: string; import?: { source?: { kind?: string; path?: string } } } | undefined;
    const source = ((input.import ?? experiment?.import) as { source?: { kind?: string; path?: string; symbols?: string[] } } | undefined)?.source;
    return [`experiment ${experiment?.name ?? '-'}; data ${source?.kind === 'csv' ? source.path : source?.kind === 'stooq' ? `stooq ${(source.symbols ?? []).join(',')}` : '-'}`];
  }
  if (kind === 'monitor') {
    const m = input as MonitoringScheduleArgs;
    return [`models ${m.models?.join(', ') ?? 'every served model'}; retrain on drift ${m.retrainOnDrift ? 'yes' : 'no'}`];
  }
  return [`input ${JSON.stringify(input).slice(0, 200)}`];
}

/** What `schedules describe` prints: definition, state, next runs and recent actions with their outcome. */
export async function describeScheduleText(client: Client, config: AppConfig, id: string, nextRuns = 5): Promise<string> {
  const { withSchedule, scheduleKindOf, scheduleLink } = lazy.schedules();
  const d = await withSchedule(client, id, (h) => h.describe());
  const kind = scheduleKindOf(d);
  const lines = [
    `${id}: ${kind ?? 'other'} schedule, starts ${d.action.workflowType} on ${d.action.taskQueue} — ${d.state.paused ? 'PAUSED' : 'active'}${d.state.note ? ` (note: ${d.state.note})` : ''}`,
    `  Web UI: ${scheduleLink(config, id)}`,
    ...specLines(d.spec).map((l) => `  when: ${l}`),
    ...inputLines(kind, d.action.args).map((l) => `  ${l}`),
    `  policies: overlap ${d.policies.overlap}, catch-up window ${d.policies.catchupWindow / 60_000} min, pause on failure ${d.policies.pauseOnFailure ? 'yes' : 'no'}`,
    `  actions taken ${d.info.numActionsTaken}, skipped (overlap) ${d.info.numActionsSkippedOverlap}, missed (catch-up window) ${d.info.numActionsMissedCatchupWindow}`,
    `  next ${nextRuns} runs${d.state.paused ? ' (once resumed)' : ''}:`,
    ...d.info.nextActionTimes.slice(0, nextRuns).map((t) => `    ${fmtDate(t, d.spec.timezone)}`),
  ];
  if (d.info.nextActionTimes.length === 0) lines.push('    none');
  const recent = d.info.recentActions.slice(-nextRuns).reverse();
  lines.push(`  recent actions${recent.length ? ', newest first' : ': none yet'}`);
  for (const a of recent) {
    const wf = a.action.workflow;
    const status = await client.workflow
      .getHandle(wf.workflowId, wf.firstExecutionRunId)
      .describe()
      .then((w) => w.status.name)
      .catch(() => 'unknown');
    lines.push(`    ${a.takenAt.toISOString()} (scheduled ${a.scheduledAt.toISOString()}) ${wf.workflowId} ${status}`, `      ${webUiLink(config, wf.workflowId, wf.firstExecutionRunId)}`);
  }
  // The server's description quotes a note, an experiment's name, a data path, workflow ids: each line escaped.
  return lines.map(escapeControl).join('\n');
}

export function schedulesCommand(): Command {
  const cmd = new Command('schedules').description('Temporal Schedules: retraining after the close, monitoring hourly (create, describe, pause, trigger, backfill, …)');

  addDefinitionOptions(
    cmd
      .command('create')
      .description('create the retraining and/or monitoring schedule (fails if it exists: use update)')
      .addOption(new Option('--which <which>', 'which schedule').choices(['retrain', 'monitor', 'all']).default('all'))
      .option('--id <scheduleId>', 'schedule id (default retrain-<experiment name> / monitoring); only with one --which')
      .option('--paused', 'create it paused'),
  ).action(async (opts: Record<string, unknown>) => {
    // Flags and files are checked before connecting: a malformed command says so with the server down.
    const sch = lazy.schedules();
    const f = parseFlags(createFlags(), opts, 'create');
    if (f.which === 'all' && (f.id || f.cron || f.interval)) throw new Error('schedules create: --id, --cron and --interval apply to one schedule: add --which retrain or --which monitor');
    const { timing, policy, importRequest, monitoring } = definitionFromFlags(sch, f, 'create');
    const common = { scheduleId: f.id, timing, ...policy, paused: f.paused, note: f.note };
    const definitions: Array<ReturnType<Schedules['retrainSchedule']>> = [];
    if (f.which !== 'monitor') {
      const experiment = readExperimentFile(f.experiment ?? DEFAULT_EXPERIMENT_FILE);
      definitions.push(sch.retrainSchedule({ ...common, experiment, import: importRequest }));
      // Every run of the schedule would fail at ingest on a missing folder, from the first one on.
      if (!f.sourceOnWorker) checkLocalSource(importRequest, experiment, 'no schedule was created (a path on the worker\'s host only: --source-on-worker)');
    }
    if (f.which !== 'retrain') definitions.push(sch.monitorSchedule({ ...common, monitoring }));
    await withClient(async (client, config) => {
      for (const definition of definitions) {
        await sch.createSchedule(client, definition);
        console.log(`created ${definition.scheduleId}${f.paused ? ' (paused)' : ''}\n  Web UI: ${sch.scheduleLink(config, definition.scheduleId)}`);
      }
      for (const definition of definitions) console.log(await describeScheduleText(client, config, definition.scheduleId));
    });
  });

  // The --no- flags come after their positive forms, else commander defaults them to true.
  addDefinitionOptions(cmd.command('update <scheduleId>').description('change an existing schedule; what you leave out stays (paused state included)'))
    .option('--default-spec', 'back to the default calendar (drops a --cron or --interval override)')
    .option('--no-pause-on-failure', 'do not pause when a run fails')
    .option('--no-retrain-on-drift', 'monitor: alerts only, no retraining runs')
    .action(async (id: string, opts: Record<string, unknown>) => {
      const sch = lazy.schedules();
      const f = parseFlags(definitionFlags().extend({ defaultSpec: lazy.zod().z.boolean().optional() }), opts, 'update');
      const { timing, policy, importRequest, monitoring } = definitionFromFlags(sch, f, 'update');
      const experiment = f.experiment ? readExperimentFile(f.experiment) : undefined;
      // What the runs would read from now on: --source, else the new experiment's own import.
      if (!f.sourceOnWorker) checkLocalSource(importRequest, experiment, 'the schedule was not changed (a path on the worker\'s host only: --source-on-worker)');
      await withClient(async (client, config) => {
        const kind = await sch.updateSchedule(client, id, {
          timing: timing.cron || timing.interval || timing.timezone ? timing : undefined,
          defaultSpec: f.defaultSpec,
          ...policy,
          experiment,
          import: importRequest,
          monitoring,
          note: f.note,
        });
        if (kind !== 'retrain' && (f.experiment || f.source)) console.log('  note: --experiment and --source apply to retraining schedules only; ignored');
        if (kind !== 'monitor' && monitoring) console.log('  note: --models and --retrain-on-drift apply to monitoring schedules only; ignored');
        console.log(`updated ${id}\n${await describeScheduleText(client, config, id)}`);
      });
    });

  cmd
    .command('describe <scheduleId>')
    .description('spec, policies, paused state and note, the next runs and the recent actions with their status')
    .option('--next <n>', 'how many next runs and recent actions', '5')
    .option('--json', 'the description as JSON')
    .action(async (id: string, opts: { next: string; json?: boolean }) => {
      const next = parseNumberFlag('--next', opts.next, { int: true, min: 1, max: 10 }, 'schedules describe');
      await withClient(async (client, config, sch) => {
        if (opts.json) {
          const d = await sch.withSchedule(client, id, (h) => h.describe());
          // `raw` is the server's protobuf response, not meant for reading.
          console.log(printableJson(d, (key, value: unknown) => (key === 'raw' ? undefined : value)));
          return;
        }
        console.log(await describeScheduleText(client, config, id, next));
      });
    });

  cmd
    .command('list')
    .description('every schedule of the namespace')
    .action(() =>
      withClient(async (client, config, sch) => {
        let n = 0;
        for await (const s of client.schedule.list()) {
          n++;
          const next = s.info.nextActionTimes[0];
          const last = s.info.recentActions.at(-1);
          console.log(
            escapeControl(`${s.scheduleId.padEnd(32)} ${(s.action?.workflowType ?? '-').padEnd(20)} ${s.state.paused ? 'PAUSED' : 'active'}  next ${next && !s.state.paused ? next.toISOString() : '-'}  last ${last ? `${last.takenAt.toISOString()} ${last.action.workflow.workflowId}` : '-'}${s.state.note ? `  (${s.state.note})` : ''}`),
          );
        }
        console.log(n === 0 ? 'no schedules: create them with "mlp schedules create"' : `Web UI: ${sch.scheduleLink(config)}`);
      }),
    );

  const by = `${process.env.USER ?? 'unknown user'} via the CLI`;
  cmd
    .command('pause <scheduleId>')
    .description('stop starting runs until resumed (runs already going are not touched)')
    .option('--note <text>', 'why (shown in the Web UI and describe)')
    .action((id: string, opts: { note?: string }) =>
      withClient(async (client, _config, sch) => {
        await sch.withSchedule(client, id, (h) => h.pause(opts.note ? `${opts.note} (${by})` : `paused by ${by}`));
        console.log(`paused ${id}`);
      }),
    );
  cmd
    .command('resume <scheduleId>')
    .description('start runs again at the next scheduled time (missed ones are not replayed: use backfill)')
    .option('--note <text>', 'why')
    .action((id: string, opts: { note?: string }) =>
      withClient(async (client, _config, sch) => {
        await sch.withSchedule(client, id, (h) => h.unpause(opts.note ? `${opts.note} (${by})` : `resumed by ${by}`));
        const d = await sch.withSchedule(client, id, (h) => h.describe());
        console.log(`resumed ${id}; next run ${d.info.nextActionTimes[0]?.toISOString() ?? '-'}`);
      }),
    );

  cmd
    .command('trigger <scheduleId>')
    .description('start one run now (also when paused)')
    .addOption(new Option('--overlap <policy>', 'if a run is still going (default: the schedule\'s own policy, SKIP)').choices(['skip', 'buffer_one', 'buffer_all', 'allow_all']))
    .action(async (id: string, opts: { overlap?: string }) => {
      const overlap = parseFlags(lazy.zod().z.object({ overlap: overlapSchema() }), opts, 'trigger').overlap;
      await withClient(async (client, config, sch) => {
        const before = await sch.withSchedule(client, id, (h) => h.describe());
        const policy = overlap ?? before.policies.overlap;
        await sch.withSchedule(client, id, (h) => h.trigger(policy));
        // The action is taken asynchronously by the server: look for it briefly to print its run.
        const seen = new Set(before.info.recentActions.map((a) => a.action.workflow.workflowId));
        for (let i = 0; i < 20; i++) {
          const fresh = (await sch.withSchedule(client, id, (h) => h.describe())).info.recentActions.find((a) => !seen.has(a.action.workflow.workflowId));
          if (fresh) {
            console.log(`triggered ${id}: started ${fresh.action.workflow.workflowId}\n  Web UI: ${webUiLink(config, fresh.action.workflow.workflowId, fresh.action.workflow.firstExecutionRunId)}`);
            return;
          }
          await new Promise((r) => setTimeout(r, 250));
        }
        console.log(`triggered ${id} with overlap ${policy}; no new run yet${policy === 'SKIP' && before.info.runningActions.length > 0 ? ': a run is still going, so SKIP dropped this one (use --overlap allow_all to start one anyway)' : ' (see "mlp schedules describe ' + id + '")'}`);
      });
    });

  cmd
    .command('backfill <scheduleId>')
    .description('take the actions a time range would have taken, now (e.g. retrains missed during an outage)')
    .requiredOption('--from <time>', 'start: YYYY-MM-DD (UTC day) or an ISO time')
    .requiredOption('--to <time>', 'end: YYYY-MM-DD (UTC day, inclusive) or an ISO time')
    .addOption(new Option('--overlap <policy>', "what to do with actions that overlap (default: the schedule's policy; SKIP starts one run for the range)").choices(['skip', 'buffer_one', 'buffer_all', 'allow_all']))
    .action(async (id: string, opts: Record<string, unknown>) => {
      const f = parseFlags(
        lazy.zod().z.object({ from: instant(false), to: instant(true), overlap: overlapSchema() }).refine((x) => x.from < x.to, { message: 'must be before --to', path: ['from'] }),
        opts,
        'backfill',
      );
      await withClient(async (client, _config, sch) => {
        const d = await sch.withSchedule(client, id, (h) => h.describe());
        const overlap = f.overlap ?? d.policies.overlap;
        const times = await sch.scheduledTimesBetween(client, id, f.from, f.to);
        await sch.withSchedule(client, id, (h) => h.backfill({ start: f.from, end: f.to, overlap }));
        console.log(`backfill of ${id} from ${f.from.toISOString()} to ${f.to.toISOString()}: ${times.length} scheduled time(s) in range${times.length ? ` (${times.map((t) => t.toISOString()).join(', ')})` : ''}, overlap ${overlap}`);
        if (overlap === 'SKIP' && times.length > 1) console.log('  with SKIP the first starts now and the others are dropped while it runs: one catch-up run (use --overlap buffer_all for one run per missed time)');
        console.log(`  follow with "mlp schedules describe ${id}"`);
      });
    });

  cmd
    .command('delete <scheduleId>')
    .description('remove a schedule (runs it started keep running)')
    .action((id: string) =>
      withClient(async (client, _config, sch) => {
        await sch.withSchedule(client, id, (h) => h.delete());
        console.log(`deleted ${id}; runs it started are not affected`);
      }),
    );
  return cmd;
}
