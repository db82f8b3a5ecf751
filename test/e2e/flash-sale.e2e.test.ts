import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page, type Request } from 'playwright-core';
import { startServerProcess, type ServerProcess } from '../support/server-process';
import { createTestDatabase } from '../support/services';

/**
 * The flash sale in a real browser: headless Debian chromium driven by playwright-core opens the
 * demo headphones deal, sees the countdown tick and the deal open, buys a unit (log in, shipping
 * address, order, card payment, order page turning `paid` live), and a second browser context on
 * the deal page sees the stock drop from 300 to 299 over socket.io, without a reload.
 * Screenshots of both pages are kept in test-artifacts/ (and of whatever was on screen if it fails).
 *
 * Needs: the built server and client (`npm run build`), MariaDB (test/support/services.ts) and
 * Debian's chromium at /usr/bin/chromium (`apt-get install chromium`). Playwright never downloads
 * a browser here; a missing one fails the test, it does not skip it.
 */

const ROOT = join(__dirname, '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Seconds from the server's start until the demo headphones deal opens: time to see it scheduled. */
const OPENS_IN_SECONDS = 12;
const SHOPPER = { email: 'shopper@demo.dealrush.test', password: 'demo-shopper-pass', name: 'Demo Shopper' };
const SHIPPING = { name: 'Kim Minji', phone: '+82 10-1234-5678', line1: '12 Teheran-ro, Gangnam-gu', postal: '06236', country: 'KR' };

/** Polls `read` until `accept` holds for its value; fails with the last value seen. */
async function waitUntil<T>(what: string, read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await read();
      if (accept(last)) return last;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const seen = lastError && last === undefined ? `error ${(lastError as Error).message}` : JSON.stringify(last);
      throw new Error(`${what}: not reached within ${timeoutMs} ms (last seen: ${seen})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The trimmed text of the first element of `locator`, waiting up to 5 s for it to be attached. */
async function text(locator: Locator): Promise<string> {
  return ((await locator.first().textContent({ timeout: 5000 })) ?? '').trim();
}

/** Waits for the text of `locator` to be exactly `expected`. */
function waitForText(what: string, locator: Locator, expected: string, timeoutMs: number): Promise<string> {
  return waitUntil(what, () => text(locator), (t) => t === expected, timeoutMs);
}

/**
 * Marks the page's JavaScript realm; {@link stillSamePage} is true only while no reload or
 * navigation has replaced it since.
 */
async function markPage(page: Page): Promise<void> {
  await page.evaluate(() => ((globalThis as { e2eMark?: boolean }).e2eMark = true));
}

async function stillSamePage(page: Page): Promise<boolean> {
  return page.evaluate(() => (globalThis as { e2eMark?: boolean }).e2eMark === true);
}

/**
 * Records the page's requests for deals over HTTP from now until `stop()`, which returns them.
 * The deal page polls `GET /api/deals/:id` only while its live stream is down, so none means
 * that what changed on the page came over socket.io.
 */
function dealRequests(page: Page): { stop(): string[] } {
  const seen: string[] = [];
  const onRequest = (r: Request) => {
    if (new URL(r.url()).pathname.startsWith('/api/deals')) seen.push(`${r.method()} ${r.url()}`);
  };
  page.on('request', onRequest);
  return {
    stop() {
      page.off('request', onRequest);
      return seen;
    },
  };
}

/** "Opens in 00:00:09" -> 9 (seconds). */
function countdownSeconds(value: string): number {
  const match = /(\d+d\s+)?(\d{2}):(\d{2}):(\d{2})\s*$/.exec(value);
  if (!match) throw new Error(`countdown text not understood: ${JSON.stringify(value)}`);
  const days = match[1] ? Number.parseInt(match[1], 10) : 0;
  return ((days * 24 + Number(match[2])) * 60 + Number(match[3])) * 60 + Number(match[4]);
}

describe('flash sale in the browser (chromium, built server, MariaDB)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let dataDir: string | undefined;
  let server: ServerProcess | undefined;
  let browser: Browser | undefined;
  /** The browser's launch, kept so that teardown closes it even if the server never came up. */
  let launching: Promise<Browser> | undefined;
  let contextA: BrowserContext | undefined;
  let contextB: BrowserContext | undefined;
  let pageA: Page | undefined;
  let pageB: Page | undefined;
  /** What the pages said that a failure report should show. */
  const browserLog: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: the browser test needs Debian's chromium (apt-get install chromium). ` +
          'It never downloads a browser, and it does not skip: CI must see this failure.',
      );
    }
    for (const built of [join(ROOT, 'dist', 'src', 'main.js'), join(ROOT, 'client', 'dist', 'index.html')]) {
      if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` (server and client) first`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    db = await createTestDatabase('e2e');
    dataDir = mkdtempSync(join(tmpdir(), 'dealrush-e2e-'));
    // The browser starts while the server boots: the deal's 12 s start only begins at the seed.
    launching = chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    launching.catch(() => undefined); // awaited below; do not let a failed start go unhandled meanwhile
    server = await startServerProcess({
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      DEMO_DATA: '1',
      DEMO_OPENS_IN_SECONDS: String(OPENS_IN_SECONDS),
      SERVE_CLIENT: '1',
      LOG_LEVEL: 'warn',
    });
    browser = await launching;
  }, 60_000);

  afterAll(async () => {
    await (browser ?? (await launching?.catch(() => undefined)))?.close().catch(() => undefined);
    await server?.kill().catch(() => undefined);
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  async function openContext(label: string): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser!.newContext({ baseURL: server!.url, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') browserLog.push(`[${label} console.${m.type()}] ${m.text()}`);
    });
    page.on('pageerror', (e) => pageErrors.push(`[${label}] ${e.message}`));
    page.on('requestfailed', (r) => browserLog.push(`[${label} request failed] ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
    return { context, page };
  }

  /** On failure: screenshots of both pages, the browser's and the server's output, in test-artifacts/. */
  async function keepEvidence(): Promise<void> {
    for (const [name, page] of [['a', pageA], ['b', pageB]] as const) {
      await page?.screenshot({ path: join(ARTIFACTS, `e2e-flash-sale-failure-${name}.png`), fullPage: true }).catch(() => undefined);
    }
    writeFileSync(
      join(ARTIFACTS, 'e2e-flash-sale-failure.log'),
      [`page A: ${pageA?.url()}`, `page B: ${pageB?.url()}`, '--- browser', ...browserLog, ...pageErrors, '--- server', server?.output() ?? ''].join('\n'),
    );
  }

  it('opens the demo deal, sees the countdown tick and the deal open, buys a unit, and a second page sees the stock drop live', async () => {
    try {
      await runScenario();
    } catch (error) {
      await keepEvidence();
      throw error;
    }
  }, 90_000);

  async function runScenario(): Promise<void> {
    ({ context: contextA, page: pageA } = await openContext('A'));
    const a = pageA;
    const byTestId = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`);

    // Page A: the storefront lists the headphones among the upcoming deals.
    await a.goto('/');
    const card = a
      .locator('section[aria-labelledby="section-upcoming"] [data-testid="deal-card"]')
      .filter({ hasText: /headphones/i });
    await card.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await card.count()).toBe(1);
    expect(await text(card)).toContain('Upcoming');
    const dealId = await card.getAttribute('data-deal-id');
    expect(dealId).toMatch(/^[0-9a-f-]{36}$/);
    const dealPath = `/deals/${dealId}`;

    // The deal page: scheduled, and the countdown ticks down in place.
    await card.click();
    await a.waitForURL((url) => url.pathname === dealPath, { timeout: 10_000 });
    expect(await text(byTestId(a, 'deal-title'))).toMatch(/headphones/i);
    expect(await text(byTestId(a, 'deal-status'))).toBe('scheduled');
    const first = await text(byTestId(a, 'countdown'));
    expect(first).toMatch(/^Opens in\s+\d{2}:\d{2}:\d{2}$/);
    const firstSeconds = countdownSeconds(first);
    // Too little left to see a tick before it opens would make the check below meaningless.
    expect(firstSeconds).toBeGreaterThanOrEqual(3);
    expect(firstSeconds).toBeLessThanOrEqual(OPENS_IN_SECONDS);
    await a.waitForTimeout(1200);
    const second = await text(byTestId(a, 'countdown'));
    expect(second).toMatch(/^Opens in\s+\d{2}:\d{2}:\d{2}$/);
    expect(countdownSeconds(second)).toBeLessThan(firstSeconds);
    expect(await text(byTestId(a, 'deal-status'))).toBe('scheduled');
    const logInLink = byTestId(a, 'buy-button');
    expect(await text(logInLink)).toBe('Log in to buy');

    // The sale opens on the page by itself (deal:state over socket.io), no reload and no re-fetch.
    await a.locator('.live--on').waitFor({ state: 'visible', timeout: 10_000 });
    await markPage(a);
    const dealRequestsOnA = dealRequests(a);
    await waitForText('page A deal-status', byTestId(a, 'deal-status'), 'open', 20_000);
    expect(await text(byTestId(a, 'countdown'))).toMatch(/^Ends in\s+\d{2}:\d{2}:\d{2}$/);
    expect(await stillSamePage(a)).toBe(true);
    expect(dealRequestsOnA.stop()).toEqual([]);

    // Page B, a separate browser context (no shared storage), watches the same deal.
    ({ context: contextB, page: pageB } = await openContext('B'));
    const b = pageB;
    await b.goto(dealPath);
    await waitForText('page B deal-status', byTestId(b, 'deal-status'), 'open', 10_000);
    expect(await text(byTestId(b, 'stock-remaining'))).toBe('300');
    expect(await text(byTestId(b, 'stock-total'))).toBe('300');
    // "Live": the deal's snapshot came over the socket, so later changes are pushed to it.
    await b.locator('.live--on').waitFor({ state: 'visible', timeout: 10_000 });
    await markPage(b);
    const dealRequestsOnB = dealRequests(b);

    // Page A: log in through the "Log in to buy" link, which comes back to the deal.
    await logInLink.click();
    await a.waitForURL((url) => url.pathname === '/login' && url.searchParams.get('redirect') === dealPath, { timeout: 10_000 });
    await byTestId(a, 'login-email').fill(SHOPPER.email);
    await byTestId(a, 'login-password').fill(SHOPPER.password);
    await byTestId(a, 'login-submit').click();
    await a.waitForURL((url) => url.pathname === dealPath, { timeout: 10_000 });
    expect(await text(byTestId(a, 'user-name'))).toBe(SHOPPER.name);

    // Quantity 1, the shipping address, Buy.
    await waitForText('page A deal-status after login', byTestId(a, 'deal-status'), 'open', 10_000);
    await byTestId(a, 'quantity').selectOption('1');
    await byTestId(a, 'ship-name').fill(SHIPPING.name);
    await byTestId(a, 'ship-phone').fill(SHIPPING.phone);
    await byTestId(a, 'ship-line1').fill(SHIPPING.line1);
    await byTestId(a, 'ship-postal').fill(SHIPPING.postal);
    await byTestId(a, 'ship-country').fill(SHIPPING.country);
    const buy = byTestId(a, 'buy-button');
    expect(await text(buy)).toMatch(/^Buy now · .*89,000$/);
    expect(await buy.isEnabled()).toBe(true);
    await buy.click();

    // Hold -> order -> payment, then the order page, where the payment's outcome arrives live.
    const orderUrl = await waitUntil(
      'page A order page',
      async () => {
        const error = byTestId(a, 'buy-error');
        if (await error.count()) throw new Error(`buying failed on the page: ${await text(error)}`);
        return new URL(a.url());
      },
      (url) => /^\/orders\/[0-9a-f-]{36}$/.test(url.pathname),
      15_000,
    ).catch(async (e: Error) => {
      const error = byTestId(a, 'buy-error');
      throw (await error.count()) ? new Error(`buying failed on the page: ${await text(error)}`) : e;
    });
    expect(orderUrl.searchParams.get('payment')).toBeNull(); // the payment request was accepted
    await waitForText('page A order-status', byTestId(a, 'order-status'), 'paid', 10_000);
    expect(await text(byTestId(a, 'order-total'))).toMatch(/89,000/);
    await a.getByText('Payment received').waitFor({ state: 'visible', timeout: 5000 });
    await a.screenshot({ path: join(ARTIFACTS, 'e2e-flash-sale-order.png'), fullPage: true });

    // Page B, untouched: the stock dropped by the unit bought, pushed over the socket.
    await waitForText('page B stock-remaining', byTestId(b, 'stock-remaining'), '299', 5000);
    expect(await text(byTestId(b, 'stock-total'))).toBe('300');
    expect(await b.locator('[role="progressbar"][aria-label="Stock remaining"]').last().getAttribute('aria-valuenow')).toBe('299');
    expect(await stillSamePage(b)).toBe(true);
    expect(b.url()).toBe(`${server!.url}${dealPath}`);
    expect(dealRequestsOnB.stop()).toEqual([]); // not the HTTP fallback poll: the live stream
    await b.waitForTimeout(700); // let the stock bar's width transition (0.6 s) settle for the picture
    await b.screenshot({ path: join(ARTIFACTS, 'e2e-flash-sale-deal.png'), fullPage: true });

    expect(pageErrors).toEqual([]);
    await contextA?.close();
    await contextB?.close();
  }
});
