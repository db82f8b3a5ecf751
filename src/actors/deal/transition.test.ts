import fc from 'fast-check';
import type { Effect } from '../runtime/actor';
import type { DealMessage, NewDeal } from './messages';
import { HoldBook, reminderTimeFor } from './hold-book';
import { emptyDealState, fromSnapshot, toSnapshot, type DealState } from './state';
import { dealTransition, stockBalances, type DealChange } from './transition';

const rules = { stockPublishIntervalMs: 100, room: { tickMs: 1000, goneAfterMs: 60_000, admissionTtlMs: 600_000 } };
const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);
const newDeal = (over: Partial<NewDeal> = {}): NewDeal => ({
  id: 'd1', sellerId: 's1', title: 'Deal', description: '', category: 'test', imageUrl: null, price: 1000, originalPrice: 2000, currency: 'KRW',
  totalStock: 10, perUserLimit: 3, startsAt: T0, endsAt: T0 + 3_600_000, waitingRoom: { enabled: false, admissionPerMinute: 60, maxActive: 10 }, ...over,
});

/** Applies messages in order, returning the final state and every turn's reply and effects. */
function run(state: DealState, ...messages: DealMessage[]) {
  const turns: Array<{ reply: unknown; effects: Effect[] }> = [];
  for (const message of messages) {
    const t = dealTransition(state, message, rules);
    state = t.state;
    turns.push({ reply: t.reply, effects: t.effects ?? [] });
  }
  return { state, turns, last: turns[turns.length - 1] };
}
const opened = (over: Partial<NewDeal> = {}) => run(emptyDealState(), { type: 'create', now: T0, deal: newDeal(over) }).state;
const reserve = (userId: string, quantity: number, holdId: string, now = T0 + 1000): DealMessage => ({ type: 'reserve', now, userId, holdId, quantity, ttlMs: 600_000 });
const codeOf = (reply: unknown) => (reply as { ok: boolean; error?: { code: string } }).error?.code ?? 'OK';

