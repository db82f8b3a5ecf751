import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { reminderTimeFor } from '../../src/actors/deal/hold-book';
import { startServerProcess, type ServerProcess } from '../support/server-process';
import { createTestDatabase } from '../support/services';
import { insertUsers, type TestUser } from '../support/users';

/**
 * The crash test: SIGKILL the server process during a burst of holds, start a new process
 * on the same database, and check that
 *   - every hold a client got a 201 for is in the database,
 *   - no unit is lost or counted twice (the deal row agrees with its hold rows),
 *   - durable reminders still fire in the new process, with no message sent to the deal: the holds
 *     expire and the deal ends on time.
 * Both processes run the built server (`npm run build:server`) with the same DATA_DIR and secret.
 */

const JWT_SECRET = 'crash-safety-test-secret-0123456789abcdef';
const TOTAL_STOCK = 2000;
const PER_USER_LIMIT = 5;
const SHOPPERS = 1000;
const REQUESTS = 3000;
const IN_FLIGHT = 200;
/** The process is killed once this many 201s have come back (with ~IN_FLIGHT requests still out). */
const KILL_AFTER_CREATED = 300;
const HOLD_TTL_SECONDS = 10;
/** The deal ends this long after it is created: well after every hold has expired. */
const DEAL_LIFETIME_MS = 35_000;
/**
 * Idle actors are passivated after 2 s (default 5 min), so that the deal actor is asleep again
 * between the holds' expiry and its end: the `end` reminder must then be fired by the new
 * process's reminder poller waking it, not by a timer an earlier activation armed.
 */
const ACTOR_IDLE_SECONDS = 2;
/** How late a reminder may fire: the poller looks 2 s ahead every 1 s; the rest is margin. */
const REMINDER_SLACK_MS = 3000;

interface CreatedHold {
  holdId: string;
  /** As the 201 said, and as the request asked. */
  quantity: number;
  requested: number;
  userId: string;
}

interface BurstOutcome {
  created: CreatedHold[];
  /** HTTP answers other than 201 (status and problem code). */
  refused: Array<{ status: number; code: string }>;
  /** Requests that got no complete answer: the process died under them. */
  connectionErrors: number;
}

interface DealRow {
  total_stock: number;
  remaining_stock: number;
  held_units: number;
  sold_units: number;
  returned_units: number;
  status: string;
  ends_at: number;
  updated_at: number;
}

interface HoldRow {
  id: string;
  user_id: string;
  quantity: number;
  status: string;
  expires_at: number;
  updated_at: number;
}

/** The deal's row, its hold rows, its reminders and its fence, read in one consistent snapshot. */
interface DealSnapshot {
  deal: DealRow;
  holds: HoldRow[];
  reminders: Map<string, number>;
  fence: number;
}

