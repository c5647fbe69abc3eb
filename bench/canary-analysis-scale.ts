/**
 * Canary and A/B analyses over a large prediction log (`npm run bench:canary`), on MariaDB and
 * SQLite. A rollout's log is generated into a dedicated database (MySQL `bench_canary`, or a
 * temporary SQLite file, both dropped at the end) in stages, a champion and a canary prediction per
 * request, each row stamped logged_at when it is generated (this machine's clock is the database's);
 * the analyses fold everything logged before they start (settle lag 0). After each stage the canary analysis and the A/B
 * report run, each in its own child process so its time and peak memory (VmHWM) are its own:
 *   1. the first --early-rows rows (default 1 million): the first analysis folds them all;
 *   2. --new-rows more (default 100,000, one analysis interval's traffic): a routine analysis early on;
 *   3. up to --rows (default 10 million): the analysis folds everything logged since stage 2;
 *   4. --new-rows more: the same routine analysis, ten times later in the rollout. Its time and
 *      memory against stage 2's show whether an analysis grows with the rollout's age.
 * For reference, the row-by-row path (readPredictionsWithOutcomes + analyseCanary / abReport) runs
 * over the newest --old-rows rows (default 1 million; 0 skips it).
 *   tsx bench/canary-analysis-scale.ts [--rows 10000000] [--early-rows 1000000] [--new-rows 100000]
 *     [--old-rows 1000000] [--drivers sqlite,mysql] [--mysql mysql://root@127.0.0.1:3306]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { Command } from 'commander';
import { createConnection } from 'mysql2/promise';
import { z } from 'zod';
import { abReport, abReportInStore } from '../lib/deployment/ab-report';
import { analyseCanary, analyseCanaryInStore } from '../lib/deployment/canary-analysis';
import { readPredictionsWithOutcomes } from '../lib/deployment/outcomes';
import { rng } from '../lib/random';
import { registerModel } from '../lib/registry/model-registry';
import { upsertBars } from '../lib/store/bars';
import { openDatabase, type Database } from '../lib/store/database';
import { encodeArtifact } from '../models/artifact';
import { logisticRegression } from '../models/baselines/logistic-regression';
import { separable } from '../test/helpers/datasets';
import { returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../test/helpers/registration';
import { peakRssMiB } from './peak-memory';
import { localArtifactStore } from '../lib/artifacts/artifact-store';

const MODEL = 'bench-canary';
const SYMBOLS = Array.from({ length: 500 }, (_, i) => `S${String(i).padStart(3, '0')}`);
const START = Date.parse('2024-06-03T00:00:00.000Z');
/** Requests are 10 ms apart. */
const STEP_MS = 10;
const MYSQL_DB = 'bench_canary';

const childSchema = z.object({ url: z.string(), path: z.enum(['store', 'rows']), kind: z.enum(['canary', 'ab']), since: z.string() });

const cli = new Command()
  .option('--rows <n>', 'predictions to log', '10000000')
  .option('--early-rows <n>', 'predictions logged before the first analysis', '1000000')
  .option('--new-rows <n>', 'predictions logged between two routine analyses', '100000')
  .option('--old-rows <n>', 'newest predictions the row-by-row path is measured on (0: skip it)', '1000000')
  .option('--drivers <list>', 'sqlite,mysql', 'sqlite,mysql')
  .option('--mysql <url>', 'MariaDB/MySQL server (a database bench_canary is created and dropped)', 'mysql://root@127.0.0.1:3306')
  .option('--child <json>', 'internal: run one analysis and print its time and peak memory')
  .parse();
const raw = cli.opts<{ rows: string; earlyRows: string; newRows: string; oldRows: string; drivers: string; mysql: string; child?: string }>();

/** Business days before the first request: the bars, the last few the feature dates of the requests. */
const DATES = (() => {
  const out: string[] = [];
  for (let d = new Date(START - 90 * 86_400_000); d.getTime() < START; d.setUTCDate(d.getUTCDate() + 1)) {
    if (d.getUTCDay() !== 0 && d.getUTCDay() !== 6) out.push(d.toISOString().slice(0, 10));
  }
  return out;
})();
/** Feature dates: ten recent days (the newest two not matured for a 2-bar horizon). */
const AS_OF = DATES.slice(-10);

