import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { startServerProcess, type ServerProcess } from '../support/server-process';
import { createTestDatabase, query } from '../support/services';
import { insertUsers, type TestUser } from '../support/users';

/**
 * Issue 5 in a real browser (Debian chromium, playwright-core, the built server and client on
 * MariaDB): a shopper checks out on the deal page (shipping address, Buy), is handed off to the
 * gateway's hosted card page, pays there, comes back to the order page (the gateway's
 * `returnUrl`), and sees the order turn `paid` live, pushed as `order:updated` over socket.io,
 * without a reload. GATEWAY_AUTO_APPROVE_MS is off: only the card page's "Pay" charges the card.
 * The webhook is delayed by the gateway's fault injection, so the shopper is back on the order
 * page, still `pending_payment`, before it arrives.
 */

const ROOT = join(__dirname, '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const JWT_SECRET = 'checkout-payment-e2e-secret-0123456789abcdef';
const SHIPPING = { name: 'Kim Minji', phone: '+82 10-1234-5678', line1: '12 Teheran-ro, Gangnam-gu', postal: '06236', country: 'KR' };
/** How long the gateway holds the webhook back: the shopper is back on the order page before it. */
const WEBHOOK_DELAY_MS = 2500;
/** The order page's fallback poll while pending (OrderPage.vue): "live" must beat it by far. */
const PENDING_POLL_MS = 10_000;

async function waitUntil<T>(what: string, read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    try {
      last = await read();
      if (accept(last)) return last;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms (last seen: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const text = async (locator: Locator) => ((await locator.first().textContent({ timeout: 5000 })) ?? '').trim();

describe('checkout and payment on the gateway card page in the browser (chromium, built server, MariaDB)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let dataDir: string | undefined;
  let server: ServerProcess | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let page: Page | undefined;
  const browserLog: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the browser test needs Debian's chromium (apt-get install chromium); it never downloads one and does not skip`);
    for (const built of [join(ROOT, 'dist', 'src', 'main.js'), join(ROOT, 'client', 'dist', 'index.html')]) {
      if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    db = await createTestDatabase('e2epay');
    dataDir = mkdtempSync(join(tmpdir(), 'dealrush-e2e-pay-'));
    const launching = chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    launching.catch(() => undefined);
    server = await startServerProcess({
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      DEMO_DATA: '0',
      SERVE_CLIENT: '1',
      JWT_SECRET,
      LOG_LEVEL: 'warn',
      // Off (an empty value is unset): the shopper pays on the card page, nothing approves by itself.
      GATEWAY_AUTO_APPROVE_MS: '',
      // The test delays webhooks through the in-process gateway's fault routes.
      GATEWAY_FAULT_ROUTES: '1',
    });
    browser = await launching;
  }, 60_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await server?.kill().catch(() => undefined);
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  async function keepEvidence(): Promise<void> {
    await page?.screenshot({ path: join(ARTIFACTS, 'e2e-checkout-payment-failure.png'), fullPage: true }).catch(() => undefined);
    writeFileSync(join(ARTIFACTS, 'e2e-checkout-payment-failure.log'), [`page: ${page?.url()}`, '--- browser', ...browserLog, ...pageErrors, '--- server', server?.output() ?? ''].join('\n'));
  }

  async function createDeal(seller: TestUser): Promise<string> {
    const now = Date.now();
    const res = await fetch(`${server!.url}/api/seller/deals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${seller.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        title: 'Card page headphones',
        description: 'Paid on the gateway card page',
        category: 'test',
        price: 89000,
        originalPrice: 129000,
        currency: 'KRW',
        totalStock: 5,
        perUserLimit: 2,
        startsAt: new Date(now - 1000).toISOString(),
        endsAt: new Date(now + 600_000).toISOString(),
      }),
    });
    const body = (await res.json()) as { id: string };
    if (res.status !== 201) throw new Error(`deal not created: ${res.status} ${JSON.stringify(body)}`);
    return body.id;
  }

  it('checks out, pays on the card page, comes back and sees the order become paid live', async () => {
    try {
      const [seller] = await insertUsers(db!.url, JWT_SECRET, 1, ['shopper', 'seller']);
      const [shopper] = await insertUsers(db!.url, JWT_SECRET, 1);
      const dealId = await createDeal(seller);

      context = await browser!.newContext({ baseURL: server!.url, viewport: { width: 1280, height: 900 } });
      const session = { access: shopper.token, user: JSON.stringify({ id: shopper.id, email: `${shopper.id}@users.test`, name: 'Test Shopper', roles: ['shopper'] }) };
      await context.addInitScript((s) => {
        const storage = (globalThis as unknown as { localStorage: { setItem(key: string, value: string): void } }).localStorage;
        storage.setItem('dealrush.accessToken', s.access);
        storage.setItem('dealrush.refreshToken', 'none');
        storage.setItem('dealrush.user', s.user);
      }, session);
      page = await context.newPage();
      const p = page;
      p.on('console', (m) => {
        if (m.type() === 'error') browserLog.push(`[console.error] ${m.text()}`);
      });
      p.on('pageerror', (e) => pageErrors.push(e.message));
      // Every `order:updated` the page receives over socket.io (websocket frames or polling answers).
      const orderEvents: Array<{ at: number; payload: string }> = [];
      const noteFrame = (payload: string) => {
        if (payload.includes('"order:updated"')) orderEvents.push({ at: Date.now(), payload });
      };
      p.on('websocket', (ws) => ws.on('framereceived', (f) => noteFrame(typeof f.payload === 'string' ? f.payload : f.payload.toString('utf8'))));
      p.on('response', (r) => {
        if (new URL(r.url()).pathname.startsWith('/socket.io/') && r.request().method() === 'GET') void r.text().then(noteFrame, () => undefined);
      });
      const byTestId = (id: string) => p.locator(`[data-testid="${id}"]`);

      // Checkout on the deal page: quantity, the shipping address, Buy.
      await p.goto(`/deals/${dealId}`);
      await waitUntil('deal-status open', () => text(byTestId('deal-status')), (t) => t === 'open', 10_000);
      await byTestId('quantity').selectOption('1');
      await byTestId('ship-name').fill(SHIPPING.name);
      await byTestId('ship-phone').fill(SHIPPING.phone);
      await byTestId('ship-line1').fill(SHIPPING.line1);
      await byTestId('ship-postal').fill(SHIPPING.postal);
      await byTestId('ship-country').fill(SHIPPING.country);
      await byTestId('buy-button').click();
      await p.waitForURL((url) => /^\/orders\/[0-9a-f-]{36}$/.test(url.pathname), { timeout: 15_000 });
      const orderPath = new URL(p.url()).pathname;
      const orderId = orderPath.split('/').pop()!;
      expect(new URL(p.url()).searchParams.get('payment')).toBeNull();
      expect(await text(byTestId('order-status'))).toBe('pending_payment');

      // Nothing approves by itself: the order stays pending while the shopper has not paid.
      await p.waitForTimeout(1500);
      expect(await text(byTestId('order-status'))).toBe('pending_payment');
      const [pendingRow] = await query<{ status: string }>(db!.url, 'SELECT status FROM payments WHERE order_id = ?', [orderId]);
      expect(pendingRow.status).toBe('pending');

      // The webhook will be held back (the in-process gateway's fault injection), then: hand-off.
      const faults = await fetch(`${server!.url}/v1/_faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ delayMs: WEBHOOK_DELAY_MS }) });
      expect(faults.status).toBe(200);
      await byTestId('pay-link').click();
      await p.waitForURL((url) => /^\/v1\/payments\/[A-Za-z0-9_-]+\/checkout$/.test(url.pathname), { timeout: 10_000 });
      expect(await p.locator('h1').first().textContent()).toMatch(/Pay 89,000 KRW/);
      await p.screenshot({ path: join(ARTIFACTS, 'e2e-checkout-card-page.png'), fullPage: true });

      // Pay on the card page: the gateway charges and sends the shopper back to the order page.
      await p.locator('[data-testid="gateway-approve"]').click();
      await p.waitForURL((url) => url.pathname === orderPath, { timeout: 10_000 });
      const backAt = Date.now();
      await waitUntil('order page loaded', () => text(byTestId('order-status')), (t) => t.length > 0, 10_000);
      // Back before the webhook: still pending here, with the card charged at the gateway.
      expect(await text(byTestId('order-status'))).toBe('pending_payment');
      await p.evaluate(() => ((globalThis as { e2eMark?: boolean }).e2eMark = true));
      const eventsBefore = orderEvents.length;

      // Paid, live: pushed as order:updated, well before the page's fallback poll, no reload.
      await waitUntil('order-status paid', () => text(byTestId('order-status')), (t) => t === 'paid', WEBHOOK_DELAY_MS + 5000);
      const paidAfterMs = Date.now() - backAt;
      expect(paidAfterMs).toBeLessThan(PENDING_POLL_MS - 2000);
      await p.getByText('Payment received').waitFor({ state: 'visible', timeout: 5000 });
      expect(await p.evaluate(() => (globalThis as { e2eMark?: boolean }).e2eMark === true)).toBe(true);
      await waitUntil('an order:updated for the order', async () => orderEvents.slice(eventsBefore).filter((e) => e.payload.includes(orderId)).length, (n) => n > 0, 3000);
      await p.screenshot({ path: join(ARTIFACTS, 'e2e-checkout-paid.png'), fullPage: true });

      // And in the database: paid once, the unit sold.
      expect(await query(db!.url, 'SELECT status FROM orders WHERE id = ?', [orderId])).toEqual([{ status: 'paid' }]);
      expect(await query(db!.url, 'SELECT status FROM payments WHERE order_id = ?', [orderId])).toEqual([{ status: 'approved' }]);
      const [deal] = await query<{ sold_units: number; held_units: number; remaining_stock: number }>(db!.url, 'SELECT sold_units, held_units, remaining_stock FROM deals WHERE id = ?', [dealId]);
      expect(deal).toEqual({ sold_units: 1, held_units: 0, remaining_stock: 4 });
      expect(pageErrors).toEqual([]);
    } catch (error) {
      await keepEvidence();
      throw error;
    } finally {
      await context?.close().catch(() => undefined);
    }
  }, 90_000);
});
