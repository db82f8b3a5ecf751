import { randomUUID } from 'node:crypto';
import type { ActorOutboxEntity } from '../../persistence/entities/actor.entity';
import type { Database } from '../../persistence/database';
import type { GroupCommit } from '../../persistence/group-commit';
import type { WriteSet } from '../../persistence/write-set';
import { addressKey, type ActorDefinition, type Address, type Effect, type Envelope, type RuntimeLogger } from './actor';
import { ActorRuntimeError, FencedError } from './errors';
import { journal } from './journal';
import type { Placement } from './transport';

/** A message waiting in a mailbox, with the caller's promise. `alarm` names a fired reminder. */
export interface Pending {
  envelope: Envelope;
  resolve(reply: unknown): void;
  reject(error: unknown): void;
  alarm?: string;
  /** The due time the fired reminder was armed for. */
  alarmAt?: number;
  /** Handle in a batch of its own: it was in a batch whose commit the data refused. */
  solo?: boolean;
}

/** A batch whose transitions have run, waiting to be committed and applied. */
interface Prepared<S> {
  batch: Pending[];
  now: number;
  before: S;
  after: S;
  started: number;
  mustCommit: boolean;
  outcomes: Array<{ pending: Pending; reply?: unknown; error?: unknown; remember: boolean }>;
  persists: unknown[];
  sends: ActorOutboxEntity[];
  tells: Effect[];
  /** `publish` and `signal` effects: carried out after commit. */
  publishes: Effect[];
  timers: Array<{ name: string; at: number }>;
  remindersSet: Map<string, number>;
  remindersCleared: Set<string>;
  inbox: Array<{ id: string; reply: unknown }>;
  /** Settles once this batch's transaction holds the actor's row lock (or has failed). */
  locked: Promise<void>;
  onLocked(): void;
}

/** A batch on its way to the database: its outcome, and when it took the actor's row lock. */
interface InFlight {
  done: Promise<boolean>;
  locked: Promise<void>;
}

/** What an activation needs from its actor system. */
export interface ActivationHost {
  db: Database;
  /** Commits shared across actors of kinds that allow it (MariaDB only; null: each its own). */
  groupCommit: GroupCommit | null;
  placement: Placement;
  logger: RuntimeLogger;
  maxBatch: number;
  /** How long handled message ids are remembered across activations (ms). */
  inboxWindowMs: number;
  now(): number;
  afterCommit(from: Address, effects: { publishes: Effect[]; tells: Effect[]; sends: ActorOutboxEntity[] }): void;
  /** `requeue`: hand the unhandled messages to a fresh activation (false when loading failed). */
  stepDown(activation: Activation<unknown>, leftover: Pending[], reason: unknown, requeue: boolean): void;
  observeBatch(kind: string, size: number, turnMs: number): void;
  /** Whether the actor `id` of a kind with a `store.probe` exists (probes of a burst share one read). */
  probe(definition: ActorDefinition<unknown>, id: string): Promise<boolean>;
}

const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_REMEMBERED_IDS = 100_000;

/**
 * One live actor: its state, its mailbox and its timers. Messages are handled one at a time
 * (turn-based, non-reentrant); everything queued while a batch commits becomes the next batch
 * (group commit), up to `maxBatch`. The batch is durable before any caller hears its answer.
 */
export class Activation<S> {
  state!: S;
  fence = 0;
  lastActiveAt: number;
  closed = false;
  readonly key: string;
  private readonly queue: Pending[] = [];
  private draining = false;
  // The collections below are made on first use: most activations in a sale are shoppers' carts
  // (derived actors: no reminders, no inbox), and five empty Maps and Sets were most of the
  // ~1 KB each such activation kept on the heap.
  /** Armed timers and reminders by `t:name` / `r:name`. */
  private timers: Map<string, NodeJS.Timeout> | null = null;
  /** Replies to durable messages handled recently (the inbox window), by message id. */
  private handled: Map<string, unknown> | null = null;
  /** The state after every batch prepared so far (ahead of `state` while commits are in flight). */
  private head!: S;
  /** Reminders as of `head` (the committed ones are armed as timers). */
  private headReminders: Map<string, number> | null = null;
  /** Ids of durable messages in batches not yet applied. */
  private inFlightIds: Set<string> | null = null;
  private readonly ready: Promise<void>;
  /** Whether the state is loaded (`ready` has resolved). */
  private loaded = false;

