import { Type, type Static } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { applyToSell } from '../../accounts/sellers';
import { SellerApplicationEntity } from '../../persistence/entities/seller-application.entity';
import { HttpProblem } from '../problem';
import { ProblemSchema, Schemas } from '../schemas';

const problems = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ProblemSchema]));

export const SellerApplicationSchema = Type.Object({
  id: Schemas.Id,
  userId: Schemas.Id,
  businessName: Type.String(),
  registrationNumber: Type.String(),
  contactName: Type.String(),
  contactEmail: Type.String(),
  contactPhone: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('approved'), Type.Literal('rejected')]),
  decisionReason: Schemas.Nullable(Type.String()),
  createdAt: Schemas.IsoTime,
  decidedAt: Schemas.Nullable(Schemas.IsoTime),
});
export type SellerApplication = Static<typeof SellerApplicationSchema>;

export const applicationView = (a: SellerApplicationEntity): SellerApplication => ({
  id: a.id,
  userId: a.userId,
  businessName: a.businessName,
  registrationNumber: a.registrationNumber,
  contactName: a.contactName,
  contactEmail: a.contactEmail,
  contactPhone: a.contactPhone,
  status: a.status,
  decisionReason: a.decisionReason,
  createdAt: new Date(a.createdAt).toISOString(),
  decidedAt: a.decidedAt === null ? null : new Date(a.decidedAt).toISOString(),
});

/**
 * Seller onboarding, the applicant's side: apply to sell (business name, registration number,
 * contact) and see the application's state. An admin decides (admin-users.route.ts); approval
 * gives the `seller` role, which is what `/api/seller/*` requires.
 */
const sellerOnboardingRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/api/me/seller-application',
    {
      onRequest: [app.authenticate],
      schema: {
        tags: ['seller onboarding'],
        summary: 'Apply to sell; an admin approves or rejects. A rejected application may be sent again.',
        security: [{ bearer: [] }],
        body: Type.Object(
          {
            businessName: Type.String({ minLength: 1, maxLength: 200 }),
            registrationNumber: Type.String({ minLength: 3, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9 ./-]*$' }),
            contactName: Type.String({ minLength: 1, maxLength: 100 }),
            contactEmail: Type.String({ format: 'email', maxLength: 254 }),
            contactPhone: Type.String({ minLength: 3, maxLength: 32, pattern: '^[0-9+()\\- ]+$' }),
          },
          { additionalProperties: false },
        ),
        response: { 201: SellerApplicationSchema, ...problems(400, 401, 409) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      for (const field of ['businessName', 'contactName'] as const) {
        if (!body[field].trim()) throw new HttpProblem('VALIDATION_FAILED', `body/${field} must not be blank`, { errors: [{ path: `body/${field}`, message: 'must not be blank' }] });
      }
      const outcome = await applyToSell(app.db, request.user.sub, body);
      if (!outcome.ok) {
        throw new HttpProblem('INVALID_STATE', outcome.reason === 'approved' ? 'you are already an approved seller' : 'your application is waiting for a decision');
      }
      reply.code(201);
      return applicationView(outcome.application);
    },
  );

  app.get(
    '/api/me/seller-application',
    {
      onRequest: [app.authenticate],
      schema: { tags: ['seller onboarding'], summary: "The caller's seller application", security: [{ bearer: [] }], response: { 200: SellerApplicationSchema, ...problems(401, 404) } },
    },
    async (request) => {
      const row = await app.db.read((m) => m.findOne(SellerApplicationEntity, { where: { userId: request.user.sub } }));
      if (!row) throw new HttpProblem('NOT_FOUND', 'you have not applied to sell');
      return applicationView(row);
    },
  );
};

export default sellerOnboardingRoutes;
