import type { DealStatus } from '../../http/schemas';
import { fail, ok, type Result } from '../result';
import type { Effect, Transition } from '../runtime/actor';
import { canMove, isSelling } from './lifecycle';
import { EXPIRY_BUCKET_MS, reminderTimeFor } from './hold-book';
import type { AttachedItem, DealMessage, HoldView, TicketInfo } from './messages';
import type { DealRecord, DealState, LiveHold } from './state';
import {
  endAdmission,
  joinQueue,
  leaveQueue,
  markSeen,
  measuredOutflow,
  positionOf,
  rejoinsAtTheBack,
  roomBusy,
  tickRoom,
  waitingCount,
  type AdmissionEnd,
  type QueueTicket,
  type RoomChanges,
  type WaitingRoomRules,
} from './waiting-room';

/** Settings the transition depends on, fixed for the life of the process. */
export interface DealRules {
  /** Fewest ms between two `deal:stock` events (coalescing: at most 1000/x per second). */
  stockPublishIntervalMs: number;
  /** Waiting-room timing (tick, gone-after, admission lifetime). */
  room: WaitingRoomRules;
}

/** Changes the deal store applies in the batch transaction. */
export type DealChange =
  | { op: 'insertDeal' }
  | { op: 'touchDeal' }
  | { op: 'insertHold'; hold: LiveHold }
  | { op: 'insertTicket'; ticket: QueueTicket }
  /** The ticket's row takes these values (status, seq, admission times). */
  | { op: 'updateTicket'; ticket: QueueTicket }
  | { op: 'updateHold'; id: string; status: 'ordered' | 'sold' | 'released' | 'expired' | 'refunded'; orderId?: string; expiresAt?: number };

type Out = Transition<DealState, Result<unknown>>;

/** A turn under construction: the state so far and the effects gathered. */
class Turn {
  readonly effects: Effect[] = [];
  constructor(
    public state: DealState,
    readonly now: number,
    readonly rules: DealRules,
  ) {}

  get deal(): DealRecord {
    return this.state.deal!;
  }

  setDeal(patch: Partial<DealRecord>): void {
    this.state = { ...this.state, deal: { ...this.deal, ...patch, updatedAt: this.now } };
  }

  persist(change: DealChange): void {
    this.effects.push({ type: 'persist', change });
  }

  /** Emits one event of the deal's stream with the next seq. */
  emit(event: 'deal:state' | 'deal:stock' | 'queue:progress', body: Record<string, unknown>): void {
    const seq = this.deal.seq + 1;
    this.setDeal({ seq });
    // Messages carry the time they were sent; one queued a little longer must not move `at` back.
    const at = Math.max(this.now, this.state.lastStockPublishAt);
    this.effects.push({ type: 'publish', room: `deal:${this.deal.id}`, event, payload: { dealId: this.deal.id, ...body, seq, at } });
    this.persist({ op: 'touchDeal' });
  }

  emitState(): void {
    const d = this.deal;
    this.emit('deal:state', { status: d.status, remainingStock: d.remainingStock, startsAt: iso(d.startsAt), endsAt: iso(d.endsAt) });
  }

  /** Publishes the stock now, or within the coalescing interval (one timer per window). */
  stockChanged(): void {
    const { lastStockPublishAt, stockPublishPending } = this.state;
    const dueAt = lastStockPublishAt + this.rules.stockPublishIntervalMs;
    if (this.deal.remainingStock === 0 || this.now >= dueAt) return this.flushStock();
    if (!stockPublishPending) {
      this.state = { ...this.state, stockPublishPending: true };
      this.effects.push({ type: 'timer', name: 'stock', at: dueAt });
    }
  }

  flushStock(): void {
    this.emit('deal:stock', { remainingStock: this.deal.remainingStock });
    this.state = { ...this.state, lastStockPublishAt: Math.max(this.now, this.state.lastStockPublishAt), stockPublishPending: false };
  }

