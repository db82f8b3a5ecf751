import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents } from '../../src/realtime/events';
import { startServerProcess, type ServerProcess } from '../support/server-process';
import { createTestDatabase } from '../support/services';
import { insertUsers, type TestUser } from '../support/users';

/**
 * The waiting room in a real browser (issue 4): headless Debian chromium driven by playwright-core
 * against the built server (a real process on a real port, MariaDB). A seller's deal with the
 * waiting room on opens 9 s after it is made; 40 other shoppers join its pre-queue over HTTP and
 * stay present with socket.io clients watching it. The browser shopper logs in, joins the
 * pre-queue and sees the draw's countdown tick; the deal opens with admission paused by an admin,
 * so the drawn place holds still: the page shows a number, the paused notice, and the same number
 * after a reload (the place is kept). The shopper leaves the waiting room and joins again from the
 * page: a new place at the back (a later seq), behind all 40 others. Admission resumes (120 a minute, a 250 ms tick: one
 * admission every other tick), the number falls live, the page moves to the purchase form by
 * itself when `queue:admitted` arrives, and the shopper buys a unit through to a paid order.
 *
 * The start's draw is a fair shuffle, so the browser shopper may draw the first place, leaving
 * nothing to see fall (1 in 41). The shopper therefore also takes a pre-queue place in a second,
 * identical deal over HTTP, and the scenario goes on with whichever deal put anyone ahead; both
 * draws putting the shopper first (1 in 1,681) fails the test with that reason.
 *
 * Needs: the built server and client (`npm run build`), MariaDB and Debian's chromium, like
 * flash-sale.e2e.test.ts. Screenshots go to test-artifacts/ (and what was on screen on a failure).
 */

type LiveSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

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
const JWT_SECRET = 'waiting-room-e2e-secret-0123456789abcdef';
const TICK_MS = 250;
/** With a 250 ms tick, one admission every other tick: the bucket never holds two at once. */
const ADMISSION_PER_MINUTE = 120;
const OTHERS = 40;
/** Seconds from the deal's creation to its start: time to join and see the countdown tick. */
const OPENS_IN_SECONDS = 9;
const SHOPPER = { email: 'queue-shopper@e2e.dealrush.test', password: 'queue-shopper-pass', name: 'Queue Shopper' };
const SHIPPING = { name: 'Park Jisoo', phone: '+82 10-9876-5432', line1: '7 Sejong-daero, Jung-gu', postal: '04519', country: 'KR' };

