/**
 * The live-bar consumer: reads the Redis Stream in a consumer group and, per batch, applies the
 * ingestion quality rules, upserts the bars, updates the online features of the symbols whose bars
 * changed, records matured prediction outcomes and only then acknowledges the entries (XACK).
 *
 * Delivery is at least once: a batch that fails, or whose consumer dies, stays pending and is taken
 * over (XAUTOCLAIM) after `claimIdleMs` by any consumer of the group, this one included. Every step
 * is idempotent (bars keyed by symbol and date, quarantine by finding, outcomes by prediction), so a
 * redelivered entry changes nothing twice, and a bar records the entry that wrote it, so a
 * redelivered entry never overwrites what a newer entry wrote (lib/streaming/live-bar-store.ts). A redelivered batch that fails again is retried one entry
 * at a time, and an entry still failing after `maxDeliveries` deliveries goes to the dead-letter
 * stream, unless the store itself is down (then everything waits).
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Redis } from 'ioredis';
import type { ArtifactStore } from '../artifacts/artifact-store';
import { raiseAlert } from '../alerts/alert-store';
import type { Cache } from '../cache/cache';
import { currentLabelVerification } from '../deployment/outcomes';
import type { FeatureSet } from '../features/feature-set';
import { knownInstrumentKind } from '../market-data/instruments';
import { memoize } from '../memo';
import type { Bar } from '../market-data/bar';
import type { QualityIssue } from '../quality/rules-catalog';
import type { RowSigning } from '../registry/row-signature';
import type { Database } from '../store/database';
import { describeStoredVersion, readBars, storedBarsAround } from '../store/bars';
import { STRAY_NEWEST_BARS } from '../quality/stray-bars';
import { retractionFinding } from '../quality/stored-rules';
import { readHeadlines } from '../store/news';
import { discardQuarantine, discardQuarantineFindings, saveQuarantine } from '../store/quarantine';
import { BarRevisions } from './bar-revisions';
import { BarWindows } from './bar-windows';
import { streamConsumerOptionsSchema, type StreamConsumerOptions, type StreamConsumerOptionsInput } from './consumer-options';
import { entryTimeMs } from './live-bar';
import { entryKey, olderThanStoredVersions, writeLiveBatch, type LiveBarWrite } from './live-bar-store';
import { groupLostAlert, groupLostMessage, lostEntriesAlert, lostEntriesMessage, STREAM_ENTRIES_LOST_RULE, STREAM_GROUP_LOST_RULE, type LostEntries, type LostGroup } from './lost-entries';
import { PublishWatch } from './publish-watch';
import { CrossSectionThread } from './cross-section-worker';
import { computeCrossSection, OnlineFeatureUpdater, type CrossSectionRow } from './online-updater';
import { UnsignedOverSignedVectorError } from '../features/online-features';
import { OutcomeRecorder } from './outcome-recorder';
import {
  ackEntries,
  autoClaim,
  deliveryCounts,
  ensureConsumerGroup,
  groupLastDelivered,
  idBefore,
  isNoGroupError,
  oldestPendingId,
  pendingCount,
  readNewEntries,
  recreateConsumerGroup,
  waitForEntriesAfter,
  type NewEntries,
  type StreamEntry,
} from './redis-streams';
import { emptyStreamStats, StreamMetrics, type StreamConsumerStats } from './stream-metrics';
import { judgeLiveAgainstStored } from './stored-bar-judging';
import { checkLiveBatch, filledGaps, seriesFlags, withoutUnreadKinds, type AcceptedLiveBar, type BatchQuality } from './stream-quality';
import { RepeatedLines } from './repeated-lines';

/** How often a lasting outcome-recording error (the same line) is logged again; every occurrence is counted (stream_outcome_errors_total). */
const OUTCOME_ERROR_RELOG_MS = 15 * 60_000;

/** Vectors rewritten per loop turn after a cross-section refresh (about 3 ms of Redis traffic). */
const REPUBLISH_CHUNK = 64;

export interface StreamConsumerDeps {
  /** For stream, revision and dead-letter commands. */
  redis: Redis;
  /** For the blocking XREADGROUP (a blocked connection cannot serve other commands); default: a duplicate of `redis`. */
  blockingRedis?: Redis;
  store: Database;
  /** The online feature store. */
  cache: Cache;
  /**
   * The artifact store of the registered models: outcomes are labelled with the label of each
   * version's artifact header (sha256-checked), never a registry row's alone. Default: the
   * deployment's (ARTIFACT_DIR or ARTIFACT_URL).
   */
  artifacts?: ArtifactStore;
  featureSets: readonly FeatureSet[];
  log?: (line: string) => void;
  /** Channels of the alerts the consumer raises (entries lost to trimming) besides the log: alertChannelNames(config). */
  alertChannels?: readonly string[];
  /** The deployment's MODEL_SIGNING_KEY: with it the online vectors are written signed, as the prediction API holding it requires. */
  signing?: RowSigning;
  hooks?: {
    /** Called before a batch's bars are written; a test throws here to make the write fail. */
    beforeWrite?: (entries: readonly StreamEntry[]) => void | Promise<void>;
    /** Called once the bars are stored, before the features are updated; a test throws here. */
    beforePublish?: (entries: readonly StreamEntry[]) => void | Promise<void>;
    /** Called after everything but the acknowledgement; a test throws here to die before XACK. */
    beforeAck?: (entries: readonly StreamEntry[]) => void | Promise<void>;
    /** Milliseconds from each updated entry's stream time to its online vector being written. */
    onLatency?: (latenciesMs: readonly number[]) => void;
  };
}

function byKey(a: Bar, b: Bar): number {
  return a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : a.date < b.date ? -1 : a.date > b.date ? 1 : 0;
}

/** Quarantine rows of the live path share one snapshot id per stream (snapshot_id is varchar(64)). */
export function streamSnapshotId(key: string): string {
  const id = `stream:${key}`;
  return id.length <= 64 ? id : `stream:${createHash('sha1').update(key).digest('hex').slice(0, 24)}`;
}

