/**
 * Registration and verification read a row's parameters with each algorithm's own schema
 * (lib/registry/recorded-fields.ts): every algorithm this build trains must be listed there, else
 * its rows' parameters would be compared unread.
 */
import { ALGORITHM_PARAMETERS, unknownParameterMessage } from '../../lib/experiments/algorithm-parameters';
import { PARAMETER_SCHEMAS, WARM_START_SETS, recordedFieldMismatch, type RecordedFields } from '../../lib/registry/recorded-fields';
import type { ArtifactHeader } from '../../models/artifact';
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

describe('a parameter the algorithm does not have', () => {
  const header = (algorithm: string, params: Record<string, unknown>) => ({ algorithm, featureSetVersion: 'fs1', label: { kind: 'direction', horizon: 5 }, params }) as unknown as ArtifactHeader;
  const row = (algorithm: string, params: Record<string, unknown>): RecordedFields => ({ algorithm, featureSetVersion: 'fs1', label: { kind: 'direction', horizon: 5 }, params, lineage: {} });

  it('is refused by the registry in the words experiment validation uses, from the same list of names', () => {
    const message = recordedFieldMismatch(row('random_forest', { maxDepht: 4 }), header('random_forest', { nEstimators: 100, maxDepth: 8 }), 'registry');
    expect(message).toBe(`params.maxDepht: ${unknownParameterMessage('random_forest', 'maxDepht')}, so the model was not trained with it`);
    expect(message).toContain(`its parameters are ${ALGORITHM_PARAMETERS.random_forest.join(', ')}`);
    // An algorithm the list does not know: the header's own parameters are all it may state.
    expect(recordedFieldMismatch(row('oracle', { b: 1 }), header('oracle', { a: 1 }), 'registration')).toBe('params.b: oracle has no parameter "b"; its parameters are a, so the model was not trained with it');
  });
});
