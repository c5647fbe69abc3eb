/**
 * Replay producer: turns stored bars or a CSV history into a live stream (STREAM_KEY) at a chosen
 * pace, optionally with a drift injected into one column from a date. With --poll-stooq it is a
 * live producer instead, publishing Stooq's newest daily bars for --symbols until stopped.
 *
 *   npm run stream:replay -- --csv ../shared/data/sp500-2013-2018 --from 2018-01-01 --days-per-second 2
 *   npm run stream:replay -- --from-store --symbols AAPL,MSFT --bars-per-second 500
 *   npm run stream:replay -- --csv data/ --max --drift-column volume --drift-factor 3 --drift-from 2017-06-01
 *   npm run stream:replay -- --poll-stooq --symbols AAPL,MSFT --poll-interval-seconds 300
 */
import { loadConfig } from '../lib/config';
import { StooqProvider } from '../lib/market-data/providers/stooq';
import { openDatabase } from '../lib/store/database';
import { PollingBarProvider, pipeProviderToStream } from '../lib/streaming/live-provider';
import type { LiveBarInput } from '../lib/streaming/live-bar';
import { BarStreamProducer } from '../lib/streaming/producer';
import { openStreamRedis } from '../lib/streaming/redis-streams';
import { injectDrift, loadCsvBarsForReplay, loadStoredBarsForReplay, replayToStream, type ReplayPace } from '../lib/streaming/replay';
import { parseReplayFlags, type ReplayFlags as Flags } from './replay-stream-flags';

function paceOf(flags: Flags): ReplayPace {
  if (flags.barsPerSecond !== undefined) return { kind: 'bars', perSecond: flags.barsPerSecond };
  if (flags.daysPerSecond !== undefined) return { kind: 'days', perSecond: flags.daysPerSecond };
  return { kind: 'max' };
}

async function loadBars(flags: Flags, databaseUrl: string): Promise<LiveBarInput[]> {
  const range = { symbols: flags.symbols, from: flags.from, to: flags.to };
  if (flags.csv !== undefined) {
    const { bars, skipped } = await loadCsvBarsForReplay(flags.csv, { ...range, format: flags.format });
    if (Object.keys(skipped).length > 0) console.log(`replay: rows the CSV reader rejected, not sent: ${JSON.stringify(skipped)}`);
    return bars;
  }
  const store = await openDatabase(databaseUrl);
  try {
    return await loadStoredBarsForReplay(store, range);
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  const flags = parseReplayFlags(process.argv.slice(2));
  const key = flags.stream ?? config.streamKey;
  const group = flags.group ?? config.streamGroup;
  const redis = openStreamRedis(config.redisUrl, 'The replay producer');
  const producer = new BarStreamProducer(redis, { key, maxLen: flags.maxLen });
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort(new Error('interrupted')));
  process.once('SIGTERM', () => abort.abort(new Error('terminated')));
  try {
    if (flags.pollStooq) {
      const provider = new PollingBarProvider(new StooqProvider({ baseUrl: flags.stooqUrl }), {
        symbols: flags.symbols ?? [],
        intervalMs: flags.pollIntervalSeconds * 1000,
        lookbackDays: flags.lookbackDays,
        onError: (symbol, error) => console.error(`stooq ${symbol}: ${error.message}`),
      });
      const stop = await pipeProviderToStream(provider, producer, (n) => console.log(`stooq: ${n} new or corrected bars published to ${key}`));
      console.log(`polling Stooq every ${flags.pollIntervalSeconds} s for ${(flags.symbols ?? []).join(', ')} into ${key}; Ctrl-C stops`);
      await new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
      await stop();
      return;
    }
    let bars = await loadBars(flags, config.databaseUrl);
    if (bars.length === 0) throw new Error('nothing to replay: no bars match the source, symbols and dates given');
    if (flags.driftColumn !== undefined) {
      bars = injectDrift(bars, { column: flags.driftColumn, factor: flags.driftFactor as number, from: flags.driftFrom as string, symbols: flags.driftSymbols });
      console.log(`replay: ${flags.driftColumn} × ${flags.driftFactor} from ${flags.driftFrom}${flags.driftSymbols ? ` for ${flags.driftSymbols.join(', ')}` : ''}`);
    }
    const pace = paceOf(flags);
    console.log(`replay: ${bars.length} bars, ${bars[0].date}..${bars[bars.length - 1].date}, into ${key} at ${pace.kind === 'max' ? 'full speed' : `${pace.perSecond} ${pace.kind}/s`}`);
    let lastLog = 0;
    const result = await replayToStream(producer, bars, {
      pace,
      group: flags.maxBacklog > 0 ? group : undefined,
      maxBacklog: flags.maxBacklog > 0 ? flags.maxBacklog : undefined,
      signal: abort.signal,
      onProgress: (p) => {
        if (p.elapsedMs - lastLog < 1000) return;
        lastLog = p.elapsedMs;
        console.log(`replay: ${p.sent}/${p.total} sent, ${Math.round((p.sent * 1000) / p.elapsedMs)} bars/s${p.throttledMs > 0 ? `, ${(p.throttledMs / 1000).toFixed(1)} s waiting for the consumers` : ''}`);
      },
    });
    console.log(`replay done: ${result.sent} bars in ${(result.elapsedMs / 1000).toFixed(2)} s (${Math.round((result.sent * 1000) / Math.max(1, result.elapsedMs))} bars/s)`);
  } finally {
    await redis.quit();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
