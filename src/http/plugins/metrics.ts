import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    /** Business counters, incremented by the routes that make holds and orders. */
    metrics: { holds: Counter<'deal'>; holdUnits: Counter; orders: Counter; payments: Counter<'outcome'> };
    /** The registry `/metrics` exposes: other plugins add their own gauges to it (live-ops). */
    metricsRegistry: Registry;
  }
}

/**
 * Prometheus metrics at `GET /metrics` (text exposition format, prom-client): HTTP latency by
 * route, actor activations, mailbox depth, batch size and turn time by kind, holds and orders
 * made, live socket connections, and the Node.js process defaults. Meant for a scraper inside the
 * deployment; put it behind the proxy's access rules in production.
 */
export default fp(
  async function metrics(app: FastifyInstance) {
    const register = new Registry();
    app.decorate('metricsRegistry', register);
    collectDefaultMetrics({ register });

    const http = new Histogram({
      name: 'dealrush_http_request_duration_seconds',
      help: 'HTTP request latency by route and status',
      labelNames: ['method', 'route', 'status_code'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [register],
    });
    app.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url;
      if (!route || route === '/metrics') return;
      http.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    });

    /** A gauge by actor kind, read from the actor system when scraped. */
    const perKind = (name: string, help: string, read: () => Record<string, number>) =>
      new Gauge({
        name,
        help,
        labelNames: ['kind'] as const,
        registers: [register],
        collect() {
          this.reset();
          for (const [kind, n] of Object.entries(read())) this.set({ kind }, n);
        },
      });
    perKind('dealrush_actor_activations', 'Live actor activations by kind', () => app.actors.stats().activations);
    perKind('dealrush_actor_mailbox_depth', 'Messages waiting in actor mailboxes by kind', () => app.actors.stats().mailboxDepth);
    const batchSize = new Histogram({
      name: 'dealrush_actor_batch_size',
      help: 'Messages handled per committed batch (group commit) by kind',
      labelNames: ['kind'] as const,
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers: [register],
    });
    const turnTime = new Histogram({
      name: 'dealrush_actor_batch_duration_seconds',
      help: 'Time from taking a batch to replying (transitions and commit) by kind',
      labelNames: ['kind'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [register],
    });
    app.actors.onBatch((kind, size, ms) => {
      batchSize.observe({ kind }, size);
      turnTime.observe({ kind }, ms / 1000);
    });
    new Gauge({
      name: 'dealrush_socket_connections',
      help: 'Live socket.io connections on this node',
      registers: [register],
      collect() {
        this.set(app.io?.engine.clientsCount ?? 0);
      },
    });

    app.decorate('metrics', {
      holds: new Counter({ name: 'dealrush_holds_total', help: 'Holds placed (201 answers of POST /api/cart/items)', labelNames: ['deal'] as const, registers: [register] }),
      holdUnits: new Counter({ name: 'dealrush_hold_units_total', help: 'Units put on hold', registers: [register] }),
      orders: new Counter({ name: 'dealrush_orders_total', help: 'Orders created', registers: [register] }),
      payments: new Counter({ name: 'dealrush_payments_total', help: 'Payment outcomes reported to orders', labelNames: ['outcome'] as const, registers: [register] }),
    });

    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      reply.type(register.contentType);
      return register.metrics();
    });
  },
  { name: 'metrics', dependencies: ['core', 'realtime'] },
);
