import { Context } from '@temporalio/activity';
import type { Cache } from '../lib/cache/cache';
import { raiseAlert } from '../lib/alerts/alert-store';
import { alertChannelNames, type AlertChannelConfig } from '../lib/alerts/channels';
import { configuredSigning, loadConfig } from '../lib/config';
import { BadInputError } from '../lib/errors';
import { defineFeatureSet, DEFAULT_FEATURE_SET, type FeatureSetInput } from '../lib/features/feature-set';
import { materializeFeatures, type MaterializeReport } from '../lib/features/materialize';
import { tamperedRowsAlert } from '../lib/features/tampered-rows';
import { countRaisedAlert } from '../lib/metrics/alert-metrics';
import type { RowSigning } from '../lib/registry/row-signature';
import type { Database } from '../lib/store/database';
import { declaredInstruments, getSnapshot } from '../lib/store/snapshots';
import { activityAlertId } from './alerts';
import { withFailureMapping } from './failures';

export interface ComputeFeaturesInput {
  snapshotId: string;
  /** A declared feature set (default: the shipped one). */
  featureSet?: FeatureSetInput;
}

export interface ComputeFeaturesResult extends Omit<MaterializeReport, 'skipped' | 'rowsRecomputed' | 'recomputedFrom'> {
  /** Stored rows recomputed because bars under them were revised or back-filled (absent in results recorded before it was reported). */
  rowsRecomputed?: number;
  recomputedFrom?: string | null;
  snapshotId: string;
  /** Symbols without enough history, with the reason (capped list; the count is exact). */
  skipped: MaterializeReport['skipped'];
  skippedCount: number;
}

export function featureActivities({ store, cache, featureThreads, signing = configuredSigning(), alerts }: { store: Database; cache: Cache; featureThreads?: number; signing?: RowSigning; alerts?: Pick<AlertChannelConfig, 'alertWebhookUrl'> }) {
  return {
    /**
     * Materialises the feature set for every stored symbol up to the snapshot's last date, recomputing
     * stored rows that revised or back-filled bars made stale. Finished symbols are durable, so a
     * retried attempt writes only what is missing (and recomputes again what was not yet marked done).
     */
    async computeFeatures(input: ComputeFeaturesInput): Promise<ComputeFeaturesResult> {
      return withFailureMapping(async () => {
        const ctx = Context.current();
        const previous = ctx.info.heartbeatDetails as { symbolsDone?: number } | undefined;
        // Rows an earlier attempt committed are durable; materialisation starts after each symbol's last one.
        if (previous?.symbolsDone) ctx.log.info('resuming features: earlier attempt finished symbols, which are not rewritten', { symbolsDone: previous.symbolsDone, attempt: ctx.info.attempt });
        const snapshot = await getSnapshot(store, input.snapshotId);
        if (!snapshot) throw new BadInputError(`Snapshot ${input.snapshotId} does not exist; run the ingest step first`, 'SNAPSHOT_NOT_FOUND');
        // Kinds the imports declared join the set's definition (the set's own mapping wins), so they
        // decide which series get rows and count in market columns, and a changed declaration is a
        // new feature-set version rather than a silent change under an old one.
        const requested = input.featureSet ?? DEFAULT_FEATURE_SET;
        const declared = await declaredInstruments(store);
        const set = defineFeatureSet(Object.keys(declared).length === 0 ? requested : { ...requested, instruments: { ...declared, ...(requested.instruments ?? {}) } });
        // Every stored symbol, not only the snapshot's: a row's market-wide and cross-sectional
        // columns must not depend on which import happened to trigger the run (the point-in-time
        // audit recomputes them over the whole store too). The training universe is chosen later.
        const report = await materializeFeatures(store, set, {
          to: snapshot.lastDate ?? undefined,
          cache,
          threads: featureThreads,
          signing,
          signal: ctx.cancellationSignal,
          onProgress: (p) => ctx.heartbeat(p),
        });
        ctx.log.info('features materialised', { version: report.version, rowsWritten: report.rowsWritten, rowsRecomputed: report.rowsRecomputed, recomputedFrom: report.recomputedFrom, rowsRepaired: report.rowsRepaired ?? 0, skipped: report.skipped.length });
        // Stored rows whose signature failed were rewritten from the verified bars or deleted as forged:
        // someone wrote feature_rows without the key. Logged and raised, naming them (the report too).
        const alert = tamperedRowsAlert(report);
        if (alert) {
          ctx.log.warn('feature rows not vouched for by MODEL_SIGNING_KEY: written again from the verified bars, or deleted where no computation produces them', { version: report.version, rowsRepaired: report.rowsRepaired ?? 0, repaired: report.repaired, rowsRemoved: report.rowsRemoved ?? 0, removed: report.removed, unrepaired: report.unrepaired });
          const raised = await raiseAlert(store, alert, { channels: alertChannelNames(alerts ?? loadConfig()), id: activityAlertId() });
          countRaisedAlert(alert, raised.suppressed);
        }
        return { ...report, snapshotId: snapshot.id, skipped: report.skipped.slice(0, 50), skippedCount: report.skipped.length };
      });
    },
  };
}
