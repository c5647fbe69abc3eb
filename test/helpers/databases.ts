import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import { openDatabase, type Database } from '../../lib/store/database';

/** The machine's MariaDB (CI starts it); override with TEST_MYSQL_URL. */
export const TEST_MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
/** One Redis database per Jest worker (1 → db 0), so test files running side by side never share keys. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL || `redis://127.0.0.1:6379/${(Number(process.env.JEST_WORKER_ID ?? '1') - 1) % 16}`;

/**
 * Deletes the online vectors under the processes' default key prefix in this worker's Redis database. For tests that
 * start a real process (which always uses that prefix): another test file's signed vectors there would stop a keyless
 * one at its start-up rule, and what the process writes there must not reach the next file.
 */
export async function clearSharedOnlineVectors(redisUrl: string = TEST_REDIS_URL): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true });
  try {
    await redis.connect();
    for (let cursor = '0'; ; ) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', 'mlp:features:*', 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  } finally {
    redis.disconnect();
  }
}

export interface TestDatabase {
  url: string;
  store: Database;
  /** Closes the store and removes the database (MySQL schema or SQLite file). */
  drop(): Promise<void>;
}

/** A new MySQL database on the test server without any table (no migration applied), and how to remove it. */
export async function createEmptyMysqlDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `mlp_test_${crypto.randomBytes(4).toString('hex')}`;
  const admin = new URL(TEST_MYSQL_URL);
  admin.pathname = '/';
  const conn = await createConnection(admin.toString()).catch((error: unknown) => {
    throw new Error(`MariaDB/MySQL is not reachable at ${TEST_MYSQL_URL} (${(error as Error).message}); start it (see .ci/run) or set TEST_MYSQL_URL`);
  });
  await conn.query(`CREATE DATABASE \`${name}\``);
  await conn.end();
  const url = new URL(TEST_MYSQL_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = await createConnection(admin.toString());
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    },
  };
}

/** A fresh, empty MySQL database on the test server, so test files never see each other's rows. */
export async function createMysqlTestDatabase(): Promise<TestDatabase> {
  const empty = await createEmptyMysqlDatabase();
  const store = await openDatabase(empty.url);
  return {
    url: empty.url,
    store,
    drop: async () => {
      await store.close();
      await empty.drop();
    },
  };
}

export async function createSqliteTestDatabase(): Promise<TestDatabase> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mlp-sqlite-'));
  const url = `sqlite:${path.join(dir, 'test.sqlite')}`;
  const store = await openDatabase(url);
  return {
    url,
    store,
    drop: async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const DRIVERS = [
  ['sqlite', createSqliteTestDatabase],
  ['mysql', createMysqlTestDatabase],
] as const;

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A new temporary folder holding a copy of every file of `from` (a folder of CSVs a test then edits). */
export function copyOfDir(from: string, prefix: string): string {
  const to = tempDir(prefix);
  for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(to, f));
  return to;
}

/** The real S&P 500 folder shared on these machines, if present. */
export const SHARED_SP500_DIR = path.resolve(__dirname, '../../../shared/data/sp500-2013-2018');
export const hasSharedData = fs.existsSync(SHARED_SP500_DIR);
