import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { PaymentWebhookEvent } from '../../payments/payment-service';
import { SIGNATURE_HEADER, verifySignature } from '../../payments/signature';
import { HttpProblem } from '../problem';
import { ProblemSchema } from '../schemas';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request body exactly as received (the webhook's signature is over these bytes). */
    rawBody?: Buffer;
  }
}

const EventSchema = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
  type: Type.String({ minLength: 1, maxLength: 32 }),
  paymentId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
  orderId: Type.String({ minLength: 1, maxLength: 36 }),
  amount: Type.Integer({ minimum: 0 }),
  currency: Type.String({ pattern: '^[A-Z]{3}$' }),
  occurredAt: Type.String({ minLength: 1, maxLength: 40 }),
});
const KNOWN_TYPES = new Set(['payment.approved', 'payment.declined', 'payment.refunded']);

/**
 * `POST /api/payments/webhook`: the gateway's signed event (CONTRACT.md, "The payment gateway").
 * The signature is checked over the raw body, in constant time, against the current secret and
 * the previous one during a rotation; a stale timestamp (over 300 s) or a bad signature is 400
 * and changes nothing. A verified event is stored once by its id, answered 200 at once, and
 * handed to its order by a job: a duplicate is answered 200 too (`duplicate: true`) and not
 * handed on again. Event types this server does not know are acknowledged and ignored.
 */
const paymentWebhookRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { config } = app;
  // Keep the bytes: JSON.parse then JSON.stringify would not give back what was signed.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request: FastifyRequest, body: Buffer, done) => {
    request.rawBody = body;
    try {
      done(null, body.length === 0 ? null : JSON.parse(body.toString('utf8')));
    } catch {
      done(new HttpProblem('VALIDATION_FAILED', 'the body is not JSON'), undefined);
    }
  });

  const secrets = (now: number): string[] => {
    const previous = config.paymentWebhookSecretPrevious;
    const until = config.paymentWebhookSecretPreviousUntil;
    return previous && (until === null || now < until) ? [config.paymentWebhookSecret, previous] : [config.paymentWebhookSecret];
  };

  app.post(
    '/api/payments/webhook',
    {
      schema: {
        tags: ['payments'],
        summary: "The payment gateway's signed webhook (Dealrush-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, t + '.' + rawBody)>)",
        headers: Type.Object({ [SIGNATURE_HEADER]: Type.Optional(Type.String()) }),
        body: Type.Unknown(),
        response: {
          200: Type.Object({ received: Type.Boolean(), duplicate: Type.Boolean(), ignored: Type.Boolean() }),
          400: ProblemSchema,
          503: ProblemSchema,
        },
      },
    },
    async (request) => {
      const now = Date.now();
      const raw = request.rawBody ?? Buffer.alloc(0);
      const check = verifySignature(request.headers[SIGNATURE_HEADER], raw, secrets(now), Math.floor(now / 1000));
      if (!check.ok) {
        request.log.warn({ reason: check.reason }, 'payment webhook refused');
        const detail = check.reason === 'stale' ? 'the signature timestamp is more than 300 s from now' : `the ${SIGNATURE_HEADER} header is ${check.reason === 'mismatch' ? 'not a valid signature of this body' : check.reason}`;
        throw new HttpProblem('VALIDATION_FAILED', detail);
      }
      const body = request.body;
      if (!Value.Check(EventSchema, body)) throw new HttpProblem('VALIDATION_FAILED', 'the event is not of the documented shape');
      if (!KNOWN_TYPES.has(body.type)) {
        request.log.info({ eventId: body.id, type: body.type }, 'payment webhook of a type this server does not handle: acknowledged');
        return { received: true, duplicate: false, ignored: true };
      }
      const event = body as PaymentWebhookEvent;
      const { stored, row } = await app.paymentService.recordEvent(event, 'webhook');
      if (stored) {
        try {
          await app.paymentJobs.enqueueEvent(event.id, row);
        } catch (err) {
          // Stored: the sweep processes it (stale events), so the gateway need not send it again.
          request.log.warn({ err, eventId: event.id }, 'could not queue a payment event; the sweep will process it');
        }
      }
      return { received: true, duplicate: !stored, ignored: false };
    },
  );
};

export default paymentWebhookRoutes;
