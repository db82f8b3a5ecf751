import type { EntityManager } from 'typeorm';
import type { OrderStatus, ShippingAddress } from '../../http/schemas';
import type { OrderEntity } from '../../persistence/entities/order.entity';
import { placeholders } from '../../persistence/sql';
import type { WriteSet } from '../../persistence/write-set';
import type { AttachedItem } from '../deal/messages';
import { checkLifecycle } from '../deal/lifecycle';
import { fail, ok, type Result } from '../result';
import type { ActorDefinition, ActorStore, Effect, Transition } from '../runtime/actor';

export const ORDER = 'order';

/** The order lifecycle (CONTRACT.md order states), checked at start-up. */
export const orderLifecycle: Record<OrderStatus, { to: OrderStatus[] }> = {
  pending_payment: { to: ['paid', 'cancelled', 'expired'] },
  paid: { to: ['refunded'] },
  cancelled: { to: [] },
  expired: { to: [] },
  refunded: { to: [] },
};

/** One payment attempt of an order, as the order actor tracks it. */
export interface OrderPayment {
  id: string;
  amount: number;
  currency: string;
  /**
   * Moves only forward: `pending` -> `approved` | `declined`; `approved` -> `refund_pending` (we asked
   * the gateway to give the money back) -> `refunded`. A `refunded` payment is final.
   */
  status: PaymentStatus;
  /** Why admins must look at it (`amount_mismatch`: the gateway charged another amount or currency), or null. */
  flag: string | null;
  /** Why it is (being) refunded, or null. */
  refundReason: RefundReason | null;
  createdAt: number;
  updatedAt: number;
}

export type PaymentStatus = 'pending' | 'approved' | 'declined' | 'refund_pending' | 'refunded';
/**
 * `requested`: the shopper refunded a paid order; `late_payment`: approved after the order was
 * expired or cancelled; `duplicate_payment`: a second approved payment of a paid order;
 * `units_unavailable`: a deal could not sell the order's units; `gateway`: refunded at the gateway.
 */
export type RefundReason = 'requested' | 'late_payment' | 'duplicate_payment' | 'units_unavailable' | 'gateway';

/** The order's own refund, as the shopper sees it. */
export interface OrderRefund {
  paymentId: string;
  status: 'pending' | 'refunded';
  reason: RefundReason;
  amount: number;
  refundedAt: number | null;
}

export interface OrderRecord {
  id: string;
  userId: string;
  status: OrderStatus;
  items: AttachedItem[];
  total: number;
  currency: string;
  shippingAddress: ShippingAddress;
  /** The payment the shopper is paying with now (or paid with), or null. */
  paymentId: string | null;
  createdAt: number;
  /** Payment deadline (epoch ms): a `pending_payment` order expires then. */
  expiresAt: number;
  paidAt: number | null;
  updatedAt: number;
  /** Every payment attempt, oldest first. */
  payments: OrderPayment[];
  refund: OrderRefund | null;
}

export interface OrderState {
  order: OrderRecord | null;
}

export interface PaymentStart {
  paymentId: string;
  orderId: string;
  amount: number;
  currency: string;
}

/** What the gateway said about a payment (a webhook event, or the answer of its status query). */
export type PaymentOutcome = 'approved' | 'declined' | 'refunded';

export type OrderMessage =
  | { type: 'create'; now: number; orderId: string; userId: string; items: AttachedItem[]; shippingAddress: ShippingAddress; expiresAt: number }
  | { type: 'get'; userId: string }
  | { type: 'startPayment'; now: number; userId: string; paymentId: string; provider: string }
  /** The gateway's word on a payment: applied once, and never moves the order backwards. */
  | { type: 'paymentEvent'; now: number; paymentId: string; outcome: PaymentOutcome; amount: number; currency: string }
  /** A deal could not turn the order's holds into sold units (they were gone): refund the order. */
  | { type: 'unitsLost'; now: number; dealId: string }
  | { type: 'cancel'; now: number; userId: string }
  | { type: 'refund'; now: number; userId: string }
  /**
   * The payment jobs have asked the gateway about the order's payment that was still pending at
   * its deadline, and applied what the gateway said: an order still unpaid past its deadline
   * expires now.
   */
  | { type: 'paymentChecked'; now: number; paymentId: string }
  | { type: 'alarm'; now: number; name: string };

