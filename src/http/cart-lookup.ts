import type { FastifyInstance } from 'fastify';
import type { HoldView } from '../actors/deal/messages';
import type { Result } from '../actors/result';
import { unwrap } from './problem';

/**
 * Finds the caller's holds in their cart. The cart is derived state kept current by the deals'
 * best-effort notices; before calling a hold missing, it is reloaded from the holds table once.
 */
export async function lookupHolds(app: FastifyInstance, userId: string, holdIds: string[], now: number): Promise<{ found: HoldView[]; missing: string[] }> {
  const cart = { kind: 'cart', id: userId };
  const ask = async () => unwrap(await app.actors.ask<Result<{ found: HoldView[]; missing: string[] }>>(cart, { type: 'lookup', now, holdIds }));
  const first = await ask();
  if (first.missing.length === 0) return first;
  app.actors.refresh(cart);
  return ask();
}

