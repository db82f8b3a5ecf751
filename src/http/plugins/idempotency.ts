import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { isUniqueViolation } from '../../accounts/accounts';
import { IdempotencyKeyEntity } from '../../persistence/entities/idempotency-key.entity';
import { HttpProblem } from '../problem';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `required`: the route needs an `Idempotency-Key`; `optional`: honoured when sent. */
    idempotency?: 'required' | 'optional';
  }
  interface FastifyRequest {
    /** The caller's `Idempotency-Key` on a route that honours it (for deterministic ids). */
    idempotencyKey?: string;
    idempotencyRecord?: { userId: string; keyHash: string };
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const KEY = /^[\x21-\x7e]{1,200}$/;
/** How long a duplicate waits for the first request before it is told to retry (ms). */
const WAIT_MS = 10_000;
/** A placeholder older than this was left by a crashed request: the request may run again (ms). */
const ABANDONED_MS = 60_000;
const RETENTION_MS = 25 * 3_600_000;

/**
 * Idempotency keys (CONTRACT.md; the IETF draft "The Idempotency-Key HTTP Header Field"): the
 * first response for a (user, key) is stored and replayed byte-for-byte for the same route and
 * body; the same key with another route or body is refused with `IDEMPOTENCY_KEY_REUSED`; a
 * duplicate sent while the first runs waits for its answer, so two concurrent requests make one
 * effect. 5xx answers are not stored (nothing happened; the client may retry). Routes also derive
 * the ids they create from the key ({@link idempotentId}), so a request re-run after a crash
 * finds its own hold, order or payment instead of making a second one.
 */
export default fp(
  async function idempotency(app: FastifyInstance) {
    app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
      const mode = request.routeOptions.config.idempotency;
      if (!mode || !request.user) return;
      const key = request.headers['idempotency-key'];
      if (key === undefined) {
        if (mode === 'required') throw new HttpProblem('VALIDATION_FAILED', 'send an Idempotency-Key header (a fresh random value per intended action, e.g. a UUID)');
        return;
      }
      if (typeof key !== 'string' || !KEY.test(key)) throw new HttpProblem('VALIDATION_FAILED', 'the Idempotency-Key must be 1 to 200 printable ASCII characters');
      const userId = request.user.sub;
      const keyHash = sha256(key);
      const route = `${request.method} ${request.routeOptions.url} ${JSON.stringify(request.params ?? {})}`.slice(0, 300);
      const bodyHash = sha256(JSON.stringify(request.body ?? null));
      request.idempotencyKey = key;

      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const now = Date.now();
        try {
          await app.db.transaction((m) => m.insert(IdempotencyKeyEntity, { userId, keyHash, route, bodyHash, statusCode: null, contentType: null, response: null, createdAt: now }));
          request.idempotencyRecord = { userId, keyHash };
          return; // first: run the handler
        } catch (error) {
          if (!isUniqueViolation(error)) throw error;
        }
        const row = await app.db.read((m) => m.findOne(IdempotencyKeyEntity, { where: { userId, keyHash } }));
        if (!row) continue; // removed meanwhile (a 5xx): try to be first again
        if (row.route !== route || row.bodyHash !== bodyHash) {
          throw new HttpProblem('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with another request; use a new key for a new action');
        }
        if (row.statusCode !== null) {
          reply.code(row.statusCode).header('idempotent-replayed', 'true');
          if (row.contentType) reply.header('content-type', row.contentType);
          return reply.send(row.response ?? '');
        }
        if (now - row.createdAt > ABANDONED_MS) {
          await app.db.transaction((m) => m.delete(IdempotencyKeyEntity, { userId, keyHash, statusCode: null as never }));
          continue;
        }
        if (now > deadline) throw new HttpProblem('UNAVAILABLE', 'the first request with this Idempotency-Key is still running; retry shortly', { retryAfterSeconds: 1 });
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    });

    app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      const record = request.idempotencyRecord;
      if (!record) return payload;
      request.idempotencyRecord = undefined;
      try {
        if (reply.statusCode >= 500) {
          await app.db.transaction((m) => m.delete(IdempotencyKeyEntity, record));
        } else {
          const contentType = String(reply.getHeader('content-type') ?? '');
          const response = typeof payload === 'string' ? payload : payload === null || payload === undefined ? '' : JSON.stringify(payload);
          await app.db.transaction((m) => m.update(IdempotencyKeyEntity, record, { statusCode: reply.statusCode, contentType: contentType || null, response }));
        }
      } catch (err) {
        request.log.error({ err }, 'could not store the idempotent response; a retry with this key will run again after the abandon window');
      }
      return payload;
    });

    const prune = setInterval(() => {
      app.db
        .transaction((m) => m.createQueryBuilder().delete().from(IdempotencyKeyEntity).where('created_at < :before', { before: Date.now() - RETENTION_MS }).execute())
        .catch((err) => app.log.warn({ err }, 'pruning idempotency keys failed'));
    }, 3_600_000);
    prune.unref();
    app.addHook('onClose', async () => clearInterval(prune));
  },
  { name: 'idempotency', dependencies: ['core', 'auth'] },
);

/**
 * An id for what a request creates, derived from the caller and their Idempotency-Key (a UUID
 * shape from SHA-256, RFC 9562 §5.8 "custom" version 8), or `fresh()` when the request has no key.
 */
export function idempotentId(request: FastifyRequest, purpose: string, fresh: () => string): string {
  if (!request.idempotencyKey || !request.user) return fresh();
  const h = sha256(`${purpose}\n${request.user.sub}\n${request.idempotencyKey}`);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16], 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
