import cors from '@fastify/cors';
import helmet, { type HelmetOptions } from 'helmet';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config';

/**
 * Response hardening: helmet's headers with a Content-Security-Policy that the bundled client
 * (client/dist: module scripts and styles from this origin, deal images from https, socket.io
 * over ws/wss) and the swagger UI at /docs (its own scripts; inline styles) both work under, and
 * CORS for the origins in `CORS_ORIGINS` only (none by default: the client is served from the same
 * origin). Tokens travel in the Authorization header, never in cookies, so no credentials mode.
 */
/**
 * The headers helmet sets, computed once. helmet (and @fastify/helmet, which calls helmet with its
 * options on every request) builds its middlewares per call; the headers only depend on the
 * options, so they are taken once from a dry run and set from a plain object on each request.
 */
export function helmetHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: string | number | string[]) => {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
    getHeader: (name: string) => headers[name.toLowerCase()],
  };
  let failed: unknown = null;
  helmet(options)({} as never, response as never, (error?: unknown) => {
    failed = error ?? null;
  });
  if (failed) throw failed;
  return headers;
}

export default fp(
  async function security(app: FastifyInstance, opts: { config: Config }) {
    const headers = helmetHeaders({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          baseUri: ["'self'"],
          scriptSrc: ["'self'"],
          scriptSrcAttr: ["'none'"],
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:', 'https:'],
          fontSrc: ["'self'", 'data:'],
          connectSrc: ["'self'", 'ws:', 'wss:'],
          objectSrc: ["'none'"],
          frameAncestors: ["'none'"],
          formAction: ["'self'"],
        },
      },
    });
    app.addHook('onRequest', (_request, reply, done) => {
      reply.headers(headers);
      done();
    });
    const origins = opts.config.corsOrigins;
    if (origins.length > 0) {
      await app.register(cors, {
        origin: origins.includes('*') ? '*' : origins,
        methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'],
        allowedHeaders: ['authorization', 'content-type', 'idempotency-key', 'x-admission-token', 'x-request-id'],
        exposedHeaders: ['retry-after', 'x-request-id', 'idempotent-replayed'],
        maxAge: 600,
      });
    }
  },
  { name: 'security' },
);
