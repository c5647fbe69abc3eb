import { instant } from '../../client/time-flag';

describe('mlp schedules backfill dates', () => {
  it('reads a date as the whole UTC day and refuses one that does not exist (not rolled over to March)', () => {
    expect(instant(false).parse('2026-03-02').toISOString()).toBe('2026-03-02T00:00:00.000Z');
    expect(instant(true).parse('2026-03-02').toISOString()).toBe('2026-03-02T23:59:59.999Z');
    for (const bad of ['2026-02-30', '2026-02-31T10:00:00Z', '2026-13-01', 'yesterday']) expect(instant(false).safeParse(bad).success).toBe(false);
  });

  it('reads a time only with its zone: one without (2018-03-12T10:00) is refused, not read in the machine\'s zone', () => {
    for (const bad of ['2018-03-12T10:00', '2018-03-12T10:00:00', '2018-03-12T10:00:00.000']) {
      const parsed = instant(false).safeParse(bad);
      expect([bad, parsed.success]).toEqual([bad, false]);
      if (!parsed.success) expect(parsed.error.issues[0].message).toMatch(/zone/);
    }
    expect(instant(false).parse('2018-03-12T10:00Z').toISOString()).toBe('2018-03-12T10:00:00.000Z');
    expect(instant(false).parse('2018-03-12T10:00:00-04:00').toISOString()).toBe('2018-03-12T14:00:00.000Z');
    expect(instant(false).parse('2018-03-12T10:00:00+0900').toISOString()).toBe('2018-03-12T01:00:00.000Z');
  });
});
