jest.mock('fastify', () => jest.requireActual('../support/route-table').wrappedFastify());

import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { bearer, makeDeal, makeUser, SHIPPING, startTestApp } from '../support/app';
import { fillUrl, routeTable, type TableRoute } from '../support/route-table';
import { io } from 'socket.io-client';
import { createTestDatabase, query } from '../support/services';
import { waitFor } from '../support/wait';

/**
 * Issue 7: `/admin/queues` (bull-board, with REDIS_URL) and every admin API answer their success
 * code to an admin and 403 to a shopper and to a seller; the list of routes comes from fastify's
 * route table, so a new admin route fails here until it has a fixture below. And `/metrics`
 * parses as Prometheus text, with a hold counter that grows by exactly the holds made.
 */

type User = { id: string; token: string; email: string };
type Res = LightMyRequestResponse;
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const isAdminRoute = (url: string) => /^\/(api\/admin|admin\/queues)(\/|$)/.test(url);

describe('admin access: every admin route and /admin/queues (MariaDB, Redis, bull-board)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: FastifyInstance;
  let base: string;
  let admin: User, seller: User, shopper: User;
  let routes: TableRoute[];

  const call = (method: string, url: string, token?: string, payload?: unknown) =>
    app.inject({ method: method as 'GET', url, headers: { ...(token ? bearer(token) : {}), 'idempotency-key': randomUUID() }, ...(payload === undefined ? {} : { payload: payload as object }) });

  beforeAll(async () => {
    db = await createTestDatabase('adm');
    app = await startTestApp(db.url, { REDIS_URL, QUEUE_PREFIX: `t${randomBytes(4).toString('hex')}` });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    routes = routeTable(app).filter((r) => isAdminRoute(r.url));
    admin = await makeUser(app, ['shopper', 'admin']);
    seller = await makeUser(app, ['shopper', 'seller']);
    shopper = await makeUser(app, ['shopper']);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  /** A paid order of `buyer`'s (hold, order, card payment approved at the in-process mock gateway). */
  async function paidOrder(buyer: User, dealId: string): Promise<string> {
    const hold = await call('POST', '/api/cart/items', buyer.token, { dealId, quantity: 1 });
    expect(hold.statusCode).toBe(201);
    const order = await call('POST', '/api/orders', buyer.token, { holdIds: [hold.json().hold.id], shippingAddress: SHIPPING });
    expect(order.statusCode).toBe(201);
    const orderId: string = order.json().id;
    const payment = await call('POST', `/api/orders/${orderId}/payment`, buyer.token, { method: 'card' });
    expect(payment.statusCode).toBe(201);
    const approved = await fetch(`${base}/v1/payments/${payment.json().paymentId}/approve`, { method: 'POST' });
    expect(approved.ok).toBe(true);
    await waitFor(async () => (await call('GET', `/api/orders/${orderId}`, buyer.token)).json().status === 'paid', 10_000);
    return orderId;
  }

  const applyForSeller = async (who: User) => {
    const res = await call('POST', '/api/me/seller-application', who.token, {
      businessName: 'Applicant Co', registrationNumber: `REG-${randomBytes(3).toString('hex')}`, contactName: 'Ap Plicant', contactEmail: 'ap@applicant.example', contactPhone: '010-2222-3333',
    });
    expect(res.statusCode).toBe(201);
    return res.json().id as string;
  };

  it('every admin route: 403 for a shopper and a seller, its success code for an admin', async () => {
    // The things the admin acts on, one per action so the actions do not depend on one another.
    const deal = await makeDeal(app, seller.token, { totalStock: 50, perUserLimit: 5 });
    const toCancel = await makeDeal(app, seller.token);
    const queued = await makeDeal(app, seller.token, { waitingRoom: { enabled: true, admissionPerMinute: 60_000, maxActive: 100 } });
    const inQueue = await makeUser(app, ['shopper']);
    const joined = await call('POST', `/api/deals/${queued.id}/queue`, inQueue.token);
    expect([200, 201]).toContain(joined.statusCode);
    const toSuspend = await makeUser(app, ['shopper']);
    const toApprove = await makeUser(app, ['shopper']);
    const toReject = await makeUser(app, ['shopper']);
    const approveId = await applyForSeller(toApprove);
    const rejectId = await applyForSeller(toReject);
    const orderId = await paidOrder(shopper, deal.id);

    /** Per route: its parameters and body for the admin's call. A new admin route needs one. */
    const FIXTURES: Record<string, { params?: Record<string, string>; body?: unknown }> = {
      'GET /api/admin/users': {},
      'POST /api/admin/queues/session': {},
      'GET /api/admin/users/:userId': { params: { userId: shopper.id } },
      'POST /api/admin/users/:userId/suspend': { params: { userId: toSuspend.id } },
      'POST /api/admin/users/:userId/unsuspend': { params: { userId: toSuspend.id } },
      'GET /api/admin/seller-applications': {},
      'POST /api/admin/seller-applications/:applicationId/approve': { params: { applicationId: approveId } },
      'POST /api/admin/seller-applications/:applicationId/reject': { params: { applicationId: rejectId }, body: { reason: 'registration number does not match' } },
      'GET /api/admin/orders': {},
      'POST /api/admin/orders/:orderId/refund': { params: { orderId } },
      'GET /api/admin/payments/flagged': {},
      'POST /api/admin/deals/:dealId/pause': { params: { dealId: deal.id } },
      'POST /api/admin/deals/:dealId/resume': { params: { dealId: deal.id } },
      'POST /api/admin/deals/:dealId/cancel': { params: { dealId: toCancel.id } },
      'PATCH /api/admin/deals/:dealId/waiting-room': { params: { dealId: queued.id }, body: { admissionPerMinute: 30_000 } },
      'POST /api/admin/deals/:dealId/waiting-room/pause': { params: { dealId: queued.id } },
      'POST /api/admin/deals/:dealId/waiting-room/resume': { params: { dealId: queued.id } },
      'POST /api/admin/deals/:dealId/admissions/:userId/revoke': { params: { dealId: queued.id, userId: inQueue.id } },
    };
    // Run in an order where each action's precondition holds (suspend before unsuspend, pause before resume).
    const order = (key: string) => (/\/(unsuspend|resume)$/.test(key) ? 1 : 0);
    const api = routes.filter((r) => r.url.startsWith('/api/admin/')).sort((a, b) => order(a.key) - order(b.key));
    const board = routes.filter((r) => r.url.startsWith('/admin/queues'));
    expect(api.length).toBeGreaterThanOrEqual(17);
    expect(board.length).toBeGreaterThanOrEqual(3); // bull-board's own routes (REDIS_URL is set)

    const failures: unknown[] = [];
    const show = (route: TableRoute, who: string, res: Res) => ({ route: route.key, who, status: res.statusCode, body: res.body.slice(0, 200) });
    for (const route of api) {
      const fixture = FIXTURES[route.key];
      if (!fixture) {
        failures.push({ route: route.key, problem: 'an admin route without a fixture: add one to FIXTURES' });
        continue;
      }
      const url = fillUrl(route.url, fixture.params ?? {});
      const body = fixture.body ?? (route.schema?.body ? {} : undefined);
      for (const [who, user] of [['shopper', shopper], ['seller', seller]] as const) {
        const res = await call(route.method, url, user.token, body);
        if (res.statusCode !== 403 || res.json().code !== 'FORBIDDEN') failures.push(show(route, who, res));
      }
      const success = Math.min(...Object.keys(route.schema?.response ?? { 200: null }).map(Number).filter((s) => s >= 200 && s < 300));
      const res = await call(route.method, url, admin.token, body);
      if (res.statusCode !== success) failures.push({ ...show(route, 'admin', res), expected: success });
    }
    for (const key of Object.keys(FIXTURES)) if (!api.some((r) => r.key === key)) failures.push({ route: key, problem: 'a fixture for a route that no longer exists' });
    // bull-board: every route of its own refuses a shopper and a seller with our problem+json.
    for (const route of board) {
      const url = fillUrl(route.url, Object.fromEntries(route.params.map((p) => [p, p === 'queueName' ? 'payments' : '1'])), 'index.html');
      for (const [who, user] of [['shopper', shopper], ['seller', seller], ['anonymous', null]] as const) {
        const res = await call(route.method, url, user?.token, route.method === 'GET' ? undefined : {});
        const expected = user ? 403 : 401;
        if (res.statusCode !== expected || !String(res.headers['content-type']).startsWith('application/problem+json')) failures.push(show(route, who, res));
      }
    }
    expect(failures).toEqual([]);
  });

  it("seller:watch reads the roles from the database like REST: a seller approved after their token was issued may watch at once; a revoked one may not", async () => {
    const applicant = await makeUser(app, ['shopper']); // token: shopper only
    const applicationId = await applyForSeller(applicant);
    expect((await call('POST', `/api/admin/seller-applications/${applicationId}/approve`, admin.token)).statusCode).toBe(200);
    const deal = await makeDeal(app, applicant.token); // REST already counts the approval
    const socket = io(base, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { token: applicant.token } });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      const watch = () => new Promise<any>((resolve) => (socket.emit as (e: string, p: unknown, ack: (a: unknown) => void) => void)('seller:watch', { dealId: deal.id }, resolve));
      const watched = await watch();
      expect(watched.error).toBeUndefined();
      expect(watched).toMatchObject({ dealId: deal.id });
      // The seller role taken away in the database: the old token no longer lets them watch.
      await query(db.url, "UPDATE users SET roles = 'shopper' WHERE id = ?", [applicant.id]);
      expect((await watch()).error).toMatchObject({ code: 'FORBIDDEN' });
    } finally {
      socket.close();
    }
  });

  it('/admin/queues is bull-board for an admin: its page and its API listing the payments queue', async () => {
    const page = await call('GET', '/admin/queues', admin.token);
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    const api = await call('GET', '/admin/queues/api/queues', admin.token);
    expect(api.statusCode).toBe(200);
    expect(JSON.stringify(api.json())).toContain('payments');
    for (const user of [shopper, seller]) {
      for (const url of ['/admin/queues', '/admin/queues/api/queues']) expect({ url, status: (await call('GET', url, user.token)).statusCode }).toEqual({ url, status: 403 });
    }
  });

  it('/admin/queues opens in a browser through a short-lived cookie an admin asks for: HttpOnly, SameSite=Strict, scoped to /admin/queues', async () => {
    const session = await call('POST', '/api/admin/queues/session', admin.token);
    expect(session.statusCode).toBe(204);
    const setCookie = String(session.headers['set-cookie']);
    expect(setCookie).toMatch(/^dealrush_queues=[^;]+; Path=\/admin\/queues; Max-Age=600; HttpOnly; SameSite=Strict/);
    const cookie = setCookie.split(';')[0];
    // A page load and bull-board's own API calls carry only the cookie.
    for (const url of ['/admin/queues', '/admin/queues/api/queues']) {
      const res = await app.inject({ method: 'GET', url, headers: { cookie: `other=1; ${cookie}` } });
      expect({ url, status: res.statusCode }).toEqual({ url, status: 200 });
    }
    // Nobody else gets one; a forged or missing cookie is 401; a shopper's token in the cookie is 403.
    for (const user of [shopper, seller]) expect((await call('POST', '/api/admin/queues/session', user.token)).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie: 'dealrush_queues=forged.token.value' } })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/admin/queues' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/admin/queues', headers: { cookie: `dealrush_queues=${shopper.token}` } })).statusCode).toBe(403);
  });
});

