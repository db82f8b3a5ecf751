import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { v7 as uuidv7 } from 'uuid';
import type { HoldView } from '../../actors/deal/messages';
import type { Result } from '../../actors/result';
import { idempotentId } from '../plugins/idempotency';
import { lookupHolds } from '../cart-lookup';
import { HttpProblem, unwrap } from '../problem';
import { CartSchema, HoldSchema, ProblemSchema, Schemas } from '../schemas';
import { cartView, holdView } from '../views';

const problems = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ProblemSchema]));

/**
 * The cart: holding units of a deal (the hot path of a sale: one `reserve` to the deal actor,
 * group-committed with every other reserve queued behind it), listing and removing holds.
 */
const cartRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const cartOf = async (userId: string) =>
    unwrap(await app.actors.ask<Result<HoldView[]>>({ kind: 'cart', id: userId }, { type: 'list', now: Date.now() }));

  /**
   * Checks an `X-Admission-Token` for this shopper and deal. No header: not admitted (fine for a
   * deal without a waiting room; the deal actor decides). A bad one: `NOT_ADMITTED` at once.
   */
  const checkAdmission = async (token: string | undefined, userId: string, dealId: string): Promise<boolean> => {
    if (token === undefined) return false;
    const verdict = await app.admissions.verify(token, userId, dealId);
    if (verdict.ok) return true;
    const why = { malformed: 'is malformed', forged: 'has a bad signature', expired: 'has expired', 'other-deal': 'is for another deal', 'other-shopper': 'belongs to another shopper' }[verdict.reason];
    throw new HttpProblem('NOT_ADMITTED', `the admission token ${why}: wait for your turn in the waiting room`);
  };

  app.post(
    '/api/cart/items',
    {
      onRequest: [app.authenticate],
      config: { idempotency: 'required', limits: 'hold' },
      schema: {
        tags: ['cart'],
        summary: 'Hold units of a deal (they leave the available stock at once, until the hold expires). Needs an Idempotency-Key.',
        security: [{ bearer: [] }],
        headers: Type.Object({
          'idempotency-key': Type.String({ minLength: 1, maxLength: 200 }),
          /** Needed for a deal with a waiting room: the token from the shopper's admission. */
          'x-admission-token': Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })),
        }),
        body: Type.Object({ dealId: Schemas.Id, quantity: Type.Integer({ minimum: 1, maximum: 1000 }) }, { additionalProperties: false }),
        response: { 201: Type.Object({ hold: HoldSchema, cart: CartSchema }), ...problems(400, 401, 403, 404, 409, 422, 503) },
      },
    },
    async (request, reply) => {
      const userId = request.user.sub;
      const { dealId, quantity } = request.body;
      const admitted = await checkAdmission(request.headers['x-admission-token'], userId, dealId);
      const hold = unwrap(
        await app.actors.ask<Result<HoldView>>(
          { kind: 'deal', id: dealId },
          { type: 'reserve', now: Date.now(), userId, holdId: idempotentId(request, 'hold', uuidv7), quantity, ttlMs: app.config.holdTtlSeconds * 1000, admitted },
        ),
      );
      app.metrics.holds.inc({ deal: dealId });
      app.metrics.holdUnits.inc(hold.quantity);
      reply.code(201);
      return { hold: holdView(hold), cart: cartView(await cartOf(userId)) };
    },
  );

  app.get(
    '/api/cart',
    { onRequest: [app.authenticate], schema: { tags: ['cart'], summary: "The caller's holds", security: [{ bearer: [] }], response: { 200: CartSchema, ...problems(401) } } },
    async (request) => cartView(await cartOf(request.user.sub)),
  );

  app.delete(
    '/api/cart/items/:holdId',
    {
      onRequest: [app.authenticate],
      schema: {
        tags: ['cart'],
        summary: 'Remove a hold: its units return to the deal',
        security: [{ bearer: [] }],
        params: Type.Object({ holdId: Schemas.Id }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...problems(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const userId = request.user.sub;
      const { found } = await lookupHolds(app, userId, [request.params.holdId], Date.now());
      if (found.length === 0) throw new HttpProblem('NOT_FOUND', 'no such hold in your cart');
      unwrap(await app.actors.ask<Result<unknown>>({ kind: 'deal', id: found[0].dealId }, { type: 'release', now: Date.now(), userId, holdId: found[0].id }));
      reply.code(204);
      return null;
    },
  );
};

export default cartRoutes;
