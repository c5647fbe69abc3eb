/**
 * The prediction API's edge: rate limits (failed authentications per address, predictions per
 * token and per address: 429 with Retry-After) and one bounded JSON error shape for every error,
 * including the ones Node's HTTP parser and Fastify's router raise (414, 431, 404), over a real socket.
 */
import { DASHBOARD_COOKIE } from '../../api/dashboard';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../api/errors';
import { buildApiServer, UNAVAILABLE_RETRY_AFTER_S } from '../../api/server';
import { MemoryCache } from '../../lib/cache/memory-cache';
import type { ApiRateLimits, ApiToken } from '../../lib/config';
import { PredictionLogWriter } from '../../lib/serving/prediction-log';
import { ServingModels } from '../../lib/serving/serving-models';
import { singleRoute, writeServingRoutes } from '../../lib/serving/serving-routes';
import { createSqliteTestDatabase, tempDir, type TestDatabase } from '../helpers/databases';
import { registerOracleModel, setUpOracleMarket, type OracleMarket } from '../helpers/oracle-models';
import { localArtifactStore } from '../../lib/artifacts/artifact-store';

const ALICE: ApiToken = { name: 'alice', token: 'alice-token-0123456789abcdef', scopes: ['predict'] };
const BOB: ApiToken = { name: 'bob', token: 'bob-token-0123456789abcdef00', scopes: ['predict'] };
const MODEL = 'edge-model';
const bearer = (token: ApiToken | string) => ({ authorization: `Bearer ${typeof token === 'string' ? token : token.token}` });

/** Every error body is exactly { error, message }, with a bounded message. */
function expectErrorShape(body: unknown, error: string): void {
  expect(Object.keys(body as object).sort()).toEqual(['error', 'message']);
  expect(body).toMatchObject({ error, message: expect.any(String) });
  expect((body as { message: string }).message.length).toBeLessThanOrEqual(1000);
}