/**
 * Signalled (see `ActorSystem.onSignal`) when an order reaches its deadline with a payment still
 * pending: payload `{ orderId, paymentId, checkBy }` (`checkBy`, epoch ms: the order expires then,
 * asked or not). The listener asks the gateway about the payment, applies its answer as a webhook
 * would, and then sends the order `paymentChecked`.
 */
export const ORDER_PAYMENT_CHECK_SIGNAL = 'order:paymentCheck';

/** The reminders of an unpaid order: its deadline, and the end of the wait for the gateway's word after it. */
const EXPIRE = 'expire';
const EXPIRE_UNCHECKED = 'expireUnchecked';

/** Settings of the order actor. */
export interface OrderRules {
  /**
   * At its deadline, an order whose payment is still pending waits this long (ms) at most for the
   * gateway to be asked about it before it expires; 0 expires it at once, as if nobody asked.
   */
  paymentCheckGraceMs: number;
}

/** Default {@link OrderRules}: a gateway that does not answer within 30 s lets the order expire. */
export const DEFAULT_ORDER_RULES: OrderRules = { paymentCheckGraceMs: 30_000 };

export type OrderChange =
  | { op: 'insert' }
  | { op: 'update' }
  | { op: 'insertPayment'; payment: PaymentStart & { provider: string } }
  | { op: 'updatePayment'; payment: OrderPayment };

/** What `paymentEvent` answers: what became of the event (for the event log and the logs). */
export interface PaymentEventResult {
  applied: 'paid' | 'declined' | 'refund_requested' | 'refunded' | 'flagged' | 'ignored';
  detail: string;
  order: OrderRecord;
}

type Out = Transition<OrderState, Result<unknown>>;

const dealsOf = (order: OrderRecord) => [...new Set(order.items.map((i) => i.dealId))];

/**
 * The order actor's logic (pure). Paying, cancelling, expiring and refunding each tell the deals
 * of the order through durable `send` effects (outbox), so a committed `paid` always reaches the
 * deal and turns its holds into sold units, even across a crash.
 *
 * Payments: each attempt's status only moves forward, so a duplicated or reordered gateway event
 * changes nothing twice and never backwards. An approved payment that cannot pay the order (it
 * expired or was cancelled first, or another payment paid it) is marked `refund_pending`: the
 * payment jobs ask the gateway for the refund, and the shopper is told (`order:updated`). An
 * approved amount or currency that differs from the payment's is flagged for admins, not paid.
 */
