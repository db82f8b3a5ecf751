import type { HoldView } from '../actors/deal/messages';
import type { DealRecord } from '../actors/deal/state';
import type { OrderRecord } from '../actors/order/order-actor';
import type { Deal, Hold, Order } from './schemas';

const iso = (ms: number) => new Date(ms).toISOString();

/** A deal as the contract shows it (times ISO-8601 UTC). */
export function dealView(d: Pick<DealRecord, keyof Omit<Deal, 'startsAt' | 'endsAt'>> & { startsAt: number; endsAt: number }): Deal {
  return {
    id: d.id,
    sellerId: d.sellerId,
    title: d.title,
    description: d.description,
    category: d.category,
    imageUrl: d.imageUrl,
    price: d.price,
    originalPrice: d.originalPrice,
    currency: d.currency,
    totalStock: d.totalStock,
    remainingStock: d.remainingStock,
    perUserLimit: d.perUserLimit,
    startsAt: iso(d.startsAt),
    endsAt: iso(d.endsAt),
    status: d.status,
    waitingRoom: d.waitingRoom,
  };
}

export const holdView = (h: HoldView): Hold => ({ id: h.id, dealId: h.dealId, quantity: h.quantity, unitPrice: h.unitPrice, currency: h.currency, expiresAt: iso(h.expiresAt) });

export function orderView(o: OrderRecord): Order {
  return {
    id: o.id,
    status: o.status,
    items: o.items.map((i) => ({ dealId: i.dealId, quantity: i.quantity, unitPrice: i.unitPrice })),
    total: o.total,
    currency: o.currency,
    createdAt: iso(o.createdAt),
    expiresAt: iso(o.expiresAt),
    paidAt: o.paidAt === null ? null : iso(o.paidAt),
  };
}

/** The cart body: holds, their total and currency (null when empty). */
export function cartView(holds: HoldView[]) {
  return {
    holds: holds.map(holdView),
    total: holds.reduce((sum, h) => sum + h.quantity * h.unitPrice, 0),
    currency: holds[0]?.currency ?? null,
  };
}

/** Opaque keyset cursor: base64url of the sort key of the last item. */
export const encodeCursor = (parts: Array<string | number>): string => Buffer.from(JSON.stringify(parts)).toString('base64url');
export function decodeCursor(cursor: string): Array<string | number> | null {
  try {
    const parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    return Array.isArray(parts) ? parts : null;
  } catch {
    return null;
  }
}