  /** Moves to `to` if the lifecycle allows; emits `deal:state`. Returns whether it moved. */
  move(to: DealStatus): boolean {
    if (this.deal.status === to || !canMove(this.deal.status, to)) return false;
    this.setDeal({ status: to });
    this.persist({ op: 'touchDeal' });
    if (to === 'ended' || to === 'cancelled') this.effects.push({ type: 'remind', name: 'open', at: null });
    if (to === 'ended' || to === 'cancelled') this.effects.push({ type: 'remind', name: 'end', at: null });
    this.emitState();
    if (to === 'open' && this.deal.waitingRoom.enabled && roomBusy(this.state.room)) this.scheduleTick(this.now);
    return true;
  }

  /** Writes the room's ticket changes and tells newly admitted shoppers. */
  roomChanged(changes: RoomChanges): void {
    for (const ticket of changes.inserted) this.persist({ op: 'insertTicket', ticket });
    for (const ticket of changes.updated) this.persist({ op: 'updateTicket', ticket });
    for (const t of changes.admitted) {
      // The realtime layer signs the admission token for this payload (the transition holds no keys).
      this.effects.push({ type: 'publish', room: `user:${t.userId}`, event: 'queue:admitted', payload: { dealId: this.deal.id, userId: t.userId, expiresAt: iso(t.admissionExpiresAt!), at: this.now } });
    }
    if (changes.inserted.length + changes.updated.length > 0) this.persist({ op: 'touchDeal' });
  }

  /** Keeps the `queue` reminder (the admission tick) at or before `at`. */
  scheduleTick(at: number): void {
    const current = this.state.room.tickAt;
    if (current !== null && current <= at) return;
    this.state = { ...this.state, room: { ...this.state.room, tickAt: at } };
    this.effects.push({ type: 'remind', name: 'queue', at });
  }

  endAdmissionOf(userId: string, reason: AdmissionEnd): void {
    const { room, ended } = endAdmission(this.state.room, userId, reason, this.now);
    if (!ended) return;
    this.state = { ...this.state, room };
    this.roomChanged({ inserted: [], updated: [ended], admitted: [] });
  }

  ticketInfo(ticket: QueueTicket, created: boolean): TicketInfo {
    const room = this.state.room;
    return { dealId: this.deal.id, ticket, servingSeq: room.meta.servingSeq, outflowPerMinute: measuredOutflow(room, this.now), position: positionOf(room, ticket), created };
  }

  /** After stock moved: open <-> sold_out as remaining reaches or leaves zero. */
  settleSoldOut(): void {
    const d = this.deal;
    if (d.status === 'open' && d.remainingStock === 0) this.move('sold_out');
    else if (d.status === 'sold_out' && d.remainingStock > 0 && this.now < d.endsAt) this.move('open');
  }

  /**
   * Keeps the `holds` reminder at (or before) the end of the earliest live hold's expiry bucket
   * (see {@link EXPIRY_BUCKET_MS}: holds expiring close together share one reminder).
   */
  expiryAt(expiresAt: number): void {
    const at = reminderTimeFor(expiresAt);
    const current = this.state.holdsReminderAt;
    if (current !== null && current <= at) return;
    this.state = { ...this.state, holdsReminderAt: at };
    this.effects.push({ type: 'remind', name: 'holds', at });
  }

  /** Takes a live hold out (units back to stock), recording `status` for its row. */
  dropHold(hold: LiveHold, status: 'released' | 'expired'): void {
    const s = this.state;
    this.state = {
      ...s,
      holds: s.holds.delete(hold.id),
      perUser: decrement(s.perUser, hold.userId, hold.quantity),
      endedHolds: s.endedHolds.set(hold.id, hold.userId),
    };
    this.setDeal({ heldUnits: this.deal.heldUnits - hold.quantity, remainingStock: this.deal.remainingStock + hold.quantity });
    this.persist({ op: 'updateHold', id: hold.id, status });
    if (hold.status === 'active') this.effects.push({ type: 'tell', to: { kind: 'cart', id: hold.userId }, message: { type: 'holdRemoved', holdId: hold.id } });
  }