  constructor(
    readonly definition: ActorDefinition<S>,
    readonly address: Address,
    private readonly host: ActivationHost,
  ) {
    this.key = addressKey(address);
    this.lastActiveAt = host.now();
    this.ready = this.activate();
    this.ready.catch(() => undefined);
  }

  /** Messages waiting, the one being handled excluded. */
  get depth(): number {
    return this.queue.length;
  }

  get idle(): boolean {
    return !this.draining && this.queue.length === 0;
  }

  /** Resolves once the state is loaded (rejects if it could not be). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  enqueue(pending: Pending): void {
    if (this.closed) {
      pending.reject(new ActorRuntimeError('UNAVAILABLE', `${this.key} is stepping down`));
      return;
    }
    this.lastActiveAt = this.host.now();
    // A derived (not durable) actor that is loaded and idle handles a plain message at once: it
    // has nothing to commit, so the mailbox loop would only add a batch and a promise per message.
    if (!this.draining && this.loaded && !this.definition.durable && this.queue.length === 0 && !pending.envelope.durable && pending.alarm === undefined) {
      this.handleDerived(pending);
      return;
    }
    this.queue.push(pending);
    if (!this.draining) void this.drain();
  }

  /**
   * One message to a derived actor, handled now: the transition, then its reply, its timers and
   * its best-effort effects (the only ones such an actor may have). Messages it sends to itself
   * meanwhile wait in the mailbox, as in a batch.
   */
  private handleDerived(pending: Pending): void {
    const started = performance.now();
    this.draining = true;
    try {
      let turn;
      try {
        turn = this.definition.transition(this.state, pending.envelope.message);
      } catch (error) {
        this.host.logger.error({ err: error, actor: this.key, message: pending.envelope.message }, 'actor transition threw; message rejected, state unchanged');
        pending.reject(new ActorRuntimeError('ACTOR_FAILED', `${this.key} failed to handle a message`, { cause: error }));
        return;
      }
      const effects = turn.effects;
      let tells: Effect[] | null = null;
      let publishes: Effect[] | null = null;
      if (effects !== undefined && effects.length > 0) {
        for (const effect of effects) {
          if (effect.type === 'persist' || effect.type === 'send' || effect.type === 'remind') {
            this.host.logger.error({ actor: this.key, message: pending.envelope.message }, 'a derived actor asked for durable effects; message rejected, state unchanged');
            pending.reject(new ActorRuntimeError('ACTOR_FAILED', `${this.definition.kind} is not durable but asked for durable effects`));
            return;
          }
        }
        for (const effect of effects) {
          if (effect.type === 'tell') (tells ??= []).push(effect);
          else if (effect.type === 'publish' || effect.type === 'signal') (publishes ??= []).push(effect);
          else if (effect.type === 'timer') this.arm(effect.name, effect.at, false);
        }
      }
      this.state = turn.state;
      this.head = turn.state;
      pending.resolve(turn.reply);
      if (tells !== null || publishes !== null) this.host.afterCommit(this.address, { publishes: publishes ?? [], tells: tells ?? [], sends: [] });
    } finally {
      this.draining = false;
      this.host.observeBatch(this.address.kind, 1, performance.now() - started);
    }
    if (this.queue.length > 0) void this.drain();
  }

  /** Stops timers; the activation takes no more messages. Returns what was still queued. */
  close(): Pending[] {
    this.closed = true;
    if (this.timers !== null) for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers = null;
    return this.queue.splice(0);
  }

