/**
 * Feature computation for a whole universe, side by side with a pandas/numpy reference of the same
 * 61 columns (bench/reference/features_pandas.py), plus the incremental one-new-day run.
 *   tsx bench/features-vs-pandas.ts [--data ../shared/data/sp500-2013-2018] [--python /usr/bin/python3]
 * Each side runs in its own process so peak memory is its own.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { computeFeatures } from '../lib/features/compute-features';
import { defineFeatureSet, DEFAULT_FEATURE_SET } from '../lib/features/feature-set';
import { computeFromInputs, materializeFeatures } from '../lib/features/materialize';
import { sharedPool } from '../lib/threads/task-pool';
import { importBars } from '../lib/ingest/import-bars';
import { importRequestSchema } from '../lib/ingest/import-request';
import { readBarSeries } from '../lib/store/bars';
import { openDatabase } from '../lib/store/database';
import { withHugePages } from '../platform/process-tuning';
import { peakRssMiB } from './peak-memory';

const opts = z
  .object({
    data: z.string().default(path.resolve(__dirname, '../../shared/data/sp500-2013-2018')),
    python: z.string().default('/usr/bin/python3'),
    phase: z.enum(['all', 'compute', 'incremental']).default('all'),
    db: z.string().optional(),
    /** Threads of the second compute run, as materialisation runs it (default: the machine's cores). */
    threads: z.coerce.number().int().min(1).max(64).default(os.availableParallelism()),
  })
  .parse(new Command().option('--data <dir>').option('--python <bin>').option('--phase <phase>').option('--db <file>').option('--threads <n>').parse().opts());

const peakMiB = () => Math.round(peakRssMiB());
const seconds = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e9;
const set = defineFeatureSet(DEFAULT_FEATURE_SET);

async function computePhase(db: string): Promise<void> {
  const store = await openDatabase(`sqlite:${db}`);
  let t = process.hrtime.bigint();
  const universe = await readBarSeries(store);
  const load = seconds(t);
  t = process.hrtime.bigint();
  const out = computeFeatures(universe, set);
  const compute = seconds(t);
  const rows = out.frames.reduce((n, f) => n + f.dates.length, 0);
  const peak = peakMiB();
  // Then as materialisation computes it: per-symbol columns shared out over the pool's threads,
  // started beforehand (TaskPool.warmUp: as in a worker after its first threaded job; their code not
  // yet optimised by the JIT), and the same values.
  await sharedPool(opts.threads)?.warmUp();
  t = process.hrtime.bigint();
  const threaded = await computeFromInputs(set, { universe }, { threads: opts.threads });
  const computeThreaded = seconds(t);
  if (!threaded.frames.every((f, i) => f.columns.every((c, j) => c.every((v, r) => Object.is(v, out.frames[i].columns[j][r]))))) throw new Error('the threaded computation gave other values');
  console.log(JSON.stringify({ symbols: out.frames.length, rows, columns: out.columns.length, load_seconds: load, compute_seconds: compute, threads: opts.threads, compute_threaded_seconds: computeThreaded, peak_rss_mib: peak }));
  await sharedPool(opts.threads)?.close();
  await store.close();
}

async function incrementalPhase(db: string): Promise<void> {
  // BENCH_SIGNING_KEY: as a deployment with MODEL_SIGNING_KEY runs it (bars checked, rows signed); the store's bars must be signed with it.
  const signing = process.env.BENCH_SIGNING_KEY ? { signingKey: process.env.BENCH_SIGNING_KEY } : undefined;
  const store = await openDatabase(`sqlite:${db}`, signing ? { signing } : {});
  const last = await store.db.selectFrom('bars').select((eb) => eb.fn.max('date').as('d')).executeTakeFirstOrThrow();
  const previous = await store.db.selectFrom('bars').select((eb) => eb.fn.max('date').as('d')).where('date', '<', String(last.d)).executeTakeFirstOrThrow();
  await store.db.deleteFrom('feature_rows').execute();
  let t = process.hrtime.bigint();
  const threads = os.availableParallelism();
  const full = await materializeFeatures(store, set, { to: String(previous.d), threads, signing });
  const fullSeconds = seconds(t);
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    await store.db.deleteFrom('feature_rows').where('date', '=', String(last.d)).execute();
    t = process.hrtime.bigint();
    const day = await materializeFeatures(store, set, { threads, signing });
    runs.push(seconds(t));
    if (day.rowsWritten !== full.symbols) throw new Error(`expected ${full.symbols} new rows, wrote ${day.rowsWritten}`);
  }
  console.log(JSON.stringify({ threads, full_rows: full.rowsWritten, full_seconds: fullSeconds, one_day_seconds: runs, new_day: last.d, peak_rss_mib: peakMiB() }));
  await store.close();
}

