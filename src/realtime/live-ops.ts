import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Gauge } from 'prom-client';
import { In } from 'typeorm';
import { parseRoles } from '../accounts/accounts';
import type { DealRecord } from '../actors/deal/state';
import type { Result } from '../actors/result';
import { salesOf } from '../http/sales';
import { DealEntity } from '../persistence/entities/deal.entity';
import { UserEntity } from '../persistence/entities/user.entity';
import { RateMeter, roundRate } from './rate-meter';
import { rooms, sellerDealOf, type OpsDeal, type OpsNode, type OpsSnapshotEvent, type SalesTickEvent } from './events';

declare module 'fastify' {
  interface FastifyInstance {
    liveOps: {
      /** The ops snapshot as it is now (what `ops:snapshot` carries). */
      snapshot(): Promise<OpsSnapshotEvent>;
      /** This node's part of it. */
      node(): OpsNode;
    };
  }
}

const DEAL_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Deal states the ops panel lists (not over yet). */
const LIVE_STATES = ['scheduled', 'open', 'paused', 'sold_out'];
/** Most deals in one ops snapshot (soonest start first). */
const OPS_DEALS_LIMIT = 50;
/** How long a tick waits for a deal actor before leaving the deal out of that tick. */
const ASK_TIMEOUT_MS = 1000;

type DealSnapshot = { deal: DealRecord; queue: { waiting: number; admitted: number; admittedTotal: number } };

export interface LiveOpsOptions {
  /** Ms between two `sales:tick` of a watched deal (default 1000). */
  salesTickMs?: number;
  /** Ms between two `ops:snapshot` (default 2000). */
  opsSnapshotMs?: number;
}

/**
 * The seller's and the admin's live views, next to the shopper-facing socket server:
 * - `sales:tick` about once a second to `seller:deal:<id>` for each deal someone watches on this
 *   node (joined through `seller:watch`, which checks the seller or admin);
 * - the admin ops room (`ops:watch`, admins only, checked in the database) with `ops:snapshot`
 *   every ~2 s: this node (actors per kind, mailbox depth, messages per second) and the live
 *   deals' figures. The snapshot lists nodes, so that in cluster mode each node reports its own;
 * - the gauges of `/metrics` that read live state: waiting and admitted shoppers per deal, the
 *   outbox in flight, the BullMQ payment queue's jobs by state (with REDIS_URL) and the live
 *   rooms' watchers.
 * Nothing is computed while nobody watches, except what a scrape asks for.
 */
