import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { localArtifactStore } from '../../../lib/artifacts/artifact-store';
import { TaskPool } from '../../../lib/threads/task-pool';
import { writeDataset } from '../../../lib/training/dataset';
import type { TrialRequest } from '../../../lib/training/trial';
import { tempDir } from '../../helpers/databases';
import { syntheticTrainingDataset } from '../../helpers/training-dataset';

const idle = { specs: [], universe: [], next: new Int32Array(1), chunk: 1, blocks: { values: new Float64Array(0), offsets: new Float64Array(1), count: 0, from: new Int32Array(0), lead: new Float64Array(0) } };
const request: TrialRequest = { algorithm: 'logistic_regression', params: {}, folds: 3, embargoDays: 5, maxTrainRows: 500, maxTestRows: 500, seed: 1, threads: 1 };

const missingDataset = () => ({ artifacts: localArtifactStore(tempDir('mlp-pool-')).location, datasetId: 'not-a-dataset', request, fold: 0 });

describe('TaskPool.runOnFreeThread', () => {
  // A job posted to a busy thread used to run at every await of the job already there: a network's
  // 0.2 s fold, which yields between epochs, took as long as the seconds-long fold beside it.
  it('runs one job per thread: a job posted while every thread is busy waits for a free one, first come first served', async () => {
    const pool = new TaskPool(1);
    try {
      const dir = tempDir('mlp-pool-');
      const { id } = await writeDataset(localArtifactStore(dir), syntheticTrainingDataset({ days: 80 }));
      // A network's fold yields between epochs: a job beside it on the same thread would run there.
      const mlp = { ...request, algorithm: 'mlp', params: { hiddenLayers: '8', epochs: 10, validationFraction: 0 } };
      const order: string[] = [];
      const a = pool.runOnFreeThread('trialFold', { artifacts: localArtifactStore(dir).location, datasetId: id, request: mlp, fold: 0 }).then(() => order.push('a'));
      const b = pool.runOnFreeThread('symbolColumns', idle).then(() => order.push('b'));
      const c = pool.runOnFreeThread('symbolColumns', idle).then(() => order.push('c'));
      expect(pool.idleThreads(1)).toEqual([]);
      await Promise.all([a, b, c]);
      expect(order).toEqual(['a', 'b', 'c']);
      expect(pool.idleThreads(1)).toEqual([0]);
    } finally {
      await pool.close();
    }
  });

  it('starts a job on the lowest free thread, and a waiting one on whichever thread frees first', async () => {
    const pool = new TaskPool(3);
    try {
      const busy = pool.run(1, 'trialFold', missingDataset()).catch(() => 'failed');
      const a = pool.runOnFreeThread('symbolColumns', idle);
      expect(pool.idleThreads(3)).toEqual([2]);
      const b = pool.runOnFreeThread('symbolColumns', idle);
      expect(pool.idleThreads(3)).toEqual([]);
      const c = pool.runOnFreeThread('symbolColumns', idle); // waits
      expect(pool.idleThreads(3)).toEqual([]);
      await Promise.all([busy, a, b, c]);
      expect(pool.idleThreads(3)).toEqual([0, 1, 2]);
    } finally {
      await pool.close();
    }
  });

  it('counts a failed job as answered and gives its thread to the next', async () => {
    const pool = new TaskPool(1);
    try {
      const failed = pool.runOnFreeThread('trialFold', missingDataset());
      const next = pool.runOnFreeThread('symbolColumns', idle);
      await expect(failed).rejects.toThrow(/not-a-dataset/);
      await expect(next).resolves.toBeDefined();
      expect(pool.idleThreads(1)).toEqual([0]);
    } finally {
      await pool.close();
    }
  });
});

