/** The plan fields that bound a long rollout, and the CLI's reading of a step as a person sees it. */
import { stepIndexOf } from '../../../client/commands/deployments';
import { defaultAbDeadlineSeconds, minAbDeadlineSeconds, parseDeploymentRequest } from '../../../lib/deployment/plan';

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

describe('deployment plan: A/B deadline', () => {
  const ab = { ...base, mode: 'ab' };
  const day = 86_400;

  it('defaults to the time 8 blocks of matured days take for the label horizon: twice the fewest any decision needs', () => {
    // 1-session labels: 8 blocks of 3 days, 24 sessions, 34 calendar days (the least any decision takes: 12 sessions, 17 days).
    expect(parseDeploymentRequest(ab, { labelHorizon: 1 }).ab.deadlineSeconds).toBe(34 * day);
    expect(minAbDeadlineSeconds(1)).toBe(17 * day);
    // 5-session labels: 8 blocks of 5 days and 4 more sessions for the last to mature, 44 sessions, 62 days (least: 24 sessions, 34 days).
    expect(parseDeploymentRequest(ab, { labelHorizon: 5 }).ab.deadlineSeconds).toBe(62 * day);
    expect(minAbDeadlineSeconds(5)).toBe(34 * day);
    // 20-session labels: 179 sessions, 251 days; 30-session ones stop at a year (their least is 149 sessions, 209 days).
    expect(parseDeploymentRequest(ab, { labelHorizon: 20 }).ab.deadlineSeconds).toBe(251 * day);
    expect(parseDeploymentRequest(ab, { labelHorizon: 30 }).ab.deadlineSeconds).toBe(365 * day);
    // A stricter alpha needs a 5th block: 10 blocks of 5, 54 sessions, 76 days.
    expect(parseDeploymentRequest({ ...ab, ab: { alpha: 0.01 } }, { labelHorizon: 5 }).ab.deadlineSeconds).toBe(76 * day);
    // Horizon unknown: a 1-session label's, the shortest.
    expect(parseDeploymentRequest(ab).ab.deadlineSeconds).toBe(34 * day);
    for (const h of [1, 2, 5, 10, 20, 30, 52]) expect(defaultAbDeadlineSeconds(h)).toBeGreaterThanOrEqual(minAbDeadlineSeconds(h));
  });

  it('refuses an explicit deadline shorter than any decision of the challenger\'s labels needs, naming the minimum', () => {
    const twoWeeks = { ...ab, ab: { deadlineSeconds: 14 * day } };
    expect(() => parseDeploymentRequest(twoWeeks, { labelHorizon: 5 })).toThrow(
      /ab\.deadlineSeconds: 1209600 s \(14\.0 days\) is shorter than any decision needs: an A\/B test of 5-session labels at alpha 0\.05 decides on no fewer than 24 sessions \(4 complete blocks of matured days, the last maturing 5 sessions after its prediction\), about 34 days \(2937600 s\).*Leave it out for the default \(62 days\) or give at least 2937600/,
    );
    expect(() => parseDeploymentRequest(twoWeeks, { labelHorizon: 1 })).toThrow(/no fewer than 12 sessions .*about 17 days/);
    expect(() => parseDeploymentRequest({ ...ab, ab: { deadlineSeconds: 34 * day, alpha: 0.01 } }, { labelHorizon: 5 })).toThrow(/no fewer than 29 sessions \(5 complete blocks/);
    // At the minimum it is kept; a canary plan's A/B part does not run; an unknown horizon is not guessed.
    expect(parseDeploymentRequest({ ...ab, ab: { deadlineSeconds: 34 * day } }, { labelHorizon: 5 }).ab.deadlineSeconds).toBe(34 * day);
    expect(parseDeploymentRequest({ ...base, ab: { deadlineSeconds: 60 } }, { labelHorizon: 5 }).ab.deadlineSeconds).toBe(60);
    expect(parseDeploymentRequest(twoWeeks).ab.deadlineSeconds).toBe(14 * day);
    // Up to a year may be set (30 days was the most before, short of 20-session labels' 139 days).
    expect(parseDeploymentRequest({ ...ab, ab: { deadlineSeconds: 200 * day } }, { labelHorizon: 20 }).ab.deadlineSeconds).toBe(200 * day);
    expect(() => parseDeploymentRequest({ ...ab, ab: { deadlineSeconds: 400 * day } })).toThrow(/ab\.deadlineSeconds/);
  });

  it('refuses an A/B test of labels too long for any deadline a plan may set to decide', () => {
    expect(() => parseDeploymentRequest(ab, { labelHorizon: 60 })).toThrow(/mode: an A\/B test of 60-session labels .*no fewer than 299 sessions.*beyond the longest deadline a plan may set \(365 days\): deploy it as a canary/);
    expect(parseDeploymentRequest(base, { labelHorizon: 60 }).mode).toBe('canary');
    expect(parseDeploymentRequest(ab, { labelHorizon: 52 }).ab.deadlineSeconds).toBe(365 * day);
  });
});
