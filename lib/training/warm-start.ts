/**
 * Warm-started retrains: an experiment option that starts a candidate from the model's champion
 * instead of from scratch (gradient boosting adds trees to its ensemble, the MLP continues from
 * its weights, a random forest replaces a share of its trees), with the hyperparameter search
 * skipped (the champion's parameters) or narrowed around them.
 *
 * What is decided here, all pure (this module is imported by workflow code: no I/O, no models):
 *   - the option's schema (experiment JSON files are a boundary);
 *   - per algorithm, warm or cold, with the reason when cold (no champion, another algorithm, other
 *     features or label, an algorithm that cannot warm-start, a champion that saw this run's rows,
 *     parameters chosen on days of this run's evaluation period);
 *   - the narrowed search space;
 *   - which rows a continued fit sees.
 *
 * Leakage. The champion was trained on every labelled row up to its own last day, which lies
 * inside this run's walk-forward evaluation period (that period is the last N days before this
 * run's cut-off). Continuing the champion inside a walk-forward window would therefore predict
 * rows it has already been fitted on. So validation never loads the champion: the walk-forward
 * of a warm candidate simulates the warm procedure instead, as a chain. Its first window is fitted
 * from scratch on the rows before the evaluation period; every later window continues the
 * previous window's model on that window's newer training rows (see continuedRows). Every row any
 * model of the chain has seen is a training row of some window up to the current one, and
 * walk-forward training rows are purged of labels reaching into the test block, so each block is
 * predicted by a model that has seen nothing of it or after it; walkForwardPredict checks that
 * (the last label day seen must come before the test block) and fails the run if not. The
 * registered artifact (champion + rows since its last day) is then judged on that chain's
 * out-of-sample predictions, exactly as a cold candidate is judged on its recipe's walk-forward
 * and registered as the recipe refitted on all rows: same validation, guards and promotion.
 * A champion whose last training day is not before this run's last day has seen every row the run
 * could add (a re-run, or a back-fill of an older period): the run falls back to a cold retrain.
 *
 * The parameters carried. A cold run chooses its parameters on folds of the rows whose labels ended
 * before its evaluation period, so none is chosen on the days that judge it. "skip" and "narrow"
 * choose them (wholly or as the centre) on the champion's search, whose rows may reach into this
 * run's evaluation period (a longer evaluationDays, or a champion from a run whose period started
 * later). So every version records the last day its parameters were chosen on (searchThrough: its
 * own search's, the champion's carried by "skip", the later of the two for "narrow"), and a warm
 * start is allowed only when the champion's is before this run's evaluation period; otherwise, or
 * when it is not known, the run falls back to a cold retrain with a full search, and says why.
 */
import { z } from 'zod';
import type { Params, ParamValue, SearchSpace } from '../tuning/search-space';

export const warmStartSchema = z.strictObject({
  /** The model continued: the champion of the experiment's model name (the only source for now). */
  from: z.literal('champion', { error: 'warmStart.from must be "champion"' }).default('champion'),
  /**
   * "skip": one trial with the champion's parameters (its CV score is recorded; nothing is searched).
   * "narrow": search a space shrunk around them (see narrowSearchSpace).
   */
  search: z.enum(['skip', 'narrow'], { error: 'warmStart.search must be "skip" or "narrow"' }).default('skip'),
  /** narrow: each range becomes this share of its width (of its log-width on log scales), centred on the champion's value. */
  narrowShare: z.number().gt(0).max(1).default(0.25),
  /** narrow: trials of the narrowed search (default: the algorithm's own). */
  trials: z.number().int().min(1).max(1000).optional(),
  /** Gradient boosting: rounds added to the champion's ensemble (early stopping on the new rows may keep fewer). */
  extraRounds: z.number().int().min(0).max(10_000).default(20),
  /** Random forest: share of the champion's trees (the oldest) replaced by trees grown on the new rows. */
  refreshShare: z.number().min(0).max(1).default(0.2),
  /** MLP: epochs of continued training from the champion's weights. */
  epochs: z.number().int().min(1).max(1000).default(5),
  /**
   * Rows a continued fit sees: those of every decision day after the model's last training day,
   * and at least the last `recentDays` decision days (one new day alone is a few hundred rows).
   */
  recentDays: z.number().int().min(1).max(2520).default(21),
});
export type WarmStartOptionsInput = z.input<typeof warmStartSchema>;
export type WarmStartConfig = z.output<typeof warmStartSchema>;

/** What the training code needs of the option (walk-forward chain and final fit). */
export type WarmStartSettings = Pick<WarmStartConfig, 'extraRounds' | 'refreshShare' | 'epochs' | 'recentDays'>;

export function warmStartSettingsOf(config: WarmStartConfig): WarmStartSettings {
  return { extraRounds: config.extraRounds, refreshShare: config.refreshShare, epochs: config.epochs, recentDays: config.recentDays };
}

/**
 * The last day a version's hyperparameters were chosen on: the last label end of the cross-validated
 * rows of the search that chose them (`through`, lineage searchThrough), or only a day those labels
 * all ended before (`before`, lineage searchBefore: a version registered before searchThrough was
 * recorded, whose search left out its own evaluation period, starting that day).
 */
