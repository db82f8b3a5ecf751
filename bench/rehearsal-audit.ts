import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { Pool } from 'undici';
import type { ShopperResult } from './rehearsal-shopper';

/** One audit rule and what it found. */
export interface AuditCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface AuditResult {
  ok: boolean;
  checks: AuditCheck[];
  /** The deal and orders as the database has them after the settling. */
  counts: {
    totalUnits: number;
    remaining: number;
    heldUnits: number;
    soldUnits: number;
    returnedUnits: number;
    paidUnits: number;
    paidOrders: number;
    ordersByStatus: Record<string, number>;
    paymentsByStatus: Record<string, number>;
    gatewayByStatus: Record<string, number>;
  };
  /** How long the audit waited for in-flight payments to settle (ms). */
  settledInMs: number;
}

const LIVE_HOLD = ['active', 'ordered'];
const FINAL_ORDER = ['paid', 'cancelled', 'expired', 'refunded'];
/** A `pending_payment` order this long past its deadline should have been expired by the server. */
const EXPIRY_GRACE_MS = 10_000;

const rows = async <T>(db: Connection, sql: string, params: unknown[] = []): Promise<T[]> => (await db.query<RowDataPacket[]>(sql, params))[0] as T[];

/** The gateway's status of each payment (GET /v1/payments/:id); `missing` when it does not know it. */
async function gatewayStatuses(origin: string, ids: string[]): Promise<Map<string, string>> {
  const pool = new Pool(origin, { connections: 16, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const out = new Map<string, string>();
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++];
      for (let attempt = 0; ; attempt++) {
        try {
          const res = await pool.request({ method: 'GET', path: `/v1/payments/${encodeURIComponent(id)}` });
          const body = (await res.body.json().catch(() => null)) as { status?: string } | null;
          out.set(id, res.statusCode === 200 ? (body?.status ?? 'unknown') : res.statusCode === 404 ? 'missing' : `HTTP ${res.statusCode}`);
          break;
        } catch (error) {
          if (attempt >= 3) {
            out.set(id, `error ${(error as { code?: string }).code ?? ''}`);
            break;
          }
          await new Promise((r) => setTimeout(r, 300));
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: 16 }, worker));
  } finally {
    await pool.close();
  }
  return out;
}

const tally = (values: string[]) => values.reduce<Record<string, number>>((m, v) => ((m[v] = (m[v] ?? 0) + 1), m), {});
const sample = (items: string[]) => (items.length === 0 ? '' : `: ${items.slice(0, 5).join('; ')}${items.length > 5 ? ` (+${items.length - 5} more)` : ''}`);

/**
 * Waits (up to `settleMs`) for payments decided at the gateway to be settled by the server, then
 * audits the sale against MariaDB and the gateway:
 * - stock: paid units + held units + remaining (+ units returned to the seller after the close)
 *   == total, and the deal row agrees with its holds and paid order lines;
 * - money: every paid order has an approved payment at the gateway for its amount, and every
 *   payment approved at the gateway belongs to a paid order or is being/has been refunded;
 * - no shopper holds or bought more than the per-user limit;
 * - every order is final (paid, cancelled, expired, refunded) or pending before its deadline;
 * - every 2xx a shopper saw (ticket, hold, order, payment, cancel) has its row.
 */
