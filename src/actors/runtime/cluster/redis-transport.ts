import type Redis from 'ioredis';
import type { Address, Envelope, RuntimeLogger } from '../actor';
import { ActorRuntimeError } from '../errors';
import type { Transport } from '../transport';
import type { LeasePlacement } from './lease-placement';
import { MAILBOX_GROUP, type ClusterKeys } from './partitions';

export interface RedisTransportOptions {
  /** Command connection (shared with the placement). */
  redis: Redis;
  keys: ClusterKeys;
  /** Makes a new dedicated connection (blocking reads and the reply subscriber need their own). */
  connect: () => Redis;
  nodeId: string;
  placement: LeasePlacement;
  logger: RuntimeLogger;
  /** How long a caller waits for a reply (ms) before its request is forgotten. */
  replyTimeoutMs: number;
  /** Entries read per XREADGROUP. Default 500. */
  readCount?: number;
  /** How long one blocking read waits (ms). Default 1000. */
  blockMs?: number;
  /**
   * Deliver in process when this node owns the target (default true). False sends every message
   * through Redis, even to itself: only to measure the transport (the `cluster` benchmark).
   */
  localDelivery?: boolean;
}

/** How often an owner takes over entries left unacknowledged for this long (ms). */
const RECLAIM_EVERY_MS = 30_000;

/** What travels in a mailbox entry (field `e`). */
interface WireEnvelope extends Envelope {
  /** The caller's node: where the reply goes. */
  replyTo: string;
  /** When the caller stops waiting (epoch ms): a request not durable is dropped after it. */
  deadline: number;
}

/** What travels back on the caller's reply channel. */
type WireReply = { id: string; ok: true; reply: unknown } | { id: string; ok: false; code: string; message: string };

/**
 * Cluster transport: mailboxes are Redis Streams, one per partition of each kind, read by the
 * partition's owner through a consumer group. A sender that owns the target's partition hands the
 * envelope over in process (no Redis round trip); otherwise it appends it to the partition's
 * stream and waits for the reply on its own pub/sub channel. The owner acknowledges (and deletes)
 * an entry only after the actor has answered, that is after its batch committed; entries of an
 * owner that died unacknowledged are claimed by the next owner (`XAUTOCLAIM`) and handled again,
 * which the actor's inbox (durable messages) and idempotent message ids make harmless.
 *
 * A reply that does not come within `replyTimeoutMs` is forgotten; the caller's ask times out with
 * `UNAVAILABLE` (HTTP 503 with Retry-After), never a hang.
 */
