import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError, type GatewayPayment, type MockGateway } from './mock-gateway';

const PaymentId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const Params = Type.Object({ paymentId: PaymentId });
type IdParams = { Params: { paymentId: string } };

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const money = (amount: number, currency: string) => `${new Intl.NumberFormat('en', { maximumFractionDigits: 0 }).format(amount)} ${escapeHtml(currency)}`;

export interface MockGatewayRouteOptions {
  gateway: MockGateway;
  /**
   * The origin shoppers' browsers reach this gateway at, for `checkoutUrl`; default: the origin
   * the creating request came to (in-process, the server rewrites it to the shopper's origin).
   */
  publicUrl?: string | null;
  /** Hide the routes from an OpenAPI document they share (the in-process gateway). */
  hide?: boolean;
  /**
   * Serve the test routes (`/v1/_faults`, `/v1/_deliveries`). Default true. Anyone who can reach
   * them can make webhooks fail or vanish, so a shop's own in-process gateway serves them only
   * when GATEWAY_FAULT_ROUTES=1.
   */
  faultRoutes?: boolean;
}

/**
 * The mock payment gateway's HTTP protocol (CONTRACT.md, "The payment gateway"):
 *
 * | call | answer |
 * | --- | --- |
 * | `POST /v1/payments` `{ id, orderId, amount, currency, webhookUrl, returnUrl? }` | 201 (200 when the id exists) payment with `checkoutUrl` |
 * | `GET /v1/payments/:id` | 200 payment (the status query reconciliation uses) |
 * | `GET /v1/payments/:id/checkout` | the hosted card page (HTML) |
 * | `POST /v1/payments/:id/approve` · `/decline` | 200 payment; a form post is redirected to `returnUrl` |
 * | `POST /v1/payments/:id/refund` | 200 payment (`refunded`; idempotent) |
 * | `GET/PUT/DELETE /v1/_faults`, `GET /v1/_deliveries` | fault injection and the delivery log, for tests (only with `faultRoutes`) |
 *
 * Every state change sends a signed webhook to the payment's `webhookUrl`, retried with backoff
 * until a 2xx. Errors are `{ error: { code, message } }`.
 */
