/**
 * Alert delivery to a real HTTP receiver (node:http on a local port): Slack JSON, retries with
 * back-off while the receiver is down or failing, exactly one delivery once it is up, never lost;
 * the raising activity does not fail when delivery does, and the worker's loop delivers afterwards.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { alertActivities, type RaiseAlertActivityResult } from '../../activities/alerts';
import { raiseAlert } from '../../lib/alerts/alert-store';
import { alertChannels, logChannel, webhookChannel } from '../../lib/alerts/channels';
import { startAlertDeliveryLoop } from '../../lib/alerts/delivery-loop';
import { deliverPendingAlerts, listDeliveries, retryDelaySeconds } from '../../lib/alerts/outbox';
import type { SlackMessage } from '../../lib/alerts/slack-message';
import { DRIVERS, type TestDatabase } from '../helpers/databases';

type Mode = 'ok' | 'fail' | 'hang' | 'redirect' | 'redirect308';

/** A webhook receiver that records every POST body; `mode` decides the answer. */
class Receiver {
  readonly received: SlackMessage[] = [];
  mode: Mode = 'ok';
  private server?: http.Server;
  private hanging: http.ServerResponse[] = [];

  async start(port = 0): Promise<number> {
    this.server = http.createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        if (this.mode === 'hang') return void this.hanging.push(response);
        if (this.mode === 'fail') return void response.writeHead(500).end('receiver is failing');
        // A moved endpoint: a client following it would send a GET without the message to /moved.
        if (this.mode === 'redirect' && request.url !== '/moved') return void response.writeHead(301, { location: '/moved' }).end();
        if (this.mode === 'redirect308' && request.url !== '/moved') return void response.writeHead(308, { location: '/moved' }).end();
        if (request.method !== 'POST' || body === '') return void response.writeHead(200).end('ok');
        this.received.push(JSON.parse(body) as SlackMessage);
        response.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', () => resolve()));
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const r of this.hanging) r.destroy();
    this.hanging = [];
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
    this.server = undefined;
  }
}

/** A port nobody listens on (bound and released). */
async function closedPort(): Promise<number> {
  const r = new Receiver();
  const port = await r.start();
  await r.stop();
  return port;
}

