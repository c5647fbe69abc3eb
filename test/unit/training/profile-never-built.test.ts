import { profileNeverBuilt } from '../../../activities/experiments';
import { BadInputError } from '../../../lib/errors';

describe('which reference-profile failures registration retries', () => {
  it('retries only what is recognisably the store or the network; skips what fails the same way every time', () => {
    // Retried: system and driver codes, the object store client's response metadata.
    expect(profileNeverBuilt(Object.assign(new Error('read ETIMEDOUT datasets/x'), { code: 'ETIMEDOUT' }))).toBe(false);
    expect(profileNeverBuilt(Object.assign(new Error('Connection lost'), { code: 'PROTOCOL_CONNECTION_LOST' }))).toBe(false);
    expect(profileNeverBuilt(Object.assign(new Error('SlowDown'), { $metadata: { httpStatusCode: 503 } }))).toBe(false);
    // Skipped (the version registers without a profile, and monitoring says so): bad input, and
    // plain errors of the model or feature code, which before were retried until the run failed.
    expect(profileNeverBuilt(new BadInputError('predictions file gone'))).toBe(true);
    expect(profileNeverBuilt(new RangeError('no rows to bin'))).toBe(true);
    expect(profileNeverBuilt(new TypeError("Cannot read properties of undefined (reading 'length')"))).toBe(true);
    expect(profileNeverBuilt(new Error('the features differ from the model\'s'))).toBe(true);
  });
});
