/**
 * Prediction-log aggregates for the deployment analyses, computed by the database so that what an
 * analysis fetches and holds does not grow with the number of logged predictions.
 *
 * Outcomes are the one thing SQL cannot compute (they are a model version's label spec applied to
 * the stored closes). But every prediction with the same (version, symbol, asOf) has the same
 * outcome, and there are few such keys (versions × symbols × feature dates) however many requests
 * there are. So an analysis, on one connection and one read snapshot:
 *   1. reads the distinct keys of its window,
 *   2. labels them in process (outcomesOfKeys, the code attachOutcomes uses for rows),
 *   3. writes the labels to a temporary table, and
 *   4. joins it in the GROUP BY queries that count hits, pairs and errors per variant.
 *
 * Counts, hits, error rates, latency percentiles, mean probability and the Brier score are exact
 * (sums of doubles may differ from a row-by-row sum in the last bits). Statistics that need every
 * score (PSI, KS, AUC) use a fixed histogram of PROBABILITY_BUCKETS equal-width buckets of [0, 1];
 * see binned-shift.ts for what that can move.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { BadInputError, describeValidationError } from '../errors';
import type { Database } from '../store/database';
import type { DatabaseSchema } from '../store/schema';
import { labelSpecsOf, outcomesOfKeys, predictionLogQuerySchema, type OutcomeKey, type PredictionLogQuery } from './outcomes';

/** Buckets of the probability histograms: 2^14, each 1/16384 ≈ 6·10⁻⁵ wide. */
export const PROBABILITY_BUCKETS = 16384;
/** Latency is first counted in 2^10 µs (≈ 1 ms) buckets, then exactly inside the buckets a percentile falls in. */
const LATENCY_BUCKET_BITS = 10;
const LABELS_TABLE = 'tmp_prediction_labels';
const LABEL_ROWS_PER_INSERT = 500;

/**
 * Label state of a key in the temporary table: its outcome (0 or 1), matured without a label, or
 * not matured yet. A row whose key is missing (cannot happen inside the snapshot) counts as unmatured.
 */
export const LABEL = { noLabel: 2, unmatured: 3 } as const;

type Db = Kysely<DatabaseSchema>;

export interface LabelledWindow {
  db: Db;
  driver: Database['driver'];
  model: string;
  /** `alias.model = … AND alias.created_at >= … [AND alias.created_at < …]` */
  where(alias: string): RawBuilder<unknown>;
  /** Histogram bucket (0 … PROBABILITY_BUCKETS − 1) of a probability column. */
  bucket(column: string): RawBuilder<number>;
  /** The class a prediction stood for: its logged class, else its probability at ½ (as the row-by-row code). */
  predictedClass(alias: string): RawBuilder<number>;
  /** Label state of a row, joined from the temporary table under `alias`. */
  labelJoin(alias: string, rowAlias: string): RawBuilder<unknown>;
  /** Runs a query and returns its rows. */
  rows<R>(query: RawBuilder<R>): Promise<R[]>;
}

export interface KeyFilter {
  /** Only rows of these variants have their keys labelled. */
  variants: readonly string[];
  /** Only served rows (A/B reports). */
  servedOnly?: boolean;
}

/**
 * Runs `analyse` over a model's log window with the labels of the keys selected by `keys` in a
 * temporary table, on one connection inside one read transaction (so every query sees the same
 * rows, even while API processes keep logging).
 */
