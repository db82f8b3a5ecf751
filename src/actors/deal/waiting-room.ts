import { List, Map as IMap, OrderedMap } from 'immutable';
import { unsafeUniformIntDistribution, xoroshiro128plus } from 'pure-rand';

/**
 * The waiting room of one deal: tickets, the pre-queue shuffle and admission. Pure functions over
 * {@link WaitingRoomState}; the deal actor calls them inside its turns (so the room and the stock
 * share one mailbox and one commit), and turns their results into rows and live events.
 *
 * Order and fairness:
 * - Before the start, tickets go into a pre-queue in arrival order. At the first tick after the
 *   deal opens the pre-queue is shuffled once with a seeded PRNG (Fisher-Yates, Durstenfeld's
 *   in-place form, Knuth TAOCP vol. 2 §3.4.2 Algorithm P; xoroshiro128+ from pure-rand) and
 *   numbered 1..n, so arriving 3 s early is no better than 30 s early. The seed is stored for audit:
 *   {@link shuffleOrder} with the same seed and arrival order gives the same order.
 * - Later arrivals get the next seq, first come first served.
 * - Admission walks seqs strictly in order from `servingSeq + 1`: each ticket is admitted, or
 *   skipped if its shopper is gone (no socket and no poll for `goneAfterMs`). So every ticket at or
 *   below `servingSeq` is settled and every one above it waits: a shopper's position is
 *   `seq - servingSeq - 1`, which each client computes from one broadcast per tick (O(1) per tick
 *   however long the queue).
 * - Rate: a token bucket of `admissionPerMinute` (refilled continuously, capped at two ticks'
 *   worth, so a pause or a full room never banks a burst); concurrency: at most `maxActive`
 *   admissions live at once. An admission ends when the shopper pays, cancels, leaves, is revoked,
 *   or when it expires (`admissionTtlMs`).
 */

/** `done`: admission over (paid, cancelled, left, expired, revoked); `skipped`: gone when reached. */
export type TicketStatus = 'prequeue' | 'waiting' | 'admitted' | 'done' | 'skipped';
export type AdmissionEnd = 'paid' | 'cancelled' | 'left' | 'expired' | 'revoked';

/** One shopper's place in one deal's queue. Times are epoch ms. */
export interface QueueTicket {
  id: string;
  userId: string;
  /** 1-based order of joining (the pre-queue's input order). */
  arrival: number;
  /** Place in the queue; null while in the pre-queue. */
  seq: number | null;
  status: TicketStatus;
  joinedAt: number;
  admittedAt: number | null;
  admissionExpiresAt: number | null;
  endedAt: number | null;
  endReason: AdmissionEnd | 'gone' | null;
}

/** The room's counters, stored as JSON with the deal row. */
export interface QueueMeta {
  /** Hex seed of the pre-queue shuffle, set when it ran (`'none'` if the pre-queue was empty). */
  seed: string | null;
  arrivals: number;
  lastSeq: number;
  /** Every ticket with seq <= servingSeq is admitted, skipped or done. */
  servingSeq: number;
  skipped: number;
  admittedTotal: number;
  /** Admissions the rate allows now (token bucket, fractional). */
  credit: number;
  lastTickAt: number | null;
}

export interface WaitingRoomState {
  meta: QueueMeta;
  /** Tickets by shopper. */
  tickets: IMap<string, QueueTicket>;
  /** Shopper by seq. */
  bySeq: IMap<number, string>;
  /** Shoppers in the pre-queue, in arrival order. */
  prequeue: List<string>;
  /**
   * Live admissions: shopper -> admission expiry (epoch ms), in expiry order. Every admission lives
   * `admissionTtlMs` from its tick, so admission order is expiry order and a tick stops at the first
   * admission still live: O(expired), not O(active). (A wall clock stepped back makes later
   * admissions expire earlier; they then end at most that step late, their tokens still refused on
   * time.)
   */
  active: OrderedMap<string, number>;
  /** Last sign of life per shopper (join, poll, socket presence). In memory only. */
  lastSeen: IMap<string, number>;
  /** Admissions per recent tick, `[at, count]`, for the measured outflow. In memory only. */
  outflow: List<readonly [number, number]>;
  /** When the `queue` reminder is set for, or null. */
  tickAt: number | null;
  /**
   * The last `queue:progress` said nobody waits (none in the line or the pre-queue): the ticks
   * that follow publish nothing until someone waits again or a setting changes, since there is no
   * progress to show and every event costs one write per watcher. In memory only.
   */
  quiet: boolean;
}

