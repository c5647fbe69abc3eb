/**
 * The S3-compatible object store that tests and the embedded multi-machine setup run: versitygw
 * (Versity S3 Gateway, Apache-2.0), a single Go binary that serves a local directory over the S3 API
 * (`versitygw --port host:port posix <dir>`, root credentials from ROOT_ACCESS_KEY/ROOT_SECRET_KEY).
 * It builds from the Go module proxy like the Temporal CLI, once per user, into the same cache:
 * $MLP_TOOLS_DIR or ${XDG_CACHE_HOME:-~/.cache}/temporal-ml-pipeline/bin/versitygw-<version>.
 * (MinIO, the usual choice, is AGPL-3.0 and is no longer distributed as binaries; SeaweedFS and
 * Garage are heavier to run for a test. See docs/multi-host.md.)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { installAtomically, isExecutable, onPath, toolsCacheDir } from './temporal-cli';

export const VERSITYGW_VERSION = 'v1.8.0';
const MODULE = `github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}`;

/** <tools cache>/versitygw-<version> */
export function cachedVersitygwPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(toolsCacheDir(env), `versitygw-${VERSITYGW_VERSION}`);
}

/** VERSITYGW_PATH, else the per-user cache, else `versitygw` on PATH. */
export function findVersitygw(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env.VERSITYGW_PATH;
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`VERSITYGW_PATH=${explicit} is not an executable file; unset it or point it at the versitygw binary`);
    return explicit;
  }
  const cached = cachedVersitygwPath(env);
  return isExecutable(cached) ? cached : onPath('versitygw', env);
}

/** Finds versitygw or builds it with Go into the per-user cache (about 3 minutes, once); throws saying what to do. */
export function ensureVersitygw(log: (line: string) => void = console.error): string {
  const found = findVersitygw();
  if (found) return found;
  const go = onPath('go') ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (!go) throw new Error(`versitygw is not installed and Go is not available to build it: install Go and run "go install ${MODULE}", or set VERSITYGW_PATH`);
  const target = cachedVersitygwPath();
  log(`building the S3-compatible object store into ${target}: go install ${MODULE} (a few minutes, once per user)`);
  const started = Date.now();
  const built = installAtomically(target, (tmpDir) => {
    const result = spawnSync(go, ['install', MODULE], { env: { ...process.env, GOBIN: tmpDir }, stdio: ['ignore', 'inherit', 'inherit'] });
    return result.status === 0 ? path.join(tmpDir, 'versitygw') : undefined;
  });
  if (!built) throw new Error(`go install ${MODULE} failed; see the output above, or set VERSITYGW_PATH to a versitygw binary`);
  log(`built ${built} in ${Math.round((Date.now() - started) / 1000)} s`);
  return built;
}

export interface ObjectStoreOptions {
  /** Folder whose sub-folders are the buckets. */
  dir: string;
  /** Listen address ip:port. */
  address: string;
  accessKey: string;
  secretKey: string;
  /** Buckets to create (as folders) before the server starts. */
  buckets?: string[];
  logFile?: string;
  /** Start in its own process group and outlive this process (the embedded stack); default false. */
  detached?: boolean;
}

export interface ObjectStoreHandle {
  endpoint: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** True when something accepts TCP connections at ip:port. */
export function answers(address: string, timeoutMs = 1000): Promise<boolean> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Starts versitygw serving `dir` at `address` and waits until it accepts connections. */
export async function startObjectStore(options: ObjectStoreOptions): Promise<ObjectStoreHandle> {
  const binary = ensureVersitygw();
  fs.mkdirSync(options.dir, { recursive: true });
  for (const bucket of options.buckets ?? []) fs.mkdirSync(path.join(options.dir, bucket), { recursive: true }); // posix back-end: a bucket is a folder
  const out = options.logFile ? fs.openSync(options.logFile, 'a') : 'ignore';
  const child = spawn(binary, ['--port', options.address, 'posix', options.dir], {
    env: { ...process.env, ROOT_ACCESS_KEY: options.accessKey, ROOT_SECRET_KEY: options.secretKey },
    stdio: ['ignore', out, out],
    detached: options.detached ?? false,
  });
  if (typeof out === 'number') fs.closeSync(out);
  const endpoint = `http://${options.address}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`versitygw exited with code ${child.exitCode} before answering at ${options.address}${options.logFile ? `; see ${options.logFile}` : ''}`);
    if (await answers(options.address)) return { endpoint, process: child, stop };
    await new Promise((r) => setTimeout(r, 200));
  }
  await stop();
  throw new Error(`versitygw did not answer at ${options.address} within 30 s${options.logFile ? `; see ${options.logFile}` : ''}`);
}