export class BarStreamConsumer {
  readonly options: StreamConsumerOptions;
  readonly stats: StreamConsumerStats = emptyStreamStats();
  readonly deadLetterKey: string;
  private readonly windows: BarWindows;
  private readonly revisions: BarRevisions;
  private readonly publishes = new PublishWatch();
  private readonly updaters: OnlineFeatureUpdater[];
  private readonly outcomes: OutcomeRecorder;
  private readonly snapshotId: string;
  private readonly blocking: Redis;
  private readonly ownsBlocking: boolean;
  private readonly log: (line: string) => void;
  private readonly outcomeErrorLines = new RepeatedLines(OUTCOME_ERROR_RELOG_MS);
  private readonly outcomeSymbols = new Set<string>();
  /** Vectors to write again after a cross-section refresh, a chunk per loop turn so new bars never wait for all of them. */
  private readonly republish = new Map<OnlineFeatureUpdater, Set<string>>();
  private readonly thread: CrossSectionThread | undefined;
  /** Cross-sections being computed on the thread, one per updater at a time. */
  private readonly inFlight = new Map<OnlineFeatureUpdater, { dates: string[]; promise: Promise<void>; rows?: CrossSectionRow[]; error?: Error }>();
  private lastOutcomesAt = 0;
  private lastClaimAt = Number.NEGATIVE_INFINITY;
  /** The next batch, asked for while the current one is processed (in a backlog only). */
  private prefetched: Promise<{ entries: StreamEntry[]; checked?: BatchQuality; read: NewEntries }> | undefined;
  /** The last failure to look for trimmed entries, logged once until it changes. */
  private trimCheckFailure: string | undefined;
  /** The last batch was full and stored: entries are probably waiting. */
  private backlogged = false;
  private lastPendingAt = Number.NEGATIVE_INFINITY;
  private lastNewsAt = Number.NEGATIVE_INFINITY;
  /** When an UnsignedOverSignedVectorError was last logged (once a minute: every batch meets it). */
  private refusedSignedLoggedAt = Number.NEGATIVE_INFINITY;
  /** The group's last-delivered id when this consumer started: where to create it again if it is lost before anything is processed. */
  private startPosition: string | undefined;
  /** The newest entry this consumer processed (stored and acknowledged): a lost group is created again after it. */
  private lastProcessed: string | undefined;
  /**
   * Entries of new batches that failed and are not yet processed or dead-lettered: a lost group is
   * created again before the oldest. Each leaves when acknowledged (by a retry), so one failed
   * batch long since done does not replay everything after it once the group is lost.
   */
  private readonly failedEntries = new Set<string>();

  /** The oldest entry of a failed batch still pending, or undefined. */
  private get failedFrom(): string | undefined {
    let oldest: string | undefined;
    for (const id of this.failedEntries) if (oldest === undefined || entryKey(id) < entryKey(oldest)) oldest = id;
    return oldest;
  }
  private started = false;
  private stopping = false;
  private running: Promise<void> | undefined;
  private prometheus: StreamMetrics | undefined;

  constructor(
    private readonly deps: StreamConsumerDeps,
    options: StreamConsumerOptionsInput,
  ) {
    this.options = streamConsumerOptionsSchema.parse(options);
    if (deps.featureSets.length === 0) throw new Error('the stream consumer needs at least one feature set to keep online');
    this.deadLetterKey = this.options.deadLetterKey ?? `${this.options.key}:dead`;
    this.windows = new BarWindows(this.options.windowBars, this.deps.signing);
    this.revisions = new BarRevisions(deps.redis, this.options.key);
    this.updaters = deps.featureSets.map((set) => new OnlineFeatureUpdater(set, this.windows, this.options.crossSectionIntervalMs));
    const verify = currentLabelVerification();
    this.outcomes = new OutcomeRecorder(deps.store, deps.artifacts ? { ...verify, artifacts: deps.artifacts } : verify);
    this.snapshotId = streamSnapshotId(this.options.key);
    this.thread = this.options.crossSectionThread ? new CrossSectionThread() : undefined;
    this.ownsBlocking = deps.blockingRedis === undefined;
    this.blocking = deps.blockingRedis ?? deps.redis.duplicate();
    this.log = deps.log ?? ((line) => console.log(line));
  }

  /** Whether every feature set can tell the symbol's instrument kind (its suffix is read, or the set declares it). */
  private readonly readableKind = memoize((symbol: string): boolean => this.deps.featureSets.every((set) => knownInstrumentKind(symbol, set.instruments) !== undefined), 100_000);

  /** Adds the time since `from` to the step's total (stats.stepMs); returns now. */
  private timed(step: string, from: number): number {
    const now = performance.now();
    this.stats.stepMs[step] = (this.stats.stepMs[step] ?? 0) + (now - from);
    if (now - from > (this.stats.stepMaxMs[step] ?? 0)) this.stats.stepMaxMs[step] = now - from;
    return now;
  }

  /** Prometheus metrics of this consumer (created on first use, with Node process metrics). */
  get metrics(): StreamMetrics {
    this.prometheus ??= new StreamMetrics(() => this.stats);
    return this.prometheus;
  }

  /** Creates the group if needed, loads every symbol's window from the store and publishes its current vector. */
  async start(): Promise<void> {
    if (this.started) return;
    const { key, group } = this.options;
    if (await ensureConsumerGroup(this.deps.redis, key, group, this.options.startId)) this.log(`created consumer group ${group} on ${key} from ${this.options.startId}`);
    this.startPosition = await groupLastDelivered(this.deps.redis, key, group);
    await this.revisions.init();
    await this.publishes.init(this.deps.store);
    this.thread?.warm(); // its start-up overlaps the loading of the windows
    await this.windows.loadAll(this.deps.store);
    await this.refreshNews(Date.now(), true);
    // Every symbol's vector as of its newest stored bar, so the first live bars find their
    // cross-sections ready (else the first batch would pay for the whole universe).
    for (const updater of this.updaters) {
      const symbols = updater.refreshCrossSection(updater.datesLackingCrossSection(), Date.now());
      this.stats.vectorsPublished += await this.publishVectors(updater, symbols);
    }
    // Outcomes a crash kept from being recorded mature now instead of at the symbol's next bar.
    this.outcomeSymbols.clear();
    for (const s of this.windows.symbols()) this.outcomeSymbols.add(s);
    await this.recordOutcomes(Date.now(), true);
    this.started = true;
  }

  /** Runs until stop(): claims idle pending entries, reads new ones, refreshes cross-sections. */
  run(): Promise<void> {
    this.running ??= this.loop();
    return this.running;
  }

  /** Lets the current batch finish (stored, acknowledged), flushes pending work and returns. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  /** Closes the connection and thread this consumer opened itself (the others belong to the caller). */
  async close(): Promise<void> {
    if (this.ownsBlocking) this.blocking.disconnect();
    await this.thread?.close();
  }

