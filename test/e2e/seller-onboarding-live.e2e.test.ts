import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { startServerProcess, type ServerProcess } from '../support/server-process';
import { createTestDatabase } from '../support/services';
import { insertUsers, type TestUser } from '../support/users';

/**
 * Issue 7, the parts seller-admin.e2e.test.ts does not cover, in a real browser:
 * 1. a user applies to sell; an admin approves the application in the ops panel (Users & sellers);
 *    that user, now a seller, creates a deal through the form and lands on its live monitor;
 * 2. a shopper in a second browser context buys through the shop's own pages (deal page, Buy,
 *    order page turning paid), and the seller's monitor shows the purchase within 2 s, with a new
 *    chart point.
 */

const ROOT = join(__dirname, '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const JWT_SECRET = 'seller-onboarding-e2e-secret-0123456789ab';
const SHIPPING = { name: 'Kim Minji', phone: '+82 10-1234-5678', line1: '12 Teheran-ro, Gangnam-gu', postal: '06236', country: 'KR' };

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
const localInput = (ms: number) => new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);

describe('seller onboarding approved in the ops panel, and a purchase from another browser on the live monitor (chromium, built server, MariaDB)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let dataDir: string | undefined;
  let server: ServerProcess | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const pages: Record<string, Page> = {};
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the browser test needs Debian's chromium; it never downloads one and does not skip`);
    for (const built of [join(ROOT, 'dist', 'src', 'main.js'), join(ROOT, 'client', 'dist', 'index.html')]) {
      if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    db = await createTestDatabase('e2eonb');
    dataDir = mkdtempSync(join(tmpdir(), 'dealrush-e2e-onb-'));
    const launching = chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    launching.catch(() => undefined);
    // The in-process mock gateway approves each card payment shortly after it is made.
    server = await startServerProcess({ DATABASE_URL: db.url, DATA_DIR: dataDir, DEMO_DATA: '0', SERVE_CLIENT: '1', JWT_SECRET, LOG_LEVEL: 'warn', GATEWAY_AUTO_APPROVE_MS: '300' });
    browser = await launching;
  }, 60_000);

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await server?.kill().catch(() => undefined);
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  async function openAs(label: string, user: TestUser, roles: string[]): Promise<Page> {
    const context = await browser!.newContext({ baseURL: server!.url, viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    const session = { access: user.token, user: JSON.stringify({ id: user.id, email: `${user.id}@users.test`, name: 'Test User', roles }) };
    await context.addInitScript((s) => {
      const storage = (globalThis as unknown as { localStorage: { setItem(key: string, value: string): void } }).localStorage;
      storage.setItem('dealrush.accessToken', s.access);
      storage.setItem('dealrush.refreshToken', 'none');
      storage.setItem('dealrush.user', s.user);
    }, session);
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`[${label}] ${e.message}`));
    pages[label] = page;
    return page;
  }

  it('an admin approves a seller application and that seller creates a deal; a purchase from another browser shows on the monitor within 2 s', async () => {
    try {
      await scenario();
    } catch (error) {
      for (const [label, page] of Object.entries(pages)) await page.screenshot({ path: join(ARTIFACTS, `e2e-onboarding-failure-${label}.png`), fullPage: true }).catch(() => undefined);
      writeFileSync(join(ARTIFACTS, 'e2e-onboarding-failure.log'), [...pageErrors, '--- server', server?.output() ?? ''].join('\n'));
      throw error;
    }
  }, 120_000);

  async function scenario(): Promise<void> {
    const [admin] = await insertUsers(db!.url, JWT_SECRET, 1, ['shopper', 'admin']);
    const [applicant] = await insertUsers(db!.url, JWT_SECRET, 1, ['shopper']);
    const [shopper] = await insertUsers(db!.url, JWT_SECRET, 1, ['shopper']);
    const byTestId = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`);
    const api = async (token: string, method: string, path: string, body?: unknown) => {
      const res = await fetch(`${server!.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, json: (await res.json().catch(() => null)) as any };
    };

    // 1. The applicant applies; before approval they cannot create a deal.
    const applied = await api(applicant.token, 'POST', '/api/me/seller-application', {
      businessName: 'Keyboard House', registrationNumber: 'KH-2026-001', contactName: 'Lee Seo', contactEmail: 'lee@keyboard.example', contactPhone: '010-3333-4444',
    });
    expect(applied.status).toBe(201);
    expect((await api(applicant.token, 'GET', '/api/seller/deals')).status).toBe(403);

    // The admin approves it in the ops panel.
    const a = await openAs('admin', admin, ['shopper', 'admin']);
    await a.goto('/admin');
    await byTestId(a, 'tab-users').click();
    const row = a.locator(`[data-testid="ops-application"][data-user-id="${applicant.id}"]`);
    await row.waitFor({ state: 'visible', timeout: 10_000 });
    await row.locator('[data-testid="ops-approve"]').click();
    await waitUntil('application approved', async () => (await api(applicant.token, 'GET', '/api/me/seller-application')).json?.status, (s) => s === 'approved', 5000);
    await a.screenshot({ path: join(ARTIFACTS, 'e2e-ops-panel-users.png'), fullPage: true });

    // 2. The new seller creates a deal through the form (their token still says shopper: the server reads the role from the database).
    const s = await openAs('seller', applicant, ['shopper', 'seller']);
    await s.goto('/seller/deals/new');
    await byTestId(s, 'deal-title-input').fill('Hot-swap keyboard, launch sale');
    await byTestId(s, 'deal-description-input').fill('Gasket mount, PBT keycaps.');
    await byTestId(s, 'deal-category-input').fill('computers');
    await byTestId(s, 'deal-price-input').fill('45000');
    await byTestId(s, 'deal-original-price-input').fill('90000');
    await byTestId(s, 'deal-stock-input').fill('20');
    await byTestId(s, 'deal-limit-input').fill('3');
    await byTestId(s, 'deal-starts-input').fill(localInput(Date.now() - 60_000));
    await byTestId(s, 'deal-ends-input').fill(localInput(Date.now() + 3_600_000));
    await byTestId(s, 'deal-submit').click();
    await s.waitForURL((url) => /^\/seller\/deals\/[0-9a-f-]{36}$/.test(url.pathname), { timeout: 10_000 });
    const dealId = new URL(s.url()).pathname.split('/').pop()!;
    const deal = await api(applicant.token, 'GET', `/api/deals/${dealId}`);
    expect(deal.json).toMatchObject({ sellerId: applicant.id, title: 'Hot-swap keyboard, launch sale' });
    await waitUntil('monitor live', () => text(byTestId(s, 'monitor-live')), (t) => t === 'Live', 10_000);
    await waitUntil('monitor open', () => text(byTestId(s, 'monitor-status')), (t) => t === 'open', 10_000);
    expect(await text(byTestId(s, 'monitor-sold'))).toBe('0');
    const chart = byTestId(s, 'live-chart');
    const pointsBefore = await waitUntil('first chart points', async () => Number(await chart.getAttribute('data-points')), (n) => n >= 1, 5000);

    // 3. A shopper in another browser context buys through the shop's pages.
    const b = await openAs('shopper', shopper, ['shopper']);
    await b.goto(`/deals/${dealId}`);
    await waitUntil('shopper deal open', () => text(byTestId(b, 'deal-status')), (t) => t === 'open', 10_000);
    await byTestId(b, 'quantity').selectOption('2');
    await byTestId(b, 'ship-name').fill(SHIPPING.name);
    await byTestId(b, 'ship-phone').fill(SHIPPING.phone);
    await byTestId(b, 'ship-line1').fill(SHIPPING.line1);
    await byTestId(b, 'ship-postal').fill(SHIPPING.postal);
    await byTestId(b, 'ship-country').fill(SHIPPING.country);
    await byTestId(b, 'buy-button').click();
    await waitUntil(
      'shopper order page',
      async () => {
        if (await byTestId(b, 'buy-error').count()) throw new Error(`buying failed on the page: ${await text(byTestId(b, 'buy-error'))}`);
        return new URL(b.url()).pathname;
      },
      (p) => /^\/orders\/[0-9a-f-]{36}$/.test(p),
      15_000,
    );
    const pay = byTestId(b, 'pay-button');
    if (await pay.count()) await pay.click().catch(() => undefined);
    await waitUntil('shopper order paid', () => text(byTestId(b, 'order-status')), (t) => t === 'paid', 15_000);
    const paidAt = Date.now();
    await waitUntil('monitor shows the purchase', () => text(byTestId(s, 'monitor-sold')), (t) => t === '2', 5000);
    expect(Date.now() - paidAt).toBeLessThan(2000);
    expect(await text(byTestId(s, 'monitor-revenue'))).toMatch(/90,000/);
    expect(await text(byTestId(s, 'monitor-remaining'))).toBe('18');
    const pointsAfter = await waitUntil('a new chart point', async () => Number(await chart.getAttribute('data-points')), (n) => n > pointsBefore, 5000);
    expect(pointsAfter).toBeGreaterThan(pointsBefore);
    await s.screenshot({ path: join(ARTIFACTS, 'e2e-seller-monitor-browser-purchase.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  }
});
