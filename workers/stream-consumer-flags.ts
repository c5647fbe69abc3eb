/**
 * The command line of the stream consumer process (workers/stream-consumer.ts), apart from it so
 * that it can be checked without starting one.
 */
import os from 'node:os';
import { Command } from 'commander';
import { z } from 'zod';
import { numberFlag } from '../client/number-flag';
import { describeValidationError } from '../lib/errors';
import { streamConsumerOptionsSchema } from '../lib/streaming/consumer-options';

type NumericOption = 'batchSize' | 'blockMs' | 'claimIdleMs' | 'claimIntervalMs' | 'maxDeliveries' | 'windowBars' | 'crossSectionIntervalMs' | 'outcomeIntervalMs';

/**
 * The flag of a numeric consumer option: decimal notation only (an empty value is no 0), within the
 * bounds the option itself takes (streamConsumerOptionsSchema), so a value out of them is refused
 * naming the flag rather than by the consumer's constructor.
 */
function optionFlag(flag: string, option: NumericOption) {
  const number = streamConsumerOptionsSchema.shape[option].unwrap();
  const { minValue: min, maxValue: max } = number;
  return numberFlag(flag, {
    int: number.isInt,
    ...(min !== null && min > Number.MIN_SAFE_INTEGER ? { min } : {}),
    ...(max !== null && max < Number.MAX_SAFE_INTEGER ? { max } : {}),
  }).optional();
}

const flagsSchema = z.object({
  consumer: z.string().regex(/^[\w.@:-]{1,200}$/, 'letters, digits and _ . @ : - only').default(`${os.hostname()}-${process.pid}`),
  batchSize: optionFlag('--batch-size', 'batchSize'),
  blockMs: optionFlag('--block-ms', 'blockMs'),
  claimIdleMs: optionFlag('--claim-idle-ms', 'claimIdleMs'),
  claimIntervalMs: optionFlag('--claim-interval-ms', 'claimIntervalMs'),
  maxDeliveries: optionFlag('--max-deliveries', 'maxDeliveries'),
  windowBars: optionFlag('--window-bars', 'windowBars'),
  crossSectionIntervalMs: optionFlag('--cross-section-interval-ms', 'crossSectionIntervalMs'),
  outcomeIntervalMs: optionFlag('--outcome-interval-ms', 'outcomeIntervalMs'),
  startId: z.string().optional(),
  featureSet: z.array(z.string().min(1)).default([]),
  logEverySeconds: numberFlag('--log-every-seconds', { int: true, min: 1 }).default(30),
});
export type StreamConsumerFlags = z.infer<typeof flagsSchema>;

/** The consumer's flags (`argv` without node and the script), checked; an Error names what is wrong. */
export function parseStreamConsumerFlags(argv: readonly string[]): StreamConsumerFlags {
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
    .parse([...argv], { from: 'user' })
    .opts();
  const parsed = flagsSchema.safeParse(opts);
  if (!parsed.success) throw new Error(`invalid flags: ${describeValidationError(parsed.error)}`);
  return parsed.data;
}
