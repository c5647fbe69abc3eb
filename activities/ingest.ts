import { Context } from '@temporalio/activity';
import type { Cache } from '../lib/cache/cache';
import { stageImport, type ImportProgress, type ImportSummary } from '../lib/ingest/import-bars';
import { importRequestSchema, type ImportRequestInput } from '../lib/ingest/import-request';
import { refuseUnknownKeys } from '../lib/unknown-keys';
import type { Database } from '../lib/store/database';
import { withFailureMapping } from './failures';

export interface IngestDeps {
  store: Database;
  cache: Cache;
}

/**
 * Thin adapter: validates input and stages the import, heartbeating after every file read and every
 * chunk staged (the chunk index is the heartbeat detail). A retried attempt resumes at the first
 * chunk not staged; the attempt it replaced can no longer write (see lib/store/staging.ts).
 */
export function ingestActivities({ store, cache }: IngestDeps) {
  return {
    async ingestBars(input: ImportRequestInput): Promise<ImportSummary> {
      return withFailureMapping(async () => {
        const ctx = Context.current();
        const request = importRequestSchema.parse(input);
        refuseUnknownKeys(input, request, 'the import request');
        const previous = ctx.info.heartbeatDetails as Partial<ImportProgress> | undefined;
        if (previous) ctx.log.info('retrying ingest', { lastPhase: previous.phase, lastChunk: previous.chunk, attempt: ctx.info.attempt });
        const summary = await stageImport(store, request, {
          cache,
          signal: ctx.cancellationSignal,
          onProgress: (progress) => ctx.heartbeat(progress),
        });
        ctx.log.info('ingest staged', { snapshotId: summary.snapshotId, rowsAccepted: summary.rowsAccepted, rowsRejected: summary.rowsRejected, chunksStaged: summary.chunksStaged, chunksResumed: summary.chunksResumed });
        return summary;
      });
    },
  };
}
