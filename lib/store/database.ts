import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { setTimeout as sleep } from 'node:timers/promises';
import { CompiledQuery, Kysely, Migrator, MysqlDialect, SqliteAdapter, SqliteDialect, SqliteDriver, type DatabaseConnection, type DialectAdapter, type Driver, type MigrationProvider, type QueryResult } from 'kysely';
import { createPool, type Pool } from 'mysql2';
import { redactUrl } from '../redact';
import type { RowSigning } from '../registry/row-signature';
import { verbatimValueProblem } from '../verbatim-value';
import { migrationProvider } from './migrations';
import { logPassedOver, type PassedOver, ResumableDdlDialect } from './resumable-ddl';
import type { DatabaseSchema } from './schema';

export type DatabaseDriver = 'mysql' | 'sqlite';

/** SQLite's own wait for another connection's write lock: it blocks the thread (better-sqlite3 is synchronous). */
const SQLITE_BUSY_TIMEOUT_MS = 10_000;

/** How long opening a SQLite store waits for another process's migrations (their transaction holds the write lock). */
const SQLITE_MIGRATION_LOCK_WAIT_MS = 120_000;

/** Another connection held the store's write lock for longer than this process waits for it; nothing was written. */
export class StoreBusyError extends Error {
  override name = 'StoreBusyError';
}

const isBusy = (error: unknown) => typeof (error as { code?: unknown })?.code === 'string' && (error as { code: string }).code.startsWith('SQLITE_BUSY');

/** How a statement waits for the write lock: SQLite's busy wait (blocking), then up to `asyncMs` more in timers. */
interface LockWait {
  asyncMs: number;
  description: string;
}

/**
 * The one SQLite connection's lock, held by one caller (a statement, a transaction) at a time, as
 * Kysely's own (private) one is; a statement waiting for the write lock lends the connection meanwhile.
 */
class ConnectionLock {
  private held = false;
  private readonly waiting: Array<() => void> = [];

  async lock(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** Hands the lock to the next waiter, if any. */
  unlock(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held = false;
  }
}

/**
 * The one SQLite connection, its statements waiting for another connection's write lock in timers
 * (LockWait.asyncMs) instead of SQLite's busy wait: the event loop serves other requests meanwhile.
 * Only a statement outside a transaction is tried again (a BEGIN, or a statement of its own): it did
 * nothing, so until it is tried again the connection serves other callers (reads, in WAL, are not
 * held up by the lock). Past the wait, StoreBusyError names the store.
 */
class LockWaitingConnection implements DatabaseConnection {
  constructor(
    private readonly inner: DatabaseConnection,
    private readonly sqlite: BetterSqlite3.Database,
    private readonly wait: LockWait,
    private readonly lock: ConnectionLock,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const started = Date.now();
    for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
      const alone = !this.sqlite.inTransaction;
      try {
        return await this.inner.executeQuery<R>(query);
      } catch (error) {
        if (!alone || !isBusy(error)) throw error;
        const waited = Date.now() - started;
        if (waited >= this.wait.asyncMs) {
          throw new StoreBusyError(`the store ${this.wait.description} is locked: another connection holds its write lock (waited ${waited} ms for it); nothing was written`, { cause: error });
        }
        this.lock.unlock();
        await sleep(Math.min(pause, this.wait.asyncMs - waited));
        await this.lock.lock();
      }
    }
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

/**
 * SQLite transactions that take the write lock at BEGIN. A deferred transaction that reads and then
 * writes fails at once with SQLITE_BUSY (no busy wait) when another process wrote in between, e.g.
 * an API process flushing its prediction log while the worker writes a traffic split.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  private readonly lock = new ConnectionLock();
  private connection?: LockWaitingConnection;

  constructor(
    private readonly database: BetterSqlite3.Database,
    private readonly wait: LockWait,
  ) {
    super({ database });
  }

  override async init(): Promise<void> {
    await super.init();
    // The base driver's connection, taken once: from here this driver's lock guards it.
    const inner = await super.acquireConnection();
    await super.releaseConnection();
    this.connection = new LockWaitingConnection(inner, this.database, this.wait, this.lock);
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    await this.lock.lock();
    return this.connection!;
  }

  override async releaseConnection(): Promise<void> {
    this.lock.unlock();
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  /**
   * SQLite ends a transaction itself on some errors (SQLITE_FULL, SQLITE_IOERR, …): a ROLLBACK after
   * that fails with "cannot rollback - no transaction is active", and Kysely throws that error in
   * place of the one that ended it, so a full disk read as a rollback error.
   */
  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (!this.database.inTransaction) return;
    await super.rollbackTransaction(connection);
  }
}

