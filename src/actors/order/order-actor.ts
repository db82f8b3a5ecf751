import type { EntityManager } from 'typeorm';
import type { OrderStatus, ShippingAddress } from '../../http/schemas';
import { OrderEntity, OrderItemEntity, PaymentEntity } from '../../persistence/entities/order.entity';
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

export interface OrderRecord {
  id: string;
  userId: string;
  status: OrderStatus;
  items: AttachedItem[];
  total: number;
  currency: string;
  shippingAddress: ShippingAddress;
  paymentId: string | null;
  createdAt: number;
  /** Payment deadline (epoch ms): a `pending_payment` order expires then. */
  expiresAt: number;
  paidAt: number | null;
  updatedAt: number;
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

export type OrderMessage =
  | { type: 'create'; now: number; orderId: string; userId: string; items: AttachedItem[]; shippingAddress: ShippingAddress; expiresAt: number }
  | { type: 'get'; userId: string }
  | { type: 'startPayment'; now: number; userId: string; paymentId: string; provider: string }
  | { type: 'paymentSucceeded'; now: number; paymentId: string }
  | { type: 'paymentFailed'; now: number; paymentId: string }
  | { type: 'cancel'; now: number; userId: string }
  | { type: 'refund'; now: number; userId: string }
  | { type: 'alarm'; now: number; name: string };

export type OrderChange =
  | { op: 'insert' }
  | { op: 'update' }
  | { op: 'insertPayment'; payment: PaymentStart & { provider: string } }
  | { op: 'updatePayment'; paymentId: string; status: 'approved' | 'declined' };

type Out = Transition<OrderState, Result<unknown>>;

const dealsOf = (order: OrderRecord) => [...new Set(order.items.map((i) => i.dealId))];

/**
 * The order actor's logic (pure). Paying, cancelling, expiring and refunding each tell the deals
 * of the order through durable `send` effects (outbox), so a committed `paid` always reaches the
 * deal and turns its holds into sold units, even across a crash.
 */
export function orderTransition(state: OrderState, message: OrderMessage): Out {
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
    };
    persist({ op: 'insert' });
    effects.push({ type: 'remind', name: 'expire', at: message.expiresAt });
    return { state: { order: created }, reply: ok(created), effects };
  }

  if (!order) return { state, reply: fail('NOT_FOUND', 'no such order') };
  const owned = (userId: string) => order.userId === userId;
  const move = (to: OrderStatus, patch: Partial<OrderRecord>, now: number): OrderState => {
    persist({ op: 'update' });
    effects.push({ type: 'publish', room: `user:${order.userId}`, event: 'order:updated', payload: { orderId: order.id, status: to, at: now } });
    if (to !== 'pending_payment') effects.push({ type: 'remind', name: 'expire', at: null });
    return { order: { ...order, ...patch, status: to, updatedAt: now } };
  };
  const tellDeals = (message: (dealId: string) => unknown) => {
    for (const dealId of dealsOf(order)) effects.push({ type: 'send', to: { kind: 'deal', id: dealId }, message: message(dealId) });
  };

  switch (message.type) {
    case 'get':
      return { state, reply: owned(message.userId) ? ok(order) : fail('NOT_FOUND', 'no such order') };

    case 'startPayment': {
      if (!owned(message.userId)) return { state, reply: fail('NOT_FOUND', 'no such order') };
      if (order.status !== 'pending_payment') return { state, reply: fail('INVALID_STATE', `the order is ${order.status}`) };
      if (message.now >= order.expiresAt) return { state, reply: fail('INVALID_STATE', 'the payment window has closed') };
      const payment: PaymentStart = { paymentId: order.paymentId ?? message.paymentId, orderId: order.id, amount: order.total, currency: order.currency };
      if (order.paymentId) return { state, reply: ok({ payment, created: false }) };
      persist({ op: 'update' });
      persist({ op: 'insertPayment', payment: { ...payment, provider: message.provider } });
      return { state: { order: { ...order, paymentId: payment.paymentId, updatedAt: message.now } }, reply: ok({ payment, created: true }), effects };
    }

    case 'paymentSucceeded': {
      if (order.status === 'paid' || order.status === 'refunded') return { state, reply: ok(order) };
      if (order.status !== 'pending_payment' || order.paymentId !== message.paymentId) {
        return { state, reply: fail('INVALID_STATE', `payment ${message.paymentId} arrived for a ${order.status} order`) };
      }
      persist({ op: 'updatePayment', paymentId: message.paymentId, status: 'approved' });
      const next = move('paid', { paidAt: message.now }, message.now);
      tellDeals(() => ({ type: 'sell', now: message.now, orderId: order.id }));
      return { state: next, reply: ok(next.order), effects };
    }

    case 'paymentFailed': {
      if (order.status !== 'pending_payment' || order.paymentId !== message.paymentId) return { state, reply: ok(order) };
      persist({ op: 'updatePayment', paymentId: message.paymentId, status: 'declined' });
      persist({ op: 'update' });
      return { state: { order: { ...order, paymentId: null, updatedAt: message.now } }, reply: ok(order), effects };
    }

    case 'cancel': {
      if (!owned(message.userId)) return { state, reply: fail('NOT_FOUND', 'no such order') };
      if (order.status === 'cancelled') return { state, reply: ok(order) };
      if (order.status !== 'pending_payment') return { state, reply: fail('INVALID_STATE', `a ${order.status} order cannot be cancelled`) };
      const next = move('cancelled', {}, message.now);
      tellDeals(() => ({ type: 'releaseOrder', now: message.now, orderId: order.id, reason: 'cancelled' }));
      return { state: next, reply: ok(next.order), effects };
    }

    case 'refund': {
      if (!owned(message.userId)) return { state, reply: fail('NOT_FOUND', 'no such order') };
      if (order.status === 'refunded') return { state, reply: ok(order) };
      if (order.status !== 'paid') return { state, reply: fail('INVALID_STATE', `a ${order.status} order cannot be refunded`) };
      const next = move('refunded', {}, message.now);
      tellDeals(() => ({ type: 'refundOrder', now: message.now, orderId: order.id }));
      return { state: next, reply: ok(next.order), effects };
    }

    case 'alarm': {
      if (message.name !== 'expire' || order.status !== 'pending_payment') return { state, reply: ok(null) };
      if (message.now < order.expiresAt) {
        effects.push({ type: 'remind', name: 'expire', at: order.expiresAt });
        return { state, reply: ok(null), effects };
      }
      const next = move('expired', {}, message.now);
      tellDeals(() => ({ type: 'releaseOrder', now: message.now, orderId: order.id, reason: 'expired' }));
      return { state: next, reply: ok(null), effects };
    }
  }
}

