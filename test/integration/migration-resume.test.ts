import { type Kysely, type KyselyPlugin, type Migration, type MigrationProvider, type PluginTransformQueryArgs, type PluginTransformResultArgs, type QueryResult, type RootOperationNode, type UnknownRow } from 'kysely';
import type { Pool } from 'mysql2';
import { migrateMysql, mysqlPool, openDatabase } from '../../lib/store/database';
import { migrationProvider } from '../../lib/store/migrations';
import { alreadyAppliedErrors } from '../../lib/store/resumable-ddl';
import { createEmptyMysqlDatabase } from '../helpers/databases';

/**
 * MySQL commits DDL statement by statement, so a process killed (or a connection lost) in the
 * middle of a migration leaves its first statements applied and the migration unrecorded. Such a
 * store must open again and end exactly as one migrated without interruption.
 *
 * For every migration, in order: the run is stopped after its first k statements (the point a kill
 * lands), for k = 1, 2, …, each run resuming what the runs before it left, until a run completes the
 * migration; every point a kill can land in every migration is visited. The schema
 * (information_schema: tables, columns, indexes) and the rows the data-moving migrations rewrite
 * (seeded before them) must then equal those of a store migrated in one go.
 */

/** Throws before the statement after the first `statements`, as a kill between two statements would. */
class StopAfter implements KyselyPlugin {
  private seen = 0;
  constructor(private readonly statements: number) {}

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.seen += 1;
    if (this.seen > this.statements) throw new Error(`stopped after ${this.statements} statements`);
    return args.node;
  }

  transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return Promise.resolve(args.result);
  }

  /** After the migration's last statement, before Kysely records it: a kill can land there too. */
  ended(): void {
    if (this.seen >= this.statements) throw new Error(`stopped after ${this.statements} statements`);
  }
}

let names: string[] = [];

/** The first `n` migrations; the last one stopped after `stopAfter` statements when given. */
function upTo(n: number, stopAfter?: number): MigrationProvider {
  return {
    getMigrations: async () => {
      const all = await migrationProvider.getMigrations();
      const out: Record<string, Migration> = {};
      for (const name of names.slice(0, n)) out[name] = all[name];
      const last = all[names[n - 1]];
      if (stopAfter !== undefined) {
        out[names[n - 1]] = {
          ...last,
          up: async (db: Kysely<unknown>) => {
            const stop = new StopAfter(stopAfter);
            await last.up(db.withPlugin(stop));
            stop.ended();
          },
        };
      }
      return out;
    },
  };
}

async function query<R>(pool: Pool, text: string, params: unknown[] = []): Promise<R[]> {
  return new Promise((resolve, reject) => pool.query(text, params, (error, rows) => (error ? reject(error) : resolve(rows as R[]))));
}

/** Rows written before the migrations that move data, so that moving them twice or not at all shows. */
async function seedBefore(pool: Pool, migration: string): Promise<void> {
  if (migration === '0012_staged_chunk_bars') {
    // Two chunks of one import staged as rows (their bars move to its first chunk), one chunk of another without rows.
    for (const [snapshot, chunk] of [['ds-a', 0], ['ds-a', 1], ['ds-b', 3]] as const) {
      await query(pool, 'insert into staged_chunks (snapshot_id, chunk, `rows`, report, attempt_token, staged_at) values (?, ?, 2, ?, ?, ?)', [snapshot, chunk, '{}', 'tok', '2020-01-02T00:00:00.000Z']);
    }
    for (const [symbol, date, close] of [['AAPL', '2020-01-02', 75.0875], ['AAPL', '2020-01-03', 74.3575], ['MSFT', '2020-01-02', 160.62]] as const) {
      await query(pool, 'insert into bars_staging (snapshot_id, symbol, date, open, high, low, close, volume) values (?, ?, ?, ?, ?, ?, ?, ?)', ['ds-a', symbol, date, close - 1, close + 1, close - 2, close, 1000]);
    }
  }
  if (migration === '0013_prediction_log_running_totals') {
    for (const [id, created] of [['r1:champion', '2020-01-02T15:00:00.123Z'], ['r2:canary', '2020-01-03T15:00:00.456Z']] as const) {
      await query(pool, 'insert into prediction_log (id, request_id, model, version, variant, served, symbol, routing_key, as_of, probability, predicted_class, latency_us, error, created_at) values (?, ?, ?, 1, ?, 1, ?, ?, ?, 0.5, 1, 10, null, ?)', [id, id.split(':')[0], 'm', id.split(':')[1], 'AAPL', 'k', '2020-01-02', created]);
    }
  }
  if (migration === '0015_news_early_closes') {
    // Published after the 13:00 early closes of 29 November and 24 December 2019: they move to the next session.
    for (const [id, published, symbol] of [['n1', '2019-11-29 14:30', 'AAPL'], ['n2', '2019-11-29 12:00', 'AAPL'], ['n3', '2019-12-24 13:30', null]] as const) {
      await query(pool, 'insert into news_headlines (id, published, effective_date, symbol, headline, score) values (?, ?, ?, ?, ?, 0.5)', [id, published, published.slice(0, 10), symbol, `headline ${id}`]);
    }
    await query(pool, 'insert into feature_sets (version, name, definition, columns, created_at) values (?, ?, ?, ?, ?)', ['fs-news', 'news', JSON.stringify({ features: [{ kind: 'news_sentiment' }] }), '[]', '2019-01-01T00:00:00.000Z']);
    for (const symbol of ['AAPL', 'MSFT']) await query(pool, 'insert into feature_progress (version, symbol, through, bars, stale_from, updated_at) values (?, ?, ?, 100, null, ?)', ['fs-news', symbol, '2020-01-31', '2020-02-01T00:00:00.000Z']);
  }
}

