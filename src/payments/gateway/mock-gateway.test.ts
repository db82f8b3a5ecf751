import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { verifySignature } from '../signature';
import { MockGateway } from './mock-gateway';

const SECRET = 'whsec_test_mock_gateway';

/** A webhook endpoint on loopback that answers each delivery after `holdMs`, recording what it saw. */
async function endpoint(options: { holdMs: number; answer?: number }) {
  const seen: Array<{ body: string; signature: string | undefined }> = [];
  const sockets = new Set<Socket>();
  let inFlight = 0;
  let maxInFlight = 0;
  const server = http.createServer((req, res) => {
    sockets.add(req.socket);
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ body: Buffer.concat(chunks).toString('utf8'), signature: req.headers['dealrush-signature'] as string | undefined });
      setTimeout(() => {
        inFlight -= 1;
        res.writeHead(options.answer ?? 200).end('{}');
      }, options.holdMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/payments/webhook`;
  return {
    url,
    seen,
    sockets,
    maxInFlight: () => maxInFlight,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('MockGateway webhook delivery (real HTTP on loopback)', () => {
  let gateway: MockGateway | null = null;
  afterEach(() => gateway?.close());

  it('delivers signed events over at most `deliveryConcurrency` kept-alive connections, queueing the rest', async () => {
    const hook = await endpoint({ holdMs: 80 });
    try {
      gateway = new MockGateway({ secret: SECRET, deliveryConcurrency: 3 });
      for (let i = 0; i < 12; i += 1) {
        gateway.create({ id: `pay_${i}`, orderId: `order-${i}`, amount: 1000 + i, currency: 'KRW', webhookUrl: hook.url });
        gateway.approve(`pay_${i}`);
      }
      await until(() => gateway!.deliveries.filter((d) => d.outcome === 200).length === 12);
      // Never more than three at once at the endpoint, over no more than three connections.
      expect(hook.maxInFlight()).toBe(3);
      expect(hook.sockets.size).toBeLessThanOrEqual(3);
      // Every one signed with the secret over its raw body, one event per payment.
      const events = hook.seen.map(({ body, signature }) => {
        expect(verifySignature(signature, Buffer.from(body), [SECRET], Math.floor(Date.now() / 1000)).ok).toBe(true);
        return JSON.parse(body) as { type: string; paymentId: string; amount: number };
      });
      expect(events.map((e) => e.paymentId).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `pay_${i}`).sort());
      expect(events.every((e) => e.type === 'payment.approved')).toBe(true);
    } finally {
      await hook.close();
    }
  });

  it('an endpoint that does not answer within `deliveryTimeoutMs` counts as a failed attempt and is retried', async () => {
    const hook = await endpoint({ holdMs: 400 });
    try {
      gateway = new MockGateway({ secret: SECRET, deliveryTimeoutMs: 100, retryBaseMs: 50, maxAttempts: 2 });
      gateway.create({ id: 'pay_slow', orderId: 'order-slow', amount: 500, currency: 'KRW', webhookUrl: hook.url });
      gateway.approve('pay_slow');
      await until(() => gateway!.deliveries.some((d) => d.outcome === 'gave-up'));
      expect(gateway.deliveries.map((d) => [d.attempt, d.outcome])).toEqual([
        [1, 'network-error'],
        [2, 'network-error'],
        [2, 'gave-up'],
      ]);
    } finally {
      await hook.close();
    }
  });

  it('a non-2xx answer is retried until a 2xx', async () => {
    const hook = await endpoint({ holdMs: 0, answer: 500 });
    try {
      gateway = new MockGateway({ secret: SECRET, retryBaseMs: 20, maxAttempts: 3 });
      gateway.create({ id: 'pay_500', orderId: 'order-500', amount: 700, currency: 'KRW', webhookUrl: hook.url });
      gateway.approve('pay_500');
      await until(() => gateway!.deliveries.some((d) => d.outcome === 'gave-up'));
      expect(gateway.deliveries.filter((d) => d.outcome === 500).map((d) => d.attempt)).toEqual([1, 2, 3]);
      expect(hook.seen).toHaveLength(3);
    } finally {
      await hook.close();
    }
  });
});
