import Redis from 'ioredis';
import pino from 'pino';
import { dealActor } from '../deal/deal-actor';
import type { NewDeal } from '../deal/messages';
import { orderActor } from '../order/order-actor';
import { cartActor } from '../cart/cart-actor';
import { openDatabase } from '../../persistence/data-source';
import { Database } from '../../persistence/database';
import { createTestDatabase, query } from '../../../test/support/services';
import { ActorSystem } from './actor-system';
import { ClusterNode } from './cluster/cluster';
import { waitFor } from '../../../test/support/wait';

/** The runtime against real MariaDB: group commit, fencing, inbox, outbox and durable reminders. */
describe('ActorSystem (MariaDB)', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  const systems: ActorSystem[] = [];
  const databases: Database[] = [];

  beforeAll(async () => {
    testDb = await createTestDatabase('runtime');
  });
  afterEach(async () => {
    for (const s of systems.splice(0)) await s.stop(1000);
    for (const d of databases.splice(0)) await d.dataSource.destroy();
  });
  afterAll(async () => testDb?.drop());

  async function node(): Promise<ActorSystem> {
    const db = new Database(await openDatabase({ type: 'mariadb', url: testDb.url }, 8));
    databases.push(db);
    const system = new ActorSystem({ db, logger: pino({ level: 'silent' }), maxBatch: 1000 });
    system.register(dealActor({ stockPublishIntervalMs: 100, room: { tickMs: 1000, goneAfterMs: 60_000, admissionTtlMs: 600_000 } })).register(cartActor).register(orderActor());
    await system.start();
    systems.push(system);
    return system;
  }
  const newDeal = (over: Partial<NewDeal> = {}): NewDeal => ({
    id: crypto.randomUUID(), sellerId: 's', title: 't', description: '', category: 'c', imageUrl: null, price: 100, originalPrice: 100, currency: 'KRW',
    totalStock: 1000, perUserLimit: 1000, startsAt: Date.now() - 1000, endsAt: Date.now() + 3_600_000, waitingRoom: { enabled: false, admissionPerMinute: 1, maxActive: 1 }, ...over,
  });
  const reserve = (userId = 'u1', quantity = 1) => ({ type: 'reserve', now: Date.now(), userId, holdId: crypto.randomUUID(), quantity, ttlMs: 600_000 });
  const row = async (id: string) => (await query<Record<string, number | string>>(testDb.url, 'SELECT * FROM deals WHERE id = ?', [id]))[0];

  it('commits concurrent messages of one mailbox in few transactions (group commit), each durable before its reply', async () => {
    const system = await node();
    const deal = newDeal();
    await system.ask({ kind: 'deal', id: deal.id }, { type: 'create', now: Date.now(), deal });
    const batches: number[] = [];
    system.onBatch((kind, size) => kind === 'deal' && batches.push(size));
    const replies = await Promise.all(Array.from({ length: 300 }, () => system.ask<{ ok: boolean }>({ kind: 'deal', id: deal.id }, reserve())));
    expect(replies.every((r) => r.ok)).toBe(true);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(300);
    expect(batches.length).toBeLessThan(100);
    expect(Math.max(...batches)).toBeGreaterThan(1);
    expect(await row(deal.id)).toMatchObject({ remaining_stock: 700, held_units: 300 });
  });

  it('writes nothing for a message to an actor that does not exist', async () => {
    const system = await node();
    const id = crypto.randomUUID();
    expect(await system.ask({ kind: 'deal', id }, { type: 'snapshot', now: Date.now() })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await system.ask({ kind: 'deal', id }, reserve())).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await query(testDb.url, 'SELECT * FROM actor_state WHERE actor_id = ?', [id])).toEqual([]);
    // Creating it later claims its fence with the first commit.
    const deal = newDeal({ id });
    expect(await system.ask({ kind: 'deal', id }, { type: 'create', now: Date.now(), deal })).toMatchObject({ ok: true });
    expect(await query(testDb.url, 'SELECT fence FROM actor_state WHERE actor_id = ?', [id])).toEqual([{ fence: 1 }]);
  });

  it('fences a stale activation: its write is rejected, it steps down, and nothing it did is applied', async () => {
    const a = await node();
    const b = await node();
    const deal = newDeal({ totalStock: 10 });
    await a.ask({ kind: 'deal', id: deal.id }, { type: 'create', now: Date.now(), deal });
    await a.ask({ kind: 'deal', id: deal.id }, reserve('u1', 2));
    // Node B activates the same deal: a newer fencing token.
    expect(await b.ask({ kind: 'deal', id: deal.id }, reserve('u2', 3))).toMatchObject({ ok: true });
    // Node A still believes it owns the deal; its commit is refused.
    await expect(a.ask({ kind: 'deal', id: deal.id }, reserve('u3', 5))).rejects.toMatchObject({ code: 'FENCED' });
    expect(await row(deal.id)).toMatchObject({ remaining_stock: 5, held_units: 5 });
    const holds = await query<{ user_id: string }>(testDb.url, 'SELECT user_id FROM holds WHERE deal_id = ?', [deal.id]);
    expect(holds.map((h) => h.user_id).sort()).toEqual(['u1', 'u2']);
    // A stepped down: its next message re-activates from the database (newest token), correctly.
    expect(await a.ask({ kind: 'deal', id: deal.id }, reserve('u3', 5))).toMatchObject({ ok: true });
    expect(await row(deal.id)).toMatchObject({ remaining_stock: 0, held_units: 10, status: 'sold_out' });
  });

  it('isolates a message whose rows the database refuses: the others of its batch still commit', async () => {
    const system = await node();
    const deal = newDeal({ totalStock: 100 });
    const address = { kind: 'deal', id: deal.id };
    await system.ask(address, { type: 'create', now: Date.now(), deal });
    // A hold id the database already has, for another deal (this deal's actor cannot know it): the
    // INSERT of a reserve that reuses it fails on the primary key.
    const other = newDeal();
    await system.ask({ kind: 'deal', id: other.id }, { type: 'create', now: Date.now(), deal: other });
    const used = await system.ask<{ value: { id: string } }>({ kind: 'deal', id: other.id }, reserve('u0', 1));
    const poison = { ...reserve('u1', 1), holdId: used.value.id };
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 20 }, (_, i) => system.ask(address, reserve(`g${i}`, 1))),
      system.ask(address, poison),
      ...Array.from({ length: 20 }, (_, i) => system.ask(address, reserve(`h${i}`, 1))),
    ]);
    expect(outcomes.filter((o) => o.status === 'fulfilled' && (o.value as { ok: boolean }).ok)).toHaveLength(40);
    expect(outcomes[20]).toMatchObject({ status: 'rejected', reason: { code: 'UNAVAILABLE' } });
    expect(await row(deal.id)).toMatchObject({ remaining_stock: 60, held_units: 40 });
  });

  it('answers a redelivered durable message from the inbox instead of applying it twice', async () => {
    const system = await node();
    const deal = newDeal();
    await system.ask({ kind: 'deal', id: deal.id }, { type: 'create', now: Date.now(), deal });
    const message = reserve('u1', 4);
    const first = await system.ask({ kind: 'deal', id: deal.id }, message, { id: 'msg-1', durable: true });
    // A new node (as after a crash) gets the same message id again.
    const other = await node();
    const again = await other.ask({ kind: 'deal', id: deal.id }, { ...message, holdId: crypto.randomUUID() }, { id: 'msg-1', durable: true });
    expect(again).toEqual(first);
    expect(await row(deal.id)).toMatchObject({ remaining_stock: 996, held_units: 4 });
  });


  it('refuses a hold under the id of a hold that has ended, also on a fresh activation loaded from the rows', async () => {
    const system = await node();
    const deal = newDeal();
    await system.ask({ kind: 'deal', id: deal.id }, { type: 'create', now: Date.now(), deal });
    const hold = reserve('u1', 2);
    expect(await system.ask({ kind: 'deal', id: deal.id }, hold)).toMatchObject({ ok: true });
    expect(await system.ask({ kind: 'deal', id: deal.id }, { type: 'release', now: Date.now(), userId: 'u1', holdId: hold.holdId })).toMatchObject({ ok: true });
    // A new node (as after a crash or a failover) loads the deal from its rows.
    const other = await node();
    expect(await other.ask({ kind: 'deal', id: deal.id }, { ...hold, now: Date.now() })).toMatchObject({ ok: false, error: { code: 'HOLD_EXPIRED' } });
    expect(await row(deal.id)).toMatchObject({ remaining_stock: 1000, held_units: 0 });
    expect(await query(testDb.url, 'SELECT status FROM holds WHERE id = ?', [hold.holdId])).toEqual([{ status: 'released' }]);
  });

  it('handles a message once when its sender retried it while the first copy still waited in the mailbox (one batch)', async () => {
    const system = await node();
    const deal = newDeal();
    await system.ask({ kind: 'deal', id: deal.id }, { type: 'create', now: Date.now(), deal });
    const batches: number[] = [];
    system.onBatch((kind, size) => kind === 'deal' && batches.push(size));
    // Holds from others keep a commit in flight, so the two copies queue up behind it together.
    const others = Array.from({ length: 50 }, (_, i) => system.ask<{ ok: boolean }>({ kind: 'deal', id: deal.id }, reserve(`o${i}`)));
    const message = reserve('u1', 3);
    const copies = [
      system.ask({ kind: 'deal', id: deal.id }, message, { id: 'retried-1', durable: true }),
      system.ask({ kind: 'deal', id: deal.id }, { ...message, holdId: crypto.randomUUID() }, { id: 'retried-1', durable: true }),
    ];
    const more = Array.from({ length: 50 }, (_, i) => system.ask<{ ok: boolean }>({ kind: 'deal', id: deal.id }, reserve(`p${i}`)));
    const [first, second] = await Promise.all(copies);
    expect(second).toEqual(first);
    expect((await Promise.all([...others, ...more])).every((r) => r.ok)).toBe(true);
    // The copies shared a batch, which committed: no step-down, no retrying its 102 messages one
    // by one (which is what a refused commit does).
    expect(batches.reduce((a, b) => a + b, 0)).toBe(102);
    expect(batches.length).toBeLessThanOrEqual(3);
    expect(await row(deal.id)).toMatchObject({ remaining_stock: 1000 - 100 - 3, held_units: 103 });
    expect(await query(testDb.url, 'SELECT message_id FROM actor_inbox WHERE message_id = ?', ['retried-1'])).toHaveLength(1);
  });
  it('fires durable reminders on a node that starts after the one that set them (deal opens, holds expire)', async () => {
    const first = await node();
    const deal = newDeal({ startsAt: Date.now() + 1500 });
    await first.ask({ kind: 'deal', id: deal.id }, { type: 'create', now: Date.now(), deal });
    expect(await row(deal.id)).toMatchObject({ status: 'scheduled' });
    await first.stop(100);
    systems.splice(systems.indexOf(first), 1);
    await node(); // sends nothing to the deal: its reminder poller must wake it
    await waitFor(async () => (await row(deal.id)).status === 'open', 5000);
    const opened = await row(deal.id);
    expect(Number(opened.updated_at)).toBeGreaterThanOrEqual(deal.startsAt);
    expect(Number(opened.updated_at)).toBeLessThan(deal.startsAt + 2500);
  });

  it('re-sends committed outbox messages after a crash until the receiver commits them', async () => {
    const system = await node();
    const deal = newDeal({ totalStock: 5 });
    const dealAddress = { kind: 'deal', id: deal.id };
    await system.ask(dealAddress, { type: 'create', now: Date.now(), deal });
    const held = await system.ask<{ value: { id: string } }>(dealAddress, reserve('u1', 2));
    await system.ask(dealAddress, { type: 'attach', now: Date.now(), userId: 'u1', orderId: 'o-crash', holdIds: [held.value.id], until: Date.now() + 600_000 });
    // As if an order actor committed "paid" and died before delivering its `sell`:
    await query(testDb.url, 'INSERT INTO actor_outbox (id, from_kind, from_id, to_kind, to_id, message, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      'outbox-1', 'order', 'o-crash', 'deal', deal.id, JSON.stringify({ type: 'sell', now: Date.now(), orderId: 'o-crash' }), Date.now() - 5000,
    ]);
    await waitFor(async () => (await query(testDb.url, 'SELECT id FROM actor_outbox WHERE id = ?', ['outbox-1'])).length === 0, 6000);
    expect(await row(deal.id)).toMatchObject({ remaining_stock: 3, held_units: 0, sold_units: 2 });
  });

  it('records every ask from send to reply by kind and route, the commit wait included', async () => {
    const system = await node();
    const deal = newDeal();
    await system.ask({ kind: 'deal', id: deal.id }, { type: 'create', now: Date.now(), deal });
    const count = (kind: string) => system.askLatency.values('x').find((v) => v.metricName === 'x_count' && v.labels.kind === kind && v.labels.transport === 'in-process')?.value ?? 0;
    const sum = () => system.askLatency.values('x').find((v) => v.metricName === 'x_sum' && v.labels.kind === 'deal')!.value;
    const before = count('deal');
    const sumBefore = sum();
    const started = performance.now();
    await Promise.all(Array.from({ length: 50 }, (_, i) => system.ask({ kind: 'deal', id: deal.id }, reserve(`u${i}`))));
    const elapsed = (performance.now() - started) / 1000;
    expect(count('deal') - before).toBe(50);
    // Each reply came after its batch's commit: the asks took time, and none longer than the whole burst.
    expect(sum() - sumBefore).toBeGreaterThan(0);
    expect(sum() - sumBefore).toBeLessThanOrEqual(50 * elapsed + 0.001);
    await system.ask({ kind: 'cart', id: 'u1' }, { type: 'list', now: Date.now() });
    expect(count('cart')).toBe(1);
  });

  it('Redis transport: answers every ask of a burst, several replies per pub/sub message, and publishes no reply to a tell', async () => {
    const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const name = `rt-test-${crypto.randomUUID()}`;
    const db = new Database(await openDatabase({ type: 'mariadb', url: testDb.url }, 8));
    databases.push(db);
    const logger = pino({ level: 'silent' });
    // One node that sends every message through its mailbox streams, even to itself.
    const cluster = new ClusterNode({ redisUrl, name, nodeId: 'n1', partitions: 4, leaseMs: 5000, heartbeatMs: 1000, replyTimeoutMs: 10_000, localDelivery: false, kinds: ['deal', 'cart', 'order'] }, db, logger);
    const system = new ActorSystem({ db, logger, transport: cluster.transport, placement: cluster.placement });
    system.register(dealActor({ stockPublishIntervalMs: 100, room: { tickMs: 1000, goneAfterMs: 60_000, admissionTtlMs: 600_000 } })).register(cartActor).register(orderActor());
    cluster.bind(system);
    const listener = new Redis(redisUrl);
    const replies: string[] = [];
    let messages = 0;
    try {
      await system.start();
      await cluster.start();
      await waitFor(async () => cluster.placement.ownedPartitions().length === 12, 10_000);
      await listener.subscribe(cluster.keys.replies('n1'));
      listener.on('message', (_channel: string, text: string) => {
        messages += 1;
        const parsed = JSON.parse(text) as { id: string } | Array<{ id: string }>;
        for (const r of Array.isArray(parsed) ? parsed : [parsed]) replies.push(r.id);
      });
      const deal = newDeal();
      const shopper = `rt-${deal.id.slice(0, 8)}-`; // shoppers of this test only
      await system.ask({ kind: 'deal', id: deal.id }, { type: 'create', now: Date.now(), deal });
      await waitFor(async () => replies.length === 1, 5000);
      // 200 reserves at once; each also tells the shopper's cart (holdPlaced) through Redis.
      const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => system.ask<{ ok: boolean }>({ kind: 'deal', id: deal.id }, reserve(`${shopper}${i}`))));
      expect(answers.every((a) => a.ok)).toBe(true);
      expect(await row(deal.id)).toMatchObject({ remaining_stock: 800, held_units: 200 });
      // The tells arrived (the carts list their hold) although nobody waited for them.
      let asked = 1 + 200;
      await waitFor(async () => {
        asked += 200;
        const carts = await Promise.all(Array.from({ length: 200 }, (_, i) => system.ask<{ value: unknown[] }>({ kind: 'cart', id: `${shopper}${i}` }, { type: 'list', now: Date.now() })));
        return carts.every((c) => c.value.length === 1);
      }, 5000);
      // One reply per ask (the create, the 200 reserves, 200 per round of lists), none for the
      // 200 tells; replies of one turn share a message.
      await waitFor(async () => replies.length >= asked, 5000);
      await new Promise((r) => setTimeout(r, 200)); // nothing more comes
      expect(replies.length).toBe(asked);
      expect(new Set(replies).size).toBe(replies.length);
      expect(messages).toBeLessThan(replies.length / 2);
      // Every entry was acknowledged and deleted after its reply.
      const probe = new Redis(redisUrl);
      try {
        const left = async () => {
          let n = 0;
          for (const { name: partition } of cluster.placement.ownedPartitions()) n += await probe.xlen(cluster.keys.mailbox(partition));
          return n;
        };
        await waitFor(async () => (await left()) === 0, 5000);
      } finally {
        probe.disconnect();
      }
    } finally {
      listener.disconnect();
      await cluster.stop();
      await system.stop(1000);
      cluster.disconnect();
      const cleaner = new Redis(redisUrl);
      const keys = await cleaner.keys(`${name}*`);
      if (keys.length > 0) await cleaner.del(...keys);
      cleaner.disconnect();
    }
  });
});