  private async loop(): Promise<void> {
    await this.start();
    while (!this.stopping) {
      try {
        await this.pollOnce();
      } catch (error) {
        // Redis or the store is unreachable: wait a little and try again; nothing was acknowledged.
        this.log(`stream consumer: ${(error as Error).message}; retrying in 1 s`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    // A batch read ahead is processed too, rather than left pending until another consumer claims it.
    if (this.prefetched) await this.pollOnce().catch((error: unknown) => this.log(`stream consumer: the batch read ahead failed: ${(error as Error).message}`));
    await this.flush().catch((error: unknown) => this.log(`stream consumer: final flush failed: ${(error as Error).message}`));
  }

  /**
   * One step of the loop: takes over idle pending entries when due, reads and processes one batch
   * of new entries (waiting up to blockMs), then does whatever time-based work is due. Returns the
   * number of entries handled.
   */
  async pollOnce(): Promise<number> {
    await this.start();
    try {
      return await this.pollStep();
    } catch (error) {
      if (!isNoGroupError(error)) throw error;
      await this.recreateGroup(error as Error);
      return await this.pollStep();
    }
  }

  /**
   * The group was deleted under this consumer (NOGROUP): every read failed, for good, and start()
   * does not run again. Before, the loop logged "retrying in 1 s" forever and no live bar was stored.
   * Created again after the last entry this consumer processed (before the oldest batch of its that
   * failed, else where the group was when it started; 0 replays the stream, $ skips what came
   * meanwhile), logged, counted and alerted. A read ahead from the old group is dropped: its entries
   * come after that position and are read again. Every symbol's online vector is queued to be written
   * again (republishEverySymbol), and the alert says whether the stream was lost too (Redis lost its data).
   */
  private async recreateGroup(error: Error): Promise<void> {
    const { key, group, consumer } = this.options;
    const prefetched = this.prefetched;
    this.prefetched = undefined;
    await prefetched?.catch(() => undefined);
    this.backlogged = false;
    let resumedAfter: string;
    let from: LostGroup['from'];
    const failedFrom = this.failedFrom;
    if (failedFrom !== undefined) [resumedAfter, from] = [idBefore(failedFrom), 'failed'];
    else if (this.lastProcessed !== undefined && (this.startPosition === undefined || entryKey(this.lastProcessed) >= entryKey(this.startPosition))) [resumedAfter, from] = [this.lastProcessed, 'processed'];
    else {
      const { startId } = this.options;
      [resumedAfter, from] = [this.startPosition ?? (startId === '$' || startId.includes('-') ? startId : `${startId}-0`), 'started'];
    }
    // An entry the lost stream held, by which a new stream of the same name is told from it.
    const held = from === 'failed' ? failedFrom : from === 'processed' ? resumedAfter : undefined;
    const made = await recreateConsumerGroup(this.deps.redis, key, group, resumedAfter, failedFrom, held);
    if (!made.created) {
      this.log(`stream consumer: consumer group ${group} of ${key} was missing (${error.message}) and exists again (another consumer or an operator created it): reading on`);
      return;
    }
    this.failedEntries.clear();
    this.stats.groupsRecreated++;
    // Redis lost its data: the bar revision counters restarted at 0 with the stream, and every window
    // is read again (below, once the loss is alerted) before the vectors are written again.
    if (made.streamLost !== undefined) this.revisions.countersLost();
    else this.republishEverySymbol();
    const lost: LostGroup = {
      // A lost stream is read from its start (its ids need not follow the lost one's).
      resumedAfter: made.createdAfter ?? resumedAfter,
      from,
      ...(made.firstAfterGap !== undefined ? { firstAfterGap: made.firstAfterGap } : {}),
      error: error.message,
      ...(made.streamLost !== undefined ? { streamLost: made.streamLost } : {}),
    };
    this.log(`stream consumer: ${groupLostMessage(key, group, lost)}`);
    await raiseAlert(this.deps.store, groupLostAlert(key, group, consumer, lost), { channels: [...(this.deps.alertChannels ?? [])] }).catch((e: unknown) =>
      this.log(`stream consumer: cannot raise the ${STREAM_GROUP_LOST_RULE} alert: ${(e as Error).message}`),
    );
    await this.reloadIfCountersLost(Date.now());
  }

  /**
   * The bar revision counters were found lost (Redis lost its data): what other consumers stored
   * after this one's last look went unreported with them, so every window is read again from the
   * store (a one-off cost, about that of start()), every vector recomputed and written again. Before,
   * every symbol was written again from windows that could be stale. Left raised when the reload
   * fails: the next turn tries again.
   */
  private async reloadIfCountersLost(now: number): Promise<void> {
    if (!this.revisions.lost) return;
    this.log('stream consumer: the bar revision counters were lost (Redis lost its data): every window is read again from the store and every vector written again');
    await this.windows.loadAll(this.deps.store);
    for (const updater of this.updaters) updater.updateSymbols(this.windows.symbols(), now);
    this.revisions.lostHandled();
    this.republishEverySymbol();
  }

  /**
   * Every symbol's vector, as at start, written again a chunk per loop turn: a lost group mostly
   * means Redis lost its data (a restart without persistence), and the online vectors with it, and
   * otherwise a symbol without a new bar would have none until its next one (the API answering
   * from older offline rows, or 404). A stored vector that is newer stays (replaceOnlineFeatures).
   */
  private republishEverySymbol(): void {
    const now = Date.now();
    for (const updater of this.updaters) {
      updater.refreshCrossSection(updater.datesLackingCrossSection(), now);
      this.queueRepublish(updater, this.windows.symbols());
    }
  }

  private async pollStep(): Promise<number> {
    const now = Date.now();
    let handled = 0;
    if (now - this.lastClaimAt >= this.options.claimIntervalMs) {
      this.lastClaimAt = now;
      handled += await this.claimIdle();
    }
    const { key, group, consumer, batchSize } = this.options;
    const t0 = performance.now();
    let read: { entries: StreamEntry[]; checked?: BatchQuality };
    if (this.prefetched) {
      const next = this.prefetched;
      this.prefetched = undefined;
      const { entries, checked, read: taken } = await next;
      await this.afterRead(taken);
      read = { entries, checked };
    } else read = { entries: await this.readNew(handled > 0 ? 0 : this.blockMsNow()) };
    // An empty read waited for entries: waiting, not work.
    if (read.entries.length > 0) this.timed('read', t0);
    if (read.entries.length > 0) {
      // Asked before the read ahead below: Redis answers it before building that (large) reply.
      const olderPending = this.olderPendingThan(read.entries[0].id);
      // Working through a backlog (this batch and the one before full, that one stored): the next
      // batch is asked for now, so that Redis prepares and sends it while this one is processed.
      // It is delivered to this consumer like any batch it works on (pending until acknowledged).
      if (read.entries.length >= batchSize && this.backlogged && !this.stopping) {
        // Decoded as soon as it arrives: while this batch waits for its write, on MariaDB.
        const next = readNewEntries(this.blocking, { key, group, consumer, count: batchSize }).then((ahead) => {
          const t = performance.now();
          const checked = ahead.entries.length > 0 ? checkLiveBatch(ahead.entries, key) : undefined;
          this.timed('decode', t);
          return { entries: ahead.entries, checked, read: ahead };
        });
        next.catch(() => undefined); // awaited by the next poll, which sees the error
        this.prefetched = next;
      }
      this.stats.entriesRead += read.entries.length;
      const ok = await this.handleNew(read.entries, read.checked, olderPending);
      this.backlogged = ok && read.entries.length >= batchSize;
      handled += read.entries.length;
    } else this.backlogged = false;
    await this.dueWork(Date.now(), read.entries.length === 0 && handled === 0);
    return handled;
  }

  /**
   * New entries of the group, waiting up to `blockMs` (0: not at all) when there are none. The wait
   * is an XREAD, which moves no group, and the read follows it: a blocking XREADGROUP would go past
   * entries trimmed meanwhile without the check readNewEntries makes in the read's transaction.
   */
  private async readNew(blockMs: number): Promise<StreamEntry[]> {
    const { key, group, consumer, batchSize } = this.options;
    const request = { key, group, consumer, count: batchSize };
    let read = await readNewEntries(this.blocking, request);
    await this.afterRead(read);
    if (read.entries.length > 0 || blockMs === 0) return read.entries;
    // Without the stream's newest id, '$': an entry appended since the read then waits for the next one, at most blockMs.
    if (!(await waitForEntriesAfter(this.blocking, key, read.checkFailed === undefined ? read.newest : '$', blockMs))) return [];
    read = await readNewEntries(this.blocking, request);
    await this.afterRead(read);
    return read.entries;
  }

  /** What a read of new entries found besides them: entries trimmed before the group read them, or why it could not tell. */
  private async afterRead(read: NewEntries): Promise<void> {
    if (read.trimmed) {
      const { count, after, before, newest } = read.trimmed;
      await this.reportLost({ count, when: 'unread', after, ...(before !== undefined ? { before } : { through: newest }) });
    }
    if (read.checkFailed !== undefined && read.checkFailed !== this.trimCheckFailure) this.log(`stream consumer: cannot tell whether entries of ${this.options.key} were trimmed before the group read them (the reads go on): ${read.checkFailed}`);
    this.trimCheckFailure = read.checkFailed;
  }

  /** Entries the group lost to trimming: counted, logged and alerted, since their bars were never stored. */
  private async reportLost(lost: LostEntries): Promise<void> {
    const { key, group, consumer } = this.options;
    this.stats.trimmed += lost.count;
    this.log(`stream consumer: ${lostEntriesMessage(key, group, lost)}`);
    // Stored with its deliveries (the workers deliver them); the cool-down keeps one alert while entries keep being lost.
    await raiseAlert(this.deps.store, lostEntriesAlert(key, group, consumer, lost), { channels: [...(this.deps.alertChannels ?? [])] }).catch((error: unknown) =>
      this.log(`stream consumer: cannot raise the ${STREAM_ENTRIES_LOST_RULE} alert: ${(error as Error).message}`),
    );
  }

  /** Does what is due regardless of time (cross-sections, outcomes); used at stop and by tests. */
  async flush(): Promise<void> {
    await this.dueWork(Date.now(), true, true);
  }

  private blockMsNow(): number {
    if (this.republish.size > 0) return 0;
    const now = Date.now();
    // A cross-section computing on the thread is taken in as soon as it is done.
    let wait = this.inFlight.size > 0 ? Math.min(this.options.blockMs, 10) : this.options.blockMs;
    for (const u of this.updaters) {
      const due = u.msUntilDue(now);
      if (due !== undefined) wait = Math.min(wait, due);
    }
    if (this.outcomeSymbols.size > 0) wait = Math.min(wait, Math.max(0, this.lastOutcomesAt + this.options.outcomeIntervalMs - now));
    return Math.max(0, Math.min(wait, this.lastClaimAt + this.options.claimIntervalMs - now));
  }

  private async dueWork(now: number, idle: boolean, force = false): Promise<void> {
    let t = performance.now();
    // A batch's own write already compared revisions; idle turns look for other consumers' writes.
    if (idle || force) {
      const changed = [...new Set([...(await this.revisions.check()), ...(await this.publishes.poll(this.deps.store))])];
      if (this.revisions.lost) await this.reloadIfCountersLost(now);
      else if (changed.length > 0) await this.absorbForeignWrites(changed, now);
    }
    // A loss found by a batch's write or a recreated group whose reload failed.
    await this.reloadIfCountersLost(now);
    this.timed('due:revisions', t);
    // Waiting for the thread is no work of this one.
    if (force) await Promise.all([...this.inFlight.values()].map((f) => f.promise));
    t = performance.now();
    this.takeInCrossSections(now);
    for (const updater of this.updaters) {
      if (this.inFlight.has(updater)) continue;
      const due = updater.dueDates(now, idle || force);
      if (due.length === 0) continue;
      const job = updater.prepareCrossSection(due, now);
      if (!job) continue;
      this.stats.crossSectionRefreshes++;
      if (this.thread && !force) {
        const flight: { dates: string[]; promise: Promise<void>; rows?: CrossSectionRow[]; error?: Error } = { dates: due, promise: Promise.resolve() };
        flight.promise = this.thread.compute(job).then(
          (rows) => {
            flight.rows = rows;
          },
          (error: unknown) => {
            flight.error = error as Error;
          },
        );
        this.inFlight.set(updater, flight);
      } else this.queueRepublish(updater, updater.applyCrossSection(computeCrossSection(job)));
    }
    t = this.timed('due:cross-section', t);
    await this.republishChunk(force ? Number.POSITIVE_INFINITY : REPUBLISH_CHUNK);
    t = this.timed('due:republish', t);
    await this.recordOutcomes(now, force);
    await this.refreshNews(now, false);
    if (now - this.lastPendingAt >= this.options.pendingSampleMs || force) {
      this.lastPendingAt = now;
      this.stats.pending = await pendingCount(this.deps.redis, this.options.key, this.options.group);
      // Nothing pending in the group: a batch of this consumer that failed was done since (by whichever consumer).
      if (this.stats.pending === 0) this.failedEntries.clear();
    }
    this.timed('due:other', t);
  }

  /** Applies the cross-sections the thread has finished; a failed one makes its dates due again. */
  private takeInCrossSections(now: number): void {
    for (const [updater, flight] of this.inFlight) {
      if (flight.rows === undefined && flight.error === undefined) continue;
      this.inFlight.delete(updater);
      if (flight.rows) this.queueRepublish(updater, updater.applyCrossSection(flight.rows));
      else {
        this.log(`stream consumer: cross-section of ${flight.dates.join(', ')} failed, retrying: ${flight.error?.message}`);
        updater.markDirtyAgain(flight.dates, now);
      }
    }
  }

  /**
   * Writes `symbols`' vectors. Vectors this process may not replace (the stored one is signed and
   * it has no MODEL_SIGNING_KEY: UnsignedOverSignedVectorError) are counted and logged, not
   * thrown: the batch's bars are stored and the other vectors written, so failing it would only
   * redeliver it until it is dead-lettered, and skip its outcomes and the other feature sets.
   */
  private async publishVectors(updater: OnlineFeatureUpdater, symbols: readonly string[]): Promise<number> {
    try {
      return await updater.publish(this.deps.cache, symbols, this.deps.signing);
    } catch (error) {
      if (!(error instanceof UnsignedOverSignedVectorError)) throw error;
      this.stats.vectorsRefusedSigned += error.refused;
      const now = Date.now();
      if (now - this.refusedSignedLoggedAt >= 60_000) {
        this.refusedSignedLoggedAt = now;
        this.log(`stream consumer: ${error.message}`);
      }
      return error.written;
    }
  }

  private queueRepublish(updater: OnlineFeatureUpdater, symbols: readonly string[]): void {
    if (symbols.length === 0) return;
    const queue = this.republish.get(updater) ?? new Set<string>();
    for (const s of symbols) queue.add(s);
    this.republish.set(updater, queue);
  }

  private async republishChunk(limit: number): Promise<void> {
    for (const [updater, queue] of this.republish) {
      const chunk: string[] = [];
      for (const s of queue) {
        if (chunk.length >= limit) break;
        chunk.push(s);
      }
      for (const s of chunk) queue.delete(s);
      if (queue.size === 0) this.republish.delete(updater);
      if (chunk.length === 0) continue;
      try {
        this.stats.vectorsPublished += await this.publishVectors(updater, chunk);
      } catch (error) {
        // The online store is unreachable (Redis restarting): the chunk waits for the next turn rather than being dropped.
        this.queueRepublish(updater, chunk);
        throw error;
      }
    }
  }

  private async refreshNews(now: number, force: boolean): Promise<void> {
    const users = this.updaters.filter((u) => u.usesNews);
    if (users.length === 0 || (!force && now - this.lastNewsAt < this.options.newsRefreshMs)) return;
    this.lastNewsAt = now;
    const headlines = await readHeadlines(this.deps.store);
    for (const u of users) u.setNews(headlines);
  }

  private async recordOutcomes(now: number, force: boolean): Promise<void> {
    if (this.outcomeSymbols.size === 0 || (!force && now - this.lastOutcomesAt < this.options.outcomeIntervalMs)) return;
    const symbols = [...this.outcomeSymbols];
    const result = await this.outcomes.recordFor(symbols, new Date(now));
    // Cleared only once recorded: a failure keeps them for the next attempt.
    for (const s of symbols) this.outcomeSymbols.delete(s);
    this.lastOutcomesAt = now;
    this.stats.outcomesRecorded += result.recorded;
    this.stats.outcomeErrors += result.errors.length;
    // A lasting refusal (outcome bars no key vouches for) comes back at every recording: logged once per OUTCOME_ERROR_RELOG_MS.
    for (const e of result.errors) if (this.outcomeErrorLines.due(e, now)) this.log(`stream consumer: cannot record outcomes of ${e}`);
  }

  /** A symbol's stored bars in `range` (every one without it): from its window when it holds them, else from the store. */
  private async storedBars(symbol: string, range?: { from: string; to: string }): Promise<Bar[]> {
    if (range) return this.windows.between(symbol, range.from, range.to) ?? (await readBars(this.deps.store, { symbols: [symbol], from: range.from, to: range.to }));
    return readBars(this.deps.store, { symbols: [symbol] });
  }

  /** Other consumers wrote these symbols: reload their windows and recompute their vectors. */
  private async absorbForeignWrites(symbols: readonly string[], now: number): Promise<void> {
    await this.windows.reload(this.deps.store, symbols);
    for (const updater of this.updaters) {
      const { ready } = updater.updateSymbols(symbols, now);
      this.stats.vectorsPublished += await this.publishVectors(updater, ready);
    }
  }

  /** New entries: a failed batch stays pending and comes back through claimIdle. */
  private async handleNew(entries: StreamEntry[], checked?: BatchQuality, olderPending?: Promise<boolean>): Promise<boolean> {
    try {
      await this.processBatch(entries, false, checked, olderPending);
      return true;
    } catch (error) {
      for (const e of entries) this.failedEntries.add(e.id);
      this.stats.batchFailures++;
      this.log(`stream consumer: batch of ${entries.length} entries (${entries[0].id}..${entries[entries.length - 1].id}) failed, left pending for a retry in ${this.options.claimIdleMs} ms: ${(error as Error).message}`);
      return false;
    }
  }

  /**
   * Whether an entry older than `first` is pending in the group (any consumer's), asked once `first`
   * was delivered: entries are delivered in stream order, so none older can become pending later.
   */
  private olderPendingThan(first: string): Promise<boolean> {
    const answer = oldestPendingId(this.deps.redis, this.options.key, this.options.group).then((id) => id !== undefined && entryKey(id) < entryKey(first));
    answer.catch(() => undefined); // awaited before the write, which fails the batch
    return answer;
  }

  /** XAUTOCLAIM over the whole pending list: entries idle longer than claimIdleMs, any consumer's. */
  async claimIdle(): Promise<number> {
    const { key, group, consumer, claimIdleMs, batchSize } = this.options;
    let cursor = '0-0';
    let handled = 0;
    do {
      const claimed = await autoClaim(this.deps.redis, key, group, consumer, claimIdleMs, cursor, batchSize);
      cursor = claimed.next;
      if (claimed.deleted.length > 0) {
        // Trimmed by MAXLEN before anyone acknowledged them: they cannot be read any more.
        await ackEntries(this.deps.redis, key, group, claimed.deleted);
        for (const id of claimed.deleted) this.failedEntries.delete(id);
        const ids = [...claimed.deleted].sort((a, b) => (entryKey(a) < entryKey(b) ? -1 : 1));
        await this.reportLost({ count: ids.length, when: 'pending', after: ids[0], before: ids[ids.length - 1] });
      }
      if (claimed.entries.length === 0) continue;
      this.stats.entriesRead += claimed.entries.length;
      this.stats.entriesClaimed += claimed.entries.length;
      handled += claimed.entries.length;
      await this.handleRedelivered(claimed.entries);
    } while (cursor !== '0-0' && !this.stopping);
    return handled;
  }

  private async handleRedelivered(entries: StreamEntry[]): Promise<void> {
    const { key, group, maxDeliveries } = this.options;
    const counts = await deliveryCounts(this.deps.redis, key, group, entries.map((e) => e.id));
    // Delivered maxDeliveries times without an acknowledgement: it may be what kills its consumers.
    const exhausted = entries.filter((e) => (counts.get(e.id) ?? 0) > maxDeliveries);
    for (const e of exhausted) await this.deadLetter(e, counts.get(e.id) ?? 0, 'delivered without acknowledgement too often (its consumers crashed or timed out)');
    const rest = entries.filter((e) => !exhausted.includes(e));
    if (rest.length === 0) return;
    try {
      await this.processBatch(rest, true);
      return;
    } catch (error) {
      this.stats.batchFailures++;
      this.log(`stream consumer: redelivered batch of ${rest.length} failed (${(error as Error).message}); retrying one entry at a time`);
    }
    for (const entry of rest) {
      try {
        await this.processBatch([entry], true);
      } catch (error) {
        this.stats.batchFailures++;
        const deliveries = counts.get(entry.id) ?? 1;
        if (deliveries >= maxDeliveries && (await this.storeIsHealthy())) await this.deadLetter(entry, deliveries, (error as Error).message);
        else this.log(`stream consumer: entry ${entry.id} failed (delivery ${deliveries} of ${maxDeliveries}): ${(error as Error).message}`);
      }
    }
  }

  private async storeIsHealthy(): Promise<boolean> {
    try {
      await sql`select 1`.execute(this.deps.store.db);
      return true;
    } catch {
      return false;
    }
  }

  private async deadLetter(entry: StreamEntry, deliveries: number, reason: string): Promise<void> {
    const fields = Object.entries(entry.fields).flat();
    await this.deps.redis.call('XADD', [this.deadLetterKey, '*', ...fields, 'dead_entry_id', entry.id, 'dead_stream', this.options.key, 'dead_deliveries', String(deliveries), 'dead_reason', reason.slice(0, 1000), 'dead_consumer', this.options.consumer, 'dead_at', new Date().toISOString()]);
    await ackEntries(this.deps.redis, this.options.key, this.options.group, [entry.id]);
    this.failedEntries.delete(entry.id);
    this.stats.deadLettered++;
    this.log(`stream consumer: entry ${entry.id} moved to ${this.deadLetterKey} after ${deliveries} deliveries: ${reason}`);
  }

  /**
   * One batch, start to acknowledgement. `redelivered`: the entries may have been stored by an
   * attempt that died before acknowledging, so their symbols' features are recomputed even when the
   * bars turn out to be stored already.
   */
  private async processBatch(entries: readonly StreamEntry[], redelivered: boolean, decoded?: BatchQuality, askedOlderPending?: Promise<boolean>): Promise<void> {
    const started = performance.now();
    const { key, group, quality: policy } = this.options;
    const checked = withoutUnreadKinds(decoded ?? checkLiveBatch(entries, key), this.readableKind);
    const bars = checked.accepted.map((a) => a.bar);
    let t = this.timed('decode', started);
    // Whether an entry older than these may still be written after them (then they record which
    // entry wrote each bar): a redelivery, or an older entry pending. Answered while the batch is classified.
    const olderPending = redelivered ? Promise.resolve(true) : (askedOlderPending ?? this.olderPendingThan(entries[0].id));
    // An import published since: its symbols' windows (and vectors) follow the store before the
    // batch is judged against them, as when the consumer starts.
    const imported = await this.publishes.poll(this.deps.store);
    if (imported.length > 0) await this.absorbForeignWrites(imported, Date.now());
    await this.windows.ensure(this.deps.store, bars.map((b) => b.symbol));
    const classified = await this.windows.classify(this.deps.store, bars);
    // Corrections and late bars judged against the stored bars around them, as an import's rows
    // are: the bars these rules reject are neither written nor recorded as the entry holding the bar.
    const judged = await judgeLiveAgainstStored(classified, { read: (symbol, range) => this.storedBars(symbol, range), held: (symbol, sessions) => this.windows.bars(symbol).slice(-sessions), around: (symbol, first, last) => storedBarsAround(this.deps.store, symbol, first, last, STRAY_NEWEST_BARS) }, policy, this.windows);
    // A rejected correction produced before the stored version (an old segment replayed) is stale, as
    // the write would find it: counted so, and no finding. The rules judge it on the store as it is now,
    // which a later version may have moved to another basis (every replayed bar a "splice").
    const revisedRejected = [...judged.rejected.keys()].filter((i) => classified[i].change === 'revised' && checked.accepted[i].eventTime !== undefined);
    const staleRejected = revisedRejected.length === 0 ? new Set<number>() : new Set([...(await olderThanStoredVersions(this.deps.store, revisedRejected.map((i) => ({ symbol: classified[i].bar.symbol, date: classified[i].bar.date, eventTime: checked.accepted[i].eventTime }))))].map((k) => revisedRejected[k]));
    const judgedIssues: QualityIssue[] = [];
    for (const [i, q] of judged.rejected) if (!staleRejected.has(i)) judgedIssues.push({ ...q, source: checked.accepted[i].source, raw: checked.accepted[i].raw });
    for (const q of judged.flags) {
      const at = checked.accepted.find((a) => a.bar.symbol === q.symbol && a.bar.date === q.date);
      judgedIssues.push(at ? { ...q, source: at.source, raw: at.raw } : { ...q, source: key });
    }
    // Stored glitches the batch reveals: quarantined with their stored values (raw) and what stored
    // them, from the revealing bar's source; dropped again below if the write does not retract them.
    const retractionIssues = new Map<string, QualityIssue>();
    for (const r of judged.retracted) {
      const at = checked.accepted.find((a) => a.bar.symbol === r.bar.symbol && r.revealedBy.includes(a.bar.date));
      const q = retractionFinding(r, await describeStoredVersion(this.deps.store.db, r.bar.symbol, r.bar.date));
      retractionIssues.set(`${r.bar.symbol}\u0000${r.bar.date}`, { ...q, source: at?.source ?? key });
    }
    /** Per symbol, the dates of its stored bars the batch retracts: no neighbour of its bars' flags. */
    const retractedDates = new Map<string, Set<string>>();
    for (const r of judged.retracted) retractedDates.set(r.bar.symbol, (retractedDates.get(r.bar.symbol) ?? new Set<string>()).add(r.bar.date));

    const toWrite: Bar[] = [];
    /** Every accepted bar with its entry, repeats included: the store records which entry holds each bar. */
    const writes: LiveBarWrite[] = [];
    const changedBySymbol = new Map<string, { bars: Bar[]; at: Map<string, { source: string; raw: string }> }>();
    classified.forEach((c, i) => {
      if (judged.rejected.has(i)) return;
      writes.push({ bar: c.bar, entryId: checked.accepted[i].entryId, change: c.change, eventTime: checked.accepted[i].eventTime });
      if (c.change === 'duplicate') return;
      toWrite.push(c.bar);
      if (c.inWindow) {
        const changed = changedBySymbol.get(c.bar.symbol) ?? { bars: [], at: new Map<string, { source: string; raw: string }>() };
        changed.bars.push(c.bar);
        // The accepted bar itself: its source and raw text are made only if a flag needs them.
        changed.at.set(c.bar.date, checked.accepted[i]);
        changedBySymbol.set(c.bar.symbol, changed);
      }
    });
    // Series flags against the windows as they will be; quarantine first, so a retry after a
    // failed write (which finds the bars stored and changes nothing) has not lost them.
    const flags: QualityIssue[] = [];
    /** Gaps flagged when a bar after them came first, which late bars of this batch fill. */
    const filled: QualityIssue[] = [];
    for (const [symbol, changed] of changedBySymbol) {
      const gone = retractedDates.get(symbol);
      const preview = this.windows.preview(symbol, changed.bars);
      flags.push(...seriesFlags(gone ? preview.filter((b) => !gone.has(b.date)) : preview, changed.at, policy));
      const window = this.windows.bars(symbol);
      const late = window.length > 0 ? changed.bars.filter((b) => b.date < window[window.length - 1].date) : [];
      if (late.length > 0) filled.push(...filledGaps(window, late, policy));
    }
    t = this.timed('classify', t);
    const issues = [...checked.rejected, ...judgedIssues, ...retractionIssues.values(), ...flags];
    if (filled.length > 0) await discardQuarantineFindings(this.deps.store, this.snapshotId, filled);
    if (issues.length > 0) await saveQuarantine(this.deps.store, this.snapshotId, issues);
    t = this.timed('flags', t);

    await this.deps.hooks?.beforeWrite?.(entries);
    // In key order (one bar per symbol and date here): consecutive rows land on the same index pages.
    writes.sort((a, b) => byKey(a.bar, b.bar));
    const { outcomes, retracted } = await writeLiveBatch(this.deps.store, writes, { stream: this.snapshotId, contiguous: !redelivered, record: await olderPending }, judged.retracted);
    t = this.timed('write', t);
    // Findings of retractions the write did not make (the revealing bar not written, the stored bar changed meanwhile) describe nothing.
    const madeRetractions = new Set(retracted.map((r) => `${r.bar.symbol}\u0000${r.bar.date}`));
    const unmade = [...retractionIssues].filter(([k]) => !madeRetractions.has(k)).map(([, q]) => q);
    if (unmade.length > 0) await discardQuarantine(this.deps.store, this.snapshotId, unmade);
    const counts = { duplicate: checked.duplicatesInBatch, revised: checked.supersededInBatch, late: 0, stored: 0, superseded: 0, stale: checked.staleInBatch + staleRejected.size };
    /** Bars a newer entry of the stream had written, or older by event_time than the stored version: neither stored nor in the windows. */
    const superseded = new Set<Bar>();
    const stale: string[] = [...staleRejected].map((i) => `${classified[i].bar.symbol} ${classified[i].bar.date} (entry ${checked.accepted[i].entryId}, produced ${checked.accepted[i].eventTime ?? '?'})`);
    outcomes.forEach((outcome, k) => {
      if (outcome === 'superseded') {
        counts.superseded++;
        superseded.add(writes[k].bar);
      } else if (outcome === 'stale') {
        counts.stale++;
        superseded.add(writes[k].bar);
        stale.push(`${writes[k].bar.symbol} ${writes[k].bar.date} (entry ${writes[k].entryId}, produced ${writes[k].eventTime ?? '?'})`);
      } else if (outcome === 'unchanged') counts.duplicate++;
      else {
        counts.stored++;
        if (outcome === 'revised') counts.revised++;
      }
    });
    // Flags were saved ahead of the write (a retry finds the bars stored and would not make them
    // again); those of bars the write did not store (older by event_time, held by a newer entry)
    // describe nothing stored and go.
    let keptFlags = flags;
    let keptJudged = judgedIssues;
    if (superseded.size > 0) {
      const unwritten = new Set<string>();
      const acceptedByEntry = new Map(checked.accepted.map((a) => [a.entryId, a]));
      writes.forEach((w, k) => {
        if (outcomes[k] === 'superseded' || outcomes[k] === 'stale') unwritten.add((acceptedByEntry.get(w.entryId) as AcceptedLiveBar).source);
      });
      const dropped = (q: QualityIssue): boolean => q.severity === 'flag' && unwritten.has(q.source);
      const discarded = [...judgedIssues, ...flags].filter(dropped);
      if (discarded.length > 0) {
        await discardQuarantine(this.deps.store, this.snapshotId, discarded);
        keptFlags = flags.filter((q) => !dropped(q));
        keptJudged = judgedIssues.filter((q) => !dropped(q));
      }
    }
    if (checked.staleInBatch > 0) this.log(`stream consumer: ${checked.staleInBatch} entries of the batch ${entries[0].id}..${entries[entries.length - 1].id} were produced earlier (the earlier of event_time and their entry's time) than another entry of theirs in it, and were dropped`);
    if (stale.length > 0) this.log(`stream consumer: ${stale.length} bars produced earlier (the earlier of event_time and their entry's time) than their stored version changed nothing: ${stale.slice(0, 10).join(', ')}${stale.length > 10 ? ', …' : ''}`);
    const stored = superseded.size === 0 ? toWrite : toWrite.filter((b) => !superseded.has(b));
    /** Oldest late in-window bar stored per symbol: where cross-sections may need recomputing. */
    const lateFrom = new Map<string, string>();
    for (const c of classified) {
      if (!c.late || c.change === 'duplicate' || superseded.has(c.bar)) continue;
      counts.late++;
      const oldest = lateFrom.get(c.bar.symbol);
      if (c.inWindow && (oldest === undefined || c.bar.date < oldest)) lateFrom.set(c.bar.symbol, c.bar.date);
    }
    // Memory follows the store only once the write is committed. A retracted bar leaves its window
    // as a revision of a past bar does: the window is read again, and the cross-sections from its
    // date on are recomputed (markLate below).
    const changedSymbols = this.windows.commit(stored);
    const retractedSymbols = [...new Set(retracted.map((r) => r.bar.symbol))];
    if (retractedSymbols.length > 0) await this.windows.reload(this.deps.store, retractedSymbols);
    for (const r of retracted) {
      changedSymbols.add(r.bar.symbol);
      const oldest = lateFrom.get(r.bar.symbol);
      if (oldest === undefined || r.bar.date < oldest) lateFrom.set(r.bar.symbol, r.bar.date);
    }
    const written = [...new Set([...stored.map((b) => b.symbol), ...retractedSymbols])];
    const foreign = await this.revisions.afterWrite(written);
    if (this.revisions.lost) await this.reloadIfCountersLost(Date.now());
    else if (foreign.length > 0) await this.windows.reload(this.deps.store, foreign);
    t = this.timed('revisions', t);

    await this.deps.hooks?.beforePublish?.(entries);
    const recompute = new Set([...[...changedSymbols].filter((s) => changedBySymbol.has(s) || retractedSymbols.includes(s)), ...foreign]);
    if (redelivered) for (const b of bars) recompute.add(b.symbol);
    const now = Date.now();
    const published = new Set<string>();
    for (const updater of this.updaters) {
      for (const [symbol, date] of lateFrom) updater.markLate(symbol, date, now);
      const { ready, waiting } = updater.updateSymbols(recompute, now);
      t = this.timed('features', t);
      const publish = async (symbols: readonly string[]): Promise<void> => {
        this.stats.vectorsPublished += await this.publishVectors(updater, symbols);
        // Just written with the newest cross-section: no need to write them again.
        for (const s of symbols) this.republish.get(updater)?.delete(s);
        for (const s of symbols) published.add(s);
      };
      if (waiting.length === 0) {
        await publish(ready);
        t = this.timed('publish', t);
        continue;
      }
      // Symbols never part of a cross-section yet (all of them at start, later new listings): every
      // such date's cross-section is computed now, on the thread while the others' vectors are written.
      this.stats.crossSectionRefreshes++;
      const dates = updater.datesLackingCrossSection();
      const job = this.thread ? updater.prepareCrossSection(dates, now) : undefined;
      const rows = job && this.thread?.compute(job);
      rows?.catch(() => undefined); // awaited below
      t = this.timed('features:first cross-section', t);
      await publish(ready);
      t = this.timed('publish', t);
      let changed: string[];
      try {
        changed = rows ? updater.applyCrossSection(await rows) : updater.refreshCrossSection(dates, now);
      } catch {
        changed = updater.refreshCrossSection(dates, now); // the thread failed: here then
      }
      this.queueRepublish(updater, changed);
      t = this.timed('features:first cross-section', t);
      await publish(waiting);
      t = this.timed('publish', t);
    }
    const publishedAt = Date.now();
    const latencies: number[] = [];
    for (const a of checked.accepted) if (published.has(a.bar.symbol)) latencies.push(publishedAt - entryTimeMs(a.entryId));

    for (const s of written) this.outcomeSymbols.add(s);
    if (redelivered) for (const b of bars) this.outcomeSymbols.add(b.symbol);
    if (this.options.outcomeIntervalMs === 0) await this.recordOutcomes(publishedAt, true);

    await this.deps.hooks?.beforeAck?.(entries);
    t = performance.now();
    await ackEntries(this.deps.redis, key, group, entries.map((e) => e.id));
    this.timed('ack', t);
    const last = entries[entries.length - 1].id;
    if (this.lastProcessed === undefined || entryKey(last) > entryKey(this.lastProcessed)) this.lastProcessed = last;
    if (this.failedEntries.size > 0) for (const e of entries) this.failedEntries.delete(e.id);

    this.stats.batches++;
    this.stats.barsStored += counts.stored;
    this.stats.barsSuperseded += counts.superseded;
    this.stats.barsStale += counts.stale;
    this.stats.barsDuplicate += counts.duplicate;
    this.stats.barsRevised += counts.revised;
    this.stats.barsLate += counts.late;
    for (const q of [...checked.rejected, ...keptJudged, ...[...retractionIssues].filter(([k]) => madeRetractions.has(k)).map(([, q]) => q)]) {
      if (q.severity === 'reject') this.stats.quarantinedByRule[q.rule] = (this.stats.quarantinedByRule[q.rule] ?? 0) + 1;
      else this.stats.flaggedByRule[q.rule] = (this.stats.flaggedByRule[q.rule] ?? 0) + 1;
    }
    for (const q of keptFlags) this.stats.flaggedByRule[q.rule] = (this.stats.flaggedByRule[q.rule] ?? 0) + 1;
    this.prometheus?.batchDuration.observe((performance.now() - started) / 1000);
    for (const ms of latencies) this.prometheus?.endToEndLatency.observe(ms / 1000);
    if (latencies.length > 0) this.deps.hooks?.onLatency?.(latencies);
  }
}
