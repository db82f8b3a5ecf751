import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Brackets } from 'typeorm';
import { v7 as uuidv7 } from 'uuid';
import type { NewDeal } from '../../actors/deal/messages';
import type { DealRecord } from '../../actors/deal/state';
import type { Result } from '../../actors/result';
import { DealEntity } from '../../persistence/entities/deal.entity';
import { HttpProblem, unwrap } from '../problem';
import { salesOf } from '../sales';
import { DealSchema, ProblemSchema, SalesSchema, Schemas } from '../schemas';
import { dealView, decodeCursor, encodeCursor } from '../views';

const DealParams = Type.Object({ dealId: Schemas.Id }, { additionalProperties: false });
const Status = Type.Union(['scheduled', 'open', 'paused', 'sold_out', 'ended', 'cancelled'].map((s) => Type.Literal(s)));
const problems = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ProblemSchema]));

const NewDealBody = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.String({ maxLength: 10000 }),
    category: Type.String({ minLength: 1, maxLength: 50, pattern: '^[a-z0-9-]+$' }),
    imageUrl: Type.Optional(Type.String({ maxLength: 500, pattern: '^(https?://|/)' })),
    price: Type.Integer({ minimum: 0, maximum: 1_000_000_000_000 }),
    originalPrice: Type.Integer({ minimum: 0, maximum: 1_000_000_000_000 }),
    currency: Schemas.Currency,
    totalStock: Type.Integer({ minimum: 1, maximum: 10_000_000 }),
    perUserLimit: Type.Integer({ minimum: 1, maximum: 1000 }),
    startsAt: Type.String({ format: 'date-time' }),
    endsAt: Type.String({ format: 'date-time' }),
    waitingRoom: Type.Optional(
      Type.Object(
        {
          enabled: Type.Boolean(),
          admissionPerMinute: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
          maxActive: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/**
 * Deals: the public catalogue (a read model over committed rows), a seller's own deals and their
 * sales, and the admin controls, which go to the deal actor.
 */
const dealRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const ask = async (dealId: string, message: Record<string, unknown>) =>
    unwrap(await app.actors.ask<Result<DealRecord>>({ kind: 'deal', id: dealId }, { now: Date.now(), ...message }));

  app.get(
    '/api/deals',
    {
      schema: {
        tags: ['deals'],
        summary: 'List deals, soonest start first (keyset pagination)',
        querystring: Type.Object(
          {
            status: Type.Optional(Status),
            category: Type.Optional(Type.String({ maxLength: 50 })),
            q: Type.Optional(Type.String({ maxLength: 100 })),
            limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
            cursor: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(DealSchema), nextCursor: Schemas.Nullable(Type.String()) }), ...problems(400) },
      },
    },
    async (request) => {
      const { status, category, q, limit, cursor } = request.query;
      const after = cursor === undefined ? null : decodeCursor(cursor);
      if (cursor !== undefined && (!after || after.length !== 2)) throw new HttpProblem('VALIDATION_FAILED', 'the cursor is not one this server gave');
      const rows = await app.db.read((m) => {
        const qb = m.createQueryBuilder(DealEntity, 'd');
        if (status) qb.andWhere('d.status = :status', { status });
        if (category) qb.andWhere('d.category = :category', { category });
        if (q) qb.andWhere('LOWER(d.title) LIKE :q', { q: `%${q.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%` });
        if (after) {
          qb.andWhere(new Brackets((w) => w.where('d.starts_at > :s', { s: after[0] }).orWhere('d.starts_at = :s AND d.id > :id', { s: after[0], id: after[1] })));
        }
        return qb.orderBy('d.starts_at', 'ASC').addOrderBy('d.id', 'ASC').limit(limit + 1).getMany();
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { items: page.map((r) => dealView(r as never)), nextCursor: rows.length > limit && last ? encodeCursor([last.startsAt, last.id]) : null };
    },
  );

  app.get(
    '/api/deals/:dealId',
    { schema: { tags: ['deals'], summary: 'One deal', params: DealParams, response: { 200: DealSchema, ...problems(400, 404) } } },
    async (request) => {
      const row = await app.db.read((m) => m.findOne(DealEntity, { where: { id: request.params.dealId } }));
      if (!row) throw new HttpProblem('NOT_FOUND', 'no such deal');
      return dealView(row as never);
    },
  );

  app.post(
    '/api/seller/deals',
    {
      onRequest: [app.requireRole('seller')],
      schema: { tags: ['seller'], summary: 'Put a deal on sale', security: [{ bearer: [] }], body: NewDealBody, response: { 201: DealSchema, ...problems(400, 401, 403) } },
    },
    async (request, reply) => {
      const body = request.body;
      const now = Date.now();
      const startsAt = Date.parse(body.startsAt);
      const endsAt = Date.parse(body.endsAt);
      const invalid = (path: string, message: string) => new HttpProblem('VALIDATION_FAILED', `${path} ${message}`, { errors: [{ path, message }] });
      if (endsAt <= startsAt) throw invalid('body/endsAt', 'must be after startsAt');
      if (endsAt <= now) throw invalid('body/endsAt', 'must be in the future');
      if (body.price > body.originalPrice) throw invalid('body/price', 'must not exceed originalPrice');
      if (body.perUserLimit > body.totalStock) throw invalid('body/perUserLimit', 'must not exceed totalStock');
      const deal: NewDeal = {
        id: uuidv7(),
        sellerId: request.user.sub,
        title: body.title.trim(),
        description: body.description,
        category: body.category,
        imageUrl: body.imageUrl ?? null,
        price: body.price,
        originalPrice: body.originalPrice,
        currency: body.currency,
        totalStock: body.totalStock,
        perUserLimit: body.perUserLimit,
        startsAt,
        endsAt,
        waitingRoom: { enabled: body.waitingRoom?.enabled ?? false, admissionPerMinute: body.waitingRoom?.admissionPerMinute ?? 600, maxActive: body.waitingRoom?.maxActive ?? 500, paused: false },
      };
      const created = await ask(deal.id, { type: 'create', deal });
      reply.code(201);
      return dealView(created);
    },
  );

  app.get(
    '/api/seller/deals',
    {
      onRequest: [app.requireRole('seller', 'admin')],
      schema: {
        tags: ['seller'],
        summary: "The caller's own deals, newest first",
        security: [{ bearer: [] }],
        querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ items: Type.Array(DealSchema), nextCursor: Schemas.Nullable(Type.String()) }), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const rows = await app.db.read((m) => m.find(DealEntity, { where: { sellerId: request.user.sub }, order: { createdAt: 'DESC' }, take: request.query.limit }));
      return { items: rows.map((r) => dealView(r as never)), nextCursor: null };
    },
  );

  app.get(
    '/api/seller/deals/:dealId/sales',
    {
      onRequest: [app.requireRole('seller', 'admin')],
      schema: { tags: ['seller'], summary: 'Live sales figures of a deal (its seller or an admin)', security: [{ bearer: [] }], params: DealParams, response: { 200: SalesSchema, ...problems(400, 401, 403, 404) } },
    },
    async (request) => salesOf(app, request.params.dealId, request.user.sub, request.user.roles.includes('admin')),
  );

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    app.post(
      `/api/admin/deals/:dealId/${action}`,
      {
        onRequest: [app.requireRole('admin')],
        schema: { tags: ['admin'], summary: `${action[0].toUpperCase()}${action.slice(1)} a deal`, security: [{ bearer: [] }], params: DealParams, response: { 200: DealSchema, ...problems(400, 401, 403, 404, 409) } },
      },
      async (request) => dealView(await ask(request.params.dealId, { type: action })),
    );
  }

  app.patch(
    '/api/admin/deals/:dealId/waiting-room',
    {
      onRequest: [app.requireRole('admin')],
      schema: {
        tags: ['admin'],
        summary: "Change a deal's waiting-room admission rate or active maximum, live",
        security: [{ bearer: [] }],
        params: DealParams,
        body: Type.Object(
          {
            admissionPerMinute: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
            maxActive: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
            paused: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: DealSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => dealView(await ask(request.params.dealId, { type: 'setWaitingRoom', settings: request.body })),
  );
};

export default dealRoutes;
