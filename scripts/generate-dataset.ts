/**
 * Writes a deterministic synthetic market (one CSV per symbol + planted-errors.json) so the pipeline can run
 * without the real S&P 500 files.
 *
 *   tsx scripts/generate-dataset.ts <outDir> [--symbols N] [--from D] [--to D] [--seed S] [--no-errors]
 */
import path from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { isIsoDate } from '../lib/calendar/dates';
import { writeSyntheticMarket } from '../lib/market-data/synthetic';

// Flags arrive as strings; reject '12abc' or '1e3' instead of letting Number() guess.
const integerFlag = z.string().regex(/^-?\d+$/, 'expected an integer').transform(Number);
const dateFlag = z.string().refine(isIsoDate, 'expected a real date as YYYY-MM-DD');

const flagsSchema = z.object({
  symbols: integerFlag.optional(),
  from: dateFlag.optional(),
  to: dateFlag.optional(),
  seed: integerFlag.optional(),
  errors: z.boolean(),
});

async function main(argv: readonly string[]): Promise<void> {
  const program = new Command()
    .name('generate-dataset')
    .description('Write a deterministic synthetic stock dataset (CSV per symbol, same layout as the real data).')
    .argument('<outDir>', 'directory to write into (created if missing)')
    .option('--symbols <n>', 'number of symbols, SYN01..SYNnn (default 8)')
    .option('--from <date>', 'first calendar date, YYYY-MM-DD (default 2016-01-04)')
    .option('--to <date>', 'last calendar date, YYYY-MM-DD (default 2020-12-31)')
    .option('--seed <n>', 'PRNG seed; same seed and flags give byte-identical files (default 42)')
    .option('--no-errors', 'do not plant data-quality errors')
    .showHelpAfterError()
    .parse(argv);

  const outDir = program.args[0]; // commander has already rejected a missing <outDir>
  const parsed = flagsSchema.safeParse(program.opts());
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `  --${i.path.join('.')}: ${i.message}`);
    return program.error(`Invalid arguments:\n${issues.join('\n')}`, { exitCode: 2 });
  }
  const flags = parsed.data;

  const written = await writeSyntheticMarket(outDir, {
    symbols: flags.symbols,
    from: flags.from,
    to: flags.to,
    seed: flags.seed,
    plantErrors: flags.errors,
  });
  // Short paths under the working directory, absolute ones elsewhere.
  const rel = (p: string): string => {
    const r = path.relative(process.cwd(), p);
    return r === '' ? '.' : r.startsWith('..') ? p : r;
  };
  console.log(`Wrote ${written.files.length} CSV files to ${rel(written.dir)}:`);
  for (const file of written.files) console.log(`  ${rel(file)}`);
  console.log(`Planted ${written.planted.length} errors, listed in ${rel(written.plantedErrors)}:`);
  for (const e of written.planted) console.log(`  ${e.symbol} ${e.date} ${e.kind}: ${e.description}`);
}

main(process.argv).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
