/**
 * The record of challenges: every training run whose best model was judged against a champion (or
 * for the empty champion slot) on an evaluation period. Retraining on the same data with a new seed
 * or search until one run passes is a search over runs: a test at alpha per run lets a model without
 * skill through in about alpha × runs of them. So each challenge is recorded, and a new one is
 * numbered after the earlier challenges of the same champion whose evaluation periods overlap its
 * own (the same outcomes were looked at), and tested at that number's share of alpha
 * (lib/registry/promotion.ts challengeLevel). A new champion starts a new count; so do new
 * outcomes: a period that starts after every earlier period of that champion ended and after those
 * challenges were judged. A period older than one already challenged, between two of them, or whose
 * days had all happened when the earlier ones were judged (a cut-off moved back over history) is no
 * new outcome, so re-running over historical periods is counted as the search it is. Challenges
 * under other model names are counted too when they looked at the same outcomes: the same dataset,
 * or no new outcomes for the same target (the price move's direction, or the volatility) over
 * horizons within a factor of 2 on an overlapping universe (sameOutcomes),
 * however the bytes of their datasets differ (a revised bar, another column order, another cut-off day).
 */
import type { Database, DatabaseDriver } from '../store/database';
import { sql, type Expression, type Kysely, type RawBuilder, type SqlBool } from 'kysely';
import type { DatabaseSchema, ModelVersionsTable } from '../store/schema';
import { toVersion, UnreadableVersionRowError } from './model-registry';
import { plural } from '../plural';
import type { ChallengeCount, PromotionDecision } from './promotion';
import { NO_ROW_SIGNING, rowSignatureProblem, signingKeyId, verificationKeysOf, type RowSigning, type VerificationKeys } from './row-signature';

export interface ChallengeIdentity {
  /** One per training run (workflow id and run id): a retried registration finds its challenge. */
  key: string;
  model: string;
  /** The champion challenged; null when there was none. */
  championVersion: number | null;
  challengerVersion: number;
  algorithm: string;
  /** The algorithms the run picked its best from. */
  algorithmsTested: number;
  datasetId: string;
  /** The evaluation period's first and last decision days (ISO dates), when known. */
  period?: { from: string; to: string };
  metric: string;
  /** One-sided p-value of the evidence against the strongest naive baseline on the metric. */
  pValue?: number;
  /** One-sided p-value of the paired difference to the champion on the same rows. */
  championPValue?: number;
  /**
   * What was predicted: the label and the symbols evaluated. Not a column of its own: for earlier
   * challenges it is read from the challenger's registry row (label, lineage.universe).
   */
  outcomes?: ChallengeOutcomes;
}

export interface ChallengeOutcomes {
  label: unknown;
  symbols: readonly string[];
}

export interface ChallengeRecord extends ChallengeIdentity {
  seq: number;
  /** 1 + the earlier challenges of the same champion on an overlapping period. */
  number: number;
  level: number;
  promoted: boolean;
  reason: string;
  createdAt: string;
}

/**
 * Whether an earlier challenge `a` and a new one `b` test on the same outcomes, so that `b` is counted
 * after `a`: the same champion (or both without one), and `b`'s evaluation period is no new outcomes
 * for `a`. New outcomes are days after `a`'s period ended and after `a` was judged (days that had not
 * happened then): only they start a new count. A period sharing a day with `a`'s, older than it, or
 * whose days had already happened when `a` was judged (a backdated cut-off re-run today over history)
 * is the same family. Without a period on either side, the same dataset.
 */
export function sameChallengeFamily(
  a: Pick<ChallengeIdentity, 'championVersion' | 'datasetId' | 'period'> & { createdAt?: string },
  b: Pick<ChallengeIdentity, 'championVersion' | 'datasetId' | 'period'>,
): boolean {
  if (a.championVersion !== b.championVersion) return false;
  if (a.period && b.period) return noNewOutcomes({ ...a.period, createdAt: a.createdAt }, b.period);
  return a.datasetId === b.datasetId;
}

/** Whether period `b` is no new outcomes after `a` was judged: it does not start after `a` ended and after `a`'s judgement day. */
function noNewOutcomes(a: { to: string; createdAt?: string }, b: { from: string }): boolean {
  const judged = a.createdAt?.slice(0, 10) ?? '';
  return !(b.from > a.to && b.from > judged);
}

/**
 * What a label's outcomes measure: the direction of the price move (`direction`, `triple_barrier`:
 * barriers and a dead zone relabel the same moves) or the volatility (`volatility_regime`), over its
 * horizon in sessions.
 */
function targetOf(label: unknown): { family: string; horizon: number } | undefined {
  const l = label as { kind?: unknown; horizon?: unknown } | null;
  if (typeof l?.kind !== 'string' || typeof l.horizon !== 'number' || !(l.horizon > 0)) return undefined;
  return { family: l.kind === 'triple_barrier' ? 'direction' : l.kind, horizon: l.horizon };
}

/**
 * Horizons within this factor of each other measure largely the same moves: the returns over h and
 * H > h sessions from one start correlate about √(h/H), 0.71 at a factor of 2 (direction/5 and
 * direction/6 labels agree on 87% of the S&P 500 rows). Hopping between such horizons under new
 * model names started the count of challenges again at 1.
 */
export const SAME_OUTCOMES_HORIZON_FACTOR = 2;

/**
 * Whether two challenges predicted the same outcomes: the same target (the direction of the price
 * move, or the volatility) over horizons within SAME_OUTCOMES_HORIZON_FACTOR of each other, on
 * universes of which at least half of the smaller one is shared.
 */
export function sameOutcomes(a: ChallengeOutcomes, b: ChallengeOutcomes): boolean {
  const x = targetOf(a.label);
  const y = targetOf(b.label);
  if (x === undefined || y === undefined || x.family !== y.family) return false;
  if (Math.max(x.horizon, y.horizon) > SAME_OUTCOMES_HORIZON_FACTOR * Math.min(x.horizon, y.horizon)) return false;
  const [small, large] = a.symbols.length <= b.symbols.length ? [a.symbols, new Set(b.symbols)] : [b.symbols, new Set(a.symbols)];
  if (small.length === 0) return false;
  const shared = small.filter((s) => large.has(s)).length;
  return shared * 2 >= small.length;
}

/**
 * Whether an earlier challenge `a` under another model name looked at the outcomes a new one `b`
 * tests on (so `b` is counted after it): the same dataset, or, the bytes aside, a period that is no
 * new outcomes for `a` (as in sameChallengeFamily) with the same outcomes (sameOutcomes). A revised
 * bar, another column order or another cut-off day makes another dataset, not independent evidence.
 */
export function sameOutcomesElsewhere(
  a: Pick<ChallengeIdentity, 'datasetId' | 'period' | 'outcomes'> & { createdAt?: string },
  b: Pick<ChallengeIdentity, 'datasetId' | 'period' | 'outcomes'>,
): boolean {
  if (a.datasetId === b.datasetId) return true;
  if (!a.period || !b.period || !a.outcomes || !b.outcomes) return false;
  return noNewOutcomes({ ...a.period, createdAt: a.createdAt }, b.period) && sameOutcomes(a.outcomes, b.outcomes);
}