/** A small parser of the Prometheus text exposition format (0.0.4): it throws on a line it cannot read. */
export function parsePrometheus(text: string) {
  const families = new Map<string, { type?: string; help?: string; samples: Array<{ name: string; labels: Record<string, string>; value: number }> }>();
  const family = (name: string) => {
    if (!families.has(name)) families.set(name, { samples: [] });
    return families.get(name)!;
  };
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const familyOf = (sample: string) => {
    for (const suffix of ['_bucket', '_sum', '_count', '_total', '']) {
      const base = suffix && sample.endsWith(suffix) ? sample.slice(0, -suffix.length) : sample;
      if (families.get(base)?.type) return base;
    }
    return null;
  };
  text.split('\n').forEach((line, i) => {
    if (line === '') return;
    let m: RegExpExecArray | null;
    if ((m = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line))) {
      const f = family(m[2]);
      if (m[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3])) throw new Error(`line ${i + 1}: unknown type ${m[3]}`);
        if (f.type) throw new Error(`line ${i + 1}: a second TYPE for ${m[2]}`);
        f.type = m[3];
      } else f.help = m[3];
      return;
    }
    if (line.startsWith('#')) return;
    m = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`).exec(line);
    if (!m) throw new Error(`line ${i + 1}: not a sample: ${line}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:\\.|[^"\\])*)"(,|$)/y;
      let at = 0;
      while (at < m[2].length) {
        re.lastIndex = at;
        const l = re.exec(m[2]);
        if (!l) throw new Error(`line ${i + 1}: bad labels: ${m[2]}`);
        if (l[1] in labels) throw new Error(`line ${i + 1}: label ${l[1]} twice`);
        labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        at = re.lastIndex;
      }
    }
    const raw = m[3];
    // Prometheus reads values with Go's ParseFloat: NaN and Inf in any case (prom-client writes `Nan`).
    const value = /^\+?inf$/i.test(raw) ? Infinity : /^-inf$/i.test(raw) ? -Infinity : /^nan$/i.test(raw) ? NaN : /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw) ? Number(raw) : undefined;
    if (value === undefined) throw new Error(`line ${i + 1}: bad value ${raw}`);
    const owner = familyOf(m[1]);
    if (!owner) throw new Error(`line ${i + 1}: sample ${m[1]} before or without its # TYPE`);
    family(owner).samples.push({ name: m[1], labels, value });
  });
  // Histograms: cumulative buckets ending in +Inf equal to _count, per label set.
  for (const [name, f] of families) {
    if (f.type !== 'histogram') continue;
    const series = new Map<string, { buckets: Array<[number, number]>; count?: number }>();
    for (const s of f.samples) {
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      if (!series.has(key)) series.set(key, { buckets: [] });
      if (s.name === `${name}_bucket`) series.get(key)!.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
      if (s.name === `${name}_count`) series.get(key)!.count = s.value;
    }
    for (const [key, { buckets, count }] of series) {
      for (let i = 1; i < buckets.length; i++) {
        if (!(buckets[i][0] > buckets[i - 1][0] && buckets[i][1] >= buckets[i - 1][1])) throw new Error(`${name}${key}: buckets not cumulative`);
      }
      if (buckets.length > 0 && (buckets[buckets.length - 1][0] !== Infinity || buckets[buckets.length - 1][1] !== count)) throw new Error(`${name}${key}: +Inf bucket differs from _count`);
    }
  }
  return families;
}

