import type { HoldView } from '../actors/deal/messages';
import type { DealRecord } from '../actors/deal/state';
import type { OrderRecord } from '../actors/order/order-actor';
import type { Deal, Hold, Order } from './schemas';

const DAY_MS = 86_400_000;
/** Year 10000: from there on `toISOString` writes six-digit years. */
const ISO_LIMIT_MS = 253_402_300_800_000;
let isoDay = NaN;
let isoDate = '';
const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);

/**
 * `new Date(ms).toISOString()`, faster: every response of the hold path writes a few of these,
 * so the date part is kept from the last call and the time of day is put together by hand.
 */
export function iso(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms >= ISO_LIMIT_MS) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY_MS);
  if (day !== isoDay) {
    isoDate = new Date(day * DAY_MS).toISOString().slice(0, 11); // YYYY-MM-DDT
    isoDay = day;
  }
  let rest = ms - day * DAY_MS;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  const millis = rest - seconds * 1000;
  return `${isoDate}${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}.${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
}

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