/** The newest evaluation period already challenged for a model (any champion): the one ending last. */
export function newestChallengedPeriod<T extends Pick<ChallengeRecord, 'period' | 'challengerVersion'>>(earlier: readonly T[]): { from: string; to: string; challengerVersion: number } | undefined {
  let newest: { from: string; to: string; challengerVersion: number } | undefined;
  for (const r of earlier) if (r.period && (!newest || r.period.to > newest.to)) newest = { ...r.period, challengerVersion: r.challengerVersion };
  return newest;
}

const finiteOrNull = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);

type Row = {
  model: string;
  seq: number | string;
  challenge_key: string;
  champion_version: number | string | null;
  challenger_version: number | string;
  algorithm: string;
  algorithms_tested: number | string;
  dataset_id: string;
  period_from: string | null;
  period_to: string | null;
  metric: string;
  challenge_number: number | string;
  level: number | string;
  p_value: number | string | null;
  champion_p_value: number | string | null;
  promoted: number | string;
  reason: string;
  created_at: string;
};

function recordOf(r: Row): ChallengeRecord {
  return {
    key: r.challenge_key,
    model: r.model,
    championVersion: r.champion_version === null ? null : Number(r.champion_version),
    challengerVersion: Number(r.challenger_version),
    algorithm: r.algorithm,
    algorithmsTested: Number(r.algorithms_tested),
    datasetId: r.dataset_id,
    ...(r.period_from !== null && r.period_to !== null ? { period: { from: r.period_from, to: r.period_to } } : {}),
    metric: r.metric,
    ...(r.p_value !== null ? { pValue: Number(r.p_value) } : {}),
    ...(r.champion_p_value !== null ? { championPValue: Number(r.champion_p_value) } : {}),
    seq: Number(r.seq),
    number: Number(r.challenge_number),
    level: Number(r.level),
    promoted: Number(r.promoted) === 1,
    reason: r.reason,
    createdAt: r.created_at,
  };
}

/** Every recorded challenge of a model, oldest first. */
export async function listChallenges(store: Database, model: string): Promise<ChallengeRecord[]> {
  const rows = await store.db.selectFrom('promotion_challenges').selectAll().where('model', '=', model).orderBy('seq').execute();
  return rows.map(recordOf);
}

/**
 * The trials of earlier runs that looked at the outcomes a new run is judged on: every recorded
 * challenge (one per run) of the model whose period is no new outcomes for it, whatever champion it
 * challenged, and the runs under other model names on the same outcomes, as their ledger rows or
 * their registry rows state them (runsUnderOtherNames). Each counts the trials its run ran (its best
 * version's `deflatedSharpeTrials.run`; `counted` for versions recorded before, at least its
 * algorithms). A search spread over runs is one search: a deflated Sharpe ratio counting only the
 * last run's trials treats the tenth re-run as the first.
 * The model's own runs are those of its ledger rows and of its registry rows alike (by the same
 * rule, each registry row's period and registration time as it states them), one run counted once
 * with the larger of the trials either states: the ledger is unsigned, and emptying it took the
 * model's own runs out of the count.
 */
export async function earlierRunTrials(store: Database, target: Pick<ChallengeIdentity, 'model' | 'datasetId' | 'period' | 'outcomes'>): Promise<{ runs: number; trials: number }> {
  const onOutcomes = (r: Pick<ChallengeIdentity, 'datasetId' | 'period'> & { createdAt: string }) =>
    r.datasetId === target.datasetId || (r.period !== undefined && target.period !== undefined && noNewOutcomes({ ...r.period, createdAt: r.createdAt }, target.period));
  const own = (await store.db.selectFrom('promotion_challenges').selectAll().where('model', '=', target.model).orderBy('seq').execute()).map(recordOf).filter(onOutcomes);
  const metricsOf = new Map<number, string>();
  const versions = [...new Set(own.map((r) => r.challengerVersion))];
  for (let i = 0; i < versions.length; i += IN_LIST_CHUNK) {
    const rows = await store.db.selectFrom('model_versions').select(['version', 'metrics']).where('name', '=', target.model).where('version', 'in', versions.slice(i, i + IN_LIST_CHUNK)).execute();
    for (const row of rows) metricsOf.set(Number(row.version), row.metrics);
  }
  const ownRuns = new Map<string, number>();
  const ran = (run: string, n: number) => ownRuns.set(run, Math.max(ownRuns.get(run) ?? 0, n));
  for (const r of own) ran(r.key, Math.max(r.algorithmsTested, recordedRunTrials(metricsOf.get(r.challengerVersion))));
  // The registry's rows of the model's runs: their dataset, period and trials, read by the database (jsonAt).
  const registered = await store.db
    .selectFrom('model_versions as v')
    .select(['v.workflow_id', 'v.run_id', 'v.created_at', sql`null`.as('stated_label'), sql`null`.as('stated_universe')])
    .select([jsonAt(store.driver, 'v.lineage', '$.datasetId').as('stated_dataset'), jsonAt(store.driver, 'v.metrics', '$.outOfSample.period').as('stated_period'), jsonAt(store.driver, 'v.metrics', '$.outOfSample.backtest.deflatedSharpeTrials').as('stated_trials')])
    .where('v.name', '=', target.model)
    .where('v.workflow_id', 'is not', null)
    .execute();
  for (const r of registered as unknown as (Stated & Pick<ModelVersionsTable, 'workflow_id' | 'run_id' | 'created_at'>)[]) {
    if (onOutcomes({ ...statedOutcomes(r), createdAt: r.created_at })) ran(`${r.workflow_id ?? ''}/${r.run_id ?? ''}`, Math.max(1, statedTrials(r)));
  }
  let trials = 0;
  for (const n of ownRuns.values()) trials += n;
  const { runs: elsewhere } = await runsUnderOtherNames(store.db, store.driver, target, { trials: true });
  for (const run of elsewhere.values()) trials += run.trials;
  return { runs: ownRuns.size + elsewhere.size, trials };
}

/** Rows per `in` list or `or` of pairs (well below every driver's limit on parameters). */
const IN_LIST_CHUNK = 200;

/** A registry row that tells of a run counted under another model name: which, and the id of the key its signature names (null: none). */
interface StatingRow {
  name: string;
  version: number;
  signatureKeyId: string | null;
}

/** A run under another model name counted on a challenger's outcomes: the trials it ran, and the registry row stating it, when one does. */
interface RunElsewhere {
  trials: number;
  row?: StatingRow;
}

/**
 * A JSON value inside a text column, as the database reads it (a string unquoted, an array or object
 * as JSON text, a number as a number or its text); null when the column is not JSON or has no value
 * there. The registry's rows are read by what they state without parsing any of them in full.
 */
