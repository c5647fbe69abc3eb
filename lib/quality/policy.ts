import { z } from 'zod';
import { DEFAULT_MIN_HISTORY_BARS } from '../features/min-history';

/**
 * Default per-file limit (maxFileBadRowShare): a file whose rows for one symbol are rejected at more
 * than this share (20%) is rejected whole. So many broken rows say the file itself is wrong (dates
 * read in the wrong order, columns shifted, a truncated or mangled export), and its rows that passed
 * are not trusted either; the import then fails, as for a file that cannot be read, and nothing it
 * holds is published. The import-wide maxBadRowShare alone cannot see this: one bad file among forty
 * good ones is under 2% of the import.
 */
export const DEFAULT_MAX_FILE_BAD_ROW_SHARE = 0.2;

/**
 * The fewest rejected rows that can reject a file whole, whatever their share: a handful of rows
 * says nothing about a file (the one row of a daily update file is 100% of it), and a file that
 * small cannot hide much behind its good rows. Fewer rejections still count toward the import's
 * maxBadRowShare.
 */
export const MIN_FILE_REJECTED_ROWS = 5;

/**
 * Minutes after the NYSE close (16:00 New York, or the early close) before a bar dated on that day
 * counts as finished: vendors write the closing auction and late prints in the first minutes after
 * the bell. A bar of the import's own New York trading day read before then is `session_not_closed`.
 */
export const SESSION_CLOSE_MARGIN_MINUTES = 15;

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
  /**
   * Share of one file's rows (for one symbol) that may be rejected before the whole file is
   * (`file_bad_row_share`, which fails the import), once at least MIN_FILE_REJECTED_ROWS are. Unset: DEFAULT_MAX_FILE_BAD_ROW_SHARE, or
   * maxBadRowShare when that is larger (a file is never held to a stricter limit than the import
   * was given). No default is filled in, so requests without it keep their snapshot ids.
   */
  maxFileBadRowShare: z.number().min(0).max(1).optional(),
  /**
   * Minutes after the close before a bar of that day counts as finished (`session_not_closed`
   * before then). Unset: SESSION_CLOSE_MARGIN_MINUTES (15). A vendor that publishes its final daily
   * bars later (some do so hours after the bell) needs more. Not filled in, so requests without it
   * keep their snapshot ids.
   */
  sessionCloseMarginMinutes: z.number().int().min(0).max(720).optional(),
  /**
   * Separate runs of missing NYSE sessions one symbol's file may hold within any 60 of its sessions
   * before its series is rejected (`sparse_series`). Unset: SPARSE_SERIES_MAX_GAPS (4). A universe
   * of thinly traded securities, which have no bar on days without trades, needs more. Not filled
   * in, so requests without it keep their snapshot ids.
   */
  maxSessionGaps: z.number().int().min(1).optional(),
});
export type QualityPolicy = z.infer<typeof qualityPolicySchema>;
export type QualityPolicyInput = z.input<typeof qualityPolicySchema>;

/** The per-file rejected-share limit `policy` sets (see maxFileBadRowShare). */
export function fileBadRowShareLimit(policy: Pick<QualityPolicy, 'maxBadRowShare' | 'maxFileBadRowShare'>): number {
  return policy.maxFileBadRowShare ?? Math.max(DEFAULT_MAX_FILE_BAD_ROW_SHARE, policy.maxBadRowShare);
}
