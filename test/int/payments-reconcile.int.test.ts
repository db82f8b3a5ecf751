import type { FastifyInstance } from 'fastify';
import { makeDeal, makeUser, startTestApp } from '../support/app';
import { call, checkoutAndPay, gatewayOf, listenOnLoopback } from '../support/payments';
import { createTestDatabase, query } from '../support/services';
import { waitFor } from '../support/wait';

/**
 * Reconciliation on real MariaDB with the mock gateway over HTTP (embedded payment jobs, one
 * sweep a second): payments the shopper never paid stay pending at the gateway for good, and
 * they must not keep a newer payment whose webhook was lost from being settled. Each run asks
 * about the next PAYMENT_RECONCILE_BATCH payments after the previous run's.
 */
describe('payments: reconciliation goes past payments that stay pending', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: FastifyInstance;
  let base: string;
  let seller: { id: string; token: string };

  beforeAll(async () => {
    db = await createTestDatabase('payrec');
    app = await startTestApp(db.url, {
      GATEWAY_RETRY_BASE_MS: '50',
      GATEWAY_FAULT_ROUTES: '1',
      PAYMENT_JOBS_INTERVAL_SECONDS: '1',
      PAYMENT_RECONCILE_AFTER_SECONDS: '1',
      PAYMENT_RECONCILE_BATCH: '2',
      // Just over the least allowed (ORDER_PAYMENT_TIMEOUT_SECONDS 900 + 1).
      PAYMENT_RECONCILE_MAX_AGE_SECONDS: '1000',
    });
    base = await listenOnLoopback(app);
    seller = await makeUser(app, ['shopper', 'seller']);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('a lost webhook behind more never-paid payments than one run asks about is settled all the same', async () => {
    const deal = await makeDeal(app, seller.token, { totalStock: 10 });
    // Four payments created first and never paid: twice what one run asks about.
    const abandoned: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      const shopper = await makeUser(app);
      abandoned.push((await checkoutAndPay(base, shopper.token, deal.id)).payment.paymentId);
      await new Promise((r) => setTimeout(r, 5)); // distinct created_at, oldest first
    }
    // The newest payment is approved at the gateway, and its webhook is lost.
    const shopper = await makeUser(app);
    const { order, payment } = await checkoutAndPay(base, shopper.token, deal.id);
    expect((await call(base, 'PUT', '/v1/_faults', undefined, { dropNext: 1 })).status).toBe(200);
    expect((await call(gatewayOf(payment), 'POST', `/v1/payments/${payment.paymentId}/approve`, undefined, {})).status).toBe(200);
    const deliveries = (await call(base, 'GET', '/v1/_deliveries')).json as Array<{ paymentId: string; outcome: unknown }>;
    expect(deliveries.filter((d) => d.paymentId === payment.paymentId).map((d) => d.outcome)).toEqual(['dropped']);

    // The oldest-first runs of two reach it on the third run (about three seconds).
    await waitFor(async () => (await call(base, 'GET', `/api/orders/${order.id}`, shopper.token)).json.status === 'paid', 20_000);
    const events = await query<{ source: string; outcome: string }>(db.url, 'SELECT source, outcome FROM payment_events WHERE payment_id = ?', [payment.paymentId]);
    expect(events).toEqual([expect.objectContaining({ source: 'reconciliation', outcome: expect.stringMatching(/^paid/) })]);
    // The never-paid ones were asked about and left as they are: pending, no event.
    const rows = await query<{ id: string; status: string }>(db.url, `SELECT id, status FROM payments WHERE id IN (${abandoned.map(() => '?').join(', ')})`, abandoned);
    expect(rows.map((r) => r.status)).toEqual(['pending', 'pending', 'pending', 'pending']);
    expect(await query(db.url, `SELECT id FROM payment_events WHERE payment_id IN (${abandoned.map(() => '?').join(', ')})`, abandoned)).toEqual([]);
  }, 60_000);

  it('a payment older than PAYMENT_RECONCILE_MAX_AGE_SECONDS is no longer asked about; a newer one in the same state is settled', async () => {
    const deal = await makeDeal(app, seller.token, { totalStock: 10 });
    const oldShopper = await makeUser(app);
    const old = await checkoutAndPay(base, oldShopper.token, deal.id);
    const newShopper = await makeUser(app);
    const fresh = await checkoutAndPay(base, newShopper.token, deal.id);
    // The old payment was made 2,000 s ago (past the 1,000 s limit).
    await query(db.url, 'UPDATE payments SET created_at = created_at - 2000000 WHERE id = ?', [old.payment.paymentId]);
    // Both are approved at the gateway and both webhooks are lost.
    for (const { payment } of [old, fresh]) {
      expect((await call(base, 'PUT', '/v1/_faults', undefined, { dropNext: 1 })).status).toBe(200);
      expect((await call(gatewayOf(payment), 'POST', `/v1/payments/${payment.paymentId}/approve`, undefined, {})).status).toBe(200);
    }
    const outcomes = ((await call(base, 'GET', '/v1/_deliveries')).json as Array<{ paymentId: string; outcome: unknown }>).filter((d) => [old.payment.paymentId, fresh.payment.paymentId].includes(d.paymentId));
    expect(outcomes.map((d) => d.outcome)).toEqual(['dropped', 'dropped']);

    // Reconciliation finds the newer one...
    await waitFor(async () => (await call(base, 'GET', `/api/orders/${fresh.order.id}`, newShopper.token)).json.status === 'paid', 20_000);
    // ...and, three more sweeps (a second each) later, has still not asked about the old one.
    await new Promise((r) => setTimeout(r, 3500));
    expect((await call(base, 'GET', `/api/orders/${old.order.id}`, oldShopper.token)).json.status).toBe('pending_payment');
    expect(await query(db.url, 'SELECT status FROM payments WHERE id = ?', [old.payment.paymentId])).toEqual([{ status: 'pending' }]);
    expect(await query(db.url, 'SELECT id FROM payment_events WHERE payment_id = ?', [old.payment.paymentId])).toEqual([]);
  }, 60_000);
});
