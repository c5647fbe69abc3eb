/**
 * Worker-thread side of the SQLite prediction-log sink (prediction-log.ts): its own connection to
 * the store's file, one immediate transaction per batch. better-sqlite3 is synchronous, so a batch
 * written on the API's event loop (and the WAL checkpoints a commit sometimes runs) would hold up
 * every request arriving meanwhile; here it only holds up this thread.
 */
import BetterSqlite3 from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

import { signedLogThreadRow } from './prediction-log-signature';
import { LOG_THREAD_COLUMNS, type LogThreadData, type LogThreadReply, type LogThreadRequest } from './prediction-log-wire';

/** Now by the database's clock in µs (lib/store/db-clock.ts, SQLite): one value per batch, as one multi-row INSERT had. */
const NOW_MICROS = `select cast(round((julianday('now') - 2440587.5) * 86400000) as integer) * 1000 as now`;

function serve(file: string, signingKey: string | undefined): void {
  const db = new BetterSqlite3(file);
  // Same settings as lib/store/database.ts: WAL, durable across process crashes, wait for the write lock.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 10000');
  let statements: { now: BetterSqlite3.Statement; insert: BetterSqlite3.Statement } | undefined;
  const write = db.transaction((insert: BetterSqlite3.Statement, rows: string, loggedAt: number) => {
    // The whole batch in one statement: SQLite reads the rows from the batch's JSON text itself
    // (json_each), half the CPU per row of parsing it here and binding each row (npm run
    // bench:predlog). SQLite's text-to-double conversion is exact, so probabilities are stored as
    // the numbers sent. ("where true": without it SQLite would read "on conflict" as a join's.)
    // A retried batch may have committed the first time: its ids are already there, which is fine
    // (the stored rows keep the logged_at they were signed with).
    insert.run(loggedAt, rows);
  });
  parentPort!.on('message', (request: LogThreadRequest) => {
    if ('close' in request) {
      db.close();
      parentPort!.postMessage({ id: request.id } satisfies LogThreadReply);
      return;
    }
    try {
      // Prepared again after a failure: the table may have been away (and back) meanwhile.
      statements ??= {
        now: db.prepare(NOW_MICROS).pluck(),
        insert: db.prepare(
          `insert into prediction_log (${LOG_THREAD_COLUMNS.join(', ')}, logged_at) select ${LOG_THREAD_COLUMNS.map((_, i) => `value ->> ${i}`).join(', ')}, ? from json_each(?) where true on conflict (id) do nothing`,
        ),
      };
      // logged_at is signed with each row, so it is read before the rows are signed: read before the
      // write lock is taken, so the HMACs never hold it. The batch's rows commit at most the lock wait
      // (busy_timeout, 10 s) after it, well inside the folds' settle lag (log-aggregates.ts); one value
      // a batch, and batches go one at a time, so one writer's values go as the database's clock does.
      const loggedAt = statements.now.get() as number;
      // Signed here, off the API's event loop: one HMAC a row (docs/benchmarks.md, "Prediction API").
      write.immediate(statements.insert, `[${request.rows.split('\n').map((row) => signedLogThreadRow(signingKey, row, loggedAt)).join(',')}]`, loggedAt);
      parentPort!.postMessage({ id: request.id } satisfies LogThreadReply);
    } catch (error) {
      statements = undefined;
      parentPort!.postMessage({ id: request.id, error: error instanceof Error ? error.message : String(error) } satisfies LogThreadReply);
    }
  });
}

const data = workerData as LogThreadData | undefined;
if (parentPort && data?.file) serve(data.file, data.signingKey);
