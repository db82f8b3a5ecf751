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
 * verifies) to the node with the fewest requests in flight from the relay (ties in turn), as
 * deploy/nginx.conf's `least_conn` upstream for webhooks does, and to the next node when one
 * refuses the connection, as nginx's default `proxy_next_upstream error` does for a POST that was
 * never sent. When the gateway gives up on a delivery (its connection closes), the forwarded
 * request is aborted, as nginx does without `proxy_ignore_client_abort`. Any other failure
 * answers 502 (the gateway retries with backoff).
 *
 * (Round robin sent a third of the webhooks to the node busiest with the sale, where they waited
 * past the gateway's 10 s timeout while the other nodes had room; each retry came on top of the
 * abandoned request still running there.)
 *
 * @param origins the nodes' origins (`http://127.0.0.1:port`), read at each request.
 * @returns the relay's origin and a `close()`.
 */
export async function startWebhookRelay(origins: () => readonly string[]): Promise<{ origin: string; forwarded: () => number; close(): Promise<void> }> {
  let turn = 0;
  let forwarded = 0;
  /** Requests in flight from the relay, by node origin. */
  const inFlight = new Map<string, number>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    const abandoned = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abandoned.abort();
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const headers: IncomingHttpHeaders = {};
        for (const [k, v] of Object.entries(req.headers)) if (!DROPPED.has(k)) headers[k] = v;
        const live = origins();
        const start = turn++;
        // Fewest in flight first; among equals, in turn from this request's start.
        const nodes = live.map((origin, i) => ({ origin, load: inFlight.get(origin) ?? 0, order: (((i - start) % live.length) + live.length) % live.length })).sort((x, y) => x.load - y.load || x.order - y.order);
        for (const { origin } of nodes) {
          if (abandoned.signal.aborted) return;
          inFlight.set(origin, (inFlight.get(origin) ?? 0) + 1);
          try {
            const answer = await request(`${origin}${req.url}`, { method: req.method as 'POST', headers: headers as Record<string, string>, body: body.length > 0 ? body : undefined, headersTimeout: 30_000, bodyTimeout: 30_000, signal: abandoned.signal });
            const text = await answer.body.text();
            forwarded += 1;
            res.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type'] ?? 'text/plain') });
            res.end(text);
            return;
          } catch (error) {
            if (abandoned.signal.aborted) return;
            if (!NOT_SENT.has((error as { code?: string }).code ?? '')) break;
          } finally {
            inFlight.set(origin, (inFlight.get(origin) ?? 1) - 1);
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
