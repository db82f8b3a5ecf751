import jwt from '@fastify/jwt';
import Fastify, { type FastifyReply } from 'fastify';
import { createPool, type RowDataPacket } from 'mysql2/promise';
import { v7 as uuidv7 } from 'uuid';

/**
 * The baseline of the `holds` benchmark: the classic way to take stock, one database transaction
 * per purchase that locks the deal row (`SELECT ... FOR UPDATE`), decrements it and inserts the
 * hold. A minimal fastify 5 server with the same JWT check as Dealrush (HS256, same secret,
 * `typ: 'access'`) and a mysql2 pool of the same size, using prepared statements (`execute`).
 *
 * Tables (created by the scenario in the bench database, InnoDB):
 * `bench_deals (id, remaining, price, currency)` and
 * `bench_holds (id, deal_id, user_id, quantity, expires_at, created_at)`.
 *
 * Environment: PORT, HOST, DATABASE_URL (`mysql://`), JWT_SECRET, DB_POOL_SIZE, HOLD_TTL_SECONDS.
 * Routes: `GET /health/ready`, `POST /api/cart/items { dealId, quantity }` -> 201 `{ hold }`,
 * 409 `SOLD_OUT`, 404 `NOT_FOUND`, 401 `UNAUTHORIZED` (problem+json, as in CONTRACT.md).
 */
async function main(): Promise<void> {
  const env = (name: string, fallback?: string): string => {
    const value = process.env[name] ?? fallback;
    if (value === undefined || value === '') throw new Error(`baseline-server: ${name} is required`);
    return value;
  };
  const port = Number(env('PORT'));
  const host = env('HOST', '127.0.0.1');
  const poolSize = Number(env('DB_POOL_SIZE', '20'));
  const holdTtlMs = Number(env('HOLD_TTL_SECONDS', '600')) * 1000;
  const pool = createPool({ uri: env('DATABASE_URL').replace(/^mariadb:/, 'mysql:'), connectionLimit: poolSize, enableKeepAlive: true, timezone: 'Z' });

  const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'warn' } });
  await app.register(jwt, { secret: env('JWT_SECRET'), verify: { algorithms: ['HS256'] } });

  const problem = (reply: FastifyReply, status: number, code: string, title: string, detail: string) =>
    reply.code(status).type('application/problem+json').send({ type: 'about:blank', title, status, detail, code });

  app.get('/health/ready', async () => {
    await pool.query('SELECT 1');
    return { status: 'ok' };
  });

  app.post<{ Body: { dealId: string; quantity: number } }>(
    '/api/cart/items',
    {
      onRequest: async (request, reply) => {
        try {
          await request.jwtVerify();
        } catch {
          return problem(reply, 401, 'UNAUTHORIZED', 'Authentication is required', 'the access token is missing, malformed, forged or expired');
        }
        if ((request.user as { typ?: string }).typ !== 'access') return problem(reply, 401, 'UNAUTHORIZED', 'Authentication is required', 'not an access token');
      },
      schema: {
        body: {
          type: 'object',
          required: ['dealId', 'quantity'],
          additionalProperties: false,
          properties: { dealId: { type: 'string', minLength: 1, maxLength: 36 }, quantity: { type: 'integer', minimum: 1, maximum: 1000 } },
        },
      },
    },
    async (request, reply) => {
      const { dealId, quantity } = request.body;
      const userId = (request.user as { sub: string }).sub;
      const conn = await pool.getConnection();
      try {
        await conn.beginTransaction();
        const [rows] = await conn.execute<RowDataPacket[]>('SELECT remaining, price, currency FROM bench_deals WHERE id = ? FOR UPDATE', [dealId]);
        if (rows.length === 0) {
          await conn.rollback();
          return problem(reply, 404, 'NOT_FOUND', 'Not found', 'no such deal');
        }
        const deal = rows[0] as { remaining: number; price: number; currency: string };
        if (deal.remaining < quantity) {
          await conn.rollback();
          return problem(reply, 409, 'SOLD_OUT', 'Sold out', deal.remaining === 0 ? 'every unit is sold or held' : `only ${deal.remaining} left`);
        }
        await conn.execute('UPDATE bench_deals SET remaining = remaining - ? WHERE id = ?', [quantity, dealId]);
        const now = Date.now();
        const hold = { id: uuidv7(), dealId, quantity, unitPrice: Number(deal.price), currency: deal.currency, expiresAt: now + holdTtlMs };
        await conn.execute('INSERT INTO bench_holds (id, deal_id, user_id, quantity, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)', [hold.id, dealId, userId, quantity, hold.expiresAt, now]);
        await conn.commit();
        reply.code(201);
        return { hold: { ...hold, expiresAt: new Date(hold.expiresAt).toISOString() } };
      } catch (error) {
        await conn.rollback().catch(() => undefined);
        throw error;
      } finally {
        conn.release();
      }
    },
  );

  let closing = false;
  const shutdown = async () => {
    if (closing) return;
    closing = true;
    await app.close();
    await pool.end();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
  await app.listen({ port, host });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
