import type { FastifyInstance } from 'fastify';
import { createTestDatabase, query } from '../support/services';
import { makeDeal, makeUser, startTestApp } from '../support/app';

/**
 * The burst, over real HTTP against real MariaDB: 2,000 concurrent hold requests from 500
 * shoppers on a deal of 300 units.
 */
describe('a burst of holds on one deal (MariaDB, HTTP)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: FastifyInstance;
  let base: string;

  beforeAll(async () => {
    db = await createTestDatabase('burst');
    app = await startTestApp(db.url, { DB_POOL_SIZE: '10' });
    await app.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }); // 2,000 connects at once
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('holds exactly the stock; every 201 has its row; every SOLD_OUT came at zero; the database agrees with the actor', async () => {
    const seller = await makeUser(app, ['shopper', 'seller']);
    const deal = await makeDeal(app, seller.token, { totalStock: 300, perUserLimit: 2 });
    const shoppers = await Promise.all(Array.from({ length: 500 }, () => makeUserFast(app)));

    const requests = Array.from({ length: 2000 }, (_, i) => shoppers[i % 500]);
    const answers = await Promise.all(
      requests.map(async (shopper) => {
        const res = await fetch(`${base}/api/cart/items`, {
          method: 'POST',
          headers: { authorization: `Bearer ${shopper.token}`, 'content-type': 'application/json', 'idempotency-key': crypto.randomUUID() },
          body: JSON.stringify({ dealId: deal.id, quantity: 1 }),
        });
        return { status: res.status, body: (await res.json()) as Record<string, any>, shopper: shopper.id };
      }),
    );

    const created = answers.filter((a) => a.status === 201);
    const refused = answers.filter((a) => a.status !== 201);
    expect(created).toHaveLength(300);
    expect(new Set(refused.map((a) => a.body.code))).toEqual(new Set(['SOLD_OUT', ...(refused.some((a) => a.body.code === 'LIMIT_EXCEEDED') ? ['LIMIT_EXCEEDED'] : [])]));
    // SOLD_OUT with quantity 1 is only answered when nothing is left (not "only N left").
    for (const a of refused.filter((r) => r.body.code === 'SOLD_OUT')) expect(a.body.detail).toBe('every unit is sold or held');
    // No shopper over the limit.
    const perShopper = new Map<string, number>();
    for (const a of created) perShopper.set(a.shopper, (perShopper.get(a.shopper) ?? 0) + 1);
    expect(Math.max(...perShopper.values())).toBeLessThanOrEqual(2);

    const rows = await query<{ id: string; user_id: string; status: string; quantity: number }>(db.url, 'SELECT id, user_id, status, quantity FROM holds WHERE deal_id = ?', [deal.id]);
    const rowIds = new Set(rows.map((r) => r.id));
    for (const a of created) expect(rowIds.has(a.body.hold.id)).toBe(true);
    expect(rows).toHaveLength(300);
    expect(rows.every((r) => r.status === 'active' && Number(r.quantity) === 1)).toBe(true);

    const [row] = await query<{ remaining_stock: number; held_units: number; sold_units: number; status: string }>(db.url, 'SELECT remaining_stock, held_units, sold_units, status FROM deals WHERE id = ?', [deal.id]);
    expect(row).toMatchObject({ remaining_stock: 0, held_units: 300, sold_units: 0, status: 'sold_out' });
    const snapshot = (await app.actors.ask<{ ok: true; value: { deal: Record<string, number> } }>({ kind: 'deal', id: deal.id }, { type: 'snapshot', now: Date.now() })).value.deal;
    expect(snapshot).toMatchObject({ remainingStock: 0, heldUnits: 300, soldUnits: 0 });
  });
});

/** Test users without paying argon2 500 times: one row insert each, a signed token. */
async function makeUserFast(app: FastifyInstance): Promise<{ id: string; token: string }> {
  const id = crypto.randomUUID();
  await app.db.transaction((m) => m.query('INSERT INTO users (id, email, password_hash, name, roles, created_at) VALUES (?, ?, ?, ?, ?, ?)', [id, `${id}@burst.test`, 'x', 'Shopper', 'shopper', Date.now()]));
  return { id, token: app.signAccessToken(id, ['shopper']) };
}