function jsonAt(driver: DatabaseDriver, column: string, path: string): RawBuilder<unknown> {
  const ref = sql.ref(column);
  return driver === 'mysql'
    ? sql`(case when json_valid(${ref}) then json_unquote(json_extract(${ref}, ${sql.lit(path)})) end)`
    : sql`(case when json_valid(${ref}) then json_extract(${ref}, ${sql.lit(path)}) end)`;
}

/** What a registry row states about its run, extracted by the database (jsonAt): no row is parsed whole here. */
interface Stated {
  /** The label column (short). */
  stated_label: unknown;
  stated_dataset: unknown;
  stated_universe: unknown;
  /** metrics.outOfSample.period, read only for the rows whose label and universe are the challenger's (metrics is the large column). */
  stated_period?: unknown;
  /** metrics.outOfSample.backtest.deflatedSharpeTrials, as stated_period. */
  stated_trials?: unknown;
}

/** A JSON object stated as JSON text (as jsonAt reads one), or undefined. */
function objectStated(value: unknown): Record<string, unknown> | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const parsed = JSON.parse(value) as unknown;
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const symbolsIn = (list: unknown): string[] | undefined => (Array.isArray(list) && list.every((s) => typeof s === 'string') ? (list as string[]) : undefined);

/** A registry row's dataset, evaluation period and outcomes (its label, and the symbols its run trained on, lineage.universe) as it states them. */
function statedOutcomes(r: Stated): Pick<ChallengeIdentity, 'datasetId' | 'period' | 'outcomes'> {
  const period = objectStated(r.stated_period);
  const universe = objectStated(r.stated_universe);
  const trained = symbolsIn(universe?.trained);
  const symbols = trained !== undefined && trained.length > 0 ? trained : symbolsIn(universe?.requested);
  const label = objectStated(r.stated_label);
  return {
    datasetId: typeof r.stated_dataset === 'string' ? r.stated_dataset : '',
    ...(typeof period?.from === 'string' && typeof period.to === 'string' ? { period: { from: period.from, to: period.to } } : {}),
    ...(symbols !== undefined && label !== undefined ? { outcomes: { label, symbols } } : {}),
  };
}

/** The trials a registry row states its run ran (as recordedRunTrials reads them from its metrics). */
function statedTrials(r: Stated): number {
  const t = objectStated(r.stated_trials);
  const n = typeof t?.run === 'number' ? t.run : t?.counted;
  return typeof n === 'number' && Number.isFinite(n) && n >= 1 ? n : 0;
}

/**
 * The runs under model names other than `target.model` on the outcomes it is judged on
 * (sameOutcomesElsewhere), as the ledger (promotion_challenges) and the registry (model_versions)
 * state them together, one run counted once (by name and run) whichever shows it. The registry's rows
 * are immutable and signed: deleting or editing another name's ledger rows no longer lowers a
 * challenger's count (after five runs under another name on the same outcomes, it was challenge 1
 * again, promoted at alpha / 2). Both are filtered by the database on what they state (another name
 * and a run; the same dataset, or a label of the same target for the registry's rows and an
 * overlapping period for the ledger's), and only the small parts compared here are read: the label
 * and the universe, then the evaluation period (and with `trials` the trials recorded) of the rows
 * whose label and universe are the challenger's alone. No row is parsed whole, and none is verified
 * for the count. Every row counts as it states: whether its signature holds is asked only
 * of the rows counted, and only when the count lets a challenger promote (editedRowsAmong).
 *
 * A ledger row of another name whose own period is no new outcomes for the challenger's but whose
 * registry row no longer states the challenger's outcomes is either a run on other outcomes (another
 * universe or label, as signed) or a run whose row was edited off them (its label or universe
 * rewritten; after five dir-b runs so edited a challenger under dir-a was challenge 1 and promoted).
 * Those rows are returned apart (`offOutcomes`), for the signature check before a promotion; one
 * whose registry row is gone counts as a run (the ledger says it ran there, and no row says
 * otherwise: deleting four of dir-b's five rows made dir-a challenge 2, promoted).
 */
