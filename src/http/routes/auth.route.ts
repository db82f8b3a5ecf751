import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { createUser, issueRefreshToken, rotateRefreshToken, toUser } from '../../accounts/accounts';
import { normalizeEmail, passwordProblem, spendVerifyTime, verifyPassword } from '../../accounts/passwords';
import { UserEntity } from '../../persistence/entities/user.entity';
import { HttpProblem } from '../problem';
import { ProblemSchema, UserSchema } from '../schemas';

const Email = Type.String({ format: 'email', maxLength: 254 });
const Password = Type.String({ minLength: 1, maxLength: 1024 });
const Tokens = { accessToken: Type.String(), refreshToken: Type.String() };
const errors = { 400: ProblemSchema, 401: ProblemSchema, 409: ProblemSchema };

/** Accounts: signup, login, refresh (rotating), and the caller's own user. */
const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const issue = async (userId: string) =>
    app.db.transaction((m) => issueRefreshToken(m, userId, app.config.refreshTokenTtlSeconds));

  app.post(
    '/api/auth/signup',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Create an account (role shopper) and log in',
        body: Type.Object({ email: Email, password: Password, name: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
        response: { 201: Type.Object({ user: UserSchema, ...Tokens }), ...errors },
      },
    },
    async (request, reply) => {
      const { email, password, name } = request.body;
      const weak = passwordProblem(password, email, name);
      if (weak) throw new HttpProblem('VALIDATION_FAILED', weak, { errors: [{ path: 'body/password', message: weak }] });
      if (!name.trim()) throw new HttpProblem('VALIDATION_FAILED', 'the name must not be blank');
      const row = await createUser(app.db, { email, password, name });
      if (!row) throw new HttpProblem('EMAIL_TAKEN', 'an account with this email exists; log in instead');
      const user = toUser(row);
      reply.code(201);
      return { user, accessToken: app.signAccessToken(user.id, user.roles), refreshToken: await issue(user.id) };
    },
  );

  app.post(
    '/api/auth/login',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Log in with email and password',
        body: Type.Object({ email: Email, password: Password }, { additionalProperties: false }),
        response: { 200: Type.Object({ user: UserSchema, ...Tokens }), ...errors },
      },
    },
    async (request) => {
      const { email, password } = request.body;
      const row = await app.db.read((m) => m.findOne(UserEntity, { where: { email: normalizeEmail(email) } }));
      if (!row) {
        await spendVerifyTime(password);
        throw new HttpProblem('UNAUTHORIZED', 'the email or the password is wrong');
      }
      if (!(await verifyPassword(row.passwordHash, password))) throw new HttpProblem('UNAUTHORIZED', 'the email or the password is wrong');
      const user = toUser(row);
      return { user, accessToken: app.signAccessToken(user.id, user.roles), refreshToken: await issue(user.id) };
    },
  );

  app.post(
    '/api/auth/refresh',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Trade a refresh token for new tokens (rotation; reusing an old one revokes the family)',
        body: Type.Object({ refreshToken: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false }),
        response: { 200: Type.Object(Tokens), ...errors },
      },
    },
    async (request) => {
      const outcome = await rotateRefreshToken(app.db, request.body.refreshToken, app.config.refreshTokenTtlSeconds);
      if (!outcome.ok) throw new HttpProblem('UNAUTHORIZED', `the refresh token is ${outcome.reason === 'unknown' ? 'not valid' : outcome.reason}; log in again`);
      const row = await app.db.read((m) => m.findOne(UserEntity, { where: { id: outcome.userId } }));
      if (!row) throw new HttpProblem('UNAUTHORIZED', 'the account no longer exists');
      return { accessToken: app.signAccessToken(row.id, toUser(row).roles), refreshToken: outcome.refreshToken };
    },
  );

  app.get(
    '/api/me',
    {
      onRequest: [app.authenticate],
      schema: { tags: ['accounts'], summary: 'The caller', security: [{ bearer: [] }], response: { 200: UserSchema, 401: ProblemSchema, 404: ProblemSchema } },
    },
    async (request) => {
      const row = await app.db.read((m) => m.findOne(UserEntity, { where: { id: request.user.sub } }));
      if (!row) throw new HttpProblem('NOT_FOUND', 'the account no longer exists');
      return toUser(row);
    },
  );
};

export default authRoutes;
