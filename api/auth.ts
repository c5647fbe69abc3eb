/**
 * Bearer-token authentication for the prediction API: tokens and their scopes come from API_TOKENS
 * (lib/config.ts). A missing or unknown token is a 401, a known token without the scope a 403.
 * Scopes: predict (prediction routes), admin (route changes, rollbacks), read (the dashboard).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiScope, ApiToken } from '../lib/config';
import { ApiError } from './errors';

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

const CHALLENGE = { 'www-authenticate': 'Bearer realm="prediction-api"' };

/**
 * Whether a token grants a scope. `read` (the dashboard at /ui and read-only GET views) is also
 * granted by `admin`; `predict` and `admin` only by themselves.
 */
export function hasScope(token: ApiToken, scope: ApiScope): boolean {
  return token.scopes.includes(scope) || (scope === 'read' && token.scopes.includes('admin'));
}

export class TokenVerifier {
  private readonly known: ReadonlyArray<{ digest: Buffer; token: ApiToken }>;

  constructor(tokens: readonly ApiToken[]) {
    this.known = tokens.map((token) => ({ digest: digest(token.token), token }));
  }

  get size(): number {
    return this.known.length;
  }

  /** The token an Authorization header carries, or undefined. Compares digests in constant time. */
  identify(authorization: string | undefined): ApiToken | undefined {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) return undefined;
    const presented = digest(match[1]);
    let found: ApiToken | undefined;
    // Check every token (no early exit) so timing does not tell which one nearly matched.
    for (const k of this.known) if (timingSafeEqual(k.digest, presented)) found = k.token;
    return found;
  }

  /** The caller, when its token has `scope`; otherwise the 401 or 403 to answer with. */
  authorize(authorization: string | undefined, scope: ApiScope): ApiToken {
    if (authorization === undefined || authorization === '') {
      throw new ApiError(401, 'unauthorized', 'missing Authorization header; send "Authorization: Bearer <token>" with a token from API_TOKENS', CHALLENGE);
    }
    const token = this.identify(authorization);
    if (!token) throw new ApiError(401, 'unauthorized', 'invalid token: the Authorization header must be "Bearer <token>" with a token listed in API_TOKENS', CHALLENGE);
    if (!hasScope(token, scope)) {
      throw new ApiError(403, 'forbidden', `token "${token.name}" lacks the "${scope}" scope (it has ${token.scopes.join(', ')}); use a token with ${scope} in API_TOKENS`);
    }
    return token;
  }
}