async function runsUnderOtherNames(
  db: Kysely<DatabaseSchema>,
  driver: DatabaseDriver,
  target: Pick<ChallengeIdentity, 'model' | 'datasetId' | 'period' | 'outcomes'>,
  options: { trials?: boolean } = {},
): Promise<{ runs: Map<string, RunElsewhere>; offOutcomes: StatingRow[] }> {
  const { trials = false } = options;
  const from = target.period?.from;
  const family = targetOf(target.outcomes?.label);
  // Only a label of the same target can be the same outcomes (sameOutcomes); a triple-barrier label relabels the price move's direction.
  const kinds = family === undefined || from === undefined ? [] : family.family === 'direction' ? ['direction', 'triple_barrier'] : [family.family];
  const rowKey = (name: string, version: number | string) => `${name}\n${Number(version)}`;

  // The registry's rows of other names on the same dataset or with a label of the same target: their label and universe.
  type Light = Stated & Pick<ModelVersionsTable, 'name' | 'version' | 'workflow_id' | 'run_id' | 'signature' | 'signature_key_id' | 'created_at'>;
  const light = db
    .selectFrom('model_versions as v')
    .select(['v.name', 'v.version', 'v.workflow_id', 'v.run_id', 'v.signature', 'v.signature_key_id', 'v.created_at', 'v.label as stated_label'])
    .select([jsonAt(driver, 'v.lineage', '$.datasetId').as('stated_dataset'), jsonAt(driver, 'v.lineage', '$.universe').as('stated_universe')])
    .where('v.name', '!=', target.model)
    .where((eb) => {
      const branches: Expression<SqlBool>[] = [eb(jsonAt(driver, 'v.lineage', '$.datasetId'), '=', target.datasetId)];
      if (kinds.length > 0) branches.push(eb(jsonAt(driver, 'v.label', '$.kind'), 'in', kinds));
      return eb.or(branches);
    });
  const rows = new Map<string, Light>();
  for (const r of (await light.execute()) as unknown as Light[]) rows.set(rowKey(r.name, r.version), r);

  // The ledger's rows of other names on the same dataset or an overlapping period, with their challengers' outcomes as those rows state them.
  const ledger = db
    .selectFrom('promotion_challenges')
    .selectAll()
    .where('model', '!=', target.model)
    .where((eb) => {
      const branches: Expression<SqlBool>[] = [eb('dataset_id', '=', target.datasetId)];
      if (from !== undefined) branches.push(eb.and([eb('period_to', 'is not', null), eb.or([eb('period_to', '>=', from), eb(sql`substr(created_at, 1, 10)`, '>=', from)])]));
      return eb.or(branches);
    });
  const recorded: { record: ChallengeRecord; row: Light | undefined }[] = [];
  // Ledger rows on an overlapping period whose registry rows, as read above, state other outcomes (or were not read: another target's label, or gone).
  const off: { record: ChallengeRecord; row: Light | undefined }[] = [];
  for (const record of (await ledger.execute()).map(recordOf)) {
    const row = rows.get(rowKey(record.model, record.challengerVersion));
    const outcomes = row ? statedOutcomes(row).outcomes : undefined;
    if (sameOutcomesElsewhere({ ...record, ...(outcomes ? { outcomes } : {}) }, target)) recorded.push({ record, row });
    else if (record.period && target.period && target.outcomes && noNewOutcomes({ ...record.period, createdAt: record.createdAt }, target.period)) off.push({ record, row });
  }
  const offOutcomes: StatingRow[] = [];
  const gone: ChallengeRecord[] = [];
  const stating = (r: Pick<ModelVersionsTable, 'name' | 'version' | 'signature' | 'signature_key_id'>): StatingRow => ({ name: r.name, version: Number(r.version), signatureKeyId: r.signature === null ? null : r.signature_key_id });
  for (const { row } of off) if (row) offOutcomes.push(stating(row));
  const unread = off.filter(({ row }) => row === undefined).map(({ record }) => record);
  for (let i = 0; i < unread.length; i += IN_LIST_CHUNK) {
    const chunk = unread.slice(i, i + IN_LIST_CHUNK);
    const found = await db
      .selectFrom('model_versions')
      .select(['name', 'version', 'signature', 'signature_key_id'])
      .where((eb) => eb.or(chunk.map((r) => eb.and([eb('name', '=', r.model), eb('version', '=', r.challengerVersion)]))))
      .execute();
    const present = new Map(found.map((r) => [rowKey(r.name, r.version), r]));
    for (const record of chunk) {
      const row = present.get(rowKey(record.model, record.challengerVersion));
      if (row) offOutcomes.push(stating(row));
      else gone.push(record);
    }
  }

  // The registry's runs whose label and universe (or dataset) are the challenger's: their periods (and trials) read next, for them alone.
  const candidates = [...rows.values()].filter((r) => {
    if (r.workflow_id === null) return false;
    const stated = statedOutcomes(r);
    return stated.datasetId === target.datasetId || (stated.outcomes !== undefined && target.outcomes !== undefined && sameOutcomes(stated.outcomes, target.outcomes));
  });
  const wanted = new Map<string, Light>(candidates.map((r) => [rowKey(r.name, r.version), r]));
  if (trials) for (const { row } of recorded) if (row) wanted.set(rowKey(row.name, row.version), row);
  const pairs = [...wanted.values()];
  for (let i = 0; i < pairs.length; i += IN_LIST_CHUNK) {
    const chunk = pairs.slice(i, i + IN_LIST_CHUNK);
    const parts = await db
      .selectFrom('model_versions as v')
      .select(['v.name', 'v.version', jsonAt(driver, 'v.metrics', '$.outOfSample.period').as('stated_period'), (trials ? jsonAt(driver, 'v.metrics', '$.outOfSample.backtest.deflatedSharpeTrials') : sql`null`).as('stated_trials')])
      .where((eb) => eb.or(chunk.map((r) => eb.and([eb('v.name', '=', r.name), eb('v.version', '=', Number(r.version))]))))
      .execute();
    for (const part of parts) {
      const row = rows.get(rowKey(part.name, part.version));
      if (row) Object.assign(row, { stated_period: part.stated_period, stated_trials: part.stated_trials });
    }
  }

  const runs = new Map<string, RunElsewhere>();
  const add = (id: string, ran: number, row: Light | undefined) => {
    const prior = runs.get(id);
    const stating: StatingRow | undefined = prior?.row ?? (row ? { name: row.name, version: Number(row.version), signatureKeyId: row.signature === null ? null : row.signature_key_id } : undefined);
    runs.set(id, { trials: Math.max(1, ran, prior?.trials ?? 0), ...(stating ? { row: stating } : {}) });
  };
  for (const r of candidates) {
    // Its period is no new outcomes for the challenger's when it does not end, and the row was not registered, before that begins.
    if (sameOutcomesElsewhere({ ...statedOutcomes(r), createdAt: r.created_at }, target)) add(`${r.name}\n${r.workflow_id ?? ''}/${r.run_id ?? ''}`, statedTrials(r), r);
  }
  for (const { record, row } of recorded) add(`${record.model}\n${record.key}`, Math.max(record.algorithmsTested, row ? statedTrials(row) : 0), row);
  for (const record of gone) add(`${record.model}\n${record.key}`, record.algorithmsTested, undefined);
  return { runs, offOutcomes };
}

/** The ids of the keys `keys` verify with (the current key and the previous ones). */
function heldKeyIds(keys: VerificationKeys): Set<string> {
  const { signingKey, previousKeys = [] } = typeof keys === 'string' ? { signingKey: keys } : keys;
  return new Set([signingKey, ...previousKeys].map(signingKeyId));
}

/**
 * The rows counted that no key held here can vouch for, named ("dir-b v2"): registered before the
 * signing key was set, or signed with a key dropped after a rotation (not in
 * MODEL_SIGNING_PREVIOUS_KEYS). They count as they state, as every row does without a key; they are
 * named so the operator can sign them (`mlp models sign <name> <version> --accept-edit`).
 */
function unvouchedAmong(keys: VerificationKeys, runs: Map<string, RunElsewhere>): string[] {
  const held = heldKeyIds(keys);
  return [...runs.values()].flatMap(({ row }) => (row && (row.signatureKeyId === null || !held.has(row.signatureKeyId)) ? [`${row.name} v${row.version}`] : []));
}

/**
 * Of `rows` (the rows counted, or those of runsUnderOtherNames' `offOutcomes`), those whose signature
 * names a key held here and does not hold under it (or that can no longer be read): edited after
 * registration, named ("dir-b v3"). Only these are edits; a row without a signature or with another
 * key's is unvouched (unvouchedAmong), never an edit. Each is read whole and checked here, so it is
 * asked only of the rows given.
 */
async function editedRowsAmong(db: Kysely<DatabaseSchema>, keys: VerificationKeys, rows: readonly StatingRow[]): Promise<string[]> {
  const held = heldKeyIds(keys);
  const signed = rows.filter((row) => row.signatureKeyId !== null && held.has(row.signatureKeyId));
  const edited: string[] = [];
  for (let i = 0; i < signed.length; i += IN_LIST_CHUNK) {
    const chunk = signed.slice(i, i + IN_LIST_CHUNK);
    const rows = await db.selectFrom('model_versions').selectAll().where((eb) => eb.or(chunk.map((r) => eb.and([eb('name', '=', r.name), eb('version', '=', r.version)])))).execute();
    for (const row of rows) if (editedUnderHeldKey(keys, row)) edited.push(`${row.name} v${Number(row.version)}`);
  }
  return edited.sort();
}

/** Rows per page of a walk down a model's version numbers (walkDown). */
const WALK_PAGE = 100;

/** What a walk down a model's rows found: rows that fail a held key's signature (or cannot be read), rows unsigned or another key's, and numbers no row holds. */
interface Walked {
  edited: number[];
  unvouched: number[];
  /** Of `unvouched`, those numbered above a row that verifies (a signature removed since: an edit). */
  unvouchedAboveSigned: number[];
  missing: number[];
}

