import fs from 'node:fs';
import { Command } from 'commander';
import { describeValidationError } from '../../lib/errors';
import type { FeatureSetInput } from '../../lib/features/feature-set';
import { printableJson } from '../../lib/printable-json';
import { withStore } from '../with-store';
import { lazy } from '../lazy';

/** Reads and validates a feature-set file (JSON); errors say which file and which field. */
export function readFeatureSetFile(file: string): FeatureSetInput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`Cannot read feature set ${file}: ${(error as Error).message}`, { cause: error });
  }
  try {
    lazy.featureSet().defineFeatureSet(parsed as FeatureSetInput);
  } catch (error) {
    const why = error instanceof lazy.zod().ZodError ? describeValidationError(error) : (error as Error).message;
    throw new Error(`Feature set ${file} is invalid: ${why}`, { cause: error });
  }
  return parsed as FeatureSetInput;
}

export function featuresCommand(): Command {
  const cmd = new Command('features').description('feature sets and materialised features');
  cmd
    .command('show [file]')
    .description('a feature set (default: the shipped one) with its version and columns')
    .action(async (file?: string) => {
      const { featureColumns } = lazy.computeFeatures();
      const { defineFeatureSet, DEFAULT_FEATURE_SET } = lazy.featureSet();
      const set = defineFeatureSet(file ? readFeatureSetFile(file) : DEFAULT_FEATURE_SET);
      const columns = featureColumns(set);
      console.log(printableJson({ version: set.version, columns: columns.length, names: columns, definition: set }));
    });
  cmd
    .command('sets')
    .description('feature-set versions materialised in the store')
    .action(() =>
      withStore(async (store) => {
        const sets = await store.db.selectFrom('feature_sets').select(['version', 'name', 'created_at']).orderBy('created_at', 'desc').execute();
        for (const s of sets) {
          const rows = await store.db.selectFrom('feature_rows').select((eb) => eb.fn.countAll<number>().as('n')).where('version', '=', s.version).executeTakeFirstOrThrow();
          console.log(`${s.version}  ${String(rows.n).padStart(9)} rows  created ${s.created_at}`);
        }
      }),
    );
  cmd
    .command('recompute')
    .description('recompute every stored row of a feature set from the stored bars and write it again, signed with MODEL_SIGNING_KEY (rows written before signing are not served under the key)')
    .option('--version <version>', 'feature-set version (default: the shipped set)')
    .action((opts: { version?: string }) =>
      withStore(async (store) => {
        const { configuredSigning, loadConfig } = lazy.config();
        const { defineFeatureSet, DEFAULT_FEATURE_SET } = lazy.featureSet();
        const config = loadConfig();
        // Without the key every row would be written unsigned: the prediction API of a deployment that signs would refuse them all.
        if (config.modelSigningKey === undefined) throw new Error('MODEL_SIGNING_KEY is not set: recomputing without it would write every row unsigned, which the prediction API of a deployment that signs refuses; run it where the key is set');
        const version = opts.version ?? defineFeatureSet(DEFAULT_FEATURE_SET).version;
        const set = await lazy.storedFeatureSet().readStoredFeatureSet(store, version, 'its rows cannot be recomputed');
        const report = await lazy.materialize().materializeFeatures(store, set, { recomputeAll: true, signing: configuredSigning(config) });
        console.log(`${version}: ${report.rowsRecomputed} rows recomputed and signed, ${report.rowsWritten} new rows written, over ${report.symbols} symbols (${report.durationMs} ms)`);
        // Rows the key did not vouch for: the only record of them besides the log (tampered evidence).
        const tampered = lazy.tamperedRows().tamperedRowsSummary(report);
        if (tampered) console.log(`${version}: ${tampered.slice(2)}`);
        for (const g of report.removed ?? []) console.log(`  deleted ${g.symbol} (${g.problem}, ${g.rows} row${g.rows === 1 ? '' : 's'}): ${g.dates.join(', ')}${g.rows > g.dates.length ? ', …' : ''}`);
      }),
    );
  cmd
    .command('latest <symbol>')
    .description('the online feature vector of a symbol (needs REDIS_URL to see what workers published)')
    .option('--version <version>', 'feature-set version (default: the shipped set)')
    .action(async (symbol: string, opts: { version?: string }) => {
      const { configuredSigning, loadConfig } = lazy.config();
      const { openCache } = lazy.cache();
      const { readOnlineFeatures } = lazy.onlineFeatures();
      const { parseSymbol } = lazy.symbols();
      const { defineFeatureSet, DEFAULT_FEATURE_SET } = lazy.featureSet();
      const config = loadConfig();
      const cache = openCache(config.redisUrl);
      try {
        const version = opts.version ?? defineFeatureSet(DEFAULT_FEATURE_SET).version;
        const stored = parseSymbol(symbol);
        // With the deployment's key, a vector the API would refuse (unsigned, edited) is refused here too.
        const v = await readOnlineFeatures(cache, version, stored, undefined, configuredSigning(config));
        if (!v) throw new Error(`No online features for ${stored} under ${version}${cache.kind === 'memory' ? ' (REDIS_URL is unset: the in-process cache of this CLI is empty)' : ''}`);
        console.log(printableJson({ version: v.version, symbol: v.symbol, asOf: v.asOf, features: Object.fromEntries(v.columns.map((c, i) => [c, v.values[i]])) }));
      } finally {
        await cache.close();
      }
    });
  return cmd;
}
