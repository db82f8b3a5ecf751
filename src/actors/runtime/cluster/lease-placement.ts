import type Redis from 'ioredis';
import type { EntityManager } from 'typeorm';
import type { Database } from '../../../persistence/database';
import type { WriteSet } from '../../../persistence/write-set';
import { execute } from '../../../persistence/sql';
import type { Address, RuntimeLogger } from '../actor';
import { journal } from '../journal';
import type { Placement } from '../transport';
import { LeaseRenewer, RENEW_IF_MINE, type RenewerReport } from './lease-renewer';
import { partitionName, partitionOf, rendezvousOwner, type ClusterKeys } from './partitions';

/** Drops the lease only if this node holds it. */
const RELEASE_IF_MINE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export interface LeasePlacementOptions {
  /** A command connection (not a subscriber, not blocking): acquisitions and releases. */
  redis: Redis;
  /** Where the lease renewer (a worker thread) opens a connection of its own. */
  redisUrl: string;
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

/** A partition this node holds: its fencing token and its slot in the renewer. */
interface Held {
  kind: string;
  partition: number;
  token: number;
  slot: number;
}

/**
 * Cluster placement: each partition of each kind is owned by one node through a Redis lease
 * (`SET NX PX`, renewed by a heartbeat), and the owner is chosen by rendezvous hashing over the
 * live nodes, so nodes joining or leaving move only their share. A dead node's partitions are
 * taken over once its lease runs out; a node that cannot renew (Redis down, or paused past its
 * lease) stops acting on its own clock before anyone else may take over (the validity is counted
 * from before the renewal was sent, minus a margin).
 *
 * Renewals run in a worker thread ({@link LeaseRenewer}) so that a busy main event loop cannot
 * make a healthy node lose its partitions (and reload their actors); acquisitions, hand-overs and
 * the fencing tokens stay on the main thread, driven by the live-node list each heartbeat reports.
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
  private renewer: LeaseRenewer | null = null;
  private acquiring = false;
  private stopped = false;
  private lastWarnAt = 0;
  private liveNodes: string[] = [];
  private readonly clock: () => number;
  /** Safety margin (ms) taken off every lease: clock drift and the time a renewal takes to land. */
  private readonly margin: number;
  /** Partition name of each renewer slot, and back. */
  private readonly slotNames: string[] = [];
  private readonly slots = new Map<string, number>();

  constructor(private readonly options: LeasePlacementOptions) {
    this.clock = options.clock ?? Date.now;
    this.margin = Math.min(500, Math.floor(options.leaseMs / 5));
    for (const kind of options.kinds) {
      for (let partition = 0; partition < options.partitions; partition++) {
        const name = partitionName(kind, partition);
        this.slots.set(name, this.slotNames.length);
        this.slotNames.push(name);
      }
    }
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

  /** Until when (epoch ms) this node may act for a partition it holds. */
  private validUntil(held: Held): number {
    return this.renewer?.validFor(held.slot) ?? 0;
  }

  /** Whether this node owns partition `name` and its lease is still good. */
  owns(name: string): boolean {
    const held = this.held.get(name);
    return held !== undefined && this.validUntil(held) > this.clock();
  }

  isLocal(address: Address): boolean {
    return this.owns(this.partitionOf(address));
  }

  /** The partitions this node holds, with their tokens (for the ops view). */
  ownedPartitions(): Array<{ name: string; token: number; validForMs: number }> {
    const now = this.clock();
    return [...this.held].map(([name, h]) => ({ name, token: h.token, validForMs: Math.max(0, this.validUntil(h) - now) }));
  }

  /** The nodes seen alive at the last heartbeat. */
  nodes(): string[] {
    return [...this.liveNodes];
  }

  async claim(manager: EntityManager, address: Address, now: number): Promise<number | null> {
    const held = this.held.get(this.partitionOf(address));
    if (!held || this.validUntil(held) <= this.clock()) return null;
    return (await journal.claimFenceAtMost(manager, address, held.token, now)) ? held.token : null;
  }

  claimWrites(writes: WriteSet, address: Address, now: number): (() => number) | null {
    const held = this.held.get(this.partitionOf(address));
    if (!held || this.validUntil(held) <= this.clock()) return null;
    const { token } = held;
    journal.claimFenceAtMostWrites(writes, address, token, now);
    return () => token;
  }

  /** Starts the renewer; partitions are taken at its first heartbeat (when Redis answers). */
  async start(): Promise<void> {
    this.stopped = false;
    const { keys, nodeId } = this.options;
    this.renewer ??= new LeaseRenewer(
      {
        redisUrl: this.options.redisUrl,
        nodeId,
        nodesKey: keys.nodes,
        leaseKeys: this.slotNames.map((name) => keys.lease(name)),
        leaseMs: this.options.leaseMs,
        heartbeatMs: this.options.heartbeatMs,
        marginMs: this.margin,
        connectionName: `dealrush:${nodeId}:lease-renewer`,
      },
      (report) => this.onReport(report),
    );
    this.timer = setInterval(() => this.dropLapsed(), Math.max(100, Math.floor(this.options.heartbeatMs / 2)));
    this.timer.unref();
  }

  /** Gives every partition back (so others take over at once) and leaves the node set. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const { redis, nodeId } = this.options;
    const names = [...this.held.keys()];
    for (const name of names) this.lose(name, 'stopping');
    await this.renewer?.stop();
    this.renewer = null;
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
    this.renewer?.drop(held.slot);
    // Handing over and stopping are routine; a lease lost or run out means this node was cut off.
    const routine = reason === 'stopping' || reason.startsWith('handed over');
    this.options.logger[routine ? 'info' : 'warn']({ partition: name, reason }, 'partition released');
    for (const listener of this.lostListeners) listener(name, held.kind, held.partition, reason);
  }

  /** Whatever happened, a lease this node could not renew in time is no longer its own. */
  private dropLapsed(): void {
    const now = this.clock();
    for (const [name, held] of [...this.held]) if (this.validUntil(held) <= now) this.lose(name, 'lease ran out');
  }

  private onReport(report: RenewerReport): void {
    if (this.stopped) return;
    if (report.type === 'lost') {
      this.lose(this.slotNames[report.slot], report.reason);
    } else if (report.type === 'failed') {
      const now = this.clock();
      if (now - this.lastWarnAt > 5000) {
        this.lastWarnAt = now;
        this.options.logger.warn({ err: { message: report.message } }, 'cluster heartbeat failed (Redis unreachable?); partitions lapse when their lease runs out');
      }
    } else {
      this.liveNodes = report.nodes;
      void this.rebalance(report.nodes);
    }
  }

  /** Hands over what another live node should own; takes what this node should. */
  private async rebalance(live: string[]): Promise<void> {
    const { redis, nodeId, logger } = this.options;
    this.dropLapsed();
    for (const name of [...this.held.keys()]) {
      const desired = rendezvousOwner(name, live);
      if (desired === null || desired === nodeId) continue;
      this.lose(name, `handed over to ${desired}`);
      await redis.eval(RELEASE_IF_MINE, 1, this.options.keys.lease(name), nodeId).catch(() => undefined);
    }
    // Acquisitions draw tokens from the database and may be slow under load: one at a time.
    if (!this.acquiring) {
      this.acquiring = true;
      void this.acquire(live)
        .catch((err) => logger.warn({ err }, 'partition acquisition failed; retrying at the next heartbeat'))
        .finally(() => (this.acquiring = false));
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
        if (this.stopped || !this.renewer) return;
        // Renew at once: drawing the token may have taken a good part of the lease.
        const renewedAt = this.clock();
        if ((await redis.eval(RENEW_IF_MINE, 1, this.options.keys.lease(name), nodeId, leaseMs)) !== 1) continue;
        const slot = this.slots.get(name)!;
        this.held.set(name, { kind, partition, token, slot });
        this.renewer.hold(slot, renewedAt + leaseMs - this.margin);
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