/**
 * The rows of `name`, from its highest number down, until one that a held key vouches for and that
 * was registered on a day `settled` accepts: version numbers are given in registration order, so
 * every row below it was registered before it, and nothing those rows could state matters to the
 * caller. The read is the rows registered since that day (and the rows below any that fail), not
 * the model's whole history. Rows deleted above the highest number left leave no gap to find.
 */
async function walkDown(db: Kysely<DatabaseSchema>, keys: VerificationKeys, name: string, settled: (day: string) => boolean): Promise<Walked> {
  const walked: Walked = { edited: [], unvouched: [], unvouchedAboveSigned: [], missing: [] };
  // Unvouched rows met since the last row that verifies: numbered above the next one that does. Rows
  // below every row that verifies are the name's history before its signing began, or a dropped key's.
  let pending: number[] = [];
  let cursor: number | undefined;
  for (;;) {
    let page = db.selectFrom('model_versions').selectAll().where('name', '=', name);
    if (cursor !== undefined) page = page.where('version', '<', cursor);
    const rows = await page.orderBy('version', 'desc').limit(WALK_PAGE).execute();
    for (const row of rows) {
      const version = Number(row.version);
      for (let v = (cursor ?? version + 1) - 1; v > version; v--) walked.missing.push(v);
      cursor = version;
      if (vouchedFor(keys, row)) {
        walked.unvouchedAboveSigned.push(...pending);
        pending = [];
        if (settled(row.created_at.slice(0, 10))) return walked;
      } else if (editedUnderHeldKey(keys, row)) walked.edited.push(version);
      else {
        walked.unvouched.push(version);
        pending.push(version);
      }
    }
    if (rows.length < WALK_PAGE) break;
  }
  for (let v = (cursor ?? 1) - 1; v >= 1; v--) walked.missing.push(v);
  return walked;
}

/**
 * The registry rows of names other than `model` edited since a held key signed them ("dir-b v3"),
 * among those registered since `from` (walkDown): an edited label, dataset, universe, period or
 * registration time takes a row out of every filter runsUnderOtherNames reads, and with its ledger
 * rows deleted nothing else named it (five runs so hidden made the next challenger under another
 * name challenge 1, promoted). A row unsigned above a row of its name that verifies lost its
 * signature with the edit, and is named too. A run on these outcomes is registered on or after the
 * first day of the challenger's period (its days had to happen first), so rows of a name below one
 * that verifies and was registered before that day cannot be. Rows that verify are read as they state.
 */
async function editedSince(db: Kysely<DatabaseSchema>, keys: VerificationKeys, model: string, from: string): Promise<string[]> {
  const names = await db.selectFrom('model_versions').select('name').distinct().where('name', '!=', model).execute();
  const edited: string[] = [];
  for (const { name } of names) {
    const walked = await walkDown(db, keys, name, (day) => day < from);
    for (const v of [...walked.edited, ...walked.unvouchedAboveSigned]) edited.push(`${name} v${v}`);
  }
  return edited.sort();
}

/** Why the newest period registered for a model cannot be known (ownRowsUnproven). */
interface Unproven {
  edited: number[];
  unvouched: number[];
  missing: number[];
}

/**
 * The model's own rows that leave the newest period challenged for it unknown, or undefined when
 * none does: rows that fail their signature under a held key, rows no held key vouches for (unsigned
 * or another key's), and numbers no row holds (deleted), among the rows registered after the
 * challenger's period ended (walkDown). A row registered by then evaluated no later period, and nor
 * did those numbered below it; each of the others may have, whatever it states now (its period
 * edited to 1990, its run to the challenger's, or the row deleted, with the ledger emptied, made a
 * run on an older period promoted after three on a newer one).
 */
async function ownRowsUnproven(db: Kysely<DatabaseSchema>, keys: VerificationKeys, model: string, to: string): Promise<Unproven | undefined> {
  const { edited, unvouched, missing } = await walkDown(db, keys, model, (day) => day <= to);
  return edited.length + unvouched.length + missing.length > 0 ? { edited, unvouched, missing } : undefined;
}

/** The refusal of a challenger whose model has rows that leave the newest period challenged unknown (ownRowsUnproven). */
function unknownNewestPeriodRefusal(u: Unproven, reason: string): string {
  const list = (vs: number[]) => {
    const named = [...vs].sort((a, b) => a - b).map((v) => `v${v}`);
    return named.length > 8 ? `${named.slice(0, 8).join(', ')} and ${named.length - 8} more` : named.join(', ');
  };
  const parts = [
    ...(u.edited.length > 0 ? [`registry rows of this model that fail their signature under a key this deployment holds (${list(u.edited)}: edited after registration)`] : []),
    ...(u.unvouched.length > 0 ? [`registry rows of this model no key held here vouches for (${list(u.unvouched)}: unsigned, or signed with a key not held)`] : []),
    ...(u.missing.length > 0 ? [`version numbers no registry row holds (${list(u.missing)}: deleted)`] : []),
  ];
  return `not promoted: the newest period already challenged for this model cannot be known: ${parts.join('; ')}, registered after this run's evaluation period ended, may have evaluated a later one (an older period is no new evidence); restore deleted rows from a backup, check the others against it and sign one again only if it is as registered (\`mlp models sign <name> <version> --accept-edit\`; a rotated key's rows: MODEL_SIGNING_PREVIOUS_KEYS), then register again; the judgement without them: ${reason}`;
}

/** The trials a registered version's run ran, as its evaluation recorded them (0 when it did not). */
function recordedRunTrials(metrics: string | undefined): number {
  if (metrics === undefined) return 0;
  try {
    const t = (JSON.parse(metrics) as { outOfSample?: { backtest?: { deflatedSharpeTrials?: { run?: unknown; counted?: unknown } } } }).outOfSample?.backtest?.deflatedSharpeTrials;
    const n = typeof t?.run === 'number' ? t.run : t?.counted;
    return typeof n === 'number' && Number.isFinite(n) && n >= 1 ? n : 0;
  } catch {
    return 0;
  }
}

/**
 * Other training runs that registered versions of the model on these outcomes after the champion
 * (every run, when there is none): each was a challenge of it (or of the empty slot) on them,
 * whatever promotion_challenges still holds. "These outcomes" is the ledger's own rule
 * (sameChallengeFamily), read from what each signed row states: its evaluation period is no new
 * outcomes for this one's (they share a day, this one is older, or its days had all happened when
 * that row was registered), or, without a period, its dataset is this one's. Counting only
 * overlapping periods let a run on an older period, or on a later one already past when the others
 * were judged, with the ledger emptied, be challenge 1 after three. Deleting the model's challenge
 * rows made the next run challenge 1 again, tested at alpha / 2, and a no-edge run was promoted
 * after five that were not. An identical re-run registers no row, so it is not counted here, as it
 * is not in the ledger (judgedBeforeDecision).
 *
 * Nothing here takes a row's word that it is out of the count. "After the champion" is by version
 * number (given in registration order, never given twice), not by the creation time a row states.
 * With the signing key (`keys`), a row no held key vouches for (vouchedFor: its signature fails, it
 * is unreadable, it has no signature, or its signature names a key not held) counts as a run on the
 * period, whatever its edited period, run or time say: moving a row's period off, clearing its run
 * or backdating it took it out of the count, and clearing its signature or writing another key id
 * over it as well (five runs of a model, its ledger deleted and its rows moved to 1990 unsigned, made
 * the sixth challenge 1). Unlike the rows of other model names (read as they state, runsUnderOtherNames),
 * these are the model's own versions after its champion only, so a registry's unsigned or
 * dropped-key rows cannot add up across models here; signing them (`mlp models sign`) after checking
 * them makes them count by what they state. And a number
 * after the champion's that no row holds (below the newest row's) counts as a run: its row was
 * deleted. Rows deleted at the end of the numbering, with everything else that named their numbers,
 * leave no trace here.
 *
 * Every version registered before this judgement counts, those numbered after the challenger's
 * too: a run registered after this one may have been judged before it (runs at once), and on a
 * retry nothing signed says whether the first attempt came before them.
 */
