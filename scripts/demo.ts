/**
 * The main job on the embedded stack: Temporal dev server (started here if none answers), SQLite,
 * in-process cache; a worker in the background; one pipeline run on the folder given, or on a
 * generated market. Creates the retraining and monitoring schedules (paused unless asked), so a
 * newcomer sees them in the Web UI. Leaves the stack running and prints where to look.
 *   tsx scripts/demo.ts [csv-folder] [--active-schedules | --no-schedules]
 *   DEMO_SCHEDULES=paused|active|off (default paused; the flags win)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readExperimentFile, startPipelineRun } from '../client/commands/run-pipeline';
import { monitorSchedule, retrainSchedule, scheduleLink, upsertSchedule } from '../client/schedules';
import { connectClient } from '../client/temporal-client';
import type { ExperimentInput } from '../lib/experiments/experiment';
import type { ImportRequestInput } from '../lib/ingest/import-request';
import { loadConfig, type AppConfig } from '../lib/config';
import { writeSyntheticMarket } from '../lib/market-data/synthetic';
import { ensureDevServer } from '../platform/dev-server';

const REPO = path.resolve(__dirname, '..');

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts workers/main.ts in the background unless the one started earlier still runs. */
async function ensureWorker(config: AppConfig): Promise<string> {
  const pidFile = path.join(config.dataDir, 'worker.pid');
  const logFile = path.join(config.dataDir, 'worker.log');
  const previous = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : 0;
  if (previous > 0 && isRunning(previous)) return `worker already running (pid ${previous}), log ${logFile}`;
  const out = fs.openSync(logFile, 'a');
  // node itself rather than the tsx wrapper, so the recorded pid is the worker's and SIGTERM reaches it
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'workers', 'main.ts')], {
    cwd: REPO,
    detached: true,
    stdio: ['ignore', out, out],
  });
  child.unref();
  fs.closeSync(out);
  fs.writeFileSync(pidFile, String(child.pid));
  // Wait for the "worker ready" line so the run does not sit in the queue unexplained.
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const log = fs.readFileSync(logFile, 'utf8');
    if (log.includes('worker ready')) return `worker started (pid ${child.pid}), log ${logFile}`;
    if (child.exitCode !== null) throw new Error(`worker exited with code ${child.exitCode}; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`worker did not report ready within 120 s; see ${logFile}`);
}

type ScheduleMode = 'paused' | 'active' | 'off';

/** The folder argument and how to set up the schedules, from argv and DEMO_SCHEDULES. */
function parseArguments(argv: string[]): { folder?: string; schedules: ScheduleMode; explicit: boolean } {
  const flags = argv.filter((a) => a.startsWith('--'));
  const unknown = flags.filter((f) => f !== '--active-schedules' && f !== '--no-schedules');
  if (unknown.length > 0) throw new Error(`unknown option ${unknown.join(' ')}; usage: ./run.sh [csv-folder-or-file] [--active-schedules | --no-schedules]`);
  const env = z.enum(['paused', 'active', 'off'], { message: 'DEMO_SCHEDULES must be paused, active or off' }).default('paused').parse(process.env.DEMO_SCHEDULES || undefined);
  const schedules: ScheduleMode = flags.includes('--no-schedules') ? 'off' : flags.includes('--active-schedules') ? 'active' : env;
  // Asked for explicitly: existing schedules take this state too (else they keep theirs).
  const explicit = flags.length > 0 || Boolean(process.env.DEMO_SCHEDULES);
  return { folder: argv.find((a) => !a.startsWith('--')), schedules, explicit };
}

/**
 * The default retraining (this data, the demo experiment) and monitoring schedules. Created paused
 * unless asked; existing ones get the new definition but keep their paused state, unless a mode was asked for.
 */
async function ensureSchedules(config: AppConfig, experiment: ExperimentInput, importRequest: ImportRequestInput, mode: ScheduleMode, explicit: boolean): Promise<string[]> {
  const client = await connectClient(config);
  try {
    const paused = mode !== 'active';
    const lines: string[] = [];
    for (const definition of [retrainSchedule({ experiment, import: importRequest, paused }), monitorSchedule({ paused })]) {
      const outcome = await upsertSchedule(client, definition, { forceState: explicit });
      const d = await client.schedule.getHandle(definition.scheduleId).describe();
      const next = d.info.nextActionTimes[0];
      lines.push(`  ${definition.scheduleId.padEnd(28)} ${outcome}, ${d.state.paused ? 'paused' : `active, next run ${next?.toISOString() ?? '-'}`}  ${scheduleLink(config, definition.scheduleId)}`);
    }
    return lines;
  } finally {
    await client.connection.close();
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  fs.mkdirSync(config.dataDir, { recursive: true });
  const args = parseArguments(process.argv.slice(2));
  const given = args.folder;
  let folder: string;
  if (given) {
    folder = path.resolve(given);
  } else {
    folder = path.join(config.dataDir, 'demo-market');
    const written = await writeSyntheticMarket(folder, {});
    console.log(`generated a synthetic market in ${folder} (${written.files.length} files, planted errors listed in planted-errors.json)`);
  }
  await ensureDevServer(config);
  console.log(await ensureWorker(config));
  // The experiment trains on whatever was imported; its own file names no data.
  const experiment = readExperimentFile(path.join(REPO, 'experiments', 'demo.json'));
  const importRequest: ImportRequestInput = { source: { kind: 'csv', path: folder } };
  let schedules: string[] = [];
  if (args.schedules !== 'off') {
    schedules = await ensureSchedules(config, experiment, importRequest, args.schedules, args.explicit);
    console.log(`schedules (Temporal Schedules; ${args.schedules === 'active' ? 'active' : 'paused until you run "npx mlp schedules resume <id>"'}):\n${schedules.join('\n')}`);
  }
  await startPipelineRun(config, importRequest, { experiment, print: (l) => console.log(l) });
  console.log(`
The stack keeps running:
  Temporal Web UI    ${config.temporalUiUrl}/namespaces/${config.temporalNamespace}/workflows
  schedules          ${scheduleLink(config)}${schedules.length ? `\n${schedules.map((l) => `    ${l.trim()}`).join('\n')}` : ' (not created: --no-schedules)'}
  worker metrics     http://${config.metricsAddress}/metrics (Temporal), http://${config.appMetricsAddress}/metrics (alerts, monitoring)
  state              ${config.dataDir} (SQLite ${config.databaseUrl}, temporal.db, *.log)
Next:
  npx mlp models list
  npx mlp models show demo-direction-5d champion
  npx mlp models history demo-direction-5d
  npx mlp runs list
  npx mlp schedules describe retrain-${experiment.name}     # next runs, recent actions
  npx mlp schedules resume retrain-${experiment.name}       # retrain every weekday at 16:30 New York time
  npx mlp alerts list
  npx mlp run --source <folder> --experiment experiments/demo.json
  npx mlp snapshots list
  npx mlp quarantine --limit 20
  npx mlp run --source <folder-or-file>
  npm run temporal:server -- stop      # and: kill $(cat ${path.join(config.dataDir, 'worker.pid')})`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
