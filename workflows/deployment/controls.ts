/**
 * How people steer a deployment: one typed update per intent, each validated against the current
 * status (a wrong-state call is rejected with the reason, before anything is written to history)
 * and answered with the state after the workflow has acted on it.
 *
 * The approval-like intents (approveStart, approveStep, overrideBlock, promote) become a pending
 * decision that the main loop takes at its next wait; if the rollout moved on before that (the step
 * passed on its own meanwhile), the main loop rejects it with the same check the validator uses, so
 * an approval can never land on something it was not meant for.
 *
 * Signals pause, resume and abort stay accepted for one release (older CLIs); `approve` meant four
 * things and is no longer acted on: it is logged as ignored, with the update to use instead.
 */
import { ApplicationFailure, condition, defineQuery, defineSignal, defineUpdate, setHandler } from '@temporalio/workflow';
import { alertIdOf, isFinal, logDecision, type ControlFlags, type DeploymentState } from './state';

export interface ByInput {
  /** Person or system, for the decision log. */
  by?: string;
}
export type Decision =
  | { kind: 'start'; by: string }
  | { kind: 'step'; step: number; by: string }
  | { kind: 'override'; alertId: string; by: string }
  | { kind: 'promote'; variant: 'A' | 'B'; by: string };

export const deploymentStateQuery = defineQuery<DeploymentState>('deploymentState');
export const approveStartUpdate = defineUpdate<DeploymentState, [ByInput]>('approveStart');
/** `step` is state.step: the canary step index shown as step+1 of N, or -1 for the shadow phase. */
export const approveStepUpdate = defineUpdate<DeploymentState, [ByInput & { step: number }]>('approveStep');
export const overrideBlockUpdate = defineUpdate<DeploymentState, [ByInput & { alertId: string }]>('overrideBlock');
/** A/B mode: 'B' promotes the challenger, 'A' ends the test keeping the champion. */
export const promoteUpdate = defineUpdate<DeploymentState, [ByInput & { variant: 'A' | 'B' }]>('promote');
export const pauseUpdate = defineUpdate<DeploymentState, [ByInput]>('pause');
export const resumeUpdate = defineUpdate<DeploymentState, [ByInput]>('resume');
export const abortUpdate = defineUpdate<DeploymentState, [ByInput & { reason: string }]>('abort');

/** @deprecated kept for one release: use pauseUpdate, resumeUpdate, abortUpdate. */
export const pauseSignal = defineSignal<[by?: string]>('pause');
/** @deprecated kept for one release: use resumeUpdate. */
export const resumeSignal = defineSignal<[by?: string]>('resume');
/** @deprecated kept for one release: use abortUpdate. */
export const abortSignal = defineSignal<[reason?: string]>('abort');
/** @deprecated no longer acted on (it was ambiguous): logged as ignored. */
export const approveSignal = defineSignal<[by?: string]>('approve');

const ACTIVE = ['shadow', 'canary', 'ab-test', 'blocked'] as const;
const pct = (state: DeploymentState, step: number) => (step < 0 ? 'the shadow phase' : `step ${step + 1}/${state.steps.length} (${state.steps[step]}%)`);

function text(value: unknown, name: string, max = 500): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > max) throw new Error(`${name} must be a non-empty string of at most ${max} characters`);
  return value;
}
const byOf = (input: ByInput | undefined) => (input?.by === undefined ? 'someone' : text(input.by, 'by', 255));

export class Controls {
  readonly flags: ControlFlags;
  /** The approval-like intent waiting for the main loop, with its outcome once taken or rejected. */
  pending?: Decision & { outcome?: 'applied' | string };
  /**
   * True while the main loop waits for time or a person (not for an activity): the state is then
   * what the decision led to, so a decision's update answers with it.
   */
  idle = false;
  /** +1 on every pause and resume, so a handler can tell its own change from a later one. */
  private pauseEpoch = 0;

  constructor(private readonly state: DeploymentState, carried?: ControlFlags) {
    this.flags = carried ? { ...carried, overridden: [...carried.overridden] } : { paused: false, overridden: [] };
  }