const orderStore: ActorStore<OrderState> = {
  exists: (state) => state.order !== null,

  async load(manager: EntityManager, id: string): Promise<OrderState> {
    const row = await manager.findOne(OrderEntity, { where: { id } });
    if (!row) return { order: null };
    const items = await manager.find(OrderItemEntity, { where: { orderId: id } });
    return {
      order: {
        ...row,
        shippingAddress: row.shippingAddress as unknown as ShippingAddress,
        items: items
          .sort((a, b) => a.id.localeCompare(b.id))
          .map((i) => ({ holdId: i.holdId, dealId: i.dealId, quantity: i.quantity, unitPrice: i.unitPrice, currency: row.currency })),
      },
    };
  },

  async save(manager: EntityManager, id: string, changes: unknown[], _before: OrderState, after: OrderState, now: number): Promise<void> {
    const order = after.order!;
    const { items, ...row } = order;
    const ops = changes as OrderChange[];
    if (ops.some((c) => c.op === 'insert')) {
      await manager.insert(OrderEntity, { ...row, shippingAddress: row.shippingAddress as unknown as Record<string, string> });
      await manager.insert(
        OrderItemEntity,
        items.map((item, index) => ({ id: `${id}-${String(index).padStart(3, '0')}`, orderId: id, dealId: item.dealId, holdId: item.holdId, quantity: item.quantity, unitPrice: item.unitPrice })),
      );
    } else if (ops.some((c) => c.op === 'update')) {
      await manager.update(OrderEntity, { id }, { status: order.status, paymentId: order.paymentId, paidAt: order.paidAt, updatedAt: now });
    }
    for (const change of ops) {
      if (change.op === 'insertPayment') {
        const p = change.payment;
        await manager.insert(PaymentEntity, { id: p.paymentId, orderId: id, provider: p.provider, amount: p.amount, currency: p.currency, status: 'pending', createdAt: now, updatedAt: now });
      } else if (change.op === 'updatePayment') {
        await manager.update(PaymentEntity, { id: change.paymentId }, { status: change.status, updatedAt: now });
      }
    }
  },
};

/**
 * The order actor kind: one per order.
 * @throws Error at start-up if the order lifecycle table is unsound.
 */
export function orderActor(): ActorDefinition<OrderState, OrderMessage> {
  const problems = checkLifecycle(orderLifecycle, ['cancelled', 'expired', 'refunded']);
  if (problems.length > 0) throw new Error(`order lifecycle table is unsound: ${problems.join('; ')}`);
  return { kind: ORDER, durable: true, store: orderStore, transition: orderTransition, alarm: (name, now) => ({ type: 'alarm', name, now }) };
}
