import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { makeDeal, makeUser, SHIPPING, startTestApp } from '../support/app';
import { call, checkoutAndPay, gatewayOf, listenOnLoopback, postWebhook } from '../support/payments';
import { createTestDatabase, query } from '../support/services';
import { waitFor } from '../support/wait';

/**
 * Checkout and payment over real HTTP on real MariaDB: the server, the bundled mock gateway (its
 * protocol over HTTP: create, card page, approve/decline, signed webhooks with retries, refunds,
 * status query, fault injection) and the payment jobs on BullMQ (Redis). Every failure path the
 * issue names: bad and stale signatures, secret rotation, duplicated, failed, reordered and lost
 * webhooks, amount mismatch, concurrent pay requests, idempotent cancel and refund.
 */
const SECRET = 'current-webhook-secret-0123456789';
const OLD_SECRET = 'previous-webhook-secret-0123456789';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('payments (MariaDB, mock gateway over HTTP, BullMQ)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: FastifyInstance;
  let base: string;
  let seller: { id: string; token: string };
  let admin: { id: string; token: string };

  beforeAll(async () => {
    db = await createTestDatabase('pay');
    app = await startTestApp(db.url, {
      PAYMENT_WEBHOOK_SECRET: SECRET,
      PAYMENT_WEBHOOK_SECRET_PREVIOUS: OLD_SECRET,
      GATEWAY_RETRY_BASE_MS: '50',
      GATEWAY_FAULT_ROUTES: '1',
      PAYMENT_RECONCILE_AFTER_SECONDS: '3',
      PAYMENT_JOBS_INTERVAL_SECONDS: '1',
      REDIS_URL,
      QUEUE_PREFIX: `dealrush-test-${randomBytes(4).toString('hex')}`,
    });
    base = await listenOnLoopback(app);
    seller = await makeUser(app, ['shopper', 'seller']);
    admin = await makeUser(app, ['shopper', 'admin']);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });
  afterEach(async () => {
    await fetch(`${base}/v1/_faults`, { method: 'DELETE' });
  });

  const faults = (f: Record<string, unknown>) => fetch(`${base}/v1/_faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(f) });
  const approve = (payment: { paymentId: string; checkoutUrl: string }, body: Record<string, unknown> = {}) =>
    call(gatewayOf(payment), 'POST', `/v1/payments/${payment.paymentId}/approve`, undefined, body);
  const order = async (token: string, id: string) => (await call(base, 'GET', `/api/orders/${id}`, token)).json;
  const dealRow = async (id: string) =>
    (await query<Record<string, number>>(db.url, 'SELECT total_stock, remaining_stock, held_units, sold_units, returned_units FROM deals WHERE id = ?', [id])).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)])))[0];
  const balanced = (d: Record<string, number>) => d.remaining_stock + d.held_units + d.sold_units + d.returned_units === d.total_stock;
  const events = (paymentId: string) => query<{ id: string; source: string; processed_at: number | null; outcome: string }>(db.url, 'SELECT id, source, processed_at, outcome FROM payment_events WHERE payment_id = ?', [paymentId]);
  const paymentRow = async (id: string) => (await query<{ status: string; flag: string | null }>(db.url, 'SELECT status, flag FROM payments WHERE id = ?', [id]))[0];
  const deliveries = async (paymentId: string) => ((await call(base, 'GET', '/v1/_deliveries')).json as Array<{ paymentId: string; outcome: unknown; type: string }>).filter((d) => d.paymentId === paymentId);
  const paidSoon = (token: string, id: string) => waitFor(async () => (await order(token, id)).status === 'paid', 10_000);

  it('pays through the card page: approve at the gateway, signed webhook, order paid, units sold', async () => {
    const shopper = await makeUser(app);
    const deal = await makeDeal(app, seller.token, { totalStock: 5 });
    const { order: o, payment } = await checkoutAndPay(base, shopper.token, deal.id, 2);
    expect(payment).toMatchObject({ orderId: o.id, amount: 2000, currency: 'KRW', status: 'pending' });
    // The gateway is at checkoutUrl's origin; its card page is a real page.
    expect(gatewayOf(payment)).toBe(base);
    const page = await fetch(payment.checkoutUrl);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Pay 2,000 KRW');
    expect((await call(base, 'GET', `/v1/payments/${payment.paymentId}`)).json).toMatchObject({ status: 'pending', amount: 2000 });

    // The card form posts and is sent back to the shop's order page.
    const form = await fetch(`${base}/v1/payments/${payment.paymentId}/approve`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'card=4242', redirect: 'manual' });
    expect(form.status).toBe(303);
    expect(form.headers.get('location')).toBe(`${base}/orders/${o.id}`);
    await paidSoon(shopper.token, o.id);
    expect(await order(shopper.token, o.id)).toMatchObject({ status: 'paid', payment: { id: payment.paymentId, status: 'approved' }, refund: null });
    await waitFor(async () => (await dealRow(deal.id)).sold_units === 2);
    expect(await dealRow(deal.id)).toMatchObject({ remaining_stock: 3, held_units: 0, sold_units: 2 });
    expect(await events(payment.paymentId)).toEqual([expect.objectContaining({ source: 'webhook', outcome: expect.stringMatching(/^paid/) })]);
  });

  describe('the webhook refuses what it cannot trust, and changes nothing', () => {
    it('bad signature, tampered body, stale timestamp, no header: 400; nothing stored, nothing paid', async () => {
      const shopper = await makeUser(app);
      const deal = await makeDeal(app, seller.token);
      const { order: o, payment } = await checkoutAndPay(base, shopper.token, deal.id);
      const event = { id: `evt_forged_${randomBytes(4).toString('hex')}`, type: 'payment.approved', paymentId: payment.paymentId, orderId: o.id, amount: 1000, currency: 'KRW', occurredAt: new Date().toISOString() };
      const now = Math.floor(Date.now() / 1000);
      const attempts = [
        await postWebhook(base, 'a-secret-nobody-configured-000', event),
        await postWebhook(base, SECRET, event, now, JSON.stringify({ ...event, amount: 1 })), // signed one body, sent another
        await postWebhook(base, SECRET, event, now - 301), // a replay of an old delivery
        await postWebhook(base, SECRET, event, now + 400),
        await postWebhook(base, null, event),
      ];
      for (const res of attempts) {
        expect(res.status).toBe(400);
        expect(res.json).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 });
      }
      expect(attempts[2].json.detail).toMatch(/300 s/);
      expect(await events(payment.paymentId)).toEqual([]);
      await new Promise((r) => setTimeout(r, 300));
      expect((await order(shopper.token, o.id)).status).toBe('pending_payment');
      expect(await dealRow(deal.id)).toMatchObject({ sold_units: 0, held_units: 1 });
      // The same event, correctly signed now, is taken.
      expect((await postWebhook(base, SECRET, event)).status).toBe(200);
      await paidSoon(shopper.token, o.id);
    });

    it('accepts the previous secret during a rotation (the gateway still signs with it)', async () => {
      const shopper = await makeUser(app);
      const deal = await makeDeal(app, seller.token);
      const { order: o, payment } = await checkoutAndPay(base, shopper.token, deal.id);
      await faults({ signingSecret: OLD_SECRET });
      expect((await approve(payment)).status).toBe(200);
      await paidSoon(shopper.token, o.id);
      expect((await deliveries(payment.paymentId)).map((d) => d.outcome)).toEqual([200]);
    });

    it('an event for a payment this server does not know is acknowledged and changes nothing', async () => {
      const res = await postWebhook(base, SECRET, { id: 'evt_unknown_1', type: 'payment.approved', paymentId: 'pay_nope', orderId: 'nope', amount: 1, currency: 'KRW', occurredAt: new Date().toISOString() });
      expect(res).toEqual({ status: 200, json: { received: true, duplicate: false, ignored: false } });
      await waitFor(async () => (await events('pay_nope'))[0]?.processed_at !== null);
      expect((await events('pay_nope'))[0].outcome).toMatch(/^ignored/);
      expect(await query(db.url, 'SELECT id FROM orders WHERE id = ?', ['nope'])).toEqual([]);
    });
  });

  it('a webhook delivered 4 times is applied once', async () => {
    const shopper = await makeUser(app);
    const deal = await makeDeal(app, seller.token, { totalStock: 3 });
    const { order: o, payment } = await checkoutAndPay(base, shopper.token, deal.id);
    await faults({ duplicate: 3 });
    await approve(payment);
    await paidSoon(shopper.token, o.id);
    await waitFor(async () => (await deliveries(payment.paymentId)).filter((d) => d.outcome === 200).length === 4);
    expect((await events(payment.paymentId)).filter((e) => e.source === 'webhook')).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(await dealRow(deal.id)).toMatchObject({ remaining_stock: 2, held_units: 0, sold_units: 1 });
  });

  it('a webhook that fails 3 times is retried with backoff and then pays the order once', async () => {
    const shopper = await makeUser(app);
    const deal = await makeDeal(app, seller.token, { totalStock: 3 });
    const { order: o, payment } = await checkoutAndPay(base, shopper.token, deal.id);
    await faults({ failNext: 3 });
    await approve(payment);
    await paidSoon(shopper.token, o.id);
    await waitFor(async () => (await deliveries(payment.paymentId)).some((d) => d.outcome === 200));
    expect((await deliveries(payment.paymentId)).map((d) => d.outcome)).toEqual(['injected-failure', 'injected-failure', 'injected-failure', 200]);
    await waitFor(async () => (await dealRow(deal.id)).sold_units === 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(await dealRow(deal.id)).toMatchObject({ sold_units: 1, held_units: 0 });
  });

  describe('out of order: the state never goes backwards', () => {
    it('approved, then a late declined for the same payment (signed by the gateway): acknowledged, changes nothing', async () => {
      const shopper = await makeUser(app);
      const deal = await makeDeal(app, seller.token, { totalStock: 3 });
      const { order: o, payment } = await checkoutAndPay(base, shopper.token, deal.id);
      await approve(payment);
      await paidSoon(shopper.token, o.id);
      const late = { id: `evt_late_${randomBytes(4).toString('hex')}`, type: 'payment.declined', paymentId: payment.paymentId, orderId: o.id, amount: 1000, currency: 'KRW', occurredAt: new Date(Date.now() - 60_000).toISOString() };
      const again = { ...late, id: `evt_again_${randomBytes(4).toString('hex')}`, type: 'payment.approved' };
      for (const event of [late, again]) expect((await postWebhook(base, SECRET, event)).status).toBe(200);
      await waitFor(async () => (await events(payment.paymentId)).length === 3 && (await events(payment.paymentId)).every((e) => e.processed_at !== null));
      for (const id of [late.id, again.id]) expect((await events(payment.paymentId)).find((e) => e.id === id)!.outcome).toMatch(/^ignored/);
      expect(await order(shopper.token, o.id)).toMatchObject({ status: 'paid', payment: { id: payment.paymentId, status: 'approved' } });
      await new Promise((r) => setTimeout(r, 200));
      expect(await dealRow(deal.id)).toMatchObject({ sold_units: 1, held_units: 0 });
    });

    it('refunded before approved (reordered by the gateway): never paid, nothing sold, the money is back', async () => {
      const shopper = await makeUser(app);
      const deal = await makeDeal(app, seller.token, { totalStock: 3 });
      const { order: o, payment } = await checkoutAndPay(base, shopper.token, deal.id);
      await faults({ reorder: true });
      await approve(payment); // held back
      expect((await call(gatewayOf(payment), 'POST', `/v1/payments/${payment.paymentId}/refund`)).json.status).toBe('refunded');
      await waitFor(async () => (await events(payment.paymentId)).length === 2 && (await events(payment.paymentId)).every((e) => e.processed_at !== null));
      const seen = (await deliveries(payment.paymentId)).filter((d) => d.outcome === 200).map((d) => d.type);
      expect(seen).toEqual(['payment.refunded', 'payment.approved']);
      expect(await order(shopper.token, o.id)).toMatchObject({ status: 'pending_payment', paidAt: null, payment: { id: payment.paymentId, status: 'refunded' } });
      expect((await paymentRow(payment.paymentId)).status).toBe('refunded');
      expect(await dealRow(deal.id)).toMatchObject({ sold_units: 0, held_units: 1 });
    });
  });

  it('an approved amount that differs from the order is flagged for admins and not paid', async () => {
    const shopper = await makeUser(app);
    const deal = await makeDeal(app, seller.token);
    const { order: o, payment } = await checkoutAndPay(base, shopper.token, deal.id);
    await approve(payment, { chargeAmount: 1 });
    await waitFor(async () => (await paymentRow(payment.paymentId)).flag === 'amount_mismatch');
    expect(await order(shopper.token, o.id)).toMatchObject({ status: 'pending_payment', paidAt: null });
    expect(await dealRow(deal.id)).toMatchObject({ sold_units: 0 });
    const flagged = await call(base, 'GET', '/api/admin/payments/flagged', admin.token);
    expect(flagged.status).toBe(200);
    expect(flagged.json.items).toContainEqual(expect.objectContaining({ paymentId: payment.paymentId, orderId: o.id, amount: 1000, flag: 'amount_mismatch', reported: expect.objectContaining({ amount: 1, currency: 'KRW' }) }));
    expect((await call(base, 'GET', '/api/admin/payments/flagged', shopper.token)).status).toBe(403);
  });

  it('a lost webhook is settled by reconciliation', async () => {
    const shopper = await makeUser(app);
    const deal = await makeDeal(app, seller.token);
    const { order: o, payment } = await checkoutAndPay(base, shopper.token, deal.id);
    await faults({ dropNext: 1 });
    await approve(payment);
    expect((await deliveries(payment.paymentId)).map((d) => d.outcome)).toEqual(['dropped']);
    await paidSoon(shopper.token, o.id); // within PAYMENT_RECONCILE_AFTER_SECONDS + a sweep
    expect(await events(payment.paymentId)).toEqual([expect.objectContaining({ source: 'reconciliation', outcome: expect.stringMatching(/^paid/) })]);
    await waitFor(async () => (await dealRow(deal.id)).sold_units === 1);
  });

  it('a burst of checkouts and webhooks at once: each hold carries its own order, each event is stored and applied once', async () => {
    // Concurrent requests share statements (holds attached by one UPDATE, events stored by one
    // INSERT): each row must still get its own values, and a duplicate in the same group be told so.
    const deal = await makeDeal(app, seller.token, { totalStock: 12 });
    const shoppers = await Promise.all(Array.from({ length: 12 }, () => makeUser(app)));
    const started = await Promise.all(shoppers.map((s) => checkoutAndPay(base, s.token, deal.id)));
    const holds = await query<{ id: string; order_id: string; status: string }>(db.url, 'SELECT id, order_id, status FROM holds WHERE deal_id = ?', [deal.id]);
    expect(new Map(holds.map((h) => [h.id, [h.order_id, h.status]]))).toEqual(new Map(started.map((p) => [p.holdId, [p.order.id, 'ordered']])));

    const signed = started.map(({ order: o, payment }) => ({ id: `evt_burst_${payment.paymentId}`, type: 'payment.approved', paymentId: payment.paymentId, orderId: o.id, amount: 1000, currency: 'KRW', occurredAt: new Date().toISOString() }));
    const answers = await Promise.all(signed.flatMap((event) => [postWebhook(base, SECRET, event), postWebhook(base, SECRET, event)]));
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    signed.forEach((_, i) => expect([answers[2 * i].json.duplicate, answers[2 * i + 1].json.duplicate].sort()).toEqual([false, true]));

    await Promise.all(started.map(({ order: o }, i) => paidSoon(shoppers[i].token, o.id)));
    for (const { payment } of started) {
      await waitFor(async () => (await events(payment.paymentId))[0]?.processed_at !== null);
      expect(await events(payment.paymentId)).toEqual([expect.objectContaining({ source: 'webhook', outcome: expect.stringMatching(/^paid/) })]);
      expect(await paymentRow(payment.paymentId)).toEqual({ status: 'approved', flag: null });
    }
    await waitFor(async () => (await dealRow(deal.id)).sold_units === 12);
    expect(balanced(await dealRow(deal.id))).toBe(true);

    // Redeliveries and new events at once, so groups mix ids stored before with new ones (the
    // gateway retrying what timed out): one statement stores the new ones, each answer says which.
    const late = started.map(({ order: o, payment }) => ({ id: `evt_late_${payment.paymentId}`, type: 'payment.approved', paymentId: payment.paymentId, orderId: o.id, amount: 1000, currency: 'KRW', occurredAt: new Date().toISOString() }));
    const mixed = await Promise.all(signed.flatMap((event, i) => [postWebhook(base, SECRET, event), postWebhook(base, SECRET, late[i])]));
    expect(mixed.map((a) => a.status)).toEqual(mixed.map(() => 200));
    expect(mixed.map((a) => a.json.duplicate)).toEqual(mixed.map((_, j) => j % 2 === 0));
    for (const { payment } of started) {
      await waitFor(async () => (await events(payment.paymentId)).every((e) => e.processed_at !== null));
      expect((await events(payment.paymentId)).map((e) => e.id).sort()).toEqual([`evt_burst_${payment.paymentId}`, `evt_late_${payment.paymentId}`]);
      expect(await paymentRow(payment.paymentId)).toEqual({ status: 'approved', flag: null });
    }
    expect(await dealRow(deal.id)).toMatchObject({ sold_units: 12 });
  });

  it('10 concurrent pay requests with one Idempotency-Key make one payment at the gateway, with identical answers', async () => {
    const shopper = await makeUser(app);
    const deal = await makeDeal(app, seller.token);
    const hold = await call(base, 'POST', '/api/cart/items', shopper.token, { dealId: deal.id, quantity: 1 }, { 'idempotency-key': crypto.randomUUID() });
    const o = (await call(base, 'POST', '/api/orders', shopper.token, { holdIds: [hold.json.hold.id], shippingAddress: SHIPPING }, { 'idempotency-key': crypto.randomUUID() })).json;
    const key = { 'idempotency-key': crypto.randomUUID() };
    const answers = await Promise.all(Array.from({ length: 10 }, () => call(base, 'POST', `/api/orders/${o.id}/payment`, shopper.token, { method: 'card' }, key)));
    expect(answers.map((a) => a.status)).toEqual(new Array(10).fill(201));
    expect(new Set(answers.map((a) => a.text)).size).toBe(1);
    // Other keys at the same time still find the one payment in flight.
    const others = await Promise.all(Array.from({ length: 3 }, () => call(base, 'POST', `/api/orders/${o.id}/payment`, shopper.token, { method: 'card' }, { 'idempotency-key': crypto.randomUUID() })));
    expect(new Set(others.map((a) => a.json.paymentId))).toEqual(new Set([answers[0].json.paymentId]));
    expect(await query(db.url, 'SELECT id FROM payments WHERE order_id = ?', [o.id])).toHaveLength(1);
    expect([...app.mockGateway!.payments.values()].filter((p) => p.orderId === o.id)).toHaveLength(1);
    const reused = await call(base, 'POST', `/api/orders/${o.id}/payment`, shopper.token, { method: 'card', extra: 1 }, key);
    expect(reused.status).toBe(400); // unknown field first; the same key with another valid body is 422:
    const other = await call(base, 'POST', `/api/orders/${o.id}/cancel`, shopper.token, undefined, key);
    expect(other.json.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  describe('cancel and refund are idempotent and return the units exactly once', () => {
    it('cancel twice: one release; the stock balances', async () => {
      const shopper = await makeUser(app);
      const deal = await makeDeal(app, seller.token, { totalStock: 4 });
      const { order: o } = await checkoutAndPay(base, shopper.token, deal.id, 2);
      for (let i = 0; i < 2; i++) expect((await call(base, 'POST', `/api/orders/${o.id}/cancel`, shopper.token)).json.status).toBe('cancelled');
      await waitFor(async () => (await dealRow(deal.id)).held_units === 0);
      const d = await dealRow(deal.id);
      expect(d).toMatchObject({ remaining_stock: 4, held_units: 0, sold_units: 0 });
      expect(balanced(d)).toBe(true);
    });

    it('refund twice: one gateway refund, the units back once, the order shows the refund', async () => {
      const shopper = await makeUser(app);
      const deal = await makeDeal(app, seller.token, { totalStock: 4 });
      const { order: o, payment } = await checkoutAndPay(base, shopper.token, deal.id, 2);
      await approve(payment);
      await paidSoon(shopper.token, o.id);
      await waitFor(async () => (await dealRow(deal.id)).sold_units === 2);
      const [first, second] = [await call(base, 'POST', `/api/orders/${o.id}/refund`, shopper.token), await call(base, 'POST', `/api/orders/${o.id}/refund`, shopper.token)];
      expect(first.json).toMatchObject({ status: 'refunded', refund: { status: 'pending', reason: 'requested', amount: 2000, currency: 'KRW' } });
      expect(second.status).toBe(200);
      expect(second.json.status).toBe('refunded');
      await waitFor(async () => (await order(shopper.token, o.id)).refund?.status === 'refunded');
      expect((await call(base, 'GET', `/v1/payments/${payment.paymentId}`)).json.status).toBe('refunded');
      expect((await deliveries(payment.paymentId)).filter((d) => d.type === 'payment.refunded')).toHaveLength(1);
      await waitFor(async () => (await dealRow(deal.id)).sold_units === 0);
      const d = await dealRow(deal.id);
      expect(d).toMatchObject({ remaining_stock: 4, held_units: 0, sold_units: 0 });
      expect(balanced(d)).toBe(true);
      expect((await paymentRow(payment.paymentId)).status).toBe('refunded');
    });
  });

  it('shows the payment jobs in bull-board at /admin/queues, to admins only', async () => {
    expect((await call(base, 'GET', '/admin/queues')).status).toBe(401);
    const mine = await makeUser(app);
    expect((await call(base, 'GET', '/admin/queues', mine.token)).status).toBe(403);
    const page = await call(base, 'GET', '/admin/queues', admin.token);
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/<html/i);
    const api = await call(base, 'GET', '/admin/queues/api/queues', admin.token);
    expect(api.status).toBe(200);
    expect(JSON.stringify(api.json)).toContain('payments');
  });
});