export async function withLabelledWindow<T>(store: Database, query: PredictionLogQuery, keys: KeyFilter, analyse: (w: LabelledWindow) => Promise<T>): Promise<T> {
  const parsed = predictionLogQuerySchema.safeParse(query);
  if (!parsed.success) throw new BadInputError(`invalid prediction log query: ${describeValidationError(parsed.error)}`);
  const { model, since, until } = parsed.data;
  const mysql = store.driver === 'mysql';
  return store.db.connection().execute(async (db) => {
    // SQLite: a deferred BEGIN takes no write lock (WAL), so API processes keep logging meanwhile.
    await sql.raw(mysql ? 'start transaction with consistent snapshot' : 'begin').execute(db);
    try {
      const window: LabelledWindow = {
        db,
        driver: store.driver,
        model,
        where: (alias) => {
          const parts = [sql`${sql.ref(`${alias}.model`)} = ${model}`];
          if (since !== undefined) parts.push(sql`${sql.ref(`${alias}.created_at`)} >= ${since}`);
          if (until !== undefined) parts.push(sql`${sql.ref(`${alias}.created_at`)} < ${until}`);
          return sql.join(parts, sql` and `);
        },
        bucket: (column) => {
          const ref = sql.ref(column);
          const scaled = mysql ? sql`floor(${ref} * ${sql.lit(PROBABILITY_BUCKETS)})` : sql`cast(${ref} * ${sql.lit(PROBABILITY_BUCKETS)} as integer)`;
          return sql<number>`case when ${ref} >= 1 then ${sql.lit(PROBABILITY_BUCKETS - 1)} when ${ref} <= 0 then 0 else ${scaled} end`;
        },
        predictedClass: (alias) => sql<number>`coalesce(${sql.ref(`${alias}.predicted_class`)}, case when ${sql.ref(`${alias}.probability`)} >= 0.5 then 1 else 0 end)`,
        labelJoin: (alias, rowAlias) =>
          sql`left join ${sql.table(LABELS_TABLE)} ${sql.raw(alias)} on ${sql.ref(`${alias}.version`)} = ${sql.ref(`${rowAlias}.version`)} and ${sql.ref(`${alias}.symbol`)} = ${sql.ref(`${rowAlias}.symbol`)} and ${sql.ref(`${alias}.as_of`)} = ${sql.ref(`${rowAlias}.as_of`)}`,
        rows: async <R>(q: RawBuilder<R>) => (await q.execute(db)).rows,
      };
      await writeLabels(store, window, keys);
      try {
        return await analyse(window);
      } finally {
        await sql`drop ${sql.raw(mysql ? 'temporary table' : 'table')} if exists ${sql.table(LABELS_TABLE)}`.execute(db);
      }
    } finally {
      // Nothing was written to the store; ending the snapshot is all commit does here.
      await sql.raw('commit').execute(db);
    }
  });
}

/** Labels the window's distinct (version, symbol, asOf) keys into the temporary table. */
async function writeLabels(store: Database, w: LabelledWindow, filter: KeyFilter): Promise<void> {
  if (filter.variants.length === 0) throw new BadInputError('an analysis needs at least one variant');
  const mysql = store.driver === 'mysql';
  const keys = await w.rows(
    sql<{ version: number; symbol: string; as_of: string }>`select distinct p.version, p.symbol, p.as_of from prediction_log p where ${w.where('p')} and p.variant in (${sql.join(filter.variants)})${
      filter.servedOnly ? sql` and p.served = 1` : sql``
    }`,
  );
  const outcomeKeys: OutcomeKey[] = keys.map((k) => ({ version: Number(k.version), symbol: k.symbol, asOf: k.as_of }));
  // The table's store is the pinned connection: on SQLite a second connection would wait for this one.
  const pinned: Database = { ...store, db: w.db };
  const labelFor = await labelSpecsOf(pinned, w.model, new Set(outcomeKeys.map((k) => k.version)));
  const outcomes = await outcomesOfKeys(pinned, outcomeKeys, labelFor);

  // Symbols compare byte for byte in prediction_log (migration 0007); the join must too.
  const symbolType = mysql ? sql.raw('varchar(32) character set utf8mb4 collate utf8mb4_bin') : sql.raw('varchar(32)');
  await sql`drop ${sql.raw(mysql ? 'temporary table' : 'table')} if exists ${sql.table(LABELS_TABLE)}`.execute(w.db);
  await sql`create temporary table ${sql.table(LABELS_TABLE)} (version integer not null, symbol ${symbolType} not null, as_of varchar(10) not null, state integer not null, primary key (version, symbol, as_of))`.execute(w.db);
  for (let i = 0; i < outcomeKeys.length; i += LABEL_ROWS_PER_INSERT) {
    const values = outcomeKeys.slice(i, i + LABEL_ROWS_PER_INSERT).map((k, j) => {
      const o = outcomes[i + j];
      const state = !o.matured ? LABEL.unmatured : o.outcome === null ? LABEL.noLabel : o.outcome;
      return sql`(${k.version}, ${k.symbol}, ${k.asOf}, ${state})`;
    });
    await sql`insert into ${sql.table(LABELS_TABLE)} (version, symbol, as_of, state) values ${sql.join(values)}`.execute(w.db);
  }
}

/** A label state read back from SQL: a missing label (null) is unmatured. */
export function labelState(value: unknown): number {
  return value === null || value === undefined ? LABEL.unmatured : Number(value);
}

/** `alias.error is null and alias.probability is not null`: a prediction that did not fail. */
export function succeeded(alias: string): RawBuilder<unknown> {
  return sql`${sql.ref(`${alias}.error`)} is null and ${sql.ref(`${alias}.probability`)} is not null`;
}

/** The id of the row of `variant` for the request of row `alias` (ids are requestId + ':' + variant). */
export function requestRowId(driver: Database['driver'], alias: string, variant: string): RawBuilder<string> {
  const requestId = sql.ref(`${alias}.request_id`);
  return driver === 'mysql' ? sql<string>`concat(${requestId}, ':', ${variant})` : sql<string>`${requestId} || ':' || ${variant}`;
}

export { LATENCY_BUCKET_BITS };
