import { createHmac, timingSafeEqual } from 'node:crypto';

/** Name of the header that carries a webhook's signature (CONTRACT.md, the payment gateway). */
export const SIGNATURE_HEADER = 'dealrush-signature';
/** Oldest (and furthest in the future) a signed timestamp may be, seconds (CONTRACT.md: 300 s). */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/** Hex HMAC-SHA256 of `t + "." + rawBody` under `secret` (the scheme of Stripe's `Stripe-Signature`). */
export function signatureOf(secret: string, timestamp: number, rawBody: Buffer | string): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
}

/**
 * The `Dealrush-Signature` header value for a body sent at `timestamp` (unix seconds):
 * `t=<unix s>,v1=<hex HMAC-SHA256(secret, t + "." + rawBody)>`.
 * @example signatureHeader('whsec_…', 1763700000, '{"id":"evt_1"}') // 't=1763700000,v1=5f2c…'
 */
export function signatureHeader(secret: string, timestamp: number, rawBody: Buffer | string): string {
  return `t=${timestamp},v1=${signatureOf(secret, timestamp, rawBody)}`;
}

export type SignatureCheck = { ok: true; timestamp: number; secretIndex: number } | { ok: false; reason: 'missing' | 'malformed' | 'stale' | 'mismatch' };

/**
 * Checks a `Dealrush-Signature` header against the raw request body. Every `v1=` entry is compared
 * with the expected HMAC of every accepted secret (the current one first, then the previous one
 * during a rotation) in constant time (`crypto.timingSafeEqual`), so the comparison leaks nothing
 * about how much of a forged signature was right. A timestamp more than `toleranceSeconds` from
 * `nowSeconds` is refused (a replayed old delivery), whatever its signature.
 */
export function verifySignature(
  header: string | string[] | undefined,
  rawBody: Buffer,
  secrets: string[],
  nowSeconds: number,
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): SignatureCheck {
  if (typeof header !== 'string' || header.length === 0) return { ok: false, reason: 'missing' };
  let timestamp: number | null = null;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return { ok: false, reason: 'malformed' };
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (!/^\d{1,12}$/.test(value)) return { ok: false, reason: 'malformed' };
      timestamp = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/i.test(value)) return { ok: false, reason: 'malformed' };
      signatures.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestamp === null || signatures.length === 0) return { ok: false, reason: 'malformed' };
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return { ok: false, reason: 'stale' };
  let matched = -1;
  secrets.forEach((secret, index) => {
    const expected = Buffer.from(signatureOf(secret, timestamp!, rawBody), 'hex');
    for (const given of signatures) {
      // Both are 32 bytes (checked above), as timingSafeEqual needs; no early exit on a match.
      if (timingSafeEqual(expected, given) && matched === -1) matched = index;
    }
  });
  return matched === -1 ? { ok: false, reason: 'mismatch' } : { ok: true, timestamp, secretIndex: matched };
}