export async function mockGatewayRoutes(app: FastifyInstance, opts: MockGatewayRouteOptions): Promise<void> {
  const { gateway } = opts;
  const hide = opts.hide ?? false;

  // The card page posts an HTML form.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.setErrorHandler((error: Error & { statusCode?: number; validation?: unknown }, _request, reply) => {
    if (error instanceof GatewayError) return reply.code(error.status).send({ error: { code: error.code, message: error.message } });
    if (error.validation) return reply.code(400).send({ error: { code: 'invalid_request', message: error.message } });
    const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 500;
    return reply.code(status).send({ error: { code: status === 500 ? 'internal' : 'invalid_request', message: status === 500 ? 'internal error' : error.message } });
  });

  // The injected latency is the gateway API's; the test controls (`/v1/_faults`, `/v1/_deliveries`) answer at once.
  app.addHook('onRequest', async (request) => {
    const latency = gateway.faults.apiLatencyMs;
    if (latency > 0 && !request.url.startsWith('/v1/_')) await new Promise((r) => setTimeout(r, latency));
  });

  const originOf = (request: FastifyRequest) => opts.publicUrl ?? `${request.protocol}://${request.host}`;
  const view = (request: FastifyRequest, p: GatewayPayment) => ({
    id: p.id,
    orderId: p.orderId,
    amount: p.amount,
    currency: p.currency,
    status: p.status,
    chargedAmount: p.chargedAmount,
    checkoutUrl: `${originOf(request)}/v1/payments/${p.id}/checkout`,
    createdAt: new Date(p.createdAt).toISOString(),
    updatedAt: new Date(p.updatedAt).toISOString(),
  });
  const tags = ['mock gateway'];

  app.post<{ Body: { id: string; orderId: string; amount: number; currency: string; webhookUrl: string; returnUrl?: string } }>(
    '/v1/payments',
    {
      schema: {
        hide,
        tags,
        body: Type.Object(
          {
            id: PaymentId,
            orderId: Type.String({ minLength: 1, maxLength: 64 }),
            amount: Type.Integer({ minimum: 1 }),
            currency: Type.String({ pattern: '^[A-Z]{3}$' }),
            webhookUrl: Type.String({ pattern: '^https?://' }),
            returnUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const { payment, created } = gateway.create(request.body);
      reply.code(created ? 201 : 200);
      return view(request, payment);
    },
  );

  app.get<IdParams>('/v1/payments/:paymentId', { schema: { hide, tags, params: Params } }, async (request) => view(request, gateway.get(request.params.paymentId)));

  app.get<IdParams>('/v1/payments/:paymentId/checkout', { schema: { hide, tags, params: Params } }, async (request, reply) => {
    const p = gateway.get(request.params.paymentId);
    const action = (what: string) => `/v1/payments/${encodeURIComponent(p.id)}/${what}`;
    const open = p.status === 'pending';
    reply.type('text/html; charset=utf-8');
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mock card payment</title>
<style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem;color:#1d2433}
.card{border:1px solid #d5d9e2;border-radius:12px;padding:1.5rem;box-shadow:0 2px 8px #0001}
label{display:block;margin:.75rem 0 .25rem;font-size:.9rem}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
.row{display:flex;gap:.5rem;margin-top:1.25rem}button{flex:1;padding:.7rem;font-size:1rem;border-radius:8px;border:0;cursor:pointer}
.ok{background:#1a7f4b;color:#fff}.no{background:#e6e8ee}.muted{color:#667;font-size:.85rem}</style></head>
<body><div class="card">
<p class="muted">Dealrush mock gateway · no real money moves</p>
<h1 style="margin:.25rem 0 1rem">Pay ${money(p.amount, p.currency)}</h1>
<p class="muted">Order ${escapeHtml(p.orderId)} · payment ${escapeHtml(p.id)}</p>
${
  open
    ? `<form method="post" action="${action('approve')}" id="pay">
<label for="card">Card number</label><input id="card" name="card" value="4242 4242 4242 4242" autocomplete="off">
<label for="exp">Expiry</label><input id="exp" name="exp" value="12/34">
<div class="row"><button class="ok" type="submit" data-testid="gateway-approve">Pay</button>
<button class="no" type="submit" formaction="${action('decline')}" data-testid="gateway-decline">Decline</button></div></form>`
    : `<p data-testid="gateway-status">This payment is <strong>${escapeHtml(p.status)}</strong>.</p>${p.returnUrl ? `<p><a href="${escapeHtml(p.returnUrl)}">Back to the shop</a></p>` : ''}`
}
</div></body></html>`;
  });

  const decide = (what: 'approve' | 'decline') => async (request: FastifyRequest<IdParams & { Body?: { chargeAmount?: number | string } }>, reply: FastifyReply) => {
    const form = request.headers['content-type']?.startsWith('application/x-www-form-urlencoded') ?? false;
    const charge = request.body?.chargeAmount;
    const p = what === 'approve' ? gateway.approve(request.params.paymentId, charge === undefined ? undefined : Number(charge)) : gateway.decline(request.params.paymentId);
    if (form) return reply.redirect(p.returnUrl ?? `/v1/payments/${encodeURIComponent(p.id)}/checkout`, 303);
    return view(request, p);
  };
  app.post('/v1/payments/:paymentId/approve', { schema: { hide, tags, params: Params } }, decide('approve'));
  app.post('/v1/payments/:paymentId/decline', { schema: { hide, tags, params: Params } }, decide('decline'));
  app.post<IdParams>('/v1/payments/:paymentId/refund', { schema: { hide, tags, params: Params } }, async (request) => view(request, gateway.refund(request.params.paymentId)));

  if (opts.faultRoutes === false) return;
  app.get('/v1/_faults', { schema: { hide, tags } }, async () => gateway.faults);
  app.put<{ Body: Record<string, unknown> }>(
    '/v1/_faults',
    {
      schema: {
        hide,
        tags,
        body: Type.Object(
          {
            delayMs: Type.Optional(Type.Integer({ minimum: 0 })),
            failNext: Type.Optional(Type.Integer({ minimum: 0 })),
            duplicate: Type.Optional(Type.Integer({ minimum: 0, maximum: 10 })),
            reorder: Type.Optional(Type.Boolean()),
            dropNext: Type.Optional(Type.Integer({ minimum: 0 })),
            apiLatencyMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60_000 })),
            signingSecret: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Null()])),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => gateway.setFaults(request.body),
  );
  app.delete('/v1/_faults', { schema: { hide, tags } }, async (_request, reply) => {
    gateway.resetFaults();
    return reply.code(204).send();
  });
  app.get('/v1/_deliveries', { schema: { hide, tags } }, async () => gateway.deliveries);
}
