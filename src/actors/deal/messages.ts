import type { WaitingRoom } from '../../http/schemas';
import type { DealRecord } from './state';

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
  | { type: 'snapshot'; now: number }
  /** Put `quantity` units aside for `userId` until `now + ttlMs`. */
  | { type: 'reserve'; now: number; userId: string; holdId: string; quantity: number; ttlMs: number }
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
  | { type: 'setWaitingRoom'; now: number; settings: Partial<Pick<WaitingRoom, 'admissionPerMinute' | 'maxActive'>> }
  /** A fired reminder (`open`, `end`, `holds`) or timer (`stock`). */
  | { type: 'alarm'; now: number; name: string };

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