export default fp(
  async function liveOps(app: FastifyInstance, opts: LiveOpsOptions) {
    const io = app.io;
    const nodeId = app.cluster?.settings.nodeId ?? `${hostname()}-${process.pid}`;
    const startedAt = Date.now() - Math.round(process.uptime() * 1000);
    const nodeRates = new RateMeter();
    const orderRates = new RateMeter();
    /** Deals whose actors published something since the start: the per-deal gauges' series. */
    const activeDeals = new Set<string>();

    const askSnapshot = async (dealId: string): Promise<DealSnapshot | null> => {
      const result = await app.actors.ask<Result<DealSnapshot>>({ kind: 'deal', id: dealId }, { type: 'snapshot', now: Date.now() }, { timeoutMs: ASK_TIMEOUT_MS });
      return result.ok ? result.value : null;
    };

    function node(): OpsNode {
      const now = Date.now();
      const stats = app.actors.stats();
      return {
        nodeId,
        mode: app.cluster ? 'cluster' : 'embedded',
        partitions: app.cluster ? app.cluster.placement.ownedPartitions().map((p) => p.name).sort() : null,
        startedAt,
        uptimeSeconds: Math.round((now - startedAt) / 1000),
        activations: stats.activations,
        mailboxDepth: stats.mailboxDepth,
        messagesPerSecond: roundRate(nodeRates.rate('messages', stats.messages, now)),
        batchesPerSecond: roundRate(nodeRates.rate('batches', stats.batches, now)),
        outboxInFlight: stats.outboxInFlight,
        sockets: io.engine.clientsCount,
        rssBytes: process.memoryUsage.rss(),
      };
    }

    async function opsDeals(): Promise<OpsDeal[]> {
      const rows = await app.db.read((m) => m.find(DealEntity, { where: { status: In(LIVE_STATES) }, order: { startsAt: 'ASC', id: 'ASC' }, take: OPS_DEALS_LIMIT }));
      return Promise.all(
        rows.map(async (row) => {
          // The row is what was last committed; the actor adds the waiting room's figures.
          const live = row.status !== 'scheduled' || row.waitingRoom.enabled ? await askSnapshot(row.id).catch(() => null) : null;
          const d = live?.deal ?? (row as unknown as DealRecord);
          return {
            dealId: d.id,
            title: d.title,
            sellerId: d.sellerId,
            status: d.status,
            currency: d.currency,
            price: d.price,
            totalStock: d.totalStock,
            remainingStock: d.remainingStock,
            soldUnits: d.soldUnits,
            heldUnits: d.heldUnits,
            waiting: live?.queue.waiting ?? 0,
            admitted: live?.queue.admitted ?? 0,
            startsAt: new Date(d.startsAt).toISOString(),
            endsAt: new Date(d.endsAt).toISOString(),
            waitingRoom: { enabled: d.waitingRoom.enabled, admissionPerMinute: d.waitingRoom.admissionPerMinute, maxActive: d.waitingRoom.maxActive, paused: d.waitingRoom.paused === true },
          };
        }),
      );
    }

    async function snapshot(): Promise<OpsSnapshotEvent> {
      const deals = await opsDeals();
      return { nodes: await clusterNodes(), deals, at: Date.now() };
    }
    // Cluster mode: every node keeps its own figures in Redis (expiring), and a snapshot shows all
    // the live nodes' figures, whichever node the admin is connected to.
    const opsKey = (id: string) => `${app.cluster!.settings.name}:ops:${id}`;
    async function clusterNodes(): Promise<OpsNode[]> {
      const mine = node();
      if (!app.cluster) return [mine];
      const others = app.cluster.placement.nodes().filter((id) => id !== nodeId);
      if (others.length === 0) return [mine];
      const stored = await app.cluster.redis.mget(...others.map(opsKey)).catch(() => [] as Array<string | null>);
      return [mine, ...stored.filter((s): s is string => typeof s === 'string').map((s) => JSON.parse(s) as OpsNode)].sort((a, b) => a.nodeId.localeCompare(b.nodeId));
    }
    if (app.cluster) {
      const publishNode = setInterval(() => {
        app.cluster!.redis.set(opsKey(nodeId), JSON.stringify(node()), 'PX', 6000).catch(() => undefined);
      }, 2000);
      publishNode.unref();
      app.addHook('onClose', async () => clearInterval(publishNode));
    }
    app.decorate('liveOps', { snapshot, node });

    /** An admin *now*: the role in the database, not only in the token. */
    async function isAdmin(userId: string): Promise<boolean> {
      const row = await app.db.read((m) => m.findOne(UserEntity, { select: { id: true, roles: true, status: true }, where: { id: userId } }));
      return !!row && row.status === 'active' && parseRoles(row.roles).includes('admin');
    }

    io.on('connection', (socket) => {
      socket.on('seller:unwatch', async (payload, ack) => {
        if (typeof payload?.dealId === 'string' && DEAL_ID.test(payload.dealId)) await socket.leave(rooms.sellerDeal(payload.dealId));
        if (typeof ack === 'function') ack({ ok: true });
      });

      socket.on('ops:watch', async (_payload, ack) => {
        if (typeof ack !== 'function') return;
        const { userId, roles } = socket.data;
        if (!userId) return ack({ error: { code: 'UNAUTHORIZED', detail: 'log in as an admin' } });
        try {
          if (!roles.includes('admin') || !(await isAdmin(userId))) return ack({ error: { code: 'FORBIDDEN', detail: 'admins only' } });
          await socket.join(rooms.ops());
          ack(await snapshot());
        } catch (err) {
          app.log.warn({ err }, 'ops:watch failed');
          ack({ error: { code: 'UNAVAILABLE', detail: 'try again shortly' } });
        }
      });

      socket.on('ops:unwatch', async (_payload, ack) => {
        await socket.leave(rooms.ops());
        if (typeof ack === 'function') ack({ ok: true });
      });
    });

    app.actors.onPublish((room, _event, payload) => {
      if (room.startsWith('deal:')) {
        const dealId = (payload as { dealId?: unknown }).dealId;
        if (typeof dealId === 'string') activeDeals.add(dealId);
      }
    });

    /** Watched deals on this node: the `seller:deal:<id>` rooms that have a socket. */
    const watchedDeals = (): string[] => {
      const found: string[] = [];
      for (const [room, members] of io.of('/').adapter.rooms) {
        const dealId = sellerDealOf(room);
        if (dealId && members.size > 0) found.push(dealId);
      }
      return found;
    };

    async function salesTicks(): Promise<void> {
      const dealIds = watchedDeals();
      orderRates.retain(new Set(dealIds));
      await Promise.all(
        dealIds.map(async (dealId) => {
          try {
            const sales = await salesOf(app, dealId, '', true);
            const at = Date.now();
            const tick: SalesTickEvent = {
              dealId,
              soldUnits: sales.soldUnits,
              heldUnits: sales.heldUnits,
              remainingStock: sales.remainingStock,
              revenue: sales.revenue,
              ordersPerSecond: roundRate(orderRates.rate(dealId, sales.orders, at)),
              waiting: sales.waiting,
              at,
              currency: sales.currency,
              orders: sales.orders,
              admitted: sales.admitted,
              admittedTotal: sales.admittedTotal,
            };
            // Each node ticks for its own watchers (io.local: with the Redis adapter, io.to would
            // also reach the other nodes' watchers, which their own node ticks for).
            io.local.to(rooms.sellerDeal(dealId)).emit('sales:tick', tick);
          } catch (err) {
            app.log.debug({ err, dealId }, 'sales:tick skipped');
          }
        }),
      );
    }

    async function opsTick(): Promise<void> {
      if ((io.of('/').adapter.rooms.get(rooms.ops())?.size ?? 0) === 0) return;
      // To this node's admins only (each node sends its own admins the whole cluster's figures).
      io.local.to(rooms.ops()).emit('ops:snapshot', await snapshot());
    }

    /** Runs `task` every `ms`, never two at once (a slow database skips ticks, it does not pile them up). */
    const every = (ms: number, name: string, task: () => Promise<void>) => {
      let running = false;
      const timer = setInterval(() => {
        if (running) return;
        running = true;
        task()
          .catch((err) => app.log.warn({ err }, `${name} failed`))
          .finally(() => (running = false));
      }, ms);
      timer.unref();
      return timer;
    };
    const timers = [every(opts.salesTickMs ?? 1000, 'sales:tick', salesTicks), every(opts.opsSnapshotMs ?? 2000, 'ops:snapshot', opsTick)];

    // Gauges read when /metrics is scraped.
    const register = app.metricsRegistry;
    new Gauge({
      name: 'dealrush_waiting_room_shoppers',
      help: 'Shoppers in a deal’s waiting room (state="waiting", pre-queue included) and holding a live admission (state="admitted"), for deals active since this node started',
      labelNames: ['deal', 'state'] as const,
      registers: [register],
      async collect() {
        this.reset();
        await Promise.all(
          [...activeDeals].map(async (dealId) => {
            const live = await askSnapshot(dealId).catch(() => null);
            if (!live) return;
            this.set({ deal: dealId, state: 'waiting' }, live.queue.waiting);
            this.set({ deal: dealId, state: 'admitted' }, live.queue.admitted);
            if ((live.deal.status === 'ended' || live.deal.status === 'cancelled') && live.queue.waiting === 0 && live.queue.admitted === 0) activeDeals.delete(dealId);
          }),
        );
      },
    });
    new Gauge({
      name: 'dealrush_outbox_in_flight',
      help: 'Outbox effects being carried out on this node (the in-process job queue)',
      registers: [register],
      collect() {
        this.set(app.actors.stats().outboxInFlight);
      },
    });
    new Gauge({
      name: 'dealrush_job_queue_jobs',
      help: 'Jobs in the BullMQ payment queue by state (REDIS_URL set; embedded mode runs the jobs in-process, see dealrush_outbox_in_flight)',
      labelNames: ['queue', 'state'] as const,
      registers: [register],
      async collect() {
        this.reset();
        const queue = app.hasDecorator('paymentJobs') ? app.paymentJobs.bullQueue : null;
        if (!queue) return;
        const timeout = new Promise<null>((resolve) => setTimeout(resolve, ASK_TIMEOUT_MS, null).unref());
        const counts = await Promise.race([queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed'), timeout]).catch(() => null);
        if (!counts) return; // Redis slow or down: no sample rather than a stale one
        for (const [state, n] of Object.entries(counts)) this.set({ queue: queue.name, state }, n);
      },
    });
    new Gauge({
      name: 'dealrush_live_watchers',
      help: 'Sockets watching the live views on this node: room="ops" (admins) and room="sales" (sellers watching deals)',
      labelNames: ['room'] as const,
      registers: [register],
      collect() {
        this.reset();
        const adapterRooms = io.of('/').adapter.rooms;
        this.set({ room: 'ops' }, adapterRooms.get(rooms.ops())?.size ?? 0);
        let sales = 0;
        for (const dealId of watchedDeals()) sales += adapterRooms.get(rooms.sellerDeal(dealId))?.size ?? 0;
        this.set({ room: 'sales' }, sales);
      },
    });

    app.addHook('preClose', async () => {
      for (const timer of timers) clearInterval(timer);
    });
  },
  { name: 'live-ops', dependencies: ['realtime', 'metrics'] },
);
