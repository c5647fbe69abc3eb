import { judgeNoDataAnswer } from '../../lib/ingest/provider-answer';
import { importRequestSchema } from '../../lib/ingest/import-request';

// "No data" judged by the range asked and a declared last session (lib/ingest/provider-answer.ts).
const request = (range: { from?: string; to?: string }) => importRequestSchema.parse({ source: { kind: 'stooq', symbols: ['HPQ'] }, ...range });
const MESSAGE = 'Stooq has no data for HPQ';
const answer = (lastSession?: string) => ({ source: 'stooq', symbol: 'HPQ', fetchedAt: '2018-03-01T17:00:00Z', ...(lastSession ? { lastSession } : {}) });

describe('"No data" for a declared delisting', () => {
  it('is empty by right for a range whose first session is after the declared last session, a weekend start included', () => {
    expect(judgeNoDataAnswer(answer('2017-11-03'), request({ from: '2017-11-06', to: '2017-12-29' }), MESSAGE)).toMatch(/wholly after its declared last session \(2017-11-03, "delisted"\): skipped/);
    // Saturday 2017-11-04: the range's first session is Monday 2017-11-06.
    expect(judgeNoDataAnswer(answer('2017-11-03'), request({ from: '2017-11-04' }), MESSAGE)).toMatch(/skipped, nothing stored/);
  });

  it('is the final error for a range that reaches the declared last session or has no start, naming why', () => {
    const reject = (lastSession: string | undefined, range: { from?: string; to?: string }) => {
      try {
        judgeNoDataAnswer(answer(lastSession), request(range), MESSAGE);
      } catch (error) {
        return error as { code?: string; message: string };
      }
      throw new Error('expected a refusal');
    };
    expect(reject('2017-11-03', { from: '2017-11-03', to: '2017-12-29' })).toMatchObject({ code: 'PROVIDER_REJECTED', message: expect.stringMatching(/^Stooq has no data for HPQ; HPQ is declared delisted after 2017-11-03, but the range asked \(2017-11-03\.\.2017-12-29\) starts on 2017-11-03, on or before that session/) });
    expect(reject('2017-11-03', { to: '2017-12-29' })).toMatchObject({ code: 'PROVIDER_REJECTED', message: expect.stringMatching(/starts at the start of its history, on or before that session/) });
    expect(reject(undefined, { from: '2018-01-01' })).toMatchObject({ code: 'PROVIDER_REJECTED', message: expect.stringMatching(/If HPQ was delisted before 2018-01-01, declare its last session/) });
    expect(reject(undefined, {})).toMatchObject({ code: 'PROVIDER_REJECTED', message: 'Stooq has no data for HPQ; nothing was imported' });
  });
});

describe('"No data" for a symbol outside the symbols kept', () => {
  it('is skipped with a note, as a header-only answer for it is, whatever its declaration', () => {
    const kept = importRequestSchema.parse({ source: { kind: 'stooq', symbols: ['HPQ', 'IBM'] }, symbols: ['IBM'], from: '2017-01-02' });
    expect(judgeNoDataAnswer(answer(), kept, MESSAGE)).toMatch(/HPQ is not among the symbols kept: skipped, nothing stored/);
  });
});
