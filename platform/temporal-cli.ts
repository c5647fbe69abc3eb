import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The CLI tag that `go install` accepts (later tags carry replace directives); it needs Go >= 1.25. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const MODULE = `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`;
const REPO_ROOT = path.resolve(__dirname, '..');
/** Where the project builds or downloads its own copy (git-ignored). */
export const LOCAL_TOOLS_BIN = path.join(REPO_ROOT, '.tools', 'bin');

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
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

/** Finds an existing `temporal` binary: TEMPORAL_CLI_PATH, then PATH, then the project's and Go's bin folders. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`TEMPORAL_CLI_PATH=${explicit} is not an executable file; unset it or point it at the temporal binary`);
    return explicit;
  }
  const candidates = [onPath('temporal'), path.join(LOCAL_TOOLS_BIN, 'temporal'), path.join(os.homedir(), 'go', 'bin', 'temporal')];
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
  fs.mkdirSync(LOCAL_TOOLS_BIN, { recursive: true });
  log(`building the Temporal CLI: go install ${MODULE} (a few minutes on a fresh machine)`);
  const started = Date.now();
  const result = spawnSync(go, ['install', MODULE], { env: { ...process.env, GOBIN: LOCAL_TOOLS_BIN }, stdio: ['ignore', 'inherit', 'inherit'] });
  const binary = path.join(LOCAL_TOOLS_BIN, 'temporal');
  if (result.status !== 0 || !isExecutable(binary)) {
    log(`go install failed (exit ${result.status ?? result.signal})`);
    return undefined;
  }
  log(`built ${binary} in ${Math.round((Date.now() - started) / 1000)} s`);
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
    fs.mkdirSync(LOCAL_TOOLS_BIN, { recursive: true });
    const archive = path.join(LOCAL_TOOLS_BIN, 'temporal.tar.gz');
    fs.writeFileSync(archive, Buffer.from(await response.arrayBuffer()));
    execFileSync('tar', ['-xzf', archive, '-C', LOCAL_TOOLS_BIN, 'temporal']);
    fs.rmSync(archive);
    return path.join(LOCAL_TOOLS_BIN, 'temporal');
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
