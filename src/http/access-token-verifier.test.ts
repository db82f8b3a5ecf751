import { createHmac } from 'node:crypto';
import { createSigner, createVerifier } from 'fast-jwt';
import { AccessTokenVerifier, bearerToken, InvalidAccessToken } from './access-token-verifier';

const SECRET = 'a-test-secret-of-enough-length-0123456789';
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const signWith = (header: unknown, payload: unknown, secret = SECRET, alg = 'sha256') => {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac(alg, secret).update(input).digest('base64url')}`;
};

describe('AccessTokenVerifier', () => {
  const sign = createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 60_000 });
  const reference = createVerifier({ key: SECRET, algorithms: ['HS256'] });
  const claims = { sub: 'u-1', roles: ['shopper'], typ: 'access' };

  it('accepts what @fastify/jwt signs, with the same claims fast-jwt reads', () => {
    const token = sign(claims);
    const verifier = new AccessTokenVerifier(SECRET);
    expect(verifier.verify(token)).toEqual(reference(token));
    expect(verifier.verify(token)).toMatchObject(claims); // a second time: from the cache
  });

  it('refuses every token fast-jwt refuses: forged, other secret, other algorithm, none, expired, not yet valid, malformed', () => {
    const now = Date.now();
    const valid = sign(claims);
    const [h, p, s] = valid.split('.');
    const forgedPayload = `${h}.${b64({ ...claims, roles: ['admin'], exp: Math.floor(now / 1000) + 60 })}.${s}`;
    const cases: string[] = [
      forgedPayload,
      `${h}.${p}.${s.slice(0, -2)}${s.slice(-2) === 'AA' ? 'AB' : 'AA'}`,
      signWith({ alg: 'HS256', typ: 'JWT' }, { ...claims, exp: Math.floor(now / 1000) + 60 }, 'another-secret'),
      signWith({ alg: 'HS512', typ: 'JWT' }, { ...claims, exp: Math.floor(now / 1000) + 60 }, SECRET, 'sha512'),
      `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`,
      signWith({ alg: 'HS256' }, { ...claims, exp: Math.floor(now / 1000) - 1 }),
      signWith({ alg: 'HS256' }, { ...claims, nbf: Math.floor(now / 1000) + 60 }),
      signWith({ alg: 'HS256', crit: ['b64'], b64: false }, claims),
      signWith({ alg: 'HS256' }, [claims]),
      signWith(['HS256'], claims),
      `${valid}.extra`,
      ` ${valid}`,
      'not a token',
      '',
    ];
    const verifier = new AccessTokenVerifier(SECRET);
    verifier.verify(valid); // a cached valid token must not make a variant of it pass
    for (const token of cases) {
      expect(() => reference(token)).toThrow();
      expect(() => verifier.verify(token, now)).toThrow(InvalidAccessToken);
    }
  });

  it('a cached token stops at its expiry', () => {
    const now = Date.now();
    const token = signWith({ alg: 'HS256', typ: 'JWT' }, { ...claims, exp: Math.floor(now / 1000) + 2 });
    const verifier = new AccessTokenVerifier(SECRET);
    expect(verifier.verify(token, now)).toMatchObject(claims);
    expect(() => verifier.verify(token, now + 3000)).toThrow(InvalidAccessToken);
  });

  it('keeps at most two generations of cacheSize tokens', () => {
    const verifier = new AccessTokenVerifier(SECRET, 2);
    const tokens = [1, 2, 3, 4, 5].map((n) => sign({ ...claims, sub: `u-${n}` }));
    for (const t of tokens) verifier.verify(t);
    const { young, old } = verifier as unknown as { young: Map<string, unknown>; old: Map<string, unknown> };
    expect(young.size + old.size).toBeLessThanOrEqual(4);
    for (const t of tokens) expect(verifier.verify(t).sub).toMatch(/^u-\d$/);
  });
});

describe('bearerToken', () => {
  it('reads one token after the Bearer scheme, in any case, like @fastify/jwt', () => {
    expect(bearerToken('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken('Bearer abc def')).toBeNull();
    expect(bearerToken('Bearer ')).toBeNull();
    expect(bearerToken('Basic abc')).toBeNull();
    expect(bearerToken('Bearer  abc')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });
});
