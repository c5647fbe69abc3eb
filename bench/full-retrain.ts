/**
 * A full retrain through the real Temporal server: a private dev server and SQLite store, N worker
 * processes, one trainingPipeline run of an experiment (default: experiments/sp500-direction.json
 * on ../shared/data/sp500-2013-2018). Prints total wall time, time per stage, the trial fan-out and
 * the share of wall time in which no activity was executing (orchestration overhead).
 *   tsx bench/full-retrain.ts [--workers 1] [--slots <per worker>] [--experiment experiments/sp500-direction.json] [--trials 20] [--profile <dir>]
 * --profile writes a V8 CPU profile of every worker thread (node --cpu-prof) into <dir>, for bench/cpuprofile-top.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { describeCandidates, readExperimentFile } from '../client/commands/run-pipeline';
import { connectClient } from '../client/temporal-client';
import { loadConfig } from '../lib/config';
import { TASK_QUEUES } from '../lib/task-queues';
import { ensureDevServer, stopDevServer } from '../platform/dev-server';
import { trainingPipeline, type TrainingPipelineResult } from '../workflows';

const opts = z
  .object({
    workers: z.coerce.number().int().min(1).max(8).default(1),
    experiment: z.string().default(path.resolve(__dirname, '../experiments/sp500-direction.json')),
    trials: z.coerce.number().int().min(1).optional(),
    /** Training threads per worker, TRAINING_CONCURRENCY (default: the cores shared out between the workers); each runs one activity more at once. */
    slots: z.coerce.number().int().min(1).max(64).optional(),
    port: z.coerce.number().int().default(17233),
    profile: z.string().optional(),
  })
  .parse(new Command().option('--workers <n>').option('--experiment <file>').option('--trials <n>').option('--slots <n>').option('--port <port>').option('--profile <dir>').parse().opts());

