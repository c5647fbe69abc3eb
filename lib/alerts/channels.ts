/**
 * Where alerts go: the log (always) and a Slack-compatible webhook. A channel's send() throws on
 * failure; the outbox (outbox.ts) turns that into a retry later.
 */
import type { Alert } from './alert';
import { alertHeadline, slackMessage } from './slack-message';

export interface AlertChannel {
  /** Matches alert_deliveries.channel. */
  readonly name: string;
  send(alert: Alert): Promise<void>;
}

export function logChannel(write: (line: string) => void = (line) => console.log(line)): AlertChannel {
  return {
    name: 'log',
    send(alert) {
      write(`ALERT ${alertHeadline(alert)} (alert ${alert.id}, raised ${alert.createdAt})`);
      return Promise.resolve();
    },
  };
}

export interface WebhookOptions {
  /** A slow receiver counts as down after this long (default 10 s). */
  timeoutMs?: number;
  /** The link shown in the message, if any (e.g. the Temporal Web UI page of the workflow behind it). */
  linkFor?: (alert: Alert) => string | undefined;
}

/**
 * The idempotency key of an alert's delivery on a channel: the same on every attempt of that
 * delivery, different for every other alert or channel. Deliveries are at least once (a receiver
 * that took a POST but whose answer was lost, or whose success could not be recorded, gets it
 * again), so a receiver drops a message whose key it has already seen.
 */
export function deliveryIdempotencyKey(alertId: string, channel: string): string {
  return `mlp-alert-${alertId}-${channel}`;
}

/**
 * POSTs the Slack JSON with the delivery's idempotency key (the `Idempotency-Key` header and the
 * body's `idempotency_key`); any non-2xx answer (a 301/302/303 redirect included: 307/308 are followed), network error or timeout is a failed delivery.
 */
/** 307/308 hops a delivery follows. */
const MAX_REDIRECTS = 3;

export function webhookChannel(url: string, options: WebhookOptions = {}): AlertChannel {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    name: 'webhook',
    async send(alert) {
      let response: Response;
      try {
        const idempotencyKey = deliveryIdempotencyKey(alert.id, 'webhook');
        const post = (to: string) =>
          fetch(to, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
            body: JSON.stringify({ ...slackMessage(alert, options.linkFor?.(alert)), idempotency_key: idempotencyKey }),
            signal: AbortSignal.timeout(timeoutMs),
            // Followed by fetch, a 301/302/303 turns the POST into a GET without the message, and the GET's 200 read as delivered.
            redirect: 'manual',
          });
        response = await post(url);
        // 307 and 308 keep the method and body (an http → https move answers 308): posted again there, a few hops at most.
        for (let hop = 0; (response.status === 307 || response.status === 308) && hop < MAX_REDIRECTS; hop++) {
          const location = response.headers.get('location');
          if (!location) break;
          await response.body?.cancel();
          response = await post(new URL(location, url).toString());
        }
      } catch (error) {
        // The URL is a secret (it authorises posting): never put it in an error message.
        // (name, not instanceof: the DOMException may come from another realm)
        const e = error as { name?: string; message?: string; cause?: { message?: string } };
        const reason = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.message ?? e.message ?? String(error));
        throw new Error(`webhook unreachable: ${reason}`, { cause: error });
      }
      const body = await response.text().catch(() => '');
      if (response.status >= 300 && response.status < 400) throw new Error(`webhook answered ${response.status}, a redirect to another address, which is not followed (${response.status === 307 || response.status === 308 ? `more than ${MAX_REDIRECTS} hops` : 'a POST redirected so loses its message'}): configure the address it redirects to`);
      if (!response.ok) throw new Error(`webhook answered ${response.status}${body ? `: ${body.slice(0, 200)}` : ''}`);
    },
  };
}

/** The link of an alert: evidence.link when it is a URL, else the Web UI page of the workflow or deployment it names. */
export function alertLink(alert: Alert, temporal: { temporalUiUrl: string; temporalNamespace: string }): string | undefined {
  const evidence = (alert.evidence ?? {}) as Record<string, unknown>;
  if (typeof evidence.link === 'string' && /^https?:\/\//.test(evidence.link)) return evidence.link;
  const workflowId = typeof evidence.workflowId === 'string' ? evidence.workflowId : typeof evidence.deploymentId === 'string' ? evidence.deploymentId : undefined;
  if (!workflowId) return undefined;
  return `${temporal.temporalUiUrl}/namespaces/${encodeURIComponent(temporal.temporalNamespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

export interface AlertChannelConfig {
  alertWebhookUrl: string | undefined;
  temporalUiUrl: string;
  temporalNamespace: string;
}

/** Channel names new alerts are queued for under this configuration. */
export function alertChannelNames(config: Pick<AlertChannelConfig, 'alertWebhookUrl'>): string[] {
  return config.alertWebhookUrl ? ['log', 'webhook'] : ['log'];
}

/** The channels of this configuration: the log (through `write`) and, with ALERT_WEBHOOK_URL, the webhook. */
export function alertChannels(config: AlertChannelConfig, write?: (line: string) => void): AlertChannel[] {
  const channels = [logChannel(write)];
  if (config.alertWebhookUrl) channels.push(webhookChannel(config.alertWebhookUrl, { linkFor: (alert) => alertLink(alert, config) }));
  return channels;
}
