import { RegistryError, ServingVetoError, UnreadableVersionRowError } from '../../../lib/registry/model-registry';
import { ArtifactVerificationError } from '../../../lib/registry/verify-artifact';
import { routeFor } from '../../../lib/serving/routing';
import { servingRoutesSchema, type ServingRoutes } from '../../../lib/serving/serving-routes';
import { anchorRoute, describeDegradation, routesWithout, variantsOf, withdrawalReasonOf } from '../../../lib/serving/withdrawal';

const routes = (split: Partial<ServingRoutes>): ServingRoutes => ({
  model: 'direction-5d',
  generation: 7,
  mode: 'canary',
  salt: 'salt',
  routes: [
    { variant: 'canary', version: 2, weight: 0.05 },
    { variant: 'champion', version: 1, weight: 0.95 },
  ],
  updatedBy: 't',
  reason: 'r',
  updatedAt: '2026-01-01',
  ...split,
});
const keys = Array.from({ length: 2000 }, (_, i) => `key-${i}`);

describe('anchorRoute', () => {
  it('is the champion, else the reference, else the registry champion arm, else the only route with traffic', () => {
    expect(anchorRoute(routes({ reference: 'champion' }))).toMatchObject({ variant: 'champion', version: 1 });
    const ab = routes({ mode: 'ab', routes: [{ variant: 'B', version: 2, weight: 0.5 }, { variant: 'A', version: 1, weight: 0.5 }] });
    expect(anchorRoute(ab)).toBeUndefined(); // nothing in the routes says which arm is approved
    expect(anchorRoute(ab, 1)).toMatchObject({ variant: 'A', version: 1 });
    expect(anchorRoute({ ...ab, reference: 'B' }, 1)).toMatchObject({ variant: 'B' });
    expect(anchorRoute(routes({ mode: 'single', routes: [{ variant: 'main', version: 4, weight: 1 }] }))).toMatchObject({ variant: 'main', version: 4 });
  });
});

describe('routesWithout', () => {
  it("gives a withdrawn canary's weight to the champion: every key the canary answered goes to the champion, no other key moves", () => {
    const written = routes({ reference: 'champion', shadow: { version: 3 } });
    const served = routesWithout(written, anchorRoute(written)!, new Set([2]));
    expect(served).toEqual({ ...written, mode: 'single', routes: [{ variant: 'champion', version: 1, weight: 1 }] });
    expect(servingRoutesSchema.safeParse(served).success).toBe(true);
    for (const key of keys) expect(routeFor(served, key)).toEqual({ variant: 'champion', version: 1, weight: 1 });
    expect(keys.some((key) => routeFor(written, key).variant === 'canary')).toBe(true);
  });

  it('drops a withdrawn shadow, and a withdrawn reference variant with its reference role', () => {
    const written = routes({ reference: 'champion', shadow: { version: 3 } });
    const noShadow = routesWithout(written, anchorRoute(written)!, new Set([3]));
    expect(noShadow.shadow).toBeUndefined();
    expect(noShadow.routes).toEqual(written.routes);
    expect(noShadow.mode).toBe('canary');

    const ab = routes({ mode: 'ab', reference: 'B', routes: [{ variant: 'B', version: 2, weight: 0.3 }, { variant: 'C', version: 5, weight: 0.2 }, { variant: 'A', version: 1, weight: 0.5 }] });
    const withoutC = routesWithout(ab, anchorRoute(ab)!, new Set([5]));
    expect(withoutC.routes).toEqual([{ variant: 'B', version: 2, weight: 0.5 }, { variant: 'A', version: 1, weight: 0.5 }]);
    expect(withoutC.reference).toBe('B');
    const withoutA = routesWithout(ab, anchorRoute(ab)!, new Set([1]));
    expect(withoutA.routes).toEqual([{ variant: 'B', version: 2, weight: 0.8 }, { variant: 'C', version: 5, weight: 0.2 }]);
  });

  it('never withdraws the anchor itself (that withdraws the whole model)', () => {
    const written = routes({});
    expect(() => routesWithout(written, anchorRoute(written)!, new Set([1]))).toThrow(/anchor v1 \(champion\) cannot be withdrawn/);
  });
});

describe('withdrawal reasons and descriptions', () => {
  it('labels the causes verification gives', () => {
    expect(withdrawalReasonOf(new ArtifactVerificationError('m', 2, "the registry row's signature does not match it: edited"))).toBe('signature');
    expect(withdrawalReasonOf(new ArtifactVerificationError('m', 2, 'the registry row has no signature: …'))).toBe('signature');
    expect(withdrawalReasonOf(new ArtifactVerificationError('m', 2, 'label differs: the artifact has {"horizon":5}, the registry says {"horizon":1}'))).toBe('row_mismatch');
    expect(withdrawalReasonOf(new ArtifactVerificationError('m', 2, 'artifact x does not match its sha256'))).toBe('artifact_invalid');
    expect(withdrawalReasonOf(new ServingVetoError('m', 2, 'a tripped guard'))).toBe('vetoed');
    expect(withdrawalReasonOf(new RegistryError('model m has no version 2'))).toBe('row_missing');
    expect(withdrawalReasonOf(new UnreadableVersionRowError('m', 2, 'lineage', 'is not JSON'))).toBe('row_mismatch'); // there, but edited
  });

  it('names the withdrawn version, its share, the reason and what answers instead', () => {
    const written = routes({ shadow: { version: 3 } });
    expect(variantsOf(written, 3)).toEqual(['shadow']);
    const text = describeDegradation('direction-5d', 7, {
      written,
      anchor: written.routes[1],
      withdrawn: [{ version: 2, variants: ['canary'], weight: 0.05, reason: 'row_mismatch', message: 'direction-5d v2 artifact failed verification: label differs', at: '2026-01-01' }],
    });
    expect(text).toBe('direction-5d: generation 7 is served without v2, whose traffic v1 (champion) answers: v2 (canary, 5% of requests) withdrawn [row_mismatch]: direction-5d v2 artifact failed verification: label differs');
  });
});
