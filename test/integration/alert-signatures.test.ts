/**
 * Alert rows are not the database writer's to forge (MODEL_SIGNING_KEY): with the key, the cool-down
 * counts only alert rows a key holder raised. A row written by SQL (an "acknowledged" alert dated now,
 * a signed row with its time or subject edited) once silenced the alert of a condition that still held:
 * a replay of older signed serving routes, found by monitoring, raised nothing and delivered nothing.
 */
import { monitoringActivities } from '../../activities/monitoring';
import { listAlerts, raiseAlert } from '../../lib/alerts/alert-store';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { routesSubject } from '../../lib/monitoring/monitoring-rules';
import { registerModel } from '../../lib/registry/model-registry';
import type { RowSigning } from '../../lib/registry/row-signature';
import { ServingModels } from '../../lib/serving/serving-models';
import { singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { openDatabase, type Database } from '../../lib/store/database';
import { encodeArtifact } from '../../models/artifact';
import { logisticRegression } from '../../models/baselines/logistic-regression';
import { DRIVERS, tempDir, type TestDatabase } from '../helpers/databases';
import { separable } from '../helpers/datasets';
import { defineTestFeatureSet, returnsFeatureSet, saveTestFeatureSet, UNTRACKED_REGISTRATION, withColumns } from '../helpers/registration';

const KEY = 'alert-signing-key-0123456789abcdef-0123456789';
const OLD_KEY = 'the-old-alert-signing-key-0123456789abcdef';
const SIGNING: RowSigning = { signingKey: KEY };
const T0 = new Date('2026-03-02T15:35:00.000Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const tampered = { rule: 'serving_routes_tampered', severity: 'critical' as const, subject: routesSubject('m1'), message: 'routes refused', evidence: { model: 'm1' } };

describe.each(DRIVERS)('signed alert rows on %s', (_driver, create) => {
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

  const alertCount = async () => Number((await t.store.db.selectFrom('alerts').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const forge = (values: Partial<{ id: string; rule: string; severity: string; subject: string; status: string; created_at: string }> = {}) =>
    t.store.db
      .insertInto('alerts')
      .values({ id: 'forged-1', rule: tampered.rule, severity: 'critical', subject: tampered.subject, message: 'ok', evidence: '{}', status: 'acked', created_at: T0.toISOString(), acked_by: 'ops', acked_at: T0.toISOString(), ...values })
      .execute();

  it('keeps the cool-down for the rows a key holder raised', async () => {
    const first = await raiseAlert(signed, tampered, { now: T0 });
    expect(first.suppressed).toBe(false);
    expect(await raiseAlert(signed, tampered, { now: at(3600) })).toEqual({ id: first.id, suppressed: true });
    expect(await alertCount()).toBe(1);
    // After its cool-down (4 h for critical) it is raised again.
    expect((await raiseAlert(signed, tampered, { now: at(4 * 3600 + 1) })).suppressed).toBe(false);
  });

  // What earlier alerts recorded decides what is news to pipeline health (a schedule's missed count,
  // the failed runs already told): a forged schedule_missed row recording a huge count silenced that
  // schedule's alerts for good.
  it('lists only the rows a key holder raised when asked to, for what earlier alerts recorded', async () => {
    const missed = { rule: 'schedule_missed', severity: 'warning' as const, subject: 'schedule:nightly', message: '1 run missed', evidence: { scheduleId: 'nightly', missedCatchupWindow: 1 } };
    const honest = await raiseAlert(signed, missed, { now: T0 });
    await forge({ id: 'forged-count', rule: 'schedule_missed', severity: 'warning', subject: 'schedule:nightly', status: 'open', created_at: at(60).toISOString() });
    expect((await listAlerts(signed, { rule: 'schedule_missed', subject: 'schedule:nightly' })).map((a) => a.id)).toEqual(['forged-count', honest.id]);
    expect((await listAlerts(signed, { rule: 'schedule_missed', subject: 'schedule:nightly', raisedByKeyHolder: true })).map((a) => a.id)).toEqual([honest.id]);
    // Without a key nothing can be told apart: every row is listed.
    expect((await listAlerts(t.store, { rule: 'schedule_missed', subject: 'schedule:nightly', raisedByKeyHolder: true })).map((a) => a.id)).toEqual(['forged-count', honest.id]);
  });

  it('does not let an alert row written without the key suppress an alert, acknowledged or not', async () => {
    await forge();
    await forge({ id: 'forged-2', status: 'open' });
    const raised = await raiseAlert(signed, tampered, { channels: ['webhook'], now: at(60) });
    expect(raised.suppressed).toBe(false);
    const deliveries = await t.store.db.selectFrom('alert_deliveries').select(['channel']).where('alert_id', '=', raised.id).execute();
    expect(deliveries.map((d) => d.channel).sort()).toEqual(['log', 'webhook']);
    // The raised row is signed; the next raise within the cool-down is suppressed by it, not by a forged one.
    expect(await raiseAlert(signed, tampered, { now: at(120) })).toEqual({ id: raised.id, suppressed: true });
  });

  it('does not let a signed alert row edited by SQL suppress one: its time moved forward, its subject or rule changed, its severity raised', async () => {
    // A signed row of 5 h ago, outside the cool-down, re-dated to now.
    const old = await raiseAlert(signed, tampered, { now: at(-5 * 3600) });
    await t.store.db.updateTable('alerts').set({ created_at: at(-60).toISOString() }).where('id', '=', old.id).execute();
    expect((await raiseAlert(signed, tampered, { now: T0 })).suppressed).toBe(false);
    // A signed row of another model (subject) or rule, moved onto this one.
    const other = await raiseAlert(signed, { ...tampered, subject: routesSubject('m2') }, { now: at(10) });
    const otherRule = await raiseAlert(signed, { ...tampered, rule: 'champion_mismatch' }, { now: at(10) });
    const warning = await raiseAlert(signed, { ...tampered, severity: 'warning', subject: routesSubject('m3') }, { now: at(10) });
    await t.store.db.updateTable('alerts').set({ subject: routesSubject('m4') }).where('id', 'in', [other.id, otherRule.id]).execute();
    await t.store.db.updateTable('alerts').set({ rule: tampered.rule }).where('id', '=', otherRule.id).execute();
    await t.store.db.updateTable('alerts').set({ severity: 'critical' }).where('id', '=', warning.id).execute();
    expect((await raiseAlert(signed, { ...tampered, subject: routesSubject('m4') }, { now: at(20) })).suppressed).toBe(false);
    expect((await raiseAlert(signed, { ...tampered, subject: routesSubject('m3') }, { now: at(20) })).suppressed).toBe(false);
  });

  it('counts a row signed with a previous key during a rotation', async () => {
    const before = await openDatabase(t.url, { signing: { signingKey: OLD_KEY } });
    try {
      const first = await raiseAlert(before, tampered, { now: T0 });
      const rotating = await openDatabase(t.url, { signing: { signingKey: KEY, previousKeys: [OLD_KEY] } });
      try {
        expect(await raiseAlert(rotating, tampered, { now: at(60) })).toEqual({ id: first.id, suppressed: true });
      } finally {
        await rotating.close();
      }
      // A process not given the old key does not count it.
      expect((await raiseAlert(signed, tampered, { now: at(120) })).suppressed).toBe(false);
    } finally {
      await before.close();
    }
  });

  it('without a key, signs nothing and counts every row, as before', async () => {
    await forge();
    expect(await raiseAlert(t.store, tampered, { now: at(60) })).toEqual({ id: 'forged-1', suppressed: true });
    const row = await t.store.db.selectFrom('alerts').selectAll().where('id', '=', 'forged-1').executeTakeFirstOrThrow();
    expect(row.signature ?? null).toBeNull();
  });

  it('raises and delivers the serving_routes_tampered of a replay monitoring finds, whatever alert rows were forged to silence it', async () => {
    const FEATURES = returnsFeatureSet('alert-replay');
    const { version: FS, columns: COLUMNS } = defineTestFeatureSet(FEATURES);
    const MODEL = 'direction-5d';
    const dir = tempDir('alert-replay-');
    const cache = new MemoryCache();
    const promote = (version: number) => ({ model: MODEL, mode: 'single' as const, routes: singleRoute(version), updatedBy: `deployment d-${version}`, reason: `promote v${version}`, alias: { alias: 'champion' as const, version, movedBy: `deployment d-${version}`, reason: `promote v${version}` }, signing: SIGNING });
    await saveTestFeatureSet(signed, FEATURES);
    for (let seed = 1; seed <= 2; seed++) {
      const d = separable(200, 5, seed);
      const model = await logisticRegression.fit({ features: withColumns(d.x, COLUMNS), labels: d.y, classes: 2, seed }, {});
      const label = { kind: 'direction', horizon: 5 };
      await registerModel(signed, localArtifactStore(dir), { name: MODEL, artifact: encodeArtifact(model.state(), { featureSetVersion: FS, label }), algorithm: 'logistic_regression', params: {}, seed, featureSetVersion: FS, label, ...UNTRACKED_REGISTRATION, registrationKey: `${MODEL}/${seed}` }, SIGNING);
    }
    await writeServingRoutes(signed, cache, promote(1));
    const routesV1 = await t.store.db.selectFrom('serving_routes').selectAll().where('model', '=', MODEL).executeTakeFirstOrThrow();
    const aliasV1 = await t.store.db.selectFrom('model_aliases').selectAll().where('name', '=', MODEL).executeTakeFirstOrThrow();
    await writeServingRoutes(signed, cache, promote(2));
    // A database writer without the key writes v1's signed routes and alias back, and an acknowledged alert dated now.
    await t.store.db.updateTable('serving_routes').set(routesV1).where('model', '=', MODEL).execute();
    await t.store.db.updateTable('model_aliases').set(aliasV1).where('name', '=', MODEL).where('alias', '=', 'champion').execute();
    const now = new Date();
    await forge({ subject: routesSubject(MODEL), created_at: now.toISOString() });
    // An API process started after the replay serves v1: monitoring is what finds it.
    const api = new ServingModels({ store: signed, cache, artifacts: localArtifactStore(dir), pollMs: 50, log: () => {}, signing: SIGNING });
    try {
      await api.start();
      expect(api.snapshot(MODEL)?.routes.routes.map((r) => r.version)).toEqual([1]);
      const result = await monitoringActivities({ store: signed, signing: SIGNING }).checkServedChampions({});
      const findings = result.findings.filter((f) => f.alert.rule === 'serving_routes_tampered');
      expect(findings).toHaveLength(1);
      const raised = await raiseAlert(signed, findings[0].alert, { channels: ['webhook'] });
      expect(raised.suppressed).toBe(false);
      const deliveries = await t.store.db.selectFrom('alert_deliveries').select(['channel', 'status']).where('alert_id', '=', raised.id).execute();
      expect(deliveries.map((d) => d.channel).sort()).toEqual(['log', 'webhook']);
    } finally {
      await api.close();
      await cache.close();
    }
  });
});
