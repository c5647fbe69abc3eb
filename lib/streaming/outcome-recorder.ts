/**
 * Records the outcome of logged predictions once the bar that matures them is stored: the stream
 * consumer calls it for the symbols whose bars just changed. Outcomes come from attachOutcomes (the
 * model version's label spec on the stored bars), so they are exactly what the canary analysis
 * and monitoring compute; a prediction's outcome is written once (prediction_id is the key) and
 * never rewritten, even if a later correction of a bar would change the label. One whose horizon
 * lacks a bar waits for it (a late bar labels it) until the symbol's stored bars reach
 * MISSING_BAR_GRACE_DAYS past its as-of date, then is written unlabelled. So only a verified
 * label spec is ever used: the artifact header's from the artifact store (and the row's signature
 * with MODEL_SIGNING_KEY); a version refused by that check gets no outcome, and is reported with why.
 */
import { attachOutcomes, currentLabelVerification, labelSpecOfVersion, toLoggedPrediction, type LabelVerification, type LoggedPrediction } from '../deployment/outcomes';
import { BadInputError } from '../errors';
import { barChecking, UnverifiedBarsError } from '../store/bar-signature';
import { groupBy } from '../group-by';
import { LABEL_CODE_VERSION, type LabelSpec } from '../labels/labels';
import { RegistryError } from '../registry/model-registry';
import type { Database } from '../store/database';
import { addDays } from '../calendar/dates';

const SYMBOLS_PER_QUERY = 500;
/**
 * Calendar days of stored bars after its as-of date during which a prediction whose horizon lacks a
 * bar is not recorded as unlabelled: a late bar (streams deliver out of order, an import fills a gap)
 * labels it then. Once the symbol's bars reach further the gap counts as final and the row is
 * written without an outcome.
 */
export const MISSING_BAR_GRACE_DAYS = 30;
const ROWS_PER_INSERT = 500;
/** How long a version's refusal (unknown version, unverified or unreadable label spec) stands before it is checked again. */
const RECHECK_REFUSED_MS = 10 * 60_000;

export interface OutcomeRecording {
  /** Outcomes written by this call. */
  recorded: number;
  /** Logged predictions of these symbols still waiting for their horizon bar. */
  unmatured: number;
  /** Versions whose predictions could not be labelled (unknown version, unreadable or unverified label spec), with why. */
  errors: string[];
}

export class OutcomeRecorder {
  /** Label specs by "model\0version"; an Error when the version cannot be labelled. */
  private readonly specs = new Map<string, LabelSpec | Error>();
  /** When each refusal was decided: it is asked again after RECHECK_REFUSED_MS. */
  private readonly refusedAt = new Map<string, number>();

  /**
   * `verify`: how label specs are checked (lib/deployment/outcomes.ts). Default: the deployment's
   * signing key and artifact store from the environment (or withLabelVerification's around the
   * constructor); the stream consumer passes its own store.
   */
  constructor(
    private readonly store: Database,
    private readonly verify: LabelVerification = currentLabelVerification(),
  ) {}

  private async specOf(model: string, version: number): Promise<LabelSpec | Error> {
    const key = `${model}\u0000${version}`;
    let spec = this.specs.get(key);
    // A verified spec never changes (its artifact is immutable); a refusal is asked again now and
    // then, so a restored artifact or a row signed again after checking is labelled without a restart.
    if (spec instanceof Error && Date.now() - (this.refusedAt.get(key) ?? 0) >= RECHECK_REFUSED_MS) spec = undefined;
    if (spec === undefined) {
      // Unknown versions and refused or unreadable specs are verdicts; anything else (the store is down) is retried at once.
      spec = await labelSpecOfVersion(this.store, model, version, this.verify).catch((error: unknown) => {
        if (error instanceof RegistryError || error instanceof BadInputError) return error;
        throw error;
      });
      this.specs.set(key, spec);
      if (spec instanceof Error) this.refusedAt.set(key, Date.now());
    }
    return spec;
  }

