/**
 * A rollback by hand landing while a deployment promotes its challenger (MariaDB, where the API,
 * the CLI and the workers write at the same time): whichever wins, the serving routes and the
 * champion alias name the same version afterwards. The promotion is held at its champion alias
 * move by a row lock the test takes, the rollback runs meanwhile, then the lock is released.
 */
import crypto from 'node:crypto';
import { createConnection, type Connection } from 'mysql2/promise';
import { deploymentActivities } from '../../activities/deployment';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';
import { MemoryCache } from '../../lib/cache/memory-cache';
import { aliasVersion, moveAlias, verifyRegisteredVersion } from '../../lib/registry/model-registry';
import { rollbackModel } from '../../lib/serving/rollback';
import { readServingRoutes, singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { createMysqlTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket, type OracleMarket } from '../helpers/oracle-models';
import { until } from '../helpers/until';

jest.setTimeout(120_000);

describe('a rollback racing a promotion (mysql)', () => {
  let t: TestDatabase;
  let market: OracleMarket;
  let lock: Connection;
  const cache = new MemoryCache();
  const artifactDir = tempDir('mlp-race-');
  const artifacts = localArtifactStore(artifactDir);

  beforeAll(async () => {
    t = await createMysqlTestDatabase();
    market = await setUpOracleMarket(t.store, cache, 4);
    lock = await createConnection(t.url);
  });
  afterAll(async () => {
    await lock?.end();
    await t?.drop();
  });

  /** Whether a statement of this test's database matching `pattern` (SQL like) is under way (waiting for a row lock, here). */
  const running = async (pattern: string) => {
    const [rows] = await lock.query('select count(*) as n from information_schema.processlist where db = ? and command = ? and id <> connection_id() and info like ?', [new URL(t.url).pathname.slice(1), 'Query', pattern]);
    return Number((rows as Array<{ n: number }>)[0].n) > 0;
  };

  it('leaves routes and champion alias on one version when the rollback lands between the promotion\'s writes', async () => {
    const name = `race-${crypto.randomBytes(3).toString('hex')}`;
    const v1 = await registerOracleModel(t.store, artifactDir, { name, seed: 1, flip: false, featureSetVersion: market.featureSetVersion });
    const v2 = await registerOracleModel(t.store, artifactDir, { name, seed: 2, flip: false, featureSetVersion: market.featureSetVersion });
    await moveAlias(t.store, { name, alias: 'champion', version: v1, movedBy: 'test', reason: 'first champion' });
    await writeServingRoutes(t.store, cache, { model: name, mode: 'single', routes: singleRoute(v1), updatedBy: 'test', reason: 'first champion' });
    const id = `deploy-${name}-v${v2}`;
    const by = `deployment ${id}`;
    const a = deploymentActivities({ store: t.store, cache, artifacts, signing: { signingKey: undefined } });
    await a.beginDeployment({ deploymentId: id, request: { model: name, challengerVersion: v2, startedBy: 'test' } });
    await a.setTrafficSplit({ model: name, mode: 'canary', routes: [{ variant: 'canary', version: v2, weight: 0.5 }, { variant: 'champion', version: v1, weight: 0.5 }], reference: 'champion', updatedBy: by, reason: 'canary at 0.5', deploymentId: id });

    // Hold the champion alias row: the promotion's alias move waits on it.
    await lock.query('begin');
    await lock.query('select * from model_aliases where name = ? and alias = ? for update', [name, 'champion']);
    const promotion = a.promoteChallenger({ deploymentId: id, model: name, challengerVersion: v2, championVersion: v1, movedBy: by, reason: 'canary passed 1 steps' }).then(
      (r) => ({ ok: true as const, r }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    await until('the promotion to wait at the champion alias', async () => (await running('delete from `model_aliases`%')) || (await running('select % from `model_aliases` % for update')));
    // An operator rolls back to v1 meanwhile.
    let rolledBack = false;
    const rollback = rollbackModel(t.store, cache, { model: name, toVersion: v1, movedBy: 'ops', reason: 'by hand', verify: (model, version) => verifyRegisteredVersion(t.store, artifacts, model, version) }).finally(() => {
      rolledBack = true;
    });
    await until('the rollback to finish or wait for the promotion', async () => rolledBack || (await running('update `serving_routes`%')));
    await lock.query('rollback');
    await Promise.all([promotion, rollback]);

    const routes = await readServingRoutes(t.store, name);
    const champion = await aliasVersion(t.store, name, 'champion');
    expect(routes?.routes).toHaveLength(1);
    // The rollback came last: v1 served and champion.
    expect({ served: routes?.routes[0].version, champion }).toEqual({ served: v1, champion: v1 });
  });
});
