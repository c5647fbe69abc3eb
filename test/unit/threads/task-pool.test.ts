import { localArtifactStore } from '../../../lib/artifacts/artifact-store';
import { TaskPool } from '../../../lib/threads/task-pool';
import type { TrialRequest } from '../../../lib/training/trial';
import { tempDir } from '../../helpers/databases';

const idle = { specs: [], universe: [] };
const request: TrialRequest = { algorithm: 'logistic_regression', params: {}, folds: 3, embargoDays: 5, maxTrainRows: 500, maxTestRows: 500, seed: 1, threads: 1 };

// Activities finish out of order: handing threads out in turn queued a trial behind a long
// walk-forward while the other thread sat idle. Jobs go to the thread with the fewest open tasks.
describe('TaskPool.leastBusy', () => {
  const pool = new TaskPool(3);
  afterAll(() => pool.close());

  it('picks the thread with the fewest unanswered tasks, the lowest index on a tie', async () => {
    expect(pool.leastBusy()).toBe(0);
    const a = pool.run(0, 'symbolColumns', idle);
    const b = pool.run(0, 'symbolColumns', idle);
    expect(pool.leastBusy()).toBe(1);
    const c = pool.runOnLeastBusy('symbolColumns', idle);
    expect(pool.leastBusy()).toBe(2);
    const d = pool.runOnLeastBusy('symbolColumns', idle);
    expect(pool.leastBusy()).toBe(1); // 0 has two, 1 and 2 one each
    await Promise.all([a, b, c, d]);
    expect(pool.leastBusy()).toBe(0);
  });

  it('counts a failed task as answered', async () => {
    const failed = pool.run(0, 'trialFold', { artifacts: localArtifactStore(tempDir('mlp-pool-')).location, datasetId: 'not-a-dataset', request, fold: 0 });
    expect(pool.leastBusy()).toBe(1);
    await expect(failed).rejects.toThrow(/not-a-dataset/);
    expect(pool.leastBusy()).toBe(0);
  });
});
