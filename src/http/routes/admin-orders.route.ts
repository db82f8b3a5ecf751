import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Brackets } from 'typeorm';
import type { OrderRecord } from '../../actors/order/order-actor';
import type { Result } from '../../actors/result';
import { DealEntity } from '../../persistence/entities/deal.entity';
import { OrderEntity, OrderItemEntity } from '../../persistence/entities/order.entity';
import { UserEntity } from '../../persistence/entities/user.entity';
import { HttpProblem, unwrap } from '../problem';
import { DealSchema, OrderSchema, ProblemSchema, Schemas } from '../schemas';
import { dealView, decodeCursor, encodeCursor, orderView } from '../views';

const problems = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ProblemSchema]));
const OrderStatus = Type.Union(['pending_payment', 'paid', 'cancelled', 'expired', 'refunded'].map((s) => Type.Literal(s)));

export const AdminOrderSchema = Type.Composite([OrderSchema, Type.Object({ userId: Schemas.Id, userEmail: Schemas.Nullable(Type.String()) })]);
export type AdminOrder = Static<typeof AdminOrderSchema>;

export const SalesHistoryRowSchema = Type.Object({
  deal: DealSchema,
  /** Paid orders with units of this deal, and what they paid for them (minor units). */
  paidOrders: Type.Integer(),
  paidUnits: Type.Integer(),
  revenue: Schemas.Money,
  refundedOrders: Type.Integer(),
});
export type SalesHistoryRow = Static<typeof SalesHistoryRowSchema>;

/**
 * Orders across all shoppers for the admin (filter by status, find by order id or email, refund),
 * and a seller's sales history (every deal of theirs with its paid totals). Refunds go to the
 * order actor as the owner's own refund would: the actor checks the state (only `paid`), returns
 * the units to the deals, and the payment work refunds at the gateway.
 */
const adminOrderRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/admin/orders',
    {
      onRequest: [app.requireRole('admin')],
      schema: {
        tags: ['admin'],
        summary: 'Orders of every shopper, newest first (keyset pagination); q is an order id or part of an email',
        security: [{ bearer: [] }],
        querystring: Type.Object(
          {
            status: Type.Optional(OrderStatus),
            dealId: Type.Optional(Schemas.Id),
            q: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
            limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
            cursor: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(AdminOrderSchema), nextCursor: Schemas.Nullable(Type.String()) }), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const { status, dealId, q, limit, cursor } = request.query;
      const after = cursor === undefined ? null : decodeCursor(cursor);
      if (cursor !== undefined && (!after || after.length !== 2)) throw new HttpProblem('VALIDATION_FAILED', 'the cursor is not one this server gave');
      const { rows, items, users } = await app.db.read(async (m) => {
        const qb = m.createQueryBuilder(OrderEntity, 'o');
        if (status) qb.andWhere('o.status = :status', { status });
        if (dealId) qb.andWhere('o.id IN (SELECT i.order_id FROM order_items i WHERE i.deal_id = :dealId)', { dealId });
        if (q) {
          const like = `%${q.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
          qb.andWhere(new Brackets((w) => w.where('o.id = :q', { q }).orWhere('o.user_id IN (SELECT u.id FROM users u WHERE LOWER(u.email) LIKE :like)', { like })));
        }
        if (after) qb.andWhere(new Brackets((w) => w.where('o.created_at < :c', { c: after[0] }).orWhere('o.created_at = :c AND o.id < :id', { c: after[0], id: after[1] })));
        const rows = await qb.orderBy('o.created_at', 'DESC').addOrderBy('o.id', 'DESC').limit(limit + 1).getMany();
        const ids = rows.map((r) => r.id);
        const userIds = [...new Set(rows.map((r) => r.userId))];
        const items = ids.length === 0 ? [] : await m.createQueryBuilder(OrderItemEntity, 'i').where('i.order_id IN (:...ids)', { ids }).orderBy('i.id').getMany();
        const users = userIds.length === 0 ? [] : await m.createQueryBuilder(UserEntity, 'u').select(['u.id', 'u.email']).where('u.id IN (:...userIds)', { userIds }).getMany();
        return { rows, items, users };
      });
      const emails = new Map(users.map((u) => [u.id, u.email]));
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map((row) => ({
          ...orderView({
            ...row,
            shippingAddress: row.shippingAddress as never,
            items: items.filter((i) => i.orderId === row.id).map((i) => ({ holdId: i.holdId, dealId: i.dealId, quantity: i.quantity, unitPrice: i.unitPrice, currency: row.currency })),
          } as unknown as OrderRecord),
          userId: row.userId,
          userEmail: emails.get(row.userId) ?? null,
        })),
        nextCursor: rows.length > limit && last ? encodeCursor([last.createdAt, last.id]) : null,
      };
    },
  );

  app.post(
    '/api/admin/orders/:orderId/refund',
    {
      onRequest: [app.requireRole('admin')],
      schema: {
        tags: ['admin'],
        summary: "Refund a paid order on the shopper's behalf (its units return to the deals)",
        security: [{ bearer: [] }],
        params: Type.Object({ orderId: Schemas.Id }, { additionalProperties: false }),
        response: { 200: OrderSchema, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const { orderId } = request.params;
      const row = await app.db.read((m) => m.findOne(OrderEntity, { select: { id: true, userId: true }, where: { id: orderId } }));
      if (!row) throw new HttpProblem('NOT_FOUND', 'no such order');
      const order = unwrap(await app.actors.ask<Result<OrderRecord>>({ kind: 'order', id: orderId }, { type: 'refund', now: Date.now(), userId: row.userId }));
      request.log.warn({ orderId, userId: row.userId, admin: request.user.sub }, 'order refunded by an admin');
      return orderView(order);
    },
  );

  app.get(
    '/api/seller/sales-history',
    {
      onRequest: [app.requireRole('seller', 'admin')],
      schema: {
        tags: ['seller'],
        summary: "The caller's deals, newest first, each with its paid orders, units and revenue",
        security: [{ bearer: [] }],
        querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 500, default: 200 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ items: Type.Array(SalesHistoryRowSchema) }), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const { deals, totals } = await app.db.read(async (m) => {
        const deals = await m.find(DealEntity, { where: { sellerId: request.user.sub }, order: { startsAt: 'DESC', id: 'DESC' }, take: request.query.limit });
        const ids = deals.map((d) => d.id);
        const totals =
          ids.length === 0
            ? []
            : await m
                .createQueryBuilder(OrderItemEntity, 'i')
                .innerJoin(OrderEntity, 'o', 'o.id = i.order_id')
                .select('i.deal_id', 'dealId')
                .addSelect("COUNT(DISTINCT CASE WHEN o.status = 'paid' THEN o.id END)", 'paidOrders')
                .addSelect("COALESCE(SUM(CASE WHEN o.status = 'paid' THEN i.quantity ELSE 0 END), 0)", 'paidUnits')
                .addSelect("COALESCE(SUM(CASE WHEN o.status = 'paid' THEN i.quantity * i.unit_price ELSE 0 END), 0)", 'revenue')
                .addSelect("COUNT(DISTINCT CASE WHEN o.status = 'refunded' THEN o.id END)", 'refundedOrders')
                .where('i.deal_id IN (:...ids)', { ids })
                .groupBy('i.deal_id')
                .getRawMany<{ dealId: string; paidOrders: string | number; paidUnits: string | number; revenue: string | number; refundedOrders: string | number }>();
        return { deals, totals };
      });
      const byDeal = new Map(totals.map((t) => [t.dealId, t]));
      return {
        items: deals.map((d) => {
          const t = byDeal.get(d.id);
          return {
            deal: dealView(d as never),
            paidOrders: Number(t?.paidOrders ?? 0),
            paidUnits: Number(t?.paidUnits ?? 0),
            revenue: Number(t?.revenue ?? 0),
            refundedOrders: Number(t?.refundedOrders ?? 0),
          };
        }),
      };
    },
  );
};

export default adminOrderRoutes;
