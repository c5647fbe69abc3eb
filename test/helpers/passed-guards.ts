import type { GuardVerdict } from '../../lib/training/guards';

/**
 * What candidateScoresOf needs besides a report for a candidate to be judged on its evidence: the
 * dataset guards' and the shuffled-label control's verdicts, passed (a guard with no verdict is not passed).
 */
export const PASSED_GUARDS: { datasetGuards: GuardVerdict[]; shuffledLabel: { passed: boolean; message: string } } = {
  datasetGuards: [
    { guard: 'point_in_time_audit', tripped: false, message: 'every sampled row matches' },
    { guard: 'single_feature_scan', tripped: false, message: 'no feature is implausibly predictive' },
  ],
  shuffledLabel: { passed: true, message: 'at chance' },
};
