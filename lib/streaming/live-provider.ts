/**
 * Real-time feeds. A team plugs its broker's or vendor's feed in by implementing LiveBarProvider
 * (a websocket client calls onBars per message; a poller per poll) and piping it into the stream.
 * Providers need not order or deduplicate: the consumer stores late bars, counts duplicates and
 * lets corrections win.
 */
import { addDays } from '../calendar/dates';
import { readBarCsv } from '../market-data/csv-reader';
import { newYorkDate, openSession } from '../quality/rules';
import { ProviderError, type HistoricalBarProvider } from '../market-data/providers/provider';
import { entryTimeMs, type LiveBarInput } from './live-bar';
import type { BarStreamProducer } from './producer';
import { liveTimingAccepted } from './stream-quality';

/**
 * Takes delivered bars to the stream. It may resolve with the stream entry ids of the bars, in
 * order (BarStreamProducer.publish's answer): their time is the stream's clock, the one the
 * consumer judges by, so a provider can tell which bars the consumer will reject for their timing.
 */
export type OnBars = (bars: LiveBarInput[]) => Promise<readonly string[] | void>;

/**
 * How far the producer's clock may differ from the stream's before a poll reports it: hosts kept by
 * NTP agree within milliseconds; the rest is the time a publish takes.
 */
export const PRODUCER_CLOCK_ALLOWANCE_MS = 2_000;

export interface LiveBarProvider {
  readonly name: string;
  /**
   * Starts delivering bars. `onBars` is awaited before more are delivered, so a slow stream slows
   * the provider instead of growing a queue. Resolves once started.
   */
  start(onBars: OnBars): Promise<void>;
  /** Stops delivering; resolves when no onBars call is running any more. */
  stop(): Promise<void>;
}

export interface PollingProviderOptions {
  symbols: readonly string[];
  /** Time between the end of one poll and the start of the next. */
  intervalMs?: number;
  /** Calendar days asked for on every poll, so a late or corrected bar within them is picked up. */
  lookbackDays?: number;
  now?: () => Date;
  onError?: (symbol: string, error: Error) => void;
}

/**
 * Polls a historical provider (Stooq's daily CSV, …) for the last `lookbackDays` of each symbol and
 * delivers the bars it has not delivered before, or whose values changed since (corrections).
 * A bar counts as delivered once the consumer will take it: when onBars returns the entry ids, one
 * whose timing the consumer rejects (appended before its session was final by the stream's clock,
 * or an event_time too far ahead of it: this host's clock differs from the stream's) is delivered
 * again at the next poll instead of being lost for good.
 */
export class PollingBarProvider implements LiveBarProvider {
  readonly name: string;
  private readonly intervalMs: number;
  private readonly lookbackDays: number;
  private readonly now: () => Date;
  /** What was delivered, per symbol and date, as a value fingerprint. */
  private readonly delivered = new Map<string, Map<string, string>>();
  private readonly unknown = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = true;

