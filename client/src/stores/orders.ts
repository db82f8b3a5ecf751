/** The shopper's orders, checkout (hold -> order -> payment) and cancellation. */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import { api, ApiError } from '../api';
import type { Cart, Hold, Order, Page, Payment, ShippingAddress } from '../types';

/** Most pages of `GET /api/orders` followed, as a guard against a cursor loop. */
const MAX_PAGES = 10;

/** What {@link useOrdersStore.buy} needs. */
export interface BuyRequest {
  dealId: string;
  quantity: number;
  shippingAddress: ShippingAddress;
  /** The waiting room's admission token, for deals that have one. */
  admissionToken?: string | null;
}

/** The order placed by a purchase, and the payment request's error if only that step failed. */
export interface BuyResult {
  order: Order;
  paymentError: unknown;
}

export const useOrdersStore = defineStore('orders', () => {
  const byId = ref<Record<string, Order>>({});
  const listIds = ref<string[]>([]);
  const listLoaded = ref(false);
  /** Payments started in this tab, by order id (for the "complete payment" link). */
  const payments = ref<Record<string, Payment>>({});
  const list = computed(() =>
    listIds.value
      .map((id) => byId.value[id])
      .filter((o): o is Order => !!o)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt)),
  );

  function upsert(order: Order): Order {
    byId.value[order.id] = order;
    if (!listIds.value.includes(order.id)) listIds.value.unshift(order.id);
    return order;
  }

  /**
   * `GET /api/orders?limit=100`: the shopper's own orders, following `nextCursor` (up to
   * {@link MAX_PAGES} pages). A bare array answer is accepted too.
   */
  async function fetchAll(): Promise<void> {
    const all: Order[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const answer: Order[] | Page<Order> = await api<Order[] | Page<Order>>(`/api/orders?limit=100${query}`);
      const items = Array.isArray(answer) ? answer : answer.items;
      all.push(...items);
      cursor = Array.isArray(answer) ? null : (answer.nextCursor ?? null);
      if (!cursor || items.length === 0) break;
    }
    for (const order of all) byId.value[order.id] = order;
    listIds.value = all.map((o) => o.id);
    listLoaded.value = true;
  }

  /** `GET /api/orders/:orderId` (404 `NOT_FOUND` for someone else's order). */
  async function fetchOne(id: string): Promise<Order> {
    return upsert(await api<Order>(`/api/orders/${encodeURIComponent(id)}`));
  }

  /** `POST /api/orders/:orderId/cancel`: only before payment (409 `INVALID_STATE` otherwise). */
  async function cancel(id: string): Promise<Order> {
    return upsert(await api<Order>(`/api/orders/${encodeURIComponent(id)}/cancel`, { method: 'POST' }));
  }

  /** `POST /api/orders/:orderId/payment` with a card: the gateway's webhook then marks it paid. */
  async function pay(id: string): Promise<Payment> {
    const payment = await api<Payment>(`/api/orders/${encodeURIComponent(id)}/payment`, { body: { method: 'card' } });
    payments.value[id] = payment;
    return payment;
  }

  /**
   * Buys a deal in three calls: a hold (`POST /api/cart/items`), an order from that hold
   * (`POST /api/orders`), then a card payment. If the order is refused, the hold is released so
   * the units return to the sale at once. Throws ApiError from the first two steps (`SOLD_OUT`,
   * `LIMIT_EXCEEDED`, `DEAL_NOT_OPEN`, `NOT_ADMITTED`, `HOLD_EXPIRED`...); a failed payment request
   * is returned instead, since the order exists and can be paid from its page.
   */
  async function buy(request: BuyRequest): Promise<BuyResult> {
    const { hold } = await api<{ hold: Hold; cart: Cart }>('/api/cart/items', {
      body: { dealId: request.dealId, quantity: request.quantity },
      headers: request.admissionToken ? { 'X-Admission-Token': request.admissionToken } : undefined,
    });
    let order: Order;
    try {
      order = upsert(
        await api<Order>('/api/orders', { body: { holdIds: [hold.id], shippingAddress: request.shippingAddress } }),
      );
    } catch (error) {
      if (error instanceof ApiError && error.status >= 400 && error.status < 500) {
        void api(`/api/cart/items/${encodeURIComponent(hold.id)}`, { method: 'DELETE' }).catch(() => undefined);
      }
      throw error;
    }
    try {
      await pay(order.id);
      return { order, paymentError: null };
    } catch (error) {
      return { order, paymentError: error };
    }
  }

  return { byId, list, listLoaded, payments, upsert, fetchAll, fetchOne, cancel, pay, buy };
});
