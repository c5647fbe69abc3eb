/**
 * What the stream consumer counts, as plain totals (for tests, benchmarks and log lines) and as
 * Prometheus metrics on its own registry (served on STREAM_METRICS_ADDRESS). Counters are read from
 * the totals at scrape time; the two latency histograms are observed as events happen.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface StreamConsumerStats {
  batches: number;
  /** Entries read from the stream: new ones and ones claimed from other consumers' pending lists. */
  entriesRead: number;
  entriesClaimed: number;
  /** Bars written to the store (new and corrected ones). */
  barsStored: number;
  /** Stored bars dated before their symbol's newest stored bar. */
  barsLate: number;
  /** Bars already stored with the same values (redeliveries, repeated messages). */
  barsDuplicate: number;
  /** Bars that replaced a stored bar with different values (late corrections included). */
  barsRevised: number;
  /** Bars not written because a newer entry of the stream had written their symbol and date (a redelivered older entry). */
  barsSuperseded: number;
  /**
   * Bars not written because they are older by event_time than the stored version of their bar, or
   * than another entry of theirs in the batch, with other values (a replayed segment, a re-sent backlog).
   */
  barsStale: number;
  /** Bars kept out of the store, by quality rule. */
  quarantinedByRule: Record<string, number>;
  /** Stored bars with a series flag (extreme move, gap, stale close), by rule. */
  flaggedByRule: Record<string, number>;
  deadLettered: number;
  /** Entries trimmed away (MAXLEN) before the group read them, or read and not yet acknowledged: lost, their bars never stored (lib/streaming/lost-entries.ts). */
  trimmed: number;
  /** Times the consumer group was found deleted (NOGROUP) and this consumer created it again (lib/streaming/lost-entries.ts). */
  groupsRecreated: number;
  batchFailures: number;
  vectorsPublished: number;
  /** Vectors not written: the stored one is signed and this process has no MODEL_SIGNING_KEY. */
  vectorsRefusedSigned: number;
  crossSectionRefreshes: number;
  outcomesRecorded: number;
  /** Outcome recordings that failed for a model (its outcome bars refused, say), each occurrence. */
  outcomeErrors: number;
  /** Entries read but not acknowledged by the group (all consumers), as last sampled. */
  pending: number;
  /**
   * Wall-clock milliseconds spent per step of the loop, summed (where the time of a batch goes):
   * read (XREADGROUP round trip and reply parsing), decode (field parsing and row rules), classify
   * (windows against the new bars), flags (series rules, quarantine), write (the store
   * transaction), revisions (Redis counters), features (per-symbol columns; features:first
   * cross-section, the cross-section computed here for symbols that never had one), publish (online
   * vectors to Redis), ack (XACK), and the loop's time-based work: due:revisions (other consumers'
   * writes), due:cross-section (jobs prepared for the thread, results taken in), due:republish
   * (vectors rewritten after a cross-section), due:other (outcomes, news, pending count).
   */
  stepMs: Record<string, number>;
  /** The longest single occurrence of each step (what a bar arriving meanwhile may have waited for). */
  stepMaxMs: Record<string, number>;
}

export function emptyStreamStats(): StreamConsumerStats {
  return {
    batches: 0,
    entriesRead: 0,
    entriesClaimed: 0,
    barsStored: 0,
    barsLate: 0,
    barsDuplicate: 0,
    barsRevised: 0,
    barsSuperseded: 0,
    barsStale: 0,
    quarantinedByRule: {},
    flaggedByRule: {},
    deadLettered: 0,
    trimmed: 0,
    groupsRecreated: 0,
    batchFailures: 0,
    vectorsPublished: 0,
    vectorsRefusedSigned: 0,
    crossSectionRefreshes: 0,
    outcomesRecorded: 0,
    outcomeErrors: 0,
    pending: 0,
    stepMs: {},
    stepMaxMs: {},
  };
}

export function totalOf(byRule: Record<string, number>): number {
  return Object.values(byRule).reduce((a, b) => a + b, 0);
}

const BATCH_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LATENCY_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Window of the bars-per-second gauge. */
const RATE_WINDOW_MS = 10_000;

export class StreamMetrics {
  readonly registry = new Registry();
  readonly batchDuration: Histogram;
  readonly endToEndLatency: Histogram;
  private readonly samples: Array<{ at: number; stored: number }> = [];

