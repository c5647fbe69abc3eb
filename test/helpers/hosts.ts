/**
 * Test hosts: network namespaces joined by a bridge in the root namespace (host A), each with its
 * own address and loopback, so processes in them reach one another only over the addresses this
 * helper makes. Where namespaces cannot be made (not root, no `ip`), `makeHosts` returns loopback
 * hosts: every process on 127.0.0.1 and `isolated: false`, so the caller can say so.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { answers } from '../../platform/object-store';
import { ensureTemporalCli } from '../../platform/temporal-cli';
import { TEST_SERVER_ARGS } from './temporal-server-args';

export interface Host {
  name: string;
  /** The address other hosts reach this one at. */
  address: string;
  /** Runs a program on this host (prefix for spawn), empty for host A. */
  prefix: string[];
}

export interface Hosts {
  /** True: separate network namespaces; false: every host is this machine's loopback. */
  isolated: boolean;
  /** Why namespaces were not used (when not isolated). */
  reason?: string;
  a: Host;
  others: Host[];
  cleanup(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Why network namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  const probe = `mlp-probe-${crypto.randomBytes(3).toString('hex')}`;
  const made = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (made.error || made.status !== 0) return `"ip netns add" failed: ${made.error?.message ?? made.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}

/** Host A (this namespace) plus `count` hosts in namespaces on a private /24, or loopback hosts. */
export function makeHosts(count: number): Hosts {
  const why = netnsUnavailable();
  if (why) {
    const loop = (name: string): Host => ({ name, address: '127.0.0.1', prefix: [] });
    return { isolated: false, reason: why, a: loop('A'), others: Array.from({ length: count }, (_, i) => loop(String.fromCharCode(66 + i))), cleanup: () => undefined };
  }
  const tag = crypto.randomBytes(3).toString('hex');
  const subnet = `10.${200 + crypto.randomInt(50)}.${crypto.randomInt(250)}`;
  const bridge = `mlpbr${tag}`;
  const made: { namespaces: string[]; links: string[] } = { namespaces: [], links: [] };
  const cleanup = (): void => {
    for (const ns of made.namespaces) spawnSync('ip', ['netns', 'del', ns]);
    for (const link of made.links) spawnSync('ip', ['link', 'del', link]);
  };
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    made.links.push(bridge);
    ip('addr', 'add', `${subnet}.1/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    const others = Array.from({ length: count }, (_, i): Host => {
      const name = String.fromCharCode(66 + i); // B, C, …
      const ns = `mlp${name}${tag}`;
      const outside = `mlpv${name}${tag}`;
      ip('netns', 'add', ns);
      made.namespaces.push(ns);
      ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      made.links.push(outside);
      ip('link', 'set', outside, 'master', bridge);
      ip('link', 'set', outside, 'up');
      ip('-n', ns, 'addr', 'add', `${subnet}.${i + 2}/24`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      return { name, address: `${subnet}.${i + 2}`, prefix: ['ip', 'netns', 'exec', ns] };
    });
    return { isolated: true, a: { name: 'A', address: `${subnet}.1`, prefix: [] }, others, cleanup };
  } catch (error) {
    cleanup();
    throw error;
  }
}

export interface Service {
  name: string;
  address: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

async function waitFor(name: string, child: ChildProcess, address: string, log: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-2000) : ''}`);
    if (await answers(address)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${name} did not answer at ${address} within ${timeoutMs / 1000} s; see ${log}`);
}

function service(name: string, command: string, args: string[], address: string, dir: string, env: NodeJS.ProcessEnv = process.env): Service {
  const log = path.join(dir, `${name}.log`);
  const out = fs.openSync(log, 'a');
  const child = spawn(command, args, { stdio: ['ignore', out, out], env });
  fs.closeSync(out);
  return {
    name,
    address,
    process: child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A MariaDB server of its own (temporary datadir) listening on host:port; anyone may connect as root. */
export async function startMariaDb(host: string, port: number, dir: string): Promise<Service> {
  const datadir = path.join(dir, 'mariadb');
  fs.mkdirSync(datadir, { recursive: true });
  execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${datadir}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'], { stdio: 'ignore' });
  const s = service('mariadb', 'mariadbd', ['--no-defaults', `--datadir=${datadir}`, '--user=root', `--bind-address=${host}`, `--port=${port}`, `--socket=${path.join(dir, 'mariadb.sock')}`, `--pid-file=${path.join(dir, 'mariadb.pid')}`, '--skip-grant-tables', '--max-connections=500', '--innodb-buffer-pool-size=64M'], `${host}:${port}`, dir);
  await waitFor('mariadb', s.process, s.address, path.join(dir, 'mariadb.log'));
  return s;
}

export async function startRedis(host: string, port: number, dir: string): Promise<Service> {
  const s = service('redis', 'redis-server', ['--bind', host, '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no'], `${host}:${port}`, dir);
  await waitFor('redis', s.process, s.address, path.join(dir, 'redis.log'));
  return s;
}

/**
 * The Temporal dev server (headless, its own SQLite file) on port `port` of every address of host A
 * (the dev server's own services dial its frontend on 127.0.0.1, so it cannot bind `host` alone).
 */
export async function startTemporalDevServer(host: string, port: number, dir: string): Promise<Service> {
  const cli = await ensureTemporalCli(() => undefined);
  const s = service('temporal', cli, ['server', 'start-dev', '--headless', '--ip', '0.0.0.0', '--port', String(port), '--db-filename', path.join(dir, 'temporal.db'), ...TEST_SERVER_ARGS], `${host}:${port}`, dir);
  await waitFor('temporal', s.process, s.address, path.join(dir, 'temporal.log'));
  return s;
}

export function stateDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