async function runsRegisteredOnOutcomes(db: Kysely<DatabaseSchema>, identity: ChallengeIdentity, keys: VerificationKeys | undefined): Promise<number> {
  if (!identity.period) return 0;
  const after = identity.championVersion ?? 0;
  const rows = await db.selectFrom('model_versions').selectAll().where('name', '=', identity.model).where('version', '>', after).execute();
  const runs = new Set<string>();
  const numbers = new Set<number>();
  for (const r of rows) {
    const version = Number(r.version);
    numbers.add(version);
    if (version === identity.challengerVersion) continue;
    if (keys !== undefined && !vouchedFor(keys, r)) {
      runs.add(`v${version}, not vouched for`);
      continue;
    }
    if (r.workflow_id === null || `${r.workflow_id}/${r.run_id ?? ''}` === identity.key) continue;
    if (!sameChallengeFamily({ championVersion: null, ...registeredChallenge(r) }, { championVersion: null, datasetId: identity.datasetId, period: identity.period })) continue;
    runs.add(`${r.workflow_id}/${r.run_id ?? ''}`);
  }
  numbers.add(identity.challengerVersion);
  const newest = Math.max(...numbers);
  const missing = newest - after - [...numbers].filter((v) => v > after && v <= newest).length;
  return runs.size + Math.max(0, missing);
}

/** What a registry row states of its run's challenge: its dataset, evaluation period and registration time ('' and none when it cannot be read). */
function registeredChallenge(r: Pick<ModelVersionsTable, 'metrics' | 'lineage' | 'created_at'>): Pick<ChallengeIdentity, 'datasetId' | 'period'> & { createdAt: string } {
  const parse = (text: string): unknown => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  };
  const period = (parse(r.metrics) as { outOfSample?: { period?: { from?: unknown; to?: unknown } } } | undefined)?.outOfSample?.period;
  const datasetId = (parse(r.lineage) as { datasetId?: unknown } | undefined)?.datasetId;
  return {
    datasetId: typeof datasetId === 'string' ? datasetId : '',
    ...(typeof period?.from === 'string' && typeof period.to === 'string' ? { period: { from: period.from, to: period.to } } : {}),
    createdAt: r.created_at,
  };
}

/**
 * The newest evaluation period a version of the model was registered on (any champion, any run but
 * this one), as the registry rows state it: the check that a challenger's evidence is no older
 * (evidenceAgeVeto) no longer rests on the unsigned ledger alone, which can be emptied or cut off by a
 * row planted under the run's key. Read by the database (jsonAt), the period alone.
 */
async function newestRegisteredPeriod(db: Kysely<DatabaseSchema>, driver: DatabaseDriver, identity: ChallengeIdentity): Promise<{ from: string; to: string; challengerVersion: number } | undefined> {
  const rows = await db
    .selectFrom('model_versions')
    .select(['version', 'workflow_id', 'run_id', jsonAt(driver, 'metrics', '$.outOfSample.period').as('stated_period')])
    .where('name', '=', identity.model)
    .where('version', '!=', identity.challengerVersion)
    .execute();
  let newest: { from: string; to: string; challengerVersion: number } | undefined;
  for (const r of rows) {
    if (r.workflow_id !== null && `${r.workflow_id}/${r.run_id ?? ''}` === identity.key) continue;
    const period = objectStated(r.stated_period);
    if (typeof period?.from !== 'string' || typeof period.to !== 'string') continue;
    if (!newest || period.to > newest.to) newest = { from: period.from, to: period.to, challengerVersion: Number(r.version) };
  }
  return newest;
}

/** Of two periods, the one ending later (the first on a tie). */
function laterEnding<T extends { to: string }>(a: T | undefined, b: T | undefined): T | undefined {
  return a === undefined || (b !== undefined && b.to > a.to) ? b : a;
}

/**
 * A retry's judgement time (its first attempt's, as the row under its key states it), never before
 * its challenger's registry row was created: that row was written before any attempt judged, and
 * its creation time is signed. It is the time later challengers' new outcomes start after
 * (noNewOutcomes); it cuts nothing off this run's own count.
 */
async function retryCutoff(db: Kysely<DatabaseSchema>, identity: ChallengeIdentity, stated: string): Promise<string> {
  const row = await db.selectFrom('model_versions').select('created_at').where('name', '=', identity.model).where('version', '=', identity.challengerVersion).executeTakeFirst();
  return row !== undefined && row.created_at > stated ? row.created_at : stated;
}

/** Whether a registry row's signature holds under `keys` (one without a signature, naming a key not held, or unreadable does not). */
function vouchedFor(keys: VerificationKeys, row: ModelVersionsTable): boolean {
  if (row.signature === null || row.signature_key_id === null || !heldKeyIds(keys).has(row.signature_key_id)) return false;
  return !editedUnderHeldKey(keys, row);
}

/**
 * Whether a registry row was edited since a key held here signed it: its signature names one of
 * `keys` (the current key or a previous one) and does not hold under it, or the row can no longer be
 * read. A row without a signature (registered before the key was set) or signed with a key not held
 * (dropped after a rotation) is not vouched for, but no edit either: it is read as it states.
 */
function editedUnderHeldKey(keys: VerificationKeys, row: ModelVersionsTable): boolean {
  if (row.signature === null || row.signature_key_id === null || !heldKeyIds(keys).has(row.signature_key_id)) return false;
  try {
    return rowSignatureProblem(keys, toVersion(row)) !== undefined;
  } catch (error) {
    if (error instanceof UnreadableVersionRowError) return true;
    throw error;
  }
}

/**
 * The answer to a challenge already judged: the same version (an identical re-run: the same
 * artifact, dataset, parameters, seed and experiment) against the same champion. It is the same
 * hypothesis on the same outcomes, with the same p-value, so it is answered with the earlier
 * verdict, its p and level, and not promoted again: promoted then, it holds no alias now (the
 * champion and challenger cases are answered before judging), so its deployment or a person moved
 * it off since.
 */
