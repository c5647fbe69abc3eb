/**
 * Loaded into the API child by `npm run bench:api` (node --import): per load phase, the bench asks
 * over the IPC channel for what the API process did meanwhile: CPU time, event-loop utilisation,
 * event-loop delay (perf_hooks.monitorEventLoopDelay), GC pauses (PerformanceObserver 'gc') and,
 * with --profile, a CPU profile of just that phase (inspector Profiler, written as
 * <dir>/<phase>.cpuprofile; summarise it with bench/cpuprofile-top.ts). Does nothing without an
 * IPC channel, so the API never runs it outside the bench.
 */
import fs from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';
import { constants, monitorEventLoopDelay, performance, PerformanceObserver, type EventLoopUtilization } from 'node:perf_hooks';

export interface DiagnosticsStart {
  type: 'diag:start';
  phase: string;
  /** Directory for the phase's CPU profile; none: no profiling. */
  profileDir?: string;
}
export interface DiagnosticsStop {
  type: 'diag:stop';
  phase: string;
}

export interface PhaseDiagnostics {
  type: 'diag:report';
  phase: string;
  seconds: number;
  /** CPU time of the whole process (every thread), user + system, ms. */
  cpuMs: number;
  /** Share of the main thread's time spent running (not waiting in epoll), 0–1. */
  eventLoopUtilization: number;
  /** Event-loop delay (ms): how late a 1 ms-resolution timer fired. */
  loopDelay: { p50: number; p99: number; p999: number; max: number; samples: number };
  /** GC pauses on the main thread (ms), by kind (minor = scavenge, major = mark-sweep-compact, …). */
  gc: { count: number; totalMs: number; p99Ms: number; maxMs: number; byKind: Record<string, { count: number; totalMs: number; maxMs: number }> };
  profile?: string;
  rssMiB: number;
}

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

function post<T>(session: Session, method: string, params: object = {}): Promise<T> {
  return new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result as T))));
}

if (process.send) {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  let gcs: Array<{ kind: string; ms: number }> = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcs.push({ kind: GC_KINDS[((entry as { detail?: { kind?: number } }).detail)?.kind ?? -1] ?? 'other', ms: entry.duration });
  }).observe({ entryTypes: ['gc'] });

  let started: { at: number; cpu: NodeJS.CpuUsage; elu: EventLoopUtilization; profileDir?: string } | undefined;
  let session: Session | undefined;

  const onMessage = async (message: DiagnosticsStart | DiagnosticsStop) => {
    if (message.type === 'diag:start') {
      if (message.profileDir) {
        session ??= new Session();
        session.connect();
        await post(session, 'Profiler.enable');
        await post(session, 'Profiler.setSamplingInterval', { interval: 500 });
        await post(session, 'Profiler.start');
        // Allocations too (sampled every 32 KiB, collected ones included): what feeds the GC.
        await post(session, 'HeapProfiler.enable');
        await post(session, 'HeapProfiler.startSampling', { samplingInterval: 32768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      }
      delay.reset();
      delay.enable();
      gcs = [];
      started = { at: performance.now(), cpu: process.cpuUsage(), elu: performance.eventLoopUtilization(), profileDir: message.profileDir };
      process.send?.({ type: 'diag:started', phase: message.phase });
      return;
    }
    if (message.type !== 'diag:stop' || !started) return;
    const cpu = process.cpuUsage(started.cpu);
    const elu = performance.eventLoopUtilization(started.elu);
    const seconds = (performance.now() - started.at) / 1000;
    delay.disable();
    const ms = (ns: number) => ns / 1e6;
    const pauses = gcs.map((g) => g.ms).sort((a, b) => a - b);
    const byKind: PhaseDiagnostics['gc']['byKind'] = {};
    for (const g of gcs) {
      const k = (byKind[g.kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
      k.count++;
      k.totalMs += g.ms;
      k.maxMs = Math.max(k.maxMs, g.ms);
    }
    let profile: string | undefined;
    if (started.profileDir && session) {
      const result = await post<{ profile: object }>(session, 'Profiler.stop');
      await post(session, 'Profiler.disable');
      const heap = await post<{ profile: object }>(session, 'HeapProfiler.stopSampling');
      await post(session, 'HeapProfiler.disable');
      session.disconnect();
      fs.mkdirSync(started.profileDir, { recursive: true });
      profile = path.join(started.profileDir, `${message.phase}.cpuprofile`);
      fs.writeFileSync(profile, JSON.stringify(result.profile));
      fs.writeFileSync(path.join(started.profileDir, `${message.phase}.heapprofile`), JSON.stringify(heap.profile));
    }
    const report: PhaseDiagnostics = {
      type: 'diag:report',
      phase: message.phase,
      seconds,
      cpuMs: (cpu.user + cpu.system) / 1000,
      eventLoopUtilization: elu.utilization,
      loopDelay: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), p999: ms(delay.percentile(99.9)), max: ms(delay.max), samples: delay.count },
      gc: {
        count: pauses.length,
        totalMs: pauses.reduce((s, x) => s + x, 0),
        p99Ms: pauses.length > 0 ? pauses[Math.min(pauses.length - 1, Math.ceil(0.99 * pauses.length) - 1)] : 0,
        maxMs: pauses.length > 0 ? pauses[pauses.length - 1] : 0,
        byKind,
      },
      ...(profile ? { profile } : {}),
      rssMiB: process.memoryUsage.rss() / 2 ** 20,
    };
    started = undefined;
    process.send?.(report);
  };
  process.on('message', (message: DiagnosticsStart | DiagnosticsStop) => {
    onMessage(message).catch((error: unknown) => process.send?.({ type: 'diag:error', error: (error as Error).message }));
  });
  // The IPC channel must not keep the API alive once it has closed its server.
  process.channel?.unref();
}