  private async activate(): Promise<void> {
    const { db } = this.host;
    const now = this.host.now();
    const { definition: def, address } = this;
    // Kinds whose activations are mostly of actors that do not exist yet (an order: one per
    // checkout) are loaded once outside a transaction; only one that exists is loaded again with
    // its claim (an older activation may commit until the claim raises the fence).
    let absent: S | null = null;
    if (def.durable && def.store.probeFirst && def.store.exists) {
      if (def.store.probe) {
        if (!(await this.host.probe(def as ActorDefinition<unknown>, address.id))) absent = def.store.probe.absent(address.id);
      } else {
        const probed = await db.read(async (manager) => def.store.load(manager, address.id, now));
        if (def.store.exists(probed) === false) absent = probed;
      }
    }
    if (absent) {
      this.state = absent; // claimed by its first commit, if any
    } else if (def.durable) {
      await db.transaction(async (manager) => {
        this.state = await def.store.load(manager, address.id, now);
        if (def.store.exists?.(this.state) === false) return; // claimed by its first commit, if any
        await this.claim(manager, now);
        const reminders = await journal.loadReminders(manager, address);
        if (reminders.size > 0) this.headReminders = reminders;
        const handled = await journal.recentInbox(manager, address, now - this.host.inboxWindowMs);
        if (handled.size > 0) this.handled = handled;
      });
      if (this.headReminders !== null) for (const [name, at] of this.headReminders) this.arm(name, at, true);
    } else {
      this.state = await db.read((manager) => def.store.load(manager, address.id, now));
    }
    this.head = this.state;
    this.loaded = true;
  }

  /** Takes a fencing token for this activation (in `manager`'s transaction). */
  private async claim(manager: Parameters<ActivationHost['placement']['claim']>[0], now: number): Promise<void> {
    const fence = await this.host.placement.claim(manager, this.address, now);
    if (fence === null) throw new FencedError(this.key, 0);
    this.fence = fence;
  }

  /** Whether the actor exists (see `ActorStore.exists`); false until a turn creates it. */
  get exists(): boolean {
    // Not loaded yet (or loading failed): it may exist; housekeeping must leave it alone.
    if (!this.loaded) return true;
    return this.definition.store.exists?.(this.state) !== false;
  }

  /** Whether an in-memory timer is pending (a passivation now would lose it). */
  get hasTimers(): boolean {
    if (this.timers !== null) for (const key of this.timers.keys()) if (key.startsWith('t:')) return true;
    return false;
  }

  /**
   * The mailbox loop, with commits pipelined two deep: while batch N commits, batch N+1 is
   * computed on N's resulting state and its transaction starts; it waits on the database for N's
   * row lock, and before its own COMMIT for N's outcome. If N fails, N+1 rolls back and its
   * messages go, unhandled, to the next activation. Replies and effects are carried out in batch
   * order, each after its own commit.
   */
  private async drain(): Promise<void> {
    this.draining = true;
    let inFlight: InFlight | null = null;
    try {
      try {
        await this.ready;
      } catch (error) {
        this.host.stepDown(this as Activation<unknown>, this.close(), error, false);
        return;
      }
      for (;;) {
        if (this.queue.length === 0 || this.closed) {
          // Messages that arrive while the last commit is in flight are this loop's to handle.
          if (!inFlight || this.closed) break;
          const committed: boolean = await inFlight.done;
          inFlight = null;
          if (!committed) return;
          continue;
        }
        const batch = this.nextBatch();
        // No overlap for a redelivery of a message still in flight, or before the first claim.
        if (inFlight && (this.fence === 0 || batch.some((p) => p.envelope.durable && this.inFlightIds !== null && this.inFlightIds.has(p.envelope.id)))) {
          if (!(await inFlight.done)) return this.handBack(batch);
          inFlight = null;
        }
        const prepared = this.prepare(batch);
        if (!prepared.mustCommit) {
          // Read-only: answered from state that includes every earlier batch, once that is durable.
          if (inFlight && !(await inFlight.done)) return this.handBack(batch);
          inFlight = null;
          this.apply(prepared);
          continue;
        }
        const previous: InFlight | null = inFlight;
        inFlight = { done: this.commit(prepared, previous), locked: prepared.locked };
        if (previous && !(await previous.done)) {
          await inFlight.done;
          return;
        }
      }
      if (inFlight) await inFlight.done;
    } finally {
      this.draining = false;
      this.lastActiveAt = this.host.now();
    }
  }