async function runChild(spec: z.infer<typeof childSchema>): Promise<void> {
  const store = await openDatabase(spec.url);
  const options = { canary: 'canary', reference: 'champion' };
  const abOptions = { variants: ['champion', 'canary'], minSamplesPerVariant: 100 };
  const t0 = performance.now();
  let summary: string;
  if (spec.path === 'store') {
    if (spec.kind === 'canary') {
      const a = await analyseCanaryInStore(store, { model: MODEL, since: spec.since, ...options }, { settleLagUs: 0 });
      summary = `${a.verdict}, ${a.paired.requests} paired requests, ${a.paired.pairs} matured pairs`;
    } else {
      const r = await abReportInStore(store, { model: MODEL, since: spec.since, ...abOptions }, { settleLagUs: 0 });
      summary = `${r.decision}, matured ${r.variants.map((v) => v.matured).join(' / ')}`;
    }
  } else {
    const rows = await readPredictionsWithOutcomes(store, MODEL, spec.since);
    if (spec.kind === 'canary') {
      const a = analyseCanary(rows, options);
      summary = `${a.verdict}, ${a.paired.requests} paired requests, ${a.paired.pairs} matured pairs`;
    } else {
      const r = abReport(rows, abOptions);
      summary = `${r.decision}, matured ${r.variants.map((v) => v.matured).join(' / ')}`;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  await store.close();
  process.stdout.write(`${JSON.stringify({ seconds, peakMiB: peakRssMiB(), summary })}\n`);
}

function measure(spec: z.infer<typeof childSchema>): Promise<{ seconds: number; peakMiB: number; summary: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', __filename, '--child', JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0) reject(new Error(`analysis child exited with ${code}: ${out.slice(-500)}`));
      else resolve(JSON.parse(line) as { seconds: number; peakMiB: number; summary: string });
    });
  });
}

async function registerVersions(store: Database, dir: string): Promise<{ champion: number; canary: number }> {
  const versions: number[] = [];
  // Registration needs the models' feature set in the store (the analyses never read it).
  const { version: featureSetVersion, columns } = await saveTestFeatureSet(store, returnsFeatureSet('bench-canary', 3));
  for (const [key, horizon] of [['champion', 2], ['canary', 3]] as const) {
    const label = { kind: 'direction', horizon, deadZone: 0.001 };
    const d = separable(100, 3, 1);
    const model = await logisticRegression.fit({ features: withColumns(d.x, columns), labels: d.y, classes: 2, seed: 1 }, {});
    const v = await registerModel(store, localArtifactStore(dir), {
      name: MODEL,
      artifact: encodeArtifact(model.state(), { featureSetVersion, label }),
      algorithm: 'logistic_regression',
      params: {},
      seed: 1,
      featureSetVersion,
      label,
      ...UNTRACKED_REGISTRATION,
      registrationKey: `bench-${key}`,
    });
    versions.push(v.version);
  }
  return { champion: versions[0], canary: versions[1] };
}

async function storeBars(store: Database): Promise<void> {
  const next = rng(7);
  for (const symbol of SYMBOLS) {
    let close = 100;
    // The last two feature dates have no bar yet: their predictions are unmatured.
    const bars = DATES.slice(0, -2).map((date) => {
      close *= 1 + 0.03 * (next() - 0.5);
      return { symbol, date, open: close, high: close, low: close, close, volume: 1000 };
    });
    await upsertBars(store, bars);
  }
}

/** The two versions' scores of a symbol and feature day (the canary's close to the champion's). */
function scoreOf(symbol: string, asOf: string): { champion: number; canary: number } {
  let h = 17;
  for (const ch of `${symbol}/${asOf}`) h = (h * 31 + ch.charCodeAt(0)) % 2_147_483_647;
  const next = rng(h);
  const champion = next();
  return { champion, canary: Math.min(1, Math.max(0, champion + 0.1 * (next() - 0.5))) };
}

