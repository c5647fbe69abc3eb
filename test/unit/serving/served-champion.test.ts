import { splitAliasDisagreement } from '../../../lib/serving/served-champion';

const route = (variant: string, version: number, weight: number) => ({ variant, version, weight });

describe('a split against the champion alias', () => {
  it('agrees when its champion (or reference) route is the alias and takes traffic', () => {
    expect(splitAliasDisagreement({ routes: [route('champion', 1, 1)] }, 1, 'it would')).toBeUndefined();
    expect(splitAliasDisagreement({ routes: [route('champion', 1, 0.95), route('canary', 2, 0.05)] }, 1, 'it would')).toBeUndefined();
    expect(splitAliasDisagreement({ routes: [route('a', 1, 0.5), route('b', 2, 0.5)], reference: 'a' }, 1, 'it would')).toBeUndefined();
  });

  it('disagrees when the champion route names the alias at weight 0 and another version takes every request', () => {
    expect(splitAliasDisagreement({ routes: [route('champion', 1, 0), route('canary', 2, 1)] }, 1, 'it would')).toBe(
      'it would give the champion route (champion, v1) no traffic while v2 serves every request, but the champion alias names v1',
    );
    expect(splitAliasDisagreement({ routes: [route('champion', 1, 0), route('other', 2, 1)] }, 1, 'it would')).toMatch(/no traffic while v2 serves every request/);
    expect(splitAliasDisagreement({ routes: [route('ref', 1, 0), route('x', 2, 0.5), route('y', 3, 0.5)], reference: 'ref' }, 1, 'it would')).toMatch(/no traffic while v2, v3 serve every request/);
    // The alias's version under another variant takes the traffic: the champion is served.
    expect(splitAliasDisagreement({ routes: [route('champion', 1, 0), route('b', 1, 1)] }, 1, 'it would')).toBeUndefined();
  });

  it("agrees at a running deployment's last canary step: its challenger on all traffic, the alias's champion at weight 0", () => {
    const lastStep = { routes: [route('canary', 2, 1), route('champion', 1, 0)] };
    expect(splitAliasDisagreement(lastStep, 1, 'it would', { champion: 1, challenger: 2 })).toBeUndefined();
    // Another deployment's challenger, or none running: a disagreement.
    expect(splitAliasDisagreement(lastStep, 1, 'it would', { champion: 1, challenger: 3 })).toMatch(/no traffic while v2 serves every request/);
    expect(splitAliasDisagreement(lastStep, 1, 'it would')).toMatch(/no traffic while v2 serves every request/);
  });

  it('disagrees when another version is the champion route', () => {
    expect(splitAliasDisagreement({ routes: [route('champion', 2, 1)] }, 1, 'it would')).toBe('it would serve v2 as the champion, but the champion alias names v1');
  });
});
