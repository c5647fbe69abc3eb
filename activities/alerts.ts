/**
 * Alert activities: thin adapters over lib/alerts. raiseAlert stores the alert (cool-down, outbox)
 * and tries to deliver it at once; a delivery failure never fails the activity, since the worker's
 * delivery loop retries the outbox. Retries of the activity are idempotent: the alert id is derived
 * from the workflow run and activity id.
 */
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { alertChannelNames, alertChannels, type AlertChannelConfig } from '../lib/alerts/channels';
import type { AlertInput } from '../lib/alerts/alert';
import { raiseAlert as storeAlert } from '../lib/alerts/alert-store';
import { deliverPendingAlerts } from '../lib/alerts/outbox';
import { pipelineRetelling } from '../lib/monitoring/monitoring-rules';
import { countDeliveryAttempts, countRaisedAlert } from '../lib/metrics/alert-metrics';
import type { Database } from '../lib/store/database';
import { withFailureMapping } from './failures';

export interface RaiseAlertActivityResult {
  /** The alert raised, or the earlier one that suppressed it (cool-down). */
  id: string;
  suppressed: boolean;
  /** Channels that took the alert at once; the others are retried by the worker's delivery loop. */
  delivered: string[];
  failed: Array<{ channel: string; error: string }>;
}

/** An id that is the same for every attempt of one activity execution (none outside a workflow). */
export function activityAlertId(): string | undefined {
  const info = Context.current().info;
  if (!info.workflowExecution) return undefined;
  const key = `${info.workflowNamespace}/${info.workflowExecution.workflowId}/${info.workflowExecution.runId}/${info.activityId}`;
  return `alert-${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

export function alertActivities({ store, config }: { store: Database; config: AlertChannelConfig }) {
  const channels = () => alertChannels(config, (line) => Context.current().log.warn(line));
  return {
    async raiseAlert(input: AlertInput): Promise<RaiseAlertActivityResult> {
      const raised = await withFailureMapping(() => storeAlert(store, input, { channels: alertChannelNames(config), id: activityAlertId(), retell: pipelineRetelling(input) }));
      countRaisedAlert(input, raised.suppressed);
      if (raised.suppressed) {
        Context.current().log.info(`alert suppressed (cool-down, or what it tells was told): ${input.rule} ${input.subject} (earlier alert ${raised.id})`);
        return { ...raised, delivered: [], failed: [] };
      }
      try {
        const result = await deliverPendingAlerts(store, channels(), new Date(), { alertIds: [raised.id] });
        countDeliveryAttempts(result.attempts);
        return { ...raised, delivered: result.attempts.filter((a) => a.ok).map((a) => a.channel), failed: result.attempts.filter((a) => !a.ok).map((a) => ({ channel: a.channel, error: a.error ?? '' })) };
      } catch (error) {
        // The alert and its outbox rows are stored: the delivery loop sends them later.
        Context.current().log.warn(`alert ${raised.id} stored, delivery deferred: ${(error as Error).message}`);
        return { ...raised, delivered: [], failed: [{ channel: '*', error: (error as Error).message }] };
      }
    },

    /** Delivers every due delivery of the outbox (what the worker loop does, as an activity). */
    async deliverAlerts(): Promise<{ delivered: number; failed: number }> {
      return withFailureMapping(async () => {
        const result = await deliverPendingAlerts(store, channels());
        countDeliveryAttempts(result.attempts);
        return { delivered: result.delivered, failed: result.failed };
      });
    },
  };
}

export type AlertActivities = ReturnType<typeof alertActivities>;