/** A raw HTTP request (fetch refuses some of the malformed requests these tests need). */
function raw(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('prediction API edge: rate limits and one error shape', () => {
  let t: TestDatabase;
  let cache: MemoryCache;
  let serving: ServingModels;
  let log: PredictionLogWriter;
  let market: OracleMarket;
  const apps: FastifyInstance[] = [];

  beforeAll(async () => {
    t = await createSqliteTestDatabase();
    cache = new MemoryCache();
    const artifactDir = tempDir('mlp-edge-artifacts-');
    market = await setUpOracleMarket(t.store, cache, 3);
    const version = await registerOracleModel(t.store, artifactDir, { name: MODEL, seed: 1, flip: false, featureSetVersion: market.featureSetVersion });
    await writeServingRoutes(t.store, cache, { model: MODEL, mode: 'single', routes: singleRoute(version), updatedBy: 'test', reason: 'first' });
    serving = new ServingModels({ store: t.store, cache, artifacts: localArtifactStore(artifactDir), pollMs: 200 });
    await serving.start();
    log = new PredictionLogWriter(t.store, { flushMs: 50 });
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await log?.close();
    await serving?.close();
    await cache?.close();
    await t?.drop();
  });

  const server = (rateLimits: Partial<ApiRateLimits> = {}) => {
    const app = buildApiServer({ store: t.store, cache, servingModels: serving, predictionLog: log, tokens: [ALICE, BOB], rateLimits });
    apps.push(app);
    return app;
  };
  const predict = (app: FastifyInstance, token: ApiToken | string, remoteAddress = '10.0.0.1') =>
    app.inject({ method: 'GET', url: `/v1/predictions/${market.symbols[0]}?model=${MODEL}`, headers: bearer(token), remoteAddress });

  it('answers 429 with Retry-After to an address that keeps failing authentication, and only to it', async () => {
    const app = server({ authFailuresPerAddress: 5 });
    for (let i = 0; i < 5; i++) expect((await predict(app, `wrong-token-${i}-0123456789`)).statusCode).toBe(401);
    const limited = await predict(app, 'wrong-token-x-0123456789');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expectErrorShape(limited.json(), 'rate_limited');
    expect(limited.json().message).toMatch(/too many failed authentications from this address \(limit 5 per 60 s\); retry after \d+ s/);
    // The address is locked out for the window, even with a good token; other addresses are not.
    expect((await predict(app, ALICE)).statusCode).toBe(429);
    expect((await predict(app, ALICE, '10.0.0.2')).statusCode).toBe(200);
  });

  it('lets a locked-out address in again once the window has passed since its failures', async () => {
    const app = server({ authFailuresPerAddress: 2 });
    const start = Date.now();
    const now = jest.spyOn(Date, 'now').mockReturnValue(start);
    try {
      for (let i = 0; i < 2; i++) expect((await predict(app, `wrong-token-${i}-0123456789`, '10.0.2.1')).statusCode).toBe(401);
      expect((await predict(app, ALICE, '10.0.2.1')).statusCode).toBe(429);
      now.mockReturnValue(start + 59_000);
      expect((await predict(app, ALICE, '10.0.2.1')).statusCode).toBe(429);
      now.mockReturnValue(start + 60_001);
      expect((await predict(app, ALICE, '10.0.2.1')).statusCode).toBe(200);
      // A new failure starts a new count: one is not yet a lockout.
      expect((await predict(app, 'wrong-token-y-0123456789', '10.0.2.1')).statusCode).toBe(401);
      expect((await predict(app, ALICE, '10.0.2.1')).statusCode).toBe(200);
    } finally {
      now.mockRestore();
    }
  });

  it('counts failed dashboard sign-ins and unknown dashboard cookies against the same per-address limit', async () => {
    const app = server({ authFailuresPerAddress: 4 });
    const login = (token: string, remoteAddress = '10.0.1.1') =>
      app.inject({ method: 'POST', url: '/ui/login', payload: `token=${encodeURIComponent(token)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, remoteAddress });
    const page = (cookieToken: string, remoteAddress = '10.0.1.1') => app.inject({ method: 'GET', url: '/ui/models', headers: { cookie: `${DASHBOARD_COOKIE}=${encodeURIComponent(cookieToken)}` }, remoteAddress });
    for (let i = 0; i < 2; i++) expect((await login(`guess-${i}-0123456789`)).statusCode).toBe(401);
    for (let i = 0; i < 2; i++) expect((await page(`guess-cookie-${i}-0123456789`)).statusCode).toBe(401);
    // Over the limit: a 429 page with Retry-After, for another guess and for a valid token alike.
    const limited = await login('guess-x-0123456789');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited.body).toMatch(/too many failed authentications from this address \(limit 4 per 60 s\)/);
    expect((await login(ALICE.token)).statusCode).toBe(429);
    expect((await predict(app, ALICE, '10.0.1.1')).statusCode).toBe(429);
    // Another address is not affected.
    expect((await login(ALICE.token, '10.0.1.2')).statusCode).not.toBe(429);
  });

  it('takes a dashboard version path in decimal notation only (0x1, 1e0, 1.0 and +1 are no version)', async () => {
    const reader: ApiToken = { name: 'rita', token: 'rita-token-0123456789abcdef0', scopes: ['read'] };
    const app = buildApiServer({ store: t.store, cache, servingModels: serving, predictionLog: log, tokens: [reader] });
    apps.push(app);
    const report = (version: string) => app.inject({ method: 'GET', url: `/ui/models/${MODEL}/versions/${encodeURIComponent(version)}/report`, headers: bearer(reader) });
    for (const version of ['0x1', '1e0', '1.0', '+1', ' 1', '01']) {
      const answer = await report(version);
      expect([version, answer.statusCode]).toEqual([version, 400]);
      expect(answer.body).toMatch(/Expected \/ui\/models\/&lt;model&gt;\/versions\/&lt;number&gt;\/report/);
    }
    expect((await report('1')).statusCode).not.toBe(400);
  });

  it('limits predictions per token', async () => {
    const app = server({ predictionsPerToken: 3, predictionsPerAddress: 0 });
    for (let i = 0; i < 3; i++) expect((await predict(app, ALICE)).statusCode).toBe(200);
    const limited = await predict(app, ALICE, '10.0.0.9');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(limited.json().message).toMatch(/too many prediction requests for token "alice"/);
    expect((await predict(app, BOB)).statusCode).toBe(200);
  });

  it('limits predictions per address across tokens', async () => {
    const app = server({ predictionsPerToken: 0, predictionsPerAddress: 3 });
    expect((await predict(app, ALICE)).statusCode).toBe(200);
    expect((await predict(app, BOB)).statusCode).toBe(200);
    expect((await predict(app, ALICE)).statusCode).toBe(200);
    const limited = await predict(app, BOB);
    expect(limited.statusCode).toBe(429);
    expect(limited.json().message).toMatch(/too many prediction requests from this address/);
    expect((await predict(app, BOB, '10.0.0.3')).statusCode).toBe(200);
  });

  it('answers 414, 431, 404 and bad-JSON 400 in the one error shape without echoing the input', async () => {
    const app = server();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const long = 'A'.repeat(8000);

    const tooLong = await raw(port, `/v1/predictions/${long}`, bearer(ALICE));
    expect(tooLong.status).toBe(414);
    expectErrorShape(JSON.parse(tooLong.body), 'uri_too_long');
    expect(tooLong.body).not.toContain('AAAAAAAAAAAAAAAAAAAA');

    const bigHeaders = await raw(port, '/v1/models', { ...bearer(ALICE), 'x-padding': 'p'.repeat(20_000) });
    expect(bigHeaders.status).toBe(431);
    expect(bigHeaders.headers['content-type']).toMatch(/^application\/json/);
    expectErrorShape(JSON.parse(bigHeaders.body), 'headers_too_large');

    const missing = await raw(port, `/nowhere/${long}`);
    expect(missing.status).toBe(404);
    expectErrorShape(JSON.parse(missing.body), 'not_found');
    expect(missing.body.length).toBeLessThan(400);

    const badJson = await app.inject({ method: 'POST', url: '/v1/predictions', headers: { ...bearer(ALICE), 'content-type': 'application/json' }, payload: `{"symbols": ["${long}` });
    expect(badJson.statusCode).toBe(400);
    expectErrorShape(badJson.json(), 'invalid_json');
    expect(badJson.body).not.toContain('AAAAAAAAAAAAAAAAAAAA');

    // A request whose validation errors would quote a lot of input is bounded too.
    const manyBad = await app.inject({ method: 'POST', url: '/v1/predictions', headers: bearer(ALICE), payload: { symbols: Array.from({ length: 400 }, (_, i) => `bad symbol ${i} !!`) } });
    expect(manyBad.statusCode).toBe(400);
    expectErrorShape(manyBad.json(), 'invalid_request');

    const tooLarge = await app.inject({ method: 'POST', url: '/v1/predictions', headers: { ...bearer(ALICE), 'content-type': 'application/json' }, payload: JSON.stringify({ symbols: ['AAPL'], pad: 'x'.repeat(300_000) }) });
    expect(tooLarge.statusCode).toBe(413);
    expectErrorShape(tooLarge.json(), 'body_too_large');

    // Each of these statuses is one /openapi.json lists for the route that answered it (clients generated from it expect them).
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    const documented = (path: string, method: string) => Object.keys(doc.paths[path][method].responses);
    expect(documented('/v1/predictions/{symbol}', 'get')).toEqual(expect.arrayContaining(['414', '431', '500']));
    expect(documented('/v1/models', 'get')).toEqual(expect.arrayContaining(['431', '500']));
    expect(documented('/v1/predictions', 'post')).toEqual(expect.arrayContaining(['400', '413', '431', '500']));
    for (const path of ['/v1/admin/routes/{model}', '/v1/admin/rollback/{model}']) {
      const [method] = Object.keys(doc.paths[path]);
      expect(documented(path, method)).toEqual(expect.arrayContaining(['413', '431', '500']));
    }
  });

  it('answers every 503 with Retry-After: shutting down (in the one error shape), not ready, a 503 of a handler', async () => {
    // Shutting down: a request that arrives on an open connection while the server closes.
    const app = server();
    let entered!: () => void;
    const inFlight = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    app.get('/test/slow', async () => {
      entered();
      await released;
      return { ok: true };
    });
    app.get('/test/unavailable', async () => {
      throw new ApiError(503, 'features_unavailable', 'neither store answers');
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;

    const handlerUnavailable = await raw(port, '/test/unavailable');
    expect(handlerUnavailable.status).toBe(503);
    expect(handlerUnavailable.headers['retry-after']).toBe(String(UNAVAILABLE_RETRY_AFTER_S));

    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    // A request in flight when the close begins keeps its connection open; the next request on it
    // arrives while the server closes.
    socket.write('GET /test/slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await inFlight;
    const closed = app.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    socket.write(`GET /v1/models HTTP/1.1\r\nHost: x\r\n${Object.entries(bearer(ALICE)).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    release();
    await ended;
    await closed;
    const responses = received.split(/(?=HTTP\/1\.1 )/);
    expect(responses).toHaveLength(2);
    expect(responses[0]).toMatch(/^HTTP\/1\.1 200/);
    const [head, body] = responses[1].split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 503/);
    expect(head.toLowerCase()).toContain(`retry-after: ${UNAVAILABLE_RETRY_AFTER_S}\r\n`);
    expectErrorShape(JSON.parse(body), 'shutting_down');

    // Not ready (the served models still loading).
    const loading = buildApiServer({ store: t.store, cache, servingModels: serving, predictionLog: log, tokens: [ALICE], servingStarted: () => false });
    apps.push(loading);
    const notReady = await loading.inject({ method: 'GET', url: '/readyz' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.headers['retry-after']).toBe(String(UNAVAILABLE_RETRY_AFTER_S));

    // The document says so.
    const doc = (await loading.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, { responses: Record<string, { headers?: Record<string, unknown> }> }>> };
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        expect([path, method, Object.keys(operation.responses['503']?.headers ?? {})]).toEqual([path, method, ['Retry-After']]);
      }
    }
  });
});