  constructor(stats: () => StreamConsumerStats, options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    const total = (name: string, help: string, read: (s: StreamConsumerStats) => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          const value = read(stats());
          if (value > 0) this.inc(value);
        },
      });
    };
    const byRule = (name: string, help: string, read: (s: StreamConsumerStats) => Record<string, number>): void => {
      new Counter({
        name,
        help,
        labelNames: ['rule'],
        registers,
        collect() {
          this.reset();
          for (const [rule, n] of Object.entries(read(stats()))) if (n > 0) this.inc({ rule }, n);
        },
      });
    };
    total('stream_entries_read_total', 'Stream entries read by this consumer (new and claimed)', (s) => s.entriesRead);
    total('stream_entries_claimed_total', 'Pending entries of idle or crashed consumers taken over (XAUTOCLAIM)', (s) => s.entriesClaimed);
    total('stream_bars_stored_total', 'Bars written to the store (new and corrected); rate() of it is bars/s', (s) => s.barsStored);
    total('stream_bars_late_total', "Stored bars dated before their symbol's newest stored bar", (s) => s.barsLate);
    total('stream_bars_duplicate_total', 'Bars already stored with the same values (redeliveries, repeats)', (s) => s.barsDuplicate);
    total('stream_bars_revised_total', 'Bars that replaced a stored bar with different values', (s) => s.barsRevised);
    total('stream_bars_superseded_total', 'Bars not written because a newer stream entry had written them (redelivered older entries)', (s) => s.barsSuperseded);
    total('stream_bars_stale_total', 'Bars not written because they are older by event_time than the stored version (replayed or re-sent older entries)', (s) => s.barsStale);
    byRule('stream_bars_quarantined_total', 'Bars kept out of the store by a quality rule', (s) => s.quarantinedByRule);
    byRule('stream_bar_flags_total', 'Stored bars flagged by a series rule', (s) => s.flaggedByRule);
    total('stream_entries_dead_lettered_total', 'Entries moved to the dead-letter stream after repeated failures', (s) => s.deadLettered);
    total('stream_entries_trimmed_total', 'Entries trimmed by MAXLEN before the group read them or before they were acknowledged (lost: their bars were never stored)', (s) => s.trimmed);
    total('stream_group_recreated_total', 'Times the consumer group was found deleted under the consumer (NOGROUP) and created again after the last entry it processed', (s) => s.groupsRecreated);
    total('stream_batch_failures_total', 'Batches that failed and were left pending for a retry', (s) => s.batchFailures);
    total('stream_online_vectors_published_total', 'Online feature vectors written', (s) => s.vectorsPublished);
    total('stream_online_vectors_refused_signed_total', 'Online feature vectors not written: the stored vector is signed and the consumer has no MODEL_SIGNING_KEY', (s) => s.vectorsRefusedSigned);
    total('stream_cross_section_refreshes_total', "Recomputations of a date's market and cross-sectional columns", (s) => s.crossSectionRefreshes);
    total('stream_outcomes_recorded_total', 'Prediction outcomes recorded when their maturing bar arrived', (s) => s.outcomesRecorded);
    total('stream_outcome_errors_total', "Outcome recordings that recorded nothing for a model (e.g. its outcome bars refused by MODEL_SIGNING_KEY); the log repeats the same error once per 15 min", (s) => s.outcomeErrors);
    new Gauge({
      name: 'stream_pending_entries',
      help: 'Entries read by the group and not acknowledged yet (all consumers)',
      registers,
      collect() {
        this.set(stats().pending);
      },
    });
    const samples = this.samples;
    new Gauge({
      name: 'stream_bars_per_second',
      help: `Bars stored per second since the previous scrape at least ${RATE_WINDOW_MS / 1000} s ago`,
      registers,
      collect() {
        const now = Date.now();
        const current = stats().barsStored;
        samples.push({ at: now, stored: current });
        // Keep one sample at least a window old (scrapes may be further apart than the window).
        while (samples.length > 2 && samples[1].at <= now - RATE_WINDOW_MS) samples.shift();
        const first = samples[0];
        this.set(now > first.at ? ((current - first.stored) * 1000) / (now - first.at) : 0);
      },
    });
    this.batchDuration = new Histogram({ name: 'stream_batch_duration_seconds', help: 'Time to process one batch: checks, store, features, outcomes, acknowledgement', buckets: BATCH_BUCKETS_SECONDS, registers });
    this.endToEndLatency = new Histogram({
      name: 'stream_end_to_end_latency_seconds',
      help: 'From the stream entry (its id time) to the online feature vector updated with it',
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
  }
}
