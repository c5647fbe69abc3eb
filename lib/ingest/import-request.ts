import { z } from 'zod';
import { isIsoDate } from '../calendar/dates';
import { columnMappingSchema, csvFormatSchema } from '../market-data/csv-formats';
import { qualityPolicySchema } from '../quality/policy';

const isoDate = z.string().refine(isIsoDate, { message: 'expected a date as YYYY-MM-DD' });
const symbol = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9.^=-]{1,32}$/, 'expected a ticker such as AAPL or BRK.B')
  .transform((s) => s.toUpperCase());

export const csvSourceSchema = z.object({
  kind: z.literal('csv'),
  /** A .csv file or a folder of them (not recursive). */
  path: z.string().min(1),
  format: csvFormatSchema.default('auto'),
  mapping: columnMappingSchema.optional(),
  /** Scale OHLC by Adj Close / Close where the file has it (Yahoo). */
  adjust: z.boolean().default(false),
});

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
    from: isoDate.optional(),
    to: isoDate.optional(),
    quality: qualityPolicySchema.default(qualityPolicySchema.parse({})),
  })
  .refine((r) => !r.from || !r.to || r.from <= r.to, { message: '"from" must not be after "to"', path: ['from'] });

export type ImportRequest = z.infer<typeof importRequestSchema>;
export type ImportRequestInput = z.input<typeof importRequestSchema>;
