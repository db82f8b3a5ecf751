import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process';
import { call, checkoutAndPay, gatewayOf } from '../support/payments';
import { freePort, startServerProcess, type ServerProcess } from '../support/server-process';
import { createTestDatabase, query } from '../support/services';
import { insertUsers } from '../support/users';

/**
 * The issue's crash test for payments: the gateway runs as its own process (`npm run gateway`'s
 * script), the server as another. The shopper's card is charged at the gateway, whose webhook is
 * held back by fault injection (`delayMs`); the server is SIGKILLed in between, so the webhook
 * finds nobody listening and the gateway retries it with backoff. A new server process on the same
 * database and port then takes the webhook: the order ends paid, exactly once (one payment row,
 * approved; one event applied; the unit sold once; the deal's counters balance; no refund).
 * Reconciliation is set far off, so it is the retried webhook that settles the order.
 */

const JWT_SECRET = 'payments-crash-test-secret-0123456789abcdef';
const WEBHOOK_SECRET = 'payments-crash-webhook-secret-0123456789';
const TOTAL_STOCK = 10;
const WEBHOOK_DELAY_MS = 1500;

describe('payments crash safety: SIGKILL between the charge and the webhook', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  let gateway: GatewayProcess;
  let port: number;
  const servers: ServerProcess[] = [];

  const startServer = async () => {
    const server = await startServerProcess({
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      JWT_SECRET,
      PORT: String(port),
      GATEWAY_URL: gateway.url,
      PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
      // The card page decides, not a timer; and reconciliation stays out of it.
      GATEWAY_AUTO_APPROVE_MS: '',
      PAYMENT_RECONCILE_AFTER_SECONDS: '3600',
      PAYMENT_JOBS_INTERVAL_SECONDS: '3600',
    });
    servers.push(server);
    return server;
  };

  beforeAll(async () => {
    db = await createTestDatabase('paycrash');
    dataDir = mkdtempSync(join(tmpdir(), 'dealrush-paycrash-'));
    gateway = await startGatewayProcess({ DATA_DIR: dataDir, PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET, GATEWAY_RETRY_BASE_MS: '200' });
    port = await freePort();
  });

  afterAll(async () => {
    for (const server of servers) await server.kill('SIGKILL');
    await gateway?.kill('SIGKILL');
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('ends the order paid exactly once after a restart on the same database', async () => {
    const first = await startServer();
    const [seller] = await insertUsers(db.url, JWT_SECRET, 1, ['shopper', 'seller']);
    const [shopper] = await insertUsers(db.url, JWT_SECRET, 1);
    const now = Date.now();
    const deal = await call(first.url, 'POST', '/api/seller/deals', seller.token, {
      title: 'Payment crash deal',
      description: 'Paid once, whatever the process does',
      category: 'test',
      price: 1000,
      originalPrice: 2000,
      currency: 'KRW',
      totalStock: TOTAL_STOCK,
      perUserLimit: 5,
      startsAt: new Date(now - 1000).toISOString(),
      endsAt: new Date(now + 600_000).toISOString(),
    });
    expect(deal.status).toBe(201);
    const dealId = deal.json.id as string;

    const { order, payment, holdId } = await checkoutAndPay(first.url, shopper.token, dealId, 1);
    expect(gatewayOf(payment)).toBe(gateway.url); // the payment lives in the other process
    const paymentId = payment.paymentId as string;

    // The webhook is held back, then the card is charged (what the card page's "Pay" does).
    await gateway.faults({ delayMs: WEBHOOK_DELAY_MS });
    const charged = await call(gateway.url, 'POST', `/v1/payments/${paymentId}/approve`, undefined, {});
    expect(charged.status).toBe(200);
    expect(charged.json.status).toBe('approved');

    // SIGKILL before the webhook arrives.
    await first.kill('SIGKILL');
    expect(first.child.signalCode).toBe('SIGKILL');
    expect(await gateway.deliveries()).toEqual([]);
    expect(await query(db.url, 'SELECT status FROM orders WHERE id = ?', [order.id])).toEqual([{ status: 'pending_payment' }]);
    expect(await query(db.url, 'SELECT status FROM payments WHERE order_id = ?', [order.id])).toEqual([{ status: 'pending' }]);

    // The webhook finds nobody listening, and the gateway keeps retrying.
    await waitFor(gateway.deliveries, (d) => d.some((r) => r.paymentId === paymentId && r.outcome === 'network-error'), 10_000, 'a failed delivery to the dead server');

    const restarted = await startServer();
    const paid = await waitFor(
      () => query<{ status: string; paid_at: number | null }>(db.url, 'SELECT status, paid_at FROM orders WHERE id = ?', [order.id]),
      (rows) => rows[0]?.status === 'paid',
      30_000,
      () => `the order to be paid\n${restarted.output().slice(-3000)}`,
    );
    expect(paid[0].paid_at).not.toBeNull();

    // The delivery that succeeded was to the new process; let any retry in flight settle too.
    const deliveries = await waitFor(gateway.deliveries, (d) => d.some((r) => r.paymentId === paymentId && r.outcome === 200), 10_000, 'a 200 delivery');
    const mine = deliveries.filter((r) => r.paymentId === paymentId);
    expect(mine.filter((r) => r.outcome === 200)).toHaveLength(1);
    expect(new Set(mine.map((r) => r.eventId)).size).toBe(1); // one event, retried
    await new Promise((r) => setTimeout(r, 1000));

    // Exactly once: one payment row, approved, no refund; one event, applied once.
    expect(await query(db.url, 'SELECT id, status, amount, flag, refund_reason FROM payments WHERE order_id = ?', [order.id])).toEqual([
      { id: paymentId, status: 'approved', amount: 1000, flag: null, refund_reason: null },
    ]);
    const events = await query<{ type: string; processed_at: number | null; outcome: string | null; source: string }>(
      db.url,
      'SELECT type, processed_at, outcome, source FROM payment_events WHERE payment_id = ?',
      [paymentId],
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'payment.approved', source: 'webhook', outcome: expect.stringMatching(/^paid/) });
    expect(events[0].processed_at).not.toBeNull();
    const orders = await query<{ status: string; refund_status: string | null }>(db.url, 'SELECT status, refund_status FROM orders WHERE id = ?', [order.id]);
    expect(orders).toEqual([{ status: 'paid', refund_status: null }]);

    // The unit is sold once, and the deal balances.
    const [row] = await query<{ total_stock: number; remaining_stock: number; held_units: number; sold_units: number; returned_units: number }>(
      db.url,
      'SELECT total_stock, remaining_stock, held_units, sold_units, returned_units FROM deals WHERE id = ?',
      [dealId],
    );
    expect(row).toEqual({ total_stock: TOTAL_STOCK, remaining_stock: TOTAL_STOCK - 1, held_units: 0, sold_units: 1, returned_units: 0 });
    expect(row.remaining_stock + row.held_units + row.sold_units + row.returned_units).toBe(TOTAL_STOCK);
    expect(await query(db.url, 'SELECT status, quantity FROM holds WHERE deal_id = ?', [dealId])).toEqual([{ status: 'sold', quantity: 1 }]);
    expect((await query(db.url, 'SELECT id FROM holds WHERE id = ?', [holdId])).length).toBe(1);

    // The shopper sees it paid, and the gateway kept the charge (no refund).
    const seen = await call(restarted.url, 'GET', `/api/orders/${order.id}`, shopper.token);
    expect(seen.status).toBe(200);
    expect(seen.json.status).toBe('paid');
    const atGateway = await call(gateway.url, 'GET', `/v1/payments/${paymentId}`);
    expect(atGateway.json).toMatchObject({ status: 'approved', chargedAmount: 1000 });

    // The gateway process keeps to LOG_LEVEL (warn here): no line per request, though it served many.
    expect(gateway.output()).not.toContain('"msg":"incoming request"');
    expect(gateway.output()).not.toContain('"msg":"request completed"');
  });
});

async function waitFor<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number, what: string | (() => string)): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
