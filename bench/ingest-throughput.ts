/**
 * Ingest throughput on the real S&P 500 folder (or any folder): rows/s into each store for a staged
 * and published import (stage, gate, publish) beside the reference measured in the same run (the
 * same read and checks writing straight into `bars`, as the importer did before staging; the target
 * is at most 25% slower), the idempotent re-import, and an import into a fresh store while
 * busy-loop processes keep every core busy (it must finish; its time is reported).
 *   tsx bench/ingest-throughput.ts [--data ../shared/data/sp500-2013-2018] [--db sqlite:/tmp/b.sqlite] [--db mysql://root@127.0.0.1:3306/test] [--no-load]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { importBars, stageImport } from '../lib/ingest/import-bars';
import { readCsvFiles } from '../lib/market-data/csv-files';
import { readPriceTable, type CandidateBar } from '../lib/market-data/csv-reader';
import { checkQuality } from '../lib/quality/report';
import type { QualityIssue } from '../lib/quality/rules-catalog';
import { saveQuarantine } from '../lib/store/quarantine';
import { judgeSnapshot } from '../lib/ingest/judge';
import { importRequestSchema } from '../lib/ingest/import-request';
import { countBars, upsertBars } from '../lib/store/bars';
import { openDatabase } from '../lib/store/database';

const options = z
  .object({
    data: z.string().default(path.resolve(__dirname, '../../shared/data/sp500-2013-2018')),
    db: z.array(z.string()).default([`sqlite:${path.join(os.tmpdir(), `bench-ingest-${process.pid}.sqlite`)}`, 'mysql://root@127.0.0.1:3306/bench_ingest']),
    load: z.boolean().default(true),
    rounds: z.coerce.number().int().min(0).max(10).default(2),
  })
  .parse(
    new Command()
      .option('--data <dir>', 'folder of CSV files')
      .option('--db <url...>', 'DATABASE_URL(s) to measure')
      .option('--no-load', 'skip the import under CPU load')
      .option('--rounds <n>', 'alternating reference / staged rounds per store, best of each compared (0 skips the comparison)', '2')
      .parse()
      .opts(),
  );

async function ensureMysqlDatabase(url: string): Promise<void> {
  const { createConnection } = await import('mysql2/promise');
  const u = new URL(url);
  const name = u.pathname.slice(1);
  u.pathname = '/';
  const conn = await createConnection(u.toString());
  await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
  await conn.query(`CREATE DATABASE \`${name}\``);
  await conn.end();
}

async function freshStore(url: string) {
  if (url.startsWith('mysql://')) await ensureMysqlDatabase(url);
  else fs.rmSync(url.slice('sqlite:'.length), { force: true });
  // BENCH_SIGNING_KEY: measured as a deployment with MODEL_SIGNING_KEY runs it (every bar signed as written).
  return openDatabase(url, process.env.BENCH_SIGNING_KEY ? { signing: { signingKey: process.env.BENCH_SIGNING_KEY } } : {});
}

const seconds = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9;

/** One busy-loop process per core, so the import competes for every core. */
function busyLoops(): ChildProcess[] {
  return os.cpus().map(() => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

/**
 * The reference: the same files, parser and quality rules, but the accepted rows upserted straight
 * into `bars` in transactions of 5,000 rows (no staging, no gate before the write, no revision log):
 * what the importer did before imports became transactions of a snapshot.
 */
async function unstagedImport(url: string, request: ReturnType<typeof importRequestSchema.parse>): Promise<{ rows: number; seconds: number }> {
  const store = await freshStore(url);
  try {
    const t0 = process.hrtime.bigint();
    const sources = await readCsvFiles(options.data);
    const candidates: CandidateBar[] = [];
    const issues: QualityIssue[] = [];
    let rowsRead = 0;
    for (const s of sources) {
      const read = readPriceTable(s.text, { source: s.source, format: 'auto' });
      candidates.push(...read.bars);
      issues.push(...read.issues);
      rowsRead += read.rowsRead;
    }
    const checked = checkQuality(candidates, issues, rowsRead, request.quality);
    await saveQuarantine(store, 'reference', checked.issues);
    for (let i = 0; i < checked.accepted.length; i += 5000) await upsertBars(store, checked.accepted.slice(i, i + 5000));
    return { rows: rowsRead, seconds: seconds(t0) };
  } finally {
    await store.close();
  }
}

async function stagedImport(url: string, request: ReturnType<typeof importRequestSchema.parse>): Promise<{ rows: number; seconds: number }> {
  const store = await freshStore(url);
  try {
    const t0 = process.hrtime.bigint();
    const staged = await stageImport(store, request);
    await judgeSnapshot(store, staged.snapshotId);
    return { rows: staged.rowsRead, seconds: seconds(t0) };
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  if (!fs.existsSync(options.data)) throw new Error(`no data at ${options.data}`);
  const request = importRequestSchema.parse({ source: { kind: 'csv', path: options.data } });
  for (const url of options.db) {
    // Alternate the two paths so background load hits both alike; compare the best of each.
    let reference = Infinity;
    let best = Infinity;
    let rows = 0;
    for (let round = 0; round < options.rounds; round++) {
      const r = await unstagedImport(url, request);
      const s = await stagedImport(url, request);
      reference = Math.min(reference, r.seconds);
      best = Math.min(best, s.seconds);
      rows = s.rows;
    }
    const driver = url.startsWith('mysql://') ? 'mysql' : 'sqlite';
    const slower = best / reference - 1;
    if (options.rounds > 0) console.log(
      `${driver.padEnd(6)} ${rows} rows: staged + published ${Math.round(rows / best)} rows/s (${best.toFixed(2)} s) vs reference unstaged write ${Math.round(rows / reference)} rows/s (${reference.toFixed(2)} s): ${(slower * 100).toFixed(1)}% slower (target <= 25%: ${slower <= 0.25 ? 'met' : 'MISSED'}; best of ${options.rounds} alternating rounds)`,
    );
    const store = await freshStore(url);
    let t0 = process.hrtime.bigint();
    const staged = await stageImport(store, request);
    const stageSeconds = seconds(t0);
    const t1 = process.hrtime.bigint();
    const judged = await judgeSnapshot(store, staged.snapshotId);
    const publishSeconds = seconds(t1);
    const total = seconds(t0);
    console.log(
      `${store.driver.padEnd(6)} staged + published ${staged.rowsRead} rows read, ${staged.rowsAccepted} accepted, ${await countBars(store)} published in ${total.toFixed(2)} s = ${Math.round(staged.rowsRead / total)} rows/s (stage ${stageSeconds.toFixed(2)} s in ${staged.chunksStaged} chunks, gate + publish ${publishSeconds.toFixed(2)} s: ${judged.published?.added} added, ${judged.published?.revised} revised; rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB)`,
    );
    console.log(`  snapshot ${staged.snapshotId}; per rule: ${JSON.stringify(staged.byRule)}`);
    t0 = process.hrtime.bigint();
    const again = await importBars(store, request);
    console.log(`${store.driver.padEnd(6)} re-import ${again.status}, ${await countBars(store)} bars in ${seconds(t0).toFixed(2)} s`);
    await store.close();

    if (options.load) {
      const loaded = await freshStore(url);
      const loops = busyLoops();
      try {
        t0 = process.hrtime.bigint();
        const s = await importBars(loaded, request);
        const took = seconds(t0);
        console.log(`${loaded.driver.padEnd(6)} under load (${loops.length} busy-loop processes): ${s.status}, ${await countBars(loaded)} bars in ${took.toFixed(2)} s = ${Math.round(s.rowsRead / took)} rows/s`);
      } finally {
        for (const p of loops) p.kill('SIGKILL');
        await loaded.close();
      }
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