/** Settings fixed for the life of the process. */
export interface WaitingRoomRules {
  /** Ms between two admission ticks (and `queue:progress` events). */
  tickMs: number;
  /** A waiting shopper not seen for this long is skipped when reached. */
  goneAfterMs: number;
  /** How long an admission lasts. */
  admissionTtlMs: number;
}

/** Live settings of a deal's room (the deal's `waitingRoom`). */
export interface RoomSettings {
  enabled: boolean;
  admissionPerMinute: number;
  maxActive: number;
  paused?: boolean;
}

/** Most tickets one tick looks at (admitted plus skipped), so a tick stays short. */
export const TICK_SCAN_LIMIT = 5000;
const OUTFLOW_WINDOW_MS = 60_000;

export const emptyQueueMeta = (): QueueMeta => ({ seed: null, arrivals: 0, lastSeq: 0, servingSeq: 0, skipped: 0, admittedTotal: 0, credit: 0, lastTickAt: null });

export const emptyWaitingRoom = (meta: QueueMeta = emptyQueueMeta()): WaitingRoomState => ({
  meta,
  tickets: IMap(),
  bySeq: IMap(),
  prequeue: List(),
  active: OrderedMap(),
  lastSeen: IMap(),
  outflow: List(),
  tickAt: null,
  quiet: false,
});

/** Builds a room from stored tickets (any order) and counters; every shopper counts as seen at `now`. */
export function restoreWaitingRoom(meta: QueueMeta, tickets: QueueTicket[], now: number): WaitingRoomState {
  const byUser = IMap<string, QueueTicket>().asMutable();
  const bySeq = IMap<number, string>().asMutable();
  const admitted: QueueTicket[] = [];
  const lastSeen = IMap<string, number>().asMutable();
  const pre: QueueTicket[] = [];
  for (const t of tickets) {
    byUser.set(t.userId, t);
    lastSeen.set(t.userId, now);
    if (t.seq !== null) bySeq.set(t.seq, t.userId);
    if (t.status === 'prequeue') pre.push(t);
    if (t.status === 'admitted' && t.admissionExpiresAt !== null) admitted.push(t);
  }
  pre.sort((a, b) => a.arrival - b.arrival);
  admitted.sort((a, b) => a.admissionExpiresAt! - b.admissionExpiresAt!);
  return {
    ...emptyWaitingRoom(meta),
    tickets: byUser.asImmutable(),
    bySeq: bySeq.asImmutable(),
    prequeue: List(pre.map((t) => t.userId)),
    active: OrderedMap(admitted.map((t) => [t.userId, t.admissionExpiresAt!] as const)),
    lastSeen: lastSeen.asImmutable(),
  };
}

/**
 * The pre-queue's final order: a Fisher-Yates shuffle of `arrivalOrder` driven by xoroshiro128+
 * seeded with the 32-bit number in `seedHex`. Deterministic: the same seed and input give the same
 * output, which is how an audit checks a sale's order.
 */
export function shuffleOrder<T>(arrivalOrder: readonly T[], seedHex: string): T[] {
  const seed = Number.parseInt(seedHex.slice(0, 8), 16) | 0;
  const rng = xoroshiro128plus(seed);
  const out = arrivalOrder.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = unsafeUniformIntDistribution(0, i, rng);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}

/** What changed in the room in one call, for the store and the live events. */
export interface RoomChanges {
  inserted: QueueTicket[];
  /** Tickets whose row must be rewritten (status, seq, admission). */
  updated: QueueTicket[];
  /** Shoppers admitted by this call (each gets `queue:admitted`). */
  admitted: QueueTicket[];
}

