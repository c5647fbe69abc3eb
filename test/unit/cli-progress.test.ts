/** Run progress as the CLI shows it: heartbeats, change lines for logs, the live line for terminals. */
import { PassThrough } from 'node:stream';
import { ServiceError, WorkflowFailedError, WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, RetryState } from '@temporalio/common';
import { followRun, LOST_CONTACT_EXIT_CODE, LostContactError, progressItems } from '../../client/follow-run';
import { changedLines, describeHeartbeat, liveLine, progressSink, type ProgressItem, type ProgressSink } from '../../client/progress';
import type { PipelineStatus } from '../../workflows';

const payload = (detail: unknown) => ({ payloads: [{ data: Buffer.from(JSON.stringify(detail)) }] });

describe('describeHeartbeat', () => {
  test('shows counts only once there is something to count', () => {
    expect(describeHeartbeat({ phase: 'reading', chunk: 0, chunks: 0, barsWritten: 0, barsTotal: 0 })).toEqual({ text: 'reading', fraction: undefined });
    expect(describeHeartbeat({ phase: 'reading', chunk: 3, chunks: 12, barsWritten: 0, barsTotal: 0 })).toEqual({ text: 'reading 3/12 files', fraction: 0.25 });
    expect(describeHeartbeat({ phase: 'staging', chunk: 1, chunks: 4, barsWritten: 500, barsTotal: 1000 })).toEqual({ text: 'staging 1/4 chunks, 500/1000 bars', fraction: 0.5 });
    expect(describeHeartbeat({ symbolsDone: 9, symbolsTotal: 10, rowsWritten: 2520 })).toEqual({ text: '9/10 symbols, 2520 rows', fraction: 0.9 });
    expect(describeHeartbeat(undefined)).toEqual({ text: '' });
  });
});

describe('progressItems', () => {
  const status: PipelineStatus = {
    stages: [
      { name: 'ingest', status: 'completed', detail: 'snapshot s1' },
      { name: 'features', status: 'running' },
      { name: 'training', status: 'pending' },
    ],
  } as PipelineStatus;

  test('stages that started, running activities with their heartbeat, training children', () => {
    const items = progressItems(status, [{ activityType: { name: 'materializeFeatures' }, attempt: 2, heartbeatDetails: payload({ symbolsDone: 5, symbolsTotal: 20, rowsWritten: 0 }) }], [
      { algorithm: 'random_forest', phase: 'search', trialsDone: 6, trialsFailed: 1, budget: 20, running: 2, bestScore: 0.53121 },
    ]);
    expect(items).toEqual([
      { key: 'ingest', text: 'completed (snapshot s1)', active: false },
      { key: 'features', text: 'running', active: false },
      { key: 'materializeFeatures', text: 'attempt 2 5/20 symbols', fraction: 0.25, active: true },
      { key: 'training random_forest', text: 'search 7/20 best 0.5312 (2 running) 1 failed', fraction: 7 / 20, active: true },
    ]);
  });

  test("a best score the query answers as null (a trial's undefined CV AUC, NaN in the workflow) is shown as undefined", () => {
    const items = progressItems(status, [], [{ algorithm: 'svm', phase: 'search', trialsDone: 1, trialsFailed: 0, budget: 4, running: 1, bestScore: null as unknown as number }]);
    expect(items.find((i) => i.key === 'training svm')?.text).toBe('search 1/4 best undefined (1 running)');
  });

  test('several running activities of one type are one item', () => {
    const evaluate = { activityType: { name: 'evaluateAlgorithm' } };
    const items = progressItems(status, [evaluate, { ...evaluate, attempt: 3 }, evaluate], []);
    expect(items.slice(2)).toEqual([{ key: 'evaluateAlgorithm', text: '3 running, attempt 3', active: true }]);
  });

  test('an activity that has not reported yet shows no empty counts', () => {
    const items = progressItems(status, [{ activityType: { name: 'ingestBars' }, heartbeatDetails: payload({ phase: 'reading', chunk: 0, chunks: 0, barsWritten: 0, barsTotal: 0 }) }], []);
    expect(items[2]).toEqual({ key: 'ingestBars', text: 'reading', fraction: undefined, active: true });
    expect(JSON.stringify(items)).not.toContain('0/0');
  });
});

