import { BadInputError } from '../../../lib/errors';
import { writeDataset } from '../../../lib/training/dataset';
import type { TrialRequest } from '../../../lib/training/trial';
import { TaskPool } from '../../../lib/threads/task-pool';
import { tempDir } from '../../helpers/databases';
import { syntheticTrainingDataset } from '../../helpers/training-dataset';
import { localArtifactStore } from '../../../lib/artifacts/artifact-store';

const request: TrialRequest = { algorithm: 'logistic_regression', params: {}, folds: 3, embargoDays: 5, maxTrainRows: 500, maxTestRows: 500, seed: 1, threads: 1 };

// Errors cross the thread boundary as text; bad input must stay bad input there, or a trial with
// impossible parameters is retried five times before the search moves on.
describe('errors from training threads', () => {
  const pool = new TaskPool(1);
  afterAll(() => pool.close());

  it('keeps a BadInputError and its code', async () => {
    const error = await pool.run(0, 'trialFold', { artifacts: localArtifactStore(tempDir('mlp-thread-')).location, datasetId: 'not-a-dataset', request, fold: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadInputError);
    expect(error).toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('"not-a-dataset" is not a') });
  });

  it('turns invalid model parameters into bad input naming the parameter', async () => {
    const dir = tempDir('mlp-thread-');
    const { id } = await writeDataset(localArtifactStore(dir), syntheticTrainingDataset({ days: 80 }));
    const error = await pool.run(0, 'trialFold', { artifacts: localArtifactStore(dir).location, datasetId: id, request: { ...request, params: { maxIterations: 0 } }, fold: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadInputError);
    expect(error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/^trialFold: invalid input: maxIterations: /) });
  });

  it('leaves other errors retryable', async () => {
    const dir = tempDir('mlp-thread-');
    const { id } = await writeDataset(localArtifactStore(dir), syntheticTrainingDataset({ days: 80 }));
    const error = await pool.run(0, 'trialFold', { artifacts: localArtifactStore(dir).location, datasetId: id, request: { ...request, algorithm: 'no_such_algorithm' }, fold: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(BadInputError);
    expect((error as Error).message).toMatch(/trialFold failed in a worker thread: .*unknown algorithm "no_such_algorithm"/);
  });
});
