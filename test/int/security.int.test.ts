import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { io, type Socket } from 'socket.io-client';
import { bearer, makeDeal, makeUser, startTestApp } from '../support/app';
import { createTestDatabase, query } from '../support/services';
import { waitFor } from '../support/wait';

type Res = LightMyRequestResponse;
const PASSWORD = 'a long enough passphrase';
const ADMIN = { email: 'root-admin@security.dealrush.test', password: 'first admin passphrase' };

/** Every failure path of accounts, roles and hardening, on real MariaDB over real HTTP (issue 6). */
describe('accounts, roles and security (MariaDB)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: FastifyInstance;
  let base: string;
  let adminToken: string;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('sec');
    app = await startTestApp(db.url, {
      LOGIN_MAX_FAILURES: '3',
      LOGIN_LOCKOUT_SECONDS: '2',
      CORS_ORIGINS: 'https://shop.example',
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    adminToken = (await login(ADMIN.email, ADMIN.password)).json().accessToken;
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await app?.close();
    await db?.drop();
  });

  const post = (url: string, payload?: unknown, headers: Record<string, string> = {}, on = app) =>
    on.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
  const get = (url: string, token?: string, on = app) => on.inject({ method: 'GET', url, headers: token ? bearer(token) : {} });
  const login = (email: string, password: string, on = app, headers: Record<string, string> = {}) => post('/api/auth/login', { email, password }, headers, on);
  let n = 0;
  const freshEmail = () => `user${Date.now()}-${n++}@security.dealrush.test`;
  const signup = async (email = freshEmail()) => {
    const res = await post('/api/auth/signup', { email, password: PASSWORD, name: 'Sec User' });
    expect(res.statusCode).toBe(201);
    return res.json() as { user: { id: string; email: string; roles: string[] }; accessToken: string; refreshToken: string };
  };
  const expectProblem = (res: Res, status: number, code: string) => {
    expect({ status: res.statusCode, code: res.json().code }).toEqual({ status, code });
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = res.json();
    expect(body).toMatchObject({ type: expect.any(String), title: expect.any(String), status, detail: expect.any(String) });
    return body;
  };
  const connect = (token?: string) => {
    const socket = io(base, { transports: ['websocket'], reconnection: false, forceNew: true, ...(token === undefined ? {} : { auth: { token } }) });
    sockets.push(socket);
    return new Promise<{ ok: true; socket: Socket } | { ok: false; code: string }>((resolve) => {
      socket.once('connect', () => resolve({ ok: true, socket }));
      socket.once('connect_error', (err) => resolve({ ok: false, code: (err as Error & { data?: { code?: string } }).data?.code ?? err.message }));
    });
  };
  const dealBody = () => ({
    title: 'Sec deal', description: '', category: 'test', price: 1000, originalPrice: 2000, currency: 'KRW', totalStock: 5, perUserLimit: 1,
    startsAt: new Date(Date.now() - 1000).toISOString(), endsAt: new Date(Date.now() + 3_600_000).toISOString(),
  });

  describe('signup and passwords', () => {
    it.each([
      ['short', 'short pw', /at least 10 characters/],
      ['one repeated character', 'aaaaaaaaaaaa', /one repeated character/],
      ['too few different characters', 'abababababab', /at least 4 different characters/],
      ['a common password', 'Password123', /most common passwords/],
      ['the email', '', /not be your email or name/],
      ['too long', 'x'.repeat(60) + 'y'.repeat(69), /at most 128 characters/],
    ])('a weak password (%s) is refused with a clear message', async (_name, password, message) => {
      const email = freshEmail();
      const res = await post('/api/auth/signup', { email, password: password || email, name: 'Weak' });
      const body = expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(body.detail).toMatch(message);
      expect(body.errors).toEqual([{ path: 'body/password', message: expect.stringMatching(message) }]);
      expect(await query(db.url, 'SELECT id FROM users WHERE email = ?', [email])).toHaveLength(0);
    });

    it('normalises the email: a duplicate in another case is EMAIL_TAKEN, and login works in any case', async () => {
      const email = `Mixed.Case.${Date.now()}@Example.COM`;
      const created = await signup(email);
      expect(created.user.email).toBe(email.toLowerCase());
      expectProblem(await post('/api/auth/signup', { email: email.toUpperCase(), password: PASSWORD, name: 'Dup' }), 409, 'EMAIL_TAKEN');
      expect((await login(email.toLowerCase(), PASSWORD)).statusCode).toBe(200);
    });

    it('stores the password as argon2id with m >= 19 MiB, t >= 2, p = 1', async () => {
      const { user } = await signup();
      const [{ password_hash: hash }] = await query<{ password_hash: string }>(db.url, 'SELECT password_hash FROM users WHERE id = ?', [user.id]);
      // PHC string format: $argon2id$v=19$<params>$<salt>$<hash>, params in any order.
      const phc = /^\$argon2id\$v=19\$([a-z]=\d+(?:,[a-z]=\d+)*)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/.exec(hash);
      expect(phc).not.toBeNull();
      const params = Object.fromEntries(phc![1].split(',').map((kv) => [kv[0], Number(kv.slice(2))]));
      expect(params.m).toBeGreaterThanOrEqual(19 * 1024);
      expect(params.t).toBeGreaterThanOrEqual(2);
      expect(params.p).toBe(1);
    });

    it('refuses fields that do not belong (role, roles, status) without creating the account', async () => {
      for (const extra of [{ role: 'admin' }, { roles: ['admin'] }, { status: 'active' }, { sellerId: 'x' }]) {
        const email = freshEmail();
        expectProblem(await post('/api/auth/signup', { email, password: PASSWORD, name: 'Mass', ...extra }), 400, 'VALIDATION_FAILED');
        expect(await query(db.url, 'SELECT id FROM users WHERE email = ?', [email])).toHaveLength(0);
      }
    });
  });

  describe('login lockout', () => {
    it('locks after repeated failures (423 with Retry-After, even with the right password) and unlocks after the window', async () => {
      const { user } = await signup();
      expectProblem(await login(user.email, 'wrong password 1'), 401, 'UNAUTHORIZED');
      expectProblem(await login(user.email, 'wrong password 2'), 401, 'UNAUTHORIZED');
      const locking = expectProblem(await login(user.email, 'wrong password 3'), 423, 'ACCOUNT_LOCKED');
      expect(locking.detail).toMatch(/locked/);
      const locked = await login(user.email, PASSWORD);
      expectProblem(locked, 423, 'ACCOUNT_LOCKED');
      expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(locked.headers['retry-after'])).toBeLessThanOrEqual(2);
      await new Promise((r) => setTimeout(r, 2100));
      expect((await login(user.email, PASSWORD)).statusCode).toBe(200);
      // The streak was reset by the success: two more failures do not lock.
      await login(user.email, 'wrong password 4');
      await login(user.email, 'wrong password 5');
      expect((await login(user.email, PASSWORD)).statusCode).toBe(200);
    });

    it('an unknown email is 401 like a wrong password (no hint that the account exists)', async () => {
      const res = expectProblem(await login(freshEmail(), PASSWORD), 401, 'UNAUTHORIZED');
      expect(res.detail).toBe('the email or the password is wrong');
    });
  });

  describe('tokens', () => {
    it('rotates refresh tokens; reusing a rotated one revokes the whole family', async () => {
      const { refreshToken: first } = await signup();
      const second = await post('/api/auth/refresh', { refreshToken: first });
      expect(second.statusCode).toBe(200);
      const third = await post('/api/auth/refresh', { refreshToken: second.json().refreshToken });
      expect(third.statusCode).toBe(200);
      expect(third.json().refreshToken).not.toBe(second.json().refreshToken);
      expect((await get('/api/me', third.json().accessToken)).statusCode).toBe(200);
      // A thief replays the first token: the family is revoked, the legitimate newest token too.
      expectProblem(await post('/api/auth/refresh', { refreshToken: first }), 401, 'UNAUTHORIZED');
      expectProblem(await post('/api/auth/refresh', { refreshToken: third.json().refreshToken }), 401, 'UNAUTHORIZED');
      // Another login is another family, unaffected.
    });

    it('logout revokes the refresh token and its family; other sessions keep working', async () => {
      const { user, refreshToken } = await signup();
      const other = (await login(user.email, PASSWORD)).json();
      const rotated = (await post('/api/auth/refresh', { refreshToken })).json();
      const out = await post('/api/auth/logout', { refreshToken: rotated.refreshToken });
      expect(out.statusCode).toBe(204);
      expectProblem(await post('/api/auth/refresh', { refreshToken: rotated.refreshToken }), 401, 'UNAUTHORIZED');
      expect((await post('/api/auth/refresh', { refreshToken: other.refreshToken })).statusCode).toBe(200);
      expect((await post('/api/auth/logout', { refreshToken: 'never-issued' })).statusCode).toBe(204);
    });

    it('refuses forged, expired and non-access tokens on REST and sockets', async () => {
      const { user } = await signup();
      const expired = app.jwt.sign({ sub: user.id, roles: ['shopper'], typ: 'access' }, { expiresIn: -10 });
      const forged = (await signup()).accessToken.replace(/\.[^.]+$/, '.AAAA');
      const wrongType = app.jwt.sign({ sub: user.id, roles: ['shopper'], typ: 'refresh' } as never);
      for (const token of [expired, forged, wrongType, 'not-a-jwt']) {
        expectProblem(await get('/api/me', token), 401, 'UNAUTHORIZED');
        expect(await connect(token)).toEqual({ ok: false, code: 'UNAUTHORIZED' });
      }
      expect(await connect('')).toEqual({ ok: false, code: 'UNAUTHORIZED' });
      expect((await connect()).ok).toBe(true); // anonymous sockets watch public rooms
    });
  });

  describe('profile', () => {
    it('sets, reads and clears the default shipping address; refuses a bad one and unknown fields', async () => {
      const { accessToken, user } = await signup();
      const address = { name: 'Kim Minji', phone: '010-1234-5678', line1: '1 Sejong-daero', postalCode: '04524', country: 'KR' };
      expect((await get('/api/me/profile', accessToken)).json()).toEqual({ ...user, defaultShippingAddress: null });
      const set = await app.inject({ method: 'PATCH', url: '/api/me/profile', headers: bearer(accessToken), payload: { defaultShippingAddress: address, name: 'Minji' } });
      expect(set.statusCode).toBe(200);
      expect(set.json()).toMatchObject({ name: 'Minji', defaultShippingAddress: address });
      expect((await get('/api/me/profile', accessToken)).json().defaultShippingAddress).toEqual(address);
      for (const bad of [{ defaultShippingAddress: { ...address, country: 'Korea' } }, { roles: ['admin'] }, { email: 'x@y.z' }, {}, { name: '   ' }]) {
        expectProblem(await app.inject({ method: 'PATCH', url: '/api/me/profile', headers: bearer(accessToken), payload: bad }), 400, 'VALIDATION_FAILED');
      }
      expect((await get('/api/me', accessToken)).json().roles).toEqual(['shopper']);
      const cleared = await app.inject({ method: 'PATCH', url: '/api/me/profile', headers: bearer(accessToken), payload: { defaultShippingAddress: null } });
      expect(cleared.json().defaultShippingAddress).toBeNull();
    });
  });

  describe('roles', () => {
    it('every /api/seller and /api/admin route: 401 without a token, 403 for a shopper', async () => {
      const shopper = await signup();
      const spec = (await get('/docs/json')).json() as { paths: Record<string, Record<string, unknown>> };
      const guarded = Object.entries(spec.paths)
        .filter(([path]) => /^\/api\/(seller|admin)\//.test(path))
        .flatMap(([path, methods]) => Object.keys(methods).map((method) => ({ method: method.toUpperCase(), url: path.replace(/\{[^}]+\}/g, 'some-id') })));
      expect(guarded.length).toBeGreaterThanOrEqual(10);
      for (const route of guarded) {
        const anon = await app.inject({ method: route.method as 'GET', url: route.url, payload: route.method === 'GET' ? undefined : {} });
        expect({ ...route, status: anon.statusCode }).toEqual({ ...route, status: 401 });
        const res = await app.inject({ method: route.method as 'GET', url: route.url, headers: bearer(shopper.accessToken), payload: route.method === 'GET' ? undefined : {} });
        expect({ ...route, status: res.statusCode, code: res.json().code }).toEqual({ ...route, status: 403, code: 'FORBIDDEN' });
      }
    });

    it('a seller role in an old token does not count once the database says otherwise; an admin is not a seller', async () => {
      const { user } = await signup();
      const claimsSeller = app.signAccessToken(user.id, ['shopper', 'seller', 'admin']);
      expectProblem(await post('/api/seller/deals', dealBody(), bearer(claimsSeller)), 403, 'FORBIDDEN');
      expectProblem(await get('/api/admin/users', claimsSeller), 403, 'FORBIDDEN');
      expectProblem(await post('/api/seller/deals', dealBody(), bearer(adminToken)), 403, 'FORBIDDEN');
    });
  });

  describe('seller onboarding', () => {
    const application = { businessName: 'Minji Goods', registrationNumber: '123-45-67890', contactName: 'Kim Minji', contactEmail: 'Ops@Minji.example', contactPhone: '+82 10 1234 5678' };

    it('apply; an unapproved applicant cannot create deals; reject; apply again; approve; now deals are created on their own account', async () => {
      const applicant = await signup();
      const token = applicant.accessToken;
      expectProblem(await get('/api/me/seller-application', token), 404, 'NOT_FOUND');
      for (const bad of [{ ...application, registrationNumber: '' }, { ...application, contactEmail: 'nope' }, { ...application, status: 'approved' }, { ...application, businessName: '  ' }]) {
        expectProblem(await post('/api/me/seller-application', bad, bearer(token)), 400, 'VALIDATION_FAILED');
      }
      const applied = await post('/api/me/seller-application', application, bearer(token));
      expect(applied.statusCode).toBe(201);
      expect(applied.json()).toMatchObject({ status: 'pending', userId: applicant.user.id, contactEmail: 'ops@minji.example', decisionReason: null });
      expectProblem(await post('/api/me/seller-application', application, bearer(token)), 409, 'INVALID_STATE');
      expectProblem(await post('/api/seller/deals', dealBody(), bearer(token)), 403, 'FORBIDDEN');

      // Shoppers cannot decide; admins see it pending.
      const id = applied.json().id;
      expectProblem(await post(`/api/admin/seller-applications/${id}/approve`, undefined, bearer(token)), 403, 'FORBIDDEN');
      const pending = (await get('/api/admin/seller-applications?status=pending&q=minji', adminToken)).json();
      expect(pending.items.map((a: { id: string }) => a.id)).toContain(id);

      expectProblem(await post(`/api/admin/seller-applications/${id}/reject`, {}, bearer(adminToken)), 400, 'VALIDATION_FAILED');
      const rejected = await post(`/api/admin/seller-applications/${id}/reject`, { reason: 'registration number not found' }, bearer(adminToken));
      expect(rejected.json()).toMatchObject({ status: 'rejected', decisionReason: 'registration number not found' });
      expectProblem(await post(`/api/admin/seller-applications/${id}/approve`, undefined, bearer(adminToken)), 409, 'INVALID_STATE');
      expect((await get('/api/me/seller-application', token)).json()).toMatchObject({ status: 'rejected', decisionReason: 'registration number not found' });
      expectProblem(await post('/api/seller/deals', dealBody(), bearer(token)), 403, 'FORBIDDEN');

      const again = await post('/api/me/seller-application', { ...application, registrationNumber: '123-45-67891' }, bearer(token));
      expect(again.json()).toMatchObject({ id, status: 'pending' });
      const approved = await post(`/api/admin/seller-applications/${id}/approve`, undefined, bearer(adminToken));
      expect(approved.json()).toMatchObject({ status: 'approved', decidedAt: expect.any(String) });
      expectProblem(await post(`/api/admin/seller-applications/no-such-id/approve`, undefined, bearer(adminToken)), 404, 'NOT_FOUND');

      // The same access token (issued before approval) now creates deals: roles are read at the request.
      const created = await post('/api/seller/deals', { ...dealBody(), sellerId: 'someone-else' }, bearer(token));
      expectProblem(created, 400, 'VALIDATION_FAILED');
      const deal = await post('/api/seller/deals', dealBody(), bearer(token));
      expect(deal.statusCode).toBe(201);
      expect(deal.json().sellerId).toBe(applicant.user.id);
      expectProblem(await post('/api/me/seller-application', application, bearer(token)), 409, 'INVALID_STATE');
      // A refresh carries the new role.
      const refreshed = (await post('/api/auth/refresh', { refreshToken: applicant.refreshToken })).json();
      expect((await get('/api/me', refreshed.accessToken)).json().roles).toEqual(['shopper', 'seller']);
    });

    it("an approved seller sees only their own deals' sales (another seller's: 404)", async () => {
      const a = await makeUser(app, ['shopper', 'seller']);
      const b = await makeUser(app, ['shopper', 'seller']);
      const deal = await makeDeal(app, a.token);
      expect((await get(`/api/seller/deals/${deal.id}/sales`, a.token)).statusCode).toBe(200);
      expectProblem(await get(`/api/seller/deals/${deal.id}/sales`, b.token), 404, 'NOT_FOUND');
      expect((await get('/api/seller/deals', b.token)).json().items).toEqual([]);
      expect((await get(`/api/seller/deals/${deal.id}/sales`, adminToken)).statusCode).toBe(200);
    });
  });

  describe('admin', () => {
    it('the first admin comes from ADMIN_EMAIL/ADMIN_PASSWORD', async () => {
      const res = await login(ADMIN.email.toUpperCase(), ADMIN.password);
      expect(res.json().user.roles).toEqual(['shopper', 'admin']);
    });

    it('lists and searches users and sellers with keyset pagination', async () => {
      const tag = `page${Date.now()}`;
      const made = [];
      for (let i = 0; i < 5; i++) made.push((await signup(`${tag}-${i}@security.dealrush.test`)).user.id);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: Res = await get(`/api/admin/users?q=${tag}&limit=2${cursor ? `&cursor=${cursor}` : ''}`, adminToken);
        expect(res.statusCode).toBe(200);
        seen.push(...res.json().items.map((u: { id: string }) => u.id));
        cursor = res.json().nextCursor;
      } while (cursor);
      expect(seen).toEqual([...made].reverse());
      const sellers = (await get('/api/admin/users?role=seller&limit=100', adminToken)).json().items;
      expect(sellers.length).toBeGreaterThan(0);
      expect(sellers.every((u: { roles: string[] }) => u.roles.includes('seller'))).toBe(true);
      expect((await get(`/api/admin/users/${made[0]}`, adminToken)).json()).toMatchObject({ id: made[0], status: 'active', roles: ['shopper'] });
      expectProblem(await get('/api/admin/users/nobody', adminToken), 404, 'NOT_FOUND');
      expectProblem(await get('/api/admin/users?cursor=garbage', adminToken), 400, 'VALIDATION_FAILED');
      expectProblem(await get('/api/admin/users?role=king', adminToken), 400, 'VALIDATION_FAILED');
    });

    it("suspension: the seller's tokens stop at once (REST, refresh, sockets), open and scheduled deals pause; unsuspend lets them log in", async () => {
      const seller = await signup();
      await query(db.url, "UPDATE users SET roles = 'shopper,seller' WHERE id = ?", [seller.user.id]);
      const open = (await post('/api/seller/deals', dealBody(), bearer(seller.accessToken))).json();
      const later = (await post('/api/seller/deals', { ...dealBody(), startsAt: new Date(Date.now() + 3_600_000).toISOString(), endsAt: new Date(Date.now() + 7_200_000).toISOString() }, bearer(seller.accessToken))).json();
      expect([open.status, later.status]).toEqual(['open', 'scheduled']);
      const live = await connect(seller.accessToken);
      expect(live.ok).toBe(true);
      const dropped = new Promise<void>((resolve) => (live as { socket: Socket }).socket.once('disconnect', () => resolve()));

      expectProblem(await post(`/api/admin/users/${seller.user.id}/suspend`, undefined, bearer(seller.accessToken)), 403, 'FORBIDDEN');
      const suspended = await post(`/api/admin/users/${seller.user.id}/suspend`, undefined, bearer(adminToken));
      expect(suspended.statusCode).toBe(200);
      expect(suspended.json()).toMatchObject({ user: { status: 'suspended', suspendedAt: expect.any(String) } });
      expect(suspended.json().pausedDeals.sort()).toEqual([open.id, later.id].sort());

      const me = expectProblem(await get('/api/me', seller.accessToken), 401, 'UNAUTHORIZED');
      expect(me.detail).toMatch(/suspended/);
      expectProblem(await post('/api/seller/deals', dealBody(), bearer(seller.accessToken)), 401, 'UNAUTHORIZED');
      expectProblem(await app.inject({ method: 'POST', url: '/api/cart/items', headers: { ...bearer(seller.accessToken), 'idempotency-key': 'k1' }, payload: { dealId: open.id, quantity: 1 } }), 401, 'UNAUTHORIZED');
      expectProblem(await post('/api/auth/refresh', { refreshToken: seller.refreshToken }), 401, 'UNAUTHORIZED');
      expectProblem(await login(seller.user.email, PASSWORD), 403, 'FORBIDDEN');
      await dropped;
      expect(await connect(seller.accessToken)).toEqual({ ok: false, code: 'UNAUTHORIZED' });
      for (const id of [open.id, later.id]) expect((await get(`/api/deals/${id}`)).json().status).toBe('paused');
      expectProblem(await post(`/api/admin/users/${(await get('/api/me', adminToken)).json().id}/suspend`, undefined, bearer(adminToken)), 409, 'INVALID_STATE');
      expectProblem(await post('/api/admin/users/nobody/suspend', undefined, bearer(adminToken)), 404, 'NOT_FOUND');
      expect((await get('/api/admin/users?status=suspended', adminToken)).json().items.map((u: { id: string }) => u.id)).toContain(seller.user.id);

      const lifted = await post(`/api/admin/users/${seller.user.id}/unsuspend`, undefined, bearer(adminToken));
      expect(lifted.json()).toMatchObject({ status: 'active', suspendedAt: null });
      const back = await login(seller.user.email, PASSWORD);
      expect(back.statusCode).toBe(200);
      expect((await get('/api/me', back.json().accessToken)).statusCode).toBe(200);
      expect((await get(`/api/deals/${open.id}`)).json().status).toBe('paused');
    });

    it('a suspension made on another node reaches this one with the next sync', async () => {
      const shopper = await signup();
      await query(db.url, "UPDATE users SET status = 'suspended' WHERE id = ?", [shopper.user.id]);
      await waitFor(async () => (await get('/api/me', shopper.accessToken)).statusCode === 401, 8000);
      await query(db.url, "UPDATE users SET status = 'active' WHERE id = ?", [shopper.user.id]);
      await waitFor(async () => (await get('/api/me', shopper.accessToken)).statusCode === 200, 8000);
    });
  });

  describe('hardening', () => {
    it('sends helmet headers with a CSP, on API answers and on /docs', async () => {
      for (const url of ['/api/deals', '/docs/json', '/health/live']) {
        const res = await get(url);
        expect(res.headers['x-content-type-options']).toBe('nosniff');
        expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
        expect(res.headers['strict-transport-security']).toMatch(/max-age=/);
        expect(res.headers['content-security-policy']).toMatch(/default-src 'self'/);
        expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
        expect(res.headers['x-powered-by']).toBeUndefined();
      }
    });

    it('CORS: the configured origin is allowed, another is not', async () => {
      const allowed = await app.inject({ method: 'OPTIONS', url: '/api/deals', headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,idempotency-key' } });
      expect(allowed.statusCode).toBe(204);
      expect(allowed.headers['access-control-allow-origin']).toBe('https://shop.example');
      expect(String(allowed.headers['access-control-allow-headers'])).toMatch(/idempotency-key/);
      expect((await app.inject({ method: 'GET', url: '/api/deals', headers: { origin: 'https://shop.example' } })).headers['access-control-allow-origin']).toBe('https://shop.example');
      const denied = await app.inject({ method: 'OPTIONS', url: '/api/deals', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
      expect(denied.headers['access-control-allow-origin']).toBeUndefined();
      expect((await app.inject({ method: 'GET', url: '/api/deals', headers: { origin: 'https://evil.example' } })).headers['access-control-allow-origin']).toBeUndefined();
    });

    it('a body over the limit is 413 problem+json', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/auth/signup', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ email: 'a@b.co', password: 'x'.repeat(70_000), name: 'Big' }) });
      expectProblem(res, 413, 'PAYLOAD_TOO_LARGE');
    });

    it('malformed input never answers 500 and never shows internals', async () => {
      const shopper = await signup();
      const auth = bearer(shopper.accessToken);
      const bodies = ['{', '[]', 'null', '"x"', '{"email": {"$gt": ""}}', `{"email": "${'a'.repeat(10_000)}@x.co", "password": "p"}`, '{"a":'.repeat(2000), JSON.stringify({ email: 'a@b.co', password: 1, name: ['x'] })];
      const routes: Array<[string, string]> = [
        ['POST', '/api/auth/signup'], ['POST', '/api/auth/login'], ['POST', '/api/auth/refresh'], ['POST', '/api/auth/logout'], ['PATCH', '/api/me/profile'],
        ['POST', '/api/me/seller-application'], ['POST', '/api/cart/items'], ['POST', '/api/orders'], ['POST', '/api/seller/deals'],
      ];
      for (const [method, url] of routes) {
        for (const payload of bodies) {
          for (const contentType of ['application/json', 'text/plain', 'application/x-www-form-urlencoded']) {
            const res = await app.inject({ method: method as 'POST', url, headers: { ...auth, 'content-type': contentType, 'idempotency-key': `k-${n++}` }, payload });
            expect({ method, url, payload: payload.slice(0, 30), status: res.statusCode < 500 }).toEqual({ method, url, payload: payload.slice(0, 30), status: true });
            expect(res.body).not.toMatch(/\bat \w+ \(|node_modules|SELECT |INSERT |ER_[A-Z_]+|stack/);
          }
        }
      }
      for (const url of ['/api/admin/users?limit=abc', '/api/admin/users?limit=1e9', '/api/admin/users?q=%00%27%22', "/api/admin/users?q=' OR 1=1 --", '/api/admin/users/%2e%2e%2f', '/api/deals/%E0%A4%A']) {
        const res = await get(url, adminToken);
        expect({ url, ok: res.statusCode < 500 }).toEqual({ url, ok: true });
      }
    });
  });

  describe('rate limits', () => {
    let limited: FastifyInstance;
    let proxied: FastifyInstance;
    beforeAll(async () => {
      const low = { RATE_LIMIT_LOGIN_PER_ADDRESS: '5', RATE_LIMIT_LOGIN_PER_ACCOUNT: '1000', RATE_LIMIT_SIGNUP_PER_ADDRESS: '2', RATE_LIMIT_HOLDS_PER_USER: '2', RATE_LIMIT_WINDOW_SECONDS: '30' };
      limited = await startTestApp(db.url, low);
      proxied = await startTestApp(db.url, { ...low, TRUST_PROXY: '127.0.0.1' });
    });
    afterAll(async () => {
      await limited?.close();
      await proxied?.close();
    });

    it('a login flood from one address gets 429 RATE_LIMITED with Retry-After', async () => {
      const email = freshEmail();
      for (let i = 0; i < 5; i++) expect((await login(email, PASSWORD, limited)).statusCode).toBe(401);
      const res = await login(email, PASSWORD, limited);
      const body = expectProblem(res, 429, 'RATE_LIMITED');
      expect(body.detail).toMatch(/from your address/);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(30);
      // Another client address is not affected.
      expect((await limited.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: '10.9.8.7', payload: { email, password: PASSWORD } })).statusCode).toBe(401);
    });

    it('X-Forwarded-For is believed only behind TRUST_PROXY', async () => {
      const signupFrom = (on: FastifyInstance, forwarded: string) =>
        on.inject({ method: 'POST', url: '/api/auth/signup', headers: { 'x-forwarded-for': forwarded }, payload: { email: freshEmail(), password: PASSWORD, name: 'Fwd' } });
      // Untrusted: the header is ignored, so two "different" clients share the socket address's counter.
      expect((await signupFrom(limited, '203.0.113.1')).statusCode).toBe(201);
      expect((await signupFrom(limited, '203.0.113.2')).statusCode).toBe(201);
      expectProblem(await signupFrom(limited, '203.0.113.3'), 429, 'RATE_LIMITED');
      // Trusted proxy (the inject address 127.0.0.1): each forwarded client has its own counter.
      for (const client of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
        expect((await signupFrom(proxied, client)).statusCode).toBe(201);
        expect((await signupFrom(proxied, client)).statusCode).toBe(201);
      }
      expectProblem(await signupFrom(proxied, '198.51.100.1'), 429, 'RATE_LIMITED');
    });

    it('holds are limited per user; the refused request stores no idempotent answer', async () => {
      const seller = await makeUser(limited, ['shopper', 'seller']);
      const deal = await makeDeal(limited, seller.token, { totalStock: 100, perUserLimit: 50 });
      const a = await makeUser(limited);
      const b = await makeUser(limited);
      const hold = (token: string, key: string) =>
        limited.inject({ method: 'POST', url: '/api/cart/items', headers: { ...bearer(token), 'idempotency-key': key }, payload: { dealId: deal.id, quantity: 1 } });
      expect((await hold(a.token, 'a1')).statusCode).toBe(201);
      expect((await hold(a.token, 'a2')).statusCode).toBe(201);
      const refused = await hold(a.token, 'a3');
      expect(expectProblem(refused, 429, 'RATE_LIMITED').detail).toMatch(/from your account/);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect((await hold(b.token, 'b1')).statusCode).toBe(201);
      expect(await query(db.url, 'SELECT key_hash FROM idempotency_keys WHERE user_id = ?', [a.id])).toHaveLength(2);
    });
  });
});