const noChanges = (): RoomChanges => ({ inserted: [], updated: [], admitted: [] });

/** Whether new tickets go to the pre-queue: before the start, or while the start's shuffle is pending. */
function joinsPrequeue(room: WaitingRoomState, now: number, startsAt: number, selling: boolean): boolean {
  if (!selling || now < startsAt) return true;
  return room.meta.seed === null && room.prequeue.size > 0;
}

/**
 * Ends of a place after which the shopper may join again, at the back: skipped as gone, or an
 * admission that bought nothing (it expired, the shopper left, or cancelled its order). A paid or
 * revoked admission is final: joining again returns the ended ticket.
 */
const REJOINABLE_ENDS: ReadonlySet<QueueTicket['endReason']> = new Set(['gone', 'expired', 'left', 'cancelled']);

/** Whether joining again gives `ticket`'s shopper a new place at the back (see `REJOINABLE_ENDS`). */
export function rejoinsAtTheBack(ticket: QueueTicket): boolean {
  return (ticket.status === 'skipped' || ticket.status === 'done') && REJOINABLE_ENDS.has(ticket.endReason);
}

/**
 * A shopper asks for a place. Idempotent per shopper: the same ticket comes back (`created:
 * false`) while it is live, or after a paid or revoked admission. A ticket that ended without a
 * purchase ({@link rejoinsAtTheBack}) gets a new place at the back once the queue is numbered (its
 * id stays; a shopper who left the pre-queue can come back when the sale opens).
 * `selling`: the deal is open (or sold out / paused after opening), so new tickets are numbered.
 */
export function joinQueue(
  room: WaitingRoomState,
  input: { userId: string; ticketId: string; now: number; startsAt: number; selling: boolean },
): { room: WaitingRoomState; ticket: QueueTicket; created: boolean; changes: RoomChanges } {
  const { userId, now } = input;
  const changes = noChanges();
  const existing = room.tickets.get(userId);
  const lastSeen = room.lastSeen.set(userId, now);
  const prequeueOpen = joinsPrequeue(room, now, input.startsAt, input.selling);
  if (existing && (!rejoinsAtTheBack(existing) || prequeueOpen)) return { room: { ...room, lastSeen }, ticket: existing, created: false, changes };
  const meta = { ...room.meta };
  let ticket: QueueTicket;
  let { bySeq, prequeue } = room;
  if (existing) {
    // Back after being skipped or after an admission that bought nothing: the back of the queue.
    meta.lastSeq += 1;
    ticket = { ...existing, seq: meta.lastSeq, status: 'waiting', admittedAt: null, admissionExpiresAt: null, endedAt: null, endReason: null };
    bySeq = bySeq.set(meta.lastSeq, userId);
    changes.updated.push(ticket);
  } else {
    meta.arrivals += 1;
    if (!prequeueOpen) meta.lastSeq += 1;
    ticket = {
      id: input.ticketId,
      userId,
      arrival: meta.arrivals,
      seq: prequeueOpen ? null : meta.lastSeq,
      status: prequeueOpen ? 'prequeue' : 'waiting',
      joinedAt: now,
      admittedAt: null,
      admissionExpiresAt: null,
      endedAt: null,
      endReason: null,
    };
    if (prequeueOpen) prequeue = prequeue.push(userId);
    else bySeq = bySeq.set(meta.lastSeq, userId);
    changes.inserted.push(ticket);
  }
  return { room: { ...room, meta, bySeq, prequeue, lastSeen, tickets: room.tickets.set(userId, ticket) }, ticket, created: !existing, changes };
}

/** Marks shoppers as present (a poll, a socket in the deal's room). Unknown shoppers are ignored. */
export function markSeen(room: WaitingRoomState, userIds: readonly string[], now: number): WaitingRoomState {
  const lastSeen = room.lastSeen.withMutations((m) => {
    for (const id of userIds) if (room.tickets.has(id)) m.set(id, now);
  });
  return { ...room, lastSeen };
}