  /** Unrecorded predictions of these symbols (prediction_log rows without a prediction_outcomes row). */
  private async unrecorded(symbols: readonly string[]): Promise<Array<{ id: string; row: LoggedPrediction }>> {
    const out: Array<{ id: string; row: LoggedPrediction }> = [];
    for (let i = 0; i < symbols.length; i += SYMBOLS_PER_QUERY) {
      const rows = await this.store.db
        .selectFrom('prediction_log as pl')
        .leftJoin('prediction_outcomes as po', 'po.prediction_id', 'pl.id')
        .selectAll('pl')
        .where('po.prediction_id', 'is', null)
        .where('pl.symbol', 'in', symbols.slice(i, i + SYMBOLS_PER_QUERY))
        .orderBy('pl.id')
        .execute();
      for (const r of rows) out.push({ id: r.id, row: toLoggedPrediction(r) });
    }
    return out;
  }

  /** The newest stored bar date of each symbol. */
  private async newestBars(symbols: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < symbols.length; i += SYMBOLS_PER_QUERY) {
      const rows = await this.store.db.selectFrom('bars').select(['symbol', (eb) => eb.fn.max('date').as('last')]).where('symbol', 'in', symbols.slice(i, i + SYMBOLS_PER_QUERY)).groupBy('symbol').execute();
      for (const r of rows) out.set(r.symbol, String(r.last));
    }
    return out;
  }

  async recordFor(symbols: readonly string[], now: Date = new Date()): Promise<OutcomeRecording> {
    const result: OutcomeRecording = { recorded: 0, unmatured: 0, errors: [] };
    if (symbols.length === 0) return result;
    const pending = await this.unrecorded(symbols);
    if (pending.length === 0) return result;
    const maturedAt = now.toISOString();
    for (const [model, rows] of groupBy(pending, (p) => p.row.model)) {
      const specs = new Map<number, LabelSpec>();
      const broken: string[] = [];
      for (const version of new Set(rows.map((r) => r.row.version))) {
        const spec = await this.specOf(model, version);
        if (spec instanceof Error) broken.push(`${model} v${version}: ${spec.message}`);
        else specs.set(version, spec);
      }
      result.errors.push(...broken);
      const usable = rows.filter((r) => specs.has(r.row.version));
      if (usable.length === 0) continue;
      // Outcomes are recorded for good: none from bars no held key vouches for (edited after serving, say).
      const joined = await attachOutcomes(this.store, usable.map((r) => r.row), (v) => specs.get(v) as LabelSpec, { verify: barChecking(this.store, this.verify.signing) }).catch((error: unknown) => {
        if (!(error instanceof UnverifiedBarsError)) throw error;
        result.errors.push(`${model}: no outcome recorded: ${error.message}`);
        return undefined;
      });
      if (joined === undefined) continue;
      result.unmatured += joined.unmatured;
      const gaps = joined.rows.filter((r) => r.matured && r.missingBar);
      const newest = gaps.length === 0 ? new Map<string, string>() : await this.newestBars([...new Set(gaps.map((r) => r.symbol))]);
      const waiting = (r: (typeof joined.rows)[number]) => r.missingBar === true && (newest.get(r.symbol) ?? '') < addDays(r.asOf, MISSING_BAR_GRACE_DAYS);
      const values = joined.rows.flatMap((r, i) =>
        r.matured && !waiting(r) ? [{ prediction_id: usable[i].id, model: r.model, version: r.version, variant: r.variant, symbol: r.symbol, as_of: r.asOf, outcome: r.outcome, matured_at: maturedAt, label_code_version: LABEL_CODE_VERSION }] : [],
      );
      for (let i = 0; i < values.length; i += ROWS_PER_INSERT) {
        const chunk = values.slice(i, i + ROWS_PER_INSERT);
        // A concurrent consumer may record the same outcome first: the key keeps one row.
        const inserted = await this.store.db.insertInto('prediction_outcomes').ignore().values(chunk).executeTakeFirst();
        result.recorded += Number(inserted.numInsertedOrUpdatedRows ?? 0);
      }
    }
    return result;
  }
}