export type SearchedThrough = { through: string } | { before: string };

/** Did every label the search saw end before `day`? */
export function searchedBefore(searched: SearchedThrough, day: string): boolean {
  return 'through' in searched ? searched.through < day : searched.before <= day;
}

/** The later of two (what a narrowed search around carried parameters stands on). */
export function laterSearch(a: SearchedThrough, b: SearchedThrough): SearchedThrough {
  const dayOf = (s: SearchedThrough) => ('through' in s ? s.through : s.before);
  if (dayOf(a) !== dayOf(b)) return dayOf(a) > dayOf(b) ? a : b;
  return 'through' in a ? a : b; // on the same day, "through" it is later than "before" it
}

/** As a version's lineage records it. */
export function searchLineageOf(searched: SearchedThrough | undefined): { searchThrough: string } | { searchBefore: string } | Record<string, never> {
  if (!searched) return {};
  return 'through' in searched ? { searchThrough: searched.through } : { searchBefore: searched.before };
}

/**
 * What a candidate's parameters were chosen on: its own search's rows (`ownSearchThrough`, this
 * run's; undefined when not known), the champion's for a skipped search, the later of the two for a
 * narrowed one. Undefined when not known.
 */
export function searchedThroughOf(decision: WarmStartDecision | undefined, ownSearchThrough: string | undefined): SearchedThrough | undefined {
  const own = ownSearchThrough !== undefined ? { through: ownSearchThrough } : undefined;
  if (!decision?.warm) return own;
  const carried = decision.from.searched;
  if (decision.search === 'skip') return carried;
  return carried && own ? laterSearch(carried, own) : undefined;
}

/** The registered champion, as far as a warm start needs it (from the registry and its artifact header). */
export interface WarmStartChampion {
  model: string;
  version: number;
  algorithm: string;
  params: Params;
  featureSetVersion: string;
  featureNames: readonly string[];
  label: Record<string, unknown>;
  artifactSha256: string;
  /** Last decision day of the rows it was trained on (lineage.trainedThrough); absent for versions registered before warm starts. */
  trainedThrough?: string;
  /** The last day its hyperparameters were chosen on; absent when its registry row cannot say (activities/warm-start.ts). */
  searched?: SearchedThrough;
  /** Why its recorded evaluation vetoes serving it (lib/registry/promotion.ts servingVeto): such a model seeds nothing. */
  servingVeto?: string;
}

/** What this run trains on. */
export interface WarmStartTarget {
  featureSetVersion: string;
  columns: readonly string[];
  label: Record<string, unknown>;
  /** Last decision day of this run's dataset whose label is known at its cut-off (what its final model learns through). */
  lastDay: string;
  /** First day of this run's walk-forward evaluation period; absent when not known (no warm start then). */
  evaluationFrom?: string;
}

/** The champion a warm candidate continues from, as recorded in its lineage (warmStartedFrom). */
export interface WarmStartSource {
  model: string;
  version: number;
  artifactSha256: string;
  trainedThrough: string;
  /** The last day its hyperparameters were chosen on (absent in decisions recorded before it was checked). */
  searched?: SearchedThrough;
}

export type WarmStartDecision =
  | { algorithm: string; warm: true; search: WarmStartConfig['search']; from: WarmStartSource; championParams: Params }
  | { algorithm: string; warm: false; reason: string };

/** Equal label definitions (key order does not matter). */
export function sameLabel(a: unknown, b: unknown): boolean {
  const canonical = (v: unknown): unknown => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, w]) => [k, canonical(w)])) : v);
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** Why the champion cannot be continued by any algorithm of this run, or undefined when it can. */
function championProblem(model: string, champion: WarmStartChampion | undefined, target: WarmStartTarget): string | undefined {
  if (!champion) return `model ${model} has no champion to start from`;
  const who = `champion ${champion.model} v${champion.version}`;
  // A model its own evaluation vetoed (a suspected leak, a failed control) passes its trees or weights
  // to nothing: a continued version would carry them under a clean walk-forward of its own.
  if (champion.servingVeto !== undefined) return `${who} must not be served (its evaluation recorded ${champion.servingVeto}), so it is not continued`;
  if (champion.featureSetVersion !== target.featureSetVersion) return `${who} was trained on feature set ${champion.featureSetVersion}, this run uses ${target.featureSetVersion}`;
  const cols = champion.featureNames;
  const diff = cols.findIndex((c, i) => c !== target.columns[i]);
  if (cols.length !== target.columns.length || diff >= 0) return `${who} has other feature columns (${cols.length} vs ${target.columns.length}; first difference at column ${diff < 0 ? Math.min(cols.length, target.columns.length) : diff})`;
  if (!sameLabel(champion.label, target.label)) return `${who} predicts another label (${JSON.stringify(champion.label)}, this run ${JSON.stringify(target.label)})`;
  if (!champion.trainedThrough) return `${who} does not record the last day it was trained on (registered before warm starts)`;
  if (champion.trainedThrough >= target.lastDay) return `${who} was trained through ${champion.trainedThrough}, not before the last day whose label this run knows (${target.lastDay}): it has seen every row this run could add`;
  // Its parameters would be judged on this run's evaluation period: chosen on any of its days, they
  // would look better there than they are.
  if (target.evaluationFrom === undefined) return `this run's evaluation period start is not known, so ${who}'s hyperparameters cannot be shown to be chosen before it; the search runs in full`;
  if (!champion.searched) return `${who} does not record the days its hyperparameters were chosen on (warm-started before they were recorded), so they cannot be shown to be chosen before this run's evaluation period (from ${target.evaluationFrom}); the search runs in full`;
  if (!searchedBefore(champion.searched, target.evaluationFrom)) {
    const on = 'through' in champion.searched ? `rows whose labels ran through ${champion.searched.through}` : `rows whose labels ended before ${champion.searched.before}`;
    return `${who}'s hyperparameters were chosen on ${on}, not before this run's evaluation period (from ${target.evaluationFrom}), so they would be judged on days they were picked on; the search runs in full`;
  }
  return undefined;
}

