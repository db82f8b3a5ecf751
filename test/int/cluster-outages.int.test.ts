import { randomUUID } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import { Pool } from 'undici';
import { query } from '../support/services';
import { privateMariaDB, privateRedis, type PrivateService } from '../support/private-services';
import { startServerProcess, type ServerProcess } from '../support/server-process';
import { insertUsers, type TestUser } from '../support/users';

/**
 * Cluster mode through outages of its dependencies (issue 3, "Must show"): two nodes on loopback
 * with a Redis and a MariaDB of this test's own, so that stopping them for 10 s mid-sale takes
 * nothing from other test files. Holds flow the whole time; at the end every 2xx has its row, the
 * stock balances, nobody is over the limit, and the sale resumed within 10 s of the dependency's
 * return.
 */

const JWT_SECRET = 'outage-test-secret-0123456789abcdef-xyz';
const OUTAGE_MS = 10_000;

interface Answer {
  status: number;
  code: string | null;
  holdId: string | null;
  sentAt: number;
  doneAt: number;
}

describe('cluster mode through Redis and MariaDB outages (two processes)', () => {
  let redis: PrivateService;
  let mariadb: PrivateService;
  let dbUrl: string;
  const nodes: ServerProcess[] = [];
  let seller: TestUser;
  /** Restarts a stopped service even when an assertion failed mid-outage. */
  const afterOutage: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const restart of afterOutage.splice(0)) await restart();
  });

  beforeAll(async () => {
    [redis, mariadb] = await Promise.all([privateRedis(), privateMariaDB()]);
    const admin = await createConnection({ uri: mariadb.url });
    await admin.query('CREATE DATABASE dealrush CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci');
    await admin.end();
    dbUrl = `${mariadb.url}/dealrush`;
    const env = (name: string) => ({
      DATABASE_URL: dbUrl, REDIS_URL: redis.url, NODE_ID: name, CLUSTER_PARTITIONS: '4', CLUSTER_LEASE_MS: '2000', CLUSTER_HEARTBEAT_MS: '500',
      ASK_TIMEOUT_MS: '2000', JWT_SECRET, DB_POOL_SIZE: '6', LOG_LEVEL: 'warn',
    });
    nodes.push(await startServerProcess(env('node-a')));
    nodes.push(await startServerProcess(env('node-b')));
    [seller] = await insertUsers(dbUrl, JWT_SECRET, 1, ['shopper', 'seller']);
  }, 120_000);

  afterAll(async () => {
    for (const n of nodes) if (n.child.exitCode !== null) console.log(`a node exited (${n.child.exitCode}):\n${n.output().slice(-3000)}`);
    await Promise.all(nodes.map((n) => n.kill('SIGKILL')));
    await Promise.all([redis?.destroy(), mariadb?.destroy()]);
  });

  const makeDeal = async (totalStock: number, perUserLimit: number) => {
    const res = await fetch(`${nodes[0].url}/api/seller/deals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${seller.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        title: 'Outage deal', description: '', category: 'test', price: 1000, originalPrice: 2000, currency: 'KRW', totalStock, perUserLimit,
        startsAt: new Date(Date.now() - 1000).toISOString(), endsAt: new Date(Date.now() + 3_600_000).toISOString(),
      }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };

  /** Holds from `shoppers` through both nodes, `width` at a time, until `stop()` says so. */
  const steadyHolds = (dealId: string, shoppers: TestUser[], width: number, stop: () => boolean) => {
    const pools = nodes.map((n) => new Pool(n.url, { connections: width }));
    const answers: Answer[] = [];
    let next = 0;
    const worker = async (w: number) => {
      while (!stop()) {
        const shopper = shoppers[next++ % shoppers.length];
        const sentAt = Date.now();
        try {
          const res = await pools[w % pools.length].request({
            method: 'POST', path: '/api/cart/items', headersTimeout: 10_000, bodyTimeout: 10_000,
            headers: { authorization: `Bearer ${shopper.token}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
            body: JSON.stringify({ dealId, quantity: 1 }),
          });
          const body = (await res.body.json()) as { code?: string; hold?: { id: string } };
          answers.push({ status: res.statusCode, code: body.code ?? null, holdId: body.hold?.id ?? null, sentAt, doneAt: Date.now() });
        } catch (err) {
          answers.push({ status: 0, code: (err as { code?: string }).code ?? 'NETWORK', holdId: null, sentAt, doneAt: Date.now() });
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const done = Promise.all(Array.from({ length: width }, (_, w) => worker(w))).then(async () => {
      for (const p of pools) await p.close();
      return answers;
    });
    return done;
  };

  const audit = async (dealId: string, total: number, limit: number, answers: Answer[]) => {
    const [deal] = await query<{ remaining_stock: number; held_units: number; sold_units: number; returned_units: number }>(dbUrl, 'SELECT remaining_stock, held_units, sold_units, returned_units FROM deals WHERE id = ?', [dealId]);
    expect(deal.remaining_stock + deal.held_units + deal.sold_units + deal.returned_units).toBe(total);
    expect(deal.remaining_stock).toBeGreaterThanOrEqual(0);
    const holds = await query<{ id: string; user_id: string; quantity: number; status: string }>(dbUrl, "SELECT id, user_id, quantity, status FROM holds WHERE deal_id = ? AND status = 'active'", [dealId]);
    expect(holds.reduce((n, h) => n + Number(h.quantity), 0)).toBe(deal.held_units);
    const ids = new Set(holds.map((h) => h.id));
    const created = answers.filter((a) => a.status === 201);
    for (const a of created) expect(ids.has(a.holdId!)).toBe(true); // no 2xx without its committed row
    const perUser = new Map<string, number>();
    for (const h of holds) perUser.set(h.user_id, (perUser.get(h.user_id) ?? 0) + Number(h.quantity));
    expect(Math.max(0, ...perUser.values())).toBeLessThanOrEqual(limit);
    for (const a of answers) if (a.status !== 201) expect(['UNAVAILABLE', 'LIMIT_EXCEEDED', 'SOLD_OUT']).toContain(a.code);
    return created;
  };

  const readiness = async (node: ServerProcess) => (await fetch(`${node.url}/health/ready`).catch(() => null))?.status ?? 0;

  it.each([
    ['Redis', () => redis],
    ['MariaDB', () => mariadb],
  ])('keeps selling correctly when %s stops for 10 s mid-sale: 503 with Retry-After meanwhile, ready again and selling within 10 s after it returns', async (name, service) => {
    const TOTAL = 100_000;
    const LIMIT = 1000;
    const dealId = await makeDeal(TOTAL, LIMIT);
    const shoppers = await insertUsers(dbUrl, JWT_SECRET, 200);
    let stopping = false;
    const load = steadyHolds(dealId, shoppers, 8, () => stopping);
    await new Promise((r) => setTimeout(r, 2000));
    const downAt = Date.now();
    await service().stop();
    let restarted = false;
    const restart = async () => {
      if (!restarted) await service().start();
      restarted = true;
    };
    afterOutage.push(restart);
    // Meanwhile: readiness says so, and calls are refused with 503 + Retry-After, not hung.
    await new Promise((r) => setTimeout(r, 4000));
    expect(await readiness(nodes[0])).toBe(503);
    const during = await fetch(`${nodes[1].url}/api/cart/items`, {
      method: 'POST',
      headers: { authorization: `Bearer ${shoppers[0].token}`, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      body: JSON.stringify({ dealId, quantity: 1 }),
      signal: AbortSignal.timeout(8000),
    });
    const duringBody = await during.text();
    expect({ status: during.status, retryAfter: during.headers.get('retry-after'), body: duringBody }).toMatchObject({ status: 503, retryAfter: expect.stringMatching(/^\d+$/) });
    await new Promise((r) => setTimeout(r, Math.max(0, downAt + OUTAGE_MS - Date.now())));
    await restart();
    const upAt = Date.now();
    // Ready again, and a 201 again, within 10 s.
    let readyAt = 0;
    while (Date.now() - upAt < 15_000 && readyAt === 0) {
      if ((await readiness(nodes[0])) === 200 && (await readiness(nodes[1])) === 200) readyAt = Date.now();
      else await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 3000));
    stopping = true;
    const answers = await load;
    const created = await audit(dealId, TOTAL, LIMIT, answers);
    const resumedAt = Math.min(...created.filter((a) => a.sentAt >= upAt).map((a) => a.doneAt));
    const outage = answers.filter((a) => a.sentAt > downAt + 3000 && a.sentAt < upAt);
    console.log(`${name} outage: ${answers.length} holds tried, ${created.length} 201; during the outage ${outage.length} tried, ${outage.filter((a) => a.status === 201).length} 201 (each has its row); ready again after ${readyAt - upAt} ms; first 201 after the return at +${resumedAt - upAt} ms`);
    expect(readyAt).toBeGreaterThan(0);
    expect(readyAt - upAt).toBeLessThan(10_000);
    expect(resumedAt - upAt).toBeLessThan(10_000);
    expect(outage.length).toBeGreaterThan(0);
  }, 120_000);
});