export function orderTransition(state: OrderState, message: OrderMessage, rules: OrderRules = DEFAULT_ORDER_RULES): Out {
  const order = state.order;
  const effects: Effect[] = [];
  const persist = (change: OrderChange) => effects.push({ type: 'persist', change });

  if (message.type === 'create') {
    if (order) return { state, reply: order.userId === message.userId ? ok(order) : fail('INVALID_STATE', 'order exists') };
    const total = message.items.reduce((sum, i) => sum + i.quantity * i.unitPrice, 0);
    const currencies = new Set(message.items.map((i) => i.currency));
    if (message.items.length === 0) return { state, reply: fail('VALIDATION_FAILED', 'an order needs at least one hold') };
    if (currencies.size > 1) return { state, reply: fail('VALIDATION_FAILED', 'all holds of an order must be in one currency') };
    const created: OrderRecord = {
      id: message.orderId,
      userId: message.userId,
      status: 'pending_payment',
      items: message.items,
      total,
      currency: message.items[0].currency,
      shippingAddress: message.shippingAddress,
      paymentId: null,
      createdAt: message.now,
      expiresAt: message.expiresAt,
      paidAt: null,
      updatedAt: message.now,
      payments: [],
      refund: null,
    };
    persist({ op: 'insert' });
    effects.push({ type: 'remind', name: EXPIRE, at: message.expiresAt });
    return { state: { order: created }, reply: ok(created), effects };
  }

  if (!order) return { state, reply: fail('NOT_FOUND', 'no such order') };
  const owned = (userId: string) => order.userId === userId;
  let current: OrderRecord = order;
  const tellShopper = (now: number, extra: Record<string, unknown> = {}) =>
    effects.push({ type: 'publish', room: `user:${order.userId}`, event: 'order:updated', payload: { orderId: order.id, status: current.status, at: now, ...extra } });
  const move = (to: OrderStatus, patch: Partial<OrderRecord>, now: number, extra: Record<string, unknown> = {}): void => {
    persist({ op: 'update' });
    if (to !== 'pending_payment') effects.push({ type: 'remind', name: EXPIRE, at: null }, { type: 'remind', name: EXPIRE_UNCHECKED, at: null });
    current = { ...current, ...patch, status: to, updatedAt: now };
    tellShopper(now, extra);
  };
  const patchOrder = (patch: Partial<OrderRecord>, now: number) => {
    persist({ op: 'update' });
    current = { ...current, ...patch, updatedAt: now };
  };
  const setPayment = (payment: OrderPayment) => {
    persist({ op: 'updatePayment', payment });
    current = { ...current, payments: current.payments.map((p) => (p.id === payment.id ? payment : p)) };
  };
  const tellDeals = (message: (dealId: string) => unknown) => {
    for (const dealId of dealsOf(order)) effects.push({ type: 'send', to: { kind: 'deal', id: dealId }, message: message(dealId) });
  };
  /** Marks an approved payment for refund at the gateway (the payment jobs carry it out). */
  const refundPayment = (payment: OrderPayment, reason: RefundReason, now: number, ownRefund: boolean) => {
    setPayment({ ...payment, status: 'refund_pending', refundReason: reason, updatedAt: now });
    if (ownRefund) patchOrder({ refund: { paymentId: payment.id, status: 'pending', reason, amount: payment.amount, refundedAt: null } }, now);
  };
  const done = (reply: Result<unknown>): Out => ({ state: current === order ? state : { order: current }, reply, effects });

  switch (message.type) {
    case 'get':
      return { state, reply: owned(message.userId) ? ok(order) : fail('NOT_FOUND', 'no such order') };

    case 'startPayment': {
      if (!owned(message.userId)) return { state, reply: fail('NOT_FOUND', 'no such order') };
      if (order.status !== 'pending_payment') return { state, reply: fail('INVALID_STATE', `the order is ${order.status}`) };
      if (message.now >= order.expiresAt) return { state, reply: fail('INVALID_STATE', 'the payment window has closed') };
      const payment: PaymentStart = { paymentId: order.paymentId ?? message.paymentId, orderId: order.id, amount: order.total, currency: order.currency };
      if (order.paymentId) return { state, reply: ok({ payment, created: false }) };
      const known = order.payments.find((p) => p.id === message.paymentId);
      if (known) return { state, reply: fail('INVALID_STATE', `payment ${known.id} is ${known.status}: start a new payment with a new Idempotency-Key`) };
      persist({ op: 'insertPayment', payment: { ...payment, provider: message.provider } });
      const record: OrderPayment = { id: payment.paymentId, amount: payment.amount, currency: payment.currency, status: 'pending', flag: null, refundReason: null, createdAt: message.now, updatedAt: message.now };
      patchOrder({ paymentId: payment.paymentId, payments: [...order.payments, record] }, message.now);
      return done(ok({ payment, created: true }));
    }

    case 'paymentEvent':
      return paymentEvent(message);

    case 'unitsLost': {
      if (order.status !== 'paid') return { state, reply: ok(order) };
      const payment = order.payments.find((p) => p.id === order.paymentId);
      move('refunded', {}, message.now, { reason: 'units_unavailable' });
      tellDeals(() => ({ type: 'refundOrder', now: message.now, orderId: order.id }));
      if (payment && payment.status === 'approved') refundPayment(payment, 'units_unavailable', message.now, true);
      return done(ok(current));
    }

    case 'cancel': {
      if (!owned(message.userId)) return { state, reply: fail('NOT_FOUND', 'no such order') };
      if (order.status === 'cancelled') return { state, reply: ok(order) };
      if (order.status !== 'pending_payment') return { state, reply: fail('INVALID_STATE', `a ${order.status} order cannot be cancelled`) };
      move('cancelled', {}, message.now);
      tellDeals(() => ({ type: 'releaseOrder', now: message.now, orderId: order.id, reason: 'cancelled' }));
      return done(ok(current));
    }

    case 'refund': {
      if (!owned(message.userId)) return { state, reply: fail('NOT_FOUND', 'no such order') };
      if (order.status === 'refunded') return { state, reply: ok(order) };
      if (order.status !== 'paid') return { state, reply: fail('INVALID_STATE', `a ${order.status} order cannot be refunded`) };
      move('refunded', {}, message.now);
      tellDeals(() => ({ type: 'refundOrder', now: message.now, orderId: order.id }));
      const payment = order.payments.find((p) => p.id === order.paymentId);
      if (payment && payment.status === 'approved') refundPayment(payment, 'requested', message.now, true);
      return done(ok(current));
    }

    case 'alarm': {
      if ((message.name !== EXPIRE && message.name !== EXPIRE_UNCHECKED) || order.status !== 'pending_payment') return { state, reply: ok(null) };
      if (message.now < order.expiresAt) {
        effects.push({ type: 'remind', name: EXPIRE, at: order.expiresAt });
        return { state, reply: ok(null), effects };
      }
      // A payment still pending at the deadline may have been approved at the gateway with its
      // webhook late or lost (an outage, a retry backing off): the gateway is asked first, so a
      // shopper who paid in time is not refunded. Without its word within the grace, it expires.
      const paying = order.paymentId !== null && order.payments.some((p) => p.id === order.paymentId && p.status === 'pending');
      if (message.name === EXPIRE && paying && rules.paymentCheckGraceMs > 0) {
        const checkBy = message.now + rules.paymentCheckGraceMs;
        effects.push({ type: 'remind', name: EXPIRE_UNCHECKED, at: checkBy });
        effects.push({ type: 'signal', name: ORDER_PAYMENT_CHECK_SIGNAL, payload: { orderId: order.id, paymentId: order.paymentId, checkBy } });
        return { state, reply: ok(null), effects };
      }
      return expire(message.now);
    }

    case 'paymentChecked':
      if (order.status !== 'pending_payment' || message.now < order.expiresAt) return { state, reply: ok(order) };
      return expire(message.now);
  }

  /** The order's payment window has closed unpaid: it expires and its units return. */
  function expire(now: number): Out {
    move('expired', {}, now);
    tellDeals(() => ({ type: 'releaseOrder', now, orderId: order!.id, reason: 'expired' }));
    return done(ok(null));
  }

  function paymentEvent(m: Extract<OrderMessage, { type: 'paymentEvent' }>): Out {
    const o = order!;
    const now = m.now;
    const result = (applied: PaymentEventResult['applied'], detail: string) => done(ok({ applied, detail, order: current } satisfies PaymentEventResult));
    const payment = o.payments.find((p) => p.id === m.paymentId);
    if (!payment) return { state, reply: fail('NOT_FOUND', `order ${o.id} has no payment ${m.paymentId}`) };

    if (m.outcome === 'declined') {
      if (payment.status !== 'pending') return result('ignored', `payment ${payment.id} is already ${payment.status}`);
      setPayment({ ...payment, status: 'declined', updatedAt: now });
      if (o.status === 'pending_payment' && o.paymentId === payment.id) {
        patchOrder({ paymentId: null }, now);
        tellShopper(now, { payment: 'declined' });
      }
      return result('declined', 'the shopper may pay again');
    }

    if (m.outcome === 'refunded') {
      if (payment.status === 'refunded') return result('ignored', `payment ${payment.id} is already refunded`);
      setPayment({ ...payment, status: 'refunded', refundReason: payment.refundReason ?? 'gateway', updatedAt: now });
      if (payment.status === 'refund_pending') {
        if (current.refund?.paymentId === payment.id) {
          patchOrder({ refund: { ...current.refund, status: 'refunded', refundedAt: now } }, now);
          tellShopper(now, { refund: 'refunded' });
        }
        return result('refunded', 'the refund we asked for is done');
      }
      if (payment.status === 'approved' && o.status === 'paid' && o.paymentId === payment.id) {
        // Refunded at the gateway (not by us): the order is refunded and its units return.
        move('refunded', { refund: { paymentId: payment.id, status: 'refunded', reason: 'gateway', amount: payment.amount, refundedAt: now } }, now, { refund: 'refunded' });
        tellDeals(() => ({ type: 'refundOrder', now, orderId: o.id }));
        return result('refunded', 'refunded at the gateway: the order is refunded');
      }
      if (o.status === 'pending_payment' && o.paymentId === payment.id) patchOrder({ paymentId: null }, now);
      return result('refunded', `payment ${payment.id} was ${payment.status}: recorded as refunded, the order is not paid with it`);
    }

    // approved
    if (payment.status !== 'pending' && payment.status !== 'declined') return result('ignored', `payment ${payment.id} is already ${payment.status}`);
    if (m.amount !== payment.amount || m.currency !== payment.currency) {
      setPayment({ ...payment, status: 'approved', flag: 'amount_mismatch', updatedAt: now });
      if (o.status === 'pending_payment' && o.paymentId === payment.id) patchOrder({ paymentId: null }, now);
      return result('flagged', `the gateway approved ${m.amount} ${m.currency} for a payment of ${payment.amount} ${payment.currency}: flagged for admins, not paid`);
    }
    const approved: OrderPayment = { ...payment, status: 'approved', updatedAt: now };
    if (o.status === 'pending_payment') {
      setPayment(approved);
      move('paid', { paidAt: now, paymentId: payment.id }, now);
      tellDeals(() => ({ type: 'sell', now, orderId: o.id }));
      return result('paid', 'the order is paid; its holds become sold units');
    }
    // The order cannot take this money any more: give it back, and say so.
    const reason: RefundReason = o.status === 'paid' || (o.status === 'refunded' && o.paymentId !== payment.id) ? 'duplicate_payment' : 'late_payment';
    const own = reason === 'late_payment' && current.refund === null;
    refundPayment(approved, reason, now, own);
    tellShopper(now, { refund: 'pending', reason });
    return result('refund_requested', `the order is ${o.status}: payment ${payment.id} is refunded (${reason})`);
  }
}