  constructor(
    private readonly source: HistoricalBarProvider,
    private readonly options: PollingProviderOptions,
  ) {
    this.name = `poll:${source.name}`;
    this.intervalMs = options.intervalMs ?? 60_000;
    this.lookbackDays = options.lookbackDays ?? 10;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * One poll of every symbol: delivers the bars that are new or changed since the last delivery.
   * They count as delivered only once onBars resolves, so a failed publish is retried next poll, and
   * (given the entry ids) only those whose timing the consumer accepts.
   */
  async poll(onBars: OnBars, signal?: AbortSignal): Promise<number> {
    const clock = this.now();
    const today = clock.toISOString().slice(0, 10);
    // A bar of a session that is not final yet (before its close plus the margin the consumer's
    // session_not_closed rule allows, or dated after New York's date) would be rejected by the
    // consumer: it is neither delivered nor remembered, so it is delivered once final even when its
    // values have not changed since (a poll at 16:05 reads the day's final values; had they been
    // delivered then and remembered, the day would never have been stored).
    const newYorkToday = newYorkDate(clock);
    const unfinished = openSession(clock)?.date;
    const from = addDays(today, -this.lookbackDays);
    const out: LiveBarInput[] = [];
    const seenNow: Array<[Map<string, string>, string, string, LiveBarInput]> = [];
    for (const symbol of this.options.symbols) {
      if (this.unknown.has(symbol)) continue;
      let csv: string;
      let source: string;
      let resolved: string;
      try {
        const response = await this.source.fetchDaily(symbol, { from, to: today }, signal);
        ({ csv, source, symbol: resolved } = response);
      } catch (error) {
        // An unknown symbol stays unknown; anything else is asked again at the next poll.
        if (error instanceof ProviderError && !error.retryable) this.unknown.add(symbol);
        this.options.onError?.(symbol, error as Error);
        continue;
      }
      const read = readBarCsv(csv, { source, format: this.source.format, symbol: resolved });
      // A body that is no price table (a rate-limit or error text served with 200) gives no bars:
      // said, as a failed request is, rather than passed over as a poll with nothing new.
      if (read.unreadable !== undefined) {
        this.options.onError?.(symbol, new ProviderError(`${this.source.name} answered for ${symbol} with a body that is no price table (${source}): ${read.unreadable.slice(0, 300)}; asked again at the next poll`, true));
        continue;
      }
      const seen = this.delivered.get(resolved) ?? new Map<string, string>();
      this.delivered.set(resolved, seen);
      for (const b of read.bars) {
        if (b.date < from || b.date > newYorkToday || b.date === unfinished) continue;
        const fingerprint = `${b.open}|${b.high}|${b.low}|${b.close}|${b.volume}`;
        if (seen.get(b.date) === fingerprint) continue;
        const bar: LiveBarInput = { symbol: b.symbol, date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source: `${this.name}:${source}`.slice(0, 200), eventTime: clock.toISOString() };
        seenNow.push([seen, b.date, fingerprint, bar]);
        out.push(bar);
      }
      for (const date of seen.keys()) if (date < from) seen.delete(date);
    }
    if (out.length === 0) return 0;
    const before = this.now().getTime();
    const ids = await onBars(out);
    const after = this.now().getTime();
    const judged = ids !== undefined && ids.length === out.length;
    if (ids !== undefined && !judged) this.options.onError?.('*', new Error(`onBars returned ${ids.length} stream entry ids for ${out.length} bars; the bars count as delivered`));
    if (judged) this.reportClockOffset(ids, before, after);
    seenNow.forEach(([seen, date, fingerprint, bar], i) => {
      // Judged as the consumer will, its clock taken as the stream's (it reads what was just
      // appended), or as this one's for an id without a time: a bar it rejects for its timing stays
      // undelivered, so it goes again at the next poll, not sooner.
      if (judged) {
        const appended = entryTimeMs(ids[i]);
        if (!liveTimingAccepted(date, bar.eventTime, ids[i], Number.isNaN(appended) ? after : appended)) return;
      }
      seen.set(date, fingerprint);
    });
    return out.length;
  }

  /**
   * Says once per poll how far this host's clock is from the stream's, when beyond the allowance:
   * the entries were appended between `before` and `after` by this clock. Such a clock stamps
   * event_times the consumer rejects (more than 5 minutes ahead) and judges too early or too late
   * when a session is final.
   */
  private reportClockOffset(ids: readonly string[], before: number, after: number): void {
    let ahead = 0;
    let behind = 0;
    for (const id of ids) {
      const appended = entryTimeMs(id);
      if (Number.isNaN(appended)) continue;
      ahead = Math.max(ahead, before - appended);
      behind = Math.max(behind, appended - after);
    }
    const [offset, way] = ahead >= behind ? [ahead, 'ahead of'] : [behind, 'behind'];
    if (offset <= PRODUCER_CLOCK_ALLOWANCE_MS) return;
    this.options.onError?.('*', new Error(`the producer's clock is ${Math.round(offset / 1000)} s ${way} the stream's (Redis's), judged by the entry ids of this poll's ${ids.length} bars: event_times are stamped and sessions judged final by this host's clock, so bars the consumer rejects for their timing are delivered again at each poll until the clocks agree; synchronise this host's clock (NTP)`));
  }

  async start(onBars: OnBars): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    const tick = async (): Promise<void> => {
      try {
        await this.poll(onBars);
      } catch (error) {
        this.options.onError?.('*', error as Error);
      }
      if (!this.stopped) this.timer = setTimeout(() => (this.polling = tick()), this.intervalMs);
    };
    this.polling = tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.polling;
  }
}

/** Publishes whatever the provider delivers to the stream; returns the function that stops it. */
export async function pipeProviderToStream(provider: LiveBarProvider, producer: BarStreamProducer, onPublished?: (count: number) => void): Promise<() => Promise<void>> {
  await provider.start(async (bars) => {
    const ids = await producer.publish(bars);
    onPublished?.(bars.length);
    return ids;
  });
  return () => provider.stop();
}
