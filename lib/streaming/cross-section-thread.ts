/** Thread side of CrossSectionThread: computes cross-sections off the consumer's event loop. */
import { parentPort } from 'node:worker_threads';
import { decodeJob, encodeRows, type WireJob } from './cross-section-job';
import { computeCrossSection } from './online-updater';

parentPort?.on('message', (request: { id: number; job: WireJob }) => {
  try {
    const rows = encodeRows(computeCrossSection(decodeJob(request.job)));
    parentPort?.postMessage({ id: request.id, rows }, [rows.values.buffer as ArrayBuffer]);
  } catch (error) {
    parentPort?.postMessage({ id: request.id, error: (error as Error).stack ?? String(error) });
  }
});
