/**
 * The signatures of serving records (lib/registry/serving-record-signature.ts): a routes row or an
 * alias row verifies as written under the key that signed it (or a previous key during a rotation),
 * and any change of what decides serving (a version, a weight, the generation, the alias's move
 * number) makes it fail; no record's MAC is valid as another kind's.
 */
import { signingKeyId } from '../../lib/registry/row-signature';
import { aliasMoveProblem, aliasRecordProblem, routesRecordProblem, signAliasMoveRecord, signAliasRecord, signRoutesRecord, signedAliasText, signedRoutesText, type SignedRoutesFields } from '../../lib/registry/serving-record-signature';

const KEY = 'serving-record-unit-key-0123456789abcdef';
const NEW_KEY = 'serving-record-unit-new-key-0123456789ab';
const routes: SignedRoutesFields = {
  model: 'direction-5d',
  generation: 3,
  mode: 'canary',
  routes: [
    { variant: 'champion', version: 2, weight: 0.9 },
    { variant: 'canary', version: 3, weight: 0.1 },
  ],
  salt: 'a1b2c3',
  updatedBy: 'deployment d-3',
  reason: 'canary step 1',
  updatedAt: '2026-12-07T10:00:00.000Z',
};

describe('serving record signatures', () => {
  it('a routes row verifies as signed, and fails once any routed version, weight or the generation changes', () => {
    const signature = signRoutesRecord(KEY, routes);
    expect(signature.keyId).toBe(signingKeyId(KEY));
    expect(routesRecordProblem(KEY, routes, signature)).toBeUndefined();
    // Key order of the stored JSON does not matter (canonical encoding).
    expect(routesRecordProblem(KEY, { ...routes, routes: routes.routes.map((r) => ({ weight: r.weight, version: r.version, variant: r.variant })) }, signature)).toBeUndefined();
    for (const edited of [
      { ...routes, routes: [{ ...routes.routes[0], version: 1 }, routes.routes[1]] },
      { ...routes, routes: [{ ...routes.routes[0], weight: 0.1 }, { ...routes.routes[1], weight: 0.9 }] },
      { ...routes, generation: 4 },
      { ...routes, updatedBy: 'deployment d-2' },
      { ...routes, shadow: { version: 1 } },
    ]) {
      expect(routesRecordProblem(KEY, edited, signature)).toMatch(/^the signature of the serving routes row of direction-5d \(generation \d\) does not match it: it was edited after it was written/);
    }
    expect(routesRecordProblem(KEY, routes, undefined)).toMatch(/carries no signature/);
  });

  it('accepts what a previous key signed during a rotation, and names another key', () => {
    const old = signRoutesRecord(KEY, routes);
    expect(routesRecordProblem({ signingKey: NEW_KEY, previousKeys: [KEY] }, routes, old)).toBeUndefined();
    expect(routesRecordProblem(NEW_KEY, routes, old)).toMatch(new RegExp(`is signed with another key \\(key id ${signingKeyId(KEY)}\\)`));
  });

  it('binds an alias row to its version and move, and no MAC is valid as another kind of record', () => {
    const alias = { name: 'direction-5d', alias: 'champion', version: 2, seq: 7 };
    const signature = signAliasRecord(KEY, alias);
    expect(aliasRecordProblem(KEY, alias, signature)).toBeUndefined();
    expect(aliasRecordProblem(KEY, { ...alias, version: 1 }, signature)).toMatch(/the champion alias of direction-5d \(v1, move 7\) does not match it/);
    expect(aliasRecordProblem(KEY, { ...alias, seq: 6 }, signature)).toMatch(/does not match it/);
    const move = { name: 'direction-5d', seq: 7, alias: 'champion', fromVersion: 1, toVersion: 2, movedBy: 'deployment d-2', reason: 'promote', movedAt: '2026-12-07T10:00:00.000Z' };
    expect(aliasMoveProblem(KEY, move, signAliasMoveRecord(KEY, move))).toBeUndefined();
    expect(aliasMoveProblem(KEY, { ...move, fromVersion: 3 }, signAliasMoveRecord(KEY, move))).toMatch(/move 7 of the aliases of direction-5d \(champion → v2\)/);
    expect(signedRoutesText(routes).split('\n')[0]).not.toBe(signedAliasText(alias).split('\n')[0]);
  });
});
