import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { startServerProcess, type ServerProcess } from '../support/server-process';
import { createTestDatabase } from '../support/services';
import { insertUsers } from '../support/users';

/**
 * Issue 6, item 6 in a real browser (Debian chromium, playwright-core, the built server and client
 * on MariaDB): a visitor signs up and sees no seller or admin links; edits the profile (first an
 * invalid phone, then a blank name, each server message shown under its field; then valid values
 * that survive a reload); applies to sell and sees "pending"; an admin approves over HTTP; after a
 * reload the page says "approved" and the seller link appears and works; logging out calls the
 * server (the refresh token stops working) and the header is anonymous again.
 */

const ROOT = join(__dirname, '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const JWT_SECRET = 'account-e2e-secret-0123456789abcdef0123';

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

describe('accounts in the browser: signup, profile, seller application, roles in the header, logout (chromium, built server, MariaDB)', () => {
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
    db = await createTestDatabase('e2eacct');
    dataDir = mkdtempSync(join(tmpdir(), 'dealrush-e2e-account-'));
    const launching = chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    launching.catch(() => undefined);
    server = await startServerProcess({ DATABASE_URL: db.url, DATA_DIR: dataDir, DEMO_DATA: '0', SERVE_CLIENT: '1', JWT_SECRET, LOG_LEVEL: 'warn' });
    browser = await launching;
  }, 60_000);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await server?.kill().catch(() => undefined);
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  async function keepEvidence(): Promise<void> {
    await page?.screenshot({ path: join(ARTIFACTS, 'e2e-account-failure.png'), fullPage: true }).catch(() => undefined);
    writeFileSync(join(ARTIFACTS, 'e2e-account-failure.log'), ['--- browser', ...browserLog, ...pageErrors, '--- server', server?.output() ?? ''].join('\n'));
  }

  it('signs up, edits the profile, applies to sell, becomes a seller once approved, and logs out', async () => {
    try {
      await scenario();
    } catch (error) {
      await keepEvidence();
      throw error;
    }
  }, 120_000);

  async function scenario(): Promise<void> {
    const [admin] = await insertUsers(db!.url, JWT_SECRET, 1, ['shopper', 'admin']);
    context = await browser!.newContext({ baseURL: server!.url, viewport: { width: 1280, height: 900 } });
    const p = await context.newPage();
    page = p;
    p.on('console', (m) => {
      if (m.type() === 'error') browserLog.push(`[console.error] ${m.text()}`);
    });
    p.on('pageerror', (e) => pageErrors.push(e.message));
    const byTestId = (id: string) => p.locator(`[data-testid="${id}"]`);
    const storage = (key: string) => p.evaluate((k) => (globalThis as unknown as { localStorage: { getItem(key: string): string | null } }).localStorage.getItem(k), key);

    // 1. Sign up in the browser: logged in, a shopper, no seller or admin links.
    const email = `buyer-${Date.now()}@example.test`;
    await p.goto('/signup');
    await byTestId('signup-name').fill('Lee Jiwoo');
    await byTestId('signup-email').fill(email);
    await byTestId('signup-password').fill('plum-Orchard-47-kite');
    await byTestId('signup-submit').click();
    await p.waitForURL((url) => url.pathname === '/', { timeout: 10_000 });
    await waitUntil('header name', () => text(byTestId('user-name')), (t) => t === 'Lee Jiwoo', 10_000);
    expect(await byTestId('nav-seller').count()).toBe(0);
    expect(await byTestId('nav-admin').count()).toBe(0);
    // The seller page is not reachable by typing its address either.
    await p.goto('/seller');
    await p.waitForURL((url) => url.pathname === '/', { timeout: 10_000 });

    // 2. The profile: an invalid phone, then a blank name, each message under its field.
    await byTestId('user-name').click();
    await p.waitForURL((url) => url.pathname === '/account', { timeout: 10_000 });
    await byTestId('profile-form').waitFor({ state: 'visible', timeout: 10_000 });
    expect(await byTestId('profile-name-input').inputValue()).toBe('Lee Jiwoo');
    await byTestId('ship-name').fill('Lee Jiwoo');
    await byTestId('ship-phone').fill('call me maybe');
    await byTestId('ship-line1').fill('1 Sejong-daero');
    await byTestId('ship-postal').fill('04524');
    await byTestId('ship-country').fill('KR');
    await byTestId('profile-save').click();
    const phoneError = byTestId('error-ship-phone');
    await phoneError.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await text(phoneError)).toMatch(/^Must match pattern/); // the server's message (schema pattern), in place
    expect(await byTestId('ship-phone').getAttribute('aria-invalid')).toBe('true');
    expect(await byTestId('profile-saved').count()).toBe(0);
    await p.screenshot({ path: join(ARTIFACTS, 'e2e-account-profile-error.png'), fullPage: true });

    await byTestId('ship-phone').fill('010-1234-5678');
    await byTestId('profile-name-input').fill('   ');
    await byTestId('profile-save').click();
    const nameError = byTestId('error-name');
    await nameError.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await text(nameError)).toBe('Must not be blank');
    expect(await byTestId('profile-name-input').getAttribute('aria-invalid')).toBe('true');
    expect(await byTestId('error-ship-phone').count()).toBe(0);

    await byTestId('profile-name-input').fill('Lee Jiwoo Kim');
    await byTestId('profile-save').click();
    await byTestId('profile-saved').waitFor({ state: 'visible', timeout: 10_000 });
    expect(await byTestId('error-name').count()).toBe(0);
    await waitUntil('header name after the change', () => text(byTestId('user-name')), (t) => t === 'Lee Jiwoo Kim', 5000);
    await p.reload();
    await byTestId('profile-form').waitFor({ state: 'visible', timeout: 10_000 });
    expect(await byTestId('profile-name-input').inputValue()).toBe('Lee Jiwoo Kim');
    expect(await byTestId('ship-phone').inputValue()).toBe('010-1234-5678');
    expect(await byTestId('ship-line1').inputValue()).toBe('1 Sejong-daero');
    expect(await byTestId('ship-country').inputValue()).toBe('KR');

    // 3. Apply to sell: the application is pending; still no seller link.
    await byTestId('nav-become-seller').click();
    await p.waitForURL((url) => url.pathname === '/account/seller-application', { timeout: 10_000 });
    await byTestId('seller-application-form').waitFor({ state: 'visible', timeout: 10_000 });
    const business = `Jiwoo Keyboards ${Date.now()}`;
    await byTestId('apply-business-name').fill(business);
    await byTestId('apply-registration-number').fill('220-81-62517');
    await byTestId('apply-contact-name').fill('Lee Jiwoo');
    await byTestId('apply-contact-email').fill('sales@jiwoo.example');
    await byTestId('apply-contact-phone').fill('+82 2 555 0100');
    await byTestId('apply-submit').click();
    await waitUntil('application pending', () => text(byTestId('application-status')), (t) => t === 'pending', 10_000);
    expect(await byTestId('seller-application-form').count()).toBe(0);
    expect(await byTestId('nav-seller').count()).toBe(0);
    await p.screenshot({ path: join(ARTIFACTS, 'e2e-account-application-pending.png'), fullPage: true });

    // 4. An admin approves over HTTP.
    const asAdmin = async (method: string, path: string) => {
      const res = await fetch(`${server!.url}${path}`, { method, headers: { authorization: `Bearer ${admin.token}` } });
      const json = (await res.json().catch(() => null)) as Record<string, any>;
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const list = await asAdmin('GET', `/api/admin/seller-applications?status=pending&q=${encodeURIComponent(business)}`);
    expect(list.items).toHaveLength(1);
    const approved = await asAdmin('POST', `/api/admin/seller-applications/${list.items[0].id}/approve`);
    expect(approved.status).toBe('approved');

    // 5. After a reload: approved, and the seller link appears and opens the seller's page.
    await p.reload();
    await waitUntil('application approved', () => text(byTestId('application-status')), (t) => t === 'approved', 10_000);
    await byTestId('nav-seller').waitFor({ state: 'visible', timeout: 10_000 });
    expect(await byTestId('nav-admin').count()).toBe(0);
    expect(await byTestId('nav-become-seller').count()).toBe(0);
    await p.screenshot({ path: join(ARTIFACTS, 'e2e-account-application-approved.png'), fullPage: true });
    await byTestId('nav-seller').click();
    await p.waitForURL((url) => url.pathname === '/seller', { timeout: 10_000 });
    await byTestId('new-deal').first().waitFor({ state: 'visible', timeout: 10_000 });

    // 6. Log out: the server revokes the refresh token, the header is anonymous again.
    const refreshToken = await storage('dealrush.refreshToken');
    expect(refreshToken).toBeTruthy();
    const loggedOut = p.waitForResponse((r) => new URL(r.url()).pathname === '/api/auth/logout', { timeout: 10_000 });
    await byTestId('logout').click();
    expect((await loggedOut).status()).toBe(204);
    await waitUntil('anonymous header', () => byTestId('user-name').count(), (n) => n === 0, 5000);
    expect(await byTestId('nav-seller').count()).toBe(0);
    expect(await byTestId('logout').count()).toBe(0);
    expect(new URL(p.url()).pathname).toBe('/');
    expect(await storage('dealrush.refreshToken')).toBeNull();
    const refresh = await fetch(`${server!.url}/api/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken }) });
    expect(refresh.status).toBe(401);

    expect(pageErrors).toEqual([]);
  }
});
