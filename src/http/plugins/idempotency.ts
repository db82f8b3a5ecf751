import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { IdempotencyStore, type IdempotencyClaim } from '../idempotency-store';
import { HttpProblem } from '../problem';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `required`: the route needs an `Idempotency-Key`; `optional`: honoured when sent. */
    idempotency?: 'required' | 'optional';
  }
  interface FastifyRequest {
    /** The caller's `Idempotency-Key` on a route that honours it (for deterministic ids). */
    idempotencyKey?: string;
    idempotencyClaim?: { claim: IdempotencyClaim; createdAt: number };
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
    const store = new IdempotencyStore(app.db);

    app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
      const mode = request.routeOptions.config.idempotency;
      if (!mode || !request.user) return;
      const key = request.headers['idempotency-key'];
      if (key === undefined) {
        if (mode === 'required') throw new HttpProblem('VALIDATION_FAILED', 'send an Idempotency-Key header (a fresh random value per intended action, e.g. a UUID)');
        return;
      }
      if (typeof key !== 'string' || !KEY.test(key)) throw new HttpProblem('VALIDATION_FAILED', 'the Idempotency-Key must be 1 to 200 printable ASCII characters');
      const claim: IdempotencyClaim = {
        userId: request.user.sub,
        keyHash: sha256(key),
        route: `${request.method} ${request.routeOptions.url} ${JSON.stringify(request.params ?? {})}`.slice(0, 300),
        bodyHash: sha256(JSON.stringify(request.body ?? null)),
      };
      request.idempotencyKey = key;

      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const now = Date.now();
        const record = await store.claim(claim, now);
        if (record.first) {
          request.idempotencyClaim = { claim, createdAt: now };
          return; // first: run the handler
        }
        if (record.createdAt === 0) continue; // removed meanwhile (a 5xx): try to be first again
        if (record.route !== claim.route || record.bodyHash !== claim.bodyHash) {
          throw new HttpProblem('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with another request; use a new key for a new action');
        }
        if (record.statusCode !== null) {
          reply.code(record.statusCode).header('idempotent-replayed', 'true');
          if (record.contentType) reply.header('content-type', record.contentType);
          return reply.send(record.response ?? '');
        }
        if (now - record.createdAt > ABANDONED_MS) {
          await store.forget(claim, true);
          continue;
        }
        if (now > deadline) throw new HttpProblem('UNAVAILABLE', 'the first request with this Idempotency-Key is still running; retry shortly', { retryAfterSeconds: 1 });
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    });

    app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      const taken = request.idempotencyClaim;
      if (!taken) return payload;
      request.idempotencyClaim = undefined;
      try {
        if (reply.statusCode >= 500) {
          await store.forget(taken.claim);
        } else {
          const contentType = String(reply.getHeader('content-type') ?? '') || null;
          const response = typeof payload === 'string' ? payload : payload === null || payload === undefined ? '' : JSON.stringify(payload);
          await store.complete(taken.claim, { statusCode: reply.statusCode, contentType, response }, taken.createdAt);
        }
      } catch (err) {
        request.log.error({ err }, 'could not store the idempotent response; a retry with this key runs again after the abandon window');
      }
      return payload;
    });

    const prune = setInterval(() => {
      store.prune(Date.now() - RETENTION_MS).catch((err) => app.log.warn({ err }, 'pruning idempotency keys failed'));
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
