/** Which carried states deploymentWorkflow takes up: only a continued run's, of its own deployment and request. */
import { parseDeploymentRequest } from '../../../lib/deployment/plan';
import { carriedStateProblem, initialState, runStartProblem, type DeploymentCarry } from '../../../workflows/deployment/state';

const request = { model: 'm', challengerVersion: 2, startedBy: 'test' };
const carry = (id: string, over: { model?: string; challengerVersion?: number } = {}): DeploymentCarry => {
  const plan = parseDeploymentRequest({ ...request, ...over });
  return {
    state: { ...initialState(id, { ...request, ...over }), plan, championVersion: 1, steps: plan.canary.steps, status: 'canary', step: 0, run: 2 },
    position: { phase: 'canary', step: 0, stage: 'analysing', passes: 0, stepStartedAt: 0, held: false },
    controls: { paused: false, overridden: [] },
    deploymentStart: '2026-01-01T00:00:00.000Z',
  };
};

describe('carriedStateProblem', () => {
  it('takes the state a continued run of the same deployment carries', () => {
    expect(carriedStateProblem(carry('dep-1'), request, 'dep-1', 'run-1')).toBeUndefined();
  });
  it('refuses a carried state in a run that was not continued as new (started from a client)', () => {
    expect(carriedStateProblem(carry('dep-1'), request, 'dep-1', undefined)).toMatch(/started with a carried state, which only a run continued as new/);
  });
  it("refuses another deployment's state, or one of another model or challenger than the request", () => {
    expect(carriedStateProblem(carry('dep-0'), request, 'dep-1', 'run-1')).toMatch(/carried state is of deployment dep-0, not dep-1/);
    expect(carriedStateProblem(carry('dep-1', { challengerVersion: 3 }), request, 'dep-1', 'run-1')).toMatch(/m v3.*not of the request.*m v2/);
    expect(carriedStateProblem(carry('dep-1', { model: 'other' }), request, 'dep-1', 'run-1')).toMatch(/other v2/);
    const noPlan = carry('dep-1');
    delete noPlan.state.plan;
    expect(carriedStateProblem(noPlan, request, 'dep-1', 'run-1')).toMatch(/plan missing/);
  });
});

describe('runStartProblem', () => {
  it('takes a first attempt without a cron schedule, carried or not', () => {
    expect(runStartProblem({ attempt: 1 }, false)).toBeUndefined();
    expect(runStartProblem({ attempt: 1 }, true)).toBeUndefined();
  });
  it('refuses any run of a cron schedule: its runs repeat a client-chosen input', () => {
    expect(runStartProblem({ attempt: 1, cronSchedule: '@every 2s' }, false)).toMatch(/cron schedule \(@every 2s\)/);
    expect(runStartProblem({ attempt: 1, cronSchedule: '@every 2s' }, true)).toMatch(/cron schedule/);
  });
  it('refuses a carried state in a retried run (its continuedFrom is the failed attempt, not a continue-as-new)', () => {
    expect(runStartProblem({ attempt: 2 }, true)).toMatch(/attempt 2.*carried state/);
    expect(runStartProblem({ attempt: 2 }, false)).toBeUndefined();
  });
});
