import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { localArtifactStore } from '../../../lib/artifacts/artifact-store';
import { TaskPool } from '../../../lib/threads/task-pool';
import type { TrialRequest } from '../../../lib/training/trial';
import { tempDir } from '../../helpers/databases';

const idle = { specs: [], universe: [], next: new Int32Array(1), chunk: 1, blocks: { values: new Float64Array(0), offsets: new Float64Array(1), count: 0 } };
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

describe('TaskPool and the process', () => {
  it('keeps the process alive until the last task posted to a thread has answered, not only the first', () => {
    // A quick task, then a slow one on the same thread; nothing else keeps the process alive.
    const script = path.join(tempDir('mlp-pool-alive-'), 'two-tasks.ts');
    fs.writeFileSync(
      script,
      `import { TaskPool } from ${JSON.stringify(path.resolve(__dirname, '../../../lib/threads/task-pool'))};
const pool = new TaskPool(1);
const n = 400_000;
const close = Float64Array.from({ length: n }, (_, i) => 1 + (i % 7));
const series = { symbol: 'AAA', dates: Array.from({ length: n }, (_, i) => String(i).padStart(10, '0')), open: close, high: close, low: close, close, volume: new Float64Array(n).fill(1) };
const quick = pool.run(0, 'symbolColumns', { specs: [], universe: [], next: new Int32Array(1), chunk: 1, blocks: { values: new Float64Array(0), offsets: new Float64Array(1), count: 0 } });
const slow = pool.run(0, 'symbolColumns', { specs: [{ kind: 'rsi', window: 14, normalize: 'none' }, { kind: 'realized_vol', window: 60, normalize: 'none' }] as never, universe: [series], next: new Int32Array(1), chunk: 1, blocks: { values: new Float64Array(new SharedArrayBuffer(16 * n)), offsets: Float64Array.of(0, 2 * n), count: 2 } });
void Promise.all([quick, slow]).then(() => console.log('both answered'));
`,
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', cwd: path.resolve(__dirname, '../../..'), timeout: 60_000 });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('both answered');
  });
});
