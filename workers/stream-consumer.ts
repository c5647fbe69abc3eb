/**
 * The live-bar consumer process: reads STREAM_KEY in consumer group STREAM_GROUP, stores bars,
 * keeps the online features current and records matured outcomes; Prometheus metrics on
 * STREAM_METRICS_ADDRESS. SIGINT/SIGTERM finish and acknowledge the current batch, then exit.
 *   npm run stream:consume -- [--consumer name] [--batch-size 20000] [--feature-set fs-…|file.json …]
 */
import os from 'node:os';
import { Command } from 'commander';
import { z } from 'zod';
import { alertChannelNames } from '../lib/alerts/channels';
import { openArtifactStore } from '../lib/artifacts/artifact-store';
import { openCache } from '../lib/cache/open-cache';
import { configuredSigning, loadConfig } from '../lib/config';
import { describeValidationError } from '../lib/errors';
import { startMetricsServer } from '../lib/metrics/metrics-server';
import { openDatabase } from '../lib/store/database';
import { BarStreamConsumer } from '../lib/streaming/consumer';
import { resolveStreamFeatureSets } from '../lib/streaming/feature-sets';
import { openStreamRedis } from '../lib/streaming/redis-streams';
import { totalOf } from '../lib/streaming/stream-metrics';

const int = (min: number) => z.coerce.number().int().min(min);
const flagsSchema = z.object({
  consumer: z.string().regex(/^[\w.@:-]{1,200}$/, 'letters, digits and _ . @ : - only').default(`${os.hostname()}-${process.pid}`),
  batchSize: int(1).max(50_000).optional(),
  blockMs: int(1).max(60_000).optional(),
  claimIdleMs: int(0).optional(),
  claimIntervalMs: int(10).optional(),
  maxDeliveries: int(1).optional(),
  windowBars: int(30).optional(),
  crossSectionIntervalMs: int(0).optional(),
  outcomeIntervalMs: int(0).optional(),
  startId: z.string().optional(),
  featureSet: z.array(z.string().min(1)).default([]),
  logEverySeconds: int(1).default(30),
});

function parseFlags(): z.infer<typeof flagsSchema> {
  const opts = new Command()
    .name('stream-consumer')
    .option('--consumer <name>', 'consumer name in the group (default: host-pid)')
    .option('--batch-size <n>', 'entries per read')
    .option('--block-ms <ms>', 'how long a read waits for entries')
    .option('--claim-idle-ms <ms>', 'take over entries pending longer than this')
    .option('--claim-interval-ms <ms>', 'how often to look for them')
    .option('--max-deliveries <n>', 'deliveries before an entry that keeps failing is dead-lettered')
    .option('--window-bars <n>', 'bars per symbol kept for the online features')
    .option('--cross-section-interval-ms <ms>', 'longest wait before an incomplete date’s cross-section is recomputed')
    .option('--outcome-interval-ms <ms>', 'longest wait before matured outcomes are recorded')
    .option('--start-id <id>', 'where a new group starts: 0 (whole stream) or $ (new entries only)')
    .option('--feature-set <ref...>', 'feature-set versions or JSON files to keep online (default: those of the served models)')
    .option('--log-every-seconds <n>', 'progress line interval')
    .parse()
    .opts();
  const parsed = flagsSchema.safeParse(opts);
  if (!parsed.success) throw new Error(`invalid flags: ${describeValidationError(parsed.error)}`);
  return parsed.data;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const flags = parseFlags();
  const redis = openStreamRedis(config.redisUrl, 'The stream consumer');
  const blockingRedis = redis.duplicate();
  const store = await openDatabase(config.databaseUrl);
  const cache = openCache(config.redisUrl);
  const { sets, origin } = await resolveStreamFeatureSets(store, flags.featureSet);
  const consumer = new BarStreamConsumer(
    { redis, blockingRedis, store, cache, artifacts: openArtifactStore(config.artifacts), featureSets: sets, alertChannels: alertChannelNames(config), signing: configuredSigning(config) },
    {
      key: config.streamKey,
      group: config.streamGroup,
      consumer: flags.consumer,
      batchSize: flags.batchSize,
      blockMs: flags.blockMs,
      claimIdleMs: flags.claimIdleMs,
      claimIntervalMs: flags.claimIntervalMs,
      maxDeliveries: flags.maxDeliveries,
      windowBars: flags.windowBars,
      crossSectionIntervalMs: flags.crossSectionIntervalMs,
      outcomeIntervalMs: flags.outcomeIntervalMs,
      startId: flags.startId,
    },
  );
  const server = await startMetricsServer(config.streamMetricsAddress, consumer.metrics.registry);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`stream consumer: ${signal}, finishing the current batch`);
    void consumer.stop();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  await consumer.start();
  console.log(
    `stream consumer ready: ${config.streamKey} group ${config.streamGroup} as ${flags.consumer}; store ${store.description}; ` +
      `online features ${sets.map((s) => s.version).join(', ')} (${origin}); metrics ${server.url}`,
  );
  const progress = setInterval(() => {
    const s = consumer.stats;
    console.log(
      `stream consumer: ${s.entriesRead} read (${s.entriesClaimed} claimed), ${s.barsStored} stored (${s.barsRevised} revised), ${s.barsLate} late, ${s.barsDuplicate} duplicate, ${s.barsSuperseded} superseded by newer entries, ` +
        `${totalOf(s.quarantinedByRule)} quarantined, ${s.deadLettered} dead-lettered, ${s.trimmed} lost to trimming, ${s.vectorsPublished} vectors, ${s.outcomesRecorded} outcomes, ${s.pending} pending`,
    );
  }, flags.logEverySeconds * 1000);
  try {
    await consumer.run();
  } finally {
    clearInterval(progress);
    await consumer.close();
    await server.close();
    blockingRedis.disconnect();
    await redis.quit();
    await cache.close();
    await store.close();
    console.log('stream consumer stopped');
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