export async function runAudit(input: { databaseUrl: string; gatewayOrigin: string; dealId: string; totalUnits: number; perUserLimit: number; results: ShopperResult[]; settleMs: number }): Promise<AuditResult> {
  const seen = {
    tickets: input.results.flatMap((r) => r.seen.tickets),
    holds: input.results.flatMap((r) => r.seen.holds),
    orders: input.results.flatMap((r) => r.seen.orders),
    payments: input.results.flatMap((r) => r.seen.payments),
    cancels: input.results.flatMap((r) => r.seen.cancels),
  };
  const start = Date.now();
  let db: Connection | null = null;
  // MariaDB may have just come back from a restart fault: connect with retries.
  for (;;) {
    try {
      db = await createConnection({ uri: input.databaseUrl, supportBigNumbers: true, bigNumberStrings: false, connectTimeout: 3000 });
      break;
    } catch (error) {
      if (Date.now() - start > input.settleMs) throw error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    // Settle: no payment still pending in the database once the gateway has decided it, no
    // webhook event unprocessed, no refund pending.
    const seenIds = [...new Set(seen.payments.map((p) => p.id))];
    for (;;) {
      const pending = await rows<{ id: string }>(db, "SELECT id FROM payments WHERE status IN ('pending', 'refund_pending')");
      const decided = pending.length === 0 ? new Map<string, string>() : await gatewayStatuses(input.gatewayOrigin, pending.map((p) => p.id));
      const unsettled = pending.filter((p) => decided.get(p.id) !== 'pending');
      const [{ n: unprocessed }] = await rows<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM payment_events WHERE processed_at IS NULL');
      if ((unsettled.length === 0 && Number(unprocessed) === 0) || Date.now() - start > input.settleMs) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const settledInMs = Date.now() - start;
    const now = Date.now();

    const [deal] = await rows<Record<string, number>>(db, 'SELECT total_stock, remaining_stock, held_units, sold_units, returned_units, per_user_limit FROM deals WHERE id = ?', [input.dealId]);
    const holds = await rows<{ id: string; user_id: string; quantity: number; status: string; order_id: string | null }>(db, 'SELECT id, user_id, quantity, status, order_id FROM holds WHERE deal_id = ?', [input.dealId]);
    const orders = await rows<{ id: string; user_id: string; status: string; total: number; payment_id: string | null; expires_at: number; refund_status: string | null }>(db, 'SELECT id, user_id, status, total, payment_id, expires_at, refund_status FROM orders');
    const items = await rows<{ order_id: string; quantity: number }>(db, 'SELECT order_id, quantity FROM order_items WHERE deal_id = ?', [input.dealId]);
    const payments = await rows<{ id: string; order_id: string; status: string; amount: number }>(db, 'SELECT id, order_id, status, amount FROM payments');
    const tickets = await rows<{ user_id: string }>(db, 'SELECT user_id FROM tickets WHERE deal_id = ?', [input.dealId]);
    const gateway = await gatewayStatuses(input.gatewayOrigin, [...new Set([...payments.map((p) => p.id), ...seenIds])]);

    const checks: AuditCheck[] = [];
    const orderById = new Map(orders.map((o) => [o.id, o]));
    const paymentById = new Map(payments.map((p) => [p.id, p]));
    const num = (v: unknown) => Number(v);

    // 1. Stock.
    const paidUnits = items.filter((i) => orderById.get(i.order_id)?.status === 'paid').reduce((n, i) => n + num(i.quantity), 0);
    const liveHoldUnits = holds.filter((h) => LIVE_HOLD.includes(h.status)).reduce((n, h) => n + num(h.quantity), 0);
    const soldHoldUnits = holds.filter((h) => h.status === 'sold').reduce((n, h) => n + num(h.quantity), 0);
    const total = num(deal.total_stock);
    const remaining = num(deal.remaining_stock);
    const returned = num(deal.returned_units);
    {
      const problems: string[] = [];
      if (paidUnits + liveHoldUnits + remaining + returned !== total) problems.push(`paid ${paidUnits} + held ${liveHoldUnits} + remaining ${remaining} + returned ${returned} = ${paidUnits + liveHoldUnits + remaining + returned}, total ${total}`);
      if (total !== input.totalUnits) problems.push(`deal total ${total}, rehearsal ${input.totalUnits}`);
      if (num(deal.sold_units) !== paidUnits) problems.push(`deal sold_units ${deal.sold_units} but paid order lines ${paidUnits}`);
      if (soldHoldUnits !== paidUnits) problems.push(`sold holds ${soldHoldUnits} units but paid order lines ${paidUnits}`);
      if (num(deal.held_units) !== liveHoldUnits) problems.push(`deal held_units ${deal.held_units} but live holds ${liveHoldUnits}`);
      if (remaining < 0) problems.push(`remaining ${remaining} < 0`);
      checks.push({ name: 'paid + held + remaining == total', ok: problems.length === 0, detail: problems.length ? problems.join('; ') : `paid ${paidUnits} + held ${liveHoldUnits} + remaining ${remaining}${returned ? ` + returned ${returned}` : ''} = ${total}` });
    }

    // 2. Money: paid orders and the gateway's approvals, both ways.
    {
      const problems: string[] = [];
      let neverAtGateway = 0;
      const paidOrders = orders.filter((o) => o.status === 'paid');
      for (const o of paidOrders) {
        const p = o.payment_id ? paymentById.get(o.payment_id) : undefined;
        if (!p) problems.push(`paid order ${o.id} has no payment row`);
        else if (gateway.get(p.id) !== 'approved') problems.push(`paid order ${o.id}: its payment ${p.id} is ${gateway.get(p.id)} at the gateway`);
        else if (num(p.amount) !== num(o.total)) problems.push(`paid order ${o.id}: total ${o.total}, payment ${p.amount}`);
      }
      for (const [id, status] of gateway) {
        const p = paymentById.get(id);
        if (status === 'missing') {
          // A payment that never reached the gateway took no money; the server settles it as
          // declined (payment-service.ts, reconciliation). Anything else unknown there is wrong.
          if (p && p.status === 'declined' && !(orderById.get(p.order_id)?.status === 'paid' && orderById.get(p.order_id)?.payment_id === id)) neverAtGateway += 1;
          else if (p) problems.push(`payment ${id} (${p.status}) is unknown at the gateway`);
          else problems.push(`payment ${id}: a shopper got 201 for it, but neither the database nor the gateway has it`);
          continue;
        }
        if (!p) {
          problems.push(`payment ${id} is ${status} at the gateway but has no row`);
          continue;
        }
        const o = orderById.get(p.order_id);
        if (status === 'approved') {
          const paidHere = o?.status === 'paid' && o.payment_id === id;
          const refunding = p.status === 'refund_pending' || p.status === 'refunded';
          if (!paidHere && !refunding) problems.push(`payment ${id} approved at the gateway; order ${p.order_id} is ${o?.status ?? 'missing'}, payment row ${p.status}`);
        } else if (status === 'refunded') {
          if (o?.status === 'paid' && o.payment_id === id) problems.push(`payment ${id} refunded at the gateway but order ${o.id} is paid`);
        } else if (status === 'declined') {
          if (o?.payment_id === id && o.status === 'paid') problems.push(`payment ${id} declined at the gateway but order ${o.id} is paid with it`);
        }
      }
      checks.push({ name: 'paid orders and gateway approvals match', ok: problems.length === 0, detail: problems.length ? `${problems.length} problem(s)${sample(problems)}` : `${paidOrders.length} paid orders, each with its approved payment; ${[...gateway.values()].filter((s) => s === 'approved').length} approved at the gateway, none without its paid order or refund${neverAtGateway ? `; ${neverAtGateway} never reached the gateway (settled as declined, no money taken)` : ''}` });
    }

    // 3. Per-user limit.
    {
      const perUser = new Map<string, number>();
      for (const h of holds) if (h.status === 'active' || h.status === 'ordered' || h.status === 'sold') perUser.set(h.user_id, (perUser.get(h.user_id) ?? 0) + num(h.quantity));
      const over = [...perUser].filter(([, n]) => n > input.perUserLimit);
      checks.push({ name: `no shopper over the per-user limit (${input.perUserLimit})`, ok: over.length === 0, detail: over.length ? `${over.length} over${sample(over.map(([u, n]) => `${u}: ${n}`))}` : `${perUser.size} shoppers with units, the most ${Math.max(0, ...perUser.values())}` });
    }

    // 4. Orders final or legitimately pending.
    {
      const stuck = orders.filter((o) => !FINAL_ORDER.includes(o.status) && !(o.status === 'pending_payment' && num(o.expires_at) > now - EXPIRY_GRACE_MS));
      const pendingRefunds = orders.filter((o) => o.refund_status === 'pending').length;
      checks.push({ name: 'every order final or pending before its deadline', ok: stuck.length === 0, detail: stuck.length ? `${stuck.length} stuck${sample(stuck.map((o) => `${o.id} ${o.status}, deadline ${new Date(num(o.expires_at)).toISOString()}`))}` : `${orders.length} orders: ${Object.entries(tally(orders.map((o) => o.status))).map(([k, v]) => `${k} ${v}`).join(', ')}${pendingRefunds ? `; ${pendingRefunds} refund(s) pending` : ''}` });
    }

    // 5. Every 2xx has its row.
    {
      const problems: string[] = [];
      const ticketUsers = new Set(tickets.map((t) => t.user_id));
      const holdById = new Map(holds.map((h) => [h.id, h]));
      for (const u of seen.tickets) if (!ticketUsers.has(u)) problems.push(`ticket of ${u}`);
      for (const h of seen.holds) {
        const row = holdById.get(h.id);
        if (!row) problems.push(`hold ${h.id}`);
        else if (row.user_id !== h.userId || num(row.quantity) !== h.quantity) problems.push(`hold ${h.id} differs (${row.user_id} x${row.quantity})`);
      }
      for (const o of seen.orders) {
        const row = orderById.get(o.id);
        if (!row) problems.push(`order ${o.id}`);
        else if (row.user_id !== o.userId) problems.push(`order ${o.id} belongs to ${row.user_id}`);
      }
      for (const p of seen.payments) if (!paymentById.has(p.id)) problems.push(`payment ${p.id}`);
      for (const id of seen.cancels) if (orderById.get(id)?.status !== 'cancelled') problems.push(`cancelled order ${id} is ${orderById.get(id)?.status ?? 'missing'}`);
      const n = seen.tickets.length + seen.holds.length + seen.orders.length + seen.payments.length + seen.cancels.length;
      checks.push({ name: 'every 2xx a shopper saw has its row', ok: problems.length === 0, detail: problems.length ? `${problems.length} missing or wrong${sample(problems)}` : `${n} answers checked (${seen.tickets.length} tickets, ${seen.holds.length} holds, ${seen.orders.length} orders, ${seen.payments.length} payments, ${seen.cancels.length} cancels)` });
    }

    return {
      ok: checks.every((c) => c.ok),
      checks,
      counts: {
        totalUnits: total,
        remaining,
        heldUnits: liveHoldUnits,
        soldUnits: num(deal.sold_units),
        returnedUnits: returned,
        paidUnits,
        paidOrders: orders.filter((o) => o.status === 'paid').length,
        ordersByStatus: tally(orders.map((o) => o.status)),
        paymentsByStatus: tally(payments.map((p) => p.status)),
        gatewayByStatus: tally([...gateway.values()]),
      },
      settledInMs,
    };
  } finally {
    await db.end().catch(() => undefined);
  }
}

/** The baseline row's audit (see runBaselineAudit). */
export interface BaselineAuditResult {
  ok: boolean;
  checks: AuditCheck[];
  counts: { totalUnits: number; remaining: number; heldUnits: number; holdRows: number };
}

/**
 * Audits the rehearsal's baseline run (bench/baseline-server.ts, tables `bench_deals` and
 * `bench_holds` of the database at `databaseUrl`) against MariaDB:
 * - remaining + the sum of bench_holds quantities == total, and remaining is not negative;
 * - every 201 a shopper saw (`results[].seen.holds`) has its bench_holds row (same user and quantity).
 * @throws Error when the database cannot be read or the deal row is missing.
 */
export async function runBaselineAudit(input: { databaseUrl: string; dealId: string; totalUnits: number; results: ShopperResult[] }): Promise<BaselineAuditResult> {
  const db = await createConnection({ uri: input.databaseUrl, supportBigNumbers: true, bigNumberStrings: false, connectTimeout: 5000 });
  try {
    const [deal] = await rows<{ remaining: number }>(db, 'SELECT remaining FROM bench_deals WHERE id = ?', [input.dealId]);
    if (!deal) throw new Error(`baseline deal ${input.dealId} is missing`);
    const holds = await rows<{ id: string; user_id: string; quantity: number }>(db, 'SELECT id, user_id, quantity FROM bench_holds WHERE deal_id = ?', [input.dealId]);
    const remaining = Number(deal.remaining);
    const heldUnits = holds.reduce((n, h) => n + Number(h.quantity), 0);
    const checks: AuditCheck[] = [];
    {
      const problems: string[] = [];
      if (remaining + heldUnits !== input.totalUnits) problems.push(`held ${heldUnits} + remaining ${remaining} = ${heldUnits + remaining}, total ${input.totalUnits}`);
      if (remaining < 0) problems.push(`remaining ${remaining} < 0`);
      checks.push({ name: 'held + remaining == total, remaining >= 0', ok: problems.length === 0, detail: problems.length ? problems.join('; ') : `held ${heldUnits} (${holds.length} rows) + remaining ${remaining} = ${input.totalUnits}` });
    }
    {
      const seen = input.results.flatMap((r) => r.seen.holds);
      const byId = new Map(holds.map((h) => [h.id, h]));
      const problems: string[] = [];
      for (const h of seen) {
        const row = byId.get(h.id);
        if (!row) problems.push(`hold ${h.id}`);
        else if (row.user_id !== h.userId || Number(row.quantity) !== h.quantity) problems.push(`hold ${h.id} differs (${row.user_id} x${row.quantity})`);
      }
      checks.push({ name: 'every 201 a shopper saw has its bench_holds row', ok: problems.length === 0, detail: problems.length ? `${problems.length} missing or wrong${sample(problems)}` : `${seen.length} holds checked; ${holds.length - seen.length} rows without a 201 seen (an answer lost on the way)` });
    }
    return { ok: checks.every((c) => c.ok), checks, counts: { totalUnits: input.totalUnits, remaining, heldUnits, holdRows: holds.length } };
  } finally {
    await db.end().catch(() => undefined);
  }
}
