import { Context } from '@temporalio/activity';
import type { Cache } from '../lib/cache/cache';
import { importBars, type ImportProgress, type ImportSummary } from '../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../lib/ingest/import-request';
import type { Database } from '../lib/store/database';
import { withFailureMapping } from './failures';

export interface IngestDeps {
  store: Database;
  cache: Cache;
}

/** Thin adapter: validates input, heartbeats progress and resumes from the last committed chunk. */
export function ingestActivities({ store, cache }: IngestDeps) {
  return {
    async ingestBars(input: ImportRequestInput): Promise<ImportSummary> {
      return withFailureMapping(async () => {
        const ctx = Context.current();
        const request = importRequestSchema.parse(input);
        const previous = ctx.info.heartbeatDetails as ImportProgress | undefined;
        if (previous) ctx.log.info('resuming ingest from last heartbeat', { barsWritten: previous.barsWritten, attempt: ctx.info.attempt });
        const summary = await importBars(store, request, {
          cache,
          signal: ctx.cancellationSignal,
          resumeFromBars: previous?.barsWritten ?? 0,
          onProgress: (progress) => ctx.heartbeat(progress),
        });
        ctx.log.info('ingest finished', { snapshotId: summary.snapshotId, rowsAccepted: summary.rowsAccepted, rowsRejected: summary.rowsRejected });
        return summary;
      });
    },
  };
}
