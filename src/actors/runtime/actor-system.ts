import { randomUUID } from 'node:crypto';
import type { Database } from '../../persistence/database';
import type { ActorOutboxEntity } from '../../persistence/entities/actor.entity';
import { Batcher } from '../../persistence/batcher';
import { GroupCommit } from '../../persistence/group-commit';
import { Activation, type ActivationHost, type Pending } from './activation';
import { AskLatencyHistogram } from './ask-latency';
import { addressKey, type ActorDefinition, type Address, type Effect, type Envelope, type RuntimeLogger } from './actor';
import { ActorRuntimeError } from './errors';
import { journal } from './journal';
import { InProcessTransport, SingleNodePlacement, type Placement, type Transport } from './transport';

export interface ActorSystemOptions {
  db: Database;
  logger: RuntimeLogger;
  transport?: Transport;
  placement?: Placement;
  /** Most messages committed together by one mailbox. Default 1000. */
  maxBatch?: number;
  /** Idle time (ms) before an activation is passivated. Default 5 min. */
  idleMs?: number;
  /** Time (ms) an `ask` waits for its reply before failing with UNAVAILABLE. Default 10 s. */
  askTimeoutMs?: number;
  /** How long handled message ids are kept (ms) to answer redeliveries. Default 1 h. */
  inboxWindowMs?: number;
  /**
   * Group commit across actors of kinds that allow it (MariaDB only): how many groups may be in
   * flight at once (0: none, every batch commits alone). Default 4.
   */
  groupCommitConcurrency?: number;
  clock?: () => number;
}

/** Receives the live events that committed turns publish (the realtime layer). */
export type PublishSink = (room: string, event: string, payload: Record<string, unknown>) => void;

/** Hears a `signal` effect after its turn committed: the signalling actor and the effect's payload. */
export type SignalListener = (from: Address, payload: Record<string, unknown>) => void;

/** Counters the metrics endpoint and the ops panel read. */
export interface ActorSystemStats {
  activations: Record<string, number>;
  mailboxDepth: Record<string, number>;
  batches: number;
  messages: number;
  outboxInFlight: number;
}

/**
 * The actor runtime of one node: activates virtual actors on first message, routes envelopes
 * through the {@link Transport}, carries out effects after commit, fires reminders of sleeping
 * actors, re-sends the outbox after a crash and passivates idle actors.
 *
 * @example
 *   const system = new ActorSystem({ db, logger });
 *   system.register(dealActor(rules));
 *   await system.start();
 *   const result = await system.ask({ kind: 'deal', id }, { type: 'snapshot', now: Date.now() });
 */
export class ActorSystem {
  private readonly definitions = new Map<string, ActorDefinition<unknown>>();
  private readonly activations = new Map<string, Activation<unknown>>();
  private readonly transport: Transport;
  private readonly placement: Placement;
  private readonly host: ActivationHost;
  private readonly askTimeoutMs: number;
  private readonly idleMs: number;
  private readonly sinks: PublishSink[] = [];
  private readonly signalListeners = new Map<string, SignalListener[]>();
  private readonly outboxInFlight = new Set<string>();
  private readonly probers = new Map<string, Batcher<string, boolean>>();
  private readonly outboxDone: string[] = [];
  private readonly intervals: NodeJS.Timeout[] = [];
  private stopping = false;
  /**
   * Waiting asks by their timeout (ms), each set in the order the asks were sent, which is the
   * order of their deadlines (sent time + the same timeout): the sweep stops at the first ask
   * still in time, so it costs the asks that expire, not every ask in flight. (Should the clock
   * step back, an ask sent after the step can expire up to the step late.)
   */
  private readonly deadlines = new Map<number, Set<{ at: number; expire(): void }>>();
  /** Whether envelopes go straight into local mailboxes (the in-process transport). */
  private readonly local: boolean;
  private readonly idPrefix = `${randomUUID()}:`;
  private idCounter = 0;
  private readonly deadlineSweep: NodeJS.Timeout;
  private readonly counters = { batches: 0, messages: 0 };
  private readonly batchObservers: Array<(kind: string, size: number, turnMs: number) => void> = [];
  /** Send-to-reply time of every ask, by kind and route (exposed on `/metrics`). */
  readonly askLatency = new AskLatencyHistogram();
  /** Commits shared across actors (null on SQLite or when turned off); its `stats` count them. */
  readonly groupCommit: GroupCommit | null;

