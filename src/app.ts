import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { randomUUID } from 'node:crypto';
import type { Config } from './config';
import { DEMO_ACCOUNTS, seedDemoData } from './demo/seed';
import { ensureAdmin } from './accounts/accounts';
import auth from './http/plugins/auth';
import core from './http/plugins/core';
import errors, { sendProblem } from './http/plugins/errors';
import { HttpProblem } from './http/problem';
import idempotency from './http/plugins/idempotency';
import metrics from './http/plugins/metrics';
import payments from './http/plugins/payments';
import rateLimits from './http/plugins/rate-limits';
import security from './http/plugins/security';
import adminOrderRoutes from './http/routes/admin-orders.route';
import adminPaymentRoutes from './http/routes/admin-payments.route';
import adminUserRoutes from './http/routes/admin-users.route';
import authRoutes from './http/routes/auth.route';
import cartRoutes from './http/routes/cart.route';
import dealRoutes from './http/routes/deals.route';
import healthRoutes from './http/routes/health.route';
import orderRoutes from './http/routes/orders.route';
import paymentWebhookRoutes from './http/routes/payment-webhook.route';
import sellerOnboardingRoutes from './http/routes/seller-onboarding.route';
import queueRoutes from './http/routes/queue.route';
import liveOps from './realtime/live-ops';
import realtime from './realtime/socket-server';

export interface BuildOptions {
  /** A pino logger config or instance; default: JSON at the configured level (pretty on a TTY). */
  logger?: FastifyServerOptions['logger'] | false;
}

/** Where the built client lives (`npm run build:client`). */
export const clientDist = join(__dirname, '..', '..', 'client', 'dist');

/**
 * The composition root: external plugins, then the app's own parts (database, actors, auth,
 * realtime), then routes. No DI container; each plugin declares what it adds to the instance.
 */
export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const logger =
    options.logger ??
    ({
      level: config.logLevel,
      ...(process.stdout.isTTY ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
      redact: ['req.headers.authorization', 'req.headers.cookie'],
    } as const);
  const app = Fastify({
    logger,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
    forceCloseConnections: true,
    // A path parameter over the router's length limit or a malformed URL is refused by the router
    // before any handler: answer problem+json like every other refusal (fastify's default is bare JSON).
    frameworkErrors: (error, request, reply) =>
      sendProblem(reply.header('x-request-id', request.id), new HttpProblem('VALIDATION_FAILED', error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path parameter is longer than allowed' : 'the URL is not valid'), request.id),
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  const spa = config.serveClient && existsSync(join(clientDist, 'index.html'));
  await app.register(errors, { spaIndex: spa });
  await app.register(security, { config });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Dealrush API', version: '1.0.0', description: 'Flash-sale commerce server: deals, waiting room, cart, orders, payment. Wire contract v1.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(core, { config });
  await app.register(auth, { config });
  await app.register(rateLimits, { config });
  await app.register(realtime);
  await app.register(idempotency);
  await app.register(metrics);
  await app.register(payments, { config });
  await app.register(liveOps);

  await app.register(healthRoutes);
  await app.register(authRoutes);
  await app.register(dealRoutes);
  await app.register(cartRoutes);
  await app.register(orderRoutes);
  await app.register(paymentWebhookRoutes);
  await app.register(adminPaymentRoutes);
  await app.register(sellerOnboardingRoutes);
  await app.register(adminUserRoutes);
  await app.register(adminOrderRoutes);
  await app.register(queueRoutes);

  if (spa) {
    await app.register(fastifyStatic, { root: clientDist, wildcard: false, index: ['index.html'] });
  }

  if (config.admin) {
    const admin = config.admin;
    app.addHook('onReady', async () => {
      const { outcome, user } = await ensureAdmin(app.db, admin);
      if (outcome !== 'unchanged') app.log.info({ userId: user.id, email: user.email }, `admin account ${outcome} from ADMIN_EMAIL`);
    });
  }

  if (config.demoData) {
    app.addHook('onReady', async () => {
      const seeded = await seedDemoData(app);
      if (seeded) {
        app.log.info(
          { deals: seeded.deals.length },
          `demo data seeded: log in as ${DEMO_ACCOUNTS.shopper.email} / ${DEMO_ACCOUNTS.shopper.password} (seller: ${DEMO_ACCOUNTS.seller.email} / ${DEMO_ACCOUNTS.seller.password}); the first sale opens in ${config.demoOpensInSeconds} s`,
        );
      }
    });
  }
  return app;
}
