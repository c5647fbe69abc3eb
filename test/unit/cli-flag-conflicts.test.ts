/**
 * CLI flags that would be ignored or would select the wrong data are refused with the flag named:
 * a canary setting on an A/B deployment (and the reverse), an ab-report --since that is no date, and
 * an empty --symbols list (which staged every row as out of scope and recorded a rejected snapshot).
 */
import { abReportSince, deploymentRequestFromFlags } from '../../client/commands/deployments';
import { requestFromFlags } from '../../client/commands/run-pipeline';

describe('deploy flags the mode does not read', () => {
  it('refuses canary settings in an A/B test and the A/B weight in a canary', () => {
    expect(() => deploymentRequestFromFlags('m', '2', { mode: 'ab', steps: '5,100' })).toThrow('deploy: --steps is a canary setting, not read in an A/B test (--mode ab)');
    expect(() => deploymentRequestFromFlags('m', '2', { mode: 'ab', failureLimit: '2', passesPerStep: '2' })).toThrow('--passes-per-step, --failure-limit are canary settings');
    expect(() => deploymentRequestFromFlags('m', '2', { mode: 'canary', abWeight: '0.3' })).toThrow('deploy: --ab-weight is an A/B setting, not read by a canary (give --mode ab)');
    // Without --mode a deployment is a canary.
    expect(() => deploymentRequestFromFlags('m', '2', { abWeight: '0.3' })).toThrow('--ab-weight is an A/B setting');
  });

  it('takes each mode with its own settings', () => {
    expect(deploymentRequestFromFlags('m', '2', { mode: 'ab', abWeight: '0.3' })).toMatchObject({ mode: 'ab', ab: { challengerWeight: 0.3 } });
    expect(deploymentRequestFromFlags('m', '2', { steps: '5,100', failureLimit: '2' })).toMatchObject({ canary: { steps: [5, 100], failureLimit: 2 } });
  });
});

describe('ab-report --since', () => {
  it('takes a date or an ISO time and refuses anything else', () => {
    expect(abReportSince('2026-11-01')).toBe('2026-11-01T00:00:00.000Z');
    expect(abReportSince('2026-11-01T14:30:00Z')).toBe('2026-11-01T14:30:00.000Z');
    expect(abReportSince(undefined, Date.parse('2026-12-06T00:00:00Z'))).toBe('2026-11-06T00:00:00.000Z');
    for (const bad of ['2026-02-30', 'yesterday', '']) expect(() => abReportSince(bad)).toThrow(/^deployments ab-report: --since .*expected a date \(YYYY-MM-DD\) or an ISO time/);
  });
});

describe('mlp run --delisted', () => {
  it('takes SYMBOL=YYYY-MM-DD pairs into the request and refuses anything else, naming the flag', () => {
    expect(requestFromFlags({ stooq: 'HPQ,XYZ', delisted: 'hpq=2017-11-01, XYZ=2018-02-15' }).request).toMatchObject({ delisted: { HPQ: '2017-11-01', XYZ: '2018-02-15' } });
    expect(requestFromFlags({ stooq: 'HPQ' }).request?.delisted).toBeUndefined();
    expect(() => requestFromFlags({ stooq: 'HPQ', delisted: 'HPQ' })).toThrow('--delisted: "HPQ" is not SYMBOL=YYYY-MM-DD');
    expect(() => requestFromFlags({ stooq: 'HPQ', delisted: ' , ' })).toThrow('--delisted: no symbol given');
    expect(() => requestFromFlags({ stooq: 'HPQ', delisted: 'HPQ=2017-11-04' })).toThrow('--delisted: HPQ: 2017-11-04 is not an NYSE session');
  });
});

describe('mlp run --symbols', () => {
  it('refuses an empty list', () => {
    for (const symbols of ['', ' , ', ',']) expect(() => requestFromFlags({ stooq: 'AAPL', symbols })).toThrow('--symbols: no symbol given');
    expect(requestFromFlags({ stooq: 'AAPL', symbols: 'aapl, msft' }).request).toMatchObject({ symbols: ['AAPL', 'MSFT'] });
  });
});
