import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PredictionApiClient, PredictionApiError } from '../../../client/prediction-api-client';

const OK_BODY = { predictions: [{ symbol: 'AAPL', model: 'm', version: 1, variant: 'champion', probability: 0.6, class: 1, asOf: '2024-01-02', featureSetVersion: 'fs-1' }], errors: [] };

/** A local server that answers the first `failures` requests with `failWith` (or drops the connection), then OK_BODY. */
async function flakyServer(failures: number, failWith: number | 'drop' | 'hang', okBody: unknown = OK_BODY) {
  const seen: Array<{ method: string; url: string; authorization?: string; body: string }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
      if (seen.length <= failures) {
        if (failWith === 'drop') return req.socket.destroy();
        if (failWith === 'hang') return; // never answers: the client's timeout must fire
        res.writeHead(failWith, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: `code_${failWith}`, message: `failure ${seen.length}` }));
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(okBody));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    baseUrl,
    seen,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

const client = (baseUrl: string, extra: Partial<ConstructorParameters<typeof PredictionApiClient>[0]> = {}) =>
  new PredictionApiClient({ baseUrl, token: 'secret-token-0123456789', backoffMs: 1, ...extra });

async function rejection(promise: Promise<unknown>): Promise<PredictionApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(PredictionApiError);
    return error as PredictionApiError;
  }
  throw new Error('resolved');
}

describe('PredictionApiClient retry rules', () => {
  it.each([500, 502, 503, 429])('retries %i and succeeds within its retry budget', async (status) => {
    const s = await flakyServer(2, status);
    try {
      const response = await client(s.baseUrl, { retries: 2 }).predict(['aapl'], { model: 'm', key: 'client-7' });
      expect(response.predictions[0].symbol).toBe('AAPL');
      expect(s.seen).toHaveLength(3);
      expect(s.seen[0]).toMatchObject({ method: 'POST', url: '/v1/predictions', authorization: 'Bearer secret-token-0123456789' });
      expect(JSON.parse(s.seen[2].body)).toEqual({ symbols: ['aapl'], model: 'm', key: 'client-7' });
    } finally {
      await s.close();
    }
  });

  it('gives up after retries + 1 attempts with the last status and the server message', async () => {
    const s = await flakyServer(10, 503);
    try {
      const error = await rejection(client(s.baseUrl, { retries: 2 }).models());
      expect(s.seen).toHaveLength(3);
      expect([error.status, error.code, error.attempts]).toEqual([503, 'code_503', 3]);
      expect(error.message).toContain('failure 3');
    } finally {
      await s.close();
    }
  });

  it.each([400, 401, 403, 404, 409])('never retries %i', async (status) => {
    const s = await flakyServer(1, status);
    try {
      const error = await rejection(client(s.baseUrl, { retries: 3 }).predictOne('MSFT'));
      expect(s.seen).toHaveLength(1);
      expect([error.status, error.code, error.attempts]).toEqual([status, `code_${status}`, 1]);
    } finally {
      await s.close();
    }
  });

  it('retries dropped connections', async () => {
    const s = await flakyServer(2, 'drop');
    try {
      expect((await client(s.baseUrl, { retries: 2 }).predictOne('MSFT', { key: 'k 1' })).version).toBe(1);
      expect(s.seen).toHaveLength(3);
      expect(s.seen[2].url).toBe('/v1/predictions/MSFT?key=k+1');
    } finally {
      await s.close();
    }
  });

  it('times out each attempt and reports a timeout when every attempt hangs', async () => {
    const s = await flakyServer(10, 'hang');
    try {
      const error = await rejection(client(s.baseUrl, { retries: 1, timeoutMs: 100 }).models());
      expect([error.status, error.code, error.attempts]).toEqual([undefined, 'timeout', 2]);
      expect(s.seen).toHaveLength(2);
    } finally {
      await s.close();
    }
  });

  it('reports an unreachable server as a network error after retrying', async () => {
    const s = await flakyServer(0, 500);
    await s.close();
    const error = await rejection(client(s.baseUrl, { retries: 1 }).models());
    expect([error.status, error.code, error.attempts]).toEqual([undefined, 'network_error', 2]);
  });

  it('refuses a response that does not have the documented shape, without retrying', async () => {
    const s = await flakyServer(0, 500, { predictions: [{ symbol: 'AAPL' }] });
    try {
      const error = await rejection(client(s.baseUrl).predict(['AAPL']));
      expect(error.code).toBe('invalid_response');
      expect(error.message).toContain('predictions.0.model');
      expect(s.seen).toHaveLength(1);
    } finally {
      await s.close();
    }
  });

  it('reads readiness without retrying a 503 and without sending the token', async () => {
    const s = await flakyServer(10, 503);
    try {
      const error = await rejection(client(s.baseUrl).ready()); // the fake 503 body is not a readiness document
      expect(error.code).toBe('invalid_response');
      expect(s.seen).toHaveLength(1);
      expect(s.seen[0].authorization).toBeUndefined();
    } finally {
      await s.close();
    }
  });

  it('validates its options', () => {
    expect(() => new PredictionApiClient({ baseUrl: 'nope', token: 't' })).toThrow(/baseUrl must be a URL/);
    expect(() => new PredictionApiClient({ baseUrl: 'http://x', token: '' })).toThrow(/token is required/);
  });
});
