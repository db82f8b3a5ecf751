import { createVerifier } from 'fast-jwt';
import type { AccessClaims } from '../accounts/accounts';

/** Why a token was refused (the caller answers 401 whatever the reason). */
export class InvalidAccessToken extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'InvalidAccessToken';
  }
}

/**
 * Verifies the app's HS256 access tokens on the request path: fast-jwt's verifier (the library
 * @fastify/jwt uses, so the checks are its own: the three segments, `alg: "HS256"` only, the
 * HMAC-SHA256 signature, `exp` and `nbf`) with its own cache off, behind a cache of ours.
 * fast-jwt's cache keys each token by a SHA-256 of it, a third of its cost when every token is new
 * (a queue-join rush: one token per arriving shopper).
 *
 * Verified tokens are remembered by their whole text (header, payload and signature: a forged
 * payload or signature is a different key) until their `exp`, in two generations of at most
 * `cacheSize` each (when the young one is full it becomes the old one and the previous old one is
 * dropped: O(1) per token, where deleting a Map's oldest key one at a time walks its holes), so a
 * shopper polling with the same token is verified once.
 */
export class AccessTokenVerifier {
  private readonly check: (token: string) => unknown;
  private young = new Map<string, { claims: AccessClaims; expiresAt: number }>();
  private old = new Map<string, { claims: AccessClaims; expiresAt: number }>();

  constructor(
    secret: string,
    private readonly cacheSize = 20_000,
  ) {
    this.check = createVerifier({ key: secret, algorithms: ['HS256'], cache: false });
  }

  /**
   * The claims of `token` if it is a valid, unexpired HS256 token signed with the secret.
   * The caller still checks `typ` and suspension. `now`: epoch ms, for the cache's expiry check
   * (fast-jwt checks a token it has not seen against the real clock).
   * @throws InvalidAccessToken when it is malformed, forged, of another algorithm, expired or not yet valid.
   */
  verify(token: string, now = Date.now()): AccessClaims {
    const cached = this.young.get(token) ?? this.old.get(token);
    if (cached !== undefined && now < cached.expiresAt) return cached.claims;
    let payload: unknown;
    try {
      payload = this.check(token);
    } catch (err) {
      throw new InvalidAccessToken((err as { code?: string }).code ?? 'invalid');
    }
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw new InvalidAccessToken('payload is not an object');
    const { exp } = payload as { exp?: unknown };
    // The library checked `exp` against the real clock; `now` (the caller's clock) may be later.
    if (typeof exp === 'number' && now >= exp * 1000) throw new InvalidAccessToken('expired');
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
