import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../../config';
import { ORDER_PAYMENT_CHECK_SIGNAL } from '../../actors/order/order-actor';
import { MockGateway } from '../../payments/gateway/mock-gateway';
import { mockGatewayRoutes } from '../../payments/gateway/mock-gateway.routes';
import { PaymentJobs } from '../../payments/payment-jobs';
import { PaymentService } from '../../payments/payment-service';
import { HttpGatewayProvider, type PaymentProvider } from '../../payments/provider';

declare module 'fastify' {
  interface FastifyInstance {
    /** The payment gateway, spoken to over HTTP (the in-process mock when GATEWAY_URL is unset). */
    payments: PaymentProvider;
    paymentService: PaymentService;
    paymentJobs: PaymentJobs;
    /** The in-process mock gateway (GATEWAY_URL unset), for its fault injection; else null. */
    mockGateway: MockGateway | null;
    /** Where the gateway sends webhooks: PAYMENT_WEBHOOK_URL, else this node's own address. */
    paymentWebhookUrl(): string;
  }
}

/** `http://host:port` of this node's own listening socket (loopback when it listens on every address). */
export function selfUrl(app: FastifyInstance): string {
  const address = app.server.address() as AddressInfo | null;
  if (!address || typeof address !== 'object') throw new Error('the server is not listening yet');
  const host = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/**
 * Payments: the gateway client, the payment service and its jobs (BullMQ with REDIS_URL, an
 * in-process timer without), and, when GATEWAY_URL is unset, the bundled mock gateway itself on
 * this server at `/v1/payments/...` (so `checkoutUrl` is on the shop's own origin). The server
 * still speaks to it over HTTP, through its own listening socket, exactly as to a remote one.
 */
export default fp(
  async function payments(app: FastifyInstance, opts: { config: Config }) {
    const { config } = opts;
    let mock: MockGateway | null = null;
    if (!config.gatewayUrl) {
      mock = new MockGateway({
        secret: config.paymentWebhookSecret,
        retryBaseMs: config.gatewayRetryBaseMs,
        autoApproveMs: config.gatewayAutoApproveMs,
        deliveryConcurrency: config.gatewayDeliveryConcurrency,
        log: (obj, msg) => app.log.warn({ component: 'mock-gateway', ...obj }, msg),
      });
      await app.register(mockGatewayRoutes, { gateway: mock, hide: true, faultRoutes: config.gatewayFaultRoutes });
    }
    app.decorate('mockGateway', mock);
    const gatewayUrl = config.gatewayUrl;
    const provider = new HttpGatewayProvider(() => gatewayUrl ?? selfUrl(app), { localGateway: !gatewayUrl });
    app.decorate('payments', provider);
    app.decorate('paymentWebhookUrl', () => config.paymentWebhookUrl ?? `${selfUrl(app)}/api/payments/webhook`);

    const logger = app.log.child({ component: 'payments' });
    // Made after the service, whose outcome callback kicks the refunds job.
    let jobs: PaymentJobs;
    const service = new PaymentService({
      db: app.db,
      actors: app.actors,
      provider,
      logger,
      reconcileAfterMs: config.paymentReconcileAfterSeconds * 1000,
      reconcileBatch: config.paymentReconcileBatch,
      reconcileMaxAgeMs: config.paymentReconcileMaxAgeSeconds * 1000,
      onOutcome: (applied) => {
        app.metrics?.payments.inc({ outcome: applied });
        if (applied === 'refund_requested') jobs.kickRefunds();
      },
    });
    app.decorate('paymentService', service);
    // An order at its deadline with a payment still pending: ask the gateway before it expires.
    app.actors.onSignal(ORDER_PAYMENT_CHECK_SIGNAL, (_from, payload) => {
      service.checkBeforeExpiry(String(payload.orderId), String(payload.paymentId), Number(payload.checkBy)).catch((err) => logger.warn({ err, ...payload }, 'the check of a payment at its order\'s deadline failed; the order expires after its grace'));
    });
    jobs = new PaymentJobs({ service, logger, intervalMs: config.paymentJobsIntervalSeconds * 1000, concurrency: config.paymentJobsConcurrency, redisUrl: config.redisUrl, prefix: config.queuePrefix });
    app.decorate('paymentJobs', jobs);

    app.addHook('onReady', async () => {
      await jobs.start();
      app.log.info({ mode: jobs.mode, gateway: gatewayUrl ?? 'in-process mock' }, 'payment jobs started');
    });
    app.addHook('preClose', async () => {
      mock?.close();
      await jobs.stop();
    });
  },
  { name: 'payments', dependencies: ['core'] },
);