describe('output', () => {
  const a: ProgressItem[] = [
    { key: 'ingest', text: 'running', active: true },
    { key: 'ingestBars', text: 'reading 1/4 files', fraction: 0.25, active: true },
  ];
  const b: ProgressItem[] = [
    { key: 'ingest', text: 'running', active: true },
    { key: 'ingestBars', text: 'reading 2/4 files', fraction: 0.5, active: true },
  ];

  test('a log gets one short line per change, nothing for what stayed the same', () => {
    expect(changedLines([], a)).toEqual(['ingest: running', 'ingestBars: reading 1/4 files']);
    expect(changedLines(a, b)).toEqual(['ingestBars: reading 2/4 files']);
    expect(changedLines(b, b)).toEqual([]);
  });

  test('the live line shows finished stages as ticks and running work with a bar, cut to the terminal width', () => {
    const items: ProgressItem[] = [{ key: 'ingest', text: 'completed (snapshot s1)', active: false }, ...b.slice(1)];
    expect(liveLine(items, 200)).toBe('ingest ✓ | ▓▓▓▓▓░░░░░ ingestBars reading 2/4 files');
    const cut = liveLine(items, 30);
    expect(cut).toHaveLength(29);
    expect(cut.endsWith('…')).toBe(true);
  });

  test('a pipe gets change lines; a terminal gets the line redrawn in place and a newline at the end', () => {
    const pipe = Object.assign(new PassThrough(), { isTTY: false });
    const sink = progressSink(pipe);
    sink.update(a);
    sink.update(a);
    sink.update(b);
    sink.finish();
    expect(pipe.read()?.toString()).toBe('  ingest: running\n  ingestBars: reading 1/4 files\n  ingestBars: reading 2/4 files\n');

    const tty = Object.assign(new PassThrough(), { isTTY: true, columns: 80 });
    const live = progressSink(tty);
    live.update(a);
    live.update(a);
    live.update(b);
    live.finish();
    const written = tty.read()?.toString() ?? '';
    expect(written.split('\r\x1b[2K')).toEqual(['', '  ingest running | ▓▓▓░░░░░░░ ingestBars reading 1/4 files', '  ingest running | ▓▓▓▓▓░░░░░ ingestBars reading 2/4 files\n']);
  });

  test('a note is a line of its own: after the change lines in a log, over the live line on a terminal (redrawn after it)', () => {
    const pipe = Object.assign(new PassThrough(), { isTTY: false });
    const sink = progressSink(pipe);
    sink.update(a);
    sink.note('lost contact');
    sink.update(a);
    expect(pipe.read()?.toString()).toBe('  ingest: running\n  ingestBars: reading 1/4 files\n  lost contact\n');

    const tty = Object.assign(new PassThrough(), { isTTY: true, columns: 80 });
    const live = progressSink(tty);
    live.update(a);
    live.note('lost contact');
    live.update(a);
    const written = tty.read()?.toString() ?? '';
    expect(written.split('\r\x1b[2K')).toEqual(['', '  ingest running | ▓▓▓░░░░░░░ ingestBars reading 1/4 files', '  lost contact\n', '  ingest running | ▓▓▓░░░░░░░ ingestBars reading 1/4 files']);
  });
});

