/**
 * How a verdict held by refused bars (with MODEL_SIGNING_KEY, bars no held key vouches for:
 * bar-signature.ts) is raised as the bars_unverified alert, by live monitoring and by a deployment's
 * analyses alike: one subject per model, so the alert store's cool-down makes the two one alert.
 * Pure (type imports only): the deployment workflow uses it.
 */
import type { AlertInput, AlertSeverity } from '../alerts/alert';
import type { RefusedBarsSummary } from '../store/bar-signature';

/** The bars_unverified alert's subject for `model`. */
export const barsSubject = (model: string): string => `bars of model ${model}`.slice(0, 255);

/** `configured` (critical by default) for edited bars or another key's; a warning when they are only unsigned (from before signing). */
export function refusedBarsSeverity(refused: RefusedBarsSummary, configured: AlertSeverity = 'critical'): AlertSeverity {
  return refused.problems.every((p) => p === 'unsigned') ? 'warning' : configured;
}

/** Whether two refusals name the same bars (the same run of refused analyses). */
export function sameRefusal(a: RefusedBarsSummary | undefined, b: RefusedBarsSummary | undefined): boolean {
  return a !== undefined && b !== undefined && a.reason === b.reason;
}

/**
 * The alert a deployment raises when an analysis is first held by refused bars: `what` names the
 * analysis (the A/B test, a canary step) and what the hold means for it.
 */
export function deploymentBarsAlert(input: { model: string; deploymentId: string; what: string; refused: RefusedBarsSummary }): AlertInput {
  const { model, deploymentId, what, refused } = input;
  return {
    rule: 'bars_unverified',
    severity: refusedBarsSeverity(refused),
    subject: barsSubject(model),
    message: `deployment ${deploymentId} of ${model}: ${what}: no outcome is judged on bars MODEL_SIGNING_KEY does not vouch for: ${refused.reason}`.slice(0, 4000),
    evidence: { deploymentId, bars: refused.bars, symbols: refused.symbols, problems: refused.problems },
  };
}
