import type { EntityManager } from 'typeorm';
import type { HoldView } from '../deal/messages';
import { Batcher } from '../../persistence/batcher';
import { ok, type Result } from '../result';
import type { ActorDefinition, Transition } from '../runtime/actor';

export const CART = 'cart';

/**
 * A shopper's cart: the holds they have in carts across deals. Its state is derived: the holds
 * rows (written by deal actors) are the truth; the cart loads them on activation and the deals
 * tell it of each change. It writes nothing, so it is not durable.
 */
export interface CartState {
  userId: string;
  /** Soonest-expiring first (ties in the order they came). Never changed in place: a turn makes a new array. */
  holds: readonly HoldView[];
}

export type CartMessage =
  | { type: 'holdPlaced'; hold: HoldView }
  | { type: 'holdRemoved'; holdId: string }
  /** The holds not yet expired at `now`, oldest first. */
  | { type: 'list'; now: number }
  /** The given holds, if they are in the cart and not expired at `now`; `missing` lists the others. */
  | { type: 'lookup'; now: number; holdIds: string[] };

export function cartTransition(state: CartState, message: CartMessage): Transition<CartState, Result<unknown> | undefined> {
  switch (message.type) {
    case 'holdPlaced':
      return { state: { ...state, holds: withHold(state.holds, message.hold) } };
    case 'holdRemoved': {
      const at = state.holds.findIndex((h) => h.id === message.holdId);
      if (at < 0) return { state };
      return { state: { ...state, holds: state.holds.slice(0, at).concat(state.holds.slice(at + 1)) } };
    }
    case 'list':
      return { state, reply: ok(unexpired(state.holds, message.now)) };
    case 'lookup': {
      const found: HoldView[] = [];
      const missing: string[] = [];
      for (const id of message.holdIds) {
        const hold = state.holds.find((h) => h.id === id);
        if (hold && hold.expiresAt > message.now) found.push(hold);
        else missing.push(id);
      }
      return { state, reply: ok({ found, missing }) };
    }
  }
}

/** `holds` with `hold` put in (replacing one of its id), kept soonest-expiring first. */
function withHold(holds: readonly HoldView[], hold: HoldView): readonly HoldView[] {
  const others = holds.some((h) => h.id === hold.id) ? holds.filter((h) => h.id !== hold.id) : holds;
  // A new hold usually expires last: then it goes at the end.
  let at = others.length;
  while (at > 0 && others[at - 1].expiresAt > hold.expiresAt) at -= 1;
  // concat, not spread: a cart lives as long as its shopper's session, and a spread array keeps
  // room to grow (about 185 bytes for one hold against 53).
  return at === others.length ? others.concat([hold]) : others.slice(0, at).concat([hold], others.slice(at));
}

/** The holds not expired at `now` (the list itself when none has: it is never changed in place). */
function unexpired(holds: readonly HoldView[], now: number): readonly HoldView[] {
  let first = 0;
  while (first < holds.length && holds[first].expiresAt <= now) first += 1;
  return first === 0 ? holds : holds.slice(first);
}

/**
 * Every shopper's first hold activates their cart, so in a rush thousands of carts load at once:
 * their loads are grouped into one indexed query per batch (`user_id IN (…)`), not one each.
 */
const cartLoaders = new WeakMap<object, Batcher<string, HoldView[]>>();
function cartLoaderFor(manager: EntityManager): Batcher<string, HoldView[]> {
  let loader = cartLoaders.get(manager.connection);
  if (!loader) {
    const connection = manager.connection;
    loader = new Batcher(
      async (userIds) => {
        const unique = [...new Set(userIds)];
        const rows: Array<Record<string, string | number>> = await connection.manager.query(
          `SELECT id, user_id, deal_id, quantity, unit_price, currency, expires_at FROM holds WHERE status = 'active' AND user_id IN (${unique.map(() => '?').join(', ')})`,
          unique,
        );
        const carts = new Map<string, HoldView[]>(unique.map((u) => [u, []]));
        for (const h of rows) {
          const userId = String(h.user_id);
          carts.get(userId)!.push({ id: String(h.id), dealId: String(h.deal_id), userId, quantity: Number(h.quantity), unitPrice: Number(h.unit_price), currency: String(h.currency), expiresAt: Number(h.expires_at) });
        }
        return userIds.map((u) => [...carts.get(u)!].sort((a, b) => a.expiresAt - b.expiresAt));
      },
      { maxBatch: 200, concurrency: 2 },
    );
    cartLoaders.set(connection, loader);
  }
  return loader;
}

export const cartActor: ActorDefinition<CartState, CartMessage> = {
  kind: CART,
  durable: false,
  store: {
    async load(manager: EntityManager, userId: string): Promise<CartState> {
      return { userId, holds: await cartLoaderFor(manager).submit(userId) };
    },
    async save(): Promise<void> {
      throw new Error('the cart is derived state and saves nothing');
    },
  },
  transition: cartTransition,
  alarm: (_name, now) => ({ type: 'list', now }),
};