  done<T>(reply: Result<T>): Out {
    return { state: this.state, reply, effects: this.effects };
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

function decrement(map: DealState['perUser'], key: string, by: number): DealState['perUser'] {
  const next = (map.get(key) ?? 0) - by;
  return next > 0 ? map.set(key, next) : map.delete(key);
}

export function holdView(deal: DealRecord, hold: LiveHold): HoldView {
  return { id: hold.id, dealId: deal.id, userId: hold.userId, quantity: hold.quantity, unitPrice: hold.unitPrice, currency: deal.currency, expiresAt: hold.expiresAt };
}

/** Why a hold's admission no longer counts, and what the shopper can do (the `NOT_ADMITTED` detail). */
function admissionEndedDetail(ticket: QueueTicket | undefined): string {
  if (!ticket) return 'you have no place in this deal\'s waiting room: join the queue';
  if (ticket.status === 'waiting' || ticket.status === 'prequeue') return 'your admission has ended and you are back in the queue: wait for your turn';
  if (ticket.status === 'admitted' || ticket.endReason === 'expired') return 'your admission to this deal has expired: join the queue again';
  if (ticket.endReason === 'paid') return 'your admission to this deal was used for a paid order';
  if (ticket.endReason === 'revoked') return 'your admission to this deal was revoked';
  return `your admission to this deal has ended (${ticket.endReason ?? 'skipped'}): join the queue again`;
}

function notOpenDetail(deal: DealRecord, now: number): string {
  switch (deal.status) {
    case 'scheduled':
      return `the deal opens at ${iso(deal.startsAt)} (in ${Math.ceil((deal.startsAt - now) / 1000)} s)`;
    case 'paused':
      return 'the deal is paused';
    case 'ended':
      return `the deal ended at ${iso(deal.endsAt)}`;
    case 'cancelled':
      return 'the deal was cancelled';
    default:
      return `the deal is ${deal.status}`;
  }
}

/**
 * The deal actor's logic: a pure function of state and message (no I/O, no clock).
 *
 * Stock accounting: a `reserve` moves units from remaining to held; `release` and expiry move
 * them back; `sell` moves held to sold; `refundOrder` moves sold back to remaining while the deal
 * is still selling, else to returned. So `remaining + held + sold + returned == total` after every
 * turn, and `remaining` never goes below zero: a unit is never sold twice.
 */
export function dealTransition(state: DealState, message: DealMessage, rules: DealRules): Out {
  const turn = new Turn(state, message.now, rules);
  if (message.type === 'create') return create(turn, message);
  const deal = state.deal;
  if (!deal) return turn.done(fail('NOT_FOUND', 'no such deal'));
  const now = message.now;

  switch (message.type) {
    case 'snapshot': {
      // `queue`: shoppers waiting (pre-queue included) and holding a live admission.
      // `admittedTotal`: every admission since the start (the seller's conversion to paid).
      const queue = { waiting: waitingCount(state.room) + state.room.prequeue.size, admitted: state.room.active.size, admittedTotal: state.room.meta.admittedTotal };
      if (!message.userId) return turn.done(ok({ deal, seq: deal.seq, ticket: null, queue }));
      const ticket = state.room.tickets.get(message.userId);
      if (ticket) turn.state = { ...state, room: markSeen(state.room, [message.userId], now) };
      return turn.done(ok({ deal, seq: deal.seq, ticket: ticket ? turn.ticketInfo(ticket, false) : null, queue }));
    }

    case 'join': {
      if (!deal.waitingRoom.enabled) return turn.done(fail('INVALID_STATE', 'this deal has no waiting room: add it to your cart directly'));
      const existing = state.room.tickets.get(message.userId);
      if (!existing || rejoinsAtTheBack(existing)) {
        if (deal.status === 'ended' || deal.status === 'cancelled') return turn.done(fail('DEAL_NOT_OPEN', notOpenDetail(deal, now)));
        if (deal.status === 'sold_out') return turn.done(fail('SOLD_OUT', 'every unit is sold or held'));
      }
      const opened = deal.status !== 'scheduled' && now >= deal.startsAt;
      const joined = joinQueue(state.room, { userId: message.userId, ticketId: message.ticketId, now, startsAt: deal.startsAt, selling: opened });
      turn.state = { ...state, room: joined.room };
      turn.roomChanged(joined.changes);
      if (joined.ticket.status === 'waiting' && opened) turn.scheduleTick(now);
      return turn.done(ok(turn.ticketInfo(joined.ticket, joined.created)));
    }

    case 'ticket': {
      const ticket = state.room.tickets.get(message.userId);
      if (!ticket) return turn.done(fail('NOT_FOUND', 'you have no ticket for this deal: join its queue first'));
      turn.state = { ...state, room: markSeen(state.room, [message.userId], now) };
      return turn.done(ok(turn.ticketInfo(ticket, false)));
    }

    case 'seen':
      turn.state = { ...state, room: markSeen(state.room, message.userIds, now) };
      return turn.done(ok(null));

    case 'leave': {
      const { room, updated } = leaveQueue(state.room, message.userId, now);
      if (!state.room.tickets.has(message.userId)) return turn.done(fail('NOT_FOUND', 'you have no ticket for this deal'));
      turn.state = { ...state, room };
      if (updated) turn.roomChanged({ inserted: [], updated: [updated], admitted: [] });
      return turn.done(ok(null));
    }

    case 'revokeAdmission': {
      const before = state.room.tickets.get(message.userId);
      if (!before || before.status !== 'admitted') return turn.done(fail('NOT_FOUND', 'that shopper holds no live admission to this deal'));
      turn.endAdmissionOf(message.userId, 'revoked');
      return turn.done(ok(turn.ticketInfo(turn.state.room.tickets.get(message.userId)!, false)));
    }

    case 'reserve': {
      const { userId, holdId, quantity } = message;
      const existing = state.holds.get(holdId);
      if (existing) return turn.done(existing.userId === userId ? ok(holdView(deal, existing)) : fail('VALIDATION_FAILED', 'hold id already used'));
      const ended = state.endedHolds.get(holdId);
      if (ended !== undefined) {
        return turn.done(ended === userId ? fail('HOLD_EXPIRED', 'this hold was placed and has since ended (expired, released or bought): hold again with a new Idempotency-Key') : fail('VALIDATION_FAILED', 'hold id already used'));
      }
      if (!Number.isInteger(quantity) || quantity < 1) return turn.done(fail('VALIDATION_FAILED', 'quantity must be a whole number of at least 1'));
      if (deal.status === 'sold_out') return turn.done(fail('SOLD_OUT', 'every unit is sold or held'));
      if (deal.status !== 'open' || now < deal.startsAt || now >= deal.endsAt) return turn.done(fail('DEAL_NOT_OPEN', notOpenDetail(deal, now)));
      if (deal.waitingRoom.enabled) {
        const ticket = state.room.tickets.get(userId);
        if (!message.admitted) return turn.done(fail('NOT_ADMITTED', 'this deal has a waiting room: send the admission token you were given (X-Admission-Token)'));
        if (!ticket || ticket.status !== 'admitted' || ticket.admissionExpiresAt! <= now) return turn.done(fail('NOT_ADMITTED', admissionEndedDetail(ticket)));
      }
      const mine = state.perUser.get(userId) ?? 0;
      if (mine + quantity > deal.perUserLimit) {
        return turn.done(fail('LIMIT_EXCEEDED', `at most ${deal.perUserLimit} per shopper; you already have ${mine}`));
      }
      if (deal.remainingStock < quantity) return turn.done(fail('SOLD_OUT', deal.remainingStock === 0 ? 'every unit is sold or held' : `only ${deal.remainingStock} left`));
      const hold: LiveHold = { id: holdId, userId, quantity, unitPrice: deal.price, status: 'active', orderId: null, expiresAt: now + message.ttlMs, createdAt: now };
      turn.state = { ...state, holds: state.holds.set(hold), perUser: state.perUser.set(userId, mine + quantity) };
      turn.setDeal({ remainingStock: deal.remainingStock - quantity, heldUnits: deal.heldUnits + quantity });
      turn.persist({ op: 'insertHold', hold });
      turn.expiryAt(hold.expiresAt);
      const view = holdView(turn.deal, hold);
      turn.effects.push({ type: 'tell', to: { kind: 'cart', id: userId }, message: { type: 'holdPlaced', hold: view } });
      turn.stockChanged();
      turn.settleSoldOut();
      return turn.done(ok(view));
    }

    case 'release': {
      const hold = state.holds.get(message.holdId);
      if (!hold || hold.userId !== message.userId || hold.status !== 'active') return turn.done(fail('NOT_FOUND', 'no such hold in your cart'));
      turn.dropHold(hold, 'released');
      turn.stockChanged();
      turn.settleSoldOut();
      return turn.done(ok({ released: hold.quantity }));
    }

    case 'attach': {
      const items: AttachedItem[] = [];
      for (const holdId of message.holdIds) {
        const hold = state.holds.get(holdId);
        const usable = hold && hold.userId === message.userId && ((hold.status === 'active' && hold.expiresAt > now) || (hold.status === 'ordered' && hold.orderId === message.orderId));
        if (!usable) return turn.done(fail('HOLD_EXPIRED', `hold ${holdId} has expired or is no longer in your cart`));
        items.push({ holdId, dealId: deal.id, quantity: hold.quantity, unitPrice: hold.unitPrice, currency: deal.currency });
      }
      let holds = state.holds;
      for (const holdId of message.holdIds) {
        const hold = holds.get(holdId)!;
        if (hold.status === 'ordered') continue;
        holds = holds.set({ ...hold, status: 'ordered', orderId: message.orderId, expiresAt: message.until });
        turn.persist({ op: 'updateHold', id: holdId, status: 'ordered', orderId: message.orderId, expiresAt: message.until });
        turn.effects.push({ type: 'tell', to: { kind: 'cart', id: message.userId }, message: { type: 'holdRemoved', holdId } });
      }
      turn.state = { ...turn.state, holds };
      turn.expiryAt(message.until);
      return turn.done(ok(items));
    }

    case 'sell': {
      const ordered = state.holds.ofOrder(message.orderId);
      if (ordered.length === 0) {
        if (state.sold.has(message.orderId)) return turn.done(ok({ sold: 0 }));
        // Paid, but its units already went back (released or expired first): the order must give the
        // money back, never keep it for units it does not have.
        turn.effects.push({ type: 'send', to: { kind: 'order', id: message.orderId }, message: { type: 'unitsLost', now, dealId: deal.id } });
        return turn.done(fail('HOLD_EXPIRED', `order ${message.orderId} has no units held any more`));
      }
      let units = 0;
      let holds = state.holds;
      for (const hold of ordered) {
        units += hold.quantity;
        holds = holds.delete(hold.id);
        turn.persist({ op: 'updateHold', id: hold.id, status: 'sold' });
      }
      const sold = ordered.map((h) => ({ id: h.id, userId: h.userId, quantity: h.quantity, orderId: message.orderId }));
      let endedHolds = state.endedHolds;
      for (const h of ordered) endedHolds = endedHolds.set(h.id, h.userId);
      turn.state = { ...turn.state, holds, endedHolds, sold: state.sold.set(message.orderId, [...(state.sold.get(message.orderId) ?? []), ...sold]) };
      turn.setDeal({ heldUnits: deal.heldUnits - units, soldUnits: deal.soldUnits + units });
      // Paying ends the shopper's admission: their place goes to the next in the queue.
      for (const userId of new Set(ordered.map((h) => h.userId))) turn.endAdmissionOf(userId, 'paid');
      return turn.done(ok({ sold: units }));
    }

    case 'releaseOrder': {
      const ordered = state.holds.ofOrder(message.orderId);
      for (const hold of ordered) turn.dropHold(hold, message.reason === 'expired' ? 'expired' : 'released');
      if (message.reason === 'cancelled') for (const userId of new Set(ordered.map((h) => h.userId))) turn.endAdmissionOf(userId, 'cancelled');
      if (ordered.length > 0) {
        turn.stockChanged();
        turn.settleSoldOut();
      }
      return turn.done(ok({ released: ordered.reduce((n, h) => n + h.quantity, 0) }));
    }

    case 'refundOrder': {
      const sold = state.sold.get(message.orderId);
      if (!sold) return turn.done(ok({ refunded: 0 }));
      const units = sold.reduce((n, h) => n + h.quantity, 0);
      let perUser = state.perUser;
      for (const hold of sold) {
        perUser = decrement(perUser, hold.userId, hold.quantity);
        turn.persist({ op: 'updateHold', id: hold.id, status: 'refunded' });
      }
      turn.state = { ...turn.state, sold: state.sold.delete(message.orderId), perUser };
      if (isSelling(deal.status)) {
        turn.setDeal({ soldUnits: deal.soldUnits - units, remainingStock: deal.remainingStock + units });
        turn.stockChanged();
        turn.settleSoldOut();
      } else {
        turn.setDeal({ soldUnits: deal.soldUnits - units, returnedUnits: deal.returnedUnits + units });
      }
      return turn.done(ok({ refunded: units }));
    }

    case 'pause':
      if (deal.status === 'paused') return turn.done(ok(deal));
      if (!turn.move('paused')) return turn.done(fail('INVALID_STATE', `a ${deal.status} deal cannot be paused`));
      return turn.done(ok(turn.deal));

    case 'resume': {
      if (deal.status !== 'paused') return turn.done(deal.status === 'open' ? ok(deal) : fail('INVALID_STATE', `a ${deal.status} deal cannot be resumed`));
      const to: DealStatus = now >= deal.endsAt ? 'ended' : now < deal.startsAt ? 'scheduled' : deal.remainingStock === 0 ? 'sold_out' : 'open';
      turn.move(to);
      return turn.done(ok(turn.deal));
    }

    case 'cancel': {
      if (deal.status === 'cancelled') return turn.done(ok(deal));
      if (!canMove(deal.status, 'cancelled')) return turn.done(fail('INVALID_STATE', `a ${deal.status} deal cannot be cancelled`));
      // Holds still in carts go back at once; holds on unpaid orders wait for their order.
      for (const hold of state.holds.values()) if (hold.status === 'active') turn.dropHold(hold, 'released');
      turn.move('cancelled');
      return turn.done(ok(turn.deal));
    }

    case 'setWaitingRoom': {
      turn.setDeal({ waitingRoom: { ...deal.waitingRoom, ...message.settings } });
      turn.persist({ op: 'touchDeal' });
      // The next tick shows the new settings, even to a room with nobody waiting.
      turn.state = { ...turn.state, room: { ...turn.state.room, quiet: false } };
      if (turn.deal.waitingRoom.enabled && roomBusy(turn.state.room) && deal.status !== 'scheduled') turn.scheduleTick(now);
      return turn.done(ok(turn.deal));
    }

    case 'alarm':
      return alarm(turn, message.name, message.entropy);
  }
}

function create(turn: Turn, message: Extract<DealMessage, { type: 'create' }>): Out {
  const existing = turn.state.deal;
  if (existing) return turn.done(existing.id === message.deal.id ? ok(existing) : fail('INVALID_STATE', 'deal exists'));
  const d = message.deal;
  const now = message.now;
  const status: DealStatus = now >= d.endsAt ? 'ended' : now >= d.startsAt ? 'open' : 'scheduled';
  turn.state = {
    ...turn.state,
    deal: { ...d, remainingStock: d.totalStock, heldUnits: 0, soldUnits: 0, returnedUnits: 0, status, seq: 0, createdAt: now, updatedAt: now },
  };
  turn.persist({ op: 'insertDeal' });
  if (status === 'scheduled') turn.effects.push({ type: 'remind', name: 'open', at: d.startsAt });
  if (status !== 'ended') turn.effects.push({ type: 'remind', name: 'end', at: d.endsAt });
  return turn.done(ok(turn.deal));
}

function alarm(turn: Turn, name: string, entropy: string | undefined): Out {
  const deal = turn.deal;
  const now = turn.now;
  switch (name) {
    case 'open':
      if (deal.status === 'scheduled') {
        if (now < deal.startsAt) turn.effects.push({ type: 'remind', name: 'open', at: deal.startsAt });
        else turn.move(deal.remainingStock === 0 ? 'sold_out' : 'open');
      }
      break;
    case 'end':
      if (now < deal.endsAt) turn.effects.push({ type: 'remind', name: 'end', at: deal.endsAt });
      else turn.move('ended');
      break;
    case 'holds': {
      const due = turn.state.holds.due(now);
      for (const hold of due) turn.dropHold(hold, 'expired');
      const returned = due.length > 0;
      const next = turn.state.holds.nextReminderAt();
      turn.state = { ...turn.state, holdsReminderAt: next };
      turn.effects.push({ type: 'remind', name: 'holds', at: next });
      if (returned) {
        turn.stockChanged();
        turn.settleSoldOut();
      }
      break;
    }
    case 'queue':
      queueTick(turn, entropy);
      break;
    case 'stock': {
      // A timer can fire while a hold queued ahead of it has already published; then it is early
      // for the next window and waits for it instead of publishing twice in one window.
      if (!turn.state.stockPublishPending) break;
      const dueAt = turn.state.lastStockPublishAt + turn.rules.stockPublishIntervalMs;
      if (now >= dueAt) turn.flushStock();
      else turn.effects.push({ type: 'timer', name: 'stock', at: dueAt });
      break;
    }
  }
  return turn.done(ok(null));
}

/**
 * The waiting room's tick: shuffle at the start, admit, skip the gone, end expired admissions,
 * broadcast one `queue:progress`, and set the next tick while anyone waits or is admitted.
 */
function queueTick(turn: Turn, entropy: string | undefined): void {
  turn.state = { ...turn.state, room: { ...turn.state.room, tickAt: null } };
  const deal = turn.deal;
  if (!deal.waitingRoom.enabled || deal.status === 'ended' || deal.status === 'cancelled') return;
  const opened = deal.status !== 'scheduled' && turn.now >= deal.startsAt;
  if (!opened) return; // the `open` alarm starts the ticks
  const result = tickRoom(turn.state.room, {
    now: turn.now,
    settings: deal.waitingRoom,
    admitting: deal.status === 'open',
    opened,
    entropy: entropy ?? deal.id.replace(/[^0-9a-f]/g, '').slice(-8).padStart(8, '0'),
    rules: turn.rules.room,
  });
  turn.state = { ...turn.state, room: result.room };
  turn.roomChanged(result.changes);
  const room = result.room;
  const waiting = waitingCount(room);
  const nobodyWaits = waiting === 0 && room.prequeue.size === 0;
  // Quiet: the last progress already said nobody waits (see WaitingRoomState.quiet).
  if (!(nobodyWaits && room.quiet)) {
    if (room.quiet !== nobodyWaits) turn.state = { ...turn.state, room: { ...room, quiet: nobodyWaits } };
    turn.emit('queue:progress', {
      servingSeq: room.meta.servingSeq,
      waiting,
      admitted: room.active.size,
      admissionPerMinute: deal.waitingRoom.admissionPerMinute,
      maxActive: deal.waitingRoom.maxActive,
      outflowPerMinute: measuredOutflow(room, turn.now),
      skipped: room.meta.skipped,
      paused: deal.waitingRoom.paused === true,
    });
  }
  if (roomBusy(room)) turn.scheduleTick(turn.now + turn.rules.room.tickMs);
}

/** Every unit is somewhere: the property the tests check after every step. */
export function stockBalances(deal: DealRecord): boolean {
  return deal.remainingStock + deal.heldUnits + deal.soldUnits + deal.returnedUnits === deal.totalStock && deal.remainingStock >= 0 && deal.heldUnits >= 0 && deal.soldUnits >= 0;
}
