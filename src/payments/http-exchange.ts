import http from 'node:http';
import https from 'node:https';

/** Kept-alive connection pools for one party's outgoing calls (`http:` and `https:` origins). */
export interface HttpAgents {
  http: http.Agent;
  https: https.Agent;
}

/**
 * Kept-alive agents. An idle connection is closed after `idleMs`, before a server's usual
 * keep-alive timeout (5 s) could close it under a request. `maxSockets` caps the connections
 * open to one origin (requests beyond it wait for one); unlimited when not given.
 */
export function keepAliveAgents(options: { idleMs: number; maxSockets?: number }): HttpAgents {
  const settings = { keepAlive: true, timeout: options.idleMs, ...(options.maxSockets === undefined ? {} : { maxSockets: options.maxSockets }) };
  return { http: new http.Agent(settings), https: new https.Agent(settings) };
}

/**
 * One HTTP exchange with node:http (a fraction of `fetch`'s CPU per call, which a checkout rush
 * pays once per payment and once per webhook). `body`, when given, is sent as JSON text.
 *
 * @returns the status and the whole answer as text
 * @throws when the connection fails, or no whole answer came within `timeoutMs` (counted from
 *   the call, so including any wait for a free connection of a capped agent)
 */
export function httpExchange(
  agents: HttpAgents,
  method: string,
  url: URL,
  options: { body?: string; headers?: Record<string, string>; timeoutMs: number },
): Promise<{ status: number; text: string }> {
  const { body, timeoutMs } = options;
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'https:';
    const headers: Record<string, string | number> = { ...options.headers, ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }) };
    const req = (secure ? https : http).request(url, { method, headers, agent: secure ? agents.https : agents.http }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', fail);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    function fail(error: Error): void {
      clearTimeout(timer);
      reject(error);
    }
    req.on('error', fail);
    req.end(body);
  });
}
