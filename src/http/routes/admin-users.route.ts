import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Brackets, In, type SelectQueryBuilder } from 'typeorm';
import { parseRoles } from '../../accounts/accounts';
import { decideApplication } from '../../accounts/sellers';
import type { Result } from '../../actors/result';
import { DealEntity } from '../../persistence/entities/deal.entity';
import { SellerApplicationEntity } from '../../persistence/entities/seller-application.entity';
import { UserEntity } from '../../persistence/entities/user.entity';
import { rooms } from '../../realtime/events';
import { HttpProblem } from '../problem';
import { ProblemSchema, RoleSchema, Schemas } from '../schemas';
import { decodeCursor, encodeCursor } from '../views';
import { applicationView, SellerApplicationSchema } from './seller-onboarding.route';

const problems = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ProblemSchema]));
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export const AdminUserSchema = Type.Object({
  id: Schemas.Id,
  email: Type.String(),
  name: Type.String(),
  roles: Type.Array(RoleSchema),
  status: Type.Union([Type.Literal('active'), Type.Literal('suspended')]),
  createdAt: Schemas.IsoTime,
  suspendedAt: Schemas.Nullable(Schemas.IsoTime),
  lockedUntil: Schemas.Nullable(Schemas.IsoTime),
});
export type AdminUser = Static<typeof AdminUserSchema>;

const adminUserView = (u: UserEntity, now = Date.now()): AdminUser => ({
  id: u.id,
  email: u.email,
  name: u.name,
  roles: parseRoles(u.roles),
  status: u.status,
  createdAt: new Date(u.createdAt).toISOString(),
  suspendedAt: iso(u.suspendedAt),
  lockedUntil: u.lockedUntil !== null && u.lockedUntil > now ? iso(u.lockedUntil) : null,
});

const UserParams = Type.Object({ userId: Schemas.Id }, { additionalProperties: false });
const ApplicationParams = Type.Object({ applicationId: Schemas.Id }, { additionalProperties: false });
const Page = { limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }), cursor: Type.Optional(Type.String({ maxLength: 200 })) };
const Search = Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'part of the email or name (case-insensitive)' }));
/** Deal states a suspension pauses. */
const LIVE_STATES = ['scheduled', 'open'];

/** `LIKE` pattern for a substring search, with the wildcards in `q` escaped. */
const contains = (q: string) => `%${q.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`;

/** Keyset pagination, newest first, over `(created_at, id)` of `alias`. */
function afterCursor<T extends object>(qb: SelectQueryBuilder<T>, alias: string, cursor: string | undefined): SelectQueryBuilder<T> {
  if (cursor === undefined) return qb;
  const after = decodeCursor(cursor);
  if (!after || after.length !== 2) throw new HttpProblem('VALIDATION_FAILED', 'the cursor is not one this server gave');
  return qb.andWhere(
    new Brackets((w) => w.where(`${alias}.created_at < :c`, { c: after[0] }).orWhere(`${alias}.created_at = :c AND ${alias}.id < :cid`, { c: after[0], cid: after[1] })),
  );
}

/**
 * The admin's account controls: find users (and sellers, by role), decide seller applications,
 * suspend and unsuspend. A suspension refuses the account's tokens at once (REST and sockets, its
 * refresh tokens revoked, its live sockets dropped) and pauses the seller's scheduled and open
 * deals; unsuspending does not resume them (an admin resumes each deal deliberately).
 */
const adminUserRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const admin = { onRequest: [app.requireRole('admin')] };

  app.get(
    '/api/admin/users',
    {
      ...admin,
      schema: {
        tags: ['admin'],
        summary: 'Find accounts, newest first (keyset pagination); role=seller lists sellers',
        security: [{ bearer: [] }],
        querystring: Type.Object(
          { q: Search, role: Type.Optional(RoleSchema), status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended')])), ...Page },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(AdminUserSchema), nextCursor: Schemas.Nullable(Type.String()) }), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const { q, role, status, limit, cursor } = request.query;
      const rows = await app.db.read((m) => {
        const qb = m.createQueryBuilder(UserEntity, 'u');
        if (q) qb.andWhere(new Brackets((w) => w.where('LOWER(u.email) LIKE :q', { q: contains(q) }).orWhere('LOWER(u.name) LIKE :q', { q: contains(q) })));
        if (role) {
          qb.andWhere(
            new Brackets((w) =>
              w.where('u.roles = :r', { r: role }).orWhere('u.roles LIKE :r1', { r1: `${role},%` }).orWhere('u.roles LIKE :r2', { r2: `%,${role}` }).orWhere('u.roles LIKE :r3', { r3: `%,${role},%` }),
            ),
          );
        }
        if (status) qb.andWhere('u.status = :status', { status });
        return afterCursor(qb, 'u', cursor).orderBy('u.created_at', 'DESC').addOrderBy('u.id', 'DESC').limit(limit + 1).getMany();
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { items: page.map((u) => adminUserView(u)), nextCursor: rows.length > limit && last ? encodeCursor([last.createdAt, last.id]) : null };
    },
  );

  app.get(
    '/api/admin/users/:userId',
    { ...admin, schema: { tags: ['admin'], summary: 'One account', security: [{ bearer: [] }], params: UserParams, response: { 200: AdminUserSchema, ...problems(400, 401, 403, 404) } } },
    async (request) => {
      const row = await app.db.read((m) => m.findOne(UserEntity, { where: { id: request.params.userId } }));
      if (!row) throw new HttpProblem('NOT_FOUND', 'no such account');
      return adminUserView(row);
    },
  );

  app.post(
    '/api/admin/users/:userId/suspend',
    {
      ...admin,
      schema: {
        tags: ['admin'],
        summary: "Suspend an account: its tokens stop working at once; a seller's scheduled and open deals are paused",
        security: [{ bearer: [] }],
        params: UserParams,
        response: { 200: Type.Object({ user: AdminUserSchema, pausedDeals: Type.Array(Schemas.Id) }), ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const { userId } = request.params;
      if (userId === request.user.sub) throw new HttpProblem('INVALID_STATE', 'an admin cannot suspend their own account');
      if (!(await app.suspensions.suspend(app.db, userId))) throw new HttpProblem('NOT_FOUND', 'no such account');
      app.io?.in(rooms.user(userId)).disconnectSockets(true);
      const deals = await app.db.read((m) => m.find(DealEntity, { select: { id: true }, where: { sellerId: userId, status: In(LIVE_STATES) } }));
      const pausedDeals: string[] = [];
      for (const { id } of deals) {
        const result = await app.actors.ask<Result<unknown>>({ kind: 'deal', id }, { type: 'pause', now: Date.now() }).catch((err: unknown) => {
          request.log.error({ err, dealId: id }, 'could not pause a suspended seller’s deal');
          return null;
        });
        if (result?.ok) pausedDeals.push(id);
        else if (result) request.log.warn({ dealId: id, error: result.error }, 'a suspended seller’s deal was not paused');
      }
      request.log.warn({ userId, admin: request.user.sub, pausedDeals }, 'account suspended');
      const row = await app.db.read((m) => m.findOneOrFail(UserEntity, { where: { id: userId } }));
      return { user: adminUserView(row), pausedDeals };
    },
  );

  app.post(
    '/api/admin/users/:userId/unsuspend',
    {
      ...admin,
      schema: {
        tags: ['admin'],
        summary: 'Lift a suspension (the user logs in again; paused deals stay paused until resumed)',
        security: [{ bearer: [] }],
        params: UserParams,
        response: { 200: AdminUserSchema, ...problems(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { userId } = request.params;
      if (!(await app.suspensions.unsuspend(app.db, userId))) throw new HttpProblem('NOT_FOUND', 'no such account');
      request.log.warn({ userId, admin: request.user.sub }, 'account unsuspended');
      const row = await app.db.read((m) => m.findOneOrFail(UserEntity, { where: { id: userId } }));
      return adminUserView(row);
    },
  );

  app.get(
    '/api/admin/seller-applications',
    {
      ...admin,
      schema: {
        tags: ['admin'],
        summary: 'Seller applications, newest first (keyset pagination)',
        security: [{ bearer: [] }],
        querystring: Type.Object(
          { status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('approved'), Type.Literal('rejected')])), q: Search, ...Page },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(SellerApplicationSchema), nextCursor: Schemas.Nullable(Type.String()) }), ...problems(400, 401, 403) },
      },
    },
    async (request) => {
      const { status, q, limit, cursor } = request.query;
      const rows = await app.db.read((m) => {
        const qb = m.createQueryBuilder(SellerApplicationEntity, 'a');
        if (status) qb.andWhere('a.status = :status', { status });
        if (q) {
          qb.andWhere(
            new Brackets((w) =>
              w.where('LOWER(a.business_name) LIKE :q', { q: contains(q) }).orWhere('LOWER(a.registration_number) LIKE :q', { q: contains(q) }).orWhere('LOWER(a.contact_email) LIKE :q', { q: contains(q) }),
            ),
          );
        }
        return afterCursor(qb, 'a', cursor).orderBy('a.created_at', 'DESC').addOrderBy('a.id', 'DESC').limit(limit + 1).getMany();
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { items: page.map(applicationView), nextCursor: rows.length > limit && last ? encodeCursor([last.createdAt, last.id]) : null };
    },
  );

  for (const action of ['approve', 'reject'] as const) {
    app.post(
      `/api/admin/seller-applications/:applicationId/${action}`,
      {
        ...admin,
        schema: {
          tags: ['admin'],
          summary: action === 'approve' ? 'Approve a pending seller application: the user becomes a seller' : 'Reject a pending seller application, with a reason the applicant sees',
          security: [{ bearer: [] }],
          params: ApplicationParams,
          ...(action === 'reject' ? { body: Type.Object({ reason: Type.String({ minLength: 1, maxLength: 500 }) }, { additionalProperties: false }) } : {}),
          response: { 200: SellerApplicationSchema, ...problems(400, 401, 403, 404, 409) },
        },
      },
      async (request) => {
        const reason = action === 'reject' ? (request.body as { reason: string }).reason.trim() : null;
        if (action === 'reject' && !reason) throw new HttpProblem('VALIDATION_FAILED', 'body/reason must not be blank', { errors: [{ path: 'body/reason', message: 'must not be blank' }] });
        const outcome = await decideApplication(app.db, request.params.applicationId, { approve: action === 'approve', adminId: request.user.sub, reason });
        if (!outcome.ok) throw outcome.reason === 'not_found' ? new HttpProblem('NOT_FOUND', 'no such seller application') : new HttpProblem('INVALID_STATE', 'this application was already decided');
        request.log.info({ applicationId: outcome.application.id, userId: outcome.application.userId, decision: action, admin: request.user.sub }, 'seller application decided');
        return applicationView(outcome.application);
      },
    );
  }
};

export default adminUserRoutes;
