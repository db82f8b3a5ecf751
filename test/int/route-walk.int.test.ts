jest.mock('fastify', () => jest.requireActual('../support/route-table').wrappedFastify());

import { randomUUID } from 'node:crypto';
import { createSigner } from 'fast-jwt';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { bearer, makeDeal, makeUser, SHIPPING, startTestApp } from '../support/app';
import { fillUrl, routeTable, type TableRoute } from '../support/route-table';
import { createTestDatabase, query } from '../support/services';

/**
 * Issue 6, "authorization everywhere", driven by fastify's own route table (collected with an
 * `onRoute` hook, so a route added tomorrow is walked without touching this file):
 * - every route is either on the public allow-list below or answers 401 without a token;
 * - every /api/seller, /api/admin and /admin/queues route answers 403 to a shopper;
 * - every route that takes an object id, called by another user with the victim's ids, answers
 *   404 or 403, changes nothing and shows none of the victim's data.
 * Then mass assignment: fields that do not belong are VALIDATION_FAILED and change no row.
 */

type User = { id: string; token: string; email: string };
type Res = LightMyRequestResponse;

/** Routes anyone may call, with why. Anything else must refuse an anonymous caller. */
const PUBLIC: Array<[RegExp, string]> = [
  [/^GET \/health\/(live|ready)$/, 'probes'],
  [/^GET \/metrics$/, 'Prometheus scrape (network-level protection, as usual for /metrics)'],
  [/^GET \/docs(\/.*)?$/, 'the OpenAPI document and swagger-ui'],
  [/^POST \/api\/auth\/(signup|login|refresh|logout)$/, 'how one gets a token'],
  [/^GET \/api\/deals(\/:dealId)?$/, 'the public catalogue'],
  [/^POST \/api\/payments\/webhook$/, "the gateway's webhook: authenticated by its HMAC signature instead"],
  // The bundled mock card gateway (its payments and card page), mounted in-process only when
  // GATEWAY_URL is unset; a real deployment points GATEWAY_URL at the gateway and none of these
  // exist. Its test routes (fault injection, delivery log) are not served here: they need
  // GATEWAY_FAULT_ROUTES=1 (see the test below). Kept narrow so a new /v1 route is noticed.
  [/^(GET|POST) \/v1\/payments(\/:paymentId(\/(checkout|approve|decline|refund))?)?$/, 'the mock gateway: payments'],
];
const isPublic = (key: string) => PUBLIC.some(([re]) => re.test(key));
const isPrivileged = (url: string) => /^\/(api\/(seller|admin)|admin\/queues)(\/|$)/.test(url);

/**
 * Routes whose id names a public thing (a deal) and whose answer is about the caller only (their
 * own ticket in its waiting room): another user's call gets their own state, never the victim's.
 */
const CALLER_SCOPED = new Set(['POST /api/deals/:dealId/queue', 'GET /api/deals/:dealId/queue/me', 'DELETE /api/deals/:dealId/queue']);

/** Bodies that pass validation, so an object-id call reaches the ownership check. */
const SAMPLE_BODY: Record<string, unknown> = {
  'POST /api/orders/:orderId/payment': { method: 'card' },
};