  /** Why `decision` cannot apply now, or undefined when it can. Used by the validators and again by the main loop. */
  check(decision: Decision): string | undefined {
    const s = this.state;
    if (isFinal(s.status)) return `the deployment has ended (${s.status})`;
    if (this.flags.abortReason !== undefined) return `the deployment is being aborted (${this.flags.abortReason})`;
    switch (decision.kind) {
      case 'start':
        return s.status === 'awaiting-approval' ? undefined : `nothing to approve: the deployment is ${s.status}, not awaiting approval`;
      case 'step':
        if (s.mode !== 'canary') return 'an A/B test has no steps: use promote';
        if (!['canary', 'shadow', 'paused-inconclusive'].includes(s.status)) return `no step to approve: the deployment is ${s.status}${s.status === 'blocked' ? ' (override the data alerts first)' : s.status === 'paused' ? ' (resume it first)' : ''}`;
        return decision.step === s.step ? undefined : `${pct(s, decision.step)} is not the current step: the deployment is at ${pct(s, s.step)}`;
      case 'override': {
        if (s.status !== 'blocked') return `nothing to override: the deployment is ${s.status}, not blocked by data alerts`;
        const ids = s.blockers.map(alertIdOf);
        return ids.includes(decision.alertId) ? undefined : `alert ${decision.alertId} does not hold this deployment (holding: ${ids.join(', ')})`;
      }
      case 'promote':
        if (s.mode !== 'ab') return 'promote ends an A/B test; a canary is promoted by its steps (approve-step)';
        return s.status === 'ab-test' ? undefined : `no A/B test running: the deployment is ${s.status}`;
    }
  }

  /** The pending decision of `kind`, if it still applies; a stale one is rejected with the reason. */
  take<K extends Decision['kind']>(kind: K): Extract<Decision, { kind: K }> | undefined {
    const d = this.pending;
    if (!d || d.outcome !== undefined) return undefined;
    const reason = this.check(d) ?? (d.kind === kind ? undefined : `not applicable while the deployment is ${this.state.status}`);
    if (reason !== undefined) {
      d.outcome = reason;
      logDecision(this.state, `${d.kind} by ${d.by} not applied: ${reason}`);
      return undefined;
    }
    d.outcome = 'applied';
    return d as Extract<Decision, { kind: K }>;
  }

  /** Rejects the pending decision if it no longer applies (the deployment ended, or moved on). */
  settle(): void {
    const d = this.pending;
    const reason = d && d.outcome === undefined ? this.check(d) : undefined;
    if (d && reason !== undefined) {
      d.outcome = reason;
      logDecision(this.state, `${d.kind} by ${d.by} not applied: ${reason}`);
    }
  }

  /** True while a decision or an abort waits for the main loop. */
  get decisionWaiting(): boolean {
    return (this.pending !== undefined && this.pending.outcome === undefined) || this.flags.abortReason !== undefined;
  }

  private pause(by: string): void {
    this.flags.paused = true;
    this.pauseEpoch++;
    logDecision(this.state, `paused by ${by}`);
  }
  private resume(by: string): void {
    this.flags.paused = false;
    this.pauseEpoch++;
    logDecision(this.state, `resumed by ${by}`);
  }
  private abort(reason: string): void {
    this.flags.abortReason = reason;
    logDecision(this.state, `abort requested: ${reason}`);
  }
  private pauseProblem(): string | undefined {
    if (isFinal(this.state.status)) return `the deployment has ended (${this.state.status})`;
    if (this.flags.paused) return `already ${this.state.status === 'paused-inconclusive' ? 'paused (inconclusive step): approve-step, resume or abort' : 'paused'}`;
    return (ACTIVE as readonly string[]).includes(this.state.status) ? undefined : `nothing to pause: the deployment is ${this.state.status}`;
  }
  private resumeProblem(): string | undefined {
    if (isFinal(this.state.status)) return `the deployment has ended (${this.state.status})`;
    return this.flags.paused ? undefined : `not paused: the deployment is ${this.state.status}`;
  }

