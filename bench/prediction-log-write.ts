/**
 * What a prediction-log row costs to store on a SQLite file (`npm run bench:predlog`): rows
 * appended to the API's PredictionLogWriter (its worker thread, one transaction per 500-row batch,
 * the table's primary key and four indexes), as the table grows to --rows. Run twice in fresh
 * files: request ids from newRequestId (UUIDv7: time-ordered, as the API mints them) and from
 * crypto.randomUUID (random, as before 3 December 2026), so the ratio line compares the two on the
 * same machine in the same run. CPU is the whole process's (appending on the event loop, the
 * thread's parse and inserts); rows are appended and flushed 500 at a time.
 *   tsx bench/prediction-log-write.ts [--rows 300000] [--report-every 100000]
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command } from 'commander';
import { z } from 'zod';
import { newRequestId, PredictionLogWriter, type PredictionLogEntry } from '../lib/serving/prediction-log';
import { openDatabase } from '../lib/store/database';

const options = z
  .object({
    rows: z.coerce.number().int().min(1000).default(300_000),
    reportEvery: z.coerce.number().int().min(500).default(100_000),
  })
  .parse(new Command().option('--rows <n>').option('--report-every <n>').parse(process.argv).opts());

const BATCH = 500;

interface Run {
  ids: string;
  /** µs of process CPU and of wall time per row, per --report-every rows. */
  cpu: number[];
  wall: number[];
}

async function run(ids: 'time-ordered' | 'random', mint: () => string): Promise<Run> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-predlog-'));
  const store = await openDatabase(`sqlite:${path.join(dir, 'log.sqlite')}`);
  const writer = new PredictionLogWriter(store, { flushMs: 60_000, batchRows: 1_000_000 });
  const result: Run = { ids, cpu: [], wall: [] };
  try {
    let cpu0 = process.cpuUsage();
    let wall0 = performance.now();
    for (let done = 0; done < options.rows; ) {
      const createdAt = new Date().toISOString();
      const entries: PredictionLogEntry[] = [];
      for (let i = 0; i < BATCH; i++, done++) {
        const requestId = mint();
        const symbol = `SYM${String(done % 50).padStart(3, '0')}`;
        entries.push({ id: `${requestId}:champion`, requestId, model: 'bench-model', version: 1, variant: 'champion', served: true, symbol, routingKey: symbol, asOf: '2026-12-02', probability: (done % 97) / 97, predictedClass: done % 2, latencyUs: 12, error: null, createdAt });
      }
      writer.append(entries);
      await writer.flush();
      if (done % options.reportEvery === 0 || done >= options.rows) {
        const cpu = process.cpuUsage(cpu0);
        const n = done % options.reportEvery || options.reportEvery;
        result.cpu.push((cpu.user + cpu.system) / n);
        result.wall.push(((performance.now() - wall0) * 1000) / n);
        console.log(`  ${ids.padEnd(12)} rows ${String(done).padStart(8)}: ${result.cpu.at(-1)!.toFixed(1).padStart(6)} µs CPU/row, ${result.wall.at(-1)!.toFixed(1).padStart(6)} µs wall/row`);
        cpu0 = process.cpuUsage();
        wall0 = performance.now();
      }
    }
    const stats = writer.stats();
    if (stats.written !== options.rows || stats.dropped + stats.rejected > 0) throw new Error(`the writer stored ${stats.written} of ${options.rows} rows (dropped ${stats.dropped}, rejected ${stats.rejected}): ${stats.lastError ?? ''}`);
  } finally {
    await writer.close();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

async function main(): Promise<void> {
  console.log(`prediction log on a SQLite file: ${options.rows} rows in batches of ${BATCH}; ${os.availableParallelism()} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const random = await run('random', () => randomUUID().replace(/-/g, ''));
  const ordered = await run('time-ordered', newRequestId);
  const last = (r: Run) => r.cpu.at(-1)!;
  console.log(`ratio: CPU per row at ${options.rows} rows, time-ordered / random ids: ${(last(ordered) / last(random)).toFixed(2)} (${last(ordered).toFixed(1)} / ${last(random).toFixed(1)} µs)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
