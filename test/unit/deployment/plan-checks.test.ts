/**
 * A deployment plan is checked whole wherever it is given: `mlp deploy --plan`, a request, and an
 * experiment's promotion.deployment (before the run trains, not after it has promoted).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deploymentRequestFromFlags } from '../../../client/commands/deployments';
import { readExperimentFile } from '../../../client/commands/run-pipeline';
import { parseDeploymentRequest } from '../../../lib/deployment/plan';
import { experimentSchema } from '../../../lib/experiments/experiment';
import { refuseUnknownKeys } from '../../../lib/unknown-keys';

const base = { model: 'm', challengerVersion: 2 };
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plan-checks-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, text);
  return f;
};

describe('misspelt keys anywhere in a plan', () => {
  it('are refused, naming each, rather than dropped for their defaults', () => {
    const thresholds = { maxHitRatDrop: 0.5, minMaturedPair: 500, alpah: 0.01 };
    expect(() => parseDeploymentRequest({ ...base, canary: { thresholds } })).toThrow(/canary\.thresholds.*maxHitRatDrop.*minMaturedPair.*alpah/);
    const plan = file('typo.json', JSON.stringify({ canary: { steps: [5, 25, 50, 100], thresholds } }));
    expect(() => deploymentRequestFromFlags('demo', '2', { plan })).toThrow(/maxHitRatDrop/);
    // An experiment's own schema refuses them too (not only its file reader).
    expect(experimentSchema.safeParse({ name: 'x', label: { kind: 'direction', horizon: 5 }, algorithms: [{ algorithm: 'logistic_regression' }], promotion: { deployment: { canary: { thresholds: { alpah: 0.01 } } } } }).success).toBe(false);
  });

  it('still take every known threshold', () => {
    const thresholds = { maxErrorRate: 0.02, maxP99LatencyMs: 80, grossErrorRate: 0.3, minServingPredictions: 60, minMaturedPairs: 40, maxHitRateDrop: 0.04, maxPsi: 0.2, minScoreShift: 0.02, alpha: 0.01 };
    expect(parseDeploymentRequest({ ...base, canary: { thresholds } }).canary.thresholds).toEqual(thresholds);
  });
});

describe("an experiment's promotion.deployment", () => {
  const experiment = (deployment: unknown) => ({ name: 'x', label: { kind: 'direction', horizon: 5 }, algorithms: [{ algorithm: 'logistic_regression' }], promotion: { deploy: 'auto', deployment } });

  it.each([
    [{ canary: { steps: [50, 25, 100] } }, /promotion\.deployment\.canary\.steps: must rise and end at 100, got \[50, 25, 100\]/],
    [{ canary: { steps: [5, 25, 50] } }, /promotion\.deployment\.canary\.steps: must rise and end at 100, got \[5, 25, 50\]/],
    [{ mode: 'ab', ab: { maxSamplesPerVariant: 10 } }, /promotion\.deployment\.ab\.maxSamplesPerVariant: 10 is below canary\.thresholds\.minServingPredictions 50/],
    [{ mode: 'ab', ab: { maxSamplesPerVariant: 50 }, canary: { thresholds: { minServingPredictions: 60 } } }, /ab\.maxSamplesPerVariant: 50 is below canary\.thresholds\.minServingPredictions 60/],
  ])('%j is refused when the experiment is read, not after training and promotion', (deployment, message) => {
    const parsed = experimentSchema.safeParse(experiment(deployment));
    expect(parsed.success).toBe(false);
    const f = file('late-plan.json', JSON.stringify(experiment(deployment)));
    expect(() => readExperimentFile(f)).toThrow(message);
  });

  it('refuses in a file an A/B deadline its labels could never decide in; an input stored before the rule is read with the default instead', () => {
    // The experiment's 5-session labels: an A/B test decides on no fewer than 24 sessions, about 34 days.
    const short = experiment({ mode: 'ab', ab: { deadlineSeconds: 14 * 86_400 } });
    expect(() => readExperimentFile(file('short-ab.json', JSON.stringify(short)))).toThrow(
      /experiment .*short-ab\.json is invalid: promotion\.deployment\.ab\.deadlineSeconds: 1209600 s \(14\.0 days\) is shorter than any decision needs: .*5-session labels.*about 34 days/,
    );
    // What the previous version stored for any A/B plan (its parse filled in the 14-day default): a champion's
    // lineage a drift retrain re-reads, a run in flight. Read with the horizon's default (62 days) in its place.
    const stored = experimentSchema.parse(short);
    expect(stored.promotion.deployment?.ab?.deadlineSeconds).toBe(62 * 86_400);
    // The run's first activity reads it so too: the key is kept, so its unknown-key check passes.
    expect(() => refuseUnknownKeys(short, stored, 'the experiment')).not.toThrow();
    expect(parseDeploymentRequest({ ...stored.promotion.deployment, ...base }, { labelHorizon: 5 }).ab.deadlineSeconds).toBe(62 * 86_400);
    // A long enough deadline is kept, in a file and stored alike.
    const fine = experiment({ mode: 'ab', ab: { deadlineSeconds: 40 * 86_400 } });
    expect(readExperimentFile(file('fine-ab.json', JSON.stringify(fine))).promotion?.deployment?.ab?.deadlineSeconds).toBe(40 * 86_400);
    expect(experimentSchema.parse(fine).promotion.deployment?.ab?.deadlineSeconds).toBe(40 * 86_400);
    // A pipeline's request stored before the rule takes the default at the deployment's begin; a person's is refused.
    expect(parseDeploymentRequest({ ...base, mode: 'ab', ab: { deadlineSeconds: 14 * 86_400 } }, { labelHorizon: 5, tooShortAbDeadline: 'default' }).ab.deadlineSeconds).toBe(62 * 86_400);
    expect(() => parseDeploymentRequest({ ...base, mode: 'ab', ab: { deadlineSeconds: 14 * 86_400 } }, { labelHorizon: 5 })).toThrow(/shorter than any decision needs/);
  });

  it('refuses an A/B test its own label horizon could never decide in (20-session labels: 139 days at least), and takes a canary of them', () => {
    const long = (deployment: unknown) => ({ ...experiment(deployment), label: { kind: 'volatility_regime', horizon: 20 } });
    expect(() => readExperimentFile(file('long-ab.json', JSON.stringify(long({ mode: 'ab', ab: { deadlineSeconds: 100 * 86_400 } }))))).toThrow(/no fewer than 99 sessions/);
    expect(experimentSchema.safeParse(long({ mode: 'ab', ab: { deadlineSeconds: 139 * 86_400 } })).success).toBe(true);
    expect(experimentSchema.safeParse(long({ mode: 'ab' })).success).toBe(true);
    expect(experimentSchema.safeParse({ ...long({ mode: 'ab' }), label: { kind: 'volatility_regime', horizon: 60 } }).success).toBe(false);
    expect(experimentSchema.safeParse({ ...long({ ab: { deadlineSeconds: 60 } }), label: { kind: 'volatility_regime', horizon: 60 } }).success).toBe(true);
  });

  it('that passes is the plan the deployment then accepts', () => {
    const parsed = experimentSchema.parse(experiment({ mode: 'ab', ab: { maxSamplesPerVariant: 50 }, canary: { steps: [10, 100] } }));
    expect(parseDeploymentRequest({ ...parsed.promotion.deployment, ...base }).ab.maxSamplesPerVariant).toBe(50);
  });
});

describe('mlp deploy --plan <file>', () => {
  it.each([
    ['null', /null.json.*a deployment plan is a JSON object.*got null/],
    ['[1, 2]', /list.json.*a deployment plan is a JSON object.*got a list/],
    ['"canary"', /string.json.*a deployment plan is a JSON object.*got a string/],
    ['{"canary": {"steps": [5, 100],}}', /syntax.json.*not valid JSON/],
  ])('%s is refused naming the file and the cause', (text, message) => {
    const name = { null: 'null.json', '[1, 2]': 'list.json', '"canary"': 'string.json' }[text] ?? 'syntax.json';
    expect(() => deploymentRequestFromFlags('demo', '2', { plan: file(name, text) })).toThrow(message);
  });

  it('refuses a canary or ab section that is not an object, rather than reading it as the defaults', () => {
    expect(() => deploymentRequestFromFlags('demo', '2', { plan: file('section.json', '{"canary": null}') })).toThrow(/section\.json: "canary" must be a JSON object, got null/);
    expect(() => deploymentRequestFromFlags('demo', '2', { plan: file('section.json', '{"ab": "fast"}') })).toThrow(/"ab" must be a JSON object, got "fast"/);
  });

  it('names a file that cannot be read', () => {
    expect(() => deploymentRequestFromFlags('demo', '2', { plan: path.join(dir, 'missing.json') })).toThrow(/cannot read deployment plan .*missing\.json/);
  });

  it('refuses a plan naming another model or version than the command, rather than deploying the command\'s silently', () => {
    const plan = file('other.json', JSON.stringify({ canary: { steps: [5, 25, 50, 100] }, model: 'other-model', challengerVersion: 9 }));
    expect(() => deploymentRequestFromFlags('demo', '2', { plan })).toThrow(/other\.json names model "other-model" and challengerVersion 9, but the command deploys demo v2/);
    const same = file('same.json', JSON.stringify({ model: 'demo', challengerVersion: 2 }));
    expect(deploymentRequestFromFlags('demo', '2', { plan: same })).toMatchObject({ model: 'demo', challengerVersion: 2 });
    // The command's version as the CLI reads it (02, 2.0 are version 2), not as typed.
    for (const typed of ['02', '2.0']) expect(deploymentRequestFromFlags('demo', typed, { plan: same })).toMatchObject({ challengerVersion: 2 });
  });
});
