import type { FastifyInstance } from 'fastify';
import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, DealSnapshot, ServerToClientEvents } from '../../src/realtime/events';
import { bearer, makeDeal, makeUser, startTestApp } from '../support/app';
import { createTestDatabase, query } from '../support/services';
import { insertUsers, type TestUser } from '../support/users';

/**
 * The live view, with a real socket.io client on a real port: an anonymous watcher sees
 * the deal open within 1 s of startsAt, then the stock go down to 0 (coalesced to ~10 events a
 * second) with no gap in the deal stream's seq; after a forced reconnect, the `deal:watch` ack
 * agrees with the database. A bad token is refused at the handshake. Last, a sustained flood of
 * holds on a bigger deal, to check the coalescing where it is hardest: many windows, a busy loop.
 */

type LiveSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

const TOTAL_STOCK = 40;
/** The deal is created this long before it opens; the watcher subscribes in between. */
const OPENS_IN_MS = 2500;
/** The server's default STOCK_PUBLISH_INTERVAL_MS. */
const STOCK_INTERVAL_MS = 100;
/**
 * The whole stock, bought in waves of concurrent requests (several with quantity > 1) 60 ms
 * apart: closer than the coalescing interval, so events are both sent at once and deferred.
 */
const WAVES = [[2, 1, 1, 1], [3, 1, 1], [1, 1, 1, 1, 1], [2, 2, 1], [1, 3, 1], [1, 1, 2, 1], [2, 1, 1, 1], [1, 1, 1, 2]];
const WAVE_GAP_MS = 60;
/** The flood: this many one-unit holds, FLOOD_WORKERS at a time, until the deal is sold out. */
const FLOOD_UNITS = 600;
const FLOOD_WORKERS = 16;

/** A server event as the client got it, with the client's clock at arrival. */
interface Received {
  name: string;
  payload: { dealId?: string; seq?: number; at: number; status?: string; remainingStock?: number; startsAt?: string };
  receivedAt: number;
}