/** The rate-limit counters in Redis: shared by every node, and failing open when Redis is down. */
describe('rate limits in Redis', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  const apps: FastifyInstance[] = [];
  beforeAll(async () => {
    db = await createTestDatabase('rl');
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await db?.drop();
  });
  const start = async (env: Record<string, string>) => {
    const app = await startTestApp(db.url, { RATE_LIMIT_SIGNUP_PER_ADDRESS: '2', ...env });
    apps.push(app);
    return app;
  };
  // A fresh client address per run: counters of an earlier run may still be in Redis.
  const client = `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
  const signup = (app: FastifyInstance) =>
    app.inject({ method: 'POST', url: '/api/auth/signup', remoteAddress: client, payload: { email: `r${Date.now()}-${Math.random()}@rl.dealrush.test`, password: PASSWORD, name: 'R' } });

  it('two nodes share one counter', async () => {
    const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const [a, b] = [await start({ REDIS_URL: redisUrl }), await start({ REDIS_URL: redisUrl })];
    expect((await signup(a)).statusCode).toBe(201);
    expect((await signup(b)).statusCode).toBe(201);
    const refused = await signup(a);
    expect(refused.statusCode).toBe(429);
    expect(refused.json().code).toBe('RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('Redis down: the limits fail open (requests go through)', async () => {
    const app = await start({ REDIS_URL: 'redis://127.0.0.1:1' });
    for (let i = 0; i < 4; i++) expect((await signup(app)).statusCode).toBe(201);
  });
});
