import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { io, type Socket } from 'socket.io-client';
import { Pool } from 'undici';

/**
 * One part of the rehearsal's shoppers, in a child process (`bench/rehearsal.ts` starts several,
 * so that the load generator uses every core and each has its own file-descriptor limit for its
 * sockets) or a worker thread. Each shopper is a real socket.io client plus HTTP calls, started at
 * its planned arrival: connect and watch the deal, join the waiting room, wait for
 * `queue:admitted` (polling `GET /queue/me` as a browser would if the socket is down), hold 1-2
 * units with the admission token, check out, and pay at the gateway's card page, or decline,
 * cancel or walk away as planned. With several nodes, a shopper whose node stops answering moves
 * to the next one (same idempotency keys). Messages to the parent: `progress` every second, then
 * `done` with every shopper's record, the `queue:progress` lags, the errors by step and code, and
 * every 2xx seen (for the audit).
 */

export type Fate = 'pay' | 'decline_then_pay' | 'decline_then_cancel' | 'cancel' | 'abandon_hold' | 'abandon_order';

export interface ShopperPlan {
  id: string;
  token: string;
  /** Epoch ms. */
  arriveAt: number;
  quantity: 1 | 2;
  fate: Fate;
  /** ms: hold to checkout, checkout to payment, on the card page. */
  think: [number, number, number];
  /** Index of the node first used. */
  node: number;
}

export interface ShopperJob {
  origins: string[];
  dealId: string;
  opensAt: number;
  /** Epoch ms after which no shopper starts a new step. */
  deadline: number;
  pollMs: number;
  /**
   * A hold's lifetime on the nodes (ms): how long a sold-out shopper waits for units to come back
   * before looking again. The rehearsal sets it (`--hold-ttl`); the baseline's shoppers never wait.
   */
  holdTtlMs?: number;
  shoppers: ShopperPlan[];
  /**
   * `dealrush` (the default): the whole journey above. `baseline`: the rehearsal's baseline row
   * against bench/baseline-server.ts (one transaction per purchase): no socket, no waiting room, no
   * payment; at its arrival (an early bird: at the opening, as a refresh would) the shopper sends
   * one `POST /api/cart/items { dealId, quantity }` (503 and network errors retried as in `call`)
   * and is done with 201 (`held`) or 409 SOLD_OUT (`sold_out`).
   */
  mode?: 'dealrush' | 'baseline';
}

export type Outcome = 'paid' | 'held' | 'sold_out' | 'cancelled' | 'abandoned_hold' | 'abandoned_order' | 'not_admitted' | 'limit' | 'hold_expired' | 'refunded' | 'unpaid' | 'error' | 'not_arrived';

export interface ShopperRecord {
  id: string;
  arrivedAt: number | null;
  joinMs: number | null;
  admittedAt: number | null;
  heldAt: number | null;
  quantity: number;
  paidAt: number | null;
  outcome: Outcome;
}

/** Every 2xx a shopper saw, for the audit. */
export interface Seen {
  tickets: string[];
  holds: Array<{ id: string; userId: string; quantity: number; at: number }>;
  orders: Array<{ id: string; userId: string }>;
  payments: Array<{ id: string; orderId: string; gateway: string; decision: 'approve' | 'decline' | null }>;
  cancels: string[];
}

export interface ShopperProgress {
  arrived: number;
  waiting: number;
  admitted: number;
  held: number;
  paid: number;
  finished: number;
  errors: number;
  sockets: number;
}

export interface ShopperResult {
  records: ShopperRecord[];
  lags: number[];
  /** Duration (ms) of every HTTP call by step, retries included; `paid seen` is approve to the order paid. */
  steps: Record<string, number[]>;
  errors: Record<string, number>;
  seen: Seen;
  /**
   * This load-generator process itself, from its first shopper's arrival to the end: requests
   * waiting in its pools for a connection (sampled every 500 ms: peak and mean), and its event
   * loop's delay (ms; `monitorEventLoopDelay`). Both are time the shoppers' steps count and the
   * nodes' handlers do not. Absent in results from before it existed.
   */
  loadGenerator?: { queuedPeak: number; queuedMean: number; loopDelayMs: { p50: number; p99: number; max: number } };
}