describe('live view of a deal over socket.io (MariaDB, real port)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let app: FastifyInstance;
  let base: string;
  const sockets: LiveSocket[] = [];
  let watcher: LiveSocket;
  /** Everything the watcher received, in order. */
  const received: Received[] = [];
  let deal: Record<string, any>;
  let startsAt: number;
  let firstAck: DealSnapshot;
  /** The last deal-stream seq the watcher saw. */
  let lastSeq: number;

  beforeAll(async () => {
    expect(WAVES.flat().reduce((a, b) => a + b, 0)).toBe(TOTAL_STOCK);
    db = await createTestDatabase('live');
    app = await startTestApp(db.url);
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await app?.close();
    await db?.drop();
  });

  it('sends deal:state open within 1 s of startsAt to an anonymous watcher', async () => {
    watcher = connect(sockets, base);
    watcher.onAny((name: string, payload: Received['payload']) => received.push({ name, payload, receivedAt: Date.now() }));
    await new Promise<void>((resolve, reject) => {
      watcher.once('connect', resolve);
      watcher.once('connect_error', reject);
    });

    const seller = await makeUser(app, ['shopper', 'seller']);
    deal = await makeDeal(app, seller.token, {
      totalStock: TOTAL_STOCK,
      perUserLimit: TOTAL_STOCK,
      startsAt: new Date(Date.now() + OPENS_IN_MS).toISOString(),
    });
    startsAt = Date.parse(deal.startsAt);

    firstAck = await watch(watcher, deal.id);
    expect(firstAck.deal).toMatchObject({ id: deal.id, status: 'scheduled', remainingStock: TOTAL_STOCK });
    expect(received).toEqual([]); // nothing happened to the deal yet

    // Opening is the deal actor's `open` reminder firing: nobody sends it a message.
    const open = await nextEvent(received, (e) => e.name === 'deal:state' && e.payload.status === 'open', startsAt + 3000 - Date.now());
    expect(open.payload).toMatchObject({ dealId: deal.id, remainingStock: TOTAL_STOCK, startsAt: deal.startsAt, endsAt: deal.endsAt });
    expect(open.payload.at).toBeGreaterThanOrEqual(startsAt);
    expect(open.payload.at - startsAt).toBeLessThan(1000);
    expect(open.receivedAt - startsAt).toBeLessThan(1000); // same machine, same clock
  });

  it('streams deal:stock down to 0, coalesced, then sold_out, with no seq gap', async () => {
    const shoppers = await insertUsers(db.url, app.config.jwtSecret, 10);
    const answers = await buyInWaves(app, deal.id, shoppers);
    expect(answers.filter((a) => a.status !== 201)).toEqual([]);

    await nextEvent(received, (e) => e.name === 'deal:state' && e.payload.status === 'sold_out', 5000);
    const stream = received.filter((e) => e.payload.dealId === deal.id);
    expectOrderlyStream(stream, firstAck.seq);
    lastSeq = stream[stream.length - 1].payload.seq!;
  });

  it('answers deal:watch after a forced reconnect with a snapshot that agrees with the database', async () => {
    const disconnected = new Promise<void>((resolve) => watcher.once('disconnect', () => resolve()));
    const reconnected = new Promise<void>((resolve) => watcher.once('connect', () => resolve()));
    const oldId = watcher.id;
    watcher.io.engine.close(); // drops the transport; the client reconnects by itself
    await disconnected;
    await reconnected;
    expect(watcher.id).not.toBe(oldId); // a new session: it must watch the deal again

    const ack = await watch(watcher, deal.id);
    const [row] = await query<{ remaining_stock: number; status: string; seq: number }>(db.url, 'SELECT remaining_stock, status, seq FROM deals WHERE id = ?', [deal.id]);
    expect({ remainingStock: ack.deal.remainingStock, status: ack.deal.status, seq: ack.seq }).toEqual({
      remainingStock: row.remaining_stock,
      status: row.status,
      seq: Number(row.seq),
    });
    // ... and with what the stream said before the reconnect: nothing was missed.
    expect(ack).toMatchObject({ deal: { remainingStock: 0, status: 'sold_out' }, seq: lastSeq });
  });

  it('refuses a socket with a garbage token: connect_error with code UNAUTHORIZED', async () => {
    const intruder = connect(sockets, base, { token: 'garbage' });
    const error = await new Promise<Error & { data?: unknown }>((resolve, reject) => {
      intruder.once('connect_error', resolve);
      intruder.once('connect', () => reject(new Error('a garbage token was let in')));
    });
    expect(error.data).toEqual({ code: 'UNAUTHORIZED' });
    expect(intruder.connected).toBe(false);
  });

  it('refuses a socket from a page of another origin (CORS_ORIGINS unset: same host only), for websocket and polling', async () => {
    const outcome = (origin: string, transport: 'websocket' | 'polling') =>
      new Promise<'connected' | 'refused'>((resolve) => {
        const s = io(base, { transports: [transport], reconnection: false, extraHeaders: { origin } });
        sockets.push(s);
        s.once('connect', () => resolve('connected'));
        s.once('connect_error', () => resolve('refused'));
      });
    const host = new URL(base).host;
    expect(await outcome('https://evil.example', 'websocket')).toBe('refused');
    expect(await outcome('https://evil.example', 'polling')).toBe('refused');
    expect(await outcome(`http://${host}`, 'websocket')).toBe('connected');
  });

  it('keeps deal:stock to one per interval under a sustained flood of holds', async () => {
    // Many coalescing windows with the event loop saturated: a stock timer then often fires while
    // holds that already published are still queued ahead of it.
    const seller = await makeUser(app, ['shopper', 'seller']);
    const big = await makeDeal(app, seller.token, { totalStock: FLOOD_UNITS, perUserLimit: FLOOD_UNITS });
    const floodWatcher = connect(sockets, base);
    const events: Received[] = [];
    floodWatcher.onAny((name: string, payload: Received['payload']) => events.push({ name, payload, receivedAt: Date.now() }));
    const ack = await watch(floodWatcher, big.id);
    expect(ack.deal).toMatchObject({ status: 'open', remainingStock: FLOOD_UNITS });

    const shoppers = await insertUsers(db.url, app.config.jwtSecret, 50);
    const answers = await floodOfHolds(app, big.id, shoppers);
    expect(answers.filter((status) => status !== 201)).toEqual([]);

    await nextEvent(events, (e) => e.name === 'deal:state' && e.payload.status === 'sold_out', 5000);
    expectOrderlyStream(events.filter((e) => e.payload.dealId === big.id), ack.seq);
  });
});

/**
 * What a watcher of a deal that sells out must see, from its `deal:watch` ack (seq `ackSeq`) on:
 *   - deal:state and deal:stock only, their seq ackSeq+1, ackSeq+2, ... in arrival order (no gap,
 *     no repeat), and `at` never going back;
 *   - deal:stock going only down, to 0, then deal:state sold_out as the last event;
 *   - deal:stock coalesced to one per STOCK_INTERVAL_MS (10 ms of margin below the server's exact
 *     interval), except the one at zero, which is sent at once.
 */
