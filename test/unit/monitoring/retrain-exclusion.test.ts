import { repeatedRetrain, retrainAhead, retrainRuleOf, type RunningRetrain } from '../../../activities/retrain-exclusion';

const run = (workflowId: string, runId: string, startTime: string, startedBy = 'by hand'): RunningRetrain => ({ workflowId, runId, startTime, startedBy });

describe('one retrain of a model at a time: which run goes on', () => {
  const scheduled = run('retrain-m-2024-03-12T20:30:00Z', 'r-sched', '2024-03-12T20:30:00.100Z', 'schedule retrain-m');
  const drift = run('retrain-m', 'r-drift', '2024-03-12T20:35:05.000Z', 'monitoring monitoring-2024-03-12T20:35:00Z');

  it('the run that started first goes on; a later one gives way to it, whoever started either', () => {
    expect(retrainAhead({ runId: 'r-drift', startTime: drift.startTime }, [drift, scheduled])).toEqual(scheduled);
    expect(retrainAhead({ runId: 'r-sched', startTime: scheduled.startTime }, [drift, scheduled])).toBeUndefined();
    // A run by hand started while both run gives way to the earliest.
    expect(retrainAhead({ runId: 'r-hand', startTime: '2024-03-12T21:00:00.000Z' }, [drift, scheduled])?.runId).toBe('r-sched');
    expect(retrainAhead({ runId: 'r-alone', startTime: '2024-03-12T21:00:00.000Z' }, [])).toBeUndefined();
  });

  it('of two started at the same moment exactly one goes on (the lower run id)', () => {
    const a = run('pipeline-a', 'r-a', '2024-03-12T20:30:00.000Z');
    const b = run('pipeline-b', 'r-b', '2024-03-12T20:30:00.000Z');
    const verdicts = [a, b].map((self) => retrainAhead(self, [a, b]));
    expect(verdicts).toEqual([undefined, a]);
  });
});

describe('one monitoring retrain per condition', () => {
  const done = { status: 'COMPLETED', runId: 'r-1', memo: { alertId: 'a-1', championVersion: 3, rule: 'data_drift' } };
  it('starts none again for the same rule on the same champion once one completed', () => {
    expect(retrainRuleOf('data_drift: m v3: 3 of 40 features drifted')).toBe('data_drift');
    expect(repeatedRetrain(done, { championVersion: 3, rule: 'data_drift' })).toMatch(/a retrain for data_drift of v3 completed \(run r-1\)/);
  });
  it('starts one for another rule, another champion, after a failed one, or for runs from before the memo said', () => {
    expect(repeatedRetrain(done, { championVersion: 3, rule: 'performance_degraded' })).toBeUndefined();
    expect(repeatedRetrain(done, { championVersion: 4, rule: 'data_drift' })).toBeUndefined();
    expect(repeatedRetrain({ ...done, status: 'FAILED' }, { championVersion: 3, rule: 'data_drift' })).toBeUndefined();
    expect(repeatedRetrain({ ...done, memo: { alertId: 'a-0' } }, { championVersion: 3, rule: 'data_drift' })).toBeUndefined();
    expect(repeatedRetrain(done, { championVersion: 3, rule: retrainRuleOf('no rule here') })).toBeUndefined();
  });
});

