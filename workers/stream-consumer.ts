/**
 * The live-bar consumer process: reads STREAM_KEY in consumer group STREAM_GROUP, stores bars,
 * keeps the online features current and records matured outcomes; Prometheus metrics on
 * STREAM_METRICS_ADDRESS. SIGINT/SIGTERM finish and acknowledge the current batch, then exit.
 *   npm run stream:consume -- [--consumer name] [--batch-size 20000] [--feature-set fs-…|file.json …]
 */
import { alertChannelNames } from '../lib/alerts/channels';
import { openArtifactStore } from '../lib/artifacts/artifact-store';
import { openCache } from '../lib/cache/open-cache';
import { configuredSigning, loadConfig } from '../lib/config';
import { startMetricsServer } from '../lib/metrics/metrics-server';
import { assertSigningKeyWhereSigned } from '../lib/registry/signing-key-required';
import { openDatabase } from '../lib/store/database';
import { BarStreamConsumer } from '../lib/streaming/consumer';
import { resolveStreamFeatureSets } from '../lib/streaming/feature-sets';
import { openStreamRedis } from '../lib/streaming/redis-streams';
import { totalOf } from '../lib/streaming/stream-metrics';
import { parseStreamConsumerFlags } from './stream-consumer-flags';

async function main(): Promise<void> {
  const config = loadConfig();
  const flags = parseStreamConsumerFlags(process.argv.slice(2));
  // With the deployment's key: the live bars it writes are signed (lib/store/bar-signature.ts).
  const store = await openDatabase(config.databaseUrl, { signing: configuredSigning(config) });
  const cache = openCache(config.redisUrl);
  // As the API and the worker: without the key it would write unsigned vectors over the signed ones, which a keyed API refuses.
  await assertSigningKeyWhereSigned(store, config.modelSigningKey, 'the stream consumer', { cache }).catch(async (error: unknown) => {
    await cache.close();
    await store.close();
    throw error;
  });
  const redis = openStreamRedis(config.redisUrl, 'The stream consumer');
  const blockingRedis = redis.duplicate();
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
  if (config.modelSigningKey === undefined) {
    console.warn(
      'warning: MODEL_SIGNING_KEY is not set, so the online vectors this consumer writes are unsigned: a prediction API holding the key refuses them, and this consumer refuses to write ' +
        'over a vector that carries a signature. See docs/live-bars-and-monitoring.md',
    );
  }
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
