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
const approve = (paymentId: string, now: number, amount = 2500, currency = 'KRW'): OrderMessage => ({ type: 'paymentEvent', now, paymentId, outcome: 'approved', amount, currency });
const decline = (paymentId: string, now: number): OrderMessage => ({ type: 'paymentEvent', now, paymentId, outcome: 'declined', amount: 2500, currency: 'KRW' });
const refunded = (paymentId: string, now: number): OrderMessage => ({ type: 'paymentEvent', now, paymentId, outcome: 'refunded', amount: 2500, currency: 'KRW' });
const start = (paymentId: string, now: number): OrderMessage => ({ type: 'startPayment', now, userId: 'u1', paymentId, provider: 'test' });
const paymentOf = (state: OrderState, id: string) => state.order!.payments.find((p) => p.id === id);

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
    const paid = run(started.state, approve('p1', T0 + 3));
    expect(paid.state.order).toMatchObject({ status: 'paid', paidAt: T0 + 3 });
    expect(sends(paid.effects)).toEqual([['d1', 'sell'], ['d2', 'sell']]);
    expect(paid.effects).toContainEqual({ type: 'publish', room: 'user:u1', event: 'order:updated', payload: { orderId: 'o1', status: 'paid', at: T0 + 3 } });
    const again = run(paid.state, approve('p1', T0 + 4));
    expect(again.state).toBe(paid.state);
    expect(again.effects).toEqual([]);
  });

  it('expires at the deadline and returns the units; a payment after that is refunded, and the shopper told', () => {
    const early = run(created(), { type: 'alarm', name: 'expire', now: T0 + 899_000 });
    expect(early.state.order!.status).toBe('pending_payment');
    expect(early.effects).toContainEqual({ type: 'remind', name: 'expire', at: T0 + 900_000 });
    const withPayment = run(created(), { type: 'startPayment', now: T0 + 1, userId: 'u1', paymentId: 'p1', provider: 'test' }).state;
    // The payment is still pending: the gateway is asked first, and says it is pending still.
    const expired = run(withPayment, { type: 'alarm', name: 'expire', now: T0 + 900_000 }, { type: 'paymentChecked', now: T0 + 900_000, paymentId: 'p1' });
    expect(expired.state.order!.status).toBe('expired');
    expect(sends(expired.effects)).toEqual([['d1', 'releaseOrder'], ['d2', 'releaseOrder']]);
    const late = run(expired.state, approve('p1', T0 + 900_001));
    expect(late.reply.value).toMatchObject({ applied: 'refund_requested' });
    expect(late.state.order).toMatchObject({ status: 'expired', paidAt: null, refund: { paymentId: 'p1', status: 'pending', reason: 'late_payment', amount: 2500 } });
    expect(paymentOf(late.state, 'p1')).toMatchObject({ status: 'refund_pending', refundReason: 'late_payment' });
    expect(sends(late.effects)).toEqual([]); // no deal is told to sell: the units went back
    expect(late.effects).toContainEqual({ type: 'publish', room: 'user:u1', event: 'order:updated', payload: { orderId: 'o1', status: 'expired', at: T0 + 900_001, refund: 'pending', reason: 'late_payment' } });
    // The gateway confirms the refund: the order shows it, once.
    const done = run(late.state, refunded('p1', T0 + 900_100));
    expect(done.state.order!.refund).toMatchObject({ status: 'refunded', refundedAt: T0 + 900_100 });
    expect(done.state.order!.status).toBe('expired');
    expect(run(done.state, refunded('p1', T0 + 900_200)).effects).toEqual([]);
    expect(run(done.state, approve('p1', T0 + 900_300)).effects).toEqual([]);
  });

  it('at the deadline with a payment pending, asks the gateway before expiring: an approval found then pays the order, not a refund', () => {
    const withPayment = run(created(), start('p1', T0 + 1)).state;
    const deadline = run(withPayment, { type: 'alarm', name: 'expire', now: T0 + 900_000 });
    // Not expired yet: the payment jobs are signalled, and a reminder bounds the wait.
    expect(deadline.state.order!.status).toBe('pending_payment');
    expect(deadline.effects).toEqual([
      { type: 'remind', name: 'expireUnchecked', at: T0 + 930_000 },
      { type: 'signal', name: 'order:paymentCheck', payload: { orderId: 'o1', paymentId: 'p1', checkBy: T0 + 930_000 } },
    ]);
    // The gateway says approved (its webhook was lost): paid, the deals sell, nothing refunded.
    const paid = run(deadline.state, approve('p1', T0 + 900_200));
    expect(paid.state.order).toMatchObject({ status: 'paid', paidAt: T0 + 900_200, refund: null });
    expect(sends(paid.effects)).toEqual([['d1', 'sell'], ['d2', 'sell']]);
    expect(paid.effects).toContainEqual({ type: 'remind', name: 'expireUnchecked', at: null });
    // The check's notice after that, or the grace reminder, changes nothing.
    expect(run(paid.state, { type: 'paymentChecked', now: T0 + 900_201, paymentId: 'p1' }).state).toBe(paid.state);
    expect(run(paid.state, { type: 'alarm', name: 'expireUnchecked', now: T0 + 930_000 }).state).toBe(paid.state);
  });

  it('at the deadline: declined at the gateway, or no answer within the grace, expires the order; with no payment or no grace, it expires at once', () => {
    const withPayment = run(created(), start('p1', T0 + 1)).state;
    const deadline = run(withPayment, { type: 'alarm', name: 'expire', now: T0 + 900_000 }).state;
    const declined = run(deadline, decline('p1', T0 + 900_100), { type: 'paymentChecked', now: T0 + 900_101, paymentId: 'p1' });
    expect(declined.state.order!.status).toBe('expired');
    expect(sends(declined.effects)).toEqual([['d1', 'releaseOrder'], ['d2', 'releaseOrder']]);
    // The gateway never answered: the grace reminder expires it.
    const unanswered = run(deadline, { type: 'alarm', name: 'expireUnchecked', now: T0 + 930_000 });
    expect(unanswered.state.order!.status).toBe('expired');
    expect(sends(unanswered.effects)).toEqual([['d1', 'releaseOrder'], ['d2', 'releaseOrder']]);
    // A check's notice before the deadline (a clock skew between nodes) does not expire it.
    expect(run(withPayment, { type: 'paymentChecked', now: T0 + 899_000, paymentId: 'p1' }).state.order!.status).toBe('pending_payment');
    // No payment started: nothing to ask, it expires at the deadline.
    expect(run(created(), { type: 'alarm', name: 'expire', now: T0 + 900_000 }).state.order!.status).toBe('expired');
    // A grace of 0 (ORDER_PAYMENT_CHECK_GRACE_SECONDS=0): expires at the deadline, unasked.
    const unasked = orderTransition(withPayment, { type: 'alarm', name: 'expire', now: T0 + 900_000 }, { paymentCheckGraceMs: 0 });
    expect(unasked.state.order!.status).toBe('expired');
    expect(unasked.effects!.some((e) => e.type === 'signal')).toBe(false);
  });

  it('applies a duplicate event once and never moves backwards (approved, then a late declined)', () => {
    const paid = run(created(), start('p1', T0 + 1), approve('p1', T0 + 2)).state;
    for (const late of [decline('p1', T0 + 3), approve('p1', T0 + 3), start('p2', T0 + 3)]) {
      const out = run(paid, late);
      expect(out.state.order).toEqual(paid.order);
      expect(out.effects).toEqual([]);
    }
  });

  it('refunded before approved (reordered): the payment is final, the order is not paid, nothing is sold', () => {
    const started = run(created(), start('p1', T0 + 1)).state;
    const first = run(started, refunded('p1', T0 + 2));
    expect(paymentOf(first.state, 'p1')!.status).toBe('refunded');
    expect(first.state.order).toMatchObject({ status: 'pending_payment', paymentId: null });
    const then = run(first.state, approve('p1', T0 + 3));
    expect(then.state.order!.status).toBe('pending_payment');
    expect(then.effects).toEqual([]);
  });

  it('a declined payment lets the shopper pay again; a late approval of it after another paid is refunded', () => {
    const declined = run(created(), start('p1', T0 + 1), decline('p1', T0 + 2));
    expect(declined.state.order).toMatchObject({ status: 'pending_payment', paymentId: null });
    expect(paymentOf(declined.state, 'p1')!.status).toBe('declined');
    expect(run(declined.state, start('p1', T0 + 3)).reply.error?.code).toBe('INVALID_STATE'); // same id, used
    const paid = run(declined.state, start('p2', T0 + 3), approve('p2', T0 + 4)).state;
    expect(paid.order).toMatchObject({ status: 'paid', paymentId: 'p2' });
    const twice = run(paid, approve('p1', T0 + 5));
    expect(twice.state.order!.status).toBe('paid');
    expect(paymentOf(twice.state, 'p1')).toMatchObject({ status: 'refund_pending', refundReason: 'duplicate_payment' });
    expect(twice.state.order!.refund).toBeNull();
  });

  it('flags an approved amount or currency that differs, and does not mark the order paid', () => {
    const started = run(created(), start('p1', T0 + 1)).state;
    for (const [amount, currency] of [[2499, 'KRW'], [2500, 'USD']] as const) {
      const out = run(started, approve('p1', T0 + 2, amount, currency));
      expect(out.reply.value).toMatchObject({ applied: 'flagged' });
      expect(out.state.order).toMatchObject({ status: 'pending_payment', paidAt: null });
      expect(paymentOf(out.state, 'p1')).toMatchObject({ status: 'approved', flag: 'amount_mismatch' });
      expect(sends(out.effects)).toEqual([]);
      expect(run(out.state, approve('p1', T0 + 3)).state.order!.status).toBe('pending_payment');
    }
  });

  it('a deal that lost the units of a paid order makes the order refund itself', () => {
    const paid = run(created(), start('p1', T0 + 1), approve('p1', T0 + 2)).state;
    const lost = run(paid, { type: 'unitsLost', now: T0 + 3, dealId: 'd1' });
    expect(lost.state.order).toMatchObject({ status: 'refunded', refund: { status: 'pending', reason: 'units_unavailable' } });
    expect(paymentOf(lost.state, 'p1')!.status).toBe('refund_pending');
    expect(sends(lost.effects)).toEqual([['d1', 'refundOrder'], ['d2', 'refundOrder']]);
    expect(run(lost.state, { type: 'unitsLost', now: T0 + 4, dealId: 'd2' }).effects).toEqual([]);
  });

  it('a refund at the gateway of a paid order refunds the order and returns its units', () => {
    const paid = run(created(), start('p1', T0 + 1), approve('p1', T0 + 2)).state;
    const out = run(paid, refunded('p1', T0 + 3));
    expect(out.state.order).toMatchObject({ status: 'refunded', refund: { status: 'refunded', reason: 'gateway' } });
    expect(sends(out.effects)).toEqual([['d1', 'refundOrder'], ['d2', 'refundOrder']]);
  });

  it('cancels before payment only, idempotently; refunds after payment only, idempotently', () => {
    const cancelled = run(created(), { type: 'cancel', now: T0 + 1, userId: 'u1' });
    expect(cancelled.state.order!.status).toBe('cancelled');
    expect(sends(cancelled.effects)).toEqual([['d1', 'releaseOrder'], ['d2', 'releaseOrder']]);
    const twice = run(cancelled.state, { type: 'cancel', now: T0 + 2, userId: 'u1' });
    expect(twice.reply.ok).toBe(true);
    expect(twice.effects).toEqual([]);
    expect(run(created(), { type: 'refund', now: T0 + 1, userId: 'u1' }).reply.error?.code).toBe('INVALID_STATE');

    const paid = run(created(), { type: 'startPayment', now: T0 + 1, userId: 'u1', paymentId: 'p1', provider: 'test' }, approve('p1', T0 + 2)).state;
    expect(run(paid, { type: 'cancel', now: T0 + 3, userId: 'u1' }).reply.error?.code).toBe('INVALID_STATE');
    const refunded = run(paid, { type: 'refund', now: T0 + 3, userId: 'u1' });
    expect(refunded.state.order!.status).toBe('refunded');
    expect(sends(refunded.effects)).toEqual([['d1', 'refundOrder'], ['d2', 'refundOrder']]);
    expect(refunded.state.order!.refund).toMatchObject({ paymentId: 'p1', status: 'pending', reason: 'requested', amount: 2500 });
    expect(paymentOf(refunded.state, 'p1')!.status).toBe('refund_pending');
    expect(run(refunded.state, { type: 'refund', now: T0 + 4, userId: 'u1' }).effects).toEqual([]);
  });

  it("hides another shopper's order", () => {
    for (const m of [{ type: 'get', userId: 'u2' }, { type: 'cancel', now: T0, userId: 'u2' }, { type: 'refund', now: T0, userId: 'u2' }, { type: 'startPayment', now: T0, userId: 'u2', paymentId: 'p', provider: 't' }] as OrderMessage[]) {
      expect(run(created(), m).reply.error?.code).toBe('NOT_FOUND');
    }
  });
});