describe('/metrics (MariaDB)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: FastifyInstance;
  beforeAll(async () => {
    db = await createTestDatabase('met');
    app = await startTestApp(db.url);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const scrape = async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheus(res.body);
  };
  const holds = (families: ReturnType<typeof parsePrometheus>) => {
    const f = families.get('dealrush_holds_total') ?? families.get('dealrush_holds');
    expect(f?.type).toBe('counter');
    return f!.samples.filter((s) => s.name === 'dealrush_holds_total').reduce((sum, s) => sum + s.value, 0);
  };

  it('parses as Prometheus text: typed families, well-formed samples, cumulative histograms', async () => {
    await app.inject({ method: 'GET', url: '/api/deals' });
    const families = await scrape();
    expect(families.size).toBeGreaterThanOrEqual(20);
    expect(families.get('dealrush_http_request_duration_seconds')?.type).toBe('histogram');
    expect(families.get('process_cpu_seconds_total')?.type).toBe('counter');
    for (const [name, f] of families) expect({ name, typed: Boolean(f.type) }).toEqual({ name, typed: true });
    expect(() => parsePrometheus('dealrush_x 1\n')).toThrow(/without its # TYPE/);
    expect(() => parsePrometheus('# TYPE a counter\na{b="c} 1\n')).toThrow(/bad labels|not a sample/);
    expect(() => parsePrometheus('# TYPE a gauge\na one\n')).toThrow(/bad value/);
  });

  it('the hold counter grows by exactly the holds made: refusals and idempotent replays do not count', async () => {
    const seller = await makeUser(app, ['shopper', 'seller']);
    const deal = await makeDeal(app, seller.token, { perUserLimit: 3, totalStock: 100 });
    const buyers = [await makeUser(app), await makeUser(app)];
    const before = holds(await scrape());
    const hold = (token: string, payload: unknown, key: string = randomUUID()) =>
      app.inject({ method: 'POST', url: '/api/cart/items', headers: { ...bearer(token), 'idempotency-key': key }, payload: payload as object });
    let made = 0;
    for (const buyer of buyers) {
      for (let i = 0; i < 2; i++) {
        expect((await hold(buyer.token, { dealId: deal.id, quantity: 1 })).statusCode).toBe(201);
        made++;
      }
    }
    // Refused: bad quantity (400), over the per-user limit (409), a missing deal (404).
    expect((await hold(buyers[0].token, { dealId: deal.id, quantity: 0 })).statusCode).toBe(400);
    expect((await hold(buyers[0].token, { dealId: deal.id, quantity: 2 })).statusCode).toBe(409);
    expect((await hold(buyers[0].token, { dealId: 'no-such-deal', quantity: 1 })).statusCode).toBe(404);
    // One more, then its retry with the same Idempotency-Key: the same hold, counted once.
    const key = randomUUID();
    const first = await hold(buyers[1].token, { dealId: deal.id, quantity: 1 }, key);
    expect(first.statusCode).toBe(201);
    made++;
    const replay = await hold(buyers[1].token, { dealId: deal.id, quantity: 1 }, key);
    expect(replay.json().hold.id).toBe(first.json().hold.id);
    expect(holds(await scrape()) - before).toBe(made);
  });
});
