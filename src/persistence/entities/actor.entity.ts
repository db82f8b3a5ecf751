import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintNumber } from '../columns';

/**
 * One row per actor that has ever committed: the fencing token of its newest activation.
 * Every commit of an activation updates this row `WHERE fence <= its token`, so a stale
 * activation (a zombie owner) fails its commit instead of overwriting newer state.
 */
@Entity('actor_state')
export class ActorStateEntity {
  @PrimaryColumn({ type: 'varchar', length: 16 })
  kind: string;

  @PrimaryColumn({ name: 'actor_id', type: 'varchar', length: 64 })
  actorId: string;

  @Column({ type: 'bigint', transformer: bigintNumber })
  fence: number;

  /** Commits made, all activations together (also makes every fenced UPDATE change the row). */
  @Column({ type: 'bigint', transformer: bigintNumber })
  commits: number;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintNumber })
  updatedAt: number;
}

/** A durable reminder: the actor gets `{ type: 'reminder', name }` at `dueAt` (epoch ms). */
@Entity('actor_reminders')
export class ActorReminderEntity {
  @PrimaryColumn({ type: 'varchar', length: 16 })
  kind: string;

  @PrimaryColumn({ name: 'actor_id', type: 'varchar', length: 64 })
  actorId: string;

  @PrimaryColumn({ type: 'varchar', length: 64 })
  name: string;

  @Index('ix_actor_reminders_due')
  @Column({ name: 'due_at', type: 'bigint', transformer: bigintNumber })
  dueAt: number;
}

/** Ids of messages an actor has handled, with the reply, so a redelivery is answered, not applied. */
@Entity('actor_inbox')
export class ActorInboxEntity {
  @PrimaryColumn({ type: 'varchar', length: 16 })
  kind: string;

  @PrimaryColumn({ name: 'actor_id', type: 'varchar', length: 64 })
  actorId: string;

  @PrimaryColumn({ name: 'message_id', type: 'varchar', length: 64 })
  messageId: string;

  @Column({ type: 'text', nullable: true })
  reply: string | null;

  @Index('ix_actor_inbox_handled')
  @Column({ name: 'handled_at', type: 'bigint', transformer: bigintNumber })
  handledAt: number;
}

/**
 * Messages an actor committed to send to another actor. Written in the sender's transaction,
 * deleted once the receiver has committed them; re-sent after a crash (at-least-once, made
 * exactly-once by the receiver's inbox).
 */
@Entity('actor_outbox')
@Index('ix_actor_outbox_from', ['fromKind', 'fromId'])
export class ActorOutboxEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id: string;

  @Column({ name: 'from_kind', type: 'varchar', length: 16 })
  fromKind: string;

  @Column({ name: 'from_id', type: 'varchar', length: 64 })
  fromId: string;

  @Column({ name: 'to_kind', type: 'varchar', length: 16 })
  toKind: string;

  @Column({ name: 'to_id', type: 'varchar', length: 64 })
  toId: string;

  @Column({ type: 'text' })
  message: string;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintNumber })
  createdAt: number;
}
