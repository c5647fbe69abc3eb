/**
 * The alerts_in_store gauge reads a row as alertFromRow does: open unless its status is exactly
 * 'acked'. On MariaDB (the gauge binds one store per process, so one driver here), whose default
 * collation took 'ACKED' and 'acked ' for 'acked' in SQL.
 */
import { raiseAlert } from '../../lib/alerts/alert-store';
import { registerAlertStoreGauges } from '../../lib/metrics/alert-metrics';
import { appRegistry } from '../../lib/metrics/registry';
import { createMysqlTestDatabase, type TestDatabase } from '../helpers/databases';

describe('alerts_in_store on mysql', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createMysqlTestDatabase();
  });
  afterAll(async () => {
    await t?.drop();
  });

  it('counts a status edited to another spelling of acked as open', async () => {
    const at = new Date('2026-03-02T15:35:00.000Z');
    const ids: string[] = [];
    for (const subject of ['model a', 'model b', 'model c', 'model d']) ids.push((await raiseAlert(t.store, { rule: 'data_quality', severity: 'critical', subject, message: 'bad bars', evidence: {} }, { now: at })).id);
    for (const [id, status] of [[ids[0], 'acked'], [ids[1], 'ACKED'], [ids[2], 'acked ']] as const) await t.store.db.updateTable('alerts').set({ status }).where('id', '=', id).execute();
    registerAlertStoreGauges(t.store, (error) => {
      throw error;
    });
    const values = (await appRegistry.getSingleMetric('alerts_in_store')?.get())?.values ?? [];
    const count = (status: string) => values.filter((v) => v.labels.rule === 'data_quality' && v.labels.status === status).reduce((s, v) => s + v.value, 0);
    expect({ acked: count('acked'), open: count('open') }).toEqual({ acked: 1, open: 3 });
  });
});
