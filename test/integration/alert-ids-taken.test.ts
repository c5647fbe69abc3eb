/**
 * An alert's stable id (a workflow activity's: namespace/workflowId/runId/activityId; a keyed
 * alert's: rule, subject and key) is readable from the database: a deployment's row gives its
 * workflow id and first run id, and its activity ids are small numbers. With MODEL_SIGNING_KEY a row
 * found at that id counts as the alert's earlier raise only when a held key signed it as that alert;
 * otherwise a writer without the key pre-inserted rows there that swallowed the deployment's alerts
 * (bars_unverified, deployment_stopped, deployment_rolled_back): reported raised, nothing stored,
 * nothing delivered. Both drivers.
 */
import { createHash } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { alertActivities, type RaiseAlertActivityResult } from '../../activities/alerts';
import { displacedAlertId, keyedAlertId, raiseAlert } from '../../lib/alerts/alert-store';
import { deploymentBarsAlert } from '../../lib/deployment/refused-bars';
import type { RowSigning } from '../../lib/registry/row-signature';
import { openDatabase, type Database } from '../../lib/store/database';
import { DRIVERS, type TestDatabase } from '../helpers/databases';

const SIGNING: RowSigning = { signingKey: 'alert-signing-key-0123456789abcdef-0123456789' };
const WORKFLOW_ID = 'deploy-direction-5d-v7-1a2b3c4d';
const RUN_ID = '0193e0c4-7c1a-7b7e-9d7f-3f3a2b1c0d9e';
const CONFIG = { alertWebhookUrl: 'http://127.0.0.1:9/hook', temporalUiUrl: 'http://x', temporalNamespace: 'default' };
const activityId = (n: number) => `alert-${createHash('sha256').update(`default/${WORKFLOW_ID}/${RUN_ID}/${n}`).digest('hex').slice(0, 32)}`;
const barsAlert = deploymentBarsAlert({ model: 'direction-5d', deploymentId: WORKFLOW_ID, what: 'canary look 3', refused: { reason: 'bars edited', bars: 12, symbols: ['AAA'], problems: [] } as never });
const scheduleMissed = { rule: 'schedule_missed', severity: 'warning' as const, subject: 'schedule retrain-m', message: '2 runs missed', evidence: { missed: 2 }, key: 'retrain-m@2026-03-02T10:00:00.000Z' };

