/**
 * The command line of the replay producer (scripts/replay-stream.ts), apart from it so that it can
 * be checked without running one.
 */
import { Command } from 'commander';
import { z } from 'zod';
import { isIsoDate } from '../lib/calendar/dates';
import { numberFlag } from '../client/number-flag';
import { describeValidationError } from '../lib/errors';
import { csvFormatSchema } from '../lib/market-data/csv-formats';
import { DEFAULT_STREAM_MAX_LEN } from '../lib/streaming/producer';
import { DRIFT_COLUMNS } from '../lib/streaming/replay';

const isoDate = z.string().refine(isIsoDate, 'expected YYYY-MM-DD');
const list = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x !== ''))
  .pipe(z.array(z.string().min(1)).min(1));
/** A pace or a factor: a decimal number above 0. */
const positive = (flag: string) => numberFlag(flag, { above: 0 });

const flagsSchema = z
  .object({
    csv: z.string().min(1).optional(),
    fromStore: z.boolean().default(false),
    pollStooq: z.boolean().default(false),
    format: csvFormatSchema.default('auto'),
    symbols: list.optional(),
    from: isoDate.optional(),
    to: isoDate.optional(),
    barsPerSecond: positive('--bars-per-second').optional(),
    daysPerSecond: positive('--days-per-second').optional(),
    max: z.boolean().default(false),
    driftColumn: z.enum(DRIFT_COLUMNS).optional(),
    driftFactor: positive('--drift-factor').optional(),
    driftFrom: isoDate.optional(),
    driftSymbols: list.optional(),
    stream: z.string().min(1).max(200).optional(),
    group: z.string().min(1).max(200).optional(),
    maxBacklog: numberFlag('--max-backlog', { int: true, min: 0 }).default(200_000),
    maxLen: numberFlag('--max-len', { int: true, min: 1000 }).default(DEFAULT_STREAM_MAX_LEN),
    pollIntervalSeconds: positive('--poll-interval-seconds').default(60),
    lookbackDays: numberFlag('--lookback-days', { int: true, min: 1, max: 3650 }).default(10),
    stooqUrl: z.url().optional(),
  })
  .superRefine((f, ctx) => {
    const sources = [f.csv !== undefined, f.fromStore, f.pollStooq].filter(Boolean).length;
    if (sources !== 1) ctx.addIssue({ code: 'custom', path: ['csv'], message: 'give exactly one source: --csv <file|folder>, --from-store or --poll-stooq' });
    if ([f.barsPerSecond !== undefined, f.daysPerSecond !== undefined, f.max].filter(Boolean).length > 1) ctx.addIssue({ code: 'custom', path: ['max'], message: 'give at most one pace: --bars-per-second, --days-per-second or --max' });
    const drift = [f.driftColumn, f.driftFactor, f.driftFrom];
    if (drift.some((d) => d !== undefined) && drift.some((d) => d === undefined)) ctx.addIssue({ code: 'custom', path: ['driftColumn'], message: 'a drift needs --drift-column, --drift-factor and --drift-from together' });
    if (f.pollStooq && !f.symbols) ctx.addIssue({ code: 'custom', path: ['symbols'], message: '--poll-stooq needs --symbols' });
  });
export type ReplayFlags = z.infer<typeof flagsSchema>;

/** The replay's flags (`argv` without node and the script), checked; an Error names what is wrong. */
export function parseReplayFlags(argv: readonly string[]): ReplayFlags {
  const opts = new Command()
    .name('replay-stream')
    .option('--csv <path>', 'CSV file or folder (same formats as ingestion)')
    .option('--from-store', 'replay bars from the store (DATABASE_URL)')
    .option('--poll-stooq', 'publish Stooq’s newest daily bars of --symbols until stopped')
    .option('--format <format>', 'CSV format: auto, sp500, yahoo, stooq')
    .option('--symbols <list>', 'comma-separated symbols (default: all)')
    .option('--from <date>', 'first date')
    .option('--to <date>', 'last date')
    .option('--bars-per-second <n>', 'pace in bars per second')
    .option('--days-per-second <n>', 'pace in trading days per second (each day’s bars at once)')
    .option('--max', 'as fast as possible (the default)')
    .option('--drift-column <column>', `scale this column: ${DRIFT_COLUMNS.join(', ')}`)
    .option('--drift-factor <x>', 'by this factor')
    .option('--drift-from <date>', 'from this date on')
    .option('--drift-symbols <list>', 'only for these symbols (default: all)')
    .option('--stream <key>', 'stream key (default: STREAM_KEY)')
    .option('--group <name>', 'consumer group whose unread backlog bounds the replay (default: STREAM_GROUP)')
    .option('--max-backlog <n>', 'pause while the group has more unread entries than this (0: never pause)')
    .option('--max-len <n>', 'approximate stream length cap (XADD MAXLEN ~)')
    .option('--poll-interval-seconds <n>', 'time between Stooq polls')
    .option('--lookback-days <n>', 'days re-read on every poll (late and corrected bars)')
    .option('--stooq-url <url>', 'Stooq base URL (default https://stooq.com)')
    .parse([...argv], { from: 'user' })
    .opts();
  const parsed = flagsSchema.safeParse(opts);
  if (!parsed.success) throw new Error(`invalid flags: ${describeValidationError(parsed.error)}`);
  return parsed.data;
}