describe('followRun when the Temporal server goes away mid-run', () => {
  // What handle.result() rejects with while the server is down (the SDK's own gRPC retries spent).
  const unavailable = () => new ServiceError('Failed to get Workflow execution history', { cause: Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14, details: 'No connection established', metadata: {} }) });
  /** A handle whose result() answers `outcomes` in turn (the last one again after them) and whose progress queries fail as the server's calls do. */
  function fakeHandle(outcomes: Array<() => Promise<unknown>>) {
    let calls = 0;
    const handle = {
      workflowId: 'run-x',
      result: () => outcomes[Math.min(calls++, outcomes.length - 1)](),
      query: () => Promise.reject(unavailable()),
      describe: () => Promise.reject(unavailable()),
      client: { getHandle: () => ({ query: () => Promise.reject(unavailable()) }) },
    } as unknown as WorkflowHandle;
    return { handle, calls: () => calls };
  }
  function recordingSink(): ProgressSink & { notes: string[] } {
    const notes: string[] = [];
    return { notes, update: () => undefined, finish: () => undefined, note: (line: string) => notes.push(line) };
  }
  /** A clock that only the backoff's sleeps move. */
  function fakeTime() {
    let now = 0;
    const slept: number[] = [];
    return { slept, now: () => now, sleep: async (ms: number) => void (slept.push(ms), (now += ms)) };
  }

  test('a lost connection is followed through: the run\'s result once the server answers again, the loss said once', async () => {
    const { handle, calls } = fakeHandle([() => Promise.reject(unavailable()), () => Promise.reject(unavailable()), () => Promise.resolve({ done: true })]);
    const sink = recordingSink();
    const time = fakeTime();
    await expect(followRun(handle, sink, { pollMs: 1, address: '127.0.0.1:7307', ...time })).resolves.toEqual({ done: true });
    expect(calls()).toBe(3);
    expect(sink.notes).toEqual(['lost contact with Temporal at 127.0.0.1:7307; run run-x keeps going; retrying']);
    expect(time.slept).toEqual([1000, 2000]);
  });

  test('given up after the bound: says the run may still be running, where to look, and exits with its own code', async () => {
    const { handle, calls } = fakeHandle([() => Promise.reject(unavailable())]);
    const sink = recordingSink();
    const time = fakeTime();
    const error = await followRun(handle, sink, { pollMs: 1, address: '127.0.0.1:7307', giveUpMs: 60_000, ...time }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LostContactError);
    expect((error as LostContactError).exitCode).toBe(LOST_CONTACT_EXIT_CODE);
    expect(LOST_CONTACT_EXIT_CODE).not.toBe(1);
    expect((error as Error).message).toMatch(/^lost contact with Temporal at 127\.0\.0\.1:7307 for 60 s; run run-x may still be running: see `mlp runs show run-x`/);
    // Backoff doubling up to its cap; the last wait ends at the bound.
    expect(time.slept).toEqual([1000, 2000, 4000, 8000, 16000, 29000]);
    expect(calls()).toBe(7);
  });

  test('the server answering again (describe) ends the outage: its bound starts again at the next loss', async () => {
    const { handle, calls } = fakeHandle([...Array.from({ length: 6 }, () => () => Promise.reject(unavailable())), () => Promise.resolve({ done: true })]);
    // The server answers from the second wait for the result on; queries still fail (no worker yet).
    (handle as unknown as { describe: () => Promise<unknown> }).describe = () => (calls() >= 2 ? Promise.resolve({ raw: {} }) : Promise.reject(unavailable()));
    const sink = recordingSink();
    let now = 0;
    // Each backoff wait lets the progress polls run (real time), and moves the clock on.
    const sleep = (ms: number) => new Promise<void>((r) => setTimeout(() => r(void (now += ms)), 20));
    // 3 s without contact would end it after the third wait: contact came back between, so it does not.
    await expect(followRun(handle, sink, { pollMs: 1, address: 'a:1', giveUpMs: 3000, sleep, now: () => now })).resolves.toEqual({ done: true });
    expect(sink.notes.slice(0, 2)).toEqual(['lost contact with Temporal at a:1; run run-x keeps going; retrying', 'Temporal at a:1 answers again; following run run-x']);
  });

  test('a failed run and a run the server does not know are answered at once, not retried', async () => {
    const failed = fakeHandle([() => Promise.reject(new WorkflowFailedError('Workflow execution failed', ApplicationFailure.nonRetryable('bad bars'), RetryState.NON_RETRYABLE_FAILURE))]);
    await expect(followRun(failed.handle, recordingSink(), { pollMs: 1, ...fakeTime() })).rejects.toThrow('Run run-x failed: bad bars');
    expect(failed.calls()).toBe(1);
    const unknown = fakeHandle([() => Promise.reject(new WorkflowNotFoundError('not found', 'run-x', undefined))]);
    await expect(followRun(unknown.handle, recordingSink(), { pollMs: 1, ...fakeTime() })).rejects.toBeInstanceOf(WorkflowNotFoundError);
    expect(unknown.calls()).toBe(1);
  });
});
