import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { IsNull, Not } from 'typeorm';
import { PaymentEntity, PaymentEventEntity } from '../../persistence/entities/order.entity';
import { sendProblem } from '../plugins/errors';
import { HttpProblem } from '../problem';
import { ProblemSchema, Schemas } from '../schemas';

const QUEUES_COOKIE = 'dealrush_queues';
const QUEUES_COOKIE_SECONDS = 600;

/** The value of cookie `name` in a Cookie header, or null. */
function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

const problems = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ProblemSchema]));
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export const FlaggedPaymentSchema = Type.Object({
  paymentId: Schemas.Id,
  orderId: Schemas.Id,
  amount: Type.Integer(),
  currency: Type.String(),
  status: Type.String(),
  flag: Type.String(),
  /** What the gateway reported (the latest event of the payment), when there is one. */
  reported: Schemas.Nullable(Type.Object({ eventId: Type.String(), type: Type.String(), amount: Type.Integer(), currency: Type.String(), receivedAt: Schemas.IsoTime })),
  createdAt: Schemas.IsoTime,
  updatedAt: Schemas.IsoTime,
});

/**
 * Admin views of payments: `GET /api/admin/payments/flagged` lists the payments an order refused
 * to count as paid (an amount or currency the gateway approved that differs from the order's),
 * and `/admin/queues` shows the payment jobs: bull-board over BullMQ with REDIS_URL, or, in
 * embedded mode where the jobs run in-process on a timer, their last runs as JSON.
 */
const adminPaymentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/admin/payments/flagged',
    {
      onRequest: [app.requireRole('admin')],
      schema: {
        tags: ['admin'],
        summary: 'Payments flagged for an admin (amount or currency mismatch): not marked paid',
        security: [{ bearer: [] }],
        querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ items: Type.Array(FlaggedPaymentSchema) }), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const { rows, events } = await app.db.read(async (m) => {
        const rows = await m.find(PaymentEntity, { where: { flag: Not(IsNull()) }, order: { updatedAt: 'DESC' }, take: request.query.limit });
        const events = rows.length === 0 ? [] : await m.createQueryBuilder(PaymentEventEntity, 'e').where('e.payment_id IN (:...ids)', { ids: rows.map((r) => r.id) }).orderBy('e.received_at', 'DESC').getMany();
        return { rows, events };
      });
      return {
        items: rows.map((p) => {
          const e = events.find((x) => x.paymentId === p.id && x.type === 'payment.approved') ?? events.find((x) => x.paymentId === p.id) ?? null;
          return {
            paymentId: p.id,
            orderId: p.orderId,
            amount: p.amount,
            currency: p.currency,
            status: p.status,
            flag: p.flag!,
            reported: e ? { eventId: e.id, type: e.type, amount: e.amount, currency: e.currency, receivedAt: iso(e.receivedAt)! } : null,
            createdAt: iso(p.createdAt)!,
            updatedAt: iso(p.updatedAt)!,
          };
        }),
      };
    },
  );

  // A browser opening /admin/queues sends no Authorization header: the ops panel first asks for a
  // cookie that carries a short-lived access token, scoped to that path only (HttpOnly,
  // SameSite=Strict, so another site can neither read nor send it).
  app.post(
    '/api/admin/queues/session',
    {
      onRequest: [app.requireRole('admin')],
      schema: { tags: ['admin'], summary: 'Open the job queues (bull-board) in this browser: sets a 10-minute cookie for /admin/queues', security: [{ bearer: [] }], response: { 204: Type.Null(), ...problems(401, 403) } },
    },
    async (request, reply) => {
      const token = app.signAccessToken(request.user.sub, request.user.roles, QUEUES_COOKIE_SECONDS);
      const secure = request.protocol === 'https' ? '; Secure' : '';
      reply.header('set-cookie', `${QUEUES_COOKIE}=${token}; Path=/admin/queues; Max-Age=${QUEUES_COOKIE_SECONDS}; HttpOnly; SameSite=Strict${secure}`);
      reply.code(204);
      return null;
    },
  );
  /** Lets the queues cookie stand in for the Authorization header (it is checked like one). */
  const fromQueuesCookie = (request: FastifyRequest) => {
    if (request.headers.authorization) return;
    const token = cookieValue(request.headers.cookie, QUEUES_COOKIE);
    if (token) request.headers.authorization = `Bearer ${token}`;
  };

  const queue = app.paymentJobs.bullQueue;
  if (queue) {
    await app.register(async (board) => {
      // bull-board answers errors with its own handler: refuse here with our problem+json instead.
      const adminOnly = app.requireRole('admin');
      board.addHook('onRequest', async (request, reply) => {
        try {
          fromQueuesCookie(request);
          await adminOnly(request);
        } catch (error) {
          if (error instanceof HttpProblem) return sendProblem(reply, error, request.id);
          throw error;
        }
      });
      const adapter = new FastifyAdapter();
      adapter.setBasePath('/admin/queues');
      createBullBoard({ queues: [new BullMQAdapter(queue)], serverAdapter: adapter });
      await board.register(adapter.registerPlugin(), { prefix: '/admin/queues' });
    });
  } else {
    app.get(
      '/admin/queues',
      {
        onRequest: [async (request) => fromQueuesCookie(request), app.requireRole('admin')],
        schema: {
          tags: ['admin'],
          summary: 'Payment jobs (embedded mode: in-process, no BullMQ; with REDIS_URL this is bull-board)',
          security: [{ bearer: [] }],
          response: {
            200: Type.Object({ mode: Type.Literal('in-process'), detail: Type.String(), recent: Type.Array(Type.Object({ name: Type.String(), at: Schemas.IsoTime, ms: Type.Integer(), error: Type.Optional(Type.String()) })) }),
            ...problems(401, 403),
          },
        },
      },
      async () => ({
        mode: 'in-process' as const,
        detail: 'REDIS_URL is unset: the payment jobs (webhook events, refunds, reconciliation) run in-process on a timer, with no queue to show',
        recent: app.paymentJobs.recent.map((r) => ({ name: r.name, at: iso(r.at)!, ms: r.ms, ...(r.error ? { error: r.error } : {}) })),
      }),
    );
  }
};

export default adminPaymentRoutes;