  constructor(private readonly options: ActorSystemOptions) {
    this.transport = options.transport ?? new InProcessTransport();
    this.local = this.transport instanceof InProcessTransport;
    this.placement = options.placement ?? new SingleNodePlacement();
    this.askTimeoutMs = options.askTimeoutMs ?? 10_000;
    this.idleMs = options.idleMs ?? 300_000;
    const clock = options.clock ?? Date.now;
    this.deadlineSweep = setInterval(() => {
      const now = clock();
      for (const [timeoutMs, waiting] of this.deadlines) {
        for (const deadline of waiting) {
          if (deadline.at > now) break;
          waiting.delete(deadline);
          deadline.expire();
        }
        if (waiting.size === 0) this.deadlines.delete(timeoutMs); // a timeout no longer in use
      }
    }, 50);
    this.deadlineSweep.unref();
    const groups = options.groupCommitConcurrency ?? 4;
    this.groupCommit = options.db.dialect === 'mariadb' && groups > 0 ? new GroupCommit(options.db, { concurrency: groups }) : null;
    this.host = {
      db: options.db,
      groupCommit: this.groupCommit,
      placement: this.placement,
      logger: options.logger,
      maxBatch: options.maxBatch ?? 1000,
      inboxWindowMs: options.inboxWindowMs ?? 3_600_000,
      now: clock,
      afterCommit: (from, effects) => this.afterCommit(from, effects),
      stepDown: (activation, leftover, reason, requeue) => this.stepDown(activation, leftover, reason, requeue),
      probe: (definition, id) => this.prober(definition).submit(id),
      observeBatch: (kind, size, turnMs) => {
        this.counters.batches += 1;
        this.counters.messages += size;
        for (const observe of this.batchObservers) observe(kind, size, turnMs);
      },
    };
  }

  /** The batched existence probe of a kind with a `store.probe` (one per kind, made on first use). */
  private prober(definition: ActorDefinition<unknown>): Batcher<string, boolean> {
    let batcher = this.probers.get(definition.kind);
    if (!batcher) {
      const probe = definition.store.probe!;
      batcher = new Batcher(
        async (ids) => {
          const found = await this.options.db.read((manager) => probe.existing(manager, [...new Set(ids)]));
          return ids.map((id) => found.has(id));
        },
        { concurrency: 4, maxBatch: 500 },
      );
      this.probers.set(definition.kind, batcher);
    }
    return batcher;
  }

  register(definition: ActorDefinition<any>): this {
    this.definitions.set(definition.kind, definition as ActorDefinition<unknown>);
    return this;
  }

  /** Subscribes to live events of committed turns. */
  onPublish(sink: PublishSink): void {
    this.sinks.push(sink);
  }

  /**
   * Listens to the `signal` effects named `name` of turns committed on this node. The listener
   * runs after the commit; what it throws is logged, and what it returns is not awaited.
   */
  onSignal(name: string, listener: SignalListener): void {
    const listeners = this.signalListeners.get(name);
    if (listeners) listeners.push(listener);
    else this.signalListeners.set(name, [listener]);
  }

  /** Subscribes to every committed batch: its kind, size (messages) and duration (ms). */
  onBatch(observer: (kind: string, size: number, turnMs: number) => void): void {
    this.batchObservers.push(observer);
  }

  async start(): Promise<void> {
    await this.transport.start((envelope) => this.deliverLocal(envelope));
    const every = (ms: number, task: () => Promise<unknown>) => {
      let running = false;
      const timer = setInterval(() => {
        if (running || this.stopping) return;
        running = true;
        task()
          .catch((err) => this.options.logger.warn({ err }, 'actor system housekeeping failed; will retry'))
          .finally(() => (running = false));
      }, ms);
      timer.unref();
      this.intervals.push(timer);
    };
    every(1000, () => this.wakeDueReminders());
    every(1000, () => this.relayOutbox());
    every(5000, async () => this.passivateIdle());
    every(600_000, () => this.options.db.transaction((m) => journal.pruneInbox(m, this.host.now() - this.host.inboxWindowMs)));
    await this.wakeDueReminders();
    await this.relayOutbox();
  }

