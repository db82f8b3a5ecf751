import type { Effect } from '../runtime/actor';
import { orderTransition, type OrderMessage, type OrderState } from './order-actor';

const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);
const items = [
  { holdId: 'h1', dealId: 'd1', quantity: 2, unitPrice: 1000, currency: 'KRW' },
  { holdId: 'h2', dealId: 'd2', quantity: 1, unitPrice: 500, currency: 'KRW' },
];
const address = { name: 'Kim', phone: '010', line1: 'x', postalCode: '1', country: 'KR' };
const create: OrderMessage = { type: 'create', now: T0, orderId: 'o1', userId: 'u1', items, shippingAddress: address, expiresAt: T0 + 900_000 };

function run(state: OrderState, ...messages: OrderMessage[]) {
  let effects: Effect[] = [];
  let reply: unknown;
  for (const m of messages) {
    const t = orderTransition(state, m);
    state = t.state;
    effects = t.effects ?? [];
    reply = t.reply;
  }
  return { state, effects, reply: reply as { ok: boolean; value?: any; error?: { code: string } } };
}
const sends = (effects: Effect[]) => effects.filter((e) => e.type === 'send').map((e) => (e as { to: { id: string }; message: { type: string } })).map((e) => [e.to.id, e.message.type]);
const created = () => run({ order: null }, create).state;

describe('order transition', () => {
  it('creates a pending order with its total and an expiry reminder', () => {
    const { state, effects, reply } = run({ order: null }, create);
    expect(reply.ok).toBe(true);
    expect(state.order).toMatchObject({ status: 'pending_payment', total: 2500, currency: 'KRW', paymentId: null });
    expect(effects).toContainEqual({ type: 'remind', name: 'expire', at: T0 + 900_000 });
  });

  it('refuses an empty order and mixed currencies', () => {
    expect(run({ order: null }, { ...create, items: [] } as OrderMessage).reply.error?.code).toBe('VALIDATION_FAILED');
    expect(run({ order: null }, { ...create, items: [items[0], { ...items[1], currency: 'USD' }] } as OrderMessage).reply.error?.code).toBe('VALIDATION_FAILED');
  });

  it('pays once: tells every deal to sell through the outbox, publishes to the shopper, ignores a duplicate', () => {
    const started = run(created(), { type: 'startPayment', now: T0 + 1, userId: 'u1', paymentId: 'p1', provider: 'test' });
    expect(started.reply.value).toEqual({ payment: { paymentId: 'p1', orderId: 'o1', amount: 2500, currency: 'KRW' }, created: true });
    // Asking again gives the same payment, not a second charge.
    expect(run(started.state, { type: 'startPayment', now: T0 + 2, userId: 'u1', paymentId: 'p2', provider: 'test' }).reply.value).toMatchObject({ payment: { paymentId: 'p1' }, created: false });
    const paid = run(started.state, { type: 'paymentSucceeded', now: T0 + 3, paymentId: 'p1' });
    expect(paid.state.order).toMatchObject({ status: 'paid', paidAt: T0 + 3 });
    expect(sends(paid.effects)).toEqual([['d1', 'sell'], ['d2', 'sell']]);
    expect(paid.effects).toContainEqual({ type: 'publish', room: 'user:u1', event: 'order:updated', payload: { orderId: 'o1', status: 'paid', at: T0 + 3 } });
    const again = run(paid.state, { type: 'paymentSucceeded', now: T0 + 4, paymentId: 'p1' });
    expect(again.state).toBe(paid.state);
    expect(again.effects).toEqual([]);
  });

  it('expires at the deadline and returns the units; a payment after that is not applied', () => {
    const early = run(created(), { type: 'alarm', name: 'expire', now: T0 + 899_000 });
    expect(early.state.order!.status).toBe('pending_payment');
    expect(early.effects).toContainEqual({ type: 'remind', name: 'expire', at: T0 + 900_000 });
    const withPayment = run(created(), { type: 'startPayment', now: T0 + 1, userId: 'u1', paymentId: 'p1', provider: 'test' }).state;
    const expired = run(withPayment, { type: 'alarm', name: 'expire', now: T0 + 900_000 });
    expect(expired.state.order!.status).toBe('expired');
    expect(sends(expired.effects)).toEqual([['d1', 'releaseOrder'], ['d2', 'releaseOrder']]);
    const late = run(expired.state, { type: 'paymentSucceeded', now: T0 + 900_001, paymentId: 'p1' });
    expect(late.reply.error?.code).toBe('INVALID_STATE');
    expect(late.state.order!.status).toBe('expired');
  });

  it('cancels before payment only, idempotently; refunds after payment only, idempotently', () => {
    const cancelled = run(created(), { type: 'cancel', now: T0 + 1, userId: 'u1' });
    expect(cancelled.state.order!.status).toBe('cancelled');
    expect(sends(cancelled.effects)).toEqual([['d1', 'releaseOrder'], ['d2', 'releaseOrder']]);
    const twice = run(cancelled.state, { type: 'cancel', now: T0 + 2, userId: 'u1' });
    expect(twice.reply.ok).toBe(true);
    expect(twice.effects).toEqual([]);
    expect(run(created(), { type: 'refund', now: T0 + 1, userId: 'u1' }).reply.error?.code).toBe('INVALID_STATE');

    const paid = run(created(), { type: 'startPayment', now: T0 + 1, userId: 'u1', paymentId: 'p1', provider: 'test' }, { type: 'paymentSucceeded', now: T0 + 2, paymentId: 'p1' }).state;
    expect(run(paid, { type: 'cancel', now: T0 + 3, userId: 'u1' }).reply.error?.code).toBe('INVALID_STATE');
    const refunded = run(paid, { type: 'refund', now: T0 + 3, userId: 'u1' });
    expect(refunded.state.order!.status).toBe('refunded');
    expect(sends(refunded.effects)).toEqual([['d1', 'refundOrder'], ['d2', 'refundOrder']]);
    expect(run(refunded.state, { type: 'refund', now: T0 + 4, userId: 'u1' }).effects).toEqual([]);
  });

  it("hides another shopper's order", () => {
    for (const m of [{ type: 'get', userId: 'u2' }, { type: 'cancel', now: T0, userId: 'u2' }, { type: 'refund', now: T0, userId: 'u2' }, { type: 'startPayment', now: T0, userId: 'u2', paymentId: 'p', provider: 't' }] as OrderMessage[]) {
      expect(run(created(), m).reply.error?.code).toBe('NOT_FOUND');
    }
  });
});
