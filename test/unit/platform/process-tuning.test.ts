import { hugePagesAsked, withHugePages } from '../../../platform/process-tuning';

describe('the compute processes’ environment', () => {
  it('sets glibc’s huge-page tunable on or off, keeping the other tunables and the rest of the environment', () => {
    expect(withHugePages({ PATH: '/bin' }, true)).toEqual({ PATH: '/bin', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' });
    expect(withHugePages({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, true).GLIBC_TUNABLES).toBe('glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1');
    expect(withHugePages({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1:glibc.malloc.arena_max=2' }, false).GLIBC_TUNABLES).toBe('glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0');
    expect(hugePagesAsked(withHugePages({}, true))).toBe(true);
    expect(hugePagesAsked(withHugePages({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=2' }, false))).toBe(false);
  });

  it('tells whether a process was started with huge pages asked for', () => {
    expect(hugePagesAsked({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' })).toBe(false);
    expect(hugePagesAsked({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=2' })).toBe(true);
    expect(hugePagesAsked({})).toBe(false);
  });
});
