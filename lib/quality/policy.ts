import { z } from 'zod';
import { DEFAULT_MIN_HISTORY_BARS } from '../features/min-history';

/** Thresholds of the data-quality gate; every field has a default a daily-equities team would pick. */
export const qualityPolicySchema = z.object({
  /** Share of read rows that may be rejected before the whole run fails. */
  maxBadRowShare: z.number().min(0).max(1).default(0.02),
  /** |close / previous close - 1| above this is flagged (a 2:1 split is -0.5). */
  extremeMoveLimit: z.number().positive().default(0.35),
  /** This many consecutive identical closes are flagged as stale. */
  staleCloseDays: z.number().int().min(2).default(5),
  /** Series shorter than the default feature set needs (its requiredBars) are flagged. */
  minHistoryBars: z.number().int().min(1).default(DEFAULT_MIN_HISTORY_BARS),
});
export type QualityPolicy = z.infer<typeof qualityPolicySchema>;
export type QualityPolicyInput = z.input<typeof qualityPolicySchema>;
