import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  createUser, issueRefreshToken, loginAllowed, recordFailedLogin, recordSuccessfulLogin, revokeFamilyOf, rotateRefreshToken, toUser,
} from '../../accounts/accounts';
import { normalizeEmail, passwordProblem, spendVerifyTime, verifyPassword } from '../../accounts/passwords';
import { UserEntity } from '../../persistence/entities/user.entity';
import { rateLimits } from '../plugins/rate-limits';
import { HttpProblem } from '../problem';
import { ProblemSchema, ShippingAddressSchema, UserSchema } from '../schemas';

const Email = Type.String({ format: 'email', maxLength: 254 });
const Password = Type.String({ minLength: 1, maxLength: 1024 });
const Name = Type.String({ minLength: 1, maxLength: 100 });
const Tokens = { accessToken: Type.String(), refreshToken: Type.String() };
const RefreshBody = Type.Object({ refreshToken: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });
const errors = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 409: ProblemSchema, 423: ProblemSchema, 429: ProblemSchema };

/** The caller's own account with its default shipping address (`GET`/`PATCH /api/me/profile`). */
export const ProfileSchema = Type.Object({ ...UserSchema.properties, defaultShippingAddress: Type.Union([ShippingAddressSchema, Type.Null()]) });

/**
 * Accounts: signup, login (with lockout), refresh (rotating; reuse revokes the family), logout,
 * the caller's own user and profile. Signup and login are rate-limited per client address (and
 * login per target account as well).
 */
