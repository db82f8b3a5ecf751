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
  /** A `tell`: nobody waits for the reply, so none is published (the entry is still acknowledged after the turn). */
  noReply?: true;
}

/**
 * What travels back on the caller's reply channel: one reply, or (several replies to one node in
 * the same callback) a JSON array of them in one message.
 */
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
  /**
   * Redis commands gathered during the current callback (and its promise reactions) and sent in
   * one pipeline (one write, one round trip) by `flush`: mailbox appends per stream, replies per caller's channel (one PUBLISH
   * each) and acknowledgements per stream (one XACK and one XDEL each).
   */
  private appends = new Map<string, Array<{ payload: string; fail(error: unknown): void }>>();
  private replies = new Map<string, string[]>();
  private acks = new Map<string, string[]>();
  private flushScheduled = false;

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
    const { placement, nodeId } = this.options;
    const partition = placement.partitionOf(envelope.to);
    if (this.options.localDelivery !== false && placement.owns(partition)) return this.deliver(envelope);
    return new Promise((resolve, reject) => {
      const now = Date.now();
      this.waiting.set(envelope.id, { resolve, reject, at: now });
      const wire: WireEnvelope = { ...envelope, replyTo: nodeId, deadline: now + this.options.replyTimeoutMs };
      this.append(this.options.keys.mailbox(partition), JSON.stringify(wire), (err) => {
        this.waiting.delete(envelope.id);
        reject(new ActorRuntimeError('UNAVAILABLE', 'the message bus (Redis) is unreachable', { cause: err }));
      });
    });
  }

  /**
   * Sends `envelope` without waiting for the actor's reply (a best-effort `tell`): resolves once
   * it is in the target's mailbox (or, when this node owns the target, once the actor answered).
   */
  tell(envelope: Envelope): Promise<void> {
    if (!this.deliver || this.stopped) return Promise.reject(new ActorRuntimeError('SHUTTING_DOWN', 'transport stopped'));
    const { placement, nodeId } = this.options;
    const partition = placement.partitionOf(envelope.to);
    if (this.options.localDelivery !== false && placement.owns(partition)) return this.deliver(envelope).then(() => undefined);
    return new Promise((resolve, reject) => {
      const wire: WireEnvelope = { ...envelope, replyTo: nodeId, deadline: Date.now() + this.options.replyTimeoutMs, noReply: true };
      this.append(this.options.keys.mailbox(partition), JSON.stringify(wire), (err) => reject(new ActorRuntimeError('UNAVAILABLE', 'the message bus (Redis) is unreachable', { cause: err })));
      resolve();
    });
  }

  /** Queues an XADD of `payload` to the stream `key` for the next pipeline; `fail` is called if it does not land. */
  private append(key: string, payload: string, fail: (error: unknown) => void): void {
    let list = this.appends.get(key);
    if (list === undefined) this.appends.set(key, (list = []));
    list.push({ payload, fail });
    this.scheduleFlush();
  }

  /** Queues a reply (serialized) to the node listening on `channel`. */
  private reply(channel: string, text: string): void {
    let list = this.replies.get(channel);
    if (list === undefined) this.replies.set(channel, (list = []));
    list.push(text);
    this.scheduleFlush();
  }

  /** Queues the acknowledgement (XACK, then XDEL) of entry `entryId` of stream `key`. */
  private ack(key: string, entryId: string): void {
    let list = this.acks.get(key);
    if (list === undefined) this.acks.set(key, (list = []));
    list.push(entryId);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the current callback and its promise reactions (every reply of one committed batch
    // is settled in one such run), not at the end of the event-loop turn: a turn under load
    // handles many requests, and holding their messages back until it ends would add its length.
    process.nextTick(() => this.flush());
  }

  /**
   * Sends what was gathered in one pipeline: the appends, then the replies, then the
   * acknowledgements (after their replies, as before batching). A failed append fails its caller
   * at once; a failed reply or acknowledgement is only logged: the entry stays pending and is
   * handled again (the inbox and message ids make that harmless), or the caller times out.
   */
  private flush(): void {
    this.flushScheduled = false;
    const { redis, logger } = this.options;
    const appends = this.appends;
    const replies = this.replies;
    const acks = this.acks;
    this.appends = new Map();
    this.replies = new Map();
    this.acks = new Map();
    const pipeline = redis.pipeline();
    const failures: Array<(error: unknown) => void> = [];
    for (const [key, list] of appends) {
      for (const entry of list) {
        pipeline.xadd(key, '*', 'e', entry.payload);
        failures.push(entry.fail);
      }
    }
    for (const [channel, list] of replies) pipeline.publish(channel, list.length === 1 ? list[0] : `[${list.join(',')}]`);
    for (const [key, ids] of acks) {
      pipeline.xack(key, MAILBOX_GROUP, ...ids);
      pipeline.xdel(key, ...ids);
    }
    const appended = failures.length;
    pipeline.exec().then(
      (results) => {
        let warned = false;
        results?.forEach(([err], i) => {
          if (!err) return;
          if (i < appended) failures[i](err);
          else if (!warned) {
            warned = true;
            logger.warn({ err }, 'could not reply or acknowledge; the entries will be handled again');
          }
        });
      },
      (err: unknown) => {
        for (const fail of failures) fail(err);
        if (replies.size + acks.size > 0) logger.warn({ err }, 'could not reply or acknowledge; the entries will be handled again');
      },
    );
  }

  /** `local` when this node owns `to`'s partition and delivers in process, else `redis`. */
  route(to: Address): string {
    return this.options.localDelivery !== false && this.options.placement.isLocal(to) ? 'local' : 'redis';
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.sweep) clearInterval(this.sweep);
    await Promise.all([...this.consumers.keys()].map((name) => this.stopConsumer(name)));
    if (this.flushScheduled) this.flush(); // the replies and acknowledgements gathered so far
    for (const [id, w] of this.waiting) {
      this.waiting.delete(id);
      w.reject(new ActorRuntimeError('SHUTTING_DOWN', 'the node is shutting down'));
    }
    this.subscriber?.disconnect();
    this.deliver = null;
  }

  private onReply(text: string): void {
    let replies: WireReply | WireReply[];
    try {
      replies = JSON.parse(text) as WireReply | WireReply[];
    } catch {
      return;
    }
    if (Array.isArray(replies)) for (const reply of replies) this.settle(reply);
    else this.settle(replies);
  }

  private settle(reply: WireReply): void {
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
    const { logger } = this.options;
    const now = Date.now();
    for (const [entryId, fields] of entries) {
      if (!fields) continue; // deleted meanwhile
      let wire: WireEnvelope;
      try {
        wire = JSON.parse(fields[fields.indexOf('e') + 1]) as WireEnvelope;
      } catch (err) {
        logger.error({ err, entryId }, 'unreadable mailbox entry dropped');
        this.ack(key, entryId);
        continue;
      }
      const { replyTo, deadline, noReply, ...envelope } = wire;
      if (!envelope.durable && deadline < now) {
        // Its caller has answered 503 already; doing it now would only delay the live requests
        // queued behind it (after a takeover, the backlog). Durable sends are re-sent and kept.
        this.ack(key, entryId);
        continue;
      }
      const channel = this.options.keys.replies(replyTo);
      // The reply and the acknowledgement go out with the others gathered meanwhile (see `flush`), the
      // reply first: the entry is acknowledged only once the actor has answered (committed).
      const answer = (reply: WireReply) => {
        if (noReply !== true) this.reply(channel, JSON.stringify(reply));
        this.ack(key, entryId);
      };
      this.deliver!(envelope).then(
        (reply) => answer({ id: envelope.id, ok: true, reply }),
        (error: unknown) => {
          const code = error instanceof ActorRuntimeError ? error.code : 'ACTOR_FAILED';
          // Not acknowledged when this node lost the actor mid-way: the next owner handles it again.
          if (code === 'FENCED' || code === 'SHUTTING_DOWN') {
            if (noReply !== true) this.reply(channel, JSON.stringify({ id: envelope.id, ok: false, code: 'UNAVAILABLE', message: 'the actor moved; try again' }));
            return;
          }
          answer({ id: envelope.id, ok: false, code, message: (error as Error).message ?? String(error) });
        },
      );
    }
  }
}
