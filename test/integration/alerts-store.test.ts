/**
 * Alerts in the real stores (SQLite and MariaDB): cool-down, the outbox rows written with the alert,
 * idempotent raising, listing, acknowledging and the open alerts other steps consult.
 */
import { ackAlert, getAlert, listAlerts, openAlerts, raiseAlert } from '../../lib/alerts/alert-store';
import { listDeliveries } from '../../lib/alerts/outbox';
import { DRIVERS, type TestDatabase } from '../helpers/databases';

const T0 = new Date('2026-03-02T15:35:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const drift = { rule: 'data_drift', severity: 'critical' as const, subject: 'model m1', message: '3 features drifted', evidence: { drifted: ['rsi_14', 'atr_14', 'obv_trend'] } };

describe.each(DRIVERS)('alerts on %s', (_driver, create) => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await create();
  });
  afterEach(async () => {
    await t?.drop();
  });

  const count = async (table: 'alerts' | 'alert_deliveries') => Number((await t.store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

  it('suppresses the same rule and subject within the cool-down: no new row, no delivery; raises again after it', async () => {
    const first = await raiseAlert(t.store, { ...drift, cooldownSeconds: 3600 }, { channels: ['webhook'], now: T0 });
    expect(first.suppressed).toBe(false);
    expect(await count('alerts')).toBe(1);
    expect((await listDeliveries(t.store, { alertId: first.id })).map((d) => d.channel).sort()).toEqual(['log', 'webhook']);

    const repeat = await raiseAlert(t.store, { ...drift, cooldownSeconds: 3600 }, { channels: ['webhook'], now: at(3599) });
    expect(repeat).toEqual({ id: first.id, suppressed: true });
    expect(await count('alerts')).toBe(1);
    expect(await count('alert_deliveries')).toBe(2);

    // Another subject, or another rule, is another condition.
    expect((await raiseAlert(t.store, { ...drift, subject: 'model m2', cooldownSeconds: 3600 }, { now: at(10) })).suppressed).toBe(false);
    expect((await raiseAlert(t.store, { ...drift, rule: 'prediction_drift', cooldownSeconds: 3600 }, { now: at(10) })).suppressed).toBe(false);

    const later = await raiseAlert(t.store, { ...drift, cooldownSeconds: 3600 }, { now: at(3601) });
    expect(later.suppressed).toBe(false);
    expect(later.id).not.toBe(first.id);
    expect(await count('alerts')).toBe(4);
  });

  it('uses the severity default when no cool-down is given, and lets an escalation through', async () => {
    const warning = await raiseAlert(t.store, { ...drift, severity: 'warning' }, { now: T0 });
    // Default warning cool-down is 12 h.
    expect((await raiseAlert(t.store, { ...drift, severity: 'warning' }, { now: at(11 * 3600) })).suppressed).toBe(true);
    expect((await raiseAlert(t.store, { ...drift, severity: 'info' }, { now: at(60) })).suppressed).toBe(true);
    const critical = await raiseAlert(t.store, { ...drift, severity: 'critical' }, { now: at(120) });
    expect(critical.suppressed).toBe(false);
    expect(critical.id).not.toBe(warning.id);
    // The critical one now suppresses further criticals (default 4 h)...
    expect((await raiseAlert(t.store, drift, { now: at(3 * 3600) })).suppressed).toBe(true);
    // ...and a zero cool-down never suppresses.
    expect((await raiseAlert(t.store, { ...drift, cooldownSeconds: 0 }, { now: at(3 * 3600) })).suppressed).toBe(false);
  });

  it('is idempotent with a stable id: a retried raise returns the alert it stored, once', async () => {
    const a = await raiseAlert(t.store, { ...drift, cooldownSeconds: 0 }, { id: 'alert-fixed', now: T0 });
    const b = await raiseAlert(t.store, { ...drift, cooldownSeconds: 0 }, { id: 'alert-fixed', now: at(5) });
    expect(a).toEqual({ id: 'alert-fixed', suppressed: false });
    expect(b).toEqual({ id: 'alert-fixed', suppressed: false });
    expect(await count('alerts')).toBe(1);
    expect(await count('alert_deliveries')).toBe(1);
  });

  it('stores one alert for a key raised by several raisers at once, each with its own id and no cool-down', async () => {
    const told = { rule: 'pipeline_failed', severity: 'critical' as const, subject: 'pipeline', message: '1 failed', evidence: {}, cooldownSeconds: 0, key: 'runs retrain-m1/r1' };
    const raised = await Promise.all([1, 2, 3, 4].map((i) => raiseAlert(t.store, told, { channels: ['webhook'], now: T0, id: `alert-run-${i}` })));
    expect(new Set(raised.map((r) => r.id)).size).toBe(1);
    expect(await count('alerts')).toBe(1);
    expect(await count('alert_deliveries')).toBe(2);
    // Another key is another alert.
    await raiseAlert(t.store, { ...told, key: 'runs retrain-m1/r2' }, { now: T0 });
    expect(await count('alerts')).toBe(2);
  });

  it('writes nothing when the input is invalid', async () => {
    await expect(raiseAlert(t.store, { ...drift, rule: 'Not A Rule' })).rejects.toThrow(/snake_case/);
    expect(await count('alerts')).toBe(0);
    expect(await count('alert_deliveries')).toBe(0);
  });

  it('lists newest first with filters, acknowledges once, and reports open alerts by rule and subject prefix', async () => {
    const a = await raiseAlert(t.store, { ...drift, cooldownSeconds: 0 }, { now: T0 });
    const b = await raiseAlert(t.store, { rule: 'data_stale', severity: 'warning', subject: 'symbol AAPL', message: 'no bar for 3 sessions', evidence: { lagDays: 3 } }, { now: at(60) });
    const c = await raiseAlert(t.store, { rule: 'deployment_rolled_back', severity: 'critical', subject: 'model m1', message: 'v3 rolled back', evidence: { deploymentId: 'deploy-m1-v3' } }, { now: at(120) });
    expect((await listAlerts(t.store)).map((x) => x.id)).toEqual([c.id, b.id, a.id]);
    expect((await listAlerts(t.store, { rule: 'data_stale' })).map((x) => x.id)).toEqual([b.id]);
    expect((await listAlerts(t.store, { subject: 'model m1' })).map((x) => x.id)).toEqual([c.id, a.id]);
    expect((await listAlerts(t.store, { limit: 1 })).map((x) => x.id)).toEqual([c.id]);
    expect(await getAlert(t.store, b.id)).toMatchObject({ rule: 'data_stale', evidence: { lagDays: 3 }, status: 'open', createdAt: at(60).toISOString() });

    const ack = await ackAlert(t.store, a.id, 'alice', at(300));
    expect(ack).toMatchObject({ changed: true, alert: { status: 'acked', ackedBy: 'alice', ackedAt: at(300).toISOString() } });
    const again = await ackAlert(t.store, a.id, 'bob', at(400));
    expect(again).toMatchObject({ changed: false, alert: { ackedBy: 'alice' } });
    await expect(ackAlert(t.store, 'no-such-alert', 'alice')).rejects.toThrow(/no alert "no-such-alert"/);

    expect((await listAlerts(t.store, { status: 'open' })).map((x) => x.id)).toEqual([c.id, b.id]);
    expect((await listAlerts(t.store, { status: 'acked' })).map((x) => x.id)).toEqual([a.id]);
    expect((await openAlerts(t.store, { rules: ['data_stale', 'data_drift'] })).map((x) => x.id)).toEqual([b.id]);
    expect((await openAlerts(t.store, { subjectPrefix: 'model ' })).map((x) => x.id)).toEqual([c.id]);
    expect(await openAlerts(t.store, { rules: [] })).toEqual([]);
  });

  it('is not cooled down by a row dated after now, and reads a status edited to another word as open everywhere', async () => {
    // An alert whose row was moved to 2099 and acknowledged (a hand-made "snooze"): raised again as soon as its cool-down would have ended.
    const first = await raiseAlert(t.store, { ...drift, cooldownSeconds: 3600 }, { now: T0 });
    await t.store.db.updateTable('alerts').set({ created_at: '2099-01-01T00:00:00.000Z', status: 'acked' }).where('id', '=', first.id).execute();
    const next = await raiseAlert(t.store, { ...drift, cooldownSeconds: 3600 }, { now: at(60) });
    expect(next.suppressed).toBe(false);
    expect(next.id).not.toBe(first.id);
    expect(await count('alert_deliveries')).toBe(2);
    // Another host's clock a little ahead: its row, dated after this raiser's now, still cools the condition down.
    const other = { ...drift, subject: 'model m3', cooldownSeconds: 3600 };
    const ahead = await raiseAlert(t.store, other, { now: at(120) });
    expect(await raiseAlert(t.store, other, { now: at(119) })).toEqual({ id: ahead.id, suppressed: true });

    // A holding alert whose status was edited to "snoozed": still open for listing, for the holds it makes and for the cool-down of its rule.
    const hold = { rule: 'data_quality', severity: 'critical' as const, subject: 'model m1', message: 'bad bars', evidence: {}, holds: true };
    const held = await raiseAlert(t.store, { ...hold, cooldownSeconds: 3600 }, { now: T0 });
    await t.store.db.updateTable('alerts').set({ status: 'snoozed' }).where('id', '=', held.id).execute();
    expect((await openAlerts(t.store, { rules: ['data_quality'] })).map((a) => a.id)).toEqual([held.id]);
    expect((await listAlerts(t.store, { status: 'open', rule: 'data_quality' })).map((a) => a.id)).toEqual([held.id]);
    expect(await listAlerts(t.store, { status: 'acked', rule: 'data_quality' })).toEqual([]);
    expect(await raiseAlert(t.store, { ...hold, cooldownSeconds: 3600 }, { now: at(60) })).toEqual({ id: held.id, suppressed: true });
    expect((await ackAlert(t.store, held.id, 'alice', at(120))).changed).toBe(true);
    expect(await openAlerts(t.store, { rules: ['data_quality'] })).toEqual([]);
    // Another spelling of 'acked' is not acknowledged, under MySQL's collations too.
    for (const status of ['ACKED', 'acked ']) {
      await t.store.db.updateTable('alerts').set({ status }).where('id', '=', held.id).execute();
      expect({ status, open: (await openAlerts(t.store, { rules: ['data_quality'] })).map((a) => a.id), shown: (await getAlert(t.store, held.id))?.status }).toEqual({ status, open: [held.id], shown: 'open' });
    }
  });
});