describe('crash safety: SIGKILL during a burst of holds, then a new process on the same database', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  const servers: ServerProcess[] = [];
  let restarted: ServerProcess;
  let dealId: string;
  let burst: BurstOutcome;
  /** The deal's fence when the first process died. */
  let fenceAtCrash: number;
  /** The fence once the new process has expired every hold. */
  let fenceAfterExpiry: number;

  /** Starts the built server on the test database; every process gets the same settings. */
  const startServer = async () => {
    const server = await startServerProcess({
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      JWT_SECRET,
      HOLD_TTL_SECONDS: String(HOLD_TTL_SECONDS),
      ACTOR_IDLE_SECONDS: String(ACTOR_IDLE_SECONDS),
      LOG_LEVEL: 'warn',
    });
    servers.push(server);
    return server;
  };
  const snapshot = () => readDealSnapshot(db.url, dealId);
  /** The new process's log, for failure messages. */
  const restartedLog = () => `\n--- restarted server output (tail) ---\n${restarted.output().slice(-3000)}`;

  beforeAll(async () => {
    db = await createTestDatabase('crash');
    dataDir = mkdtempSync(join(tmpdir(), 'dealrush-crash-'));

    const first = await startServer();
    const [seller] = await insertUsers(db.url, JWT_SECRET, 1, ['shopper', 'seller']);
    const shoppers = await insertUsers(db.url, JWT_SECRET, SHOPPERS);
    dealId = await createDeal(first.url, seller.token);

    burst = await burstOfHoldsThenKill(first, dealId, shoppers);
    // The process really died of SIGKILL, not of something else, and with requests in flight.
    expect(first.child.signalCode).toBe('SIGKILL');
    expect(burst.created.length).toBeGreaterThanOrEqual(KILL_AFTER_CREATED);
    expect(burst.connectionErrors).toBeGreaterThan(0);
    expect(burst.created.filter((c) => c.quantity !== c.requested)).toEqual([]);
    // Stock was plentiful: the only refusal possible before the crash is a shopper over the limit.
    expect(burst.refused.filter((r) => r.code !== 'LIMIT_EXCEEDED')).toEqual([]);
    fenceAtCrash = (await snapshot()).fence;

    restarted = await startServer();
  });

  afterAll(async () => {
    for (const server of servers) await server.kill('SIGKILL');
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps every hold a client got a 201 for, and counts every unit exactly once', async () => {
    const { deal, holds, reminders } = await snapshot();

    // Every 201 is durable: its row is there, for that shopper and that quantity. (It may already
    // have expired if the restart was slow.) Rows without a 201 are allowed: their batch committed
    // but the process died before answering.
    const rowsById = new Map(holds.map((h) => [h.id, h]));
    expect(burst.created.filter((c) => !rowsById.has(c.holdId)).map((c) => c.holdId)).toEqual([]);
    for (const c of burst.created) {
      expect(rowsById.get(c.holdId)).toMatchObject({ user_id: c.userId, quantity: c.quantity, status: expect.stringMatching(/^(active|expired)$/) });
    }

    // No unit lost or counted twice: the deal row's counters are the sums of its hold rows.
    const unitsIn = (...statuses: string[]) => holds.filter((h) => statuses.includes(h.status)).reduce((n, h) => n + h.quantity, 0);
    expect(deal.total_stock).toBe(TOTAL_STOCK);
    expect(deal.remaining_stock + deal.held_units + deal.sold_units + deal.returned_units).toBe(TOTAL_STOCK);
    expect(deal.held_units).toBe(unitsIn('active', 'ordered'));
    expect(deal.sold_units).toBe(unitsIn('sold'));
    expect(deal.remaining_stock).toBe(TOTAL_STOCK - unitsIn('active', 'ordered', 'sold'));
    expect(deal.held_units).toBeGreaterThanOrEqual(burst.created.filter((c) => rowsById.get(c.holdId)!.status === 'active').reduce((n, c) => n + c.quantity, 0));

    // The per-shopper limit held across the crash.
    const perShopper = new Map<string, number>();
    for (const h of holds) if (h.status === 'active') perShopper.set(h.user_id, (perShopper.get(h.user_id) ?? 0) + h.quantity);
    expect(Math.max(...perShopper.values())).toBeLessThanOrEqual(PER_USER_LIMIT);

    // The reminders were committed with the holds: `end` at endsAt, and `holds` no later than the
    // end of the first live hold's expiry bucket (holds expiring within one bucket share a reminder).
    expect(reminders.get('end')).toBe(deal.ends_at);
    const live = holds.filter((h) => h.status === 'active');
    if (live.length > 0) expect(reminders.get('holds')).toBeLessThanOrEqual(reminderTimeFor(Math.min(...live.map((h) => h.expires_at))));
  });

  it('serves the same remaining stock over HTTP from the new process', async () => {
    // The holds may start expiring at any moment: compare the HTTP answer with a database read
    // taken before and after it, and only when nothing changed in between.
    for (let attempt = 0; ; attempt++) {
      const before = (await snapshot()).deal.remaining_stock;
      const res = await fetch(`${restarted.url}/api/deals/${dealId}`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { remainingStock: number; totalStock: number; status: string };
      const after = (await snapshot()).deal.remaining_stock;
      if (before !== after && attempt < 5) continue;
      expect(before).toBe(after);
      expect(body).toMatchObject({ remainingStock: after, totalStock: TOTAL_STOCK, status: 'open' });
      break;
    }
  });

  it('fires the holds reminder in the new process: every hold expires on time and its units return', async () => {
    const { holds } = await snapshot();
    const lastExpiry = Math.max(...holds.map((h) => h.expires_at));
    // No message is sent to the deal: only the reminder poller can wake its actor.
    const settled = await waitFor(
      snapshot,
      (s) => s.deal.held_units === 0 && s.holds.every((h) => h.status === 'expired'),
      lastExpiry + REMINDER_SLACK_MS - Date.now(),
      () => `every hold of the deal to expire${restartedLog()}`,
    );
    expect(settled.deal).toMatchObject({ remaining_stock: TOTAL_STOCK, held_units: 0, sold_units: 0, status: 'open' });
    expect(settled.holds).toHaveLength(holds.length);
    // Expired when due: never before its expiry, and not much after.
    for (const h of settled.holds) {
      expect(h.updated_at).toBeGreaterThanOrEqual(h.expires_at);
      expect(h.updated_at - h.expires_at).toBeLessThanOrEqual(REMINDER_SLACK_MS);
    }
    expect(settled.reminders.has('holds')).toBe(false);
    // A new activation (in the new process) did it.
    expect(settled.fence).toBeGreaterThan(fenceAtCrash);
    fenceAfterExpiry = settled.fence;
  });

  it('fires the end reminder in the new process: the deal ends within 3 s of endsAt', async () => {
    const { deal } = await snapshot();
    const ended = await waitFor(snapshot, (s) => s.deal.status === 'ended', deal.ends_at + REMINDER_SLACK_MS - Date.now(), () => `the deal to end${restartedLog()}`);
    expect(Date.now() - deal.ends_at).toBeLessThanOrEqual(REMINDER_SLACK_MS + 500); // observed (polling every 100 ms)
    expect(ended.deal.updated_at).toBeGreaterThanOrEqual(deal.ends_at);
    expect(ended.deal.updated_at - deal.ends_at).toBeLessThanOrEqual(REMINDER_SLACK_MS);
    expect(ended.deal).toMatchObject({ remaining_stock: TOTAL_STOCK, held_units: 0, sold_units: 0 });
    // Nothing is left to fire, and the actor that ended the deal was woken from sleep for it (a
    // newer fence than the activation that expired the holds, which was passivated meanwhile).
    expect([...ended.reminders.keys()]).toEqual([]);
    expect(ended.fence).toBeGreaterThan(fenceAfterExpiry);
  });
});