  /** Gives messages that were never handled to the next activation (this one has stepped down). */
  private handBack(batch: Pending[]): void {
    this.host.stepDown(this as Activation<unknown>, [...batch, ...this.close()], new ActorRuntimeError('UNAVAILABLE', 'an earlier batch failed'), true);
  }

  /** Up to `maxBatch` queued messages; a `solo` message forms a batch alone. */
  private nextBatch(): Pending[] {
    if (this.queue[0].solo) return this.queue.splice(0, 1);
    let end = 1;
    while (end < this.queue.length && end < this.host.maxBatch && !this.queue[end].solo) end += 1;
    return this.queue.splice(0, end);
  }

  /** Runs the batch's transitions on the newest (maybe not yet committed) state. No I/O. */
  private prepare(batch: Pending[]): Prepared<S> {
    const now = this.host.now();
    const { definition: def, address } = this;
    const before = this.head;
    let state = before;
    let onLocked = () => undefined as void;
    const locked = new Promise<void>((resolve) => (onLocked = resolve));
    const p: Prepared<S> = {
      batch, now, before, after: before, started: performance.now(), mustCommit: false,
      outcomes: [], persists: [], sends: [], tells: [], publishes: [], timers: [], remindersSet: new Map(), remindersCleared: new Set(), inbox: [],
      locked, onLocked,
    };
    // Durable messages handled earlier in this batch: a sender that retried (its first ask timed
    // out while the message waited here) can put two copies of one message in one batch. The copy
    // gets the first one's reply; handling it again would apply it twice, and recording its id
    // twice would fail the whole batch's commit on the inbox's primary key.
    let handledInBatch: Map<string, unknown> | null = null;
    for (const pending of batch) {
      const { envelope } = pending;
      if (envelope.durable && this.handled !== null && this.handled.has(envelope.id)) {
        p.outcomes.push({ pending, reply: this.handled.get(envelope.id), remember: false });
        continue;
      }
      if (envelope.durable && handledInBatch !== null && handledInBatch.has(envelope.id)) {
        p.outcomes.push({ pending, reply: handledInBatch.get(envelope.id), remember: false });
        continue;
      }
      if (pending.alarm !== undefined) {
        // Reminders are one-shot: a fired one is deleted in this commit unless the turn sets it again.
        // (A reminder set again since it was armed, earlier in this batch or before, is left alone.)
        if (!p.remindersSet.has(pending.alarm) && this.headReminders?.get(pending.alarm) === pending.alarmAt) p.remindersCleared.add(pending.alarm);
      }
      let turn;
      try {
        turn = def.transition(state, envelope.message);
      } catch (error) {
        this.host.logger.error({ err: error, actor: this.key, message: envelope.message }, 'actor transition threw; message rejected, state unchanged');
        p.outcomes.push({ pending, error: new ActorRuntimeError('ACTOR_FAILED', `${this.key} failed to handle a message`, { cause: error }), remember: false });
        continue;
      }
      state = turn.state;
      for (const effect of turn.effects ?? []) {
        switch (effect.type) {
          case 'persist':
            p.persists.push(effect.change);
            break;
          case 'send':
            p.sends.push({ id: randomUUID(), fromKind: address.kind, fromId: address.id, toKind: effect.to.kind, toId: effect.to.id, message: JSON.stringify(effect.message), createdAt: now });
            break;
          case 'tell':
            p.tells.push(effect);
            break;
          case 'publish':
          case 'signal':
            p.publishes.push(effect);
            break;
          case 'remind':
            if (effect.at === null) {
              p.remindersSet.delete(effect.name);
              if (this.headReminders?.has(effect.name) === true) p.remindersCleared.add(effect.name);
            } else {
              p.remindersSet.set(effect.name, effect.at);
              p.remindersCleared.delete(effect.name);
            }
            break;
          case 'timer':
            p.timers.push({ name: effect.name, at: effect.at });
            break;
        }
      }
      if (envelope.durable) {
        p.inbox.push({ id: envelope.id, reply: turn.reply });
        (handledInBatch ??= new Map()).set(envelope.id, turn.reply);
      }
      p.outcomes.push({ pending, reply: turn.reply, remember: envelope.durable });
    }
    p.after = state;
    p.mustCommit = p.persists.length + p.sends.length + p.remindersSet.size + p.remindersCleared.size + p.inbox.length > 0;
    if (p.mustCommit && !def.durable) throw new ActorRuntimeError('ACTOR_FAILED', `${address.kind} is not durable but asked for durable effects`);
    this.head = state;
    if (p.remindersCleared.size > 0) for (const name of p.remindersCleared) this.headReminders?.delete(name);
    if (p.remindersSet.size > 0) {
      const reminders = (this.headReminders ??= new Map());
      for (const [name, at] of p.remindersSet) reminders.set(name, at);
    }
    if (p.inbox.length > 0) {
      const ids = (this.inFlightIds ??= new Set());
      for (const { id } of p.inbox) ids.add(id);
    }
    return p;
  }