/** Ends a shopper's live admission (`reason`); a shopper not admitted is left as is. */
export function endAdmission(room: WaitingRoomState, userId: string, reason: AdmissionEnd, now: number): { room: WaitingRoomState; ended: QueueTicket | null } {
  const ticket = room.tickets.get(userId);
  if (!ticket || ticket.status !== 'admitted') return { room, ended: null };
  const ended: QueueTicket = { ...ticket, status: 'done', endedAt: now, endReason: reason };
  return { room: { ...room, tickets: room.tickets.set(userId, ended), active: room.active.delete(userId) }, ended };
}

/**
 * A shopper leaves: an admission ends (its place frees up); a waiting ticket ends at once (`done`,
 * `left`: passed over when reached, whatever the shopper's presence says afterwards); a pre-queue
 * ticket is dropped before the shuffle. Joining again gives a new place at the back.
 */
export function leaveQueue(room: WaitingRoomState, userId: string, now: number): { room: WaitingRoomState; updated: QueueTicket | null } {
  const ticket = room.tickets.get(userId);
  if (!ticket) return { room, updated: null };
  if (ticket.status === 'admitted') {
    const { room: next, ended } = endAdmission(room, userId, 'left', now);
    return { room: next, updated: ended };
  }
  if (ticket.status !== 'waiting' && ticket.status !== 'prequeue') return { room, updated: null };
  // A waiting place ends now rather than being marked gone: a page still open keeps marking its
  // shopper present, which would undo the mark.
  const left: QueueTicket = { ...ticket, status: 'done', endedAt: now, endReason: 'left' };
  const prequeue = ticket.status === 'prequeue' ? room.prequeue.filter((u) => u !== userId) : room.prequeue;
  return { room: { ...room, tickets: room.tickets.set(userId, left), prequeue }, updated: left };
}

/** Admissions counted in an outflow window, by window (the list is immutable: summed once per tick, not per join). */
const outflowSums = new WeakMap<WaitingRoomState['outflow'], number>();

/** Admissions per minute measured over the last minute of ticks (null before the first one). */
export function measuredOutflow(room: WaitingRoomState, now: number): number | null {
  const first = room.outflow.first();
  if (!first) return null;
  const span = Math.max(now - first[0], 1000);
  let n = outflowSums.get(room.outflow);
  if (n === undefined) {
    n = 0;
    for (const [, count] of room.outflow) n += count;
    outflowSums.set(room.outflow, n);
  }
  return (n * 60_000) / span;
}

export interface TickInput {
  now: number;
  settings: RoomSettings;
  /** Admit only while the deal sells (`open`). */
  admitting: boolean;
  /** Whether the deal has opened (the pre-queue may be shuffled). */
  opened: boolean;
  /** Fresh randomness for the shuffle (hex, at least 8 digits). */
  entropy: string;
  rules: WaitingRoomRules;
}

export interface TickResult {
  room: WaitingRoomState;
  changes: RoomChanges;
  /** Whether the shuffle ran in this tick. */
  shuffled: boolean;
  /** Admissions that ended by expiry in this tick. */
  expired: QueueTicket[];
  skipped: QueueTicket[];
}

/**
 * One admission tick at `now`: shuffle the pre-queue if the deal has opened, end expired
 * admissions, refill the bucket, then admit (or skip the gone) in seq order while both the rate and
 * `maxActive` allow, looking at no more than {@link TICK_SCAN_LIMIT} tickets.
 */