/** Polls `read` until `accept` holds for its value; fails with the last value seen. */
async function waitUntil<T>(what: string, read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs: number, everyMs = 100): Promise<T> {
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
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The trimmed text of the first element of `locator`, waiting up to 5 s for it to be attached. */
async function text(locator: Locator): Promise<string> {
  return ((await locator.first().textContent({ timeout: 5000 })) ?? '').trim();
}

function waitForText(what: string, locator: Locator, expected: string, timeoutMs: number): Promise<string> {
  return waitUntil(what, () => text(locator), (t) => t === expected, timeoutMs);
}

/** "1,234" -> 1234; anything without digits -> NaN. */
function count(value: string): number {
  const digits = value.replace(/[^\d]/g, '');
  return digits ? Number(digits) : Number.NaN;
}

/** "00:00:07" -> 7 (seconds). */
function clockSeconds(value: string): number {
  const match = /^(\d{2}):(\d{2}):(\d{2})$/.exec(value);
  if (!match) throw new Error(`countdown text not understood: ${JSON.stringify(value)}`);
  return (Number(match[1]) * 60 + Number(match[2])) * 60 + Number(match[3]);
}

/** What the waiting room showed, recorded in the page at every change (no tick is missed). */
interface Shown {
  status: string;
  position: string | null;
  eta: string | null;
  progress: string | null;
}

/**
 * Runs in the page (a string: this project's server tsconfig has no DOM types): records each change
 * of the waiting room's status, position, ETA and progress into `globalThis.e2eShown`.
 */
const RECORD_WAITING_ROOM = `(() => {
  const seen = [];
  globalThis.e2eShown = seen;
  const read = (id) => document.querySelector('[data-testid="' + id + '"]');
  const record = () => {
    const now = {
      status: read('queue-status')?.textContent?.trim() ?? '',
      position: read('queue-position')?.textContent?.trim() ?? null,
      eta: read('queue-eta')?.textContent?.trim() ?? null,
      progress: read('queue-progress')?.getAttribute('aria-valuenow') ?? null,
    };
    const last = seen[seen.length - 1];
    if (!last || JSON.stringify(last) !== JSON.stringify(now)) seen.push(now);
  };
  new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  record();
})()`;

describe('waiting room in the browser (chromium, built server, MariaDB)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let dataDir: string | undefined;
  let server: ServerProcess | undefined;
  let browser: Browser | undefined;
  let launching: Promise<Browser> | undefined;
  let context: BrowserContext | undefined;
  let page: Page | undefined;
  const sockets: LiveSocket[] = [];
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
    db = await createTestDatabase('e2e_queue');
    dataDir = mkdtempSync(join(tmpdir(), 'dealrush-e2e-queue-'));
    launching = chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    launching.catch(() => undefined); // awaited below
    server = await startServerProcess({
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      DEMO_DATA: '0',
      SERVE_CLIENT: '1',
      LOG_LEVEL: 'warn',
      JWT_SECRET,
      QUEUE_TICK_MS: String(TICK_MS),
    });
    browser = await launching;
  }, 60_000);

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await (browser ?? (await launching?.catch(() => undefined)))?.close().catch(() => undefined);
    await server?.kill().catch(() => undefined);
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  /** One HTTP call to the server; answers status and parsed JSON body. */
  async function call<T = Record<string, unknown>>(method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${server!.url}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const raw = await res.text();
    return { status: res.status, body: (raw ? JSON.parse(raw) : null) as T };
  }

  async function expectStatus(what: string, answer: Promise<{ status: number; body: unknown }>, ...expected: number[]): Promise<void> {
    const { status, body } = await answer;
    if (!expected.includes(status)) throw new Error(`${what}: ${status} ${JSON.stringify(body)}`);
  }

  /** A socket.io client that watches `dealIds`, so its shopper counts as present in their queues. */
  async function watcher(token: string, dealIds: string[]): Promise<void> {
    const socket: LiveSocket = io(server!.url, { transports: ['websocket'], auth: { token } });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    for (const dealId of dealIds) {
      const answer = await socket.timeout(5000).emitWithAck('deal:watch', { dealId });
      if ('error' in answer) throw new Error(`deal:watch ${dealId}: ${JSON.stringify(answer.error)}`);
    }
  }

  async function keepEvidence(): Promise<void> {
    await page?.screenshot({ path: join(ARTIFACTS, 'e2e-waiting-room-failure.png'), fullPage: true }).catch(() => undefined);
    writeFileSync(
      join(ARTIFACTS, 'e2e-waiting-room-failure.log'),
      [`page: ${page?.url()}`, '--- browser', ...browserLog, ...pageErrors, '--- server', server?.output() ?? ''].join('\n'),
    );
  }

  it('joins the pre-queue, sees the countdown, keeps its place over a reload, sees the place fall live, is admitted and buys', async () => {
    try {
      await runScenario();
    } catch (error) {
      await keepEvidence();
      throw error;
    }
  }, 120_000);

  async function runScenario(): Promise<void> {
    const [seller] = await insertUsers(db!.url, JWT_SECRET, 1, ['seller']);
    const [admin] = await insertUsers(db!.url, JWT_SECRET, 1, ['admin']);
    const others: TestUser[] = await insertUsers(db!.url, JWT_SECRET, OTHERS);
    const signup = await call<{ accessToken: string }>('POST', '/api/auth/signup', undefined, SHOPPER);
    expect(signup.status).toBe(201);
    const shopperToken = signup.body.accessToken;

    context = await browser!.newContext({ baseURL: server!.url, viewport: { width: 1280, height: 1000 } });
    page = await context.newPage();
    const p = page;
    p.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') browserLog.push(`[console.${m.type()}] ${m.text()}`);
    });
    p.on('pageerror', (e) => pageErrors.push(e.message));
    p.on('requestfailed', (r) => browserLog.push(`[request failed] ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
    const byTestId = (id: string) => p.locator(`[data-testid="${id}"]`);

    // Log in first: the deal's clock starts only once everything else is ready.
    await p.goto('/login');
    await byTestId('login-email').fill(SHOPPER.email);
    await byTestId('login-password').fill(SHOPPER.password);
    await byTestId('login-submit').click();
    await waitForText('user-name after login', byTestId('user-name'), SHOPPER.name, 10_000);

    // Two identical deals with the waiting room on, admission paused by an admin before the start.
    const startsAt = new Date(Date.now() + OPENS_IN_SECONDS * 1000).toISOString();
    const makeDeal = async (title: string): Promise<string> => {
      const res = await call<{ id: string; waitingRoom: { enabled: boolean } }>('POST', '/api/seller/deals', seller!.token, {
        title,
        description: 'A waiting-room sale for the browser test.',
        category: 'test',
        price: 12_000,
        originalPrice: 20_000,
        currency: 'KRW',
        totalStock: 100,
        perUserLimit: 1,
        startsAt,
        endsAt: new Date(Date.now() + 3_600_000).toISOString(),
        waitingRoom: { enabled: true, admissionPerMinute: ADMISSION_PER_MINUTE, maxActive: 1000 },
      });
      if (res.status !== 201) throw new Error(`deal not created: ${res.status} ${JSON.stringify(res.body)}`);
      expect(res.body.waitingRoom.enabled).toBe(true);
      await expectStatus('pause admission', call('POST', `/api/admin/deals/${res.body.id}/waiting-room/pause`, admin!.token), 200);
      return res.body.id;
    };
    const dealIds = [await makeDeal('Queue sale: espresso grinder'), await makeDeal('Queue sale: espresso grinder (second run)')];
    const [dealA, dealB] = dealIds as [string, string];

    // The other shoppers: present on both deals' sockets, in both pre-queues (over HTTP).
    const othersReady = Promise.all(
      others.map(async (o) => {
        await watcher(o.token, dealIds);
        for (const dealId of dealIds) await expectStatus('another shopper joins', call('POST', `/api/deals/${dealId}/queue`, o.token), 201);
      }),
    );
    await expectStatus('the browser shopper joins deal B', call('POST', `/api/deals/${dealB}/queue`, shopperToken), 201);

    // The browser shopper joins deal A's pre-queue from its page, and the draw's countdown ticks.
    await p.goto(`/deals/${dealA}`);
    await waitForText('queue-status before joining', byTestId('queue-status'), 'none', 10_000);
    expect(await byTestId('buy-button').count()).toBe(0); // no buying before admission
    await byTestId('queue-join').click();
    await waitForText('queue-status after joining', byTestId('queue-status'), 'prequeue', 5000);
    const first = clockSeconds(await text(byTestId('queue-countdown')));
    expect(first).toBeGreaterThanOrEqual(2);
    expect(first).toBeLessThanOrEqual(OPENS_IN_SECONDS);
    await p.waitForTimeout(1200);
    const second = clockSeconds(await text(byTestId('queue-countdown')));
    expect(second).toBeLessThan(first);
    await othersReady;

    // The deal opens; places are drawn; admission is paused, so the place holds still.
    await waitForText('deal-status at the start', byTestId('deal-status'), 'open', 20_000);
    await waitForText('queue-status after the draw', byTestId('queue-status'), 'waiting', 10_000);
    await byTestId('queue-paused').waitFor({ state: 'visible', timeout: 5000 });
    const placeA = count(await text(byTestId('queue-position')));
    expect(placeA).toBeGreaterThanOrEqual(0);
    expect(placeA).toBeLessThanOrEqual(OTHERS);
    const ticketB = await call<{ status: string; position: number }>('GET', `/api/deals/${dealB}/queue/me`, shopperToken);
    expect(ticketB.body.status).toBe('waiting');

    // Go on with a deal where someone is ahead (see the note at the top).
    let dealId = dealA;
    let place = placeA;
    if (placeA === 0) {
      if (ticketB.body.position === 0) throw new Error('the shopper drew the first place in both deals (1 in 1,681): nothing can be seen to fall');
      dealId = dealB;
      place = ticketB.body.position;
      await p.goto(`/deals/${dealId}`);
      await waitForText('queue-status on deal B', byTestId('queue-status'), 'waiting', 10_000);
      expect(count(await text(byTestId('queue-position')))).toBe(place);
    }
    expect(place).toBeGreaterThan(0);
    // After a switch to deal B the page learns of the pause from that deal's next queue:progress.
    await waitForText('queue-eta paused', byTestId('queue-eta'), 'Paused', 5000);

    // A reload keeps the place: same number, no Join button, nothing joined again.
    const joins: string[] = [];
    p.on('request', (r) => {
      if (r.method() === 'POST' && new URL(r.url()).pathname.endsWith('/queue')) joins.push(r.url());
    });
    await p.reload();
    await waitForText('queue-status after reload', byTestId('queue-status'), 'waiting', 10_000);
    expect(count(await text(byTestId('queue-position')))).toBe(place);
    expect(await byTestId('queue-join').count()).toBe(0);
    expect(joins).toEqual([]);
    await p.screenshot({ path: join(ARTIFACTS, 'e2e-waiting-room-queue.png'), fullPage: true });

    // Leaving gives the place up at once (the page stays open, its socket still present); joining
    // again gets a new one at the back, behind everyone (admission is paused: all still wait).
    const before = await call<{ seq: number }>('GET', `/api/deals/${dealId}/queue/me`, shopperToken);
    await p.getByRole('button', { name: 'Leave the waiting room' }).click();
    await waitForText('queue-status after leaving', byTestId('queue-status'), 'none', 5000);
    expect((await call<{ status: string }>('GET', `/api/deals/${dealId}/queue/me`, shopperToken)).body.status).toBe('expired');
    await p.reload(); // the page reads the ended ticket from the server
    await waitForText('queue-status after leaving and a reload', byTestId('queue-status'), 'expired', 10_000);
    expect(await text(byTestId('queue-join'))).toBe('Join again');
    await byTestId('queue-join').click();
    await waitForText('queue-status after joining again', byTestId('queue-status'), 'waiting', 5000);
    // Ahead: the 40 others and the shopper's own old place, passed over when reached (a position
    // is `seq - servingSeq - 1`, so places that ended stay counted until the line reaches them).
    place = await waitUntil('queue-position after joining again', async () => count(await text(byTestId('queue-position'))), (n) => n === OTHERS + 1, 5000);
    const again = await call<{ seq: number; status: string }>('GET', `/api/deals/${dealId}/queue/me`, shopperToken);
    expect(again.body).toMatchObject({ status: 'waiting', position: OTHERS + 1 });
    expect(again.body.seq).toBeGreaterThan(before.body.seq);

    // Record every change of the waiting room from now on, in the page itself.
    await p.evaluate(RECORD_WAITING_ROOM);

    // Admission resumes: the place falls live, then the page moves to the purchase by itself.
    await expectStatus('resume admission', call('POST', `/api/admin/deals/${dealId}/waiting-room/resume`, admin!.token), 200);
    const fallen = await waitUntil(
      'queue-position falling',
      async () => {
        const status = await text(byTestId('queue-status'));
        return status === 'waiting' ? count(await text(byTestId('queue-position'))) : Number.NaN;
      },
      (n) => n < place,
      10_000,
      25,
    );
    expect(fallen).toBeGreaterThanOrEqual(0);
    await waitForText('queue-status when admitted', byTestId('queue-status'), 'admitted', OTHERS * 2 * TICK_MS + 10_000);
    await byTestId('buy-panel').waitFor({ state: 'visible', timeout: 5000 });
    expect(await text(byTestId('admission-countdown'))).toMatch(/^\d{2}:\d{2}:\d{2}$/);

    const shown = await p.evaluate(() => (globalThis as { e2eShown?: Shown[] }).e2eShown ?? []);
    writeFileSync(join(ARTIFACTS, 'e2e-waiting-room-shown.json'), `${JSON.stringify({ dealId, place, shown }, null, 2)}\n`);
    const positions = shown
      .filter((s) => s.status === 'waiting' && s.position !== null)
      .map((s) => count(s.position!))
      .filter((n, i, all) => i === 0 || n !== all[i - 1]); // one entry per place shown
    expect(positions[0]).toBe(place);
    expect(positions.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < positions.length; i++) expect(positions[i]).toBeLessThan(positions[i - 1]!);
    const progress = shown.filter((s) => s.status === 'waiting' && s.progress !== null).map((s) => Number(s.progress));
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1]!);
    expect(Math.max(...progress)).toBeGreaterThan(0);
    expect(shown.some((s) => s.status === 'waiting' && s.eta !== null && /^about \d+ (s|min)$/.test(s.eta))).toBe(true);

    // The admission token is kept in the tab (a reload would still buy with it).
    const kept = await p.evaluate<string>("sessionStorage.getItem('dealrush.admissions') ?? ''");
    expect(kept).toContain(dealId);
    await p.evaluate('window.scrollTo(0, 0)'); // the sticky header would cover the middle of a full-page shot
    await p.screenshot({ path: join(ARTIFACTS, 'e2e-waiting-room-admitted.png'), fullPage: true });

    // The purchase: hold with the admission token, order, card payment, paid live.
    await byTestId('ship-name').fill(SHIPPING.name);
    await byTestId('ship-phone').fill(SHIPPING.phone);
    await byTestId('ship-line1').fill(SHIPPING.line1);
    await byTestId('ship-postal').fill(SHIPPING.postal);
    await byTestId('ship-country').fill(SHIPPING.country);
    const buy = byTestId('buy-button');
    expect(await text(buy)).toMatch(/^Buy now · .*12,000$/);
    await buy.click();
    const orderUrl = await waitUntil(
      'order page',
      async () => {
        for (const id of ['buy-error', 'queue-notice']) {
          const error = byTestId(id);
          if (await error.count()) throw new Error(`buying failed on the page: ${await text(error)}`);
        }
        return new URL(p.url());
      },
      (url) => /^\/orders\/[0-9a-f-]{36}$/.test(url.pathname),
      15_000,
    );
    expect(orderUrl.searchParams.get('payment')).toBeNull();
    await waitForText('order-status', byTestId('order-status'), 'paid', 15_000);
    expect(await text(byTestId('order-total'))).toMatch(/12,000/);
    await p.getByText('Payment received').waitFor({ state: 'visible', timeout: 5000 });
    await p.screenshot({ path: join(ARTIFACTS, 'e2e-waiting-room-order.png'), fullPage: true });

    const sales = await call<{ soldUnits: number }>('GET', `/api/seller/deals/${dealId}/sales`, seller!.token);
    expect(sales.body.soldUnits).toBe(1);
    expect(pageErrors).toEqual([]);
    await context.close();
  }
});
