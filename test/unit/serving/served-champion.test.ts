import { splitAliasDisagreement } from '../../../lib/serving/served-champion';
import type { ServingMode } from '../../../lib/serving/serving-routes';

const route = (variant: string, version: number, weight: number) => ({ variant, version, weight });
type Route = ReturnType<typeof route>;
const split = (mode: ServingMode, routes: Route[], reference?: string) => ({ mode, routes, ...(reference !== undefined ? { reference } : {}) });

describe('a split against the champion alias', () => {
  it('agrees when its champion (or reference) route is the alias and takes traffic', () => {
    expect(splitAliasDisagreement(split('single', [route('champion', 1, 1)]), 1, 'it would')).toBeUndefined();
    expect(splitAliasDisagreement(split('canary', [route('champion', 1, 0.95), route('canary', 2, 0.05)]), 1, 'it would')).toBeUndefined();
    expect(splitAliasDisagreement(split('ab', [route('a', 1, 0.5), route('b', 2, 0.5)], 'a'), 1, 'it would')).toBeUndefined();
  });

  it('disagrees when the champion route names the alias at weight 0 and another version takes every request', () => {
    expect(splitAliasDisagreement(split('canary', [route('champion', 1, 0), route('canary', 2, 1)]), 1, 'it would')).toBe(
      'it would give the champion route (champion, v1) no traffic while v2 serves every request, but the champion alias names v1',
    );
    expect(splitAliasDisagreement(split('canary', [route('champion', 1, 0), route('other', 2, 1)]), 1, 'it would')).toMatch(/no traffic while v2 serves every request/);
    expect(splitAliasDisagreement(split('ab', [route('ref', 1, 0), route('x', 2, 0.5), route('y', 3, 0.5)], 'ref'), 1, 'it would')).toMatch(/no traffic while v2, v3 serve every request/);
    // The alias's version under another variant takes the traffic: the champion is served.
    expect(splitAliasDisagreement(split('canary', [route('champion', 1, 0), route('b', 1, 1)]), 1, 'it would')).toBeUndefined();
  });

  it("agrees at a running deployment's last canary step: its challenger on all traffic, the alias's champion at weight 0", () => {
    const lastStep = split('canary', [route('canary', 2, 1), route('champion', 1, 0)]);
    expect(splitAliasDisagreement(lastStep, 1, 'it would', { champion: 1, challenger: 2 })).toBeUndefined();
    // Another deployment's challenger, or none running: a disagreement.
    expect(splitAliasDisagreement(lastStep, 1, 'it would', { champion: 1, challenger: 3 })).toMatch(/no traffic while v2 serves every request/);
    expect(splitAliasDisagreement(lastStep, 1, 'it would')).toMatch(/no traffic while v2 serves every request/);
  });

  it('disagrees when another version is the champion route', () => {
    expect(splitAliasDisagreement(split('single', [route('champion', 2, 1)]), 1, 'it would')).toBe('it would serve v2 as the champion, but the champion alias names v1');
  });

  it('disagrees when a canary split routes no champion variant, however much traffic the alias version gets', () => {
    const tiny = split('canary', [route('main', 2, 0.999999), route('old', 1, 0.000001)]);
    expect(splitAliasDisagreement(tiny, 1, 'it would')).toBe('it would route no "champion" variant, which a canary split serves the champion under, but the champion alias names v1');
    expect(splitAliasDisagreement(split('canary', [route('main', 1, 0.9), route('new', 2, 0.1)]), 1, 'it would')).toMatch(/route no "champion" variant/);
    // Its reference is no champion variant either.
    expect(splitAliasDisagreement(split('canary', [route('main', 1, 0.9), route('new', 2, 0.1)], 'main'), 1, 'it would')).toMatch(/route no "champion" variant/);
  });

  it('disagrees when a canary split no running deployment wrote gives another version more than its champion route', () => {
    expect(splitAliasDisagreement(split('canary', [route('champion', 1, 0.000001), route('canary', 2, 0.999999)]), 1, 'it would')).toBe(
      'it would give v1, the version the champion alias names, 0.0001% of requests while v2 takes 99.9999%: a canary split that no running deployment wrote must give the champion at least as large a share as any other version (a challenger takes more only at the steps of a running deployment (mlp deploy), which judges and rolls back its own split)',
    );
    expect(splitAliasDisagreement(split('canary', [route('champion', 1, 0.4), route('canary', 2, 0.6)], 'champion'), 1, 'it would')).toMatch(/40% of requests while v2 takes 60%/);
    // Against the largest other version, not their sum; the alias's version under another variant counts.
    expect(splitAliasDisagreement(split('canary', [route('champion', 1, 0.2), route('a', 2, 0.25), route('b', 3, 0.55)]), 1, 'it would')).toMatch(/20% of requests while v3 takes 55%/);
    expect(splitAliasDisagreement(split('canary', [route('champion', 1, 0.3), route('old', 1, 0.3), route('canary', 2, 0.4)]), 1, 'it would')).toBeUndefined();
    // Even, or leaning to the champion: a canary in progress.
    expect(splitAliasDisagreement(split('canary', [route('champion', 1, 0.5), route('canary', 2, 0.5)]), 1, 'it would')).toBeUndefined();
    expect(splitAliasDisagreement(split('canary', [route('champion', 1, 0.4), route('a', 2, 0.3), route('b', 3, 0.3)]), 1, 'it would')).toBeUndefined();
  });

  it("agrees with a running deployment's own canary steps above half", () => {
    const step = split('canary', [route('canary', 2, 0.75), route('champion', 1, 0.25)], 'champion');
    expect(splitAliasDisagreement(step, 1, 'it would', { champion: 1, challenger: 2 })).toBeUndefined();
    expect(splitAliasDisagreement(step, 1, 'it would', { champion: 1, challenger: 3 })).toMatch(/25% of requests while v2 takes 75%: a canary split that no running deployment wrote/);
    expect(splitAliasDisagreement(step, 1, 'it would')).toMatch(/25% of requests while v2 takes 75%/);
  });

  it('disagrees when an A/B split gives the alias version less than another version', () => {
    expect(splitAliasDisagreement(split('ab', [route('main', 2, 0.999999), route('old', 1, 0.000001)]), 1, 'it would')).toBe(
      'it would give v1, the version the champion alias names, 0.0001% of requests while v2 takes 99.9999%: an A/B split must give the champion at least as large a share as any other version (a challenger takes more only at the steps of a running deployment (mlp deploy), which judges and rolls back its own split)',
    );
    expect(splitAliasDisagreement(split('ab', [route('A', 1, 0.4), route('B', 2, 0.6)]), 1, 'it would')).toMatch(/v1, the version the champion alias names, 40% of requests while v2 takes 60%/);
    // A reference (or champion) variant on the alias's version does not make a small share enough.
    expect(splitAliasDisagreement(split('ab', [route('A', 1, 0.01), route('B', 2, 0.99)], 'A'), 1, 'it would')).toMatch(/1% of requests while v2 takes 99%/);
    expect(splitAliasDisagreement(split('ab', [route('champion', 1, 0.01), route('B', 2, 0.99)]), 1, 'it would')).toMatch(/1% of requests while v2 takes 99%/);
    // The alias's version under two arms counts both.
    expect(splitAliasDisagreement(split('ab', [route('A', 1, 0.3), route('A2', 1, 0.3), route('B', 2, 0.4)]), 1, 'it would')).toBeUndefined();
    // Even arms, or the champion the largest of three, agree.
    expect(splitAliasDisagreement(split('ab', [route('A', 1, 0.5), route('B', 2, 0.5)]), 1, 'it would')).toBeUndefined();
    expect(splitAliasDisagreement(split('ab', [route('A', 1, 0.4), route('B', 2, 0.3), route('C', 3, 0.3)]), 1, 'it would')).toBeUndefined();
    expect(splitAliasDisagreement(split('ab', [route('A', 1, 0.2), route('B', 2, 0.4), route('C', 3, 0.4)]), 1, 'it would')).toMatch(/20% of requests while v2 takes 40%/);
  });

  it("agrees with a running deployment's own A/B split at the weights its plan sets", () => {
    const ab = split('ab', [route('B', 2, 0.9), route('A', 1, 0.1)]);
    expect(splitAliasDisagreement(ab, 1, 'it would', { champion: 1, challenger: 2 })).toBeUndefined();
    expect(splitAliasDisagreement(ab, 1, 'it would', { champion: 1, challenger: 3 })).toMatch(/10% of requests while v2 takes 90%/);
    expect(splitAliasDisagreement(ab, 1, 'it would')).toMatch(/10% of requests while v2 takes 90%/);
  });
});
