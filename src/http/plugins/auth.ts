import jwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { AccessClaims } from '../../accounts/accounts';
import type { Config } from '../../config';
import type { Role } from '../schemas';
import { HttpProblem } from '../problem';

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessClaims;
    user: AccessClaims;
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: a valid access token is required (401 otherwise). */
    authenticate(request: FastifyRequest): Promise<void>;
    /** preHandler factory: the caller must hold one of `roles` (403 otherwise). */
    requireRole(...roles: Role[]): (request: FastifyRequest) => Promise<void>;
    /** Signs an access token; `ttlSeconds` defaults to the configured access-token lifetime. */
    signAccessToken(userId: string, roles: Role[], ttlSeconds?: number): string;
  }
}

/** Bearer access tokens: HS256 JWTs signed with `JWT_SECRET`, `sub` = user id, with roles. */
export default fp(
  async function auth(app: FastifyInstance, opts: { config: Config }) {
    await app.register(jwt, { secret: opts.config.jwtSecret, sign: { algorithm: 'HS256' }, verify: { algorithms: ['HS256'] } });

    app.decorate('signAccessToken', (userId: string, roles: Role[], ttlSeconds = opts.config.accessTokenTtlSeconds) =>
      app.jwt.sign({ sub: userId, roles, typ: 'access' }, { expiresIn: `${ttlSeconds}s` }),
    );

    app.decorate('authenticate', async (request: FastifyRequest) => {
      if (!request.headers.authorization) throw new HttpProblem('UNAUTHORIZED', 'send Authorization: Bearer <accessToken>');
      try {
        await request.jwtVerify();
      } catch {
        throw new HttpProblem('UNAUTHORIZED', 'the access token is missing, malformed, forged or expired');
      }
      if (request.user.typ !== 'access') throw new HttpProblem('UNAUTHORIZED', 'not an access token');
    });

    app.decorate('requireRole', (...roles: Role[]) => async (request: FastifyRequest) => {
      await app.authenticate(request);
      if (!request.user.roles.some((r) => roles.includes(r))) throw new HttpProblem('FORBIDDEN', `this needs the ${roles.join(' or ')} role`);
    });
  },
  { name: 'auth' },
);