/** The order's refund as its row's columns. */
const refundColumns = (r: OrderRefund | null) => ({
  refundStatus: r?.status ?? null,
  refundReason: r?.reason ?? null,
  refundPaymentId: r?.paymentId ?? null,
  refundAmount: r?.amount ?? null,
  refundedAt: r?.refundedAt ?? null,
});

/** The order's refund from its row (null when it has none). */
export function refundFromRow(row: Pick<OrderEntity, 'refundStatus' | 'refundReason' | 'refundPaymentId' | 'refundAmount' | 'refundedAt'>): OrderRefund | null {
  if (!row.refundStatus || !row.refundPaymentId) return null;
  return { paymentId: row.refundPaymentId, status: row.refundStatus as OrderRefund['status'], reason: row.refundReason as RefundReason, amount: row.refundAmount ?? 0, refundedAt: row.refundedAt };
}

const ORDER_COLUMNS =
  'id, user_id, status, total, currency, shipping_address, payment_id, created_at, expires_at, paid_at, updated_at, refund_status, refund_reason, refund_payment_id, refund_amount, refunded_at';
const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/**
 * The order's rows, in plain parameterized SQL (the hot path of checkout: TypeORM's query
 * builders cost more CPU than these statements). A new order costs its share of one SELECT that
 * probes many new orders at once (it finds nothing) and, in its first commit, one INSERT for the order and one for its items; a later
 * turn one UPDATE of the order and one statement per payment change, except on MariaDB a turn
 * that changes the order and one existing payment (a webhook's), which is one two-table UPDATE.
 */
