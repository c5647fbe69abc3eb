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
import type { LiveBarInput } from './live-bar';
import type { BarStreamProducer } from './producer';

export interface LiveBarProvider {
  readonly name: string;
  /**
   * Starts delivering bars. `onBars` is awaited before more are delivered, so a slow stream slows
   * the provider instead of growing a queue. Resolves once started.
   */
  start(onBars: (bars: LiveBarInput[]) => Promise<void>): Promise<void>;
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
   * They count as delivered only once onBars resolves, so a failed publish is retried next poll.
   */
  async poll(onBars: (bars: LiveBarInput[]) => Promise<void>, signal?: AbortSignal): Promise<number> {
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
    const seenNow: Array<[Map<string, string>, string, string]> = [];
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
        seenNow.push([seen, b.date, fingerprint]);
        out.push({ symbol: b.symbol, date: b.date, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source: `${this.name}:${source}`.slice(0, 200), eventTime: clock.toISOString() });
      }
      for (const date of seen.keys()) if (date < from) seen.delete(date);
    }
    if (out.length > 0) await onBars(out);
    for (const [seen, date, fingerprint] of seenNow) seen.set(date, fingerprint);
    return out.length;
  }

  async start(onBars: (bars: LiveBarInput[]) => Promise<void>): Promise<void> {
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
    await producer.publish(bars);
    onPublished?.(bars.length);
  });
  return () => provider.stop();
}
