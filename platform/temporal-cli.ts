import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The CLI tag that `go install` accepts (later tags carry replace directives); it needs Go >= 1.25. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const MODULE = `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`;
const REPO_ROOT = path.resolve(__dirname, '..');
/** Where clones built or downloaded their own copy before the per-user cache (still looked at, never written). */
export const LOCAL_TOOLS_BIN = path.join(REPO_ROOT, '.tools', 'bin');

/**
 * The per-user folder every clone shares for the tools it builds or downloads once per machine:
 * MLP_TOOLS_DIR when set, else ${XDG_CACHE_HOME:-~/.cache}/temporal-ml-pipeline/bin (a relative
 * XDG_CACHE_HOME is ignored, as the XDG spec asks).
 */
export function toolsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MLP_TOOLS_DIR) return path.resolve(env.MLP_TOOLS_DIR);
  const xdg = env.XDG_CACHE_HOME;
  const cache = xdg && path.isAbsolute(xdg) ? xdg : path.join(env.HOME || os.homedir(), '.cache');
  return path.join(cache, 'temporal-ml-pipeline', 'bin');
}

/** The cached Temporal CLI of the pinned version: <tools cache>/temporal-<version>. */
export function cachedTemporalCliPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(toolsCacheDir(env), `temporal-${TEMPORAL_CLI_VERSION}`);
}

/**
 * Puts a freshly built or downloaded binary at `target` atomically: `produce` writes into a private
 * temporary folder next to it, then one rename publishes it. Two clones installing at once each
 * rename a complete file; neither can see (or leave) a half-written one.
 */
export function installAtomically(target: string, produce: (tmpDir: string) => string | undefined): string | undefined {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const tmpDir = fs.mkdtempSync(path.join(path.dirname(target), `.${path.basename(target)}.tmp-`));
  try {
    const built = produce(tmpDir);
    if (!built || !isExecutable(built)) return undefined;
    fs.renameSync(built, target);
    return target;
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
}

export function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export function onPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

function goBinDir(): string | undefined {
  const go = onPath('go') ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (!go) return undefined;
  try {
    const gopath = execFileSync(go, ['env', 'GOPATH'], { encoding: 'utf8' }).trim().split(path.delimiter)[0];
    return gopath ? path.join(gopath, 'bin') : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Finds an existing `temporal` binary: TEMPORAL_CLI_PATH, then PATH, then the per-user cache
 * (toolsCacheDir), then a clone's old .tools/bin, then Go's bin folders.
 */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`TEMPORAL_CLI_PATH=${explicit} is not an executable file; unset it or point it at the temporal binary`);
    return explicit;
  }
  const candidates = [onPath('temporal', env), cachedTemporalCliPath(env), path.join(LOCAL_TOOLS_BIN, 'temporal'), path.join(env.HOME || os.homedir(), 'go', 'bin', 'temporal')];
  const goBin = goBinDir();
  if (goBin) candidates.push(path.join(goBin, 'temporal'));
  return candidates.find((c): c is string => c !== undefined && isExecutable(c));
}

function goVersionOk(go: string): boolean {
  const out = spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8' }).stdout.trim(); // e.g. go1.26.8
  const m = /^go(\d+)\.(\d+)/.exec(out);
  return m !== null && (Number(m[1]) > 1 || Number(m[2]) >= 25);
}

function buildWithGo(log: (line: string) => void): string | undefined {
  const go = onPath('go') ?? (isExecutable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (!go || !goVersionOk(go)) {
    log(go ? 'Go is older than 1.25; cannot build the Temporal CLI' : 'Go is not installed; cannot build the Temporal CLI');
    return undefined;
  }
  const target = cachedTemporalCliPath();
  log(`building the Temporal CLI into ${target}: go install ${MODULE} (a few minutes on a fresh machine, once per user)`);
  const started = Date.now();
  const binary = installAtomically(target, (tmpDir) => {
    const result = spawnSync(go, ['install', MODULE], { env: { ...process.env, GOBIN: tmpDir }, stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.status !== 0) log(`go install failed (exit ${result.status ?? result.signal})`);
    return result.status === 0 ? path.join(tmpDir, 'temporal') : undefined;
  });
  if (binary) log(`built ${binary} in ${Math.round((Date.now() - started) / 1000)} s`);
  return binary;
}

async function downloadRelease(log: (line: string) => void): Promise<string | undefined> {
  const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
  const platform = process.platform === 'darwin' ? 'darwin' : 'linux';
  const url = `https://temporal.download/cli/archive/${TEMPORAL_CLI_VERSION}?platform=${platform}&arch=${arch}`;
  log(`downloading the Temporal CLI release from ${url}`);
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(120_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const bytes = Buffer.from(await response.arrayBuffer());
    return installAtomically(cachedTemporalCliPath(), (tmpDir) => {
      const archive = path.join(tmpDir, 'temporal.tar.gz');
      fs.writeFileSync(archive, bytes);
      execFileSync('tar', ['-xzf', archive, '-C', tmpDir, 'temporal']);
      return path.join(tmpDir, 'temporal');
    });
  } catch (error) {
    log(`download failed: ${(error as Error).message}`);
    return undefined;
  }
}

/** Finds the CLI, else builds it with Go, else downloads the official release; throws with what to do. */
export async function ensureTemporalCli(log: (line: string) => void = console.log): Promise<string> {
  const found = findTemporalCli() ?? buildWithGo(log) ?? (await downloadRelease(log));
  if (!found) {
    throw new Error(
      `No Temporal CLI found, built or downloaded. Install Go >= 1.25 and run "go install ${MODULE}", ` +
        'or set TEMPORAL_CLI_PATH to a temporal binary.',
    );
  }
  return found;
}
