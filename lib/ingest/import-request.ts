import { z } from 'zod';
import { isIsoDate } from '../calendar/dates';
import { csvSourcePathProblem, isS3Url } from '../market-data/csv-files';
import { columnMappingSchema, csvFormatSchema } from '../market-data/csv-formats';
import { closeKindProblems, delistingMapSchema, instrumentMapSchema } from '../market-data/instruments';
import { symbolSchema as symbol } from '../market-data/symbols';
import { qualityPolicySchema } from '../quality/policy';

const isoDate = z.string().refine(isIsoDate, { message: 'expected a date as YYYY-MM-DD' });

export const csvSourceSchema = z
  .object({
    kind: z.literal('csv'),
    /**
     * A .csv file or a folder of them (not recursive), on the worker; or the same in an S3-compatible
     * object store, s3://bucket/key.csv or s3://bucket/prefix, so workers need no local copy.
     */
    path: z
      .string()
      .min(1)
      .superRefine((p, ctx) => {
        const problem = csvSourcePathProblem(p);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    format: csvFormatSchema.default('auto'),
    mapping: columnMappingSchema.optional(),
    /** Scale OHLC by Adj Close / Close where the file has it (Yahoo). */
    adjust: z.boolean().default(false),
    /**
     * The order of slash dates (`3/4/2017`) when the exporter knows it: every file is read so, and
     * one with a row that can only be read the other way is refused. Without it each file's rows
     * decide, then the NYSE calendar; a file neither decides is refused.
     */
    dateOrder: z.enum(['M/D/YYYY', 'D/M/YYYY']).optional(),
    /** Read symbolic links (to files that may lie outside `path`); refused unless set. Local paths only. */
    followLinks: z.boolean().default(false),
  })
  // Refused rather than ignored: the request was written for a local folder, so its path may be wrong too.
  .refine((s) => !(s.followLinks && isS3Url(s.path)), { message: 'an s3:// source has no symbolic links to follow; remove followLinks', path: ['followLinks'] });

export const stooqSourceSchema = z.object({
  kind: z.literal('stooq'),
  symbols: z.array(symbol).min(1, 'name at least one symbol to download'),
  baseUrl: z.url().optional(),
});

/** What to import and how to judge it: the input of the ingest step, validated at every boundary. */
export const importRequestSchema = z
  .object({
    source: z.discriminatedUnion('kind', [csvSourceSchema, stooqSourceSchema]),
    /** Keep only these symbols (default: all in the source). */
    symbols: z.array(symbol).optional(),
    /**
     * Instrument kinds that override the naming convention of lib/market-data/instruments.ts
     * (e.g. { "SPY": "etf", "$XYZ": "equity" }). Recorded with the snapshot's source, so the
     * training universe of a run on this snapshot applies them, and part of the snapshot id, so a
     * corrected declaration is a new snapshot (lib/ingest/import-bars.ts, snapshotIdOf).
     */
    instruments: instrumentMapSchema.optional(),
    /**
     * The last session of symbols that were delisted (or stopped trading), e.g. { "HPQ": "2017-11-01" }:
     * a provider's answer ending there is complete, where one ending early is refused as cut short
     * (lib/ingest/provider-answer.ts). Recorded with the snapshot's source, so later imports take it,
     * and part of the snapshot id as `instruments` is.
     */
    delisted: delistingMapSchema.optional(),
    from: isoDate.optional(),
    to: isoDate.optional(),
    quality: qualityPolicySchema.default(qualityPolicySchema.parse({})),
  })
  .refine((r) => !r.from || !r.to || r.from <= r.to, { message: '"from" must not be after "to"', path: ['from'] })
  // Recorded with the snapshot, the declaration would join the feature sets of every later run.
  .superRefine((r, ctx) => {
    for (const { symbol, message } of closeKindProblems(r.instruments ?? {})) ctx.addIssue({ code: 'custom', path: ['instruments', symbol], message });
  })
  // The snapshot stores the request's source as given: the declarations travel with it.
  .transform((r) => (r.instruments || r.delisted ? { ...r, source: { ...r.source, ...(r.instruments ? { instruments: r.instruments } : {}), ...(r.delisted ? { delisted: r.delisted } : {}) } } : r));

export type ImportRequest = z.infer<typeof importRequestSchema>;
export type ImportRequestInput = z.input<typeof importRequestSchema>;
