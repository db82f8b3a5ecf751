import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    /** Business counters, incremented by the routes that make holds and orders. */
    metrics: { holds: LabeledCounter<'deal'>; holdUnits: Counter; orders: Counter; payments: Counter<'outcome'> };
    /** The registry `/metrics` exposes: other plugins add their own gauges to it (live-ops). */
    metricsRegistry: Registry;
  }
}

type Labels<L extends string> = Record<L, string>;

/** What prom-client's registry reads from a metric when scraped (`get()`). */
interface Exposition {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: Array<{ metricName?: string; labels: Record<string, string | number>; value: number }>;
  aggregator: 'sum';
}

/**
 * The hot path's metrics (every request, every actor batch): samples are kept per label set in
 * plain numbers found through nested maps, and turned into prom-client's exposition only when
 * scraped. prom-client's own `observe`/`inc` builds and hashes a label string per call.
 */
abstract class HotMetric<L extends string> {
  abstract readonly type: 'counter' | 'histogram';
  readonly aggregator = 'sum' as const;
  private readonly root = new Map<string, unknown>();
  protected readonly series: Array<{ labels: Labels<L> }> = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    register: Registry,
  ) {
    register.registerMetric(this as never);
  }

  /** The series of these label values (in `labelNames` order), created on first use. */
  protected seriesOf<S extends { labels: Labels<L> }>(values: readonly string[], make: (labels: Labels<L>) => S): S {
    let map = this.root;
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      let next = map.get(values[i]) as Map<string, unknown> | undefined;
      if (next === undefined) map.set(values[i], (next = new Map()));
      map = next;
    }
    const key = last >= 0 ? values[last] : '';
    let found = map.get(key) as S | undefined;
    if (found === undefined) {
      const labels = {} as Labels<L>;
      this.labelNames.forEach((name, i) => (labels[name] = values[i]));
      found = make(labels);
      map.set(key, found);
      this.series.push(found);
    }
    return found;
  }

  abstract get(): Promise<Exposition>;

  reset(): void {
    this.root.clear();
    this.series.length = 0;
  }
}

/** A counter with labels for the hot path (same `inc(labels, n)` as prom-client's). */
class LabeledCounter<L extends string> extends HotMetric<L> {
  readonly type = 'counter' as const;
  private readonly values: string[] = [];

  constructor(name: string, help: string, private readonly names: readonly L[], register: Registry) {
    super(name, help, names, register);
  }

  inc(labels: Labels<L>, by = 1): void {
    for (let i = 0; i < this.names.length; i++) this.values[i] = labels[this.names[i]];
    this.seriesOf(this.values, (l) => ({ labels: l, value: 0 })).value += by;
  }

  async get(): Promise<Exposition> {
    const values = (this.series as Array<{ labels: Labels<L>; value: number }>).map(({ labels, value }) => ({ labels, value }));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

interface HistogramSeries<L extends string> {
  labels: Labels<L>;
  /** Samples at or below each bucket's bound, not cumulative. */
  buckets: number[];
  sum: number;
  count: number;
}

/** A histogram with labels for the hot path; `observe(value, ...labelValues)`. */
class HotHistogram<L extends string> extends HotMetric<L> {
  readonly type = 'histogram' as const;

  constructor(name: string, help: string, labelNames: readonly L[], private readonly bounds: readonly number[], register: Registry) {
    super(name, help, labelNames, register);
  }

  /** Records `value` for the label values given in `labelNames` order. */
  observe(value: number, labelValues: readonly string[]): void {
    const s = this.seriesOf<HistogramSeries<L>>(labelValues, (labels) => ({ labels, buckets: this.bounds.map(() => 0), sum: 0, count: 0 }));
    const bucket = this.bounds.findIndex((bound) => value <= bound);
    if (bucket >= 0) s.buckets[bucket] += 1;
    s.sum += value;
    s.count += 1;
  }

  async get(): Promise<Exposition> {
    const values: Exposition['values'] = [];
    for (const s of this.series as Array<HistogramSeries<L>>) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += s.buckets[i];
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: bound }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
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

    const http = new HotHistogram('dealrush_http_request_duration_seconds', 'HTTP request latency by route and status', ['method', 'route', 'status_code'], [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], register);
    const statusCodes = new Map<number, string>();
    const httpLabels = ['', '', ''];
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url;
      if (route && route !== '/metrics') {
        const code = reply.statusCode;
        let status = statusCodes.get(code);
        if (status === undefined) statusCodes.set(code, (status = String(code)));
        httpLabels[0] = request.method;
        httpLabels[1] = route;
        httpLabels[2] = status;
        http.observe(reply.elapsedTime / 1000, httpLabels);
      }
      done();
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
    const batchSize = new HotHistogram('dealrush_actor_batch_size', 'Messages handled per committed batch (group commit) by kind', ['kind'], [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], register);
    const turnTime = new HotHistogram('dealrush_actor_batch_duration_seconds', 'Time from taking a batch to replying (transitions and commit) by kind', ['kind'], [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], register);
    const kindLabel = [''];
    app.actors.onBatch((kind, size, ms) => {
      kindLabel[0] = kind;
      batchSize.observe(size, kindLabel);
      turnTime.observe(ms / 1000, kindLabel);
    });
    const askName = 'dealrush_actor_ask_seconds';
    const askHelp = 'Actor ask latency, from send to reply at the caller (mailbox wait and commit included), by kind and transport route';
    register.registerMetric({ name: askName, help: askHelp, type: 'histogram', aggregator: 'sum', get: async () => ({ name: askName, help: askHelp, type: 'histogram', aggregator: 'sum', values: app.actors.askLatency.values(askName) }) } as never);
    new Gauge({
      name: 'dealrush_db_pool_connections',
      help: 'MariaDB pool: connections open (state="open"), in use ("busy"), and requests waiting for one ("waiting")',
      labelNames: ['state'] as const,
      registers: [register],
      collect() {
        this.reset();
        const pool = app.db.poolStats();
        if (!pool) return;
        this.set({ state: 'open' }, pool.size);
        this.set({ state: 'busy' }, pool.busy);
        this.set({ state: 'waiting' }, pool.waiting);
      },
    });
    new Counter({
      name: 'dealrush_actor_group_commits_total',
      help: 'Actor commits by how they reached the database: in a transaction shared with other actors (outcome="grouped"), alone ("alone"); and groups rolled back and retried member by member ("retried")',
      labelNames: ['outcome'] as const,
      registers: [register],
      collect() {
        const stats = app.actors.groupCommit?.stats;
        this.reset();
        if (!stats) return;
        this.inc({ outcome: 'grouped' }, stats.grouped);
        this.inc({ outcome: 'alone' }, stats.alone);
        this.inc({ outcome: 'retried' }, stats.retried);
      },
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
      holds: new LabeledCounter('dealrush_holds_total', 'Holds placed (201 answers of POST /api/cart/items)', ['deal'], register),
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