/**
 * Kysely's MySQL driver ends its pool on destroy() only if the handle ever took a connection; the
 * store's handle often had not (migrations run on a handle of their own), so close() left the
 * pool's connection open and the process never exited. The store ends its pool itself (endPool);
 * this dialect's driver only borrows connections from it.
 */
class BorrowedPoolMysqlDialect extends MysqlDialect {
  override createDriver(): Driver {
    const driver = super.createDriver();
    driver.destroy = () => Promise.resolve();
    return driver;
  }
}

/** Ends `pool` and every connection it opened. */
function endPool(pool: Pool): Promise<void> {
  return new Promise((resolve, reject) => pool.end((error) => (error ? reject(error) : resolve())));
}

/**
 * Kysely's SQLite adapter says SQLite has no transactional DDL, so its Migrator read the applied
 * list and ran the migrations outside any transaction and without a lock: two processes opening a
 * new store at once both applied the same migration and one failed ("duplicate column name",
 * "UNIQUE constraint failed: kysely_migration.name"). Saying it has, the Migrator reads the list and
 * applies what is pending in one transaction, begun IMMEDIATE (the write lock, waited for): the
 * second process finds the migrations applied; and a migration killed halfway leaves nothing.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(
    private readonly database: BetterSqlite3.Database,
    private readonly wait: LockWait,
  ) {
    super({ database });
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.database, this.wait);
  }

  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

/** The relational store: one Kysely handle over either driver, with the schema migrated. */
export interface Database {
  readonly driver: DatabaseDriver;
  readonly db: Kysely<DatabaseSchema>;
  /** Where it points, without credentials (for logs and lineage). */
  readonly description: string;
  /** The SQLite handle itself, for the few bulk reads where row objects cost more than the query. */
  readonly sqlite?: BetterSqlite3.Database;
  /**
   * The deployment's signing as this process holds it (MODEL_SIGNING_KEY): every bar written through
   * this handle is signed with it, and reads that compute from bars check them with it
   * (lib/store/bar-signature.ts). Absent or without a key: bars are written unsigned, nothing is checked.
   */
  readonly signing?: RowSigning;
  close(): Promise<void>;
}

/**
 * Runs `read` on the raw SQLite handle while holding Kysely's lock on that one connection. A
 * transaction begun through Kysely on the same handle (a publish) holds that lock until it commits
 * or rolls back; a raw read taken meanwhile would see its uncommitted rows. `read` is synchronous,
 * so the lock covers all of it.
 */
export async function withSqliteLock<T>(store: Database, read: (sqlite: BetterSqlite3.Database) => T): Promise<T> {
  const sqlite = store.sqlite;
  if (!sqlite) throw new Error(`withSqliteLock needs a SQLite store, not ${store.driver}`);
  return store.db.connection().execute(async () => read(sqlite));
}

export class DatabaseUrlError extends Error {
  override name = 'DatabaseUrlError';
}

/** OpenDatabaseOptions.existing: the store named is not there (no file, no database or no pipeline tables); nothing was created. */
export class StoreNotFoundError extends Error {
  override name = 'StoreNotFoundError';
}

function sqliteFile(url: string): string {
  const file = url.slice('sqlite:'.length);
  if (file === '') throw new DatabaseUrlError('DATABASE_URL "sqlite:" needs a file path, e.g. sqlite:.data/pipeline.sqlite');
  // Resolved as written, " /srv/x" or "~/x" would open (and create) a new store under the current folder.
  const problem = verbatimValueProblem(file);
  if (problem) throw new DatabaseUrlError(`DATABASE_URL: the file after "sqlite:", ${JSON.stringify(file)}, ${problem}`);
  return file === ':memory:' ? file : path.resolve(file);
}

