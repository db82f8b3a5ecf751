import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { startServerProcess, type ServerProcess } from '../support/server-process';
import { createTestDatabase } from '../support/services';
import { insertUsers, type TestUser } from '../support/users';

/**
 * Issue 7 in a real browser (Debian chromium, playwright-core, the built server and client on
 * MariaDB):
 * 1. a seller creates a deal through the form, first with a price above the original price and
 *    sees the server's message under the price field, then fixes it and lands on the live monitor;
 * 2. shoppers buy over HTTP and the monitor's figures and its chart move, within 2 s, with no
 *    reload;
 * 3. an admin opens the ops panel (cluster: this node and its actors; deals), pauses the deal
 *    there, and the change shows live on the panel and on a shopper's open deal page within 1 s.
 * Screenshots of the form, the monitor and the ops panel go to test-artifacts/.
 */

const ROOT = join(__dirname, '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const JWT_SECRET = 'seller-admin-e2e-secret-0123456789abcdef';
const SHIPPING = { name: 'Kim Minji', phone: '010-1234-5678', line1: '1 Sejong-daero', postalCode: '04524', country: 'KR' };

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

/** `<input type="datetime-local">` value for `ms` in this machine's time zone (the browser's too). */
function localInput(ms: number): string {
  return new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

describe('seller monitor and admin ops panel in the browser (chromium, built server, MariaDB)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let dataDir: string | undefined;
  let server: ServerProcess | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const pages: Record<string, Page> = {};
  const browserLog: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the browser test needs Debian's chromium (apt-get install chromium); it never downloads one and does not skip`);
    for (const built of [join(ROOT, 'dist', 'src', 'main.js'), join(ROOT, 'client', 'dist', 'index.html')]) {
      if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    db = await createTestDatabase('e2eops');
    dataDir = mkdtempSync(join(tmpdir(), 'dealrush-e2e-ops-'));
    const launching = chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    launching.catch(() => undefined);
    server = await startServerProcess({ DATABASE_URL: db.url, DATA_DIR: dataDir, DEMO_DATA: '0', SERVE_CLIENT: '1', JWT_SECRET, LOG_LEVEL: 'warn' });
    browser = await launching;
  }, 60_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await server?.kill().catch(() => undefined);
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  /** A browser context already logged in as `user` (the session as the app keeps it in localStorage). */
  async function openAs(label: string, user: TestUser | null, roles: string[]): Promise<Page> {
    const context = await browser!.newContext({ baseURL: server!.url, viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    if (user) {
      const session = { access: user.token, user: JSON.stringify({ id: user.id, email: `${user.id}@users.test`, name: 'Test User', roles }) };
      await context.addInitScript((s) => {
        // Runs in the page; this file is compiled without the DOM's types.
        const storage = (globalThis as unknown as { localStorage: { setItem(key: string, value: string): void } }).localStorage;
        storage.setItem('dealrush.accessToken', s.access);
        storage.setItem('dealrush.refreshToken', 'none');
        storage.setItem('dealrush.user', s.user);
      }, session);
    }
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') browserLog.push(`[${label} console.error] ${m.text()}`);
    });
    page.on('pageerror', (e) => pageErrors.push(`[${label}] ${e.message}`));
    pages[label] = page;
    return page;
  }

  async function keepEvidence(): Promise<void> {
    for (const [label, page] of Object.entries(pages)) await page.screenshot({ path: join(ARTIFACTS, `e2e-seller-admin-failure-${label}.png`), fullPage: true }).catch(() => undefined);
    writeFileSync(join(ARTIFACTS, 'e2e-seller-admin-failure.log'), ['--- browser', ...browserLog, ...pageErrors, '--- server', server?.output() ?? ''].join('\n'));
  }

  /** A shopper buys `quantity` units over HTTP: hold, order, payment, the gateway's approval; resolves once paid. */
  async function buy(shopper: TestUser, dealId: string, quantity: number): Promise<void> {
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${server!.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${shopper.token}`, 'content-type': 'application/json', 'idempotency-key': `${path}-${Math.random()}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await res.json().catch(() => null)) as Record<string, any>;
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const { hold } = await call('POST', '/api/cart/items', { dealId, quantity });
    const order = await call('POST', '/api/orders', { holdIds: [hold.id], shippingAddress: SHIPPING });
    const payment = await call('POST', `/api/orders/${order.id}/payment`, { method: 'card' });
    for (const origin of new Set([server!.url, new URL(payment.checkoutUrl, server!.url).origin])) {
      const approved = await fetch(`${origin}/v1/payments/${payment.paymentId}/approve`, { method: 'POST' }).catch(() => null);
      if (approved?.ok) break;
    }
    await waitUntil('order paid', async () => (await call('GET', `/api/orders/${order.id}`)).status, (s) => s === 'paid', 10_000);
  }

  it('a seller creates a deal through the form and watches it sell live; an admin pauses it from the ops panel', async () => {
    try {
      await scenario();
    } catch (error) {
      await keepEvidence();
      throw error;
    }
  }, 120_000);

  async function scenario(): Promise<void> {
    const [seller] = await insertUsers(db!.url, JWT_SECRET, 1, ['shopper', 'seller']);
    const [admin] = await insertUsers(db!.url, JWT_SECRET, 1, ['shopper', 'admin']);
    const shoppers = await insertUsers(db!.url, JWT_SECRET, 3);
    const byTestId = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`);

    // 1. The seller's form, first with a price above the original price.
    const s = await openAs('seller', seller, ['shopper', 'seller']);
    await s.goto('/seller');
    await byTestId(s, 'new-deal').first().click();
    await s.waitForURL((url) => url.pathname === '/seller/deals/new', { timeout: 10_000 });
    await byTestId(s, 'deal-title-input').fill('Mechanical keyboard, 40% off');
    await byTestId(s, 'deal-description-input').fill('Hot-swappable switches, aluminium case.');
    await byTestId(s, 'deal-category-input').fill('computers');
    await byTestId(s, 'deal-price-input').fill('59000');
    await byTestId(s, 'deal-original-price-input').fill('39000');
    await byTestId(s, 'deal-stock-input').fill('50');
    await byTestId(s, 'deal-limit-input').fill('5');
    await byTestId(s, 'deal-starts-input').fill(localInput(Date.now() - 60_000));
    await byTestId(s, 'deal-ends-input').fill(localInput(Date.now() + 3_600_000));
    await byTestId(s, 'deal-submit').click();
    const priceError = byTestId(s, 'error-price');
    await priceError.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await text(priceError)).toBe('Must not exceed originalPrice'); // the server's message, under its field
    expect(await byTestId(s, 'deal-price-input').getAttribute('aria-invalid')).toBe('true');
    expect(new URL(s.url()).pathname).toBe('/seller/deals/new'); // nothing was created
    await s.screenshot({ path: join(ARTIFACTS, 'e2e-seller-form-error.png'), fullPage: true });

    // Fixed: the deal is created and the monitor opens.
    await byTestId(s, 'deal-original-price-input').fill('99000');
    await byTestId(s, 'deal-submit').click();
    await s.waitForURL((url) => /^\/seller\/deals\/[0-9a-f-]{36}$/.test(url.pathname), { timeout: 10_000 });
    const dealId = new URL(s.url()).pathname.split('/').pop()!;
    expect(await byTestId(s, 'error-price').count()).toBe(0);
    await waitUntil('monitor live', () => text(byTestId(s, 'monitor-live')), (t) => t === 'Live', 10_000);
    expect(await text(byTestId(s, 'monitor-title'))).toBe('Mechanical keyboard, 40% off');
    await waitUntil('monitor status', () => text(byTestId(s, 'monitor-status')), (t) => t === 'open', 10_000);
    expect(await text(byTestId(s, 'monitor-sold'))).toBe('0');
    expect(await text(byTestId(s, 'monitor-remaining'))).toBe('50');
    const chart = byTestId(s, 'live-chart');
    await chart.locator('canvas').waitFor({ state: 'attached', timeout: 5000 }); // uPlot draws on a canvas
    const pointsBefore = Number(await waitUntil('first chart points', async () => Number(await chart.getAttribute('data-points')), (n) => n >= 1, 5000));
    const revenueBefore = await text(byTestId(s, 'monitor-revenue'));

    // 2. Shoppers buy over HTTP; the monitor moves within 2 s of the first paid order.
    await buy(shoppers[0], dealId, 2);
    const firstPaidAt = Date.now();
    await waitUntil('monitor sold after the first purchase', () => text(byTestId(s, 'monitor-sold')), (t) => t === '2', 5000);
    expect(Date.now() - firstPaidAt).toBeLessThan(2000);
    expect(await text(byTestId(s, 'monitor-revenue'))).not.toBe(revenueBefore);
    expect(await text(byTestId(s, 'monitor-revenue'))).toMatch(/118,000/);
    await buy(shoppers[1], dealId, 1);
    await buy(shoppers[2], dealId, 3);
    await waitUntil('monitor sold after three purchases', () => text(byTestId(s, 'monitor-sold')), (t) => t === '6', 5000);
    expect(await text(byTestId(s, 'monitor-remaining'))).toBe('44');
    expect(await text(byTestId(s, 'monitor-orders'))).toBe('3');
    expect(await text(byTestId(s, 'monitor-revenue'))).toMatch(/354,000/);
    // The chart has new points, and the orders-per-second line rose above zero at some tick.
    const pointsAfter = await waitUntil('chart points', async () => Number(await chart.getAttribute('data-points')), (n) => n >= pointsBefore + 2, 5000);
    expect(pointsAfter).toBeGreaterThan(pointsBefore);
    await s.waitForTimeout(300);
    await s.screenshot({ path: join(ARTIFACTS, 'e2e-seller-monitor.png'), fullPage: true });

    // 3. A shopper has the deal page open; the admin opens the ops panel.
    const shopperPage = await openAs('shopper', null, []);
    await shopperPage.goto(`/deals/${dealId}`);
    await waitUntil('shopper deal open', () => text(byTestId(shopperPage, 'deal-status')), (t) => t === 'open', 10_000);
    await shopperPage.locator('.live--on').waitFor({ state: 'visible', timeout: 10_000 });

    const a = await openAs('admin', admin, ['shopper', 'admin']);
    await a.goto('/admin');
    await waitUntil('ops live', () => text(byTestId(a, 'ops-live')), (t) => t === 'Live', 10_000);
    const node = byTestId(a, 'ops-node');
    await node.waitFor({ state: 'visible', timeout: 5000 });
    expect(await node.count()).toBe(1);
    expect(Number(await text(byTestId(a, 'ops-active-deal')))).toBeGreaterThanOrEqual(1);
    expect(Number(await text(byTestId(a, 'ops-active-order')))).toBeGreaterThanOrEqual(3);
    expect(Number(await text(byTestId(a, 'ops-sockets')))).toBeGreaterThanOrEqual(3); // seller, shopper, admin
    await a.screenshot({ path: join(ARTIFACTS, 'e2e-ops-panel-cluster.png'), fullPage: true });

    await byTestId(a, 'tab-deals').click();
    const row = a.locator(`[data-testid="ops-deal"][data-deal-id="${dealId}"]`);
    await row.waitFor({ state: 'visible', timeout: 5000 });
    expect(await text(row.locator('[data-testid="ops-deal-status"]'))).toBe('open');
    expect(await text(row.locator('[data-testid="ops-deal-remaining"]'))).toBe('44 / 50');

    await row.locator('[data-testid="ops-deal-pause"]').click();
    const pausedAt = Date.now();
    await waitUntil('shopper page paused', () => text(byTestId(shopperPage, 'deal-status')), (t) => t === 'paused', 3000);
    expect(Date.now() - pausedAt).toBeLessThan(1000);
    await waitUntil('ops row paused', () => text(row.locator('[data-testid="ops-deal-status"]')), (t) => t === 'paused', 3000);
    await row.locator('[data-testid="ops-deal-resume"]').waitFor({ state: 'visible', timeout: 3000 });
    // The next snapshots agree (the row stays paused), and so does the seller's monitor.
    await a.waitForTimeout(2500);
    expect(await text(row.locator('[data-testid="ops-deal-status"]'))).toBe('paused');
    await waitUntil('seller monitor paused', () => text(byTestId(s, 'monitor-status')), (t) => t === 'paused', 3000);
    await a.screenshot({ path: join(ARTIFACTS, 'e2e-ops-panel-deals.png'), fullPage: true });

    // The job queues open from the panel in the browser (a page load carries no bearer token: the
    // panel asks for the /admin/queues cookie first). This server runs the jobs in-process.
    const [queues] = await Promise.all([a.waitForResponse((r) => new URL(r.url()).pathname === '/admin/queues', { timeout: 10_000 }), byTestId(a, 'bull-board-link').click()]);
    expect(queues.status()).toBe(200);
    expect(await queues.text()).toContain('in-process');

    expect(pageErrors).toEqual([]);
    for (const context of contexts) await context.close();
  }
});
