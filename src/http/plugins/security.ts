import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
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
export default fp(
  async function security(app: FastifyInstance, opts: { config: Config }) {
    await app.register(helmet, {
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
