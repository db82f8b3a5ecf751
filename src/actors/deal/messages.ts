import type { WaitingRoom } from '../../http/schemas';
import type { DealRecord } from './state';
import type { QueueTicket } from './waiting-room';

/** Fields a seller gives when creating a deal (validated by the HTTP schema first). */
export type NewDeal = Pick<
  DealRecord,
  'id' | 'sellerId' | 'title' | 'description' | 'category' | 'imageUrl' | 'price' | 'originalPrice' | 'currency' | 'totalStock' | 'perUserLimit' | 'startsAt' | 'endsAt' | 'waitingRoom'
>;

/**
 * Messages of the deal actor. Every one carries `now` (epoch ms): the transition never reads a
 * clock. Ids that a turn creates (hold ids) come in the message too, so a turn is deterministic.
 */
export type DealMessage =
  | { type: 'create'; now: number; deal: NewDeal }
  /** The deal and its stream seq; with `userId`, also that shopper's ticket (and marks them seen). */
  | { type: 'snapshot'; now: number; userId?: string }
  /**
   * Put `quantity` units aside for `userId` until `now + ttlMs`. `admitted`: the caller checked an
   * admission token for this shopper and deal (needed when the deal's waiting room is on).
   */
  | { type: 'reserve'; now: number; userId: string; holdId: string; quantity: number; ttlMs: number; admitted?: boolean }
  /** A shopper asks for a place in the waiting room (idempotent per shopper). */
  | { type: 'join'; now: number; userId: string; ticketId: string }
  /** A shopper's ticket (a poll: marks them seen). */
  | { type: 'ticket'; now: number; userId: string }
  /** Shoppers with a live socket in the deal's room (sent periodically by each node). */
  | { type: 'seen'; now: number; userIds: string[] }
  /** A shopper leaves the waiting room (an admission ends, freeing its place). */
  | { type: 'leave'; now: number; userId: string }
  /** An admin ends a shopper's admission. */
  | { type: 'revokeAdmission'; now: number; userId: string }
  /** The shopper removes a hold from the cart: its units return. */
  | { type: 'release'; now: number; userId: string; holdId: string }
  /** Attach active holds to an order; they stop expiring with the cart and wait for payment until `until`. */
  | { type: 'attach'; now: number; userId: string; orderId: string; holdIds: string[]; until: number }
  /** The order was paid: its holds become sold units. */
  | { type: 'sell'; now: number; orderId: string }
  /** The order was cancelled or expired before payment: its units return. */
  | { type: 'releaseOrder'; now: number; orderId: string; reason: 'cancelled' | 'expired' }
  /** The order was refunded: its sold units return (to stock while the deal sells, else to the seller). */
  | { type: 'refundOrder'; now: number; orderId: string }
  | { type: 'pause'; now: number }
  | { type: 'resume'; now: number }
  | { type: 'cancel'; now: number }
  | { type: 'setWaitingRoom'; now: number; settings: Partial<Pick<WaitingRoom, 'admissionPerMinute' | 'maxActive' | 'paused'>> }
  /**
   * A fired reminder (`open`, `end`, `holds`, `queue`) or timer (`stock`). `entropy`: fresh random
   * hex from the runtime's side (the pre-queue shuffle's seed), so the transition stays pure.
   */
  | { type: 'alarm'; now: number; name: string; entropy?: string };

/** A ticket as the deal reports it: the ticket and what a client needs to place it. */
export interface TicketInfo {
  dealId: string;
  ticket: QueueTicket;
  servingSeq: number;
  /** Admissions per minute measured over the last minute, or null before the first tick. */
  outflowPerMinute: number | null;
  position: number | null;
  /** True when this call made the ticket. */
  created: boolean;
}

/** A hold as the deal reports it to callers (one cart line). */
export interface HoldView {
  id: string;
  dealId: string;
  userId: string;
  quantity: number;
  unitPrice: number;
  currency: string;
  expiresAt: number;
}

/** What `attach` gives back: the order's lines. */
export interface AttachedItem {
  holdId: string;
  dealId: string;
  quantity: number;
  unitPrice: number;
  currency: string;
}
