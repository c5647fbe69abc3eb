import { ZodError } from 'zod';
import { describeValidationError } from '../../lib/errors';
import { featureColumns } from '../../lib/features/compute-features';
import { DEFAULT_FEATURE_SET, defineFeatureSet, type FeatureSetInput } from '../../lib/features/feature-set';

/** The error defineFeatureSet throws for `input`, as one line per issue. */
function refusal(input: FeatureSetInput): string {
  try {
    defineFeatureSet(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ZodError);
    return describeValidationError(error as ZodError);
  }
  throw new Error('the definition was accepted');
}

describe('feature-set column names are unique', () => {
  it('refuses two Bollinger bands that differ only in k, naming the columns and both specs', () => {
    const message = refusal({ name: 'dup', features: [{ kind: 'return' }, { kind: 'bollinger', window: 20, k: 2 }, { kind: 'bollinger', window: 20, k: 1 }] });
    expect(message).toContain('features.2: duplicate columns bb_pctb_20, bb_bandwidth_20');
    expect(message).toContain('features.1 {"k":2,"kind":"bollinger","normalize":"none","window":20}');
    expect(message).toContain('features.2 {"k":1,"kind":"bollinger","normalize":"none","window":20}');
  });

  it("refuses two volume breakouts that differ only in volumeRatio, and reports every clash", () => {
    const message = refusal({
      name: 'dup',
      features: [{ kind: 'volume_breakout', volumeRatio: 1.5 }, { kind: 'bollinger', k: 2 }, { kind: 'volume_breakout', volumeRatio: 3 }, { kind: 'bollinger', k: 2.5 }],
    });
    expect(message).toContain('features.2: duplicate column volume_breakout_20: produced by both features.0 {"kind":"volume_breakout","normalize":"none","volumeRatio":1.5,"window":20} and features.2');
    expect(message).toContain('features.3: duplicate columns bb_pctb_20, bb_bandwidth_20: produced by both features.1');
  });

  it('refuses a feature declared twice and clashing market columns', () => {
    expect(refusal({ name: 'dup', features: [{ kind: 'rsi' }, { kind: 'rsi', window: 14 }] })).toContain('features.1: duplicate column rsi_14');
    expect(refusal({ name: 'dup', features: [{ kind: 'volatility_index', symbol: 'VIX' }, { kind: 'volatility_index', symbol: '$VIX' }] })).toContain('duplicate columns vix_level, vix_change_5');
  });

  it('accepts what differs in the names: windows, normalisation, the shipped set', () => {
    const set = defineFeatureSet({ name: 'ok', features: [{ kind: 'bollinger', window: 20 }, { kind: 'bollinger', window: 10 }, { kind: 'return', horizon: 5 }, { kind: 'return', horizon: 5, normalize: 'rank' }] });
    expect(featureColumns(set)).toEqual(['bb_pctb_20', 'bb_bandwidth_20', 'bb_pctb_10', 'bb_bandwidth_10', 'ret_5', 'ret_5_rank']);
    const columns = featureColumns(defineFeatureSet(DEFAULT_FEATURE_SET));
    expect(new Set(columns).size).toBe(columns.length);
  });
});