const T0 = new Date('2026-03-02T15:35:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const input = { rule: 'performance_degraded', severity: 'critical' as const, subject: 'model m1', message: 'hit rate 0.44 over 200 matured predictions, backtest promised 0.55', evidence: { hitRate: 0.44, matured: 200, workflowId: 'monitoring-2026-03-02T15:35:00Z' }, cooldownSeconds: 0 };

describe.each(DRIVERS)('alert delivery on %s', (_driver, create) => {
  let t: TestDatabase;
  const receivers: Receiver[] = [];
  const receiver = () => {
    const r = new Receiver();
    receivers.push(r);
    return r;
  };
  const log: string[] = [];
  const channelsFor = (port: number, timeoutMs = 2000) => [logChannel((line) => log.push(line)), webhookChannel(`http://127.0.0.1:${port}/hooks/T000/B000/secret-part`, { timeoutMs })];

  beforeEach(async () => {
    t = await create();
    log.length = 0;
  });
  afterEach(async () => {
    for (const r of receivers.splice(0)) await r.stop();
    await t?.drop();
  });

  it('retries while the receiver answers 500, then delivers exactly once and stops', async () => {
    const r = receiver();
    const port = await r.start();
    r.mode = 'fail';
    const { id } = await raiseAlert(t.store, input, { channels: ['webhook'], now: T0 });
    const channels = channelsFor(port);

    const first = await deliverPendingAlerts(t.store, channels, T0);
    expect(first).toMatchObject({ delivered: 1, failed: 1 }); // log delivered, webhook failed
    expect(log).toHaveLength(1);
    expect(log[0]).toContain('[CRITICAL] performance_degraded — model m1');
    let [webhook] = await listDeliveries(t.store, { status: 'failing' });
    expect(webhook).toMatchObject({ alertId: id, channel: 'webhook', attempts: 1, lastError: 'webhook answered 500: receiver is failing', nextAttemptAt: at(retryDelaySeconds(1)).toISOString() });

    // Not due yet: nothing is attempted.
    expect((await deliverPendingAlerts(t.store, channels, at(retryDelaySeconds(1) - 1))).attempts).toEqual([]);
    // Due: fails again, and waits twice as long.
    expect(await deliverPendingAlerts(t.store, channels, at(5))).toMatchObject({ delivered: 0, failed: 1 });
    [webhook] = await listDeliveries(t.store, { status: 'failing' });
    expect(webhook).toMatchObject({ attempts: 2, nextAttemptAt: at(5 + retryDelaySeconds(2)).toISOString() });

    r.mode = 'ok';
    expect(await deliverPendingAlerts(t.store, channels, at(15))).toMatchObject({ delivered: 1, failed: 0 });
    expect(await deliverPendingAlerts(t.store, channels, at(3600))).toMatchObject({ delivered: 0, failed: 0 });
    expect(r.received).toHaveLength(1);
    expect(r.received[0].text).toContain('performance_degraded');
    expect(await listDeliveries(t.store, { status: 'pending' })).toEqual([]);
    expect(await listDeliveries(t.store, { status: 'delivered' })).toEqual(expect.arrayContaining([expect.objectContaining({ channel: 'webhook', attempts: 3, lastError: null })]));
    expect(log).toHaveLength(1);
  });

  it('keeps a delivery while the receiver is not listening at all, and delivers it once it comes up', async () => {
    const port = await closedPort();
    await raiseAlert(t.store, input, { channels: ['webhook'], now: T0 });
    const channels = channelsFor(port);
    let now = T0;
    for (let attempt = 1; attempt <= 6; attempt++) {
      const result = await deliverPendingAlerts(t.store, channels, now);
      expect(result.attempts.filter((a) => a.channel === 'webhook')).toEqual([expect.objectContaining({ ok: false, error: expect.stringMatching(/^webhook unreachable: /) })]);
      now = new Date(now.getTime() + retryDelaySeconds(attempt) * 1000);
    }
    const [pending] = await listDeliveries(t.store, { status: 'failing' });
    expect(pending.attempts).toBe(6);
    // The URL authorises posting: errors never show it.
    expect(pending.lastError).not.toContain('secret-part');

    const r = receiver();
    await r.start(port);
    expect(await deliverPendingAlerts(t.store, channels, now)).toMatchObject({ delivered: 1, failed: 0 });
    expect(await deliverPendingAlerts(t.store, channels, new Date(now.getTime() + 86_400_000))).toMatchObject({ delivered: 0, failed: 0 });
    expect(r.received).toHaveLength(1);
  });

  it('counts a receiver that does not answer within the timeout as down', async () => {
    const r = receiver();
    const port = await r.start();
    r.mode = 'hang';
    await raiseAlert(t.store, input, { channels: ['webhook'], now: T0 });
    const result = await deliverPendingAlerts(t.store, channelsFor(port, 200), T0);
    expect(result.attempts.find((a) => a.channel === 'webhook')).toMatchObject({ ok: false, error: 'webhook unreachable: no answer within 200 ms' });
  });

  it('counts a redirect as a failed delivery, kept pending with the reason: a followed 301 sent a GET without the message and read its 200 as delivered', async () => {
    const r = receiver();
    const port = await r.start();
    r.mode = 'redirect';
    await raiseAlert(t.store, input, { channels: ['webhook'], now: T0 });
    const result = await deliverPendingAlerts(t.store, channelsFor(port), T0);
    expect(result.attempts.find((a) => a.channel === 'webhook')).toMatchObject({ ok: false, error: expect.stringMatching(/^webhook answered 301, a redirect/) });
    expect(r.received).toEqual([]);
    expect((await listDeliveries(t.store)).find((d) => d.channel === 'webhook')).toMatchObject({ status: 'pending', lastError: expect.stringMatching(/answered 301/) });
    // A 308 (http → https moves answer so) keeps the POST and its body: followed, and delivered.
    r.mode = 'redirect308';
    const moved = await deliverPendingAlerts(t.store, channelsFor(port), at(3600));
    expect(moved.attempts.find((a) => a.channel === 'webhook')).toMatchObject({ ok: true });
    expect(r.received).toHaveLength(1);
  });

  it('sends a delivery once even when two processes run the outbox at the same moment', async () => {
    const r = receiver();
    const port = await r.start();
    for (let i = 0; i < 5; i++) await raiseAlert(t.store, { ...input, subject: `model m${i}` }, { channels: ['webhook'], now: T0 });
    const [a, b] = await Promise.all([deliverPendingAlerts(t.store, channelsFor(port), T0), deliverPendingAlerts(t.store, channelsFor(port), T0)]);
    expect(a.delivered + b.delivered).toBe(10);
    expect(r.received.map((m) => m.text).sort()).toEqual([0, 1, 2, 3, 4].map((i) => expect.stringContaining(`model m${i}:`)));
    expect(r.received).toHaveLength(5);
  });

  it('a pass longer than the lease claims each delivery for the lease from when it claims it: a second process does not send it again', async () => {
    const sent: string[] = [];
    // A slow channel: each send takes 600 ms; leases of 0.4 s.
    const slow = { name: 'webhook', send: async (alert: { id: string }) => { sent.push(alert.id); await new Promise((r) => setTimeout(r, 600)); } };
    for (let i = 0; i < 2; i++) await raiseAlert(t.store, { ...input, subject: `model slow${i}` }, { channels: ['webhook'], now: T0 });
    const started = Date.now();
    const first = deliverPendingAlerts(t.store, [slow], T0, { leaseSeconds: 0.4 });
    // The second process looks while the first sends its second delivery (claimed at about 0.6 s).
    await new Promise((r) => setTimeout(r, 800));
    const second = await deliverPendingAlerts(t.store, [slow], new Date(T0.getTime() + (Date.now() - started)), { leaseSeconds: 0.4 });
    await first;
    expect(second.attempts).toEqual([]);
    expect(sent).toHaveLength(2);
    expect(new Set(sent).size).toBe(2);
  });

  it('a delivery for a channel this process lacks stays pending with a reason', async () => {
    await raiseAlert(t.store, input, { channels: ['webhook'], now: T0 });
    const result = await deliverPendingAlerts(t.store, [logChannel(() => undefined)], T0);
    expect(result.attempts.find((a) => a.channel === 'webhook')).toMatchObject({ ok: false, error: 'no "webhook" channel is configured in this process (set ALERT_WEBHOOK_URL)' });
  });

  it('the raiseAlert activity succeeds while the webhook is down; the delivery loop sends it once the receiver is back', async () => {
    const port = await closedPort();
    const config = { alertWebhookUrl: `http://127.0.0.1:${port}/hook`, temporalUiUrl: 'http://ui.test:8233', temporalNamespace: 'default' };
    const activities = alertActivities({ store: t.store, config });
    const activityLog: string[] = [];
    const env = new MockActivityEnvironment({ activityId: 'raise-1' }, { logger: new DefaultLogger('INFO', (entry) => activityLog.push(entry.message)) });
    const raised = (await env.run(activities.raiseAlert, input)) as RaiseAlertActivityResult;
    expect(raised).toMatchObject({ suppressed: false, delivered: ['log'], failed: [{ channel: 'webhook', error: expect.stringMatching(/unreachable/) }] });
    // A retried activity (same workflow run and activity id) does not raise a second alert.
    const retried = (await env.run(activities.raiseAlert, input)) as RaiseAlertActivityResult;
    expect(retried.id).toBe(raised.id);
    expect(Number((await t.store.db.selectFrom('alerts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n)).toBe(1);
    // The log channel (the worker's log, through the activity logger) took it once.
    expect(activityLog.filter((m) => m.startsWith('ALERT [CRITICAL] performance_degraded'))).toHaveLength(1);

    const r = receiver();
    await r.start(port);
    const loop = startAlertDeliveryLoop({ store: t.store, channels: alertChannels(config, () => undefined), intervalMs: 100 });
    try {
      // The first retry is due retryDelaySeconds(1) after the failed attempt.
      for (let i = 0; i < 200 && r.received.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      await loop.stop();
    }
    expect(r.received).toHaveLength(1);
    expect(JSON.stringify(r.received[0])).toContain('http://ui.test:8233/namespaces/default/workflows/monitoring-2026-03-02T15%3A35%3A00Z');
    expect(await listDeliveries(t.store, { status: 'pending' })).toEqual([]);
  });
});