describe('TaskPool when a task cannot run', () => {
  /** The pool's thread at `index`, to end it as a thread that exits on its own would (process.exit in a task, an out-of-memory abort). */
  const threadOf = (pool: TaskPool, index: number) => (pool as unknown as { threadAt: Array<{ worker: { terminate(): Promise<number> } } | undefined> }).threadAt[index];

  it('refuses an input that cannot be sent, naming the task, and keeps the thread free', async () => {
    const pool = new TaskPool(1);
    try {
      const refused = pool.runOnFreeThread('symbolColumns', { ...idle, chunk: (() => 1) as unknown as number });
      await expect(refused).rejects.toThrow(/symbolColumns: its input could not be sent to a worker thread/);
      expect(pool.idleThreads(1)).toEqual([0]);
      await expect(pool.runOnFreeThread('symbolColumns', idle)).resolves.toBeDefined();
    } finally {
      await pool.close();
    }
  });

  it('fails the tasks of a thread that ends, and starts the waiting ones on a new thread', async () => {
    const pool = new TaskPool(1);
    try {
      const running = pool.runOnFreeThread('symbolColumns', idle);
      const waiting = pool.runOnFreeThread('symbolColumns', idle);
      await threadOf(pool, 0)?.worker.terminate();
      await expect(running).rejects.toThrow(/worker thread exited/);
      await expect(waiting).resolves.toBeDefined();
      expect(pool.idleThreads(1)).toEqual([0]);
    } finally {
      await pool.close();
    }
  });

  it('on close, fails the tasks in flight and the waiting ones, and can be used again after', async () => {
    const pool = new TaskPool(1);
    const running = pool.runOnFreeThread('symbolColumns', idle).catch((e: unknown) => e);
    const waiting = pool.runOnFreeThread('symbolColumns', idle).catch((e: unknown) => e);
    await pool.close();
    expect(String(await running)).toMatch(/closed before the task answered/);
    expect(String(await waiting)).toMatch(/closed before the task answered/);
    expect(pool.idleThreads(1)).toEqual([0]);
    try {
      await expect(pool.runOnFreeThread('symbolColumns', idle)).resolves.toBeDefined();
    } finally {
      await pool.close();
    }
  });

  it('drops a waiting job whose caller gave up, so it never runs ahead of later jobs', async () => {
    const pool = new TaskPool(1);
    try {
      const order: string[] = [];
      const first = pool.runOnFreeThread('symbolColumns', idle).then(() => order.push('first'));
      const giveUp = new AbortController();
      const dropped = pool.runOnFreeThread('symbolColumns', idle, giveUp.signal).then(() => order.push('dropped'), (e: unknown) => e);
      const later = pool.runOnFreeThread('symbolColumns', idle).then(() => order.push('later'));
      giveUp.abort(new Error('activity cancelled'));
      expect(String(await dropped)).toMatch(/activity cancelled/);
      await Promise.all([first, later]);
      expect(order).toEqual(['first', 'later']);
      await expect(pool.runOnFreeThread('symbolColumns', idle, giveUp.signal)).rejects.toThrow(/activity cancelled/);
    } finally {
      await pool.close();
    }
  });

  it('drops all the waiting jobs of a caller that gives up, with one listener on its signal however many wait', async () => {
    const pool = new TaskPool(1);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const giveUp = new AbortController();
      const first = pool.runOnFreeThread('symbolColumns', idle, giveUp.signal);
      const queued = Array.from({ length: 15 }, () => pool.runOnFreeThread('symbolColumns', idle, giveUp.signal).catch((e: unknown) => e));
      giveUp.abort(new Error('activity cancelled'));
      for (const q of await Promise.all(queued)) expect(String(q)).toMatch(/activity cancelled/);
      await expect(first).resolves.toBeDefined(); // already running: it finishes
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => /listeners/.test(w))).toEqual([]);
      // a signal whose jobs all started keeps no listener
      const later = new AbortController();
      await Promise.all([pool.runOnFreeThread('symbolColumns', idle, later.signal), pool.runOnFreeThread('symbolColumns', idle, later.signal)]);
      expect((pool as unknown as { watched: Map<AbortSignal, unknown> }).watched.size).toBe(0);
    } finally {
      process.off('warning', onWarning);
      await pool.close();
    }
  });

  it('starts a waiting job on a thread added by grow', async () => {
    const pool = new TaskPool(1);
    try {
      const first = pool.runOnFreeThread('symbolColumns', idle);
      const second = pool.runOnFreeThread('symbolColumns', idle);
      expect(pool.idleThreads(2)).toEqual([]);
      pool.grow(2);
      expect(pool.idleThreads(2)).toEqual([]); // the waiting job is on thread 1 now
      await Promise.all([first, second]);
      expect(pool.idleThreads(2)).toEqual([0, 1]);
    } finally {
      await pool.close();
    }
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
const quick = pool.run(0, 'symbolColumns', { specs: [], universe: [], next: new Int32Array(1), chunk: 1, blocks: { values: new Float64Array(0), offsets: new Float64Array(1), count: 0, from: new Int32Array(0), lead: new Float64Array(0) } });
const slow = pool.run(0, 'symbolColumns', { specs: [{ kind: 'rsi', window: 14, normalize: 'none' }, { kind: 'realized_vol', window: 60, normalize: 'none' }] as never, universe: [series], next: new Int32Array(1), chunk: 1, blocks: { values: new Float64Array(new SharedArrayBuffer(16 * n)), offsets: Float64Array.of(0, 2 * n), count: 2, from: Int32Array.of(0), lead: new Float64Array(new SharedArrayBuffer(8)) } });
void Promise.all([quick, slow]).then(() => console.log('both answered'));
`,
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', cwd: path.resolve(__dirname, '../../..'), timeout: 60_000 });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('both answered');
  });
});