  /**
   * Sends `message` to the actor at `to` and resolves with its reply, once the turn that handled
   * it is committed.
   * @throws ActorRuntimeError `UNAVAILABLE` when no reply comes within the ask timeout or the
   *   commit failed; `ACTOR_FAILED` when the transition threw.
   */
  ask<R = unknown>(to: Address, message: unknown, options?: { id?: string; durable?: boolean; timeoutMs?: number }): Promise<R> {
    if (this.stopping) return Promise.reject(new ActorRuntimeError('SHUTTING_DOWN', 'the node is shutting down'));
    if (!this.definitions.has(to.kind)) return Promise.reject(new ActorRuntimeError('UNKNOWN_KIND', `no actor kind "${to.kind}"`));
    const envelope: Envelope = { id: options?.id ?? this.nextId(), to, message, durable: options?.durable ?? false };
    const timeoutMs = options?.timeoutMs ?? this.askTimeoutMs;
    // The hot path (three asks per hold): one promise, and the waiting caller is itself the
    // mailbox entry and the deadline (one sweep for all deadlines instead of a timer per ask).
    return new Promise<R>((resolve, reject) => {
      const route = this.local ? 'in-process' : (this.transport.route?.(to) ?? 'remote');
      let waiting = this.deadlines.get(timeoutMs);
      if (waiting === undefined) this.deadlines.set(timeoutMs, (waiting = new Set()));
      const ask = new Ask(envelope, resolve as (reply: unknown) => void, reject, this.host.now() + timeoutMs, timeoutMs, waiting, this.askLatency, route);
      waiting.add(ask);
      // In process, or (cluster) an actor of a partition this node owns: straight to its mailbox.
      if (this.local || route === 'local') this.enqueueLocal(ask);
      else this.transport.request(envelope).then((reply) => ask.resolve(reply), (error) => ask.reject(error));
    });
  }

  /** Sends without waiting; a failure is logged. For derived state only (best effort). */
  tell(to: Address, message: unknown): void {
    if (this.stopping || !this.definitions.has(to.kind)) {
      this.options.logger.debug({ to }, 'tell not delivered');
      return;
    }
    const envelope: Envelope = { id: this.nextId(), to, message, durable: false };
    const logger = this.options.logger;
    const fail = (err: unknown) => logger.debug({ err, to }, 'tell not delivered');
    if (this.local || this.transport.route?.(to) === 'local') this.enqueueLocal({ envelope, resolve: ignore, reject: fail });
    else if (this.transport.tell) this.transport.tell(envelope).catch(fail);
    else this.transport.request(envelope).catch(fail);
  }

  /** An id for a message that has none of its own (not durable): unique within this process. */
  private nextId(): string {
    return `${this.idPrefix}${(this.idCounter++).toString(36)}`;
  }

  /** Hands a message straight to the local activation of its actor (in-process transport). */
  private enqueueLocal(pending: Pending): void {
    const activation = this.activationFor(pending.envelope.to);
    if (!activation) pending.reject(new ActorRuntimeError('UNKNOWN_KIND', `no actor kind "${pending.envelope.to.kind}"`));
    else activation.enqueue(pending);
  }

  /**
   * Drops the activation of an actor whose state is derived (a non-durable kind) so that the next
   * message loads it afresh, e.g. when a cart may have missed a best-effort `tell`. A busy
   * activation is left alone (its queued messages would be lost otherwise). Durable kinds never
   * need it: their state is what they committed.
   */
  refresh(address: Address): void {
    const key = addressKey(address);
    const activation = this.activations.get(key);
    if (!activation || activation.definition.durable || !activation.idle) return;
    activation.close();
    this.activations.delete(key);
  }

  /**
   * Closes the activations of actors this node no longer owns (cluster mode: a partition lost or
   * handed over). Messages still queued in them go back through the transport, to the new owner.
   * A batch already committing finishes; if the new owner has claimed the actor, its commit is
   * fenced off.
   */
  evict(belongsElsewhere: (address: Address) => boolean): number {
    let evicted = 0;
    for (const [key, activation] of [...this.activations]) {
      if (!belongsElsewhere(activation.address)) continue;
      this.activations.delete(key);
      evicted += 1;
      for (const pending of activation.close()) {
        if (this.stopping) pending.reject(new ActorRuntimeError('SHUTTING_DOWN', 'the node is shutting down'));
        else this.transport.request(pending.envelope).then(pending.resolve, pending.reject);
      }
    }
    return evicted;
  }

