import type { FastifyInstance } from 'fastify';
import { signatureHeader } from '../../src/payments/signature';
import { bearer, SHIPPING } from './app';

/** POSTs `body` to the webhook over HTTP, signed with `secret` at `t` (unix s; default now). */
export async function postWebhook(base: string, secret: string | null, body: unknown, t = Math.floor(Date.now() / 1000), rawOverride?: string): Promise<{ status: number; json: any }> {
  const raw = JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (secret) headers['dealrush-signature'] = signatureHeader(secret, t, raw);
  const res = await fetch(`${base}/api/payments/webhook`, { method: 'POST', headers, body: rawOverride ?? raw });
  return { status: res.status, json: await res.json().catch(() => null) };
}

/** A JSON call over real HTTP; answers the status and the parsed body. */
export async function call(base: string, method: string, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(token ? bearer(token) : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (the card page)
  }
  return { status: res.status, json, text };
}

/** Hold `quantity` of `dealId`, check out, and start a card payment; all over HTTP. */
export async function checkoutAndPay(base: string, token: string, dealId: string, quantity = 1): Promise<{ order: any; payment: any; holdId: string }> {
  const hold = await call(base, 'POST', '/api/cart/items', token, { dealId, quantity }, { 'idempotency-key': crypto.randomUUID() });
  if (hold.status !== 201) throw new Error(`hold: ${hold.status} ${hold.text}`);
  const order = await call(base, 'POST', '/api/orders', token, { holdIds: [hold.json.hold.id], shippingAddress: SHIPPING }, { 'idempotency-key': crypto.randomUUID() });
  if (order.status !== 201) throw new Error(`order: ${order.status} ${order.text}`);
  const payment = await call(base, 'POST', `/api/orders/${order.json.id}/payment`, token, { method: 'card' }, { 'idempotency-key': crypto.randomUUID() });
  if (payment.status !== 201) throw new Error(`payment: ${payment.status} ${payment.text}`);
  return { order: order.json, payment: payment.json, holdId: hold.json.hold.id };
}

/** The gateway's base URL: `checkoutUrl`'s origin (CONTRACT.md). */
export const gatewayOf = (payment: { checkoutUrl: string }) => new URL(payment.checkoutUrl).origin;

export async function listenOnLoopback(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  return `http://127.0.0.1:${port}`;
}
