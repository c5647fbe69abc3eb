/**
 * Ingest throughput on the real S&P 500 folder (or any folder): rows/s into each store, first import
 * and the idempotent re-import, plus quarantine counts per rule.
 *   tsx bench/ingest-throughput.ts [--data ../shared/data/sp500-2013-2018] [--db sqlite:/tmp/b.sqlite] [--db mysql://root@127.0.0.1:3306/test]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { importBars } from '../lib/ingest/import-bars';
import { importRequestSchema } from '../lib/ingest/import-request';
import { countBars } from '../lib/store/bars';
import { openDatabase } from '../lib/store/database';

const options = z
  .object({
    data: z.string().default(path.resolve(__dirname, '../../shared/data/sp500-2013-2018')),
    db: z.array(z.string()).default([`sqlite:${path.join(os.tmpdir(), `bench-ingest-${process.pid}.sqlite`)}`, 'mysql://root@127.0.0.1:3306/bench_ingest']),
  })
  .parse(
    new Command()
      .option('--data <dir>', 'folder of CSV files')
      .option('--db <url...>', 'DATABASE_URL(s) to measure')
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

async function main(): Promise<void> {
  if (!fs.existsSync(options.data)) throw new Error(`no data at ${options.data}`);
  for (const url of options.db) {
    if (url.startsWith('mysql://')) await ensureMysqlDatabase(url);
    else fs.rmSync(url.slice('sqlite:'.length), { force: true });
    const store = await openDatabase(url);
    const request = importRequestSchema.parse({ source: { kind: 'csv', path: options.data } });
    for (const round of ['first import', 're-import']) {
      const t0 = process.hrtime.bigint();
      const summary = await importBars(store, request);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const stored = await countBars(store);
      console.log(
        `${store.driver.padEnd(6)} ${round.padEnd(12)} ${summary.rowsRead} rows read, ${summary.rowsAccepted} accepted, ${stored} stored in ${seconds.toFixed(2)} s = ${Math.round(summary.rowsRead / seconds)} rows/s (rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB)`,
      );
      if (round === 'first import') console.log(`  snapshot ${summary.snapshotId}; per rule: ${JSON.stringify(summary.byRule)}`);
    }
    await store.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