  /** Registers the query, the updates and the legacy signals for this run. */
  register(): void {
    const state = this.state;
    const reject = (reason: string | undefined) => {
      if (reason !== undefined) throw new Error(reason);
    };
    /** Waits until the main loop took or rejected the decision; the caller learns which. */
    const decide = async (decision: Decision): Promise<DeploymentState> => {
      const mine = { ...decision } as Decision & { outcome?: string };
      this.pending = mine;
      logDecision(state, `${describe(state, decision)} requested by ${decision.by}`);
      await condition(() => mine.outcome !== undefined && (mine.outcome !== 'applied' || this.idle || isFinal(state.status)));
      if (mine.outcome !== 'applied') throw ApplicationFailure.nonRetryable(`not applied: ${mine.outcome}`, 'DECISION_NOT_APPLIED');
      return state;
    };
    const decisionValidator = (make: () => Decision) => () => {
      reject(this.pending && this.pending.outcome === undefined ? `another decision (${this.pending.kind}) is still being applied` : undefined);
      reject(this.check(make()));
    };

    setHandler(deploymentStateQuery, () => state);

    const start = (i?: ByInput): Decision => ({ kind: 'start', by: byOf(i) });
    setHandler(approveStartUpdate, (i) => decide(start(i)), { validator: (i) => decisionValidator(() => start(i))() });
    const step = (i: ByInput & { step: number }): Decision => {
      if (!Number.isInteger(i?.step)) throw new Error('step must be an integer: state.step (-1 for the shadow phase)');
      return { kind: 'step', step: i.step, by: byOf(i) };
    };
    setHandler(approveStepUpdate, (i) => decide(step(i)), { validator: (i) => decisionValidator(() => step(i))() });
    const override = (i: ByInput & { alertId: string }): Decision => ({ kind: 'override', alertId: text(i?.alertId, 'alertId', 100), by: byOf(i) });
    setHandler(overrideBlockUpdate, (i) => decide(override(i)), { validator: (i) => decisionValidator(() => override(i))() });
    const promote = (i: ByInput & { variant: 'A' | 'B' }): Decision => {
      if (i?.variant !== 'A' && i?.variant !== 'B') throw new Error(`variant must be "A" (keep the champion) or "B" (promote the challenger), got ${JSON.stringify(i?.variant)}`);
      return { kind: 'promote', variant: i.variant, by: byOf(i) };
    };
    setHandler(promoteUpdate, (i) => decide(promote(i)), { validator: (i) => decisionValidator(() => promote(i))() });

    setHandler(
      pauseUpdate,
      async (i) => {
        this.pause(byOf(i));
        const epoch = this.pauseEpoch;
        // Answered once the hold has begun (the current analysis, if any, finishes first).
        await condition(() => state.status === 'paused' || epoch !== this.pauseEpoch || isFinal(state.status) || this.flags.abortReason !== undefined);
        return state;
      },
      { validator: (i) => (byOf(i), reject(this.pauseProblem())) },
    );
    setHandler(
      resumeUpdate,
      async (i) => {
        this.resume(byOf(i));
        const epoch = this.pauseEpoch;
        await condition(() => (state.status !== 'paused' && state.status !== 'paused-inconclusive') || epoch !== this.pauseEpoch);
        return state;
      },
      { validator: (i) => (byOf(i), reject(this.resumeProblem())) },
    );
    setHandler(
      abortUpdate,
      async (i) => {
        this.abort(`${text(i.reason, 'reason')}${i.by === undefined ? '' : ` (${byOf(i)})`}`);
        await condition(() => isFinal(state.status));
        return state;
      },
      {
        validator: (i) => {
          text(i?.reason, 'reason');
          byOf(i);
          reject(isFinal(state.status) ? `the deployment has ended (${state.status})` : this.flags.abortReason !== undefined ? `already being aborted (${this.flags.abortReason})` : undefined);
        },
      },
    );

    // Legacy signals: a signal cannot be rejected, so a wrong-state one is logged as ignored.
    const legacy = (problem: string | undefined, name: string, act: () => void) => (problem === undefined ? act() : logDecision(state, `${name} signal ignored: ${problem}`));
    setHandler(pauseSignal, (by) => legacy(this.pauseProblem(), 'pause', () => this.pause(by ?? 'someone')));
    setHandler(resumeSignal, (by) => legacy(this.resumeProblem(), 'resume', () => this.resume(by ?? 'someone')));
    setHandler(abortSignal, (reason) => legacy(isFinal(state.status) || this.flags.abortReason !== undefined ? 'already ending' : undefined, 'abort', () => this.abort(reason ?? 'aborted by a person')));
    setHandler(approveSignal, (by) => logDecision(state, `approve signal from ${by ?? 'someone'} ignored: it is ambiguous; use the approveStart, approveStep, overrideBlock or promote update (mlp deployments approve-start | approve-step | override | promote)`));
  }
}

function describe(state: DeploymentState, d: Decision): string {
  switch (d.kind) {
    case 'start':
      return 'start';
    case 'step':
      return `accepting ${pct(state, d.step)}`;
    case 'override':
      return `override of data alert ${d.alertId}`;
    case 'promote':
      return d.variant === 'B' ? 'promotion of B (the challenger)' : 'ending the A/B test keeping A (the champion)';
  }
}
