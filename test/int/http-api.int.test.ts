import type { FastifyInstance } from 'fastify';
import { bearer, makeDeal, makeUser, SHIPPING, startTestApp } from '../support/app';
import { createTestDatabase, query } from '../support/services';
import { listenOnLoopback } from '../support/payments';
import { waitFor } from '../support/wait';

/** The HTTP contract on real MariaDB: accounts, deals, cart, orders, and every failure path named. */
describe('HTTP API (MariaDB)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: FastifyInstance;
  let base: string;
  let seller: { id: string; token: string };
  let shopper: { id: string; token: string };
  let other: { id: string; token: string };

  beforeAll(async () => {
    db = await createTestDatabase('http');
    app = await startTestApp(db.url);
    // Payments go through the in-process mock gateway over HTTP: the app must listen.
    base = await listenOnLoopback(app);
    seller = await makeUser(app, ['shopper', 'seller']);
    shopper = await makeUser(app);
    other = await makeUser(app);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const hold = (token: string, payload: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/api/cart/items', headers: { ...bearer(token), 'idempotency-key': crypto.randomUUID(), ...headers }, payload: payload as object });
  /** Bearer plus a fresh Idempotency-Key. */
  const keyed = (token: string) => ({ ...bearer(token), 'idempotency-key': crypto.randomUUID() });
  const dealRow = async (id: string) =>
    (await query<{ remaining_stock: number; held_units: number; sold_units: number; status: string }>(db.url, 'SELECT remaining_stock, held_units, sold_units, status FROM deals WHERE id = ?', [id]))[0];
  const holdCount = async (dealId: string) => Number((await query<{ n: number }>(db.url, 'SELECT COUNT(*) AS n FROM holds WHERE deal_id = ?', [dealId]))[0].n);
  const expectProblem = (res: { statusCode: number; headers: Record<string, unknown>; json(): any }, status: number, code: string) => {
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = res.json();
    expect({ status: res.statusCode, code: body.code }).toEqual({ status, code });
    expect(body).toMatchObject({ type: expect.any(String), title: expect.any(String), status, detail: expect.any(String) });
    return body;
  };

  describe('accounts', () => {
    it('signs up, logs in, refreshes with rotation, and answers /api/me', async () => {
      const email = `Ada.${Date.now()}@Example.com`;
      const signup = await app.inject({ method: 'POST', url: '/api/auth/signup', payload: { email, password: 'a long enough passphrase', name: 'Ada' } });
      expect(signup.statusCode).toBe(201);
      const { user, accessToken, refreshToken } = signup.json();
      expect(user).toEqual({ id: expect.any(String), email: email.toLowerCase(), name: 'Ada', roles: ['shopper'] });
      expect((await app.inject({ method: 'GET', url: '/api/me', headers: bearer(accessToken) })).json()).toEqual(user);

      expectProblem(await app.inject({ method: 'POST', url: '/api/auth/signup', payload: { email, password: 'another long passphrase', name: 'Ada' } }), 409, 'EMAIL_TAKEN');
      expectProblem(await app.inject({ method: 'POST', url: '/api/auth/signup', payload: { email: 'x@example.com', password: 'short', name: 'X' } }), 400, 'VALIDATION_FAILED');
      expectProblem(await app.inject({ method: 'POST', url: '/api/auth/signup', payload: { email: 'y@example.com', password: 'a long enough passphrase', name: 'Y', roles: ['admin'] } }), 400, 'VALIDATION_FAILED');
      expectProblem(await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password: 'wrong password here' } }), 401, 'UNAUTHORIZED');
      const login = await app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: email.toUpperCase(), password: 'a long enough passphrase' } });
      expect(login.statusCode).toBe(200);

      const rotated = await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken } });
      expect(rotated.statusCode).toBe(200);
      // Reusing the spent token revokes the family: the new one stops working too.
      expectProblem(await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken } }), 401, 'UNAUTHORIZED');
      expectProblem(await app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: rotated.json().refreshToken } }), 401, 'UNAUTHORIZED');
      expectProblem(await app.inject({ method: 'GET', url: '/api/me' }), 401, 'UNAUTHORIZED');
      expectProblem(await app.inject({ method: 'GET', url: '/api/me', headers: bearer('not.a.jwt') }), 401, 'UNAUTHORIZED');
    });
  });

  describe('deals', () => {
    it('lists with filters and keyset pagination, and shows one deal', async () => {
      const created = [];
      for (let i = 0; i < 5; i++) created.push(await makeDeal(app, seller.token, { title: `Paged ${i}`, category: 'paging', startsAt: new Date(Date.now() - 60_000 + i * 1000).toISOString() }));
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: Awaited<ReturnType<typeof app.inject>> = await app.inject({ method: 'GET', url: `/api/deals?category=paging&limit=2${cursor ? `&cursor=${cursor}` : ''}` });
        expect(res.statusCode).toBe(200);
        seen.push(...res.json().items.map((d: { id: string }) => d.id));
        cursor = res.json().nextCursor;
      } while (cursor);
      expect(seen).toEqual(created.map((d) => d.id));
      const q = await app.inject({ method: 'GET', url: '/api/deals?q=paged%203' });
      expect(q.json().items.map((d: { title: string }) => d.title)).toEqual(['Paged 3']);
      expect((await app.inject({ method: 'GET', url: `/api/deals/${created[0].id}` })).json()).toMatchObject({ id: created[0].id, status: 'open', remainingStock: 10 });
      expectProblem(await app.inject({ method: 'GET', url: '/api/deals/does-not-exist' }), 404, 'NOT_FOUND');
      expectProblem(await app.inject({ method: 'GET', url: '/api/deals?limit=0' }), 400, 'VALIDATION_FAILED');
      expectProblem(await app.inject({ method: 'GET', url: '/api/deals?cursor=garbage' }), 400, 'VALIDATION_FAILED');
    });

    it('lets only sellers create deals, and validates them', async () => {
      const body = { title: 'X', description: '', category: 'test', price: 1, originalPrice: 2, currency: 'KRW', totalStock: 1, perUserLimit: 1, startsAt: new Date().toISOString(), endsAt: new Date(Date.now() + 60_000).toISOString() };
      expectProblem(await app.inject({ method: 'POST', url: '/api/seller/deals', headers: bearer(shopper.token), payload: body }), 403, 'FORBIDDEN');
      expectProblem(await app.inject({ method: 'POST', url: '/api/seller/deals', payload: body }), 401, 'UNAUTHORIZED');
      for (const bad of [{ endsAt: body.startsAt }, { price: 3 }, { perUserLimit: 2 }, { sellerId: 'x' }, { status: 'open' }, { totalStock: 0 }, { currency: 'won' }]) {
        expectProblem(await app.inject({ method: 'POST', url: '/api/seller/deals', headers: bearer(seller.token), payload: { ...body, ...bad } }), 400, 'VALIDATION_FAILED');
      }
    });
  });

  describe('holds: bad input gets a clear error and changes nothing', () => {
    it.each([
      ['an unknown field', { quantity: 1, price: 1 }],
      ['zero', { quantity: 0 }],
      ['a negative quantity', { quantity: -1 }],
      ['a fractional quantity', { quantity: 1.5 }],
      ['a huge quantity', { quantity: 1e12 }],
      ['a string quantity', { quantity: 'lots' }],
      ['no quantity', {}],
    ])('%s: 400 VALIDATION_FAILED', async (_name, extra) => {
      const deal = await makeDeal(app, seller.token);
      expectProblem(await hold(shopper.token, { dealId: deal.id, ...extra }), 400, 'VALIDATION_FAILED');
      expect(await dealRow(deal.id)).toMatchObject({ remaining_stock: 10, held_units: 0 });
      expect(await holdCount(deal.id)).toBe(0);
    });

    it('malformed JSON: 400 VALIDATION_FAILED', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/cart/items', headers: { ...bearer(shopper.token), 'content-type': 'application/json' }, payload: '{"dealId": ' });
      expectProblem(res, 400, 'VALIDATION_FAILED');
    });

    it('a missing deal: 404; before the start and after the end: 409 DEAL_NOT_OPEN; over the limit: 409 LIMIT_EXCEEDED', async () => {
      expectProblem(await hold(shopper.token, { dealId: 'no-such-deal', quantity: 1 }), 404, 'NOT_FOUND');
      const later = await makeDeal(app, seller.token, { startsAt: new Date(Date.now() + 3_600_000).toISOString(), endsAt: new Date(Date.now() + 7_200_000).toISOString() });
      const early = expectProblem(await hold(shopper.token, { dealId: later.id, quantity: 1 }), 409, 'DEAL_NOT_OPEN');
      expect(early.detail).toMatch(/opens at/);
      const brief = await makeDeal(app, seller.token, { startsAt: new Date(Date.now() - 1000).toISOString(), endsAt: new Date(Date.now() + 1200).toISOString() });
      await new Promise((r) => setTimeout(r, 1500));
      expectProblem(await hold(shopper.token, { dealId: brief.id, quantity: 1 }), 409, 'DEAL_NOT_OPEN');
      const deal = await makeDeal(app, seller.token, { perUserLimit: 2 });
      expect((await hold(shopper.token, { dealId: deal.id, quantity: 2 })).statusCode).toBe(201);
      expectProblem(await hold(shopper.token, { dealId: deal.id, quantity: 1 }), 409, 'LIMIT_EXCEEDED');
      for (const id of [later.id, brief.id]) expect(await holdCount(id)).toBe(0);
      expect(await dealRow(deal.id)).toMatchObject({ remaining_stock: 8, held_units: 2 });
    });
  });

  describe('cart and orders', () => {
    it('holds, lists, removes; orders, pays, and the units become sold', async () => {
      shopper = await makeUser(app);
      const deal = await makeDeal(app, seller.token, { totalStock: 5, perUserLimit: 3 });
      const first = await hold(shopper.token, { dealId: deal.id, quantity: 2 });
      expect(first.statusCode).toBe(201);
      expect(first.json()).toMatchObject({ hold: { dealId: deal.id, quantity: 2, unitPrice: 1000, currency: 'KRW' }, cart: { total: 2000, currency: 'KRW' } });
      const second = (await hold(shopper.token, { dealId: deal.id, quantity: 1 })).json().hold;
      const cart = (await app.inject({ method: 'GET', url: '/api/cart', headers: bearer(shopper.token) })).json();
      expect(cart.holds.map((h: { id: string }) => h.id).sort()).toEqual([first.json().hold.id, second.id].sort());
      expect(cart.total).toBe(3000);

      // Another shopper cannot remove it; the owner can, and the unit returns.
      expectProblem(await app.inject({ method: 'DELETE', url: `/api/cart/items/${second.id}`, headers: bearer(other.token) }), 404, 'NOT_FOUND');
      expect((await app.inject({ method: 'DELETE', url: `/api/cart/items/${second.id}`, headers: bearer(shopper.token) })).statusCode).toBe(204);
      expect(await dealRow(deal.id)).toMatchObject({ remaining_stock: 3, held_units: 2 });

      const order = await app.inject({ method: 'POST', url: '/api/orders', headers: keyed(shopper.token), payload: { holdIds: [first.json().hold.id], shippingAddress: SHIPPING } });
      expect(order.statusCode).toBe(201);
      const o = order.json();
      expect(o).toMatchObject({ status: 'pending_payment', total: 2000, currency: 'KRW', items: [{ dealId: deal.id, quantity: 2, unitPrice: 1000 }], paidAt: null });
      // The hold left the cart; ordering it again is refused.
      expect((await app.inject({ method: 'GET', url: '/api/cart', headers: bearer(shopper.token) })).json().holds).toHaveLength(0);
      expectProblem(await app.inject({ method: 'POST', url: '/api/orders', headers: keyed(shopper.token), payload: { holdIds: [first.json().hold.id], shippingAddress: SHIPPING } }), 409, 'HOLD_EXPIRED');

      // Another shopper's order id: 404 everywhere, nothing changes.
      for (const [method, url] of [['GET', `/api/orders/${o.id}`], ['POST', `/api/orders/${o.id}/cancel`], ['POST', `/api/orders/${o.id}/refund`]] as const) {
        expectProblem(await app.inject({ method, url, headers: bearer(other.token) }), 404, 'NOT_FOUND');
      }
      expectProblem(await app.inject({ method: 'POST', url: `/api/orders/${o.id}/payment`, headers: keyed(other.token), payload: { method: 'card' } }), 404, 'NOT_FOUND');
      expectProblem(await app.inject({ method: 'POST', url: `/api/orders/${o.id}/payment`, headers: keyed(shopper.token), payload: { method: 'cash' } }), 400, 'VALIDATION_FAILED');
      expectProblem(await app.inject({ method: 'POST', url: `/api/orders/${o.id}/refund`, headers: bearer(shopper.token) }), 409, 'INVALID_STATE');

      const payment = await app.inject({ method: 'POST', url: `/api/orders/${o.id}/payment`, headers: keyed(shopper.token), payload: { method: 'card' } });
      expect(payment.statusCode).toBe(201);
      expect(payment.json()).toMatchObject({ orderId: o.id, amount: 2000, currency: 'KRW', status: 'pending', checkoutUrl: expect.any(String) });
      // The shopper pays on the gateway's card page; the gateway's signed webhook marks the order paid.
      expect((await fetch(`${base}/v1/payments/${payment.json().paymentId}/approve`, { method: 'POST' })).status).toBe(200);
      await waitFor(async () => (await app.inject({ method: 'GET', url: `/api/orders/${o.id}`, headers: bearer(shopper.token) })).json().status === 'paid');
      await waitFor(async () => (await dealRow(deal.id)).sold_units === 2);
      expect(await dealRow(deal.id)).toMatchObject({ remaining_stock: 3, held_units: 0, sold_units: 2 });
      expectProblem(await app.inject({ method: 'POST', url: `/api/orders/${o.id}/cancel`, headers: bearer(shopper.token) }), 409, 'INVALID_STATE');

      const mine = (await app.inject({ method: 'GET', url: '/api/orders', headers: bearer(shopper.token) })).json();
      expect(mine.items.map((x: { id: string }) => x.id)).toContain(o.id);
      expect((await app.inject({ method: 'GET', url: '/api/orders', headers: bearer(other.token) })).json().items).toHaveLength(0);

      const sales = await app.inject({ method: 'GET', url: `/api/seller/deals/${deal.id}/sales`, headers: bearer(seller.token) });
      expect(sales.json()).toMatchObject({ dealId: deal.id, soldUnits: 2, heldUnits: 0, remainingStock: 3, revenue: 2000, currency: 'KRW', orders: 1 });
      expectProblem(await app.inject({ method: 'GET', url: `/api/seller/deals/${deal.id}/sales`, headers: bearer(other.token) }), 403, 'FORBIDDEN');
    });

    it('a cart that missed a notice from its deal is reloaded before a hold is called missing', async () => {
      const buyer = await makeUser(app);
      const deal = await makeDeal(app, seller.token);
      const h = (await hold(buyer.token, { dealId: deal.id, quantity: 1 })).json().hold;
      // Make the cart's derived state diverge from the holds table, as a lost notice would.
      await app.actors.ask({ kind: 'cart', id: buyer.id }, { type: 'holdRemoved', holdId: h.id });
      expect((await app.inject({ method: 'GET', url: '/api/cart', headers: bearer(buyer.token) })).json().holds).toEqual([]);
      const order = await app.inject({ method: 'POST', url: '/api/orders', headers: keyed(buyer.token), payload: { holdIds: [h.id], shippingAddress: SHIPPING } });
      expect(order.statusCode).toBe(201);
    });

    it('cancel returns the units once; a second cancel changes nothing', async () => {
      const deal = await makeDeal(app, seller.token, { totalStock: 4 });
      const h = (await hold(shopper.token, { dealId: deal.id, quantity: 2 })).json().hold;
      const o = (await app.inject({ method: 'POST', url: '/api/orders', headers: keyed(shopper.token), payload: { holdIds: [h.id], shippingAddress: SHIPPING } })).json();
      for (let i = 0; i < 2; i++) {
        const res = await app.inject({ method: 'POST', url: `/api/orders/${o.id}/cancel`, headers: bearer(shopper.token) });
        expect(res.statusCode).toBe(200);
        expect(res.json().status).toBe('cancelled');
      }
      await waitFor(async () => (await dealRow(deal.id)).held_units === 0);
      expect(await dealRow(deal.id)).toMatchObject({ remaining_stock: 4, held_units: 0, sold_units: 0 });
      expectProblem(await app.inject({ method: 'POST', url: '/api/orders', headers: keyed(shopper.token), payload: { holdIds: [h.id], shippingAddress: { ...SHIPPING, country: 'Korea' } } }), 400, 'VALIDATION_FAILED');
    });
  });

  describe('Idempotency-Key', () => {
    it('is required where the contract says, and must be sane', async () => {
      const deal = await makeDeal(app, seller.token);
      const res = await app.inject({ method: 'POST', url: '/api/cart/items', headers: bearer(shopper.token), payload: { dealId: deal.id, quantity: 1 } });
      expectProblem(res, 400, 'VALIDATION_FAILED');
      expectProblem(await hold(shopper.token, { dealId: deal.id, quantity: 1 }, { 'idempotency-key': 'x'.repeat(201) }), 400, 'VALIDATION_FAILED');
      expect(await holdCount(deal.id)).toBe(0);
    });

    it('the same checkout sent 10 times at once with one key makes one order, and every answer is the same', async () => {
      const buyer = await makeUser(app);
      const deal = await makeDeal(app, seller.token, { totalStock: 3 });
      const h = (await hold(buyer.token, { dealId: deal.id, quantity: 1 })).json().hold;
      const headers = { ...bearer(buyer.token), 'idempotency-key': 'checkout-once' };
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => app.inject({ method: 'POST', url: '/api/orders', headers, payload: { holdIds: [h.id], shippingAddress: SHIPPING } })),
      );
      expect(answers.map((a) => a.statusCode)).toEqual(new Array(10).fill(201));
      expect(new Set(answers.map((a) => a.body)).size).toBe(1);
      expect(answers.filter((a) => a.headers['idempotent-replayed'] === 'true')).toHaveLength(9);
      const orders = await query<{ id: string }>(db.url, 'SELECT id FROM orders WHERE user_id = ?', [buyer.id]);
      expect(orders).toEqual([{ id: answers[0].json().id }]);

      // The same key with another body: 422, and nothing changes.
      const reused = await app.inject({ method: 'POST', url: '/api/orders', headers, payload: { holdIds: [h.id], shippingAddress: { ...SHIPPING, name: 'Someone Else' } } });
      expectProblem(reused, 422, 'IDEMPOTENCY_KEY_REUSED');
      expect(await query(db.url, 'SELECT id FROM orders WHERE user_id = ?', [buyer.id])).toHaveLength(1);

      // One payment for many tries with one key.
      const pay = { ...bearer(buyer.token), 'idempotency-key': 'pay-once' };
      const payments = await Promise.all(Array.from({ length: 5 }, () => app.inject({ method: 'POST', url: `/api/orders/${orders[0].id}/payment`, headers: pay, payload: { method: 'card' } })));
      expect(new Set(payments.map((p) => p.body)).size).toBe(1);
      expect(await query(db.url, 'SELECT id FROM payments WHERE order_id = ?', [orders[0].id])).toHaveLength(1);
    });

    it('a hold retried with its key (as after a lost connection) is the same hold, not a second one', async () => {
      const buyer = await makeUser(app);
      const deal = await makeDeal(app, seller.token, { totalStock: 5, perUserLimit: 5 });
      const first = await hold(buyer.token, { dealId: deal.id, quantity: 2 }, { 'idempotency-key': 'hold-1' });
      const second = await hold(buyer.token, { dealId: deal.id, quantity: 2 }, { 'idempotency-key': 'hold-1' });
      expect(second.statusCode).toBe(201);
      expect(second.body).toBe(first.body);
      // Even when the stored answer is gone (a crash before it was saved), the hold id is the same.
      await query(db.url, 'DELETE FROM idempotency_keys WHERE user_id = ?', [buyer.id]);
      const third = await hold(buyer.token, { dealId: deal.id, quantity: 2 }, { 'idempotency-key': 'hold-1' });
      expect(third.json().hold.id).toBe(first.json().hold.id);
      expect(await dealRow(deal.id)).toMatchObject({ remaining_stock: 3, held_units: 2 });
      // Another shopper's identical key is theirs alone.
      expect((await hold(shopper.token, { dealId: deal.id, quantity: 1 }, { 'idempotency-key': 'hold-1' })).json().hold.id).not.toBe(first.json().hold.id);
    });
  });

  it('admin controls pause and resume a deal; shoppers cannot', async () => {
    const admin = await makeUser(app, ['shopper', 'admin']);
    const deal = await makeDeal(app, seller.token);
    expectProblem(await app.inject({ method: 'POST', url: `/api/admin/deals/${deal.id}/pause`, headers: bearer(shopper.token) }), 403, 'FORBIDDEN');
    expect((await app.inject({ method: 'POST', url: `/api/admin/deals/${deal.id}/pause`, headers: bearer(admin.token) })).json().status).toBe('paused');
    expectProblem(await hold(shopper.token, { dealId: deal.id, quantity: 1 }), 409, 'DEAL_NOT_OPEN');
    expect((await app.inject({ method: 'POST', url: `/api/admin/deals/${deal.id}/resume`, headers: bearer(admin.token) })).json().status).toBe('open');
    const patched = await app.inject({ method: 'PATCH', url: `/api/admin/deals/${deal.id}/waiting-room`, headers: bearer(admin.token), payload: { admissionPerMinute: 120 } });
    expect(patched.json().waitingRoom.admissionPerMinute).toBe(120);
    expectProblem(await app.inject({ method: 'PATCH', url: `/api/admin/deals/${deal.id}/waiting-room`, headers: bearer(admin.token), payload: { price: 1 } }), 400, 'VALIDATION_FAILED');
    expect((await app.inject({ method: 'POST', url: `/api/admin/deals/${deal.id}/cancel`, headers: bearer(admin.token) })).json().status).toBe('cancelled');
    expectProblem(await app.inject({ method: 'POST', url: `/api/admin/deals/${deal.id}/resume`, headers: bearer(admin.token) }), 409, 'INVALID_STATE');
  });

  it('serves the OpenAPI document with every contract route', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    const routes = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    for (const route of [
      'POST /api/auth/signup', 'POST /api/auth/login', 'POST /api/auth/refresh', 'GET /api/me',
      'GET /api/deals', 'GET /api/deals/{dealId}', 'POST /api/seller/deals', 'GET /api/seller/deals/{dealId}/sales',
      'POST /api/admin/deals/{dealId}/pause', 'POST /api/admin/deals/{dealId}/resume', 'POST /api/admin/deals/{dealId}/cancel', 'PATCH /api/admin/deals/{dealId}/waiting-room',
      'POST /api/cart/items', 'GET /api/cart', 'DELETE /api/cart/items/{holdId}',
      'POST /api/orders', 'GET /api/orders', 'GET /api/orders/{orderId}', 'POST /api/orders/{orderId}/payment', 'POST /api/orders/{orderId}/cancel', 'POST /api/orders/{orderId}/refund',
      'POST /api/payments/webhook',
    ]) {
      expect(routes).toContain(route);
    }
  });

  it('serves Prometheus metrics whose hold counter grows by exactly the holds made', async () => {
    const holdsTotal = (text: string) =>
      text
        .split('\n')
        .filter((line) => line.startsWith('dealrush_holds_total{') || line.startsWith('dealrush_holds_total '))
        .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
    const scrape = async () => {
      const res = await app.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      // Every line is a comment (# HELP/# TYPE) or a sample: name{labels} value.
      for (const line of res.body.split('\n').filter(Boolean)) {
        expect(line).toMatch(/^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? -?(\d+(\.\d+)?(e[+-]?\d+)?|NaN|\+Inf|-Inf))$/);
      }
      return res.body;
    };
    const before = holdsTotal(await scrape());
    const buyer = await makeUser(app);
    const deal = await makeDeal(app, seller.token, { perUserLimit: 5 });
    for (let i = 0; i < 3; i++) expect((await hold(buyer.token, { dealId: deal.id, quantity: 1 })).statusCode).toBe(201);
    expect((await hold(buyer.token, { dealId: deal.id, quantity: 0 })).statusCode).toBe(400);
    const after = await scrape();
    expect(holdsTotal(after) - before).toBe(3);
    for (const name of ['dealrush_http_request_duration_seconds_bucket', 'dealrush_actor_batch_size_bucket', 'dealrush_actor_activations', 'dealrush_actor_mailbox_depth', 'dealrush_socket_connections', 'process_cpu_seconds_total']) {
      expect(after).toContain(name);
    }
    // The MariaDB pool: open connections (at least one served the holds), none waiting at rest.
    const pool = (state: string) => Number(after.match(new RegExp(`^dealrush_db_pool_connections\\{state="${state}"\\} (\\d+)$`, 'm'))?.[1] ?? NaN);
    expect(pool('open')).toBeGreaterThanOrEqual(1);
    expect(pool('busy')).toBeLessThanOrEqual(pool('open'));
    expect(pool('waiting')).toBe(0);
  });

  it('answers 5xx without internals and readiness with the database state', async () => {
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/health/ready' })).json()).toEqual({ status: 'ok', checks: { database: 'ok' } });
    expectProblem(await app.inject({ method: 'GET', url: '/api/nothing-here' }), 404, 'NOT_FOUND');
  });
});
