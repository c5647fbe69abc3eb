import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { AppConfig } from '../lib/config';
import { ensureTemporalCli } from './temporal-cli';

/** True when a Temporal frontend answers a health check at `address`. */
export async function temporalIsHealthy(address: string, timeoutMs = 2000): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    const response = await connection.healthService.check({});
    return response.status === 1; // SERVING
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

export interface DevServerHandle {
  address: string;
  uiUrl: string;
  startedHere: boolean;
  pid?: number;
  logFile?: string;
}

/**
 * Starts `temporal server start-dev` (SQLite file under DATA_DIR, Web UI) in the background unless a
 * server already answers at TEMPORAL_ADDRESS, then waits until it is healthy. The server outlives
 * this process on purpose: the stack keeps running for the Web UI and the CLI.
 */
export async function ensureDevServer(config: AppConfig, log: (line: string) => void = console.log): Promise<DevServerHandle> {
  const uiUrl = config.temporalUiUrl;
  if (await temporalIsHealthy(config.temporalAddress)) {
    log(`Temporal already answers at ${config.temporalAddress}`);
    return { address: config.temporalAddress, uiUrl, startedHere: false };
  }
  const cli = await ensureTemporalCli(log);
  const [ip, port] = config.temporalAddress.split(':');
  const uiPort = new URL(uiUrl).port || '8233';
  fs.mkdirSync(config.dataDir, { recursive: true });
  const logFile = path.join(config.dataDir, 'temporal.log');
  const out = fs.openSync(logFile, 'a');
  const args = ['server', 'start-dev', '--db-filename', path.join(config.dataDir, 'temporal.db'), '--ip', ip, '--port', port, '--ui-port', uiPort, '--namespace', config.temporalNamespace, '--log-level', 'warn'];
  const child = spawn(cli, args, { detached: true, stdio: ['ignore', out, out] });
  child.unref();
  fs.closeSync(out);
  fs.writeFileSync(path.join(config.dataDir, 'temporal.pid'), String(child.pid));
  log(`started Temporal dev server (pid ${child.pid}): ${cli} ${args.join(' ')}`);
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Temporal dev server exited with code ${child.exitCode}; see ${logFile}`);
    if (await temporalIsHealthy(config.temporalAddress)) {
      log(`Temporal is healthy at ${config.temporalAddress}; Web UI ${uiUrl}`);
      return { address: config.temporalAddress, uiUrl, startedHere: true, pid: child.pid, logFile };
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`Temporal dev server did not become healthy within 90 s at ${config.temporalAddress}; see ${logFile}`);
}

/** Stops a dev server this project started (pid file under DATA_DIR). */
export function stopDevServer(config: AppConfig, log: (line: string) => void = console.log): boolean {
  const pidFile = path.join(config.dataDir, 'temporal.pid');
  if (!fs.existsSync(pidFile)) return false;
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  try {
    process.kill(pid, 'SIGTERM');
    log(`stopped Temporal dev server (pid ${pid})`);
  } catch {
    log(`Temporal dev server (pid ${pid}) was not running`);
  }
  fs.rmSync(pidFile);
  return true;
}
