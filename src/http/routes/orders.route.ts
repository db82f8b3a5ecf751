import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Brackets } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import type { AttachedItem } from '../../actors/deal/messages';
import { refundFromRow, type OrderPayment, type OrderRecord, type PaymentStart } from '../../actors/order/order-actor';
import type { Result } from '../../actors/result';
import { OrderEntity, OrderItemEntity, PaymentEntity } from '../../persistence/entities/order.entity';
import { GatewayRefusedError, GatewayUnavailableError } from '../../payments/provider';
import { lookupHolds } from '../cart-lookup';
import { idempotentId } from '../plugins/idempotency';
import { HttpProblem, unwrap } from '../problem';
import { OrderSchema, PaymentSchema, ProblemSchema, Schemas, ShippingAddressSchema } from '../schemas';
import { decodeCursor, encodeCursor, orderView } from '../views';

const problems = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ProblemSchema]));
const OrderParams = Type.Object({ orderId: Schemas.Id }, { additionalProperties: false });
const IdempotencyHeader = Type.Object({ 'idempotency-key': Type.String({ minLength: 1, maxLength: 200 }) });

/**
 * Grace (ms) the deal keeps an order's holds past the order's own payment deadline. The order
 * decides what becomes of its holds (sold when paid, returned when cancelled or expired), so a
 * hold never expires under a payment in flight; this is only the backstop for holds attached to
 * an order that was never created (a crash between the two steps).
 */
const HOLD_GRACE_MS = 60_000;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The Order body: the contract's fields plus the current payment and the refund. */
function fullOrderView(o: OrderRecord) {
  const payment = o.payments.find((p) => p.id === o.paymentId) ?? o.payments[o.payments.length - 1] ?? null;
  return {
    ...orderView(o),
    payment: payment && { id: payment.id, status: payment.status, amount: payment.amount, currency: payment.currency },
    refund: o.refund && { status: o.refund.status, reason: o.refund.reason, amount: o.refund.amount, currency: o.currency, refundedAt: iso(o.refund.refundedAt) },
  };
}

/**
 * Orders: checkout turns the caller's holds into a `pending_payment` order, payment goes through
 * the payment provider, and cancel/refund return units. Each step is a message to an actor that
 * commits before it answers; the route only sequences them.
 */
const orderRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const askOrder = async <T>(orderId: string, message: Record<string, unknown>) =>
    unwrap(await app.actors.ask<Result<T>>({ kind: 'order', id: orderId }, message));

  app.post(
    '/api/orders',
    {
      onRequest: [app.authenticate],
      config: { idempotency: 'required' },
      schema: {
        tags: ['orders'],
        summary: 'Check out holds into an order awaiting payment. Needs an Idempotency-Key.',
        security: [{ bearer: [] }],
        headers: IdempotencyHeader,
        body: Type.Object(
          { holdIds: Type.Array(Schemas.Id, { minItems: 1, maxItems: 50, uniqueItems: true }), shippingAddress: ShippingAddressSchema },
          { additionalProperties: false },
        ),
        response: { 201: OrderSchema, ...problems(400, 401, 409, 422, 503) },
      },
    },
    async (request, reply) => {
      const userId = request.user.sub;
      const now = Date.now();
      const { found, missing } = await lookupHolds(app, userId, request.body.holdIds, now);
      if (missing.length > 0) throw new HttpProblem('HOLD_EXPIRED', `hold ${missing.join(', ')} has expired or is not in your cart`);

      const orderId = idempotentId(request, 'order', uuidv7);
      const expiresAt = now + app.config.orderPaymentTimeoutSeconds * 1000;
      const byDeal = new Map<string, string[]>();
      for (const hold of found) byDeal.set(hold.dealId, [...(byDeal.get(hold.dealId) ?? []), hold.id]);

      // Attach the holds deal by deal; if one deal refuses, give back what the others attached.
      const items: AttachedItem[] = [];
      const attached: string[] = [];
      try {
        for (const [dealId, holdIds] of byDeal) {
          const result = await app.actors.ask<Result<AttachedItem[]>>(
            { kind: 'deal', id: dealId },
            { type: 'attach', now, userId, orderId, holdIds, until: expiresAt + HOLD_GRACE_MS },
          );
          items.push(...unwrap(result));
          attached.push(dealId);
        }
      } catch (error) {
        for (const dealId of attached) {
          app.actors.ask({ kind: 'deal', id: dealId }, { type: 'releaseOrder', now: Date.now(), orderId, reason: 'cancelled' }).catch((err) =>
            request.log.warn({ err, dealId, orderId }, 'could not give back attached holds; they expire with the payment window'),
          );
        }
        throw error;
      }
      const order = await askOrder<OrderRecord>(orderId, { type: 'create', now, orderId, userId, items, shippingAddress: request.body.shippingAddress, expiresAt });
      app.metrics.orders.inc();
      reply.code(201);
      return fullOrderView(order);
    },
  );

  app.get(
    '/api/orders',
    {
      onRequest: [app.authenticate],
      schema: {
        tags: ['orders'],
        summary: "The caller's orders, newest first (keyset pagination)",
        security: [{ bearer: [] }],
        querystring: Type.Object(
          { limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }), cursor: Type.Optional(Type.String({ maxLength: 200 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(OrderSchema), nextCursor: Schemas.Nullable(Type.String()) }), ...problems(400, 401) },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const after = cursor === undefined ? null : decodeCursor(cursor);
      if (cursor !== undefined && (!after || after.length !== 2)) throw new HttpProblem('VALIDATION_FAILED', 'the cursor is not one this server gave');
      const { rows, items, payments } = await app.db.read(async (m) => {
        const qb = m.createQueryBuilder(OrderEntity, 'o').where('o.user_id = :userId', { userId: request.user.sub });
        if (after) qb.andWhere(new Brackets((w) => w.where('o.created_at < :c', { c: after[0] }).orWhere('o.created_at = :c AND o.id < :id', { c: after[0], id: after[1] })));
        const rows = await qb.orderBy('o.created_at', 'DESC').addOrderBy('o.id', 'DESC').limit(limit + 1).getMany();
        const ids = rows.map((r) => r.id);
        const items = ids.length === 0 ? [] : await m.createQueryBuilder(OrderItemEntity, 'i').where('i.order_id IN (:...ids)', { ids }).orderBy('i.id').getMany();
        const payments = ids.length === 0 ? [] : await m.createQueryBuilder(PaymentEntity, 'p').where('p.order_id IN (:...ids)', { ids }).orderBy('p.created_at').getMany();
        return { rows, items, payments };
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map((row) =>
          fullOrderView({
            ...row,
            shippingAddress: row.shippingAddress as never,
            items: items.filter((i) => i.orderId === row.id).map((i) => ({ holdId: i.holdId, dealId: i.dealId, quantity: i.quantity, unitPrice: i.unitPrice, currency: row.currency })),
            payments: payments
              .filter((p) => p.orderId === row.id)
              .map((p): OrderPayment => ({ id: p.id, amount: p.amount, currency: p.currency, status: p.status as OrderPayment['status'], flag: p.flag, refundReason: null, createdAt: p.createdAt, updatedAt: p.updatedAt })),
            refund: refundFromRow(row),
          }),
        ),
        nextCursor: rows.length > limit && last ? encodeCursor([last.createdAt, last.id]) : null,
      };
    },
  );

  app.get(
    '/api/orders/:orderId',
    {
      onRequest: [app.authenticate],
      schema: { tags: ['orders'], summary: 'One of the caller’s orders', security: [{ bearer: [] }], params: OrderParams, response: { 200: OrderSchema, ...problems(400, 401, 404) } },
    },
    async (request) => fullOrderView(await askOrder<OrderRecord>(request.params.orderId, { type: 'get', userId: request.user.sub })),
  );

  app.post(
    '/api/orders/:orderId/payment',
    {
      onRequest: [app.authenticate],
      config: { idempotency: 'required' },
      schema: {
        tags: ['orders'],
        summary: 'Start paying an order: the answer says where the shopper completes the payment. Needs an Idempotency-Key.',
        security: [{ bearer: [] }],
        headers: IdempotencyHeader,
        params: OrderParams,
        body: Type.Object({ method: Type.Literal('card') }, { additionalProperties: false }),
        response: { 201: PaymentSchema, ...problems(400, 401, 404, 409, 422, 503) },
      },
    },
    async (request, reply) => {
      const { orderId } = request.params;
      const { payment } = await askOrder<{ payment: PaymentStart; created: boolean }>(orderId, {
        type: 'startPayment',
        now: Date.now(),
        userId: request.user.sub,
        paymentId: `pay_${idempotentId(request, 'payment', uuidv7).replace(/-/g, '')}`,
        provider: app.payments.name,
      });
      // Always asked, also for a payment that exists: creation is idempotent at the gateway (by
      // payment id), so a retry after a gateway failure creates it then, and never a second one.
      const origin = `${request.protocol}://${request.host}`;
      let checkoutUrl: string;
      try {
        ({ checkoutUrl } = await app.payments.createPayment({
          ...payment,
          webhookUrl: app.paymentWebhookUrl(),
          returnUrl: `${origin}/orders/${encodeURIComponent(orderId)}`,
          publicOrigin: origin,
        }));
      } catch (error) {
        if (error instanceof GatewayUnavailableError) {
          request.log.warn({ err: error, paymentId: payment.paymentId }, 'payment gateway unavailable');
          throw new HttpProblem('UNAVAILABLE', 'the payment gateway is not answering; try again in a moment (the same Idempotency-Key is safe)', { retryAfterSeconds: 5 });
        }
        if (error instanceof GatewayRefusedError) {
          request.log.error({ err: error, paymentId: payment.paymentId }, 'payment gateway refused to create a payment');
          throw new HttpProblem('INVALID_STATE', `the payment gateway refused this payment (${error.gatewayCode})`);
        }
        throw error;
      }
      reply.code(201);
      return { ...payment, status: 'pending' as const, checkoutUrl };
    },
  );

  for (const action of ['cancel', 'refund'] as const) {
    app.post(
      `/api/orders/:orderId/${action}`,
      {
        onRequest: [app.authenticate],
        config: { idempotency: 'optional' },
        schema: {
          tags: ['orders'],
          summary: action === 'cancel' ? 'Cancel an unpaid order (its units return)' : 'Refund a paid order (its units return)',
          security: [{ bearer: [] }],
          params: OrderParams,
          response: { 200: OrderSchema, ...problems(400, 401, 404, 409) },
        },
      },
      async (request) => {
        const order = await askOrder<OrderRecord>(request.params.orderId, { type: action, now: Date.now(), userId: request.user.sub });
        if (order.payments.some((p) => p.status === 'refund_pending')) app.paymentJobs.kickRefunds();
        return fullOrderView(order);
      },
    );
  }
};

export default orderRoutes;