export function tickRoom(room: WaitingRoomState, input: TickInput): TickResult {
  const { now, settings, rules } = input;
  const changes = noChanges();
  const expired: QueueTicket[] = [];
  const skipped: QueueTicket[] = [];
  const meta = { ...room.meta };
  const tickets = room.tickets.asMutable();
  const bySeq = room.bySeq.asMutable();
  const active = room.active.asMutable();
  let prequeue = room.prequeue;
  let shuffled = false;

  if (input.opened && meta.seed === null) {
    const seed = prequeue.size > 0 ? input.entropy.slice(0, 8) : 'none';
    const order = prequeue.size > 0 ? shuffleOrder(prequeue.toArray(), seed) : [];
    // Later arrivals that got a seq before the shuffle ran cannot exist (they join the pre-queue
    // while it is pending), so the shuffled tickets take seqs 1..n.
    for (const userId of order) {
      meta.lastSeq += 1;
      const t: QueueTicket = { ...tickets.get(userId)!, seq: meta.lastSeq, status: 'waiting' };
      tickets.set(userId, t);
      bySeq.set(meta.lastSeq, userId);
      changes.updated.push(t);
    }
    meta.seed = seed;
    prequeue = List();
    shuffled = order.length > 0;
  }

  for (const [userId, expiresAt] of room.active) {
    if (expiresAt > now) break; // in expiry order: every later one is live too
    const t: QueueTicket = { ...tickets.get(userId)!, status: 'done', endedAt: now, endReason: 'expired' };
    tickets.set(userId, t);
    active.delete(userId);
    expired.push(t);
    changes.updated.push(t);
  }

  const rate = settings.admissionPerMinute;
  const elapsed = meta.lastTickAt === null ? rules.tickMs : Math.max(0, now - meta.lastTickAt);
  const cap = Math.max(1, (rate * 2 * rules.tickMs) / 60_000);
  meta.credit = Math.min(cap, meta.credit + (rate * elapsed) / 60_000);
  meta.lastTickAt = now;

  let admittedNow = 0;
  if (input.admitting && !settings.paused) {
    let scanned = 0;
    while (meta.servingSeq < meta.lastSeq && scanned < TICK_SCAN_LIMIT && meta.credit >= 1 && active.size < settings.maxActive) {
      const seq = meta.servingSeq + 1;
      scanned += 1;
      const userId = bySeq.get(seq);
      const t = userId === undefined ? undefined : tickets.get(userId);
      meta.servingSeq = seq;
      if (!t || t.status !== 'waiting' || t.seq !== seq) continue; // rejoined later under a new seq
      const seen = room.lastSeen.get(t.userId) ?? t.joinedAt;
      if (now - seen > rules.goneAfterMs) {
        const s: QueueTicket = { ...t, status: 'skipped', endedAt: now, endReason: 'gone' };
        tickets.set(t.userId, s);
        meta.skipped += 1;
        skipped.push(s);
        changes.updated.push(s);
        continue;
      }
      const a: QueueTicket = { ...t, status: 'admitted', admittedAt: now, admissionExpiresAt: now + rules.admissionTtlMs };
      tickets.set(t.userId, a);
      active.set(t.userId, a.admissionExpiresAt!);
      meta.credit -= 1;
      meta.admittedTotal += 1;
      admittedNow += 1;
      changes.updated.push(a);
      changes.admitted.push(a);
    }
  }

  let outflow = room.outflow.push([now, admittedNow] as const);
  while (outflow.size > 1 && now - outflow.first()![0] > OUTFLOW_WINDOW_MS) outflow = outflow.shift();

  return {
    room: { ...room, meta, tickets: tickets.asImmutable(), bySeq: bySeq.asImmutable(), active: active.asImmutable(), prequeue, outflow },
    changes,
    shuffled,
    expired,
    skipped,
  };
}

/** Tickets waiting for admission (numbered, not yet reached). */
export const waitingCount = (room: WaitingRoomState): number => room.meta.lastSeq - room.meta.servingSeq;

/** Whether the room still needs ticks: someone waits (or is pre-queued) or holds an admission. */
export const roomBusy = (room: WaitingRoomState): boolean => waitingCount(room) > 0 || room.active.size > 0 || room.prequeue.size > 0;

/** How many tickets are ahead of `ticket`: `seq - servingSeq - 1` while waiting, 0 after, null in the pre-queue. */
export function positionOf(room: WaitingRoomState, ticket: QueueTicket): number | null {
  if (ticket.status === 'prequeue') return null;
  if (ticket.status !== 'waiting' || ticket.seq === null) return 0;
  return Math.max(0, ticket.seq - room.meta.servingSeq - 1);
}
