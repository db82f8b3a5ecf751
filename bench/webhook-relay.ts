import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';

/** Errors that mean the node never got the request: safe to hand it to the next one. */
const NOT_SENT = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Hop-by-hop and length headers the relay does not pass on (undici sets its own). */
const DROPPED = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade']);

/**
 * The reverse proxy's part in a cluster's payment path, for the rehearsal: docker-compose.yml points
 * every node's `PAYMENT_WEBHOOK_URL` at nginx, which hands each webhook to a live node, so a
 * payment made on a node that dies is still reported. This is that hop on loopback: an HTTP server
 * that forwards each request (method, path, headers, raw body unchanged, so the signature still
 * verifies) to the nodes in turn, round robin, and to the next node when one refuses the
 * connection, as nginx's default `proxy_next_upstream error` does for a POST that was never sent.
 * Any other failure answers 502 (the gateway retries with backoff).
 *
 * @param origins the nodes' origins (`http://127.0.0.1:port`), read at each request.
 * @returns the relay's origin and a `close()`.
 */
export async function startWebhookRelay(origins: () => readonly string[]): Promise<{ origin: string; forwarded: () => number; close(): Promise<void> }> {
  let turn = 0;
  let forwarded = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const headers: IncomingHttpHeaders = {};
        for (const [k, v] of Object.entries(req.headers)) if (!DROPPED.has(k)) headers[k] = v;
        const nodes = origins();
        const start = turn++;
        for (let i = 0; i < nodes.length; i++) {
          const origin = nodes[(start + i) % nodes.length];
          try {
            const answer = await request(`${origin}${req.url}`, { method: req.method as 'POST', headers: headers as Record<string, string>, body: body.length > 0 ? body : undefined, headersTimeout: 30_000, bodyTimeout: 30_000 });
            const text = await answer.body.text();
            forwarded += 1;
            res.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type'] ?? 'text/plain') });
            res.end(text);
            return;
          } catch (error) {
            if (!NOT_SENT.has((error as { code?: string }).code ?? '')) break;
          }
        }
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('no node took the request');
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    forwarded: () => forwarded,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