describe('deal transition', () => {
  it('creates a scheduled deal with open and end reminders, and opens it at startsAt', () => {
    const { state, last } = run(emptyDealState(), { type: 'create', now: T0 - 60_000, deal: newDeal() });
    expect(state.deal!.status).toBe('scheduled');
    expect(last.effects).toEqual(expect.arrayContaining([{ type: 'remind', name: 'open', at: T0 }, { type: 'remind', name: 'end', at: T0 + 3_600_000 }, { type: 'persist', change: { op: 'insertDeal' } }]));
    const early = run(state, reserve('u1', 1, 'h1', T0 - 1000));
    expect(codeOf(early.last.reply)).toBe('DEAL_NOT_OPEN');
    const open = run(state, { type: 'alarm', name: 'open', now: T0 });
    expect(open.state.deal!.status).toBe('open');
    expect(open.last.effects).toContainEqual(expect.objectContaining({ type: 'publish', event: 'deal:state', payload: expect.objectContaining({ status: 'open', seq: 1 }) }));
  });

  it('re-arms an open reminder that fired early instead of opening', () => {
    const { state } = run(emptyDealState(), { type: 'create', now: T0 - 60_000, deal: newDeal() });
    const early = run(state, { type: 'alarm', name: 'open', now: T0 - 5 });
    expect(early.state.deal!.status).toBe('scheduled');
    expect(early.last.effects).toContainEqual({ type: 'remind', name: 'open', at: T0 });
  });

  it('reserves: stock leaves remaining at once, a hold row is written, the cart is told', () => {
    const { state, last } = run(opened(), reserve('u1', 2, 'h1'));
    expect(state.deal).toMatchObject({ remainingStock: 8, heldUnits: 2, soldUnits: 0 });
    expect(last.reply).toMatchObject({ ok: true, value: { id: 'h1', quantity: 2, unitPrice: 1000, expiresAt: T0 + 1000 + 600_000 } });
    const changes = last.effects.filter((e) => e.type === 'persist').map((e) => (e as { change: DealChange }).change);
    expect(changes).toContainEqual(expect.objectContaining({ op: 'insertHold' }));
    expect(last.effects).toContainEqual(expect.objectContaining({ type: 'tell', to: { kind: 'cart', id: 'u1' } }));
    expect(last.effects).toContainEqual({ type: 'remind', name: 'holds', at: T0 + 601_000 });
  });

  it('answers a hold retried under the id of a hold that has ended (released or bought) with HOLD_EXPIRED, and holds nothing', () => {
    let s = run(opened(), reserve('u1', 1, 'h1'), reserve('u1', 1, 'h2')).state;
    s = run(s, { type: 'release', now: T0 + 2000, userId: 'u1', holdId: 'h1' }).state;
    s = run(s, { type: 'attach', now: T0 + 2000, userId: 'u1', orderId: 'o1', holdIds: ['h2'], until: T0 + 999_999 }, { type: 'sell', now: T0 + 3000, orderId: 'o1' }).state;
    expect(s.deal).toMatchObject({ remainingStock: 9, heldUnits: 0, soldUnits: 1 });
    for (const holdId of ['h1', 'h2']) {
      const again = run(s, reserve('u1', 1, holdId, T0 + 4000));
      expect(codeOf(again.last.reply)).toBe('HOLD_EXPIRED');
      expect(again.last.effects.filter((e) => e.type === 'persist')).toEqual([]);
      expect(again.state.deal).toEqual(s.deal);
      expect(codeOf(run(s, reserve('u2', 1, holdId, T0 + 4000)).last.reply)).toBe('VALIDATION_FAILED');
    }
    // The memory of ended holds survives the snapshot round trip (and the store loads it from the rows).
    expect(codeOf(run(fromSnapshot(toSnapshot(s)), reserve('u1', 1, 'h1', T0 + 4000)).last.reply)).toBe('HOLD_EXPIRED');
  });

  it('refuses over the per-user limit, over the stock, zero and fractional quantities, and after the end', () => {
    let s = opened();
    s = run(s, reserve('u1', 3, 'h1')).state;
    expect(codeOf(run(s, reserve('u1', 1, 'h2')).last.reply)).toBe('LIMIT_EXCEEDED');
    expect(codeOf(run(s, reserve('u2', 0, 'h3')).last.reply)).toBe('VALIDATION_FAILED');
    expect(codeOf(run(s, reserve('u2', 1.5, 'h3')).last.reply)).toBe('VALIDATION_FAILED');
    expect(codeOf(run(s, reserve('u2', 1, 'h3', T0 + 3_600_000)).last.reply)).toBe('DEAL_NOT_OPEN');
    s = run(s, reserve('u2', 3, 'h4'), reserve('u3', 3, 'h5')).state;
    expect(s.deal!.remainingStock).toBe(1);
    const short = run(s, reserve('u4', 2, 'h6'));
    expect(codeOf(short.last.reply)).toBe('SOLD_OUT');
    expect(short.state).toBe(s);
  });

  it('goes sold_out at zero with a final deal:stock 0 before deal:state, and back to open when units return', () => {
    let s = opened({ totalStock: 2, perUserLimit: 2 });
    const sold = run(s, reserve('u1', 2, 'h1'));
    s = sold.state;
    expect(s.deal!.status).toBe('sold_out');
    const events = sold.last.effects.filter((e) => e.type === 'publish').map((e) => e as unknown as { event: string; payload: { seq: number; remainingStock: number } });
    expect(events.map((e) => [e.event, e.payload.remainingStock])).toEqual([['deal:stock', 0], ['deal:state', 0]]);
    expect(events[1].payload.seq).toBe(events[0].payload.seq + 1);
    expect(codeOf(run(s, reserve('u2', 1, 'h2')).last.reply)).toBe('SOLD_OUT');
    const back = run(s, { type: 'release', now: T0 + 2000, userId: 'u1', holdId: 'h1' });
    expect(back.state.deal).toMatchObject({ status: 'open', remainingStock: 2, heldUnits: 0 });
  });

  it('coalesces deal:stock to one event per interval, with a timer for the rest', () => {
    let s = opened({ totalStock: 100, perUserLimit: 100 });
    const first = run(s, reserve('u1', 1, 'h1', T0 + 1000));
    const second = run(first.state, reserve('u1', 1, 'h2', T0 + 1010));
    const third = run(second.state, reserve('u1', 1, 'h3', T0 + 1020));
    const published = (t: typeof first) => t.last.effects.filter((e) => e.type === 'publish').length;
    expect(published(first)).toBe(1);
    expect(published(second)).toBe(0);
    expect(second.last.effects).toContainEqual({ type: 'timer', name: 'stock', at: T0 + 1100 });
    expect(third.last.effects.filter((e) => e.type === 'timer')).toHaveLength(0);
    s = third.state;
    const flush = run(s, { type: 'alarm', name: 'stock', now: T0 + 1100 });
    expect(flush.last.effects).toContainEqual(expect.objectContaining({ type: 'publish', event: 'deal:stock', payload: expect.objectContaining({ remainingStock: 97, seq: 2 }) }));
  });

  it('a stock timer that fires after a hold already published in its window waits for the next window', () => {
    let s = opened({ totalStock: 100, perUserLimit: 100 });
    s = run(s, reserve('u1', 1, 'h1', T0 + 1000), reserve('u1', 1, 'h2', T0 + 1050)).state; // publish at 1000, timer for 1100
    s = run(s, reserve('u1', 1, 'h3', T0 + 1101)).state; // publishes at 1101 (its window is due)
    const pending = run(s, reserve('u1', 1, 'h4', T0 + 1102)); // pending again, timer for 1201
    const stale = run(pending.state, { type: 'alarm', name: 'stock', now: T0 + 1100 }); // the old timer's alarm
    expect(stale.last.effects.filter((e) => e.type === 'publish')).toEqual([]);
    expect(stale.last.effects).toContainEqual({ type: 'timer', name: 'stock', at: T0 + 1201 });
    const due = run(stale.state, { type: 'alarm', name: 'stock', now: T0 + 1201 });
    expect(due.last.effects).toContainEqual(expect.objectContaining({ type: 'publish', event: 'deal:stock', payload: expect.objectContaining({ remainingStock: 96, at: T0 + 1201 }) }));
  });

  it('expires holds at their time and re-arms the reminder for the next one', () => {
    let s = opened();
    s = run(s, reserve('u1', 1, 'h1', T0 + 1000), reserve('u2', 1, 'h2', T0 + 5000)).state;
    const fired = run(s, { type: 'alarm', name: 'holds', now: T0 + 601_000 });
    expect(fired.state.holds.has('h1')).toBe(false);
    expect(fired.state.holds.has('h2')).toBe(true);
    expect(fired.state.deal).toMatchObject({ remainingStock: 9, heldUnits: 1 });
    expect(fired.last.effects).toContainEqual({ type: 'remind', name: 'holds', at: T0 + 605_000 });
  });

  it('expires holds that fall due close together with one reminder at the end of their bucket', () => {
    let s = opened();
    // Three holds 40 ms apart: one 250 ms bucket (T0 is a whole second).
    s = run(s, reserve('u1', 1, 'h1', T0 + 1010), reserve('u2', 1, 'h2', T0 + 1050), reserve('u3', 1, 'h3', T0 + 1090)).state;
    expect(s.holdsReminderAt).toBe(T0 + 601_250);
    const early = run(s, { type: 'alarm', name: 'holds', now: T0 + 601_050 });
    expect([...early.state.holds.values()].map((h) => h.id)).toEqual(['h3']); // an early alarm drops only the expired
    const fired = run(s, { type: 'alarm', name: 'holds', now: T0 + 601_250 });
    expect(fired.state.holds.size).toBe(0);
    expect(fired.state.deal).toMatchObject({ remainingStock: 10, heldUnits: 0 });
    expect(fired.last.effects).toContainEqual({ type: 'remind', name: 'holds', at: null });
    const expiredRows = fired.last.effects.filter((e) => e.type === 'persist' && (e.change as DealChange).op === 'updateHold').map((e) => (e as { change: DealChange }).change);
    expect(expiredRows).toEqual(['h1', 'h2', 'h3'].map((id) => ({ op: 'updateHold', id, status: 'expired' })));
  });

  it('attaches holds to an order, sells them on payment, and refunds them idempotently', () => {
    let s = opened();
    s = run(s, reserve('u1', 2, 'h1')).state;
    const attached = run(s, { type: 'attach', now: T0 + 2000, userId: 'u1', orderId: 'o1', holdIds: ['h1'], until: T0 + 999_999 });
    expect(attached.last.reply).toEqual({ ok: true, value: [{ holdId: 'h1', dealId: 'd1', quantity: 2, unitPrice: 1000, currency: 'KRW' }] });
    // Attaching again for the same order answers the same (a retried checkout).
    expect(run(attached.state, { type: 'attach', now: T0 + 2500, userId: 'u1', orderId: 'o1', holdIds: ['h1'], until: T0 + 999_999 }).last.reply).toEqual(attached.last.reply);
    expect(codeOf(run(attached.state, { type: 'attach', now: T0 + 2500, userId: 'u1', orderId: 'o2', holdIds: ['h1'], until: 0 }).last.reply)).toBe('HOLD_EXPIRED');
    const sold = run(attached.state, { type: 'sell', now: T0 + 3000, orderId: 'o1' }, { type: 'sell', now: T0 + 3001, orderId: 'o1' });
    expect(sold.state.deal).toMatchObject({ remainingStock: 8, heldUnits: 0, soldUnits: 2 });
    const refunded = run(sold.state, { type: 'refundOrder', now: T0 + 4000, orderId: 'o1' }, { type: 'refundOrder', now: T0 + 4001, orderId: 'o1' });
    expect(refunded.state.deal).toMatchObject({ remainingStock: 10, heldUnits: 0, soldUnits: 0 });
    expect(refunded.turns.map((t) => t.reply)).toEqual([{ ok: true, value: { refunded: 2 } }, { ok: true, value: { refunded: 0 } }]);
  });

  it('an order paid after its units went back is told to refund itself; its units stay where they are', () => {
    let s = opened();
    s = run(s, reserve('u1', 2, 'h1')).state;
    s = run(s, { type: 'attach', now: T0 + 2000, userId: 'u1', orderId: 'o1', holdIds: ['h1'], until: T0 + 999_999 }).state;
    s = run(s, { type: 'releaseOrder', now: T0 + 3000, orderId: 'o1', reason: 'expired' }).state;
    s = run(s, reserve('u2', 2, 'h2')).state; // someone else holds the units now
    const late = run(s, { type: 'sell', now: T0 + 4000, orderId: 'o1' });
    expect(codeOf(late.last.reply)).toBe('HOLD_EXPIRED');
    expect(late.last.effects).toContainEqual({ type: 'send', to: { kind: 'order', id: 'o1' }, message: { type: 'unitsLost', now: T0 + 4000, dealId: 'd1' } });
    expect(late.state.deal).toMatchObject({ remainingStock: 8, heldUnits: 2, soldUnits: 0 });
    expect(stockBalances(late.state.deal!)).toBe(true);
  });

  it('refuses another shopper’s hold and unknown holds', () => {
    const s = run(opened(), reserve('u1', 1, 'h1')).state;
    expect(codeOf(run(s, { type: 'release', now: T0 + 2000, userId: 'u2', holdId: 'h1' }).last.reply)).toBe('NOT_FOUND');
    expect(codeOf(run(s, { type: 'attach', now: T0 + 2000, userId: 'u2', orderId: 'o', holdIds: ['h1'], until: T0 + 9e6 }).last.reply)).toBe('HOLD_EXPIRED');
    expect(codeOf(run(s, { type: 'release', now: T0 + 2000, userId: 'u1', holdId: 'nope' }).last.reply)).toBe('NOT_FOUND');
  });

  it('pauses, resumes and cancels through the lifecycle table', () => {
    let s = opened();
    s = run(s, reserve('u1', 1, 'h1')).state;
    const paused = run(s, { type: 'pause', now: T0 + 2000 });
    expect(paused.state.deal!.status).toBe('paused');
    expect(codeOf(run(paused.state, reserve('u2', 1, 'h2', T0 + 2500)).last.reply)).toBe('DEAL_NOT_OPEN');
    expect(run(paused.state, { type: 'resume', now: T0 + 3000 }).state.deal!.status).toBe('open');
    const cancelled = run(s, { type: 'cancel', now: T0 + 2000 });
    expect(cancelled.state.deal).toMatchObject({ status: 'cancelled', remainingStock: 10, heldUnits: 0 });
    expect(codeOf(run(cancelled.state, { type: 'resume', now: T0 + 3000 }).last.reply)).toBe('INVALID_STATE');
    expect(codeOf(run(cancelled.state, { type: 'pause', now: T0 + 3000 }).last.reply)).toBe('INVALID_STATE');
  });

  it('answers NOT_FOUND for a deal that does not exist', () => {
    expect(codeOf(dealTransition(emptyDealState(), reserve('u1', 1, 'h1'), rules).reply)).toBe('NOT_FOUND');
  });
});

