import { generateKeyPairSync } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import { Pool } from 'undici';
import { shuffleOrder } from '../../src/actors/deal/waiting-room';
import { queuePlace, type ClientToServerEvents, type DealSnapshot, type QueueProgressEvent, type ServerToClientEvents } from '../../src/realtime/events';
import { AdmissionTokens } from '../../src/waiting-room/admission-tokens';
import { createTestDatabase, query } from '../support/services';
import { startServerProcess, type ServerProcess } from '../support/server-process';
import { insertUsers, type TestUser } from '../support/users';

/**
 * The waiting room against a real server process, real MariaDB, real HTTP and real socket.io
 * clients (issue 4, "Must show"): 10,000 tickets in the 2 s around the start from 2,000 socket
 * clients and plain HTTP shoppers; the pre-queue shuffle's fairness and audit; admission tokens;
 * reload, gone shoppers, pause, resume and a live rate change.
 */

type LiveSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

const JWT_SECRET = 'waiting-room-test-secret-0123456789abcdef';
const ADMISSION_KEY = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const TICK_MS = 500;
const GONE_AFTER_S = 3;
const TICKETS = 10_000;
const SOCKETS = 2_000;

describe('the waiting room (server process, MariaDB, socket.io)', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let server: ServerProcess;
  let seller: TestUser;
  let admin: TestUser;
  let shoppers: TestUser[];
  const sockets: LiveSocket[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('queue');
    server = await startServerProcess({
      DATABASE_URL: db.url,
      JWT_SECRET,
      ADMISSION_PRIVATE_KEY: ADMISSION_KEY,
      QUEUE_TICK_MS: String(TICK_MS),
      QUEUE_GONE_AFTER_SECONDS: String(GONE_AFTER_S),
      DB_POOL_SIZE: '10',
    });
    [seller] = await insertUsers(db.url, JWT_SECRET, 1, ['shopper', 'seller']);
    [admin] = await insertUsers(db.url, JWT_SECRET, 1, ['admin']);
    shoppers = await insertUsers(db.url, JWT_SECRET, TICKETS);
  }, 60_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    await server?.kill();
    await db?.drop();
  });

  const api = async (method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : null };
  };

  const makeDeal = async (over: Record<string, unknown>) => {
    const res = await api('POST', '/api/seller/deals', seller.token, {
      title: 'Queue deal', description: 'waiting room', category: 'test', price: 1000, originalPrice: 2000, currency: 'KRW',
      totalStock: 5000, perUserLimit: 2, startsAt: new Date(Date.now() + 3000).toISOString(), endsAt: new Date(Date.now() + 3_600_000).toISOString(),
      ...over,
    });
    if (res.status !== 201) throw new Error(`deal not created: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body!;
  };

  const connect = async (token: string): Promise<LiveSocket> => {
    const socket: LiveSocket = io(server.url, { transports: ['websocket'], auth: { token }, reconnection: false });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    return socket;
  };
  const watch = async (socket: LiveSocket, dealId: string): Promise<DealSnapshot> => {
    const answer = await socket.timeout(10_000).emitWithAck('deal:watch', { dealId });
    if ('error' in answer) throw new Error(`deal:watch refused: ${JSON.stringify(answer.error)}`);
    return answer;
  };
  /** Runs `jobs` with at most `width` in flight. */
  async function pool<T>(jobs: Array<() => Promise<T>>, width: number): Promise<T[]> {
    const out: T[] = new Array(jobs.length);
    let next = 0;
    await Promise.all(Array.from({ length: width }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]();
      }
    }));
    return out;
  }

  it('takes 10,000 tickets around the start: unique seqs, admission in seq order within rate and maxActive, and every client computes its true position', async () => {
    const RATE = 3000; // per minute: 25 per 500 ms tick
    const MAX_ACTIVE = 400;
    const startsAt = Date.now() + 6000;
    const deal = await makeDeal({ startsAt: new Date(startsAt).toISOString(), waitingRoom: { enabled: true, admissionPerMinute: RATE, maxActive: MAX_ACTIVE } });

    // 2,000 shoppers with a live socket in the deal's room; they record every queue:progress.
    const live = shoppers.slice(0, SOCKETS);
    const progress = new Map<string, QueueProgressEvent[]>();
    const liveSockets = await pool(live.map((s) => async () => {
      const socket = await connect(s.token);
      const seen: QueueProgressEvent[] = [];
      progress.set(s.id, seen);
      socket.on('queue:progress', (e) => seen.push(e));
      await watch(socket, deal.id);
      return socket;
    }), 100);
    expect(liveSockets).toHaveLength(SOCKETS);

    // Joins from 1 s before the start to 1 s after, in a shuffled order of shoppers.
    const order = shuffleOrder(shoppers, 'a5a5a5a5');
    while (Date.now() < startsAt - 1000) await sleep(20);
    // undici's Pool over 64 keep-alive connections: fetch() costs this process too much CPU
    // next to 2,000 live sockets.
    const http = new Pool(server.url, { connections: 64 });
    const joinStart = Date.now();
    const tickets = await pool(order.map((s, i) => async () => {
      const due = joinStart + Math.floor((i / TICKETS) * 2000);
      if (Date.now() < due) await sleep(due - Date.now());
      const res = await http.request({ method: 'POST', path: `/api/deals/${deal.id}/queue`, headers: { authorization: `Bearer ${s.token}` } });
      return { shopper: s, status: res.statusCode, body: (await res.body.json()) as Record<string, any> };
    }), 512);
    const joinEnd = Date.now();
    await http.close();
    expect(tickets.filter((t) => t.status !== 201).map((t) => `${t.status} ${JSON.stringify(t.body)}`).slice(0, 3)).toEqual([]);
    // Sent within 2 s; on this two-core box (server, MariaDB and 2,000 clients sharing it) the last
    // answers land 20-30 s later, bound by this test process's CPU (the 2,000 socket.io clients
    // and the 10,000 requests; the server sits at 10-50 % of a core), and up to about a minute when
    // other test files run beside it. A guard against a hang, not a speed check: throughput is
    // measured in bench/ (npm run bench -- queue).
    expect(joinEnd - joinStart).toBeLessThan(120_000);
    console.log(`10,000 joins sent over 2 s, all answered in ${joinEnd - joinStart} ms`);

    // Every ticket has a unique seq once the pre-queue is shuffled.
    await waitFor(async () => (await query<{ n: number }>(db.url, 'SELECT COUNT(*) AS n FROM tickets WHERE deal_id = ? AND seq IS NULL', [deal.id]))[0].n === 0, 10_000);
    const rows = await query<{ user_id: string; seq: number; status: string }>(db.url, 'SELECT user_id, seq, status FROM tickets WHERE deal_id = ?', [deal.id]);
    expect(rows).toHaveLength(TICKETS);
    expect(new Set(rows.map((r) => r.seq)).size).toBe(TICKETS);
    expect(Math.min(...rows.map((r) => r.seq))).toBe(1);
    expect(Math.max(...rows.map((r) => r.seq))).toBe(TICKETS);
    const seqOf = new Map(rows.map((r) => [r.user_id, Number(r.seq)]));

    // Let admission run, then freeze it (pause) at three instants and compare every socket
    // client's computed position with the server's own record of the tickets ahead of it.
    for (let instant = 0; instant < 3; instant++) {
      await sleep(2500);
      expect((await api('POST', `/api/admin/deals/${deal.id}/waiting-room/pause`, admin.token)).status).toBe(200);
      await sleep(3 * TICK_MS); // the tick in flight, then a paused one
      const frozen = await query<{ seq: number; status: string }>(db.url, 'SELECT seq, status FROM tickets WHERE deal_id = ? ORDER BY seq', [deal.id]);
      const unsettled = frozen.filter((t) => t.status === 'waiting').map((t) => Number(t.seq));
      let checked = 0;
      for (const s of live) {
        const events = progress.get(s.id)!;
        const lastEvent = events[events.length - 1];
        expect(lastEvent.paused).toBe(true);
        const seq = seqOf.get(s.id)!;
        if (seq <= lastEvent.servingSeq) continue; // admitted or skipped: no position to check
        const aheadOnServer = countBelow(unsettled, seq);
        expect({ shopper: s.id, position: queuePlace(seq, lastEvent).position }).toEqual({ shopper: s.id, position: aheadOnServer });
        checked += 1;
      }
      expect(checked).toBeGreaterThan(100);
      expect((await api('POST', `/api/admin/deals/${deal.id}/waiting-room/resume`, admin.token)).status).toBe(200);
    }

    // Admission followed seq order: no waiting ticket below a settled one; admitted times rise with seq.
    const final = await query<{ seq: number; status: string; admitted_at: number | null }>(db.url, 'SELECT seq, status, admitted_at FROM tickets WHERE deal_id = ? ORDER BY seq', [deal.id]);
    const settledTop = Math.max(0, ...final.filter((t) => t.status !== 'waiting').map((t) => Number(t.seq)));
    expect(final.filter((t) => t.status === 'waiting' && Number(t.seq) < settledTop)).toEqual([]);
    const admitted = final.filter((t) => t.admitted_at !== null).map((t) => ({ seq: Number(t.seq), at: Number(t.admitted_at) }));
    expect(admitted.length).toBeGreaterThan(50);
    for (let i = 1; i < admitted.length; i++) expect(admitted[i].at).toBeGreaterThanOrEqual(admitted[i - 1].at);
    // Never more than maxActive at once (every admission is still live: nobody paid) ...
    expect(admitted.length).toBeLessThanOrEqual(MAX_ACTIVE);
    // ... and never faster than the rate: in any window of W ms, at most RATE*W/60000 plus the bucket's two ticks.
    const burst = (RATE * 2 * TICK_MS) / 60_000;
    for (let i = 0; i < admitted.length; i++) {
      for (let j = i; j < admitted.length; j++) {
        const window = admitted[j].at - admitted[i].at;
        expect(j - i + 1).toBeLessThanOrEqual(Math.floor((RATE * window) / 60_000 + burst) + 1);
      }
    }
    // Every progress any client saw respected maxActive.
    for (const events of progress.values()) for (const e of events) expect(e.admitted).toBeLessThanOrEqual(MAX_ACTIVE);

    for (const s of liveSockets) s.close();
  }, 180_000);

  it('shuffles 1,000 pre-queue tickets fairly (rank correlation near zero) and reproducibly from the stored seed', async () => {
    const startsAt = Date.now() + 20_000;
    const deal = await makeDeal({ startsAt: new Date(startsAt).toISOString(), waitingRoom: { enabled: true, admissionPerMinute: 60, maxActive: 10 } });
    const early = shoppers.slice(0, 1000);
    // Four at a time in a fixed order: arrivals are numbered in the order the deal took them.
    const answers = await pool(early.map((s) => () => api('POST', `/api/deals/${deal.id}/queue`, s.token)), 4);
    expect(Date.now()).toBeLessThan(startsAt);
    for (const a of answers) expect(a.body).toMatchObject({ status: 'prequeue', seq: null, position: null });
    await waitFor(async () => (await query<{ n: number }>(db.url, 'SELECT COUNT(*) AS n FROM tickets WHERE deal_id = ? AND seq IS NULL', [deal.id]))[0].n === 0, startsAt - Date.now() + 10_000);
    const rows = await query<{ user_id: string; arrival: number; seq: number }>(db.url, 'SELECT user_id, arrival, seq FROM tickets WHERE deal_id = ? ORDER BY arrival', [deal.id]);
    expect(rows).toHaveLength(1000);
    expect(rows.map((r) => Number(r.arrival))).toEqual(early.map((_, i) => i + 1));
    const rho = spearman(rows.map((r) => Number(r.arrival) - 1), rows.map((r) => Number(r.seq) - 1));
    expect(Math.abs(rho)).toBeLessThan(0.1);
    const [{ queue_state }] = await query<{ queue_state: string }>(db.url, 'SELECT queue_state FROM deals WHERE id = ?', [deal.id]);
    const seed = (JSON.parse(queue_state) as { seed: string }).seed;
    expect(seed).toMatch(/^[0-9a-f]{8}$/);
    const bySeq = [...rows].sort((a, b) => Number(a.seq) - Number(b.seq)).map((r) => r.user_id);
    expect(shuffleOrder(rows.map((r) => r.user_id), seed)).toEqual(bySeq);
  }, 90_000);

  it('refuses forged, expired, other-deal and other-shopper admission tokens; one valid token used 1,000 times holds at most the per-user limit; a revoked admission stays ended, one that bought nothing joins again at the back', async () => {
    const deal = await makeDeal({ startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 2, waitingRoom: { enabled: true, admissionPerMinute: 6000, maxActive: 50 } });
    const other = await makeDeal({ startsAt: new Date(Date.now() - 1000).toISOString(), waitingRoom: { enabled: true, admissionPerMinute: 6000, maxActive: 50 } });
    const [alice, bob] = shoppers.slice(5000, 5002);
    const socket = await connect(alice.token);
    const admittedEvent = new Promise<{ token: string }>((resolve) => socket.once('queue:admitted', resolve));
    await watch(socket, deal.id);
    expect((await api('POST', `/api/deals/${deal.id}/queue`, alice.token)).status).toBe(201);
    const { token } = await admittedEvent;
    const me = await api('GET', `/api/deals/${deal.id}/queue/me`, alice.token);
    expect(me.body).toMatchObject({ status: 'admitted', position: 0, admission: { token: expect.any(String) } });

    const hold = (as: TestUser, admission: string | undefined, dealId = deal.id) =>
      api('POST', '/api/cart/items', as.token, { dealId, quantity: 1 }, { 'idempotency-key': crypto.randomUUID(), ...(admission ? { 'x-admission-token': admission } : {}) });
    const server = new AdmissionTokens(ADMISSION_KEY);
    const stranger = new AdmissionTokens(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const [head, payload, signature] = token.split('.');
    const cases: Array<[string, string | undefined]> = [
      ['none', undefined],
      ['garbage', 'not-a-token'],
      ['forged signature', `${head}.${payload}.${signature.slice(0, -4)}AAAA`],
      ['signed by another key', await stranger.sign({ userId: alice.id, dealId: deal.id, expiresAt: Date.now() + 60_000 })],
      ['expired', await server.sign({ userId: alice.id, dealId: deal.id, expiresAt: Date.now() - 1000 })],
      ['other deal', await server.sign({ userId: alice.id, dealId: other.id, expiresAt: Date.now() + 60_000 })],
      ['other shopper', token],
    ];
    for (const [name, admission] of cases) {
      const as = name === 'other shopper' ? bob : alice;
      const res = await hold(as, admission);
      expect({ name, status: res.status, code: res.body?.code }).toEqual({ name, status: 403, code: 'NOT_ADMITTED' });
    }
    // Nothing changed: no hold for anyone yet.
    expect((await query(db.url, 'SELECT id FROM holds WHERE deal_id = ?', [deal.id])).length).toBe(0);

    // One valid token, 1,000 parallel requests: at most perUserLimit units held.
    const results = await Promise.all(Array.from({ length: 1000 }, () => hold(alice, token)));
    const created = results.filter((r) => r.status === 201);
    expect(created.length).toBe(2);
    expect(new Set(results.filter((r) => r.status !== 201).map((r) => r.body?.code))).toEqual(new Set(['LIMIT_EXCEEDED']));
    const [{ units }] = await query<{ units: number }>(db.url, "SELECT COALESCE(SUM(quantity), 0) AS units FROM holds WHERE deal_id = ? AND user_id = ?", [deal.id, alice.id]);
    expect(Number(units)).toBe(2);

    // An admin revokes the admission: the same token stops working at once.
    expect((await api('POST', `/api/admin/deals/${deal.id}/admissions/${alice.id}/revoke`, admin.token)).status).toBe(200);
    const afterRevoke = await api('DELETE', `/api/cart/items/${created[0].body!.hold.id}`, alice.token);
    expect(afterRevoke.status).toBe(204);
    const refused = await hold(alice, token);
    expect(refused).toMatchObject({ status: 403, body: { code: 'NOT_ADMITTED', detail: expect.stringContaining('revoked') } });
    // A revoked admission is final: joining again returns the ended ticket, no new place.
    expect(await api('POST', `/api/deals/${deal.id}/queue`, alice.token)).toMatchObject({ status: 200, body: { status: 'expired', admission: null } });

    // An admission that bought nothing (here: the shopper left) lets the shopper join again, at the back.
    const bobSocket = await connect(bob.token);
    await watch(bobSocket, deal.id);
    const bobAdmitted = () => new Promise<{ token: string }>((resolve) => bobSocket.once('queue:admitted', resolve));
    let admittedAgain = bobAdmitted();
    const bobFirst = await api('POST', `/api/deals/${deal.id}/queue`, bob.token);
    expect(bobFirst.status).toBe(201);
    const firstToken = (await admittedAgain).token;
    expect((await api('DELETE', `/api/deals/${deal.id}/queue`, bob.token)).status).toBe(204);
    expect((await hold(bob, firstToken)).body).toMatchObject({ code: 'NOT_ADMITTED', detail: expect.stringContaining('join the queue again') });
    admittedAgain = bobAdmitted();
    const rejoined = await api('POST', `/api/deals/${deal.id}/queue`, bob.token);
    expect(rejoined).toMatchObject({ status: 200, body: { seq: expect.any(Number) } });
    expect(rejoined.body!.seq).toBeGreaterThan(bobFirst.body!.seq);
    expect(['waiting', 'admitted']).toContain(rejoined.body!.status);
    const secondToken = (await admittedAgain).token;
    expect((await hold(bob, secondToken)).status).toBe(201);
    const [row] = await query<{ seq: number; status: string; end_reason: string | null }>(db.url, 'SELECT seq, status, end_reason FROM tickets WHERE deal_id = ? AND user_id = ?', [deal.id, bob.id]);
    expect(row).toEqual({ seq: rejoined.body!.seq, status: 'admitted', end_reason: null });
    bobSocket.close();
    socket.close();
  }, 60_000);

  it('keeps the ticket across a reload; skips a gone shopper so those behind move up; pause, resume and a rate change act within a tick', async () => {
    const deal = await makeDeal({ startsAt: new Date(Date.now() - 1000).toISOString(), waitingRoom: { enabled: true, admissionPerMinute: 60, maxActive: 100 } });
    const [first, gone, third, fourth] = shoppers.slice(6000, 6004);
    const sFirst = await connect(first.token);
    await watch(sFirst, deal.id);
    // Pause before anyone joins, so nobody is admitted while the queue forms.
    expect((await api('PATCH', `/api/admin/deals/${deal.id}/waiting-room`, admin.token, { paused: true })).status).toBe(200);
    const t1 = await api('POST', `/api/deals/${deal.id}/queue`, first.token);
    const tGone = await api('POST', `/api/deals/${deal.id}/queue`, gone.token);
    const t3 = await api('POST', `/api/deals/${deal.id}/queue`, third.token);
    const t4 = await api('POST', `/api/deals/${deal.id}/queue`, fourth.token);
    expect([t1, tGone, t3, t4].map((t) => t.status)).toEqual([201, 201, 201, 201]);
    const s3 = await connect(third.token);
    await watch(s3, deal.id);
    const s4 = await connect(fourth.token);
    const progress4: QueueProgressEvent[] = [];
    s4.on('queue:progress', (e) => progress4.push(e));
    await watch(s4, deal.id);

    // Reload: a new socket for the same shopper gets the same ticket in the watch ack; a second join answers 200 with it.
    const reloaded = await connect(third.token);
    const snap = await watch(reloaded, deal.id);
    expect(snap.ticket).toMatchObject({ seq: t3.body!.seq, status: 'waiting', position: 2 });
    const again = await api('POST', `/api/deals/${deal.id}/queue`, third.token);
    expect(again).toMatchObject({ status: 200, body: { seq: t3.body!.seq } });
    sockets.push(reloaded);

    // While paused, nothing is admitted, tick after tick.
    await sleep(4 * TICK_MS);
    const pausedEvents = progress4.slice(-3);
    expect(pausedEvents.length).toBeGreaterThanOrEqual(2);
    for (const e of pausedEvents) expect(e).toMatchObject({ paused: true, servingSeq: 0 });

    // "gone" has no socket and does not poll: after GONE_AFTER_S it is skipped when reached.
    await sleep(GONE_AFTER_S * 1000 + 500);
    // Taken before the request: the change schedules a tick at once, which can publish (and admit
    // the whole line, after which ticks publish nothing) before the answer reaches this test.
    const changedAt = Date.now();
    const rate = await api('PATCH', `/api/admin/deals/${deal.id}/waiting-room`, admin.token, { paused: false, admissionPerMinute: 6000 });
    expect(rate.body).toMatchObject({ waitingRoom: { admissionPerMinute: 6000, paused: false } });
    await waitFor(async () => progress4.some((e) => e.at >= changedAt && e.admissionPerMinute === 6000), 2 * TICK_MS + 500);
    await waitFor(async () => (await api('GET', `/api/deals/${deal.id}/queue/me`, fourth.token)).body?.status === 'admitted', 5000);
    const rows = await query<{ user_id: string; status: string; end_reason: string | null }>(db.url, 'SELECT user_id, status, end_reason FROM tickets WHERE deal_id = ? ORDER BY seq', [deal.id]);
    expect(rows.map((r) => [r.user_id, r.status, r.end_reason])).toEqual([
      [first.id, 'admitted', null],
      [gone.id, 'skipped', 'gone'],
      [third.id, 'admitted', null],
      [fourth.id, 'admitted', null],
    ]);
    const [{ queue_state }] = await query<{ queue_state: string }>(db.url, 'SELECT queue_state FROM deals WHERE id = ?', [deal.id]);
    expect(JSON.parse(queue_state)).toMatchObject({ skipped: 1, servingSeq: 4 });
    // The seller's figures count the live admissions.
    expect((await api('GET', `/api/seller/deals/${deal.id}/sales`, seller.token)).body).toMatchObject({ waiting: 0, admitted: 3 });

    // Pause stops admission within one tick; resume restarts it.
    const [fifth] = shoppers.slice(6004, 6005);
    expect((await api('POST', `/api/admin/deals/${deal.id}/waiting-room/pause`, admin.token)).status).toBe(200);
    const s5 = await connect(fifth.token);
    await watch(s5, deal.id);
    expect((await api('POST', `/api/deals/${deal.id}/queue`, fifth.token)).body).toMatchObject({ status: 'waiting', seq: 5, position: 0 });
    await sleep(3 * TICK_MS);
    expect((await api('GET', `/api/deals/${deal.id}/queue/me`, fifth.token)).body).toMatchObject({ status: 'waiting' });
    const admittedEvent = new Promise((resolve) => s5.once('queue:admitted', resolve));
    expect((await api('POST', `/api/admin/deals/${deal.id}/waiting-room/resume`, admin.token)).status).toBe(200);
    await Promise.race([admittedEvent, sleep(2 * TICK_MS + 500).then(() => Promise.reject(new Error('not admitted within a tick of resume')))]);
    for (const s of [sFirst, s3, s4, s5]) s.close();
  }, 60_000);

  it('answers clear errors for bad queue calls and changes nothing', async () => {
    const plain = await makeDeal({ startsAt: new Date(Date.now() - 1000).toISOString() });
    const [s] = shoppers.slice(7000, 7001);
    expect(await api('POST', `/api/deals/${plain.id}/queue`, s.token)).toMatchObject({ status: 409, body: { code: 'INVALID_STATE' } });
    expect(await api('POST', '/api/deals/no-such-deal/queue', s.token)).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    expect(await api('GET', `/api/deals/${plain.id}/queue/me`, s.token)).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    expect((await api('POST', `/api/deals/${plain.id}/queue`, 'not-a-token')).status).toBe(401);
    expect(await api('PATCH', `/api/admin/deals/${plain.id}/waiting-room`, s.token, { paused: true })).toMatchObject({ status: 403 });
    expect(await api('PATCH', `/api/admin/deals/${plain.id}/waiting-room`, admin.token, { admissionPerMinute: 0 })).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    expect(await api('PATCH', `/api/admin/deals/${plain.id}/waiting-room`, admin.token, { bogus: 1 })).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    expect(await query(db.url, 'SELECT id FROM tickets WHERE deal_id = ?', [plain.id])).toEqual([]);
    const [{ waiting_room }] = await query<{ waiting_room: string }>(db.url, 'SELECT waiting_room FROM deals WHERE id = ?', [plain.id]);
    expect(JSON.parse(waiting_room)).toMatchObject({ enabled: false, admissionPerMinute: 600 });
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** How many of the sorted `values` are below `x`. */
function countBelow(sorted: number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function spearman(a: number[], b: number[]): number {
  const n = a.length;
  let d2 = 0;
  for (let i = 0; i < n; i++) d2 += (a[i] - b[i]) ** 2;
  return 1 - (6 * d2) / (n * (n * n - 1));
}