export class RedisStreamsTransport implements Transport {
  private deliver: ((envelope: Envelope) => Promise<unknown>) | null = null;
  private subscriber: Redis | null = null;
  private readonly waiting = new Map<string, { resolve(reply: unknown): void; reject(error: unknown): void; at: number }>();
  private readonly consumers = new Map<string, { stop(): Promise<void> }>();
  private sweep: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly options: RedisTransportOptions) {}

  async start(deliver: (envelope: Envelope) => Promise<unknown>): Promise<void> {
    this.deliver = deliver;
    const { nodeId, placement } = this.options;
    this.subscriber = this.options.connect();
    this.subscriber.on('message', (_channel: string, text: string) => this.onReply(text));
    // Not awaited: while Redis is away the subscription waits in the connection's queue (nothing
    // can reply before it anyway), and ioredis re-subscribes after every reconnect.
    this.subscriber.subscribe(this.options.keys.replies(nodeId)).catch((err: unknown) => this.options.logger.warn({ err }, 'reply channel subscription failed'));
    placement.onGained((name) => this.startConsumer(name));
    placement.onLost((name) => void this.stopConsumer(name));
    for (const { name } of placement.ownedPartitions()) this.startConsumer(name);
    this.sweep = setInterval(() => {
      const cutoff = Date.now() - this.options.replyTimeoutMs;
      for (const [id, w] of this.waiting) {
        if (w.at > cutoff) continue;
        this.waiting.delete(id);
        w.reject(new ActorRuntimeError('UNAVAILABLE', 'no reply from the owning node in time'));
      }
    }, 1000);
    this.sweep.unref();
  }

  request(envelope: Envelope): Promise<unknown> {
    if (!this.deliver || this.stopped) return Promise.reject(new ActorRuntimeError('SHUTTING_DOWN', 'transport stopped'));
    const { placement, redis, nodeId } = this.options;
    const partition = placement.partitionOf(envelope.to);
    if (this.options.localDelivery !== false && placement.owns(partition)) return this.deliver(envelope);
    return new Promise((resolve, reject) => {
      this.waiting.set(envelope.id, { resolve, reject, at: Date.now() });
      const wire: WireEnvelope = { ...envelope, replyTo: nodeId, deadline: Date.now() + this.options.replyTimeoutMs };
      redis.xadd(this.options.keys.mailbox(partition), '*', 'e', JSON.stringify(wire)).catch((err: unknown) => {
        this.waiting.delete(envelope.id);
        reject(new ActorRuntimeError('UNAVAILABLE', 'the message bus (Redis) is unreachable', { cause: err }));
      });
    });
  }

  /** `local` when this node owns `to`'s partition and delivers in process, else `redis`. */
  route(to: Address): string {
    return this.options.localDelivery !== false && this.options.placement.isLocal(to) ? 'local' : 'redis';
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweep) clearInterval(this.sweep);
    await Promise.all([...this.consumers.keys()].map((name) => this.stopConsumer(name)));
    for (const [id, w] of this.waiting) {
      this.waiting.delete(id);
      w.reject(new ActorRuntimeError('SHUTTING_DOWN', 'the node is shutting down'));
    }
    this.subscriber?.disconnect();
    this.deliver = null;
  }

  private onReply(text: string): void {
    let reply: WireReply;
    try {
      reply = JSON.parse(text) as WireReply;
    } catch {
      return;
    }
    const w = this.waiting.get(reply.id);
    if (!w) return; // the caller gave up already
    this.waiting.delete(reply.id);
    if (reply.ok) w.resolve(reply.reply);
    else w.reject(new ActorRuntimeError(reply.code as ActorRuntimeError['code'], reply.message));
  }

  private startConsumer(name: string): void {
    if (this.consumers.has(name) || this.stopped) return;
    const connection = this.options.connect();
    let running = true;
    const loop = this.consume(name, connection, () => running);
    this.consumers.set(name, {
      stop: async () => {
        running = false;
        connection.disconnect(); // ends a blocking read at once
        await loop.catch(() => undefined);
      },
    });
  }

  private async stopConsumer(name: string): Promise<void> {
    const consumer = this.consumers.get(name);
    if (!consumer) return;
    this.consumers.delete(name);
    await consumer.stop();
  }

  /** The read loop of one owned partition: claim what a previous owner left, then read new entries. */
  private async consume(name: string, connection: Redis, running: () => boolean): Promise<void> {
    const { nodeId, logger, placement } = this.options;
    const key = this.options.keys.mailbox(name);
    const count = this.options.readCount ?? 500;
    const block = this.options.blockMs ?? 1000;
    let claimed = false;
    let lastWarnAt = 0;
    let lastReclaimAt = Date.now();
    while (running() && placement.owns(name)) {
      try {
        if (!claimed) {
          await connection.xgroup('CREATE', key, MAILBOX_GROUP, '0', 'MKSTREAM').catch((err: Error) => {
            if (!String(err.message).includes('BUSYGROUP')) throw err;
          });
          // Entries a dead or deposed owner read but never acknowledged: ours now.
          let cursor = '0-0';
          do {
            const [next, entries] = (await connection.xautoclaim(key, MAILBOX_GROUP, nodeId, 0, cursor, 'COUNT', count)) as [string, Array<[string, string[]]>];
            cursor = next;
            if (entries.length > 0) logger.info({ partition: name, entries: entries.length }, 'took over unacknowledged mailbox entries');
            this.handle(key, entries);
          } while (cursor !== '0-0' && running());
          claimed = true;
        }
        if (Date.now() - lastReclaimAt > RECLAIM_EVERY_MS) {
          // Entries this node's actors could not finish (an activation fenced off mid-way) are
          // left unacknowledged; whoever owns the partition now picks them up after a while.
          lastReclaimAt = Date.now();
          const [, stale] = (await connection.xautoclaim(key, MAILBOX_GROUP, nodeId, RECLAIM_EVERY_MS, '0-0', 'COUNT', count)) as [string, Array<[string, string[]]>];
          this.handle(key, stale);
        }
        const result = (await connection.xreadgroup('GROUP', MAILBOX_GROUP, nodeId, 'COUNT', count, 'BLOCK', block, 'STREAMS', key, '>')) as Array<[string, Array<[string, string[]]>]> | null;
        if (result) for (const [, entries] of result) this.handle(key, entries);
      } catch (err) {
        if (!running()) break;
        const message = String((err as Error).message);
        if (message.includes('NOGROUP')) claimed = false; // Redis came back empty: make the group again
        const now = Date.now();
        if (now - lastWarnAt > 5000) {
          lastWarnAt = now;
          logger.warn({ err, partition: name }, 'mailbox read failed; retrying');
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** Hands each entry to its actor (in stream order), then replies and acknowledges once it answered. */
  private handle(key: string, entries: Array<[string, string[] | null]>): void {
    const { redis, logger } = this.options;
    for (const [entryId, fields] of entries) {
      if (!fields) continue; // deleted meanwhile
      let wire: WireEnvelope;
      try {
        wire = JSON.parse(fields[fields.indexOf('e') + 1]) as WireEnvelope;
      } catch (err) {
        logger.error({ err, entryId }, 'unreadable mailbox entry dropped');
        void redis.pipeline().xack(key, MAILBOX_GROUP, entryId).xdel(key, entryId).exec();
        continue;
      }
      const { replyTo, deadline, ...envelope } = wire;
      if (!envelope.durable && deadline < Date.now()) {
        // Its caller has answered 503 already; doing it now would only delay the live requests
        // queued behind it (after a takeover, the backlog). Durable sends are re-sent and kept.
        void redis.pipeline().xack(key, MAILBOX_GROUP, entryId).xdel(key, entryId).exec().catch(() => undefined);
        continue;
      }
      const answer = (reply: WireReply) =>
        redis
          .pipeline()
          .publish(this.options.keys.replies(replyTo), JSON.stringify(reply))
          .xack(key, MAILBOX_GROUP, entryId)
          .xdel(key, entryId)
          .exec()
          .catch((err) => logger.warn({ err, entryId }, 'could not reply or acknowledge; the entry will be handled again'));
      this.deliver!(envelope).then(
        (reply) => answer({ id: envelope.id, ok: true, reply }),
        (error: unknown) => {
          const code = error instanceof ActorRuntimeError ? error.code : 'ACTOR_FAILED';
          // Not acknowledged when this node lost the actor mid-way: the next owner handles it again.
          if (code === 'FENCED' || code === 'SHUTTING_DOWN') {
            void redis.publish(this.options.keys.replies(replyTo), JSON.stringify({ id: envelope.id, ok: false, code: 'UNAVAILABLE', message: 'the actor moved; try again' }));
            return;
          }
          void answer({ id: envelope.id, ok: false, code, message: (error as Error).message ?? String(error) });
        },
      );
    }
  }
}
