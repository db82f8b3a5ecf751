import type { FastifyInstance } from 'fastify';
import type { DealRecord } from '../actors/deal/state';
import type { Result } from '../actors/result';
import { OrderEntity, OrderItemEntity } from '../persistence/entities/order.entity';
import { HttpProblem, unwrap } from './problem';
import type { Sales } from './schemas';

/** {@link salesOf}'s answer: the contract's `Sales`, and every admission since the start. */
export type LiveSales = Sales & { admittedTotal: number };

/**
 * A deal's sales figures: stock from the deal actor, paid orders and revenue from the orders read
 * model. For `GET /api/seller/deals/:id/sales` and `seller:watch`.
 * @throws HttpProblem NOT_FOUND for an unknown deal, or another seller's deal unless `isAdmin`.
 */
export async function salesOf(app: FastifyInstance, dealId: string, userId: string, isAdmin: boolean): Promise<LiveSales> {
  const { deal, queue } = unwrap(await app.actors.ask<Result<{ deal: DealRecord; queue: { waiting: number; admitted: number; admittedTotal: number } }>>({ kind: 'deal', id: dealId }, { type: 'snapshot', now: Date.now() }));
  if (!isAdmin && deal.sellerId !== userId) throw new HttpProblem('NOT_FOUND', 'no such deal among yours');
  const totals = await app.db.read((m) =>
    m
      .createQueryBuilder(OrderItemEntity, 'i')
      .innerJoin(OrderEntity, 'o', 'o.id = i.order_id')
      .select('COUNT(DISTINCT i.order_id)', 'orders')
      .addSelect('COALESCE(SUM(i.quantity * i.unit_price), 0)', 'revenue')
      .where('i.deal_id = :dealId AND o.status = :paid', { dealId, paid: 'paid' })
      .getRawOne<{ orders: string | number; revenue: string | number }>(),
  );
  return {
    dealId,
    soldUnits: deal.soldUnits,
    heldUnits: deal.heldUnits,
    remainingStock: deal.remainingStock,
    revenue: Number(totals?.revenue ?? 0),
    currency: deal.currency,
    orders: Number(totals?.orders ?? 0),
    waiting: queue.waiting,
    admitted: queue.admitted,
    admittedTotal: queue.admittedTotal,
  };
}
