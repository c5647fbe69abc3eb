/** The plan fields that bound a long rollout, and the CLI's reading of a step as a person sees it. */
import { stepIndexOf } from '../../../client/commands/deployments';
import { parseDeploymentRequest } from '../../../lib/deployment/plan';

const base = { model: 'direction-5d', challengerVersion: 2 };

describe('deployment plan: history bounds', () => {
  it('continues as new after 5,000 events unless told otherwise, and refuses thresholds Temporal would warn about', () => {
    expect(parseDeploymentRequest(base).continueAsNewAfterEvents).toBe(5_000);
    expect(parseDeploymentRequest({ ...base, continueAsNewAfterEvents: 300 }).continueAsNewAfterEvents).toBe(300);
    expect(() => parseDeploymentRequest({ ...base, continueAsNewAfterEvents: 20_000 })).toThrow(/continueAsNewAfterEvents/);
    expect(() => parseDeploymentRequest({ ...base, continueAsNewAfterEvents: 10 })).toThrow(/continueAsNewAfterEvents/);
    expect(() => parseDeploymentRequest({ ...base, continueAsNewAfterEvents: 1000.5 })).toThrow(/continueAsNewAfterEvents/);
  });

  it('accepts sub-second analysis intervals down to 10 ms, not below', () => {
    expect(parseDeploymentRequest({ ...base, canary: { analysisSeconds: 0.01 } }).canary.analysisSeconds).toBe(0.01);
    expect(() => parseDeploymentRequest({ ...base, canary: { analysisSeconds: 0.001 } })).toThrow(/canary\.analysisSeconds/);
  });
});

describe('an A/B plan that could stop before serving health is judged', () => {
  it('refuses ab.maxSamplesPerVariant below minServingPredictions, naming both', () => {
    const ab = { model: 'm', challengerVersion: 2, mode: 'ab' };
    expect(() => parseDeploymentRequest({ ...ab, ab: { maxSamplesPerVariant: 40 } })).toThrow(/ab\.maxSamplesPerVariant: 40 is below canary\.thresholds\.minServingPredictions 50/);
    expect(parseDeploymentRequest({ ...ab, ab: { maxSamplesPerVariant: 50 } }).ab.maxSamplesPerVariant).toBe(50);
    expect(parseDeploymentRequest({ ...ab, ab: { maxSamplesPerVariant: 40 }, canary: { thresholds: { minServingPredictions: 40 } } }).ab.maxSamplesPerVariant).toBe(40);
    // A canary plan does not run the A/B test: its limit does not matter there.
    expect(parseDeploymentRequest({ model: 'm', challengerVersion: 2, ab: { maxSamplesPerVariant: 40 } }).mode).toBe('canary');
  });
});

describe('deployments approve-step <step>', () => {
  it('reads the step as shown ("2" of step 2/4, or "shadow") and names what it expects otherwise', () => {
    expect(stepIndexOf('1')).toBe(0);
    expect(stepIndexOf('2')).toBe(1);
    expect(stepIndexOf('shadow')).toBe(-1);
    expect(() => stepIndexOf('0')).toThrow(/step must be a step number as shown/);
    expect(() => stepIndexOf('two')).toThrow(/got "two"/);
    for (const bad of ['0x2', '', '2e0']) expect(() => stepIndexOf(bad)).toThrow(`got "${bad}"`);
  });
});

describe('deployment plan: step deadline', () => {
  it('defaults to 60 + 10·h sessions of the label horizon as calendar days, about 1.5 times the median time at the 5% step; an explicit one is kept', () => {
    // 5-session labels: 110 sessions, 154 calendar days (3 days paused every step before, 97 days the 5% step of most rollouts).
    expect(parseDeploymentRequest(base, { labelHorizon: 5 }).canary.stepDeadlineSeconds).toBe(154 * 86_400);
    expect(parseDeploymentRequest(base, { labelHorizon: 1 }).canary.stepDeadlineSeconds).toBe(98 * 86_400);
    // Long horizons stop at the longest deadline a plan may set (a year): 26-session labels would give 448 days.
    expect(parseDeploymentRequest(base, { labelHorizon: 20 }).canary.stepDeadlineSeconds).toBe(364 * 86_400);
    expect(parseDeploymentRequest(base, { labelHorizon: 26 }).canary.stepDeadlineSeconds).toBe(365 * 86_400);
    // Horizon unknown (the CLI's check): the shortest, a 1-session label's.
    expect(parseDeploymentRequest(base).canary.stepDeadlineSeconds).toBe(98 * 86_400);
    expect(parseDeploymentRequest({ ...base, canary: { stepDeadlineSeconds: 4 } }, { labelHorizon: 5 }).canary.stepDeadlineSeconds).toBe(4);
    expect(() => parseDeploymentRequest(base, { labelHorizon: 0 })).toThrow(/label horizon must be a whole number of sessions >= 1, got 0/);
    expect(() => parseDeploymentRequest({ ...base, canary: { stepDeadlineSeconds: 400 * 86_400 } })).toThrow(/canary\.stepDeadlineSeconds/);
  });
});
