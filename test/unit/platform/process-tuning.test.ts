import { hugePagesAsked, withHugePages } from '../../../platform/process-tuning';

describe('the compute processes’ environment', () => {
  it('asks glibc for huge pages, keeping the other tunables and the rest of the environment', () => {
    expect(withHugePages({ PATH: '/bin' })).toEqual({ PATH: '/bin', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' });
    expect(withHugePages({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }).GLIBC_TUNABLES).toBe('glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1');
    expect(hugePagesAsked(withHugePages({}))).toBe(true);
  });

  it('leaves an operator’s own huge-page setting as it is, off included', () => {
    const off = { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' };
    expect(withHugePages(off)).toBe(off);
    expect(hugePagesAsked(off)).toBe(false);
    expect(hugePagesAsked({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=2' })).toBe(true);
    expect(hugePagesAsked({})).toBe(false);
  });
});
