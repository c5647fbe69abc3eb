/**
 * glibc's huge-page tunable for processes that compute over large arrays (the worker: features,
 * training). Opt-in: nothing the product starts sets it; an operator sets
 * GLIBC_TUNABLES=glibc.malloc.hugetlb=1, and the worker's ready line says whether it was asked.
 *
 * glibc then backs the memory it maps for large allocations (typed arrays' stores, numpy's arrays)
 * with transparent huge pages: fewer page faults, but each one zeroes 2 MiB. Which wins depends on
 * the machine (docs/benchmarks.md#huge-pages): on one 2-core VM (3 December 2026) a 4 KiB fault
 * cost ~11 µs and the default feature set computed ~25% faster with it; on another (4 December) a
 * fault cost ~2 µs, freed 2 MiB blocks went back to the host, and the same computation was 8-60%
 * slower with it on 2 threads (one thread: within the noise), pandas 40-70% slower. A full retrain
 * showed no difference on either, so the default is glibc's own. Where transparent huge pages are
 * off ("never") or glibc is older than 2.35 the tunable does nothing.
 */
const TUNABLE = 'glibc.malloc.hugetlb';

/** `env` with glibc's huge-page tunable set on or off (any value it had replaced, the other tunables kept): the benchmarks run each side both ways. */
export function withHugePages(env: NodeJS.ProcessEnv, on: boolean): NodeJS.ProcessEnv {
  const others = (env.GLIBC_TUNABLES ?? '').split(':').filter((t) => t !== '' && !t.startsWith(`${TUNABLE}=`));
  return { ...env, GLIBC_TUNABLES: [...others, `${TUNABLE}=${on ? 1 : 0}`].join(':') };
}

/** Whether this process was started with huge pages asked for (what the worker reports at start). */
export function hugePagesAsked(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.GLIBC_TUNABLES?.split(':').some((t) => t === `${TUNABLE}=1` || t === `${TUNABLE}=2`) ?? false;
}
