import { randomBytes } from 'node:crypto';
import type { ActorDefinition } from '../runtime/actor';
import { checkLifecycle, dealLifecycle } from './lifecycle';
import type { DealMessage } from './messages';
import { emptyDealState, type DealState } from './state';
import { dealStore } from './store';
import { dealTransition, type DealRules } from './transition';

export const DEAL = 'deal';

/**
 * The deal actor kind: one per deal, the single writer of its stock.
 * @throws Error at start-up if the deal lifecycle table is unsound.
 */
export function dealActor(rules: DealRules): ActorDefinition<DealState, DealMessage> {
  const problems = checkLifecycle(dealLifecycle, ['ended', 'cancelled']);
  if (problems.length > 0) throw new Error(`deal lifecycle table is unsound: ${problems.join('; ')}`);
  return {
    kind: DEAL,
    durable: true,
    store: dealStore,
    transition: (state, message) => dealTransition(state ?? emptyDealState(), message, rules),
    // The queue tick carries fresh randomness: the pre-queue shuffle's seed is drawn at the start,
    // so nobody can know it in advance.
    alarm: (name, now) => (name === 'queue' ? { type: 'alarm', name, now, entropy: randomBytes(8).toString('hex') } : { type: 'alarm', name, now }),
  };
}
