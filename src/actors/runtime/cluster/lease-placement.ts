import type Redis from 'ioredis';
import type { EntityManager } from 'typeorm';
import type { Database } from '../../../persistence/database';
import { execute } from '../../../persistence/sql';
import type { Address, RuntimeLogger } from '../actor';
import { journal } from '../journal';
import type { Placement } from '../transport';
import { partitionName, partitionOf, rendezvousOwner, type ClusterKeys } from './partitions';

/** Renews the lease only if this node still holds it. KEYS[1] lease; ARGV node id, ttl ms. */
const RENEW_IF_MINE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
/** Drops the lease only if this node holds it. */
const RELEASE_IF_MINE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface LeasePlacementOptions {
  /** A command connection (not a subscriber, not blocking). */
  redis: Redis;
  keys: ClusterKeys;
  db: Database;
  nodeId: string;
  kinds: readonly string[];
  /** Partitions per kind (the same on every node). */
  partitions: number;
  /** Lease lifetime (ms): how long a dead owner keeps its partitions. */
  leaseMs: number;
  /** Time (ms) between two heartbeats (renewals, rebalancing); well under `leaseMs`. */
  heartbeatMs: number;
  logger: RuntimeLogger;
  clock?: () => number;
}

/** A partition this node holds: its fencing token and until when (this node's clock) it may act. */
interface Held {
  kind: string;
  partition: number;
  token: number;
  validUntil: number;
}

/**
 * Cluster placement: each partition of each kind is owned by one node through a Redis lease
 * (`SET NX PX`, renewed by a heartbeat), and the owner is chosen by rendezvous hashing over the
 * live nodes, so nodes joining or leaving move only their share. A dead node's partitions are
 * taken over once its lease runs out; a node that cannot renew (Redis down, or paused past its
 * lease) stops acting on its own clock before anyone else may take over (`validUntil` is counted
 * from before the renewal was sent, minus a margin).
 *
 * Fencing: each acquisition draws a new token for the partition from MariaDB
 * (`partition_fences`, incremented in one statement), so tokens rise forever even when Redis
 * loses everything. An activation claims its actor with the partition's token (the actor's stored
 * fence must not exceed it), and every commit is conditional on that fence; a stale owner's write
 * is rejected (see `journal.checkFence`), never applied.
 */
export class LeasePlacement implements Placement {
  private readonly held = new Map<string, Held>();
  private readonly gainedListeners: Array<(name: string, kind: string, partition: number) => void> = [];
  private readonly lostListeners: Array<(name: string, kind: string, partition: number, reason: string) => void> = [];
  private timer: NodeJS.Timeout | null = null;
  private beating = false;
  private acquiring = false;
  private stopped = false;
  private lastWarnAt = 0;
  private liveNodes: string[] = [];
  private readonly clock: () => number;
  /** Safety margin (ms) taken off every lease: clock drift and the time a renewal takes to land. */
  private readonly margin: number;

  constructor(private readonly options: LeasePlacementOptions) {
    this.clock = options.clock ?? Date.now;
    this.margin = Math.min(500, Math.floor(options.leaseMs / 5));
  }

  /** Calls `listener` when this node takes a partition over. */
  onGained(listener: (name: string, kind: string, partition: number) => void): void {
    this.gainedListeners.push(listener);
  }

  /** Calls `listener` when this node stops owning a partition (lost, handed over, stopping). */
  onLost(listener: (name: string, kind: string, partition: number, reason: string) => void): void {
    this.lostListeners.push(listener);
  }

  partitionOf(address: Address): string {
    return partitionName(address.kind, partitionOf(address.id, this.options.partitions));
  }

  /** Whether this node owns partition `name` and its lease is still good. */
  owns(name: string): boolean {
    const held = this.held.get(name);
    return held !== undefined && held.validUntil > this.clock();
  }

  isLocal(address: Address): boolean {
    return this.owns(this.partitionOf(address));
  }

  /** The partitions this node holds, with their tokens (for the ops view). */
  ownedPartitions(): Array<{ name: string; token: number; validForMs: number }> {
    const now = this.clock();
    return [...this.held].map(([name, h]) => ({ name, token: h.token, validForMs: Math.max(0, h.validUntil - now) }));
  }

  /** The nodes seen alive at the last heartbeat. */
  nodes(): string[] {
    return [...this.liveNodes];
  }

  async claim(manager: EntityManager, address: Address, now: number): Promise<number | null> {
    const held = this.held.get(this.partitionOf(address));
    if (!held || held.validUntil <= this.clock()) return null;
    return (await journal.claimFenceAtMost(manager, address, held.token, now)) ? held.token : null;
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.heartbeat();
    this.timer = setInterval(() => void this.heartbeat(), this.options.heartbeatMs);
    this.timer.unref();
  }