describe('deal transition, property: random interleavings from many shoppers', () => {
  type Command =
    | { kind: 'reserve'; user: number; quantity: number }
    | { kind: 'release'; pick: number }
    | { kind: 'order'; pick: number }
    | { kind: 'pay'; pick: number }
    | { kind: 'cancel'; pick: number }
    | { kind: 'refund'; pick: number }
    | { kind: 'advance'; ms: number }
    | { kind: 'pause' }
    | { kind: 'resume' };

  const command: fc.Arbitrary<Command> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('reserve' as const), user: fc.integer({ min: 0, max: 7 }), quantity: fc.integer({ min: -1, max: 4 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('order' as const), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('pay' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('refund' as const), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 400_000 }) }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'pause' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'resume' as const }) },
  );

  it('keeps sold + held + remaining == total, nothing negative, the per-user limit, and round-trips snapshots', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 5 }), fc.array(command, { maxLength: 120 }), (total, limit, commands) => {
        let now = T0 + 1;
        let state = run(emptyDealState(), { type: 'create', now: T0, deal: newDeal({ totalStock: total, perUserLimit: limit, endsAt: T0 + 10 * 3_600_000 }) }).state;
        let seq = 0;
        let holdSeq = 0;
        let orderSeq = 0;
        // The model: what each live hold and paid order holds, by id.
        const live = new Map<string, { user: string; quantity: number; orderId: string | null; expiresAt: number }>();
        const paid = new Map<string, Array<{ user: string; quantity: number }>>();
        const pick = <T>(items: T[], n: number): T | undefined => (items.length ? items[n % items.length] : undefined);

        for (const c of commands) {
          let message: DealMessage | null = null;
          switch (c.kind) {
            case 'reserve':
              message = reserve(`u${c.user}`, c.quantity, `h${++holdSeq}`, now);
              break;
            case 'release': {
              const id = pick([...live.keys()].filter((k) => live.get(k)!.orderId === null), c.pick);
              if (id) message = { type: 'release', now, userId: live.get(id)!.user, holdId: id };
              break;
            }
            case 'order': {
              const id = pick([...live.keys()].filter((k) => live.get(k)!.orderId === null), c.pick);
              if (id) message = { type: 'attach', now, userId: live.get(id)!.user, orderId: `o${++orderSeq}`, holdIds: [id], until: now + 300_000 };
              break;
            }
            case 'pay':
            case 'cancel': {
              const orders = [...new Set([...live.values()].map((h) => h.orderId).filter((o): o is string => o !== null))];
              const orderId = pick(orders, c.pick);
              if (orderId) message = c.kind === 'pay' ? { type: 'sell', now, orderId } : { type: 'releaseOrder', now, orderId, reason: 'cancelled' };
              break;
            }
            case 'refund': {
              const orderId = pick([...paid.keys()], c.pick);
              if (orderId) message = { type: 'refundOrder', now, orderId };
              break;
            }
            case 'advance':
              now += c.ms;
              message = { type: 'alarm', name: 'holds', now };
              break;
            case 'pause':
            case 'resume':
              message = { type: c.kind, now };
              break;
          }
          if (!message) continue;

          const before = state;
          const t = dealTransition(state, message, rules);
          state = t.state;
          const reply = t.reply as { ok: boolean; value?: unknown; error?: { code: string } };

          // Mirror the outcome in the model, and check the reply against it.
          const deal = state.deal!;
          const unitsOf = (user: string) =>
            [...live.values()].filter((h) => h.user === user).reduce((n, h) => n + h.quantity, 0) +
            [...paid.values()].flat().filter((h) => h.user === user).reduce((n, h) => n + h.quantity, 0);
          if (message.type === 'reserve') {
            const modelRemaining = total - [...live.values()].reduce((n, h) => n + h.quantity, 0) - [...paid.values()].flat().reduce((n, h) => n + h.quantity, 0);
            const canHold = before.deal!.status === 'open' && Number.isInteger(message.quantity) && message.quantity >= 1 && unitsOf(message.userId) + message.quantity <= limit && modelRemaining >= message.quantity;
            expect(reply.ok).toBe(canHold);
            if (reply.ok) live.set(message.holdId, { user: message.userId, quantity: message.quantity, orderId: null, expiresAt: message.now + message.ttlMs });
          } else if (message.type === 'release') {
            expect(reply.ok).toBe(true);
            live.delete(message.holdId);
          } else if (message.type === 'attach') {
            const h = live.get(message.holdIds[0])!;
            expect(reply.ok).toBe(h.expiresAt > now);
            if (reply.ok) live.set(message.holdIds[0], { ...h, orderId: message.orderId, expiresAt: message.until });
          } else if (message.type === 'sell' || message.type === 'releaseOrder') {
            const ids = [...live.keys()].filter((k) => live.get(k)!.orderId === message!.orderId);
            if (message.type === 'sell') paid.set(message.orderId, ids.map((k) => live.get(k)!));
            for (const k of ids) live.delete(k);
          } else if (message.type === 'refundOrder') {
            paid.delete(message.orderId);
          } else if (message.type === 'alarm') {
            for (const [k, h] of live) if (h.expiresAt <= now) live.delete(k);
          }

          // Invariants, after every step.
          expect(stockBalances(deal)).toBe(true);
          expect(deal.heldUnits).toBe([...live.values()].reduce((n, h) => n + h.quantity, 0));
          expect(deal.soldUnits).toBe([...paid.values()].flat().reduce((n, h) => n + h.quantity, 0));
          expect(deal.remainingStock).toBeGreaterThanOrEqual(0);
          for (const [user, units] of state.perUser) {
            expect(units).toBe(unitsOf(user));
            expect(units).toBeLessThanOrEqual(limit);
          }
          // The hold book's indexes (by order, by expiry) agree with a book rebuilt from its holds,
          // and the reminder is never later than the end of the earliest live hold's bucket.
          expect(state.holds.indexes()).toEqual(HoldBook.of([...state.holds.values()]).indexes());
          if (state.holds.size > 0) {
            const earliest = Math.min(...[...state.holds.values()].map((h) => h.expiresAt));
            expect(state.holdsReminderAt).not.toBeNull();
            expect(state.holdsReminderAt!).toBeLessThanOrEqual(reminderTimeFor(earliest));
          }
          // Stream seq only rises, by one per event.
          for (const e of t.effects ?? []) if (e.type === 'publish') expect((e.payload as { seq: number }).seq).toBe(++seq);

          // Snapshot round-trip: equal, and the restored state behaves the same.
          const snapshot = toSnapshot(state);
          const restored = fromSnapshot(JSON.parse(JSON.stringify(snapshot)));
          expect(toSnapshot(restored)).toEqual(snapshot);
          const probe = reserve('u0', 1, `probe${holdSeq}`, now);
          expect(dealTransition(restored, probe, rules).reply).toEqual(dealTransition(state, probe, rules).reply);
        }
      }),
      { numRuns: 300 },
    );
  });
});
