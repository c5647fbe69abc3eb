import { z } from 'zod';
import { qualityPolicySchema } from '../quality/policy';

/** Entries per read by default: 20,000 bars of a backlog cover about 50 days of the S&P 500 (5,000 did 13; bench:stream measured both). */
export const DEFAULT_BATCH_SIZE = 20_000;

/** Settings of one stream consumer; every field but the names has a default for daily equities. */
export const streamConsumerOptionsSchema = z.object({
  /** The Redis Stream (STREAM_KEY) and consumer group (STREAM_GROUP). */
  key: z.string().min(1).max(200),
  group: z.string().min(1).max(200),
  /** This consumer's name in the group; unique per process (a restarted process may reuse it). */
  consumer: z.string().min(1).max(200),
  /**
   * Most entries per XREADGROUP. A batch is what is there, never waited for: at a steady rate a read
   * finds a few entries; in a backlog (after an outage, a replay) bigger batches amortise what is
   * done per symbol and batch (features, vectors, revisions, a transaction) over more bars.
   */
  batchSize: z.number().int().min(1).max(50_000).default(DEFAULT_BATCH_SIZE),
  /** How long one read waits for new entries. */
  blockMs: z.number().int().min(1).max(60_000).default(1000),
  /** Entries pending (read, never acknowledged) longer than this are taken over (XAUTOCLAIM). */
  claimIdleMs: z.number().int().min(0).default(30_000),
  /** How often to look for such entries (and at start). */
  claimIntervalMs: z.number().int().min(10).default(5000),
  /** Deliveries after which an entry that keeps failing goes to the dead-letter stream. */
  maxDeliveries: z.number().int().min(1).max(1000).default(5),
  /** Dead-letter stream (default "<key>:dead"). */
  deadLetterKey: z.string().min(1).max(200).optional(),
  /** Bars kept per symbol for the online features: the longest look-back plus time for EMAs to settle. */
  windowBars: z.number().int().min(30).max(10_000).default(750),
  /** Longest wait before an incomplete date's cross-section is recomputed (complete dates: at once). */
  crossSectionIntervalMs: z.number().int().min(0).max(3_600_000).default(1000),
  /** Compute cross-sections on a worker thread, so bars arriving meanwhile are not held up (false: on the loop). */
  crossSectionThread: z.boolean().default(true),
  /** Longest wait before matured outcomes are recorded (0: in the batch, before it is acknowledged). */
  outcomeIntervalMs: z.number().int().min(0).max(3_600_000).default(1000),
  /** How often headlines are re-read when a feature set uses news. */
  newsRefreshMs: z.number().int().min(1000).default(60_000),
  /** How often the group's pending count is sampled for the metric. */
  pendingSampleMs: z.number().int().min(100).default(5000),
  /** Where a new group starts: "0" reads the whole stream (nothing already appended is lost), "$" only new entries. */
  startId: z.string().regex(/^(\$|0|\d+(-\d+)?)$/, 'expected 0, $ or a stream id').default('0'),
  /** The ingestion quality policy (extreme move limit, stale close days, …). */
  quality: qualityPolicySchema.default(qualityPolicySchema.parse({})),
});
export type StreamConsumerOptions = z.output<typeof streamConsumerOptionsSchema>;
export type StreamConsumerOptionsInput = z.input<typeof streamConsumerOptionsSchema>;
