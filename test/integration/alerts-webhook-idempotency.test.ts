/**
 * Webhook deliveries are at least once: a receiver that took a POST but whose answer never came back
 * gets it again. Every delivery carries an idempotency key (the `Idempotency-Key` header and the
 * body's `idempotency_key`), the same on the resend and another for another alert, so the receiver
 * can drop the duplicate. A real HTTP receiver (node:http on 127.0.0.1) and the real outbox, on SQLite.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { raiseAlert } from '../../lib/alerts/alert-store';
import { logChannel, webhookChannel } from '../../lib/alerts/channels';
import { deliverPendingAlerts, listDeliveries, retryDelaySeconds } from '../../lib/alerts/outbox';
import { createSqliteTestDatabase, type TestDatabase } from '../helpers/databases';

interface Received {
  header: string | undefined;
  body: { text?: string; idempotency_key?: string };
}

/** Records every POST; while `answering` is false it takes the POST and never answers. */
class Receiver {
  readonly received: Received[] = [];
  answering = true;
  private server?: http.Server;
  private held: http.ServerResponse[] = [];

  async start(): Promise<number> {
    this.server = http.createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        const header = request.headers['idempotency-key'];
        this.received.push({ header: Array.isArray(header) ? header.join(',') : header, body: JSON.parse(body) as Received['body'] });
        if (!this.answering) return void this.held.push(response);
        response.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', () => resolve()));
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const r of this.held) r.destroy();
    this.held = [];
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
  }
}

const T0 = new Date('2026-03-02T15:35:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const alert = (subject: string) => ({ rule: 'performance_degraded', severity: 'critical' as const, subject, message: 'hit rate 0.44 over 200 matured predictions', evidence: { hitRate: 0.44 }, cooldownSeconds: 0 });

describe('webhook idempotency keys', () => {
  let t: TestDatabase;
  const receiver = new Receiver();
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
  });
  afterAll(async () => {
    await receiver.stop();
    await t?.drop();
  });

  it('a resend of a delivery carries the same key; another alert carries another', async () => {
    const port = await receiver.start();
    const log: string[] = [];
    const channels = [logChannel((line) => log.push(line)), webhookChannel(`http://127.0.0.1:${port}/hooks/T000/B000/secret-part`, { timeoutMs: 2000 })];
    const first = await raiseAlert(t.store, alert('model m1'), { channels: ['webhook'], now: T0 });

    // The receiver takes the POST but its answer never arrives: the delivery failed, as far as the sender knows.
    receiver.answering = false;
    expect(await deliverPendingAlerts(t.store, channels, T0)).toMatchObject({ failed: 1, delivered: 1 }) // the log delivered, the webhook failed;
    expect(receiver.received).toHaveLength(1);

    // The retry sends it again, and this time the answer comes back.
    receiver.answering = true;
    expect(await deliverPendingAlerts(t.store, channels, at(retryDelaySeconds(1)))).toMatchObject({ failed: 0, delivered: 1 });
    expect(receiver.received).toHaveLength(2);

    const second = await raiseAlert(t.store, alert('model m2'), { channels: ['webhook'], now: at(60) });
    expect(second.id).not.toBe(first.id);
    expect(await deliverPendingAlerts(t.store, channels, at(60))).toMatchObject({ failed: 0, delivered: 2 });
    expect(receiver.received).toHaveLength(3);

    const [sent, resent, other] = receiver.received;
    expect(sent.header).toEqual(expect.any(String));
    expect(sent.header).toContain(first.id);
    // The header and the body agree, so a receiver that only sees one of them can deduplicate.
    for (const r of receiver.received) expect(r.body.idempotency_key).toBe(r.header);
    expect(resent.header).toBe(sent.header);
    expect(resent.body).toEqual(sent.body);
    expect(other.header).toEqual(expect.any(String));
    expect(other.header).not.toBe(sent.header);
    expect(other.header).toContain(second.id);
    expect(other.body.text).toContain('model m2');
    expect(await listDeliveries(t.store, { status: 'pending' })).toEqual([]);
  });
});
