import { ConfigError, loadConfig } from '../../../lib/config';
import { TokenVerifier } from '../../../api/auth';
import { ApiError } from '../../../api/errors';

const A = 'a'.repeat(16);
const B = 'b0123456789abcdef';

function configError(tokens: string): string {
  try {
    loadConfig({ API_TOKENS: tokens });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error(`API_TOKENS=${tokens} was accepted`);
}

describe('API_TOKENS parsing', () => {
  it('reads tokens with their scopes, names them by position unless named, and defaults to none', () => {
    const { apiTokens, apiAddress } = loadConfig({ API_TOKENS: `${A}=predict+admin, ci:${B}=predict` });
    expect(apiTokens).toEqual([
      { name: 'token-1', token: A, scopes: ['predict', 'admin'] },
      { name: 'ci', token: B, scopes: ['predict'] },
    ]);
    expect(apiAddress).toBe('127.0.0.1:8080');
    expect(loadConfig({}).apiTokens).toEqual([]);
    expect(loadConfig({ API_ADDRESS: '0.0.0.0:9000' }).apiAddress).toBe('0.0.0.0:9000');
  });

  it('never shows a token when the config is printed as JSON', () => {
    const printed = JSON.stringify(loadConfig({ API_TOKENS: `${A}=predict` }));
    expect(printed).not.toContain(A);
    expect(printed).toContain('"token":"(redacted)"');
  });

  it.each([
    [`${A}=predict+root`, /entry 1: unknown scope "root"; known scopes: predict, admin/],
    [`${A}=`, /entry 1: no scope after "="/],
    ['short=predict', /entry 1: token is shorter than 16 characters/],
    [`${A}=predict,${A}=admin`, /entry 2: the same token is listed twice/],
    [`${A}`, /entry 1 is not \[name:\]token=scope\+scope/],
    [`${B}=predict,bad token=admin`, /entry 2 is not/],
  ])('refuses API_TOKENS=%j without echoing it', (value, expected) => {
    const message = configError(value);
    expect(message).toMatch(expected);
    expect(message).toContain('API_TOKENS=(secret, not shown)');
    expect(message).not.toContain(A);
    expect(message).not.toContain(B);
  });

  it('refuses a bad API_ADDRESS', () => {
    expect(() => loadConfig({ API_ADDRESS: 'localhost' })).toThrow(/API_ADDRESS="localhost": expected host:port/);
  });
});

describe('TokenVerifier', () => {
  const verifier = new TokenVerifier(loadConfig({ API_TOKENS: `ops:${A}=predict+admin,${B}=predict` }).apiTokens);

  function failure(header: string | undefined, scope: 'predict' | 'admin'): ApiError {
    try {
      verifier.authorize(header, scope);
    } catch (error) {
      expect(error).toBeInstanceOf(ApiError);
      return error as ApiError;
    }
    throw new Error('authorized');
  }

  it('accepts a known token that has the scope', () => {
    expect(verifier.authorize(`Bearer ${A}`, 'admin').name).toBe('ops');
    expect(verifier.authorize(`bearer ${B}`, 'predict').name).toBe('token-2');
  });

  it('answers 401 for a missing, malformed or unknown token and 403 for a missing scope', () => {
    expect([failure(undefined, 'predict').statusCode, failure(undefined, 'predict').code]).toEqual([401, 'unauthorized']);
    expect(failure(`Basic ${A}`, 'predict').statusCode).toBe(401);
    expect(failure(`Bearer ${A}x`, 'predict').statusCode).toBe(401);
    expect(failure('Bearer', 'predict').statusCode).toBe(401);
    const forbidden = failure(`Bearer ${B}`, 'admin');
    expect([forbidden.statusCode, forbidden.code]).toEqual([403, 'forbidden']);
    expect(forbidden.message).toContain('lacks the "admin" scope');
    expect(forbidden.message).not.toContain(B);
  });
});