export function judgedBeforeDecision(record: ChallengeRecord): PromotionDecision {
  const against = record.championVersion === null ? 'the empty champion slot' : `champion v${record.championVersion}`;
  const p = record.pValue === undefined ? '' : `p ${record.pValue.toPrecision(2)}, `;
  const promotedThen = record.promoted ? '; promoted then, it holds no alias now, so it is not promoted again' : '';
  return {
    promote: false,
    reason: `identical to v${record.challengerVersion}, judged before: ${record.reason}; not judged again (challenge ${record.number} of ${against}, ${p}level ${record.level.toPrecision(3)}: the same model on the same data is no new test and spends no more alpha)${promotedThen}; nothing new registered`,
  };
}

/** The refusal of a challenger whose count rests on rows of other names edited after registration (editedRowsAmong). */
function editedRowsRefusal(edited: readonly string[], reason: string): string {
  const fail = edited.length === 1 ? 'fails its signature' : 'fail their signature';
  const named = edited.length > 5 ? `${edited.slice(0, 5).join(', ')} and ${edited.length - 5} more` : edited.join(', ');
  return `not promoted: ${plural(edited.length, 'registry row')} of other model names on these outcomes ${fail} (${named}) under a key this deployment holds: edited after registration, so the count of earlier challenges cannot be relied on; check them against a backup and sign one again only if it is as registered (\`mlp models sign <name> <version> --accept-edit\`), then register again; the judgement counting them as they state: ${reason}`;
}

/**
 * Numbers a challenge after the earlier ones of its family, decides it with that count, and records
 * it, in one transaction. A retry of the same run (same key) keeps the number it was given, unless
 * it judges another champion than its first attempt did: then it is numbered and recorded anew.
 * The ledger is unsigned, so it can only raise what the signed registry shows, never lower it: the
 * number kept is never below the count a first judgement now would get (the reason says so when it
 * was), and the newest period challenged is the registry's as much as the ledger's.
 * `signing`: the registry's key (MODEL_SIGNING_KEY), with which the registry rows counted under the
 * ledger (runsRegisteredOnOutcomes), and those of other names when they would let it promote
 * (editedRowsAmong), are checked.
 */
export async function judgeChallenge(
  store: Database,
  identity: ChallengeIdentity,
  decide: (count: ChallengeCount) => { decision: PromotionDecision; level: number },
  signing: RowSigning = NO_ROW_SIGNING,
): Promise<{ record: ChallengeRecord; decision: PromotionDecision; earlier: ChallengeRecord[]; judgedBefore?: boolean }> {
  return store.db.transaction().execute(async (tx) => {
    const rows = (await tx.selectFrom('promotion_challenges').selectAll().where('model', '=', identity.model).orderBy('seq').execute()).map(recordOf);
    const own = rows.find((r) => r.key === identity.key);
    // Every other row counts, on a retry too: the row under this run's key is unsigned, and its seq
    // or time cutting the ledger off made a row planted there (seq 0, 1970) empty it. A real retry
    // counts the runs judged between its attempts as well; nothing signed tells it from a first
    // judgement made after them (runs judged at once counted each other, which spends less alpha, never more).
    const before = rows.filter((r) => r.key !== identity.key);
    const earlier = before.filter((r) => sameChallengeFamily(r, identity));
    // Another run judged this very version against this champion (a version number is never given
    // twice, so it is an identical re-run): its record answers, and nothing is recorded. A re-run
    // recorded as a challenge of its own spent alpha on no new hypothesis and lowered the level of
    // every later challenger (challenge 2 at 0.00208 instead of the next real one's 0.00417).
    const judgedBefore = own ? undefined : before.find((r) => r.challengerVersion === identity.challengerVersion && r.championVersion === identity.championVersion);
    if (judgedBefore) return { record: judgedBefore, decision: judgedBeforeDecision(judgedBefore), earlier, judgedBefore: true };
    // Challenges under other model names that looked at the same outcomes count too: the same
    // dataset, or the same label on an overlapping universe and period whatever the dataset's bytes,
    // as their ledger rows or their registry rows state them: deleting or editing another name's
    // ledger rows lowers nothing. All of them, on a retry too: the time of the row under this run's
    // key is unsigned, and a cut-off at it (or at this run's registration) left out the runs under
    // other names registered after this one and judged before its only judgement.
    const keys = verificationKeysOf(signing);
    const { runs: elsewhere, offOutcomes } = await runsUnderOtherNames(tx, store.driver, identity);
    const unvouched = keys === undefined ? [] : unvouchedAmong(keys, elsewhere);
    // A retry judging the same champion keeps its number. One judging another champion (the alias
    // moved or was cleared between the attempts) is a challenge of that champion: numbered in its
    // family, and recorded against it, as the alias it moves will show.
    const rejudged = own !== undefined && own.championVersion !== identity.championVersion;
    // The ledger is a table anyone with the database can empty: its count is never below what the
    // registry shows, the other runs registered on these outcomes since the champion was (by the
    // ledger's own rule, sameChallengeFamily: an older period, or one whose days had happened when
    // they registered, is the same outcomes), a row edited since a held key signed it and a number
    // whose row is gone counted as such runs. The other names' runs are added to the own name's:
    // either part of the ledger may be the one emptied. Nor can anyone write a lower count in: a
    // number kept from the row under this run's key is never below that floor, counted as a first
    // judgement now would count it. A row planted there (challenge 1, seq 0, 1970: the key is
    // visible while the run trains) made a fourth run challenge 1 at alpha / 2, and it was promoted.
    const registered = await runsRegisteredOnOutcomes(tx, identity, keys);
    const floor = Math.max(earlier.length, registered) + elsewhere.size + 1;
    const keepsNumber = own !== undefined && !rejudged;
    let number = keepsNumber ? Math.max(own.number, floor) : floor;
    // A lower number kept under this run's key was written by hand, or its first attempt was judged before runs registered since.
    const understated = keepsNumber && own.number < floor ? `; the challenge record under this run's key stated challenge ${own.number}, below the ${floor} the registry shows: written or edited by hand, or a first attempt judged before runs on these outcomes registered since (the ledger is unsigned and cannot show which), so it is judged as challenge ${floor}` : '';
    // The newest period already challenged, as the signed registry rows state it as well as the
    // ledger: emptying the ledger, or a row under this run's key, no longer skips the check.
    const newest = laterEnding(newestChallengedPeriod(before), await newestRegisteredPeriod(tx, store.driver, identity));
    const judgeAt = (n: number, underOtherNames: number) =>
      decide({
        number: n,
        championVersion: identity.championVersion,
        ...(newest ? { newestPeriod: newest } : {}),
        ...(underOtherNames > 0 ? { underOtherNames } : {}),
        ...(unvouched.length > 0 ? { unvouchedUnderOtherNames: unvouched } : {}),
      });
    let judged = judgeAt(number, elsewhere.size);
    // A promotion rests on the count: the rows counted under other names must be as registered, and
    // so must the rows of the ledger's runs on this period that now state other outcomes (offOutcomes:
    // a run edited off the outcomes is still a run on them). Only a row signed with a held key whose
    // signature fails is an edit (checked here, of those rows alone, and only when it would promote: a
    // refusal needs no proof). A run edited off the outcomes is counted, and the judgement given again.
    if (judged.decision.promote && keys !== undefined) {
      const counted = [...elsewhere.values()].flatMap(({ row }) => (row ? [row] : []));
      const edited = await editedRowsAmong(tx, keys, counted);
      const countedRows = new Set(counted.map((r) => `${r.name} v${r.version}`));
      const editedOff = (await editedRowsAmong(tx, keys, offOutcomes)).filter((r) => !countedRows.has(r));
      // Rows of other names edited off what the filters above read (label, dataset, universe, period
      // and time), their ledger rows deleted: found by their signatures among the rows registered
      // since the challenger's period began (editedSince), and counted as runs on these outcomes.
      const seen = new Set([...countedRows, ...editedOff]);
      const editedElsewhere = identity.period ? (await editedSince(tx, keys, identity.model, identity.period.from)).filter((r) => !seen.has(r)) : [];
      const uncounted = editedOff.length + editedElsewhere.length;
      if (uncounted > 0 && !keepsNumber) {
        number += uncounted;
        judged = judgeAt(number, elsewhere.size + uncounted);
      }
      const named = [...new Set([...edited, ...editedOff, ...editedElsewhere])].sort();
      if (named.length > 0) judged = { ...judged, decision: { promote: false, reason: editedRowsRefusal(named, judged.decision.reason) } };
      // The newest period the veto compares with is read from the model's rows as they state it: one
      // edited, unsigned or deleted since a row the challenger's period could not be older than leaves it unknown.
      if (judged.decision.promote && identity.period) {
        const unproven = await ownRowsUnproven(tx, keys, identity.model, identity.period.to);
        if (unproven) judged = { ...judged, decision: { promote: false, reason: unknownNewestPeriodRefusal(unproven, judged.decision.reason) } };
      }
    }
    const { level } = judged;
    const decision = understated ? { ...judged.decision, reason: `${judged.decision.reason}${understated}` } : judged.decision;
    // A retry's time is its first attempt's, as the registry bears it out (retryCutoff): later challengers' new outcomes start after it.
    const createdAt = own ? await retryCutoff(tx, identity, own.createdAt) : new Date().toISOString();
    const seq = own?.seq ?? rows.reduce((m, r) => Math.max(m, r.seq), 0) + 1;
    const record: ChallengeRecord = { ...identity, seq, number, level, promoted: decision.promote, reason: decision.reason, createdAt };
    // What the row states of this challenge, written whole whether the row is new or a first attempt's.
    const stated = {
      champion_version: identity.championVersion,
      challenger_version: identity.challengerVersion,
      algorithm: identity.algorithm,
      algorithms_tested: identity.algorithmsTested,
      dataset_id: identity.datasetId,
      period_from: identity.period?.from ?? null,
      period_to: identity.period?.to ?? null,
      metric: identity.metric,
      p_value: finiteOrNull(identity.pValue),
      champion_p_value: finiteOrNull(identity.championPValue),
      created_at: createdAt,
      challenge_number: number,
      level,
      promoted: decision.promote ? 1 : 0,
      reason: decision.reason,
    };
    if (own) {
      // The run's own identity is written again (a first attempt's row already states it): a row
      // written by hand under this key with another version, dataset or no period would otherwise
      // stand in the ledger for this challenge, out of the families of later challengers.
      await tx.updateTable('promotion_challenges').set(stated).where('challenge_key', '=', identity.key).execute();
    } else {
      await tx
        .insertInto('promotion_challenges')
        .values({ model: identity.model, seq, challenge_key: identity.key, ...stated })
        .execute();
    }
    return { record, decision, earlier };
  });
}

