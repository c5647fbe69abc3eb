import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { asTemporalFailure } from '../../../activities/failures';
import { BadInputError, ERROR_CODE_LIST, ERROR_CODES, isErrorCode } from '../../../lib/errors';
import { UnreadableSourceError } from '../../../lib/market-data/csv-reader';
import { RegistryError } from '../../../lib/registry/model-registry';
import { ACTIVITY_RETRY, DEPLOYMENT_RETRY, NON_RETRYABLE_ERROR_TYPES, TRIAL_RETRY } from '../../../workflows/retry-policies';

describe('one ErrorCode union', () => {
  it('documents every code in one line', () => {
    expect(ERROR_CODE_LIST.length).toBeGreaterThan(20);
    for (const code of ERROR_CODE_LIST) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(ERROR_CODES[code].length).toBeGreaterThan(10);
      expect(ERROR_CODES[code]).not.toContain('\n');
    }
    expect(isErrorCode('ALL_TRIALS_FAILED')).toBe(true);
    expect(isErrorCode('RegistryError')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
  });

  it('makes every code final in every retry policy', () => {
    for (const policy of [ACTIVITY_RETRY, TRIAL_RETRY, DEPLOYMENT_RETRY]) expect(policy.nonRetryableErrorTypes).toBe(NON_RETRYABLE_ERROR_TYPES);
    expect(NON_RETRYABLE_ERROR_TYPES).toEqual(expect.arrayContaining(ERROR_CODE_LIST));
  });

  it('maps every bad-input domain error to a non-retryable failure typed with its code', () => {
    const cases: Array<[unknown, string]> = [
      [new BadInputError('no such file', 'SOURCE_NOT_FOUND'), 'SOURCE_NOT_FOUND'],
      [new BadInputError('bad'), 'BAD_INPUT'],
      // RegistryError was retried 8 times by registerAndPromote's policy; it is bad input like the rest.
      [new RegistryError('model m has no version 3'), 'REGISTRY_REJECTED'],
      [new UnreadableSourceError('a.csv', 'binary content', 'bad_encoding'), 'UNREADABLE_SOURCE'],
      [z.object({ n: z.number() }).safeParse({ n: 'x' }).error, 'INVALID_INPUT'],
    ];
    for (const [error, code] of cases) {
      const failure = asTemporalFailure(error);
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ type: code, nonRetryable: true });
      expect(isErrorCode((failure as ApplicationFailure).type)).toBe(true);
    }
    expect((asTemporalFailure(new RegistryError('model m has no version 3')) as ApplicationFailure).message).toBe('model m has no version 3');
  });

  it('leaves other errors (database down, network) to the retry policy', () => {
    const error = new Error('connect ECONNREFUSED 127.0.0.1:3306');
    expect(asTemporalFailure(error)).toBe(error);
  });

  it('types every failure a workflow raises with a code of the union', () => {
    const dir = path.join(__dirname, '..', '..', '..', 'workflows');
    const files = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const raised: string[] = [];
    for (const file of files) {
      const source = fs.readFileSync(path.join(dir, file), 'utf8');
      for (const call of source.matchAll(/ApplicationFailure\.(?:nonRetryable|retryable|create)\(/g)) {
        // The call's text to its closing parenthesis; a failure type is an upper-case string literal in it.
        let end = call.index + call[0].length;
        for (let depth = 1; depth > 0 && end < source.length; end++) depth += source[end] === '(' ? 1 : source[end] === ')' ? -1 : 0;
        const text = source.slice(call.index, end);
        for (const literal of text.matchAll(/'([A-Z][A-Z0-9_]{2,})'/g)) raised.push(`${file}: ${literal[1]}`);
      }
    }
    expect(raised.length).toBeGreaterThanOrEqual(5);
    expect(raised.filter((r) => !isErrorCode(r.split(': ')[1]))).toEqual([]);
    expect(raised).toContain('train-algorithm.ts: ALL_TRIALS_FAILED');
  });
});