/** Creates a deal of TOTAL_STOCK units, open now, ending DEAL_LIFETIME_MS from now; returns its id. */
async function createDeal(url: string, sellerToken: string): Promise<string> {
  const now = Date.now();
  const res = await fetch(`${url}/api/seller/deals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sellerToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      title: 'Crash test deal',
      description: 'Survives a SIGKILL',
      category: 'test',
      price: 1000,
      originalPrice: 2000,
      currency: 'KRW',
      totalStock: TOTAL_STOCK,
      perUserLimit: PER_USER_LIMIT,
      startsAt: new Date(now - 1000).toISOString(),
      endsAt: new Date(now + DEAL_LIFETIME_MS).toISOString(),
    }),
  });
  const body = (await res.json()) as { id: string; status: string };
  if (res.status !== 201) throw new Error(`deal not created: ${res.status} ${JSON.stringify(body)}`);
  expect(body.status).toBe('open');
  return body.id;
}

/**
 * REQUESTS hold requests (1 or 2 units each, round-robin over the shoppers), IN_FLIGHT at a time;
 * SIGKILLs the server as soon as KILL_AFTER_CREATED 201s have come back, stops sending, and waits
 * for the requests still out to fail (or, if answered before the process died, to succeed).
 */
async function burstOfHoldsThenKill(server: ServerProcess, dealId: string, shoppers: TestUser[]): Promise<BurstOutcome> {
  const outcome: BurstOutcome = { created: [], refused: [], connectionErrors: 0 };
  let next = 0;
  let killed: Promise<void> | null = null;
  const worker = async () => {
    while (killed === null && next < REQUESTS) {
      const i = next++;
      const shopper = shoppers[i % shoppers.length];
      const quantity = i % 3 === 2 ? 2 : 1;
      try {
        const res = await fetch(`${server.url}/api/cart/items`, {
          method: 'POST',
          headers: { authorization: `Bearer ${shopper.token}`, 'content-type': 'application/json', 'idempotency-key': crypto.randomUUID() },
          body: JSON.stringify({ dealId, quantity }),
        });
        const body = (await res.json()) as { hold?: { id: string; quantity: number }; code?: string };
        if (res.status === 201) outcome.created.push({ holdId: body.hold!.id, quantity: body.hold!.quantity, requested: quantity, userId: shopper.id });
        else outcome.refused.push({ status: res.status, code: body.code ?? '' });
      } catch {
        outcome.connectionErrors += 1; // no (complete) answer: the process died under the request
      }
      if (killed === null && outcome.created.length >= KILL_AFTER_CREATED) killed = server.kill('SIGKILL');
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  await (killed ?? server.kill('SIGKILL'));
  return outcome;
}

/** Reads the deal row, its holds, its reminders and its fence in one consistent snapshot. */
async function readDealSnapshot(url: string, dealId: string): Promise<DealSnapshot> {
  const conn = await createConnection({ uri: url, supportBigNumbers: true, bigNumberStrings: false });
  try {
    await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    const [deals] = await conn.query(
      'SELECT total_stock, remaining_stock, held_units, sold_units, returned_units, status, ends_at, updated_at FROM deals WHERE id = ?',
      [dealId],
    );
    const [holds] = await conn.query('SELECT id, user_id, quantity, status, expires_at, updated_at FROM holds WHERE deal_id = ?', [dealId]);
    const [reminders] = await conn.query("SELECT name, due_at FROM actor_reminders WHERE kind = 'deal' AND actor_id = ?", [dealId]);
    const [states] = await conn.query("SELECT fence FROM actor_state WHERE kind = 'deal' AND actor_id = ?", [dealId]);
    await conn.query('COMMIT');
    const deal = (deals as DealRow[])[0];
    if (!deal) throw new Error(`deal ${dealId} has no row`);
    return {
      deal,
      holds: holds as HoldRow[],
      reminders: new Map((reminders as Array<{ name: string; due_at: number }>).map((r) => [r.name, Number(r.due_at)])),
      fence: Number((states as Array<{ fence: number }>)[0]?.fence ?? 0),
    };
  } finally {
    await conn.end();
  }
}

/** Polls `probe` every 100 ms until `done` holds; fails naming `what` after `timeoutMs`. */
async function waitFor<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number, what: () => string): Promise<T> {
  const deadline = Date.now() + Math.max(timeoutMs, 0);
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
