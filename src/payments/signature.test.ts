import { createHmac } from 'node:crypto';
import { signatureHeader, signatureOf, verifySignature } from './signature';

const SECRET = 'current-secret-0123456789';
const OLD = 'previous-secret-0123456789';
const body = Buffer.from('{"id":"evt_1","type":"payment.approved"}');
const T = 1_763_700_000;

describe('webhook signatures', () => {
  it('signs t + "." + body with HMAC-SHA256 in hex, and verifies it', () => {
    // The scheme, computed independently.
    expect(signatureOf('key', 1, 'x')).toBe(createHmac('sha256', 'key').update('1.x').digest('hex'));
    const header = signatureHeader(SECRET, T, body);
    expect(header).toMatch(/^t=1763700000,v1=[0-9a-f]{64}$/);
    expect(verifySignature(header, body, [SECRET], T + 10)).toEqual({ ok: true, timestamp: T, secretIndex: 0 });
  });

  it('refuses a tampered body, a wrong secret, a missing or malformed header', () => {
    const header = signatureHeader(SECRET, T, body);
    expect(verifySignature(header, Buffer.from(body.toString().replace('approved', 'declined')), [SECRET], T)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(signatureHeader('another-secret-000000', T, body), body, [SECRET], T)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(undefined, body, [SECRET], T).ok).toBe(false);
    for (const bad of ['garbage', 't=abc,v1=00', `t=${T}`, `v1=${'0'.repeat(64)}`, `t=${T},v1=zz`]) {
      expect(verifySignature(bad, body, [SECRET], T)).toEqual({ ok: false, reason: 'malformed' });
    }
  });

  it('refuses a timestamp more than 300 s away, even when correctly signed', () => {
    expect(verifySignature(signatureHeader(SECRET, T, body), body, [SECRET], T + 301)).toEqual({ ok: false, reason: 'stale' });
    expect(verifySignature(signatureHeader(SECRET, T + 301, body), body, [SECRET], T)).toEqual({ ok: false, reason: 'stale' });
    expect(verifySignature(signatureHeader(SECRET, T, body), body, [SECRET], T + 300).ok).toBe(true);
  });

  it('accepts the previous secret during a rotation, and any of several v1 entries', () => {
    expect(verifySignature(signatureHeader(OLD, T, body), body, [SECRET, OLD], T)).toEqual({ ok: true, timestamp: T, secretIndex: 1 });
    expect(verifySignature(signatureHeader(OLD, T, body), body, [SECRET], T).ok).toBe(false);
    const both = `t=${T},v1=${signatureOf('unknown-secret-0000', T, body)},v1=${signatureOf(SECRET, T, body)}`;
    expect(verifySignature(both, body, [SECRET], T).ok).toBe(true);
  });
});
