import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { AccessClaims } from '../accounts/accounts';

/** Why a token was refused (the caller answers 401 whatever the reason). */
export class InvalidAccessToken extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'InvalidAccessToken';
  }
}

const SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/;

/**
 * Verifies the app's HS256 access tokens on the request path with one HMAC and one JSON.parse:
 * the same checks as @fastify/jwt / fast-jwt with `algorithms: ['HS256']` (three base64url
 * segments; a JSON object header with `alg: "HS256"` and no `crit` extension; a signature that is
 * the HMAC-SHA256 of `header.payload` under the secret, compared in constant time; a JSON object
 * payload; `exp` and `nbf`, when present, numbers in seconds that the clock is before / at or
 * after), without the generic machinery (per-call option merging, callbacks, a SHA-256 of every
 * token for its cache key) that made verification a quarter of a queue join's CPU.
 *
 * Verified tokens are remembered by their whole text (header, payload and signature: a forged
 * payload or signature is a different key) until their `exp`, in two generations of at most
 * `cacheSize` each (when the young one is full it becomes the old one and the previous old one is
 * dropped: O(1) per token, where deleting a Map's oldest key one at a time walks its holes), so a
 * shopper polling with the same token pays the HMAC once.
 */
export class AccessTokenVerifier {
  private readonly key: KeyObject;
  private readonly headers = new Map<string, boolean>();
  private young = new Map<string, { claims: AccessClaims; expiresAt: number }>();
  private old = new Map<string, { claims: AccessClaims; expiresAt: number }>();

  constructor(
    secret: string,
    private readonly cacheSize = 20_000,
  ) {
    this.key = createSecretKey(Buffer.from(secret, 'utf8'));
  }

  /**
   * The claims of `token` if it is a valid, unexpired HS256 token signed with the secret.
   * The caller still checks `typ` and suspension. `now`: epoch ms.
   * @throws InvalidAccessToken when it is malformed, forged, of another algorithm, expired or not yet valid.
   */
  verify(token: string, now = Date.now()): AccessClaims {
    const cached = this.young.get(token) ?? this.old.get(token);
    if (cached !== undefined && now < cached.expiresAt) return cached.claims;
    if (token.length > 8192 || !SHAPE.test(token)) throw new InvalidAccessToken('malformed');
    const firstDot = token.indexOf('.');
    const lastDot = token.lastIndexOf('.');
    const header = token.slice(0, firstDot);
    if (!this.headerAllowed(header)) throw new InvalidAccessToken('algorithm or header not allowed');
    const expected = createHmac('sha256', this.key).update(token.slice(0, lastDot)).digest('base64url');
    const given = token.slice(lastDot + 1);
    if (!timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(given, 'latin1'))) throw new InvalidAccessToken('bad signature');
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(token.slice(firstDot + 1, lastDot), 'base64url').toString('utf8'));
    } catch {
      throw new InvalidAccessToken('payload is not JSON');
    }
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw new InvalidAccessToken('payload is not an object');
    const { exp, nbf } = payload as { exp?: unknown; nbf?: unknown };
    if (exp !== undefined && (typeof exp !== 'number' || now >= exp * 1000)) throw new InvalidAccessToken('expired');
    if (nbf !== undefined && (typeof nbf !== 'number' || now < nbf * 1000)) throw new InvalidAccessToken('not yet valid');
    const claims = Object.freeze(payload) as AccessClaims;
    if (this.cacheSize > 0) {
      if (this.young.size >= this.cacheSize) {
        this.old = this.young;
        this.young = new Map();
      }
      this.young.set(token, { claims, expiresAt: typeof exp === 'number' ? exp * 1000 : Number.POSITIVE_INFINITY });
    }
    return claims;
  }

  /** Whether a header segment decodes to a JSON object with `alg: "HS256"` and no `crit` (remembered: few distinct headers exist). */
  private headerAllowed(segment: string): boolean {
    const known = this.headers.get(segment);
    if (known !== undefined) return known;
    let allowed = false;
    try {
      const header = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as unknown;
      allowed = header !== null && typeof header === 'object' && !Array.isArray(header) && (header as { alg?: unknown }).alg === 'HS256' && !('crit' in header);
    } catch {
      allowed = false;
    }
    if (this.headers.size < 64) this.headers.set(segment, allowed);
    return allowed;
  }
}

/**
 * The token of an `Authorization: Bearer <token>` header as @fastify/jwt reads it (the scheme in
 * any case, then exactly one space-separated token), or null.
 */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined || header.length < 8) return null;
  if (!/^Bearer\s/i.test(header)) return null;
  const space = header.indexOf(' ');
  if (space !== 6) return null;
  const token = header.slice(7);
  return token.length > 0 && token.indexOf(' ') < 0 ? token : null;
}
