/**
 * Numeric flags of the stream consumer (workers/stream-consumer.ts) and the replay producer
 * (scripts/replay-stream.ts) take decimal numbers only, within the bounds the consumer's options
 * take, as docs/cli.md says of every numeric flag. Before, an empty value read as 0
 * (`--claim-idle-ms=` took over every in-flight entry at once, `--max-backlog=` turned backpressure
 * off), and `0x10` or `1e3` were read as numbers.
 */
import { parseReplayFlags } from '../../../scripts/replay-stream-flags';
import { parseStreamConsumerFlags } from '../../../workers/stream-consumer-flags';

describe('stream consumer numeric flags', () => {
  it('refuses an empty value, hexadecimal and exponent notation, naming the flag and the values it takes', () => {
    expect(() => parseStreamConsumerFlags(['--claim-idle-ms='])).toThrow('--claim-idle-ms must be a whole number of at least 0');
    expect(() => parseStreamConsumerFlags(['--batch-size', '0x10'])).toThrow('--batch-size must be a whole number from 1 to 50000');
    expect(() => parseStreamConsumerFlags(['--block-ms', '1e3'])).toThrow('--block-ms must be a whole number from 1 to 60000');
    expect(() => parseStreamConsumerFlags(['--cross-section-interval-ms', ' '])).toThrow('--cross-section-interval-ms must be a whole number from 0 to 3600000');
    expect(() => parseStreamConsumerFlags(['--log-every-seconds', 'Infinity'])).toThrow('--log-every-seconds must be a whole number of at least 1');
  });

  it('takes the bounds of the consumer options, so a value the consumer would refuse is refused with the flag named', () => {
    expect(() => parseStreamConsumerFlags(['--max-deliveries', '5000'])).toThrow('--max-deliveries must be a whole number from 1 to 1000');
    expect(() => parseStreamConsumerFlags(['--window-bars', '20000'])).toThrow('--window-bars must be a whole number from 30 to 10000');
    expect(() => parseStreamConsumerFlags(['--claim-interval-ms', '5'])).toThrow('--claim-interval-ms must be a whole number of at least 10');
    expect(() => parseStreamConsumerFlags(['--outcome-interval-ms', '2.5'])).toThrow('--outcome-interval-ms must be a whole number from 0 to 3600000');
  });

  it('reads decimal numbers, and leaves unset flags to the consumer defaults', () => {
    expect(parseStreamConsumerFlags(['--batch-size', '500', '--claim-idle-ms=0', '--max-deliveries', '+7'])).toMatchObject({ batchSize: 500, claimIdleMs: 0, maxDeliveries: 7, logEverySeconds: 30 });
    const none = parseStreamConsumerFlags([]);
    expect(none.batchSize).toBeUndefined();
    expect(none.claimIdleMs).toBeUndefined();
  });
});

describe('replay producer numeric flags', () => {
  const base = ['--from-store'];
  it('refuses an empty value, hexadecimal and exponent notation, naming the flag and the values it takes', () => {
    expect(() => parseReplayFlags([...base, '--max-backlog='])).toThrow('--max-backlog must be a whole number of at least 0');
    expect(() => parseReplayFlags([...base, '--max-len', '1e6'])).toThrow('--max-len must be a whole number of at least 1000');
    expect(() => parseReplayFlags([...base, '--lookback-days', '0x10'])).toThrow('--lookback-days must be a whole number from 1 to 3650');
    expect(() => parseReplayFlags([...base, '--poll-interval-seconds', ''])).toThrow('--poll-interval-seconds must be a number above 0');
    expect(() => parseReplayFlags([...base, '--bars-per-second', '0'])).toThrow('--bars-per-second must be a number above 0');
    expect(() => parseReplayFlags([...base, '--days-per-second', '1e1'])).toThrow('--days-per-second must be a number above 0');
    expect(() => parseReplayFlags(['--csv', 'x', '--drift-column', 'volume', '--drift-factor', '0x2', '--drift-from', '2018-01-02'])).toThrow('--drift-factor must be a number above 0');
  });

  it('reads decimal numbers; --max-backlog 0 is the documented "never pause"', () => {
    expect(parseReplayFlags([...base, '--max-backlog', '0', '--max-len', '5000', '--bars-per-second', '2.5'])).toMatchObject({ maxBacklog: 0, maxLen: 5000, barsPerSecond: 2.5 });
    expect(parseReplayFlags(base)).toMatchObject({ maxBacklog: 200_000, pollIntervalSeconds: 60, lookbackDays: 10 });
  });
});