/** The store's schema and the rows the data-moving migrations rewrite, in a stable order. */
async function dump(pool: Pool): Promise<Record<string, unknown[]>> {
  const tables = await query<{ name: string }>(pool, 'select table_name as name from information_schema.tables where table_schema = database() order by table_name');
  const has = (t: string) => tables.some((r) => r.name === t);
  const out: Record<string, unknown[]> = {
    tables,
    columns: await query(pool, `select table_name, column_name, ordinal_position, column_type, is_nullable, column_default, character_set_name, collation_name, extra
      from information_schema.columns where table_schema = database() order by table_name, ordinal_position`),
    indexes: await query(pool, `select table_name, index_name, seq_in_index, column_name, non_unique
      from information_schema.statistics where table_schema = database() order by table_name, index_name, seq_in_index`),
    migrations: has('kysely_migration') ? await query(pool, 'select name from kysely_migration order by name') : [],
  };
  if (has('staged_chunks')) out.staged_chunks = await query(pool, 'select * from staged_chunks order by snapshot_id, chunk');
  if (has('bars_staging')) out.bars_staging = await query(pool, 'select * from bars_staging order by snapshot_id, symbol, date');
  if (has('prediction_log')) out.prediction_log = await query(pool, 'select * from prediction_log order by id');
  if (has('news_headlines')) out.news_headlines = await query(pool, 'select * from news_headlines order by id');
  // (updated_at is the time of the migration's run)
  if (has('feature_progress')) out.feature_progress = await query(pool, 'select version, symbol, through, bars, stale_from from feature_progress order by version, symbol');
  return out;
}

