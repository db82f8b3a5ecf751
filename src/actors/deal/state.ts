import { List, Map as IMap } from 'immutable';
import type { DealStatus, WaitingRoom } from '../../http/schemas';
import { emptyWaitingRoom, restoreWaitingRoom, type QueueMeta, type QueueTicket, type WaitingRoomState } from './waiting-room';
import { HoldBook } from './hold-book';

/** The deal's own fields, as stored in its row. Times are epoch ms, money minor units. */
export interface DealRecord {
  id: string;
  sellerId: string;
  title: string;
  description: string;
  category: string;
  imageUrl: string | null;
  price: number;
  originalPrice: number;
  currency: string;
  totalStock: number;
  /** Units neither held nor sold. */
  remainingStock: number;
  heldUnits: number;
  soldUnits: number;
  /** Units that came back after the deal closed: returned to the seller, not for sale. */
  returnedUnits: number;
  perUserLimit: number;
  startsAt: number;
  endsAt: number;
  status: DealStatus;
  waitingRoom: WaitingRoom;
  /** Last seq of the deal's live event stream. */
  seq: number;
  createdAt: number;
  updatedAt: number;
}

/** A hold still counting against stock: in a cart (`active`) or on an unpaid order (`ordered`). */
export interface LiveHold {
  id: string;
  userId: string;
  quantity: number;
  unitPrice: number;
  status: 'active' | 'ordered';
  orderId: string | null;
  expiresAt: number;
  createdAt: number;
}

/** A sold hold, kept so that a refund can find its units. */
export interface SoldHold {
  id: string;
  userId: string;
  quantity: number;
  orderId: string;
}

/**
 * The deal actor's state. `holds` (a {@link HoldBook}) and `perUser` are persistent (immutable.js):
 * a turn makes a new state in O(log n) instead of copying 100,000 holds.
 *
 * Invariants (checked by the property test): remainingStock + heldUnits + soldUnits +
 * returnedUnits == totalStock; heldUnits == the sum of live holds; perUser[u] == units of u's live
 * and sold holds <= perUserLimit; nothing negative.
 */
export interface DealState {
  deal: DealRecord | null;
  /** Live holds, indexed by order and by expiry. */
  holds: HoldBook;
  /** Sold holds by order id. */
  sold: IMap<string, SoldHold[]>;
  perUser: IMap<string, number>;
  /**
   * Holds that existed and ended (released, expired, sold, refunded): hold id -> shopper id. Hold ids
   * are derived from the shopper's Idempotency-Key, so a retry whose first attempt committed (its
   * answer lost to a timeout) and whose hold has since ended must be told so, not hold again under
   * an id the database already has.
   */
  endedHolds: IMap<string, string>;
  /** When the `holds` reminder is set for (epoch ms), or null. */
  holdsReminderAt: number | null;
  lastStockPublishAt: number;
  stockPublishPending: boolean;
  /** The deal's waiting room (empty when it has none). */
  room: WaitingRoomState;
}

export const emptyDealState = (): DealState => ({
  deal: null,
  holds: HoldBook.empty(),
  sold: IMap(),
  perUser: IMap(),
  endedHolds: IMap(),
  holdsReminderAt: null,
  lastStockPublishAt: 0,
  stockPublishPending: false,
  room: emptyWaitingRoom(),
});

/** A plain-JSON copy of the state (for audit, debugging and the snapshot round-trip test). */
export interface DealSnapshot {
  deal: DealRecord | null;
  holds: LiveHold[];
  sold: Array<[string, SoldHold[]]>;
  perUser: Array<[string, number]>;
  endedHolds: Array<[string, string]>;
  holdsReminderAt: number | null;
  lastStockPublishAt: number;
  stockPublishPending: boolean;
  room: { meta: QueueMeta; tickets: QueueTicket[]; lastSeen: Array<[string, number]>; outflow: Array<[number, number]>; tickAt: number | null; quiet?: boolean };
}

export function toSnapshot(state: DealState): DealSnapshot {
  return {
    deal: state.deal ? { ...state.deal, waitingRoom: { ...state.deal.waitingRoom } } : null,
    holds: [...state.holds.values()].map((h) => ({ ...h })),
    sold: [...state.sold.entries()].map(([orderId, holds]) => [orderId, holds.map((h) => ({ ...h }))]),
    perUser: [...state.perUser.entries()],
    endedHolds: [...state.endedHolds.entries()],
    holdsReminderAt: state.holdsReminderAt,
    lastStockPublishAt: state.lastStockPublishAt,
    stockPublishPending: state.stockPublishPending,
    room: {
      meta: { ...state.room.meta },
      tickets: [...state.room.tickets.values()].map((t) => ({ ...t })),
      lastSeen: [...state.room.lastSeen.entries()],
      outflow: state.room.outflow.toArray().map(([at, n]) => [at, n]),
      tickAt: state.room.tickAt,
      quiet: state.room.quiet,
    },
  };
}

export function fromSnapshot(snapshot: DealSnapshot): DealState {
  return {
    deal: snapshot.deal ? { ...snapshot.deal, waitingRoom: { ...snapshot.deal.waitingRoom } } : null,
    holds: HoldBook.of(snapshot.holds.map((h) => ({ ...h }))),
    sold: IMap(snapshot.sold.map(([orderId, holds]) => [orderId, holds.map((h) => ({ ...h }))] as const)),
    perUser: IMap(snapshot.perUser),
    endedHolds: IMap(snapshot.endedHolds),
    holdsReminderAt: snapshot.holdsReminderAt,
    lastStockPublishAt: snapshot.lastStockPublishAt,
    stockPublishPending: snapshot.stockPublishPending,
    room: {
      ...restoreWaitingRoom({ ...snapshot.room.meta }, snapshot.room.tickets.map((t) => ({ ...t })), 0),
      lastSeen: IMap(snapshot.room.lastSeen),
      outflow: List(snapshot.room.outflow.map(([at, n]) => [at, n] as const)),
      tickAt: snapshot.room.tickAt,
      quiet: snapshot.room.quiet ?? false,
    },
  };
}
