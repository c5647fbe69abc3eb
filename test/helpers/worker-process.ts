import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

const REPO = path.resolve(__dirname, '..', '..');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/**
 * The real worker process (workers/main.ts), configured only through its environment. `options.prefix`
 * runs it through another command that execs it (e.g. `ip netns exec <ns>`: another host), so the
 * child's pid stays the worker's; `entry` starts another program (api/main.ts) the same way.
 */
export async function startWorkerProcess(env: NodeJS.ProcessEnv, options: { prefix?: string[]; entry?: string; ready?: string; output?: (chunk: string) => void; startTimeoutMs?: number } = {}): Promise<ChildProcess> {
  // node itself (not the tsx wrapper, which would leave its child running when killed)
  const args = ['--import', 'tsx', path.join(REPO, options.entry ?? path.join('workers', 'main.ts'))];
  const [command, ...rest] = options.prefix ? [...options.prefix, process.execPath, ...args] : [process.execPath, ...args];
  const child = spawn(command, rest, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO });
  const ready = options.ready ?? 'worker ready';
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const limit = options.startTimeoutMs ?? 60_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // never left running behind a failed start
      reject(new Error(`${path.basename(args[2])} did not start within ${limit / 1000} s:\n${output}`));
    }, limit);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      options.output?.(chunk.toString());
      if (output.includes(ready)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => reject(new Error(`worker exited with ${code}:\n${output}`)));
  });
  return child;
}

/** SIGKILL: no graceful shutdown, as a crashed machine. */
export async function killWorker(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}