/** SOLD_OUT answers a shopper takes before leaving the queue. */
const MAX_SOLD_OUT_RETRIES = 3;

interface StopSignal {
  stopped: boolean;
  stoppedAt: number | null;
  onAbort?: () => void;
  /** Called once on `stop` (the baseline: shoppers still to arrive are not started). */
  onStop?: () => void;
}

export const SHIPPING = { name: 'Rehearsal Shopper', phone: '010-0000-0000', line1: '1 Sejong-daero', postalCode: '04524', country: 'KR' };

interface State {
  plan: ShopperPlan;
  record: ShopperRecord;
  node: number;
  socket: Socket | null;
  finished: boolean;
  remaining: number | null;
  /** Woken by socket events (admission, stock, order updates). */
  wake: (() => void) | null;
  admissionToken: string | null;
  orderStatus: Map<string, string>;
}

function runShoppers(job: ShopperJob, send: (message: unknown) => void, stopSignal: StopSignal): Promise<ShopperResult> {
  const n = job.origins.length;
  // Browsers open their own connections; a few hundred per node and process keeps shoppers from
  // queueing inside the load generator (which would count as server latency).
  const pools = job.origins.map((o) => new Pool(o, { connections: 256, keepAliveTimeout: 30_000, headersTimeout: 20_000, bodyTimeout: 20_000, connectTimeout: 5_000 }));
  const gatewayPools = new Map<string, Pool>();
  const gatewayPool = (origin: string) => {
    let p = gatewayPools.get(origin);
    if (!p) gatewayPools.set(origin, (p = new Pool(origin, { connections: 32, keepAliveTimeout: 30_000, headersTimeout: 20_000, bodyTimeout: 20_000, connectTimeout: 5_000 })));
    return p;
  };
  const lags: number[] = [];
  // The load generator's own queueing (see ShopperResult.loadGenerator).
  const LOOP_RESOLUTION_MS = 10;
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  const queued = { peak: 0, sum: 0, samples: 0 };
  const firstArrival = job.shoppers.reduce((m, p) => Math.min(m, p.arriveAt), Number.POSITIVE_INFINITY);
  const queueSampler = setInterval(() => {
    if (Date.now() < firstArrival) return;
    if (queued.samples === 0) loopDelay.enable();
    let n = 0;
    for (const p of pools) n += p.stats.queued;
    for (const p of gatewayPools.values()) n += p.stats.queued;
    queued.peak = Math.max(queued.peak, n);
    queued.sum += n;
    queued.samples += 1;
  }, 500);
  const steps: Record<string, number[]> = {};
  const timeStep = (step: string, ms: number) => (steps[step] ??= []).push(Math.round(ms * 10) / 10);
  const errors: Record<string, number> = {};
  const seen: Seen = { tickets: [], holds: [], orders: [], payments: [], cancels: [] };
  const progress: ShopperProgress = { arrived: 0, waiting: 0, admitted: 0, held: 0, paid: 0, finished: 0, errors: 0, sockets: 0 };
  const countError = (key: string) => {
    errors[key] = (errors[key] ?? 0) + 1;
    progress.errors += 1;
  };
  const over = () => stopSignal.stopped || Date.now() > job.deadline;
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
  /** Sleeps up to `ms`, or less when a socket event wakes the shopper. */
  const nap = (s: State, ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        if (s.wake === done) s.wake = null;
        resolve();
      }
      s.wake = done;
    });

  const connect = (s: State) => {
    if (s.finished) return;
    const socket = io(job.origins[s.node], { transports: ['websocket'], auth: { token: s.plan.token }, reconnection: false, timeout: 10_000, forceNew: true });
    s.socket = socket;
    socket.on('connect', () => {
      progress.sockets += 1;
      socket.timeout(15_000).emit('deal:watch', { dealId: job.dealId }, (err: unknown, ack?: { ticket?: { status?: string; admission?: { token: string } | null } | null; deal?: { remainingStock?: number } }) => {
        if (err) return countError('socket deal:watch timeout');
        if (ack?.deal?.remainingStock !== undefined) s.remaining = ack.deal.remainingStock;
        if (ack?.ticket?.status === 'admitted' && ack.ticket.admission) admitted(s, ack.ticket.admission.token);
      });
    });
    socket.on('queue:progress', (e: { at: number }) => {
      if (s.record.admittedAt === null && s.record.joinMs !== null) lags.push(Date.now() - e.at);
    });
    socket.on('queue:admitted', (e: { dealId: string; token: string }) => {
      if (e.dealId === job.dealId) admitted(s, e.token);
    });
    socket.on('deal:stock', (e: { remainingStock: number }) => {
      s.remaining = e.remainingStock;
      if (e.remainingStock > 0) s.wake?.();
    });
    socket.on('order:updated', (e: { orderId: string; status: string; payment?: string }) => {
      s.orderStatus.set(e.orderId, e.payment === 'declined' ? 'declined' : e.status);
      s.wake?.();
    });
    socket.on('disconnect', (reason) => {
      progress.sockets -= 1;
      if (s.finished || socket !== s.socket || reason === 'io client disconnect') return;
      countError(`socket ${reason}`);
      setTimeout(() => connect(s), 200 + Math.random() * 800);
    });
    socket.on('connect_error', (error: Error & { data?: { code?: string } }) => {
      if (s.finished || socket !== s.socket) return;
      countError(`socket connect_error ${error.data?.code ?? error.message}`);
      socket.close();
      if (n > 1) s.node = (s.node + 1) % n;
      setTimeout(() => connect(s), 300 + Math.random() * 1000);
    });
  };

  const admitted = (s: State, token: string) => {
    if (s.admissionToken) return;
    s.admissionToken = token;
    s.record.admittedAt = Date.now();
    progress.waiting -= 1;
    progress.admitted += 1;
    s.wake?.();
  };

  /**
   * One HTTP call of `step`. Retries (same idempotency key) on 503, 502, 504 and network errors,
   * moving to the next node on a network error, until the deadline.
   */
  const call = async (s: State, step: string, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, headers: Record<string, string> = {}, gateway?: string): Promise<{ status: number; json: any }> => {
    const t0 = performance.now();
    try {
      return await attempt(s, step, method, path, body, headers, gateway);
    } finally {
      timeStep(step, performance.now() - t0);
    }
  };
  const attempt = async (s: State, step: string, method: 'GET' | 'POST' | 'DELETE', path: string, body: unknown, headers: Record<string, string>, gateway: string | undefined): Promise<{ status: number; json: any }> => {
    for (;;) {
      const pool = gateway ? gatewayPool(gateway) : pools[s.node];
      let status = 0;
      let json: any = null;
      let code: string;
      let retryAfterMs = 300;
      try {
        const res = await pool.request({
          method,
          path,
          headers: { ...(gateway ? {} : { authorization: `Bearer ${s.plan.token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        status = res.statusCode;
        const text = await res.body.text();
        try {
          json = text ? JSON.parse(text) : null;
        } catch {
          json = null;
        }
        if (status < 500 || (status !== 503 && status !== 502 && status !== 504)) return { status, json };
        code = json?.code ?? `HTTP ${status}`;
        const ra = Number(res.headers['retry-after']);
        if (Number.isFinite(ra) && ra > 0) retryAfterMs = Math.min(2000, ra * 1000);
      } catch (error) {
        code = (error as { code?: string }).code ?? 'NETWORK';
        if (n > 1 && !gateway) s.node = (s.node + 1) % n;
      }
      countError(`${step} ${code}`);
      if (over()) return { status, json: json ?? { code } };
      await sleep(retryAfterMs * (0.5 + Math.random()));
    }
  };

  const finish = (s: State, outcome: Outcome) => {
    if (s.finished) return;
    s.record.outcome = outcome;
    s.finished = true;
    if (s.record.joinMs !== null && s.admissionToken === null) progress.waiting -= 1;
    progress.finished += 1;
    s.socket?.close();
    s.socket = null;
  };

  /**
   * Joins the waiting room and waits for the admission (the socket's queue:admitted, or a poll
   * now and then). Null once admitted; else the outcome the shopper ends with.
   */
  const enter = async (s: State, dealPath: string): Promise<Outcome | null> => {
    const t0 = performance.now();
    const join = await call(s, 'join', 'POST', `${dealPath}/queue`);
    if (join.status !== 201 && join.status !== 200) {
      const code: string = join.json?.code ?? `HTTP ${join.status}`;
      countError(`join ${code}`);
      // Arriving after the last unit went: the shop says so at the door.
      return code === 'SOLD_OUT' || code === 'DEAL_NOT_OPEN' ? 'sold_out' : 'error';
    }
    s.record.joinMs ??= performance.now() - t0; // the first join's latency
    seen.tickets.push(s.plan.id);
    progress.waiting += 1;
    if (join.json?.status === 'admitted' && join.json.admission) admitted(s, join.json.admission.token);
    let lastPoll = Date.now();
    while (!s.admissionToken) {
      if (over()) return 'not_admitted';
      await nap(s, 1000);
      if (s.admissionToken || Date.now() - lastPoll < (s.socket?.connected ? job.pollMs : 5000)) continue;
      lastPoll = Date.now();
      const me = await call(s, 'queue/me', 'GET', `${dealPath}/queue/me`);
      if (me.status === 200 && me.json?.status === 'admitted' && me.json.admission) admitted(s, me.json.admission.token);
      else if (me.status === 200 && me.json?.status === 'expired') return 'not_admitted';
    }
    return null;
  };

  const shop = async (s: State): Promise<void> => {
    const plan = s.plan;
    const dealPath = `/api/deals/${job.dealId}`;
    s.record.arrivedAt = Date.now();
    progress.arrived += 1;
    connect(s);
    const refused = await enter(s, dealPath);
    if (refused !== null) return finish(s, refused);
    /** Whether the shopper has joined again after its admission ended (once at most). */
    let rejoined = false;
    // Hold, retrying on SOLD_OUT when units come back (a hold expired, an order was cancelled).
    let quantity: number = plan.quantity;
    let hold: { id: string; quantity: number } | null = null;
    let emptyWaits = 0;
    let soldOutAnswers = 0;
    for (let attempt = 0; !hold; attempt++) {
      // A shopper on a sold-out page tries again a few times when units come back, not forever.
      if (over() || emptyWaits >= 2 || soldOutAnswers > MAX_SOLD_OUT_RETRIES) {
        // Leaving frees a place in the waiting room; once the sale is over the page just closes.
        if (!over()) await call(s, 'leave', 'DELETE', `${dealPath}/queue`);
        return finish(s, 'sold_out');
      }
      const res = await call(s, 'hold', 'POST', '/api/cart/items', { dealId: job.dealId, quantity }, { 'x-admission-token': s.admissionToken!, 'idempotency-key': randomUUID() });
      if (res.status === 201) {
        hold = { id: res.json.hold.id, quantity };
        break;
      }
      const code: string = res.json?.code ?? `HTTP ${res.status}`;
      // NOT_ADMITTED by why (the detail's first clause: token expired, admission expired, ...).
      countError(code === 'NOT_ADMITTED' && typeof res.json?.detail === 'string' ? `hold ${code} (${res.json.detail.split(':')[0]})` : `hold ${code}`);
      if (code === 'LIMIT_EXCEEDED') return finish(s, 'limit');
      if (code === 'NOT_ADMITTED') {
        // The admission ended before the hold reached the deal (the shopper waited for units to
        // come back, or its hold retried through an outage); the answer says to join the queue
        // again, and a shopper still wanting the deal does, once.
        if (rejoined || over()) {
          await call(s, 'leave', 'DELETE', `${dealPath}/queue`);
          return finish(s, 'not_admitted');
        }
        rejoined = true;
        s.admissionToken = null;
        progress.admitted -= 1;
        const again = await enter(s, dealPath);
        if (again !== null) return finish(s, again);
        continue;
      }
      if (code !== 'SOLD_OUT' && code !== 'DEAL_NOT_OPEN' && code !== 'RATE_LIMITED') return finish(s, 'error');
      // Wait for units to come back (deal:stock), then try again after a jitter.
      if (code === 'SOLD_OUT') soldOutAnswers += 1;
      s.remaining = code === 'SOLD_OUT' ? Math.min(s.remaining ?? 0, quantity - 1) : s.remaining;
      for (;;) {
        const waitUntil = Date.now() + (job.holdTtlMs ?? 60_000); // the rehearsal's default lifetime
        while (!over() && Date.now() < waitUntil && !((s.remaining ?? 0) > 0)) await nap(s, 1000);
        if (over()) break;
        if (!((s.remaining ?? 0) > 0)) {
          // Nothing came back in a hold's lifetime: look once over HTTP, as a refresh would.
          const deal = await call(s, 'deal', 'GET', dealPath);
          s.remaining = deal.json?.remainingStock ?? 0;
          if (!((s.remaining ?? 0) > 0)) {
            emptyWaits += 1;
            if (emptyWaits >= 2) break;
            continue;
          }
        }
        // Units came back: try again after a human delay, if they are still there by then.
        await sleep(500 + Math.random() * 2500);
        if ((s.remaining ?? 0) > 0 || over()) break;
      }
      quantity = Math.max(1, Math.min(quantity, s.remaining ?? 1));
    }
    s.record.heldAt = Date.now();
    s.record.quantity = hold.quantity;
    seen.holds.push({ id: hold.id, userId: plan.id, quantity: hold.quantity, at: s.record.heldAt });
    progress.held += 1;
    // A shopper who waited for a unit to come back buys it (so that the sale converges).
    const fate: Fate = soldOutAnswers > 0 ? 'pay' : plan.fate;
    if (fate === 'abandon_hold') return finish(s, 'abandoned_hold');
    // Check out.
    await sleep(plan.think[0]);
    const order = await call(s, 'order', 'POST', '/api/orders', { holdIds: [hold.id], shippingAddress: SHIPPING }, { 'idempotency-key': randomUUID() });
    if (order.status !== 201) {
      countError(`order ${order.json?.code ?? `HTTP ${order.status}`}`);
      return finish(s, order.json?.code === 'HOLD_EXPIRED' ? 'hold_expired' : 'error');
    }
    const orderId: string = order.json.id;
    seen.orders.push({ id: orderId, userId: plan.id });
    // The shop's page moves on to the order (client/src/components/BuyPanel.vue): the deal page's
    // watch ends (use-live-deal.ts unwatches on unmount); the socket stays for order:updated.
    s.socket?.emit('deal:unwatch', { dealId: job.dealId }, () => undefined);
    if (fate === 'abandon_order') return finish(s, 'abandoned_order');
    const cancel = async (): Promise<void> => {
      const res = await call(s, 'cancel', 'POST', `/api/orders/${orderId}/cancel`);
      if (res.status === 200) {
        seen.cancels.push(orderId);
        return finish(s, 'cancelled');
      }
      countError(`cancel ${res.json?.code ?? `HTTP ${res.status}`}`);
      return finish(s, 'error');
    };
    await sleep(plan.think[1]);
    if (fate === 'cancel') return cancel();
    // Pay: a payment at the gateway, then its card page (approve or decline there).
    const declineFirst = fate === 'decline_then_pay' || fate === 'decline_then_cancel';
    for (let round = 0; round < 2; round++) {
      const decision: 'approve' | 'decline' = declineFirst && round === 0 ? 'decline' : 'approve';
      const pay = await call(s, 'payment', 'POST', `/api/orders/${orderId}/payment`, { method: 'card' }, { 'idempotency-key': randomUUID() });
      if (pay.status !== 201) {
        countError(`payment ${pay.json?.code ?? `HTTP ${pay.status}`}`);
        return finish(s, 'error');
      }
      const gateway = new URL(pay.json.checkoutUrl as string).origin;
      const payment = { id: pay.json.paymentId as string, orderId, gateway, decision: null as 'approve' | 'decline' | null };
      seen.payments.push(payment);
      await sleep(plan.think[2]);
      const card = await call(s, `gateway ${decision}`, 'POST', `/v1/payments/${payment.id}/${decision}`, {}, {}, gateway);
      if (card.status !== 200) {
        countError(`gateway ${decision} HTTP ${card.status}`);
        return finish(s, 'error');
      }
      payment.decision = decision;
      const decidedAt = performance.now();
      // Wait for the order to move (order:updated, or a poll now and then).
      const want = decision === 'approve' ? ['paid', 'expired', 'refunded', 'cancelled'] : ['declined'];
      let lastLook = Date.now();
      for (;;) {
        const status = s.orderStatus.get(orderId);
        if (status && want.includes(status)) break;
        if (Date.now() > job.deadline + 15_000 || (stopSignal.stoppedAt !== null && Date.now() > stopSignal.stoppedAt + 10_000)) return finish(s, 'unpaid');
        await nap(s, 1000);
        // The order page listens for order:updated; it asks over HTTP now and then, more often
        // while its socket is down.
        if (Date.now() - lastLook >= (s.socket?.connected ? 10_000 : 2000)) {
          lastLook = Date.now();
          const o = await call(s, 'order/get', 'GET', `/api/orders/${orderId}`);
          if (o.status === 200) {
            const st: string = o.json.status === 'pending_payment' && o.json.payment?.id === payment.id && o.json.payment.status === 'declined' ? 'declined' : o.json.status;
            s.orderStatus.set(orderId, st);
          }
        }
      }
      const final = s.orderStatus.get(orderId)!;
      timeStep(decision === 'approve' ? 'approve to paid seen' : 'decline to declined seen', performance.now() - decidedAt);
      if (decision === 'approve') {
        if (final === 'paid') {
          s.record.paidAt = Date.now();
          progress.paid += 1;
          return finish(s, 'paid');
        }
        return finish(s, 'refunded');
      }
      s.orderStatus.delete(orderId);
      if (fate === 'decline_then_cancel') return cancel();
    }
  };

  /** The baseline's shopper: one purchase, one POST (see ShopperJob.mode). */
  const shopBaseline = async (s: State): Promise<void> => {
    const plan = s.plan;
    s.record.arrivedAt = Date.now();
    progress.arrived += 1;
    const res = await call(s, 'hold', 'POST', '/api/cart/items', { dealId: job.dealId, quantity: plan.quantity });
    if (res.status === 201) {
      s.record.heldAt = Date.now();
      s.record.quantity = plan.quantity;
      seen.holds.push({ id: res.json.hold.id, userId: plan.id, quantity: plan.quantity, at: s.record.heldAt });
      progress.held += 1;
      return finish(s, 'held');
    }
    const code: string = res.json?.code ?? `HTTP ${res.status}`;
    countError(`hold ${code}`);
    return finish(s, code === 'SOLD_OUT' ? 'sold_out' : 'error');
  };

  const states: State[] = job.shoppers.map((plan) => ({
    plan,
    record: { id: plan.id, arrivedAt: null, joinMs: null, admittedAt: null, heldAt: null, quantity: 0, paidAt: null, outcome: 'not_arrived' },
    node: plan.node % n,
    socket: null,
    finished: false,
    remaining: null,
    wake: null,
    admissionToken: null,
    orderStatus: new Map(),
  }));
  const ticker = setInterval(() => send({ type: 'progress', progress }), 1000);
  // The baseline's stop (its deal sold out; it never gets units back): the shoppers still to arrive
  // are let go at once instead of at their arrival.
  const arrivals = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  if (job.mode === 'baseline') {
    stopSignal.onStop = () => {
      for (const a of arrivals) {
        clearTimeout(a.timer);
        a.resolve();
      }
      arrivals.clear();
    };
  }
  const runs = states.map(
    (s) =>
      new Promise<void>((resolve) => {
        const arrival = { timer: undefined as unknown as NodeJS.Timeout, resolve };
        arrivals.add(arrival);
        arrival.timer = setTimeout(() => {
          arrivals.delete(arrival);
          if (over()) return resolve();
          (job.mode === 'baseline' ? shopBaseline(s) : shop(s))
            .catch((error) => {
              countError(`shopper ${(error as Error).message.slice(0, 80)}`);
              finish(s, 'error');
            })
            .finally(resolve);
        }, Math.max(0, (job.mode === 'baseline' ? Math.max(s.plan.arriveAt, job.opensAt) : s.plan.arriveAt) - Date.now()));
      }),
  );
  // `abort` (the parent's hard stop): answer at once with what there is.
  const aborted = new Promise<void>((resolve) => (stopSignal.onAbort = resolve));
  return Promise.race([Promise.all(runs), aborted]).then(async () => {
    for (const s of states) if (!s.finished && s.record.arrivedAt !== null) s.record.outcome = 'error';
    clearInterval(ticker);
    send({ type: 'progress', progress });
    for (const s of states) s.socket?.close();
    clearInterval(queueSampler);
    loopDelay.disable();
    // The histogram holds the time between its timer's callbacks: the delay is what exceeds the interval.
    const ms = (ns: number) => Math.max(0, Math.round(ns / 1e5) / 10 - LOOP_RESOLUTION_MS);
    const loadGenerator = {
      queuedPeak: queued.peak,
      queuedMean: queued.samples === 0 ? 0 : Math.round(queued.sum / queued.samples),
      loopDelayMs: loopDelay.count === 0 ? { p50: 0, p99: 0, max: 0 } : { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) },
    };
    await Promise.all([...pools, ...gatewayPools.values()].map((p) => p.close().catch(() => undefined)));
    return { records: states.map((s) => s.record), lags, steps, errors, seen, loadGenerator };
  });
}

if (parentPort && workerData) {
  // A worker thread.
  const port = parentPort;
  const stopSignal: StopSignal = { stopped: false, stoppedAt: null };
  port.on('message', (m: { type: string }) => {
    if (m.type === 'stop' && !stopSignal.stopped) {
      stopSignal.stopped = true;
      stopSignal.stoppedAt = Date.now();
      stopSignal.onStop?.();
    }
  });
  runShoppers(workerData as ShopperJob, (m) => port.postMessage(m), stopSignal).then(
    (result) => port.postMessage({ type: 'done', result }),
    (error) => port.postMessage({ type: 'failed', error: String((error as Error).stack ?? error) }),
  );
} else if (process.send && process.env.REHEARSAL_SHOPPERS === '1') {
  // A child process (what bench/rehearsal.ts starts: each has its own file-descriptor limit).
  const send = (m: unknown) => process.send!(m as never);
  const stopSignal: StopSignal = { stopped: false, stoppedAt: null };
  process.on('message', (message) => {
    const m = message as unknown as { type: string; job?: ShopperJob };
    if (m.type === 'job') {
      runShoppers(m.job!, send, stopSignal).then(
        // Done: leave by ourselves (a --cpu-prof profile is written on a normal exit, not on the
        // parent's SIGKILL at its teardown).
        (result) => process.send!({ type: 'done', result } as never, undefined, {}, () => process.exit(0)),
        (error) => send({ type: 'failed', error: String((error as Error).stack ?? error) }),
      );
    } else if (m.type === 'stop' && !stopSignal.stopped) {
      stopSignal.stopped = true;
      stopSignal.stoppedAt = Date.now();
      stopSignal.onStop?.();
    } else if (m.type === 'abort') {
      stopSignal.stopped = true;
      stopSignal.stoppedAt ??= Date.now();
      stopSignal.onAbort?.();
    }
  });
  // The parent gone: nothing left to do.
  process.on('disconnect', () => process.exit(0));
}
