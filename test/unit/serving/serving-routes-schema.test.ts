import { servingRoutesSchema, servingSplitInputSchema, singleRoute } from '../../../lib/serving/serving-routes';

const ok = {
  mode: 'canary' as const,
  routes: [
    { variant: 'champion', version: 1, weight: 0.9 },
    { variant: 'canary', version: 2, weight: 0.1 },
  ],
  reference: 'champion',
  salt: 'abc',
};

function messages(input: unknown): string {
  const r = servingSplitInputSchema.safeParse(input);
  expect(r.success).toBe(false);
  return r.error!.issues.map((i) => i.message).join(' | ');
}

describe('serving routes schema', () => {
  it('accepts a valid canary split, a single route and an optional salt and shadow', () => {
    expect(servingSplitInputSchema.parse(ok)).toEqual(ok);
    expect(servingSplitInputSchema.parse({ mode: 'single', routes: singleRoute(3) })).toEqual({ mode: 'single', routes: [{ variant: 'champion', version: 3, weight: 1 }] });
    expect(servingSplitInputSchema.safeParse({ ...ok, shadow: { version: 4 } }).success).toBe(true);
    // 0.1 + 0.2 + 0.7 is not exactly 1 in floating point; within 1e-9 it is.
    expect(servingSplitInputSchema.safeParse({ mode: 'ab', routes: [{ variant: 'A', version: 1, weight: 0.1 }, { variant: 'B', version: 2, weight: 0.2 }, { variant: 'C', version: 3, weight: 0.7 }] }).success).toBe(true);
  });

  it('refuses duplicate, reserved and malformed variants', () => {
    expect(messages({ ...ok, routes: [{ variant: 'champion', version: 1, weight: 0.5 }, { variant: 'champion', version: 2, weight: 0.5 }] })).toMatch(/appears twice/);
    expect(messages({ ...ok, reference: undefined, routes: [{ variant: 'shadow', version: 1, weight: 1 }] })).toMatch(/reserved for the shadow/);
    expect(messages({ ...ok, routes: [{ variant: '1st', version: 1, weight: 1 }] })).toMatch(/starts with a letter/);
    expect(messages({ ...ok, routes: [{ variant: 'x'.repeat(33), version: 1, weight: 1 }] })).toMatch(/starts with a letter/);
  });

  it('refuses weights outside [0, 1], not summing to 1, or all zero', () => {
    expect(messages({ ...ok, routes: [{ variant: 'champion', version: 1, weight: 1.5 }, { variant: 'canary', version: 2, weight: -0.5 }] })).toMatch(/<=1 \| .*>=0/);
    expect(messages({ ...ok, routes: [{ variant: 'champion', version: 1, weight: 0.9 }, { variant: 'canary', version: 2, weight: 0.2 }] })).toMatch(/sum to 1\.1.*must sum to 1/);
    expect(messages({ ...ok, routes: [{ variant: 'champion', version: 1, weight: 1 - 1e-6 }, { variant: 'canary', version: 2, weight: 0 }] })).toMatch(/must sum to 1/);
    expect(messages({ ...ok, routes: [] })).toMatch(/at least one route/);
  });

  it('refuses a reference that is not a route, a bad mode and a single mode serving two routes', () => {
    expect(messages({ ...ok, reference: 'B' })).toMatch(/reference "B" is not one of the routes/);
    expect(messages({ ...ok, mode: 'blue-green' })).toMatch(/expected one of "single"\|"canary"\|"ab"/);
    expect(messages({ ...ok, mode: 'single' })).toMatch(/mode "single" serves one route/);
  });

  it('refuses non-integer or non-positive versions', () => {
    expect(servingSplitInputSchema.safeParse({ ...ok, routes: [{ variant: 'champion', version: 1.5, weight: 1 }], reference: undefined }).success).toBe(false);
    expect(servingSplitInputSchema.safeParse({ ...ok, shadow: { version: 0 } }).success).toBe(false);
  });

  it('needs model, generation, salt and the audit fields on read-back routes', () => {
    const full = { ...ok, model: 'direction-5d', generation: 3, updatedBy: 'alice', reason: 'ramp', updatedAt: '2026-01-01T00:00:00.000Z' };
    expect(servingRoutesSchema.parse(full)).toEqual(full);
    expect(servingRoutesSchema.safeParse({ ...full, salt: undefined }).success).toBe(false);
    expect(servingRoutesSchema.safeParse({ ...full, generation: 0 }).success).toBe(false);
    expect(servingRoutesSchema.safeParse({ ...full, model: 'Bad Name' }).success).toBe(false);
  });
});
