import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';

/** What an admission token proves: this shopper was admitted to this deal until `expiresAt`. */
export interface AdmissionClaims {
  userId: string;
  dealId: string;
  /** Epoch ms. */
  expiresAt: number;
}

/** Why a token was refused (all answer `NOT_ADMITTED`; the reason goes to the log and the detail). */
export type AdmissionRefusal = 'malformed' | 'forged' | 'expired' | 'other-deal' | 'other-shopper';

const ISSUER = 'dealrush';
const AUDIENCE = 'dealrush:admission';
const CACHE_LIMIT = 50_000;

/**
 * Signs and checks admission tokens: JWTs signed with Ed25519 (`alg: EdDSA`, RFC 8037) through
 * jose, bound to one shopper (`sub`) and one deal (`deal`), expiring with the admission (`exp`).
 * Asymmetric so that a node (or an edge) can check a token with the public key alone.
 *
 * A token only says "admitted at some point": the deal actor still checks that the admission is
 * live (not used up by paying, expired or revoked), and the per-user limit, on every hold.
 * Verified tokens are cached until they expire, so 1,000 requests carrying one token cost one
 * signature check.
 */
export class AdmissionTokens {
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  private readonly verified = new Map<string, AdmissionClaims>();

  /** @param privateKeyPem PKCS#8 PEM of an Ed25519 key. @throws Error if it is not one. */
  constructor(privateKeyPem: string) {
    this.privateKey = createPrivateKey(privateKeyPem);
    if (this.privateKey.asymmetricKeyType !== 'ed25519') throw new Error('the admission key must be an Ed25519 private key (PKCS#8 PEM)');
    this.publicKey = createPublicKey(this.privateKey);
  }

  /** A compact JWS for `claims`, valid until `claims.expiresAt`. */
  async sign(claims: AdmissionClaims): Promise<string> {
    return new SignJWT({ deal: claims.dealId })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(claims.userId)
      .setIssuedAt()
      .setExpirationTime(Math.floor(claims.expiresAt / 1000))
      .sign(this.privateKey);
  }

  /**
   * Checks `token` for `userId` and `dealId` at `now` (epoch ms).
   * @returns the claims, or the reason it is refused.
   */
  async verify(token: string, userId: string, dealId: string, now = Date.now()): Promise<{ ok: true; claims: AdmissionClaims } | { ok: false; reason: AdmissionRefusal }> {
    let claims = this.verified.get(token);
    if (!claims) {
      if (token.length > 2000 || token.split('.').length !== 3) return { ok: false, reason: 'malformed' };
      try {
        const { payload } = await jwtVerify(token, this.publicKey, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['EdDSA'], currentDate: new Date(now) });
        if (typeof payload.sub !== 'string' || typeof payload.deal !== 'string' || typeof payload.exp !== 'number') return { ok: false, reason: 'malformed' };
        claims = { userId: payload.sub, dealId: payload.deal, expiresAt: payload.exp * 1000 };
      } catch (error) {
        const code = (error as { code?: string }).code;
        return { ok: false, reason: code === 'ERR_JWT_EXPIRED' ? 'expired' : code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' ? 'forged' : 'malformed' };
      }
      if (this.verified.size >= CACHE_LIMIT) this.verified.clear();
      this.verified.set(token, claims);
    }
    if (claims.expiresAt <= now) {
      this.verified.delete(token);
      return { ok: false, reason: 'expired' };
    }
    if (claims.userId !== userId) return { ok: false, reason: 'other-shopper' };
    if (claims.dealId !== dealId) return { ok: false, reason: 'other-deal' };
    return { ok: true, claims };
  }
}
