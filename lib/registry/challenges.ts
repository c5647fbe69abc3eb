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
import type { Database } from '../store/database';
import type { Kysely } from 'kysely';
import type { DatabaseSchema, ModelVersionsTable } from '../store/schema';
import { toVersion, UnreadableVersionRowError } from './model-registry';
import type { ChallengeCount, PromotionDecision } from './promotion';
import { NO_ROW_SIGNING, rowSignatureProblem, verificationKeysOf, type RowSigning, type VerificationKeys } from './row-signature';

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

/** The outcomes of a registered version: its label and the symbols its run trained on (lineage.universe). */
function outcomesOfRow(row: { label: string; lineage: string }): ChallengeOutcomes | undefined {
  try {
    const universe = (JSON.parse(row.lineage) as { universe?: { trained?: unknown; requested?: unknown } }).universe;
    const symbols = Array.isArray(universe?.trained) && universe.trained.length > 0 ? universe.trained : universe?.requested;
    if (!Array.isArray(symbols) || !symbols.every((s) => typeof s === 'string')) return undefined;
    return { label: JSON.parse(row.label) as unknown, symbols: symbols as string[] };
  } catch {
    return undefined;
  }
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
 * challenged, and those under other model names on the same outcomes (sameOutcomesElsewhere). Each
 * counts the trials its run ran (its best version's `deflatedSharpeTrials.run`; `counted` for
 * versions recorded before, at least its algorithms). A search spread over runs is one search: a
 * deflated Sharpe ratio counting only the last run's trials treats the tenth re-run as the first.
 */
export async function earlierRunTrials(store: Database, target: Pick<ChallengeIdentity, 'model' | 'datasetId' | 'period' | 'outcomes'>): Promise<{ runs: number; trials: number }> {
  const rows = (await store.db.selectFrom('promotion_challenges').selectAll().orderBy('seq').execute()).map(recordOf);
  let runs = 0;
  let trials = 0;
  for (const r of rows) {
    const overlaps = r.period && target.period ? noNewOutcomes({ ...r.period, createdAt: r.createdAt }, target.period) : false;
    // The model's own runs as its challenges are counted (any champion); other names' only on the same outcomes.
    if (!overlaps && r.datasetId !== target.datasetId) continue;
    const row = await store.db.selectFrom('model_versions').select(['label', 'lineage', 'metrics']).where('name', '=', r.model).where('version', '=', r.challengerVersion).executeTakeFirst();
    if (r.model !== target.model) {
      const outcomes = row ? outcomesOfRow(row) : undefined;
      if (!sameOutcomesElsewhere({ ...r, ...(outcomes ? { outcomes } : {}) }, target)) continue;
    }
    runs++;
    trials += Math.max(r.algorithmsTested, recordedRunTrials(row?.metrics));
  }
  return { runs, trials };
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
 * Other training runs that registered versions of the model on an evaluation period overlapping this
 * one's, after the champion (every run, when there is none): each was a challenge of it (or of the
 * empty slot) on these outcomes, whatever promotion_challenges still holds. Deleting the model's
 * challenge rows made the next run challenge 1 again, tested at alpha / 2, and a no-edge run was
 * promoted after five that were not. An identical re-run registers no row, so it is not counted
 * here, as it is not in the ledger (judgedBeforeDecision).
 *
 * Nothing here takes a row's word that it is out of the count. "After the champion" is by version
 * number (given in registration order, never given twice), not by the creation time a row states.
 * With the signing key (`keys`), a row whose signature does not hold (edited, unsigned, unreadable)
 * counts as a run on the period, whatever its edited period, run or time say: moving a row's period
 * off, clearing its run or backdating it took it out of the count. And a number after the champion's
 * that no row holds (below the newest row's) counts as a run: its row was deleted. Rows deleted at
 * the end of the numbering, with everything else that named their numbers, leave no trace here.
 */
async function runsRegisteredOnPeriod(db: Kysely<DatabaseSchema>, identity: ChallengeIdentity, keys: VerificationKeys | undefined): Promise<number> {
  if (!identity.period) return 0;
  const { from, to } = identity.period;
  const after = identity.championVersion ?? 0;
  const rows = await db.selectFrom('model_versions').selectAll().where('name', '=', identity.model).where('version', '>', after).execute();
  const runs = new Set<string>();
  const numbers = new Set<number>();
  for (const r of rows) {
    const version = Number(r.version);
    numbers.add(version);
    if (version === identity.challengerVersion) continue;
    if (keys !== undefined && !vouchedFor(keys, r)) {
      runs.add(`v${version}, not as registered`);
      continue;
    }
    if (r.workflow_id === null || `${r.workflow_id}/${r.run_id ?? ''}` === identity.key) continue;
    let period: { from?: unknown; to?: unknown } | undefined;
    try {
      period = (JSON.parse(r.metrics) as { outOfSample?: { period?: { from?: unknown; to?: unknown } } }).outOfSample?.period;
    } catch {
      continue;
    }
    if (typeof period?.from !== 'string' || typeof period.to !== 'string' || period.from > to || period.to < from) continue;
    runs.add(`${r.workflow_id}/${r.run_id ?? ''}`);
  }
  numbers.add(identity.challengerVersion);
  const newest = Math.max(...numbers);
  const missing = newest - after - [...numbers].filter((v) => v > after && v <= newest).length;
  return runs.size + Math.max(0, missing);
}

/** Whether a registry row's signature holds under `keys` (an unreadable row's does not). */
function vouchedFor(keys: VerificationKeys, row: ModelVersionsTable): boolean {
  try {
    return rowSignatureProblem(keys, toVersion(row)) === undefined;
  } catch (error) {
    if (error instanceof UnreadableVersionRowError) return false;
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

/**
 * Numbers a challenge after the earlier ones of its family, decides it with that count, and records
 * it, in one transaction. A retry of the same run (same key) keeps the number it was given, unless
 * it judges another champion than its first attempt did: then it is numbered and recorded anew.
 * `signing`: the registry's key (MODEL_SIGNING_KEY), with which the registry rows counted under the
 * ledger (runsRegisteredOnPeriod) are checked.
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
    const before = rows.filter((r) => r.key !== identity.key && (!own || r.seq < own.seq));
    const earlier = before.filter((r) => sameChallengeFamily(r, identity));
    // Another run judged this very version against this champion (a version number is never given
    // twice, so it is an identical re-run): its record answers, and nothing is recorded. A re-run
    // recorded as a challenge of its own spent alpha on no new hypothesis and lowered the level of
    // every later challenger (challenge 2 at 0.00208 instead of the next real one's 0.00417).
    const judgedBefore = own ? undefined : before.find((r) => r.challengerVersion === identity.challengerVersion && r.championVersion === identity.championVersion);
    if (judgedBefore) return { record: judgedBefore, decision: judgedBeforeDecision(judgedBefore), earlier, judgedBefore: true };
    // Challenges under other model names that looked at the same outcomes count too: the same
    // dataset, or the same label on an overlapping universe and period whatever the dataset's bytes
    // (on a retry, the ones recorded before its first attempt).
    const elsewhere: ChallengeRecord[] = [];
    const others = (await tx.selectFrom('promotion_challenges').selectAll().where('model', '!=', identity.model).orderBy('seq').execute()).map(recordOf);
    for (const r of others) {
      if (own && r.createdAt > own.createdAt) continue;
      if (r.datasetId !== identity.datasetId && !(r.period && identity.period && identity.outcomes && noNewOutcomes({ ...r.period, createdAt: r.createdAt }, identity.period))) continue;
      const row = r.datasetId === identity.datasetId ? undefined : await tx.selectFrom('model_versions').select(['label', 'lineage']).where('name', '=', r.model).where('version', '=', r.challengerVersion).executeTakeFirst();
      const outcomes = row ? outcomesOfRow(row) : undefined;
      if (sameOutcomesElsewhere({ ...r, ...(outcomes ? { outcomes } : {}) }, identity)) elsewhere.push(r);
    }
    // A retry judging the same champion keeps its number. One judging another champion (the alias
    // moved or was cleared between the attempts) is a challenge of that champion: numbered in its
    // family, and recorded against it, as the alias it moves will show.
    const rejudged = own !== undefined && own.championVersion !== identity.championVersion;
    // The ledger is a table anyone with the database can empty: its count is never below what the
    // registry shows, the other runs registered on this period since the champion was, a row whose
    // signature fails (with the key) and a number whose row is gone counted as such runs.
    const registered = own ? 0 : await runsRegisteredOnPeriod(tx, identity, verificationKeysOf(signing));
    const number = own && !rejudged ? own.number : Math.max(earlier.length + elsewhere.length, registered) + 1;
    const newest = newestChallengedPeriod(before);
    const { decision, level } = decide({ number, championVersion: identity.championVersion, ...(newest ? { newestPeriod: newest } : {}), ...(elsewhere.length > 0 ? { underOtherNames: elsewhere.length } : {}) });
    const createdAt = own?.createdAt ?? new Date().toISOString();
    const seq = own?.seq ?? rows.reduce((m, r) => Math.max(m, r.seq), 0) + 1;
    const record: ChallengeRecord = { ...identity, seq, number, level, promoted: decision.promote, reason: decision.reason, createdAt };
    if (own) {
      await tx
        .updateTable('promotion_challenges')
        .set({ champion_version: identity.championVersion, challenge_number: number, level, promoted: decision.promote ? 1 : 0, reason: decision.reason })
        .where('challenge_key', '=', identity.key)
        .execute();
    } else {
      await tx
        .insertInto('promotion_challenges')
        .values({
          model: identity.model,
          seq,
          challenge_key: identity.key,
          champion_version: identity.championVersion,
          challenger_version: identity.challengerVersion,
          algorithm: identity.algorithm,
          algorithms_tested: identity.algorithmsTested,
          dataset_id: identity.datasetId,
          period_from: identity.period?.from ?? null,
          period_to: identity.period?.to ?? null,
          metric: identity.metric,
          challenge_number: number,
          level,
          p_value: finiteOrNull(identity.pValue),
          champion_p_value: finiteOrNull(identity.championPValue),
          promoted: decision.promote ? 1 : 0,
          reason: decision.reason,
          created_at: createdAt,
        })
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
