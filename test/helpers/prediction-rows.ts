/** Synthetic prediction-log rows with known outcomes, for the deployment analysis tests. */
import type { PredictionWithOutcome } from '../../lib/deployment/outcomes';
import { rng } from '../../lib/random';

export interface RowSpec {
  request: number;
  variant: string;
  served?: boolean;
  /** Whether the prediction matches the outcome. */
  right: boolean;
  outcome?: 0 | 1;
  matured?: boolean;
  latencyMs?: number;
  error?: boolean;
  /** Overrides the probability derived from the predicted class. */
  probability?: number;
}

const jitter = rng(11);

export function row(spec: RowSpec): PredictionWithOutcome {
  const outcome = spec.outcome ?? ((spec.request % 2) as 0 | 1);
  const predicted = spec.right ? outcome : 1 - outcome;
  const matured = spec.matured ?? true;
  // Class 1 → p in [0.55, 0.75), class 0 → [0.25, 0.45): one score distribution for any model with the same class mix.
  const probability = spec.error ? null : (spec.probability ?? (predicted === 1 ? 0.55 : 0.25) + 0.2 * jitter());
  return {
    id: `r${spec.request}:${spec.variant}`,
    requestId: `r${spec.request}`,
    model: 'direction-5d',
    version: spec.variant === 'champion' ? 1 : 2,
    variant: spec.variant,
    served: spec.served ?? true,
    symbol: 'AAA',
    routingKey: `k${spec.request}`,
    asOf: '2024-01-02',
    probability,
    predictedClass: spec.error ? null : predicted,
    latencyUs: (spec.latencyMs ?? 5) * 1000,
    error: spec.error ? 'model failed' : null,
    createdAt: '2024-01-02T15:00:00.000Z',
    outcome: matured ? outcome : null,
    matured,
  };
}
