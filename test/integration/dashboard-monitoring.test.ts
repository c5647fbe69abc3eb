/**
 * /ui/monitoring shows the newest report of each version a model serves now, champion first: during
 * a canary or an A/B test one monitoring run reports both versions, and the champion's drift and
 * stale bars must not be hidden behind the newer version's report.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { TokenVerifier } from '../../api/auth';
import { DASHBOARD_COOKIE, registerDashboard } from '../../api/dashboard';
import { createSqliteTestDatabase, type TestDatabase } from '../helpers/databases';

const TOKEN = 'read-token-0123456789abcdef';

function report(id: string, model: string, version: number, champion: boolean, createdAt: string, drift: 'drift' | 'stable') {
  return {
    id, model, version, variants: [champion ? 'champion' : 'canary'], champion, createdAt, windowDays: 10,
    drift: { status: drift, reason: drift === 'drift' ? `v${version}: 1 of 1 features drifted` : `v${version}: no feature drifted`, drifted: drift === 'drift' ? ['mom_20'] : [], maxPsi: 0.5, features: [{ name: 'mom_20', psi: 0.5, drifted: drift === 'drift' }], window: { from: '2024-03-01', to: '2024-03-14', days: 10, rows: 400 } },
    freshness: { status: 'fresh', reason: 'all 40 symbols have the 2024-03-14 session' },
    universe: { source: 'profile', symbols: 40, reason: 'the 40 symbols of the reference profile (the training universe)' },
    performance: champion
      ? { status: 'ok', samples: 540, hitRate: 0.5185, hitRateInterval: { lower: 0.47, upper: 0.566, confidence: 0.99 }, baseline: { name: 'always down', hitRate: 0.5759 }, reasons: [] }
      : { status: 'insufficient-data', samples: 12, hitRate: 0.75, hitRateInterval: null, baseline: { name: 'always up', hitRate: 0.58 }, reasons: ['12 matured predictions on 3 days; performance is judged from 100 predictions on 10 days'] },
  };
}

describe('/ui/monitoring', () => {
  let t: TestDatabase;
  let app: FastifyInstance;
  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    const rows = [
      // m: an older run (v1 stable, and v3, since retired), then the newest run of the canary (v1 champion drifted, v2 canary).
      report('mr-aaaaaaaaaaaaaaaa-m-v1', 'm', 1, true, '2024-03-13T22:05:01.000Z', 'stable'),
      report('mr-aaaaaaaaaaaaaaaa-m-v3', 'm', 3, false, '2024-03-13T22:05:01.500Z', 'stable'),
      report('mr-bbbbbbbbbbbbbbbb-m-v1', 'm', 1, true, '2024-03-14T22:05:01.120Z', 'drift'),
      report('mr-bbbbbbbbbbbbbbbb-m-v2', 'm', 2, false, '2024-03-14T22:05:01.480Z', 'stable'),
      // n: routed to v5 and v6; only v5 reported so far.
      report('mr-cccccccccccccccc-n-v5', 'n', 5, true, '2024-03-14T21:00:00.000Z', 'stable'),
      // old: no routes any more; its newest run reported v7 and v8.
      report('mr-dddddddddddddddd-old-v7', 'old', 7, true, '2024-02-01T22:00:00.000Z', 'drift'),
      report('mr-dddddddddddddddd-old-v8', 'old', 8, false, '2024-02-01T22:00:01.000Z', 'stable'),
      report('mr-eeeeeeeeeeeeeeee-old-v6', 'old', 6, false, '2024-01-01T22:00:00.000Z', 'stable'),
    ];
    for (const r of rows) await t.store.db.insertInto('monitoring_reports').values({ id: r.id, model: r.model, version: r.version, report: JSON.stringify(r), created_at: r.createdAt }).execute();
    const routes = (model: string, split: object) => ({ model, generation: 1, routes: JSON.stringify(split), updated_by: 't', reason: 't', updated_at: '2024-03-10T00:00:00.000Z' });
    await t.store.db.insertInto('serving_routes').values([
      routes('m', { mode: 'canary', routes: [{ variant: 'champion', version: 1, weight: 0.9 }, { variant: 'canary', version: 2, weight: 0.1 }], reference: 'champion', salt: 's' }),
      routes('n', { mode: 'ab', routes: [{ variant: 'A', version: 5, weight: 0.5 }, { variant: 'B', version: 6, weight: 0.5 }], salt: 's' }),
    ]).execute();
    app = Fastify();
    registerDashboard(app, { store: t.store, verifier: new TokenVerifier([{ name: 'reader', token: TOKEN, scopes: ['read'] }]), signing: { signingKey: undefined } });
  });
  afterAll(async () => {
    await app?.close();
    await t?.drop();
  });

  it('shows the newest report of every served version, champion first', async () => {
    const page = await app.inject({ method: 'GET', url: '/ui/monitoring', headers: { cookie: `${DASHBOARD_COOKIE}=${TOKEN}` } });
    expect(page.statusCode).toBe(200);
    const cards = [...page.body.matchAll(/<div class="card (monitoring|monitoring-missing)" data-model="([^"]+)" data-version="(\d+)">/g)].map((m) => `${m[2]} v${m[3]}${m[1] === 'monitoring-missing' ? ' (no report)' : ''}`);
    // m: the champion's drifted report of the newest run beside the canary's (v3 is no longer served);
    // n: v6 is served but not reported yet; old: not served, the versions of its newest run.
    expect(cards).toEqual(['m v1', 'm v2', 'n v5', 'n v6 (no report)', 'old v7', 'old v8']);
    expect(page.body).toContain('v1: 1 of 1 features drifted');
    expect(page.body).not.toContain('v1: no feature drifted');
    expect(page.body).toContain('Symbols judged: the 40 symbols of the reference profile');
    // The live hit rate beside the stronger constant on the same predictions; none shown before it is judged.
    expect(page.body).toContain('hit rate <strong>51.8%</strong> (99% interval 47.0%–56.6%) on 540 matured predictions; always down scores <strong>57.6%</strong> on the same predictions');
    expect(page.body).toContain('Live performance: <strong>insufficient-data</strong> — 12 matured predictions on 3 days');
    expect(page.body).not.toContain('75.0%');
  });
});
