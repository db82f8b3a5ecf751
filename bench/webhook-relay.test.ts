import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startWebhookRelay } from './webhook-relay';

/** A node stand-in on loopback that records what reached it and answers 200. */
async function recordingNode(name: string) {
  const seen: Array<{ path: string; signature: string | undefined; type: string | undefined; body: string }> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ path: req.url!, signature: req.headers['dealrush-signature'] as string | undefined, type: req.headers['content-type'], body: Buffer.concat(chunks).toString() });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ node: name }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** An origin nobody listens on (a killed node): a port taken and released. */
async function deadOrigin(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

describe('the rehearsal webhook relay', () => {
  it('passes body and signature through unchanged, round robin, to the next node when one refuses the connection; 502 when none takes it', async () => {
    const a = await recordingNode('a');
    const b = await recordingNode('b');
    const dead = await deadOrigin();
    let origins = [a.origin, dead, b.origin];
    const relay = await startWebhookRelay(() => origins);
    try {
      const body = '{"id":"evt_1","type":"payment.approved","amount":12000}';
      const post = () =>
        fetch(`${relay.origin}/api/payments/webhook?x=1`, { method: 'POST', headers: { 'content-type': 'application/json', 'dealrush-signature': 't=1,v1=abc' }, body });
      const answers = [];
      for (let i = 0; i < 3; i++) {
        const res = await post();
        answers.push({ status: res.status, node: ((await res.json()) as { node: string }).node });
      }
      // Turns start at a, the dead node, b: the dead node's turn goes to b.
      expect(answers).toEqual([{ status: 200, node: 'a' }, { status: 200, node: 'b' }, { status: 200, node: 'b' }]);
      for (const hit of [...a.seen, ...b.seen]) expect(hit).toEqual({ path: '/api/payments/webhook?x=1', signature: 't=1,v1=abc', type: 'application/json', body });
      expect(relay.forwarded()).toBe(3);

      origins = [dead];
      const refused = await post();
      expect(refused.status).toBe(502);
      expect(relay.forwarded()).toBe(3);
    } finally {
      await relay.close();
      await a.close();
      await b.close();
    }
  });
});