  /** Live activations and mailbox depth per kind, and totals since start. */
  stats(): ActorSystemStats {
    const activations: Record<string, number> = {};
    const mailboxDepth: Record<string, number> = {};
    for (const activation of this.activations.values()) {
      const kind = activation.address.kind;
      activations[kind] = (activations[kind] ?? 0) + 1;
      mailboxDepth[kind] = (mailboxDepth[kind] ?? 0) + activation.depth;
    }
    return { activations, mailboxDepth, ...this.counters, outboxInFlight: this.outboxInFlight.size };
  }

  /** Stops taking messages, lets running batches finish (up to `graceMs`), and passivates all. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    for (const interval of this.intervals) clearInterval(interval);
    clearInterval(this.deadlineSweep);
    const deadline = Date.now() + graceMs;
    while ([...this.activations.values()].some((a) => !a.idle) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const activation of this.activations.values()) {
      for (const pending of activation.close()) pending.reject(new ActorRuntimeError('SHUTTING_DOWN', 'the node is shutting down'));
    }
    this.activations.clear();
    await this.flushOutboxDone().catch(() => undefined);
    await this.transport.stop();
  }

  /** Hands an envelope to the local activation of its actor (activating it if needed). */
  deliverLocal(envelope: Envelope): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const activation = this.activationFor(envelope.to);
      if (!activation) return reject(new ActorRuntimeError('UNKNOWN_KIND', `no actor kind "${envelope.to.kind}"`));
      activation.enqueue({ envelope, resolve, reject });
    });
  }

  private activationFor(address: Address): Activation<unknown> | null {
    const key = addressKey(address);
    let activation = this.activations.get(key);
    if (!activation || activation.closed) {
      const definition = this.definitions.get(address.kind);
      if (!definition) return null;
      const created = new Activation(definition, address, this.host);
      this.activations.set(key, created);
      created.whenReady().catch(() => {
        if (this.activations.get(key) === created && created.idle) {
          created.close();
          this.activations.delete(key);
        }
      });
      activation = created;
    }
    return activation;
  }

  private stepDown(activation: Activation<unknown>, leftover: Pending[], reason: unknown, requeue: boolean): void {
    if (this.activations.get(activation.key) === activation) this.activations.delete(activation.key);
    this.options.logger.warn({ err: reason, actor: activation.key, pending: leftover.length, requeue }, 'actor activation stepped down');
    // Messages that were only queued have not been looked at: after a failed commit a fresh
    // activation takes them; after a failed activation they fail (no retry loop while the
    // database is down).
    for (const pending of leftover) {
      const next = this.stopping || !requeue ? null : this.activationFor(activation.address);
      if (next) next.enqueue(pending);
      else pending.reject(new ActorRuntimeError('UNAVAILABLE', `${activation.key} is unavailable`));
    }
  }

  private afterCommit(from: Address, effects: { publishes: Effect[]; tells: Effect[]; sends: ActorOutboxEntity[] }): void {
    for (const effect of effects.publishes) {
      if (effect.type === 'signal') {
        for (const listener of this.signalListeners.get(effect.name) ?? []) {
          try {
            listener(from, effect.payload);
          } catch (err) {
            this.options.logger.warn({ err, signal: effect.name, from: addressKey(from) }, 'signal listener failed');
          }
        }
        continue;
      }
      if (effect.type !== 'publish') continue;
      for (const sink of this.sinks) {
        try {
          sink(effect.room, effect.event, effect.payload);
        } catch (err) {
          this.options.logger.warn({ err, room: effect.room, event: effect.event }, 'publish failed');
        }
      }
    }
    for (const effect of effects.tells) if (effect.type === 'tell') this.tell(effect.to, effect.message);
    for (const row of effects.sends) this.deliverOutbox(row);
  }

  private deliverOutbox(row: ActorOutboxEntity): void {
    if (this.outboxInFlight.has(row.id) || this.stopping) return;
    this.outboxInFlight.add(row.id);
    this.ask({ kind: row.toKind, id: row.toId }, JSON.parse(row.message), { id: row.id, durable: true })
      .then(() => this.outboxDone.push(row.id))
      .catch((err) => this.options.logger.warn({ err, outbox: row.id, to: `${row.toKind}:${row.toId}` }, 'actor message not delivered yet; will retry'))
      .finally(() => this.outboxInFlight.delete(row.id));
  }

  private async flushOutboxDone(): Promise<void> {
    const ids = this.outboxDone.splice(0);
    if (ids.length === 0) return;
    try {
      // READ COMMITTED: no gap locks, so the delete cannot deadlock with commits inserting new
      // outbox rows between the delivered ones (it did under REPEATABLE READ with group commit).
      await this.options.db.transaction((m) => journal.deleteOutbox(m, ids), 'READ COMMITTED');
    } catch (err) {
      this.outboxDone.push(...ids);
      throw err;
    }
  }

  /** Deletes delivered outbox rows and re-sends the ones older than 2 s that are not in flight. */
  private async relayOutbox(): Promise<void> {
    await this.flushOutboxDone();
    const cutoff = this.host.now() - 2000;
    const rows = await this.options.db.read((m) => journal.pendingOutbox(m));
    for (const row of rows) {
      if (row.createdAt <= cutoff && !this.outboxDone.includes(row.id)) this.deliverOutbox(row);
    }
  }

  /** Activates sleeping local actors whose reminders fall due in the next 2 s; they arm their timers. */
  private async wakeDueReminders(): Promise<void> {
    const due = await this.options.db.read((m) => journal.dueReminders(m, this.host.now() + 2000));
    for (const reminder of due) {
      const address = { kind: reminder.kind, id: reminder.actorId };
      if (!this.definitions.has(address.kind) || !this.placement.isLocal(address)) continue;
      if (this.activations.has(addressKey(address))) continue;
      this.activationFor(address)
        ?.whenReady()
        .catch((err) => this.options.logger.warn({ err, actor: addressKey(address) }, 'could not wake actor for its reminder'));
    }
  }

  /**
   * Passivates activations idle for `idleMs` (5 s for actors that do not exist), except those
   * with an in-memory timer pending. Durable reminders need no activation: the poller wakes them.
   */
  private passivateIdle(): void {
    const now = this.host.now();
    for (const [key, activation] of this.activations) {
      const cutoff = now - (activation.exists ? this.idleMs : Math.min(this.idleMs, 5000));
      if (activation.idle && !activation.hasTimers && activation.lastActiveAt < cutoff) {
        activation.close();
        this.activations.delete(key);
      }
    }
  }
}