function expectOrderlyStream(stream: Received[], ackSeq: number): void {
  expect(new Set(stream.map((e) => e.name))).toEqual(new Set(['deal:state', 'deal:stock']));
  const seqs = stream.map((e) => e.payload.seq);
  expect(seqs).toEqual(seqs.map((_, i) => ackSeq + 1 + i));
  for (let i = 1; i < stream.length; i++) expect(stream[i].payload.at).toBeGreaterThanOrEqual(stream[i - 1].payload.at);

  const stock = stream.filter((e) => e.name === 'deal:stock');
  const levels = stock.map((e) => e.payload.remainingStock!);
  for (let i = 1; i < levels.length; i++) expect(levels[i]).toBeLessThan(levels[i - 1]);
  expect(levels[levels.length - 1]).toBe(0);
  const last = stream[stream.length - 1];
  expect({ name: last.name, status: last.payload.status, remainingStock: last.payload.remainingStock }).toEqual({ name: 'deal:state', status: 'sold_out', remainingStock: 0 });
  expect(stream[stream.length - 2]).toBe(stock[stock.length - 1]);

  const gaps = stock.slice(1, -1).map((e, i) => ({ seq: e.payload.seq, afterMs: e.payload.at - stock[i].payload.at }));
  expect(gaps.filter((g) => g.afterMs < STOCK_INTERVAL_MS - 10)).toEqual([]);
}

/** A websocket-only socket.io client (anonymous unless `auth` is given), closed by afterAll. */
function connect(sockets: LiveSocket[], base: string, auth?: { token: string }): LiveSocket {
  const socket: LiveSocket = io(base, { transports: ['websocket'], ...(auth ? { auth, reconnection: false } : {}) });
  sockets.push(socket);
  return socket;
}

/** Emits `deal:watch` and returns the ack's snapshot (fails on an error ack or after 5 s). */
async function watch(socket: LiveSocket, dealId: string): Promise<DealSnapshot> {
  const answer = await socket.timeout(5000).emitWithAck('deal:watch', { dealId });
  if ('error' in answer) throw new Error(`deal:watch refused: ${JSON.stringify(answer.error)}`);
  return answer;
}

/** Resolves with the first event in `received` (now or later) that `matches`; fails after `timeoutMs`. */
async function nextEvent(received: Received[], matches: (e: Received) => boolean, timeoutMs: number): Promise<Received> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = received.find(matches);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(received.map((e) => [e.name, e.payload]))}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sends the WAVES of hold requests, WAVE_GAP_MS apart, round-robin over `shoppers`; returns every answer. */
async function buyInWaves(app: FastifyInstance, dealId: string, shoppers: TestUser[]): Promise<Array<{ status: number; body: string }>> {
  let n = 0;
  const requests = WAVES.map(async (wave, w) => {
    await new Promise((r) => setTimeout(r, w * WAVE_GAP_MS));
    return Promise.all(
      wave.map(async (quantity) => {
        const shopper = shoppers[n++ % shoppers.length];
        const res = await app.inject({
          method: 'POST',
          url: '/api/cart/items',
          headers: { ...bearer(shopper.token), 'idempotency-key': crypto.randomUUID() },
          payload: { dealId, quantity },
        });
        return { status: res.statusCode, body: res.body };
      }),
    );
  });
  return (await Promise.all(requests)).flat();
}

/** FLOOD_UNITS one-unit holds from FLOOD_WORKERS concurrent senders, round-robin over `shoppers`; returns the statuses. */
async function floodOfHolds(app: FastifyInstance, dealId: string, shoppers: TestUser[]): Promise<number[]> {
  const statuses: number[] = [];
  let sent = 0;
  const sender = async () => {
    while (sent < FLOOD_UNITS) {
      const shopper = shoppers[sent++ % shoppers.length];
      const res = await app.inject({
        method: 'POST',
        url: '/api/cart/items',
        headers: { ...bearer(shopper.token), 'idempotency-key': crypto.randomUUID() },
        payload: { dealId, quantity: 1 },
      });
      statuses.push(res.statusCode);
    }
  };
  await Promise.all(Array.from({ length: FLOOD_WORKERS }, sender));
  return statuses;
}
