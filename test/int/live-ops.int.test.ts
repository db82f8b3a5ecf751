import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { io, type Socket } from 'socket.io-client';
import { buildApp } from '../../src/app';
import type { ClientToServerEvents, OpsSnapshotEvent, SalesTickEvent, ServerToClientEvents } from '../../src/realtime/events';
import { SHIPPING, bearer, makeDeal, makeUser, startTestApp, testConfig } from '../support/app';
import { createTestDatabase } from '../support/services';
import { waitFor } from '../support/wait';

/**
 * Issue 7's live views and observability against MariaDB, with real socket.io clients on a real
 * port: `sales:tick` reaches the deal's seller and an admin and nobody else; the admin ops room
 * refuses non-admins and sends snapshots of this node's actors; the new gauges appear in
 * /metrics; every problem+json carries the request id its log lines carry; the admin order
 * endpoints and the seller's sales history.
 */

type LiveSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
type User = { id: string; token: string; email: string };
type AckAnswer<T> = T | { error: { code: string; detail: string } };

describe('seller monitor, ops room and observability (MariaDB, real port)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: FastifyInstance;
  let base: string;
  const sockets: LiveSocket[] = [];
  /** Every log line the app wrote, parsed. */
  const logs: Array<Record<string, unknown>> = [];
  let seller: User;
  let otherSeller: User;
  let shopper: User;
  let admin: User;
  let deal: Record<string, any>;

  beforeAll(async () => {
    db = await createTestDatabase('ops');
    const stream = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line.trim()) logs.push(JSON.parse(line));
        done();
      },
    });
    app = await buildApp(testConfig(db.url, { LOG_LEVEL: 'info' }), { logger: { level: 'info', stream } });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    seller = await makeUser(app, ['shopper', 'seller']);
    otherSeller = await makeUser(app, ['shopper', 'seller']);
    shopper = await makeUser(app, ['shopper']);
    admin = await makeUser(app, ['shopper', 'admin']);
    deal = await makeDeal(app, seller.token, { totalStock: 20, perUserLimit: 5, price: 1500, originalPrice: 3000 });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await app?.close();
    await db?.drop();
  });

  function connect(token?: string): Promise<LiveSocket> {
    const socket: LiveSocket = io(base, { transports: ['websocket'], reconnection: false, auth: token ? { token } : {} });
    sockets.push(socket);
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', reject);
    });
  }
  const ask = <T>(socket: LiveSocket, event: 'seller:watch' | 'ops:watch', payload: unknown): Promise<AckAnswer<T>> =>
    new Promise((resolve) => (socket.emit as (e: string, p: unknown, ack: (a: AckAnswer<T>) => void) => void)(event, payload, resolve));
  const collect = <T>(socket: LiveSocket, event: 'sales:tick' | 'ops:snapshot'): T[] => {
    const seen: T[] = [];
    (socket.on as (e: string, f: (p: T) => void) => void)(event, (p) => seen.push(p));
    return seen;
  };

  /** A hold of `quantity` units, an order, a payment, and (with the gateway) its approval. Resolves once paid. */
  async function buy(quantity: number): Promise<string> {
    const keyed = (k: string) => ({ ...bearer(shopper.token), 'idempotency-key': `${k}-${Math.random()}` });
    const hold = await app.inject({ method: 'POST', url: '/api/cart/items', headers: keyed('hold'), payload: { dealId: deal.id, quantity } });
    expect(hold.statusCode).toBe(201);
    const order = await app.inject({ method: 'POST', url: '/api/orders', headers: keyed('order'), payload: { holdIds: [hold.json().hold.id], shippingAddress: SHIPPING } });
    expect(order.statusCode).toBe(201);
    const orderId: string = order.json().id;
    const payment = await app.inject({ method: 'POST', url: `/api/orders/${orderId}/payment`, headers: keyed('pay'), payload: { method: 'card' } });
    expect(payment.statusCode).toBe(201);
    const { paymentId, checkoutUrl } = payment.json();
    // The mock gateway approves on its own endpoint (in-process: on this server); a server
    // without one approves by itself.
    for (const gateway of new Set([base, new URL(checkoutUrl, base).origin])) {
      const approved = await fetch(`${gateway}/v1/payments/${paymentId}/approve`, { method: 'POST' }).catch(() => null);
      if (approved?.ok) break;
    }
    await waitFor(async () => (await app.inject({ method: 'GET', url: `/api/orders/${orderId}`, headers: bearer(shopper.token) })).json().status === 'paid', 10_000);
    return orderId;
  }

  describe('sales:tick', () => {
    it('reaches the deal’s seller and an admin, not another seller nor a shopper', async () => {
      const [sellerSocket, adminSocket, otherSocket, shopperSocket, anonymous] = await Promise.all([connect(seller.token), connect(admin.token), connect(otherSeller.token), connect(shopper.token), connect()]);
      const sellerTicks = collect<SalesTickEvent>(sellerSocket, 'sales:tick');
      const adminTicks = collect<SalesTickEvent>(adminSocket, 'sales:tick');
      const otherTicks = collect<SalesTickEvent>(otherSocket, 'sales:tick');
      const shopperTicks = collect<SalesTickEvent>(shopperSocket, 'sales:tick');

      expect(await ask(sellerSocket, 'seller:watch', { dealId: deal.id })).toMatchObject({ dealId: deal.id, soldUnits: 0, heldUnits: 0, remainingStock: 20, revenue: 0, currency: 'KRW' });
      expect(await ask(adminSocket, 'seller:watch', { dealId: deal.id })).toMatchObject({ dealId: deal.id, remainingStock: 20 });
      expect(await ask(otherSocket, 'seller:watch', { dealId: deal.id })).toEqual({ error: expect.objectContaining({ code: 'FORBIDDEN' }) });
      expect(await ask(shopperSocket, 'seller:watch', { dealId: deal.id })).toEqual({ error: expect.objectContaining({ code: 'FORBIDDEN' }) });
      expect(await ask(anonymous, 'seller:watch', { dealId: deal.id })).toEqual({ error: expect.objectContaining({ code: 'UNAUTHORIZED' }) });

      // About once a second while watched, even when nothing changes.
      await waitFor(async () => sellerTicks.length >= 1 && adminTicks.length >= 1, 3000);
      expect(sellerTicks[0]).toMatchObject({ dealId: deal.id, soldUnits: 0, heldUnits: 0, remainingStock: 20, revenue: 0, ordersPerSecond: 0, waiting: 0, at: expect.any(Number) });

      await buy(2);
      await buy(1);
      const paid = (t: SalesTickEvent) => t.soldUnits === 3 && t.revenue === 4500 && t.orders === 2;
      await waitFor(async () => sellerTicks.some(paid) && adminTicks.some(paid), 5000);
      const tick = sellerTicks.find(paid)!;
      expect(tick).toMatchObject({ heldUnits: 0, remainingStock: 17, currency: 'KRW' });
      // Two paid orders show up as a rate in the ticks that saw them arrive.
      expect(sellerTicks.some((t) => t.ordersPerSecond > 0)).toBe(true);
      const times = sellerTicks.map((t) => t.at);
      expect(times).toEqual([...times].sort((a, b) => a - b));

      // Nothing leaked to the refused sockets.
      expect(otherTicks).toEqual([]);
      expect(shopperTicks).toEqual([]);

      // After seller:unwatch the ticks stop.
      await new Promise((resolve) => sellerSocket.emit('seller:unwatch', { dealId: deal.id }, resolve));
      const count = sellerTicks.length;
      await new Promise((r) => setTimeout(r, 1600));
      expect(sellerTicks.length).toBe(count);
    }, 30_000);
  });

  describe('admin ops room', () => {
    it('refuses non-admins, including a token claiming admin for an account without it', async () => {
      const forged = app.signAccessToken(shopper.id, ['shopper', 'admin']); // validly signed, but not an admin in the database
      const [shopperSocket, sellerSocket, forgedSocket, anonymous] = await Promise.all([connect(shopper.token), connect(seller.token), connect(forged), connect()]);
      const leaked = [shopperSocket, sellerSocket, forgedSocket, anonymous].map((s) => collect<OpsSnapshotEvent>(s, 'ops:snapshot'));
      expect(await ask(shopperSocket, 'ops:watch', {})).toEqual({ error: expect.objectContaining({ code: 'FORBIDDEN' }) });
      expect(await ask(sellerSocket, 'ops:watch', {})).toEqual({ error: expect.objectContaining({ code: 'FORBIDDEN' }) });
      expect(await ask(forgedSocket, 'ops:watch', {})).toEqual({ error: expect.objectContaining({ code: 'FORBIDDEN' }) });
      expect(await ask(anonymous, 'ops:watch', {})).toEqual({ error: expect.objectContaining({ code: 'UNAUTHORIZED' }) });
      await new Promise((r) => setTimeout(r, 2500)); // a snapshot period
      expect(leaked.flat()).toEqual([]);
    });

    it('sends an admin snapshots of this node’s actors and the live deals, every ~2 s', async () => {
      const adminSocket = await connect(admin.token);
      const snapshots = collect<OpsSnapshotEvent>(adminSocket, 'ops:snapshot');
      const first = (await ask<OpsSnapshotEvent>(adminSocket, 'ops:watch', {})) as OpsSnapshotEvent;
      expect(first.nodes).toHaveLength(1);
      const [node] = first.nodes;
      expect(node).toMatchObject({ nodeId: expect.any(String), mode: 'embedded', partitions: null, uptimeSeconds: expect.any(Number), messagesPerSecond: expect.any(Number), sockets: expect.any(Number) });
      expect(node.activations.deal).toBeGreaterThanOrEqual(1); // the deal bought from above is active
      expect(node.activations.order).toBeGreaterThanOrEqual(1);
      expect(typeof node.mailboxDepth).toBe('object');
      expect(first.deals.find((d) => d.dealId === deal.id)).toMatchObject({ title: deal.title, status: 'open', soldUnits: 3, remainingStock: 17, totalStock: 20 });

      // Then periodically, with live figures: a pause shows in the next snapshots.
      const paused = await app.inject({ method: 'POST', url: `/api/admin/deals/${deal.id}/pause`, headers: bearer(admin.token) });
      expect(paused.statusCode).toBe(200);
      await waitFor(async () => snapshots.some((s) => s.deals.find((d) => d.dealId === deal.id)?.status === 'paused'), 5000);
      await waitFor(async () => snapshots.length >= 2, 5000);
      const gap = snapshots[1].at - snapshots[0].at;
      expect(gap).toBeGreaterThan(1500);
      expect(gap).toBeLessThan(3500);
      expect(snapshots.at(-1)!.nodes[0].activations.deal).toBeGreaterThanOrEqual(1);
      expect((await app.inject({ method: 'POST', url: `/api/admin/deals/${deal.id}/resume`, headers: bearer(admin.token) })).statusCode).toBe(200);
    }, 20_000);
  });

  describe('/metrics', () => {
    it('has waiting and admitted shoppers per deal, socket connections, the outbox and the live watchers', async () => {
      const roomDeal = await makeDeal(app, seller.token, { waitingRoom: { enabled: true, admissionPerMinute: 1, maxActive: 1 } });
      const shoppers = await Promise.all([1, 2, 3].map(() => makeUser(app, ['shopper'])));
      for (const s of shoppers) expect((await app.inject({ method: 'POST', url: `/api/deals/${roomDeal.id}/queue`, headers: bearer(s.token) })).statusCode).toBe(201);

      const read = async () => (await app.inject({ method: 'GET', url: '/metrics' })).body;
      const value = (text: string, series: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${series} `));
        return line === undefined ? undefined : Number(line.slice(series.length + 1));
      };
      let text = '';
      await waitFor(async () => {
        text = await read();
        const waiting = value(text, `dealrush_waiting_room_shoppers{deal="${roomDeal.id}",state="waiting"}`);
        const admitted = value(text, `dealrush_waiting_room_shoppers{deal="${roomDeal.id}",state="admitted"}`);
        return waiting !== undefined && admitted !== undefined && waiting + admitted === 3 && admitted <= 1;
      }, 8000);
      expect(text).toContain('# TYPE dealrush_waiting_room_shoppers gauge');
      expect(value(text, 'dealrush_socket_connections')).toBeGreaterThanOrEqual(1); // sockets of the tests above are open
      expect(value(text, 'dealrush_outbox_in_flight')).toBeGreaterThanOrEqual(0);
      expect(value(text, 'dealrush_live_watchers{room="ops"}')).toBeGreaterThanOrEqual(1); // the admin socket above
      expect(text).toMatch(/^dealrush_live_watchers\{room="sales"\} \d+$/m);
      // The deal without a waiting room has its series too, at zero.
      expect(value(text, `dealrush_waiting_room_shoppers{deal="${deal.id}",state="waiting"}`)).toBe(0);
    }, 20_000);
  });

  describe('/metrics with REDIS_URL', () => {
    it('has the BullMQ payment queue’s jobs by state', async () => {
      const redisApp = await startTestApp(db.url, { REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379', QUEUE_PREFIX: `t${randomBytes(4).toString('hex')}` });
      try {
        const text = (await redisApp.inject({ method: 'GET', url: '/metrics' })).body;
        expect(text).toContain('# TYPE dealrush_job_queue_jobs gauge');
        for (const state of ['waiting', 'active', 'delayed', 'failed']) expect(text).toMatch(new RegExp(`^dealrush_job_queue_jobs\\{queue="payments",state="${state}"\\} \\d+$`, 'm'));
      } finally {
        await redisApp.close();
      }
    });

    it('has no job queue series in embedded mode (the jobs run in-process)', async () => {
      const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(text).not.toMatch(/^dealrush_job_queue_jobs\{/m);
    });
  });

  describe('request ids', () => {
    it('puts the request id of its log lines in every problem+json body, and echoes a given one', async () => {
      const cancelled = await makeDeal(app, seller.token);
      expect((await app.inject({ method: 'POST', url: `/api/admin/deals/${cancelled.id}/cancel`, headers: bearer(admin.token) })).statusCode).toBe(200);
      const problems = [
        { method: 'GET', url: '/api/nothing-here', status: 404, code: 'NOT_FOUND' },
        { method: 'GET', url: '/api/me', status: 401, code: 'UNAUTHORIZED' },
        { method: 'GET', url: '/api/admin/orders', headers: bearer(shopper.token), status: 403, code: 'FORBIDDEN' },
        { method: 'POST', url: '/api/seller/deals', headers: bearer(seller.token), payload: { title: 'x' }, status: 400, code: 'VALIDATION_FAILED' },
        { method: 'POST', url: `/api/admin/deals/${cancelled.id}/pause`, headers: bearer(admin.token), status: 409, code: 'INVALID_STATE' },
      ] as const;
      for (const p of problems) {
        const res = await app.inject({ method: p.method, url: p.url, headers: 'headers' in p ? p.headers : {}, payload: 'payload' in p ? p.payload : undefined });
        expect({ url: p.url, status: res.statusCode, type: res.headers['content-type'] }).toEqual({ url: p.url, status: p.status, type: expect.stringContaining('application/problem+json') });
        const body = res.json();
        expect(body.code).toBe(p.code);
        expect(body.requestId).toEqual(expect.any(String));
        expect(res.headers['x-request-id']).toBe(body.requestId);
        // Every line fastify logged for this request carries it: at least "incoming request" and "request completed".
        await waitFor(async () => logs.filter((l) => l.reqId === body.requestId).length >= 2, 2000);
        const lines = logs.filter((l) => l.reqId === body.requestId);
        expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['incoming request', 'request completed']));
      }

      const given = await app.inject({ method: 'GET', url: '/api/me', headers: { 'x-request-id': 'trace-1234.abc' } });
      expect(given.json().requestId).toBe('trace-1234.abc');
      expect(given.headers['x-request-id']).toBe('trace-1234.abc');
      // A malformed one is replaced, not trusted.
      const bad = await app.inject({ method: 'GET', url: '/api/me', headers: { 'x-request-id': 'bad id with spaces' } });
      expect(bad.json().requestId).not.toBe('bad id with spaces');
      expect(logs.some((l) => l.reqId === bad.json().requestId)).toBe(true);
    });
  });

  describe('admin orders and the sales history', () => {
    it('lists orders by status for an admin only, and refunds a paid one', async () => {
      for (const who of [shopper, seller]) {
        expect((await app.inject({ method: 'GET', url: '/api/admin/orders', headers: bearer(who.token) })).statusCode).toBe(403);
        expect((await app.inject({ method: 'POST', url: '/api/admin/orders/x/refund', headers: bearer(who.token) })).statusCode).toBe(403);
      }
      const list = await app.inject({ method: 'GET', url: '/api/admin/orders?status=paid', headers: bearer(admin.token) });
      expect(list.statusCode).toBe(200);
      const paid = list.json().items;
      expect(paid.length).toBeGreaterThanOrEqual(2);
      expect(paid.every((o: { status: string; userEmail: string }) => o.status === 'paid' && o.userEmail === shopper.email)).toBe(true);
      const byEmail = await app.inject({ method: 'GET', url: `/api/admin/orders?q=${encodeURIComponent(shopper.email)}`, headers: bearer(admin.token) });
      expect(byEmail.json().items.length).toBeGreaterThanOrEqual(2);

      const refunded = await app.inject({ method: 'POST', url: `/api/admin/orders/${paid[0].id}/refund`, headers: bearer(admin.token) });
      expect(refunded.statusCode).toBe(200);
      expect(refunded.json()).toMatchObject({ id: paid[0].id });
      expect(['refunded', 'paid']).toContain(refunded.json().status); // refunded at once, or pending at the gateway
      expect((await app.inject({ method: 'POST', url: '/api/admin/orders/no-such-order/refund', headers: bearer(admin.token) })).statusCode).toBe(404);
    });

    it('gives a seller every deal of theirs with paid totals', async () => {
      const res = await app.inject({ method: 'GET', url: '/api/seller/sales-history', headers: bearer(seller.token) });
      expect(res.statusCode).toBe(200);
      const row = res.json().items.find((r: { deal: { id: string } }) => r.deal.id === deal.id);
      expect(row).toMatchObject({ deal: { id: deal.id, title: deal.title } });
      expect(row.paidOrders + row.refundedOrders).toBe(2);
      expect((await app.inject({ method: 'GET', url: '/api/seller/sales-history', headers: bearer(otherSeller.token) })).json().items).toEqual([]);
      expect((await app.inject({ method: 'GET', url: '/api/seller/sales-history', headers: bearer(shopper.token) })).statusCode).toBe(403);
    });
  });
});