const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const issue = async (userId: string) =>
    app.db.transaction((m) => issueRefreshToken(m, userId, app.config.refreshTokenTtlSeconds));
  const lockedProblem = (retryAfterSeconds: number) =>
    new HttpProblem('ACCOUNT_LOCKED', `too many failed logins: the account is locked; try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
  const findMe = async (userId: string) => {
    const row = await app.db.read((m) => m.findOne(UserEntity, { where: { id: userId } }));
    if (!row) throw new HttpProblem('NOT_FOUND', 'the account no longer exists');
    return row;
  };
  const profileOf = (row: UserEntity) => ({ ...toUser(row), defaultShippingAddress: (row.defaultShippingAddress as never) ?? null });

  app.post(
    '/api/auth/signup',
    {
      config: { limits: rateLimits.signup },
      schema: {
        tags: ['accounts'],
        summary: 'Create an account (role shopper) and log in',
        description: 'Password policy: 10 to 128 characters, at least 4 different ones, not a common password, not the email or name. The email is stored trimmed and lower-cased.',
        body: Type.Object({ email: Email, password: Password, name: Name }, { additionalProperties: false }),
        response: { 201: Type.Object({ user: UserSchema, ...Tokens }), ...errors },
      },
    },
    async (request, reply) => {
      const { email, password, name } = request.body;
      if (!name.trim()) throw new HttpProblem('VALIDATION_FAILED', 'body/name must not be blank', { errors: [{ path: 'body/name', message: 'must not be blank' }] });
      const weak = passwordProblem(password, email, name);
      if (weak) throw new HttpProblem('VALIDATION_FAILED', weak, { errors: [{ path: 'body/password', message: weak }] });
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
      config: { limits: rateLimits.login },
      schema: {
        tags: ['accounts'],
        summary: 'Log in with email and password',
        description: `After ${app.config.loginMaxFailures} wrong passwords in a row the account is locked for ${app.config.loginLockoutSeconds} s (423 ACCOUNT_LOCKED with Retry-After); it unlocks by itself.`,
        body: Type.Object({ email: Email, password: Password }, { additionalProperties: false }),
        response: { 200: Type.Object({ user: UserSchema, ...Tokens }), ...errors },
      },
    },
    async (request) => {
      const { email, password } = request.body;
      const now = Date.now();
      const row = await app.db.read((m) => m.findOne(UserEntity, { where: { email: normalizeEmail(email) } }));
      if (!row) {
        await spendVerifyTime(password);
        throw new HttpProblem('UNAUTHORIZED', 'the email or the password is wrong');
      }
      const allowed = loginAllowed(row, now);
      if (!allowed.ok && allowed.reason === 'locked') throw lockedProblem(allowed.retryAfterSeconds);
      if (!(await verifyPassword(row.passwordHash, password))) {
        const lockedUntil = await recordFailedLogin(app.db, row.id, app.config.loginMaxFailures, app.config.loginLockoutSeconds * 1000, now);
        if (lockedUntil !== null) {
          request.log.warn({ userId: row.id }, 'account locked after repeated failed logins');
          throw lockedProblem(Math.ceil((lockedUntil - now) / 1000));
        }
        throw new HttpProblem('UNAUTHORIZED', 'the email or the password is wrong');
      }
      if (!allowed.ok) throw new HttpProblem('FORBIDDEN', 'this account is suspended; contact support');
      await recordSuccessfulLogin(app.db, row);
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
        body: RefreshBody,
        response: { 200: Type.Object(Tokens), ...errors },
      },
    },
    async (request) => {
      const outcome = await rotateRefreshToken(app.db, request.body.refreshToken, app.config.refreshTokenTtlSeconds);
      if (!outcome.ok) {
        if (outcome.reason === 'reused') request.log.warn('a rotated refresh token was presented again: its family is revoked');
        throw new HttpProblem('UNAUTHORIZED', `the refresh token is ${outcome.reason === 'unknown' ? 'not valid' : outcome.reason}; log in again`);
      }
      const row = await app.db.read((m) => m.findOne(UserEntity, { where: { id: outcome.userId } }));
      if (!row) throw new HttpProblem('UNAUTHORIZED', 'the account no longer exists');
      if (row.status === 'suspended' || app.suspensions.has(row.id)) throw new HttpProblem('UNAUTHORIZED', 'this account is suspended');
      return { accessToken: app.signAccessToken(row.id, toUser(row).roles), refreshToken: outcome.refreshToken };
    },
  );

  app.post(
    '/api/auth/logout',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Log out: the refresh token and every token rotated from it stop working (the access token expires by itself)',
        body: RefreshBody,
        response: { 204: Type.Null(), 400: ProblemSchema },
      },
    },
    async (request, reply) => {
      // 204 whether or not the token was known: logging out twice is fine and says nothing.
      await revokeFamilyOf(app.db, request.body.refreshToken);
      reply.code(204);
      return null;
    },
  );

  app.get(
    '/api/me',
    {
      onRequest: [app.authenticate],
      schema: { tags: ['accounts'], summary: 'The caller', security: [{ bearer: [] }], response: { 200: UserSchema, 401: ProblemSchema, 404: ProblemSchema } },
    },
    async (request) => toUser(await findMe(request.user.sub)),
  );

  app.get(
    '/api/me/profile',
    {
      onRequest: [app.authenticate],
      schema: { tags: ['accounts'], summary: "The caller's profile, with the default shipping address", security: [{ bearer: [] }], response: { 200: ProfileSchema, 401: ProblemSchema, 404: ProblemSchema } },
    },
    async (request) => profileOf(await findMe(request.user.sub)),
  );

  app.patch(
    '/api/me/profile',
    {
      onRequest: [app.authenticate],
      schema: {
        tags: ['accounts'],
        summary: 'Change the name or the default shipping address (null removes it)',
        security: [{ bearer: [] }],
        body: Type.Object(
          { name: Type.Optional(Name), defaultShippingAddress: Type.Optional(Type.Union([ShippingAddressSchema, Type.Null()])) },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: ProfileSchema, 400: ProblemSchema, 401: ProblemSchema, 404: ProblemSchema },
      },
    },
    async (request) => {
      const { name, defaultShippingAddress } = request.body;
      if (name !== undefined && !name.trim()) throw new HttpProblem('VALIDATION_FAILED', 'body/name must not be blank', { errors: [{ path: 'body/name', message: 'must not be blank' }] });
      const changes: Partial<UserEntity> = {};
      if (name !== undefined) changes.name = name.trim();
      if (defaultShippingAddress !== undefined) changes.defaultShippingAddress = defaultShippingAddress as Record<string, string> | null;
      await app.db.autocommit((m) => m.update(UserEntity, { id: request.user.sub }, changes));
      return profileOf(await findMe(request.user.sub));
    },
  );
};

export default authRoutes;
