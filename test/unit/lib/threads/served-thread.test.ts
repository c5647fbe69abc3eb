import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { servedChannel, ServedThread } from '../../../../lib/threads/served-thread';
import { sharedInt32 } from '../../../../lib/threads/shared-memory';

const SERVED = path.join(__dirname, '../../../../lib/threads/served-thread');
// Control word of the request number (served-thread.ts REQUEST).
const REQUEST = 0;

describe('served thread', () => {
  it('runs a request once when its wake-up arrives after the served thread already ran it', async () => {
    const channel = servedChannel(1);
    const runs = sharedInt32(1);
    // The served thread counts the requests it runs; no spin, so it sleeps in Atomics.wait at once.
    const worker = new Worker(
      `require('tsx/cjs');
       const { workerData } = require('node:worker_threads');
       require(${JSON.stringify(SERVED)}).serveRequests(workerData.channel, () => Atomics.add(workerData.runs, 0, 1), 0);`,
      { eval: true, workerData: { channel, runs } },
    );
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    try {
      const thread = new ServedThread(channel, 'test', 0);
      await thread.untilServing(30_000);
      thread.send(1);
      thread.finish();
      expect(Atomics.load(runs, 0)).toBe(1);
      // A requester preempted between storing a request and waking the served thread: the thread
      // saw the request while spinning, ran it and sleeps again when the wake-up comes. That
      // wake-up must not run the request a second time (it ran while the requester wrote the next
      // request's operands: a boosting fit added leaf values twice or partitioned stale rows).
      const until = Date.now() + 30_000;
      while (Atomics.notify(channel.control, REQUEST) === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 1));
      await new Promise((r) => setTimeout(r, 200));
      expect(Atomics.load(runs, 0)).toBe(1);
      thread.send(1);
      thread.finish();
      expect(Atomics.load(runs, 0)).toBe(2);
      thread.stop();
      await exited;
    } finally {
      await worker.terminate();
    }
  });
});
