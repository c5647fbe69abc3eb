/**
 * Top self-time entries of a V8 CPU profile (.cpuprofile, from node --cpu-prof or the bench's
 * --profile): self time summed per function (name + file:line) and per place (a package under
 * node_modules, node's internals, a project file, GC, idle), as Markdown tables. A sampling heap
 * profile (.heapprofile, the bench's --profile writes one per phase) gets the same tables of bytes
 * allocated.
 *   tsx bench/cpuprofile-top.ts <file.cpuprofile|file.heapprofile> [more…] [--top 25] [--busy] [--requests n]
 * --busy leaves (idle) out of the percentages: shares of the time the thread was doing something.
 * --requests adds a column per request (µs or bytes) for a profile of n requests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}
interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}
interface HeapProfile {
  head: HeapNode;
}

const REPO = path.resolve(__dirname, '..');

/** Where a frame's code lives: "node_modules/<package>", "node:internal", the project file, or V8's own entries. */
export function placeOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node:internal';
  const file = url.replace(/^file:\/\//, '');
  const nm = file.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = file.slice(nm + 'node_modules/'.length).split('/');
    return `node_modules/${parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  return path.relative(REPO, file);
}

function frameLabel(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  if (frame.url === '') return name;
  const file = placeOf(frame).startsWith('node_modules/') || frame.url.startsWith('node:') ? frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\//, '') : placeOf(frame);
  return `${name} ${file}:${frame.lineNumber + 1}`;
}

export interface SelfTime {
  label: string;
  place: string;
  ms: number;
}

/** Self time (ms) per function and the profile's length (ms). */
export function selfTimes(profile: CpuProfile): { functions: SelfTime[]; totalMs: number; idleMs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const perNode = new Map<number, number>();
  // timeDeltas[i] is the time from sample i-1 to sample i; sample i's node ran for the next delta.
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    perNode.set(profile.samples[i], (perNode.get(profile.samples[i]) ?? 0) + dt);
  }
  const byLabel = new Map<string, SelfTime>();
  let totalMs = 0;
  let idleMs = 0;
  for (const [id, ms] of perNode) {
    const frame = byId.get(id)!.callFrame;
    const label = frameLabel(frame);
    const entry = byLabel.get(label) ?? { label, place: placeOf(frame), ms: 0 };
    entry.ms += ms;
    byLabel.set(label, entry);
    totalMs += ms;
    if (frame.functionName === '(idle)') idleMs += ms;
  }
  return { functions: [...byLabel.values()].sort((a, b) => b.ms - a.ms), totalMs, idleMs };
}

/** Bytes allocated per function (self size summed over the sampled tree); `ms` holds bytes here. */
export function selfBytes(profile: HeapProfile): { functions: SelfTime[]; total: number } {
  const byLabel = new Map<string, SelfTime>();
  let total = 0;
  const stack = [profile.head];
  while (stack.length > 0) {
    const node = stack.pop()!;
    stack.push(...node.children);
    if (node.selfSize === 0) continue;
    const label = frameLabel(node.callFrame);
    const entry = byLabel.get(label) ?? { label, place: placeOf(node.callFrame), ms: 0 };
    entry.ms += node.selfSize;
    byLabel.set(label, entry);
    total += node.selfSize;
  }
  return { functions: [...byLabel.values()].sort((a, b) => b.ms - a.ms), total };
}

function main(): void {
  const cli = new Command()
    .argument('<files...>')
    .option('--top <n>', 'rows per table', '25')
    .option('--busy', 'percentages of non-idle time')
    .option('--requests <n>', 'requests the profile covers: adds a per-request column')
    .parse();
  const { top, busy, requests } = cli.opts<{ top: string; busy?: boolean; requests?: string }>();
  const n = requests === undefined ? undefined : Number(requests);
  for (const file of cli.args) {
    const heap = file.endsWith('.heapprofile');
    let functions: SelfTime[];
    let base: number;
    let unit: string;
    let perRequest: (v: number) => string;
    if (heap) {
      const bytes = selfBytes(JSON.parse(fs.readFileSync(file, 'utf8')) as HeapProfile);
      functions = bytes.functions;
      base = bytes.total;
      unit = 'KiB';
      perRequest = (v) => (n ? ` ${(v / n).toFixed(0)} B |` : '');
      console.log(`\n## ${path.basename(file)}: ${(bytes.total / 2 ** 20).toFixed(1)} MiB allocated (sampled)${n ? `, ${(bytes.total / n / 1024).toFixed(1)} KiB per request` : ''}\n`);
    } else {
      const times = selfTimes(JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile);
      functions = busy ? times.functions.filter((f) => f.label !== '(idle)') : times.functions;
      base = busy ? times.totalMs - times.idleMs : times.totalMs;
      unit = 'ms';
      perRequest = (v) => (n ? ` ${((v * 1000) / n).toFixed(1)} µs |` : '');
      const busyShare = `${((100 * (times.totalMs - times.idleMs)) / times.totalMs).toFixed(1)}%`;
      console.log(`\n## ${path.basename(file)}: ${(times.totalMs / 1000).toFixed(2)} s sampled, ${busyShare} busy${busy ? ' (shares below: of busy time)' : ''}${n ? `, ${(((times.totalMs - times.idleMs) * 1000) / n).toFixed(0)} µs busy per request` : ''}\n`);
    }
    const value = (v: number) => (heap ? (v / 1024).toFixed(0) : v.toFixed(0));
    const pct = (v: number) => `${((100 * v) / base).toFixed(1)}%`;
    const perHeader = n ? ' per request |' : '';
    const perAlign = n ? '---:|' : '';
    console.log(`| self ${unit} | share |${perHeader} function | place |\n|---:|---:|${perAlign}---|---|`);
    for (const f of functions.slice(0, Number(top))) console.log(`| ${value(f.ms)} | ${pct(f.ms)} |${perRequest(f.ms)} \`${f.label}\` | ${f.place} |`);
    const places = new Map<string, number>();
    for (const f of functions) places.set(f.place, (places.get(f.place) ?? 0) + f.ms);
    console.log(`\n| self ${unit} | share |${perHeader} place |\n|---:|---:|${perAlign}---|`);
    for (const [place, v] of [...places].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) console.log(`| ${value(v)} | ${pct(v)} |${perRequest(v)} ${place} |`);
  }
}

if (require.main === module) main();