/** Store URLs are printed redacted (lib/redact.ts, the one redaction helper). */
const redact = redactUrl;

/** What mysql2 hands a type cast: the column's type and a reader of its text. */
interface CastField {
  type: string;
  string(encoding?: string): string | null;
}

/**
 * DOUBLE columns (prices, volumes, scores) read as the very double that was written. MariaDB sends
 * a double as its shortest round-trip decimal text ("99999999.99999999"), which Number() turns back
 * into the same double; but mysql2's own text-protocol parser builds any number of up to 17
 * characters digit by digit (result * 10 + digit, then / 10^decimals), which rounds once the digits
 * exceed 2^53: about 4% of arbitrary prices came back one unit in the last place off, so a bar
 * published again with the same values was logged as a revision. Other types keep mysql2's reading.
 */
export function exactDoubles(field: CastField, next: () => unknown): unknown {
  if (field.type !== 'DOUBLE') return next();
  const text = field.string('latin1');
  return text === null ? null : Number(text);
}

export interface OpenDatabaseOptions {
  /**
   * SQLite: wait for another connection's write lock in timers, up to this many ms, then fail with
   * StoreBusyError; the thread is never blocked by the wait (the API: an admin write beside a held
   * lock froze every prediction for SQLite's 10 s). Default: SQLite's own wait of 10 s, blocking
   * (workers and the CLI, where nothing else waits on the thread). Migrations at open always take
   * SQLite's wait. The raw handle (`sqlite`) then does not wait: it is for reads.
   */
  sqliteLockWaitMs?: number;
  /**
   * Open only a store that exists: a SQLite file that is there, a MySQL database that has been
   * migrated before; else StoreNotFoundError, and nothing is created. For commands that only read
   * (a relative or mistyped DATA_DIR had them create a new, empty store and answer "nothing yet").
   * `namedBy` says which setting named the store, for the message.
   */
  existing?: { namedBy: string };
  /** The deployment's signing (configuredSigning): bars written through the handle are signed with it (Database.signing). */
  signing?: RowSigning;
}

const notFoundAdvice = (namedBy: string) => `(named by ${namedBy}); nothing was created. Point DATA_DIR or DATABASE_URL at the existing store, or create one with a run or an import`;

/** Opens the store named by `url` (mysql://… or sqlite:<file>) and applies pending migrations. */
export async function openDatabase(url: string, options: OpenDatabaseOptions = {}): Promise<Database> {
  let driver: DatabaseDriver;
  let db: Kysely<DatabaseSchema>;
  let sqlite: BetterSqlite3.Database | undefined;
  let pool: Pool | undefined;
  const wait: LockWait = { asyncMs: 0, description: redact(url) };
  if (url.startsWith('sqlite:')) {
    const file = sqliteFile(url);
    const existing = options.existing !== undefined && file !== ':memory:';
    if (options.existing && existing && !fs.existsSync(file)) {
      const missing = fs.existsSync(path.dirname(file)) ? 'the file does not exist' : `neither the file nor its folder ${path.dirname(file)} exists`;
      throw new StoreNotFoundError(`No store at ${file}: ${missing} ${notFoundAdvice(options.existing.namedBy)}`);
    }
    if (file !== ':memory:' && !existing) fs.mkdirSync(path.dirname(file), { recursive: true });
    sqlite = new BetterSqlite3(file, { fileMustExist: existing });
    // WAL lets the CLI read while a worker writes; NORMAL sync is durable across process crashes.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    driver = 'sqlite';
    db = new Kysely<DatabaseSchema>({ dialect: new ImmediateSqliteDialect(sqlite, wait) });
  } else if (url.startsWith('mysql://')) {
    driver = 'mysql';
    pool = mysqlPool(url);
    db = new Kysely<DatabaseSchema>({ dialect: new BorrowedPoolMysqlDialect({ pool }) });
  } else {
    throw new DatabaseUrlError(`Unsupported DATABASE_URL "${redact(url)}": use mysql://user:pass@host:3306/db or sqlite:<file>`);
  }

  try {
    if (pool && options.existing) await assertMigratedBefore(pool, redact(url), options.existing.namedBy);
    if (pool) await migrateMysql(pool);
    else if (!(await allMigrationsApplied(db))) {
      // Another process migrating the same file holds the write lock for as long as its migrations take.
      wait.asyncMs = SQLITE_MIGRATION_LOCK_WAIT_MS;
      await migrate(db);
      wait.asyncMs = 0;
    }
  } catch (error) {
    await db.destroy();
    if (pool) await endPool(pool);
    if (error instanceof StoreNotFoundError) throw error;
    throw new Error(`Could not prepare the database at ${redact(url)}: ${(error as Error).message}`, { cause: error });
  }
  if (sqlite && options.sqliteLockWaitMs !== undefined) {
    sqlite.pragma('busy_timeout = 0');
    wait.asyncMs = options.sqliteLockWaitMs;
  }
  const ownPool = pool;
  // Once: a second pool.end() fails ("Can't add new command when connection is in closed state").
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await db.destroy();
      if (ownPool) await endPool(ownPool);
    })());
  return { driver, db, sqlite, description: redact(url), close, ...(options.signing ? { signing: options.signing } : {}) };
}