/**
 * Warm or cold for each algorithm of the run. Only the champion's own algorithm can continue it;
 * `canWarmStart` says which algorithms have a warm start at all (models/: continueFit).
 */
export function decideWarmStarts(model: string, algorithms: readonly string[], config: WarmStartConfig, champion: WarmStartChampion | undefined, target: WarmStartTarget, canWarmStart: (algorithm: string) => boolean): WarmStartDecision[] {
  const problem = championProblem(model, champion, target);
  return algorithms.map((algorithm): WarmStartDecision => {
    if (problem || !champion) return { algorithm, warm: false, reason: `${problem ?? 'no champion'}: trained from scratch` };
    if (!canWarmStart(algorithm)) return { algorithm, warm: false, reason: `${algorithm} cannot warm-start: trained from scratch` };
    if (algorithm !== champion.algorithm) return { algorithm, warm: false, reason: `the champion (v${champion.version}) is a ${champion.algorithm} model, not ${algorithm}: trained from scratch` };
    const from = { model: champion.model, version: champion.version, artifactSha256: champion.artifactSha256, trainedThrough: champion.trainedThrough as string, ...(champion.searched ? { searched: champion.searched } : {}) };
    return { algorithm, warm: true, search: config.search, from, championParams: champion.params };
  });
}

/**
 * The search space around the champion's parameters:
 *   - a float or int range becomes `share` of its width centred on the champion's value (on a log
 *     scale: `share` of its log-width, i.e. a factor of (high/low)^(share/2) either side), clipped
 *     to the original range; an int range keeps the whole numbers inside it and becomes a fixed
 *     value (the champion's) when fewer than two are left;
 *   - a choice is fixed to the champion's value (structure such as hidden layers must stay the
 *     champion's for its weights to be continued);
 *   - fixed values stay as configured;
 *   - a dimension the champion has no usable value for (missing, not a number, outside the range)
 *     is left as configured.
 */
export function narrowSearchSpace(space: SearchSpace, champion: Params, share: number): SearchSpace {
  const out: SearchSpace = {};
  for (const [name, spec] of Object.entries(space)) {
    const v: ParamValue | undefined = champion[name];
    if (typeof spec !== 'object' || v === undefined) {
      out[name] = spec;
      continue;
    }
    if (spec.type === 'choice') {
      out[name] = spec.values.includes(v) ? v : spec;
      continue;
    }
    if (typeof v !== 'number' || v < spec.low || v > spec.high) {
      out[name] = spec;
      continue;
    }
    let low: number;
    let high: number;
    if (spec.log) {
      const factor = (spec.high / spec.low) ** (share / 2);
      low = Math.max(spec.low, v / factor);
      high = Math.min(spec.high, v * factor);
    } else {
      const half = ((spec.high - spec.low) * share) / 2;
      low = Math.max(spec.low, v - half);
      high = Math.min(spec.high, v + half);
    }
    if (spec.type === 'int') {
      low = Math.ceil(low);
      high = Math.floor(high);
    }
    out[name] = low < high ? { ...spec, low, high } : v;
  }
  return out;
}

/** Every dimension fixed to the champion's value ("skip": one trial, nothing searched). */
export function championSpace(space: SearchSpace, champion: Params): SearchSpace {
  return { ...space, ...champion };
}

/**
 * Rows a continued fit sees, from `candidates` (ascending dataset rows, all eligible for
 * training): those whose decision day is after `trainedThroughDay`, and at least those of the last
 * `recentDays` distinct decision days among the candidates. Days are dataset day indices.
 */
export function continuedRows(candidates: Int32Array, start: Int32Array, trainedThroughDay: number, recentDays: number): Int32Array {
  const days = [...new Set(Array.from(candidates, (r) => start[r]))].sort((a, b) => a - b);
  const recentFrom = days.length > recentDays ? days[days.length - recentDays] : (days[0] ?? 0);
  const from = Math.min(recentFrom, trainedThroughDay + 1);
  return candidates.filter((r) => start[r] >= from);
}