const orderStore: ActorStore<OrderState> = {
  exists: (state) => state.order !== null,
  probeFirst: true,
  probe: {
    async existing(manager: EntityManager, ids: string[]): Promise<Set<string>> {
      const rows: Array<{ id: string }> = await manager.query(`SELECT id FROM orders WHERE id IN (${ids.map(() => '?').join(', ')})`, ids);
      return new Set(rows.map((r) => String(r.id)));
    },
    absent: () => ({ order: null }),
  },

  async load(manager: EntityManager, id: string): Promise<OrderState> {
    const [row]: Array<Record<string, unknown>> = await manager.query(`SELECT ${ORDER_COLUMNS} FROM orders WHERE id = ?`, [id]);
    if (!row) return { order: null };
    const items: Array<Record<string, unknown>> = await manager.query('SELECT id, deal_id, hold_id, quantity, unit_price FROM order_items WHERE order_id = ? ORDER BY id', [id]);
    const payments: Array<Record<string, unknown>> = await manager.query(
      'SELECT id, amount, currency, status, flag, refund_reason, created_at, updated_at FROM payments WHERE order_id = ? ORDER BY created_at, id',
      [id],
    );
    const currency = String(row.currency);
    const refund = refundFromRow({
      refundStatus: strOrNull(row.refund_status),
      refundReason: strOrNull(row.refund_reason),
      refundPaymentId: strOrNull(row.refund_payment_id),
      refundAmount: numOrNull(row.refund_amount),
      refundedAt: numOrNull(row.refunded_at),
    });
    return {
      order: {
        id: String(row.id),
        userId: String(row.user_id),
        status: row.status as OrderStatus,
        items: items.map((i) => ({ holdId: String(i.hold_id), dealId: String(i.deal_id), quantity: num(i.quantity), unitPrice: num(i.unit_price), currency })),
        total: num(row.total),
        currency,
        shippingAddress: JSON.parse(String(row.shipping_address)) as ShippingAddress,
        paymentId: strOrNull(row.payment_id),
        createdAt: num(row.created_at),
        expiresAt: num(row.expires_at),
        paidAt: numOrNull(row.paid_at),
        updatedAt: num(row.updated_at),
        payments: payments.map((p) => ({
          id: String(p.id),
          amount: num(p.amount),
          currency: String(p.currency),
          status: p.status as PaymentStatus,
          flag: strOrNull(p.flag),
          refundReason: strOrNull(p.refund_reason) as RefundReason | null,
          createdAt: num(p.created_at),
          updatedAt: num(p.updated_at),
        })),
        refund,
      },
    };
  },

  save(writes: WriteSet, id: string, changes: unknown[], _before: OrderState, after: OrderState, now: number): void {
    const order = after.order!;
    const r = refundColumns(order.refund);
    const refundValues = [r.refundStatus, r.refundReason, r.refundPaymentId, r.refundAmount, r.refundedAt];
    const ops = changes as OrderChange[];
    if (ops.some((c) => c.op === 'insert')) {
      writes.add(`INSERT INTO orders (${ORDER_COLUMNS}) VALUES ${placeholders(1, 16)}`, [
        id, order.userId, order.status, order.total, order.currency, JSON.stringify(order.shippingAddress), order.paymentId, order.createdAt, order.expiresAt, order.paidAt, order.updatedAt, ...refundValues,
      ]);
      writes.add(
        `INSERT INTO order_items (id, order_id, deal_id, hold_id, quantity, unit_price) VALUES ${placeholders(order.items.length, 6)}`,
        order.items.flatMap((item, index) => [`${id}-${String(index).padStart(3, '0')}`, id, item.dealId, item.holdId, item.quantity, item.unitPrice]),
      );
    } else if (ops.some((c) => c.op === 'update')) {
      const paymentChanges = ops.filter((c) => c.op === 'updatePayment' || c.op === 'insertPayment');
      if (writes.dialect === 'mariadb' && paymentChanges.length === 1 && paymentChanges[0].op === 'updatePayment') {
        // The usual turn of a webhook (paid, declined): the order and its payment in one statement.
        const p = paymentChanges[0].payment;
        writes.add(
          'UPDATE orders o JOIN payments p ON p.id = ? AND p.order_id = o.id SET o.status = ?, o.payment_id = ?, o.paid_at = ?, o.updated_at = ?, o.refund_status = ?, o.refund_reason = ?, o.refund_payment_id = ?, o.refund_amount = ?, o.refunded_at = ?, p.status = ?, p.flag = ?, p.refund_reason = ?, p.refunded_at = ?, p.updated_at = ? WHERE o.id = ?',
          [p.id, order.status, order.paymentId, order.paidAt, now, ...refundValues, p.status, p.flag, p.refundReason, p.status === 'refunded' ? p.updatedAt : null, now, id],
          (affected) => (affected === 0 ? new Error(`order ${id} or its payment ${p.id} has no row`) : null),
        );
        return;
      }
      writes.add(
        'UPDATE orders SET status = ?, payment_id = ?, paid_at = ?, updated_at = ?, refund_status = ?, refund_reason = ?, refund_payment_id = ?, refund_amount = ?, refunded_at = ? WHERE id = ?',
        [order.status, order.paymentId, order.paidAt, now, ...refundValues, id],
      );
    }
    for (const change of ops) {
      if (change.op === 'insertPayment') {
        const p = change.payment;
        writes.add(`INSERT INTO payments (id, order_id, provider, amount, currency, status, created_at, updated_at) VALUES ${placeholders(1, 8)}`, [
          p.paymentId, id, p.provider, p.amount, p.currency, 'pending', now, now,
        ]);
      } else if (change.op === 'updatePayment') {
        const p = change.payment;
        writes.add('UPDATE payments SET status = ?, flag = ?, refund_reason = ?, refunded_at = ?, updated_at = ? WHERE id = ?', [
          p.status, p.flag, p.refundReason, p.status === 'refunded' ? p.updatedAt : null, now, p.id,
        ]);
      }
    }
  },
};

/**
 * The order actor kind: one per order.
 * @throws Error at start-up if the order lifecycle table is unsound.
 */
export function orderActor(rules: OrderRules = DEFAULT_ORDER_RULES): ActorDefinition<OrderState, OrderMessage> {
  const problems = checkLifecycle(orderLifecycle, ['cancelled', 'expired', 'refunded']);
  if (problems.length > 0) throw new Error(`order lifecycle table is unsound: ${problems.join('; ')}`);
  return { kind: ORDER, durable: true, groupCommit: true, store: orderStore, transition: (state, message) => orderTransition(state, message, rules), alarm: (name, now) => ({ type: 'alarm', name, now }) };
}
