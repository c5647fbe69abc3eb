/**
 * The trials the deflated Sharpe ratio counts: the run's best is picked from every algorithm's
 * trials, and a warm start's parameters stand on the search of the version it continues. Counting
 * one algorithm's trials (and 1 for a skipped search or a champion re-run) made an annual Sharpe
 * ratio of 1.0 over 503 days 0.92 likely real where 80 trials make it 0.15.
 */
import { deflationTrialsOf, type RecordedTrials } from '../../../activities/experiments';
import { deflatedSharpeRatio } from '../../../lib/backtest/sharpe-inference';
import { experimentSchema } from '../../../lib/experiments/experiment';

const experiment = experimentSchema.parse({
  name: 'trials',
  label: { kind: 'direction', horizon: 5 },
  algorithms: [{ algorithm: 'logistic_regression' }, { algorithm: 'gradient_boosting' }, { algorithm: 'random_forest' }, { algorithm: 'mlp', trials: 30 }],
  search: { method: 'tpe', trials: 20 },
});
const searches = (warm?: { algorithm: string; search: 'skip' | 'narrow'; trials: number }) =>
  experiment.algorithms.map((a) => (a.algorithm === warm?.algorithm ? { algorithm: a.algorithm, trials: warm.trials, warmFrom: { model: 'trials', version: 3, search: warm.search } } : { algorithm: a.algorithm, trials: a.trials ?? 20 }));
const none = () => undefined;
const recorded = (r: RecordedTrials) => (v: { model: string; version: number }) => (v.model === 'trials' && v.version === 3 ? r : undefined);

describe('trials counted for the deflated Sharpe ratio', () => {
  it("counts every algorithm's trials of the run, not the evaluated algorithm's alone", () => {
    const own = { experiment, trialScores: Array.from({ length: 20 }, () => 0.52), algorithm: 'gradient_boosting' };
    expect(deflationTrialsOf({ ...own, runSearches: searches() }, none)).toEqual({ counted: 90, search: 20 });
    // Runs started before the searches were passed: the experiment's budgets, known up front.
    expect(deflationTrialsOf({ experiment, trialScores: own.trialScores }, none)).toEqual({ counted: 90, search: 20 });
    // What it changes (annual Sharpe 1.0 over 503 days).
    const sr = 1 / Math.sqrt(252);
    const deflated = (trials: number) => deflatedSharpeRatio({ sharpe: sr, observations: 503, skewness: 0, kurtosis: 3, trials, trialSharpeVariance: 1 / 502 });
    expect(deflated(20)).toBeGreaterThan(0.3);
    expect(deflated(90)).toBeLessThan(0.15);
  });

  it("carries the continued version's search through a warm start that skips or narrows it", () => {
    const input = { experiment, trialScores: [0.53], algorithm: 'gradient_boosting' };
    // Skipped: the one trial is the champion's parameters, chosen by its search of 20 (recorded).
    expect(deflationTrialsOf({ ...input, runSearches: searches({ algorithm: 'gradient_boosting', search: 'skip', trials: 1 }) }, recorded({ counted: 90, search: 20 }))).toEqual({ counted: 90, search: 20 });
    // A champion chosen by a larger search carries that one.
    expect(deflationTrialsOf({ ...input, runSearches: searches({ algorithm: 'gradient_boosting', search: 'skip', trials: 1 }) }, recorded({ counted: 130, search: 60 }))).toEqual({ counted: 130, search: 60 });
    // A champion registered before trials were recorded: the budget it would have searched with.
    expect(deflationTrialsOf({ ...input, runSearches: searches({ algorithm: 'gradient_boosting', search: 'skip', trials: 1 }) }, none)).toEqual({ counted: 90, search: 20 });
    // Narrowed: the champion's search and the narrowed one's own trials.
    expect(deflationTrialsOf({ ...input, runSearches: searches({ algorithm: 'gradient_boosting', search: 'narrow', trials: 8 }) }, recorded({ counted: 90, search: 20 }))).toEqual({ counted: 98, search: 28 });
    // The other algorithms' evaluations count the warm one's carried trials too.
    expect(deflationTrialsOf({ ...input, algorithm: 'mlp', runSearches: searches({ algorithm: 'gradient_boosting', search: 'skip', trials: 1 }) }, recorded({ counted: 90, search: 20 }))).toEqual({ counted: 90, search: 30 });
  });

  it("counts a champion re-run's recorded trials, not 1", () => {
    const rerun = { experiment, trialScores: [], rerunOf: { model: 'trials', version: 3 } };
    expect(deflationTrialsOf(rerun, recorded({ counted: 130, search: 60 }))).toEqual({ counted: 130, search: 60 });
    expect(deflationTrialsOf(rerun, none)).toEqual({ counted: 90, search: 90 });
  });
});
