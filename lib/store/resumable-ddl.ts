import { MysqlDialect, type MysqlDialectConfig, type CompiledQuery, type DatabaseConnection, type Driver, type QueryResult, type TransactionSettings } from 'kysely';

/*
 * MySQL and MariaDB commit every DDL statement on its own, so a migration of several statements
 * cannot be rolled back: a process killed (or a connection lost) in the middle of one left its first
 * statements applied and the migration unrecorded (Kysely records it after its last statement), and
 * every later start failed on the first of them ("Duplicate key name …", "Table … already exists",
 * "Can't DROP INDEX `PRIMARY`"; 7 of 9 stores killed during their migrations could not be opened again).
 *
 * Migrations therefore run again from their start on MySQL, and each DDL statement whose effect is
 * already there is passed over: the server's own answer says so, with exactly the error that this
 * kind of statement gives when it has been applied before (a table it creates exists, a column or
 * index it adds is there, a key it drops is gone). A DDL statement is atomic (MariaDB ≥ 10.6, MySQL
 * 8), so it is either applied whole or not at all. Statements that move data are written to be run
 * again (lib/store/migrations.ts); SQLite runs each migration in one transaction and needs none of this.
 */

/** MySQL error numbers that mean "already applied", per kind of DDL statement. */
const ER_TABLE_EXISTS_ERROR = 1050;
const ER_DUP_FIELDNAME = 1060;
const ER_DUP_KEYNAME = 1061;
const ER_MULTIPLE_PRI_KEY = 1068;
const ER_BAD_TABLE_ERROR = 1051;
const ER_CANT_DROP_FIELD_OR_KEY = 1091;

/** Clauses of ALTER TABLE and the error each gives once its effect is there. */
const ALTER_CLAUSES: ReadonlyArray<readonly [RegExp, number]> = [
  [/\badd\s+column\b/, ER_DUP_FIELDNAME],
  [/\badd\s+(unique\s+)?(index|key)\b/, ER_DUP_KEYNAME],
  [/\badd\s+primary\s+key\b/, ER_MULTIPLE_PRI_KEY],
  [/\bdrop\s+(column|index|key|primary\s+key)\b/, ER_CANT_DROP_FIELD_OR_KEY],
];

/**
 * The errors that say `statement` (a DDL statement as sent) has been applied before: empty for any
 * other statement (DML, reads, ALTER … MODIFY, which simply applies again).
 */
export function alreadyAppliedErrors(statement: string): ReadonlySet<number> {
  const s = statement.trim().toLowerCase();
  if (/^create\s+table\b/.test(s)) return new Set([ER_TABLE_EXISTS_ERROR]);
  if (/^create\s+(unique\s+)?index\b/.test(s)) return new Set([ER_DUP_KEYNAME]);
  if (/^drop\s+table\b/.test(s)) return new Set([ER_BAD_TABLE_ERROR]);
  if (/^drop\s+index\b/.test(s)) return new Set([ER_CANT_DROP_FIELD_OR_KEY]);
  // One ALTER TABLE of several clauses is applied whole or not at all: any of its clauses' answers says it was.
  if (/^alter\s+table\b/.test(s)) return new Set(ALTER_CLAUSES.filter(([clause]) => clause.test(s)).map(([, errno]) => errno));
  return new Set();
}

/** Whether `error`, raised by `statement`, says the statement's effect is already in the database. */
export function isAlreadyApplied(statement: string, error: unknown): boolean {
  const errno = (error as { errno?: unknown } | null)?.errno;
  return typeof errno === 'number' && alreadyAppliedErrors(statement).has(errno);
}

/** Told of each DDL statement passed over, with the server's answer that says it was applied before. */
export type PassedOver = (statement: string, error: Error) => void;

/** By default one JSON line on stderr: an operator reading the log sees which statements a resumed migration did not run again. */
export const logPassedOver: PassedOver = (statement, error) =>
  console.error(JSON.stringify({ time: new Date().toISOString(), event: 'migration_statement_already_applied', statement: statement.length > 300 ? `${statement.slice(0, 300)}…` : statement, error: error.message }));

/** A connection on which a DDL statement whose effect is already there succeeds without doing anything. */
class ResumableDdlConnection implements DatabaseConnection {
  constructor(
    readonly inner: DatabaseConnection,
    private readonly passedOver: PassedOver,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    try {
      return await this.inner.executeQuery<R>(query);
    } catch (error) {
      if (!isAlreadyApplied(query.sql, error)) throw error;
      this.passedOver(query.sql, error as Error);
      return { rows: [] };
    }
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

const innerOf = (connection: DatabaseConnection) => (connection instanceof ResumableDdlConnection ? connection.inner : connection);

class ResumableDdlDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly passedOver: PassedOver,
  ) {}

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new ResumableDdlConnection(await this.inner.acquireConnection(), this.passedOver);
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.inner.beginTransaction(innerOf(connection), settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.commitTransaction(innerOf(connection));
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.rollbackTransaction(innerOf(connection));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(innerOf(connection));
  }

  /** The pool is the store's own (openDatabase's handle ends it); this driver only borrows connections from it. */
  destroy(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The MySQL dialect migrations run under: Kysely's own (its migration lock, GET_LOCK, keeps two
 * processes from migrating at once), over connections that pass over DDL already applied.
 */
export class ResumableDdlDialect extends MysqlDialect {
  constructor(
    config: MysqlDialectConfig,
    private readonly passedOver: PassedOver = logPassedOver,
  ) {
    super(config);
  }

  override createDriver(): Driver {
    return new ResumableDdlDriver(super.createDriver(), this.passedOver);
  }
}