  /**
   * Commits a prepared batch in one transaction, after `previous` (the batch before it) has
   * committed. Resolves true once it is applied; false when it (or `previous`) failed, in which
   * case its callers were answered or its messages handed on, and the activation stepped down.
   */
  private async commit(p: Prepared<S>, previous: InFlight | null): Promise<boolean> {
    const { definition: def, address } = this;
    let previousFailed = false;
    try {
      // Start only once the batch before holds the actor's row lock: this transaction then waits
      // in the database until that one commits, and reads what it wrote. (Waiting before taking a
      // pooled connection, so that waiting batches cannot hold every connection.)
      if (previous) await previous.locked;
      // Every write of the batch, fence check first, in one packet on MariaDB, which also opens
      // the transaction; COMMIT is the second round trip (Database.writeTransaction). Described
      // by `fill`, which may run more than once (a group commit retries its members alone).
      const fill = async (writes: WriteSet): Promise<(() => number) | null> => {
        // The actor's first commit in this activation claims it, in the same packet when the
        // placement can (its claim then also takes the row lock: no separate fence check).
        let claimed: (() => number) | null | undefined;
        if (this.fence === 0) {
          claimed = this.host.placement.claimWrites?.(writes, address, p.now);
          if (claimed === null) throw new FencedError(this.key, 0);
          if (claimed === undefined) await this.claim(await writes.begin(), p.now);
        }
        if (!claimed) journal.checkFence(writes, address, this.fence, p.now);
        if (p.persists.length > 0) await def.store.save(writes, address.id, p.persists, p.before, p.after, p.now);
        if (p.remindersSet.size + p.remindersCleared.size > 0) journal.saveReminders(writes, address, p.remindersSet, p.remindersCleared);
        if (p.inbox.length > 0) journal.recordInbox(writes, address, p.inbox, p.now);
        if (p.sends.length > 0) journal.writeOutbox(writes, p.sends);
        return claimed ?? null;
      };
      const group = this.host.groupCommit;
      if (group && def.groupCommit === true && !previous) {
        // Nothing of this actor is in flight: the commit may share a transaction with other
        // actors' (see GroupCommit). The next batch waits for it to be durable.
        try {
          const claimed = await group.commit(fill);
          if (claimed) this.fence = claimed();
        } finally {
          p.onLocked();
        }
      } else {
        await this.host.db.writeTransaction(async (writes) => {
          try {
            const claimed = await fill(writes);
            await writes.run();
            // Holds only if this batch commits; any failure from here on steps this activation down.
            if (claimed) this.fence = claimed();
          } finally {
            // The fence check has taken the actor's row lock (or failed): the next batch may start.
            p.onLocked();
          }
          if (previous && !(await previous.done)) {
            previousFailed = true;
            throw new ActorRuntimeError('UNAVAILABLE', 'the batch before this one failed');
          }
        });
      }
    } catch (error) {
      p.onLocked();
      for (const { id } of p.inbox) this.inFlightIds?.delete(id);
      // Failing after the batch before failed (its own guard saw that batch's rows missing, say)
      // is that batch's failure, not this one's.
      if (previousFailed || (previous && !(await previous.done))) {
        // Computed on a state that never became durable: nothing of it happened; hand it on.
        this.host.stepDown(this as Activation<unknown>, p.batch, error, true);
        return false;
      }
      // Nothing of this batch happened. The in-memory state may now be behind the database
      // (or another activation owns it): step down; the next activation loads afresh.
      if (p.batch.length > 1 && refusedByData(error)) {
        // One message's rows were refused (a duplicate key, say): so that it cannot fail the
        // others, the fresh activation handles each message of this batch in a batch alone.
        for (const pending of p.batch) pending.solo = true;
        this.host.stepDown(this as Activation<unknown>, [...p.batch, ...this.close()], error, true);
        return false;
      }
      const failure = error instanceof ActorRuntimeError ? error : new ActorRuntimeError('UNAVAILABLE', `${this.key}: commit failed`, { cause: error });
      for (const outcome of p.outcomes) outcome.pending.reject(failure);
      this.host.stepDown(this as Activation<unknown>, this.close(), error, true);
      return false;
    }
    this.apply(p);
    return true;
  }

