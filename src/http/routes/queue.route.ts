import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { v7 as uuidv7 } from 'uuid';
import type { TicketInfo } from '../../actors/deal/messages';
import type { DealRecord } from '../../actors/deal/state';
import type { Result } from '../../actors/result';
import { unwrap } from '../problem';
import { DealSchema, ProblemSchema, Schemas, TicketSchema } from '../schemas';
import { ticketView } from '../ticket-view';
import { dealView } from '../views';

const DealParams = Type.Object({ dealId: Schemas.Id }, { additionalProperties: false });
const problems = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ProblemSchema]));

/**
 * The waiting room (CONTRACT.md, "Waiting room"): a shopper takes a ticket (idempotent: a
 * refresh, a new tab or a reconnect gets the same one), polls it, or leaves; admins pause,
 * resume and revoke. Every call goes to the deal actor, which owns the queue.
 */
const queueRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const askDeal = async <T>(dealId: string, message: Record<string, unknown>) =>
    unwrap(await app.actors.ask<Result<T>>({ kind: 'deal', id: dealId }, { now: Date.now(), ...message }));

  app.post(
    '/api/deals/:dealId/queue',
    {
      onRequest: [app.authenticate],
      // Abuse limit per shopper and per client address (RATE_LIMIT_QUEUE_JOIN_*): 429 RATE_LIMITED.
      config: { limits: 'queueJoin' },
      schema: {
        tags: ['waiting room'],
        summary: 'Take a place in the waiting room (201 the first time, 200 with the same ticket afterwards)',
        security: [{ bearer: [] }],
        params: DealParams,
        response: { 200: TicketSchema, 201: TicketSchema, ...problems(400, 401, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      const info = await askDeal<TicketInfo>(request.params.dealId, { type: 'join', userId: request.user.sub, ticketId: uuidv7() });
      reply.code(info.created ? 201 : 200);
      return ticketView(info, app.admissions);
    },
  );

  app.get(
    '/api/deals/:dealId/queue/me',
    {
      onRequest: [app.authenticate],
      schema: {
        tags: ['waiting room'],
        summary: "The caller's ticket: position, ETA and, once admitted, the admission token",
        security: [{ bearer: [] }],
        params: DealParams,
        response: { 200: TicketSchema, ...problems(400, 401, 404) },
      },
    },
    async (request) => ticketView(await askDeal<TicketInfo>(request.params.dealId, { type: 'ticket', userId: request.user.sub }), app.admissions),
  );

  app.delete(
    '/api/deals/:dealId/queue',
    {
      onRequest: [app.authenticate],
      schema: {
        tags: ['waiting room'],
        summary: 'Leave the waiting room: an admission ends at once and frees its place for the next shopper',
        security: [{ bearer: [] }],
        params: DealParams,
        response: { 204: Type.Null(), ...problems(400, 401, 404) },
      },
    },
    async (request, reply) => {
      await askDeal(request.params.dealId, { type: 'leave', userId: request.user.sub });
      reply.code(204);
      return null;
    },
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post(
      `/api/admin/deals/:dealId/waiting-room/${action}`,
      {
        onRequest: [app.requireRole('admin')],
        schema: {
          tags: ['admin'],
          summary: action === 'pause' ? 'Stop admitting from the waiting room (tickets are still taken); applies at the next tick' : 'Start admitting again',
          security: [{ bearer: [] }],
          params: DealParams,
          response: { 200: DealSchema, ...problems(400, 401, 403, 404) },
        },
      },
      async (request) => dealView(await askDeal<DealRecord>(request.params.dealId, { type: 'setWaitingRoom', settings: { paused: action === 'pause' } })),
    );
  }

  app.post(
    '/api/admin/deals/:dealId/admissions/:userId/revoke',
    {
      onRequest: [app.requireRole('admin')],
      schema: {
        tags: ['admin'],
        summary: "End a shopper's admission to a deal: their token stops allowing holds at once",
        security: [{ bearer: [] }],
        params: Type.Object({ dealId: Schemas.Id, userId: Schemas.Id }, { additionalProperties: false }),
        response: { 200: TicketSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => ticketView(await askDeal<TicketInfo>(request.params.dealId, { type: 'revokeAdmission', userId: request.params.userId }), app.admissions),
  );
};

export default queueRoutes;
