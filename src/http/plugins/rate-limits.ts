import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Redis } from 'ioredis';
import { normalizeEmail } from '../../accounts/passwords';
import type { Config } from '../../config';
import { HttpProblem } from '../problem';

/**
 * The rate-limited actions. A route opts in with `config: { limits: rateLimits.<name> }`:
 *
 * @example
 * app.post('/api/deals/:dealId/queue', { onRequest: [app.authenticate], config: { limits: rateLimits.queueJoin }, schema }, handler)
 */
export const rateLimits = { signup: 'signup', login: 'login', queueJoin: 'queueJoin', hold: 'hold' } as const;
export type RateLimitName = keyof typeof rateLimits;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which abuse limit (per user and per client address) applies to this route. */
    limits?: RateLimitName;
  }
}

type Scope = 'user' | 'address' | 'account';

/** Which counters each action has, and which setting gives each counter's maximum. */
const parts: Record<RateLimitName, Array<{ scope: Scope; max: keyof Config['rateLimits'] }>> = {
  signup: [{ scope: 'address', max: 'signupPerAddress' }],
  login: [
    { scope: 'address', max: 'loginPerAddress' },
    { scope: 'account', max: 'loginPerAccount' },
  ],
  queueJoin: [
    { scope: 'user', max: 'queueJoinPerUser' },
    { scope: 'address', max: 'queueJoinPerAddress' },
  ],
  hold: [
    { scope: 'user', max: 'holdsPerUser' },
    { scope: 'address', max: 'holdsPerAddress' },
  ],
};

/** The counter's key for this request, or null when the scope does not apply (no user yet, no email). */
function keyOf(scope: Scope, request: FastifyRequest): string | null {
  switch (scope) {
    case 'address':
      return `a:${request.ip}`;
    case 'user':
      return request.user?.sub ? `u:${request.user.sub}` : null;
    case 'account': {
      const email = (request.body as { email?: unknown } | undefined)?.email;
      return typeof email === 'string' && email.length <= 254 ? `e:${normalizeEmail(email)}` : null;
    }
  }
}

/**
 * Abuse limits with @fastify/rate-limit's counters: fixed windows of `RATE_LIMIT_WINDOW_SECONDS`,
 * one counter per user (or, for login, per target account) and one per client address (read from
 * `X-Forwarded-For` only behind a `TRUST_PROXY`). Counters live in Redis when `REDIS_URL` is set
 * (shared by every node), in this process otherwise. Over a limit: `429 RATE_LIMITED` with
 * `Retry-After` (the seconds left in the window).
 *
 * The check runs as the route's first preValidation hook: after authentication (so the user is
 * known) and body parsing (the login email), before validation and before the idempotency
 * preHandler (so a refused request stores no idempotent answer and a retry with the same key runs).
 *
 * Redis down: fail open. A counter that cannot be read lets the request through and logs a warning
 * (at most one per 30 s). These limits only slow abuse; what must hold without them does not
 * depend on Redis: the login lockout is in the database, per-shopper stock limits are the deal
 * actor's, duplicates are caught by idempotency keys. Failing closed would turn a Redis outage
 * into a sale outage.
 */
export default fp(
  async function rateLimitsPlugin(app: FastifyInstance, opts: { config: Config }) {
    const settings = opts.config.rateLimits;
    const windowMs = settings.windowSeconds * 1000;
    let lastWarning = 0;
    const warn = (err: unknown, what: string) => {
      if (Date.now() - lastWarning < 30_000) return;
      lastWarning = Date.now();
      app.log.warn({ err }, `${what}; rate limits are off (fail open) until it answers`);
    };

    const redis = opts.config.redisUrl
      ? new Redis(opts.config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: 500, connectTimeout: 2000, lazyConnect: true })
      : null;
    if (redis) {
      redis.on('error', (err) => warn(err, 'Redis for rate limits is not reachable'));
      await redis.connect().catch((err) => warn(err, 'Redis for rate limits is not reachable at start'));
      app.addHook('onClose', async () => {
        redis.disconnect();
      });
    }

    // The library in a context of its own: its onRoute hook sees none of the app's routes; only
    // its counters (createRateLimit) are used, so two counters can apply to one request.
    let create!: FastifyInstance['createRateLimit'];
    await app.register(async (child) => {
      await child.register(rateLimit, { global: false, skipOnError: false, nameSpace: 'dealrush:rate:', ...(redis ? { redis } : {}) });
      create = child.createRateLimit.bind(child);
    });

    const limiters = Object.fromEntries(
      Object.entries(parts).map(([name, list]) => [
        name,
        list
          .filter((p) => settings[p.max] > 0)
          .map((p) => ({
            scope: p.scope,
            check: create({
              max: settings[p.max],
              timeWindow: windowMs,
              keyGenerator: (request: FastifyRequest) => `${name}:${keyOf(p.scope, request)}`,
              cache: 100_000,
            } as Parameters<typeof create>[0]),
          })),
      ]),
    ) as Record<RateLimitName, Array<{ scope: Scope; check: ReturnType<typeof create> }>>;

    const guard = (name: RateLimitName) =>
      async function rateLimited(request: FastifyRequest) {
        for (const limiter of limiters[name]) {
          if (keyOf(limiter.scope, request) === null) continue;
          let result;
          try {
            result = await limiter.check(request);
          } catch (err) {
            warn(err, 'a rate-limit counter could not be read');
            continue;
          }
          if (!result.isAllowed && result.isExceeded) {
            const by = limiter.scope === 'address' ? 'from your address' : limiter.scope === 'account' ? 'for this account' : 'from your account';
            throw new HttpProblem('RATE_LIMITED', `too many requests ${by}; try again in ${result.ttlInSeconds} s`, { retryAfterSeconds: Math.max(1, result.ttlInSeconds) });
          }
        }
      };

    app.addHook('onRoute', (route) => {
      const name = route.config?.limits;
      if (!name) return;
      if (!(name in parts)) throw new Error(`unknown rate limit "${name}" on ${route.method} ${route.url}`);
      // Every counter of this action switched off (its maximums set to 0): no hook at all.
      if (limiters[name].length === 0) return;
      const hook = guard(name);
      const existing = route.preValidation;
      route.preValidation = [hook, ...(existing === undefined ? [] : Array.isArray(existing) ? existing : [existing])];
    });
  },
  { name: 'rate-limits', dependencies: ['auth'] },
);