const ignore = (): void => undefined;

/**
 * A caller waiting for an actor's reply: its mailbox entry and its deadline in one object.
 * Settling it (reply, failure or timeout) settles the caller's promise once and records the time
 * since it was sent in the ask-latency histogram. `resolve` and `reject` are bound (callers may
 * pass them on, e.g. to a transport's promise).
 */
class Ask implements Pending {
  solo?: boolean;
  readonly resolve: (reply: unknown) => void;
  readonly reject: (error: unknown) => void;

  constructor(
    readonly envelope: Envelope,
    onReply: (reply: unknown) => void,
    private readonly onError: (error: unknown) => void,
    readonly at: number,
    private readonly timeoutMs: number,
    deadlines: Set<{ at: number; expire(): void }>,
    private readonly latency: AskLatencyHistogram,
    private readonly route: string,
  ) {
    this.sentAt = performance.now();
    this.resolve = (reply) => {
      deadlines.delete(this);
      this.settle();
      onReply(reply);
    };
    this.reject = (error) => {
      deadlines.delete(this);
      this.settle();
      onError(error);
    };
  }

  /** When it was sent (`performance.now()`, ms). */
  private readonly sentAt: number;
  private settled = false;

  /** Records the send-to-answer time, once (a reply after the deadline is not counted again). */
  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.latency.record(this.envelope.to.kind, this.route, performance.now() - this.sentAt);
  }

  /** Called by the deadline sweep (which has already dropped it from the deadlines). */
  expire(): void {
    this.settle();
    this.onError(new ActorRuntimeError('UNAVAILABLE', `${addressKey(this.envelope.to)} did not answer within ${this.timeoutMs} ms`));
  }
}
