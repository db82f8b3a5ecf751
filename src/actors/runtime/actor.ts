import type { EntityManager } from 'typeorm';
import type { WriteSet } from '../../persistence/write-set';

/**
 * An actor's address: `(kind, id)`, e.g. `{ kind: 'deal', id: '0197…' }`. Actors are virtual
 * (Orleans): callers never create or locate one, they send to its address and the runtime
 * activates it on first message.
 */
export interface Address {
  kind: string;
  id: string;
}

export const addressKey = (address: Address): string => `${address.kind}:${address.id}`;

/**
 * What a transition asks the runtime to do. Effects are data; the runtime carries them out:
 * `persist`, `send`, `remind` and the message ids inside the batch's transaction, the others after
 * it commits.
 */
export type Effect =
  /** A change to the kind's own rows, applied by its {@link ActorStore} in the batch transaction. */
  | { type: 'persist'; change: unknown }
  /** A message to another actor, written to the outbox in the same transaction (at-least-once). */
  | { type: 'send'; to: Address; message: unknown }
  /** A best-effort message after commit (lost on a crash: only for derived state). */
  | { type: 'tell'; to: Address; message: unknown }
  /** Emit a live event to a socket.io room after commit. */
  | { type: 'publish'; room: string; event: string; payload: Record<string, unknown> }
  /**
   * A notice to this node's listeners (`ActorSystem.onSignal(name, …)`) after commit, for work
   * outside the actors (asking the payment gateway). Best effort: lost on a crash, so a turn that
   * signals must also set a reminder that finishes the job without it.
   */
  | { type: 'signal'; name: string; payload: Record<string, unknown> }
  /** Set (epoch ms) or clear (null) a durable reminder: it survives passivation and crashes. */
  | { type: 'remind'; name: string; at: number | null }
  /** Set a timer (epoch ms): like a reminder, but in memory only. */
  | { type: 'timer'; name: string; at: number };

/** The outcome of one message: the next state, the caller's answer, and what must happen. */
export interface Transition<S, R = unknown> {
  state: S;
  reply?: R;
  effects?: Effect[];
}

/**
 * Loads and saves one kind's state. `save` describes the batch's writes: it gets every `persist`
 * change of the batch in order and the states before and after the batch, and adds its statements
 * to `writes`, which the runtime sends after the fencing-token check and before the inbox and
 * outbox rows, all in the batch's transaction (one round trip on MariaDB). A statement that must
 * change an exact number of rows (a stock guard) carries a check; a failed check rolls the whole
 * batch back. Rare writes may run at once on the manager `writes.begin()` gives, in the same
 * transaction.
 */
export interface ActorStore<S> {
  load(manager: EntityManager, id: string, now: number): Promise<S>;
  /**
   * Whether the loaded state is of an actor that exists (default: always). An activation of one
   * that does not (a deal id nobody created) writes nothing until a turn commits, and is
   * passivated soon, so made-up ids cost no rows and little memory.
   */
  exists?(state: S): boolean;
  /**
   * Whether most activations are of actors that do not exist yet (orders: one new actor per
   * checkout). The runtime then loads first outside a transaction, and an absent actor costs one
   * read instead of a transaction; one that exists is loaded again inside its claim's transaction.
   * Needs `exists`.
   */
  probeFirst?: boolean;
  /**
   * For `probeFirst` kinds, a cheaper probe that serves a burst of activations with one read:
   * `existing` answers which of `ids` exist (one query for all), and `absent` is the state of one
   * that does not. Without it each activation probes with `load`.
   */
  probe?: {
    existing(manager: EntityManager, ids: string[]): Promise<Set<string>>;
    absent(id: string): S;
  };
  save(writes: WriteSet, id: string, changes: unknown[], before: S, after: S, now: number): Promise<void> | void;
}

/**
 * One kind of actor. `transition` is pure: no I/O, no clock (the time is in the message), no
 * unseeded randomness. `alarm` builds the message that a fired reminder or timer delivers.
 * A kind that is not `durable` keeps only derived state (rebuilt by `load`): it has no fence,
 * no reminders, no outbox, and must not emit `persist`, `send` or `remind`.
 */
export interface ActorDefinition<S, M = any, R = any> {
  kind: string;
  durable: boolean;
  /**
   * Whether a batch's commit may share a transaction with other actors' commits (group commit,
   * see `GroupCommit`) when no earlier batch of this actor is in flight. Right for kinds with many
   * actors that each commit rarely (orders); a hot single actor (a deal) pipelines its own
   * batches instead, which a shared transaction would slow.
   */
  groupCommit?: boolean;
  store: ActorStore<S>;
  transition(state: S, message: M): Transition<S, R>;
  alarm(name: string, now: number): M;
}

/** A message on its way: `id` makes redelivery harmless; `durable` ones are recorded in the inbox. */
export interface Envelope {
  id: string;
  to: Address;
  message: unknown;
  durable: boolean;
}

/** The logging the runtime needs (a pino logger fits). */
export interface RuntimeLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