describe.each(DRIVERS)('rows at an alert id that are not the alert (%s)', (_driver, create) => {
  let t: TestDatabase;
  let signed: Database;
  beforeEach(async () => {
    t = await create();
    signed = await openDatabase(t.url, { signing: SIGNING });
  });
  afterEach(async () => {
    await signed?.close();
    await t?.drop();
  });

  /** What a database writer without the key can insert: an acknowledged row of another rule, dated 1970. */
  const forge = (id: string, values: Partial<{ rule: string; subject: string }> = {}) =>
    t.store.db.insertInto('alerts').values({ id, rule: 'x', severity: 'info', subject: 'x', message: 'x', evidence: 'null', status: 'acked', created_at: '1970-01-01T00:00:00.000Z', acked_by: 'x', acked_at: null, ...values }).execute();
  const rowsOf = (rule: string) => t.store.db.selectFrom('alerts').selectAll().where('rule', '=', rule).execute();
  const deliveriesOf = async (id: string) => (await t.store.db.selectFrom('alert_deliveries').select('channel').where('alert_id', '=', id).execute()).map((d) => d.channel).sort();
  const activity = (n: number) => new MockActivityEnvironment({ workflowExecution: { workflowId: WORKFLOW_ID, runId: RUN_ID }, activityId: String(n), workflowNamespace: 'default' } as never);

  it("raises and delivers a deployment's alert whose activity id holds a forged row, once across retries, and tells the forged row", async () => {
    for (let n = 1; n <= 20; n++) await forge(activityId(n));
    const acts = alertActivities({ store: signed, config: CONFIG });
    const env = activity(17);
    const first = (await env.run(acts.raiseAlert, barsAlert)) as RaiseAlertActivityResult;
    expect(first.suppressed).toBe(false);
    expect(first.id).not.toBe(activityId(17));
    const rows = await rowsOf('bars_unverified');
    expect(rows.map((r) => [r.id, r.subject, r.status])).toEqual([[first.id, barsAlert.subject, 'open']]);
    expect(rows[0].signature).toBeTruthy();
    expect(await deliveriesOf(first.id)).toEqual(['log', 'webhook']);
    // A retry of the activity finds its own signed row: nothing stored or delivered twice.
    const retry = (await env.run(acts.raiseAlert, barsAlert)) as RaiseAlertActivityResult;
    expect(retry.id).toBe(first.id);
    expect(await rowsOf('bars_unverified')).toHaveLength(1);
    expect(await deliveriesOf(first.id)).toEqual(['log', 'webhook']);
    // The forged row is left as it is, and told once.
    expect((await t.store.db.selectFrom('alerts').select('rule').where('id', '=', activityId(17)).executeTakeFirstOrThrow()).rule).toBe('x');
    const told = await rowsOf('alert_id_taken');
    expect(told).toHaveLength(1);
    expect(told[0].severity).toBe('critical');
    expect(told[0].message).toContain(activityId(17));
    expect(told[0].message).toContain(first.id);
    expect(await deliveriesOf(told[0].id)).toEqual(['log', 'webhook']);
  });

  it('does not take a signed alert of another rule or subject moved to the id (its signature covers the id) for the alert', async () => {
    const other = await raiseAlert(signed, { ...barsAlert, subject: 'bars of model other' }, { id: 'some-other-id' });
    const row = await t.store.db.selectFrom('alerts').selectAll().where('id', '=', other.id).executeTakeFirstOrThrow();
    await t.store.db.deleteFrom('alerts').where('id', '=', other.id).execute();
    await t.store.db.insertInto('alerts').values({ ...row, id: activityId(3) }).execute();
    const raised = (await activity(3).run(alertActivities({ store: signed, config: CONFIG }).raiseAlert, barsAlert)) as RaiseAlertActivityResult;
    expect(raised.suppressed).toBe(false);
    expect(raised.id).not.toBe(activityId(3));
    expect((await rowsOf('bars_unverified')).map((r) => r.subject).sort()).toEqual(['bars of model direction-5d', 'bars of model other']);
  });

  it('raises a keyed alert whose key id holds a forged row, once between raisers', async () => {
    await forge(keyedAlertId(scheduleMissed.rule, scheduleMissed.subject, scheduleMissed.key), { rule: scheduleMissed.rule, subject: scheduleMissed.subject });
    const first = await raiseAlert(signed, scheduleMissed, { channels: ['webhook'] });
    expect(first.suppressed).toBe(false);
    expect(await deliveriesOf(first.id)).toEqual(['log', 'webhook']);
    // Another monitoring run raising the same key (its own activity id) finds the first one's row.
    expect(await raiseAlert(signed, scheduleMissed, { id: 'other-activity' })).toEqual({ id: first.id, suppressed: false });
    expect(await rowsOf('schedule_missed')).toHaveLength(2); // the forged row and the alert
    expect(await rowsOf('alert_id_taken')).toHaveLength(1);
  });

  it("keeps the integrity alert's id from a writer without the key, and a failed integrity alert never fails the raise", async () => {
    // The id alert_id_taken would have if keyed by the forged row's id alone: anyone can compute it.
    await forge(activityId(9));
    const guessable = keyedAlertId('alert_id_taken', 'alerts table', activityId(9));
    const deliveryAt = (alertId: string) => ({ alert_id: alertId, channel: 'log', status: 'delivered', attempts: 1, last_error: null, next_attempt_at: '1970-01-01T00:00:00.000Z', delivered_at: '1970-01-01T00:00:00.000Z' });
    await t.store.db.insertInto('alert_deliveries').values(deliveryAt(guessable)).execute();
    const acts = alertActivities({ store: signed, config: CONFIG });
    const first = (await activity(9).run(acts.raiseAlert, barsAlert)) as RaiseAlertActivityResult;
    expect(first.suppressed).toBe(false);
    expect(await deliveriesOf(first.id)).toEqual(['log', 'webhook']);
    const told = await rowsOf('alert_id_taken');
    expect(told).toHaveLength(1);
    expect(told[0].id).not.toBe(guessable);
    expect(await deliveriesOf(told[0].id)).toEqual(['log', 'webhook']);
    // Were the integrity alert's own insert to fail anyway (a delivery row at its id), the alert it tells of is still raised and returned.
    await forge(activityId(10));
    await t.store.db.deleteFrom('alerts').where('rule', '=', 'alert_id_taken').execute();
    const other = { ...barsAlert, subject: 'bars of model other' }; // not cooled down by the first
    const logged: string[] = [];
    const spy = jest.spyOn(console, 'error').mockImplementation((line: unknown) => void logged.push(String(line)));
    try {
      const second = await raiseAlert(signed, other, { id: activityId(10), channels: ['webhook'] });
      expect(second.suppressed).toBe(false);
      // Rows that are not it at the integrity alert's id and every id it could move to: raising again
      // tells it under the same id, and storing it fails.
      const takenRow = (await rowsOf('alert_id_taken'))[0];
      await t.store.db.deleteFrom('alerts').where('id', '=', takenRow.id).execute();
      await t.store.db.deleteFrom('alert_deliveries').where('alert_id', '=', takenRow.id).execute();
      let blocked = takenRow.id;
      for (let n = 0; n <= 4; n++) {
        await forge(blocked);
        blocked = displacedAlertId(SIGNING.signingKey as string, blocked);
      }
      await t.store.db.deleteFrom('alerts').where('id', '=', second.id).execute();
      await t.store.db.deleteFrom('alert_deliveries').where('alert_id', '=', second.id).execute();
      const again = await raiseAlert(signed, other, { id: activityId(10), channels: ['webhook'] });
      expect(again).toEqual({ id: second.id, suppressed: false });
      expect(await deliveriesOf(second.id)).toEqual(['log', 'webhook']);
      expect(await rowsOf('alert_id_taken')).toHaveLength(0);
      expect(logged.join('\n')).toContain('alert_id_taken');
    } finally {
      spy.mockRestore();
    }
  });

  // The outbox's key is the alert id: delivery rows written there by SQL, with no alert row, made the
  // alert's insert fail on every attempt (a deployment's activity until its workflow failed).
  it("raises a deployment's alert whose activity id holds delivery rows and no alert row, with and without the key", async () => {
    const orphan = (id: string) => t.store.db.insertInto('alert_deliveries').values({ alert_id: id, channel: 'log', status: 'delivered', attempts: 1, last_error: null, next_attempt_at: '1970-01-01T00:00:00.000Z', delivered_at: '1970-01-01T00:00:00.000Z' }).execute();
    await orphan(activityId(5));
    const keyed = (await activity(5).run(alertActivities({ store: signed, config: CONFIG }).raiseAlert, barsAlert)) as RaiseAlertActivityResult;
    expect(keyed.suppressed).toBe(false);
    expect(keyed.id).not.toBe(activityId(5));
    expect((await rowsOf('bars_unverified')).map((r) => r.id)).toEqual([keyed.id]);
    expect(await deliveriesOf(keyed.id)).toEqual(['log', 'webhook']);
    expect(await rowsOf('alert_id_taken')).toHaveLength(1);
    // A retry finds its own row.
    expect(((await activity(5).run(alertActivities({ store: signed, config: CONFIG }).raiseAlert, barsAlert)) as RaiseAlertActivityResult).id).toBe(keyed.id);
    await orphan(activityId(6));
    // Another subject: the keyed alert above would cool this one down.
    const keyless = (await activity(6).run(alertActivities({ store: t.store, config: CONFIG }).raiseAlert, { ...barsAlert, subject: 'bars of model keyless' })) as RaiseAlertActivityResult;
    expect(keyless.suppressed).toBe(false);
    expect(await deliveriesOf(keyless.id)).toEqual(['log', 'webhook']);
  });

  it('keeps the honest retry as it was: the same id, one row, nothing told', async () => {
    const acts = alertActivities({ store: signed, config: CONFIG });
    const first = (await activity(5).run(acts.raiseAlert, barsAlert)) as RaiseAlertActivityResult;
    expect(first.id).toBe(activityId(5));
    expect(((await activity(5).run(acts.raiseAlert, barsAlert)) as RaiseAlertActivityResult).id).toBe(first.id);
    expect(await rowsOf('bars_unverified')).toHaveLength(1);
    expect(await rowsOf('alert_id_taken')).toHaveLength(0);
  });

  it('without a key, takes any row at the id for the alert, as before (nothing can tell them apart)', async () => {
    await forge(activityId(17));
    const raised = (await activity(17).run(alertActivities({ store: t.store, config: CONFIG }).raiseAlert, barsAlert)) as RaiseAlertActivityResult;
    expect(raised).toMatchObject({ id: activityId(17), suppressed: false });
    expect(await rowsOf('bars_unverified')).toHaveLength(0);
  });
});