describe('route walk: authentication, roles and object ownership on every route (MariaDB)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: FastifyInstance;
  let routes: TableRoute[];
  let admin: User, sellerA: User, sellerB: User, victim: User, attacker: User;
  let deal: Record<string, any>;
  const ids: Record<string, string> = {};
  /** Strings of the victim's that must appear in no answer to someone else. */
  const secrets: string[] = [];

  const call = (method: string, url: string, token?: string, payload?: unknown, headers: Record<string, string> = {}) =>
    app.inject({
      method: method as 'GET',
      url,
      headers: { ...(token ? bearer(token) : {}), 'idempotency-key': randomUUID(), ...headers },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const bodyFor = (route: TableRoute) => (route.schema?.body ? (SAMPLE_BODY[route.key] ?? {}) : ['GET', 'DELETE'].includes(route.method) ? undefined : {});
  const show = (route: TableRoute, res: Res) => ({ route: route.key, status: res.statusCode, body: res.body.slice(0, 300) });

  beforeAll(async () => {
    db = await createTestDatabase('walk');
    app = await startTestApp(db.url);
    routes = routeTable(app);
    admin = await makeUser(app, ['shopper', 'admin']);
    sellerA = await makeUser(app, ['shopper', 'seller']);
    sellerB = await makeUser(app, ['shopper', 'seller']);
    victim = await makeUser(app, ['shopper']);
    attacker = await makeUser(app, ['shopper']);
    deal = await makeDeal(app, sellerA.token, { totalStock: 20, perUserLimit: 5 });

    // The victim's things: an order (from a first hold), a hold still in the cart, a seller
    // application, a waiting-room ticket and a profile with an address.
    const h1 = await call('POST', '/api/cart/items', victim.token, { dealId: deal.id, quantity: 1 });
    expect(h1.statusCode).toBe(201);
    const order = await call('POST', '/api/orders', victim.token, { holdIds: [h1.json().hold.id], shippingAddress: SHIPPING });
    expect(order.statusCode).toBe(201);
    const h2 = await call('POST', '/api/cart/items', victim.token, { dealId: deal.id, quantity: 2 });
    expect(h2.statusCode).toBe(201);
    const application = await call('POST', '/api/me/seller-application', victim.token, {
      businessName: 'Victim Trading', registrationNumber: 'VIC-123-45', contactName: 'Vic Tim', contactEmail: 'vic@victim.example', contactPhone: '010-9999-8888',
    });
    expect(application.statusCode).toBe(201);
    expect((await call('PATCH', '/api/me/profile', victim.token, { defaultShippingAddress: { ...SHIPPING, line1: '77 Victim-ro' } })).statusCode).toBe(200);
    const ticket = await call('POST', `/api/deals/${deal.id}/queue`, victim.token);
    if (ticket.statusCode < 300) secrets.push(...Object.values(ticket.json() as Record<string, unknown>).filter((v): v is string => typeof v === 'string' && v.length >= 16));

    Object.assign(ids, { orderId: order.json().id, holdId: h2.json().hold.id, dealId: deal.id, userId: victim.id, applicationId: application.json().id });
    secrets.push(victim.email, victim.id, order.json().id, h1.json().hold.id, h2.json().hold.id, application.json().id, 'Victim Trading', 'VIC-123-45', 'vic@victim.example', '77 Victim-ro');
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('the table is what we expect to walk (sanity): many routes, ids included', () => {
    expect(routes.length).toBeGreaterThanOrEqual(45);
    for (const key of ['GET /api/orders/:orderId', 'DELETE /api/cart/items/:holdId', 'GET /api/admin/users/:userId', 'GET /admin/queues', 'GET /metrics']) {
      expect(routes.map((r) => r.key)).toContain(key);
    }
    // Every public allow-list entry still matches a route (no stale entries hiding a rename).
    for (const [re, why] of PUBLIC) expect({ why, matched: routes.some((r) => re.test(r.key)) }).toEqual({ why, matched: true });
  });

  it("the in-process gateway's test routes are not served without GATEWAY_FAULT_ROUTES=1: 404, and the faults stay off", async () => {
    for (const [method, url, body] of [
      ['PUT', '/v1/_faults', { dropNext: 5, signingSecret: 'forged-secret-forged-secret' }],
      ['DELETE', '/v1/_faults', undefined],
      ['GET', '/v1/_faults', undefined],
      ['GET', '/v1/_deliveries', undefined],
    ] as const) {
      for (const token of [undefined, admin.token]) {
        const res = await call(method, url, token, body);
        expect({ method, url, status: res.statusCode, code: res.json().code }).toEqual({ method, url, status: 404, code: 'NOT_FOUND' });
      }
    }
    expect(app.mockGateway).not.toBeNull();
    expect(app.mockGateway!.faults).toMatchObject({ dropNext: 0, signingSecret: null });
  });

  it('every route not on the public allow-list answers 401 problem+json without a token (and with a forged one)', async () => {
    const forged = createSigner({ key: 'another-secret-another-secret-0123456789', expiresIn: 600_000 })({ sub: victim.id, roles: ['shopper', 'admin'], typ: 'access' });
    const failures: unknown[] = [];
    let checked = 0;
    for (const route of routes.filter((r) => !isPublic(r.key))) {
      const url = fillUrl(route.url, ids);
      for (const token of [undefined, forged]) {
        const res = await call(route.method, url, token, bodyFor(route));
        checked++;
        if (res.statusCode !== 401 || !String(res.headers['content-type']).startsWith('application/problem+json') || res.json().code !== 'UNAUTHORIZED') failures.push(show(route, res));
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(70);
  });

  it('every /api/seller, /api/admin and /admin/queues route answers 403 FORBIDDEN to a shopper (and admin routes to a seller)', async () => {
    const privileged = routes.filter((r) => isPrivileged(r.url));
    expect(privileged.length).toBeGreaterThanOrEqual(20);
    const failures: unknown[] = [];
    for (const route of privileged) {
      const url = fillUrl(route.url, ids);
      const callers = /^\/api\/seller\//.test(route.url) ? [attacker] : [attacker, sellerB];
      for (const who of callers) {
        const res = await call(route.method, url, who.token, bodyFor(route));
        if (res.statusCode !== 403 || res.json().code !== 'FORBIDDEN' || secrets.some((s) => res.body.includes(s))) failures.push({ who: who === attacker ? 'shopper' : 'seller', ...show(route, res) });
      }
    }
    expect(failures).toEqual([]);
  });

  it("every route that takes an object id, called with another user's ids, answers 404 or 403, leaks nothing and changes nothing", async () => {
    const ownerOf: Record<string, User> = {};
    const before = await victimState();
    const failures: unknown[] = [];
    const walked: string[] = [];
    for (const route of routes.filter((r) => r.params.length > 0 && !isPublic(r.key))) {
      // Fail on a parameter this walk does not know: a new kind of id must be added above.
      for (const p of route.params) if (!(p in ids)) failures.push({ route: route.key, problem: `unknown parameter :${p}: give the walk a victim's ${p}` });
      if (route.params.some((p) => !(p in ids))) continue;
      // The other user: another seller for seller routes (the victim's deal is seller A's), else
      // another shopper (admin routes: both, above; here the shopper).
      const intruder = /^\/api\/seller\//.test(route.url) ? sellerB : attacker;
      ownerOf[route.key] = intruder;
      const url = fillUrl(route.url, ids);
      const res = await call(route.method, url, intruder.token, bodyFor(route));
      walked.push(route.key);
      // Secrets named in the URL are the caller's own input, which a 404's detail may echo.
      const leaked = secrets.filter((s) => !url.includes(s) && res.body.includes(s));
      if (leaked.length > 0) failures.push({ ...show(route, res), leaked });
      if (res.statusCode === 400) failures.push({ ...show(route, res), problem: 'refused by validation before the ownership check: add a SAMPLE_BODY' });
      else if (CALLER_SCOPED.has(route.key)) {
        if (res.statusCode >= 500) failures.push(show(route, res));
      } else if (![403, 404].includes(res.statusCode)) failures.push(show(route, res));
      if (res.statusCode >= 400 && !String(res.headers['content-type']).startsWith('application/problem+json')) failures.push({ ...show(route, res), problem: 'not problem+json' });
    }
    expect(failures).toEqual([]);
    for (const key of ['GET /api/orders/:orderId', 'POST /api/orders/:orderId/cancel', 'POST /api/orders/:orderId/payment', 'DELETE /api/cart/items/:holdId', 'GET /api/seller/deals/:dealId/sales', 'GET /api/admin/users/:userId']) {
      expect(walked).toContain(key);
    }
    expect(await victimState()).toEqual(before);
  });

  /** The victim's rows the walk must not change. */
  async function victimState() {
    return {
      orders: await query(db.url, 'SELECT id, status FROM orders WHERE user_id = ? ORDER BY id', [victim.id]),
      cart: (await call('GET', '/api/cart', victim.token)).json(),
      user: await query(db.url, 'SELECT roles, status, name FROM users WHERE id = ?', [victim.id]),
      applications: await query(db.url, 'SELECT id, status FROM seller_applications WHERE user_id = ?', [victim.id]),
      deal: await query(db.url, 'SELECT status, remaining_stock, held_units, sold_units FROM deals WHERE id = ?', [deal.id]),
    };
  }

  describe('mass assignment: fields that do not belong are VALIDATION_FAILED and change nothing', () => {
    const FORBIDDEN_FIELDS: Record<string, unknown> = {
      price: 1, unitPrice: 1, status: 'paid', role: 'admin', roles: ['admin'], sellerId: 'someone-else', userId: 'someone-else',
      remainingStock: 999999, soldUnits: 0, heldUnits: 0, totalAmount: 1, id: 'chosen-id', createdAt: '2020-01-01T00:00:00Z',
    };
    const expectRefused = (res: Res, field: string) => {
      expect({ field, status: res.statusCode, code: res.json().code }).toEqual({ field, status: 400, code: 'VALIDATION_FAILED' });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json().errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: expect.stringContaining(field), message: 'is not allowed here' })]));
    };
    const dealBody = () => ({
      title: 'Mass deal', description: '', category: 'test', price: 1000, originalPrice: 2000, currency: 'KRW', totalStock: 5, perUserLimit: 1,
      startsAt: new Date(Date.now() - 1000).toISOString(), endsAt: new Date(Date.now() + 3_600_000).toISOString(),
    });

    it('signup', async () => {
      for (const [field, value] of Object.entries(FORBIDDEN_FIELDS)) {
        const email = `mass-${randomUUID()}@walk.dealrush.test`;
        expectRefused(await call('POST', '/api/auth/signup', undefined, { email, password: 'a long enough passphrase', name: 'Mass', [field]: value }), field);
        expect(await query(db.url, 'SELECT id FROM users WHERE email = ?', [email])).toEqual([]);
      }
    });

    it('profile', async () => {
      const me = await makeUser(app, ['shopper']);
      const before = await query(db.url, 'SELECT * FROM users WHERE id = ?', [me.id]);
      for (const [field, value] of Object.entries({ ...FORBIDDEN_FIELDS, email: 'other@walk.dealrush.test', passwordHash: 'x', failedLogins: 0 })) {
        expectRefused(await call('PATCH', '/api/me/profile', me.token, { name: 'Renamed', [field]: value }), field);
      }
      expect(await query(db.url, 'SELECT * FROM users WHERE id = ?', [me.id])).toEqual(before);
      expect((await call('GET', '/api/me', me.token)).json().roles).toEqual(['shopper']);
    });

    it('cart items and orders', async () => {
      const me = await makeUser(app, ['shopper']);
      const dealBefore = await query(db.url, 'SELECT remaining_stock, held_units, sold_units, price FROM deals WHERE id = ?', [deal.id]);
      for (const [field, value] of Object.entries({ ...FORBIDDEN_FIELDS, expiresAt: '2999-01-01T00:00:00Z' })) {
        expectRefused(await call('POST', '/api/cart/items', me.token, { dealId: deal.id, quantity: 1, [field]: value }), field);
      }
      expect(await query(db.url, 'SELECT id FROM holds WHERE user_id = ?', [me.id])).toEqual([]);
      const hold = await call('POST', '/api/cart/items', me.token, { dealId: deal.id, quantity: 1 });
      expect(hold.statusCode).toBe(201);
      const dealHeld = await query(db.url, 'SELECT remaining_stock, held_units, sold_units, price FROM deals WHERE id = ?', [deal.id]);
      for (const [field, value] of Object.entries({ ...FORBIDDEN_FIELDS, total: 1, amount: 1, items: [] })) {
        expectRefused(await call('POST', '/api/orders', me.token, { holdIds: [hold.json().hold.id], shippingAddress: SHIPPING, [field]: value }), field);
      }
      expect(await query(db.url, 'SELECT id FROM orders WHERE user_id = ?', [me.id])).toEqual([]);
      // An extra field inside a nested object is refused too.
      expectRefused(await call('POST', '/api/orders', me.token, { holdIds: [hold.json().hold.id], shippingAddress: { ...SHIPPING, price: 1 } }), 'price');
      const order = await call('POST', '/api/orders', me.token, { holdIds: [hold.json().hold.id], shippingAddress: SHIPPING });
      expect(order.statusCode).toBe(201);
      for (const [field, value] of Object.entries({ amount: 1, status: 'paid', price: 1, currency: 'USD' })) {
        expectRefused(await call('POST', `/api/orders/${order.json().id}/payment`, me.token, { method: 'card', [field]: value }), field);
      }
      expect(await query(db.url, 'SELECT status FROM orders WHERE id = ?', [order.json().id])).toEqual([{ status: order.json().status }]);
      expect(await query(db.url, 'SELECT id FROM payments WHERE order_id = ?', [order.json().id])).toEqual([]);
      expect(dealHeld[0]).toMatchObject({ price: dealBefore[0].price });
    });

    it('deal creation and the waiting-room PATCH', async () => {
      const countBefore = await query(db.url, 'SELECT COUNT(*) AS n FROM deals');
      for (const [field, value] of Object.entries({ ...FORBIDDEN_FIELDS, heldUnits: 0, returnedUnits: 0, version: 9, queueState: {} })) {
        if (field === 'price') continue; // a deal's own field
        expectRefused(await call('POST', '/api/seller/deals', sellerA.token, { ...dealBody(), [field]: value }), field);
      }
      expect(await query(db.url, 'SELECT COUNT(*) AS n FROM deals')).toEqual(countBefore);
      const row = () => query(db.url, 'SELECT status, price, remaining_stock, sold_units, waiting_room FROM deals WHERE id = ?', [deal.id]);
      const before = await row();
      for (const [field, value] of Object.entries(FORBIDDEN_FIELDS)) {
        expectRefused(await call('PATCH', `/api/admin/deals/${deal.id}/waiting-room`, admin.token, { maxActive: 5, [field]: value }), field);
      }
      expect(await row()).toEqual(before);
    });

    it('seller application and its review', async () => {
      const me = await makeUser(app, ['shopper']);
      const good = { businessName: 'Mass Co', registrationNumber: 'MASS-1', contactName: 'Mass', contactEmail: 'mass@walk.example', contactPhone: '010-1111-2222' };
      for (const [field, value] of Object.entries({ ...FORBIDDEN_FIELDS, approved: true, decisionReason: 'ok' })) {
        expectRefused(await call('POST', '/api/me/seller-application', me.token, { ...good, [field]: value }), field);
      }
      expect(await query(db.url, 'SELECT id FROM seller_applications WHERE user_id = ?', [me.id])).toEqual([]);
      const applied = await call('POST', '/api/me/seller-application', me.token, good);
      expect(applied.statusCode).toBe(201);
      for (const [field, value] of Object.entries({ role: 'admin', roles: ['admin'], status: 'approved' })) {
        expectRefused(await call('POST', `/api/admin/seller-applications/${applied.json().id}/reject`, admin.token, { reason: 'no', [field]: value }), field);
      }
      expect(await query(db.url, 'SELECT status FROM seller_applications WHERE user_id = ?', [me.id])).toEqual([{ status: 'pending' }]);
      expect(await query(db.url, 'SELECT roles FROM users WHERE id = ?', [me.id])).toEqual([{ roles: 'shopper' }]);
    });

    it('query strings: unknown filters are refused, not ignored', async () => {
      for (const url of ['/api/deals?sellerId=x', '/api/orders?userId=x', '/api/admin/users?roles=admin', '/api/seller/deals?sellerId=x']) {
        const token = url.startsWith('/api/admin') ? admin.token : url.startsWith('/api/seller') ? sellerA.token : victim.token;
        const res = await call('GET', url, token);
        expect({ url, status: res.statusCode, code: res.json().code }).toEqual({ url, status: 400, code: 'VALIDATION_FAILED' });
      }
    });
  });
});
