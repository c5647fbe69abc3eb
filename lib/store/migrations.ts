import { MysqlAdapter, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { firstNyseCloseAfter, nyseEarlyCloses } from '../calendar/nyse';
import { keyLegacyHeadlines, mergeLegacyStories } from './news';
import type { DatabaseSchema } from './schema';

/** JSON documents that can pass 64 KB (MySQL's TEXT): up to 16 MB there; SQLite's TEXT has no such limit. */
const LARGE_TEXT = sql`mediumtext`;

/** Now in µs since the epoch by the database's clock (as lib/store/db-clock.ts; a migration keeps its own copy). */
const MYSQL_NOW_MICROS = sql.raw(`timestampdiff(microsecond, '1970-01-01 00:00:00', utc_timestamp(6))`);
const SQLITE_NOW_MICROS = sql.raw(`cast(round((julianday('now') - 2440587.5) * 86400000) as integer) * 1000`);

/** Tables with a `symbol` column before 0007, and whether it is nullable. */
const SYMBOL_COLUMNS = [['bars', false], ['quarantine', true], ['feature_rows', false], ['news_headlines', true], ['prediction_log', false], ['prediction_outcomes', false]] as const;

/** Whether the table exists (a migration run again on MySQL may find it dropped already). */
async function tableExists(db: Kysely<unknown>, table: string): Promise<boolean> {
  const found =
    db.getExecutor().adapter instanceof MysqlAdapter
      ? await sql<{ n: number }>`select count(*) as n from information_schema.tables where table_schema = database() and table_name = ${table}`.execute(db)
      : await sql<{ n: number }>`select count(*) as n from sqlite_master where type = 'table' and name = ${table}`.execute(db);
  return Number(found.rows[0]?.n ?? 0) > 0;
}

/**
 * Migration 0015: a headline's effective date is set at import (lib/news/headlines.ts). Until the
 * calendar knew the 13:00 early closes, one published before 16:00 on a trading day counted on that
 * day even when the market had closed at 13:00: those published from the early close to 16:00 move
 * to the next trading day, and the stored rows of every feature set with news features are marked
 * stale from the day they left (feature_progress.stale_from; for their symbol, or every symbol for
 * market-wide news), as lib/store/news.ts marks them (a migration keeps its own copy).
 */
async function moveEarlyCloseNews(db: Kysely<unknown>): Promise<void> {
  const range = await sql<{ lo: string | null; hi: string | null }>`select min(published) as lo, max(published) as hi from news_headlines`.execute(db);
  const lo = range.rows[0]?.lo;
  const hi = range.rows[0]?.hi;
  if (!lo || !hi) return;
  const days: string[] = [];
  for (let year = Number(lo.slice(0, 4)); year <= Number(hi.slice(0, 4)); year++) days.push(...nyseEarlyCloses(year).keys());
  const moved: Array<{ id: string; symbol: string | null; from: string; to: string }> = [];
  for (let i = 0; i < days.length; i += 200) {
    const rows = await sql<{ id: string; published: string; effective_date: string; symbol: string | null }>`
      select id, published, effective_date, symbol from news_headlines where substr(published, 1, 10) in (${sql.join(days.slice(i, i + 200))})`.execute(db);
    for (const r of rows.rows) {
      // Without a time a headline already counts from the next trading day.
      if (!/^\d{4}-\d{2}-\d{2} ([01]\d|2[0-3]):[0-5]\d$/.test(r.published)) continue;
      const to = firstNyseCloseAfter(r.published.slice(0, 10), r.published.slice(11));
      if (to !== r.effective_date) moved.push({ id: r.id, symbol: r.symbol, from: r.effective_date, to });
    }
  }
  if (moved.length === 0) return;
  for (const m of moved) await sql`update news_headlines set effective_date = ${m.to} where id = ${m.id}`.execute(db);
  const definitions = await sql<{ version: string; definition: string }>`select version, definition from feature_sets`.execute(db);
  const versions = definitions.rows.filter((r) => (JSON.parse(r.definition) as { features?: Array<{ kind?: unknown }> }).features?.some((f) => f.kind === 'news_sentiment')).map((r) => r.version);
  if (versions.length === 0) return;
  const earliest = new Map<string | null, string>();
  for (const m of moved) {
    const date = m.from < m.to ? m.from : m.to;
    const known = earliest.get(m.symbol);
    if (known === undefined || date < known) earliest.set(m.symbol, date);
  }
  const now = new Date().toISOString();
  for (const [symbol, date] of earliest) {
    await sql`update feature_progress set stale_from = ${date}, updated_at = ${now}
      where version in (${sql.join(versions)}) and (stale_from is null or stale_from > ${date})${symbol === null ? sql`` : sql` and symbol = ${symbol}`}`.execute(db);
  }
}

/**
 * Versioned schema migrations, applied in name order at start-up by every process.
 * Written once with portable types so MySQL and SQLite get the same schema; never change what a
 * released migration does, add a new one.
 *
 * Every migration must be safe to run again from its start after any of its statements: SQLite runs
 * each in one transaction, but MySQL commits DDL statement by statement, so a migration interrupted
 * there (a kill, a lost connection) is run again whole by the next start. DDL already applied is
 * passed over (lib/store/resumable-ddl.ts); a statement that moves data must find its work done, or
 * do it again with the same result, and DML that must happen together runs in a transaction.
 * test/integration/migration-resume.test.ts stops every migration after each of its statements.
 */
const migrations: Record<string, Migration> = {
  '0001_market_data': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('bars')
        .addColumn('symbol', 'varchar(32)', (c) => c.notNull())
        .addColumn('date', 'varchar(10)', (c) => c.notNull())
        .addColumn('open', 'double precision', (c) => c.notNull())
        .addColumn('high', 'double precision', (c) => c.notNull())
        .addColumn('low', 'double precision', (c) => c.notNull())
        .addColumn('close', 'double precision', (c) => c.notNull())
        .addColumn('volume', 'double precision', (c) => c.notNull())
        .addPrimaryKeyConstraint('bars_pk', ['symbol', 'date'])
        .execute();
      // No separate date index: every read is per symbol (+ date range), which the primary key
      // serves, and on SQLite a date index made bulk imports 3-4x slower.

      await db.schema
        .createTable('dataset_snapshots')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('content_hash', 'varchar(64)', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('symbols', 'text', (c) => c.notNull())
        .addColumn('symbol_count', 'integer', (c) => c.notNull())
        .addColumn('first_date', 'varchar(10)')
        .addColumn('last_date', 'varchar(10)')
        .addColumn('rows_read', 'integer', (c) => c.notNull())
        .addColumn('row_count', 'integer', (c) => c.notNull())
        .addColumn('rejected_count', 'integer', (c) => c.notNull())
        .addColumn('flagged_count', 'integer', (c) => c.notNull())
        .addColumn('quality_report', 'text', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('status_reason', 'text')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('quarantine')
        .addColumn('issue_key', 'varchar(40)', (c) => c.primaryKey())
        .addColumn('snapshot_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('rule', 'varchar(40)', (c) => c.notNull())
        .addColumn('severity', 'varchar(8)', (c) => c.notNull())
        .addColumn('symbol', 'varchar(32)')
        .addColumn('date', 'varchar(10)')
        .addColumn('source', 'varchar(512)', (c) => c.notNull())
        .addColumn('line', 'integer')
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('raw', 'text')
        .execute();
      await db.schema
        .createIndex('quarantine_snapshot_idx')
        .on('quarantine')
        .columns(['snapshot_id', 'rule'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('quarantine').execute();
      await db.schema.dropTable('dataset_snapshots').execute();
      await db.schema.dropTable('bars').execute();
    },
  },
  '0002_feature_store': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('feature_sets')
        .addColumn('version', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('name', 'varchar(64)', (c) => c.notNull())
        .addColumn('definition', 'text', (c) => c.notNull())
        .addColumn('columns', 'text', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      // One row per (feature-set version, symbol, date); the values are packed little-endian
      // float64 in the set's column order, so a row costs 8 bytes per feature on both drivers.
      await db.schema
        .createTable('feature_rows')
        .addColumn('version', 'varchar(64)', (c) => c.notNull())
        .addColumn('symbol', 'varchar(32)', (c) => c.notNull())
        .addColumn('date', 'varchar(10)', (c) => c.notNull())
        .addColumn('vals', 'blob', (c) => c.notNull())
        .addPrimaryKeyConstraint('feature_rows_pk', ['version', 'symbol', 'date'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('feature_rows').execute();
      await db.schema.dropTable('feature_sets').execute();
    },
  },
  '0003_news': {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable('news_headlines')
        .addColumn('id', 'varchar(40)', (c) => c.primaryKey())
        .addColumn('published', 'varchar(16)', (c) => c.notNull())
        .addColumn('effective_date', 'varchar(10)', (c) => c.notNull())
        .addColumn('symbol', 'varchar(32)')
        .addColumn('headline', 'text', (c) => c.notNull())
        .addColumn('score', 'double precision', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('news_effective_idx').on('news_headlines').columns(['effective_date']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('news_headlines').execute();
    },
  },
  '0004_model_registry': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Immutable model versions: a row is written once and never updated.
      await db.schema
        .createTable('model_versions')
        .addColumn('name', 'varchar(64)', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('artifact_sha256', 'varchar(64)', (c) => c.notNull())
        .addColumn('artifact_bytes', 'integer', (c) => c.notNull())
        .addColumn('algorithm', 'varchar(64)', (c) => c.notNull())
        .addColumn('params', 'text', (c) => c.notNull())
        .addColumn('seed', 'integer', (c) => c.notNull())
        .addColumn('feature_set_version', 'varchar(64)', (c) => c.notNull())
        .addColumn('label', 'text', (c) => c.notNull())
        .addColumn('snapshot_id', 'varchar(64)')
        .addColumn('snapshot_hash', 'varchar(64)')
        .addColumn('code_version', 'varchar(64)', (c) => c.notNull())
        .addColumn('workflow_id', 'varchar(255)')
        .addColumn('run_id', 'varchar(64)')
        // Retried registrations carry the same key and find the version already there.
        .addColumn('registration_key', 'varchar(255)', (c) => c.notNull().unique())
        .addColumn('metrics', 'text', (c) => c.notNull())
        .addColumn('lineage', 'text', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('model_versions_pk', ['name', 'version'])
        .execute();
      await db.schema
        .createTable('model_aliases')
        .addColumn('name', 'varchar(64)', (c) => c.notNull())
        .addColumn('alias', 'varchar(32)', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('model_aliases_pk', ['name', 'alias'])
        .execute();
      // Append-only: every alias move, who or what made it, when and why.
      await db.schema
        .createTable('model_alias_history')
        .addColumn('name', 'varchar(64)', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('alias', 'varchar(32)', (c) => c.notNull())
        .addColumn('from_version', 'integer')
        .addColumn('to_version', 'integer')
        .addColumn('moved_by', 'varchar(255)', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('moved_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('model_alias_history_pk', ['name', 'seq'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('model_alias_history').execute();
      await db.schema.dropTable('model_aliases').execute();
      await db.schema.dropTable('model_versions').execute();
    },
  },
  '0005_serving_and_deployments': {
    async up(db: Kysely<unknown>): Promise<void> {
      // The traffic split each prediction API process serves, per model name. One row per model;
      // `generation` grows by one on every change so processes can tell newer from older.
      await db.schema
        .createTable('serving_routes')
        .addColumn('model', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('generation', 'integer', (c) => c.notNull())
        .addColumn('routes', 'text', (c) => c.notNull()) // JSON ServingRoutes (lib/serving/serving-routes.ts)
        .addColumn('updated_by', 'varchar(255)', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      // Append-only: every traffic-split change.
      await db.schema
        .createTable('serving_route_history')
        .addColumn('model', 'varchar(64)', (c) => c.notNull())
        .addColumn('generation', 'integer', (c) => c.notNull())
        .addColumn('routes', 'text', (c) => c.notNull())
        .addColumn('updated_by', 'varchar(255)', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('serving_route_history_pk', ['model', 'generation'])
        .execute();
      // Every prediction a model made for a request, served or not (shadow and paired reference
      // predictions are logged with served = 0), so outcomes can be joined when labels mature.
      await db.schema
        .createTable('prediction_log')
        .addColumn('id', 'varchar(80)', (c) => c.primaryKey()) // requestId + ':' + variant
        .addColumn('request_id', 'varchar(32)', (c) => c.notNull())
        .addColumn('model', 'varchar(64)', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('variant', 'varchar(32)', (c) => c.notNull())
        .addColumn('served', 'integer', (c) => c.notNull())
        .addColumn('symbol', 'varchar(32)', (c) => c.notNull())
        .addColumn('routing_key', 'varchar(128)', (c) => c.notNull())
        .addColumn('as_of', 'varchar(10)', (c) => c.notNull())
        .addColumn('probability', 'double precision')
        .addColumn('predicted_class', 'integer')
        .addColumn('latency_us', 'integer', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('prediction_log_model_time_idx').on('prediction_log').columns(['model', 'created_at']).execute();
      await db.schema
        .createTable('deployments')
        .addColumn('id', 'varchar(128)', (c) => c.primaryKey()) // the deployment workflow id
        .addColumn('model', 'varchar(64)', (c) => c.notNull())
        .addColumn('mode', 'varchar(16)', (c) => c.notNull()) // canary | ab
        .addColumn('champion_version', 'integer')
        .addColumn('challenger_version', 'integer', (c) => c.notNull())
        .addColumn('status', 'varchar(32)', (c) => c.notNull())
        .addColumn('plan', 'text', (c) => c.notNull()) // JSON deployment plan
        .addColumn('outcome', LARGE_TEXT) // JSON final state, written when it ends
        .addColumn('started_by', 'varchar(255)', (c) => c.notNull())
        .addColumn('started_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('ended_at', 'varchar(32)')
        .execute();
      await db.schema
        .createTable('alerts')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('rule', 'varchar(64)', (c) => c.notNull())
        .addColumn('severity', 'varchar(16)', (c) => c.notNull()) // info | warning | critical
        .addColumn('subject', 'varchar(255)', (c) => c.notNull()) // what it is about, e.g. "model direction-5d"
        .addColumn('message', 'text', (c) => c.notNull())
        .addColumn('evidence', LARGE_TEXT, (c) => c.notNull()) // JSON
        .addColumn('status', 'varchar(16)', (c) => c.notNull()) // open | acked
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('acked_by', 'varchar(255)')
        .addColumn('acked_at', 'varchar(32)')
        .execute();
      await db.schema.createIndex('alerts_rule_subject_idx').on('alerts').columns(['rule', 'subject', 'created_at']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['alerts', 'deployments', 'prediction_log', 'serving_route_history', 'serving_routes']) await db.schema.dropTable(table).execute();
    },
  },
  '0006_operations': {
    async up(db: Kysely<unknown>): Promise<void> {
      // A version's metrics and lineage (the experiment, every trial) can pass MySQL's 64 KB TEXT.
      if (db.getExecutor().adapter instanceof MysqlAdapter) {
        await sql`alter table model_versions modify metrics mediumtext not null, modify lineage mediumtext not null`.execute(db);
      }
      // Delivery of each alert to each channel (webhook, …): an outbox, so an alert raised while the
      // receiver is down is retried until delivered and never lost.
      await db.schema
        .createTable('alert_deliveries')
        .addColumn('alert_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('channel', 'varchar(64)', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull()) // pending | delivered
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('next_attempt_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('delivered_at', 'varchar(32)')
        .addPrimaryKeyConstraint('alert_deliveries_pk', ['alert_id', 'channel'])
        .execute();
      await db.schema.createIndex('alert_deliveries_status_idx').on('alert_deliveries').columns(['status', 'next_attempt_at']).execute();
      // What a model saw in training (per-feature and score distributions), the reference drift is measured against.
      await db.schema
        .createTable('model_reference_profiles')
        .addColumn('name', 'varchar(64)', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('profile', LARGE_TEXT, (c) => c.notNull()) // JSON ReferenceProfile (lib/monitoring)
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('model_reference_profiles_pk', ['name', 'version'])
        .execute();
      // Outcomes of logged predictions, recorded when the bar that matures them arrives.
      await db.schema
        .createTable('prediction_outcomes')
        .addColumn('prediction_id', 'varchar(80)', (c) => c.primaryKey())
        .addColumn('model', 'varchar(64)', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('variant', 'varchar(32)', (c) => c.notNull())
        .addColumn('symbol', 'varchar(32)', (c) => c.notNull())
        .addColumn('as_of', 'varchar(10)', (c) => c.notNull())
        .addColumn('outcome', 'integer') // null: matured without a label (dead zone, missing bar)
        .addColumn('matured_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      // The stream consumer looks up, per arriving bar, the predictions of that symbol it may mature.
      await db.schema.createIndex('prediction_log_symbol_idx').on('prediction_log').columns(['symbol', 'as_of']).execute();
      await db.schema.createIndex('prediction_outcomes_model_idx').on('prediction_outcomes').columns(['model', 'as_of']).execute();
      // One row per monitoring run and model: the evidence behind alerts and dashboards.
      await db.schema
        .createTable('monitoring_reports')
        .addColumn('id', 'varchar(128)', (c) => c.primaryKey())
        .addColumn('model', 'varchar(64)', (c) => c.notNull())
        .addColumn('version', 'integer')
        .addColumn('report', LARGE_TEXT, (c) => c.notNull()) // JSON MonitoringReport
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('monitoring_reports_model_idx').on('monitoring_reports').columns(['model', 'created_at']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['monitoring_reports', 'prediction_outcomes', 'model_reference_profiles', 'alert_deliveries']) await db.schema.dropTable(table).execute();
    },
  },
  '0007_staged_imports': {
    async up(db: Kysely<unknown>): Promise<void> {
      const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
      // Symbols compare byte for byte: under MySQL's default collation `aapl` overwrote `AAPL` and
      // `ÄPPL` was the same key as `APPL`. SQLite already compares text as bytes.
      const symbolType = mysql ? sql`varchar(32) character set utf8mb4 collate utf8mb4_bin` : 'varchar(32)';
      if (mysql) {
        for (const [table, nullable] of SYMBOL_COLUMNS) {
          await sql`alter table ${sql.table(table)} modify symbol varchar(32) character set utf8mb4 collate utf8mb4_bin ${sql.raw(nullable ? 'null' : 'not null')}`.execute(db);
        }
      }
      for (const [column, type] of [['attempt_token', 'varchar(64)'], ['published_at', 'varchar(32)'], ['bars_added', 'integer'], ['bars_revised', 'integer']] as const) {
        await db.schema.alterTable('dataset_snapshots').addColumn(column, type).execute();
      }
      await db.schema
        .createTable('bars_staging')
        .addColumn('snapshot_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('symbol', symbolType, (c) => c.notNull())
        .addColumn('date', 'varchar(10)', (c) => c.notNull())
        .addColumn('open', 'double precision', (c) => c.notNull())
        .addColumn('high', 'double precision', (c) => c.notNull())
        .addColumn('low', 'double precision', (c) => c.notNull())
        .addColumn('close', 'double precision', (c) => c.notNull())
        .addColumn('volume', 'double precision', (c) => c.notNull())
        // The key also refuses a bar staged twice for one snapshot.
        .addPrimaryKeyConstraint('bars_staging_pk', ['snapshot_id', 'symbol', 'date'])
        .execute();
      await db.schema
        .createTable('staged_chunks')
        .addColumn('snapshot_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('chunk', 'integer', (c) => c.notNull())
        .addColumn('rows', 'integer', (c) => c.notNull())
        .addColumn('report', LARGE_TEXT, (c) => c.notNull())
        .addColumn('attempt_token', 'varchar(64)', (c) => c.notNull())
        .addColumn('staged_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('staged_chunks_pk', ['snapshot_id', 'chunk'])
        .execute();
      let revisions = db.schema
        .createTable('bar_revisions')
        .addColumn('snapshot_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('symbol', symbolType, (c) => c.notNull())
        .addColumn('date', 'varchar(10)', (c) => c.notNull());
      for (const side of ['old', 'new']) {
        for (const field of ['open', 'high', 'low', 'close', 'volume']) revisions = revisions.addColumn(`${side}_${field}`, 'double precision', (c) => c.notNull());
      }
      await revisions.addColumn('published_at', 'varchar(32)', (c) => c.notNull()).addPrimaryKeyConstraint('bar_revisions_pk', ['snapshot_id', 'symbol', 'date']).execute();
      await db.schema.createIndex('bar_revisions_published_idx').on('bar_revisions').columns(['published_at']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['bar_revisions', 'staged_chunks', 'bars_staging']) await db.schema.dropTable(table).execute();
      for (const column of ['attempt_token', 'published_at', 'bars_added', 'bars_revised']) await db.schema.alterTable('dataset_snapshots').dropColumn(column).execute();
      if (db.getExecutor().adapter instanceof MysqlAdapter) {
        for (const [table, nullable] of SYMBOL_COLUMNS) await sql`alter table ${sql.table(table)} modify symbol varchar(32) ${sql.raw(nullable ? 'null' : 'not null')}`.execute(db);
      }
    },
  },
  '0008_feature_revisions': {
    async up(db: Kysely<unknown>): Promise<void> {
      const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
      const symbolType = mysql ? sql`varchar(32) character set utf8mb4 collate utf8mb4_bin` : 'varchar(32)';
      // What a feature-set version's stored rows were computed from, per input series: how many bars
      // it had up to `through` (a back-fill raises the count) and from which date its rows are known
      // stale (a revision absorbed but not yet recomputed).
      await db.schema
        .createTable('feature_progress')
        .addColumn('version', 'varchar(64)', (c) => c.notNull())
        .addColumn('symbol', symbolType, (c) => c.notNull())
        .addColumn('through', 'varchar(10)')
        .addColumn('bars', 'integer')
        .addColumn('stale_from', 'varchar(10)')
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('feature_progress_pk', ['version', 'symbol'])
        .execute();
      // The published snapshots whose bar revisions a version has absorbed: each revision once.
      await db.schema
        .createTable('feature_revision_marks')
        .addColumn('version', 'varchar(64)', (c) => c.notNull())
        .addColumn('snapshot_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('applied_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('feature_revision_marks_pk', ['version', 'snapshot_id'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['feature_revision_marks', 'feature_progress']) await db.schema.dropTable(table).execute();
    },
  },
  '0009_prediction_log_variant_idx': {
    async up(db: Kysely<unknown>): Promise<void> {
      // The deployment analyses aggregate one variant's rows of a model's window (the canary side of
      // the paired join, the served rows of an A/B test): this reads those rows only.
      await db.schema.createIndex('prediction_log_variant_time_idx').on('prediction_log').columns(['model', 'variant', 'created_at']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('prediction_log_variant_time_idx').on('prediction_log').execute();
    },
  },
  '0010_staging_without_key': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Staged rows need no unique key: a chunk is staged whole or not at all under the
      // staged_chunks key, the quality rules drop duplicates within a chunk, and a symbol is never
      // split across chunks. The 3-column key cost ~20% of staging time on MariaDB; an index on the
      // snapshot is all that publish, count and delete read by.
      if (db.getExecutor().adapter instanceof MysqlAdapter) {
        await sql`alter table bars_staging drop primary key, add index bars_staging_snapshot_idx (snapshot_id)`.execute(db);
        return;
      }
      // SQLite cannot drop a key: rebuild the table (in-flight rows are copied).
      await sql`alter table bars_staging rename to bars_staging_keyed`.execute(db);
      await db.schema
        .createTable('bars_staging')
        .addColumn('snapshot_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('symbol', 'varchar(32)', (c) => c.notNull())
        .addColumn('date', 'varchar(10)', (c) => c.notNull())
        .addColumn('open', 'double precision', (c) => c.notNull())
        .addColumn('high', 'double precision', (c) => c.notNull())
        .addColumn('low', 'double precision', (c) => c.notNull())
        .addColumn('close', 'double precision', (c) => c.notNull())
        .addColumn('volume', 'double precision', (c) => c.notNull())
        .execute();
      await sql`insert into bars_staging select snapshot_id, symbol, date, open, high, low, close, volume from bars_staging_keyed`.execute(db);
      await db.schema.dropTable('bars_staging_keyed').execute();
      await db.schema.createIndex('bars_staging_snapshot_idx').on('bars_staging').columns(['snapshot_id']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('bars_staging_snapshot_idx').on('bars_staging').execute();
      if (db.getExecutor().adapter instanceof MysqlAdapter) await sql`alter table bars_staging add primary key (snapshot_id, symbol, date)`.execute(db);
      else await db.schema.createIndex('bars_staging_pk').on('bars_staging').columns(['snapshot_id', 'symbol', 'date']).unique().execute();
    },
  },
  '0011_large_documents': {
    async up(db: Kysely<unknown>): Promise<void> {
      // JSON documents that grow with the universe: an 800-symbol import's quality report passes
      // MySQL's 64 KB TEXT and failed the import ("Data too long for column 'quality_report'").
      // MEDIUMTEXT holds 16 MB; SQLite's TEXT has no such limit, so nothing changes there.
      if (!(db.getExecutor().adapter instanceof MysqlAdapter)) return;
      for (const [table, columns] of LARGE_DOCUMENT_COLUMNS) {
        await sql`alter table ${sql.table(table)} ${sql.join(columns.map(([column, nullable]) => sql`modify ${sql.ref(column)} mediumtext ${sql.raw(nullable ? 'null' : 'not null')}`))}`.execute(db);
      }
    },
    async down(db: Kysely<unknown>): Promise<void> {
      if (!(db.getExecutor().adapter instanceof MysqlAdapter)) return;
      for (const [table, columns] of LARGE_DOCUMENT_COLUMNS) {
        await sql`alter table ${sql.table(table)} ${sql.join(columns.map(([column, nullable]) => sql`modify ${sql.ref(column)} text ${sql.raw(nullable ? 'null' : 'not null')}`))}`.execute(db);
      }
    },
  },
  '0012_staged_chunk_bars': {
    async up(db: Kysely<unknown>): Promise<void> {
      // A staged chunk keeps its bars in its own row (columnar JSON) instead of one row per bar in
      // bars_staging: half the rows an import writes, and nothing to delete row by row at publish.
      const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
      await sql`alter table staged_chunks add column bars ${mysql ? sql`longtext` : sql`text`}`.execute(db);
      // Only chunks without bars: run again on MySQL after the rows below moved (and bars_staging was
      // dropped), setting every chunk empty would lose them.
      await sql`update staged_chunks set bars = ${JSON.stringify({ symbol: [], date: [], open: [], high: [], low: [], close: [], volume: [] })} where bars is null`.execute(db);
      if (!(await tableExists(db, 'bars_staging'))) return; // moved and dropped by an earlier run
      // Imports staged before this migration keep their rows: all of a snapshot's bars move into its
      // first chunk (publish reads chunk by chunk, so the result is the same; moved again, the same).
      const snapshots = await sql<{ snapshot_id: string; first: number }>`
        select c.snapshot_id, min(c.chunk) as ${sql.ref('first')} from staged_chunks c
        where exists (select 1 from bars_staging s where s.snapshot_id = c.snapshot_id) group by c.snapshot_id`.execute(db);
      for (const { snapshot_id: id, first } of snapshots.rows) {
        const bars = await sql<{ symbol: string; date: string; open: number; high: number; low: number; close: number; volume: number }>`
          select symbol, date, open, high, low, close, volume from bars_staging where snapshot_id = ${id} order by symbol, date`.execute(db);
        const columns = { symbol: [] as string[], date: [] as string[], open: [] as number[], high: [] as number[], low: [] as number[], close: [] as number[], volume: [] as number[] };
        for (const b of bars.rows) {
          columns.symbol.push(b.symbol);
          columns.date.push(b.date);
          for (const f of ['open', 'high', 'low', 'close', 'volume'] as const) columns[f].push(Number(b[f]));
        }
        await sql`update staged_chunks set bars = ${JSON.stringify(columns)} where snapshot_id = ${id} and chunk = ${first}`.execute(db);
      }
      await db.schema.dropTable('bars_staging').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
      await db.schema
        .createTable('bars_staging')
        .addColumn('snapshot_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('symbol', mysql ? sql`varchar(32) character set utf8mb4 collate utf8mb4_bin` : 'varchar(32)', (c) => c.notNull())
        .addColumn('date', 'varchar(10)', (c) => c.notNull())
        .addColumn('open', 'double precision', (c) => c.notNull())
        .addColumn('high', 'double precision', (c) => c.notNull())
        .addColumn('low', 'double precision', (c) => c.notNull())
        .addColumn('close', 'double precision', (c) => c.notNull())
        .addColumn('volume', 'double precision', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('bars_staging_snapshot_idx').on('bars_staging').columns(['snapshot_id']).execute();
      await db.schema.alterTable('staged_chunks').dropColumn('bars').execute();
    },
  },
  '0013_prediction_log_running_totals': {
    async up(db: Kysely<unknown>): Promise<void> {
      // The deployment analyses keep running totals per analysis stream and fold in only the rows
      // logged since their last fold (lib/deployment/log-aggregates.ts): rows need the time they
      // were written, by the database's clock, and an index to find them by it.
      const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
      await db.schema.alterTable('prediction_log').addColumn('logged_at', 'bigint').execute();
      // Rows logged before this migration: their request time is the best estimate (rows that have
      // one already were set by an earlier run of this migration, on MySQL).
      if (mysql) await sql`update prediction_log set logged_at = timestampdiff(microsecond, '1970-01-01 00:00:00', str_to_date(left(created_at, 23), '%Y-%m-%dT%H:%i:%s.%f')) where logged_at is null`.execute(db);
      else await sql`update prediction_log set logged_at = cast(round((julianday(created_at) - 2440587.5) * 86400000) as integer) * 1000 where logged_at is null`.execute(db);
      // Every row gets it, whoever inserts it (the log writer sets it itself): MySQL through an
      // expression default, SQLite (which cannot add a column with one) through a trigger.
      if (mysql) await sql`alter table prediction_log modify logged_at bigint null default (${MYSQL_NOW_MICROS})`.execute(db);
      else {
        await sql`create trigger prediction_log_logged_at after insert on prediction_log when new.logged_at is null
          begin update prediction_log set logged_at = ${SQLITE_NOW_MICROS} where rowid = new.rowid; end`.execute(db);
      }
      await db.schema.createIndex('prediction_log_logged_idx').on('prediction_log').columns(['model', 'logged_at']).execute();
      // Replaces (model, variant, created_at): the analyses now find a variant's rows by when they were logged.
      await db.schema.createIndex('prediction_log_variant_logged_idx').on('prediction_log').columns(['model', 'variant', 'logged_at']).execute();
      if (mysql) await db.schema.dropIndex('prediction_log_variant_time_idx').on('prediction_log').execute();
      else await db.schema.dropIndex('prediction_log_variant_time_idx').execute();
      await db.schema
        .createTable('analysis_streams')
        .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('definition', LARGE_TEXT, (c) => c.notNull())
        .addColumn('folded_until', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('analysis_streams_updated_idx').on('analysis_streams').columns(['updated_at']).execute();
      // Cells name symbols; they must compare byte for byte as prediction_log's do (migration 0007).
      await db.schema
        .createTable('analysis_cells')
        .addColumn('stream', 'varchar(64)', (c) => c.notNull())
        .addColumn('cell', mysql ? sql`varchar(255) character set utf8mb4 collate utf8mb4_bin` : 'varchar(255)', (c) => c.notNull())
        .addColumn('n', 'bigint', (c) => c.notNull())
        .addColumn('s1', 'double precision', (c) => c.notNull())
        .addColumn('s2', 'double precision', (c) => c.notNull())
        .addPrimaryKeyConstraint('analysis_cells_pk', ['stream', 'cell'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['analysis_cells', 'analysis_streams']) await db.schema.dropTable(table).execute();
      await db.schema.createIndex('prediction_log_variant_time_idx').on('prediction_log').columns(['model', 'variant', 'created_at']).execute();
      const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
      if (!mysql) await sql`drop trigger if exists prediction_log_logged_at`.execute(db);
      for (const index of ['prediction_log_variant_logged_idx', 'prediction_log_logged_idx']) {
        if (mysql) await db.schema.dropIndex(index).on('prediction_log').execute();
        else await db.schema.dropIndex(index).execute();
      }
      await db.schema.alterTable('prediction_log').dropColumn('logged_at').execute();
    },
  },
  '0014_deployment_analyses': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Every analysis of a running deployment, written by the analysis activity, so the dashboard
      // and the CLI can show a rollout's timeline before it ends (deployments.outcome is written at
      // the end). Keyed by the workflow's analysis count: a retried activity rewrites its own row.
      await db.schema
        .createTable('deployment_analyses')
        .addColumn('deployment_id', 'varchar(128)', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('phase', 'varchar(16)', (c) => c.notNull())
        .addColumn('weight', 'double precision', (c) => c.notNull())
        .addColumn('verdict', 'varchar(32)', (c) => c.notNull())
        .addColumn('reasons', 'text', (c) => c.notNull())
        .addColumn('detail', LARGE_TEXT, (c) => c.notNull())
        .addColumn('analysed_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('deployment_analyses_pk', ['deployment_id', 'seq'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('deployment_analyses').execute();
    },
  },
  '0015_news_early_closes': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Data only: on MySQL in one transaction (SQLite's migration is one already). Interrupted after
      // the headlines moved and before their feature rows were marked stale, a second run would find
      // nothing to move and the rows would never be marked.
      if (db.getExecutor().adapter instanceof MysqlAdapter) await db.transaction().execute((trx) => moveEarlyCloseNews(trx));
      else await moveEarlyCloseNews(db);
    },
    async down(): Promise<void> {
      // The corrected effective dates stay: the earlier ones came after the day's close.
    },
  },
  '0016_model_version_signatures': {
    async up(db: Kysely<unknown>): Promise<void> {
      // With MODEL_SIGNING_KEY set, registration signs each version's row (lib/registry/row-signature.ts)
      // and verification refuses a row whose signature is missing or does not match. Rows registered
      // before (or without the key) stay null until `mlp models sign` signs them.
      await db.schema.alterTable('model_versions').addColumn('signature', 'varchar(64)').execute();
      await db.schema.alterTable('model_versions').addColumn('signature_key_id', 'varchar(16)').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('model_versions').dropColumn('signature_key_id').execute();
      await db.schema.alterTable('model_versions').dropColumn('signature').execute();
    },
  },
  '0017_content_clocks': {
    async up(db: Kysely<unknown>): Promise<void> {
      // When each file content (sha256 of its text) was first seen: its bars are judged by that clock
      // wherever the same bytes come back (lib/ingest/import-bars.ts). Nothing to backfill: earlier
      // snapshots recorded one clock per import, not per file.
      await db.schema
        .createTable('content_clocks')
        .addColumn('content_sha256', 'varchar(64)', (c) => c.primaryKey())
        .addColumn('seen_at', 'varchar(32)', (c) => c.notNull())
        .addColumn('source', 'varchar(512)', (c) => c.notNull())
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('content_clocks').execute();
    },
  },
  '0019_live_bar_sources': {
    async up(db: Kysely<unknown>): Promise<void> {
      // The stream entry (id, zero-padded so text order is stream order) that last wrote each live
      // bar: a redelivered older entry never overwrites a bar a newer entry of the stream wrote
      // (lib/streaming/live-bar-store.ts). Binary collation: stream keys and symbols are case-sensitive.
      const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
      const text = (n: number) => (mysql ? sql`varchar(${sql.raw(String(n))}) character set utf8mb4 collate utf8mb4_bin` : sql`varchar(${sql.raw(String(n))})`);
      await db.schema
        .createTable('live_bar_sources')
        .addColumn('stream', text(64), (c) => c.notNull())
        .addColumn('symbol', text(32), (c) => c.notNull())
        .addColumn('date', 'varchar(10)', (c) => c.notNull())
        .addColumn('entry', 'varchar(41)', (c) => c.notNull())
        .addPrimaryKeyConstraint('live_bar_sources_pk', ['stream', 'symbol', 'date'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('live_bar_sources').execute();
    },
  },
  '0020_deployment_lock': {
    async up(db: Kysely<unknown>): Promise<void> {
      // One running deployment per model: `running_model` holds the model's name while a deployment
      // runs and null once it ends; under a unique index (NULLs never collide) a second start's
      // insert fails, whichever process starts it. `routes_generation` is the serving_routes
      // generation the deployment last wrote or started from: a newer one by someone else means an
      // operator took the traffic over. Both null on rows written before.
      await db.schema.alterTable('deployments').addColumn('running_model', 'varchar(64)').execute();
      await db.schema.alterTable('deployments').addColumn('routes_generation', 'integer').execute();
      await db.schema.createIndex('deployments_running_model_idx').on('deployments').column('running_model').unique().execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
      if (mysql) await db.schema.dropIndex('deployments_running_model_idx').on('deployments').execute();
      else await db.schema.dropIndex('deployments_running_model_idx').execute();
      await db.schema.alterTable('deployments').dropColumn('routes_generation').execute();
      await db.schema.alterTable('deployments').dropColumn('running_model').execute();
    },
  },
  '0022_promotion_challenges': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Every challenge a run's best model made against a champion (or for the empty champion slot):
      // lib/registry/challenges.ts counts the earlier ones on an overlapping evaluation period, and
      // the promotion level spends alpha over them (lib/registry/promotion.ts challengeLevel).
      await db.schema
        .createTable('promotion_challenges')
        .addColumn('model', 'varchar(64)', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        // One per training run: a retried registration finds its challenge and its number.
        .addColumn('challenge_key', 'varchar(255)', (c) => c.notNull().unique())
        .addColumn('champion_version', 'integer')
        .addColumn('challenger_version', 'integer', (c) => c.notNull())
        .addColumn('algorithm', 'varchar(64)', (c) => c.notNull())
        .addColumn('algorithms_tested', 'integer', (c) => c.notNull())
        .addColumn('dataset_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('period_from', 'varchar(10)')
        .addColumn('period_to', 'varchar(10)')
        .addColumn('metric', 'varchar(16)', (c) => c.notNull())
        .addColumn('challenge_number', 'integer', (c) => c.notNull())
        .addColumn('level', 'double precision', (c) => c.notNull())
        // One-sided p-values of the evidence against the strongest naive baseline and of the paired
        // difference to the champion on the same rows (null: not measured).
        .addColumn('p_value', 'double precision')
        .addColumn('champion_p_value', 'double precision')
        .addColumn('promoted', 'integer', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
        .addPrimaryKeyConstraint('promotion_challenges_pk', ['model', 'seq'])
        .execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('promotion_challenges').execute();
    },
  },
  '0023_bar_event_times': {
    async up(db: Kysely<unknown>): Promise<void> {
      // When the stored version of a bar was produced, as its live message's event_time says (UTC,
      // toISOString form, so text order is time order): a live bar revises a stored bar only when it
      // is newer by event_time (lib/streaming/live-bar-store.ts), so a replayed older entry cannot
      // undo a later correction. Null for bars an import wrote (and for live bars without event_time):
      // any live bar may revise those, in stream order. Nothing to backfill: earlier versions' times
      // were not kept.
      await db.schema.alterTable('bars').addColumn('event_time', 'varchar(32)').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('bars').dropColumn('event_time').execute();
    },
  },
  '0025_deployment_artifacts': {
    async up(db: Kysely<unknown>): Promise<void> {
      // The artifact sha256 each version's registry row named when the deployment started: a row
      // edited to name another artifact during the rollout no longer verifies for it
      // (lib/deployment/artifact-pins.ts). Null on rows written before, and for a deployment without a champion.
      await db.schema.alterTable('deployments').addColumn('challenger_sha256', 'varchar(64)').execute();
      await db.schema.alterTable('deployments').addColumn('champion_sha256', 'varchar(64)').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('deployments').dropColumn('champion_sha256').execute();
      await db.schema.alterTable('deployments').dropColumn('challenger_sha256').execute();
    },
  },
  '0026_outcome_label_code': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Which label definition computed a recorded outcome (LABEL_CODE_VERSION): outcomes are never
      // rewritten, and version 3 moved direction outcomes from the close of the prediction's day to
      // the next open. Null on rows recorded before, which version 2 or earlier computed.
      await db.schema.alterTable('prediction_outcomes').addColumn('label_code_version', 'integer').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('prediction_outcomes').dropColumn('label_code_version').execute();
    },
  },
  '0027_analysis_stream_counts': {
    async up(db: Kysely<unknown>): Promise<void> {
      // The sum of the counts a stream's folds added to its cells, kept with its watermark: cells
      // emptied or edited (a derived table) no longer pass for the rows the watermark says were
      // folded; the analysis then folds the window again (lib/deployment/log-aggregates.ts). Null on
      // streams folded before, which are not checked.
      await db.schema.alterTable('analysis_streams').addColumn('folded_n', 'bigint').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('analysis_streams').dropColumn('folded_n').execute();
    },
  },
  '0028_reference_profile_signatures': {
    async up(db: Kysely<unknown>): Promise<void> {
      // With MODEL_SIGNING_KEY set, a version's drift reference profile is signed when stored
      // (lib/registry/row-signature.ts signProfileRecord): an edited distribution silenced drift
      // alerts of a signed champion. Null on profiles stored before or without the key.
      await db.schema.alterTable('model_reference_profiles').addColumn('signature', 'varchar(64)').execute();
      await db.schema.alterTable('model_reference_profiles').addColumn('signature_key_id', 'varchar(16)').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('model_reference_profiles').dropColumn('signature_key_id').execute();
      await db.schema.alterTable('model_reference_profiles').dropColumn('signature').execute();
    },
  },
  '0029_bar_retractions': {
    async up(db: Kysely<unknown>): Promise<void> {
      // A stored bar found to be a one-bar glitch once the bar after it arrived is removed from
      // `bars` and logged in bar_revisions as a retraction: its old values, no new ones (the new_*
      // columns null), so the features from its date are marked stale as for any revision
      // (lib/quality/stored-rules.ts, lib/store/staging.ts, lib/streaming/live-bar-store.ts).
      // (Numbered after the last applied migration: Kysely refuses one named before it.)
      const columns = ['new_open', 'new_high', 'new_low', 'new_close', 'new_volume'];
      if (db.getExecutor().adapter instanceof MysqlAdapter) {
        await sql.raw(`alter table bar_revisions ${columns.map((c) => `modify ${c} double precision null`).join(', ')}`).execute(db);
        return;
      }
      // SQLite cannot drop a NOT NULL constraint: the table is rebuilt (in the migration's transaction).
      await sql`create table bar_revisions_0029 (
        snapshot_id varchar(64) not null, symbol varchar(32) not null, date varchar(10) not null,
        old_open double precision not null, old_high double precision not null, old_low double precision not null, old_close double precision not null, old_volume double precision not null,
        new_open double precision, new_high double precision, new_low double precision, new_close double precision, new_volume double precision,
        published_at varchar(32) not null,
        constraint bar_revisions_pk primary key (snapshot_id, symbol, date))`.execute(db);
      await sql`insert into bar_revisions_0029 select snapshot_id, symbol, date, old_open, old_high, old_low, old_close, old_volume, new_open, new_high, new_low, new_close, new_volume, published_at from bar_revisions`.execute(db);
      await sql`drop table bar_revisions`.execute(db);
      await sql`alter table bar_revisions_0029 rename to bar_revisions`.execute(db);
      await sql`create index bar_revisions_published_idx on bar_revisions (published_at)`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      // Retractions have no new values to keep under NOT NULL: they go with the column change.
      await sql`delete from bar_revisions where new_close is null`.execute(db);
      if (db.getExecutor().adapter instanceof MysqlAdapter) {
        await sql.raw(`alter table bar_revisions ${['new_open', 'new_high', 'new_low', 'new_close', 'new_volume'].map((c) => `modify ${c} double precision not null`).join(', ')}`).execute(db);
      }
    },
  },
  '0030_feature_row_signatures': {
    async up(db: Kysely<unknown>): Promise<void> {
      // With MODEL_SIGNING_KEY set, every feature_rows row is signed when written
      // (lib/features/vector-signature.ts signFeatureRow), and the prediction API serves an offline
      // row (its fallback and re-warm) only with a valid signature: an edited row was served and
      // re-signed into Redis. Null on rows written before or without the key (nullable: adding it is
      // instant on MySQL however many rows the table holds).
      await db.schema.alterTable('feature_rows').addColumn('signature', 'varchar(64)').execute();
      await db.schema.alterTable('feature_rows').addColumn('signature_key_id', 'varchar(16)').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('feature_rows').dropColumn('signature_key_id').execute();
      await db.schema.alterTable('feature_rows').dropColumn('signature').execute();
    },
  },
  '0031_serving_record_signatures': {
    async up(db: Kysely<unknown>): Promise<void> {
      // With MODEL_SIGNING_KEY set, the serving routes and the aliases (and their history rows) are
      // signed when written (lib/registry/serving-record-signature.ts), and the prediction API serves
      // only routes whose signature holds: routes and the champion alias moved together by SQL served
      // another signed version to all traffic unseen. `model_aliases.seq` binds an alias row to the
      // history row of the move that set it. Null on rows written before or without the key.
      for (const table of ['serving_routes', 'serving_route_history', 'model_aliases', 'model_alias_history']) {
        await db.schema.alterTable(table).addColumn('signature', 'varchar(64)').execute();
        await db.schema.alterTable(table).addColumn('signature_key_id', 'varchar(16)').execute();
      }
      await db.schema.alterTable('model_aliases').addColumn('seq', 'integer').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('model_aliases').dropColumn('seq').execute();
      for (const table of ['model_alias_history', 'model_aliases', 'serving_route_history', 'serving_routes']) {
        await db.schema.alterTable(table).dropColumn('signature_key_id').execute();
        await db.schema.alterTable(table).dropColumn('signature').execute();
      }
    },
  },
  '0032_news_stories': {
    async up(db: Kysely<unknown>): Promise<void> {
      // The same story seen again (a re-sent corrected time, a wire repeat, a feed without the time)
      // is one row at the latest stamp seen (lib/news/same-story.ts): its key, its earliest stamp
      // (which bounds the window), and the vendor's id where the file has one. Null on rows stored
      // before: the next import keys them and merges their duplicates (lib/store/news.ts), with the
      // code's own rule rather than a copy frozen here.
      await db.schema.alterTable('news_headlines').addColumn('story', 'varchar(40)').execute();
      await db.schema.alterTable('news_headlines').addColumn('first_published', 'varchar(16)').execute();
      await db.schema.alterTable('news_headlines').addColumn('vendor_id', 'varchar(128)').execute();
      await db.schema.createIndex('news_story_idx').on('news_headlines').columns(['story']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      // `drop index … on` is MySQL's form; SQLite names the index alone.
      if (db.getExecutor().adapter instanceof MysqlAdapter) await db.schema.dropIndex('news_story_idx').on('news_headlines').execute();
      else await db.schema.dropIndex('news_story_idx').execute();
      await db.schema.alterTable('news_headlines').dropColumn('vendor_id').execute();
      await db.schema.alterTable('news_headlines').dropColumn('first_published').execute();
      await db.schema.alterTable('news_headlines').dropColumn('story').execute();
    },
  },
  '0033_news_story_keys': {
    async up(db: Kysely<unknown>): Promise<void> {
      // Keys the rows stored before 0032 and merges their copies here, by the code's rule
      // (lib/store/news.ts), in batches: left to the first import, it took 90 s (SQLite, holding the
      // write lock) and 208 s (MySQL) for 200,000 rows, one UPDATE a row in the import's transaction.
      const store = db as unknown as Kysely<DatabaseSchema>;
      await mergeLegacyStories(store, await keyLegacyHeadlines(store));
    },
    async down(): Promise<void> {
      // Keys and merges are data the code of 0032 reads as its own: nothing to undo.
    },
  },
  '0034_bar_signatures': {
    async up(db: Kysely<unknown>): Promise<void> {
      // With MODEL_SIGNING_KEY set, every bar is signed when written (lib/store/bar-signature.ts), and
      // the features step, the stream's windows and the dataset build refuse a bar whose signature
      // does not hold: an SQL edit of closes was laundered into validly signed feature rows. Null on
      // bars written before or without the key (`mlp data sign-bars --accept-unsigned` signs them);
      // nullable, so adding them is instant on MySQL however many bars the table holds.
      await db.schema.alterTable('bars').addColumn('signature', 'varchar(64)').execute();
      await db.schema.alterTable('bars').addColumn('signature_key_id', 'varchar(16)').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('bars').dropColumn('signature_key_id').execute();
      await db.schema.alterTable('bars').dropColumn('signature').execute();
    },
  },
  '0035_prediction_log_signatures': {
    async up(db: Kysely<unknown>): Promise<void> {
      // With MODEL_SIGNING_KEY the API signs every log row it writes (lib/serving/prediction-log-signature.ts)
      // and the analyses count no row whose signature does not hold: an SQL edit of logged classes
      // flipped canary and A/B verdicts. The analysis totals folded from verified rows are signed
      // per stream (lib/deployment/log-aggregates.ts). Null on rows and streams written before or
      // without the key; nullable, so adding them is instant on MySQL however long the log is.
      for (const table of ['prediction_log', 'analysis_streams']) {
        await db.schema.alterTable(table).addColumn('signature', 'varchar(64)').execute();
        await db.schema.alterTable(table).addColumn('signature_key_id', 'varchar(16)').execute();
      }
    },
    async down(db: Kysely<unknown>): Promise<void> {
      for (const table of ['analysis_streams', 'prediction_log']) {
        await db.schema.alterTable(table).dropColumn('signature_key_id').execute();
        await db.schema.alterTable(table).dropColumn('signature').execute();
      }
    },
  },
  '0036_deployment_execution_chain': {
    async up(db: Kysely<unknown>): Promise<void> {
      // The first run id of the workflow execution chain that began the deployment: its traffic and
      // alias moves are made only for runs of that chain (continued as new, reset), never for a run
      // started anew under the same workflow id. Null on rows written before (moves then unbound).
      await db.schema.alterTable('deployments').addColumn('first_execution_run_id', 'varchar(64)').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('deployments').dropColumn('first_execution_run_id').execute();
    },
  },
  '0037_analysis_stream_current_form': {
    async up(db: Kysely<unknown>): Promise<void> {
      // The logged_at of the first row of the current signed form (logged_at signed) an analysis
      // stream folded, part of its signed totals: after it, a row of the earlier form (logged_at
      // unsigned) in the stream's tail was moved there (lib/deployment/log-aggregates.ts). Null: none
      // folded yet. Nullable, so adding it is instant on MySQL.
      await db.schema.alterTable('analysis_streams').addColumn('current_form_from', 'bigint').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('analysis_streams').dropColumn('current_form_from').execute();
    },
  },
  '0038_alert_signatures': {
    async up(db: Kysely<unknown>): Promise<void> {
      // With MODEL_SIGNING_KEY, raiseAlert signs every alert row it writes (lib/alerts/alert-signature.ts)
      // and the cool-down counts only rows a held key signed: an alert row written by SQL (acknowledged,
      // dated now) silenced a serving_routes_tampered alert whose condition still held. Null on rows
      // written before or without the key.
      await db.schema.alterTable('alerts').addColumn('signature', 'varchar(64)').execute();
      await db.schema.alterTable('alerts').addColumn('signature_key_id', 'varchar(16)').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.alterTable('alerts').dropColumn('signature_key_id').execute();
      await db.schema.alterTable('alerts').dropColumn('signature').execute();
    },
  },
};

/** Per table, the JSON columns that grow with the number of symbols (and whether they are nullable). */
const LARGE_DOCUMENT_COLUMNS: ReadonlyArray<readonly [string, ReadonlyArray<readonly [string, boolean]>]> = [
  ['dataset_snapshots', [['source', false], ['symbols', false], ['quality_report', false]]],
  ['feature_sets', [['definition', false], ['columns', false]]],
  ['model_versions', [['params', false], ['metrics', false], ['lineage', false]]],
];

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
};

/** Used by tests to prove both drivers end up with the same columns. */
export const MIGRATED_TABLES = ['bars', 'dataset_snapshots', 'quarantine', 'feature_sets', 'feature_rows', 'news_headlines', 'model_versions', 'model_aliases', 'model_alias_history', 'serving_routes', 'serving_route_history', 'prediction_log', 'deployments', 'alerts', 'alert_deliveries', 'model_reference_profiles', 'prediction_outcomes', 'monitoring_reports', 'staged_chunks', 'bar_revisions', 'feature_progress', 'feature_revision_marks', 'analysis_streams', 'analysis_cells', 'deployment_analyses', 'content_clocks', 'live_bar_sources', 'promotion_challenges'] as const;

