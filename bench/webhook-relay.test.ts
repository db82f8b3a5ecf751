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

  it('sends to the node with the fewest requests in flight, and aborts a forwarded request the gateway gave up on', async () => {
    // "busy" holds every request until released, and notes when one is abandoned.
    const held: Array<() => void> = [];
    let abandonedAtBusy = 0;
    const busyServer: Server = createServer((req, res) => {
      req.resume();
      res.on('close', () => {
        if (!res.writableFinished) abandonedAtBusy += 1;
      });
      held.push(() => {
        if (res.headersSent || res.destroyed) return;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ node: 'busy' }));
      });
    });
    await new Promise<void>((resolve) => busyServer.listen(0, '127.0.0.1', resolve));
    const busy = `http://127.0.0.1:${(busyServer.address() as AddressInfo).port}`;
    const idle = await recordingNode('idle');
    const relay = await startWebhookRelay(() => [busy, idle.origin]);
    try {
      const post = (signal?: AbortSignal) => fetch(`${relay.origin}/api/payments/webhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', signal });
      // The first turn is busy's: it holds the request.
      const gaveUp = new AbortController();
      const first = post(gaveUp.signal).catch(() => null);
      await waitUntil(() => held.length === 1);
      // While it is in flight, every delivery goes to the idle node, turns or not.
      const nodes = [];
      for (let i = 0; i < 4; i++) nodes.push(((await (await post()).json()) as { node: string }).node);
      expect(nodes).toEqual(['idle', 'idle', 'idle', 'idle']);
      // The gateway's timeout: it closes its connection; the relay lets go of busy too.
      gaveUp.abort();
      await first;
      await waitUntil(() => abandonedAtBusy === 1);
      // Nothing in flight any more: the turns alternate again (this one is idle's, the next busy's).
      expect(((await (await post()).json()) as { node: string }).node).toBe('idle');
      const next = post();
      await waitUntil(() => held.length === 2);
      held[1]();
      expect(((await (await next).json()) as { node: string }).node).toBe('busy');
    } finally {
      for (const release of held) release();
      await relay.close();
      await idle.close();
      await new Promise<void>((r) => busyServer.close(() => r()));
    }
  });
});

async function waitUntil(ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
