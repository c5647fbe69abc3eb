/**
 * Which open data alerts hold a model's deployments: a stale-bars alert monitoring raised stops
 * holding once a whole later monitoring run found the bars fresh; anything else holds until acked.
 */
import { ackAlert, raiseAlert } from '../../../lib/alerts/alert-store';
import { dataAlertsHolding } from '../../../lib/monitoring/data-alerts';
import type { ModelMonitoringReport } from '../../../lib/monitoring/model-report';
import { dataSubject, evaluateModelReport, parseMonitoringRules } from '../../../lib/monitoring/monitoring-rules';
import { createSqliteTestDatabase, type TestDatabase } from '../../helpers/databases';

const T0 = new Date('2026-03-02T23:05:00.000Z'); // 18:05 New York
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);
const runPrefix = (n: number) => `mr-${n.toString(16).padStart(16, '0')}-`;

describe('data alerts that hold deployments', () => {
  let t: TestDatabase;
  beforeEach(async () => {
    t = await createSqliteTestDatabase();
  });
  afterEach(async () => {
    await t?.drop();
  });

  async function report(run: number, version: number, minutes: number, freshness: string): Promise<void> {
    const id = `${runPrefix(run)}m-v${version}`;
    await t.store.db.insertInto('monitoring_reports').values({ id, model: 'm', version, report: JSON.stringify({ id, freshness: { status: freshness } }), created_at: at(minutes).toISOString() }).execute();
  }
  const holding = async () => (await dataAlertsHolding(t.store, 'm')).holding.map((a) => a.rule).sort();

  it('lets go of a stale-bars alert once a whole later monitoring run found every version fresh', async () => {
    // Run 1 (18:05): v1 reported stale, the alert raised, then v2's report.
    await report(1, 1, -1, 'stale');
    const stale = await raiseAlert(t.store, { rule: 'data_stale', severity: 'warning', subject: dataSubject('m'), message: 'bars for m: 1 of 10 symbols behind', evidence: { reportId: `${runPrefix(1)}m-v1` } }, { now: T0 });
    await report(1, 2, 1, 'fresh');
    expect(await holding()).toEqual(['data_stale']);
    // Run 2 (one version still stale): holds.
    await report(2, 1, 60, 'fresh');
    await report(2, 2, 61, 'stale');
    expect(await holding()).toEqual(['data_stale']);
    // Run 3: every version fresh. The alert stays open, and no longer holds.
    await report(3, 1, 120, 'fresh');
    await report(3, 2, 121, 'fresh');
    const result = await dataAlertsHolding(t.store, 'm');
    expect(result.holding).toEqual([]);
    expect(result.over.map((o) => o.alert.id)).toEqual([stale.id]);
    expect(result.over[0].reason).toMatch(/fresh again/);
    // Stale again at the next run: the alert of that run holds (a new one, or this one once more).
    await report(4, 1, 180, 'stale');
    await report(4, 2, 181, 'fresh');
    expect(await holding()).toEqual(['data_stale']);
  });

  it('keeps alerts it cannot judge holding: raised by hand, or data quality', async () => {
    await raiseAlert(t.store, { rule: 'data_stale', severity: 'critical', subject: dataSubject('m'), message: 'no bars for 3 trading days', evidence: {} }, { now: T0 });
    await raiseAlert(t.store, { rule: 'data_quality', severity: 'critical', subject: dataSubject('m'), message: 'too many rows quarantined', evidence: { reportId: 'x' } }, { now: T0 });
    await report(5, 1, 60, 'fresh');
    expect(await holding()).toEqual(['data_quality', 'data_stale']);
  });
  it('holds again when the bars go stale after the alert was acknowledged, within its cool-down', async () => {
    const rules = parseMonitoringRules({});
    // What a monitoring run raises for the model's report (evaluateModelReport, then raiseAlert).
    const monitoringRun = async (run: number, minutes: number, status: 'fresh' | 'stale') => {
      await report(run, 1, minutes, status);
      const freshness = { status, reason: status === 'stale' ? '2 of 10 symbols behind' : '', expectedSession: '2026-03-02', symbols: 10, staleSymbols: status === 'stale' ? 2 : 0, maxLagDays: status === 'stale' ? 1 : 0, newestBar: '2026-03-02', stalest: [] };
      const evaluated = evaluateModelReport({ id: `${runPrefix(run)}m-v1`, model: 'm', version: 1, variants: ['champion'], champion: true, freshness, drift: { status: 'stable' }, predictionDrift: { status: 'stable' }, performance: { status: 'ok' } } as unknown as ModelMonitoringReport, rules);
      return Promise.all(evaluated.findings.map((f) => raiseAlert(t.store, f.alert, { now: at(minutes) })));
    };
    const [first] = await monitoringRun(1, 0, 'stale');
    expect(await holding()).toEqual(['data_stale']);
    // Someone backfilled the bars and acknowledged the alert: the deployment goes on.
    await monitoringRun(2, 30, 'fresh');
    await ackAlert(t.store, first.id, 'alice', at(40));
    expect(await holding()).toEqual([]);
    // An hour later (within the 4 h cool-down) the feed is behind again: a new alert, and the hold is back.
    const [again] = await monitoringRun(3, 90, 'stale');
    expect(again.suppressed).toBe(false);
    expect(again.id).not.toBe(first.id);
    expect(await holding()).toEqual(['data_stale']);
    // While that one is open, the next stale run is suppressed by it as before.
    expect((await monitoringRun(4, 150, 'stale'))[0]).toEqual({ id: again.id, suppressed: true });
  });
});
