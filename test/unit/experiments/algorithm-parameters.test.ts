import fs from 'node:fs';
import path from 'node:path';
import { ALGORITHM_PARAMETERS } from '../../../lib/experiments/algorithm-parameters';
import { experimentSchema } from '../../../lib/experiments/experiment';
import { PARAMETER_SCHEMAS } from '../../../lib/registry/recorded-fields';

describe('the parameters an experiment may search', () => {
  it('are exactly those each algorithm reads (its own parameter schema)', () => {
    for (const [algorithm, names] of Object.entries(ALGORITHM_PARAMETERS)) expect([...names].sort()).toEqual(Object.keys(PARAMETER_SCHEMAS.get(algorithm)?.shape ?? {}).sort());
  });

  it('refuses a misspelt name, naming it and the algorithm\'s parameters; the shipped experiments pass', () => {
    const result = experimentSchema.safeParse({ name: 'typo', label: { kind: 'direction', horizon: 5 }, algorithms: [{ algorithm: 'random_forest', space: { maxDepht: { type: 'int', low: 1, high: 2 }, minSamplesLeaf: 50 } }] });
    expect(result.success).toBe(false);
    const issue = result.error?.issues.find((i) => i.path.join('.') === 'algorithms.0.space.maxDepht');
    expect(issue?.message).toBe('random_forest has no parameter "maxDepht"; its parameters are nEstimators, maxDepth, minSamplesLeaf, minGain, maxFeatures, criterion, bootstrap, maxBins');
    for (const file of fs.readdirSync('experiments').filter((f) => f.endsWith('.json'))) expect(experimentSchema.safeParse(JSON.parse(fs.readFileSync(path.join('experiments', file), 'utf8'))).error).toBeUndefined();
  });

  it('refuses conv1d in an experiment: no feature set or dataset builds the day windows it reads, so it would take other features for earlier days', () => {
    const result = experimentSchema.safeParse({ name: 'seq', label: { kind: 'direction', horizon: 5 }, algorithms: [{ algorithm: 'conv1d', space: { window: 2 } }] });
    expect(result.success).toBe(false);
    const issue = result.error?.issues.find((i) => i.path.join('.') === 'algorithms.0.algorithm');
    expect(issue?.message).toContain('conv1d reads k blocks of the same features, one per day of a window, and no feature set or dataset of a run builds such windows');
  });
});