  /** Gives every partition back (so others take over at once) and leaves the node set. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const { redis, nodeId } = this.options;
    const names = [...this.held.keys()];
    for (const name of names) this.lose(name, 'stopping');
    try {
      const pipeline = redis.pipeline();
      for (const name of names) pipeline.eval(RELEASE_IF_MINE, 1, this.options.keys.lease(name), nodeId);
      pipeline.zrem(this.options.keys.nodes, nodeId);
      await pipeline.exec();
    } catch (err) {
      this.options.logger.warn({ err }, 'could not release partition leases (they expire by themselves)');
    }
  }

  private lose(name: string, reason: string): void {
    const held = this.held.get(name);
    if (!held) return;
    this.held.delete(name);
    // Handing over and stopping are routine; a lease lost or run out means this node was cut off.
    const routine = reason === 'stopping' || reason.startsWith('handed over');
    this.options.logger[routine ? 'info' : 'warn']({ partition: name, reason }, 'partition released');
    for (const listener of this.lostListeners) listener(name, held.kind, held.partition, reason);
  }

  /** One round: announce this node, renew or hand over what it holds, take what it should own. */
  private async heartbeat(): Promise<void> {
    if (this.beating || this.stopped) return;
    this.beating = true;
    const { redis, nodeId, leaseMs, kinds, partitions, logger } = this.options;
    const started = this.clock();
    try {
      const [, , live] = (await redis
        .pipeline()
        .zadd(this.options.keys.nodes, started, nodeId)
        .zremrangebyscore(this.options.keys.nodes, '-inf', started - 10 * leaseMs)
        .zrangebyscore(this.options.keys.nodes, started - leaseMs, '+inf')
        .exec())!.map(([err, value]) => {
        if (err) throw err;
        return value;
      }) as [unknown, unknown, string[]];
      this.liveNodes = live;

      // Renew everything held in one round trip; hand over what another live node should own.
      const mine = [...this.held.keys()];
      const renew = redis.pipeline();
      for (const name of mine) renew.eval(RENEW_IF_MINE, 1, this.options.keys.lease(name), nodeId, leaseMs);
      const renewed = mine.length > 0 ? (await renew.exec())! : [];
      for (let i = 0; i < mine.length; i++) {
        const name = mine[i];
        const [err, ok] = renewed[i];
        if (err || ok !== 1) {
          this.lose(name, err ? 'renewal failed' : 'lease taken over');
          continue;
        }
        this.held.get(name)!.validUntil = started + leaseMs - this.margin;
        const desired = rendezvousOwner(name, live);
        if (desired !== null && desired !== nodeId) {
          this.lose(name, `handed over to ${desired}`);
          await redis.eval(RELEASE_IF_MINE, 1, this.options.keys.lease(name), nodeId);
        }
      }

      // Acquisitions draw tokens from the database and may be slow under load: they run on
      // their own, so that they never hold up the next renewals.
      if (!this.acquiring) {
        this.acquiring = true;
        void this.acquire(live)
          .catch((err) => logger.warn({ err }, 'partition acquisition failed; retrying at the next heartbeat'))
          .finally(() => (this.acquiring = false));
      }
    } catch (err) {
      if (started - this.lastWarnAt > 5000) {
        this.lastWarnAt = started;
        logger.warn({ err }, 'cluster heartbeat failed (Redis unreachable?); partitions lapse when their lease runs out');
      }
    } finally {
      // Whatever happened, a lease this node could not renew in time is no longer its own.
      const now = this.clock();
      for (const [name, held] of [...this.held]) if (held.validUntil <= now) this.lose(name, 'lease ran out');
      this.beating = false;
    }
  }

  /** Takes the free partitions that rendezvous hashing gives this node among `live`. */
  private async acquire(live: string[]): Promise<void> {
    const { redis, nodeId, leaseMs, kinds, partitions, logger } = this.options;
    for (const kind of kinds) {
      for (let partition = 0; partition < partitions; partition++) {
        const name = partitionName(kind, partition);
        if (this.stopped) return;
        if (this.held.has(name) || rendezvousOwner(name, live) !== nodeId) continue;
        const taken = await redis.set(this.options.keys.lease(name), nodeId, 'PX', leaseMs, 'NX');
        if (taken !== 'OK') continue; // the previous owner's lease has not run out yet
        let token: number;
        try {
          token = await nextPartitionToken(this.options.db, kind, partition);
        } catch (err) {
          logger.warn({ err, partition: name }, 'no fencing token (database unreachable?): partition left for the next heartbeat');
          await redis.eval(RELEASE_IF_MINE, 1, this.options.keys.lease(name), nodeId).catch(() => undefined);
          continue;
        }
        if (this.stopped) return;
        // Renew at once: drawing the token may have taken a good part of the lease.
        const renewedAt = this.clock();
        if ((await redis.eval(RENEW_IF_MINE, 1, this.options.keys.lease(name), nodeId, leaseMs)) !== 1) continue;
        this.held.set(name, { kind, partition, token, validUntil: renewedAt + leaseMs - this.margin });
        logger.info({ partition: name, token }, 'partition acquired');
        for (const listener of this.gainedListeners) listener(name, kind, partition);
      }
    }
  }
}

/**
 * The next fencing token of a partition, from MariaDB: one row per partition, raised by one
 * statement, starting above every fence the kind's actors already hold (so moving from the embedded
 * mode, whose fences count per actor, keeps them monotonic).
 */
export async function nextPartitionToken(db: Database, kind: string, partition: number): Promise<number> {
  return db.transaction(async (manager) => {
    await execute(
      manager,
      `INSERT INTO partition_fences (kind, part, token)
         SELECT ?, ?, COALESCE(MAX(fence), 0) + 1 FROM actor_state WHERE kind = ?
       ON DUPLICATE KEY UPDATE token = token + 1`,
      [kind, partition, kind],
    );
    const rows = (await manager.query('SELECT token FROM partition_fences WHERE kind = ? AND part = ?', [kind, partition])) as Array<{ token: number | string }>;
    return Number(rows[0].token);
  });
}
