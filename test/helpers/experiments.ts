import type { ExperimentInput } from '../../lib/experiments/experiment';

/** A small but complete experiment: two algorithms, TPE, purged 3-fold CV, walk-forward over the last 120 days. */
export function smallExperiment(dir: string, name = 'direction-5d'): ExperimentInput {
  return {
    name,
    seed: 7,
    import: { source: { kind: 'csv', path: dir } },
    label: { kind: 'direction', horizon: 5 },
    algorithms: [
      { algorithm: 'logistic_regression', space: { C: { type: 'float', low: 0.01, high: 10, log: true } } },
      { algorithm: 'gradient_boosting', space: { nRounds: { type: 'choice', values: [10, 20] }, maxDepth: { type: 'int', low: 2, high: 4 }, validationFraction: 0 } },
    ],
    search: { method: 'tpe', trials: 4, parallelism: 2, maxTrainRows: 3000, maxTestRows: 2000 },
    cv: { folds: 3 },
    walkForward: { evaluationDays: 120, retrainDays: 40, maxTrainRows: 4000 },
    final: { maxTrainRows: 5000 },
    backtest: { costBps: 1, slippageBps: 2 },
  };
}
