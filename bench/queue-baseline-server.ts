import Fastify, { type FastifyReply } from 'fastify';
import Redis from 'ioredis';
import { AccessTokenVerifier, bearerToken } from '../src/http/access-token-verifier';

/**
 * The baseline of the `queue` benchmark: the common way to build a waiting-room line, one Redis
 * sorted set per deal, one round trip per join (`ZADD key NX <now> <shopper>` then `ZRANK`, sent as
 * one pipeline). A minimal fastify 5 server with the same JWT check as Dealrush (HS256, same
 * secret, the same verifier as Dealrush's `authenticate`). Nothing is durable beyond what Redis keeps, and there is no pre-queue, admission or
 * live progress: it is the floor a join cannot go below, not a waiting room.
 *
 * Environment: PORT, HOST, JWT_SECRET, REDIS_URL (default redis://127.0.0.1:6379), KEY_PREFIX.
 * Routes: `GET /health/ready`; `POST /api/deals/:dealId/queue` -> 201 (new) or 200 `{ dealId, seq, status }`.
 */
async function main(): Promise<void> {
  const secret = process.env.JWT_SECRET;
  if (!secret) throw new Error('queue-baseline-server: JWT_SECRET is required');
  const prefix = process.env.KEY_PREFIX ?? 'bench:queue:';
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { enableAutoPipelining: false, maxRetriesPerRequest: 1 });
  const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'warn' } });
  const verifier = new AccessTokenVerifier(secret);
  const problem = (reply: FastifyReply, status: number, code: string, detail: string) =>
    reply.code(status).type('application/problem+json').send({ type: 'about:blank', title: code, status, detail, code });

  app.get('/health/ready', async () => ({ status: (await redis.ping()) === 'PONG' ? 'ok' : 'down' }));

  app.post<{ Params: { dealId: string } }>(
    '/api/deals/:dealId/queue',
    {
      onRequest: async (request, reply) => {
        const token = bearerToken(request.headers.authorization);
        try {
          if (token === null) throw new Error('no bearer token');
          (request as unknown as { user: { sub: string } }).user = verifier.verify(token);
        } catch {
          return problem(reply, 401, 'UNAUTHORIZED', 'the access token is missing, malformed, forged or expired');
        }
      },
    },
    async (request, reply) => {
      const userId = (request.user as { sub: string }).sub;
      const key = `${prefix}${request.params.dealId}`;
      const results = await redis.pipeline().zadd(key, 'NX', Date.now(), userId).zrank(key, userId).exec();
      if (!results || results.some(([err]) => err)) return problem(reply, 503, 'UNAVAILABLE', 'redis did not answer');
      const added = Number(results[0][1]);
      const rank = Number(results[1][1]);
      reply.code(added === 1 ? 201 : 200);
      return { dealId: request.params.dealId, seq: rank + 1, status: 'waiting' };
    },
  );

  const close = async () => {
    await app.close();
    redis.disconnect();
    process.exit(0);
  };
  process.once('SIGTERM', close);
  process.once('SIGINT', close);
  await app.listen({ port: Number(process.env.PORT ?? 3100), host: process.env.HOST ?? '127.0.0.1' });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
