import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServerProcess, type ServerProcess } from '../support/server-process';
import { createTestDatabase, query } from '../support/services';
import { insertUsers } from '../support/users';

const JWT_SECRET = 'graceful-shutdown-test-secret-0123456789';

/**
 * SIGTERM during a burst: the node stops taking work, finishes what it started, and exits 0;
 * every hold a client was told about is in the database and the stock balances.
 */
describe('graceful shutdown (SIGTERM mid-burst, MariaDB)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let server: ServerProcess | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'dealrush-shutdown-'));

  beforeAll(async () => {
    db = await createTestDatabase('shutdown');
  });
  afterAll(async () => {
    await server?.kill('SIGKILL');
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('finishes in-flight work, exits 0, and loses nothing a client was told', async () => {
    server = await startServerProcess({ DATABASE_URL: db.url, DATA_DIR: dataDir, JWT_SECRET, LOG_LEVEL: 'info' });
    const [seller] = await insertUsers(db.url, JWT_SECRET, 1, ['shopper', 'seller']);
    const shoppers = await insertUsers(db.url, JWT_SECRET, 300);
    const created = await fetch(`${server.url}/api/seller/deals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${seller.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        title: 'Shutdown deal', description: '', category: 'test', price: 100, originalPrice: 200, currency: 'KRW', totalStock: 5000, perUserLimit: 10,
        startsAt: new Date(Date.now() - 1000).toISOString(), endsAt: new Date(Date.now() + 3_600_000).toISOString(),
      }),
    });
    expect(created.status).toBe(201);
    const dealId = ((await created.json()) as { id: string }).id;

    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => server!.child.once('exit', (code, signal) => resolve({ code, signal })));
    let answered = 0;
    let terminated = false;
    const outcomes = await Promise.all(
      Array.from({ length: 1500 }, async (_, i) => {
        try {
          const res = await fetch(`${server!.url}/api/cart/items`, {
            method: 'POST',
            headers: { authorization: `Bearer ${shoppers[i % shoppers.length].token}`, 'content-type': 'application/json', 'idempotency-key': crypto.randomUUID() },
            body: JSON.stringify({ dealId, quantity: 1 }),
          });
          const body = (await res.json()) as { hold?: { id: string }; code?: string };
          if (++answered === 200 && !terminated) {
            terminated = true;
            server!.child.kill('SIGTERM');
          }
          return { status: res.status, holdId: body.hold?.id, code: body.code };
        } catch {
          return { status: 0 }; // refused once the node stopped listening
        }
      }),
    );
    expect(terminated).toBe(true);
    const exit = await exited;
    // On failure, show the node's own log lines (request lines left out) next to the exit.
    const log = exit.code === 0 ? '' : server.output().split('\n').filter((l) => !/incoming request|request completed/.test(l)).join('\n').slice(-3000);
    expect({ ...exit, log }).toEqual({ code: 0, signal: null, log: '' });
    expect(server.output()).toMatch(/shutting down: finishing in-flight work/);

    // Every answer was a 201, a clean refusal (503 while stopping) or no connection: never a 500.
    expect(outcomes.filter((o) => o.status >= 500 && o.status !== 503)).toEqual([]);
    const held = outcomes.filter((o) => o.status === 201).map((o) => o.holdId!);
    expect(held.length).toBeGreaterThanOrEqual(200);
    const rows = await query<{ id: string }>(db.url, 'SELECT id FROM holds WHERE deal_id = ?', [dealId]);
    const ids = new Set(rows.map((r) => r.id));
    for (const id of held) expect(ids.has(id)).toBe(true);
    const [deal] = await query<{ total_stock: number; remaining_stock: number; held_units: number }>(db.url, 'SELECT total_stock, remaining_stock, held_units FROM deals WHERE id = ?', [dealId]);
    expect(deal.remaining_stock + deal.held_units).toBe(deal.total_stock);
    expect(deal.held_units).toBe(rows.length);
  });
});
