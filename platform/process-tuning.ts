/**
 * The environment of processes that compute over large arrays: the worker (features, training)
 * and the benchmarks' measured children, ours and the references alike.
 *
 * glibc is asked to back the memory it maps for large allocations (typed arrays' stores, numpy's
 * arrays) with transparent huge pages, so first touching fresh memory faults once per 2 MiB
 * instead of once per 4 KiB: a fault cost ~11 µs per 4 KiB page on the 2-core VMs measured, and
 * computing the default feature set over the universe faulted 61,000 times (measured effect, and
 * pandas' equal gain, which is why the benchmarks give the references the same environment:
 * docs/results.md, the feature-set row). Where transparent huge pages are off ("never") or glibc
 * is older than 2.35 the tunable does nothing. An operator's own glibc.malloc.hugetlb setting
 * stands. The same value is set, outside TypeScript, by the npm script "worker" (only when
 * GLIBC_TUNABLES is unset) and by docker-compose.yml's worker.
 */
const TUNABLE = 'glibc.malloc.hugetlb';

/** `env` with glibc's huge-page tunable added to GLIBC_TUNABLES (kept as it is when it names the tunable already). */
export function withHugePages(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const current = env.GLIBC_TUNABLES;
  if (current?.split(':').some((t) => t.startsWith(`${TUNABLE}=`))) return env;
  return { ...env, GLIBC_TUNABLES: current ? `${current}:${TUNABLE}=1` : `${TUNABLE}=1` };
}

/** Whether this process was started with huge pages asked for (what the worker reports at start). */
export function hugePagesAsked(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.GLIBC_TUNABLES?.split(':').some((t) => t === `${TUNABLE}=1` || t === `${TUNABLE}=2`) ?? false;
}