type Row = [string, string, string, number, string, number, string, string, string, number | null, number | null, number, string | null, string, number];

/** The rows of requests [from, to): a champion and a canary prediction each, one of them served. */
function* requestRows(from: number, to: number, versions: { champion: number; canary: number }, loggedAt: number): Generator<Row> {
  const next = rng(1 + from);
  for (let i = from; i < to; i++) {
    const requestId = `r${i}`;
    const symbol = SYMBOLS[Math.floor(next() * SYMBOLS.length)];
    const asOf = AS_OF[Math.floor(next() * AS_OF.length)];
    const createdAt = new Date(START + i * STEP_MS).toISOString();
    // A deployed model scores a symbol's feature day once: every request for it gets that score.
    const key = scoreOf(symbol, asOf);
    const canaryServed = next() < 0.5;
    for (const [variant, version, served] of [['champion', versions.champion, !canaryServed], ['canary', versions.canary, canaryServed]] as const) {
      const failed = next() < 0.005;
      const p = variant === 'canary' ? key.canary : key.champion;
      yield [`${requestId}:${variant}`, requestId, MODEL, version, variant, served ? 1 : 0, symbol, `k${i % 10_000}`, asOf, failed ? null : p, failed ? null : p >= 0.5 ? 1 : 0, Math.floor(800 + 30_000 * next() ** 6), failed ? 'model failed' : null, createdAt, loggedAt];
    }
  }
}

const COLUMNS = ['id', 'request_id', 'model', 'version', 'variant', 'served', 'symbol', 'routing_key', 'as_of', 'probability', 'predicted_class', 'latency_us', 'error', 'created_at', 'logged_at'];
const REQUESTS_PER_CHUNK = 250_000;

async function generate(store: Database, url: string, first: number, requests: number, versions: { champion: number; canary: number }): Promise<void> {
  if (store.sqlite) {
    const db = store.sqlite;
    const insert = db.prepare(`insert into prediction_log (${COLUMNS.join(', ')}) values (${COLUMNS.map(() => '?').join(', ')})`);
    const chunk = db.transaction((from: number, to: number) => {
      for (const row of requestRows(from, to, versions, Date.now() * 1000)) insert.run(row);
    });
    for (let from = first; from < requests; from += REQUESTS_PER_CHUNK) chunk(from, Math.min(requests, from + REQUESTS_PER_CHUNK));
    return;
  }
  // LOAD DATA LOCAL from a generated stream: no file on disk, no per-row statement.
  const conn = await createConnection({ uri: url, infileStreamFactory: () => Readable.from([]) });
  try {
    for (let from = first; from < requests; from += REQUESTS_PER_CHUNK) {
      const to = Math.min(requests, from + REQUESTS_PER_CHUNK);
      // mysql2 wants Buffers; about 1 MB each.
      const lines = function* (): Generator<Buffer> {
        let text = '';
        for (const row of requestRows(from, to, versions, Date.now() * 1000)) {
          text += `${row.map((v) => (v === null ? '\\N' : String(v))).join('\t')}\n`;
          if (text.length > 1 << 20) {
            yield Buffer.from(text);
            text = '';
          }
        }
        if (text.length > 0) yield Buffer.from(text);
      };
      await conn.query({ sql: `load data local infile 'stream' into table prediction_log (${COLUMNS.join(', ')})`, infileStreamFactory: () => Readable.from(lines()) });
    }
  } finally {
    await conn.end();
  }
}

interface Sizes {
  rows: number;
  earlyRows: number;
  newRows: number;
  oldRows: number;
}