/** A pool of connections to the MySQL database of `url`, reading values as the store expects them. */
export function mysqlPool(url: string): Pool {
  return createPool({
    uri: url,
    connectionLimit: 8,
    dateStrings: true,
    // Doubles and counts come back as JS numbers; our volumes and prices fit a double.
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: true,
    typeCast: exactDoubles,
  });
}

/** Refuses a MySQL database that does not exist or that no process has migrated (kysely_migration is missing). */
async function assertMigratedBefore(pool: Pool, description: string, namedBy: string): Promise<void> {
  const found = await new Promise<number>((resolve, reject) =>
    pool.query(`select count(*) as n from information_schema.tables where table_schema = database() and table_name = 'kysely_migration'`, (error, rows) => (error ? reject(error) : resolve(Number((rows as Array<{ n: number }>)[0]?.n ?? 0)))),
  ).catch((error: unknown) => {
    if ((error as { errno?: unknown }).errno === ER_BAD_DB_ERROR) throw new StoreNotFoundError(`No store at ${description}: the database does not exist ${notFoundAdvice(namedBy)}`, { cause: error });
    throw error;
  });
  if (found === 0) throw new StoreNotFoundError(`No store at ${description}: the database has no pipeline tables ${notFoundAdvice(namedBy)}`);
}

/** MySQL's "Unknown database". */
const ER_BAD_DB_ERROR = 1049;

/**
 * Applies the pending migrations to the MySQL database of `pool`. MySQL commits DDL statement by
 * statement, so a migration interrupted by a kill or a lost connection stays unrecorded with some
 * of its statements applied: it runs again from its start, and each DDL statement whose effect is
 * already there is passed over and reported (`passedOver`: a JSON line on stderr by default;
 * lib/store/resumable-ddl.ts). Kysely's lock (GET_LOCK) keeps two
 * processes from migrating at once.
 */
export async function migrateMysql(pool: Pool, provider: MigrationProvider = migrationProvider, passedOver: PassedOver = logPassedOver): Promise<void> {
  const db = new Kysely<unknown>({ dialect: new ResumableDdlDialect({ pool }, passedOver) });
  try {
    await migrate(db, provider);
  } finally {
    await db.destroy(); // (leaves the pool open: openDatabase's close() ends it)
  }
}

/**
 * Whether every migration is recorded as applied, read without a lock: a store already migrated
 * opens without waiting for the write lock (which migrate takes on SQLite, and a writer in another
 * process may hold for seconds); only pending migrations are applied, and checked again, under it.
 */
async function allMigrationsApplied<DB>(db: Kysely<DB>, provider: MigrationProvider = migrationProvider): Promise<boolean> {
  const migrations = await new Migrator({ db, provider }).getMigrations();
  return migrations.every((m) => m.executedAt !== undefined);
}

async function migrate<DB>(db: Kysely<DB>, provider: MigrationProvider = migrationProvider): Promise<void> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${String((error as Error).message ?? error)}`);
  }
}
