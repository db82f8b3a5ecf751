import type { FastifyInstance } from 'fastify';
import { io, type Socket } from 'socket.io-client';
import { makeDeal, makeUser, startTestApp } from '../support/app';
import { call, checkoutAndPay, gatewayOf, listenOnLoopback } from '../support/payments';
import { createTestDatabase, query } from '../support/services';
import { waitFor } from '../support/wait';

/**
 * Stock and payment together, in embedded mode (no Redis: the payment jobs run in-process on a
 * timer), on MariaDB with the mock gateway over HTTP: holds do not expire under a payment in
 * flight, orders expire and give their units back, and a payment approved after its order
 * expired is refunded through the gateway with the shopper told, the units staying with whoever
 * holds them now (never an oversell, never a silent charge).
 */
describe('payments and stock: expiry (embedded jobs)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: FastifyInstance;
  let base: string;
  let seller: { id: string; token: string };
  const sockets: Socket[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('payexp');
    app = await startTestApp(db.url, { HOLD_TTL_SECONDS: '5', ORDER_PAYMENT_TIMEOUT_SECONDS: '8', ORDER_PAYMENT_CHECK_GRACE_SECONDS: '2', GATEWAY_FAULT_ROUTES: '1', GATEWAY_RETRY_BASE_MS: '50', PAYMENT_JOBS_INTERVAL_SECONDS: '1', PAYMENT_RECONCILE_AFTER_SECONDS: '60' });
    base = await listenOnLoopback(app);
    seller = await makeUser(app, ['shopper', 'seller']);
  });
  afterEach(async () => {
    await fetch(`${base}/v1/_faults`, { method: 'DELETE' });
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await app?.close();
    await db?.drop();
  });

  const order = async (token: string, id: string) => (await call(base, 'GET', `/api/orders/${id}`, token)).json;
  const dealRow = async (id: string) =>
    (await query<Record<string, number>>(db.url, 'SELECT total_stock, remaining_stock, held_units, sold_units, returned_units FROM deals WHERE id = ?', [id])).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)])))[0];
  const balanced = (d: Record<string, number>) => d.remaining_stock + d.held_units + d.sold_units + d.returned_units === d.total_stock && d.remaining_stock >= 0;

  it('a hold does not expire while its payment is in flight (the shopper pays after the hold TTL)', async () => {
    const shopper = await makeUser(app);
    const deal = await makeDeal(app, seller.token, { totalStock: 2 });
    const { order: o, payment } = await checkoutAndPay(base, shopper.token, deal.id);
    await new Promise((r) => setTimeout(r, 6000)); // past HOLD_TTL_SECONDS, within the payment window
    expect(await dealRow(deal.id)).toMatchObject({ remaining_stock: 1, held_units: 1 });
    expect((await call(gatewayOf(payment), 'POST', `/v1/payments/${payment.paymentId}/approve`)).status).toBe(200);
    await waitFor(async () => (await order(shopper.token, o.id)).status === 'paid', 10_000);
    await waitFor(async () => (await dealRow(deal.id)).sold_units === 1);
    expect(await dealRow(deal.id)).toMatchObject({ remaining_stock: 1, held_units: 0, sold_units: 1 });
  });

  it('an order left unpaid expires and its units return; a payment approved after that is refunded, the shopper told, and the units stay with the next shopper', async () => {
    const late = await makeUser(app);
    const next = await makeUser(app);
    const deal = await makeDeal(app, seller.token, { totalStock: 1, perUserLimit: 1 });
    const socket = io(base, { transports: ['websocket'], auth: { token: late.token }, reconnection: false });
    sockets.push(socket);
    const told: Array<Record<string, unknown>> = [];
    socket.on('order:updated', (e: Record<string, unknown>) => told.push(e));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });

    const { order: o, payment } = await checkoutAndPay(base, late.token, deal.id);
    expect(await dealRow(deal.id)).toMatchObject({ remaining_stock: 0, held_units: 1 });
    // The shopper lingers on the card page past the payment window: the order expires, the unit returns.
    await waitFor(async () => (await order(late.token, o.id)).status === 'expired', 15_000);
    await waitFor(async () => (await dealRow(deal.id)).remaining_stock === 1);
    expect(told).toContainEqual(expect.objectContaining({ orderId: o.id, status: 'expired' }));
    // Another shopper takes the unit.
    const taken = await call(base, 'POST', '/api/cart/items', next.token, { dealId: deal.id, quantity: 1 }, { 'idempotency-key': crypto.randomUUID() });
    expect(taken.status).toBe(201);
    // Too late, the first shopper completes the card form: the gateway charges them.
    expect((await call(gatewayOf(payment), 'POST', `/v1/payments/${payment.paymentId}/approve`)).json.status).toBe('approved');

    // The money goes back through the gateway, and the order shows it.
    await waitFor(async () => (await order(late.token, o.id)).refund?.status === 'refunded', 10_000);
    expect(await order(late.token, o.id)).toMatchObject({ status: 'expired', paidAt: null, refund: { status: 'refunded', reason: 'late_payment', amount: 1000, currency: 'KRW' }, payment: { id: payment.paymentId, status: 'refunded' } });
    expect((await call(base, 'GET', `/v1/payments/${payment.paymentId}`)).json.status).toBe('refunded');
    await waitFor(async () => told.some((e) => e.orderId === o.id && e.refund === 'refunded'));
    expect(told).toContainEqual(expect.objectContaining({ orderId: o.id, status: 'expired', refund: 'pending', reason: 'late_payment' }));

    // No oversell: the unit is still the next shopper's, nothing was sold, every unit is accounted for.
    const d = await dealRow(deal.id);
    expect(d).toMatchObject({ remaining_stock: 0, held_units: 1, sold_units: 0 });
    expect(balanced(d)).toBe(true);
    expect((await call(base, 'GET', '/api/cart', next.token)).json.holds).toEqual([expect.objectContaining({ id: taken.json.hold.id })]);
  });

  it('a shopper who paid in time but whose webhook was lost is not refunded: at the deadline the gateway is asked, and the order is paid', async () => {
    const shopper = await makeUser(app);
    const deal = await makeDeal(app, seller.token, { totalStock: 2 });
    const { order: o, payment } = await checkoutAndPay(base, shopper.token, deal.id);
    // The gateway charges the shopper, and its webhook never arrives (reconciliation is 60 s away).
    expect((await call(base, 'PUT', '/v1/_faults', undefined, { dropNext: 1 })).status).toBe(200);
    expect((await call(gatewayOf(payment), 'POST', `/v1/payments/${payment.paymentId}/approve`)).json.status).toBe('approved');
    await new Promise((r) => setTimeout(r, 1000));
    expect((await order(shopper.token, o.id)).status).toBe('pending_payment');
    // At the deadline (8 s) the order asks before it expires: paid, its unit sold, nothing refunded.
    await waitFor(async () => (await order(shopper.token, o.id)).status !== 'pending_payment', 15_000);
    expect(await order(shopper.token, o.id)).toMatchObject({ status: 'paid', refund: null, payment: { id: payment.paymentId, status: 'approved' } });
    await waitFor(async () => (await dealRow(deal.id)).sold_units === 1);
    expect(await dealRow(deal.id)).toMatchObject({ remaining_stock: 1, held_units: 0, sold_units: 1, returned_units: 0 });
    expect((await call(base, 'GET', `/v1/payments/${payment.paymentId}`)).json.status).toBe('approved');
    const deliveries = (await call(base, 'GET', '/v1/_deliveries')).json as Array<{ paymentId: string; outcome: unknown }>;
    expect(deliveries.filter((d) => d.paymentId === payment.paymentId).map((d) => d.outcome)).toEqual(['dropped']);
    const events = await query<{ id: string; source: string }>(db.url, 'SELECT id, source FROM payment_events WHERE payment_id = ?', [payment.paymentId]);
    expect(events).toEqual([{ id: `recon_${payment.paymentId}_approved`, source: 'reconciliation' }]);
  });

  it('a gateway that does not answer at the deadline holds the order back for the grace only, then it expires and its units return', async () => {
    const shopper = await makeUser(app);
    const deal = await makeDeal(app, seller.token, { totalStock: 1, perUserLimit: 1 });
    const { order: o } = await checkoutAndPay(base, shopper.token, deal.id);
    const ordered = Date.now();
    // From now on the gateway answers its API after 20 s: the status query at the deadline gives
    // up after the provider's 10 s timeout, so only the 2 s grace can expire the order in time.
    expect((await call(base, 'PUT', '/v1/_faults', undefined, { apiLatencyMs: 20_000 })).status).toBe(200);
    await waitFor(async () => (await order(shopper.token, o.id)).status === 'expired', 14_000);
    expect(Date.now() - ordered).toBeGreaterThanOrEqual(8_000);
    await waitFor(async () => (await dealRow(deal.id)).remaining_stock === 1);
    expect(await dealRow(deal.id)).toMatchObject({ remaining_stock: 1, held_units: 0, sold_units: 0 });
  });

  it('cancel after a payment started, then the payment approves: refunded too; cancel is idempotent', async () => {
    const shopper = await makeUser(app);
    const deal = await makeDeal(app, seller.token, { totalStock: 3 });
    const { order: o, payment } = await checkoutAndPay(base, shopper.token, deal.id, 2);
    for (let i = 0; i < 2; i++) expect((await call(base, 'POST', `/api/orders/${o.id}/cancel`, shopper.token)).json.status).toBe('cancelled');
    await waitFor(async () => (await dealRow(deal.id)).remaining_stock === 3);
    await call(gatewayOf(payment), 'POST', `/v1/payments/${payment.paymentId}/approve`);
    await waitFor(async () => (await order(shopper.token, o.id)).refund?.status === 'refunded', 10_000);
    expect(await order(shopper.token, o.id)).toMatchObject({ status: 'cancelled', refund: { reason: 'late_payment' } });
    expect(await dealRow(deal.id)).toMatchObject({ remaining_stock: 3, held_units: 0, sold_units: 0 });
  });

  it('without Redis, /admin/queues says the jobs run in-process (admins only)', async () => {
    const admin = await makeUser(app, ['shopper', 'admin']);
    const shopper = await makeUser(app);
    expect((await call(base, 'GET', '/admin/queues', shopper.token)).status).toBe(403);
    const res = await call(base, 'GET', '/admin/queues', admin.token);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ mode: 'in-process' });
    expect(res.json.recent.some((r: { name: string }) => r.name === 'sweep')).toBe(true);
  });
});
