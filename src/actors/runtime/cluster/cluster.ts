import Redis, { type RedisOptions } from 'ioredis';
import type { Database } from '../../../persistence/database';
import type { RuntimeLogger } from '../actor';
import type { ActorSystem } from '../actor-system';
import { LeasePlacement } from './lease-placement';
import { clusterKeys, type ClusterKeys } from './partitions';
import { RedisStreamsTransport } from './redis-transport';

export interface ClusterSettings {
  redisUrl: string;
  /** Prefix of every Redis key and channel (CLUSTER_NAME). */
  name: string;
  nodeId: string;
  partitions: number;
  leaseMs: number;
  heartbeatMs: number;
  /** How long a caller waits for a reply from another node. */
  replyTimeoutMs: number;
  /** False: every message goes through Redis, even to this node's own actors (benchmarks only). */
  localDelivery: boolean;
  kinds: readonly string[];
}

/**
 * One node's part of a cluster: its Redis connections, the lease placement and the Redis Streams
 * transport, wired to an actor system. Commands fail fast while Redis is away (no offline queue),
 * so callers get `503 UNAVAILABLE` at once instead of waiting; ioredis reconnects by itself and
 * re-subscribes the reply channel.
 */
export class ClusterNode {
  readonly redis: Redis;
  readonly placement: LeasePlacement;
  readonly transport: RedisStreamsTransport;
  readonly keys: ClusterKeys;
  private readonly connections: Redis[] = [];

  constructor(readonly settings: ClusterSettings, db: Database, private readonly logger: RuntimeLogger) {
    const options: RedisOptions = {
      lazyConnect: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
      connectionName: `dealrush:${settings.nodeId}`,
    };
    const connect = (extra: RedisOptions = {}) => {
      const connection = new Redis(settings.redisUrl, { ...options, ...extra });
      connection.on('error', () => undefined); // reported by the callers that fail; avoids unhandled noise
      this.connections.push(connection);
      return connection;
    };
    this.keys = clusterKeys(settings.name);
    this.redis = connect();
    // Leases have connections of their own (acquisitions here, renewals in the renewer's worker
    // thread): on the shared one, lease traffic would queue behind the mailbox traffic of a busy
    // sale, and a node could lose its leases while healthy.
    this.placement = new LeasePlacement({ redis: connect({ connectionName: `dealrush:${settings.nodeId}:leases` }), redisUrl: settings.redisUrl, keys: this.keys, db, nodeId: settings.nodeId, kinds: settings.kinds, partitions: settings.partitions, leaseMs: settings.leaseMs, heartbeatMs: settings.heartbeatMs, logger });
    // Blocking reads and the subscriber queue while reconnecting (their loops retry anyway).
    this.transport = new RedisStreamsTransport({ redis: this.redis, keys: this.keys, connect: () => connect({ enableOfflineQueue: true, maxRetriesPerRequest: null }), nodeId: settings.nodeId, placement: this.placement, logger, replyTimeoutMs: settings.replyTimeoutMs, localDelivery: settings.localDelivery });
  }

  /** Evicts local activations of every partition this node stops owning. */
  bind(actors: ActorSystem): void {
    this.placement.onLost((name, _kind, _partition, reason) => {
      const evicted = actors.evict((address) => this.placement.partitionOf(address) === name);
      if (evicted > 0) this.logger.info({ partition: name, evicted, reason }, 'activations of a released partition closed');
    });
  }

  /**
   * Joins the cluster: takes this node's share of the partitions. Waits up to `timeoutMs` for Redis
   * to answer first; if it does not, the node starts anyway, not ready (`/health/ready` says so,
   * calls answer 503) and joins by itself as soon as Redis answers.
   */
  async start(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.redis.status !== 'ready' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (this.redis.status !== 'ready') this.logger.warn({ redis: this.settings.redisUrl }, 'Redis does not answer yet: starting without partitions; joining when it does');
    await this.placement.start();
  }

  /** Hands every partition back, then closes the connections. */
  async stop(): Promise<void> {
    await this.placement.stop();
  }

  disconnect(): void {
    for (const connection of this.connections) connection.disconnect();
  }

  /** Whether Redis answers now (for `/health/ready`). */
  async ping(timeoutMs = 1000): Promise<boolean> {
    try {
      const answer = await Promise.race([this.redis.ping(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs))]);
      return answer === 'PONG';
    } catch {
      return false;
    }
  }
}
