/**
 * The main job on the embedded stack: Temporal dev server (started here if none answers), SQLite,
 * in-process cache; a worker in the background; one pipeline run on the folder given, or on a
 * generated market. Leaves the stack running and prints where to look.
 *   tsx scripts/demo.ts [csv-folder]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readExperimentFile, startPipelineRun } from '../client/commands/run-pipeline';
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
    env: process.env,
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

async function main(): Promise<void> {
  const config = loadConfig();
  fs.mkdirSync(config.dataDir, { recursive: true });
  const given = process.argv[2];
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
  await startPipelineRun(config, { source: { kind: 'csv', path: folder } }, { experiment, print: (l) => console.log(l) });
  console.log(`
The stack keeps running:
  Temporal Web UI    ${config.temporalUiUrl}/namespaces/${config.temporalNamespace}/workflows
  worker metrics     http://${config.metricsAddress}/metrics
  state              ${config.dataDir} (SQLite ${config.databaseUrl}, temporal.db, *.log)
Next:
  npm run cli -- models list
  npm run cli -- models show demo-direction-5d champion
  npm run cli -- models history demo-direction-5d
  npm run cli -- runs list
  npm run cli -- run --source <folder> --experiment experiments/demo.json
  npm run cli -- snapshots list
  npm run cli -- quarantine --limit 20
  npm run cli -- run --source <folder-or-file>
  npm run temporal:server -- stop      # and: kill $(cat ${path.join(config.dataDir, 'worker.pid')})`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