/** A phase in a child process, without huge pages (the worker's default) or with them. */
function runChild(args: string[], env: NodeJS.ProcessEnv = withHugePages(process.env, false)): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', __filename, ...args], { encoding: 'utf8', cwd: path.resolve(__dirname, '..'), env });
  if (r.status !== 0) throw new Error(`child ${args.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
}

async function main(): Promise<void> {
  if (opts.phase === 'compute') return computePhase(opts.db as string);
  if (opts.phase === 'incremental') return incrementalPhase(opts.db as string);
  if (!fs.existsSync(opts.data)) throw new Error(`no data at ${opts.data}; pass --data <folder of CSV files>`);
  const db = path.join(os.tmpdir(), `bench-features-${process.pid}.sqlite`);
  const store = await openDatabase(`sqlite:${db}`);
  await importBars(store, importRequestSchema.parse({ source: { kind: 'csv', path: opts.data } }));
  await store.close();

  // Both sides without and with huge pages (platform/process-tuning.ts: which is faster depends on
  // the machine). Ours is judged as the worker starts by default, without; pandas by the faster of
  // its two runs, so the ratios never flatter us.
  const computeArgs = ['--phase', 'compute', '--db', db, '--threads', String(opts.threads)];
  const ours = runChild(computeArgs);
  const oursHuge = runChild(computeArgs, withHugePages(process.env, true));
  const runPandas = (env: NodeJS.ProcessEnv) => {
    const py = spawnSync(opts.python, [path.join(__dirname, 'reference', 'features_pandas.py'), opts.data], { encoding: 'utf8', env });
    if (py.status !== 0) throw new Error(`pandas reference failed (is python3-pandas installed for ${opts.python}?):\n${py.stderr}`);
    return JSON.parse(py.stdout.trim().split('\n').at(-1) as string) as Record<string, number>;
  };
  const [pandasPlain, pandasHuge] = [runPandas(withHugePages(process.env, false)), runPandas(withHugePages(process.env, true))];
  const pandas = pandasHuge.compute_seconds <= pandasPlain.compute_seconds ? pandasHuge : pandasPlain;
  const incremental = runChild(['--phase', 'incremental', '--db', db]);
  for (const f of fs.readdirSync(path.dirname(db)).filter((f) => f.startsWith(path.basename(db)))) fs.rmSync(path.join(path.dirname(db), f));

  const ratio = (ours.compute_seconds as number) / pandas.compute_seconds;
  console.log(`feature set ${set.version}: ${ours.columns} columns, ${ours.symbols} symbols, ${ours.rows} rows (pandas: ${pandas.symbols} symbols, ${pandas.rows} rows)`);
  console.log(`load      ours ${(ours.load_seconds as number).toFixed(2)} s (SQLite)   pandas ${pandas.load_seconds.toFixed(2)} s (CSV)`);
  console.log(`peak RSS  ours ${ours.peak_rss_mib} MiB   pandas ${Math.round(pandas.peak_rss_mib)} MiB (target < 1024)`);
  console.log(`offline store: full materialisation ${incremental.full_rows} rows in ${(incremental.full_seconds as number).toFixed(2)} s; one new day (${incremental.new_day}) for the universe: ${(incremental.one_day_seconds as number[]).map((s) => s.toFixed(2)).join(' s, ')} s with ${incremental.threads} threads (target < 2 s)`);
  console.log(`huge pages  ours ${(oursHuge.compute_seconds as number).toFixed(2)} s on one thread, ${(oursHuge.compute_threaded_seconds as number).toFixed(2)} s on ${oursHuge.threads} with them (not the worker's default)`);
  // The ratio line last.
  const threadedRatio = (ours.compute_threaded_seconds as number) / pandas.compute_seconds;
  console.log(
    `compute   ours ${(ours.compute_seconds as number).toFixed(2)} s on one thread, ${(ours.compute_threaded_seconds as number).toFixed(2)} s on ${ours.threads} (as materialisation runs it)   ` +
      `pandas ${pandas.compute_seconds.toFixed(2)} s (one thread; ${pandasHuge.compute_seconds.toFixed(2)} s with huge pages, ${pandasPlain.compute_seconds.toFixed(2)} s without)   ratio ${ratio.toFixed(2)} one thread, ${threadedRatio.toFixed(2)} ${ours.threads} threads (target <= 0.4)`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
