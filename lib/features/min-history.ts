/**
 * The one home of the minimum history: the bars the default feature set needs before a symbol's
 * first row (requiredBars). The quality gate's short_series rule defaults to it, so a series the
 * gate lets pass without a flag is never skipped later by the feature step.
 */
import { requiredBars } from './compute-features';
import { DEFAULT_FEATURE_SET, defineFeatureSet } from './feature-set';

export const DEFAULT_MIN_HISTORY_BARS = requiredBars(defineFeatureSet(DEFAULT_FEATURE_SET));