/** One worker process (workers/main.ts) logging to `log`; resolves once it reports ready. */
async function startWorker(env: NodeJS.ProcessEnv, log: string): Promise<ChildProcess> {
  fs.writeFileSync(log, '');
  const out = fs.openSync(log, 'a');
  // --cpu-prof is refused in NODE_OPTIONS, so it goes on the command line.
  const profile = opts.profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${path.resolve(opts.profile)}`];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', path.resolve(__dirname, '../workers/main.ts')], { env, stdio: ['ignore', out, out] });
  while (!fs.readFileSync(log, 'utf8').includes('worker ready')) {
    if (child.exitCode !== null) throw new Error(`worker exited; see ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

interface Interval {
  start: number;
  end: number;
  type: string;
  /** The child workflow's algorithm, or 'pipeline' for the parent's own activities. */
  owner: string;
  /** When it was scheduled: start − scheduled is how long it waited for a worker to take it. */
  scheduled: number;
}

async function main(): Promise<void> {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-retrain-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: state,
    DATABASE_URL: `sqlite:${path.join(state, 'store.sqlite')}`,
    ARTIFACT_DIR: path.join(state, 'artifacts'),
    TEMPORAL_ADDRESS: `127.0.0.1:${opts.port}`,
    TEMPORAL_UI_URL: `http://127.0.0.1:${opts.port + 1}`,
    REDIS_URL: '',
    TRAINING_CONCURRENCY: String(opts.slots ?? Math.max(1, Math.floor(os.availableParallelism() / opts.workers))),
  };
  const config = loadConfig(env);
  await ensureDevServer(config, () => undefined);
  const workers: ChildProcess[] = [];
  try {
    for (let w = 0; w < opts.workers; w++) {
      workers.push(await startWorker({ ...env, METRICS_ADDRESS: `127.0.0.1:${opts.port + 10 + w}` }, path.join(state, `worker-${w}.log`)));
    }
    const experiment = readExperimentFile(opts.experiment);
    if (opts.trials) experiment.algorithms = experiment.algorithms.map((a) => ({ ...a, trials: opts.trials }));
    const client = await connectClient(config);
    const workflowId = `full-retrain-${Date.now()}`;
    const t0 = Date.now();
    // The workers' CPU every second: where the cores sat idle, which the activities' spans do not show.
    const cpuNow = () => workers.map(cpuSecondsOf).reduce<number>((a, b) => a + (b ?? 0), 0);
    const cpuSamples: number[] = [cpuNow()];
    const sampler = setInterval(() => cpuSamples.push(cpuNow()), 1000);
    const result: TrainingPipelineResult = await client.workflow.execute(trainingPipeline, { taskQueue: TASK_QUEUES.pipeline, workflowId, args: [{ experiment }] }).finally(() => clearInterval(sampler));
    const wall = (Date.now() - t0) / 1000;

    // Activity executions across the run and its children, from the histories.
    const intervals: Interval[] = [];
    const ids = [workflowId, ...(result.candidates ?? []).map((c) => `${workflowId}/${c.algorithm}`)];
    for (const id of ids) {
      const events = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
      const types = new Map<string, string>();
      const started = new Map<string, number>();
      const scheduledAt = new Map<string, number>();
      for (const e of events) {
        const at = Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
        const eventId = String(e.eventId);
        if (e.activityTaskScheduledEventAttributes) {
          types.set(eventId, e.activityTaskScheduledEventAttributes.activityType?.name ?? '?');
          scheduledAt.set(eventId, at);
        }
        if (e.activityTaskStartedEventAttributes) started.set(String(e.activityTaskStartedEventAttributes.scheduledEventId), at);
        const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
        if (done) {
          const scheduled = String(done.scheduledEventId);
          const start = started.get(scheduled) ?? at;
          intervals.push({ start, end: at, type: types.get(scheduled) ?? '?', owner: id === workflowId ? 'pipeline' : id.slice(workflowId.length + 1), scheduled: scheduledAt.get(scheduled) ?? start });
        }
      }
    }
    intervals.sort((a, b) => a.start - b.start);
    let busy = 0;
    let coverEnd = -Infinity;
    for (const i of intervals) {
      if (i.start > coverEnd) {
        busy += i.end - i.start;
        coverEnd = i.end;
      } else if (i.end > coverEnd) {
        busy += i.end - coverEnd;
        coverEnd = i.end;
      }
    }
    const byType = new Map<string, { n: number; seconds: number; waited: number }>();
    for (const i of intervals) {
      const s = byType.get(i.type) ?? { n: 0, seconds: 0, waited: 0 };
      s.n++;
      s.seconds += (i.end - i.start) / 1000;
      s.waited += (i.start - i.scheduled) / 1000;
      byType.set(i.type, s);
    }
    console.log(`\nfull retrain, ${opts.workers} worker process(es) × ${env.TRAINING_CONCURRENCY} training threads, ${os.availableParallelism()} cores`);
    console.log(`dataset ${result.dataset?.rows} rows × ${result.dataset?.columns} features, ${result.dataset?.symbols} symbols, ${result.dataset?.firstDay}..${result.dataset?.lastDay}`);
    const trials = intervals.filter((i) => i.type === 'runTrial');
    if (trials.length > 0) {
      const span = (Math.max(...trials.map((i) => i.end)) - Math.min(...trials.map((i) => i.start))) / 1000;
      console.log(`trial fan-out: ${trials.length} trials in ${span.toFixed(1)} s (${(trials.length / span).toFixed(2)} trials/s)`);
    }
    // Waiting: from scheduled to taken by a worker (a free slot, and the worker's event loop free to poll).
    console.log('activity            count   busy s (summed over parallel executions)   waiting to start s (summed)');
    for (const [type, s] of byType) console.log(`${type.padEnd(22)} ${String(s.n).padStart(4)} ${s.seconds.toFixed(1).padStart(9)} ${s.waited.toFixed(1).padStart(12)}`);
    // Busy time per algorithm and activity: where the CPU went, which is what a shorter run must cut.
    const byOwner = new Map<string, number>();
    for (const i of intervals) byOwner.set(`${i.owner} ${i.type}`, (byOwner.get(`${i.owner} ${i.type}`) ?? 0) + (i.end - i.start) / 1000);
    console.log('busy s by workflow and activity: ' + [...byOwner].sort((a, b) => b[1] - a[1]).map(([k, s]) => `${k} ${s.toFixed(1)}`).join('; '));
    // When each step ran (seconds from the run's start): the steps after the last trial are the tail a shorter run must also cut.
    const spans = new Map<string, { from: number; to: number; n: number }>();
    for (const i of intervals) {
      const key = `${i.owner} ${i.type}`;
      const s = spans.get(key) ?? { from: Infinity, to: -Infinity, n: 0 };
      spans.set(key, { from: Math.min(s.from, i.start), to: Math.max(s.to, i.end), n: s.n + 1 });
    }
    console.log('timeline (s from start): ' + [...spans].sort((a, b) => a[1].from - b[1].from).map(([k, s]) => `${k}${s.n > 1 ? ` ×${s.n}` : ''} ${((s.from - t0) / 1000).toFixed(1)}–${((s.to - t0) / 1000).toFixed(1)}`).join('; '));
    for (const c of result.candidates ?? []) console.log(`${c.algorithm.padEnd(20)} search ${c.training.seconds.search.toFixed(1)} s (${c.training.trials.length} trials), walk-forward ${c.training.seconds.walkForward.toFixed(1)} s, final ${c.training.seconds.final.toFixed(1)} s`);
    // The same verdict lines the CLI prints: baselines, day-aware inference, guards, promotion.
    console.log(describeCandidates(result));
    for (const c of result.candidates ?? []) {
      const r = c.evaluation.report;
      console.log(`${c.algorithm} baselines: ${r.baselines.map((b) => `${b.name}${b.hindsight ? ' (hindsight)' : ''} acc ${b.accuracy.toFixed(4)} auc ${b.auc.toFixed(4)}`).join('; ')}; score ties: ${(r.backtest.scoreTies.constantShare * 100).toFixed(1)}% constant days, ${(r.backtest.scoreTies.tiedCutShare * 100).toFixed(1)}% tied top-k cuts`);
    }
    // CPU the worker processes used (all their threads), from /proc: the work done, which the wall
    // time and the activities' busy time (an activity waiting for a thread counts as busy) do not show.
    const cpu = workers.map(cpuSecondsOf).reduce<number | undefined>((a, b) => (a === undefined || b === undefined ? undefined : a + b), 0);
    if (cpu !== undefined) console.log(`worker CPU ${cpu.toFixed(1)} s (user + system, all threads) in ${wall.toFixed(1)} s on ${os.availableParallelism()} cores: ${((100 * cpu) / (wall * os.availableParallelism())).toFixed(0)}% of the cores`);
    if (cpuSamples.length > 10) {
      const slices: string[] = [];
      for (let at = 0; at + 10 < cpuSamples.length; at += 10) slices.push(((cpuSamples[at + 10] - cpuSamples[at]) / 10).toFixed(1));
      console.log(`cores busy per 10 s (of ${os.availableParallelism()}): ${slices.join(' ')}`);
    }
    // The ratio line last: wall time against the 3-minute target.
    console.log(`wall time ${wall.toFixed(1)} s; no activity running for ${(wall - busy / 1000).toFixed(1)} s (${(((wall - busy / 1000) / wall) * 100).toFixed(2)}% orchestration overhead); ${(wall / 180).toFixed(2)}× the 3-minute target`);
    await client.connection.close();
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    stopDevServer(config, () => undefined);
  }
}

/** User + system CPU seconds of a child process so far (Linux /proc; undefined elsewhere). */
function cpuSecondsOf(child: ChildProcess): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return undefined;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