/**
 * The promotion a run already made with this version, when an earlier attempt of its registration
 * recorded the challenge as promoted and the alias it moved still shows the version: the champion
 * alias (a first champion, or a challenger its deployment has since made champion), or the
 * challenger alias over the champion it challenged. A retry then answers that promotion (recorded
 * reason, champion challenged) instead of judging again against an alias its own first attempt moved,
 * which read "already the champion" and left the run without its promotion and deployment.
 * Undefined when nothing was applied yet (the retry judges and moves as a first attempt would).
 */
export async function appliedPromotion(store: Database, identity: { key: string; model: string; version: number }): Promise<ChallengeRecord | undefined> {
  const record = await promotedRecord(store, identity);
  if (!record) return undefined;
  return (await aliasShows(store, identity.model, record)) ? record : undefined;
}

/** The run's challenge, when it is recorded as promoted with this version. */
async function promotedRecord(store: Database, identity: { key: string; model: string; version: number }): Promise<ChallengeRecord | undefined> {
  const row = await store.db.selectFrom('promotion_challenges').selectAll().where('challenge_key', '=', identity.key).where('model', '=', identity.model).executeTakeFirst();
  if (!row) return undefined;
  const record = recordOf(row);
  return record.promoted && record.challengerVersion === identity.version ? record : undefined;
}

/** Whether the alias a promoted challenge moves (champion, or challenger over a champion) shows its version. */
async function aliasShows(store: Database, model: string, record: ChallengeRecord): Promise<boolean> {
  const aliases = await store.db.selectFrom('model_aliases').select(['alias', 'version']).where('name', '=', model).where('alias', 'in', ['champion', 'challenger']).execute();
  const at = (alias: string) => aliases.find((a) => a.alias === alias)?.version;
  return Number(at('champion')) === record.challengerVersion || (record.championVersion !== null && Number(at('challenger')) === record.challengerVersion);
}

/**
 * A retry that answers "not promoted" for a version whose challenge an earlier attempt recorded as
 * promoted without moving its alias (it failed first, and the champion changed before the retry):
 * the record is marked not promoted with the retry's reason, so it says what happened. A promotion
 * whose alias does show the version was applied and is left as it is. Returns whether it withdrew.
 */
export async function withdrawUnappliedPromotion(store: Database, identity: { key: string; model: string; version: number }, reason: string): Promise<boolean> {
  const record = await promotedRecord(store, identity);
  if (!record || (await aliasShows(store, identity.model, record))) return false;
  await store.db
    .updateTable('promotion_challenges')
    .set({ promoted: 0, reason: `not promoted: judged promoted by an earlier attempt that failed before moving the alias; on its retry ${reason}` })
    .where('challenge_key', '=', identity.key)
    .where('model', '=', identity.model)
    .where('challenger_version', '=', identity.version)
    .execute();
  return true;
}

/**
 * Records that a run's challenge, judged promoted, promoted nothing after all (the alias it would
 * have moved had moved meanwhile): the challenge still counts for its family, as not promoted.
 */
export async function withdrawPromotion(store: Database, key: string, reason: string): Promise<void> {
  await store.db.updateTable('promotion_challenges').set({ promoted: 0, reason }).where('challenge_key', '=', key).execute();
}
