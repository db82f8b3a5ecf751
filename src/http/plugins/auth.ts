import jwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { parseRoles, type AccessClaims } from '../../accounts/accounts';
import { Suspensions } from '../../accounts/suspensions';
import type { Config } from '../../config';
import { UserEntity } from '../../persistence/entities/user.entity';
import type { Role } from '../schemas';
import { HttpProblem } from '../problem';
import { AccessTokenVerifier, bearerToken } from '../access-token-verifier';

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessClaims;
    user: AccessClaims;
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: a valid access token of an account that is not suspended (401 otherwise). */
    authenticate(request: FastifyRequest): Promise<void>;
    /**
     * preHandler factory: the caller must hold one of `roles` *now*, read from the database rather
     * than the token, so an approval, a revoked role or a suspension counts at once (403
     * otherwise). `seller` means an approved seller: the role is only granted on approval.
     */
    requireRole(...roles: Role[]): (request: FastifyRequest) => Promise<void>;
    /** Signs an access token; `ttlSeconds` defaults to the configured access-token lifetime. */
    signAccessToken(userId: string, roles: Role[], ttlSeconds?: number): string;
    /** Suspended accounts (in memory, synced from the database). */
    suspensions: Suspensions;
  }
}

/** Bearer access tokens: HS256 JWTs signed with `JWT_SECRET`, `sub` = user id, with roles. */
export default fp(
  async function auth(app: FastifyInstance, opts: { config: Config }) {
    await app.register(jwt, { secret: opts.config.jwtSecret, sign: { algorithm: 'HS256' }, verify: { algorithms: ['HS256'], cache: 20_000 } });

    const suspensions = new Suspensions();
    app.decorate('suspensions', suspensions);

    app.decorate('signAccessToken', (userId: string, roles: Role[], ttlSeconds = opts.config.accessTokenTtlSeconds) =>
      app.jwt.sign({ sub: userId, roles, typ: 'access' }, { expiresIn: `${ttlSeconds}s` }),
    );

    // The request path verifies with fast-jwt (as @fastify/jwt, which sockets and the rest still
    // use) behind a cache keyed by the token's text: see AccessTokenVerifier.
    const verifier = new AccessTokenVerifier(opts.config.jwtSecret);
    app.decorate('authenticate', async (request: FastifyRequest) => {
      const header = request.headers.authorization;
      if (!header) throw new HttpProblem('UNAUTHORIZED', 'send Authorization: Bearer <accessToken>');
      const token = bearerToken(header);
      if (token === null) throw new HttpProblem('UNAUTHORIZED', 'the access token is missing, malformed, forged or expired');
      try {
        request.user = verifier.verify(token);
      } catch {
        throw new HttpProblem('UNAUTHORIZED', 'the access token is missing, malformed, forged or expired');
      }
      if (request.user.typ !== 'access') throw new HttpProblem('UNAUTHORIZED', 'not an access token');
      if (suspensions.has(request.user.sub)) throw new HttpProblem('UNAUTHORIZED', 'this account is suspended');
    });

    app.decorate('requireRole', (...roles: Role[]) => async (request: FastifyRequest) => {
      await app.authenticate(request);
      const row = await app.db.read((m) => m.findOne(UserEntity, { select: { id: true, roles: true, status: true }, where: { id: request.user.sub } }));
      if (!row) throw new HttpProblem('UNAUTHORIZED', 'the account no longer exists');
      if (row.status === 'suspended') throw new HttpProblem('UNAUTHORIZED', 'this account is suspended');
      const current = parseRoles(row.roles);
      request.user = { ...request.user, roles: current };
      if (!current.some((r) => roles.includes(r))) {
        throw new HttpProblem('FORBIDDEN', roles.includes('seller') ? `this needs an approved seller account${roles.includes('admin') ? ' or an admin' : ''} (apply at POST /api/me/seller-application)` : `this needs the ${roles.join(' or ')} role`);
      }
    });

    const sync = () => suspensions.sync(app.db);
    app.addHook('onReady', sync);
    const timer = setInterval(() => {
      sync().catch((err) => app.log.warn({ err }, 'could not re-read suspended accounts; keeping the last known set'));
    }, opts.config.suspensionSyncSeconds * 1000);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  },
  { name: 'auth', dependencies: ['core'] },
);
