/**
 * Registration and verification read a row's parameters with each algorithm's own schema
 * (lib/registry/recorded-fields.ts): every algorithm this build trains must be listed there, else
 * its rows' parameters would be compared unread.
 */
import { PARAMETER_SCHEMAS, WARM_START_SETS } from '../../lib/registry/recorded-fields';
import { ALGORITHMS } from '../../models/algorithms';

describe('parameter schemas of the registry check', () => {
  it('lists every algorithm, and warm-start keys only for algorithms that can warm-start', () => {
    expect([...PARAMETER_SCHEMAS.keys()].sort()).toEqual([...ALGORITHMS.keys()].sort());
    for (const [name, keys] of WARM_START_SETS) {
      expect(ALGORITHMS.get(name)?.continueFit).toBeDefined();
      for (const key of keys) expect(PARAMETER_SCHEMAS.get(name)?.shape[key]).toBeDefined();
    }
  });
});