describe('an interrupted MySQL migration', () => {
  let resumed: { url: string; drop(): Promise<void> };
  let clean: { url: string; drop(): Promise<void> };
  let resumedPool: Pool;
  let cleanPool: Pool;
  beforeAll(async () => {
    names = Object.keys(await migrationProvider.getMigrations()).sort();
    [resumed, clean] = await Promise.all([createEmptyMysqlDatabase(), createEmptyMysqlDatabase()]);
    resumedPool = mysqlPool(resumed.url);
    cleanPool = mysqlPool(clean.url);
  });
  afterAll(async () => {
    await Promise.all([resumedPool, cleanPool].map((p) => p && new Promise((resolve) => p.end(resolve))));
    await Promise.all([resumed?.drop(), clean?.drop()]);
  });

  it('is finished by the next start, from wherever it stopped, with the schema and rows of an uninterrupted one', async () => {
    const stops: string[] = [];
    // Each statement passed over is reported with the server's answer; an uninterrupted store reports none.
    const passedOver: Array<{ statement: string; error: string }> = [];
    const cleanPassedOver: string[] = [];
    for (let n = 1; n <= names.length; n++) {
      const name = names[n - 1];
      await Promise.all([seedBefore(cleanPool, name), seedBefore(resumedPool, name)]);
      await migrateMysql(cleanPool, upTo(n), (statement) => cleanPassedOver.push(statement));
      let k = 1;
      for (; ; k++) {
        const stopped = await migrateMysql(resumedPool, upTo(n, k), (statement, error) => passedOver.push({ statement, error: error.message })).then(
          () => false,
          (error: Error) => {
            // Any other failure is a resume that did not work.
            if (!error.message.includes(`stopped after ${k} statements`)) throw new Error(`${name}, resumed after its first ${k - 1} statements: ${error.message}`, { cause: error });
            return true;
          },
        );
        if (!stopped) break;
      }
      stops.push(`${name}: ${k - 1}`);
      expect({ name, ...(await dump(resumedPool)) }).toEqual({ name, ...(await dump(cleanPool)) });
    }
    // Every migration was stopped at least once (after its last statement at the latest), so every one was resumed.
    expect(stops.filter((s) => s.endsWith(': 0'))).toEqual([]);
    expect(cleanPassedOver).toEqual([]);
    expect(passedOver.length).toBeGreaterThan(names.length);
    expect(passedOver.find((p) => /^create table/i.test(p.statement))?.error).toMatch(/already exists/);
    expect(passedOver.find((p) => /add (unique )?index|create (unique )?index/i.test(p.statement))?.error).toMatch(/Duplicate key name/);

    // The data-moving migrations did move the seeded rows (else the comparison proves little).
    const news = await query<{ id: string; effective_date: string }>(resumedPool, 'select id, effective_date from news_headlines order by id');
    expect(news).toEqual([{ id: 'n1', effective_date: '2019-12-02' }, { id: 'n2', effective_date: '2019-11-29' }, { id: 'n3', effective_date: '2019-12-26' }]);
    expect(await query(resumedPool, 'select symbol, stale_from from feature_progress order by symbol')).toEqual([{ symbol: 'AAPL', stale_from: '2019-11-29' }, { symbol: 'MSFT', stale_from: '2019-12-24' }]);
    const chunks = await query<{ snapshot_id: string; chunk: number; bars: string }>(resumedPool, 'select snapshot_id, chunk, bars from staged_chunks order by snapshot_id, chunk');
    expect(chunks.map((c) => [c.snapshot_id, c.chunk, (JSON.parse(c.bars) as { symbol: string[] }).symbol])).toEqual([['ds-a', 0, ['AAPL', 'AAPL', 'MSFT']], ['ds-a', 1, []], ['ds-b', 3, []]]);
    expect(await query(resumedPool, 'select id, logged_at from prediction_log order by id')).toEqual([{ id: 'r1:champion', logged_at: 1577977200123000 }, { id: 'r2:canary', logged_at: 1578063600456000 }]);

    // And the store opens as any other.
    const store = await openDatabase(resumed.url);
    await store.close();
    // Every migration is run statement by statement, twice per stop: its time grows with their number
    // (30 migrations took 207 s on a loaded 2-core machine).
  }, 480_000);

  it('is still run by one process at a time when two start at once', async () => {
    const [a, b] = await Promise.all([createEmptyMysqlDatabase(), createEmptyMysqlDatabase()]);
    const aPool = mysqlPool(a.url);
    const bPool = mysqlPool(b.url);
    try {
      const [first, second, alone] = await Promise.all([openDatabase(a.url), openDatabase(a.url), openDatabase(b.url)]);
      await Promise.all([first.close(), second.close(), alone.close()]);
      expect(await dump(aPool)).toEqual(await dump(bPool));
    } finally {
      await Promise.all([aPool, bPool].map((p) => new Promise((resolve) => p.end(resolve))));
      await Promise.all([a.drop(), b.drop()]);
    }
  });
});

describe('alreadyAppliedErrors', () => {
  it('passes over only the answer that says a DDL statement took effect before', () => {
    expect([...alreadyAppliedErrors('create table `bars` (`symbol` varchar(32))')]).toEqual([1050]);
    expect([...alreadyAppliedErrors('create unique index `x` on `t` (`c`)')]).toEqual([1061]);
    expect([...alreadyAppliedErrors('drop index `x` on `t`')]).toEqual([1091]);
    expect([...alreadyAppliedErrors('drop table `bars_staging`')]).toEqual([1051]);
    expect([...alreadyAppliedErrors('alter table `deployments` add column `running_model` varchar(64)')]).toEqual([1060]);
    expect([...alreadyAppliedErrors('alter table bars_staging drop primary key, add index bars_staging_snapshot_idx (snapshot_id)')].sort()).toEqual([1061, 1091]);
    // Statements that simply apply again, and data, pass nothing over.
    expect([...alreadyAppliedErrors('alter table `bars` modify symbol varchar(32) character set utf8mb4 collate utf8mb4_bin not null')]).toEqual([]);
    expect([...alreadyAppliedErrors('insert into `kysely_migration` (`name`, `timestamp`) values (?, ?)')]).toEqual([]);
    expect([...alreadyAppliedErrors("update staged_chunks set bars = 'create table'")]).toEqual([]);
  });
});