async function benchDriver(driver: 'sqlite' | 'mysql', sizes: Sizes): Promise<void> {
  const artifacts = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-canary-artifacts-'));
  // The deployment's artifact store for the analyses (the children inherit it): outcomes are labelled from the artifact headers in it.
  process.env.ARTIFACT_DIR = artifacts;
  let url: string;
  let cleanup: () => Promise<void>;
  if (driver === 'sqlite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-canary-'));
    url = `sqlite:${path.join(dir, 'bench.sqlite')}`;
    cleanup = () => Promise.resolve(fs.rmSync(dir, { recursive: true, force: true }));
  } else {
    const admin = await createConnection(raw.mysql);
    await admin.query(`drop database if exists \`${MYSQL_DB}\``);
    await admin.query(`create database \`${MYSQL_DB}\``);
    await admin.end();
    url = `${raw.mysql.replace(/\/+$/, '')}/${MYSQL_DB}`;
    cleanup = async () => {
      const c = await createConnection(raw.mysql);
      await c.query(`drop database if exists \`${MYSQL_DB}\``);
      await c.end();
    };
  }
  const fmt = (n: number) => n.toLocaleString('en-US');
  const store = await openDatabase(url);
  try {
    const versions = await registerVersions(store, artifacts);
    await storeBars(store);
    const all = new Date(START).toISOString();
    let logged = 0;
    const grow = async (to: number): Promise<void> => {
      const t0 = performance.now();
      await generate(store, url, logged, to, versions);
      const seconds = (performance.now() - t0) / 1000;
      console.log(`  logged ${fmt(2 * (to - logged))} more rows in ${seconds.toFixed(1)} s: ${fmt(2 * to)} in all`);
      logged = to;
    };
    const analyse = async (name: string, since: string, path: 'store' | 'rows' = 'store'): Promise<Record<'canary' | 'ab', number>> => {
      const seconds = { canary: 0, ab: 0 };
      for (const kind of ['canary', 'ab'] as const) {
        const r = await measure({ url, path, kind, since });
        seconds[kind] = r.seconds;
        console.log(`  ${`${kind === 'canary' ? 'canary' : 'A/B   '}, ${name}`.padEnd(58)} ${r.seconds.toFixed(2).padStart(8)} s  peak ${r.peakMiB.toFixed(0).padStart(5)} MiB  (${r.summary})`);
      }
      return seconds;
    };
    const half = (n: number) => Math.floor(n / 2);
    console.log(`\n${driver}:`);
    await grow(half(sizes.earlyRows));
    await analyse(`first analysis, folds ${fmt(2 * logged)} rows`, all);
    await grow(logged + half(sizes.newRows));
    const early = await analyse(`routine analysis at ${fmt(2 * logged)} rows`, all);
    const folded = logged;
    await grow(half(sizes.rows));
    await analyse(`catch-up analysis, folds ${fmt(2 * (logged - folded))} rows`, all);
    await grow(logged + half(sizes.newRows));
    const late = await analyse(`routine analysis at ${fmt(2 * logged)} rows`, all);
    if (sizes.oldRows > 0) {
      const newest = new Date(START + (logged - half(sizes.oldRows)) * STEP_MS).toISOString();
      await analyse(`row by row, newest ${fmt(sizes.oldRows)} rows`, newest, 'rows');
    }
    const ratio = (k: 'canary' | 'ab') => (late[k] / early[k]).toFixed(2);
    console.log(`  ${driver}: routine analysis late / early in the rollout (${fmt(2 * logged)} vs ${fmt(2 * (folded))} rows logged): canary ${ratio('canary')}×, A/B ${ratio('ab')}×`);
  } finally {
    await store.close();
    await cleanup();
    fs.rmSync(artifacts, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (raw.child !== undefined) return runChild(childSchema.parse(JSON.parse(raw.child)));
  const rows = z.coerce.number().int().min(1000).parse(raw.rows);
  const earlyRows = z.coerce.number().int().min(2).max(rows).parse(raw.earlyRows);
  const newRows = z.coerce.number().int().min(2).parse(raw.newRows);
  const oldRows = z.coerce.number().int().min(0).max(rows).parse(raw.oldRows);
  const drivers = z.array(z.enum(['sqlite', 'mysql'])).min(1).parse(raw.drivers.split(',').map((d) => d.trim()));
  console.log(`canary / A/B analysis scale: a rollout logging ${rows.toLocaleString('en-US')} predictions; ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`);
  for (const driver of drivers) await benchDriver(driver, { rows, earlyRows, newRows, oldRows });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
