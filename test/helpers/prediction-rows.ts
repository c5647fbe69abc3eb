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
  /**
   * The symbol and feature date. Default: a symbol-day of its own per request (25 symbols a day,
   * from 2024-01-02 on), since the analyses count one observation per symbol-day.
   */
  symbol?: string;
  asOf?: string;
  createdAt?: string;
}

/** The default symbol-day of request `i`: symbol S(i mod 25) on day ⌊i / 25⌋ after 2024-01-02. */
export function symbolDayOf(i: number): { symbol: string; asOf: string } {
  return { symbol: `S${i % 25}`, asOf: new Date(Date.UTC(2024, 0, 2) + Math.floor(i / 25) * 86_400_000).toISOString().slice(0, 10) };
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
    symbol: spec.symbol ?? symbolDayOf(spec.request).symbol,
    routingKey: `k${spec.request}`,
    asOf: spec.asOf ?? symbolDayOf(spec.request).asOf,
    probability,
    predictedClass: spec.error ? null : predicted,
    latencyUs: (spec.latencyMs ?? 5) * 1000,
    error: spec.error ? 'model failed' : null,
    createdAt: spec.createdAt ?? `${spec.asOf ?? symbolDayOf(spec.request).asOf}T15:00:00.000Z`,
    outcome: matured ? outcome : null,
    matured,
  };
}