  /** After the batch is durable (or needed no commit): state, replies, timers, effects. */
  private apply(p: Prepared<S>): void {
    this.state = p.after;
    for (const { id } of p.inbox) this.inFlightIds?.delete(id);
    for (const outcome of p.outcomes) if (outcome.remember) this.remember(outcome.pending.envelope.id, outcome.reply);
    for (const name of p.remindersCleared) this.disarm(`r:${name}`);
    for (const [name, at] of p.remindersSet) this.arm(name, at, true);
    for (const { name, at } of p.timers) this.arm(name, at, false);
    for (const outcome of p.outcomes) {
      if (outcome.error !== undefined) outcome.pending.reject(outcome.error);
      else outcome.pending.resolve(outcome.reply);
    }
    this.host.afterCommit(this.address, { publishes: p.publishes, tells: p.tells, sends: p.sends });
    this.host.observeBatch(this.address.kind, p.batch.length, performance.now() - p.started);
  }

  private remember(id: string, reply: unknown): void {
    const handled = (this.handled ??= new Map());
    handled.set(id, reply);
    if (handled.size > MAX_REMEMBERED_IDS) {
      const oldest = handled.keys().next().value;
      if (oldest !== undefined) handled.delete(oldest);
    }
  }

  private arm(name: string, at: number, durable: boolean): void {
    const key = `${durable ? 'r' : 't'}:${name}`;
    this.disarm(key);
    if (this.closed) return;
    const delay = Math.max(0, at - this.host.now());
    const timer = setTimeout(() => {
      this.timers?.delete(key);
      if (this.host.now() < at) return this.arm(name, at, durable); // a wait longer than setTimeout allows
      this.enqueue({
        envelope: { id: randomUUID(), to: this.address, message: this.definition.alarm(name, this.host.now()), durable: false },
        alarm: durable ? name : undefined,
        alarmAt: at,
        resolve: () => undefined,
        reject: (error) => this.host.logger.warn({ err: error, actor: this.key, alarm: name }, 'alarm not handled'),
      });
    }, Math.min(delay, MAX_TIMER_MS));
    timer.unref();
    (this.timers ??= new Map()).set(key, timer);
  }

  private disarm(key: string): void {
    if (this.timers === null) return;
    const timer = this.timers.get(key);
    if (timer) clearTimeout(timer);
    this.timers.delete(key);
  }
}

/**
 * Whether a failed commit was refused because of the data (a constraint, a value too long), not
 * because of the connection, a lock or fencing: then retrying its messages one by one isolates
 * the bad one.
 */
function refusedByData(error: unknown): boolean {
  if (error instanceof ActorRuntimeError) return false;
  const e = error as { code?: string; driverError?: { code?: string } };
  const code = e.driverError?.code ?? e.code ?? '';
  if (code.startsWith('SQLITE_CONSTRAINT')) return true;
  return code.startsWith('ER_') && !['ER_LOCK_WAIT_TIMEOUT', 'ER_LOCK_DEADLOCK', 'ER_CON_COUNT_ERROR', 'ER_SERVER_SHUTDOWN', 'ER_QUERY_INTERRUPTED'].includes(code);
}
